"""Server-Sent Events: `to_sse()` writes frames, `SSEDecoder` and `from_sse()` read them back.

A frame is `id: <seq>`, `event: <type>`, one `data: <event JSON>` line and a blank line. The
decoder follows the WHATWG "event stream interpretation" rules, for any chunking of the input.
"""

from __future__ import annotations

import re
from contextlib import aclosing
from dataclasses import dataclass
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
from ._errors import ConfigurationError, DecodeError
from ._events import EVENT_TYPES, Event, load_json, parse_event
from ._streams import check_heartbeat, close_source, lazy_ticks
from ._textrun import SSETextWriter, TextRun

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

    from ._chunks import Chunks
    from ._events import EventBase

__all__ = ["PING", "SSEDecoder", "SSEWriter", "ServerSentEvent", "from_sse", "sse_frames", "to_sse"]

PING: Final = ": ping\n\n"
"""The heartbeat `to_sse()` sends while no event is ready: an SSE comment, ignored by clients."""

_LINE_END: Final = re.compile(r"\r\n|\r|\n")
_UNSAFE_IN_FIELD: Final = {ord("\r"): None, ord("\n"): None, ord("\0"): None}


# Encoding


def _field(value: str) -> str:
    """An `event:` or `id:` value that can neither end its line nor be ignored (NUL in `id`)."""
    return value.translate(_UNSAFE_IN_FIELD)


_HEADS: Final = {tag: f"\nevent: {tag}\ndata: " for tag in EVENT_TYPES}
"""What follows `id: <seq>` in the frame of each known type: known tags need no sanitizing."""


def sse_frame(event: EventBase) -> str:
    """The SSE frame of one event: `id`, `event` and one `data` line, then a blank line."""
    # `model_dump_json()` with its defaults, minus the cost of passing them all.
    data = one_line(event.__pydantic_serializer__.to_json(event).decode())
    seq = event.seq
    head = _HEADS.get(event.type)
    if head is not None and type(seq) is int:  # an int's digits need no sanitizing either
        return f"id: {seq}{head}{data}\n\n"
    return f"id: {_field(str(seq))}\nevent: {_field(event.type)}\ndata: {data}\n\n"


class SSEWriter:
    """Writes the SSE frames of one stream's batches, in order: `sse_frame()` of each event.

    Text deltas still in a `TextRun` are written by `SSETextWriter`, straight from the run; a
    run with text that has no UTF-8 form (a `TextRunMaker` never makes one) takes the models'
    way, and the models clean it (lone surrogates become U+FFFD).
    """

    __slots__ = ("_text",)

    def __init__(self) -> None:
        self._text = SSETextWriter()

    def frames(self, batch: Iterable[EventBase | TextRun]) -> Iterator[str]:
        """The frames of `batch`, one per event."""
        for item in batch:
            if type(item) is TextRun:
                yield from self.run_frames(item)
            else:
                yield sse_frame(item)

    def chunk(self, batch: Iterable[EventBase | TextRun]) -> str:
        """The frames of `batch` in one string, for a body written a batch at a time."""
        return "".join(self.frames(batch))

    def run_frames(self, run: TextRun) -> Iterable[str]:
        """The frames of the deltas of `run`.

        Text with no UTF-8 form takes the models' way, which cleans it (`events.md`).
        """
        frames = self._text.frames(run)
        return map(sse_frame, run.events()) if frames is None else frames


def sse_frames(batch: Iterable[EventBase | TextRun]) -> Iterator[str]:
    """The SSE frames of one batch (`SSEWriter().frames(batch)`)."""
    return SSEWriter().frames(batch)


def to_sse(
    events: AsyncIterable[EventBase],
    *,
    heartbeat: float | None = 15.0,
    retry: int | None = None,
) -> AsyncIterator[str]:
    r"""Encode events as Server-Sent Events, one frame per event, with heartbeats.

    Each event becomes `id: <seq>\nevent: <type>\ndata: <JSON>\n\n`. The frames are `str`;
    send them as UTF-8 (`Content-Type: text/event-stream; charset=utf-8`).

    Args:
        events: Any async iterable of events: an `EventStream` from `normalize()`, or your own.
        heartbeat: While no event is ready, send `: ping\n\n` every `heartbeat` seconds, so
            proxies keep the connection open. The timer never delays or cancels the next event.
            None sends no pings.
        retry: Send `retry: <ms>` once, first: the client's reconnection delay in milliseconds.

    Returns:
        An async iterator of frames. Closing it early (`aclose()`, or cancelling the task that
        reads it) closes `events`, which for an `EventStream` cancels the run.

    Raises:
        ConfigurationError: `heartbeat` or `retry` has a value that cannot work.

    """
    interval = check_heartbeat(heartbeat)
    check_retry(retry)
    return _frames(events, interval, retry)


def check_retry(retry: object) -> None:
    """Validate an SSE `retry` value: None, or a whole number of milliseconds >= 0."""
    if retry is not None and (isinstance(retry, bool) or not isinstance(retry, int) or retry < 0):
        raise ConfigurationError(
            f"retry must be a whole number of milliseconds >= 0, got {retry!r}"
        )


async def _frames(
    events: AsyncIterable[EventBase], heartbeat: float | None, retry: int | None
) -> AsyncIterator[str]:
    try:
        if retry is not None:
            yield f"retry: {retry}\n\n"
        writer = SSEWriter()
        async with aclosing(lazy_ticks(events, heartbeat)) as batches:
            async for batch in batches:
                if batch is None:
                    yield PING
                    continue
                for item in batch:
                    if type(item) is TextRun:
                        for frame in writer.run_frames(item):
                            yield frame
                    else:
                        yield sse_frame(item)
    finally:
        await close_source(events)


# Decoding


@dataclass(frozen=True)
class ServerSentEvent:
    """One event dispatched by an SSE parser, as a browser's `EventSource` would see it."""

    event: str = "message"
    """The `event:` field; `message` when the event had none."""
    data: str = ""
    r"""The `data:` lines of the event, joined with `\n`."""
    id: str = ""
    """The last event ID: the latest `id:` of the stream so far (it carries over, per WHATWG)."""
    retry: int | None = None
    """The `retry:` value (milliseconds) given in this event's own lines, if any."""


class SSEDecoder:
    r"""An incremental SSE parser: feed it chunks split anywhere, get the complete events.

    It follows the WHATWG rules: lines end with CR, LF or CRLF; a leading BOM is dropped once;
    `field: value` loses one space after the colon; a line without a colon is a field with an
    empty value; lines starting with `:` are comments; `data` lines are joined with `\n`; a blank
    line dispatches the event, unless it had no `data`; `id` values with NUL are ignored; `retry`
    counts only if it is all ASCII digits; an event not ended by a blank line when the input ends
    is dropped. Unlike a browser, it refuses invalid UTF-8 instead of replacing it.

    Example:
        ```python
        decoder = SSEDecoder()
        events = decoder.feed(b"event: greeting\ndata: hel")
        events += decoder.feed(b"lo\n\n")
        decoder.close()
        assert events == [ServerSentEvent(event="greeting", data="hello")]
        ```

    After it raised `DecodeError`, a decoder is in an undefined state: do not feed it again.

    """

    __slots__ = (
        "_block_retry",
        "_bom",
        "_closed",
        "_data",
        "_event",
        "_last_id",
        "_limit",
        "_partial",
        "_retry",
        "_skip_lf",
        "_text",
    )

    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._limit = check_limit(max_event_bytes)
        self._text = TextDecoder()
        self._bom = True
        self._skip_lf = False
        self._partial = Pieces()
        self._closed = False
        self._event = ""
        self._data = Pieces()
        self._last_id = ""
        self._retry: int | None = None
        self._block_retry: int | None = None

    @property
    def last_event_id(self) -> str:
        """The latest `id:` value seen (what a browser sends back as `Last-Event-ID`)."""
        return self._last_id

    @property
    def retry(self) -> int | None:
        """The latest valid `retry:` value (the reconnection time, in ms), or None."""
        return self._retry

    def feed(self, chunk: str | bytes) -> list[ServerSentEvent]:
        """Parse one more chunk (`str`, or UTF-8 `bytes` cut anywhere); return the events it ends.

        Raises:
            DecodeError: the bytes are not UTF-8, or a line or an event's data is larger than
                `max_event_bytes`.

        """
        if self._closed:
            raise ConfigurationError("this SSEDecoder is closed: make a new one")
        text = self._text.decode(chunk)
        if not text:
            return []
        if self._bom:
            self._bom = False
            if text[0] == "\ufeff":
                text = text[1:]
        if self._skip_lf:
            self._skip_lf = False
            if text[:1] == "\n":
                text = text[1:]
        if not text:
            return []
        self._skip_lf = text[-1] == "\r"
        lines = _LINE_END.split(text)
        tail = lines.pop()
        events: list[ServerSentEvent] = []
        if lines:
            if self._partial:
                lines[0] = self._partial.take(lines[0])
            for line in lines:
                self._line(line, events)
        if tail:
            self._partial.append(tail)
            self._check_size(self._partial.size, "a line")
        return events

    def close(self) -> None:
        """End the input. An unfinished last event is dropped, as browsers do.

        Raises:
            DecodeError: the input ended inside a UTF-8 character.

        """
        if self._closed:
            return
        self._closed = True
        self._partial = Pieces()
        self._data = Pieces()
        self._text.close()

    def _check_size(self, size: int, what: str) -> None:
        if size > self._limit:
            raise DecodeError(
                f"{what} of the SSE stream is larger than max_event_bytes={self._limit}"
            )

    def _line(self, line: str, events: list[ServerSentEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        self._check_size(utf8_size(line), "a line")
        if line[0] == ":":
            return
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            if self._data:
                self._data.append("\n")
            self._data.append(value)
            self._check_size(self._data.size, "the data of an event")
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit() and len(value) <= 12:
            # Longer is no delay a browser would wait; Python refuses over 4,300 digits anyway.
            self._retry = self._block_retry = int(value)

    def _dispatch(self, events: list[ServerSentEvent]) -> None:
        if self._data:
            events.append(
                ServerSentEvent(
                    event=self._event or "message",
                    data=self._data.take(),
                    id=self._last_id,
                    retry=self._block_retry,
                )
            )
        self._event = ""
        self._block_retry = None


def sse_to_event(sse: ServerSentEvent, *, strict_types: bool = False) -> Event | None:
    """The agentstream event an SSE event holds; None for a type this version does not know.

    An event with no `event:` field (a `message` event, in WHATWG's words) is read by the `type`
    in its data.

    Raises:
        DecodeError: its data is not a valid event, its `event:` disagrees with the data's
            `type`, or its type is unknown and `strict_types` is set.

    """
    kind = sse.event
    if kind == "message":
        try:
            obj = load_json(sse.data)
        except (ValueError, RecursionError) as exc:
            raise DecodeError(f"invalid JSON ({exc}) in {snippet(sse.data)}") from None
        tag = obj.get("type") if isinstance(obj, dict) else None
        if not isinstance(tag, str):
            raise DecodeError(
                "an SSE event has neither an 'event:' field nor a string 'type' in its data "
                f"(data {snippet(sse.data)})"
            )
        if tag not in EVENT_TYPES:
            if strict_types:
                raise DecodeError(f"unknown event type {snippet(tag)} in the SSE stream")
            return None
        return parse_event(obj, ignore_unknown_fields=not strict_types)
    if kind not in EVENT_TYPES:
        if strict_types:
            raise DecodeError(f"unknown event type {snippet(kind)} in the SSE stream")
        return None
    event = parse_event(sse.data, ignore_unknown_fields=not strict_types)
    if event.type != kind:
        raise DecodeError(
            f"an SSE frame says 'event: {kind}' but its data is a {event.type!r} event"
        )
    return event


def from_sse(
    chunks: Chunks,
    *,
    strict_types: bool = False,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> AsyncIterator[Event]:
    """Decode an SSE body written by `to_sse()` back into typed events.

    Args:
        chunks: The body as a sync or async iterable of `str` or UTF-8 `bytes`, split anywhere
            (e.g. `response.aiter_bytes()`).
        strict_types: Raise on an event type or a field this version does not know, instead of
            skipping the event or the field (a newer server may send what an older client does
            not know).
        max_event_bytes: The largest line, and the largest `data` of one event, accepted.

    Returns:
        An async iterator of events. Heartbeat comments are skipped. An event cut off by the end
        of the input is dropped, so a stream that ends without `done` was cut short.

    Raises:
        DecodeError: (while iterating) the input is not UTF-8, a frame's data is not a valid
            event (a frame with no `event:` is read by the data's `type`), or a line or an
            event is over `max_event_bytes`.
        ConfigurationError: `chunks` is not an iterable of chunks, or the limit is not > 0.

    """
    check_chunks(chunks)
    decoder = SSEDecoder(max_event_bytes=max_event_bytes)
    return _decode(chunks, decoder, strict_types)


async def _decode(chunks: Chunks, decoder: SSEDecoder, strict_types: bool) -> AsyncIterator[Event]:
    try:
        async with aclosing(aiter_chunks(chunks)) as source:
            async for chunk in source:
                for sse in decoder.feed(chunk):
                    event = sse_to_event(sse, strict_types=strict_types)
                    if event is not None:
                        yield event
        decoder.close()
    finally:
        await close_source(chunks)
