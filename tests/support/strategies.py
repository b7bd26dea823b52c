"""Hypothesis strategies: every agentstream event, with arbitrary Unicode everywhere; and valid
event sequences, in the order and shape `normalize()` produces them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from agentstream import (
    ApprovalRequested,
    Citation,
    Custom,
    Done,
    ErrorInfo,
    Event,
    Handoff,
    MessageOutput,
    NestedRunFinished,
    NestedRunStarted,
    ReasoningDelta,
    ReasoningOutput,
    TextDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolCallStarted,
    ToolOutput,
    ToolProgress,
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

positions = st.none() | st.integers(0, 2**31)
citations = st.builds(
    Citation,
    kind=st.sampled_from(["url_citation", "file_citation", "container_file_citation"]),
    url=optional,
    title=optional,
    file_id=optional,
    filename=optional,
    container_id=optional,
    start_index=positions,
    end_index=positions,
    index=positions,
)
flags = st.booleans()
amounts = st.none() | st.floats(0, 1e9) | st.integers(0, 2**31)
statuses = st.sampled_from(["completed", "error", "cancelled", "timeout", "interrupted"])

_payloads: dict[type, dict[str, Any]] = {
    TextDelta: {"delta": texts, "message_id": optional},
    MessageOutput: {
        "text": texts,
        "message_id": optional,
        "citations": st.lists(citations, max_size=3).map(tuple),
    },
    ReasoningDelta: {"delta": texts, "reasoning_id": optional},
    ReasoningOutput: {"text": texts, "reasoning_id": optional},
    ToolCallStarted: {"call_id": texts, "name": names, "provider_executed": flags},
    ToolArgumentsDelta: {"call_id": texts, "delta": texts},
    ToolCalled: {"call_id": texts, "name": names, "arguments": texts, "provider_executed": flags},
    ToolOutput: {
        "call_id": texts,
        "output": json_values,
        "name": optional,
        "provider_executed": flags,
    },
    ToolProgress: {
        "call_id": texts,
        "name": optional,
        "stage": texts,
        "message": optional,
        "completed": amounts,
        "total": amounts,
        "data": json_values,
        "provider_executed": flags,
    },
    Custom: {
        "name": texts,
        "data": json_values,
        "id": optional,
        "call_id": optional,
        "transient": flags,
    },
    NestedRunStarted: {"call_id": texts, "name": names, "nested_agent": names},
    NestedRunFinished: {
        "call_id": texts,
        "status": statuses,
        "final_output": json_values,
        "last_agent": optional,
        "usage": usages,
        "error": st.none() | st.builds(ErrorInfo, type=texts, message=texts),
    },
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
        type=st.just(kind.model_fields["type"].default),
        seq=seq if seq is not None else counts,
        run_id=run_id if run_id is not None else texts,
        agent=optional,
        timestamp=counts,
        parent_call_id=optional,
        path=st.lists(texts, max_size=3).map(tuple),
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


# Valid event sequences, as normalize() can produce them (and a few odd but valid ones)

_json_args = st.dictionaries(
    st.sampled_from(["city", "n", "q"]),
    st.one_of(st.text(max_size=8), st.integers(-5, 5), st.booleans()),
    max_size=2,
).map(json.dumps)
_texts = st.text(min_size=0, max_size=12)
_outputs = st.one_of(
    st.text(max_size=10),
    st.integers(),
    st.none(),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _split(draw: Callable[..., Any], value: str) -> list[str]:
    cuts = sorted(draw(st.lists(st.integers(0, len(value)), max_size=3)))
    pieces, last = [], 0
    for cut in [*cuts, len(value)]:
        pieces.append(value[last:cut])
        last = cut
    return [p for p in pieces if p] or [value]


@st.composite
def event_sequences(draw: Callable[..., Any]) -> list[Event]:
    """A valid sequence of agentstream events, `Done` last."""
    run_id = "run_h"
    out: list[dict[str, Any]] = []
    agents = ["triage", "billing", "helper"]
    agent = draw(st.sampled_from([*agents, None]))
    counter = 0

    def fresh(prefix: str) -> str:
        nonlocal counter
        counter += 1
        return f"{prefix}_{counter}"

    def add(kind: type[Event], **fields: Any) -> None:  # type: ignore[valid-type]
        out.append({"kind": kind, "agent": agent, **fields})

    usage = 0
    pending: list[str] = []
    approvals: list[str] = []
    for _ in range(draw(st.integers(0, 4))):  # model calls
        calls: list[tuple[str, str, str]] = []
        for _item in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["text", "reasoning", "tool", "tool_whole", "handoff"]))
            if kind in ("text", "reasoning"):
                value = draw(_texts)
                item_id = draw(st.one_of(st.none(), st.just(fresh("item"))))
                streamed = draw(st.booleans())
                delta_kind, key = (
                    (TextDelta, "message_id")
                    if kind == "text"
                    else (ReasoningDelta, "reasoning_id")
                )
                if streamed:
                    for piece in _split(draw, value):
                        add(delta_kind, delta=piece, **{key: item_id})
                calls.append(("whole", kind, json.dumps([value, item_id])))
            elif kind == "tool":
                call_id, args = fresh("call"), draw(_json_args)
                add(ToolCallStarted, call_id=call_id, name="get_weather")
                for piece in _split(draw, args)[: draw(st.integers(0, 4))]:
                    add(ToolArgumentsDelta, call_id=call_id, delta=piece)
                calls.append(("call", call_id, args))
            elif kind == "tool_whole":
                calls.append(("call", fresh("call"), draw(_json_args)))
            else:
                calls.append(("handoff", fresh("call"), ""))
        if draw(st.booleans()) or calls:
            usage += 1
            add(UsageUpdated, usage=Usage(requests=usage, output_tokens=usage))
        for what, first, second in calls:
            if what == "whole":
                value, item_id = json.loads(second)
                if first == "text":
                    add(MessageOutput, text=value, message_id=item_id)
                else:
                    add(ReasoningOutput, text=value, reasoning_id=item_id)
            elif what == "call":
                add(ToolCalled, call_id=first, name="get_weather", arguments=second)
                pending.append(first)
        for call_id in list(pending):
            if draw(st.booleans()):
                add(
                    ToolOutput,
                    call_id=call_id,
                    output=draw(_outputs),
                    name=draw(st.sampled_from(["get_weather", None])),
                )
                pending.remove(call_id)
        for what, first, _ in calls:
            if what == "handoff":
                target = draw(st.sampled_from(agents))
                add(Handoff, from_agent=agent or "triage", to_agent=target, call_id=first)
                agent = target
    if draw(st.booleans()):  # a tool output for a call never announced
        add(ToolOutput, call_id=fresh("call"), output="orphan", name=None)
    if pending and draw(st.booleans()):
        approvals = pending[:1]
        add(ApprovalRequested, call_id=approvals[0], name="get_weather", arguments="{}")
    status = draw(st.sampled_from(["completed", "error", "cancelled", "timeout"]))
    if status != "completed" and draw(st.booleans()):  # cut in the middle of something
        cut = draw(st.sampled_from(["text", "reasoning", "tool"]))
        if cut == "tool":
            call_id = fresh("call")
            add(ToolCallStarted, call_id=call_id, name="get_weather")
            add(ToolArgumentsDelta, call_id=call_id, delta='{"city": "Pa')
        elif cut == "text":
            add(TextDelta, delta="cut sho", message_id=fresh("item"))
        else:
            add(ReasoningDelta, delta="hmm", reasoning_id=None)
    error = None
    if status in ("error", "timeout"):
        error = ErrorInfo(
            type="RuntimeError" if status == "error" else "IdleTimeoutError", message="it failed"
        )
    add(
        Done,
        status=status,
        final_output="done" if status == "completed" else None,
        usage=Usage(requests=usage),
        error=error,
        pending_approvals=tuple(approvals) if status == "completed" else (),
    )
    events: list[Event] = []
    for seq, spec in enumerate(out):
        kind = spec.pop("kind")
        events.append(kind(seq=seq, run_id=run_id, timestamp=1_700_000_000_000 + seq, **spec))
    return events
