"""agentstream: a stable, typed, serializable event stream for OpenAI Agents SDK runs.

```python
from agentstream import normalize

result = Runner.run_streamed(agent, "Hello")
async with normalize(result) as stream:
    async for event in stream:
        print(event.model_dump_json())
```
"""

from ._agui import AGUI_HEADERS, agui_endpoint, agui_messages_to_input, run_agui, to_agui
from ._ai_sdk import (
    AI_SDK_HEADERS,
    ai_sdk_endpoint,
    run_ai_sdk,
    to_ai_sdk,
    ui_messages_to_input,
)
from ._buffering import BufferPolicy
from ._callbacks import EventSink, to_callbacks
from ._client import aiter_events, iter_events
from ._errors import (
    AgentStreamError,
    ConfigurationError,
    DecodeError,
    IdleTimeoutError,
    MissingExtraError,
)
from ._eventlog import (
    PRODUCER_LOST,
    AppendError,
    EventLog,
    EventLogError,
    EventsTrimmedError,
    LeaseHeldError,
    MemoryEventLog,
    RunInfo,
    RunNotFoundError,
)
from ._events import (
    SCHEMA_VERSION,
    ApprovalRequested,
    Done,
    DoneStatus,
    ErrorInfo,
    Event,
    EventBase,
    Handoff,
    MessageOutput,
    ReasoningDelta,
    ReasoningOutput,
    TextDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolCallStarted,
    ToolOutput,
    Usage,
    UsageUpdated,
    event_json_schema,
    parse_event,
)
from ._failures import describe_failure
from ._ndjson import NDJSONDecoder, from_ndjson, to_ndjson
from ._normalize import EventStream, normalize
from ._resume import (
    LeaseLostError,
    Publication,
    publish,
    resumable_sse_endpoint,
    resume_position,
    resume_response,
    subscribe,
)
from ._sse import ServerSentEvent, SSEDecoder, from_sse, to_sse
from ._version import __version__

__all__ = [
    "AGUI_HEADERS",
    "AI_SDK_HEADERS",
    "PRODUCER_LOST",
    "SCHEMA_VERSION",
    "AgentStreamError",
    "AppendError",
    "ApprovalRequested",
    "BufferPolicy",
    "ConfigurationError",
    "DecodeError",
    "Done",
    "DoneStatus",
    "ErrorInfo",
    "Event",
    "EventBase",
    "EventLog",
    "EventLogError",
    "EventSink",
    "EventStream",
    "EventsTrimmedError",
    "Handoff",
    "IdleTimeoutError",
    "LeaseHeldError",
    "LeaseLostError",
    "MemoryEventLog",
    "MessageOutput",
    "MissingExtraError",
    "NDJSONDecoder",
    "Publication",
    "ReasoningDelta",
    "ReasoningOutput",
    "RunInfo",
    "RunNotFoundError",
    "SSEDecoder",
    "ServerSentEvent",
    "TextDelta",
    "ToolArgumentsDelta",
    "ToolCallStarted",
    "ToolCalled",
    "ToolOutput",
    "Usage",
    "UsageUpdated",
    "__version__",
    "agui_endpoint",
    "agui_messages_to_input",
    "ai_sdk_endpoint",
    "aiter_events",
    "describe_failure",
    "event_json_schema",
    "from_ndjson",
    "from_sse",
    "iter_events",
    "normalize",
    "parse_event",
    "publish",
    "resumable_sse_endpoint",
    "resume_position",
    "resume_response",
    "run_agui",
    "run_ai_sdk",
    "subscribe",
    "to_agui",
    "to_ai_sdk",
    "to_callbacks",
    "to_ndjson",
    "to_sse",
    "ui_messages_to_input",
]
