"""Backpressure: a consumer that does not keep up holds a bounded backlog, then its stream ends.

The reader drains the SDK at once (the SDK drops queued events when a run fails), so the bound is
on what waits for the consumer: past half of `max_backlog` the reader gives the consumer a turn
after each event (a burst read by a fast consumer never reaches the bound), past `max_backlog`
the waiting events are dropped, the run is cancelled and the stream ends with exactly one
`Done(status="error")`, `error.type` `SlowConsumerError`, right after what was handed out.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import asyncio
import logging
import socket
from typing import Any

import h11
import pytest
from agents import Agent, Runner
from agents.result import RunResultStreaming
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentstream import (
    ConfigurationError,
    Done,
    Event,
    SlowConsumerError,
    TextDelta,
    normalize,
    parse_event,
)
from agentstream._reader import EVENT_COST, run_task
from agentstream._sse import SSEDecoder
from agentstream.ai_sdk import endpoint as ai_sdk_endpoint
from agentstream.testing import ScriptedStreamModel, text, turn
from agentstream.web import SERVED_MAX_BACKLOG, stream_response
from tests.support.checks import assert_well_formed
from tests.support.http import serve

WAIT = 30.0
"""Seconds a test waits for something that happens at once on a working build."""
BOUND = 100_000
"""A small `max_backlog`: about 48 waiting events of 8 characters."""


def _run(n: int, size: int = 8, delay: float = 0.0) -> RunResultStreaming:
    """A run whose one message is `n` deltas of `size` characters, `delay` seconds apart.

    With no delay the model plays its whole turn in one go (a burst); with one, the run is
    still going while a slow consumer falls behind, as with a model over the network.
    """
    tokens = [f"{i:0{size}d}" for i in range(n)]
    model = ScriptedStreamModel([turn(text(tokens), delay=delay)])
    return Runner.run_streamed(Agent(name="writer", model=model), "go")


async def _ended(result: RunResultStreaming) -> None:
    """Wait until the run's loop task has finished, however it ended."""
    task = run_task(result)
    assert isinstance(task, asyncio.Future)
    await asyncio.wait_for(asyncio.wait({task}), WAIT)


async def test_a_consumer_that_stops_reading_ends_with_slow_consumer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = _run(20_000, delay=0.0001)
    stream = normalize(result, max_backlog=BOUND, run_id="slow")
    events: list[Event] = [await stream.__anext__()]
    with caplog.at_level(logging.WARNING, logger="agentstream"):
        await _ended(result)  # the consumer reads nothing meanwhile
        events += [event async for event in stream]
    done = assert_well_formed(events)
    assert done.status == "error"
    assert done.error is not None
    assert done.error.type == "SlowConsumerError"
    assert done.error.message == "the client did not keep up with the run"
    assert isinstance(stream.exception, SlowConsumerError)
    assert run_task(result).cancelled()
    deltas = [e for e in events if isinstance(e, TextDelta)]
    # What waited was dropped: at most one mapped batch reaches the consumer after the bound.
    assert 0 < len(deltas) <= BOUND // EVENT_COST + 256
    assert done.partial_text == "".join(d.delta for d in deltas)
    assert any(f"max_backlog={BOUND}" in r.getMessage() for r in caplog.records)


async def test_a_burst_read_by_a_fast_consumer_never_reaches_the_bound() -> None:
    n = 20_000
    stream = normalize(_run(n), max_backlog=BOUND)
    events = await stream.collect()
    done = assert_well_formed(events)
    assert done.status == "completed"
    deltas = [e.delta for e in events if isinstance(e, TextDelta)]
    assert deltas == [f"{i:08d}" for i in range(n)]


async def test_without_a_bound_nothing_is_dropped_however_far_behind() -> None:
    result = _run(5_000)
    stream = normalize(result)
    first = await stream.__anext__()
    await _ended(result)
    events = [first, *[event async for event in stream]]
    assert assert_well_formed(events).status == "completed"
    assert len([e for e in events if isinstance(e, TextDelta)]) == 5_000


@pytest.mark.parametrize("value", [0, -1, True, 2.5, "8"])
async def test_max_backlog_must_be_a_positive_int(value: Any) -> None:
    result = _run(1)
    with pytest.raises(ConfigurationError, match="max_backlog"):
        normalize(result, max_backlog=value)
    await normalize(result).collect()


# Over real HTTP: a client that stops reading


async def _stalled_client(base_url: str, path: str, body: bytes, ended: asyncio.Event) -> bytes:
    """POST `body`, read nothing until `ended` is set, then read the whole answer.

    The socket's receive buffer is small, so the server's writes soon wait for the client.
    """
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    client = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="POST",
        target=path,
        headers=[
            ("host", host),
            ("content-type", "application/json"),
            ("content-length", str(len(body))),
            ("connection", "close"),
        ],
    )
    writer.write(client.send(request) + client.send(h11.Data(data=body)))
    writer.write(client.send(h11.EndOfMessage()))
    await writer.drain()
    await asyncio.wait_for(ended.wait(), WAIT)
    received = bytearray()
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), WAIT)
            if not chunk:
                break
            client.receive_data(chunk)
            while True:
                event = client.next_event()
                if event is h11.NEED_DATA or isinstance(event, h11.EndOfMessage):
                    break
                if isinstance(event, h11.Response):
                    assert event.status_code == 200
                elif isinstance(event, h11.Data):
                    received += event.data
    finally:
        writer.close()
    return bytes(received)


def _sse_events(body: bytes) -> list[Event]:
    decoder = SSEDecoder()
    events = [parse_event(frame.data) for frame in decoder.feed(body)]
    decoder.close()
    return events


async def test_a_stalled_http_client_is_ended_at_the_default_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    n = 20_000  # 20 MB of text: past the kernel's buffers and the 16 MiB bound
    runs: list[RunResultStreaming] = []
    started, ended = asyncio.Event(), asyncio.Event()

    async def stream(request: Request) -> Response:
        runs.append(_run(n, size=1000, delay=0.00001))
        started.set()
        return stream_response(runs[-1], heartbeat=None)

    async def watch() -> None:
        await asyncio.wait_for(started.wait(), WAIT)
        await _ended(runs[0])
        ended.set()

    app = Starlette(routes=[Route("/stream", stream, methods=["POST"])])
    with caplog.at_level(logging.WARNING, logger="agentstream"):
        async with serve(app) as base_url:
            watcher = asyncio.create_task(watch())
            body = await _stalled_client(base_url, "/stream", b"{}", ended)
            await watcher
    events = _sse_events(body)
    done = assert_well_formed(events)
    assert isinstance(done, Done)
    assert done.status == "error"
    assert done.error is not None
    assert done.error.type == "SlowConsumerError"
    assert run_task(runs[0]).cancelled()
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) < n
    assert any(f"max_backlog={SERVED_MAX_BACKLOG}" in r.getMessage() for r in caplog.records)


async def test_the_ai_sdk_endpoint_ends_a_stalled_client_with_an_error_part() -> None:
    n = 4_000
    model = ScriptedStreamModel([turn(text([f"{i:01000d}" for i in range(n)]), delay=0.0001)])
    ended = asyncio.Event()
    cancelled: list[bool] = []

    class Watched(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if f"max_backlog={BOUND}" in record.getMessage():
                cancelled.append(True)
                ended.set()

    handler = Watched(logging.WARNING)
    logging.getLogger("agentstream").addHandler(handler)
    try:
        endpoint = ai_sdk_endpoint(Agent(name="writer", model=model), max_backlog=BOUND)
        app = Starlette(routes=[Route("/chat", endpoint, methods=["POST"])])
        request = b'{"messages":[{"id":"u1","role":"user","parts":[{"type":"text","text":"go"}]}]}'
        async with serve(app) as base_url:
            body = await _stalled_client(base_url, "/chat", request, ended)
    finally:
        logging.getLogger("agentstream").removeHandler(handler)
    assert cancelled == [True]
    frames = [line for line in body.decode().split("\n\n") if line.startswith("data: ")]
    assert frames[-2:] == ['data: {"type":"finish","finishReason":"error"}', "data: [DONE]"]
    errors = [frame for frame in frames if '"type":"error"' in frame]
    assert len(errors) == 1
    assert "the client did not keep up with the run" in errors[0]
    assert sum('"type":"text-delta"' in frame for frame in frames) < n


async def test_the_bound_counts_the_text_of_large_deltas() -> None:
    # 200 deltas of 100,000 characters: 20 events would be 2 MB, far past a 1 MB bound.
    result = _run(200, size=100_000, delay=0.0001)
    stream = normalize(result, max_backlog=1_000_000)
    events: list[Event] = [await stream.__anext__()]
    await _ended(result)
    events += [event async for event in stream]
    done = assert_well_formed(events)
    assert done.error is not None
    assert done.error.type == "SlowConsumerError"
    assert len([e for e in events if isinstance(e, TextDelta)]) <= 1 + 1_000_000 // 100_000
