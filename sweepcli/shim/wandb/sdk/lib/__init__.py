"""``wandb.sdk.lib``: what integrations import from it."""

from . import config_util as config_util


class RunDisabled:
    """W&B's run under ``mode="disabled"``; no sweepcli run is one (a type to test against)."""
