"""`RedisEventLog`: runs' events in Redis Streams, readable and resumable from any process.

```python
from agentstream.redis import RedisEventLog
from agentstream.resume import publish, subscribe

log = RedisEventLog.from_url("redis://localhost:6379/0")
publication = await publish(Runner.run_streamed(agent, "Hello"), log)  # in a worker
async for event in subscribe(log, publication.run_id, after=-1):  # anywhere else
    print(event.type)
```

Layout, per run (the `{run_id}` hash tag puts both keys in one Redis Cluster slot, so the scripts
below may touch both):

- `agentstream:{run_id}`, a stream: the entry of the event with seq `s` has the id `<s+1>-0` and
  the fields `t` (the event's type) and `e` (its JSON). Reading after seq `n` is `XREAD` from id
  `<n+1>-0`: a seek, O(log n), whatever the run's length. `XADD ... MAXLEN ~` bounds the length,
  `PEXPIRE` after each append the lifetime.
- `agentstream:{run_id}:lease`, a string: the token of the producer holding the lease, with a
  `PX` expiry the producer keeps pushing back.

Appends, lease changes and the producer-lost `Done` are Lua scripts, so each is atomic: an append
is accepted only when its seq is the next one and the run has not ended, which also fences off a
producer that comes back after it was declared lost.

Every command is retried with backoff for up to `retry_budget` seconds when Redis cannot be
reached (a restart, a pause, a failover, `maxmemory`): the seq fence makes a retried append safe,
and an append whose earlier attempt did land is recognized by its stored JSON. Past the budget an
operation raises `EventLogUnavailableError`, and a reader ends with a `Done(status="error")` of
type `EventLogUnavailable` (`docs/scaling.md`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any, Final, TypeVar

from typing_extensions import override

from ._checks import check_duration
from ._errors import ConfigurationError, MissingExtraError
from ._eventlog import (
    DEFAULT_LEASE_TTL,
    DEFAULT_MAXLEN,
    DEFAULT_TTL,
    EVENT_LOG_UNAVAILABLE,
    AppendError,
    EventLog,
    EventLogError,
    EventLogUnavailableError,
    EventsTrimmedError,
    LeaseHeldError,
    RunInfo,
    RunNotFoundError,
    check_after,
    check_batch,
    check_maxlen,
    check_run_id,
    current_run,
    is_pause,
    log_unavailable,
    producer_lost,
    response_chain,
)
from ._events import Done, Event, parse_event

try:
    import redis.asyncio as aioredis
    from redis import exceptions as redis_errors
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingExtraError("agentstream.redis", "redis") from exc

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_RETRY_BUDGET",
    "EVENT_LOG_UNAVAILABLE",
    "EventLogUnavailableError",
    "RedisEventLog",
]

_T = TypeVar("_T")

logger = logging.getLogger("agentstream")

DEFAULT_PREFIX: Final = "agentstream"
"""The first part of every key: `<prefix>:{<run_id>}` and `<prefix>:{<run_id>}:lease`."""

DEFAULT_RETRY_BUDGET: Final = 3.0
"""Seconds an operation retries an unreachable Redis by default (at most half the lease TTL)."""

_RETRYABLE: Final = (
    redis_errors.ConnectionError,  # BusyLoadingError (a restart loading its AOF) included
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,  # a replica promoted, or not yet
    redis_errors.OutOfMemoryError,  # maxmemory with noeviction: memory may be freed
    redis_errors.TryAgainError,
    OSError,
    asyncio.TimeoutError,  # an attempt cut at the end of the budget (a paused server)
)
"""What a retry may cure: Redis unreachable, loading, paused or full."""

_FIRST_DELAY: Final = 0.05
_MAX_DELAY: Final = 0.5

# KEYS: stream, lease. ARGV: maxlen, ttl ms, rescue (1: only if no lease), first seq, then
# (type, json) per event. Replies {status, next seq}.
_APPEND: Final = """
local stream, lease = KEYS[1], KEYS[2]
local first = tonumber(ARGV[4])
if ARGV[3] == '1' and redis.call('EXISTS', lease) == 1 then return {'leased', -1} end
local next_seq = 0
local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
if #last > 0 then
  next_seq = tonumber(string.match(last[1][1], '^(%d+)-'))
  if last[1][2][2] == 'done' then return {'ended', next_seq} end
elseif first > 0 and redis.call('EXISTS', lease) == 0 then
  return {'missing', 0}
end
if first ~= next_seq then return {'seq', next_seq} end
local seq = first
for i = 5, #ARGV, 2 do
  seq = seq + 1
  redis.call('XADD', stream, 'MAXLEN', '~', ARGV[1], string.format('%d-0', seq),
    't', ARGV[i], 'e', ARGV[i + 1])
end
redis.call('PEXPIRE', stream, ARGV[2])
return {'ok', seq}
"""

_ENDED: Final = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local ended = #last > 0 and last[1][2][2] == 'done'
"""

# KEYS: stream, lease. ARGV: token, lease ms.
_ACQUIRE: Final = (
    _ENDED
    + """
if ended then return 'ended' end
if redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then return 'ok' end
return 'held'
"""
)

_RENEW: Final = (
    _ENDED
    + """
local holder = redis.call('GET', KEYS[2])
if holder == ARGV[1] and not ended then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
if holder or ended then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
"""
)

# KEYS: lease. ARGV: token.
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else str(value)


def _entry_seq(entry_id: Any) -> int:
    return int(_text(entry_id).partition("-")[0]) - 1


def _entry_event(fields: Any) -> Event:
    data = fields.get(b"e", fields.get("e")) if isinstance(fields, dict) else None
    if data is None:
        raise AppendError(f"a stream entry has no 'e' field: {sorted(map(_text, fields))}")
    return parse_event(data)


def _entry_json(fields: Any) -> str | None:
    data = fields.get(b"e", fields.get("e")) if isinstance(fields, dict) else None
    return None if data is None else _text(data)


def _streams(reply: Any) -> list[tuple[str, list[Any]]]:
    """The (key, entries) pairs of an `XREAD` reply, in RESP2 or RESP3 form."""
    if not reply:
        return []
    pairs = reply.items() if isinstance(reply, dict) else reply
    return [(_text(key), list(entries)) for key, entries in pairs]


def _entries(reply: Any) -> list[Any]:
    """The entries of an `XREAD` reply for one stream, in RESP2 or RESP3 form."""
    streams = _streams(reply)
    return streams[0][1] if streams else []


def _raise_if_cancelled() -> None:
    """Raise the cancellation a Redis call swallowed (redis-py can, on Python 3.11+).

    A reader whose cancellation was lost would otherwise wait on for its run forever, holding
    its response (and a server's shutdown) open.
    """
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)  # Python 3.11+
    if cancelling is not None and cancelling():
        raise asyncio.CancelledError


class _Failure:
    """An attempt that failed in a way a retry may cure."""

    def __init__(self, error: Exception) -> None:
        self.error = error


async def _attempt(
    run_id: str, what: str, call: Callable[[], Awaitable[_T]], timeout: float
) -> _T | _Failure:
    """One try of `call()`, cut after `timeout` s; a refusal no retry cures is raised wrapped."""
    try:
        return await asyncio.wait_for(call(), timeout)
    except _RETRYABLE as exc:
        return _Failure(exc)
    except redis_errors.RedisError as exc:
        raise EventLogUnavailableError(
            f"run {run_id!r}: {what} was refused by Redis ({type(exc).__name__})"
        ) from exc


_MAX_QUEUED: Final = 64
"""Batches the follower queues for one reader; a reader further behind re-reads from Redis."""


class _Reader:
    """One following reader's mailbox: the entries the follower read for its run."""

    def __init__(self) -> None:
        self.batches: deque[list[Any]] = deque()
        self.wakeup = asyncio.Event()
        self.lagged = False
        self.error: BaseException | None = None

    def push(self, entries: list[Any]) -> None:
        if len(self.batches) >= _MAX_QUEUED:
            # A reader that does not keep up: drop its queue, it re-reads from Redis.
            self.batches.clear()
            self.lagged = True
        else:
            self.batches.append(entries)
        self.wakeup.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.wakeup.set()


class _Watch:
    """A stream key the follower reads: the seq it reads from next, and who gets the entries."""

    def __init__(self, next_seq: int) -> None:
        self.next_seq = next_seq
        self.readers: set[_Reader] = set()


class _Follower:
    """One blocking `XREAD` on one connection for every run this process follows.

    Readers register a stream key and wait on their `_Reader`; the follower's `XREAD BLOCK` covers
    every registered key (one id per key) and hands each key's entries to its readers. A reader
    that registers a new key interrupts the blocked call (`CLIENT UNBLOCK` from the command
    client) so that the next call covers it. The follower stops when no key is left.
    """

    def __init__(self, log: RedisEventLog) -> None:
        self.log = log
        self.watches: dict[str, _Watch] = {}
        self.loop = asyncio.get_running_loop()
        self.task: asyncio.Task[None] | None = None
        self.client_id: int | None = None
        self.cycle = 0
        self.pending = False
        self.covered: set[str] = set()
        self.unblocking: asyncio.Task[None] | None = None

    def register(self, key: str, next_seq: int, reader: _Reader) -> int:
        """Follow `key` for `reader` from `next_seq` on; returns the seq the follower reads next.

        The follower reads a key from the lowest seq any of its readers needs: a reader behind
        the key's position moves it back (and interrupts the blocked call so that the next one
        starts there); a reader ahead of it (even far past the end of the log) skips what it
        does not need and never holds back another.
        """
        watch = self.watches.get(key)
        moved = False
        if watch is None:
            watch = self.watches[key] = _Watch(next_seq)
        elif next_seq < watch.next_seq:
            watch.next_seq, moved = next_seq, True
        watch.readers.add(reader)
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self._run())
        elif moved or key not in self.covered:
            self._interrupt()
        return watch.next_seq

    def unregister(self, key: str, reader: _Reader) -> None:
        """Stop giving `key`'s entries to `reader`; the key is dropped with its last reader."""
        watch = self.watches.get(key)
        if watch is None:
            return
        watch.readers.discard(reader)
        if not watch.readers:
            del self.watches[key]

    def _interrupt(self) -> None:
        self.pending = True
        if self.unblocking is None or self.unblocking.done():
            self.unblocking = self.loop.create_task(self._unblock())

    def _following(self) -> bool:
        return self.task is not None and not self.task.done()

    async def _unblock(self) -> None:
        # CLIENT UNBLOCK only reaches a call the server is blocked in: one sent before the
        # XREAD arrived is a no-op (0), so retry until the follower has taken in every key.
        try:
            while self.pending and self._following():
                if self.client_id is not None:
                    await self.log.client.client_unblock(self.client_id)
                await asyncio.sleep(0.001)  # a retry timer, not synchronization
        except Exception:  # the follower's own poll timeout covers a miss
            logger.debug("could not interrupt the event log's follower", exc_info=True)

    async def _run(self) -> None:
        # A reader may register while a finished session closes its connection: go on then.
        while self.watches:
            if not await self._follow():
                return

    async def _follow(self) -> bool:
        connection = self.log.read_client.client()
        try:
            self.client_id = int(await connection.client_id())
            block = self.log._ms(self.log.poll)
            while self.watches:
                self.cycle += 1
                self.pending = False
                self.covered = set(self.watches)
                starts = {key: w.next_seq for key, w in self.watches.items()}
                streams: dict[Any, Any] = {key: f"{seq}-0" for key, seq in starts.items()}
                reply = await connection.xread(streams, count=self.log.batch, block=block)
                for key, entries in _streams(reply):
                    watch = self.watches.get(key)
                    if watch is None or not entries:
                        continue
                    if watch.next_seq == starts.get(key):
                        # Not moved back by a reader that registered meanwhile: go on from here.
                        watch.next_seq = _entry_seq(entries[-1][0]) + 1
                    for reader in watch.readers:
                        reader.push(entries)
        except BaseException as exc:
            error = exc
            if not isinstance(exc, Exception):
                error = EventLogError("the event log was closed while a reader was following")
            for watch in self.watches.values():
                for reader in watch.readers:
                    reader.fail(error)
            if not isinstance(exc, Exception):
                raise
            logger.warning("the event log's follower failed", exc_info=True)
            return False
        finally:
            self.covered = set()
            if connection.connection is not None:
                # A cancelled call may have left its reply unread: never reuse the connection.
                await connection.connection.disconnect()
            await connection.aclose()
        return True

    async def aclose(self) -> None:
        """Stop following; readers still waiting get the cancellation as their error."""
        for task in (self.unblocking, self.task):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


class RedisEventLog(EventLog):
    """An event log in Redis Streams, shared by every process that talks to the same Redis.

    Args:
        client: A `redis.asyncio.Redis` (or `RedisCluster`) client, for appends, leases and
            lookups: short commands, so a bounded pool serves many runs.
        read_client: The client following readers block on (`XREAD BLOCK`, up to `poll`
            seconds), one pool connection per waiting reader: size its pool for your readers,
            and keep its `socket_timeout`, if set, longer than `poll`. `client` by default.
        prefix: The first part of every key.
        maxlen: Events kept per run, approximately (`MAXLEN ~`: Redis trims whole nodes, so a
            run may keep somewhat more). Readers asking for trimmed events get
            `EventsTrimmedError`.
        ttl: Seconds a run is kept after its last append (or after `expire()`).
        lease_ttl: Seconds a producer's lease lasts without renewal. Readers of a run whose
            lease expired without a `Done` end with `producer_lost()` within about
            `lease_ttl + poll` seconds of the producer's death.
        poll: Seconds a following reader blocks in one `XREAD` before it checks the lease;
            `lease_ttl / 4` (at most 5 s) by default.
        batch: Events fetched per `XREAD`.
        retry_budget: Seconds one operation (an append, a lease renewal, a read) keeps retrying
            while Redis cannot be reached, with backoff from 0.05 s to 0.5 s; each attempt is
            cut at the end of the budget. `min(3.0, lease_ttl / 2)` by default; it must be
            shorter than `lease_ttl`, so that a producer's retries end before its lease does.
            Past it the operation raises `EventLogUnavailableError`, and a reader ends with a
            `Done(status="error")` of type `EventLogUnavailable`.

    Raises:
        ConfigurationError: an argument has a value that cannot work.

    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        read_client: aioredis.Redis | None = None,
        prefix: str = DEFAULT_PREFIX,
        maxlen: int = DEFAULT_MAXLEN,
        ttl: float = DEFAULT_TTL,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        poll: float | None = None,
        batch: int = 500,
        retry_budget: float | None = None,
    ) -> None:
        if not callable(getattr(client, "register_script", None)):
            raise ConfigurationError(
                f"client must be a redis.asyncio client, got {type(client).__name__}"
            )
        if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix:
            raise ConfigurationError(
                f"prefix must be a non-empty string without braces, got {prefix!r}"
            )
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ConfigurationError(f"batch must be a whole number >= 1, got {batch!r}")
        self.client = client
        """The Redis client for appends, leases and lookups."""
        self.read_client = client if read_client is None else read_client
        """The Redis client following readers block on."""
        self.prefix = prefix
        """The first part of every key."""
        self.maxlen = check_maxlen(maxlen)
        """Events kept per run (approximately)."""
        self.ttl = check_duration("ttl", ttl)
        """Seconds a run is kept after its last append."""
        self.lease_ttl = check_duration("lease_ttl", lease_ttl)
        self.poll = min(self.lease_ttl / 4, 5.0) if poll is None else check_duration("poll", poll)
        """Seconds a following reader waits in one `XREAD` before it checks the lease."""
        self.batch = batch
        """Events fetched per `XREAD`."""
        if retry_budget is None:
            retry_budget = min(DEFAULT_RETRY_BUDGET, self.lease_ttl / 2)
        self.retry_budget = check_duration("retry_budget", retry_budget)
        """Seconds one operation retries an unreachable Redis."""
        if self.retry_budget >= self.lease_ttl:
            raise ConfigurationError(
                f"retry_budget must be shorter than lease_ttl ({self.lease_ttl:g} s), "
                f"got {retry_budget!r}"
            )
        self._owns_client = False
        self._shared: _Follower | None = None
        self._append = client.register_script(_APPEND)
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        max_connections: int = 64,
        max_readers: int = 10_000,
        **options: Any,
    ) -> RedisEventLog:
        """A log on new clients for `url` (`redis://host:port/db`); `aclose()` closes them.

        Appends, leases and lookups share a pool of at most `max_connections` connections (a
        command waits for a free one rather than opening more: a thousand runs appending at
        once would otherwise open a thousand connections at once). Following readers use a
        second pool of up to `max_readers` connections, one per waiting reader (redis-py's
        default, 100, would cap a process at about 100 live readers). `options` are
        `RedisEventLog`'s keyword arguments.
        """
        commands = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=None
        )
        log = cls(aioredis.Redis(connection_pool=commands), **options)
        # redis-py's default socket_timeout (5 s in redis-py 8) would cut a blocking XREAD.
        log.read_client = aioredis.from_url(
            url, max_connections=max_readers, socket_timeout=log.poll + 30
        )
        log._owns_client = True
        return log

    def __repr__(self) -> str:
        return (
            f"RedisEventLog(prefix={self.prefix!r}, maxlen={self.maxlen}, ttl={self.ttl:g}, "
            f"lease_ttl={self.lease_ttl:g})"
        )

    def keys(self, run_id: str) -> tuple[str, str]:
        """The run's stream key and lease key."""
        check_run_id(run_id)
        stream = f"{self.prefix}:{{{run_id}}}"
        return stream, f"{stream}:lease"

    def _pause_key(self, run_id: str) -> str:
        return f"{self.keys(run_id)[0]}:pause"

    def _thread_key(self, thread: str) -> str:
        return f"{self.prefix}:thread:{{{thread}}}"

    def _ms(self, seconds: float) -> int:
        return max(1, round(seconds * 1000))

    async def _call(
        self, run_id: str, what: str, call: Callable[[], Awaitable[_T]], budget: float | None = None
    ) -> _T:
        """`call()`, retried with backoff while Redis cannot be reached, for `retry_budget` s.

        Raises:
            EventLogUnavailableError: the budget ran out, or Redis refused the command.

        """
        loop = asyncio.get_running_loop()
        budget = self.retry_budget if budget is None else budget
        deadline = loop.time() + budget
        delay = _FIRST_DELAY
        while True:
            outcome = await _attempt(run_id, what, call, max(deadline - loop.time(), 0.001))
            if not isinstance(outcome, _Failure):
                return outcome
            _raise_if_cancelled()
            exc = outcome.error
            left = deadline - loop.time()
            if left <= 0:
                raise EventLogUnavailableError(
                    f"run {run_id!r}: {what} failed: Redis was unreachable for "
                    f"{budget:g} s (retry_budget); last error {type(exc).__name__}"
                ) from exc
            logger.info("run %r: %s failed (%s), retrying", run_id, what, type(exc).__name__)
            await asyncio.sleep(min(delay, left))  # backoff, not synchronization
            delay = min(delay * 2, _MAX_DELAY)

    async def _store(
        self, run_id: str, keys: tuple[str, str], events: Sequence[Event], *, rescue: bool
    ) -> tuple[str, int]:
        args: list[Any] = [
            self.maxlen,
            self._ms(self.ttl),
            1 if rescue else 0,
            events[0].seq,
        ]
        for event in events:
            # A paused run's done is marked apart: the scripts take a `done` entry as the end.
            args += ("paused" if is_pause(event) else event.type, event.model_dump_json())
        attempts = 0

        async def append() -> Any:
            nonlocal attempts
            attempts += 1
            return await self._append(keys=list(keys), args=args)

        status, value = await self._call(run_id, f"appending seq {events[0].seq}", append)
        status, next_seq = _text(status), int(value)
        last = events[-1]
        if attempts > 1 and status in ("seq", "ended") and next_seq == last.seq + 1:
            # An earlier attempt may have landed before its reply was lost: if the log's last
            # entry is this batch's last event, the append is done, not refused.
            stored = await self._call(
                run_id,
                f"checking seq {last.seq}",
                lambda: self.client.xrange(keys[0], f"{last.seq + 1}-0", f"{last.seq + 1}-0"),
            )
            if stored and _entry_json(stored[0][1]) == args[-1]:
                return "ok", next_seq
        return status, next_seq

    # The interface

    @override
    async def extend(self, run_id: str, events: Sequence[Event]) -> None:
        keys = self.keys(run_id)
        if not events:
            return
        check_batch(run_id, events)
        status, next_seq = await self._store(run_id, keys, events, rescue=False)
        first = events[0].seq
        if status == "ended":
            raise AppendError(f"run {run_id!r} has already ended; seq {first} was refused")
        if status == "missing":
            raise AppendError(
                f"run {run_id!r} is not in the log (expired?): seq {first} cannot continue it"
            )
        if status == "seq":
            raise AppendError(f"run {run_id!r} expects seq {next_seq} next, got seq {first}")

    @override
    async def read(self, run_id: str, after: int | None = -1) -> AsyncIterator[Event]:
        keys = self.keys(run_id)
        position = check_after(after)
        info = await self.info(run_id)
        if info is None:
            raise RunNotFoundError(f"run {run_id!r} is not in the log")
        if position is None:
            position = info.next_seq - (2 if info.done else 1)
        if info.done and position + 1 >= info.next_seq:
            return  # the run ended at or before the position asked for: nothing comes after
        if isinstance(self.read_client, aioredis.Redis):
            reading = self._read_shared(run_id, keys, position + 1)
        else:  # a cluster client: one XREAD cannot span slots, so each reader blocks alone
            reading = self._read_alone(run_id, keys, position + 1)
        next_seq, agent = position + 1, None
        try:
            async for event in reading:
                next_seq, agent = event.seq + 1, event.agent
                yield event
        except EventLogUnavailableError as exc:
            # The reader cannot know how the run ends: it ends its own stream with an error,
            # never a cancellation, and never with the client library's exception.
            logger.warning("reading run %r stopped: %s", run_id, exc)
            yield log_unavailable(run_id, next_seq, agent)

    def _trimmed(self, run_id: str, next_seq: int, seq: int) -> EventsTrimmedError:
        return EventsTrimmedError(
            f"run {run_id!r}: events from seq {next_seq} were trimmed; the oldest "
            f"kept is seq {seq} (maxlen={self.maxlen})"
        )

    async def _lost(
        self, run_id: str, keys: tuple[str, str], next_seq: int, agent: str | None
    ) -> bool:
        """No event for `poll` seconds: end a run whose lease is gone. True: nothing to read."""
        if await self._call(run_id, "checking the lease", lambda: self.client.exists(keys[1])):
            return False
        # No lease: the producer is gone. Append its Done (unless someone appended meanwhile);
        # the next read returns what is there.
        info = await self.info(run_id)
        if info is not None and info.done:
            return next_seq >= info.next_seq  # True: the run ended before the position asked for
        if info is not None and info.paused:
            return False  # the run waits for answers: follow it until it resumes or expires
        if info is None and next_seq > 0:
            raise RunNotFoundError(f"run {run_id!r} expired while it was being read")
        at = 0 if info is None else info.next_seq
        await self._store(run_id, keys, (producer_lost(run_id, at, agent),), rescue=True)
        return False

    def _follower(self) -> _Follower:
        follower = self._shared
        if follower is None or follower.loop is not asyncio.get_running_loop():
            follower = self._shared = _Follower(self)
        return follower

    async def _read_shared(
        self, run_id: str, keys: tuple[str, str], next_seq: int
    ) -> AsyncIterator[Event]:
        # Replay with non-blocking reads on the command client, then follow through the
        # process' one blocking XREAD (`_Follower`), which hands this run's entries over. Entries
        # the reader already has are skipped; a hole (it joined a key the follower had read
        # past, or its queue overflowed) sends it back to reading from Redis.
        stream = keys[0]
        follower = self._follower()
        reader = _Reader()
        registered = False
        catching_up = True
        agent: str | None = None
        outage: float | None = None
        try:
            while True:
                if catching_up:
                    start = f"{next_seq}-0"
                    entries = _entries(
                        await self._call(
                            run_id,
                            f"reading from seq {next_seq}",
                            functools.partial(self.client.xread, {stream: start}, count=self.batch),
                        )
                    )
                    _raise_if_cancelled()
                    if not entries:
                        catching_up = False
                        if not registered:
                            registered = True
                            catching_up = follower.register(stream, next_seq, reader) > next_seq
                        continue
                else:
                    if isinstance(reader.error, _RETRYABLE):
                        # The follower lost its connection: re-read from Redis (with retries)
                        # from the last seq read, then follow again on a new connection. A
                        # follower that keeps failing while commands work ends the reader
                        # after the budget rather than spinning.
                        now = asyncio.get_running_loop().time()
                        outage = now if outage is None else outage
                        if now - outage > self.retry_budget:
                            raise EventLogUnavailableError(
                                f"run {run_id!r}: following the run failed for "
                                f"{self.retry_budget:g} s (retry_budget); last error "
                                f"{type(reader.error).__name__}"
                            ) from reader.error
                        follower.unregister(stream, reader)
                        reader, registered, catching_up = _Reader(), False, True
                        await asyncio.sleep(_FIRST_DELAY)  # backoff, not synchronization
                        continue
                    if isinstance(reader.error, redis_errors.RedisError):
                        raise EventLogUnavailableError(
                            f"run {run_id!r}: following the run was refused by Redis "
                            f"({type(reader.error).__name__})"
                        ) from reader.error
                    if reader.error is not None:
                        raise reader.error
                    if reader.lagged:
                        reader.lagged = False
                        catching_up = True
                        continue
                    if not reader.batches:
                        reader.wakeup.clear()
                        try:
                            await asyncio.wait_for(reader.wakeup.wait(), self.poll)
                        except asyncio.TimeoutError:
                            lost = await self._lost(run_id, keys, next_seq, agent)
                            _raise_if_cancelled()
                            if lost:
                                return
                            catching_up = True
                        continue
                    entries = [
                        entry
                        for entry in reader.batches.popleft()
                        if _entry_seq(entry[0]) >= next_seq
                    ]
                    if not entries:
                        continue
                    if _entry_seq(entries[0][0]) > next_seq:
                        catching_up = True
                        continue
                for entry_id, fields in entries:
                    seq = _entry_seq(entry_id)
                    if seq != next_seq:
                        raise self._trimmed(run_id, next_seq, seq)
                    event = _entry_event(fields)
                    yield event
                    next_seq += 1
                    agent, outage = event.agent, None
                    if isinstance(event, Done):
                        return
        finally:
            if registered:
                follower.unregister(stream, reader)

    async def _read_alone(
        self, run_id: str, keys: tuple[str, str], next_seq: int
    ) -> AsyncIterator[Event]:
        stream = keys[0]
        block = self._ms(self.poll)
        agent: str | None = None
        while True:
            start = f"{next_seq}-0"
            reply = await self._call(
                run_id,
                f"reading from seq {next_seq}",
                functools.partial(
                    self.read_client.xread, {stream: start}, count=self.batch, block=block
                ),
                self.poll + self.retry_budget,
            )
            _raise_if_cancelled()
            entries = _entries(reply)
            for entry_id, fields in entries:
                seq = _entry_seq(entry_id)
                if seq != next_seq:
                    raise self._trimmed(run_id, next_seq, seq)
                event = _entry_event(fields)
                yield event
                next_seq += 1
                agent = event.agent
                if isinstance(event, Done):
                    return
            if not entries:
                lost = await self._lost(run_id, keys, next_seq, agent)
                _raise_if_cancelled()
                if lost:
                    return

    @override
    async def info(self, run_id: str) -> RunInfo | None:
        stream, lease = self.keys(run_id)

        async def look() -> list[Any]:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.xrange(stream, count=1)
                pipe.xrevrange(stream, count=1)
                pipe.exists(lease)
                return list(await pipe.execute())

        oldest, newest, leased = await self._call(run_id, "looking the run up", look)
        if not newest:
            return RunInfo(0, 0, done=False, leased=True) if leased else None
        last_id, fields = newest[0]
        marker = _text(fields.get(b"t", fields.get("t", "")))
        return RunInfo(
            first_seq=_entry_seq(oldest[0][0]),
            next_seq=_entry_seq(last_id) + 1,
            done=marker == "done",
            leased=bool(leased),
            paused=marker == "paused",
        )

    @override
    async def expire(self, run_id: str, ttl: float | None) -> None:
        stream, lease = self.keys(run_id)
        if ttl is None:
            # Two commands, not one multi-key DEL: fine in a cluster whatever the client.
            await self._call(run_id, "deleting the run", lambda: self.client.delete(stream))
            await self._call(run_id, "deleting the lease", lambda: self.client.delete(lease))
        else:
            ms = self._ms(check_duration("ttl", ttl))
            await self._call(run_id, "expiring the run", lambda: self.client.pexpire(stream, ms))

    @override
    async def acquire_lease(self, run_id: str) -> str:
        keys = self.keys(run_id)
        token = uuid.uuid4().hex
        args: list[str | int] = [token, self._ms(self.lease_ttl)]
        status = _text(
            await self._call(
                run_id, "taking the lease", lambda: self._acquire(keys=list(keys), args=args)
            )
        )
        if status == "ended":
            raise LeaseHeldError(f"run {run_id!r} has already ended")
        if status == "held":
            raise LeaseHeldError(f"run {run_id!r} already has a producer")
        return token

    @override
    async def renew_lease(self, run_id: str, token: str) -> bool:
        keys = self.keys(run_id)
        args: list[str | int] = [token, self._ms(self.lease_ttl)]
        renewed = await self._call(
            run_id, "renewing the lease", lambda: self._renew(keys=list(keys), args=args)
        )
        return bool(int(renewed))

    @override
    async def release_lease(self, run_id: str, token: str) -> None:
        _, lease = self.keys(run_id)
        await self._call(
            run_id, "releasing the lease", lambda: self._release(keys=[lease], args=[token])
        )

    @override
    async def save_pause(
        self, run_id: str, record: str, ttl: float, *, thread: str | None = None
    ) -> None:
        key, ms = self._pause_key(run_id), self._ms(check_duration("ttl", ttl))
        await self._call(run_id, "saving the pause", lambda: self.client.set(key, record, px=ms))
        if thread is not None:
            pointer = self._thread_key(thread)
            await self._call(
                run_id, "naming the thread's run", lambda: self.client.set(pointer, run_id, px=ms)
            )

    @override
    async def load_pause(self, run_id: str) -> str | None:
        key = self._pause_key(run_id)
        record = await self._call(run_id, "loading the pause", lambda: self.client.get(key))
        return None if record is None else _text(record)

    @override
    async def find_pause(self, thread: str) -> str | None:
        pointer = self._thread_key(thread)
        run_id = await self._call(
            thread, "finding the thread's run", lambda: self.client.get(pointer)
        )
        return None if run_id is None else _text(run_id)

    @override
    async def claim_pause(self, run_id: str, record: str) -> bool:
        key = self._pause_key(run_id)
        claimed = await self._call(
            run_id, "claiming the pause", lambda: self._release(keys=[key], args=[record])
        )
        return bool(int(claimed))

    @override
    async def set_current(self, thread: str, run_id: str, after: int, ttl: float) -> None:
        check_run_id(run_id)
        key, ms = f"{self.prefix}:current:{{{thread}}}", self._ms(check_duration("ttl", ttl))
        value = f"{after} {run_id}"
        await self._call(
            run_id, "naming the current run", lambda: self.client.set(key, value, px=ms)
        )

    @override
    async def current(self, thread: str) -> tuple[str, int] | None:
        key = f"{self.prefix}:current:{{{thread}}}"
        value = await self._call(thread, "finding the current run", lambda: self.client.get(key))
        return current_run(None if value is None else _text(value))

    @override
    async def save_chain(self, thread: str, response_id: str, agent: str, ttl: float) -> None:
        key, ms = f"{self.prefix}:chain:{{{thread}}}", self._ms(check_duration("ttl", ttl))
        value = f"{agent} {response_id}"
        await self._call(
            thread, "keeping the response chain", lambda: self.client.set(key, value, px=ms)
        )

    @override
    async def chain(self, thread: str) -> tuple[str, str] | None:
        key = f"{self.prefix}:chain:{{{thread}}}"
        value = await self._call(thread, "finding the response chain", lambda: self.client.get(key))
        return response_chain(None if value is None else _text(value))

    @override
    async def aclose(self) -> None:
        if self._shared is not None:
            follower, self._shared = self._shared, None
            await follower.aclose()
        if self._owns_client:
            self._owns_client = False
            await self.client.aclose()
            await self.read_client.aclose()
            await self.client.connection_pool.disconnect()
