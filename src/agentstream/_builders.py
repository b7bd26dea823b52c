"""Drafts, and building events from them.

A *draft* is an event without its envelope: the event class, its payload, and the agent that was
active. `normalize()` numbers and stamps drafts into events once buffering has decided how to
group them; every event is built by its model, validated.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from ._events import Event, EventBase, ReasoningDelta, TextDelta, ToolArgumentsDelta

__all__ = ["DELTA_KINDS", "Draft", "build"]


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


def build(draft: Draft, seq: int, run_id: str, timestamp: int) -> Event:
    """The event of `draft`, numbered and stamped, built and validated by its model."""
    event: Event = draft.kind(  # type: ignore[assignment]
        seq=seq, run_id=run_id, agent=draft.agent, timestamp=timestamp, **draft.fields
    )
    return event
