"""Scripted models for tests and development servers: one script language, two players.

A script is a list of turns built with `turn()`, `text()` (with `url_citation()` and
`file_citation()`), `tool_call()`, `handoff()`, `reasoning()`, the hosted calls `web_search()`,
`file_search()`, `code_interpreter()`, `image_generation()` and `mcp_call()`, and `fail()`, with
faults `http_error()`, `reset_after()`, `malformed_after()`, `stall_after()` and
`error_event_after()`. Two players play it:

- `ScriptedStreamModel`, an Agents SDK `Model` in process, on every supported SDK release;
- `OpenAIServer`, a local OpenAI-compatible HTTP server (Responses and Chat Completions in the
  real wire shapes) for the SDK's own OpenAI models, with faults down to the socket.

Either plays one shared script, or a script per run (``per_run=True`` or a factory), so one
player can serve many concurrent runs. A step a player cannot play raises `ScriptError`.
"""

from __future__ import annotations

import warnings
from typing import Any

from . import _deprecated
from ._model import ScriptedStreamModel
from ._playback import IdStyle
from ._script import (
    ErrorEventAfter,
    Fail,
    Fault,
    HostedCall,
    HttpError,
    MalformedAfter,
    Output,
    Reasoning,
    ResetAfter,
    Script,
    ScriptError,
    ScriptFactory,
    ScriptNotFinishedError,
    StallAfter,
    Text,
    ToolCall,
    Turn,
    TurnLike,
    code_interpreter,
    error_event_after,
    fail,
    file_citation,
    file_search,
    handoff,
    http_error,
    image_generation,
    malformed_after,
    mcp_call,
    reasoning,
    reset_after,
    split_tokens,
    stall_after,
    text,
    tool_call,
    turn,
    url_citation,
    web_search,
)
from ._server import OpenAIServer, RecordedRequest

__all__ = [
    "ErrorEventAfter",
    "Fail",
    "Fault",
    "HostedCall",
    "HttpError",
    "IdStyle",
    "MalformedAfter",
    "OpenAIServer",
    "Output",
    "Reasoning",
    "RecordedRequest",
    "ResetAfter",
    "Script",
    "ScriptError",
    "ScriptFactory",
    "ScriptNotFinishedError",
    "ScriptedStreamModel",
    "StallAfter",
    "Text",
    "ToolCall",
    "Turn",
    "TurnLike",
    "code_interpreter",
    "error_event_after",
    "fail",
    "file_citation",
    "file_search",
    "handoff",
    "http_error",
    "image_generation",
    "malformed_after",
    "mcp_call",
    "reasoning",
    "reset_after",
    "split_tokens",
    "stall_after",
    "text",
    "tool_call",
    "turn",
    "url_citation",
    "web_search",
]

_DEPRECATED = {
    "FunctionCall": "ToolCall (or tool_call())",
    "ServerReasoning": "Reasoning (or reasoning())",
    "ServerText": "Text (or text())",
    "ServerTurn": "turn()",
    "ServerUsage": "the usage keywords of turn()",
    "function_call": "tool_call()",
    "reasoning_turn": "turn(reasoning(...), ..., reasoning_tokens=...)",
    "text_turn": "turn(text([...]))",
    "tool_call_turn": "turn(tool_call(...))",
    "tool_calls_turn": "turn(tool_call(...), tool_call(...))",
}
"""The former names of the server's script language: still importable, with a
`DeprecationWarning`, until 0.3."""


def __getattr__(name: str) -> Any:
    """Resolve a deprecated name, with a `DeprecationWarning` that names its replacement."""
    replacement = _DEPRECATED.get(name)
    if replacement is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"agentstream.testing.{name} is deprecated, use {replacement}; "
        "the old name goes away in agentstream 0.3",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(_deprecated, name)
