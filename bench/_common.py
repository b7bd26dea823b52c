"""What every benchmark shares: the machine report, a lazy delta model, timing and statistics."""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from agents import Agent, Runner
from agents.models.interface import Model
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseUsage,
)
from openai.types.responses.response_usage import (
    InputTokensDetails,
    OutputTokensDetails,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from agents.items import ModelResponse

PEERS = (
    "agentstream",
    "openai-agents",
    "openai",
    "pydantic",
    "pydantic-core",
    "ag-ui-protocol",
    "starlette",
    "sse-starlette",
    "uvicorn",
    "httpx",
)


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    """The machine and the versions the figures were taken with."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {name: _version(name) for name in PEERS}
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "taken_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "versions": versions,
    }


def token(i: int) -> str:
    """The text of delta `i`: short, like a model's token, and tells its own index."""
    return f"t{i} "


def token_index(piece: str) -> list[int]:
    """The delta indices a (possibly coalesced) text holds."""
    return [int(word[1:]) for word in piece.split()]


class DeltaModel(Model):
    """A model whose one turn streams `n` text deltas, built lazily (no script held in memory).

    `pace` spaces the deltas on an absolute schedule (seconds per delta, so the rate does not drift
    with the loop's lateness); `yield_every` suspends (`sleep(0)`) after every k-th delta, as a
    network read would; `stamps` records the loop time each delta was handed to the SDK.
    """

    def __init__(
        self,
        n: int,
        *,
        pace: float | None = None,
        yield_every: int | None = None,
        stamps: list[float] | None = None,
    ) -> None:
        self.n = n
        self.pace = pace
        self.yield_every = yield_every
        self.stamps = stamps

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        raise NotImplementedError("DeltaModel streams only")

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        return self._events()

    async def _events(self) -> AsyncIterator[Any]:
        n, pace, every, stamps = self.n, self.pace, self.yield_every, self.stamps
        msg_id = "msg_1"
        seq = 0
        yield ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            output_index=0,
            sequence_number=seq,
            item=ResponseOutputMessage(
                id=msg_id, type="message", role="assistant", status="in_progress", content=[]
            ),
        )
        loop = asyncio.get_running_loop()
        start = loop.time()
        # The final message needs the whole text; it is kept in blocks, not one object per delta,
        # so the model itself holds nothing per delta (the memory benchmark relies on it).
        blocks: list[str] = []
        parts: list[str] = []
        for i in range(n):
            if pace is not None:
                wait = start + i * pace - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            elif every is not None and i % every == 0:
                await asyncio.sleep(0)
            piece = token(i)
            parts.append(piece)
            if len(parts) == 1024:
                blocks.append("".join(parts))
                parts.clear()
            seq += 1
            if stamps is not None:
                stamps.append(loop.time())
            yield ResponseTextDeltaEvent(
                type="response.output_text.delta",
                item_id=msg_id,
                output_index=0,
                content_index=0,
                delta=piece,
                logprobs=[],
                sequence_number=seq,
            )
        blocks.append("".join(parts))
        text = "".join(blocks)
        del blocks, parts
        message = ResponseOutputMessage(
            id=msg_id,
            type="message",
            role="assistant",
            status="completed",
            content=[
                ResponseOutputText(type="output_text", text=text, annotations=[], logprobs=[])
            ],
        )
        yield ResponseOutputItemDoneEvent(
            type="response.output_item.done", output_index=0, item=message, sequence_number=seq + 1
        )
        yield ResponseCompletedEvent(
            type="response.completed",
            sequence_number=seq + 2,
            response=Response(
                id="resp_1",
                created_at=0,
                model="bench",
                object="response",
                output=[message],
                tool_choice="auto",
                tools=[],
                parallel_tool_calls=False,
                status="completed",
                usage=ResponseUsage(
                    input_tokens=1,
                    output_tokens=n,
                    total_tokens=n + 1,
                    input_tokens_details=InputTokensDetails.model_validate(
                        {"cached_tokens": 0, "cache_write_tokens": 0}
                    ),
                    output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
                ),
            ),
        )


def delta_run(n: int, **model_options: Any) -> Any:
    """Start a real SDK run (`Runner.run_streamed`) whose model streams `n` text deltas."""
    agent = Agent(name="bench", model=DeltaModel(n, **model_options))
    return Runner.run_streamed(agent, "go")


@dataclass
class Pairs:
    """Side-by-side timings: each pair runs both contenders back to back, order alternating."""

    base: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [o / b for b, o in zip(self.base, self.ours, strict=True)]

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.ratios)


async def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Run the coroutine function `fn` once: (CPU seconds of this process, wall seconds)."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    await fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile (0..1) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


ROOT: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""The project's root: where `python -m bench...` runs."""


async def spawn(module: str, *args: str) -> tuple[asyncio.subprocess.Process, str]:
    """Start `python -m module args` (a server) in the project root; return it and its base URL.

    The server prints its base URL on its first line and stops when its stdin closes.
    """
    server = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", module, *args),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert server.stdout is not None
    line = await asyncio.wait_for(server.stdout.readline(), 120)
    if not line.startswith(b"http://127.0.0.1:"):
        server.kill()
        await server.wait()
        raise RuntimeError(f"{module} did not start: {line!r}")
    return server, line.decode().strip()
