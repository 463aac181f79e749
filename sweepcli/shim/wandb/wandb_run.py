"""``wandb.wandb_run.Run`` (Lightning imports it from here): sweepcli's run."""

from wandb._helper import child as _child

Run = _child.Run
