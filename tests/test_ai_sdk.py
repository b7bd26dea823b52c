"""The Vercel AI SDK UI message stream bridge, read by the `ai` package's own client code."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
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
    ai_sdk,
)

from .support.ai_sdk import ai_body, assistant_parts, check_parts, parts, tool_parts
from .support.http import serve
from .support.node import needs_node, node, run_node
from .support.scenarios import build_scenario, collect_events, replay

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
    assert ai_sdk.HEADERS["x-vercel-ai-ui-message-stream"] == "v1"
    assert ai_sdk.HEADERS["x-accel-buffering"] == "no"


def test_bad_message_id_is_named() -> None:
    with pytest.raises(ValueError, match="message_id must be a non-empty string or None, got 5"):
        ai_sdk.encode(replay([]), message_id=5)  # type: ignore[arg-type]


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
    # A client's system message is dropped unless the service keeps it.
    assert ai_sdk.messages_to_input(body)[0] == {"role": "user", "content": "Weather?"}
    assert ai_sdk.messages_to_input(body, keep_system=True) == [
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
        ai_sdk.messages_to_input(body)


async def test_endpoint_rejects_a_bad_body_with_422() -> None:
    agent, _, _ = build_scenario("text")
    app = Starlette(routes=[Route("/api/chat", ai_sdk.endpoint(agent), methods=["POST"])])
    async with serve(app) as base, httpx.AsyncClient(timeout=30) as client:
        not_json = await client.post(
            f"{base}/api/chat", content=b"{", headers={"content-type": "application/json"}
        )
        no_messages = await client.post(f"{base}/api/chat", json={"id": "x"})
    assert not_json.status_code == 422
    assert no_messages.status_code == 422
    assert "expected a list of UI messages" in no_messages.json()["error"]


# Over HTTP, read the way useChat reads (the shared scenarios: test_bridges.py)


@node
@needs_node
async def test_endpoint_runs_an_agent_on_the_chat_history() -> None:
    seen: list[Any] = []

    def pick(body: Any) -> Any:
        seen.append(ai_sdk.messages_to_input(body))
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
        routes=[Route("/api/chat", ai_sdk.endpoint(pick, max_turns=5), methods=["POST"])]
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
