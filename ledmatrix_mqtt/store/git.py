"""Run ``git`` for URL installs and for updating plugin folders that are checkouts.

Git is optional on the device. Every call runs with no inherited configuration
(``GIT_CONFIG_NOSYSTEM``, an empty global config, ``HOME`` in a temp folder),
no terminal prompts, only the http(s) transports (``protocol.allow=never``
otherwise: no ``file://``, ``ext::`` or ssh), no redirects (each URL is checked
against the host allow-list by the caller and git must not wander off it),
no hooks, no fsmonitor command, and symlinks checked out as plain files, with a
timeout.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ledmatrix_mqtt.errors import DownloadFailed

_LOG = logging.getLogger(__name__)
GIT_TIMEOUT = 120.0
_SAFE_CONFIG = (
    "protocol.allow=never",
    "protocol.http.allow=always",
    "protocol.https.allow=always",
    "http.followRedirects=false",
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",  # a checkout's own .git/config must not name a command to run
    "core.sshCommand=/bin/false",
    "core.pager=cat",
    "log.showSignature=false",  # with gpg.program, a signature check runs a command
    "gpg.program=/bin/false",
    "core.symlinks=false",
    "credential.helper=",
    "advice.detachedHead=false",
)


class GitError(DownloadFailed):
    """A git command failed; ``details["stderr"]`` holds its last lines."""


class GitRunner:
    """Runs git with a locked-down environment. ``executable`` None disables git."""

    def __init__(self, executable: str | None = None, *, timeout: float = GIT_TIMEOUT) -> None:
        self.executable = executable
        self.timeout = timeout

    @classmethod
    def from_path(cls, *, timeout: float = GIT_TIMEOUT) -> GitRunner:
        """Use the ``git`` found on PATH, if any."""
        return cls(shutil.which("git"), timeout=timeout)

    @property
    def available(self) -> bool:
        return bool(self.executable)

    def run(self, args: Sequence[str], *, cwd: Path | None = None) -> str:
        """Run ``git <args>``; stdout on success, ``GitError`` otherwise."""
        if not self.executable:
            raise GitError("git is not installed")
        argv = [self.executable]
        for item in _SAFE_CONFIG:
            argv += ["-c", item]
        argv += list(args)
        with tempfile.TemporaryDirectory(prefix="ledmatrix-git-home-") as home:
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": home,
                "LANG": "C",
                "GIT_TERMINAL_PROMPT": "0",
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_ASKPASS": "/bin/false",
                "SSH_ASKPASS": "/bin/false",
            }
            try:
                done = subprocess.run(
                    argv, cwd=cwd, env=env, capture_output=True, text=True,
                    errors="replace", timeout=self.timeout, check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired as exc:
                raise GitError(f"git {args[0]} timed out after {self.timeout:.0f} s") from exc
            except OSError as exc:
                raise GitError(f"cannot run git: {exc.strerror or exc}") from exc
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise GitError(f"git {args[0]} failed: {tail[:400]}", details={"stderr": tail})
        return done.stdout

    # -- operations -------------------------------------------------------------------
    def clone(self, url: str, dest: Path, *, branch: str = "") -> None:
        """Shallow clone of ``url`` (its default branch unless ``branch``) into ``dest``."""
        args = ["clone", "--depth", "1", "--no-tags", "--single-branch"]
        if branch:
            args += ["--branch", branch]
        self.run([*args, "--", url, str(dest)])

    def head(self, repo: Path) -> str:
        return self.run(["rev-parse", "HEAD"], cwd=repo).strip()

    def current_branch(self, repo: Path) -> str:
        """The checked-out branch name, or empty when HEAD is detached."""
        try:
            return self.run(["symbolic-ref", "--short", "-q", "HEAD"], cwd=repo).strip()
        except GitError:
            return ""

    def remote_url(self, repo: Path) -> str:
        """``remote.origin.url`` of this checkout only (never a parent repository's)."""
        return self.run(["config", "--file", ".git/config", "remote.origin.url"], cwd=repo).strip()

    def fast_forward(self, repo: Path, url: str, branch: str) -> None:
        """Fetch ``branch`` from ``url`` and fast-forward; refuse anything else."""
        self.run(["fetch", "--no-tags", "--", url, branch], cwd=repo)
        self.run(["merge", "--ff-only", "FETCH_HEAD"], cwd=repo)


def is_checkout(folder: Path) -> bool:
    """True when ``folder`` has its own ``.git`` folder (not a parent repository's)."""
    return (folder / ".git").is_dir() and (folder / ".git" / "HEAD").is_file()
