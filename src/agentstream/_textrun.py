"""Text runs: the text fast path, in one place.

Text deltas are most of a stream. `normalize()` takes the consecutive plain text deltas of one
message from the SDK in one go, as a `TextRun`, and keeps them that way until someone needs the
event models: `TextRun.events()` builds them, and `SSETextWriter` writes their SSE frames
straight from the run, the same bytes as `sse_frame()` of each event, in one pass per run. This
module makes runs, builds their events and writes their frames; the rest of agentstream only
passes them along.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar, cast, final

from ._events import TextDelta, clean_text

if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Callable, Iterable

    from ._events import EventBase

__all__ = ["FAKE_ITEM_ID", "SSETextWriter", "TextContext", "TextRun", "TextRunMaker", "built"]

FAKE_ITEM_ID: Final = "__fake_id__"
"""The id the SDK gives every item it builds from Chat Completions chunks: it identifies none."""


class TextContext(NamedTuple):
    """What the deltas of a run share: everything in a `TextDelta` but `seq` and `delta`."""

    timestamp: int
    """When the run was mapped (ms since the epoch)."""
    message_id: str | None
    """The message the deltas belong to."""
    agent: str | None
    """The agent that produced them."""
    run_id: str
    """The stream's run id."""


@final
class TextRun:
    """Consecutive text deltas of one message, not built as `TextDelta` events yet."""

    __slots__ = ("context", "deltas", "seq", "text")

    def __init__(self, seq: int, deltas: list[str], text: str, context: TextContext) -> None:
        self.seq = seq
        """The `seq` of the first delta; the others follow it."""
        self.deltas = deltas
        """The deltas, in order (never empty)."""
        self.text = text
        """The deltas joined."""
        self.context = context
        """What the deltas share."""

    def events(self) -> list[TextDelta]:
        """The `TextDelta` events of the run."""
        timestamp, message_id, agent, run_id = self.context
        return [
            TextDelta(
                seq=seq,
                run_id=run_id,
                agent=agent,
                timestamp=timestamp,
                delta=delta,
                message_id=message_id,
            )
            for seq, delta in enumerate(self.deltas, self.seq)
        ]

    def __repr__(self) -> str:
        return f"TextRun(seq={self.seq}, deltas={self.deltas!r}, context={self.context!r})"


E = TypeVar("E", bound="EventBase")


def built(batch: Iterable[E | TextRun]) -> list[E]:
    """The events of a batch: each event as it is, each `TextRun`'s events built."""
    events: list[E] = []
    for item in batch:
        if type(item) is TextRun:
            # A batch that holds text runs is a batch of `Event`s, `TextDelta` among them.
            events += cast("list[E]", item.events())
        else:
            events.append(item)
    return events


def _is_id(value: object) -> bool:
    return value is None or type(value) is str


_NO_MESSAGE: Final = object()


class TextRunMaker:
    """Takes text runs from the head of the SDK events a stream's reader collected.

    One per stream. It imports the SDK's event classes when it is made, not when this module is
    imported: `import agentstream` must not load the SDK for a service that only decodes.
    """

    __slots__ = ("_context", "_delta_event", "_raw_event")

    def __init__(self) -> None:
        from agents.stream_events import RawResponsesStreamEvent
        from openai.types.responses import ResponseTextDeltaEvent

        self._raw_event: Any = RawResponsesStreamEvent
        self._delta_event: Any = ResponseTextDeltaEvent
        self._context = TextContext(-1, None, None, "")

    def take(
        self, events: deque[Any], seq: int, context: tuple[int, str | None, str], limit: int
    ) -> TextRun | None:
        """Take the plain text deltas at the head of `events` as one `TextRun`, from `seq` on.

        `context` is `(timestamp, agent, run_id)`; the agent must be a `str` or None. At most
        `limit` deltas, all of one message; None if the head is not one. Plain is the SDK's raw
        `ResponseTextDeltaEvent` of type `response.output_text.delta`, with a `str` delta and a
        `str` (or no) item id: every field then has the exact type the event declares. Anything
        else is left at the head for the mapper. The loop reads each event's fields straight
        from the model's `__dict__`: it runs once per token.
        """
        raw, delta_event = self._raw_event, self._delta_event
        deltas: list[str] = []
        put, take = deltas.append, events.popleft
        message: object = _NO_MESSAGE  # the item id of the run's message, once known
        for _ in range(min(limit, len(events))):
            event = take()
            try:
                if type(event) is raw and type(data := event.data) is delta_event:
                    fields = data.__dict__
                    delta, item_id = fields["delta"], fields["item_id"]
                    if (
                        type(delta) is str
                        and fields["type"] == "response.output_text.delta"
                        and (item_id == message or (not deltas and _is_id(item_id)))
                    ):
                        message = item_id
                        put(delta)
                        continue
            except Exception:  # a field missing (`model_construct`), or an odd one's `==`
                pass
            events.appendleft(event)  # not one of this run's: the next message's, or the mapper's
            break
        if not deltas:
            return None
        text = "".join(deltas)
        if not text.isascii() and not _encodable(text):
            # Lone surrogates (half a pair in each of two deltas, say) become U+FFFD, delta by
            # delta, as the mapper cleans the deltas it maps: a flag read for ASCII text.
            deltas = [clean_text(delta) for delta in deltas]
            text = "".join(deltas)
        timestamp, agent, run_id = context
        message_id = None if message == FAKE_ITEM_ID else message
        shared = self._context
        # Runs mapped within the same millisecond share their context: one object, which the
        # SSE writer recognizes without comparing its fields.
        if (
            shared.timestamp != timestamp
            or shared.message_id != message_id
            or shared.agent != agent
            or shared.run_id != run_id
        ):
            shared = self._context = TextContext(timestamp, message_id, agent, run_id)  # type: ignore[arg-type]
        return TextRun(seq, deltas, text, shared)


# SSE frames

_TEXT_HEAD: Final = '\nevent: text_delta\ndata: {"type":"text_delta","seq":'
"""What follows `id: <seq>` in a text delta's frame, up to the seq in the JSON."""
_json_str: Final[Callable[[str], str]] = json.encoder.encode_basestring
"""A `str` as a JSON string, escaped as pydantic escapes it (non-ASCII kept, not `\\u` escaped)."""
_UNSET: Final = object()


def _json_str_or_null(value: str | None) -> str:
    return "null" if value is None else _json_str(value)


def _encodable(text: str) -> bool:
    """Whether `text` has a UTF-8 form (no lone surrogates); free for ASCII text."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _needs_no_escape(text: str) -> bool:
    """Whether `text` is its own JSON string body: no quote, backslash or control character.

    `isprintable()` is False for every control character (and for some characters that need
    no escaping, which only sends `text` the way that escapes each delta).
    """
    return text.isprintable() and '"' not in text and "\\" not in text


class SSETextWriter:
    """Writes the SSE frames of one stream's text runs, in order.

    The frames are `sse_frame()`'s of the run's events, byte for byte (a test checks it for any
    text): `id`, `event: text_delta` and the event's JSON with its fields in declaration order.
    What a run's deltas share (the envelope, the message id) is formatted once per run, and kept
    for the next run while it does not change.
    """

    __slots__ = (
        "_agent",
        "_context",
        "_envelope",
        "_exact",
        "_head",
        "_message_id",
        "_run_id",
        "_tail",
        "_timestamp",
    )

    def __init__(self) -> None:
        self._context: object = _UNSET
        self._agent: object = _UNSET
        self._run_id: object = _UNSET
        self._message_id: object = _UNSET
        self._timestamp: object = _UNSET
        self._envelope = self._head = self._tail = ""
        self._exact = True

    def frames(self, run: TextRun) -> list[str] | None:
        """The frames of the deltas of `run`, one per delta.

        None when the run holds text with no UTF-8 form (a lone surrogate, in a run not made by
        `TextRunMaker`, which cleans its deltas): the caller then writes the run's events the
        models' way, and the models clean the text.
        """
        context = run.context
        if context is not self._context:
            self._enter(context)
        text = run.text
        if not (self._exact and (text.isascii() or _encodable(text))):
            return None
        head, tail = self._head, self._tail
        if len(run.deltas) == 1:  # events that come one at a time: no loop to set up
            return [f"id: {run.seq}{_TEXT_HEAD}{run.seq}{head}{_json_str(text)}{tail}"]
        seqs = map(str, range(run.seq, run.seq + len(run.deltas)))
        if _needs_no_escape(text):
            # Each delta is its own JSON string body: the quotes go in the head and the tail.
            head, tail = f'{head}"', f'"{tail}'
            deltas: Iterable[str] = run.deltas
        else:
            deltas = map(_json_str, run.deltas)
        return [
            f"id: {seq}{_TEXT_HEAD}{seq}{head}{delta}{tail}"
            for seq, delta in zip(seqs, deltas, strict=True)
        ]

    def _enter(self, context: TextContext) -> None:
        """Take the shared parts of a new context; format again only those that changed.

        Runs mapped within the same millisecond differ only in their context object.
        """
        self._context = context
        timestamp, message_id, agent, run_id = context
        changed = False
        if agent != self._agent or run_id != self._run_id:
            self._agent, self._run_id, changed = agent, run_id, True
            self._envelope = (
                f',"run_id":{_json_str(run_id)},"agent":{_json_str_or_null(agent)},"timestamp":'
            )
        if message_id != self._message_id:
            self._message_id, changed = message_id, True
            self._tail = f',"message_id":{_json_str_or_null(message_id)}}}\n\n'
        if changed:
            self._exact = _encodable(self._envelope) and _encodable(self._tail)
        if changed or timestamp != self._timestamp:
            self._timestamp = timestamp
            self._head = f'{self._envelope}{timestamp},"delta":'
