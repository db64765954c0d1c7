"""Benchmark store browse: cold and warm ``RegistryClient.search`` (a component benchmark).

The store's registry client alone, no MQTT; ``bench/service_table.py`` measures
the browse end to end through the real service. Starts FakeGitHub with 50
registry entries, 150 ms injected latency on every GitHub API call and two
entries whose API calls stall for 5 s, then measures:

* cold search with the stalls (fresh client each run; answers at the deadline),
* the search right after it on the same client, and (as the CLI) the next run in a
  new process on the same state dir (a stalled entry must not cost the deadline
  twice in a row),
* cold search without the stalls (time to enrich all 50),
* warm search (everything cached),

first as the CLI searches (no enrichment listener: it waits for enrichment up to the
deadline), then as the running service does (a listener is set: the answer comes from
the registry at once, ``enrich`` starts the lookups as the service does once it has
answered, and the listener hears when the enrichment has landed).

Prints median and p99 latency and HTTP requests per search (for the service's cold
search: the requests by the time the enrichment landed, and that time as ``landed``).

Run: ``.venv/bin/python bench/store_browse.py [--runs N] [--quick]`` (about 40 s on defaults).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _common as c

from ledmatrix_mqtt.core.config_model import GithubConfig, StoreConfig
from ledmatrix_mqtt.store.layout import StateLayout
from ledmatrix_mqtt.store.registry_client import RegistryClient, make_http_client
from tests.support.fake_github import FakeGitHub
from tests.support.plugin_factory import plugin_files, registry_entry

ENTRIES = 50
LATENCY = 0.150
STALL = 5.0
STALLED = ("p07", "p33")


@dataclasses.dataclass
class Sample:
    seconds: float
    requests: int
    complete: bool = True
    landed: float = 0.0  # service mode: seconds until the enrichment listener was called


DEADLINE = StoreConfig().search_deadline  # the service's default


def store_config(fake: FakeGitHub, deadline: float = DEADLINE) -> StoreConfig:
    github = GithubConfig(fake.web_url, fake.api_url, fake.raw_url, fake.archive_url)
    return StoreConfig(registry_url=fake.registry_url, github=github, search_deadline=deadline)


def start_fake(*, stalls: bool) -> FakeGitHub:
    fake = FakeGitHub().start()
    ids = [f"p{i:02d}" for i in range(ENTRIES)]
    for plugin_id in ids:
        fake.add_repo("tests", plugin_id, plugin_files(plugin_id))
    fake.set_registry([registry_entry(fake, plugin_id) for plugin_id in ids])
    fake.add_fault(r"^/api/", "latency", LATENCY)
    if stalls:
        for plugin_id in STALLED:
            fake.add_fault(rf"^/api/repos/tests/{plugin_id}(/|$)", "stall", STALL)
    return fake


def new_client(cfg: StoreConfig, listen: bool) -> tuple[RegistryClient, threading.Event]:
    client = RegistryClient(make_http_client(cfg), cfg)
    landed = threading.Event()
    if listen:
        client.set_enrichment_listener(landed.set)
    return client, landed


def cold_search(fake: FakeGitHub, deadline: float = DEADLINE, listen: bool = False) -> Sample:
    cfg = store_config(fake, deadline)
    client, landed = new_client(cfg, listen)
    try:
        started = time.perf_counter()
        result = client.search()
        elapsed = time.perf_counter() - started
        if listen:  # the service starts the lookups once the answer is sent
            client.enrich(e.entry for e in result.entries)
        if listen and not landed.wait(STALL * 4):
            raise RuntimeError("the enrichment never landed")
        landed_at = time.perf_counter() - started if listen else 0.0
        return Sample(elapsed, client._http.request_count, result.complete, landed_at)
    finally:
        client.close()


def warm_searches(fake: FakeGitHub, runs: int, listen: bool = False) -> list[Sample]:
    cfg = store_config(fake)
    client, _landed = new_client(cfg, listen)
    try:
        client.search(deadline=60)  # waits for every lookup: then all is cached
        samples = []
        for _ in range(runs):
            before = client._http.request_count
            started = time.perf_counter()
            result = client.search()
            elapsed = time.perf_counter() - started
            samples.append(Sample(elapsed, client._http.request_count - before, result.complete))
        return samples
    finally:
        client.close()


def search_twice(fake: FakeGitHub, deadline: float, listen: bool = False) -> Sample:
    """A cold search (which hits the stalls), then the measured one right after it."""
    cfg = store_config(fake, deadline)
    client, _landed = new_client(cfg, listen)
    try:
        first = client.search()
        if listen:
            client.enrich(e.entry for e in first.entries)
        before = client._http.request_count
        started = time.perf_counter()
        result = client.search()
        if listen:
            client.enrich(e.entry for e in result.entries)
        elapsed = time.perf_counter() - started
        return Sample(elapsed, client._http.request_count - before, result.complete)
    finally:
        client.close()


def next_cli_run(fake: FakeGitHub, deadline: float) -> Sample:
    """A CLI run that hits the stalls, then the measured next run (a new process: a new
    client on the same state dir, which reads the first one's GitHub info from disk)."""
    cfg = store_config(fake, deadline)
    with tempfile.TemporaryDirectory() as tmp:
        layout = StateLayout(Path(tmp))
        layout.ensure()
        first = RegistryClient(make_http_client(cfg), cfg, layout)
        first.search()
        first.close()
        client = RegistryClient(make_http_client(cfg), cfg, layout)
        try:
            started = time.perf_counter()
            result = client.search()
            elapsed = time.perf_counter() - started
            return Sample(elapsed, client._http.request_count, result.complete)
        finally:
            client.close()


def measure(name: str, runs: int, once: Callable[[], Sample]) -> list[Sample]:
    samples = []
    for _ in range(runs):
        samples.append(once())
    report(name, samples)
    return samples


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def report(name: str, samples: list[Sample]) -> None:
    secs = [s.seconds for s in samples]
    reqs = [s.requests for s in samples]
    incomplete = sum(not s.complete for s in samples)
    landed = [s.landed for s in samples if s.landed]
    tail = f"  landed={statistics.median(landed) * 1000:6.0f} ms" if landed else ""
    print(
        f"{name:<34} runs={len(samples):<4} median={statistics.median(secs) * 1000:8.1f} ms"
        f"  p99={p99(secs) * 1000:8.1f} ms  requests/search={statistics.median(reqs):5.0f}"
        f"  incomplete={incomplete}{tail}",
        flush=True,
    )


def main() -> None:
    parser = c.parser(__doc__)
    parser.add_argument("--runs", type=int, default=5, help="cold runs (warm: 20x)")
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    stalled_deadline = 1.0 if args.quick else DEADLINE  # --quick: shorter waits
    print(
        f"{ENTRIES} entries, {LATENCY * 1000:.0f} ms API latency, "
        f"deadline {stalled_deadline:.1f} s with stalls, {DEADLINE:.1f} s without"
    )
    for listen in (False, True):
        print("== as the service searches (listener set) ==" if listen else "== as the CLI ==")
        run_all(args.runs, args.quick, stalled_deadline, listen)


def run_all(runs: int, quick: bool, stalled_deadline: float, listen: bool) -> None:
    fake = start_fake(stalls=True)
    try:
        print(f"-- with {len(STALLED)} entries stalled {STALL:.0f} s --")
        measure(
            "cold search (stalls)",
            runs,
            lambda: cold_search(fake, stalled_deadline, listen),
        )
        if not quick:  # waits for the stalled entries once (5 s)
            report("warm search (stalls)", warm_searches(fake, runs * 20, listen))
        measure(
            "search right after a stalled one",
            runs,
            lambda: search_twice(fake, stalled_deadline, listen),
        )
        if not listen:  # each `plugins search` is a new process
            measure(
                "next CLI run after a stalled one",
                runs,
                lambda: next_cli_run(fake, stalled_deadline),
            )
    finally:
        fake.stop()
    fake = start_fake(stalls=False)
    try:
        print("-- no stalls --")
        measure("cold search", runs, lambda: cold_search(fake, listen=listen))
        report("warm search", warm_searches(fake, runs * 20, listen))
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
