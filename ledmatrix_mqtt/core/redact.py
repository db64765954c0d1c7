"""The one redactor: every known secret value, in every encoding it may travel in.

A secret reaches text not only verbatim: ``requests`` puts URL-encoded query
values into its exception texts, JSON writers escape quotes and non-ASCII, and
HTTP Basic credentials are base64. ``Redactor`` replaces each of these forms
with ``***``. Values shorter than ``MIN_SECRET_LENGTH`` are ignored (they would
redact ordinary words).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "***"
MIN_SECRET_LENGTH = 4


def secret_forms(secret: str) -> frozenset[str]:
    """``secret`` as it may appear in text: raw, URL-encoded (``quote`` with and without
    ``/`` kept, ``quote_plus``), JSON-escaped (ASCII and not) and base64."""
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        quote_plus(secret, safe="/"),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    }
    forms |= {f.rstrip("=") for f in forms}  # unpadded base64
    forms |= {f.lower() for f in forms if "%" in f} | {f.upper() for f in forms if "%" in f}
    return frozenset(f for f in forms if len(f) >= MIN_SECRET_LENGTH)


class Redactor:
    """Holds the forms of every registered secret; ``redact`` removes them from text.

    Longer forms are replaced first, so a secret that contains another is not
    left half-visible.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: tuple[str, ...] = ()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        found = set(self._forms)
        for secret in secrets:
            if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH:
                found |= secret_forms(secret)
        self._forms = tuple(sorted(found, key=len, reverse=True))

    def __bool__(self) -> bool:
        return bool(self._forms)

    def redact(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def unfinished_start(self, text: str) -> int:
        """Where the longest end of ``text`` that is the beginning (not all) of a secret
        form starts; ``len(text)`` if no end of ``text`` is. A writer that sends text in
        pieces may complete that secret with its next piece, so the text from here on
        cannot go out yet."""
        longest = 0
        for form in self._forms:
            for size in range(min(len(form) - 1, len(text)), longest, -1):
                if text.endswith(form[:size]):
                    longest = size
                    break
        return len(text) - longest


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret in ``secrets`` replaced by ``***``."""
    return Redactor(secrets).redact(text)
