"""A turn in the Chat Completions API's wire shapes: the completion and its stream of chunks.

Only `OpenAIServer` speaks Chat Completions. Reasoning items are left out, as the real API
leaves them out; their tokens still count in the usage.
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any

from ._playback import Frame, FrameKind, Ids
from ._responses import dumps, error_object, obfuscation, split_arguments
from ._script import ErrorEventAfter, Text, ToolCall, Turn

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["ChatTurn"]


class ChatTurn:
    """One turn as the Chat Completions API answers it, for the request `body`."""

    def __init__(self, turn: Turn, ids: Ids, body: Mapping[str, Any]) -> None:
        self.turn = turn
        stream_options = body.get("stream_options") or {}
        self.include_usage = bool(stream_options.get("include_usage", False))
        self.obfuscate = stream_options.get("include_obfuscation", True)
        self.created = int(time.time())
        self.id = ids.new("chatcmpl", "-")
        self.model = body.get("model") or "gpt-test"
        self.texts = [o for o in turn.outputs if isinstance(o, Text)]
        self.calls = [
            (o, o.call_id or ids.new("call")) for o in turn.outputs if isinstance(o, ToolCall)
        ]
        self.finish_reason = "tool_calls" if self.calls else "stop"

    @property
    def produced_ids(self) -> list[str]:
        """The ids this turn gives out: the completion's and its calls'."""
        return [self.id, *(call_id for _, call_id in self.calls)]

    def usage(self) -> dict[str, Any]:
        """The turn's usage in the Chat Completions shape."""
        turn = self.turn
        return {
            "prompt_tokens": turn.input_tokens,
            "completion_tokens": turn.output_tokens,
            "total_tokens": turn.input_tokens + turn.output_tokens,
            "prompt_tokens_details": {"cached_tokens": turn.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": turn.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def _chunk(
        self,
        kind: FrameKind,
        seq: int,
        choices: list[dict[str, Any]],
        delta_text: str = "",
        usage: dict[str, Any] | None = None,
    ) -> Frame:
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
            chunk["obfuscation"] = obfuscation(seq, delta_text)
        return Frame(kind, seq, chunk)

    def frames(self) -> Iterator[Frame]:
        """The turn's chunks in order, ending with the finish, usage and ``[DONE]`` lines."""
        seq = itertools.count()
        opened = False

        def emit(kind: FrameKind, delta: dict[str, Any], text: str = "") -> Frame:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
            return self._chunk(kind, next(seq), [choice], text)

        for text in self.texts:
            if not opened:
                yield emit("meta", {"role": "assistant", "content": "", "refusal": None})
                opened = True
            for chunk in text.chunks:
                yield emit("delta", {"content": chunk}, chunk)
        for index, (call, call_id) in enumerate(self.calls):
            start = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            if not opened:
                opening = {"role": "assistant", "content": None, "tool_calls": [start]}
                yield emit("meta", {**opening, "refusal": None})
                opened = True
            else:
                yield emit("meta", {"tool_calls": [start]})
            for chunk in split_arguments(call.arguments, call.chunks):
                delta = {"tool_calls": [{"index": index, "function": {"arguments": chunk}}]}
                yield emit("delta", delta, chunk)
        if not opened:
            yield emit("meta", {"role": "assistant", "content": "", "refusal": None})
        finish = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": self.finish_reason}
        yield self._chunk("end", next(seq), [finish])
        if self.include_usage:
            yield self._chunk("end", next(seq), [], usage=self.usage())
        yield Frame("end", next(seq), None)

    @staticmethod
    def encode(frame: Frame) -> bytes:
        """A frame as an SSE ``data:`` line (``[DONE]`` for the last)."""
        if frame.event is None:
            return b"data: [DONE]\n\n"
        return f"data: {dumps(frame.event)}\n\n".encode()

    @staticmethod
    def error_frame(fault: ErrorEventAfter, seq: int) -> bytes:
        """The SSE line of an `error_event_after` fault (one shape on this path)."""
        error = error_object(fault.message, fault.code)
        return f"data: {dumps({'error': error})}\n\n".encode()

    def completed(self) -> dict[str, Any]:
        """The whole answer of a request that is not streamed."""
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
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": self.finish_reason,
        }
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": self.usage(),
            "service_tier": "default",
            "system_fingerprint": "fp_test",
        }
