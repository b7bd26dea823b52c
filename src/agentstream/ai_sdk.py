"""The Vercel AI SDK bridge: runs as AI SDK 5/6 UI message streams, for `useChat`.

```python
from agentstream import ai_sdk

app = Starlette(routes=[Route("/api/chat", ai_sdk.endpoint(agent), methods=["POST"])])
```

The same verbs as `agentstream.agui`: `encode` events as protocol frames, `run` an agent on a
request body, serve an `endpoint`, turn the client's `messages_to_input`, and the `HEADERS` a
response sends. See `docs/ai-sdk.md`.
"""

from ._ai_sdk import AI_SDK_HEADERS as HEADERS
from ._ai_sdk import ai_sdk_endpoint as endpoint
from ._ai_sdk import run_ai_sdk as run
from ._ai_sdk import to_ai_sdk as encode
from ._ai_sdk import ui_messages_to_input as messages_to_input

__all__ = ["HEADERS", "encode", "endpoint", "messages_to_input", "run"]
