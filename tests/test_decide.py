"""The core's decisions, in-process: ``decide()`` over hand-made sweep states, event replay
as a round trip, and a property tying the two (whatever the journal says, the decision is
the one its state calls for). No process, file or clock."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sweepcli.agent import decide
from sweepcli.config import validate
from sweepcli.runs import RunState
from sweepcli.store.events import (
    Control,
    SweepState,
    attempt_event,
    claim_event,
    control_event,
    end_event,
    enqueue_event,
    metric_event,
    rerun_event,
)

GRID = validate({"method": "grid", "metric": {"name": "loss", "target": 0.0},
                 "parameters": {"x": {"values": [1, 2, 3]}}})
RNG = np.random.default_rng(0)


def state_of(*events: dict) -> SweepState:
    state = SweepState()
    for e in events:
        assert state.apply(json.loads(json.dumps(e))), e  # as a reader gets them
    return state


def claim(rid: str, x: int, grid: int | None = None) -> dict:
    return claim_event(rid, {"x": x}, x - 1 if grid is None else grid, None, "h:1", 60.0)


def test_the_control_state_comes_first() -> None:
    for control, action in ((Control.CANCELED, "done"), (Control.STOPPED, "done"),
                            (Control.PAUSED, "wait")):
        assert decide(GRID, state_of(control_event(control)), RNG).action == action


def test_a_crashed_run_is_resumed_before_anything_new() -> None:
    state = state_of(claim("aaaaaaaa", 1), end_event("aaaaaaaa", RunState.CRASHED, crash=True))
    d = decide(GRID, state, RNG)
    assert d.action == "run" and d.retry_of == "aaaaaaaa" and d.suggestion.params == {"x": 1}


def test_an_enqueued_point_comes_before_the_search() -> None:
    state = state_of(enqueue_event("qqqqqqqq", {"x": 3}))
    d = decide(GRID, state, RNG)
    assert d.queued == "qqqqqqqq" and d.suggestion.params == {"x": 3}
    assert d.suggestion.grid_index == 2


def test_the_grid_in_order_then_waiting_then_done() -> None:
    state = state_of(claim("aaaaaaaa", 1))
    assert decide(GRID, state, RNG).suggestion.params == {"x": 2}
    for rid, x in (("bbbbbbbb", 2), ("cccccccc", 3)):
        state.apply(claim(rid, x))
    assert decide(GRID, state, RNG).action == "wait"  # taken, but running: one may crash
    for rid in ("aaaaaaaa", "bbbbbbbb", "cccccccc"):
        state.apply(end_event(rid, RunState.FINISHED, 0))
    assert decide(GRID, state, RNG).reason == "every grid point has run"


def test_the_target_reached_ends_the_sweep() -> None:
    state = state_of(claim("aaaaaaaa", 1), metric_event("aaaaaaaa", [0.5, -0.1]))
    d = decide(GRID, state, RNG)
    assert d.action == "done" and "reached metric.target" in d.reason


def test_a_failed_run_is_resumed_only_when_asked() -> None:
    state = state_of(claim("aaaaaaaa", 1), end_event("aaaaaaaa", RunState.FAILED, 1))
    assert decide(GRID, state, RNG).retry_of is None
    state.apply(rerun_event(["aaaaaaaa"]))
    assert decide(GRID, state, RNG).retry_of == "aaaaaaaa"


def test_replay_round_trips_through_the_compact_form() -> None:
    """What a snapshot or a restored journal holds rebuilds the very state."""
    state = state_of(claim("aaaaaaaa", 1), metric_event("aaaaaaaa", [3.0, 2.0], at=0),
                     end_event("aaaaaaaa", RunState.CRASHED, crash=True),
                     attempt_event("aaaaaaaa", 2, "h:2", 60.0),
                     metric_event("aaaaaaaa", [1.0], attempt=2, at=2),
                     claim("bbbbbbbb", 2), enqueue_event("qqqqqqqq", {"x": 3}),
                     control_event(Control.PAUSED))
    again = state_of(*state.compact())
    assert again.covers(state) and state.covers(again)
    assert again.queue == state.queue and again.control == state.control
    a, b = again.runs["aaaaaaaa"], state.runs["aaaaaaaa"]
    assert (list(a.history), a.attempt, a.state, a.crashes) == ([3.0, 2.0, 1.0], 2, b.state, 1)


EVENTS = st.lists(st.tuples(st.sampled_from(["claim", "end", "crash", "metric", "pause",
                                             "resume", "stop", "enqueue"]),
                            st.integers(0, 3), st.integers(1, 3)), max_size=25)


@given(EVENTS)
@settings(max_examples=300, deadline=None)
def test_the_decision_is_the_one_the_replayed_state_calls_for(ops) -> None:
    """Any journal: never a point that a live or finished run holds, never a run while the
    sweep is paused, stopped or canceled, a crashed run always resumed first."""
    state = SweepState()
    ids = [f"r{i:07d}" for i in range(4)]
    for op, i, x in ops:
        rid = ids[i]
        event = {"claim": claim(rid, x), "end": end_event(rid, RunState.FINISHED, 0),
                 "crash": end_event(rid, RunState.CRASHED, crash=True),
                 "metric": metric_event(rid, [float(x)]), "pause": control_event(Control.PAUSED),
                 "resume": control_event(Control.RUNNING), "stop": control_event(Control.STOPPED),
                 "enqueue": enqueue_event(f"q{i:07d}", {"x": x})}[op]
        state.apply(json.loads(json.dumps(event)))
    config = validate({"method": "grid", "parameters": {"x": {"values": [1, 2, 3]}}})
    d = decide(config, state, RNG)
    if state.control != Control.RUNNING:
        assert d.action != "run"
        return
    crashed = [r for r in state.runs.values() if r.state == RunState.CRASHED]
    if crashed:
        assert d.action == "run" and d.retry_of == crashed[0].run_id
    elif d.action == "run" and d.queued is None:
        held = {r.params["x"] for r in state.runs.values()
                if r.state in (RunState.RUNNING, RunState.FINISHED)}
        assert d.suggestion.params["x"] not in held
    elif d.action == "done":
        assert not any(r.state == RunState.RUNNING for r in state.runs.values())


def test_which_way_is_better_is_said_once() -> None:
    from sweepcli import goals

    assert goals.best_so_far([3.0, 1.0, 2.0, 0.5], "minimize") == [3.0, 1.0, 1.0, 0.5]
    assert goals.best_so_far([3.0, 1.0, 4.0], "maximize") == [3.0, 3.0, 4.0]
    assert goals.best([2.0, 5.0], "maximize") == 5.0 and goals.best([], "minimize") is None
    assert goals.sign("maximize") * 5.0 < goals.sign("maximize") * 2.0  # a loss: lower is better
    metric = validate({"method": "random", "metric": {"name": "acc", "goal": "maximize",
                                                      "target": 0.9},
                       "parameters": {"x": {"values": [1]}}}).metric
    assert metric.reached_target(0.9) and metric.reached_target(0.95)
    assert not metric.reached_target(0.89) and metric.better(0.9, 0.8)
