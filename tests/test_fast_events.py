"""Delta events built without validation are exactly what validation would build."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agentstream import ReasoningDelta, TextDelta, ToolArgumentsDelta, parse_event
from agentstream._mapping import Draft
from agentstream._normalize import _trusted_delta, _validated

from .strategies import texts

KEYS = {TextDelta: "message_id", ReasoningDelta: "reasoning_id", ToolArgumentsDelta: "call_id"}


@st.composite
def delta_drafts(draft: st.DrawFn) -> Draft:
    kind = draft(st.sampled_from(list(KEYS)))
    key = draft(texts if kind is ToolArgumentsDelta else st.none() | texts)
    agent = draft(st.none() | texts)
    return Draft(kind, {"delta": draft(texts), KEYS[kind]: key}, agent)


@given(delta_drafts(), st.integers(0, 2**53), texts, st.integers(0, 2**53))
def test_the_short_way_builds_the_same_event(draft: Draft, seq: int, run_id: str, ts: int) -> None:
    fast = _trusted_delta(draft, seq, run_id, ts)
    slow = _validated(draft, seq, run_id, ts)
    assert fast is not None
    assert type(fast) is type(slow)
    assert fast == slow
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.model_dump_json() == slow.model_dump_json()
    assert parse_event(fast.model_dump_json()) == slow
    assert hash(fast) == hash(slow)


@given(st.sampled_from(list(KEYS)), st.sampled_from([1, b"x", 2.5, ["x"]]))
def test_a_field_of_another_type_takes_the_validating_way(kind: Any, odd: Any) -> None:
    draft = Draft(kind, {"delta": odd, KEYS[kind]: "id"}, "agent")
    assert _trusted_delta(draft, 0, "r", 1) is None
