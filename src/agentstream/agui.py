"""The AG-UI bridge: runs as AG-UI event streams, for CopilotKit and other AG-UI clients.

```python
from agentstream import agui

app = Starlette(routes=[Route("/agent", agui.endpoint(agent), methods=["POST"])])
```

The same verbs as `agentstream.ai_sdk`: `encode` events as protocol frames, `run` an agent on a
`RunAgentInput`, serve an `endpoint` (and the `history_endpoint` of conversations the server
holds), turn the client's `messages_to_input`, and the `HEADERS` a response sends. Needs the
`agui` extra for `run` and `endpoint` (`ag-ui-protocol`). See `docs/agui.md`.
"""

from ._agui import (
    HEADERS,
    encode,
    endpoint,
    history_endpoint,
    messages_to_input,
    resume_endpoint,
    run,
)

__all__ = [
    "HEADERS",
    "encode",
    "endpoint",
    "history_endpoint",
    "messages_to_input",
    "resume_endpoint",
    "run",
]
