"""What a client may see of a failed run: a safe sentence per known error, never raw text.

Exception text can hold secrets, file paths or stack details, so by default `describe_failure()`
sends a fixed sentence per known kind of error (the SDK's, and the `openai` client's), with only
what is safe to add (a guardrail's name, a failed tool's name, an HTTP status). The caller opts in
to the exception's own text with `expose_errors=True`.
"""

from __future__ import annotations

from typing import Final

from ._events import ErrorInfo
from ._mapping import field

__all__ = ["describe_failure"]

_SAFE_MESSAGES: Final = {
    "MaxTurnsExceeded": "the run exceeded its maximum number of turns",
    "InputGuardrailTripwireTriggered": "an input guardrail tripped",
    "OutputGuardrailTripwireTriggered": "an output guardrail tripped",
    "ToolInputGuardrailTripwireTriggered": "a tool input guardrail tripped",
    "ToolOutputGuardrailTripwireTriggered": "a tool output guardrail tripped",
    "ModelBehaviorError": "the model produced output the run could not use",
    "UserError": "the agent is misconfigured",
    # agentstream's own: a client too slow for its run (`max_backlog`).
    "SlowConsumerError": "the client did not keep up with the run",
    # The `openai` client's errors; a subclass without an entry takes its base class's.
    "APITimeoutError": "the request to the model provider timed out",
    "APIConnectionError": "the model provider could not be reached",
    "RateLimitError": "the model provider rate-limited the request",
    "InternalServerError": "the model provider had a server error",
    "BadRequestError": "the model provider rejected the request",
    "AuthenticationError": "the model provider did not accept the credentials",
    "PermissionDeniedError": "the model provider denied access",
    "NotFoundError": "the model provider did not find the model or endpoint",
    "ConflictError": "the model provider reported a conflict",
    "UnprocessableEntityError": "the model provider could not process the request",
    "APIStatusError": "the model provider answered with an error",
    "APIResponseValidationError": "the model provider sent a response the client could not read",
    "APIError": "the model provider reported an error",
}

_CLIENT_MESSAGES: Final = {
    "JSONDecodeError": "the model provider sent a malformed stream",
    "TimeoutException": _SAFE_MESSAGES["APITimeoutError"],
    "TransportError": _SAFE_MESSAGES["APIConnectionError"],
}
"""Errors that blame the model provider only when the `openai` client raised them: its SSE
parser's, and the HTTP library's (httpx) that openai 2.x lets through while streaming."""

_TOOL_FAILED: Final = "Error running tool "
"""How the SDK starts the `UserError` it raises for a tool whose errors are not handled."""


def _raised_by_openai(exc: BaseException) -> bool:
    """Whether `exc` came out of the `openai` client (its traceback passes through it)."""
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module == "openai" or module.startswith("openai."):
            return True
        tb = tb.tb_next
    return False


def _safe_message(exc: BaseException) -> str | None:
    kind = type(exc).__name__
    if kind == "UserError":
        text = str(exc)
        name, sep, _ = text[len(_TOOL_FAILED) :].partition(": ")
        if (
            text.startswith(_TOOL_FAILED)
            and sep
            and name.replace("_", "").replace("-", "").isalnum()
        ):
            return f"a tool failed: {name}"
    names = [cls.__name__ for cls in type(exc).__mro__]
    for name in names:
        message = _SAFE_MESSAGES.get(name)
        if message is not None:
            return message
    client_messages = [_CLIENT_MESSAGES[name] for name in names if name in _CLIENT_MESSAGES]
    if client_messages and _raised_by_openai(exc):
        return client_messages[0]
    return None


def describe_failure(exc: BaseException, *, expose: bool = False) -> ErrorInfo:
    """Build the `ErrorInfo` a client may see for an exception raised by a run.

    By default the message is a fixed sentence per known error kind (with a guardrail's name, a
    failed tool's name, or an HTTP status, which are safe), and a generic sentence for anything
    else: exception text can hold secrets, paths or stack details. `expose=True` uses the
    exception's own text.
    """
    kind = type(exc).__name__
    if expose:
        return ErrorInfo(type=kind, message=str(exc) or kind)
    message = _safe_message(exc)
    guardrail = field(field(field(exc, "guardrail_result"), "guardrail"), "name")
    if isinstance(guardrail, str) and message is not None:
        message = f"{message}: {guardrail}"
    status = getattr(exc, "status_code", None)
    if message is None and isinstance(status, int):
        message = f"the model provider answered HTTP {status}"
    elif isinstance(status, int):
        message = f"{message} (HTTP {status})"
    if message is None:
        message = "the run failed"
    return ErrorInfo(type=kind, message=message)
