"""A model whose best learning rate changes while it trains: noisy SGD on a linear
regression. A large rate gets near the answer fast but then jitters around it (its loss
floor grows with the rate); a small one is precise but slow. No fixed rate wins within the
steps: a schedule does, and PBT finds one.

The only things PBT asks of a program are the ones resuming asks: save a checkpoint in
SWEEPCLI_RUN_DIR, then log the step's metric line; when resumed, load the checkpoint. Under
``method: pbt`` the checkpoint may be another member's (a copy of its files), and the
config (``lr``) may have changed: read it after loading.
"""

import os

import numpy as np

import sweepcli

run = sweepcli.init(config={"lr": 0.05, "steps": 60, "seed": 0})
cfg = run.config
DIM, BATCH, UPDATES = 20, 4, 25

data = np.random.default_rng(12345)  # the task: the same for every member
w_true = data.normal(size=DIM)
X_val = data.normal(size=(500, DIM))
y_val = X_val @ w_true

ckpt = run.dir / "checkpoint.npz" if run.dir else None
if run.resumed and ckpt is not None and ckpt.exists():
    saved = np.load(ckpt)
    w, step = saved["w"], int(saved["step"])
else:
    w, step = np.zeros(DIM), 0

while step < int(cfg.steps):
    rng = np.random.default_rng([int(cfg.seed), step])  # a step's noise: the same on replay
    for _ in range(UPDATES):
        xb = rng.normal(size=(BATCH, DIM))
        yb = xb @ w_true + rng.normal(scale=2.0, size=BATCH)
        w = w - float(cfg.lr) * xb.T @ (xb @ w - yb) / BATCH
        w = np.clip(w, -1e3, 1e3)
    step += 1
    loss = float(np.mean((X_val @ w - y_val) ** 2))
    if ckpt is not None:  # the checkpoint first, whole (written aside, then renamed) ...
        tmp = ckpt.with_name("checkpoint.tmp.npz")
        np.savez(tmp, w=w, step=step)
        os.replace(tmp, ckpt)
    run.log({"loss": loss, "lr": float(cfg.lr)})  # ... then the step's line
run.finish()
