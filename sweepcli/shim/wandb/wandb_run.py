"""``wandb.wandb_run.Run`` (Lightning imports it from here): sweepcli's run."""

from sweepcli.child import Run as Run
