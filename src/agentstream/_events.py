"""The event union: the wire contract every adapter, bridge and client relies on.

Rules: each event is a frozen pydantic model with a `type` literal and the run-wide envelope
(`seq`, `run_id`, `agent`, `timestamp`). Changes are additive only; a rename is a new major
`SCHEMA_VERSION`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from ._errors import DecodeError

__all__ = [
    "SCHEMA_VERSION",
    "UNKNOWN_STATUS",
    "ApprovalRequested",
    "Citation",
    "Custom",
    "Done",
    "DoneStatus",
    "ErrorInfo",
    "Event",
    "EventBase",
    "Handoff",
    "Interruption",
    "InterruptionKind",
    "MessageOutput",
    "NestedRunFinished",
    "NestedRunStarted",
    "ReasoningDelta",
    "ReasoningOutput",
    "TextDelta",
    "ToolArgumentsDelta",
    "ToolCallStarted",
    "ToolCalled",
    "ToolOutput",
    "ToolProgress",
    "Usage",
    "UsageUpdated",
    "event_json_schema",
    "parse_event",
]

SCHEMA_VERSION = "1.2"
"""Version of the event schema: the major part changes only when a wire name changes."""


REPLACEMENT_CHARACTER: Final = "\ufffd"
"""What a lone UTF-16 surrogate becomes in any text an event carries (U+FFFD)."""


_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(text: str) -> str:
    """`text` with every UTF-16 surrogate code point replaced by U+FFFD, so it has a UTF-8 form.

    Each surrogate becomes one U+FFFD, even a high one next to a low one: text that arrives in
    pieces (deltas) is cleaned piece by piece, and the whole must read the same as its pieces.
    Free for ASCII text (`isascii()` reads a flag); other text costs one UTF-8 check.
    """
    if text.isascii() or _encodable(text):
        return text
    return _SURROGATE.sub(REPLACEMENT_CHARACTER, text)


def clean_json(value: Any) -> Any:
    """JSON data with the library's two rules applied: strict JSON, text with a UTF-8 form.

    Non-finite floats (`NaN`, `Infinity`, `-Infinity`) become None (JSON `null`); strings, and
    the keys of objects, go through `clean_text`. Returns `value` itself when nothing changed.
    """
    kind = type(value)
    if kind is str:
        return clean_text(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict:
        out = {}
        changed = False
        for key, item in value.items():
            new_key = clean_text(key) if type(key) is str else key
            new_item = clean_json(item)
            changed = changed or new_key is not key or new_item is not item
            out[new_key] = new_item
        return out if changed else value
    if kind is list or kind is tuple:
        items = [clean_json(v) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items if kind is list else tuple(items)
    return value


def _cleaned(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with `clean_json` applied to each value; `data` itself when nothing changed."""
    out = {name: clean_json(value) for name, value in data.items()}
    return data if all(out[name] is value for name, value in data.items()) else out


class _Model(BaseModel):
    """Wire rules shared by every model: frozen, no unknown fields, text and numbers cleaned.

    Every string field, and every string and number inside a JSON field, is cleaned as it is
    validated (`clean_json`): lone surrogates become U+FFFD, non-finite numbers null. An event
    that validated can always be written as strict JSON in UTF-8.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, data: Any) -> Any:
        if type(data) is dict:
            for value in data.values():
                # ASCII text, ints and None (nearly every field of nearly every event) need no
                # cleaning: a type check and a flag read each.
                kind = type(value)
                if kind is str:
                    if value.isascii() or _encodable(value):
                        continue
                elif kind is int or value is None:
                    continue
                return _cleaned(data)
        return data


def _is_none(value: object) -> bool:
    return value is None


def _is_false(value: object) -> bool:
    return value is False


def _is_empty(value: tuple[object, ...]) -> bool:
    return not value


class EventBase(_Model):
    """Fields every event carries: its `type` tag and the run-wide envelope.

    Events of a nested run (an agent called as a tool, schema 1.2) also carry `parent_call_id`
    and `path`; both are left out of the JSON of a top-level event, which reads as it did in 1.1.
    """

    type: str
    """The event's tag; each event class fixes it to one literal."""
    seq: int = Field(ge=0, strict=True)
    """Position in the stream: 0 for the first event, one more for each next one."""
    run_id: str
    """Identifies the stream; the same for every event of one run."""
    agent: str | None = None
    """Name of the agent that was active when the event happened."""
    timestamp: int = Field(ge=0, strict=True)
    """When the event was emitted, in milliseconds since the Unix epoch."""
    parent_call_id: str | None = Field(default=None, exclude_if=_is_none)
    """The agent-tool call whose nested run produced the event (schema 1.2); null (and absent
    from the JSON) for an event of the top-level run."""
    path: tuple[str, ...] = Field(default=(), exclude_if=_is_empty)
    """The agent-tool calls the event is nested in, outermost first (schema 1.2): its last is
    `parent_call_id`. Empty (and absent from the JSON) for an event of the top-level run."""


class Usage(_Model):
    """Token and request counts of a run, cumulative."""

    requests: int = Field(default=0, strict=True)
    """Model calls made."""
    input_tokens: int = Field(default=0, strict=True)
    """Tokens sent to the model."""
    output_tokens: int = Field(default=0, strict=True)
    """Tokens the model produced."""
    total_tokens: int = Field(default=0, strict=True)
    """Input plus output tokens."""


class ErrorInfo(_Model):
    """Why a run did not complete."""

    type: str
    """What happened: the exception's class name, e.g. `MaxTurnsExceeded` or `IdleTimeoutError`."""
    message: str
    """A message safe to show a client; internal exception text only when the caller opted in."""


class TextDelta(EventBase):
    """A fragment of assistant text, in order; joined, the fragments of a message are its text."""

    type: Literal["text_delta"] = "text_delta"
    """The event's tag."""
    delta: str
    """The new text."""
    message_id: str | None = None
    """Identifies the message the text belongs to, when the model says."""


class Citation(_Model):
    """A source the model cited in a message (schema 1.2): an annotation of the Responses API.

    `kind` names the annotation: `url_citation` (web search; `url`, `title`), `file_citation`
    (file search; `file_id`, `filename`), `container_file_citation` (a file the code interpreter
    wrote; `container_id` too) or `file_path`. Positions are in the message's `text`.
    """

    kind: str
    """The annotation's type, e.g. `url_citation`."""
    url: str | None = None
    """The cited web page."""
    title: str | None = None
    """The page's title."""
    file_id: str | None = None
    """The cited file."""
    filename: str | None = None
    """The file's name."""
    container_id: str | None = None
    """The container that holds the file (`container_file_citation`)."""
    start_index: int | None = None
    """Where the cited span starts in the message's text (characters), when the model says."""
    end_index: int | None = None
    """Where the cited span ends in the message's text (characters, exclusive)."""
    index: int | None = None
    """Where the citation mark sits in the text (file citations)."""


class MessageOutput(EventBase):
    """An assistant message is complete."""

    type: Literal["message_output"] = "message_output"
    """The event's tag."""
    text: str
    """The whole text of the message."""
    message_id: str | None = None
    """Identifies the message; matches the `message_id` of its `text_delta` events."""
    citations: tuple[Citation, ...] = Field(default=(), exclude_if=_is_empty)
    """The sources the message cites, in order (schema 1.2); absent from the JSON when none."""


class ReasoningDelta(EventBase):
    """A fragment of the model's reasoning (its summary or its reasoning text)."""

    type: Literal["reasoning_delta"] = "reasoning_delta"
    """The event's tag."""
    delta: str
    """The new reasoning text."""
    reasoning_id: str | None = None
    """Identifies the reasoning item the text belongs to."""


class ReasoningOutput(EventBase):
    """A reasoning item is complete."""

    type: Literal["reasoning_output"] = "reasoning_output"
    """The event's tag."""
    text: str
    """The reasoning text (summary parts joined by blank lines); empty when the model hid it."""
    reasoning_id: str | None = None
    """Identifies the reasoning item; matches its `reasoning_delta` events."""


class ToolCallStarted(EventBase):
    """The model has begun a tool call; its arguments follow as `tool_arguments_delta` events."""

    type: Literal["tool_call_started"] = "tool_call_started"
    """The event's tag."""
    call_id: str
    """Identifies the call; the same in every event about it."""
    name: str
    """The tool's name."""
    provider_executed: bool = Field(default=False, exclude_if=_is_false)
    """True for a hosted tool the model's provider runs (web search, code interpreter, ...);
    absent from the JSON when false (schema 1.2)."""


class ToolArgumentsDelta(EventBase):
    """A fragment of a tool call's JSON arguments as the model writes them."""

    type: Literal["tool_arguments_delta"] = "tool_arguments_delta"
    """The event's tag."""
    call_id: str
    """The call the arguments belong to."""
    delta: str
    """The new text of the arguments; joined, the fragments are the `arguments` of `tool_called`."""


class ToolCalled(EventBase):
    """The model's tool call is complete and the tool is about to run."""

    type: Literal["tool_called"] = "tool_called"
    """The event's tag."""
    call_id: str
    """Identifies the call."""
    name: str
    """The tool's name (for hosted tools, the kind of call, e.g. `web_search_call`)."""
    arguments: str
    """The arguments as the raw JSON string the model wrote."""
    provider_executed: bool = Field(default=False, exclude_if=_is_false)
    """True for a hosted tool the model's provider runs; absent from the JSON when false."""


class ToolOutput(EventBase):
    """A tool returned."""

    type: Literal["tool_output"] = "tool_output"
    """The event's tag."""
    call_id: str
    """The call this is the output of."""
    output: JsonValue = None
    """The tool's result as JSON (objects that are not JSON become their string form). For a
    hosted tool, what the provider reports: search results and sources, the code and its
    outputs, the generated image (see `docs/nested.md`)."""
    name: str | None = None
    """The tool's name, when the call was seen in this stream."""
    provider_executed: bool = Field(default=False, exclude_if=_is_false)
    """True for a hosted tool the model's provider ran; absent from the JSON when false."""


class ToolProgress(EventBase):
    """A tool in progress says how far it got (schema 1.2).

    From a hosted tool, the provider's stages (`in_progress`, `searching`, `interpreting`,
    `generating`, `partial_image`, `completed`, `failed`); from a function tool,
    `agentstream.nested.progress()` (stage `progress`).
    """

    type: Literal["tool_progress"] = "tool_progress"
    """The event's tag."""
    call_id: str
    """The call in progress."""
    name: str | None = None
    """The tool's name, when known."""
    stage: str
    """What the tool is doing now."""
    message: str | None = None
    """A line for people, e.g. `fetched 3 of 10 pages`."""
    completed: float | None = None
    """Work done so far, in the tool's own units (with `total`, a fraction)."""
    total: float | None = None
    """All the work, in the same units; null when not known."""
    data: JsonValue = None
    """Anything else the stage carries, e.g. a partial image (`{"index", "image"}`)."""
    provider_executed: bool = Field(default=False, exclude_if=_is_false)
    """True for a hosted tool's stage; absent from the JSON when false."""


class Custom(EventBase):
    """An application's own event, sent from inside a tool with `agentstream.nested.emit()`.

    Numbered, buffered, logged and replayed like any other (schema 1.2).
    """

    type: Literal["custom"] = "custom"
    """The event's tag."""
    name: str
    """The application's name for the kind of event, e.g. `chart`."""
    data: JsonValue = None
    """The payload."""
    id: str | None = None
    """Identifies what the event is about: a later `custom` with the same name and id replaces
    it (the AI SDK's `data-*` part ids)."""
    call_id: str | None = None
    """The tool call that sent it, when it came from a tool."""
    transient: bool = False
    """True for an event a client shows and drops: conversations do not keep it, and the AI SDK
    bridge sends it `transient`. The event log keeps it for replays all the same."""


class Handoff(EventBase):
    """Control passed from one agent to another (one event per handoff)."""

    type: Literal["handoff"] = "handoff"
    """The event's tag."""
    from_agent: str
    """The agent that handed off."""
    to_agent: str
    """The agent that now runs; the next events carry it as `agent`."""
    call_id: str | None = None
    """The model's call that asked for the handoff."""


class NestedRunStarted(EventBase):
    """An agent called as a tool started its own run (schema 1.2).

    Its events follow, each with `parent_call_id` set to `call_id`; this event belongs to the
    run that made the call (its envelope is that run's).
    """

    type: Literal["nested_run_started"] = "nested_run_started"
    """The event's tag."""
    call_id: str
    """The agent-tool call: the nested run's events carry it as `parent_call_id`."""
    name: str
    """The tool's name."""
    nested_agent: str
    """The agent that runs."""


class NestedRunFinished(EventBase):
    """An agent called as a tool finished its run: the nested run's own `done` (schema 1.2).

    The run that made the call goes on, as the SDK does: a nested run that failed is reported
    here, and the calling agent gets the tool's error message as the call's output.
    """

    type: Literal["nested_run_finished"] = "nested_run_finished"
    """The event's tag."""
    call_id: str
    """The agent-tool call."""
    status: DoneStatus
    """How the nested run ended: `completed`, `error` or `cancelled`."""
    final_output: JsonValue = None
    """What the nested run returned to the calling agent; null unless it completed."""
    last_agent: str | None = None
    """The agent that was running last in the nested run."""
    usage: Usage = Usage()
    """Usage of the nested run's own model calls (also counted in the parent's usage)."""
    error: ErrorInfo | None = None
    """Why the nested run failed; null otherwise."""


class ApprovalRequested(EventBase):
    """A tool call waits for a human's approval; the run pauses until it is given."""

    type: Literal["approval_requested"] = "approval_requested"
    """The event's tag."""
    call_id: str
    """The call that waits."""
    name: str
    """The tool's name."""
    arguments: str
    """The call's arguments as the raw JSON string."""
    kind: Literal["function", "mcp"] = "function"
    """`function` for a tool with `needs_approval`, `mcp` for a hosted MCP approval request."""


class UsageUpdated(EventBase):
    """A model call finished; the run's usage so far."""

    type: Literal["usage_updated"] = "usage_updated"
    """The event's tag."""
    usage: Usage
    """Cumulative usage of the run up to this model call."""


DoneStatus: TypeAlias = Literal["completed", "error", "cancelled", "timeout", "interrupted"]
"""How a run ended; `interrupted` (schema 1.1) is a run paused until its `interruptions` are
answered."""

InterruptionKind: TypeAlias = Literal["approval", "mcp_approval", "frontend_tool"]
"""What a paused run waits for: a human's approval of a tool call (a function tool with
`needs_approval`, or a hosted MCP server's approval request), or the output of a tool the
client executes (`agentstream.interactive.frontend_tool`)."""


class Interruption(_Model):
    """One thing a paused run waits for (schema 1.1)."""

    call_id: str
    """The tool call that waits; answers name it."""
    name: str
    """The tool's name."""
    arguments: str
    """The call's arguments as the raw JSON string."""
    kind: InterruptionKind = "approval"
    """`approval`, `mcp_approval`, or `frontend_tool` (the client runs the tool and sends its
    output)."""


class Done(EventBase):
    """The last event of every stream, exactly once, whatever happened."""

    type: Literal["done"] = "done"
    """The event's tag."""
    status: DoneStatus
    """`completed`, `error`, `cancelled` (the stream was closed), `timeout` (idle timeout), or
    `interrupted` (the run paused: `interruptions` say for what)."""
    final_output: JsonValue = None
    """The run's final output as JSON; null unless the run completed."""
    last_agent: str | None = None
    """The agent that was running last."""
    usage: Usage = Usage()
    """Usage of the whole run, as far as it is known."""
    error: ErrorInfo | None = None
    """Why the run failed or timed out; null when it completed or was cancelled."""
    partial_text: str | None = None
    """Text of the message in progress when the run ended early; null when none was."""
    pending_approvals: tuple[str, ...] = ()
    """Call ids still waiting for approval (see `approval_requested`); empty when none are."""
    interruptions: tuple[Interruption, ...] = ()
    """What an `interrupted` run waits for, in the order the run asked (schema 1.1); empty
    otherwise."""


Event: TypeAlias = Annotated[
    TextDelta
    | MessageOutput
    | ReasoningDelta
    | ReasoningOutput
    | ToolCallStarted
    | ToolArgumentsDelta
    | ToolCalled
    | ToolOutput
    | Handoff
    | ApprovalRequested
    | UsageUpdated
    | ToolProgress
    | Custom
    | NestedRunStarted
    | NestedRunFinished
    | Done,
    Field(discriminator="type"),
]
"""Any agentstream event; `type` tells which."""

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

_CLASSES: dict[str, type[EventBase]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        TextDelta,
        MessageOutput,
        ReasoningDelta,
        ReasoningOutput,
        ToolCallStarted,
        ToolArgumentsDelta,
        ToolCalled,
        ToolOutput,
        Handoff,
        ApprovalRequested,
        UsageUpdated,
        ToolProgress,
        Custom,
        NestedRunStarted,
        NestedRunFinished,
        Done,
    )
}

EVENT_TYPES: frozenset[str] = frozenset(_CLASSES)
"""Every `type` tag this version knows."""

_NESTED: dict[tuple[type[BaseModel], str], type[BaseModel]] = {
    (UsageUpdated, "usage"): Usage,
    (Done, "usage"): Usage,
    (Done, "error"): ErrorInfo,
    (Done, "interruptions"): Interruption,
    (MessageOutput, "citations"): Citation,
    (NestedRunFinished, "usage"): Usage,
    (NestedRunFinished, "error"): ErrorInfo,
}

_STATUSES: frozenset[str] = frozenset(DoneStatus.__args__)  # type: ignore[attr-defined]

UNKNOWN_STATUS: Final = "UnknownStatus"
"""`Done.error.type` that a lenient decoder gives a `done` whose status is newer than it knows."""


def _known_status(obj: dict[str, Any]) -> dict[str, Any]:
    """A `done` whose `status` this version does not know, read as an error that names it.

    A newer server may add statuses (schema 1.1 added `interrupted`); a client that does not
    know one still gets its stream's last event, as a run that did not complete.
    """
    status = obj.get("status")
    if not isinstance(status, str) or status in _STATUSES:
        return obj
    message = f"the run ended with status {_snippet(status)}, which this version does not know"
    return {
        **obj,
        "status": "error",
        "error": {"type": UNKNOWN_STATUS, "message": message},
        "final_output": None,
    }


def _describe(error: ValidationError, tag: str) -> str:
    parts = []
    for item in error.errors(include_input=False, include_url=False)[:5]:
        path = item["loc"][1:] if item["loc"][:1] == (tag,) else item["loc"]
        loc = ".".join(str(p) for p in path)
        parts.append(f"{loc}: {item['msg']}" if loc else item["msg"])
    return "; ".join(parts)


def _snippet(data: object) -> str:
    text = repr(data)
    return text if len(text) <= 60 else text[:57] + "..."


def reject_json_constant(name: str) -> object:
    """Refuse `NaN` and `Infinity`: not JSON, and they would be sent on as null, silently."""
    raise ValueError(f"{name} is not a JSON value")


def finite_float(text: str) -> float:
    """Parse a JSON number as a float; refuse one too large for a float (`1e999`)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def load_json(data: str | bytes | bytearray) -> Any:
    """Strict `json.loads`: `NaN`, `Infinity` and numbers past the float range are refused.

    Raises:
        ValueError: the input is not strict JSON (`UnicodeDecodeError` and `RecursionError`
            too, from the layers below).

    """
    return json.loads(data, parse_constant=reject_json_constant, parse_float=finite_float)


def _known_fields(obj: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """Drop the fields `model` does not know, at its level and in its nested models."""
    out = {}
    for name, value in obj.items():
        if name not in model.model_fields:
            continue
        nested = _NESTED.get((model, name))
        if nested is not None and isinstance(value, dict):
            value = _known_fields(value, nested)
        elif nested is not None and isinstance(value, list):
            value = [_known_fields(v, nested) if isinstance(v, dict) else v for v in value]
        out[name] = value
    return out


def parse_event(
    data: str | bytes | bytearray | Mapping[str, Any], *, ignore_unknown_fields: bool = False
) -> Event:
    r"""Turn JSON text, JSON bytes, or a mapping into a typed event.

    Args:
        data: One event as JSON text, JSON bytes, or an already decoded mapping.
        ignore_unknown_fields: Drop fields this version does not know instead of rejecting the
            event: what a client should do with events from a newer server (new fields are an
            additive change). The decoders do this unless `strict_types=True`.

    Text is cleaned as every model cleans it: a lone UTF-16 surrogate (which JSON text can hold
    as a `\ud800` escape) becomes U+FFFD. Numbers are strict: `seq`, `timestamp` and the usage
    counts must be JSON integers (`true`, `"5"` and `5.0` are refused).

    Raises:
        DecodeError: the input is not strict JSON (`NaN`, `Infinity` and numbers past the float
            range such as `1e999` are refused), has no known `type`, or has missing or wrong
            fields.

    """
    if isinstance(data, Mapping):
        obj: object = data
    elif isinstance(data, (str, bytes, bytearray)):
        try:
            obj = load_json(data)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise DecodeError(f"invalid JSON ({exc}) in {_snippet(data)}") from None
    else:
        raise DecodeError(f"expected str, bytes or a mapping, got {type(data).__name__}")
    if not isinstance(obj, dict):
        raise DecodeError(f"an event is a JSON object, got {type(obj).__name__}")
    tag = obj.get("type")
    if not isinstance(tag, str):
        raise DecodeError("the event has no string 'type' field")
    if tag not in EVENT_TYPES:
        raise DecodeError(f"unknown event type {_snippet(tag)}")
    if ignore_unknown_fields:
        obj = _known_fields(obj, _CLASSES[tag])
        if tag in ("done", "nested_run_finished"):
            obj = _known_status(obj)
    try:
        return _EVENT_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        raise DecodeError(f"invalid {tag!r} event: {_describe(exc, tag)}") from None


def event_json_schema() -> dict[str, Any]:
    """Return the JSON Schema of the event union, for clients in other languages."""
    schema = _EVENT_ADAPTER.json_schema(mode="serialization")
    schema["title"] = "agentstream event"
    schema["$comment"] = f"agentstream event schema version {SCHEMA_VERSION}"
    schema["x-schema-version"] = SCHEMA_VERSION
    return schema
