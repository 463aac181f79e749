"""sweepcli: hyperparameter sweeps that need no server.

In a training program::

    import sweepcli
    with sweepcli.init(config={"lr": 0.01}) as run:
        run.log({"val_loss": 0.3})

From Python: ``sweepcli.sweep(config)`` and ``sweepcli.agent(sweep_id, function=train)``.
"""

from . import config as _config_module
from .child import Config, Run, RunConfigModule, init, log

_config_module.__class__ = RunConfigModule
config = _config_module  # sweepcli.config.lr: the current run's parameter

__version__ = "0.1.0"


def sweep(config: dict, project: str | None = None, dir: str | None = None) -> str:  # noqa: A002
    """Create a sweep from a config dict; returns its ID."""
    from .api import sweep as _sweep

    return _sweep(config, project=project, dir=dir)


def agent(sweep_id: str, function=None, count: int | None = None, dir: str | None = None):  # noqa: A002
    """Run runs of a sweep in this process (``function``) or as the config's program."""
    from .api import agent as _agent

    return _agent(sweep_id, function=function, count=count, dir=dir)


__all__ = ["Config", "Run", "agent", "config", "init", "log", "sweep"]
