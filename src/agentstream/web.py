"""Serve agentstream events from Starlette or FastAPI: SSE, NDJSON, one JSON document, a WebSocket.

```python
from agentstream.web import stream_response

@app.post("/chat")
async def chat(request: Request) -> Response:
    body = await request.json()
    return stream_response(Runner.run_streamed(agent, body["prompt"]))
```

Every response here is a `StreamedResponse` of `_transport`, and `send_websocket` runs the same
supervisor over the socket: a writer and a disconnect watcher, the first to finish cancelling the
other, and a cleanup that closes the event source (which cancels a run) however they end. The
tasks, and who cancels whom, are pictured in `docs/web.md`.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

from typing_extensions import Unpack

from ._checks import check_seconds
from ._errors import ConfigurationError, MissingExtraError
from ._events import Done, Event
from ._frameworks import streamed
from ._normalize import EventStream, abandon, open_source
from ._options import SERVED_MAX_BACKLOG
from ._streams import check_heartbeat

try:
    from starlette.websockets import WebSocketDisconnect, WebSocketState
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingExtraError("agentstream.web", "web") from exc

from ._transport import (
    JSON_HEADERS,
    NDJSON_MEDIA_TYPE,
    SSE_MEDIA_TYPE,
    StreamedResponse,
    json_body,
    merged_headers,
    supervise,
    timed_send,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, Iterator, Mapping

    from agents.result import RunResultStreaming
    from starlette.background import BackgroundTask
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.websockets import WebSocket

    from ._options import RunOptions

__all__ = [
    "SSE_MEDIA_TYPE",
    "NDJSON_MEDIA_TYPE",
    "SERVED_MAX_BACKLOG",
    "Format",
    "Source",
    "choose_format",
    "event_response",
    "json_response",
    "send_websocket",
    "stream_response",
]

Format: TypeAlias = Literal["sse", "ndjson", "json"]
"""How events go on the wire: Server-Sent Events, one JSON object per line, or one JSON document."""

Source: TypeAlias = "RunResultStreaming | EventStream | AsyncIterable[Event]"
"""What the helpers accept: a streaming run (normalized here), an `EventStream`, or any events."""

_MEDIA_TYPES: Final[Mapping[str, Format]] = {
    "text/event-stream": "sse",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/x-jsonlines": "ndjson",
    "application/json": "json",
}


# Sources


@contextlib.contextmanager
def _abandoned_on_error(source: object) -> Iterator[None]:
    """Abandon `source` (a run is cancelled) when its checks raise `ConfigurationError`."""
    try:
        yield
    except ConfigurationError:
        abandon(source)
        raise


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
    background: BackgroundTask | None = None,
    **options: Unpack[RunOptions],
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
        headers: More headers; they may override the defaults (`Cache-Control`, ...).
        background: A Starlette `BackgroundTask` run once the response is over, also after
            the client left.
        **options: How a run is normalized (`RunOptions`: `idle_timeout`, `buffer`, `run_id`,
            `expose_errors`, `max_backlog`); a run only. A client that falls more than
            `max_backlog` bytes behind (`SERVED_MAX_BACKLOG`, 16 MiB, by default) ends with
            `Done(status="error")` and the run is cancelled.

    Returns:
        A Starlette response; return it from a Starlette or FastAPI endpoint.

    Raises:
        ConfigurationError: an argument has a value that cannot work, or run options were given
            with a source that is not a run.

    """
    with _abandoned_on_error(source):
        send_timeout = check_seconds("send_timeout", send_timeout)
    response = streamed(
        source,
        format=format,
        heartbeat=heartbeat,
        retry=retry,
        headers=headers,
        options=options,
        guard=False,  # the Starlette response supervises its body and closes the events
    )
    return StreamedResponse(
        response.body,
        closables=(response.events,),
        status_code=status_code,
        headers=response.headers,
        send_timeout=send_timeout,
        background=background,
    )


def json_response(
    source: Source,
    *,
    heartbeat: float | None = 15.0,
    send_timeout: float | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    background: BackgroundTask | None = None,
    **options: Unpack[RunOptions],
) -> Response:
    """Answer with the whole run as one JSON document, for clients that cannot stream.

    The body is `{"done": <the Done event>, "events": [<every event, Done last>]}`; `done` is null
    only when a source other than a run ends without a `Done`. The run is read when the response
    is sent, and a client that disconnects before the end cancels it. The headers go out at
    once; while the run goes on, a newline is sent every `heartbeat` seconds without an event
    (whitespace before the document, which every JSON parser skips). The other arguments are
    those of `stream_response()`.
    """
    with _abandoned_on_error(source):
        heartbeat = check_heartbeat(heartbeat)
        send_timeout = check_seconds("send_timeout", send_timeout)
        events = open_source(source, options, to_client=True)
    return StreamedResponse(
        json_body(events, heartbeat),
        closables=(events,),
        status_code=status_code,
        headers=merged_headers(JSON_HEADERS, headers),
        send_timeout=send_timeout,
        background=background,
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
    background: BackgroundTask | None = None,
    **options: Unpack[RunOptions],
) -> Response:
    """Answer in the format the request asks for: `?stream=false` or its `Accept` header.

    `?stream=false` (or `0`, `no`) gives `json_response()`; otherwise `choose_format()` reads the
    `Accept` header, falling back to `default`. The other arguments are those of
    `stream_response()`; `retry` matters for SSE only.
    """
    if request.query_params.get("stream", "").lower() in ("false", "0", "no"):
        chosen: Format = "json"
    else:
        chosen = choose_format(request.headers.get("accept"), default=default)
    if chosen == "json":
        return json_response(
            source,
            heartbeat=heartbeat,
            send_timeout=send_timeout,
            headers=headers,
            background=background,
            **options,
        )
    return stream_response(
        source,
        format=chosen,
        heartbeat=heartbeat,
        retry=retry if chosen == "sse" else None,
        send_timeout=send_timeout,
        headers=headers,
        background=background,
        **options,
    )


# WebSocket


async def send_websocket(
    websocket: WebSocket,
    source: Source,
    *,
    close: bool = True,
    send_timeout: float | None = None,
    **options: Unpack[RunOptions],
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
        send_timeout: Seconds one message may wait for a client that does not read; then the
            sending stops (the socket is left to the server) and the run is cancelled.
        **options: How a run is normalized (`RunOptions`); a run only.

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
        send_timeout = check_seconds("send_timeout", send_timeout)
        events = open_source(source, options, to_client=True)
    last_done: Done | None = None
    send = timed_send(websocket.send, send_timeout)

    async def write() -> None:
        nonlocal last_done
        async for event in events:
            if isinstance(event, Done):
                last_done = event
            await send({"type": "websocket.send", "text": event.model_dump_json()})

    outcome = await supervise(
        write,
        websocket.receive,
        "websocket.disconnect",
        closables=(events,),
        gone=(OSError, WebSocketDisconnect),
    )
    if close and outcome == "finished" and websocket.application_state == WebSocketState.CONNECTED:
        # The client may leave between the last event and the close: nothing to close then.
        with contextlib.suppress(WebSocketDisconnect):
            await websocket.close(code=1000)
    if isinstance(events, EventStream):
        return events.done
    return last_done
