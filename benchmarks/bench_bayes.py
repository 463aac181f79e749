"""Bayes against random: median best value after 10, 20, 40 trials; suggestion latency.

Run by hand:  python benchmarks/bench_bayes.py [--seeds 5] [--latency-only] [--cases levy4 ...]
Trials are run sequentially through the same pure ``suggest`` the agent calls.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from objectives import MIXED, OBJECTIVES, mixed  # noqa: E402

from sweepcli.config import validate  # noqa: E402
from sweepcli.runs import Run, RunState  # noqa: E402
from sweepcli.search import suggest  # noqa: E402


def run_trials(raw: dict, f, n: int, seed: int, method: str) -> list[float]:
    config = validate({**raw, "method": method, "sweepcli": {"seed": seed}})
    rng = np.random.default_rng(seed)
    runs: list[Run] = []
    best = []
    for i in range(n):
        s = suggest(config, runs, rng)
        y = f(s.params)
        runs.append(Run(f"r{i}", s.params, RunState.FINISHED, [y]))
        best.append(min(best[-1], y) if best else y)
    return best


def quality(seeds: int, cases: list[str]) -> None:
    print(f"median regret (best found - optimum) over {seeds} seeds")
    print(f"{'objective':<16}{'method':<8}{'@10':>10}{'@20':>10}{'@40':>10}{'s/trial':>9}")
    for name, (raw, f, opt) in OBJECTIVES.items():
        if cases and name not in cases:
            continue
        for method in ("bayes", "random"):
            curves, t0 = [], time.perf_counter()
            for seed in range(seeds):
                curves.append(run_trials(raw, f, 40, seed, method))
            per = (time.perf_counter() - t0) / (40 * seeds)
            med = [statistics.median(c[k - 1] - opt for c in curves) for k in (10, 20, 40)]
            print(f"{name:<16}{method:<8}" + "".join(f"{m:>10.4g}" for m in med) + f"{per:>9.3f}",
                  flush=True)


def latency() -> None:
    """The suggestion's time (the sweep lock is held while it runs) with N runs ended and
    none, 8 or 32 still going (agents at once: the model also believes the pending runs
    and looks for the minimum of its mean)."""
    config = validate(MIXED)
    rng = np.random.default_rng(0)
    print("suggestion latency on the 5-parameter mixed space, median (max) seconds of 5")
    print(f"{'ended':>6}{'0 pending':>16}{'8 pending':>16}{'32 pending':>16}")
    suggest(config, [], rng)  # imports (scikit-optimize, scipy) are not the suggestion's cost
    for n in (10, 40, 50, 100, 200, 500):
        runs = []
        for i in range(n):
            p = config.space.sample(rng)
            runs.append(Run(f"r{i}", p, RunState.FINISHED, [mixed(p)]))
        row = f"{n:>6}"
        for k in (0, 8, 32):
            going = [Run(f"p{i}", config.space.sample(rng), RunState.RUNNING) for i in range(k)]
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                suggest(config, runs + going, rng)
                times.append(time.perf_counter() - t0)
            row += f"{statistics.median(times):>9.3f} ({max(times):.2f})"
        print(row, flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--latency-only", action="store_true")
    ap.add_argument("--cases", nargs="*", default=[], choices=list(OBJECTIVES),
                    help="objectives (default: all)")
    args = ap.parse_args()
    latency()
    if not args.latency_only:
        quality(args.seeds, args.cases)
