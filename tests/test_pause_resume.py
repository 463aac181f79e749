"""Pausing and promoting runs (asha), and budgets, with real agents and a program that
checkpoints: nothing is trained twice, nothing is left without a reason."""

from __future__ import annotations

import json
from collections import Counter

CHECKPOINTING = """
    import json, os, signal, sys, time
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    cfg = json.load(open(os.environ["SWEEPCLI_CONFIG_FILE"]))
    run_dir = os.environ["SWEEPCLI_RUN_DIR"]
    ckpt = os.path.join(run_dir, "ckpt.json")
    step = 0
    if os.environ["SWEEPCLI_RESUME"] == "1":
        step = json.load(open(ckpt))["step"]
    attempt = int(os.environ["SWEEPCLI_ATTEMPT"])
    with open(os.environ["SWEEPCLI_METRICS_FILE"], "a") as f, open(sys.argv[1], "a") as ledger:
        while step < STEPS and not stop and not os.path.exists(os.path.join(run_dir, "stop")):
            time.sleep(0.03)  # the step's work
            step += 1
            with open(ckpt + ".tmp", "w") as c:
                json.dump({"step": step}, c)
            os.replace(ckpt + ".tmp", ckpt)
            ledger.write(json.dumps({"run": os.environ["SWEEPCLI_RUN_ID"], "step": step,
                                     "attempt": attempt,
                                     "resume": os.environ["SWEEPCLI_RESUME"]}) + "\\n")
            ledger.flush()
            f.write(json.dumps({"loss": cfg["x"], "step": step}) + "\\n"); f.flush()
"""


def program(env, steps: int):
    env.program(CHECKPOINTING.replace("STEPS", str(steps)))
    return ["${env}", "${interpreter}", "${program}", str(env.tmp / "ledger.jsonl")]


def ledger(env) -> list[dict]:
    path = env.tmp / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_asha_pauses_and_promotes_without_training_a_step_twice(env) -> None:
    command = program(env, 30)
    sweep_id = env.create({
        "program": "train.py", "command": command, "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {"x": {"values": [5, 1, 4, 2, 6, 3]}},
        "early_terminate": {"type": "asha", "min_iter": 2, "max_iter": 30, "eta": 2}})
    agent = env.watched_agent(sweep_id)
    assert agent.wait(timeout=300) == 0, agent.text()
    s = env.status(sweep_id)
    states = Counter(r["state"] for r in s["runs"])
    assert set(states) <= {"finished", "paused"}, s["runs"]
    assert states["finished"] >= 1 and len(s["runs"]) == 6  # each point once
    paid = Counter((e["run"], e["step"]) for e in ledger(env))
    assert max(paid.values()) == 1, [k for k, n in paid.items() if n > 1]  # none trained twice
    resumed = [r for r in s["runs"] if r["attempt"] > 1]
    assert resumed, "no paused run was promoted"
    for r in resumed:
        later = [e for e in ledger(env) if e["run"] == r["run_id"] and e["attempt"] > 1]
        assert later and all(e["resume"] == "1" for e in later)
        assert later[0]["step"] > 1  # continued from its checkpoint, not from the start
        assert any(a["state"] == "paused" and a["reason"].startswith("asha rung ")
                   for a in r["attempts"][:-1]), r["attempts"]
    for r in s["runs"]:
        if r["state"] == "paused":
            assert r["reason"].startswith("asha rung ") and "paused until" in r["reason"]
        else:
            assert r["steps"] == 30  # a promoted run's history is whole, once
    best = min(s["runs"], key=lambda r: r["config"]["x"])
    assert best["state"] == "finished"  # the best point is never left paused
    assert "asha pauses it" in agent.text()
    lines = env.cli("sweep", "--print", sweep_id).stdout
    assert "paused" in lines


def test_a_budget_of_steps_ends_the_sweep_and_stops_running_runs(env) -> None:
    command = program(env, 400)
    sweep_id = env.create({
        "program": "train.py", "command": command, "method": "random",
        "metric": {"name": "loss"}, "parameters": {"x": {"min": 0.0, "max": 1.0}},
        "sweepcli": {"budget": {"steps": 60}}})
    agents = [env.watched_agent(sweep_id) for _ in range(2)]
    for a in agents:
        assert a.wait(timeout=300) == 0, a.text()
    s = env.status(sweep_id)
    assert s["state"] == "finished"
    assert s["budget"]["steps"]["budget"] == 60 and s["budget"]["steps"]["left"] == 0
    assert 60 <= s["budget"]["steps"]["spent"] < 400
    assert all(r["state"] == "stopped" and "budget of 60 steps is spent" in r["reason"]
               for r in s["runs"]), s["runs"]
    assert "budget of 60 steps is spent" in agents[0].text()
    assert "budget  " in env.cli("sweep", "--print", sweep_id).stdout
