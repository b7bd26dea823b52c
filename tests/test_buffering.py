"""Chunk buffering: fewer, larger deltas; the text never changes, only its grouping."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents import Agent, Runner
from hypothesis import given
from hypothesis import strategies as st

from agentstream import (
    BufferPolicy,
    ConfigurationError,
    Event,
    MessageOutput,
    TextDelta,
    ToolCallStarted,
    ToolOutput,
    normalize,
)
from agentstream._buffering import Coalescer
from agentstream._builders import Draft
from agentstream.testing import ScriptedStreamModel, text, tool_call, turn

from .support.checks import assert_well_formed
from .support.compat import ScriptedModel, requires_sdk_scripted_model
from .support.scenarios import chunked_text


async def run(model: Any, policy: BufferPolicy, **kwargs: Any) -> list[Event]:
    result = Runner.run_streamed(Agent(name="a", model=model, **kwargs), "q")
    async with asyncio.timeout(20):
        events = await normalize(result, buffer=policy).collect()
    assert_well_formed(events)
    return events


def deltas(events: list[Event]) -> list[str]:
    return [e.delta for e in events if isinstance(e, TextDelta)]


async def test_400_paced_tokens_become_at_most_40_deltas() -> None:
    tokens = [f"w{i} " for i in range(400)]
    model = ScriptedStreamModel([turn(text(tokens), delay=0.002)])
    events = await run(model, BufferPolicy(max_delay=0.05, max_chars=10_000))
    out = deltas(events)
    assert "".join(out) == "".join(tokens)
    assert 1 <= len(out) <= 40


@requires_sdk_scripted_model
async def test_a_buffered_delta_goes_out_on_its_timer_while_the_model_is_silent() -> None:
    gate = asyncio.Event()
    model = ScriptedModel(
        [chunked_text(["Hel", "lo", " world"], pause=lambda i: gate.wait() if i == 1 else None)]
    )
    result = Runner.run_streamed(Agent(name="a", model=model), "q")
    stream = normalize(result, buffer=BufferPolicy(max_delay=0.05, max_chars=10_000))
    async with asyncio.timeout(10):
        first = await stream.__anext__()
        assert isinstance(first, TextDelta) and first.delta == "Hello"
        assert not gate.is_set()  # nothing new came from the SDK: the timer sent it
        gate.set()
        rest = await stream.collect()
    assert deltas(rest) == [" world"]
    assert assert_well_formed([first, *rest]).final_output == "Hello world"


async def test_max_chars_sends_the_buffer_at_once() -> None:
    model = ScriptedStreamModel([text(["abcd"] * 10)])
    events = await run(model, BufferPolicy(max_delay=10.0, max_chars=10))
    out = deltas(events)
    assert "".join(out) == "abcd" * 10
    assert all(len(d) >= 10 for d in out[:-1]) and len(out) >= 3


async def test_another_kind_of_event_flushes_first() -> None:
    from .support.scenarios import get_weather

    model = ScriptedStreamModel(
        [turn(text("Let me check."), tool_call("get_weather", {"city": "Oslo"})), text("Sunny.")]
    )
    events = await run(model, BufferPolicy(max_delay=10.0, max_chars=10_000), tools=[get_weather])
    kinds = [type(e) for e in events]
    first_text = kinds.index(TextDelta)
    assert kinds.index(ToolCallStarted) > first_text
    assert deltas(events) == ["Let me check.", "Sunny."]
    assert kinds.index(ToolOutput) < len(kinds) - 1
    assert [e.text for e in events if isinstance(e, MessageOutput)] == ["Let me check.", "Sunny."]


async def test_zero_delay_joins_only_what_is_already_waiting() -> None:
    tokens = [f"t{i} " for i in range(200)]
    events = await run(
        ScriptedStreamModel([text(tokens)]), BufferPolicy(max_delay=0, max_chars=10_000)
    )
    out = deltas(events)
    assert "".join(out) == "".join(tokens) and len(out) <= len(tokens)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_delay": -0.1}, "max_delay"),
        ({"max_delay": float("nan")}, "max_delay"),
        ({"max_delay": "0.1"}, "max_delay"),
        ({"max_chars": 0}, "max_chars"),
        ({"max_chars": 1.5}, "max_chars"),
        ({"max_chars": True}, "max_chars"),
        ({"max_delay": True}, "max_delay"),
    ],
)
def test_bad_policies_are_rejected_with_their_value(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        BufferPolicy(**kwargs)


# Any chunking: the coalescer alone, with flushes at arbitrary points.

keys = st.sampled_from(["m1", "m2", None])
steps = st.lists(
    st.one_of(
        st.tuples(st.just("delta"), keys, st.text(max_size=5)),
        st.tuples(st.just("other"), st.none(), st.text(max_size=3)),
        st.tuples(st.just("flush"), st.none(), st.just("")),
        st.tuples(st.just("agent"), st.none(), st.just("")),
    ),
    max_size=60,
)


@given(steps, st.integers(min_value=1, max_value=12))
def test_coalescing_preserves_text_and_order_for_any_chunking(
    script: list[tuple[str, Any, str]], max_chars: int
) -> None:
    coalescer = Coalescer(BufferPolicy(max_delay=1.0, max_chars=max_chars))
    agent = "a"
    sent: list[Draft] = []
    out: list[Draft] = []
    for now, (action, key, value) in enumerate(script):
        if action == "flush":
            out += coalescer.flush()
            continue
        if action == "agent":
            agent = "b" if agent == "a" else "a"
            continue
        if action == "delta":
            draft = Draft(TextDelta, {"delta": value, "message_id": key}, agent)
        else:
            draft = Draft(ToolCallStarted, {"call_id": value, "name": "t"}, agent)
        sent.append(draft)
        out += coalescer.offer(draft, float(now))
    out += coalescer.flush()

    def stream_of(drafts: list[Draft]) -> list[tuple[Any, ...]]:
        # Each character tagged with its message and agent, other events as markers: equal
        # streams mean the same text, in the same order, under the same keys.
        flat: list[tuple[Any, ...]] = []
        for d in drafts:
            if d.kind is TextDelta:
                flat += [("c", d.fields["message_id"], d.agent, ch) for ch in d.fields["delta"]]
            else:
                flat.append(("x", d.fields["call_id"], d.agent))
        return flat

    assert stream_of(out) == stream_of(sent)
    # Deltas join only their own kind of neighbours, never across another event.
    assert len([d for d in out if d.kind is not TextDelta]) == len(
        [d for d in sent if d.kind is not TextDelta]
    )
