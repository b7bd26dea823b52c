"""Plumbing the wire adapters share: batches with heartbeats over any event source, and closing.

Tasks (for `lazy_ticks()` over a plain source): one task reads the source, a few events ahead,
into a buffer; the adapter waits on the buffer with a timer and never cancels that task for a
heartbeat, so a slow event is only late, never lost. A `BatchedSource` (an `EventStream`) needs
no such task: it waits for its run's events with a deadline of its own. When the adapter stops
early (closed, cancelled, or its consumer raised), it cancels the read-ahead task, waits for it,
and closes the source, which for an `EventStream` cancels the run.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from abc import ABC, abstractmethod
from collections import deque
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar, cast

import anyio

from ._checks import check_seconds
from ._textrun import built

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable

    from ._events import Event, EventBase
    from ._textrun import TextRun

__all__ = [
    "SETTLE_TIMEOUT",
    "Batch",
    "BatchedSource",
    "check_heartbeat",
    "close_shielded",
    "close_source",
    "lazy_ticks",
    "ticks",
    "until_disconnected",
]

logger = logging.getLogger("agentstream")

SETTLE_TIMEOUT: Final = 5.0
"""Seconds a closing stream waits for its cancelled run to finish before it gives up on it."""

Batch: TypeAlias = "list[Event | TextRun]"
"""Events ready at one moment, in order; text deltas may still be in `TextRun`s."""

E = TypeVar("E", bound="EventBase")


class BatchedSource(ABC):
    """An event source that hands out every event it has ready at once (an `EventStream`).

    `lazy_ticks()` reads such a source through `_read_batch`, which waits with a deadline of its own
    without disturbing the source; any other source needs a read-ahead task for heartbeats.
    """

    @abstractmethod
    def _read_batch(self, timeout: float | None) -> Awaitable[Batch | None]:
        """Every event ready now (at least one), or None if none comes within `timeout`.

        Text deltas may be left in `TextRun`s. Raises `StopAsyncIteration` once the source
        has ended.
        """


def check_heartbeat(heartbeat: float | None) -> float | None:
    """Validate a heartbeat interval: None, or a finite number of seconds > 0."""
    return check_seconds("heartbeat", heartbeat)


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


async def lazy_ticks(
    events: AsyncIterable[E], heartbeat: float | None
) -> AsyncGenerator[list[E | TextRun] | None, None]:
    """Yield the events of `events` in batches; None when `heartbeat` seconds pass without one.

    The timer restarts after every batch. A `BatchedSource` gives every event it has ready at
    once, text deltas possibly still in `TextRun`s (`built()` makes them events). Any other
    source is read by one task of its own, a few events ahead, and gives what was read since the
    last batch. Closing this generator stops that task and waits for it; closing the source is
    the caller's job (`close_source`), after this generator is closed. An exception of the
    source is raised here.
    """
    reader: asyncio.Task[None] | None = None
    try:
        if isinstance(events, BatchedSource):
            read_batch = events._read_batch
            while True:
                try:
                    batch = await read_batch(heartbeat)
                except StopAsyncIteration:
                    return
                # A batched source is an `EventStream`: its events are `Event`s.
                yield cast("list[E | TextRun] | None", batch)
        elif heartbeat is None:
            async for event in events:
                yield [event]
        else:
            loop = asyncio.get_running_loop()
            ahead = _ReadAhead()
            reader = loop.create_task(ahead.pump(aiter(events)))
            while True:
                if ahead.items:
                    items = list(ahead.items)
                    ahead.items.clear()
                    _wake(ahead.space)
                    yield items
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


async def ticks(
    events: AsyncIterable[E], heartbeat: float | None
) -> AsyncGenerator[list[E] | None, None]:
    """`lazy_ticks()` for consumers that need the event models: every `TextRun` built."""
    batches = lazy_ticks(events, heartbeat)
    try:
        async for batch in batches:
            yield None if batch is None else built(batch)
    finally:
        await batches.aclose()


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
