"""A real HTTP server for the tests, and an ASGI middleware that watches what a response sends."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

PING = ": ping\n\n"
"""The SSE comment frame a streamed response sends as its heartbeat."""
SHUTDOWN_WAIT = 10.0
"""Seconds the server may take to stop once the test is done with it; longer fails the test."""


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve `app` with uvicorn in this event loop on 127.0.0.1 (a random port); yield its base
    URL, `http://127.0.0.1:PORT`.

    The socket listens before the server starts, so a client may connect at once: it waits in the
    backlog until uvicorn accepts it. WebSockets use the `websockets` sans-I/O implementation.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, SHUTDOWN_WAIT)
        finally:
            sock.close()


class PingWatch:
    """ASGI middleware that records the response body and sets `pinged` on the first ping."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.pinged = asyncio.Event()
        self.body = bytearray()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def watched(message: Any) -> None:
            if message["type"] == "http.response.body":
                self.body += message.get("body", b"")
                if PING.encode() in self.body:
                    self.pinged.set()
            await send(message)

        await self.app(scope, receive, watched)
