"""Bayes with 1, 4 and 8 agents at once, real agents and processes, beside the peers.

Run by hand:
    pip install optuna torch   # the peers (not dependencies of sweepcli)
    python benchmarks/bench_bayes_parallel.py [--agents 1 4 8] [--seeds 5] [--trials 40]
        [--first-seed 1] [--seconds 0.4] [--cases branin hartmann6 mixed]
        [--peers optuna-gp optuna-tpe random]

sweepcli: a bayes sweep with ``run_cap`` = trials and ``sweepcli.seed``; N ``sweepcli agent``
processes started together; each run is a program that sleeps ``--seconds`` (so runs
overlap) and writes the objective as its metric line. The peers get the same objective,
the same sleep and N workers: Optuna's GPSampler and TPESampler(constant_liar=True) through
``study.optimize(n_jobs=N)``; random is sweepcli's random search, run the same way. Prints
the median regret@trials over the seeds (best found - optimum) and each seed's figure.
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
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from objectives import OBJECTIVES  # noqa: E402

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "sweepcli"]
PROGRAM = """
import json, os, sys, time
sys.path.insert(0, {bench!r})
from objectives import OBJECTIVES
cfg = json.load(open(os.environ["SWEEPCLI_CONFIG_FILE"]))
flat = {{}}
def walk(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            walk(v, prefix + k + ".")
        else:
            flat[prefix + k] = v
walk(cfg)
time.sleep({seconds})
y = OBJECTIVES[{case!r}][1](flat)
with open(os.environ["SWEEPCLI_METRICS_FILE"], "a") as f:
    f.write(json.dumps({{{metric!r}: y}}) + "\\n")
"""


def sweepcli_run(case: str, agents: int, trials: int, seed: int, seconds: float,
                 method: str = "bayes") -> float:
    raw, f, opt = OBJECTIVES[case]
    tmp = Path(tempfile.mkdtemp(prefix="sweepcli-par-"))
    try:
        metric = raw["metric"]["name"]
        (tmp / "train.py").write_text(PROGRAM.format(bench=str(HERE), seconds=seconds, case=case,
                                                     metric=metric))
        config = {**raw, "method": method, "program": "train.py", "run_cap": trials,
                  "sweepcli": {"seed": seed}}
        (tmp / "sweep.yaml").write_text(yaml.safe_dump(config))
        env = {**os.environ, "SWEEPCLI_DIR": str(tmp / "sweeps"), "PYTHONUNBUFFERED": "1",
               "SWEEPCLI_AGENT_DISABLE_FLAPPING": "1"}
        sweep_id = subprocess.run([*CLI, "sweep", "sweep.yaml"], cwd=tmp, env=env, check=True,
                                  capture_output=True, text=True).stdout.strip()
        procs = [subprocess.Popen([*CLI, "agent", sweep_id], cwd=tmp, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(agents)]
        for p in procs:
            p.wait(timeout=1800)
        s = json.loads(subprocess.run([*CLI, "sweep", "--print", sweep_id, "--json"], cwd=tmp,
                                      env=env, check=True, capture_output=True, text=True).stdout)
        values = [r["value"] for r in sorted(s["runs"], key=lambda r: r["started_at"])[:trials]
                  if r["value"] is not None]
        return min(values) - opt
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def optuna_run(case: str, agents: int, trials: int, seed: int, seconds: float, sampler: str) -> float:
    import optuna

    from bench_bayes_peers import _suggest

    raw, f, opt = OBJECTIVES[case]
    if sampler == "optuna-gp":
        s = optuna.samplers.GPSampler(seed=seed)
    else:
        s = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    study = optuna.create_study(sampler=s)

    def objective(trial) -> float:
        params = _suggest(trial, raw["parameters"])
        time.sleep(seconds)
        return f(params)

    study.optimize(objective, n_trials=trials, n_jobs=agents)
    return min(t.value for t in study.trials if t.value is not None) - opt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=0.4)
    ap.add_argument("--cases", nargs="+", default=["branin", "hartmann6", "mixed"])
    ap.add_argument("--peers", nargs="*", default=["optuna-gp", "optuna-tpe", "random"])
    args = ap.parse_args()
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
    except ImportError:
        args.peers = [p for p in args.peers if not p.startswith("optuna")]
        print("(optuna is not installed: the Optuna peers are left out)")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print(f"median regret@{args.trials} over seeds {seeds[0]}..{seeds[-1]}, runs of {args.seconds} s")
    for case in args.cases:
        for n in args.agents:
            for who in ["sweepcli", *args.peers]:
                started = time.monotonic()
                regrets = []
                for seed in seeds:
                    if who == "sweepcli":
                        r = sweepcli_run(case, n, args.trials, seed, args.seconds)
                    elif who == "random":
                        r = sweepcli_run(case, n, args.trials, seed, args.seconds, "random")
                    else:
                        r = optuna_run(case, n, args.trials, seed, args.seconds, who)
                    regrets.append(r)
                print(f"{case:<10} {n:>2} agents  {who:<11} {statistics.median(regrets):>9.3g}   "
                      f"({' '.join(f'{r:.2g}' for r in regrets)})  "
                      f"{time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
