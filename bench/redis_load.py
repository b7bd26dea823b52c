"""Load on loopback: concurrent agent runs published to Redis, each read by several subscribers.

    python bench/redis_load.py                      # 1,000 runs x 2 subscribers, own redis-server
    python bench/redis_load.py --runs 200 --redis-url redis://127.0.0.1:6379/0

Producer processes (`--producers`, 2 by default) split the runs: each runs its agents (real
`Runner.run_streamed` on `ScriptedStreamModel`, paced like a model: `--delay` seconds before each
text delta) and publishes them with `publish()`. This process runs the subscribers (`subscribe()`,
all following through the log's one shared blocking `XREAD`) and checks that each got every event
of its run exactly once, in order. End-to-end latency is the time from an event's creation
(`timestamp`, set by `normalize()` in a producer) to its arrival at a subscriber, for the events
that arrive live (a subscriber that attached after an event was written replays it; replays are
checked but not timed).
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

from redis.utils import HIREDIS_AVAILABLE

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


def _agent(gate: asyncio.Event, deltas: int, delay: float, i: int, start: float = 0) -> Any:
    from agents import Agent, function_tool

    from agentstream.testing import ScriptedStreamModel, text, tool_call, turn

    @function_tool
    async def wait_for_start() -> str:
        """Hold the run until every subscriber is attached, then until its start in the ramp."""
        await gate.wait()
        await asyncio.sleep(start)  # pacing: the runs start spread over the ramp
        return "go"

    words = [f"r{i}w{j} " for j in range(deltas)]
    model = ScriptedStreamModel([turn(tool_call("wait_for_start")), turn(text(words), delay=delay)])
    return Agent(name="bench", model=model, tools=[wait_for_start])


_worst = [0.0]


async def _worst_lag() -> None:
    """Track how late this process' event loop wakes a 0.1 s timer (its CPU saturation)."""
    while True:
        before = time.perf_counter()
        await asyncio.sleep(0.1)  # a probe timer
        _worst[0] = max(_worst[0], time.perf_counter() - before - 0.1)


async def produce(
    url: str, runs: range, deltas: int, delay: float, prefix: str, lease_ttl: float, ramp: float
) -> None:
    from agents import Runner

    log = RedisEventLog.from_url(url, prefix=prefix, lease_ttl=lease_ttl)
    gate = asyncio.Event()
    lag = asyncio.ensure_future(_worst_lag())
    publications = []
    for i in runs:
        agent = _agent(gate, deltas, delay, i, ramp * (i - runs.start) / len(runs))
        publications.append(await publish(Runner.run_streamed(agent, "go"), log, run_id=f"b{i}"))
    print("published", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # "go": every subscriber is attached
    gate.set()
    for publication in publications:
        await publication.wait()
    lag.cancel()
    print(f"producer {runs.start}: worst event-loop lag {_worst[0]:.2f}s", file=sys.stderr)
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
        lag = asyncio.ensure_future(_worst_lag())
        gate = asyncio.Semaphore(100)
        attached: asyncio.Queue[None] = asyncio.Queue()
        share = -(-args.runs // args.producers)
        producers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--produce",
                *("--redis-url", url, "--runs", str(args.runs), "--deltas", str(args.deltas)),
                *("--delay", str(args.delay), "--prefix", prefix, "--ramp", str(args.ramp)),
                *("--lease-ttl", str(args.lease_ttl), "--first", str(first), "--count", str(share)),
                stdout=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.PIPE,
            )
            for first in range(0, args.runs, share)
        ]
        # Subscribe once every run exists: each subscriber attaches while its run streams.
        for producer in producers:
            assert producer.stdout is not None
            if b"published" not in await producer.stdout.readline():
                raise SystemExit("a producer process failed to start")
        consumers = [
            asyncio.ensure_future(consume(log, f"b{i}", expected, latencies, gate, attached))
            for i in range(args.runs)
            for _ in range(args.subscribers)
        ]
        for _ in consumers:
            await attached.get()
        started = time.perf_counter()
        for producer in producers:
            assert producer.stdin is not None
            producer.stdin.write(b"go\n")
            await producer.stdin.drain()
        try:
            results = await asyncio.gather(*consumers)
        except BaseException:
            for producer in producers:
                producer.kill()
            raise
        elapsed = time.perf_counter() - started
        lag.cancel()
        for producer in producers:
            if await producer.wait() != 0:
                raise SystemExit("a producer process failed")
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
        f"delay={args.delay} ramp={args.ramp} lease_ttl={args.lease_ttl} "
        f"producers={len(producers)} hiredis={HIREDIS_AVAILABLE}"
    )
    print(f"delivered={delivered} expected={args.runs * args.subscribers * expected} bad={bad}")
    print(f"elapsed={elapsed:.1f}s delivered/s={delivered / elapsed:,.0f}")
    print(f"written/s={args.runs * expected / elapsed:,.0f}")
    print(f"subscriber process: worst event-loop lag {_worst[0]:.2f}s")
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
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which the runs start")
    parser.add_argument("--lease-ttl", type=float, default=10.0, help="producer lease seconds")
    parser.add_argument("--producers", type=int, default=2, help="producer processes")
    parser.add_argument("--redis-url")
    parser.add_argument("--produce", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=None, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.produce:
        asyncio.run(
            produce(
                arguments.redis_url,
                range(
                    arguments.first,
                    min(arguments.runs, arguments.first + (arguments.count or arguments.runs)),
                ),
                arguments.deltas,
                arguments.delay,
                arguments.prefix,
                arguments.lease_ttl,
                arguments.ramp,
            )
        )
    else:
        asyncio.run(main(arguments))
