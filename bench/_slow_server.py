"""The measured server of the slow-client benchmark: `python -m bench._slow_server MODEL_URL BOUND`.

A Starlette app under uvicorn on 127.0.0.1 (a random port), as a service runs it: `POST /run`
answers `stream_response(Runner.run_streamed(agent))`, the agent's model the SDK's own
`OpenAIResponsesModel` over HTTP from the model server at MODEL_URL (another process). BOUND is
`default` (the responses' own `max_backlog`) or `none` (`max_backlog=None`: no bound, the
behaviour before the bound). It prints its base URL, then one line per run when the run's loop
task ends (`ended completed` or `ended cancelled`), and stops when its stdin closes.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import asyncio
import socket
import sys
from typing import TYPE_CHECKING, Any

import uvicorn
from agents import Agent, OpenAIResponsesModel, Runner
from openai import AsyncOpenAI
from starlette.applications import Starlette
from starlette.routing import Route

from agentstream._reader import run_task
from agentstream.web import stream_response

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response


def app(model_url: str, bound: str) -> Starlette:
    client = AsyncOpenAI(base_url=model_url, api_key="bench", max_retries=0)
    agent = Agent(name="writer", model=OpenAIResponsesModel("bench-model", client))
    options: dict[str, Any] = {} if bound == "default" else {"max_backlog": None}
    watchers: set[asyncio.Task[None]] = set()

    async def report(task: Any) -> None:
        await asyncio.wait({task})
        print("ended", "cancelled" if task.cancelled() else "completed", flush=True)

    async def run(request: Request) -> Response:
        result = Runner.run_streamed(agent, "go")
        watcher = asyncio.create_task(report(run_task(result)))
        watchers.add(watcher)
        watcher.add_done_callback(watchers.discard)
        return stream_response(result, heartbeat=None, **options)

    return Starlette(routes=[Route("/run", run, methods=["POST"])])


async def main(model_url: str, bound: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(app(model_url, bound), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.should_exit = True
    server.force_exit = True
    await task


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
