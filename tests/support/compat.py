"""What the installed openai-agents release has, for tests that need a newer one.

`agents.testing.ScriptedModel` (with `ModelStep` and `function_call`) exists from openai-agents
0.21: tests that use it are marked `requires_sdk_scripted_model` and skip on older releases,
where `agentstream.testing.ScriptedStreamModel` covers the same scenarios.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from typing import Any

import pytest


def _release(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


SDK_VERSION: tuple[int, ...] = _release(importlib.metadata.version("openai-agents"))
"""The installed openai-agents release, e.g. (0, 24, 0)."""
OPENAI_VERSION: tuple[int, ...] = _release(importlib.metadata.version("openai"))
"""The installed openai release."""
HAS_SDK_SCRIPTED_MODEL = importlib.util.find_spec("agents.testing") is not None
"""Whether `agents.testing.ScriptedModel` exists (openai-agents 0.21 and later)."""

ScriptedModel: Any = None
ModelStep: Any = None
function_call: Any = None
if HAS_SDK_SCRIPTED_MODEL:
    from agents.testing import ModelStep, ScriptedModel, function_call  # noqa: F401

requires_sdk_scripted_model = pytest.mark.skipif(
    not HAS_SDK_SCRIPTED_MODEL,
    reason="agents.testing.ScriptedModel is in openai-agents 0.21 and later; "
    "the same scenarios run on agentstream.testing.ScriptedStreamModel",
)
"""Skip a test on releases without `agents.testing.ScriptedModel`."""
