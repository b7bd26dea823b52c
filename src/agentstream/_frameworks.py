"""Streamed responses for every Python web stack: one body, each framework's own response.

`streamed()` turns a run (or any events) into the body of an SSE or NDJSON response and its
headers, checked as `web.stream_response` checks them. The body is an async generator of bytes
whose end closes the event source (which cancels a run still going) and reports the response
(its bytes, and a client that left). Each framework's response iterates it in its own way and
stops when its client goes; `agentstream.frameworks` hands it to Litestar's `Stream`, Django's
`StreamingHttpResponse`, Quart's `Response`, aiohttp's `StreamResponse`, and to a plain ASGI
application.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from ._errors import ConfigurationError
from ._normalize import abandon, open_source
from ._streams import check_heartbeat, close_shielded
from ._telemetry import bytes_sent, disconnected
from ._transport import NDJSON_HEADERS, SSE_HEADERS, merged_headers, ndjson_body, sse_body

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, AsyncIterator, Iterator, Mapping

    from ._options import RunOptions

__all__ = ["Streamed", "abandoning", "check_status", "streamed"]

logger = logging.getLogger("agentstream.web")


class Streamed(NamedTuple):
    """A response to stream: its body and headers (`content-type` among them)."""

    body: AsyncIterator[bytes]
    """The chunks; with `guard`, the generator closes the events when it ends, fails or is
    closed, and reports the response."""
    events: AsyncIterable[Any]
    """The event source (close it if the body is not guarded)."""
    headers: dict[str, str]
    """Every header of the response."""
    content_type: str
    """The `content-type` header's value."""


def streamed(
    source: object,
    *,
    format: Literal["sse", "ndjson"],
    heartbeat: float | None,
    retry: int | None,
    headers: Mapping[str, str] | None,
    options: RunOptions,
    guard: bool = True,
) -> Streamed:
    """The body and headers of a streamed response of `source` (see `web.stream_response`).

    Raises:
        ConfigurationError: an argument cannot work; a run given as `source` is cancelled.

    """
    try:
        if format not in ("sse", "ndjson"):
            raise ConfigurationError(f"format must be 'sse' or 'ndjson', got {format!r}")
        heartbeat = check_heartbeat(heartbeat)
        if retry is not None and (
            isinstance(retry, bool) or not isinstance(retry, int) or retry < 0
        ):
            raise ConfigurationError(
                f"retry must be a whole number of milliseconds >= 0, got {retry!r}"
            )
        if format == "ndjson" and retry is not None:
            raise ConfigurationError(f"retry applies to SSE only, got retry={retry!r} with ndjson")
        events = open_source(source, options, to_client=True)
    except ConfigurationError:
        abandon(source)
        raise
    if format == "sse":
        body, base = sse_body(events, heartbeat, retry), SSE_HEADERS
    else:
        body, base = ndjson_body(events, heartbeat), NDJSON_HEADERS
    merged = merged_headers(base, headers)
    content_type = merged["content-type"]
    if guard:
        body = _guarded(body, events, content_type)
    return Streamed(body, events, merged, content_type)


async def _guarded(
    body: AsyncIterator[bytes], events: AsyncIterable[Any], content_type: str
) -> AsyncIterator[bytes]:
    """`body`, closing it and `events` however it ends; a body stopped early is a client gone."""
    sent = 0
    gone = False
    try:
        async for chunk in body:
            yield chunk
            sent += len(chunk)
    except (GeneratorExit, asyncio.CancelledError, OSError):
        # The framework stopped the response (closed or cancelled the body, or a write failed):
        # its client left.
        gone = True
        raise
    finally:
        # Reported before the await: under an anyio cancel scope (Litestar's), the cancellation
        # comes again at the first await after the shielded close.
        bytes_sent(sent, content_type)
        if gone:
            logger.info("a client left before its response ended: the response's run is cancelled")
            disconnected()
        await close_shielded(body, events)


@contextlib.contextmanager
def abandoning(source: object) -> Iterator[None]:
    """Cancel a run given as `source` when the block raises.

    Nothing else would (no stream owns it yet), and the run would go on spending tokens.
    """
    try:
        yield
    except BaseException:
        abandon(source)
        raise


def check_status(status_code: object) -> int:
    """A response's HTTP status: a whole number from 100 to 599."""
    if isinstance(status_code, bool) or not isinstance(status_code, int):
        raise ConfigurationError(f"status_code must be an int, got {status_code!r}")
    if not 100 <= status_code <= 599:
        raise ConfigurationError(f"status_code must be from 100 to 599, got {status_code}")
    return status_code
