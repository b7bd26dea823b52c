"""Serve agentstream events from Starlette or FastAPI: SSE, NDJSON, one JSON document, a WebSocket.

```python
from agentstream.web import stream_response

@app.post("/chat")
async def chat(request: Request) -> Response:
    body = await request.json()
    return stream_response(Runner.run_streamed(agent, body["prompt"]))
```

Tasks of one streaming response (the picture is in `docs/web.md`): `_StreamResponse` runs, in one
task group, the *writer* (which pulls ready events in batches, encodes each batch as one chunk of
whole frames and sends it in one ASGI message), a *disconnect listener* and, when sse-starlette
provides it, a *shutdown listener*; the first of them to finish cancels the others. The writer
owns the event stream: however it stops (the stream ended, the client went away, the server shuts
down, a send timed out), its `finally` closes the stream, shielded from the cancellation and
bounded in time, and closing the stream cancels the run (`result.cancel()`) and waits for it.
Heartbeats come from `ticks`, which waits for the next event with a timeout that never cancels
the run.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

from ._checks import check_seconds
from ._errors import ConfigurationError, MissingExtraError
from ._events import Done, Event
from ._normalize import EventStream, normalize
from ._streams import check_heartbeat, close_shielded, lazy_ticks, ticks, until_disconnected

try:
    import anyio
    from sse_starlette.sse import EventSourceResponse
    from starlette.responses import Response, StreamingResponse
    from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingExtraError("agentstream.web", "web") from exc

if TYPE_CHECKING:
    from agents.result import RunResultStreaming
    from starlette.requests import Request
    from starlette.types import Message, Receive, Scope, Send

    from ._buffering import BufferPolicy

__all__ = [
    "SSE_MEDIA_TYPE",
    "NDJSON_MEDIA_TYPE",
    "Format",
    "Source",
    "choose_format",
    "event_response",
    "json_response",
    "send_websocket",
    "stream_response",
]

logger = logging.getLogger("agentstream")

Format: TypeAlias = Literal["sse", "ndjson", "json"]
"""How events go on the wire: Server-Sent Events, one JSON object per line, or one JSON document."""

Source: TypeAlias = "RunResultStreaming | EventStream | AsyncIterable[Event]"
"""What the helpers accept: a streaming run (normalized here), an `EventStream`, or any events."""

SSE_MEDIA_TYPE: Final = "text/event-stream"
"""Content type of an SSE response (Starlette adds `; charset=utf-8`)."""

NDJSON_MEDIA_TYPE: Final = "application/x-ndjson"
"""Content type of an NDJSON response."""

STREAM_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
"""Headers every streaming response sends: no caching, no proxy buffering (nginx)."""

"""Seconds the cleanup waits for a source to close before it logs and gives up."""

_MEDIA_TYPES: Final[Mapping[str, Format]] = {
    "text/event-stream": "sse",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/x-jsonlines": "ndjson",
    "application/json": "json",
}


# Sources


def _abandon(source: object) -> None:
    """A response could not be built: a run given to it must not go on with nobody reading."""
    if isinstance(source, EventStream):
        source.result.cancel()
    elif callable(getattr(source, "stream_events", None)):
        cancel = getattr(source, "cancel", None)
        if callable(cancel):
            cancel()


@contextlib.contextmanager
def _abandoned_on_error(source: object) -> Iterator[None]:
    """Abandon `source` (a run is cancelled) when its checks raise `ConfigurationError`."""
    try:
        yield
    except ConfigurationError:
        _abandon(source)
        raise


def _open(
    source: Source,
    *,
    idle_timeout: float | None,
    buffer: BufferPolicy | None,
    run_id: str | None,
    expose_errors: bool,
) -> AsyncIterable[Event]:
    """Turn a source into events; a run is normalized with the given options."""
    if not isinstance(source, EventStream) and callable(getattr(source, "stream_events", None)):
        return normalize(
            source,  # type: ignore[arg-type]
            idle_timeout=idle_timeout,
            buffer=buffer,
            run_id=run_id,
            expose_errors=expose_errors,
        )
    if not isinstance(source, AsyncIterable):
        raise ConfigurationError(
            "expected the result of Runner.run_streamed(...), an EventStream or an async "
            f"iterable of events, got {type(source).__name__}"
        )
    given = {
        "idle_timeout": idle_timeout,
        "buffer": buffer,
        "run_id": run_id,
        "expose_errors": expose_errors or None,
    }
    passed = sorted(name for name, value in given.items() if value is not None)
    if passed:
        # An option that cannot apply must not be silently ignored.
        raise ConfigurationError(
            f"{', '.join(passed)} apply only to a run (the result of Runner.run_streamed); "
            f"pass them to normalize() instead, got a {type(source).__name__}"
        )
    return source


async def _sse_body(
    events: AsyncIterable[Event], heartbeat: float | None, retry: int | None
) -> AsyncIterator[bytes]:
    """The SSE body in chunks: the frames `to_sse()` writes, every ready event's in one chunk."""
    from ._sse import PING, SSEWriter

    if retry is not None:
        yield f"retry: {retry}\n\n".encode()
    ping = PING.encode()
    writer = SSEWriter()
    async with contextlib.aclosing(lazy_ticks(events, heartbeat)) as batches:
        async for batch in batches:
            yield ping if batch is None else writer.chunk(batch).encode()


async def _ndjson_body(
    events: AsyncIterable[Event], heartbeat: float | None
) -> AsyncIterator[bytes]:
    """The NDJSON body in chunks: the lines `to_ndjson()` writes, every ready event's in one."""
    from ._ndjson import KEEPALIVE, ndjson_line

    keepalive = KEEPALIVE.encode()
    async with contextlib.aclosing(ticks(events, heartbeat)) as batches:
        async for batch in batches:
            if batch is None:
                yield keepalive
            else:
                yield "".join([ndjson_line(event) for event in batch]).encode()


_exit_signal = getattr(EventSourceResponse, "_listen_for_exit_signal", None)
"""sse-starlette's wait for the server's exit (one shared watcher per event loop), if it has one."""


class _StreamResponse(StreamingResponse):
    """Sends a body of ready chunks; a disconnect, a server shutdown or a stuck send ends it.

    Each chunk is one ASGI `http.response.body` message: the frames of every event ready at that
    moment, so a burst costs one send, not one per event. However the response ends, the body
    and the event source are closed, which cancels a run.
    """

    def __init__(
        self,
        body: AsyncIterator[bytes],
        events: AsyncIterable[Event],
        *,
        status_code: int,
        headers: Mapping[str, str],
        media_type: str,
        send_timeout: float | None,
    ) -> None:
        super().__init__(body, status_code=status_code, headers=headers, media_type=media_type)
        self._body = body
        self._events = events
        self._send_timeout = send_timeout

    async def _send(self, send: Send, message: Message) -> bool:
        """Send one message; False when `send_timeout` passed first."""
        if self._send_timeout is None:
            await send(message)
            return True
        with anyio.move_on_after(self._send_timeout) as scope:
            await send(message)
        if scope.cancelled_caught:
            logger.warning(
                "a client did not read for send_timeout=%s s: the stream is stopped",
                self._send_timeout,
            )
            return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message = {
            "type": "http.response.start",
            "status": self.status_code,
            "headers": self.raw_headers,
        }
        failure: Exception | None = None
        try:
            if scope.get("method", "GET").upper() == "HEAD":
                # Headers only; the run is cancelled in the `finally`.
                if await self._send(send, start):
                    await self._send(send, {"type": "http.response.body", "body": b""})
                return

            async def write() -> None:
                nonlocal failure
                try:
                    if not await self._send(send, start):
                        return
                    async for chunk in self._body:
                        message = {"type": "http.response.body", "body": chunk, "more_body": True}
                        if not await self._send(send, message):
                            return
                    await self._send(send, {"type": "http.response.body", "body": b""})
                except OSError:
                    pass  # the client went away while we wrote (ASGI spec 2.4)
                except Exception as exc:
                    failure = exc
                finally:
                    await close_shielded(self._body, self._events)
                    group.cancel_scope.cancel()

            async def watch() -> None:
                await until_disconnected(receive, "http.disconnect")
                group.cancel_scope.cancel()

            async def shutdown() -> None:
                assert _exit_signal is not None
                await _exit_signal()
                group.cancel_scope.cancel()

            async with anyio.create_task_group() as group:
                group.start_soon(write)
                group.start_soon(watch)
                if _exit_signal is not None:
                    group.start_soon(shutdown)
        finally:
            # A no-op after `write` ran; needed when it never did (HEAD, an early cancel).
            await close_shielded(self._body, self._events)
        if failure is not None:
            raise failure


def _event_json(event: Event) -> str:
    return event.model_dump_json()


# Responses


def stream_response(
    source: Source,
    *,
    format: Literal["sse", "ndjson"] = "sse",
    heartbeat: float | None = 15.0,
    retry: int | None = None,
    send_timeout: float | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    idle_timeout: float | None = None,
    buffer: BufferPolicy | None = None,
    run_id: str | None = None,
    expose_errors: bool = False,
) -> Response:
    """Stream a run, or any events, as an SSE or NDJSON response that cancels the run on disconnect.

    Args:
        source: The result of `Runner.run_streamed(...)` (normalized here), an `EventStream`, or
            any async iterable of events.
        format: `sse` (`text/event-stream`, frames `id:`/`event:`/`data:`) or `ndjson`
            (`application/x-ndjson`, one JSON object per line).
        heartbeat: Seconds without an event after which a keep-alive is sent, so proxies keep
            the connection open: a `: ping` comment in SSE, an empty line in NDJSON (a strict
            NDJSON reader may reject it: pass None for such clients). None sends none.
        retry: Milliseconds the browser should wait before reconnecting (SSE `retry:` field).
        send_timeout: Seconds one write may block on a client that does not read; then the
            response is torn down and the run cancelled. None waits as long as it takes.
        status_code: The HTTP status.
        headers: More headers; they may override `Cache-Control`.
        idle_timeout: Passed to `normalize()` (a run only).
        buffer: Passed to `normalize()` (a run only).
        run_id: Passed to `normalize()` (a run only).
        expose_errors: Passed to `normalize()` (a run only): put a failed run's exception text on
            the wire. Off by default.

    Returns:
        A Starlette response; return it from a Starlette or FastAPI endpoint.

    Raises:
        ConfigurationError: an argument has a value that cannot work, or normalize options were
            given with a source that is not a run.

    """
    with _abandoned_on_error(source):
        if format not in ("sse", "ndjson"):
            raise ConfigurationError(f"format must be 'sse' or 'ndjson', got {format!r}")
        heartbeat = check_heartbeat(heartbeat)
        send_timeout = check_seconds("send_timeout", send_timeout)
        if retry is not None and (
            isinstance(retry, bool) or not isinstance(retry, int) or retry < 0
        ):
            raise ConfigurationError(
                f"retry must be a whole number of milliseconds >= 0, got {retry!r}"
            )
        if format == "ndjson" and retry is not None:
            raise ConfigurationError(f"retry applies to SSE only, got retry={retry!r} with ndjson")
        events = _open(
            source,
            idle_timeout=idle_timeout,
            buffer=buffer,
            run_id=run_id,
            expose_errors=expose_errors,
        )
    if format == "sse":
        body = _sse_body(events, heartbeat, retry)
        media_type = SSE_MEDIA_TYPE
    else:
        body = _ndjson_body(events, heartbeat)
        media_type = NDJSON_MEDIA_TYPE
    return _StreamResponse(
        body,
        events,
        status_code=status_code,
        # `Connection` as sse-starlette sent it; HTTP/2 and HTTP/3 servers drop it.
        headers={"Connection": "keep-alive", **STREAM_HEADERS, **(headers or {})},
        media_type=media_type,
        send_timeout=send_timeout,
    )


class _CollectedResponse(Response):
    """Reads every event, then answers `{"done": ..., "events": [...]}`; a disconnect cancels."""

    media_type = "application/json"

    def __init__(
        self,
        events: AsyncIterable[Event],
        *,
        status_code: int,
        headers: Mapping[str, str] | None,
    ) -> None:
        super().__init__(status_code=status_code, headers=headers)
        self._events = events
        self._extra_headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        events = self._events
        collected: list[Event] = []
        failure: Exception | None = None
        disconnected = False

        async def collect() -> None:
            nonlocal failure
            try:
                if scope.get("method", "GET").upper() != "HEAD":
                    collected.extend([event async for event in events])
            except Exception as exc:
                failure = exc
            finally:
                await close_shielded(events)
                group.cancel_scope.cancel()

        async def watch() -> None:
            nonlocal disconnected
            await until_disconnected(receive, "http.disconnect")
            disconnected = True
            group.cancel_scope.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(collect)
            group.start_soon(watch)
        if failure is not None:
            raise failure
        if disconnected:
            return
        done = collected[-1] if collected and isinstance(collected[-1], Done) else None
        body = '{"done":%s,"events":[%s]}' % (  # noqa: UP031 - the JSON is already encoded
            "null" if done is None else _event_json(done),
            ",".join(_event_json(event) for event in collected),
        )
        self.body = body.encode("utf-8")
        self.init_headers(self._extra_headers)
        await super().__call__(scope, receive, send)


def json_response(
    source: Source,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    idle_timeout: float | None = None,
    buffer: BufferPolicy | None = None,
    run_id: str | None = None,
    expose_errors: bool = False,
) -> Response:
    """Answer with the whole run as one JSON document, for clients that cannot stream.

    The body is `{"done": <the Done event>, "events": [<every event, Done last>]}`; `done` is null
    only when a source other than a run ends without a `Done`. The run is read when the response
    is sent, and a client that disconnects before the end cancels it. Arguments are those of
    `stream_response()`.
    """
    with _abandoned_on_error(source):
        events = _open(
            source,
            idle_timeout=idle_timeout,
            buffer=buffer,
            run_id=run_id,
            expose_errors=expose_errors,
        )
    return _CollectedResponse(
        events,
        status_code=status_code,
        headers={"Cache-Control": "no-cache", **(headers or {})},
    )


def choose_format(accept: str | None, *, default: Format = "sse") -> Format:
    """Pick the format a request's `Accept` header prefers among SSE, NDJSON and JSON.

    `text/event-stream` means `sse`; `application/x-ndjson` (or `application/ndjson`,
    `application/jsonl`) means `ndjson`; `application/json` means `json`. The highest `q` wins,
    then the earliest; no header, `*/*`, or only other types give `default`.
    """
    if default not in ("sse", "ndjson", "json"):
        raise ConfigurationError(f"default must be 'sse', 'ndjson' or 'json', got {default!r}")
    best: tuple[float, Format] | None = None
    for part in (accept or "").split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        chosen = _MEDIA_TYPES.get(media.lower())
        if chosen is None:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and (best is None or quality > best[0]):
            best = (quality, chosen)
    return default if best is None else best[1]


def event_response(
    request: Request,
    source: Source,
    *,
    default: Format = "sse",
    heartbeat: float | None = 15.0,
    retry: int | None = None,
    send_timeout: float | None = None,
    headers: Mapping[str, str] | None = None,
    idle_timeout: float | None = None,
    buffer: BufferPolicy | None = None,
    run_id: str | None = None,
    expose_errors: bool = False,
) -> Response:
    """Answer in the format the request asks for: `?stream=false` or its `Accept` header.

    `?stream=false` (or `0`, `no`) gives `json_response()`; otherwise `choose_format()` reads the
    `Accept` header, falling back to `default`. The other arguments are those of
    `stream_response()`; `retry` matters for SSE only.
    """
    options: dict[str, Any] = {
        "headers": headers,
        "idle_timeout": idle_timeout,
        "buffer": buffer,
        "run_id": run_id,
        "expose_errors": expose_errors,
    }
    if request.query_params.get("stream", "").lower() in ("false", "0", "no"):
        chosen: Format = "json"
    else:
        chosen = choose_format(request.headers.get("accept"), default=default)
    if chosen == "json":
        return json_response(source, **options)
    if chosen == "ndjson":
        return stream_response(
            source, format="ndjson", heartbeat=heartbeat, send_timeout=send_timeout, **options
        )
    return stream_response(
        source,
        format="sse",
        heartbeat=heartbeat,
        retry=retry,
        send_timeout=send_timeout,
        **options,
    )


# WebSocket


async def send_websocket(
    websocket: WebSocket,
    source: Source,
    *,
    close: bool = True,
    idle_timeout: float | None = None,
    buffer: BufferPolicy | None = None,
    run_id: str | None = None,
    expose_errors: bool = False,
) -> Done | None:
    """Send each event as one JSON text message on an accepted WebSocket.

    While it sends, it also reads the socket to notice a disconnect: when the client goes away,
    the run is cancelled and the function returns. Messages the client sends meanwhile are
    dropped. With `close` (the default) the socket is closed (code 1000) after the last event if
    the client is still there.

    Args:
        websocket: A Starlette or FastAPI `WebSocket`, already accepted.
        source: As for `stream_response()`.
        close: Close the socket when the stream is over.
        idle_timeout: Passed to `normalize()` (a run only).
        buffer: Passed to `normalize()` (a run only).
        run_id: Passed to `normalize()` (a run only).
        expose_errors: Passed to `normalize()` (a run only).

    Returns:
        The stream's `Done` (status `cancelled` after a disconnect), or None when a source other
        than a run ended without one.

    """
    with _abandoned_on_error(source):
        if websocket.application_state != WebSocketState.CONNECTED:
            raise ConfigurationError(
                "accept the websocket before sending events; its state is "
                f"{websocket.application_state.name}"
            )
        events = _open(
            source,
            idle_timeout=idle_timeout,
            buffer=buffer,
            run_id=run_id,
            expose_errors=expose_errors,
        )
    last_done: Done | None = None
    failure: Exception | None = None
    disconnected = False

    async def pump() -> None:
        nonlocal last_done, failure, disconnected
        try:
            async for event in events:
                if isinstance(event, Done):
                    last_done = event
                await websocket.send_text(_event_json(event))
        except WebSocketDisconnect:
            disconnected = True
        except Exception as exc:
            failure = exc
        finally:
            await close_shielded(events)
            group.cancel_scope.cancel()

    async def watch() -> None:
        nonlocal disconnected
        await until_disconnected(websocket.receive, "websocket.disconnect")
        disconnected = True
        group.cancel_scope.cancel()

    async with anyio.create_task_group() as group:
        group.start_soon(pump)
        group.start_soon(watch)
    if failure is not None:
        raise failure
    if close and not disconnected and websocket.application_state == WebSocketState.CONNECTED:
        # The client may leave between the last event and the close: nothing to close then.
        with contextlib.suppress(WebSocketDisconnect):
            await websocket.close(code=1000)
    if isinstance(events, EventStream):
        return events.done
    return last_done
