"""The server of the real-wire benchmark: `python -m bench._wire_server N [SIZE]`, on 127.0.0.1.

`agentstream.testing.OpenAIServer` playing one turn per run (`per_run=True`): every model
request of the benchmark starts a run of its own and gets the same text answer, streamed as N
deltas (`t0 `, `t1 `, ...) with no delay, or N deltas of SIZE characters each. It prints its
base URL and stops when its stdin closes, so it never outlives the benchmark. It runs in a
process of its own: the measured process holds only the client side of the wire.
"""

from __future__ import annotations

import asyncio
import sys

from agentstream.testing import OpenAIServer, text, turn

from ._common import token


async def serve(n: int, size: int | None = None) -> None:
    pieces = [token(i) if size is None else f"{i:0{size}d}" for i in range(n)]
    answer = turn(text(pieces), input_tokens=1)
    async with OpenAIServer([answer], per_run=True) as server:
        print(server.base_url, flush=True)
        # Stop when the parent closes our stdin (or dies).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        if server.errors:
            raise SystemExit(f"the server failed: {server.errors!r}")


if __name__ == "__main__":
    asyncio.run(serve(*(int(arg) for arg in sys.argv[1:3])))
