"""OpenTelemetry: a span per streamed run and the operator's metrics, read with the OpenTelemetry
SDK's in-memory exporters (docs/operations.md)."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import httpx
import pytest
from agents import Agent, RunConfig, Runner
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentstream import _telemetry, normalize
from agentstream.resume import MemoryEventLog, publish, subscribe
from agentstream.testing import ScriptedStreamModel, fail, stall_after, text, turn
from agentstream.web import stream_response

from .support.http import serve

EXPORTER = InMemorySpanExporter()
READER = InMemoryMetricReader()


@pytest.fixture(scope="module", autouse=True)
def providers() -> None:
    """The SDK's providers, set once for the process (OpenTelemetry allows one each)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))


def points() -> dict[tuple[str, frozenset[tuple[str, Any]]], Any]:
    """Every data point the meter has: (metric, attributes) to a value (a histogram's count)."""
    found: dict[tuple[str, frozenset[tuple[str, Any]]], Any] = {}
    data = READER.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    key = (metric.name, frozenset(point.attributes.items()))
                    found[key] = getattr(point, "count", None) or getattr(point, "value", 0)
    return found


def total(snapshot: dict[Any, Any], name: str, **attributes: Any) -> Any:
    wanted = set(attributes.items())
    return sum(v for (n, a), v in snapshot.items() if n == name and wanted <= set(a))


def delta(before: dict[Any, Any], after: dict[Any, Any], name: str, **attributes: Any) -> Any:
    return total(after, name, **attributes) - total(before, name, **attributes)


def run_of(script: list[Any], name: str = "clerk") -> Any:
    agent = Agent(name=name, model=ScriptedStreamModel(script, delay=0.002))
    return Runner.run_streamed(agent, "go", run_config=RunConfig(tracing_disabled=True))


def span_of(run_id: str) -> Any:
    [span] = [
        s for s in EXPORTER.get_finished_spans() if s.attributes.get("agentstream.run_id") == run_id
    ]
    return span


async def test_a_completed_run_has_its_span_and_its_metrics() -> None:
    assert _telemetry.ENABLED
    before = points()
    events = await normalize(run_of([text("All good here.")])).collect()
    after = points()
    done = events[-1]
    span = span_of(done.run_id)
    assert span.name == "invoke_agent clerk"
    assert span.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert span.attributes["gen_ai.agent.name"] == "clerk"
    assert span.attributes["agentstream.status"] == "completed"
    assert span.attributes["agentstream.events"] == len(events)
    assert span.attributes["gen_ai.usage.output_tokens"] == done.usage.output_tokens  # type: ignore[union-attr]
    assert span.status.status_code == StatusCode.UNSET
    ok = {"agentstream.status": "completed", "gen_ai.agent.name": "clerk"}
    assert delta(before, after, "agentstream.runs", **ok) == 1
    assert delta(before, after, "agentstream.events", **ok) == len(events)
    assert delta(before, after, "agentstream.run.duration", **ok) == 1
    assert delta(before, after, "agentstream.run.time_to_first_event") == 1
    assert delta(before, after, "agentstream.run.time_to_first_text") == 1
    assert delta(before, after, "agentstream.idle_timeouts") == 0


async def test_failed_and_timed_out_runs_are_errors_with_their_type() -> None:
    before = points()
    failed = await normalize(run_of([turn(text("Let me"), fail(RuntimeError("secret")))])).collect()
    stalled = run_of([turn(text(["a", "b", "c"]), fault=stall_after(1))])
    timed_out = await normalize(stalled, idle_timeout=0.2).collect()
    after = points()
    span = span_of(failed[-1].run_id)
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "RuntimeError"
    [exception] = [e for e in span.events if e.name == "exception"]
    assert exception.attributes["exception.type"] == "RuntimeError"
    assert span_of(timed_out[-1].run_id).attributes["error.type"] == "IdleTimeoutError"
    assert (
        delta(
            before,
            after,
            "agentstream.runs",
            **{"agentstream.status": "error", "error.type": "RuntimeError"},
        )
        == 1
    )
    assert delta(before, after, "agentstream.runs", **{"agentstream.status": "timeout"}) == 1
    assert delta(before, after, "agentstream.idle_timeouts") == 1
    # the failed run streamed text before it failed; the stalled one streamed one delta
    assert delta(before, after, "agentstream.run.time_to_first_text") == 2


async def test_responses_count_their_bytes_and_the_clients_that_left() -> None:
    async def chat(request: Request) -> Response:
        words = [f"word{i} " for i in range(400)]
        return stream_response(run_of([text(words)]), heartbeat=None)

    app = Starlette(routes=[Route("/chat", chat, methods=["POST"])])
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        before = points()
        response = await client.post("/chat")
        body = response.content
        await asyncio.sleep(0.1)  # the response's last accounting happens after its last byte
        middle = points()
        async with client.stream("POST", "/chat") as streaming:
            async for _ in streaming.aiter_bytes():
                break  # a client that leaves
        for _ in range(100):
            if delta(middle, points(), "agentstream.disconnects") == 1:
                break
            await asyncio.sleep(0.05)
        after = points()
    sse = {"http.response.header.content-type": "text/event-stream; charset=utf-8"}
    assert delta(before, middle, "agentstream.bytes_sent", **sse) == len(body)
    assert delta(before, middle, "agentstream.disconnects") == 0
    assert delta(middle, after, "agentstream.disconnects") == 1
    assert delta(middle, after, "agentstream.runs", **{"agentstream.status": "cancelled"}) == 1


async def test_readers_of_an_event_log_are_counted_with_what_they_replay() -> None:
    log = MemoryEventLog()
    publication = await publish(run_of([text("one two three")]), log)
    done = await publication.wait()
    assert done is not None
    before = points()
    whole = [e async for e in subscribe(log, publication.run_id)]
    rest = [e async for e in subscribe(log, publication.run_id, after=1)]
    after = points()
    assert delta(before, after, "agentstream.resume.reads", **{"agentstream.reconnect": False}) == 1
    assert delta(before, after, "agentstream.resume.reads", **{"agentstream.reconnect": True}) == 1
    assert delta(before, after, "agentstream.resume.replayed_events") == len(whole) + len(rest)


async def test_disabled_by_the_standard_variable_nothing_is_reported() -> None:
    """`OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=agentstream`: no telemetry object, runs as usual."""

    code = (
        "import asyncio\n"
        "from agents import Agent, RunConfig, Runner\n"
        "from agentstream import _telemetry, normalize\n"
        "from agentstream.testing import ScriptedStreamModel, text\n"
        "agent = Agent(name='a', model=ScriptedStreamModel([text('hi there')]))\n"
        "async def main():\n"
        "    run = Runner.run_streamed(agent, 'go', run_config=RunConfig(tracing_disabled=True))\n"
        "    stream = normalize(run)\n"
        "    assert stream._telemetry is None\n"
        "    events = await stream.collect()\n"
        "    print(_telemetry.ENABLED, events[-1].status)\n"
        "asyncio.run(main())\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        env={
            **os.environ,
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "foo, agentstream",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert out.decode().split() == ["False", "completed"]


async def test_the_span_names_the_agents_sdk_trace_when_the_sdk_traces() -> None:
    """In a process where the SDK traces (the suite turns its tracing off): the run in an
    `agents.trace()` carries that trace's id, and a run with its own trace carries its own."""
    code = (
        "import asyncio\n"
        "from agents import Agent, Runner, set_trace_processors, trace\n"
        "from opentelemetry import trace as otel\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "from agentstream import normalize\n"
        "from agentstream.testing import ScriptedStreamModel, text\n"
        "set_trace_processors([])  # traced, exported nowhere\n"
        "exporter = InMemorySpanExporter()\n"
        "provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "otel.set_tracer_provider(provider)\n"
        "agent = Agent(name='traced', model=ScriptedStreamModel([text('hi')], per_run=True))\n"
        "async def main():\n"
        "    with trace('outer') as outer:\n"
        "        await normalize(Runner.run_streamed(agent, 'go')).collect()\n"
        "    own = Runner.run_streamed(agent, 'go')\n"
        "    await normalize(own).collect()\n"
        "    spans = exporter.get_finished_spans()\n"
        "    ids = [s.attributes.get('openai.agents.trace_id') for s in spans]\n"
        "    assert ids == [outer.trace_id, own.trace.trace_id], ids\n"
        "    assert all(i.startswith('trace_') for i in ids), ids\n"
        "    print('ok')\n"
        "asyncio.run(main())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_AGENTS_DISABLE_TRACING"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert out.decode().split() == ["ok"]
