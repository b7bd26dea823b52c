"""Reading chunked input for the decoders: text or UTF-8 bytes, sync or async, split anywhere."""

from __future__ import annotations

import codecs
from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from typing import Final, TypeAlias

from ._errors import ConfigurationError, DecodeError

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "Chunks",
    "Pieces",
    "TextDecoder",
    "aiter_chunks",
    "check_chunks",
    "check_limit",
    "one_line",
    "snippet",
    "utf8_size",
]

DEFAULT_MAX_EVENT_BYTES: Final = 16 * 1024 * 1024
"""The default limit of the decoders: 16 MiB for one line or one event's data."""

Chunks: TypeAlias = "Iterable[str] | Iterable[bytes] | AsyncIterable[str] | AsyncIterable[bytes]"
"""What the decoders read: text or bytes, sync or async, split anywhere."""


def snippet(value: object, limit: int = 40) -> str:
    """A short `repr` of a value for an error message; never more than about `limit` characters."""
    if isinstance(value, (str, bytes)) and len(value) > limit:
        return repr(value[:limit]) + "..."
    text = repr(value)
    return text if len(text) <= limit + 10 else text[: limit + 7] + "..."


def check_limit(max_event_bytes: int) -> int:
    """Validate a decoder size limit: a whole number of bytes > 0."""
    if isinstance(max_event_bytes, bool) or not isinstance(max_event_bytes, int):
        raise ConfigurationError(f"max_event_bytes must be an int, got {max_event_bytes!r}")
    if max_event_bytes <= 0:
        raise ConfigurationError(f"max_event_bytes must be > 0, got {max_event_bytes!r}")
    return max_event_bytes


def utf8_size(text: str) -> int:
    """The size of `text` in UTF-8; free for ASCII text (`isascii()` reads a flag)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def check_chunks(chunks: object) -> None:
    """Check that `chunks` is an iterable or async iterable of chunks, not one str or bytes."""
    if isinstance(chunks, (str, bytes, bytearray, memoryview)):
        raise ConfigurationError(
            f"the decoders take an iterable of chunks, not one {type(chunks).__name__}: "
            "wrap it in a list"
        )
    if not isinstance(chunks, (AsyncIterable, Iterable)):
        raise ConfigurationError(
            "chunks must be an iterable or async iterable of str or bytes, "
            f"got {type(chunks).__name__}"
        )


async def aiter_chunks(chunks: Chunks) -> AsyncGenerator[str | bytes, None]:
    """Iterate a sync or async iterable of chunks (checked by `check_chunks`)."""
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
    else:
        for chunk in chunks:
            yield chunk


def one_line(text: str) -> str:
    """Replace raw CR and LF, which valid JSON only holds as whitespace, by spaces."""
    if "\n" in text or "\r" in text:
        return text.replace("\r", " ").replace("\n", " ")
    return text


class TextDecoder:
    """Turns chunks of `str` or UTF-8 `bytes`, split anywhere, into text; strict UTF-8."""

    __slots__ = ("_decoder", "_offset")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._offset = 0

    def decode(self, chunk: str | bytes | bytearray | memoryview) -> str:
        """Return the text of `chunk`; bytes of a character cut in two wait for the next chunk."""
        if isinstance(chunk, str):
            if self._decoder.getstate()[0]:
                raise DecodeError(
                    f"a str chunk arrived at byte {self._offset} while a UTF-8 character "
                    "from the bytes before it was incomplete"
                )
            return chunk
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise DecodeError(f"a chunk must be str or bytes, got {type(chunk).__name__}")
        buffered = len(self._decoder.getstate()[0])
        try:
            text = self._decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise DecodeError(
                f"invalid UTF-8 at byte {self._offset - buffered + exc.start}: "
                f"{snippet(bytes(exc.object[exc.start : exc.start + 8]))}"
            ) from None
        self._offset += len(chunk)
        return text

    def close(self) -> None:
        """Check that the input did not end inside a UTF-8 character."""
        pending = self._decoder.getstate()[0]
        if pending:
            raise DecodeError(
                f"the input ends inside a UTF-8 character (bytes {snippet(bytes(pending))})"
            )


_PIECES_PER_BLOCK: Final = 1024
_BLOCK_CHARS: Final = 16 * 1024


class Pieces:
    """Text that arrives in pieces (a line cut across chunks), kept at about its own size.

    A list of the pieces would cost a pointer and a `str` header (8 to 80 bytes) per piece:
    28 times the text itself when a peer sends chunks of a byte or two. Small pieces are joined
    into one block every 1,024 pieces or 16 Ki characters, so the overhead stays within a few
    percent of the text, plus at most 1,024 small pieces.
    """

    __slots__ = ("_blocks", "_small", "_small_chars", "size")

    def __init__(self) -> None:
        self._blocks: list[str] = []
        self._small: list[str] = []
        self._small_chars = 0
        self.size = 0
        """The UTF-8 size of the text so far."""

    def __bool__(self) -> bool:
        return bool(self._blocks or self._small)

    def append(self, text: str) -> None:
        """Add `text` at the end."""
        self.size += utf8_size(text)
        if len(text) >= _BLOCK_CHARS:
            self._compact()
            self._blocks.append(text)
            return
        self._small.append(text)
        self._small_chars += len(text)
        if len(self._small) >= _PIECES_PER_BLOCK or self._small_chars >= _BLOCK_CHARS:
            self._compact()

    def _compact(self) -> None:
        if self._small:
            self._blocks.append("".join(self._small))
            self._small = []
            self._small_chars = 0

    def take(self, last: str = "") -> str:
        """Return the text with `last` after it, and start empty again."""
        self._compact()
        blocks = self._blocks
        if last:
            blocks.append(last)
        self._blocks = []
        self.size = 0
        return "".join(blocks)
