"""What a sweep's runs say: which parameters matter, and a metric axis outliers cannot squash.

Pure functions of plain data (flat parameter dicts and metric values), shared by
``sweep --print``, ``report`` and ``plot``.

**Importance** is the permutation importance of a random forest fitted to the metric
(scikit-learn, installed with scikit-optimize): how much worse the forest predicts the
metric when one parameter's column is shuffled (a categorical's one-hot columns shuffled
together), averaged over repeats and scaled to sum to 1. W&B's panel shows a random
forest's impurity importance; that measure favours parameters with many distinct values
(a continuous parameter that does nothing outranks a two-valued one that decides
everything), the permutation measure does not. **Correlation** is Pearson's r between the
parameter (in log space for a log-distributed one) and the metric, as W&B shows it; for a
categorical, r of the indicator of the value that correlates most. Both read the metric
with diverged runs clipped (``robust_range``), so one run at 1e6 does not decide them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import goals
from ..config import Param, Space, is_number

#: runs with a metric value needed before importance is computed (fewer say nothing)
MIN_RUNS = 10
#: at most this many runs enter the forest (the best third and a spread of the rest)
MAX_ROWS = 1000
METHOD = ("permutation importance of a random forest (scikit-learn, 100 trees) fitted to the "
          "metric; correlation: Pearson's r (log scale for log-distributed parameters)")
FENCE = 1.5  # interquartile ranges past the quartile where the metric axis ends
LOG_DISTRIBUTIONS = frozenset({"log_uniform", "q_log_uniform", "log_uniform_values",
                               "q_log_uniform_values", "log_normal", "q_log_normal",
                               "inv_log_uniform", "inv_log_uniform_values"})


def robust_range(values: list[float], goal: str = "minimize") -> tuple[float, float] | None:
    """The metric axis to show, or None when no value lies far out.

    A value is far out when it lies beyond Tukey's fence (1.5 interquartile ranges past
    the quartile) on the bad side of the goal: a diverged run, or one hyperband stopped at
    its first band. The good side always shows every run. (A fence in log space was tried:
    16 quickstart runs at 0.09-0.67 with two at 1.9 and 2.4 kept them all, squashed.)
    """
    ys = np.array([float(v) for v in values if v is not None and math.isfinite(v)])
    if len(ys) < 4:
        return None
    q1, median, q3 = np.percentile(ys, [25, 50, 75])
    # at least a tenth of the median: runs that agree closely do not make a run 20% worse
    # than them "far out"
    spread = max(q3 - q1, 0.1 * abs(median), 1e-12)
    if goals.sign(goal) < 0:
        inside = ys >= q1 - FENCE * spread
    else:
        inside = ys <= q3 + FENCE * spread
    if inside.all():
        return None
    kept = ys[inside]
    lo, hi = float(kept.min()), float(kept.max())
    pad = 0.05 * ((hi - lo) or abs(hi) or 1.0)
    return lo - pad, hi + pad


def is_log(param: Param | None, values: list[Any]) -> bool:
    """A parameter shown and modelled on a log scale: a log distribution; a list of values
    (numbers > 0) or a parameter the config does not name (a prior run's) that spans three
    decades. A uniform draw is linear, however wide."""
    nums = [v for v in values if is_number(v)]
    if not nums or len(nums) != len(values) or min(nums) <= 0:
        return False
    if param is not None and param.distribution in LOG_DISTRIBUTIONS:
        return True
    if param is not None and not param.is_categorical:
        return False  # uniform, int_uniform, normal, q_uniform...: their own scale
    return max(nums) / min(nums) >= 1000


def is_categorical(param: Param | None, values: list[Any]) -> bool:
    if param is not None and param.is_categorical and not all(is_number(v) for v in values):
        return True
    return not all(is_number(v) for v in values if v is not None)


def importance(space: Space, points: list[dict[str, Any]], values: list[float],
               goal: str = "minimize", seed: int = 0) -> list[dict[str, Any]] | None:
    """Each varying parameter's importance and correlation, most important first; None
    with fewer than ``MIN_RUNS`` runs.

    ``points`` are flat parameter dicts (dotted names), ``values`` their metric values.
    """
    rows = [(p, float(v)) for p, v in zip(points, values) if v is not None and math.isfinite(v)]
    if len(rows) < MIN_RUNS:
        return None
    rng = np.random.default_rng(seed)
    if len(rows) > MAX_ROWS:
        order = np.argsort([goals.sign(goal) * v for _, v in rows])
        keep = np.concatenate([order[:MAX_ROWS // 3],
                               rng.choice(order[MAX_ROWS // 3:], MAX_ROWS - MAX_ROWS // 3,
                                          replace=False)])
        rows = [rows[i] for i in sorted(keep)]
    y = np.array([v for _, v in rows])
    bounds = robust_range(list(y), goal)
    if bounds is not None:
        y = np.clip(y, bounds[0], bounds[1])
    names = [n for n in dict.fromkeys(k for p, _ in rows for k in p)]
    params = {p.name: p for p in space.params}
    columns: list[np.ndarray] = []
    groups: list[tuple[str, list[int], str | None]] = []
    correlations: list[tuple[float | None, str | None]] = []
    for name in names:
        raw = [p.get(name) for p, _ in rows]
        if len({repr(v) for v in raw}) < 2:
            continue  # a constant says nothing
        param = params.get(name)
        if is_categorical(param, raw):
            labels = sorted({str(v) for v in raw})
            cols = [np.array([1.0 if str(v) == lab else 0.0 for v in raw]) for lab in labels]
            best_r, best_label = None, None
            for lab, col in zip(labels, cols):
                r = _pearson(col, y)
                if r is not None and (best_r is None or abs(r) > abs(best_r)):
                    best_r, best_label = r, lab
            groups.append((name, list(range(len(columns), len(columns) + len(cols))), best_label))
            columns.extend(cols)
            correlations.append((best_r, best_label))
            continue
        x = np.array([float(v) if is_number(v) else np.nan for v in raw])
        if np.isnan(x).any():
            x = np.where(np.isnan(x), np.nanmedian(x), x)  # a run without it: the middle
        if is_log(param, raw):
            x = np.log10(x)
        groups.append((name, [len(columns)], None))
        columns.append(x)
        correlations.append((_pearson(x, y), None))
    if not groups:
        return []
    X = np.column_stack(columns)
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(n_estimators=100, min_samples_leaf=2, random_state=seed,
                                   n_jobs=1).fit(X, y)
    base = float(np.mean((forest.predict(X) - y) ** 2))
    gains = []
    for _, where, _ in groups:
        worse: list[float] = []
        for _ in range(5):
            shuffled = X.copy()
            shuffled[:, where] = X[rng.permutation(len(X))][:, where]
            worse.append(float(np.mean((forest.predict(shuffled) - y) ** 2)) - base)
        gains.append(max(float(np.mean(worse)), 0.0))
    total = sum(gains) or 1.0
    out: list[dict[str, Any]] = [{"name": name, "importance": gain / total, "correlation": r,
            "correlation_of": label}
           for (name, _, _), gain, (r, label) in zip(groups, gains, correlations)]
    out.sort(key=lambda d: -d["importance"])
    return out


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])
