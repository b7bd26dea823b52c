"""Fixtures and hypothesis profiles. The helpers the tests share live in `tests/support`."""

from __future__ import annotations

import os
from collections.abc import Iterator

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import pytest
from hypothesis import HealthCheck, settings

# The support modules check with `assert`: rewrite them as pytest does test modules, so that a
# failing check says what it compared.
pytest.register_assert_rewrite("tests.support")

# Machines here are shared and noisy: no per-example deadlines. `fuzz` is the long profile
# (HYPOTHESIS_PROFILE=fuzz), run outside the default test command.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "fuzz", deadline=None, max_examples=100_000, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a real redis-server, one for the whole session; skips without redis-server."""
    # Imported here, after the assert rewrite above is registered for the support modules.
    from .support.redis_server import serve_redis

    yield from serve_redis()
