"""Bad requests over real HTTP: nesting, size, media type, a client that leaves or stalls mid-body.

Each test runs on both bridge endpoints and on the demo app's chat route, served by uvicorn on
127.0.0.1. A run is counted when the endpoint starts one; a refused request never does.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

import agentstream._demo
from agentstream import ConfigurationError, agui, ai_sdk

from .support.bridges import BRIDGES, Bridge
from .support.http import serve
from .support.scenarios import build_scenario

WAIT = 15.0
"""Seconds any one wait of these tests may take before it fails the test."""


@dataclass(frozen=True)
class Target:
    """An endpoint under test: how to build its app, where it listens, a valid body."""

    name: str
    path: str
    body: dict[str, Any]
    build: Callable[..., Any]
    """`build(runs, monkeypatch, **limits)`: the app; each run it starts appends to `runs`."""

    def __repr__(self) -> str:
        return self.name


def _bridge_target(bridge: Bridge) -> Target:
    def build(runs: list[object], monkeypatch: pytest.MonkeyPatch, **limits: Any) -> Any:
        agent, _, _ = build_scenario("text")

        def pick(body: object) -> Any:
            runs.append(body)
            return agent

        return bridge.app(bridge.endpoint(pick, **limits))

    return Target(bridge.name, bridge.path, dict(bridge.request), build)


def _demo_build(runs: list[object], monkeypatch: pytest.MonkeyPatch, **limits: Any) -> Any:
    started = agentstream._demo.start_demo_run

    def counted(prompt: str, **kwargs: Any) -> Any:
        runs.append(prompt)
        return started(prompt, **kwargs)

    monkeypatch.setattr(agentstream._demo, "start_demo_run", counted)
    return agentstream._demo.demo_app(token_delay=0, heartbeat=None, **limits)


DEMO = Target("demo", "/api/chat", {"prompt": "Where is A-1042?"}, _demo_build)
TARGETS = (*(_bridge_target(b) for b in BRIDGES), DEMO)
each_target = pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
each_bridge_target = pytest.mark.parametrize(
    "target", TARGETS[:-1], ids=[t.name for t in TARGETS[:-1]]
)


class Watch:
    """ASGI middleware: which client connection made each request, and how each call ended."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.clients: list[tuple[str, int]] = []
        self.errors: list[BaseException] = []
        self.finished = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.clients.append(tuple(scope["client"]))
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:
            self.errors.append(exc)
            raise
        finally:
            self.finished.set()


@pytest.fixture
def quiet_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture WARNING and up from agentstream and uvicorn (whose loggers do not propagate)."""
    caplog.set_level(logging.WARNING)
    uvicorn_logger = logging.getLogger("uvicorn")
    uvicorn_logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        uvicorn_logger.removeHandler(caplog.handler)


def nested(depth: int) -> Any:
    """A JSON value whose arrays nest `depth` deep (`nested(1) == []`)."""
    return json.loads("[" * depth + "]" * depth)


JSON = {"content-type": "application/json"}
"""The header of a JSON body sent as raw bytes."""


# Nesting


@each_target
async def test_json_nested_64_deep_is_read_and_65_deep_gets_422(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[object] = []
    app = Watch(target.build(runs, monkeypatch))
    deep = {**target.body, "state": nested(64)}
    at_limit = {**target.body, "state": nested(63)}
    async with serve(app) as base, httpx.AsyncClient(timeout=WAIT) as client:
        refused = await client.post(f"{base}{target.path}", json=deep)
        accepted = await client.post(f"{base}{target.path}", json=at_limit)
    assert refused.status_code == 422
    assert refused.json() == {"error": "the request body's JSON nests deeper than 64 levels"}
    assert accepted.status_code == 200
    assert len(runs) == 1


@each_target
async def test_deep_json_gets_422_and_the_connection_serves_the_next_request(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[object] = []
    app = Watch(target.build(runs, monkeypatch))
    raw = b"[" * 100_000 + b"]" * 100_000
    async with serve(app) as base, httpx.AsyncClient(timeout=WAIT) as client:
        refused = await client.post(f"{base}{target.path}", content=raw, headers=JSON)
        following = await client.post(f"{base}{target.path}", json=target.body)
    assert refused.status_code == 422
    assert "nests deeper than 64 levels" in refused.json()["error"]
    assert following.status_code == 200
    assert following.text
    assert app.errors == []
    assert len(app.clients) == 2 and app.clients[0] == app.clients[1], "one connection"
    assert len(runs) == 1


@each_target
async def test_json_that_does_not_parse_gets_422(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[object] = []
    app = target.build(runs, monkeypatch)
    async with serve(app) as base, httpx.AsyncClient(timeout=WAIT) as client:
        broken = await client.post(f"{base}{target.path}", content=b'{"a": ', headers=JSON)
        binary = await client.post(f"{base}{target.path}", content=b"\xff\xfe{", headers=JSON)
    for response in (broken, binary):
        assert response.status_code == 422
        assert response.json()["error"].startswith("the request body is not JSON: ")
    assert runs == []


@each_target
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
async def test_non_standard_json_numbers_get_422(
    target: Target, number: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python's json module reads NaN, Infinity and 1e999 (as inf); no JSON peer writes them.
    runs: list[object] = []
    app = target.build(runs, monkeypatch)
    body = json.dumps({**target.body, "extra": 0}).replace('"extra": 0', f'"extra": {number}')
    async with serve(app) as base, httpx.AsyncClient(timeout=WAIT) as client:
        response = await client.post(f"{base}{target.path}", content=body, headers=JSON)
    assert response.status_code == 422
    assert response.json()["error"].startswith("the request body is not JSON: ")
    assert runs == []


# Size


@each_target
async def test_a_body_over_the_limit_gets_413_declared_or_streamed(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[object] = []
    limit = 1024 * 1024 if target is DEMO else 100
    app = (
        target.build(runs, monkeypatch)
        if target is DEMO
        else target.build(runs, monkeypatch, max_body_bytes=limit)
    )
    raw = json.dumps({**target.body, "pad": "x" * limit}).encode()

    async def chunked() -> Any:
        for i in range(0, len(raw), 64 * 1024):
            yield raw[i : i + 64 * 1024]

    app = Watch(app)
    async with serve(app) as base, httpx.AsyncClient(timeout=WAIT) as client:
        declared = await client.post(f"{base}{target.path}", content=raw, headers=JSON)
        streamed = await client.post(f"{base}{target.path}", content=chunked(), headers=JSON)
        following = await client.post(f"{base}{target.path}", json=target.body)
    assert "content-length" not in streamed.request.headers
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json() == {"error": f"the request body is larger than {limit} bytes"}
    assert following.status_code == 200
    assert len(runs) == 1
    assert app.errors == []


# Media type


@pytest.mark.parametrize(
    "kind",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "none"],
)
@each_target
async def test_a_body_not_sent_as_json_gets_415(
    target: Target, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[object] = []
    app = target.build(runs, monkeypatch)
    raw = json.dumps(target.body).encode()
    async with serve(app) as base, httpx.AsyncClient(timeout=WAIT) as client:
        url = f"{base}{target.path}"
        if kind == "application/x-www-form-urlencoded":
            response = await client.post(url, data={"prompt": "A-1042"})
        elif kind == "multipart/form-data":
            response = await client.post(url, files={"prompt": ("p.json", raw)})
        elif kind == "none":
            response = await client.post(url, content=raw)
        else:
            response = await client.post(url, content=raw, headers={"content-type": kind})
    assert response.status_code == 415
    assert response.json()["error"].startswith("the request body must be JSON (application/json)")
    assert runs == []


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"],
)
@each_target
async def test_json_media_types_and_their_parameters_are_accepted(
    target: Target, content_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[object] = []
    app = target.build(runs, monkeypatch)
    raw = json.dumps(target.body).encode()
    async with serve(app) as base, httpx.AsyncClient(timeout=WAIT) as client:
        response = await client.post(
            f"{base}{target.path}", content=raw, headers={"content-type": content_type}
        )
    assert response.status_code == 200
    assert len(runs) == 1


@each_bridge_target
async def test_the_accepted_media_types_are_configurable(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[object] = []
    raw = json.dumps(target.body).encode()
    plain_only = target.build(runs, monkeypatch, content_types=["text/plain"])
    anything = target.build(runs, monkeypatch, content_types=None)
    async with serve(plain_only) as base, httpx.AsyncClient(timeout=WAIT) as client:
        plain = await client.post(
            f"{base}{target.path}", content=raw, headers={"content-type": "text/plain"}
        )
        json_now_refused = await client.post(f"{base}{target.path}", content=raw, headers=JSON)
    async with serve(anything) as base, httpx.AsyncClient(timeout=WAIT) as client:
        untyped = await client.post(f"{base}{target.path}", content=raw)
    assert plain.status_code == 200
    assert json_now_refused.status_code == 415
    assert untyped.status_code == 200
    assert len(runs) == 2


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("application/json", "content_types must be a non-empty list"),
        ([], "content_types must be a non-empty list"),
        (["json"], "content_types holds 'json'"),
        (["application/json; charset=utf-8"], "content_types holds"),
        ([1], "content_types holds 1"),
    ],
)
@pytest.mark.parametrize("factory", [agui.endpoint, ai_sdk.endpoint], ids=["agui", "ai_sdk"])
def test_bad_content_types_are_named(factory: Any, value: Any, message: str) -> None:
    agent, _, _ = build_scenario("text")
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[")):
        factory(agent, content_types=value)


@pytest.mark.parametrize("value", [0, -1, float("nan"), True, "5"])
@pytest.mark.parametrize("factory", [agui.endpoint, ai_sdk.endpoint], ids=["agui", "ai_sdk"])
def test_a_bad_read_timeout_is_named(factory: Any, value: Any) -> None:
    agent, _, _ = build_scenario("text")
    with pytest.raises(ConfigurationError, match="read_timeout must be"):
        factory(agent, read_timeout=value)


# A client that leaves or stalls mid-body


async def _send_head(base: str, target: Target, length: int, part: bytes) -> Any:
    """Open a connection and send a request's head and the first `part` of its body."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST {target.path} HTTP/1.1\r\nhost: {host}\r\n"
        f"content-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    )
    writer.write(head.encode() + part)
    await writer.drain()
    return reader, writer


@each_target
async def test_a_client_that_leaves_mid_body_is_not_an_error(
    target: Target, quiet_logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[object] = []
    app = Watch(target.build(runs, monkeypatch))
    raw = json.dumps({**target.body, "pad": "x" * 1000}).encode()
    async with serve(app) as base:
        _, writer = await _send_head(base, target, len(raw), raw[: len(raw) // 2])
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), WAIT)
        await asyncio.wait_for(app.finished.wait(), WAIT)
    assert app.errors == []
    assert runs == []
    assert [r.getMessage() for r in quiet_logs.records if r.levelno >= logging.WARNING] == []


@each_target
async def test_a_stalled_body_gets_408_and_the_connection_closes(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[object] = []
    app = Watch(target.build(runs, monkeypatch, read_timeout=0.2))
    raw = json.dumps(target.body).encode()
    async with serve(app) as base:
        reader, writer = await _send_head(base, target, len(raw), raw[:5])
        try:
            # Everything the server sends, to the end of the connection.
            answer = await asyncio.wait_for(reader.read(), WAIT)
        finally:
            writer.close()
        await asyncio.wait_for(app.finished.wait(), WAIT)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in head.lower()
    assert json.loads(body) == {"error": "the request body took over 0.2 s"}
    assert app.errors == []
    assert runs == []


async def test_the_demo_websocket_closes_on_deep_json_with_1007(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import websockets

    runs: list[object] = []
    app = Watch(DEMO.build(runs, monkeypatch))
    async with serve(app) as base:
        url = base.replace("http://", "ws://") + "/api/ws"
        async with websockets.connect(url) as ws:
            await ws.send("[" * 100_000 + "]" * 100_000)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), WAIT)
        await asyncio.wait_for(app.finished.wait(), WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    assert app.errors == []
    assert runs == []


# The demo page's SSE parser, run by Node on the shipped script

PARSER_HARNESS = """
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const source = input.script.slice(
  input.script.indexOf("export function createSSEParser"),
  input.script.indexOf("const $ = "),
).replace("export function", "function");
const createSSEParser = new Function(`${source}; return createSSEParser;`)();
const results = input.feeds.map((chunks) => {
  const events = [];
  const parser = createSSEParser((e) => events.push(e), input.options);
  try {
    for (const chunk of chunks) parser.feed(chunk);
    return { events };
  } catch (err) {
    return { events, error: String(err.message) };
  }
});
process.stdout.write(JSON.stringify(results));
"""


async def _parse_with_page(feeds: list[list[str]], **options: Any) -> list[dict[str, Any]]:
    from importlib import resources

    from .support.node import HAVE_NODE

    if not HAVE_NODE:
        pytest.skip("needs node")
    script = (resources.files("agentstream") / "static" / "chat.js").read_text("utf-8")
    process = await asyncio.create_subprocess_exec(
        "node",
        "-e",
        PARSER_HARNESS,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    payload = json.dumps({"script": script, "feeds": feeds, "options": options}).encode()
    out, err = await asyncio.wait_for(process.communicate(payload), WAIT * 4)
    assert process.returncode == 0, err.decode()[-2000:]
    results: list[dict[str, Any]] = json.loads(out)
    return results


STREAM = (
    ': ping\r\n\r\nevent: a\r\ndata: {"x": 1}\r\nid: 1\r\n\r\n'
    "event: b\rdata: one\rdata: two\r\r"
    "data:no space\nid: 2\n\n: ping\n\nevent: c\ndata\n\n"
)
EVENTS = [
    {"event": "a", "data": '{"x": 1}', "id": "1"},
    {"event": "b", "data": "one\ntwo", "id": "1"},
    {"event": "message", "data": "no space", "id": "2"},
    {"event": "c", "data": "", "id": "2"},
]


async def test_the_page_parser_reads_frames_split_anywhere() -> None:
    feeds = [[STREAM], list(STREAM)]
    feeds += [[STREAM[:i], STREAM[i:]] for i in range(1, len(STREAM))]
    feeds += [[STREAM[:i], "", STREAM[i : i + 3], STREAM[i + 3 :]] for i in range(len(STREAM))]
    results = await _parse_with_page(feeds)
    assert all(result == {"events": EVENTS} for result in results)


async def test_the_page_parser_reads_a_large_frame_in_small_chunks_and_refuses_past_its_limit() -> (
    None
):
    data = "y" * 4_000_000
    frame = f"event: big\ndata: {data}\n\n"
    chunks = [frame[i : i + 1000] for i in range(0, len(frame), 1000)]
    big, small = await _parse_with_page([chunks, ["data: 0123456789\n\n"]])
    assert big == {"events": [{"event": "big", "data": data, "id": ""}]}
    refused = await _parse_with_page([chunks, [f"data: {'z' * 101}"]], maxChars=100)
    assert refused[0] == {
        "events": [],
        "error": "an SSE line or event is longer than 100 characters",
    }
    assert refused[1] == refused[0]
    assert small == {"events": [{"event": "message", "data": "0123456789", "id": ""}]}
