"""The Vercel AI SDK UI message stream bridge, read by the `ai` package's own client code."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from agentstream import (
    ApprovalRequested,
    Done,
    ErrorInfo,
    Event,
    TextDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolCallStarted,
)
from agentstream._ai_sdk import AI_SDK_HEADERS, ai_sdk_endpoint, to_ai_sdk, ui_messages_to_input
from tests.test_agui_helpers import (
    SCENARIOS,
    PingWatch,
    build_scenario,
    collect_events,
    disconnect_mid_tool,
    event_sequences,
    needs_node,
    node,
    read_during_slow_tool,
    replay,
    run_node,
    run_node_batch,
    scenario_events,
    serve,
    slow_tool_agent,
    waiting_agent,
)

FINISH_REASONS = {"stop", "length", "content-filter", "tool-calls", "error", "other"}


async def ai_body(events: list[Event], **kwargs: Any) -> str:
    return "".join([frame async for frame in to_ai_sdk(replay(events), **kwargs)])


def parts(body: str) -> list[dict[str, Any]]:
    """The JSON parts of a body; checks the framing and the final `[DONE]`."""
    assert "\r" not in body
    frames = body.split("\n\n")
    assert frames[-1] == ""
    assert frames[-2] == "data: [DONE]"
    decoded = []
    for frame in frames[:-2]:
        assert frame.startswith("data: {") and "\n" not in frame, frame
        decoded.append(json.loads(frame[len("data: ") :]))
    return decoded


def check_parts(decoded: list[dict[str, Any]]) -> None:
    """The rules the `ai` client enforces (and useChat relies on), asserted in process."""
    assert decoded[0]["type"] == "start"
    open_parts: set[tuple[str, str]] = set()
    used_ids: set[tuple[str, str]] = set()
    calls: dict[str, str] = {}
    step_open = False
    for part in decoded[1:]:
        kind = part["type"]
        if kind == "start-step":
            assert not step_open
            step_open = True
        elif kind == "finish-step":
            assert step_open and not open_parts
            step_open = False
        elif kind in ("text-start", "reasoning-start"):
            assert step_open
            key = (kind.split("-")[0], part["id"])
            assert key not in used_ids
            used_ids.add(key)
            open_parts.add(key)
        elif kind in ("text-delta", "reasoning-delta"):
            assert (kind.split("-")[0], part["id"]) in open_parts
            assert part["delta"]
        elif kind in ("text-end", "reasoning-end"):
            open_parts.remove((kind.split("-")[0], part["id"]))
        elif kind == "tool-input-start":
            assert step_open and part["toolCallId"] not in calls
            calls[part["toolCallId"]] = "streaming"
        elif kind == "tool-input-delta":
            assert calls[part["toolCallId"]] == "streaming"
        elif kind in ("tool-input-available", "tool-input-error"):
            assert calls.get(part["toolCallId"], "streaming") == "streaming"
            calls[part["toolCallId"]] = "input"
        elif kind == "tool-approval-request":
            assert calls[part["toolCallId"]] == "input"
        elif kind in ("tool-output-available", "tool-output-error"):
            assert calls[part["toolCallId"]] == "input"
            calls[part["toolCallId"]] = "output"
        elif kind == "finish":
            assert part["finishReason"] in FINISH_REASONS
        elif kind not in ("error", "abort", "data-handoff"):
            raise AssertionError(f"unexpected part {part}")
    assert not open_parts and not step_open
    assert "streaming" not in calls.values(), "every tool call got its whole input"
    assert decoded[-1]["type"] in ("finish", "abort")


# Unit level: exact mapping


async def test_tool_run_maps_to_the_protocol_parts() -> None:
    events = await collect_events("tool")
    decoded = parts(await ai_body(events, message_id="m-1"))
    check_parts(decoded)
    args = [p["inputTextDelta"] for p in decoded if p["type"] == "tool-input-delta"]
    assert "".join(args) == '{"city": "Paris"}' and len(args) == 4
    summary = [
        {k: v for k, v in p.items() if k not in ("delta", "inputTextDelta")}
        for p in decoded
        if p["type"] not in ("text-delta", "tool-input-delta")
    ]
    assert summary == [
        {"type": "start", "messageId": "m-1"},
        {"type": "start-step"},
        {"type": "tool-input-start", "toolCallId": "call_w", "toolName": "get_weather"},
        {
            "type": "tool-input-available",
            "toolCallId": "call_w",
            "toolName": "get_weather",
            "input": {"city": "Paris"},
        },
        {"type": "tool-output-available", "toolCallId": "call_w", "output": "sunny in Paris"},
        {"type": "finish-step"},
        {"type": "start-step"},
        {"type": "text-start", "id": "msg_resp_2_0"},
        {"type": "text-end", "id": "msg_resp_2_0"},
        {"type": "finish-step"},
        {"type": "finish", "finishReason": "stop"},
    ]


async def test_message_id_defaults_to_the_run_id() -> None:
    events = await collect_events("text")
    assert parts(await ai_body(events))[0] == {"type": "start", "messageId": events[0].run_id}


async def test_failed_run_sends_error_then_finish() -> None:
    decoded = parts(await ai_body(await collect_events("failing")))
    check_parts(decoded)
    assert decoded[-2:] == [
        {"type": "error", "errorText": "the run exceeded its maximum number of turns"},
        {"type": "finish", "finishReason": "error"},
    ]


async def test_secret_exception_text_never_reaches_the_client() -> None:
    body = await ai_body(await collect_events("model_error"))
    assert parts(body)[-2] == {"type": "error", "errorText": "the run failed"}
    assert "secret" not in body


async def test_cancelled_run_ends_with_abort() -> None:
    decoded = parts(await ai_body(await collect_events("cancelled")))
    check_parts(decoded)
    assert decoded[-1] == {"type": "abort", "reason": "cancelled"}


def _ev(cls: Any, seq: int, **fields: Any) -> Any:
    return cls(seq=seq, run_id="r", timestamp=1, **fields)


@pytest.mark.parametrize("status", ["error", "timeout", "cancelled"])
async def test_unfinished_tool_calls_are_settled_before_the_end(status: str) -> None:
    error = None if status == "cancelled" else ErrorInfo(type="X", message="it broke")
    events: list[Event] = [
        _ev(ToolCallStarted, 0, call_id="c1", name="slow"),
        _ev(ToolArgumentsDelta, 1, call_id="c1", delta="{}"),
        _ev(ToolCalled, 2, call_id="c1", name="slow", arguments="{}"),
        _ev(ToolCallStarted, 3, call_id="c2", name="cut"),
        _ev(ToolArgumentsDelta, 4, call_id="c2", delta='{"a'),
        _ev(TextDelta, 5, delta="x", message_id="m"),
        _ev(Done, 6, status=status, error=error),
    ]
    decoded = parts(await ai_body(events))
    check_parts(decoded)
    ending = [p for p in decoded if p["type"] in ("tool-input-error", "tool-output-error")]
    assert ending == [
        {
            "type": "tool-output-error",
            "toolCallId": "c1",
            "errorText": "the run ended before the tool returned",
        },
        {
            "type": "tool-input-error",
            "toolCallId": "c2",
            "toolName": "cut",
            "input": '{"a',
            "errorText": "the run ended before the call's arguments were complete",
        },
    ]
    assert decoded.index(ending[-1]) < decoded.index({"type": "finish-step"})


async def test_approval_waits_with_tool_calls_as_finish_reason() -> None:
    events: list[Event] = [
        _ev(ApprovalRequested, 0, call_id="c9", name="pay", arguments='{"eur": 5}'),
        _ev(Done, 1, status="completed", pending_approvals=("c9",)),
    ]
    decoded = parts(await ai_body(events, message_id="m"))
    check_parts(decoded)
    assert decoded[1:] == [
        {"type": "start-step"},
        {"type": "tool-input-start", "toolCallId": "c9", "toolName": "pay"},
        {"type": "tool-input-delta", "toolCallId": "c9", "inputTextDelta": '{"eur": 5}'},
        {
            "type": "tool-input-available",
            "toolCallId": "c9",
            "toolName": "pay",
            "input": {"eur": 5},
        },
        {"type": "tool-approval-request", "approvalId": "c9", "toolCallId": "c9"},
        {"type": "finish-step"},
        {"type": "finish", "finishReason": "tool-calls"},
    ]


def test_headers_name_the_protocol_version() -> None:
    assert AI_SDK_HEADERS["x-vercel-ai-ui-message-stream"] == "v1"
    assert AI_SDK_HEADERS["x-accel-buffering"] == "no"


def test_bad_message_id_is_named() -> None:
    with pytest.raises(ValueError, match="message_id must be a non-empty string or None, got 5"):
        to_ai_sdk(replay([]), message_id=5)  # type: ignore[arg-type]


# Property: any valid event sequence gives a stream the client accepts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_sequences())
async def test_any_valid_sequence_gives_valid_parts(events: list[Event]) -> None:
    check_parts(parts(await ai_body(events)))


@node
@needs_node
@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(event_sequences(), min_size=50, max_size=50))
async def test_any_valid_sequence_is_accepted_by_the_ai_client(batch: list[list[Event]]) -> None:
    bodies = [await ai_body(events) for events in batch]
    reports = await run_node_batch("ai_sdk_batch.mjs", bodies)
    for events, body, report in zip(batch, bodies, reports, strict=True):
        done = events[-1]
        assert isinstance(done, Done)
        expected = [] if done.error is None else [f"Error: {done.error.message}"]
        assert report["errors"] == expected, body
        assert len(report["chunks"]) == len(parts(body))


# The request side: what useChat posts


def test_ui_messages_become_sdk_input() -> None:
    body = {
        "id": "chat-1",
        "trigger": "submit-message",
        "messages": [
            {"id": "s", "role": "system", "parts": [{"type": "text", "text": "Be brief."}]},
            {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Weather?"}]},
            {
                "id": "a1",
                "role": "assistant",
                "parts": [
                    {"type": "step-start"},
                    {"type": "reasoning", "text": "hidden", "state": "done"},
                    {"type": "text", "text": "Checking.", "state": "done"},
                    {
                        "type": "tool-get_weather",
                        "toolCallId": "c1",
                        "state": "output-available",
                        "input": {"city": "Paris"},
                        "output": {"sky": "clear"},
                    },
                    {
                        "type": "dynamic-tool",
                        "toolName": "lookup",
                        "toolCallId": "c2",
                        "state": "output-error",
                        "input": {"q": 1},
                        "errorText": "down",
                    },
                    {
                        "type": "tool-pay",
                        "toolCallId": "c3",
                        "state": "input-available",
                        "input": {},
                    },
                    {"type": "step-start"},
                    {"type": "text", "text": "Sunny.", "state": "done"},
                    {"type": "data-handoff", "data": {"fromAgent": "a", "toAgent": "b"}},
                ],
            },
            {
                "id": "u2",
                "role": "user",
                "parts": [
                    {"type": "text", "text": "And this?"},
                    {"type": "file", "mediaType": "image/png", "url": "data:image/png;base64,AA=="},
                    {
                        "type": "file",
                        "mediaType": "application/pdf",
                        "url": "https://x/a.pdf",
                        "filename": "a.pdf",
                    },
                ],
            },
        ],
    }
    assert ui_messages_to_input(body) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "Checking."},
        {
            "type": "function_call",
            "call_id": "c1",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
        },
        {"type": "function_call_output", "call_id": "c1", "output": '{"sky": "clear"}'},
        {"type": "function_call", "call_id": "c2", "name": "lookup", "arguments": '{"q": 1}'},
        {"type": "function_call_output", "call_id": "c2", "output": "down"},
        {"role": "assistant", "content": "Sunny."},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "And this?"},
                {
                    "type": "input_image",
                    "image_url": "data:image/png;base64,AA==",
                    "detail": "auto",
                },
                {"type": "input_file", "file_url": "https://x/a.pdf", "filename": "a.pdf"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": "hi"}, "expected a list of UI messages under 'messages', got 'hi'"),
        ({"messages": [1]}, "a UI message is an object, got 1"),
        ({"messages": [{"role": "user"}]}, "a UI message needs a list of part objects, got None"),
        ({"messages": [{"role": "tool", "parts": []}]}, "unknown UI message role 'tool'"),
        (
            {"messages": [{"role": "user", "parts": [{"type": "file", "mediaType": "image/png"}]}]},
            "a file part needs a string 'url'",
        ),
    ],
)
def test_bad_bodies_are_named(body: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        ui_messages_to_input(body)


async def test_endpoint_rejects_a_bad_body_with_422() -> None:
    agent, _, _ = build_scenario("text")
    app = Starlette(routes=[Route("/api/chat", ai_sdk_endpoint(agent), methods=["POST"])])
    async with serve(app) as base, httpx.AsyncClient(timeout=30) as client:
        not_json = await client.post(f"{base}/api/chat", content=b"{")
        no_messages = await client.post(f"{base}/api/chat", json={"id": "x"})
    assert not_json.status_code == 422
    assert no_messages.status_code == 422
    assert "expected a list of UI messages" in no_messages.json()["error"]


async def test_endpoint_cancels_the_run_when_the_client_goes_away() -> None:
    agent, started, cancelled = waiting_agent()
    app = Starlette(routes=[Route("/api/chat", ai_sdk_endpoint(agent), methods=["POST"])])
    body = {"messages": [{"id": "u", "role": "user", "parts": [{"type": "text", "text": "go"}]}]}
    async with serve(app) as base, httpx.AsyncClient(timeout=30) as client:
        async with client.stream("POST", f"{base}/api/chat", json=body) as response:
            assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
            assert response.headers["content-type"].startswith("text/event-stream")
            await asyncio.wait_for(started.wait(), 10)
        await asyncio.wait_for(cancelled.wait(), 10)


def test_endpoint_rejects_unknown_options() -> None:
    agent, _, _ = build_scenario("text")
    with pytest.raises(ValueError, match=r"unknown options \['turns'\]"):
        ai_sdk_endpoint(agent, turns=3)


# Over HTTP, read the way useChat reads


def scenario_app() -> Starlette:
    async def run(request: Request) -> StreamingResponse:
        body = await request.json()
        frames = to_ai_sdk(scenario_events(body["scenario"]))
        return StreamingResponse(frames, media_type="text/event-stream", headers=AI_SDK_HEADERS)

    return Starlette(routes=[Route("/api/chat", run, methods=["POST"])])


def assistant_parts(report: dict[str, Any]) -> list[dict[str, Any]]:
    [message] = report["messages"]
    assert message["role"] == "assistant"
    return [p for p in message["parts"] if p["type"] != "step-start"]


def tool_parts(found: list[dict[str, Any]]) -> list[tuple[str, str, Any, Any]]:
    return [
        (p["type"], p["toolCallId"], p["input"], p.get("output"))
        for p in found
        if p["type"].startswith("tool-")
    ]


@node
@needs_node
@pytest.mark.parametrize("name", SCENARIOS)
async def test_scenario_read_by_the_ai_client(name: str) -> None:
    async with serve(scenario_app()) as base:
        report = await run_node(
            "ai_sdk_read.mjs", f"{base}/api/chat", "--body", json.dumps({"scenario": name})
        )
    check_parts(report["chunks"])
    found = assistant_parts(report)
    text = "".join(p["text"] for p in found if p["type"] == "text")
    chat = report["chat"]
    if name == "failing":
        message = "the run exceeded its maximum number of turns"
        assert report["errors"] == [f"Error: {message}"]
        assert chat["status"] == "error" and message in chat["error"]
        assert text == "Let me check."
        assert tool_parts(found) == [
            ("tool-get_weather", "call_o", {"city": "Oslo"}, "sunny in Oslo")
        ]
        return
    assert report["errors"] == []
    assert chat["status"] == "ready" and chat["error"] is None
    assert chat["messages"][-1] == report["messages"][0]
    if name == "cancelled":
        # useChat's isAbort means "the user pressed stop"; the server's abort part ends the
        # stream quietly, with no finish reason.
        assert report["chunks"][-1] == {"type": "abort", "reason": "cancelled"}
        assert chat["finish"]["finishReason"] is None
        assert text.startswith("one two ") and "one two three four five".startswith(text)
        return
    assert chat["finish"] == {
        "isAbort": False,
        "isDisconnect": False,
        "isError": False,
        "finishReason": "stop",
    }
    expected = {
        "text": "Hello there, friend.",
        "tool": "It is sunny in Paris.",
        "handoff": "Billing here.",
        "reasoning": "The answer.",
        "two_tools": "Both sunny.",
    }[name]
    assert text == expected
    assert all(p["state"] in ("done", "output-available") for p in found if "state" in p)
    if name == "tool":
        assert tool_parts(found) == [
            ("tool-get_weather", "call_w", {"city": "Paris"}, "sunny in Paris")
        ]
    elif name == "two_tools":
        assert tool_parts(found) == [
            ("tool-get_weather", "call_p", {"city": "Paris"}, "sunny in Paris"),
            ("tool-get_weather", "call_r", {"city": "Rome"}, "sunny in Rome"),
        ]
    elif name == "reasoning":
        assert [p["text"] for p in found if p["type"] == "reasoning"] == ["Think it over."]
    elif name == "handoff":
        assert [p["data"] for p in found if p["type"] == "data-handoff"] == [
            {"fromAgent": "triage", "toAgent": "billing", "callId": "call_h"}
        ]
    else:
        assert tool_parts(found) == []


@node
@needs_node
async def test_endpoint_runs_an_agent_on_the_chat_history() -> None:
    seen: list[Any] = []

    def pick(body: Any) -> Any:
        seen.append(ui_messages_to_input(body))
        return build_scenario(body["scenario"])[0]

    history = [
        {"id": "u0", "role": "user", "parts": [{"type": "text", "text": "Weather in Rome?"}]},
        {
            "id": "a0",
            "role": "assistant",
            "parts": [
                {"type": "step-start"},
                {
                    "type": "tool-get_weather",
                    "toolCallId": "old",
                    "state": "output-available",
                    "input": {"city": "Rome"},
                    "output": "sunny in Rome",
                },
                {"type": "text", "text": "Sunny.", "state": "done"},
            ],
        },
        {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "And Paris?"}]},
    ]
    app = Starlette(
        routes=[Route("/api/chat", ai_sdk_endpoint(pick, max_turns=5), methods=["POST"])]
    )
    async with serve(app) as base:
        report = await run_node(
            "ai_sdk_read.mjs",
            f"{base}/api/chat",
            "--messages",
            json.dumps(history),
            "--body",
            json.dumps({"scenario": "tool"}),
        )
    assert report["errors"] == []
    assert seen == [
        [
            {"role": "user", "content": "Weather in Rome?"},
            {
                "type": "function_call",
                "call_id": "old",
                "name": "get_weather",
                "arguments": '{"city": "Rome"}',
            },
            {"type": "function_call_output", "call_id": "old", "output": "sunny in Rome"},
            {"role": "assistant", "content": "Sunny."},
            {"role": "user", "content": "And Paris?"},
        ]
    ]
    found = assistant_parts(report)
    assert tool_parts(found) == [
        ("tool-get_weather", "call_w", {"city": "Paris"}, "sunny in Paris")
    ]
    assert report["chat"]["messages"][-1]["parts"][-1]["text"] == "It is sunny in Paris."


# Heartbeats, disconnects, body limits


CHAT_BODY = {"messages": [{"id": "u", "role": "user", "parts": [{"type": "text", "text": "go"}]}]}


@pytest.mark.parametrize("heartbeat", [0, -1.0, float("inf"), True, "5"])
def test_a_bad_heartbeat_is_named(heartbeat: Any) -> None:
    with pytest.raises(ValueError, match=f"heartbeat must be .*got {heartbeat!r}"):
        to_ai_sdk(replay([]), heartbeat=heartbeat)
    agent, _, _ = build_scenario("text")
    with pytest.raises(ValueError, match=f"heartbeat must be .*got {heartbeat!r}"):
        ai_sdk_endpoint(agent, heartbeat=heartbeat)


@node
@needs_node
async def test_pings_during_a_slow_tool_are_accepted_by_the_ai_sdk() -> None:
    agent, release = slow_tool_agent()
    endpoint = ai_sdk_endpoint(agent, heartbeat=0.05)
    app = PingWatch(Starlette(routes=[Route("/api/chat", endpoint, methods=["POST"])]))
    report = await read_during_slow_tool(app, release, "ai_sdk_read.mjs", "/api/chat")
    assert report["errors"] == []
    check_parts(report["chunks"])
    chat = report["chat"]
    assert chat["status"] == "ready" and chat["finish"]["finishReason"] == "stop"
    body = app.body.decode()
    assert body.count(": ping\n\n") >= 1
    assert len(report["chunks"]) == body.count("data: ") - 1  # all but [DONE]
    # The pings came while the tool ran: after its input, before its output.
    start = body.index('"tool-input-available"')
    assert ": ping\n\n" in body[start : body.index('"tool-output-available"')]
    found = assistant_parts(report)
    assert tool_parts(found) == [
        ("tool-slow_lookup", "call_s", {"city": "Paris"}, "sunny in Paris")
    ]
    assert "".join(p["text"] for p in found if p["type"] == "text") == "It is sunny."


async def test_a_disconnect_mid_tool_cancels_the_tool_and_leaves_no_task() -> None:
    sent = await disconnect_mid_tool(ai_sdk_endpoint, CHAT_BODY)
    assert b'"tool-input-available"' in sent and b": ping\n\n" in sent


async def test_a_body_over_the_limit_gets_413() -> None:
    agent, _, _ = build_scenario("text")
    endpoint = ai_sdk_endpoint(agent, max_body_bytes=100)
    app = Starlette(routes=[Route("/api/chat", endpoint, methods=["POST"])])
    big = {**CHAT_BODY, "pad": "x" * 200}

    async def chunked() -> Any:
        raw = json.dumps(big).encode()
        for i in range(0, len(raw), 50):
            yield raw[i : i + 50]

    async with serve(app) as base, httpx.AsyncClient(timeout=30) as client:
        declared = await client.post(f"{base}/api/chat", json=big)
        streamed = await client.post(f"{base}/api/chat", content=chunked())
        small = await client.post(f"{base}/api/chat", json=CHAT_BODY)
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json() == {"error": "the request body is larger than 100 bytes"}
    assert "content-length" not in streamed.request.headers
    assert small.status_code == 200


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, None])
def test_a_bad_body_limit_is_named(limit: Any) -> None:
    agent, _, _ = build_scenario("text")
    with pytest.raises(ValueError, match=f"max_body_bytes must be .*got {limit!r}"):
        ai_sdk_endpoint(agent, max_body_bytes=limit)
