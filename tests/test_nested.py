"""Nested and rich runs (schema 1.2): agents called as tools, events sent from tools, hosted tools
with citations, structured output; read by the real clients of both protocols."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents import (
    Agent,
    CodeInterpreterTool,
    ImageGenerationTool,
    OpenAIResponsesModel,
    RunContextWrapper,
    Runner,
    WebSearchTool,
    function_tool,
)
from pydantic import BaseModel

from agentstream import (
    BufferPolicy,
    ConfigurationError,
    Custom,
    Done,
    Event,
    MessageOutput,
    NestedRunFinished,
    NestedRunStarted,
    TextDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolOutput,
    ToolProgress,
    agui,
    ai_sdk,
    normalize,
)
from agentstream.nested import agent_tool, emit, progress
from agentstream.testing import (
    OpenAIServer,
    ScriptedStreamModel,
    code_interpreter,
    fail,
    file_citation,
    file_search,
    image_generation,
    mcp_call,
    text,
    tool_call,
    turn,
    url_citation,
    web_search,
)

from .support.agui import agui_findings, check_structure, decode
from .support.ai_sdk import parts
from .support.node import needs_node, node, run_node


@function_tool
async def lookup(ctx: RunContextWrapper[Any], city: str) -> str:
    """Look a city up, saying how far it got."""
    progress(ctx, f"looking up {city}", completed=1, total=2)
    emit(ctx, "app.chart", {"city": city, "values": [1, 2]}, id=f"chart-{city}")
    await asyncio.sleep(0)
    progress(ctx, f"found {city}", completed=2, total=2)
    return f"sunny in {city}"


def _specialist_script(prompt: str) -> list[Any]:
    return [tool_call("lookup", {"city": prompt}), text(f"{prompt} is sunny today")]


def manager_script(prompt: str) -> list[Any]:
    """The manager asks two specialists at once, then answers; each specialist looks its city up
    and answers in words."""
    if prompt == "compare":
        return [
            turn(
                tool_call("ask_paris", {"input": "Paris"}, call_id="call_p"),
                tool_call("ask_rome", {"input": "Rome"}, call_id="call_r"),
            ),
            text("Both are sunny."),
        ]
    return _specialist_script(prompt)


def manager(model: Any, **tool_options: Any) -> Agent[Any]:
    paris = Agent(name="ParisExpert", model=model, tools=[lookup])
    rome = Agent(name="RomeExpert", model=model, tools=[lookup])
    return Agent(
        name="Manager",
        model=model,
        tools=[
            agent_tool(paris, "ask_paris", "Ask the Paris expert", **tool_options),
            agent_tool(rome, "ask_rome", "Ask the Rome expert", **tool_options),
        ],
    )


async def manager_events(**options: Any) -> list[Event]:
    model = ScriptedStreamModel(manager_script, delay=0.001)
    return await normalize(Runner.run_streamed(manager(model), "compare"), **options).collect()


def check_stream(events: list[Event]) -> Done:
    assert [e.seq for e in events] == list(range(len(events)))
    dones = [e for e in events if isinstance(e, Done)]
    assert len(dones) == 1 and events[-1] is dones[0]
    return dones[0]


# normalize(): nesting in the envelope


async def test_parallel_sub_agents_are_attributed_to_their_calls() -> None:
    events = await manager_events()
    done = check_stream(events)
    assert done.status == "completed" and done.final_output == "Both are sunny."
    experts = {"call_p": ("ParisExpert", "Paris"), "call_r": ("RomeExpert", "Rome")}
    for call_id, (agent, city) in experts.items():
        index = {type(e): i for i, e in enumerate(events) if getattr(e, "call_id", "") == call_id}
        nested = [i for i, e in enumerate(events) if e.parent_call_id == call_id]
        started = next(
            i
            for i, e in enumerate(events)
            if isinstance(e, NestedRunStarted) and e.call_id == call_id
        )
        finished = next(
            i
            for i, e in enumerate(events)
            if isinstance(e, NestedRunFinished) and e.call_id == call_id
        )
        # the call, its nested run inside start and finish, then the call's own output
        assert index[ToolCalled] < started < min(nested) and max(nested) < finished
        assert finished < index[ToolOutput]
        for i in nested:
            assert events[i].path == (call_id,) and events[i].agent == agent
        nested_events = [events[i] for i in nested]
        text_of = "".join(e.delta for e in nested_events if isinstance(e, TextDelta))
        assert text_of == f"{city} is sunny today"
        kinds = [e.type for e in nested_events]
        assert kinds.count("tool_called") == kinds.count("tool_output") == 1
        assert kinds.count("tool_progress") == 2 and kinds.count("custom") == 1
        [chart] = [e for e in nested_events if isinstance(e, Custom)]
        assert chart.name == "app.chart" and chart.data == {"city": city, "values": [1, 2]}
        [inner_call] = [e for e in nested_events if isinstance(e, ToolCalled)]
        assert chart.call_id == inner_call.call_id  # bound to the tool call that sent it
        end = events[finished]
        assert isinstance(end, NestedRunFinished)
        assert end.status == "completed" and end.final_output == f"{city} is sunny today"
        assert end.last_agent == agent and end.usage.requests == 2
        assert end.agent == "Manager" and end.parent_call_id is None
        assert events[index[ToolOutput]].output == f"{city} is sunny today"  # type: ignore[attr-defined]
    # Both specialists ran at once: each started before either finished.
    starts = [i for i, e in enumerate(events) if isinstance(e, NestedRunStarted)]
    ends = [i for i, e in enumerate(events) if isinstance(e, NestedRunFinished)]
    assert max(starts) < min(ends)
    # The nested model calls count in the run's usage: 2 of the manager's, 2 per specialist.
    assert done.usage.requests == 6
    # Top-level events carry no nesting, and their JSON reads as in schema 1.1.
    for event in events:
        if event.parent_call_id is None:
            assert event.path == ()
            assert '"path"' not in event.model_dump_json()


async def test_buffering_never_joins_deltas_across_runs() -> None:
    events = await manager_events(buffer=BufferPolicy(max_delay=0.5, max_chars=10_000))
    check_stream(events)
    for call_id, city in (("call_p", "Paris"), ("call_r", "Rome")):
        deltas = [e for e in events if isinstance(e, TextDelta) and e.parent_call_id == call_id]
        assert "".join(d.delta for d in deltas) == f"{city} is sunny today"


async def test_agent_tools_nest_deeper_with_a_longer_path() -> None:
    def script(prompt: str) -> list[Any]:
        if prompt == "top":
            return [tool_call("ask_mid", {"input": "mid"}, call_id="call_mid"), text("done")]
        if prompt == "mid":
            return [tool_call("ask_leaf", {"input": "leaf"}, call_id="call_leaf"), text("mid ok")]
        return [text("leaf ok")]

    model = ScriptedStreamModel(script)
    leaf = Agent(name="Leaf", model=model)
    mid = Agent(name="Mid", model=model, tools=[agent_tool(leaf, "ask_leaf", "leaf")])
    top = Agent(name="Top", model=model, tools=[agent_tool(mid, "ask_mid", "mid")])
    events = await normalize(Runner.run_streamed(top, "top")).collect()
    done = check_stream(events)
    assert done.status == "completed"
    leaf_text = [e for e in events if isinstance(e, MessageOutput) and e.agent == "Leaf"]
    assert [(e.text, e.path, e.parent_call_id) for e in leaf_text] == [
        ("leaf ok", ("call_mid", "call_leaf"), "call_leaf")
    ]
    [inner_start] = [
        e for e in events if isinstance(e, NestedRunStarted) and e.call_id == "call_leaf"
    ]
    assert inner_start.path == ("call_mid",) and inner_start.agent == "Mid"
    ends = [(e.call_id, e.path) for e in events if isinstance(e, NestedRunFinished)]
    assert ends == [("call_leaf", ("call_mid",)), ("call_mid", ())]


async def test_a_failing_sub_agent_is_its_own_failure_and_the_manager_goes_on() -> None:
    def script(prompt: str) -> list[Any]:
        if prompt == "go":
            return [tool_call("ask", {"input": "x"}, call_id="call_x"), text("recovered")]
        return [turn(text("partial"), fail(RuntimeError("db password is hunter2")))]

    model = ScriptedStreamModel(script)
    worker = Agent(name="Worker", model=model)
    boss = Agent(name="Boss", model=model, tools=[agent_tool(worker, "ask", "ask")])
    events = await normalize(Runner.run_streamed(boss, "go")).collect()
    done = check_stream(events)
    assert done.status == "completed" and done.final_output == "recovered"
    [end] = [e for e in events if isinstance(e, NestedRunFinished)]
    assert end.status == "error" and end.error is not None
    assert end.error.type == "RuntimeError" and "hunter2" not in end.model_dump_json()
    [output] = [e for e in events if isinstance(e, ToolOutput) and e.call_id == "call_x"]
    assert isinstance(output.output, str) and "hunter2" not in output.model_dump_json()


async def test_without_a_failure_function_the_failure_ends_the_manager_too() -> None:
    def script(prompt: str) -> list[Any]:
        if prompt == "go":
            return [tool_call("ask", {"input": "x"}, call_id="call_x"), text("never")]
        return [fail(RuntimeError("boom"))]

    model = ScriptedStreamModel(script)
    worker = Agent(name="Worker", model=model)
    tool = agent_tool(worker, "ask", "ask", failure_error_function=None)
    boss = Agent(name="Boss", model=model, tools=[tool])
    events = await normalize(Runner.run_streamed(boss, "go")).collect()
    done = check_stream(events)
    assert done.status == "error"
    [end] = [e for e in events if isinstance(e, NestedRunFinished)]
    assert end.status == "error" and end.error is not None and end.error.type == "RuntimeError"


async def test_closing_the_stream_cancels_the_nested_run() -> None:
    entered = asyncio.Event()
    cancelled = asyncio.Event()

    @function_tool
    async def wait_forever() -> str:
        """Wait until cancelled."""
        entered.set()
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    def script(prompt: str) -> list[Any]:
        if prompt == "go":
            return [tool_call("ask", {"input": "x"}, call_id="call_x"), text("never")]
        return [tool_call("wait_forever", {})]

    model = ScriptedStreamModel(script)
    worker = Agent(name="Worker", model=model, tools=[wait_forever])
    boss = Agent(name="Boss", model=model, tools=[agent_tool(worker, "ask", "ask")])
    stream = normalize(Runner.run_streamed(boss, "go"))
    seen = []
    async for event in stream:
        seen.append(event)
        if event.parent_call_id == "call_x" and isinstance(event, ToolCalled):
            await asyncio.wait_for(entered.wait(), 10)
            break
    await stream.aclose()
    # The SDK cancels the tool's task with the run; it finishes cancelling a turn later.
    await asyncio.wait_for(cancelled.wait(), 10)
    assert stream.done is not None and stream.done.status == "cancelled"
    assert stream.result.is_complete


async def test_an_idle_timeout_ends_the_open_nested_run_before_done() -> None:
    @function_tool
    async def stall() -> str:
        """Never return."""
        await asyncio.get_running_loop().create_future()
        return "never"

    def script(prompt: str) -> list[Any]:
        if prompt == "go":
            return [tool_call("ask", {"input": "x"}, call_id="call_x"), text("never")]
        return [tool_call("stall", {})]

    model = ScriptedStreamModel(script)
    worker = Agent(name="Worker", model=model, tools=[stall])
    boss = Agent(name="Boss", model=model, tools=[agent_tool(worker, "ask", "ask")])
    events = await normalize(Runner.run_streamed(boss, "go"), idle_timeout=0.3).collect()
    done = check_stream(events)
    assert done.status == "timeout"
    [end] = [e for e in events if isinstance(e, NestedRunFinished)]
    assert end.call_id == "call_x" and end.status == "cancelled" and events[-2] is end


async def test_an_approval_inside_a_sub_agent_pauses_the_run_and_resumes_it() -> None:
    from agentstream.interactive import Answer, resume, start
    from agentstream.resume import MemoryEventLog, subscribe

    deleted: list[str] = []

    @function_tool(needs_approval=True)
    def delete(path: str) -> str:
        """Delete a file (a person approves it first)."""
        deleted.append(path)
        return "deleted"

    def script(prompt: str) -> list[Any]:
        if prompt == "go":
            return [tool_call("ask", {"input": "clean up"}, call_id="call_x"), text("cleaned")]
        return [tool_call("delete", {"path": "/tmp/a"}, call_id="call_del"), text("inner done")]

    model = ScriptedStreamModel(script)
    worker = Agent(name="Worker", model=model, tools=[delete])
    boss = Agent(name="Boss", model=model, tools=[agent_tool(worker, "ask", "ask")])
    log = MemoryEventLog()
    paused = await (await start(boss, "go", log, run_id="nested-pause")).wait()
    assert paused is not None and paused.status == "interrupted"
    assert [(w.call_id, w.kind) for w in paused.interruptions] == [("call_del", "approval")]
    first = [e async for e in subscribe(log, "nested-pause")]
    [end] = [e for e in first if isinstance(e, NestedRunFinished)]
    assert end.status == "interrupted" and deleted == []
    frames = decode("".join([f async for f in agui.encode(replay_of(first))]))
    check_structure(frames)
    assert agui_findings(frames) == []
    [finished] = [f for f in frames if f["type"] == "SUBAGENT_FINISHED"]
    assert finished["outcome"] == {"type": "suspended"}
    assert frames[-1]["outcome"]["type"] == "interrupt"

    resumed = await resume(log, "nested-pause", [Answer.approve("call_del")], agents=[boss, worker])
    done = await resumed.wait()
    assert done is not None and done.status == "completed" and done.final_output == "cleaned"
    assert deleted == ["/tmp/a"]
    after = [e async for e in subscribe(log, "nested-pause", after=paused.seq)]
    nested_after = [e for e in after if e.parent_call_id == "call_x"]
    assert [e.type for e in nested_after][:1] == ["tool_output"]  # the approved call ran
    assert any(isinstance(e, NestedRunFinished) and e.status == "completed" for e in after)


async def test_events_from_a_top_level_tool_keep_their_place() -> None:
    @function_tool
    def report(ctx: RunContextWrapper[Any], n: int) -> str:
        """A sync tool (the SDK may run it in a worker thread)."""
        for i in range(n):
            progress(ctx, f"step {i + 1} of {n}", completed=i + 1, total=n)
        emit(ctx, "app.note", "transient note", transient=True)
        return "reported"

    model = ScriptedStreamModel([[tool_call("report", {"n": 3}, call_id="call_r")], text("ok")])
    agent = Agent(name="Reporter", model=model, tools=[report])
    events = await normalize(Runner.run_streamed(agent, "go")).collect()
    check_stream(events)
    kinds = [e.type for e in events if getattr(e, "call_id", None) == "call_r"]
    assert kinds[-5:] == ["tool_progress"] * 3 + ["custom", "tool_output"]
    assert kinds.index("tool_called") < kinds.index("tool_progress")
    steps = [e for e in events if isinstance(e, ToolProgress)]
    assert [(s.completed, s.total, s.name, s.stage) for s in steps] == [
        (1, 3, "report", "progress"),
        (2, 3, "report", "progress"),
        (3, 3, "report", "progress"),
    ]
    [note] = [e for e in events if isinstance(e, Custom)]
    assert note.transient and note.data == "transient note" and note.agent == "Reporter"


async def test_emit_outside_a_stream_sends_nothing_and_bad_input_is_refused() -> None:
    sent: list[bool] = []

    @function_tool
    def try_emit(ctx: RunContextWrapper[Any]) -> str:
        """Emit without a stream reading the run."""
        sent.append(emit(ctx, "app.x", 1))
        sent.append(progress(ctx, "half", completed=1, total=2))
        return "ok"

    model = ScriptedStreamModel([[tool_call("try_emit", {})], text("ok")])
    await Runner.run(Agent(name="A", model=model, tools=[try_emit]), "go")
    assert sent == [False, False]
    ctx = RunContextWrapper(context=None)
    with pytest.raises(ConfigurationError):
        emit(ctx, "", 1)
    with pytest.raises(ConfigurationError):
        emit(ctx, "app.x", 1, id=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        progress(ctx, completed=True)
    with pytest.raises(ConfigurationError):
        agent_tool(Agent(name="A"), "a", "a", on_stream=print)


# Hosted tools through the SDK's OpenAI model and the local server, in the real wire shapes

HOSTED_SCRIPT = [
    turn(
        file_search(
            ["return policy"],
            [{"file_id": "file-1", "filename": "policy.pdf", "score": 0.9, "text": "30 days"}],
        ),
        mcp_call(
            "shop", "get_order", {"order_id": "A-1"}, output='{"status": "shipped"}', chunks=3
        ),
        mcp_call("shop", "cancel_order", {"order_id": "A-1"}, error="not allowed"),
        web_search("weather in Paris", ["https://weather.example/paris", "https://b.example/2"]),
        code_interpreter(["import math\n", "print(math.pi)"], "3.141592653589793\n"),
        image_generation("QUJD" * 64, ["UEFS" * 8, "UEFSVA==" * 16]),
        text("Returns within 30 days.", citations=[file_citation("file-1", "policy.pdf", 23)]),
        text(
            ["It is ", "sunny in Paris."],
            citations=[url_citation("https://weather.example/paris", "Paris weather", 6, 20)],
        ),
    )
]


async def hosted_events(**options: Any) -> list[Event]:
    async with OpenAIServer(HOSTED_SCRIPT) as server:
        model = OpenAIResponsesModel("gpt-test", server.client())
        tools = [
            WebSearchTool(),
            CodeInterpreterTool({"type": "code_interpreter", "container": {"type": "auto"}}),
        ]
        tools.append(ImageGenerationTool({"type": "image_generation"}))
        agent = Agent(name="Researcher", model=model, tools=tools)
        return await normalize(Runner.run_streamed(agent, "go"), **options).collect()


async def test_hosted_tools_report_stages_results_and_citations() -> None:
    events = await hosted_events()
    done = check_stream(events)
    assert done.status == "completed"
    calls = {e.name: e for e in events if isinstance(e, ToolCalled)}
    outputs = {e.name: e for e in events if isinstance(e, ToolOutput)}
    assert (
        set(calls)
        == set(outputs)
        == {
            "file_search_call",
            "get_order",
            "cancel_order",
            "web_search_call",
            "code_interpreter_call",
            "image_generation_call",
        }
    )
    files = outputs["file_search_call"].output
    assert isinstance(files, dict) and files["queries"] == ["return policy"]
    assert files["results"][0]["filename"] == "policy.pdf"  # type: ignore[index,call-overload]
    # A hosted MCP call's arguments stream as the call's argument deltas.
    get_order = calls["get_order"]
    deltas = [
        e.delta
        for e in events
        if isinstance(e, ToolArgumentsDelta) and e.call_id == get_order.call_id
    ]
    assert len(deltas) == 3 and "".join(deltas) == get_order.arguments == '{"order_id": "A-1"}'
    assert outputs["get_order"].output == {
        "status": "completed",
        "server_label": "shop",
        "output": '{"status": "shipped"}',
        "error": None,
    }
    assert outputs["cancel_order"].output == {
        "status": "failed",
        "server_label": "shop",
        "output": None,
        "error": "not allowed",
    }
    assert all(e.provider_executed for e in [*calls.values(), *outputs.values()])
    search = outputs["web_search_call"].output
    assert isinstance(search, dict) and search["status"] == "completed"
    assert search["action"]["query"] == "weather in Paris"  # type: ignore[index,call-overload]
    assert [s["url"] for s in search["action"]["sources"]] == [  # type: ignore[index,union-attr]
        "https://weather.example/paris",
        "https://b.example/2",
    ]
    code = outputs["code_interpreter_call"].output
    assert isinstance(code, dict) and code["code"] == "import math\nprint(math.pi)"
    assert code["outputs"] == [{"type": "logs", "logs": "3.141592653589793\n"}]
    image = outputs["image_generation_call"].output
    assert isinstance(image, dict) and image["image"] == "data:image/png;base64," + "QUJD" * 64
    stages = [(e.name, e.stage) for e in events if isinstance(e, ToolProgress)]
    assert stages[:7] == [
        ("file_search_call", "in_progress"),
        ("file_search_call", "searching"),
        ("file_search_call", "completed"),
        ("get_order", "in_progress"),
        ("get_order", "completed"),
        ("cancel_order", "in_progress"),
        ("cancel_order", "failed"),
    ]
    assert stages[7:] == [
        ("web_search_call", "in_progress"),
        ("web_search_call", "searching"),
        ("web_search_call", "completed"),
        ("code_interpreter_call", "in_progress"),
        ("code_interpreter_call", "interpreting"),
        ("code_interpreter_call", "completed"),
        ("image_generation_call", "in_progress"),
        ("image_generation_call", "partial_image"),
        ("image_generation_call", "partial_image"),
        ("image_generation_call", "generating"),
        ("image_generation_call", "completed"),
    ]
    partials = [
        e.data for e in events if isinstance(e, ToolProgress) and e.stage == "partial_image"
    ]
    assert partials == [
        {"index": 0, "image": "data:image/png;base64," + "UEFS" * 8, "media_type": "image/png"},
        {
            "index": 1,
            "image": "data:image/png;base64," + "UEFSVA==" * 16,
            "media_type": "image/png",
        },
    ]
    first, message = [e for e in events if isinstance(e, MessageOutput)]
    [cited_file] = first.citations
    assert (cited_file.kind, cited_file.file_id, cited_file.index) == (
        "file_citation",
        "file-1",
        23,
    )
    [citation] = message.citations
    assert citation.kind == "url_citation" and citation.title == "Paris weather"
    assert message.text[citation.start_index : citation.end_index] == "sunny in Paris"  # type: ignore[misc]


async def test_images_over_the_size_policy_are_left_out() -> None:
    events = await hosted_events(max_image_bytes=100)
    image = next(
        e.output for e in events if isinstance(e, ToolOutput) and e.name == "image_generation_call"
    )
    assert image == {"status": "completed", "omitted_bytes": 256}
    partials = [
        e.data for e in events if isinstance(e, ToolProgress) and e.stage == "partial_image"
    ]
    assert partials == [
        {"index": 0, "image": "data:image/png;base64," + "UEFS" * 8, "media_type": "image/png"},
        {"index": 1, "omitted_bytes": 128},
    ]
    with pytest.raises(ConfigurationError):
        normalize(object(), max_image_bytes=-1)  # type: ignore[arg-type]


def test_citation_positions_are_in_the_whole_text_of_the_message() -> None:
    from agentstream._mapping import Mapper

    note = {"type": "url_citation", "url": "u", "title": "t", "start_index": 0, "end_index": 3}
    raw = {
        "id": "msg_1",
        "type": "message",
        "content": [
            {"type": "output_text", "text": "One. ", "annotations": []},
            {"type": "output_text", "text": "Two.", "annotations": [note]},
        ],
    }
    item = {"type": "message_output_item", "raw_item": raw}
    [draft] = Mapper(None).map(
        {"type": "run_item_stream_event", "name": "message_output_created", "item": item}
    )
    [citation] = draft.fields["citations"]
    assert "One. Two."[citation.start_index : citation.end_index] == "Two"


# Structured output


class Forecast(BaseModel):
    city: str
    celsius: int


async def test_structured_output_is_data_in_done_and_in_both_protocols() -> None:
    script = [text(['{"city": "Paris", ', '"celsius": 21}'])]

    def run() -> Any:
        agent = Agent(name="Forecaster", model=ScriptedStreamModel(script), output_type=Forecast)
        return Runner.run_streamed(agent, "go")

    events = await normalize(run()).collect()
    assert events[-1].final_output == {"city": "Paris", "celsius": 21}  # type: ignore[union-attr]
    decoded = parts("".join([f async for f in ai_sdk.encode(normalize(run()))]))
    [data] = [p for p in decoded if p["type"] == "data-output"]
    assert data["data"] == {"city": "Paris", "celsius": 21}
    frames = decode("".join([f async for f in agui.encode(normalize(run()))]))
    assert frames[-1]["type"] == "RUN_FINISHED"
    assert frames[-1]["result"] == {"city": "Paris", "celsius": 21}


async def test_the_tool_card_text_is_the_nested_messages_once_each() -> None:
    """Without item ids (the Chat Completions path) a message's deltas and its whole text are
    still one text in the preliminary output; a second message is a paragraph of its own."""
    common: dict[str, Any] = {"run_id": "r", "timestamp": 1}
    nested: dict[str, Any] = {**common, "agent": "Expert", "parent_call_id": "c", "path": ("c",)}
    events: list[Event] = [
        ToolCalled(seq=0, call_id="c", name="ask", arguments="{}", agent="Boss", **common),
        NestedRunStarted(seq=1, call_id="c", name="ask", nested_agent="Expert", **common),
        TextDelta(seq=2, delta="Hello ", **nested),
        TextDelta(seq=3, delta="there.", **nested),
        MessageOutput(seq=4, text="Hello there.", **nested),
        MessageOutput(seq=5, text="Second.", **nested),
        NestedRunFinished(seq=6, call_id="c", status="completed", final_output="x", **common),
        ToolOutput(seq=7, call_id="c", output="x", name="ask", **common),
        Done(seq=8, status="completed", **common),
    ]
    decoded = parts("".join([f async for f in ai_sdk.encode(replay_of(events))]))
    snapshots = [p["output"] for p in decoded if p.get("preliminary")]
    assert snapshots[-1] == {
        "agent": "Expert",
        "status": "completed",
        "text": "Hello there.\n\nSecond.",
        "tools": [],
    }
    assert all(
        s["text"] in ("", "Hello ", "Hello there.", "Hello there.\n\nSecond.") for s in snapshots
    )


# The real clients


@node
@needs_node
async def test_the_ai_sdk_client_shows_nested_runs_hosted_tools_and_sources() -> None:
    body = "".join([f async for f in ai_sdk.encode(replay_of(await manager_events()))])
    report = await run_node("ai_sdk_read.mjs", "--stdin", stdin=body.encode())
    assert report["errors"] == [] and report["chat"]["status"] == "ready"
    assert report["chat"]["finish"]["finishReason"] == "stop"
    chunks = report["chunks"]
    preliminary = [c for c in chunks if c.get("preliminary")]
    assert {c["toolCallId"] for c in preliminary} == {"call_p", "call_r"}
    last = {c["toolCallId"]: c["output"] for c in preliminary}
    assert last["call_p"]["status"] == "completed" and last["call_p"]["agent"] == "ParisExpert"
    assert last["call_p"]["text"] == "Paris is sunny today"
    assert [t["toolName"] for t in last["call_p"]["tools"]] == ["lookup"]
    [message] = report["messages"]
    tools = {p["toolCallId"]: p for p in message["parts"] if p["type"].startswith("tool-")}
    # the call's own output replaced the preliminary ones
    assert tools["call_p"]["output"] == "Paris is sunny today" and not tools["call_p"].get(
        "preliminary"
    )
    charts = [p for p in message["parts"] if p["type"] == "data-app.chart"]
    assert sorted(p["id"] for p in charts) == ["chart-Paris", "chart-Rome"]

    body = "".join([f async for f in ai_sdk.encode(replay_of(await hosted_events()))])
    report = await run_node("ai_sdk_read.mjs", "--stdin", stdin=body.encode())
    assert report["errors"] == [] and report["chat"]["finish"]["finishReason"] == "stop"
    [message] = report["messages"]
    hosted = {p["type"]: p for p in message["parts"] if p["type"].startswith("tool-")}
    assert len(hosted) == 6 and all(p["providerExecuted"] for p in hosted.values())
    failed = hosted.pop("tool-cancel_order")
    assert failed["state"] == "output-error" and failed["errorText"] == "not allowed"
    assert all(p["state"] == "output-available" for p in hosted.values())
    [source] = [p for p in message["parts"] if p["type"] == "source-url"]
    assert source["url"] == "https://weather.example/paris" and source["title"] == "Paris weather"
    [document] = [p for p in message["parts"] if p["type"] == "source-document"]
    assert document["filename"] == "policy.pdf" and document["mediaType"] == "application/pdf"
    [file] = [p for p in message["parts"] if p["type"] == "file"]
    assert file["mediaType"] == "image/png" and file["url"].endswith("QUJD" * 64)
    progress_parts = [p for p in message["parts"] if p["type"] == "data-tool-progress"]
    # one part per call, its last stage kept; partial images are transient
    assert sorted(p["data"]["stage"] for p in progress_parts) == ["completed"] * 5 + ["failed"]
    # The next request's history: hosted calls are the provider's items, not function calls.
    assert ai_sdk.messages_to_input(report["chat"]["messages"]) == [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Returns within 30 days."},
        {"role": "assistant", "content": "It is sunny in Paris."},
    ]


@node
@needs_node
async def test_ag_ui_clients_and_validator_accept_nested_runs_and_hosted_tools() -> None:
    for events in (await manager_events(), await hosted_events()):
        body = "".join([f async for f in agui.encode(replay_of(events))])
        frames = decode(body)
        check_structure(frames)
        assert agui_findings(frames) == []
        report = await run_node("agui_read.mjs", "--stdin", stdin=body.encode())
        assert report["errors"] == [] and report["warnings"] == []
        assert report["terminated"]
    frames = decode("".join([f async for f in agui.encode(replay_of(await manager_events()))]))
    subagents = [
        (f["type"], f["subagentRunId"]) for f in frames if f["type"].startswith("SUBAGENT")
    ]
    assert sorted(subagents) == sorted(
        [
            (kind, call)
            for kind in ("SUBAGENT_STARTED", "SUBAGENT_FINISHED")
            for call in ("call_p", "call_r")
        ]
    )
    texts = [
        f
        for f in frames
        if f["type"] == "TEXT_MESSAGE_CONTENT" and f.get("subagentRunId") == "call_p"
    ]
    assert "".join(f["delta"] for f in texts) == "Paris is sunny today"
    activities = [f for f in frames if f["type"] == "ACTIVITY_SNAPSHOT"]
    assert len(activities) == 4 and all(f["activityType"] == "tool_progress" for f in activities)
    customs = [f for f in frames if f["type"] == "CUSTOM"]
    assert sorted(f["value"]["city"] for f in customs) == ["Paris", "Rome"]
    # The history the client sends next: the agent-tool calls and their results, not what the
    # nested runs said and called (the client marks their messages with subagentRunId).
    body = "".join([f async for f in agui.encode(replay_of(await manager_events()))])
    report = await run_node("agui_read.mjs", "--stdin", stdin=body.encode())
    from ag_ui.core import RunAgentInput

    sent = RunAgentInput.model_validate(
        {"threadId": "t", "runId": "r", "messages": report["messages"], "state": {}, "tools": []}
        | {"context": [], "forwardedProps": {}}
    )
    history = agui.messages_to_input(sent.messages)
    calls = [(i["name"], i["call_id"]) for i in history if i.get("type") == "function_call"]
    assert calls == [("ask_paris", "call_p"), ("ask_rome", "call_r")]
    assert [i["content"] for i in history if i.get("role") == "assistant"] == ["Both are sunny."]


def replay_of(events: list[Event]) -> Any:
    async def source() -> Any:
        for event in events:
            yield event

    return source()


async def test_a_run_whose_framework_response_cannot_be_built_is_cancelled() -> None:
    """Bad arguments to a framework response cancel the run given to it (nobody else would)."""
    from agentstream import frameworks

    model = ScriptedStreamModel([text(["a", "b"])], delay=0.5)
    run = Runner.run_streamed(Agent(name="a", model=model), "go")
    with pytest.raises(ConfigurationError):
        frameworks.litestar_response(run, status_code=700)
    for _ in range(100):
        if run.is_complete:
            break
        await asyncio.sleep(0.02)
    assert run.is_complete  # cancelled, not left running


def test_emit_refuses_the_bridges_own_names() -> None:
    ctx = RunContextWrapper(context=None)
    for name in ("output", "tool-progress", "handoff"):
        with pytest.raises(ConfigurationError, match="namespaced"):
            emit(ctx, name, 1)
