"""``wandb.sdk.wandb_run.Run``: sweepcli's run (integrations test ``isinstance`` against it)."""

from .._helper import child as _child

Run = _child.Run
