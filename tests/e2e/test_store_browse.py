"""Store browse through the running service: the answer comes from the registry at once,
GitHub enrichment lands afterwards in the retained ``state/store``, and the next browse is
complete without a request."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import ROOT, Appliance, PluginShelf, run_cli, wait_json
from tests.support import yamlio
from tests.support.fake_github import PUSHED_AT
from tests.support.waiting import wait_until

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
    assert first["stars"] == 0 and first["last_updated"] == PUSHED_AT  # the repo has no stars
    api_calls = len(shelf.fake.requests("^/api/"))
    assert api_calls == len(IDS), "one GitHub request per entry"

    warm = app.command("search", {})
    assert warm["data"]["complete"] is True
    assert all(e["enriched"] for e in warm["data"]["entries"])
    assert len(shelf.fake.requests("^/api/")) == api_calls, "a warm browse makes no request"
    retained = json.loads(app.retained(f"{ROOT}/state/store")[f"{ROOT}/state/store"])
    assert _all_enriched(retained)


def test_a_refresh_search_is_answered_before_the_state_republish(
    appliance: Appliance, shelf: PluginShelf
) -> None:
    """The answer to ``search {"refresh": true}`` waited for the republish of every plugin's
    state, settings and discovery (150-360 ms with 50 plugins installed); it goes first."""
    app = appliance
    for plugin_id in IDS[:3]:
        shelf.publish(plugin_id, "1.0.0")
    answer = app.command("search", {"refresh": True})
    assert answer["status"] == "ok", answer
    fetched_at = answer["data"]["fetched_at"]
    store_topic, answer_topic = f"{ROOT}/state/store", f"{ROOT}/response/search"

    def refreshed(topic: str, payload: bytes) -> bool:  # the republish this refresh caused
        return topic == store_topic and json.loads(payload).get("fetched_at") == fetched_at

    assert wait_until(lambda: any(refreshed(t, p) for t, p, _ in app.ha.messages), 10)
    order = [t for t, p, _ in app.ha.messages if t == answer_topic or refreshed(t, p)]
    assert order[0] == answer_topic, "state/store was republished before the answer"


def test_plugins_search_with_a_stalled_repository_waits_its_deadline_once(
    tmp_path: Path, shelf: PluginShelf
) -> None:
    """With one GitHub repository stalled on the network, ``plugins search`` printed its
    answer at the deadline but the process stayed open ~30 s more (the interpreter joined
    the lookup threads), and the next run did it all again."""
    for plugin_id in ("alpha", "stuck"):
        shelf.publish(plugin_id, "1.0.0")
    shelf.fake.add_fault(r"/api/repos/tests/stuck$", "stall", 60)
    config = tmp_path / "config.yaml"
    store = shelf.fake.store_config() | {"search_deadline": 5}
    document = {"state_dir": str(tmp_path / "state"), "mqtt": {"embedded": False}, "store": store}
    config.write_text(yamlio.dump(document))
    runs = []
    for _ in range(2):
        started = time.monotonic()
        result = run_cli("plugins", "search", "--offline", "--config", str(config))
        runs.append(time.monotonic() - started)
        assert result.returncode == 0, result.stderr
        assert "alpha" in result.stdout and "stuck" in result.stdout
    assert 5 <= runs[0] < 20, f"the first run took {runs[0]:.1f} s (deadline 5 s)"
    assert runs[1] < 5, f"the next run waited for the stalled repository again ({runs[1]:.1f} s)"
