"""What a sweep may spend (``sweepcli.budget``) and when it has stopped improving
(``sweepcli.stop_when``): pure functions of the config, the runs and the time given."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .config.constraints import is_feasible
from .runs import Run, RunState


def _own(runs: Iterable[Run]) -> list[Run]:
    return [r for r in runs if r.prior is None]


def steps_spent(runs: Iterable[Run]) -> int:
    """Metric lines (values of the sweep's metric) logged by the sweep's runs, all attempts."""
    return sum(len(r.history) for r in _own(runs))


def attempt_spans(run: Run, now: float) -> Iterator[tuple[float, float, float]]:
    """Each attempt's (start, end, GPUs given) of a run, the current one's until ``now``
    while it runs; attempts without a whole time span left out."""
    for a in run.attempts:
        start, end = a.get("started_at"), a.get("ended_at")
        if isinstance(start, (int, float)) and isinstance(end, (int, float)) and end > start:
            yield float(start), float(end), float(a.get("gpus", 0.0))
    start = run.attempt_started_at or run.started_at
    end = now if run.state == RunState.RUNNING else run.ended_at
    if start and end is not None and end > start:
        yield float(start), float(end), run.gpus


def hours_spent(runs: Iterable[Run], now: float, gpus: bool = False) -> float:
    """Run-hours across agents: every attempt's time, a running one's until ``now``
    (``gpus``: each attempt's time times the GPUs it was given)."""
    return sum((end - start) * (g if gpus else 1.0) for r in _own(runs)
               for start, end, g in attempt_spans(r, now)) / 3600.0


def spending(config: Any, runs: Iterable[Run], now: float) -> dict[str, Any] | None:
    """``{"steps"|"hours"|"gpu_hours": {"budget", "spent", "left"}}`` (None without a
    budget)."""
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
    if "gpu_hours" in budget:
        g = hours_spent(runs, now, gpus=True)
        out["gpu_hours"] = {"budget": budget["gpu_hours"], "spent": round(g, 4),
                            "left": round(max(0.0, budget["gpu_hours"] - g), 4)}
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


def one_length(runs: Iterable[Run]) -> bool:
    """Whether every run that finished by itself logged as many values (the program's
    length is fixed, not a parameter)."""
    lengths = {len(r.history) for r in _own(runs) if r.state == RunState.FINISHED
               and r.history and not r.summary_only}
    return len(lengths) == 1


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


#: the most points ``progress`` gives (a curve, thinned evenly beyond that)
PROGRESS_POINTS = 200


def progress(config: Any, runs: Iterable[Run], now: float) -> dict[str, Any] | None:
    """The best value against what was spent: ``{"unit", "budget", "points": [[spent, best],
    ...]}``, a point at each run's end (at most ``PROGRESS_POINTS``, evenly thinned) and one
    for now, in the budget's unit (its first of steps, hours, gpu_hours; steps without a
    budget). Hours are exact (each attempt's time up to then); steps are what each run had
    logged by then, its lines taken as spread evenly over its time (they carry no time of
    their own). None without a metric, with several objectives, or before any value."""
    import numpy as np

    metric = config.metric
    if metric is None or getattr(config, "multi", False):
        return None
    runs = _own(runs)
    budget = config.settings.budget or {}
    unit = next((u for u in ("steps", "hours", "gpu_hours") if u in budget), "steps")
    limits = getattr(config, "constraints", ())
    # what was spent, as intervals (start, end) with a weight: hours are the weight times
    # the interval's part before t; steps the weight times its fraction before t
    spans: list[tuple[float, float, float]] = []
    for r in runs:
        if unit == "steps":
            last = r.ended_at if r.state != RunState.RUNNING and r.ended_at else now
            if r.history:
                spans.append((r.started_at, max(last, r.started_at + 1e-9),
                              float(len(r.history))))
            continue
        spans += [(begun, ended, (g if unit == "gpu_hours" else 1.0) / 3600.0)
                  for begun, ended, g in attempt_spans(r, now)]
    arr = np.asarray(spans, dtype=float).reshape(-1, 3)

    def spent_at(times: list[float]) -> list[float]:
        t = np.asarray(times, dtype=float)[:, None]
        start, end, w = arr[:, 0], arr[:, 1], arr[:, 2]
        part = np.clip(np.minimum(end, t) - start, 0.0, None)
        if unit == "steps":
            part = part / (end - start)
        return [round(float(x), 4) for x in (part * w).sum(axis=1)]

    ended = sorted((r for r in runs if r.state != RunState.RUNNING and r.ended_at),
                   key=lambda r: r.ended_at or 0.0)
    bests: list[tuple[float, float]] = []  # (time, best so far) after each run that counts
    best: float | None = None
    steps: list[tuple[float, list[Run]]] = [(e.ended_at or now, [e]) for e in ended]
    steps.append((now, [x for x in runs if x.state == RunState.RUNNING]))
    for t, pool in steps:
        for x in pool:
            if not x.history or (limits and is_feasible(limits, x) is False):
                continue
            v = x.best_value(metric.goal)
            if best is None or metric.better(v, best):
                best = v
        if best is not None:
            bests.append((t, best))
    if not bests:
        return None
    if len(bests) > PROGRESS_POINTS:
        step = len(bests) / PROGRESS_POINTS
        bests = [bests[int(i * step)] for i in range(PROGRESS_POINTS - 1)] + [bests[-1]]
    spent = spent_at([t for t, _ in bests])
    return {"unit": unit, "budget": budget.get(unit),
            "points": [[x, b] for x, (_, b) in zip(spent, bests)]}
