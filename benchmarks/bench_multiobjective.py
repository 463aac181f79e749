"""Several objectives: hypervolume of the front found, sweepcli against random and Optuna.

Run by hand: ``python benchmarks/bench_multiobjective.py [--seeds 5] [--trials 40 100]
[--problems zdt1 zdt2]`` (Optuna 5.0 for the peers: ``pip install optuna``).

ZDT1 and ZDT2 in 6 dimensions (two objectives, both minimised, known fronts: f2 = 1 -
sqrt(f1) and f2 = 1 - f1^2 at g = 1). Hypervolume with the usual reference point (11, 11)
(the true fronts' are 120.667 and 120.333), median over seeds 1..N, after 40 and 100 runs,
one suggestion at a time. sweepcli: ``method: bayes`` with ``metrics:`` (ParEGO: a random
Chebyshev weighting per suggestion over a GP) and ``method: random``; Optuna:
NSGAIISampler (its default for several objectives), TPESampler, GPSampler.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sweepcli.config import validate  # noqa: E402
from sweepcli.pareto import hypervolume_2d  # noqa: E402
from sweepcli.runs import Run, RunState  # noqa: E402
from sweepcli.search import suggest  # noqa: E402

D = 6
REFERENCE = (11.0, 11.0)
TRUE_HV = {"zdt1": 121 - 1 / 3, "zdt2": 121 - 2 / 3}


def zdt(problem: str, x: list[float]) -> tuple[float, float]:
    f1 = x[0]
    g = 1 + 9 * sum(x[1:]) / (len(x) - 1)
    h = 1 - (f1 / g) ** 0.5 if problem == "zdt1" else 1 - (f1 / g) ** 2
    return f1, g * h


def sweepcli_run(problem: str, method: str, trials: int, seed: int) -> np.ndarray:
    config = validate({"method": method,
                       "metrics": [{"name": "f1", "goal": "minimize"},
                                   {"name": "f2", "goal": "minimize"}],
                       "parameters": {f"x{i}": {"min": 0.0, "max": 1.0} for i in range(D)},
                       "sweepcli": {"seed": seed}})
    rng = np.random.default_rng(seed)
    runs: list[Run] = []
    points = []
    for i in range(trials):
        s = suggest(config, runs, rng)
        f1, f2 = zdt(problem, [s.params[f"x{j}"] for j in range(D)])
        r = Run(f"r{i:07d}", s.params, RunState.FINISHED)
        r.history.append(f1)
        r.fold_extremes({"f2": [f2, f2]})
        runs.append(r)
        points.append((f1, f2))
    return np.asarray(points)


def optuna_run(problem: str, sampler_name: str, trials: int, seed: int) -> np.ndarray:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = {"nsga2": optuna.samplers.NSGAIISampler, "tpe": optuna.samplers.TPESampler,
               "gp": optuna.samplers.GPSampler}[sampler_name](seed=seed)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        return zdt(problem, [trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(D)])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(objective, n_trials=trials)
    return np.asarray([t.values for t in study.trials])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trials", type=int, nargs="+", default=[40, 100])
    ap.add_argument("--problems", nargs="+", default=["zdt1", "zdt2"])
    ap.add_argument("--peers", nargs="+", default=["nsga2", "tpe", "gp"])
    args = ap.parse_args()
    top = max(args.trials)
    for problem in args.problems:
        print(f"{problem} ({D} dimensions): median hypervolume, reference {REFERENCE}, "
              f"true front {TRUE_HV[problem]:.3f}; seeds 1-{args.seeds}")
        runners = [("sweepcli bayes", lambda t, s, z=problem: sweepcli_run(z, "bayes", t, s)),
                   ("sweepcli random", lambda t, s, z=problem: sweepcli_run(z, "random", t, s))]
        runners += [(f"optuna {p}", lambda t, s, p=p, z=problem: optuna_run(z, p, t, s))
                    for p in args.peers]
        for label, fn in runners:
            t0 = time.monotonic()
            results = [fn(top, seed) for seed in range(1, args.seeds + 1)]
            cells = []
            for n in args.trials:
                hv = [hypervolume_2d(r[:n], REFERENCE) for r in results]
                cells.append(f"@{n}: {statistics.median(hv):8.3f} "
                             f"({' '.join(f'{v:.2f}' for v in hv)})")
            print(f"  {label:<16} {'   '.join(cells)}   "
                  f"[{(time.monotonic() - t0) / args.seeds:.1f} s a seed]", flush=True)


if __name__ == "__main__":
    main()
