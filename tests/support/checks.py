"""Checks every agentstream event stream must pass."""

from __future__ import annotations

from collections.abc import Sequence

from agentstream import Done, Event


def assert_well_formed(events: Sequence[Event]) -> Done:
    """Check the envelope rules every stream obeys; return its Done."""
    assert events, "a stream always has at least its Done"
    assert [e.seq for e in events] == list(range(len(events))), "seq is contiguous from 0"
    assert len({e.run_id for e in events}) == 1, "one run_id per stream"
    dones = [e for e in events if isinstance(e, Done)]
    assert len(dones) == 1, f"exactly one Done, got {len(dones)}"
    assert isinstance(events[-1], Done), "Done is last"
    assert all(e.timestamp > 0 for e in events)
    return dones[0]
