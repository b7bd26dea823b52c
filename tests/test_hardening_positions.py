"""Read positions (`Last-Event-ID`, `?after=`, `subscribe(after=)`): only `-1` and ASCII digits
within 63 bits are accepted, on the memory log and on a real Redis; a position past a run's last
written seq is a 416; and a reader parked far ahead never slows the other readers of a run."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from agentstream import ConfigurationError, Done, Event, TextDelta
from agentstream._eventlog import MAX_SEQ
from agentstream.resume import (
    EventLog,
    MemoryEventLog,
    resumable_sse_endpoint,
    resume_position,
    subscribe,
)

from .support.http import serve

WAIT = 10.0
"""Bound of every wait in these tests; reaching it fails the test."""

BAD = ["18446744073709551615", str(2**63), "1_0", "+3", "\u0663", "-0", "-2", " 7", "", "7 "]
"""Positions refused with 400: too large, not ASCII digits, a sign other than `-1`'s, blank."""

KINDS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


def _make_log(kind: str, request: pytest.FixtureRequest, **options: Any) -> EventLog:
    options.setdefault("lease_ttl", 60.0)
    if kind == "memory":
        return MemoryEventLog(**options)
    from agentstream.redis import RedisEventLog

    url = request.getfixturevalue("redis_url")
    return RedisEventLog.from_url(url, prefix=f"p{uuid.uuid4().hex[:8]}", **options)


@pytest.fixture(params=KINDS)
async def log(request: pytest.FixtureRequest) -> AsyncIterator[EventLog]:
    made = _make_log(request.param, request)
    try:
        yield made
    finally:
        await made.aclose()


def delta(run_id: str, seq: int) -> TextDelta:
    return TextDelta(seq=seq, run_id=run_id, agent="a", timestamp=1, delta=f"d{seq}")


def done(run_id: str, seq: int) -> Done:
    return Done(seq=seq, run_id=run_id, agent="a", timestamp=1, status="completed")


async def ended_run(log: EventLog, run_id: str) -> None:
    """A run of three events, the last its `Done`: seqs 0, 1, 2."""
    token = await log.acquire_lease(run_id)
    await log.extend(run_id, [delta(run_id, 0), delta(run_id, 1), done(run_id, 2)])
    await log.release_lease(run_id, token)


def request_with(headers: list[tuple[bytes, bytes]], query: bytes = b"") -> Request:
    return Request({"type": "http", "headers": headers, "query_string": query})


# Parsing


@pytest.mark.parametrize("value", BAD)
def test_resume_position_refuses_a_bad_position_and_names_it(value: str) -> None:
    header = request_with([(b"last-event-id", value.encode())])
    with pytest.raises(ConfigurationError, match="Last-Event-ID must be an event seq"):
        resume_position(header)
    query = request_with([], str(httpx.QueryParams({"after": value})).encode())
    with pytest.raises(ConfigurationError, match=r"after must be an event seq .* got '"):
        resume_position(query)


def test_resume_position_names_only_a_short_prefix_of_a_long_value() -> None:
    with pytest.raises(ConfigurationError) as caught:
        resume_position(request_with([(b"last-event-id", b"9" * 5000)]))
    assert len(str(caught.value)) < 120


@pytest.mark.parametrize(
    ("value", "seq"), [("-1", -1), ("0", 0), ("007", 7), (str(MAX_SEQ), MAX_SEQ)]
)
def test_resume_position_accepts_ascii_digits_within_63_bits_and_minus_one(
    value: str, seq: int
) -> None:
    assert resume_position(request_with([(b"last-event-id", value.encode())])) == seq
    assert resume_position(request_with([], f"after={value}".encode())) == seq
    assert resume_position(request_with([])) == -1


@pytest.mark.parametrize(
    "value", [2**64 - 1, 2**63, -2, True, "1_0", "+3", "\u0663", "-0", " 7", ""]
)
async def test_subscribe_and_read_refuse_a_bad_position(log: EventLog, value: Any) -> None:
    await ended_run(log, "r")
    with pytest.raises(ConfigurationError, match="after must be a seq >= -1 or None"):
        subscribe(log, "r", value)
    with pytest.raises(ConfigurationError, match="after must be a seq >= -1 or None"):
        async with asyncio.timeout(WAIT):
            await anext(log.read("r", value))


async def test_the_largest_position_reads_nothing_of_an_ended_run(log: EventLog) -> None:
    await ended_run(log, "r")
    async with asyncio.timeout(WAIT):
        assert [event async for event in subscribe(log, "r", MAX_SEQ)] == []
        assert [event.seq async for event in subscribe(log, "r", 1)] == [2]


# Over HTTP


async def test_every_bad_position_is_a_400_over_http(log: EventLog) -> None:
    await ended_run(log, "r")
    app = Starlette(routes=[Route("/runs/{run_id}/stream", resumable_sse_endpoint(log))])
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        for value in BAD:
            async with asyncio.timeout(WAIT):
                response = await client.get("/runs/r/stream", params={"after": value})
            assert response.status_code == 400, value
            assert response.text.startswith("after must be an event seq (a whole number), got")
            if value.strip() != value:
                continue  # HTTP strips a header value's surrounding spaces: ` 7` arrives as `7`
            async with asyncio.timeout(WAIT):
                response = await client.get(
                    "/runs/r/stream", headers={"Last-Event-ID": value.encode()}
                )
            assert response.status_code == 400, value
            assert response.text.startswith("Last-Event-ID must be an event seq")
        # The connection was kept: the answers were answers, not aborts.
        async with asyncio.timeout(WAIT):
            response = await client.get("/runs/r/stream", headers={"Last-Event-ID": "1"})
        assert response.status_code == 200
        assert "event: done" in response.text


async def test_a_position_past_the_last_written_seq_is_a_416(log: EventLog) -> None:
    await ended_run(log, "ended")
    token = await log.acquire_lease("live")
    await log.extend("live", [delta("live", 0), delta("live", 1)])
    app = Starlette(routes=[Route("/runs/{run_id}/stream", resumable_sse_endpoint(log))])
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        for run, after in [("ended", 3), ("ended", MAX_SEQ), ("live", 2), ("live", 10**12)]:
            async with asyncio.timeout(WAIT):
                response = await client.get(
                    f"/runs/{run}/stream", headers={"Last-Event-ID": str(after)}
                )
            assert response.status_code == 416, (run, after)
            assert f"has no event at seq {after}" in response.text
        # At the last written seq: the client saw the Done (a 204, which stops an EventSource
        # from reconnecting), or waits for seq 2.
        async with asyncio.timeout(WAIT):
            response = await client.get("/runs/ended/stream", headers={"Last-Event-ID": "2"})
        assert (response.status_code, response.text) == (204, "")
        async with (
            asyncio.timeout(WAIT),
            client.stream("GET", "/runs/live/stream", headers={"Last-Event-ID": "1"}) as live,
        ):
            assert live.status_code == 200
    await log.release_lease("live", token)


# No reader's position slows another


@pytest.mark.redis
async def test_a_reader_parked_far_ahead_does_not_slow_an_honest_reader(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentstream.redis import _Follower

    # The far reader must register with the process's follower first: that registration is
    # what used to set the follower's XREAD id for every reader of the run.
    registered: list[int] = []
    first = asyncio.Event()
    register = _Follower.register

    def watched(follower: _Follower, key: str, next_seq: int, reader: Any) -> int:
        registered.append(next_seq)
        first.set()
        return register(follower, key, next_seq, reader)

    monkeypatch.setattr(_Follower, "register", watched)
    # The follower's poll is long: a reader left waiting for it misses the per-event bound.
    log = _make_log("redis", request, poll=10.0)
    per_event = 2.0
    run = "ahead"
    token = await log.acquire_lease(run)
    await log.extend(run, [delta(run, 0), delta(run, 1)])
    far: list[Event] = []
    received: asyncio.Queue[Event] = asyncio.Queue()

    async def park() -> None:
        far.extend([event async for event in subscribe(log, run, after=10**12)])

    async def follow() -> None:
        async for event in subscribe(log, run):
            await received.put(event)

    parked = asyncio.ensure_future(park())
    honest: asyncio.Future[None] | None = None
    try:
        async with asyncio.timeout(WAIT):
            await first.wait()
        honest = asyncio.ensure_future(follow())
        for seq in (0, 1):
            async with asyncio.timeout(per_event):
                assert (await received.get()).seq == seq
        for seq in range(2, 12):
            await log.append(run, delta(run, seq))
            async with asyncio.timeout(per_event):
                assert (await received.get()).seq == seq
        await log.append(run, done(run, 12))
        async with asyncio.timeout(per_event):
            assert (await received.get()).type == "done"
            await honest
        assert registered == [10**12 + 1, 2], "the far reader registered first"
        assert far == [], "nothing of the run is at or after the far reader's position"
    finally:
        for task in (parked, honest):
            if task is not None:
                task.cancel()
        await asyncio.gather(parked, *([honest] if honest else []), return_exceptions=True)
        await log.release_lease(run, token)
        await log.aclose()


# A reader's cancellation is never lost


@pytest.mark.redis
async def test_a_redis_reader_ends_when_cancelled_even_if_redis_py_swallows_it(
    request: pytest.FixtureRequest,
) -> None:
    log = _make_log("redis", request)
    client: Any = log.client  # type: ignore[attr-defined]
    xread = client.xread
    entered = asyncio.Event()

    async def swallowing(*args: Any, **kwargs: Any) -> Any:
        # What redis-py can do on Python 3.11+ when a cancellation lands inside its I/O.
        entered.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        return await xread(*args, **kwargs)

    token = await log.acquire_lease("live")
    try:
        await log.extend("live", [delta("live", 0)])
        client.xread = swallowing
        reader = asyncio.ensure_future(anext(subscribe(log, "live", 0)))
        async with asyncio.timeout(WAIT):
            await entered.wait()
        reader.cancel()
        async with asyncio.timeout(WAIT):
            await asyncio.wait({reader})
        assert reader.cancelled()
    finally:
        client.xread = xread
        await log.release_lease("live", token)
        await log.aclose()
