"""agentstream: a stable, typed, serializable event stream for OpenAI Agents SDK runs.

```python
from agentstream import normalize

result = Runner.run_streamed(agent, "Hello")
async with normalize(result) as stream:
    async for event in stream:
        print(event.model_dump_json())
```
"""

from ._buffering import BufferPolicy
from ._errors import (
    AgentStreamError,
    ConfigurationError,
    DecodeError,
    IdleTimeoutError,
    MissingExtraError,
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
from ._normalize import EventStream, describe_failure, normalize
from ._version import __version__

__all__ = [
    "SCHEMA_VERSION",
    "AgentStreamError",
    "ApprovalRequested",
    "BufferPolicy",
    "ConfigurationError",
    "DecodeError",
    "Done",
    "DoneStatus",
    "ErrorInfo",
    "Event",
    "EventBase",
    "EventStream",
    "Handoff",
    "IdleTimeoutError",
    "MessageOutput",
    "MissingExtraError",
    "ReasoningDelta",
    "ReasoningOutput",
    "TextDelta",
    "ToolArgumentsDelta",
    "ToolCallStarted",
    "ToolCalled",
    "ToolOutput",
    "Usage",
    "UsageUpdated",
    "__version__",
    "describe_failure",
    "event_json_schema",
    "normalize",
    "parse_event",
]
