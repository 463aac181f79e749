"""When an agent stops taking runs, and when a run must end for the agent's own reasons:
pure functions of what it has seen, the clock passed in."""

from __future__ import annotations

import os
from collections.abc import Mapping

from .endings import Ending
from ..runs import Run, RunState

FLAP_WINDOW = 60.0  # seconds: failures this early stop a flapping agent sooner


def is_flapping(states: list[RunState], elapsed: float, max_initial: int = 5) -> bool:
    """W&B's rule: an agent whose every run so far failed stops, after 3 failures within its
    first minute or ``max_initial`` (5) in all (a broken program, not unlucky parameters)."""
    if not states or any(s != RunState.FAILED for s in states):
        return False
    return len(states) >= max_initial or (len(states) >= min(3, max_initial)
                                          and elapsed < FLAP_WINDOW)


def failed_in_a_row(states: list[RunState]) -> int:
    """How many runs failed one after another at the end of ``states``."""
    n = 0
    for s in reversed(states):
        if s != RunState.FAILED:
            break
        n += 1
    return n


def time_spent(run: Run) -> float | None:
    """A finished run's running time: its attempts' durations added up."""
    spans = [(a["started_at"], a["ended_at"]) for a in run.attempts]
    spans.append((run.attempt_started_at, run.ended_at))
    if not all(start and end and end >= start for start, end in spans):
        return None
    return sum(end - start for start, end in spans)


def median_duration(runs: list[Run]) -> float | None:
    """How long a run takes: the median running time of the finished runs (None: none yet)."""
    took = sorted(t for r in runs if r.state == RunState.FINISHED
                  and (t := time_spent(r)) is not None)
    if not took:
        return None
    mid = len(took) // 2
    return took[mid] if len(took) % 2 else (took[mid - 1] + took[mid]) / 2


def flapping_disabled(environ: Mapping[str, str] = os.environ) -> bool:
    """``SWEEPCLI_AGENT_DISABLE_FLAPPING`` (or W&B's ``WANDB_AGENT_DISABLE_FLAPPING``)."""
    return any(environ.get(v, "").strip().lower() in ("1", "true", "yes")
               for v in ("SWEEPCLI_AGENT_DISABLE_FLAPPING", "WANDB_AGENT_DISABLE_FLAPPING"))


def run_limit(started: float, now: float, run_timeout: float | None, deadline: float | None,
              margin: float) -> Ending | None:
    """``TIMEOUT`` when a run started at ``started`` outlived its run_timeout, ``WALLTIME``
    when the agent's time limit (``deadline``) is less than ``margin`` away; else None."""
    if run_timeout is not None and now - started >= run_timeout:
        return Ending.TIMEOUT
    if deadline is not None and deadline - now <= margin:
        return Ending.WALLTIME
    return None


def nothing_fits(deadline: float | None, now: float, margin: float, runs: list[Run],
                 resume: Run | None = None, started: float | None = None) -> str | None:
    """Why no run should start before the agent's time limit, or None when one may (a run
    takes about the median of the finished ones; ``resume``, the run an agent would take
    next to resume it, needs only what it has not run yet). ``started``: when this agent
    (its job) began; a run longer than any job of this length starts all the same (it is
    resumed by the next job), so a requeued job always has work it can do."""
    if deadline is None:
        return None
    left = deadline - now - margin
    if left <= 0:
        return (f"its time limit is reached (less the {margin:.0f} s it keeps to stop a run "
                "cleanly)")
    expected = median_duration(runs)
    if expected is None or expected <= left:
        return None
    spent = time_spent(resume) if resume is not None else None
    if spent is not None and expected - spent <= left:
        return None  # the preempted run it resumes next can finish in what is left
    if started is not None and expected > deadline - started - margin:
        return None  # no job of this length holds a whole run: it runs on in the next job
    return (f"a run takes about {expected:.0f} s (the median of the finished ones), "
            f"and {max(left, 0):.0f} s are left before its time limit (less the "
            f"{margin:.0f} s it keeps to stop a run cleanly)")
