"""Plumbing the wire adapters share: heartbeat ticks over any event source, chunk input, UTF-8.

Tasks (for `ticks()` over a source that is not an `EventStream`): at most one task runs the
source's `__anext__`; the adapter waits on it with a timeout and never cancels it for a heartbeat,
so a slow event is only late, never lost. When the adapter stops early (closed, cancelled, or its
consumer raised), it cancels that task, waits for it, and closes the source, which for an
`EventStream` cancels the run.
"""

from __future__ import annotations

import asyncio
import codecs
import inspect
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from typing import Any, Final, TypeAlias, TypeVar

import anyio

from ._checks import check_seconds
from ._errors import ConfigurationError, DecodeError
from ._normalize import EventStream

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "Chunks",
    "TextDecoder",
    "aiter_chunks",
    "check_heartbeat",
    "check_chunks",
    "check_limit",
    "close_source",
    "one_line",
    "snippet",
    "ticks",
    "utf8_size",
]

DEFAULT_MAX_EVENT_BYTES: Final = 16 * 1024 * 1024
"""The default limit of the decoders: 16 MiB for one line or one event's data."""

Chunks: TypeAlias = "Iterable[str] | Iterable[bytes] | AsyncIterable[str] | AsyncIterable[bytes]"
"""What the decoders read: text or bytes, sync or async, split anywhere."""

T = TypeVar("T")

_END: Final = object()


def snippet(value: object, limit: int = 40) -> str:
    """A short `repr` of a value for an error message; never more than about `limit` characters."""
    if isinstance(value, (str, bytes)) and len(value) > limit:
        return repr(value[:limit]) + "..."
    text = repr(value)
    return text if len(text) <= limit + 10 else text[: limit + 7] + "..."


def check_heartbeat(heartbeat: float | None) -> float | None:
    """Validate a heartbeat interval: None, or a finite number of seconds > 0."""
    return check_seconds("heartbeat", heartbeat)


def check_limit(max_event_bytes: int) -> int:
    """Validate a decoder size limit: a whole number of bytes > 0."""
    if isinstance(max_event_bytes, bool) or not isinstance(max_event_bytes, int):
        raise ConfigurationError(f"max_event_bytes must be an int, got {max_event_bytes!r}")
    if max_event_bytes <= 0:
        raise ConfigurationError(f"max_event_bytes must be > 0, got {max_event_bytes!r}")
    return max_event_bytes


def utf8_size(text: str) -> int:
    """The size of `text` in UTF-8; free for ASCII text (`isascii()` reads a flag)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


async def close_source(source: object) -> None:
    """Close an async source that can be closed (`aclose()`): for an `EventStream`, stop the run."""
    aclose = getattr(source, "aclose", None)
    if callable(aclose):
        result = aclose()
        if inspect.isawaitable(result):
            await result


async def _next(iterator: AsyncIterator[T]) -> Any:
    try:
        return await iterator.__anext__()
    except StopAsyncIteration:
        return _END


async def ticks(
    events: AsyncIterable[T], heartbeat: float | None
) -> AsyncGenerator[list[T] | None, None]:
    """Yield the events of `events` in batches; None when `heartbeat` seconds pass without one.

    The timer restarts after every batch. An `EventStream` gives every event it has ready at
    once (`next_batch`), so a burst costs one step of this generator, not one per event; any
    other source gives one event per batch. Waiting never cancels the pending read: for an
    `EventStream` it uses `next_batch(timeout)`, for any other source one `__anext__` task that
    survives the heartbeats. Closing this generator cancels that task and waits for it; closing
    the source is the caller's job (`close_source`), after this generator is closed.
    """
    pending: asyncio.Task[Any] | None = None
    try:
        if isinstance(events, EventStream):
            while True:
                try:
                    batch = await events.next_batch(heartbeat)
                except StopAsyncIteration:
                    return
                yield batch
        elif heartbeat is None:
            async for event in events:
                yield [event]
        else:
            iterator = aiter(events)
            while True:
                if pending is None:
                    pending = asyncio.get_running_loop().create_task(_next(iterator))
                done, _ = await asyncio.wait({pending}, timeout=heartbeat)
                if not done:
                    yield None
                    continue
                item = pending.result()
                pending = None
                if item is _END:
                    return
                yield [item]
    finally:
        if pending is not None:
            pending.cancel()
            # Shielded: under an anyio cancel scope (Starlette) this wait would be cancelled
            # again, and the source closed while its read still runs.
            with anyio.CancelScope(shield=True):
                await asyncio.wait({pending})
            if not pending.cancelled():
                # The source failed while we were stopping for another reason: that reason wins;
                # reading the exception keeps asyncio from reporting it as never retrieved.
                pending.exception()


def check_chunks(chunks: object) -> None:
    """Check that `chunks` is an iterable or async iterable of chunks, not one str or bytes."""
    if isinstance(chunks, (str, bytes, bytearray, memoryview)):
        raise ConfigurationError(
            f"the decoders take an iterable of chunks, not one {type(chunks).__name__}: "
            "wrap it in a list"
        )
    if not isinstance(chunks, (AsyncIterable, Iterable)):
        raise ConfigurationError(
            "chunks must be an iterable or async iterable of str or bytes, "
            f"got {type(chunks).__name__}"
        )


async def aiter_chunks(chunks: Chunks) -> AsyncGenerator[str | bytes, None]:
    """Iterate a sync or async iterable of chunks (checked by `check_chunks`)."""
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
    else:
        for chunk in chunks:
            yield chunk


def one_line(text: str) -> str:
    """Replace raw CR and LF, which valid JSON only holds as whitespace, by spaces."""
    if "\n" in text or "\r" in text:
        return text.replace("\r", " ").replace("\n", " ")
    return text


class TextDecoder:
    """Turns chunks of `str` or UTF-8 `bytes`, split anywhere, into text; strict UTF-8."""

    __slots__ = ("_decoder", "_offset")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._offset = 0

    def decode(self, chunk: str | bytes | bytearray | memoryview) -> str:
        """Return the text of `chunk`; bytes of a character cut in two wait for the next chunk."""
        if isinstance(chunk, str):
            if self._decoder.getstate()[0]:
                raise DecodeError(
                    f"a str chunk arrived at byte {self._offset} while a UTF-8 character "
                    "from the bytes before it was incomplete"
                )
            return chunk
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise DecodeError(f"a chunk must be str or bytes, got {type(chunk).__name__}")
        buffered = len(self._decoder.getstate()[0])
        try:
            text = self._decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise DecodeError(
                f"invalid UTF-8 at byte {self._offset - buffered + exc.start}: "
                f"{snippet(bytes(exc.object[exc.start : exc.start + 8]))}"
            ) from None
        self._offset += len(chunk)
        return text

    def close(self) -> None:
        """Check that the input did not end inside a UTF-8 character."""
        pending = self._decoder.getstate()[0]
        if pending:
            raise DecodeError(
                f"the input ends inside a UTF-8 character (bytes {snippet(bytes(pending))})"
            )
