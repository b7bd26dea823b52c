"""The AG-UI bridge, read by @ag-ui/client (HttpAgent + verifyEvents) and by ag-ui-validate."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from agentstream import Done, Event, TextDelta, agui

from .support.agui import agui_body, agui_findings, by_role, check_structure, decode
from .support.http import serve
from .support.node import needs_node, node, run_node
from .support.scenarios import build_scenario, collect_events, replay

# Unit level: exact mapping


async def test_text_run_maps_to_the_protocol_events() -> None:
    events = await collect_events("text")
    decoded = decode(await agui_body(events, thread_id="t-1"))
    assert [e["type"] for e in decoded] == [
        "RUN_STARTED",
        "STEP_STARTED",
        "TEXT_MESSAGE_START",
        *["TEXT_MESSAGE_CONTENT"] * 3,
        "TEXT_MESSAGE_END",
        "STEP_FINISHED",
        "RUN_FINISHED",
    ]
    run_id = events[0].run_id
    assert decoded[0] == {
        "type": "RUN_STARTED",
        "timestamp": decoded[0]["timestamp"],
        "threadId": "t-1",
        "runId": run_id,
    }
    assert decoded[1]["stepName"] == "triage"
    assert decoded[2]["role"] == "assistant"
    assert "".join(e.get("delta", "") for e in decoded) == "Hello there, friend."
    finished = decoded[-1]
    assert finished["result"] == "Hello there, friend."
    assert finished["outcome"] == {"type": "success"}
    assert finished["usage"] == [{"inputTokens": 0, "outputTokens": 3, "totalTokens": 3}]
    assert agui_findings(decoded) == []


async def test_frames_are_lf_only_data_lines() -> None:
    body = await agui_body(await collect_events("tool"))
    assert "\r" not in body
    for frame in body.split("\n\n")[:-1]:
        assert frame.startswith('data: {"type":"')


async def test_handoff_becomes_steps_with_the_details_in_metadata() -> None:
    decoded = decode(await agui_body(await collect_events("handoff")))
    steps = [(e["type"], e["stepName"]) for e in decoded if e["type"].startswith("STEP_")]
    assert steps == [
        ("STEP_STARTED", "triage"),
        ("STEP_FINISHED", "triage"),
        ("STEP_STARTED", "billing"),
        ("STEP_FINISHED", "billing"),
    ]
    started = [e for e in decoded if e["type"] == "STEP_STARTED"][1]
    assert started["metadata"] == {
        "agentstream.handoff": {"fromAgent": "triage", "toAgent": "billing", "callId": "call_h"}
    }
    assert not [e for e in decoded if e["type"].startswith("TOOL_CALL")], "a handoff is no tool"
    assert agui_findings(decoded) == []


async def test_failed_run_ends_in_run_error_after_what_it_streamed() -> None:
    decoded = decode(await agui_body(await collect_events("failing")))
    check_structure(decoded)
    assert decoded[-1] == {
        "type": "RUN_ERROR",
        "timestamp": decoded[-1]["timestamp"],
        "message": "the run exceeded its maximum number of turns",
        "code": "MaxTurnsExceeded",
        "usage": [{"inputTokens": 0, "outputTokens": 5, "totalTokens": 5}],
    }
    kinds = [e["type"] for e in decoded]
    assert kinds.count("TOOL_CALL_RESULT") == 1
    assert kinds[-2] == "STEP_FINISHED"
    assert agui_findings(decoded) == []


async def test_secret_exception_text_never_reaches_the_client() -> None:
    decoded = decode(await agui_body(await collect_events("model_error")))
    assert decoded[-1]["type"] == "RUN_ERROR"
    assert decoded[-1]["code"] == "RuntimeError"
    assert decoded[-1]["message"] == "the run failed"
    assert "secret" not in json.dumps(decoded)
    assert agui_findings(decoded) == []


async def test_cancelled_run_finishes_with_the_cancelled_outcome() -> None:
    decoded = decode(await agui_body(await collect_events("cancelled")))
    check_structure(decoded)
    assert decoded[-1]["type"] == "RUN_FINISHED"
    assert decoded[-1]["outcome"] == {"type": "cancelled"}
    assert agui_findings(decoded) == []


def _done(status: str, **fields: Any) -> Done:
    return Done(seq=3, run_id="r", timestamp=1, status=status, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["cancelled", "error", "timeout"])
async def test_a_tool_call_cut_mid_arguments_is_left_to_run_error(status: str) -> None:
    from agentstream import ErrorInfo, ToolArgumentsDelta, ToolCallStarted

    error = ErrorInfo(type="IdleTimeoutError", message="no event for 5 s")
    events: list[Event] = [
        ToolCallStarted(seq=0, run_id="r", timestamp=1, call_id="c1", name="get_weather"),
        ToolArgumentsDelta(seq=1, run_id="r", timestamp=1, call_id="c1", delta='{"city": "Pa'),
        TextDelta(seq=2, run_id="r", timestamp=1, delta="x", message_id="m"),
        _done(status, error=None if status == "cancelled" else error),
    ]
    decoded = decode(await agui_body(events))
    kinds = [e["type"] for e in decoded]
    assert "TOOL_CALL_END" not in kinds, "closing it would send arguments that are not JSON"
    assert kinds[-3:] == ["TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "RUN_ERROR"]
    code = {"cancelled": "cancelled", "error": "IdleTimeoutError", "timeout": "timeout"}[status]
    assert decoded[-1]["code"] == code
    assert agui_findings(decoded) == []


async def test_a_stream_without_done_ends_in_run_error() -> None:
    events = [TextDelta(seq=0, run_id="r", timestamp=1, delta="hi", message_id="m")]
    decoded = decode(await agui_body(events))
    assert [e["type"] for e in decoded][-2:] == ["TEXT_MESSAGE_END", "RUN_ERROR"]
    assert decoded[-1]["code"] == "incomplete"


async def test_pending_approval_finishes_with_an_interrupt() -> None:
    from agentstream import ApprovalRequested

    events: list[Event] = [
        ApprovalRequested(
            seq=0, run_id="r", timestamp=1, call_id="c9", name="pay", arguments='{"eur": 5}'
        ),
        _done("completed", pending_approvals=("c9",)),
    ]
    decoded = decode(await agui_body(events))
    assert [e["type"] for e in decoded] == [
        "RUN_STARTED",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "RUN_FINISHED",
    ]
    assert decoded[-1]["outcome"] == {
        "type": "interrupt",
        "interrupts": [
            {
                "id": "c9",
                "reason": "tool_approval",
                "message": "approve the call of pay",
                "toolCallId": "c9",
            }
        ],
    }
    assert agui_findings(decoded) == []


async def test_closing_the_frames_closes_the_events() -> None:
    closed = []

    async def events() -> Any:
        try:
            yield TextDelta(seq=0, run_id="r", timestamp=1, delta="hi", message_id="m")
            yield TextDelta(seq=1, run_id="r", timestamp=1, delta="!", message_id="m")
        finally:
            closed.append(True)

    frames = agui.encode(events())
    assert (await anext(frames)).startswith('data: {"type":"RUN_STARTED"')
    await frames.aclose()  # type: ignore[attr-defined]
    assert closed == [True]


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="thread_id must be a non-empty string or None, got ''"):
        agui.encode(replay([]), thread_id="")


# The server side: RunAgentInput to SDK input


def test_agui_messages_become_sdk_input() -> None:
    from ag_ui.core import RunAgentInput

    run_input = RunAgentInput.model_validate(
        {
            "threadId": "t",
            "runId": "r",
            "messages": [
                {"id": "s", "role": "system", "content": "Be brief."},
                {"id": "u1", "role": "user", "content": "Weather in Paris?"},
                {
                    "id": "a1",
                    "role": "assistant",
                    "content": "Checking.",
                    "toolCalls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                {"id": "t1", "role": "tool", "toolCallId": "call_1", "content": "sunny"},
                {"id": "r1", "role": "reasoning", "content": "hidden"},
                {
                    "id": "u2",
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "And this?"},
                        {"type": "image", "source": {"type": "url", "value": "https://x/y.png"}},
                    ],
                },
            ],
            "tools": [],
            "context": [],
        }
    )
    # A client's system message is dropped unless the service keeps it.
    assert agui.messages_to_input(run_input.messages)[0] == {
        "role": "user",
        "content": "Weather in Paris?",
    }
    assert agui.messages_to_input(run_input.messages, keep_system=True) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Checking."},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "And this?"},
                {"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"},
            ],
        },
    ]


def test_unsupported_content_is_named() -> None:
    from ag_ui.core import RunAgentInput

    run_input = RunAgentInput.model_validate(
        {
            "threadId": "t",
            "runId": "r",
            "messages": [
                {
                    "id": "u",
                    "role": "user",
                    "content": [{"type": "audio", "source": {"type": "url", "value": "https://a"}}],
                }
            ],
        }
    )
    with pytest.raises(ValueError, match="cannot pass a 'audio' content part"):
        agui.messages_to_input(run_input.messages)


async def test_endpoint_rejects_a_bad_body_with_422() -> None:
    agent, _, _ = build_scenario("text")
    app = Starlette(routes=[Route("/agent", agui.endpoint(agent), methods=["POST"])])
    async with serve(app) as base, httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{base}/agent", json={"threadId": "t"})
    assert response.status_code == 422
    assert "not a valid AG-UI RunAgentInput" in response.json()["error"]
    assert "runId" in response.json()["error"] or "run_id" in response.json()["error"]


# Over HTTP, read by the protocol's own client (the shared scenarios: test_bridges.py)


@node
@needs_node
async def test_endpoint_runs_an_agent_on_the_clients_history() -> None:
    seen_inputs: list[Any] = []

    def pick(run_input: Any) -> Any:
        seen_inputs.append(agui.messages_to_input(run_input.messages))
        return build_scenario(run_input.forwarded_props["scenario"])[0]

    history = [
        {"id": "u0", "role": "user", "content": "Earlier question"},
        {"id": "a0", "role": "assistant", "content": "Earlier answer"},
        {"id": "u1", "role": "user", "content": "Weather in Paris?"},
    ]
    body = {"messages": history, "forwardedProps": {"scenario": "tool"}}
    app = Starlette(routes=[Route("/agent", agui.endpoint(pick, max_turns=5), methods=["POST"])])
    async with serve(app) as base:
        report = await run_node("agui_read.mjs", f"{base}/agent", "--body", json.dumps(body))
    assert report["errors"] == [] and report["warnings"] == []
    assert agui_findings(report["events"]) == []
    assert seen_inputs == [
        [
            {"role": "user", "content": "Earlier question"},
            {"role": "assistant", "content": "Earlier answer"},
            {"role": "user", "content": "Weather in Paris?"},
        ]
    ]
    assert report["events"][0]["runId"] == "run-1"
    new = report["new_messages"]
    assert [m["content"] for m in by_role(new, "tool")] == ["sunny in Paris"]
    assert by_role(new, "assistant")[-1]["content"] == "It is sunny in Paris."


# Heartbeats (the endpoint's pings, disconnects and body limits: test_bridges.py)


async def test_a_ping_goes_out_while_no_event_is_ready() -> None:
    release = asyncio.Event()

    async def slow() -> Any:
        yield TextDelta(run_id="r", seq=0, timestamp=1, delta="a", message_id="m")
        await release.wait()
        yield TextDelta(run_id="r", seq=1, timestamp=1, delta="b", message_id="m")
        yield Done(run_id="r", seq=2, timestamp=1, status="completed", final_output="ab")

    frames = agui.encode(slow(), thread_id="t", run_id="r", heartbeat=0.05)
    got: list[str] = []
    async with asyncio.timeout(10):
        async for frame in frames:
            got.append(frame)
            if frame == ": ping\n\n":
                release.set()
    pings = [i for i, f in enumerate(got) if f == ": ping\n\n"]
    assert pings, got
    payloads = [json.loads(f[len("data: ") :]) for f in got if f.startswith("data: ")]
    assert len(payloads) + len(pings) == len(got)
    assert [p["type"] for p in payloads][-2:] == ["TEXT_MESSAGE_END", "RUN_FINISHED"]
    assert "".join(p.get("delta", "") for p in payloads) == "ab"
