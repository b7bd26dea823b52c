"""Event sources for the tests: real SDK workflows on `agents.testing.ScriptedModel` and on our
own `ScriptedStreamModel`, tools that hold a run still until the test lets go, the scenarios both
bridges must carry, and replays of given events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Final

from agents import Agent, Runner, function_tool
from agents.result import RunResultStreaming
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
)

from agentstream import Event, TextDelta, normalize
from agentstream.testing import (
    ScriptedStreamModel,
    fail,
    handoff,
    reasoning,
    text,
    tool_call,
    turn,
)


def _response(msg_id: str) -> Response:
    return Response(
        id=f"resp_{msg_id}",
        created_at=0,
        model="scripted",
        object="response",
        output=[],
        tool_choice="auto",
        tools=[],
        parallel_tool_calls=False,
        status="completed",
    )


def chunked_text(
    chunks: Sequence[str],
    msg_id: str = "msg_1",
    *,
    pause: Callable[[int], Any] | None = None,
) -> Any:
    """A ScriptedModel step streaming `chunks` as separate deltas.

    `pause(i)` may return an awaitable that the stream awaits after delta `i`: a test uses it
    to hold the model still at an exact point.
    """
    from agents.testing import ModelStep

    final = ResponseOutputMessage(
        id=msg_id,
        type="message",
        role="assistant",
        status="completed",
        content=[
            ResponseOutputText(
                type="output_text", text="".join(chunks), annotations=[], logprobs=[]
            )
        ],
    )

    async def factory(call: Any) -> AsyncIterator[Any]:
        for i, c in enumerate(chunks):
            yield ResponseTextDeltaEvent(
                type="response.output_text.delta",
                item_id=msg_id,
                output_index=0,
                content_index=0,
                delta=c,
                logprobs=[],
                sequence_number=i,
            )
            if pause is not None:
                waiting = pause(i)
                if waiting is not None:
                    await waiting
        yield ResponseOutputItemDoneEvent(
            type="response.output_item.done",
            output_index=0,
            item=final,
            sequence_number=len(chunks),
        )
        yield ResponseCompletedEvent(
            type="response.completed",
            sequence_number=len(chunks) + 1,
            response=_response(msg_id),
        )

    return ModelStep.stream(factory)


@function_tool
def get_weather(city: str) -> str:
    """Return the weather for a city."""
    return f"sunny in {city}"


@function_tool
def get_time(city: str) -> str:
    """Return the local time in a city."""
    return f"noon in {city}"


def triage_run(
    model: Any, prompt: str = "weather, then billing?", **kwargs: Any
) -> RunResultStreaming:
    """Triage calls get_weather, hands off to billing, billing answers."""
    billing = Agent(name="billing", model=model)
    triage = Agent(name="triage", model=model, tools=[get_weather], handoffs=[billing])
    return Runner.run_streamed(triage, prompt, **kwargs)


class SlowTool:
    """An async tool that sleeps, and records whether it finished or was cancelled."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = asyncio.Event()
        self.finished = False
        self.cancelled = False

        @function_tool
        async def slow_lookup(query: str) -> str:
            """Look something up, slowly."""
            self.started.set()
            try:
                await asyncio.sleep(self.seconds)
            except asyncio.CancelledError:
                self.cancelled = True
                raise
            self.finished = True
            return f"found {query}"

        self.tool = slow_lookup


class Gate:
    """An async tool that waits for the test to open it, recording how it ended."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.started = asyncio.Event()
        self.finished = False
        self.cancelled = False

        @function_tool
        async def wait_for_gate() -> str:
            """Wait until the gate opens."""
            self.started.set()
            try:
                await self.opened.wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
            self.finished = True
            return "opened"

        self.tool = wait_for_gate


def gated_run(gate: Gate) -> RunResultStreaming:
    """A run that calls `gate`'s tool, then answers "after the gate"."""
    model = ScriptedStreamModel([tool_call("wait_for_gate", {}), text("after the gate")])
    agent = Agent(name="worker", model=model, tools=[gate.tool])
    return Runner.run_streamed(agent, "go")


# The scenarios both bridges must carry, on `ScriptedStreamModel`


def build_scenario(name: str) -> tuple[Agent[Any], int | None, dict[str, Any]]:
    """A real agent on a scripted model for each scenario the bridges must carry, the number
    of text deltas after which the server cancels the run, and `Runner.run_streamed` options."""
    cancel_after = None
    options: dict[str, Any] = {}
    if name == "text":
        model = ScriptedStreamModel([text("Hello there, friend.")])
    elif name == "tool":
        # Sequential ids: test_ai_sdk checks the exact id of the answer's text part.
        model = ScriptedStreamModel(
            [
                turn(tool_call("get_weather", {"city": "Paris"}, call_id="call_w", chunks=4)),
                text("It is sunny in Paris."),
            ],
            ids="sequential",
        )
    elif name == "handoff":
        model = ScriptedStreamModel([handoff("billing", call_id="call_h"), text("Billing here.")])
    elif name == "reasoning":
        model = ScriptedStreamModel([turn(reasoning("Think it over."), text("The answer."))])
    elif name == "two_tools":
        model = ScriptedStreamModel(
            [
                turn(
                    tool_call("get_weather", {"city": "Paris"}, call_id="call_p", chunks=2),
                    tool_call("get_weather", {"city": "Rome"}, call_id="call_r", chunks=3),
                ),
                text("Both sunny."),
            ]
        )
    elif name == "failing":
        # MaxTurnsExceeded: the SDK delivers everything streamed before it (see test_secret_*
        # for a failure raised by the model itself).
        model = ScriptedStreamModel(
            [
                turn(
                    text("Let me check."),
                    tool_call("get_weather", {"city": "Oslo"}, call_id="call_o", chunks=2),
                ),
                text("never streamed"),
            ]
        )
        options["max_turns"] = 1
    elif name == "model_error":
        model = ScriptedStreamModel([turn(fail(RuntimeError("secret internal detail")))])
    elif name == "cancelled":
        # The pacing only makes the cut land mid-message; the checks hold wherever it lands.
        model = ScriptedStreamModel(
            [turn(text(["one ", "two ", "three ", "four ", "five"]), delay=0.02)]
        )
        cancel_after = 2
    else:
        raise AssertionError(f"unknown scenario {name!r}")
    billing = Agent(name="billing", model=model)
    agent = Agent(name="triage", model=model, tools=[get_weather], handoffs=[billing])
    return agent, cancel_after, options


SCENARIOS = ["text", "tool", "handoff", "reasoning", "two_tools", "failing", "cancelled"]
"""The scenarios a protocol's client reads over HTTP (`model_error` is checked in process)."""


async def scenario_events(name: str, prompt: Any = "hi") -> AsyncIterator[Event]:
    """The normalized events of a scenario's real run (the server cancels where it says)."""
    agent, cancel_after, options = build_scenario(name)
    result = Runner.run_streamed(agent, prompt, **options)
    seen = 0
    async with normalize(result) as stream:
        async for event in stream:
            yield event
            if isinstance(event, TextDelta):
                seen += 1
                if seen == cancel_after:
                    result.cancel()


async def collect_events(name: str) -> list[Event]:
    """All the normalized events of a scenario's real run."""
    return [e async for e in scenario_events(name)]


def waiting_agent(*before: Any) -> tuple[Agent[Any], asyncio.Event, asyncio.Event]:
    """An agent whose tool waits until cancelled: (agent, tool started, tool cancelled).

    `before`: outputs (`text(...)`) the model streams in the same turn, before the tool call.
    """
    started, cancelled = asyncio.Event(), asyncio.Event()

    @function_tool
    async def wait_forever() -> str:
        """Wait until the run is cancelled."""
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    model = ScriptedStreamModel([turn(*before, tool_call("wait_forever", {})), text("never")])
    return Agent(name="waiter", model=model, tools=[wait_forever]), started, cancelled


def slow_tool_agent(*before: Any) -> tuple[Agent[Any], asyncio.Event]:
    """An agent whose tool returns only once released, then answers "It is sunny.":
    (agent, release).

    `before`: outputs (`text(...)`) the model streams in the same turn, before the tool call.
    """
    release = asyncio.Event()

    @function_tool
    async def slow_lookup(city: str) -> str:
        """Look the weather up, slowly."""
        await release.wait()
        return f"sunny in {city}"

    model = ScriptedStreamModel(
        [
            turn(*before, tool_call("slow_lookup", {"city": "Paris"}, call_id="call_s")),
            text("It is sunny."),
        ]
    )
    return Agent(name="slow", model=model, tools=[slow_lookup]), release


# Interactive runs

REFUNDED: Final = "One refund went through."
"""The final text of `refund_agent`'s run."""


def refund_agent(calls: list[str], *between: Any, with_lookup: bool = False) -> Agent[Any]:
    """An agent whose run pauses on two refunds, then ends with `REFUNDED`.

    The first model turn calls `refund` twice (`call_a`, `call_b`; the tool needs approval)
    and, `with_lookup`, `lookup` once (`call_c`, no approval); `between` turns come next. Each
    refund that runs appends its order id to `calls`.
    """

    @function_tool(needs_approval=True)
    def refund(order_id: str) -> str:
        """Refund an order."""
        calls.append(order_id)
        return f"refunded {order_id}"

    @function_tool
    def lookup(order_id: str) -> str:
        """Look an order up."""
        return f"order {order_id} is paid"

    first = [
        tool_call("refund", {"order_id": "1"}, call_id="call_a"),
        tool_call("refund", {"order_id": "2"}, call_id="call_b"),
    ]
    if with_lookup:
        first.append(tool_call("lookup", {"order_id": "3"}, call_id="call_c"))
    script = [turn(*first), *between, turn(text(REFUNDED))]
    tools = [refund, lookup] if with_lookup else [refund]
    return Agent(name="support", model=ScriptedStreamModel(script), tools=tools)


# Given events


async def replay(events: list[Event]) -> AsyncIterator[Event]:
    """Yield `events` as a stream, as `normalize()` would."""
    for event in events:
        yield event
