"""The measured process of the real-wire benchmark: `python -m bench._wire_run URL N PAIRS`.

It holds what a service holds: the `openai` client, the Agents SDK and agentstream, and no
server. Every run is `Runner.run_streamed` on an agent whose model is the SDK's own
`OpenAIResponsesModel`, streaming N text deltas over HTTP from the server at URL (another
process, `bench/_wire_server.py`), through one `AsyncOpenAI` client kept for all runs, as a
service keeps it. `bare` iterates `result.stream_events()`; `ours` iterates
`to_sse(normalize(result))`. One run of each, checked, warms up; then PAIRS pairs, the order
alternating, each run timed in CPU (`time.process_time()`) and wall time. Prints the figures as
JSON, with what this process loaded and whether it listens on any socket.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import asyncio
import gc
import json
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from agents import Agent, OpenAIResponsesModel, Runner
from openai import AsyncOpenAI

# What the SDK and the client load by themselves (the SDK's MCP support brings Starlette and
# uvicorn, which a service using the SDK holds too), to tell it apart from what agentstream adds.
WITH_SDK = frozenset(sys.modules)

from agentstream import normalize, to_sse  # noqa: E402

WITH_AGENTSTREAM = frozenset(sys.modules)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

SERVER_MODULES = ("agentstream.testing", "bench._wire_server", "bench._server")
"""The modules of a server: none of them may be loaded here."""
WEB_STACK = ("starlette", "uvicorn", "sse_starlette", "fastapi")
"""A web server's packages (not h11, which is also the HTTP client's parser)."""


async def bare(agent: Agent[Any]) -> None:
    async for _ in Runner.run_streamed(agent, "go").stream_events():
        pass


async def ours(agent: Agent[Any]) -> None:
    async for _ in to_sse(normalize(Runner.run_streamed(agent, "go"))):
        pass


async def check_bare(agent: Agent[Any]) -> int:
    """One bare run: how many text deltas it streamed."""
    deltas = 0
    async for event in Runner.run_streamed(agent, "go").stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            deltas += 1
    return deltas


async def check_ours(agent: Agent[Any]) -> tuple[int, bool]:
    """One run of ours: how many `text_delta` frames, and whether a completed `done` ends it."""
    frames = [frame async for frame in to_sse(normalize(Runner.run_streamed(agent, "go")))]
    deltas = sum("\nevent: text_delta\n" in frame for frame in frames)
    last = frames[-1] if frames else ""
    return deltas, "\nevent: done\n" in last and '"status":"completed"' in last


def make_agent(client: AsyncOpenAI) -> Agent[Any]:
    return Agent(name="bench", model=OpenAIResponsesModel(model="bench", openai_client=client))


async def rounds(
    agent: Agent[Any], sides: dict[str, Callable[[Agent[Any]], Awaitable[None]]], count: int
) -> dict[str, dict[str, list[float]]]:
    """Time every side once per round, the order reversed every other round."""
    names = list(sides)
    times: dict[str, dict[str, list[float]]] = {name: {"cpu": [], "wall": []} for name in names}
    for i in range(count):
        for name in names if i % 2 == 0 else names[::-1]:
            gc.collect()
            cpu, wall = time.process_time(), time.perf_counter()
            await sides[name](agent)
            times[name]["cpu"].append(time.process_time() - cpu)
            times[name]["wall"].append(time.perf_counter() - wall)
    return times


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""  # closed since the listing (the listing's own descriptor)


def listening_sockets() -> int | None:
    """How many listening TCP sockets this process holds; None where /proc cannot tell."""
    try:
        mine = {_link(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}
        listening = set()
        for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
            with open(table, encoding="ascii") as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A":  # TCP_LISTEN
                        listening.add(f"socket:[{fields[9]}]")
    except OSError:
        return None
    return len(mine & listening)


def loaded() -> dict[str, Any]:
    """What this process loaded: no server module, and where the web stack came from."""
    now = frozenset(sys.modules)

    def packages(names: frozenset[str]) -> list[str]:
        return sorted({name.split(".")[0] for name in names})

    return {
        "server_modules": sorted(m for m in now if m.startswith(SERVER_MODULES)),
        "web_stack": sorted(p for p in packages(now) if p in WEB_STACK),
        "web_stack_from_sdk": sorted(p for p in packages(WITH_SDK) if p in WEB_STACK),
        "agentstream_adds": packages(WITH_AGENTSTREAM - WITH_SDK),
        "loaded_while_running": packages(now - WITH_AGENTSTREAM),
        "listening_sockets": listening_sockets(),
        "threads": threading.active_count(),
    }


async def main(url: str, n: int, pairs: int) -> dict[str, Any]:
    async with AsyncOpenAI(base_url=url, api_key="bench", max_retries=0) as client:
        agent = make_agent(client)
        bare_deltas = await check_bare(agent)
        ours_deltas, done = await check_ours(agent)
        times = await rounds(agent, {"bare": bare, "ours": ours}, pairs)
    return {
        "deltas": n,
        "checks": {"bare_deltas": bare_deltas, "ours_deltas": ours_deltas, "ours_done": done},
        "times": times,
        "process": loaded(),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))))
