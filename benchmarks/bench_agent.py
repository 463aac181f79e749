"""Agent overhead per run, claim latency at 10,000 runs, throughput of 8 agents.

Run by hand:  python benchmarks/bench_agent.py [--runs 60] [--claims 10000] [--agents 8]
(SWEEPCLI_LOCK=flock|soft|both picks the lock the agents use; the lock figures try each)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from sweepcli.agent import claim_next_run
from sweepcli.config import validate
from sweepcli.store import Store

TRIVIAL = """
import json, os, sys
path = os.environ.get("SWEEPCLI_METRICS_FILE")
if path:
    with open(path, "a") as f:
        f.write(json.dumps({"loss": 1.0}) + "\\n")
"""
CLI = [sys.executable, "-m", "sweepcli"]


def trivial_grid(tmp: str, points: int) -> tuple[str, dict[str, str]]:
    """A sweep of ``points`` runs of the trivial program in ``tmp``: (its ID, the env)."""
    (Path(tmp) / "trivial.py").write_text(TRIVIAL)
    cfg = {"program": "trivial.py", "method": "grid", "metric": {"name": "loss"},
           "parameters": {"x": {"min": 1, "max": points}}}
    (Path(tmp) / "s.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "SWEEPCLI_DIR": str(Path(tmp) / "sweeps")}
    sid = subprocess.run([*CLI, "sweep", "s.yaml"], cwd=tmp, env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    return sid, env


def overhead(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sid, env = trivial_grid(tmp, n)
        argv = [sys.executable, str(Path(tmp) / "trivial.py"), "--x=1"]
        t0 = time.perf_counter()
        for _ in range(n):
            subprocess.run(argv, check=True)
        bare = (time.perf_counter() - t0) / n
        t0 = time.perf_counter()
        subprocess.run([*CLI, "agent", sid], cwd=tmp, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        total = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run([*CLI, "--help"], check=True, stdout=subprocess.DEVNULL)
        startup = time.perf_counter() - t0
        per_run = (total - startup) / n
        print(f"overhead: bare loop {bare * 1000:.1f} ms/run, agent {per_run * 1000:.1f} ms/run "
              f"(agent start-up {startup * 1000:.0f} ms once) -> {1000 * (per_run - bare):.1f} ms "
              f"per run over {n} runs")


def claim_latency(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = validate({"program": "x.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"a": {"min": 0, "max": 2 * n}, "b": {"values": [1, 2]}}})
        folder = Store(tmp).create(config)
        events = []
        for i in range(n):
            rid = f"{i:08d}"
            events += [{"op": "claim", "run": rid, "params": {"a": i // 2, "b": 1 + i % 2},
                        "grid": i, "retry_of": None, "agent": "bench", "t": 0},
                       {"op": "metric", "run": rid, "values": [float(i)] * 5},
                       {"op": "end", "run": rid, "state": "finished", "exit": 0, "t": 0}]
        with folder.lock:
            folder.backend.journal.append(events)
        rng = np.random.default_rng(0)
        cold = Store(tmp).open(folder.sweep_id)
        t0 = time.perf_counter()
        claim_next_run(cold, rng, 60.0)
        first = time.perf_counter() - t0
        times = []
        for _ in range(50):
            t0 = time.perf_counter()
            got = claim_next_run(cold, rng, 60.0)
            times.append(time.perf_counter() - t0)
            with cold.lock:  # end it so the sweep keeps n ended runs plus a few
                cold.append({"op": "end", "run": got.run_id, "state": "finished", "exit": 0})
        print(f"claim at {n} ended runs: median {1000 * statistics.median(times):.1f} ms, "
              f"p95 {1000 * sorted(times)[int(0.95 * len(times))]:.1f} ms; a new agent's first "
              f"claim (replays the journal) {1000 * first:.0f} ms")


def lock_cost(n: int) -> None:
    """What one take-and-release of the sweep lock costs, for each SWEEPCLI_LOCK kind."""
    from sweepcli.store.lock import SweepLock

    figures = []
    for kind in ("flock", "soft", "both"):
        os.environ["SWEEPCLI_LOCK"] = kind
        with tempfile.TemporaryDirectory() as tmp:
            lock = SweepLock(Path(tmp))
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                with lock:
                    pass
                times.append(time.perf_counter() - t0)
        figures.append(f"{kind} {1e6 * statistics.median(times):.0f} us")
    del os.environ["SWEEPCLI_LOCK"]
    print(f"lock, take and release (median of {n}): " + ", ".join(figures))


def throughput(agents: int, points: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sid, env = trivial_grid(tmp, points)
        t0 = time.perf_counter()
        procs = [subprocess.Popen([*CLI, "agent", sid], cwd=tmp, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(agents)]
        for p in procs:
            p.wait()
        wall = time.perf_counter() - t0
        status = json.loads(subprocess.run([*CLI, "sweep", "--print", sid, "--json"], cwd=tmp,
                                           env=env, check=True, capture_output=True,
                                           text=True).stdout)
        xs = [r["config"]["x"] for r in status["runs"]]
        dups = len(xs) - len(set(xs))
        print(f"throughput: {agents} agents, {len(xs)} runs in {wall:.1f} s = "
              f"{len(xs) / wall:.1f} runs/s; duplicates {dups}; missing {points - len(set(xs))}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--claims", type=int, default=10_000)
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--points", type=int, default=400)
    ap.add_argument("--locks", type=int, default=2000)
    a = ap.parse_args()
    lock_cost(a.locks)
    claim_latency(a.claims)
    overhead(a.runs)
    throughput(a.agents, a.points)
