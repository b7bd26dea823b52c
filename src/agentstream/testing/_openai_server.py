"""A local OpenAI-compatible HTTP server that plays scripted model turns.

`OpenAIServer` listens on 127.0.0.1 and answers ``POST /v1/responses`` and
``POST /v1/chat/completions``, streamed (``"stream": true``) or not, with the wire shapes of
the real APIs. Point the OpenAI Agents SDK's own models at it through `OpenAIServer.client`
to test the whole path: HTTP, the ``openai`` client's SSE parsing, the SDK's chat-to-responses
conversion and the run loop.

A script is a list of `ServerTurn`: each model request consumes the next one. Turns are built
with `text_turn`, `tool_call_turn`, `tool_calls_turn` (of `function_call`) and `reasoning_turn`,
or by constructing `ServerTurn` from `ServerText`, `FunctionCall` and `ServerReasoning`. Every
turn can pace its deltas with ``delay`` and carry one fault: `http_error`, `reset_after`,
`malformed_after`, `stall_after` or `error_event_after`. A bare `http_error(...)` in a script
is a turn that only answers with that error. A handoff is a function call named
``transfer_to_<agent name>`` with arguments ``{}``.

Example::

    async with OpenAIServer([
        tool_call_turn("get_weather", {"city": "Paris"}, call_id="call_1"),
        text_turn(["It is ", "sunny."], usage=(20, 4)),
    ]) as server:
        model = OpenAIResponsesModel(model="gpt-test", openai_client=server.client())
        result = Runner.run_streamed(Agent(name="a", model=model, tools=[get_weather]), "hi")
        async for event in result.stream_events():
            ...
    server.assert_complete()

Counting for faults: a fault ``..._after(n)`` fires just before the ``n + 1``-th *delta*
frame (text, tool-argument or reasoning-summary delta) would be sent. Every frame before it
is sent, including the frames that open items and parts. When the turn has ``n`` deltas or
fewer, the fault fires just before the terminal frames (``response.completed`` on the
Responses path; the ``finish_reason`` chunk, the usage chunk and ``data: [DONE]`` on the Chat
Completions path). The same ``n`` therefore cuts both paths at the same point of the text.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import socket
import struct
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeAlias

from openai import AsyncOpenAI
from typing_extensions import Self

from .._errors import AgentStreamError
from ._scripted import ScriptError

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "ErrorEventAfter",
    "Fault",
    "FunctionCall",
    "HttpError",
    "MalformedAfter",
    "OpenAIServer",
    "Output",
    "ServerReasoning",
    "RecordedRequest",
    "ResetAfter",
    "ServerTurn",
    "StallAfter",
    "ServerText",
    "ScriptNotFinishedError",
    "ServerUsage",
    "error_event_after",
    "function_call",
    "http_error",
    "malformed_after",
    "reasoning_turn",
    "reset_after",
    "stall_after",
    "text_turn",
    "tool_call_turn",
    "tool_calls_turn",
]


class ScriptNotFinishedError(AgentStreamError, AssertionError):
    """`OpenAIServer.assert_complete()` found unused turns or a failure of the server itself."""


# --------------------------------------------------------------------------------------
# Script: usage, outputs, faults and turns
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerUsage:
    """Token usage reported for one turn.

    ``output_tokens`` is the whole output, reasoning included, as the real APIs count it;
    ``reasoning_tokens`` and ``cached_tokens`` only fill the detail fields.
    """

    input_tokens: int = 10
    output_tokens: int = 5
    reasoning_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class ServerText:
    """An assistant message whose text streams as ``chunks`` (one delta per chunk)."""

    chunks: tuple[str, ...]

    @property
    def text(self) -> str:
        """The whole text."""
        return "".join(self.chunks)


@dataclass(frozen=True)
class FunctionCall:
    """A function call; ``arguments`` (a JSON string) streams as up to ``chunks`` deltas.

    ``call_id=None`` lets the server number the call (``call_0001``, ...).
    """

    name: str
    arguments: str
    call_id: str | None = None
    chunks: int = 1


@dataclass(frozen=True)
class ServerReasoning:
    """A reasoning item whose summary streams as ``summary_chunks``.

    Only the Responses API streams reasoning; the Chat Completions path leaves it out, as the
    real API does, and only reports the reasoning tokens in the usage.
    """

    summary_chunks: tuple[str, ...]

    @property
    def summary(self) -> str:
        """The whole summary text."""
        return "".join(self.summary_chunks)


Output: TypeAlias = ServerText | FunctionCall | ServerReasoning
"""One output item of a turn."""


@dataclass(frozen=True)
class HttpError:
    """Answer with an HTTP error status instead of a model response."""

    status: int
    body: Any
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ResetAfter:
    """Abort the TCP connection (RST) after ``n_chunks`` deltas."""

    n_chunks: int


@dataclass(frozen=True)
class MalformedAfter:
    """Send ``payload`` (bytes that are not a valid event) after ``n_chunks`` deltas."""

    n_chunks: int
    payload: bytes


@dataclass(frozen=True)
class StallAfter:
    """Stop sending after ``n_chunks`` deltas; keep the connection open until closed."""

    n_chunks: int


@dataclass(frozen=True)
class ErrorEventAfter:
    """Send an in-stream error event after ``n_chunks`` deltas, then end the stream."""

    n_chunks: int
    message: str
    code: str
    shape: Literal["nested", "flat", "response.failed"] = "nested"


Fault: TypeAlias = HttpError | ResetAfter | MalformedAfter | StallAfter | ErrorEventAfter
"""Any fault a turn can carry."""


@dataclass(frozen=True)
class ServerTurn:
    """One scripted model response: output items, usage, pacing and an optional fault.

    ``delay`` is slept before every delta frame (pacing, not synchronization).
    """

    outputs: tuple[Output, ...]
    usage: ServerUsage = field(default_factory=ServerUsage)
    delay: float = 0.0
    fault: Fault | None = None


UsageLike: TypeAlias = ServerUsage | tuple[int, int]
"""A `ServerUsage` or ``(input_tokens, output_tokens)``."""


def _usage(usage: UsageLike) -> ServerUsage:
    if isinstance(usage, ServerUsage):
        return usage
    return ServerUsage(input_tokens=usage[0], output_tokens=usage[1])


def _chunks(chunks: Sequence[str] | str) -> tuple[str, ...]:
    return (chunks,) if isinstance(chunks, str) else tuple(chunks)


def text_turn(
    chunks: Sequence[str] | str,
    *,
    usage: UsageLike = (10, 5),
    delay: float = 0.0,
    fault: Fault | None = None,
) -> ServerTurn:
    """A turn that answers with text streamed as ``chunks`` (a plain string is one chunk)."""
    return ServerTurn((ServerText(_chunks(chunks)),), _usage(usage), delay, fault)


def function_call(
    name: str,
    arguments: str | Mapping[str, Any] = "{}",
    *,
    call_id: str | None = None,
    chunks: int = 1,
) -> FunctionCall:
    """A function call; a mapping ``arguments`` is JSON-encoded.

    A handoff is a call of ``transfer_to_<agent name>`` with arguments ``"{}"``.
    """
    args = arguments if isinstance(arguments, str) else json.dumps(dict(arguments))
    return FunctionCall(name=name, arguments=args, call_id=call_id, chunks=chunks)


def tool_call_turn(
    name: str,
    arguments: str | Mapping[str, Any] = "{}",
    *,
    call_id: str | None = None,
    chunks: int = 1,
    usage: UsageLike = (10, 5),
    delay: float = 0.0,
    fault: Fault | None = None,
) -> ServerTurn:
    """A turn that calls one function, its arguments split into ``chunks`` deltas."""
    call = function_call(name, arguments, call_id=call_id, chunks=chunks)
    return ServerTurn((call,), _usage(usage), delay, fault)


def tool_calls_turn(
    calls: Iterable[FunctionCall],
    *,
    usage: UsageLike = (10, 5),
    delay: float = 0.0,
    fault: Fault | None = None,
) -> ServerTurn:
    """A turn that calls several functions at once (parallel tool calls)."""
    return ServerTurn(tuple(calls), _usage(usage), delay, fault)


def reasoning_turn(
    summary_chunks: Sequence[str] | str,
    *,
    then: ServerTurn,
    reasoning_tokens: int = 0,
) -> ServerTurn:
    """``then`` preceded by a reasoning item whose summary streams as ``summary_chunks``.

    The result keeps the usage, delay and fault of ``then``; ``reasoning_tokens`` are added
    to its output tokens. The summary is streamed on the Responses path only.
    """
    base = then.usage
    usage = ServerUsage(
        input_tokens=base.input_tokens,
        output_tokens=base.output_tokens + reasoning_tokens,
        reasoning_tokens=base.reasoning_tokens + reasoning_tokens,
        cached_tokens=base.cached_tokens,
    )
    outputs = (ServerReasoning(_chunks(summary_chunks)), *then.outputs)
    return ServerTurn(outputs, usage, then.delay, then.fault)


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    429: "requests",
}


def http_error(
    status: int = 500,
    body: Any = None,
    *,
    retry_after: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpError:
    """Answer the request with ``status`` and a JSON error ``body`` before any streaming.

    ``body=None`` gives the API's usual ``{"error": {...}}`` body for the status; a ``str``
    or ``bytes`` body is sent as is. ``retry_after`` sets the ``retry-after`` header (seconds).
    """
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
        extra["retry-after"] = _number(retry_after)
    return HttpError(status=status, body=body, headers=tuple(extra.items()))


def reset_after(n_chunks: int) -> ResetAfter:
    """Close the socket abruptly (SO_LINGER 0, so the client gets a RST) after n deltas."""
    return ResetAfter(n_chunks)


def malformed_after(n_chunks: int, payload: bytes = b"data: {not json\n\n") -> MalformedAfter:
    """After n deltas, send ``payload`` (not valid JSON) and end the stream."""
    return MalformedAfter(n_chunks, payload)


def stall_after(n_chunks: int) -> StallAfter:
    """After n deltas send nothing more, but keep the connection open.

    The connection stays open until the client closes it or the server stops. The server's
    `OpenAIServer.stalled` event is set when the stall begins.
    """
    return StallAfter(n_chunks)


def error_event_after(
    n_chunks: int,
    *,
    message: str = "The server had an error while processing your request.",
    code: str = "server_error",
    shape: Literal["nested", "flat", "response.failed"] = "nested",
) -> ErrorEventAfter:
    """After n deltas, send an in-stream error event and end the stream.

    Responses path: ``shape="nested"`` sends ``event: error`` with
    ``{"type": "error", "sequence_number", "error": {type, code, message, param}}``, the
    shape the live API sends; ``"flat"`` sends the documented ``ResponseErrorEvent``
    (``code``, ``message``, ``param`` at top level); ``"response.failed"`` sends a
    ``response.failed`` event whose response carries the error. Chat Completions path: always
    ``data: {"error": {...}}``. A non-streamed request gets HTTP 500 with that error instead.
    """
    return ErrorEventAfter(n_chunks, message, code, shape)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _split(text: str, n: int) -> list[str]:
    if not text:
        return []
    size = math.ceil(len(text) / max(1, n))
    return [text[i : i + size] for i in range(0, len(text), size)]


# --------------------------------------------------------------------------------------
# Wire rendering
# --------------------------------------------------------------------------------------

_FrameKind = Literal["meta", "delta", "end"]


@dataclass
class _Frame:
    kind: _FrameKind
    data: bytes
    seq: int = 0


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _obfuscation(seq: int, delta: str) -> str:
    # The live APIs pad delta events with random characters; this is a fixed stand-in.
    return "0123456789abcdef"[: 1 + (seq + len(delta)) % 15]


class _Ids:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new(self, prefix: str, sep: str = "_") -> str:
        return f"{prefix}{sep}{next(self._counter):04d}"


def _responses_usage(usage: ServerUsage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cache_write_tokens": 0, "cached_tokens": usage.cached_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def _chat_usage(usage: ServerUsage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _error_object(message: str, code: str | None, type_: str = "server_error") -> dict[str, Any]:
    return {"message": message, "type": type_, "param": None, "code": code}


class _ResponsesRender:
    """Renders one turn as a Responses API object and as its SSE stream."""

    def __init__(self, turn: ServerTurn, body: Mapping[str, Any], ids: _Ids) -> None:
        self.turn = turn
        self.body = body
        self.obfuscate = (body.get("stream_options") or {}).get("include_obfuscation", True)
        self.created_at = int(time.time())
        self.response_id = ids.new("resp")
        self.items: list[dict[str, Any]] = []  # the completed output items
        self.plans: list[tuple[Output, str, str | None]] = []
        for output in turn.outputs:
            if isinstance(output, ServerText):
                self.plans.append((output, ids.new("msg"), None))
            elif isinstance(output, FunctionCall):
                self.plans.append((output, ids.new("fc"), output.call_id or ids.new("call")))
            else:
                self.plans.append((output, ids.new("rs"), None))
        for output, item_id, call_id in self.plans:
            self.items.append(self._item(output, item_id, call_id, done=True))

    def response(self, status: str, *, error: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.body
        final = status in {"completed", "failed"}
        reasoning = {"effort": None, "summary": None}
        if isinstance(body.get("reasoning"), Mapping):
            reasoning.update(body["reasoning"])
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": bool(body.get("background", False)),
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": body.get("max_tool_calls"),
            "model": body.get("model") or "gpt-test",
            "output": list(self.items) if status == "completed" else [],
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": reasoning,
            "safety_identifier": body.get("safety_identifier"),
            "service_tier": body.get("service_tier") or ("default" if final else "auto"),
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": list(body.get("tools") or []),
            "top_logprobs": body.get("top_logprobs", 0),
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": _responses_usage(self.turn.usage) if status == "completed" else None,
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }

    @staticmethod
    def _item(output: Output, item_id: str, call_id: str | None, *, done: bool) -> dict[str, Any]:
        status = "completed" if done else "in_progress"
        if isinstance(output, ServerText):
            content = [_output_text(output.text)] if done else []
            return {
                "id": item_id,
                "type": "message",
                "status": status,
                "content": content,
                "role": "assistant",
            }
        if isinstance(output, FunctionCall):
            return {
                "id": item_id,
                "type": "function_call",
                "status": status,
                "arguments": output.arguments if done else "",
                "call_id": call_id,
                "name": output.name,
            }
        summary = (
            [{"type": "summary_text", "text": output.summary}]
            if done and output.summary_chunks
            else []
        )
        return {"id": item_id, "type": "reasoning", "summary": summary}

    def frames(self) -> list[_Frame]:
        frames: list[_Frame] = []
        seq = itertools.count()

        def emit(kind: _FrameKind, type_: str, **fields: Any) -> None:
            n = next(seq)
            if kind == "delta" and self.obfuscate:
                fields["obfuscation"] = _obfuscation(n, str(fields.get("delta", "")))
            event = {"type": type_, "sequence_number": n, **fields}
            data = f"event: {type_}\ndata: {_dumps(event)}\n\n".encode()
            frames.append(_Frame(kind, data, n))

        emit("meta", "response.created", response=self.response("in_progress"))
        emit("meta", "response.in_progress", response=self.response("in_progress"))
        for index, (output, item_id, call_id) in enumerate(self.plans):
            added = self._item(output, item_id, call_id, done=False)
            emit("meta", "response.output_item.added", output_index=index, item=added)
            where: dict[str, Any] = {"item_id": item_id, "output_index": index}
            if isinstance(output, ServerText):
                at = {"content_index": 0}
                emit("meta", "response.content_part.added", **where, **at, part=_output_text(""))
                for chunk in output.chunks:
                    emit(
                        "delta",
                        "response.output_text.delta",
                        **where,
                        **at,
                        delta=chunk,
                        logprobs=[],
                    )
                emit(
                    "meta",
                    "response.output_text.done",
                    **where,
                    **at,
                    text=output.text,
                    logprobs=[],
                )
                emit(
                    "meta",
                    "response.content_part.done",
                    **where,
                    **at,
                    part=_output_text(output.text),
                )
            elif isinstance(output, FunctionCall):
                for chunk in _split(output.arguments, output.chunks):
                    emit("delta", "response.function_call_arguments.delta", **where, delta=chunk)
                emit(
                    "meta",
                    "response.function_call_arguments.done",
                    **where,
                    arguments=output.arguments,
                )
            elif output.summary_chunks:
                at = {"summary_index": 0}
                emit(
                    "meta",
                    "response.reasoning_summary_part.added",
                    **where,
                    **at,
                    part={"type": "summary_text", "text": ""},
                )
                for chunk in output.summary_chunks:
                    emit(
                        "delta",
                        "response.reasoning_summary_text.delta",
                        **where,
                        **at,
                        delta=chunk,
                    )
                emit(
                    "meta",
                    "response.reasoning_summary_text.done",
                    **where,
                    **at,
                    text=output.summary,
                )
                emit(
                    "meta",
                    "response.reasoning_summary_part.done",
                    **where,
                    **at,
                    part={"type": "summary_text", "text": output.summary},
                )
            emit("meta", "response.output_item.done", output_index=index, item=self.items[index])
        emit("end", "response.completed", response=self.response("completed"))
        return frames

    def error_frame(self, fault: ErrorEventAfter, seq: int) -> bytes:
        error = _error_object(fault.message, fault.code)
        if fault.shape == "response.failed":
            response = self.response("failed", error={"code": fault.code, "message": fault.message})
            event: dict[str, Any] = {
                "type": "response.failed",
                "sequence_number": seq,
                "response": response,
            }
            return f"event: response.failed\ndata: {_dumps(event)}\n\n".encode()
        if fault.shape == "flat":
            event = {
                "type": "error",
                "sequence_number": seq,
                "code": fault.code,
                "message": fault.message,
                "param": None,
            }
        else:
            event = {"type": "error", "sequence_number": seq, "error": error}
        return f"event: error\ndata: {_dumps(event)}\n\n".encode()

    def completed(self) -> dict[str, Any]:
        return self.response("completed")


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


class _ChatRender:
    """Renders one turn as a Chat Completions object and as its SSE stream."""

    def __init__(self, turn: ServerTurn, body: Mapping[str, Any], ids: _Ids) -> None:
        self.turn = turn
        self.body = body
        stream_options = body.get("stream_options") or {}
        self.include_usage = bool(stream_options.get("include_usage", False))
        self.obfuscate = stream_options.get("include_obfuscation", True)
        self.created = int(time.time())
        self.id = ids.new("chatcmpl", "-")
        self.model = body.get("model") or "gpt-test"
        self.texts = [o for o in turn.outputs if isinstance(o, ServerText)]
        self.calls = [
            (o, o.call_id or ids.new("call")) for o in turn.outputs if isinstance(o, FunctionCall)
        ]
        self.finish_reason = "tool_calls" if self.calls else "stop"

    def _chunk(
        self,
        choices: list[dict[str, Any]],
        seq: int,
        delta_text: str = "",
        usage: dict[str, Any] | None = None,
    ) -> bytes:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": "fp_test",
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = usage
        if self.obfuscate:
            chunk["obfuscation"] = _obfuscation(seq, delta_text)
        return f"data: {_dumps(chunk)}\n\n".encode()

    def frames(self) -> list[_Frame]:
        frames: list[_Frame] = []
        seq = itertools.count()
        opened = False

        def choice(delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

        def emit(kind: _FrameKind, delta: dict[str, Any], text: str = "") -> None:
            n = next(seq)
            frames.append(_Frame(kind, self._chunk(choice(delta), n, text), n))

        for text in self.texts:
            if not opened:
                emit("meta", {"role": "assistant", "content": "", "refusal": None})
                opened = True
            for chunk in text.chunks:
                emit("delta", {"content": chunk}, chunk)
        for index, (call, call_id) in enumerate(self.calls):
            start = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            if not opened:
                emit(
                    "meta",
                    {"role": "assistant", "content": None, "tool_calls": [start], "refusal": None},
                )
                opened = True
            else:
                emit("meta", {"tool_calls": [start]})
            for chunk in _split(call.arguments, call.chunks):
                emit(
                    "delta",
                    {"tool_calls": [{"index": index, "function": {"arguments": chunk}}]},
                    chunk,
                )
        if not opened:
            emit("meta", {"role": "assistant", "content": "", "refusal": None})
        n = next(seq)
        frames.append(_Frame("end", self._chunk(choice({}, self.finish_reason), n), n))
        if self.include_usage:
            n = next(seq)
            usage_chunk = self._chunk([], n, usage=_chat_usage(self.turn.usage))
            frames.append(_Frame("end", usage_chunk, n))
        frames.append(_Frame("end", b"data: [DONE]\n\n", next(seq)))
        return frames

    def error_frame(self, fault: ErrorEventAfter, seq: int) -> bytes:
        error = _error_object(fault.message, fault.code)
        return f"data: {_dumps({'error': error})}\n\n".encode()

    def completed(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(t.text for t in self.texts) if self.texts else None,
            "refusal": None,
            "annotations": [],
        }
        if self.calls:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call, call_id in self.calls
            ]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": _chat_usage(self.turn.usage),
            "service_tier": "default",
            "system_fingerprint": "fp_test",
        }


_Render: TypeAlias = _ResponsesRender | _ChatRender

# --------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_MODEL_PATHS = ("/v1/responses", "/v1/chat/completions")
_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the server received.

    ``body`` is the parsed JSON body (``None`` when absent or not JSON); header names are
    lower-case.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any

    @property
    def stream(self) -> bool:
        """Whether the request asked for a streamed answer."""
        return isinstance(self.body, Mapping) and bool(self.body.get("stream"))


class _Stop(Exception):
    """The connection is over (closed by the client, reset, or unusable)."""


class OpenAIServer:
    """A local OpenAI-compatible server playing a script of `ServerTurn`, one per model request.

    Use it as an async context manager: it listens on 127.0.0.1 on a free port while open,
    and on exit closes the clients it made, the listener and every connection.
    """

    def __init__(
        self, script: Iterable[ServerTurn | HttpError] = (), *, host: str = "127.0.0.1"
    ) -> None:
        """Create a server that will play ``script``; nothing listens before entering.

        An `HttpError` in the script stands for a turn that only answers with that error.
        """
        self._script: deque[ServerTurn] = deque()
        self.add(*script)
        self._host = host
        self._port: int | None = None
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._clients: list[AsyncOpenAI] = []
        self._ids = _Ids()
        self._request_ids = _Ids()
        self._closing = False
        self.requests: list[RecordedRequest] = []
        """Every request received, in arrival order."""
        self.stalled = asyncio.Event()
        """Set when a `stall_after` fault begins to stall a response."""
        self.errors: list[Exception] = []
        """Unexpected errors of the server itself (each also answered with HTTP 500)."""

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Start listening."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server and everything it opened."""
        await self.close()

    async def start(self) -> None:
        """Start listening on a free port of the host."""
        if self._server is not None:
            raise AgentStreamError("OpenAIServer already started")
        self._closing = False
        self._server = await asyncio.start_server(self._handle, self._host, 0)
        self._port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Close the listener, every connection, then the clients made by `client`.

        Connections are closed first, so a client still reading a stalled response sees the
        server go away rather than its own shutdown.
        """
        self._closing = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        # A connection accepted just before the listener closed may start its handler late;
        # loop until no handler is left.
        while self._handlers:
            handlers = list(self._handlers)
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            self._handlers.difference_update(handlers)
            await asyncio.sleep(0)
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()
        clients, self._clients = self._clients, []
        for client in clients:
            await client.close()

    # -- public helpers ----------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._port is None:
            raise AgentStreamError("OpenAIServer is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """The base URL for OpenAI clients, ``http://127.0.0.1:PORT/v1``."""
        return f"http://{self._host}:{self.port}/v1"

    def client(self, **kwargs: Any) -> AsyncOpenAI:
        """An `openai.AsyncOpenAI` for this server, closed when the server stops.

        Defaults: ``api_key="test"``, ``max_retries=0``; ``kwargs`` override them (for
        instance ``timeout=`` or ``max_retries=``).
        """
        options: dict[str, Any] = {"base_url": self.base_url, "api_key": "test", "max_retries": 0}
        options.update(kwargs)
        client = AsyncOpenAI(**options)
        self._clients.append(client)
        return client

    def add(self, *turns: ServerTurn | HttpError) -> None:
        """Append turns (or bare `HttpError` answers) to the script."""
        for turn in turns:
            if isinstance(turn, HttpError):
                turn = ServerTurn((), fault=turn)
            if not isinstance(turn, ServerTurn):
                raise ScriptError(
                    f"a script holds ServerTurn or HttpError, not {type(turn).__name__}"
                )
            self._script.append(turn)

    @property
    def remaining(self) -> int:
        """How many scripted turns are still unused."""
        return len(self._script)

    @property
    def model_requests(self) -> list[RecordedRequest]:
        """The recorded requests that were model calls."""
        return [r for r in self.requests if r.method == "POST" and r.path in _MODEL_PATHS]

    def assert_complete(self) -> None:
        """Raise `ScriptNotFinishedError` if turns were left unused or the server itself failed."""
        if self.errors:
            raise ScriptNotFinishedError(f"the server failed: {self.errors!r}")
        if self._script:
            raise ScriptNotFinishedError(f"{len(self._script)} scripted turn(s) not used")

    # -- connection handling -----------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self._writers.add(writer)
        # Writes wait until the kernel took every byte: pacing and faults happen where asked.
        writer.transport.set_write_buffer_limits(high=0)
        try:
            while not self._closing:
                request = await self._read_request(reader)
                if request is None:
                    break
                keep_alive = await self._respond(request, reader, writer)
                if not keep_alive:
                    break
        except (_Stop, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except Exception as exc:  # a bug here must show in the test, not only in a log
            self.errors.append(exc)
            with contextlib.suppress(Exception):
                error = _error_object(f"OpenAIServer failed: {exc!r}", None)
                await self._send_json(writer, 500, {"error": error}, keep_alive=False)
        except asyncio.CancelledError:
            # Only `close` cancels handlers. Ending normally keeps asyncio's stream callback
            # from logging the cancellation as an error.
            writer.transport.abort()
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._handlers.discard(task)
            if not writer.transport.is_closing():
                writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> RecordedRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise _Stop from exc
            return None
        if len(head) > _MAX_HEAD:
            raise _Stop
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError as exc:
            raise _Stop from exc
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            raw = await self._read_chunked(reader)
        else:
            raw = await reader.readexactly(int(headers.get("content-length", "0") or 0))
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        path = target.split("?", 1)[0]
        request = RecordedRequest(method=method, path=path, headers=headers, body=body)
        self.requests.append(request)
        return request

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Trailers, if any, end with an empty line.
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def _respond(
        self,
        request: RecordedRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        keep_alive = request.headers.get("connection", "").lower() != "close"
        if request.path not in _MODEL_PATHS:
            error = _error_object(
                f"Invalid URL ({request.method} {request.path})", None, "invalid_request_error"
            )
            await self._send_json(writer, 404, {"error": error}, keep_alive)
            return keep_alive
        if request.method != "POST":
            error = _error_object("Method not allowed", None, "invalid_request_error")
            await self._send_json(writer, 405, {"error": error}, keep_alive)
            return keep_alive
        if not isinstance(request.body, Mapping):
            error = _error_object(
                "We could not parse the JSON body of your request.", None, "invalid_request_error"
            )
            await self._send_json(writer, 400, {"error": error}, keep_alive)
            return keep_alive
        if not self._script:
            count = len(self.model_requests)
            error = _error_object(f"No scripted turn left for model request #{count}", None)
            await self._send_json(writer, 500, {"error": error}, keep_alive)
            return keep_alive

        turn = self._script.popleft()
        fault = turn.fault
        if isinstance(fault, HttpError):
            await self._send_json(writer, fault.status, fault.body, keep_alive, fault.headers)
            return keep_alive
        render: _Render = (
            _ResponsesRender(turn, request.body, self._ids)
            if request.path == "/v1/responses"
            else _ChatRender(turn, request.body, self._ids)
        )
        if request.stream:
            return await self._stream(render, turn, reader, writer, keep_alive)
        return await self._reply_whole(render, fault, reader, writer, keep_alive)

    async def _reply_whole(
        self,
        render: _Render,
        fault: Fault | None,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        keep_alive: bool,
    ) -> bool:
        if isinstance(fault, ErrorEventAfter):
            error = _error_object(fault.message, fault.code)
            await self._send_json(writer, 500, {"error": error}, keep_alive)
            return keep_alive
        body = _dumps(render.completed()).encode()
        if isinstance(fault, MalformedAfter):
            body = fault.payload
        head = self._head(200, "application/json", keep_alive, length=len(body))
        if isinstance(fault, ResetAfter):
            await self._write(writer, head + body[: len(body) // 2])
            self._reset(writer)
        if isinstance(fault, StallAfter):
            await self._write(writer, head)
            await self._stall(reader)
        await self._write(writer, head + body)
        return keep_alive

    async def _stream(
        self,
        render: _Render,
        turn: ServerTurn,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        keep_alive: bool,
    ) -> bool:
        fault = turn.fault
        limit = fault.n_chunks if fault is not None and not isinstance(fault, HttpError) else None
        await self._write(writer, self._head(200, "text/event-stream; charset=utf-8", keep_alive))
        deltas = 0
        for frame in render.frames():
            due = limit is not None and (
                (frame.kind == "delta" and deltas >= limit) or frame.kind == "end"
            )
            if due:
                if isinstance(fault, ResetAfter):
                    self._reset(writer)
                if isinstance(fault, StallAfter):
                    await self._stall(reader)
                if isinstance(fault, MalformedAfter):
                    await self._write(writer, _chunk(fault.payload) + _chunk(b""))
                    return keep_alive
                if isinstance(fault, ErrorEventAfter):
                    data = render.error_frame(fault, frame.seq)
                    await self._write(writer, _chunk(data) + _chunk(b""))
                    return keep_alive
            if frame.kind == "delta":
                if turn.delay > 0:
                    await asyncio.sleep(turn.delay)
                deltas += 1
            await self._write(writer, _chunk(frame.data))
        await self._write(writer, _chunk(b""))
        return keep_alive

    # -- low level ---------------------------------------------------------------------

    def _head(
        self,
        status: int,
        content_type: str,
        keep_alive: bool,
        *,
        length: int | None = None,
        extra: Iterable[tuple[str, str]] = (),
    ) -> bytes:
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
            f"Content-Type: {content_type}",
            ("Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"),
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
            f"x-request-id: {self._request_ids.new('req')}",
            "openai-processing-ms: 1",
            "openai-version: 2020-10-01",
        ]
        if content_type.startswith("text/event-stream"):
            lines.append("Cache-Control: no-cache")
        lines.extend(f"{name}: {value}" for name, value in extra)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send_json(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: Any,
        keep_alive: bool,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = _dumps(body).encode()
        head = self._head(status, "application/json", keep_alive, length=len(data), extra=headers)
        await self._write(writer, head + data)

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
        if writer.transport.is_closing():
            raise _Stop
        writer.write(data)
        await writer.drain()

    @staticmethod
    def _reset(writer: asyncio.StreamWriter) -> NoReturn:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        raise _Stop

    async def _stall(self, reader: asyncio.StreamReader) -> NoReturn:
        self.stalled.set()
        # Wait for the client to go away; the server's close cancels this wait.
        while await reader.read(65536):
            pass
        raise _Stop


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"
