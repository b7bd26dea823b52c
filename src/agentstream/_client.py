"""A small client for Python consumers: typed events from an `httpx` streaming response.

Needs the `httpx` extra (`pip install 'agentstream[httpx]'`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from ._chunks import DEFAULT_MAX_EVENT_BYTES
from ._errors import ConfigurationError, DecodeError, MissingExtraError
from ._ndjson import NDJSONDecoder, from_ndjson
from ._sse import SSEDecoder, from_sse, sse_to_event

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    import httpx

    from ._events import Event

__all__ = ["aiter_events", "iter_events"]

_FORMATS: dict[str, Literal["sse", "ndjson"]] = {
    "text/event-stream": "sse",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
}


def _format(response: Any) -> Literal["sse", "ndjson"]:
    try:
        import httpx
    except ImportError:
        raise MissingExtraError("reading events from an httpx response", "httpx") from None
    if not isinstance(response, httpx.Response):
        raise ConfigurationError(f"expected an httpx.Response, got {type(response).__name__}")
    response.raise_for_status()
    content_type = response.headers.get("content-type", "")
    media_type = content_type.partition(";")[0].strip().lower()
    kind = _FORMATS.get(media_type)
    if kind is None:
        raise DecodeError(
            "expected a text/event-stream or application/x-ndjson response, "
            f"got Content-Type {content_type[:60]!r}"
        )
    return kind


def aiter_events(
    response: httpx.Response,
    *,
    strict_types: bool = False,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> AsyncIterator[Event]:
    """Read typed events from a streaming `httpx.AsyncClient` response, SSE or NDJSON.

    The format follows the response's `Content-Type`: `text/event-stream` (SSE) or
    `application/x-ndjson` (also `application/ndjson`, `application/jsonl`).

    Example:
        ```python
        async with httpx.AsyncClient() as client:
            async with client.stream("POST", url, json={"prompt": "hi"}) as response:
                async for event in aiter_events(response):
                    print(event.type)
        ```

    Args:
        response: A response opened with `client.stream(...)`, not read yet.
        strict_types: Raise `DecodeError` on event types this version does not know, instead
            of skipping them.
        max_event_bytes: The largest line or event accepted.

    Raises:
        httpx.HTTPStatusError: the response status is not 2xx (from `raise_for_status()`).
        DecodeError: the `Content-Type` is neither SSE nor NDJSON; while iterating, the body
            is not a valid event stream.
        MissingExtraError: httpx is not installed.

    """
    kind = _format(response)
    decode = from_sse if kind == "sse" else from_ndjson
    return decode(
        response.aiter_bytes(), strict_types=strict_types, max_event_bytes=max_event_bytes
    )


def iter_events(
    response: httpx.Response,
    *,
    strict_types: bool = False,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> Iterator[Event]:
    """Read typed events from a streaming `httpx.Client` response: `aiter_events()`, but sync.

    Example:
        ```python
        with httpx.Client() as client, client.stream("GET", url) as response:
            for event in iter_events(response):
                print(event.type)
        ```

    Raises:
        httpx.HTTPStatusError: the response status is not 2xx.
        DecodeError: the `Content-Type` is neither SSE nor NDJSON, or the body is not a valid
            event stream.
        MissingExtraError: httpx is not installed.

    """
    kind = _format(response)
    if kind == "sse":
        return _iter_sse(response, strict_types, max_event_bytes)
    return _iter_ndjson(response, strict_types, max_event_bytes)


def _iter_sse(response: httpx.Response, strict_types: bool, limit: int) -> Iterator[Event]:
    decoder = SSEDecoder(max_event_bytes=limit)
    for chunk in response.iter_bytes():
        for sse in decoder.feed(chunk):
            event = sse_to_event(sse, strict_types=strict_types)
            if event is not None:
                yield event
    decoder.close()


def _iter_ndjson(response: httpx.Response, strict_types: bool, limit: int) -> Iterator[Event]:
    decoder = NDJSONDecoder(strict_types=strict_types, max_event_bytes=limit)
    for chunk in response.iter_bytes():
        yield from decoder.feed(chunk)
    yield from decoder.close()
