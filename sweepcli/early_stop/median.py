"""The median stopping rule (Golovin et al. 2017, Google Vizier; Optuna's MedianPruner).

A running run that has logged ``t >= min_iter`` values is stopped when its best value so
far is worse than the median of the best values over their first ``t`` values of the
other runs that ended having logged at least ``t``, once ``min_runs`` runs have ended
with values. ``min_iter`` defaults to a quarter of a whole run (the longest run that
finished by itself; nothing is judged before one has): the first epochs mislead
(README, Measured).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import describe, is_whole
from ..runs import Run, RunState
from .rungs import fmt, full_length, judged, loss_at

KEYS = ("min_iter", "min_runs")


@dataclass(frozen=True)
class Median:
    #: None: a quarter of a whole run
    min_iter: int | None = None
    min_runs: int = 5
    type = "median"


def parse(e: dict[str, Any], add: Callable[[str, str], None]) -> Median | None:
    ok = True
    for key in KEYS:
        if key in e and not (is_whole(e[key]) and e[key] >= 1):
            add(f"early_terminate.{key}", f"must be an integer >= 1, got {describe(e[key])}")
            ok = False
    if not ok:
        return None
    return Median(int(e["min_iter"]) if "min_iter" in e else None, int(e.get("min_runs", 5)))


def judge(rule: Median, metric: Any, runs: list[Run],
          seen: Any = None) -> dict[str, tuple[str, str]]:
    sign = metric.sign
    runs = judged(runs)
    running = [r for r in runs if r.state == RunState.RUNNING]
    ended = [r for r in runs if r.state not in (RunState.RUNNING, RunState.PAUSED)]
    if not running or len(ended) < rule.min_runs:
        return {}
    start = rule.min_iter
    if start is None:
        whole = full_length(runs)
        if whole is None:
            return {}
        start = max(1, round(whole / 4))
    out: dict[str, tuple[str, str]] = {}
    for run in running:
        t = len(run.history)
        if t < start:
            continue
        others = [loss_at(r, t, sign) for r in ended if len(r.history) >= t]
        if not others:
            continue
        middle = float(np.median(others))
        mine = loss_at(run, t, sign)
        if mine > middle:
            out[run.run_id] = ("stop", f"median rule at step {t}: {metric.name} {fmt(sign * mine)} "
                               f"(its best) worse than the median {fmt(sign * middle)} of "
                               f"{len(others)} ended runs at that step")
    return out
