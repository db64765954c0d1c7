"""Every shell command in the README runs as written.

Each ```sh block is run by bash (``set -e``) in README order against a running
service on a real mosquitto, with the device id the README uses (``livingroom``),
the config in ``$LEDMATRIX_CONFIG`` and the mosquitto clients pointed at the test
broker through their own options files in ``$XDG_CONFIG_HOME``: the commands are
not rewritten. Lines that need a Raspberry Pi, root, the network or never return
are on ``SKIPPED`` with the reason (or the test that covers them); every other
line runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    CLI,
    DEVICE_ID,
    Appliance,
    PluginShelf,
    cli_env,
    decode_png,
    running_appliance,
    write_config,
)
from tests.support.mosquitto import MosquittoBroker
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

README = Path(__file__).resolve().parents[2] / "README.md"
README_DEVICE = "livingroom"

# Line prefix -> why it is not run here.
SKIPPED = {
    "sudo ": "needs root on a Raspberry Pi (systemd: tests/e2e/test_systemd_unit.py)",
    "git clone ": "needs the network",
    ".venv/bin/pip install git+": "needs the network and a Raspberry Pi",
    "scripts/run": "never returns (tests/e2e/test_systemd_unit.py runs scripts/run --config)",
    "scripts/test": "is the CI run itself (.ci/run)",
    "ledmatrix-mqtt run": "never returns (tests/e2e/test_run_command.py)",
    ".venv/bin/python bench/": "minutes of benchmarks (test_benchmarks_run.py runs each --quick)",
}


def sh_blocks(text: str) -> list[str]:
    """The bodies of the fenced blocks marked ``sh`` (or ``bash``/``shell``)."""
    return re.findall(r"^```(?:sh|bash|shell)\n(.*?)^```", text, flags=re.M | re.S)


def runnable(block: str) -> list[str]:
    """The block's command lines minus the skipped ones (comments and blanks dropped)."""
    lines = []
    for line in block.splitlines():
        command = line.strip()
        if not command or command.startswith("#"):
            continue
        if any(command.startswith(prefix) for prefix in SKIPPED):
            continue
        lines.append(command)
    return lines


def localise(command: str) -> str:
    """Commands run as the README shows them; only the install path of the venv's
    ``.venv/bin/`` and ``config/config.yaml`` (a checkout's layout) point at the test's."""
    command = command.replace(".venv/bin/ledmatrix-mqtt", "ledmatrix-mqtt")
    return command.replace("--config config/config.yaml", "")


@pytest.fixture
def readme_service(
    tmp_path: Path, broker: MosquittoBroker, shelf: PluginShelf
) -> Iterator[Appliance]:
    shelf.publish("clock-simple", "1.2.0")
    path = write_config(tmp_path / "etc", port=broker.port, store=shelf.fake.store_config())
    path.write_text(path.read_text().replace(f"id: {DEVICE_ID}", f"id: {README_DEVICE}"))
    with running_appliance(path, broker) as app:
        yield app


def shell_env(tmp_path: Path, app: Appliance) -> dict[str, str]:
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    for client in ("mosquitto_pub", "mosquitto_sub"):  # their per-user default options
        (xdg / client).write_text(f"-h 127.0.0.1\n-p {app.broker.port}\n")
    env = cli_env()
    env.update(
        LEDMATRIX_CONFIG=str(app.config_path),
        XDG_CONFIG_HOME=str(xdg),
        PATH=f"{CLI.parent}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def test_readme_sh_blocks_are_found() -> None:
    blocks = sh_blocks(README.read_text())
    assert len(blocks) >= 3, "the README's shell examples were not found"
    assert sum(len(runnable(b)) for b in blocks) >= 20


def test_every_readme_shell_command_runs(readme_service: Appliance, tmp_path: Path) -> None:
    env = shell_env(tmp_path, readme_service)
    work = tmp_path / "work"
    work.mkdir()
    ran = 0
    for index, block in enumerate(sh_blocks(README.read_text())):
        commands = [localise(c) for c in runnable(block)]
        if not commands:
            continue
        script = "set -euo pipefail\n" + "\n".join(commands) + "\n"
        out = work / f"block{index}.out"
        with out.open("wb") as sink:
            process = subprocess.Popen(
                ["bash", "-c", script], cwd=work, env=env, stdout=sink,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            rc = process.wait(120)
            if "&" in script:  # a background subscriber: let it print what it waits for
                answered = wait_until(lambda p=out: b'"transaction":"a1"' in p.read_bytes(), 60)
                assert answered, out.read_text(errors="replace")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)  # background jobs of the block
        text = out.read_text(errors="replace")
        assert rc == 0, f"README block {index} failed:\n{script}\n{text}"
        assert "Traceback" not in text, text
        ran += len(commands)
        check_block_effects(commands, text, work)
    assert ran >= 20


def check_block_effects(commands: list[str], output: str, work: Path) -> None:
    """What the README says these commands do, seen from outside."""
    joined = "\n".join(commands)
    if "cmd/install" in joined:  # the mosquitto_pub example: the install's one response
        responses = [line for line in output.splitlines() if "/response/install " in line]
        answer = json.loads(responses[0].split(" ", 1)[1])
        assert (answer["status"], answer["transaction"]) == ("ok", "a1"), answer
    for command in commands:
        if command.endswith("> frame.png"):
            decode_png((work / "frame.png").read_bytes())
        if command.startswith("ledmatrix-mqtt snapshot "):
            decode_png((work / command.split()[-1]).read_bytes())
    if "ledmatrix-mqtt plugins list --json" in joined:
        assert '"status": "ok"' in output
