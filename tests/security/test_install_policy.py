"""Install policy over MQTT with the real Service: URL installs, foreign hosts.

* Install from a URL is off by default: ``forbidden``, and not one HTTP request.
* With ``store.allow_install_from_url: true`` the same command installs.
* A registry entry whose repo is on a host that is not configured (here
  ``localhost`` while every configured URL says ``127.0.0.1``: the same server,
  so a request *would* succeed and be logged with its Host header) is
  ``forbidden``, nothing is requested from that host and nothing is written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ledmatrix_mqtt.mqtt.remote import RemoteClient
from tests.security import running_service, write_config
from tests.support.fake_github import FakeGitHub
from tests.support.git_http import GitHttpServer
from tests.support.mosquitto import MosquittoBroker
from tests.support.plugin_factory import plugin_files, registry_entry

pytestmark = pytest.mark.broker


def tree(root: Path) -> set[str]:
    """Every path under ``root`` except the files the service always rewrites."""
    volatile = ("journal", "operation", "transactions", ".lock", "cache", "mqtt")
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if not any(v in part for part in p.relative_to(root).parts for v in volatile)
    }


def test_install_from_url_is_forbidden_by_default(
    tmp_path: Path, fake_github: FakeGitHub, broker: MosquittoBroker
) -> None:
    fake_github.add_repo("tests", "clock-repo", plugin_files("url-clock"))
    config_path = write_config(tmp_path / "cfg", broker, fake_github)
    with running_service(config_path) as (service, config):
        assert service.frontend is not None and service.frontend.wait_online(10)
        assert service.reconcile_done.wait(15)
        assert config.store.allow_install_from_url is False  # the default
        before_requests = len(fake_github.log)
        before_tree = tree(Path(config.state_dir))
        answer = RemoteClient(config).call(
            "install", {"url": fake_github.repo_url("tests", "clock-repo")}, timeout=10
        )
        assert answer["status"] == "error"
        assert answer["error"]["code"] == "forbidden"
        assert "allow_install_from_url" in answer["error"]["message"]
        assert fake_github.log[before_requests:] == []  # nothing downloaded, nothing asked
        assert tree(Path(config.state_dir)) == before_tree
        assert not (Path(config.state_dir) / "plugins" / "url-clock").exists()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_install_from_url_works_when_enabled_git_and_zip(
    tmp_path: Path, fake_github: FakeGitHub, broker: MosquittoBroker
) -> None:
    git_server = GitHttpServer(tmp_path / "git-root").start()
    try:
        git_server.publish("tests", "clock", plugin_files("git-clock"))
        mono = {f"plugins/wx/{k}": v for k, v in plugin_files("zip-weather").items()}
        fake_github.add_repo("tests", "mono", mono)
        config_path = write_config(
            tmp_path / "cfg", broker, fake_github, store={"allow_install_from_url": True}
        )
        with running_service(config_path) as (service, config):
            assert service.frontend is not None and service.frontend.wait_online(10)
            assert service.reconcile_done.wait(15)
            remote = RemoteClient(config)
            by_git = remote.call("install", {"url": git_server.url("tests", "clock")}, timeout=30)
            assert by_git["status"] == "ok", by_git
            assert (by_git["data"]["plugin_id"], by_git["data"]["source"]) == ("git-clock", "url")
            assert (Path(config.state_dir) / "plugins" / "git-clock" / ".git").exists()
            by_zip = remote.call(
                "install",
                {"url": fake_github.repo_url("tests", "mono"), "plugin_path": "plugins/wx"},
                timeout=30,
            )
            assert by_zip["status"] == "ok", by_zip
            assert by_zip["data"]["plugin_id"] == "zip-weather"
            assert fake_github.requests(r"/codeload/tests/mono/")  # downloaded as a ZIP
            listed = {p["id"] for p in remote.call("list", {}, timeout=10)["data"]["plugins"]}
            assert {"git-clock", "zip-weather"} <= listed
    finally:
        git_server.stop()


@pytest.mark.parametrize("foreign", ["localhost", "evil.example.com"])
def test_registry_entry_on_a_foreign_host_is_forbidden(
    tmp_path: Path, fake_github: FakeGitHub, broker: MosquittoBroker, foreign: str
) -> None:
    port = fake_github.base.rsplit(":", 1)[1]
    fake_github.add_repo("tests", "evil", plugin_files("evil"))
    fake_github.set_registry(
        [
            {
                **registry_entry(fake_github, "evil"),
                "repo": f"http://{foreign}:{port}/web/tests/evil",
            }
        ]
    )
    config_path = write_config(tmp_path / "cfg", broker, fake_github)
    with running_service(config_path) as (service, config):
        assert service.frontend is not None and service.frontend.wait_online(10)
        assert service.reconcile_done.wait(15)
        before_tree = tree(Path(config.state_dir))
        answer = RemoteClient(config).call("install", {"plugin_id": "evil"}, timeout=20)
        assert answer["status"] == "error", answer
        assert answer["error"]["code"] == "forbidden", answer
        assert tree(Path(config.state_dir)) == before_tree  # nothing written
        assert not (Path(config.state_dir) / "plugins" / "evil").exists()
    hosts = {headers.get("Host", "").rsplit(":", 1)[0] for _, _, headers in fake_github.log}
    assert foreign not in hosts  # not one request reached the foreign host
    assert fake_github.requests(r"/tests/evil") == []
    assert not any("evil" in p.name for p in tmp_path.rglob("*") if p.is_dir())


def _surrogate_name(files: dict[str, bytes]) -> dict[str, bytes]:
    text = files["manifest.json"].decode()
    name = json.loads(text)["name"]
    return {**files, "manifest.json": text.replace(json.dumps(name), '"x \\ud800 y"').encode()}


def test_hostile_registry_text_and_ids_get_one_answer_each_even_after_restart(
    tmp_path: Path, fake_github: FakeGitHub, broker: MosquittoBroker
) -> None:
    """A lone surrogate in a manifest name left install unanswered and list/uninstall never
    answered again (even after a restart); in a registry entry it made search and every
    install internal_error; a manifest id of a built-in shadowed it."""
    fake_github.add_repo("tests", "sur", _surrogate_name(plugin_files("sur")))
    fake_github.add_repo("tests", "good", plugin_files("good"))
    fake_github.add_repo("evil", "clockish", plugin_files("clock", "9.9.9"))
    clockish = registry_entry(fake_github, "clockish")
    clockish["repo"] = fake_github.repo_url("evil", "clockish")
    fake_github.set_registry(
        [
            registry_entry(fake_github, "sur"),
            registry_entry(fake_github, "good"),
            registry_entry(fake_github, "badname", name="a\ud800b"),
            clockish,
        ]
    )
    config_path = write_config(tmp_path / "cfg", broker, fake_github)
    with running_service(config_path) as (service, config):
        assert service.frontend is not None and service.frontend.wait_online(10)
        remote = RemoteClient(config)
        answer = remote.call("install", {"plugin_id": "sur"}, timeout=20)
        assert answer["error"]["code"] == "invalid_manifest", answer
        answer = remote.call("install", {"plugin_id": "clockish"}, timeout=20)
        assert answer["error"]["code"] == "id_conflict", answer
        assert remote.call("install", {"plugin_id": "good"}, timeout=20)["status"] == "ok"
        found = remote.call("search", {}, timeout=20)
        assert [e["id"] for e in found["data"]["entries"]] == ["sur", "good", "clockish"]
        manifest = Path(config.state_dir) / "plugins" / "good" / "manifest.json"
    manifest.write_bytes(_surrogate_name(plugin_files("good"))["manifest.json"])
    with running_service(config_path) as (service, config):  # a restart
        assert service.frontend is not None and service.frontend.wait_online(10)
        remote = RemoteClient(config)
        listed = {p["id"]: p for p in remote.call("list", {}, timeout=10)["data"]["plugins"]}
        assert listed["good"]["error"].startswith("invalid_manifest"), listed["good"]
        assert listed["clock"]["source"] == "built-in"
        assert remote.call("uninstall", {"plugin_id": "good"}, timeout=20)["status"] == "ok"
        assert "good" not in {
            p["id"] for p in remote.call("list", {}, timeout=10)["data"]["plugins"]
        }
