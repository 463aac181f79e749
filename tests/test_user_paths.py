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
