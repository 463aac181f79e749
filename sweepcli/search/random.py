"""Random search: an independent draw of every parameter, as W&B draws it."""

from __future__ import annotations

import numpy as np

from ..config import Space
from ..runs import Run
from . import Suggestion


def suggest(space: Space, runs: list[Run], rng: np.random.Generator) -> Suggestion:
    """A fresh random point; random search is never exhausted (use --count or run_cap)."""
    del runs  # every draw is independent of history
    return Suggestion(space.sample(rng))
