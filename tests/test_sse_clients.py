"""The same SSE read by independent parsers: ours, httpx-sse (PyPI) and eventsource-parser (npm).

Plus the httpx client (`aiter_events`, `iter_events`) against a real uvicorn server.
"""

from __future__ import annotations

import codecs
import json
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx_sse
import pytest
import uvicorn
from agents import Agent, Runner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from agentstream import (
    ConfigurationError,
    DecodeError,
    Done,
    ErrorInfo,
    Event,
    Handoff,
    MessageOutput,
    MissingExtraError,
    TextDelta,
    ToolCalled,
    ToolOutput,
    normalize,
)
from agentstream._client import aiter_events, iter_events
from agentstream._ndjson import to_ndjson
from agentstream._sse import PING, SSEDecoder, to_sse
from agentstream.testing import ScriptedStreamModel, handoff, text, tool_call

from .support.checks import assert_well_formed
from .support.scenarios import get_weather

BOUND = 30.0
ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "clients"

NASTY = [
    "plain",
    "line\nbreaks\r\nand\rcarriage returns",
    "\n\ndata: {forged}\n\nevent: done\nid: 99\n\n",
    "unicode line separators \u2028 \u2029 \x85 and NUL \0 and \x0b\x0c\x1c",
    "emoji 😀👩‍👩‍👧 and CJK 中文 and a BOM \ufeff inside",
    ": looks like a comment",
    "",
    "x" * 5000,
]
RUN = {"run_id": "run-\u2028-😀", "timestamp": 1_700_000_000_000}


def nasty_events() -> list[Event]:
    events: list[Event] = []
    for value in NASTY:
        events.append(TextDelta(seq=len(events), agent="tri\nage", delta=value, **RUN))
    events.append(
        ToolCalled(seq=len(events), call_id="c\r1", name="n", arguments='{"a": "\\n"}', **RUN)
    )
    events.append(ToolOutput(seq=len(events), call_id="c\r1", output={"k": ["\n", 1.5]}, **RUN))
    events.append(Handoff(seq=len(events), from_agent="a", to_agent="b\0", **RUN))
    events.append(MessageOutput(seq=len(events), text="".join(NASTY), **RUN))
    events.append(
        Done(
            seq=len(events),
            status="error",
            error=ErrorInfo(type="RuntimeError", message="bad\r\n\r\ndata: x"),
            partial_text="\r",
            **RUN,
        )
    )
    return events


async def aiter_list(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


async def sse_body(events: list[Event]) -> str:
    frames = [f async for f in to_sse(aiter_list(events), heartbeat=None, retry=3000)]
    # A heartbeat between every two frames, as a slow run would have them.
    return PING.join(frames)


def ours(body: bytes) -> list[dict[str, Any]]:
    decoder = SSEDecoder()
    events = decoder.feed(body)
    decoder.close()
    return [{"event": e.event, "id": e.id, "data": e.data} for e in events]


def without_empty_dispatches(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop the events httpx-sse dispatches for blocks without data (our `retry:` block).

    WHATWG dispatches no event for a block without `data:`; httpx-sse does when the block set
    `retry` or `id`. Our frames always have data, so only the retry block is affected.
    """
    return [e for e in events if not (e["event"] == "message" and e["data"] == "")]


def with_httpx_sse(body: bytes) -> list[dict[str, Any]]:
    """httpx-sse's own line splitter and decoder, fed the body in 7-byte chunks."""
    from httpx_sse._decoders import SSEDecoder as HxDecoder
    from httpx_sse._decoders import SSELineDecoder

    lines = SSELineDecoder()
    decoder = HxDecoder()
    out = []
    text_decoder = codecs.getincrementaldecoder("utf-8")()
    texts = [text_decoder.decode(body[i : i + 7]) for i in range(0, len(body), 7)]
    texts.append(text_decoder.decode(b"", final=True))
    for line in [line for t in texts if t for line in lines.decode(t)] + lines.flush():
        sse = decoder.decode(line)
        if sse is not None:
            out.append({"event": sse.event, "id": sse.id, "data": sse.data})
    return out


async def test_httpx_sse_reads_the_same_events() -> None:
    body = (await sse_body(nasty_events())).encode()
    expected = ours(body)
    assert len(expected) == len(nasty_events())
    assert without_empty_dispatches(with_httpx_sse(body)) == expected


def node_ready() -> bool:
    return shutil.which("node") is not None and (CLIENTS / "node_modules").is_dir()


def with_eventsource_parser(body: bytes, chunk_size: int) -> list[dict[str, Any]]:
    proc = subprocess.run(
        ["node", str(CLIENTS / "sse_parse.mjs"), "--chunk-size", str(chunk_size), "--strict"],
        input=body,
        capture_output=True,
        timeout=BOUND,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = []
    # split on LF only: JSON.stringify leaves U+2028 raw, and str.splitlines() would cut there
    for line in proc.stdout.decode().split("\n")[:-1]:
        obj = json.loads(line)
        if "retry" in obj:
            assert obj == {"retry": 3000}
            continue
        out.append({"event": obj["event"] or "message", "id": obj["id"] or "", "data": obj["data"]})
    return out


@pytest.mark.node
@pytest.mark.skipif(not node_ready(), reason="needs node and clients/node_modules")
@pytest.mark.parametrize("chunk_size", [1, 5, 65536])
async def test_eventsource_parser_reads_the_same_events(chunk_size: int) -> None:
    body = (await sse_body(nasty_events())).encode()
    assert with_eventsource_parser(body, chunk_size) == ours(body)


WHATWG_BODIES = [
    "data: YHOO\ndata: +2\ndata: 10\n\n",
    ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n",
    "data\n\ndata\ndata\n\ndata:",
    "data:test\n\ndata: test\n\n",
    "\ufeffevent: a\r\ndata: 1\r\rdata: 2\n\r\n",
    "event: x\ndata: a\n\nevent\ndata: b\n\n",
]


@pytest.mark.node
@pytest.mark.skipif(not node_ready(), reason="needs node and clients/node_modules")
@pytest.mark.parametrize("body", WHATWG_BODIES)
def test_eventsource_parser_agrees_on_general_sse(body: str) -> None:
    raw = body.encode()
    theirs = with_eventsource_parser(raw, 1)
    mine = ours(raw)
    # eventsource-parser reports an id only on the event whose block set it; WHATWG (and we)
    # carry the last id over. Compare ids where theirs has one.
    assert [(e["event"], e["data"]) for e in theirs] == [(e["event"], e["data"]) for e in mine]
    for a, b in zip(theirs, mine, strict=True):
        if a["id"]:
            assert a["id"] == b["id"]


# A real server: uvicorn on 127.0.0.1, in its own thread and event loop


def weather_run(prompt: str) -> Any:
    model = ScriptedStreamModel(
        [tool_call("get_weather", {"city": "Paris"}), handoff("billing"), text(prompt)]
    )
    billing = Agent(name="billing", model=model)
    triage = Agent(name="triage", model=model, tools=[get_weather], handoffs=[billing])
    return Runner.run_streamed(triage, "weather, then billing?")


async def run_sse(request: Request) -> Response:
    stream = normalize(weather_run(request.query_params.get("say", "Paid.")))
    return StreamingResponse(to_sse(stream, heartbeat=0.05), media_type="text/event-stream")


async def run_ndjson(request: Request) -> Response:
    stream = normalize(weather_run(request.query_params.get("say", "Paid.")))
    return StreamingResponse(to_ndjson(stream), media_type="application/x-ndjson")


async def fixed_sse(request: Request) -> Response:
    body = await sse_body(nasty_events())
    return Response(body, media_type="text/event-stream")


async def html(request: Request) -> Response:
    return PlainTextResponse("<html>", media_type="text/html")


async def broken(request: Request) -> Response:
    return PlainTextResponse("no", status_code=503)


APP = Starlette(
    routes=[
        Route("/run.sse", run_sse),
        Route("/run.ndjson", run_ndjson),
        Route("/fixed.sse", fixed_sse),
        Route("/page", html),
        Route("/broken", broken),
    ]
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # listening before uvicorn starts: early connections wait in the backlog
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(APP, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(BOUND)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


# Every network wait below is bounded by the httpx client's timeout (connect, read, write).


async def test_httpx_sse_event_source_over_a_real_server(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=BOUND) as client:
        async with httpx_sse.aconnect_sse(client, "GET", "/fixed.sse") as source:
            theirs = [
                {"event": e.event, "id": e.id, "data": e.data} async for e in source.aiter_sse()
            ]
        async with client.stream("GET", "/fixed.sse") as response:
            events = [e async for e in aiter_events(response, strict_types=True)]
    assert events == nasty_events()
    assert without_empty_dispatches(theirs) == [
        {"event": e.type, "id": str(e.seq), "data": e.model_dump_json()} for e in events
    ]


async def test_aiter_events_reads_a_live_run_over_sse_and_ndjson(base_url: str) -> None:
    for path in ("/run.sse", "/run.ndjson"):
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=BOUND) as client,
            client.stream("GET", path, params={"say": "Your invoice is paid."}) as response,
        ):
            events = [e async for e in aiter_events(response)]
        done = assert_well_formed(events)
        assert done.status == "completed", path
        assert done.final_output == "Your invoice is paid."
        assert [e.type for e in events].count("handoff") == 1


def test_iter_events_with_a_sync_client(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=BOUND) as client:
        with client.stream("GET", "/fixed.sse") as response:
            assert list(iter_events(response)) == nasty_events()
        with client.stream("GET", "/run.ndjson", params={"say": "ok"}) as response:
            events = list(iter_events(response))
    assert assert_well_formed(events).final_output == "ok"


async def test_the_client_refuses_other_content_and_error_statuses(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=BOUND) as client:
        async with client.stream("GET", "/page") as response:
            with pytest.raises(DecodeError, match="got Content-Type 'text/html"):
                aiter_events(response)
        async with client.stream("GET", "/broken") as response:
            with pytest.raises(httpx.HTTPStatusError):
                aiter_events(response)
    with pytest.raises(ConfigurationError, match=r"expected an httpx.Response, got str"):
        aiter_events("http://example.invalid")  # type: ignore[arg-type]


def test_missing_httpx_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'agentstream\[httpx\]'"):
        iter_events(object())  # type: ignore[arg-type]
