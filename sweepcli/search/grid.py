"""Grid search in W&B's order, nested parameters included, each point claimed once.

Points are numbered: the product over parameters sorted by name, the first name
slowest. A run records the index of its point, so finding the next free point needs no
hashing of configs and stays fast with thousands of runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from ..config import Space
from ..runs import Run
from . import Suggestion


@lru_cache(maxsize=32)
def _axes(space: Space) -> tuple[tuple[str, ...], tuple[Sequence[Any], ...]]:
    names = tuple(p.name for p in space.params)
    values = tuple(p.grid_axis() for p in space.params)  # lazy: a huge axis costs nothing
    return names, values


def grid_size(space: Space) -> int:
    """How many points the grid has."""
    return math.prod(len(v) for v in _axes(space)[1])


def grid_point(space: Space, index: int) -> dict[str, Any]:
    """The parameters of point ``index`` (0-based, W&B's order)."""
    names, values = _axes(space)
    point: dict[str, Any] = {}
    for name, vals in zip(reversed(names), reversed(values)):
        index, i = divmod(index, len(vals))
        point[name] = vals[i]
    return {n: point[n] for n in names}


def grid_points(space: Space) -> list[dict[str, Any]]:
    """Every point, in order."""
    return [grid_point(space, i) for i in range(grid_size(space))]


def suggest(space: Space, runs: list[Run]) -> Suggestion | None:
    """The first point no run holds yet, or None when every point is taken."""
    taken = {r.grid_index for r in runs if r.grid_index is not None}
    size = grid_size(space)
    index = 0
    while index in taken:
        index += 1
    if index >= size:
        return None
    return Suggestion(grid_point(space, index), grid_index=index)
