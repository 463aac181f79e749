"""Bayes on a conditional space: with ``sweepcli.conditions``, without them, and random.

Run by hand: ``python benchmarks/bench_conditional.py [--seeds 10] [--trials 40]``.

The objective is an optimiser-dependent loss with a known optimum (0): each optimiser has
parameters of its own (SGD: momentum, nesterov; Adam: beta1, beta2, eps; RMSprop: rho),
the learning rate is shared, and the best optimum is Adam's. *With conditions* the sweep
says which parameter belongs to which optimiser, so the program receives (and the model
sees) only the active ones; *without* them every parameter is drawn every time and the
loss ignores the ones that do not apply, as a W&B sweep must do it. Median regret after
``--trials`` runs (one agent: the suggestions in sequence), over seeds 1..N.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sweepcli.config import validate  # noqa: E402
from sweepcli.runs import Run, RunState  # noqa: E402
from sweepcli.search import suggest  # noqa: E402

PARAMETERS = {
    "optimizer": {"values": ["sgd", "adam", "rmsprop"]},
    "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
    "momentum": {"min": 0.0, "max": 0.99},
    "nesterov": {"values": [False, True]},
    "beta1": {"min": 0.5, "max": 0.999},
    "beta2": {"min": 0.9, "max": 0.9999},
    "eps": {"distribution": "log_uniform_values", "min": 1e-10, "max": 1e-4},
    "rho": {"min": 0.5, "max": 0.99},
}
CONDITIONS = {
    "momentum": {"optimizer": "sgd"}, "nesterov": {"optimizer": "sgd"},
    "beta1": {"optimizer": "adam"}, "beta2": {"optimizer": "adam"}, "eps": {"optimizer": "adam"},
    "rho": {"optimizer": "rmsprop"},
}


def loss(p: dict) -> float:
    """0 at Adam, lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8; SGD's best 0.15, RMSprop's 0.08."""
    lr = math.log10(p["lr"])
    if p["optimizer"] == "sgd":
        return (0.15 + 0.5 * (lr + 1.5) ** 2 + 4 * (p["momentum"] - 0.9) ** 2
                + (0.0 if p["nesterov"] else 0.05))
    if p["optimizer"] == "adam":
        return (0.5 * (lr + 3) ** 2 + 6 * (p["beta1"] - 0.9) ** 2
                + 2000 * (p["beta2"] - 0.999) ** 2 + 0.02 * (math.log10(p["eps"]) + 8) ** 2)
    return 0.08 + 0.5 * (lr + 2.5) ** 2 + 3 * (p["rho"] - 0.9) ** 2


def run(method: str, conditions: bool, trials: int, seed: int) -> float:
    raw = {"method": method, "metric": {"name": "loss"}, "parameters": PARAMETERS,
           "sweepcli": {"seed": seed, **({"conditions": CONDITIONS} if conditions else {})}}
    config = validate(raw)
    rng = np.random.default_rng(seed)
    runs: list[Run] = []
    for i in range(trials):
        s = suggest(config, runs, rng)
        r = Run(f"r{i:07d}", s.params, RunState.FINISHED)
        r.history.append(loss(s.params))
        runs.append(r)
        if conditions:  # the program never receives what does not apply
            active = config.space.active_names(s.params)
            assert set(s.params) <= active, s.params
    return min(r.history[0] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, nargs="+", default=[20, 40])
    args = ap.parse_args()
    for trials in args.trials:
        print(f"median regret after {trials} runs, seeds 1-{args.seeds}")
        for label, method, cond in [("bayes with conditions", "bayes", True),
                                    ("bayes without conditions", "bayes", False),
                                    ("random with conditions", "random", True),
                                    ("random without conditions", "random", False)]:
            out = [run(method, cond, trials, seed) for seed in range(1, args.seeds + 1)]
            print(f"  {label:<26} {statistics.median(out):.4f}   "
                  f"(seeds: {' '.join(f'{v:.3g}' for v in out)})", flush=True)


if __name__ == "__main__":
    main()
