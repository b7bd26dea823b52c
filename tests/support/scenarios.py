"""Real SDK workflows used across the tests, on `agents.testing.ScriptedModel` and on our own
`ScriptedStreamModel`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

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
