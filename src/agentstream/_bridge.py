"""The base of the protocol bridges: agentstream events in, protocol frames out.

A bridge keeps the state every frontend protocol needs and agentstream events do not carry
explicitly: which text or reasoning part is open, which tool calls have started, received their
whole input, or returned. It calls one hook per protocol-level happening; each hook does nothing
by default, so a protocol module overrides only what its protocol has words for.

Guarantees to the hooks, whatever the order of the events (any sequence `normalize()` can
produce, and odd ones too):

- at most one text or reasoning part is open at a time; it is closed before any other kind of
  output, at the end of a model call (`usage_updated`), and before the end of the stream;
- every part id is used once per stream (a repeated or missing source id gets a fresh one);
- a tool call is started before its arguments, its input is complete before its output, and its
  output is reported at most once; `tool_output` or `approval_requested` for a call the stream
  never announced starts (and completes) the call first;
- `on_finish` is called exactly once, last, after every open part is closed; calls still open
  or waiting for output are handed to it so the protocol can settle them;
- events of a nested run (schema 1.2: an agent called as a tool) go to `on_nested` whole, the
  state above untouched: a protocol that nests runs keeps a bridge per nested run (`depth`).
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

from ._errors import AgentStreamError, ConfigurationError, MissingExtraError
from ._eventlog import EventLogUnavailableError
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
    ReasoningDelta,
    ReasoningOutput,
    TextDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolCallStarted,
    ToolOutput,
    ToolProgress,
    UsageUpdated,
    load_json,
)
from ._interactive import AnswerRefusedError
from ._options import RUN_OPTION_NAMES, served
from ._sse import PING
from ._streams import close_shielded, ticks
from ._telemetry import read_run
from ._transport import resolved

if TYPE_CHECKING:
    from collections.abc import (
        AsyncIterable,
        AsyncIterator,
        Awaitable,
        Callable,
        Iterable,
        Iterator,
        Mapping,
    )

    from agents import Agent
    from agents.result import RunResultStreaming
    from starlette.requests import Request
    from starlette.responses import Response

    from ._eventlog import EventLog
    from ._interactive import PausingStream
    from ._normalize import EventStream
    from ._options import RunOptions

__all__ = ["Bridge", "ToolCallState"]

PartKind = Literal["text", "reasoning"]

logger = logging.getLogger("agentstream")

DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024
"""The default request body limit of the bridge endpoints: 1 MiB."""

RUN_OPTIONS: Final = frozenset(
    {
        "context",
        "max_turns",
        "run_config",
        "heartbeat",
        "keep_system",
        "sessions",
        "resumable",
        "responses_history",
    }
) | (RUN_OPTION_NAMES - {"run_id"})
"""The keyword arguments the endpoints pass on to the bridges' `run`: the SDK's, the heartbeat,
and the run options but `run_id` (each request is a run of its own)."""


@dataclass
class ToolCallState:
    """What a bridge knows about one tool call."""

    call_id: str
    """The call's id, as the events name it."""
    name: str
    """The tool's name."""
    arguments: list[str] = field(default_factory=list)
    """The argument text in pieces: as streamed, or `tool_called`'s text where the two differ."""
    input_done: bool = False
    """The whole input is known (`tool_called` or a synthesized equivalent was handled)."""
    has_output: bool = False
    """The call's output was reported."""
    provider_executed: bool = False
    """A hosted tool the model's provider runs (schema 1.2)."""

    @property
    def arguments_text(self) -> str:
        """The argument text: what was streamed so far, the final text once the input is done."""
        return "".join(self.arguments)

    @property
    def arguments_are_json(self) -> bool:
        """Whether the argument text sent so far is one complete JSON value (empty counts)."""
        text = self.arguments_text
        if not text:
            return True
        try:
            load_json(text)
        except ValueError:
            return False
        return True


def progress_view(event: ToolProgress) -> dict[str, Any]:
    """A `tool_progress` as both protocols show it to a page (camelCase keys)."""
    return {
        "toolCallId": event.call_id,
        "toolName": event.name,
        "stage": event.stage,
        "message": event.message,
        "completed": event.completed,
        "total": event.total,
        "data": event.data,
        "providerExecuted": event.provider_executed,
    }


@dataclass
class _OpenPart:
    kind: PartKind
    part_id: str
    source_id: str | None


class Bridge:
    """Translate agentstream events into the frames of one protocol.

    Subclasses override the `on_*` hooks; each returns an iterator of ready-to-send frames
    (strings). Use `stream(events)` to run the translation.
    """

    def __init__(self, depth: int = 0) -> None:
        self.depth = depth
        """How deep the run this bridge translates is nested: 0 for the top-level run; events
        whose `path` is longer belong to a nested run (`on_nested`)."""
        self.calls: dict[str, ToolCallState] = {}
        """Every tool call seen, by call id, in order of appearance."""
        self.agent: str | None = None
        """The agent the latest event came from."""
        self._open: _OpenPart | None = None
        self._used_ids: set[str] = set()
        self._streamed: dict[PartKind, set[str]] = {"text": set(), "reasoning": set()}
        self._anonymous: dict[PartKind, int] = {"text": 0, "reasoning": 0}
        self._finished = False

    def continue_calls(self, waiting: Iterable[Interruption]) -> None:
        """Take the calls a resumed run was paused on as announced, with their whole input.

        The client has them from the run's earlier stream: their outputs now come without the
        call being started again.
        """
        for w in waiting:
            self.calls[w.call_id] = ToolCallState(
                w.call_id, w.name, arguments=[w.arguments], input_done=True
            )

    # Hooks: each yields frames. All do nothing by default.

    def on_start(self) -> Iterator[str]:
        """The stream begins (before the first event)."""
        yield from ()

    def on_agent(self, previous: str | None, agent: str) -> Iterator[str]:
        """Output now comes from `agent` (the first agent, or a new one after a handoff)."""
        yield from ()

    def on_part_start(self, kind: PartKind, part_id: str) -> Iterator[str]:
        """A text or reasoning part opens."""
        yield from ()

    def on_part_delta(self, kind: PartKind, part_id: str, delta: str) -> Iterator[str]:
        """Text for the open part (never empty)."""
        yield from ()

    def on_part_end(self, kind: PartKind, part_id: str) -> Iterator[str]:
        """The open part is complete."""
        yield from ()

    def on_tool_start(self, call: ToolCallState) -> Iterator[str]:
        """A tool call begins; its arguments follow."""
        yield from ()

    def on_tool_delta(self, call: ToolCallState, delta: str) -> Iterator[str]:
        """More argument text for a started call (never empty)."""
        yield from ()

    def on_tool_input(self, call: ToolCallState) -> Iterator[str]:
        """The call's input is complete: `call.arguments_text` is the whole argument text."""
        yield from ()

    def on_tool_output(self, call: ToolCallState, event: ToolOutput) -> Iterator[str]:
        """The tool returned."""
        yield from ()

    def on_handoff(self, event: Handoff) -> Iterator[str]:
        """Control passed to another agent (`on_agent` follows with the new agent)."""
        yield from ()

    def on_approval(self, call: ToolCallState, event: ApprovalRequested) -> Iterator[str]:
        """A tool call waits for a human's approval; its input is complete."""
        yield from ()

    def on_model_call_end(self, event: UsageUpdated) -> Iterator[str]:
        """A model call finished (open parts are closed already)."""
        yield from ()

    def on_model_output(self) -> Iterator[str]:
        """The model is about to produce new output (text, reasoning, or a tool call's start)."""
        yield from ()

    def on_finish(self, done: Done | None, unsettled: list[ToolCallState]) -> Iterator[str]:
        """The stream ends; `done` is None when the events stopped without a `Done`.

        `unsettled` are the calls without output: their input may be incomplete.
        """
        yield from ()

    def on_nested(self, event: Event) -> Iterator[str]:
        """An event of a run nested in this one (its `path` is longer than `depth`)."""
        yield from ()

    def on_nested_start(self, event: NestedRunStarted) -> Iterator[str]:
        """An agent called as a tool started its run; its events follow (`on_nested`)."""
        yield from ()

    def on_nested_end(self, event: NestedRunFinished) -> Iterator[str]:
        """A nested run ended; the call's `tool_output` follows."""
        yield from ()

    def on_custom(self, event: Custom) -> Iterator[str]:
        """An application's event, sent from a tool."""
        yield from ()

    def on_progress(self, event: ToolProgress) -> Iterator[str]:
        """A tool in progress (a hosted tool's stage, or `progress()` from a function tool)."""
        yield from ()

    def on_citations(self, event: MessageOutput) -> Iterator[str]:
        """A complete message that cites sources (`event.citations`), after its text."""
        yield from ()

    # The driver

    async def stream(
        self, events: AsyncIterable[Event], heartbeat: float | None = None
    ) -> AsyncIterator[str]:
        """Translate `events` to frames; the source is closed when this generator ends.

        With `heartbeat` (seconds, checked by the caller), `PING` is sent whenever that
        long passes without an event; waiting for it never cancels the pending read. However
        the generator ends (closed, cancelled), the source is closed shielded and bounded.
        """
        iterator = aiter(events)
        batches = ticks(iterator, heartbeat)
        try:
            for frame in self.on_start():
                yield frame
            async for batch in batches:
                if batch is None:
                    yield PING
                    continue
                for event in batch:
                    for frame in self.handle(event):
                        yield frame
                    if self._finished:
                        break
                if self._finished:
                    break
            if not self._finished:
                for frame in self.finish(None):
                    yield frame
        finally:
            await close_shielded(batches, iterator)

    def handle(self, event: Event) -> Iterator[str]:
        """Frames for one event."""
        if self._finished:
            return
        if len(event.path) > self.depth:
            yield from self.on_nested(event)
            return
        if event.agent is not None and event.agent != self.agent and not isinstance(event, Done):
            yield from self._close_part()
            previous, self.agent = self.agent, event.agent
            yield from self.on_agent(previous, event.agent)
        if isinstance(event, TextDelta):
            yield from self._delta("text", event.message_id, event.delta)
        elif isinstance(event, ReasoningDelta):
            yield from self._delta("reasoning", event.reasoning_id, event.delta)
        elif isinstance(event, MessageOutput):
            yield from self._whole("text", event.message_id, event.text)
            if event.citations:
                yield from self.on_citations(event)
        elif isinstance(event, ReasoningOutput):
            yield from self._whole("reasoning", event.reasoning_id, event.text)
        elif isinstance(event, ToolCallStarted):
            yield from self._close_part()
            if event.call_id not in self.calls:
                yield from self.on_model_output()
                yield from self._start_call(event.call_id, event.name, event.provider_executed)
        elif isinstance(event, ToolArgumentsDelta):
            call = self.calls.get(event.call_id)
            # Deltas of a call never announced are dropped: `tool_called` brings them whole.
            if call is not None and not call.input_done and event.delta:
                yield from self._close_part()
                call.arguments.append(event.delta)
                yield from self.on_tool_delta(call, event.delta)
        elif isinstance(event, ToolCalled):
            yield from self._close_part()
            yield from self._complete_input(
                event.call_id, event.name, event.arguments, event.provider_executed
            )
        elif isinstance(event, ToolOutput):
            yield from self._close_part()
            call = self.calls.get(event.call_id)
            if call is None or not call.input_done:
                name = call.name if call is not None else (event.name or "tool")
                arguments = call.arguments_text if call is not None else "{}"
                yield from self._complete_input(
                    event.call_id, name, arguments or "{}", event.provider_executed
                )
                call = self.calls[event.call_id]
            if not call.has_output:
                call.has_output = True
                yield from self.on_tool_output(call, event)
        elif isinstance(event, Handoff):
            yield from self._close_part()
            yield from self.on_handoff(event)
            if event.to_agent and event.to_agent != self.agent:
                previous, self.agent = self.agent, event.to_agent
                yield from self.on_agent(previous, event.to_agent)
        elif isinstance(event, ApprovalRequested):
            yield from self._close_part()
            yield from self._complete_input(event.call_id, event.name, event.arguments)
            yield from self.on_approval(self.calls[event.call_id], event)
        elif isinstance(event, UsageUpdated):
            yield from self._close_part()
            yield from self.on_model_call_end(event)
        elif isinstance(event, Done):
            yield from self.finish(event)
        elif isinstance(event, ToolProgress):
            yield from self.on_progress(event)
        elif isinstance(event, Custom):
            yield from self.on_custom(event)
        elif isinstance(event, NestedRunStarted):
            yield from self._close_part()
            yield from self.on_nested_start(event)
        elif isinstance(event, NestedRunFinished):
            yield from self._close_part()
            yield from self.on_nested_end(event)

    def finish(self, done: Done | None) -> Iterator[str]:
        """Close what is open and end the stream (once)."""
        if self._finished:
            return
        yield from self._close_part()
        self._finished = True
        unsettled = [c for c in self.calls.values() if not c.has_output]
        yield from self.on_finish(done, unsettled)

    # Helpers for subclasses

    def new_id(self, preferred: str | None, prefix: str) -> str:
        """Return `preferred` if this stream has not used it yet, else a fresh unique id."""
        candidate = preferred or f"{prefix}_{uuid.uuid4().hex[:24]}"
        while candidate in self._used_ids:
            candidate = f"{preferred or prefix}_{uuid.uuid4().hex[:8]}"
        self._used_ids.add(candidate)
        return candidate

    @property
    def open_part(self) -> tuple[PartKind, str] | None:
        """The open text or reasoning part as (kind, part id), if any."""
        return None if self._open is None else (self._open.kind, self._open.part_id)

    # Internals

    def _close_part(self) -> Iterator[str]:
        part = self._open
        if part is None:
            return
        self._open = None
        if part.source_id is None:
            self._anonymous[part.kind] += 1
        else:
            self._streamed[part.kind].add(part.source_id)
        yield from self.on_part_end(part.kind, part.part_id)

    def _delta(self, kind: PartKind, source_id: str | None, delta: str) -> Iterator[str]:
        part = self._open
        if part is not None and (part.kind != kind or part.source_id != source_id):
            yield from self._close_part()
            part = None
        if not delta:
            return
        if part is None:
            yield from self.on_model_output()
            part = self._open = _OpenPart(kind, self.new_id(source_id, kind), source_id)
            yield from self.on_part_start(kind, part.part_id)
        yield from self.on_part_delta(kind, part.part_id, delta)

    def _whole(self, kind: PartKind, source_id: str | None, text: str) -> Iterator[str]:
        """A complete text or reasoning item: stream it only if its deltas were not seen."""
        part = self._open
        if part is not None and part.kind == kind and part.source_id == source_id:
            yield from self._close_part()
            self._consume(kind, source_id)
            return
        yield from self._close_part()
        if self._consume(kind, source_id) or not text:
            return
        part_id = self.new_id(source_id, kind)
        yield from self.on_part_start(kind, part_id)
        yield from self.on_part_delta(kind, part_id, text)
        yield from self.on_part_end(kind, part_id)

    def _consume(self, kind: PartKind, source_id: str | None) -> bool:
        """Whether the item's deltas were streamed already (and mark them as accounted for)."""
        if source_id is None:
            if self._anonymous[kind]:
                self._anonymous[kind] -= 1
                return True
            return False
        if source_id in self._streamed[kind]:
            self._streamed[kind].discard(source_id)
            return True
        return False

    def _start_call(self, call_id: str, name: str, provider: bool = False) -> Iterator[str]:
        call = self.calls[call_id] = ToolCallState(call_id, name, provider_executed=provider)
        yield from self.on_tool_start(call)

    def _complete_input(
        self, call_id: str, name: str, arguments: str, provider: bool = False
    ) -> Iterator[str]:
        call = self.calls.get(call_id)
        if call is None:
            yield from self._start_call(call_id, name, provider)
            call = self.calls[call_id]
        if call.input_done:
            return
        sent = call.arguments_text
        # Send what the deltas did not: all of it when none came, the rest when they stopped
        # short. Arguments that contradict the deltas cannot be unsent; the input event
        # carries the final text where the protocol has room for it.
        if arguments.startswith(sent):
            rest = arguments[len(sent) :]
            if rest:
                call.arguments.append(rest)
                yield from self.on_tool_delta(call, rest)
        else:
            call.arguments = [arguments]
        call.input_done = True
        yield from self.on_tool_input(call)


# The server side both protocols share.


@dataclass(frozen=True)
class PauseSpec:
    """Where a bridged run's pause is kept, so that the protocol's next request resumes it."""

    log: EventLog
    """The log that keeps the pause."""
    ttl: float
    """Seconds the pause can be answered."""
    agent: str
    """Name of the agent the run started with."""
    thread: str | None = None
    """The conversation (chat id, AG-UI thread) whose next request resumes the run."""
    key: str | None = None
    """The secret the run's approval requests are signed with."""


async def run_frames(
    agent: Agent[Any],
    items: Any,
    to_frames: Callable[[EventStream | PausingStream], AsyncIterator[str]],
    *,
    context: Any,
    max_turns: int | None,
    run_config: Any,
    options: RunOptions,
    pause: PauseSpec | None = None,
    session: Any = None,
) -> AsyncIterator[str]:
    """Run `agent` on `items` and yield the frames `to_frames` makes of the normalized run.

    `options` say how the run is normalized; with `pause`, a run that pauses is kept in its log;
    with `session` (an SDK `Session`), the conversation's history is loaded and saved by the SDK.
    Closing the iterator (or cancelling its reader) cancels the run and waits for it, shielded.
    """
    from agents import Runner

    kwargs: dict[str, Any] = {"context": context, "run_config": run_config}
    if max_turns is not None:
        kwargs["max_turns"] = max_turns
    if session is not None:
        kwargs["session"] = session
    result = Runner.run_streamed(agent, items, **kwargs)
    async for frame in result_frames(result, to_frames, options=options, pause=pause):
        yield frame


async def result_frames(
    result: RunResultStreaming,
    to_frames: Callable[[EventStream | PausingStream], AsyncIterator[str]],
    *,
    options: RunOptions,
    pause: PauseSpec | None = None,
    names: Mapping[str, str] | None = None,
) -> AsyncIterator[str]:
    """The frames of a started run (a new one, or a resumed one whose paused calls are `names`)."""
    from ._interactive import PausingStream
    from ._normalize import normalize

    stream = normalize(result, **served(options))
    if names:
        stream.remember_calls(names)
    source: EventStream | PausingStream = stream
    if pause is not None:
        source = PausingStream(
            stream,
            result,
            pause.log,
            agent=pause.agent,
            thread=pause.thread,
            ttl=pause.ttl,
            key=pause.key,
        )
    frames = to_frames(source)
    try:
        async for frame in frames:
            yield frame
    finally:
        await close_shielded(frames, source)


DEFAULT_CONTENT_TYPES: Final = ("application/json", "application/*+json")
"""The request media types the endpoints accept by default: JSON, and any `+json` type."""

DEFAULT_READ_TIMEOUT: Final = 30.0
"""Seconds the endpoints wait, by default, for a whole request body to arrive."""

MAX_JSON_DEPTH: Final = 64
"""How deeply a request body's JSON may nest arrays and objects (`[[1]]` is 2 deep)."""


class RequestRefusedError(AgentStreamError, ValueError):
    """A request body an endpoint will not run: the HTTP status to answer and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        """The HTTP status of the answer (408, 413, 415 or 422)."""


@dataclass(frozen=True)
class BodyLimits:
    """What a JSON request body must hold to: its size, its media type, its arrival time."""

    max_bytes: int = DEFAULT_MAX_BODY_BYTES
    """The largest body read, in bytes."""
    content_types: frozenset[str] | None = frozenset(DEFAULT_CONTENT_TYPES)
    """The accepted media types (`type/*+suffix` matches a suffix), or None for any."""
    read_timeout: float | None = DEFAULT_READ_TIMEOUT
    """Seconds the whole body may take to arrive, or None to wait as long as it takes."""


def check_max_body_bytes(value: object) -> int:
    """Validate a request body limit: a whole number of bytes > 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"max_body_bytes must be a whole number > 0, got {value!r}")
    return value


def check_content_types(value: object) -> frozenset[str] | None:
    """Validate the accepted media types: None (any), or a collection of `type/subtype` strings."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Collection) or not value:
        raise ConfigurationError(
            f"content_types must be a non-empty list of media types or None, got {value!r:.80}"
        )
    for media_type in value:
        if not isinstance(media_type, str) or media_type.count("/") != 1 or ";" in media_type:
            raise ConfigurationError(
                f"content_types holds {media_type!r:.80}, not a media type like 'application/json'"
            )
    return frozenset(media_type.strip().lower() for media_type in value)


def body_limits(
    *, max_body_bytes: object, content_types: object, read_timeout: object
) -> BodyLimits:
    """The limits of an endpoint, checked.

    Raises:
        ConfigurationError: an argument has a bad value; the message names it.

    """
    from ._checks import check_seconds

    return BodyLimits(
        check_max_body_bytes(max_body_bytes),
        check_content_types(content_types),
        check_seconds("read_timeout", read_timeout),
    )


def check_run_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options of an endpoint factory, checked: only `RUN_OPTIONS`, a valid heartbeat."""
    from ._streams import check_heartbeat

    unknown = sorted(set(options) - RUN_OPTIONS)
    if unknown:
        raise ConfigurationError(f"{name}() got unknown options {unknown}")
    checked = dict(options)
    if "heartbeat" in checked:
        checked["heartbeat"] = check_heartbeat(checked["heartbeat"])
    return checked


def _accepts(accepted: frozenset[str], header: str | None) -> bool:
    """Whether a Content-Type header names an accepted media type (its parameters ignored)."""
    media_type = (header or "").partition(";")[0].strip().lower()
    kind, slash, subtype = media_type.partition("/")
    if not slash or not kind or not subtype:
        return False
    if media_type in accepted:
        return True
    plus = subtype.rfind("+")
    return plus > 0 and f"{kind}/*{subtype[plus:]}" in accepted


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` (parsed JSON) nests arrays and objects more than `limit` deep."""
    level: list[tuple[Any, int]] = [(value, 1)]
    while level:
        node, depth = level.pop()
        if not isinstance(node, (dict, list)):
            continue
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        level.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def decode_json(raw: bytes | str) -> Any:
    """Parse a request body's JSON, nested at most `MAX_JSON_DEPTH` deep.

    Raises:
        RequestRefusedError: 422, the body is not JSON (the message says where) or nests too
            deeply.

    """
    try:
        value = load_json(raw)
        too_deep = json_depth_exceeds(value, MAX_JSON_DEPTH)
    except RecursionError:
        too_deep = True
    except ValueError as exc:
        raise RequestRefusedError(422, f"the request body is not JSON: {exc}"[:200]) from None
    if too_deep:
        raise RequestRefusedError(
            422, f"the request body's JSON nests deeper than {MAX_JSON_DEPTH} levels"
        )
    return value


async def read_json(request: Request, limits: BodyLimits) -> Any:
    """Read and parse a request's JSON body within `limits`.

    Checks, in order: a declared length over the limit (413), the body arriving within the read
    timeout (408) and within the limit (413), its media type (415), and its JSON (422).

    Raises:
        RequestRefusedError: the body breaks one of the limits; its status says which.
        starlette.requests.ClientDisconnect: the client left before its body arrived.

    """
    import anyio

    declared = request.headers.get("content-length")
    if (
        declared is not None
        and declared.isascii()
        and declared.isdigit()
        and int(declared) > limits.max_bytes
    ):
        raise RequestRefusedError(413, f"the request body is larger than {limits.max_bytes} bytes")
    body: bytes | None = None
    with anyio.move_on_after(limits.read_timeout):
        body = await _read_body(request, limits.max_bytes)
    if body is None:
        raise RequestRefusedError(408, f"the request body took over {limits.read_timeout} s")
    # Checked once the body is read, so the connection can serve the client's next request.
    if limits.content_types is not None:
        header = request.headers.get("content-type")
        if not _accepts(limits.content_types, header):
            raise RequestRefusedError(
                415, f"the request body must be JSON (application/json), got {header!r:.80}"
            )
    return decode_json(body)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body; past `limit` bytes, a refusal (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestRefusedError(413, f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def refusal_response(refused: RequestRefusedError) -> Response:
    """The JSON answer `{"error": reason}` to a refused request.

    A 408 closes the connection: the rest of a stalled body would hold it. After the others the
    server discards what is left of the body, and the connection serves the next request.
    """
    from starlette.responses import JSONResponse

    headers = {"connection": "close"} if refused.status == 408 else None
    return JSONResponse({"error": str(refused)}, status_code=refused.status, headers=headers)


async def read_json_or_refuse(request: Request, limits: BodyLimits) -> Any | Response:
    """`read_json`, with a refusal as its answer and a client gone as a debug log line.

    Returns the parsed body, or the `Response` to send instead of running anything.
    """
    from starlette.requests import ClientDisconnect
    from starlette.responses import Response

    try:
        return await read_json(request, limits)
    except RequestRefusedError as refused:
        return refusal_response(refused)
    except ClientDisconnect:
        # Nobody is left to answer; the run is never started.
        logger.debug("the client left before sending its whole request body: %s", request.url.path)
        return Response(status_code=400)


Authorize: TypeAlias = "Callable[[Request, str | None], bool | Awaitable[bool]]"
"""Whether a request may use a conversation (its id, None when the request names none)."""


async def allowed(authorize: Authorize, request: Request, conversation: str | None) -> bool:
    """`authorize(request, conversation)`, awaited if it is a coroutine function."""
    verdict = authorize(request, conversation)
    if inspect.isawaitable(verdict):
        verdict = await verdict
    return bool(verdict)


def make_endpoint(
    name: str,
    *,
    parse: Callable[[Any], Any],
    start: Callable[[Any], AsyncIterator[str] | Awaitable[AsyncIterator[str]]],
    headers: Mapping[str, str],
    limits: BodyLimits,
    send_timeout: float | None = None,
    authorize: Authorize | None = None,
    conversation_of: Callable[[Any], str | None] = lambda parsed: None,
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint that streams the frames of `start(parse(json_body))`.

    With `authorize`, a request for a conversation (`conversation_of(parsed)`) the caller may
    not use gets a 404 `{"error": "no such conversation"}` before anything runs.

    The body is read within `limits` (`read_json`: 408, 413, 415 or 422 when it breaks them);
    `parse` raising `ConfigurationError` or `ValueError` gets a 422; `start` (which may be
    async, to resume a paused run) raising `AnswerRefusedError` gets its status, and an event
    log that cannot be reached a 503 with `Retry-After`; each with a JSON `{"error": reason}`.
    A client that leaves before its body arrived is a debug log line.
    Anything else is a `StreamedResponse` of the frames: a client that disconnects, or does
    not read for `send_timeout` seconds, stops it, and the frames are closed, shielded and
    bounded in time, which cancels the run and waits for it.

    Raises:
        MissingExtraError: Starlette is not installed (`pip install 'agentstream[web]'`).
        ConfigurationError: `send_timeout` is not a number of seconds > 0.

    """
    try:
        from starlette.responses import JSONResponse, Response
    except ImportError as exc:
        raise MissingExtraError(name, "web") from exc
    from ._checks import check_seconds
    from ._transport import StreamedResponse

    send_timeout = check_seconds("send_timeout", send_timeout)

    async def endpoint(request: Request) -> Response:
        body = await read_json_or_refuse(request, limits)
        if isinstance(body, Response):
            return body
        try:
            parsed = parse(body)
        except (ValueError, ConfigurationError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        if authorize is not None and not await allowed(authorize, request, conversation_of(parsed)):
            return JSONResponse({"error": "no such conversation"}, status_code=404)
        try:
            frames = start(parsed)
            if inspect.isawaitable(frames):
                frames = await frames
        except AnswerRefusedError as refused:
            return JSONResponse({"error": refused.reason}, status_code=refused.status)
        except RequestRefusedError as refused:
            return refusal_response(refused)
        except EventLogUnavailableError as exc:
            logger.warning("%s: %s", name, exc)
            return JSONResponse(
                {"error": "the event log is unavailable; retry later"},
                status_code=503,
                headers={"retry-after": "1"},
            )
        return StreamedResponse(frames, headers=headers, send_timeout=send_timeout)

    return resolved(endpoint)


def make_resume_endpoint(
    name: str,
    log: EventLog,
    frames: Callable[[str, AsyncIterator[Event]], AsyncIterator[str]],
    *,
    headers: Mapping[str, str],
    authorize: Authorize | None,
    path_param: str,
) -> Callable[[Request], Awaitable[Response]]:
    """A `GET` endpoint that streams a conversation's running run from the log.

    The frames are what `frames(conversation_id, events)` makes; 204 when nothing runs, 404
    when `authorize` refuses the conversation.

    Raises:
        MissingExtraError: Starlette is not installed (`pip install 'agentstream[web]'`).
        ConfigurationError: `log` is not an `EventLog`.

    """
    try:
        from starlette.responses import Response
    except ImportError as exc:
        raise MissingExtraError(name, "web") from exc
    from ._eventlog import EventLog
    from ._transport import StreamedResponse

    if not isinstance(log, EventLog):
        raise ConfigurationError(f"log must be an EventLog, got {type(log).__name__}")

    async def endpoint(request: Request) -> Response:
        conversation = request.path_params.get(path_param)
        if not isinstance(conversation, str) or not conversation:
            return Response(status_code=204)
        if authorize is not None and not await allowed(authorize, request, conversation):
            return Response(status_code=404)
        found = await log.current(conversation)
        if found is None:
            return Response(status_code=204)
        run_id, after = found
        info = await log.info(run_id)
        if info is None or info.done:
            return Response(status_code=204)
        events = read_run(log, run_id, after)
        body = frames(conversation, events)
        return StreamedResponse(body, closables=(events,), headers=headers)

    return resolved(endpoint)
