"""Interactive runs: paused for a human's approval or a client's tool, resumed anywhere.

A run pauses for a human's approval or for a tool the client executes, and resumes on any
process that reaches the event log.

```python
from agentstream.interactive import Answer, resume, start
from agentstream.resume import MemoryEventLog, subscribe

log = MemoryEventLog()
publication = await start(agent, "Refund order 42", log)
done = await publication.wait()  # done.status == "interrupted"; done.interruptions say for what
answers = [Answer.approve(w.call_id) for w in done.interruptions]
await resume(log, publication.run_id, answers, agents=[agent])
async for event in subscribe(log, publication.run_id, after=done.seq):
    print(event.type)  # the same run, seq going on after the pause
```

`runs_endpoint` and `answers_endpoint` serve the plain HTTP API; the AI SDK and AG-UI
endpoints answer through their own protocols. See `docs/interactive.md`.
"""

from ._interactive import (
    DEFAULT_PAUSE_TTL,
    PAUSE_NOT_SAVED,
    Answer,
    AnswerRefusedError,
    PausedRun,
    frontend_tool,
)
from ._runs import answers_endpoint, resume, runs_endpoint, start

__all__ = [
    "DEFAULT_PAUSE_TTL",
    "PAUSE_NOT_SAVED",
    "Answer",
    "AnswerRefusedError",
    "PausedRun",
    "answers_endpoint",
    "frontend_tool",
    "resume",
    "runs_endpoint",
    "start",
]
