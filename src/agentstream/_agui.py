"""AG-UI: agentstream events as AG-UI events, and an AG-UI endpoint that runs an agent.

Built on the `ag-ui-protocol` models (the `agui` extra), so every frame is what the protocol's
own SDK would write: camelCase keys, absent optional fields, a timestamp on every event. The
mapping is written down in `docs/agui.md`.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, cast

from ._bridge import (
    DEFAULT_CONTENT_TYPES,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_READ_TIMEOUT,
    Authorize,
    Bridge,
    PartKind,
    PauseSpec,
    RequestRefusedError,
    ToolCallState,
    allowed,
    body_limits,
    check_run_options,
    make_endpoint,
    make_resume_endpoint,
    progress_view,
    result_frames,
    run_frames,
)
from ._conversations import (
    Sessions,
    agui_messages,
    keep_chain,
    keep_partial,
    last_agent,
    named_agent,
)
from ._errors import ConfigurationError, MissingExtraError
from ._interactive import (
    Answer,
    AnswerRefusedError,
    frontend_tool,
    open_resumed,
    sign,
    signed,
    thread_pause,
)
from ._mapping import HOSTED_CALLS
from ._streams import check_heartbeat
from ._telemetry import read_run
from ._transport import SSE_HEADERS, resolved

if TYPE_CHECKING:
    from collections.abc import (
        AsyncIterable,
        AsyncIterator,
        Awaitable,
        Callable,
        Collection,
        Iterator,
    )

    from ag_ui.core import BaseEvent, Message, RunAgentInput
    from agents import Agent, RunConfig, TResponseInputItem
    from starlette.requests import Request
    from starlette.responses import Response
    from typing_extensions import Unpack

    from ._eventlog import EventLog
    from ._events import (
        ApprovalRequested,
        Custom,
        Done,
        Event,
        Handoff,
        Interruption,
        MessageOutput,
        NestedRunFinished,
        NestedRunStarted,
        ToolOutput,
        ToolProgress,
        UsageUpdated,
    )
    from ._interactive import PausedRun
    from ._options import RunOptions

__all__ = [
    "HEADERS",
    "encode",
    "endpoint",
    "history_endpoint",
    "messages_to_input",
    "resume_endpoint",
    "run",
]

HEADERS: Final[Mapping[str, str]] = SSE_HEADERS
"""Response headers of an AG-UI stream: those of every SSE response (`content-type:
text/event-stream; charset=utf-8`, no caching, no proxy buffering)."""

HANDOFF_METADATA_KEY: Final = "agentstream.handoff"
"""Key of the handoff details in the `metadata` of the `STEP_STARTED` that follows a handoff."""

PROVIDER_EXECUTED_KEY: Final = "agentstream.providerExecuted"
"""Key in the `metadata` of the `TOOL_CALL_START` of a hosted tool the provider runs."""

PROGRESS_ACTIVITY: Final = "tool_progress"
"""`activityType` of the `ACTIVITY_SNAPSHOT` a tool in progress sends (one activity a call)."""

CITATIONS_EVENT: Final = "agentstream.citations"
"""`name` of the `CUSTOM` event that carries a message's citations."""

APPROVAL_REASON: Final = "tool_approval"
"""`reason` of the interrupts a run that waits for tool approvals finishes with."""

RESPONSE_SCHEMA: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "type": "object",
        "properties": {
            "approved": {"type": "boolean", "description": "run the call (true) or refuse it"},
            "reason": {"type": "string", "description": "why it was refused; the model sees it"},
        },
        "required": ["approved"],
        "additionalProperties": False,
    }
)
"""The `responseSchema` of an approval interrupt: the `payload` of the resume entry that
answers it."""


def _ag_ui() -> Any:
    try:
        import ag_ui.core
    except ImportError as exc:
        raise MissingExtraError("AG-UI support", "agui") from exc
    return ag_ui.core


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _content(output: object) -> str:
    return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)


class _AguiBridge(Bridge):
    """The AG-UI hooks of the bridge; see `docs/agui.md` for the mapping."""

    def __init__(
        self,
        thread_id: str | None,
        run_id: str | None,
        *,
        key: str | None = None,
        resumed: PausedRun | None = None,
        snapshot: list[Message] | None = None,
        quiet: Collection[str] = (),
        depth: int = 0,
        subagent: str | None = None,
    ) -> None:
        super().__init__(depth)
        self._core = _ag_ui()
        # A nested run is translated by a bridge of its own (a child), whose frames carry its
        # `subagentRunId`: the agent-tool call's id.
        self._subagent = subagent
        self._children: dict[str, _AguiBridge] = {}
        # The calls of the nested runs that ended (at any depth): their subagent and state.
        self._nested_calls: dict[str, tuple[str, ToolCallState]] = {}
        self.thread_id = thread_id or uuid.uuid4().hex
        self.run_id = run_id
        self._key = key
        self._snapshot = snapshot
        self._quiet = frozenset(quiet)
        if resumed is not None:
            self.continue_calls(resumed.interruptions)
        self._started = subagent is not None  # a nested run has no RUN_STARTED of its own
        self._step: str | None = None
        self._handoff_metadata: dict[str, Any] | None = None
        self._turn_message: str | None = None
        self._approvals: dict[str, ToolCallState] = {}

    def _frame(self, event: BaseEvent) -> str:
        event.timestamp = _now_ms()
        if self._subagent is not None and getattr(event, "subagent_run_id", "") is None:
            event.subagent_run_id = self._subagent  # type: ignore[attr-defined]
        return f"data: {event.model_dump_json(by_alias=True)}\n\n"

    def handle(self, event: Event) -> Iterator[str]:
        if not self._started:
            yield from self._run_started(event.run_id)
        if (
            event.type == "approval_requested"
            and event.call_id in self._nested_calls
            and event.call_id not in self.calls
        ):
            # The SDK lifts a nested run's approval to the run: the call was shown in its
            # subagent, and the interrupt names that subagent.
            self._approvals[event.call_id] = self._nested_calls[event.call_id][1]
            return
        yield from super().handle(event)

    def _run_started(self, run_id: str | None) -> Iterator[str]:
        self._started = True
        self.run_id = self.run_id or run_id or uuid.uuid4().hex
        yield self._frame(self._core.RunStartedEvent(thread_id=self.thread_id, run_id=self.run_id))
        if self._snapshot is not None:
            # A resumed run goes on from the conversation the client sent: the snapshot names
            # the calls it paused on, whose results this run reports.
            yield self._frame(self._core.MessagesSnapshotEvent(messages=self._snapshot))

    def on_agent(self, previous: str | None, agent: str) -> Iterator[str]:
        core = self._core
        if self._subagent is not None:
            return  # a nested run's agent is its SUBAGENT_STARTED's name
        if self._step is not None:
            yield self._frame(core.StepFinishedEvent(step_name=self._step))
        self._step = agent
        metadata, self._handoff_metadata = self._handoff_metadata, None
        yield self._frame(core.StepStartedEvent(step_name=agent, metadata=metadata))

    def on_handoff(self, event: Handoff) -> Iterator[str]:
        details = {"fromAgent": event.from_agent, "toAgent": event.to_agent}
        if event.call_id is not None:
            details["callId"] = event.call_id
        self._handoff_metadata = {HANDOFF_METADATA_KEY: details}
        yield from ()

    def on_part_start(self, kind: PartKind, part_id: str) -> Iterator[str]:
        core = self._core
        if kind == "text":
            self._turn_message = part_id
            yield self._frame(core.TextMessageStartEvent(message_id=part_id, role="assistant"))
        else:
            yield self._frame(core.ReasoningStartEvent(message_id=part_id))
            yield self._frame(core.ReasoningMessageStartEvent(message_id=part_id))

    def on_part_delta(self, kind: PartKind, part_id: str, delta: str) -> Iterator[str]:
        core = self._core
        if kind == "text":
            yield self._frame(core.TextMessageContentEvent(message_id=part_id, delta=delta))
        else:
            yield self._frame(core.ReasoningMessageContentEvent(message_id=part_id, delta=delta))

    def on_part_end(self, kind: PartKind, part_id: str) -> Iterator[str]:
        core = self._core
        if kind == "text":
            yield self._frame(core.TextMessageEndEvent(message_id=part_id))
        else:
            yield self._frame(core.ReasoningMessageEndEvent(message_id=part_id))
            yield self._frame(core.ReasoningEndEvent(message_id=part_id))

    def on_tool_start(self, call: ToolCallState) -> Iterator[str]:
        yield self._frame(
            self._core.ToolCallStartEvent(
                tool_call_id=call.call_id,
                tool_call_name=call.name,
                parent_message_id=self._turn_message,
                metadata={PROVIDER_EXECUTED_KEY: True} if call.provider_executed else None,
            )
        )

    def on_tool_delta(self, call: ToolCallState, delta: str) -> Iterator[str]:
        yield self._frame(self._core.ToolCallArgsEvent(tool_call_id=call.call_id, delta=delta))

    def on_tool_input(self, call: ToolCallState) -> Iterator[str]:
        yield self._frame(self._core.ToolCallEndEvent(tool_call_id=call.call_id))

    def on_tool_output(self, call: ToolCallState, event: ToolOutput) -> Iterator[str]:
        if call.call_id in self._quiet:
            return  # a frontend tool's output: the client's own tool message already holds it
        yield self._frame(
            self._core.ToolCallResultEvent(
                message_id=self.new_id(f"{call.call_id}_result", "tool_result"),
                tool_call_id=call.call_id,
                content=_content(event.output),
                role="tool",
            )
        )

    def on_approval(self, call: ToolCallState, event: ApprovalRequested) -> Iterator[str]:
        self._approvals[call.call_id] = call
        yield from ()

    # Schema 1.2: nested runs, events from tools, citations

    def _subagent_started(self, call_id: str, name: str) -> Iterator[str]:
        self._children[call_id] = _AguiBridge(
            self.thread_id, self.run_id, depth=self.depth + 1, subagent=call_id
        )
        self._children[call_id]._used_ids = self._used_ids  # one id space for the stream
        yield self._frame(
            self._core.SubagentStartedEvent(
                subagent_run_id=call_id,
                name=name,
                parent_tool_call_id=call_id,
                parent_subagent_run_id=self._subagent,
            )
        )

    def on_nested_start(self, event: NestedRunStarted) -> Iterator[str]:
        if event.call_id not in self._children:
            yield from self._subagent_started(event.call_id, event.nested_agent)

    def on_nested(self, event: Event) -> Iterator[str]:
        call_id = event.path[self.depth]
        child = self._children.get(call_id)
        if child is None:  # its start was not in this stream: start it now
            yield from self._subagent_started(call_id, event.agent or "agent")
            child = self._children[call_id]
        yield from child.handle(event)

    def on_nested_end(self, event: NestedRunFinished) -> Iterator[str]:
        child = self._children.pop(event.call_id, None)
        if child is None:
            return
        yield from child.settle()
        self._nested_calls.update(child._nested_calls)
        self._nested_calls.update((c, (event.call_id, s)) for c, s in child.calls.items())
        core = self._core
        if event.status in ("completed", "interrupted"):
            # A nested run that paused for approvals is suspended: the calling run's
            # RUN_FINISHED carries the interrupts, and the next run resumes it.
            outcome = (
                core.SubagentFinishedSuccessOutcome()
                if event.status == "completed"
                else core.SubagentFinishedSuspendedOutcome()
            )
            yield self._frame(
                core.SubagentFinishedEvent(
                    subagent_run_id=event.call_id, result=event.final_output, outcome=outcome
                )
            )
            return
        error = event.error
        yield self._frame(
            core.SubagentErrorEvent(
                subagent_run_id=event.call_id,
                message=error.message if error else f"the nested run ended {event.status}",
                code=error.type if error else event.status,
            )
        )

    def settle(self) -> Iterator[str]:
        """End what a nested run left open, its own nested runs first (as cancelled)."""
        yield from self._end_children()
        yield from self._close_part()
        for call in self.calls.values():
            if not call.input_done and call.arguments_are_json:
                call.input_done = True
                yield from self.on_tool_input(call)
        self._finished = True

    def _end_children(self) -> Iterator[str]:
        for call_id, child in list(self._children.items()):
            del self._children[call_id]
            yield from child.settle()
            yield self._frame(
                self._core.SubagentErrorEvent(
                    subagent_run_id=call_id,
                    message="the nested run did not finish",
                    code="cancelled",
                )
            )

    def on_custom(self, event: Custom) -> Iterator[str]:
        metadata: dict[str, Any] = {"transient": event.transient}
        if event.id is not None:
            metadata["id"] = event.id
        if event.call_id is not None:
            metadata["toolCallId"] = event.call_id
        yield self._frame(
            self._core.CustomEvent(name=event.name, value=event.data, metadata=metadata)
        )

    def on_progress(self, event: ToolProgress) -> Iterator[str]:
        content = progress_view(event)
        yield self._frame(
            self._core.ActivitySnapshotEvent(
                message_id=f"progress_{event.call_id}",
                activity_type=PROGRESS_ACTIVITY,
                content=content,
            )
        )

    def on_citations(self, event: MessageOutput) -> Iterator[str]:
        value = {
            "messageId": event.message_id,
            "citations": [c.model_dump(exclude_none=True) for c in event.citations],
        }
        yield self._frame(self._core.CustomEvent(name=CITATIONS_EVENT, value=value))

    def on_model_call_end(self, event: UsageUpdated) -> Iterator[str]:
        self._turn_message = None
        yield from ()

    def on_finish(self, done: Done | None, unsettled: list[ToolCallState]) -> Iterator[str]:
        core = self._core
        if not self._started:
            yield from self._run_started(done.run_id if done is not None else None)
        yield from self._end_children()
        open_calls = [c for c in unsettled if not c.input_done]
        status = done.status if done is not None else None
        # RUN_FINISHED needs every tool call closed, and closing one whose arguments were cut
        # mid-JSON would send invalid arguments: such a run can only end in RUN_ERROR, which
        # tells the client that what is still open is debris of the failure.
        clean_end = status in ("completed", "interrupted") or (
            status == "cancelled" and all(c.arguments_are_json for c in open_calls)
        )
        for call in open_calls:
            if clean_end or call.arguments_are_json:
                call.input_done = True
                yield from self.on_tool_input(call)
        if self._step is not None:
            yield self._frame(core.StepFinishedEvent(step_name=self._step))
            self._step = None
        usage = None
        if done is not None:
            usage = [
                core.TokenUsage(
                    input_tokens=done.usage.input_tokens,
                    output_tokens=done.usage.output_tokens,
                    total_tokens=done.usage.total_tokens,
                )
            ]
        if done is not None and clean_end:
            yield self._frame(
                core.RunFinishedEvent(
                    thread_id=self.thread_id,
                    run_id=self.run_id,
                    result=done.final_output,
                    outcome=self._outcome(done),
                    usage=usage,
                )
            )
            return
        if done is None:
            message, code = "the event stream ended without its final event", "incomplete"
        elif done.status == "cancelled":
            message, code = "the run was cancelled", "cancelled"
        elif done.status == "timeout":
            message = done.error.message if done.error else "the run timed out"
            code = "timeout"
        else:
            message = done.error.message if done.error else "the run failed"
            code = done.error.type if done.error else "error"
        yield self._frame(core.RunErrorEvent(message=message, code=code, usage=usage))

    def _outcome(self, done: Done) -> Any:
        core = self._core
        if done.status == "cancelled":
            return core.RunFinishedCancelledOutcome()
        if done.interruptions:
            asks = [w for w in done.interruptions if w.kind != "frontend_tool"]
            if not asks:
                # Only frontend tools wait: a completed run, by AG-UI's convention, whose
                # calls the application answers with tool messages in the next input.
                return core.RunFinishedSuccessOutcome(
                    pending_tool_call_ids=[w.call_id for w in done.interruptions]
                )
            return core.RunFinishedInterruptOutcome(
                interrupts=[self._interrupt(done.run_id, w) for w in asks]
            )
        waiting = dict(self._approvals)
        for call_id in done.pending_approvals:
            if call_id not in waiting and call_id in self.calls:
                waiting[call_id] = self.calls[call_id]
        if waiting:
            return core.RunFinishedInterruptOutcome(
                interrupts=[
                    core.Interrupt(
                        id=call.call_id,
                        reason=APPROVAL_REASON,
                        message=f"approve the call of {call.name}",
                        tool_call_id=call.call_id,
                    )
                    for call in waiting.values()
                ]
            )
        return core.RunFinishedSuccessOutcome()

    def _interrupt(self, run_id: str, waiting: Interruption) -> Any:
        metadata = {"toolName": waiting.name, "arguments": waiting.arguments}
        if self._key is not None:
            metadata["signature"] = interrupt_signature(self._key, run_id, waiting.call_id)
        owner = self._nested_calls.get(waiting.call_id)
        return self._core.Interrupt(
            id=waiting.call_id,
            reason=APPROVAL_REASON,
            message=f"approve the call of {waiting.name}",
            tool_call_id=waiting.call_id,
            response_schema=dict(RESPONSE_SCHEMA),
            metadata=metadata,
            subagent_run_id=owner[0] if owner is not None else None,
        )


def interrupt_signature(key: str, run_id: str, call_id: str) -> str:
    """The `metadata.signature` of an interrupt: binds the answer to its run and call."""
    return sign(key, "ag-ui-interrupt", run_id, call_id)


def encode(
    events: AsyncIterable[Event],
    *,
    thread_id: str | None = None,
    run_id: str | None = None,
    heartbeat: float | None = 15.0,
) -> AsyncIterator[str]:
    """Translate agentstream events into AG-UI SSE frames (`data: {json}` and a blank line).

    Args:
        events: The events of one run, usually `normalize(result)`; the stream is closed when
            the returned iterator ends or is closed.
        thread_id: The AG-UI thread; a random one by default.
        run_id: The AG-UI run; by default the `run_id` of the events.
        heartbeat: Seconds without an event after which an SSE comment `: ping` is sent, so
            proxies keep the connection open during a long tool call; None sends none.

    Returns:
        An async iterator of SSE frames: `RUN_STARTED` first, `RUN_FINISHED` or `RUN_ERROR`
        last. Serve it with `content-type: text/event-stream` and `HEADERS`.

    Raises:
        MissingExtraError: `ag-ui-protocol` is not installed (`pip install 'agentstream[agui]'`).

    """
    if thread_id is not None and (not isinstance(thread_id, str) or not thread_id):
        raise ConfigurationError(f"thread_id must be a non-empty string or None, got {thread_id!r}")
    if run_id is not None and (not isinstance(run_id, str) or not run_id):
        raise ConfigurationError(f"run_id must be a non-empty string or None, got {run_id!r}")
    heartbeat = check_heartbeat(heartbeat)
    return _AguiBridge(thread_id, run_id).stream(events, heartbeat)


# The server side: RunAgentInput in, an agent run out.


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return "".join(str(getattr(p, "text", "")) for p in parts if getattr(p, "type", "") == "text")


def _user_content(content: object) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else []:
        kind = getattr(part, "type", None)
        if kind == "text":
            parts.append({"type": "input_text", "text": part.text})
            continue
        source: Any = getattr(part, "source", None)
        source_type = getattr(source, "type", None)
        if source_type == "data":
            url = f"data:{source.mime_type};base64,{source.value}"
        elif source_type == "url":
            url = source.value
        else:
            raise ConfigurationError(
                f"cannot pass a {kind!r} part with a {source_type!r} source to the agent"
            )
        if kind == "image":
            parts.append({"type": "input_image", "image_url": url, "detail": "auto"})
        elif kind == "document":
            if source_type == "data":
                parts.append({"type": "input_file", "file_data": url})
            else:
                parts.append({"type": "input_file", "file_url": url})
        else:
            raise ConfigurationError(f"cannot pass a {kind!r} content part to the agent")
    return parts


def _is_hosted(call: Any) -> bool:
    """Whether a client's tool call is a hosted tool's.

    Known by its kind, or for a hosted MCP call (named after the MCP tool) by its item id,
    which the Responses API starts with `mcp_`.
    """
    return call.function.name in HOSTED_CALLS or str(call.id).startswith("mcp_")


def messages_to_input(
    messages: list[Message], *, keep_system: bool = False
) -> list[TResponseInputItem]:
    """Turn AG-UI messages (`RunAgentInput.messages`) into Agents SDK input items.

    User messages become messages, and system and developer messages too with `keep_system`
    (by default they are dropped: a client must not give the model instructions); an
    assistant message becomes its text
    and one `function_call` per tool call that has its output; a tool message becomes a
    `function_call_output`. A call without an output is left out: a model cannot take it.
    Reasoning and activity messages are left out: they are the client's view of past output,
    not input a model can take back; so are a nested run's messages (`subagentRunId`: the
    agent-tool call's result stands for them) and hosted tools' calls and results (the
    provider's own items).

    Raises:
        ConfigurationError: a content part cannot be given to a model (audio, video, a
            provider file handle).

    """
    items: list[Any] = []
    hosted: set[str] = set()
    for entry in messages:
        message: Any = entry
        role = getattr(message, "role", None)
        if getattr(message, "subagent_run_id", None) is not None:
            continue  # a nested run's messages: the agent-tool call's result stands for them
        if role == "user":
            items.append({"role": "user", "content": _user_content(message.content)})
        elif role in ("system", "developer"):
            if keep_system:
                items.append({"role": role, "content": _text_of(message.content)})
        elif role == "assistant":
            hosted.update(call.id for call in message.tool_calls or () if _is_hosted(call))
            text = _text_of(message.content or "")
            if text:
                items.append({"role": "assistant", "content": text})
            items.extend(
                {
                    "type": "function_call",
                    "call_id": call.id,
                    "name": call.function.name,
                    "arguments": call.function.arguments,
                }
                for call in message.tool_calls or ()
                if not _is_hosted(call)  # the provider's own items
            )
        elif role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.tool_call_id,
                    "output": _text_of(message.content),
                }
            )
    # A call without its output (a run paused on it, and the user wrote instead of answering)
    # cannot be given back to a model: the API refuses the input; nor can a hosted tool's
    # result, which is the provider's own item, not a function call's output.
    answered = {item["call_id"] for item in items if item.get("type") == "function_call_output"}
    return [
        item
        for item in items
        if (item.get("type") != "function_call" or item["call_id"] in answered)
        and (item.get("type") != "function_call_output" or item["call_id"] not in hosted)
    ]


def _parse_run_input(data: RunAgentInput | Mapping[str, Any] | str | bytes) -> RunAgentInput:
    """Validate a `RunAgentInput` from a model, a mapping, or JSON text.

    Raises:
        ConfigurationError: the data is not a valid `RunAgentInput`; the message says why.

    """
    from pydantic import ValidationError

    core = _ag_ui()
    if isinstance(data, core.RunAgentInput):
        return cast("RunAgentInput", data)
    try:
        if isinstance(data, (str, bytes)):
            return cast("RunAgentInput", core.RunAgentInput.model_validate_json(data))
        return cast("RunAgentInput", core.RunAgentInput.model_validate(data))
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[:3]
        why = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in first)
        raise ConfigurationError(f"not a valid AG-UI RunAgentInput: {why}") from None


async def run(
    agent: Agent[Any],
    run_input: RunAgentInput | Mapping[str, Any],
    *,
    context: Any = None,
    max_turns: int | None = None,
    run_config: RunConfig | None = None,
    heartbeat: float | None = 15.0,
    keep_system: bool = False,
    **options: Unpack[RunOptions],
) -> AsyncIterator[str]:
    """Run `agent` on an AG-UI `RunAgentInput` and yield the run as AG-UI SSE frames.

    The input's messages become the run's input (`messages_to_input`); its `threadId` and
    `runId` are echoed in `RUN_STARTED` and `RUN_FINISHED`/`RUN_ERROR`. Closing the iterator
    cancels the run.

    Args:
        agent: The agent to run.
        run_input: The request body of the AG-UI client, validated or not.
        context: The run context passed to `Runner.run_streamed`.
        max_turns: Passed to `Runner.run_streamed` when given.
        run_config: Passed to `Runner.run_streamed`.
        heartbeat: See `encode()`: seconds of silence before a `: ping` comment, or None.
        keep_system: Give the model the input's system and developer messages; by default they
            are dropped (a client must not instruct the agent).
        **options: How the run is normalized (`RunOptions`); with `expose_errors` off,
            `RUN_ERROR.message` is a safe sentence. The run's id is the input's `runId`.

    Raises:
        ConfigurationError: the input is not a valid `RunAgentInput`, `heartbeat` is not a
            number of seconds > 0, or a `run_id` is given (raised on the first read).

    """
    heartbeat = check_heartbeat(heartbeat)
    if "run_id" in options:
        raise ConfigurationError(
            f"the run id of an AG-UI run is its input's runId, got run_id={options['run_id']!r}"
        )
    parsed = _parse_run_input(run_input)
    items = messages_to_input(parsed.messages, keep_system=keep_system)
    frames = run_frames(
        agent,
        items,
        lambda stream: encode(
            stream, thread_id=parsed.thread_id, run_id=parsed.run_id, heartbeat=heartbeat
        ),
        context=context,
        max_turns=max_turns,
        run_config=run_config,
        options={**options, "run_id": parsed.run_id},
    )
    async for frame in frames:
        yield frame


def with_frontend_tools(agent: Agent[Any], tools: list[Any] | None) -> Agent[Any]:
    """`agent` with the input's tools (`RunAgentInput.tools`) as frontend tools.

    Raises:
        RequestRefusedError: (422) a tool is not usable, or has the name of a server tool.

    """
    if not tools:
        return agent
    taken = {getattr(t, "name", None) for t in agent.tools}
    made = []
    for tool in tools:
        if tool.name in taken:
            raise RequestRefusedError(
                422, f"the client's tool {tool.name!r} has the name of a server tool"
            )
        taken.add(tool.name)
        try:
            made.append(frontend_tool(tool.name, tool.description, tool.parameters or None))
        except ConfigurationError as exc:
            raise RequestRefusedError(422, str(exc)) from None
    return agent.clone(tools=[*agent.tools, *made])


def answers_in(run_input: RunAgentInput, record: PausedRun) -> list[Answer]:
    """The answers a `RunAgentInput` gives to the calls `record` waits for.

    Approvals come as `resume` entries (`interruptId` the call id; `resolved` with a payload
    `{approved, reason?}`, or `cancelled`, a refusal), each with the interrupt's
    `metadata.signature`; frontend tools' outputs as `tool` messages for the waiting calls.

    Raises:
        AnswerRefusedError: 403 for a missing or wrong signature, 409 for an interrupt this
            run does not wait for, 422 for a payload that does not match the interrupt's schema.

    """
    answers: list[Answer] = []
    for entry in run_input.resume or ():
        waiting = record.interruption(entry.interrupt_id)
        if waiting is None or waiting.kind == "frontend_tool":
            raise AnswerRefusedError(
                409, f"interrupt {entry.interrupt_id} is not waiting for an answer in this thread"
            )
        metadata = entry.metadata if isinstance(entry.metadata, Mapping) else {}
        signature = metadata.get("signature")
        if not signed(record.key, signature, "ag-ui-interrupt", record.run_id, waiting.call_id):
            raise AnswerRefusedError(
                403, f"the answer to interrupt {waiting.call_id} is not signed as it was issued"
            )
        if entry.status == "cancelled":
            answers.append(Answer.reject(waiting.call_id))
            continue
        payload = entry.payload
        reason = payload.get("reason") if isinstance(payload, Mapping) else None
        if (
            not isinstance(payload, Mapping)
            or not isinstance(payload.get("approved"), bool)
            or not (reason is None or isinstance(reason, str))
            or set(payload) - {"approved", "reason"}
        ):
            raise AnswerRefusedError(
                422,
                f"the payload of interrupt {waiting.call_id} must be "
                '{"approved": true|false, "reason"?: string}',
            )
        if payload["approved"]:
            answers.append(Answer.approve(waiting.call_id))
        else:
            answers.append(Answer.reject(waiting.call_id, reason))
    for message in run_input.messages:
        call_id = getattr(message, "tool_call_id", None)
        waiting = record.interruption(call_id) if isinstance(call_id, str) else None
        if waiting is not None and waiting.kind == "frontend_tool":
            answers.append(Answer.tool_output(waiting.call_id, _text_of(message.content)))
    return answers


def _snapshot(messages: list[Message], record: PausedRun) -> list[Message]:
    """The conversation a resumed run goes on from.

    The input's messages, and the calls the run paused on if the client did not send them back:
    the results the run reports must name a known call.
    """
    core = _ag_ui()
    sent = {call.id for m in messages for call in getattr(m, "tool_calls", None) or ()}
    missing = [w for w in record.interruptions if w.call_id not in sent]
    if not missing:
        return list(messages)
    calls = [
        core.ToolCall(
            id=w.call_id,
            type="function",
            function=core.FunctionCall(name=w.name, arguments=w.arguments),
        )
        for w in missing
    ]
    paused = core.AssistantMessage(
        id=f"{record.run_id}-paused-calls", role="assistant", tool_calls=calls
    )
    return [*messages, paused]


def _thread_id(run_input: RunAgentInput) -> str | None:
    return run_input.thread_id or None


def _new_turn(messages: list[Message]) -> list[Message]:
    """The user messages that end `messages`: the new turn of a conversation the server holds.

    Raises:
        RequestRefusedError: (422) the messages do not end with a user message.

    """
    turn: list[Message] = []
    for message in reversed(messages):
        if getattr(message, "role", None) != "user":
            break
        turn.insert(0, message)
    if not turn:
        raise RequestRefusedError(422, "the input must end with the user's new message")
    return turn


async def respond(
    agent: Agent[Any],
    run_input: RunAgentInput | Mapping[str, Any],
    log: EventLog,
    *,
    pause_ttl: float | None = None,
    context: Any = None,
    max_turns: int | None = None,
    run_config: RunConfig | None = None,
    heartbeat: float | None = 15.0,
    keep_system: bool = False,
    sessions: Sessions | None = None,
    resumable: bool = False,
    responses_history: bool = False,
    **options: Unpack[RunOptions],
) -> AsyncIterator[str]:
    """Answer one `RunAgentInput`: resume the thread's paused run, or start a new one.

    With `responses_history`, the model provider holds the conversation (the Responses API's
    `previous_response_id`): the run's input is the new turn, and the log keeps the thread's
    last response id and last agent for the next run.

    With `resumable`, the run is published to `log` as it streams and the response reads it
    from there: a client that reconnects gets the thread's running run from any process
    (`resume_endpoint`), and a client that goes away no longer stops the run.

    With `sessions`, the server holds the conversation (`docs/conversations.md`): the run's
    input is the user messages that end the input's `messages` (the new turn), the thread's
    `Session` gives the history, and the agent that ended the last turn starts this one.

    The input's `tools` become frontend tools of the agent for this run. The thread names its
    paused run in `log`; when the input answers it (`resume` entries for its interrupts, tool
    messages for its frontend tools' calls), the run resumes as the same run, in an AG-UI run
    with the input's `runId` that starts with a `MESSAGES_SNAPSHOT` of the input's messages;
    otherwise a new run starts from the messages. A run that pauses is kept in `log`.

    Raises:
        AnswerRefusedError: `resume` entries for a thread whose run does not wait for them
            (409), a forged answer (403), a malformed or incomplete one (422); nothing changed.
        RequestRefusedError: (422) a frontend tool cannot be made from the input.
        ConfigurationError: the input is not a valid `RunAgentInput`, or an option is invalid.

    """
    from ._runs import pause_ttl_of, publish_current, publish_resumed

    heartbeat = check_heartbeat(heartbeat)
    if "run_id" in options:
        raise ConfigurationError(
            f"the run id of an AG-UI run is its input's runId, got run_id={options['run_id']!r}"
        )
    parsed = _parse_run_input(run_input)
    ttl = pause_ttl_of(log, pause_ttl)
    thread = parsed.thread_id
    session = sessions(thread) if sessions is not None else None
    if session is not None:
        options = {**options, "on_cancel": keep_partial(session, options.get("on_cancel"))}
    loaded = await thread_pause(log, thread)
    if session is not None and loaded is None:
        agent = last_agent(agent, await session.get_items())
    chosen = with_frontend_tools(agent, parsed.tools)
    key = secrets.token_urlsafe(32)
    if loaded is None and parsed.resume:
        raise AnswerRefusedError(
            409, "no run of this thread waits for these answers (answered already, or expired)"
        )
    answers = answers_in(parsed, loaded[0]) if loaded is not None else []
    if responses_history and loaded is None:
        if session is not None or resumable:
            raise ConfigurationError("responses_history holds the history: no sessions, resumable")
        chained = await log.chain(thread)
        previous, last = chained if chained is not None else (None, None)
        start = with_frontend_tools(named_agent(agent, last), parsed.tools)
        run_kwargs: dict[str, Any] = {"context": context, "run_config": run_config}
        if max_turns is not None:
            run_kwargs["max_turns"] = max_turns
        from agents import Runner

        items = messages_to_input(_new_turn(parsed.messages), keep_system=keep_system)
        result = Runner.run_streamed(start, items, previous_response_id=previous, **run_kwargs)
        chained_options: RunOptions = {
            **options,
            "run_id": parsed.run_id,
            "on_complete": keep_chain(log, thread, result, ttl, options.get("on_complete")),
        }
        return result_frames(
            result,
            lambda stream: _AguiBridge(thread, parsed.run_id, key=key).stream(stream, heartbeat),
            options=chained_options,
            pause=PauseSpec(log, ttl, start.name, thread=thread, key=key),
        )
    if loaded is None or not answers:
        messages = parsed.messages if session is None else _new_turn(parsed.messages)
        if resumable:
            opened: RunOptions = {**options, "run_id": parsed.run_id}
            await publish_current(
                chosen,
                messages_to_input(messages, keep_system=keep_system),
                log,
                thread,
                pause_ttl=ttl,
                key=key,
                run_kwargs={"context": context, "max_turns": max_turns, "run_config": run_config},
                session=session,
                **opened,
            )
            bridge = _AguiBridge(thread, parsed.run_id, key=key)
            return bridge.stream(read_run(log, parsed.run_id, -1), heartbeat)
        return run_frames(
            chosen,
            messages_to_input(messages, keep_system=keep_system),
            lambda stream: _AguiBridge(thread, parsed.run_id, key=key).stream(stream, heartbeat),
            context=context,
            max_turns=max_turns,
            run_config=run_config,
            options={**options, "run_id": parsed.run_id},
            pause=PauseSpec(log, ttl, chosen.name, thread=thread, key=key),
            session=session,
        )
    result, record = await open_resumed(
        log,
        loaded[0].run_id,
        answers,
        [chosen],
        thread=thread,
        context=context,
        max_turns=max_turns,
        run_config=run_config,
        loaded=loaded,
        session=session,
    )
    quiet = {a.call_id for a in answers if a.has_output}
    continued: RunOptions = {**options, "run_id": record.run_id, "first_seq": record.next_seq}
    if resumable:
        after = await publish_resumed(
            result, record, log, thread, pause_ttl=ttl, key=key, **options
        )
        bridge = _AguiBridge(
            thread,
            parsed.run_id,
            key=key,
            resumed=record,
            snapshot=_snapshot(parsed.messages, record),
            quiet=quiet,
        )
        return bridge.stream(read_run(log, record.run_id, after), heartbeat)
    return result_frames(
        result,
        lambda stream: _AguiBridge(
            thread,
            parsed.run_id,
            key=key,
            resumed=record,
            snapshot=_snapshot(parsed.messages, record),
            quiet=quiet,
        ).stream(stream, heartbeat),
        options=continued,
        pause=PauseSpec(log, ttl, record.agent, thread=thread, key=key),
        names={w.call_id: w.name for w in record.interruptions},
    )


def endpoint(
    agent: Agent[Any] | Callable[[RunAgentInput], Agent[Any]],
    *,
    log: EventLog | None = None,
    pause_ttl: float | None = None,
    authorize: Authorize | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    send_timeout: float | None = None,
    content_types: Collection[str] | None = DEFAULT_CONTENT_TYPES,
    read_timeout: float | None = DEFAULT_READ_TIMEOUT,
    **options: Any,
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette (or FastAPI) endpoint that serves `agent` to AG-UI clients.

    Mount it with `app.add_route("/agent", endpoint(agent), methods=["POST"])`. A body
    larger than `max_body_bytes` gets a 413, one not sent as `content_types` a 415, one slower
    than `read_timeout` a 408, one that nests deeper than 64 levels or is not a valid
    `RunAgentInput` a 422, each with a JSON `{"error": reason}`; anything else streams the
    run (`run`). When the client disconnects, the response stops and the run is cancelled and
    waited for.

    Args:
        agent: The agent, or a function that picks one for each input.
        log: Where runs that pause (approvals, the input's frontend tools) are kept until the
            thread's next input answers them (`respond`): a `RedisEventLog` serves many
            processes. By default the endpoint keeps a `MemoryEventLog` of its own.
        pause_ttl: Seconds a paused run can be answered; by default the log's `ttl`.
        authorize: Whether a request may use its conversation: called with the request and the
            conversation's id (None when it names none), sync or async; False answers 404
            `{"error": "no such conversation"}` before anything runs (`docs/conversations.md`).
        max_body_bytes: The largest request body read, in bytes (1 MiB by default).
        content_types: The request media types accepted (parameters such as `charset`
            ignored; `type/*+suffix` matches any subtype with that suffix); others get a 415.
            By default JSON: `application/json` and `application/*+json`. None accepts any.
        read_timeout: Seconds the whole request body may take to arrive (30 by default);
            then a 408 and the connection is closed. None waits as long as it takes.
        send_timeout: Seconds one write may wait for a client that does not read; then the
            response stops and the run is cancelled. None waits as long as it takes.
        **options: Keyword arguments of `run` (`context`, `max_turns`, `idle_timeout`,
            `heartbeat`, ...).

    Raises:
        MissingExtraError: Starlette is not installed (`pip install 'agentstream[web]'`).
        ConfigurationError: an option is not one `run` takes, or has a bad value.

    """
    from ._eventlog import EventLog, MemoryEventLog
    from ._runs import pause_ttl_of

    _ag_ui()
    checked = check_run_options("agui.endpoint", options)
    if log is not None and not isinstance(log, EventLog):
        raise ConfigurationError(f"log must be an EventLog, got {type(log).__name__}")
    pauses = log if log is not None else MemoryEventLog()
    pause_ttl_of(pauses, pause_ttl)

    def start(run_input: RunAgentInput) -> Awaitable[AsyncIterator[str]]:
        chosen = cast("Agent[Any]", agent if _is_agent(agent) else agent(run_input))  # type: ignore[operator]
        return respond(chosen, run_input, pauses, pause_ttl=pause_ttl, **checked)

    return make_endpoint(
        "agui.endpoint",
        parse=_parse_run_input,
        start=start,
        headers=HEADERS,
        limits=body_limits(
            max_body_bytes=max_body_bytes, content_types=content_types, read_timeout=read_timeout
        ),
        send_timeout=send_timeout,
        authorize=authorize,
        conversation_of=_thread_id,
    )


def _is_agent(value: object) -> bool:
    from agents import Agent

    return isinstance(value, Agent)


def history_endpoint(
    sessions: Sessions, *, authorize: Authorize | None = None, path_param: str = "thread_id"
) -> Callable[[Request], Awaitable[Response]]:
    """`GET /threads/{thread_id}/messages`: a conversation the server holds, as AG-UI messages.

    The answer is a `MESSAGES_SNAPSHOT` event (JSON): its `messages` are the user and assistant
    messages, the calls as `toolCalls` and their outputs as `tool` messages, for a client that
    loads the thread (`agent.setMessages(snapshot.messages)`). Whether the caller may read the
    thread is the service's decision: `authorize` (as for `endpoint`) answers 404 for a thread it
    refuses.

    Raises:
        MissingExtraError: Starlette or `ag-ui-protocol` is not installed.

    """
    core = _ag_ui()
    try:
        from starlette.responses import JSONResponse, Response
    except ImportError as exc:
        raise MissingExtraError("agui.history_endpoint", "web") from exc

    async def endpoint(request: Request) -> Response:
        thread = request.path_params.get(path_param)
        if not isinstance(thread, str) or not thread:
            return JSONResponse({"error": "no such thread"}, status_code=404)
        if authorize is not None and not await allowed(authorize, request, thread):
            return JSONResponse({"error": "no such conversation"}, status_code=404)
        items = await sessions(thread).get_items()
        snapshot = core.MessagesSnapshotEvent.model_validate(
            {"type": "MESSAGES_SNAPSHOT", "messages": agui_messages(items), "timestamp": _now_ms()}
        )
        return Response(
            snapshot.model_dump_json(by_alias=True, exclude_none=True),
            media_type="application/json",
            headers={"cache-control": "no-store"},
        )

    return resolved(endpoint)


def resume_endpoint(
    log: EventLog,
    *,
    authorize: Authorize | None = None,
    path_param: str = "thread_id",
    heartbeat: float | None = 15.0,
) -> Callable[[Request], Awaitable[Response]]:
    """`GET /threads/{thread_id}/stream`: a client reconnects to its thread's running run.

    For threads served by `endpoint(..., log=log, resumable=True)`, from any process that
    reaches `log`: the run the thread is streaming, as AG-UI frames from its `RUN_STARTED`, live
    to its end. 204 when the thread streams nothing (never did, or its run ended); 404 when
    `authorize` (as for `endpoint`) refuses the thread. `@ag-ui/client` 1.0's `HttpAgent` has no
    reconnect of its own: a subclass whose `connect()` GETs this URL and hands the response to
    `transformHttpEventStream` makes `agent.connectAgent()` use it (`docs/conversations.md`).

    Raises:
        MissingExtraError: Starlette is not installed (`pip install 'agentstream[web]'`).
        ConfigurationError: `log` is not an `EventLog`, or `heartbeat` is not valid.

    """
    _ag_ui()
    heartbeat = check_heartbeat(heartbeat)
    return make_resume_endpoint(
        "agui.resume_endpoint",
        log,
        lambda conversation, events: _AguiBridge(conversation, None).stream(events, heartbeat),
        headers=HEADERS,
        authorize=authorize,
        path_param=path_param,
    )
