"""Fixtures shared by the integration tests."""

from tests.integration.frontend_env import service
from tests.integration.registry_helpers import alpha_client, clock, make_client

__all__ = ["alpha_client", "clock", "make_client", "service"]
