"""Stopping rules, pausing and budgets as pure functions over hand-made sweep states
(``judge``, ``promotion``, ``decide``, the bayes model's values), no process or clock."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sweepcli.agent import decide
from sweepcli.budget import hours_spent, no_improvement, steps_spent
from sweepcli.config import ConfigError, validate
from sweepcli.early_stop import RULES, judge, promotion
from sweepcli.early_stop.asha import rungs
from sweepcli.runs import RunState
from sweepcli.search.bayes import run_values
from sweepcli.store.events import SweepState, attempt_event, claim_event, end_event, metric_event

RNG = np.random.default_rng(0)


def config(early=None, **extension):
    raw = {"method": "random", "metric": {"name": "acc", "goal": "maximize"},
           "parameters": {"x": {"min": 0.0, "max": 1.0}}}
    if early is not None:
        raw["early_terminate"] = early
    if extension:
        raw["sweepcli"] = extension
    return validate(raw)


class Sweep:
    """A sweep's state built from events, as the journal's reader builds it."""

    def __init__(self) -> None:
        self.state = SweepState()
        self.n = 0

    def apply(self, e: dict) -> None:
        assert self.state.apply(json.loads(json.dumps(e))), e

    def run(self, values, state=RunState.FINISHED, t=0.0, end=None) -> str:
        self.n += 1
        rid = f"run{self.n:05d}"
        self.apply(claim_event(rid, {"x": self.n / 1000}, None, None, "h:1", 60.0) | {"t": t})
        values = [float(v) for v in values]
        if values:
            self.apply(metric_event(rid, values, 1, 0))
        if state != RunState.RUNNING:
            self.apply(end_event(rid, state, 0) | {"t": t + 1 if end is None else end})
        return rid

    @property
    def runs(self):
        return list(self.state.runs.values())


def test_every_rule_is_one_file_in_the_registry() -> None:
    assert set(RULES) == {"hyperband", "asha", "median"}
    for name, rule in RULES.items():
        assert rule.__name__.endswith(f"early_stop.{name}")
        assert callable(rule.parse) and callable(rule.judge)


def test_asha_rungs_wait_for_a_whole_run_then_follow_its_length() -> None:
    c = config({"type": "asha"})
    s = Sweep()
    s.run([50.0] * 3, RunState.RUNNING)
    assert rungs(c.early_stop, s.runs) == []  # no yardstick yet: nothing judged
    assert judge(c, s.runs) == {}
    s.run([60.0] * 52)
    assert rungs(c.early_stop, s.runs) == [26]  # one rung, at 52 / 2
    assert rungs(config({"type": "asha", "s": 2}).early_stop, s.runs) == [13, 26]
    assert rungs(config({"type": "asha", "eta": 3, "s": 2}).early_stop, s.runs) == [6, 17]
    assert rungs(config({"type": "asha", "min_iter": 1, "max_iter": 27, "eta": 3}).early_stop,
                 []) == [1, 3, 9]
    assert rungs(config({"type": "asha", "min_iter": 1, "max_iter": 27}).early_stop,
                 []) == [1, 2, 4, 8, 16]
    assert rungs(config({"type": "asha", "max_iter": 81, "eta": 3, "s": 3}).early_stop, []) == [3, 9, 27]
    assert rungs(config({"type": "asha", "max_iter": 81, "eta": 3}).early_stop, []) == [27]


def test_asha_pauses_a_run_below_the_best_third_of_its_rung_then_promotes_it() -> None:
    c = config({"type": "asha", "min_iter": 2, "max_iter": 18, "eta": 3})  # rungs 2, 6
    s = Sweep()
    for v in (90.0, 80.0, 70.0):
        s.run([v] * 18)  # three whole runs: at rung 2 the best third is the 90
    low = s.run([75.0, 75.0], RunState.RUNNING)
    verdict = judge(c, s.runs)[low]
    assert verdict.action == "pause"
    assert "asha rung 1 (step 2)" in verdict.reason and "3rd of the 4" in verdict.reason
    s.apply(end_event(low, RunState.PAUSED, 0, reason=verdict.reason))
    for _ in range(5):
        assert promotion(c, s.runs) is None  # 3rd of 4..8: the best 8 // 3 = 2 at most
        s.run([10.0] * 2, RunState.STOPPED)  # one more reaches the rung, below it
    got = promotion(c, s.runs)
    assert got is not None and got[0].run_id == low  # 3rd of 9: among the best 3
    assert "promoted at asha rung 1 (step 2)" in got[1]
    d = decide(c, s.state, RNG)
    assert d.action == "run" and d.retry_of == low and "resuming paused run" in d.reason
    s.apply(attempt_event(low, 2, "h:2", 60.0))
    run = s.state.runs[low]
    assert run.state == RunState.RUNNING and run.attempt == 2 and run.attempt_from == 2
    assert low not in judge(c, s.runs)  # promoted past rung 1: not judged there again


def test_asha_without_promotion_stops_instead() -> None:
    c = config({"type": "asha", "min_iter": 2, "max_iter": 18, "eta": 3, "promote": False})
    s = Sweep()
    for v in (90.0, 80.0, 70.0):
        s.run([v] * 18)
    low = s.run([60.0, 60.0], RunState.RUNNING)
    good = s.run([95.0, 95.0], RunState.RUNNING)
    verdicts = judge(c, s.runs)
    assert verdicts[low].action == "stop" and good not in verdicts
    assert promotion(c, s.runs) is None


def test_asha_judges_a_rung_once_per_run() -> None:
    """A run kept at its rung (first of two) was paused there near its end when slower
    runs reached the rung later and pushed it down the ranking."""
    c = config({"type": "asha", "min_iter": 2, "max_iter": 8, "eta": 2})  # rungs 2, 4
    s = Sweep()
    s.run([50.0] * 8)
    kept = s.run([60.0, 60.0, 60.0], RunState.RUNNING)  # best of the 2 at rung 1: kept
    assert kept not in judge(c, s.runs, {kept: 0})
    for _ in range(3):
        s.run([90.0] * 2, RunState.STOPPED)  # faster, better runs reach rung 1 later
    assert judge(c, s.runs)[kept].action == "pause"  # (what a fresh look would say)
    assert kept not in judge(c, s.runs, {kept: 3})  # judged at rung 1 when it had 3 values


@pytest.mark.parametrize("early", [{"type": "asha"}, {"type": "asha", "max_iter": 4, "min_iter": 2},
                                   {"type": "hyperband", "max_iter": 4, "s": 1, "eta": 2}])
def test_a_run_that_logged_every_step_is_never_stopped_or_paused(early) -> None:
    """A run that has logged all its steps is saving, at its end: asha paused it (and ran it
    again from scratch when promoted), hyperband stopped it."""
    c = config(early)
    s = Sweep()
    s.run([90.0] * 4)
    s.run([80.0] * 4)
    done = s.run([10.0] * 4, RunState.RUNNING)  # its whole run, read at once
    below = s.run([5.0] * 2, RunState.RUNNING)
    verdicts = judge(c, s.runs)
    assert done not in verdicts and below in verdicts


def test_the_median_rule_waits_for_min_runs_and_min_iter() -> None:
    c = config({"type": "median", "min_iter": 3, "min_runs": 3})
    s = Sweep()
    s.run([10.0, 20.0, 30.0, 40.0])
    s.run([12.0, 22.0, 32.0, 42.0])
    low = s.run([5.0, 6.0, 7.0], RunState.RUNNING)
    assert judge(c, s.runs) == {}  # two ended runs: fewer than min_runs
    s.run([14.0, 24.0, 34.0, 44.0])
    verdict = judge(c, s.runs)[low]
    assert verdict.action == "stop" and "median rule at step 3" in verdict.reason
    assert "median 32" in verdict.reason
    early = s.run([1.0, 1.0], RunState.RUNNING)
    assert early not in judge(c, s.runs)  # before min_iter


def test_a_budget_of_steps_ends_the_sweep_and_says_what_is_spent() -> None:
    c = config(None, budget={"steps": 10})
    s = Sweep()
    s.run([1.0] * 4)
    assert decide(c, s.state, RNG).action == "run"
    s.run([1.0] * 6, RunState.STOPPED)
    assert steps_spent(s.runs) == 10
    d = decide(c, s.state, RNG)
    assert d.action == "done" and "budget of 10 steps is spent" in d.reason


def test_no_new_run_starts_that_the_budget_of_steps_cannot_finish() -> None:
    """Runs of 10 steps and a budget of 35: once what is left (after the running runs go the
    whole way) is under 10, a new run would buy no whole model. A paused run that can
    finish is resumed instead; with none, the agent waits for the running runs, then the
    sweep is done, its budget not yet spent."""
    c = config({"type": "asha"}, budget={"steps": 35})
    s = Sweep()
    s.run([1.0] * 10)
    s.run([2.0] * 10)
    assert decide(c, s.state, RNG).action == "run"  # 15 left: room for one more
    going = s.run([3.0] * 4, RunState.RUNNING)  # counted as going to 10: 5 left
    d = decide(c, s.state, RNG)
    assert d.action == "wait" and "cannot finish a new run (10 steps)" in d.reason
    s.apply(end_event(going, RunState.STOPPED, None) | {"t": 5.0})  # (stopped at 4: 11 left)
    assert decide(c, s.state, RNG).action == "run"
    s.run([4.0] * 10)  # 1 left
    d = decide(c, s.state, RNG)
    assert d.action == "done" and "cannot finish a new run" in d.reason
    paused = s.run([0.5] * 5, RunState.PAUSED)  # (the worst at its rung) 39 of 35: spent
    assert decide(c, s.state, RNG).action == "done"
    # a paused run that fits what is left is resumed rather than nothing started
    roomy = config({"type": "asha"}, budget={"steps": 45})
    d = decide(roomy, s.state, RNG)
    assert d.action == "run" and d.retry_of == paused, d
    assert "cannot finish a new run" in d.reason, d.reason


def test_where_runs_differ_in_length_a_new_run_may_still_start_near_the_budget() -> None:
    c = config(None, budget={"steps": 25})
    s = Sweep()
    s.run([1.0] * 10)
    s.run([2.0] * 4)  # (a run of another length: epochs is a parameter)
    s.run([3.0] * 3)  # 17 spent, 8 left: under the longest run, but runs differ in length
    assert decide(c, s.state, RNG).action == "run"


def test_a_budget_of_hours_counts_every_attempt_and_the_running_ones() -> None:
    s = Sweep()
    s.run([1.0], RunState.FINISHED, t=200.0, end=2000.0)
    rid = s.run([1.0], RunState.PREEMPTED, t=2000.0, end=2900.0)
    s.apply(attempt_event(rid, 2, "h:2", 60.0) | {"t": 3000.0})
    assert hours_spent(s.runs, now=3900.0) == pytest.approx(1.0)
    c = config(None, budget={"hours": 1})
    assert decide(c, s.state, RNG, now=3899.0).action == "run"
    assert decide(c, s.state, RNG, now=3901.0).action == "done"


def test_a_budget_of_gpu_hours_charges_each_attempt_the_gpus_it_was_given() -> None:
    """A run on two GPUs costs twice its hours; a resumed attempt on a shared GPU half; a run
    given none costs nothing; every GPU count goes through the journal and its snapshot."""
    from sweepcli.agent.loop import gpu_shares
    from sweepcli.store.events import run_from_record, run_record

    assert gpu_shares(["0,1", "2", "2", None]) == {"0,1": 2.0, "2": 0.5, None: 0.0}
    s = Sweep()
    rid = s.run([1.0], RunState.PREEMPTED, t=0.0, end=1800.0)
    s.state.runs[rid].gpus = 0.0  # (as claimed by an agent without --gpus)
    s.apply(claim_event("gpurun01", {"x": 0.5}, None, None, "h:1", 60.0, gpus=2.0) | {"t": 1.0})
    s.apply(end_event("gpurun01", RunState.FINISHED, 0) | {"t": 3601.0})
    s.apply(attempt_event(rid, 2, "h:2", 60.0, gpus=0.5) | {"t": 3600.0})
    assert hours_spent(s.runs, now=3600.0 + 1800.0, gpus=True) == pytest.approx(2.0 + 0.25)
    again = {r.run_id: run_from_record(r.run_id, json.loads(json.dumps(run_record(r))))
             for r in s.runs}
    assert again["gpurun01"].gpus == 2.0 and again[rid].gpus == 0.5
    c = config(None, budget={"gpu_hours": 2.5})
    assert decide(c, s.state, RNG, now=3600.0 + 1800.0).action == "run"
    assert decide(c, s.state, RNG, now=3600.0 + 3601.0 * 2).action == "done"
    assert not s.state.apply({"op": "claim", "run": "gpurun02", "params": {"x": 0.1},
                              "gpus": -1, "t": 1.0})  # (not a GPU count: skipped)


def test_progress_is_the_best_value_against_what_was_spent() -> None:
    """The curve --print, --json and the report show: a point at each run's end, hours
    exact, steps of a running run in proportion to its time so far."""
    from sweepcli.budget import progress

    s = Sweep()
    s.run([1.0, 2.0], t=100.0, end=3700.0)  # 1 hour, best 2
    s.run([5.0, 1.0], t=100.0, end=7300.0)  # 2 hours, best 5
    s.run([3.0], RunState.RUNNING, t=3700.0)  # running since the first hour
    hours = progress(config(None, budget={"hours": 10}), s.runs, now=7300.0)
    assert hours["unit"] == "hours" and hours["budget"] == 10
    assert hours["points"] == [[pytest.approx(2.0), 2.0], [pytest.approx(4.0), 5.0],
                               [pytest.approx(4.0), 5.0]]
    steps = progress(config(None), s.runs, now=7300.0)
    assert steps["unit"] == "steps" and steps["budget"] is None
    # at the first hour: the first run's 2 steps, half of the second's, none of the third's
    assert steps["points"][0] == [pytest.approx(3.0), 2.0]
    assert steps["points"][-1] == [pytest.approx(5.0), 5.0]


def test_no_improvement_over_the_last_runs_ends_the_sweep() -> None:
    c = config(None, stop_when={"no_improvement": {"runs": 3}})
    s = Sweep()
    for i, v in enumerate((5.0, 9.0, 1.0, 2.0)):
        s.run([v], t=10.0 * i)
    assert no_improvement(c, s.runs, 100.0) is None  # two since the best
    s.run([8.0], t=50.0)
    assert "no improvement in the last 3 runs" in no_improvement(c, s.runs, 100.0)
    hours = config(None, stop_when={"no_improvement": {"hours": 1}})
    assert no_improvement(hours, s.runs, 11.0 + 3599.0) is None
    assert no_improvement(hours, s.runs, 11.0 + 3601.0) is not None


def test_bayes_does_not_take_a_stopped_runs_early_value_as_final() -> None:
    """Four whole runs climb to 70, 80, 90, 100 in the order they started in: a run stopped
    at step 2 between the second and third is told as what runs ranked there reach (85),
    not as its 25. A run stopped at a step whose order says nothing of the final order is
    told as the whole runs' median final value."""
    c = validate({"method": "bayes", "metric": {"name": "acc", "goal": "maximize"},
                  "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    s = Sweep()
    for start, end in ((0, 70), (10, 80), (20, 90), (30, 100)):
        s.run(np.linspace(start, end, 10))
    stopped = s.run([15.0, 25.0], RunState.STOPPED)  # at step 2: between 17.8 and 27.8
    runs, ys, pending = run_values(c, s.runs)
    told = dict(zip((r.run_id for r in runs), ys))
    assert -told[stopped] == pytest.approx(85.0, abs=0.01)
    paused = s.run([15.0], RunState.PAUSED)
    runs, ys, pending = run_values(c, s.runs)
    assert paused in {r.run_id for r in runs}

    t = Sweep()  # the order at step 1 is the reverse of the final order
    for first, end in ((40, 70), (30, 80), (20, 90), (10, 100)):
        t.run([first] + list(np.linspace(first, end, 9)))
    early = t.run([45.0], RunState.STOPPED)  # the best at step 1
    runs, ys, pending = run_values(c, t.runs)
    told = dict(zip((r.run_id for r in runs), ys))
    assert -told[early] == pytest.approx(85.0, abs=0.01)  # the median of 70..100: no news


def test_bayes_treats_partial_runs_as_pending_until_a_run_finishes_whole() -> None:
    c = validate({"method": "bayes", "metric": {"name": "acc", "goal": "maximize"},
                  "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    s = Sweep()
    stopped = s.run([15.0, 25.0], RunState.STOPPED)
    runs, ys, pending = run_values(c, s.runs)
    assert stopped in {r.run_id for r in pending}


@pytest.mark.parametrize("early, path", [
    ({"type": "asha", "s": 2, "min_iter": 1}, "early_terminate.s"),
    ({"type": "asha", "max_iter": 0}, "early_terminate.max_iter"),
    ({"type": "median", "min_iter": 0.5}, "early_terminate.min_iter"),
])
def test_rule_keys_are_checked_with_their_path(early, path) -> None:
    with pytest.raises(ConfigError) as e:
        config(early)
    assert path in str(e.value)


def test_the_bayes_model_runs_on_one_blas_thread(monkeypatch) -> None:
    """On a busy machine OpenBLAS's threads wait on each other: a claim's model took
    seconds under 8 agents. The suggestion limits BLAS to one thread for the call only."""
    import sweepcli.search.bayes as bayes
    from sweepcli.search import suggest
    from threadpoolctl import ThreadpoolController

    seen: list[list[int]] = []
    real = bayes.suggest

    def watching(*args):
        seen.append([lib["num_threads"] for lib in ThreadpoolController().info()
                     if lib["user_api"] == "blas"])
        return real(*args)

    monkeypatch.setattr(bayes, "suggest", watching)
    c = validate({"method": "bayes", "metric": {"name": "acc"},
                  "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    import scipy.linalg  # noqa: F401 - its OpenBLAS loaded, as in an agent

    def threads() -> list[int]:
        return [lib["num_threads"] for lib in ThreadpoolController().info()
                if lib["user_api"] == "blas"]

    before = threads()
    suggest(c, [], np.random.default_rng(0))
    assert seen and seen[0] and all(n == 1 for n in seen[0]), seen
    assert threads() == before  # for the call only: a training function keeps its threads
