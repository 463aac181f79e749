"""``wandb.sdk.wandb_run.Run``: sweepcli's run (integrations test ``isinstance`` against it)."""

from sweepcli.child import Run as Run
