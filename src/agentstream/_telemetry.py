"""OpenTelemetry spans and metrics of streamed runs, when `opentelemetry-api` is installed.

`pip install 'agentstream[otel]'` installs the API only (the Agents SDK's `mcp` dependency
installs it too); the application installs and configures the SDK (exporters, sampling) as it
does for everything else, and agentstream reports through whatever provider is set, or through
the API's no-op one. Without the package, or with `agentstream` in
`OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`, `ENABLED` is False and the streams hold None where their
telemetry would be: one `is None` check per read of a stream and per text run, none per event.

What is reported (`docs/operations.md`):

- a span per streamed run, `invoke_agent {agent}` (the GenAI semantic conventions' operation),
  from the stream's start to its `done`, with the run's id, agent, status, usage and error type,
  and the Agents SDK's own trace id (`openai.agents.trace_id`) to find the SDK's trace;
- per run: `agentstream.runs` (by status), `agentstream.run.duration`,
  `agentstream.run.time_to_first_event`, `agentstream.run.time_to_first_text`,
  `agentstream.events`, and `agentstream.idle_timeouts`;
- per response: `agentstream.bytes_sent` and `agentstream.disconnects`;
- per reader of an event log: `agentstream.resume.reads` and `agentstream.resume.replayed_events`.
"""

from __future__ import annotations

import functools
import os
import time
from typing import TYPE_CHECKING, Any, Final

from ._version import __version__

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ._eventlog import EventLog
    from ._events import Done, Event

DISABLE_VARIABLE: Final = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
"""The environment variable OpenTelemetry's instrumentations read: with `agentstream` among its
comma-separated names, agentstream reports nothing (as without the API)."""


def _disabled() -> bool:
    names = os.environ.get(DISABLE_VARIABLE, "")
    return "agentstream" in {name.strip() for name in names.split(",")}


try:
    if _disabled():
        raise ImportError(f"agentstream is in {DISABLE_VARIABLE}")
    from opentelemetry import metrics as _metrics
    from opentelemetry import trace as _trace
except ImportError:  # the API is not installed (or agentstream's instrumentation is disabled)
    _metrics = None  # type: ignore[assignment]
    _trace = None  # type: ignore[assignment]

__all__ = ["ENABLED", "RunTelemetry", "bytes_sent", "disconnected", "read_run", "start_run"]

ENABLED: Final = _trace is not None
"""Whether `opentelemetry-api` is importable: the streams report through it."""

SCOPE: Final = "agentstream"
"""The instrumentation scope of the tracer and the meter."""


class _Instruments:
    """The meter's instruments, made once, on the first run."""

    def __init__(self) -> None:
        assert _metrics is not None
        meter = _metrics.get_meter(SCOPE, __version__)
        self.runs = meter.create_counter(
            "agentstream.runs", unit="{run}", description="Streamed runs that ended, by status."
        )
        self.duration = meter.create_histogram(
            "agentstream.run.duration",
            unit="s",
            description="From the stream's start to its done.",
        )
        self.first_event = meter.create_histogram(
            "agentstream.run.time_to_first_event",
            unit="s",
            description="From the stream's start to its first event handed out.",
        )
        self.first_text = meter.create_histogram(
            "agentstream.run.time_to_first_text",
            unit="s",
            description="From the stream's start to its first text delta (time to first token).",
        )
        self.events = meter.create_counter(
            "agentstream.events", unit="{event}", description="Events the streams handed out."
        )
        self.idle_timeouts = meter.create_counter(
            "agentstream.idle_timeouts",
            unit="{run}",
            description="Runs cancelled by their idle timeout.",
        )
        self.bytes_sent = meter.create_counter(
            "agentstream.bytes_sent", unit="By", description="Body bytes the responses sent."
        )
        self.disconnects = meter.create_counter(
            "agentstream.disconnects",
            unit="{response}",
            description="Responses whose client left before they ended.",
        )
        self.resume_reads = meter.create_counter(
            "agentstream.resume.reads",
            unit="{read}",
            description="Readers of a run from an event log (subscribe, resumed responses).",
        )
        self.replayed = meter.create_counter(
            "agentstream.resume.replayed_events",
            unit="{event}",
            description="Events a reader got that the log held when it started reading.",
        )


@functools.cache
def _instruments() -> _Instruments:
    return _Instruments()


class RunTelemetry:
    """The span and the timings of one streamed run."""

    __slots__ = ("_event_seen", "_span", "_start", "_text_seen")

    def __init__(self, run_id: str, agent: str | None, sdk_trace_id: str | None) -> None:
        assert _trace is not None
        self._start = time.monotonic()
        self._event_seen = False
        self._text_seen = False
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": "openai",
            "agentstream.run_id": run_id,
        }
        if agent:
            attributes["gen_ai.agent.name"] = agent
        if sdk_trace_id:
            attributes["openai.agents.trace_id"] = sdk_trace_id
        tracer = _trace.get_tracer(SCOPE, __version__)
        name = f"invoke_agent {agent}" if agent else "invoke_agent"
        self._span = tracer.start_span(name, attributes=attributes)

    def event_out(self) -> None:
        """Events were handed out: the first time, time it."""
        if not self._event_seen:
            self._event_seen = True
            _instruments().first_event.record(time.monotonic() - self._start)

    def text_out(self) -> None:
        """A text delta was made: the first time, time it (time to first token)."""
        if not self._text_seen:
            self._text_seen = True
            _instruments().first_text.record(time.monotonic() - self._start)

    def end(self, done: Done, events: int, exception: BaseException | None) -> None:
        """The run ended with `done` after `events` events: close the span, count the run."""
        assert _trace is not None
        instruments = _instruments()
        agent = done.last_agent or done.agent
        attributes: dict[str, Any] = {"agentstream.status": done.status}
        if agent:
            attributes["gen_ai.agent.name"] = agent
        if done.error is not None:
            attributes["error.type"] = done.error.type
        instruments.runs.add(1, attributes)
        instruments.duration.record(time.monotonic() - self._start, attributes)
        instruments.events.add(events, attributes)
        if done.status == "timeout":
            instruments.idle_timeouts.add(1, attributes)
        span = self._span
        span.set_attributes(
            {
                **attributes,
                "gen_ai.usage.input_tokens": done.usage.input_tokens,
                "gen_ai.usage.output_tokens": done.usage.output_tokens,
                "agentstream.events": events,
            }
        )
        if done.status in ("error", "timeout"):
            if exception is not None:
                span.record_exception(exception)
            description = done.error.type if done.error is not None else done.status
            span.set_status(_trace.Status(_trace.StatusCode.ERROR, description))
        span.end()


def start_run(run_id: str, agent: str | None, result: Any) -> RunTelemetry | None:
    """The telemetry of a run a stream starts to normalize; None without the `otel` extra."""
    if not ENABLED:
        return None
    return RunTelemetry(run_id, agent, _sdk_trace_id(result))


def _sdk_trace_id(result: Any) -> str | None:
    """The Agents SDK's trace of the run: its own, or the caller's it runs in (`agents.trace()`)."""
    trace = getattr(result, "trace", None)
    if trace is None:
        try:
            from agents.tracing import get_current_trace

            trace = get_current_trace()
        except Exception:  # an SDK without it: no id
            return None
    trace_id = getattr(trace, "trace_id", None)
    # A disabled trace has a placeholder id, not one the SDK exports.
    return trace_id if isinstance(trace_id, str) and trace_id.startswith("trace_") else None


def bytes_sent(count: int, media_type: str) -> None:
    """A response sent `count` body bytes of `media_type`."""
    if ENABLED and count:
        _instruments().bytes_sent.add(count, {"http.response.header.content-type": media_type})


def disconnected() -> None:
    """A client left before its response ended."""
    if ENABLED:
        _instruments().disconnects.add(1)


def read_run(log: EventLog, run_id: str, after: int | None) -> AsyncIterator[Event]:
    """`log.read(run_id, after)`, counted: every reader of a run from a log reads through this."""
    events = log.read(run_id, after)
    if not ENABLED:
        return events
    return _counted(log, run_id, after, events)


async def _counted(
    log: EventLog, run_id: str, after: int | None, events: AsyncIterator[Event]
) -> AsyncIterator[Event]:
    instruments = _instruments()
    reconnect = after is not None and after >= 0
    instruments.resume_reads.add(1, {"agentstream.reconnect": reconnect})
    info = await log.info(run_id)
    held = info.next_seq if info is not None else 0
    replayed = 0
    try:
        async for event in events:
            if event.seq < held:
                replayed += 1
            yield event
    finally:
        if replayed:
            instruments.replayed.add(replayed, {"agentstream.reconnect": reconnect})
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
