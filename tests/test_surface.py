"""The public surface: names by capability, documented, light to import, old names deprecated."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

import agentstream
from agentstream import agui, ai_sdk, resume

PUBLIC_MODULES = [
    "agentstream",
    "agentstream.agui",
    "agentstream.ai_sdk",
    "agentstream.conversations",
    "agentstream.frameworks",
    "agentstream.interactive",
    "agentstream.nested",
    "agentstream.resume",
    "agentstream.redis",
    "agentstream.web",
    "agentstream.testing",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_name_exists_and_is_documented(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__
    assert len(set(module.__all__)) == len(module.__all__)
    for public in module.__all__:
        value = getattr(module, public)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name}.{public} has no docstring"


def test_the_bridges_offer_the_same_verbs() -> None:
    assert (
        agui.__all__
        == ai_sdk.__all__
        == [
            "HEADERS",
            "encode",
            "endpoint",
            "history_endpoint",
            "messages_to_input",
            "resume_endpoint",
            "run",
        ]
    )
    # Both stream SSE through proxies: no caching, no buffering.
    for headers in (agui.HEADERS, ai_sdk.HEADERS):
        lowered = {k.lower(): v for k, v in headers.items()}
        assert lowered["cache-control"] == "no-cache"
        assert lowered["x-accel-buffering"] == "no"
    assert ai_sdk.HEADERS["x-vercel-ai-ui-message-stream"] == "v1"


@pytest.mark.parametrize("old", sorted(agentstream._MOVED))
def test_a_moved_name_still_works_and_says_where_it_went(old: str) -> None:
    module, new = agentstream._MOVED[old]
    with pytest.warns(DeprecationWarning, match=rf"agentstream\.{module}\.{new}\b"):
        value = getattr(agentstream, old)
    assert value is getattr(importlib.import_module(f"agentstream.{module}"), new)
    assert old not in agentstream.__all__


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        agentstream.no_such_name  # noqa: B018


def test_resume_holds_the_event_logs() -> None:
    assert issubclass(resume.MemoryEventLog, resume.EventLog)
    assert issubclass(resume.EventLogError, agentstream.AgentStreamError)


@pytest.mark.parametrize(
    "statement",
    [
        "import agentstream",
        "from agentstream import parse_event, from_sse, from_ndjson, SSEDecoder",
        "from agentstream import agui, ai_sdk, resume",
    ],
)
def test_decoding_imports_without_the_sdk(statement: str) -> None:
    # A consumer service that only reads events must not pay for the SDK (or `openai`).
    code = f"{statement}; import sys; print(sorted({{'agents', 'openai'}} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
