"""Interactive runs through the AG-UI bridge: interrupts answered with `resume` and frontend tools
answered with tool messages by @ag-ui/client's `HttpAgent` (which runs `verifyEvents` on every
run) against a real uvicorn server, every run's stream checked by ag-ui-validate too, and the
answers the endpoint refuses.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from agents import Agent, AgentHooks
from starlette.applications import Starlette
from starlette.routing import Route

from agentstream import agui
from agentstream.resume import MemoryEventLog
from agentstream.testing import ScriptedStreamModel, text, tool_call, turn

from .support.agui import agui_findings, decode
from .support.http import serve
from .support.node import needs_node, node, run_node
from .support.scenarios import REFUNDED, refund_agent


def app_for(agent: Agent[Any], log: MemoryEventLog | None = None) -> Starlette:
    return Starlette(routes=[Route("/agent", agui.endpoint(agent, log=log), methods=["POST"])])


def assert_valid(run: dict[str, Any]) -> None:
    """The run passed verifyEvents (no error) and ag-ui-validate finds nothing."""
    assert run["errors"] == [], run["errors"]
    assert agui_findings(run["events"]) == []


@needs_node
@node
async def test_http_agent_approves_one_call_and_rejects_another_with_resume() -> None:
    calls: list[str] = []
    async with serve(app_for(refund_agent(calls))) as base:
        decisions = {"call_b": {"approved": False, "reason": "Order 2 needs a manager."}}
        report = await run_node(
            "agui_interactive.mjs",
            f"{base}/agent",
            "--prompt",
            "Refund orders 1 and 2",
            "--decisions",
            json.dumps(decisions),
        )
    assert report["errors"] == []
    first, second = report["runs"]
    for run in (first, second):
        assert_valid(run)
    finished = first["events"][-1]
    assert finished["type"] == "RUN_FINISHED"
    assert finished["outcome"]["type"] == "interrupt"
    interrupts = finished["outcome"]["interrupts"]
    assert [(i["id"], i["toolCallId"], i["reason"]) for i in interrupts] == [
        ("call_a", "call_a", "tool_approval"),
        ("call_b", "call_b", "tool_approval"),
    ]
    assert interrupts[0]["responseSchema"]["required"] == ["approved"]
    assert all(i["metadata"]["signature"] for i in interrupts)
    assert [e["interruptId"] for e in second["input"]["resume"]] == ["call_a", "call_b"]
    assert calls == ["1"]  # the approved call ran once, the rejected one never
    kinds = [e["type"] for e in second["events"]]
    assert kinds[:2] == ["RUN_STARTED", "MESSAGES_SNAPSHOT"]
    assert "TOOL_CALL_START" not in kinds  # the calls are not started again
    results = {
        e["toolCallId"]: e["content"] for e in second["events"] if e["type"] == "TOOL_CALL_RESULT"
    }
    assert results == {"call_a": "refunded 1", "call_b": "Order 2 needs a manager."}
    assert second["events"][-1]["outcome"] == {"type": "success"}
    assistant_text = [
        m["content"] for m in report["messages"] if m["role"] == "assistant" and m.get("content")
    ]
    assert assistant_text == [REFUNDED]
    tool_messages = [m["toolCallId"] for m in report["messages"] if m["role"] == "tool"]
    assert sorted(tool_messages) == ["call_a", "call_b"]  # one result each, no duplicate


@needs_node
@node
async def test_http_agent_answers_a_frontend_tool_from_run_agent_input_tools() -> None:
    outputs: list[Any] = []

    class Seen(AgentHooks[Any]):
        async def on_tool_end(self, context: Any, agent: Any, tool: Any, result: Any) -> None:
            outputs.append(result)

    script = [
        turn(tool_call("pick_date", {"why": "delivery"}, call_id="call_d")),
        turn(text("Booked.")),
    ]
    agent = Agent(name="planner", model=ScriptedStreamModel(script), hooks=Seen())
    tools = [
        {
            "name": "pick_date",
            "description": "Ask the user to pick a date.",
            "parameters": {"type": "object", "properties": {"why": {"type": "string"}}},
        }
    ]
    async with serve(app_for(agent)) as base:
        report = await run_node(
            "agui_interactive.mjs",
            f"{base}/agent",
            "--prompt",
            "Book a delivery",
            "--tools",
            json.dumps(tools),
            "--outputs",
            json.dumps({"pick_date": {"date": "2026-12-24"}}),
        )
    assert report["errors"] == []
    first, second = report["runs"]
    for run in (first, second):
        assert_valid(run)
    finished = first["events"][-1]
    assert finished["outcome"] == {"type": "success", "pendingToolCallIds": ["call_d"]}
    assert "TOOL_CALL_RESULT" not in [e["type"] for e in first["events"]]
    assert outputs == ['{"date":"2026-12-24"}']  # the browser's output reached the run
    second_kinds = [e["type"] for e in second["events"]]
    assert "TOOL_CALL_RESULT" not in second_kinds  # the client's tool message is the result
    assistant_text = [
        m["content"] for m in report["messages"] if m["role"] == "assistant" and m.get("content")
    ]
    assert assistant_text == ["Booked."]
    assert [m["toolCallId"] for m in report["messages"] if m["role"] == "tool"] == ["call_d"]


# Refusals, with the RunAgentInput built by hand.


def _input(thread: str, run: str, **more: Any) -> dict[str, Any]:
    return {
        "threadId": thread,
        "runId": run,
        "messages": [{"id": "u1", "role": "user", "content": "Refund 1 and 2"}],
        "tools": [],
        "context": [],
        "state": {},
        "forwardedProps": {},
        **more,
    }


async def _paused(client: httpx.AsyncClient, thread: str) -> dict[str, dict[str, Any]]:
    response = await client.post("/agent", json=_input(thread, "run-1"))
    assert response.status_code == 200
    finished = decode(response.text)[-1]
    assert finished["outcome"]["type"] == "interrupt"
    return {i["id"]: i for i in finished["outcome"]["interrupts"]}


def _resume(interrupts: dict[str, dict[str, Any]], approved: dict[str, bool]) -> list[Any]:
    return [
        {
            "interruptId": call_id,
            "status": "resolved",
            "payload": {"approved": yes},
            "metadata": {
                "signature": interrupts.get(call_id, {}).get("metadata", {}).get("signature", "x")
            },
        }
        for call_id, yes in approved.items()
    ]


@pytest.fixture
async def agent_server() -> Any:
    calls: list[str] = []
    async with (
        serve(app_for(refund_agent(calls))) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        yield client, calls


async def test_forged_unknown_malformed_other_threads_and_replayed_answers_are_refused(
    agent_server: Any,
) -> None:
    client, calls = agent_server
    interrupts = await _paused(client, "thread-1")
    both = {"call_a": True, "call_b": True}
    forged = _resume(interrupts, both)
    forged[1]["metadata"]["signature"] = "Zm9yZ2Vk"
    cases = [
        (_input("thread-1", "run-2", resume=forged), 403),
        (
            _input("thread-1", "run-2", resume=[{**_resume(interrupts, both)[0], "metadata": {}}]),
            403,
        ),
        (_input("thread-1", "run-2", resume=_resume(interrupts, {**both, "call_zz": True})), 409),
        (_input("thread-1", "run-2", resume=_resume(interrupts, {"call_a": True})), 422),
        (
            _input(
                "thread-1",
                "run-2",
                resume=[{**e, "payload": {"approved": "yes"}} for e in _resume(interrupts, both)],
            ),
            422,
        ),
        (_input("thread-2", "run-2", resume=_resume(interrupts, both)), 409),
    ]
    for body, status in cases:
        response = await client.post("/agent", json=body)
        assert response.status_code == status, (body, response.text)
        assert "error" in response.json()
    assert calls == []
    good = _input("thread-1", "run-2", resume=_resume(interrupts, both))
    first, second = await asyncio.gather(
        client.post("/agent", json=good), client.post("/agent", json=good)
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    winner = first if first.status_code == 200 else second
    assert decode(winner.text)[-1]["type"] == "RUN_FINISHED"
    assert sorted(calls) == ["1", "2"]
    replayed = await client.post("/agent", json=good)
    assert replayed.status_code == 409
    assert sorted(calls) == ["1", "2"]


async def test_a_cancelled_interrupt_rejects_the_call_and_the_run_goes_on(
    agent_server: Any,
) -> None:
    client, calls = agent_server
    interrupts = await _paused(client, "thread-c")
    resume = _resume(interrupts, {"call_a": True, "call_b": True})
    resume[1] = {"interruptId": "call_b", "status": "cancelled", "metadata": resume[1]["metadata"]}
    response = await client.post("/agent", json=_input("thread-c", "run-2", resume=resume))
    assert response.status_code == 200
    events = decode(response.text)
    assert events[-1]["type"] == "RUN_FINISHED"
    assert agui_findings(events) == []
    assert calls == ["1"]


async def test_a_new_message_instead_of_answers_starts_a_new_run_without_the_open_calls(
    agent_server: Any,
) -> None:
    from ag_ui.core import RunAgentInput

    client, calls = agent_server
    await _paused(client, "thread-n")
    call = {"id": "call_a", "type": "function", "function": {"name": "refund", "arguments": "{}"}}
    messages = [
        {"id": "u1", "role": "user", "content": "Refund 1 and 2"},
        {"id": "a1", "role": "assistant", "toolCalls": [call]},
        {"id": "u2", "role": "user", "content": "Never mind."},
    ]
    body = _input("thread-n", "run-2", messages=messages)
    # A model cannot take a call without its output: it is left out of the input.
    items = agui.messages_to_input(RunAgentInput.model_validate(body).messages)
    assert items == [
        {"role": "user", "content": "Refund 1 and 2"},
        {"role": "user", "content": "Never mind."},
    ]
    response = await client.post("/agent", json=body)
    assert response.status_code == 200
    events = decode(response.text)
    assert events[-1]["type"] == "RUN_FINISHED"
    assert agui_findings(events) == []
    assert calls == []


async def test_a_client_tool_named_like_a_server_tool_is_refused(agent_server: Any) -> None:
    client, _ = agent_server
    body = _input("thread-t", "run-1", tools=[{"name": "refund", "description": "mine"}])
    response = await client.post("/agent", json=body)
    assert response.status_code == 422
    assert "refund" in response.json()["error"]
