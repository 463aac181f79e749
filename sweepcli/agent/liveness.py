"""Who is dead, and what happens to their runs: a pure judgement of heartbeats with the
clocks passed in, and the two places that act on it (an agent's claim; a one-shot look).

A run whose heartbeat is silent past its timeout (the larger of the reader's and the one
its own agent declared in its claim), as this observer has seen it on its own monotonic
clock or as the store's timestamps say against the store's clock, is a *suspect*; it is
dead only if it is still unchanged one of its agent's heartbeat intervals (at most 10 s)
later. A live agent beats within that time however far clocks are off and after however
long a stall (a lock held for minutes, a stopped process resumed), so no live run is
crashed. A dead run ends as the end its agent kept in its folder says (it finished, but
could not take the lock in time), else ``crashed`` (its point resumed), or ``failed`` once
it has crashed ``sweepcli.max_retries`` times more after its first crash.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..runs import Run, RunState
from ..store import Sweep
from ..store.events import end_event


@dataclass
class Silence:
    """What one observer has seen of the running runs' heartbeats, between its looks."""

    #: run -> (its stamp, on this observer's monotonic clock since when unchanged)
    seen: dict[str, tuple[float | None, float]] = field(default_factory=dict)
    #: run -> (its stamp, suspect since (monotonic), how long to watch it stay silent)
    suspects: dict[str, tuple[float | None, float, float]] = field(default_factory=dict)


def judge(running: list[Run], stamps: dict[str, float | None], now: float, mono: float,
          timeout: float, silence: Silence) -> tuple[list[str], float | None]:
    """The running runs confirmed dead now, and how long until the next suspect can be
    judged (None: no suspect). ``stamps``: each run's last heartbeat by the store's clock
    (None: none yet); ``now``: the store's clock; ``mono``: this observer's monotonic
    clock; ``silence``: what it saw before (updated)."""
    live = {r.run_id for r in running}  # forget what we watched of runs that ended
    silence.seen = {rid: s for rid, s in silence.seen.items() if rid in live}
    silence.suspects = {rid: s for rid, s in silence.suspects.items() if rid in live}
    dead: list[str] = []
    next_look: float | None = None
    for run in running:
        limit = max(timeout, run.heartbeat_timeout or 0.0)
        beat = stamps.get(run.run_id)
        seen = silence.seen.get(run.run_id)
        if seen is None or seen[0] != beat:
            silence.seen[run.run_id] = (beat, mono)
            observed = 0.0
        else:
            observed = mono - seen[1]
        stamped = now - beat if beat is not None else 0.0
        suspect = silence.suspects.get(run.run_id)
        if suspect is not None and suspect[0] != beat:
            del silence.suspects[run.run_id]  # it beat: alive after all
            suspect = None
        if suspect is None:
            if observed <= limit and stamped <= limit:
                continue
            suspect = silence.suspects[run.run_id] = (beat, mono, min(10.0, limit / 4) + 0.5)
        if mono - suspect[1] >= suspect[2]:
            dead.append(run.run_id)
        else:
            left = suspect[1] + suspect[2] - mono
            next_look = left if next_look is None else min(next_look, left)
    for rid in dead:
        del silence.suspects[rid]
    return dead, next_look


def crash_event(run: Run, max_retries: int) -> dict[str, Any]:
    """The end of a run whose agent vanished: ``crashed`` (its point is resumed), or
    ``failed`` once it has crashed ``max_retries`` times more after its first crash."""
    crashes = run.crashes + 1
    if crashes > max_retries:
        return end_event(run.run_id, RunState.FAILED, attempt=run.attempt, crash=True,
                         reason=f"crashed {crashes} times (sweepcli.max_retries {max_retries}): "
                                "not retried again; --rerun-failed puts it back")
    return end_event(run.run_id, RunState.CRASHED, attempt=run.attempt, crash=True,
                     reason="heartbeat lost")


def end_dead_runs(sweep: Sweep, timeout: float, silence: Silence,
                  mono: Callable[[], float] = time.monotonic) -> tuple[list[str], float | None]:
    """With the lock held: judge the running runs, and record the end of the dead ones (the
    end their agent kept, else a crash). Returns them, and when to look again."""
    running = sweep.state.running()
    if not running:
        silence.seen.clear()
        silence.suspects.clear()
        return [], None
    now, stamps = sweep.beats([r.run_id for r in running])
    dead, next_look = judge(running, stamps, now, mono(), timeout, silence)
    if dead:
        limit = sweep.config.settings.max_retries
        sweep.append(*(event for rid in dead for event in (
            sweep.kept_end(sweep.state.runs[rid]) or [crash_event(sweep.state.runs[rid], limit)])))
    return dead, next_look


def end_silent_runs(sweep: Sweep, timeout: float, say: Callable[[str], None] | None = None,
                    sleep: Callable[[float], None] = time.sleep,
                    mono: Callable[[], float] = time.monotonic) -> list[str]:
    """What a one-shot reader (``--print``) does: the same judgement, waiting outside the
    lock for its suspects' interval (saying so) instead of leaving them to a later look."""
    silence = Silence()
    with sweep.lock:
        sweep.refresh()
        dead, wait = end_dead_runs(sweep, timeout, silence, mono)
    if wait is not None and say is not None:
        say(f"run(s) {', '.join(silence.suspects)}: heartbeat silent past the timeout; "
            "watching for one heartbeat interval before calling it crashed")
    for _ in range(4):  # each suspect is judged once its own interval has passed
        if wait is None:
            break  # (a clock far ahead makes live runs suspects again: not forever)
        sleep(wait)
        with sweep.lock:
            sweep.refresh()
            more, wait = end_dead_runs(sweep, timeout, silence, mono)
        dead += more
    return dead
