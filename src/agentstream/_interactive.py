"""Interactive runs: a paused run's state kept in an event log, and resumed from any process.

A run pauses when a tool call needs a human's approval (`needs_approval`, hosted MCP approval
requests) or when the model calls a tool the client executes (`frontend_tool()`); its stream
ends with `Done(status="interrupted")`. Before that `done` is handed out, `PausingStream` saves a
`PausedRun` record (the SDK's serialized `RunState`, the starting agent's name, the next `seq`,
what the run waits for) in the log. `open_resumed()` checks a set of answers against the record,
claims it (one caller wins), applies the answers to the state and starts the continuation, whose
events go on with the same `run_id` and the next `seq`.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

from ._errors import AgentStreamError, ConfigurationError
from ._eventlog import EventLog, EventLogUnavailableError, check_run_id, is_pause
from ._events import Done, ErrorInfo, Interruption
from ._mapping import FRONTEND_TOOL
from ._streams import BatchedSource

if TYPE_CHECKING:
    from agents import Agent, FunctionTool
    from agents.result import RunResultStreaming
    from agents.tool_context import ToolContext

    from ._normalize import EventStream
    from ._streams import Batch

__all__ = [
    "DEFAULT_PAUSE_TTL",
    "PAUSE_NOT_SAVED",
    "Answer",
    "AnswerRefusedError",
    "PausedRun",
    "PausingStream",
    "check_answers",
    "frontend_tool",
    "load_record",
    "open_resumed",
    "sign",
    "signed",
    "thread_pause",
]

logger = logging.getLogger("agentstream")

DEFAULT_PAUSE_TTL: Final = 24 * 3600.0
"""Seconds a paused run can be resumed, by default: a day."""

PAUSE_NOT_SAVED: Final = "PauseNotSaved"
"""`Done.error.type` of a run that paused but whose state could not be kept: it cannot resume."""

_OUTPUTS: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "agentstream_frontend_outputs", default=None
)


class AnswerRefusedError(AgentStreamError, ValueError):
    """Answers that cannot resume the run; nothing was changed.

    `status` is the HTTP status an endpoint answers with: 404 (the run is not waiting for
    answers), 409 (a call is not waiting: unknown, already answered, another run's, or another
    answer won the race), 422 (answers malformed: wrong kind, duplicated, missing), 403 (an
    approval whose signature does not match: forged or altered).
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        """The HTTP status that fits."""
        self.reason = reason
        """Why, in one sentence that is safe to send to the client."""


_UNSET: Final[Any] = object()


@dataclass(frozen=True)
class Answer:
    """An answer to one call a paused run waits for.

    Make one with `approve`, `reject` or `tool_output`.
    """

    call_id: str
    """The call answered (`Interruption.call_id`)."""
    approved: bool | None = None
    """For an approval: True to run the call, False to refuse it; None for a tool output."""
    reason: str | None = None
    """For a refusal: the text the model sees as the call's output (the SDK's default without)."""
    always: bool = False
    """For an approval: the same answer for the tool's later calls in this run."""
    output: Any = _UNSET
    """For a frontend tool: the output the client produced (any JSON value)."""

    @classmethod
    def approve(cls, call_id: str, *, always: bool = False) -> Answer:
        """Approve the call (and with `always`, the tool's later calls in this run)."""
        return cls(call_id, approved=True, always=always)

    @classmethod
    def reject(cls, call_id: str, reason: str | None = None, *, always: bool = False) -> Answer:
        """Refuse the call; `reason` is what the model sees instead of the tool's output."""
        return cls(call_id, approved=False, reason=reason, always=always)

    @classmethod
    def tool_output(cls, call_id: str, output: JsonValue) -> Answer:
        """Give the output of a frontend tool's call, as the client produced it."""
        return cls(call_id, output=output)

    @property
    def has_output(self) -> bool:
        """Whether this answer carries a frontend tool's output."""
        return self.output is not _UNSET

    @classmethod
    def from_json(cls, data: object) -> Answer:
        """Read one answer of the HTTP API.

        The object is `{"call_id", "approved", "reason"?, "always"?}` or `{"call_id", "output"}`.

        Raises:
            AnswerRefusedError: (422) the object is not an answer.

        """
        if not isinstance(data, Mapping):
            raise AnswerRefusedError(422, "an answer is a JSON object")
        call_id = data.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise AnswerRefusedError(422, "an answer needs a call_id (a non-empty string)")
        unknown = sorted(set(data) - {"call_id", "approved", "reason", "always", "output"})
        if unknown:
            raise AnswerRefusedError(422, f"answer for {call_id}: unknown fields {unknown}")
        if "output" in data:
            if "approved" in data:
                raise AnswerRefusedError(
                    422, f"answer for {call_id}: give approved or output, not both"
                )
            return cls.tool_output(call_id, data["output"])
        approved, reason, always = data.get("approved"), data.get("reason"), data.get("always")
        if not isinstance(approved, bool):
            raise AnswerRefusedError(422, f"answer for {call_id}: approved must be true or false")
        if reason is not None and not isinstance(reason, str):
            raise AnswerRefusedError(422, f"answer for {call_id}: reason must be a string")
        if always is not None and not isinstance(always, bool):
            raise AnswerRefusedError(422, f"answer for {call_id}: always must be true or false")
        return cls(call_id, approved=approved, reason=reason, always=bool(always))


class PausedRun(BaseModel):
    """What the log keeps of a paused run: enough for any process to resume it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    run_id: str
    """The run's id; the continuation keeps it."""
    agent: str
    """Name of the agent the run started with: the SDK rebuilds the state from it."""
    state: str
    """The SDK's serialized `RunState` (`to_string()`)."""
    next_seq: int
    """`seq` of the continuation's first event."""
    interruptions: tuple[Interruption, ...]
    """What the run waits for."""
    thread: str | None = None
    """The conversation the run belongs to (a chat id, an AG-UI thread), when known."""
    paused_at: int = 0
    """When the run paused, in ms since the Unix epoch."""
    key: str | None = None
    """The secret a bridge signed the run's approval requests with (never sent to a client)."""

    def interruption(self, call_id: str) -> Interruption | None:
        """What the run waits for from `call_id`, or None."""
        return next((w for w in self.interruptions if w.call_id == call_id), None)


def frontend_tool(
    name: str,
    description: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    strict: bool = False,
) -> FunctionTool:
    """A tool the client executes.

    The agent calls it like any tool; the run pauses, and the client's output
    (`Answer.tool_output`) resumes it.

    Args:
        name: The tool's name, as the model and the client see it.
        description: What the tool does, for the model.
        parameters: The JSON Schema of its arguments (an object schema); none by default.
        strict: Ask the model for arguments that follow the schema strictly (the schema must
            then be strict-compatible).

    Raises:
        ConfigurationError: `name` or `parameters` is not usable.

    """
    from agents import FunctionTool

    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"a frontend tool needs a name, got {name!r}")
    schema = dict(parameters) if parameters is not None else {"type": "object", "properties": {}}
    if schema.get("type") != "object":
        raise ConfigurationError(f"frontend tool {name!r}: parameters must be an object schema")

    async def invoke(context: ToolContext[Any], arguments: str) -> Any:
        outputs = _OUTPUTS.get() or {}
        if context.tool_call_id in outputs:
            return outputs[context.tool_call_id]
        # Unreachable through agentstream: the call needs approval, which only an output gives.
        return "the client did not return an output for this call"

    tool = FunctionTool(
        name=name,
        description=description,
        params_json_schema=schema,
        on_invoke_tool=invoke,
        strict_json_schema=strict,
        needs_approval=True,
    )
    setattr(tool, FRONTEND_TOOL, True)
    return tool


class PausingStream(BatchedSource):
    """An `EventStream` whose `interrupted` done is held until the paused run is saved.

    If it cannot be saved (the log is unreachable, the state does not serialize), the done
    becomes `error`, `PauseNotSaved` or `EventLogUnavailable`: a client must not be told it can
    answer a run that cannot resume.
    """

    def __init__(
        self,
        stream: EventStream,
        result: RunResultStreaming,
        log: EventLog,
        *,
        agent: str,
        thread: str | None,
        ttl: float,
        key: str | None = None,
    ) -> None:
        self._stream = stream
        self._key = key
        self._result = result
        self._log = log
        self._agent = agent
        self._thread = thread
        self._ttl = ttl
        self._done: Done | None = None

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self._stream.run_id

    @property
    def done(self) -> Done | None:
        """The `Done` handed out, once it has been."""
        return self._done

    @property
    def exception(self) -> BaseException | None:
        """The exception that ended the run, if any (`EventStream.exception`)."""
        return self._stream.exception

    async def _settle(self, done: Done) -> Done:
        if not is_pause(done):
            self._done = done
            return done
        try:
            record = PausedRun(
                run_id=done.run_id,
                agent=self._agent,
                state=self._result.to_state().to_string(),
                next_seq=done.seq + 1,
                interruptions=done.interruptions,
                thread=self._thread,
                paused_at=int(time.time() * 1000),
                key=self._key,
            )
            await self._log.save_pause(
                done.run_id, record.model_dump_json(), self._ttl, thread=self._thread
            )
        except EventLogUnavailableError as exc:
            logger.warning("run %r paused, but its state could not be saved: %s", self.run_id, exc)
            error = ErrorInfo(
                type="EventLogUnavailable", message="the paused run could not be saved"
            )
            done = _failed(done, error)
        except Exception:
            logger.warning(
                "run %r paused, but its state could not be saved", self.run_id, exc_info=True
            )
            done = _failed(
                done, ErrorInfo(type=PAUSE_NOT_SAVED, message="the paused run could not be saved")
            )
        self._done = done
        return done

    async def _read_batch(self, timeout: float | None) -> Batch | None:
        batch = await self._stream._read_batch(timeout)
        if batch and isinstance(batch[-1], Done):
            batch[-1] = await self._settle(batch[-1])
        return batch

    def __aiter__(self) -> PausingStream:
        return self

    async def __anext__(self) -> Any:
        event = await self._stream.__anext__()
        if isinstance(event, Done):
            return await self._settle(event)
        return event

    async def next_event(self, timeout: float | None) -> Any:
        """The next event within `timeout` seconds, or None (`EventStream.next_event`)."""
        event = await self._stream.next_event(timeout)
        if isinstance(event, Done):
            return await self._settle(event)
        return event

    async def aclose(self) -> None:
        """Close the stream: a run still going is cancelled."""
        await self._stream.aclose()


def _failed(done: Done, error: ErrorInfo) -> Done:
    return done.model_copy(
        update={"status": "error", "error": error, "interruptions": (), "pending_approvals": ()}
    )


def check_answers(record: PausedRun, answers: Iterable[Answer]) -> list[Answer]:
    """Refuse answers that do not fit what `record` waits for; return them in a list.

    Raises:
        AnswerRefusedError: 409 for a call that is not waiting in this run, 422 for an answer of
            the wrong kind, a call answered twice, or a call left without an answer.

    """
    answers = list(answers)
    seen: set[str] = set()
    for answer in answers:
        if not isinstance(answer, Answer):
            raise ConfigurationError(f"answers must be Answer objects, got {type(answer).__name__}")
        if answer.call_id in seen:
            raise AnswerRefusedError(422, f"call {answer.call_id} is answered twice")
        seen.add(answer.call_id)
        waiting = record.interruption(answer.call_id)
        if waiting is None:
            raise AnswerRefusedError(
                409, f"call {answer.call_id} is not waiting for an answer in run {record.run_id}"
            )
        if waiting.kind == "frontend_tool" and not answer.has_output:
            raise AnswerRefusedError(
                422, f"call {answer.call_id} is a frontend tool's: answer with its output"
            )
        if waiting.kind != "frontend_tool" and (answer.has_output or answer.approved is None):
            raise AnswerRefusedError(
                422, f"call {answer.call_id} waits for an approval: answer approved true or false"
            )
    missing = [w.call_id for w in record.interruptions if w.call_id not in seen]
    if missing:
        raise AnswerRefusedError(422, f"calls {missing} still wait for an answer")
    return answers


def find_agent(agents: Agent[Any] | Iterable[Agent[Any]], name: str) -> Agent[Any]:
    """The agent called `name` among `agents`, or among the handoffs reachable from them."""
    from agents import Agent

    todo = [agents] if isinstance(agents, Agent) else list(agents)
    seen: set[int] = set()
    while todo:
        agent = todo.pop()
        if id(agent) in seen or not isinstance(agent, Agent):
            continue
        seen.add(id(agent))
        if agent.name == name:
            return agent
        todo.extend(h for h in agent.handoffs if isinstance(h, Agent))
    raise ConfigurationError(f"the paused run started with agent {name!r}, which is not served")


async def load_record(log: EventLog, run_id: str) -> tuple[PausedRun, str]:
    """The pause of `run_id` and its stored text.

    Raises:
        AnswerRefusedError: (404) the run is not waiting for answers.

    """
    check_run_id(run_id)
    text = await log.load_pause(run_id)
    if text is None:
        raise AnswerRefusedError(404, f"run {run_id} is not waiting for answers")
    try:
        return PausedRun.model_validate_json(text), text
    except ValidationError:
        logger.warning("the pause of run %r is not readable", run_id, exc_info=True)
        raise AnswerRefusedError(404, f"run {run_id} is not waiting for answers") from None


async def thread_pause(log: EventLog, thread: str | None) -> tuple[PausedRun, str] | None:
    """The pause of the run that last paused in `thread`, and its stored text.

    None when nothing of the thread waits: it never paused, was resumed, or expired.
    """
    run_id = await log.find_pause(thread) if thread is not None else None
    if run_id is None:
        return None
    try:
        return await load_record(log, run_id)
    except AnswerRefusedError:
        return None


async def open_resumed(
    log: EventLog,
    run_id: str,
    answers: Iterable[Answer],
    agents: Agent[Any] | Iterable[Agent[Any]],
    *,
    thread: str | None = None,
    context: Any = None,
    max_turns: int | None = None,
    run_config: Any = None,
    loaded: tuple[PausedRun, str] | None = None,
    session: Any = None,
) -> tuple[RunResultStreaming, PausedRun]:
    """Check `answers`, claim the run's pause, and start its continuation.

    `loaded` is the pause as `load_record` read it, when the caller already has it (to read
    the answers out of a protocol's request first). `session` is the conversation's SDK
    `Session` when the server holds it.

    Raises:
        AnswerRefusedError: the answers do not fit (see `check_answers`), the run is not
            paused (404) or belongs to another `thread` (409), or another answer claimed it
            first (409).
        ConfigurationError: the run's agent is not among `agents`.

    """
    from agents import Runner
    from agents.run_state import RunState

    record, text = loaded if loaded is not None else await load_record(log, run_id)
    if thread is not None and record.thread is not None and record.thread != thread:
        raise AnswerRefusedError(409, f"run {run_id} belongs to another conversation")
    answers = check_answers(record, answers)
    agent = find_agent(agents, record.agent)
    context_override = {"context_override": context} if context is not None else {}
    state = await RunState.from_string(agent, record.state, **context_override)
    items = {_call_id(item): item for item in state.get_interruptions()}
    outputs: dict[str, Any] = {}
    for answer in answers:
        item = items.get(answer.call_id)
        if item is None:
            raise AnswerRefusedError(
                409, f"call {answer.call_id} is not waiting for an answer in run {run_id}"
            )
        if answer.has_output:
            outputs[answer.call_id] = answer.output
            state.approve(item)
        elif answer.approved:
            state.approve(item, always_approve=answer.always)
        else:
            state.reject(item, always_reject=answer.always, rejection_message=answer.reason)
    if not await log.claim_pause(run_id, text):
        raise AnswerRefusedError(409, f"run {run_id} was answered already")
    kwargs: dict[str, Any] = {"run_config": run_config}
    if max_turns is not None:
        kwargs["max_turns"] = max_turns
    if session is not None:
        kwargs["session"] = session  # the conversation held by the server gets the new items
    token = _OUTPUTS.set(outputs)
    try:
        # The run's task copies this context: the frontend tools read their outputs from it.
        result = Runner.run_streamed(agent, state, **kwargs)
    finally:
        _OUTPUTS.reset(token)
    return result, record


def sign(key: str, *parts: str) -> str:
    """An HMAC-SHA256 of `parts` under `key`, in URL-safe base64.

    It binds an approval request to its run and call, so that an answer a client forged or
    altered is told apart.
    """
    message = "\n".join(parts).encode("utf-8", "surrogatepass")
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed(key: str | None, signature: object, *parts: str) -> bool:
    """Whether `signature` is `sign(key, *parts)` (compared in constant time)."""
    if key is None or not isinstance(signature, str):
        return False
    return hmac.compare_digest(sign(key, *parts), signature)


def _call_id(item: Any) -> str:
    raw = getattr(item, "raw_item", None)
    if isinstance(raw, Mapping):
        return str(raw.get("call_id") or raw.get("id") or "")
    return str(getattr(raw, "call_id", None) or getattr(raw, "id", None) or "")


def answers_json(answers: Iterable[Answer]) -> str:
    """The answers as the HTTP API's JSON body (for clients and tests)."""
    body = []
    for a in answers:
        if a.has_output:
            body.append({"call_id": a.call_id, "output": a.output})
        else:
            entry: dict[str, Any] = {"call_id": a.call_id, "approved": a.approved}
            if a.reason is not None:
                entry["reason"] = a.reason
            if a.always:
                entry["always"] = True
            body.append(entry)
    return json.dumps({"answers": body})
