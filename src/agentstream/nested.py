"""Nested and rich runs: agents called as tools, and events sent from inside tools.

`agent_tool(agent)` is `agent.as_tool(...)` whose nested run streams into the calling run's
stream: its events carry `parent_call_id` and `path`, between `nested_run_started` and
`nested_run_finished`. `emit(ctx, name, data)` sends a `custom` event from a function tool, and
`progress(ctx, message, completed=, total=)` a `tool_progress` event, both bound to the tool's
call. Hosted tools (web search, file search, code interpreter, image generation, hosted MCP)
need nothing: `normalize()` reports their stages, results and citations. See `docs/nested.md`.
"""

from __future__ import annotations

from ._nested import agent_tool, emit, progress

__all__ = ["agent_tool", "emit", "progress"]
