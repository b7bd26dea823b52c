"""The demo workflow behind `agentstream demo` and `agentstream serve`.

A customer asks about an order. The `triage` agent calls the `lookup_order` tool, then hands off to
the `shipping` agent, which streams the answer token by token. Asked for delivery options, it
calls the `logistics` agent as a tool (`agent_tool`): the specialist checks the carriers with a
tool that reports its progress, and its answer streams inside the call. Offline it runs on a
`ScriptedStreamModel` paced like a real model, so it needs no API key; given a model name it runs
the same agents and tools on that model through the SDK's default OpenAI provider.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from agents.models.interface import Model
from agents.run_context import RunContextWrapper  # noqa: TC002 - the tool's hints name it

from ._bridge import DEFAULT_READ_TIMEOUT
from ._errors import ConfigurationError
from ._mapping import field

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from agents import Agent
    from agents.result import RunResultStreaming

__all__ = [
    "DEFAULT_PROMPT",
    "DEFAULT_TOKEN_DELAY",
    "DemoModel",
    "DemoOrder",
    "demo_agents",
    "start_demo_run",
]

DEFAULT_PROMPT: Final = "Where is my order A-1042?"
"""The question the demo asks when none is given."""

DEFAULT_TOKEN_DELAY: Final = 0.03
"""Seconds between two streamed tokens of the scripted model: about a real model's pace."""

_TOOL_TOKENS: Final = 20
"""The scripted tool takes as long as this many tokens: a database lookup, say."""

_ORDER_ID = re.compile(r"\b([A-Z]-\d{3,6})\b", re.IGNORECASE)
_OPTIONS = re.compile(r"\b(?:delivery|shipping) options\b", re.IGNORECASE)
_SPECIALIST: Final = "Compare the carriers for order"
"""How the triage agent's scripted call asks the logistics agent (its run's prompt)."""


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


CARRIERS: Final = (
    ("DHL Express", "tomorrow", 12),
    ("UPS Standard", "in three days", 6),
    ("Post", "in five days", 0),
)
"""The carriers `check_carriers` compares: name, when the parcel would arrive, the price."""


def _carriers_answer(order_id: str) -> str:
    """The logistics agent's scripted answer: the carriers, fastest first."""
    options = "; ".join(
        f"{name} arrives {when} for {f'${price}' if price else 'free'}"
        for name, when, price in CARRIERS
    )
    return f"For order {order_id}: {options}."


def _options_answer(order_id: str) -> str:
    """The triage agent's scripted summary of the logistics agent's answer."""
    name, when, price = CARRIERS[0]
    return (
        f"Our logistics desk compared three carriers for {order_id}. The fastest is {name}, "
        f"arriving {when} for ${price}; the free option takes five days. Shall I switch it?"
    )


def _order_id_in(prompt: str) -> str:
    match = _ORDER_ID.search(prompt)
    return match.group(1).upper() if match else "A-1042"


def _lookup_turns(prompt: str, token_delay: float) -> list[Any]:
    """The order lookup's three model calls for `prompt`: the lookup, the handoff, the answer."""
    from .testing import handoff, text, tool_call, turn

    order_id = _order_id_in(prompt)
    prompt_tokens = max(1, len(prompt) // 4)
    return [
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
    ]


def scripted_model(prompt: str, *, token_delay: float = DEFAULT_TOKEN_DELAY) -> Model:
    """A scripted model that plays the demo's three model calls for `prompt`."""
    from .testing import ScriptedStreamModel

    return ScriptedStreamModel(_lookup_turns(prompt, token_delay), delay=token_delay)


_REFUND = re.compile(r"\brefund", re.IGNORECASE)
# The tool's dict as the model gets it: JSON, or Python's repr of it.
_REFUNDED = re.compile(r"""["']refunded["']: (?:true|True)""")


def _refund_answer(order_id: str, output: str | None) -> str:
    """The triage agent's answer once the refund was approved (it ran) or refused."""
    if output is not None and _REFUNDED.search(output):
        return (
            f"Done: I refunded order {order_id}. The money is back on the card you paid with "
            "within five business days."
        )
    return f"Understood, I did not refund order {order_id}. Is there anything else I can do?"


def _conversation(items: str | list[Any]) -> tuple[str, dict[str, str | None]]:
    """The first user message of a model call's input, and each tool's output by tool name.

    A tool called but without an output yet maps to None.
    """
    if isinstance(items, str):
        return items, {}
    prompt = ""
    names: dict[str, str] = {}
    outputs: dict[str, str | None] = {}
    for item in items:
        if not prompt and field(item, "role") == "user":
            content = field(item, "content")
            prompt = content if isinstance(content, str) else str(content)
        kind, call_id = field(item, "type"), str(field(item, "call_id"))
        if kind == "function_call":
            names[call_id] = str(field(item, "name"))
            outputs.setdefault(names[call_id], None)
        elif kind == "function_call_output" and call_id in names:
            output = field(item, "output")
            outputs[names[call_id]] = output if isinstance(output, str) else json.dumps(output)
    return prompt, outputs


class DemoModel(Model):
    """The demo's offline model for any conversation: it reads the conversation to choose its turn.

    It keeps no state, so one agent serves every chat of the demo page, and a run that paused
    for an approval resumes on it: a refund request asks for `issue_refund` and answers from its
    output (refunded, or refused); a question about delivery options asks the `logistics` agent
    (which checks the carriers, then answers) and sums its answer up; an order question looks
    the order up, hands off to `shipping`, and answers from the lookup.
    """

    def __init__(self, token_delay: float = DEFAULT_TOKEN_DELAY) -> None:
        self.token_delay = token_delay
        """Seconds between two streamed tokens."""

    def _model(self, items: str | list[Any]) -> Model:
        from .testing import ScriptedStreamModel, text, tool_call, turn

        prompt, outputs = _conversation(items)
        order_id = _order_id_in(prompt)
        delay = self.token_delay
        tokens = 100 + max(1, len(prompt) // 4)
        if prompt.startswith(_SPECIALIST):  # the logistics agent's own run
            if "check_carriers" not in outputs:
                call = tool_call("check_carriers", {"order_id": order_id})
                script = [turn(call, input_tokens=tokens, delay=delay)]
            else:
                reply = text(_carriers_answer(order_id))
                script = [turn(reply, input_tokens=tokens + 80, delay=delay)]
        elif _OPTIONS.search(prompt):
            if "ask_logistics" not in outputs:
                ask = {"input": f"{_SPECIALIST} {order_id}"}
                script = [turn(tool_call("ask_logistics", ask), input_tokens=tokens, delay=delay)]
            else:
                reply = text(_options_answer(order_id))
                script = [turn(reply, input_tokens=tokens + 90, delay=delay)]
        elif _REFUND.search(prompt):
            tokens = 100 + max(1, len(prompt) // 4)
            if "issue_refund" not in outputs:
                call = tool_call("issue_refund", {"order_id": order_id})
                script = [turn(call, input_tokens=tokens, delay=delay)]
            else:
                answer = _refund_answer(order_id, outputs["issue_refund"])
                script = [turn(text(answer), input_tokens=tokens + 60, delay=delay)]
        else:
            lookup, hand_off, answer = _lookup_turns(prompt, delay)
            if "lookup_order" not in outputs:
                script = [lookup]
            elif "transfer_to_shipping" not in outputs:
                script = [hand_off]
            else:
                script = [answer]
        return ScriptedStreamModel(script, delay=delay)

    async def get_response(
        self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any
    ) -> Any:
        """Play the turn the conversation calls for, whole."""
        return await self._model(input).get_response(system_instructions, input, *args, **kwargs)

    def stream_response(
        self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Stream the turn the conversation calls for."""
        return self._model(input).stream_response(system_instructions, input, *args, **kwargs)


def demo_agents(
    model: Model | str, *, tool_delay: float = 0.0, refunds: list[str] | None = None
) -> Agent[Any]:
    """Build the demo's agents on `model` and return the starting one (`triage`).

    `tool_delay` is how long `lookup_order` takes, in seconds (and `check_carriers`, which
    reports its progress carrier by carrier). `issue_refund` needs a human's approval; each
    refund it makes is appended to `refunds`. `ask_logistics` runs the `logistics` agent as a
    tool, its run streaming inside the call (`agent_tool`).
    """
    from agents import Agent, function_tool

    from ._nested import agent_tool, progress

    @function_tool
    async def check_carriers(ctx: RunContextWrapper[Any], order_id: str) -> list[dict[str, Any]]:
        """Ask each carrier when it could deliver an order, and for how much."""
        found = []
        for n, (name, when, price) in enumerate(CARRIERS, 1):
            if tool_delay:
                await asyncio.sleep(tool_delay / len(CARRIERS))
            progress(ctx, f"asked {name} ({n} of {len(CARRIERS)})", completed=n, total=3)
            found.append({"carrier": name, "arrives": when, "price_usd": price})
        return found

    logistics: Agent[Any] = Agent(
        name="logistics",
        instructions=(
            "You compare delivery options. Call check_carriers with the order id, then list the "
            "options in one sentence, fastest first, with their prices."
        ),
        tools=[check_carriers],
        model=model,
    )

    @function_tool(needs_approval=True)
    def issue_refund(order_id: str) -> dict[str, Any]:
        """Refund an order of the shop in full (a person approves it first)."""
        order = find_order(order_id)
        if not order["found"]:
            return {"order_id": order_id, "refunded": False, "why": "no such order"}
        if refunds is not None:
            refunds.append(order["order_id"])
        return {"order_id": order["order_id"], "refunded": True, "item": order["item"]}

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
            "You route customer questions. When the customer asks for a refund, call "
            "issue_refund with the order id and then tell them what happened. When the customer "
            "asks for delivery or shipping options, call ask_logistics with the order id and "
            "sum its answer up in two sentences. When the customer mentions an order otherwise, "
            "call lookup_order with its id first, then hand off to the shipping agent. Do not "
            "answer order questions yourself."
        ),
        tools=[
            lookup_order,
            issue_refund,
            agent_tool(logistics, "ask_logistics", "Ask the logistics desk to compare carriers."),
        ],
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
        # A question about delivery options runs two agents' models (the logistics agent is
        # called as a tool): the conversation-reading model plays both.
        offline = (
            DemoModel(token_delay)
            if _OPTIONS.search(prompt)
            else scripted_model(prompt, token_delay=token_delay)
        )
        triage = demo_agents(offline, tool_delay=token_delay * _TOOL_TOKENS)
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
    one JSON message per event. The page itself uses the interactive routes: `POST /api/runs`
    with `{"input": "..."}` streams a run that may pause for the approval of `issue_refund`, and
    `POST /api/runs/{run_id}/answers` answers it and streams the rest (`docs/interactive.md`).
    `app.state.refunds` lists the refunds made.

    A chat request holds to the bridge endpoints' default limits: a JSON body (415 otherwise)
    of at most 1 MiB (413), nested at most 64 deep (422), arriving within `read_timeout`
    seconds (408; 30 by default, None waits as long as it takes).
    """
    from importlib import resources

    from agents import RunConfig
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
    from ._eventlog import MemoryEventLog
    from ._runs import answers_endpoint, runs_endpoint
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
    # The page's chats are interactive runs on one log: a refund waits for the Approve or Reject
    # button, and the answer resumes the same run. The scripted model keeps no state, so one
    # agent serves every chat.
    log = MemoryEventLog()
    refunds: list[str] = []
    if model is None:
        agent = demo_agents(
            DemoModel(token_delay), tool_delay=token_delay * _TOOL_TOKENS, refunds=refunds
        )
        run_config = RunConfig(tracing_disabled=True)
    else:
        agent, run_config = demo_agents(model, refunds=refunds), None
    runs = runs_endpoint(agent, log, heartbeat=heartbeat, run_config=run_config)
    answers = answers_endpoint([agent], log, heartbeat=heartbeat, run_config=run_config)

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

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/api/chat", chat, methods=["POST"]),
            Route("/api/runs", runs, methods=["POST"]),
            Route("/api/runs/{run_id}/answers", answers, methods=["POST"]),
            WebSocketRoute("/api/ws", chat_ws),
            Mount("/static", StaticFiles(packages=[("agentstream", "static")]), name="static"),
        ]
    )
    app.state.refunds = refunds  # what issue_refund did: the tests read it
    return app
