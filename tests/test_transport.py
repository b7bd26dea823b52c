"""The web transport: every streamed response under one supervisor, driven as ASGI and on uvicorn.

Each test runs on every kind of streamed response agentstream makes (`KINDS`): SSE and NDJSON
(`stream_response`), the collected JSON document (`json_response`), the AG-UI and AI SDK
endpoints, a resumed stream (`resume_response`) and `send_websocket`. The run behind each is a
real SDK run on a scripted model whose tool waits until the test releases it, or is cancelled.
The ASGI tests play the client in this event loop (`Client`): what it receives, when it leaves,
a send that never completes; the shutdown test uses a real uvicorn server on 127.0.0.1.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from agents import Agent, Runner, function_tool
from agents.result import RunResultStreaming
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from agentstream import Done, Event, agui, ai_sdk
from agentstream._transport import NDJSON_HEADERS, SSE_HEADERS
from agentstream.resume import MemoryEventLog, Publication, publish, resume_response
from agentstream.testing import ScriptedStreamModel, text, tool_call, turn
from agentstream.web import json_response, send_websocket, stream_response

WAIT = 10.0
"""Bound of every wait in these tests; reaching it fails the test."""

HTTP_KINDS = ["sse", "ndjson", "json", "agui", "ai_sdk", "resume"]
KINDS = [*HTTP_KINDS, "websocket"]

SSE_TYPE = "text/event-stream; charset=utf-8"
CONTENT_TYPES = {
    "sse": SSE_TYPE,
    "ndjson": "application/x-ndjson",
    "json": "application/json",
    "agui": SSE_TYPE,
    "ai_sdk": SSE_TYPE,
    "resume": SSE_TYPE,
}
PINGS = {
    "sse": b": ping\n\n",
    "ndjson": b"\n",
    "json": b"\n",
    "agui": b": ping\n\n",
    "ai_sdk": b": ping\n\n",
    "resume": b": ping\n\n",
}
"""The keep-alive each kind sends, as one body message, while no event is ready."""

FINISHED = {
    "sse": b'"status":"completed"',
    "ndjson": b'"status":"completed"',
    "json": b'"status":"completed"',
    "agui": b'"type":"RUN_FINISHED"',
    "ai_sdk": b'"finishReason":"stop"',
    "resume": b'"status":"completed"',
}
"""What the body of each kind holds once its run completed."""

REQUESTS: dict[str, Any] = {
    "agui": {
        "threadId": "t",
        "runId": "r",
        "messages": [{"id": "u", "role": "user", "content": "go"}],
    },
    "ai_sdk": {
        "messages": [{"id": "u", "role": "user", "parts": [{"type": "text", "text": "go"}]}]
    },
}
"""The request body of the bridge endpoints (the others read none)."""


class Blocking:
    """An agent whose tool waits until the test releases it, or is cancelled; its runs."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.release = asyncio.Event()
        self.results: list[RunResultStreaming] = []
        self.model = ScriptedStreamModel(
            [turn(text("Working on it. "), tool_call("wait_here", {})), text("All done.")]
        )
        blocking = self

        @function_tool
        async def wait_here() -> str:
            """Wait until released."""
            blocking.started.set()
            try:
                await blocking.release.wait()
            except asyncio.CancelledError:
                blocking.cancelled.set()
                raise
            return "released"

        self.agent = Agent(name="worker", model=self.model, tools=[wait_here])

    def run(self) -> RunResultStreaming:
        result = Runner.run_streamed(self.agent, "go")
        self.results.append(result)
        return result


class WatchedLog(MemoryEventLog):
    """A memory event log that counts the reads opened and closed."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = 0
        self.closed = 0
        self.read_opened = asyncio.Event()
        self.read_closed = asyncio.Event()

    async def read(self, run_id: str, after: int | None = -1) -> AsyncIterator[Event]:
        self.opened += 1
        self.read_opened.set()
        try:
            async for event in super().read(run_id, after):
                yield event
        finally:
            self.closed += 1
            self.read_closed.set()


class Setup:
    """One kind of response on one blocking agent, and what the test can observe of it."""

    def __init__(
        self, kind: str, *, heartbeat: float | None = None, send_timeout: float | None = None
    ) -> None:
        self.kind = kind
        self.heartbeat = heartbeat
        self.send_timeout = send_timeout
        self.blocking = Blocking()
        self.log = WatchedLog()
        self.publication: Publication | None = None
        self.background_ran: list[str] = []
        """The kind's name, each time its background task (or, for a WebSocket, the code after
        `send_websocket`) ran."""
        self.dones: list[Done | None] = []

    @property
    def path(self) -> str:
        return f"/{self.kind}"

    async def prepare(self) -> None:
        """A resumed stream reads a run another task publishes: start it, up to its tool."""
        if self.kind == "resume":
            self.publication = await publish(self.blocking.run(), self.log)
            await asyncio.wait_for(self.blocking.started.wait(), WAIT)

    async def close(self) -> None:
        if self.publication is not None:
            await self.publication.cancel()

    def routes(self) -> list[BaseRoute]:
        blocking, heartbeat, send_timeout = self.blocking, self.heartbeat, self.send_timeout
        background = BackgroundTask(self.background_ran.append, self.kind)
        bridge: Callable[..., Any] | None = {"agui": agui.endpoint, "ai_sdk": ai_sdk.endpoint}.get(
            self.kind
        )
        endpoint = (
            None
            if bridge is None
            else bridge(blocking.agent, heartbeat=heartbeat, send_timeout=send_timeout)
        )

        async def http(request: Request) -> Response:
            if self.kind in ("sse", "ndjson"):
                return stream_response(
                    blocking.run(),
                    format=self.kind,  # type: ignore[arg-type]
                    heartbeat=heartbeat,
                    send_timeout=send_timeout,
                    background=background,
                )
            if self.kind == "json":
                return json_response(
                    blocking.run(),
                    heartbeat=heartbeat,
                    send_timeout=send_timeout,
                    background=background,
                )
            if self.kind == "resume":
                assert self.publication is not None
                response = await resume_response(
                    self.log,
                    self.publication.run_id,
                    request,
                    heartbeat=heartbeat,
                    send_timeout=send_timeout,
                )
            else:
                assert endpoint is not None
                response = await endpoint(request)
            # Starlette's way to give any response a background task.
            response.background = background
            return response

        async def ws(websocket: WebSocket) -> None:
            await websocket.accept()
            self.dones.append(
                await send_websocket(websocket, blocking.run(), send_timeout=send_timeout)
            )
            self.background_ran.append(self.kind)

        if self.kind == "websocket":
            return [WebSocketRoute(self.path, ws)]
        return [Route(self.path, http, methods=["POST", "HEAD"])]

    def app(self) -> Starlette:
        return Starlette(routes=self.routes())


@contextlib.asynccontextmanager
async def setup(
    kind: str, *, heartbeat: float | None = None, send_timeout: float | None = None
) -> AsyncIterator[Setup]:
    made = Setup(kind, heartbeat=heartbeat, send_timeout=send_timeout)
    await made.prepare()
    try:
        yield made
    finally:
        await made.close()


class Client:
    """Plays the client of one request against an ASGI app, in this event loop.

    It records every message the app sends, leaves when `leave` is set (a disconnect message),
    and, once `stop_reading()` was called, never completes a send of body data.
    """

    def __init__(self, app: Starlette, kind: str, path: str, *, method: str = "POST") -> None:
        self.kind = kind
        self.messages: list[dict[str, Any]] = []
        self.leave = asyncio.Event()
        self._changed = asyncio.Event()
        self._reading = True
        self._requested = False
        self._body = json.dumps(REQUESTS.get(kind, {})).encode()
        scope: dict[str, Any] = {
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 2),
        }
        if kind == "websocket":
            scope.update(type="websocket", scheme="ws", headers=[], subprotocols=[])
        else:
            headers = [(b"content-type", b"application/json")]
            headers.append((b"content-length", str(len(self._body)).encode()))
            scope.update(
                type="http", scheme="http", http_version="1.1", method=method, headers=headers
            )
        self.task = asyncio.create_task(app(scope, self._receive, self._send))

    def stop_reading(self) -> None:
        self._reading = False

    async def _receive(self) -> dict[str, Any]:
        if not self._requested:
            self._requested = True
            if self.kind == "websocket":
                return {"type": "websocket.connect"}
            return {"type": "http.request", "body": self._body, "more_body": False}
        await self.leave.wait()
        if self.kind == "websocket":
            return {"type": "websocket.disconnect", "code": 1001}
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        if not self._reading and message["type"] in ("http.response.body", "websocket.send"):
            await asyncio.Event().wait()  # a client that does not read: this send never ends
        self.messages.append(message)
        self._changed.set()

    @property
    def chunks(self) -> list[bytes]:
        """The body of each body message (each WebSocket message's text)."""
        chunks = []
        for message in self.messages:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            elif message["type"] == "websocket.send":
                chunks.append(message["text"].encode())
        return chunks

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Wait (bounded) until `predicate()` holds after a message arrived."""
        async with asyncio.timeout(WAIT):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def finished(self) -> None:
        """Wait (bounded) until the app returned; raise what it raised."""
        done, _ = await asyncio.wait({self.task}, timeout=WAIT)
        assert self.task in done, "the response did not end"
        self.task.result()

    async def close(self) -> None:
        if not self.task.done():
            self.task.cancel()
            await asyncio.wait({self.task}, timeout=WAIT)


@contextlib.asynccontextmanager
async def client(made: Setup, *, method: str = "POST") -> AsyncIterator[Client]:
    playing = Client(made.app(), made.kind, made.path, method=method)
    try:
        yield playing
    finally:
        await playing.close()


def running_tasks() -> set[asyncio.Task[Any]]:
    me = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not me}


async def assert_nothing_left(baseline: set[asyncio.Task[Any]]) -> None:
    """Every task started since `baseline` ends (bounded wait): nothing of the response is left."""
    left = running_tasks() - baseline
    if left:
        _, pending = await asyncio.wait(left, timeout=WAIT)
        assert not pending, f"tasks left running: {pending}"


async def assert_the_run_was_cancelled(made: Setup) -> None:
    """The run behind the response was cancelled, not finished; a resumed stream only stopped
    reading the log, and the run goes on in its producer."""
    blocking = made.blocking
    if made.kind == "resume":
        assert (made.log.opened, made.log.closed) == (1, 1)
        assert not blocking.cancelled.is_set(), "a reader must not cancel the published run"
        return
    # Closing the stream waited for the run: the tool saw its cancellation before the
    # response returned.
    assert blocking.cancelled.is_set()
    for result in blocking.results:
        assert result.run_loop_task is not None and result.run_loop_task.done()
    if made.kind == "websocket":
        [done] = made.dones
        assert done is not None and done.status == "cancelled"


# A disconnect, a whole response, heartbeats, a client that does not read, HEAD


@pytest.mark.parametrize("kind", KINDS)
async def test_a_disconnect_cancels_the_run_and_leaves_nothing_running(kind: str) -> None:
    async with setup(kind) as made:
        baseline = running_tasks()
        async with client(made) as playing:
            if kind == "resume":
                await playing.until(lambda: len(playing.chunks) > 0)
            else:
                await asyncio.wait_for(made.blocking.started.wait(), WAIT)
            playing.leave.set()
            await playing.finished()
        await assert_the_run_was_cancelled(made)
        assert made.background_ran == [kind], "background runs once, also after a disconnect"
        await assert_nothing_left(baseline)


@pytest.mark.parametrize("kind", KINDS)
async def test_background_runs_once_after_a_whole_response(kind: str) -> None:
    async with setup(kind) as made:
        made.blocking.release.set()
        async with client(made) as playing:
            await playing.finished()
        assert made.background_ran == [kind]
        assert made.blocking.started.is_set() and not made.blocking.cancelled.is_set()
        if kind == "websocket":
            assert playing.messages[-1] == {"type": "websocket.close", "code": 1000, "reason": ""}
            [done] = made.dones
            assert done is not None and done.status == "completed"
        else:
            assert playing.messages[-1] == {"type": "http.response.body", "body": b""}
            body = b"".join(playing.chunks)
            assert FINISHED[kind] in body, body


@pytest.mark.parametrize("kind", HTTP_KINDS)
async def test_heartbeats_arrive_while_no_event_is_ready(kind: str) -> None:
    ping = PINGS[kind]
    async with setup(kind, heartbeat=0.05) as made:
        async with client(made) as playing:
            await asyncio.wait_for(made.blocking.started.wait(), WAIT)
            await playing.until(lambda: ping in playing.chunks)
            playing.leave.set()
            await playing.finished()
        assert playing.messages[0]["type"] == "http.response.start"
        await assert_the_run_was_cancelled(made)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_client_that_does_not_read_is_dropped_after_send_timeout(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agentstream")
    # Heartbeats give the response something to send while the tool waits.
    async with setup(kind, heartbeat=0.05, send_timeout=0.1) as made:
        baseline = running_tasks()
        async with client(made) as playing:
            if kind == "websocket":
                # No event comes while the tool waits: the client reads nothing from the start.
                playing.stop_reading()
            else:
                await asyncio.wait_for(made.blocking.started.wait(), WAIT)
                playing.stop_reading()
            await playing.finished()
        assert "send_timeout=0.1" in caplog.text
        assert made.background_ran == [kind]
        if kind == "websocket":
            [done] = made.dones
            assert done is not None and done.status == "cancelled"
        else:
            await assert_the_run_was_cancelled(made)
        await assert_nothing_left(baseline)


@pytest.mark.parametrize("kind", HTTP_KINDS)
async def test_head_gets_the_headers_only(kind: str) -> None:
    async with setup(kind) as made:
        baseline = running_tasks()
        async with client(made, method="HEAD") as playing:
            await playing.finished()
        start, end = playing.messages
        assert start["type"] == "http.response.start" and start["status"] == 200
        headers = {name.decode(): value.decode() for name, value in start["headers"]}
        assert headers["content-type"] == CONTENT_TYPES[kind]
        assert headers["cache-control"] == "no-cache"
        assert end == {"type": "http.response.body", "body": b""}
        assert made.background_ran == [kind]
        if kind in ("agui", "ai_sdk"):
            assert made.blocking.model.calls == 0, "a bridge starts its run only for a body"
        elif kind == "resume":
            assert made.log.opened == 0
        else:
            [result] = made.blocking.results
            assert result.run_loop_task is not None and result.run_loop_task.done()
        await assert_nothing_left(baseline)


async def test_a_failing_body_is_raised_and_skips_background() -> None:
    """As after Starlette's own responses: an error of the body is the server's, no background."""
    ran: list[str] = []

    async def failing() -> AsyncIterator[Event]:
        raise RuntimeError("the source broke")
        yield  # pragma: no cover - makes this an async generator

    async def endpoint(request: Request) -> Response:
        return stream_response(failing(), background=BackgroundTask(ran.append, "ran"))

    playing = Client(Starlette(routes=[Route("/", endpoint)]), "sse", "/", method="GET")
    with pytest.raises(RuntimeError, match="the source broke"):
        await playing.finished()
    assert ran == []


# Headers


def test_every_sse_response_sends_the_sse_headers() -> None:
    assert SSE_HEADERS.items() <= agui.HEADERS.items()
    assert SSE_HEADERS.items() <= ai_sdk.HEADERS.items()
    assert ai_sdk.HEADERS["x-vercel-ai-ui-message-stream"] == "v1"
    assert dict(SSE_HEADERS) == {**NDJSON_HEADERS, "content-type": SSE_TYPE}


async def test_given_headers_replace_the_defaults_whatever_their_case() -> None:
    async def events() -> AsyncIterator[Event]:
        yield Done(run_id="r", seq=0, timestamp=1, status="completed")

    async def endpoint(request: Request) -> Response:
        return stream_response(events(), headers={"Cache-Control": "no-store", "X-Extra": "1"})

    playing = Client(Starlette(routes=[Route("/", endpoint)]), "sse", "/", method="GET")
    await playing.finished()
    headers = [(name.decode(), value.decode()) for name, value in playing.messages[0]["headers"]]
    assert [value for name, value in headers if name == "cache-control"] == ["no-store"]
    assert ("x-extra", "1") in headers


# A real server shutting down


async def test_a_server_shutdown_ends_every_open_stream_and_cancels_its_run() -> None:
    """uvicorn cancels the requests still running after its graceful timeout, and tells open
    WebSockets at once (code 1012): every kind of stream ends, its run cancelled."""
    made = [Setup(kind) for kind in KINDS]
    for each in made:
        await each.prepare()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    address = f"127.0.0.1:{sock.getsockname()[1]}"
    app = Starlette(routes=[route for each in made for route in each.routes()])
    config = uvicorn.Config(
        app,
        log_level="critical",  # the requests it cancels are logged as errors, on purpose here
        lifespan="off",
        ws="websockets-sansio",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))

    async def read(each: Setup) -> None:
        if each.kind == "websocket":
            async with websockets.connect(f"ws://{address}{each.path}") as ws:
                with contextlib.suppress(websockets.ConnectionClosed):
                    async for _ in ws:
                        pass
            return
        async with httpx.AsyncClient(base_url=f"http://{address}", timeout=WAIT) as http:
            request = http.build_request("POST", each.path, json=REQUESTS.get(each.kind, {}))
            response = await http.send(request, stream=True)
            with contextlib.suppress(httpx.HTTPError):
                async for _ in response.aiter_raw():
                    pass
            await response.aclose()

    readers: list[asyncio.Task[None]] = []
    try:
        readers = [asyncio.create_task(read(each)) for each in made]
        async with asyncio.timeout(WAIT):
            for each in made:
                if each.kind == "resume":
                    await each.log.read_opened.wait()
                else:
                    await each.blocking.started.wait()
        server.should_exit = True
        async with asyncio.timeout(WAIT):
            await serving
            await asyncio.gather(*readers)
            for each in made:
                if each.kind == "resume":
                    await each.log.read_closed.wait()
                else:
                    await each.blocking.cancelled.wait()
        for each in made:
            await assert_the_run_was_cancelled(each)
    finally:
        server.should_exit = True
        for task in [serving, *readers]:
            task.cancel()
        await asyncio.wait({serving, *readers}, timeout=WAIT)
        sock.close()
        for each in made:
            await each.close()
