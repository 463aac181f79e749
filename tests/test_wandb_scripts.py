"""W&B training scripts, unchanged (``import wandb``), under a sweepcli agent: the shim
(``--wandb shim``, the default) and the W&B surface of sweepcli's helper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


# ---- the real integrations, and the real wandb logging offline beside the sweep ----------

OFFLINE_SCRIPT = """
    import json, os, wandb
    run = wandb.init(project="p", config={"lr": 0.1, "epochs": 3})
    for epoch in range(wandb.config.epochs):
        wandb.log({"loss": wandb.config.lr * (3 - epoch)}, step=epoch)
    wandb.log({"extra": 1}, commit=False)  # joins the pending step; finish() commits it
    run.summary["final_acc"] = 0.5
    with open(os.path.join(os.environ["SWEEPCLI_RUN_DIR"], "seen.json"), "w") as f:
        json.dump({"lr": wandb.config.lr, "offline_dir": run.dir}, f)
    wandb.finish()
"""


def test_wandb_offline_logs_with_the_real_library_and_the_sweep_reads_every_metric(env) -> None:
    pytest.importorskip("wandb")
    env.program(OFFLINE_SCRIPT)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"lr": {"values": [0.5, 0.2]}}})
    proc = env.cli("agent", sweep_id, "--wandb", "offline", env={"WANDB_DIR": str(env.tmp)})
    s = env.status(sweep_id)
    assert [r["state"] for r in s["runs"]] == ["finished", "finished"], proc.stderr
    offline = sorted((env.tmp / "wandb").glob("offline-run-*"))
    assert len(offline) == 2, proc.stderr  # what `wandb sync` uploads later
    for r in s["runs"]:
        run_dir = env.root / sweep_id / "runs" / r["run_id"]
        lr = r["config"]["lr"]
        lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
        # W&B's steps: the value logged with commit=False joins the pending step 2
        assert lines == [{"loss": 3 * lr, "_step": 0}, {"loss": 2 * lr, "_step": 1},
                         {"loss": lr, "extra": 1, "_step": 2}]
        assert r["value"] == lr and r["summary"] == {"final_acc": 0.5}
        seen = json.loads((run_dir / "seen.json").read_text())
        assert seen["lr"] == lr  # the sweep's value, through the real wandb's config
        # the real wandb took the sweep's parameters as W&B's agent hands them over
        debug = (Path(seen["offline_dir"]).parent / "logs" / "debug.log").read_text()
        assert f"sweep_config: {{'lr': {lr}}}" in debug


LIGHTNING_SCRIPT = """
    import importlib.metadata, torch, wandb
    # what Lightning's WandbLogger checks before it starts (the shim has to pass, with or
    # without W&B's package installed)
    print("wandb distribution", importlib.metadata.version("wandb"), flush=True)
    import lightning as L
    from lightning.pytorch.loggers import WandbLogger

    class Model(L.LightningModule):
        def __init__(self, lr):
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(4, 1)

        def _loss(self, batch):
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def training_step(self, batch, i):
            loss = self._loss(batch)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, i):
            self.log("val_loss", self._loss(batch))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    torch.manual_seed(0)
    x = torch.randn(64, 4)
    data = torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True))
    loader = torch.utils.data.DataLoader(data, batch_size=16)
    logger = WandbLogger(project="lightning", log_model=False)
    model = Model(lr=logger.experiment.config["lr"])  # the sweep's value, W&B's way
    trainer = L.Trainer(max_epochs=3, logger=logger, accelerator="cpu", log_every_n_steps=1,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(model, loader, loader)
    wandb.finish()
"""


@pytest.mark.parametrize("mode", ["shim", "offline"])
def test_lightning_wandb_logger_runs_unchanged(env, mode: str) -> None:
    pytest.importorskip("lightning")
    if mode == "offline":
        pytest.importorskip("wandb")
    env.program(LIGHTNING_SCRIPT)
    sweep_id = env.create({"program": "train.py", "method": "grid",
                           "metric": {"name": "val_loss"},
                           "parameters": {"lr": {"values": [0.05]}}})
    proc = env.cli("agent", sweep_id, "--wandb", mode, timeout=300,
                   env={"WANDB_DIR": str(env.tmp)})
    s = env.status(sweep_id)
    run = s["runs"][0]
    assert run["state"] == "finished", proc.stderr
    run_dir = env.root / sweep_id / "runs" / run["run_id"]
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    val = [line["val_loss"] for line in lines if "val_loss" in line]
    assert len(val) == 3 and run["value"] == min(val)  # one per epoch, read by the agent
    assert all("trainer/global_step" in line for line in lines)
    shim_found = "wandb distribution 0.19.0" in (run_dir / "output.log").read_text()
    assert shim_found == (mode == "shim")
    assert (list((env.tmp / "wandb").glob("offline-run-*")) != []) == (mode == "offline")


HUGGING_FACE_SCRIPT = """
    import os, torch, wandb
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    run = wandb.init(project="hf")  # W&B's sweep pattern: the sweep's values in wandb.config
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(
        vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
        intermediate_size=8, max_position_embeddings=16, num_labels=2))

    class Data(torch.utils.data.Dataset):
        def __len__(self):
            return 16

        def __getitem__(self, i):
            ids = torch.tensor([(i * 7 + j) % 32 for j in range(8)])
            return {"input_ids": ids, "labels": torch.tensor(i % 2)}

    args = TrainingArguments(
        output_dir=os.path.join(os.environ["SWEEPCLI_RUN_DIR"], "out"),
        learning_rate=wandb.config.lr, num_train_epochs=2, per_device_train_batch_size=8,
        eval_strategy="epoch", logging_steps=1, save_strategy="no", report_to="wandb",
        use_cpu=True, disable_tqdm=True)
    Trainer(model=model, args=args, train_dataset=Data(), eval_dataset=Data()).train()
    wandb.finish()
"""


@pytest.mark.parametrize("mode", ["shim", "offline"])
def test_hugging_face_trainer_report_to_wandb_runs_unchanged(env, mode: str) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    if mode == "offline":
        pytest.importorskip("wandb")
    env.program(HUGGING_FACE_SCRIPT)
    sweep_id = env.create({"program": "train.py", "method": "grid",
                           "metric": {"name": "eval/loss"},
                           "parameters": {"lr": {"values": [0.001]}}})
    proc = env.cli("agent", sweep_id, "--wandb", mode, timeout=300,
                   env={"WANDB_DIR": str(env.tmp), "HF_HUB_OFFLINE": "1"})
    s = env.status(sweep_id)
    run = s["runs"][0]
    assert run["state"] == "finished", proc.stderr
    run_dir = env.root / sweep_id / "runs" / run["run_id"]
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [line["eval/loss"] for line in lines if "eval/loss" in line]
    assert len(evals) == 2 and run["value"] == min(evals)  # one per epoch
    assert any("train/loss" in line for line in lines)
    assert (list((env.tmp / "wandb").glob("offline-run-*")) != []) == (mode == "offline")
