"""Redis-only behaviour on a real redis-server: the key layout, trimming, a producer process killed
mid-run, two web processes sharing one Redis, and many concurrent runs."""

from __future__ import annotations

import os

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import asyncio
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from agents import Agent, Runner

from agentstream import ConfigurationError, Done, Event, TextDelta
from agentstream._sse import SSEDecoder, sse_to_event
from agentstream.redis import RedisEventLog
from agentstream.resume import PRODUCER_LOST, EventsTrimmedError, publish, subscribe
from agentstream.testing import ScriptedStreamModel, text, turn

from .support.checks import assert_well_formed
from .support.redis_server import LEASE_TTL, read_line_until, spawn
from .support.scenarios import slow_tool_agent

pytestmark = pytest.mark.redis

WAIT = 20.0
"""Bound of every wait in these tests; reaching it fails the test."""


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    made = aioredis.from_url(redis_url)
    try:
        yield made
    finally:
        await made.aclose()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=WAIT)


def delta(run_id: str, seq: int) -> TextDelta:
    return TextDelta(seq=seq, run_id=run_id, agent="a", timestamp=1, delta=f"d{seq}")


async def test_keys_entries_and_expiry(client: aioredis.Redis) -> None:
    log = RedisEventLog(client, prefix="layout", ttl=600, lease_ttl=5)
    assert log.keys("r1") == ("layout:{r1}", "layout:{r1}:lease")
    token = await log.acquire_lease("r1")
    assert await client.get("layout:{r1}:lease") == token.encode()
    assert 0 < await client.pttl("layout:{r1}:lease") <= 5000
    await log.extend("r1", [delta("r1", 0), delta("r1", 1)])
    entries = await client.xrange("layout:{r1}")
    assert [entry_id for entry_id, _ in entries] == [b"1-0", b"2-0"]
    assert entries[1][1][b"t"] == b"text_delta"
    assert entries[1][1][b"e"] == delta("r1", 1).model_dump_json().encode()
    assert 0 < await client.pttl("layout:{r1}") <= 600_000
    await log.expire("r1", 30)
    assert 0 < await client.pttl("layout:{r1}") <= 30_000
    await log.release_lease("r1", token)
    assert not await client.exists("layout:{r1}:lease")


async def test_a_client_that_decodes_responses_works(redis_url: str) -> None:
    log = RedisEventLog(aioredis.from_url(redis_url, decode_responses=True), lease_ttl=5)
    try:
        run = uuid.uuid4().hex
        token = await log.acquire_lease(run)
        await log.extend(
            run, [delta(run, 0), Done(seq=1, run_id=run, timestamp=1, status="completed")]
        )
        await log.release_lease(run, token)
        async with asyncio.timeout(WAIT):
            assert [e.seq async for e in subscribe(log, run)] == [0, 1]
        info = await log.info(run)
        assert info is not None
        assert info.done
    finally:
        await log.client.aclose()


async def test_long_runs_are_trimmed_and_old_positions_refused(client: aioredis.Redis) -> None:
    log = RedisEventLog(client, prefix="trim", maxlen=10, lease_ttl=5)
    await log.acquire_lease("long")
    for start in range(0, 500, 50):
        await log.extend("long", [delta("long", seq) for seq in range(start, start + 50)])
    info = await log.info("long")
    assert info is not None
    assert info.next_seq == 500
    assert 0 < info.first_seq <= 490, "MAXLEN ~ keeps at least maxlen"
    with pytest.raises(EventsTrimmedError, match="events from seq 0 were trimmed"):
        async with asyncio.timeout(WAIT):
            await anext(subscribe(log, "long"))
    async with asyncio.timeout(WAIT):
        reader = subscribe(log, "long", info.first_seq - 1)
        assert (await anext(reader)).seq == info.first_seq
        await reader.aclose()  # type: ignore[attr-defined]


def test_arguments_are_checked(client: aioredis.Redis) -> None:
    with pytest.raises(ConfigurationError, match=r"prefix must be .* got 'a\{b'"):
        RedisEventLog(client, prefix="a{b")
    with pytest.raises(ConfigurationError, match="batch must be a whole number >= 1, got 0"):
        RedisEventLog(client, batch=0)
    with pytest.raises(
        ConfigurationError, match=r"client must be a redis\.asyncio client, got str"
    ):
        RedisEventLog("redis://x")  # type: ignore[arg-type]


async def test_a_killed_producer_process_ends_its_readers_with_producer_lost(
    redis_url: str, processes: list[subprocess.Popen[str]]
) -> None:
    run = uuid.uuid4().hex
    producer = spawn("produce", redis_url, run)
    processes.append(producer)
    await asyncio.to_thread(read_line_until, producer, "published")
    log = RedisEventLog.from_url(redis_url, lease_ttl=LEASE_TTL)
    try:
        received: list[list[Event]] = [[], []]
        progressed = asyncio.Event()

        async def follow(into: list[Event], after: int) -> None:
            async for event in subscribe(log, run, after):
                into.append(event)
                if len(into) >= 5:
                    progressed.set()

        readers = [
            asyncio.ensure_future(follow(received[0], -1)),
            asyncio.ensure_future(follow(received[1], 2)),
        ]
        async with asyncio.timeout(WAIT):
            await progressed.wait()  # the run is going, and being read, when it dies
        producer.send_signal(signal.SIGKILL)
        async with asyncio.timeout(WAIT):
            await asyncio.gather(*readers)
    finally:
        await log.aclose()
    final = assert_well_formed(received[0])
    assert final.status == "error"
    assert final.error is not None
    assert final.error.type == PRODUCER_LOST
    assert received[1] == received[0][3:], "both readers end the same way"
    assert any(isinstance(e, TextDelta) for e in received[0])


async def test_a_client_resumes_on_another_web_process_with_every_event_once(
    redis_url: str, processes: list[subprocess.Popen[str]]
) -> None:
    bases = []
    for _ in range(2):
        web = spawn("web", redis_url)
        processes.append(web)
        line = await asyncio.to_thread(read_line_until, web, "port ")
        bases.append(f"http://127.0.0.1:{int(line.split()[1])}")
    log = RedisEventLog.from_url(redis_url, lease_ttl=LEASE_TTL)
    # The tool waits until the test has read part of the run.
    agent, release = slow_tool_agent(text("Let me check."))
    try:
        publication = await publish(Runner.run_streamed(agent, "weather in Paris?"), log)
        path = f"/runs/{publication.run_id}/stream"
        first: list[Event] = []
        decoder = SSEDecoder()
        async with asyncio.timeout(WAIT), httpx.AsyncClient() as http:
            async with http.stream("GET", bases[0] + path) as response:
                assert response.status_code == 200
                async for chunk in response.aiter_bytes():
                    first.extend(_decode(decoder, chunk))
                    if any(e.type == "tool_called" for e in first):
                        break  # drop the connection mid-run
            last_seen = decoder.last_event_id
            release.set()
            rest: list[Event] = []
            async with http.stream(
                "GET", bases[1] + path, headers={"Last-Event-ID": last_seen}
            ) as response:
                assert response.status_code == 200
                async for chunk in response.aiter_bytes():
                    rest.extend(_decode(decoder, chunk))
            await publication.wait()
        assert last_seen == str(first[-1].seq)
        events = first + rest
        final = assert_well_formed(events)
        assert final.status == "completed"
        assert final.final_output == "It is sunny."
        async with asyncio.timeout(WAIT):
            assert events == [event async for event in subscribe(log, publication.run_id)]
    finally:
        await log.aclose()


def _decode(decoder: SSEDecoder, chunk: bytes) -> list[Event]:
    found = []
    for sse in decoder.feed(chunk):
        event = sse_to_event(sse)
        assert event is not None
        found.append(event)
    return found


async def test_many_concurrent_runs_reach_two_subscribers_each_exactly_once(
    redis_url: str,
) -> None:
    runs = 100
    log = RedisEventLog.from_url(redis_url, lease_ttl=5, prefix="load")
    try:

        async def one(i: int) -> tuple[list[Event], list[Event], list[Event]]:
            words = [f"r{i}w{j} " for j in range(20)]
            agent = Agent(name="a", model=ScriptedStreamModel([turn(text(words))]))
            publication = await publish(Runner.run_streamed(agent, "go"), log)
            a, b = await asyncio.gather(
                _collect(subscribe(log, publication.run_id)),
                _collect(subscribe(log, publication.run_id)),
            )
            await publication.wait()
            return a, b, await _collect(subscribe(log, publication.run_id))

        async with asyncio.timeout(120):
            results = await asyncio.gather(*(one(i) for i in range(runs)))
    finally:
        await log.aclose()
    for a, b, stored in results:
        final = assert_well_formed(a)
        assert final.status == "completed"
        assert a == b == stored
        assert sum(isinstance(e, TextDelta) for e in a) == 20


async def _collect(events: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in events]


async def test_a_run_paused_on_one_process_is_answered_on_another_across_the_pause(
    redis_url: str, processes: list[subprocess.Popen[str]]
) -> None:
    """Process A starts the run and it pauses; a reader follows it on A with `Last-Event-ID`;
    the answers go to process B, which resumes the run from Redis: same run, seq going on."""
    bases = {}
    for name in ("asker", "answerer"):
        web = spawn("interactive-web", redis_url, name)
        processes.append(web)
        line = await asyncio.to_thread(read_line_until, web, "port ")
        bases[name] = f"http://127.0.0.1:{int(line.split()[1])}"
    decoder = SSEDecoder()
    async with asyncio.timeout(WAIT), httpx.AsyncClient(timeout=WAIT) as http:
        first: list[Event] = []
        async with http.stream(
            "POST", bases["asker"] + "/runs", json={"input": "Refund orders 1 and 2"}
        ) as response:
            assert response.status_code == 200
            run_id = response.headers["x-run-id"]
            async for chunk in response.aiter_bytes():
                first.extend(_decode(decoder, chunk))
        paused = first[-1]
        assert isinstance(paused, Done)
        assert paused.status == "interrupted"
        assert [w.call_id for w in paused.interruptions] == ["call_a", "call_b"]
        assert decoder.last_event_id == str(paused.seq)

        follower_events: list[Event] = []

        async def follow() -> None:
            reader = SSEDecoder()
            async with http.stream(
                "GET",
                f"{bases['asker']}/runs/{run_id}/stream",
                headers={"Last-Event-ID": str(paused.seq)},
            ) as followed:
                assert followed.status_code == 200
                async for chunk in followed.aiter_bytes():
                    follower_events.extend(_decode(reader, chunk))

        following = asyncio.ensure_future(follow())
        answers = {
            "answers": [
                {"call_id": "call_a", "approved": True},
                {"call_id": "call_b", "approved": False, "reason": "Order 2 needs a manager."},
            ]
        }
        rest: list[Event] = []
        continuation = SSEDecoder()
        async with http.stream(
            "POST", f"{bases['answerer']}/runs/{run_id}/answers", json=answers
        ) as response:
            assert response.status_code == 200
            async for chunk in response.aiter_bytes():
                rest.extend(_decode(continuation, chunk))
        await following
        replay = await http.post(f"{bases['answerer']}/runs/{run_id}/answers", json=answers)
        assert replay.status_code == 404
    done = rest[-1]
    assert isinstance(done, Done)
    assert done.status == "completed"
    assert done.final_output == "One refund went through."
    assert [e.seq for e in rest] == list(range(paused.seq + 1, done.seq + 1))
    assert {e.run_id for e in first + rest} == {run_id}
    # The reader that followed across the pause saw every seq after it, once.
    assert follower_events == rest
    outputs = {e.call_id: e.output for e in rest if e.type == "tool_output"}
    assert outputs == {"call_a": "refunded 1 on answerer", "call_b": "Order 2 needs a manager."}


@pytest.mark.node
async def test_a_page_that_reloads_mid_answer_reconnects_on_another_process(
    redis_url: str, processes: list[subprocess.Popen[str]]
) -> None:
    """The `ai` Chat streams from process A and stops mid-answer (the page reloads); a new
    Chat with the same id resumes (`GET {api}/{chatId}/stream`) on process B, over one
    redis-server, and gets the whole answer."""
    from .support.node import HAVE_NODE, run_node

    if not HAVE_NODE:
        pytest.skip("needs node and clients/node_modules")
    bases = []
    for _ in range(2):
        web = spawn("chat-web", redis_url)
        processes.append(web)
        line = await asyncio.to_thread(read_line_until, web, "port ")
        bases.append(f"http://127.0.0.1:{int(line.split()[1])}/api/chat")
    report = await run_node(
        "ai_sdk_reload.mjs", bases[0], bases[1], "--prompt", "Write", "--chat-id", "chat-r"
    )
    whole = "".join(f"word{i} " for i in range(40))
    assert report["errors"] == []
    assert report["statuses"] == [200, 200]
    assert report["before"] and whole.startswith(report["before"])
    assert len(report["before"]) < len(whole)  # the first page left mid-answer
    assert report["after"] == whole  # the reloaded page got all of it, once


async def test_a_conversation_held_in_redis_sessions_goes_on_across_endpoints(
    redis_url: str,
) -> None:
    """The SDK's own `RedisSession` as `sessions`: two AI SDK endpoints (two app instances, as
    two processes would have) share the history; turn 2 on the second starts at the agent turn
    1 handed to on the first."""
    from agents.extensions.memory import RedisSession
    from starlette.applications import Starlette
    from starlette.routing import Route

    from agentstream import ai_sdk
    from agentstream.testing import handoff

    from .support.http import serve

    client = aioredis.from_url(redis_url)  # one connection pool for every session

    def sessions(chat: str) -> RedisSession:
        return RedisSession(chat, redis_client=client)

    def shop(triage_turns: list[Any], answer: str) -> Agent[Any]:
        shipping = Agent(name="shipping", model=ScriptedStreamModel([turn(text(answer))]))
        return Agent(name="triage", model=ScriptedStreamModel(triage_turns), handoffs=[shipping])

    # The second app's triage has no turn to play: if turn 2 started at triage, it would fail.
    first_app, second_app = (
        Starlette(routes=[Route("/c", ai_sdk.endpoint(agent, sessions=sessions), methods=["POST"])])
        for agent in (shop([turn(handoff("shipping"))], "Shipped."), shop([], "Thursday."))
    )

    def body(text_: str) -> dict[str, Any]:
        return {
            "id": "chat-redis",
            "message": {"id": text_, "role": "user", "parts": [{"type": "text", "text": text_}]},
        }

    async with serve(first_app) as first, serve(second_app) as second, httpx.AsyncClient() as http:
        one = await http.post(f"{first}/c", json=body("Where is it?"), timeout=WAIT)
        two = await http.post(f"{second}/c", json=body("When?"), timeout=WAIT)
    assert '"delta":"Shipped."' in one.text
    assert '"delta":"Thursday."' in two.text
    history = await sessions("chat-redis").get_items()
    await client.aclose()
    assert [i.get("role") for i in history if i.get("role") == "user"] == ["user", "user"]


@pytest.mark.node
async def test_an_ag_ui_client_reconnects_to_its_running_thread_on_another_process(
    redis_url: str, processes: list[subprocess.Popen[str]]
) -> None:
    """HttpAgent runs a thread on process A and leaves mid-answer; a second HttpAgent whose
    `connect()` GETs `/threads/{id}/stream` reconnects on process B (`connectAgent`, with the
    client's own checks) and gets the whole run, which ag-ui-validate accepts."""
    from .support.agui import agui_findings
    from .support.node import HAVE_NODE, run_node

    if not HAVE_NODE:
        pytest.skip("needs node and clients/node_modules")
    bases = []
    for _ in range(2):
        web = spawn("chat-web", redis_url)
        processes.append(web)
        line = await asyncio.to_thread(read_line_until, web, "port ")
        bases.append(f"http://127.0.0.1:{int(line.split()[1])}")
    report = await run_node(
        "agui_reconnect.mjs", f"{bases[0]}/agent", bases[1], "--prompt", "Write"
    )
    whole = "".join(f"word{i} " for i in range(40))
    assert report["errors"] == []
    assert report["before"] and len(report["before"]) < len(whole)
    assert report["after"] == whole
    assert report["events"][0]["type"] == "RUN_STARTED"
    assert report["events"][-1]["type"] == "RUN_FINISHED"
    assert agui_findings(report["events"]) == []
