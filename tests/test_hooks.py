"""End hooks (`on_complete`, `on_error`, `on_cancel`): exactly one call per stream, with the
stream's `Done` and the run's new items, on real SDK runs, through `normalize()` and through an
endpoint whose client goes away."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from agents import Agent, Runner
from starlette.applications import Starlette
from starlette.routing import Route

from agentstream import ConfigurationError, Done, ai_sdk, normalize
from agentstream.testing import ScriptedStreamModel, fail, text, turn

from .support.http import serve
from .support.scenarios import refund_agent, waiting_agent


class Calls:
    """Records every hook call: (hook name, done status, number of new items)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int]] = []
        self.dones: list[Done] = []
        self.called = asyncio.Event()

    def options(self) -> dict[str, Any]:
        def sync_hook(name: str) -> Any:
            def hook(done: Done, items: list[Any]) -> None:
                self.seen.append((name, done.status, len(items)))
                self.dones.append(done)
                self.called.set()

            return hook

        async def on_complete(done: Done, items: list[Any]) -> None:
            await asyncio.sleep(0)  # an async hook is awaited
            sync_hook("complete")(done, items)

        return {
            "on_complete": on_complete,
            "on_error": sync_hook("error"),
            "on_cancel": sync_hook("cancel"),
        }


def talker(*turns: Any) -> Agent[Any]:
    return Agent(name="talker", model=ScriptedStreamModel(list(turns)))


async def test_a_completed_run_calls_on_complete_once_before_its_done_is_handed_out() -> None:
    calls = Calls()
    stream = normalize(Runner.run_streamed(talker(text("Hello there.")), "hi"), **calls.options())
    async for event in stream:
        if isinstance(event, Done):
            assert calls.seen == [("complete", "completed", 1)]  # already saved
    assert calls.dones == [stream.done]
    await stream.aclose()
    assert len(calls.seen) == 1


async def test_a_failed_run_calls_on_error_once() -> None:
    calls = Calls()
    agent = talker(turn(text("partly"), fail(RuntimeError("model down"))))
    events = [e async for e in normalize(Runner.run_streamed(agent, "hi"), **calls.options())]
    assert calls.seen == [("error", "error", 0)]
    assert calls.dones == [events[-1]]


async def test_a_stream_closed_early_calls_on_cancel_once_with_what_was_streamed() -> None:
    calls = Calls()
    agent, _, _ = waiting_agent(text("Let me check."))
    stream = normalize(Runner.run_streamed(agent, "hi"), **calls.options())
    async for event in stream:
        if event.type == "tool_called":
            break
    await stream.aclose()
    await stream.aclose()
    assert calls.seen == [("cancel", "cancelled", calls.seen[0][2])]
    assert calls.dones[0].partial_text is None or isinstance(calls.dones[0].partial_text, str)


async def test_a_paused_run_calls_on_complete_with_its_interrupted_done() -> None:
    calls = Calls()
    result = Runner.run_streamed(refund_agent([]), "refund both")
    events = [e async for e in normalize(result, **calls.options())]
    assert calls.seen == [("complete", "interrupted", calls.seen[0][2])]
    assert calls.dones == [events[-1]]


async def test_a_timed_out_run_calls_on_error_and_a_failing_hook_only_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(done: Done, items: list[Any]) -> None:
        raise RuntimeError("the database is down")

    agent, _, _ = waiting_agent()
    events = [
        e
        async for e in normalize(
            Runner.run_streamed(agent, "hi"), idle_timeout=0.2, on_error=broken
        )
    ]
    assert isinstance(events[-1], Done)
    assert events[-1].status == "timeout"
    assert "end hook" in caplog.text


async def test_a_hook_that_is_not_callable_is_refused() -> None:
    result = Runner.run_streamed(talker(text("x")), "hi")
    try:
        with pytest.raises(ConfigurationError, match="on_complete"):
            normalize(result, on_complete="save")  # type: ignore[typeddict-item]
    finally:
        result.cancel()


async def test_an_endpoint_whose_client_goes_away_calls_on_cancel_once() -> None:
    calls = Calls()
    agent, started, cancelled = waiting_agent(text("Let me check."))
    app = Starlette(
        routes=[
            Route(
                "/chat",
                ai_sdk.endpoint(agent, heartbeat=0.05, **calls.options()),
                methods=["POST"],
            )
        ]
    )
    body = {
        "id": "chat-h",
        "messages": [{"id": "u", "role": "user", "parts": [{"type": "text", "text": "hi"}]}],
    }
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        async with client.stream("POST", "/chat", json=body) as response:
            assert response.status_code == 200
            async for _ in response.aiter_bytes():
                if started.is_set():
                    break  # the client goes away while the tool runs
        await asyncio.wait_for(calls.called.wait(), 10)
        await asyncio.wait_for(cancelled.wait(), 10)
    assert [(name, status) for name, status, _ in calls.seen] == [("cancel", "cancelled")]
