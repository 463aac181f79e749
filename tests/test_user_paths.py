"""The paths users take first (W&B, HPC and Hydra users' scripts): each test here failed
before its fix."""

from __future__ import annotations

import pytest


def test_a_pool_terminated_after_init_is_no_preemption(env) -> None:
    # forked workers inherit the helper's SIGTERM handler; Pool.terminate() signals them
    env.program("""
        import multiprocessing as mp, sweepcli
        def square(x):
            return x * x
        if __name__ == "__main__":
            mp.set_start_method("fork")
            run = sweepcli.init()
            with mp.Pool(2) as pool:   # leaving the block terminates the workers
                total = sum(pool.map(square, range(8)))
            run.log({"loss": float(total)})
    """)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": [1, 2]}}})
    agent = env.agent(sweep_id)
    assert agent.wait(timeout=90) == 0, agent.stderr.read()
    runs = env.status(sweep_id)["runs"]
    assert [(r["state"], r["attempt"]) for r in runs] == [("finished", 1), ("finished", 1)]
    assert all(r["value"] == 140.0 for r in runs)


@pytest.mark.both_stores
def test_a_parameter_beside_a_dotted_name_under_it_runs_end_to_end(env) -> None:
    # "choose a group, tune a key of it": W&B's flat dotted names; replay dropped every claim
    env.program("""
        import json, os, sweepcli
        run = sweepcli.init()
        json.dump(dict(run.config), open(os.path.join(os.environ["SWEEPCLI_RUN_DIR"], "seen.json"), "w"))
        run.log({"loss": run.config["optimizer.lr"] + (run.config["optimizer"] == "sgd")})
    """)
    sweep_id = env.create({"program": "train.py", "method": "bayes", "metric": {"name": "loss"},
                           "run_cap": 5, "sweepcli": {"initial_random": 2},
                           "parameters": {"optimizer": {"values": ["adam", "sgd"]},
                                          "optimizer.lr": {"min": 0.001, "max": 0.1}}})
    agent = env.agent(sweep_id, env={"SWEEPCLI_SNAPSHOT_EVERY": "3"})
    assert agent.wait(timeout=90) == 0, agent.stderr.read()
    s = env.status(sweep_id)
    assert len(s["runs"]) == 5 and s["counts"]["finished"] == 5 and s["state"] == "finished"
    assert len({r["config"]["optimizer.lr"] for r in s["runs"]}) == 5  # not one point forever
    for r in s["runs"]:
        assert set(r["config"]) == {"optimizer", "optimizer.lr"}
        seen = env.root / sweep_id / "runs" / r["run_id"] / "seen.json"
        if seen.exists():  # the folder store keeps run folders here
            import json
            assert json.loads(seen.read_text()) == r["config"]
    assert s["best"]["config"]["optimizer.lr"] == min(r["value"] for r in s["runs"]) - (
        s["best"]["config"]["optimizer"] == "sgd")
    printed = env.cli("sweep", "--print", sweep_id)
    assert "truncated" not in printed.stderr and "optimizer.lr=" in printed.stdout


SAVES_AFTER_ITS_LAST_LINE = """
    import json, os, sys, time, sweepcli
    run = sweepcli.init()
    lines = "".join(json.dumps({"loss": run.config["x"] + 1 / (i + 1)}) + "\\n" for i in range(4))
    with open(os.environ["SWEEPCLI_METRICS_FILE"], "a") as f:
        f.write(lines)  # every step at once, then a moment of saving
    open(os.path.join(run.dir, "saved"), "w").write("1")
    time.sleep(0.8)
"""


def test_a_run_stopped_at_its_last_line_that_ends_by_itself_is_finished(env) -> None:
    """hyperband 'stopped' runs at their last line while they saved (the quickstart, W&B
    scripts, Lightning): a run that ends by itself, status 0, before any signal is finished."""
    env.program(SAVES_AFTER_ITS_LAST_LINE)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": [1, 5]}},
                           "sweepcli": {"budget": {"steps": 8}}})
    agent = env.watched_agent(sweep_id)
    assert agent.wait(timeout=90) == 0
    runs = env.status(sweep_id)["runs"]
    assert [(r["state"], r["attempt"]) for r in runs] == [("finished", 1), ("finished", 1)], agent.text()
    assert "ended by itself" in agent.text()


def test_a_program_that_stops_when_asked_is_still_paused_or_stopped(env) -> None:
    """The other side: a program that reads should_stop and exits 0 was stopped."""
    env.program("""
        import sweepcli, time
        run = sweepcli.init()
        for i in range(200):
            run.log({"loss": run.config["x"] + 1 / (i + 1)})
            if run.should_stop:
                break
            time.sleep(0.05)
    """)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": [1]}},
                           "sweepcli": {"budget": {"steps": 10}}})
    agent = env.agent(sweep_id)
    assert agent.wait(timeout=90) == 0
    (run,) = env.status(sweep_id)["runs"]
    assert run["state"] == "stopped" and "budget" in (run["reason"] or ""), run


def test_slurms_doubled_sigterm_leaves_exit_status_3(env) -> None:
    """On preemption SLURM signals every process of the job and the batch script forwards
    one more: the second SIGTERM came after the agent had decided 'exit 3' and killed it
    with 143, so the script did not requeue."""
    import signal

    env.program("""
        import time, sweepcli
        run = sweepcli.init()
        for i in range(600):
            run.log({"loss": 1.0})
            time.sleep(0.05)
    """)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": [1, 2]}}})
    agent = env.watched_agent(sweep_id)
    agent.wait_for_text("started")
    agent.send_signal(signal.SIGTERM)
    agent.wait_for_text("agent done after")  # it has decided; the second one arrives now
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=60) == 3, agent.text()
    assert "preempted" in agent.text()


def test_an_array_logged_under_the_shim_is_kept_small_or_left_out_with_a_note(env) -> None:
    """wandb.log({"per_class": np.array([...])}) raised in the helper: the program died."""
    env.program("""
        import numpy as np, wandb
        wandb.init()
        wandb.log({"per_class": np.arange(100), "small": np.array([1.0, 2.0]), "loss": np.float32(0.5)})
        wandb.log({"per_class": np.arange(100), "loss": 0.25})
    """)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": [1]}}})
    agent = env.watched_agent(sweep_id)
    assert agent.wait(timeout=60) == 0
    (run,) = env.status(sweep_id)["runs"]
    assert run["state"] == "finished" and run["value"] == 0.25, agent.text()
    text = agent.text()
    assert text.count("an array of 100 values") == 1 and "histogram" in text
    lines = (env.root / sweep_id / "runs" / run["run_id"] / "metrics.jsonl").read_text().splitlines()
    import json
    assert [json.loads(line) for line in lines] == [{"small": [1.0, 2.0], "loss": 0.5}, {"loss": 0.25}]


def test_the_wandb_shim_works_in_another_python_without_sweepcli(env, tmp_path) -> None:
    """A program run by a conda env's or a project venv's Python died at `import wandb` with
    "No module named 'sweepcli'" (sweepcli installed elsewhere, e.g. with pipx)."""
    import subprocess
    import sys

    other = tmp_path / "other-venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip",
                    str(other)], check=True)
    python = other / "bin" / "python"
    env.env.pop("PYTHONPATH", None)  # (the program's Python must not reach this checkout)
    assert subprocess.run([str(python), "-c", "import sweepcli"], capture_output=True,
                          cwd=tmp_path, env=env.env).returncode != 0
    env.program("""
        import wandb
        wandb.init(config={"lr": 0.1})
        wandb.log({"loss": wandb.config.x * wandb.config.lr})
        wandb.finish()
    """)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "command": [str(python), "${program}", "${args}"],
                           "parameters": {"x": {"values": [3]}}})
    agent = env.watched_agent(sweep_id)
    assert agent.wait(timeout=60) == 0
    (run,) = env.status(sweep_id)["runs"]
    assert run["state"] == "finished" and abs(run["value"] - 0.3) < 1e-9, agent.text()


def test_a_config_given_as_argparse_namespace_or_absl_flags_is_kept(env) -> None:
    """wandb.init(config=args) silently dropped the arguments; config.update(args) raised."""
    env.program("""
        import argparse, json, os, wandb
        parser = argparse.ArgumentParser()
        parser.add_argument("--x", type=float, default=0.0)
        parser.add_argument("--layers", type=int, default=2)
        args = parser.parse_args()
        run = wandb.init(config=args)
        class Flags:  # absl's FLAGS, as integrations hand it over
            def flag_values_dict(self):
                return {"dropout": 0.5}
        wandb.config.update(Flags())
        wandb.config.update(argparse.Namespace(batch=32))
        json.dump(dict(wandb.config), open(os.path.join(os.environ["SWEEPCLI_RUN_DIR"], "seen.json"), "w"))
        wandb.log({"loss": wandb.config.x + wandb.config.layers})
    """)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": [3]}}})
    agent = env.watched_agent(sweep_id)
    assert agent.wait(timeout=60) == 0
    (run,) = env.status(sweep_id)["runs"]
    assert run["state"] == "finished" and run["value"] == 5.0, agent.text()
    import json
    seen = json.loads((env.root / sweep_id / "runs" / run["run_id"] / "seen.json").read_text())
    assert seen == {"x": 3, "layers": 2, "dropout": 0.5, "batch": 32}


@pytest.mark.parametrize("mode", ["shim", "offline"])
def test_an_in_process_agent_applies_the_wandb_modes(env, mode) -> None:
    """sweepcli.agent(id, function=train) with wandb.init/log inside train used the real
    wandb: 'No API key configured', or, logged in, metrics went to W&B and we saw none."""
    import json
    import subprocess
    import sys

    pytest.importorskip("wandb")  # the real one (CI installs it): what the function imported
    script = env.program(f"""
        import json, sys, wandb, sweepcli
        sid = sweepcli.sweep({{"method": "grid", "metric": {{"name": "loss"}},
                              "parameters": {{"x": {{"values": [1, 2]}}}},
                              "sweepcli": {{"wandb": "{mode}"}}}})
        def train():
            wandb.init(project="p")
            wandb.log({{"loss": wandb.config.x * 2.0}})
            wandb.finish()
        sweepcli.agent(sid, function=train)
        runs = sweepcli.Api().sweep(sid).runs
        print(json.dumps(sorted([r.state, r.config["x"], r.summary.get("loss")] for r in runs)))
    """, name="inproc.py")
    environ = {k: v for k, v in env.env.items() if not k.startswith("WANDB_")}
    proc = subprocess.run([sys.executable, str(script)], cwd=env.tmp, capture_output=True, text=True,
                          timeout=240, env={**environ, "HOME": str(env.tmp), "WANDB_SILENT": "true"},
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [["finished", 1, 2.0], ["finished", 2, 4.0]]
    assert (env.tmp / "wandb").exists() == (mode == "offline")  # offline: W&B's own files too


LIGHTNING_LONG = """
    import time, torch, sweepcli
    import lightning as L

    class Model(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch, i):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            sweepcli.log({"loss": float(loss)})
            time.sleep(0.05)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    sweepcli.init()
    x = torch.randn(64, 4)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)),
                                         batch_size=16)
    L.Trainer(max_epochs=500, logger=False, accelerator="cpu", enable_checkpointing=False,
              enable_progress_bar=False, enable_model_summary=False).fit(Model(), loader)
"""


def test_lightning_inside_a_slurm_job_neither_requeues_it_nor_leaves_files_for_other_runs(env, tmp_path) -> None:
    """Lightning's auto-requeue ran `scontrol requeue` on the agent's signal (the job was
    requeued twice) and wrote hpc_ckpt_*.ckpt into the agent's folder, which the next run,
    even of another sweep, loaded."""
    import signal

    pytest.importorskip("lightning")
    bindir, calls = tmp_path / "bin", tmp_path / "scontrol.log"
    bindir.mkdir()
    (bindir / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bindir / "scontrol").chmod(0o755)
    env.program(LIGHTNING_LONG)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": [1, 2]}}})
    import os
    slurm = {"SLURM_JOB_ID": "77", "SLURM_NTASKS": "1", "SLURM_JOB_NAME": "train",
             "PATH": f"{bindir}:{os.environ['PATH']}"}
    agent = env.watched_agent(sweep_id, "-f", env=slurm)
    env.wait_for(lambda: any(r["steps"] for r in env.status(sweep_id)["runs"]), timeout=120)
    agent.send_signal(signal.SIGUSR1)  # SLURM's warning, forwarded to the run (-f)
    assert agent.wait(timeout=120) == 3, agent.text()
    assert not calls.exists() or "requeue" not in calls.read_text(), calls.read_text()
    assert list(env.tmp.glob("hpc_ckpt_*")) == []
    (run,) = env.status(sweep_id)["runs"]
    assert run["state"] == "preempted"


def test_a_metric_no_run_logs_is_said_once_with_the_keys_that_were(env) -> None:
    """Runs ended finished with no value and best '-', and no hint."""
    env.program("""
        import sweepcli
        for epoch in range(2):
            sweepcli.log({"eval/loss": 1.0 / (epoch + 1), "epoch": epoch})
    """)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "eval_loss"},
                           "parameters": {"x": {"values": [1, 2]}}})
    agent = env.watched_agent(sweep_id)
    assert agent.wait(timeout=60) == 0
    text = agent.text()
    assert text.count("without logging 'eval_loss'") == 1, text
    assert "it logged eval/loss, epoch: did you mean 'eval/loss'?" in text


def test_ordinary_lock_contention_is_not_news_but_a_long_wait_or_a_full_disk_is(tmp_path) -> None:
    """Two agents started together printed 'cannot write its metric values to the journal
    yet' for waits of a few seconds."""
    from sweepcli import api
    from sweepcli.agent.display import Display
    from sweepcli.agent.watch import NOTEWORTHY_WAIT, RunWatch
    from sweepcli.store import LockTimeout

    folder, _ = api.create({"method": "random", "metric": {"name": "loss"},
                            "parameters": {"x": {"values": [1]}}}, dir=tmp_path / "sweeps")
    said: list[str] = []
    display = Display(None)
    display.say = said.append  # what the agent would print
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    watch = RunWatch(folder, display, lambda what, action, **kw: action(), "aaaaaaaa", run_dir)
    watch._say_once("write its metric values to the journal", LockTimeout("held elsewhere"))
    assert said == []
    watch._waiting_since["write its metric values to the journal"] -= NOTEWORTHY_WAIT
    watch._say_once("write its metric values to the journal", LockTimeout("held elsewhere"))
    assert len(said) == 1 and "held elsewhere" in said[0]
    watch._say_once("read the journal", OSError(28, "No space left on device"))
    assert len(said) == 2 and "No space left" in said[1]


def test_a_yaml_error_from_an_unquoted_macro_says_to_quote_it() -> None:
    from sweepcli.config import ConfigError
    from sweepcli.config.loader import parse_yaml

    with pytest.raises(ConfigError) as err:
        parse_yaml("program: t.py\ncommand: [${env}, python, ${program}]\n", "s.yaml")
    assert "line 2" in str(err.value) and "must be quoted" in str(err.value)
    assert parse_yaml('command: ["${env}", python, "${program}"]')["command"][0] == "${env}"
