"""The best model for a fixed budget of epochs, on LCBench (YAHPO Gym's surrogate):
real ``sweepcli agent`` processes against Optuna, YAHPO's protocol.

Run by hand (needs ``pip install -e '.[bench]'``: onnxruntime, optuna)::

    python benchmarks/bench_lcbench.py [--tasks 146212 ...] [--seeds 1 2] [--agents 8]
        [--pace 0.1] [--rules none hyperband asha median] [--optuna-seeds 5]

Each sweep is bayes over LCBench's 7 hyperparameters, ``sweepcli: budget: {steps: 6544}``
(YAHPO's budget: about 126 runs of 52 epochs), maximising ``val_accuracy``; ``--agents``
real agents run ``lcbench_train.py``, which trains one epoch per ``--pace`` seconds, keeps
a checkpoint in its run folder, resumes from it when told to, and writes every epoch it
trains to a ledger. The score of a sweep is the best val_accuracy at epoch 52 among the
runs that reached it (the budget's last runs are cut). The peers: Optuna (one worker, the
same 6,544 epochs, pruned trials paying the epochs they ran): random, TPE, TPE + median,
TPE + successive halving, TPE + hyperband, random + hyperband.

Prints each sweep's score, runs, epochs re-trained (from the ledger: a (run, epoch) paid
twice) and anything left running; then the table of medians over seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from lcbench import BUDGET, DEV_TASKS, EPOCHS, model_dir, sweep_config  # noqa: E402

CLI = [sys.executable, "-m", "sweepcli"]
RULES: dict[str, dict[str, Any] | None] = {
    "none": None,
    "hyperband": {"type": "hyperband", "min_iter": 1, "eta": 3},
    "asha": {"type": "asha"},
    "median": {"type": "median"},
    "asha-stop": {"type": "asha", "promote": False},
}
PEERS = ("random", "tpe", "tpe+median", "tpe+sh", "tpe+hyperband", "random+hyperband")


def sweepcli_run(task: str, rule: str, seed: int, agents: int, pace: float,
                 keep: bool = False) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="sweepcli-lcb-"))
    try:
        raw = sweep_config("bayes", RULES[rule], {"seed": seed})
        raw["command"] = ["${env}", sys.executable, str(HERE / "lcbench_train.py"), "${args}"]
        (tmp / "sweep.yaml").write_text(yaml.safe_dump(raw))
        ledger = tmp / "ledger.jsonl"
        env = {**os.environ, "SWEEPCLI_DIR": str(tmp / "sweeps"), "PYTHONUNBUFFERED": "1",
               "LCBENCH_TASK": task, "LCBENCH_PACE": str(pace), "LCBENCH_LEDGER": str(ledger),
               "LCBENCH_DIR": str(model_dir())}
        sweep_id = subprocess.run([*CLI, "sweep", "sweep.yaml"], cwd=tmp, env=env, check=True,
                                  capture_output=True, text=True).stdout.strip()
        started = time.monotonic()
        logs = [open(tmp / f"agent{i}.log", "w") for i in range(agents)]
        procs = [subprocess.Popen([*CLI, "agent", sweep_id], cwd=tmp, env=env, stdout=log,
                                  stderr=subprocess.STDOUT) for log in logs]
        codes = [p.wait(timeout=7200) for p in procs]
        seconds = time.monotonic() - started
        s = json.loads(subprocess.run([*CLI, "sweep", "--print", sweep_id, "--json"], cwd=tmp,
                                      env=env, check=True, capture_output=True, text=True).stdout)
        import sweepcli

        api = sweepcli.Api(dir=str(tmp / "sweeps")).sweep(sweep_id)
        finals = []
        for run in api.runs:
            for row in run.history():
                if row.get("epoch") == EPOCHS and "val_accuracy" in row:
                    finals.append(row["val_accuracy"])
        paid = Counter()
        for line in ledger.read_text().splitlines() if ledger.exists() else []:
            e = json.loads(line)
            paid[(e["run"], e["epoch"])] += 1
        tracebacks = sum("Traceback" in (tmp / f"agent{i}.log").read_text() for i in range(agents))
        left = [r for r in s["runs"] if r["state"] in ("running", "paused") and not r["reason"]]
        points = Counter(json.dumps(r["config"], sort_keys=True) for r in s["runs"])
        return {"best52": max(finals) if finals else float("nan"), "runs": len(s["runs"]),
                "epochs": sum(paid.values()), "retrained": sum(n - 1 for n in paid.values()),
                "paused": s["counts"].get("paused", 0), "left": len(left),
                "duplicates": sum(n - 1 for n in points.values()), "tracebacks": tracebacks,
                "exit": sorted(set(codes)), "seconds": seconds, "budget": s["budget"]}
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def optuna_run(task: str, peer: str, seed: int) -> float:
    """One Optuna study (one worker) within the same budget of epochs: the best
    val_accuracy at epoch 52 among the trials that reached it (``peers_lcbench.py``)."""
    from peers_lcbench import optuna_run as run

    return run(task, seed, peer).best_final


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", default=list(DEV_TASKS[:3]))
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--pace", type=float, default=0.1)
    ap.add_argument("--rules", nargs="+", default=["none", "hyperband", "asha", "median"],
                    choices=list(RULES))
    ap.add_argument("--optuna-seeds", type=int, default=5)
    ap.add_argument("--peers", nargs="*", default=list(PEERS), choices=list(PEERS))
    ap.add_argument("--keep", action="store_true", help="keep each sweep's folder")
    args = ap.parse_args()
    table: dict[str, list[float]] = {}
    for rule in args.rules:
        row = []
        for task in args.tasks:
            got = [sweepcli_run(task, rule, s, args.agents, args.pace, args.keep)
                   for s in args.seeds]
            for seed, g in zip(args.seeds, got):
                print(f"  sweepcli bayes+{rule} task {task} seed {seed}: {g['best52']:.2f}  "
                      f"runs {g['runs']}, epochs {g['epochs']} ({g['retrained']} re-trained), "
                      f"paused at the end {g['paused']}, left without a reason {g['left']}, "
                      f"duplicate points {g['duplicates']}, tracebacks {g['tracebacks']}, "
                      f"exit {g['exit']}, {g['seconds']:.0f} s", flush=True)
            row.append(statistics.median(g["best52"] for g in got))
        table[f"bayes + {rule}"] = row
    for peer in args.peers:
        row = []
        for task in args.tasks:
            got = [optuna_run(task, peer, s) for s in range(1, args.optuna_seeds + 1)]
            print(f"  optuna {peer} task {task}: " + " ".join(f"{g:.2f}" for g in got), flush=True)
            row.append(statistics.median(got))
        table[f"optuna {peer}"] = row
    print(f"\nmedian best val_accuracy at epoch {EPOCHS} within {BUDGET} epochs "
          f"({args.agents} agents, pace {args.pace} s, seeds {args.seeds}; "
          f"Optuna one worker, {args.optuna_seeds} seeds)")
    print(f"{'':28s}" + "".join(f"{t:>9s}" for t in args.tasks))
    for name, row in table.items():
        print(f"{name:28s}" + "".join(f"{v:9.2f}" for v in row))


if __name__ == "__main__":
    main()
