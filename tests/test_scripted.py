"""The scripted-turn language and its in-process player, `ScriptedStreamModel`, on real SDK runs.

The HTTP player has its own tests in test_openai_server.py; the script checks shared by both
players are here.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
from agents import Agent, RunConfig, Runner, function_tool

import agentstream.testing
from agentstream import ConfigurationError, Event, MessageOutput, TextDelta, ToolOutput, normalize
from agentstream.testing import (
    OpenAIServer,
    Reasoning,
    ScriptedStreamModel,
    ScriptError,
    ScriptNotFinishedError,
    Text,
    ToolCall,
    Turn,
    error_event_after,
    fail,
    http_error,
    malformed_after,
    reasoning,
    reset_after,
    stall_after,
    text,
    tool_call,
    turn,
)

LIMIT = 10.0
"""Seconds any one wait of these tests may take before the test fails."""
RUN_CONFIG = RunConfig(tracing_disabled=True)


async def collect(result: Any) -> list[Event]:
    return await asyncio.wait_for(normalize(result).collect(), LIMIT)


def raw_types(events: list[Any]) -> list[str]:
    return [e.data.type for e in events if e.type == "raw_response_event"]


class Gate:
    """Holds every caller until `n` have arrived, so `n` runs are surely in flight at once."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.arrived = 0
        self.open = asyncio.Event()

    async def arrive(self) -> None:
        self.arrived += 1
        if self.arrived == self.n:
            self.open.set()
        await asyncio.wait_for(self.open.wait(), LIMIT)


# -- the language ----------------------------------------------------------------------


def test_builders_make_the_turns_both_players_play() -> None:
    assert text("Hello there") == Text(("Hello ", "there"))
    assert text(["Hel", "lo"]).text == "Hello"
    assert tool_call("get", {"a": 1}, chunks=2) == ToolCall("get", '{"a": 1}', None, 2)
    assert tool_call("get").arguments == "{}"
    assert reasoning(["a", "b"]) == Reasoning(("a", "b"))
    made = turn(reasoning("Think."), text(["a", "b"]), tool_call("t", chunks=3))
    assert made.output_tokens == 1 + 2 + 3  # one per delta unless given
    assert made.delay is None and made.fault is None
    # The model's former positional form still builds the same turn.
    assert Turn((text("x"),), 1, 2, 0.5) == turn(
        text("x"), input_tokens=1, output_tokens=2, delay=0.5
    )


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: turn("text"), "'text'"),  # type: ignore[arg-type]
        (lambda: turn(text("a"), fault="reset"), "'reset'"),  # type: ignore[arg-type]
        (lambda: turn(text("a"), delay=-1), "-1"),
        (lambda: text([b"bytes"]), "b'bytes'"),  # type: ignore[list-item]
        (lambda: tool_call("t", chunks=0), "0"),
        (lambda: fail("boom"), "'boom'"),  # type: ignore[arg-type]
        (lambda: reset_after(-1), "-1"),
        (lambda: http_error(200), "200"),
        (lambda: error_event_after(1, shape="loud"), "'loud'"),  # type: ignore[arg-type]
        (lambda: ScriptedStreamModel(["just a string"]), "'just a string'"),  # type: ignore[list-item]
        (lambda: ScriptedStreamModel("a script"), "'a script'"),  # type: ignore[arg-type]
        (lambda: ScriptedStreamModel([], ids="random"), "'random'"),  # type: ignore[arg-type]
        (lambda: ScriptedStreamModel([], delay=-0.5), "-0.5"),
    ],
)
def test_a_wrong_step_is_a_script_error_naming_it(build: Any, named: str) -> None:
    with pytest.raises(ScriptError, match=named) as caught:
        build()
    assert isinstance(caught.value, ConfigurationError)


@pytest.mark.parametrize(
    "fault",
    [http_error(500), reset_after(1), malformed_after(1), error_event_after(1)],
    ids=["http_error", "reset_after", "malformed_after", "error_event_after"],
)
def test_the_model_refuses_the_faults_of_the_wire(fault: Any) -> None:
    with pytest.raises(ScriptError, match=r"ScriptedStreamModel cannot play .*OpenAIServer"):
        ScriptedStreamModel([turn(text("a"), fault=fault)])
    with pytest.raises(ScriptError, match="ScriptedStreamModel cannot play"):
        ScriptedStreamModel([fault])  # a fault alone is a turn of its own
    OpenAIServer([turn(text("a"), fault=fault)])  # the server plays it


def test_the_server_refuses_an_exception() -> None:
    with pytest.raises(ScriptError, match=r"OpenAIServer cannot play Fail\(.*http_error"):
        OpenAIServer([turn(text("a"), fail(RuntimeError("boom")))])
    ScriptedStreamModel([turn(text("a"), fail(RuntimeError("boom")))])  # the model plays it


def test_deprecated_names_warn_and_still_build_the_same_turns() -> None:
    with pytest.warns(DeprecationWarning, match=r"text_turn is deprecated.*turn\(text"):
        text_turn = agentstream.testing.text_turn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ns = agentstream.testing
        usage = {"input_tokens": 10, "output_tokens": 5, "delay": 0.0}
        # A plain string was one chunk, and the usage 10 + 5, unless given.
        assert text_turn("one chunk") == turn(text(["one chunk"]), **usage)
        assert text_turn(["a", "b"], usage=(3, 2)) == turn(
            text(["a", "b"]), input_tokens=3, output_tokens=2, delay=0.0
        )
        call = tool_call("get", {"city": "Oslo"}, call_id="c", chunks=2)
        assert ns.function_call("get", {"city": "Oslo"}, call_id="c", chunks=2) == call
        assert ns.FunctionCall("get", '{"city": "Oslo"}', "c", 2) == call
        assert ns.tool_call_turn("get", {"city": "Oslo"}, call_id="c", chunks=2) == turn(
            call, **usage
        )
        assert ns.tool_calls_turn([call, call]) == turn(call, call, **usage)
        assert ns.ServerText(("a",)) == text(["a"])
        assert ns.ServerReasoning(("r",)) == reasoning(["r"])
        assert ns.ServerTurn((text(["a"]),), ns.ServerUsage(1, 4, reasoning_tokens=2)) == turn(
            text(["a"]), input_tokens=1, output_tokens=4, reasoning_tokens=2, delay=0.0
        )
        then = ns.text_turn("Hi.", usage=(10, 2))
        assert ns.reasoning_turn(["Th", "ink"], then=then, reasoning_tokens=3) == turn(
            reasoning(["Th", "ink"]),
            text(["Hi."]),
            input_tokens=10,
            output_tokens=5,
            reasoning_tokens=3,
            delay=0.0,
        )
    for name in agentstream.testing._DEPRECATED:
        with pytest.warns(DeprecationWarning, match=f"agentstream.testing.{name} is deprecated"):
            getattr(agentstream.testing, name)
        assert name not in agentstream.testing.__all__
    with pytest.raises(AttributeError, match="no_such_name"):
        agentstream.testing.no_such_name  # noqa: B018


# -- playing a script ------------------------------------------------------------------


async def test_outputs_before_fail_stream_without_pacing() -> None:
    """The SDK drops what its consumer has not taken when the model fails: the model waits."""
    script = [turn(text(["The ", "answer ", "is"]), fail(RuntimeError("boom")))]
    events = await collect(
        Runner.run_streamed(agent_on(ScriptedStreamModel(script)), "q", run_config=RUN_CONFIG)
    )
    assert [e.delta for e in events if isinstance(e, TextDelta)] == ["The ", "answer ", "is"]
    done = events[-1]
    assert done.status == "error" and done.partial_text == "The answer is"

    result = Runner.run_streamed(agent_on(ScriptedStreamModel(script)), "q", run_config=RUN_CONFIG)
    seen: list[Any] = []

    async def consume() -> None:
        async for event in result.stream_events():
            seen.append(event)  # noqa: PERF401 - what came before the error is the point

    with pytest.raises(RuntimeError, match="boom"):
        await asyncio.wait_for(consume(), LIMIT)
    assert raw_types(seen).count("response.output_text.delta") == 3
    assert raw_types(seen)[-1] == "response.output_item.done"


async def test_a_failure_before_any_output_raises_from_the_call() -> None:
    model = ScriptedStreamModel([fail(ValueError("no"))])
    with pytest.raises(ValueError, match="no"):
        await asyncio.wait_for(Runner.run(agent_on(model), "q", run_config=RUN_CONFIG), LIMIT)


async def test_stall_holds_the_call_until_the_run_is_cancelled() -> None:
    model = ScriptedStreamModel([turn(text(["a", "b", "c"]), fault=stall_after(2))])
    result = Runner.run_streamed(agent_on(model), "q", run_config=RUN_CONFIG)
    seen: list[Any] = []
    got_both = asyncio.Event()

    async def consume() -> None:
        async for event in result.stream_events():
            seen.append(event)
            if raw_types(seen).count("response.output_text.delta") == 2:
                got_both.set()

    consumer = asyncio.ensure_future(consume())
    await asyncio.wait_for(model.stalled.wait(), LIMIT)
    await asyncio.wait_for(got_both.wait(), LIMIT)
    assert not consumer.done()  # the stall holds the stream open
    result.cancel()
    await asyncio.wait_for(consumer, LIMIT)
    deltas = [
        e.data.delta for e in seen if e.type == "raw_response_event" and "delta" in e.data.type
    ]
    assert deltas == ["a", "b"]
    assert "response.completed" not in raw_types(seen)


async def test_a_run_that_asks_for_more_turns_fails_with_a_script_error() -> None:
    model = ScriptedStreamModel([tool_call("lookup", {"q": "x"})])
    agent = agent_on(model, tools=[lookup])
    with pytest.raises(ScriptError, match="model call 2, but only 1 were scripted"):
        await asyncio.wait_for(Runner.run(agent, "q", run_config=RUN_CONFIG), LIMIT)
    assert model.calls == 2 and model.remaining == 0


def test_assert_complete_counts_unplayed_turns() -> None:
    model = ScriptedStreamModel([text("a"), text("b")])
    with pytest.raises(ScriptNotFinishedError, match="2 scripted turn"):
        model.assert_complete()
    assert isinstance(ScriptNotFinishedError("x"), AssertionError)


async def test_non_streamed_run_reports_the_scripted_usage() -> None:
    model = ScriptedStreamModel(
        [
            turn(
                reasoning("Hmm."),
                text("Four."),
                input_tokens=8,
                output_tokens=7,
                reasoning_tokens=5,
                cached_tokens=2,
            )
        ]
    )
    result = await asyncio.wait_for(Runner.run(agent_on(model), "q", run_config=RUN_CONFIG), LIMIT)
    assert result.final_output == "Four."
    usage = result.context_wrapper.usage
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == (1, 8, 7)
    assert usage.output_tokens_details.reasoning_tokens == 5
    assert usage.input_tokens_details.cached_tokens == 2


# -- ids -------------------------------------------------------------------------------


def ids_of(events: list[Event]) -> set[str]:
    ids = {e.message_id for e in events if isinstance(e, (TextDelta, MessageOutput))}
    ids |= {e.call_id for e in events if isinstance(e, ToolOutput)}
    return {i for i in ids if i}


async def test_ids_differ_across_models_and_runs() -> None:
    """Two models with one script used to both start at the same ids; a client then merged
    their answers into one message."""

    def script() -> list[Any]:
        return [tool_call("lookup", {"q": "x"}), text("Done.")]

    first, second = [
        await collect(
            Runner.run_streamed(agent_on(model, tools=[lookup]), "q", run_config=RUN_CONFIG)
        )
        for model in (ScriptedStreamModel(script()), ScriptedStreamModel(script()))
    ]
    assert len(ids_of(first)) == len(ids_of(second)) == 2  # a call id and a message id
    assert ids_of(first).isdisjoint(ids_of(second))

    shared = ScriptedStreamModel(script(), per_run=True)
    agent = agent_on(shared, tools=[lookup])
    runs = [await collect(Runner.run_streamed(agent, "q", run_config=RUN_CONFIG)) for _ in "ab"]
    assert ids_of(runs[0]).isdisjoint(ids_of(runs[1]))


async def test_sequential_ids_count_from_one_in_each_model() -> None:
    for _ in range(2):
        model = ScriptedStreamModel(
            [tool_call("lookup", {"q": "x"}), text("Done.")], ids="sequential"
        )
        agent = agent_on(model, tools=[lookup])
        events = await collect(Runner.run_streamed(agent, "q", run_config=RUN_CONFIG))
        assert ids_of(events) == {"call_1", "msg_resp_2_0"}


# -- many runs on one model ------------------------------------------------------------


@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "not_streamed"])
async def test_a_factory_gives_each_of_20_concurrent_runs_its_own_script(streamed: bool) -> None:
    gate = Gate(20)
    prompts: list[str] = []

    @function_tool
    async def find(who: str) -> str:
        """Find someone."""
        await gate.arrive()  # every run is now between its two model calls
        return f"found {who}"

    def script_for(prompt: str) -> list[Any]:
        prompts.append(prompt)
        return [tool_call("find", {"who": prompt}, chunks=2), text(f"Answer for {prompt}.")]

    model = ScriptedStreamModel(script_for, delay=0.001)
    agent = agent_on(model, tools=[find])

    async def one(i: int) -> tuple[Any, list[str]]:
        if not streamed:
            result = await Runner.run(agent, f"user {i}", run_config=RUN_CONFIG)
            outputs = [
                item.output for item in result.new_items if item.type == "tool_call_output_item"
            ]
            return result.final_output, outputs
        events = await normalize(
            Runner.run_streamed(agent, f"user {i}", run_config=RUN_CONFIG)
        ).collect()
        done = events[-1]
        return done.final_output, [e.output for e in events if isinstance(e, ToolOutput)]

    results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(20))), LIMIT)
    assert results == [(f"Answer for user {i}.", [f"found user {i}"]) for i in range(20)]
    assert sorted(prompts) == sorted(f"user {i}" for i in range(20))
    assert model.calls == 40
    assert model.remaining == 0
    model.assert_complete()


async def test_per_run_plays_the_same_list_for_every_run() -> None:
    gate = Gate(5)

    @function_tool
    async def wait_for_all() -> str:
        """Wait for the other runs."""
        await gate.arrive()
        return "ok"

    model = ScriptedStreamModel([tool_call("wait_for_all"), text("Same.")], per_run=True)
    agent = agent_on(model, tools=[wait_for_all])
    runs = [Runner.run(agent, f"q{i}", run_config=RUN_CONFIG) for i in range(5)]
    results = await asyncio.wait_for(asyncio.gather(*runs), LIMIT)
    assert [r.final_output for r in results] == ["Same."] * 5
    assert model.remaining == 0
    with pytest.raises(ScriptError, match="shared script"):
        OpenAIServer([text("a")], per_run=True).add(text("b"))


async def test_a_new_user_message_starts_a_new_run() -> None:
    """The next message of a conversation carries the earlier items, and is still a new run."""
    model = ScriptedStreamModel([tool_call("lookup", {"q": "x"}), text("Done.")], per_run=True)
    agent = agent_on(model, tools=[lookup])
    first = await asyncio.wait_for(Runner.run(agent, "q", run_config=RUN_CONFIG), LIMIT)
    follow_up = [*first.to_input_list(), {"role": "user", "content": "and again?"}]
    second = await asyncio.wait_for(Runner.run(agent, follow_up, run_config=RUN_CONFIG), LIMIT)
    assert first.final_output == second.final_output == "Done."
    assert model.calls == 4 and model.remaining == 0


async def test_one_model_shared_by_concurrent_runs_takes_turns_in_order() -> None:
    """Without per_run, the script is one queue: calls take its turns as they come."""
    model = ScriptedStreamModel([text("first"), text("second")])
    results = await asyncio.wait_for(
        asyncio.gather(*(Runner.run(agent_on(model), "q", run_config=RUN_CONFIG) for _ in "ab")),
        LIMIT,
    )
    assert sorted(r.final_output for r in results) == ["first", "second"]
    with pytest.raises(ScriptError, match="model call 3, but only 2 were scripted"):
        await asyncio.wait_for(Runner.run(agent_on(model), "q", run_config=RUN_CONFIG), LIMIT)


# -- helpers ---------------------------------------------------------------------------


@function_tool
def lookup(q: str) -> str:
    """Look something up."""
    return f"about {q}"


def agent_on(model: ScriptedStreamModel, **options: Any) -> Agent[Any]:
    return Agent(name="a", model=model, **options)
