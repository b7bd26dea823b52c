"""The event-log contract, on the memory log and on a real Redis: append, read, follow, resume,
expire, leases, a lost producer, and `publish()` on real scripted runs."""

from __future__ import annotations

import os

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from agents import Agent, Runner, function_tool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from agentstream import ConfigurationError, Done, Event, TextDelta, from_sse, normalize, to_sse
from agentstream.resume import (
    PRODUCER_LOST,
    AppendError,
    EventLog,
    EventsTrimmedError,
    LeaseHeldError,
    LeaseLostError,
    MemoryEventLog,
    RunNotFoundError,
    publish,
    resumable_sse_endpoint,
    subscribe,
)
from agentstream.testing import ScriptedStreamModel, text, tool_call, turn

from .support.checks import assert_well_formed
from .support.http import serve
from .support.scenarios import waiting_agent

WAIT = 10.0
"""Bound of every wait in these tests; reaching it fails the test."""

LEASE_TTL = 0.5
"""Short leases, so that lost producers are noticed soon."""


def _make_log(kind: str, request: pytest.FixtureRequest, **options: Any) -> EventLog:
    options.setdefault("lease_ttl", LEASE_TTL)
    if kind == "memory":
        return MemoryEventLog(**options)
    from agentstream.redis import RedisEventLog

    url = request.getfixturevalue("redis_url")
    return RedisEventLog.from_url(url, prefix=f"t{uuid.uuid4().hex[:8]}", **options)


KINDS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(params=KINDS)
async def log(request: pytest.FixtureRequest) -> AsyncIterator[EventLog]:
    made = _make_log(request.param, request)
    try:
        yield made
    finally:
        await made.aclose()


def delta(run_id: str, seq: int, value: str = "x") -> TextDelta:
    return TextDelta(seq=seq, run_id=run_id, agent="a", timestamp=1, delta=value)


def done(run_id: str, seq: int) -> Done:
    return Done(seq=seq, run_id=run_id, agent="a", timestamp=1, status="completed")


def scripted_run(*turns: Any, tools: Any = ()) -> Any:
    agent = Agent(name="writer", model=ScriptedStreamModel(list(turns)), tools=list(tools))
    return Runner.run_streamed(agent, "go")


async def read_all(log: EventLog, run_id: str, after: int | None = -1) -> list[Event]:
    async with asyncio.timeout(WAIT):
        return [event async for event in subscribe(log, run_id, after)]


# Append and read


async def test_a_published_run_reads_back_whole_and_from_every_position(log: EventLog) -> None:
    @function_tool
    def lookup(q: str) -> str:
        """Look it up."""
        return f"found {q}"

    result = scripted_run(
        turn(tool_call("lookup", {"q": "x"})), turn(text("all done now")), tools=[lookup]
    )
    publication = await publish(result, log, run_id="run-1")
    assert publication.run_id == "run-1"
    events = await read_all(log, "run-1")
    final = assert_well_formed(events)
    assert final.status == "completed"
    assert final.final_output == "all done now"
    async with asyncio.timeout(WAIT):
        assert await publication.wait() == final
    assert publication.exception is None
    for after in range(-1, len(events)):
        assert await read_all(log, "run-1", after) == events[after + 1 :]
    info = await log.info("run-1")
    assert info is not None
    assert (info.first_seq, info.next_seq, info.done, info.leased) == (0, len(events), True, False)


async def test_after_none_reads_only_what_comes_next(log: EventLog) -> None:
    token = await log.acquire_lease("r")
    await log.extend("r", [delta("r", 0), delta("r", 1)])
    reader = subscribe(log, "r", after=None)
    first = asyncio.ensure_future(anext(reader))
    seq = 2
    async with asyncio.timeout(WAIT):
        # Append until the reader has started and seen one: it starts wherever the run was.
        while not first.done():
            assert await log.renew_lease("r", token)
            await log.append("r", delta("r", seq))
            seq += 1
            await asyncio.wait({first}, timeout=0.01)
        await log.append("r", done("r", seq))
        rest = [event async for event in reader]
    seen = [first.result(), *rest]
    assert seen[0].seq >= 2, "nothing stored before the read started"
    assert [e.seq for e in seen] == list(range(seen[0].seq, seq + 1))
    await log.release_lease("r", token)
    assert await read_all(log, "r", None) == [done("r", seq)], "an ended run gives its Done"
    assert await read_all(log, "r", seq) == [], "nothing comes after the Done"


async def test_a_reader_follows_appends_live(log: EventLog) -> None:
    token = await log.acquire_lease("live")
    received: asyncio.Queue[Event] = asyncio.Queue()

    async def follow() -> None:
        async for event in subscribe(log, "live"):
            await received.put(event)

    task = asyncio.ensure_future(follow())
    for seq in range(5):
        await log.append("live", delta("live", seq, f"d{seq}"))
        async with asyncio.timeout(WAIT):
            assert (await received.get()).seq == seq
    await log.append("live", done("live", 5))
    async with asyncio.timeout(WAIT):
        await task
        assert (await received.get()).type == "done"
    await log.release_lease("live", token)


async def test_appends_are_refused_out_of_order_after_done_or_for_another_run(
    log: EventLog,
) -> None:
    await log.acquire_lease("r")
    with pytest.raises(AppendError, match="expects seq 0 next, got seq 1"):
        await log.append("r", delta("r", 1))
    await log.append("r", delta("r", 0))
    with pytest.raises(AppendError, match="expects seq 1 next, got seq 0"):
        await log.append("r", delta("r", 0))
    with pytest.raises(AppendError, match="belongs to run 'other'"):
        await log.append("r", delta("other", 1))
    with pytest.raises(AppendError, match="consecutive seqs, got 1 then 3"):
        await log.extend("r", [delta("r", 1), delta("r", 3)])
    with pytest.raises(AppendError, match="seq 2 is a done event, but more follow"):
        await log.extend("r", [delta("r", 1), done("r", 2), delta("r", 3)])
    await log.extend("r", [delta("r", 1), done("r", 2)])
    with pytest.raises(AppendError, match="'r' has already ended; seq 3"):
        await log.append("r", delta("r", 3))
    with pytest.raises(AppendError, match="not in the log"):
        await log.append("never", delta("never", 4))
    assert [e.seq for e in await read_all(log, "r")] == [0, 1, 2]


async def test_bad_arguments_are_named(log: EventLog) -> None:
    with pytest.raises(ConfigurationError, match="run_id must be a non-empty string, got ''"):
        subscribe(log, "")
    with pytest.raises(ConfigurationError, match="after must be a seq >= -1 or None, got -2"):
        subscribe(log, "r", after=-2)
    with pytest.raises(ConfigurationError, match=r"after must be .* got True"):
        subscribe(log, "r", after=True)
    with pytest.raises(ConfigurationError, match="log must be an EventLog, got dict"):
        subscribe({}, "r")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"ttl must be a finite number .* got -1"):
        await log.expire("r", -1)


async def test_an_unknown_run_is_not_found(log: EventLog) -> None:
    assert await log.info("nope") is None
    with pytest.raises(RunNotFoundError, match="'nope' is not in the log"):
        await read_all(log, "nope")


async def test_expire_none_deletes_the_run(log: EventLog) -> None:
    token = await log.acquire_lease("r")
    await log.extend("r", [delta("r", 0), done("r", 1)])
    await log.release_lease("r", token)
    assert await log.info("r") is not None
    await log.expire("r", None)
    assert await log.info("r") is None


async def test_memory_runs_expire_ttl_after_their_last_append() -> None:
    now = [100.0]

    class Clocked(MemoryEventLog):
        def _now(self) -> float:
            return now[0]

    log = Clocked(ttl=60, lease_ttl=LEASE_TTL)
    await log.acquire_lease("r")
    await log.append("r", delta("r", 0))
    now[0] += 59
    await log.append("r", delta("r", 1))
    now[0] += 59
    assert await log.info("r") is not None, "each append pushes the expiry back"
    await log.expire("r", 5)
    now[0] += 5
    assert await log.info("r") is None
    with pytest.raises(AppendError, match="not in the log"):
        await log.append("r", delta("r", 2))


async def test_memory_log_keeps_the_last_maxlen_events() -> None:
    log = MemoryEventLog(maxlen=5, lease_ttl=LEASE_TTL)
    await log.acquire_lease("r")
    await log.extend("r", [delta("r", seq) for seq in range(8)])
    await log.extend("r", [*(delta("r", seq) for seq in range(8, 14)), done("r", 14)])
    info = await log.info("r")
    assert info is not None
    assert (info.first_seq, info.next_seq) == (10, 15)
    with pytest.raises(EventsTrimmedError, match=r"from seq 9 were trimmed.*from seq 10"):
        await read_all(log, "r", 8)
    assert [e.seq for e in await read_all(log, "r", 9)] == [10, 11, 12, 13, 14]


# Leases and lost producers


async def test_one_lease_per_run(log: EventLog) -> None:
    token = await log.acquire_lease("r")
    with pytest.raises(LeaseHeldError, match="'r' already has a producer"):
        await log.acquire_lease("r")
    assert await log.renew_lease("r", token)
    assert not await log.renew_lease("r", "someone-else")
    await log.release_lease("r", "someone-else")
    assert (await log.info("r")).leased  # type: ignore[union-attr]
    await log.release_lease("r", token)
    second = await log.acquire_lease("r")
    assert not await log.renew_lease("r", token)
    await log.extend("r", [delta("r", 0), done("r", 1)])
    assert not await log.renew_lease("r", second), "an ended run's lease is gone"
    with pytest.raises(LeaseHeldError, match="'r' has already ended"):
        await log.acquire_lease("r")


async def test_readers_of_a_lost_producer_end_with_the_same_error_done(log: EventLog) -> None:
    await log.acquire_lease("lost")  # and never renewed: the producer "dies" here
    await log.extend("lost", [delta("lost", 0), delta("lost", 1)])
    async with asyncio.timeout(WAIT):
        first, second = await asyncio.gather(read_all(log, "lost"), read_all(log, "lost", 0))
    final = first[-1]
    assert isinstance(final, Done)
    assert final.status == "error"
    assert final.error is not None
    assert final.error.type == PRODUCER_LOST
    assert final.seq == 2
    assert second == first[1:], "every reader sees the one Done that was appended"
    with pytest.raises(AppendError, match="has already ended"):
        await log.append("lost", delta("lost", 2))


async def test_a_released_lease_without_done_ends_readers_at_once(log: EventLog) -> None:
    token = await log.acquire_lease("gone")
    await log.append("gone", delta("gone", 0))
    reader = asyncio.ensure_future(read_all(log, "gone"))
    await log.release_lease("gone", token)
    async with asyncio.timeout(WAIT):
        events = await reader
    assert [(e.seq, e.type) for e in events] == [(0, "text_delta"), (1, "done")]
    assert events[1].error.type == PRODUCER_LOST  # type: ignore[union-attr]


async def test_a_run_is_known_once_leased_or_written(log: EventLog) -> None:
    token = await log.acquire_lease("new")
    info = await log.info("new")
    assert info is not None
    assert (info.next_seq, info.done, info.leased) == (0, False, True)
    await log.release_lease("new", token)
    assert await log.info("new") is None, "a lease given back before any event leaves nothing"


# publish()


async def test_cancelling_a_publication_appends_a_cancelled_done(log: EventLog) -> None:
    agent, started, cancelled = waiting_agent(text("working "))
    publication = await publish(Runner.run_streamed(agent, "go"), log)
    async with asyncio.timeout(WAIT):
        await started.wait()
        final = await publication.cancel()
        await cancelled.wait()
    assert final is not None
    assert final.status == "cancelled"
    events = await read_all(log, publication.run_id)
    assert assert_well_formed(events) == final
    assert final.usage.requests == 1, "the stream's own Done, with what it knew"


async def test_a_run_ended_by_someone_else_is_cancelled(log: EventLog) -> None:
    agent, started, cancelled = waiting_agent()
    publication = await publish(Runner.run_streamed(agent, "go"), log, run_id="r")
    async with asyncio.timeout(WAIT):
        await started.wait()
    info = await log.info("r")
    assert info is not None
    await log.append("r", done("r", info.next_seq))  # e.g. a reader that declared it lost
    async with asyncio.timeout(WAIT):
        await cancelled.wait()
        await publication.wait()
    # The renewer finds the lease gone, or the next append finds the run ended: either stops it.
    assert isinstance(publication.exception, (LeaseLostError, AppendError))
    assert publication.done is None
    assert (await read_all(log, "r"))[-1] == done("r", info.next_seq)


async def test_a_failing_event_source_ends_with_an_error_done(log: EventLog) -> None:
    async def events() -> AsyncIterator[Event]:
        yield delta("src", 0)
        raise RuntimeError("secret internals")

    publication = await publish(events(), log, run_id="src")
    async with asyncio.timeout(WAIT):
        final = await publication.wait()
    assert final is not None
    assert (final.seq, final.status) == (1, "error")
    assert final.error is not None
    assert final.error.type == "RuntimeError"
    assert "secret" not in final.error.message
    assert isinstance(publication.exception, RuntimeError)
    assert await read_all(log, "src") == [delta("src", 0), final]


async def test_a_source_that_ends_without_done_gets_one(log: EventLog) -> None:
    async def events() -> AsyncIterator[Event]:
        yield delta("short", 0)

    publication = await publish(events(), log, run_id="short")
    async with asyncio.timeout(WAIT):
        final = await publication.wait()
    assert final is not None
    assert final.error is not None
    assert (final.seq, final.status, final.error.type) == (1, "error", "IncompleteStream")


async def test_an_event_stream_publishes_under_its_own_run_id(log: EventLog) -> None:
    stream = normalize(scripted_run(turn(text("hi there"))), run_id="mine")
    with pytest.raises(ConfigurationError, match="run_id 'other' differs"):
        await publish(stream, log, run_id="other")
    stream = normalize(scripted_run(turn(text("hi there"))), run_id="mine")
    publication = await publish(stream, log)
    assert publication.run_id == "mine"
    async with asyncio.timeout(WAIT):
        final = await publication.wait()
    assert final is not None
    assert final.status == "completed"
    with pytest.raises(LeaseHeldError, match="'mine' has already ended"):
        await publish(scripted_run(turn(text("again"))), log, run_id="mine")


async def test_publish_refuses_options_that_cannot_apply(log: EventLog) -> None:
    async def events() -> AsyncIterator[Event]:
        yield delta("x", 0)

    with pytest.raises(ConfigurationError, match="needs its run_id"):
        await publish(events(), log)
    with pytest.raises(ConfigurationError, match="idle_timeout apply only to a run"):
        await publish(events(), log, run_id="x", idle_timeout=1.0)
    with pytest.raises(ConfigurationError, match="log must be an EventLog, got str"):
        await publish(events(), "log", run_id="x")  # type: ignore[arg-type]


def test_memory_log_arguments_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="maxlen must be a whole number >= 1, got 0"):
        MemoryEventLog(maxlen=0)
    with pytest.raises(ConfigurationError, match=r"lease_ttl must be .* got nan"):
        MemoryEventLog(lease_ttl=float("nan"))


# The resumable SSE endpoint


async def get_events(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> tuple[int, list[Event]]:
    async with asyncio.timeout(WAIT), client.stream("GET", url, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            return response.status_code, []
        assert response.headers["content-type"].startswith("text/event-stream")
        return 200, [event async for event in from_sse(response.aiter_bytes())]


async def test_the_endpoint_resumes_after_last_event_id_or_after(log: EventLog) -> None:
    publication = await publish(scripted_run(turn(text("one two three four"))), log, run_id="w")
    async with asyncio.timeout(WAIT):
        await publication.wait()
    events = await read_all(log, "w")
    app = Starlette(routes=[Route("/runs/{run_id}/stream", resumable_sse_endpoint(log))])
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        assert await get_events(client, "/runs/w/stream") == (200, events)
        for seen in range(-1, len(events)):
            # After the Done: 204, which stops a browser's EventSource from reconnecting.
            expected = (200, events[seen + 1 :]) if seen < len(events) - 1 else (204, [])
            last_id = {"Last-Event-ID": str(seen)}
            assert await get_events(client, "/runs/w/stream", last_id) == expected
            assert await get_events(client, f"/runs/w/stream?after={seen}") == expected
        # A browser reconnects to the URL it opened, adding what it saw since: the larger wins.
        assert await get_events(client, "/runs/w/stream?after=1", {"Last-Event-ID": "3"}) == (
            200,
            events[4:],
        )
        assert await get_events(client, "/runs/nope/stream") == (204, [])
        response = await client.get("/runs/w/stream?after=x")
        assert (response.status_code, response.text) == (
            400,
            "after must be an event seq (a whole number), got 'x'",
        )
        response = await client.get("/runs/w/stream", headers={"Last-Event-ID": "-5"})
        assert response.status_code == 400


async def test_the_endpoint_follows_a_live_run_and_answers_410_for_trimmed_events() -> None:
    log = MemoryEventLog(maxlen=3, lease_ttl=LEASE_TTL)
    token = await log.acquire_lease("t")
    await log.extend("t", [delta("t", seq) for seq in range(5)])

    async def active_run(request: Request) -> str | None:
        return "t" if request.path_params["chat_id"] == "c1" else None

    app = Starlette(
        routes=[
            Route("/runs/{run_id}/stream", resumable_sse_endpoint(log)),
            Route("/api/chat/{chat_id}/stream", resumable_sse_endpoint(log, run_id=active_run)),
        ]
    )
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        response = await client.get("/runs/t/stream", headers={"Last-Event-ID": "0"})
        assert response.status_code == 410
        assert "after seq 0 are no longer kept (the oldest kept is seq 2)" in response.text
        assert await get_events(client, "/api/chat/c2/stream") == (204, [])
        reader = asyncio.ensure_future(get_events(client, "/api/chat/c1/stream?after=3"))
        assert await log.renew_lease("t", token)
        await log.extend("t", [delta("t", 5), done("t", 6)])
        async with asyncio.timeout(WAIT):
            status, events = await reader
    assert (status, [e.seq for e in events]) == (200, [4, 5, 6])


def test_endpoint_arguments_are_checked() -> None:
    log = MemoryEventLog()
    with pytest.raises(ConfigurationError, match="run_id must be a path parameter name"):
        resumable_sse_endpoint(log, run_id="")
    with pytest.raises(ConfigurationError, match="retry applies to to_sse only"):
        resumable_sse_endpoint(log, retry=10, encode=to_sse)
    with pytest.raises(ConfigurationError, match="log must be an EventLog"):
        resumable_sse_endpoint(object())  # type: ignore[arg-type]


async def test_a_cancelled_reader_does_not_stop_the_others_of_a_memory_log() -> None:
    """Readers waiting on a run share one signal: a reader cancelled while it waits (its client
    went away) must leave the others waiting, and later readers too."""
    from agentstream import TextDelta

    log = MemoryEventLog()
    token = await log.acquire_lease("shared")

    def delta(seq: int) -> TextDelta:
        return TextDelta(seq=seq, run_id="shared", timestamp=1, delta=f"d{seq}")

    await log.append("shared", delta(0))

    async def first_two(after: int) -> list[int]:
        seen = []
        async for event in log.read("shared", after):
            seen.append(event.seq)
            if len(seen) == 2:
                break
        return seen

    gone = asyncio.ensure_future(first_two(0))
    stays = asyncio.ensure_future(first_two(0))
    await asyncio.sleep(0)  # both wait for seq 1
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    late = asyncio.ensure_future(first_two(0))
    await log.append("shared", delta(1))
    await log.append("shared", delta(2))
    assert await asyncio.wait_for(stays, 5) == [1, 2]
    assert await asyncio.wait_for(late, 5) == [1, 2]
    await log.release_lease("shared", token)
