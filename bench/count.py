"""One side of the overhead benchmark, once, for an instruction counter (noise-free, unlike time).

    PYTHONHASHSEED=0 valgrind --tool=cachegrind --cache-sim=no \\
        python -m bench.count ours 5000

With `BENCH_NOGC=1` the collector is off while the side runs: a collection costs what the whole
heap holds at that moment, so where one falls moves a count by more than a small change does.

Both sides warm up the same way first, so the difference of two counts (`ours` minus `bare`,
divided by the deltas) is what agentstream adds per delta. Sides: `bare`, `hop`, `mapped`,
`encoded`, `ours`, `bare_paced`, `ours_paced` (see `bench/overhead.py`).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys

from . import overhead


async def main(side: str, n: int) -> None:
    await overhead.bare(200)
    await overhead.ours(200)
    gc.collect()
    if os.environ.get("BENCH_NOGC"):
        gc.disable()  # a collection's cost depends on when it falls, not on the code counted
    await getattr(overhead, side)(n)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
