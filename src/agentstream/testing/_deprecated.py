"""The server's former script names, kept for one minor version; `agentstream.testing` warns.

Each builds the same `Turn` the scripted-turn language builds, with the former defaults: a plain
string is one chunk, and the usage is 10 input and 5 output tokens unless given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from ._script import Fault, Output, Reasoning, Text, ToolCall, Turn, tool_call, turn

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "FunctionCall",
    "ServerReasoning",
    "ServerText",
    "ServerTurn",
    "ServerUsage",
    "function_call",
    "reasoning_turn",
    "text_turn",
    "tool_call_turn",
    "tool_calls_turn",
]

ServerText = Text
"""Deprecated: `Text`."""
FunctionCall = ToolCall
"""Deprecated: `ToolCall`."""
ServerReasoning = Reasoning
"""Deprecated: `Reasoning`."""


@dataclass(frozen=True)
class ServerUsage:
    """Deprecated: the usage keywords of `turn()`."""

    input_tokens: int = 10
    """Input tokens."""
    output_tokens: int = 5
    """Output tokens, reasoning included."""
    reasoning_tokens: int = 0
    """The part of the output spent reasoning."""
    cached_tokens: int = 0
    """The part of the input read from the cache."""

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


UsageLike: TypeAlias = ServerUsage | tuple[int, int]
"""A `ServerUsage` or ``(input_tokens, output_tokens)``."""


def ServerTurn(
    outputs: Iterable[Output],
    usage: UsageLike = ServerUsage(),
    delay: float = 0.0,
    fault: Fault | None = None,
) -> Turn:
    """Deprecated: `turn()`."""
    if not isinstance(usage, ServerUsage):
        usage = ServerUsage(input_tokens=usage[0], output_tokens=usage[1])
    return turn(
        *outputs,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cached_tokens=usage.cached_tokens,
        delay=delay,
        fault=fault,
    )


def _chunks(chunks: Sequence[str] | str) -> tuple[str, ...]:
    return (chunks,) if isinstance(chunks, str) else tuple(chunks)


def text_turn(
    chunks: Sequence[str] | str,
    *,
    usage: UsageLike = (10, 5),
    delay: float = 0.0,
    fault: Fault | None = None,
) -> Turn:
    """Deprecated: ``turn(text([...]))``; a plain string is one chunk here."""
    return ServerTurn((Text(_chunks(chunks)),), usage, delay, fault)


def function_call(
    name: str,
    arguments: str | Mapping[str, Any] = "{}",
    *,
    call_id: str | None = None,
    chunks: int = 1,
) -> ToolCall:
    """Deprecated: `tool_call()`."""
    return tool_call(name, arguments, call_id=call_id, chunks=chunks)


def tool_call_turn(
    name: str,
    arguments: str | Mapping[str, Any] = "{}",
    *,
    call_id: str | None = None,
    chunks: int = 1,
    usage: UsageLike = (10, 5),
    delay: float = 0.0,
    fault: Fault | None = None,
) -> Turn:
    """Deprecated: ``turn(tool_call(...))``."""
    call = tool_call(name, arguments, call_id=call_id, chunks=chunks)
    return ServerTurn((call,), usage, delay, fault)


def tool_calls_turn(
    calls: Iterable[ToolCall],
    *,
    usage: UsageLike = (10, 5),
    delay: float = 0.0,
    fault: Fault | None = None,
) -> Turn:
    """Deprecated: ``turn(tool_call(...), tool_call(...))``."""
    return ServerTurn(tuple(calls), usage, delay, fault)


def reasoning_turn(
    summary_chunks: Sequence[str] | str, *, then: Turn, reasoning_tokens: int = 0
) -> Turn:
    """Deprecated: ``turn(reasoning(...), ..., reasoning_tokens=...)``."""
    return turn(
        Reasoning(_chunks(summary_chunks)),
        *then.outputs,
        input_tokens=then.input_tokens,
        output_tokens=then.output_tokens + reasoning_tokens,
        reasoning_tokens=then.reasoning_tokens + reasoning_tokens,
        cached_tokens=then.cached_tokens,
        delay=then.delay,
        fault=then.fault,
    )
