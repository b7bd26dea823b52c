"""The Vercel AI SDK bridge: runs as AI SDK 5/6 UI message streams, for `useChat`.

```python
from agentstream import ai_sdk

app = Starlette(routes=[Route("/api/chat", ai_sdk.endpoint(agent), methods=["POST"])])
```

The same verbs as `agentstream.agui`: `encode` events as protocol frames, `run` an agent on a
request body, serve an `endpoint` (and the `history_endpoint` of conversations the server
holds), turn the client's `messages_to_input`, and the `HEADERS` a response sends. See
`docs/ai-sdk.md`.
"""

from ._ai_sdk import (
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
