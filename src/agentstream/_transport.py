"""The web transport: one supervisor for every streamed response, and the Starlette response on it.

Every response agentstream streams is a `StreamedResponse`: `stream_response` (SSE, NDJSON),
`json_response`, the AG-UI and AI SDK endpoints and `resume_response`. `send_websocket` runs the
same supervisor over a socket. So they all share one send timeout, one way to notice a client
that left, one cleanup, and Starlette's `background`.

Tasks of one response (the picture is in `docs/web.md`), in one task group (`supervise`):

- the *writer* sends the response start, then each chunk of the body as one ASGI message; each
  send waits at most `send_timeout` seconds (`timed_send`);
- the *disconnect watcher* waits for the client's disconnect message.

Whichever finishes first cancels the other, as sse-starlette's `cancel_on_finish` does. However
the response ends (the body ended, the client left, a send timed out, the server cancelled the
request, the body raised), the `finally` closes the body and the event source, shielded from the
cancellation and bounded in time (`close_shielded`): closing an `EventStream` cancels its run
and waits for it. Then `response.background` runs, as after Starlette's own `StreamingResponse`,
also after a disconnect; not when the body raised or the request was cancelled.

Server shutdown has no task of its own. A watcher of the server's exit flag needs a private
hook: sse-starlette wraps uvicorn's `Server.handle_exit` when it is imported and reads the
signal handler to find the server. This module relies instead on what servers document: on
shutdown uvicorn sends `websocket.disconnect` (code 1012) to open WebSockets, which the watcher
sees, and cancels the HTTP requests still running after `timeout_graceful_shutdown` seconds
(Hypercorn: `graceful_timeout`); that cancellation reaches this task group like any other, and
the `finally` above cancels the run. Run uvicorn with `--timeout-graceful-shutdown` (the
`agentstream serve` command sets 5 s): without it uvicorn waits for every open stream to end.

Heartbeats are part of the body, never a task of their own: the bodies below wait for the next
event with `ticks`, which gives None after `heartbeat` seconds without one, and write the
keep-alive of their media type then. The bridges' frames do the same (`Bridge.stream`), with
the same `PING`.
"""

from __future__ import annotations

import contextlib
import logging
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, TypeVar

import anyio

from ._events import Done
from ._streams import close_shielded, lazy_ticks, ticks, until_disconnected
from ._telemetry import bytes_sent, disconnected

if TYPE_CHECKING:
    from collections.abc import (
        AsyncIterable,
        AsyncIterator,
        Awaitable,
        Callable,
        Mapping,
        Sequence,
    )

    from starlette.background import BackgroundTask
    from starlette.responses import StreamingResponse
    from starlette.types import Message, Receive, Scope, Send

    from ._events import Event
else:
    try:
        from starlette.responses import StreamingResponse
    except ImportError:  # pragma: no cover - depends on the installed extras
        # The constants of this module serve the bridges without the web extra; the response
        # class is only made by modules that raised `MissingExtraError` before without it.
        StreamingResponse = object

__all__ = [
    "JSON_HEADERS",
    "JSON_KEEPALIVE",
    "NDJSON_HEADERS",
    "NDJSON_MEDIA_TYPE",
    "SSE_HEADERS",
    "SSE_MEDIA_TYPE",
    "Body",
    "Outcome",
    "SendTimeoutError",
    "StreamedResponse",
    "json_body",
    "merged_headers",
    "send_streamed",
    "ndjson_body",
    "sse_body",
    "supervise",
    "timed_send",
]

logger = logging.getLogger("agentstream.web")
"""Clients that left, and clients that stopped reading (`send_timeout`): one INFO record a
response."""

SSE_MEDIA_TYPE: Final = "text/event-stream"
"""Media type of an SSE response."""

NDJSON_MEDIA_TYPE: Final = "application/x-ndjson"
"""Media type of an NDJSON response."""

SSE_HEADERS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
        "connection": "keep-alive",
    }
)
"""Headers of every SSE response: its type, no caching, no proxy buffering (nginx), and
`connection: keep-alive` for HTTP/1.1 (HTTP/2 and HTTP/3 servers drop it). The AG-UI and AI SDK
headers build on it."""

NDJSON_HEADERS: Final[Mapping[str, str]] = MappingProxyType(
    {**SSE_HEADERS, "content-type": NDJSON_MEDIA_TYPE}
)
"""Headers of every NDJSON response: those of SSE with its own type."""

JSON_HEADERS: Final[Mapping[str, str]] = MappingProxyType(
    {"content-type": "application/json", "cache-control": "no-cache", "x-accel-buffering": "no"}
)
"""Headers of a collected JSON response (`json_response`): no caching, no proxy buffering, so
its keep-alives reach the client while the run goes on."""

JSON_KEEPALIVE: Final = "\n"
"""The keep-alive of a collected JSON response: whitespace before the document, which JSON
allows (RFC 8259, section 2) and every JSON parser skips."""

Body: TypeAlias = "AsyncIterator[bytes] | AsyncIterator[str]"
"""The body of a streamed response: chunks, each sent as one ASGI message."""

Endpoint = TypeVar("Endpoint", bound="Callable[..., Awaitable[Any]]")

Outcome: TypeAlias = Literal["finished", "disconnected", "stuck"]
"""How a supervised response ended: the body ended, the client left, or a send timed out."""


def merged_headers(base: Mapping[str, str], extra: Mapping[str, str] | None) -> dict[str, str]:
    """`base` with `extra` on top; names compare case-insensitively, so `extra` overrides."""
    merged = dict(base)
    for name, value in (extra or {}).items():
        merged[name.lower()] = value
    return merged


def resolved(endpoint: Endpoint) -> Endpoint:
    """`endpoint(request)` with its annotations as classes rather than strings.

    FastAPI reads a handler's signature to know what to inject. Under `from __future__ import
    annotations` the annotations are strings, and FastAPI cannot resolve a name imported for
    type checking only: `app.add_api_route(path, endpoint)` would ask the client for a
    `request` query parameter (HTTP 422). Starlette itself does not look.
    """
    from starlette.requests import Request
    from starlette.responses import Response

    endpoint.__annotations__ = {"request": Request, "return": Response}
    return endpoint


# The bodies


async def sse_body(
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


async def ndjson_body(
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


async def json_body(events: AsyncIterable[Event], heartbeat: float | None) -> AsyncIterator[bytes]:
    """`{"done": ..., "events": [...]}` once every event is read, `JSON_KEEPALIVE` meanwhile."""
    keepalive = JSON_KEEPALIVE.encode()
    collected: list[Event] = []
    async with contextlib.aclosing(ticks(events, heartbeat)) as batches:
        async for batch in batches:
            if batch is None:
                yield keepalive
            else:
                collected.extend(batch)
    done = collected[-1] if collected and isinstance(collected[-1], Done) else None
    body = '{"done":%s,"events":[%s]}' % (  # noqa: UP031 - the JSON is already encoded
        "null" if done is None else done.model_dump_json(),
        ",".join([event.model_dump_json() for event in collected]),
    )
    yield body.encode()


# The supervisor


class SendTimeoutError(Exception):
    """One send waited longer than `send_timeout`: the client does not read. Never leaves here.

    Not a `TimeoutError`: that is an `OSError`, which the supervisor reads as a client gone.
    """


def timed_send(
    send: Callable[[Message], Awaitable[None]], send_timeout: float | None
) -> Callable[[Message], Awaitable[None]]:
    """`send`, raising `SendTimeoutError` when one message waits longer than `send_timeout`.

    With None it is `send` itself: no cancel scope per message when no timeout is asked for.
    """
    if send_timeout is None:
        return send

    async def timed(message: Message) -> None:
        with anyio.move_on_after(send_timeout) as scope:
            await send(message)
        if scope.cancelled_caught:
            logger.info(
                "a client did not read for send_timeout=%s s: the stream is stopped", send_timeout
            )
            raise SendTimeoutError(f"a send waited longer than send_timeout={send_timeout} s")

    return timed


async def supervise(
    write: Callable[[], Awaitable[None]],
    receive: Callable[[], Awaitable[Any]],
    disconnect: str,
    *,
    closables: Sequence[object],
    gone: tuple[type[BaseException], ...] = (OSError,),
) -> Outcome:
    """Run `write` while watching `receive` for `disconnect`; the first to end stops the other.

    `write` sends everything (its sends made with `timed_send`); an exception of a type in `gone`
    means the client went away while it wrote (ASGI 2.4 servers raise `OSError`). However this
    ends, `closables` are closed, shielded and bounded (`close_shielded`): an `EventStream`
    among them cancels its run. An exception of `write` (or of `receive`) is raised after that.

    Returns:
        How it ended: `finished`, `disconnected` or `stuck` (a send timed out).

    """
    outcome: Outcome = "finished"
    failure: Exception | None = None
    written = False  # the whole response was sent
    left = False  # the server said the client is gone (which it also says after a response)

    async def writer() -> None:
        nonlocal outcome, failure, written
        try:
            await write()
            written = True
        except SendTimeoutError:
            outcome = "stuck"
        except gone:
            outcome = "disconnected"
        except Exception as exc:
            failure = exc
        finally:
            group.cancel_scope.cancel()

    async def watcher() -> None:
        nonlocal failure, left
        try:
            await until_disconnected(receive, disconnect)
            left = True
        except Exception as exc:
            failure = exc
        finally:
            group.cancel_scope.cancel()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(writer)
            group.start_soon(watcher)
    finally:
        await close_shielded(*closables)
    if failure is not None:
        raise failure
    if left and not written and outcome == "finished":
        outcome = "disconnected"
    if outcome == "disconnected":
        logger.info("a client left before its response ended: the response's run is cancelled")
        disconnected()
    return outcome


async def send_streamed(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    status: int,
    headers: Sequence[tuple[bytes, bytes]],
    body: AsyncIterable[str | bytes | memoryview],
    closables: Sequence[object],
    send_timeout: float | None,
    content_type: str,
    charset: str = "utf-8",
) -> None:
    """Send one streamed response over ASGI under `supervise`, and report its bytes.

    Each chunk of `body` is one `http.response.body` message (`str` chunks in `charset`); a
    `HEAD` request gets the headers only. `closables` (the body, the event source) are closed
    however it ends. `StreamedResponse` and `frameworks.asgi_app` both send this way.
    """
    timed = timed_send(send, send_timeout)
    head = str(scope.get("method", "GET")).upper() == "HEAD"
    sent = 0

    async def write() -> None:
        nonlocal sent
        await timed({"type": "http.response.start", "status": status, "headers": list(headers)})
        if not head:
            async for chunk in body:
                data = chunk.encode(charset) if isinstance(chunk, str) else chunk
                await timed({"type": "http.response.body", "body": data, "more_body": True})
                sent += len(data)
        await timed({"type": "http.response.body", "body": b""})

    try:
        await supervise(write, receive, "http.disconnect", closables=closables)
    finally:
        bytes_sent(sent, content_type)


class StreamedResponse(StreamingResponse):
    """A Starlette response whose body is sent under `supervise`.

    Each chunk of the body is one `http.response.body` message. A `HEAD` request gets the
    headers only: the body is never read, only closed. However the response ends, the body and
    `closables` are closed (a run among them is cancelled), then `background` runs, unless the
    body raised or the request was cancelled.
    """

    def __init__(
        self,
        body: Body,
        *,
        headers: Mapping[str, str],
        closables: Sequence[object] = (),
        status_code: int = 200,
        send_timeout: float | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        """Stream `body`, with `headers` (their `content-type` included).

        Args:
            body: The chunks to send (`str` chunks are sent in UTF-8).
            headers: Every header of the response, such as `SSE_HEADERS`.
            closables: What else to close when the response ends: the event source.
            status_code: The HTTP status.
            send_timeout: Seconds one send may wait for a client that does not read (checked
                by the caller); then the response stops. None waits as long as it takes.
            background: Starlette's task, run after the response.

        """
        super().__init__(body, status_code=status_code, headers=headers, background=background)
        self._closables = (body, *closables)
        self._send_timeout = send_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the response (ASGI)."""
        await send_streamed(
            scope,
            receive,
            send,
            status=self.status_code,
            headers=self.raw_headers,
            body=self.body_iterator,
            closables=self._closables,
            send_timeout=self._send_timeout,
            content_type=self.headers.get("content-type", ""),
            charset=self.charset,
        )
        if self.background is not None:
            await self.background()
