"""Real runs of the SDK's own OpenAI models over HTTP against a scripted `OpenAIServer`, on both
model paths (Responses and Chat Completions), normalized and bounded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    RunConfig,
    Runner,
)

from agentstream import Done, Event, EventStream, TextDelta, normalize
from agentstream.testing import OpenAIServer

from .checks import assert_well_formed

if TYPE_CHECKING:
    from agents.models.interface import Model
    from agents.result import RunResultStreaming

KINDS = ["responses", "chat"]
"""The SDK's two model paths, as `make_model` names them."""
LIMIT = 10.0
"""Seconds any one wait of these tests may take before the test fails."""
RUN_CONFIG = RunConfig(tracing_disabled=True)
SETTINGS = ModelSettings(include_usage=True)
"""The chat path reports usage only when asked to (see "Model paths" in docs/reliability.md)."""


def make_model(kind: str, server: OpenAIServer, **client_options: Any) -> Model:
    """The SDK's real OpenAI model of path `kind`, talking to `server`."""
    client = server.client(**client_options)
    if kind == "responses":
        return OpenAIResponsesModel(model="gpt-test", openai_client=client)
    return OpenAIChatCompletionsModel(model="gpt-test", openai_client=client)


async def assert_no_task_left(baseline: set[asyncio.Task[Any]]) -> None:
    """Every task started since `baseline` finishes within `LIMIT` seconds."""
    me = asyncio.current_task()
    loop = asyncio.get_running_loop()
    give_up = loop.time() + LIMIT
    while left := {t for t in asyncio.all_tasks() if t not in baseline and t is not me}:
        assert loop.time() < give_up, f"tasks left running: {left}"
        await asyncio.wait(left, timeout=give_up - loop.time())


class WireRun:
    """One normalized run of a real SDK model against a scripted `OpenAIServer`."""

    def __init__(self, events: list[Event], stream: EventStream, server: OpenAIServer) -> None:
        self.events = events
        """Every normalized event, `Done` last."""
        self.stream = stream
        """The stream that produced them."""
        self.server = server
        """The (now closed) server, for its recorded requests and unused turns."""

    @property
    def done(self) -> Done:
        """The one `Done`, checked to be last and alone."""
        return assert_well_formed(self.events)

    @property
    def result(self) -> RunResultStreaming:
        """The SDK result."""
        return self.stream.result

    def of(self, kind: type[Any]) -> list[Any]:
        """The events of one class."""
        return [e for e in self.events if isinstance(e, kind)]

    def wire(self) -> str:
        """All events as the JSON a client would receive."""
        return json.dumps([e.model_dump(mode="json") for e in self.events])


async def run_on_wire(
    kind: str,
    script: Sequence[Any],
    agent: Callable[[Model, OpenAIServer], Agent[Any]],
    *,
    client_options: dict[str, Any] | None = None,
    run_kwargs: dict[str, Any] | None = None,
    consume: Callable[[EventStream], Any] | None = None,
    **normalize_kwargs: Any,
) -> WireRun:
    """Run `agent(model, server)` on path `kind` against `script`, normalized and bounded.

    Afterwards no task started by the run is left and the SDK's run task is done.
    """
    baseline = asyncio.all_tasks()
    # Sequential ids: the same script gives the same events, so two runs compare equal.
    async with OpenAIServer(script, ids="sequential") as server:
        model = make_model(kind, server, **(client_options or {}))
        result = Runner.run_streamed(
            agent(model, server), "hi", run_config=RUN_CONFIG, **(run_kwargs or {})
        )
        stream = normalize(result, **normalize_kwargs)
        events = await asyncio.wait_for((consume or EventStream.collect)(stream), LIMIT)
    await assert_no_task_left(baseline)
    task = result.run_loop_task
    assert task is not None and task.done()
    assert not server.errors
    return WireRun(events, stream, server)


def texts(events: Sequence[Event]) -> list[str]:
    """The text deltas, without the empty one some releases send first on the chat path."""
    return [e.delta for e in events if isinstance(e, TextDelta) and e.delta]
