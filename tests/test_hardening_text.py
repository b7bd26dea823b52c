"""Hardening of text and numbers: every stream ends with its `done`, whatever text a run holds.

Lone UTF-16 surrogates become U+FFFD where text enters; non-finite numbers become null; the
decoders refuse what is not strict JSON or not the declared type, and hold a line cut in tiny
chunks at about its own size.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import asyncio
import json
import math
import tracemalloc
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from agents import Agent, Runner, function_tool
from agents.result import RunResultStreaming
from agents.stream_events import RawResponsesStreamEvent
from openai.types.responses import (
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentstream import (
    DecodeError,
    Done,
    ErrorInfo,
    Event,
    ReasoningDelta,
    ReasoningOutput,
    TextDelta,
    ToolArgumentsDelta,
    ToolCallStarted,
    ToolOutput,
    normalize,
    parse_event,
)
from agentstream._chunks import Pieces
from agentstream._events import clean_json, clean_text
from agentstream._failures import describe_failure
from agentstream._mapping import Mapper, to_json_value
from agentstream._ndjson import NDJSONDecoder, from_ndjson, to_ndjson
from agentstream._sse import SSEDecoder, from_sse, to_sse
from agentstream.agui import encode as agui_encode
from agentstream.ai_sdk import encode as ai_sdk_encode
from agentstream.testing import ScriptedStreamModel, reasoning, text, tool_call, turn
from agentstream.web import json_response, stream_response

from .support.checks import assert_well_formed
from .support.http import serve

WAIT = 10.0
"""Bound of every wait in these tests; reaching it fails the test."""

FFFD = "\ufffd"
HIGH, LOW = "\ud83d", "\ude00"  # the two halves of U+1F600


def strict_loads(text: str | bytes) -> Any:
    """`json.loads` that fails on `NaN` and `Infinity`, as JavaScript's `JSON.parse` does."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def surrogate_run(output: object = "order \ud800 shipped") -> RunResultStreaming:
    """A real SDK run: a surrogate pair split across two deltas, then a tool returning `output`."""

    @function_tool
    def lookup(order_id: str) -> Any:
        """Look an order up."""
        return output

    model = ScriptedStreamModel(
        [
            turn(text(["Hi ", HIGH, LOW, " there"]), tool_call("lookup", {"order_id": "A-1"})),
            text(["It ", "shipped", "."]),
        ]
    )
    agent = Agent(name="support", model=model, tools=[lookup])
    return Runner.run_streamed(agent, "where is my order?")


def check_events(events: list[Event], output: object = f"order {FFFD} shipped") -> None:
    """Every event of `surrogate_run` is there, before and after the surrogates, once."""
    done = assert_well_formed(events)
    assert done.status == "completed"
    deltas = [e.delta for e in events if isinstance(e, TextDelta)]
    assert "".join(deltas) == f"Hi {FFFD}{FFFD} thereIt shipped."
    outputs = [e.output for e in events if isinstance(e, ToolOutput)]
    assert outputs == [output]
    assert done.final_output == "It shipped."
    for event in events:  # every event has its UTF-8 form
        assert event.model_dump_json().encode()


async def collect(frames: AsyncIterator[str]) -> str:
    async with asyncio.timeout(WAIT):
        return "".join([frame async for frame in frames])


async def test_to_sse_writes_every_event_and_its_done() -> None:
    body = await collect(to_sse(normalize(surrogate_run()), heartbeat=None))
    events = [e async for e in from_sse([body.encode()], strict_types=True)]
    check_events(events)


async def test_to_ndjson_writes_every_event_and_its_done() -> None:
    body = await collect(to_ndjson(normalize(surrogate_run())))
    events = [e async for e in from_ndjson([body.encode()], strict_types=True)]
    check_events(events)


def data_frames(body: str) -> list[Any]:
    return [
        strict_loads(line.removeprefix("data: "))
        for line in body.split("\n")
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


async def test_agui_writes_every_event_and_finishes() -> None:
    pytest.importorskip("ag_ui")
    body = await collect(agui_encode(normalize(surrogate_run()), heartbeat=None))
    body.encode()
    frames = data_frames(body)
    assert frames[0]["type"] == "RUN_STARTED"
    assert frames[-1]["type"] == "RUN_FINISHED"
    content = "".join(f["delta"] for f in frames if f["type"] == "TEXT_MESSAGE_CONTENT")
    assert content == f"Hi {FFFD}{FFFD} thereIt shipped."
    results = [f["content"] for f in frames if f["type"] == "TOOL_CALL_RESULT"]
    assert results == [f"order {FFFD} shipped"]


async def test_ai_sdk_writes_every_event_and_finishes() -> None:
    body = await collect(ai_sdk_encode(normalize(surrogate_run()), heartbeat=None))
    body.encode()
    assert body.endswith("data: [DONE]\n\n")
    parts = data_frames(body)
    assert parts[-1]["type"] == "finish"
    content = "".join(p["delta"] for p in parts if p["type"] == "text-delta")
    assert content == f"Hi {FFFD}{FFFD} thereIt shipped."
    outputs = [p["output"] for p in parts if p["type"] == "tool-output-available"]
    assert outputs == [f"order {FFFD} shipped"]


def web_app() -> Starlette:
    async def streamed(request: Request) -> Response:
        fmt = request.query_params["format"]
        return stream_response(surrogate_run(), format=fmt, heartbeat=None)  # type: ignore[arg-type]

    async def whole(request: Request) -> Response:
        return json_response(surrogate_run(), heartbeat=None)

    return Starlette(
        routes=[Route("/stream", streamed, methods=["GET"]), Route("/json", whole, methods=["GET"])]
    )


async def test_web_responses_over_http_end_with_their_done() -> None:
    async with (
        serve(web_app()) as base,
        httpx.AsyncClient(base_url=base, timeout=WAIT) as client,
    ):
        response = await client.get("/stream", params={"format": "sse"})
        assert response.status_code == 200
        check_events([e async for e in from_sse([response.content], strict_types=True)])

        response = await client.get("/stream", params={"format": "ndjson"})
        assert response.status_code == 200
        check_events([e async for e in from_ndjson([response.content], strict_types=True)])

        response = await client.get("/json")
        assert response.status_code == 200
        document = strict_loads(response.content)
        events = [parse_event(e, ignore_unknown_fields=False) for e in document["events"]]
        check_events(events)
        assert parse_event(document["done"]) == events[-1]


def lookup_run(*outputs: Any) -> RunResultStreaming:
    @function_tool
    def lookup(order_id: str) -> str:
        """Look an order up."""
        return "found"

    model = ScriptedStreamModel([turn(*outputs), text("ok")])
    return Runner.run_streamed(Agent(name="a", model=model, tools=[lookup]), "q")


async def decoded_ndjson(run: RunResultStreaming) -> list[Event]:
    body = await collect(to_ndjson(normalize(run)))
    return [e async for e in from_ndjson([body.encode()], strict_types=True)]


async def test_reasoning_deltas_are_cleaned_one_by_one() -> None:
    run = lookup_run(reasoning(["think ", HIGH, LOW]), tool_call("lookup", {"order_id": "A"}))
    events = await decoded_ndjson(run)
    assert assert_well_formed(events).status == "completed"
    thought = "".join(e.delta for e in events if isinstance(e, ReasoningDelta))
    assert thought == f"think {FFFD}{FFFD}"
    assert [e.text for e in events if isinstance(e, ReasoningOutput)] == [thought]


def test_argument_deltas_are_cleaned_one_by_one() -> None:
    # A real run cannot carry these arguments (the SDK encodes them in UTF-8 before the model's
    # stream is read), so the SDK's own events go to the mapper.
    mapper = Mapper(SimpleNamespace(name="a", handoffs=[]))
    call = ResponseFunctionToolCall.model_construct(
        type="function_call", call_id="c1", name="lookup", arguments="", id="fc1"
    )
    added = ResponseOutputItemAddedEvent.model_construct(
        type="response.output_item.added", item=call, output_index=0, sequence_number=0
    )
    assert [d.kind for d in mapper.map(RawResponsesStreamEvent(data=added))] == [ToolCallStarted]
    deltas = []
    for piece in ('{"id": "A', HIGH, LOW, '"}'):
        data = ResponseFunctionCallArgumentsDeltaEvent.model_construct(
            type="response.function_call_arguments.delta",
            delta=piece,
            item_id="fc1",
            output_index=0,
            sequence_number=1,
        )
        (draft,) = mapper.map(RawResponsesStreamEvent(data=data))
        assert draft.kind is ToolArgumentsDelta
        deltas.append(draft.fields["delta"])
    assert deltas == ['{"id": "A', FFFD, FFFD, '"}']


NON_FINITE = {"nan": math.nan, "inf": math.inf, "list": [1.5, -math.inf], "text": "\udfff"}
CLEAN = {"nan": None, "inf": None, "list": [1.5, None], "text": FFFD}


@pytest.mark.parametrize("fmt", ["sse", "ndjson", "agui", "ai_sdk"])
async def test_non_finite_tool_output_is_strict_json_in_every_format(fmt: str) -> None:
    if fmt == "agui":
        pytest.importorskip("ag_ui")
    encoders: dict[str, Callable[[Any], AsyncIterator[str]]] = {
        "sse": lambda events: to_sse(events, heartbeat=None),
        "ndjson": to_ndjson,
        "agui": lambda events: agui_encode(events, heartbeat=None),
        "ai_sdk": lambda events: ai_sdk_encode(events, heartbeat=None),
    }
    body = await collect(encoders[fmt](normalize(surrogate_run(NON_FINITE))))
    body.encode()
    if fmt == "ndjson":
        payloads = [strict_loads(line) for line in body.splitlines()]
    else:
        payloads = data_frames(body)
    assert payloads
    if fmt in ("sse", "ndjson"):
        outputs = [p["output"] for p in payloads if p["type"] == "tool_output"]
        assert outputs == [CLEAN]
        assert payloads[-1]["type"] == "done"
    elif fmt == "agui":
        results = [p["content"] for p in payloads if p["type"] == "TOOL_CALL_RESULT"]
        assert [strict_loads(r) for r in results] == [CLEAN]
    else:
        outputs = [p["output"] for p in payloads if p["type"] == "tool-output-available"]
        assert outputs == [CLEAN]


def test_to_json_value_applies_the_one_rule() -> None:
    assert to_json_value(math.nan) is None
    assert to_json_value(-math.inf) is None
    assert to_json_value(f"a{HIGH}{LOW}b") == f"a{FFFD}{FFFD}b"
    assert to_json_value({"x": (math.inf, "\ud800")}) == {"x": [None, FFFD]}
    assert to_json_value({"\udc00": 1}) == {FFFD: 1}
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert to_json_value(deep) == "<list nested too deeply for JSON>"
    clean = {"a": [1, "b", 2.5, None, True]}
    assert clean_json(clean) is clean  # nothing to clean: the same object, no copy
    assert clean_text("plain é 😀") == "plain é 😀"


def test_models_clean_the_text_and_numbers_they_validate() -> None:
    event = TextDelta(seq=0, run_id="r\ud800", timestamp=1, delta=HIGH, agent=LOW)
    assert (event.delta, event.agent, event.run_id) == (FFFD, FFFD, f"r{FFFD}")
    output = ToolOutput(seq=0, run_id="r", timestamp=1, call_id="c", output=NON_FINITE)
    assert output.output == CLEAN
    strict_loads(output.model_dump_json())
    done = Done(
        seq=1,
        run_id="r",
        timestamp=1,
        status="error",
        final_output=math.nan,
        partial_text=f"half {HIGH}",
        error=ErrorInfo(type="X", message=f"bad {LOW}"),
        pending_approvals=("\ud800",),
    )
    assert done.final_output is None
    assert done.partial_text == f"half {FFFD}"
    assert done.error == ErrorInfo(type="X", message=f"bad {FFFD}")
    assert done.pending_approvals == (FFFD,)
    strict_loads(done.model_dump_json())


def test_describe_failure_with_exposed_text_is_clean() -> None:
    info = describe_failure(RuntimeError(f"bad byte {HIGH}"), expose=True)
    assert info.message == f"bad byte {FFFD}"
    info.model_dump_json().encode()


def test_parse_event_cleans_an_escaped_lone_surrogate() -> None:
    line = '{"type":"text_delta","seq":0,"run_id":"r","timestamp":1,"delta":"a\\ud800b"}'
    assert parse_event(line).delta == f"a{FFFD}b"  # type: ignore[union-attr]
    # A pair written as two escapes is one character, as JSON says.
    pair = '{"type":"text_delta","seq":0,"run_id":"r","timestamp":1,"delta":"\\ud83d\\ude00"}'
    assert parse_event(pair).delta == "\U0001f600"  # type: ignore[union-attr]


BASE = '"run_id":"r","timestamp":1,"delta":"x"'


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('{"type":"text_delta","seq":true,' + BASE + "}", "seq"),
        ('{"type":"text_delta","seq":"5",' + BASE + "}", "seq"),
        ('{"type":"text_delta","seq":5.0,' + BASE + "}", "seq"),
        ('{"type":"text_delta","seq":1,"run_id":"r","timestamp":" 7 ","delta":"x"}', "timestamp"),
        ('{"type":"text_delta","seq":1,"run_id":"r","timestamp":false,"delta":"x"}', "timestamp"),
        (
            '{"type":"usage_updated","seq":1,"run_id":"r","timestamp":1,"usage":{"requests":"2"}}',
            "requests",
        ),
        (
            '{"type":"tool_output","seq":1,"run_id":"r","timestamp":1,"call_id":"c",'
            '"output":1e999}',
            "out of range",
        ),
        (
            '{"type":"tool_output","seq":1,"run_id":"r","timestamp":1,"call_id":"c",'
            '"output":[-1e400]}',
            "out of range",
        ),
        (
            '{"type":"tool_output","seq":1,"run_id":"r","timestamp":1,"call_id":"c","output":NaN}',
            "NaN is not a JSON value",
        ),
        (
            '{"type":"tool_output","seq":1,"run_id":"r","timestamp":1,"call_id":"c",'
            '"output":-Infinity}',
            "Infinity is not a JSON value",
        ),
    ],
)
async def test_decoders_are_strict(line: str, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        parse_event(line)
    with pytest.raises(DecodeError, match=match):
        [e async for e in from_ndjson([line + "\n"])]
    event = json.loads(line, parse_constant=str)["type"]
    with pytest.raises(DecodeError, match=match):
        [e async for e in from_sse([f"event: {event}\ndata: {line}\n\n"])]
    with pytest.raises(DecodeError, match=match):
        [e async for e in from_sse([f"data: {line}\n\n"])]


async def test_from_sse_reads_a_frame_without_event_by_its_data() -> None:
    events = [
        TextDelta(seq=0, run_id="r", timestamp=1, delta="hi"),
        Done(seq=1, run_id="r", timestamp=2, status="completed"),
    ]
    body = "".join(f"id: {e.seq}\ndata: {e.model_dump_json()}\n\n" for e in events)
    assert [e async for e in from_sse([body])] == events
    raw = body.encode()
    assert [e async for e in from_sse([raw[i : i + 1] for i in range(len(raw))])] == events


LIMIT = 256 * 1024


def peak_while(feed: Callable[[], None]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        feed()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("piece", ["a", "é", "€", "ab", "\U0001f600"])
@pytest.mark.parametrize("kind", ["sse data", "sse comment", "ndjson"])
def test_a_line_in_tiny_chunks_stays_near_its_own_size(kind: str, piece: str) -> None:
    """Pieces of one or two characters: a list of them would cost 8 to 28 times the text."""
    decoder: SSEDecoder | NDJSONDecoder = (
        NDJSONDecoder(max_event_bytes=LIMIT)
        if kind == "ndjson"
        else SSEDecoder(max_event_bytes=LIMIT)
    )
    start = {"sse data": "data: ", "sse comment": ": ", "ndjson": '{"x":"'}[kind]
    fed = [0]
    errors: list[str] = []

    def feed() -> None:
        decoder.feed(start)
        try:
            while True:
                decoder.feed(piece)
                fed[0] += len(piece.encode())
        except DecodeError as exc:
            errors.append(str(exc))

    peak = peak_while(feed)
    assert "max_event_bytes" in errors[0]
    assert LIMIT - len(start) - 4 <= fed[0] <= LIMIT  # refused as soon as the limit is passed
    # The text is at most LIMIT bytes in UTF-8, and no larger as `str` (1, 2 or 4 bytes a
    # character); the pieces cost an eighth more at most, plus what a decoder holds anyway.
    assert peak <= LIMIT + LIMIT // 8 + 64 * 1024


def test_many_short_sse_data_lines_stay_near_their_size() -> None:
    decoder = SSEDecoder(max_event_bytes=LIMIT)
    errors: list[str] = []

    def feed() -> None:
        try:
            while True:
                decoder.feed("data:\n")  # each adds one byte (its line feed) to the data
        except DecodeError as exc:
            errors.append(str(exc))

    assert peak_while(feed) <= LIMIT + LIMIT // 8 + 64 * 1024
    assert "the data of an event" in errors[0]


def test_pieces_join_to_their_text() -> None:
    pieces = Pieces()
    assert not pieces
    expected = []
    for i in range(3000):
        piece = "x" * (i % 7) + ("é" if i % 5 == 0 else "")
        pieces.append(piece)
        expected.append(piece)
    pieces.append("y" * 20_000)
    expected.append("y" * 20_000)
    assert pieces
    assert pieces.size == len("".join(expected).encode())
    assert pieces.take("end") == "".join(expected) + "end"
    assert not pieces
    assert pieces.size == 0
    assert pieces.take() == ""
