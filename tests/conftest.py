"""Shared fixtures: real SDK runs on scripted models, and checks every stream must pass."""

from __future__ import annotations

import os

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, settings

from agentstream import Done, Event

# Machines here are shared and noisy: no per-example deadlines. `fuzz` is the long profile
# (HYPOTHESIS_PROFILE=fuzz), run outside the default test command.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "fuzz", deadline=None, max_examples=100_000, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


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


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
