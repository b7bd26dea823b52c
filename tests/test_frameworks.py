"""Every Python web stack: a real server per framework, a real HTTP client, heartbeats, one
`done`, and a client that leaves cancels the run (docs/frameworks.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from agents import Agent, RunConfig, Runner

from agentstream import Done, frameworks, from_ndjson, from_sse
from agentstream.testing import ScriptedStreamModel, stall_after, text, turn

from .support.http import serve

FRAMEWORKS = ["asgi", "litestar", "django", "quart", "aiohttp"]

CANCELLED: dict[str, asyncio.Event] = {}
"""Set by the run's `on_cancel` hook, by scenario: the server cancelled the run."""


def make(scenario: str) -> tuple[Any, dict[str, Any]]:
    """The run of a scenario, and the options to stream it with."""
    if scenario == "stall":
        # One delta, then the model hangs: only a client that leaves ends it.
        script = [turn(text(["first ", "never"]), fault=stall_after(1))]
        event = CANCELLED.setdefault(scenario, asyncio.Event())

        def on_cancel(done: Done, items: list[Any]) -> None:
            event.set()

        options: dict[str, Any] = {"heartbeat": 0.1, "on_cancel": on_cancel}
    else:
        # Slow enough for heartbeats between the deltas.
        script = [turn(text(["Hello ", "from ", "every ", "stack."]), delay=0.25)]
        options = {"heartbeat": 0.1}
    if scenario == "ndjson":
        options["format"] = "ndjson"
    agent = Agent(name="clerk", model=ScriptedStreamModel(script))
    run = Runner.run_streamed(agent, "go", run_config=RunConfig(tracing_disabled=True))
    return run, options


# One app per framework, each with the route POST /chat/{scenario}


def asgi_app() -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        run, options = make(scope["path"].rsplit("/", 1)[-1])
        await frameworks.asgi_app(run, **options)(scope, receive, send)

    return app


def litestar_app() -> Any:
    from litestar import Litestar, Request, post
    from litestar.response import Stream

    @post("/chat/{scenario:str}", signature_namespace={"Stream": Stream, "Request": Request})
    async def chat(request: Request) -> Stream:  # type: ignore[type-arg]
        run, options = make(request.path_params["scenario"])
        response: Stream = frameworks.litestar_response(run, **options)
        return response

    return Litestar([chat], logging_config=None)  # keep the test run's logging (caplog)


def django_app() -> Any:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=__name__,
            SECRET_KEY="agentstream-tests",
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
        )
        import django

        django.setup()
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


async def django_chat(request: Any, scenario: str) -> Any:
    run, options = make(scenario)
    return frameworks.django_response(run, **options)


def _urlpatterns() -> list[Any]:
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    return [path("chat/<str:scenario>", csrf_exempt(django_chat))]


def __getattr__(name: str) -> Any:
    # Django reads `urlpatterns` from ROOT_URLCONF (this module) once it is configured.
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


def quart_app() -> Any:
    from quart import Quart

    app = Quart(__name__)

    @app.post("/chat/<scenario>")
    async def chat(scenario: str) -> Any:
        run, options = make(scenario)
        return frameworks.quart_response(run, **options)

    return app


@contextlib.asynccontextmanager
async def aiohttp_server() -> AsyncIterator[str]:
    from aiohttp import web

    async def chat(request: web.Request) -> web.StreamResponse:
        run, options = make(request.match_info["scenario"])
        response: web.StreamResponse = await frameworks.aiohttp_response(request, run, **options)
        return response

    app = web.Application()
    app.router.add_post("/chat/{scenario}", chat)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def server(framework: str) -> AsyncIterator[str]:
    if framework == "aiohttp":
        async with aiohttp_server() as base:
            yield base
        return
    app = {
        "asgi": asgi_app,
        "litestar": litestar_app,
        "django": django_app,
        "quart": quart_app,
    }[framework]()
    async with serve(app) as base:
        yield base


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_the_run_streams_with_heartbeats_and_one_done(framework: str) -> None:
    async with server(framework) as base, httpx.AsyncClient(timeout=20) as client:
        response = await client.post(f"{base}/chat/complete")
        ndjson = await client.post(f"{base}/chat/ndjson")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert ": ping\n\n" in response.text, "heartbeats between the slow deltas"
    events = [event async for event in from_sse([response.text])]
    dones = [e for e in events if isinstance(e, Done)]
    assert len(dones) == 1 and events[-1] is dones[0] and dones[0].status == "completed"
    assert dones[0].final_output == "Hello from every stack."
    assert [e.seq for e in events] == list(range(len(events)))
    assert ndjson.headers["content-type"].startswith("application/x-ndjson")
    lines = [event async for event in from_ndjson([ndjson.text])]
    assert lines[-1].type == "done" and lines[-1].status == "completed"  # type: ignore[union-attr]


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_a_client_that_leaves_cancels_the_run(
    framework: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agentstream.web")
    CANCELLED.pop("stall", None)
    cancelled = CANCELLED.setdefault("stall", asyncio.Event())
    async with server(framework) as base, httpx.AsyncClient(timeout=20) as client:
        async with client.stream("POST", f"{base}/chat/stall") as response:
            assert response.status_code == 200
            async for chunk in response.aiter_text():
                if "text_delta" in chunk:
                    break  # the first event came: leave
        # The server notices (at once, or at the next heartbeat) and cancels the run.
        await asyncio.wait_for(cancelled.wait(), 10)

        def left() -> list[str]:
            return [r.message for r in caplog.records if r.name == "agentstream.web"]

        for _ in range(100):  # the record follows the run's cancellation
            if left():
                break
            await asyncio.sleep(0.05)
    assert len(left()) == 1 and "left" in left()[0], left()
