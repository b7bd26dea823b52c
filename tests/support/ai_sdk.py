"""AI SDK UI message stream frames read in process: the body of given events, its parts, and the
rules the `ai` client enforces."""

from __future__ import annotations

import json
from typing import Any

from agentstream import Event, ai_sdk

from .scenarios import replay

FINISH_REASONS = {"stop", "length", "content-filter", "tool-calls", "error", "other"}
"""The finish reasons the `ai` client knows."""


async def ai_body(events: list[Event], **options: Any) -> str:
    """The whole UI message stream body `ai_sdk.encode` writes for `events`."""
    return "".join([frame async for frame in ai_sdk.encode(replay(events), **options)])


def parts(body: str) -> list[dict[str, Any]]:
    """The JSON parts of a body; checks the framing and the final `[DONE]`."""
    assert "\r" not in body
    frames = body.split("\n\n")
    assert frames[-1] == ""
    assert frames[-2] == "data: [DONE]"
    decoded = []
    for frame in frames[:-2]:
        assert frame.startswith("data: {") and "\n" not in frame, frame
        decoded.append(json.loads(frame[len("data: ") :]))
    return decoded


def check_parts(decoded: list[dict[str, Any]]) -> None:
    """The rules the `ai` client enforces (and useChat relies on), asserted in process."""
    assert decoded[0]["type"] == "start"
    open_parts: set[tuple[str, str]] = set()
    used_ids: set[tuple[str, str]] = set()
    calls: dict[str, str] = {}
    step_open = False
    for part in decoded[1:]:
        kind = part["type"]
        if kind == "start-step":
            assert not step_open
            step_open = True
        elif kind == "finish-step":
            assert step_open and not open_parts
            step_open = False
        elif kind in ("text-start", "reasoning-start"):
            assert step_open
            key = (kind.split("-")[0], part["id"])
            assert key not in used_ids
            used_ids.add(key)
            open_parts.add(key)
        elif kind in ("text-delta", "reasoning-delta"):
            assert (kind.split("-")[0], part["id"]) in open_parts
            assert part["delta"]
        elif kind in ("text-end", "reasoning-end"):
            open_parts.remove((kind.split("-")[0], part["id"]))
        elif kind == "tool-input-start":
            assert step_open and part["toolCallId"] not in calls
            calls[part["toolCallId"]] = "streaming"
        elif kind == "tool-input-delta":
            assert calls[part["toolCallId"]] == "streaming"
        elif kind in ("tool-input-available", "tool-input-error"):
            assert calls.get(part["toolCallId"], "streaming") == "streaming"
            calls[part["toolCallId"]] = "input"
        elif kind == "tool-approval-request":
            assert calls[part["toolCallId"]] == "input"
        elif kind in ("tool-output-available", "tool-output-error"):
            assert calls[part["toolCallId"]] == "input"
            calls[part["toolCallId"]] = "output"
        elif kind == "finish":
            assert part["finishReason"] in FINISH_REASONS
        elif kind not in ("error", "abort", "data-handoff"):
            raise AssertionError(f"unexpected part {part}")
    assert not open_parts and not step_open
    assert "streaming" not in calls.values(), "every tool call got its whole input"
    assert decoded[-1]["type"] in ("finish", "abort")


def assistant_parts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The parts of the one assistant message the `ai` client assembled, without step starts."""
    [message] = report["messages"]
    assert message["role"] == "assistant"
    return [p for p in message["parts"] if p["type"] != "step-start"]


def tool_parts(found: list[dict[str, Any]]) -> list[tuple[str, str, Any, Any]]:
    """The tool parts among `found`: (type, call id, input, output)."""
    return [
        (p["type"], p["toolCallId"], p["input"], p.get("output"))
        for p in found
        if p["type"].startswith("tool-")
    ]
