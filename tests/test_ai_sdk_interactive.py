"""Interactive runs through the AI SDK bridge: approvals and frontend tools answered by the
`ai` package's own Chat (`addToolApprovalResponse`, `addToolOutput`, `sendAutomaticallyWhen`)
against a real uvicorn server, and the answers the endpoint refuses.
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

from agentstream import ai_sdk
from agentstream.interactive import frontend_tool
from agentstream.resume import MemoryEventLog
from agentstream.testing import ScriptedStreamModel, text, tool_call, turn

from .support.ai_sdk import parts as sse_parts
from .support.http import serve
from .support.node import needs_node, node, run_node
from .support.scenarios import REFUNDED, refund_agent


def app_for(agent: Agent[Any], log: MemoryEventLog | None = None) -> Starlette:
    return Starlette(routes=[Route("/api/chat", ai_sdk.endpoint(agent, log=log), methods=["POST"])])


@needs_node
@node
async def test_the_ai_chat_approves_one_call_and_rejects_another() -> None:
    calls: list[str] = []
    async with serve(app_for(refund_agent(calls))) as base:
        decisions = {"call_b": {"approved": False, "reason": "Refunds of order 2 need a manager."}}
        report = await run_node(
            "ai_sdk_interactive.mjs",
            f"{base}/api/chat",
            "--prompt",
            "Refund orders 1 and 2",
            "--decisions",
            json.dumps(decisions),
        )
    assert report["errors"] == []
    assert report["statuses"] == [200, 200]
    assert report["status"] == "ready"
    assert calls == ["1"]  # the approved call ran once, the rejected one never
    first, second = report["requests"]
    assert first["id"] == second["id"]
    answered = [
        p for p in second["messages"][-1]["parts"] if p.get("state") == "approval-responded"
    ]
    assert {p["toolCallId"]: p["approval"]["approved"] for p in answered} == {
        "call_a": True,
        "call_b": False,
    }
    assert all(p["approval"]["signature"] for p in answered)  # echoed as issued
    messages = report["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]  # one assistant message
    assistant = messages[-1]
    tools = {p["toolCallId"]: p for p in assistant["parts"] if p["type"] == "tool-refund"}
    assert tools["call_a"]["state"] == "output-available"
    assert tools["call_a"]["output"] == "refunded 1"
    assert tools["call_b"]["state"] == "output-denied"
    texts = "".join(p["text"] for p in assistant["parts"] if p["type"] == "text")
    assert texts == REFUNDED
    second_chunks = [c["type"] for c in report["chunks"][1]]
    assert "tool-input-start" not in second_chunks  # the calls are not announced again
    assert second_chunks.count("tool-output-denied") == 1


@needs_node
@node
async def test_a_frontend_tool_is_answered_by_the_ai_chat() -> None:
    outputs: list[Any] = []

    class Seen(AgentHooks[Any]):
        async def on_tool_end(self, context: Any, agent: Any, tool: Any, result: Any) -> None:
            outputs.append(result)

    pick = frontend_tool(
        "pick_date", "Ask the user for a date.", {"type": "object", "properties": {}}
    )
    script = [turn(tool_call("pick_date", {}, call_id="call_d")), turn(text("Booked."))]
    agent = Agent(name="planner", model=ScriptedStreamModel(script), tools=[pick], hooks=Seen())
    async with serve(app_for(agent)) as base:
        report = await run_node(
            "ai_sdk_interactive.mjs",
            f"{base}/api/chat",
            "--prompt",
            "Book a delivery",
            "--outputs",
            json.dumps({"pick_date": {"date": "2026-12-24"}}),
        )
    assert report["errors"] == []
    assert report["statuses"] == [200, 200]
    assert outputs == [{"date": "2026-12-24"}]  # the browser's output reached the run
    assistant = report["messages"][-1]
    tool = next(p for p in assistant["parts"] if p["type"] == "tool-pick_date")
    assert tool["state"] == "output-available"
    assert "".join(p["text"] for p in assistant["parts"] if p["type"] == "text") == "Booked."
    first_chunks = [c["type"] for c in report["chunks"][0]]
    assert "tool-approval-request" not in first_chunks  # a client's tool, not a question
    assert report["finishes"][0]["finishReason"] == "tool-calls"


# Refusals, with the bodies `useChat` sends built by hand.


async def _paused_chat(client: httpx.AsyncClient, chat: str) -> dict[str, Any]:
    """Start a run in `chat` and return the assistant message the client would hold."""
    body = {
        "id": chat,
        "trigger": "submit-message",
        "messages": [
            {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Refund 1 and 2"}]}
        ],
    }
    response = await client.post("/api/chat", json=body)
    assert response.status_code == 200
    found = sse_parts(response.text)
    message_id = next(p["messageId"] for p in found if p["type"] == "start")
    requests = {p["toolCallId"]: p for p in found if p["type"] == "tool-approval-request"}
    assert set(requests) == {"call_a", "call_b"}
    assert found[-1]["type"] == "finish"
    return {"body": body, "message_id": message_id, "requests": requests}


def _answer(paused: dict[str, Any], approved: dict[str, bool], **changes: Any) -> dict[str, Any]:
    parts = []
    for call_id, yes in approved.items():
        request = paused["requests"].get(call_id, {"approvalId": call_id, "signature": "x"})
        approval = {"id": request["approvalId"], "approved": yes}
        if "signature" in request:
            approval["signature"] = request["signature"]
        approval.update(changes.get(call_id, {}))
        parts.append(
            {
                "type": "tool-refund",
                "toolCallId": call_id,
                "state": "approval-responded",
                "input": {"order_id": call_id[-1]},
                "approval": approval,
            }
        )
    assistant = {"id": paused["message_id"], "role": "assistant", "parts": parts}
    return {**paused["body"], "messages": [*paused["body"]["messages"], assistant]}


@pytest.fixture
async def chat_server() -> Any:
    calls: list[str] = []
    async with (
        serve(app_for(refund_agent(calls))) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        yield client, calls


async def test_a_forged_or_altered_approval_is_refused(chat_server: Any) -> None:
    client, calls = chat_server
    paused = await _paused_chat(client, "chat-forged")
    forged = _answer(paused, {"call_a": True, "call_b": True}, call_b={"signature": "Zm9yZ2Vk"})
    response = await client.post("/api/chat", json=forged)
    assert response.status_code == 403
    assert "call_b" in response.json()["error"]
    unsigned = _answer(paused, {"call_a": True, "call_b": True})
    del unsigned["messages"][-1]["parts"][0]["approval"]["signature"]
    assert (await client.post("/api/chat", json=unsigned)).status_code == 403
    assert calls == []
    # Nothing changed: the real answers still resume the run.
    good = await client.post("/api/chat", json=_answer(paused, {"call_a": True, "call_b": False}))
    assert good.status_code == 200
    assert calls == ["1"]


async def test_unknown_replayed_other_chats_and_racing_answers_are_refused(
    chat_server: Any,
) -> None:
    client, calls = chat_server
    paused = await _paused_chat(client, "chat-1")
    unknown = _answer(paused, {"call_a": True, "call_b": True, "call_zz": True})
    response = await client.post("/api/chat", json=unknown)
    assert response.status_code == 409
    assert "call_zz" in response.json()["error"]
    too_few = _answer(paused, {"call_a": True})
    assert (await client.post("/api/chat", json=too_few)).status_code == 422
    other = {**_answer(paused, {"call_a": True, "call_b": True}), "id": "chat-2"}
    assert (await client.post("/api/chat", json=other)).status_code == 409
    assert calls == []
    good = _answer(paused, {"call_a": True, "call_b": True})
    first, second = await asyncio.gather(
        client.post("/api/chat", json=good), client.post("/api/chat", json=good)
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    winner = first if first.status_code == 200 else second
    assert sse_parts(winner.text)[-1]["type"] == "finish"
    assert sorted(calls) == ["1", "2"]  # each approved call ran exactly once
    replayed = await client.post("/api/chat", json=good)
    assert replayed.status_code == 409
    assert sorted(calls) == ["1", "2"]


async def test_the_continuation_keeps_the_run_id_and_the_message_id() -> None:
    calls: list[str] = []
    log = MemoryEventLog()
    async with (
        serve(app_for(refund_agent(calls), log)) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        paused = await _paused_chat(client, "chat-ids")
        run_id = await log.find_pause("chat-ids")
        assert run_id == paused["message_id"]
        response = await client.post(
            "/api/chat", json=_answer(paused, {"call_a": True, "call_b": True})
        )
    found = sse_parts(response.text)
    assert found[0] == {"type": "start", "messageId": paused["message_id"]}
    assert await log.load_pause(run_id) is None
