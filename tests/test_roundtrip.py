"""Round trips: any events through to_sse -> from_sse and to_ndjson -> from_ndjson, cut anywhere."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentstream import Event
from agentstream._ndjson import KEEPALIVE, from_ndjson, to_ndjson
from agentstream._sse import PING, from_sse, to_sse

from .support.strategies import event_streams, events


async def aiter_list(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


@st.composite
def cuts(draw: st.DrawFn, body: bytes | str) -> list[bytes | str]:
    """`body` cut at random points (possibly inside a UTF-8 character, or between CR and LF)."""
    points = sorted(draw(st.sets(st.integers(0, len(body)), max_size=12)))
    edges = [0, *points, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(edges)]


def with_noise(parts: list[str], noise: str, data: st.DataObject) -> list[str]:
    """Keep-alives slipped in between frames, as a real stream would have them."""
    out: list[str] = []
    for part in parts:
        out.extend([noise] * data.draw(st.integers(0, 2)))
        out.append(part)
    return out


async def encode(encoder: Any, stream: list[Event], **kw: Any) -> list[str]:
    return [f async for f in encoder(aiter_list(stream), heartbeat=None, **kw)]


@settings(max_examples=60)
@given(
    stream=event_streams(),
    data=st.data(),
    as_bytes=st.booleans(),
    retry=st.none() | st.integers(0, 10**6),
)
async def test_sse_round_trip(
    stream: list[Event], data: st.DataObject, as_bytes: bool, retry: int | None
) -> None:
    frames = with_noise(await encode(to_sse, stream, retry=retry), PING, data)
    body: str | bytes = "".join(frames)
    if as_bytes:
        body = body.encode("utf-8")
    chunks = data.draw(cuts(body))
    decoded = [e async for e in from_sse(aiter_list(chunks), strict_types=True)]
    assert decoded == stream


@settings(max_examples=60)
@given(stream=event_streams(), data=st.data(), as_bytes=st.booleans())
async def test_ndjson_round_trip(stream: list[Event], data: st.DataObject, as_bytes: bool) -> None:
    lines = with_noise(await encode(to_ndjson, stream), KEEPALIVE, data)
    body: str | bytes = "".join(lines)
    if as_bytes:
        body = body.encode("utf-8")
    chunks = data.draw(cuts(body))
    decoded = [e async for e in from_ndjson(iter(chunks), strict_types=True)]
    assert decoded == stream


@settings(max_examples=200)
@given(event=events)
async def test_any_single_event_is_one_frame_and_one_line(event: Event) -> None:
    [frame] = await encode(to_sse, [event])
    lines = frame.split("\n")
    assert len(lines) == 5
    assert lines[0] == f"id: {event.seq}"
    assert lines[1] == f"event: {event.type}"
    assert lines[2].startswith("data: ")
    assert lines[3:] == ["", ""]
    assert "\r" not in frame
    [line] = await encode(to_ndjson, [event])
    assert line.count("\n") == 1
    assert line.endswith("\n")
    assert [e async for e in from_sse([frame])] == [event]
    assert [e async for e in from_ndjson([line])] == [event]
