"""The `agentstream` command: `agentstream demo` streams a multi-agent run, `serve` a chat page.

```
agentstream demo [--format pretty|sse|ndjson] [--prompt TEXT] [--model NAME] [--delay SECONDS]
agentstream serve [--host 127.0.0.1] [--port 8000] [--model NAME] [--delay SECONDS]
```

Without `--model` the demo runs offline on a scripted model; with `--model NAME` and
`OPENAI_API_KEY` set it runs the same agents on that OpenAI model. `agentstream` alone (and
`python -m agentstream`) runs `agentstream demo`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from typing import TYPE_CHECKING, Final, TextIO

from ._demo import DEFAULT_PROMPT, DEFAULT_TOKEN_DELAY
from ._errors import AgentStreamError, MissingExtraError
from ._events import (
    ApprovalRequested,
    Custom,
    Done,
    Handoff,
    MessageOutput,
    NestedRunFinished,
    NestedRunStarted,
    ReasoningDelta,
    ReasoningOutput,
    TextDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolCallStarted,
    ToolOutput,
    ToolProgress,
)
from ._version import __version__

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._events import Event

__all__ = ["main"]

EXIT_OK: Final = 0
"""The run completed."""
EXIT_FAILED: Final = 1
"""The run failed or timed out."""
EXIT_USAGE: Final = 2
"""The command line is wrong (argparse uses 2 too)."""
EXIT_INTERRUPTED: Final = 130
"""Ctrl-C: the run was cancelled."""

_OUTPUT_PREVIEW: Final = 160


class _Style:
    """ANSI styles, or nothing when the output is not a terminal (or NO_COLOR is set)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text


def _wants_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


class PrettyPrinter:
    """Writes events for a person: the answer as it streams, tool calls and handoffs marked."""

    BOLD: Final = "1"
    DIM: Final = "2"
    RED: Final = "31"
    GREEN: Final = "32"
    YELLOW: Final = "33"
    MAGENTA: Final = "35"
    CYAN: Final = "36"

    def __init__(self, out: TextIO, *, color: bool | None = None) -> None:
        self._out = out
        self._style = _Style(_wants_color(out) if color is None else color)
        self._at_line_start = True
        self._message: tuple[str | None, str | None] | None = None
        self._open_call: str | None = None
        self._indent = ""

    def _write(self, text: str) -> None:
        if text:
            self._out.write(text)
            self._at_line_start = text.endswith("\n")

    def _line(self, text: str) -> None:
        """Write `text` on a line of its own (indented as deep as the event's run is nested)."""
        if not self._at_line_start:
            self._write("\n")
        self._write(self._indent + text + "\n")
        self._message = None

    def _label(self, name: str | None, code: str) -> str:
        return self._indent + self._style(code, f"[{name or 'agent'}]")

    def header(self, prompt: str, model: str | None) -> None:
        """Say what runs, before the first event."""
        s = self._style
        where = f"model {model}" if model else "offline scripted model (no API key needed)"
        self._line(s(self.DIM, f"agentstream demo · {where}"))
        self._line(s(self.BOLD, f"> {prompt}"))
        self._line("")

    def event(self, event: Event) -> None:
        """Show one event; a nested run's events are indented under the call that runs it."""
        s = self._style
        self._indent = "  " * len(event.path)
        if isinstance(event, TextDelta):
            key = (event.agent, event.message_id)
            if self._message != key:
                if not self._at_line_start:
                    self._write("\n")
                self._write(self._label(event.agent, self.BOLD) + " ")
                self._message = key
            self._write(event.delta)
        elif isinstance(event, (MessageOutput, ReasoningOutput)):
            if not self._at_line_start:
                self._write("\n")
            self._message = None
        elif isinstance(event, ReasoningDelta):
            key = (event.agent, f"reasoning:{event.reasoning_id}")
            if self._message != key:
                if not self._at_line_start:
                    self._write("\n")
                self._write(s(self.DIM, f"[{event.agent or 'agent'} thinking] "))
                self._message = key
            self._write(s(self.DIM, event.delta))
        elif isinstance(event, ToolCallStarted):
            # The arguments stream on the same line, as the model writes them.
            if not self._at_line_start:
                self._write("\n")
            self._write(self._indent + s(self.CYAN, "[tool]") + f" {event.name} ")
            self._message = None
            self._open_call = event.call_id
        elif isinstance(event, ToolArgumentsDelta):
            if self._open_call == event.call_id:
                self._write(s(self.DIM, event.delta))
        elif isinstance(event, ToolCalled):
            if self._open_call != event.call_id:
                self._line(
                    s(self.CYAN, "[tool]") + f" {event.name} " + s(self.DIM, event.arguments)
                )
            elif not self._at_line_start:
                self._write("\n")
            self._open_call = None
        elif isinstance(event, ToolOutput):
            output = json.dumps(event.output, ensure_ascii=False)
            if len(output) > _OUTPUT_PREVIEW:
                output = output[: _OUTPUT_PREVIEW - 3] + "..."
            name = event.name or event.call_id
            self._line(s(self.CYAN, "[tool]") + f" {name} " + s(self.DIM, f"-> {output}"))
        elif isinstance(event, Handoff):
            self._line(s(self.MAGENTA, "[handoff]") + f" {event.from_agent} -> {event.to_agent}")
        elif isinstance(event, ApprovalRequested):
            self._line(
                s(self.YELLOW, "[approval]")
                + f" {event.name} {event.arguments} waits for approval ({event.call_id})"
            )
        elif isinstance(event, NestedRunStarted):
            self._line(s(self.MAGENTA, "[nested]") + f" {event.nested_agent} runs as {event.name}")
        elif isinstance(event, NestedRunFinished):
            self._line(
                s(self.MAGENTA, "[nested]") + f" {event.last_agent or 'agent'} {event.status}"
            )
        elif isinstance(event, ToolProgress):
            what = event.message or event.stage
            self._line(s(self.CYAN, "[progress]") + f" {event.name or event.call_id}: {what}")
        elif isinstance(event, Custom):
            self._line(s(self.DIM, f"[{event.name}] {json.dumps(event.data, ensure_ascii=False)}"))
        elif isinstance(event, Done):
            self._done(event)

    def _done(self, done: Done) -> None:
        s = self._style
        usage = done.usage
        totals = (
            f"{usage.requests} model calls, {usage.total_tokens} tokens "
            f"({usage.input_tokens} in, {usage.output_tokens} out)"
        )
        if done.status == "completed":
            self._line("")
            self._line(s(self.GREEN, "[done]") + f" completed · {totals}")
        elif done.status == "cancelled":
            self._line(s(self.YELLOW, "[cancelled]") + f" {totals}")
        else:
            error = done.error
            what = f"{error.type}: {error.message}" if error else done.status
            self._line(s(self.RED, f"[{done.status}]") + f" {what} · {totals}")
        self._out.flush()


async def _run_demo(args: argparse.Namespace, out: TextIO) -> int:
    from ._demo import start_demo_run
    from ._normalize import normalize

    result = start_demo_run(args.prompt, model=args.model, token_delay=args.delay)
    stream = normalize(result)
    if args.format == "pretty":
        printer = PrettyPrinter(out)
        printer.header(args.prompt, args.model)
        async with stream:
            async for event in stream:
                printer.event(event)
                if isinstance(event, (TextDelta, ToolArgumentsDelta, ReasoningDelta)):
                    out.flush()
    else:
        if args.format == "sse":
            from ._sse import to_sse

            frames = to_sse(stream, heartbeat=None)
        else:
            from ._ndjson import to_ndjson

            frames = to_ndjson(stream)
        async with stream:
            async for frame in frames:
                out.write(frame)
                out.flush()
    done = stream.done
    return EXIT_OK if done is not None and done.status == "completed" else EXIT_FAILED


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ._demo import demo_app

        app = demo_app(model=args.model, token_delay=args.delay)
    except ImportError as exc:
        raise MissingExtraError("agentstream serve", "web") from exc
    # Bind here, so that the address printed is the real one, also for --port 0.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
        # Listening before the address is printed: a client that reads it and connects at once
        # must be queued, not refused, while uvicorn starts.
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        print(
            f"agentstream: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    port = sock.getsockname()[1]
    print(
        f"agentstream demo chat on http://{_url_host(args.host)}:{port}/ (Ctrl-C stops it)",
        file=sys.stderr,
        flush=True,
    )
    from ._bridge import DEFAULT_MAX_BODY_BYTES

    # A WebSocket message holds to the request body limit of the chat route.
    config = uvicorn.Config(
        app,
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
        ws_max_size=DEFAULT_MAX_BODY_BYTES,
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn shut down cleanly, then re-raised the Ctrl-C: that is how serve is stopped.
        pass
    finally:
        sock.close()
    return EXIT_OK


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _delay(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not 0 <= seconds <= 10:
        raise argparse.ArgumentTypeError(f"must be between 0 and 10 seconds, got {value!r}")
    return seconds


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {value!r}")
    return port


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        metavar="NAME",
        help="run on this OpenAI model (needs OPENAI_API_KEY) instead of the offline scripted one",
    )
    parser.add_argument(
        "--delay",
        type=_delay,
        default=DEFAULT_TOKEN_DELAY,
        metavar="SECONDS",
        help=f"the scripted model's pause per token (default {DEFAULT_TOKEN_DELAY}; 0 = instant)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line: `agentstream [demo|serve] ...`."""
    parser = argparse.ArgumentParser(
        prog="agentstream",
        description=(
            "Stream an OpenAI Agents SDK run as typed events. Without a command, runs the demo."
        ),
    )
    parser.add_argument("--version", action="version", version=f"agentstream {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run a small multi-agent workflow and print its events",
        description=(
            "A triage agent looks an order up with a tool, hands off to a shipping agent, which "
            "streams the answer. Offline on a scripted model unless --model is given."
        ),
    )
    demo.add_argument(
        "--format",
        choices=("pretty", "sse", "ndjson"),
        default="pretty",
        help="pretty: for people (default); sse or ndjson: the frames a web client receives",
    )
    demo.add_argument("--prompt", default=DEFAULT_PROMPT, help=f"default: {DEFAULT_PROMPT!r}")
    _add_run_options(demo)
    serve = commands.add_parser(
        "serve",
        help="serve a chat page that streams the demo over SSE",
        description="A demo web app: the chat page at / and the SSE endpoint POST /api/chat.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000, help="default: 8000 (0 = any free)")
    serve.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn's log level (default: info)",
    )
    _add_run_options(serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `agentstream` command; return its exit status."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    if not words or words[0] not in ("demo", "serve", "-h", "--help", "--version"):
        words.insert(0, "demo")  # `agentstream [--prompt ...]` is `agentstream demo ...`
    args = parser.parse_args(words)
    if args.model is not None and not os.environ.get("OPENAI_API_KEY"):
        parser.exit(
            EXIT_USAGE,
            f"agentstream: --model {args.model} needs OPENAI_API_KEY in the environment "
            "(leave --model out to run offline)\n",
        )
    if args.command == "demo" and not args.prompt.strip():
        parser.exit(EXIT_USAGE, "agentstream: --prompt must not be empty\n")
    out = sys.stdout
    if hasattr(out, "reconfigure"):
        # A model's answer can hold characters a narrow terminal encoding lacks.
        out.reconfigure(errors="replace")
    try:
        if args.command == "serve":
            return _serve(args)
        return asyncio.run(_run_demo(args, out))
    except BrokenPipeError:
        # The reader went away (`agentstream demo | head`); the run was cancelled. Point stdout
        # at devnull so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\nagentstream: interrupted; the run was cancelled", file=sys.stderr)
        return EXIT_INTERRUPTED
    except AgentStreamError as exc:
        print(f"agentstream: {exc}", file=sys.stderr)
        return EXIT_FAILED
