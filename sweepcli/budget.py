"""What a sweep may spend (``sweepcli.budget``) and when it has stopped improving
(``sweepcli.stop_when``): pure functions of the config, the runs and the time given."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .config.constraints import is_feasible
from .runs import Run, RunState


def _own(runs: Iterable[Run]) -> list[Run]:
    return [r for r in runs if r.prior is None]


def steps_spent(runs: Iterable[Run]) -> int:
    """Metric lines (values of the sweep's metric) logged by the sweep's runs, all attempts."""
    return sum(len(r.history) for r in _own(runs))


def hours_spent(runs: Iterable[Run], now: float) -> float:
    """Run-hours across agents: every attempt's time, a running one's until ``now``."""
    seconds = 0.0
    for r in _own(runs):
        for a in r.attempts:
            start, end = a.get("started_at"), a.get("ended_at")
            if isinstance(start, (int, float)) and isinstance(end, (int, float)) and end > start:
                seconds += end - start
        start = r.attempt_started_at or r.started_at
        end = now if r.state == RunState.RUNNING else r.ended_at
        if start and end is not None and end > start:
            seconds += end - start
    return seconds / 3600.0


def spending(config: Any, runs: Iterable[Run], now: float) -> dict[str, Any] | None:
    """``{"steps"|"hours": {"budget", "spent", "left"}}`` (None without a budget)."""
    budget = config.settings.budget
    if not budget:
        return None
    runs = list(runs)
    out: dict[str, Any] = {}
    if "steps" in budget:
        n = steps_spent(runs)
        out["steps"] = {"budget": budget["steps"], "spent": n, "left": max(0, budget["steps"] - n)}
    if "hours" in budget:
        h = hours_spent(runs, now)
        out["hours"] = {"budget": budget["hours"], "spent": round(h, 4),
                        "left": round(max(0.0, budget["hours"] - h), 4)}
    return out


def budget_spent(config: Any, state: Any, now: float) -> str | None:
    """Why the sweep's budget is spent, or None while some is left."""
    got = spending(config, state.runs.values(), now)
    if not got:
        return None
    for unit, s in got.items():
        if s["left"] <= 0:
            return f"the sweep's budget of {s['budget']:g} {unit} is spent ({s['spent']:g})"
    return None


def no_improvement(config: Any, runs: Iterable[Run], now: float) -> str | None:
    """Why the sweep stops for want of progress (``stop_when.no_improvement``), or None."""
    rule = (config.settings.stop_when or {}).get("no_improvement")
    metric = config.metric
    if not rule or metric is None:
        return None
    ended = sorted((r for r in _own(runs) if r.state != RunState.RUNNING and r.ended_at
                    and r.history), key=lambda r: r.ended_at or 0.0)
    if not ended:
        return None
    best_at, best = 0, None
    limits = getattr(config, "constraints", ())
    for i, r in enumerate(ended):
        if limits and is_feasible(limits, r) is not True:
            continue  # an infeasible run improves nothing
        v = r.best_value(metric.goal)
        if best is None or metric.better(v, best):
            best_at, best = i, v
    if best is None:
        return None  # no feasible run yet: nothing to improve on
    if "runs" in rule and len(ended) - 1 - best_at >= rule["runs"]:
        return (f"no improvement in the last {rule['runs']} runs ({metric.name} best "
                f"{best:g}, run {ended[best_at].run_id})")
    since = ended[best_at].ended_at
    if "hours" in rule and since and (now - since) / 3600.0 >= rule["hours"]:
        return (f"no improvement for {rule['hours']:g} hours ({metric.name} best {best:g}, "
                f"run {ended[best_at].run_id})")
    return None


def endgame(config: Any, runs: list[Run]) -> tuple[int, int] | None:
    """With a budget of steps, once a new run could no longer finish within it: (steps
    left once the running runs have finished, the steps of a whole run); else None. The
    running runs are counted as going the whole way (a rule may stop them sooner)."""
    budget = config.settings.budget
    if not budget or "steps" not in budget:
        return None
    from .early_stop.rungs import full_length

    whole = full_length(runs)
    if whole is None:
        return None
    left = budget["steps"] - steps_spent(runs) - sum(
        max(0, whole - len(r.history)) for r in runs if r.state == RunState.RUNNING)
    return (left, whole) if left < whole else None


def last_promotion(config: Any, runs: list[Run], left: int) -> Run | None:
    """In the endgame: the paused run expected to end best (its value so far and what the
    whole runs gained after that step) among those that can finish in the ``left`` steps."""
    metric = config.metric
    if metric is None:
        return None
    from .search.bayes import Partial

    model = Partial(runs, metric.sign)
    best: tuple[float, Run] | None = None
    for r in runs:
        if r.state != RunState.PAUSED or model.length is None:
            continue
        if model.length - len(r.history) > left:
            continue
        y = model.predict(r)
        if y is not None and (best is None or y < best[0]):
            best = (y, r)
    return best[1] if best else None
