"""Conversations held by the server: three turns through the real `ai` Chat and through
`@ag-ui/client`'s HttpAgent, each sending only its new message; a handoff in turn 1 and the second
agent answering turn 2; the history back as `UIMessage`s (checked by the `ai` package's
`validateUIMessages`) and as a `MESSAGES_SNAPSHOT` (checked by ag-ui-validate)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from agents import Agent, Model, function_tool
from fastapi import FastAPI, HTTPException, Request
from starlette.applications import Starlette
from starlette.routing import Route

from agentstream import agui, ai_sdk
from agentstream.conversations import last_agent, sqlite_sessions, ui_messages
from agentstream.testing import ScriptedStreamModel, handoff, text, tool_call, turn

from .support.agui import agui_findings
from .support.ai_sdk import parts as sse_parts
from .support.http import serve
from .support.node import needs_node, node, run_node

PROMPTS = ["Where is order A-1?", "When will it arrive?", "Thanks!"]
ANSWERS = ["It has shipped.", "On Thursday.", "You are welcome."]


class Recording(Model):
    """A scripted model that keeps the input of each call."""

    def __init__(self, script: list[Any]) -> None:
        self.inputs: list[Any] = []
        self._model = ScriptedStreamModel(script)

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def stream_response(
        self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any
    ) -> Any:
        self.inputs.append(input)
        return self._model.stream_response(system_instructions, input, *args, **kwargs)


def shop() -> tuple[Agent[Any], Recording]:
    """Triage looks the order up and hands off in turn 1; shipping answers every turn after."""

    @function_tool
    def lookup_order(order_id: str) -> str:
        """Look an order up."""
        return f"{order_id}: shipped with DHL"

    shipping_model = Recording([turn(text(answer)) for answer in ANSWERS])
    shipping = Agent(name="shipping", model=shipping_model)
    triage_model = ScriptedStreamModel(
        [turn(tool_call("lookup_order", {"order_id": "A-1"})), turn(handoff("shipping"))]
    )
    triage = Agent(name="triage", model=triage_model, tools=[lookup_order], handoffs=[shipping])
    return triage, shipping_model


def seen_by_model(given: Any) -> str:
    return json.dumps(given, default=str)


@needs_node
@node
async def test_the_ai_chat_holds_three_turns_with_the_history_on_the_server(
    tmp_path: Path,
) -> None:
    sessions = sqlite_sessions(tmp_path / "chats.db")
    triage, shipping_model = shop()
    app = Starlette(
        routes=[
            Route("/api/chat", ai_sdk.endpoint(triage, sessions=sessions), methods=["POST"]),
            Route("/api/chats/{chat_id}/messages", ai_sdk.history_endpoint(sessions)),
        ]
    )
    async with serve(app) as base:
        report = await run_node(
            "ai_sdk_turns.mjs",
            f"{base}/api/chat",
            "--prompts",
            json.dumps(PROMPTS),
            "--chat-id",
            "chat-7",
            "--history",
            f"{base}/api/chats/chat-7/messages",
        )
    assert report["errors"] == []
    assert report["statuses"] == [200, 200, 200]
    # Each request carried the new message only.
    assert [set(r) for r in report["requests"]] == [{"id", "message"}] * 3
    assistant = [m for m in report["messages"] if m["role"] == "assistant"]
    texts = ["".join(p["text"] for p in m["parts"] if p["type"] == "text") for m in assistant]
    assert texts == ANSWERS
    # Turns 2 and 3 started at shipping (triage's script has no third turn), with the history.
    assert len(shipping_model.inputs) == 3
    second = seen_by_model(shipping_model.inputs[1])
    assert PROMPTS[0] in second and "It has shipped." in second and "A-1: shipped" in second
    # The history, as a reloaded page gets it, is valid for the ai package.
    assert report["history_errors"] == []
    history = report["history"]
    assert [m["role"] for m in history] == ["user", "assistant"] * 3
    tools = [p for p in history[1]["parts"] if p["type"] == "tool-lookup_order"]
    assert tools[0]["state"] == "output-available"
    assert tools[0]["output"] == "A-1: shipped with DHL"
    assert any(p["type"] == "data-handoff" for p in history[1]["parts"])


@needs_node
@node
async def test_http_agent_holds_three_turns_with_the_history_on_the_server(
    tmp_path: Path,
) -> None:
    sessions = sqlite_sessions(tmp_path / "threads.db")
    triage, shipping_model = shop()
    app = Starlette(
        routes=[Route("/agent", agui.endpoint(triage, sessions=sessions), methods=["POST"])]
    )
    async with serve(app) as base:
        report = await run_node(
            "agui_turns.mjs",
            f"{base}/agent",
            "--prompts",
            json.dumps(PROMPTS),
            "--thread",
            "thread-9",
        )
    assert report["errors"] == []
    assert len(report["runs"]) == 3
    for run in report["runs"]:
        assert run["errors"] == []  # verifyEvents, inside runAgent
        assert agui_findings(run["events"]) == []
    assistant = [
        m["content"] for m in report["messages"] if m["role"] == "assistant" and m.get("content")
    ]
    assert assistant == ANSWERS
    # HttpAgent sends the whole thread; the server took the new turn and its own history.
    assert len(shipping_model.inputs) == 3
    third = seen_by_model(shipping_model.inputs[2])
    assert third.count(PROMPTS[0]) == 1  # not given twice


async def test_ag_ui_holds_three_turns_and_the_snapshot_passes_ag_ui_validate(
    tmp_path: Path,
) -> None:
    sessions = sqlite_sessions(tmp_path / "threads.db")
    triage, shipping_model = shop()
    app = Starlette(
        routes=[
            Route("/agent", agui.endpoint(triage, sessions=sessions), methods=["POST"]),
            Route("/threads/{thread_id}/messages", agui.history_endpoint(sessions)),
        ]
    )
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        for number, prompt in enumerate(PROMPTS):
            body = {
                "threadId": "thread-7",
                "runId": f"run-{number}",
                "messages": [{"id": f"u{number}", "role": "user", "content": prompt}],
            }
            response = await client.post("/agent", json=body)
            assert response.status_code == 200
            events = [
                json.loads(line[6:]) for line in response.text.split("\n") if line[:6] == "data: "
            ]
            assert agui_findings(events) == []
            content = "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT")
            assert content == ANSWERS[number]
        snapshot = (await client.get("/threads/thread-7/messages")).json()
    assert len(shipping_model.inputs) == 3
    assert snapshot["type"] == "MESSAGES_SNAPSHOT"
    roles = [m["role"] for m in snapshot["messages"]]
    assert roles.count("user") == 3
    assert [m["content"] for m in snapshot["messages"] if m["role"] == "user"] == PROMPTS
    run = [
        {"type": "RUN_STARTED", "threadId": "thread-7", "runId": "load"},
        snapshot,
        {"type": "RUN_FINISHED", "threadId": "thread-7", "runId": "load"},
    ]
    assert agui_findings(run) == []


async def test_last_agent_and_history_of_a_fresh_conversation(tmp_path: Path) -> None:
    triage, _ = shop()
    assert last_agent(triage, []) is triage
    sessions = sqlite_sessions(tmp_path / "x.db")
    assert ui_messages(await sessions("nobody").get_items()) == []
    with pytest.raises(Exception, match="memory"):
        sqlite_sessions(":memory:")


async def test_a_client_that_leaves_mid_answer_finds_the_partial_answer_in_the_history(
    tmp_path: Path,
) -> None:
    from .support.scenarios import waiting_agent

    sessions = sqlite_sessions(tmp_path / "cut.db")
    agent, started, cancelled = waiting_agent(text("Let me check that for you."))
    app = Starlette(
        routes=[
            Route(
                "/api/chat",
                ai_sdk.endpoint(agent, sessions=sessions, heartbeat=0.05),
                methods=["POST"],
            ),
            Route("/api/chats/{chat_id}/messages", ai_sdk.history_endpoint(sessions)),
        ]
    )
    body = {
        "id": "chat-cut",
        "message": {"id": "u", "role": "user", "parts": [{"type": "text", "text": "Hi"}]},
    }
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        async with client.stream("POST", "/api/chat", json=body) as response:
            assert response.status_code == 200
            async for _ in response.aiter_bytes():
                if started.is_set():
                    break  # the page is closed while the tool runs
        await asyncio.wait_for(cancelled.wait(), 10)
        for _ in range(100):  # the hook runs as the stream closes, after the disconnect
            history = (await client.get("/api/chats/chat-cut/messages")).json()
            if len(history) >= 2:
                break
            await asyncio.sleep(0.05)
    assert [m["role"] for m in history][:1] == ["user"]
    texts = [p.get("text") for m in history if m["role"] == "assistant" for p in m["parts"]]
    assert "Let me check that for you." in texts


async def test_a_route_around_the_endpoint_decides_who_may_use_a_conversation() -> None:
    """The pattern docs/conversations.md shows: read the body, check the id, call the endpoint
    (which reads the body again from Starlette's cache)."""
    agent = Agent(name="a", model=ScriptedStreamModel([turn(text("Hello."))], per_run=True))
    chat = ai_sdk.endpoint(agent)
    app = FastAPI()

    @app.post("/api/chat")
    async def chat_route(request: Request) -> Any:
        body = await request.json()
        if body.get("id") != "mine":
            raise HTTPException(status_code=404)
        return await chat(request)

    body = {
        "id": "mine",
        "messages": [{"id": "u", "role": "user", "parts": [{"type": "text", "text": "hi"}]}],
    }
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        allowed = await client.post("/api/chat", json=body)
        refused = await client.post("/api/chat", json={**body, "id": "theirs"})
    assert allowed.status_code == 200
    assert '"finishReason":"stop"' in allowed.text
    assert refused.status_code == 404


async def test_authorize_decides_who_may_use_a_conversation_on_every_endpoint(
    tmp_path: Path,
) -> None:
    from agentstream.resume import MemoryEventLog

    checked: list[tuple[str | None, str | None]] = []

    async def authorize(request: Request, conversation: str | None) -> bool:
        user = request.headers.get("x-user")
        checked.append((user, conversation))
        return conversation is not None and conversation.startswith(f"{user}-")

    sessions = sqlite_sessions(tmp_path / "auth.db")
    log = MemoryEventLog()
    agent = Agent(name="a", model=ScriptedStreamModel([turn(text("Hello."))], per_run=True))
    app = Starlette(
        routes=[
            Route(
                "/api/chat",
                ai_sdk.endpoint(agent, sessions=sessions, authorize=authorize),
                methods=["POST"],
            ),
            Route(
                "/api/chats/{chat_id}/messages",
                ai_sdk.history_endpoint(sessions, authorize=authorize),
            ),
            Route("/api/chat/{chat_id}/stream", ai_sdk.resume_endpoint(log, authorize=authorize)),
            Route(
                "/agent",
                agui.endpoint(agent, sessions=sessions, authorize=authorize),
                methods=["POST"],
            ),
            Route(
                "/threads/{thread_id}/messages",
                agui.history_endpoint(sessions, authorize=authorize),
            ),
        ]
    )
    message = {"id": "u", "role": "user", "parts": [{"type": "text", "text": "hi"}]}
    ann = {"x-user": "ann"}
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        mine = await client.post("/api/chat", json={"id": "ann-1", "message": message}, headers=ann)
        theirs = await client.post(
            "/api/chat", json={"id": "bob-1", "message": message}, headers=ann
        )
        history = await client.get("/api/chats/ann-1/messages", headers=ann)
        hidden = await client.get("/api/chats/bob-1/messages", headers=ann)
        resumed = await client.get("/api/chat/bob-1/stream", headers=ann)
        thread = {
            "threadId": "bob-2",
            "runId": "r",
            "messages": [{"id": "u", "role": "user", "content": "hi"}],
        }
        agui_theirs = await client.post("/agent", json=thread, headers=ann)
        agui_hidden = await client.get("/threads/bob-2/messages", headers=ann)
    assert mine.status_code == 200
    assert [theirs.status_code, hidden.status_code, resumed.status_code] == [404, 404, 404]
    assert [agui_theirs.status_code, agui_hidden.status_code] == [404, 404]
    assert theirs.json() == {"error": "no such conversation"}
    assert [m["role"] for m in history.json()] == ["user", "assistant"]
    assert ("ann", "bob-1") in checked
    assert await sessions("bob-1").get_items() == []  # nothing ran for the refused chat


async def test_the_http_api_holds_a_conversation_across_a_handoff_and_a_pause(
    tmp_path: Path,
) -> None:
    """Plain SSE: `POST /runs` with a `thread` and only the new turn; the agent of the last
    turn starts the next; a pause answered on `/runs/{id}/answers` is saved in the thread."""
    from agentstream import Done, parse_event
    from agentstream.interactive import answers_endpoint, runs_endpoint
    from agentstream.resume import MemoryEventLog

    calls: list[str] = []

    @function_tool(needs_approval=True)
    def refund(order_id: str) -> str:
        """Refund an order."""
        calls.append(order_id)
        return f"refunded {order_id}"

    billing_model = Recording(
        [
            turn(text("Billing here.")),
            turn(tool_call("refund", {"order_id": "A-1"}, call_id="call_r")),
            turn(text("Refunded.")),
        ]
    )
    billing = Agent(name="billing", model=billing_model, tools=[refund])
    triage = Agent(
        name="triage",
        model=ScriptedStreamModel([turn(handoff("billing"))]),
        handoffs=[billing],
    )
    sessions = sqlite_sessions(tmp_path / "plain.db")
    log = MemoryEventLog()
    app = Starlette(
        routes=[
            Route("/runs", runs_endpoint(triage, log, sessions=sessions), methods=["POST"]),
            Route(
                "/runs/{run_id}/answers",
                answers_endpoint([triage], log, sessions=sessions),
                methods=["POST"],
            ),
        ]
    )

    def events(body: str) -> list[Any]:
        return [parse_event(line[6:]) for line in body.split("\n") if line[:6] == "data: "]

    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        first = events((await client.post("/runs", json={"input": "Hi", "thread": "t-1"})).text)
        assert isinstance(first[-1], Done) and first[-1].status == "completed"
        assert first[-1].last_agent == "billing"
        refused = await client.post("/runs", json={"input": "Refund A-1"})
        assert refused.status_code == 422  # a held conversation needs its thread
        # `conversation_id` is another name for `thread`.
        second = events(
            (
                await client.post("/runs", json={"input": "Refund A-1", "conversation_id": "t-1"})
            ).text
        )
        paused = second[-1]
        assert isinstance(paused, Done) and paused.status == "interrupted"
        assert paused.agent == "billing"  # turn 2 started where turn 1 ended
        body = {"answers": [{"call_id": "call_r", "approved": True}]}
        rest = events((await client.post(f"/runs/{paused.run_id}/answers", json=body)).text)
    assert isinstance(rest[-1], Done) and rest[-1].status == "completed"
    assert calls == ["A-1"]
    history = await sessions("t-1").get_items()
    texts = json.dumps(history)
    assert "Refund A-1" in texts and "refunded A-1" in texts and "Refunded." in texts


async def test_a_reloaded_page_finds_the_approval_it_owes_and_can_still_answer_it(
    tmp_path: Path,
) -> None:
    from agentstream.resume import MemoryEventLog

    from .support.scenarios import REFUNDED, refund_agent

    calls: list[str] = []
    sessions = sqlite_sessions(tmp_path / "pending.db")
    log = MemoryEventLog()
    agent = refund_agent(calls)
    app = Starlette(
        routes=[
            Route(
                "/api/chat",
                ai_sdk.endpoint(agent, sessions=sessions, log=log),
                methods=["POST"],
            ),
            Route("/api/chats/{chat_id}/messages", ai_sdk.history_endpoint(sessions, log=log)),
        ]
    )
    ask = {
        "id": "chat-p",
        "message": {"id": "u", "role": "user", "parts": [{"type": "text", "text": "Refund"}]},
    }
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        first = await client.post("/api/chat", json=ask)
        assert '"finishReason":"tool-calls"' in first.text
        history = (await client.get("/api/chats/chat-p/messages")).json()  # the page reloads
        assistant = history[-1]
        waiting = [p for p in assistant["parts"] if p.get("state") == "approval-requested"]
        assert [p["toolCallId"] for p in waiting] == ["call_a", "call_b"]
        assert all(p["approval"]["signature"] for p in waiting)
        # The reloaded page answers from the history it got (addToolApprovalResponse).
        for part in waiting:
            part["state"] = "approval-responded"
            part["approval"]["approved"] = part["toolCallId"] == "call_a"
        answer = {"id": "chat-p", "messages": [*history[:-1], assistant]}
        second = await client.post("/api/chat", json=answer)
    assert second.status_code == 200
    parts = sse_parts(second.text)
    assert "".join(p["delta"] for p in parts if p["type"] == "text-delta") == REFUNDED
    assert [p["type"] for p in parts if p.get("toolCallId") == "call_b"] == ["tool-output-denied"]
    assert calls == ["1"]


async def test_the_responses_api_holds_the_conversation_with_previous_response_id() -> None:
    """`responses_history=True`: each turn sends the new message only, with the previous
    response's id, to the SDK's own OpenAI Responses model over HTTP (the local OpenAIServer);
    turn 2 starts at the agent turn 1 handed to."""
    from agents import ModelSettings, OpenAIResponsesModel, RunConfig

    from agentstream.resume import MemoryEventLog
    from agentstream.testing import OpenAIServer

    script = [
        turn(handoff("shipping")),
        turn(text("It has shipped.")),
        turn(text("On Thursday.")),
    ]
    server = OpenAIServer(script)
    async with server:
        client = server.client()
        model = OpenAIResponsesModel(model="gpt-test", openai_client=client)
        settings = ModelSettings(include_usage=True)
        shipping = Agent(
            name="shipping", instructions="You are shipping.", model=model, model_settings=settings
        )
        triage = Agent(
            name="triage",
            instructions="You are triage.",
            model=model,
            model_settings=settings,
            handoffs=[shipping],
        )
        log = MemoryEventLog()
        endpoint = ai_sdk.endpoint(
            triage, log=log, responses_history=True, run_config=RunConfig(tracing_disabled=True)
        )
        app = Starlette(routes=[Route("/api/chat", endpoint, methods=["POST"])])
        texts = []
        chains: list[Any] = []
        async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
            for number, prompt in enumerate(PROMPTS[:2]):
                message = {
                    "id": f"u{number}",
                    "role": "user",
                    "parts": [{"type": "text", "text": prompt}],
                }
                response = await http.post("/api/chat", json={"id": "chat-o", "message": message})
                assert response.status_code == 200
                parts = sse_parts(response.text)
                texts.append("".join(p["delta"] for p in parts if p["type"] == "text-delta"))
                chains.append(await log.chain("chat-o"))
        await client.close()
    assert texts == ["It has shipped.", "On Thursday."]
    calls = [r.body for r in server.model_requests]
    assert len(calls) == 3
    # Turn 1: triage, then shipping after the handoff. Turn 2: shipping, chained to the last
    # response of turn 1, with the new message only.
    assert [c["instructions"] for c in calls] == [
        "You are triage.",
        "You are shipping.",
        "You are shipping.",
    ]
    assert calls[0].get("previous_response_id") is None
    first_response, first_agent = chains[0]
    assert first_agent == "shipping"
    assert calls[2]["previous_response_id"] == first_response
    assert chains[1][0] != first_response  # the chain moved on to turn 2's response
    assert PROMPTS[1] in json.dumps(calls[2]["input"])
    assert PROMPTS[0] not in json.dumps(calls[2]["input"])


async def test_ag_ui_threads_can_be_held_by_the_responses_api_too() -> None:
    from agents import ModelSettings, OpenAIResponsesModel, RunConfig

    from agentstream.resume import MemoryEventLog
    from agentstream.testing import OpenAIServer

    server = OpenAIServer([turn(handoff("shipping")), turn(text("Shipped.")), turn(text("Soon."))])
    async with server:
        client = server.client()
        model = OpenAIResponsesModel(model="gpt-test", openai_client=client)
        settings = ModelSettings(include_usage=True)
        shipping = Agent(name="shipping", instructions="S.", model=model, model_settings=settings)
        triage = Agent(
            name="triage",
            instructions="T.",
            model=model,
            model_settings=settings,
            handoffs=[shipping],
        )
        log = MemoryEventLog()
        endpoint = agui.endpoint(
            triage, log=log, responses_history=True, run_config=RunConfig(tracing_disabled=True)
        )
        app = Starlette(routes=[Route("/agent", endpoint, methods=["POST"])])
        chains = []
        async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
            messages: list[dict[str, Any]] = []
            for number, prompt in enumerate(PROMPTS[:2]):
                messages.append({"id": f"u{number}", "role": "user", "content": prompt})
                body = {"threadId": "t-o", "runId": f"r{number}", "messages": messages}
                response = await http.post("/agent", json=body)
                events = [json.loads(x[6:]) for x in response.text.split("\n") if x[:6] == "data: "]
                assert agui_findings(events) == []
                chains.append(await log.chain("t-o"))
                # The client keeps the answer in its thread, as HttpAgent does.
                answer = "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT")
                messages.append({"id": f"a{number}", "role": "assistant", "content": answer})
        await client.close()
    calls = [r.body for r in server.model_requests]
    assert [c["instructions"] for c in calls] == ["T.", "S.", "S."]
    assert calls[2]["previous_response_id"] == chains[0][0]
    assert PROMPTS[0] not in json.dumps(calls[2]["input"])
