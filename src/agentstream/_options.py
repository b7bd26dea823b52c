"""The options that open a run, declared once for `normalize()` and everything that calls it.

`normalize(result, **options)`, the web responses, the bridges' `run`/`endpoint` and `publish()`
take these keywords and pass them on unchanged; their meaning is documented here only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from typing_extensions import TypedDict

if TYPE_CHECKING:
    from ._buffering import BufferPolicy

__all__ = ["RUN_OPTION_NAMES", "RunOptions"]


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


RUN_OPTION_NAMES: frozenset[str] = frozenset(RunOptions.__annotations__)
"""The keys of `RunOptions`."""
