"""Store browse through the running service: the answer comes from the registry at once,
GitHub enrichment lands afterwards in the retained ``state/store``, and the next browse is
complete without a request."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.e2e.conftest import ROOT, Appliance, PluginShelf, wait_json

LATENCY = 0.150
IDS = [f"p{i:02d}" for i in range(12)]


def _all_enriched(data: dict[str, Any]) -> bool:
    ids = [e["id"] for e in data.get("entries", [])]
    return set(IDS) <= set(ids) and all(e["enriched"] for e in data["entries"])


def test_cold_browse_answers_before_enrichment_and_state_store_gets_it(
    appliance: Appliance, shelf: PluginShelf
) -> None:
    app = appliance
    for plugin_id in IDS:
        shelf.publish(plugin_id, "1.0.0")
    shelf.fake.add_fault(r"^/api/", "latency", LATENCY)
    started = time.monotonic()
    cold = app.command("search", {"refresh": True})
    elapsed = time.monotonic() - started
    assert cold["status"] == "ok", cold
    assert [e["id"] for e in cold["data"]["entries"]] == IDS
    assert cold["data"]["complete"] is False
    assert not any(e["enriched"] for e in cold["data"]["entries"])
    # two API round trips per entry would be 0.3 s at least; the answer did not wait for them
    assert elapsed < 2 * LATENCY, f"cold browse took {elapsed:.3f} s"

    store = wait_json(app.ha, f"{ROOT}/state/store", _all_enriched, timeout=15)
    first = next(e for e in store["entries"] if e["id"] == IDS[0])
    assert first["stars"] == 0 and len(first["last_commit"]["sha"]) == 7  # the repo has no stars

    api_calls = len(shelf.fake.requests("^/api/"))
    warm = app.command("search", {})
    assert warm["data"]["complete"] is True
    assert all(e["enriched"] for e in warm["data"]["entries"])
    assert len(shelf.fake.requests("^/api/")) == api_calls, "a warm browse makes no request"
    retained = json.loads(app.retained(f"{ROOT}/state/store")[f"{ROOT}/state/store"])
    assert _all_enriched(retained)
