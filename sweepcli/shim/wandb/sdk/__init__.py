"""``wandb.sdk`` as integrations import it (Lightning, Hugging Face): sweepcli's names."""

from .._helper import child as _child

from . import lib as lib
from . import wandb_run as wandb_run

Config, Run = _child.Config, _child.Run
