"""A turn in the Responses API's wire shapes: the response object and its stream of events.

Both players render a turn here: `OpenAIServer` sends the events as SSE, `ScriptedStreamModel`
hands them to the SDK as the `openai` types. So the in-process model streams exactly what the
server sends, which is what the live API sends.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ._playback import Frame, FrameKind, Ids
from ._script import ErrorEventAfter, Fail, HostedCall, Reasoning, Text, ToolCall, Turn

__all__ = ["ResponsesTurn", "dumps", "error_object", "obfuscation", "split_arguments"]


def dumps(obj: Any) -> str:
    """Compact JSON, as the APIs send it."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def obfuscation(seq: int, delta: str) -> str:
    """A fixed stand-in for the random padding the live APIs add to delta events."""
    return "0123456789abcdef"[: 1 + (seq + len(delta)) % 15]


def error_object(message: str, code: str | None, type_: str = "server_error") -> dict[str, Any]:
    """The API's error object."""
    return {"message": message, "type": type_, "param": None, "code": code}


def split_arguments(arguments: str, chunks: int) -> list[str]:
    """Split tool-call arguments into at most `chunks` deltas; none for empty arguments."""
    if not arguments:
        return []
    size = -(-len(arguments) // max(1, chunks))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]


_PREFIXES = {Text: "msg", ToolCall: "fc", Reasoning: "rs"}
_HOSTED_PREFIXES = {
    "web_search_call": "ws",
    "file_search_call": "fs",
    "code_interpreter_call": "ci",
    "image_generation_call": "ig",
    "mcp_call": "mcp",
}
"""The id prefix of each kind of output item, as the live API names them."""


def _output_text(text: str, annotations: Any = ()) -> dict[str, Any]:
    return {
        "type": "output_text",
        "annotations": [dict(a) for a in annotations],
        "logprobs": [],
        "text": text,
    }


_Planned = Text | ToolCall | Reasoning | HostedCall


class ResponsesTurn:
    """One turn as the Responses API answers it, for the request `body`."""

    def __init__(
        self, turn: Turn, ids: Ids, body: Mapping[str, Any], *, obfuscate: bool = True
    ) -> None:
        self.turn = turn
        self.body = body
        self.obfuscate = obfuscate
        self.created_at = int(time.time())
        self.response_id = ids.new("resp")
        self._plans: list[tuple[_Planned, str, str | None]] = []
        self._fail: Fail | None = None
        for index, output in enumerate(turn.outputs):
            if isinstance(output, Fail):
                # Nothing after a failure is streamed, so nothing after it gets an id.
                self._fail = output
                break
            if isinstance(output, HostedCall):
                prefix = _HOSTED_PREFIXES.get(str(output.item.get("type")), "ht")
            else:
                prefix = _PREFIXES[type(output)]
            call_id = (output.call_id or ids.new("call")) if isinstance(output, ToolCall) else None
            self._plans.append((output, ids.item(prefix, self.response_id, index), call_id))
        self.items = [self._item(*plan, done=True) for plan in self._plans]

    @property
    def produced_ids(self) -> list[str]:
        """The ids this turn gives out: the response's, its items' and its calls'."""
        ids = [self.response_id]
        for _, item_id, call_id in self._plans:
            ids.append(item_id)
            if call_id is not None:
                ids.append(call_id)
        return ids

    def response(self, status: str, *, error: dict[str, Any] | None = None) -> dict[str, Any]:
        """The response object with `status`; its output and usage only once completed."""
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
            "usage": self.usage() if status == "completed" else None,
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }

    def usage(self) -> dict[str, Any]:
        """The turn's usage in the Responses shape."""
        turn = self.turn
        return {
            "input_tokens": turn.input_tokens,
            "input_tokens_details": {
                "cache_write_tokens": 0,
                "cached_tokens": turn.cached_tokens,
            },
            "output_tokens": turn.output_tokens,
            "output_tokens_details": {"reasoning_tokens": turn.reasoning_tokens},
            "total_tokens": turn.input_tokens + turn.output_tokens,
        }

    @staticmethod
    def _item(output: _Planned, item_id: str, call_id: str | None, *, done: bool) -> dict[str, Any]:
        status = "completed" if done else "in_progress"
        if isinstance(output, HostedCall):
            if done:
                return {**output.item, "id": item_id}
            kind = output.item.get("type")
            started: dict[str, Any] = {"id": item_id, "type": kind, "status": "in_progress"}
            if kind == "code_interpreter_call":
                started.update(code="", container_id=output.item.get("container_id"), outputs=None)
            elif kind == "image_generation_call":
                started["result"] = None
            elif kind == "file_search_call":
                started.update(queries=[], results=None)
            elif kind == "web_search_call":
                started["action"] = output.item.get("action")
            elif kind == "mcp_call":
                started.update(
                    server_label=output.item.get("server_label"),
                    name=output.item.get("name"),
                    arguments="",
                )
            return started
        if isinstance(output, Text):
            content = [_output_text(output.text, output.annotations)] if done else []
            return {
                "id": item_id,
                "type": "message",
                "status": status,
                "content": content,
                "role": "assistant",
            }
        if isinstance(output, ToolCall):
            return {
                "id": item_id,
                "type": "function_call",
                "status": status,
                "arguments": output.arguments if done else "",
                "call_id": call_id,
                "name": output.name,
            }
        assert isinstance(output, Reasoning)
        summary = [{"type": "summary_text", "text": output.text}] if done and output.chunks else []
        return {"id": item_id, "type": "reasoning", "summary": summary}

    def frames(self) -> Iterator[Frame]:
        """The turn's events in order, ending with ``response.completed`` (or a ``fail``)."""
        seq = itertools.count()

        def emit(kind: FrameKind, type_: str, **fields: Any) -> Frame:
            n = next(seq)
            if kind == "delta" and self.obfuscate:
                fields["obfuscation"] = obfuscation(n, str(fields.get("delta", "")))
            return Frame(kind, n, {"type": type_, "sequence_number": n, **fields})

        yield emit("meta", "response.created", response=self.response("in_progress"))
        yield emit("meta", "response.in_progress", response=self.response("in_progress"))
        for index, (output, item_id, call_id) in enumerate(self._plans):
            added = self._item(output, item_id, call_id, done=False)
            yield emit("meta", "response.output_item.added", output_index=index, item=added)
            where: dict[str, Any] = {"item_id": item_id, "output_index": index}
            if isinstance(output, Text):
                at = {"content_index": 0}
                part = _output_text("")
                yield emit("meta", "response.content_part.added", **where, **at, part=part)
                for chunk in output.chunks:
                    yield emit(
                        "delta",
                        "response.output_text.delta",
                        **where,
                        **at,
                        delta=chunk,
                        logprobs=[],
                    )
                text = output.text
                yield emit(
                    "meta", "response.output_text.done", **where, **at, text=text, logprobs=[]
                )
                for n, annotation in enumerate(output.annotations):
                    yield emit(
                        "meta",
                        "response.output_text.annotation.added",
                        **where,
                        **at,
                        annotation_index=n,
                        annotation=dict(annotation),
                    )
                part = _output_text(text, output.annotations)
                yield emit("meta", "response.content_part.done", **where, **at, part=part)
            elif isinstance(output, ToolCall):
                for chunk in split_arguments(output.arguments, output.chunks):
                    yield emit(
                        "delta", "response.function_call_arguments.delta", **where, delta=chunk
                    )
                yield emit(
                    "meta",
                    "response.function_call_arguments.done",
                    **where,
                    name=output.name,
                    arguments=output.arguments,
                )
            elif isinstance(output, HostedCall):
                yield from self._hosted_frames(output, where, emit)
            elif output.chunks:
                at = {"summary_index": 0}
                part = {"type": "summary_text", "text": ""}
                yield emit(
                    "meta", "response.reasoning_summary_part.added", **where, **at, part=part
                )
                for chunk in output.chunks:
                    yield emit(
                        "delta", "response.reasoning_summary_text.delta", **where, **at, delta=chunk
                    )
                text = output.text
                yield emit("meta", "response.reasoning_summary_text.done", **where, **at, text=text)
                part = {"type": "summary_text", "text": text}
                yield emit("meta", "response.reasoning_summary_part.done", **where, **at, part=part)
            yield emit(
                "meta", "response.output_item.done", output_index=index, item=self.items[index]
            )
        if self._fail is not None:
            yield Frame("fail", next(seq), None, self._fail.error)
            return
        yield emit("end", "response.completed", response=self.response("completed"))

    @staticmethod
    def _hosted_frames(
        output: HostedCall, where: dict[str, Any], emit: Callable[..., Frame]
    ) -> Iterator[Frame]:
        """A hosted call's events between its item's `added` and `done`."""
        kind = str(output.item.get("type"))
        first, *rest = output.stages
        yield emit("meta", f"response.{kind}.{first}", **where)
        if output.deltas and kind == "mcp_call":
            for chunk in output.deltas:
                yield emit("delta", "response.mcp_call_arguments.delta", **where, delta=chunk)
            arguments = "".join(output.deltas)
            yield emit("meta", "response.mcp_call_arguments.done", **where, arguments=arguments)
        elif output.deltas:
            for chunk in output.deltas:
                yield emit(
                    "delta", "response.code_interpreter_call_code.delta", **where, delta=chunk
                )
            code = "".join(output.deltas)
            yield emit("meta", "response.code_interpreter_call_code.done", **where, code=code)
        for n, image in enumerate(output.partial_images):
            yield emit(
                "delta",
                "response.image_generation_call.partial_image",
                **where,
                partial_image_b64=image,
                partial_image_index=n,
            )
        for stage in rest:
            yield emit("meta", f"response.{kind}.{stage}", **where)

    def encode(self, frame: Frame) -> bytes:
        """A frame as an SSE event."""
        assert frame.event is not None
        return f"event: {frame.event['type']}\ndata: {dumps(frame.event)}\n\n".encode()

    def error_frame(self, fault: ErrorEventAfter, seq: int) -> bytes:
        """The SSE event of an `error_event_after` fault, in the shape it asks for."""
        if fault.shape == "response.failed":
            error = {"code": fault.code, "message": fault.message}
            response = self.response("failed", error=error)
            event: dict[str, Any] = {
                "type": "response.failed",
                "sequence_number": seq,
                "response": response,
            }
        elif fault.shape == "flat":
            event = {
                "type": "error",
                "sequence_number": seq,
                "code": fault.code,
                "message": fault.message,
                "param": None,
            }
        else:
            error = error_object(fault.message, fault.code)
            event = {"type": "error", "sequence_number": seq, "error": error}
        return f"event: {event['type']}\ndata: {dumps(event)}\n\n".encode()

    def completed(self) -> dict[str, Any]:
        """The whole answer of a request that is not streamed."""
        return self.response("completed")
