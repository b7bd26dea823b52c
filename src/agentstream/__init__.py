"""agentstream: a stable, typed, serializable event stream for OpenAI Agents SDK runs.

```python
from agentstream import normalize

result = Runner.run_streamed(agent, "Hello")
async with normalize(result) as stream:
    async for event in stream:
        print(event.model_dump_json())
```

Here: the events, `normalize()` and its `EventStream`, the SSE, NDJSON and callback adapters, the
decoders, the client, the errors. By capability, in their own modules: `agentstream.ai_sdk` and
`agentstream.agui` (the protocol bridges), `agentstream.resume` (event logs, resumable streams),
`agentstream.redis`, `agentstream.web` and `agentstream.testing`. Importing this module does not
import the SDK: a service that only decodes events does not pay for it.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from ._buffering import BufferPolicy
from ._callbacks import EventSink, to_callbacks
from ._client import aiter_events, iter_events
from ._errors import (
    AgentStreamError,
    ConfigurationError,
    DecodeError,
    IdleTimeoutError,
    MissingExtraError,
    SlowConsumerError,
)
from ._events import (
    SCHEMA_VERSION,
    ApprovalRequested,
    Citation,
    Custom,
    Done,
    DoneStatus,
    ErrorInfo,
    Event,
    EventBase,
    Handoff,
    Interruption,
    InterruptionKind,
    MessageOutput,
    NestedRunFinished,
    NestedRunStarted,
    ReasoningDelta,
    ReasoningOutput,
    TextDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolCallStarted,
    ToolOutput,
    ToolProgress,
    Usage,
    UsageUpdated,
    event_json_schema,
    parse_event,
)
from ._failures import describe_failure
from ._ndjson import NDJSONDecoder, from_ndjson, to_ndjson
from ._normalize import EventStream, normalize
from ._options import RunOptions
from ._sse import ServerSentEvent, SSEDecoder, from_sse, to_sse
from ._version import __version__

__all__ = [
    "SCHEMA_VERSION",
    "AgentStreamError",
    "ApprovalRequested",
    "BufferPolicy",
    "Citation",
    "ConfigurationError",
    "Custom",
    "DecodeError",
    "Done",
    "DoneStatus",
    "ErrorInfo",
    "Event",
    "EventBase",
    "EventSink",
    "EventStream",
    "Handoff",
    "Interruption",
    "InterruptionKind",
    "IdleTimeoutError",
    "MessageOutput",
    "MissingExtraError",
    "NDJSONDecoder",
    "NestedRunFinished",
    "NestedRunStarted",
    "ReasoningDelta",
    "ReasoningOutput",
    "RunOptions",
    "SSEDecoder",
    "ServerSentEvent",
    "SlowConsumerError",
    "TextDelta",
    "ToolArgumentsDelta",
    "ToolCallStarted",
    "ToolCalled",
    "ToolOutput",
    "ToolProgress",
    "Usage",
    "UsageUpdated",
    "__version__",
    "aiter_events",
    "describe_failure",
    "event_json_schema",
    "from_ndjson",
    "from_sse",
    "iter_events",
    "normalize",
    "parse_event",
    "to_callbacks",
    "to_ndjson",
    "to_sse",
]

_MOVED: dict[str, tuple[str, str]] = {
    "AGUI_HEADERS": ("agui", "HEADERS"),
    "agui_endpoint": ("agui", "endpoint"),
    "agui_messages_to_input": ("agui", "messages_to_input"),
    "run_agui": ("agui", "run"),
    "to_agui": ("agui", "encode"),
    "AI_SDK_HEADERS": ("ai_sdk", "HEADERS"),
    "ai_sdk_endpoint": ("ai_sdk", "endpoint"),
    "run_ai_sdk": ("ai_sdk", "run"),
    "to_ai_sdk": ("ai_sdk", "encode"),
    "ui_messages_to_input": ("ai_sdk", "messages_to_input"),
    **{
        name: ("resume", name)
        for name in (
            "PRODUCER_LOST",
            "AppendError",
            "EventLog",
            "EventLogError",
            "EventsTrimmedError",
            "LeaseHeldError",
            "LeaseLostError",
            "MemoryEventLog",
            "Publication",
            "RunInfo",
            "RunNotFoundError",
            "publish",
            "resumable_sse_endpoint",
            "resume_position",
            "resume_response",
            "subscribe",
        )
    },
}
"""Names that moved to a module by capability in 0.2: still importable from here, with a
`DeprecationWarning`, until 0.3."""


def __getattr__(name: str) -> Any:
    moved = _MOVED.get(name)
    if moved is None:
        raise AttributeError(f"module 'agentstream' has no attribute {name!r}")
    module, new_name = moved
    warnings.warn(
        f"agentstream.{name} moved to agentstream.{module}.{new_name}; "
        "the old name goes away in agentstream 0.3",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(f"agentstream.{module}"), new_name)
