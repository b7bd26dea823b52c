"""Streamed runs for every Python web stack, each on the framework's own streaming response.

`agentstream.web` serves Starlette and FastAPI. Here the same SSE or NDJSON stream, with the same
heartbeats and the same guarantee (a client that leaves cancels the run), is a response of:

- Litestar: `litestar_response(source)`, a `litestar.response.Stream`;
- Django (async views under ASGI): `django_response(source)`, a `StreamingHttpResponse`;
- Quart: `quart_response(source)`, a `quart.Response`;
- aiohttp: `await aiohttp_response(request, source)`, a prepared `web.StreamResponse`;
- anything else that speaks ASGI: `asgi_app(source)`, an ASGI application for one response.

Every function takes what `web.stream_response` takes: `format` (`sse` or `ndjson`),
`heartbeat`, `retry` (SSE), `status_code`, `headers`, and the run options (`RunOptions`) when
`source` is a run. See `docs/frameworks.md`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import Unpack

from ._errors import MissingExtraError
from ._frameworks import abandoning, check_status, streamed
from ._streams import close_shielded
from ._transport import send_streamed

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from ._options import RunOptions

__all__ = ["aiohttp_response", "asgi_app", "django_response", "litestar_response", "quart_response"]

Format = Literal["sse", "ndjson"]


def asgi_app(
    source: object,
    *,
    format: Format = "sse",
    heartbeat: float | None = 15.0,
    retry: int | None = None,
    send_timeout: float | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **options: Unpack[RunOptions],
) -> Callable[[Any, Any, Any], Awaitable[None]]:
    """A plain ASGI application that sends one streamed response of `source`.

    Call it with the request's `(scope, receive, send)`: it streams the events, watches for the
    client's `http.disconnect` (which cancels the run), and gives up on a client that does not
    read for `send_timeout` seconds. Needs nothing but an ASGI server.
    """
    from ._checks import check_seconds

    with abandoning(source):
        status = check_status(status_code)
        send_timeout = check_seconds("send_timeout", send_timeout)
    response = streamed(
        source,
        format=format,
        heartbeat=heartbeat,
        retry=retry,
        headers=headers,
        options=options,
        guard=False,
    )
    raw = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
    ]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send_streamed(
            scope,
            receive,
            send,
            status=status,
            headers=raw,
            body=response.body,
            closables=(response.body, response.events),
            send_timeout=send_timeout,
            content_type=response.content_type,
        )

    return app


def litestar_response(
    source: object,
    *,
    format: Format = "sse",
    heartbeat: float | None = 15.0,
    retry: int | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **options: Unpack[RunOptions],
) -> Any:
    """A Litestar `Stream` response of `source`; return it from a route handler.

    Litestar stops the stream when the client disconnects, and the stream's end cancels the run.

    Raises:
        MissingExtraError: Litestar is not installed.

    """
    with abandoning(source):
        try:
            from litestar.response import Stream
        except ImportError as exc:
            raise MissingExtraError("Litestar responses", "litestar") from exc
        status = check_status(status_code)
    response = streamed(
        source, format=format, heartbeat=heartbeat, retry=retry, headers=headers, options=options
    )
    rest = {k: v for k, v in response.headers.items() if k != "content-type"}
    return Stream(response.body, status_code=status, media_type=response.content_type, headers=rest)


def django_response(
    source: object,
    *,
    format: Format = "sse",
    heartbeat: float | None = 15.0,
    retry: int | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **options: Unpack[RunOptions],
) -> Any:
    """A Django `StreamingHttpResponse` of `source`, for an async view served over ASGI.

    Django (5.0 and later) stops an async streaming response when the client disconnects, and
    the stream's end cancels the run. Under WSGI, Django consumes an async body synchronously:
    serve agents over ASGI (uvicorn, daphne, hypercorn).

    Raises:
        MissingExtraError: Django is not installed.

    """
    with abandoning(source):
        try:
            from django.http import StreamingHttpResponse  # type: ignore[import-untyped]
        except ImportError as exc:
            raise MissingExtraError("Django responses", "django") from exc
        status = check_status(status_code)
    response = streamed(
        source, format=format, heartbeat=heartbeat, retry=retry, headers=headers, options=options
    )
    rest = {k: v for k, v in response.headers.items() if k != "content-type"}
    return StreamingHttpResponse(
        response.body, status=status, content_type=response.content_type, headers=rest
    )


def quart_response(
    source: object,
    *,
    format: Format = "sse",
    heartbeat: float | None = 15.0,
    retry: int | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **options: Unpack[RunOptions],
) -> Any:
    """A Quart `Response` streaming `source`; return it from a route.

    Its `timeout` is None: Quart's default response timeout (60 s) would cut a long run. Quart
    cancels the response when the client disconnects, and the stream's end cancels the run.

    Raises:
        MissingExtraError: Quart is not installed.

    """
    with abandoning(source):
        try:
            from quart import Response
        except ImportError as exc:
            raise MissingExtraError("Quart responses", "quart") from exc
        status = check_status(status_code)
    response = streamed(
        source, format=format, heartbeat=heartbeat, retry=retry, headers=headers, options=options
    )
    answer = Response(response.body, status=status, headers=response.headers)
    answer.timeout = None
    return answer


async def aiohttp_response(
    request: Any,
    source: object,
    *,
    format: Format = "sse",
    heartbeat: float | None = 15.0,
    retry: int | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **options: Unpack[RunOptions],
) -> Any:
    """Stream `source` to an aiohttp `request`; return the `web.StreamResponse` from the handler.

    The whole stream is written before this returns. aiohttp tells of a client that left when
    a write fails: within one `heartbeat` at the latest, the writes stop and the run is
    cancelled (and at once when the server cancels the handler).

    Raises:
        MissingExtraError: aiohttp is not installed.

    """
    with abandoning(source):
        try:
            from aiohttp import web
        except ImportError as exc:
            raise MissingExtraError("aiohttp responses", "aiohttp") from exc
        status = check_status(status_code)
    response = streamed(
        source, format=format, heartbeat=heartbeat, retry=retry, headers=headers, options=options
    )
    answer = web.StreamResponse(status=status, headers=response.headers)
    try:
        await answer.prepare(request)
        async for chunk in response.body:
            await answer.write(chunk)
        await answer.write_eof()
    except ConnectionError:
        pass  # the client left: the body's end (below) cancels the run
    finally:
        await close_shielded(response.body)
    return answer
