"""What an agent does next, decided from the sweep's state (a pure function), and the
claim itself, made under the sweep's lock."""

from __future__ import annotations

import os

import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from ..budget import budget_spent, endgame, last_promotion, no_improvement, one_length
from ..config import SweepConfig
from ..config.constraints import is_feasible
from ..config.space import NoPointAllowed
from ..early_stop import promotion
from ..runs import REQUEUED_STATES, Run, RunState
from ..search import Suggestion, method_of, ruled_out, suggest
from ..search import pbt
from ..store import Sweep
from ..store.events import Control, SweepState, attempt_event, claim_event
from ..store.sweep_folder import agent_name
from .liveness import Silence, end_dead_runs


class Kind(str, Enum):
    """What ``decide`` says an agent does now (a str, so "run" compares equal to it)."""

    RUN = "run"
    WAIT = "wait"
    DONE = "done"


@dataclass(frozen=True)
class Decision:
    """``run`` (with a suggestion), ``wait`` (paused, or runs still going) or ``done``."""

    action: Kind
    reason: str = ""
    suggestion: Suggestion | None = None
    retry_of: str | None = None
    queued: str | None = None
    #: pbt: the member's next segment (its config, the donor it copies, why)
    segment: pbt.Segment | None = None


def target_reached(config: SweepConfig, runs: list[Run]) -> Run | None:
    """The first run whose value reached ``metric.target``, if any."""
    m = config.metric
    if m is None or m.target is None:
        return None
    for run in runs:
        if m.reached_target(run.best(m.goal)) and (
                not config.constraints or is_feasible(config.constraints, run) is True):
            return run  # (an infeasible run's value reaches nothing)
    return None


def retry_queue(config: SweepConfig, state: SweepState) -> list[Run]:
    """Ended runs to resume, oldest first: crashed and preempted runs, and failed ones
    marked by ``--rerun-failed`` (not yet taken by a later run, in journals written before
    runs were resumed in place). A point of an earlier config that today's space no longer
    holds is not run again."""
    return [
        r
        for r in state.runs.values()
        if r.run_id not in state.retried
        and r.prior is None  # a prior run's point was another sweep's business
        and (r.state in REQUEUED_STATES or (r.requeued and r.state == RunState.FAILED))
        and (r.revision == config.revision or config.space.holds(r.params))
    ]


def queued_points(config: SweepConfig, state: SweepState) -> list[tuple[str, dict[str, Any]]]:
    """Enqueued points not yet taken, in order, that today's space holds (a point an
    ``--update`` left outside the space waits, shown, and is not run)."""
    return [(pid, p) for pid, p in state.queue.items() if config.space.holds(p)]


def decide(config: SweepConfig, state: SweepState, rng: np.random.Generator | None,
           now: float | None = None, search: bool = True) -> Decision:
    """The next step for an agent, given everything the journal says (and the time, for
    budgets in hours: ``now``, else the clock's), in one order: the user's control, the
    target, the budget, runs to resume, promotions, enqueued points, run_cap, the search.
    ``search`` False (what ``--print`` asks): whether a new point could start, without
    searching for one (the method says whether it is exhausted)."""
    if state.control == Control.CANCELED:
        return Decision(Kind.DONE, "the sweep was canceled")
    if state.control == Control.STOPPED:
        return Decision(Kind.DONE, "the sweep was stopped")
    if state.control == Control.PAUSED:
        return Decision(Kind.WAIT, "the sweep is paused")
    runs = list(state.runs.values())
    reached = target_reached(config, runs)
    if reached is not None and config.metric is not None:
        return Decision(Kind.DONE, f"run {reached.run_id} reached metric.target "
                                f"({config.metric.name} = {reached.best(config.metric.goal):g})")
    now = time.time() if now is None else now
    spent = budget_spent(config, state, now) or no_improvement(config, runs, now)
    if spent is not None:
        return Decision(Kind.DONE, spent)
    retry = retry_queue(config, state)
    if retry:  # resumed: the next attempt of the same run, in its own folder
        r = retry[0]
        return Decision(Kind.RUN, f"resuming {r.state} run {r.run_id} (attempt {r.attempt + 1})",
                        Suggestion(dict(r.params), r.grid_index), retry_of=r.run_id)
    if config.pbt is not None:
        member = _pbt_decision(config, runs, rng, search)
        if member is not None:
            return member
    promoted = promotion(config, runs)
    short = endgame(config, runs)
    if promoted is None and short is not None:
        # a new run could not finish within the budget: the paused run that promises most
        # and can finish is taken instead
        last = last_promotion(config, runs, short[0])
        if last is not None:
            promoted = (last, f"the budget left ({short[0]} steps) cannot finish a new run "
                              f"({short[1]} steps); this one can")
    if promoted is not None:  # paused at a rung, and now among the best there: resumed
        r, why = promoted
        return Decision(Kind.RUN, f"resuming paused run {r.run_id} (attempt {r.attempt + 1}): {why}",
                        Suggestion(dict(r.params), r.grid_index), retry_of=r.run_id)
    if short is not None and one_length(runs):
        # no new run starts that the budget cannot finish: its steps would buy no whole model
        # (the running runs are counted as going the whole way; if a rule stops or pauses
        # one, what it leaves may let a new run start after all). Only where every run that
        # finished by itself has the same length: where the length is a parameter, a new
        # run may well be short enough
        why = (f"the budget left ({max(0, short[0])} steps once the running runs end) cannot "
               f"finish a new run ({short[1]} steps)")
        going = sum(1 for r in runs if r.state == RunState.RUNNING)
        if going:
            return Decision(Kind.WAIT, f"{why}; waiting for {going} running run(s)")
        return Decision(Kind.DONE, why)
    queued = queued_points(config, state)
    if queued:  # asked for by name: before the search, and whatever run_cap says
        pid, params = queued[0]
        return Decision(Kind.RUN, f"running enqueued point {pid}",
                        Suggestion(dict(params), _grid_index(config, params)), queued=pid)
    running = [r for r in runs if r.state == RunState.RUNNING]
    if config.run_cap is not None and state.new_points >= config.run_cap:
        resumed = _last_promotion(config, runs)
        if resumed is not None:
            return resumed
        if running:
            return Decision(Kind.WAIT, f"run_cap {config.run_cap} reached; waiting for "
                                    f"{len(running)} running run(s) in case one must be re-run")
        return Decision(Kind.DONE, f"run_cap {config.run_cap} reached")
    if not search:
        if not method_of(config).exhausted(config, runs):
            return Decision(Kind.RUN, "a new point")
        suggestion = None
    else:
        suggestion = suggest(config, runs, rng if rng is not None else np.random.default_rng())
    if suggestion is None:
        resumed = _last_promotion(config, runs)
        if resumed is not None:
            return resumed
        if running:
            return Decision(Kind.WAIT, f"every grid point is taken; waiting for {len(running)} "
                                    "running run(s) in case one must be re-run")
        if config.space.rules and not runs:
            empty = ruled_out(config)
            if empty is not None:  # (refused at creation: a sweep made before that check)
                raise NoPointAllowed(f"sweepcli.forbid and require leave no point to run: {empty}")
        return Decision(Kind.DONE, "every grid point has run")
    return Decision(Kind.RUN, "", suggestion)


def _pbt_decision(config: SweepConfig, runs: list[Run], rng: np.random.Generator | None,
                  search: bool) -> Decision | None:
    """pbt: once the population is whole, the paused member furthest behind goes on with
    its next segment (decided here, under the lock: once); else wait for the running ones,
    or the sweep is done. None while members are still to be drawn (the search does)."""
    if not method_of(config).exhausted(config, runs):
        return None
    member = pbt.next_member(config, runs)
    if member is not None:
        step = pbt.step_of(member)
        if not search:
            return Decision(Kind.RUN, f"member {member.run_id} goes on from step {step}")
        seg = pbt.next_segment(config, runs, member, rng if rng is not None
                               else np.random.default_rng())
        return Decision(Kind.RUN, f"member {member.run_id}, segment from step {seg.step}: "
                                  f"{seg.why}", Suggestion(dict(seg.params)),
                        retry_of=member.run_id, segment=seg)
    going = sum(1 for r in runs if r.state == RunState.RUNNING)
    if going:
        return Decision(Kind.WAIT, f"waiting for {going} running member(s) of the population")
    return Decision(Kind.DONE, f"every member of the population trained its "
                               f"{config.pbt.steps} steps (or ended)")


def _last_promotion(config: SweepConfig, runs: list[Run]) -> Decision | None:
    """No new point can start: a paused run the rule still promotes, resumed."""
    got = promotion(config, runs, exhausted=True)
    if got is None:
        return None
    r, why = got
    return Decision(Kind.RUN, f"resuming paused run {r.run_id} (attempt {r.attempt + 1}), no new "
                           f"point being left: {why}", Suggestion(dict(r.params), r.grid_index),
                    retry_of=r.run_id)


def _grid_index(config: SweepConfig, params: dict[str, Any]) -> int | None:
    return method_of(config).grid_index(config, params)


@dataclass(frozen=True)
class Claim:
    run_id: str
    params: dict[str, Any]
    retry_of: str | None
    queued: str | None = None
    #: 1 for a new run; 2, 3, ... when a crashed or preempted run is resumed
    attempt: int = 1
    #: pbt: the donor (run, step) whose kept checkpoint the member's current segment starts
    #: from (None: its own), and which segment that is (0: the first)
    parent: tuple[str, int] | None = None
    segment: int = 0


def claim_rng(config: SweepConfig, state: SweepState, rng: np.random.Generator
              ) -> np.random.Generator:
    """The generator for the next suggestion. With ``sweepcli.seed`` it is the sweep's, not
    the agent's: seeded by the seed and the number of runs claimed so far, so agents started
    at the same instant (a job array) draw different points, and a sweep repeats its sequence.
    (pbt: and by the segments started, as every segment after the population's first is
    decided with the same number of runs.)"""
    if config.seed is None:
        return rng
    if config.pbt is not None:
        return np.random.default_rng([config.seed, len(state.runs),
                                      sum(len(r.segments) for r in state.runs.values())])
    return np.random.default_rng([config.seed, len(state.runs)])


def claim_next_run(
    sweep: Sweep, rng: np.random.Generator, heartbeat_timeout: float,
    lock_wait: float | None = None, silence: Silence | None = None, gpus: float = 0.0,
) -> Claim | Decision:
    """Under the lock: crash stale runs, decide, and record the claim in the journal.

    Returns the claim, or the decision (wait/done) when there is nothing to start. The
    run's folder and first heartbeat are made once the claim is in the journal, so a
    failed claim (a full disk) leaves no folder behind. ``lock_wait``: wait at most this
    long for the lock (LockTimeout after), else the lock's own timeout. ``silence``: what
    this agent saw of the running runs' heartbeats at its earlier claims (see liveness.py).
    ``gpus``: how many GPUs the run will be given (what a ``gpu_hours`` budget charges).
    """
    with sweep.lock.waiting_at_most(lock_wait if lock_wait is not None else sweep.lock.timeout):
        sweep.refresh()
        sweep.check_complete()
        end_dead_runs(sweep, heartbeat_timeout, silence if silence is not None else Silence())
        decision = decide(sweep.config, sweep.state, claim_rng(sweep.config, sweep.state, rng))
        if decision.action != Kind.RUN:
            return decision
        s = decision.suggestion
        assert s is not None  # (a decision to run says what)
        if decision.retry_of is not None:  # the same run, its next attempt
            run_id = decision.retry_of
            attempt = sweep.state.runs[run_id].attempt + 1
            sweep.append(attempt_event(run_id, attempt, agent_name(), heartbeat_timeout,
                                       sweep.config.revision, gpus,
                                       decision.segment.event() if decision.segment else None))
        else:
            # an enqueued point's run takes the point's ID, the one enqueue printed
            run_id = decision.queued if decision.queued is not None else ""
            if not run_id or run_id in sweep.state.runs or\
                    os.path.lexists(sweep.path / "runs" / run_id):
                run_id = sweep.new_run_id()
            attempt = 1
            sweep.append(claim_event(run_id, s.params, s.grid_index, None, agent_name(),
                                     heartbeat_timeout, sweep.config.revision, decision.queued,
                                     gpus))
        try:
            sweep.make_run_dir(run_id)
        except OSError:
            pass  # the agent retries it; until then the run ages from when it was first seen
        run = sweep.state.runs[run_id]
        parent = run.segments[-1]["parent"] if run.segments else None
        return Claim(run_id, dict(run.params), decision.retry_of, decision.queued, attempt,
                     tuple(parent) if parent else None, max(0, len(run.segments) - 1))


def sweep_status(config: SweepConfig, state: SweepState, now: float | None = None) -> str:
    """running, paused, finished or canceled, as ``--print`` shows it: what ``decide``
    says, asked without searching (runs still going: running)."""
    if state.control == Control.CANCELED:
        return "canceled"
    if state.control == Control.STOPPED:
        return "finished"
    if state.control == Control.PAUSED:
        return "paused"
    if any(r.state == RunState.RUNNING for r in state.runs.values()):
        return "running"
    try:
        decision = decide(config, state, None, now, search=False)
    except NoPointAllowed:
        return "finished"  # (a sweep made before rules that leave nothing were refused)
    return "finished" if decision.action == Kind.DONE else "running"
