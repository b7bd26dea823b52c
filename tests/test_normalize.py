"""normalize() on real SDK runs: mapping, final-result capture, failures, lifetime."""

from __future__ import annotations

import asyncio
import gc
from types import SimpleNamespace
from typing import Any

import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    RunContextWrapper,
    Runner,
    function_tool,
    input_guardrail,
    output_guardrail,
)
from agents.stream_events import RawResponsesStreamEvent, RunItemStreamEvent

from agentstream import (
    ApprovalRequested,
    ConfigurationError,
    Event,
    Handoff,
    IdleTimeoutError,
    MessageOutput,
    TextDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolCallStarted,
    ToolOutput,
    UsageUpdated,
    normalize,
)
from agentstream.testing import ScriptedStreamModel, fail, handoff, text, tool_call, turn

from .support.checks import assert_well_formed
from .support.compat import ScriptedModel, function_call, requires_sdk_scripted_model
from .support.scenarios import SlowTool, chunked_text, triage_run


async def collect(result: Any, **kwargs: Any) -> list[Event]:
    async with asyncio.timeout(10):
        return await normalize(result, **kwargs).collect()


def positions(events: list[Event], kind: type) -> list[int]:
    return [i for i, e in enumerate(events) if isinstance(e, kind)]


@requires_sdk_scripted_model
async def test_triage_tool_handoff_answer_on_sdk_scripted_model() -> None:
    model = ScriptedModel(
        [
            [function_call("get_weather", {"city": "Paris"}, call_id="call_1")],
            [function_call("transfer_to_billing", "{}", call_id="call_2")],
            chunked_text(["Your ", "invoice ", "is ", "paid."]),
        ]
    )
    result = triage_run(model)
    events = await collect(result)
    done = assert_well_formed(events)

    called = events[positions(events, ToolCalled)[0]]
    output = events[positions(events, ToolOutput)[0]]
    (handoff_at,) = positions(events, Handoff)
    deltas = positions(events, TextDelta)
    (message_at,) = positions(events, MessageOutput)
    assert called.seq < output.seq < handoff_at < deltas[0]
    assert deltas == list(range(deltas[0], deltas[0] + 4))
    assert deltas[-1] < message_at < len(events) - 1

    assert isinstance(called, ToolCalled) and isinstance(output, ToolOutput)
    assert (called.call_id, called.name, called.arguments) == (
        "call_1",
        "get_weather",
        '{"city":"Paris"}',
    )
    assert (output.call_id, output.output, output.name) == (
        "call_1",
        "sunny in Paris",
        "get_weather",
    )
    assert called.agent == output.agent == "triage"
    hand = events[handoff_at]
    assert isinstance(hand, Handoff)
    assert (hand.from_agent, hand.to_agent, hand.call_id, hand.agent) == (
        "triage",
        "billing",
        "call_2",
        "triage",
    )
    texts = [events[i] for i in deltas]
    assert "".join(e.delta for e in texts if isinstance(e, TextDelta)) == "Your invoice is paid."
    assert {e.agent for e in texts} == {"billing"}
    message = events[message_at]
    assert isinstance(message, MessageOutput) and message.text == "Your invoice is paid."
    assert message.message_id == "msg_1"

    assert done.status == "completed"
    assert done.final_output == "Your invoice is paid."
    assert done.last_agent == "billing"
    assert done.error is None and done.partial_text is None
    sdk_usage = result.context_wrapper.usage
    assert (done.usage.requests, done.usage.total_tokens) == (
        sdk_usage.requests,
        sdk_usage.total_tokens,
    )


async def test_our_scripted_model_streams_tool_arguments_and_usage() -> None:
    model = ScriptedStreamModel(
        [
            turn(tool_call("get_weather", {"city": "Paris"}, chunks=3), input_tokens=10),
            turn(handoff("billing"), input_tokens=20),
            turn(text("Your invoice is paid."), input_tokens=30, output_tokens=4),
        ]
    )
    result = triage_run(model)
    events = await collect(result)
    done = assert_well_formed(events)

    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert [(e.call_id, e.name) for e in started] == [(started[0].call_id, "get_weather")]
    args = [e for e in events if isinstance(e, ToolArgumentsDelta)]
    assert len(args) == 3
    called = next(e for e in events if isinstance(e, ToolCalled))
    assert "".join(a.delta for a in args) == called.arguments == '{"city": "Paris"}'
    assert started[0].seq < args[0].seq < called.seq
    # The handoff call is reported once, as a handoff, never as a tool.
    assert [e.name for e in events if isinstance(e, ToolCallStarted | ToolCalled)] == [
        "get_weather",
        "get_weather",
    ]
    assert len([e for e in events if isinstance(e, Handoff)]) == 1

    updates = [e for e in events if isinstance(e, UsageUpdated)]
    assert [u.usage.requests for u in updates] == [1, 2, 3]
    assert [u.usage.input_tokens for u in updates] == [10, 30, 60]
    assert done.usage == updates[-1].usage
    assert done.usage.output_tokens == 3 + 1 + 4  # one per streamed chunk unless scripted
    assert done.usage.total_tokens == 68
    assert model.remaining == 0


async def test_first_agent_update_is_not_a_handoff() -> None:
    model = ScriptedStreamModel([text("Hello there.")])
    agent = Agent(name="solo", model=model)
    events = await collect(Runner.run_streamed(agent, "hi"))
    assert_well_formed(events)
    assert not [e for e in events if isinstance(e, Handoff)]
    assert {e.agent for e in events} == {"solo"}


async def test_structured_final_output_becomes_json() -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        city: str
        degrees: int

    model = ScriptedStreamModel([text('{"city": "Paris", "degrees": 21}')])
    agent = Agent(name="weather", model=model, output_type=Answer)
    events = await collect(Runner.run_streamed(agent, "weather?"))
    done = assert_well_formed(events)
    assert done.final_output == {"city": "Paris", "degrees": 21}


# Failures: exactly one Done, last, with the right status and type.


async def test_model_error_mid_stream_keeps_partial_text_and_hides_its_text() -> None:
    model = ScriptedStreamModel(
        [turn(text(["The answer ", "is "]), fail(RuntimeError("db password=hunter2")), delay=0.001)]
    )
    stream = normalize(Runner.run_streamed(Agent(name="a", model=model), "q"))
    async with asyncio.timeout(10):
        events = await stream.collect()
    done = assert_well_formed(events)
    assert done.status == "error"
    assert done.error is not None and done.error.type == "RuntimeError"
    assert "hunter2" not in done.model_dump_json()
    assert done.partial_text == "The answer is "
    assert isinstance(stream.exception, RuntimeError)
    assert stream.done is done


async def test_expose_errors_opts_in_to_the_exception_text() -> None:
    model = ScriptedStreamModel([fail(RuntimeError("upstream said no"))])
    events = await collect(
        Runner.run_streamed(Agent(name="a", model=model), "q"), expose_errors=True
    )
    done = assert_well_formed(events)
    assert done.error is not None
    assert (done.error.type, done.error.message) == ("RuntimeError", "upstream said no")


async def test_tool_error_that_the_sdk_reraises() -> None:
    @function_tool(failure_error_function=None)
    def explode(x: int) -> str:
        """Fail."""
        raise ValueError("secret internals")

    model = ScriptedStreamModel([tool_call("explode", {"x": 1}), text("unreachable")])
    events = await collect(Runner.run_streamed(Agent(name="a", model=model, tools=[explode]), "q"))
    done = assert_well_formed(events)
    assert done.status == "error"
    assert done.error is not None and "secret" not in done.error.message
    assert any(isinstance(e, ToolCalled) for e in events)


async def test_tool_error_handled_by_the_sdk_is_a_tool_output() -> None:
    @function_tool
    def explode(x: int) -> str:
        """Fail."""
        raise ValueError("boom")

    model = ScriptedStreamModel([tool_call("explode", {"x": 1}), text("Sorry.")])
    events = await collect(Runner.run_streamed(Agent(name="a", model=model, tools=[explode]), "q"))
    done = assert_well_formed(events)
    assert done.status == "completed"
    output = next(e for e in events if isinstance(e, ToolOutput))
    assert isinstance(output.output, str) and output.output


async def test_max_turns_exceeded() -> None:
    model = ScriptedStreamModel([tool_call("get_weather", {"city": "A"})] * 3)
    billing = Agent(name="billing", model=model)
    from .support.scenarios import get_weather

    agent = Agent(name="triage", model=model, tools=[get_weather], handoffs=[billing])
    events = await collect(Runner.run_streamed(agent, "q", max_turns=2))
    done = assert_well_formed(events)
    assert done.status == "error"
    assert done.error is not None and done.error.type == "MaxTurnsExceeded"
    assert done.error.message == "the run exceeded its maximum number of turns"
    assert [e for e in events if isinstance(e, ToolOutput)]


async def test_input_guardrail_tripwire() -> None:
    @input_guardrail
    async def no_secrets(ctx: RunContextWrapper[Any], agent: Agent[Any], data: Any) -> Any:
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered=True)

    model = ScriptedStreamModel([text("never shown")])
    agent = Agent(name="a", model=model, input_guardrails=[no_secrets])
    events = await collect(Runner.run_streamed(agent, "my password"))
    done = assert_well_formed(events)
    assert done.status == "error"
    assert done.error is not None
    assert done.error.type == "InputGuardrailTripwireTriggered"
    assert done.error.message == "an input guardrail tripped: no_secrets"


async def test_output_guardrail_tripwire() -> None:
    @output_guardrail
    async def no_rudeness(ctx: RunContextWrapper[Any], agent: Agent[Any], output: Any) -> Any:
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered=True)

    model = ScriptedStreamModel([text("rude words")])
    agent = Agent(name="a", model=model, output_guardrails=[no_rudeness])
    events = await collect(Runner.run_streamed(agent, "q"))
    done = assert_well_formed(events)
    assert done.status == "error"
    assert done.error is not None and done.error.type == "OutputGuardrailTripwireTriggered"


async def test_model_error_before_the_first_event() -> None:
    model = ScriptedStreamModel([fail(ConnectionError("10.0.0.7 refused"))])
    events = await collect(Runner.run_streamed(Agent(name="a", model=model), "q"))
    done = assert_well_formed(events)
    assert done.status == "error" and done.error is not None
    assert done.error.type == "ConnectionError" and "10.0.0.7" not in done.error.message


async def test_unknown_sdk_events_never_crash_the_stream() -> None:
    from agents.result import RunResultStreaming

    model = ScriptedStreamModel([text("fine")])
    real = Runner.run_streamed(Agent(name="a", model=model), "q")
    assert isinstance(real, RunResultStreaming)

    async def odd_events() -> Any:
        yield SimpleNamespace(type="brand_new_stream_event")
        yield RawResponsesStreamEvent(data=SimpleNamespace(type="response.from_the_future"))  # type: ignore[arg-type]
        yield RunItemStreamEvent(name="not_yet_invented", item=SimpleNamespace())  # type: ignore[arg-type]
        yield RunItemStreamEvent(name="tool_called", item=object())  # type: ignore[arg-type]
        async for event in real.stream_events():
            yield event

    class Wrapped:
        current_agent = real.current_agent
        context_wrapper = real.context_wrapper
        interruptions: tuple[Any, ...] = ()

        def stream_events(self) -> Any:
            return odd_events()

        def cancel(self) -> None:
            real.cancel()

        @property
        def final_output(self) -> Any:
            return real.final_output

        @property
        def last_agent(self) -> Any:
            return real.last_agent

    events = await collect(Wrapped())
    done = assert_well_formed(events)
    assert done.status == "completed" and done.final_output == "fine"


# Lifetime: idle timeout, close, cancellation.


async def test_idle_timeout_cancels_the_run_and_its_tool() -> None:
    slow = SlowTool(2.0)
    model = ScriptedStreamModel([tool_call("slow_lookup", {"query": "x"}), text("late")])
    result = Runner.run_streamed(Agent(name="a", model=model, tools=[slow.tool]), "q")
    stream = normalize(result, idle_timeout=0.5)
    async with asyncio.timeout(10):
        events = await stream.collect()
    done = assert_well_formed(events)
    assert done.status == "timeout"
    assert done.error is not None and done.error.type == "IdleTimeoutError"
    assert isinstance(stream.exception, IdleTimeoutError)
    assert slow.started.is_set() and slow.cancelled and not slow.finished
    assert result.run_loop_task is not None and result.run_loop_task.done()


async def test_idle_timeout_never_fires_while_events_flow() -> None:
    # 30 deltas 20 ms apart take far longer than the idle timeout, but each arrives within it.
    model = ScriptedStreamModel([turn(text(["x"] * 30), delay=0.02)])
    events = await collect(Runner.run_streamed(Agent(name="a", model=model), "q"), idle_timeout=0.3)
    done = assert_well_formed(events)
    assert done.status == "completed" and done.final_output == "x" * 30


async def test_aclose_at_tool_called_stops_the_tool() -> None:
    slow = SlowTool(2.0)
    model = ScriptedStreamModel([tool_call("slow_lookup", {"query": "x"}), text("late")])
    result = Runner.run_streamed(Agent(name="a", model=model, tools=[slow.tool]), "q")
    async with asyncio.timeout(10):
        async with normalize(result) as stream:
            async for event in stream:
                if isinstance(event, ToolCalled):
                    await slow.started.wait()  # the tool is in flight when the stream closes
                    break
    assert stream.done is not None and stream.done.status == "cancelled"
    assert result.run_loop_task is not None and result.run_loop_task.done()
    assert slow.cancelled and not slow.finished
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def test_cancelling_the_consumer_task_cancels_the_run() -> None:
    slow = SlowTool(5.0)
    model = ScriptedStreamModel([tool_call("slow_lookup", {"query": "x"}), text("late")])
    result = Runner.run_streamed(Agent(name="a", model=model, tools=[slow.tool]), "q")
    stream = normalize(result)

    async def consume() -> None:
        async for _ in stream:
            pass

    task = asyncio.create_task(consume())
    async with asyncio.timeout(10):
        await slow.started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert stream.done is not None and stream.done.status == "cancelled"
    assert result.run_loop_task is not None and result.run_loop_task.done()
    assert slow.cancelled and not slow.finished


async def test_an_anyio_cancel_scope_ends_the_stream_and_the_run() -> None:
    import anyio

    slow = SlowTool(5.0)
    model = ScriptedStreamModel([tool_call("slow_lookup", {"query": "x"}), text("late")])
    result = Runner.run_streamed(Agent(name="a", model=model, tools=[slow.tool]), "q")
    stream = normalize(result)
    with anyio.fail_after(10), anyio.CancelScope() as scope:
        async for event in stream:
            if isinstance(event, ToolCalled):
                await slow.started.wait()
                scope.cancel()  # re-delivered at every await, unlike asyncio's one-shot cancel
    assert scope.cancelled_caught
    assert stream.done is not None and stream.done.status == "cancelled"
    assert result.run_loop_task is not None
    async with asyncio.timeout(10):
        await asyncio.wait({result.run_loop_task}, timeout=5)
    assert result.run_loop_task.done() and slow.cancelled and not slow.finished


async def test_dropping_an_unclosed_stream_cancels_the_run() -> None:
    slow = SlowTool(5.0)
    model = ScriptedStreamModel([tool_call("slow_lookup", {"query": "x"}), text("late")])
    result = Runner.run_streamed(Agent(name="a", model=model, tools=[slow.tool]), "q")
    async with asyncio.timeout(10):
        async for event in normalize(result):
            if isinstance(event, ToolCalled):
                break
        gc.collect()
        assert result.run_loop_task is not None
        await asyncio.wait({result.run_loop_task}, timeout=5)
    assert result.run_loop_task.done()
    assert not slow.finished


async def test_dropping_a_stream_never_read_cancels_the_run() -> None:
    slow = SlowTool(5.0)
    model = ScriptedStreamModel([tool_call("slow_lookup", {"query": "x"}), text("late")])
    result = Runner.run_streamed(Agent(name="a", model=model, tools=[slow.tool]), "q")
    stream = normalize(result)
    del stream
    gc.collect()
    assert result.run_loop_task is not None
    async with asyncio.timeout(10):
        await asyncio.wait({result.run_loop_task}, timeout=5)
    assert result.run_loop_task.done()
    assert not slow.finished


@requires_sdk_scripted_model
async def test_next_event_timeout_does_not_disturb_the_run() -> None:
    gate = asyncio.Event()
    model = ScriptedModel(
        [chunked_text(["a", "b"], pause=lambda i: gate.wait() if i == 0 else None)]
    )
    stream = normalize(Runner.run_streamed(Agent(name="a", model=model), "q"))
    async with asyncio.timeout(10):
        first = await stream.next_event()
        assert isinstance(first, TextDelta) and first.delta == "a"
        for _ in range(3):
            assert await stream.next_event(timeout=0.01) is None
        gate.set()
        rest = [e async for e in stream]
    assert [e.delta for e in rest if isinstance(e, TextDelta)] == ["b"]
    assert stream.done is not None and stream.done.status == "completed"
    assert stream.done.final_output == "ab"


async def test_aclose_from_another_task_ends_the_reader_waiting_on_the_stream() -> None:
    slow = SlowTool(30.0)
    model = ScriptedStreamModel([tool_call("slow_lookup", {"query": "x"}), text("late")])
    result = Runner.run_streamed(Agent(name="a", model=model, tools=[slow.tool]), "q")
    stream = normalize(result)
    seen: list[Event] = []

    async def consume() -> None:
        seen.extend([event async for event in stream])

    consumer = asyncio.create_task(consume())
    async with asyncio.timeout(10):
        await slow.started.wait()
        await stream.aclose()
        await consumer  # ends: it does not wait for a wake-up the cancelled run never sends
    assert stream.done is not None and stream.done.status == "cancelled"
    assert stream.done.seq == seen[-1].seq + 1
    assert slow.cancelled


async def test_done_after_aclose_follows_the_last_event_handed_out() -> None:
    model = ScriptedStreamModel([text(["a", "b", "c", "d"])])
    stream = normalize(Runner.run_streamed(Agent(name="a", model=model), "q"))
    async with asyncio.timeout(10):
        first = await stream.__anext__()
        await stream.aclose()
    assert stream.done is not None and stream.done.seq == first.seq + 1


@pytest.mark.parametrize("value", [float("nan"), -1, "1", True])
async def test_next_event_timeout_is_checked(value: Any) -> None:
    stream = normalize(
        Runner.run_streamed(Agent(name="a", model=ScriptedStreamModel([text("x")])), "q")
    )
    with pytest.raises(ConfigurationError, match="timeout"):
        await stream.next_event(value)
    with pytest.raises(ConfigurationError, match="timeout"):
        await stream.next_batch(value)
    await stream.aclose()


@requires_sdk_scripted_model
async def test_reading_from_two_tasks_at_once_is_an_error() -> None:
    from agentstream import AgentStreamError

    gate = asyncio.Event()
    model = ScriptedModel([chunked_text(["a"], pause=lambda i: gate.wait())])
    stream = normalize(Runner.run_streamed(Agent(name="a", model=model), "q"))
    async with asyncio.timeout(10):
        assert isinstance(await stream.__anext__(), TextDelta)
        reader = asyncio.create_task(stream.__anext__())
        await asyncio.sleep(0)
        with pytest.raises(AgentStreamError, match="already being read"):
            await stream.__anext__()
        gate.set()
        await reader
        await stream.aclose()


# Approvals.


async def test_tool_needing_approval_is_reported_and_listed_in_done() -> None:
    @function_tool(needs_approval=True)
    def delete_file(path: str) -> str:
        """Delete a file."""
        return "deleted"

    model = ScriptedStreamModel([tool_call("delete_file", {"path": "/tmp/x"}, call_id="call_del")])
    agent = Agent(name="ops", model=model, tools=[delete_file])
    events = await collect(Runner.run_streamed(agent, "clean up"))
    done = assert_well_formed(events)
    approvals = [e for e in events if isinstance(e, ApprovalRequested)]
    assert [(a.call_id, a.name, a.kind) for a in approvals] == [
        ("call_del", "delete_file", "function")
    ]
    assert approvals[0].arguments == '{"path": "/tmp/x"}'
    # The run paused: not completed, and the done says for what (schema 1.1).
    assert done.status == "interrupted" and done.pending_approvals == ("call_del",)
    assert [(w.call_id, w.name, w.kind) for w in done.interruptions] == [
        ("call_del", "delete_file", "approval")
    ]
    assert done.final_output is None


# Arguments.


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), "1", True])
async def test_bad_idle_timeout_is_rejected_with_its_value(value: Any) -> None:
    result = Runner.run_streamed(Agent(name="a", model=ScriptedStreamModel([text("x")])), "q")
    with pytest.raises(ConfigurationError, match="idle_timeout"):
        normalize(result, idle_timeout=value)
    await normalize(result).aclose()


def test_normalize_rejects_what_is_not_a_streamed_result() -> None:
    with pytest.raises(ConfigurationError, match=r"Runner\.run_streamed"):
        normalize(object())  # type: ignore[arg-type]
