"""The Hydra sweeper with real Hydra: `python app.py --multirun hydra/sweeper=sweepcli`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

#: every test here starts processes (a Hydra multirun, a shell)
pytestmark = pytest.mark.e2e

pytest.importorskip("hydra")

REPO = Path(__file__).resolve().parent.parent

APP = """
    import os
    import hydra, sweepcli
    from omegaconf import DictConfig

    @hydra.main(version_base=None, config_path=".", config_name="config")
    def main(cfg: DictConfig) -> float:
        loss = (cfg.lr - 0.03) ** 2 + cfg.model.depth * 0.001
        if cfg.get("log_epochs"):
            for epoch in range(3):  # lines as a training loop logs them: the agents read them
                sweepcli.log({"loss": loss + (2 - epoch) * 0.01, "pid": os.getpid()})
            return None
        if cfg.lr > 1:
            raise ValueError("diverged")
        return loss  # a number returned: the run's value

    if __name__ == "__main__":
        main()
"""

CONFIG = {
    "defaults": [{"override hydra/sweeper": "sweepcli"}, "_self_"],
    "lr": 0.1, "model": {"depth": 2}, "log_epochs": False,
    "hydra": {"sweeper": {
        "method": "grid", "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"lr": {"values": [0.01, 0.03, 0.1]},
                       "model": {"parameters": {"depth": {"values": [1, 3]}}}}}},
}


def _app(tmp_path: Path, config: dict | None = None) -> Path:
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config or CONFIG))
    return tmp_path


def _multirun(where: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "SWEEPCLI_DIR": str(where / "sweeps"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "app.py", "--multirun", *overrides], cwd=where,
                          env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _status(where: Path, sweep_id: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "sweepcli", "sweep", "--print", sweep_id,
                          "--json", "--dir", str(where / "sweeps")], capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    return json.loads(out.stdout)


def _results(where: Path) -> dict:
    found = list((where / "multirun").glob("*/*/optimization_results.yaml"))
    assert len(found) == 1, found
    return yaml.safe_load(found[0].read_text())


def test_a_hydra_multirun_runs_the_sweep_through_the_launcher(tmp_path) -> None:
    where = _app(tmp_path)
    _multirun(where)
    results = _results(where)
    assert results["state"] == "finished" and results["runs"] == 6
    assert results["best_params"] == {"lr": 0.03, "model": {"depth": 1}}
    assert results["best_value"] == pytest.approx(0.001)
    s = _status(where, results["sweep_id"])
    assert sorted((r["config"]["lr"], r["config"]["model"]["depth"]) for r in s["runs"]) == [
        (0.01, 1), (0.01, 3), (0.03, 1), (0.03, 3), (0.1, 1), (0.1, 3)]
    assert all(r["state"] == "finished" for r in s["runs"])
    # each Hydra job's overrides are its run's parameters (and nothing of ours)
    jobs = sorted(p for p in (where / "multirun").glob("*/*/*/.hydra/overrides.yaml"))
    assert len(jobs) == 6
    seen = [yaml.safe_load(p.read_text()) for p in jobs]
    assert ["++lr=0.01", "++model.depth=1"] in seen
    assert all(len(o) == 2 for o in seen)
    # the value the task returned is the run's metric line
    for r in s["runs"]:
        lines = (where / "sweeps" / results["sweep_id"] / "runs" / r["run_id"] /
                 "metrics.jsonl").read_text().splitlines()
        assert [json.loads(x) for x in lines] == [{"loss": pytest.approx(r["value"])}]


def test_agents_launch_jobs_side_by_side_through_joblib(tmp_path) -> None:
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    where = _app(tmp_path)
    _multirun(where, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
              "hydra.sweeper.agents=2", "log_epochs=true")
    results = _results(where)
    s = _status(where, results["sweep_id"])
    assert results["state"] == "finished" and len(s["runs"]) == 6
    assert all(r["state"] == "finished" and r["steps"] == 3 for r in s["runs"])
    pids = set()
    for r in s["runs"]:
        lines = (where / "sweeps" / results["sweep_id"] / "runs" / r["run_id"] /
                 "metrics.jsonl").read_text().splitlines()
        pids |= {json.loads(x)["pid"] for x in lines}
    assert os.getpid() not in pids and len(pids) >= 2  # jobs ran in joblib's workers


def test_two_multiruns_share_one_sweep(tmp_path) -> None:
    """Hydra's advice for async sweeps: several single processes sharing one storage."""
    where = _app(tmp_path)
    sweep_file = where / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump({"method": "grid", "metric": {"name": "loss"},
                                          "parameters": CONFIG["hydra"]["sweeper"]["parameters"]}))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    sweep_id = subprocess.run([sys.executable, "-m", "sweepcli", "sweep", str(sweep_file),
                               "--dir", str(where / "sweeps")], capture_output=True, text=True,
                              check=True, env=env).stdout.strip()
    env = {**os.environ, "SWEEPCLI_DIR": str(where / "sweeps"), "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "app.py", "--multirun",
                               f"hydra.sweeper.sweep_id={sweep_id}", f"hydra.sweep.dir=m{i}"],
                              cwd=where, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    s = _status(where, sweep_id)
    assert s["state"] == "finished" and len(s["runs"]) == 6  # each point once, across both
    assert all(r["state"] == "finished" for r in s["runs"])


def test_the_sweeper_says_what_is_wrong(tmp_path) -> None:
    where = _app(tmp_path)
    joined = _multirun(where, "lr=0.1,0.2", "hydra.sweeper.sweep_id=abcdefgh", check=False)
    assert joined.returncode == 2 and "has its parameters already" in joined.stderr
    assert "Traceback" not in joined.stderr  # one message, as the CLI promises
    basic = _multirun(where, "hydra.sweeper.agents=2", check=False)
    assert basic.returncode == 2 and "needs a launcher that runs jobs outside" in basic.stderr
    assert "Traceback" not in basic.stderr
    bad = _multirun(where, "hydra.sweeper.method=sideways", check=False)
    assert bad.returncode != 0
    assert "sweepcli: method: must be one of grid, random, bayes, pbt, got 'sideways'" in bad.stderr
    pbt = _multirun(where, "hydra.sweeper.method=pbt", check=False)
    assert pbt.returncode == 2 and "pbt is not run by the Hydra sweeper" in pbt.stderr
    assert "Traceback" not in pbt.stderr
    # a task that raises: its run fails (traceback in its log); the others go on
    config = {**CONFIG, "hydra": {"sweeper": {**CONFIG["hydra"]["sweeper"], "parameters": {
        "lr": {"values": [0.03, 5.0, 0.01]}}}}}
    (tmp_path / "two").mkdir()
    where2 = _app(tmp_path / "two", config)
    _multirun(where2)
    s = _status(where2, _results(where2)["sweep_id"])
    assert sorted(r["state"] for r in s["runs"]) == ["failed", "finished", "finished"]


GROUP_APP = """
    import json, os, sys
    import hydra
    from omegaconf import DictConfig, OmegaConf

    @hydra.main(version_base=None, config_path=".", config_name="config")
    def main(cfg: DictConfig) -> float:
        with open(os.environ["SEEN"], "a") as f:
            f.write(json.dumps(OmegaConf.to_container(cfg)) + "\\n")
        return cfg.optimizer.lr + (cfg.optimizer.name == "sgd")

    if __name__ == "__main__":
        main()
"""


def test_sweep_syntax_groups_with_a_tuned_key_and_values_as_they_ran(tmp_path) -> None:
    """Hydra's sweep syntax on the command line ended in a traceback (read now, as Optuna's
    sweeper reads it); a group chosen beside a key of it (optimizer, optimizer.lr) ran its
    first point forever; a backslash was doubled in the job's override; every job's log
    line carried ~700 characters of SWEEPCLI_* overrides; run_cap given when joining was
    ignored."""
    (tmp_path / "app.py").write_text(textwrap.dedent(GROUP_APP))
    (tmp_path / "optimizer").mkdir()
    for name in ("adam", "sgd"):
        (tmp_path / "optimizer" / f"{name}.yaml").write_text(f"name: {name}\nlr: 0.5\n")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({
        "defaults": [{"optimizer": "adam"}, {"override hydra/sweeper": "sweepcli"}, "_self_"],
        "path": "x",
        "hydra": {"sweeper": {"method": "bayes", "metric": {"name": "loss"}, "run_cap": 5,
                              "sweepcli": {"initial_random": 2}}}}))
    seen = tmp_path / "seen.jsonl"
    proc = subprocess.run(
        [sys.executable, "app.py", "--multirun", "optimizer=choice(adam,sgd)",
         "optimizer.lr=interval(0.001,0.1)", "path=C:\\new\\x y"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "SWEEPCLI_DIR": str(tmp_path / "sweeps"), "SEEN": str(seen),
             "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))})
    assert proc.returncode == 0, proc.stderr
    assert "SWEEPCLI_" not in proc.stdout + proc.stderr  # the job lines are the overrides a person wrote
    ran = [json.loads(line) for line in seen.read_text().splitlines()]
    assert len(ran) == 5 and all(r["path"] == "C:\\new\\x y" for r in ran)
    sweep_id = _results(tmp_path)["sweep_id"]
    s = _status(tmp_path, sweep_id)
    assert len(s["runs"]) == 5 and all(r["state"] == "finished" for r in s["runs"])
    for run, job in zip(sorted(s["runs"], key=lambda r: r["value"]), sorted(ran, key=lambda j: (
            j["optimizer"]["lr"] + (j["optimizer"]["name"] == "sgd")))):
        assert run["config"] == {"optimizer": job["optimizer"]["name"], "optimizer.lr": job["optimizer"]["lr"]}
    # joining with a run_cap: the sweep's run_cap becomes it
    proc = subprocess.run([sys.executable, "app.py", "--multirun", f"hydra.sweeper.sweep_id={sweep_id}",
                           "hydra.sweeper.run_cap=7", "hydra.sweep.dir=again"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "SWEEPCLI_DIR": str(tmp_path / "sweeps"), "SEEN": str(seen),
                               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO)]))})
    assert proc.returncode == 0, proc.stderr
    assert len(_status(tmp_path, sweep_id)["runs"]) == 7
