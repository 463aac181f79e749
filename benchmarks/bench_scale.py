"""What a big sweep costs to join and to look at, at 100, 1,000 and 10,000 runs.

Run by hand: ``python benchmarks/bench_scale.py [--runs 100 1000 10000] [--lines 200]``.

Each sweep is a random sweep whose past is written as sweepcli 025969b's agents wrote it
(a faithful generator: a claim, one metric event per line as lines arrive seconds apart,
an end; and each run's folder): 10,000 runs x 200 lines is a 175 MB journal. Then, as
separate processes (wall time and peak RSS of each, from ``wait4``):

- ``--print --json`` the first time (it replays the whole journal once and writes the
  snapshot), then again (snapshot plus what is new);
- a new agent that runs 5 runs of a trivial program (``agent --count 5``): join time is
  its wall time minus the 5 runs' own;
- claim latency p50/p95 in this process, over 40 claims, after joining.
Counts and the best run are checked against what was generated.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sweepcli.agent.claim import claim_next_run  # noqa: E402
from sweepcli.config import validate  # noqa: E402
from sweepcli.store import Store  # noqa: E402

CONFIG = {"method": "random", "program": "noop.py", "metric": {"name": "loss", "goal": "minimize"},
          "parameters": {"lr": {"min": 0.0001, "max": 0.1}, "bs": {"values": [16, 32, 64, 128]}}}
CLI = [sys.executable, "-m", "sweepcli"]


def generate(root: Path, runs: int, lines: int, seed: int = 0) -> tuple[str, float]:
    """A sweep with ``runs`` ended runs of ``lines`` metric lines each, in 025969b's journal
    format; returns its ID and the best value."""
    rng = random.Random(seed)
    folder = Store(root).create(validate(CONFIG))
    t = time.time() - runs * 60.0
    best = float("inf")
    with open(folder.path / "journal.jsonl", "w") as f:
        for i in range(runs):
            rid = f"r{i:07d}"
            params = {"bs": rng.choice([16, 32, 64, 128]), "lr": rng.uniform(0.0001, 0.1)}
            f.write(json.dumps({"t": round(t, 3), "op": "claim", "run": rid, "params": params,
                                "grid": None, "retry_of": None, "agent": f"node{i % 64}:{1000 + i}"}) + "\n")
            level = rng.uniform(0.5, 3.0)
            for step in range(lines):
                t += 0.01
                value = level / (1 + step) + rng.uniform(0, 0.01)
                best = min(best, value)
                f.write(json.dumps({"t": round(t, 3), "op": "metric", "run": rid,
                                    "values": [value]}) + "\n")
            f.write(json.dumps({"t": round(t, 3), "op": "end", "run": rid, "state": "finished",
                                "exit": 0}) + "\n")
            (folder.path / "runs" / rid).mkdir()
    return folder.sweep_id, best


def timed_rss(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one CLI process (reaped here with wait4,
    which reports its own peak RSS)."""
    start = time.monotonic()
    with open(cwd / "out.txt", "w") as out, open(cwd / "err.txt", "w") as err:
        proc = subprocess.Popen([*CLI, *args], cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed: {(cwd / 'err.txt').read_text()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, (cwd / "out.txt").read_text()


def claims(root: Path, sweep_id: str, n: int = 40) -> tuple[float, float]:
    folder = Store(root).open(sweep_id)
    folder.refresh()
    took = []
    rng = __import__("numpy").random.default_rng(0)
    for _ in range(n):
        start = time.perf_counter()
        claim_next_run(folder, rng, 60.0)
        took.append(time.perf_counter() - start)
    took.sort()
    return statistics.median(took) * 1000, took[int(0.95 * (len(took) - 1))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--lines", type=int, default=200)
    args = ap.parse_args()
    rows = []
    for runs in args.runs:
        tmp = Path(tempfile.mkdtemp(prefix="sweepcli-scale-"))
        try:
            root = tmp / "sweeps"
            sweep_id, best = generate(root, runs, args.lines)
            (tmp / "noop.py").write_text("pass\n")
            env = {**os.environ, "SWEEPCLI_DIR": str(root)}
            size = (root / sweep_id / "journal.jsonl").stat().st_size / 2**20
            first, first_rss, out = timed_rss(["sweep", "--print", sweep_id, "--json"], tmp, env)
            s = json.loads(out)
            assert s["counts"]["finished"] == runs and abs(s["best"]["value"] - best) < 1e-12, s["best"]
            again, again_rss, out = timed_rss(["sweep", "--print", sweep_id, "--json"], tmp, env)
            assert json.loads(out)["best"] == s["best"]
            # the 5 runs' own time: the same agent on a fresh sweep with no past
            empty = Store(root).create(validate(CONFIG)).sweep_id
            bare, _, _ = timed_rss(["agent", empty, "--count", "5"], tmp, env)
            agent, agent_rss, _ = timed_rss(["agent", sweep_id, "--count", "5"], tmp, env)
            p50, p95 = claims(root, sweep_id)
            rows.append((runs, size, first, first_rss, again, again_rss, agent, agent - bare,
                         agent_rss, p50, p95))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'runs':>6} {'journal':>8} {'1st print':>10} {'RSS':>7} {'--print':>8} {'RSS':>7} "
          f"{'agent 5 runs':>12} {'join':>6} {'RSS':>7} {'claim p50':>9} {'p95':>7}")
    for r in rows:
        print(f"{r[0]:>6} {r[1]:>6.0f}MB {r[2]:>9.2f}s {r[3]:>5.0f}MB {r[4]:>7.2f}s {r[5]:>5.0f}MB "
              f"{r[6]:>11.2f}s {r[7]:>5.2f}s {r[8]:>5.0f}MB {r[9]:>7.1f}ms {r[10]:>5.1f}ms")


if __name__ == "__main__":
    main()
