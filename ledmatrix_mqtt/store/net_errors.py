"""One clear phrase for a network failure, instead of a library's exception text.

``requests``/``urllib3`` texts run to hundreds of characters (cut mid-word when
shortened) and can carry URLs with query values; users get one line that says
what happened and what to check.
"""

from __future__ import annotations

_REASONS = (  # (words in the library's text, one clear phrase); first match wins
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
    """One clear phrase for a network failure, never the library's raw text (which can
    run to hundreds of characters and carry URLs)."""
    text = f"{type(exc).__name__} {exc!r} {exc}"
    for words, phrase in _REASONS:
        if any(w in text for w in words):
            return phrase
    return f"network error ({type(exc).__name__})"
