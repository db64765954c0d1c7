"""One clear phrase for a network failure, instead of an exception's own text.

Socket, TLS and ``http.client`` texts are terse or cryptic (``[Errno -2] Name or
service not known``, ``[SSL: CERTIFICATE_VERIFY_FAILED] ...``) and a library's can
carry URLs with query values; users get one line that says what happened and what
to check. ``lasting`` says which failures a retry cannot heal.
"""

from __future__ import annotations

import errno
import http.client
import re
import socket
import ssl


class ProxyError(OSError):
    """The configured proxy cannot be used. The message never holds its credentials."""


_BY_TYPE: tuple[tuple[type[BaseException], str], ...] = (  # first match wins: subclasses first
    (socket.gaierror, "its name does not resolve (offline or no DNS?)"),
    (ConnectionRefusedError, "the connection was refused"),
    (TimeoutError, "it stopped answering"),
    (ssl.SSLError, "the TLS handshake failed"),
    (ConnectionError, "the connection broke off"),  # reset, aborted, broken pipe, remote closed
    (http.client.IncompleteRead, "the connection broke off"),
    (http.client.HTTPException, "it did not answer in HTTP"),
)
_UNREACHABLE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH})
_TUNNEL = re.compile(r"Tunnel connection failed: (\d{3})")
_TEXTS = (  # (words in another library's text, one clear phrase); first match wins
    (("NameResolution", "Name or service not known", "getaddrinfo", "nodename nor servname",
      "Temporary failure in name resolution"), "its name does not resolve (offline or no DNS?)"),
    (("ConnectTimeout", "connect timeout"), "the connection timed out"),
    (("Connection refused",), "the connection was refused"),
    (("Network is unreachable", "No route to host"), "the network is unreachable"),
    (("ReadTimeout", "Read timed out"), "it stopped answering"),
    (("SSL", "CERTIFICATE"), "the TLS handshake failed"),
    (("Connection reset", "RemoteDisconnected", "Connection aborted", "IncompleteRead",
      "ProtocolError"), "the connection broke off"),
)  # fmt: skip


def describe_network_error(exc: BaseException) -> str:
    """One clear phrase for a network failure, never the raw exception text (which can
    run to hundreds of characters and carry URLs)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = (exc.verify_message or "unverified")[:80]
        return f"its TLS certificate is not trusted ({reason})"
    if isinstance(exc, ProxyError):
        return str(exc)
    phrase = next((p for kind, p in _BY_TYPE if isinstance(exc, kind)), None)
    if phrase is None and isinstance(exc, OSError) and exc.errno in _UNREACHABLE:
        phrase = "the network is unreachable"
    return phrase or _from_text(f"{type(exc).__name__} {exc!r} {exc}", type(exc).__name__)


def _from_text(text: str, kind: str) -> str:
    tunnel = _TUNNEL.search(text)
    if tunnel:
        return f"the proxy refused the tunnel (HTTP {tunnel[1]})"
    for words, phrase in _TEXTS:
        if any(w in text for w in words):
            return phrase
    return f"network error ({kind})"


def lasting(exc: BaseException) -> bool:
    """True for a failure an immediate retry cannot heal: an untrusted certificate,
    an unusable proxy setting."""
    return isinstance(exc, ssl.SSLCertVerificationError | ProxyError)
