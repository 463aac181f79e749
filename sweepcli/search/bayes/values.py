"""What the model is told of each run: its value as a loss (best over its history;
``metric.impute`` for failed runs; ``impute_while_running``; what a run stopped early would
have reached, ``Partial``), several objectives scalarised (ParEGO), and which runs are
kept past ``max_history``."""

from __future__ import annotations

import os

import numpy as np

from ...config import SweepConfig
from ...runs import Run, RunState

_IMPUTED = (RunState.FAILED, RunState.CRASHED, RunState.KILLED)


def _parego_values(config: SweepConfig, runs: list[Run], rng: np.random.Generator
                   ) -> tuple[list[Run], list[float], list[Run]]:
    """Several objectives: each ended run with a value of every objective scalarised by
    one random ParEGO weighting (``pareto.parego_losses``); failed runs, and runs missing
    an objective, get the worst scalar; running runs are pending."""
    from ...pareto import losses, parego_losses

    pending = [r for r in runs if r.state == RunState.RUNNING]
    ended = [r for r in runs if r.state not in (RunState.RUNNING, RunState.PREEMPTED)]
    valued, points = losses(config, [r for r in ended if r.state not in _IMPUTED])
    ys = list(parego_losses(points, rng)) if valued else []
    worst = max(ys) if ys else 0.0
    seen = {r.run_id for r in valued}
    rest = [r for r in ended if r.run_id not in seen]
    return valued + rest, ys + [worst] * len(rest), pending


def run_values(config: SweepConfig, runs: list[Run], rng: np.random.Generator | None = None
               ) -> tuple[list[Run], list[float], list[Run]]:
    """(runs with a value, their values to minimise, runs still going).

    Imputation follows ``metric.impute``: ``worst`` (default) gives failed, crashed and
    killed runs the worst observed value, ``best`` the best, ``latest`` the run's own last
    value when it logged one. Preempted runs are left out: their point runs again. Running
    runs are pending, or valued per ``metric.impute_while_running`` once they logged one.
    """
    return _run_values(config, runs, rng)


def _run_values(config: SweepConfig, runs: list[Run], rng: np.random.Generator | None = None
                ) -> tuple[list[Run], list[float], list[Run]]:
    if config.multi:
        return _parego_values(config, runs, rng if rng is not None else np.random.default_rng(0))
    m = config.metric
    assert m is not None
    sign = m.sign
    observed: list[tuple[Run, float]] = []
    pending: list[Run] = []
    to_impute: list[Run] = []
    live: list[Run] = []
    whole = Partial(runs, sign) if PARTIAL != "best" else None
    for r in runs:
        if r.state == RunState.RUNNING:
            (live if m.impute_while_running != "false" and r.history else pending).append(r)
        elif r.state == RunState.PREEMPTED:
            continue
        elif whole is not None and whole.is_partial(r):
            y = whole.predict(r)
            if y is None:
                pending.append(r)  # nothing to say yet what it would have reached
            else:
                observed.append((r, y))
        elif r.state in _IMPUTED or not r.history:
            to_impute.append(r)
        else:
            observed.append((r, sign * r.best_value(m.goal)))  # best, as a loss (kept per run)
    ys = [y for _, y in observed]
    if to_impute:
        worst = max(ys) if ys else 0.0
        best = min(ys) if ys else 0.0
        for r in to_impute:
            if m.impute == "best":
                y = best
            elif m.impute == "latest" and r.history:
                y = sign * r.history[-1]
            else:
                y = worst
            observed.append((r, y))
    for r in live:
        if m.impute_while_running == "latest":
            y = sign * r.history[-1]
        elif m.impute_while_running == "best":
            y = sign * r.best_value(m.goal)
        elif ys:
            y = max(ys)  # worst: the worst value of the ended runs
        else:
            pending.append(r)  # no ended run yet: nothing to call worst
            continue
        observed.append((r, y))
    return [r for r, _ in observed], [y for _, y in observed], pending


#: how a run stopped or paused before its end enters the model (``SWEEPCLI_BAYES_PARTIAL``,
#: for benchmarks): ``auto`` (the default: ``shrunk``), ``shrunk``, ``rank``, ``delta``,
#: ``pending`` or ``best`` (its best so far, as W&B does and sweepcli did); see Partial
PARTIAL = os.environ.get("SWEEPCLI_BAYES_PARTIAL", "auto")


class Partial:
    """What a run ended before its last step would have reached. A stopped run's epoch-3
    value is not an epoch-52 one: told as it is, it teaches the model that the regions
    stopped early are bad. Options (``SWEEPCLI_BAYES_PARTIAL``): ``best`` its best so far
    (W&B's rule, sweepcli's before); ``delta`` that plus the median gain after step ``s``
    of the runs that went the whole way; ``rank`` the final value of the whole runs at the
    rank it held among them at ``s``; ``shrunk`` (the default) that, pulled toward the
    whole runs' median final value as far as their order at ``s`` fails to tell their
    final order (1 - Spearman's correlation on the sweep's own whole runs). Why shrunk:
    the smallest error at every step, the worst third's too (``docs/decisions/bayes.md``,
    measured by ``benchmarks/partial_lcbench.py``)."""

    def __init__(self, runs: list[Run], sign: float):
        from ...early_stop.rungs import full_length

        self.sign = sign
        self.length = full_length(runs)
        self.whole = [r for r in runs if r.state == RunState.FINISHED and not r.summary_only
                      and self.length is not None and len(r.history) >= self.length]
        self.finals = np.array([sign * r.best_value(("minimize" if sign > 0 else "maximize"))
                                for r in self.whole])
        self._at: dict[int, np.ndarray] = {}
        self._rho: dict[int, float] = {}

    def is_partial(self, run: Run) -> bool:
        return (run.state in (RunState.STOPPED, RunState.PAUSED) and bool(run.history)
                and not run.summary_only and (self.length is None or len(run.history) < self.length))

    def _losses_at(self, step: int) -> np.ndarray:
        got = self._at.get(step)
        if got is None:
            got = np.array([min(self.sign * v for v in r.history[:step]) for r in self.whole])
            self._at[step] = got
        return got

    def _trust(self, step: int) -> float:
        """How far the whole runs' order at ``step`` tells their final order: Spearman's
        correlation between their values there and their final values, in [0, 1]."""
        got = self._rho.get(step)
        if got is None:
            at, finals = self._losses_at(step), self.finals
            if len(at) < 3 or np.ptp(at) == 0 or np.ptp(finals) == 0:
                got = 0.0
            else:
                ra = np.argsort(np.argsort(at)).astype(float)
                rb = np.argsort(np.argsort(finals)).astype(float)
                got = float(max(0.0, min(1.0, np.corrcoef(ra, rb)[0, 1])))
            self._rho[step] = got
        return got

    def predict(self, run: Run, how: str | None = None) -> float | None:
        how = how or PARTIAL
        if len(self.whole) < 2:
            return None
        step = len(run.history)
        mine = min(self.sign * v for v in run.history)
        at = self._losses_at(step)
        if how in ("rank", "auto", "shrunk"):
            q = (np.sum(at < mine) + 0.5 * np.sum(at == mine)) / len(at)
            by_rank = float(np.quantile(self.finals, min(1.0, max(0.0, q))))
            if how == "rank":
                return by_rank
            if how in ("shrunk", "auto"):
                # toward the whole runs' median final value as far as the order at this
                # step fails to tell the final order (at step 1 on LCBench it hardly does)
                middle = float(np.median(self.finals))
                return middle + self._trust(step) * (by_rank - middle)
        if how == "pending":
            return None
        return float(mine + np.median(self.finals - at))


def _cap_history(runs: list[Run], ys: list[float], cap: int, rng: np.random.Generator
                 ) -> tuple[list[Run], list[float]]:
    """Keep the best third and a random spread of the rest (W&B keeps 100 at random)."""
    if len(runs) <= cap:
        return runs, ys
    from .gp import best_and_spread

    keep = best_and_spread(np.asarray(ys), cap, rng)
    return [runs[i] for i in keep], [ys[i] for i in keep]
