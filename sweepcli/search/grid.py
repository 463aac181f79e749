"""Grid search in W&B's order, nested parameters included, each point claimed once.

Points are numbered: the product over parameters sorted by name, the first name
slowest. A run records the index of its point, so finding the next free point needs no
hashing of configs and stays fast with thousands of runs.

With ``sweepcli.conditions``, a point of the product whose inactive parameters are not at
their first value is the same effective point as one that is (the program never sees an
inactive parameter): only the latter, the *canonical* index, is run, so each effective
point runs once.
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


@lru_cache(maxsize=8)
def _canonical(space: Space) -> tuple[int, ...] | None:
    """The canonical indexes of a conditional grid of at most a million points, in order
    (None: larger, judged one by one)."""
    size = grid_size(space)
    if size > 1_000_000:
        return None
    return tuple(i for i in range(size) if is_canonical(space, i))


def is_canonical(space: Space, index: int) -> bool:
    """Whether point ``index`` is the one that stands for its effective point: every
    inactive parameter at its first value (always, without conditions)."""
    if not space.conditions:
        return True
    point = grid_point(space, index)
    active = space.active_names(point)
    return all(p.grid_position(point[p.name]) == 0 for p in space.params if p.name not in active)


def grid_points(space: Space) -> list[dict[str, Any]]:
    """Every effective point, in order (inactive parameters left out)."""
    return [space.active(grid_point(space, i)) for i in range(grid_size(space))
            if is_canonical(space, i)]


def grid_index_of(space: Space, params: dict[str, Any]) -> int | None:
    """The index of the grid point ``params`` (flat names) is, or None when it is none:
    how runs that were not claimed from this grid (prior runs, runs of an earlier config,
    enqueued points) are found on it. An inactive parameter counts at its first value."""
    _, values = _axes(space)
    active = space.active_names(params) if space.conditions else None
    index = 0
    for p, axis in zip(space.params, values):
        if active is not None and p.name not in active:
            i: int | None = 0
        elif p.name not in params:
            return None
        else:
            i = p.grid_position(params[p.name])
        if i is None:
            return None
        index = index * len(axis) + i
    return index


def taken_points(space: Space, runs: list[Run], revision: int = 0) -> set[int]:
    """The grid points some run holds: its own index when it was claimed from this very
    grid (this config revision), else found by its values."""
    taken = set()
    for r in runs:
        if r.grid_index is not None and r.revision == revision and r.prior is None:
            taken.add(r.grid_index)
        elif r.prior is not None or r.revision != revision:
            i = grid_index_of(space, r.params)
            if i is not None:
                taken.add(i)
    return taken


def suggest(space: Space, runs: list[Run], revision: int = 0) -> Suggestion | None:
    """The first point no run holds yet, or None when every point is taken."""
    taken = taken_points(space, runs, revision)
    canonical = _canonical(space) if space.conditions else None
    if canonical is not None:  # (each claim walks a list, not the whole product)
        index = next((i for i in canonical if i not in taken), None)
        if index is None:
            return None
        return Suggestion(space.active(grid_point(space, index)), grid_index=index)
    size = grid_size(space)
    index = 0
    while index < size and (index in taken or not is_canonical(space, index)):
        index += 1
    if index >= size:
        return None
    return Suggestion(space.active(grid_point(space, index)), grid_index=index)
