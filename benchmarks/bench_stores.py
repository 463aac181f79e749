"""The folder store against the PostgreSQL store with many agents at once.

Run by hand: ``python benchmarks/bench_stores.py [--agents 8 32 64] [--points 2000]
[--url postgresql://...]`` (without ``--url`` a throwaway cluster is started, as the tests
do; it needs Debian's postgresql).

1. **Claims**: N worker processes claim and end runs of one grid as fast as they can
   (``claim_next_run`` and an ``end`` event, what an agent does around a run that takes no
   time): claim latency p50/p95 (the lock's wait included) and runs/s, per store.
2. **Real agents**: N ``sweepcli agent`` processes on a grid of ``--points`` points with a
   trivial program: wall time, runs/s, and that each point ran exactly once.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sweepcli.agent.claim import Claim, claim_next_run  # noqa: E402
from sweepcli.config import validate  # noqa: E402
from sweepcli.runs import RunState  # noqa: E402
from sweepcli.store import open_store
from sweepcli.store.events import end_event  # noqa: E402

CLI = [sys.executable, "-m", "sweepcli"]
PROGRAM = ("import json, os\nopen(os.environ['SWEEPCLI_METRICS_FILE'], 'a').write("
           "json.dumps({'loss': 1.0}) + '\\n')\n")


def _worker(root: str, url: str | None, sweep_id: str, out: mp.Queue) -> None:
    import numpy as np

    store = open_store(root, url)
    folder = store.open(sweep_id)
    rng = np.random.default_rng(os.getpid())
    took = []
    while True:
        t0 = time.perf_counter()
        got = claim_next_run(folder, rng, 60.0)
        took.append(time.perf_counter() - t0)
        if not isinstance(got, Claim):
            break
        with folder.lock:
            folder.append(end_event(got.run_id, RunState.FINISHED, 0))
    out.put(took[:-1])


def claims(root: Path, url: str | None, agents: int, points: int) -> tuple[float, float, float]:
    store = open_store(root, url)
    config = validate({"method": "grid", "program": "x.py",
                       "parameters": {"x": {"values": list(range(points))}}})
    sweep_id = store.create(config).sweep_id
    out: mp.Queue = mp.Queue()
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(str(root), url, sweep_id, out))
             for _ in range(agents)]
    start = time.monotonic()
    for p in procs:
        p.start()
    took = []
    for _ in procs:
        took += out.get(timeout=1800)
    for p in procs:
        p.join()
    wall = time.monotonic() - start
    folder = store.open(sweep_id)
    xs = Counter(r.params["x"] for r in folder.refresh().runs.values())
    assert len(xs) == points and set(xs.values()) == {1}, "a point claimed twice or never"
    took.sort()
    return (statistics.median(took) * 1000, took[int(0.95 * (len(took) - 1))] * 1000,
            points / wall)


def real_agents(root: Path, url: str | None, agents: int, points: int) -> tuple[float, int, int]:
    env = {**os.environ, "SWEEPCLI_DIR": str(root)}
    env.pop("SWEEPCLI_STORE", None)
    if url:
        env["SWEEPCLI_STORE"] = url
    (root.parent / "train.py").write_text(PROGRAM)
    config = root.parent / "sweep.yaml"
    config.write_text(f"program: train.py\nmethod: grid\nmetric: {{name: loss}}\nparameters:\n"
                      f"  x: {{values: {list(range(points))}}}\n")
    sweep_id = subprocess.run([*CLI, "sweep", str(config)], env=env, cwd=root.parent, check=True,
                              capture_output=True, text=True).stdout.strip()
    start = time.monotonic()
    procs = [subprocess.Popen([*CLI, "agent", sweep_id], env=env, cwd=root.parent,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(agents)]
    for p in procs:
        p.wait()
    wall = time.monotonic() - start
    folder = open_store(root, url).open(sweep_id)
    xs = Counter(r.params["x"] for r in folder.refresh().runs.values())
    twice = sum(1 for n in xs.values() if n > 1)
    return wall, len(xs), twice


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, nargs="+", default=[8, 32, 64])
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--claim-points", type=int, default=1000)
    ap.add_argument("--url", default=None)
    ap.add_argument("--no-agents", action="store_true", help="claims only")
    args = ap.parse_args()
    cluster = None
    url = args.url
    if url is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.pg import Cluster

        cluster = Cluster()
        url = cluster.url

    def cases(tag: str) -> Iterator[tuple[str, int, Path, str | None]]:
        """(store, agents, a fresh root folder, the database URL or None for the folder)."""
        for kind in ("folder", "postgres"):
            for n in args.agents:
                with tempfile.TemporaryDirectory() as tmp:
                    db = cluster.new_database(f"{tag}{kind}{n}{os.getpid()}") if cluster else url
                    yield kind, n, Path(tmp) / "sweeps", db if kind == "postgres" else None

    try:
        print(f"claims: N processes claim and end {args.claim_points} grid points")
        print(f"{'store':<9} {'agents':>6}  {'claim p50':>9}  {'p95':>8}  {'runs/s':>7}")
        for kind, n, root, db in cases("b"):
            p50, p95, rate = claims(root, db, n, args.claim_points)
            print(f"{kind:<9} {n:>6}  {p50:7.1f} ms  {p95:5.1f} ms  {rate:7.0f}", flush=True)
        if args.no_agents:
            return
        print(f"\nreal agents on a {args.points}-point grid, a trivial program")
        print(f"{'store':<9} {'agents':>6}  {'wall':>7}  {'runs/s':>7}  points run  twice")
        for kind, n, root, db in cases("a"):
            wall, ran, twice = real_agents(root, db, n, args.points)
            print(f"{kind:<9} {n:>6}  {wall:5.1f} s  {args.points / wall:7.1f}  "
                  f"{ran:>10}  {twice:>5}", flush=True)
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
