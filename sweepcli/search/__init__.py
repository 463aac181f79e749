"""Search methods: pure functions from (config, runs, rng) to the next parameters.

A method never touches a file or a clock; the agent calls :func:`suggest` under the
sweep's lock with the runs read from the store.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import SweepConfig
from ..runs import Run


@dataclass(frozen=True)
class Suggestion:
    """Parameters for the next run (flat names); grid points carry their index."""

    params: dict[str, Any]
    grid_index: int | None = None


def suggest(config: SweepConfig, runs: list[Run], rng: np.random.Generator) -> Suggestion | None:
    """The next point to run, or None when the method has nothing left (grid exhausted)."""
    if config.method == "grid":
        from .grid import suggest as grid_suggest

        return grid_suggest(config.space, runs, config.revision)
    if config.method == "random":
        from .random import suggest as random_suggest

        return random_suggest(config.space, runs, rng)
    if config.method == "bayes":
        from .bayes import suggest as bayes_suggest

        with one_blas_thread():
            return bayes_suggest(config, runs, rng)
    raise ValueError(f"unknown search method {config.method!r}")


def ruled_out(config: SweepConfig) -> str | None:
    """Why ``sweepcli.forbid``/``require`` leave no point to run, or None: checked when a
    sweep is made or given a new config, so an agent never starts on a space with nothing
    in it. grid: no grid point is allowed; random and bayes: none of ``MAX_DRAWS`` drawn."""
    if not config.space.rules:
        return None
    if config.method == "grid":
        from .grid import suggest as grid_suggest

        if grid_suggest(config.space, [], config.revision) is None:
            return "no grid point keeps them: every combination of the values is ruled out"
        return None
    from ..config.space import MAX_DRAWS, NoPointAllowed

    rng = np.random.default_rng(0)
    try:
        config.space.sample(rng)
    except NoPointAllowed:
        one = config.space.broken(config.space.active({p.name: p.sample(rng)
                                                       for p in config.space.params}))
        return f"none of {MAX_DRAWS:,} points drawn is allowed" + (f" (one {one})" if one else "")
    return None


_CONTROLLER: Any = None


def one_blas_thread() -> Any:
    """The model's linear algebra on one thread. Its matrices are small (a few hundred
    runs), and on a busy machine (the agents' own programs, other agents) OpenBLAS's
    threads wait on each other: a 150 x 150 Cholesky took 11 ms with its default threads
    and 0.17 ms with one, on this project's 2-core machine under 8 agents. For the call
    only (threadpoolctl, which scikit-learn brings): an in-process training function
    keeps its threads, and no program inherits a setting."""
    global _CONTROLLER
    try:
        if _CONTROLLER is None:
            import scipy.linalg  # noqa: F401 - its own OpenBLAS, found only once loaded
            from threadpoolctl import ThreadpoolController

            _CONTROLLER = ThreadpoolController()
        return _CONTROLLER.limit(limits=1, user_api="blas")
    except Exception:  # noqa: BLE001 - a speed-up only: without it the model is the same
        return contextlib.nullcontext()


__all__ = ["Suggestion", "ruled_out", "suggest"]
