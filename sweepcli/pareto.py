"""Several objectives (``metrics:``): a run's value of each, and the Pareto front.

Pure functions of the config and the runs. A run's value of a metric is its best logged
value of it (W&B's rule for one metric, applied to each). A run *dominates* another when
it is at least as good on every objective and better on one; the front is the runs with a
value of every objective that no such run dominates (any state, like the best run of a
single-objective sweep). Runs with equal values on every objective are all on the front.
"""

from __future__ import annotations

import numpy as np

from .config import SweepConfig
from .runs import Run


def values_of(config: SweepConfig, run: Run) -> dict[str, float | None]:
    """Metric name -> the run's best value of it (None: never logged)."""
    out: dict[str, float | None] = {}
    for i, m in enumerate(config.metrics):
        out[m.name] = run.best(m.goal) if i == 0 else run.value_of(m.name, m.goal)
    return out


def losses(config: SweepConfig, runs: list[Run]) -> tuple[list[Run], np.ndarray]:
    """The runs with a value of every objective, and those values as losses (lower is
    better: maximised metrics negated), one row per run."""
    kept, rows = [], []
    for r in runs:
        v = values_of(config, r)
        if all(x is not None for x in v.values()):
            kept.append(r)
            rows.append([m.sign * v[m.name] for m in config.metrics])  # type: ignore[operator]
    return kept, np.asarray(rows, dtype=float).reshape(len(rows), len(config.metrics))


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Indexes of the rows no other row dominates (lower is better on every column)."""
    keep = [i for i, p in enumerate(points)  # (a row is not strictly better than itself)
            if not np.any(np.all(points <= p, axis=1) & np.any(points < p, axis=1))]
    return np.asarray(keep, dtype=int)


def front(config: SweepConfig, runs: list[Run]) -> list[Run]:
    """The non-dominated runs, in the order given (among the feasible ones, with
    ``sweepcli.constraints``)."""
    if config.constraints:
        from .config.constraints import is_feasible

        runs = [r for r in runs if is_feasible(config.constraints, r) is True]
    kept, points = losses(config, runs)
    if not kept:
        return []
    return [kept[i] for i in non_dominated(points)]


def hypervolume_2d(points: np.ndarray, reference: tuple[float, float]) -> float:
    """The area two-objective loss points dominate up to ``reference`` (exact)."""
    inside = points[(points[:, 0] < reference[0]) & (points[:, 1] < reference[1])]
    if not len(inside):
        return 0.0
    pts = inside[non_dominated(inside)]
    pts = pts[np.argsort(pts[:, 0])]
    area, prev_y = 0.0, reference[1]
    for x, y in pts:
        area += (reference[0] - x) * (prev_y - y)
        prev_y = y
    return float(area)


def parego_losses(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One ParEGO scalarisation (Knowles 2006) of loss rows: each objective scaled to
    [0, 1] over the runs, a random weight vector from the simplex, the augmented Chebyshev
    ``max_i(w_i f_i) + 0.05 sum_i(w_i f_i)``. Each suggestion draws its own weights, so the
    search spreads along the front."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    scaled = (points - lo) / np.where(hi > lo, hi - lo, 1.0)
    w = rng.dirichlet(np.ones(points.shape[1]))
    weighted = scaled * w
    return weighted.max(axis=1) + 0.05 * weighted.sum(axis=1)
