"""``wandb.sdk`` as integrations import it (Lightning, Hugging Face): sweepcli's names."""

from sweepcli.child import Config as Config
from sweepcli.child import Run as Run

from . import lib as lib
from . import wandb_run as wandb_run
