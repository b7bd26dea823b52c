"""The demo chat page in a real headless Chromium: the answer streams in, the tool shows."""

from __future__ import annotations

import os

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from agentstream._demo import DEFAULT_TOKEN_DELAY, demo_app

from .support.http import serve

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
DRIVER = REPO / "clients" / "browser.mjs"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
    pytest.mark.skipif(
        NODE is None or not (REPO / "clients" / "node_modules" / "playwright-core").is_dir(),
        reason="needs node and `npm ci --prefix clients`",
    ),
]

WAIT = 90.0
"""Bound of the whole browser session: start Chromium, type, stream, screenshot."""


async def drive(app: Any, screenshot: Path, *args: str) -> dict[str, Any]:
    """Serve `app`, drive its page in Chromium with `clients/browser.mjs ARGS`; its report."""
    assert NODE is not None
    async with serve(app) as base:
        process = await asyncio.create_subprocess_exec(
            NODE,
            str(DRIVER),
            f"{base}/",
            str(screenshot),
            *args,
            "--timeout",
            "60",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=REPO,
        )
        try:
            async with asyncio.timeout(WAIT):
                out, err = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode == 0, err.decode()
    seen: dict[str, Any] = json.loads(out)
    return seen


async def test_chat_page_streams_the_answer_shows_the_tool_and_finishes(tmp_path: Path) -> None:
    assert NODE is not None
    screenshot = tmp_path / "demo.png"
    # Paced like a real model, so that a person (and the driver) sees the answer grow.
    app = demo_app(token_delay=DEFAULT_TOKEN_DELAY)
    seen = await drive(app, screenshot, "--prompt", "Where is my order A-1042?")
    assert seen["page_errors"] == []
    assert seen["console_errors"] == []
    assert seen["status"] == "done"
    assert seen["tool_seen"], "the tool indicator showed while lookup_order ran"
    final = seen["final"]
    assert final.startswith("Good news! Your order A-1042")
    assert final.endswith("reaches your local depot.")
    partial = [state for state in seen["states"] if state and state != final]
    assert len(partial) >= 2, f"the answer grew in steps, got {seen['states']!r}"
    assert all(final.startswith(state) for state in partial)
    assert [len(s) for s in partial] == sorted(len(s) for s in partial)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_chat_page_streams_a_specialist_inside_its_tool_card(tmp_path: Path) -> None:
    """The triage agent calls the logistics agent as a tool: the specialist's answer grows
    inside the call's card, then the triage agent's own answer streams."""
    assert NODE is not None
    screenshot = tmp_path / "demo-nested.png"
    app = demo_app(token_delay=DEFAULT_TOKEN_DELAY)
    prompt = "What are my delivery options for A-1042?"
    seen = await drive(app, screenshot, "--prompt", prompt, "--watch", ".nested-text")
    assert seen["page_errors"] == [] and seen["console_errors"] == []
    assert seen["status"] == "done"
    nested = [text for text in seen["watched"] if text]
    final_nested = "For order A-1042: DHL Express arrives tomorrow for $12; UPS Standard arrives"
    assert nested[-1].startswith(final_nested)
    assert len(nested) >= 2, f"the specialist's answer grew in its card, got {nested!r}"
    assert all(nested[-1].startswith(text) for text in nested)
    assert seen["final"].startswith("Our logistics desk compared three carriers for A-1042.")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("AGENTSTREAM_SCREENSHOTS"):
        shutil.copy(screenshot, REPO / "docs" / "img" / "demo-nested.png")


async def test_chat_page_approves_a_refund_and_the_answer_streams_in(tmp_path: Path) -> None:
    """The run waits for the Approve button; the click resumes the same run in the page."""
    assert NODE is not None
    screenshot = tmp_path / "demo-approval.png"
    app = demo_app(token_delay=DEFAULT_TOKEN_DELAY)
    seen = await drive(
        app, screenshot, "--prompt", "Please refund order A-1042", "--answer", "approve"
    )
    assert seen["page_errors"] == []
    assert seen["console_errors"] == []
    assert seen["answered"]
    assert len(seen["approvals"]) == 1
    assert "issue_refund" in seen["approvals"][0]
    assert "A-1042" in seen["approvals"][0]
    assert seen["status"] == "done"
    assert seen["final"] == (
        "Done: I refunded order A-1042. The money is back on the card you paid with within "
        "five business days."
    )
    assert app.state.refunds == ["A-1042"]  # the tool ran once, after the click
    partial = [state for state in seen["states"] if state and state != seen["final"]]
    assert partial, "the answer streamed in after the approval"
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("AGENTSTREAM_SCREENSHOTS"):
        target = REPO / "docs" / "img" / "demo-approval.png"
        target.write_bytes(screenshot.read_bytes())
