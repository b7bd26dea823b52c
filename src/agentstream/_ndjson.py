"""Newline-delimited JSON: `to_ndjson()` writes one event per line, `from_ndjson()` reads them.

NDJSON has no comments, so its optional keep-alive is an empty line: `from_ndjson()` skips blank
lines, but a strict NDJSON reader may not, which is why `to_ndjson()` sends none by default.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import TYPE_CHECKING, Final

from ._chunks import (
    DEFAULT_MAX_EVENT_BYTES,
    Pieces,
    TextDecoder,
    aiter_chunks,
    check_chunks,
    check_limit,
    one_line,
    snippet,
    utf8_size,
)
from ._errors import DecodeError
from ._events import EVENT_TYPES, Event, load_json, parse_event
from ._streams import check_heartbeat, close_source, ticks

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, AsyncIterator

    from ._chunks import Chunks
    from ._events import EventBase

__all__ = ["KEEPALIVE", "NDJSONDecoder", "from_ndjson", "to_ndjson"]

KEEPALIVE: Final = "\n"
"""The NDJSON keep-alive `to_ndjson(heartbeat=...)` sends: an empty line."""


def ndjson_line(event: EventBase) -> str:
    r"""The NDJSON line of one event: its JSON and `\n`."""
    # `model_dump_json()` with its defaults, minus the cost of passing them all.
    return one_line(event.__pydantic_serializer__.to_json(event).decode()) + "\n"


def to_ndjson(
    events: AsyncIterable[EventBase], *, heartbeat: float | None = None
) -> AsyncIterator[str]:
    r"""Encode events as newline-delimited JSON: one JSON object and `\n` per event.

    The lines are `str`; send them as UTF-8 (`Content-Type: application/x-ndjson`).

    Args:
        events: Any async iterable of events: an `EventStream` from `normalize()`, or your own.
        heartbeat: While no event is ready, send an empty line every `heartbeat` seconds.
            `from_ndjson()` skips empty lines, but strict NDJSON readers may reject them, so
            the default (None) sends none.

    Returns:
        An async iterator of lines. Closing it early closes `events`, which for an
        `EventStream` cancels the run.

    Raises:
        ConfigurationError: `heartbeat` has a value that cannot work.

    """
    return _lines(events, check_heartbeat(heartbeat))


async def _lines(events: AsyncIterable[EventBase], heartbeat: float | None) -> AsyncIterator[str]:
    try:
        async with aclosing(ticks(events, heartbeat)) as batches:
            async for batch in batches:
                if batch is None:
                    yield KEEPALIVE
                    continue
                for event in batch:
                    yield ndjson_line(event)
    finally:
        await close_source(events)


class NDJSONDecoder:
    """An incremental NDJSON reader of agentstream events; feed it chunks split anywhere.

    Lines end with LF (a CR before it is JSON whitespace); blank lines are skipped; a leading
    BOM is dropped; a last line without LF is read at `close()`.
    """

    __slots__ = ("_bom", "_limit", "_line_no", "_partial", "_strict", "_text")

    def __init__(
        self, *, strict_types: bool = False, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    ) -> None:
        self._strict = strict_types
        self._limit = check_limit(max_event_bytes)
        self._text = TextDecoder()
        self._bom = True
        self._partial = Pieces()
        self._line_no = 0

    def feed(self, chunk: str | bytes) -> list[Event]:
        """Parse one more chunk; return the events of the lines it completes.

        Raises:
            DecodeError: bad UTF-8, a line that is not a valid event, or a line over the limit.

        """
        text = self._text.decode(chunk)
        if self._bom and text:
            self._bom = False
            if text[0] == "\ufeff":
                text = text[1:]
        lines = text.split("\n")
        tail = lines.pop()
        events: list[Event] = []
        if lines and self._partial:
            lines[0] = self._partial.take(lines[0])
        for line in lines:
            self._line(line, events)
        if tail:
            self._partial.append(tail)
            self._check_size(self._partial.size)
        return events

    def close(self) -> list[Event]:
        r"""End the input; return the event of a last line that had no `\n`, if any.

        Raises:
            DecodeError: the input ended inside a UTF-8 character, or its last line is not a
                valid event (for instance, cut off in the middle).

        """
        self._text.close()
        events: list[Event] = []
        if self._partial:
            self._line(self._partial.take(), events)
        return events

    def _check_size(self, size: int) -> None:
        if size > self._limit:
            raise DecodeError(
                f"line {self._line_no + 1} of the NDJSON stream is larger than "
                f"max_event_bytes={self._limit}"
            )

    def _line(self, line: str, events: list[Event]) -> None:
        self._check_size(utf8_size(line))
        self._line_no += 1
        if not line or line.isspace():
            return
        where = f"line {self._line_no} of the NDJSON stream"
        try:
            obj = load_json(line)
        except (ValueError, RecursionError) as exc:
            raise DecodeError(f"{where} is not JSON ({exc}): {snippet(line)}") from None
        if not isinstance(obj, dict):
            raise DecodeError(f"{where} is a JSON {type(obj).__name__}, not an event object")
        tag = obj.get("type")
        if not isinstance(tag, str):
            raise DecodeError(f"{where} has no string 'type' field: {snippet(line)}")
        if tag not in EVENT_TYPES:
            if self._strict:
                raise DecodeError(f"{where} has an unknown event type {snippet(tag)}")
            return
        try:
            events.append(parse_event(obj, ignore_unknown_fields=not self._strict))
        except DecodeError as exc:
            raise DecodeError(f"{where}: {exc}") from None


def from_ndjson(
    chunks: Chunks,
    *,
    strict_types: bool = False,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> AsyncIterator[Event]:
    """Decode an NDJSON body written by `to_ndjson()` back into typed events.

    Args:
        chunks: The body as a sync or async iterable of `str` or UTF-8 `bytes`, split anywhere.
        strict_types: Raise on an event type or a field this version does not know, instead of
            skipping the event or the field.
        max_event_bytes: The largest line accepted.

    Returns:
        An async iterator of events; blank lines (keep-alives) are skipped.

    Raises:
        DecodeError: (while iterating) bad UTF-8, a line that is not a valid event, a line over
            `max_event_bytes`, or an unknown type with `strict_types`.
        ConfigurationError: `chunks` is not an iterable of chunks, or the limit is not > 0.

    """
    check_chunks(chunks)
    decoder = NDJSONDecoder(strict_types=strict_types, max_event_bytes=max_event_bytes)
    return _decode(chunks, decoder)


async def _decode(chunks: Chunks, decoder: NDJSONDecoder) -> AsyncIterator[Event]:
    try:
        async with aclosing(aiter_chunks(chunks)) as source:
            async for chunk in source:
                for event in decoder.feed(chunk):
                    yield event
        for event in decoder.close():
            yield event
    finally:
        await close_source(chunks)
