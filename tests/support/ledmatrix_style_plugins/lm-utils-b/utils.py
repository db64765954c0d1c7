"""Sibling module with the same name in two plugins (test fixture)."""

WHO = "b"


def colour():
    return (255, 0, 0) if WHO == "a" else (0, 0, 255)
