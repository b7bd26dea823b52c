"""Fuzzing the decoders: `parse_event`, `from_sse` and `from_ndjson` on hostile input.

Whatever they are given, they return events or raise `DecodeError`; nothing else escapes, nothing
waits, and a line too large is refused before it is buffered whole. The default run tries a few
hundred examples per test; `HYPOTHESIS_PROFILE=fuzz` (tests/conftest.py) tries 100,000 each:

    HYPOTHESIS_PROFILE=fuzz python -m pytest tests/test_fuzz.py -q

The decoders are driven synchronously (`drain`): with in-memory chunks they have nothing to wait
for, so any suspension is a failure, and a watchdog turns an example that never ends into one too.
"""

from __future__ import annotations

import json
import signal
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentstream import DecodeError, Event, parse_event
from agentstream._chunks import DEFAULT_MAX_EVENT_BYTES
from agentstream._events import EVENT_TYPES
from agentstream._ndjson import from_ndjson, ndjson_line
from agentstream._sse import from_sse, sse_frame

from .support.strategies import events

Outcome: TypeAlias = "list[str] | type[DecodeError]"

# A few hundred examples per decoder (150 per test) in the default run; 100,000 per test in
# the `fuzz` profile.
EXAMPLES = max(settings.default.max_examples, 150)
fuzz_settings = settings(
    max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Not a speed limit: an example that takes this long is stuck (examples are at most ~1 MB).
HANG_SECONDS = 60
MIB = 1024 * 1024


class HangError(AssertionError):
    """An example ran past HANG_SECONDS."""


@contextmanager
def watchdog(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Fail the example instead of hanging forever (the SIGALRM timer is POSIX, main thread)."""

    def expired(signum: int, frame: object) -> None:
        raise HangError(f"the example did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def drain(stream: AsyncIterator[Event]) -> list[Event]:
    """Run a decoder over in-memory chunks to its end, without an event loop.

    A decoder has nothing to wait for here: if it ever suspends, it would hang on a real loop.
    """
    out: list[Event] = []
    while True:
        step = stream.__anext__()
        try:
            step.send(None)
        except StopIteration as stop:
            out.append(stop.value)
            continue
        except StopAsyncIteration:
            return out
        step.close()
        raise AssertionError("the decoder suspended while reading in-memory chunks")


def outcome(run: Callable[[], list[Event]]) -> Outcome:
    """The events a decode produced (as reprs: NaN != NaN), or DecodeError; nothing else."""
    with watchdog():
        try:
            decoded = run()
        except DecodeError:
            return DecodeError
    assert all(type(e).model_fields["type"].default in EVENT_TYPES for e in decoded)
    return [repr(e) for e in decoded]


# Strategies: JSON-ish garbage

texts = st.text(max_size=30)  # all of Unicode, lone surrogates included
huge_ints = st.integers(min_value=-(10**1000), max_value=10**1000)
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | huge_ints
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
)
json_trees = st.recursive(
    json_leaves,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(texts, kids, max_size=4),
    max_leaves=20,
)
event_dicts = events.map(lambda e: e.model_dump(mode="json"))
FIELDS = sorted(
    {"type", "seq", "run_id", "agent", "timestamp", "delta", "text", "call_id", "name"}
    | {"arguments", "output", "usage", "status", "error", "final_output", "pending_approvals"}
)


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event's dict with a few keys dropped, retyped, added, or its `type` swapped."""
    obj: dict[str, Any] = draw(event_dicts)
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(obj)) | st.sampled_from(FIELDS) | texts)
        action = draw(st.sampled_from(["drop", "set", "type"]))
        if action == "drop":
            obj.pop(key, None)
        elif action == "set":
            obj[key] = draw(json_trees)
        else:
            obj["type"] = draw(st.sampled_from(sorted(EVENT_TYPES)) | texts | json_leaves)
    return obj


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True, ensure_ascii=False)


NUMBER_TOKENS = ["NaN", "-NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999", "-0"]
NUMBER_TOKENS += ["0e0", "1" * 5000, "1." + "0" * 5000, "9" * 4301, "01", "1.", ".5", "0x10"]


@st.composite
def odd_numbers(draw: st.DrawFn) -> str:
    """A valid event's JSON with one value replaced by an odd number token."""
    obj = draw(event_dicts)
    key = draw(st.sampled_from(sorted(obj)))
    obj[key] = "\0marker"
    return _dumps(obj).replace('"\\u0000marker"', draw(st.sampled_from(NUMBER_TOKENS)))


@st.composite
def deep_nesting(draw: st.DrawFn) -> str:
    """Arrays or objects nested up to 100,000 deep, balanced or not, bare or as a field value."""
    depth = draw(st.integers(0, 3000) | st.sampled_from([10_000, 100_000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    inner = "1" if opener != "[" else ""
    tree = opener * depth + inner + closer * draw(st.sampled_from([depth, 0, depth // 2]))
    obj = draw(event_dicts)
    return draw(
        st.sampled_from([tree, _dumps(obj)[:-1] + ',"output":' + tree + "}"]),
    )


@st.composite
def truncated(draw: st.DrawFn) -> str:
    """A valid event's JSON cut anywhere."""
    body = _dumps(draw(event_dicts))
    return body[: draw(st.integers(0, len(body)))]


json_texts = st.one_of(
    json_trees.map(_dumps),
    event_dicts.map(_dumps),
    mutated_events().map(_dumps),
    odd_numbers(),
    deep_nesting(),
    truncated(),
)
"""Text that is JSON, nearly JSON, or JSON of the wrong shape."""


# Strategies: wire-ish garbage

INVALID_UTF8 = [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\x80"]
INVALID_UTF8 += [b"\x80", b"\xf0\x9f\x98"]


@st.composite
def to_chunks(draw: st.DrawFn, body: str, *, allow_str: bool = True) -> list[str | bytes]:
    """`body` as UTF-8 with an optional BOM and invalid bytes, split at arbitrary points."""
    data = body.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    for _ in range(draw(st.integers(0, 2) if draw(st.integers(0, 4)) == 0 else st.just(0))):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(INVALID_UTF8)) + data[at:]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    chunks: list[str | bytes] = []
    for piece in pieces:
        as_str = allow_str and draw(st.booleans())
        try:
            chunks.append(piece.decode("utf-8") if as_str else piece)
        except UnicodeDecodeError:
            chunks.append(piece)
    return chunks


line_ends = st.sampled_from(["\n", "\r", "\r\n"])
sse_fields = st.sampled_from(["data", "event", "id", "retry", "", "DATA", "data ", " data"]) | texts
sse_values = st.one_of(
    json_texts,
    st.sampled_from(sorted(EVENT_TYPES)),
    st.sampled_from(["", " ", "message", "1000", "-1", "1e3", "\0", "\ufeff"]),
    texts,
)


@st.composite
def sse_lines(draw: st.DrawFn) -> str:
    """One SSE line (its end included), a real frame, or a long line."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(events.map(sse_frame))
    if kind == 1:
        return ": " + "x" * draw(st.integers(0, 5000)) + draw(line_ends)
    if kind == 2:
        return "data: " + "y" * draw(st.integers(0, 5000)) + draw(line_ends)
    if kind == 3:
        return draw(line_ends)
    if kind == 4:
        return ":" + draw(texts) + draw(line_ends)
    name = draw(sse_fields)
    colon = draw(st.sampled_from([":", ": ", ":  ", "", "::"]))
    return name + colon + draw(sse_values) + draw(line_ends)


sse_bodies = st.lists(sse_lines(), max_size=12).map("".join)
ndjson_lines = st.one_of(
    events.map(ndjson_line),
    json_texts.map(lambda t: t + "\n"),
    json_texts.map(lambda t: t + "\r\n"),
    st.sampled_from(["\n", "\r\n", " \t\n", "\r", "\u2028\n", "\ufeff\n"]),
    st.integers(0, 5000).map(lambda n: "z" * n + "\n"),
    st.integers(0, 5000).map(lambda n: " " * n + "\n"),
)
ndjson_bodies = st.lists(ndjson_lines, max_size=12).map("".join)
limits = st.sampled_from([DEFAULT_MAX_EVENT_BYTES, 1, 64, 1000, 4096])


# parse_event


@fuzz_settings
@given(st.one_of(st.binary(max_size=2000), st.text(max_size=500), json_texts))
def test_parse_event_raises_only_decode_error_on_text_and_bytes(data: str | bytes) -> None:
    outcome(lambda: [parse_event(data)])
    if isinstance(data, str):
        outcome(lambda: [parse_event(data.encode("utf-8", "surrogatepass"))])


@fuzz_settings
@given(st.one_of(json_trees, mutated_events()))
def test_parse_event_raises_only_decode_error_on_mappings(obj: Any) -> None:
    outcome(lambda: [parse_event(obj)])


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_a_decode_error(depth: int) -> None:
    body = '{"type":"tool_output","seq":0,"run_id":"r","timestamp":0,"call_id":"c","output":'
    body += "[" * depth + "]" * depth + "}"
    with pytest.raises(DecodeError):
        parse_event(body)
    with pytest.raises(DecodeError):
        drain(from_ndjson([body]))
    with pytest.raises(DecodeError):
        drain(from_sse([f"event: tool_output\ndata: {body}\n\n"]))


# from_sse


@fuzz_settings
@given(st.one_of(st.binary(max_size=2000), st.text(max_size=500)), st.integers(1, 64), limits)
def test_from_sse_raises_only_decode_error_on_arbitrary_input(
    data: str | bytes, size: int, limit: int
) -> None:
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    outcome(lambda: drain(from_sse(chunks, max_event_bytes=limit)))


@fuzz_settings
@given(st.data(), sse_bodies, limits, st.booleans())
def test_from_sse_raises_only_decode_error_on_sse_garbage(
    data: st.DataObject, body: str, limit: int, strict: bool
) -> None:
    chunks = data.draw(to_chunks(body))
    outcome(lambda: drain(from_sse(chunks, max_event_bytes=limit, strict_types=strict)))


@fuzz_settings
@given(st.data(), sse_bodies)
def test_from_sse_outcome_does_not_depend_on_the_chunking(data: st.DataObject, body: str) -> None:
    # With the default limit; `test_overlong_lines_are_refused_however_they_are_chunked` covers
    # the limit.
    chunks = data.draw(to_chunks(body, allow_str=False))
    whole = b"".join(c for c in chunks if isinstance(c, bytes))
    assert outcome(lambda: drain(from_sse(chunks))) == outcome(lambda: drain(from_sse([whole])))


# from_ndjson


@fuzz_settings
@given(st.one_of(st.binary(max_size=2000), st.text(max_size=500)), st.integers(1, 64), limits)
def test_from_ndjson_raises_only_decode_error_on_arbitrary_input(
    data: str | bytes, size: int, limit: int
) -> None:
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    outcome(lambda: drain(from_ndjson(chunks, max_event_bytes=limit)))


@fuzz_settings
@given(st.data(), ndjson_bodies, limits, st.booleans())
def test_from_ndjson_raises_only_decode_error_on_json_garbage(
    data: st.DataObject, body: str, limit: int, strict: bool
) -> None:
    chunks = data.draw(to_chunks(body))
    outcome(lambda: drain(from_ndjson(chunks, max_event_bytes=limit, strict_types=strict)))


@fuzz_settings
@given(st.data(), ndjson_bodies)
def test_from_ndjson_outcome_does_not_depend_on_the_chunking(
    data: st.DataObject, body: str
) -> None:
    # With the default limit; `test_overlong_lines_are_refused_however_they_are_chunked` covers
    # the limit.
    chunks = data.draw(to_chunks(body, allow_str=False))
    whole = b"".join(c for c in chunks if isinstance(c, bytes))
    assert outcome(lambda: drain(from_ndjson(chunks))) == outcome(
        lambda: drain(from_ndjson([whole]))
    )


OVERLONG = {
    "sse-data": (from_sse, "data: " + "x" * 100 + "\n"),
    "sse-comment": (from_sse, ": " + "x" * 100 + "\n"),
    "ndjson": (from_ndjson, '"' + "x" * 100 + '"\n'),
    "ndjson-blank": (from_ndjson, " " * 100 + "\n"),
}


@pytest.mark.parametrize("case", sorted(OVERLONG))
@pytest.mark.parametrize("size", [1, 7, 1000])
def test_overlong_lines_are_refused_however_they_are_chunked(case: str, size: int) -> None:
    decoder, line = OVERLONG[case]
    chunks = [line[i : i + size] for i in range(0, len(line), size)]
    with pytest.raises(DecodeError, match="max_event_bytes=10"):
        drain(decoder(chunks, max_event_bytes=10))


# Memory on a huge line: refused at the limit, never buffered whole


def huge_line(prefix: bytes, total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """`prefix` then `total` bytes of `x` without a line end, in chunks made as they are read."""
    block = b"x" * chunk
    yield prefix
    for _ in range(total // chunk):
        yield block


HUGE_LINES = {
    "sse-data": (from_sse, b"event: text_delta\ndata: "),
    "sse-comment": (from_sse, b": "),
    "ndjson": (from_ndjson, b'{"type": "text_delta", "delta": "'),
    "ndjson-blank": (from_ndjson, b" "),
}


@pytest.mark.parametrize("case", sorted(HUGE_LINES))
@pytest.mark.parametrize("limit", [DEFAULT_MAX_EVENT_BYTES, 1 * MIB])
def test_a_64_mib_line_is_refused_at_the_limit_without_buffering_it(case: str, limit: int) -> None:
    decoder, prefix = HUGE_LINES[case]
    total = 64 * MIB
    read = 0

    def counted() -> Iterator[bytes]:
        nonlocal read
        for chunk in huge_line(prefix, total):
            read += len(chunk)
            yield chunk

    tracemalloc.start()
    try:
        with pytest.raises(DecodeError, match=f"max_event_bytes={limit}"):
            drain(decoder(counted(), max_event_bytes=limit))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read < limit + 2 * 64 * 1024, "it stopped reading soon after the limit"
    # The decoder holds at most one limit's worth of the line (plus a chunk and bookkeeping).
    assert peak < limit + 2 * MIB, f"peak {peak / MIB:.1f} MiB for a {limit / MIB:.0f} MiB limit"


def test_data_lines_of_one_sse_event_are_refused_at_the_limit() -> None:
    # SSE joins the `data:` lines of an event: their sum is held to the limit too.
    line = b"data: " + b"d" * 1000 + b"\n"
    count = 0

    def lines() -> Iterator[bytes]:
        nonlocal count
        for _ in range(64 * 1024):
            count += 1
            yield line

    limit = 1 * MIB
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError, match="the data of an event"):
            drain(from_sse(lines(), max_event_bytes=limit))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count * 1000 < limit + 2 * len(line)
    assert peak < limit + 2 * MIB


def test_drain_fails_on_a_decoder_that_waits() -> None:
    async def waits() -> AsyncIterator[Event]:
        await _Suspend()
        yield parse_event(ndjson_line(_an_event()))

    with pytest.raises(AssertionError, match="suspended"):
        drain(waits())


class _Suspend:
    def __await__(self) -> Iterator[None]:
        yield None


def _an_event() -> Event:
    return parse_event('{"type":"text_delta","seq":0,"run_id":"r","timestamp":0,"delta":"x"}')


def test_the_fuzz_profile_is_at_least_100_000_examples() -> None:
    assert settings.get_profile("fuzz").max_examples >= 100_000
