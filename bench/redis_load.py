"""Load on loopback: concurrent agent runs published to Redis, each read by several subscribers.

    python bench/redis_load.py                      # 1,000 runs x 2 subscribers, own redis-server
    python bench/redis_load.py --runs 200 --redis-url redis://127.0.0.1:6379/0

Two processes share the work: a producer process runs every agent (real `Runner.run_streamed` on
`ScriptedStreamModel`, paced like a model) and publishes it with `publish()`; this process runs
the subscribers (`subscribe()`) and checks that each got every event of its run exactly once, in
order. End-to-end latency is the time from an event's creation (`timestamp`, set by `normalize()`
in the producer) to its arrival at a subscriber, for the events that arrive live (a subscriber
that attached after an event was written replays it; replays are checked but not timed).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from agentstream import Done
from agentstream._eventlog import MemoryEventLog, RunNotFoundError
from agentstream._resume import publish, subscribe
from agentstream.redis import RedisEventLog


def _start_redis() -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: pass --redis-url")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [
            *(binary, "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--tcp-backlog", "4096"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if b"Ready to accept connections" in line:
            break
    else:
        raise SystemExit("redis-server did not start")
    # Keep draining its log: a full pipe would stall the server.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return process, f"redis://127.0.0.1:{port}/0"


def _agent(gate: asyncio.Event, deltas: int, delay: float, i: int) -> Any:
    from agents import Agent, function_tool

    from agentstream.testing import ScriptedStreamModel, text, tool_call, turn

    @function_tool
    async def wait_for_start() -> str:
        """Hold the run until every subscriber is attached."""
        await gate.wait()
        return "go"

    words = [f"r{i}w{j} " for j in range(deltas)]
    model = ScriptedStreamModel([turn(tool_call("wait_for_start")), turn(text(words), delay=delay)])
    return Agent(name="bench", model=model, tools=[wait_for_start])


async def produce(
    url: str, runs: int, deltas: int, delay: float, prefix: str, lease_ttl: float
) -> None:
    from agents import Runner

    log = RedisEventLog.from_url(url, prefix=prefix, lease_ttl=lease_ttl)
    gate = asyncio.Event()
    publications = []
    for i in range(runs):
        agent = _agent(gate, deltas, delay, i)
        publications.append(await publish(Runner.run_streamed(agent, "go"), log, run_id=f"b{i}"))
    print("published", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # "go": every subscriber is attached
    gate.set()
    for publication in publications:
        await publication.wait()
    failed = [p.run_id for p in publications if p.exception is not None]
    await log.aclose()
    if failed:
        raise SystemExit(f"{len(failed)} publications failed, e.g. {failed[0]}")


async def _events_per_run(deltas: int) -> int:
    from agents import Runner

    gate = asyncio.Event()
    gate.set()
    log = MemoryEventLog()
    publication = await publish(Runner.run_streamed(_agent(gate, deltas, 0, 0), "go"), log)
    done = await publication.wait()
    assert done is not None
    return done.seq + 1


async def consume(
    log: RedisEventLog,
    run_id: str,
    expected: int,
    latencies: list[float],
    gate: asyncio.Semaphore,
    ready: asyncio.Queue[None],
) -> tuple[int, bool]:
    received = []
    try:
        # Attach in waves: thousands of connections opened at once overflow the listen backlog.
        async with gate:
            attached = time.time()
            events = subscribe(log, run_id)
            received.append(await anext(events))
        ready.put_nowait(None)
        async for event in events:
            now = time.time()
            received.append(event)
            if event.timestamp / 1000 >= attached:
                latencies.append(now - event.timestamp / 1000)
    except RunNotFoundError:
        raise SystemExit(f"run {run_id} is missing") from None
    seqs = [event.seq for event in received]
    ok = (
        seqs == list(range(expected))
        and isinstance(received[-1], Done)
        and received[-1].status == "completed"
    )
    return len(received), ok


async def main(args: argparse.Namespace) -> None:
    server = None
    url = args.redis_url
    if url is None:
        server, url = _start_redis()
    prefix = f"bench{os.getpid()}"
    try:
        log = RedisEventLog.from_url(url, prefix=prefix, lease_ttl=args.lease_ttl)
        expected = await _events_per_run(args.deltas)
        latencies: list[float] = []
        gate = asyncio.Semaphore(100)
        attached: asyncio.Queue[None] = asyncio.Queue()
        producer = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--produce",
            "--redis-url",
            url,
            "--runs",
            str(args.runs),
            "--deltas",
            str(args.deltas),
            "--delay",
            str(args.delay),
            "--prefix",
            prefix,
            "--lease-ttl",
            str(args.lease_ttl),
            stdout=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.PIPE,
        )
        assert producer.stdout is not None
        # Subscribe once every run exists: each subscriber attaches while its run streams.
        if b"published" not in await producer.stdout.readline():
            raise SystemExit("the producer process failed to start")
        consumers = [
            asyncio.ensure_future(consume(log, f"b{i}", expected, latencies, gate, attached))
            for i in range(args.runs)
            for _ in range(args.subscribers)
        ]
        for _ in consumers:
            await attached.get()
        started = time.perf_counter()
        assert producer.stdin is not None
        producer.stdin.write(b"go\n")
        await producer.stdin.drain()
        try:
            results = await asyncio.gather(*consumers)
        except BaseException:
            producer.kill()
            raise
        elapsed = time.perf_counter() - started
        if await producer.wait() != 0:
            raise SystemExit("the producer process failed")
        await log.aclose()
    finally:
        if server is not None:
            server.terminate()
            server.wait()
    delivered = sum(count for count, _ in results)
    bad = sum(not ok for _, ok in results)
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    print(
        f"runs={args.runs} subscribers/run={args.subscribers} events/run={expected} "
        f"delay={args.delay} lease_ttl={args.lease_ttl}"
    )
    print(f"delivered={delivered} expected={args.runs * args.subscribers * expected} bad={bad}")
    print(f"elapsed={elapsed:.1f}s delivered/s={delivered / elapsed:,.0f}")
    print(f"written/s={args.runs * expected / elapsed:,.0f}")
    print(
        f"latency ms (live events, n={len(latencies)}): p50={pct(0.5):.1f} "
        f"p99={pct(0.99):.1f} max={latencies[-1] * 1000:.1f}"
    )
    if bad or delivered != args.runs * args.subscribers * expected:
        raise SystemExit("lost, duplicated or misordered events")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--subscribers", type=int, default=2)
    parser.add_argument("--deltas", type=int, default=20, help="text deltas per run")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds before each delta")
    parser.add_argument("--lease-ttl", type=float, default=10.0, help="producer lease seconds")
    parser.add_argument("--redis-url")
    parser.add_argument("--produce", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="bench", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.produce:
        asyncio.run(
            produce(
                arguments.redis_url,
                arguments.runs,
                arguments.deltas,
                arguments.delay,
                arguments.prefix,
                arguments.lease_ttl,
            )
        )
    else:
        asyncio.run(main(arguments))
