"""The reader task of a stream and its mailbox: SDK events drained as fast as they come.

The *reader* task, started on a stream's first read (or at once, inside a running loop), drains
`result.stream_events()` into a `Mailbox` whatever the consumer's pace: the SDK drops the events
still queued when a run fails, and timed waits of the consumer must never touch the SDK's pending
read. The mailbox also holds the consumer's one timer for its waits with a deadline.

Who cancels whom: the stream cancels the reader and the run (`cancel()`) when it ends early, then
waits, bounded, for both to finish (`settle()`). The reader cancels the run itself in one case:
its consumer fell more than `max_backlog` bytes behind (a client that does not read). It cannot
push back on the run instead: the SDK's run loop puts events in an unbounded queue without
waiting, and events left in that queue are lost when the run fails. So a consumer that does not
keep up gets turns first (past half the bound the reader yields after each event, so a burst
from a fast model never reaches the bound while the consumer is reading), then the end.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import deque
from typing import Any, Final

from ._errors import SlowConsumerError
from ._mapping import field, usage_counts, usage_mark
from ._streams import SETTLE_TIMEOUT

__all__ = [
    "END",
    "EVENT_COST",
    "Mailbox",
    "cancel",
    "cost",
    "read",
    "run_task",
    "running_loop",
    "settle",
]

logger = logging.getLogger("agentstream")

END: Final = object()
"""What the reader puts last in the mailbox: the SDK stream has ended."""

EVENT_COST: Final = 2048
"""Bytes a waiting SDK event counts for in the backlog, besides its delta's text: an OpenAI
model's token delta event takes about 1.8 KiB of memory while it waits."""


def cost(event: Any) -> int:
    """Bytes `event` counts for in the backlog: `EVENT_COST` plus its delta's characters."""
    delta = getattr(getattr(event, "data", None), "delta", None)
    return EVENT_COST + len(delta) if type(delta) is str else EVENT_COST


class Mailbox:
    """What the reader task hands to the consumer: SDK events in order, then `END`.

    It also holds the consumer's one timer (the *alarm*) for its waits with a deadline.
    """

    __slots__ = (
        "alarm",
        "alarm_at",
        "backlog",
        "deadline",
        "error",
        "items",
        "last_arrival",
        "loop",
        "waiter",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.items: deque[Any] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.last_arrival = loop.time()
        self.error: BaseException | None = None
        self.deadline: float | None = None
        self.alarm: asyncio.TimerHandle | None = None
        self.alarm_at = 0.0
        self.backlog = 0
        """Bytes (`cost`) of the SDK events waiting in `items`; the consumer takes off what it
        reads, and sets it to 0 when it empties `items`."""

    def arm(self, deadline: float | None) -> asyncio.Future[None]:
        """The future to await until the reader puts something, or until `deadline` (loop time).

        The consumer waits once per event when events come one at a time, and the deadline (the
        caller's heartbeat, the idle timeout) mostly moves a little later with each. So the
        alarm is not a timer per wait: it is set again only when a wait needs it sooner than it
        is set, and when it goes off before the current deadline it sets itself for that one.
        Waking up for it cancels nothing. After the wait, the consumer calls `disarm_wait()`.
        """
        waiter: asyncio.Future[None] = self.loop.create_future()
        self.waiter = waiter
        self.deadline = deadline
        if deadline is not None and (self.alarm is None or self.alarm_at > deadline):
            if self.alarm is not None:
                self.alarm.cancel()
            self.alarm_at = deadline
            self.alarm = self.loop.call_at(deadline, self._ring)
        return waiter

    def disarm_wait(self) -> None:
        """The consumer's wait is over (woken, timed out or cancelled)."""
        self.waiter = None
        self.deadline = None

    def _ring(self) -> None:
        self.alarm = None
        deadline = self.deadline
        if deadline is None:
            return  # nobody waits: the next wait sets the alarm again
        if deadline > self.loop.time():
            self.alarm_at = deadline
            self.alarm = self.loop.call_at(deadline, self._ring)
            return
        self.wake()

    def wake(self) -> None:
        """Wake the consumer, if it waits; once woken, it needs no more waking."""
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def disarm(self) -> None:
        """Stop the alarm: the stream has ended."""
        if self.alarm is not None:
            self.alarm.cancel()
            self.alarm = None

    def put(self, item: Any) -> None:
        self.items.append(item)
        self.last_arrival = self.loop.time()
        self.wake()


async def read(
    result: Any,
    box: Mailbox,
    idle_timeout: float | None,
    max_backlog: int | None = None,
    run_id: str = "",
) -> None:
    """The reader task: it holds the mailbox and the result, never the `EventStream`.

    `max_backlog` bounds the bytes (`cost`) waiting in the mailbox (`RunOptions.max_backlog`).
    """
    items = box.items
    # Arrival times serve the idle timeout only.
    clock = box.loop.time if idle_timeout is not None else None
    limit = sys.maxsize if max_backlog is None else max_backlog
    crowded = limit // 2
    requests, tokens = counted = usage_counts(result)
    items.append(usage_mark(result))
    try:
        async for event in result.stream_events():
            # `box.put(event)`, spelled out, with a usage mark first when the SDK counted
            # usage since the last event: this runs once per token, and reads no event field.
            try:
                usage = result.context_wrapper.usage
                counts_changed = usage.requests != requests or usage.total_tokens != tokens
            except AttributeError:  # not the SDK's own objects: the general way
                counts_changed = usage_counts(result) != counted
            if counts_changed:
                requests, tokens = counted = usage_counts(result)
                items.append(usage_mark(result))
            items.append(event)
            if clock is not None:
                box.last_arrival = clock()
            if box.waiter is not None:
                box.wake()
            backlog = box.backlog = box.backlog + cost(event)
            if backlog > crowded:
                if backlog > limit:
                    await _overflow(result, box, limit, run_id)
                    return
                await asyncio.sleep(0)  # the consumer's turn: it may be reading a burst
        # A failure before the first event may not be raised by stream_events().
        box.error = getattr(result, "run_loop_exception", None)
    except Exception as exc:
        box.error = exc
    if usage_counts(result) != counted:
        box.put(usage_mark(result))
    box.put(END)


async def _overflow(result: Any, box: Mailbox, limit: int, run_id: str) -> None:
    """The consumer fell `limit` bytes behind: drop what waits, cancel the run, end the stream."""
    box.items.clear()
    box.backlog = 0
    box.error = SlowConsumerError(
        f"the consumer fell more than {limit} bytes of SDK events behind the run (max_backlog)"
    )
    logger.warning(
        "run %s: the consumer fell more than max_backlog=%d bytes behind (a client that does "
        "not read); the waiting events are dropped and the run is cancelled",
        run_id,
        limit,
    )
    await settle(cancel(None, result))
    box.put(END)


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def cancel(reader: asyncio.Task[None] | None, result: Any) -> list[asyncio.Future[Any]]:
    """Cancel the reader task and the run; return the tasks still finishing."""
    if reader is not None and not reader.done():
        reader.cancel()
    try:
        result.cancel()
    except Exception:
        logger.warning("result.cancel() failed", exc_info=True)
    return [
        task
        for task in (reader, run_task(result))
        if isinstance(task, asyncio.Future) and not task.done()
    ]


async def settle(pending: list[asyncio.Future[Any]]) -> None:
    """Wait, bounded, for cancelled tasks to finish, so none outlives the stream."""
    if pending:
        _, still = await asyncio.wait(pending, timeout=SETTLE_TIMEOUT)
        if still:
            logger.warning("the cancelled run did not finish within %s s", SETTLE_TIMEOUT)


def run_task(result: Any) -> Any:
    # `run_loop_task` in current SDKs, `_run_impl_task` in older releases.
    task = field(result, "run_loop_task")
    return task if task is not None else field(result, "_run_impl_task")
