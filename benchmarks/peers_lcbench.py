"""The strongest optimizers on LCBench, each charged the epochs it really trains, one worker:
SMAC3 (random-forest BO at full fidelity; its multi-fidelity facade with Hyperband), DEHB,
NePS (its offline optimizers), Optuna (its GP sampler, and its six: TPE, random, with
median, successive-halving and Hyperband pruning).

A peer that starts a configuration again at a higher budget (SMAC's Hyperband, DEHB) pays
every epoch again; one that continues a run (Optuna's pruners train on; NePS's promotions
of a trial's own earlier trial) pays the extra epochs only. The meter (``anytime.py``)
keeps the best model at 25/50/100% of YAHPO's 6,544 epochs.

Needs the peers, which pull in heavy dependencies, in a virtualenv of their own::

    python -m venv /tmp/peers && /tmp/peers/bin/pip install onnxruntime smac dehb optuna \
        neural-pipeline-search -e .
    /tmp/peers/bin/python benchmarks/peers_lcbench.py --peers smac-bo dehb --seeds 1 2 3

Prints one line per (peer, task, seed) and a table of medians and worst seeds; with
``--json FILE`` it also writes every trace (for ``plot_lcbench.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from anytime import FRACTIONS, Meter, summary  # noqa: E402
from lcbench import BUDGET, DEV_TASKS, EPOCHS, ORDER, curve  # noqa: E402

SPACE = {  # name: (low, high, integer, log)
    "batch_size": (16, 512, True, True),
    "learning_rate": (1e-4, 0.1, False, True),
    "momentum": (0.1, 0.99, False, False),
    "weight_decay": (1e-5, 0.1, False, False),
    "num_layers": (1, 5, True, False),
    "max_units": (64, 1024, True, True),
    "max_dropout": (0.0, 1.0, False, False),
}


def _params(config: Any) -> dict[str, float]:
    return {k: float(config[k]) for k in ORDER}


def _configspace(seed: int) -> Any:
    from ConfigSpace import ConfigurationSpace, Float, Integer

    cs = ConfigurationSpace(seed=seed)
    cs.add([(Integer if integer else Float)(name, (lo, hi), log=log)
            for name, (lo, hi, integer, log) in SPACE.items()])
    return cs


# ---- SMAC3 -----------------------------------------------------------------------------------
def smac_run(task: str, seed: int, multi_fidelity: bool) -> Meter:
    from smac import HyperparameterOptimizationFacade, MultiFidelityFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue

    meter = Meter()
    with tempfile.TemporaryDirectory() as out:
        if multi_fidelity:
            scenario = Scenario(_configspace(seed), deterministic=True, n_trials=100000,
                                min_budget=1, max_budget=EPOCHS, seed=seed,
                                output_directory=Path(out))
            smac = MultiFidelityFacade(
                scenario, lambda config, seed=0, budget=EPOCHS: 0.0,
                intensifier=MultiFidelityFacade.get_intensifier(scenario, eta=3),
                overwrite=True, logging_level=40)
        else:
            scenario = Scenario(_configspace(seed), deterministic=True, n_trials=100000,
                                seed=seed, output_directory=Path(out))
            smac = HyperparameterOptimizationFacade(
                scenario, lambda config, seed=0: 0.0, overwrite=True, logging_level=40)
        while meter.left > 0:
            info = smac.ask()
            budget = int(round(info.budget)) if info.budget is not None else EPOCHS
            values = curve(task, _params(info.config))
            reached = meter.train(values, 0, budget)  # from scratch, every time
            smac.tell(info, TrialValue(cost=100.0 - float(values[reached - 1])
                                       if reached else 100.0))
    return meter


# ---- DEHB ------------------------------------------------------------------------------------
def dehb_run(task: str, seed: int) -> Meter:
    from dehb import DEHB

    meter = Meter()
    with tempfile.TemporaryDirectory() as out:
        dehb = DEHB(cs=_configspace(seed), dimensions=len(SPACE), min_fidelity=1,
                    max_fidelity=EPOCHS, eta=3, n_workers=1, seed=seed, output_path=out,
                    log_level="ERROR")
        while meter.left > 0:
            job = dehb.ask()
            fidelity = int(round(job["fidelity"]))
            values = curve(task, _params(job["config"]))
            reached = meter.train(values, 0, fidelity)  # DEHB starts each again
            dehb.tell(job, {"fitness": 100.0 - float(values[max(reached, 1) - 1]),
                            "cost": float(fidelity)})
    return meter


# ---- Optuna ----------------------------------------------------------------------------------
OPTUNA = ("tpe", "tpe+median", "tpe+sh", "tpe+hyperband", "random+hyperband", "gp")


def optuna_run(task: str, seed: int, peer: str) -> Meter:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler_name, _, pruner_name = peer.partition("+")
    sampler = {"random": lambda: optuna.samplers.RandomSampler(seed=seed),
               "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
               "gp": lambda: optuna.samplers.GPSampler(seed=seed)}[sampler_name]()
    pruner = {"": optuna.pruners.NopPruner(),
              "median": optuna.pruners.MedianPruner(),
              "sh": optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
              "hyperband": optuna.pruners.HyperbandPruner(min_resource=1, max_resource=EPOCHS,
                                                          reduction_factor=3)}[pruner_name]
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    meter = Meter()
    while meter.left > 0:
        trial = study.ask()
        params = {}
        for name, (lo, hi, integer, log) in SPACE.items():
            params[name] = (trial.suggest_int(name, lo, hi, log=log) if integer
                            else trial.suggest_float(name, lo, hi, log=log))
        values = curve(task, _params(params))
        state = optuna.trial.TrialState.COMPLETE
        for epoch in range(1, EPOCHS + 1):
            if meter.train(values, epoch - 1, epoch) < epoch:
                state = optuna.trial.TrialState.FAIL  # the budget ended inside it
                break
            trial.report(float(values[epoch - 1]), epoch)
            if epoch < EPOCHS and trial.should_prune():
                state = optuna.trial.TrialState.PRUNED
                break
        if state == optuna.trial.TrialState.COMPLETE:
            study.tell(trial, float(values[-1]))
        else:
            study.tell(trial, state=state)
    return meter


# ---- NePS ------------------------------------------------------------------------------------
NEPS = ("neps-bo", "neps-hyperband", "neps-asha", "neps-ifbo")


def neps_run(task: str, seed: int, peer: str) -> Meter:
    import neps
    import torch
    from neps.optimizers import algorithms

    name = peer.removeprefix("neps-")
    name = {"bo": "bayesian_optimization"}.get(name, name)
    np.random.seed(seed)
    torch.manual_seed(seed)
    import random

    random.seed(seed)
    space: dict[str, Any] = {
        n: (neps.Integer if integer else neps.Float)(lo, hi, log=log)
        for n, (lo, hi, integer, log) in SPACE.items()}
    fidelity = name != "bayesian_optimization"
    if fidelity:
        space["epoch"] = neps.Integer(1, EPOCHS, is_fidelity=True)
    optimizer = algorithms.PredefinedOptimizers[name](neps.SearchSpace(space))
    ask_tell = neps.AskAndTell(optimizer)
    meter = Meter()
    reached_by: dict[str, int] = {}  # a trial's id: the epochs its model was trained to
    while meter.left > 0:
        trial = ask_tell.ask()
        config = trial.config
        target = int(config.get("epoch", EPOCHS)) if fidelity else EPOCHS
        previous = trial.metadata.previous_trial_id
        start = reached_by.get(previous, 0) if previous else 0
        start = min(start, target)  # a continuation pays the extra epochs only
        values = curve(task, _params(config))
        reached = meter.train(values, start, target)
        reached_by[trial.metadata.id] = reached
        ask_tell.tell(trial, {"objective_to_minimize": 100.0 - float(values[max(reached, 1) - 1]),
                              "cost": float(max(0, reached - start))})
    return meter


PEERS = {
    "smac-bo": lambda task, seed: smac_run(task, seed, multi_fidelity=False),
    "smac-hb": lambda task, seed: smac_run(task, seed, multi_fidelity=True),
    "dehb": dehb_run,
    **{f"optuna-{p}": (lambda task, seed, p=p: optuna_run(task, seed, p)) for p in OPTUNA},
    **{p: (lambda task, seed, p=p: neps_run(task, seed, p)) for p in NEPS},
}


def report(results: dict[str, dict[str, list[dict[str, float]]]], tasks: list[str]) -> None:
    """Median and worst seed at 25/50/100% of the budget, per method and task."""
    for measure in ("final", "any"):
        print(f"\n{measure}: best val_accuracy "
              + ("at epoch 52 among runs trained to their end" if measure == "final"
                 else "of any run at any epoch") + " (median / worst seed)")
        head = "".join(f"{t + ' ' + str(int(f * 100)) + '%':>16s}" for t in tasks
                       for f in FRACTIONS)
        print(f"{'':24s}{head}")
        for method, by_task in results.items():
            cells = []
            for t in tasks:
                for f in FRACTIONS:
                    med, worst = summary([p[f"{measure}@{int(f * 100)}"] for p in by_task.get(t, [])]
                                         or [float("nan")])
                    cells.append(f"{med:7.2f}/{worst:6.2f}  ")
            print(f"{method:24s}" + "".join(f"{c:>16s}" for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    ap.add_argument("--tasks", nargs="+", default=list(DEV_TASKS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--json", help="write every trace to this file")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    traces: dict[str, Any] = {}
    for peer in args.peers:
        for task in args.tasks:
            for seed in args.seeds:
                t0 = time.perf_counter()
                meter = PEERS[peer](task, seed)
                pts = meter.points()
                results.setdefault(peer, {}).setdefault(task, []).append(pts)
                traces[f"{peer}/{task}/{seed}"] = meter.trace[:: max(1, len(meter.trace) // 400)]
                print(f"  {peer:22s} {task:>7s} seed {seed}: "
                      + " ".join(f"{k} {v:.2f}" for k, v in pts.items())
                      + f"  spent {meter.spent}  {time.perf_counter() - t0:.0f} s", flush=True)
                write_traces(args.json, results, traces)  # (as it goes: a long run stopped keeps them)
    report(results, args.tasks)
    write_traces(args.json, results, traces)


def write_traces(path: str | None, results: Any, traces: Any) -> None:
    """Every (method, task, seed)'s points and trace, for ``plot_lcbench.py``."""
    if path:
        Path(path).write_text(json.dumps({"results": results, "traces": traces,
                                          "budget": BUDGET}))


if __name__ == "__main__":
    main()
