"""to_callbacks: dispatch by type, sync and async sinks, sink errors, the documented sinks."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import anyio
import pytest
from agents import Agent, Runner
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from agentstream import (
    AgentStreamError,
    ConfigurationError,
    Done,
    Event,
    TextDelta,
    ToolCalled,
    normalize,
    parse_event,
)
from agentstream._callbacks import EventSink, to_callbacks
from agentstream.testing import ScriptedStreamModel, text

from .support.checks import assert_well_formed
from .support.scenarios import Gate, gated_run

BOUND = 10.0
"""Seconds any one wait of these tests may take before the test fails."""
DOCS = Path(__file__).resolve().parent.parent / "docs" / "adapters.md"


def docs_namespace() -> dict[str, Any]:
    """Run the example sinks of docs/adapters.md, so the tests use the documented code."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    namespace: dict[str, Any] = {}
    for block in blocks:
        if re.search(r"^class \w+Sink\b", block, re.M):
            exec(compile(block, str(DOCS), "exec"), namespace)
    return namespace


def scripted_run(prompt: str = "go") -> Any:
    model = ScriptedStreamModel([text("Hello there, friend.")])
    return Runner.run_streamed(Agent(name="greeter", model=model), prompt)


async def aiter_list(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


class Recorder:
    """Mixed sync and async methods, recording the calls in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def on_text_delta(self, event: TextDelta) -> None:
        self.calls.append(("on_text_delta", event.seq))

    async def on_done(self, event: Done) -> None:
        await asyncio.sleep(0)
        self.calls.append(("on_done", event.seq))

    async def on_event(self, event: Event) -> None:
        self.calls.append(("on_event", event.seq))


async def test_per_type_then_on_event_in_order_with_sync_and_async_methods() -> None:
    sink = Recorder()
    stream = normalize(scripted_run())
    with anyio.fail_after(BOUND):
        done = await to_callbacks(stream, sink)
    assert done is stream.done
    assert done.status == "completed"
    assert done.final_output == "Hello there, friend."
    seen = [seq for name, seq in sink.calls if name == "on_event"]
    assert seen == list(range(done.seq + 1))
    for name, seq in sink.calls:
        if name != "on_event":
            # a per-type call comes right before on_event of the same event
            index = sink.calls.index((name, seq))
            assert sink.calls[index + 1] == ("on_event", seq)
    deltas = [seq for name, seq in sink.calls if name == "on_text_delta"]
    assert len(deltas) == 3
    assert sink.calls[-2:] == [("on_done", done.seq), ("on_event", done.seq)]


async def test_a_sink_with_only_per_type_methods() -> None:
    texts: list[str] = []

    class OnlyText:
        def on_text_delta(self, event: TextDelta) -> None:
            texts.append(event.delta)

    with anyio.fail_after(BOUND):
        done = await to_callbacks(normalize(scripted_run()), OnlyText())
    assert "".join(texts) == "Hello there, friend."
    assert done.status == "completed"


async def test_the_event_sink_protocol_types_an_on_event_sink() -> None:
    got: list[Event] = []

    class Collect:
        def on_event(self, event: Event) -> None:
            got.append(event)

    sink: EventSink = Collect()
    with anyio.fail_after(BOUND):
        done = await to_callbacks(normalize(scripted_run()), sink)
    assert assert_well_formed(got) is done


class Boom(Exception):
    pass


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_sink_error_cancels_the_run_and_reaches_the_caller_unchanged(kind: str) -> None:
    gate = Gate()
    stream = normalize(gated_run(gate))
    error = Boom("the sink failed")

    class Failing:
        def __init__(self) -> None:
            self.after: list[str] = []

        async def on_tool_called_async(self, event: ToolCalled) -> None:
            await gate.started.wait()
            raise error

        def on_tool_called_sync(self, event: ToolCalled) -> None:
            raise error

        def on_event(self, event: Event) -> None:
            self.after.append(event.type)

    sink = Failing()
    sink.on_tool_called = getattr(sink, f"on_tool_called_{kind}")  # type: ignore[attr-defined]
    with anyio.fail_after(BOUND), pytest.raises(Boom) as info:
        await to_callbacks(stream, sink)
    assert info.value is error
    assert "tool_called" not in sink.after  # the failing call stopped the stream at once
    assert stream.done is not None
    assert stream.done.status == "cancelled"
    assert not gate.finished
    if kind == "async":
        assert gate.cancelled


async def test_a_plain_source_is_closed_when_a_sink_fails() -> None:
    log: list[str] = []

    async def source() -> AsyncIterator[Event]:
        try:
            yield TextDelta(seq=0, run_id="r", timestamp=0, delta="a")
            yield TextDelta(seq=1, run_id="r", timestamp=0, delta="b")
        finally:
            log.append("closed")

    class Fails:
        def on_text_delta(self, event: TextDelta) -> None:
            raise KeyError(event.delta)

    with pytest.raises(KeyError, match="a"):
        await to_callbacks(source(), Fails())
    assert log == ["closed"]


async def test_events_without_done_are_an_error() -> None:
    class Any_:
        def on_event(self, event: Event) -> None:
            pass

    events = [TextDelta(seq=0, run_id="r", timestamp=0, delta="a")]
    with pytest.raises(AgentStreamError, match="without a 'done' event"):
        await to_callbacks(aiter_list(events), Any_())


@pytest.mark.parametrize("sink", [object(), asyncio.Queue(), "on_event"])
async def test_a_sink_without_methods_is_refused_before_reading(sink: object) -> None:
    read: list[int] = []

    async def source() -> AsyncIterator[Event]:
        read.append(1)
        yield TextDelta(seq=0, run_id="r", timestamp=0, delta="a")

    with pytest.raises(ConfigurationError, match="no on_event or on_<type> method"):
        await to_callbacks(source(), sink)
    assert read == []


# The example sinks of docs/adapters.md


async def test_docs_queue_sink() -> None:
    queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=1)
    sink = docs_namespace()["QueueSink"](queue)
    got: list[Event] = []

    async def drain() -> None:
        while not got or not isinstance(got[-1], Done):
            got.append(await queue.get())

    with anyio.fail_after(BOUND):
        consumer = asyncio.ensure_future(drain())
        done = await to_callbacks(normalize(scripted_run()), sink)
        await consumer
    assert assert_well_formed(got) == done


async def test_docs_sqlite_sink(tmp_path: Path) -> None:
    path = str(tmp_path / "runs.db")
    sink = docs_namespace()["SQLiteSink"](path)
    with anyio.fail_after(BOUND):
        done = await to_callbacks(normalize(scripted_run()), sink)
    sink.db.close()
    with sqlite3.connect(path) as db:
        messages = db.execute("SELECT run_id, agent, text FROM messages").fetchall()
        runs = db.execute("SELECT run_id, status, tokens FROM runs").fetchall()
    db.close()
    assert messages == [(done.run_id, "greeter", "Hello there, friend.")]
    assert runs == [(done.run_id, "completed", done.usage.total_tokens)]


def test_docs_websocket_sink_over_a_real_starlette_websocket() -> None:
    sink_class = docs_namespace()["WebSocketSink"]
    outcome: list[Done] = []

    async def chat(websocket: WebSocket) -> None:
        # The bound is on the server side: when it fails, the socket closes and the client's
        # (unbounded) receive_text() raises instead of waiting forever.
        with anyio.fail_after(BOUND):
            await websocket.accept()
            prompt = await websocket.receive_text()
            stream = normalize(scripted_run(prompt))
            outcome.append(await to_callbacks(stream, sink_class(websocket)))
            await websocket.close()

    app = Starlette(routes=[WebSocketRoute("/chat", chat)])
    with TestClient(app) as client, client.websocket_connect("/chat") as ws:
        ws.send_text("hello")
        events = []
        while not events or events[-1].type != "done":
            events.append(parse_event(ws.receive_text()))
    assert assert_well_formed(events) == outcome[0]
    assert events[-1].final_output == "Hello there, friend."
