"""Which way is better, said once: a goal (``minimize``/``maximize``) as a sign, a
comparison, the best of some values, and the best so far along them. Every layer that
orients a metric (the config's ``Metric``, runs, the search, the reports) asks here."""

from __future__ import annotations

from collections.abc import Iterable

MAXIMIZE = "maximize"


def sign(goal: str) -> float:
    """+1 to minimise, -1 to maximise: ``sign * value`` is a loss (lower is better)."""
    return -1.0 if goal == MAXIMIZE else 1.0


def better(a: float, b: float, goal: str) -> bool:
    """Whether ``a`` is strictly better than ``b``."""
    return a > b if goal == MAXIMIZE else a < b


def best(values: Iterable[float], goal: str) -> float | None:
    """The best of ``values`` (None: there are none)."""
    values = list(values)
    if not values:
        return None
    return max(values) if goal == MAXIMIZE else min(values)


def best_so_far(values: Iterable[float], goal: str) -> list[float]:
    """The best value up to each one, in order."""
    out: list[float] = []
    for v in values:
        out.append(v if not out or better(v, out[-1], goal) else out[-1])
    return out


def pick(smallest: float, largest: float, goal: str) -> float:
    """Of a run's smallest and largest value, the one its goal calls best."""
    return largest if goal == MAXIMIZE else smallest
