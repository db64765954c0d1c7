"""A plugin's ``requirements.txt``, installed into the service's own environment.

The check is live every time (no marker files, which would hide a
requirement added later): when every line is a PEP 508 requirement
that is already satisfied in this interpreter, pip is not run. Otherwise
``<python> -m pip install -r requirements.txt`` runs with a timeout, as the
service's own user and interpreter (no sudo, no bare ``pip3``, either of which
may install packages where the service cannot import them). A failure is
returned as ``DependencyReport(status="failed")`` with pip's last lines; the
caller reports it, it is never hidden.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # packaging and importlib.metadata load on first use (not at start-up)
    from packaging.requirements import Requirement

from ledmatrix_mqtt.core.models import DependencyReport

_LOG = logging.getLogger(__name__)
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
_NO_RECORD = "uninstall-no-record-file"
TAIL_LINES = 20


def requirement_lines(text: str) -> list[str]:
    """Non-empty, comment-free logical lines (pip's ``\\`` continuations joined)."""
    joined = re.sub(r"\\\r?\n", "", text)
    lines = (_COMMENT_RE.sub("", line).strip() for line in joined.splitlines())
    return [line for line in lines if line]


def pip_install_argv(
    python: str, requirements: Path, *, extra_args: Sequence[str] = ()
) -> list[str]:
    """The pip command line for one requirements file. Pure."""
    return [
        python, "-m", "pip", "install",
        "--disable-pip-version-check", "--no-input",
        *extra_args,
        "-r", str(requirements),
    ]  # fmt: skip


def _dist_satisfies(req: Requirement, seen: set[str]) -> bool:
    key = f"{req.name.lower()}[{','.join(sorted(req.extras))}]"
    if key in seen:
        return True
    seen.add(key)
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    try:
        dist = metadata.distribution(req.name)
    except metadata.PackageNotFoundError:
        return False
    if not req.specifier.contains(dist.version, prereleases=True):
        return False
    for extra in sorted(req.extras):
        for line in dist.requires or []:
            try:
                sub = Requirement(line)
            except InvalidRequirement:
                return False
            if sub.marker is None or not sub.marker.evaluate({"extra": extra}):
                continue  # base dependencies came with the package; only check extras
            if not _dist_satisfies(sub, seen):
                return False
    return True


def is_satisfied(lines: Sequence[str]) -> bool:
    """True when every line is a PEP 508 requirement met by this interpreter.

    A line whose marker does not apply is skipped; an option line (``-r``,
    ``-e``, ``--index-url``...) or an unparseable line counts as unsatisfied.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    seen: set[str] = set()
    for line in lines:
        if line.startswith("-"):
            return False
        try:
            req = Requirement(line)
        except InvalidRequirement:
            return False
        if req.url:
            return False
        if req.marker is not None and not req.marker.evaluate():
            continue
        if not _dist_satisfies(req, seen):
            return False
    return True


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-TAIL_LINES:])[-2000:]


def _run_pip(argv: list[str], timeout: float) -> tuple[int, str]:
    env = {**os.environ, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    try:
        done = subprocess.run(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return -1, f"pip timed out after {timeout:.0f} s"
    except OSError as exc:
        return -1, f"cannot run pip: {exc.strerror or exc}"
    return done.returncode, done.stdout or ""


def ensure_requirements(
    plugin_dir: Path,
    *,
    timeout: float = 300.0,
    python: str = sys.executable,
    pip_args: Sequence[str] = (),
) -> DependencyReport:
    """Install ``plugin_dir/requirements.txt`` unless nothing is needed.

    Returns status ``none`` (no or comment-only file), ``satisfied`` (already
    met; pip not run), ``installed`` or ``failed`` (``detail`` = pip's tail).
    """
    path = Path(plugin_dir) / "requirements.txt"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return DependencyReport("none")
    except OSError as exc:
        return DependencyReport("failed", f"cannot read requirements.txt: {exc.strerror}")
    lines = requirement_lines(text)
    if not lines:
        return DependencyReport("none")
    if is_satisfied(lines):
        return DependencyReport("satisfied")
    argv = pip_install_argv(python, path, extra_args=pip_args)
    _LOG.info("installing requirements of %s", Path(plugin_dir).name)
    code, output = _run_pip(argv, timeout)
    if code != 0 and _NO_RECORD in output:
        # A distro package without a pip RECORD cannot be uninstalled by pip, so an
        # upgrade of it fails; install over it instead of pretending it worked.
        argv = pip_install_argv(python, path, extra_args=(*pip_args, "--ignore-installed"))
        code, output = _run_pip(argv, timeout)
    if code != 0:
        _LOG.warning("requirements of %s failed: %s", Path(plugin_dir).name, _tail(output))
        return DependencyReport("failed", _tail(output) or f"pip exited with {code}")
    return DependencyReport("installed", _tail(output))
