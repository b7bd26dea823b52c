"""The Vercel AI SDK UI message stream: what `useChat` reads, and the body it sends.

`encode()` turns agentstream events into the SSE parts of the AI SDK's UI message stream
protocol (v1); `messages_to_input()` turns the messages `useChat` posts into Agents SDK input,
so a Next.js page can point `useChat` straight at a Python endpoint. The mapping is written down
in `docs/ai-sdk.md`.
"""

from __future__ import annotations

import json
import mimetypes
import secrets
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

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
    keep_chain,
    keep_partial,
    last_agent,
    named_agent,
    ui_messages,
)
from ._errors import ConfigurationError, MissingExtraError
from ._eventlog import EventLog, MemoryEventLog
from ._events import (
    Custom,
    Handoff,
    MessageOutput,
    TextDelta,
    ToolCalled,
    ToolOutput,
    ToolProgress,
    clean_json,
    load_json,
)
from ._interactive import Answer, AnswerRefusedError, open_resumed, sign, signed, thread_pause
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

    from agents import Agent, RunConfig, TResponseInputItem
    from starlette.requests import Request
    from starlette.responses import Response
    from typing_extensions import Unpack

    from ._events import (
        ApprovalRequested,
        Citation,
        Done,
        Event,
        NestedRunFinished,
        NestedRunStarted,
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

HEADERS: Final[Mapping[str, str]] = MappingProxyType(
    {**SSE_HEADERS, "x-vercel-ai-ui-message-stream": "v1"}
)
"""Response headers of a UI message stream: those of every SSE response (`content-type:
text/event-stream; charset=utf-8`, no caching, no proxy buffering) and the stream's version."""

DONE_FRAME: Final = "data: [DONE]\n\n"
"""The frame that ends every UI message stream."""

_CUT_INPUT: Final = "the run ended before the call's arguments were complete"
_NO_OUTPUT: Final = "the run ended before the tool returned"


def _frame(part: Mapping[str, Any]) -> str:
    try:
        data = json.dumps(part, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a non-finite number: strict JSON has none, so it is written as null
        data = json.dumps(clean_json(part), ensure_ascii=False, separators=(",", ":"))
    return f"data: {data}\n\n"


def _media_type(filename: str | None) -> str:
    guessed = mimetypes.guess_type(filename)[0] if filename else None
    return guessed or "application/octet-stream"


def _source(citation: Citation, source_id: str) -> dict[str, Any] | None:
    """The `source-url` or `source-document` part of a citation (None: it names no source)."""
    if citation.url is not None:
        part = {"type": "source-url", "sourceId": source_id, "url": citation.url}
        if citation.title is not None:
            part["title"] = citation.title
        return part
    if citation.file_id is None and citation.filename is None:
        return None
    part = {
        "type": "source-document",
        "sourceId": source_id,
        "mediaType": _media_type(citation.filename),
        "title": citation.title or citation.filename or citation.file_id or "",
    }
    if citation.filename is not None:
        part["filename"] = citation.filename
    return part


class _NestedView:
    """What the client's tool part shows of an agent-tool call's nested run, as it goes.

    Sent as the call's `preliminary` output; the call's own output replaces it at the end.
    """

    __slots__ = ("agent", "message", "open", "sent", "status", "texts", "tools")

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.status = "running"
        self.texts: list[str] = []
        self.message: str | None = None  # the message the last text belongs to
        self.open = False  # the last text is a message still streaming
        self.tools: dict[str, dict[str, Any]] = {}
        self.sent = -1  # characters of text in the last snapshot sent

    @property
    def text(self) -> str:
        return "\n\n".join(self.texts)

    def add_delta(self, message_id: str | None, delta: str) -> None:
        if not self.open or message_id != self.message:
            self.texts.append("")
            self.message, self.open = message_id, True
        self.texts[-1] += delta

    def add_message(self, message_id: str | None, text: str) -> None:
        """A whole message: the one streaming, or one whose deltas were not seen."""
        if self.open and message_id == self.message:
            self.texts[-1] = text
        else:
            self.texts.append(text)
        self.message, self.open = message_id, False

    def snapshot(self) -> dict[str, Any]:
        self.sent = sum(len(t) for t in self.texts)
        return {
            "agent": self.agent,
            "status": self.status,
            "text": self.text,
            "tools": list(self.tools.values()),
        }

    def worth_sending(self) -> bool:
        """Whether the text grew by a quarter of what was sent since the last snapshot.

        So a long answer costs a few times its length on the wire, not its square.
        """
        grown = sum(len(t) for t in self.texts) - self.sent
        return grown > 0 and grown >= self.sent // 4


def _parse_input(text: str) -> Any:
    """A call's arguments as JSON data for `input`; the text itself when it is not strict JSON."""
    if not text:
        return {}
    try:
        return clean_json(load_json(text))
    except (ValueError, RecursionError):
        return text


class _AiSdkBridge(Bridge):
    """The UI message stream hooks of the bridge; see `docs/ai-sdk.md` for the mapping."""

    def __init__(
        self,
        message_id: str | None,
        *,
        key: str | None = None,
        resumed: PausedRun | None = None,
        denied: Collection[str] = (),
    ) -> None:
        super().__init__()
        self.message_id = message_id
        self._key = key
        self._denied = frozenset(denied)
        if resumed is not None:
            self.continue_calls(resumed.interruptions)
        self._started = False
        self._step_open = False
        self._step_ended = False
        self._nested: dict[str, _NestedView] = {}
        self._sources: dict[tuple[str | None, str | None], str] = {}

    def handle(self, event: Event) -> Iterator[str]:
        if not self._started:
            yield from self._start(event.run_id)
        yield from super().handle(event)

    def _start(self, run_id: str | None) -> Iterator[str]:
        self._started = True
        self.message_id = self.message_id or run_id
        part = {"type": "start"}
        if self.message_id:
            part["messageId"] = self.message_id
        yield _frame(part)

    def _step(self) -> Iterator[str]:
        if not self._step_open:
            self._step_open = True
            self._step_ended = False
            yield _frame({"type": "start-step"})

    def _end_step(self) -> Iterator[str]:
        if self._step_open:
            self._step_open = False
            yield _frame({"type": "finish-step"})

    def on_model_output(self) -> Iterator[str]:
        # A step is one model call and the tool runs it asked for; it ends when the next model
        # call starts producing. A call still receiving arguments keeps its step open: the
        # client completes a tool part only within the step that started it.
        if self._step_ended and all(c.input_done for c in self.calls.values()):
            yield from self._end_step()
        yield from self._step()

    def on_model_call_end(self, event: UsageUpdated) -> Iterator[str]:
        self._step_ended = True
        yield from ()

    def on_part_start(self, kind: PartKind, part_id: str) -> Iterator[str]:
        yield from self._step()
        yield _frame({"type": f"{kind}-start", "id": part_id})

    def on_part_delta(self, kind: PartKind, part_id: str, delta: str) -> Iterator[str]:
        yield _frame({"type": f"{kind}-delta", "id": part_id, "delta": delta})

    def on_part_end(self, kind: PartKind, part_id: str) -> Iterator[str]:
        yield _frame({"type": f"{kind}-end", "id": part_id})

    def on_tool_start(self, call: ToolCallState) -> Iterator[str]:
        yield from self._step()
        part: dict[str, Any] = {
            "type": "tool-input-start",
            "toolCallId": call.call_id,
            "toolName": call.name,
        }
        if call.provider_executed:
            part["providerExecuted"] = True
        yield _frame(part)

    def on_tool_delta(self, call: ToolCallState, delta: str) -> Iterator[str]:
        yield _frame(
            {"type": "tool-input-delta", "toolCallId": call.call_id, "inputTextDelta": delta}
        )

    def on_tool_input(self, call: ToolCallState) -> Iterator[str]:
        part = {
            "type": "tool-input-available",
            "toolCallId": call.call_id,
            "toolName": call.name,
            "input": _parse_input(call.arguments_text),
        }
        if call.provider_executed:
            part["providerExecuted"] = True
        yield _frame(part)

    def on_tool_output(self, call: ToolCallState, event: ToolOutput) -> Iterator[str]:
        yield from self._step()
        if call.call_id in self._denied:
            # A call the user rejected: the model got the reason as its output, the client
            # shows the call as denied.
            yield _frame({"type": "tool-output-denied", "toolCallId": call.call_id})
            return
        output = event.output
        failed = isinstance(output, dict) and output.get("status") == "failed"
        failure = output.get("error") if isinstance(output, dict) else None
        if call.provider_executed and failed and failure:
            # A hosted call that failed (a hosted MCP server's error): the client shows an error.
            yield _frame(
                {
                    "type": "tool-output-error",
                    "toolCallId": call.call_id,
                    "errorText": failure if isinstance(failure, str) else json.dumps(failure),
                    "providerExecuted": True,
                }
            )
            return
        part: dict[str, Any] = {
            "type": "tool-output-available",
            "toolCallId": call.call_id,
            "output": output,
        }
        if call.provider_executed:
            part["providerExecuted"] = True
        yield _frame(part)
        if call.provider_executed and isinstance(output, dict):
            image, media_type = output.get("image"), output.get("media_type")
            if isinstance(image, str) and isinstance(media_type, str):
                yield _frame({"type": "file", "url": image, "mediaType": media_type})

    # Schema 1.2: nested runs, events from tools, citations

    def _preliminary(self, call_id: str, view: _NestedView) -> Iterator[str]:
        yield from self._step()
        yield _frame(
            {
                "type": "tool-output-available",
                "toolCallId": call_id,
                "output": view.snapshot(),
                "preliminary": True,
            }
        )

    def on_nested_start(self, event: NestedRunStarted) -> Iterator[str]:
        view = self._nested[event.call_id] = _NestedView(event.nested_agent)
        yield from self._preliminary(event.call_id, view)

    def on_nested_end(self, event: NestedRunFinished) -> Iterator[str]:
        view = self._nested.pop(event.call_id, None)
        if view is not None:
            view.status = event.status
            yield from self._preliminary(event.call_id, view)

    def on_nested(self, event: Event) -> Iterator[str]:
        # Events from tools keep their meaning at any depth; the tool card shows one level.
        if isinstance(event, Custom):
            yield from self.on_custom(event)
            return
        if isinstance(event, ToolProgress):
            yield from self.on_progress(event)
            return
        view = self._nested.get(event.path[0])
        if view is None or len(event.path) != 1:
            return
        if isinstance(event, TextDelta):
            view.add_delta(event.message_id, event.delta)
            if not view.worth_sending():
                return
        elif isinstance(event, MessageOutput):
            view.add_message(event.message_id, event.text)
        elif isinstance(event, ToolCalled):
            view.tools[event.call_id] = {
                "toolCallId": event.call_id,
                "toolName": event.name,
                "state": "input-available",
                "input": _parse_input(event.arguments),
            }
        elif isinstance(event, ToolOutput):
            tool = view.tools.setdefault(
                event.call_id, {"toolCallId": event.call_id, "toolName": event.name}
            )
            tool.update(state="output-available", output=event.output)
        elif isinstance(event, Handoff):
            view.agent = event.to_agent
        else:
            return
        yield from self._preliminary(event.path[0], view)

    def on_custom(self, event: Custom) -> Iterator[str]:
        part: dict[str, Any] = {"type": f"data-{event.name}", "data": event.data}
        if event.id is not None:
            part["id"] = event.id
        if event.transient:
            part["transient"] = True
        yield _frame(part)

    def on_progress(self, event: ToolProgress) -> Iterator[str]:
        data = progress_view(event)
        part: dict[str, Any] = {
            "type": "data-tool-progress",
            "id": f"progress-{event.call_id}",
            "data": data,
        }
        if event.stage == "partial_image":
            part["transient"] = True  # the final image comes as a `file` part
        yield _frame(part)

    def on_citations(self, event: MessageOutput) -> Iterator[str]:
        yield from self._step()
        for citation in event.citations:
            key = (citation.url, citation.file_id or citation.filename)
            if key in self._sources:
                continue
            source_id = self._sources[key] = self.new_id(None, "src")
            part = _source(citation, source_id)
            if part is not None:
                yield _frame(part)

    def on_handoff(self, event: Handoff) -> Iterator[str]:
        yield from self._step()
        data = {"fromAgent": event.from_agent, "toAgent": event.to_agent, "callId": event.call_id}
        yield _frame({"type": "data-handoff", "data": data})

    def on_approval(self, call: ToolCallState, event: ApprovalRequested) -> Iterator[str]:
        part = {
            "type": "tool-approval-request",
            "approvalId": call.call_id,
            "toolCallId": call.call_id,
        }
        if self._key is not None:
            part["signature"] = approval_signature(self._key, event.run_id, call.call_id)
        yield _frame(part)

    def on_finish(self, done: Done | None, unsettled: list[ToolCallState]) -> Iterator[str]:
        if not self._started:
            yield from self._start(done.run_id if done is not None else None)
        # A paused run ends cleanly too: its calls wait for the user, not for the server.
        completed = done is not None and done.status in ("completed", "interrupted")
        waiting = set(done.pending_approvals) if done is not None else set()
        if done is not None:
            waiting.update(w.call_id for w in done.interruptions)
        for call in unsettled:
            if not call.input_done:
                call.input_done = True
                if completed:
                    yield from self.on_tool_input(call)
                else:
                    yield _frame(
                        {
                            "type": "tool-input-error",
                            "toolCallId": call.call_id,
                            "toolName": call.name,
                            "input": call.arguments_text,
                            "errorText": _CUT_INPUT,
                        }
                    )
            elif not completed and call.call_id not in waiting:
                yield _frame(
                    {
                        "type": "tool-output-error",
                        "toolCallId": call.call_id,
                        "errorText": _NO_OUTPUT,
                    }
                )
        yield from self._end_step()
        if done is None:
            yield _frame(
                {"type": "error", "errorText": "the event stream ended without its final event"}
            )
            yield _frame({"type": "finish", "finishReason": "error"})
        elif done.status == "cancelled":
            yield _frame({"type": "abort", "reason": "cancelled"})
        elif done.status in ("error", "timeout"):
            message = done.error.message if done.error else "the run failed"
            yield _frame({"type": "error", "errorText": message})
            yield _frame({"type": "finish", "finishReason": "error"})
        else:
            output = done.final_output
            if done.status == "completed" and output is not None and not isinstance(output, str):
                # A structured output (an agent's `output_type`): the object itself, as data.
                yield _frame({"type": "data-output", "data": output})
            waits = done.status == "interrupted" or any(not c.provider_executed for c in unsettled)
            yield _frame({"type": "finish", "finishReason": "tool-calls" if waits else "stop"})
        yield DONE_FRAME


def approval_signature(key: str, run_id: str, call_id: str) -> str:
    """The `signature` of a `tool-approval-request`: binds the approval to its run and call."""
    return sign(key, "ai-sdk-approval", run_id, call_id)


def encode(
    events: AsyncIterable[Event],
    *,
    message_id: str | None = None,
    heartbeat: float | None = 15.0,
) -> AsyncIterator[str]:
    """Translate agentstream events into a Vercel AI SDK UI message stream (SSE `data:` parts).

    Args:
        events: The events of one run, usually `normalize(result)`; the stream is closed when
            the returned iterator ends or is closed.
        message_id: The id of the assistant message the client builds; by default the `run_id`
            of the events.
        heartbeat: Seconds without an event after which an SSE comment `: ping` is sent, so
            proxies keep the connection open during a long tool call; None sends none.

    Returns:
        An async iterator of SSE frames, `data: [DONE]` last. Serve it with
        `content-type: text/event-stream` and `HEADERS`.

    """
    if message_id is not None and (not isinstance(message_id, str) or not message_id):
        raise ConfigurationError(
            f"message_id must be a non-empty string or None, got {message_id!r}"
        )
    heartbeat = check_heartbeat(heartbeat)
    return _AiSdkBridge(message_id).stream(events, heartbeat)


# The request side: what useChat posts.


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _output_text(output: object) -> str:
    return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)


def _file_part(part: Mapping[str, Any]) -> dict[str, Any]:
    url = part.get("url")
    media_type = str(part.get("mediaType") or "")
    if not isinstance(url, str):
        raise ConfigurationError(f"a file part needs a string 'url', got {_describe(part)}")
    if media_type.startswith("image/"):
        return {"type": "input_image", "image_url": url, "detail": "auto"}
    key = "file_data" if url.startswith("data:") else "file_url"
    item: dict[str, Any] = {"type": "input_file", key: url}
    if part.get("filename"):
        item["filename"] = part["filename"]
    return item


def _user_item(parts: list[Any]) -> dict[str, Any] | None:
    content: list[dict[str, Any]] = []
    for part in parts:
        kind = part.get("type")
        if kind == "text":
            content.append({"type": "input_text", "text": str(part.get("text", ""))})
        elif kind == "file":
            content.append(_file_part(part))
    if not content:
        return None
    if all(c["type"] == "input_text" for c in content):
        return {"role": "user", "content": "".join(c["text"] for c in content)}
    return {"role": "user", "content": content}


def _tool_name(part: Mapping[str, Any]) -> str | None:
    kind = str(part.get("type", ""))
    if kind == "dynamic-tool":
        name = part.get("toolName")
        return name if isinstance(name, str) else None
    return kind[len("tool-") :] if kind.startswith("tool-") else None


def _assistant_items(parts: list[Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    text: list[str] = []

    def flush() -> None:
        if text:
            items.append({"role": "assistant", "content": "".join(text)})
            text.clear()

    for part in parts:
        kind = part.get("type")
        if kind == "text":
            # Each text part is one message of the model's (one `text-start` id): kept apart.
            flush()
            text.append(str(part.get("text", "")))
            continue
        if kind == "step-start":
            flush()
            continue
        name = _tool_name(part)
        if name is None:
            continue  # reasoning, sources, files and data parts are the client's view only
        if part.get("providerExecuted") or part.get("preliminary") or name in HOSTED_CALLS:
            # A hosted tool's call lives in the provider's own items, not in function calls;
            # a nested run's progress is not an output.
            continue
        state = part.get("state")
        if state == "output-available":
            output = _output_text(part.get("output"))
        elif state == "output-error":
            output = str(part.get("errorText") or "the tool failed")
        elif state == "output-denied":
            output = "the user denied this tool call"
        else:
            # A call without its output cannot be given back to a model.
            continue
        flush()
        call_id = str(part.get("toolCallId", ""))
        arguments = part.get("input")
        if arguments is None:
            arguments = part.get("rawInput", {})
        items.append(
            {
                "type": "function_call",
                "call_id": call_id,
                "name": name,
                "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
            }
        )
        items.append({"type": "function_call_output", "call_id": call_id, "output": output})
    flush()
    return items


def messages_to_input(
    body: Mapping[str, Any] | list[Any], *, keep_system: bool = False
) -> list[TResponseInputItem]:
    """Turn the body `useChat` posts (or its `messages` list) into Agents SDK input items.

    User messages keep their text and files (images become `input_image`, other files
    `input_file`); assistant messages become their text and, for each tool call that has an
    outcome, a `function_call` and its `function_call_output`. Reasoning, sources and data
    parts, and tool calls without an outcome, are left out. System messages are dropped unless
    `keep_system`: a client must not give the model instructions (the agent has its own).

    Raises:
        ConfigurationError: the body is not a list of UI messages; the message names the value.

    """
    messages = body.get("messages") if isinstance(body, Mapping) else body
    if not isinstance(messages, list):
        raise ConfigurationError(
            f"expected a list of UI messages under 'messages', got {_describe(messages)}"
        )
    items: list[Any] = []
    for message in messages:
        if not isinstance(message, Mapping):
            raise ConfigurationError(f"a UI message is an object, got {_describe(message)}")
        role = message.get("role")
        parts = message.get("parts")
        if not isinstance(parts, list) or not all(isinstance(p, Mapping) for p in parts):
            raise ConfigurationError(
                f"a UI message needs a list of part objects, got {_describe(parts)}"
            )
        if role == "user":
            item = _user_item(parts)
            if item is not None:
                items.append(item)
        elif role == "system":
            if keep_system:
                text = "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")
                items.append({"role": "system", "content": text})
        elif role == "assistant":
            items.extend(_assistant_items(parts))
        else:
            raise ConfigurationError(f"unknown UI message role {_describe(role)}")
    return items


async def run(
    agent: Agent[Any],
    body: Mapping[str, Any],
    *,
    context: Any = None,
    max_turns: int | None = None,
    run_config: RunConfig | None = None,
    heartbeat: float | None = 15.0,
    keep_system: bool = False,
    **options: Unpack[RunOptions],
) -> AsyncIterator[str]:
    """Run `agent` on a `useChat` request body and yield the run as a UI message stream.

    Closing the iterator cancels the run. `heartbeat` is that of `encode()`; `keep_system`
    gives the model the body's system messages (dropped by default); `context`, `max_turns` and
    `run_config` are those of `Runner.run_streamed`; `options` say how the run
    is normalized (`RunOptions`): with `expose_errors` off, the `errorText` of a failed run is a
    safe sentence.

    Raises:
        ConfigurationError: the body is not what `useChat` sends, or `heartbeat` is not a number
            of seconds > 0 (raised on the first read).

    """
    heartbeat = check_heartbeat(heartbeat)
    items = messages_to_input(body, keep_system=keep_system)
    frames = run_frames(
        agent,
        items,
        lambda stream: encode(stream, heartbeat=heartbeat),
        context=context,
        max_turns=max_turns,
        run_config=run_config,
        options=options,
    )
    async for frame in frames:
        yield frame


def _last_assistant_parts(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return []
    last = messages[-1]
    if not isinstance(last, Mapping) or last.get("role") != "assistant":
        return []
    parts = last.get("parts")
    return [p for p in parts if isinstance(p, Mapping)] if isinstance(parts, list) else []


def _responded(parts: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The tool parts of the last assistant message that answer an approval request."""
    return [
        p for p in parts if _tool_name(p) is not None and p.get("state") == "approval-responded"
    ]


def answers_in(body: Mapping[str, Any], record: PausedRun) -> list[Answer]:
    """The answers a `useChat` request gives to the calls `record` waits for.

    Approvals come as `approval-responded` tool parts of the last assistant message
    (`addToolApprovalResponse`), checked against the signature the request was issued with;
    frontend tools' outputs as `output-available` (or `output-error`) parts (`addToolOutput`).

    Raises:
        AnswerRefusedError: 403 for an approval whose signature is missing or wrong, 409 for
            one that answers a call this run does not wait for, 422 for a malformed one.

    """
    parts = _last_assistant_parts(body)
    answers: list[Answer] = []
    for part in _responded(parts):
        call_id = part.get("toolCallId")
        approval = part.get("approval")
        waiting = record.interruption(call_id) if isinstance(call_id, str) else None
        if not isinstance(call_id, str) or waiting is None or waiting.kind == "frontend_tool":
            raise AnswerRefusedError(
                409, f"call {call_id} is not waiting for an approval in this chat"
            )
        if not isinstance(approval, Mapping) or not isinstance(approval.get("approved"), bool):
            raise AnswerRefusedError(422, f"call {call_id}: approval.approved must be a boolean")
        if approval.get("id") != call_id or not signed(
            record.key,
            approval.get("signature"),
            "ai-sdk-approval",
            record.run_id,
            call_id,
        ):
            raise AnswerRefusedError(403, f"the approval of call {call_id} is not the one issued")
        reason = approval.get("reason")
        if approval["approved"]:
            answers.append(Answer.approve(call_id))
        else:
            answers.append(Answer.reject(call_id, reason if isinstance(reason, str) else None))
    for part in parts:
        call_id = part.get("toolCallId")
        waiting = record.interruption(call_id) if isinstance(call_id, str) else None
        if waiting is None or waiting.kind != "frontend_tool" or not isinstance(call_id, str):
            continue
        if part.get("state") == "output-available":
            answers.append(Answer.tool_output(call_id, clean_json(part.get("output"))))
        elif part.get("state") == "output-error":
            answers.append(Answer.tool_output(call_id, str(part.get("errorText") or "failed")))
    return answers


def _chat_id(body: Mapping[str, Any]) -> str | None:
    chat = body.get("id")
    return chat if isinstance(chat, str) and chat else None


def _new_turn(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The new user message of a request for a conversation the server holds.

    The body's `message` (what `prepareSendMessagesRequest` sends), or the last of its
    `messages`.

    Raises:
        RequestRefusedError: (422) there is no such user message.

    """
    message = body.get("message")
    if message is None:
        messages = body.get("messages")
        message = messages[-1] if isinstance(messages, list) and messages else None
    if not isinstance(message, Mapping) or message.get("role") != "user":
        raise RequestRefusedError(422, "the request must end with the user's new message")
    return message


async def respond(
    agent: Agent[Any],
    body: Mapping[str, Any],
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
    """Answer one `useChat` request: resume the chat's paused run, or start a new one.

    With `responses_history`, the model provider holds the conversation (the Responses API's
    `previous_response_id`): the request gives its new turn only, the log keeps the chat's
    last response id and last agent, and the next run continues from them.

    With `resumable`, the run is published to `log` as it streams and the response reads it
    from there: a page that reloads reconnects to the running answer from any process
    (`resume_endpoint`), and a client that goes away no longer stops the run.

    With `sessions`, the server holds the conversation (`docs/conversations.md`): the request
    gives only its new turn (the body's `message`, or the last of its `messages`), the chat's
    `Session` gives the history, and the agent that ended the last turn starts this one.

    The chat (the body's `id`) names its paused run in `log`. When the last assistant message
    answers it (approvals, frontend tools' outputs), the run resumes as the same run and the
    same assistant message; otherwise a new run starts from the messages. A run that pauses is
    kept in `log` for `pause_ttl` seconds (the log's `ttl` by default).

    Raises:
        AnswerRefusedError: the request answers a run that does not wait for it (409: answered
            already, another chat's, not pending; 404 gone), a forged approval (403), or too
            few answers (422). Nothing changed.
        ConfigurationError: the body is not what `useChat` sends.

    """
    from ._runs import pause_ttl_of, publish_current, publish_resumed

    heartbeat = check_heartbeat(heartbeat)
    ttl = pause_ttl_of(log, pause_ttl)
    chat = body.get("id") if isinstance(body.get("id"), str) and body.get("id") else None
    key = secrets.token_urlsafe(32)
    loaded = await thread_pause(log, chat)
    answers = answers_in(body, loaded[0]) if loaded is not None else []
    if loaded is None and _responded(_last_assistant_parts(body)):
        raise AnswerRefusedError(
            409, "no run of this chat waits for these answers (answered already, or expired)"
        )
    session = None
    if sessions is not None:
        if chat is None:
            raise RequestRefusedError(422, "a conversation the server holds needs the chat's id")
        session = sessions(chat)
        options = {**options, "on_cancel": keep_partial(session, options.get("on_cancel"))}
    if responses_history and loaded is None and not _responded(_last_assistant_parts(body)):
        if session is not None or resumable:
            raise ConfigurationError("responses_history holds the history: no sessions, resumable")
        if chat is None:
            raise RequestRefusedError(422, "a conversation the provider holds needs the chat's id")
        chained = await log.chain(chat)
        previous, last = chained if chained is not None else (None, None)
        agent = named_agent(agent, last)
        run_kwargs: dict[str, Any] = {"context": context, "run_config": run_config}
        if max_turns is not None:
            run_kwargs["max_turns"] = max_turns
        from agents import Runner

        items = messages_to_input([_new_turn(body)], keep_system=keep_system)
        result = Runner.run_streamed(agent, items, previous_response_id=previous, **run_kwargs)
        chained_options: RunOptions = {
            **options,
            "on_complete": keep_chain(log, chat, result, ttl, options.get("on_complete")),
        }
        return result_frames(
            result,
            lambda stream: _AiSdkBridge(None, key=key).stream(stream, heartbeat),
            options=chained_options,
            pause=PauseSpec(log, ttl, agent.name, thread=chat, key=key),
        )
    if loaded is None or not answers:
        if session is not None:
            agent = last_agent(agent, await session.get_items())
            items = messages_to_input([_new_turn(body)], keep_system=keep_system)
        else:
            items = messages_to_input(body, keep_system=keep_system)
        if resumable:
            if chat is None:
                raise RequestRefusedError(422, "a resumable chat needs its id")
            run_id = await publish_current(
                agent,
                items,
                log,
                chat,
                pause_ttl=ttl,
                key=key,
                run_kwargs={"context": context, "max_turns": max_turns, "run_config": run_config},
                session=session,
                **options,
            )
            return _AiSdkBridge(None, key=key).stream(read_run(log, run_id, -1), heartbeat)
        return run_frames(
            agent,
            items,
            lambda stream: _AiSdkBridge(None, key=key).stream(stream, heartbeat),
            context=context,
            max_turns=max_turns,
            run_config=run_config,
            options=options,
            pause=PauseSpec(log, ttl, agent.name, thread=chat, key=key),
            session=session,
        )
    record = loaded[0]
    result, record = await open_resumed(
        log,
        record.run_id,
        answers,
        [agent],
        thread=chat,
        context=context,
        max_turns=max_turns,
        run_config=run_config,
        loaded=loaded,
        session=session,
    )
    denied = {a.call_id for a in answers if a.approved is False}
    continued: RunOptions = {**options, "run_id": record.run_id, "first_seq": record.next_seq}
    if resumable and chat is not None:
        after = await publish_resumed(result, record, log, chat, pause_ttl=ttl, key=key, **options)
        bridge = _AiSdkBridge(None, key=key, resumed=record, denied=denied)
        return bridge.stream(read_run(log, record.run_id, after), heartbeat)
    return result_frames(
        result,
        lambda stream: _AiSdkBridge(None, key=key, resumed=record, denied=denied).stream(
            stream, heartbeat
        ),
        options=continued,
        pause=PauseSpec(log, ttl, record.agent, thread=chat, key=key),
        names={w.call_id: w.name for w in record.interruptions},
    )


def endpoint(
    agent: Agent[Any] | Callable[[Mapping[str, Any]], Agent[Any]],
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
    """A Starlette (or FastAPI) endpoint for `useChat` (`DefaultChatTransport({api: URL})`).

    Mount it with `app.add_route("/api/chat", endpoint(agent), methods=["POST"])`. A
    body larger than `max_body_bytes` gets a 413, one not sent as `content_types` a 415, one
    slower than `read_timeout` a 408, one that is not JSON, nests deeper than 64 levels or is
    not what `useChat` sends a 422, each with a JSON `{"error": reason}`; anything else
    streams the run (`run`) with `HEADERS`. When the client disconnects, the response stops
    and the run is cancelled and waited for.

    Args:
        agent: The agent, or a function that picks one for each request body.
        log: Where runs that pause (approvals, frontend tools) are kept until the chat's next
            request answers them: a `RedisEventLog` serves many processes. By default the
            endpoint keeps a `MemoryEventLog` of its own (one process).
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
    from agents import Agent

    from ._runs import pause_ttl_of

    checked = check_run_options("ai_sdk.endpoint", options)
    if log is not None and not isinstance(log, EventLog):
        raise ConfigurationError(f"log must be an EventLog, got {type(log).__name__}")
    pauses = log if log is not None else MemoryEventLog()
    pause_ttl_of(pauses, pause_ttl)

    def parse(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ConfigurationError(
                f"the request body must be a JSON object, got {_describe(body)}"
            )
        if "messages" not in body and "message" in body:
            messages_to_input([body["message"]])  # the new turn only: the server holds the rest
        else:
            messages_to_input(body)
        return body

    def start(body: dict[str, Any]) -> Awaitable[AsyncIterator[str]]:
        chosen = agent if isinstance(agent, Agent) else agent(body)
        return respond(chosen, body, pauses, pause_ttl=pause_ttl, **checked)

    return make_endpoint(
        "ai_sdk.endpoint",
        parse=parse,
        start=start,
        headers=HEADERS,
        limits=body_limits(
            max_body_bytes=max_body_bytes, content_types=content_types, read_timeout=read_timeout
        ),
        send_timeout=send_timeout,
        authorize=authorize,
        conversation_of=_chat_id,
    )


def history_endpoint(
    sessions: Sessions,
    *,
    log: EventLog | None = None,
    authorize: Authorize | None = None,
    path_param: str = "chat_id",
) -> Callable[[Request], Awaitable[Response]]:
    """`GET /api/chats/{chat_id}/messages`: a conversation the server holds, as `UIMessage`s.

    Give the result to `useChat({ messages })` (or `new Chat({ id, messages })`) when a page
    loads: text, tool calls with their inputs and outputs, and handoffs, as they were. A chat
    with no history answers `[]`. Whether the caller may read the chat is the service's
    decision: `authorize` (as for `endpoint`) answers 404 for a chat it refuses. With the
    endpoint's `log`, the calls a paused run of the chat waits on come back as
    `approval-requested`, signed as they were issued, so the reloaded page can answer them.

    Raises:
        MissingExtraError: Starlette is not installed (`pip install 'agentstream[web]'`).

    """
    try:
        from starlette.responses import JSONResponse
    except ImportError as exc:
        raise MissingExtraError("ai_sdk.history_endpoint", "web") from exc

    async def endpoint(request: Request) -> Response:
        chat = request.path_params.get(path_param)
        if not isinstance(chat, str) or not chat:
            return JSONResponse({"error": "no such chat"}, status_code=404)
        if authorize is not None and not await allowed(authorize, request, chat):
            return JSONResponse({"error": "no such conversation"}, status_code=404)
        items = await sessions(chat).get_items()
        approvals: dict[str, dict[str, Any]] = {}
        loaded = await thread_pause(log, chat) if log is not None else None
        if loaded is not None:
            record = loaded[0]
            for waiting in record.interruptions:
                if waiting.kind != "frontend_tool" and record.key is not None:
                    signature = approval_signature(record.key, record.run_id, waiting.call_id)
                    approvals[waiting.call_id] = {"id": waiting.call_id, "signature": signature}
        messages = ui_messages(items, approvals)
        return JSONResponse(messages, headers={"cache-control": "no-store"})

    return resolved(endpoint)


def resume_endpoint(
    log: EventLog,
    *,
    authorize: Authorize | None = None,
    path_param: str = "chat_id",
    heartbeat: float | None = 15.0,
) -> Callable[[Request], Awaitable[Response]]:
    """`GET /api/chat/{chat_id}/stream`: a reloaded page reconnects to its chat's running answer.

    What `useChat({ resume: true })` asks for when a page loads, for chats served by
    `endpoint(..., log=log, resumable=True)`, from any process that reaches `log`: the answer
    the chat is streaming, from its start, then live to its end. 204 when the chat streams
    nothing (never did, or its run ended), as the AI SDK expects; 404 when `authorize` (as
    for `endpoint`) says the caller may not use the chat.

    Raises:
        MissingExtraError: Starlette is not installed (`pip install 'agentstream[web]'`).
        ConfigurationError: `log` is not an `EventLog`, or `heartbeat` is not valid.

    """
    heartbeat = check_heartbeat(heartbeat)
    return make_resume_endpoint(
        "ai_sdk.resume_endpoint",
        log,
        lambda conversation, events: _AiSdkBridge(None).stream(events, heartbeat),
        headers=HEADERS,
        authorize=authorize,
        path_param=path_param,
    )
