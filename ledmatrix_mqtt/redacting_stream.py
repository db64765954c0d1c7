"""Text streams that pass everything written to them through the one redactor.

They replace ``sys.stdout`` and ``sys.stderr`` in the service (``logsetup.redact_stdio``):
a plugin, or a library it calls (``traceback.print_exc()``, ``warnings``, a progress
bar), may write there directly, past the logging filter.

Contract of :class:`RedactingStream`:

- Text is held until a newline; then every complete line goes out redacted and the
  real stream is flushed, so journald gets whole lines at once. A secret written in
  pieces (``write("tok")``, ``write("en123\\n")``) is joined before it is redacted.
- ``flush()``, and more than ``MAX_PENDING`` characters without a newline, send the
  held text too, except an end that may be the beginning of a secret: that waits for
  the next write.
- A write never fails because of its text: characters the real stream cannot encode
  (a lone surrogate such as ``"\\ud800"``) go out as backslash escapes.
- ``buffer`` is a :class:`RedactingBuffer`: bytes written there are decoded (bytes
  that are not valid in ``encoding`` become ``\\xNN`` escapes) and redacted like text.
  There is no raw path past the redactor, except ``fileno()``: what is written to the
  descriptor itself (``os.write``) is not redacted.
- Safe to use from any thread; a signal handler that writes while the interrupted
  thread is inside ``write`` does not deadlock.
- ``close()`` sends what is held and leaves the real stream open.
"""

from __future__ import annotations

import codecs
import io
import threading
from collections.abc import Iterable
from typing import Any, Protocol, TextIO

__all__ = ["MAX_PENDING", "RedactingBuffer", "RedactingStream", "Redacts"]

MAX_PENDING = 8192  # characters held without a newline before they go out anyway


class Redacts(Protocol):
    """What the stream needs of the redactor (``logsetup.SecretRedactor`` is one)."""

    def redact(self, text: str) -> str: ...

    def unfinished_start(self, text: str) -> int: ...


class RedactingStream(io.TextIOBase):
    """A line-buffered text stream over ``target`` that redacts with ``redactor``."""

    def __init__(self, target: TextIO, redactor: Redacts) -> None:
        super().__init__()
        self._target = target
        self._redactor = redactor
        self._pending: list[str] = []
        self._pending_size = 0
        self._lock = threading.RLock()  # reentrant: a signal handler may write mid-write
        self._buffer = RedactingBuffer(self)

    @property
    def wrapped(self) -> TextIO:
        """The real stream (for code that must not be redacted twice: the log handler)."""
        return self._target

    @property  # read-only in io.TextIOBase too (typeshed calls it an attribute)
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "backslashreplace"

    @property
    def line_buffering(self) -> bool:
        return True

    @property
    def buffer(self) -> RedactingBuffer:
        return self._buffer

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._target.fileno()

    def isatty(self) -> bool:
        return self._target.isatty()

    def reconfigure(self, **options: Any) -> None:
        """Passed to the real stream (plugins call ``sys.stdout.reconfigure(encoding=...)``)."""
        self._target.reconfigure(**options)  # type: ignore[attr-defined]

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        with self._lock:
            self._pending.append(text)
            self._pending_size += len(text)
            if "\n" in text:
                self._send_lines()
            elif self._pending_size > MAX_PENDING:
                self._send_finished()
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:  # type: ignore[override]
        with self._lock:
            for line in lines:
                self.write(line)

    def flush(self) -> None:
        if self.closed:
            return
        with self._lock:
            self._send_finished()
            self._target.flush()

    def close(self) -> None:
        if self.closed:
            return
        with self._lock:
            self._send(self._take())
            super().close()

    # -- sending ----------------------------------------------------------------------
    def _take(self) -> str:
        """The held text, redacted; nothing is held any more."""
        text = self._redactor.redact("".join(self._pending))
        self._pending.clear()
        self._pending_size = 0
        return text

    def _hold(self, text: str) -> None:
        if text:
            self._pending.append(text)
            self._pending_size = len(text)

    def _send_lines(self) -> None:
        text = self._take()
        cut = text.rfind("\n") + 1
        self._send(text[:cut])
        self._hold(text[cut:])
        if self._pending_size > MAX_PENDING:
            self._send_finished()

    def _send_finished(self) -> None:
        # Redact first, then hold back: a secret form found whole is gone before the cut.
        text = self._take()
        cut = self._redactor.unfinished_start(text)
        self._send(text[:cut])
        self._hold(text[cut:])

    def _send(self, text: str) -> None:
        if not text:
            return
        try:
            self._target.write(text)
        except UnicodeEncodeError:  # the text is encoded whole before anything is written
            encoding = self.encoding
            self._target.write(text.encode(encoding, "backslashreplace").decode(encoding))
        self._target.flush()


class RedactingBuffer(io.BufferedIOBase):
    """``RedactingStream.buffer``: bytes are decoded (``encoding``; a character split
    across writes is joined, invalid bytes become ``\\xNN``) and written as text."""

    def __init__(self, text: RedactingStream) -> None:
        super().__init__()
        self._text = text
        self._encoding = ""
        self._decoder: codecs.IncrementalDecoder | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = memoryview(data).tobytes()
        with self._text._lock:  # one decoder state, in write order
            if self._decoder is None or self._encoding != self._text.encoding:  # reconfigured
                self._encoding = self._text.encoding
                self._decoder = codecs.getincrementaldecoder(self._encoding)("backslashreplace")
            self._text.write(self._decoder.decode(chunk))
        return len(chunk)

    def flush(self) -> None:
        self._text.flush()

    def fileno(self) -> int:
        return self._text.fileno()

    def isatty(self) -> bool:
        return self._text.isatty()
