"""Does bayes find the global basin? Repetitions as independent sweeps (no sweepcli.seed:
each design salted as a sweep's ID salts it), one agent, 40 runs; the median and the
worst quartile of the regret, and how many repetitions ended within 0.01 of the optimum
(1% of it when it is larger),
beside Optuna's GP and TPE samplers and scikit-optimize's gp_minimize (other seeds each
repetition) at the same budget.

Run by hand:  pip install optuna torch && python benchmarks/bench_basins.py
                  [--reps 20] [--trials 40] [--cases hartmann6 hartmann3 ...] [--no-peers]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent))
sys.path.insert(0, str(Path(__file__).parent))
from objectives import MULTIMODAL, OBJECTIVES  # noqa: E402

from sweepcli.config import validate  # noqa: E402
from sweepcli.runs import Run, RunState  # noqa: E402
from sweepcli.search import suggest  # noqa: E402


def sweepcli_regret(raw: dict, f, opt: float, n: int, rep: int) -> float:
    config = dataclasses.replace(validate({**raw, "method": "bayes"}), salt=f"basin{rep}")
    rng = np.random.default_rng(7000 + rep)
    runs: list[Run] = []
    for i in range(n):
        p = suggest(config, runs, rng).params
        runs.append(Run(f"r{i:07d}", p, RunState.FINISHED, [f(p)]))
    return min(r.history[0] for r in runs) - opt


def _dimensions(parameters: dict, prefix: str = "") -> list[tuple[str, object]]:
    from skopt.space import Categorical, Integer, Real

    out: list[tuple[str, object]] = []
    for key, spec in parameters.items():
        name = prefix + key
        if "parameters" in spec:
            out += _dimensions(spec["parameters"], name + ".")
        elif "values" in spec:
            out.append((name, Categorical(spec["values"])))
        elif spec.get("distribution") == "log_uniform_values":
            out.append((name, Real(spec["min"], spec["max"], prior="log-uniform")))
        elif isinstance(spec["min"], int):
            out.append((name, Integer(spec["min"], spec["max"])))
        else:
            out.append((name, Real(spec["min"], spec["max"])))
    return out


def skopt_regret(raw: dict, f, opt: float, n: int, seed: int) -> float:
    """scikit-optimize's gp_minimize with its defaults (10 initial points, gp_hedge)."""
    from skopt import gp_minimize

    dims = _dimensions(raw["parameters"])
    names = [d[0] for d in dims]
    result = gp_minimize(lambda x: f(dict(zip(names, x))), [d[1] for d in dims], n_calls=n,
                         random_state=seed)
    return float(result.fun) - opt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--cases", nargs="*", default=["hartmann6", "hartmann3", "ackley5",
                                                    "rastrigin4", "styblinski4", "branin"])
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    peers: list[str] = []
    if not args.no_peers:
        try:
            import optuna

            from bench_bayes_peers import run_trials

            optuna.logging.set_verbosity(optuna.logging.ERROR)
            peers = ["optuna-gp", "optuna-tpe"]
        except ImportError:
            print("(optuna is not installed: its peers are left out)")
        peers.append("skopt-gp")
    print(f"{args.reps} repetitions x {args.trials} runs, one agent: regret median, worst "
          "quartile, repetitions within 0.01 of the optimum")
    print(f"{'objective':<12}{'method':<12}{'median':>10}{'p75':>10}{'found':>8}{'s/run':>8}")
    for name in args.cases:
        raw, f, opt = {**OBJECTIVES, **MULTIMODAL}[name]
        for method in ["sweepcli", *peers]:
            t0 = time.perf_counter()
            if method == "sweepcli":
                regrets = [sweepcli_regret(raw, f, opt, args.trials, r) for r in range(args.reps)]
            elif method == "skopt-gp":
                regrets = [skopt_regret(raw, f, opt, args.trials, 100 + r)
                           for r in range(args.reps)]
            else:
                regrets = [run_trials(raw, f, args.trials, 100 + r, method)[-1] - opt
                           for r in range(args.reps)]
            per = (time.perf_counter() - t0) / (args.reps * args.trials)
            found = sum(r < 0.01 * max(1.0, abs(opt)) for r in regrets)
            print(f"{name:<12}{method:<12}{statistics.median(regrets):>10.4g}"
                  f"{float(np.percentile(regrets, 75)):>10.4g}{found:>5}/{args.reps:<2}{per:>8.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
