"""The one redactor removes every encoding a secret travels in."""

from __future__ import annotations

import base64
import json
import logging
import socket
from urllib.parse import quote, quote_plus

import pytest
import requests

from ledmatrix_mqtt.core.redact import REDACTED, Redactor, redact
from ledmatrix_mqtt.logsetup import SecretRedactor

SECRET = 'p@ss w/rd+"ü&=x'


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        quote(SECRET, safe=""),
        quote(SECRET),
        quote_plus(SECRET),
        quote(SECRET, safe="").lower(),
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
        base64.b64encode(SECRET.encode()).decode(),
    ],
)
def test_every_encoding_of_a_secret_is_redacted(form: str) -> None:
    text = f"error: GET /x?key={form} failed"
    assert redact(text, [SECRET]) == f"error: GET /x?key={REDACTED} failed"


def test_url_encoded_secret_in_a_real_requests_exception_is_redacted() -> None:
    """x-secret values leaked URL-encoded through a requests exception text."""
    with socket.socket() as sock:  # a port that is certainly closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(requests.RequestException) as caught:
        requests.get(f"http://127.0.0.1:{port}/api", params={"key": SECRET}, timeout=2)
    text = str(caught.value)
    assert quote_plus(SECRET) in text  # the leak this guards against
    clean = Redactor([SECRET]).redact(text)
    assert quote_plus(SECRET) not in clean and SECRET not in clean and REDACTED in clean


def test_short_values_are_not_redacted() -> None:
    assert redact("the cat sat", ["cat"]) == "the cat sat"


def test_log_filter_uses_the_same_redactor(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test-redact")
    caplog.handler.addFilter(SecretRedactor([SECRET]))
    with caplog.at_level(logging.INFO, logger="test-redact"):
        logger.info("failed: %s", quote_plus(SECRET))
    assert caplog.records[-1].getMessage() == f"failed: {REDACTED}"


def test_unfinished_start_is_where_the_beginning_of_a_secret_form_ends_the_text() -> None:
    redactor = Redactor(["token123"])
    assert redactor.unfinished_start("key=tok") == len("key=")
    assert redactor.unfinished_start("key=" + base64.b64encode(b"token123").decode()[:5]) == 4
    assert redactor.unfinished_start("key=tox") == len("key=tox")
    assert redactor.unfinished_start("key=token123") == len("key=token123")  # whole: redact it
    assert Redactor().unfinished_start("key=tok") == len("key=tok")
