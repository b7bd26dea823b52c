"""Every event kind the installed SDK can emit has a documented mapping.

A new SDK release that adds an event name or a raw event type fails here, loudly, instead of
having its events dropped without anyone deciding so.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path

from agents.items import TResponseStreamEvent
from agents.stream_events import RunItemStreamEvent, StreamEvent

from agentstream._mapping import ITEM_EVENTS, RAW_EVENTS

DOC = (Path(__file__).parent.parent / "docs" / "events.md").read_text(encoding="utf-8")


def _members(tp: object) -> list[type]:
    if typing.get_origin(tp) is typing.Annotated:
        return _members(typing.get_args(tp)[0])
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(tp) for m in _members(arg)]
    assert isinstance(tp, type)
    return [tp]


def sdk_item_names() -> set[str]:
    return set(typing.get_args(typing.get_type_hints(RunItemStreamEvent)["name"]))


def sdk_raw_types() -> set[str]:
    out = set()
    for cls in _members(TResponseStreamEvent):
        (tag,) = typing.get_args(cls.model_fields["type"].annotation)
        out.add(tag)
    return out


def test_every_run_item_name_has_a_mapping() -> None:
    names = sdk_item_names()
    assert "handoff_occured" in names  # the SDK's spelling, kept forever
    missing = names - set(ITEM_EVENTS)
    assert not missing, f"run item names with no mapping: {sorted(missing)}"
    for name, rule in ITEM_EVENTS.items():
        assert bool(rule.becomes) != bool(rule.why), name  # mapped, or dropped for a reason
        assert (rule.handler is not None) == bool(rule.becomes), name


def test_every_raw_event_type_is_mapped_or_dropped_for_a_reason() -> None:
    raw = sdk_raw_types()
    assert len(raw) > 20
    unknown = raw - set(RAW_EVENTS)
    assert not unknown, f"raw Responses events with no decision: {sorted(unknown)}"
    for raw_type, rule in RAW_EVENTS.items():
        assert bool(rule.becomes) != bool(rule.why), raw_type  # mapped, or dropped for a reason
        if rule.becomes:
            assert rule.handler is not None, raw_type


def test_every_wrapper_kind_is_handled() -> None:
    kinds = {typing.get_args(typing.get_type_hints(c)["type"])[0] for c in _members(StreamEvent)}
    assert kinds == {"raw_response_event", "run_item_stream_event", "agent_updated_stream_event"}


def test_the_docs_table_names_every_mapping() -> None:
    for name in ITEM_EVENTS:
        assert f"| `{name}` |" in DOC, name
    for raw_type in RAW_EVENTS:  # the dropped ones too, each with its reason
        assert f"`{raw_type}`" in DOC, raw_type
