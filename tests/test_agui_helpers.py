"""Shared by the AG-UI and AI SDK bridge tests: scripted scenarios, a uvicorn server, the real
clients, ag-ui-validate, and a hypothesis strategy for valid agentstream event sequences."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import pytest
from agents import Agent, Runner, function_tool
from hypothesis import strategies as st

from agentstream import (
    ApprovalRequested,
    Done,
    ErrorInfo,
    Event,
    Handoff,
    MessageOutput,
    ReasoningDelta,
    ReasoningOutput,
    TextDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolCallStarted,
    ToolOutput,
    Usage,
    UsageUpdated,
    normalize,
)
from agentstream.testing._scripted import (
    ScriptedStreamModel,
    fail,
    handoff,
    reasoning,
    text,
    tool_call,
    turn,
)

CLIENTS = Path(__file__).resolve().parent.parent / "clients"
HAVE_NODE = shutil.which("node") is not None and (CLIENTS / "node_modules").is_dir()
node = pytest.mark.node
needs_node = pytest.mark.skipif(not HAVE_NODE, reason="needs node and clients/node_modules")


@function_tool
def get_weather(city: str) -> str:
    """Return the weather for a city."""
    return f"sunny in {city}"


# Scenarios: name -> (agent, number of text deltas after which the server cancels the run)


def build_scenario(name: str) -> tuple[Agent[Any], int | None, dict[str, Any]]:
    """A real agent on a scripted model for each scenario the bridges must carry, the number
    of text deltas after which the server cancels the run, and `Runner.run_streamed` options."""
    cancel_after = None
    options: dict[str, Any] = {}
    if name == "text":
        model = ScriptedStreamModel([text("Hello there, friend.")])
    elif name == "tool":
        model = ScriptedStreamModel(
            [
                turn(tool_call("get_weather", {"city": "Paris"}, call_id="call_w", chunks=4)),
                text("It is sunny in Paris."),
            ]
        )
    elif name == "handoff":
        model = ScriptedStreamModel([handoff("billing", call_id="call_h"), text("Billing here.")])
    elif name == "reasoning":
        model = ScriptedStreamModel([turn(reasoning("Think it over."), text("The answer."))])
    elif name == "two_tools":
        model = ScriptedStreamModel(
            [
                turn(
                    tool_call("get_weather", {"city": "Paris"}, call_id="call_p", chunks=2),
                    tool_call("get_weather", {"city": "Rome"}, call_id="call_r", chunks=3),
                ),
                text("Both sunny."),
            ]
        )
    elif name == "failing":
        # MaxTurnsExceeded: the SDK delivers everything streamed before it (see test_secret_*
        # for a failure raised by the model itself).
        model = ScriptedStreamModel(
            [
                turn(
                    text("Let me check."),
                    tool_call("get_weather", {"city": "Oslo"}, call_id="call_o", chunks=2),
                ),
                text("never streamed"),
            ]
        )
        options["max_turns"] = 1
    elif name == "model_error":
        model = ScriptedStreamModel([turn(fail(RuntimeError("secret internal detail")))])
    elif name == "cancelled":
        # The pacing only makes the cut land mid-message; the checks hold wherever it lands.
        model = ScriptedStreamModel(
            [turn(text(["one ", "two ", "three ", "four ", "five"]), delay=0.02)]
        )
        cancel_after = 2
    else:
        raise AssertionError(f"unknown scenario {name!r}")
    billing = Agent(name="billing", model=model)
    agent = Agent(name="triage", model=model, tools=[get_weather], handoffs=[billing])
    return agent, cancel_after, options


SCENARIOS = ["text", "tool", "handoff", "reasoning", "two_tools", "failing", "cancelled"]


async def scenario_events(name: str, prompt: Any = "hi") -> AsyncIterator[Event]:
    """The normalized events of a scenario's real run (the server cancels where it says)."""
    agent, cancel_after, options = build_scenario(name)
    result = Runner.run_streamed(agent, prompt, **options)
    seen = 0
    async with normalize(result) as stream:
        async for event in stream:
            yield event
            if isinstance(event, TextDelta):
                seen += 1
                if seen == cancel_after:
                    result.cancel()


async def collect_events(name: str) -> list[Event]:
    return [e async for e in scenario_events(name)]


# A real HTTP server


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (a random port); yield its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def run_node(script: str, *args: str, stdin: bytes | None = None) -> dict[str, Any]:
    """Run one of the client scripts in clients/ and return its JSON report."""
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(CLIENTS / script),
        *args,
        "--timeout",
        "60",
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 90)
    assert proc.returncode == 0, f"{script} exited {proc.returncode}: {err.decode()[-2000:]}"
    report: dict[str, Any] = json.loads(out)
    return report


async def run_node_batch(script: str, bodies: list[str]) -> list[dict[str, Any]]:
    """Run a batch client script on many SSE bodies at once; one report per body."""
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(CLIENTS / script),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(json.dumps(bodies).encode()), 150)
    assert proc.returncode == 0, f"{script} exited {proc.returncode}: {err.decode()[-2000:]}"
    reports: list[dict[str, Any]] = json.loads(out)
    assert len(reports) == len(bodies)
    return reports


# ag-ui-validate, in process


def sse_payloads(body: str) -> list[str]:
    """The `data:` payloads of a body made of `data: ...` frames (our own framing)."""
    assert "\r" not in body
    frames = body.split("\n\n")
    assert frames[-1] == "", "the body ends with a complete frame"
    payloads = []
    for frame in frames[:-1]:
        assert frame.startswith("data: ") and "\n" not in frame, frame
        payloads.append(frame[len("data: ") :])
    return payloads


def agui_findings(events: list[dict[str, Any]]) -> list[str]:
    """Every diagnostic ag-ui-validate reports on a sequence of AG-UI events (any severity)."""
    from ag_ui_validate import Validator

    validator = Validator()
    for event in events:
        validator.feed(event)
    validator.finalize()
    report = validator.report()
    assert not report.internal_errors, report.internal_errors
    return [f"{d.rule} {d.severity} @{d.event_index}: {d.message}" for d in report.diagnostics]


# Valid event sequences, as normalize() can produce them (and a few odd but valid ones)

_json_args = st.dictionaries(
    st.sampled_from(["city", "n", "q"]),
    st.one_of(st.text(max_size=8), st.integers(-5, 5), st.booleans()),
    max_size=2,
).map(json.dumps)
_texts = st.text(min_size=0, max_size=12)
_outputs = st.one_of(
    st.text(max_size=10),
    st.integers(),
    st.none(),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _split(draw: Callable[..., Any], value: str) -> list[str]:
    cuts = sorted(draw(st.lists(st.integers(0, len(value)), max_size=3)))
    pieces, last = [], 0
    for cut in [*cuts, len(value)]:
        pieces.append(value[last:cut])
        last = cut
    return [p for p in pieces if p] or [value]


@st.composite
def event_sequences(draw: Callable[..., Any]) -> list[Event]:
    """A valid sequence of agentstream events, `Done` last."""
    run_id = "run_h"
    out: list[dict[str, Any]] = []
    agents = ["triage", "billing", "helper"]
    agent = draw(st.sampled_from([*agents, None]))
    counter = 0

    def fresh(prefix: str) -> str:
        nonlocal counter
        counter += 1
        return f"{prefix}_{counter}"

    def add(kind: type[Event], **fields: Any) -> None:  # type: ignore[valid-type]
        out.append({"kind": kind, "agent": agent, **fields})

    usage = 0
    pending: list[str] = []
    approvals: list[str] = []
    for _ in range(draw(st.integers(0, 4))):  # model calls
        calls: list[tuple[str, str, str]] = []
        for _item in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["text", "reasoning", "tool", "tool_whole", "handoff"]))
            if kind in ("text", "reasoning"):
                value = draw(_texts)
                item_id = draw(st.one_of(st.none(), st.just(fresh("item"))))
                streamed = draw(st.booleans())
                delta_kind, key = (
                    (TextDelta, "message_id")
                    if kind == "text"
                    else (ReasoningDelta, "reasoning_id")
                )
                if streamed:
                    for piece in _split(draw, value):
                        add(delta_kind, delta=piece, **{key: item_id})
                calls.append(("whole", kind, json.dumps([value, item_id])))
            elif kind == "tool":
                call_id, args = fresh("call"), draw(_json_args)
                add(ToolCallStarted, call_id=call_id, name="get_weather")
                for piece in _split(draw, args)[: draw(st.integers(0, 4))]:
                    add(ToolArgumentsDelta, call_id=call_id, delta=piece)
                calls.append(("call", call_id, args))
            elif kind == "tool_whole":
                calls.append(("call", fresh("call"), draw(_json_args)))
            else:
                calls.append(("handoff", fresh("call"), ""))
        if draw(st.booleans()) or calls:
            usage += 1
            add(UsageUpdated, usage=Usage(requests=usage, output_tokens=usage))
        for what, first, second in calls:
            if what == "whole":
                value, item_id = json.loads(second)
                if first == "text":
                    add(MessageOutput, text=value, message_id=item_id)
                else:
                    add(ReasoningOutput, text=value, reasoning_id=item_id)
            elif what == "call":
                add(ToolCalled, call_id=first, name="get_weather", arguments=second)
                pending.append(first)
        for call_id in list(pending):
            if draw(st.booleans()):
                add(
                    ToolOutput,
                    call_id=call_id,
                    output=draw(_outputs),
                    name=draw(st.sampled_from(["get_weather", None])),
                )
                pending.remove(call_id)
        for what, first, _ in calls:
            if what == "handoff":
                target = draw(st.sampled_from(agents))
                add(Handoff, from_agent=agent or "triage", to_agent=target, call_id=first)
                agent = target
    if draw(st.booleans()):  # a tool output for a call never announced
        add(ToolOutput, call_id=fresh("call"), output="orphan", name=None)
    if pending and draw(st.booleans()):
        approvals = pending[:1]
        add(ApprovalRequested, call_id=approvals[0], name="get_weather", arguments="{}")
    status = draw(st.sampled_from(["completed", "error", "cancelled", "timeout"]))
    if status != "completed" and draw(st.booleans()):  # cut in the middle of something
        cut = draw(st.sampled_from(["text", "reasoning", "tool"]))
        if cut == "tool":
            call_id = fresh("call")
            add(ToolCallStarted, call_id=call_id, name="get_weather")
            add(ToolArgumentsDelta, call_id=call_id, delta='{"city": "Pa')
        elif cut == "text":
            add(TextDelta, delta="cut sho", message_id=fresh("item"))
        else:
            add(ReasoningDelta, delta="hmm", reasoning_id=None)
    error = None
    if status in ("error", "timeout"):
        error = ErrorInfo(
            type="RuntimeError" if status == "error" else "IdleTimeoutError", message="it failed"
        )
    add(
        Done,
        status=status,
        final_output="done" if status == "completed" else None,
        usage=Usage(requests=usage),
        error=error,
        pending_approvals=tuple(approvals) if status == "completed" else (),
    )
    events: list[Event] = []
    for seq, spec in enumerate(out):
        kind = spec.pop("kind")
        events.append(kind(seq=seq, run_id=run_id, timestamp=1_700_000_000_000 + seq, **spec))
    return events


async def replay(events: list[Event]) -> AsyncIterator[Event]:
    for event in events:
        yield event


def test_sequences_are_valid_events() -> None:
    """The strategy builds events that parse back as themselves (the wire contract holds)."""
    from hypothesis import given, settings

    from agentstream import parse_event

    @settings(max_examples=30, deadline=None)
    @given(event_sequences())
    def check(events: list[Event]) -> None:
        assert isinstance(events[-1], Done)
        for event in events:
            assert parse_event(event.model_dump_json()) == event

    check()


def waiting_agent() -> tuple[Agent[Any], asyncio.Event, asyncio.Event]:
    """An agent whose tool waits until cancelled: (agent, tool started, tool cancelled)."""
    started, cancelled = asyncio.Event(), asyncio.Event()

    @function_tool
    async def wait_forever() -> str:
        """Wait until the run is cancelled."""
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    model = ScriptedStreamModel([tool_call("wait_forever", {}), text("never")])
    return Agent(name="waiter", model=model, tools=[wait_forever]), started, cancelled


def slow_tool_agent() -> tuple[Agent[Any], asyncio.Event]:
    """An agent whose tool returns only once released: (agent, release)."""
    release = asyncio.Event()

    @function_tool
    async def slow_lookup(city: str) -> str:
        """Look the weather up, slowly."""
        await release.wait()
        return f"sunny in {city}"

    model = ScriptedStreamModel(
        [tool_call("slow_lookup", {"city": "Paris"}, call_id="call_s"), text("It is sunny.")]
    )
    return Agent(name="slow", model=model, tools=[slow_lookup]), release


class PingWatch:
    """ASGI middleware that records the response body and sets `pinged` on the first ping."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.pinged = asyncio.Event()
        self.body = bytearray()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def watched(message: Any) -> None:
            if message["type"] == "http.response.body":
                self.body += message.get("body", b"")
                if b": ping\n\n" in self.body:
                    self.pinged.set()
            await send(message)

        await self.app(scope, receive, watched)


async def read_during_slow_tool(
    app: PingWatch, release: asyncio.Event, script: str, path: str
) -> dict[str, Any]:
    """Serve `app`, run a node client on `path`, release the tool once a ping went out."""
    async with serve(app) as base:
        reader = asyncio.create_task(run_node(script, f"{base}{path}"))
        try:
            await asyncio.wait_for(app.pinged.wait(), 30)
            release.set()
            return await asyncio.wait_for(reader, 90)
        finally:
            reader.cancel()


async def disconnect_mid_tool(endpoint: Any, body: dict[str, Any]) -> bytes:
    """Drive `endpoint` as an ASGI app until its tool waits and a ping went out, then disconnect.

    Checks that the tool was cancelled before the response returned and that no task is left
    behind; returns what was sent.
    """
    from starlette.applications import Starlette
    from starlette.routing import Route

    agent, started, cancelled = waiting_agent()
    app = Starlette(routes=[Route("/x", endpoint(agent, heartbeat=0.05), methods=["POST"])])
    raw = json.dumps(body).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/x",
        "raw_path": b"/x",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(raw))],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    gone = asyncio.Event()
    pinged = asyncio.Event()
    sent = bytearray()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            sent.extend(message.get("body", b""))
            if b": ping\n\n" in sent:
                pinged.set()

    baseline = asyncio.all_tasks()
    task = asyncio.create_task(app(scope, receive, send))
    try:
        await asyncio.wait_for(started.wait(), 10)
        await asyncio.wait_for(pinged.wait(), 10)
        gone.set()
        await asyncio.wait_for(asyncio.shield(task), 15)
    finally:
        task.cancel()
    # The close waited for the run: the tool saw its cancellation before the response returned.
    assert cancelled.is_set()
    left = asyncio.all_tasks() - baseline - {task}
    if left:
        _, pending = await asyncio.wait(left, timeout=5)
        assert not pending, f"tasks left behind: {pending}"
    return bytes(sent)
