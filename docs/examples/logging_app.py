"""A service whose runs fail, with agentstream's log records configured (docs/operations.md).

Run it with `uvicorn docs.examples.logging_app:app` from the repository and POST to /chat: the
client gets `done` with the safe "the run failed", the server's log gets the exception with its
traceback and the run's id. The tests run this file under uvicorn (tests/test_operations.py).
"""

from __future__ import annotations

import logging.config

from agents import Agent, RunConfig, Runner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentstream.testing import ScriptedStreamModel, fail, text, turn
from agentstream.web import stream_response

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # The run records carry run_id, agent, status and error_type as attributes.
        "run": {
            "format": "%(asctime)s %(levelname)s %(name)s run_id=%(run_id)s agent=%(agent)s "
            "status=%(status)s error_type=%(error_type)s %(message)s"
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "runs": {"class": "logging.StreamHandler", "formatter": "run"},
        "plain": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "loggers": {
        # One record per run that ends in error (ERROR, with the traceback) or timeout
        # (WARNING); DEBUG adds one for every other run's end.
        "agentstream.run": {"handlers": ["runs"], "level": "INFO", "propagate": False},
        # Clients that left (INFO), clients that do not read, Redis retries, and the rest.
        "agentstream": {"handlers": ["plain"], "level": "INFO", "propagate": False},
    },
}
logging.config.dictConfig(LOGGING)


def billing_agent() -> Agent:
    """An agent whose model starts to answer, then fails with a secret in its message."""
    script = [turn(text("Let me check"), fail(RuntimeError("db password is hunter2")))]
    return Agent(name="billing", model=ScriptedStreamModel(script))


async def chat(request: Request) -> Response:
    result = Runner.run_streamed(
        billing_agent(), "Why was I charged twice?", run_config=RunConfig(tracing_disabled=True)
    )
    return stream_response(result)


app = Starlette(routes=[Route("/chat", chat, methods=["POST"])])
