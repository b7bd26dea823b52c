"""`to_callbacks()`: deliver each event to a sink object's `on_<type>` and `on_event` methods."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Protocol

from ._errors import AgentStreamError, ConfigurationError
from ._events import EVENT_TYPES, Done, Event
from ._streams import close_source

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, Awaitable

__all__ = ["EventSink", "to_callbacks"]


class EventSink(Protocol):
    """A sink that takes every event; the type of sinks built around one generic method.

    Every sink method is optional: `to_callbacks()` looks the methods up by name. A sink may
    define `on_event(event)`, called for every event, and any of the per-type methods, called
    for the events of that type: `on_text_delta`, `on_message_output`, `on_reasoning_delta`,
    `on_reasoning_output`, `on_tool_call_started`, `on_tool_arguments_delta`, `on_tool_called`,
    `on_tool_output`, `on_handoff`, `on_approval_requested`, `on_usage_updated`, `on_done`.
    Methods may be plain or `async`. Static type checkers cannot express "any subset of these
    methods", so `to_callbacks()` accepts any object; this protocol types the common case.
    """

    def on_event(self, event: Event) -> Awaitable[object] | object:
        """Take one event (any type); may be a coroutine function."""
        ...


async def to_callbacks(events: AsyncIterable[Event], sink: object) -> Done:
    """Call the sink's methods for each event, in order, and return the final `Done`.

    For each event, `sink.on_<type>(event)` is called if the sink has it, then
    `sink.on_event(event)` if it has that; each result that is awaitable is awaited before the
    next call, so a slow sink slows the stream down (back-pressure), it never loses events.

    Args:
        events: Any async iterable of events, usually an `EventStream` from `normalize()`.
        sink: Any object with `on_event` or at least one `on_<type>` method (see `EventSink`).

    Returns:
        The stream's final `Done` event (the last one, if a source yields several).

    Raises:
        Exception: whatever a sink method raised, unchanged. The stream stops and `events` is
            closed first, which for an `EventStream` cancels the run.
        AgentStreamError: the events ended without a `Done` event.
        ConfigurationError: `sink` has none of the methods.

    """
    names = {f"on_{kind}" for kind in EVENT_TYPES} | {"on_event"}
    if not any(callable(getattr(sink, name, None)) for name in names):
        raise ConfigurationError(
            f"the sink {type(sink).__name__} has no on_event or on_<type> method "
            "(e.g. on_text_delta, on_done)"
        )
    on_event = getattr(sink, "on_event", None)
    done: Done | None = None
    try:
        async for event in events:
            handler = getattr(sink, f"on_{event.type}", None)
            if handler is not None:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            if on_event is not None:
                result = on_event(event)
                if inspect.isawaitable(result):
                    await result
            if isinstance(event, Done):
                done = event
    finally:
        await close_source(events)
    if done is None:
        raise AgentStreamError("the events ended without a 'done' event")
    return done
