"""Hyperband: the pure rule by hand, against W&B's engine, and end to end."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweepcli.config import validate
from sweepcli.early_stop import band_thresholds, judge
from sweepcli.runs import Run, RunState


def runs_to_stop(config, runs: list[Run]) -> list[str]:
    """The running runs the rule ends now (W&B's ``stop_runs``' answer, to compare)."""
    return list(judge(config, runs))


def config(goal="minimize", strict=True, **et):
    return validate({"method": "random", "metric": {"name": "loss", "goal": goal},
                     "parameters": {"a": {"value": 1}},
                     "early_terminate": {"type": "hyperband", "strict": strict, **et}})


def run(rid, history, state=RunState.RUNNING):
    return Run(rid, {"a": 1}, state, list(history))


def test_bands_from_min_iter_and_from_max_iter() -> None:
    assert config(min_iter=2, eta=2).hyperband.bands[:5] == (2, 4, 8, 16, 32)
    assert config(max_iter=81, s=3, eta=3).hyperband.bands == (3, 9, 27)
    assert config(max_iter=5, s=2, eta=2).hyperband.bands == (1, 2)


def test_threshold_is_the_value_at_index_n_over_eta() -> None:
    cfg = config(min_iter=2, eta=3)
    # band 2 looks at the 2nd value (history[1]) of every run that has two: 5, 6, 7, 8 ->
    # sorted index int(4/3) = 1
    hs = [[9, 5], [9, 6, 1], [9, 7], [9, 8], [1]]
    assert band_thresholds(cfg.hyperband, hs)[0] == (2, 6)


def test_band_b_is_the_bth_value_as_wandb_counts_it_today() -> None:
    """W&B's engine today: band 1 is a run's first value (0.2.0 read its second)."""
    runs = [run("a", [5], RunState.FINISHED), run("b", [6], RunState.FINISHED),
            run("weak", [9])]  # one value: it has reached band 1, and is the worst there
    assert runs_to_stop(config(min_iter=1, eta=2), runs) == ["weak"]
    assert runs_to_stop(config(min_iter=2, eta=2), runs) == []  # nobody at band 2 yet


def test_strict_compares_the_value_at_the_band_and_loose_the_best() -> None:
    runs = [run("a", [10, 5], RunState.FINISHED), run("b", [10, 6], RunState.FINISHED),
            run("c", [10, 7], RunState.FINISHED),
            run("x", [1, 9])]  # best so far 1 is fine; value at band 2 (9) is not
    assert runs_to_stop(config(min_iter=2, eta=2, strict=True), runs) == ["x"]
    assert runs_to_stop(config(min_iter=2, eta=2, strict=False), runs) == []


def test_maximize_negates() -> None:
    runs = [run("a", [0, 0.9], RunState.FINISHED), run("b", [0, 0.8], RunState.FINISHED),
            run("weak", [0, 0.1]), run("strong", [0, 0.95])]
    assert runs_to_stop(config("maximize", min_iter=2, eta=2), runs) == ["weak"]


def test_only_running_runs_that_reached_a_band_are_stopped() -> None:
    runs = [run("a", [1, 1, 1], RunState.FINISHED), run("b", [1, 1, 1], RunState.FINISHED),
            run("early", [50]),  # has not reached band 2 (needs 2 values)
            run("ended", [50, 50], RunState.FAILED)]
    assert runs_to_stop(config(min_iter=2, eta=2), runs) == []


def test_a_summary_only_prior_takes_no_part() -> None:
    """A results file's row is one final value: counting it at band 1 would hold every
    run's first value to a finished run's result."""
    strong = run("p", [0.1], RunState.FINISHED)
    strong.summary_only = True
    runs = [strong, run("a", [5], RunState.FINISHED), run("b", [6], RunState.RUNNING)]
    assert runs_to_stop(config(min_iter=1, eta=2), runs) == []
    strong.summary_only = False
    assert runs_to_stop(config(min_iter=1, eta=2), runs) == ["b"]


def wandb_stop(raw: dict, runs: list[Run]) -> list[str]:
    from sweeps import RunState as WState  # the test extra's oracle: missing is a failure
    from sweeps import SweepRun, stop_runs

    wruns = [SweepRun(name=r.run_id, state=WState(r.state.value) if r.state.value != "stopped"
                      else WState.finished,
                      sampledHistory=[{"loss": v} for v in r.history]) for r in runs]
    return sorted(r.name for r in stop_runs(copy.deepcopy(raw), wruns))


histories = st.lists(st.floats(0, 10, allow_nan=False), min_size=0, max_size=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(histories, st.booleans()), min_size=1, max_size=10),
       st.sampled_from([{"min_iter": 1, "eta": 2}, {"min_iter": 2, "eta": 3},
                        {"max_iter": 9, "s": 2, "eta": 3}, {"max_iter": 12, "s": 3, "eta": 2}]),
       st.sampled_from(["minimize", "maximize"]))
def test_loose_rule_matches_wandb_stop_runs(data, et, goal) -> None:
    """W&B 0.2.0 has only the older, non-strict rule, and reads band b one line later than
    W&B today: ours with strict: false on a history must agree with 0.2.0 on the same
    history behind one worst-possible line (which shifts every band by one and is never a
    run's best)."""
    raw = {"method": "random", "metric": {"name": "loss", "goal": goal},
           "parameters": {"a": {"value": 1}}, "early_terminate": {"type": "hyperband", **et}}
    runs = [run(f"r{i}", h, RunState.RUNNING if live else RunState.FINISHED)
            for i, (h, live) in enumerate(data)]
    pad = 1e300 if goal == "minimize" else -1e300
    shifted = [run(r.run_id, [pad, *r.history] if r.history else [], r.state) for r in runs]
    ours = validate({**raw, "early_terminate": {**raw["early_terminate"], "strict": False}})
    # where we differ on purpose: a run that has logged max_iter values is at its end
    # (saving), never stopped; W&B's engine stops it
    whole = {r.run_id for r in runs if "max_iter" in et and len(r.history) >= et["max_iter"]}
    assert sorted(runs_to_stop(ours, runs)) == [r for r in wandb_stop(raw, shifted) if r not in whole]


CURVES = """
import json, os, time, sweepcli
with sweepcli.init() as run:
    c = run.config
    for epoch in range(27):
        time.sleep(0.05)
        loss = c.floor + (3.0 - c.floor) * (0.8 ** (c.rate * (epoch + 1)))
        run.log({"loss": loss, "epoch": epoch})
"""


def test_two_agents_stop_weak_curves_at_their_bands(env) -> None:
    env.program(CURVES)
    sweep_id = env.create({
        "program": "train.py", "method": "grid", "metric": {"name": "loss"},
        "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 3},
        "parameters": {"floor": {"values": [0.1, 0.5, 1.0, 1.5]}, "rate": {"values": [1, 2, 4]}},
    })
    agents = [env.agent(sweep_id) for _ in range(2)]
    for a in agents:
        assert a.wait(timeout=240) == 0, a.stderr.read()
    s = env.status(sweep_id)
    by_state = {r["run_id"]: r for r in s["runs"]}
    stopped = [r for r in by_state.values() if r["state"] == "stopped"]
    assert stopped, "hyperband stopped nothing"
    # stopped once past a band (3 or 9: min_iter 3, eta 3; the threshold of a band tightens as
    # more runs reach it, so a run may be stopped any time after its band), never at the end
    assert all(4 <= r["steps"] < 27 for r in stopped), [r["steps"] for r in stopped]
    finished = [r for r in by_state.values() if r["state"] == "finished"]
    assert finished and all(r["steps"] == 27 for r in finished)
    # only weak curves were stopped: each ends worse than the best finished run
    assert all(r["value"] > min(f["value"] for f in finished) for r in stopped)
    # the best config (lowest floor, fastest rate) ran to the end
    best = min(s["runs"], key=lambda r: (r["config"]["floor"], -r["config"]["rate"]))
    assert best["state"] == "finished" and best["steps"] == 27
    assert s["best"]["config"] == {"floor": 0.1, "rate": 4}


def test_a_program_that_polls_should_stop_saves_and_ends_cleanly(env) -> None:
    env.program("""
        import os, time, sweepcli
        run = sweepcli.init()
        for epoch in range(200):
            if run.should_stop:
                open(os.path.join(os.environ["SWEEPCLI_RUN_DIR"], "checkpoint"), "w").write(str(epoch))
                break
            time.sleep(0.02)
            run.log({"loss": run.config.x + 1.0 / (epoch + 1)})
    """)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 2},
                           "parameters": {"x": {"values": [0.0, 0.1, 5.0]}}})
    env.cli("agent", sweep_id)
    s = env.status(sweep_id)
    weak = next(r for r in s["runs"] if r["config"]["x"] == 5.0)
    assert weak["state"] == "stopped" and weak["steps"] < 200
    assert (env.root / sweep_id / "runs" / weak["run_id"] / "checkpoint").is_file()
    # every line it wrote before stopping counted: nothing lost on SIGTERM
    lines = (env.root / sweep_id / "runs" / weak["run_id"] / "metrics.jsonl").read_text().splitlines()
    assert weak["steps"] == len(lines)
