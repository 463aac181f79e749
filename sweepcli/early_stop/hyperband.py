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
from typing import Any

from ..config import Hyperband, SweepConfig
from ..runs import Run, RunState


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


def runs_to_stop(config: SweepConfig, runs: list[Run]) -> list[str]:
    """IDs of the running runs that hyperband says to stop now (see :func:`stop_reasons`)."""
    return list(stop_reasons(config, runs))


def stop_reasons(config: SweepConfig, runs: list[Run]) -> dict[str, str]:
    """The running runs that hyperband says to stop now, each with why in words (the band
    and the value that stopped it, for ``--json``'s ``reason``).

    The cost grows with the number of runs, not with every line they logged. Runs known
    only by a summary (a prior run from a results file: one value, not a history) take no
    part: their value is no band's.
    """
    hb, metric = config.hyperband, config.metric
    if hb is None or metric is None:
        return {}
    sign = metric.sign
    judged = [r for r in runs if r.history and not r.summary_only]
    if not any(r.state == RunState.RUNNING for r in judged):
        return {}
    thresholds = band_thresholds(hb, [r.history for r in judged], sign)
    stop = {}
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
            stop[run.run_id] = (f"hyperband band {band} (step {band}): {what} worse than the "
                                f"band's threshold {sign * threshold:g}")
    return stop
