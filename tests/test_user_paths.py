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
