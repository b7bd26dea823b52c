"""One side of the overhead benchmark, once, for an instruction counter (noise-free, unlike time).

    PYTHONHASHSEED=0 valgrind --tool=cachegrind --cache-sim=no \\
        python -m bench.count ours 5000

Both sides warm up the same way first, so the difference of two counts (`ours` minus `bare`,
divided by the deltas) is what agentstream adds per delta. Sides: `bare`, `hop`, `mapped`,
`encoded`, `ours`, `bare_paced`, `ours_paced` (see `bench/overhead.py`).
"""

from __future__ import annotations

import asyncio
import gc
import sys

from . import overhead


async def main(side: str, n: int) -> None:
    await overhead.bare(200)
    await overhead.ours(200)
    gc.collect()
    await getattr(overhead, side)(n)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
