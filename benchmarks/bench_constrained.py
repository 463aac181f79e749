"""Constrained problems: sweepcli (bayes, random) against Optuna's samplers with
``constraints_func`` (GP, TPE; NSGA-II for the two-objective one), same budget, in one run.

Run by hand:  pip install optuna torch && python benchmarks/bench_constrained.py
                  [--reps 10] [--trials 40] [--cases branin_c memory binh_korn]

Problems:
- branin_c: Branin on [-5, 10] x [0, 15] with (x1 - 2.5)^2 + (x2 - 7.5)^2 <= 50, which
  rules out two of its three minima (Gardner et al. 2014's constrained Branin); the
  feasible optimum is 0.397887 at (pi, 2.275).
- memory: a toy accuracy/memory trade-off: accuracy grows with layers x units, memory
  (GB) is layers x units / 256, at most 8; learning rate best at 10^-2.5.
- binh_korn: Optuna's constrained two-objective example (Binh and Korn): hypervolume of
  the feasible front found, reference point (140, 50).

Each repetition of sweepcli is a sweep of its own (its design salted as by a sweep ID;
no sweepcli.seed). Prints, per problem and method, the median and the worst quartile of
the regret (optimum - best feasible found; for binh_korn, the best hypervolume found
minus each one's) after the budget, and how many repetitions found no feasible run.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent))
sys.path.insert(0, str(Path(__file__).parent))
from objectives import branin  # noqa: E402

from sweepcli.config import validate  # noqa: E402
from sweepcli.config.constraints import is_feasible  # noqa: E402
from sweepcli.pareto import hypervolume_2d  # noqa: E402
from sweepcli.runs import Run, RunState  # noqa: E402
from sweepcli.search import suggest  # noqa: E402


def branin_c(p: dict) -> dict:
    return {"loss": branin(p), "g": (p["x1"] - 2.5) ** 2 + (p["x2"] - 7.5) ** 2}


def memory(p: dict) -> dict:
    cap = math.log2(p["layers"] * p["units"])
    acc = 0.6 + 0.3 * (1 - math.exp(-(cap - 5) / 4)) - 0.04 * (math.log10(p["lr"]) + 2.5) ** 2
    return {"loss": -acc, "mem_gb": p["layers"] * p["units"] / 256}


def binh_korn(p: dict) -> dict:
    x, y = p["x"], p["y"]
    return {"f1": 4 * x * x + 4 * y * y, "f2": (x - 5) ** 2 + (y - 5) ** 2,
            "c1": (x - 5) ** 2 + y ** 2, "c2": (x - 8) ** 2 + (y + 3) ** 2}


MEMORY_OPT = -(0.6 + 0.3 * (1 - math.exp(-(11 - 5) / 4)))  # layers x units = 2048, lr 10^-2.5

PROBLEMS = {
    "branin_c": ({"metric": {"name": "loss"},
                  "parameters": {"x1": {"min": -5.0, "max": 10.0}, "x2": {"min": 0.0, "max": 15.0}},
                  "sweepcli": {"constraints": [{"metric": "g", "max": 50}]}},
                 branin_c, 0.397887),
    "memory": ({"metric": {"name": "loss"},
                "parameters": {"layers": {"min": 1, "max": 8},
                               "units": {"min": 32, "max": 2048, "distribution": "q_log_uniform_values",
                                         "q": 1},
                               "lr": {"min": 1e-4, "max": 1e-1, "distribution": "log_uniform_values"}},
                "sweepcli": {"constraints": [{"metric": "mem_gb", "max": 8}]}},
               memory, MEMORY_OPT),
    "binh_korn": ({"metrics": [{"name": "f1"}, {"name": "f2"}],
                   "parameters": {"x": {"min": 0.0, "max": 5.0}, "y": {"min": 0.0, "max": 3.0}},
                   "sweepcli": {"constraints": [{"metric": "c1", "max": 25},
                                                {"metric": "c2", "min": 7.7}]}},
                  binh_korn, None),
}
REFERENCE = (140.0, 50.0)


def _score(name: str, raw: dict, outs: list[dict], feasible: list[bool]) -> float | None:
    """The best feasible loss (binh_korn: the feasible front's hypervolume)."""
    kept = [o for o, f in zip(outs, feasible) if f]
    if not kept:
        return None
    if name == "binh_korn":
        return hypervolume_2d(np.array([[o["f1"], o["f2"]] for o in kept]), REFERENCE)
    return min(o["loss"] for o in kept)


def _limits_kept(raw: dict, out: dict) -> bool:
    for c in raw["sweepcli"]["constraints"]:
        v = out[c["metric"]]
        if "max" in c and not v <= c["max"]:
            return False
        if "min" in c and not v >= c["min"]:
            return False
    return True


def run_sweepcli(name: str, raw: dict, f, n: int, rep: int, method: str) -> float | None:
    config = validate({**raw, "method": method})
    config = dataclasses.replace(config, salt=f"rep{rep}")  # as a sweep's ID salts it
    rng = np.random.default_rng(1000 + rep)
    runs: list[Run] = []
    outs = []
    names = [c["metric"] for c in raw["sweepcli"]["constraints"]]
    for i in range(n):
        s = suggest(config, runs, rng)
        out = f(s.params)
        outs.append(out)
        first = raw["metric"]["name"] if "metric" in raw else raw["metrics"][0]["name"]
        r = Run(f"r{i:07d}", s.params, RunState.FINISHED, [out[first]])
        if config.multi:
            for m in raw["metrics"][1:]:
                r.fold_extremes({m["name"]: [out[m["name"]], out[m["name"]]]})
        r.last = {k: out[k] for k in names}
        runs.append(r)
    return _score(name, raw, outs, [is_feasible(config.constraints, r) is True for r in runs])


def run_optuna(name: str, raw: dict, f, n: int, rep: int, sampler_name: str) -> float | None:
    import optuna

    limits = raw["sweepcli"]["constraints"]

    def constraints(trial) -> list[float]:
        return trial.user_attrs["c"]

    kw = {"seed": rep, "constraints_func": constraints}
    sampler = {"optuna-gp": optuna.samplers.GPSampler, "optuna-tpe": optuna.samplers.TPESampler,
               "optuna-nsga2": optuna.samplers.NSGAIISampler}[sampler_name](**kw)
    multi = "metrics" in raw
    study = optuna.create_study(sampler=sampler, directions=["minimize"] * (2 if multi else 1))
    outs, feasible = [], []

    def objective(trial):
        p = {}
        for k, spec in raw["parameters"].items():
            if isinstance(spec["min"], int) and "distribution" not in spec:
                p[k] = trial.suggest_int(k, spec["min"], spec["max"])
            elif spec.get("distribution") == "q_log_uniform_values":
                p[k] = trial.suggest_int(k, spec["min"], spec["max"], log=True)
            else:
                p[k] = trial.suggest_float(k, spec["min"], spec["max"],
                                           log=spec.get("distribution") == "log_uniform_values")
        out = f(p)
        # Optuna: a constraint value <= 0 is kept
        trial.set_user_attr("c", [out[c["metric"]] - c["max"] if "max" in c else c["min"] - out[c["metric"]]
                                  for c in limits])
        outs.append(out)
        feasible.append(_limits_kept(raw, out))
        return (out["f1"], out["f2"]) if multi else out["loss"]

    study.optimize(objective, n_trials=n)
    return _score(name, raw, outs, feasible)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--cases", nargs="*", default=list(PROBLEMS))
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        peers = [] if args.no_peers else ["optuna-gp", "optuna-tpe"]
    except ImportError:
        peers = []
    print(f"{args.reps} repetitions, {args.trials} trials each; regret of the best feasible "
          "(binh_korn: best hypervolume seen - each one's); median, worst quartile")
    print(f"{'problem':<11}{'method':<14}{'median':>11}{'p75':>11}{'none feasible':>15}{'s/trial':>9}")
    for name in args.cases:
        raw, f, opt = PROBLEMS[name]
        methods = ["sweepcli-bayes", "sweepcli-random", *peers]
        if name == "binh_korn" and peers:
            methods.append("optuna-nsga2")
        scores: dict[str, list[float | None]] = {}
        times: dict[str, float] = {}
        for m in methods:
            t0 = time.perf_counter()
            got = []
            for rep in range(args.reps):
                if m.startswith("sweepcli"):
                    got.append(run_sweepcli(name, raw, f, args.trials, rep, m.split("-")[1]))
                else:
                    got.append(run_optuna(name, raw, f, args.trials, rep, m))
            scores[m] = got
            times[m] = (time.perf_counter() - t0) / (args.reps * args.trials)
        if opt is None:  # hypervolume: regret against the best any method found
            top = max(v for s in scores.values() for v in s if v is not None)
            regrets = {m: [None if v is None else top - v for v in s] for m, s in scores.items()}
        else:
            regrets = {m: [None if v is None else v - opt for v in s] for m, s in scores.items()}
        for m in methods:
            vals = [v for v in regrets[m] if v is not None]
            none = sum(v is None for v in regrets[m])
            med = statistics.median(vals) if vals else math.nan
            p75 = float(np.percentile(vals, 75)) if vals else math.nan
            print(f"{name:<11}{m:<14}{med:>11.4g}{p75:>11.4g}{none:>15}{times[m]:>9.3f}", flush=True)


if __name__ == "__main__":
    main()
