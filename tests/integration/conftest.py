"""Fixtures shared by the integration tests."""

from tests.integration.frontend_env import broker, service
from tests.integration.registry_helpers import clock, make_client

__all__ = ["broker", "clock", "make_client", "service"]
