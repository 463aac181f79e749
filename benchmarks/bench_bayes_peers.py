"""The peers on bench_bayes.py's objectives and seeds: Optuna's GPSampler and TPESampler.

Run by hand when Optuna is installed (it is not a dependency of sweepcli):
    pip install optuna torch && python benchmarks/bench_bayes_peers.py [--seeds 10]
        [--cases levy4 ...]
Prints the same table as bench_bayes.py: median regret after 10, 20 and 40 trials.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from objectives import OBJECTIVES  # noqa: E402


def _suggest(trial, parameters: dict, prefix: str = "") -> dict:
    out = {}
    for key, spec in parameters.items():
        name = prefix + key
        if "parameters" in spec:
            out.update(_suggest(trial, spec["parameters"], name + "."))
        elif "values" in spec:
            out[name] = trial.suggest_categorical(name, spec["values"])
        elif spec.get("distribution") == "log_uniform_values":
            out[name] = trial.suggest_float(name, spec["min"], spec["max"], log=True)
        elif isinstance(spec["min"], int):
            out[name] = trial.suggest_int(name, spec["min"], spec["max"])
        else:
            out[name] = trial.suggest_float(name, spec["min"], spec["max"])
    return out


def run_trials(raw: dict, f, n: int, seed: int, sampler_name: str) -> list[float]:
    import optuna

    sampler = (optuna.samplers.GPSampler(seed=seed) if sampler_name == "optuna-gp"
               else optuna.samplers.TPESampler(seed=seed))
    study = optuna.create_study(sampler=sampler)
    best: list[float] = []

    def objective(trial) -> float:
        y = f(_suggest(trial, raw["parameters"]))
        best.append(min(best[-1], y) if best else y)
        return y

    study.optimize(objective, n_trials=n)
    return best


def main() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cases", nargs="*", default=[], choices=list(OBJECTIVES),
                    help="objectives (default: all)")
    args = ap.parse_args()
    print(f"median regret (best found - optimum) over {args.seeds} seeds, Optuna {optuna.__version__}")
    print(f"{'objective':<16}{'method':<11}{'@10':>10}{'@20':>10}{'@40':>10}{'s/trial':>9}")
    for name, (raw, f, opt) in OBJECTIVES.items():
        if args.cases and name not in args.cases:
            continue
        for method in ("optuna-gp", "optuna-tpe"):
            t0 = time.perf_counter()
            curves = [run_trials(raw, f, 40, seed, method) for seed in range(args.seeds)]
            per = (time.perf_counter() - t0) / (40 * args.seeds)
            med = [statistics.median(c[k - 1] - opt for c in curves) for k in (10, 20, 40)]
            print(f"{name:<16}{method:<11}" + "".join(f"{m:>10.4g}" for m in med) + f"{per:>9.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
