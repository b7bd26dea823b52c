"""Producers write a run into an event log; consumers read it from any position, over SSE too.

Tasks of one publication (see `docs/scaling.md`):

- the *pump* (`Publication.task`) reads the normalized events and appends them to the log, in
  batches of what is ready; it owns the event stream and closes it however it ends;
- the *renewer*, a child of the pump, renews the lease every `lease_ttl / 3` seconds. If the lease
  is lost (another producer took it, or a reader declared this producer lost), it cancels the
  pump, which closes the stream and so cancels the run.

Cancelling the pump (`Publication.cancel()`) cancels the run; its `Done(status="cancelled")` is
still appended, so readers end. The pump always releases the lease last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from ._errors import ConfigurationError, MissingExtraError
from ._eventlog import (
    MAX_SEQ,
    AppendError,
    EventLog,
    EventLogError,
    EventLogUnavailableError,
    check_after,
    check_run_id,
    log_unavailable,
)
from ._events import Done, ErrorInfo, Event
from ._failures import describe_failure
from ._normalize import EventStream, abandon, is_run, normalize, open_source
from ._streams import SETTLE_TIMEOUT, check_heartbeat
from ._telemetry import read_run
from ._transport import resolved

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping

    from agents.result import RunResultStreaming
    from starlette.requests import Request
    from starlette.responses import Response
    from typing_extensions import Unpack

    from ._options import RunOptions

__all__ = [
    "Encoder",
    "Publication",
    "publish",
    "resumable_sse_endpoint",
    "resume_position",
    "resume_response",
    "subscribe",
]

logger = logging.getLogger("agentstream")

_BATCH: Final = 256
"""Most events appended in one call."""

Encoder: TypeAlias = "Callable[[AsyncIterable[Event]], AsyncIterator[str]]"
"""Turns events into response frames: `to_sse` by default, or e.g. `ai_sdk.encode`."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class LeaseLostError(EventLogError):
    """The producer's lease was taken by another producer, or its run was ended without it."""


class Publication:
    """A run being written into an event log by a background task; made by `publish()`."""

    def __init__(self, run_id: str, log: EventLog) -> None:
        self.run_id = run_id
        """The run's id: give it to consumers (`subscribe(log, run_id)`)."""
        self.log = log
        """The log the run is written to."""
        self.task: asyncio.Task[None]
        """The task writing the run."""
        self._done: Done | None = None
        self._exception: BaseException | None = None
        self._stopping = False
        self._finishing = False

    @property
    def done(self) -> Done | None:
        """The `Done` written to the log, once the run has ended (None if none could be)."""
        return self._done

    @property
    def exception(self) -> BaseException | None:
        """Why the publication failed: the log refused an append or the lease was lost."""
        return self._exception

    def _stop(self) -> None:
        # The flag too: a client library may swallow a cancellation that lands inside its own
        # I/O (redis-py can, on Python 3.11), so the pump also checks it after every append.
        if self._finishing:
            return
        self._stopping = True
        self.task.cancel()

    async def wait(self) -> Done | None:
        """Wait until the run is written to its end; return its `Done` (see `done`)."""
        await asyncio.shield(self.task)
        return self._done

    async def cancel(self) -> Done | None:
        """Cancel the run; its `Done(status="cancelled")` is appended. Returns `done`."""
        self._stop()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        return self._done


def _open(
    source: RunResultStreaming | EventStream | AsyncIterable[Event],
    run_id: str | None,
    options: RunOptions,
) -> tuple[AsyncIterable[Event], str]:
    """The events to publish and the run's id (the log's key)."""
    if is_run(source):
        options = {**options, "run_id": run_id or uuid.uuid4().hex}
        stream = normalize(source, **options)  # type: ignore[arg-type]
        return stream, stream.run_id
    events = open_source(source, options)
    if isinstance(events, EventStream):
        if run_id is not None and run_id != events.run_id:
            raise ConfigurationError(
                f"run_id {run_id!r} differs from the EventStream's run_id {events.run_id!r}"
            )
        return events, events.run_id
    if run_id is None:
        raise ConfigurationError("publishing an async iterable of events needs its run_id")
    return events, check_run_id(run_id)


async def _batches(events: AsyncIterable[Event]) -> AsyncIterator[list[Event]]:
    """Group what is ready: after an event arrives, take the ones already waiting too."""
    if isinstance(events, EventStream):
        while True:
            try:
                batch = [await events.__anext__()]
            except StopAsyncIteration:
                return
            with contextlib.suppress(StopAsyncIteration):
                while len(batch) < _BATCH and not isinstance(batch[-1], Done):
                    ready = await events.next_event(0)
                    if ready is None:
                        break
                    batch.append(ready)
            yield batch
    else:
        async for event in events:
            yield [event]


async def publish(
    source: RunResultStreaming | EventStream | AsyncIterable[Event],
    log: EventLog,
    **options: Unpack[RunOptions],
) -> Publication:
    """Write a run's events into `log` from a background task; return once consumers may read.

    The lease is taken before this returns, so `subscribe(log, publication.run_id)` works at
    once, from any process that reaches the log. Whatever happens the log gets a `Done`: the
    run's own, `cancelled` if the publication is cancelled, `error` if a source other than a run
    fails or ends without one, or `producer_lost()` written by a reader if this process dies.

    Args:
        source: The result of `Runner.run_streamed(...)` (normalized here), an `EventStream`, or
            any async iterable of events numbered from seq 0.
        log: Where to write.
        **options: How a run is normalized (`RunOptions`; a run only), but for `run_id`: the
            run's id in the log, a random one by default for a run, the stream's own for an
            `EventStream`, and required for other iterables.

    Returns:
        A `Publication`: its `run_id`, `wait()`, `cancel()`.

    Raises:
        ConfigurationError: an argument has a value that cannot work.
        LeaseHeldError: another producer is writing this run, or it has already ended.

    """
    if not isinstance(log, EventLog):
        raise ConfigurationError(f"log must be an EventLog, got {type(log).__name__}")
    run_id = options.pop("run_id", None)
    if run_id is not None:
        check_run_id(run_id)
    try:
        events, run = _open(source, run_id, options)
        token = await log.acquire_lease(run)
    except BaseException:
        abandon(source)
        raise
    publication = Publication(run, log)
    publication.task = asyncio.get_running_loop().create_task(
        _pump(publication, events, token), name=f"agentstream-publish-{run}"
    )
    # Let the task enter its `try`: a task cancelled before its first step runs no `finally`,
    # and this one must always close the run, append a Done and release the lease.
    await asyncio.sleep(0)
    return publication


async def _renew(publication: Publication, token: str) -> None:
    log, run_id = publication.log, publication.run_id
    # The pump cancels this task when it finishes, and sets `_finishing` first: a cancellation
    # swallowed by the log's client must not let a late renewal stop a publication that ended.
    while not publication._finishing:
        await asyncio.sleep(log.lease_ttl / 3)  # a timer, not synchronization
        if publication._finishing:
            return
        try:
            kept = await log.renew_lease(run_id, token)
        except Exception:
            logger.warning("could not renew the lease of run %r", run_id, exc_info=True)
            continue
        if not kept and not publication._finishing:
            publication._exception = LeaseLostError(
                f"run {run_id!r}: the lease was lost (another producer, or the run was ended)"
            )
            publication._stop()
            return


async def _pump(publication: Publication, events: AsyncIterable[Event], token: str) -> None:
    log, run_id = publication.log, publication.run_id
    renewer = asyncio.get_running_loop().create_task(_renew(publication, token))
    last: Event | None = None
    ending: Done | None = None
    try:
        async for batch in _batches(events):
            # From the Done's append on, a renewal that finds the run ended is no loss.
            publication._finishing = isinstance(batch[-1], Done)
            await log.extend(run_id, batch)
            last = batch[-1]
            if isinstance(last, Done):
                publication._done = last
                return
            if publication._stopping:
                raise asyncio.CancelledError
        ending = _ending(
            run_id,
            last,
            ErrorInfo(type="IncompleteStream", message="the events ended without a done event"),
        )
    except asyncio.CancelledError:
        if isinstance(publication._exception, LeaseLostError):
            logger.warning("%s", publication._exception)
            return
        ending = _ending(run_id, last, None)
        raise
    except EventLogUnavailableError as exc:
        # The log stayed unreachable past its retry budget: end the run with an error its
        # readers can tell from a cancellation, if the log takes it (`_settle` retries too).
        publication._exception = exc
        logger.warning("publishing run %r failed: %s", run_id, exc)
        ending = _ending(run_id, last, log_unavailable(run_id, 0, None).error)
    except AppendError as exc:
        # Someone else ended the run (a reader declared this producer lost): stop the run.
        publication._exception = exc
        logger.warning("publishing run %r stopped: %s", run_id, exc)
    except Exception as exc:
        publication._exception = exc
        logger.warning("publishing run %r failed", run_id, exc_info=True)
        ending = _ending(run_id, last, describe_failure(exc))
    finally:
        publication._finishing = True
        renewer.cancel()
        await _settle(publication, events, renewer, token, ending)


def _ending(run_id: str, last: Event | None, error: ErrorInfo | None) -> Done:
    """The Done a publication appends itself: `error` if given, else `cancelled`."""
    return Done(
        seq=0 if last is None else last.seq + 1,
        run_id=run_id,
        agent=None if last is None else last.agent,
        timestamp=_now_ms(),
        status="cancelled" if error is None else "error",
        last_agent=None if last is None else last.agent,
        error=error,
    )


async def _settle(
    publication: Publication,
    events: AsyncIterable[Event],
    renewer: asyncio.Task[None],
    token: str,
    ending: Done | None,
) -> None:
    """Close the source, append the ending, release the lease: shielded, bounded in time."""
    log, run_id = publication.log, publication.run_id

    async def settle() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        aclose = getattr(events, "aclose", None)
        if callable(aclose):
            try:
                await aclose()
            except Exception:
                logger.warning("closing the events of run %r failed", run_id, exc_info=True)
        done = ending
        if isinstance(events, EventStream) and events.done is not None and done is not None:
            # The stream's own Done (cancelled, with the partial text) beats a synthesized one;
            # its seq may count events the stream dropped when it closed, so it is renumbered.
            done = events.done.model_copy(update={"seq": done.seq})
        if done is not None and publication._done is None:
            try:
                # A cancellation can land while an append is in flight but already applied:
                # the log, not what this task saw, says which seq comes next.
                info = await log.info(run_id)
                if info is not None and info.next_seq != done.seq:
                    done = done.model_copy(update={"seq": info.next_seq})
                await log.append(run_id, done)
                publication._done = done
            except Exception as exc:
                publication._exception = publication._exception or exc
                logger.warning("could not append the done of run %r", run_id, exc_info=True)
        try:
            await log.release_lease(run_id, token)
        except Exception:
            logger.warning("could not release the lease of run %r", run_id, exc_info=True)

    task = asyncio.get_running_loop().create_task(settle())
    try:
        await asyncio.wait_for(asyncio.shield(task), SETTLE_TIMEOUT + 1.0)
    except asyncio.CancelledError:
        await asyncio.wait({task}, timeout=SETTLE_TIMEOUT + 1.0)
        raise
    except asyncio.TimeoutError:
        logger.warning("publishing run %r did not settle in time", run_id)


def subscribe(log: EventLog, run_id: str, after: int | None = -1) -> AsyncIterator[Event]:
    """Read a run from a log: the events with `seq > after`, then live ones until `Done`.

    `after=-1` (the default) starts at the first event, `after=n` after the event with seq `n`
    (the last one a client saw: its SSE `Last-Event-ID`), `after=None` with what comes next. It
    ends after `Done`, which a reader synthesizes (`ProducerLost`) if the producer died. A
    position past the end of an ended run reads nothing; past the end of a running run, the
    reader waits for its seq without slowing the run's other readers.

    Raises:
        RunNotFoundError: (while iterating) the run is not in the log.
        EventsTrimmedError: (while iterating) the events after `after` are no longer kept.
        ConfigurationError: `log` or `run_id` is invalid, or `after` is not None or an `int`
            from -1 to 2**63 - 1.

    """
    if not isinstance(log, EventLog):
        raise ConfigurationError(f"log must be an EventLog, got {type(log).__name__}")
    return read_run(log, check_run_id(run_id), check_after(after))


# The web side


def resume_position(request: Request) -> int:
    """The seq a reconnecting client saw last: its `Last-Event-ID` header or `?after=`, else -1.

    A position is ASCII digits (a seq from 0 to 2**63 - 1) or `-1` (from the start); anything
    else, an empty value included, is refused: no sign but that `-`, no spaces, no `_`, no other
    digits. When both are present the larger wins: a browser's `EventSource` reconnects to the
    URL it first opened (with its `?after=`) and adds the `Last-Event-ID` of what it has seen
    since.

    Raises:
        ConfigurationError: a value is not such a position (a short prefix of it is named).

    """
    position = -1
    for name, value in (
        ("Last-Event-ID", request.headers.get("last-event-id")),
        ("after", request.query_params.get("after")),
    ):
        if value is None:
            continue
        seq = _position(value)
        if seq is None:
            shown = value if len(value) <= 32 else f"{value[:32]}..."
            raise ConfigurationError(f"{name} must be an event seq (a whole number), got {shown!r}")
        position = max(position, seq)
    return position


UNAVAILABLE_RETRY_AFTER: Final = 1
"""The `Retry-After` seconds of a resume answered `503`: the event log was unavailable."""

_POSITION: Final = re.compile(r"-1|[0-9]{1,19}", re.ASCII)
"""What a position may look like; `[0-9]`, not `\\d`, which matches every script's digits."""


def _position(value: str) -> int | None:
    """The seq `value` names, or None if it is not `-1` or ASCII digits within `MAX_SEQ`."""
    if _POSITION.fullmatch(value) is None:
        return None
    seq = int(value)
    return seq if seq <= MAX_SEQ else None


def _web() -> None:
    try:
        import starlette  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise MissingExtraError("resumable SSE endpoints", "web") from exc


async def resume_response(
    log: EventLog,
    run_id: str,
    request: Request,
    *,
    heartbeat: float | None = 15.0,
    retry: int | None = None,
    encode: Encoder | None = None,
    media_type: str = "text/event-stream",
    headers: Mapping[str, str] | None = None,
    send_timeout: float | None = None,
) -> Response:
    """Answer a (re)connecting client with the run's events after the last one it saw.

    The position comes from `resume_position(request)`. The answer is:

    - `200`, the events with `seq > position` as SSE frames (`id:` is the seq, so a browser's
      `EventSource` reconnects with the right `Last-Event-ID`), following the run live until
      `Done`, with `: ping` heartbeats;
    - `204` when the log holds no such run (the AI SDK's "no active stream"), or when the
      position is the seq of the run's stored `Done` (the client saw the end: a browser's
      `EventSource` stops reconnecting on a 204, and reconnects after an empty 200);
    - `503` with `Retry-After` when the log cannot be reached within its retry budget
      (`EventLogUnavailableError`, logged as a warning); once the events flow, an outage ends
      the stream with `done(error, EventLogUnavailable)` instead;
    - `400` when the position is not `-1` or ASCII digits within 2**63 - 1, `410` when the
      events after it were trimmed, `416` when it is past the run's last written seq (a client
      can only have seen a seq the log wrote), whether the run has ended or not.

    A client that disconnects, or does not read for `send_timeout` seconds, only stops its own
    reading: the run goes on in its producer.

    Args:
        log: The log holding the run.
        run_id: The run to read.
        request: The Starlette or FastAPI request.
        heartbeat: Seconds without an event after which `: ping` is sent (`to_sse` only).
        retry: The `retry:` field sent first: the browser's reconnection delay, in ms.
        encode: Turns events into frames instead of `to_sse` (e.g. `ai_sdk.encode` for `useChat`,
            which resumes from the start, and sends its own pings); `heartbeat` and `retry` are
            then not used.
        media_type: The response's content type, as sent.
        headers: More response headers; they may override the defaults.
        send_timeout: Seconds one write may wait for a client that does not read; then the
            response stops. None waits as long as it takes.

    Raises:
        MissingExtraError: the `web` extra is not installed.
        ConfigurationError: `heartbeat`, `retry` or `send_timeout` is invalid, or a retry is
            asked for with a custom `encode`.

    """
    _web()
    from starlette.responses import PlainTextResponse, Response

    from ._checks import check_seconds

    heartbeat = check_heartbeat(heartbeat)
    send_timeout = check_seconds("send_timeout", send_timeout)
    if encode is not None and retry is not None:
        raise ConfigurationError(f"retry applies to to_sse only, got retry={retry!r} with encode")
    check_run_id(run_id)
    try:
        after = resume_position(request)
    except ConfigurationError as exc:
        return PlainTextResponse(str(exc), status_code=400)
    try:
        info = await log.info(run_id)
    except EventLogUnavailableError as exc:
        # Past the log's retry budget: a temporary condition, which a client may retry.
        logger.warning("resuming run %r: %s", run_id, exc)
        return PlainTextResponse(
            "the event log is unavailable; retry later",
            status_code=503,
            headers={"retry-after": str(UNAVAILABLE_RETRY_AFTER)},
        )
    if info is None:
        return Response(status_code=204)
    if after + 1 < info.first_seq:
        return PlainTextResponse(
            f"the events of run {run_id!r} after seq {after} are no longer kept "
            f"(the oldest kept is seq {info.first_seq})",
            status_code=410,
        )
    if after >= info.next_seq:
        # A client can only have seen a seq the log has written: a position past the last one
        # names nothing of this run (forged, or from a log that lost appends in a failover).
        return PlainTextResponse(
            f"run {run_id!r} has no event at seq {after}: its last written seq is "
            f"{info.next_seq - 1}",
            status_code=416,
        )
    if info.done and after == info.next_seq - 1:
        # The client saw the run's `done`: nothing follows. 204 is how the SSE standard tells an
        # `EventSource` to stop reconnecting (an empty 200 makes it reconnect for ever).
        return Response(status_code=204)
    return log_response(
        log,
        run_id,
        after,
        heartbeat=heartbeat,
        retry=retry,
        encode=encode,
        media_type=media_type,
        headers=headers,
        send_timeout=send_timeout,
    )


def log_response(
    log: EventLog,
    run_id: str,
    after: int,
    *,
    heartbeat: float | None,
    retry: int | None = None,
    encode: Encoder | None = None,
    media_type: str = "text/event-stream",
    headers: Mapping[str, str] | None = None,
    send_timeout: float | None = None,
    ndjson: bool = False,
) -> Response:
    """Stream the run's events with `seq > after` from the log, live until a `Done`.

    As SSE frames, or with `ndjson` as NDJSON lines (empty lines as heartbeats).
    """
    from ._transport import (
        NDJSON_HEADERS,
        SSE_HEADERS,
        StreamedResponse,
        merged_headers,
        ndjson_body,
        sse_body,
    )

    events = read_run(log, run_id, after)
    # `stream_response`'s body: every event ready at once in one write, the same frames as
    # `to_sse`; however the response ends (client gone, send timeout, server shutting down),
    # it stops reading the log.
    if ndjson:
        body: Any = ndjson_body(events, heartbeat)
        return StreamedResponse(
            body,
            closables=(events,),
            headers=merged_headers(NDJSON_HEADERS, headers),
            send_timeout=send_timeout,
        )
    body = sse_body(events, heartbeat, retry) if encode is None else encode(events)
    base = SSE_HEADERS
    if media_type != "text/event-stream":
        base = merged_headers(SSE_HEADERS, {"content-type": media_type})
    return StreamedResponse(
        body,
        closables=(events,),
        headers=merged_headers(base, headers),
        send_timeout=send_timeout,
    )


RunIdSource: TypeAlias = "str | Callable[[Request], Awaitable[str | None]]"
"""A path parameter's name, or an async function mapping a request to a run id (None: no run)."""


def resumable_sse_endpoint(
    log: EventLog,
    *,
    run_id: RunIdSource = "run_id",
    heartbeat: float | None = 15.0,
    retry: int | None = None,
    encode: Encoder | None = None,
    media_type: str = "text/event-stream",
    headers: Mapping[str, str] | None = None,
    send_timeout: float | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette/FastAPI endpoint that streams a run from a log, resuming after `Last-Event-ID`.

    ```python
    app = Starlette(routes=[Route("/runs/{run_id}/stream", resumable_sse_endpoint(log))])
    ```

    Args:
        log: The log holding the runs.
        run_id: The path parameter holding the run id, or an async function that finds it from
            the request (e.g. a chat's active run, for the AI SDK's
            `GET /api/chat/{id}/stream`); when it returns None the answer is `204`.
        heartbeat: As for `resume_response()`.
        retry: As for `resume_response()`.
        encode: As for `resume_response()`.
        media_type: As for `resume_response()`.
        headers: As for `resume_response()`.
        send_timeout: As for `resume_response()`.

    Raises:
        MissingExtraError: the `web` extra is not installed.
        ConfigurationError: an argument has a value that cannot work.

    """
    _web()
    from starlette.responses import Response

    from ._checks import check_seconds

    if not isinstance(log, EventLog):
        raise ConfigurationError(f"log must be an EventLog, got {type(log).__name__}")
    if not (isinstance(run_id, str) and run_id) and not callable(run_id):
        raise ConfigurationError(
            f"run_id must be a path parameter name or an async function, got {run_id!r}"
        )
    check_heartbeat(heartbeat)
    check_seconds("send_timeout", send_timeout)
    if encode is not None and retry is not None:
        raise ConfigurationError(f"retry applies to to_sse only, got retry={retry!r} with encode")

    async def endpoint(request: Request) -> Response:
        if isinstance(run_id, str):
            run: str | None = request.path_params.get(run_id)
        else:
            run = await run_id(request)
        if not run:
            return Response(status_code=204)
        return await resume_response(
            log,
            run,
            request,
            heartbeat=heartbeat,
            retry=retry,
            encode=encode,
            media_type=media_type,
            headers=headers,
            send_timeout=send_timeout,
        )

    return resolved(endpoint)
