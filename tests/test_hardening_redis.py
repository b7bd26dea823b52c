"""Redis outages on a real redis-server: a restart with an AOF, a pause shorter and longer than
the retry budget, and `maxmemory` with `noeviction`. A run is stopped at a known point (its
reader has every event before a gate) before each fault; every wait is bounded."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.routing import Route

from agentstream import ConfigurationError, Done, Event, TextDelta
from agentstream.redis import (
    EVENT_LOG_UNAVAILABLE,
    EventLogUnavailableError,
    RedisEventLog,
)
from agentstream.resume import (
    PRODUCER_LOST,
    AppendError,
    Publication,
    publish,
    resumable_sse_endpoint,
    subscribe,
)

from .support.http import serve
from .support.redis_server import RedisServer, start_redis

pytestmark = pytest.mark.redis

WAIT = 20.0
"""Bound of every wait in these tests; reaching it fails the test."""

BEFORE = 10
"""Events the run writes before its gate; the faults start once a reader has them all."""

AFTER = 10
"""Events the run writes after its gate, during or after the fault."""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/install-test-deps.sh installs it)")
    started = start_redis(str(tmp_path))
    try:
        yield started
    finally:
        started.stop()


class Retries(logging.Handler):
    """Sets `seen` once the log reports a retry of an operation whose name holds `what`."""

    def __init__(self, what: str) -> None:
        super().__init__(logging.INFO)
        self.what = what
        self.loop = asyncio.get_running_loop()
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.what in message and "retrying" in message:
            self.loop.call_soon_threadsafe(self.seen.set)


@pytest.fixture
async def retries() -> AsyncIterator[Retries]:
    logger = logging.getLogger("agentstream")
    handler = Retries("appending")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def delta(run_id: str, seq: int) -> TextDelta:
    return TextDelta(seq=seq, run_id=run_id, agent="a", timestamp=1, delta=f"d{seq}")


async def gated(run_id: str, gate: asyncio.Event) -> AsyncIterator[Event]:
    """`BEFORE` deltas, then (once `gate` is set) `AFTER` more and a completed `Done`."""
    for seq in range(BEFORE):
        yield delta(run_id, seq)
    await asyncio.wait_for(gate.wait(), WAIT)
    for seq in range(BEFORE, BEFORE + AFTER):
        yield delta(run_id, seq)
    yield Done(
        seq=BEFORE + AFTER,
        run_id=run_id,
        agent="a",
        timestamp=1,
        status="completed",
        last_agent="a",
    )


class Run:
    """A gated run published to `log`, and one reader collecting it from the start."""

    def __init__(self, log: RedisEventLog, run_id: str) -> None:
        self.log = log
        self.run_id = run_id
        self.gate = asyncio.Event()
        self.at_gate = asyncio.Event()
        self.events: list[Event] = []
        self.publication: Publication
        self.reader: asyncio.Task[None]

    async def start(self) -> None:
        self.publication = await publish(
            gated(self.run_id, self.gate), self.log, run_id=self.run_id
        )
        self.reader = asyncio.get_running_loop().create_task(self._read())
        await asyncio.wait_for(self.at_gate.wait(), WAIT)

    async def _read(self) -> None:
        async for event in subscribe(self.log, self.run_id):
            self.events.append(event)
            if event.seq == BEFORE - 1:
                self.at_gate.set()

    async def read_to_end(self) -> list[Event]:
        await asyncio.wait_for(self.reader, WAIT)
        return self.events


@pytest.fixture
async def client(server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    made = aioredis.from_url(server.url)
    try:
        yield made
    finally:
        await made.aclose()


async def _collect(events: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in events]


def assert_complete(events: list[Event]) -> None:
    """Every event once, in order, ending with one completed `Done`."""
    assert [event.seq for event in events] == list(range(BEFORE + AFTER + 1))
    assert [type(event) for event in events[:-1]] == [TextDelta] * (BEFORE + AFTER)
    assert isinstance(events[-1], Done)
    assert events[-1].status == "completed"


def assert_unavailable(events: list[Event]) -> None:
    """The events before the gate once, then one `Done(error)` of type `EventLogUnavailable`."""
    assert [event.seq for event in events] == list(range(BEFORE + 1))
    assert [type(event) for event in events[:-1]] == [TextDelta] * BEFORE
    done = events[-1]
    assert isinstance(done, Done)
    assert done.status == "error"
    assert done.error is not None
    assert done.error.type == EVENT_LOG_UNAVAILABLE
    assert "Redis" not in done.error.message


def test_the_retry_budget_is_shorter_than_the_lease() -> None:
    client = aioredis.Redis()
    assert RedisEventLog(client, lease_ttl=10).retry_budget == 3.0
    assert RedisEventLog(client, lease_ttl=2).retry_budget == 1.0
    with pytest.raises(ConfigurationError, match=r"retry_budget .* got 4"):
        RedisEventLog(client, lease_ttl=4, retry_budget=4)


async def test_a_restart_with_aof_loses_and_repeats_nothing(
    server: RedisServer, client: aioredis.Redis, retries: Retries
) -> None:
    log = RedisEventLog(client, lease_ttl=8, retry_budget=5)
    run = Run(log, "restarted")
    await run.start()
    await asyncio.to_thread(server.stop)
    run.gate.set()  # the producer appends while Redis is down
    await asyncio.wait_for(retries.seen.wait(), WAIT)
    await asyncio.to_thread(server.start)
    assert_complete(await run.read_to_end())
    done = await asyncio.wait_for(run.publication.wait(), WAIT)
    assert done is not None
    assert done.status == "completed"
    assert run.publication.exception is None
    assert_complete(await asyncio.wait_for(_collect(subscribe(log, run.run_id)), WAIT))
    await log.aclose()


async def test_a_pause_within_the_budget_loses_and_repeats_nothing(
    server: RedisServer, client: aioredis.Redis
) -> None:
    log = RedisEventLog(client, lease_ttl=8, retry_budget=5)
    run = Run(log, "paused")
    await run.start()
    server.pause()
    try:
        run.gate.set()  # the producer appends while Redis is paused
        await asyncio.sleep(0.5)  # the outage's length, not synchronization
    finally:
        server.resume()
    assert_complete(await run.read_to_end())
    done = await asyncio.wait_for(run.publication.wait(), WAIT)
    assert done is not None
    assert done.status == "completed"
    assert_complete(await asyncio.wait_for(_collect(subscribe(log, run.run_id)), WAIT))
    await log.aclose()


async def test_a_pause_past_the_budget_ends_readers_with_an_error(
    server: RedisServer, client: aioredis.Redis
) -> None:
    log = RedisEventLog(client, lease_ttl=4, retry_budget=0.5)
    run = Run(log, "stalled")
    await run.start()
    server.pause()
    try:
        run.gate.set()
        events = await run.read_to_end()  # raises if the reader got an exception
        await asyncio.wait_for(asyncio.shield(run.publication.task), WAIT)
    finally:
        server.resume()
    assert_unavailable(events)
    assert isinstance(run.publication.exception, EventLogUnavailableError)
    assert run.publication.done is None  # Redis never took it
    await log.aclose()


async def test_maxmemory_with_noeviction_ends_readers_with_an_error(
    server: RedisServer, client: aioredis.Redis
) -> None:
    log = RedisEventLog(client, lease_ttl=2, retry_budget=0.5)
    run = Run(log, "full")
    await run.start()
    await client.config_set("maxmemory-policy", "noeviction")
    await client.config_set("maxmemory", 1)
    run.gate.set()
    assert_unavailable(await run.read_to_end())
    await asyncio.wait_for(asyncio.shield(run.publication.task), WAIT)
    assert isinstance(run.publication.exception, EventLogUnavailableError)
    assert run.publication.done is None
    await client.config_set("maxmemory", 0)
    # Once Redis takes writes again, a new reader finds the run without its Done and, the
    # producer's lease gone, ends it as lost: the log kept only what it took.
    events = await asyncio.wait_for(_collect(subscribe(log, run.run_id)), WAIT)
    assert [event.seq for event in events] == list(range(BEFORE + 1))
    assert isinstance(events[-1], Done)
    assert events[-1].error is not None
    assert events[-1].error.type == PRODUCER_LOST
    await log.aclose()


class LostReply:
    """The log's append script, whose first call lands in Redis but loses its reply."""

    def __init__(self, log: RedisEventLog) -> None:
        self.script = log._append
        self.calls = 0

    async def __call__(self, **kwargs: object) -> object:
        self.calls += 1
        reply = await self.script(**kwargs)
        if self.calls == 1:
            raise ConnectionError("the reply was lost")
        return reply


async def test_a_retried_append_that_had_landed_is_not_refused_or_repeated(
    client: aioredis.Redis,
) -> None:
    log = RedisEventLog(client, prefix="lost", lease_ttl=8, retry_budget=5)
    await log.acquire_lease("r")
    await log.extend("r", [delta("r", 0)])
    lost = LostReply(log)
    log._append = lost  # type: ignore[assignment]
    await log.extend("r", [delta("r", 1), delta("r", 2)])
    assert lost.calls == 2
    assert [entry_id for entry_id, _ in await client.xrange("lost:{r}")] == [b"1-0", b"2-0", b"3-0"]
    # A batch whose seqs hold other events is still refused after a retry.
    lost.calls = 0
    other = TextDelta(seq=3, run_id="r", agent="a", timestamp=2, delta="other")
    await log.extend("r", [other])
    lost.calls = 0
    with pytest.raises(AppendError, match="expects seq 4 next, got seq 3"):
        await log.extend("r", [delta("r", 3)])
    await log.aclose()


async def test_a_reader_whose_follower_cannot_connect_ends_after_the_budget(
    client: aioredis.Redis,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # no server listens here once the socket is closed
    unreachable = aioredis.from_url(f"redis://127.0.0.1:{closed}/0")
    log = RedisEventLog(client, read_client=unreachable, lease_ttl=8, retry_budget=0.5)
    await log.acquire_lease("r")
    await log.extend("r", [delta("r", 0)])
    events = await asyncio.wait_for(_collect(subscribe(log, "r")), WAIT)
    assert [event.seq for event in events] == [0, 1]
    assert isinstance(events[-1], Done)
    assert events[-1].error is not None
    assert events[-1].error.type == EVENT_LOG_UNAVAILABLE
    await log.aclose()
    await unreachable.aclose()


async def test_a_resume_while_redis_is_down_is_a_503_with_retry_after(
    server: RedisServer, client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    log = RedisEventLog(client, lease_ttl=4, retry_budget=0.5)
    run = Run(log, "down")
    await run.start()
    app = Starlette(routes=[Route("/runs/{run_id}/stream", resumable_sse_endpoint(log))])
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as http:
        server.stop()
        try:
            with caplog.at_level(logging.WARNING, logger="agentstream"):
                response = await asyncio.wait_for(http.get("/runs/down/stream"), WAIT)
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            assert "redis" not in response.text.lower()  # nothing of the driver's error text
            assert any("resuming run 'down'" in r.getMessage() for r in caplog.records)
        finally:
            server.start()
            run.gate.set()
        # Back within the lease: the same request now reads the run, every event once.
        await asyncio.wait_for(asyncio.shield(run.publication.task), WAIT)
        response = await asyncio.wait_for(http.get("/runs/down/stream"), WAIT)
        assert response.status_code == 200
        assert response.text.count("event: done") == 1
    await log.aclose()
