"""`normalize()`: one SDK run in, one well-formed event stream out, whatever happens.

Tasks (see `docs/architecture.md` for the picture):

- the SDK's run loop task, started by `Runner.run_streamed()`, fills the SDK's queue;
- the *reader* task (`_reader`) drains `result.stream_events()` into a mailbox as fast as events
  come, so a slow consumer never makes the SDK drop events on failure;
- the consumer (whoever iterates the `EventStream`) maps, buffers and numbers events. It waits on
  the mailbox with a deadline (idle timeout, buffer flush, or the caller's own timeout) and never
  cancels the reader unless the stream is ending.

Who cancels whom: closing the stream, cancelling the consumer, or an idle timeout cancels the
reader and calls `result.cancel()`, which cancels the run loop (and any tool in flight); the stream
then waits, bounded, for both to finish. Nothing else cancels anything.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING, Any, Final

from typing_extensions import Unpack

from ._buffering import BufferPolicy, Coalescer
from ._builders import Draft, build
from ._checks import check_seconds
from ._errors import AgentStreamError, ConfigurationError, IdleTimeoutError
from ._events import (
    Done,
    DoneStatus,
    ErrorInfo,
    Event,
    NestedRunFinished,
    NestedRunStarted,
    TextDelta,
)
from ._failures import describe_failure
from ._mapping import Mapper, field, sdk_usage, to_json_value
from ._nested import Channel, Emitted, NestedEnd, NestedEvent, close_channel, open_channel
from ._options import (
    DEFAULT_MAX_IMAGE_BYTES,
    HOOK_NAMES,
    RUN_OPTION_NAMES,
    Hook,
    RunOptions,
    served,
)
from ._reader import END, EVENT_COST, Mailbox, cancel, cost, read, run_task, running_loop, settle
from ._streams import Batch, BatchedSource
from ._telemetry import RunTelemetry, start_run
from ._textrun import TextRun, built

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

    from agents.result import RunResultStreaming
    from typing_extensions import Self


__all__ = ["EventStream", "abandon", "is_run", "normalize", "open_source"]

logger = logging.getLogger("agentstream")

run_logger = logging.getLogger("agentstream.run")
"""One record per run's end: ERROR (with the traceback) for `error`, WARNING for `timeout`,
DEBUG for the others; `run_id`, `agent`, `status` and `error_type` are attributes of the record
(`docs/operations.md`)."""

_BATCH: Final = 256
"""Most SDK events mapped in one call when the reader has more waiting."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _first_seq(item: Event | TextRun) -> int:
    return item.seq


class EventStream(BatchedSource):
    """The normalized events of one run: an async iterator and an async context manager.

    Iterate it (`async for event in stream`) or read it with a timeout (`next_event`). The last
    event is always one `Done`; afterwards `done` holds it and `exception` holds the exception
    that ended the run, if any. Closing the stream early (`aclose()`, leaving `async with`,
    cancelling the task that reads it) cancels the run.
    """

    def __init__(self, result: RunResultStreaming, **options: Unpack[RunOptions]) -> None:
        if not callable(getattr(result, "stream_events", None)):
            raise ConfigurationError(
                "normalize() takes the result of Runner.run_streamed(...), "
                f"got {type(result).__name__}"
            )
        unknown = sorted(set(options) - RUN_OPTION_NAMES)
        if unknown:
            raise ConfigurationError(
                f"unknown run options {unknown}; the options are {sorted(RUN_OPTION_NAMES)}"
            )
        idle = check_seconds("idle_timeout", options.get("idle_timeout"))
        buffer = options.get("buffer")
        run_id = options.get("run_id")
        expose_errors = options.get("expose_errors", False)
        if buffer is not None and not isinstance(buffer, BufferPolicy):
            raise ConfigurationError(f"buffer must be a BufferPolicy or None, got {buffer!r}")
        if run_id is not None and (not isinstance(run_id, str) or not run_id):
            raise ConfigurationError(f"run_id must be a non-empty string, got {run_id!r}")
        hooks: tuple[Hook | None, ...] = tuple(options.get(name) for name in HOOK_NAMES)  # type: ignore[misc]
        for name, hook in zip(HOOK_NAMES, hooks, strict=True):
            if hook is not None and not callable(hook):
                raise ConfigurationError(f"{name} must be callable or None, got {hook!r}")
        first_seq = options.get("first_seq", 0)
        if isinstance(first_seq, bool) or not isinstance(first_seq, int) or first_seq < 0:
            raise ConfigurationError(f"first_seq must be a whole number >= 0, got {first_seq!r}")
        max_backlog = options.get("max_backlog")
        if max_backlog is not None and (
            isinstance(max_backlog, bool) or not isinstance(max_backlog, int) or max_backlog < 1
        ):
            raise ConfigurationError(
                f"max_backlog must be an int >= 1 or None, got {max_backlog!r}"
            )
        max_image_bytes = options.get("max_image_bytes", DEFAULT_MAX_IMAGE_BYTES)
        if max_image_bytes is not None and (
            isinstance(max_image_bytes, bool)
            or not isinstance(max_image_bytes, int)
            or max_image_bytes < 0
        ):
            raise ConfigurationError(
                f"max_image_bytes must be an int >= 0 or None, got {max_image_bytes!r}"
            )
        self._max_image_bytes = max_image_bytes
        self._max_backlog = max_backlog
        self._result = result
        self._idle_timeout = idle
        self._coalescer = Coalescer(buffer) if buffer is not None else None
        self._run_id = run_id or uuid.uuid4().hex
        self._expose_errors = expose_errors
        self._mapper = Mapper(field(result, "current_agent"), max_image_bytes=max_image_bytes)
        # The mappers of the nested runs in progress (`agent_tool()`), by path.
        self._nested: dict[tuple[str, ...], Mapper] = {}
        self._channel: Channel | None = None
        # Events ready to hand out; text deltas stay in `TextRun`s until someone needs the models.
        self._outbox: deque[Event | TextRun] = deque()
        self._seq = first_seq
        # The end hooks (on_complete, on_error, on_cancel), None when none is given; each
        # stream calls one of them at most once.
        self._hooks: tuple[Hook | None, ...] | None = hooks if any(hooks) else None
        self._hook_task: asyncio.Task[None] | None = None
        self._first_seq = first_seq
        # The run's span and timings (`agentstream[otel]`); None without the extra.
        self._telemetry: RunTelemetry | None = start_run(self._run_id, self._mapper.agent, result)
        self._box: Mailbox | None = None
        self._reader: asyncio.Task[None] | None = None
        self._finished = False
        self._reading = False
        self._done: Done | None = None
        self._exception: BaseException | None = None
        if running_loop() is None:
            return  # no loop yet: the reader starts on the first read
        # The SDK drops the events still queued when a run fails, so the reader must be
        # draining from the start, not from whenever the consumer first reads.
        self._start()

    # Public state

    def remember_calls(self, names: Mapping[str, str]) -> None:
        """Name the tool calls a resumed run was paused on (call id to tool name).

        Their `tool_output` events then carry the tool's name; `agentstream.interactive` does it.
        """
        self._mapper.remember(names)

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
        batch = await self._read_batch(check_seconds("timeout", timeout, allow_zero=True))
        return None if batch is None else built(batch)

    async def _read_batch(self, timeout: float | None) -> Batch | None:
        """`next_batch` with text deltas left in their `TextRun`s, for agentstream's encoders.

        `timeout` is checked by the caller (once per stream, not per call).
        """
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
        if type(item) is not TextRun:
            return item
        first, *rest = item.events()
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
            if self._hooks is not None:
                await self._call_hook()  # ended by a cancellation that could not call it
            return
        pending = self._cancel_run()
        self._end_cancelled()
        await settle(pending)
        if self._hooks is not None:
            await self._call_hook()

    async def _call_hook(self) -> None:
        """Call the end hook that fits the `Done` (once a stream), with the run's new items."""
        hooks, done = self._hooks, self._done
        if hooks is None or done is None:
            return
        self._hooks = None
        on_complete, on_error, on_cancel = hooks
        if done.status in ("completed", "interrupted"):
            hook = on_complete
        elif done.status == "cancelled":
            hook = on_cancel
        else:
            hook = on_error
        if hook is None:
            return
        try:
            # The SDK adds a turn's items to `new_items` when the turn ends; the items of a turn
            # cut short were streamed, and only the mapper has them.
            recorded = list(field(self._result, "new_items", None) or ())
            streamed = self._mapper.items
            outcome = hook(done, streamed if len(streamed) > len(recorded) else recorded)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            logger.warning("the end hook of run %r failed", self._run_id, exc_info=True)

    def __del__(self) -> None:
        # Dropping an unfinished stream (say, `break` out of `async for` without `async with`)
        # must not leave the run going in the background.
        # That holds for a stream never read at all: the SDK started the run already.
        if getattr(self, "_finished", True):
            return
        # Collection may run in any thread (a tool's executor, say): cancel on the loop's own.
        box = self._box
        try:
            if box is None or running_loop() is box.loop:
                self._cancel_run()
            elif not box.loop.is_closed():
                box.loop.call_soon_threadsafe(cancel, self._reader, self._result)
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
            if self._telemetry is not None:
                self._telemetry.event_out()
            if self._hooks is not None and self._finished:
                await self._call_hook()  # before the Done is handed out
            return True
        except asyncio.CancelledError:
            # Everything that matters happens before the first await: under anyio cancel
            # scopes the cancellation is delivered again at every await.
            pending = self._cancel_run()
            self._end_cancelled()
            await settle(pending)
            if self._hooks is not None:
                # A cancelled task's awaits are cancelled again: the hook gets a task of its own.
                self._hook_task = asyncio.get_running_loop().create_task(self._call_hook())
            raise
        finally:
            self._reading = False

    def _start(self) -> Mailbox:
        loop = asyncio.get_running_loop()
        box = self._box = Mailbox(loop)
        self._reader = loop.create_task(
            read(self._result, box, self._idle_timeout, self._max_backlog, self._run_id),
            name="agentstream-reader",
        )
        self._channel = open_channel(self._result, box.put)
        return box

    def _take(self, box: Mailbox) -> None:
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
                    moved = len(run.deltas)
                    self._seq += moved
                    taken += moved
                    box.backlog -= moved * EVENT_COST + len(run.text)
                    self._outbox.append(run)
                    if self._telemetry is not None:
                        self._telemetry.text_out()
                    continue
            item = items.popleft()
            taken += 1
            box.backlog -= cost(item)
            if item is END:
                self._finish(box.error)
                return
            self._process(item, box.loop)
            stamp = _now_ms()  # what follows is not stamped before what `_process` emitted
        if not items:
            box.backlog = 0  # marks and ends were counted on one side only: start even again

    def _process(self, sdk_event: Any, loop: asyncio.AbstractEventLoop) -> None:
        try:
            kind = type(sdk_event)
            if kind is NestedEvent:
                mapper = self._nested.get(sdk_event.path)
                if mapper is None:
                    mapper = self._open_nested(sdk_event.path, sdk_event.agent)
                drafts = mapper.map(sdk_event.event)
            elif kind is Emitted:
                drafts = [self._emitted(sdk_event)]
            elif kind is NestedEnd:
                drafts = [self._nested_finished(sdk_event)]
            else:
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

    # Nested runs and events sent from tools (`_nested`)

    def _mapper_of(self, path: tuple[str, ...]) -> Mapper:
        """The mapper of the run at `path`: the top-level one for (), a nested run's otherwise."""
        if not path:
            return self._mapper
        return self._nested.get(path) or self._open_nested(path, None)

    def _open_nested(self, path: tuple[str, ...], agent: Any) -> Mapper:
        origin = {"parent_call_id": path[-1], "path": path}
        mapper = Mapper(agent, origin=origin, max_image_bytes=self._max_image_bytes)
        if isinstance(agent, str):
            mapper.agent = agent
        self._nested[path] = mapper
        return mapper

    def _emitted(self, item: Emitted) -> Draft:
        mapper = self._mapper_of(item.path)
        if item.kind is NestedRunStarted:
            self._open_nested((*item.path, item.fields["call_id"]), item.fields["nested_agent"])
        return Draft(item.kind, {**item.fields, **mapper.origin}, mapper.agent)

    def _nested_finished(self, end: NestedEnd) -> Draft:
        path = end.path
        error = end.error
        return self._finished_draft(
            path,
            end.status,
            final_output=to_json_value(end.final_output),
            error=None if error is None else describe_failure(error, expose=self._expose_errors),
        )

    def _finished_draft(self, path: tuple[str, ...], status: DoneStatus, **fields: Any) -> Draft:
        """The `nested_run_finished` of the run at `path`; its mapper, and any deeper, go."""
        mapper = self._nested.pop(path, None)
        for deeper in [p for p in self._nested if p[: len(path)] == path]:
            del self._nested[deeper]
        parent = self._mapper_of(path[:-1])
        payload = {
            "call_id": path[-1],
            "status": status,
            "last_agent": mapper.agent if mapper is not None else None,
            "usage": mapper.nested_usage if mapper is not None else sdk_usage(None),
            **fields,
            **parent.origin,
        }
        return Draft(NestedRunFinished, payload, parent.agent)

    def _end_nested(self, status: DoneStatus) -> None:
        """The top-level run ended with nested runs still open: each ends too, deepest first."""
        while self._nested:
            path = max(self._nested, key=len)
            self._emit(self._finished_draft(path, status))

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
        if self._telemetry is not None and draft.kind is TextDelta:
            self._telemetry.text_out()
        timestamp = _now_ms()
        event = build(draft, self._seq, self._run_id, timestamp)
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
        if self._nested:
            self._end_nested("error" if error is not None else "cancelled")
        if error is not None:
            self._exception = error
            self._end(
                "error",
                error=describe_failure(error, expose=self._expose_errors),
                partial_text=True,
            )
            return
        task = run_task(result)
        if field(result, "_cancel_mode", "none") != "none" or (
            isinstance(task, asyncio.Future) and task.cancelled()
        ):
            # Someone called result.cancel() directly: the run stopped, it did not complete.
            self._end("cancelled", partial_text=True)
            return
        waiting = self._mapper.interruptions(field(result, "interruptions", None) or ())
        if waiting:
            self._emit_all(self._mapper.approval_drafts(waiting))
            self._end(
                "interrupted",
                pending_approvals=tuple(w.call_id for w in waiting if w.kind != "frontend_tool"),
                interruptions=tuple(waiting),
            )
            return
        self._end("completed", final_output=to_json_value(field(result, "final_output")))

    async def _time_out(self) -> None:
        assert self._idle_timeout is not None
        await settle(self._cancel_run())
        self._flush_owed()
        self._end_nested("cancelled")
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
        self._close_channel()
        self._report_end(done)
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
        self._close_channel()
        if self._box is not None:
            self._box.disarm()
        self._report_end(done)

    def _report_end(self, done: Done) -> None:
        """Report the run's end: its span and metrics, and its one log record.

        The record carries the exception on the server side only (`run_logger`).
        """
        if self._telemetry is not None:
            self._telemetry.end(done, done.seq + 1 - self._first_seq, self._exception)
            self._telemetry = None
        status = done.status
        level = {"error": logging.ERROR, "timeout": logging.WARNING}.get(status, logging.DEBUG)
        if not run_logger.isEnabledFor(level):
            return
        error_type = done.error.type if done.error is not None else None
        exc = self._exception
        detail = f" ({error_type}: {exc})" if exc is not None else ""
        run_logger.log(
            level,
            "run %s of agent %s ended %s%s",
            self._run_id,
            done.last_agent or done.agent,
            status,
            detail,
            exc_info=exc if status == "error" else None,
            extra={
                "run_id": self._run_id,
                "agent": done.last_agent or done.agent,
                "status": status,
                "error_type": error_type,
            },
        )

    def _close_channel(self) -> None:
        if self._channel is not None:
            close_channel(self._channel)
            self._channel = None

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
        return cancel(self._reader, self._result)


def normalize(result: RunResultStreaming, **options: Unpack[RunOptions]) -> EventStream:
    """Normalize a streamed run (`Runner.run_streamed(...)`) into agentstream events.

    Args:
        result: The streaming result of `Runner.run_streamed(...)`.
        **options: How the run is normalized: `idle_timeout`, `buffer`, `run_id`,
            `expose_errors`, `max_backlog`, `max_image_bytes`, the end hooks (see
            `RunOptions`).

    Returns:
        An `EventStream`: iterate it, and close it (or use `async with`) if you stop early.

    Raises:
        ConfigurationError: an option is unknown or has a value that cannot work.

    """
    return EventStream(result, **options)


# Sources: what the web helpers, the bridges and `publish()` accept.


def is_run(source: object) -> bool:
    """Whether `source` is a streaming run (a `RunResultStreaming`), not yet normalized."""
    return not isinstance(source, EventStream) and callable(getattr(source, "stream_events", None))


def open_source(
    source: object, options: RunOptions, *, to_client: bool = False
) -> AsyncIterable[Event]:
    """The events of `source`: a run normalized with `options`, or an event source as it is.

    `source` is the result of `Runner.run_streamed(...)`, an `EventStream`, or any async
    iterable of events. The options apply to a run only: given with anything else, they raise
    rather than being silently ignored (their default values, given explicitly, change nothing).
    A run streamed `to_client` is bounded by `SERVED_MAX_BACKLOG` unless `max_backlog` is given.

    Raises:
        ConfigurationError: `source` is none of those, an option is unknown, or options were
            given with a source that is not a run.

    """
    if is_run(source):
        return normalize(source, **(served(options) if to_client else options))  # type: ignore[arg-type]
    if not isinstance(source, AsyncIterable):
        raise ConfigurationError(
            "expected the result of Runner.run_streamed(...), an EventStream or an async "
            f"iterable of events, got {type(source).__name__}"
        )
    unknown = sorted(set(options) - RUN_OPTION_NAMES)
    if unknown:
        raise ConfigurationError(
            f"unknown run options {unknown}; the options are {sorted(RUN_OPTION_NAMES)}"
        )
    passed = sorted(
        name for name, value in options.items() if value is not None and value is not False
    )
    if passed:
        raise ConfigurationError(
            f"{', '.join(passed)} apply only to a run (the result of Runner.run_streamed); "
            f"pass them to normalize() instead, got a {type(source).__name__}"
        )
    return source


def abandon(source: object) -> None:
    """Cancel the run behind `source`, given to something that failed before reading it.

    A run must not go on with nobody reading; an event source that is not a run is left alone.
    """
    if isinstance(source, EventStream):
        source.result.cancel()
    elif is_run(source):
        cancel_run = getattr(source, "cancel", None)
        if callable(cancel_run):
            cancel_run()
