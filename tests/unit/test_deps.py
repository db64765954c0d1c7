"""Plugin requirements: the pure pip argv, the live 'already satisfied' check, a real pip run."""

from __future__ import annotations

import sys
from pathlib import Path

from ledmatrix_mqtt.store.deps import (
    ensure_requirements,
    is_satisfied,
    pip_install_argv,
    requirement_lines,
)


def test_regression_380_385_pip_runs_as_the_service_interpreter() -> None:
    argv = pip_install_argv("/venv/bin/python", Path("/p/requirements.txt"))
    assert argv[:4] == ["/venv/bin/python", "-m", "pip", "install"]
    assert argv[-2:] == ["-r", "/p/requirements.txt"]
    assert "sudo" not in argv and "pip3" not in argv[0]


def test_pip_argv_extra_args_before_requirements() -> None:
    argv = pip_install_argv("py", Path("r.txt"), extra_args=("--no-index",))
    assert argv.index("--no-index") < argv.index("-r")


def test_requirement_lines_strip_comments_and_join_continuations() -> None:
    text = "# comment\n\nrequests>=2  # why\npack\\\naging\n   \nurl#frag\n"
    assert requirement_lines(text) == ["requests>=2", "packaging", "url#frag"]


def test_installed_packages_are_satisfied() -> None:
    assert is_satisfied(["requests>=2", "packaging", "ruamel.yaml"])


def test_marker_that_does_not_apply_is_skipped() -> None:
    assert is_satisfied(['definitely-not-installed-pkg; python_version < "3"'])


def test_missing_package_or_wrong_version_unsatisfied() -> None:
    assert not is_satisfied(["definitely-not-installed-pkg"])
    assert not is_satisfied(["requests<1"])


def test_option_and_unparseable_lines_count_as_unsatisfied() -> None:
    assert not is_satisfied(["-r other.txt"])
    assert not is_satisfied(["--index-url https://example.invalid"])
    assert not is_satisfied(["this is not a requirement!!"])


def test_extras_checked_recursively() -> None:
    # requests[socks] needs PySocks, which the dev environment does not ship.
    assert not is_satisfied(["requests[socks]"])


def test_no_file_and_comment_only_file_mean_none(tmp_path: Path) -> None:
    assert ensure_requirements(tmp_path).status == "none"
    (tmp_path / "requirements.txt").write_text("# nothing\n\n")
    assert ensure_requirements(tmp_path).status == "none"


def test_satisfied_requirements_do_not_run_pip(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("requests>=2\n")
    report = ensure_requirements(tmp_path, python="/nonexistent/python")
    assert report.status == "satisfied"


def test_regression_355_390_added_requirement_is_seen_without_markers(tmp_path: Path) -> None:
    """Marker files would hide new requirements (upstream #355, #390).
    The check is live: adding a requirement to a satisfied file is noticed at once."""
    req = tmp_path / "requirements.txt"
    req.write_text("requests>=2\n")
    assert ensure_requirements(tmp_path, python="/nonexistent/python").status == "satisfied"
    req.write_text("requests>=2\ndefinitely-not-installed-pkg\n")
    report = ensure_requirements(tmp_path, python="/nonexistent/python")
    assert report.status == "failed"
    assert "cannot run pip" in report.detail


def test_real_pip_failure_is_reported_not_hidden(tmp_path: Path) -> None:
    """A failing pip (offline: --no-index) comes back as status 'failed' with pip's tail."""
    (tmp_path / "requirements.txt").write_text("definitely-not-installed-pkg-xyz==1.0\n")
    report = ensure_requirements(
        tmp_path, python=sys.executable, pip_args=("--no-index",), timeout=60
    )
    assert report.status == "failed"
    assert "definitely-not-installed-pkg-xyz" in report.detail.lower()


def test_pip_timeout_is_a_failure(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("definitely-not-installed-pkg\n")
    sleeper = tmp_path / "slowpy"
    sleeper.write_text("#!/bin/sh\nsleep 5\n")
    sleeper.chmod(0o755)
    report = ensure_requirements(tmp_path, python=str(sleeper), timeout=0.2)
    assert report.status == "failed"
    assert "timed out" in report.detail


def test_regression_386_package_without_pip_record_is_installed_over(tmp_path: Path) -> None:
    """pip cannot upgrade a distro package that has no RECORD; the install is retried
    with ``--ignore-installed`` and its outcome reported, not the first failure."""
    (tmp_path / "requirements.txt").write_text("definitely-not-installed-pkg\n")
    calls = tmp_path / "calls"
    python = tmp_path / "distropy"
    python.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{calls}"\n'
        'case "$*" in *--ignore-installed*) echo "Successfully installed"; exit 0;; esac\n'
        'echo "error: uninstall-no-record-file"; exit 1\n'
    )
    python.chmod(0o755)
    report = ensure_requirements(tmp_path, python=str(python), timeout=10)
    assert report.status == "installed"
    assert [("--ignore-installed" in line) for line in calls.read_text().splitlines()] == [
        False,
        True,
    ]
