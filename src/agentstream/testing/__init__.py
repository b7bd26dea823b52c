"""Helpers for testing code that uses agentstream: scripted models that stream like real ones.

`ScriptedStreamModel` plays turns built with `text()`, `tool_call()`, `handoff()`,
`reasoning()` and `fail()`, on every supported SDK version, without hand-written Responses events.
"""

from ._scripted import (
    Fail,
    Reasoning,
    ScriptedStreamModel,
    ScriptError,
    Text,
    ToolCall,
    Turn,
    fail,
    handoff,
    reasoning,
    split_tokens,
    text,
    tool_call,
    turn,
)

__all__ = [
    "Fail",
    "Reasoning",
    "ScriptError",
    "ScriptedStreamModel",
    "Text",
    "ToolCall",
    "Turn",
    "fail",
    "handoff",
    "reasoning",
    "split_tokens",
    "text",
    "tool_call",
    "turn",
]
