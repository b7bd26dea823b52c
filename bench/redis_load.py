"""Load on loopback: concurrent agent runs published to Redis, each read by several subscribers.

    python bench/redis_load.py                      # 1,000 runs x 2 subscribers, own redis-server
    python bench/redis_load.py --runs 200 --redis-url redis://127.0.0.1:6379/0
    python bench/redis_load.py --compare --runs 200 --subscribers 1 --delay 0.05 --ramp 5

Producer processes (`--producers`, 2 by default) split the runs: each runs its agents (real
`Runner.run_streamed` on `ScriptedStreamModel`, paced like a model: `--delay` seconds before each
text delta) and publishes them with `publish()`. This process runs the subscribers (`subscribe()`,
all following through the log's one shared blocking `XREAD`) and checks that each got every event
of its run exactly once, in order. End-to-end latency is the time from an event's creation
(`timestamp`, set by `normalize()` in a producer) to its arrival at a subscriber, for the events
that arrive live (a subscriber that attached after an event was written replays it; replays are
checked but not timed).

`--compare` runs the same load as a direct stream too (each producer consumes its own runs'
`normalize()` events, as a service streaming straight to its client does) and reports the CPU
time per delivered event of each path: every process it takes (producers; for Redis also the
subscriber process and `redis-server`), from the moment the runs are created to the last event
delivered. The two paths run `--repeat` times each (3 by default), alternating their order;
the figure is the median of the pairs' ratios.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

from redis.utils import HIREDIS_AVAILABLE

from agentstream import Done
from agentstream.redis import RedisEventLog
from agentstream.resume import MemoryEventLog, RunNotFoundError, publish, subscribe


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
    cpu = time.process_time()
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
    print(f"cpu {time.process_time() - cpu}", flush=True)
    if failed:
        raise SystemExit(f"{len(failed)} publications failed, e.g. {failed[0]}")


async def produce_direct(runs: range, deltas: int, delay: float, ramp: float) -> None:
    """The direct path: each run's `normalize()` events consumed in this process, checked."""
    from agents import Runner

    from agentstream import normalize

    async def deliver(agent: Any) -> tuple[int, bool]:
        seqs = []
        last = None
        async for event in normalize(Runner.run_streamed(agent, "go")):
            seqs.append(event.seq)
            last = event
        ok = isinstance(last, Done) and last.status == "completed"
        return len(seqs), ok and seqs == list(range(len(seqs)))

    gate = asyncio.Event()
    lag = asyncio.ensure_future(_worst_lag())
    cpu = time.process_time()
    streams = [
        asyncio.ensure_future(
            deliver(_agent(gate, deltas, delay, i, ramp * (i - runs.start) / len(runs)))
        )
        for i in runs
    ]
    print("published", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # "go", as for the Redis path
    started = time.perf_counter()
    gate.set()
    results = await asyncio.gather(*streams)
    elapsed = time.perf_counter() - started
    lag.cancel()
    print(f"producer {runs.start}: worst event-loop lag {_worst[0]:.2f}s", file=sys.stderr)
    delivered = sum(count for count, _ in results)
    bad = sum(not ok for _, ok in results)
    print(
        f"cpu {time.process_time() - cpu} delivered {delivered} bad {bad} elapsed {elapsed}",
        flush=True,
    )


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


def _cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) another process of this machine has used so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _producers(args: argparse.Namespace, url: str, prefix: str, direct: bool) -> list[Any]:
    """Start the producer processes and wait until each has created its runs."""
    share = -(-args.runs // args.producers)
    producers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--produce",
            *(("--direct",) if direct else ()),
            *("--redis-url", url, "--runs", str(args.runs), "--deltas", str(args.deltas)),
            *("--delay", str(args.delay), "--prefix", prefix, "--ramp", str(args.ramp)),
            *("--lease-ttl", str(args.lease_ttl), "--first", str(first), "--count", str(share)),
            stdout=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.PIPE,
        )
        for first in range(0, args.runs, share)
    ]
    for producer in producers:
        assert producer.stdout is not None
        if b"published" not in await producer.stdout.readline():
            raise SystemExit("a producer process failed to start")
    return producers


async def _go(producers: list[Any]) -> None:
    for producer in producers:
        assert producer.stdin is not None
        producer.stdin.write(b"go\n")
        await producer.stdin.drain()


async def _reports(producers: list[Any]) -> list[list[str]]:
    """Each producer's last line (`cpu SECONDS ...`), once it has exited cleanly."""
    reports = []
    for producer in producers:
        assert producer.stdout is not None
        out = await producer.stdout.read()
        if await producer.wait() != 0:
            raise SystemExit("a producer process failed")
        reports.append(out.decode().split())
    return reports


async def direct(args: argparse.Namespace, expected: int) -> dict[str, Any]:
    """The same runs streamed directly: each producer consumes its runs' events itself."""
    producers = await _producers(args, "", "", direct=True)
    await _go(producers)
    reports = await _reports(producers)
    elapsed = max(float(r[7]) for r in reports)
    delivered = sum(int(r[3]) for r in reports)
    if any(int(r[5]) for r in reports) or delivered != args.runs * expected:
        raise SystemExit("direct path: lost, duplicated or misordered events")
    return {
        "delivered": delivered,
        "elapsed": elapsed,
        "cpu": {"producers": sum(float(r[1]) for r in reports)},
    }


async def through_redis(
    args: argparse.Namespace, url: str, server_pid: int | None, expected: int
) -> dict[str, Any]:
    """Publish every run to Redis and read each with `--subscribers` subscribers here."""
    prefix = f"bench{os.getpid()}t{time.monotonic_ns()}"  # each load its own runs
    log = RedisEventLog.from_url(url, prefix=prefix, lease_ttl=args.lease_ttl)
    latencies: list[float] = []
    lag = asyncio.ensure_future(_worst_lag())
    gate = asyncio.Semaphore(100)
    attached: asyncio.Queue[None] = asyncio.Queue()
    # Subscribe once every run exists: each subscriber attaches while its run streams.
    producers = await _producers(args, url, prefix, direct=False)
    cpu = time.process_time()
    server_cpu = None if server_pid is None else _cpu_seconds(server_pid)
    consumers = [
        asyncio.ensure_future(consume(log, f"b{i}", expected, latencies, gate, attached))
        for i in range(args.runs)
        for _ in range(args.subscribers)
    ]
    for _ in consumers:
        await attached.get()
    started = time.perf_counter()
    await _go(producers)
    try:
        results = await asyncio.gather(*consumers)
    except BaseException:
        for producer in producers:
            producer.kill()
        raise
    elapsed = time.perf_counter() - started
    spent = {"subscribers": time.process_time() - cpu}
    if server_pid is not None and server_cpu is not None:
        spent["redis-server"] = _cpu_seconds(server_pid) - server_cpu
    lag.cancel()
    reports = await _reports(producers)
    spent["producers"] = sum(float(r[1]) for r in reports)
    await log.aclose()
    return {
        "delivered": sum(count for count, _ in results),
        "bad": sum(not ok for _, ok in results),
        "elapsed": elapsed,
        "latencies": sorted(latencies),
        "cpu": spent,
        "producers": len(producers),
    }


def _per_event(path: dict[str, Any]) -> float:
    """Microseconds of CPU, all processes of the path together, per delivered event."""
    return float(sum(path["cpu"].values())) / path["delivered"] * 1e6


def _cpu_line(name: str, path: dict[str, Any]) -> str:
    total = sum(path["cpu"].values())
    parts = ", ".join(f"{k} {v:.2f}" for k, v in path["cpu"].items())
    return (
        f"{name}: {_per_event(path):,.0f} us CPU per delivered event "
        f"({total:.2f} s: {parts}; {path['delivered']:,} events in {path['elapsed']:.1f} s)"
    )


async def main(args: argparse.Namespace) -> None:
    server = None
    url = args.redis_url
    if url is None:
        server, url = _start_redis()
    pairs = []
    try:
        expected = await _events_per_run(args.deltas)
        for i in range(args.repeat if args.compare else 1):
            # With --compare the two paths alternate their order, pair after pair.
            straight = await direct(args, expected) if args.compare and i % 2 == 0 else None
            pid = None if server is None else server.pid
            result = await through_redis(args, url, pid, expected)
            if args.compare and i % 2 == 1:
                straight = await direct(args, expected)
            delivered = result["delivered"]
            if result["bad"] or delivered != args.runs * args.subscribers * expected:
                raise SystemExit(
                    f"lost, duplicated or misordered events: delivered={delivered} "
                    f"expected={args.runs * args.subscribers * expected} bad={result['bad']}"
                )
            if straight is not None:
                pairs.append((straight, result))
                print(_cpu_line("direct", straight), flush=True)
                print(_cpu_line("redis", result), flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait()
    elapsed = result["elapsed"]
    latencies = result["latencies"]

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    print(
        f"runs={args.runs} subscribers/run={args.subscribers} events/run={expected} "
        f"delay={args.delay} ramp={args.ramp} lease_ttl={args.lease_ttl} "
        f"producers={result['producers']} hiredis={HIREDIS_AVAILABLE}"
    )
    print(f"delivered={delivered} expected={args.runs * args.subscribers * expected} bad=0")
    print(f"elapsed={elapsed:.1f}s delivered/s={delivered / elapsed:,.0f}")
    print(f"written/s={args.runs * expected / elapsed:,.0f}")
    print(f"subscriber process: worst event-loop lag {_worst[0]:.2f}s")
    print(
        f"latency ms (live events, n={len(latencies)}): p50={pct(0.5):.1f} "
        f"p99={pct(0.99):.1f} max={latencies[-1] * 1000:.1f}"
    )
    if pairs:
        ratios = sorted(_per_event(r) / _per_event(d) for d, r in pairs)
        print(
            f"CPU per delivered event, median of {len(pairs)} pairs: direct "
            f"{statistics.median(_per_event(d) for d, _ in pairs):,.0f} us, redis "
            f"{statistics.median(_per_event(r) for _, r in pairs):,.0f} us; "
            f"redis / direct {statistics.median(ratios):.2f}x "
            f"(pairs {', '.join(f'{x:.2f}' for x in ratios)})"
        )


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
    parser.add_argument(
        "--compare", action="store_true", help="also run the direct stream; CPU per event of each"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="pairs of the two paths with --compare"
    )
    parser.add_argument("--produce", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--direct", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=None, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.repeat < 1:
        parser.error("--repeat must be at least 1")
    if arguments.produce and arguments.direct:
        first = arguments.first
        count = arguments.count or arguments.runs
        asyncio.run(
            produce_direct(
                range(first, min(arguments.runs, first + count)),
                arguments.deltas,
                arguments.delay,
                arguments.ramp,
            )
        )
    elif arguments.produce:
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
