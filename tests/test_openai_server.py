"""The local OpenAI-compatible server: wire shapes, the SDK's real models on it, and faults.

Facts recorded here (openai-agents 0.24, openai 3.x), for the rest of the package:

- Provider failures come out of ``stream_events()`` as the ``openai`` exceptions, untouched:
  HTTP 500 -> ``InternalServerError``, 429 -> ``RateLimitError``, a reset socket ->
  ``APIConnectionError`` (cause: the HTTP library's ``ReadError``), a stall past the client's
  timeout -> ``APITimeoutError``, a stall ended by the server -> ``APIConnectionError``,
  malformed SSE data -> ``json.JSONDecodeError`` (not wrapped), an in-stream error with a
  nested ``error`` object -> ``openai.APIError``. Only the documented flat ``error`` event and
  ``response.failed`` (Responses path) become ``agents.ModelBehaviorError``, after the raw
  event itself was streamed.
- A consumer that does nothing between events sees every event produced before the failure;
  a slow one loses what was still queued when the run loop failed.
- A failed model call adds nothing to ``context_wrapper.usage``; calls that completed
  before it keep their usage.
- Chat Completions on a non-OpenAI base URL sends no ``stream_options``: usage stays zero
  unless ``ModelSettings(include_usage=True)``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import TYPE_CHECKING, Any

import openai
import pytest
from agents import Agent, Runner, function_tool
from agents.exceptions import ModelBehaviorError
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.completion_usage import CompletionUsage
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from agentstream.testing import (
    OpenAIServer,
    ScriptNotFinishedError,
    Turn,
    error_event_after,
    fail,
    handoff,
    http_error,
    malformed_after,
    reasoning,
    reset_after,
    stall_after,
    text,
    tool_call,
    turn,
)

from .support.scenarios import get_time, get_weather
from .support.wire import KINDS, LIMIT, RUN_CONFIG, SETTINGS, make_model

if TYPE_CHECKING:
    from collections.abc import Callable

    from agents.result import RunResultStreaming
    from agents.stream_events import StreamEvent

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

STREAM_EVENT = TypeAdapter(ResponseStreamEvent)


# -- helpers ---------------------------------------------------------------------------


async def collect(
    result: RunResultStreaming,
    *,
    limit: float = LIMIT,
    after_first: Callable[[], Any] | None = None,
) -> tuple[list[StreamEvent], Exception | None]:
    """Consume the stream plainly; return the events and the exception it raised."""
    events: list[StreamEvent] = []

    async def consume() -> None:
        async for event in result.stream_events():
            events.append(event)
            if after_first is not None and len(events) == 1:
                await after_first()

    try:
        await asyncio.wait_for(consume(), limit)
    except asyncio.TimeoutError:
        raise
    except Exception as exc:
        return events, exc
    finally:
        task = result.run_loop_task
        if task is not None and not task.done():
            result.cancel()
            await asyncio.wait({task}, timeout=LIMIT)
    return events, None


def names(events: list[StreamEvent]) -> list[str]:
    out: list[str] = []
    for event in events:
        if event.type == "raw_response_event":
            out.append(event.data.type)
        elif event.type == "run_item_stream_event":
            out.append(event.name)
        else:
            out.append(f"agent:{event.new_agent.name}")
    return out


def raw(events: list[StreamEvent], type_: str) -> list[Any]:
    return [e.data for e in events if e.type == "raw_response_event" and e.data.type == type_]


def deltas(events: list[StreamEvent]) -> list[str]:
    return [d.delta for d in raw(events, "response.output_text.delta")]


async def raw_post(server: OpenAIServer, path: str, body: Any) -> tuple[int, dict[str, str], bytes]:
    """POST with a bare socket; return status, headers and the de-chunked body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + data)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), LIMIT)
    finally:
        writer.close()
        await writer.wait_closed()
    head_bytes, _, rest = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body_bytes = b""
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                assert rest == b"\r\n"
                break
            body_bytes += rest[:size]
            assert rest[size : size + 2] == b"\r\n"
            rest = rest[size + 2 :]
    else:
        body_bytes = rest
        assert len(body_bytes) == int(headers["content-length"])
    return int(status_line.split(" ")[1]), headers, body_bytes


def sse_frames(body: bytes) -> list[tuple[str | None, str]]:
    """Split an SSE body into (event, data) frames; every frame ends with a blank line."""
    text = body.decode()
    assert text.endswith("\n\n")
    frames: list[tuple[str | None, str]] = []
    for block in text[:-2].split("\n\n"):
        event = None
        data = []
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if field == "event":
                event = value
            else:
                assert field == "data", line
                data.append(value)
        frames.append((event, "\n".join(data)))
    return frames


RESPONSES_BODY = {"model": "gpt-test", "input": "hi", "stream": True}
CHAT_BODY = {
    "model": "gpt-test",
    "messages": [{"role": "user", "content": "hi"}],
    "stream": True,
    "stream_options": {"include_usage": True},
}


# -- wire shapes -----------------------------------------------------------------------


async def test_responses_stream_wire_shape() -> None:
    answer = turn(
        reasoning(["Think", "ing."]),
        text(["Hel", "lo"]),
        tool_call("get_weather", '{"city":"Paris"}', call_id="call_x", chunks=3),
        input_tokens=12,
        output_tokens=7,
        reasoning_tokens=3,
        cached_tokens=2,
    )
    async with OpenAIServer([answer]) as server:
        status, headers, body = await raw_post(server, "/v1/responses", RESPONSES_BODY)
    assert status == 200
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["transfer-encoding"] == "chunked"
    frames = sse_frames(body)
    events = [STREAM_EVENT.validate_json(data) for _, data in frames]
    for (event_name, data), event in zip(frames, events, strict=True):
        assert event_name == event.type == json.loads(data)["type"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    first = json.loads(frames[0][1])
    assert first["response"]["status"] == "in_progress"
    assert first["response"]["output"] == []
    assert first["response"]["usage"] is None
    text_delta = json.loads(frames[11][1])
    assert list(text_delta) == [
        "type",
        "sequence_number",
        "item_id",
        "output_index",
        "content_index",
        "delta",
        "logprobs",
        "obfuscation",
    ]
    done_items = [e.item for e in events if e.type == "response.output_item.done"]
    added_items = [e.item for e in events if e.type == "response.output_item.added"]
    assert [i.id for i in added_items] == [i.id for i in done_items]
    assert [i.status for i in added_items[1:]] == ["in_progress", "in_progress"]
    completed = events[-1]
    assert completed.type == "response.completed"
    response = completed.response
    assert response.status == "completed"
    assert response.model == "gpt-test"
    assert response.output == done_items
    assert response.output_text == "Hello"
    reasoning_item, message, call = response.output
    assert reasoning_item.type == "reasoning"
    assert reasoning_item.summary[0].text == "Thinking."
    assert message.type == "message"
    assert message.content[0].type == "output_text"
    assert call.type == "function_call"
    assert (call.name, call.call_id, call.arguments) == (
        "get_weather",
        "call_x",
        '{"city":"Paris"}',
    )
    arg_deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert "".join(arg_deltas) == '{"city":"Paris"}'
    assert all(e.item_id == call.id for e in events if e.type.startswith("response.function_call"))
    usage = json.loads(frames[-1][1])["response"]["usage"]
    assert usage == {
        "input_tokens": 12,
        "input_tokens_details": {"cache_write_tokens": 0, "cached_tokens": 2},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 3},
        "total_tokens": 19,
    }


async def test_chat_stream_wire_shape() -> None:
    answer = turn(
        text(["Let me ", "check."]),
        tool_call("get_weather", '{"city":"Paris"}', call_id="call_a", chunks=2),
        tool_call("get_time", '{"city":"Rome"}', call_id="call_b", chunks=2),
        input_tokens=30,
        output_tokens=9,
        reasoning_tokens=2,
        cached_tokens=4,
    )
    async with OpenAIServer([answer]) as server:
        status, headers, body = await raw_post(server, "/v1/chat/completions", CHAT_BODY)
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    frames = sse_frames(body)
    assert all(event is None for event, _ in frames)
    assert frames[-1][1] == "[DONE]"
    payloads = [json.loads(data) for _, data in frames[:-1]]
    chunks = [ChatCompletionChunk.model_validate(p) for p in payloads]
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].id.startswith("chatcmpl-")
    assert all(p["usage"] is None for p in payloads[:-1])
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "Let me check."
    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            if tc.id:
                assert not entry["id"], "id only in the first delta of a call"
                entry["id"] = tc.id
                assert tc.type == "function"
            if tc.function and tc.function.name:
                entry["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                entry["arguments"] += tc.function.arguments
    assert calls == {
        0: {"id": "call_a", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        1: {"id": "call_b", "name": "get_time", "arguments": '{"city":"Rome"}'},
    }
    finish = chunks[-2]
    assert finish.choices[0].finish_reason == "tool_calls"
    assert finish.choices[0].delta.model_dump(exclude_none=True) == {}
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage == CompletionUsage.model_validate(payloads[-1]["usage"])
    assert payloads[-1]["usage"]["prompt_tokens"] == 30
    assert payloads[-1]["usage"]["completion_tokens"] == 9
    assert payloads[-1]["usage"]["total_tokens"] == 39
    assert payloads[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 4
    assert payloads[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == 2


async def test_chat_stream_without_usage_or_obfuscation() -> None:
    body = {
        "model": "gpt-test",
        "messages": [],
        "stream": True,
        "stream_options": {"include_obfuscation": False},
    }
    async with OpenAIServer([text(["a", "b"])]) as server:
        _, _, raw_body = await raw_post(server, "/v1/chat/completions", body)
    payloads = [json.loads(data) for _, data in sse_frames(raw_body)[:-1]]
    assert all("usage" not in p and "obfuscation" not in p for p in payloads)
    assert payloads[-1]["choices"][0]["finish_reason"] == "stop"


async def test_non_streamed_wire_shapes() -> None:
    script = [
        turn(text(["Hel", "lo"]), input_tokens=3, output_tokens=2),
        tool_call("get_weather", {"city": "Oslo"}, call_id="call_1"),
        turn(text(["Hi"]), input_tokens=4, output_tokens=1),
    ]
    async with OpenAIServer(script) as server:
        body = {"model": "gpt-test", "input": "hi"}
        status, headers, data = await raw_post(server, "/v1/responses", body)
        assert status == 200
        assert headers["content-type"] == "application/json"
        response = Response.model_validate_json(data)
        assert response.status == "completed"
        assert response.output_text == "Hello"
        assert response.usage is not None
        assert response.usage.total_tokens == 5

        chat_body = {"model": "gpt-test", "messages": []}
        _, _, data = await raw_post(server, "/v1/chat/completions", chat_body)
        completion = ChatCompletion.model_validate_json(data)
        choice = completion.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content is None
        assert choice.message.tool_calls is not None
        assert choice.message.tool_calls[0].id == "call_1"

        _, _, data = await raw_post(server, "/v1/chat/completions", chat_body)
        completion = ChatCompletion.model_validate_json(data)
        assert completion.choices[0].message.content == "Hi"
        assert completion.usage is not None
        assert completion.usage.total_tokens == 5
        assert [r.path for r in server.requests] == [
            "/v1/responses",
            "/v1/chat/completions",
            "/v1/chat/completions",
        ]
        assert server.requests[0].body == body
        assert not server.requests[0].stream
    server.assert_complete()


async def test_error_answers_and_bookkeeping() -> None:
    async with OpenAIServer([http_error(429, retry_after=2)]) as server:
        status, _, data = await raw_post(server, "/v1/models", {})
        assert status == 404
        assert "error" in json.loads(data)
        assert server.model_requests == []

        status, headers, data = await raw_post(server, "/v1/responses", RESPONSES_BODY)
        assert status == 429
        assert headers["retry-after"] == "2"
        assert json.loads(data)["error"]["code"] == "rate_limit_exceeded"

        status, _, data = await raw_post(server, "/v1/responses", RESPONSES_BODY)
        assert status == 500
        assert "No scripted turn left" in json.loads(data)["error"]["message"]
        assert len(server.model_requests) == 2
        server.add(text("unused"))
        assert server.remaining == 1
        with pytest.raises(AssertionError, match="1 scripted turn"):
            server.assert_complete()


async def test_pacing_delays_each_delta() -> None:
    async with OpenAIServer([turn(text(["a", "b", "c", "d"]), delay=0.05)]) as server:
        started = time.monotonic()
        await raw_post(server, "/v1/responses", RESPONSES_BODY)
        assert time.monotonic() - started >= 0.2


async def test_server_stops_cleanly() -> None:
    before = asyncio.all_tasks()
    server = OpenAIServer([text(["a"]), turn(text(["b"]), fault=stall_after(0))])
    async with server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        client = server.client()
        stream = await client.responses.create(model="gpt-test", input="hi", stream=True)
        async for _ in stream:
            pass

        async def read_stalled() -> None:
            stalled = await client.responses.create(model="gpt-test", input="hi", stream=True)
            async for _ in stalled:
                pass

        reader = asyncio.ensure_future(read_stalled())
        await asyncio.wait_for(server.stalled.wait(), LIMIT)
        port = server.port
    # Leaving the block closed the stalled connection under the reader.
    with pytest.raises(openai.APIConnectionError):
        await asyncio.wait_for(reader, LIMIT)
    with pytest.raises(OSError):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), LIMIT)
    assert asyncio.all_tasks() - before == set()
    assert client.is_closed()
    server.assert_complete()


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, dict[str, str], bytes]:
    """Send one request on an open connection; read one response with a Content-Length."""
    writer.write(request)
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), LIMIT)
    status_line, *lines = head.decode("latin-1").strip().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), LIMIT)
    return int(status_line.split(" ")[1]), headers, body


def post(path: str, body: Any, *extra: str, chunked: bool = False) -> bytes:
    data = json.dumps(body).encode()
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", *extra]
    if chunked:
        # The body in two chunks, as a client streaming its upload sends it.
        half = len(data) // 2
        chunks = b"".join(
            f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (data[:half], data[half:])
        )
        return (
            ("\r\n".join([*lines, "Transfer-Encoding: chunked"]) + "\r\n\r\n").encode()
            + chunks
            + b"0\r\n\r\n"
        )
    return ("\r\n".join([*lines, f"Content-Length: {len(data)}"]) + "\r\n\r\n").encode() + data


async def test_http_keep_alive_chunked_upload_and_continue() -> None:
    whole = {"model": "gpt-test", "input": "hi"}
    async with OpenAIServer([text(["a"]), text(["b"]), text(["c"])]) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            answers = [
                await exchange(reader, writer, post("/v1/responses", whole)),
                await exchange(reader, writer, post("/v1/responses", whole, chunked=True)),
            ]
            # A client that asks to continue sends its body only after the interim answer.
            request = post("/v1/responses", whole, "Expect: 100-continue")
            head, _, data = request.partition(b"\r\n\r\n")
            writer.write(head + b"\r\n\r\n")
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), LIMIT)
            answers.append(await exchange(reader, writer, data))
        finally:
            writer.close()
            await writer.wait_closed()
    assert interim.startswith(b"HTTP/1.1 100 ")
    assert [status for status, _, _ in answers] == [200, 200, 200]
    texts = [Response.model_validate_json(body).output_text for _, _, body in answers]
    assert texts == ["a", "b", "c"]
    assert [r.body for r in server.requests] == [whole, whole, whole]
    assert server.remaining == 0
    assert not server.errors


async def test_a_request_that_is_not_http_gets_400_and_is_closed() -> None:
    async with OpenAIServer([text(["a"])]) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            status, _, body = await exchange(reader, writer, b"NOT HTTP AT ALL\r\n\r\n")
            assert await asyncio.wait_for(reader.read(), LIMIT) == b""
        finally:
            writer.close()
            await writer.wait_closed()
    assert status == 400
    assert json.loads(body)["error"]["type"] == "invalid_request_error"
    assert server.requests == [] and server.remaining == 1 and not server.errors


async def test_ids_differ_across_servers_unless_sequential() -> None:
    def script() -> list[Turn]:
        return [turn(text(["Hi"]), tool_call("get_weather", {"city": "Oslo"}))]

    def ids(body: bytes) -> list[str]:
        response = Response.model_validate_json(body)
        message, call = response.output
        assert message.type == "message" and call.type == "function_call"
        return [response.id, message.id, call.id or "", call.call_id]

    seen: list[list[str]] = []
    for style in ("unique", "unique", "sequential", "sequential"):
        async with OpenAIServer(script(), ids=style) as server:  # type: ignore[arg-type]
            _, headers, body = await raw_post(server, "/v1/responses", {"input": "hi"})
        seen.append([*ids(body), headers["x-request-id"]])
    assert len(set(seen[0]) | set(seen[1])) == 10
    assert seen[2] == seen[3] == ["resp_1", "msg_resp_1_0", "fc_resp_1_1", "call_1", "req_1"]


async def test_a_script_the_server_cannot_play_from_a_factory_is_a_server_error() -> None:
    async with OpenAIServer(lambda prompt: [turn(fail(RuntimeError(prompt)))]) as server:
        status, _, body = await raw_post(server, "/v1/responses", {"input": "secret plan"})
    assert status == 500
    assert "cannot play Fail" in json.loads(body)["error"]["message"]
    assert [type(e).__name__ for e in server.errors] == ["ScriptError"]
    with pytest.raises(ScriptNotFinishedError, match="the server failed"):
        server.assert_complete()


# -- the SDK's real models on the server ---------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_streamed_text_answer(kind: str) -> None:
    answer = turn(text(["The ", "answer ", "is ", "42."]), input_tokens=11, output_tokens=4)
    async with OpenAIServer([answer]) as s:
        agent = Agent(name="assistant", model=make_model(kind, s), model_settings=SETTINGS)
        result = Runner.run_streamed(agent, "question?", run_config=RUN_CONFIG)
        events, error = await collect(result)
    assert error is None
    assert deltas(events) == ["The ", "answer ", "is ", "42."]
    assert result.final_output == "The answer is 42."
    seen = names(events)
    assert seen[0] == "agent:assistant"
    assert seen[-1] == "message_output_created"
    assert seen.index("response.completed") < seen.index("message_output_created")
    usage = result.context_wrapper.usage
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == (1, 11, 4)
    assert usage.total_tokens == 15


@pytest.mark.parametrize("kind", KINDS)
async def test_function_tool_then_answer(kind: str) -> None:
    script = [
        tool_call("get_weather", {"city": "Paris"}, call_id="call_1", chunks=3),
        text(["It is ", "sunny."]),
    ]
    async with OpenAIServer(script) as server:
        model = make_model(kind, server)
        agent = Agent(name="a", model=model, tools=[get_weather], model_settings=SETTINGS)
        result = Runner.run_streamed(agent, "weather?", run_config=RUN_CONFIG)
        events, error = await collect(result)
        assert error is None
        server.assert_complete()
    assert result.final_output == "It is sunny."
    args = [d.delta for d in raw(events, "response.function_call_arguments.delta")]
    assert "".join(args) == '{"city": "Paris"}'
    assert len(args) == 3
    items = [e for e in events if e.type == "run_item_stream_event"]
    assert [e.name for e in items] == ["tool_called", "tool_output", "message_output_created"]
    assert items[1].item.output == "sunny in Paris"
    assert result.context_wrapper.usage.requests == 2
    second = server.model_requests[1].body
    if kind == "responses":
        outputs = [i for i in second["input"] if i.get("type") == "function_call_output"]
        assert outputs == [
            {"call_id": "call_1", "output": "sunny in Paris", "type": "function_call_output"}
        ]
        assert second["tools"][0]["name"] == "get_weather"
    else:
        tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
        assert tool_messages == [
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny in Paris"}
        ]
        assert second["tools"][0]["function"]["name"] == "get_weather"


@pytest.mark.parametrize("kind", KINDS)
async def test_parallel_tool_calls(kind: str) -> None:
    script = [
        turn(
            tool_call("get_weather", {"city": "Paris"}, call_id="call_w"),
            tool_call("get_time", {"city": "Rome"}, call_id="call_t", chunks=2),
        ),
        text(["Done."]),
    ]
    async with OpenAIServer(script) as server:
        model = make_model(kind, server)
        agent = Agent(name="a", model=model, tools=[get_weather, get_time], model_settings=SETTINGS)
        result = Runner.run_streamed(agent, "both?", run_config=RUN_CONFIG)
        events, error = await collect(result)
    assert error is None
    outputs = sorted(
        e.item.output
        for e in events
        if e.type == "run_item_stream_event" and e.name == "tool_output"
    )
    assert outputs == ["noon in Rome", "sunny in Paris"]
    assert result.final_output == "Done."


@pytest.mark.parametrize("kind", KINDS)
async def test_handoff(kind: str) -> None:
    script = [handoff("billing", call_id="call_h"), text(["Your invoice ", "is paid."])]
    async with OpenAIServer(script) as server:
        model = make_model(kind, server)
        billing = Agent(name="billing", model=model, model_settings=SETTINGS)
        triage = Agent(name="triage", model=model, handoffs=[billing], model_settings=SETTINGS)
        result = Runner.run_streamed(triage, "billing?", run_config=RUN_CONFIG)
        events, error = await collect(result)
    assert error is None
    story = [n for n in names(events) if not n.startswith("response.")]
    assert story == [
        "agent:triage",
        "handoff_requested",
        "handoff_occured",
        "agent:billing",
        "message_output_created",
    ]
    assert result.last_agent.name == "billing"
    assert result.final_output == "Your invoice is paid."
    first_tools = server.model_requests[0].body["tools"]
    tool_names = [t.get("name") or t["function"]["name"] for t in first_tools]
    assert tool_names == ["transfer_to_billing"]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_factory_serves_20_concurrent_runs_each_its_own_script(kind: str) -> None:
    """One server as a development server: every run plays the script made for its prompt."""
    arrived = 0
    all_in = asyncio.Event()

    @function_tool
    async def find(who: str) -> str:
        """Find someone."""
        nonlocal arrived
        arrived += 1
        if arrived == 20:
            all_in.set()
        # Every run is now between its model calls, so the server must tell them apart.
        await asyncio.wait_for(all_in.wait(), LIMIT)
        return f"found {who}"

    def script_for(prompt: str) -> list[Any]:
        return [
            handoff("finder"),
            tool_call("find", {"who": prompt}, chunks=2),
            text([f"Answer for {prompt}", "."]),
        ]

    async with OpenAIServer(script_for) as server:
        model = make_model(kind, server)
        finder = Agent(name="finder", model=model, tools=[find], model_settings=SETTINGS)
        triage = Agent(name="triage", model=model, handoffs=[finder], model_settings=SETTINGS)

        async def one(i: int) -> tuple[str, list[str], str]:
            result = Runner.run_streamed(triage, f"user {i}", run_config=RUN_CONFIG)
            events, error = await collect(result)
            assert error is None
            outputs = [e.item.output for e in events if getattr(e, "name", "") == "tool_output"]
            return result.final_output, outputs, result.last_agent.name

        results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(20))), LIMIT)
        server.assert_complete()
    assert results == [(f"Answer for user {i}.", [f"found user {i}"], "finder") for i in range(20)]
    assert len(server.model_requests) == 60


async def test_reasoning_on_both_paths() -> None:
    def script() -> list[Turn]:
        answer = [reasoning(["Two plus ", "two."]), text(["Four."])]
        return [turn(*answer, input_tokens=8, output_tokens=7, reasoning_tokens=5)]

    async with OpenAIServer(script()) as server:
        agent = Agent(name="a", model=make_model("responses", server))
        result = Runner.run_streamed(agent, "2+2?", run_config=RUN_CONFIG)
        events, error = await collect(result)
    assert error is None
    summary = [d.delta for d in raw(events, "response.reasoning_summary_text.delta")]
    assert summary == ["Two plus ", "two."]
    assert "reasoning_item_created" in names(events)
    assert result.final_output == "Four."
    usage = result.context_wrapper.usage
    assert (usage.output_tokens, usage.output_tokens_details.reasoning_tokens) == (7, 5)

    async with OpenAIServer(script()) as server:
        agent = Agent(name="a", model=make_model("chat", server), model_settings=SETTINGS)
        result = Runner.run_streamed(agent, "2+2?", run_config=RUN_CONFIG)
        events, error = await collect(result)
    assert error is None
    assert "reasoning_item_created" not in names(events)
    assert not raw(events, "response.reasoning_summary_text.delta")
    assert result.final_output == "Four."
    usage = result.context_wrapper.usage
    assert (usage.output_tokens, usage.output_tokens_details.reasoning_tokens) == (7, 5)


def conversation() -> list[Turn]:
    return [
        turn(
            tool_call("get_weather", {"city": "Lima"}, call_id="call_1"),
            input_tokens=20,
            output_tokens=6,
        ),
        turn(
            tool_call("transfer_to_billing", {}, call_id="call_2"), input_tokens=40, output_tokens=3
        ),
        turn(text(["Lima is ", "sunny; ", "invoice paid."]), input_tokens=60, output_tokens=9),
    ]


async def run_conversation(kind: str) -> tuple[RunResultStreaming, list[StreamEvent]]:
    async with OpenAIServer(conversation()) as server:
        model = make_model(kind, server)
        billing = Agent(name="billing", model=model, model_settings=SETTINGS)
        triage = Agent(
            name="triage",
            model=model,
            tools=[get_weather],
            handoffs=[billing],
            model_settings=SETTINGS,
        )
        result = Runner.run_streamed(triage, "weather, then billing", run_config=RUN_CONFIG)
        events, error = await collect(result)
        assert error is None
        server.assert_complete()
    return result, events


async def test_same_conversation_same_result_on_both_paths() -> None:
    responses, responses_events = await run_conversation("responses")
    chat, chat_events = await run_conversation("chat")
    assert responses.final_output == chat.final_output == "Lima is sunny; invoice paid."
    assert responses.last_agent.name == chat.last_agent.name == "billing"
    for result in (responses, chat):
        usage = result.context_wrapper.usage
        assert (usage.requests, usage.input_tokens, usage.output_tokens) == (3, 120, 18)
        assert usage.total_tokens == 138

    def story(events: list[StreamEvent]) -> list[str]:
        return [n for n in names(events) if not n.startswith("response.")]

    assert story(responses_events) == story(chat_events)
    assert deltas(responses_events) == deltas(chat_events)


async def test_stream_events_differ_between_paths() -> None:
    """What differs: item ids, and which raw events the Chat Completions path synthesizes."""
    responses, responses_events = await run_conversation("responses")
    _, chat_events = await run_conversation("chat")
    responses_types = {n for n in names(responses_events) if n.startswith("response.")}
    chat_types = {n for n in names(chat_events) if n.startswith("response.")}
    assert responses_types - chat_types == {
        "response.in_progress",
        "response.output_text.done",
        "response.function_call_arguments.done",
    }
    assert chat_types <= responses_types
    # Responses keeps the server's item ids; the chat path uses one placeholder for all.
    response_ids = {d.item_id for d in raw(responses_events, "response.output_text.delta")}
    assert response_ids == {responses.new_items[-1].raw_item.id}
    assert all(i.startswith("msg_") for i in response_ids)
    chat_ids = {d.item_id for d in raw(chat_events, "response.output_text.delta")}
    chat_ids |= {d.item_id for d in raw(chat_events, "response.function_call_arguments.delta")}
    assert chat_ids == {"__fake_id__"}
    # Call ids survive both paths; sequence numbers restart with every model call.
    for events in (responses_events, chat_events):
        called = [
            e.item.raw_item.call_id for e in events if getattr(e, "name", "") == "tool_called"
        ]
        assert called == ["call_1"]
        created = raw(events, "response.created")
        assert len(created) == 3
        assert {c.sequence_number for c in created} == {0}


@pytest.mark.parametrize("kind", KINDS)
async def test_non_streamed_run(kind: str) -> None:
    script = [
        turn(tool_call("get_weather", {"city": "Oslo"}), input_tokens=10, output_tokens=5),
        turn(text(["Cold", "."]), input_tokens=10, output_tokens=5),
    ]
    async with OpenAIServer(script) as server:
        agent = Agent(name="a", model=make_model(kind, server), tools=[get_weather])
        result = await asyncio.wait_for(Runner.run(agent, "hi", run_config=RUN_CONFIG), LIMIT)
        assert not any(r.stream for r in server.requests)
    assert result.final_output == "Cold."
    assert result.context_wrapper.usage.total_tokens == 30


async def test_chat_usage_needs_include_usage() -> None:
    async with OpenAIServer([turn(text(["a", "b"]), input_tokens=7, output_tokens=3)]) as server:
        agent = Agent(name="a", model=make_model("chat", server))
        result = Runner.run_streamed(agent, "hi", run_config=RUN_CONFIG)
        _, error = await collect(result)
        assert error is None
        assert "stream_options" not in server.requests[0].body
    usage = result.context_wrapper.usage
    assert usage.requests == 1
    assert (usage.input_tokens, usage.output_tokens) == (0, 0)


# -- faults ----------------------------------------------------------------------------


async def run_fault(
    kind: str, fault: Any, **client_options: Any
) -> tuple[RunResultStreaming, list[StreamEvent], Exception | None, OpenAIServer]:
    async with OpenAIServer([turn(text(["a", "b", "c", "d"]), fault=fault)]) as server:
        model = make_model(kind, server, **client_options)
        agent = Agent(name="a", model=model, model_settings=SETTINGS)
        result = Runner.run_streamed(agent, "hi", run_config=RUN_CONFIG)
        events, error = await collect(result)
    return result, events, error, server


def assert_nothing_completed(result: RunResultStreaming, events: list[StreamEvent]) -> None:
    assert "response.completed" not in names(events)
    assert "message_output_created" not in names(events)
    assert result.context_wrapper.usage.requests == 0
    assert result.context_wrapper.usage.total_tokens == 0
    assert result.raw_responses == []
    assert result.final_output is None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("status", "error_type"),
    [(500, openai.InternalServerError), (429, openai.RateLimitError)],
)
async def test_fault_http_error(kind: str, status: int, error_type: type[Exception]) -> None:
    result, events, error, server = await run_fault(kind, http_error(status, retry_after=2))
    assert isinstance(error, error_type)
    assert error.status_code == status
    assert error.response.headers["retry-after"] == "2"
    assert names(events) == ["agent:a"]
    assert result.run_loop_exception is error
    assert len(server.model_requests) == 1
    assert_nothing_completed(result, events)


@pytest.mark.parametrize("kind", KINDS)
async def test_fault_http_error_then_client_retry(kind: str) -> None:
    script = [turn(text(["late"]), fault=http_error(429, retry_after=0.01)), text(["ok"])]
    async with OpenAIServer(script) as server:
        agent = Agent(name="a", model=make_model(kind, server, max_retries=1))
        result = Runner.run_streamed(agent, "hi", run_config=RUN_CONFIG)
        _, error = await collect(result)
        assert len(server.model_requests) == 2
    assert error is None
    assert result.final_output == "ok"


@pytest.mark.parametrize("kind", KINDS)
async def test_fault_reset_mid_stream(kind: str) -> None:
    result, events, error, _ = await run_fault(kind, reset_after(2))
    assert type(error) is openai.APIConnectionError
    assert str(error) == "Connection error."
    assert type(error.__cause__).__name__ == "ReadError"
    assert deltas(events) == ["a", "b"]
    assert_nothing_completed(result, events)


@pytest.mark.parametrize("kind", KINDS)
async def test_fault_reset_before_first_delta(kind: str) -> None:
    result, events, error, _ = await run_fault(kind, reset_after(0))
    assert type(error) is openai.APIConnectionError
    if kind == "responses":
        assert names(events) == [
            "agent:a",
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
        ]
    else:
        # The chat path opens its message only with the first non-empty content delta.
        assert names(events) == ["agent:a", "response.created"]
    assert_nothing_completed(result, events)


@pytest.mark.parametrize("kind", KINDS)
async def test_fault_reset_after_all_deltas(kind: str) -> None:
    result, events, error, _ = await run_fault(kind, reset_after(4))
    assert type(error) is openai.APIConnectionError
    assert deltas(events) == ["a", "b", "c", "d"]
    assert_nothing_completed(result, events)


@pytest.mark.parametrize("kind", KINDS)
async def test_fault_malformed_data(kind: str) -> None:
    result, events, error, _ = await run_fault(kind, malformed_after(2))
    assert isinstance(error, json.JSONDecodeError)
    assert not isinstance(error, openai.OpenAIError)
    assert deltas(events) == ["a", "b"]
    assert_nothing_completed(result, events)


@pytest.mark.parametrize("kind", KINDS)
async def test_fault_stall_until_client_timeout(kind: str) -> None:
    result, events, error, _ = await run_fault(kind, stall_after(2), timeout=0.3)
    assert type(error) is openai.APITimeoutError
    assert str(error) == "Request timed out."
    assert deltas(events) == ["a", "b"]
    assert_nothing_completed(result, events)


@pytest.mark.parametrize("kind", KINDS)
async def test_fault_stall_until_server_closes(kind: str) -> None:
    async with OpenAIServer([turn(text(["a", "b", "c"]), fault=stall_after(1))]) as server:
        agent = Agent(name="a", model=make_model(kind, server), model_settings=SETTINGS)
        result = Runner.run_streamed(agent, "hi", run_config=RUN_CONFIG)
        consumer = asyncio.ensure_future(collect(result))
        await asyncio.wait_for(server.stalled.wait(), LIMIT)
        await server.close()
        events, error = await asyncio.wait_for(consumer, LIMIT)
    assert type(error) is openai.APIConnectionError
    assert deltas(events) == ["a"]
    assert_nothing_completed(result, events)


@pytest.mark.parametrize("kind", KINDS)
async def test_fault_error_event_nested(kind: str) -> None:
    """The shape the live API sends: the openai client raises before the SDK sees it."""
    result, events, error, _ = await run_fault(kind, error_event_after(2, message="boom"))
    assert type(error) is openai.APIError
    assert error.message == "boom"
    assert error.body == {
        "message": "boom",
        "type": "server_error",
        "param": None,
        "code": "server_error",
    }
    assert deltas(events) == ["a", "b"]
    assert "error" not in names(events)
    assert_nothing_completed(result, events)


@pytest.mark.parametrize("shape", ["flat", "response.failed"])
async def test_fault_error_event_responses_terminal(shape: Any) -> None:
    fault = error_event_after(2, message="boom", code="server_error", shape=shape)
    result, events, error, _ = await run_fault("responses", fault)
    assert type(error) is ModelBehaviorError
    assert "boom" in str(error)
    expected = "error" if shape == "flat" else "response.failed"
    assert f"terminal event `{expected}`" in str(error)
    assert names(events)[-1] == expected
    assert deltas(events) == ["a", "b"]
    assert_nothing_completed(result, events)


async def test_fault_error_event_chat_always_api_error() -> None:
    for shape in ("nested", "flat", "response.failed"):
        fault = error_event_after(1, message="boom", shape=shape)  # type: ignore[arg-type]
        _, events, error, _ = await run_fault("chat", fault)
        assert type(error) is openai.APIError
        assert deltas(events) == ["a"]


@pytest.mark.parametrize("kind", KINDS)
async def test_slow_consumer_loses_queued_events(kind: str) -> None:
    """Events still queued when the run loop fails are dropped, not delivered."""
    async with OpenAIServer([turn(text(["a", "b", "c"]), fault=reset_after(3))]) as server:
        agent = Agent(name="a", model=make_model(kind, server), model_settings=SETTINGS)
        result = Runner.run_streamed(agent, "hi", run_config=RUN_CONFIG)

        async def wait_for_run_loop() -> None:
            assert result.run_loop_task is not None
            await asyncio.wait({result.run_loop_task}, timeout=LIMIT)

        events, error = await collect(result, after_first=wait_for_run_loop)
    assert type(error) is openai.APIConnectionError
    assert names(events) == ["agent:a"]


@pytest.mark.parametrize("kind", KINDS)
async def test_fault_in_second_call_keeps_first_usage(kind: str) -> None:
    script = [
        turn(
            tool_call("get_weather", {"city": "Oslo"}, call_id="call_1"),
            input_tokens=20,
            output_tokens=6,
        ),
        turn(text(["Col", "d"]), input_tokens=30, output_tokens=2, fault=reset_after(1)),
    ]
    async with OpenAIServer(script) as server:
        model = make_model(kind, server)
        agent = Agent(name="a", model=model, tools=[get_weather], model_settings=SETTINGS)
        result = Runner.run_streamed(agent, "hi", run_config=RUN_CONFIG)
        events, error = await collect(result)
    assert type(error) is openai.APIConnectionError
    story = [n for n in names(events) if not n.startswith("response.")]
    assert story == ["agent:a", "tool_called", "tool_output"]
    assert deltas(events) == ["Col"]
    usage = result.context_wrapper.usage
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == (1, 20, 6)
    assert len(result.raw_responses) == 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        (reset_after(0), openai.APIConnectionError),
        (malformed_after(0), json.JSONDecodeError),
        (stall_after(0), openai.APITimeoutError),
        (error_event_after(0), openai.InternalServerError),
    ],
)
async def test_faults_on_non_streamed_run(
    kind: str, fault: Any, error_type: type[Exception]
) -> None:
    async with OpenAIServer([turn(text(["x"]), fault=fault)]) as server:
        agent = Agent(name="a", model=make_model(kind, server, timeout=0.3))
        with pytest.raises(error_type):
            await asyncio.wait_for(Runner.run(agent, "hi", run_config=RUN_CONFIG), LIMIT)
