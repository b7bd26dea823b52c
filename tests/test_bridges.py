"""What both bridges must do, run once a protocol: AG-UI and the AI SDK UI message stream.

Each test gets the protocol's `Bridge` (tests/support/bridges.py): its encoder and endpoint
factory, the request its client posts, the Node scripts that read it through the protocol's own
client, and the checks of what that client reports. The tests of one protocol only are in
test_agui.py and test_ai_sdk.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentstream import Done, Event, parse_event

from .support.bridges import Bridge, disconnect_mid_tool, each_bridge, read_during_slow_tool
from .support.http import PING, PingWatch, serve
from .support.node import needs_node, node, run_node_batch
from .support.scenarios import SCENARIOS, build_scenario, replay, slow_tool_agent, waiting_agent
from .support.strategies import event_sequences

# The strategy both bridges are fed


@settings(max_examples=30, deadline=None)
@given(event_sequences())
def test_sequences_are_valid_events(events: list[Event]) -> None:
    """The strategy builds events that parse back as themselves (the wire contract holds)."""
    assert isinstance(events[-1], Done)
    for event in events:
        assert parse_event(event.model_dump_json()) == event


# Property: any valid event sequence gives a stream the protocol's rules accept


@each_bridge
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_sequences())
async def test_any_valid_sequence_gives_a_valid_stream(bridge: Bridge, events: list[Event]) -> None:
    bridge.check(bridge.decode(await bridge.body(events, **bridge.client_options)))


@node
@needs_node
@each_bridge
@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(event_sequences(), min_size=50, max_size=50))
async def test_any_valid_sequence_is_accepted_by_the_client(
    bridge: Bridge, batch: list[list[Event]]
) -> None:
    bodies = [await bridge.body(events, **bridge.client_options) for events in batch]
    reports = await run_node_batch(bridge.batch_reader, bodies)
    for events, body, report in zip(batch, bodies, reports, strict=True):
        done = events[-1]
        assert isinstance(done, Done)
        expected = bridge.client_errors_for(None if done.error is None else done.error.message)
        assert bridge.client_errors(report) == expected, body
        assert bridge.delivered(report) == len(bridge.decode(body))


# Over HTTP, read by the protocol's own client

EXPECTED_TEXT = {
    "text": "Hello there, friend.",
    "tool": "It is sunny in Paris.",
    "handoff": "Billing here.",
    "reasoning": "The answer.",
    "two_tools": "Both sunny.",
}


@node
@needs_node
@pytest.mark.parametrize("name", SCENARIOS)
@each_bridge
async def test_scenario_read_by_the_client(bridge: Bridge, name: str) -> None:
    report = await bridge.read_scenario(name)
    bridge.check(bridge.frames(report))
    bridge.check_scenario(name, report)
    answer = bridge.answer(report)
    if name == "failing":
        message = "the run exceeded its maximum number of turns"
        assert bridge.client_errors(report) == bridge.client_errors_for(message)
        bridge.check_failed(report, "MaxTurnsExceeded", message)
        assert answer.text == "Let me check."
        assert answer.tools == [("get_weather", "call_o", {"city": "Oslo"}, "sunny in Oslo")]
        return
    assert bridge.client_errors(report) == []
    if name == "cancelled":
        bridge.check_cancelled(report)
        assert answer.text.startswith("one two ")
        assert "one two three four five".startswith(answer.text)
        return
    bridge.check_completed(report)
    assert answer.text == EXPECTED_TEXT[name]
    if name == "tool":
        assert answer.tools == [("get_weather", "call_w", {"city": "Paris"}, "sunny in Paris")]
    elif name == "two_tools":
        assert answer.tools == [
            ("get_weather", "call_p", {"city": "Paris"}, "sunny in Paris"),
            ("get_weather", "call_r", {"city": "Rome"}, "sunny in Rome"),
        ]
    elif name == "reasoning":
        assert answer.reasoning == ["Think it over."]
    elif name == "handoff":
        assert answer.handoffs == [
            {"fromAgent": "triage", "toAgent": "billing", "callId": "call_h"}
        ]
    else:
        assert answer.tools == []


# The endpoint: options, disconnects, heartbeats, body limits


@pytest.mark.parametrize("typo", ["max_turn", "turns"])
@each_bridge
def test_endpoint_rejects_unknown_options(bridge: Bridge, typo: str) -> None:
    agent, _, _ = build_scenario("text")
    with pytest.raises(ValueError, match=rf"unknown options \['{typo}'\]"):
        bridge.endpoint(agent, **{typo: 3})


@each_bridge
async def test_endpoint_cancels_the_run_when_the_client_goes_away(bridge: Bridge) -> None:
    agent, started, cancelled = waiting_agent()
    app = bridge.app(bridge.endpoint(agent))
    header, value = bridge.marker_header
    async with serve(app) as base, httpx.AsyncClient(timeout=30) as client:
        async with client.stream("POST", f"{base}{bridge.path}", json=bridge.request) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers[header] == value
            await asyncio.wait_for(started.wait(), 10)
        await asyncio.wait_for(cancelled.wait(), 10)


@pytest.mark.parametrize("heartbeat", [0, -1.0, float("nan"), float("inf"), True, "5"])
@each_bridge
def test_a_bad_heartbeat_is_named(bridge: Bridge, heartbeat: Any) -> None:
    with pytest.raises(ValueError, match=f"heartbeat must be .*got {heartbeat!r}"):
        bridge.encode(replay([]), heartbeat=heartbeat)
    agent, _, _ = build_scenario("text")
    with pytest.raises(ValueError, match=f"heartbeat must be .*got {heartbeat!r}"):
        bridge.endpoint(agent, heartbeat=heartbeat)


@node
@needs_node
@each_bridge
async def test_pings_during_a_slow_tool_are_accepted_by_the_client(bridge: Bridge) -> None:
    agent, release = slow_tool_agent()
    app = PingWatch(bridge.app(bridge.endpoint(agent, heartbeat=0.05)))
    report = await read_during_slow_tool(app, release, bridge.reader, bridge.path)
    assert bridge.client_errors(report) == []
    frames = bridge.frames(report)
    bridge.check(frames)
    bridge.check_completed(report)
    body = app.body.decode()
    assert body.count(PING) >= 1
    assert len(frames) == body.count("data: ") - bridge.closing_frames
    # The pings came while the tool ran: after its call was whole, before its result.
    start, end = bridge.tool_running
    assert PING in body[body.index(start) : body.index(end)]
    answer = bridge.answer(report)
    assert answer.tools == [("slow_lookup", "call_s", {"city": "Paris"}, "sunny in Paris")]
    assert answer.last == "It is sunny."


@each_bridge
async def test_a_disconnect_mid_tool_cancels_the_tool_and_leaves_no_task(bridge: Bridge) -> None:
    sent = await disconnect_mid_tool(bridge.endpoint, bridge.request)
    assert bridge.tool_running[0].encode() in sent and PING.encode() in sent


@each_bridge
async def test_a_body_over_the_limit_gets_413_before_it_is_read(bridge: Bridge) -> None:
    agent, _, _ = build_scenario("text")
    app = bridge.app(bridge.endpoint(agent, max_body_bytes=100))
    big = {**bridge.request, "state": {"pad": "x" * 200}}

    async def chunked() -> Any:
        raw = json.dumps(big).encode()
        for i in range(0, len(raw), 50):
            yield raw[i : i + 50]

    async with serve(app) as base, httpx.AsyncClient(timeout=30) as client:
        declared = await client.post(f"{base}{bridge.path}", json=big)
        streamed = await client.post(f"{base}{bridge.path}", content=chunked())
        small = await client.post(f"{base}{bridge.path}", json=bridge.request)
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json() == {"error": "the request body is larger than 100 bytes"}
    assert "content-length" not in streamed.request.headers
    assert small.status_code == 200


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, None])
@each_bridge
def test_a_bad_body_limit_is_named(bridge: Bridge, limit: Any) -> None:
    agent, _, _ = build_scenario("text")
    with pytest.raises(ValueError, match=f"max_body_bytes must be .*got {limit!r}"):
        bridge.endpoint(agent, max_body_bytes=limit)
