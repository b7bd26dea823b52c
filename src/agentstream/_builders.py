"""Building events from drafts: validated, or without validation where it could change nothing.

A *draft* is an event without its envelope: the event class, its payload, and the agent that was
active. `normalize()` numbers and stamps drafts into events once buffering has decided how to
group them. Delta events are most of a stream, and their fields arrive with exactly the types they
are declared with, so they are built the short way: the same model validation would build (same
fields, same `model_fields_set`), without running it. Tests check the two ways agree for any
input.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from ._events import Event, EventBase, ReasoningDelta, TextDelta, ToolArgumentsDelta

__all__ = ["DELTA_KINDS", "Draft", "build", "text_delta", "validated"]


class Draft(NamedTuple):
    """An event before its envelope is known."""

    kind: type[EventBase]
    """The event class to build."""
    fields: dict[str, Any]
    """The payload fields."""
    agent: str | None
    """The agent active when the SDK event arrived."""


DELTA_KINDS: Final[dict[type[EventBase], str]] = {
    TextDelta: "message_id",
    ReasoningDelta: "reasoning_id",
    ToolArgumentsDelta: "call_id",
}
"""Delta event classes that buffering may coalesce, with the field that keys a run of them."""

_set = object.__setattr__
_ENVELOPE: Final = frozenset(EventBase.model_fields)
_MISSING: Final = object()


def _delta_spec(cls: type[EventBase]) -> tuple[str, tuple[str, ...], frozenset[str]]:
    names = tuple(name for name in cls.model_fields if name not in _ENVELOPE)
    nullable = frozenset(n for n in names if cls.model_fields[n].annotation is not str)
    return cls.model_fields["type"].default, names, nullable


_TRUSTED: Final = {cls: _delta_spec(cls) for cls in DELTA_KINDS}
"""Each delta event class: its `type` tag, its payload fields, and those that may be None."""


def _assemble(cls: type[EventBase], values: dict[str, Any], fields_set: set[str]) -> Any:
    """A model instance holding `values`, as validation would have left it."""
    event = cls.__new__(cls)
    _set(event, "__dict__", values)
    _set(event, "__pydantic_fields_set__", fields_set)
    _set(event, "__pydantic_extra__", None)
    _set(event, "__pydantic_private__", None)
    return event


def _trusted(draft: Draft, seq: int, run_id: str, timestamp: int) -> Event | None:
    """A delta event built without validation, or None where validation could change something.

    That is when every field already has the exact type it is declared with (`str`, or None
    where None is allowed) and the envelope is in range.
    """
    spec = _TRUSTED.get(draft.kind)
    if spec is None:
        return None
    tag, names, nullable = spec
    fields = draft.fields
    agent = draft.agent
    if len(fields) != len(names) or type(run_id) is not str or seq < 0 or timestamp < 0:
        return None
    if agent is not None and type(agent) is not str:
        return None
    values = {"type": tag, "seq": seq, "run_id": run_id, "agent": agent, "timestamp": timestamp}
    for name in names:
        value = fields.get(name, _MISSING)
        if type(value) is not str and (value is not None or name not in nullable):
            return None
        values[name] = value
    fields_set = {"seq", "run_id", "agent", "timestamp", *names}
    event: Event = _assemble(draft.kind, values, fields_set)
    return event


def validated(draft: Draft, seq: int, run_id: str, timestamp: int) -> Event:
    """The event of `draft`, built and validated by its model."""
    event: Event = draft.kind(  # type: ignore[assignment]
        seq=seq, run_id=run_id, agent=draft.agent, timestamp=timestamp, **draft.fields
    )
    return event


def build(draft: Draft, seq: int, run_id: str, timestamp: int) -> Event:
    """The event of `draft`: the short way for a delta whose fields need no validation."""
    event = _trusted(draft, seq, run_id, timestamp)
    return validated(draft, seq, run_id, timestamp) if event is None else event


_TEXT_FIELDS_SET: Final = frozenset({"seq", "run_id", "agent", "timestamp", "delta", "message_id"})


def text_delta(
    seq: int, run_id: str, agent: str | None, timestamp: int, delta: str, message_id: str | None
) -> TextDelta:
    """A `TextDelta` built without validation; every argument must have its declared type.

    For text runs (`_textrun`), whose fields were checked when the run was made.
    """
    values = {
        "type": "text_delta",
        "seq": seq,
        "run_id": run_id,
        "agent": agent,
        "timestamp": timestamp,
        "delta": delta,
        "message_id": message_id,
    }
    event: TextDelta = _assemble(TextDelta, values, set(_TEXT_FIELDS_SET))
    return event
