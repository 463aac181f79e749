"""Every example, run as the README says (the slow ones with a smaller budget)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def copy_example(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    # what a user's own runs of the example leave beside it (the quickstart's sweeps and
    # report) is not part of it: a test never depends on what earlier commands left here
    shutil.copytree(EXAMPLES / name, dest,
                    ignore=shutil.ignore_patterns("sweeps", "sweep.ci.yaml", "__pycache__",
                                                  "sweep-*.html", "sweep-*.html.stamp.js"))
    return dest


def run_example_sweep(env, name: str, expected_runs: int, ended=("finished",)) -> dict:
    folder = copy_example(name, env.tmp)
    sweep_id = env.cli("sweep", str(folder / "sweep.yaml")).stdout.strip()
    proc = subprocess.run([sys.executable, "-m", "sweepcli", "agent", sweep_id], cwd=folder,
                          env=env.env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    s = env.status(sweep_id)
    assert len(s["runs"]) == expected_runs, s["counts"]
    assert sum(s["counts"][state] for state in ended) == expected_runs, s["counts"]
    return s


def test_grid_example(env) -> None:
    s = run_example_sweep(env, "grid", 27)
    assert s["best"]["config"] == {"optimizer": "adam", "lr": 0.01, "layers": 3}


def test_nested_example(env) -> None:
    s = run_example_sweep(env, "nested", 12)
    assert s["best"]["config"]["model"] == {"num_layers": 4, "activation": "relu"}


def test_any_language_example(env) -> None:
    s = run_example_sweep(env, "any-language", 5)
    assert s["best"]["config"] == {"x": 3}


@pytest.mark.slow
def test_quickstart_runs_end_to_end(tmp_path) -> None:
    pytest.importorskip("sklearn")
    folder = copy_example("quickstart", tmp_path)
    env = {**os.environ, "QUICKSTART_RUN_CAP": "4"}
    env.pop("SWEEPCLI_DIR", None)
    proc = subprocess.run([sys.executable, str(folder / "run.py")], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "state   finished" in proc.stdout and "best" in proc.stdout
    assert len(list((folder / "sweeps").iterdir())) == 1
    (report,) = folder.glob("sweep-*.html")  # the report it ends with
    assert proc.stdout.strip().endswith(report.name) and "Plotly" in report.read_text()


def test_slurm_script_preempts_and_requeues_on_usr1(env, tmp_path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "scontrol.log"
    (bindir / "scontrol").write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    (bindir / "scontrol").chmod(0o755)
    env.program("import time, sweepcli\nrun = sweepcli.init()\ntime.sleep(60)\n")
    sweep_id = env.create({"program": "train.py", "method": "grid",
                           "parameters": {"x": {"values": [1, 2]}}})
    job_env = {**env.env, "SWEEP_ID": sweep_id, "PATH": f"{bindir}:{os.environ['PATH']}",
               "SWEEPCLI": f"{sys.executable} -m sweepcli", "SLURM_ARRAY_JOB_ID": "77",
               "SLURM_ARRAY_TASK_ID": "3"}
    job = subprocess.Popen(["bash", str(EXAMPLES / "slurm" / "agent.sbatch")], cwd=env.tmp,
                           env=job_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    def started() -> bool:  # the program is running (its agent wrote its process group)
        runs = env.status(sweep_id)["runs"]
        return bool(runs) and (env.root / sweep_id / "runs" / runs[0]["run_id"] / "pid").exists()
    env.wait_for(started)
    job.send_signal(signal.SIGUSR1)  # what --signal=B:USR1@120 delivers
    assert job.wait(timeout=30) == 0, job.stderr.read()
    assert env.status(sweep_id)["counts"]["preempted"] == 1
    assert log.read_text().split() == ["requeue", "77_3"]


def test_slurm_example_resumes_from_its_checkpoint_after_requeue(env, tmp_path) -> None:
    """The example's train.py under the example's job script: USR1 stops the run
    (preempted), the requeued job's agent resumes the same run, train.py finds its
    checkpoint, and the metric history continues where it stopped."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "scontrol").write_text("#!/bin/sh\nexit 0\n")
    (bindir / "scontrol").chmod(0o755)
    shutil.copy(EXAMPLES / "slurm" / "train.py", env.tmp / "train.py")
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"lr": {"values": [0.1]}, "epoch_seconds": {"value": 0.3}}})
    job_env = {**env.env, "SWEEP_ID": sweep_id, "PATH": f"{bindir}:{os.environ['PATH']}",
               "SWEEPCLI": f"{sys.executable} -m sweepcli", "EPOCHS": "10"}

    def job() -> subprocess.Popen:
        return subprocess.Popen(["bash", str(EXAMPLES / "slurm" / "agent.sbatch")], cwd=env.tmp,
                                env=job_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    first = job()
    env.wait_for(lambda: env.status(sweep_id)["runs"] and env.status(sweep_id)["runs"][0]["steps"] >= 3)
    first.send_signal(signal.SIGUSR1)
    assert first.wait(timeout=30) == 0, first.stderr.read()
    (run,) = env.status(sweep_id)["runs"]
    assert run["state"] == "preempted" and run["steps"] < 10
    second = job()  # the requeued task
    assert second.wait(timeout=60) == 0, second.stderr.read()
    (run,) = env.status(sweep_id)["runs"]
    assert run["state"] == "finished" and run["attempt"] == 2 and run["steps"] == 10
    folder = env.root / sweep_id / "runs" / run["run_id"]
    assert "resumed at epoch" in (folder / "output.log").read_text()
    epochs = [json.loads(line)["epoch"] for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(10))


def test_lightning_callback_logs_metric_lines(env) -> None:
    # Run the callback in a child process under a real agent, with a trainer-shaped object
    # when Lightning is not installed (it is an optional extra).
    env.program(f"""
import sys
sys.path.insert(0, {str(EXAMPLES / 'lightning')!r})
from sweepcli_callback import SweepcliCallback
class Trainer:
    sanity_checking = False
    should_stop = False
    def __init__(self): self.current_epoch, self.callback_metrics = 0, {{}}
cb, t = SweepcliCallback(), Trainer()
for epoch in range(3):
    t.current_epoch, t.callback_metrics = epoch, {{"val_loss": 1.0 / (epoch + 1), "note": "x"}}
    cb.on_validation_epoch_end(t, None)
""")
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "val_loss"},
                           "parameters": {"lr": {"values": [0.1]}}})
    env.cli("agent", sweep_id)
    r = env.status(sweep_id)["runs"][0]
    assert r["state"] == "finished" and r["steps"] == 3 and r["value"] == pytest.approx(1 / 3)
    # the non-numeric metric was left out, not logged as a value
    lines = (env.root / sweep_id / "runs" / r["run_id"] / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line).get("note") for line in lines] == [None, None, None]


@pytest.mark.slow
def test_lightning_example_with_lightning(env) -> None:
    pytest.importorskip("lightning")
    s = run_example_sweep(env, "lightning", 4, ended=("finished", "stopped"))  # hyperband may stop
    assert all(r["steps"] >= 3 and r["value"] is not None for r in s["runs"])


def run_job_array(env, tmp_path: Path, sweep_id: str, **more_env: str) -> int:
    """Run the SLURM example's script as one array task, again and again while it requeues
    itself (a stand-in scontrol notes the requeue; SLURM's end a few seconds ahead of each
    job): how many jobs it took. Each requeued job said exit status 3."""
    import time

    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    log = tmp_path / "scontrol.log"
    (bindir / "scontrol").write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    (bindir / "scontrol").chmod(0o755)
    jobs = 0
    while True:
        jobs += 1
        assert jobs <= 20, "the array never finished"
        before = log.read_text().count("requeue") if log.exists() else 0
        job_env = {**env.env, "SWEEP_ID": sweep_id, "PATH": f"{bindir}:{os.environ['PATH']}",
                   "SWEEPCLI": f"{sys.executable} -m sweepcli", "AGENT_ARGS": "-t 0.5",
                   "SLURM_ARRAY_JOB_ID": "9", "SLURM_ARRAY_TASK_ID": "0",
                   "SLURM_JOB_END_TIME": str(int(time.time()) + 12), **more_env}
        job = subprocess.run(["bash", str(EXAMPLES / "slurm" / "agent.sbatch")], cwd=env.tmp,
                             env=job_env, capture_output=True, text=True, timeout=120)
        assert job.returncode == 0, job.stderr
        if (log.read_text().count("requeue") if log.exists() else 0) == before:
            return jobs
        assert "exit status 3" in job.stderr


def test_a_job_array_requeued_by_its_script_runs_the_sweep_to_its_end(env, tmp_path) -> None:
    """A sweep longer than one job's walltime: each job (the example's script, SLURM's end
    a few seconds ahead) runs what fits, exits 3 through the agent and requeues itself;
    the job that finds the sweep done ends without requeueing. Every point finishes once."""
    shutil.copy(EXAMPLES / "slurm" / "train.py", env.tmp / "train.py")
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"lr": {"values": [0.1, 0.2, 0.3]},
                                          "epoch_seconds": {"value": 0.2}}})
    jobs = run_job_array(env, tmp_path, sweep_id, EPOCHS="15")
    s = env.status(sweep_id)
    assert s["state"] == "finished" and jobs >= 2  # more than one job's walltime of work
    assert sorted(r["config"]["lr"] for r in s["runs"]) == [0.1, 0.2, 0.3]
    assert all(r["state"] == "finished" and r["steps"] == 15 for r in s["runs"]), s["runs"]


def test_pbt_example_finds_a_schedule_no_fixed_rate_matches(env) -> None:
    """The PBT example, seeded and with one agent (so the same every time: its decisions
    depend on the journal only, and the program is deterministic): the best member's model
    beats every fixed learning rate (the best of 200 from 0.001 to 0.1 ends at a loss of
    0.038, 0.034 at its best step: benchmarks/bench_pbt.py). With 3 agents, over 15 sweeps
    the median was 0.022 and the worst 0.028 (docs/measured.md)."""
    folder = copy_example("pbt", env.tmp)
    config = folder / "sweep.yaml"
    config.write_text(config.read_text().replace("\npbt:", "\nsweepcli: {seed: 1}\npbt:"))
    sweep_id = env.cli("sweep", str(config)).stdout.strip()
    agent = subprocess.run([sys.executable, "-m", "sweepcli", "agent", sweep_id], cwd=folder,
                           env=env.env, capture_output=True, text=True, timeout=300)
    assert agent.returncode == 0, agent.stderr
    s = env.status(sweep_id)
    assert s["counts"]["finished"] == 8 and all(r["step"] == 60 for r in s["runs"])
    assert s["best"]["value"] < 0.034, s["best"]
    lineage = s["pbt"]["best"]["text"][0]
    assert lineage.startswith("lr: ") and "->" in lineage  # its rate changed on the way
