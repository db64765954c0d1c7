"""Frame-time jitter of the scrolling text plugin while REAL store installs run.

The real DisplayController (headless backend) scrolls the built-in text plugin
and records the time of every frame the render loop produces (identical frames
are not re-sent to the panel, so counting only sends would read the blank
stretch between scroll loops as a stall). In the same run it
measures a window with nothing else going on (idle), then a window during which
a thread loops ``PluginStore.install`` / ``uninstall`` of a plugin whose ZIP
holds ~8 MiB of incompressible files, served by FakeGitHub in a separate
process (as GitHub would be: its ZIP building does not share our GIL).
Prints p50/p99/max of the frame intervals for both windows and the installs done.

Differs from bench/frame_jitter.py, which simulates install work (zip/extract/
hash) instead of driving the store.

    .venv/bin/python bench/frame_jitter_install.py [--seconds 20] [--mib 8] [--quick]
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import os
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import _common as c  # first: puts the repo on sys.path

from ledmatrix_mqtt.core.config_model import DeviceConfig, DisplayConfig, parse_config
from ledmatrix_mqtt.runtime.backends.headless import HeadlessBackend
from ledmatrix_mqtt.runtime.controller import DisplayController
from ledmatrix_mqtt.runtime.spec import builtin_specs
from ledmatrix_mqtt.store.wiring import build_store

PLUGIN = "big-plugin"


def serve_github(conn: Connection, mib: int) -> None:
    """Child process: FakeGitHub with one large plugin; runs until the pipe closes."""
    from tests.support.fake_github import FakeGitHub
    from tests.support.plugin_factory import plugin_files, registry_entry

    fake = FakeGitHub().start()
    blobs = {f"assets/blob{i}.bin": os.urandom(1024 * 1024) for i in range(mib)}
    fake.add_repo("tests", PLUGIN, plugin_files(PLUGIN, extra_files=blobs))
    fake.set_registry([registry_entry(fake, PLUGIN)])
    conn.send(fake.store_config())
    with contextlib.suppress(EOFError):  # the parent died: stop as well
        conn.recv()
    fake.stop()


class InstallLoop:
    def __init__(self, store) -> None:  # type: ignore[no-untyped-def]
        self.store = store
        self.stop = threading.Event()
        self.installs: list[float] = []
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, name="install-loop", daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                with c.Stopwatch() as sw:
                    self.store.install(PLUGIN)
                self.installs.append(sw.ms)
                self.store.uninstall(PLUGIN)
            except Exception as exc:  # reported, the bench goes on
                self.errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.2)


def window(stamps: list[float], seconds: float) -> list[float]:
    stamps.clear()
    time.sleep(seconds)
    taken = list(stamps)
    return [(b - a) * 1000 for a, b in itertools.pairwise(taken)]


def main() -> None:
    ap = c.parser(__doc__)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each window")
    ap.add_argument("--mib", type=int, default=8, help="MiB of files in the plugin")
    args = ap.parse_args()
    seconds = 2.0 if args.quick else args.seconds
    print(c.noise_note())
    parent, child = mp.Pipe()
    server = mp.get_context("spawn").Process(target=serve_github, args=(child, args.mib))
    server.start()
    store_block = parent.recv()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        config_path = tmp / "config.yaml"
        config_path.write_text("plugins: {}\n")
        config = parse_config(
            {"device": {"id": "bench"}, "state_dir": str(tmp / "state"), "store": store_block},
            path=str(config_path),
        )
        store = build_store(config, builtin_dir=None)
        display_cfg = DisplayConfig(backend="headless", default_duration=3600)
        controller = DisplayController(
            display_cfg,
            device=DeviceConfig("bench", "Bench", "UTC"),
            state_dir=tmp / "state",
            backend=HeadlessBackend(display_cfg.width, display_cfg.height),
        )
        controller.sync_plugins(
            builtin_specs({"clock": {"enabled": False}, "status": {"enabled": False}})
        )
        controller.set_text("Scrolling text while real installs run in the background " * 2)
        stamps: list[float] = []
        # time every frame the render loop hands to the panel, pushed or not: frames that
        # equal the last one are (rightly) not re-sent, and the scrolling text has a blank
        # stretch between loops, which would otherwise read as a 0.6 s "stall"
        push = controller.frames.push

        def timed_push(image):  # type: ignore[no-untyped-def]
            stamps.append(time.perf_counter())
            return push(image)

        controller.frames.push = timed_push  # type: ignore[method-assign]
        controller.start()
        loop = InstallLoop(store)
        try:
            time.sleep(1.0)
            idle = window(stamps, seconds)
            loop.thread.start()
            time.sleep(0.5)
            busy = window(stamps, seconds)
        finally:
            loop.stop.set()
            loop.thread.join(60)
            controller.stop()
            store.operations.stop()
            store.registry.close()
            parent.send("stop")
            server.join(10)
    print(f"windows of {seconds:.0f} s; plugin ZIP with {args.mib} MiB of random files")
    print(c.summary("frame interval, idle", idle) + f"; {len(idle) / seconds:.1f} fps")
    print(c.summary("frame interval, installing", busy) + f"; {len(busy) / seconds:.1f} fps")
    print(c.summary("install duration", loop.installs) + f"; errors {len(loop.errors)}")
    if loop.errors:
        print(f"  first error: {loop.errors[0]}")
    print(c.noise_note())


if __name__ == "__main__":
    main()
