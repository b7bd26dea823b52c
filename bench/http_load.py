"""4. HTTP under load: uvicorn on 127.0.0.1, C concurrent SSE clients, each streaming a run.

For each level, a fresh server process (`bench/_server.py`) serves one endpoint; this process is
the client (httpx, async), so client and server each have a core. Contenders: `naive` (the raw SDK
events serialized by hand) and `agentstream` (`agentstream.web.stream_response`; `core`, that is
`to_sse(normalize(run))` in a plain `StreamingResponse`, when the web extra is missing), run one
after the other per level, each server in its own process, all started before the first level.
Every agentstream stream is checked: contiguous `id:` (seq) from 0 and `done` last.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from ._common import percentile, verdict

TARGET_RATIO = 0.9
SECONDS_PER_CLIENT = 0.3
"""The bound of one level is this times its clients (at least 60 s): every stream of a level
progresses together (the event loop is fair), so they all end at about the same time, and a fixed
bound close to the naive endpoint's time cuts nearly all of a slightly slower contender's streams
at once. 0.3 s is about twice what the naive endpoint needs on a 2-core machine."""
ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def servers(kinds: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """Start one server process per kind (all at once); yield their ports; stop them all."""
    procs = {
        kind: subprocess.Popen(
            [sys.executable, "-m", "bench._server", kind],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for kind in kinds
    }
    try:
        ports = {}
        for kind, proc in procs.items():
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.strip():
                raise RuntimeError(f"the {kind} server did not start")
            ports[kind] = int(line)
        yield ports
    finally:
        for proc in procs.values():
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in procs.values():
            stop(proc)


def stop(proc: subprocess.Popen[str]) -> None:
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    finally:
        if proc.stdout is not None:
            proc.stdout.close()


class Stream:
    __slots__ = ("deltas", "done", "error", "frames", "gaps", "ordered")

    def __init__(self) -> None:
        self.frames = 0
        self.deltas = 0
        self.done = False
        self.ordered = True
        self.error: str | None = None
        self.gaps: list[float] = []


async def one(client: httpx.AsyncClient, url: str, checked: bool, s: Stream) -> Stream:
    """Read one stream into `s`, which keeps what arrived even if the level's bound cuts it."""
    rest = b""
    last = None
    try:
        async with client.stream("GET", url) as response:
            response.raise_for_status()
            async for chunk in response.aiter_raw():
                now = time.perf_counter()
                frames = (rest + chunk).split(b"\n\n")
                rest = frames.pop()
                if not frames:
                    continue
                if last is not None:
                    s.gaps.append(now - last)
                s.gaps.extend([0.0] * (len(frames) - 1))
                last = now
                for frame in frames:
                    if frame.startswith(b":"):
                        continue  # a heartbeat comment, not an event
                    if checked:
                        head, _, tail = frame.partition(b"\n")
                        if s.ordered and head != b"id: %d" % s.frames:
                            s.ordered = False
                            s.error = f"frame {s.frames} starts with {head[:30]!r}"
                        if tail.startswith(b"event: text_delta"):
                            s.deltas += 1
                        elif tail.startswith(b"event: done"):
                            s.done = True
                    elif b'"response.output_text.delta"' in frame:
                        s.deltas += 1
                    s.frames += 1
        if not checked:
            s.done = True
    except Exception as exc:
        s.error = f"{type(exc).__name__}: {exc}"
    return s


async def level(port: int, clients: int, deltas: int, checked: bool) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    bound = max(60.0, SECONDS_PER_CLIENT * clients)
    timeout = httpx.Timeout(bound, connect=bound)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        await one(client, f"{base}/stream?n=10", checked, Stream())  # warm up
        url = f"{base}/stream?n={deltas}"
        start = time.perf_counter()
        # Cut streams count too: what they received is part of the throughput.
        streams = [Stream() for _ in range(clients)]
        tasks = [asyncio.ensure_future(one(client, url, checked, s)) for s in streams]
        _, pending = await asyncio.wait(tasks, timeout=bound)
        elapsed = time.perf_counter() - start
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        for s, task in zip(streams, tasks, strict=True):
            if task in pending:
                s.error = s.error or f"cut by the level's bound of {bound:.0f} s"
    async with httpx.AsyncClient(timeout=30) as fresh:
        rss = (await fresh.get(f"{base}/rss")).json()["peak_rss_kib"]
    complete = [
        s for s in streams if s.error is None and s.done and s.deltas == deltas and s.ordered
    ]
    gaps = [g for s in streams for g in s.gaps]
    frames = sum(s.frames for s in streams)
    return {
        "clients": clients,
        "complete": len(complete),
        "errors": sorted({s.error for s in streams if s.error})[:3],
        "unordered": sum(not s.ordered for s in streams),
        "seconds": round(elapsed, 2),
        "events_per_s": round(frames / elapsed),
        "deltas_per_s": round(sum(s.deltas for s in streams) / elapsed),
        "p99_gap_ms": round(percentile(gaps, 0.99) * 1e3, 2),
        "peak_rss_mib": round(rss / 1024, 1),
    }


def contenders() -> tuple[str, str]:
    try:
        import agentstream.web  # noqa: F401
    except ImportError:
        return ("naive", "core")
    return ("naive", "agentstream")


async def run(
    smoke: bool = False, budget: float = float("inf"), levels: tuple[int, ...] | None = None
) -> dict[str, Any]:
    deltas = 20 if smoke else 500
    if levels is None:
        levels = (3, 5) if smoke else (200, 500, 1000)
    kinds = contenders()
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    skipped: list[int] = []
    ok = True
    rate = None  # streams per second, both contenders together, at the last level
    with servers(kinds) as ports:
        for clients in levels:
            left = budget - (time.monotonic() - started)
            if rate is not None and clients / rate > left:
                skipped.append(clients)
                continue
            t0 = time.monotonic()
            got: dict[str, dict[str, Any]] = {}
            for kind in kinds:
                got[kind] = {"endpoint": kind}
                got[kind] |= await level(ports[kind], clients, deltas, checked=kind != "naive")
                rows.append(got[kind])
            rate = clients / (time.monotonic() - t0)
            ours = got[kinds[1]]
            ours["vs_naive"] = round(ours["deltas_per_s"] / max(1, got["naive"]["deltas_per_s"]), 3)
            ok = ok and ours["complete"] == clients and ours["vs_naive"] >= TARGET_RATIO
    result: dict[str, Any] = {
        "name": "http",
        "deltas_per_stream": deltas,
        "rows": rows,
        "target": f"every stream complete and in order; throughput >= {TARGET_RATIO}x naive",
        "verdict": verdict(ok and not skipped) if rows else "SKIPPED",
    }
    if skipped:
        result["skipped_levels"] = f"{skipped} (out of the time budget)"
    return result
