"""W&B training scripts, unchanged (``import wandb``), under a sweepcli agent: the shim
(``--wandb shim``, the default) and the W&B surface of sweepcli's helper."""

from __future__ import annotations

import json

W_AND_B_SCRIPT = """
    import json, os
    import wandb

    run = wandb.init(project="mnist", entity="me", name="trial", tags=["a"], notes="n",
                     config={"lr": 0.1, "model": {"depth": 2, "width": 8}, "epochs": 3},
                     reinit=True, mode="online", resume="allow")
    assert wandb.run is run and run.name == "trial"
    cfg = wandb.config
    json.dumps(dict(run.config))  # nested parameters: a plain dict
    cfg.update({"batch": 32})
    cfg.extra = "x"
    assert cfg["batch"] == 32 and cfg.extra == "x" and cfg.model.width == 8
    wandb.define_metric("loss", summary="min")
    wandb.watch(None)
    for epoch in range(cfg.epochs):
        wandb.log({"loss": cfg.lr * (3 - epoch)}, step=epoch)
        wandb.log({"acc": epoch / 10}, step=epoch)  # the same step: one line
    wandb.log({"part": 1}, step=cfg.epochs, commit=False)
    wandb.log({"loss": 0.01})  # joins the pending line
    run.summary["final_acc"] = 0.99
    wandb.summary.update({"note": "done"})
    with open(os.path.join(run.dir, "seen.json"), "w") as f:
        json.dump({"config": cfg.as_dict(), "id": run.id}, f)
    wandb.finish()
"""


def test_an_unchanged_wandb_script_runs_under_the_agent(env) -> None:
    env.program(W_AND_B_SCRIPT)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"lr": {"values": [0.5, 0.2]},
                                          "model": {"parameters": {"depth": {"value": 4}}}}})
    proc = env.cli("agent", sweep_id)
    s = env.status(sweep_id)
    assert [r["state"] for r in s["runs"]] == ["finished", "finished"], proc.stderr
    for r in s["runs"]:
        run_dir = env.root / sweep_id / "runs" / r["run_id"]
        lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
        lr = r["config"]["lr"]
        assert lines == [
            {"loss": 3 * lr, "acc": 0.0, "_step": 0},
            {"loss": 2 * lr, "acc": 0.1, "_step": 1},
            {"loss": 1 * lr, "acc": 0.2, "_step": 2},
            {"part": 1, "loss": 0.01, "_step": 3},
        ]
        seen = json.loads((run_dir / "seen.json").read_text())
        # the sweep's values win over the script's defaults; the script's other keys stay
        assert seen["config"]["lr"] == lr and seen["config"]["model"] == {"depth": 4, "width": 8}
        assert seen["config"]["batch"] == 32 and seen["id"] == r["run_id"]
        assert json.loads((run_dir / "summary.json").read_text()) == {
            "final_acc": 0.99, "note": "done"}
        assert r["summary"] == {"final_acc": 0.99, "note": "done"}  # --json
    import sweepcli

    best = sweepcli.Api(dir=str(env.root)).sweep(sweep_id).best_run()
    assert best.summary["final_acc"] == 0.99 and best.summary["loss.best"] == 0.01
    # what means nothing here is said once per kind, and the run goes on
    assert proc.stderr.count("init(") >= 1 and "ignored" in proc.stderr


def test_the_sweeps_values_win_over_config_update(env) -> None:
    env.program("""
        import json, os, wandb
        run = wandb.init(config={"lr": 0.1})
        wandb.config.update({"lr": 0.9}, allow_val_change=True)
        wandb.log({"loss": wandb.config.lr})
    """)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"lr": {"value": 0.3}}})
    proc = env.cli("agent", sweep_id)
    s = env.status(sweep_id)
    assert s["runs"][0]["value"] == 0.3
    assert "config.lr is the sweep's (0.3)" in proc.stderr


def test_wandb_off_leaves_the_programs_wandb_alone(env) -> None:
    (env.tmp / "wandb.py").write_text("MINE = True\n")  # the program's own module
    env.program("""
        import wandb, sweepcli
        assert getattr(wandb, "MINE", False), wandb.__file__
        sweepcli.log({"loss": 1.0})
    """)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"value": 1}}, "sweepcli": {"wandb": "off"}})
    env.cli("agent", sweep_id)
    assert env.status(sweep_id)["runs"][0]["state"] == "finished"
    # and --wandb on the command line wins over the config
    sweep2 = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                         "parameters": {"x": {"value": 2}}})
    env.cli("agent", sweep2, "--wandb", "off")
    assert env.status(sweep2)["runs"][0]["state"] == "finished"
