"""Run the benchmarks: `python -m bench` (all, full size) or `python -m bench --smoke` (tiny).

Options: `--only NAME ...` picks benchmarks (overhead, realwire, encoders, buffering, memory,
http); `--json PATH` also writes the figures as JSON; `--budget SECONDS` (default 660) is the
time the whole run may take: the HTTP benchmark, which runs last, skips the levels that the time
left cannot hold (at the rate its previous level ran) and says so; `--http-levels N ...` picks its
levels (default 200 500 1000 concurrent clients); `--pairs N` sets the number of pairs of the
overhead and real-wire benchmarks (default 51 and 61), for repeated shorter runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from . import buffering, encoders, http_load, memory, overhead, realwire
from ._common import machine

BENCHMARKS = {
    "overhead": overhead,
    "realwire": realwire,
    "encoders": encoders,
    "buffering": buffering,
    "memory": memory,
    "http": http_load,
}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def report(result: dict[str, Any]) -> str:
    lines = [f"== {result['name']}: {result['verdict']}   (target: {result['target']})"]
    for key, value in result.items():
        if key in ("name", "verdict", "target", "rows"):
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
        lines.append(f"   {key}: {_fmt(value)}")
    rows = result.get("rows")
    if isinstance(rows, dict):
        rows = [{"case": name, **row} for name, row in rows.items()]
    lines.extend("   | " + "  ".join(f"{k}={_fmt(v)}" for k, v in r.items()) for r in rows or ())
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks, not figures")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=None)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--budget", type=float, default=660.0, help="seconds for the whole run")
    parser.add_argument(
        "--http-levels", type=int, nargs="+", default=None, help="concurrent clients per level"
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=None,
        help="pairs of the overhead and realwire benchmarks (default 51 and 61)",
    )
    args = parser.parse_args(argv)
    if args.pairs is not None and args.pairs < 1:
        parser.error("--pairs must be at least 1")
    started = time.monotonic()
    info = machine()
    print(
        f"machine: {info['nproc']} CPUs, {info['cpu']}, Python {info['python']}, "
        f"load average {info['load_average']}, {info['taken_at']}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    results = []
    for name in args.only or list(BENCHMARKS):
        module = BENCHMARKS[name]
        t0 = time.monotonic()
        if name == "http":
            left = args.budget - (t0 - started)
            levels = tuple(args.http_levels) if args.http_levels else None
            result = asyncio.run(module.run(smoke=args.smoke, budget=left, levels=levels))
        elif name in ("overhead", "realwire"):
            result = asyncio.run(module.run(smoke=args.smoke, pairs=args.pairs))
        else:
            result = asyncio.run(module.run(smoke=args.smoke))
        result["seconds"] = round(time.monotonic() - t0, 1)
        results.append(result)
        print(report(result), flush=True)
    total = time.monotonic() - started
    print(f"total: {total:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"machine": info, "seconds": total, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
