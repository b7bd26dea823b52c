"""Interactive runs in process: a run pauses with an `interrupted` done, its state is kept in the
event log, and answers resume it as the same run (same run_id, seq going on).

The protocol ends (AI SDK, AG-UI, the HTTP API, Redis across processes, the browser) have their
own tests; these check the core on real SDK runs (`ScriptedStreamModel`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from agents import Agent, HostedMCPTool, Model
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseOutputMessage,
    ResponseOutputText,
)
from openai.types.responses.response_output_item import McpApprovalRequest
from starlette.applications import Starlette
from starlette.routing import Route

from agentstream import ConfigurationError, Done, Event, parse_event
from agentstream.interactive import (
    Answer,
    AnswerRefusedError,
    answers_endpoint,
    frontend_tool,
    resume,
    runs_endpoint,
    start,
)
from agentstream.resume import (
    EventLogUnavailableError,
    MemoryEventLog,
    RunNotFoundError,
    subscribe,
)
from agentstream.testing import ScriptedStreamModel, text, tool_call, turn

from .support.http import serve
from .support.scenarios import REFUNDED, refund_agent

JSON = {"content-type": "application/json"}


async def read_all(log: MemoryEventLog, run_id: str, after: int = -1) -> list[Event]:
    return [event async for event in subscribe(log, run_id, after=after)]


async def test_a_run_that_needs_approval_pauses_and_says_for_what() -> None:
    calls: list[str] = []
    log = MemoryEventLog()
    publication = await start(
        refund_agent(calls, with_lookup=True), "refund both", log, run_id="r1"
    )
    done = await publication.wait()
    assert done is not None
    assert done.status == "interrupted"
    assert [(w.call_id, w.name, w.kind) for w in done.interruptions] == [
        ("call_a", "refund", "approval"),
        ("call_b", "refund", "approval"),
    ]
    assert done.interruptions[0].arguments == '{"order_id": "1"}'
    assert done.pending_approvals == ("call_a", "call_b")
    assert done.final_output is None
    assert calls == []
    info = await log.info("r1")
    assert info is not None
    assert info.paused
    assert not info.done
    events = await read_all(log, "r1")
    kinds = [e.type for e in events]
    assert kinds.count("approval_requested") == 2
    assert kinds[-1] == "done"
    assert [e.seq for e in events] == list(range(len(events)))


async def test_answers_resume_the_same_run_and_each_seq_is_read_once() -> None:
    calls: list[str] = []
    agent = refund_agent(calls, with_lookup=True)
    log = MemoryEventLog()
    publication = await start(agent, "refund both", log, run_id="r2")
    paused = await publication.wait()
    assert paused is not None
    # A reader that saw the pause follows the run across it, from the paused done's seq.
    follower = asyncio.ensure_future(read_all(log, "r2", after=paused.seq))
    await asyncio.sleep(0.05)
    assert not follower.done()  # the paused run waits; the reader is not told the run ended
    answers = [Answer.approve("call_a"), Answer.reject("call_b", "Refunds over 1 need a manager.")]
    resumed = await resume(log, "r2", answers, agents=[agent])
    done = await resumed.wait()
    assert done is not None
    assert done.status == "completed"
    assert done.final_output == REFUNDED
    assert calls == ["1"]  # the approved call ran once; the rejected one never
    after = await asyncio.wait_for(follower, 5)
    assert after[0].seq == paused.seq + 1
    assert [e.seq for e in after] == list(range(paused.seq + 1, done.seq + 1))
    assert {e.run_id for e in after} == {"r2"}
    outputs = {e.call_id: (e.name, e.output) for e in after if e.type == "tool_output"}
    assert outputs == {
        "call_a": ("refund", "refunded 1"),
        "call_b": ("refund", "Refunds over 1 need a manager."),
    }
    # Read from the start, the run's first stream still ends at its pause (one done a stream).
    first = await read_all(log, "r2")
    assert [e.seq for e in first] == list(range(paused.seq + 1))
    assert first[-1] == paused


@pytest.mark.parametrize(
    ("answers", "status", "words"),
    [
        ([Answer.approve("call_x"), Answer.approve("call_b")], 409, "call_x is not waiting"),
        ([Answer.approve("call_a")], 422, "still wait"),
        ([Answer.approve("call_a"), Answer.approve("call_a")], 422, "answered twice"),
        ([Answer.approve("call_a"), Answer.tool_output("call_b", 1)], 422, "approved true"),
    ],
)
async def test_answers_that_do_not_fit_are_refused_and_change_nothing(
    answers: list[Answer], status: int, words: str
) -> None:
    calls: list[str] = []
    agent = refund_agent(calls, with_lookup=True)
    log = MemoryEventLog()
    await (await start(agent, "refund both", log, run_id="r3")).wait()
    with pytest.raises(AnswerRefusedError) as refused:
        await resume(log, "r3", answers, agents=[agent])
    assert refused.value.status == status
    assert words in refused.value.reason
    # Nothing changed: the right answers still resume it.
    good = [Answer.approve("call_a"), Answer.approve("call_b")]
    done = await (await resume(log, "r3", good, agents=[agent])).wait()
    assert done is not None
    assert done.status == "completed"
    assert sorted(calls) == ["1", "2"]


async def test_a_replayed_answer_and_a_run_that_is_not_paused_are_refused() -> None:
    calls: list[str] = []
    agent = refund_agent(calls, with_lookup=True)
    log = MemoryEventLog()
    await (await start(agent, "refund both", log, run_id="r4")).wait()
    good = [Answer.approve("call_a"), Answer.reject("call_b")]
    await (await resume(log, "r4", good, agents=[agent])).wait()
    with pytest.raises(AnswerRefusedError) as replayed:
        await resume(log, "r4", good, agents=[agent])
    assert replayed.value.status == 404
    with pytest.raises(AnswerRefusedError) as unknown:
        await resume(log, "no-such-run", good, agents=[agent])
    assert unknown.value.status == 404
    assert calls == ["1"]


async def test_two_answers_racing_for_one_run_one_wins() -> None:
    calls: list[str] = []
    agent = refund_agent(calls, with_lookup=True)
    log = MemoryEventLog()
    await (await start(agent, "refund both", log, run_id="r5")).wait()
    yes = [Answer.approve("call_a"), Answer.approve("call_b")]
    no = [Answer.reject("call_a"), Answer.reject("call_b")]
    outcomes = await asyncio.gather(
        resume(log, "r5", yes, agents=[agent]),
        resume(log, "r5", no, agents=[agent]),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, AnswerRefusedError)]
    won = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(refused) == 1
    assert refused[0].status == 409
    assert len(won) == 1
    done = await won[0].wait()
    assert done is not None
    assert done.status == "completed"
    assert calls in (["1", "2"], [])


async def test_a_frontend_tool_pauses_the_run_and_its_output_resumes_it() -> None:
    pick = frontend_tool(
        "pick_date",
        "Ask the user for a date.",
        {"type": "object", "properties": {"why": {"type": "string"}}},
    )
    script = [
        turn(tool_call("pick_date", {"why": "delivery"}, call_id="call_d")),
        turn(text("Delivery is booked.")),
    ]
    agent = Agent(name="planner", model=ScriptedStreamModel(script), tools=[pick])
    log = MemoryEventLog()
    paused = await (await start(agent, "book it", log, run_id="r6")).wait()
    assert paused is not None
    assert paused.status == "interrupted"
    assert [(w.call_id, w.kind) for w in paused.interruptions] == [("call_d", "frontend_tool")]
    assert paused.pending_approvals == ()
    events = await read_all(log, "r6")
    assert "approval_requested" not in [e.type for e in events]  # not a question for a human
    assert [e.type for e in events if e.type == "tool_called"] == ["tool_called"]
    with pytest.raises(AnswerRefusedError) as wrong_kind:
        await resume(log, "r6", [Answer.approve("call_d")], agents=[agent])
    assert wrong_kind.value.status == 422
    answer = Answer.tool_output("call_d", {"date": "2026-12-24"})
    done = await (await resume(log, "r6", [answer], agents=agent)).wait()
    assert done is not None
    assert done.status == "completed"
    after = await read_all(log, "r6", after=paused.seq)
    outputs = [e for e in after if e.type == "tool_output"]
    assert len(outputs) == 1
    assert outputs[0].output == {"date": "2026-12-24"}
    assert outputs[0].name == "pick_date"


async def test_approve_always_covers_the_tools_later_calls_in_the_run() -> None:
    calls: list[str] = []
    again = turn(tool_call("refund", {"order_id": "9"}, call_id="call_e"))
    agent = refund_agent(calls, again, with_lookup=True)
    log = MemoryEventLog()
    await (await start(agent, "refund", log, run_id="r7")).wait()
    answers = [Answer.approve("call_a", always=True), Answer.approve("call_b")]
    done = await (await resume(log, "r7", answers, agents=[agent])).wait()
    assert done is not None
    assert done.status == "completed"  # call_e did not pause the run again
    assert calls == ["1", "2", "9"]


async def test_a_decoder_reads_the_paused_done_and_an_unknown_status_leniently() -> None:
    calls: list[str] = []
    log = MemoryEventLog()
    done = await (
        await start(refund_agent(calls, with_lookup=True), "refund", log, run_id="r8")
    ).wait()
    assert done is not None
    assert parse_event(done.model_dump_json()) == done
    newer = {**done.model_dump(mode="json"), "status": "suspended"}
    with pytest.raises(Exception, match="status"):
        parse_event(newer)
    lenient = parse_event(newer, ignore_unknown_fields=True)
    assert isinstance(lenient, Done)
    assert lenient.status == "error"
    assert lenient.error is not None
    assert lenient.error.type == "UnknownStatus"
    assert "suspended" in lenient.error.message


class HostedMcpModel(Model):
    """A model whose first turn asks to call a hosted MCP server's tool that needs approval,
    and whose next turn answers with what it was given back (the SDK's approval response)."""

    def __init__(self) -> None:
        self.inputs: list[Any] = []

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        given = kwargs.get("input", args[1] if len(args) > 1 else None)
        self.inputs.append(given)
        output: list[Any]
        if len(self.inputs) == 1:
            output = [
                McpApprovalRequest(
                    id="mcpr_1",
                    arguments='{"query": "refund policy"}',
                    name="search_docs",
                    server_label="docs",
                    type="mcp_approval_request",
                )
            ]
        else:
            content = [ResponseOutputText(text="Found it.", annotations=[], type="output_text")]
            output = [
                ResponseOutputMessage(
                    id="msg_mcp",
                    content=content,
                    role="assistant",
                    status="completed",
                    type="message",
                )
            ]
        response = Response(
            id=f"resp_{len(self.inputs)}",
            created_at=0,
            model="scripted",
            object="response",
            output=output,
            tool_choice="auto",
            tools=[],
            parallel_tool_calls=False,
            status="completed",
        )
        yield ResponseCompletedEvent(
            response=response, sequence_number=0, type="response.completed"
        )


async def test_a_hosted_mcp_approval_request_pauses_and_is_answered() -> None:
    model = HostedMcpModel()
    docs = HostedMCPTool(
        tool_config={
            "type": "mcp",
            "server_label": "docs",
            "server_url": "https://mcp.invalid/docs",
            "require_approval": "always",
        }
    )
    agent = Agent(name="researcher", model=model, tools=[docs])
    log = MemoryEventLog()
    paused = await (await start(agent, "find the policy", log, run_id="r9")).wait()
    assert paused is not None
    assert paused.status == "interrupted"
    assert [(w.call_id, w.name, w.kind) for w in paused.interruptions] == [
        ("mcpr_1", "search_docs", "mcp_approval")
    ]
    requests = [e for e in await read_all(log, "r9") if e.type == "approval_requested"]
    assert [(e.call_id, e.kind) for e in requests] == [("mcpr_1", "mcp")]
    answer = Answer.reject("mcpr_1", "Not now.")
    done = await (await resume(log, "r9", [answer], agents=[agent])).wait()
    assert done is not None
    assert done.status == "completed"
    assert done.final_output == "Found it."
    # The model was told: the SDK sent the MCP server's approval response, refused.
    sent = [i for i in model.inputs[-1] if isinstance(i, dict)]
    responses = [i for i in sent if i.get("type") == "mcp_approval_response"]
    assert [(r["approval_request_id"], r["approve"]) for r in responses] == [("mcpr_1", False)]


# The plain HTTP API


async def test_the_http_api_starts_answers_and_refuses_with_clear_statuses() -> None:
    calls: list[str] = []
    agent = refund_agent(calls, with_lookup=True)
    log = MemoryEventLog()
    app = Starlette(
        routes=[
            Route("/runs", runs_endpoint(agent, log), methods=["POST"]),
            Route("/runs/{run_id}/answers", answers_endpoint([agent], log), methods=["POST"]),
        ]
    )
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        started = await http.post("/runs", json={"input": "refund both", "thread": "t1"})
        assert started.status_code == 200
        run_id = started.headers["x-run-id"]
        events = [
            parse_event(line[6:]) for line in started.text.split("\n") if line[:6] == "data: "
        ]
        paused = events[-1]
        assert isinstance(paused, Done)
        assert paused.status == "interrupted"
        assert await log.find_pause("t1") == run_id
        answers_path = f"/runs/{run_id}/answers"
        refusals = [
            ({"answers": []}, 422),
            ({"nope": 1}, 422),
            ({"answers": [{"call_id": "call_a", "approved": "yes"}]}, 422),
            ({"answers": [{"call_id": "call_a", "approved": True, "extra": 1}]}, 422),
            ({"answers": [{"call_id": "call_q", "approved": True}]}, 409),
        ]
        for body, status in refusals:
            refused = await http.post(answers_path, json=body)
            assert refused.status_code == status, (body, refused.text)
            assert "error" in refused.json()
        assert (await http.post("/runs/nope/answers", json=refusals[0][0])).status_code == 422
        missing = {"answers": [{"call_id": "call_a", "approved": True}]}
        assert (await http.post("/runs/nope/answers", json=missing)).status_code == 404
        assert (await http.post("/runs", json={"input": ""})).status_code == 422
        assert (await http.post("/runs", content=b"{", headers=JSON)).status_code == 422
        assert calls == []
        body = {
            "answers": [
                {"call_id": "call_a", "approved": True},
                {"call_id": "call_b", "approved": False, "reason": "Not this one."},
            ]
        }
        answered = await http.post(answers_path, json=body)
        assert answered.status_code == 200
        rest = [parse_event(line[6:]) for line in answered.text.split("\n") if line[:6] == "data: "]
        assert rest[0].seq == paused.seq + 1
        assert isinstance(rest[-1], Done)
        assert rest[-1].status == "completed"
        assert (await http.post(answers_path, json=body)).status_code == 404
    assert calls == ["1"]


async def test_an_answer_for_another_runs_call_is_refused() -> None:
    calls: list[str] = []
    first = refund_agent(calls, with_lookup=True)
    log = MemoryEventLog()
    await (await start(first, "refund", log, run_id="mine")).wait()
    pick = frontend_tool("pick_date", "Ask for a date.")
    script = [turn(tool_call("pick_date", {}, call_id="call_other")), turn(text("ok"))]
    other = Agent(name="planner", model=ScriptedStreamModel(script), tools=[pick])
    await (await start(other, "book", log, run_id="theirs")).wait()
    answers = [Answer.approve("call_a"), Answer.tool_output("call_other", "x")]
    with pytest.raises(AnswerRefusedError) as refused:
        await resume(log, "mine", answers, agents=[first, other])
    assert refused.value.status == 409
    assert "call_other" in refused.value.reason
    # Both runs still wait, untouched.
    assert await log.load_pause("mine") is not None
    assert await log.load_pause("theirs") is not None
    assert calls == []


async def test_an_answer_faster_than_the_pausing_producer_waits_for_its_lease() -> None:
    """The pausing producer saves the pause, appends its done, then lets its lease go: an
    answer that comes in between waits for the lease instead of losing the claimed pause."""
    calls: list[str] = []
    agent = refund_agent(calls, with_lookup=True)

    class Watched(MemoryEventLog):
        claimed = asyncio.Event()

        async def claim_pause(self, run_id: str, record: str) -> bool:
            won = await super().claim_pause(run_id, record)
            self.claimed.set()
            return won

    log = Watched(lease_ttl=5.0)
    await (await start(agent, "refund", log, run_id="quick")).wait()
    token = await log.acquire_lease("quick")  # the producer, still letting go
    answers = [Answer.approve("call_a"), Answer.approve("call_b")]
    resuming = asyncio.ensure_future(resume(log, "quick", answers, agents=[agent]))
    await asyncio.wait_for(log.claimed.wait(), 5)  # the answer claimed the pause
    assert not resuming.done()
    await log.release_lease("quick", token)
    done = await (await asyncio.wait_for(resuming, 5)).wait()
    assert done is not None
    assert done.status == "completed"
    assert sorted(calls) == ["1", "2"]


def test_a_published_runs_pause_may_not_outlive_its_events() -> None:
    log = MemoryEventLog(ttl=60)
    with pytest.raises(ConfigurationError, match="pause_ttl"):
        answers_endpoint([refund_agent([], with_lookup=True)], log, pause_ttl=120)


async def test_a_pause_that_cannot_be_kept_ends_as_an_error_not_as_a_question() -> None:
    class Unreachable(MemoryEventLog):
        async def save_pause(
            self, run_id: str, record: str, ttl: float, *, thread: str | None = None
        ) -> None:
            raise EventLogUnavailableError(f"run {run_id!r}: saving the pause failed")

    calls: list[str] = []
    log = Unreachable()
    done = await (
        await start(refund_agent(calls, with_lookup=True), "refund", log, run_id="lost")
    ).wait()
    assert done is not None
    assert done.status == "error"
    assert done.error is not None
    assert done.error.type == "EventLogUnavailable"
    assert done.interruptions == ()
    assert (await log.info("lost")).done  # type: ignore[union-attr]


async def test_a_reader_waiting_on_a_pause_that_expires_is_told() -> None:
    log = MemoryEventLog(ttl=0.2)
    paused = await (
        await start(refund_agent([], with_lookup=True), "refund", log, run_id="gone")
    ).wait()
    assert paused is not None
    with pytest.raises(RunNotFoundError, match="expired"):
        await asyncio.wait_for(read_all(log, "gone", after=paused.seq), 5)


async def test_the_http_api_speaks_ndjson_when_asked() -> None:
    calls: list[str] = []
    agent = refund_agent(calls, with_lookup=True)
    log = MemoryEventLog()
    app = Starlette(
        routes=[
            Route("/runs", runs_endpoint(agent, log), methods=["POST"]),
            Route("/runs/{run_id}/answers", answers_endpoint([agent], log), methods=["POST"]),
        ]
    )
    ndjson = {"accept": "application/x-ndjson"}
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        started = await http.post("/runs", json={"input": "refund both"}, headers=ndjson)
        assert started.headers["content-type"].startswith("application/x-ndjson")
        first = [parse_event(line) for line in started.text.splitlines() if line]
        paused = first[-1]
        assert isinstance(paused, Done)
        assert paused.status == "interrupted"
        body = {"answers": [{"call_id": w.call_id, "approved": True} for w in paused.interruptions]}
        answered = await http.post(f"/runs/{paused.run_id}/answers", json=body, headers=ndjson)
        assert answered.headers["content-type"].startswith("application/x-ndjson")
        rest = [parse_event(line) for line in answered.text.splitlines() if line]
    assert [e.seq for e in first + rest] == list(range(len(first) + len(rest)))
    assert isinstance(rest[-1], Done)
    assert rest[-1].status == "completed"
    assert sorted(calls) == ["1", "2"]
