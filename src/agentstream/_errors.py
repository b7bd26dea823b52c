"""The exception hierarchy: everything agentstream raises derives from `AgentStreamError`."""

from __future__ import annotations

__all__ = [
    "AgentStreamError",
    "ConfigurationError",
    "DecodeError",
    "IdleTimeoutError",
    "MissingExtraError",
    "SlowConsumerError",
]


class AgentStreamError(Exception):
    """Root of every exception agentstream raises on purpose."""


class DecodeError(AgentStreamError, ValueError):
    """Input is not a valid agentstream event (bad JSON, unknown `type`, missing or wrong fields).

    The message says what was wrong and where; it never echoes more than a short prefix of
    the offending input.
    """


class ConfigurationError(AgentStreamError, ValueError):
    """An argument has a value agentstream cannot work with; the message names the value."""


class IdleTimeoutError(AgentStreamError, TimeoutError):
    """No event arrived from the run within the idle timeout.

    `normalize()` never raises it into the event loop of a consumer: it is the exception kept on
    `EventStream.exception` when a stream ends with `Done(status="timeout")`.
    """


class SlowConsumerError(AgentStreamError):
    """The stream's consumer fell more than `max_backlog` bytes of SDK events behind the run.

    The events still waiting are dropped and the run is cancelled; the stream ends with
    `Done(status="error")` whose `error.type` is `SlowConsumerError`, right after the events
    already handed out. Like `IdleTimeoutError`, it is kept on `EventStream.exception`, never
    raised into the consumer.
    """


class MissingExtraError(AgentStreamError, ImportError):
    """An optional integration is used without its extra; the message names the install."""

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f"{feature} needs the '{extra}' extra: pip install 'agentstream[{extra}]'")
        self.extra = extra
        """The name of the extra that provides the missing packages."""
