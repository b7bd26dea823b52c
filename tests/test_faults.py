"""Every fault ends the stream with exactly one `Done`, the right status, and no task left.

Real runs of the SDK's own OpenAI models (both paths where the fault happens on the wire)
against the local `OpenAIServer`; the table in `docs/reliability.md` ("Faults") names these
tests. Upstream error bodies, tool exceptions and guardrail outputs carry `SECRET`: it must never
reach a client unless `expose_errors=True`.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import asyncio
from typing import Any

import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    RunContextWrapper,
    function_tool,
    input_guardrail,
    output_guardrail,
)
from agents.tool import default_tool_error_function

from agentstream import (
    Done,
    Event,
    EventStream,
    IdleTimeoutError,
    MessageOutput,
    TextDelta,
    ToolCalled,
    ToolOutput,
    Usage,
    UsageUpdated,
)
from agentstream.testing import (
    OpenAIServer,
    error_event_after,
    http_error,
    malformed_after,
    reset_after,
    stall_after,
    text,
    tool_call,
    turn,
)

from .support.checks import assert_well_formed
from .support.compat import SDK_VERSION
from .support.scenarios import get_weather
from .support.wire import KINDS, LIMIT, SETTINGS, WireRun, run_on_wire, texts

SECRET = "sk-live-9f8e7d6c"
"""Stands for what must not leak: keys, hosts, paths in upstream or exception text."""
ANSWER = ["The ", "answer ", "is ", "42."]
FIRST_CALL_USAGE = Usage(requests=1, input_tokens=20, output_tokens=6, total_tokens=26)


def upstream_error_body(status: int) -> dict[str, Any]:
    message = f"upstream failure on 10.0.0.7 with key {SECRET}"
    return {"error": {"message": message, "type": "server_error", "param": None, "code": None}}


def plain(model: Any, server: OpenAIServer) -> Agent[Any]:
    return Agent(name="a", model=model, model_settings=SETTINGS, tools=[get_weather])


def second_call_fails(fault: Any) -> list[Any]:
    """A tool call (usage 20 + 6) that completes, then the answer, cut by `fault`."""
    return [
        turn(
            tool_call("get_weather", {"city": "Oslo"}, call_id="call_1"),
            input_tokens=20,
            output_tokens=6,
        ),
        turn(text(ANSWER), input_tokens=30, output_tokens=4, fault=fault),
    ]


def assert_safe(run: WireRun) -> None:
    """Nothing a client receives holds the secret."""
    assert SECRET not in run.wire()


CONNECTION_ERRORS = ("APIConnectionError", "ReadError")
"""What a broken connection raises while streaming: openai 3.x wraps the HTTP library's error,
openai 2.x (which openai-agents before 0.24 uses) lets httpx's `ReadError` through."""
TIMEOUT_ERRORS = ("APITimeoutError", "ReadTimeout")
"""The same for a read that timed out."""


def assert_error(run: WireRun, error_type: str | tuple[str, ...], message: str) -> Done:
    done = run.done
    types = (error_type,) if isinstance(error_type, str) else error_type
    assert done.status == "error"
    assert done.error is not None
    assert done.error.type in types
    assert done.error.message == message
    assert type(run.stream.exception).__name__ == done.error.type
    assert done.final_output is None
    assert_safe(run)
    return done


# -- upstream faults ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (500, "InternalServerError", "the model provider had a server error (HTTP 500)"),
        (429, "RateLimitError", "the model provider rate-limited the request (HTTP 429)"),
    ],
)
async def test_http_error_before_the_stream(
    kind: str, status: int, error_type: str, message: str
) -> None:
    run = await run_on_wire(kind, [http_error(status, upstream_error_body(status))], plain)
    done = assert_error(run, error_type, message)
    assert run.events == [done]
    assert done.usage == Usage() and done.partial_text is None and done.last_agent == "a"
    assert len(run.server.model_requests) == 1


@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (400, "BadRequestError", "the model provider rejected the request (HTTP 400)"),
        (
            401,
            "AuthenticationError",
            "the model provider did not accept the credentials (HTTP 401)",
        ),
        (403, "PermissionDeniedError", "the model provider denied access (HTTP 403)"),
        (404, "NotFoundError", "the model provider did not find the model or endpoint (HTTP 404)"),
        (409, "ConflictError", "the model provider reported a conflict (HTTP 409)"),
        (
            422,
            "UnprocessableEntityError",
            "the model provider could not process the request (HTTP 422)",
        ),
        (503, "InternalServerError", "the model provider had a server error (HTTP 503)"),
        (418, "APIStatusError", "the model provider answered with an error (HTTP 418)"),
    ],
)
async def test_every_http_status_has_a_safe_message(
    status: int, error_type: str, message: str
) -> None:
    run = await run_on_wire("responses", [http_error(status, upstream_error_body(status))], plain)
    assert_error(run, error_type, message)


async def test_expose_errors_shows_the_upstream_text() -> None:
    run = await run_on_wire(
        "responses", [http_error(500, upstream_error_body(500))], plain, expose_errors=True
    )
    assert run.done.error is not None and SECRET in run.done.error.message


@pytest.mark.parametrize("kind", KINDS)
async def test_connection_reset_mid_stream(kind: str) -> None:
    run = await run_on_wire(kind, second_call_fails(reset_after(3)), plain)
    done = assert_error(run, CONNECTION_ERRORS, "the model provider could not be reached")
    assert texts(run.events) == ANSWER[:3]
    assert done.partial_text == "The answer is "
    assert done.usage == FIRST_CALL_USAGE
    assert [o.output for o in run.of(ToolOutput)] == ["sunny in Oslo"]


@pytest.mark.parametrize("kind", KINDS)
async def test_malformed_sse_from_upstream(kind: str) -> None:
    payload = f"data: {{not json {SECRET}\n\n".encode()
    run = await run_on_wire(kind, second_call_fails(malformed_after(3, payload)), plain)
    done = assert_error(run, "JSONDecodeError", "the model provider sent a malformed stream")
    assert done.partial_text == "The answer is "
    assert done.usage == FIRST_CALL_USAGE


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", ["nested", "flat", "response.failed"])
async def test_error_event_in_the_stream(kind: str, shape: Any) -> None:
    fault = error_event_after(3, message=SECRET, code="server_error", shape=shape)
    run = await run_on_wire(kind, second_call_fails(fault), plain)
    if kind == "responses" and shape == "response.failed" and SDK_VERSION < (0, 19):
        # openai-agents 0.14 ignores `response.failed`: the run "completes", with no answer.
        assert (run.done.status, run.done.final_output, run.done.partial_text) == (
            "completed",
            "",
            None,
        )
        assert_safe(run)
        return
    if kind == "responses" and shape != "nested":
        # The SDK turns the documented `error` event and `response.failed` into this.
        expected = ("ModelBehaviorError", "the model produced output the run could not use")
    else:
        expected = ("APIError", "the model provider reported an error")
    done = assert_error(run, *expected)
    assert done.partial_text == "The answer is "
    assert done.usage == FIRST_CALL_USAGE


@pytest.mark.parametrize("kind", KINDS)
async def test_upstream_stall_ends_with_the_idle_timeout(kind: str) -> None:
    run = await run_on_wire(kind, second_call_fails(stall_after(3)), plain, idle_timeout=0.5)
    done = run.done
    assert run.server.stalled.is_set()
    assert done.status == "timeout"
    assert done.error is not None
    assert (done.error.type, done.error.message) == (
        "IdleTimeoutError",
        "no event from the run for 0.5 s",
    )
    assert isinstance(run.stream.exception, IdleTimeoutError)
    assert done.partial_text == "The answer is "
    assert done.usage == FIRST_CALL_USAGE


@pytest.mark.parametrize("kind", KINDS)
async def test_upstream_stall_past_the_client_timeout(kind: str) -> None:
    run = await run_on_wire(
        kind, second_call_fails(stall_after(3)), plain, client_options={"timeout": 0.5}
    )
    done = assert_error(run, TIMEOUT_ERRORS, "the request to the model provider timed out")
    assert done.partial_text == "The answer is "
    assert done.usage == FIRST_CALL_USAGE


# -- tools, guardrails, turns -------------------------------------------------------------


@function_tool
def explode(city: str) -> str:
    """Fail with a secret in the message."""
    raise ValueError(f"db password {SECRET}")


@function_tool(failure_error_function=None)
def explode_loudly(city: str) -> str:
    """Fail with a secret in the message; the SDK re-raises."""
    raise ValueError(f"db password {SECRET}")


@pytest.mark.parametrize("kind", KINDS)
async def test_tool_that_raises_is_a_tool_output(kind: str) -> None:
    script = [tool_call("explode", {"city": "Oslo"}, call_id="call_x"), text(["Sorry."])]
    agent = lambda m, s: Agent(name="a", model=m, tools=[explode])  # noqa: E731
    run = await run_on_wire(kind, script, agent)
    assert run.done.status == "completed" and run.done.final_output == "Sorry."
    (output,) = run.of(ToolOutput)
    # The tool output is what the SDK told the model, as is. Since openai-agents 0.2x it hides
    # the exception text; older releases include it (see docs/reliability.md).
    expected = default_tool_error_function(None, ValueError(f"db password {SECRET}"))  # type: ignore[arg-type]
    assert (output.call_id, output.output) == ("call_x", expected)
    assert SECRET not in run.done.model_dump_json()


@pytest.mark.parametrize("kind", KINDS)
async def test_tool_that_raises_with_no_error_function_ends_the_run(kind: str) -> None:
    script = [
        turn(
            tool_call("explode_loudly", {"city": "Oslo"}, call_id="call_x"),
            input_tokens=20,
            output_tokens=6,
        ),
        text(["never asked for"]),
    ]
    agent = lambda m, s: Agent(name="a", model=m, model_settings=SETTINGS, tools=[explode_loudly])  # noqa: E731
    run = await run_on_wire(kind, script, agent)
    done = assert_error(run, "UserError", "a tool failed: explode_loudly")
    assert [c.call_id for c in run.of(ToolCalled)] == ["call_x"]
    assert run.of(ToolOutput) == []
    assert done.usage == FIRST_CALL_USAGE and done.partial_text is None
    assert run.server.remaining == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_input_guardrail_tripwire_before_the_model_call(kind: str) -> None:
    @input_guardrail(run_in_parallel=False)
    async def no_secrets(ctx: RunContextWrapper[Any], agent: Agent[Any], data: Any) -> Any:
        return GuardrailFunctionOutput(output_info=SECRET, tripwire_triggered=True)

    agent = lambda m, s: Agent(name="a", model=m, input_guardrails=[no_secrets])  # noqa: E731
    run = await run_on_wire(kind, [text(["never asked for"])], agent)
    done = assert_error(
        run, "InputGuardrailTripwireTriggered", "an input guardrail tripped: no_secrets"
    )
    assert run.events == [done]
    assert run.server.model_requests == []
    assert done.usage == Usage()


@pytest.mark.parametrize("kind", KINDS)
async def test_input_guardrail_tripwire_during_the_model_call(kind: str) -> None:
    """The guardrail trips while the answer streams: the run ends with its error."""

    def agent(model: Any, server: OpenAIServer) -> Agent[Any]:
        @input_guardrail
        async def no_secrets(ctx: RunContextWrapper[Any], agent: Agent[Any], data: Any) -> Any:
            return GuardrailFunctionOutput(output_info=SECRET, tripwire_triggered=True)

        return Agent(name="a", model=model, input_guardrails=[no_secrets])

    run = await run_on_wire(kind, [turn(text(ANSWER), delay=0.01)], agent)
    done = assert_error(
        run, "InputGuardrailTripwireTriggered", "an input guardrail tripped: no_secrets"
    )
    # The SDK holds the model's events back until the parallel input guardrails are done.
    assert run.events == [done]
    assert done.partial_text is None


@pytest.mark.parametrize("kind", KINDS)
async def test_input_guardrail_tripwire_while_the_upstream_stalls(kind: str) -> None:
    """The SDK looks at a tripped guardrail only when the model sends its next event.

    While the model stalls, the SDK's own stream waits for ever: the idle timeout ends it.
    """
    tripped = asyncio.Event()

    def agent(model: Any, server: OpenAIServer) -> Agent[Any]:
        @input_guardrail
        async def no_secrets(ctx: RunContextWrapper[Any], agent: Agent[Any], data: Any) -> Any:
            await server.stalled.wait()
            tripped.set()
            return GuardrailFunctionOutput(output_info=SECRET, tripwire_triggered=True)

        return Agent(name="a", model=model, input_guardrails=[no_secrets])

    script = [turn(text(ANSWER), fault=stall_after(2))]
    run = await run_on_wire(kind, script, agent, idle_timeout=0.5)
    assert tripped.is_set()
    assert run.done.status == "timeout"
    assert run.done.error is not None and run.done.error.type == "IdleTimeoutError"
    # The SDK holds the model's events back until the parallel input guardrails are done.
    assert run.of(TextDelta) == []
    assert run.done.partial_text is None


@pytest.mark.parametrize("kind", KINDS)
async def test_output_guardrail_tripwire(kind: str) -> None:
    @output_guardrail
    async def polite(ctx: RunContextWrapper[Any], agent: Agent[Any], output: Any) -> Any:
        return GuardrailFunctionOutput(output_info=SECRET, tripwire_triggered=True)

    def agent(model: Any, server: OpenAIServer) -> Agent[Any]:
        return Agent(name="a", model=model, model_settings=SETTINGS, output_guardrails=[polite])

    run = await run_on_wire(kind, [turn(text(ANSWER), input_tokens=30, output_tokens=4)], agent)
    done = assert_error(
        run, "OutputGuardrailTripwireTriggered", "an output guardrail tripped: polite"
    )
    # The answer was whole before the guardrail ran: it was sent, and nothing is partial.
    assert [m.text for m in run.of(MessageOutput)] == ["The answer is 42."]
    assert done.partial_text is None
    assert done.usage == Usage(requests=1, input_tokens=30, output_tokens=4, total_tokens=34)


@pytest.mark.parametrize("kind", KINDS)
async def test_max_turns_exceeded(kind: str) -> None:
    script = [
        turn(
            tool_call("get_weather", {"city": "Oslo"}, call_id=f"call_{i}"),
            input_tokens=20,
            output_tokens=6,
        )
        for i in range(3)
    ]
    run = await run_on_wire(kind, script, plain, run_kwargs={"max_turns": 2})
    done = assert_error(run, "MaxTurnsExceeded", "the run exceeded its maximum number of turns")
    assert [o.call_id for o in run.of(ToolOutput)] == ["call_0", "call_1"]
    assert done.usage == Usage(requests=2, input_tokens=40, output_tokens=12, total_tokens=52)
    assert run.server.remaining == 1


# -- consumers ----------------------------------------------------------------------------


def comparable(events: list[Event]) -> list[dict[str, Any]]:
    """Events without their run id and time, and `usage_updated` without its counts."""
    return [
        e.model_dump(
            mode="json",
            exclude={"run_id", "timestamp", "usage"}
            if isinstance(e, UsageUpdated)
            else {"run_id", "timestamp"},
        )
        for e in events
    ]


async def slow(stream: EventStream) -> list[Event]:
    """Read one event, then nothing until the run is over, then the rest."""
    events = [await stream.__anext__()]
    task = stream.result.run_loop_task
    assert task is not None
    await asyncio.wait({task}, timeout=LIMIT)
    assert task.done()
    events.extend([e async for e in stream])
    return events


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fault", [None, reset_after(3)], ids=["completes", "reset"])
async def test_slow_consumer_gets_every_event(kind: str, fault: Any) -> None:
    fast = await run_on_wire(kind, second_call_fails(fault), plain)
    slowly = await run_on_wire(kind, second_call_fails(fault), plain, consume=slow)
    assert comparable(slowly.events) == comparable(fast.events)
    assert slowly.done == fast.done.model_copy(
        update={"run_id": slowly.done.run_id, "timestamp": slowly.done.timestamp}
    )
    assert slowly.done.status == ("completed" if fault is None else "error")
    assert texts(slowly.events) == (ANSWER if fault is None else ANSWER[:3])


@pytest.mark.parametrize("kind", KINDS)
async def test_slow_consumer_sees_the_usage_of_each_call(kind: str) -> None:
    run = await run_on_wire(kind, second_call_fails(None), plain, consume=slow)
    assert [u.usage for u in run.of(UsageUpdated)] == [
        FIRST_CALL_USAGE,
        Usage(requests=2, input_tokens=50, output_tokens=10, total_tokens=60),
    ]


async def test_consumer_that_starts_after_the_run_failed_gets_every_event() -> None:
    async def late(stream: EventStream) -> list[Event]:
        task = stream.result.run_loop_task
        assert task is not None
        await asyncio.wait({task}, timeout=LIMIT)
        assert task.done()
        return await stream.collect()

    run = await run_on_wire("responses", second_call_fails(reset_after(3)), plain, consume=late)
    assert run.done.partial_text == "The answer is "
    assert texts(run.events) == ANSWER[:3]


@pytest.mark.parametrize("kind", KINDS)
async def test_consumer_leaves_while_the_model_streams(kind: str) -> None:
    """`aclose()` in the middle of the answer, while the upstream still holds the response."""

    async def leave(stream: EventStream) -> list[Event]:
        events: list[Event] = []
        async for event in stream:
            events.append(event)
            if len(texts(events)) == 2:
                await stream.aclose()
        return events

    run = await run_on_wire(kind, second_call_fails(stall_after(2)), plain, consume=leave)
    done = run.stream.done
    assert done is not None and done.status == "cancelled"
    assert done.error is None
    assert done.partial_text == "The answer "
    assert done.usage == FIRST_CALL_USAGE
    assert texts(run.events) == ANSWER[:2]
    # The stream ends without sending its Done to a consumer that left: it is kept on `done`.
    assert not any(isinstance(e, Done) for e in run.events)
    assert_well_formed([*run.events, done])


class BlockingTool:
    """A tool that waits until cancelled, and records that it was."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = False
        self.finished = False
        release = asyncio.Event()

        @function_tool
        async def lookup(query: str) -> str:
            """Look something up, for ever."""
            self.started.set()
            try:
                await release.wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
            self.finished = True
            return "found"

        self.tool = lookup


@pytest.mark.parametrize("kind", KINDS)
async def test_consumer_leaves_while_a_tool_runs(kind: str) -> None:
    blocking = BlockingTool()

    async def leave(stream: EventStream) -> list[Event]:
        events: list[Event] = []
        async for event in stream:
            events.append(event)
            if isinstance(event, ToolCalled):
                await asyncio.wait_for(blocking.started.wait(), LIMIT)
                await stream.aclose()
        return events

    script = [
        turn(tool_call("lookup", {"query": "x"}), input_tokens=20, output_tokens=6),
        text(["never asked for"]),
    ]
    agent = lambda m, s: Agent(name="a", model=m, model_settings=SETTINGS, tools=[blocking.tool])  # noqa: E731
    run = await run_on_wire(kind, script, agent, consume=leave)
    done = run.stream.done
    assert done is not None and done.status == "cancelled"
    assert blocking.cancelled and not blocking.finished
    assert done.usage == FIRST_CALL_USAGE
    assert run.server.remaining == 1
