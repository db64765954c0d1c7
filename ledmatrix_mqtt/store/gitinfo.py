"""Commit, branch and origin of a plugin folder that is a git checkout, read without git.

Everything comes from files: ``HEAD``, the loose ref or ``packed-refs`` for the
sha, ``[remote "origin"] url`` from ``config``, and the committer date from the
loose commit object (zlib). A commit that only exists in a pack has no date
unless ``date_from_git`` is set, which runs one ``git log -1`` on a cache miss.

Results are cached per folder on a signature of the files they come from
(HEAD content and stat, the current branch's loose ref stat, packed-refs stat,
config content and stat). Refs and packed-refs are replaced by rename, so the
inode in the stat catches rewrites within one mtime tick. A warm lookup reads
HEAD and config and stats two files: no subprocess, so listing many checkouts
stays cheap.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ledmatrix_mqtt.core.models import GitInfo
from ledmatrix_mqtt.store.git import GitError, GitRunner

_LOG = logging.getLogger(__name__)
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_REMOTE_RE = re.compile(r'^remote\s+"origin"$')
_MAX_CONFIG = 256 * 1024
_GIT_TIMEOUT = 10.0

StatSig = tuple[int, int, int] | None  # (inode, size, mtime_ns)


@dataclass(frozen=True)
class GitDirs:
    """``git_dir`` holds HEAD; ``common_dir`` holds refs, packed-refs, config, objects."""

    git_dir: Path
    common_dir: Path


def stat_signature(path: Path) -> StatSig:
    """(inode, size, mtime_ns) of ``path``, or None when it cannot be stat'ed."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _read_text(path: Path, limit: int = _MAX_CONFIG) -> str | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def find_git_dirs(folder: Path) -> GitDirs | None:
    """The git dirs of ``folder``, following a ``.git`` file (``gitdir:``) and ``commondir``."""
    dot_git = folder / ".git"
    try:
        mode = dot_git.stat().st_mode
    except OSError:
        return None
    if stat.S_ISDIR(mode):
        git_dir = dot_git
    elif stat.S_ISREG(mode):
        text = _read_text(dot_git, 4096) or ""
        if not text.startswith("gitdir:"):
            return None
        target = Path(text[len("gitdir:") :].strip())
        git_dir = target if target.is_absolute() else (folder / target)
        if not git_dir.is_dir():
            return None
    else:
        return None
    common = _read_text(git_dir / "commondir", 4096)
    if common and common.strip():
        rel = Path(common.strip())
        return GitDirs(git_dir, rel if rel.is_absolute() else (git_dir / rel))
    return GitDirs(git_dir, git_dir)


def _packed_ref(common_dir: Path, ref: str) -> str:
    text = _read_text(common_dir / "packed-refs", 64 * 1024 * 1024) or ""
    for line in text.splitlines():
        parts = line.split(" ", 1)
        if len(parts) == 2 and parts[1].strip() == ref and _SHA_RE.match(parts[0]):
            return parts[0]
    return ""


def resolve_ref(dirs: GitDirs, ref: str) -> str:
    """The sha a ref points to: loose ref file first, then packed-refs; '' if unknown."""
    for base in (dirs.git_dir, dirs.common_dir):
        text = (_read_text(base / ref, 4096) or "").strip()
        if _SHA_RE.match(text):
            return text
    return _packed_ref(dirs.common_dir, ref)


def origin_url(config_text: str) -> str:
    """``[remote "origin"] url`` from a git config file's text; '' when absent or unparseable."""
    import configparser  # only git checkouts have a config to read; most starts have none

    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(config_text)
    except configparser.Error:
        return ""
    for section in parser.sections():
        if _REMOTE_RE.match(section.strip()):
            return parser.get(section, "url", fallback="").strip()
    return ""


def _loose_commit_date(common_dir: Path, sha: str) -> str:
    path = common_dir / "objects" / sha[:2] / sha[2:]
    try:
        data = zlib.decompress(path.read_bytes())
    except (OSError, zlib.error):
        return ""
    header, _, body = data.partition(b"\0")
    if not header.startswith(b"commit "):
        return ""
    for line in body.split(b"\n"):
        if not line:
            break
        if line.startswith(b"committer "):
            return _git_time_to_iso(line.decode("utf-8", "replace"))
    return ""


def _git_time_to_iso(line: str) -> str:
    match = re.search(r"(\d+) ([+-])(\d{2})(\d{2})$", line.strip())
    if match is None:
        return ""
    sign = 1 if match.group(2) == "+" else -1
    offset = timedelta(hours=int(match.group(3)), minutes=int(match.group(4))) * sign
    stamp = datetime.fromtimestamp(int(match.group(1)), tz=timezone(offset))
    return stamp.isoformat()


def _git_log_date(folder: Path, sha: str) -> str:
    """The commit date via ``git log`` (packed objects), run with the sanitised config of
    ``GitRunner``: the checkout's own config cannot make it run a command."""
    git = GitRunner.from_path(timeout=_GIT_TIMEOUT)
    if not git.available:
        return ""
    try:
        return git.run(["log", "-1", "--format=%cI", sha], cwd=folder).strip()
    except GitError as exc:
        _LOG.debug("git log failed in %s: %s", folder, exc.message)
        return ""


def _head_target(head: str) -> tuple[str, str]:
    """(branch ref or '', detached sha or '') from HEAD's text."""
    text = head.strip()
    if text.startswith("ref:"):
        return text[4:].strip(), ""
    return "", text if _SHA_RE.match(text) else ""


def _signature(dirs: GitDirs) -> tuple[object, ...] | None:
    head = _read_text(dirs.git_dir / "HEAD", 4096)
    if head is None:
        return None
    ref, _ = _head_target(head)
    loose = (
        (stat_signature(dirs.git_dir / ref), stat_signature(dirs.common_dir / ref))
        if ref
        else (None, None)
    )
    config = dirs.common_dir / "config"
    return (
        head,
        stat_signature(dirs.git_dir / "HEAD"),
        loose,
        stat_signature(dirs.common_dir / "packed-refs"),
        _read_text(config),
        stat_signature(config),
    )


def read_git_info(folder: Path, *, date_from_git: bool = False) -> GitInfo | None:
    """Uncached read. None when ``folder`` is not a checkout or HEAD cannot be resolved."""
    dirs = find_git_dirs(folder)
    if dirs is None:
        return None
    head = _read_text(dirs.git_dir / "HEAD", 4096)
    if head is None:
        return None
    ref, sha = _head_target(head)
    if ref:
        sha = resolve_ref(dirs, ref)
    if not sha:
        return None
    branch = ref[len("refs/heads/") :] if ref.startswith("refs/heads/") else ref
    date = _loose_commit_date(dirs.common_dir, sha)
    if not date and date_from_git:
        date = _git_log_date(folder, sha)
    remote = origin_url(_read_text(dirs.common_dir / "config") or "")
    return GitInfo(sha=sha, branch=branch, remote_url=remote, date_iso=date)


class GitInfoCache:
    """Thread-safe per-folder cache of :func:`read_git_info`, keyed on the git files' signature.

    ``misses`` counts slow-path reads (for tests and the bench).
    """

    def __init__(self, *, date_from_git: bool = False) -> None:
        self._date_from_git = date_from_git
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[tuple[object, ...], GitInfo | None]] = {}
        self.misses = 0

    def get(self, folder: Path) -> GitInfo | None:
        """Git info of ``folder`` or None when it is not a (resolvable) checkout."""
        dirs = find_git_dirs(folder)
        key = os.fspath(folder)
        if dirs is None:
            with self._lock:
                self._entries.pop(key, None)
            return None
        sig = _signature(dirs)
        with self._lock:
            held = self._entries.get(key)
        if sig is not None and held is not None and held[0] == sig:
            return held[1]
        info = read_git_info(folder, date_from_git=self._date_from_git)
        with self._lock:
            self.misses += 1
            if sig is not None:
                self._entries[key] = (sig, info)
        return info

    def invalidate(self, folder: Path | None = None) -> None:
        with self._lock:
            if folder is None:
                self._entries.clear()
            else:
                self._entries.pop(os.fspath(folder), None)
