"""Nested runs and events from inside tools: `agent_tool()`, `emit()` and `progress()`.

A stream that normalizes a run opens a *channel* for it: the run's own SDK event queue, so what a
tool sends keeps its place among the SDK's events (a `tool_called` queued before the tool ran
comes out before what the tool sends). Tools find the channel two ways:

- at the top level, by their `ToolContext`: it shares the run's usage object, and the stream
  registers the channel under it for as long as it reads the run;
- inside an agent called with `agent_tool()`, by a context variable the tool's wrapper sets
  before the nested run starts: the nested run's tasks inherit it, and it names the calls the
  run is nested in (its *path*).

What travels on the channel is one of three items (`Emitted`, `NestedEvent`, `NestedEnd`); the
stream numbers and maps them in order with the SDK's events (`_normalize`).
"""

from __future__ import annotations

import asyncio
import functools
import threading
import weakref
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ._errors import ConfigurationError
from ._events import Custom, DoneStatus, EventBase, NestedRunStarted, ToolProgress
from ._mapping import field, to_json_value

if TYPE_CHECKING:
    from collections.abc import Callable

    from agents import Agent, FunctionTool

__all__ = [
    "Channel",
    "Emitted",
    "NestedEnd",
    "NestedEvent",
    "agent_tool",
    "close_channel",
    "emit",
    "open_channel",
    "progress",
]


RESERVED_NAMES: Final = frozenset({"output", "tool-progress", "handoff"})
"""Names `emit()` refuses: the AI SDK bridge's own `data-*` parts have them."""


class Emitted(NamedTuple):
    """An event a tool sent: its class and payload, and the path of the run it belongs to."""

    kind: type[EventBase]
    """The event class."""
    fields: dict[str, Any]
    """Its payload."""
    path: tuple[str, ...]
    """The agent-tool calls the sending run is nested in; empty for the top-level run."""


class NestedEvent(NamedTuple):
    """One SDK event of a nested run (an `AgentToolStreamEvent`)."""

    path: tuple[str, ...]
    """The agent-tool calls the nested run is nested in, its own call last."""
    agent: Any
    """The nested run's current agent."""
    event: Any
    """The SDK stream event."""


class NestedEnd(NamedTuple):
    """A nested run ended: what its `nested_run_finished` says, but its usage (the stream's)."""

    path: tuple[str, ...]
    """The nested run's path, its own call last."""
    status: DoneStatus
    """How it ended."""
    final_output: Any
    """What it returned to the calling agent, when it completed."""
    error: BaseException | None
    """Why it failed."""


class Channel:
    """Where a stream takes what tools send: its run's event queue, from any thread."""

    __slots__ = ("__weakref__", "_loop", "_put", "_thread", "open", "usage")

    def __init__(
        self, put: Callable[[Any], None], loop: asyncio.AbstractEventLoop, usage: object
    ) -> None:
        self._put = put
        self._loop = loop
        self._thread = threading.get_ident()
        self.usage = usage
        """The run's usage object: what the run's tool contexts share with it."""
        self.open = True
        """False once the stream stopped reading: what is sent then is dropped."""

    def send(self, item: Emitted | NestedEvent | NestedEnd) -> bool:
        """Queue `item` behind the SDK's events; False when the stream no longer reads."""
        if not self.open:
            return False
        if threading.get_ident() == self._thread:
            self._put(item)
            return True
        try:  # a sync tool the SDK runs in a worker thread
            self._loop.call_soon_threadsafe(self._put, item)
        except RuntimeError:  # the loop is closed: nobody reads any more
            return False
        return True


class _Scope(NamedTuple):
    channel: Channel
    path: tuple[str, ...]


_SCOPE: ContextVar[_Scope | None] = ContextVar("agentstream_nested_scope", default=None)
"""Set inside an `agent_tool()` call: the channel and the path of the run nested in it."""

_CHANNELS: weakref.WeakValueDictionary[int, Channel] = weakref.WeakValueDictionary()
"""Channels of the runs being streamed, by the id of the run's usage object. A channel lives as
long as its stream: a stream dropped unfinished takes its entry with it."""


def open_channel(result: Any, box_put: Callable[[Any], None]) -> Channel:
    """Open the channel of a run a stream reads (`close_channel` closes it).

    Items go into the run's SDK event queue, so they keep their place among the SDK's events;
    to `box_put` (the stream's mailbox) for a result without one.
    """
    queue = getattr(result, "_event_queue", None)
    put = queue.put_nowait if isinstance(queue, asyncio.Queue) else box_put
    usage = field(field(result, "context_wrapper"), "usage")
    channel = Channel(put, asyncio.get_running_loop(), usage)
    if usage is not None:
        _CHANNELS[id(usage)] = channel
    return channel


def close_channel(channel: Channel) -> None:
    """The stream stopped reading the run: tools that send now send nothing."""
    channel.open = False
    if _CHANNELS.get(id(channel.usage)) is channel:
        del _CHANNELS[id(channel.usage)]


def _scope(context: Any) -> _Scope | None:
    scope = _SCOPE.get()
    if scope is not None:
        return scope
    usage = getattr(context, "usage", None)
    channel = _CHANNELS.get(id(usage))
    if channel is not None and channel.usage is usage:
        return _Scope(channel, ())
    return None


def _send(context: Any, kind: type[EventBase], fields: dict[str, Any]) -> bool:
    scope = _scope(context)
    if scope is None:
        return False
    call_id = getattr(context, "tool_call_id", None)
    fields["call_id"] = call_id if isinstance(call_id, str) else None
    if kind is ToolProgress and fields["call_id"] is None:
        return False  # progress is always of a call
    return scope.channel.send(Emitted(kind, fields, scope.path))


def emit(
    context: Any,
    name: str,
    data: Any = None,
    *,
    id: str | None = None,
    transient: bool = False,
) -> bool:
    """Send a `custom` event from inside a tool, bound to the tool's call.

    Args:
        context: The tool's context (a function tool's first parameter, `ToolContext` or
            `RunContextWrapper`): it tells which run, and which call, the event belongs to.
        name: The application's name for the kind of event, e.g. `chart`.
        data: The payload; anything JSON can hold (other objects become their string form).
        id: Identifies what the event is about: a later event with the same name and id
            replaces it in the client (the AI SDK's `data-*` part ids).
        transient: Show it, do not keep it: conversations leave it out, and the AI SDK bridge
            sends it `transient`.

    Returns:
        True when a stream reads the run and took the event; False when none does (the tool
        ran under `Runner.run`, say): the event is dropped.

    Raises:
        ConfigurationError: `name` is not a non-empty string or is one of `RESERVED_NAMES`,
            or `id` is not a string.

    """
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"emit() name must be a non-empty string, got {name!r}")
    if name in RESERVED_NAMES:
        raise ConfigurationError(
            f"emit() name {name!r} is the bridges' own (data-{name} in the AI SDK stream): "
            "use a namespaced name such as 'app.chart'"
        )
    if id is not None and not isinstance(id, str):
        raise ConfigurationError(f"emit() id must be a string or None, got {id!r}")
    fields = {"name": name, "data": to_json_value(data), "id": id, "transient": bool(transient)}
    return _send(context, Custom, fields)


def progress(
    context: Any,
    message: str | None = None,
    *,
    completed: float | None = None,
    total: float | None = None,
    data: Any = None,
) -> bool:
    """Say how far a tool got: a `tool_progress` event (stage `progress`) bound to its call.

    `progress(ctx, "fetched 3 of 10 pages", completed=3, total=10)`. Returns True when a
    stream took it, False when none reads the run (as `emit`).

    Raises:
        ConfigurationError: `message` is not a string, or `completed`/`total` not numbers.

    """
    if message is not None and not isinstance(message, str):
        raise ConfigurationError(f"progress() message must be a string, got {message!r}")
    for label, value in (("completed", completed), ("total", total)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigurationError(f"progress() {label} must be a number, got {value!r}")
    fields = {
        "name": getattr(context, "tool_name", None),
        "stage": "progress",
        "message": message,
        "completed": completed,
        "total": total,
        "data": to_json_value(data),
    }
    return _send(context, ToolProgress, fields)


def _paused(context: Any) -> bool:
    """Whether the nested run of this call stopped for approvals.

    The SDK keeps the nested result by the call, and lifts its interruptions to the calling run.
    """
    try:
        from agents.agent_tool_state import (
            get_agent_tool_state_scope,
            peek_agent_tool_run_result,
        )

        call = getattr(context, "tool_call", None)
        if call is None:
            return False
        result = peek_agent_tool_run_result(call, scope_id=get_agent_tool_state_scope(context))
    except Exception:  # an SDK without the record, or another shape of it
        return False
    return bool(getattr(result, "interruptions", None))


def _call_key(context: Any) -> tuple[int, str] | None:
    """Which run and call a tool context is of: the run's usage object and the call's id."""
    call_id = getattr(context, "tool_call_id", None)
    if not isinstance(call_id, str) or not call_id:
        return None
    return id(getattr(context, "usage", None)), call_id


def _safe_failure(context: Any, error: Exception) -> str:
    """What the calling agent (and the client) gets when a nested run fails: a fixed sentence.

    The SDK's own default says the same since 0.2x; older releases put the exception's text in
    the output, and the output reaches the client.
    """
    return "An error occurred while running the tool. Please try again."


def _forward(payload: Any) -> None:
    """The `on_stream` callback of an agent tool: a nested run's event onto the channel."""
    scope = _SCOPE.get()
    if scope is not None and scope.path:
        scope.channel.send(NestedEvent(scope.path, payload.get("agent"), payload.get("event")))


def agent_tool(
    agent: Agent[Any],
    tool_name: str | None = None,
    tool_description: str | None = None,
    **options: Any,
) -> FunctionTool:
    """`agent.as_tool(...)` whose nested run streams into the calling run's stream.

    The nested run's events come out of `normalize()` with `parent_call_id` (the call of this
    tool) and `path`, between a `nested_run_started` and a `nested_run_finished`. Runs nested
    deeper (an agent tool of the nested agent) nest their path further. Parallel calls
    interleave, each attributed to its call. Cancelling the calling run cancels the nested one
    (the SDK cancels the tool); a nested run that fails ends with `nested_run_finished` status
    `error`, and the calling agent goes on as the SDK makes it (it gets the tool's error message,
    unless `failure_error_function=None`, which fails the calling run too). By default that
    message is a fixed sentence, on every SDK release: exception text stays on the server.

    Args:
        agent: The agent to run as a tool.
        tool_name: The tool's name (the SDK's default: the agent's name in snake case).
        tool_description: What the tool does, for the calling model.
        **options: Any other keyword of `Agent.as_tool` (`max_turns`, `run_config`,
            `custom_output_extractor`, `needs_approval`, ...), but `on_stream`, which this sets.

    Raises:
        ConfigurationError: `on_stream` was given.

    """
    if "on_stream" in options:
        raise ConfigurationError(
            "agent_tool() sets on_stream itself; use agent.as_tool() for yours"
        )
    # A failure the SDK hands to `failure_error_function`, by (run, call): kept only while the
    # call's wrapper runs, so an id another run reuses, or a late call, leaves nothing behind.
    failures: dict[tuple[int, str], BaseException | None] = {}
    user_failure = options.pop("failure_error_function", _safe_failure)
    if user_failure is not None:

        def on_failure(context: Any, error: Exception) -> Any:
            key = _call_key(context)
            if key is not None and key in failures:
                failures[key] = error
            return user_failure(context, error)

        options["failure_error_function"] = on_failure
    else:
        options["failure_error_function"] = None
    tool = agent.as_tool(tool_name, tool_description, on_stream=_forward, **options)
    invoke = tool.on_invoke_tool

    @functools.wraps(invoke)
    async def on_invoke_tool(context: Any, arguments: str) -> Any:
        parent = _scope(context)
        key = _call_key(context)
        if parent is None or key is None:
            return await invoke(context, arguments)  # nobody streams this run
        failures[key] = None
        call_id = key[1]
        path = (*parent.path, call_id)
        channel = parent.channel
        started = {"call_id": call_id, "name": tool.name, "nested_agent": agent.name}
        channel.send(Emitted(NestedRunStarted, started, parent.path))
        token = _SCOPE.set(_Scope(channel, path))
        status: DoneStatus = "error"
        output: Any = None
        error: BaseException | None = None
        try:
            output = await invoke(context, arguments)
        except asyncio.CancelledError:
            status = "cancelled"
            raise
        except Exception as exc:
            error = exc
            raise
        else:
            error = failures.get(key)
            if error is None:
                status = "interrupted" if _paused(context) else "completed"
            return output
        finally:
            failures.pop(key, None)
            _SCOPE.reset(token)
            kept = output if status in ("completed", "interrupted") else None
            channel.send(NestedEnd(path, status, kept, error))

    tool.on_invoke_tool = on_invoke_tool
    return tool
