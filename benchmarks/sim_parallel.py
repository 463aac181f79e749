"""Bayes with N agents at once, simulated: a quick way to compare batch strategies.

Run by hand: ``python benchmarks/sim_parallel.py [--agents 1 8] [--seeds 5] [--trials 40]``.

A discrete-event simulation of N agents sharing one sweep: each run takes 1 time unit
(± 10%), an agent that is free claims the next point through the same pure ``suggest``
the agent calls, seeing the runs still going as running runs. It measures the search,
not the machinery (``bench_bayes_parallel.py`` runs real agents).
"""

from __future__ import annotations

import argparse
import heapq
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from objectives import OBJECTIVES  # noqa: E402

from sweepcli.config import validate  # noqa: E402
from sweepcli.runs import Run, RunState  # noqa: E402
from sweepcli.search import suggest  # noqa: E402


def simulate(raw: dict, f, agents: int, trials: int, seed: int, initial: int | None = None
             ) -> tuple[float, float]:
    """(best value after ``trials`` ended runs, mean seconds per suggestion)."""
    ext: dict = {"seed": seed}
    if initial is not None:
        ext["initial_random"] = initial
    config = validate({**raw, "run_cap": trials, "sweepcli": ext})
    rng = np.random.default_rng(seed)
    jitter = np.random.default_rng(seed + 1000)
    runs: list[Run] = []
    ends: list[tuple[float, int]] = []  # (time, index of run)
    now, started, took = 0.0, 0, []
    free = agents
    while True:
        while free and started < trials:
            t0 = time.perf_counter()
            s = suggest(config, runs, rng)
            took.append(time.perf_counter() - t0)
            runs.append(Run(f"r{started:07d}", s.params, RunState.RUNNING))
            heapq.heappush(ends, (now + 1.0 + jitter.uniform(-0.1, 0.1), started))
            started += 1
            free -= 1
        if not ends:
            break
        now, i = heapq.heappop(ends)
        runs[i].history.append(f(runs[i].params))
        runs[i].state = RunState.FINISHED
        free += 1
    return min(r.history[0] for r in runs), statistics.mean(took)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--cases", nargs="+", default=["branin", "hartmann6", "mixed"])
    ap.add_argument("--initial", type=int, default=None, help="sweepcli.initial_random")
    args = ap.parse_args()
    print(f"median regret@{args.trials} over {args.seeds} seeds (simulated agents)")
    for name in args.cases:
        raw, f, opt = OBJECTIVES[name]
        for n in args.agents:
            out = [simulate(raw, f, n, args.trials, seed, args.initial) for seed in range(1, args.seeds + 1)]
            regrets = [best - opt for best, _ in out]
            print(f"{name:<10} {n:>2} agents  regret {statistics.median(regrets):.3g}  "
                  f"(seeds: {' '.join(f'{r:.2g}' for r in regrets)})  "
                  f"{statistics.mean(t for _, t in out):.3f} s/suggestion", flush=True)


if __name__ == "__main__":
    main()
