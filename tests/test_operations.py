"""Operations: what a server's log says about its runs (docs/operations.md)."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from pathlib import Path

import httpx
import pytest
from agents import Agent, RunConfig, Runner

from agentstream import Done, from_sse, normalize
from agentstream.testing import ScriptedStreamModel, fail, stall_after, text, turn

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_failed_run_in_uvicorn_is_logged_on_the_server_and_safe_for_the_client() -> None:
    """The documented example service, under a real uvicorn process: the client reads the safe
    message, the server's log has the exception, its traceback and the run's id."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "docs.examples.logging_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(100):  # until uvicorn listens
                try:
                    response = await client.post("/chat")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("uvicorn did not start")
            events = [event async for event in from_sse(response.aiter_text())]
    finally:
        server.terminate()
        _, err = await asyncio.wait_for(server.communicate(), 20)
    done = events[-1]
    assert isinstance(done, Done) and done.status == "error"
    assert done.error is not None and done.error.message == "the run failed"
    assert "hunter2" not in response.text
    log = err.decode()
    [record] = [line for line in log.splitlines() if "agentstream.run" in line]
    assert f"run_id={done.run_id}" in record and "agent=billing" in record
    assert "status=error error_type=RuntimeError" in record and "ERROR" in record
    assert "Traceback (most recent call last)" in log
    assert "RuntimeError: db password is hunter2" in log


def agent_on(script: list[object]) -> Agent:
    return Agent(name="clerk", model=ScriptedStreamModel(script, delay=0.01))


def run_of(agent: Agent) -> object:
    return Runner.run_streamed(agent, "go", run_config=RunConfig(tracing_disabled=True))


async def test_one_record_per_run_end_at_the_level_its_status_calls_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="agentstream.run")
    completed = await normalize(run_of(agent_on([text("fine")]))).collect()
    failed = await normalize(run_of(agent_on([fail(ValueError("secret 42"))]))).collect()
    stalled = agent_on([turn(text(["a", "b", "c"]), fault=stall_after(1))])
    timed_out = await normalize(run_of(stalled), idle_timeout=0.2).collect()
    stream = normalize(run_of(agent_on([text(["x", "y", "z"])])))
    await stream.next_event()
    await stream.aclose()
    runs = [r for r in caplog.records if r.name == "agentstream.run"]
    by_run = {getattr(r, "run_id", None): r for r in runs}
    assert len(runs) == len(by_run) == 4, "one record per run"
    ends = [
        (completed[-1].run_id, logging.DEBUG, "completed", None),
        (failed[-1].run_id, logging.ERROR, "error", "ValueError"),
        (timed_out[-1].run_id, logging.WARNING, "timeout", "IdleTimeoutError"),
        (stream.run_id, logging.DEBUG, "cancelled", None),
    ]
    for run_id, level, status, error_type in ends:
        record = by_run[run_id]
        assert (record.levelno, record.status, record.error_type) == (level, status, error_type)  # type: ignore[attr-defined]
        assert record.agent == "clerk"  # type: ignore[attr-defined]
    assert by_run[failed[-1].run_id].exc_info is not None  # the traceback, server side
    assert "secret 42" in by_run[failed[-1].run_id].getMessage()
    assert by_run[timed_out[-1].run_id].exc_info is None


async def test_without_debug_a_completed_run_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agentstream")
    await normalize(run_of(agent_on([text("fine")]))).collect()
    assert [r for r in caplog.records if r.name.startswith("agentstream")] == []
