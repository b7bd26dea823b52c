"""The `agentstream` command: the demo in each format, and `serve` as a real process."""

from __future__ import annotations

import os

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import asyncio
import io
import json
import re
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from agentstream import (
    Done,
    ErrorInfo,
    Event,
    Handoff,
    MessageOutput,
    TextDelta,
    ToolCalled,
    ToolOutput,
    Usage,
    parse_event,
)
from agentstream._cli import PrettyPrinter, main
from agentstream._demo import find_order
from agentstream._ndjson import from_ndjson
from agentstream._sse import from_sse

from .support.checks import assert_well_formed

WAIT = 30.0
"""Bound of every wait on a child process (it imports the SDK: seconds on a busy machine)."""

ANSWER_START = "Good news! Your order A-1042 (a pair of trail running shoes) has shipped"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def check_demo_events(events: list[Event]) -> None:
    done = assert_well_formed(events)
    assert done.status == "completed"
    [called] = [e for e in events if isinstance(e, ToolCalled)]
    assert (called.name, json.loads(called.arguments)) == ("lookup_order", {"order_id": "A-1042"})
    [output] = [e for e in events if isinstance(e, ToolOutput)]
    assert output.output == find_order("A-1042")
    [handoff] = [e for e in events if isinstance(e, Handoff)]
    assert (handoff.from_agent, handoff.to_agent) == ("triage", "shipping")
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 10, "the answer streams token by token"
    [message] = [e for e in events if isinstance(e, MessageOutput)]
    assert message.text == "".join(d.delta for d in deltas) == done.final_output
    assert message.text.startswith(ANSWER_START)
    assert done.last_agent == "shipping"
    assert done.usage.requests == 3


# The demo, in-process


def test_demo_pretty(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "demo", "--delay", "0")
    assert code == 0
    assert "\x1b[" not in out, "no colors when stdout is not a terminal"
    lines = out.splitlines()
    assert lines[1] == "> Where is my order A-1042?"
    assert '[tool] lookup_order {"order_id": "A-1042"}' in lines
    assert any(line.startswith("[tool] lookup_order -> {") for line in lines)
    assert "[handoff] triage -> shipping" in lines
    assert any(line.startswith(f"[shipping] {ANSWER_START}") for line in lines)
    assert lines[-1].startswith("[done] completed · 3 model calls")
    order = [
        next(i for i, line in enumerate(lines) if line.startswith(prefix))
        for prefix in ("[tool]", "[handoff]", "[shipping]", "[done]")
    ]
    assert order == sorted(order)


def test_demo_sse_decodes_with_our_decoder(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "demo", "--format", "sse", "--delay", "0")
    assert code == 0
    assert ": ping" not in out
    events = asyncio.run(collect(from_sse([out])))
    check_demo_events(events)


def test_demo_ndjson_is_one_event_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "demo", "--format", "ndjson", "--delay", "0")
    assert code == 0
    lines = out.splitlines()
    events = [parse_event(line) for line in lines]
    check_demo_events(events)
    assert asyncio.run(collect(from_ndjson([out]))) == events


def test_demo_prompt_picks_the_order(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "--prompt", "Has B-3310 arrived?", "--delay", "0")
    assert code == 0
    assert '[tool] lookup_order {"order_id": "B-3310"}' in out.splitlines()
    assert "Your order B-3310 (a mechanical keyboard) was delivered by UPS." in out


def test_delivery_options_run_a_specialist_as_a_tool(capsys: pytest.CaptureFixture[str]) -> None:
    """The triage agent calls the logistics agent as a tool; its run is shown indented under
    the call, with its tool's progress, and its events are nested in the stream."""
    prompt = "What are my delivery options for A-2077?"
    code, out = run_cli(capsys, "demo", "--prompt", prompt, "--delay", "0")
    assert code == 0
    lines = out.splitlines()
    start = lines.index("[nested] logistics runs as ask_logistics")
    end = lines.index("[nested] logistics completed")
    inside = lines[start + 1 : end]
    assert inside and all(line.startswith("  [") for line in inside)
    progress = [line for line in inside if line.startswith("  [progress] check_carriers:")]
    assert [line.rsplit("(", 1)[1] for line in progress] == ["1 of 3)", "2 of 3)", "3 of 3)"]
    assert any(line.startswith("  [logistics] For order A-2077: DHL Express") for line in inside)
    assert any(line.startswith("[triage] Our logistics desk compared") for line in lines[end:])
    code, out = run_cli(capsys, "demo", "--prompt", prompt, "--format", "ndjson", "--delay", "0")
    events = [parse_event(line) for line in out.splitlines()]
    assert [e.seq for e in events] == list(range(len(events)))
    nested = [e for e in events if e.path]
    assert nested and all(e.agent == "logistics" and len(e.path) == 1 for e in nested)
    assert events[-1].type == "done" and events[-1].status == "completed"  # type: ignore[union-attr]


def test_unknown_order_is_answered_too(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "demo", "--prompt", "Where is Z-999?", "--delay", "0")
    assert code == 0
    assert "I couldn't find an order with the id Z-999." in out


def test_model_without_api_key_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--model", "gpt-4.1-mini"])
    assert exit_info.value.code == 2
    assert "--model gpt-4.1-mini needs OPENAI_API_KEY" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--delay", "-1"], "between 0 and 10"),
        (["demo", "--delay", "soon"], "not a number of seconds: 'soon'"),
        (["demo", "--format", "xml"], "invalid choice: 'xml'"),
        (["demo", "--prompt", "  "], "--prompt must not be empty"),
        (["serve", "--port", "70000"], "between 0 and 65535, got '70000'"),
    ],
)
def test_bad_arguments_are_named(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


async def collect(events: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in events]


# The pretty printer


def envelope(seq: int, agent: str = "a") -> dict[str, Any]:
    return {"seq": seq, "run_id": "r", "agent": agent, "timestamp": 1}


def test_pretty_marks_errors_and_colors_only_when_asked() -> None:
    events: list[Event] = [
        TextDelta(delta="Half an ans", **envelope(0)),
        Done(
            status="error",
            error=ErrorInfo(type="RuntimeError", message="the run failed"),
            usage=Usage(requests=1, input_tokens=5, output_tokens=3, total_tokens=8),
            **envelope(1),
        ),
    ]
    plain = io.StringIO()
    colored = io.StringIO()
    for out, color in ((plain, False), (colored, True)):
        printer = PrettyPrinter(out, color=color)
        for event in events:
            printer.event(event)
    assert plain.getvalue().splitlines() == [
        "[a] Half an ans",
        "[error] RuntimeError: the run failed · 1 model calls, 8 tokens (5 in, 3 out)",
    ]
    assert "\x1b[31m[error]\x1b[0m" in colored.getvalue()
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored.getvalue()) == plain.getvalue()


def test_pretty_colors_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    done = Done(status="completed", **envelope(0))
    for env, out, expected in (
        ({}, Terminal(), True),
        ({}, io.StringIO(), False),
        ({"NO_COLOR": "1"}, Terminal(), False),
        ({"FORCE_COLOR": "1"}, io.StringIO(), True),
    ):
        with monkeypatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            PrettyPrinter(out).event(done)
        assert ("\x1b[" in out.getvalue()) is expected, env


# Real processes


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "FORCE_COLOR")}
    env["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
    return env


async def test_python_m_agentstream_runs_the_demo_offline_with_no_arguments() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agentstream",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(),
    )
    try:
        async with asyncio.timeout(WAIT):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    text = out.decode()
    assert "offline scripted model" in text
    assert "[handoff] triage -> shipping" in text
    assert "[done] completed" in text
    assert err.decode() == "", "nothing on stderr: no warnings, no tracing complaints"


async def test_serve_answers_the_page_sse_json_and_websocket() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agentstream",
        "serve",
        "--port",
        "0",
        "--delay",
        "0",
        "--log-level",
        "warning",
        stderr=asyncio.subprocess.PIPE,
        env=child_env(),
    )
    assert process.stderr is not None
    try:
        async with asyncio.timeout(WAIT):
            first = (await process.stderr.readline()).decode()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
        assert match, first
        base = f"http://127.0.0.1:{match.group(1)}"
        async with asyncio.timeout(WAIT), httpx.AsyncClient(base_url=base, timeout=WAIT) as client:
            page = await client.get("/")
            assert page.status_code == 200
            for selector in ('id="prompt"', 'id="send"', 'id="answer"', 'id="status"'):
                assert selector in page.text
            assert 'class="tool-indicator"' in page.text
            script = await client.get("/static/chat.js")
            assert script.status_code == 200
            assert "javascript" in script.headers["content-type"]

            async with client.stream("POST", "/api/chat", json={"prompt": "A-1042?"}) as sse:
                assert sse.headers["content-type"] == "text/event-stream; charset=utf-8"
                check_demo_events(await collect(from_sse(sse.aiter_bytes())))

            whole = await client.post("/api/chat?stream=false", json={"prompt": "A-1042?"})
            body = whole.json()
            check_demo_events([parse_event(e) for e in body["events"]])

            bad = await client.post("/api/chat", json={"question": "?"})
            assert bad.status_code == 400
            assert "prompt" in bad.json()["error"]

            async with websockets.connect(f"ws://127.0.0.1:{match.group(1)}/api/ws") as ws:
                await ws.send(json.dumps({"prompt": "A-1042?"}))
                messages = [parse_event(message) async for message in ws]
            check_demo_events(messages)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(WAIT):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
    assert process.returncode == 0


async def test_the_demo_app_waits_for_a_refunds_approval_and_a_rejection_runs_nothing() -> None:
    from agentstream._demo import demo_app

    from .support.http import serve

    app = demo_app(token_delay=0, heartbeat=None)
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=WAIT) as client:
        async with client.stream("POST", "/api/runs", json={"input": "Refund A-2077"}) as sse:
            assert sse.status_code == 200
            first = await collect(from_sse(sse.aiter_bytes()))
        paused = first[-1]
        assert isinstance(paused, Done)
        assert paused.status == "interrupted"
        [waiting] = paused.interruptions
        assert (waiting.name, waiting.arguments) == ("issue_refund", '{"order_id": "A-2077"}')
        answer = {"answers": [{"call_id": waiting.call_id, "approved": False, "reason": "No."}]}
        path = f"/api/runs/{paused.run_id}/answers"
        async with client.stream("POST", path, json=answer) as sse:
            assert sse.status_code == 200
            rest = await collect(from_sse(sse.aiter_bytes()))
    done = rest[-1]
    assert isinstance(done, Done)
    assert done.status == "completed"
    assert done.final_output == (
        "Understood, I did not refund order A-2077. Is there anything else I can do?"
    )
    assert [e.seq for e in first + rest] == list(range(len(first) + len(rest)))
    assert app.state.refunds == []  # the rejected refund never ran
