"""2. Encoders: agentstream events to frames, as events per second.

One recorded stream (reasoning, a tool call with streamed arguments and its output, then 2,000
text deltas) is encoded by each encoder in rounds; each round runs every encoder once, in rotating
order, from the same in-memory async source. Baselines: a hand-written SSE framing with
`json.dumps(event.model_dump())` (what a service writes by hand over these events), the same with
dicts prepared ahead (serialization alone), and `ag_ui.encoder.EventEncoder` on the AG-UI events
agentstream's AG-UI bridge produces for the same stream.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import TYPE_CHECKING, Any

from agents import Agent, Runner, function_tool

from agentstream import Event, normalize
from agentstream._ndjson import to_ndjson
from agentstream._sse import to_sse
from agentstream.testing import ScriptedStreamModel, reasoning, text, tool_call, turn

from ._common import token, verdict

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable

TARGET_VS_JSON = 1.0
TARGET_VS_AGUI = 2.0


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


async def record(deltas: int) -> list[Event]:
    model = ScriptedStreamModel(
        [
            turn(
                reasoning([token(i) for i in range(50)]),
                tool_call("get_weather", {"city": "Paris"}, chunks=20),
            ),
            text([token(i) for i in range(deltas)]),
        ]
    )
    agent = Agent(name="bench", model=model, tools=[get_weather])
    return await normalize(Runner.run_streamed(agent, "go")).collect()


async def source(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


async def hand_sse(events: AsyncIterator[Event]) -> AsyncIterator[str]:
    async for event in events:
        data = json.dumps(event.model_dump())
        yield f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n"


async def hand_sse_dicts(dicts: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    async for d in dicts:
        yield f"id: {d['seq']}\nevent: {d['type']}\ndata: {json.dumps(d)}\n\n"


async def agui_encoder(events: AsyncIterator[Any]) -> AsyncIterator[str]:
    from ag_ui.encoder import EventEncoder

    encoder = EventEncoder()
    async for event in events:
        yield encoder.encode(event)


def contenders(events: list[Event]) -> dict[str, tuple[Callable[[], AsyncIterator[str]], int]]:
    """name -> (a function making the frame iterator, how many input events it encodes)."""
    dicts = [e.model_dump() for e in events]
    n = len(events)
    out: dict[str, tuple[Callable[[], AsyncIterator[str]], int]] = {
        "sse": (lambda: to_sse(source(events), heartbeat=None), n),
        "ndjson": (lambda: to_ndjson(source(events)), n),
        "json.dumps SSE (from events)": (lambda: hand_sse(source(events)), n),
        "json.dumps SSE (dicts ready)": (lambda: hand_sse_dicts(source(dicts)), n),
    }
    try:
        from agentstream.agui import encode as to_agui
    except ImportError:
        to_agui = None
    if to_agui is not None:
        out["ag-ui bridge"] = (lambda: to_agui(source(events), thread_id="t", run_id="r"), n)
    try:
        from agentstream.ai_sdk import encode as to_ai_sdk
    except ImportError:
        to_ai_sdk = None
    if to_ai_sdk is not None:
        out["ai-sdk bridge"] = (lambda: to_ai_sdk(source(events)), n)
    return out


async def agui_events(events: list[Event]) -> list[Any]:
    """The AG-UI events agentstream's bridge writes for `events`, as `ag_ui` models."""
    from ag_ui.core import Event as AguiEvent
    from pydantic import TypeAdapter

    from agentstream.agui import encode as to_agui

    adapter: TypeAdapter[Any] = TypeAdapter(AguiEvent)
    frames = [f async for f in to_agui(source(events), thread_id="t", run_id="r")]
    return [adapter.validate_json(f.removeprefix("data: ").rstrip("\n")) for f in frames]


async def drain(frames: AsyncIterator[str]) -> int:
    count = 0
    async for _ in frames:
        count += 1
    return count


async def run(smoke: bool = False) -> dict[str, Any]:
    events = await record(100 if smoke else 2_000)
    rounds = 1 if smoke else 7
    repeat = 1 if smoke else 5  # each timing encodes the stream this many times
    runners = contenders(events)
    try:
        peer = await agui_events(events)
    except ImportError:
        peer = []
    if peer:
        runners["ag_ui EventEncoder"] = (lambda: agui_encoder(source(peer)), len(peer))
    rates: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            make, count = runners[name]
            cpu = time.process_time()
            for _ in range(repeat):
                await drain(make())
            rates[name].append(count * repeat / (time.process_time() - cpu))

    def per_round(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(rates[a], rates[b], strict=True))

    figures = {name: statistics.median(values) for name, values in rates.items()}
    vs_json = per_round("sse", "json.dumps SSE (from events)")
    result: dict[str, Any] = {
        "name": "encoders",
        "events": len(events),
        "rounds": rounds,
        "events_per_s": {k: round(v) for k, v in figures.items()},
        "sse_vs_json_dumps": vs_json,
        "sse_vs_json_dumps_dicts_ready": per_round("sse", "json.dumps SSE (dicts ready)"),
        "target": f"SSE >= {TARGET_VS_JSON}x json.dumps framing; >= {TARGET_VS_AGUI}x ag_ui",
    }
    ok = vs_json >= TARGET_VS_JSON
    if peer:
        result["agui_events"] = len(peer)
        result["sse_vs_ag_ui_encoder"] = per_round("sse", "ag_ui EventEncoder")
        if "ag-ui bridge" in rates:
            result["ag_ui_bridge_vs_ag_ui_encoder"] = per_round(
                "ag-ui bridge", "ag_ui EventEncoder"
            )
        ok = ok and result["sse_vs_ag_ui_encoder"] >= TARGET_VS_AGUI
    result["verdict"] = verdict(ok)
    return result
