"""The scripted-turn language that both players speak: outputs, faults and turns.

A script is a list of turns, one per model call. A turn holds outputs (`text`, `tool_call`,
`handoff`, `reasoning`, `fail`), the usage the call reports, its pacing and at most one fault
(`http_error`, `reset_after`, `malformed_after`, `stall_after`, `error_event_after`). The same
script plays on `ScriptedStreamModel` (in process) and on `OpenAIServer` (over HTTP); a step one
player cannot express is refused by that player with `ScriptError`.

Counting for faults: a fault ``..._after(n)`` fires just before the ``n + 1``-th delta (text,
tool-argument or reasoning-summary delta) would be sent, after everything before it. When the turn
has ``n`` deltas or fewer, it fires just before the turn's terminal events.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from .._errors import AgentStreamError, ConfigurationError

__all__ = [
    "ErrorEventAfter",
    "Fail",
    "Fault",
    "HttpError",
    "MalformedAfter",
    "Output",
    "Reasoning",
    "ResetAfter",
    "Script",
    "ScriptError",
    "ScriptFactory",
    "ScriptNotFinishedError",
    "StallAfter",
    "Text",
    "ToolCall",
    "Turn",
    "TurnLike",
    "as_turn",
    "error_event_after",
    "fail",
    "handoff",
    "http_error",
    "malformed_after",
    "reasoning",
    "reset_after",
    "split_tokens",
    "stall_after",
    "text",
    "tool_call",
    "turn",
]


class ScriptError(ConfigurationError):
    """The script is wrong: a step is malformed, a player cannot play it, or runs out of turns."""


class ScriptNotFinishedError(AgentStreamError, AssertionError):
    """`assert_complete()` found unplayed turns, or a failure of the player itself."""


_TOKEN = re.compile(r"\s*\S+\s*|\s+")


def split_tokens(value: str) -> list[str]:
    """Split text into word-sized chunks the way a model streams it; joined they give `value`."""
    return _TOKEN.findall(value) or [value]


# -- outputs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """An assistant message streamed in `chunks`, one delta each."""

    chunks: tuple[str, ...]
    """The deltas, in order."""
    annotations: tuple[Mapping[str, Any], ...] = ()
    """The citations of the text, in the Responses API's annotation shapes (`url_citation()`,
    `file_citation()`); each is announced by a `response.output_text.annotation.added` event
    after the text's deltas (Responses only)."""

    @property
    def text(self) -> str:
        """The whole text."""
        return "".join(self.chunks)


@dataclass(frozen=True)
class ToolCall:
    """A function call (a handoff is a call of ``transfer_to_<agent>``)."""

    name: str
    """The tool's name."""
    arguments: str
    """The JSON arguments."""
    call_id: str | None = None
    """The call's id; `None` lets the player give it a unique one."""
    chunks: int = 1
    """How many argument deltas to stream, at most."""


@dataclass(frozen=True)
class Reasoning:
    """A reasoning item whose summary streams in `chunks`.

    Only the Responses API streams reasoning; on the Chat Completions path the summary is left
    out, as the real API does, and only the usage's reasoning tokens tell of it.
    """

    chunks: tuple[str, ...]
    """The summary deltas; none for a reasoning item without a summary."""

    @property
    def text(self) -> str:
        """The whole summary."""
        return "".join(self.chunks)


@dataclass(frozen=True)
class HostedCall:
    """A call of a tool the provider runs, with its result, in the Responses API's shapes.

    Made by `web_search()`, `file_search()`, `code_interpreter()` and `image_generation()`. The
    Responses player streams the item's stage events and its deltas; the Chat Completions
    player leaves it out, as that API has no hosted tools.
    """

    item: Mapping[str, Any]
    """The finished output item, without its `id` (the player gives one)."""
    stages: tuple[str, ...]
    """The stage events streamed between the item's `added` and `done`, by the last word of
    their type (`in_progress`, `searching`, ...)."""
    deltas: tuple[str, ...] = ()
    """Code deltas (`response.code_interpreter_call_code.delta`) or a hosted MCP call's argument
    deltas (`response.mcp_call_arguments.delta`), before the stages after the first."""
    partial_images: tuple[str, ...] = ()
    """Base64 partial images (`response.image_generation_call.partial_image`)."""


@dataclass(frozen=True)
class Fail:
    """Raise `error` from the model call at this point (in-process only)."""

    error: BaseException
    """The exception the model call raises."""


Output: TypeAlias = Text | ToolCall | Reasoning | HostedCall | Fail
"""One step of a turn."""

_OUTPUTS = (Text, ToolCall, Reasoning, HostedCall, Fail)


def _chunks(value: str | Sequence[str], builder: str) -> tuple[str, ...]:
    chunks = split_tokens(value) if isinstance(value, str) else list(value)
    if not all(isinstance(c, str) for c in chunks):
        raise ScriptError(f"{builder}() takes a string or a list of strings, got {value!r}")
    return tuple(chunks)


def text(value: str | Sequence[str], *, citations: Sequence[Mapping[str, Any]] = ()) -> Text:
    """An assistant message: a string streams word by word, a list chunk by chunk.

    `citations` are its annotations (`url_citation()`, `file_citation()`), Responses only.
    """
    return Text(_chunks(value, "text"), tuple(dict(c) for c in citations))


def url_citation(url: str, title: str, start_index: int, end_index: int) -> dict[str, Any]:
    """A web search citation of the text from `start_index` to `end_index` (exclusive)."""
    return {
        "type": "url_citation",
        "url": url,
        "title": title,
        "start_index": start_index,
        "end_index": end_index,
    }


def file_citation(file_id: str, filename: str, index: int) -> dict[str, Any]:
    """A file search citation, its mark at `index` in the text."""
    return {"type": "file_citation", "file_id": file_id, "filename": filename, "index": index}


def web_search(query: str, sources: Sequence[str] = ()) -> HostedCall:
    """A hosted web search for `query` that found the pages at `sources`."""
    action = {
        "type": "search",
        "query": query,
        "sources": [{"type": "url", "url": u} for u in sources],
    }
    item = {"type": "web_search_call", "status": "completed", "action": action}
    return HostedCall(item, ("in_progress", "searching", "completed"))


def file_search(queries: Sequence[str], results: Sequence[Mapping[str, Any]] = ()) -> HostedCall:
    """A hosted file search; `results` in the API's shape (`file_id`, `filename`, `text`)."""
    item = {
        "type": "file_search_call",
        "status": "completed",
        "queries": list(queries),
        "results": [dict(r) for r in results],
    }
    return HostedCall(item, ("in_progress", "searching", "completed"))


def code_interpreter(
    code: str | Sequence[str], logs: str | None = None, *, container_id: str = "cntr_test"
) -> HostedCall:
    """A hosted code interpreter call: its code streams in chunks, then it runs and logs."""
    chunks = _chunks(code, "code_interpreter")
    outputs = [] if logs is None else [{"type": "logs", "logs": logs}]
    item = {
        "type": "code_interpreter_call",
        "status": "completed",
        "code": "".join(chunks),
        "container_id": container_id,
        "outputs": outputs,
    }
    return HostedCall(item, ("in_progress", "interpreting", "completed"), deltas=chunks)


def mcp_call(
    server_label: str,
    name: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    output: str | None = None,
    error: str | None = None,
    chunks: int = 1,
) -> HostedCall:
    """A hosted MCP call of the tool `name` on `server_label`.

    Its JSON arguments stream in up to `chunks` deltas, then it returns `output`, or fails with
    `error`.
    """
    if not isinstance(chunks, int) or chunks < 1:
        raise ScriptError(f"mcp_call() chunks must be an int >= 1, got {chunks!r}")
    text = json.dumps(dict(arguments or {}))
    size = -(-len(text) // chunks)
    item = {
        "type": "mcp_call",
        "status": "failed" if error is not None else "completed",
        "server_label": server_label,
        "name": name,
        "arguments": text,
        "output": output,
        "error": error,
    }
    stages = ("in_progress", "failed" if error is not None else "completed")
    deltas = tuple(text[i : i + size] for i in range(0, len(text), size))
    return HostedCall(item, stages, deltas=deltas)


def image_generation(result_b64: str, partial_images: Sequence[str] = ()) -> HostedCall:
    """A hosted image generation that streams `partial_images`, then ends with `result_b64`."""
    item = {"type": "image_generation_call", "status": "completed", "result": result_b64}
    return HostedCall(
        item, ("in_progress", "generating", "completed"), partial_images=tuple(partial_images)
    )


def tool_call(
    name: str,
    arguments: str | Mapping[str, Any] | None = None,
    *,
    call_id: str | None = None,
    chunks: int = 1,
) -> ToolCall:
    """A call of the function tool `name`; its JSON arguments stream in up to `chunks` deltas.

    A mapping is JSON-encoded; `None` stands for ``{}``. Without `call_id` the player gives the
    call an id of its own, different in every run.
    """
    if not isinstance(chunks, int) or chunks < 1:
        raise ScriptError(f"tool_call() chunks must be an int >= 1, got {chunks!r}")
    args = arguments if isinstance(arguments, str) else json.dumps(dict(arguments or {}))
    return ToolCall(name, args, call_id, chunks)


@dataclass(frozen=True)
class _Named:
    name: str


def handoff(agent_name: str, *, call_id: str | None = None) -> ToolCall:
    """A handoff to the agent named `agent_name` (the SDK's ``transfer_to_<name>`` call)."""
    from agents.handoffs import Handoff

    tool_name = Handoff.default_tool_name(_Named(agent_name))  # type: ignore[arg-type]
    return tool_call(tool_name, {}, call_id=call_id)


def reasoning(value: str | Sequence[str]) -> Reasoning:
    """A reasoning summary: a string streams word by word, a list chunk by chunk."""
    return Reasoning(_chunks(value, "reasoning"))


def fail(error: BaseException) -> Fail:
    """Make the model call raise `error` here, after the outputs before it have streamed.

    In process only: an exception cannot cross HTTP, so `OpenAIServer` refuses it (use
    `http_error` or `error_event_after` there).
    """
    if not isinstance(error, BaseException):
        raise ScriptError(f"fail() takes an exception, got {error!r}")
    return Fail(error)


# -- faults ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpError:
    """Answer with an HTTP error status instead of a model response (HTTP only)."""

    status: int
    """The HTTP status."""
    body: Any
    """The body: JSON-encoded, or sent as is when `str` or `bytes`."""
    headers: tuple[tuple[str, str], ...] = ()
    """Extra response headers."""


@dataclass(frozen=True)
class ResetAfter:
    """Abort the TCP connection (RST) after `n_chunks` deltas (HTTP only)."""

    n_chunks: int
    """Deltas sent before the reset."""


@dataclass(frozen=True)
class MalformedAfter:
    """Send `payload`, bytes that are not a valid event, after `n_chunks` deltas (HTTP only)."""

    n_chunks: int
    """Deltas sent before the payload."""
    payload: bytes
    """The bytes sent instead of the next event."""


@dataclass(frozen=True)
class StallAfter:
    """Stop after `n_chunks` deltas and hang until the caller gives up (both players)."""

    n_chunks: int
    """Deltas sent before the stall."""


@dataclass(frozen=True)
class ErrorEventAfter:
    """Send an in-stream error event after `n_chunks` deltas, then end the stream (HTTP only)."""

    n_chunks: int
    """Deltas sent before the error event."""
    message: str
    """The error's message."""
    code: str
    """The error's code."""
    shape: Literal["nested", "flat", "response.failed"] = "nested"
    """How the Responses path sends it (see `error_event_after`)."""


Fault: TypeAlias = HttpError | ResetAfter | MalformedAfter | StallAfter | ErrorEventAfter
"""Any fault a turn can carry."""

_FAULTS = (HttpError, ResetAfter, MalformedAfter, StallAfter, ErrorEventAfter)

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    429: "requests",
}


def _count(n_chunks: int, builder: str) -> int:
    if not isinstance(n_chunks, int) or n_chunks < 0:
        raise ScriptError(f"{builder}() takes a number of deltas >= 0, got {n_chunks!r}")
    return n_chunks


def http_error(
    status: int = 500,
    body: Any = None,
    *,
    retry_after: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpError:
    """Answer the request with `status` and a JSON error `body` before any streaming.

    ``body=None`` gives the API's usual ``{"error": {...}}`` body for the status; a `str` or
    `bytes` body is sent as is. `retry_after` sets the ``retry-after`` header (seconds).
    """
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise ScriptError(f"http_error() takes an error status (400 to 599), got {status!r}")
    if body is None:
        message = (
            "Rate limit reached. Please try again later."
            if status == 429
            else "The server had an error while processing your request. Sorry about that!"
        )
        body = {
            "error": {
                "message": message,
                "type": _ERROR_TYPES.get(status, "server_error"),
                "param": None,
                "code": "rate_limit_exceeded" if status == 429 else None,
            }
        }
    extra = dict(headers or {})
    if retry_after is not None:
        extra["retry-after"] = _seconds(retry_after)
    return HttpError(status, body, tuple(extra.items()))


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def reset_after(n_chunks: int) -> ResetAfter:
    """Close the socket abruptly (SO_LINGER 0, so the client gets a RST) after n deltas."""
    return ResetAfter(_count(n_chunks, "reset_after"))


def malformed_after(n_chunks: int, payload: bytes = b"data: {not json\n\n") -> MalformedAfter:
    """After n deltas, send `payload` (not valid JSON) and end the stream."""
    return MalformedAfter(_count(n_chunks, "malformed_after"), payload)


def stall_after(n_chunks: int) -> StallAfter:
    """After n deltas send nothing more, and hold on until the caller gives up.

    The server keeps the connection open until the client closes it or the server stops; the
    model waits until its run is cancelled. Each player's ``stalled`` event is set when the stall
    begins.
    """
    return StallAfter(_count(n_chunks, "stall_after"))


def error_event_after(
    n_chunks: int,
    *,
    message: str = "The server had an error while processing your request.",
    code: str = "server_error",
    shape: Literal["nested", "flat", "response.failed"] = "nested",
) -> ErrorEventAfter:
    """After n deltas, send an in-stream error event and end the stream.

    Responses path: ``shape="nested"`` sends ``event: error`` with
    ``{"type": "error", "sequence_number", "error": {type, code, message, param}}``, the shape
    the live API sends; ``"flat"`` sends the documented ``ResponseErrorEvent`` (``code``,
    ``message``, ``param`` at top level); ``"response.failed"`` sends a ``response.failed``
    event whose response carries the error. Chat Completions path: always
    ``data: {"error": {...}}``. A request that is not streamed gets HTTP 500 with that error.
    """
    if shape not in ("nested", "flat", "response.failed"):
        raise ScriptError(
            f"error_event_after() shape must be 'nested', 'flat' or 'response.failed', "
            f"got {shape!r}"
        )
    return ErrorEventAfter(_count(n_chunks, "error_event_after"), message, code, shape)


# -- turns -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """One model call: its outputs in order, its usage, its pacing and at most one fault."""

    outputs: tuple[Output, ...]
    """What the model produces, in order."""
    input_tokens: int = 0
    """Input tokens the call reports."""
    output_tokens: int = 0
    """Output tokens the call reports, reasoning included."""
    delay: float | None = None
    """Seconds to wait before each delta; `None` takes the player's `delay`."""
    reasoning_tokens: int = 0
    """The part of `output_tokens` spent reasoning (a detail field of the usage)."""
    cached_tokens: int = 0
    """The part of `input_tokens` read from the cache (a detail field of the usage)."""
    fault: Fault | None = None
    """What goes wrong in this call, if anything."""


def _tokens(output: Output) -> int:
    if isinstance(output, ToolCall):
        return output.chunks
    if isinstance(output, HostedCall):
        return max(1, len(output.deltas))
    return 0 if isinstance(output, Fail) else len(output.chunks)


def turn(
    *outputs: Output,
    input_tokens: int = 0,
    output_tokens: int | None = None,
    reasoning_tokens: int = 0,
    cached_tokens: int = 0,
    delay: float | None = None,
    fault: Fault | None = None,
) -> Turn:
    """One model call made of `outputs`, with its usage, pacing and fault.

    `output_tokens` defaults to the number of deltas the outputs stream.
    """
    for output in outputs:
        if not isinstance(output, _OUTPUTS):
            raise ScriptError(
                "a turn is made of text(), tool_call(), handoff(), reasoning(), hosted calls "
                f"(web_search(), ...) and fail(), "
                f"got {output!r}"
            )
    if fault is not None and not isinstance(fault, _FAULTS):
        raise ScriptError(
            f"turn() fault must be made by http_error(), reset_after(), ..., got {fault!r}"
        )
    if delay is not None and (not isinstance(delay, (int, float)) or delay < 0):
        raise ScriptError(f"turn() delay must be seconds >= 0, got {delay!r}")
    if output_tokens is None:
        output_tokens = sum(_tokens(o) for o in outputs)
    return Turn(
        tuple(outputs),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        delay=delay,
        reasoning_tokens=reasoning_tokens,
        cached_tokens=cached_tokens,
        fault=fault,
    )


TurnLike: TypeAlias = Turn | Output | Fault | Sequence[Output]
"""A `Turn`; one output or a list of outputs (a turn of its own); or a fault alone (a turn with
no outputs that ends in it)."""

Script: TypeAlias = Iterable[TurnLike]
"""The turns of a script, one per model call."""

ScriptFactory: TypeAlias = Callable[[str], Script]
"""Makes the script of a new run from the text of the run's last user message."""


def as_turn(value: TurnLike) -> Turn:
    """Read one entry of a script as a `Turn`."""
    if isinstance(value, Turn):
        return value
    if isinstance(value, _OUTPUTS):
        return turn(value)
    if isinstance(value, _FAULTS):
        return turn(fault=value)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ScriptError(
            f"a script holds turn(), outputs, lists of outputs or faults, got {value!r}"
        )
    return turn(*value)
