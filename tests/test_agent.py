"""Real agents in parallel, killed and preempted; what the program receives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest

from .conftest import PROGRAM

pytestmark = pytest.mark.both_stores


def grid(values, **extra):
    return {"program": "train.py", "method": "grid", "metric": {"name": "loss"},
            "parameters": {"x": {"values": values}, **extra}}


def runs_by_state(env, sweep_id):
    return Counter(r["state"] for r in env.status(sweep_id)["runs"])


@pytest.mark.parametrize("lock", ["fcntl", "soft"])
def test_six_agents_on_one_grid_run_each_point_exactly_once(env, lock) -> None:
    env.program(PROGRAM)
    points = list(range(1, 25))
    sweep_id = env.create(grid(points, sleep={"value": 0.05}))
    agents = [env.agent(sweep_id, env={"SWEEPCLI_LOCK": lock}) for _ in range(6)]
    for a in agents:
        assert a.wait(timeout=120) == 0, a.stderr.read()
    s = env.status(sweep_id)
    xs = sorted(r["config"]["x"] for r in s["runs"])
    assert xs == points  # each point once, all present
    assert all(r["state"] == "finished" and r["value"] == r["config"]["x"] for r in s["runs"])
    assert len({r["run_id"] for r in s["runs"]}) == len(points)
    assert s["state"] == "finished"


def test_sigkill_of_an_agent_crashes_its_run_and_the_point_runs_again(env) -> None:
    env.program(PROGRAM)
    hb = {"SWEEPCLI_HEARTBEAT_TIMEOUT": "4"}  # (kept to on a busy machine)
    sweep_id = env.create(grid([1, 2], epochs={"value": 1}, sleep={"values": [30]}))
    victim = env.agent(sweep_id, "--count", "1", env=hb)
    env.wait_for(lambda: env.status(sweep_id)["counts"]["running"] == 1)
    run_id = env.status(sweep_id)["runs"][0]["run_id"]
    pid_file = env.root / sweep_id / "runs" / run_id / "pid"
    env.wait_for(pid_file.exists)  # written right after the program starts
    os.killpg(victim.pid, signal.SIGKILL)  # the agent, like a dead host
    victim.wait()
    os.killpg(int(pid_file.read_text()), signal.SIGKILL)  # its orphan, as the README says
    assert json.loads(env.inprocess("sweep", "--print", sweep_id, "--json", env=hb)
                      )["counts"]["running"] == 1  # its heartbeat was fresh a moment ago
    def crashed() -> subprocess.CompletedProcess | None:  # a look once it is silent long enough
        look = env.cli("sweep", "--print", sweep_id, "--json", env=hb)
        return look if json.loads(look.stdout)["counts"]["crashed"] == 1 else None
    look = env.wait_for(crashed, timeout=60)
    assert "watching" in look.stderr  # it watched one interval before calling it crashed
    env.program(PROGRAM.replace('float(cfg.get("sleep", 0))', "0"))
    survivor = env.agent(sweep_id, env=hb)
    assert survivor.wait(timeout=60) == 0, survivor.stderr.read()
    s = env.status(sweep_id)
    # the crashed run was resumed: the same run, its second attempt, in its own folder
    assert s["counts"] == {**s["counts"], "finished": 2, "crashed": 0} and len(s["runs"]) == 2
    run = next(r for r in s["runs"] if r["run_id"] == run_id)
    assert run["attempt"] == 2 and [a["state"] for a in run["attempts"]] == ["crashed", "finished"]
    assert sorted(r["config"]["x"] for r in s["runs"]) == [1, 2]


def pid_of(env, sweep_id: str, run_id: str) -> int:
    """The run's process group, once the agent has written it."""
    path = env.root / sweep_id / "runs" / run_id / "pid"
    env.wait_for(path.exists)
    return int(path.read_text())


def gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1])
def test_sigterm_preempts_the_run_and_its_point_is_requeued(env, sig) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid([1], sleep={"value": 0.1}, epochs={"value": 300}))
    agent = env.agent(sweep_id)
    env.wait_for(lambda: env.status(sweep_id)["counts"]["running"] == 1)
    run_id = env.status(sweep_id)["runs"][0]["run_id"]
    pgid = pid_of(env, sweep_id, run_id)
    agent.send_signal(sig)
    assert agent.wait(timeout=30) == 3  # preempted, the sweep has work left: requeue me
    s = env.status(sweep_id)
    assert [r["state"] for r in s["runs"]] == ["preempted"]
    assert gone(pgid)  # the program's whole process group was stopped with it
    env.program(PROGRAM.replace('float(cfg.get("sleep", 0))', "0"))
    assert env.agent(sweep_id).wait(timeout=60) == 0
    s = env.status(sweep_id)
    (run,) = s["runs"]  # the same run, resumed: one history, its attempts listed
    assert run["state"] == "finished" and run["run_id"] == run_id and run["attempt"] == 2
    assert [a["state"] for a in run["attempts"]] == ["preempted", "finished"]


def test_cancel_kills_running_programs_even_stubborn_ones(env) -> None:
    env.program("""
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)   # a stubborn program: SIGKILL it takes
        time.sleep(600)
    """)
    sweep_id = env.create(grid([1, 2]))
    agents = [env.watched_agent(sweep_id) for _ in range(2)]
    env.wait_for(lambda: env.status(sweep_id)["counts"]["running"] == 2)
    pgids = [pid_of(env, sweep_id, r["run_id"]) for r in env.status(sweep_id)["runs"]]
    env.cli("sweep", "--cancel", sweep_id)
    for a in agents:
        assert a.wait(timeout=60) == 0, a.text()
        assert "the sweep was canceled; killing it" in a.text()
    s = env.status(sweep_id)
    assert s["state"] == "canceled" and s["counts"]["killed"] == 2
    assert all(gone(g) for g in pgids)


def test_pause_makes_agents_wait_and_stop_lets_runs_finish(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({**grid([1]), "method": "random",
                           "parameters": {"x": {"min": 0.0, "max": 1.0}, "sleep": {"value": 1.0}}})
    env.cli("sweep", "--pause", sweep_id)
    agent = env.watched_agent(sweep_id)
    agent.wait_for_text("waiting: the sweep is paused")  # it started, looked, and waits
    assert env.status(sweep_id)["runs"] == [] and agent.poll() is None
    env.cli("sweep", "--resume", sweep_id)
    env.wait_for(lambda: env.status(sweep_id)["counts"]["running"] == 1)
    env.cli("sweep", "--stop", sweep_id)
    assert agent.wait(timeout=30) == 0, agent.text()
    s = env.status(sweep_id)
    assert s["state"] == "finished" and s["counts"]["finished"] >= 1 and s["counts"]["running"] == 0
    assert s["counts"]["killed"] == 0  # --stop lets the running run finish


def test_garbage_nan_and_half_written_metric_lines_are_skipped(env) -> None:
    env.program("""
        import os
        with open(os.environ["SWEEPCLI_METRICS_FILE"], "a") as f:
            f.write('{"loss": 5}\\n')
            f.write('not json at all\\n')
            f.write('[1, 2, 3]\\n')
            f.write('{"loss": NaN}\\n{"loss": "low"}\\n{"loss": Infinity}\\n{"loss": true}\\n')
            f.write('{"loss": 2.5, "epoch": 1}\\n')
            f.write('{"loss": 0.1')   # killed mid-line
    """)
    sweep_id = env.create(grid([1]))
    proc = env.cli("agent", sweep_id)
    s = env.status(sweep_id)
    assert s["runs"][0]["state"] == "finished" and s["runs"][0]["value"] == 2.5
    assert s["runs"][0]["steps"] == 2
    assert "not JSON" in proc.stderr and "half-written" in proc.stderr
    assert proc.stderr.count("not JSON") == 1


def test_values_with_spaces_quotes_and_semicolons_arrive_as_one_argument(env) -> None:
    env.program(PROGRAM)
    hostile = ["a b", "it's \"quoted\"", "x; rm -rf /", "$(touch pwned)", "`id`", "--x=1"]
    sweep_id = env.create(grid([1], name={"values": hostile}))
    env.cli("agent", sweep_id)
    seen = []
    for r in env.status(sweep_id)["runs"]:
        argv = json.loads((env.root / sweep_id / "runs" / r["run_id"] / "argv.json").read_text())
        assert len(argv) == 2 and argv[1] == "--x=1"
        seen.append(argv[0].removeprefix("--name="))
        assert r["state"] == "finished"
    assert sorted(seen) == sorted(hostile)
    assert not (env.tmp / "pwned").exists()


def test_program_environment_and_files(env) -> None:
    env.program("""
        import json, os, sys
        keys = ["SWEEPCLI_SWEEP_ID", "SWEEPCLI_RUN_ID", "SWEEPCLI_RUN_DIR",
                "SWEEPCLI_CONFIG_FILE", "SWEEPCLI_METRICS_FILE"]
        print(json.dumps({k: os.environ[k] for k in keys} | {"cwd": os.getcwd(),
              "pgid": os.getpgid(0) == os.getpid()}))
        print("to stderr", file=sys.stderr)
    """)
    sweep_id = env.create(grid([1], model={"parameters": {"depth": {"value": 3}}}))
    out = env.cli("agent", sweep_id).stdout
    seen = json.loads(out.splitlines()[0])
    run_dir = env.root / sweep_id / "runs" / seen["SWEEPCLI_RUN_ID"]
    assert seen["SWEEPCLI_SWEEP_ID"] == sweep_id and seen["cwd"] == str(env.tmp)
    assert seen["SWEEPCLI_RUN_DIR"] == str(run_dir.resolve()) and seen["pgid"]
    assert json.loads(open(seen["SWEEPCLI_CONFIG_FILE"]).read()) == {"x": 1, "model": {"depth": 3}}
    log = (run_dir / "output.log").read_text()
    assert "SWEEPCLI_RUN_ID" in log and "to stderr" in log


def test_count_limits_the_runs(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid([1, 2, 3, 4]))
    env.cli("agent", sweep_id, "--count", "2")
    assert len(env.status(sweep_id)["runs"]) == 2


def test_flapping_agent_stops_and_shows_the_log(env) -> None:
    env.program("import sys; print('boom: bad import'); sys.exit(3)")
    sweep_id = env.create({**grid([1]), "method": "random",
                           "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    proc = env.cli("agent", sweep_id, check=False)
    assert proc.returncode == 1 and "boom: bad import" in proc.stderr
    assert len(env.status(sweep_id)["runs"]) == 3
    proc = env.cli("agent", sweep_id, "--count", "4", env={"SWEEPCLI_AGENT_DISABLE_FLAPPING": "1"})
    assert len(env.status(sweep_id)["runs"]) == 7


def test_failed_runs_are_not_rerun_until_asked(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid([1, 2], fail={"values": [0, 1]}))
    env.cli("agent", sweep_id, env={"SWEEPCLI_AGENT_DISABLE_FLAPPING": "1"})
    assert runs_by_state(env, sweep_id) == {"finished": 2, "failed": 2}
    assert env.status(sweep_id)["state"] == "finished"
    env.cli("sweep", "--rerun-failed", sweep_id)
    assert env.status(sweep_id)["state"] == "running"
    env.cli("agent", sweep_id, env={"SWEEPCLI_AGENT_DISABLE_FLAPPING": "1"})
    # each failed run ran again as its own second attempt (and failed again)
    assert runs_by_state(env, sweep_id) == {"finished": 2, "failed": 2}
    assert sorted(r["attempt"] for r in env.status(sweep_id)["runs"]) == [1, 1, 2, 2]
    assert env.status(sweep_id)["state"] == "finished"


def test_run_cap_and_target_end_the_sweep(env) -> None:
    env.program(PROGRAM)
    capped = env.create({**grid([1]), "method": "random", "run_cap": 3,
                         "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    env.cli("agent", capped)
    assert len(env.status(capped)["runs"]) == 3 and env.status(capped)["state"] == "finished"
    target = env.create({**grid([5, 4, 3, 2, 1]), "metric": {"name": "loss", "target": 3.5}})
    proc = env.cli("agent", target)
    assert len(env.status(target)["runs"]) == 3 and "metric.target" in proc.stderr


def test_custom_command_macros(env) -> None:
    env.program(PROGRAM)
    config = {**grid([2]), "command": ["${env}", "${interpreter}", "${program}",
                                       "${args_no_hyphens}", "--tag=${envvar:MY_TAG}",
                                       "${args_json}"],
              "parameters": {"x": {"value": 2}, "m": {"parameters": {"d": {"value": True}}}}}
    sweep_id = env.create(config)
    env.cli("agent", sweep_id, env={"MY_TAG": "t1"})
    r = env.status(sweep_id)["runs"][0]
    argv = json.loads((env.root / sweep_id / "runs" / r["run_id"] / "argv.json").read_text())
    assert argv == ["m.d=True", "x=2", "--tag=t1", json.dumps({"m": {"d": True}, "x": 2})]


def test_missing_program_is_a_clear_error(env) -> None:
    sweep_id = env.create({"method": "grid", "parameters": {"x": {"values": [1]}}})
    proc = env.cli("agent", sweep_id, check=False)
    assert proc.returncode == 1 and "program" in proc.stderr and "Traceback" not in proc.stderr
    assert env.status(sweep_id)["runs"] == []  # refused before any run was claimed


@pytest.mark.e2e
def test_in_process_api_with_a_function(tmp_path) -> None:
    code = f"""
import sweepcli
def train():
    with sweepcli.init(config={{"lr": 0.5, "other": 7}}) as run:
        for i in range(3):
            sweepcli.log({{"loss": run.config.lr * sweepcli.config.model.w + i}})
        assert run.config["other"] == 7
sid = sweepcli.sweep({{"method": "grid", "metric": {{"name": "loss"}},
                       "parameters": {{"lr": {{"values": [0.1, 0.2]}},
                                      "model": {{"parameters": {{"w": {{"value": 10}}}}}}}}}},
                     dir={str(tmp_path)!r})
report = sweepcli.agent(sid, function=train, dir={str(tmp_path)!r})
print(sorted(round(r.value, 6) for r in report.runs))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1.0, 2.0]"


@pytest.mark.e2e
def test_child_helper_standalone_uses_defaults_and_arguments(tmp_path) -> None:
    prog = tmp_path / "p.py"
    prog.write_text(
        "import sweepcli\n"
        "run = sweepcli.init(config={'lr': 0.1, 'model': {'depth': 2}, 'name': 'a'})\n"
        "run.log({'loss': 1.0})\n"
        "print(run.config.lr, run.config.model.depth, run.config['name'], run.in_sweep)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEEPCLI_")}
    out = subprocess.run([sys.executable, str(prog)], capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["0.1", "2", "a", "False"], out.stderr
    out = subprocess.run([sys.executable, str(prog), "--lr=1e-3", "--model.depth=5", "--name=b c"],
                         capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["0.001", "5", "b", "c", "False"], out.stderr


def test_gpus_run_one_run_per_gpu_at_once(env) -> None:
    env.program("""
        import json, os, time
        start = time.time()
        time.sleep(0.8)
        with open(os.path.join(os.environ["SWEEPCLI_RUN_DIR"], "gpu.json"), "w") as f:
            json.dump({"gpu": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": start,
                       "end": time.time()}, f)
    """)
    sweep_id = env.create(grid([1, 2, 3, 4, 5, 6]))
    env.cli("agent", sweep_id, "--gpus", "0,1,2")
    seen = [json.loads((env.root / sweep_id / "runs" / r["run_id"] / "gpu.json").read_text())
            for r in env.status(sweep_id)["runs"]]
    assert sorted(s["gpu"] for s in seen) == ["0", "0", "1", "1", "2", "2"]
    # one GPU never ran two at once
    for g in "012":
        mine = sorted((s["start"], s["end"]) for s in seen if s["gpu"] == g)
        assert mine[0][1] <= mine[1][0]
    # runs on different GPUs ran side by side: every GPU's first run overlapped the others'
    firsts = [min((s["start"], s["end"]) for s in seen if s["gpu"] == g) for g in "012"]
    assert max(start for start, _ in firsts) < min(end for _, end in firsts)


def test_gpus_with_count_stops_at_count(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid(list(range(10))))
    env.cli("agent", sweep_id, "--gpus", "0,1", "--count", "3")
    assert len(env.status(sweep_id)["runs"]) == 3


def test_live_display_on_a_terminal(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid([1, 2, 3], sleep={"value": 0.3}, epochs={"value": 2}))
    code, text = env.on_terminal("agent", sweep_id, "--count", "3")
    assert code == 0, text
    assert "3/3 runs" in text and "loss=" in text  # the progress bar and the last metric
    assert "\x1b[" in text  # drawn with terminal control sequences


def test_plain_lines_when_not_a_terminal(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid([1, 2]))
    err = env.cli("agent", sweep_id, "--count", "2").stderr
    assert "\x1b[" not in err
    assert err.count("started") == 2 and "[2/2]" in err


def test_ctrl_c_tiers(env) -> None:
    go = env.tmp / "go"
    env.program(f"""
        import json, os, sys, time
        out = open(os.environ["SWEEPCLI_METRICS_FILE"], "a")
        for epoch in range(40):
            out.write(json.dumps({{"loss": 1.0 / (epoch + 1)}}) + "\\n"); out.flush()
            if epoch >= 3 and os.path.exists({str(go)!r}):  # the test lets it end
                break
            time.sleep(0.25)
    """)
    sweep_id = env.create(grid([1, 2, 3]))
    agent = env.watched_agent(sweep_id)
    agent.wait_for_text("started")
    agent.send_signal(signal.SIGINT)  # once: the run finishes, no new run starts
    agent.wait_for_text("Ctrl-C again to terminate it")
    go.touch()
    assert agent.wait(timeout=60) == 130
    assert runs_by_state(env, sweep_id) == {"finished": 1}
    go.unlink()
    agent = env.watched_agent(sweep_id)
    agent.wait_for_text("started")
    agent.send_signal(signal.SIGINT)
    agent.wait_for_text("Ctrl-C again to terminate it")
    agent.send_signal(signal.SIGINT)  # twice: the run is terminated now
    assert agent.wait(timeout=60) == 130
    s = env.status(sweep_id)
    assert Counter(r["state"] for r in s["runs"]) == {"finished": 1, "killed": 1}
    assert next(r for r in s["runs"] if r["state"] == "killed")["steps"] < 40  # cut short
    assert "Ctrl-C again to kill it" in agent.text()


def test_a_third_ctrl_c_kills_a_program_that_ignores_sigterm(env) -> None:
    env.program("""
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(600)
    """)
    sweep_id = env.create({**grid([1]), "sweepcli": {"stop_grace_seconds": 300}})
    agent = env.watched_agent(sweep_id)
    env.wait_for(lambda: env.status(sweep_id)["counts"]["running"] == 1)
    pgid = pid_of(env, sweep_id, env.status(sweep_id)["runs"][0]["run_id"])
    agent.send_signal(signal.SIGINT)
    agent.wait_for_text("Ctrl-C again to terminate it")
    agent.send_signal(signal.SIGINT)
    agent.wait_for_text("Ctrl-C again to kill it")
    agent.send_signal(signal.SIGINT)  # it ignores SIGTERM and the grace is 300 s: SIGKILL now
    assert agent.wait(timeout=30) == 130
    assert gone(pgid) and env.status(sweep_id)["counts"]["killed"] == 1


# ---- what the README promises ---------------------------------------------------------------
def test_flapping_rule_three_fast_failures_or_five_in_all() -> None:
    from sweepcli.agent.policy import is_flapping
    from sweepcli.runs import RunState as S
    failed = [S.FAILED]
    assert not is_flapping(failed * 2, 1.0)
    assert is_flapping(failed * 3, 59.0)  # three within the first minute
    assert not is_flapping(failed * 3, 61.0) and not is_flapping(failed * 4, 3600.0)
    assert is_flapping(failed * 5, 3600.0)  # five in all, however slowly
    assert not is_flapping([S.FINISHED] + failed * 9, 1.0)  # one success: never flapping
    assert not is_flapping([S.STOPPED] + failed * 4, 1.0)


def test_the_wandb_name_of_the_flapping_switch_works_too(env) -> None:
    env.program("import sys; sys.exit(3)")
    sweep_id = env.create({**grid([1]), "method": "random",
                           "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    env.cli("agent", sweep_id, "--count", "4", env={"WANDB_AGENT_DISABLE_FLAPPING": "true"})
    assert runs_by_state(env, sweep_id) == {"failed": 4}


def test_run_cap_counts_new_points_not_re_runs(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({**grid([1]), "method": "random", "run_cap": 2,
                           "parameters": {"x": {"min": 0.0, "max": 1.0}, "sleep": {"value": 0.2},
                                          "epochs": {"value": 20}}})
    first = env.agent(sweep_id)
    env.wait_for(lambda: env.status(sweep_id)["counts"]["running"] == 1)
    first.send_signal(signal.SIGTERM)  # preempted: its point runs again, which is no new point
    assert first.wait(timeout=30) == 3
    env.program(PROGRAM.replace('float(cfg.get("sleep", 0))', "0"))
    env.cli("agent", sweep_id)
    s = env.status(sweep_id)
    assert Counter(r["state"] for r in s["runs"]) == {"finished": 2}
    assert s["state"] == "finished" and sorted(r["attempt"] for r in s["runs"]) == [1, 2]


def test_every_command_macro(env) -> None:
    env.program(PROGRAM)
    config = {**grid([2]), "command": [
        "${env}", "${interpreter}", "${program}", "${args}", "${args_no_equals}",
        "${args_append_hydra}", "${args_override_hydra}", "${args_no_boolean_flags}",
        "${args_json_file}", "plain", "--tag=${envvar:MY_TAG}"],
        "parameters": {"x": {"value": 2}, "on": {"value": True}, "off": {"value": False}}}
    sweep_id = env.create(config)
    env.cli("agent", sweep_id, env={"MY_TAG": "t1"})
    r = env.status(sweep_id)["runs"][0]
    run_dir = env.root / sweep_id / "runs" / r["run_id"]
    argv = json.loads((run_dir / "argv.json").read_text())
    assert argv == [
        "--off=False", "--on=True", "--x=2",
        "--off", "False", "--on", "True", "--x", "2",
        "+off=False", "+on=True", "+x=2",
        "++off=False", "++on=True", "++x=2",
        "--on", "--x=2",
        str((run_dir / "config.json").resolve()), "plain", "--tag=t1"]


def test_stop_grace_seconds_escalates_to_sigkill(env) -> None:
    env.program("""
        import json, os, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # it will not stop by itself
        cfg = json.load(open(os.environ["SWEEPCLI_CONFIG_FILE"]))
        with open(os.environ["SWEEPCLI_METRICS_FILE"], "a") as f:
            for epoch in range(80):
                f.write(json.dumps({"loss": cfg["x"]}) + "\\n"); f.flush(); time.sleep(0.05)
    """)
    sweep_id = env.create({**grid([1, 2, 9]), "sweepcli": {"stop_grace_seconds": 1},
                           "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 2}})
    agent = env.watched_agent(sweep_id)
    assert agent.wait(timeout=120) == 0, agent.text()
    s = env.status(sweep_id)
    weak = next(r for r in s["runs"] if r["config"]["x"] == 9)
    # ignoring SIGTERM it would log all 80 steps: it was killed 1 s after, at band 2 or 4
    assert weak["state"] == "stopped" and weak["steps"] < 40, weak
    assert "hyperband stops it" in agent.text()
    # which band stopped it, and why, for --json (it was null)
    assert weak["reason"].startswith("hyperband band ") and "loss 9 worse than" in weak["reason"]


def test_print_last_limits_the_runs_listed(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid([1, 2, 3, 4]))
    env.cli("agent", sweep_id)
    lines = env.cli("sweep", "--print", sweep_id, "--last", "2").stdout.splitlines()
    runs = [line for line in lines if line.startswith("run ")]
    assert len(runs) == 2 and runs[-1].split()[1] == env.status(sweep_id)["runs"][-1]["run_id"]
    assert not [line for line in env.cli("sweep", "--print", sweep_id, "--last", "0").stdout
                .splitlines() if line.startswith("run ")]


@pytest.mark.both_stores
def test_one_run_stopped_on_request_ends_stopped_and_the_sweep_goes_on(env) -> None:
    """sweep --stop ID --run RUN: that run's agent stops it gracefully (stopped, its reason
    said, its value what it logged); the next point runs."""
    env.program(PROGRAM)
    sweep_id = env.create(grid([1, 2], epochs={"value": 200}, sleep={"value": 0.05}))
    agent = env.watched_agent(sweep_id, "-t", "5")
    first = env.wait_for(lambda: next((r["run_id"] for r in env.status(sweep_id)["runs"]
                                       if r["steps"] >= 2), None), timeout=60)
    bad = env.cli("sweep", "--stop", sweep_id, "--run", "zzzzzzzz", check=False)
    assert bad.returncode == 2 and "has no run zzzzzzzz" in bad.stderr
    got = env.cli("sweep", "--stop", sweep_id, "--run", first)
    assert f"Run {first} of {sweep_id} will stop" in got.stderr
    agent.wait_for_text(f"run {first}: stopped on request")
    env.wait_for(lambda: len(env.status(sweep_id)["runs"]) == 2)  # the sweep went on
    again = env.cli("sweep", "--stop", sweep_id, "--run", first, check=False)
    assert again.returncode == 2 and "is stopped, not running" in again.stderr
    env.cli("sweep", "--cancel", sweep_id)
    assert agent.wait(timeout=60) == 0, agent.text()
    run = next(r for r in env.status(sweep_id)["runs"] if r["run_id"] == first)
    assert run["state"] == "stopped" and run["reason"] == "stopped on request"
    assert 2 <= run["steps"] < 200 and run["value"] is not None
