"""Resumable streams: runs published to an event log, read and resumed from any process.

```python
from agentstream.resume import MemoryEventLog, publish, subscribe

log = MemoryEventLog()
publication = await publish(Runner.run_streamed(agent, "Hello"), log)
async for event in subscribe(log, publication.run_id, after=-1):
    print(event.type)
```

`MemoryEventLog` serves one process; `agentstream.redis.RedisEventLog` serves many. The web side
(`resume_response`, `resumable_sse_endpoint`, `resume_position`) needs the `web` extra. See
`docs/scaling.md`.
"""

from ._eventlog import (
    EVENT_LOG_UNAVAILABLE,
    MAX_SEQ,
    PRODUCER_LOST,
    AppendError,
    EventLog,
    EventLogError,
    EventLogUnavailableError,
    EventsTrimmedError,
    LeaseHeldError,
    MemoryEventLog,
    RunInfo,
    RunNotFoundError,
)
from ._resume import (
    LeaseLostError,
    Publication,
    publish,
    resumable_sse_endpoint,
    resume_position,
    resume_response,
    subscribe,
)

__all__ = [
    "EVENT_LOG_UNAVAILABLE",
    "MAX_SEQ",
    "PRODUCER_LOST",
    "AppendError",
    "EventLog",
    "EventLogError",
    "EventLogUnavailableError",
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
]
