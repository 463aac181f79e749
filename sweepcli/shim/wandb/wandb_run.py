"""``wandb.wandb_run.Run`` (Lightning imports it from here): sweepcli's run."""

from ._helper import child as _child

Run = _child.Run
