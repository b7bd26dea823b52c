"""Plumbing the wire adapters share: heartbeat ticks over any event source, chunk input, UTF-8.

Tasks (for `ticks()` over a source that is not an `EventStream`): one task reads the source, at
most a few events ahead, into a buffer; the adapter waits on the buffer with a timer and never
cancels that task for a heartbeat, so a slow event is only late, never lost. When the adapter
stops early (closed, cancelled, or its consumer raised), it cancels that task, waits for it, and
closes the source, which for an `EventStream` cancels the run.
"""

from __future__ import annotations

import asyncio
import codecs
import inspect
import logging
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
)
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar

import anyio

from ._checks import check_seconds
from ._errors import ConfigurationError, DecodeError
from ._normalize import SETTLE_TIMEOUT, EventStream

if TYPE_CHECKING:
    from ._events import EventBase
    from ._mapping import TextRun

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "Chunks",
    "TextDecoder",
    "aiter_chunks",
    "check_heartbeat",
    "check_chunks",
    "check_limit",
    "close_shielded",
    "close_source",
    "lazy_ticks",
    "one_line",
    "snippet",
    "ticks",
    "until_disconnected",
    "utf8_size",
]

DEFAULT_MAX_EVENT_BYTES: Final = 16 * 1024 * 1024
"""The default limit of the decoders: 16 MiB for one line or one event's data."""

Chunks: TypeAlias = "Iterable[str] | Iterable[bytes] | AsyncIterable[str] | AsyncIterable[bytes]"
"""What the decoders read: text or bytes, sync or async, split anywhere."""

T = TypeVar("T")


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


_AHEAD: Final = 64
"""Most events read ahead from a plain source while the consumer is busy."""


def _wake(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


class _ReadAhead:
    """A plain source read by a task of its own into a small buffer, for heartbeats.

    One task for the whole stream, not one per event: the consumer waits on a future with a
    timer, and a timer that fires cancels nothing.
    """

    __slots__ = ("ended", "error", "items", "space", "waiter")

    def __init__(self) -> None:
        self.items: deque[Any] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.space: asyncio.Future[None] | None = None
        self.ended = False
        self.error: Exception | None = None

    async def pump(self, iterator: AsyncIterator[Any]) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for item in iterator:
                self.items.append(item)
                _wake(self.waiter)
                if len(self.items) >= _AHEAD:
                    self.space = loop.create_future()
                    await self.space
        except Exception as exc:
            self.error = exc
        finally:
            self.ended = True
            _wake(self.waiter)


def lazy_ticks(
    events: AsyncIterable[EventBase], heartbeat: float | None
) -> AsyncGenerator[list[EventBase | TextRun] | None, None]:
    """`ticks`, with the text deltas of an `EventStream` left in `TextRun`s (`_next_lazy_batch`).

    For encoders that write text deltas straight from their fields, and `built()` the rest.
    """
    return ticks(events, heartbeat, lazy=True)


async def ticks(
    events: AsyncIterable[T], heartbeat: float | None, *, lazy: bool = False
) -> AsyncGenerator[list[T] | None, None]:
    """Yield the events of `events` in batches; None when `heartbeat` seconds pass without one.

    The timer restarts after every batch. An `EventStream` gives every event it has ready at
    once (`next_batch`, which waits without disturbing the run). Any other source is read by one
    task of its own, a few events ahead, and gives what was read since the last batch. Closing
    this generator stops that task and waits for it; closing the source is the caller's job
    (`close_source`), after this generator is closed. An exception of the source is raised here.
    """
    reader: asyncio.Task[None] | None = None
    try:
        if isinstance(events, EventStream):
            next_batch = events._next_lazy_batch if lazy else events.next_batch
            while True:
                try:
                    batch = await next_batch(heartbeat)
                except StopAsyncIteration:
                    return
                yield batch
        elif heartbeat is None:
            async for event in events:
                yield [event]
        else:
            loop = asyncio.get_running_loop()
            ahead = _ReadAhead()
            reader = loop.create_task(ahead.pump(aiter(events)))
            while True:
                if ahead.items:
                    batch = list(ahead.items)
                    ahead.items.clear()
                    _wake(ahead.space)
                    yield batch
                    continue
                if ahead.ended:
                    if ahead.error is not None:
                        raise ahead.error
                    return
                waiter: asyncio.Future[None] = loop.create_future()
                ahead.waiter = waiter
                timer = loop.call_later(heartbeat, _wake, waiter)
                try:
                    await waiter
                finally:
                    ahead.waiter = None
                    timer.cancel()
                if not ahead.items and not ahead.ended:
                    yield None
    finally:
        if reader is not None and not reader.done():
            reader.cancel()
            # Shielded: under an anyio cancel scope (Starlette) this wait would be cancelled
            # again, and the source closed while its read still runs.
            with anyio.CancelScope(shield=True):
                await asyncio.wait({reader})


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


logger = logging.getLogger("agentstream")

_CLOSE_TIMEOUT: Final = SETTLE_TIMEOUT + 1.0
"""Seconds `close_shielded` waits: the stream's own bounded settle, and a little more."""


async def close_shielded(*closables: object) -> None:
    """Close async iterators, shielded from cancellation and bounded in time.

    It runs in `finally` blocks that may run because the caller was cancelled (the client went
    away): unshielded, the first `await` would be cancelled too and the run would be left to
    finish on its own.
    """
    with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT) as scope:
        for closable in closables:
            aclose = getattr(closable, "aclose", None)
            if aclose is None:
                continue
            try:
                await aclose()
            except Exception:
                logger.warning("closing %r failed", closable, exc_info=True)
    if scope.cancelled_caught:
        logger.warning("an event source did not close within %s s", _CLOSE_TIMEOUT)


async def until_disconnected(receive: Callable[[], Awaitable[Any]], disconnect: str) -> None:
    """Return when `receive()` gives a message of type `disconnect`: the client has left.

    `disconnect` is `"http.disconnect"` or `"websocket.disconnect"`; other messages are skipped.
    """
    while True:
        message = await receive()
        if message["type"] == disconnect:
            return
