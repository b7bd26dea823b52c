"""Event logs: store a run's events so that any consumer, anywhere, can read it from any position.

An `EventLog` keeps, per run, the run's events in `seq` order, ending with its `Done`. Readers
replay what is stored after a position and then follow the run live until `Done`. A producer holds
a *lease* on the run while it writes: a run that has neither a `Done` nor a live lease has lost its
producer, and the first reader to notice appends `Done(status="error")` with error type
`ProducerLost`, so every reader ends the same way.

`MemoryEventLog` is the one-process implementation; `agentstream.redis.RedisEventLog` stores runs
in Redis Streams for many processes and machines. `docs/scaling.md` has the picture.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from typing_extensions import override

from ._checks import check_duration
from ._errors import AgentStreamError, ConfigurationError
from ._events import Done, ErrorInfo, Event

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from typing_extensions import Self

__all__ = [
    "DEFAULT_LEASE_TTL",
    "DEFAULT_MAXLEN",
    "DEFAULT_TTL",
    "EVENT_LOG_UNAVAILABLE",
    "MAX_SEQ",
    "PRODUCER_LOST",
    "AppendError",
    "EventLog",
    "EventLogError",
    "EventLogUnavailableError",
    "EventsTrimmedError",
    "LeaseHeldError",
    "MemoryEventLog",
    "RunInfo",
    "RunNotFoundError",
    "current_run",
    "response_chain",
    "ends_run",
    "is_pause",
    "log_unavailable",
    "producer_lost",
]

DEFAULT_MAXLEN: Final = 10_000
"""Events kept per run by default; older ones are dropped first."""

DEFAULT_TTL: Final = 3600.0
"""Seconds a run is kept after its last event, by default."""

DEFAULT_LEASE_TTL: Final = 10.0
"""Seconds a producer's lease lasts without renewal, by default."""

MAX_SEQ: Final = 2**63 - 1
"""The largest `seq` a read position may name: the 63-bit range (Redis stream ids are 64-bit)."""

PRODUCER_LOST: Final = "ProducerLost"
"""`Done.error.type` of a run whose producer stopped without writing its `Done`."""

EVENT_LOG_UNAVAILABLE: Final = "EventLogUnavailable"
"""`Done.error.type` of a run that ended because its event log could not be reached in time."""


class EventLogError(AgentStreamError):
    """An event log refused an operation; the message names the run and the reason."""


class RunNotFoundError(EventLogError, LookupError):
    """The run is not in the log: it never started, or it expired."""


class EventsTrimmedError(EventLogError, LookupError):
    """The events a reader asked for were dropped (the run is longer than the log's `maxlen`)."""


class AppendError(EventLogError):
    """An append was refused: its `seq` is not the next one, or the run has already ended.

    A producer that gets it should stop: another writer (or a reader that declared the producer
    lost) has written the run's end.
    """


class EventLogUnavailableError(EventLogError):
    """The event log could not be reached (or refused to store) within its retry budget.

    The message names the run and the operation; the store's own exception is the `__cause__`.
    """


class LeaseHeldError(EventLogError):
    """Another producer holds the run's lease, or the run has already ended."""


@dataclass(frozen=True)
class RunInfo:
    """What a log holds for one run."""

    first_seq: int
    """`seq` of the oldest stored event (0 unless older events were trimmed)."""
    next_seq: int
    """`seq` the next event will have: one more than the last stored one."""
    done: bool
    """The run's `Done` is stored: the run has ended."""
    leased: bool
    """A producer holds a live lease on the run."""
    paused: bool = False
    """The last stored event is an `interrupted` done: the run waits for answers, and a resumed
    run will continue it (`agentstream.interactive`)."""


def producer_lost(run_id: str, seq: int, agent: str | None) -> Done:
    """The `Done` a reader appends for a run whose producer stopped without ending it."""
    return Done(
        seq=seq,
        run_id=run_id,
        agent=agent,
        timestamp=time.time_ns() // 1_000_000,
        status="error",
        last_agent=agent,
        error=ErrorInfo(
            type=PRODUCER_LOST,
            message="the run's producer stopped before the run ended (its lease ran out)",
        ),
    )


def log_unavailable(run_id: str, seq: int, agent: str | None) -> Done:
    """The `Done` that ends a run (or a reader's stream) when the event log stays unreachable."""
    return Done(
        seq=seq,
        run_id=run_id,
        agent=agent,
        timestamp=time.time_ns() // 1_000_000,
        status="error",
        last_agent=agent,
        error=ErrorInfo(
            type=EVENT_LOG_UNAVAILABLE,
            message="the event log of the run could not be reached in time",
        ),
    )


def check_run_id(run_id: object) -> str:
    """Refuse a run id that is not a non-empty string."""
    if not isinstance(run_id, str) or not run_id:
        raise ConfigurationError(f"run_id must be a non-empty string, got {run_id!r}")
    return run_id


def check_after(after: object) -> int | None:
    """Refuse a read position that is not None or a whole number from -1 to `MAX_SEQ`."""
    if after is None:
        return None
    if isinstance(after, bool) or not isinstance(after, int) or not -1 <= after <= MAX_SEQ:
        shown = repr(after)
        shown = shown if len(shown) <= 40 else f"{shown[:40]}..."
        raise ConfigurationError(
            f"after must be a seq >= -1 or None, got {shown} (a seq is at most 2**63 - 1)"
        )
    return after


def check_maxlen(maxlen: object) -> int:
    """Refuse a per-run event bound that is not a whole number >= 1."""
    if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1:
        raise ConfigurationError(f"maxlen must be a whole number >= 1, got {maxlen!r}")
    return maxlen


def is_pause(event: Event) -> bool:
    """Whether `event` is the `Done` of a run that paused: it ends a stream, not the run."""
    return isinstance(event, Done) and event.status == "interrupted"


def ends_run(event: Event) -> bool:
    """Whether `event` is the `Done` that ends the run for good (any status but `interrupted`)."""
    return isinstance(event, Done) and event.status != "interrupted"


def check_batch(run_id: str, events: Sequence[Event]) -> None:
    """Refuse a batch whose events belong to another run, skip a `seq`, or continue past `Done`."""
    for i, event in enumerate(events):
        if event.run_id != run_id:
            raise AppendError(
                f"event seq {event.seq} belongs to run {event.run_id!r}, not {run_id!r}"
            )
        if i and event.seq != events[i - 1].seq + 1:
            raise AppendError(
                f"events of run {run_id!r} must have consecutive seqs, got "
                f"{events[i - 1].seq} then {event.seq}"
            )
        if isinstance(event, Done) and i != len(events) - 1:
            raise AppendError(f"run {run_id!r}: seq {event.seq} is a done event, but more follow")


class EventLog(ABC):
    """Where runs' events are stored and read back, from any position, live.

    Writing: a producer takes the run's lease (`acquire_lease`), renews it more often than
    `lease_ttl`, appends events with consecutive `seq` from 0, ends with a `Done`, then releases
    the lease. `agentstream.resume.publish()` does all of this for a run.

    Reading: `read(run_id, after)` yields the events with `seq > after`, stored ones first, then
    new ones as they are appended, and stops after `Done`. When the run has no `Done` and no live
    lease, the producer is lost: the reader appends `producer_lost()` (unless someone else has
    appended since) and yields it, so a reader waits at most about `lease_ttl` after a producer
    died.
    """

    lease_ttl: float
    """Seconds a lease lasts without renewal."""

    async def append(self, run_id: str, event: Event) -> None:
        """Append one event; its `seq` must be the run's next one.

        Raises:
            AppendError: the `seq` is not the next one, the event is another run's, or the run
                has ended.

        """
        await self.extend(run_id, (event,))

    @abstractmethod
    async def extend(self, run_id: str, events: Sequence[Event]) -> None:
        """Append events atomically, in order; the first one's `seq` must be the run's next one.

        Raises:
            AppendError: as for `append()`.

        """

    @abstractmethod
    def read(self, run_id: str, after: int | None = -1) -> AsyncIterator[Event]:
        """Yield the run's events with `seq > after`, then follow it live until its `Done`.

        `after=-1` (the default) reads from the start; `after=None` reads only what is appended
        from now on (just the `Done` if the run has already ended).

        Raises:
            RunNotFoundError: (while iterating) the run is not in the log.
            EventsTrimmedError: (while iterating) events after `after` were trimmed away.
            ConfigurationError: `run_id` or `after` is invalid.

        """

    @abstractmethod
    async def info(self, run_id: str) -> RunInfo | None:
        """What the log holds for the run, or None if it holds nothing (never started, expired)."""

    @abstractmethod
    async def expire(self, run_id: str, ttl: float | None) -> None:
        """Keep the run for `ttl` more seconds from now; None deletes it now (and its lease)."""

    @abstractmethod
    async def acquire_lease(self, run_id: str) -> str:
        """Take the run's producer lease for `lease_ttl` seconds; return its token.

        Raises:
            LeaseHeldError: another producer holds it, or the run has already ended.

        """

    @abstractmethod
    async def renew_lease(self, run_id: str, token: str) -> bool:
        """Extend the lease by `lease_ttl` from now; False if it was lost.

        A lease that merely expired is taken back (the run may still go on); it is lost when
        another producer took it or the run has ended meanwhile.
        """

    @abstractmethod
    async def release_lease(self, run_id: str, token: str) -> None:
        """Give the lease back if `token` still holds it: readers stop waiting for this producer."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release what the log holds (connections it opened itself). Safe to call twice."""

    # Paused runs (`agentstream.interactive`). Not abstract: a log written before they existed
    # still works for runs that never pause.

    async def save_pause(
        self, run_id: str, record: str, ttl: float, *, thread: str | None = None
    ) -> None:
        """Keep the record of a paused run for `ttl` seconds.

        With `thread`, `find_pause(thread)` names this run for as long.

        Raises:
            ConfigurationError: this log does not keep paused runs.

        """
        raise ConfigurationError(f"{type(self).__name__} does not keep paused runs")

    async def load_pause(self, run_id: str) -> str | None:
        """The record of the run's pause, or None when it is not paused (or the pause expired)."""
        return None

    async def find_pause(self, thread: str) -> str | None:
        """The id of the run that last paused in `thread`, or None; its pause may be over."""
        return None

    async def claim_pause(self, run_id: str, record: str) -> bool:
        """Take the run's pause if its record is still `record`: True for exactly one caller.

        The record is deleted, so a second answer, a replayed one or one that lost a race is
        refused; the winner resumes the run.
        """
        return False

    # The run a conversation is streaming now, for a client that reconnects after a reload.

    async def set_current(self, thread: str, run_id: str, after: int, ttl: float) -> None:
        """Name `run_id` as the run `thread` is streaming, read from after seq `after`.

        Raises:
            ConfigurationError: this log does not keep them.

        """
        raise ConfigurationError(f"{type(self).__name__} does not keep conversations' runs")

    async def current(self, thread: str) -> tuple[str, int] | None:
        """The run `thread` streams now and the seq its stream starts after, or None."""
        return None

    # The model provider's own history (the Responses API): a conversation's last response.

    async def save_chain(self, thread: str, response_id: str, agent: str, ttl: float) -> None:
        """Keep `thread`'s last response id and the agent that ended its last turn.

        Raises:
            ConfigurationError: this log does not keep them.

        """
        raise ConfigurationError(f"{type(self).__name__} does not keep response chains")

    async def chain(self, thread: str) -> tuple[str, str] | None:
        """`thread`'s last response id and last agent's name, or None."""
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _Run:
    """One run in memory: a window of its events, its lease, and a signal for waiting readers."""

    __slots__ = ("events", "expires_at", "first", "lease", "lease_until", "signal")

    def __init__(self, maxlen: int, expires_at: float) -> None:
        self.events: deque[Event] = deque(maxlen=maxlen)
        self.first = 0
        self.expires_at = expires_at
        self.lease: str | None = None
        self.lease_until = 0.0
        self.signal: asyncio.Future[None] | None = None

    @property
    def next_seq(self) -> int:
        return self.first + len(self.events)

    @property
    def done(self) -> bool:
        return bool(self.events) and ends_run(self.events[-1])

    @property
    def paused(self) -> bool:
        return bool(self.events) and is_pause(self.events[-1])

    def leased(self, now: float) -> bool:
        return self.lease is not None and self.lease_until > now

    def wake(self) -> None:
        signal, self.signal = self.signal, None
        if signal is not None and not signal.done():
            signal.set_result(None)

    def waiter(self) -> asyncio.Future[None]:
        # Shared by every reader waiting on the run; each awaits it shielded, so a reader that
        # is cancelled (a client gone) does not cancel the others' wait.
        if self.signal is None or self.signal.done():
            self.signal = asyncio.get_running_loop().create_future()
        return self.signal


class MemoryEventLog(EventLog):
    """An event log in this process's memory: the default, for one process.

    Memory is bounded per run: the last `maxlen` events are kept (a reader asking for older ones
    gets `EventsTrimmedError`), and a run is dropped `ttl` seconds after its last append. Readers
    and producers must share one event loop.

    Args:
        maxlen: Events kept per run.
        ttl: Seconds a run is kept after its last append (or after `expire()`).
        lease_ttl: Seconds a producer's lease lasts without renewal; readers of a run whose
            lease expired without a `Done` end with `producer_lost()`.

    """

    def __init__(
        self,
        *,
        maxlen: int = DEFAULT_MAXLEN,
        ttl: float = DEFAULT_TTL,
        lease_ttl: float = DEFAULT_LEASE_TTL,
    ) -> None:
        self.maxlen = check_maxlen(maxlen)
        """Events kept per run."""
        self.ttl = check_duration("ttl", ttl)
        """Seconds a run is kept after its last append."""
        self.lease_ttl = check_duration("lease_ttl", lease_ttl)
        self._runs: dict[str, _Run] = {}
        self._pauses: dict[str, tuple[str, float]] = {}
        self._threads: dict[str, tuple[str, float]] = {}
        self._current: dict[str, tuple[str, float]] = {}
        self._chains: dict[str, tuple[str, float]] = {}
        self._next_sweep = 0.0

    def __repr__(self) -> str:
        return f"MemoryEventLog(runs={len(self._runs)}, maxlen={self.maxlen}, ttl={self.ttl:g})"

    # Internals

    def _now(self) -> float:
        return time.monotonic()

    def _sweep(self, now: float) -> None:
        """Drop expired runs; at most once a second, so appends stay O(1) on average."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + 1.0
        for run_id in [r for r, run in self._runs.items() if run.expires_at <= now]:
            self._runs.pop(run_id).wake()
        for table in (self._pauses, self._threads, self._current, self._chains):
            for key in [k for k, (_, until) in table.items() if until <= now]:
                del table[key]

    def _get(self, run_id: str, now: float) -> _Run | None:
        run = self._runs.get(run_id)
        if run is not None and run.expires_at <= now:
            del self._runs[run_id]
            run.wake()
            return None
        return run

    def _store(self, run_id: str, events: Sequence[Event], *, rescue: bool) -> bool:
        """Append `events` if they continue the run; `rescue` appends only if the lease is gone."""
        now = self._now()
        self._sweep(now)
        run = self._get(run_id, now)
        first = events[0].seq
        if rescue and run is not None and run.leased(now):
            return False
        if run is None:
            if first != 0:
                if rescue:
                    return False
                raise AppendError(
                    f"run {run_id!r} is not in the log (expired?): seq {first} cannot continue it"
                )
            run = self._runs[run_id] = _Run(self.maxlen, now + self.ttl)
        if run.done:
            if rescue:
                return False
            raise AppendError(f"run {run_id!r} has already ended; seq {first} was refused")
        if first != run.next_seq:
            if rescue:
                return False
            raise AppendError(f"run {run_id!r} expects seq {run.next_seq} next, got seq {first}")
        if len(events) >= self.maxlen:
            run.first = first + len(events) - self.maxlen
        elif len(run.events) + len(events) > self.maxlen:
            run.first += len(run.events) + len(events) - self.maxlen
        run.events.extend(events)
        run.expires_at = now + self.ttl
        run.wake()
        return True

    # The interface

    @override
    async def extend(self, run_id: str, events: Sequence[Event]) -> None:
        check_run_id(run_id)
        if not events:
            return
        check_batch(run_id, events)
        self._store(run_id, events, rescue=False)

    @override
    async def read(self, run_id: str, after: int | None = -1) -> AsyncIterator[Event]:
        check_run_id(run_id)
        position = check_after(after)
        now = self._now()
        run = self._get(run_id, now)
        if run is None or (not run.events and not run.leased(now)):
            raise RunNotFoundError(f"run {run_id!r} is not in the log")
        if position is None:
            position = run.next_seq - (2 if run.done else 1)
        next_seq = position + 1
        while True:
            while next_seq < run.next_seq:
                if next_seq < run.first:
                    raise EventsTrimmedError(
                        f"run {run_id!r}: events from seq {next_seq} were trimmed; the log keeps "
                        f"the last {self.maxlen} (from seq {run.first})"
                    )
                event = run.events[next_seq - run.first]
                yield event
                next_seq += 1
                if isinstance(event, Done):
                    return
            now = self._now()
            if self._runs.get(run_id) is not run:
                raise RunNotFoundError(f"run {run_id!r} expired while it was being read")
            if run.done:
                return  # the run ended before the position asked for
            if run.paused and not run.leased(now):
                # The run waits for answers: follow it until it resumes or expires.
                if self._get(run_id, now) is None:
                    raise RunNotFoundError(f"run {run_id!r} expired while it was paused")
                waiter = run.waiter()
                timer = asyncio.get_running_loop().call_later(
                    max(run.expires_at - now, 0.0), _wake_future, waiter
                )
                try:
                    await asyncio.shield(waiter)
                finally:
                    timer.cancel()
                continue
            if not run.leased(now):
                agent = run.events[-1].agent if run.events else None
                self._store(run_id, (producer_lost(run_id, run.next_seq, agent),), rescue=True)
                continue
            waiter = run.waiter()
            # Woken by an append, a lease release, expiry; or when the lease runs out.
            timer = asyncio.get_running_loop().call_later(
                run.lease_until - now, _wake_future, waiter
            )
            try:
                await asyncio.shield(waiter)
            finally:
                timer.cancel()

    @override
    async def info(self, run_id: str) -> RunInfo | None:
        check_run_id(run_id)
        now = self._now()
        run = self._get(run_id, now)
        if run is None or (not run.events and not run.leased(now)):
            return None
        return RunInfo(
            first_seq=run.first,
            next_seq=run.next_seq,
            done=run.done,
            leased=run.leased(now),
            paused=run.paused,
        )

    @override
    async def expire(self, run_id: str, ttl: float | None) -> None:
        check_run_id(run_id)
        seconds = None if ttl is None else check_duration("ttl", ttl)
        run = self._runs.get(run_id)
        if run is None:
            return
        if seconds is None:
            del self._runs[run_id]
            run.wake()
        else:
            run.expires_at = self._now() + seconds

    @override
    async def acquire_lease(self, run_id: str) -> str:
        check_run_id(run_id)
        now = self._now()
        self._sweep(now)
        run = self._get(run_id, now)
        if run is None:
            run = self._runs[run_id] = _Run(self.maxlen, now + self.ttl)
        elif run.done:
            raise LeaseHeldError(f"run {run_id!r} has already ended")
        elif run.leased(now):
            raise LeaseHeldError(f"run {run_id!r} already has a producer")
        token = uuid.uuid4().hex
        run.lease, run.lease_until = token, now + self.lease_ttl
        return token

    @override
    async def renew_lease(self, run_id: str, token: str) -> bool:
        check_run_id(run_id)
        now = self._now()
        run = self._get(run_id, now)
        if run is None or run.done:
            return False
        if run.lease != token and run.leased(now):
            return False
        run.lease, run.lease_until = token, now + self.lease_ttl
        return True

    @override
    async def aclose(self) -> None:
        runs, self._runs = self._runs, {}
        for run in runs.values():
            run.wake()

    @override
    async def release_lease(self, run_id: str, token: str) -> None:
        check_run_id(run_id)
        run = self._runs.get(run_id)
        if run is not None and run.lease == token:
            run.lease, run.lease_until = None, 0.0
            run.wake()

    @override
    async def save_pause(
        self, run_id: str, record: str, ttl: float, *, thread: str | None = None
    ) -> None:
        check_run_id(run_id)
        until = self._now() + check_duration("ttl", ttl)
        self._pauses[run_id] = (record, until)
        if thread is not None:
            self._threads[thread] = (run_id, until)

    def _live(self, table: dict[str, tuple[str, float]], key: str) -> str | None:
        entry = table.get(key)
        if entry is None:
            return None
        if entry[1] <= self._now():
            del table[key]
            return None
        return entry[0]

    @override
    async def load_pause(self, run_id: str) -> str | None:
        check_run_id(run_id)
        return self._live(self._pauses, run_id)

    @override
    async def find_pause(self, thread: str) -> str | None:
        return self._live(self._threads, thread)

    @override
    async def claim_pause(self, run_id: str, record: str) -> bool:
        check_run_id(run_id)
        if self._live(self._pauses, run_id) != record:
            return False
        del self._pauses[run_id]
        return True

    @override
    async def set_current(self, thread: str, run_id: str, after: int, ttl: float) -> None:
        check_run_id(run_id)
        until = self._now() + check_duration("ttl", ttl)
        self._current[thread] = (f"{after} {run_id}", until)

    @override
    async def current(self, thread: str) -> tuple[str, int] | None:
        return current_run(self._live(self._current, thread))

    @override
    async def save_chain(self, thread: str, response_id: str, agent: str, ttl: float) -> None:
        until = self._now() + check_duration("ttl", ttl)
        self._chains[thread] = (f"{agent} {response_id}", until)

    @override
    async def chain(self, thread: str) -> tuple[str, str] | None:
        return response_chain(self._live(self._chains, thread))


def response_chain(value: str | None) -> tuple[str, str] | None:
    """A conversation's response chain as `save_chain` stored it (`"<agent> <response id>"`).

    An agent's name may hold spaces; a response id does not.
    """
    if value is None:
        return None
    agent, _, response_id = value.rpartition(" ")
    return response_id, agent


def current_run(value: str | None) -> tuple[str, int] | None:
    """A conversation's current run as `set_current` stored it (`"<after> <run_id>"`)."""
    if value is None:
        return None
    after, _, run_id = value.partition(" ")
    return run_id, int(after)


def _wake_future(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
