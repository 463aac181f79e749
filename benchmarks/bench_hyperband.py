"""Hyperband on synthetic learning curves: epochs saved, best found, reaction time.

Run by hand:  python benchmarks/bench_hyperband.py [--epoch-seconds 0.1]
30 configs (floor x rate), 27 epochs each, two agents in parallel. The program notes
the time of every metric line and the time SIGTERM reaches it, so the reaction time is
measured from the deciding line to the signal.
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

import yaml

PROGRAM = r"""
import json, os, signal, sys, time, sweepcli
times = open(os.path.join(os.environ["SWEEPCLI_RUN_DIR"], "times.jsonl"), "a")
def on_term(signum, frame):
    times.write(json.dumps({"sigterm": time.time()}) + "\n"); times.flush()
    sys.exit(143)
signal.signal(signal.SIGTERM, on_term)
run = sweepcli.init()
c = run.config
for epoch in range(27):
    time.sleep(float(os.environ["EPOCH_SECONDS"]))
    loss = c.floor + (3.0 - c.floor) * (0.8 ** (c.rate * (epoch + 1)))
    run.log({"loss": loss, "epoch": epoch})
    times.write(json.dumps({"line": time.time()}) + "\n"); times.flush()
"""

FLOORS = [0.1, 0.2, 0.35, 0.5, 0.7, 0.9, 1.1, 1.3, 1.6, 2.0]
RATES = [0.5, 1.0, 2.0]


def final_loss(floor: float, rate: float) -> float:
    return floor + (3.0 - floor) * (0.8 ** (rate * 27))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epoch-seconds", type=float, default=0.1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "train.py").write_text(PROGRAM)
        config = {"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                  "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 3},
                  "parameters": {"floor": {"values": FLOORS}, "rate": {"values": RATES}}}
        (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(config))
        env = {**os.environ, "SWEEPCLI_DIR": str(tmp_path / "sweeps"),
               "EPOCH_SECONDS": str(args.epoch_seconds)}
        cli = [sys.executable, "-m", "sweepcli"]
        sweep_id = subprocess.run([*cli, "sweep", "sweep.yaml"], cwd=tmp, env=env, check=True,
                                  capture_output=True, text=True).stdout.strip()
        t0 = time.time()
        agents = [subprocess.Popen([*cli, "agent", sweep_id], cwd=tmp, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                  for _ in range(2)]
        for a in agents:
            a.wait()
        wall = time.time() - t0
        status = json.loads(subprocess.run([*cli, "sweep", "--print", sweep_id, "--json"],
                                           cwd=tmp, env=env, check=True, capture_output=True,
                                           text=True).stdout)
        runs = status["runs"]
        epochs = sum(r["steps"] for r in runs)
        full = 27 * len(runs)
        reactions = []
        for r in runs:
            if r["state"] != "stopped":
                continue
            lines = [json.loads(x) for x in
                     (tmp_path / "sweeps" / sweep_id / "runs" / r["run_id"] / "times.jsonl")
                     .read_text().splitlines()]
            term = [x["sigterm"] for x in lines if "sigterm" in x]
            last = [x["line"] for x in lines if "line" in x]
            if term and last:
                reactions.append(term[0] - last[-1])
        true_best = min(final_loss(f, r) for f in FLOORS for r in RATES)
        found = status["best"]["value"]
        print(f"runs: {len(runs)}  stopped: {status['counts']['stopped']}  "
              f"finished: {status['counts']['finished']}  wall: {wall:.1f} s")
        print(f"epochs run: {epochs} of {full}  saved: {100 * (1 - epochs / full):.1f}%")
        print(f"best found: {found:.4f}  true best: {true_best:.4f}  "
              f"gap: {100 * (found - true_best) / true_best:.2f}%")
        if reactions:
            print(f"reaction (deciding line -> SIGTERM): median {statistics.median(reactions):.3f} s"
                  f"  max {max(reactions):.3f} s  over {len(reactions)} stops")
        wrong = [r for r in runs if r["state"] == "stopped"
                 and abs(final_loss(r["config"]["floor"], r["config"]["rate"]) - true_best) < 1e-9]
        print(f"best config stopped wrongly: {bool(wrong)}")


if __name__ == "__main__":
    main()
