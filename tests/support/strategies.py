"""Hypothesis strategies for every agentstream event, with arbitrary Unicode everywhere."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from agentstream import (
    ApprovalRequested,
    Done,
    ErrorInfo,
    Event,
    Handoff,
    MessageOutput,
    ReasoningDelta,
    ReasoningOutput,
    TextDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolCallStarted,
    ToolOutput,
    Usage,
    UsageUpdated,
)

# All of Unicode but lone surrogates, which no UTF-8 wire can carry.
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
names = texts
optional = st.none() | texts
counts = st.integers(min_value=0, max_value=2**53)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)
usages = st.builds(
    Usage, requests=counts, input_tokens=counts, output_tokens=counts, total_tokens=counts
)

_payloads: dict[type, dict[str, Any]] = {
    TextDelta: {"delta": texts, "message_id": optional},
    MessageOutput: {"text": texts, "message_id": optional},
    ReasoningDelta: {"delta": texts, "reasoning_id": optional},
    ReasoningOutput: {"text": texts, "reasoning_id": optional},
    ToolCallStarted: {"call_id": texts, "name": names},
    ToolArgumentsDelta: {"call_id": texts, "delta": texts},
    ToolCalled: {"call_id": texts, "name": names, "arguments": texts},
    ToolOutput: {"call_id": texts, "output": json_values, "name": optional},
    Handoff: {"from_agent": names, "to_agent": names, "call_id": optional},
    ApprovalRequested: {
        "call_id": texts,
        "name": names,
        "arguments": texts,
        "kind": st.sampled_from(["function", "mcp"]),
    },
    UsageUpdated: {"usage": usages},
    Done: {
        "status": st.sampled_from(["completed", "error", "cancelled", "timeout"]),
        "final_output": json_values,
        "last_agent": optional,
        "usage": usages,
        "error": st.none() | st.builds(ErrorInfo, type=texts, message=texts),
        "partial_text": optional,
        "pending_approvals": st.lists(texts, max_size=3).map(tuple),
    },
}


def event_of(kind: type, *, seq: Any = None, run_id: Any = None) -> st.SearchStrategy[Event]:
    """Events of one class with arbitrary payloads and envelopes."""
    return st.builds(
        kind,
        seq=seq if seq is not None else counts,
        run_id=run_id if run_id is not None else texts,
        agent=optional,
        timestamp=counts,
        **_payloads[kind],
    )


events = st.one_of(*(event_of(kind) for kind in _payloads))
"""Any single event."""


@st.composite
def event_streams(draw: st.DrawFn, max_size: int = 20) -> list[Event]:
    """Well-formed streams: contiguous seq, one run_id, exactly one Done, last."""
    run_id = draw(texts)
    kinds = draw(
        st.lists(st.sampled_from([k for k in _payloads if k is not Done]), max_size=max_size)
    )
    out = [
        draw(event_of(kind, seq=st.just(i), run_id=st.just(run_id))) for i, kind in enumerate(kinds)
    ]
    out.append(draw(event_of(Done, seq=st.just(len(kinds)), run_id=st.just(run_id))))
    return out
