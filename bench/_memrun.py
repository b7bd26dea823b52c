"""One run for the memory benchmark, in a fresh process: `python -m bench._memrun MODE N`.

MODE is `ours` (`to_sse(normalize(run, buffer=BufferPolicy()))`) or `bare` (iterating
`stream_events()`). The model suspends after every delta, as a network read would, so the SDK's
queue stays short. Prints JSON: resident memory before the run, the peak, and the text size.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys

from agentstream import BufferPolicy, normalize
from agentstream._sse import to_sse

from ._common import delta_run, token


def status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


async def main(mode: str, n: int) -> dict[str, int]:
    # Warm every code path first, so the baseline holds the code and caches, not the run.
    async for _ in to_sse(normalize(delta_run(100, yield_every=1), buffer=BufferPolicy())):
        pass
    async for _ in delta_run(100, yield_every=1).stream_events():
        pass
    gc.collect()
    before = status_kib("VmRSS")
    frames = 0
    if mode == "ours":
        stream = normalize(delta_run(n, yield_every=1), buffer=BufferPolicy())
        async for _ in to_sse(stream):
            frames += 1
    else:
        async for _ in delta_run(n, yield_every=1).stream_events():
            frames += 1
    return {
        "deltas": n,
        "frames": frames,
        "rss_before_kib": before,
        "peak_kib": status_kib("VmHWM"),
        "text_bytes": sum(len(token(i)) for i in range(n)),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2])))))
