"""`normalize()`: one SDK run in, one well-formed event stream out, whatever happens.

Tasks (see `docs/lifecycle.md` for the picture):

- the SDK's run loop task, started by `Runner.run_streamed()`, fills the SDK's queue;
- the *reader* task, started on the first read, drains `result.stream_events()` into a mailbox as
  fast as events come, so a slow consumer never makes the SDK drop events on failure and timed
  waits never touch the SDK's pending read;
- the consumer (whoever iterates the `EventStream`) maps, buffers and numbers events. It waits on
  the mailbox with a deadline (idle timeout, buffer flush, or the caller's own timeout) and never
  cancels the reader unless the stream is ending.

Who cancels whom: closing the stream, cancelling the consumer, or an idle timeout cancels the
reader and calls `result.cancel()`, which cancels the run loop (and any tool in flight); the stream
then waits, bounded, for both to finish. Nothing else cancels anything.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any, Final

from ._buffering import BufferPolicy, Coalescer
from ._checks import check_seconds
from ._errors import AgentStreamError, ConfigurationError, IdleTimeoutError
from ._events import (
    Done,
    DoneStatus,
    ErrorInfo,
    Event,
    EventBase,
    ReasoningDelta,
    TextDelta,
    ToolArgumentsDelta,
)
from ._mapping import (
    Draft,
    Mapper,
    TextRun,
    field,
    sdk_usage,
    to_json_value,
    usage_counts,
    usage_mark,
)

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from types import TracebackType

    from agents.result import RunResultStreaming
    from typing_extensions import Self

__all__ = ["EventStream", "normalize"]

logger = logging.getLogger("agentstream")

SETTLE_TIMEOUT: Final = 5.0
"""Seconds the stream waits for a cancelled run to finish before it gives up on it."""

_END: Final = object()

_BATCH: Final = 256
"""Most SDK events mapped in one call when the reader has more waiting."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


_set = object.__setattr__
_ENVELOPE: Final = frozenset(EventBase.model_fields)


def _delta_spec(cls: type[EventBase]) -> tuple[str, tuple[str, ...], frozenset[str]]:
    names = tuple(name for name in cls.model_fields if name not in _ENVELOPE)
    nullable = frozenset(n for n in names if cls.model_fields[n].annotation is not str)
    return cls.model_fields["type"].default, names, nullable


_TRUSTED: Final[dict[type[EventBase], tuple[str, tuple[str, ...], frozenset[str]]]] = {
    cls: _delta_spec(cls) for cls in (TextDelta, ReasoningDelta, ToolArgumentsDelta)
}
"""The delta events, which are most of a stream: `type` tag, payload fields, nullable fields."""


def _trusted_delta(draft: Draft, seq: int, run_id: str, timestamp: int) -> Event | None:
    """Build a delta event without validating it, when validation could only accept it as is.

    That is when every field already has the exact type it is declared with (`str`, or None
    where None is allowed); the result is then the same model validation would build (same
    fields, same `model_fields_set`). Anything else returns None, for the validating path.
    """
    spec = _TRUSTED.get(draft.kind)
    if spec is None:
        return None
    tag, names, nullable = spec
    fields = draft.fields
    agent = draft.agent
    if len(fields) != len(names) or type(run_id) is not str or seq < 0 or timestamp < 0:
        return None
    if agent is not None and type(agent) is not str:
        return None
    values = {"type": tag, "seq": seq, "run_id": run_id, "agent": agent, "timestamp": timestamp}
    for name in names:
        value = fields.get(name, _END)
        if type(value) is not str and (value is not None or name not in nullable):
            return None
        values[name] = value
    event = draft.kind.__new__(draft.kind)
    _set(event, "__dict__", values)
    _set(event, "__pydantic_fields_set__", {"seq", "run_id", "agent", "timestamp", *names})
    _set(event, "__pydantic_extra__", None)
    _set(event, "__pydantic_private__", None)
    return event  # type: ignore[return-value]


_TEXT_FIELDS_SET: Final = frozenset(
    {"seq", "run_id", "agent", "timestamp", *_TRUSTED[TextDelta][1]}
)


def text_events(run: TextRun) -> list[TextDelta]:
    """Build the `TextDelta`s a `TextRun` stands for, the short way `_trusted_delta` takes.

    `Mapper.text_run` made it only from fields of the exact declared types, so validation
    could only accept them as they are.
    """
    seq, deltas, _, (timestamp, message_id, agent, run_id) = run
    events = []
    for delta in deltas:
        event = TextDelta.__new__(TextDelta)
        _set(
            event,
            "__dict__",
            {
                "type": "text_delta",
                "seq": seq,
                "run_id": run_id,
                "agent": agent,
                "timestamp": timestamp,
                "delta": delta,
                "message_id": message_id,
            },
        )
        _set(event, "__pydantic_fields_set__", set(_TEXT_FIELDS_SET))
        _set(event, "__pydantic_extra__", None)
        _set(event, "__pydantic_private__", None)
        events.append(event)
        seq += 1
    return events


def built(batch: list[Event | TextRun]) -> list[Event]:
    """The events of a batch: each `Event` as it is, each `TextRun` built."""
    if not any(type(item) is tuple for item in batch):
        return batch  # type: ignore[return-value]
    events: list[Event] = []
    for item in batch:
        if type(item) is tuple:
            events += text_events(item)
        else:
            events.append(item)  # type: ignore[arg-type]
    return events


def _first_seq(item: Event | TextRun) -> int:
    return item[0] if type(item) is tuple else item.seq  # type: ignore[union-attr]


def _validated(draft: Draft, seq: int, run_id: str, timestamp: int) -> Event:
    return draft.kind(  # type: ignore[return-value]
        seq=seq, run_id=run_id, agent=draft.agent, timestamp=timestamp, **draft.fields
    )


class _Mailbox:
    """What the reader task hands to the consumer: SDK events in order, then `_END`.

    It also holds the consumer's one timer (the *alarm*) for its waits with a deadline.
    """

    __slots__ = (
        "alarm",
        "alarm_at",
        "deadline",
        "error",
        "items",
        "last_arrival",
        "loop",
        "waiter",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.items: deque[Any] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.last_arrival = loop.time()
        self.error: BaseException | None = None
        self.deadline: float | None = None
        self.alarm: asyncio.TimerHandle | None = None
        self.alarm_at = 0.0

    def arm(self, deadline: float | None) -> asyncio.Future[None]:
        """The future to await until the reader puts something, or until `deadline` (loop time).

        The consumer waits once per event when events come one at a time, and the deadline (the
        caller's heartbeat, the idle timeout) mostly moves a little later with each. So the
        alarm is not a timer per wait: it is set again only when a wait needs it sooner than it
        is set, and when it goes off before the current deadline it sets itself for that one.
        Waking up for it cancels nothing. After the wait, the consumer calls `disarm_wait()`.
        """
        waiter: asyncio.Future[None] = self.loop.create_future()
        self.waiter = waiter
        self.deadline = deadline
        if deadline is not None and (self.alarm is None or self.alarm_at > deadline):
            if self.alarm is not None:
                self.alarm.cancel()
            self.alarm_at = deadline
            self.alarm = self.loop.call_at(deadline, self._ring)
        return waiter

    def disarm_wait(self) -> None:
        """The consumer's wait is over (woken, timed out or cancelled)."""
        self.waiter = None
        self.deadline = None

    def _ring(self) -> None:
        self.alarm = None
        deadline = self.deadline
        if deadline is None:
            return  # nobody waits: the next wait sets the alarm again
        if deadline > self.loop.time():
            self.alarm_at = deadline
            self.alarm = self.loop.call_at(deadline, self._ring)
            return
        self.wake()

    def wake(self) -> None:
        """Wake the consumer, if it waits; once woken, it needs no more waking."""
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def disarm(self) -> None:
        """Stop the alarm: the stream has ended."""
        if self.alarm is not None:
            self.alarm.cancel()
            self.alarm = None

    def put(self, item: Any) -> None:
        self.items.append(item)
        self.last_arrival = self.loop.time()
        self.wake()


async def _read(result: Any, box: _Mailbox, idle_timeout: float | None) -> None:
    """The reader task: it holds the mailbox and the result, never the `EventStream`."""
    items = box.items
    # Arrival times serve the idle timeout only.
    clock = box.loop.time if idle_timeout is not None else None
    requests, tokens = counted = usage_counts(result)
    items.append(usage_mark(result))
    try:
        async for event in result.stream_events():
            # `box.put(event)`, spelled out, with a usage mark first when the SDK counted
            # usage since the last event: this runs once per token, and reads no event field.
            try:
                usage = result.context_wrapper.usage
                counts_changed = usage.requests != requests or usage.total_tokens != tokens
            except AttributeError:  # not the SDK's own objects: the general way
                counts_changed = usage_counts(result) != counted
            if counts_changed:
                requests, tokens = counted = usage_counts(result)
                items.append(usage_mark(result))
            items.append(event)
            if clock is not None:
                box.last_arrival = clock()
            if box.waiter is not None:
                box.wake()
        # A failure before the first event may not be raised by stream_events().
        box.error = getattr(result, "run_loop_exception", None)
    except Exception as exc:
        box.error = exc
    if usage_counts(result) != counted:
        box.put(usage_mark(result))
    box.put(_END)


_SAFE_MESSAGES: Final = {
    "MaxTurnsExceeded": "the run exceeded its maximum number of turns",
    "InputGuardrailTripwireTriggered": "an input guardrail tripped",
    "OutputGuardrailTripwireTriggered": "an output guardrail tripped",
    "ToolInputGuardrailTripwireTriggered": "a tool input guardrail tripped",
    "ToolOutputGuardrailTripwireTriggered": "a tool output guardrail tripped",
    "ModelBehaviorError": "the model produced output the run could not use",
    "UserError": "the agent is misconfigured",
    # The `openai` client's errors; a subclass without an entry takes its base class's.
    "APITimeoutError": "the request to the model provider timed out",
    "APIConnectionError": "the model provider could not be reached",
    "RateLimitError": "the model provider rate-limited the request",
    "InternalServerError": "the model provider had a server error",
    "BadRequestError": "the model provider rejected the request",
    "AuthenticationError": "the model provider did not accept the credentials",
    "PermissionDeniedError": "the model provider denied access",
    "NotFoundError": "the model provider did not find the model or endpoint",
    "ConflictError": "the model provider reported a conflict",
    "UnprocessableEntityError": "the model provider could not process the request",
    "APIStatusError": "the model provider answered with an error",
    "APIResponseValidationError": "the model provider sent a response the client could not read",
    "APIError": "the model provider reported an error",
}

_CLIENT_MESSAGES: Final = {
    "JSONDecodeError": "the model provider sent a malformed stream",
    "TimeoutException": _SAFE_MESSAGES["APITimeoutError"],
    "TransportError": _SAFE_MESSAGES["APIConnectionError"],
}
"""Errors that blame the model provider only when the `openai` client raised them: its SSE
parser's, and the HTTP library's (httpx) that openai 2.x lets through while streaming."""

_TOOL_FAILED: Final = "Error running tool "
"""How the SDK starts the `UserError` it raises for a tool whose errors are not handled."""


def _raised_by_openai(exc: BaseException) -> bool:
    """Whether `exc` came out of the `openai` client (its traceback passes through it)."""
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module == "openai" or module.startswith("openai."):
            return True
        tb = tb.tb_next
    return False


def _safe_message(exc: BaseException) -> str | None:
    kind = type(exc).__name__
    if kind == "UserError":
        text = str(exc)
        name, sep, _ = text[len(_TOOL_FAILED) :].partition(": ")
        if (
            text.startswith(_TOOL_FAILED)
            and sep
            and name.replace("_", "").replace("-", "").isalnum()
        ):
            return f"a tool failed: {name}"
    names = [cls.__name__ for cls in type(exc).__mro__]
    for name in names:
        message = _SAFE_MESSAGES.get(name)
        if message is not None:
            return message
    client_messages = [_CLIENT_MESSAGES[name] for name in names if name in _CLIENT_MESSAGES]
    if client_messages and _raised_by_openai(exc):
        return client_messages[0]
    return None


def describe_failure(exc: BaseException, *, expose: bool = False) -> ErrorInfo:
    """Build the `ErrorInfo` a client may see for an exception raised by a run.

    By default the message is a fixed sentence per known error kind (with a guardrail's name, a
    failed tool's name, or an HTTP status, which are safe), and a generic sentence for anything
    else: exception text can hold secrets, paths or stack details. `expose=True` uses the
    exception's own text.
    """
    kind = type(exc).__name__
    if expose:
        return ErrorInfo(type=kind, message=str(exc) or kind)
    message = _safe_message(exc)
    guardrail = field(field(field(exc, "guardrail_result"), "guardrail"), "name")
    if isinstance(guardrail, str) and message is not None:
        message = f"{message}: {guardrail}"
    status = getattr(exc, "status_code", None)
    if message is None and isinstance(status, int):
        message = f"the model provider answered HTTP {status}"
    elif isinstance(status, int):
        message = f"{message} (HTTP {status})"
    if message is None:
        message = "the run failed"
    return ErrorInfo(type=kind, message=message)


class EventStream:
    """The normalized events of one run: an async iterator and an async context manager.

    Iterate it (`async for event in stream`) or read it with a timeout (`next_event`). The last
    event is always one `Done`; afterwards `done` holds it and `exception` holds the exception
    that ended the run, if any. Closing the stream early (`aclose()`, leaving `async with`,
    cancelling the task that reads it) cancels the run.
    """

    def __init__(
        self,
        result: RunResultStreaming,
        *,
        idle_timeout: float | None = None,
        buffer: BufferPolicy | None = None,
        run_id: str | None = None,
        expose_errors: bool = False,
    ) -> None:
        if not callable(getattr(result, "stream_events", None)):
            raise ConfigurationError(
                "normalize() takes the result of Runner.run_streamed(...), "
                f"got {type(result).__name__}"
            )
        idle = check_seconds("idle_timeout", idle_timeout)
        if buffer is not None and not isinstance(buffer, BufferPolicy):
            raise ConfigurationError(f"buffer must be a BufferPolicy or None, got {buffer!r}")
        if run_id is not None and (not isinstance(run_id, str) or not run_id):
            raise ConfigurationError(f"run_id must be a non-empty string, got {run_id!r}")
        self._result = result
        self._idle_timeout = idle
        self._coalescer = Coalescer(buffer) if buffer is not None else None
        self._run_id = run_id or uuid.uuid4().hex
        self._expose_errors = expose_errors
        self._mapper = Mapper(field(result, "current_agent"))
        # Events ready to hand out; text deltas stay in `TextRun`s until someone needs the models.
        self._outbox: deque[Event | TextRun] = deque()
        self._seq = 0
        self._box: _Mailbox | None = None
        self._reader: asyncio.Task[None] | None = None
        self._finished = False
        self._reading = False
        self._done: Done | None = None
        self._exception: BaseException | None = None
        if _running_loop() is None:
            return  # no loop yet: the reader starts on the first read
        # The SDK drops the events still queued when a run fails, so the reader must be
        # draining from the start, not from whenever the consumer first reads.
        self._start()

    # Public state

    @property
    def run_id(self) -> str:
        """The `run_id` every event of this stream carries."""
        return self._run_id

    @property
    def result(self) -> RunResultStreaming:
        """The SDK result being normalized."""
        return self._result

    @property
    def done(self) -> Done | None:
        """The final `Done`, once the stream has ended (also after an early close)."""
        return self._done

    @property
    def exception(self) -> BaseException | None:
        """The exception that ended the run (`IdleTimeoutError` on timeout), for in-process use."""
        return self._exception

    # Iteration

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        if not self._outbox:
            await self._pull(None)  # without a timeout, it returns with events or stops
        return self._pop()

    async def next_event(self, timeout: float | None = None) -> Event | None:
        """Return the next event, or None if none is ready within `timeout` seconds.

        Waiting does not disturb the run: a later call picks up where this one stopped. Raises
        `StopAsyncIteration` once the stream has ended.
        """
        if not self._outbox and not await self._pull(
            check_seconds("timeout", timeout, allow_zero=True)
        ):
            return None
        return self._pop()

    async def next_batch(self, timeout: float | None = None) -> list[Event] | None:
        """Return every event ready now (at least one), or None if none is within `timeout`.

        The same as `next_event`, for consumers that write events in batches: one call per
        burst of events instead of one per event. Raises `StopAsyncIteration` once the stream
        has ended.
        """
        batch = await self._next_lazy_batch(timeout)
        return None if batch is None else built(batch)

    def _next_lazy_batch(
        self, timeout: float | None
    ) -> Coroutine[Any, Any, list[Event | TextRun] | None]:
        """`next_batch`, with text deltas left in their `TextRun`s.

        For the encoders that write text deltas straight from their fields (`to_sse`); they
        `built()` the rest.
        """
        return self._lazy_batch(check_seconds("timeout", timeout, allow_zero=True))

    async def _lazy_batch(self, timeout: float | None) -> list[Event | TextRun] | None:
        """`_next_lazy_batch` for a `timeout` already checked (once per stream, not per call)."""
        outbox = self._outbox
        if not outbox and not await self._pull(timeout):
            return None
        batch = list(outbox)
        outbox.clear()
        return batch

    def _pop(self) -> Event:
        """Take the next event from the outbox, building its text run if it is in one."""
        outbox = self._outbox
        item = outbox.popleft()
        if type(item) is not tuple:
            return item  # type: ignore[return-value]
        first, *rest = text_events(item)
        outbox.extendleft(reversed(rest))
        return first

    async def collect(self) -> list[Event]:
        """Read the stream to its end and return every event, `Done` last."""
        return [event async for event in self]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """End the stream now; a run still going is cancelled. Safe to call more than once."""
        if self._finished:
            self._outbox.clear()
            return
        pending = self._cancel_run()
        self._end_cancelled()
        await _settle(pending)

    def __del__(self) -> None:
        # Dropping an unfinished stream (say, `break` out of `async for` without `async with`)
        # must not leave the run going in the background.
        # That holds for a stream never read at all: the SDK started the run already.
        if getattr(self, "_finished", True):
            return
        # Collection may run in any thread (a tool's executor, say): cancel on the loop's own.
        box = self._box
        try:
            if box is None or _running_loop() is box.loop:
                self._cancel_run()
            elif not box.loop.is_closed():
                box.loop.call_soon_threadsafe(_cancel, self._reader, self._result)
        except Exception:  # the loop may be closed already
            logger.debug("could not cancel an abandoned run", exc_info=True)

    # Internals

    async def _pull(self, timeout: float | None) -> bool:
        """Wait until the outbox has events (True), or for `timeout` seconds (False).

        One coroutine for the whole wait, the mailbox's future awaited right here: when events
        come one at a time, every level between the consumer and that future is resumed once
        per event.
        """
        if self._finished:
            raise StopAsyncIteration
        if self._reading:
            raise AgentStreamError("this EventStream is already being read by another task")
        self._reading = True
        try:
            box = self._box
            if box is None:
                box = self._start()
            loop = box.loop
            give_up = None if timeout is None else loop.time() + timeout
            outbox = self._outbox
            coalescer = self._coalescer
            while not outbox:
                if self._finished:  # closed from another task while this one waited
                    raise StopAsyncIteration
                # The events the reader already has are mapped in one go (up to _BATCH of them).
                if box.items:
                    self._take(box)
                    continue
                now = loop.time()
                deadline = give_up
                if coalescer:
                    assert coalescer.deadline is not None
                    if coalescer.deadline <= now:
                        self._emit_all(coalescer.flush())
                        continue
                    deadline = (
                        coalescer.deadline
                        if deadline is None
                        else min(deadline, coalescer.deadline)
                    )
                if self._idle_timeout is not None:
                    idle_at = box.last_arrival + self._idle_timeout
                    if idle_at <= now:
                        await self._time_out()
                        continue
                    deadline = idle_at if deadline is None else min(deadline, idle_at)
                if give_up is not None and give_up <= now:
                    return False
                try:
                    await box.arm(deadline)
                finally:
                    box.disarm_wait()
            return True
        except asyncio.CancelledError:
            # Everything that matters happens before the first await: under anyio cancel
            # scopes the cancellation is delivered again at every await.
            pending = self._cancel_run()
            self._end_cancelled()
            await _settle(pending)
            raise
        finally:
            self._reading = False

    def _start(self) -> _Mailbox:
        loop = asyncio.get_running_loop()
        box = self._box = _Mailbox(loop)
        self._reader = loop.create_task(
            _read(self._result, box, self._idle_timeout), name="agentstream-reader"
        )
        return box

    def _take(self, box: _Mailbox) -> None:
        """Map the SDK events the reader has, up to _BATCH of them, into the outbox.

        Plain text deltas, most of a stream, become `TextRun`s (unless buffering may merge
        them); everything else goes through `_process`. A run shares one timestamp: it is
        mapped within the same instant.
        """
        items = box.items
        runs = self._coalescer is None
        stamp = _now_ms()
        taken = 0
        while items and taken < _BATCH:
            if runs:
                run = self._mapper.text_run(items, self._seq, stamp, self._run_id, _BATCH - taken)
                if run is not None:
                    moved = len(run[1])
                    self._seq += moved
                    taken += moved
                    self._outbox.append(run)
                    continue
            item = items.popleft()
            taken += 1
            if item is _END:
                self._finish(box.error)
                return
            self._process(item, box.loop)
            stamp = _now_ms()  # what follows is not stamped before what `_process` emitted

    def _process(self, sdk_event: Any, loop: asyncio.AbstractEventLoop) -> None:
        try:
            drafts = self._mapper.map(sdk_event)
        except Exception:
            # A shape this version does not understand must not end the stream.
            logger.warning(
                "agentstream could not map an SDK event of type %r; it was dropped",
                field(sdk_event, "type"),
                exc_info=True,
            )
            return
        self._offer(drafts, loop)

    def _offer(self, drafts: list[Draft], loop: asyncio.AbstractEventLoop) -> None:
        coalescer = self._coalescer
        if coalescer is None:
            self._emit_all(drafts)
        else:
            now = loop.time()
            for draft in drafts:
                self._emit_all(coalescer.offer(draft, now))

    def _emit_all(self, drafts: list[Draft]) -> None:
        for draft in drafts:
            self._emit(draft)

    def _emit(self, draft: Draft) -> Event:
        timestamp = _now_ms()
        event = _trusted_delta(draft, self._seq, self._run_id, timestamp)
        if event is None:
            event = _validated(draft, self._seq, self._run_id, timestamp)
        self._seq += 1
        self._outbox.append(event)
        return event

    def _flush_owed(self) -> None:
        if self._coalescer:
            self._emit_all(self._coalescer.flush())

    def _finish(self, error: BaseException | None) -> None:
        """The SDK stream ended (normally or with `error`): emit what is owed, then `Done`."""
        result = self._result
        if self._box is not None:
            self._offer(self._mapper.owed_usage(), self._box.loop)
        self._flush_owed()
        if error is not None:
            self._exception = error
            self._end(
                "error",
                error=describe_failure(error, expose=self._expose_errors),
                partial_text=True,
            )
            return
        run_task = _run_task(result)
        if field(result, "_cancel_mode", "none") != "none" or (
            isinstance(run_task, asyncio.Future) and run_task.cancelled()
        ):
            # Someone called result.cancel() directly: the run stopped, it did not complete.
            self._end("cancelled", partial_text=True)
            return
        interruptions = field(result, "interruptions", None) or ()
        self._emit_all(self._mapper.approval_drafts(interruptions))
        pending = tuple(
            str(field(field(item, "raw_item"), "call_id") or field(field(item, "raw_item"), "id"))
            for item in interruptions
        )
        self._end(
            "completed",
            final_output=to_json_value(field(result, "final_output")),
            pending_approvals=pending,
        )

    async def _time_out(self) -> None:
        assert self._idle_timeout is not None
        await _settle(self._cancel_run())
        self._flush_owed()
        error = IdleTimeoutError(f"no event from the run for {self._idle_timeout:g} s")
        self._exception = error
        self._end(
            "timeout",
            error=ErrorInfo(type="IdleTimeoutError", message=str(error)),
            partial_text=True,
        )

    def _end_cancelled(self) -> None:
        if self._finished:
            return
        # Events never handed out are dropped, and so are their numbers: no gap before Done.
        if self._outbox:
            self._seq = _first_seq(self._outbox[0])
            self._outbox.clear()
        done = self._build_done("cancelled", partial_text=True)
        self._seq += 1
        self._done = done
        self._finished = True
        if self._box is not None:
            self._box.disarm()
            # A reader waiting in another task must see the end, not wait for a wake-up that
            # the cancelled reader task will never send.
            self._box.wake()

    def _end(self, status: DoneStatus, *, partial_text: bool = False, **fields: Any) -> None:
        done = self._build_done(status, partial_text=partial_text, **fields)
        self._seq += 1
        self._outbox.append(done)
        self._done = done
        self._finished = True
        if self._box is not None:
            self._box.disarm()

    def _build_done(self, status: DoneStatus, *, partial_text: bool, **fields: Any) -> Done:
        result = self._result
        try:
            last_agent = field(result.last_agent, "name")
        except Exception:  # the SDK raises when the agent reference is gone
            last_agent = self._mapper.agent
        text = "".join(self._mapper.partial_text) if partial_text else ""
        return Done(
            seq=self._seq,
            run_id=self._run_id,
            agent=self._mapper.agent,
            timestamp=_now_ms(),
            status=status,
            last_agent=last_agent,
            usage=sdk_usage(field(field(result, "context_wrapper"), "usage")),
            partial_text=text or None,
            **fields,
        )

    def _cancel_run(self) -> list[asyncio.Future[Any]]:
        """Cancel the reader and the run; return the tasks still finishing."""
        return _cancel(self._reader, self._result)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _cancel(reader: asyncio.Task[None] | None, result: Any) -> list[asyncio.Future[Any]]:
    """Cancel the reader task and the run; return the tasks still finishing."""
    if reader is not None and not reader.done():
        reader.cancel()
    try:
        result.cancel()
    except Exception:
        logger.warning("result.cancel() failed", exc_info=True)
    return [
        task
        for task in (reader, _run_task(result))
        if isinstance(task, asyncio.Future) and not task.done()
    ]


async def _settle(pending: list[asyncio.Future[Any]]) -> None:
    """Wait, bounded, for cancelled tasks to finish, so none outlives the stream."""
    if pending:
        _, still = await asyncio.wait(pending, timeout=SETTLE_TIMEOUT)
        if still:
            logger.warning("the cancelled run did not finish within %s s", SETTLE_TIMEOUT)


def _run_task(result: Any) -> Any:
    # `run_loop_task` in current SDKs, `_run_impl_task` in older releases.
    task = field(result, "run_loop_task")
    return task if task is not None else field(result, "_run_impl_task")


def normalize(
    result: RunResultStreaming,
    *,
    idle_timeout: float | None = None,
    buffer: BufferPolicy | None = None,
    run_id: str | None = None,
    expose_errors: bool = False,
) -> EventStream:
    """Normalize a streamed run (`Runner.run_streamed(...)`) into agentstream events.

    Args:
        result: The streaming result of `Runner.run_streamed(...)`.
        idle_timeout: Seconds without any SDK event after which the run is cancelled and the
            stream ends with `Done(status="timeout")`. None waits forever.
        buffer: Coalesce consecutive deltas (see `BufferPolicy`). None sends each delta as is.
        run_id: The `run_id` of every event; a random one by default.
        expose_errors: Put the text of a failed run's exception in `Done.error.message`. Off by
            default: exception text can hold secrets. Known SDK errors get safe messages anyway.

    Returns:
        An `EventStream`: iterate it, and close it (or use `async with`) if you stop early.

    Raises:
        ConfigurationError: an argument has a value that cannot work.

    """
    return EventStream(
        result,
        idle_timeout=idle_timeout,
        buffer=buffer,
        run_id=run_id,
        expose_errors=expose_errors,
    )
