"""Measure ``PluginInventory.list()`` with 200 installed plugins, some of them git checkouts.

A component benchmark (the store's inventory alone, no MQTT): the service's
``list`` answer is built from it. ``bench/service_table.py`` measures ``list``
end to end through the real service.

Run: ``.venv/bin/python bench/list_installed.py [--plugins 200] [--git 40] [--rounds 50] [--quick]``

Prints median and p99 (ms) for:
* cold: a new inventory per list (discovery, every manifest read, git files parsed);
* warm: repeated lists on one inventory (the service's steady state);
* warm re-validating: every list re-checks every file signature.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _common as c

from ledmatrix_mqtt.core.registry_format import parse_registry
from ledmatrix_mqtt.store.inventory import PluginInventory
from ledmatrix_mqtt.store.layout import StateLayout
from tests.support.plugin_factory import plugin_files

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "b@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "b@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def build(root: Path, count: int, git_count: int) -> list[Path]:
    git_folders = []
    for i in range(count):
        folder = root / f"plugin-{i:03d}"
        folder.mkdir(parents=True)
        for rel, data in plugin_files(folder.name, "1.0.0").items():
            (folder / rel).write_bytes(data)
        if i < git_count:
            for args in (
                ["init", "-q", "-b", "main"],
                ["remote", "add", "origin", f"https://github.com/bench/{folder.name}.git"],
                ["add", "."],
                ["commit", "-q", "-m", "init"],
            ):
                subprocess.run(["git", "-C", str(folder), *args], env=GIT_ENV, check=True)
            git_folders.append(folder)
    # Fresh files sit in the racy-timestamp window (2 s) and are re-checked; a
    # real install is older than that by the time anyone lists it twice.
    old = time.time() - 3600
    for path in [root, *root.rglob("*")]:
        os.utime(path, (old, old), follow_symlinks=False)
    return git_folders


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    median = statistics.median(ordered)
    return f"{name:<32} median {median:8.2f} ms   p99 {p99:8.2f} ms   (n={len(ordered)})"


def main() -> None:
    parser = c.parser(__doc__)
    parser.add_argument("--plugins", type=int, default=200)
    parser.add_argument("--git", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    if args.quick:
        args.plugins, args.git, args.rounds = 40, 4, 5
    with tempfile.TemporaryDirectory() as tmp:
        layout = StateLayout(Path(tmp) / "state")
        build(layout.plugins, args.plugins, args.git)
        blocks = {f"plugin-{i:03d}": {"enabled": i % 2 == 0} for i in range(args.plugins)}
        registry = parse_registry(
            [{"id": f"plugin-{i:03d}", "name": "x", "latest_version": "1.1.0"} for i in range(100)]
        )

        def new_inventory() -> PluginInventory:
            return PluginInventory(
                layout, None, config_blocks=lambda: blocks, registry=lambda: registry
            )

        warm_inventory = new_inventory()
        listed = warm_inventory.list()
        assert len(listed) == args.plugins and sum(p.git is not None for p in listed) == args.git
        reads = warm_inventory.manifest_reads
        cold = timed(lambda: new_inventory().list(), args.rounds)
        warm = timed(warm_inventory.list, args.rounds * 4)
        warm_inventory.recheck_seconds = 0.0  # every list re-validates every signature
        revalidate = timed(warm_inventory.list, args.rounds * 4)
        assert warm_inventory.manifest_reads == reads, "warm lists must not re-read manifests"
        print(f"{args.plugins} plugins, {args.git} git checkouts")
        print(summary("cold", cold))
        print(summary("warm (memo, within 1 s)", warm))
        print(summary("warm (re-validate every stat)", revalidate))
        print(json.dumps({"warm_manifest_reads_total": warm_inventory.manifest_reads}))


if __name__ == "__main__":
    main()
