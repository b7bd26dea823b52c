"""A scripted `Model` for tests and demos: token-by-token text, tool calls, handoffs, failures.

It streams the same Responses events a real model does (`response.created`, `output_item.added`,
deltas, `.done` events, `response.completed` with usage), so the SDK's real run loop handles it
exactly as it handles OpenAI's models. It implements only the SDK's public `Model` interface, so it
works on every SDK version agentstream supports, unlike `agents.testing.ScriptedModel` (0.22+).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from agents.items import ModelResponse, TResponseStreamEvent
from agents.models.interface import Model
from agents.usage import Usage as SdkUsage
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseReasoningItem,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)
from openai.types.responses.response_reasoning_item import Summary
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from .._errors import ConfigurationError

__all__ = [
    "Fail",
    "Reasoning",
    "ScriptError",
    "ScriptedStreamModel",
    "Text",
    "ToolCall",
    "Turn",
    "fail",
    "handoff",
    "reasoning",
    "text",
    "tool_call",
    "turn",
]

_TOKEN = re.compile(r"\s*\S+\s*|\s+")


class ScriptError(ConfigurationError):
    """The script is wrong: a step is malformed, or the run asked for more turns than scripted."""


def split_tokens(value: str) -> list[str]:
    """Split text into word-sized chunks the way a model streams it; joined they give `value`."""
    return _TOKEN.findall(value) or [value]


@dataclass(frozen=True)
class Text:
    """An assistant message streamed in `chunks`."""

    chunks: tuple[str, ...]
    """The deltas, in order."""


@dataclass(frozen=True)
class ToolCall:
    """A function call (a handoff is a call to `transfer_to_<agent>`)."""

    name: str
    """The tool's name."""
    arguments: str
    """The JSON arguments."""
    call_id: str
    """The call's id."""
    chunks: int = 1
    """How many argument deltas to stream."""


@dataclass(frozen=True)
class Reasoning:
    """A reasoning item whose summary streams in `chunks`."""

    chunks: tuple[str, ...]
    """The summary deltas."""


@dataclass(frozen=True)
class Fail:
    """Raise `error` from the model at this point of the turn."""

    error: BaseException
    """The exception the model call raises."""


Output: TypeAlias = Text | ToolCall | Reasoning | Fail
"""One step of a turn."""


@dataclass(frozen=True)
class Turn:
    """One model call: its outputs in order, its usage, and its pacing."""

    outputs: tuple[Output, ...]
    """What the model produces, in order."""
    input_tokens: int = 0
    """Input tokens the call reports."""
    output_tokens: int = 0
    """Output tokens the call reports; by default the number of chunks streamed."""
    delay: float = 0.0
    """Seconds to wait before each delta, like a real model's pacing."""


_call_ids = itertools.count(1)


def text(value: str | Sequence[str]) -> Text:
    """An assistant message: a string is streamed word by word, a list chunk by chunk."""
    chunks = split_tokens(value) if isinstance(value, str) else list(value)
    if not all(isinstance(c, str) for c in chunks):
        raise ScriptError(f"text() takes a string or a list of strings, got {value!r}")
    return Text(tuple(chunks))


def tool_call(
    name: str,
    arguments: str | dict[str, Any] | None = None,
    *,
    call_id: str | None = None,
    chunks: int = 1,
) -> ToolCall:
    """A call of the function tool `name`; its arguments stream in `chunks` deltas."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    if chunks < 1:
        raise ScriptError(f"tool_call() chunks must be >= 1, got {chunks!r}")
    return ToolCall(name, args, call_id or f"call_{next(_call_ids)}", chunks)


def handoff(agent_name: str, *, call_id: str | None = None) -> ToolCall:
    """A handoff to the agent named `agent_name` (the SDK's `transfer_to_<name>` call)."""
    from agents.handoffs import Handoff

    tool_name = Handoff.default_tool_name(_Named(agent_name))  # type: ignore[arg-type]
    return tool_call(tool_name, {}, call_id=call_id)


@dataclass(frozen=True)
class _Named:
    name: str


def reasoning(value: str | Sequence[str]) -> Reasoning:
    """A reasoning summary, streamed word by word (a string) or chunk by chunk (a list)."""
    chunks = split_tokens(value) if isinstance(value, str) else list(value)
    return Reasoning(tuple(chunks))


def fail(error: BaseException) -> Fail:
    """Make the model call raise `error` at this point (after the outputs before it streamed)."""
    if not isinstance(error, BaseException):
        raise ScriptError(f"fail() takes an exception, got {error!r}")
    return Fail(error)


def turn(
    *outputs: Output, input_tokens: int = 0, output_tokens: int | None = None, delay: float = 0.0
) -> Turn:
    """One model call made of `outputs`, with its usage and pacing."""
    for output in outputs:
        if not isinstance(output, (Text, ToolCall, Reasoning, Fail)):
            raise ScriptError(f"a turn is made of text(), tool_call(), ... got {output!r}")
    if output_tokens is None:
        output_tokens = sum(
            len(o.chunks) if isinstance(o, (Text, Reasoning)) else o.chunks
            for o in outputs
            if not isinstance(o, Fail)
        )
    return Turn(tuple(outputs), input_tokens, output_tokens, delay)


TurnLike: TypeAlias = Turn | Output | Sequence[Output]
"""A `Turn`, one output, or a list of outputs."""


def _as_turn(value: TurnLike) -> Turn:
    if isinstance(value, Turn):
        return value
    if isinstance(value, (Text, ToolCall, Reasoning, Fail)):
        return turn(value)
    return turn(*value)


def _split(value: str, parts: int) -> list[str]:
    if parts <= 1 or len(value) <= 1:
        return [value]
    size = max(1, -(-len(value) // parts))
    return [value[i : i + size] for i in range(0, len(value), size)]


@dataclass
class _Builder:
    """Builds one call's Responses events with a running sequence number."""

    response_id: str
    seq: int = 0
    output: list[Any] = field(default_factory=list)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq - 1


class ScriptedStreamModel(Model):
    """A `Model` that plays scripted turns, one per model call, for any number of agents.

    Example:
        ```python
        model = ScriptedStreamModel([
            tool_call("get_weather", {"city": "Paris"}),
            handoff("billing"),
            text("Your invoice is paid."),
        ])
        ```

    """

    def __init__(self, turns: Iterable[TurnLike], *, delay: float = 0.0) -> None:
        self._turns = [_as_turn(t) for t in turns]
        self._delay = delay
        self.calls = 0
        """How many model calls were made."""

    @property
    def remaining(self) -> int:
        """Turns not played yet."""
        return len(self._turns) - self.calls

    def _next_turn(self) -> Turn:
        if self.calls >= len(self._turns):
            raise ScriptError(
                f"the run made model call {self.calls + 1}, "
                f"but only {len(self._turns)} were scripted"
            )
        self.calls += 1
        return self._turns[self.calls - 1]

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        """Return the next turn whole (for `Runner.run`)."""
        script = self._next_turn()
        events = [e async for e in self._events(script, pace=False)]
        completed = events[-1]
        assert isinstance(completed, ResponseCompletedEvent)
        return ModelResponse(
            output=list(completed.response.output),
            usage=_sdk_usage(script),
            response_id=completed.response.id,
        )

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[TResponseStreamEvent]:
        """Stream the next turn as Responses events (for `Runner.run_streamed`)."""
        return self._events(self._next_turn(), pace=True)

    async def _events(self, script: Turn, *, pace: bool) -> AsyncIterator[TResponseStreamEvent]:
        delay = (script.delay or self._delay) if pace else 0.0
        b = _Builder(response_id=f"resp_{self.calls}")
        yield ResponseCreatedEvent(
            type="response.created",
            response=_response(b, "in_progress", None),
            sequence_number=b.next_seq(),
        )
        yield ResponseInProgressEvent(
            type="response.in_progress",
            response=_response(b, "in_progress", None),
            sequence_number=b.next_seq(),
        )
        for index, output in enumerate(script.outputs):
            if isinstance(output, Fail):
                raise output.error
            stream = _stream_output(b, index, output)
            for event, is_delta in stream:
                if is_delta and delay:
                    await asyncio.sleep(delay)
                yield event
        yield ResponseCompletedEvent(
            type="response.completed",
            response=_response(b, "completed", script),
            sequence_number=b.next_seq(),
        )


def _response(b: _Builder, status: str, script: Turn | None) -> Response:
    usage = None
    if script is not None:
        usage = ResponseUsage(
            input_tokens=script.input_tokens,
            output_tokens=script.output_tokens,
            total_tokens=script.input_tokens + script.output_tokens,
            input_tokens_details=InputTokensDetails.model_validate(
                {"cached_tokens": 0, "cache_write_tokens": 0}
            ),
            output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        )
    return Response(
        id=b.response_id,
        created_at=0,
        model="scripted",
        object="response",
        output=list(b.output) if status == "completed" else [],
        tool_choice="auto",
        tools=[],
        parallel_tool_calls=True,
        status=status,
        usage=usage,
    )


def _sdk_usage(script: Turn) -> SdkUsage:
    return SdkUsage(
        requests=1,
        input_tokens=script.input_tokens,
        output_tokens=script.output_tokens,
        total_tokens=script.input_tokens + script.output_tokens,
    )


def _stream_output(
    b: _Builder, index: int, output: Output
) -> Iterable[tuple[TResponseStreamEvent, bool]]:
    """Yield (event, is_delta) pairs for one output item, as the Responses API streams it."""
    if isinstance(output, Text):
        item_id = f"msg_{b.response_id}_{index}"
        full = "".join(output.chunks)
        part = ResponseOutputText(type="output_text", text="", annotations=[], logprobs=[])
        yield (
            ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                output_index=index,
                sequence_number=b.next_seq(),
                item=ResponseOutputMessage(
                    id=item_id, type="message", role="assistant", status="in_progress", content=[]
                ),
            ),
            False,
        )
        yield (
            ResponseContentPartAddedEvent(
                type="response.content_part.added",
                item_id=item_id,
                output_index=index,
                content_index=0,
                part=part,
                sequence_number=b.next_seq(),
            ),
            False,
        )
        for chunk in output.chunks:
            yield (
                ResponseTextDeltaEvent(
                    type="response.output_text.delta",
                    item_id=item_id,
                    output_index=index,
                    content_index=0,
                    delta=chunk,
                    logprobs=[],
                    sequence_number=b.next_seq(),
                ),
                True,
            )
        yield (
            ResponseTextDoneEvent(
                type="response.output_text.done",
                item_id=item_id,
                output_index=index,
                content_index=0,
                text=full,
                logprobs=[],
                sequence_number=b.next_seq(),
            ),
            False,
        )
        done_part = part.model_copy(update={"text": full})
        yield (
            ResponseContentPartDoneEvent(
                type="response.content_part.done",
                item_id=item_id,
                output_index=index,
                content_index=0,
                part=done_part,
                sequence_number=b.next_seq(),
            ),
            False,
        )
        message = ResponseOutputMessage(
            id=item_id, type="message", role="assistant", status="completed", content=[done_part]
        )
        b.output.append(message)
        yield (
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                output_index=index,
                item=message,
                sequence_number=b.next_seq(),
            ),
            False,
        )
    elif isinstance(output, ToolCall):
        item_id = f"fc_{output.call_id}"
        started = ResponseFunctionToolCall(
            id=item_id,
            call_id=output.call_id,
            name=output.name,
            arguments="",
            type="function_call",
            status="in_progress",
        )
        yield (
            ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                output_index=index,
                item=started,
                sequence_number=b.next_seq(),
            ),
            False,
        )
        for piece in _split(output.arguments, output.chunks):
            yield (
                ResponseFunctionCallArgumentsDeltaEvent(
                    type="response.function_call_arguments.delta",
                    item_id=item_id,
                    output_index=index,
                    delta=piece,
                    sequence_number=b.next_seq(),
                ),
                True,
            )
        yield (
            ResponseFunctionCallArgumentsDoneEvent(
                type="response.function_call_arguments.done",
                item_id=item_id,
                output_index=index,
                arguments=output.arguments,
                name=output.name,
                sequence_number=b.next_seq(),
            ),
            False,
        )
        call = started.model_copy(update={"arguments": output.arguments, "status": "completed"})
        b.output.append(call)
        yield (
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                output_index=index,
                item=call,
                sequence_number=b.next_seq(),
            ),
            False,
        )
    elif isinstance(output, Reasoning):
        item_id = f"rs_{b.response_id}_{index}"
        yield (
            ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                output_index=index,
                sequence_number=b.next_seq(),
                item=ResponseReasoningItem(id=item_id, type="reasoning", summary=[]),
            ),
            False,
        )
        for chunk in output.chunks:
            yield (
                ResponseReasoningSummaryTextDeltaEvent(
                    type="response.reasoning_summary_text.delta",
                    item_id=item_id,
                    output_index=index,
                    summary_index=0,
                    delta=chunk,
                    sequence_number=b.next_seq(),
                ),
                True,
            )
        item = ResponseReasoningItem(
            id=item_id,
            type="reasoning",
            summary=[Summary(type="summary_text", text="".join(output.chunks))],
        )
        b.output.append(item)
        yield (
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                output_index=index,
                item=item,
                sequence_number=b.next_seq(),
            ),
            False,
        )
