"""Conversations held by the server: one Agents SDK `Session` per conversation id.

The bridges' endpoints take `sessions`, a function from a conversation id (the AI SDK's chat
`id`, AG-UI's `threadId`) to a `Session` (`sqlite_sessions(path)` embedded, or any other
implementation of the SDK's protocol, such as `agents.extensions.memory.RedisSession`). With it,
the client sends only its new turn; the SDK loads the history before the model call and saves
the run's items after it; the agent that ended the last turn starts the next one
(`last_agent`). `ui_messages` and `agui_messages` turn the stored items back into what each
protocol's client shows after a reload.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from ._errors import ConfigurationError
from ._mapping import field

if TYPE_CHECKING:
    from pathlib import Path

    from agents import Agent
    from agents.memory import Session
    from agents.result import RunResultStreaming

    from ._eventlog import EventLog
    from ._events import Done
    from ._options import Hook

__all__ = [
    "Sessions",
    "agui_messages",
    "keep_chain",
    "keep_partial",
    "last_agent",
    "named_agent",
    "sqlite_sessions",
    "ui_messages",
]

Sessions: TypeAlias = "Callable[[str], Session]"
"""A conversation id to the `Session` that holds its history."""


def sqlite_sessions(path: str | Path) -> Callable[[str], Session]:
    """Sessions in one SQLite file (the SDK's `SQLiteSession`).

    For one process, or a few on a shared disk; `":memory:"` is refused, since each session
    would get a database of its own.

    Raises:
        ConfigurationError: `path` is `":memory:"` or empty.

    """
    from agents import SQLiteSession

    text = str(path)
    if not text or text == ":memory:":
        raise ConfigurationError("sqlite_sessions needs a file path: ':memory:' keeps nothing")

    def session(conversation_id: str) -> Session:
        return SQLiteSession(conversation_id, text)

    return session


def _agents(agent: Agent[Any]) -> dict[str, Agent[Any]]:
    """Every agent reachable from `agent` by handoffs, by name."""
    from agents import Agent

    found: dict[str, Agent[Any]] = {}
    todo = [agent]
    while todo:
        current = todo.pop()
        if current.name in found:
            continue
        found[current.name] = current
        todo.extend(h for h in current.handoffs if isinstance(h, Agent))
    return found


def named_agent(agent: Agent[Any], name: str | None) -> Agent[Any]:
    """The agent called `name` among those reachable from `agent` by handoffs; else `agent`."""
    return agent if name is None else _agents(agent).get(name, agent)


def keep_chain(
    log: EventLog, thread: str, result: RunResultStreaming, ttl: float, then: Hook | None
) -> Hook:
    """An `on_complete` hook that keeps the run's last response id and last agent.

    For `thread`, when the Responses API holds its history; then it calls `then`.
    """

    async def on_complete(done: Done, new_items: list[Any]) -> None:
        response_id = result.last_response_id
        if response_id:
            await log.save_chain(thread, response_id, done.last_agent or "", ttl)
        if then is not None:
            outcome = then(done, new_items)
            if inspect.isawaitable(outcome):
                await outcome

    return on_complete


def last_agent(agent: Agent[Any], items: Iterable[Any]) -> Agent[Any]:
    """The agent that ended the conversation's last turn: the target of its last handoff.

    The SDK records a handoff as a `transfer_to_...` call whose output names the agent it
    handed to (`{"assistant": name}`); `agent` when there was none, or the target is not
    reachable from it any more.
    """
    handoffs: set[str] = set()
    target: str | None = None
    for item in items:
        kind = field(item, "type")
        if kind == "function_call" and str(field(item, "name", "")).startswith("transfer_to_"):
            handoffs.add(str(field(item, "call_id")))
        elif kind == "function_call_output" and str(field(item, "call_id")) in handoffs:
            try:
                named = json.loads(str(field(item, "output")))
            except ValueError:
                continue
            if isinstance(named, Mapping) and isinstance(named.get("assistant"), str):
                target = named["assistant"]
    if target is None:
        return agent
    return _agents(agent).get(target, agent)


def keep_partial(session: Session, then: Hook | None) -> Hook:
    """An `on_cancel` hook that saves what was streamed of a message cut short, then `then`.

    A client that goes away mid-answer finds the partial answer in the history.
    """

    async def on_cancel(done: Done, new_items: list[Any]) -> None:
        # The SDK saves a turn's items when the turn ends: the messages of the turn cut short
        # are not saved yet. Calls without their outputs are left out (a model refuses them).
        saved = {field(item, "id") for item in await session.get_items()}
        keep: list[Any] = [
            item.to_input_item()
            for item in new_items
            if field(item, "type") == "message_output_item"
            and field(field(item, "raw_item"), "id") not in saved
        ]
        if done.partial_text:
            keep.append({"role": "assistant", "content": done.partial_text})
        if keep:
            await session.add_items(keep)
        if then is not None:
            outcome = then(done, new_items)
            if inspect.isawaitable(outcome):
                await outcome

    return on_cancel


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return "".join(
        str(field(p, "text", ""))
        for p in parts
        if field(p, "type") in ("input_text", "output_text", "text")
    )


def _outputs(items: list[Any]) -> dict[str, str]:
    return {
        str(field(i, "call_id")): _text(field(i, "output"))
        for i in items
        if field(i, "type") == "function_call_output"
    }


def _output_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def ui_messages(
    items: Iterable[Any], approvals: Mapping[str, Mapping[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """A conversation's stored items as AI SDK `UIMessage`s, for a page that reloads.

    User messages become `user` messages with their text; everything the agents did between
    two user messages becomes one `assistant` message: text parts, a `tool-<name>` part per call
    (`output-available` with its input and output), and a `data-handoff` part per handoff. A
    call without an output is `input-available`, or `approval-requested` with its entry of
    `approvals` (call id to the part's `approval`, `{id, signature}`) when a paused run waits
    for a human's answer to it: the reloaded page can still answer it.
    """
    items = list(items)
    outputs = _outputs(items)
    messages: list[dict[str, Any]] = []
    assistant: dict[str, Any] | None = None
    for index, item in enumerate(items):
        role, kind = field(item, "role"), field(item, "type")
        if role == "user":
            assistant = None
            parts = [{"type": "text", "text": _text(field(item, "content"))}]
            messages.append({"id": f"user-{index}", "role": "user", "parts": parts})
            continue
        if (role == "assistant" or kind == "function_call") and assistant is None:
            assistant = {"id": f"assistant-{index}", "role": "assistant", "parts": []}
            messages.append(assistant)
            assistant["parts"].append({"type": "step-start"})
        if role == "assistant":
            assistant["parts"].append(  # type: ignore[index]
                {"type": "text", "text": _text(field(item, "content")), "state": "done"}
            )
        elif kind == "function_call":
            name, call_id = str(field(item, "name")), str(field(item, "call_id"))
            if name.startswith("transfer_to_"):
                target = _output_value(outputs.get(call_id, "{}"))
                to = target.get("assistant") if isinstance(target, Mapping) else None
                assistant["parts"].append(  # type: ignore[index]
                    {"type": "data-handoff", "data": {"toAgent": to, "callId": call_id}}
                )
                continue
            arguments = _output_value(str(field(item, "arguments") or "{}"))
            part: dict[str, Any] = {
                "type": f"tool-{name}",
                "toolCallId": call_id,
                "input": arguments,
            }
            if call_id in outputs:
                part.update(state="output-available", output=_output_value(outputs[call_id]))
            elif approvals and call_id in approvals:
                part.update(state="approval-requested", approval=dict(approvals[call_id]))
            else:
                part.update(state="input-available")
            assistant["parts"].append(part)  # type: ignore[index]
    return messages


def agui_messages(items: Iterable[Any]) -> list[dict[str, Any]]:
    """A conversation's stored items as AG-UI messages (the `messages` of a `MESSAGES_SNAPSHOT`).

    User and assistant messages keep their text; calls become `toolCalls` of an assistant
    message, and their outputs `tool` messages.
    """
    items = list(items)
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        role, kind = field(item, "role"), field(item, "type")
        if role in ("user", "assistant"):
            text = _text(field(item, "content"))
            messages.append({"id": f"{role}-{index}", "role": role, "content": text})
        elif kind == "function_call":
            call = {
                "id": str(field(item, "call_id")),
                "type": "function",
                "function": {
                    "name": str(field(item, "name")),
                    "arguments": str(field(item, "arguments") or "{}"),
                },
            }
            messages.append({"id": f"calls-{index}", "role": "assistant", "toolCalls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {
                    "id": f"tool-{index}",
                    "role": "tool",
                    "toolCallId": str(field(item, "call_id")),
                    "content": _text(field(item, "output")),
                }
            )
    return messages
