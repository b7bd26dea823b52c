"""A real `redis-server` for the tests, and the helper processes the Redis tests start.

`start_redis()` runs the Debian `redis-server` on a random 127.0.0.1 port with persistence off
(or, given a directory, with an AOF fsynced on every write, so that `restart()` on the same port
keeps every acknowledged write); `pause()` and `resume()` stop and continue the process
(SIGSTOP, SIGCONT). The `redis_url` fixture starts one per test session and stops it at the end.
Run as a module, this file is one of the helper processes:

- `python -m tests.support.redis_server web REDIS_URL`: a uvicorn server with the resumable SSE
  endpoint on a random port, which it prints first;
- `python -m tests.support.redis_server produce REDIS_URL RUN_ID`: a paced agent run published to
  Redis, printing `published` once its first event is stored.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import asyncio
import contextlib
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

START_TIMEOUT = 20.0
"""Seconds a helper process may take to say it is ready."""

LEASE_TTL = 1.0
"""The helper producer's lease: short, so that a killed producer is noticed soon."""


@dataclass
class RedisServer:
    """A running redis-server process."""

    process: subprocess.Popen[str]
    port: int
    args: list[str]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def pause(self) -> None:
        """Stop the process (SIGSTOP): connections stay open, nothing is answered."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Continue a paused process (SIGCONT)."""
        self.process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Stop the server and start it again on the same port with the same arguments."""
        self.stop()
        self.start()

    def start(self) -> None:
        """Start a stopped server again on the same port with the same arguments."""
        process = _launch(self.args)
        try:
            read_line_until(process, "Ready to accept connections")
        except (RuntimeError, TimeoutError):
            process.kill()
            process.wait(timeout=10)
            raise
        self.process = process

    def stop(self) -> None:
        self.resume()  # a paused process would not act on SIGTERM
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_line_until(
    process: subprocess.Popen[str], wanted: str, timeout: float = START_TIMEOUT
) -> str:
    """Read the process's stdout until a line contains `wanted`; fail after `timeout` seconds.

    A thread keeps draining the output afterwards, so that the process never blocks on a full
    pipe, and closes the pipe at its end.
    """
    lines: queue.Queue[str | None] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def pump() -> None:
        with stdout:
            for line in stdout:
                lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no {wanted!r} from {process.args!r} within {timeout} s") from None
        if line is None:
            raise RuntimeError(f"{process.args!r} ended before {wanted!r}: {''.join(seen)}")
        seen.append(line)
        if wanted in line:
            return line


def _launch(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def start_redis(aof_dir: str | None = None, *options: str) -> RedisServer:
    """Start redis-server on a random free port (retrying if another process takes it).

    With `aof_dir`, the server keeps an AOF there, fsynced on every write (`appendfsync
    always`). `options` are more `--name value` arguments.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server")
    failure: Exception | None = None
    persistence = ["--appendonly", "no"]
    if aof_dir is not None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always", "--dir", aof_dir]
    for _ in range(5):
        port = _free_port()
        args = [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            *persistence,
            "--logfile",
            "",
            "--loglevel",
            "notice",
            *options,
        ]
        process = _launch(args)
        try:
            read_line_until(process, "Ready to accept connections")
        except (RuntimeError, TimeoutError) as exc:
            failure = exc
            process.kill()
            process.wait(timeout=10)
            continue
        return RedisServer(process, port, args)
    raise RuntimeError(f"redis-server did not start: {failure}")


def serve_redis() -> Iterator[str]:
    """Body of the `redis_url` fixture (tests/conftest.py): a server's URL; skips the test
    without redis-server."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/install-test-deps.sh installs it)")
    server = start_redis()
    try:
        yield server.url
    finally:
        server.stop()


def spawn(*args: str) -> subprocess.Popen[str]:
    """Start `python -m tests.support.redis_server ARGS` from the repository root."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.redis_server", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


# The helper processes


async def _web(redis_url: str) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Route

    from agentstream._resume import resumable_sse_endpoint
    from agentstream.redis import RedisEventLog

    log = RedisEventLog.from_url(redis_url, lease_ttl=LEASE_TTL)
    app = Starlette(routes=[Route("/runs/{run_id}/stream", resumable_sse_endpoint(log))])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    print(f"port {sock.getsockname()[1]}", flush=True)
    try:
        await server.serve(sockets=[sock])
    finally:
        await log.aclose()


async def _produce(redis_url: str, run_id: str) -> None:
    from agents import Agent, Runner

    from agentstream._resume import publish
    from agentstream.redis import RedisEventLog
    from agentstream.testing import ScriptedStreamModel, text, turn

    log = RedisEventLog.from_url(redis_url, lease_ttl=LEASE_TTL)
    words = [f"w{i} " for i in range(10_000)]
    # Paced so that it is still running when the test kills it.
    agent = Agent(name="writer", model=ScriptedStreamModel([turn(text(words), delay=0.01)]))
    publication = await publish(Runner.run_streamed(agent, "write"), log, run_id=run_id)
    with contextlib.suppress(Exception):
        async for event in log.read(run_id):
            print(f"published {event.seq}", flush=True)
            break
    await publication.wait()
    await log.aclose()


def interactive_app(log: Any, agent: Any) -> Any:
    """The plain HTTP API of interactive runs on `log`: start, answer, and follow a run."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    from agentstream.interactive import answers_endpoint, runs_endpoint
    from agentstream.resume import resumable_sse_endpoint

    return Starlette(
        routes=[
            Route("/runs", runs_endpoint(agent, log), methods=["POST"]),
            Route("/runs/{run_id}/answers", answers_endpoint([agent], log), methods=["POST"]),
            Route("/runs/{run_id}/stream", resumable_sse_endpoint(log)),
        ]
    )


def refund_agent(name: str, script: list[Any]) -> Any:
    """The support agent of the interactive tests: `refund` needs approval, and says which
    process ran it."""
    from agents import Agent, function_tool

    from agentstream.testing import ScriptedStreamModel

    @function_tool(needs_approval=True)
    def refund(order_id: str) -> str:
        """Refund an order."""
        return f"refunded {order_id} on {name}"

    return Agent(name="support", model=ScriptedStreamModel(script), tools=[refund])


async def _interactive_web(redis_url: str, name: str) -> None:
    """A web process of the interactive tests. Its model plays one part of the conversation
    (the model is outside the processes, in real life): `asker` the turn that calls two
    refunds, `answerer` the final text after the answers."""
    import uvicorn

    from agentstream.redis import RedisEventLog
    from agentstream.testing import text, tool_call, turn

    if name == "asker":
        script = [
            turn(
                tool_call("refund", {"order_id": "1"}, call_id="call_a"),
                tool_call("refund", {"order_id": "2"}, call_id="call_b"),
            )
        ]
    else:
        script = [turn(text("One refund went through."))]
    log = RedisEventLog.from_url(redis_url, lease_ttl=LEASE_TTL)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    app = interactive_app(log, refund_agent(name, script))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    print(f"port {sock.getsockname()[1]}", flush=True)
    try:
        await server.serve(sockets=[sock])
    finally:
        await log.aclose()


async def _chat_web(redis_url: str) -> None:
    """A web process of the reload test: a resumable AI SDK chat on Redis; its model streams
    slowly, so that a page can reload mid-answer."""
    import uvicorn
    from agents import Agent
    from starlette.applications import Starlette
    from starlette.routing import Route

    from agentstream import agui, ai_sdk
    from agentstream.redis import RedisEventLog
    from agentstream.testing import ScriptedStreamModel, text, turn

    log = RedisEventLog.from_url(redis_url, lease_ttl=LEASE_TTL)
    words = [f"word{i} " for i in range(40)]
    model = ScriptedStreamModel([turn(text(words), delay=0.1)], per_run=True)
    agent = Agent(name="writer", model=model)
    app = Starlette(
        routes=[
            Route(
                "/api/chat",
                ai_sdk.endpoint(agent, log=log, resumable=True),
                methods=["POST"],
            ),
            Route("/api/chat/{chat_id}/stream", ai_sdk.resume_endpoint(log)),
            Route("/agent", agui.endpoint(agent, log=log, resumable=True), methods=["POST"]),
            Route("/threads/{thread_id}/stream", agui.resume_endpoint(log)),
        ]
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    print(f"port {sock.getsockname()[1]}", flush=True)
    try:
        await server.serve(sockets=[sock])
    finally:
        await log.aclose()


def main() -> None:
    role, *args = sys.argv[1:]
    if role == "chat-web":
        asyncio.run(_chat_web(*args))
        return
    if role == "web":
        asyncio.run(_web(*args))
    elif role == "interactive-web":
        asyncio.run(_interactive_web(*args))
    elif role == "produce":
        asyncio.run(_produce(*args))
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main()
