"""Interactive runs published to an event log: start, resume, and their HTTP endpoints.

`start()` publishes a run whose pause is kept in the log; `resume()` answers a paused run and
publishes its continuation into the same run: the same `run_id`, `seq` going on after the
`interrupted` done, so a reader that follows the run with `Last-Event-ID` reads across the pause.
`runs_endpoint()` and `answers_endpoint()` are the plain HTTP API (`POST /runs`,
`POST /runs/{run_id}/answers`) for services that build their own UI; `docs/interactive.md`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._bridge import (
    DEFAULT_CONTENT_TYPES,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_READ_TIMEOUT,
    BodyLimits,
    body_limits,
    read_json_or_refuse,
)
from ._checks import check_duration, check_seconds
from ._conversations import Sessions, last_agent
from ._errors import ConfigurationError
from ._eventlog import EventLog, EventLogUnavailableError, LeaseHeldError
from ._interactive import (
    DEFAULT_PAUSE_TTL,
    Answer,
    AnswerRefusedError,
    PausedRun,
    PausingStream,
    load_record,
    open_resumed,
)
from ._normalize import normalize
from ._resume import UNAVAILABLE_RETRY_AFTER, Publication, log_response, publish
from ._streams import check_heartbeat
from ._transport import resolved

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from agents import Agent
    from agents.memory import Session
    from agents.result import RunResultStreaming
    from starlette.requests import Request
    from starlette.responses import Response
    from typing_extensions import Unpack

    from ._options import RunOptions

__all__ = [
    "answers_endpoint",
    "pause_ttl_of",
    "pausing",
    "publish_continuation",
    "publish_current",
    "publish_resumed",
    "resume",
    "runs_endpoint",
    "start",
]

logger = logging.getLogger("agentstream")


def pause_ttl_of(log: EventLog, pause_ttl: float | None, *, published: bool = False) -> float:
    """How long a pause is kept.

    `pause_ttl`, else the log's own `ttl` (the run's events and its pause then expire
    together), else `DEFAULT_PAUSE_TTL`. A `published` run's events are in the log too: its
    pause may not outlive them.

    Raises:
        ConfigurationError: `pause_ttl` is not a duration, or outlives a published run's events.

    """
    ttl = getattr(log, "ttl", None)
    kept = float(ttl) if isinstance(ttl, (int, float)) and ttl > 0 else None
    if pause_ttl is None:
        return kept if kept is not None else DEFAULT_PAUSE_TTL
    seconds = check_duration("pause_ttl", pause_ttl)
    if published and kept is not None and seconds > kept:
        raise ConfigurationError(
            f"pause_ttl={pause_ttl!r} is longer than the log's ttl ({kept:g} s): the run's "
            "events would expire before its pause, and the answer could not continue it"
        )
    return seconds


def pausing(
    result: RunResultStreaming,
    log: EventLog,
    agent: str,
    *,
    thread: str | None,
    pause_ttl: float,
    names: Mapping[str, str] | None = None,
    key: str | None = None,
    **options: Unpack[RunOptions],
) -> PausingStream:
    """`normalize(result)` with its pause kept in `log` (see `PausingStream`)."""
    stream = normalize(result, **options)
    if names:
        stream.remember_calls(names)
    return PausingStream(stream, result, log, agent=agent, thread=thread, ttl=pause_ttl, key=key)


def _check_log(log: object) -> EventLog:
    if not isinstance(log, EventLog):
        raise ConfigurationError(f"log must be an EventLog, got {type(log).__name__}")
    return log


def _run_kwargs(context: Any, max_turns: int | None, run_config: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"context": context, "run_config": run_config}
    if max_turns is not None:
        kwargs["max_turns"] = max_turns
    return kwargs


async def start(
    agent: Agent[Any],
    input: str | list[Any],
    log: EventLog,
    *,
    thread: str | None = None,
    pause_ttl: float | None = None,
    context: Any = None,
    max_turns: int | None = None,
    run_config: Any = None,
    session: Session | None = None,
    **options: Unpack[RunOptions],
) -> Publication:
    """Run `agent` on `input` and publish the run into `log`, keeping its pause if it pauses.

    Args:
        agent: The agent to run; a resume finds it again by name among the agents it is given.
        input: The run's input, as for `Runner.run_streamed`.
        log: Where the run's events and its pause are kept.
        thread: The conversation the run belongs to; `find_pause(thread)` names the run.
        pause_ttl: Seconds the pause can be answered; by default the log's `ttl`.
        context: The run context passed to `Runner.run_streamed`.
        max_turns: Passed to `Runner.run_streamed` when given.
        run_config: Passed to `Runner.run_streamed`.
        session: The conversation's SDK `Session`, when the server holds it: the SDK loads the
            history before the model call and saves the run's items.
        **options: How the run is normalized (`RunOptions`); `run_id` names it in the log.

    Returns:
        The `Publication` (see `agentstream.resume.publish`).

    Raises:
        ConfigurationError: an argument has a value that cannot work.
        LeaseHeldError: the run id is taken.

    """
    from agents import Runner

    _check_log(log)
    ttl = pause_ttl_of(log, pause_ttl, published=True)
    kwargs = _run_kwargs(context, max_turns, run_config)
    if session is not None:
        kwargs["session"] = session
    result = Runner.run_streamed(agent, input, **kwargs)
    stream = pausing(result, log, agent.name, thread=thread, pause_ttl=ttl, **options)
    return await publish(stream, log, run_id=stream.run_id)


async def resume(
    log: EventLog,
    run_id: str,
    answers: Iterable[Answer],
    /,
    *,
    agents: Agent[Any] | Iterable[Agent[Any]],
    thread: str | None = None,
    pause_ttl: float | None = None,
    context: Any = None,
    max_turns: int | None = None,
    run_config: Any = None,
    session: Session | None = None,
    **options: Unpack[RunOptions],
) -> Publication:
    """Answer a paused run and publish its continuation into the same run of `log`.

    Any process that reaches the log can resume the run: its state is read from the log and
    its agent looked up by name among `agents` (and their handoffs). The continuation's events
    carry the same `run_id` and go on from the `seq` after the `interrupted` done.

    Args:
        log: The log that holds the run (it was published with `start()`).
        run_id: The paused run.
        answers: One `Answer` for each call the run waits for.
        agents: The agents this service runs.
        thread: When given, answers for a run of another conversation are refused.
        pause_ttl: Seconds a new pause can be answered; by default the log's `ttl`.
        context: A run context that replaces the one saved with the run.
        max_turns: Passed to `Runner.run_streamed` when given.
        run_config: Passed to `Runner.run_streamed`.
        session: The conversation's SDK `Session`, when the server holds it.
        **options: How the continuation is normalized (`RunOptions`, but `run_id` and
            `first_seq`, which come from the paused run).

    Raises:
        AnswerRefusedError: the answers do not fit the run's pause, nothing changed (its
            `status`: 404 not paused, 409 not waiting or answered already, 422 malformed).
        ConfigurationError: the run's agent is not among `agents`, or an option is invalid.
        EventLogUnavailableError: the log could not be reached.

    """
    publication, _ = await resumed(
        log,
        run_id,
        answers,
        agents=agents,
        thread=thread,
        pause_ttl=pause_ttl,
        context=context,
        max_turns=max_turns,
        run_config=run_config,
        session=session,
        **options,
    )
    return publication


async def resumed(
    log: EventLog,
    run_id: str,
    answers: Iterable[Answer],
    /,
    *,
    agents: Agent[Any] | Iterable[Agent[Any]],
    thread: str | None,
    pause_ttl: float | None,
    context: Any,
    max_turns: int | None,
    run_config: Any,
    session: Session | None = None,
    **options: Unpack[RunOptions],
) -> tuple[Publication, int]:
    """`resume()`, and the seq of the continuation's first event."""
    _check_log(log)
    for name in ("run_id", "first_seq"):
        if name in options:
            raise ConfigurationError(f"a resumed run keeps its {name}; do not pass {name}")
    ttl = pause_ttl_of(log, pause_ttl, published=True)
    result, record = await open_resumed(
        log,
        run_id,
        answers,
        agents,
        thread=thread,
        context=context,
        max_turns=max_turns,
        run_config=run_config,
        session=session,
    )
    names = {w.call_id: w.name for w in record.interruptions}
    continued: RunOptions = {**options, "run_id": run_id, "first_seq": record.next_seq}
    stream = pausing(
        result, log, record.agent, thread=record.thread, pause_ttl=ttl, names=names, **continued
    )
    return await publish_continuation(stream, log, run_id), record.next_seq


async def publish_continuation(stream: PausingStream, log: EventLog, run_id: str) -> Publication:
    """Publish a resumed run, waiting out the lease of the producer that paused it.

    That producer saves the pause, appends the `interrupted` done, then releases its lease: an
    answer quick enough to come in between waits a moment, at most one lease period, rather
    than losing the claimed pause.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + log.lease_ttl
    while (publication := await _try_publish(stream, log, run_id)) is None:
        info = await log.info(run_id)
        if info is None or info.done or loop.time() >= deadline:
            await stream.aclose()
            raise LeaseHeldError(f"run {run_id!r} already has a producer")
        await asyncio.sleep(0.05)  # backoff while the pausing producer lets go
    return publication


async def _try_publish(stream: PausingStream, log: EventLog, run_id: str) -> Publication | None:
    try:
        return await publish(stream, log, run_id=run_id)
    except LeaseHeldError:
        return None


# Runs a bridge publishes as a conversation's current run (its `resumable` mode)


async def publish_current(
    agent: Agent[Any],
    items: Any,
    log: EventLog,
    thread: str,
    *,
    pause_ttl: float,
    key: str,
    run_kwargs: Mapping[str, Any],
    session: Session | None,
    **options: Unpack[RunOptions],
) -> str:
    """Start a run, publish it to `log` as `thread`'s current run; return its id."""
    from agents import Runner

    kwargs = {k: v for k, v in run_kwargs.items() if v is not None or k != "max_turns"}
    if session is not None:
        kwargs["session"] = session
    result = Runner.run_streamed(agent, items, **kwargs)
    stream = pausing(
        result, log, agent.name, thread=thread, pause_ttl=pause_ttl, key=key, **options
    )
    await publish(stream, log, run_id=stream.run_id)
    await log.set_current(thread, stream.run_id, -1, pause_ttl)
    return stream.run_id


async def publish_resumed(
    result: RunResultStreaming,
    record: PausedRun,
    log: EventLog,
    thread: str,
    *,
    pause_ttl: float,
    key: str,
    **options: Unpack[RunOptions],
) -> int:
    """Publish a resumed run's continuation as `thread`'s current run.

    Returns the seq its stream starts after.
    """
    names = {w.call_id: w.name for w in record.interruptions}
    continued: RunOptions = {**options, "run_id": record.run_id, "first_seq": record.next_seq}
    stream = pausing(
        result,
        log,
        record.agent,
        thread=thread,
        pause_ttl=pause_ttl,
        names=names,
        key=key,
        **continued,
    )
    await publish_continuation(stream, log, record.run_id)
    after = record.next_seq - 1
    await log.set_current(thread, record.run_id, after, pause_ttl)
    return after


# The HTTP API


def _refused(status: int, reason: str) -> Response:
    from starlette.responses import JSONResponse

    headers = {"retry-after": str(UNAVAILABLE_RETRY_AFTER)} if status == 503 else None
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


def parse_answers(body: object) -> list[Answer]:
    """The answers of an HTTP body `{"answers": [...]}` (see `Answer.from_json`).

    Raises:
        AnswerRefusedError: (422) the body is not such an object.

    """
    if not isinstance(body, Mapping) or not isinstance(body.get("answers"), list):
        raise AnswerRefusedError(422, 'the body must be {"answers": [...]}')
    answers = body["answers"]
    if not answers:
        raise AnswerRefusedError(422, "no answers were given")
    return [Answer.from_json(item) for item in answers]


def _checked(
    log: EventLog,
    pause_ttl: float | None,
    heartbeat: float | None,
    send_timeout: float | None,
    max_body_bytes: int,
    read_timeout: float | None,
) -> BodyLimits:
    """Check an endpoint's arguments; return its request limits."""
    _check_log(log)
    pause_ttl_of(log, pause_ttl, published=True)
    check_heartbeat(heartbeat)
    check_seconds("send_timeout", send_timeout)
    return body_limits(
        max_body_bytes=max_body_bytes,
        content_types=DEFAULT_CONTENT_TYPES,
        read_timeout=read_timeout,
    )


def runs_endpoint(
    agent: Agent[Any] | Callable[[Mapping[str, Any]], Agent[Any]],
    log: EventLog,
    *,
    pause_ttl: float | None = None,
    heartbeat: float | None = 15.0,
    send_timeout: float | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    read_timeout: float | None = DEFAULT_READ_TIMEOUT,
    context: Any = None,
    max_turns: int | None = None,
    run_config: Any = None,
    sessions: Sessions | None = None,
    **options: Unpack[RunOptions],
) -> Callable[[Request], Awaitable[Response]]:
    """`POST /runs`: start a run from `{"input": ..., "thread"?: ...}` and stream it.

    `conversation_id` is another name for `thread`.

    With `sessions`, the server holds each conversation (`docs/conversations.md`): `thread`
    names it (required), `input` is the new turn, and the agent that ended the last turn
    starts this one.

    The events come from the log, as SSE (`id:` is the seq, so `Last-Event-ID` resumes them with
    `resumable_sse_endpoint`), or as NDJSON when the `Accept` header prefers
    `application/x-ndjson`. A run that pauses ends its stream with the `interrupted` done;
    `answers_endpoint` resumes it. Bad bodies get 4xx answers with `{"error": reason}`.

    Raises:
        MissingExtraError: Starlette is not installed (`pip install 'agentstream[web]'`).
        ConfigurationError: an argument has a value that cannot work.

    """
    limits = _checked(log, pause_ttl, heartbeat, send_timeout, max_body_bytes, read_timeout)

    async def endpoint(request: Request) -> Response:
        body = await read_json_or_refuse(request, limits)
        if not isinstance(body, Mapping):
            return body
        run_input = body.get("input")
        thread = body.get("thread", body.get("conversation_id"))
        if not isinstance(run_input, (str, list)) or not run_input:
            return _refused(422, "input must be a non-empty string or a list of input items")
        if thread is not None and (not isinstance(thread, str) or not thread):
            return _refused(422, "thread must be a non-empty string")
        chosen = agent(body) if callable(agent) and not _is_agent(agent) else agent
        session = None
        if sessions is not None:
            if thread is None:
                return _refused(422, "a conversation the server holds needs its thread")
            session = sessions(thread)
            chosen = last_agent(chosen, await session.get_items())  # type: ignore[arg-type]
        try:
            publication = await start(
                chosen,  # type: ignore[arg-type]
                run_input,
                log,
                thread=thread,
                pause_ttl=pause_ttl,
                context=context,
                max_turns=max_turns,
                run_config=run_config,
                session=session,
                **options,
            )
        except EventLogUnavailableError as exc:
            logger.warning("starting a run: %s", exc)
            return _refused(503, "the event log is unavailable; retry later")
        return log_response(
            log,
            publication.run_id,
            -1,
            heartbeat=heartbeat,
            send_timeout=send_timeout,
            headers={"x-run-id": publication.run_id},
            ndjson=_wants_ndjson(request),
        )

    return resolved(endpoint)


def answers_endpoint(
    agents: Agent[Any] | Iterable[Agent[Any]],
    log: EventLog,
    *,
    path_param: str = "run_id",
    pause_ttl: float | None = None,
    heartbeat: float | None = 15.0,
    send_timeout: float | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    read_timeout: float | None = DEFAULT_READ_TIMEOUT,
    context: Any = None,
    max_turns: int | None = None,
    run_config: Any = None,
    sessions: Sessions | None = None,
    **options: Unpack[RunOptions],
) -> Callable[[Request], Awaitable[Response]]:
    """`POST /runs/{run_id}/answers`: answer a paused run and stream its continuation.

    With `sessions`, the continuation saves its items in the conversation the run paused in.

    As SSE, or as NDJSON when the `Accept` header prefers `application/x-ndjson`.
    The body is `{"answers": [{"call_id", "approved", "reason"?, "always"?} |
    {"call_id", "output"}]}`, one answer for each call the run waits for. The answer is the
    run's events after its `interrupted` done, from the log. Refusals change nothing and are
    JSON `{"error": reason}`: 404 (the run is not paused, or expired), 409 (a call that is not
    waiting: unknown, answered already, another run's; or another answer won the race), 422
    (a malformed body), 503 with `Retry-After` (the log is unreachable).

    Args:
        agents: The agents this service runs; the run's is found by name.
        log: The log that holds the runs.
        path_param: The path parameter that holds the run id.
        pause_ttl: As for `resume()`.
        heartbeat: Seconds without an event before a `: ping` comment, or None.
        send_timeout: Seconds one write may wait for a client that does not read.
        max_body_bytes: The largest request body read (1 MiB by default).
        read_timeout: Seconds the whole body may take to arrive (30 by default).
        context: As for `resume()`.
        max_turns: As for `resume()`.
        run_config: As for `resume()`.
        sessions: A conversation id to its SDK `Session` (`docs/conversations.md`): the
            continuation saves its items in the conversation the run paused in.
        **options: As for `resume()`.

    Raises:
        MissingExtraError: Starlette is not installed (`pip install 'agentstream[web]'`).
        ConfigurationError: an argument has a value that cannot work.

    """
    limits = _checked(log, pause_ttl, heartbeat, send_timeout, max_body_bytes, read_timeout)

    async def endpoint(request: Request) -> Response:
        run = request.path_params.get(path_param)
        if not isinstance(run, str) or not run:
            return _refused(404, "no such run")
        body = await read_json_or_refuse(request, limits)
        if not isinstance(body, Mapping):
            return body
        try:
            answers = parse_answers(body)
            session = None
            if sessions is not None:
                record, _ = await load_record(log, run)
                session = sessions(record.thread) if record.thread is not None else None
            _, first = await resumed(
                log,
                run,
                answers,
                agents=agents,
                thread=None,
                pause_ttl=pause_ttl,
                context=context,
                max_turns=max_turns,
                run_config=run_config,
                session=session,
                **options,
            )
        except AnswerRefusedError as refused:
            return _refused(refused.status, refused.reason)
        except EventLogUnavailableError as exc:
            logger.warning("answering run %r: %s", run, exc)
            return _refused(503, "the event log is unavailable; retry later")
        return log_response(
            log,
            run,
            first - 1,
            heartbeat=heartbeat,
            send_timeout=send_timeout,
            ndjson=_wants_ndjson(request),
        )

    return resolved(endpoint)


def _wants_ndjson(request: Request) -> bool:
    """Whether the request's `Accept` header prefers NDJSON to SSE."""
    from .web import choose_format

    return choose_format(request.headers.get("accept")) == "ndjson"


def _is_agent(value: object) -> bool:
    from agents import Agent

    return isinstance(value, Agent)
