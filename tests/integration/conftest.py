"""Fixtures shared by the integration tests."""

from tests.integration.registry_helpers import clock, make_client

__all__ = ["clock", "make_client"]
