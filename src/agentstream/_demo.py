"""The demo workflow behind `agentstream demo` and `agentstream serve`.

A customer asks about an order. The `triage` agent calls the `lookup_order` tool, then hands off to
the `shipping` agent, which streams the answer token by token. Offline it runs on a
`ScriptedStreamModel` paced like a real model, so it needs no API key; given a model name it runs
the same agents and tools on that model through the SDK's default OpenAI provider.
"""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ._bridge import DEFAULT_READ_TIMEOUT
from ._errors import ConfigurationError

if TYPE_CHECKING:
    from agents import Agent
    from agents.models.interface import Model
    from agents.result import RunResultStreaming

__all__ = ["DEFAULT_PROMPT", "DEFAULT_TOKEN_DELAY", "DemoOrder", "demo_agents", "start_demo_run"]

DEFAULT_PROMPT: Final = "Where is my order A-1042?"
"""The question the demo asks when none is given."""

DEFAULT_TOKEN_DELAY: Final = 0.03
"""Seconds between two streamed tokens of the scripted model: about a real model's pace."""

_TOOL_TOKENS: Final = 20
"""The scripted tool takes as long as this many tokens: a database lookup, say."""

_ORDER_ID = re.compile(r"\b([A-Z]-\d{3,6})\b", re.IGNORECASE)


@dataclass(frozen=True)
class DemoOrder:
    """An order of the demo's made-up shop."""

    order_id: str
    """The order's id, e.g. `A-1042`."""
    item: str
    """What was ordered."""
    status: str
    """`processing`, `shipped` or `delivered`."""
    carrier: str | None
    """Who carries the parcel, once it has shipped."""
    eta: str | None
    """When the parcel should arrive."""


ORDERS: Final = {
    "A-1042": DemoOrder("A-1042", "a pair of trail running shoes", "shipped", "DHL", "Thursday"),
    "A-2077": DemoOrder("A-2077", "a cast-iron skillet", "processing", None, None),
    "B-3310": DemoOrder("B-3310", "a mechanical keyboard", "delivered", "UPS", None),
}


def find_order(order_id: str) -> dict[str, Any]:
    """What the `lookup_order` tool returns for `order_id`."""
    order = ORDERS.get(order_id.strip().upper())
    if order is None:
        return {"order_id": order_id, "found": False}
    return {
        "order_id": order.order_id,
        "found": True,
        "item": order.item,
        "status": order.status,
        "carrier": order.carrier,
        "eta": order.eta,
    }


def _answer(record: dict[str, Any]) -> str:
    """The shipping agent's scripted answer for a lookup result."""
    oid = record["order_id"]
    if not record["found"]:
        return (
            f"I couldn't find an order with the id {oid}. Could you check the id on your "
            "confirmation email? It looks like A-1042."
        )
    if record["status"] == "shipped":
        return (
            f"Good news! Your order {oid} ({record['item']}) has shipped with "
            f"{record['carrier']} and should arrive on {record['eta']}. You'll get a tracking "
            "link by email as soon as the parcel reaches your local depot."
        )
    if record["status"] == "delivered":
        return (
            f"Your order {oid} ({record['item']}) was delivered by {record['carrier']}. "
            "If you can't find the parcel, tell me and I'll open a claim with the carrier."
        )
    return (
        f"Your order {oid} ({record['item']}) is still being prepared in our warehouse. "
        "It usually ships within two business days; I'll email you as soon as it does."
    )


def _order_id_in(prompt: str) -> str:
    match = _ORDER_ID.search(prompt)
    return match.group(1).upper() if match else "A-1042"


def scripted_model(prompt: str, *, token_delay: float = DEFAULT_TOKEN_DELAY) -> Model:
    """A scripted model that plays the demo's three model calls for `prompt`."""
    from .testing import ScriptedStreamModel, handoff, text, tool_call, turn

    order_id = _order_id_in(prompt)
    prompt_tokens = max(1, len(prompt) // 4)
    return ScriptedStreamModel(
        [
            turn(
                tool_call("lookup_order", {"order_id": order_id}, chunks=4),
                input_tokens=120 + prompt_tokens,
                delay=token_delay,
            ),
            turn(handoff("shipping"), input_tokens=180 + prompt_tokens, delay=token_delay),
            turn(
                text(_answer(find_order(order_id))),
                input_tokens=230 + prompt_tokens,
                delay=token_delay,
            ),
        ],
        delay=token_delay,
    )


def demo_agents(model: Model | str, *, tool_delay: float = 0.0) -> Agent[Any]:
    """Build the demo's agents on `model` and return the starting one (`triage`).

    `tool_delay` is how long `lookup_order` takes, in seconds.
    """
    from agents import Agent, function_tool

    @function_tool
    async def lookup_order(order_id: str) -> dict[str, Any]:
        """Look up an order of the shop by its id (like A-1042): its item, status and carrier."""
        if tool_delay:
            await asyncio.sleep(tool_delay)
        return find_order(order_id)

    shipping: Agent[Any] = Agent(
        name="shipping",
        handoff_description="Answers questions about orders, shipping and delivery.",
        instructions=(
            "You help a customer of an online shop with their order. The conversation holds the "
            "result of the order lookup: answer in two or three friendly sentences using it."
        ),
        model=model,
    )
    return Agent(
        name="triage",
        instructions=(
            "You route customer questions. When the customer mentions an order, call "
            "lookup_order with its id first, then hand off to the shipping agent. Do not answer "
            "yourself."
        ),
        tools=[lookup_order],
        handoffs=[shipping],
        model=model,
    )


def start_demo_run(
    prompt: str = DEFAULT_PROMPT,
    *,
    model: str | None = None,
    token_delay: float = DEFAULT_TOKEN_DELAY,
) -> RunResultStreaming:
    """Start the demo workflow on `prompt` and return the streaming result.

    Without `model`, a scripted model plays the run offline, pausing `token_delay` seconds per
    token (0 for no pauses). With `model` (e.g. `gpt-4.1-mini`), the run uses that OpenAI model
    and needs `OPENAI_API_KEY`. Call it inside a running event loop.
    """
    from agents import RunConfig, Runner

    if (
        isinstance(token_delay, bool)
        or not isinstance(token_delay, (int, float))
        or not math.isfinite(token_delay)
        or token_delay < 0
    ):
        raise ConfigurationError(
            f"token_delay must be a finite number of seconds >= 0, got {token_delay!r}"
        )
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigurationError(f"prompt must be a non-empty string, got {prompt!r}")
    if model is None:
        triage = demo_agents(
            scripted_model(prompt, token_delay=token_delay),
            tool_delay=token_delay * _TOOL_TOKENS,
        )
        # Offline: nothing to export traces to.
        return Runner.run_streamed(triage, prompt, run_config=RunConfig(tracing_disabled=True))
    return Runner.run_streamed(demo_agents(model), prompt)


MAX_PROMPT_CHARS: Final = 2000
"""The longest prompt the demo app accepts."""


def demo_app(
    *,
    model: str | None = None,
    token_delay: float = DEFAULT_TOKEN_DELAY,
    heartbeat: float | None = 15.0,
    read_timeout: float | None = DEFAULT_READ_TIMEOUT,
) -> Any:
    """The demo web app behind `agentstream serve`, a Starlette application.

    Routes: `GET /` the chat page; `GET /static/...` its script and styles; `POST /api/chat`
    with `{"prompt": "..."}` streams the demo run as SSE (NDJSON or one JSON document when the
    `Accept` header or `?stream=false` asks); `WS /api/ws` takes `{"prompt": "..."}` and sends
    one JSON message per event.

    A chat request holds to the bridge endpoints' default limits: a JSON body (415 otherwise)
    of at most 1 MiB (413), nested at most 64 deep (422), arriving within `read_timeout`
    seconds (408; 30 by default, None waits as long as it takes).
    """
    from importlib import resources

    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles

    from ._bridge import (
        DEFAULT_CONTENT_TYPES,
        DEFAULT_MAX_BODY_BYTES,
        RequestRefusedError,
        body_limits,
        decode_json,
        read_json_or_refuse,
    )
    from .web import event_response, send_websocket

    if TYPE_CHECKING:
        from starlette.requests import Request
        from starlette.websockets import WebSocket

    limits = body_limits(
        max_body_bytes=DEFAULT_MAX_BODY_BYTES,
        content_types=DEFAULT_CONTENT_TYPES,
        read_timeout=read_timeout,
    )
    page = (resources.files("agentstream") / "static" / "index.html").read_text("utf-8")

    def prompt_of(body: object) -> str | None:
        prompt = body.get("prompt") if isinstance(body, dict) else None
        if isinstance(prompt, str) and prompt.strip() and len(prompt) <= MAX_PROMPT_CHARS:
            return prompt
        return None

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    async def chat(request: Request) -> Response:
        body = await read_json_or_refuse(request, limits)
        if isinstance(body, Response):
            return body
        prompt = prompt_of(body)
        if prompt is None:
            return JSONResponse(
                {"error": f'send JSON {{"prompt": "..."}} with 1 to {MAX_PROMPT_CHARS} characters'},
                status_code=400,
            )
        result = start_demo_run(prompt, model=model, token_delay=token_delay)
        return event_response(request, result, heartbeat=heartbeat)

    async def chat_ws(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            body = decode_json(await websocket.receive_text())
        except RequestRefusedError:
            body = None
        prompt = prompt_of(body)
        if prompt is None:
            await websocket.close(code=1007, reason='send {"prompt": "..."} first')
            return
        await send_websocket(
            websocket, start_demo_run(prompt, model=model, token_delay=token_delay)
        )

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/chat", chat, methods=["POST"]),
            WebSocketRoute("/api/ws", chat_ws),
            Mount("/static", StaticFiles(packages=[("agentstream", "static")]), name="static"),
        ]
    )
