"""5. Memory: peak resident memory of a 1,000,000-delta run against a 10,000-delta run.

Each run is a fresh process (`bench/_memrun.py`) reading `to_sse(normalize(run,
buffer=BufferPolicy()))`; the model suspends after every delta, as a network read would, and
keeps its own text in blocks, so nothing in the model grows per delta. Growth = peak - resident
memory before the run. The SDK itself (bare `stream_events()`) is measured at 10,000 and 100,000
deltas for its own growth per delta.

What must not grow per event: with the text a few copies are expected (the model's final message,
the SDK's response and run item, agentstream's `message_output` event and its frame); one object
kept per delta would cost about 60 bytes a delta (60 MB over a million).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ._common import verdict

ROOT = Path(__file__).resolve().parent.parent
TEXT_COPIES = 6
SLACK_MIB = 16


def measure(mode: str, n: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench._memrun", mode, str(n)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    row: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    row["growth_kib"] = row["peak_kib"] - row["rss_before_kib"]
    return row


async def run(smoke: bool = False) -> dict[str, Any]:
    small, large = (1_000, 20_000) if smoke else (10_000, 1_000_000)
    bare_large = 20_000 if smoke else 100_000
    ours = {n: measure("ours", n) for n in (small, large)}
    bare = {n: measure("bare", n) for n in (small, bare_large)}
    grown = (ours[large]["growth_kib"] - ours[small]["growth_kib"]) * 1024
    text = ours[large]["text_bytes"] - ours[small]["text_bytes"]
    bare_grown = (bare[bare_large]["growth_kib"] - bare[small]["growth_kib"]) * 1024
    bare_text = bare[bare_large]["text_bytes"] - bare[small]["text_bytes"]
    limit = TEXT_COPIES * text + SLACK_MIB * 2**20
    return {
        "name": "memory",
        "rows": {
            f"ours {n:,} deltas": {
                "peak_mib": row["peak_kib"] / 1024,
                "growth_mib": row["growth_kib"] / 1024,
                "frames": row["frames"],
                "text_mib": row["text_bytes"] / 2**20,
            }
            for n, row in ours.items()
        }
        | {
            f"bare SDK {n:,} deltas": {
                "peak_mib": row["peak_kib"] / 1024,
                "growth_mib": row["growth_kib"] / 1024,
                "frames": row["frames"],
                "text_mib": row["text_bytes"] / 2**20,
            }
            for n, row in bare.items()
        },
        "extra_growth_mib": grown / 2**20,
        "extra_text_mib": text / 2**20,
        "bytes_per_delta": grown / (large - small),
        "text_bytes_per_delta": text / (large - small),
        "bare_sdk_bytes_per_delta": bare_grown / (bare_large - small),
        "bare_sdk_text_bytes_per_delta": bare_text / (bare_large - small),
        "target": f"growth <= {TEXT_COPIES} x text + {SLACK_MIB} MiB (nothing kept per event)",
        "verdict": verdict(grown <= limit),
    }
