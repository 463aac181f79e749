"""A toy objective: every grid point runs once; its value is a closed formula."""

import math

import sweepcli

with sweepcli.init(config={"optimizer": "adam", "lr": 0.01, "layers": 2}) as run:
    c = run.config
    penalty = {"adam": 0.0, "sgd": 0.2, "rmsprop": 0.1}[c.optimizer]
    for epoch in range(5):
        loss = abs(math.log10(c.lr) + 2) + 0.05 * abs(c.layers - 3) + penalty + 1 / (epoch + 1)
        run.log({"epoch": epoch, "loss": loss})
