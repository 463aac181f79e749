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

from typing import Any

# A training program imports this package: only the helper (standard library alone) loads
# now; the API and the layers load when first used (a program started 0.2 s of CPU sooner)
from .child import Config, Run, init, log

_API = frozenset({"Api", "cancel", "enqueue", "pause", "resume", "stop", "sweep", "update"})


def __getattr__(name: str) -> Any:
    if name in _API:
        from . import api

        return getattr(api, name)
    # a layer or module (sweepcli.api, sweepcli.store, ...), loaded when first named; agent
    # and config set their own module class: sweepcli.agent(...) runs an agent,
    # sweepcli.config.lr is the current run's parameter (see their __init__)
    import importlib
    import importlib.util

    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'sweepcli' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = ["Api", "Config", "Run", "agent", "cancel", "config", "enqueue", "init", "log",
           "pause", "resume", "stop", "sweep", "update"]
