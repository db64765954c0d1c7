"""The real service against issue 12's targets, behind a stock broker and a tuned one.

Every figure comes from ``ledmatrix-mqtt --config X run`` as a child process
(headless display backend, real store, real plugins installed on disk: copies of
the built-ins and of the LEDMatrix-style plugins in tests/support, with the
installer's source marker), against a mosquitto of ours, once stock and once with
``set_tcp_nodelay true``, and a FakeGitHub registry in this process. Workloads:

* ``startup``: Popen to the live ``online`` with 50 installed, enabled plugins
  (a warm-up start first; then every start checks that all 50 report ``loaded``).
* ``list``: ``cmd/list`` round trips with 200 installed plugins, interleaved in
  blocks with a bare paho echo (a separate process, same CPU limit) through the
  same broker; both are request -> broker -> responder -> broker -> probe.
* ``browse``: ``cmd/search {"refresh": true}`` of 50 entries on a fresh state dir
  (no cache) with 150 ms latency on every registry/GitHub request, then a warm
  ``search``; HTTP requests counted per browse.
* ``rss``: resident memory with 10 plugins loaded, after a settle time: at the first
  start on a fresh state dir, and after a restart that keeps the state dir.
* ``idle``: CPU of the whole service process with only the built-in clock (HH:MM,
  a frame a minute) enabled, over a window.

``--pi`` runs the service (and the echo) under 25 % of one core pinned to one core
(see _pi.py). The mosquitto, FakeGitHub and the probe run unthrottled.

    .venv/bin/python bench/service_table.py [--pi] [--quick] [--only list,startup]
"""

from __future__ import annotations

import json
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import _common as c  # first: puts the repo on sys.path
import psutil
from _pi import CpuLimit
from _service import (
    ECHO_REQUEST,
    ECHO_RESPONSE,
    ROOT,
    EchoProcess,
    Probe,
    broker_label,
    cpu_seconds,
    populate,
    start_broker,
    start_service,
    stop_service,
    wait_quiet,
    write_config,
)

from tests.support.fake_github import FakeGitHub
from tests.support.mosquitto import MosquittoBroker
from tests.support.processes import schema_workers

MIB = 1024 * 1024
LATENCY_S = 0.150
REPUBLISH_WINDOW_S = 3.0


@dataclass(frozen=True)
class Settings:
    quick: bool
    limit: CpuLimit | None
    tmp: Path

    @property
    def n_list(self) -> int:
        return 40 if self.quick else 500

    def plugins(self, full: int) -> int:
        """The issue's plugin count, or a tenth of it for a ``--quick`` smoke run."""
        return max(5, full // 10) if self.quick else full

    @property
    def runs(self) -> int:
        return 1 if self.quick else 7

    @property
    def settle_s(self) -> float:
        return 0.5 if self.quick else 10.0

    @property
    def window_s(self) -> float:
        return 2.0 if self.quick else 30.0

    @property
    def republish_window_s(self) -> float:
        return 1.5 if self.quick else REPUBLISH_WINDOW_S


@dataclass(frozen=True)
class Row:
    label: str
    cell: str
    ok: bool | None  # None: no target, only reported
    target: str = ""


# -- helpers ------------------------------------------------------------------------------
def fmt(values: Sequence[float], unit: str = "ms", digits: int = 1) -> str:
    med, p99 = statistics.median(values), c.percentile(values, 99)
    return f"p50 {med:.{digits}f} / p99 {p99:.{digits}f} {unit} (n={len(values)})"


def fresh(s: Settings, name: str) -> Path:
    folder = s.tmp / name
    shutil.rmtree(folder, ignore_errors=True)
    return folder


# -- workloads ------------------------------------------------------------------------------
def startup(broker: MosquittoBroker, fake: FakeGitHub, s: Settings) -> list[Row]:
    folder = fresh(s, "startup")
    ids = populate(folder / "state", s.plugins(50), fake)
    config = write_config(folder, broker, fake, ids)
    builtins = 3
    times = []
    per_topic: list[float] = []
    for run in range(s.runs + 1):  # run 0: warm-up (first reconcile, config blocks, file cache)
        counter = Probe(broker, ["homeassistant/#", f"{ROOT}/state/plugins/#"])
        service, probe, online_ms = start_service(config, broker, s.limit, len(ids) + builtins)
        time.sleep(s.republish_window_s)  # an observation window, not a wait for a condition
        counts = counter.counts()
        counter.close()
        stop_service(service, probe)
        if run:
            times.append(online_ms)
            per_topic.append(sum(counts.values()) / max(1, len(counts)))
    med = statistics.median(times)
    n = len(ids)
    return [
        Row(f"start-up to `online`, {n} plugins", fmt(times, digits=0), med < 1500,
            "< 1.5 s under the --pi quota"),
        Row(f"restart: discovery/plugin-state messages per topic in {s.republish_window_s:.1f} s",
            f"{statistics.median(per_topic):.2f} (n={len(per_topic)})",
            max(per_topic) < 1.05, "1.0 (no double republish)"),
    ]  # fmt: skip


def list_latency(broker: MosquittoBroker, fake: FakeGitHub, s: Settings) -> list[Row]:
    folder = fresh(s, "list")
    ids = populate(folder / "state", s.plugins(200), fake)
    config = write_config(folder, broker, fake, ids)
    service, probe, _ = start_service(config, broker, s.limit, len(ids) + 3)
    probe.wait_first(f"{ROOT}/state/reconcile", 60)
    wait_quiet(fake)  # the start-up reconcile is over: only `list` is measured
    echo = EchoProcess(broker, s.limit)
    lister = Probe(broker, [f"{ROOT}/response/list", ECHO_RESPONSE])
    try:
        cmd, resp = f"{ROOT}/cmd/list", f"{ROOT}/response/list"
        for _ in range(10):  # warm-up of both paths
            lister.roundtrip(cmd, resp, b"{}")
            lister.roundtrip(ECHO_REQUEST, ECHO_RESPONSE, b"{}")
        lists: list[float] = []
        echoes: list[float] = []
        block = 20
        while len(lists) < s.n_list:  # interleaved blocks: both see the same machine noise
            echoes += [lister.roundtrip(ECHO_REQUEST, ECHO_RESPONSE, b"{}") for _ in range(block)]
            lists += [lister.roundtrip(cmd, resp, b"{}") for _ in range(block)]
        answer = json.loads(lister.last_payload[resp])
        if answer.get("status") != "ok" or len(answer["data"]["plugins"]) != len(ids) + 3:
            raise RuntimeError(f"unexpected list answer: {str(answer)[:300]}")
    finally:
        lister.close()
        echo.stop()
        stop_service(service, probe)
    gap = statistics.median(lists) - statistics.median(echoes)
    return [
        Row("bare paho echo through the broker (floor)", fmt(echoes, digits=2), None),
        Row(f"`list` round trip, {len(ids)} installed plugins", fmt(lists, digits=2),
            c.percentile(lists, 99) < 3.0, "p99 < 3 ms"),
        Row("`list` p50 minus echo p50", f"{gap:+.2f} ms", gap <= 0.5, "<= 0.5 ms"),
    ]  # fmt: skip


def wait_enriched(probe: Probe, topic: str, since: float, timeout: float = 60) -> float:
    """ms from ``since`` until a live ``topic`` (``state/store``) shows every entry enriched."""
    deadline = time.monotonic() + timeout
    while True:
        data = json.loads(probe.last_payload.get(topic, b"{}") or b"{}")
        entries = data.get("entries", [])
        if entries and all(e.get("enriched") for e in entries):
            return (time.perf_counter() - since) * 1000
        probe.wait_count(topic, probe.count(topic) + 1, max(0.1, deadline - time.monotonic()))


def browse(broker: MosquittoBroker, fake: FakeGitHub, s: Settings) -> list[Row]:
    folder = fresh(s, "browse")
    ids = populate(folder / "state", s.plugins(50), fake)
    config = write_config(folder, broker, fake, [], disabled=ids)
    fake.add_fault(r"^/", "latency", LATENCY_S)
    cold: list[float] = []
    landed: list[float] = []
    cold_requests: list[int] = []
    warm: list[float] = []
    warm_requests: list[int] = []
    complete = True
    cmd, resp, store = f"{ROOT}/cmd/search", f"{ROOT}/response/search", f"{ROOT}/state/store"
    try:
        for _ in range(s.runs):
            shutil.rmtree(folder / "state" / "cache", ignore_errors=True)  # nothing cached
            service, probe, _ = start_service(config, broker, s.limit, 3)
            asker = Probe(broker, [resp, store])
            try:
                probe.wait_first(f"{ROOT}/state/reconcile", 60)  # start-up reconcile is done
                wait_quiet(fake)
                before = len(fake.requests())
                sent = time.perf_counter()
                cold.append(asker.roundtrip(cmd, resp, b'{"refresh": true}'))
                answer = json.loads(asker.last_payload[resp])
                if len(answer["data"]["entries"]) != len(ids):
                    raise RuntimeError(f"browse answered {str(answer)[:300]}")
                landed.append(wait_enriched(asker, store, sent))  # on retained state/store
                wait_quiet(fake)  # background enrichment has landed
                cold_requests.append(len(fake.requests()) - before)  # answer + enrichment
                before = len(fake.requests())
                warm.append(asker.roundtrip(cmd, resp, b"{}"))
                warm_requests.append(len(fake.requests()) - before)
                complete &= bool(json.loads(asker.last_payload[resp])["data"]["complete"])
            finally:
                asker.close()
                stop_service(service, probe)
    finally:
        fake.clear_faults()
    target = 2 * LATENCY_S * 1000  # "about one registry round trip"
    reqs = f"{min(cold_requests)}-{max(cold_requests)} HTTP requests with enrichment"
    return [
        Row(f"cold browse, {len(ids)} entries, 150 ms latency", f"{fmt(cold, digits=0)}, {reqs}",
            statistics.median(cold) < target and max(cold_requests) <= len(ids) + 1,
            "~1 round trip (< 300 ms), <= 1 request/entry + registry"),
        Row("cold browse: enrichment on `state/store`", fmt(landed, digits=0), None),
        Row("warm browse", f"{fmt(warm, digits=1)}, {max(warm_requests)} requests"
            + ("" if complete else ", incomplete"), max(warm_requests) == 0, "0 requests"),
    ]  # fmt: skip


def rss(broker: MosquittoBroker, fake: FakeGitHub, s: Settings) -> list[Row]:
    """RSS at the first start on a fresh state dir, then after a restart that keeps it
    (what an appliance does on every later boot: registry copy and checks on disk).
    The schema worker (a child that checks settings, ended a minute after its last
    check) is reported on its own row: it is gone once the checks stop coming."""
    folder = fresh(s, "rss")
    ids = populate(folder / "state", 10, fake)  # small already: the same in --quick
    config = write_config(folder, broker, fake, ids)
    rows = []
    for label in ("first start", "restart, state kept"):
        samples, worker = rss_samples(config, broker, s, len(ids) + 3)
        med = statistics.median(samples)
        rows.append(Row(f"RSS, {len(ids)} plugins loaded, {label}", fmt(samples, "MiB"),
                        med < 40, "< 40 MiB"))  # fmt: skip
        cell = fmt(worker, "MiB") if any(worker) else "not running"
        rows.append(Row(f"  schema worker beside it, {label}", cell, None))
    return rows


def rss_samples(
    config: Path, broker: MosquittoBroker, s: Settings, expect: int
) -> tuple[list[float], list[float]]:
    """Resident MiB of the service, and of its schema worker (0 while there is none),
    every 0.25 s over the window, after the settle time."""
    service, probe, _ = start_service(config, broker, s.limit, expect)
    try:
        time.sleep(s.settle_s)  # first updates, rotation, frame publishing settle
        proc = psutil.Process(service.pid)
        samples, worker = [], []
        end = time.monotonic() + s.window_s
        while time.monotonic() < end:
            samples.append(proc.memory_info().rss / MIB)
            worker.append(sum(k.memory_info().rss for k in schema_workers(service.pid)) / MIB)
            time.sleep(0.25)
    finally:
        stop_service(service, probe)
    return samples, worker


def idle(broker: MosquittoBroker, fake: FakeGitHub, s: Settings) -> list[Row]:
    folder = fresh(s, "idle")
    fake.set_registry([])
    config = write_config(folder, broker, fake, ["clock"], disabled=["text", "status"])
    service, probe, _ = start_service(config, broker, s.limit, 1)
    windows = []
    frames = 0
    try:
        time.sleep(s.settle_s)
        step = min(5.0, s.window_s)
        frames = probe.count(f"{ROOT}/display/frame")
        end = time.monotonic() + s.window_s
        while time.monotonic() < end:
            t0, w0 = cpu_seconds(service.pid), time.monotonic()
            time.sleep(step)
            windows.append(100 * (cpu_seconds(service.pid) - t0) / (time.monotonic() - w0))
        frames = probe.count(f"{ROOT}/display/frame") - frames
    finally:
        stop_service(service, probe)
    overall = statistics.mean(windows)
    cell = f"{overall:.2f} % of a core (windows of {step:.0f} s: {fmt(windows, '%', 2)})"
    return [
        Row("idle CPU, whole service, static clock", cell, overall < 0.3, "< 0.3 % of a core"),
        Row("frames published in the idle window", f"{frames}", None),
    ]


WORKLOADS: dict[str, Callable[[MosquittoBroker, FakeGitHub, Settings], list[Row]]] = {
    "list": list_latency,
    "browse": browse,
    "startup": startup,
    "rss": rss,
    "idle": idle,
}


# -- output -------------------------------------------------------------------------------------
def header(limit: CpuLimit | None) -> list[str]:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
         if ln.startswith("model name")), platform.processor() or "?",
    )  # fmt: skip
    try:
        mosq = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout
        mosq = mosq.splitlines()[0].strip()
    except (OSError, IndexError):
        mosq = "mosquitto ?"
    mode = f"--pi: service under {limit.describe()}" if limit else "unthrottled"
    return [
        f"# machine: {cpu}, {psutil.cpu_count()} cores, {platform.system()} {platform.release()}",
        f"# Python {platform.python_version()}, {mosq}",
        f"# mode: {mode}",
        f"# {c.noise_note()}",
    ]


def table(results: dict[str, dict[bool, list[Row]]], brokers: Sequence[bool]) -> list[str]:
    cols = [broker_label(b) for b in brokers]
    lines = ["| workload | " + " | ".join(cols) + " | target |", "|---" * (len(cols) + 2) + "|"]
    for per_broker in results.values():
        first = per_broker[brokers[0]]
        for i, row in enumerate(first):
            cells = []
            for b in brokers:
                r = per_broker[b][i]
                mark = "" if r.ok is None else (" ✓" if r.ok else " ✗")
                cells.append(r.cell + mark)
            lines.append(f"| {row.label} | " + " | ".join(cells) + f" | {row.target} |")
    return lines


def main() -> None:
    ap = c.parser(__doc__)
    ap.add_argument("--pi", action="store_true", help="service under 25 %% of one core")
    ap.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    ap.add_argument("--brokers", default="stock,nodelay", help="stock, nodelay or both")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(WORKLOADS)
    if unknown:
        ap.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    brokers = [b == "nodelay" for b in args.brokers.split(",")]
    limit = CpuLimit.choose() if args.pi else None
    print("\n".join(header(limit)), flush=True)
    results: dict[str, dict[bool, list[Row]]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        s = Settings(args.quick, limit, tmp)
        fake = FakeGitHub().start()
        started = {b: start_broker(tmp / f"broker-{b}", nodelay=b) for b in brokers}
        try:
            for name in names:  # workload-major: both brokers measured close in time
                results[name] = {}
                for b in brokers:
                    t0 = time.monotonic()
                    results[name][b] = WORKLOADS[name](started[b], fake, s)
                    print(
                        f"# {name} / {broker_label(b)}: {time.monotonic() - t0:.0f} s", flush=True
                    )
        finally:
            for broker in started.values():
                broker.stop()
            fake.stop()
            if limit is not None:
                limit.close()
    print()
    print("\n".join(table(results, brokers)))
    print(f"# after: {c.noise_note()}")


if __name__ == "__main__":
    main()
