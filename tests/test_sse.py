"""SSE: byte-exact frames, heartbeats against real runs, early close, and the WHATWG decoder."""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import AsyncIterator, Iterable
from typing import Any

import anyio
import pytest
from agents import Agent, Runner

from agentstream import (
    ConfigurationError,
    DecodeError,
    Done,
    Event,
    EventBase,
    Handoff,
    TextDelta,
    normalize,
)
from agentstream._sse import PING, ServerSentEvent, SSEDecoder, from_sse, to_sse
from agentstream.testing import ScriptedStreamModel, fail, text, turn

from .support.checks import assert_well_formed
from .support.scenarios import Gate, gated_run

BOUND = 10.0
"""Seconds any one wait of these tests may take before the test fails."""


def delta(value: str, seq: int = 0, **kw: Any) -> TextDelta:
    return TextDelta(
        seq=seq, run_id="run-1", agent="triage", timestamp=1_700_000_000_000, delta=value, **kw
    )


async def aiter_list(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


async def frames_of(events: Iterable[EventBase], **kw: Any) -> list[str]:
    return [f async for f in to_sse(aiter_list(events), **kw)]


async def decode_all(chunks: Any, **kw: Any) -> list[Event]:
    return [e async for e in from_sse(chunks, **kw)]


# Encoding


async def test_frame_is_byte_exact() -> None:
    value = "a\rb\nc\r\nd\u2028e\u2029f\x85g\0h data: x 😀 \ufeff"
    [frame] = await frames_of([delta(value)])
    assert frame == (
        "id: 0\n"
        "event: text_delta\n"
        'data: {"type":"text_delta","seq":0,"run_id":"run-1","agent":"triage",'
        '"timestamp":1700000000000,"delta":"a\\rb\\nc\\r\\nd\u2028e\u2029f\x85g\\u0000h data: x '
        '😀 \ufeff","message_id":null}\n'
        "\n"
    )
    assert frame.encode("utf-8").count(b"\n") == 4
    assert b"\r" not in frame.encode("utf-8")


async def test_every_control_character_is_escaped_in_data() -> None:
    value = "".join(chr(c) for c in range(0x20)) + "\x7f"
    [frame] = await frames_of([delta(value)])
    data_line = frame.split("\n")[2]
    assert not any(ord(ch) < 0x20 for ch in data_line)
    assert await decode_all([frame]) == [delta(value)]


async def test_text_cannot_forge_an_event() -> None:
    forged = '\n\nid: 9\nevent: done\ndata: {"type":"done"}\n\ndata: {forged}\r\r\n\n'
    event = delta(forged)
    [frame] = await frames_of([event])
    decoder = SSEDecoder()
    dispatched = decoder.feed(frame)
    decoder.close()
    assert len(dispatched) == 1
    assert dispatched[0].event == "text_delta"
    assert await decode_all([frame]) == [event]


class Weird(EventBase):
    """An event whose type and seq are under an attacker's control (a custom subclass)."""

    type: str = "x\r\nevent: done\n\ndata: {}\0"


async def test_event_and_id_values_are_sanitized() -> None:
    weird = Weird(seq=3, run_id="r", timestamp=0)
    [frame] = await frames_of([weird])
    lines = frame.split("\n")
    assert lines[:2] == ["id: 3", "event: xevent: donedata: {}"]
    assert lines[2].startswith("data: {")
    assert lines[3:] == ["", ""]
    [sse] = SSEDecoder().feed(frame)
    assert sse.event == "xevent: donedata: {}"


async def test_retry_comes_once_first_and_pings_are_comments() -> None:
    frames = await frames_of([delta("hi")], retry=2500, heartbeat=None)
    assert frames[0] == "retry: 2500\n\n"
    assert len(frames) == 2
    decoder = SSEDecoder()
    assert decoder.feed("".join(frames) + PING) == [
        ServerSentEvent(event="text_delta", data=delta("hi").model_dump_json(), id="0")
    ]
    assert decoder.retry == 2500


@pytest.mark.parametrize("heartbeat", [0, -1, float("nan"), float("inf"), True, "5"])
def test_bad_heartbeat_is_refused(heartbeat: Any) -> None:
    with pytest.raises(ConfigurationError, match="heartbeat"):
        to_sse(aiter_list([]), heartbeat=heartbeat)


@pytest.mark.parametrize("retry", [-1, 1.5, True, "100"])
def test_bad_retry_is_refused(retry: Any) -> None:
    with pytest.raises(ConfigurationError, match=f"retry.*{retry!r}"):
        to_sse(aiter_list([]), retry=retry)


# Heartbeats and closing, against real runs


async def relay(source: AsyncIterator[Event], log: list[str]) -> AsyncIterator[Event]:
    """A plain async generator around a stream (not an EventStream), recording how it ended."""
    try:
        async for event in source:
            yield event
        log.append("exhausted")
    except asyncio.CancelledError:
        log.append("cancelled")
        raise
    except GeneratorExit:
        log.append("closed")
        raise


@pytest.mark.parametrize("wrap", [False, True], ids=["EventStream", "async-generator"])
async def test_pings_flow_while_a_tool_waits_and_the_run_completes(wrap: bool) -> None:
    gate = Gate()
    stream = normalize(gated_run(gate))
    log: list[str] = []
    source: Any = relay(stream, log) if wrap else stream
    frames: list[str] = []
    pings_while_waiting = 0
    with anyio.fail_after(BOUND):
        async for frame in to_sse(source, heartbeat=0.05):
            frames.append(frame)
            if frame == PING and gate.started.is_set() and not gate.opened.is_set():
                pings_while_waiting += 1
                if pings_while_waiting == 2:
                    gate.opened.set()
    assert pings_while_waiting == 2
    assert gate.finished
    events = await decode_all(frames)
    done = assert_well_formed(events)
    assert done.status == "completed"
    assert done.final_output == "after the gate"
    assert [e.type for e in events].count("tool_output") == 1
    if wrap:
        assert log == ["exhausted"]


async def test_a_ping_never_cancels_or_delays_the_pending_event() -> None:
    waiting = asyncio.Event()
    release = asyncio.Event()
    log: list[str] = []

    async def source() -> AsyncIterator[Event]:
        yield delta("first", 0)
        waiting.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            log.append("cancelled")
            raise
        yield delta("second", 1)

    frames = to_sse(source(), heartbeat=0.01)
    with anyio.fail_after(BOUND):
        assert (await anext(frames)).startswith("id: 0\n")
        assert await anext(frames) == PING
        assert await anext(frames) == PING
        release.set()
        rest = [f async for f in frames]
    assert log == []
    assert [f for f in rest if f != PING] == await frames_of([delta("second", 1)])

    # With a heartbeat that never fires, the event still comes as soon as it is ready.
    waiting.clear()
    release.clear()
    frames = to_sse(source(), heartbeat=3600)
    assert (await anext(frames)).startswith("id: 0\n")
    pending = asyncio.ensure_future(anext(frames))
    with anyio.fail_after(BOUND):
        await waiting.wait()
        release.set()
        assert (await pending).startswith("id: 1\n")
    await frames.aclose()
    assert log == []


async def read_until_the_tool_waits(frames: AsyncIterator[str], gate: Gate) -> None:
    async for frame in frames:
        if frame.startswith("id: ") and "event: tool_called\n" in frame:
            break
    await gate.started.wait()


@pytest.mark.parametrize("how", ["aclose", "cancel"])
@pytest.mark.parametrize("heartbeat", [None, 0.05])
async def test_stopping_early_cancels_the_run(how: str, heartbeat: float | None) -> None:
    gate = Gate()
    stream = normalize(gated_run(gate))
    frames = to_sse(stream, heartbeat=heartbeat)

    async def read() -> None:
        async for _ in frames:
            pass

    with anyio.fail_after(BOUND):
        if how == "aclose":
            await read_until_the_tool_waits(frames, gate)
            await frames.aclose()
        else:
            reader = asyncio.ensure_future(read())
            await gate.started.wait()
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
    assert gate.cancelled
    assert not gate.finished
    assert stream.done is not None
    assert stream.done.status == "cancelled"


async def test_stopping_early_closes_a_plain_source() -> None:
    log: list[str] = []
    gate = Gate()
    frames = to_sse(relay(normalize(gated_run(gate)), log), heartbeat=0.05)
    with anyio.fail_after(BOUND):
        await read_until_the_tool_waits(frames, gate)
        assert await anext(frames) == PING  # the read of the next event is now pending
        await frames.aclose()
    assert log == ["cancelled"]
    assert gate.cancelled


async def test_closing_after_the_retry_line_still_closes_the_source() -> None:
    closed: list[bool] = []

    class Source:
        def __aiter__(self) -> Source:
            return self

        async def __anext__(self) -> Event:
            raise StopAsyncIteration

        async def aclose(self) -> None:
            closed.append(True)

    frames = to_sse(Source(), retry=10)
    assert await anext(frames) == "retry: 10\n\n"
    await frames.aclose()
    assert closed == [True]


@pytest.mark.parametrize("expose", [False, True])
async def test_a_failed_runs_done_hides_internal_text_unless_exposed(expose: bool) -> None:
    secret = "db password is hunter2 at /srv/app/secrets.py"
    model = ScriptedStreamModel([turn(text("partial answer"), fail(RuntimeError(secret)))])
    agent = Agent(name="worker", model=model)
    stream = normalize(Runner.run_streamed(agent, "go"), expose_errors=expose)
    with anyio.fail_after(BOUND):
        body = "".join([f async for f in to_sse(stream, heartbeat=None)])
    events = await decode_all([body.encode()])
    done = assert_well_formed(events)
    assert done.status == "error"
    assert done.error is not None
    assert done.error.type == "RuntimeError"
    assert (secret in body) is expose
    assert (done.error.message == secret) is expose


# Decoding: the WHATWG rules, with the input split at every position


def feed_all(chunks: Iterable[str | bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    decoder.close()
    return out


def splits(body: str) -> Iterable[list[str | bytes]]:
    """The body whole, cut in two at every character and every byte, and one byte at a time."""
    raw = body.encode("utf-8")
    yield [body]
    for i in range(len(body) + 1):
        yield [body[:i], body[i:]]
    for i in range(len(raw) + 1):
        yield [raw[:i], raw[i:]]
    yield [raw[i : i + 1] for i in range(len(raw))]
    yield list(body)


def check(body: str, expected: list[ServerSentEvent]) -> None:
    for chunks in splits(body):
        assert feed_all(chunks) == expected, chunks


def sse(data: str, event: str = "message", id: str = "", retry: int | None = None) -> Any:
    return ServerSentEvent(event=event, data=data, id=id, retry=retry)


def test_whatwg_example_stock_ticker() -> None:
    check("data: YHOO\ndata: +2\ndata: 10\n\n", [sse("YHOO\n+2\n10")])


def test_whatwg_example_ids_and_unterminated_last_event() -> None:
    body = (
        ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n"
    )
    check(body, [sse("first event", id="1"), sse("second event", id="")])


def test_whatwg_example_empty_data_lines() -> None:
    check("data\n\ndata\ndata\n\ndata:", [sse(""), sse("\n")])


def test_whatwg_example_one_space_is_stripped() -> None:
    check("data:test\n\ndata: test\n\n", [sse("test"), sse("test")])


@pytest.mark.parametrize("eol", ["\n", "\r", "\r\n"], ids=["LF", "CR", "CRLF"])
def test_every_line_ending(eol: str) -> None:
    body = eol.join(["event: a", "data: 1", "data: 2", "", "data: 3", "", ""])
    check(body, [sse("1\n2", event="a"), sse("3")])


def test_mixed_line_endings_and_cr_lf_split_apart() -> None:
    check("data: a\r\ndata: b\r\r\ndata: c\n\r\n", [sse("a\nb"), sse("c")])
    assert feed_all(["data: a\r", "\n", "\r", "\n"]) == [sse("a")]
    assert feed_all(["data: a\r", "\r"]) == [sse("a")]


def test_a_cr_ending_a_chunk_ends_its_line_at_once() -> None:
    decoder = SSEDecoder()
    assert decoder.feed("data: a\r") == []
    assert decoder.feed("\r") == [sse("a")]


def test_bom_is_stripped_once_even_split_across_chunks() -> None:
    check("\ufeffdata: a\n\n", [sse("a")])
    check("\ufeff\ufeffdata: a\n\ndata: b\n\n", [sse("b")])
    assert feed_all([b"\xef", b"\xbb", b"\xbf", b"data: a\n\n"]) == [sse("a")]
    assert feed_all(["", "\ufeffdata: a\n\n"]) == [sse("a")]
    check("data: \ufeff\n\n", [sse("\ufeff")])


def test_comments_unknown_fields_and_fields_without_value() -> None:
    body = ":comment\n: another\nfoo: bar\nevent\ndata\n:\n\nevent: e\ndata:x:y\n\n"
    check(body, [sse(""), sse("x:y", event="e")])


def test_event_type_resets_but_id_carries_over() -> None:
    body = "event: a\nid: 7\ndata: 1\n\ndata: 2\n\nid: \ndata: 3\n\n"
    check(body, [sse("1", event="a", id="7"), sse("2", id="7"), sse("3", id="")])


def test_id_with_nul_is_ignored() -> None:
    check("id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n", [sse("a", id="1"), sse("b", id="1")])


def test_retry_is_parsed_only_when_all_digits() -> None:
    body = "retry: 1000\ndata: a\n\nretry: 12a\ndata: b\n\nretry:  5\nretry: \nretry: ٣\n\n"
    check(body, [sse("a", retry=1000), sse("b")])
    decoder = SSEDecoder()
    decoder.feed(body + "retry: 42\n\n")
    assert decoder.retry == 42
    assert decoder.last_event_id == ""


def test_no_data_no_event() -> None:
    check("event: a\nid: 3\n\n\n\nretry: 5\n\n", [])
    decoder = SSEDecoder()
    decoder.feed("id: 3\n\n")
    assert decoder.last_event_id == "3"


def test_unicode_that_is_not_a_line_break_stays_in_the_line() -> None:
    value = "a\u2028b\u2029c\x85d\x0be\x0cf\x1cg😀"
    check(f"data: {value}\n\n", [sse(value)])


def test_field_names_are_case_sensitive_and_exact() -> None:
    check("Data: a\ndata : b\n data: c\ndata: d\n\n", [sse("d")])


def test_line_limit() -> None:
    decoder = SSEDecoder(max_event_bytes=16)
    assert decoder.feed("data: 0123456789") == []  # 16 bytes: at the limit
    with pytest.raises(DecodeError, match=r"a line .* max_event_bytes=16"):
        decoder.feed("A")
    decoder = SSEDecoder(max_event_bytes=16)
    with pytest.raises(DecodeError, match="a line"):
        decoder.feed("data: " + "é" * 6 + "\n")  # 18 bytes, 12 characters
    decoder = SSEDecoder(max_event_bytes=8)
    with pytest.raises(DecodeError, match="a line"):
        decoder.feed(":" + "x" * 20)  # comments are lines too


def test_data_limit_across_lines() -> None:
    decoder = SSEDecoder(max_event_bytes=10)
    assert decoder.feed("data: 0123\ndata: 45\n\n") == [sse("0123\n45")]
    with pytest.raises(DecodeError, match=r"the data of an event .* max_event_bytes=10"):
        decoder.feed("data: 0123\ndata: 4567\ndata: 89\n")


@pytest.mark.parametrize("limit", [0, -5, 1.5, True])
def test_bad_limit_is_refused(limit: Any) -> None:
    with pytest.raises(ConfigurationError, match="max_event_bytes"):
        SSEDecoder(max_event_bytes=limit)


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(DecodeError, match="invalid UTF-8 at byte 8"):
        feed_all([b"data: a", b"\n\xff\n"])
    with pytest.raises(DecodeError, match="ends inside a UTF-8 character"):
        feed_all([b"data: \xe2\x82"])
    with pytest.raises(DecodeError, match="str chunk"):
        feed_all([b"data: \xe2\x82", "\n"])


def test_closed_decoder_refuses_input() -> None:
    decoder = SSEDecoder()
    decoder.close()
    decoder.close()
    with pytest.raises(ConfigurationError, match="closed"):
        decoder.feed("data: a\n\n")


# from_sse: frames back to typed events


async def test_from_sse_reads_sync_and_async_iterables_of_str_and_bytes() -> None:
    events = [
        delta("one", 0),
        Handoff(seq=1, run_id="r", timestamp=5, from_agent="a", to_agent="b"),
    ]
    body = "".join(await frames_of(events, retry=5)) + PING
    raw = body.encode()
    assert await decode_all([body]) == events
    assert await decode_all(aiter_list([raw[:7], raw[7:]])) == events
    assert await decode_all(iter([raw[i : i + 1] for i in range(len(raw))])) == events


async def test_from_sse_reads_the_type_of_a_frame_without_event_from_its_data() -> None:
    # WHATWG calls a frame with no `event:` a `message` event; its data still says its type.
    frame = (await frames_of([delta("hi")]))[0]
    bare = "".join(line + "\n" for line in frame.split("\n")[:-1] if not line.startswith("event:"))
    assert await decode_all([bare + "\n"]) == [delta("hi")]
    with pytest.raises(DecodeError, match="neither an 'event:' field nor a string 'type'"):
        await decode_all(['data: {"kind": "text_delta"}\n\n'])
    with pytest.raises(DecodeError, match="invalid 'text_delta' event"):
        await decode_all(['data: {"type": "text_delta"}\n\n'])
    unknown = 'data: {"type": "brand_new_type"}\n\n'
    assert await decode_all([unknown]) == []
    with pytest.raises(DecodeError, match="unknown event type 'brand_new_type'"):
        await decode_all([unknown], strict_types=True)


async def test_from_sse_skips_unknown_types_unless_strict() -> None:
    known = (await frames_of([delta("kept")]))[0]
    body = 'event: brand_new_type\ndata: {"whatever": 1}\n\n' + known
    assert await decode_all([body]) == [delta("kept")]
    with pytest.raises(DecodeError, match="unknown event type 'brand_new_type'"):
        await decode_all([body], strict_types=True)


async def test_from_sse_names_what_is_wrong_with_a_short_prefix() -> None:
    junk = "x" * 100_000
    with pytest.raises(DecodeError) as info:
        await decode_all([f"event: text_delta\ndata: {junk}\n\n"])
    assert "invalid JSON" in str(info.value)
    assert len(str(info.value)) < 300
    with pytest.raises(DecodeError, match=r"invalid 'text_delta' event: .*delta"):
        await decode_all(
            [
                'event: text_delta\ndata: {"type":"text_delta","seq":0,'
                '"run_id":"r","timestamp":0}\n\n'
            ]
        )


async def test_from_sse_refuses_a_type_that_disagrees_with_its_data() -> None:
    frame = (await frames_of([delta("x")]))[0].replace("event: text_delta", "event: done")
    with pytest.raises(DecodeError, match="'event: done' but its data is a 'text_delta' event"):
        await decode_all([frame])


async def test_from_sse_limit_applies() -> None:
    [frame] = await frames_of([delta("y" * 1000)])
    with pytest.raises(DecodeError, match="max_event_bytes=500"):
        await decode_all([frame], max_event_bytes=500)


@pytest.mark.parametrize("chunks", ["data: x\n\n", b"data: x\n\n", 42, None])
def test_from_sse_wants_an_iterable_of_chunks(chunks: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"chunks|iterable"):
        from_sse(chunks)


async def test_from_sse_closes_its_source_when_stopped_or_failing() -> None:
    log: list[str] = []
    [frame] = await frames_of([delta("a")])

    async def body(extra: str) -> AsyncIterator[str]:
        try:
            yield frame
            yield extra
            yield frame
        finally:
            log.append("closed")

    events = from_sse(body(frame))
    assert await anext(events) == delta("a")
    await events.aclose()
    assert log == ["closed"]
    with pytest.raises(DecodeError):
        await decode_all(body("data: nope\n\n"))
    assert log == ["closed", "closed"]


async def test_a_stream_cut_mid_frame_ends_without_the_cut_event() -> None:
    body = "".join(await frames_of([delta("a", 0), delta("b", 1)]))
    assert await decode_all([body[:-1]]) == [delta("a", 0)]


def test_incremental_utf8_decoder_matches_codecs_for_multibyte_splits() -> None:
    text_value = "é😀中"
    raw = f"data: {text_value}\n\n".encode()
    reference = codecs.decode(raw, "utf-8")
    assert feed_all([raw[:8], raw[8:9], raw[9:]]) == [sse(reference[6:-2])]


async def test_done_round_trips_through_sse() -> None:
    done = Done(seq=4, run_id="r", timestamp=9, status="error", partial_text="half\r\n")
    assert await decode_all(await frames_of([done])) == [done]


def test_a_chunk_that_is_not_text_or_bytes_is_refused() -> None:
    with pytest.raises(DecodeError, match="a chunk must be str or bytes, got int"):
        SSEDecoder().feed(42)  # type: ignore[arg-type]


async def test_decoders_skip_fields_a_newer_server_added_unless_strict() -> None:
    from agentstream import DecodeError, TextDelta
    from agentstream._ndjson import from_ndjson
    from agentstream._sse import from_sse

    data = '{"type":"text_delta","seq":0,"run_id":"r","timestamp":1,"delta":"hi","emotion":"x"}'
    sse = [f"id: 0\nevent: text_delta\ndata: {data}\n\n"]
    (event,) = [e async for e in from_sse(sse)]
    assert isinstance(event, TextDelta) and event.delta == "hi"
    (event,) = [e async for e in from_ndjson([data + "\n"])]
    assert isinstance(event, TextDelta)
    with pytest.raises(DecodeError, match="emotion"):
        [e async for e in from_sse(sse, strict_types=True)]
    with pytest.raises(DecodeError, match="emotion"):
        [e async for e in from_ndjson([data + "\n"], strict_types=True)]


async def test_an_absurd_retry_is_ignored_not_an_error() -> None:
    from agentstream._sse import SSEDecoder

    decoder = SSEDecoder()
    assert decoder.feed("retry: " + "9" * 5000 + "\n\nretry: 1500\n\n") == []
    assert decoder.retry == 1500


async def test_a_cancel_scope_lets_a_plain_source_finish_closing() -> None:
    """Under an anyio cancel scope (Starlette's), closing waits for the pending read, shielded."""
    import anyio

    from agentstream import TextDelta
    from agentstream._sse import to_sse

    cleaned_up = asyncio.Event()

    async def source() -> AsyncIterator[TextDelta]:
        try:
            yield TextDelta(seq=0, run_id="r", timestamp=1, delta="x")
            await asyncio.Event().wait()
        finally:
            for _ in range(3):  # a cleanup that takes a few steps of the loop
                await asyncio.sleep(0)
            cleaned_up.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:

            async def read() -> None:
                async for frame in to_sse(source(), heartbeat=0.05):
                    if frame.startswith(":"):
                        group.cancel_scope.cancel()

            group.start_soon(read)
    assert cleaned_up.is_set()
