"""sweepcli: hyperparameter sweeps that need no server.

In a training program::

    import sweepcli
    with sweepcli.init(config={"lr": 0.01}) as run:
        run.log({"val_loss": 0.3})

From Python: ``sweepcli.sweep(config)`` and ``sweepcli.agent(sweep_id, function=train)``;
``sweepcli.pause/resume/stop/cancel(ref)``, ``sweepcli.enqueue(ref, point)``,
``sweepcli.update(ref, config)``; ``sweepcli.Api().sweep(ref)`` to read one.

``sweepcli.config`` and ``sweepcli.agent`` are also the names of two layers (packages);
their module objects are given small classes so that the contract's
``sweepcli.config.lr`` and ``sweepcli.agent(...)`` work whatever is imported first.
"""

from __future__ import annotations

import types
from typing import Any

from . import agent as _agent_module
from . import config as _config_module
from .api import Api, cancel, enqueue, pause, resume, stop, sweep, update
from .child import Config, Run, RunConfigModule, init, log


class _CallableAgentModule(types.ModuleType):
    def __call__(self, sweep_id: str, function: Any = None, count: int | None = None,
                 dir: str | None = None, project: str | None = None) -> Any:  # noqa: A002
        """Run runs of a sweep in this process (``function``) or as the config's program."""
        from .api import agent as run_agent

        return run_agent(sweep_id, function=function, count=count, dir=dir, project=project)


_config_module.__class__ = RunConfigModule
_agent_module.__class__ = _CallableAgentModule
config = _config_module
agent = _agent_module

__version__ = "0.1.0"

__all__ = ["Api", "Config", "Run", "agent", "cancel", "config", "enqueue", "init", "log",
           "pause", "resume", "stop", "sweep", "update"]
