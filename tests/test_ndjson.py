"""NDJSON: exact lines, the opt-in keep-alive, and a decoder fed chunks split anywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import anyio
import pytest
from agents import Agent, Runner

from agentstream import ConfigurationError, DecodeError, Event, TextDelta, UsageUpdated, normalize
from agentstream._ndjson import KEEPALIVE, NDJSONDecoder, from_ndjson, to_ndjson
from agentstream.testing import ScriptedStreamModel, text

from .support.checks import assert_well_formed
from .support.scenarios import Gate, gated_run

BOUND = 10.0
"""Seconds any one wait of these tests may take before the test fails."""
BASE = {"run_id": "run-1", "agent": None, "timestamp": 1}


def delta(value: str, seq: int = 0) -> TextDelta:
    return TextDelta(seq=seq, delta=value, **BASE)


async def aiter_list(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


async def lines_of(events: Iterable[Event], **kw: Any) -> list[str]:
    return [line async for line in to_ndjson(aiter_list(events), **kw)]


async def decode_all(chunks: Any, **kw: Any) -> list[Event]:
    return [e async for e in from_ndjson(chunks, **kw)]


async def test_lines_are_exact() -> None:
    value = "a\nb\r\u2028\x85\0😀"
    assert await lines_of([delta(value)]) == [
        '{"type":"text_delta","seq":0,"run_id":"run-1","agent":null,"timestamp":1,'
        '"delta":"a\\nb\\r\u2028\x85\\u0000😀","message_id":null}\n'
    ]


async def test_keepalive_is_off_by_default_and_an_empty_line_when_asked() -> None:
    gate = Gate()
    run = gated_run(gate)
    lines: list[str] = []
    keepalives = 0
    with anyio.fail_after(BOUND):
        async for line in to_ndjson(normalize(run), heartbeat=0.05):
            lines.append(line)
            if line == KEEPALIVE and gate.started.is_set():
                keepalives += 1
                if keepalives == 2:
                    gate.opened.set()
    assert keepalives == 2
    assert KEEPALIVE == "\n"
    events = await decode_all(lines)
    assert assert_well_formed(events).status == "completed"
    assert KEEPALIVE not in await lines_of([delta("x")])


@pytest.mark.parametrize("heartbeat", [0, -2.5, float("inf"), "1"])
def test_bad_heartbeat_is_refused(heartbeat: Any) -> None:
    with pytest.raises(ConfigurationError, match="heartbeat"):
        to_ndjson(aiter_list([]), heartbeat=heartbeat)


async def test_stopping_early_cancels_the_run() -> None:
    gate = Gate()
    stream = normalize(gated_run(gate))
    lines = to_ndjson(stream)
    with anyio.fail_after(BOUND):
        async for line in lines:
            if '"type":"tool_called"' in line:
                break
        await gate.started.wait()
        await lines.aclose()
    assert gate.cancelled
    assert stream.done is not None
    assert stream.done.status == "cancelled"


EVENTS = [
    delta("héllo\n", 0),
    delta("😀\u2028", 1),
    UsageUpdated(seq=2, usage={"requests": 1, "total_tokens": 3}, **BASE),
]


def splits(body: str) -> Iterable[list[str | bytes]]:
    raw = body.encode()
    for i in range(len(body) + 1):
        yield [body[:i], body[i:]]
    for i in range(len(raw) + 1):
        yield [raw[:i], raw[i:]]
    yield [raw[i : i + 1] for i in range(len(raw))]


def feed_all(chunks: Iterable[str | bytes], **kw: Any) -> list[Event]:
    decoder = NDJSONDecoder(**kw)
    out: list[Event] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    return out + decoder.close()


async def test_decoder_handles_every_split() -> None:
    body = "".join(await lines_of(EVENTS))
    for chunks in splits(body):
        assert feed_all(chunks) == EVENTS, chunks


async def test_blank_lines_crlf_bom_and_a_last_line_without_newline() -> None:
    lines = await lines_of(EVENTS)
    body = "\ufeff\n" + lines[0].replace("\n", "\r\n") + "  \n\r\n" + lines[1] + lines[2].strip()
    for chunks in splits(body):
        assert feed_all(chunks) == EVENTS, chunks
    assert await decode_all(aiter_list([body.encode()])) == EVENTS


async def test_a_cut_last_line_is_an_error() -> None:
    body = "".join(await lines_of(EVENTS))
    with pytest.raises(DecodeError, match="line 3 of the NDJSON stream is not JSON"):
        await decode_all([body[:-5]])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{nope\n", "line 1 of the NDJSON stream is not JSON"),
        ("[1, 2]\n", "line 1 of the NDJSON stream is a JSON list, not an event object"),
        ('{"seq": 1}\n', "line 1 of the NDJSON stream has no string 'type' field"),
        ('{"type": "text_delta"}\n', "line 1 of the NDJSON stream: invalid 'text_delta' event"),
    ],
)
async def test_malformed_lines_say_what_and_where(line: str, message: str) -> None:
    with pytest.raises(DecodeError) as info:
        await decode_all([line])
    assert str(info.value).startswith(message)


async def test_error_messages_quote_only_a_prefix() -> None:
    with pytest.raises(DecodeError) as info:
        await decode_all(["{" + "x" * 100_000 + "\n"])
    assert len(str(info.value)) < 300


async def test_unknown_types_are_skipped_unless_strict() -> None:
    body = '{"type": "from_the_future", "seq": 0}\n' + (await lines_of([delta("a")]))[0]
    assert await decode_all([body]) == [delta("a")]
    with pytest.raises(DecodeError, match=r"line 1 .*unknown event type 'from_the_future'"):
        await decode_all([body], strict_types=True)


def test_line_limit() -> None:
    decoder = NDJSONDecoder(max_event_bytes=10)
    assert decoder.feed("0123456789") == []
    with pytest.raises(DecodeError, match=r"line 1 .*max_event_bytes=10"):
        decoder.feed("0")
    with pytest.raises(DecodeError, match="max_event_bytes=10"):
        NDJSONDecoder(max_event_bytes=10).feed('{"type": "é", "x": 1}\n')


async def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(DecodeError, match="invalid UTF-8"):
        await decode_all([b"\xc3\x28\n"])
    with pytest.raises(DecodeError, match="inside a UTF-8 character"):
        await decode_all([b"\xc3"])


@pytest.mark.parametrize("chunks", ["{}\n", b"{}\n", 1.5])
def test_from_ndjson_wants_an_iterable_of_chunks(chunks: Any) -> None:
    with pytest.raises(ConfigurationError):
        from_ndjson(chunks)


async def test_from_ndjson_closes_its_source() -> None:
    log: list[str] = []
    line = (await lines_of([delta("a")]))[0]

    async def body() -> AsyncIterator[str]:
        try:
            while True:
                yield line
        finally:
            log.append("closed")

    events = from_ndjson(body())
    assert await anext(events) == delta("a")
    await events.aclose()
    assert log == ["closed"]


async def test_a_real_run_round_trips() -> None:
    model = ScriptedStreamModel([text("one two three")])
    stream = normalize(Runner.run_streamed(Agent(name="w", model=model), "x"))
    with anyio.fail_after(BOUND):
        lines = [line async for line in to_ndjson(stream)]
    events = await decode_all(["".join(lines).encode()])
    assert assert_well_formed(events).final_output == "one two three"
    assert all(line.count("\n") == 1 and line.endswith("\n") for line in lines)


async def test_nan_is_not_json() -> None:
    from agentstream import DecodeError
    from agentstream._ndjson import from_ndjson

    line = '{"type":"tool_output","seq":0,"run_id":"r","timestamp":1,"call_id":"c","output":NaN}\n'
    with pytest.raises(DecodeError, match="NaN is not a JSON value"):
        [e async for e in from_ndjson([line])]
