"""The text fast path: text runs make the events and the SSE frames the models make."""

from __future__ import annotations

import itertools
from collections import deque
from types import SimpleNamespace
from typing import Any

import pytest
from agents.stream_events import RawResponsesStreamEvent
from hypothesis import given
from hypothesis import strategies as st
from openai.types.responses import ResponseCompletedEvent, ResponseTextDeltaEvent
from pydantic_core import to_json

from agentstream import (
    TextDelta,
    Usage,
    UsageUpdated,
)
from agentstream._builders import Draft
from agentstream._events import clean_text
from agentstream._mapping import Mapper, UsageMark
from agentstream._sse import SSEWriter, sse_frame, sse_frames
from agentstream._textrun import SSETextWriter, TextContext, TextRun, _needs_no_escape, built

from .support.strategies import events, optional, texts

# Text deltas kept in `TextRun`s until needed, and their SSE frames written straight from them.

contexts = st.builds(TextContext, st.integers(0, 2**53), optional, optional, texts.filter(bool))


@st.composite
def text_runs(draw: st.DrawFn) -> TextRun:
    """Text runs as `Mapper.text_run` makes them."""
    deltas = draw(st.lists(texts, min_size=1, max_size=5))
    return TextRun(draw(st.integers(0, 2**53)), deltas, "".join(deltas), draw(contexts))


def as_tuple(run: TextRun | None) -> tuple[Any, ...] | None:
    """A run's fields, to compare runs in assertions."""
    return None if run is None else (run.seq, run.deltas, run.text, tuple(run.context))


def validated_texts(run: TextRun) -> list[TextDelta]:
    seq, deltas = run.seq, run.deltas
    timestamp, message_id, agent, run_id = run.context
    return [
        TextDelta(
            seq=seq + i,
            run_id=run_id,
            agent=agent,
            timestamp=timestamp,
            delta=delta,
            message_id=message_id,
        )
        for i, delta in enumerate(deltas)
    ]


@given(text_runs())
def test_a_text_run_builds_the_events_validation_builds(run: TextRun) -> None:
    fast, slow = run.events(), validated_texts(run)
    assert fast == slow
    for one, other in zip(fast, slow, strict=True):
        assert one.model_fields_set == other.model_fields_set
        assert one.model_dump_json() == other.model_dump_json()
        assert hash(one) == hash(other)
    assert built([run]) == slow
    assert built(slow) == slow


def model_events(items: list[Any]) -> list[Any]:
    return [
        e for item in items for e in (validated_texts(item) if type(item) is TextRun else [item])
    ]


@given(st.lists(text_runs() | events, max_size=8), st.data())
def test_run_frames_are_the_frames_of_the_events(items: list[Any], data: st.DataObject) -> None:
    # Neighbours share their context object often, as in a real stream, or an equal copy of
    # it, so the encoder's per-context cache is exercised both ways.
    for i in range(1, len(items)):
        if type(items[i]) is TextRun and type(items[i - 1]) is TextRun:
            shared = items[i - 1].context
            how = data.draw(st.sampled_from(["same", "copy", "own"]))
            if how != "own":
                run = items[i]
                context = shared if how == "same" else TextContext(*shared)
                items[i] = TextRun(run.seq, run.deltas, run.text, context)
    expected = [sse_frame(event) for event in model_events(items)]
    # One writer over batches split anywhere, as a stream's batches come.
    writer, frames, start = SSEWriter(), [], 0
    for cut in sorted(data.draw(st.lists(st.integers(0, len(items)), max_size=4))):
        frames += writer.frames(items[start:cut])
        start = max(start, cut)
    frames += writer.frames(items[start:])
    assert frames == expected
    assert list(sse_frames(items)) == expected
    chunker = SSEWriter()
    assert chunker.chunk(items[:1]) + chunker.chunk(items[1:]) == "".join(expected)


@given(
    st.text(st.characters(categories=("Cs", "Ll")), min_size=1, max_size=5),
    st.sampled_from(["delta", "message_id", "agent", "run_id"]),
)
def test_text_without_a_utf8_form_is_written_as_the_models_clean_it(odd: str, where: str) -> None:
    # A run made by `TextRunMaker` never holds a lone surrogate (it cleans its deltas); a run
    # made otherwise takes the models' way, and the models clean it: U+FFFD, never an error.
    fields = {"delta": "x", "message_id": "m", "agent": "a", "run_id": "r", where: odd}
    context = TextContext(1, fields["message_id"], fields["agent"], fields["run_id"])
    deltas = ["fine", fields["delta"]]
    run = TextRun(0, deltas, "".join(deltas), context)
    expected = [sse_frame(event) for event in validated_texts(run)]
    assert all(frame.encode() for frame in expected)  # every frame has its UTF-8 form
    cleaned = {name: clean_text(value) for name, value in fields.items()}
    assert [e.delta for e in validated_texts(run)] == ["fine", cleaned["delta"]]
    assert list(sse_frames([run])) == expected
    # The run writer declines what it cannot write, and the writer takes the models' way.
    direct = SSETextWriter().frames(run)
    assert (direct is None) == (cleaned != fields)
    assert direct is None or direct == expected


def test_only_plain_text_deltas_take_the_short_way() -> None:
    mapper = Mapper(SimpleNamespace(name="a", handoffs=[]))

    def raw(**fields: Any) -> RawResponsesStreamEvent:
        data = ResponseTextDeltaEvent.model_construct(
            **{"type": "response.output_text.delta", "item_id": "m", "delta": "x", **fields}
        )
        return RawResponsesStreamEvent(data=data)

    def take(*events: Any, limit: int = 10) -> tuple[tuple[Any, ...] | None, list[Any]]:
        pending = deque(events)
        return as_tuple(mapper.text_run(pending, 3, 4, "r", limit)), list(pending)

    def missing(name: str) -> RawResponsesStreamEvent:
        event = raw()
        del event.data.__dict__[name]
        return event

    odd = [
        raw(delta=None),
        raw(item_id=7),
        raw(type="response.refusal.delta"),
        missing("delta"),
        RawResponsesStreamEvent(data=SimpleNamespace(**vars(raw().data))),
        {"type": "raw_response_event"},
        SimpleNamespace(),
    ]
    for stop in odd:
        run, left = take(raw(), raw(), stop, raw())
        assert run == (3, ["x", "x"], "xx", (4, "m", "a", "r"))
        assert left[0] is stop
        assert len(left) == 2
        assert take(stop) == (None, [stop])
    # A run is one message's: the next message's deltas start the next run.
    run, left = take(raw(item_id="__fake_id__"), raw(item_id="__fake_id__"), raw(), raw())
    assert run == (3, ["x", "x"], "xx", (4, None, "a", "r"))
    assert len(left) == 2
    two, left = take(raw(delta="y"), raw(), raw(), limit=2)
    assert two == (3, ["y", "x"], "yx", (4, "m", "a", "r"))
    assert len(left) == 1
    assert "".join(mapper.partial_text) == "xx" * len(odd) + "xx" + "yx"
    mapper.agent = 5  # type: ignore[assignment]  # a custom agent object's odd name
    assert take(raw()) == (None, [raw()])


def test_usage_is_reported_once_per_model_call_from_the_latest_mark() -> None:
    mapper = Mapper(SimpleNamespace(name="a", handoffs=[]))
    completed = RawResponsesStreamEvent(
        data=ResponseCompletedEvent.model_construct(type="response.completed")
    )
    delta = RawResponsesStreamEvent(
        data=ResponseTextDeltaEvent.model_construct(
            type="response.output_text.delta", item_id="m", delta="x"
        )
    )
    one, two = Usage(requests=1, total_tokens=3), Usage(requests=2, total_tokens=5)

    def reported(drafts: list[Draft]) -> list[Any]:
        return [d.fields["usage"] if d.kind is UsageUpdated else d.kind for d in drafts]

    assert mapper.map(UsageMark(Usage())) == []  # the reader's first mark: no call ended yet
    assert mapper.map(completed) == []  # the call's usage is not counted yet
    assert reported(mapper.map(UsageMark(one))) == [one]
    assert mapper.map(UsageMark(two)) == []  # counted outside a call's end: no event of its own
    assert mapper.map(completed) == []
    # A call that counted nothing: the latest figures come out before the next event, which
    # the lazy way leaves to map() for that.
    pending = deque([delta])
    assert mapper.text_run(pending, 0, 0, "r", 10) is None
    assert reported(mapper.map(pending.popleft())) == [two, TextDelta]
    assert mapper.owed_usage() == []
    assert mapper.map(completed) == []
    assert reported(mapper.owed_usage()) == [two]  # what the stream's end reports


@pytest.mark.parametrize(
    "deltas",
    [
        ["plain", " text", "", "ünïcödé ✓"],  # nothing to escape: the quoted head and tail
        ['one "quote"', "plain"],  # one delta to escape: every delta escaped
        ["back\\slash"],
        ["tab\tand\nnewline", "\x00\x1f\x7f"],
        ["\u2028 and \u2029"],  # left as they are by both, as JSON allows
    ],
)
def test_run_frames_escape_as_the_model_does(deltas: list[str]) -> None:
    run = TextRun(7, deltas, "".join(deltas), TextContext(1, "m", "a", "r"))
    assert SSETextWriter().frames(run) == [sse_frame(e) for e in validated_texts(run)]


def test_run_frames_hold_any_seq_as_the_model_does() -> None:
    # Streams number from 0, but the frames are the models' for any int the envelope holds.
    for seq in (0, 9, 10, 99_999, 2**53, 2**63):
        run = TextRun(seq, ["a", "b"], "ab", TextContext(1, "m", None, "r"))
        assert SSETextWriter().frames(run) == [sse_frame(e) for e in validated_texts(run)]


def test_no_escape_is_claimed_for_a_character_pydantic_escapes() -> None:
    # Every code point but the lone surrogates, which take the models' way before the check.
    claimed = [
        char
        for char in map(chr, itertools.chain(range(0xD800), range(0xE000, 0x110000)))
        if _needs_no_escape(char)
    ]
    assert len(claimed) > 100_000  # the fast way is the common one, non-ASCII text included
    wrong = [c for c in claimed if to_json(c).decode() != f'"{c}"']
    assert wrong == []
    for char in ['"', "\\", "\n", "\x00", "\x1f", "\x7f"]:
        assert not _needs_no_escape(f"text {char} text")
