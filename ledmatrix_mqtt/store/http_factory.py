"""Build the store's one ``HttpClient`` from the store config.

The allow-list is exactly the configured hosts (registry, GitHub web/api/raw/
archive) and the token goes only to the API origin (scheme, host and port).
"""

from __future__ import annotations

from ledmatrix_mqtt.core.config_model import StoreConfig
from ledmatrix_mqtt.store.http import HttpClient


def make_http_client(store_config: StoreConfig, *, timeout: float = 10.0) -> HttpClient:
    """An ``HttpClient`` bound to ``store_config.allowed_hosts()``, token for the API host only."""
    return HttpClient(
        store_config.allowed_hosts(),
        token=store_config.github.token,
        token_origin=store_config.github.api_url,
        timeout=timeout,
    )
