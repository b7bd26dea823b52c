"""The server of the real-wire benchmark: `python -m bench._wire_server N TURNS`, on 127.0.0.1.

`agentstream.testing.OpenAIServer` with a script of TURNS identical turns, each a text answer
streamed as N deltas (`t0 `, `t1 `, ...) with no delay, so every model request of the benchmark
gets the same answer. It prints its base URL and stops when its stdin closes, so it never
outlives the benchmark. It runs in a process of its own: the measured process holds only the
client side of the wire.
"""

from __future__ import annotations

import asyncio
import sys

from agentstream.testing import OpenAIServer, text, turn

from ._common import token


async def serve(n: int, turns: int) -> None:
    answer = turn(text([token(i) for i in range(n)]), input_tokens=1, output_tokens=n)
    async with OpenAIServer([answer] * turns) as server:
        print(server.base_url, flush=True)
        # Stop when the parent closes our stdin (or dies).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        if server.errors:
            raise SystemExit(f"the server failed: {server.errors!r}")


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2])))
