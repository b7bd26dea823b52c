"""The HTTP player: a local OpenAI-compatible server that plays a script over real sockets.

`OpenAIServer` listens on 127.0.0.1 and answers ``POST /v1/responses`` and
``POST /v1/chat/completions``, streamed (``"stream": true``) or not, in the wire shapes of the
real APIs. Point the Agents SDK's own models at it through `OpenAIServer.client` to test the
whole path: HTTP, the ``openai`` client's SSE parsing, the SDK's chat-to-responses conversion and
the run loop. HTTP/1.1 is parsed and framed by ``h11``; the faults act below it, on the socket:
a reset aborts the connection, a stall stops writing, a malformed frame is sent as body bytes.

Example::

    async with OpenAIServer([
        tool_call("get_weather", {"city": "Paris"}),
        turn(text(["It is ", "sunny."]), input_tokens=20, output_tokens=4),
    ]) as server:
        model = OpenAIResponsesModel(model="gpt-test", openai_client=server.client())
        result = Runner.run_streamed(Agent(name="a", model=model, tools=[get_weather]), "hi")
        async for event in result.stream_events():
            ...
    server.assert_complete()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NoReturn

import h11
from openai import AsyncOpenAI
from typing_extensions import Self

from .._errors import AgentStreamError
from ._chat import ChatTurn
from ._playback import Frame, Ids, IdStyle, OutOfTurnsError, Playback, paced, read_input
from ._responses import ResponsesTurn, dumps, error_object
from ._script import (
    ErrorEventAfter,
    Fail,
    Fault,
    HttpError,
    MalformedAfter,
    ResetAfter,
    Script,
    ScriptError,
    ScriptFactory,
    ScriptNotFinishedError,
    StallAfter,
    Turn,
    TurnLike,
)

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["OpenAIServer", "RecordedRequest"]

_MODEL_PATHS = ("/v1/responses", "/v1/chat/completions")
_MAX_HEAD = 64 * 1024
_READ_SIZE = 64 * 1024
_SSE = "text/event-stream; charset=utf-8"
_JSON = "application/json"


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the server received."""

    method: str
    """The request method."""
    path: str
    """The target's path, without the query."""
    headers: Mapping[str, str]
    """The headers, names in lower case."""
    body: Any
    """The parsed JSON body; `None` when absent or not JSON."""

    @property
    def stream(self) -> bool:
        """Whether the request asked for a streamed answer."""
        return isinstance(self.body, Mapping) and bool(self.body.get("stream"))


class _Stop(Exception):
    """The connection is over (closed by the client, reset, or unusable)."""


def _check(turn: Turn) -> None:
    for output in turn.outputs:
        if isinstance(output, Fail):
            raise ScriptError(
                f"OpenAIServer cannot play {output!r}: an exception cannot cross HTTP; "
                "use http_error() or error_event_after()"
            )


_Rendered = ResponsesTurn | ChatTurn


class OpenAIServer:
    """A local OpenAI-compatible server that plays a script, one turn per model request.

    The script, ``per_run``, ``delay`` and ``ids`` work as for `ScriptedStreamModel`. Use it as
    an async context manager: it listens on 127.0.0.1 on a free port while open, and on exit
    closes the clients it made, the listener and every connection.
    """

    def __init__(
        self,
        script: Script | ScriptFactory = (),
        *,
        per_run: bool = False,
        delay: float = 0.0,
        ids: IdStyle = "unique",
        host: str = "127.0.0.1",
    ) -> None:
        """Create a server that will play `script`; nothing listens before entering."""
        if not isinstance(delay, (int, float)) or delay < 0:
            raise ScriptError(f"OpenAIServer delay must be seconds >= 0, got {delay!r}")
        self._playback = Playback(script, per_run=per_run, check=_check)
        self._ids = Ids(ids)
        self._delay = float(delay)
        self._host = host
        self._port: int | None = None
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._clients: list[AsyncOpenAI] = []
        self._closing = False
        self.requests: list[RecordedRequest] = []
        """Every request received, in arrival order."""
        self.stalled = asyncio.Event()
        """Set when a `stall_after` fault begins to stall a response."""
        self.errors: list[Exception] = []
        """Failures of the server or of its script (each also answered with HTTP 500)."""

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Start listening."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server and everything it opened."""
        await self.close()

    async def start(self) -> None:
        """Start listening on a free port of the host."""
        if self._server is not None:
            raise AgentStreamError("OpenAIServer already started")
        self._closing = False
        self._server = await asyncio.start_server(self._handle, self._host, 0)
        self._port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Close the listener, every connection, then the clients made by `client`.

        Connections are closed first, so a client still reading a stalled response sees the
        server go away rather than its own shutdown.
        """
        self._closing = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        # A connection accepted just before the listener closed may start its handler late;
        # loop until no handler is left.
        while self._handlers:
            handlers = list(self._handlers)
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            self._handlers.difference_update(handlers)
            await asyncio.sleep(0)
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()
        clients, self._clients = self._clients, []
        for client in clients:
            await client.close()

    # -- public helpers ----------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._port is None:
            raise AgentStreamError("OpenAIServer is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """The base URL for OpenAI clients, ``http://127.0.0.1:PORT/v1``."""
        return f"http://{self._host}:{self.port}/v1"

    def client(self, **kwargs: Any) -> AsyncOpenAI:
        """An `openai.AsyncOpenAI` for this server, closed when the server stops.

        Defaults: ``api_key="test"``, ``max_retries=0``; `kwargs` override them (for instance
        ``timeout=`` or ``max_retries=``).
        """
        options: dict[str, Any] = {"base_url": self.base_url, "api_key": "test", "max_retries": 0}
        options.update(kwargs)
        client = AsyncOpenAI(**options)
        self._clients.append(client)
        return client

    def add(self, *turns: TurnLike) -> None:
        """Append turns to the script (a shared one: not with ``per_run`` or a factory)."""
        self._playback.add(turns)

    @property
    def remaining(self) -> int:
        """Turns not played yet: of the script, or, per run, of every run started so far."""
        return self._playback.remaining

    @property
    def model_requests(self) -> list[RecordedRequest]:
        """The recorded requests that were model calls."""
        return [r for r in self.requests if r.method == "POST" and r.path in _MODEL_PATHS]

    def assert_complete(self) -> None:
        """Raise `ScriptNotFinishedError` if turns were left unplayed or the server failed."""
        if self.errors:
            raise ScriptNotFinishedError(f"the server failed: {self.errors!r}")
        if self.remaining:
            raise ScriptNotFinishedError(f"{self.remaining} scripted turn(s) not played")

    # -- one connection ----------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self._writers.add(writer)
        # Writes wait until the kernel took every byte: pacing and faults happen where asked.
        writer.transport.set_write_buffer_limits(high=0)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)
        try:
            while not self._closing:
                request = await self._receive(conn, reader, writer)
                if request is None:
                    break
                await self._respond(conn, request, reader, writer)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
        except (_Stop, ConnectionError):
            pass
        except Exception as exc:  # a bug here must show in the test, not only in a log
            self.errors.append(exc)
            if conn.our_state is h11.SEND_RESPONSE:
                with contextlib.suppress(Exception):
                    error = error_object(f"OpenAIServer failed: {exc!r}", None)
                    await self._send_json(conn, writer, 500, {"error": error})
        except asyncio.CancelledError:
            # Only `close` cancels handlers. Ending normally keeps asyncio's stream callback
            # from logging the cancellation as an error.
            writer.transport.abort()
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._handlers.discard(task)
            if not writer.transport.is_closing():
                writer.close()

    async def _receive(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> RecordedRequest | None:
        """Read one whole request; `None` when the client closed the connection between two."""
        head: h11.Request | None = None
        body = bytearray()
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                if conn.our_state is h11.SEND_RESPONSE or conn.our_state is h11.IDLE:
                    with contextlib.suppress(Exception):
                        error = error_object(f"Bad request: {exc}", None, "invalid_request_error")
                        await self._send_json(conn, writer, exc.error_status_hint, {"error": error})
                raise _Stop from exc
            if event is h11.NEED_DATA:
                if conn.they_are_waiting_for_100_continue:
                    await self._send(
                        conn, writer, h11.InformationalResponse(status_code=100, headers=[])
                    )
                conn.receive_data(await reader.read(_READ_SIZE))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                return None
        assert head is not None
        parsed: Any = None
        if body:
            with contextlib.suppress(ValueError):
                parsed = json.loads(body)
        request = RecordedRequest(
            method=head.method.decode("ascii"),
            path=head.target.decode("latin-1").split("?", 1)[0],
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in head.headers},
            body=parsed,
        )
        self.requests.append(request)
        return request

    async def _respond(
        self,
        conn: h11.Connection,
        request: RecordedRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        body = request.body
        if request.path not in _MODEL_PATHS:
            message = f"Invalid URL ({request.method} {request.path})"
            error = error_object(message, None, "invalid_request_error")
            await self._send_json(conn, writer, 404, {"error": error})
            return
        if request.method != "POST":
            error = error_object("Method not allowed", None, "invalid_request_error")
            await self._send_json(conn, writer, 405, {"error": error})
            return
        if not isinstance(body, Mapping):
            message = "We could not parse the JSON body of your request."
            error = error_object(message, None, "invalid_request_error")
            await self._send_json(conn, writer, 400, {"error": error})
            return
        chat = request.path == "/v1/chat/completions"
        if chat:
            prompt, recent_ids = read_input(body.get("messages"))
        else:
            prompt, recent_ids = read_input(body.get("input"), body.get("previous_response_id"))
        count = len(self.model_requests)
        try:
            turn, run = self._playback.next_turn(prompt, recent_ids)
        except OutOfTurnsError as exc:
            message = f"No scripted turn left for model request #{count}: {exc}"
            await self._send_json(conn, writer, 500, {"error": error_object(message, None)})
            return
        except ScriptError as exc:
            # A factory made a script this server cannot play: a bug of the test.
            self.errors.append(exc)
            message = f"The script of model request #{count} is wrong: {exc}"
            await self._send_json(conn, writer, 500, {"error": error_object(message, None)})
            return
        rendered: _Rendered
        if chat:
            rendered = ChatTurn(turn, self._ids, body)
        else:
            options = body.get("stream_options") or {}
            obfuscate = bool(options.get("include_obfuscation", True))
            rendered = ResponsesTurn(turn, self._ids, body, obfuscate=obfuscate)
        self._playback.produced(run, rendered.produced_ids)
        fault = turn.fault
        if isinstance(fault, HttpError):
            await self._send_json(conn, writer, fault.status, fault.body, fault.headers)
        elif request.stream:
            await self._stream(conn, rendered, reader, writer)
        else:
            await self._reply_whole(conn, rendered, fault, reader, writer)

    async def _reply_whole(
        self,
        conn: h11.Connection,
        rendered: _Rendered,
        fault: Fault | None,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        if isinstance(fault, ErrorEventAfter):
            error = error_object(fault.message, fault.code)
            await self._send_json(conn, writer, 500, {"error": error})
            return
        body = dumps(rendered.completed()).encode()
        if isinstance(fault, MalformedAfter):
            body = fault.payload
        head = self._head(200, _JSON, length=len(body))
        if isinstance(fault, ResetAfter):
            await self._send(conn, writer, head, h11.Data(data=body[: len(body) // 2]))
            self._reset(writer)
        if isinstance(fault, StallAfter):
            await self._send(conn, writer, head)
            await self._stall(reader)
        await self._send(conn, writer, head, h11.Data(data=body), h11.EndOfMessage())

    async def _stream(
        self,
        conn: h11.Connection,
        rendered: _Rendered,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        turn = rendered.turn
        delay = self._delay if turn.delay is None else turn.delay
        await self._send(conn, writer, self._head(200, _SSE))
        sent = 0
        async for step in paced(rendered.frames(), turn.fault, delay):
            if isinstance(step, Frame):
                await self._send(conn, writer, h11.Data(data=rendered.encode(step)))
                sent += 1
            elif isinstance(step, ResetAfter):
                self._reset(writer)
            elif isinstance(step, StallAfter):
                await self._stall(reader)
            elif isinstance(step, MalformedAfter):
                await self._send(conn, writer, h11.Data(data=step.payload), h11.EndOfMessage())
                return
            elif isinstance(step, ErrorEventAfter):
                # The error event takes the sequence number of the event it replaces.
                data = rendered.error_frame(step, sent)
                await self._send(conn, writer, h11.Data(data=data), h11.EndOfMessage())
                return
        await self._send(conn, writer, h11.EndOfMessage())

    # -- low level ---------------------------------------------------------------------

    def _head(
        self,
        status: int,
        content_type: str,
        *,
        length: int | None = None,
        extra: Iterable[tuple[str, str]] = (),
    ) -> h11.Response:
        headers = [
            ("Content-Type", content_type),
            ("x-request-id", self._ids.new("req")),
            ("openai-processing-ms", "1"),
            ("openai-version", "2020-10-01"),
        ]
        if length is not None:
            headers.append(("Content-Length", str(length)))
        if content_type == _SSE:
            headers.append(("Cache-Control", "no-cache"))
        headers.extend(extra)
        try:
            reason = HTTPStatus(status).phrase.encode()
        except ValueError:
            reason = b""
        return h11.Response(status_code=status, headers=headers, reason=reason)

    async def _send_json(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        status: int,
        body: Any,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = dumps(body).encode()
        head = self._head(status, _JSON, length=len(data), extra=headers)
        await self._send(conn, writer, head, h11.Data(data=data), h11.EndOfMessage())

    @staticmethod
    async def _send(conn: h11.Connection, writer: asyncio.StreamWriter, *events: h11.Event) -> None:
        if writer.transport.is_closing():
            raise _Stop
        writer.write(b"".join(conn.send(event) or b"" for event in events))
        await writer.drain()

    @staticmethod
    def _reset(writer: asyncio.StreamWriter) -> NoReturn:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        raise _Stop

    async def _stall(self, reader: asyncio.StreamReader) -> NoReturn:
        self.stalled.set()
        # Wait for the client to go away; the server's close cancels this wait.
        while await reader.read(_READ_SIZE):
            pass
        raise _Stop
