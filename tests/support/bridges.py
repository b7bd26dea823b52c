"""One adapter a bridge protocol, so that the tests both bridges share run on each of them.

`test_bridges.py` runs each shared test once a protocol (`@each_bridge`). What differs between
AG-UI and the AI SDK UI message stream is asked of the `Bridge` the test gets: the encoder and
the endpoint factory, the request a client posts, the Node reader scripts, the in-process checker,
and what the client's report says, read into an `Answer` in the same terms for both. The tests of
one protocol only stay in `test_agui.py` and `test_ai_sdk.py`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from agentstream import Event, agui, ai_sdk

from .agui import agui_body, agui_findings, by_role, check_structure, decode
from .ai_sdk import ai_body, assistant_parts, check_parts, parts, tool_parts
from .http import PING, PingWatch, serve
from .node import run_node
from .scenarios import scenario_events, waiting_agent


@dataclass(frozen=True)
class Answer:
    """What a protocol's client assembled from a run, in the same terms for every protocol."""

    text: str
    """All the assistant's text, joined."""
    last: str | None
    """The text of the last assistant message."""
    tools: list[tuple[str | None, str, Any, Any]]
    """The tool calls as (tool name, call id, parsed input, output), in call order; an output
    whose call the client never saw comes after them, with no name and no input."""
    reasoning: list[str]
    """The reasoning texts."""
    handoffs: list[dict[str, Any]]
    """The handoffs, as `{"fromAgent", "toAgent", "callId"}`."""


class Bridge:
    """What a shared test needs to know of one bridge protocol.

    The `check_*` hooks assert what the protocol's client reports about a run's end; the ones
    for what only one protocol tells do nothing here.
    """

    name: str
    """The protocol's id in test names."""
    encode: Callable[..., AsyncIterator[str]]
    """The encoder: events in, frames out (`agui.encode`, `ai_sdk.encode`)."""
    endpoint: Callable[..., Any]
    """The endpoint factory (`agui.endpoint`, `ai_sdk.endpoint`)."""
    path: str
    """Where a test app serves the endpoint."""
    request: ClassVar[dict[str, Any]]
    """A small valid request body: one user message, "go"."""
    reader: str
    """The Node script that reads one run through the protocol's client."""
    batch_reader: str
    """The Node script that hands many bodies to the protocol's client."""
    client_options: ClassVar[dict[str, Any]]
    """Encoder options for a body a batch client reads: the ids it posts by default."""
    closing_frames: int
    """How many `data:` frames after the last event end the body."""
    tool_running: tuple[str, str]
    """The frame types (as quoted in the JSON) between which a tool runs."""
    marker_header: tuple[str, str]
    """A response header the endpoint sends besides `content-type`, and its value."""

    def __repr__(self) -> str:
        return self.name

    async def body(self, events: list[Event], **options: Any) -> str:
        """The whole body the encoder writes for `events`."""
        raise NotImplementedError

    def decode(self, body: str) -> list[dict[str, Any]]:
        """The frames of a body as JSON, its framing checked."""
        raise NotImplementedError

    def check(self, frames: list[dict[str, Any]]) -> None:
        """Check frames in process against the rules of the protocol's client."""
        raise NotImplementedError

    def app(self, endpoint: Any) -> Starlette:
        """A Starlette app that serves `endpoint` on `path`."""
        return Starlette(routes=[Route(self.path, endpoint, methods=["POST"])])

    async def read_scenario(self, name: str) -> dict[str, Any]:
        """Serve a scenario's real run with the encoder; return the reader's report of it."""
        raise NotImplementedError

    def frames(self, report: dict[str, Any]) -> list[dict[str, Any]]:
        """The frames the reader's client received."""
        raise NotImplementedError

    def client_errors(self, report: dict[str, Any]) -> list[str]:
        """Everything the client reported as wrong."""
        return list(report["errors"])

    def client_errors_for(self, message: str | None) -> list[str]:
        """What `client_errors` holds for a run that failed with `message` (None: no failure)."""
        raise NotImplementedError

    def delivered(self, report: dict[str, Any]) -> int:
        """How many frames the batch client passed on."""
        raise NotImplementedError

    def answer(self, report: dict[str, Any]) -> Answer:
        """What the reader's client assembled from the run."""
        raise NotImplementedError

    def check_completed(self, report: dict[str, Any]) -> None:
        """Check that the client saw the run complete."""
        raise NotImplementedError

    def check_cancelled(self, report: dict[str, Any]) -> None:
        """Check that the client saw the run cancelled."""
        raise NotImplementedError

    def check_failed(self, report: dict[str, Any], code: str, message: str) -> None:
        """Check that the client saw the run fail with error `code` and `message`."""
        raise NotImplementedError

    def check_scenario(self, name: str, report: dict[str, Any]) -> None:
        """Check what only this protocol tells about scenario `name`."""


class AGUIBridge(Bridge):
    """AG-UI, read by @ag-ui/client (HttpAgent and verifyEvents) and checked by ag-ui-validate."""

    name = "agui"
    encode = staticmethod(agui.encode)
    endpoint = staticmethod(agui.endpoint)
    path = "/agent"
    request: ClassVar[dict[str, Any]] = {
        "threadId": "t",
        "runId": "r",
        "messages": [{"id": "u", "role": "user", "content": "go"}],
    }
    reader = "agui_read.mjs"
    batch_reader = "agui_batch.mjs"
    client_options: ClassVar[dict[str, Any]] = {"thread_id": "thread-1", "run_id": "run-1"}
    closing_frames = 0
    tool_running = ('"TOOL_CALL_END"', '"TOOL_CALL_RESULT"')
    marker_header = ("cache-control", "no-cache")

    async def body(self, events: list[Event], **options: Any) -> str:
        return await agui_body(events, **options)

    def decode(self, body: str) -> list[dict[str, Any]]:
        return decode(body)

    def check(self, frames: list[dict[str, Any]]) -> None:
        check_structure(frames)
        assert agui_findings(frames) == []

    async def read_scenario(self, name: str) -> dict[str, Any]:
        async def run(request: Request) -> StreamingResponse:
            body = await request.json()
            frames = agui.encode(
                scenario_events(request.path_params["name"]),
                thread_id=body["threadId"],
                run_id=body["runId"],
            )
            return StreamingResponse(frames, media_type="text/event-stream", headers=agui.HEADERS)

        app = Starlette(routes=[Route("/agui/{name}", run, methods=["POST"])])
        async with serve(app) as base:
            return await run_node(self.reader, f"{base}/agui/{name}")

    def frames(self, report: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = report["events"]
        return events

    def client_errors(self, report: dict[str, Any]) -> list[str]:
        return [*report["errors"], *report["warnings"]]

    def client_errors_for(self, message: str | None) -> list[str]:
        # A failed run ends in RUN_ERROR, which the client takes as the run's end, not as a fault.
        return []

    def delivered(self, report: dict[str, Any]) -> int:
        count: int = report["delivered"]
        return count

    def answer(self, report: dict[str, Any]) -> Answer:
        new = report["new_messages"] or []
        assistant = by_role(new, "assistant")
        results = by_role(new, "tool")
        outputs = {m["toolCallId"]: m["content"] for m in results}
        assert len(outputs) == len(results), "one result a call"
        tools: list[tuple[str | None, str, Any, Any]] = []
        for call in (c for m in assistant for c in m.get("toolCalls") or []):
            function = call["function"]
            arguments = json.loads(function["arguments"])
            tools.append((function["name"], call["id"], arguments, outputs.pop(call["id"], None)))
        tools += [(None, call_id, None, output) for call_id, output in outputs.items()]
        return Answer(
            text="".join(m.get("content") or "" for m in assistant),
            last=assistant[-1].get("content") if assistant else None,
            tools=tools,
            reasoning=[m["content"] for m in by_role(new, "reasoning")],
            handoffs=[
                e["metadata"]["agentstream.handoff"]
                for e in report["events"]
                if e["type"] == "STEP_STARTED" and "metadata" in e
            ],
        )

    def check_completed(self, report: dict[str, Any]) -> None:
        assert report["terminated"]
        assert report["events"][-1]["type"] == "RUN_FINISHED"
        assert report["events"][-1]["outcome"] == {"type": "success"}

    def check_cancelled(self, report: dict[str, Any]) -> None:
        assert report["terminated"]
        assert report["events"][-1]["type"] == "RUN_FINISHED"
        assert report["events"][-1]["outcome"] == {"type": "cancelled"}

    def check_failed(self, report: dict[str, Any], code: str, message: str) -> None:
        assert report["terminated"]
        assert report["events"][-1]["type"] == "RUN_ERROR"
        assert report["events"][-1]["code"] == code
        assert report["events"][-1]["message"] == message

    def check_scenario(self, name: str, report: dict[str, Any]) -> None:
        events = report["events"]
        assert events[0]["threadId"] == "thread-1" and events[0]["runId"] == "run-1"
        if name == "tool":
            assert sum(e["type"] == "TOOL_CALL_ARGS" for e in events) == 4
        elif name == "handoff":
            assert [e["stepName"] for e in events if e["type"] == "STEP_STARTED"] == [
                "triage",
                "billing",
            ]


class AISDKBridge(Bridge):
    """The AI SDK UI message stream, read by the `ai` package's own client code (as useChat)."""

    name = "ai_sdk"
    encode = staticmethod(ai_sdk.encode)
    endpoint = staticmethod(ai_sdk.endpoint)
    path = "/api/chat"
    request: ClassVar[dict[str, Any]] = {
        "messages": [{"id": "u", "role": "user", "parts": [{"type": "text", "text": "go"}]}]
    }
    reader = "ai_sdk_read.mjs"
    batch_reader = "ai_sdk_batch.mjs"
    client_options: ClassVar[dict[str, Any]] = {}
    closing_frames = 1  # data: [DONE]
    tool_running = ('"tool-input-available"', '"tool-output-available"')
    marker_header = ("x-vercel-ai-ui-message-stream", "v1")

    async def body(self, events: list[Event], **options: Any) -> str:
        return await ai_body(events, **options)

    def decode(self, body: str) -> list[dict[str, Any]]:
        return parts(body)

    def check(self, frames: list[dict[str, Any]]) -> None:
        check_parts(frames)

    async def read_scenario(self, name: str) -> dict[str, Any]:
        async def run(request: Request) -> StreamingResponse:
            body = await request.json()
            frames = ai_sdk.encode(scenario_events(body["scenario"]))
            return StreamingResponse(frames, media_type="text/event-stream", headers=ai_sdk.HEADERS)

        app = Starlette(routes=[Route("/api/chat", run, methods=["POST"])])
        async with serve(app) as base:
            return await run_node(
                self.reader, f"{base}/api/chat", "--body", json.dumps({"scenario": name})
            )

    def frames(self, report: dict[str, Any]) -> list[dict[str, Any]]:
        chunks: list[dict[str, Any]] = report["chunks"]
        return chunks

    def client_errors_for(self, message: str | None) -> list[str]:
        return [] if message is None else [f"Error: {message}"]

    def delivered(self, report: dict[str, Any]) -> int:
        return len(report["chunks"])

    def answer(self, report: dict[str, Any]) -> Answer:
        # The `ai` client assembles a whole run into one assistant message.
        found = assistant_parts(report)
        text = "".join(p["text"] for p in found if p["type"] == "text")
        return Answer(
            text=text,
            last=text,
            tools=[
                (kind.removeprefix("tool-"), call_id, given, output)
                for kind, call_id, given, output in tool_parts(found)
            ],
            reasoning=[p["text"] for p in found if p["type"] == "reasoning"],
            handoffs=[p["data"] for p in found if p["type"] == "data-handoff"],
        )

    def _check_ready(self, report: dict[str, Any]) -> dict[str, Any]:
        chat: dict[str, Any] = report["chat"]
        assert chat["status"] == "ready" and chat["error"] is None
        assert chat["messages"][-1] == report["messages"][0]
        return chat

    def check_completed(self, report: dict[str, Any]) -> None:
        chat = self._check_ready(report)
        assert chat["finish"] == {
            "isAbort": False,
            "isDisconnect": False,
            "isError": False,
            "finishReason": "stop",
        }
        found = assistant_parts(report)
        assert all(p["state"] in ("done", "output-available") for p in found if "state" in p)

    def check_cancelled(self, report: dict[str, Any]) -> None:
        chat = self._check_ready(report)
        # useChat's isAbort means "the user pressed stop"; the server's abort part ends the
        # stream quietly, with no finish reason.
        assert report["chunks"][-1] == {"type": "abort", "reason": "cancelled"}
        assert chat["finish"]["finishReason"] is None

    def check_failed(self, report: dict[str, Any], code: str, message: str) -> None:
        chat = report["chat"]
        assert chat["status"] == "error" and message in chat["error"]


BRIDGES = (AGUIBridge(), AISDKBridge())
"""Every bridge protocol."""
each_bridge = pytest.mark.parametrize("bridge", BRIDGES, ids=[b.name for b in BRIDGES])
"""Run a test once a bridge protocol, with the protocol's `Bridge` as `bridge`."""


# Drivers


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
            if PING.encode() in sent:
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
