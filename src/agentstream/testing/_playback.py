"""What both players share: which turn a model call plays, the ids it gets, and its pacing.

A player holds one `Playback`. With one shared script, model calls take its turns in order,
whichever run makes them. With a script per run (``per_run=True``, or a factory), each run plays
a script of its own from the first turn, so one player can serve many concurrent runs, as a
development server does. A call belongs to a run when its input, after the last user message,
holds an item or call id the player produced for that run (or, without a user message, when its
``previous_response_id`` is one); any other call starts a new run.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ._script import (
    Fault,
    HttpError,
    Script,
    ScriptError,
    ScriptFactory,
    Turn,
    as_turn,
)

__all__ = [
    "Frame",
    "IdStyle",
    "Ids",
    "OutOfTurnsError",
    "Playback",
    "paced",
    "read_input",
]

IdStyle: TypeAlias = Literal["unique", "sequential"]
"""``"unique"``: random ids, never the same twice (across players, runs and processes).
``"sequential"``: ids counted from 1 in each player, the same in every test run (for snapshots),
and repeated across players."""

_MAX_RUNS = 1_000
"""Runs a per-run playback remembers (finished or not), so a long-lived server stays small."""


class OutOfTurnsError(ScriptError):
    """A run made more model calls than its script has turns."""


class Ids:
    """Makes the ids a player gives to responses, output items, calls and requests."""

    def __init__(self, style: IdStyle) -> None:
        if style not in ("unique", "sequential"):
            raise ScriptError(f"ids must be 'unique' or 'sequential', got {style!r}")
        self._counts: dict[str, int] | None = {} if style == "sequential" else None

    def new(self, prefix: str, sep: str = "_") -> str:
        """A new id such as ``resp_9f0c...`` (unique) or ``resp_3`` (sequential)."""
        if self._counts is None:
            return f"{prefix}{sep}{secrets.token_hex(12)}"
        count = self._counts[prefix] = self._counts.get(prefix, 0) + 1
        return f"{prefix}{sep}{count}"

    def item(self, prefix: str, response_id: str, index: int) -> str:
        """The id of output item `index` of a response (``msg_resp_3_0`` when sequential)."""
        if self._counts is None:
            return self.new(prefix)
        return f"{prefix}_{response_id}_{index}"


@dataclass(eq=False)
class _Run:
    turns: list[Turn]
    played: int = 0
    ids: list[str] = field(default_factory=list)


class Playback:
    """Hands out turns: from one shared script, or from a script per run."""

    def __init__(
        self, script: Script | ScriptFactory, *, per_run: bool, check: Callable[[Turn], None]
    ) -> None:
        self._check = check
        self._factory: ScriptFactory | None = None
        self._shared: _Run | None = None
        if callable(script):
            self._factory = script
        else:
            turns = self._read(script)
            if per_run:
                self._factory = lambda _prompt: turns
            else:
                self._shared = _Run(turns)
        self._runs: deque[_Run] = deque()
        self._by_id: dict[str, _Run] = {}
        self._unplayed = 0

    @property
    def remaining(self) -> int:
        """Turns not played yet: of the shared script, or of every run started so far."""
        if self._shared is not None:
            return len(self._shared.turns) - self._shared.played
        return self._unplayed

    def add(self, script: Script) -> None:
        """Append turns to the shared script."""
        if self._shared is None:
            raise ScriptError(
                "add() appends to a shared script, but this one plays a script per run"
            )
        self._shared.turns.extend(self._read(script))

    def next_turn(self, prompt: str, recent_ids: Iterable[str]) -> tuple[Turn, _Run]:
        """The turn a model call plays, and the run it belongs to.

        `prompt` is the text of the call's last user message, `recent_ids` the ids after it.
        """
        run = self._shared
        if run is None:
            run = next((self._by_id[i] for i in recent_ids if i in self._by_id), None)
            if run is None:
                run = self._start(prompt)
        if run.played >= len(run.turns):
            raise OutOfTurnsError(
                f"the run made model call {run.played + 1}, but only {len(run.turns)} were scripted"
            )
        run.played += 1
        if self._shared is None:
            self._unplayed -= 1
        return run.turns[run.played - 1], run

    def produced(self, run: _Run, ids: Iterable[str]) -> None:
        """Remember the ids a turn of `run` produced, so the run's next call is recognized."""
        if self._shared is not None:
            return
        for item_id in ids:
            self._by_id[item_id] = run
            run.ids.append(item_id)

    def _read(self, script: Script) -> list[Turn]:
        if isinstance(script, (str, bytes, Mapping)):
            raise ScriptError(f"a script is a list of turns, got {script!r}")
        turns = [as_turn(entry) for entry in script]
        for turn in turns:
            self._check(turn)
        return turns

    def _start(self, prompt: str) -> _Run:
        assert self._factory is not None
        run = _Run(self._read(self._factory(prompt)))
        self._runs.append(run)
        self._unplayed += len(run.turns)
        if len(self._runs) > _MAX_RUNS:
            oldest = self._runs.popleft()
            for item_id in oldest.ids:
                if self._by_id.get(item_id) is oldest:
                    del self._by_id[item_id]
        return run


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, Mapping) else getattr(item, key, None)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(t for part in content if isinstance(t := _get(part, "text"), str))
    return ""


def read_input(
    messages: str | Sequence[Any] | None, previous_response_id: str | None = None
) -> tuple[str, list[str]]:
    """Read a call's input: the text of its last user message, and the ids after it, latest first.

    Reads Responses input items and Chat Completions messages alike (``id``, ``call_id``,
    ``tool_call_id`` and the ids of ``tool_calls``).
    """
    if isinstance(messages, str):
        return messages, []
    ids: list[str] = []
    for item in reversed(messages or ()):
        if _get(item, "role") == "user":
            return _text_of(_get(item, "content")), ids
        for key in ("call_id", "tool_call_id", "id"):
            value = _get(item, key)
            if isinstance(value, str):
                ids.append(value)
        calls = _get(item, "tool_calls") or ()
        ids.extend(i for call in calls if isinstance(i := _get(call, "id"), str))
    if previous_response_id:
        ids.append(previous_response_id)
    return "", ids


FrameKind: TypeAlias = Literal["meta", "delta", "end", "fail"]


@dataclass(frozen=True)
class Frame:
    """One event of a turn as a player renders it, before its encoding."""

    kind: FrameKind
    """``delta`` (counted by faults and paced), ``meta``, ``end`` (terminal) or ``fail``."""
    seq: int
    """The event's sequence number within the response."""
    event: dict[str, Any] | None
    """The event's JSON object; `None` for the Chat Completions ``[DONE]`` line."""
    error: BaseException | None = None
    """For ``fail``: the exception to raise."""


async def paced(
    frames: Iterable[Frame], fault: Fault | None, delay: float
) -> AsyncIterator[Frame | Fault]:
    """The frames of a turn with `delay` before each delta, and its fault where it fires.

    After yielding the fault nothing more is yielded: the player plays the fault instead.
    """
    limit = None if fault is None or isinstance(fault, HttpError) else fault.n_chunks
    deltas = 0
    for frame in frames:
        if limit is not None and (
            frame.kind == "end" or (frame.kind == "delta" and deltas >= limit)
        ):
            assert fault is not None
            yield fault
            return
        if frame.kind == "delta":
            if delay > 0:
                await asyncio.sleep(delay)
            deltas += 1
        yield frame
