"""Search methods: pure functions from (config, runs, rng) to the next parameters.

A method never touches a file or a clock; the agent calls :func:`suggest` under the
sweep's lock with the runs read from the store.
"""

from __future__ import annotations

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

        return bayes_suggest(config, runs, rng)
    raise ValueError(f"unknown search method {config.method!r}")


__all__ = ["Suggestion", "suggest"]
