"""The in-process player: a `Model` of the Agents SDK that plays a script.

It streams the Responses events the live API streams (rendered by `_responses`, as the HTTP
player sends them), so the SDK's real run loop handles it exactly as it handles OpenAI's models.
It implements only the SDK's public `Model` interface, so it works on every SDK release
agentstream supports, unlike `agents.testing.ScriptedModel` (0.21+).
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any, cast

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
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseReasoningSummaryPartAddedEvent,
    ResponseReasoningSummaryPartDoneEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningSummaryTextDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from pydantic import TypeAdapter

from ._playback import Frame, Ids, IdStyle, Playback, paced, read_input
from ._responses import ResponsesTurn
from ._script import (
    Script,
    ScriptError,
    ScriptFactory,
    ScriptNotFinishedError,
    StallAfter,
    Turn,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from agents.agent_output import AgentOutputSchemaBase
    from agents.handoffs import Handoff
    from agents.items import TResponseInputItem
    from agents.model_settings import ModelSettings
    from agents.models.interface import ModelTracing
    from agents.tool import Tool
    from openai.types.responses.response_prompt_param import ResponsePromptParam
    from pydantic import BaseModel

__all__ = ["ScriptedStreamModel"]

_EVENT_TYPES: dict[str, type[BaseModel]] = {
    "response.created": ResponseCreatedEvent,
    "response.in_progress": ResponseInProgressEvent,
    "response.output_item.added": ResponseOutputItemAddedEvent,
    "response.output_item.done": ResponseOutputItemDoneEvent,
    "response.content_part.added": ResponseContentPartAddedEvent,
    "response.content_part.done": ResponseContentPartDoneEvent,
    "response.output_text.delta": ResponseTextDeltaEvent,
    "response.output_text.done": ResponseTextDoneEvent,
    "response.function_call_arguments.delta": ResponseFunctionCallArgumentsDeltaEvent,
    "response.function_call_arguments.done": ResponseFunctionCallArgumentsDoneEvent,
    "response.reasoning_summary_part.added": ResponseReasoningSummaryPartAddedEvent,
    "response.reasoning_summary_part.done": ResponseReasoningSummaryPartDoneEvent,
    "response.reasoning_summary_text.delta": ResponseReasoningSummaryTextDeltaEvent,
    "response.reasoning_summary_text.done": ResponseReasoningSummaryTextDoneEvent,
    "response.completed": ResponseCompletedEvent,
}
"""The `openai` type of each event a turn streams."""


@functools.cache
def _any_event() -> TypeAdapter[Any]:
    """The `openai` stream event union, built once, on first need (it is large)."""
    from openai.types.responses import ResponseStreamEvent

    return TypeAdapter(ResponseStreamEvent)


_CATCH_UP_TURNS = 3
"""Loop turns given to the stream's consumer before a scripted failure is raised."""


def _check(turn: Turn) -> None:
    fault = turn.fault
    if fault is not None and not isinstance(fault, StallAfter):
        raise ScriptError(
            f"ScriptedStreamModel cannot play {fault!r}: it happens on the HTTP wire; "
            "play this turn on OpenAIServer"
        )


class ScriptedStreamModel(Model):
    """A `Model` that plays a script, one turn per model call, for any number of agents.

    With a list of turns, model calls take them in order, whichever run makes them. With
    ``per_run=True`` every run plays the list from its first turn, and with a factory (a callable
    given the text of the run's last user message) every run plays the script the factory makes:
    one model then serves many concurrent runs. Item, call and response ids differ in every
    model and run unless ``ids="sequential"``.

    Example:
        ```python
        model = ScriptedStreamModel([
            tool_call("get_weather", {"city": "Paris"}),
            handoff("billing"),
            text("Your invoice is paid."),
        ])
        ```

    """

    def __init__(
        self,
        script: Script | ScriptFactory,
        *,
        per_run: bool = False,
        delay: float = 0.0,
        ids: IdStyle = "unique",
    ) -> None:
        """Play `script`; `delay` paces the deltas of turns that set no delay of their own."""
        if not isinstance(delay, (int, float)) or delay < 0:
            raise ScriptError(f"ScriptedStreamModel delay must be seconds >= 0, got {delay!r}")
        self._playback = Playback(script, per_run=per_run, check=_check)
        self._ids = Ids(ids)
        self._delay = float(delay)
        self.calls = 0
        """How many model calls were made."""
        self.stalled = asyncio.Event()
        """Set when a `stall_after` fault begins to stall a call."""

    @property
    def remaining(self) -> int:
        """Turns not played yet: of the script, or, per run, of every run started so far."""
        return self._playback.remaining

    def assert_complete(self) -> None:
        """Raise `ScriptNotFinishedError` if scripted turns were left unplayed."""
        if self.remaining:
            raise ScriptNotFinishedError(f"{self.remaining} scripted turn(s) not played")

    def _next(
        self, input: str | list[TResponseInputItem], previous_response_id: str | None
    ) -> ResponsesTurn:
        self.calls += 1
        prompt, recent_ids = read_input(input, previous_response_id)
        turn, run = self._playback.next_turn(prompt, recent_ids)
        rendered = ResponsesTurn(turn, self._ids, {"model": "scripted"}, obfuscate=False)
        self._playback.produced(run, rendered.produced_ids)
        return rendered

    async def _play(self, rendered: ResponsesTurn, delay: float) -> AsyncIterator[Frame]:
        async for step in paced(rendered.frames(), rendered.turn.fault, delay):
            if isinstance(step, StallAfter):
                self.stalled.set()
                # Hold on, as a stalled connection does, until the run is cancelled.
                await asyncio.get_running_loop().create_future()
            assert isinstance(step, Frame)
            if step.kind == "fail":
                assert step.error is not None
                # The SDK drops events still queued for the stream's consumer when a model call
                # fails; let the consumer take them first, so the outputs before the failure
                # reach it even when nothing paces them.
                for _ in range(_CATCH_UP_TURNS):
                    await asyncio.sleep(0)
                raise step.error
            yield step

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: ResponsePromptParam | None = None,
        **kwargs: Any,
    ) -> ModelResponse:
        """Play the next turn whole (for `Runner.run`)."""
        rendered = self._next(input, previous_response_id)
        async for _ in self._play(rendered, 0.0):
            pass
        response = Response.model_validate(rendered.completed())
        usage = response.usage
        assert usage is not None
        return ModelResponse(
            output=list(response.output),
            usage=SdkUsage(
                requests=1,
                input_tokens=usage.input_tokens,
                input_tokens_details=usage.input_tokens_details,
                output_tokens=usage.output_tokens,
                output_tokens_details=usage.output_tokens_details,
                total_tokens=usage.total_tokens,
            ),
            response_id=response.id,
        )

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: ResponsePromptParam | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """Stream the next turn as Responses events (for `Runner.run_streamed`)."""
        rendered = self._next(input, previous_response_id)
        delay = self._delay if rendered.turn.delay is None else rendered.turn.delay
        async for frame in self._play(rendered, delay):
            assert frame.event is not None
            known = _EVENT_TYPES.get(frame.event["type"])
            if known is not None:
                event: Any = known.model_validate(frame.event)
            else:  # hosted tools and annotations: the `openai` union picks the type
                event = _any_event().validate_python(frame.event)
            yield cast("TResponseStreamEvent", event)
