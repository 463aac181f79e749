"""A PyTorch Lightning callback that writes Lightning's logged metrics as metric lines.

    from sweepcli_callback import SweepcliCallback
    trainer = Trainer(callbacks=[SweepcliCallback()])

Lightning is an optional extra (`pip install 'sweepcli[lightning]'`), never a core
dependency: this file imports without it, so the callback's logic can be tested anywhere.
It also asks the trainer to stop when the agent says so (hyperband, cancel).
"""

from __future__ import annotations

import math
from typing import Any

import sweepcli

try:  # Lightning 2.x, then the older package name
    from lightning.pytorch import Callback
except ImportError:  # pragma: no cover - depends on what is installed
    try:
        from pytorch_lightning import Callback
    except ImportError:
        Callback = object  # type: ignore[misc,assignment]


def _number(value: Any) -> float | None:
    try:
        value = value.item() if hasattr(value, "item") else float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class SweepcliCallback(Callback):  # type: ignore[misc]
    """After each validation epoch, log every scalar metric Lightning has, plus the epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.run = sweepcli.init()

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if getattr(trainer, "sanity_checking", False):
            return
        line: dict[str, float] = {"epoch": float(trainer.current_epoch)}
        for name, value in dict(trainer.callback_metrics).items():
            number = _number(value)
            if number is not None:
                line[name] = number
        self.run.log(line)
        if self.run.should_stop:  # the agent wants this run to end: stop cleanly
            trainer.should_stop = True
