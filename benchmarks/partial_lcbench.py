"""How should bayes see a run stopped at step s? Each option's prediction of the run's
final value, against the truth, on LCBench curves (no search: the question alone).

Run by hand: ``python benchmarks/partial_lcbench.py [--tasks ...] [--whole 30] [--runs 300]``.

For each task and seed: ``--whole`` random configurations that ran all 52 epochs (what the
model has seen whole), ``--runs`` other random configurations cut at step s. Options
(``sweepcli/search/bayes/values.py``, ``SWEEPCLI_BAYES_PARTIAL``): ``best`` (its best so far, as
W&B and sweepcli did), ``delta`` (best so far plus the whole runs' median gain after s),
``rank`` (the whole runs' final value at the rank it holds among them at s). Prints the
median absolute error in points of val_accuracy, for all cut runs and for the third that
a rule would have stopped (the worst at s), and the Spearman correlation with the truth.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lcbench import DEV_TASKS, EPOCHS, curve, sweep_config  # noqa: E402

from sweepcli.config import validate  # noqa: E402
from sweepcli.runs import Run, RunState  # noqa: E402
from sweepcli.search.bayes import Partial  # noqa: E402


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", nargs="+", default=list(DEV_TASKS))
    ap.add_argument("--whole", type=int, default=30)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, nargs="+", default=[1, 3, 6, 17])
    args = ap.parse_args()
    space = validate(sweep_config()).space
    print(f"{'step':>4s} {'option':>6s} {'MAE all':>8s} {'MAE worst third':>16s} {'spearman':>9s}")
    for step in args.steps:
        rows: dict[str, list[tuple[float, float, float]]] = {
            "best": [], "delta": [], "rank": [], "shrunk": []}
        for task in args.tasks:
            for seed in range(args.seeds):
                rng = np.random.default_rng(seed)
                whole = [Run(f"w{i:07d}", {}, RunState.FINISHED,
                             curve(task, space.sample(rng)).tolist()) for i in range(args.whole)]
                cut = [curve(task, space.sample(rng)) for _ in range(args.runs)]
                truth = np.array([max(c) for c in cut])
                runs = [Run(f"c{i:07d}", {}, RunState.STOPPED, c[:step].tolist())
                        for i, c in enumerate(cut)]
                model = Partial(whole + runs, -1.0)
                at = np.array([max(c[:step]) for c in cut])
                worst = at <= np.quantile(at, 1 / 3)
                for how in rows:
                    pred = np.array([-model.predict(r, how) if how != "best" else max(r.history)
                                     for r in runs])
                    err = np.abs(pred - truth)
                    rows[how].append((float(np.median(err)), float(np.median(err[worst])),
                                      spearman(pred, truth)))
        for how, got in rows.items():
            print(f"{step:4d} {how:>6s} {statistics.median(g[0] for g in got):8.2f} "
                  f"{statistics.median(g[1] for g in got):16.2f} "
                  f"{statistics.median(g[2] for g in got):9.2f}", flush=True)
    print(f"(whole runs: {args.whole}, cut runs: {args.runs}, {len(args.tasks)} tasks x "
          f"{args.seeds} seeds, epochs {EPOCHS})")


if __name__ == "__main__":
    main()
