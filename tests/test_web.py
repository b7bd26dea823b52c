"""The web integration on a real uvicorn server (127.0.0.1) with real HTTP and WebSocket clients."""

from __future__ import annotations

import os

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from agents import Agent, Runner, function_tool
from agents.result import RunResultStreaming
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from agentstream import ConfigurationError, Done, Event, TextDelta, normalize, parse_event
from agentstream._ndjson import from_ndjson
from agentstream._sse import from_sse
from agentstream.testing import ScriptedStreamModel, fail, text, tool_call, turn
from agentstream.web import (
    choose_format,
    event_response,
    json_response,
    send_websocket,
    stream_response,
)

from .support.checks import assert_well_formed
from .support.http import serve

WAIT = 10.0
"""Bound of every wait in these tests; reaching it fails the test."""

SECRET = "db password hunter2 in /srv/app/settings.py"


class Probe:
    """What the server saw: the runs it started, and the state of their slow tool."""

    def __init__(self) -> None:
        self.turns: list[Any] = []
        self.heartbeat: float | None = 15.0
        self.expose_errors = False
        self.results: list[RunResultStreaming] = []
        self.tool_started = asyncio.Event()
        self.tool_cancelled = asyncio.Event()
        self.release = asyncio.Event()
        self.tool_finished = False
        self.closed: list[str] = []
        self.ws_done: list[Done | None] = []
        self.ws_finished = asyncio.Event()

    def run(self) -> RunResultStreaming:
        probe = self

        @function_tool
        async def slow_lookup(order_id: str) -> str:
            """Look an order up; it takes until the test releases it."""
            probe.tool_started.set()
            try:
                await probe.release.wait()
            except asyncio.CancelledError:
                probe.tool_cancelled.set()
                raise
            probe.tool_finished = True
            return f"order {order_id} shipped"

        agent = Agent(name="support", model=ScriptedStreamModel(self.turns), tools=[slow_lookup])
        result = Runner.run_streamed(agent, "where is my order?")
        self.results.append(result)
        return result

    @property
    def run_task(self) -> asyncio.Task[Any]:
        task = self.results[-1].run_loop_task
        assert task is not None
        return task


def slow_tool_turns() -> list[Any]:
    """Text, then the slow tool, then the answer."""
    return [
        turn(text("Let me check that. "), tool_call("slow_lookup", {"order_id": "A-1"})),
        text("It shipped yesterday."),
    ]


def make_app(probe: Probe) -> Starlette:
    async def sse(request: Request) -> Response:
        return stream_response(
            probe.run(),
            format=request.query_params.get("format", "sse"),  # type: ignore[arg-type]
            heartbeat=probe.heartbeat,
            expose_errors=probe.expose_errors,
        )

    async def auto(request: Request) -> Response:
        return event_response(request, probe.run(), heartbeat=probe.heartbeat)

    async def generated(request: Request) -> Response:
        async def events() -> AsyncIterator[Event]:
            async with normalize(probe.run()) as stream:
                try:
                    async for event in stream:
                        yield event
                finally:
                    probe.closed.append("generator")

        return stream_response(events())

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        try:
            probe.ws_done.append(await send_websocket(websocket, probe.run()))
        finally:
            probe.ws_finished.set()

    return Starlette(
        routes=[
            Route("/sse", sse, methods=["POST", "HEAD"]),
            Route("/auto", auto, methods=["POST"]),
            Route("/generated", generated, methods=["POST"]),
            WebSocketRoute("/ws", ws),
        ]
    )


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
async def server(probe: Probe) -> AsyncIterator[str]:
    """The address, `127.0.0.1:PORT`, of a real server of `make_app(probe)`."""
    async with serve(make_app(probe)) as base:
        yield base.removeprefix("http://")


@pytest.fixture
async def client(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{server}", timeout=WAIT) as client:
        yield client


async def read_sse(response: httpx.Response) -> list[Event]:
    return [event async for event in from_sse(response.aiter_bytes())]


async def wait_task_done(task: asyncio.Future[Any]) -> None:
    done, _ = await asyncio.wait({task}, timeout=WAIT)
    assert task in done, "the run did not end"


async def wait_for_no_new_tasks(baseline: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """Wait (bounded) until every task the server started after `baseline` has ended."""
    me = asyncio.current_task()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        extra = {t for t in asyncio.all_tasks() if t is not me and t not in baseline}
        if not extra or loop.time() >= deadline:
            return extra
        # Polls an observable state: the tasks end on their own, nothing signals it.
        await asyncio.sleep(0.01)


# Streaming responses


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("sse", "text/event-stream; charset=utf-8"), ("ndjson", "application/x-ndjson")],
)
async def test_headers_and_a_whole_run(
    probe: Probe, client: httpx.AsyncClient, fmt: str, content_type: str
) -> None:
    probe.turns = [text("Hello there.")]
    async with client.stream("POST", f"/sse?format={fmt}") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == content_type
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["connection"] == "keep-alive"
        decode = from_sse if fmt == "sse" else from_ndjson
        events = [event async for event in decode(response.aiter_bytes())]
    done = assert_well_formed(events)
    assert done.status == "completed"
    assert done.final_output == "Hello there."
    assert "".join(e.delta for e in events if isinstance(e, TextDelta)) == "Hello there."


async def test_disconnect_after_first_text_delta_cancels_the_run(
    probe: Probe, client: httpx.AsyncClient
) -> None:
    # A first whole request, so that whatever a server starts once per loop is in the baseline.
    probe.turns = [text("warm up")]
    async with client.stream("POST", "/sse") as response:
        assert_well_formed(await read_sse(response))
    baseline = asyncio.all_tasks()

    probe.turns = slow_tool_turns()
    async with asyncio.timeout(WAIT), client.stream("POST", "/sse") as response:
        async for event in from_sse(response.aiter_bytes()):
            if isinstance(event, TextDelta):
                break
        await probe.tool_started.wait()
    # Leaving the `async with` closed the connection in the middle of the body.
    async with asyncio.timeout(WAIT):
        await probe.tool_cancelled.wait()
    await wait_task_done(probe.run_task)
    assert not probe.tool_finished
    assert probe.results[-1].is_complete
    assert await wait_for_no_new_tasks(baseline) == set()


async def test_disconnect_closes_a_plain_async_generator(
    probe: Probe, client: httpx.AsyncClient
) -> None:
    probe.turns = slow_tool_turns()
    async with asyncio.timeout(WAIT), client.stream("POST", "/generated") as response:
        async for event in from_sse(response.aiter_bytes()):
            if isinstance(event, TextDelta):
                break
        await probe.tool_started.wait()
    async with asyncio.timeout(WAIT):
        await probe.tool_cancelled.wait()
    await wait_task_done(probe.run_task)
    assert probe.closed == ["generator"]
    assert not probe.tool_finished


async def test_heartbeats_arrive_while_a_tool_runs(probe: Probe, client: httpx.AsyncClient) -> None:
    probe.turns = slow_tool_turns()
    probe.heartbeat = 0.05
    body: list[str] = []
    pings_during_tool = 0
    in_tool = False
    async with asyncio.timeout(WAIT), client.stream("POST", "/sse") as response:
        async for line in response.aiter_lines():
            body.append(line)
            if line == "event: tool_called":
                in_tool = True
            elif line == "event: tool_output":
                in_tool = False
            elif line == ": ping" and in_tool:
                pings_during_tool += 1
                if pings_during_tool == 2:
                    probe.release.set()  # the tool may finish now
    assert pings_during_tool >= 2
    events = [e async for e in from_sse(["\n".join(body) + "\n"])]
    done = assert_well_formed(events)
    assert done.status == "completed", "pings must not disturb the run"
    assert done.final_output == "It shipped yesterday."
    assert probe.tool_finished


@pytest.mark.parametrize("fmt", ["sse", "ndjson"])
async def test_a_failed_run_hides_the_exception_text(
    probe: Probe, client: httpx.AsyncClient, fmt: str
) -> None:
    probe.turns = [turn(text("Partial "), fail(RuntimeError(SECRET)))]
    response = await client.post(f"/sse?format={fmt}")
    assert "hunter2" not in response.text
    decode = from_sse if fmt == "sse" else from_ndjson
    done = assert_well_formed([e async for e in decode([response.content])])
    assert done.status == "error"
    assert done.error is not None
    assert (done.error.type, done.error.message) == ("RuntimeError", "the run failed")


async def test_a_failed_run_shows_the_exception_text_when_exposed(
    probe: Probe, client: httpx.AsyncClient
) -> None:
    probe.turns = [turn(text("Partial "), fail(RuntimeError(SECRET)))]
    probe.expose_errors = True
    response = await client.post("/sse")
    done = assert_well_formed(await read_sse(response))
    assert done.error is not None
    assert done.error.message == SECRET


async def test_head_request_sends_headers_and_cancels_the_run(
    probe: Probe, client: httpx.AsyncClient
) -> None:
    probe.turns = slow_tool_turns()
    response = await client.head("/sse")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    await wait_task_done(probe.run_task)
    assert not probe.tool_finished


# JSON fallback and negotiation


async def test_json_fallback_returns_done_and_every_event(
    probe: Probe, client: httpx.AsyncClient
) -> None:
    probe.turns = [text("One answer.")]
    response = await client.post("/auto?stream=false")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    events = [parse_event(e) for e in body["events"]]
    done = assert_well_formed(events)
    assert parse_event(body["done"]) == done
    assert done.final_output == "One answer."


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("text/event-stream", "text/event-stream; charset=utf-8"),
        ("application/x-ndjson", "application/x-ndjson"),
        ("application/json", "application/json"),
        (None, "text/event-stream; charset=utf-8"),
    ],
)
async def test_event_response_follows_the_accept_header(
    probe: Probe, client: httpx.AsyncClient, accept: str | None, content_type: str
) -> None:
    probe.turns = [text("Hi.")]
    headers = {"accept": accept} if accept else {}
    response = await client.post("/auto", headers=headers)
    assert response.headers["content-type"] == content_type


async def test_json_fallback_client_leaving_cancels_the_run(probe: Probe, server: str) -> None:
    probe.turns = slow_tool_turns()
    host, port = server.split(":")
    async with asyncio.timeout(WAIT):
        _reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /auto?stream=false HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await probe.tool_started.wait()
        writer.close()
        await writer.wait_closed()
        await probe.tool_cancelled.wait()
    await wait_task_done(probe.run_task)
    assert not probe.tool_finished


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "sse"),
        ("", "sse"),
        ("*/*", "sse"),
        ("text/html", "sse"),
        ("text/event-stream", "sse"),
        ("application/json", "json"),
        ("application/x-ndjson", "ndjson"),
        ("application/jsonl", "ndjson"),
        ("application/json;q=0.5, text/event-stream;q=0.9", "sse"),
        ("text/event-stream;q=0.2, application/json", "json"),
        ("application/json;q=0, application/x-ndjson;q=0.1", "ndjson"),
        ("application/json;q=oops", "sse"),
        ("APPLICATION/JSON", "json"),
    ],
)
def test_choose_format(accept: str | None, expected: str) -> None:
    assert choose_format(accept) == expected


def test_choose_format_default_and_bad_default() -> None:
    assert choose_format("*/*", default="json") == "json"
    with pytest.raises(ConfigurationError, match="'xml'"):
        choose_format(None, default="xml")  # type: ignore[arg-type]


# WebSocket


async def test_websocket_sends_one_json_message_per_event(probe: Probe, server: str) -> None:
    probe.turns = [tool_call("slow_lookup", {"order_id": "A-1"}), text("It shipped.")]
    probe.release.set()
    messages: list[str] = []
    async with asyncio.timeout(WAIT), websockets.connect(f"ws://{server}/ws") as ws:
        await ws.send(json.dumps({"prompt": "where?"}))
        with contextlib.suppress(websockets.ConnectionClosedOK):
            while True:
                message = await ws.recv()
                assert isinstance(message, str)
                messages.append(message)
    assert ws.close_code == 1000
    events = [parse_event(m) for m in messages]
    done = assert_well_formed(events)
    assert done.status == "completed"
    assert [e.type for e in events if e.type.startswith("tool_")][-1] == "tool_output"
    assert probe.ws_done == [done]


async def test_websocket_disconnect_cancels_the_run(probe: Probe, server: str) -> None:
    probe.turns = slow_tool_turns()
    async with asyncio.timeout(WAIT):
        async with websockets.connect(f"ws://{server}/ws") as ws:
            await ws.send(json.dumps({"prompt": "where?"}))
            while not isinstance(parse_event(await ws.recv()), TextDelta):
                pass
            await probe.tool_started.wait()
        await probe.tool_cancelled.wait()
        await probe.ws_finished.wait()
    await wait_task_done(probe.run_task)
    assert not probe.tool_finished
    [done] = probe.ws_done
    assert done is not None
    assert done.status == "cancelled"


# Arguments


async def test_bad_arguments_are_rejected_and_the_run_is_cancelled(probe: Probe) -> None:
    probe.turns = slow_tool_turns()
    with pytest.raises(ConfigurationError, match="'xml'"):
        stream_response(probe.run(), format="xml")  # type: ignore[arg-type]
    await wait_task_done(probe.run_task)
    assert not probe.tool_finished


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"heartbeat": 0}, "heartbeat"),
        ({"heartbeat": float("nan")}, "heartbeat"),
        ({"send_timeout": -1}, "send_timeout"),
        ({"retry": -5}, "retry"),
        ({"retry": 100, "format": "ndjson"}, "retry"),
    ],
)
async def test_bad_stream_options_name_the_value(
    probe: Probe, kwargs: dict[str, Any], match: str
) -> None:
    probe.turns = [text("x")]
    with pytest.raises(ConfigurationError, match=match):
        stream_response(probe.run(), **kwargs)
    await wait_task_done(probe.run_task)


async def test_normalize_options_need_a_run(probe: Probe) -> None:
    probe.turns = [text("x")]
    stream = normalize(probe.run())
    with pytest.raises(ConfigurationError, match="idle_timeout"):
        json_response(stream, idle_timeout=5)
    await wait_task_done(probe.run_task)
    await stream.aclose()


async def test_an_unknown_run_option_is_named_and_the_run_cancelled(probe: Probe) -> None:
    probe.turns = slow_tool_turns()
    with pytest.raises(ConfigurationError, match="idle_timeot"):
        stream_response(probe.run(), idle_timeot=5)  # type: ignore[call-arg]
    await wait_task_done(probe.run_task)
    assert not probe.tool_finished


async def test_an_unknown_run_option_is_named_for_any_source() -> None:
    async def events() -> AsyncIterator[Event]:
        yield Done(run_id="r", seq=0, timestamp=1, status="completed")

    with pytest.raises(ConfigurationError, match="idle_timeot"):
        json_response(events(), idle_timeot=5)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("query", "accept", "content_type"),
    [
        ("", "text/event-stream", "text/event-stream; charset=utf-8"),
        ("", "application/x-ndjson", "application/x-ndjson"),
        ("?stream=false", "text/event-stream", "application/json"),
    ],
)
async def test_event_response_runs_its_background_once_in_every_format(
    query: str, accept: str, content_type: str
) -> None:
    ran: list[str] = []

    async def events() -> AsyncIterator[Event]:
        yield Done(run_id="r", seq=0, timestamp=1, status="completed")

    async def endpoint(request: Request) -> Response:
        return event_response(request, events(), background=BackgroundTask(ran.append, "ran"))

    app = Starlette(routes=[Route("/", endpoint)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as plain:
        response = await asyncio.wait_for(plain.get(f"/{query}", headers={"accept": accept}), WAIT)
    assert response.headers["content-type"] == content_type
    assert b'"status":"completed"' in response.content
    assert ran == ["ran"]


def test_a_source_that_is_no_stream_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="got int"):
        stream_response(42)  # type: ignore[arg-type]


# The FastAPI example of docs/web.md


def docs_example() -> str:
    """The first Python block of docs/web.md: the complete FastAPI app."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "web.md").read_text("utf-8")
    match = re.search(
        r"## A complete FastAPI app\n\n(?:<!-- .*? -->\n)?```python\n(.*?)\n```\n", page, re.S
    )
    assert match, "docs/web.md has lost its FastAPI example"
    return match.group(1)


async def test_the_fastapi_example_of_the_docs_serves_sse_json_and_websocket(probe: Probe) -> None:
    pytest.importorskip("fastapi")
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(docs_example(), "docs/web.md", "exec"), namespace)
    documented = namespace["agent"]
    assert documented.model == "gpt-4.1-mini"
    namespace["agent"] = documented.clone(
        model=ScriptedStreamModel(
            [tool_call("lookup_order", {"order_id": "A-1042"}), text("It shipped with DHL.")] * 3
        )
    )
    async with serve(namespace["app"]) as base:
        address = base.removeprefix("http://")
        async with httpx.AsyncClient(base_url=f"http://{address}", timeout=WAIT) as client:
            response = await client.post("/chat", json={"prompt": "Where is A-1042?"})
            assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
            done = assert_well_formed(await read_sse(response))
            assert done.final_output == "It shipped with DHL."

            response = await client.post("/chat?stream=false", json={"prompt": "Where?"})
            assert response.json()["done"]["final_output"] == "It shipped with DHL."

            assert (await client.post("/chat", json={"prompt": ""})).status_code == 422

        async with asyncio.timeout(WAIT), websockets.connect(f"ws://{address}/ws") as ws:
            await ws.send(json.dumps({"prompt": "Where is A-1042?"}))
            events = [parse_event(message) async for message in ws]
        assert assert_well_formed(events).final_output == "It shipped with DHL."


@pytest.mark.parametrize("fmt", ["sse", "ndjson"])
async def test_the_body_is_byte_for_byte_what_the_adapter_writes(fmt: str) -> None:
    """Batching writes changes how frames are sent, never what is sent."""
    from agentstream._ndjson import to_ndjson
    from agentstream._sse import to_sse

    model = ScriptedStreamModel([tool_call("slow_lookup", {"query": "q"}), text("Done now.")])

    @function_tool
    def slow_lookup(query: str) -> str:
        """Look up."""
        return f"found {query}\n\ndata: forged"

    agent = Agent(name="a", model=model, tools=[slow_lookup])
    events = await normalize(Runner.run_streamed(agent, "q")).collect()

    async def replay() -> AsyncIterator[Event]:
        for event in events:
            yield event

    async def endpoint(request: Request) -> Response:
        return stream_response(replay(), format=fmt, heartbeat=None)

    app = Starlette(routes=[Route("/", endpoint, methods=["GET"])])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as plain:
        body = (await asyncio.wait_for(plain.get("/"), WAIT)).content
    encode = to_sse(replay(), heartbeat=None) if fmt == "sse" else to_ndjson(replay())
    expected = "".join([frame async for frame in encode]).encode()
    assert body == expected


def test_fastapi_add_api_route_injects_the_request_into_every_endpoint(tmp_path: Path) -> None:
    """FastAPI reads each endpoint's signature: the request must be injected, not asked for as
    a query parameter (the annotations are resolved classes, not strings)."""
    from agents import Agent
    from fastapi import FastAPI

    from agentstream import agui, ai_sdk
    from agentstream.conversations import sqlite_sessions
    from agentstream.interactive import answers_endpoint, runs_endpoint
    from agentstream.resume import MemoryEventLog, resumable_sse_endpoint

    agent = Agent(name="a")
    log = MemoryEventLog()
    sessions = sqlite_sessions(tmp_path / "chats.db")
    app = FastAPI()
    endpoints = [
        ai_sdk.endpoint(agent),
        agui.endpoint(agent),
        ai_sdk.history_endpoint(sessions),
        agui.history_endpoint(sessions),
        ai_sdk.resume_endpoint(log),
        agui.resume_endpoint(log),
        runs_endpoint(agent, log),
        answers_endpoint([agent], log),
        resumable_sse_endpoint(log),
    ]
    for n, endpoint in enumerate(endpoints):
        app.add_api_route(f"/e{n}/{{chat_id}}/{{thread_id}}/{{run_id}}", endpoint, methods=["POST"])
    for route in app.routes[-len(endpoints) :]:
        assert route.dependant.query_params == [], route.path  # type: ignore[attr-defined]
