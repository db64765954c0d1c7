"""Registry and GitHub faults through the real Service, answered over MQTT.

Every fault is injected in the FakeGitHub HTTP server (or is a host name that
cannot resolve); the service is driven with MQTT commands only. Checked: a
stable error code in the response, the installed copy untouched, stale data
served where the service holds some, request counts that show the back-off,
and a start-up reconcile that never gives up on a plugin because of a
transient fault.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.reliability.conftest import ROOT, ServiceEnv, call, leftovers, version_on_disk

pytestmark = pytest.mark.broker
REGISTRY_PATH = "/raw/ChuckBuilds/ledmatrix-plugins/main/plugins.json"
ARCHIVE = r"^/codeload/tests/weather/"
HTML = b"<!DOCTYPE html><html><body>Rate limit page</body></html>"


def _installed_then_newer(env: ServiceEnv) -> None:
    """weather 1.0.0 installed through the service; the registry now offers 2.0.0."""
    env.publish_plugin("weather", "1.0.0")
    env.start()
    probe = env.probe(f"{ROOT}/#")
    assert call(probe, "install", {"plugin_id": "weather"}, timeout=20)["status"] == "ok"
    env.publish_plugin("weather", "2.0.0")


def _assert_untouched(env: ServiceEnv) -> None:
    assert version_on_disk(env.state_dir, "weather") == "1.0.0"
    assert leftovers(env.state_dir, temps=False) == []
    display = env.services[-1].display
    assert display is not None and "weather" in display.rotation()


@pytest.mark.parametrize(
    ("fault", "value", "codes"),
    [
        ("status", 500, {"download_failed"}),
        ("status", 503, {"download_failed"}),
        ("status", 403, {"download_failed", "rate_limited"}),
        ("reset", None, {"download_failed"}),
        ("truncate", None, {"download_failed", "invalid_archive"}),
        ("html", None, {"invalid_archive", "download_failed"}),
    ],
)
def test_download_fault_answers_a_stable_code_and_keeps_the_installed_copy(
    env: ServiceEnv, fault: str, value: Any, codes: set[str]
) -> None:
    _installed_then_newer(env)
    if fault == "html":
        env.fake.extra_routes["/codeload/tests/weather/zip/refs/heads/main"] = (
            200, HTML, "text/html"
        )  # fmt: skip
    else:
        env.fake.add_fault(ARCHIVE, fault, value)
    probe = env.probe(f"{ROOT}/#")
    resp = call(probe, "update", {"plugin_id": "weather"}, timeout=30)
    assert resp["status"] == "error", resp
    assert resp["error"]["code"] in codes, resp
    assert len(resp["error"]["message"]) > 10
    _assert_untouched(env)
    assert call(probe, "list")["status"] == "ok"


def test_stalled_github_api_search_answers_by_its_deadline_and_slow_download_completes(
    env: ServiceEnv,
) -> None:
    """Stalls: GitHub API calls that hang do not hold a search past its deadline (3 s),
    and a download that is slow (a 2 s stall, under the 30 s download timeout) still
    completes instead of failing spuriously."""
    _installed_then_newer(env)
    env.fake.add_fault(r"^/api/", "stall", 20)
    probe = env.probe(f"{ROOT}/#")
    resp = call(probe, "search", {"query": "weather"}, timeout=10)
    assert resp["status"] == "ok", resp
    assert resp["data"]["complete"] is False
    assert [e["id"] for e in resp["data"]["entries"]] == ["weather"]
    env.fake.clear_faults()
    env.fake.add_fault(ARCHIVE, "stall", 2, times=1)
    resp = call(probe, "update", {"plugin_id": "weather"}, timeout=30)
    assert resp["status"] == "ok", resp
    assert version_on_disk(env.state_dir, "weather") == "2.0.0"


@pytest.mark.parametrize(
    "fault", [("status", 500), ("status", 403), ("reset", None), ("html", None)]
)
def test_registry_fault_serves_stale_copy_and_backs_off(
    env: ServiceEnv, fault: tuple[str, Any]
) -> None:
    env.publish_plugin("weather", "1.0.0")
    env.start()
    probe = env.probe(f"{ROOT}/#")
    fresh = call(probe, "search", {"query": "weather"})
    assert fresh["status"] == "ok" and fresh["data"]["stale"] is False
    kind, value = fault
    if kind == "html":
        env.fake.extra_routes[REGISTRY_PATH] = (200, HTML, "text/html")
    else:
        env.fake.add_fault(REGISTRY_PATH, kind, value)
    before = len(env.fake.requests("plugins.json"))
    refreshed = call(probe, "search", {"query": "weather", "refresh": True}, timeout=15)
    assert refreshed["status"] == "ok", refreshed
    assert refreshed["data"]["stale"] is True
    assert [e["id"] for e in refreshed["data"]["entries"]] == ["weather"]
    attempts = len(env.fake.requests("plugins.json")) - before
    assert 1 <= attempts <= 3  # bounded retries, not a loop
    for _ in range(5):  # within the back-off: no request at all
        again = call(probe, "search", {"query": "weather"})
        assert again["data"]["stale"] is True
    assert len(env.fake.requests("plugins.json")) - before == attempts
    # the stale copy still resolves ids, so an install works while the registry is down
    resp = call(probe, "install", {"plugin_id": "weather"}, timeout=20)
    assert resp["status"] == "ok", resp
    assert version_on_disk(env.state_dir, "weather") == "1.0.0"


def test_registry_down_with_no_copy_answers_registry_unavailable(env: ServiceEnv) -> None:
    env.publish_plugin("weather", "1.0.0")
    env.fake.add_fault(REGISTRY_PATH, "status", 502)
    env.start()
    probe = env.probe(f"{ROOT}/#")
    for command, payload in (("install", {"plugin_id": "weather"}), ("search", {})):
        resp = call(probe, command, payload, timeout=20)
        assert resp["status"] == "error", resp
        assert resp["error"]["code"] == "registry_unavailable", resp
    assert version_on_disk(env.state_dir, "weather") is None
    assert leftovers(env.state_dir, temps=False) == []


def test_unresolvable_hosts_answer_registry_unavailable(env: ServiceEnv) -> None:
    dead = "http://does-not-exist.invalid"
    env.write_config(
        {
            "registry_url": f"{dead}/plugins.json",
            "github": {
                "web_url": f"{dead}/web",
                "api_url": f"{dead}/api",
                "raw_url": f"{dead}/raw",
                "archive_url": f"{dead}/codeload",
            },
        }
    )
    env.start()
    probe = env.probe(f"{ROOT}/#")
    for command, payload in (("install", {"plugin_id": "weather"}), ("search", {})):
        resp = call(probe, command, payload, timeout=20)
        assert resp["error"]["code"] == "registry_unavailable", resp
        assert "does-not-exist.invalid" in resp["error"]["message"] or resp["error"]["message"]
    assert call(probe, "list")["status"] == "ok"


@pytest.mark.parametrize("outage", ["registry", "download"])
def test_transient_fault_at_start_up_is_retried_by_the_next_reconcile(
    env: ServiceEnv, outage: str
) -> None:
    """Regression for upstream #309: a flaky boot marked every plugin unrecoverable
    (empty-registry fallback) so it was never reinstalled once the network was back."""
    env.plugins = {"clock": {"enabled": True, "format_24h": False}, "weather": {"enabled": True}}
    env.publish_plugin("weather", "1.0.0")
    if outage == "registry":
        env.fake.add_fault(REGISTRY_PATH, "status", 503)
    else:
        env.fake.add_fault(ARCHIVE, "reset")
    svc = env.start()
    assert svc.reconcile_done.wait(30)
    assert version_on_disk(env.state_dir, "weather") is None
    report = svc.store.last_reconcile() if svc.store else None
    assert report is not None and any(i.plugin_id == "weather" for i in report.needs_attention)
    unrecoverable = env.state_dir / "records" / "unrecoverable.json"
    if unrecoverable.exists():
        assert "weather" not in json.loads(unrecoverable.read_text()).get("unrecoverable", {})
    env.fake.clear_faults()
    probe = env.probe(f"{ROOT}/#")
    # no store refresh first: a reconcile that must reinstall asks the network past
    # the 60 s back-off of the failed start-up fetch
    resp = call(probe, "reconcile", {}, timeout=30)
    assert resp["status"] == "ok", resp
    assert version_on_disk(env.state_dir, "weather") == "1.0.0"
    display = svc.display
    assert display is not None and "weather" in display.rotation()
