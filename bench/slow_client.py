"""Slow clients: server memory while clients that read 5 KB/s stream runs of 10, 100 and 300 MB.

`python -m bench.slow_client` (about 3 minutes; `--smoke` for a quick check). Three processes,
as in production: the model server (`bench/_wire_server.py`, the SDK's OpenAI wire), the
measured web server (`bench/_slow_server.py`: `stream_response` under uvicorn) and this one,
which plays CLIENTS clients that each read 1 KiB every 0.2 s through a 4 KiB receive buffer.
For each run size, a fresh web server is started twice, with the responses' default
`max_backlog` and with `max_backlog=None` (no bound: what happened before the bound), side by
side; its resident memory (`VmRSS`) is sampled every 0.1 s from before the requests until
every run's loop task has ended, completed or cancelled. Growth = peak - memory before.

With the bound, a client that falls 16 MiB behind ends its stream with
`Done(error, SlowConsumerError)` and its run is cancelled: the growth stays flat whatever the
run's size. Without it, the server holds each run's whole output for its client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from typing import Any

from ._common import machine, spawn, verdict

SIZES_MB = (10, 100, 300)
SMOKE_MB = (2, 20)
DELTA_CHARS = 8_000
"""Characters per delta: large deltas, so that 300 MB streams in seconds over the real wire."""
CLIENTS = 2
READ_BYTES = 1024
READ_EVERY = 0.2
"""1 KiB every 0.2 s: 5 KB/s per client."""
SAMPLE_EVERY = 0.1
RUN_TIMEOUT = 600.0
FLAT_SLACK_MIB = 64
"""How much more the bounded server may grow for the largest run than for the smallest."""


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


async def slow_client(base_url: str, stop: asyncio.Event) -> int:
    """POST /run, then read 5 KB/s until `stop`; the bytes read."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock, limit=READ_BYTES)
    writer.write(
        f"POST /run HTTP/1.1\r\nhost: {host}\r\ncontent-length: 0\r\n"
        "connection: close\r\n\r\n".encode()
    )
    await writer.drain()
    read = 0
    try:
        while not stop.is_set():
            chunk = await reader.read(READ_BYTES)
            if not chunk:
                break
            read += len(chunk)
            await asyncio.sleep(READ_EVERY)  # the client's pace, not synchronization
    finally:
        writer.close()
    return read


async def case(model_url: str, bound: str) -> dict[str, Any]:
    """One web server, CLIENTS slow clients, until every run ended; its memory figures."""
    server, url = await spawn("bench._slow_server", model_url, bound)
    stdout, stdin = server.stdout, server.stdin
    assert stdout is not None
    assert stdin is not None
    try:
        before = rss_kib(server.pid)
        peak = before
        stop = asyncio.Event()
        clients = [asyncio.create_task(slow_client(url, stop)) for _ in range(CLIENTS)]
        endings: list[str] = []
        started = time.perf_counter()

        async def watch() -> None:
            while len(endings) < CLIENTS:
                line = await stdout.readline()
                if not line:
                    raise RuntimeError("the web server stopped")
                endings.append(line.decode().split()[-1])

        watcher = asyncio.create_task(watch())
        while not watcher.done():
            peak = max(peak, rss_kib(server.pid))
            if time.perf_counter() - started > RUN_TIMEOUT:
                raise RuntimeError(f"the runs did not end within {RUN_TIMEOUT} s")
            await asyncio.sleep(SAMPLE_EVERY)  # the sampling period
        await watcher
        seconds = time.perf_counter() - started
        peak = max(peak, rss_kib(server.pid))
        stop.set()
        read = await asyncio.gather(*clients)
    finally:
        stdin.close()
        await asyncio.wait_for(server.wait(), 60)
    return {
        "rss_before_mib": round(before / 1024, 1),
        "peak_mib": round(peak / 1024, 1),
        "growth_mib": round((peak - before) / 1024, 1),
        "runs": ",".join(sorted(endings)),
        "seconds": round(seconds, 1),
        "client_kib_read": round(sum(read) / 1024 / CLIENTS, 1),
    }


async def run(smoke: bool = False) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    for size_mb in SMOKE_MB if smoke else SIZES_MB:
        deltas = size_mb * 1_000_000 // DELTA_CHARS
        model, model_url = await spawn("bench._wire_server", str(deltas), str(DELTA_CHARS))
        assert model.stdin is not None
        try:
            for bound in ("default", "none"):
                rows[f"{size_mb} MB, bound {bound}"] = await case(model_url, bound)
        finally:
            model.stdin.close()
            await asyncio.wait_for(model.wait(), 60)
    sizes = SMOKE_MB if smoke else SIZES_MB
    bounded = [rows[f"{mb} MB, bound default"]["growth_mib"] for mb in sizes]
    flat = bounded[-1] - bounded[0] <= FLAT_SLACK_MIB
    cancelled = all(
        rows[f"{mb} MB, bound default"]["runs"] == ",".join(["cancelled"] * CLIENTS)
        for mb in sizes
        if mb * 1_000_000 > 2 * 16 * 2**20
    )
    return {
        "name": "slow_client",
        "clients": CLIENTS,
        "client_rate": f"{READ_BYTES} B every {READ_EVERY} s",
        "delta_chars": DELTA_CHARS,
        "rows": rows,
        "bounded_growth_mib": bounded,
        "target": (
            f"with the default bound, growth for the largest run within {FLAT_SLACK_MIB} MiB "
            "of the smallest; runs past twice the bound cancelled"
        ),
        "verdict": verdict(flat and cancelled),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.slow_client", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="small runs: a check, not figures")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    result = asyncio.run(run(smoke=args.smoke))
    result["machine"] = machine()
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)
    return 0 if result["verdict"].startswith("PASS") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
