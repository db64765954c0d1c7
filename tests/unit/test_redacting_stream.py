"""The redacting standard streams: every write passes the one redactor, whole lines go out
at once, and no text (split secrets, surrogates, bytes, threads) gets past or crashes it."""

from __future__ import annotations

import base64
import io
import logging
import os
import sys
import threading
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest

from ledmatrix_mqtt.core.redact import REDACTED, secret_forms
from ledmatrix_mqtt.logsetup import SecretRedactor, redact_stdio, setup_logging
from ledmatrix_mqtt.redacting_stream import MAX_PENDING, RedactingStream

SECRET = "tok3n/Zq+8w="  # URL-encodes differently with quote() and quote_plus()


def stream(*secrets: str) -> tuple[RedactingStream, io.StringIO]:
    target = io.StringIO()
    return RedactingStream(target, SecretRedactor(secrets or (SECRET,))), target


def no_form_of(secret: str, text: str) -> bool:
    return not any(form in text for form in secret_forms(secret))


@pytest.fixture
def pipe() -> Iterator[tuple[io.TextIOWrapper, int]]:
    """A block-buffered text stream on a pipe (what stdout is under systemd) and the
    pipe's non-blocking read end: a line that was not flushed is simply not there."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    target = open(write_fd, "w", buffering=8192, encoding="utf-8")  # noqa: SIM115
    try:
        yield target, read_fd
    finally:
        target.close()
        os.close(read_fd)


def read_now(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""


def test_a_secret_written_in_pieces_is_redacted() -> None:
    out, target = stream()
    for piece in ("GET /v1?key=", SECRET[:3], SECRET[3:7], SECRET[7:], " failed\n"):
        out.write(piece)
    assert target.getvalue() == f"GET /v1?key={REDACTED} failed\n"


def test_whole_lines_reach_a_block_buffered_pipe_at_once(
    pipe: tuple[io.TextIOWrapper, int],
) -> None:
    target, read_fd = pipe
    out = RedactingStream(target, SecretRedactor([SECRET]))
    out.write("first line\nsecond ")
    assert read_now(read_fd) == b"first line\n"  # the unfinished line waits for its end
    out.write(f"line {SECRET}\n")
    assert read_now(read_fd) == b"second line ***\n"


def test_flush_sends_an_unfinished_line_but_holds_what_may_start_a_secret() -> None:
    out, target = stream()
    out.write("progress 50%\r")
    out.flush()
    assert target.getvalue() == "progress 50%\r"  # a progress bar redraws promptly
    out.write("key=" + SECRET[:4])
    out.flush()
    assert target.getvalue() == "progress 50%\rkey="
    out.write(SECRET[4:] + " done")
    out.flush()
    assert target.getvalue() == f"progress 50%\rkey={REDACTED} done"


def test_a_whole_secret_is_redacted_before_the_held_end_is_cut_off() -> None:
    """The end of one secret may be the start of another: cutting first would send
    the first secret's beginning unredacted."""
    out, target = stream("abcd1234", "1234wxyz")
    out.write("k=abcd1234")
    out.flush()
    assert target.getvalue() == f"k={REDACTED}"


def test_a_long_line_goes_out_at_the_cap_without_splitting_a_secret() -> None:
    out, target = stream()
    filler = "x" * MAX_PENDING
    out.write(filler)
    out.write(" " + SECRET[:5])  # past the cap, ending with the start of the secret
    assert target.getvalue() == filler + " "
    out.write(SECRET[5:] + "\n")
    assert target.getvalue() == f"{filler} {REDACTED}\n"


@pytest.mark.parametrize(
    "form",
    [
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        quote(SECRET, safe="").lower(),
        base64.b64encode(SECRET.encode()).decode(),
        base64.b64encode(SECRET.encode()).decode().rstrip("="),
        SECRET,
    ],
)
def test_every_encoding_of_the_secret_is_redacted(form: str) -> None:
    out, target = stream()
    out.write(f"Authorization: {form[:2]}")
    out.write(f"{form[2:]} sent\n")
    assert target.getvalue() == f"Authorization: {REDACTED} sent\n"


def test_a_secret_registered_after_the_stream_was_made_is_redacted() -> None:
    """Plugins register their x-secret values when they load, long after stdio is wrapped."""
    redactor = SecretRedactor()
    target = io.StringIO()
    out = RedactingStream(target, redactor)
    out.write("before: " + SECRET + "\n")
    redactor.add([SECRET])
    out.write("after: " + SECRET + "\n")
    assert target.getvalue() == f"before: {SECRET}\nafter: {REDACTED}\n"


def test_lone_surrogates_never_make_a_write_fail() -> None:
    raw = io.BytesIO()
    target = io.TextIOWrapper(raw, encoding="utf-8", errors="strict")
    out = RedactingStream(target, SecretRedactor([SECRET]))
    text = "bad \ud800 text " + SECRET + "\n"
    assert out.write(text) == len(text)
    out.write("next line\n")
    assert raw.getvalue() == b"bad \\ud800 text ***\nnext line\n"
    assert out.errors == "backslashreplace"


def test_the_binary_buffer_redacts_too() -> None:
    out, target = stream()
    data = f"ü key={SECRET} \xff".encode()[:-2] + b"\xff\n"
    out.buffer.write(data[:1])  # the first half of "ü"
    out.buffer.write(memoryview(data[1:]))
    out.buffer.flush()
    assert target.getvalue() == f"ü key={REDACTED} \\xff\n"


def test_lines_from_many_threads_arrive_whole_and_redacted() -> None:
    out, target = stream()
    threads, lines = 8, 300

    def writer(n: int) -> None:
        for i in range(lines):
            out.write(f"thread {n} line {i} key={SECRET}\n")

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    got = target.getvalue().splitlines()
    want = {f"thread {n} line {i} key={REDACTED}" for n in range(threads) for i in range(lines)}
    assert len(got) == threads * lines and set(got) == want


def test_a_write_from_inside_a_write_does_not_deadlock() -> None:
    """What a signal handler that prints does while the interrupted thread is in write()."""

    class Interrupted(io.StringIO):
        interrupted = False

        def write(self, text: str) -> int:
            if not self.interrupted:
                self.interrupted = True
                out.write(f"handler {SECRET}\n")
            return super().write(text)

    target = Interrupted()
    out = RedactingStream(target, SecretRedactor([SECRET]))
    worker = threading.Thread(target=lambda: out.write("main line\n"), daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "deadlocked"
    out.flush()
    assert sorted(target.getvalue().splitlines()) == ["handler ***", "main line"]


def test_writelines_close_and_what_is_passed_through(pipe: tuple[io.TextIOWrapper, int]) -> None:
    target, read_fd = pipe
    out = RedactingStream(target, SecretRedactor([SECRET]))
    assert (out.fileno(), out.isatty(), out.encoding) == (target.fileno(), False, "utf-8")
    out.writelines(["a ", SECRET, "\n", "tail without newline"])
    out.close()  # sends what is held; the real stream stays open
    assert not target.closed
    assert read_now(read_fd) == b"a ***\ntail without newline"
    with pytest.raises(ValueError, match="closed"):
        out.write("more\n")
    with pytest.raises(TypeError):
        RedactingStream(io.StringIO(), SecretRedactor()).write(b"bytes")  # type: ignore[arg-type]


def test_reconfigure_reaches_the_real_stream_and_the_buffer_follows(
    pipe: tuple[io.TextIOWrapper, int],
) -> None:
    target, read_fd = pipe
    out = RedactingStream(target, SecretRedactor([SECRET]))
    out.buffer.write("é\n".encode())
    out.reconfigure(encoding="latin-1")  # plugins written for Windows consoles do this
    assert out.encoding == "latin-1"
    out.write("é\n")
    out.buffer.write(b"\xe9 " + SECRET.encode() + b"\n")
    assert read_now(read_fd) == "é\n".encode() + b"\xe9\n\xe9 ***\n"


def test_redact_stdio_wraps_both_streams_once_and_logging_writes_to_the_real_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_out, real_err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", real_out)
    monkeypatch.setattr(sys, "stderr", real_err)
    redact_stdio()
    wrapped = sys.stdout
    redact_stdio()
    assert sys.stdout is wrapped and isinstance(wrapped, RedactingStream)
    assert isinstance(sys.stderr, RedactingStream) and sys.stderr.wrapped is real_err
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        setup_logging("INFO", [SECRET])  # also what a later-registered secret looks like
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler) and handler.stream is real_err
        print("printed", SECRET)
        sys.stderr.write(f"written {quote_plus(SECRET)}\n")
        logging.getLogger("test-stdio").warning("logged %s", SECRET)
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    assert real_out.getvalue() == "printed ***\n"
    assert real_err.getvalue().startswith("written ***\n")
    assert real_err.getvalue().endswith("WARNING test-stdio: logged ***\n")
    assert no_form_of(SECRET, real_out.getvalue() + real_err.getvalue())
