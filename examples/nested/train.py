"""Nested parameters: the program sees the nested form, run.config.model.num_layers."""

import sweepcli

defaults = {"model": {"num_layers": 2, "activation": "relu"},
            "optimizer": {"name": "adam", "lr": 1e-3}}
with sweepcli.init(config=defaults) as run:
    m, o = run.config.model, run.config.optimizer
    loss = 1.0 / m.num_layers + (0.1 if m.activation == "tanh" else 0.0) + o.lr * 10
    run.log({"loss": loss})
    print(f"model={dict(m)} optimizer={dict(o)} loss={loss:.3f}")
