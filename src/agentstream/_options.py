"""The options that open a run, declared once for `normalize()` and everything that calls it.

`normalize(result, **options)`, the web responses, the bridges' `run`/`endpoint` and `publish()`
take these keywords and pass them on unchanged; their meaning is documented here only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, TypeAlias

from typing_extensions import TypedDict

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._buffering import BufferPolicy
    from ._events import Done

__all__ = [
    "DEFAULT_MAX_IMAGE_BYTES",
    "HOOK_NAMES",
    "RUN_OPTION_NAMES",
    "SERVED_MAX_BACKLOG",
    "Hook",
    "RunOptions",
    "served",
]


Hook: TypeAlias = "Callable[[Done, list[Any]], Awaitable[None] | None]"
"""A stream's end hook: called with the `Done` and the run's new items."""


class RunOptions(TypedDict, total=False):
    """How a run is normalized: the keywords of `normalize()`, accepted wherever a run opens.

    Every key is optional; a key left out takes the default given here.
    """

    idle_timeout: float | None
    """Seconds without any SDK event after which the run is cancelled and the stream ends with
    `Done(status="timeout")`. None (the default) waits forever."""
    buffer: BufferPolicy | None
    """Coalesce consecutive deltas (see `BufferPolicy`). None (the default) sends each delta."""
    run_id: str | None
    """The `run_id` every event carries; a random one by default."""
    expose_errors: bool
    """Put the text of a failed run's exception in `Done.error.message`. Off by default:
    exception text can hold secrets. Known SDK errors get safe messages anyway."""
    first_seq: int
    """`seq` of the first event: 0 (the default) for a new run; a resumed run continues its
    numbering from the `seq` after its `interrupted` done (`agentstream.interactive`)."""
    on_complete: Hook | None
    """Called once when the run ends as the model meant: `completed`, or `interrupted` (paused
    for answers). Given the `Done` and the run's new items (`result.new_items`); sync or async.
    Awaited before the `Done` is handed out, so a client that sees the end of the stream finds
    what the hook saved. An exception it raises is logged, never sent."""
    on_error: Hook | None
    """As `on_complete`, when the run ends with `error` or `timeout`."""
    on_cancel: Hook | None
    """As `on_complete`, when the stream is closed or cancelled before the run ended (a client
    that went away): the `Done` is `cancelled`, its `partial_text` what was streamed of the
    message in progress."""
    max_backlog: int | None
    """Most bytes of SDK events that may wait for a consumer that does not keep up (a client
    reading slowly); each waiting event counts its delta's text plus 2 KiB, about what an SDK
    event takes in memory. The reader always drains the SDK at once (the SDK drops queued events
    when a run fails); past half this backlog it gives the consumer a turn after each event, and
    past all of it the waiting events are dropped, the run is cancelled, a warning is logged and
    the stream ends with `Done(status="error")`, `error.type` `SlowConsumerError`. None (the
    default of `normalize()`) sets no bound; the web responses and the bridges default to
    `SERVED_MAX_BACKLOG`."""
    max_image_bytes: int | None
    """Largest image, in bytes of its base64 text, that a hosted image generation tool's events
    carry (its partial images in `tool_progress`, its result in `tool_output`); a larger one is
    left out, and its size given instead (`omitted_bytes`). `DEFAULT_MAX_IMAGE_BYTES` (4 MiB)
    by default; None carries every image, 0 none."""


RUN_OPTION_NAMES: frozenset[str] = frozenset(RunOptions.__annotations__)
"""The keys of `RunOptions`."""

HOOK_NAMES: Final = ("on_complete", "on_error", "on_cancel")
"""The end hooks among the run options, in that order."""

DEFAULT_MAX_IMAGE_BYTES: Final = 4 * 1024 * 1024
"""The default `max_image_bytes`: a 1024x1024 PNG is about 1.5 to 3 MiB of base64."""

SERVED_MAX_BACKLOG: Final = 16 * 1024 * 1024
"""The `max_backlog` of a run that a web response or a bridge normalizes, unless given: 16 MiB
per client that does not keep up (8,192 of the OpenAI models' token deltas)."""


def served(options: RunOptions) -> RunOptions:
    """`options` for a run streamed to a client: `max_backlog` defaults to `SERVED_MAX_BACKLOG`."""
    if "max_backlog" in options:
        return options
    return {**options, "max_backlog": SERVED_MAX_BACKLOG}
