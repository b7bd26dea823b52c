"""The server side of the HTTP benchmark: `python -m bench._server KIND`, on 127.0.0.1 only.

KIND is `agentstream` (`agentstream.web.stream_response` over a real run), `core` (`to_sse(
normalize(run))` in a plain Starlette `StreamingResponse`), or `naive` (the SDK's raw events,
each serialized by hand with `model_dump_json`/`json.dumps`, in a `StreamingResponse`). The
server prints its port, serves `GET /stream?n=N` and `GET /rss` (peak resident memory), and
exits when its stdin closes, so it never outlives the benchmark.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ._common import delta_run

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.requests import Request


def peak_rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def naive_json(event: Any) -> str:
    if event.type == "raw_response_event":
        return str(event.data.model_dump_json())
    if event.type == "run_item_stream_event":
        raw = event.item.raw_item
        item = raw.model_dump(mode="json") if hasattr(raw, "model_dump") else raw
        return json.dumps({"type": event.type, "name": event.name, "item": item}, default=str)
    return json.dumps({"type": event.type, "agent": event.new_agent.name})


async def naive_frames(n: int) -> AsyncIterator[str]:
    result = delta_run(n)
    try:
        async for event in result.stream_events():
            yield f"data: {naive_json(event)}\n\n"
    finally:
        result.cancel()


def app_for(kind: str) -> Starlette:
    async def stream(request: Request) -> Response:
        n = int(request.query_params.get("n", "500"))
        if kind == "naive":
            return StreamingResponse(naive_frames(n), media_type="text/event-stream")
        if kind == "core":
            from agentstream import normalize
            from agentstream._sse import to_sse

            return StreamingResponse(
                to_sse(normalize(delta_run(n))), media_type="text/event-stream"
            )
        from agentstream.web import stream_response

        return stream_response(delta_run(n))

    async def rss(request: Request) -> Response:
        return JSONResponse({"peak_rss_kib": peak_rss_kib()})

    return Starlette(routes=[Route("/stream", stream), Route("/rss", rss)])


async def serve(kind: str) -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app_for(kind),
        log_level="warning",
        access_log=False,
        backlog=4096,
        lifespan="off",
        timeout_keep_alive=300,
    )
    server = uvicorn.Server(config)
    loop = asyncio.get_running_loop()
    task = loop.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    print(sock.getsockname()[1], flush=True)
    # Stop when the parent closes our stdin (or dies).
    await loop.run_in_executor(None, sys.stdin.read)
    server.should_exit = True
    await task


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
