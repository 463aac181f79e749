"""What W&B users type today, through the installed CLI and the Python API: prior runs,
enqueued points, config updates, references with an entity, the agent's W&B flags."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import yaml

from .conftest import PROGRAM

GRID = {"program": "train.py", "method": "grid", "metric": {"name": "loss"},
        "parameters": {"x": {"values": [1, 2, 3]}}}


def own_runs(status: dict) -> list[dict]:
    return [r for r in status["runs"] if not r["prior"]]


# ---- --prior -----------------------------------------------------------------------------
def test_a_prior_sweeps_runs_are_not_run_again_by_a_grid(env) -> None:
    env.program(PROGRAM)
    first = env.create(GRID)
    env.cli("agent", first, "--count", "2")
    done_x = sorted(r["config"]["x"] for r in env.status(first)["runs"])
    assert len(done_x) == 2
    second = env.create(GRID, "--prior", first)
    s = env.status(second)
    assert s["prior_runs"] == 2 and all(r["prior"].startswith(f"{first}/") for r in s["runs"])
    assert sorted(r["config"]["x"] for r in s["runs"]) == done_x
    env.cli("agent", second)
    s = env.status(second)
    assert [r["config"]["x"] for r in own_runs(s)] == sorted({1, 2, 3} - set(done_x))
    assert s["state"] == "finished" and s["counts"]["finished"] == 3
    # the best run sees the prior ones: loss = x, so x = 1 is best, wherever it ran
    assert s["best"]["config"] == {"x": 1}
    # marked as prior in the human view too
    text = env.cli("sweep", "--print", second).stdout
    assert "(2 prior)" in text and f"prior: {first}/" in text


def test_one_run_of_a_sweep_and_sources_that_do_not_exist(env) -> None:
    env.program(PROGRAM)
    first = env.create(GRID)
    env.cli("agent", first, "--count", "2")
    run_id = env.status(first)["runs"][0]["run_id"]
    for flag in ("-R", "--prior_run", "--prior-run"):  # W&B's spelling and ours
        second = env.create(GRID, flag, f"{first}/{run_id}")
        assert [r["prior"] for r in env.status(second)["runs"]] == [f"{first}/{run_id}"]
    # W&B's bare form: -R RUN_ID, found in whichever sweep of the folder holds it
    third = env.create(GRID, "-R", run_id)
    assert [r["prior"] for r in env.status(third)["runs"]] == [f"{first}/{run_id}"]
    # copies keep their run IDs: two projects of the folder then hold run_id
    env.cli("copy", first, str(env.tmp / "elsewhere"))
    env.cli("copy", first, str(env.root / "proj"))
    env.cli("copy", str(env.tmp / "elsewhere" / first), str(env.root / "proj2"))
    proc = env.cli("sweep", str(env.tmp / "sweep.yaml"), "-R", run_id, check=False)
    assert proc.returncode == 2 and "several sweeps have a run" in proc.stderr
    assert f"proj/{first}/{run_id}, proj2/{first}/{run_id}" in proc.stderr
    before = sorted(p.name for p in env.root.iterdir())
    for bad in ("zzzzzzzz", f"{first}/zzzzzzzz", "no-such-file.csv", "../x"):
        proc = env.cli("sweep", str(env.tmp / "sweep.yaml"), "--prior", bad, check=False)
        assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr, bad
        assert bad in proc.stderr
    assert sorted(p.name for p in env.root.iterdir()) == before  # nothing created


def test_results_files_rows_are_checked_never_guessed(env) -> None:
    env.program(PROGRAM)
    config = {**GRID, "parameters": {"x": {"values": [1, 2, 3]},
                                     "model": {"parameters": {"act": {"values": ["relu", "tanh"]}}}}}
    csv_file = env.tmp / "results.csv"
    csv_file.write_text("x,model.act,loss,note\n"
                        "1,relu,0.5,ok\n"        # a point
                        "2,gelu,0.1,bad act\n"   # outside the space
                        "3,,0.2,missing act\n"   # a parameter missing
                        "3,tanh,nan,bad loss\n"  # not a finite number
                        "3,tanh,3,ok\n")
    jsonl_file = env.tmp / "more.jsonl"
    jsonl_file.write_text(json.dumps({"x": 2, "model": {"act": "tanh"}, "loss": 2.5}) + "\n")
    f = env.tmp / "sweep.yaml"
    f.write_text(yaml.safe_dump(config))
    proc = env.cli("sweep", str(f), "--prior", str(csv_file), "--prior", str(jsonl_file))
    sweep_id = proc.stdout.strip()
    for row in (3, 4, 5):
        assert f"results.csv row {row}" in proc.stderr
    assert "gelu" in proc.stderr and "model.act" in proc.stderr and "note" in proc.stderr
    s = env.status(sweep_id)
    assert sorted((r["config"]["x"], r["config"]["model"]["act"], r["value"])
                  for r in s["runs"]) == [(1, "relu", 0.5), (2, "tanh", 2.5), (3, "tanh", 3.0)]
    env.cli("agent", sweep_id)
    new = sorted((r["config"]["x"], r["config"]["model"]["act"]) for r in own_runs(env.status(sweep_id)))
    assert new == [(1, "tanh"), (2, "relu"), (3, "relu")]


def test_a_wandb_csv_export_is_a_results_file(env) -> None:
    """What W&B's "Export CSV" writes: a byte-order mark, Python's True, a State column with
    crashed and running runs. A crashed prior is history, never put back in the queue; a
    running one is no result and is skipped."""
    env.program(PROGRAM)
    config = {**GRID, "parameters": {"x": {"values": [1, 2, 3]}, "norm": {"values": [True, False]}}}
    export = env.tmp / "wandb_export.csv"
    export.write_text('\ufeff"Name","State","x","norm","loss"\n'
                      '"run-a","finished","1","True","1.0"\n'
                      '"run-b","crashed","2","False","5.0"\n'
                      '"run-c","running","3","True","0.5"\n', encoding="utf-8")
    f = env.tmp / "sweep.yaml"
    f.write_text(yaml.safe_dump(config))
    proc = env.cli("sweep", str(f), "--prior", str(export))
    sweep_id = proc.stdout.strip()
    assert "row 4" in proc.stderr and "running" in proc.stderr and "Name" in proc.stderr
    s = env.status(sweep_id)
    assert sorted((r["config"]["x"], r["config"]["norm"], r["state"]) for r in s["runs"]) == [
        (1, True, "finished"), (2, False, "crashed")]
    env.cli("agent", sweep_id)
    new = sorted((r["config"]["x"], r["config"]["norm"]) for r in own_runs(env.status(sweep_id)))
    assert new == [(1, False), (2, True), (3, False), (3, True)]  # (2, False) is not re-run


def test_metric_target_sees_prior_runs(env) -> None:
    env.program(PROGRAM)
    results = env.tmp / "r.csv"
    results.write_text("x,loss\n2,0.01\n")
    sweep_id = env.create({**GRID, "metric": {"name": "loss", "target": 0.05}},
                          "--prior", str(results))
    proc = env.cli("agent", sweep_id)
    assert "reached metric.target" in proc.stderr and own_runs(env.status(sweep_id)) == []


def test_bayes_fits_prior_runs(env) -> None:
    """Twelve prior rows say the minimum lies near x = 7.3: bayes' first suggestions go
    there, where without them it starts with its space-filling design."""
    env.program("""
        import json, os
        cfg = json.load(open(os.environ["SWEEPCLI_CONFIG_FILE"]))
        with open(os.environ["SWEEPCLI_METRICS_FILE"], "a") as f:
            f.write(json.dumps({"loss": (cfg["x"] - 7.3) ** 2}) + "\\n")
    """)
    results = env.tmp / "r.csv"
    results.write_text("x,loss\n" + "".join(f"{0.4 + 0.8 * i},{(0.4 + 0.8 * i - 7.3) ** 2}\n"
                                            for i in range(12)))
    # seeded: the design alone is the same on every run of the test (unseeded, each sweep
    # draws its own, and one in five lands within 0.5 of 7.3 by chance)
    config = {"program": "train.py", "method": "bayes", "metric": {"name": "loss"},
              "parameters": {"x": {"min": 0.0, "max": 10.0}}, "sweepcli": {"seed": 5}}
    with_prior = env.create(config, "--prior", str(results))
    without = env.create(config)
    for sweep_id in (with_prior, without):
        env.cli("agent", sweep_id, "--count", "2")
    near = [abs(r["config"]["x"] - 7.3) for r in own_runs(env.status(with_prior))]
    far = [abs(r["config"]["x"] - 7.3) for r in own_runs(env.status(without))]
    assert max(near) < 0.5, near
    assert min(far) > 0.5, far  # the design alone lands elsewhere: the priors made the difference


# ---- enqueue ----------------------------------------------------------------------------
def test_enqueued_points_run_first_in_order_and_once_across_agents(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "random", "metric": {"name": "loss"},
                           "parameters": {"x": {"min": 0.0, "max": 20.0},
                                          "sleep": {"value": 0.3}}})
    points = env.tmp / "points.yaml"
    points.write_text(yaml.safe_dump([{"x": 1.0}, {"x": 2.0}, {"x": 3.0}, {"x": 4.0}]))
    ids = env.cli("enqueue", sweep_id, "--file", str(points)).stdout.split()
    assert len(ids) == 4
    agents = [env.agent(sweep_id, "--count", "3") for _ in range(3)]
    for a in agents:
        assert a.wait(timeout=120) == 0
    runs = sorted(env.status(sweep_id)["runs"], key=lambda r: r["started_at"])
    assert len(runs) == 9
    assert [r["config"]["x"] for r in runs[:4]] == [1.0, 2.0, 3.0, 4.0]
    assert [r["queued"] for r in runs[:4]] == ids
    assert [r["run_id"] for r in runs[:4]] == ids  # the ID enqueue printed is the run's
    assert all(r["queued"] is None for r in runs[4:])  # then the search's own


def test_enqueue_refuses_a_point_outside_the_space_naming_the_parameter(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({**GRID, "parameters": {"x": {"values": [1, 2, 3]},
                                                   "model": {"parameters": {
                                                       "depth": {"min": 1, "max": 4}}}}})
    for args, named in ((["--set", "x=7"], "x"), (["--set", "model.depth=9"], "model.depth"),
                        (["--set", "lrr=0.1"], "lrr"), (["--set", "x=1", "--set", "y=2"], "y")):
        proc = env.cli("enqueue", sweep_id, *args, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, args
        assert f"{named}:" in proc.stderr, proc.stderr
    assert env.status(sweep_id)["queue"] == []
    # a point given in part: the rest is drawn now and shown
    proc = env.cli("enqueue", sweep_id, "--set", "model.depth=2")
    assert "model.depth=2" in proc.stderr and "x=" in proc.stderr
    (queued,) = env.status(sweep_id)["queue"]
    assert queued["config"]["model"]["depth"] == 2 and queued["config"]["x"] in (1, 2, 3)


def test_an_enqueued_grid_point_is_not_run_twice(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(GRID)
    env.cli("enqueue", sweep_id, "--set", "x=3")
    env.cli("agent", sweep_id)
    assert [r["config"]["x"] for r in env.status(sweep_id)["runs"]] == [3, 1, 2]


# ---- --update ----------------------------------------------------------------------------
def test_update_takes_effect_at_the_next_claim_and_running_runs_go_on(env) -> None:
    # the first run waits for a gate the test opens once the update is written (it slept
    # 1.5 s before: under load the update's own process took longer, the agent took the
    # old grid's second point, and the new grid ran 2 again)
    gate = env.tmp / "gate"
    env.program(PROGRAM.replace("out = open(", f"while cfg.get('sleep') and not os.path.exists("
                                               f"{str(gate)!r}):\n    time.sleep(0.05)\nout = open("))
    config = {**GRID, "parameters": {"x": {"values": [1, 2]}, "sleep": {"value": 1.5}}}
    sweep_id = env.create(config)
    agent = env.watched_agent(sweep_id)
    agent.wait_for_text("started")
    new = env.tmp / "new.yaml"
    new.write_text(yaml.safe_dump({**config, "parameters": {
        "x": {"values": [2, 3, 4]}, "sleep": {"value": 0}}}))
    proc = env.cli("sweep", "--update", sweep_id, str(new))
    assert "revision 1" in proc.stderr
    gate.write_text("go")
    assert agent.wait(timeout=60) == 0
    runs = env.status(sweep_id)["runs"]
    # the run going at the update finished under the old config; then the new grid's
    # points (2, 3, 4), less any the old grid had already run
    assert runs[0]["state"] == "finished" and runs[0]["config"] == {"x": 1, "sleep": 1.5}
    assert sorted(r["config"]["x"] for r in runs[1:]) == [2, 3, 4]
    assert all(r["config"]["sleep"] == 0 for r in runs[1:])
    text = env.cli("sweep", "--print", sweep_id).stdout
    assert "revision 0" in text and ", 1 (" in text
    assert [r["revision"] for r in env.status(sweep_id)["revisions"]] == [0, 1]


def test_update_keeps_points_already_run_and_refuses_changes_of_meaning(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(GRID)
    env.cli("agent", sweep_id)
    new = env.tmp / "new.yaml"
    new.write_text(yaml.safe_dump({**GRID, "parameters": {"x": {"values": [1, 2, 3, 4]}}}))
    env.cli("sweep", "--update", sweep_id, str(new))
    env.cli("agent", sweep_id)
    assert [r["config"]["x"] for r in env.status(sweep_id)["runs"]] == [1, 2, 3, 4]
    for change, word in (({"method": "random"}, "method"),
                         ({"metric": {"name": "acc"}}, "metric.name"),
                         ({"metric": {"name": "loss", "goal": "maximize"}}, "metric.goal"),
                         ({"parameters": {"x": {"min": 3, "max": 1}}}, "parameters.x.min")):
        new.write_text(yaml.safe_dump({**GRID, **change}))
        proc = env.cli("sweep", "--update", sweep_id, str(new), check=False)
        assert proc.returncode == 2 and word in proc.stderr and "Traceback" not in proc.stderr
    assert len(env.status(sweep_id)["revisions"]) == 2


# ---- references and W&B's flags -------------------------------------------------------------
def test_entity_project_id_and_the_project_flag_everywhere(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(GRID, "--project", "proj", "-e", "my-team")
    ref = f"my-team/proj/{sweep_id}"
    env.cli("enqueue", ref, "--set", "x=2")
    env.cli("agent", ref, "--count", "1")
    env.cli("agent", sweep_id, "-p", "proj", "-e", "my-team", "--count", "1")
    assert env.status(ref)["counts"]["finished"] == 2
    assert json.loads(env.cli("sweep", "-p", "proj", "--print", sweep_id, "--json").stdout)["id"] == sweep_id
    env.cli("sweep", "--pause", ref)
    assert env.status(f"proj/{sweep_id}")["state"] == "paused"
    proc = env.cli("agent", sweep_id, "-p", "other", check=False)
    assert proc.returncode == 1 and "other" in proc.stderr


def test_program_flag_overrides_the_configs_program(env) -> None:
    env.program(PROGRAM, name="real.py")
    sweep_id = env.create({**GRID, "program": "missing.py"}, "--program", "real.py")
    env.cli("agent", sweep_id)
    assert env.status(sweep_id)["counts"]["finished"] == 3


FAILING = """
import sys
print("the last words of a broken program")
sys.exit(3)
"""


def test_max_consecutive_failed_runs_stops_the_agent_with_the_log_tail(env) -> None:
    env.program(FAILING)
    sweep_id = env.create({**GRID, "method": "random",
                           "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    proc = env.cli("agent", sweep_id, "--max-consecutive-failed-runs", "2", check=False,
                   env={"SWEEPCLI_AGENT_DISABLE_FLAPPING": "1"})
    assert proc.returncode == 1 and "2 runs failed in a row" in proc.stderr
    assert "the last words of a broken program" in proc.stderr
    assert env.status(sweep_id)["counts"]["failed"] == 2


def test_wandb_agent_max_initial_failures_is_honoured(env) -> None:
    env.program(FAILING)
    sweep_id = env.create({**GRID, "method": "random",
                           "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    proc = env.cli("agent", sweep_id, check=False, env={"WANDB_AGENT_MAX_INITIAL_FAILURES": "2"})
    assert proc.returncode == 1 and "first 2 runs all failed" in proc.stderr
    assert env.status(sweep_id)["counts"]["failed"] == 2
    proc = env.cli("agent", sweep_id, check=False, env={"WANDB_AGENT_MAX_INITIAL_FAILURES": "x"})
    assert proc.returncode == 2 and "WANDB_AGENT_MAX_INITIAL_FAILURES" in proc.stderr


STUBBORN = """
import os, signal, sys, time
def note(signum, frame):
    open(os.path.join(os.environ["SWEEPCLI_RUN_DIR"], "got"), "a").write(f"{signum}\\n")
    if signum == signal.SIGUSR1:
        sys.exit(0)
signal.signal(signal.SIGTERM, note)   # ignores SIGTERM: only SIGKILL ends it
signal.signal(signal.SIGUSR1, note)
open(os.path.join(os.environ["SWEEPCLI_RUN_DIR"], "ready"), "w").close()
while True:
    time.sleep(0.05)
"""


def _ready_run(env, sweep_id: str) -> str:
    def ready() -> str | None:
        runs = env.status(sweep_id)["runs"]
        if runs and (env.root / sweep_id / "runs" / runs[0]["run_id"] / "ready").exists():
            return runs[0]["run_id"]
        return None
    return env.wait_for(ready, timeout=30)


@pytest.mark.parametrize("term_timeout,bound", [(None, (4.5, 12)), ("1", (0.5, 4))])
def test_term_timeout_sets_the_grace_before_sigkill(env, term_timeout, bound) -> None:
    env.program(STUBBORN)
    sweep_id = env.create({**GRID, "method": "random", "parameters": {"x": {"value": 1}}})
    args = ["-t", term_timeout] if term_timeout else []
    agent = env.agent(sweep_id, *args)
    _ready_run(env, sweep_id)
    started = time.monotonic()
    env.cli("sweep", "--cancel", sweep_id)
    agent.wait(timeout=60)
    took = time.monotonic() - started
    assert bound[0] <= took <= bound[1], took  # default --cancel grace: 5 s
    assert env.status(sweep_id)["runs"][0]["state"] == "killed"


@pytest.mark.parametrize("forward", [False, True])
def test_forward_signals_passes_sigusr1_on_as_it_is(env, forward) -> None:
    env.program(STUBBORN)
    sweep_id = env.create({**GRID, "method": "random", "parameters": {"x": {"value": 1}}})
    agent = env.agent(sweep_id, "-t", "1", *(["-f"] if forward else []))
    run_id = _ready_run(env, sweep_id)
    agent.send_signal(signal.SIGUSR1)
    agent.wait(timeout=60)
    got = (env.root / sweep_id / "runs" / run_id / "got").read_text().split()
    assert got == ([str(int(signal.SIGUSR1))] if forward else [str(int(signal.SIGTERM))])
    assert env.status(sweep_id)["runs"][0]["state"] == "preempted"


# ---- the Python API ----------------------------------------------------------------------
def test_python_api_returns_what_print_json_shows(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({**GRID, "parameters": {"x": {"values": [3, 1, 2]},
                                                   "epochs": {"value": 3}}})
    env.cli("agent", sweep_id)
    script = f"""
import json, sweepcli
api = sweepcli.Api({str(env.root)!r})
s = api.sweep({sweep_id!r})
best = s.best_run()
print(json.dumps({{"id": s.id, "state": s.state, "project": s.project,
    "runs": [[r.id, r.state, r.config, r.value] for r in s.runs],
    "best": [best.id, best.value, best.config], "history": best.history(),
    "summary": best.summary, "dir": str(best.dir), "config": s.config}}))
"""
    out = json.loads(subprocess.run([sys.executable, "-c", script],
                                    cwd=env.tmp, env=env.env, capture_output=True, text=True,
                                    check=True).stdout)
    printed = env.status(sweep_id)
    assert out["id"] == sweep_id and out["state"] == printed["state"] == "finished"
    assert out["runs"] == [[r["run_id"], r["state"], r["config"], r["value"]] for r in printed["runs"]]
    assert out["best"] == [printed["best"]["run_id"], printed["best"]["value"], printed["best"]["config"]]
    assert [h["loss"] for h in out["history"]] == [1.0, 0.5, 1 / 3]
    assert out["summary"] == {"loss": 1 / 3, "epoch": 2, "loss.best": 1 / 3}
    assert out["dir"].endswith(f"{sweep_id}/runs/{printed['best']['run_id']}")
    assert out["config"]["parameters"]["x"] == {"values": [3, 1, 2]}


def test_python_control_and_enqueue(env) -> None:
    import sweepcli

    env.program(PROGRAM)
    sweep_id = env.create(GRID)
    root = str(env.root)
    sweepcli.pause(sweep_id, dir=root)
    assert env.status(sweep_id)["state"] == "paused"
    sweepcli.resume(sweep_id, dir=root)
    assert env.status(sweep_id)["state"] == "running"
    (pid, point), = sweepcli.enqueue(sweep_id, {"x": 2}, dir=root)
    assert point == {"x": 2} and env.status(sweep_id)["queue"][0]["id"] == pid
    with pytest.raises(sweepcli.api.PointError, match="x"):
        sweepcli.enqueue(sweep_id, {"x": 9}, dir=root)
    sweepcli.stop(sweep_id, dir=root)
    assert env.status(sweep_id)["state"] == "finished"
    sweepcli.cancel(sweep_id, dir=root)
    assert env.status(sweep_id)["state"] == "canceled"
    with pytest.raises(sweepcli.api.SweepClosed):
        sweepcli.resume(sweep_id, dir=root)


def test_a_sweep_that_reached_its_target_starts_nothing_even_enqueued(env) -> None:
    """--print and the agents agree: once metric.target is reached nothing new starts,
    and enqueue says so instead of leaving a point that never runs unexplained."""
    env.program(PROGRAM)
    sweep_id = env.create({**GRID, "metric": {"name": "loss", "target": 1.5}})
    env.cli("agent", sweep_id)
    assert env.status(sweep_id)["state"] == "finished"
    proc = env.cli("enqueue", sweep_id, "--set", "x=3")
    assert "reached metric.target" in proc.stderr
    assert env.status(sweep_id)["state"] == "finished"
    assert "reached metric.target" in env.cli("agent", sweep_id).stderr
    env.cli("sweep", "--stop", sweep_id)
    assert "is stopped" in env.cli("enqueue", sweep_id, "--set", "x=2").stderr


def test_print_shows_name_and_description_and_the_best_runs_first(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({**GRID, "name": "lr-scan", "description": "first look at x",
                           "parameters": {"x": {"values": [3, 1, 2, 5]}}})
    env.cli("agent", sweep_id)
    text = env.cli("sweep", "--print", sweep_id, "--top", "2").stdout
    assert "name    lr-scan" in text and "about   first look at x" in text
    runs = [line.split() for line in text.splitlines() if line.startswith("run ")]
    assert [r[3] for r in runs] == ["1", "2"]  # loss = x: the best first, two of them
    s = json.loads(env.cli("sweep", "--print", sweep_id, "--json", "--top", "3").stdout)
    assert [r["value"] for r in s["runs"]] == [1, 2, 3] and s["description"] == "first look at x"
    bad = env.cli("sweep", "--pause", sweep_id, "--top", "2", check=False)
    assert bad.returncode == 2 and "--top K is for --print" in bad.stderr
