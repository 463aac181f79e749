"""What the rules share: a run's value at a step, and the length of a whole run."""

from __future__ import annotations

from collections.abc import Iterable

from ..runs import Run, RunState


def judged(runs: Iterable[Run]) -> list[Run]:
    """Runs whose history a rule reads: the sweep's own (a prior run known only by a
    summary has no values at steps)."""
    return [r for r in runs if r.history and not r.summary_only]


def loss_at(run: Run, step: int, sign: float) -> float:
    """The run's best value over its first ``step`` values, as a loss (lower is better)."""
    h = run.history
    return min(sign * v for v in h[:step])


def full_length(runs: Iterable[Run]) -> int | None:
    """The number of values a whole run logs: the longest history of a run that finished
    by itself (None until one has)."""
    lengths = [len(r.history) for r in runs if r.state == RunState.FINISHED
               and r.history and not r.summary_only]
    return max(lengths) if lengths else None


def fmt(value: float) -> str:
    return f"{value:.6g}"
