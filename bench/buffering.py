"""3. Buffering: frames sent and latency added per delta, for a model paced at 200 tokens/s.

The model hands delta i to the SDK at `start + i * 5 ms` (an absolute schedule, so the rate does
not drift) and records the loop time it did. The consumer reads `to_sse(normalize(...,
buffer=...))` and, for each text frame, notes the loop time it arrived and which deltas it holds.
Latency of a delta = arrival of the frame that holds it - the time the model produced it; the
"added" latency is that minus the same figure without buffering (`buffer=None`), run alongside.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agentstream import BufferPolicy, TextDelta, normalize

from ._common import delta_run, percentile, token_index, verdict

RATE = 200.0
TARGET_FACTOR = 10.0
TARGET_SLACK_MS = 5.0


async def measure(n: int, buffer: BufferPolicy | None) -> dict[str, Any]:
    stamps: list[float] = []
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    frames = 0
    async with normalize(delta_run(n, pace=1 / RATE, stamps=stamps), buffer=buffer) as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                now = loop.time()
                frames += 1
                latencies.extend(now - stamps[i] for i in token_index(event.delta))
    assert len(latencies) == n, f"{len(latencies)} deltas seen, {n} sent"
    return {
        "frames": frames,
        "p50_ms": percentile(latencies, 0.5) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
        "max_ms": max(latencies) * 1e3,
    }


async def run(smoke: bool = False) -> dict[str, Any]:
    n = 40 if smoke else 800
    rows: dict[str, dict[str, Any]] = {}
    rows["unbuffered"] = await measure(n, None)
    for delay_ms in (0, 10, 50):
        row = await measure(n, BufferPolicy(max_delay=delay_ms / 1e3))
        row["fewer_frames"] = n / row["frames"]
        row["added_p50_ms"] = row["p50_ms"] - rows["unbuffered"]["p50_ms"]
        row["added_p99_ms"] = row["p99_ms"] - rows["unbuffered"]["p99_ms"]
        rows[f"max_delay={delay_ms}ms"] = row
    at50 = rows["max_delay=50ms"]
    ok = at50["fewer_frames"] >= TARGET_FACTOR and at50["p99_ms"] <= 50 + TARGET_SLACK_MS
    return {
        "name": "buffering",
        "deltas": n,
        "rate_per_s": RATE,
        "rows": {k: {f: round(v, 3) for f, v in r.items()} for k, r in rows.items()},
        "target": (
            f"at 50 ms: >= {TARGET_FACTOR:g}x fewer frames, "
            f"p99 latency (model to consumer) <= 50 + {TARGET_SLACK_MS:g} ms"
        ),
        "verdict": verdict(ok),
    }
