"""Chunk buffering: coalescing consecutive deltas into fewer, larger ones.

The text is never changed, only regrouped. `normalize()` owns the timer; this module only decides
what joins what.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._builders import DELTA_KINDS, Draft
from ._checks import check_seconds
from ._errors import ConfigurationError

__all__ = ["BufferPolicy"]


@dataclass(frozen=True)
class BufferPolicy:
    """How `normalize()` coalesces consecutive deltas of one message, reasoning item or tool call.

    Buffered deltas go out as one event when `max_chars` characters are buffered, when `max_delay`
    seconds have passed since the oldest of them arrived (a real timer: they go out even when no
    new SDK event comes), when an event of another kind or another message arrives, or when the
    stream ends. With `max_delay=0`, only deltas that are already waiting are joined: no latency is
    added.
    """

    max_delay: float = 0.05
    """Longest time, in seconds, a delta may wait for others to join it."""
    max_chars: int = 4096
    """Buffered characters that send the buffer at once."""

    def __post_init__(self) -> None:
        check_seconds("BufferPolicy.max_delay", self.max_delay, allow_zero=True)
        if (
            isinstance(self.max_chars, bool)
            or not isinstance(self.max_chars, int)
            or (self.max_chars < 1)
        ):
            raise ConfigurationError(
                f"BufferPolicy.max_chars must be an int >= 1, got {self.max_chars!r}"
            )


class Coalescer:
    """Holds at most one run of deltas that share a kind, a key, an agent and a nesting."""

    __slots__ = ("_chars", "_first", "_key", "_parts", "deadline", "max_chars", "max_delay")

    def __init__(self, policy: BufferPolicy) -> None:
        self.max_delay = float(policy.max_delay)
        self.max_chars = policy.max_chars
        self._first: Draft | None = None
        self._key: tuple[object, ...] | None = None
        self._parts: list[str] = []
        self._chars = 0
        self.deadline: float | None = None
        """Loop time at which the buffered deltas must go out; None when nothing is buffered."""

    def __bool__(self) -> bool:
        return self._first is not None

    def offer(self, draft: Draft, now: float) -> list[Draft]:
        """Take one draft; return the drafts that must go out now, in order."""
        key_field = DELTA_KINDS.get(draft.kind)
        if key_field is None:
            out = self.flush()
            out.append(draft)
            return out
        # A nested run's deltas never join the top-level run's, nor another nested run's.
        fields = draft.fields
        key = (draft.kind, fields.get(key_field), draft.agent, fields.get("parent_call_id"))
        out = [] if key == self._key else self.flush()
        delta: str = draft.fields["delta"]
        if self._first is None:
            self._first = draft
            self._key = key
            self.deadline = now + self.max_delay
        self._parts.append(delta)
        self._chars += len(delta)
        if self._chars >= self.max_chars:
            out.extend(self.flush())
        return out

    def flush(self) -> list[Draft]:
        """Return the buffered deltas as one draft (or nothing), and empty the buffer."""
        first = self._first
        if first is None:
            return []
        parts = self._parts
        if len(parts) > 1:
            fields = dict(first.fields)
            fields["delta"] = "".join(parts)
            first = Draft(first.kind, fields, first.agent)
        self._first = None
        self._key = None
        self._parts = []
        self._chars = 0
        self.deadline = None
        return [first]
