"""1. Overhead: `normalize()` + `to_sse()` against bare iteration of `stream_events()`.

Both sides drive the same real SDK run (a model streaming N text deltas with no sleeps). Pairs
run back to back, in alternating order; the figure is the median of the per-pair ratios of CPU
time (wall time is reported too: on a shared machine it also counts other processes' turns).
"""

from __future__ import annotations

import statistics
from typing import Any

from agentstream import normalize
from agentstream._sse import to_sse

from ._common import Pairs, delta_run, timed, verdict

TARGET = 1.05


async def bare(n: int) -> None:
    result = delta_run(n)
    async for _ in result.stream_events():
        pass


async def ours(n: int) -> None:
    result = delta_run(n)
    async for _ in to_sse(normalize(result)):
        pass


async def run(smoke: bool = False) -> dict[str, Any]:
    n = 200 if smoke else 20_000
    pairs = 2 if smoke else 9
    await bare(min(n, 1000))  # warm imports and caches
    await ours(min(n, 1000))
    cpu, wall = Pairs(), Pairs()
    for i in range(pairs):
        order = (bare, ours) if i % 2 == 0 else (ours, bare)
        got = {}
        for fn in order:
            got[fn] = await timed(lambda fn=fn: fn(n))
        cpu.base.append(got[bare][0])
        cpu.ours.append(got[ours][0])
        wall.base.append(got[bare][1])
        wall.ours.append(got[ours][1])
    ratio = cpu.median_ratio
    return {
        "name": "overhead",
        "deltas": n,
        "pairs": pairs,
        "bare_us_per_delta": statistics.median(cpu.base) / n * 1e6,
        "ours_us_per_delta": statistics.median(cpu.ours) / n * 1e6,
        "ratio_cpu": ratio,
        "ratio_wall": wall.median_ratio,
        "ratios_cpu": [round(r, 3) for r in cpu.ratios],
        "target": f"ratio <= {TARGET}",
        "verdict": verdict(ratio <= TARGET),
    }
