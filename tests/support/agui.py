"""AG-UI frames read in process: the body of given events, its events, and the checks they pass."""

from __future__ import annotations

import json
from typing import Any

from agentstream import Event, agui

from .scenarios import replay


async def agui_body(events: list[Event], **options: Any) -> str:
    """The whole AG-UI body `agui.encode` writes for `events`."""
    return "".join([frame async for frame in agui.encode(replay(events), **options)])


def sse_payloads(body: str) -> list[str]:
    """The `data:` payloads of a body made of `data: ...` frames (our own framing)."""
    assert "\r" not in body
    frames = body.split("\n\n")
    assert frames[-1] == "", "the body ends with a complete frame"
    payloads = []
    for frame in frames[:-1]:
        assert frame.startswith("data: ") and "\n" not in frame, frame
        payloads.append(frame[len("data: ") :])
    return payloads


def decode(body: str) -> list[dict[str, Any]]:
    """The AG-UI events of a body."""
    return [json.loads(p) for p in sse_payloads(body)]


def check_structure(events: list[dict[str, Any]]) -> None:
    """Rules both checkers imply, asserted directly so a failure names the event."""
    assert events[0]["type"] == "RUN_STARTED"
    assert events[-1]["type"] in ("RUN_FINISHED", "RUN_ERROR")
    assert [e["type"] for e in events].count("RUN_STARTED") == 1
    assert all(isinstance(e.get("timestamp"), int) for e in events)
    assert all(v is not None for e in events for v in e.values()), "None fields are omitted"
    open_ids: set[str] = set()
    for event in events:
        kind = event["type"]
        if kind in ("TEXT_MESSAGE_START", "REASONING_MESSAGE_START"):
            assert event["messageId"] not in open_ids
            open_ids.add(event["messageId"])
        elif kind in ("TEXT_MESSAGE_END", "REASONING_MESSAGE_END"):
            open_ids.remove(event["messageId"])
        elif kind in ("TEXT_MESSAGE_CONTENT", "REASONING_MESSAGE_CONTENT"):
            assert event["messageId"] in open_ids
            assert event["delta"]
    assert not open_ids, "every message is closed before the run ends"


def agui_findings(events: list[dict[str, Any]]) -> list[str]:
    """Every diagnostic ag-ui-validate reports on a sequence of AG-UI events (any severity)."""
    from ag_ui_validate import Validator

    validator = Validator()
    for event in events:
        validator.feed(event)
    validator.finalize()
    report = validator.report()
    assert not report.internal_errors, report.internal_errors
    return [f"{d.rule} {d.severity} @{d.event_index}: {d.message}" for d in report.diagnostics]


def by_role(messages: list[dict[str, Any]], role: str) -> list[dict[str, Any]]:
    """The messages of one role, of those @ag-ui/client assembled."""
    return [m for m in messages if m["role"] == role]
