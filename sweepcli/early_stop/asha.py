"""Asynchronous successive halving (ASHA, Li et al. 2020), with promotion.

Rungs are at ``min_iter * eta**k`` metric values (steps), below ``max_iter``. A run's
value at a rung is its best over its first ``rung`` values. When a running run has
reached a rung (and its current attempt started below it), it goes on if it is among
the best ``n // eta`` of the ``n`` runs that reached that rung (itself included);
otherwise

* ``promote: true`` (the default): it is **paused** (its folder and checkpoint kept),
  and an agent resumes it, before it claims a new point, as soon as enough runs reached
  the rung for it to be among the best ``n // eta`` there (the best such run of the
  highest rung first);
* ``promote: false``: it is **stopped**, once at least ``eta`` runs reached the rung.

Defaults that need no knowledge of the program: ``max_iter`` is the number of values of
the longest run that finished by itself (until one has, nothing is judged: the first
runs run whole, as a yardstick), one rung, at ``max_iter / eta``, and ``eta`` 2 (52
epochs: one rung at 26, where half the runs go on). Measured on LCBench (README,
Measured; ``benchmarks/sim_lcbench.py``, 6 tasks): runs' order at step 1 says almost
nothing of their order at the end, at 6 a little more, at 17 most; rungs at 6 and 17
with eta 3 lost up to 1 point against no early stopping, the rung at 17 alone with eta 3
lost 1.0 on one task, the rung at 26 with eta 2 never more than 0.1. W&B-style ``s``:
``s`` rungs, at ``max_iter / eta**k`` for k = 1..s; ``min_iter`` given: rungs at
``min_iter * eta**k`` below ``max_iter``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..checks import describe, is_number, is_whole
from ..runs import Run, RunState
from .rungs import fmt, full_length, judged, loss_at

KEYS = ("min_iter", "max_iter", "s", "eta", "promote")
MAX_RUNGS = 60
#: rungs below a whole run when min_iter is not given: one, at max_iter / eta
DEFAULT_S = 1


#: the default keeps half of the runs at the rung (``bench``: LCBench, below)
DEFAULT_ETA = 2.0


@dataclass(frozen=True)
class Asha:
    eta: float = DEFAULT_ETA
    #: None: max_iter / eta**2
    min_iter: int | None = None
    #: None: the length of the longest run that finished by itself
    max_iter: int | None = None
    promote: bool = True
    #: W&B-style: min_iter = max_iter / eta**s
    s: int | None = None
    type = "asha"


def parse(e: dict[str, Any], add: Callable[[str, str], None]) -> Asha | None:
    bad: list[str] = []

    def problem(path: str, message: str) -> None:
        bad.append(path)
        add(path, message)

    eta = e.get("eta", DEFAULT_ETA)
    if not (is_number(eta) and eta > 1):
        problem("early_terminate.eta", f"must be a number > 1, got {describe(eta)}")
    for key in ("min_iter", "max_iter", "s"):
        if key in e and not (is_whole(e[key]) and e[key] >= 1):
            problem(f"early_terminate.{key}", f"must be an integer >= 1, got {describe(e[key])}")
    promote = e.get("promote", True)
    if not isinstance(promote, bool):
        problem("early_terminate.promote", f"must be true or false, got {describe(promote)}")
    if bad:
        return None
    if "s" in e and "min_iter" in e:
        add("early_terminate.s", "give min_iter or s (min_iter = max_iter / eta**s), not both")
        return None
    lo, hi = e.get("min_iter"), e.get("max_iter")
    if lo is not None and hi is not None and lo >= hi:
        add("early_terminate.min_iter", f"must be below max_iter ({int(hi)}), got {int(lo)}")
        return None
    return Asha(float(eta), int(lo) if lo is not None else None,
                int(hi) if hi is not None else None, promote,
                int(e["s"]) if "s" in e else None)


def rungs(rule: Asha, runs: list[Run]) -> list[int]:
    """The rungs (in values logged), lowest first; none while they cannot be known."""
    top = rule.max_iter or full_length(runs)
    lo = rule.min_iter
    if lo is None:
        if top is None:
            return []
        # from the top down: top / eta, ..., top / eta**s (52 epochs, eta 3, s 1: 17)
        s = rule.s if rule.s is not None else DEFAULT_S
        return sorted({max(1, round(top / rule.eta ** k)) for k in range(1, s + 1)} - {top})
    out: list[int] = []
    r = float(lo)
    while len(out) < MAX_RUNGS and (top is None or round(r) < top):
        if not out or round(r) > out[-1]:
            out.append(round(r))
        r *= rule.eta
    return out


def last_step(rule: Asha, runs: list[Run]) -> int | None:
    """How many values a whole run logs: max_iter, else the longest run that finished."""
    return rule.max_iter or full_length(runs)


def _at_rungs(rule: Asha, runs: list[Run], sign: float
              ) -> tuple[list[int], dict[int, list[tuple[float, str]]]]:
    """The rungs, and at each the (loss, run ID) of every run that reached it, best first."""
    marks = rungs(rule, runs)
    table: dict[int, list[tuple[float, str]]] = {r: [] for r in marks}
    for run in runs:
        for r in marks:
            if len(run.history) < r:
                break
            table[r].append((loss_at(run, r, sign), run.run_id))
    for values in table.values():
        values.sort()
    return marks, table


def _rank(table: list[tuple[float, str]], run_id: str) -> int:
    return next(i for i, (_, rid) in enumerate(table) if rid == run_id)


def _rung_of(marks: list[int], run: Run) -> int | None:
    reached = [r for r in marks if len(run.history) >= r]
    return reached[-1] if reached else None


def judge(rule: Asha, metric: Any, runs: list[Run], seen: Mapping[str, int] | None = None
          ) -> dict[str, tuple[str, str]]:
    """The running runs to pause (or stop) at the rung they reached. A rung is judged once
    per run: when it reaches it (``seen``: how many values each run had when it was last
    judged; a run kept at its rung is not paused there later, when slower runs arrive)."""
    seen = seen or {}
    sign = metric.sign
    runs = judged(runs)
    if not any(r.state == RunState.RUNNING for r in runs):
        return {}
    marks, table = _at_rungs(rule, runs, sign)
    out: dict[str, tuple[str, str]] = {}
    for run in runs:
        if run.state != RunState.RUNNING:
            continue
        rung = _rung_of(marks, run)
        if rung is None or run.attempt_from >= rung or seen.get(run.run_id, 0) >= rung:
            continue  # below the first rung, promoted past this one, or kept at it already
        at = table[rung]
        n, rank = len(at), _rank(at, run.run_id)
        keep = math.floor(n / rule.eta)
        if rank < keep:
            continue
        k = marks.index(rung) + 1
        value = sign * at[rank][0]
        where = (f"asha rung {k} (step {rung}): {metric.name} {fmt(value)}, "
                 f"{_ordinal(rank + 1)} of the {n} runs there")
        if rule.promote:
            out[run.run_id] = ("pause", f"{where}; paused until it is among the best "
                               f"1/{fmt(rule.eta)} of them")
        elif n >= rule.eta:
            out[run.run_id] = ("stop", f"{where}, not among the best 1/{fmt(rule.eta)} "
                               f"(the {keep} best reach {fmt(sign * at[keep - 1][0]) if keep else '-'})")
    return out


def promote(rule: Asha, metric: Any, runs: list[Run], exhausted: bool = False
            ) -> tuple[Run, str] | None:
    """The paused run to resume now: among the best ``n // eta`` at its rung, the best of
    the highest rung first. ``exhausted``: no new point can start (grid done, run_cap,
    the budget's end), so no more runs will reach the rungs: the best ``ceil(n / eta)``
    then (a run alone at a rung goes on; the others stay paused, listed as such)."""
    if not rule.promote:
        return None
    runs = judged(runs)
    paused = [r for r in runs if r.state == RunState.PAUSED]
    if not paused:
        return None
    sign = metric.sign
    marks, table = _at_rungs(rule, runs, sign)
    by_id = {r.run_id: r for r in paused}
    for k in range(len(marks) - 1, -1, -1):
        rung = marks[k]
        at = table[rung]
        keep = (math.ceil if exhausted else math.floor)(len(at) / rule.eta)
        for rank, (loss, rid) in enumerate(at[:keep]):
            run = by_id.get(rid)
            if run is not None and _rung_of(marks, run) == rung:
                return run, (f"promoted at asha rung {k + 1} (step {rung}): {metric.name} "
                             f"{fmt(sign * loss)}, {_ordinal(rank + 1)} of the {len(at)} runs there")
    return None


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
