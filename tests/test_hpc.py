"""Long runs on batch clusters: resume in place after a preemption or a crash, the job's
walltime, run timeouts, packing GPUs, and points that keep crashing. Stand-ins for
squeue, nvidia-smi and scontrol; real agents, real signals."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from .conftest import PROGRAM

#: a program that checkpoints in its run folder every step and resumes from it; it logs
#: what it was told (attempt, resumed) and one metric line per step
RESUMABLE = """
import json, os, sys, time
import sweepcli
with sweepcli.init() as run:
    ckpt = os.path.join(run.dir, "ckpt")
    start = int(open(ckpt).read()) if run.resumed and os.path.exists(ckpt) else 0
    with open(os.path.join(run.dir, "attempts.log"), "a") as f:
        f.write(json.dumps({"attempt": run.attempt, "resumed": run.resumed, "start": start,
                            "env": [os.environ["SWEEPCLI_ATTEMPT"], os.environ["SWEEPCLI_RESUME"]]}) + "\\n")
    for step in range(start, run.config.steps):
        time.sleep(run.config.pause)
        open(ckpt + ".tmp", "w").write(str(step + 1))
        os.replace(ckpt + ".tmp", ckpt)
        run.log({"loss": 100.0 - step, "step": step})
        if step + 1 == int(os.environ.get("HOLD_AT", 0)):
            while not run.should_stop:  # held here until the test preempts it
                time.sleep(0.05)
        if run.should_stop:
            break
"""


def run_dir(env, sweep_id: str, run_id: str) -> Path:
    return env.root / sweep_id / "runs" / run_id


def attempts_log(env, sweep_id: str, run_id: str) -> list[dict]:
    path = run_dir(env, sweep_id, run_id) / "attempts.log"
    return [json.loads(line) for line in path.read_text().splitlines()]


def checkpoint(env, sweep_id: str) -> int:
    runs = env.status(sweep_id)["runs"]
    if not runs:
        return 0
    ckpt = run_dir(env, sweep_id, runs[0]["run_id"]) / "ckpt"
    try:
        return int(ckpt.read_text())
    except (OSError, ValueError):
        return 0


def test_a_preempted_run_resumes_in_its_folder_and_its_history_continues(env) -> None:
    env.program(RESUMABLE)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"steps": {"value": 12}, "pause": {"value": 0.15},
                                          "x": {"values": [1]}}})
    first = env.agent(sweep_id)
    env.wait_for(lambda: checkpoint(env, sweep_id) >= 4)
    first.send_signal(signal.SIGTERM)  # the batch system takes the node
    assert first.wait(timeout=30) == 3  # its time is up (preempted) with work left
    (run,) = env.status(sweep_id)["runs"]
    assert run["state"] == "preempted"
    stopped_at = checkpoint(env, sweep_id)
    assert 4 <= stopped_at < 12
    assert env.agent(sweep_id).wait(timeout=60) == 0
    (after,) = env.status(sweep_id)["runs"]
    assert after["run_id"] == run["run_id"] and after["state"] == "finished"
    assert after["attempt"] == 2 and [a["state"] for a in after["attempts"]] == [
        "preempted", "finished"]
    told = attempts_log(env, sweep_id, run["run_id"])
    assert told[0] == {"attempt": 1, "resumed": False, "start": 0, "env": ["1", "0"]}
    assert told[1] == {"attempt": 2, "resumed": True, "start": stopped_at, "env": ["2", "1"]}
    # one history, continued where the checkpoint stopped: every step once, in order
    lines = [json.loads(line) for line in
             (run_dir(env, sweep_id, run["run_id"]) / "metrics.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines] == list(range(12))
    assert after["steps"] == 12 and after["value"] == 89.0


def test_a_crashed_run_resumes_with_every_line_once_and_a_torn_line_left_alone(env) -> None:
    """Its agent vanished mid-run (its program lived on: the resume kills it first): the
    lines the program wrote after the agent's last journal flush are not lost, none is
    counted twice, and the torn last line does not swallow the new attempt's first one."""
    env.program("""
        import json, os, sys, time
        out = open(os.environ["SWEEPCLI_METRICS_FILE"], "a")
        if os.environ["SWEEPCLI_ATTEMPT"] == "1":
            for i in range(5):
                out.write(json.dumps({"loss": float(i)}) + "\\n")
            out.write('{"loss": 99')  # torn: its agent died mid-line
            out.flush()
            open(os.path.join(os.environ["SWEEPCLI_RUN_DIR"], "ready"), "w").close()
            time.sleep(600)
        for i in range(5, 8):
            out.write(json.dumps({"loss": float(i)}) + "\\n")
    """)
    hb = {"SWEEPCLI_HEARTBEAT_TIMEOUT": "2"}
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": [1]}}})
    victim = env.agent(sweep_id, env=hb)
    env.wait_for(lambda: env.status(sweep_id)["runs"] and (run_dir(
        env, sweep_id, env.status(sweep_id)["runs"][0]["run_id"]) / "ready").exists())
    run_id = env.status(sweep_id)["runs"][0]["run_id"]
    pgid = int((run_dir(env, sweep_id, run_id) / "pid").read_text())
    os.killpg(victim.pid, signal.SIGKILL)  # the agent dies; its program lives on, orphaned
    victim.wait()
    env.wait_for(lambda: json.loads(env.cli("sweep", "--print", sweep_id, "--json", env=hb).stdout)
                 ["counts"]["crashed"] == 1)  # a look calls it crashed once it is silent
    os.killpg(pgid, 0)  # still there
    resumer = env.watched_agent(sweep_id, env=hb)
    assert resumer.wait(timeout=60) == 0
    # two attempts never write one folder: the orphan was killed before the resume
    assert "previous attempt's program was still running here" in resumer.text()
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    (run,) = env.status(sweep_id)["runs"]
    assert run["state"] == "finished" and run["attempt"] == 2
    assert [a["state"] for a in run["attempts"]] == ["crashed", "finished"]
    sweep = __import__("sweepcli").Api(str(env.root)).sweep(sweep_id)
    assert [h["loss"] for h in sweep.runs[0].history()] == [float(i) for i in range(8)]
    assert run["steps"] == 8  # the journal's history: each value once


def test_hyperband_judges_the_whole_history_of_a_resumed_run(env) -> None:
    """Bands count the values of every attempt: a run preempted at its 4th value and
    resumed reaches band 6 with its resumed attempt's 2nd value, and is stopped there as a
    weak run (a new history would have reached band 6 four values later)."""
    env.program(RESUMABLE.replace("100.0 - step", "1000.0 + step").replace(
        "time.sleep(run.config.pause)", "pass"), name="strong.py")
    base = {"method": "grid", "metric": {"name": "loss", "goal": "maximize"},
            "parameters": {"steps": {"value": 30}, "pause": {"value": 0.3}, "x": {"values": [1, 2]}}}
    strong = env.create({**base, "program": "strong.py",
                         "parameters": {**base["parameters"], "pause": {"value": 0.3},
                                        "steps": {"value": 30}}})
    env.cli("agent", strong)  # two runs, 30 strong values each: the bands' yardstick
    env.program(RESUMABLE)
    sweep_id = env.create({**base, "program": "train.py",
                           "parameters": {**base["parameters"], "pause": {"values": [0.3]},
                                          "x": {"values": [1, 2, 3]}},
                           "early_terminate": {"type": "hyperband", "min_iter": 6, "eta": 2}},
                          "--prior", strong)
    assert env.status(sweep_id)["prior_runs"] == 2
    first = env.agent(sweep_id, env={"HOLD_AT": "4"})  # its program waits at its 4th value
    env.wait_for(lambda: checkpoint_of(env, sweep_id) >= 4)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 3
    (run,) = [r for r in env.status(sweep_id)["runs"] if not r["prior"]]
    assert run["state"] == "preempted" and run["steps"] == 4
    assert env.agent(sweep_id).wait(timeout=60) == 0
    (run,) = [r for r in env.status(sweep_id)["runs"] if not r["prior"]]
    assert run["state"] == "stopped" and run["attempt"] == 2
    assert 6 <= run["steps"] <= 8, run["steps"]


def checkpoint_of(env, sweep_id: str) -> int:
    """The checkpoint of the sweep's own (not prior) run."""
    own = [r for r in env.status(sweep_id)["runs"] if not r["prior"]]
    if not own:
        return 0
    try:
        return int((run_dir(env, sweep_id, own[0]["run_id"]) / "ckpt").read_text())
    except (OSError, ValueError):
        return 0


@pytest.mark.parametrize("limit", [0, 1, 2])
def test_a_point_that_keeps_crashing_stops_being_retried(env, limit) -> None:
    """``max_retries: N``: N more attempts after the first crash, then ``failed``."""
    env.program(PROGRAM)
    # (4 s: an agent's heartbeat thread keeps to it on a busy machine)
    hb = {"SWEEPCLI_HEARTBEAT_TIMEOUT": "4"}
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "sweepcli": {"max_retries": limit},
                           "parameters": {"x": {"values": [1]}, "sleep": {"value": 60}}})
    pgid = None
    for n in range(1, limit + 2):
        agent = env.agent(sweep_id, env=hb)
        env.wait_for(lambda: env.status(sweep_id)["counts"]["running"] == 1)
        run_id = env.status(sweep_id)["runs"][0]["run_id"]
        pid_file = run_dir(env, sweep_id, run_id) / "pid"
        last = pgid
        env.wait_for(lambda f=pid_file, old=last: f.exists() and f.read_text().strip() != str(old))
        pgid = int(pid_file.read_text())  # this attempt's program
        os.killpg(agent.pid, signal.SIGKILL)
        os.killpg(pgid, signal.SIGKILL)
        agent.wait()

        def ended() -> dict | None:  # a look that finds its heartbeat silent ends it
            look = env.inprocess("sweep", "--print", sweep_id, "--json", env=hb)
            (run,) = json.loads(look)["runs"]
            return run if run["state"] != "running" else None
        run = env.wait_for(ended)
        assert run["attempt"] == n
        assert run["state"] == ("crashed" if n <= limit else "failed")
    assert f"crashed {limit + 1} times" in run["reason"] and "max_retries" in run["reason"]
    assert f"crashed {limit + 1} times" in env.cli("sweep", "--print", sweep_id).stdout
    proc = env.cli("agent", sweep_id, env=hb)  # nothing left: not retried again
    assert "every grid point has run" in proc.stderr
    assert env.status(sweep_id)["runs"][0]["attempt"] == limit + 1
    env.cli("sweep", "--rerun-failed", sweep_id)  # asked for by name: one more attempt
    assert env.status(sweep_id)["state"] == "running"


def test_preemptions_do_not_count_against_max_retries(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "sweepcli": {"max_retries": 1},
                           "parameters": {"x": {"values": [1]}, "sleep": {"value": 0.2},
                                          "epochs": {"value": 100}}})
    for _ in range(3):
        agent = env.agent(sweep_id)
        env.wait_for(lambda: env.status(sweep_id)["counts"]["running"] == 1)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 3
    (run,) = env.status(sweep_id)["runs"]
    assert run["state"] == "preempted" and run["attempt"] == 3


SLOW = """
import json, os, time
cfg = json.load(open(os.environ["SWEEPCLI_CONFIG_FILE"]))
out = open(os.environ["SWEEPCLI_METRICS_FILE"], "a")
for i in range(int(cfg["lines"])):
    out.write(json.dumps({"loss": 10.0 - i}) + "\\n")
    out.flush()
    time.sleep(float(cfg["pause"]))
"""


@pytest.mark.parametrize("how", ["config", "flag"])
def test_run_timeout_stops_a_run_that_goes_on_too_long(env, how) -> None:
    env.program(SLOW)
    config = {"program": "train.py", "method": "grid", "metric": {"name": "loss"},
              "parameters": {"lines": {"value": 600}, "pause": {"value": 0.05}, "x": {"values": [1]}}}
    if how == "config":
        config["sweepcli"] = {"run_timeout": 1.5}
    sweep_id = env.create(config)
    started = time.monotonic()
    env.cli("agent", sweep_id, "-t", "1", *(["--run-timeout", "1.5"] if how == "flag" else []))
    assert time.monotonic() - started < 15
    (run,) = env.status(sweep_id)["runs"]
    assert run["state"] == "stopped" and run["reason"] == "timeout"
    assert run["value"] is not None and run["value"] < 10  # counts with its best so far
    assert "timeout" in env.cli("sweep", "--print", sweep_id).stdout


def durations_sweep(env, seconds: float) -> str:
    env.program(SLOW)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"lines": {"value": 3}, "pause": {"value": seconds / 3},
                                          "x": {"values": [1, 2, 3, 4]}}})
    return sweep_id


def test_time_limit_starts_no_run_that_cannot_finish(env) -> None:
    sweep_id = durations_sweep(env, 3.0)
    env.cli("agent", sweep_id, "--count", "1")  # one finished run: a run takes about 3 s
    # -t 0.5: stopping takes 0.5 + 5 s of margin, so a job of 11 s holds 5.5 s of runs: one
    # run fits at its start, and after it (3 s on) the 2.5 s left do not hold another
    proc = env.cli("agent", sweep_id, "--time-limit", "11", "-t", "0.5", check=False)
    assert proc.returncode == 3 and "no run fits" in proc.stderr and "about 3 s" in proc.stderr
    assert "exit status 3" in proc.stderr and "work left" in proc.stderr
    assert len(env.status(sweep_id)["runs"]) == 2


def test_a_run_longer_than_any_job_still_starts_and_a_job_too_short_for_anything_fails(env) -> None:
    """A SLURM array requeued forever: once runs took longer than a job (they spanned
    several), every new job said 'no run fits' and asked to be requeued while points waited."""
    sweep_id = durations_sweep(env, 3.0)
    env.cli("agent", sweep_id, "--count", "1")  # a run takes about 3 s
    # a job of 7 s holds 1.5 s of runs: no job of this length holds a whole run, so it starts
    # one (it is stopped before the end, and resumed by the next job)
    proc = env.cli("agent", sweep_id, "--time-limit", "7", "-t", "0.5", check=False)
    assert proc.returncode == 3, proc.stderr
    states = sorted(r["state"] for r in env.status(sweep_id)["runs"])
    assert states == ["finished", "preempted"], proc.stderr
    # a job no longer than the stop margin can never run anything: not 'requeue me' (3)
    proc = env.cli("agent", sweep_id, "--time-limit", "5", "-t", "0.5", check=False)
    assert proc.returncode == 1 and "no run can start" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_time_limit_stops_the_running_run_before_the_end_to_resume_it_later(env) -> None:
    env.program(SLOW)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"lines": {"value": 600}, "pause": {"value": 0.05},
                                          "x": {"values": [1]}}})
    started = time.monotonic()
    # no finished run yet: the first run starts whatever the limit; it is stopped 5.5 s
    # before the agent's end, as a preemption (not SLURM's SIGKILL)
    proc = env.cli("agent", sweep_id, "--time-limit", "8", "-t", "0.5", check=False)
    assert proc.returncode == 3, proc.stderr  # its time is up, the run is left to resume
    took = time.monotonic() - started
    # by the agent's own clock (its limit counts from its start, not from this process's
    # call: under two CPU burners Python's start alone took most of a second)
    own = float(re.search(r"agent done after .* in ([0-9.]+) s", proc.stderr).group(1))
    assert 2 <= took and own <= 7.5, (took, own)
    (run,) = env.status(sweep_id)["runs"]
    assert run["state"] == "preempted" and "time limit" in run["reason"]
    assert "no run fits" in proc.stderr


def stand_in(tmp_path: Path, name: str, body: str) -> dict:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / name).write_text("#!/bin/sh\n" + body)
    (bindir / name).chmod(0o755)
    return {"PATH": f"{bindir}:{os.environ['PATH']}"}


def test_time_limit_auto_reads_the_slurm_jobs_end(env, tmp_path) -> None:
    import re

    sweep_id = durations_sweep(env, 3.0)
    # the job ends in an hour: the agent says so (and runs within it)
    end = time.time() + 3600
    proc = env.cli("agent", sweep_id, "--time-limit", "auto", "--count", "1",
                   env={"SLURM_JOB_END_TIME": str(int(end))})
    left = re.search(r"the job ends in (\d+) s \(SLURM_JOB_END_TIME\)", proc.stderr)
    assert left and 3000 < int(left.group(1)) <= 3600, proc.stderr
    # an older SLURM: squeue tells the end, in local time
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 3600))
    path = stand_in(tmp_path, "squeue", f'[ "$*" = "-h -j 4242 -o %e" ] && echo {stamp}\n')
    proc = env.cli("agent", sweep_id, "--time-limit", "auto", "--count", "1",
                   env={**path, "SLURM_JOB_ID": "4242"})
    left = re.search(r"the job ends in (\d+) s \(squeue", proc.stderr)
    assert left and 3000 < int(left.group(1)) <= 3600, proc.stderr
    # a job that ends before the agent could stop a run: no run can start, not 'requeue me'
    proc = env.cli("agent", sweep_id, "--time-limit", "auto", "-t", "0.5", check=False,
                   env={"SLURM_JOB_END_TIME": str(int(time.time()) + 2)})
    assert proc.returncode == 1 and "no run can start" in proc.stderr, proc.stderr
    # outside a job: no limit
    proc = env.cli("agent", sweep_id, "--time-limit", "auto", "--count", "1")
    assert "not inside a SLURM job" in proc.stderr
    assert [r["state"] for r in env.status(sweep_id)["runs"]] == ["finished"] * 3


GPU_PROGRAM = """
import json, os, time
cfg = json.load(open(os.environ["SWEEPCLI_CONFIG_FILE"]))
start = time.time()
time.sleep(0.6)
with open(os.path.join(os.environ["SWEEPCLI_RUN_DIR"], "gpu.json"), "w") as f:
    json.dump({"devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": start,
               "end": time.time()}, f)
"""


def gpu_runs(env, sweep_id: str) -> list[dict]:
    return [json.loads((run_dir(env, sweep_id, r["run_id"]) / "gpu.json").read_text())
            for r in env.status(sweep_id)["runs"]]


def most_at_once(runs: list[dict], device: str) -> int:
    """The most runs that held ``device`` at the same instant."""
    events = sorted([(r["start"], 1) for r in runs if device in r["devices"].split(",")]
                    + [(r["end"], -1) for r in runs if device in r["devices"].split(",")])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def test_runs_per_gpu_packs_k_runs_on_each_gpu_never_more(env) -> None:
    env.program(GPU_PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "grid",
                           "parameters": {"x": {"values": list(range(8))}}})
    env.cli("agent", sweep_id, "--gpus", "all", "--runs-per-gpu", "2",
            env={"CUDA_VISIBLE_DEVICES": "3,5"})
    runs = gpu_runs(env, sweep_id)
    assert len(runs) == 8 and {r["devices"] for r in runs} == {"3", "5"}
    assert most_at_once(runs, "3") == 2 and most_at_once(runs, "5") == 2


def test_gpus_per_run_gives_each_run_its_own_group(env, tmp_path) -> None:
    env.program(GPU_PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "grid",
                           "parameters": {"x": {"values": list(range(4))}}})
    smi = stand_in(tmp_path, "nvidia-smi", 'for i in 0 1 2 3 4; do echo "GPU $i: Stand-in (UUID: GPU-$i)"; done\n')
    env.env.pop("CUDA_VISIBLE_DEVICES", None)
    proc = env.cli("agent", sweep_id, "--gpus", "all", "--gpus-per-run", "2", env=smi)
    assert "GPU(s) 4 left unused" in proc.stderr
    runs = gpu_runs(env, sweep_id)
    assert {r["devices"] for r in runs} == {"0,1", "2,3"}
    for device in "0123":
        assert most_at_once(runs, device) == 1


@pytest.mark.parametrize("args,extra,says", [
    (["--gpus", "all"], {"PATH": "/nonexistent"}, "nvidia-smi"),
    (["--runs-per-gpu", "2"], {}, "need --gpus"),
    (["--gpus", "0,1", "--gpus-per-run", "3"], {}, "only 2 GPU"),
    (["--gpus", "0,0"], {}, "distinct"),
    (["--gpus", "0,1", "--gpus-per-run", "2", "--runs-per-gpu", "2"], {}, "cannot both"),
    (["--time-limit", "soon"], {}, "--time-limit"),
])
def test_gpu_and_time_settings_that_cannot_work_exit_2(env, args, extra, says) -> None:
    env.program(GPU_PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "grid",
                           "parameters": {"x": {"values": [1]}}})
    env.env.pop("CUDA_VISIBLE_DEVICES", None)
    proc = env.cli("agent", sweep_id, *args, check=False, env=extra)
    assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr
    assert env.status(sweep_id)["runs"] == []


def test_a_resumed_attempt_sends_the_lines_its_crashed_agent_never_flushed(tmp_path) -> None:
    """The agent died after its program wrote lines 2-4 and before it sent them: the next
    attempt's watch finds them in the run's metric file and sends them first."""
    from sweepcli.agent.loop import Agent
    from sweepcli.agent.runfolder import resume_folder
    from sweepcli.agent.watch import RunWatch
    from sweepcli.config import validate
    from sweepcli.store import Store
    from sweepcli.store.events import claim_event, end_event, metric_event
    from sweepcli.runs import RunState

    folder = Store(tmp_path).create(validate({"method": "random", "metric": {"name": "loss"},
                                              "parameters": {"x": {"value": 1}},
                                              "program": "train.py"}))
    with folder.lock:
        folder.append(claim_event("aaaaaaaa", {"x": 1}, None, None, "h:1", 60.0),
                      metric_event("aaaaaaaa", [0.0, 1.0]),
                      end_event("aaaaaaaa", RunState.CRASHED, crash=True))
    path = folder.make_run_dir("aaaaaaaa")
    (path / "metrics.jsonl").write_text("".join(f'{{"loss": {i}.0}}\n' for i in range(5))
                                        + '{"loss": 9')
    resume_folder(path)
    assert (path / "metrics.jsonl").read_text().endswith('{"loss": 9\n')  # torn line ended
    agent = Agent(folder)
    watch = RunWatch(folder, agent.display, agent.retry, "aaaaaaaa", path, attempt=2)
    assert watch.unsent == [2.0, 3.0, 4.0] and watch.history == [0.0, 1.0, 2.0, 3.0, 4.0]
    with open(path / "metrics.jsonl", "a") as f:
        f.write('{"loss": 5.0}\n')
    watch._read_metrics()
    assert watch.unsent == [2.0, 3.0, 4.0, 5.0]  # the new attempt's first line, read whole


def test_a_run_takes_the_median_running_time_of_the_finished_runs() -> None:
    """What --time-limit expects a run to take: a resumed run's attempts add up (its last
    attempt alone would make long runs look short)."""
    from sweepcli.agent.policy import median_duration
    from sweepcli.runs import Run, RunState

    def finished(start: float, end: float, earlier: list[tuple[float, float]] = ()) -> Run:
        run = Run("aaaaaaaa", {}, RunState.FINISHED, attempt_started_at=start, ended_at=end)
        run.attempts = [{"started_at": a, "ended_at": b} for a, b in earlier]
        return run

    assert median_duration([]) is None
    assert median_duration([Run("bbbbbbbb", {}, RunState.RUNNING, attempt_started_at=1.0)]) is None
    runs = [finished(100, 110), finished(100, 130), finished(200, 210, [(100, 150)])]
    assert median_duration(runs) == 30  # 10, 30 and 50 + 10
    assert median_duration(runs[:2]) == 20


def test_a_preempted_run_resumes_when_its_remainder_fits_the_time_left() -> None:
    """A run takes 100 s; 40 s are left: no new run fits, but the preempted run that has
    run 80 s needs 20 (it was never resumed before: each later job saw 'no run fits')."""
    from sweepcli.agent.policy import nothing_fits
    from sweepcli.runs import Run, RunState

    runs = [Run(f"r{i}", {}, RunState.FINISHED, attempt_started_at=1.0, ended_at=101.0)
            for i in range(3)]
    preempted = Run("p", {}, RunState.PREEMPTED, attempt_started_at=10.0, ended_at=90.0)
    deadline, now, margin = 1000.0, 955.0, 5.0
    why = nothing_fits(deadline, now, margin, runs + [preempted])
    assert why is not None and "100 s" in why and "40 s are left" in why
    assert "less the 5 s it keeps to stop a run" in why  # the margin it subtracts, said
    assert nothing_fits(deadline, now, margin, runs + [preempted], preempted) is None
    early = Run("q", {}, RunState.PREEMPTED, attempt_started_at=10.0, ended_at=30.0)
    assert nothing_fits(deadline, now, margin, runs + [early], early) is not None  # 80 s: no
    assert "time limit is reached" in nothing_fits(deadline, 996.0, margin, runs)
    # a job of 90 s (85 s less the margin) never holds a 100 s run: it starts all the same
    assert nothing_fits(deadline, now, margin, runs, started=910.0) is None
    assert nothing_fits(deadline, now, margin, runs, started=800.0) is not None


def test_an_agent_whose_time_is_up_exits_0_when_the_sweep_is_done(env) -> None:
    """Exit 3 means 'requeue me': only while the sweep has work. An agent whose time is
    up on a sweep with nothing left exits 0, so a job array ends."""
    sweep_id = durations_sweep(env, 1.0)
    env.cli("agent", sweep_id)  # every point finished: each took about 1 s
    proc = env.cli("agent", sweep_id, "--time-limit", "8", "-t", "0.5", check=False)
    assert proc.returncode == 0, proc.stderr  # nothing is left to do: not 'requeue me'
    proc = env.cli("agent", sweep_id, "--time-limit", "5", "-t", "0.5", check=False)
    assert proc.returncode == 0, proc.stderr  # even with no time to run anything


def test_a_program_beside_the_sweep_file_runs_from_any_folder(env) -> None:
    """A batch job starts in the submit folder, not the sweep file's: the program named
    relative to the sweep file is found there (recorded when the sweep was created)."""
    sub = env.tmp / "experiments" / "mlp"
    sub.mkdir(parents=True)
    (sub / "train.py").write_text("import sweepcli\nsweepcli.log({'loss': sweepcli.config.x})\n")
    (sub / "sweep.yaml").write_text("program: train.py\nmethod: grid\nmetric: {name: loss}\n"
                                    "parameters:\n  x: {values: [1, 2]}\n")
    sweep_id = env.cli("sweep", str(sub / "sweep.yaml")).stdout.strip()
    elsewhere = env.tmp / "jobs"
    elsewhere.mkdir()
    proc = env.cli("agent", sweep_id, cwd=elsewhere)
    assert [r["state"] for r in env.status(sweep_id)["runs"]] == ["finished"] * 2, proc.stderr
    # a program found from the agent's own folder wins (W&B's rule)
    (elsewhere / "train.py").write_text("import sweepcli\nsweepcli.log({'loss': -1})\n")
    sweep2 = env.cli("sweep", str(sub / "sweep.yaml")).stdout.strip()
    env.cli("agent", sweep2, cwd=elsewhere)
    assert [r["value"] for r in env.status(sweep2)["runs"]] == [-1, -1]


def test_a_program_found_nowhere_spends_no_run(env) -> None:
    sub = env.tmp / "exp"
    sub.mkdir()
    (sub / "sweep.yaml").write_text("program: nope.py\nmethod: grid\nmetric: {name: loss}\n"
                                    "parameters:\n  x: {values: [1, 2]}\n")
    sweep_id = env.cli("sweep", str(sub / "sweep.yaml")).stdout.strip()
    proc = env.cli("agent", sweep_id, check=False)
    assert proc.returncode == 1
    assert "'nope.py' is neither in this folder" in proc.stderr and str(sub) in proc.stderr
    assert env.status(sweep_id)["runs"] == []  # every point is still there to run


def _stand_ins(bindir: Path, log: Path, queue: str = "") -> None:
    """sbatch, scontrol and squeue that record their calls (sbatch answers job 4242)."""
    bindir.mkdir(exist_ok=True)
    for name, answer in (("sbatch", "echo 4242"), ("scontrol", ""),
                         ("squeue", f"printf '{queue}'")):
        (bindir / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n{answer}\n')
        (bindir / name).chmod(0o755)


def test_sweepcli_slurm_submits_an_array_that_runs_the_sweep_to_its_end(env, tmp_path) -> None:
    """`sweepcli slurm` writes the script and submits it; its tasks (run here as SLURM would,
    two at once, each with a walltime shorter than the sweep) requeue through scontrol until
    the sweep is done, and not after. Every point ends finished, once."""
    import shutil
    import subprocess

    from .test_examples import EXAMPLES

    bindir, log = tmp_path / "bin", tmp_path / "calls.log"
    _stand_ins(bindir, log)
    shutil.copy(EXAMPLES / "slurm" / "train.py", env.tmp / "train.py")
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"lr": {"values": [0.1, 0.2, 0.3, 0.4]},
                                          "epoch_seconds": {"value": 0.2}}})
    path = f"{bindir}:{os.environ['PATH']}"
    proc = env.cli("slurm", sweep_id, "--array", "2", "--time", "00:10:00", "--gpus", "1",
                   "--agent-args", "-t 0.5", "--", "--partition=gpu", env={"PATH": path})
    assert proc.stdout.strip() == "4242"
    script = env.tmp / f"sweepcli-{sweep_id}.sbatch"
    text = script.read_text()
    for line in ("#SBATCH --array=0-1", "#SBATCH --time=00:10:00", "#SBATCH --gres=gpu:1",
                 "#SBATCH --open-mode=append", "#SBATCH --requeue"):
        assert line in text, text
    assert f"sbatch --parsable {script}" in log.read_text()
    assert "#SBATCH --partition=gpu" in text  # resubmitting the file keeps it
    assert "squeue" in log.read_text()  # asked whether this sweep had jobs queued already

    def task(i: int) -> subprocess.Popen:
        job_env = {**env.env, "PATH": path, "EPOCHS": "15", "SLURM_ARRAY_JOB_ID": "4242",
                   "SLURM_ARRAY_TASK_ID": str(i), "SLURM_JOB_END_TIME": str(int(time.time()) + 10)}
        return subprocess.Popen(["bash", str(script)], cwd=env.tmp, env=job_env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    runs = {0: 0, 1: 0}
    live = {i: task(i) for i in runs}
    while live:
        i, job = next(iter(live.items()))
        _, err = job.communicate(timeout=120)
        del live[i]
        runs[i] += 1
        assert job.returncode == 0, err
        assert runs[i] <= 15, "the array never finished"
        requeues = log.read_text().count(f"scontrol requeue 4242_{i}")
        if requeues == runs[i]:  # requeued: SLURM starts the task again
            live[i] = task(i)
        else:
            assert requeues == runs[i] - 1  # its last run found the sweep done: no requeue
    s = env.status(sweep_id)
    assert s["state"] == "finished" and sum(runs.values()) >= 3, runs  # longer than a walltime
    assert sorted(r["config"]["lr"] for r in s["runs"]) == [0.1, 0.2, 0.3, 0.4]
    assert all(r["state"] == "finished" and r["steps"] == 15 for r in s["runs"]), s["runs"]


def test_sweepcli_slurm_says_what_is_wrong(env, tmp_path) -> None:
    bindir, log = tmp_path / "bin", tmp_path / "calls.log"
    _stand_ins(bindir, log, queue="4100\\n")
    env.program("import sweepcli\nsweepcli.log({'loss': 1})\n")
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": [1]}}})
    path = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    bad = env.cli("slurm", sweep_id, "--array", "4", "--time", "4h", check=False, env=path)
    assert bad.returncode != 0 and "--time '4h'" in bad.stderr
    dry = env.cli("slurm", sweep_id, "--array", "4", "--time", "1:00:00", "--dry-run",
                  "--script", str(env.tmp / "job.sh"), env=path)
    assert dry.stdout.strip() == str(env.tmp / "job.sh") and not log.exists()
    again = env.cli("slurm", sweep_id, "--array", "4", "--time", "1:00:00", env=path)
    assert "job(s) 4100 of this sweep were already queued" in again.stderr
    no_sbatch = env.cli("slurm", sweep_id, "--array", "4", "--time", "1:00:00", check=False,
                        env={"PATH": "/usr/bin:/bin"})
    assert no_sbatch.returncode == 1 and "sbatch is not on PATH" in no_sbatch.stderr
    env.cli("agent", sweep_id)
    done = env.cli("slurm", sweep_id, "--array", "4", "--time", "1:00:00", check=False, env=path)
    assert done.returncode == 1 and "is finished: no job to submit" in done.stderr


def test_sweepcli_slurm_writes_a_script_that_survives_odd_folders_and_short_walltimes(env, tmp_path) -> None:
    """A folder with a space gave sbatch a wrong --chdir and a stray argument (a newline ended
    the #SBATCH block before --requeue); a 1- or 2-minute walltime got SLURM's signal at
    once (--signal=B:USR1@120); options after -- were lost on resubmission; no place for
    module load lines; a node-local folder went unremarked."""
    import subprocess

    env.program("import sweepcli\nsweepcli.log({'loss': 1})\n")
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": [1]}}})
    spaced = env.tmp / "my runs"
    spaced.mkdir()
    setup = env.tmp / "setup.sh"
    setup.write_text("module load cuda/12\n")
    script = env.tmp / "job.sh"
    proc = env.cli("slurm", sweep_id, "--array", "2", "--time", "8", "--mem", "16G", "--cpus", "4",
                   "--setup", str(setup), "--dry-run", "--script", str(script), "--",
                   "-p", "gpu", "--account", "me", "--exclusive", cwd=spaced)
    text = script.read_text()
    assert f'#SBATCH --chdir="{spaced}"' in text
    for line in ("#SBATCH --signal=B:USR1@120", "#SBATCH --mem=16G", "#SBATCH --cpus-per-task=4",
                 "#SBATCH -p gpu", "#SBATCH --account=me", "#SBATCH --exclusive", "module load cuda/12"):
        assert line in text, text
    # every #SBATCH line comes before the first command, as sbatch requires
    body = text.splitlines()
    first_command = next(i for i, line in enumerate(body) if line and not line.startswith("#"))
    assert all(i < first_command for i, line in enumerate(body) if line.startswith("#SBATCH"))
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert "warning" in proc.stderr and "/tmp" in proc.stderr  # tmp_path is node-local
    chdir = env.cli("slurm", sweep_id, "--array", "2", "--time", "10", "--dry-run", "--script",
                    str(script), "--", "--chdir=/dev/shm/job")
    assert "--chdir is /dev/shm/job" in chdir.stderr
    short = env.cli("slurm", sweep_id, "--array", "2", "--time", "4", "--dry-run",
                    "--script", str(script))
    assert "#SBATCH --signal=B:USR1@60" in script.read_text(), short.stderr
    for walltime in ("1", "00:01:30"):
        bad = env.cli("slurm", sweep_id, "--array", "2", "--time", walltime, "--dry-run",
                      "--script", str(script), check=False)
        assert bad.returncode == 2 and "at least 2 minutes" in bad.stderr, bad.stderr
    odd = env.tmp / "a\nb"
    odd.mkdir()
    bad = env.cli("slurm", sweep_id, "--array", "2", "--time", "10", "--dry-run",
                  "--script", str(script), check=False, cwd=odd)
    assert bad.returncode == 2 and "newline" in bad.stderr and "Traceback" not in bad.stderr
