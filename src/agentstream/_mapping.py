"""From the SDK's stream events to agentstream drafts: the one place that knows the SDK's shapes.

`RAW_EVENTS` and `ITEM_EVENTS` are the mapping: for every raw Responses event type and every run
item name, what it becomes (or why it is dropped) and the `Mapper` method that handles it. The
same tables document the mapping (`docs/events.md` shows them; a test checks that they cover
every event kind of the installed SDK) and dispatch it. The SDK is imported only when a run is
mapped, so `import agentstream` does not load it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from pydantic_core import to_jsonable_python

from ._builders import Draft
from ._events import (
    ApprovalRequested,
    Citation,
    EventBase,
    Handoff,
    Interruption,
    InterruptionKind,
    MessageOutput,
    ReasoningDelta,
    ReasoningOutput,
    TextDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolCallStarted,
    ToolOutput,
    ToolProgress,
    Usage,
    UsageUpdated,
    clean_json,
    clean_text,
)
from ._options import DEFAULT_MAX_IMAGE_BYTES
from ._textrun import FAKE_ITEM_ID, TextRun, TextRunMaker

if TYPE_CHECKING:
    from collections import deque

    from pydantic import JsonValue

logger = logging.getLogger("agentstream")


class UsageMark(NamedTuple):
    """The run's usage as it stood when an SDK event arrived, put in the stream before it.

    The SDK counts a model call's usage after its `response.completed` and before its next
    event. The reader task sees events as they arrive, whatever the consumer's pace, so it puts
    a mark before the first event that finds the counts changed (and one at the start); the
    mapper keeps the latest, and reports it as `usage_updated` once per model call.
    """

    usage: Usage
    """Cumulative usage of the run at that point."""


def usage_counts(result: Any) -> tuple[object, object]:
    """What the reader compares, per event, to tell that the SDK counted usage.

    Requests and total tokens: every call the SDK counts with usage adds a request. It reads
    only the run's own usage object, never the event: it runs once per event, so it stays
    as cheap as a comparison of two numbers.
    """
    usage = field(field(result, "context_wrapper"), "usage")
    return field(usage, "requests"), field(usage, "total_tokens")


def usage_mark(result: Any) -> UsageMark:
    """The `UsageMark` of the run's usage now."""
    return UsageMark(sdk_usage(field(field(result, "context_wrapper"), "usage")))


_IS_MAPPING: dict[type, bool] = {}
"""Whether a class is a `Mapping`: an ABC check per call is a large part of mapping an event."""


def field(obj: Any, name: str, default: Any = None) -> Any:
    """Read `name` from a pydantic object, a dataclass, or a dict alike."""
    cls = type(obj)
    is_mapping = _IS_MAPPING.get(cls)
    if is_mapping is None:
        if len(_IS_MAPPING) >= 512:  # classes made on the fly must not grow it forever
            _IS_MAPPING.clear()
        is_mapping = _IS_MAPPING[cls] = isinstance(obj, Mapping)
    if is_mapping:
        return obj.get(name, default)
    return getattr(obj, name, default)


def to_json_value(value: Any) -> JsonValue:
    """Convert a Python value to strict JSON data (`clean_json`).

    What JSON cannot hold becomes its string form; `NaN` and the infinities become None (null);
    lone UTF-16 surrogates in strings become U+FFFD.
    """
    if value is None or isinstance(value, (int, bool)):
        return value
    if isinstance(value, (str, float)):
        return clean_json(value)  # type: ignore[no-any-return]
    try:
        # Cleaned first too: a key with a lone surrogate makes `to_jsonable_python` refuse.
        jsonable: JsonValue = to_jsonable_python(clean_json(value), fallback=str)
        return clean_json(jsonable)  # type: ignore[no-any-return]
    except (TypeError, ValueError):
        return clean_text(str(value))
    except RecursionError:  # nested deeper than Python recurses: even its `str` would fail
        return f"<{type(value).__name__} nested too deeply for JSON>"


def _item_id(obj: Any, name: str) -> str | None:
    value = field(obj, name)
    return None if value == FAKE_ITEM_ID else value


def _call_key(event: Any, item: Any) -> object:
    """Identify a tool call within one model call: by output index, which both model paths set.

    Item ids would do on the Responses path only: the Chat Completions path gives every call
    the same fake id.
    """
    index = field(event, "output_index")
    if isinstance(index, int):
        return index
    return field(item, "id") if item is not None else field(event, "item_id")


def _arguments_text(raw: Any) -> str:
    for name in ("arguments", "input"):
        value = field(raw, name)
        if isinstance(value, str):
            return value
    action = field(raw, "action")
    if action is not None:
        return json.dumps(to_json_value(action), ensure_ascii=False)
    return "{}"


def _message_text(raw: Any) -> str:
    parts = []
    for part in field(raw, "content", None) or ():
        kind = field(part, "type")
        if kind == "output_text":
            parts.append(field(part, "text", "") or "")
        elif kind == "refusal":
            parts.append(field(part, "refusal", "") or "")
    return "".join(parts)


def _reasoning_text(raw: Any) -> str:
    summary = [field(p, "text", "") or "" for p in field(raw, "summary", None) or ()]
    if any(summary):
        return "\n\n".join(summary)
    content = [field(p, "text", "") or "" for p in field(raw, "content", None) or ()]
    return "\n\n".join(content)


HOSTED_CALLS: Final = frozenset(
    {
        "web_search_call",
        "file_search_call",
        "code_interpreter_call",
        "image_generation_call",
        "mcp_call",
    }
)
"""Output items of the tools the model's provider runs: the item carries the call and its
result, so one item becomes `tool_called` and `tool_output`, both `provider_executed`."""

_CITATION_FIELDS: Final = (
    "url",
    "title",
    "file_id",
    "filename",
    "container_id",
    "start_index",
    "end_index",
    "index",
)
_POSITIONS: Final = ("start_index", "end_index", "index")


def _citations(raw: Any) -> tuple[Citation, ...]:
    """The annotations of a message's text parts, positions made relative to the whole text."""
    found: list[Citation] = []
    offset = 0
    for part in field(raw, "content", None) or ():
        kind = field(part, "type")
        if kind == "output_text":
            for note in field(part, "annotations", None) or ():
                values = {name: field(note, name) for name in _CITATION_FIELDS}
                for name in _POSITIONS:
                    if isinstance(values[name], int):
                        values[name] += offset
                    else:
                        values[name] = None
                for name in _CITATION_FIELDS[:5]:
                    if not isinstance(values[name], str):
                        values[name] = None
                found.append(Citation(kind=str(field(note, "type") or "annotation"), **values))
            offset += len(field(part, "text", "") or "")
        elif kind == "refusal":
            offset += len(field(part, "refusal", "") or "")
    return tuple(found)


def _hosted_name(raw: Any) -> str:
    """A hosted call's tool name: the MCP tool's own name, else the kind of call."""
    kind = str(field(raw, "type") or "tool")
    name = field(raw, "name") if kind == "mcp_call" else None
    return name if isinstance(name, str) and name else kind


def _data_url(b64: Any, media_type: str, limit: int | None) -> dict[str, Any]:
    """An image as a data URL, or its size when it is over `limit` (`max_image_bytes`)."""
    if not isinstance(b64, str) or not b64:
        return {}
    if limit is not None and len(b64) > limit:
        return {"omitted_bytes": len(b64)}
    return {"image": f"data:{media_type};base64,{b64}", "media_type": media_type}


def _image_type(raw: Any) -> str:
    image_format = field(raw, "output_format")
    return f"image/{image_format}" if isinstance(image_format, str) else "image/png"


def _hosted_arguments(raw: Any) -> str:
    kind = field(raw, "type")
    if kind == "code_interpreter_call":
        value: Any = {"code": field(raw, "code"), "container_id": field(raw, "container_id")}
    elif kind == "file_search_call":
        value = {"queries": field(raw, "queries")}
    elif kind == "mcp_call":
        return str(field(raw, "arguments") or "{}")
    elif field(raw, "action") is not None:
        value = field(raw, "action")
    else:
        return "{}"
    return json.dumps(to_json_value(value), ensure_ascii=False)


def _hosted_output(raw: Any, max_image_bytes: int | None) -> JsonValue:
    """What a hosted call's item reports as its result (see `docs/nested.md`)."""
    kind = field(raw, "type")
    out: dict[str, Any] = {"status": field(raw, "status")}
    if kind == "web_search_call":
        out["action"] = field(raw, "action")  # the query, and the pages found (`sources`)
    elif kind == "file_search_call":
        out["queries"] = field(raw, "queries")
        out["results"] = field(raw, "results")
    elif kind == "code_interpreter_call":
        out["code"] = field(raw, "code")
        out["outputs"] = field(raw, "outputs")
        out["container_id"] = field(raw, "container_id")
    elif kind == "image_generation_call":
        out.update(_data_url(field(raw, "result"), _image_type(raw), max_image_bytes))
        revised = field(raw, "revised_prompt")
        if isinstance(revised, str):
            out["revised_prompt"] = revised
    elif kind == "mcp_call":
        out["server_label"] = field(raw, "server_label")
        out["output"] = field(raw, "output")
        out["error"] = field(raw, "error")
    return to_json_value(out)


def _handoff_tool_names(agent: Any) -> frozenset[str]:
    names = set()
    for handoff in field(agent, "handoffs", None) or ():
        tool_name = field(handoff, "tool_name")
        if isinstance(tool_name, str):
            names.add(tool_name)
            continue
        agent_name = field(handoff, "name")
        if isinstance(agent_name, str):
            # An Agent listed directly gets the SDK's default handoff tool name.
            from agents.handoffs import Handoff as SdkHandoff

            names.add(SdkHandoff.default_tool_name(handoff))
    return frozenset(names)


def sdk_usage(usage: Any) -> Usage:
    """Build a `Usage` from the SDK's `Usage` object (or anything with the same fields)."""
    if usage is None:
        return Usage()
    return Usage(
        requests=int(field(usage, "requests", 0) or 0),
        input_tokens=int(field(usage, "input_tokens", 0) or 0),
        output_tokens=int(field(usage, "output_tokens", 0) or 0),
        total_tokens=int(field(usage, "total_tokens", 0) or 0),
    )


_JOIN_EVERY = 256
"""Pieces of a message's text (deltas, or runs of them) kept before they are joined into one."""


class Mapper:
    """Turns SDK stream events into drafts, remembering what later events need.

    It keeps: the active agent, tool call ids by item id (argument deltas name the item, not the
    call), the names of calls, which calls are handoffs, and the text of the message in progress
    (for `Done.partial_text`).
    """

    def __init__(
        self,
        agent: Any,
        *,
        origin: Mapping[str, Any] | None = None,
        max_image_bytes: int | None = DEFAULT_MAX_IMAGE_BYTES,
    ) -> None:
        self.origin: dict[str, Any] = dict(origin or {})
        """The envelope fields of a nested run's events (`parent_call_id`, `path`); empty for
        the top-level run."""
        self.max_image_bytes = max_image_bytes
        self.nested_usage = Usage()
        """A nested run's usage, from its model calls' `response.completed` (a nested run shares
        the top-level run's usage object, so the reader's marks cannot tell it)."""
        self.agent: str | None = None
        """Name of the active agent."""
        self.partial_text: list[str] = []
        """Text of the message in progress, in pieces (joined, they are the text so far)."""
        self._joined = 0
        self._handoff_names: frozenset[str] = frozenset()
        # Calls of the model call in progress, by output index (item ids are not unique on the
        # Chat Completions path); None marks a handoff call, whose arguments are not a tool's.
        self._calls: dict[object, str | None] = {}
        self._names: dict[str, str] = {}
        self.items: list[Any] = []
        """The run items streamed so far (a turn cut short is not in `result.new_items`)."""
        # Calls already announced with `approval_requested` (hosted MCP requests stream).
        self._asked: set[str] = set()
        self._usage = Usage()
        self._usage_owed = False
        self._runs = TextRunMaker()
        self._set_agent(agent)

    def _set_agent(self, agent: Any) -> None:
        if agent is None:
            return
        self.agent = field(agent, "name")
        try:
            self._handoff_names = _handoff_tool_names(agent)
        except Exception:  # a custom agent object: handoffs then surface as tool calls
            logger.debug("could not read the handoffs of agent %r", self.agent, exc_info=True)
            self._handoff_names = frozenset()

    def map(self, event: Any) -> list[Draft]:
        """Return the drafts for one SDK stream event (none for events that are dropped).

        The reader's `UsageMark`s are taken here too; the usage owed for a model call comes
        out before the next event's drafts.
        """
        if type(event) is UsageMark:
            self._usage = event.usage
            return self.owed_usage()
        owed = self.owed_usage()
        try:
            drafts = self._map(event)
        except Exception:
            self._usage_owed = self._usage_owed or bool(owed)  # still owed, for the next one
            raise
        return owed + drafts if owed else drafts

    def _map(self, event: Any) -> list[Draft]:
        kind = field(event, "type")
        rule: Rule | None
        if kind == "raw_response_event":
            payload = field(event, "data")
            rule = RAW_EVENTS.get(field(payload, "type"))
        elif kind == "run_item_stream_event":
            payload = field(event, "item")
            self.items.append(payload)
            rule = ITEM_EVENTS.get(field(event, "name"))
        elif kind == "agent_updated_stream_event":
            self._set_agent(field(event, "new_agent"))
            return []
        else:
            logger.debug("dropping an SDK stream event of unknown type %r", kind)
            return []
        if rule is None or rule.handler is None:
            return []
        drafts = rule.handler(self, payload)
        if drafts is None:
            return []
        return [drafts] if isinstance(drafts, Draft) else drafts

    def _draft(self, event_class: type[EventBase], /, **fields: Any) -> Draft:
        if self.origin:
            fields.update(self.origin)
        return Draft(event_class, fields, self.agent)

    # Raw Responses events

    def text_run(
        self, events: deque[Any], seq: int, timestamp: int, run_id: str, limit: int
    ) -> TextRun | None:
        """Take the plain text deltas at the head of `events` as one `TextRun` (`TextRunMaker`).

        None when the head is not one, or when the next drafts must come from `map()`: the
        usage owed for a model call, or an agent whose name is not a `str`.
        """
        agent = self.agent
        if self._usage_owed or (agent is not None and type(agent) is not str):
            return None
        run = self._runs.take(events, seq, (timestamp, agent, run_id), limit)
        if run is not None:
            self._record_text(run.text)
        return run

    def _join_text(self) -> None:
        # Keep the text, not one object per delta: a long message must not cost memory per
        # event (for pieces at most a batch long). Each delta is copied at most three times: in
        # its run's text, here, and by the final join.
        parts = self.partial_text
        parts[self._joined :] = ["".join(parts[self._joined :])]
        self._joined += 1

    def _record_text(self, text: str) -> None:
        parts = self.partial_text
        parts.append(text)
        if len(parts) - self._joined >= _JOIN_EVERY:
            self._join_text()

    def _text_delta(self, data: Any) -> Draft:
        delta = clean_text(getattr(data, "delta", None) or "")
        self._record_text(delta)
        item_id = getattr(data, "item_id", None)
        message_id = None if item_id == FAKE_ITEM_ID else item_id
        if self.origin:
            return self._draft(TextDelta, delta=delta, message_id=message_id)
        return Draft(TextDelta, {"delta": delta, "message_id": message_id}, self.agent)

    def _item_added(self, data: Any) -> Draft | None:
        item = field(data, "item")
        kind = field(item, "type")
        if kind in HOSTED_CALLS:
            call_id = field(item, "id")
            if not call_id:
                return None
            name = self._names[call_id] = _hosted_name(item)
            if kind == "mcp_call":  # its arguments stream as deltas
                self._calls[_call_key(data, item)] = call_id
            return self._draft(ToolCallStarted, call_id=call_id, name=name, provider_executed=True)
        if kind not in ("function_call", "custom_tool_call"):
            return None
        call_id = field(item, "call_id") or _item_id(item, "id")
        name = field(item, "name") or ""
        key = _call_key(data, item)
        if name in self._handoff_names or not call_id:
            self._calls[key] = None
            return None
        self._names[call_id] = name
        self._calls[key] = call_id
        return self._draft(ToolCallStarted, call_id=call_id, name=name)

    def _arguments_delta(self, data: Any) -> Draft | None:
        call_id = self._calls.get(_call_key(data, None))
        if call_id is None:
            # Handoff calls, and calls whose start the model path did not announce: their
            # arguments arrive whole in `tool_called` (or the call is the `handoff`).
            return None
        # Deltas are cleaned one by one as they enter, before buffering joins them: half a
        # surrogate pair is U+FFFD whichever way the deltas are grouped.
        delta = clean_text(field(data, "delta") or "")
        return self._draft(ToolArgumentsDelta, call_id=call_id, delta=delta)

    def _reasoning_delta(self, data: Any) -> Draft:
        return self._draft(
            ReasoningDelta,
            delta=clean_text(field(data, "delta") or ""),
            reasoning_id=_item_id(data, "item_id"),
        )

    def _hosted_stage(self, data: Any) -> Draft | None:
        call_id = field(data, "item_id")
        if not isinstance(call_id, str):
            return None
        kind = str(field(data, "type") or "")
        fields: dict[str, Any] = {}
        if kind.endswith(".partial_image"):
            stage = "partial_image"
            image = _data_url(field(data, "partial_image_b64"), "image/png", self.max_image_bytes)
            fields["data"] = {"index": field(data, "partial_image_index"), **image}
        else:
            stage = kind.rsplit(".", 1)[-1]
        return self._draft(
            ToolProgress,
            call_id=call_id,
            name=self._names.get(call_id),
            stage=stage,
            provider_executed=True,
            **fields,
        )

    def _model_call_started(self, data: Any) -> None:
        self._calls.clear()

    def _completed(self, data: Any) -> None:
        # The usage of the call is not counted yet: it is reported from the reader's next mark
        # (see `UsageMark`), or before the next event if the counts did not change.
        self._calls.clear()
        if self.origin:
            # A nested run's calls: counted on the top-level run's usage (reported there), and
            # here as the nested run's own.
            usage = field(field(data, "response"), "usage")
            if usage is not None:
                mine = self.nested_usage
                self.nested_usage = Usage(
                    requests=mine.requests + 1,
                    input_tokens=mine.input_tokens + int(field(usage, "input_tokens", 0) or 0),
                    output_tokens=mine.output_tokens + int(field(usage, "output_tokens", 0) or 0),
                    total_tokens=mine.total_tokens + int(field(usage, "total_tokens", 0) or 0),
                )
            return
        self._usage_owed = True

    def owed_usage(self) -> list[Draft]:
        """The `usage_updated` owed for the last model call, if it was not reported yet."""
        if not self._usage_owed:
            return []
        self._usage_owed = False
        return [Draft(UsageUpdated, {"usage": self._usage}, self.agent)]

    # Run items

    def _message_output(self, item: Any) -> Draft:
        raw = field(item, "raw_item")
        self.partial_text.clear()
        self._joined = 0
        return self._draft(
            MessageOutput,
            text=_message_text(raw),
            message_id=_item_id(raw, "id"),
            citations=_citations(raw),
        )

    def _tool_called(self, item: Any) -> Draft | list[Draft] | None:
        raw = field(item, "raw_item")
        if field(raw, "type") in HOSTED_CALLS:
            call_id = field(raw, "id") or ""
            name = self._names[call_id] = _hosted_name(raw)
            return [
                self._draft(
                    ToolCalled,
                    call_id=call_id,
                    name=name,
                    arguments=_hosted_arguments(raw),
                    provider_executed=True,
                ),
                self._draft(
                    ToolOutput,
                    call_id=call_id,
                    output=_hosted_output(raw, self.max_image_bytes),
                    name=name,
                    provider_executed=True,
                ),
            ]
        call_id = field(raw, "call_id") or field(raw, "id") or ""
        name = field(raw, "name") or field(raw, "type") or "tool"
        if field(raw, "type") == "function_call" and name in self._handoff_names:
            # openai-agents 0.14 also reports a handoff's call as `tool_called`; the `handoff`
            # event stands for it.
            return None
        if (
            field(item, "type") == "tool_search_call_item"
            or field(raw, "type") == "tool_search_call"
        ):
            name = "tool_search"
        self._names[call_id] = name
        return self._draft(ToolCalled, call_id=call_id, name=name, arguments=_arguments_text(raw))

    def _tool_output(self, item: Any) -> Draft:
        raw = field(item, "raw_item")
        call_id = field(raw, "call_id") or field(raw, "id") or ""
        output = field(item, "output", None)
        if output is None:
            output = field(raw, "output")
        name = self._names.get(call_id)
        if name is None and field(raw, "type") == "tool_search_output":
            name = "tool_search"
        return self._draft(ToolOutput, call_id=call_id, output=to_json_value(output), name=name)

    def _handoff(self, item: Any) -> Draft:
        raw = field(item, "raw_item")
        source = field(field(item, "source_agent"), "name") or self.agent or ""
        target = field(field(item, "target_agent"), "name") or ""
        return self._draft(
            Handoff, from_agent=source, to_agent=target, call_id=field(raw, "call_id")
        )

    def _reasoning_output(self, item: Any) -> Draft:
        raw = field(item, "raw_item")
        return self._draft(
            ReasoningOutput, text=_reasoning_text(raw), reasoning_id=_item_id(raw, "id")
        )

    def _mcp_approval(self, item: Any) -> Draft:
        raw = field(item, "raw_item")
        self._asked.add(field(raw, "id") or "")
        return self._draft(
            ApprovalRequested,
            call_id=field(raw, "id") or "",
            name=field(raw, "name") or "",
            arguments=field(raw, "arguments") or "{}",
            kind="mcp",
        )

    def interruptions(self, items: Any) -> list[Interruption]:
        """What a run that paused waits for (`result.interruptions`), in order."""
        waiting = []
        for item in items:
            raw = field(item, "raw_item")
            call_id = str(field(raw, "call_id") or field(raw, "id") or "")
            name = str(field(item, "tool_name") or field(raw, "name") or "")
            if field(raw, "type") == "mcp_approval_request":
                kind: InterruptionKind = "mcp_approval"
            elif is_frontend_tool(field(item, "agent"), name):
                kind = "frontend_tool"
            else:
                kind = "approval"
            self._names[call_id] = name
            waiting.append(
                Interruption(call_id=call_id, name=name, arguments=_arguments_text(raw), kind=kind)
            )
        return waiting

    def approval_drafts(self, waiting: list[Interruption]) -> list[Draft]:
        """`approval_requested` drafts for the calls a run paused on that wait for a human.

        A hosted MCP server's request was announced as it streamed: it is not asked twice.
        """
        return [
            self._draft(
                ApprovalRequested,
                call_id=w.call_id,
                name=w.name,
                arguments=w.arguments,
                kind="mcp" if w.kind == "mcp_approval" else "function",
            )
            for w in waiting
            if w.kind != "frontend_tool" and w.call_id not in self._asked
        ]

    def remember(self, names: Mapping[str, str]) -> None:
        """Take the tool names of calls made before this run resumed, for their `tool_output`."""
        self._names.update(names)


FRONTEND_TOOL: Final = "_agentstream_frontend_tool"
"""The attribute that marks a `FunctionTool` the client executes (`frontend_tool()`)."""


def is_frontend_tool(agent: Any, name: str) -> bool:
    """Whether `agent`'s tool called `name` is one the client executes."""
    for tool in field(agent, "tools", None) or ():
        if field(tool, "name", None) == name:
            return bool(getattr(tool, FRONTEND_TOOL, False))
    return False


# The mapping: what each SDK event becomes, and who handles it.


class Rule(NamedTuple):
    """What one kind of SDK event becomes, and the `Mapper` method that handles it."""

    becomes: str | None
    """The agentstream event it produces, in words (with conditions); None when it produces none."""
    why: str = ""
    """Why it produces nothing (for a dropped kind)."""
    handler: Callable[[Mapper, Any], Draft | list[Draft] | None] | None = None
    """The method that maps it (given the raw event, or the run item); None for no work."""


def _dropped(why: str, handler: Callable[[Mapper, Any], Draft | None] | None = None) -> Rule:
    return Rule(None, why, handler)


_LIFECYCLE = "a lifecycle marker: the deltas and run items already say it"
_DONE = "repeats the deltas before it; the run item that follows carries the whole"
_HOSTED = "hosted-tool progress: the run items `tool_called`/`tool_output` report the call"
_STAGE = "tool_progress (provider_executed): the hosted call's stage, the event type's last word"
_CODE = "the code comes whole in `tool_called`'s arguments and in `tool_output`"
_END = "ends the model call: the SDK raises, and the stream ends with `done`"
_MEDIA = "audio and images are not part of the text stream; the final output carries them"

RAW_EVENTS: Final[dict[str, Rule]] = {
    "response.output_text.delta": Rule("text_delta", handler=Mapper._text_delta),
    "response.refusal.delta": Rule(
        "text_delta (a refusal is the text the user sees)", handler=Mapper._text_delta
    ),
    "response.output_item.added": Rule(
        "tool_call_started, for function and custom tool calls (not for handoff calls, which "
        "surface as `handoff`) and hosted tool calls (`provider_executed`)",
        handler=Mapper._item_added,
    ),
    "response.function_call_arguments.delta": Rule(
        "tool_arguments_delta", handler=Mapper._arguments_delta
    ),
    "response.custom_tool_call_input.delta": Rule(
        "tool_arguments_delta", handler=Mapper._arguments_delta
    ),
    "response.reasoning_summary_text.delta": Rule(
        "reasoning_delta", handler=Mapper._reasoning_delta
    ),
    "response.reasoning_text.delta": Rule("reasoning_delta", handler=Mapper._reasoning_delta),
    "response.completed": Rule(
        "usage_updated (emitted once the SDK has counted the call)", handler=Mapper._completed
    ),
    "response.created": _dropped(_LIFECYCLE, Mapper._model_call_started),
    "response.in_progress": _dropped(_LIFECYCLE),
    "response.queued": _dropped(_LIFECYCLE),
    "response.output_item.done": _dropped(_DONE),
    "response.content_part.added": _dropped(_LIFECYCLE),
    "response.content_part.done": _dropped(_DONE),
    "response.output_text.done": _dropped(_DONE),
    "response.output_text.annotation.added": _dropped(
        "annotations arrive as `message_output`'s `citations`"
    ),
    "response.refusal.done": _dropped(_DONE),
    "response.function_call_arguments.done": _dropped(_DONE),
    "response.custom_tool_call_input.done": _dropped(_DONE),
    "response.reasoning_summary_part.added": _dropped(_LIFECYCLE),
    "response.reasoning_summary_part.done": _dropped(_DONE),
    "response.reasoning_summary_text.done": _dropped(_DONE),
    "response.reasoning_text.done": _dropped(_DONE),
    "response.failed": _dropped(_END),
    "response.incomplete": _dropped(_END),
    "error": _dropped(_END),
    "response.audio.delta": _dropped(_MEDIA),
    "response.audio.done": _dropped(_MEDIA),
    "response.audio.transcript.delta": _dropped(_MEDIA),
    "response.audio.transcript.done": _dropped(_MEDIA),
    "response.image_generation_call.partial_image": Rule(
        "tool_progress (stage `partial_image`, the image under `max_image_bytes`)",
        handler=Mapper._hosted_stage,
    ),
    "response.image_generation_call.completed": Rule(_STAGE, handler=Mapper._hosted_stage),
    "response.image_generation_call.generating": Rule(_STAGE, handler=Mapper._hosted_stage),
    "response.image_generation_call.in_progress": Rule(_STAGE, handler=Mapper._hosted_stage),
    "response.code_interpreter_call.completed": Rule(_STAGE, handler=Mapper._hosted_stage),
    "response.code_interpreter_call.in_progress": Rule(_STAGE, handler=Mapper._hosted_stage),
    "response.code_interpreter_call.interpreting": Rule(_STAGE, handler=Mapper._hosted_stage),
    "response.code_interpreter_call_code.delta": _dropped(_CODE),
    "response.code_interpreter_call_code.done": _dropped(_CODE),
    "response.file_search_call.completed": Rule(_STAGE, handler=Mapper._hosted_stage),
    "response.file_search_call.in_progress": Rule(_STAGE, handler=Mapper._hosted_stage),
    "response.file_search_call.searching": Rule(_STAGE, handler=Mapper._hosted_stage),
    "response.web_search_call.completed": Rule(_STAGE, handler=Mapper._hosted_stage),
    "response.web_search_call.in_progress": Rule(_STAGE, handler=Mapper._hosted_stage),
    "response.web_search_call.searching": Rule(_STAGE, handler=Mapper._hosted_stage),
    "response.mcp_call.completed": Rule(_STAGE, handler=Mapper._hosted_stage),
    "response.mcp_call.failed": Rule(_STAGE, handler=Mapper._hosted_stage),
    "response.mcp_call.in_progress": Rule(_STAGE, handler=Mapper._hosted_stage),
    "response.mcp_call_arguments.delta": Rule(
        "tool_arguments_delta (a hosted MCP call's arguments)", handler=Mapper._arguments_delta
    ),
    "response.mcp_call_arguments.done": _dropped(_HOSTED),
    "response.mcp_list_tools.completed": _dropped(_HOSTED),
    "response.mcp_list_tools.failed": _dropped(_HOSTED),
    "response.mcp_list_tools.in_progress": _dropped(_HOSTED),
    "response.shell_call_command.added": _dropped(_HOSTED),
    "response.shell_call_command.delta": _dropped(_HOSTED),
    "response.shell_call_command.done": _dropped(_HOSTED),
    "response.shell_call_output_content.delta": _dropped(_HOSTED),
    "response.shell_call_output_content.done": _dropped(_HOSTED),
    "response.compaction.compacting": _dropped(_LIFECYCLE),
}
"""Every raw Responses event type the SDK streams: what it becomes, or why it is dropped.

A type missing here is dropped too, with a debug log; a test fails when the installed SDK has one.
"""

ITEM_EVENTS: Final[dict[str, Rule]] = {
    "message_output_created": Rule(
        "message_output (with its `citations`)", handler=Mapper._message_output
    ),
    "tool_called": Rule(
        "tool_called; for a hosted tool, `tool_called` and its `tool_output` (`provider_executed`)",
        handler=Mapper._tool_called,
    ),
    "tool_output": Rule("tool_output", handler=Mapper._tool_output),
    "tool_search_called": Rule("tool_called (name `tool_search`)", handler=Mapper._tool_called),
    "tool_search_output_created": Rule(
        "tool_output (name `tool_search`)", handler=Mapper._tool_output
    ),
    "handoff_requested": _dropped("the handoff is reported once, as `handoff`, when it happened"),
    "handoff_occured": Rule("handoff", handler=Mapper._handoff),
    "reasoning_item_created": Rule("reasoning_output", handler=Mapper._reasoning_output),
    "mcp_approval_requested": Rule("approval_requested (kind `mcp`)", handler=Mapper._mcp_approval),
    "mcp_approval_response": _dropped("it echoes the approval the caller gave"),
    "mcp_list_tools": _dropped("tool discovery is internal to the agent"),
}
"""Every `RunItemStreamEvent` name: what it becomes, or why it is dropped."""
