"""The two model paths of the SDK, on the real wire, normalize to the same events.

The SDK's own `OpenAIResponsesModel` and `OpenAIChatCompletionsModel` talk HTTP to the local
`OpenAIServer`, which streams Responses and Chat Completions SSE in the real APIs' shapes. The
same scripted conversation goes through both; the normalized events must agree up to the
differences `docs/reliability.md` lists ("Model paths").
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import asyncio
import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pytest
from agents import Agent, OpenAIChatCompletionsModel, Runner
from openai import AsyncOpenAI

from agentstream import (
    Done,
    Event,
    Handoff,
    MessageOutput,
    ReasoningDelta,
    ReasoningOutput,
    TextDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolCallStarted,
    ToolOutput,
    UsageUpdated,
    normalize,
)
from agentstream.testing import OpenAIServer, Turn, reasoning, text, tool_call, turn

from .support.checks import assert_well_formed
from .support.compat import SDK_VERSION
from .support.scenarios import get_time, get_weather
from .support.wire import (
    KINDS,
    LIMIT,
    RUN_CONFIG,
    SETTINGS,
    assert_no_task_left,
    run_on_wire,
    texts,
)

if TYPE_CHECKING:
    from agents.models.interface import Model

TOOL_CALLED_AFTER_RESPONSE = SDK_VERSION >= (0, 24)
"""Whether the Responses path reports `tool_called` after the model call ends, as the chat path
does. Older releases (0.19.4 and 0.14.8 checked) report it as soon as the call's item is done."""


# -- the conversation ---------------------------------------------------------------------


def triage(model: Model, server: OpenAIServer) -> Agent[Any]:
    """Triage has two tools and hands off to billing; both use the same model."""
    billing = Agent(name="billing", model=model, model_settings=SETTINGS)
    return Agent(
        name="triage",
        model=model,
        model_settings=SETTINGS,
        tools=[get_weather, get_time],
        handoffs=[billing],
    )


def conversation() -> list[Turn]:
    """A tool call with streamed arguments, two calls at once, a handoff, a streamed answer."""
    return [
        turn(
            tool_call("get_weather", {"city": "Paris"}, call_id="call_1", chunks=3),
            input_tokens=10,
            output_tokens=3,
        ),
        turn(
            tool_call("get_weather", {"city": "Oslo"}, call_id="call_2", chunks=2),
            tool_call("get_time", {"city": "Rome"}, call_id="call_3", chunks=2),
            input_tokens=20,
            output_tokens=4,
        ),
        turn(
            tool_call("transfer_to_billing", "{}", call_id="call_4"),
            input_tokens=30,
            output_tokens=1,
        ),
        turn(text(["Your ", "invoice ", "is ", "paid."]), input_tokens=40, output_tokens=4),
    ]


def story(events: Iterable[Event]) -> list[dict[str, Any]]:
    """Events without what differs between runs (envelope) and paths (message ids)."""
    return [
        e.model_dump(mode="json", exclude={"seq", "run_id", "timestamp", "message_id"})
        for e in events
    ]


def late_argument_deltas(events: Sequence[Event]) -> list[ToolArgumentsDelta]:
    """The `tool_arguments_delta` events that come after their call's `tool_called`."""
    called: set[str] = set()
    late: list[ToolArgumentsDelta] = []
    for event in events:
        if isinstance(event, ToolCalled):
            called.add(event.call_id)
        if isinstance(event, ToolArgumentsDelta) and event.call_id in called:
            late.append(event)
    return late


def assert_call_order(events: Sequence[Event]) -> None:
    """Each call: started, then its argument deltas, then called, then its output."""
    where: dict[str, list[str]] = {}
    for event in events:
        if isinstance(event, (ToolCallStarted, ToolArgumentsDelta, ToolCalled, ToolOutput)):
            where.setdefault(event.call_id, []).append(event.type)
    for call_id, kinds in where.items():
        deltas = kinds.count("tool_arguments_delta")
        expected = ["tool_call_started", *["tool_arguments_delta"] * deltas]
        assert kinds == [*expected, "tool_called", "tool_output"], (call_id, kinds)


def by_type(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The events of each type, in order: what stays when only the interleaving differs."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        grouped.setdefault(item["type"], []).append(item)
    return grouped


def usage_of(event: UsageUpdated | Done) -> tuple[int, int, int, int]:
    u = event.usage
    return (u.requests, u.input_tokens, u.output_tokens, u.total_tokens)


@pytest.mark.parametrize("kind", KINDS)
async def test_the_conversation_normalizes_to_the_expected_events(kind: str) -> None:
    run = await run_on_wire(kind, conversation(), triage)
    events = run.events
    assert not late_argument_deltas(events)
    done = assert_well_formed(events)

    compact = [
        (e.type, e.agent)
        for e in events
        if not isinstance(e, (ToolArgumentsDelta, TextDelta, UsageUpdated))
    ]
    assert_call_order(events)
    if kind == "chat" or TOOL_CALLED_AFTER_RESPONSE:
        assert compact == [
            ("tool_call_started", "triage"),
            ("tool_called", "triage"),
            ("tool_output", "triage"),
            ("tool_call_started", "triage"),
            ("tool_call_started", "triage"),
            ("tool_called", "triage"),
            ("tool_called", "triage"),
            ("tool_output", "triage"),
            ("tool_output", "triage"),
            ("handoff", "triage"),
            ("message_output", "billing"),
            ("done", "billing"),
        ]
    started = [(e.call_id, e.name) for e in run.of(ToolCallStarted)]
    assert started == [("call_1", "get_weather"), ("call_2", "get_weather"), ("call_3", "get_time")]
    for call in run.of(ToolCalled):
        joined = "".join(
            d.delta
            for d in events
            if isinstance(d, ToolArgumentsDelta) and d.call_id == call.call_id
        )
        assert joined == call.arguments
    assert [(c.call_id, json.loads(c.arguments)) for c in run.of(ToolCalled)] == [
        ("call_1", {"city": "Paris"}),
        ("call_2", {"city": "Oslo"}),
        ("call_3", {"city": "Rome"}),
    ]
    assert len([d for d in events if isinstance(d, ToolArgumentsDelta)]) == 3 + 2 + 2
    assert [(o.call_id, o.name, o.output) for o in run.of(ToolOutput)] == [
        ("call_1", "get_weather", "sunny in Paris"),
        ("call_2", "get_weather", "sunny in Oslo"),
        ("call_3", "get_time", "noon in Rome"),
    ]
    handoff = run.of(Handoff)
    assert [(h.from_agent, h.to_agent, h.call_id) for h in handoff] == [
        ("triage", "billing", "call_4")
    ]
    assert texts(events) == ["Your ", "invoice ", "is ", "paid."]
    assert [m.text for m in run.of(MessageOutput)] == ["Your invoice is paid."]
    assert [usage_of(u) for u in run.of(UsageUpdated)] == [
        (1, 10, 3, 13),
        (2, 30, 7, 37),
        (3, 60, 8, 68),
        (4, 100, 12, 112),
    ]
    assert (done.status, done.final_output, done.last_agent) == (
        "completed",
        "Your invoice is paid.",
        "billing",
    )
    assert usage_of(done) == (4, 100, 12, 112)
    assert done.error is None and done.partial_text is None
    run.server.assert_complete()


async def test_both_paths_give_the_same_events_but_message_ids() -> None:
    responses = story(
        e
        for e in (await run_on_wire("responses", conversation(), triage)).events
        if not isinstance(e, TextDelta) or e.delta
    )
    chat = story(
        e
        for e in (await run_on_wire("chat", conversation(), triage)).events
        if not isinstance(e, TextDelta) or e.delta
    )
    assert by_type(responses) == by_type(chat)
    if TOOL_CALLED_AFTER_RESPONSE:
        assert responses == chat


@pytest.mark.parametrize("kind", KINDS)
async def test_message_ids(kind: str) -> None:
    run = await run_on_wire(kind, [text(["Hel", "lo"])], lambda m, s: Agent(name="a", model=m))
    ids = {e.message_id for e in run.of(TextDelta)} | {e.message_id for e in run.of(MessageOutput)}
    assert len(ids) == 1
    (message_id,) = ids
    if kind == "responses":
        assert message_id is not None and message_id.startswith("msg_")
    else:
        # The SDK gives every chat item the same fake id, which identifies nothing: no id.
        assert message_id is None


@pytest.mark.parametrize("kind", KINDS)
async def test_two_tool_calls_in_one_turn_keep_their_arguments_apart(kind: str) -> None:
    script = [
        turn(
            tool_call("get_weather", {"city": "Oslo"}, call_id="call_a", chunks=4),
            tool_call("get_time", {"city": "Rome"}, call_id="call_b", chunks=4),
        ),
        text(["Done."]),
    ]
    agent = lambda m, s: Agent(name="a", model=m, tools=[get_weather, get_time])  # noqa: E731
    run = await run_on_wire(kind, script, agent)
    assert run.done.status == "completed"
    kinds = [
        (e.type, e.call_id)
        for e in run.events
        if isinstance(e, (ToolCallStarted, ToolArgumentsDelta))
    ]
    assert kinds == [
        ("tool_call_started", "call_a"),
        *[("tool_arguments_delta", "call_a")] * 4,
        ("tool_call_started", "call_b"),
        *[("tool_arguments_delta", "call_b")] * 4,
    ]
    assert [c.call_id for c in run.of(ToolCalled)] == ["call_a", "call_b"]
    assert_call_order(run.events)
    if kind == "chat" or TOOL_CALLED_AFTER_RESPONSE:
        # Both calls are reported once the model call is over.
        first_called = run.events.index(run.of(ToolCalled)[0])
        assert first_called > run.events.index(run.of(ToolCallStarted)[1])
    for call in run.of(ToolCalled):
        deltas = [d.delta for d in run.of(ToolArgumentsDelta) if d.call_id == call.call_id]
        assert "".join(deltas) == call.arguments
    assert [o.output for o in run.of(ToolOutput)] == ["sunny in Oslo", "noon in Rome"]


@pytest.mark.parametrize("kind", KINDS)
async def test_handoff_after_a_tool_call_adds_no_argument_delta(kind: str) -> None:
    run = await run_on_wire(kind, conversation(), triage)
    assert [(e.call_id, e.delta) for e in late_argument_deltas(run.events)] == []


@pytest.mark.parametrize("kind", KINDS)
async def test_a_handoff_is_not_reported_as_a_tool_call(kind: str) -> None:
    """openai-agents 0.14 streams a handoff's call as `tool_called` too: it must not show."""
    run = await run_on_wire(kind, conversation(), triage)
    assert [c.call_id for c in run.of(ToolCalled)] == ["call_1", "call_2", "call_3"]
    assert [h.call_id for h in run.of(Handoff)] == ["call_4"]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_tool_call_and_a_handoff_in_one_turn(kind: str) -> None:
    """The handoff's `{}` must not be appended to the tool call's arguments."""
    script = [
        turn(
            tool_call("get_weather", {"city": "Oslo"}, call_id="call_a", chunks=2),
            tool_call("transfer_to_billing", "{}", call_id="call_h"),
        ),
        text(["Paid."]),
    ]
    run = await run_on_wire(kind, script, triage)
    assert run.done.status == "completed"
    assert [(h.from_agent, h.to_agent) for h in run.of(Handoff)] == [("triage", "billing")]
    deltas = [d.delta for d in run.of(ToolArgumentsDelta) if d.call_id == "call_a"]
    assert "".join(deltas) == run.of(ToolCalled)[0].arguments


def chat_sse(chunks: list[dict[str, Any]], finish_reason: str) -> bytes:
    """A Chat Completions SSE body of `chunks` (choice deltas), with its end."""
    frames = []
    for delta in chunks:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0}
        frames.append({**body, "model": "gpt-test", "choices": [choice]})
    last = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish_reason}
    frames.append({**frames[0], "choices": [last]})
    data = b"".join(b"data: " + json.dumps(f).encode() + b"\n\n" for f in frames)
    return data + b"data: [DONE]\n\n"


class SseUpstream:
    """A bare HTTP server on 127.0.0.1 answering each request with the next SSE body."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies
        self.handlers: set[asyncio.Task[Any]] = set()
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1"

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.handlers:
            task.cancel()
        await asyncio.gather(*self.handlers)
        await self.server.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                await reader.readexactly(int(length[1]) if length else 0)
                body = self.bodies.pop(0)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    b"Content-Length: %d\r\n\r\n%b" % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client left, or the test is over
        finally:
            writer.transport.abort()


async def test_chat_interleaved_parallel_calls_keep_their_arguments_apart() -> None:
    """A provider may interleave the argument chunks of parallel calls (the API allows it)."""

    def start(index: int, call_id: str, name: str) -> dict[str, Any]:
        function = {"name": name, "arguments": ""}
        call = {"index": index, "id": call_id, "type": "function", "function": function}
        return {"tool_calls": [call]}

    def args(index: int, text: str) -> dict[str, Any]:
        return {"tool_calls": [{"index": index, "function": {"arguments": text}}]}

    calls = [
        {"role": "assistant", "content": None, **start(0, "call_a", "get_weather")},
        start(1, "call_b", "get_time"),
        args(0, '{"city": '),
        args(1, '{"city": '),
        args(0, '"Oslo"}'),
        args(1, '"Rome"}'),
    ]
    answer = [{"role": "assistant", "content": "ok"}]
    baseline = asyncio.all_tasks()
    upstream = SseUpstream([chat_sse(calls, "tool_calls"), chat_sse(answer, "stop")])
    async with upstream as base_url:
        client = AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)
        model = OpenAIChatCompletionsModel(model="gpt-test", openai_client=client)
        agent = Agent(name="a", model=model, tools=[get_weather, get_time])
        try:
            result = Runner.run_streamed(agent, "hi", run_config=RUN_CONFIG)
            events = await asyncio.wait_for(normalize(result).collect(), LIMIT)
        finally:
            await client.close()
    await assert_no_task_left(baseline)
    assert assert_well_formed(events).status == "completed"
    called = {e.call_id: e.arguments for e in events if isinstance(e, ToolCalled)}
    assert called == {"call_a": '{"city": "Oslo"}', "call_b": '{"city": "Rome"}'}
    for call_id, arguments in called.items():
        deltas = [
            e.delta for e in events if isinstance(e, ToolArgumentsDelta) and e.call_id == call_id
        ]
        assert "".join(deltas) == arguments


# -- the documented differences -----------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_reasoning_streams_on_the_responses_path_only(kind: str) -> None:
    script = [
        turn(
            reasoning(["Think", "ing."]),
            text(["Hi."]),
            input_tokens=10,
            output_tokens=5,
            reasoning_tokens=3,
        )
    ]
    run = await run_on_wire(
        kind, script, lambda m, s: Agent(name="a", model=m, model_settings=SETTINGS)
    )
    if kind == "responses":
        assert [d.delta for d in run.of(ReasoningDelta)] == ["Think", "ing."]
        assert [r.text for r in run.of(ReasoningOutput)] == ["Thinking."]
    else:
        assert run.of(ReasoningDelta) == run.of(ReasoningOutput) == []
    # Both paths count the reasoning tokens in the output tokens.
    assert usage_of(run.done) == (1, 10, 5, 15)
    assert run.done.final_output == "Hi."


@pytest.mark.parametrize("kind", KINDS)
async def test_usage_without_include_usage(kind: str) -> None:
    run = await run_on_wire(
        kind,
        [turn(text(["a", "b"]), input_tokens=7, output_tokens=3)],
        lambda m, s: Agent(name="a", model=m),
    )
    options = run.server.requests[0].body.get("stream_options") or {}
    if kind == "chat" and SDK_VERSION >= (0, 24):
        assert "include_usage" not in options  # not sent to a base URL that is not OpenAI's
    counted = kind == "responses" or options.get("include_usage") is True
    # Without usage, openai-agents before 0.24 does not count the request either.
    uncounted = (1, 0, 0, 0) if SDK_VERSION >= (0, 24) else (0, 0, 0, 0)
    expected = (1, 7, 3, 10) if counted else uncounted
    assert usage_of(run.done) == expected
    assert [usage_of(u) for u in run.of(UsageUpdated)] == [expected]
