"""Conversations held by the server: the history in an Agents SDK `Session` per conversation.

```python
from agentstream import ai_sdk
from agentstream.conversations import sqlite_sessions

sessions = sqlite_sessions("chats.db")
app.add_api_route("/api/chat", ai_sdk.endpoint(agent, sessions=sessions), methods=["POST"])
app.add_api_route("/api/chats/{chat_id}/messages", ai_sdk.history_endpoint(sessions))
```

The client sends only its new turn; the agent that ended the last turn starts the next one.
See `docs/conversations.md`.
"""

from ._conversations import (
    Sessions,
    agui_messages,
    keep_partial,
    last_agent,
    sqlite_sessions,
    ui_messages,
)

__all__ = [
    "Sessions",
    "agui_messages",
    "keep_partial",
    "last_agent",
    "sqlite_sessions",
    "ui_messages",
]
