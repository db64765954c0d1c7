"""Git info of plugin checkouts from real ``git init`` repos, with no subprocess when warm."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ledmatrix_mqtt.store.gitinfo import GitInfoCache, origin_url, read_git_info

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=_ENV, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit(repo: Path, name: str = "f.txt") -> str:
    path = repo / name
    path.write_text(path.read_text() + "x" if path.exists() else "x")
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", f"change {name}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "plugin"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "remote", "add", "origin", "https://github.com/tests/plugin.git")
    commit(path)
    return path


@pytest.fixture
def no_subprocess(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Turn any subprocess spawn into a test failure for the duration of a block."""

    def forbid(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"subprocess spawned: {args!r}")

    def arm() -> None:
        monkeypatch.setattr(subprocess, "run", forbid)
        monkeypatch.setattr(subprocess.Popen, "__init__", forbid)

    return arm


def test_reads_sha_branch_remote_and_date_without_git(repo: Path) -> None:
    info = read_git_info(repo)
    assert info is not None
    assert info.sha == git(repo, "rev-parse", "HEAD")
    assert info.branch == "main"
    assert info.remote_url == "https://github.com/tests/plugin.git"
    assert info.date_iso == git(repo, "log", "-1", "--format=%cI")


def test_not_a_checkout_is_none(tmp_path: Path) -> None:
    assert read_git_info(tmp_path) is None
    assert GitInfoCache().get(tmp_path) is None


def test_regression_309_warm_call_spawns_no_subprocess(repo: Path, no_subprocess) -> None:  # type: ignore[no-untyped-def]
    git(repo, "gc", "-q")  # packed commit: a cache miss here would run `git log`
    cache = GitInfoCache(date_from_git=True)
    first = cache.get(repo)
    assert first is not None and first.date_iso  # the cold call did use git
    no_subprocess()
    assert cache.get(repo) == first
    assert cache.get(repo) == first
    assert cache.misses == 1


def test_new_commit_invalidates(repo: Path) -> None:
    cache = GitInfoCache()
    cache.get(repo)
    sha = commit(repo)
    info = cache.get(repo)
    assert info is not None and info.sha == sha
    assert cache.misses == 2


def test_fast_forward_pull_invalidates(tmp_path: Path, repo: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], env=_ENV, check=True)
    cache = GitInfoCache()
    before = cache.get(clone)
    new_sha = commit(repo)
    git(clone, "pull", "-q", "--ff-only")
    after = cache.get(clone)
    assert before is not None and after is not None
    assert before.sha != after.sha == new_sha
    assert after.remote_url == str(repo)


def test_branch_switch_invalidates(repo: Path) -> None:
    cache = GitInfoCache()
    main_sha = cache.get(repo).sha  # type: ignore[union-attr]
    git(repo, "switch", "-q", "-c", "feature")
    feature_sha = commit(repo)
    info = cache.get(repo)
    assert info is not None and (info.branch, info.sha) == ("feature", feature_sha)
    git(repo, "switch", "-q", "main")
    info = cache.get(repo)
    assert info is not None and (info.branch, info.sha) == ("main", main_sha)


def test_detached_head_has_no_branch(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    commit(repo)
    cache = GitInfoCache()
    cache.get(repo)
    git(repo, "checkout", "-q", "--detach", first)
    info = cache.get(repo)
    assert info is not None and (info.branch, info.sha) == ("", first)


def test_packed_refs_are_read_and_a_rewrite_invalidates(repo: Path) -> None:
    cache = GitInfoCache()
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git/refs/heads/main").exists()
    packed = cache.get(repo)
    assert packed is not None and packed.sha == git(repo, "rev-parse", "HEAD")
    new_sha = commit(repo)
    git(repo, "pack-refs", "--all")  # the loose ref is gone again; only packed-refs changed
    info = cache.get(repo)
    assert info is not None and info.sha == new_sha


def test_remote_url_change_invalidates(repo: Path) -> None:
    cache = GitInfoCache()
    cache.get(repo)
    git(repo, "remote", "set-url", "origin", "https://example.com/other.git")
    info = cache.get(repo)
    assert info is not None and info.remote_url == "https://example.com/other.git"


def test_worktree_git_file_is_followed_and_cached(
    repo: Path, tmp_path: Path, no_subprocess
) -> None:  # type: ignore[no-untyped-def]
    tree = tmp_path / "tree"
    git(repo, "worktree", "add", "-q", "-b", "wt", str(tree))
    assert (tree / ".git").is_file()
    cache = GitInfoCache()
    info = cache.get(tree)
    assert info is not None
    assert (info.branch, info.sha) == ("wt", git(tree, "rev-parse", "HEAD"))
    assert info.remote_url == "https://github.com/tests/plugin.git"
    sha = commit(tree)
    no_subprocess()
    assert cache.get(tree).sha == sha  # type: ignore[union-attr]
    assert cache.get(tree).sha == sha  # type: ignore[union-attr]
    assert cache.misses == 2


def test_packed_only_commit_date_uses_one_git_log_when_allowed(repo: Path) -> None:
    git(repo, "gc", "-q")  # moves the commit into a pack: no loose object to read
    assert read_git_info(repo).date_iso == ""  # type: ignore[union-attr]
    dated = read_git_info(repo, date_from_git=True)
    assert dated is not None and dated.date_iso == git(repo, "log", "-1", "--format=%cI")


def test_origin_url_parser_ignores_other_remotes() -> None:
    text = '[remote "upstream"]\n\turl = a\n[remote "origin"]\n\turl = b\n'
    assert origin_url(text) == "b"
    assert origin_url("[broken") == ""
