"""W&B's hyperband stopping rule, as a pure function of the config and the runs.

A run's history is the list of finite values of ``metric.name`` it has logged. Bands are
counted from 1, as W&B's engine counts them today: a run reaches band ``b`` once it has
``b`` values, and its value there is its ``b``-th (``history[b - 1]``; W&B 0.2.0 read
``history[b]``, one line later). The threshold of a band is the value at index
``int(n / eta)`` (W&B's ``int((1 / eta) * n)``) of the sorted values at that band of the
``n`` runs (any state) that reached it; lower is better (maximize negates). A running run
is stopped when, at the last band it has reached, its value at the band (``strict``, the
default) or its best value so far (``strict: false``, W&B's older rule) is worse than the
threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..checks import describe, is_number, is_whole
from ..runs import Run, RunState
from . import rungs

MAX_BANDS = 1000  # more is a typo (eta a hair above 1), not a schedule
KEYS = ("min_iter", "max_iter", "s", "eta", "strict")


@dataclass(frozen=True)
class Hyperband:
    bands: tuple[int, ...]
    eta: float
    strict: bool = True
    #: W&B's max_iter when given: the length of a whole run
    max_iter: int | None = None
    type = "hyperband"


def parse(e: dict[str, Any], add: Callable[[str, str], None]) -> Hyperband | None:
    """W&B's keys: ``min_iter``, or ``max_iter`` with ``s``; ``eta``; ``strict`` (ours)."""
    before: list[str] = []

    def problem(path: str, message: str) -> None:
        before.append(path)
        add(path, message)

    eta = e.get("eta", 3)
    if not (is_number(eta) and eta > 1):
        problem("early_terminate.eta", f"must be a number > 1, got {describe(eta)}")
    strict = e.get("strict", True)
    if not isinstance(strict, bool):
        problem("early_terminate.strict", f"must be true or false, got {describe(strict)}")
    # every key given is checked; W&B's engine takes max_iter with s first, else min_iter
    if "min_iter" in e and not (is_whole(e["min_iter"]) and e["min_iter"] >= 1):
        problem("early_terminate.min_iter", f"must be an integer >= 1, got {describe(e['min_iter'])}")
    if "max_iter" in e and not is_whole(e["max_iter"]):
        problem("early_terminate.max_iter", f"must be an integer, got {describe(e['max_iter'])}")
    if "s" in e and not (is_whole(e["s"]) and e["s"] >= 1):
        problem("early_terminate.s", f"must be an integer >= 1, got {describe(e['s'])}")
    by_max = "max_iter" in e and "s" in e
    if not by_max and "min_iter" not in e:
        problem("early_terminate", "needs min_iter, or max_iter and s")
    elif not by_max and ("max_iter" in e or "s" in e):
        given = "max_iter" if "max_iter" in e else "s"
        problem(f"early_terminate.{given}", "needs both max_iter and s (W&B's engine takes "
                "max_iter with s before min_iter): give the other, or remove it")
    if before:
        return None
    if not by_max:
        bands, band = [], float(e["min_iter"])
        for _ in range(100):
            bands.append(int(band))
            band *= eta
            if band > 2**40:
                break
    else:
        bands, band = [], float(e["max_iter"])
        for _ in range(int(min(e["s"], MAX_BANDS + 1))):
            band /= eta
            if band < 1:
                break
            bands.append(int(band))
        if len(bands) > MAX_BANDS:
            add("early_terminate.s", f"gives more than {MAX_BANDS} bands (s {e['s']:g}, "
                f"eta {eta:g}): use a smaller s or a larger eta")
            return None
        if not bands:
            add("early_terminate", f"max_iter {e['max_iter']} / eta {eta} is below 1: no "
                "band to stop at; raise max_iter or lower eta")
            return None
    return Hyperband(tuple(sorted(set(bands))), float(eta), strict,
                     int(e["max_iter"]) if by_max else None)


def last_step(hb: Hyperband, runs: list[Run]) -> int | None:
    """How many values a whole run logs, when the config says (W&B's max_iter)."""
    return hb.max_iter


def band_thresholds(hb: Hyperband, histories: list[Any], sign: float = 1.0
                    ) -> list[tuple[int, float]]:
    """(band, threshold) for every band; ``inf`` where no run has reached the band yet.

    Values are oriented by ``sign`` (-1 to maximise) so that lower is better; only the
    values at the bands are read, never whole histories.
    """
    out = []
    r = 1.0 / hb.eta
    for band in hb.bands:
        values = sorted(sign * h[band - 1] for h in histories if len(h) >= band)
        out.append((band, values[int(r * len(values))] if values else math.inf))
    return out


def judge(hb: Hyperband, metric: Any, runs: list[Run],
          seen: Any = None) -> dict[str, tuple[str, str]]:
    """The running runs that hyperband says to stop now, each with why in words (the band
    and the value that stopped it, for ``--json``'s ``reason``).

    The cost grows with the number of runs, not with every line they logged. Runs known
    only by a summary (a prior run from a results file: one value, not a history) take no
    part: their value is no band's.
    """
    sign = metric.sign
    judged = rungs.judged(runs)
    if not any(r.state == RunState.RUNNING for r in judged):
        return {}
    thresholds = band_thresholds(hb, [r.history for r in judged], sign)
    stop: dict[str, tuple[str, str]] = {}
    for run in judged:
        if run.state != RunState.RUNNING:
            continue
        h = run.history
        reached = [(b, t) for b, t in thresholds if len(h) >= b]
        if not reached:
            continue
        band, threshold = reached[-1]
        value = sign * (h[band - 1] if hb.strict else run.best_value(metric.goal))
        if value > threshold:
            what = f"{metric.name} {sign * value:g}" + ("" if hb.strict else " (its best)")
            stop[run.run_id] = ("stop", f"hyperband band {band} (step {band}): {what} worse than the "
                                f"band's threshold {sign * threshold:g}")
    return stop
