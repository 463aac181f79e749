"""Grid search in W&B's order, nested parameters included, each point claimed once.

Points are numbered: the product over parameters sorted by name, the first name
slowest. A run records the index of its point, so finding the next free point needs no
hashing of configs and stays fast with thousands of runs.

With ``sweepcli.conditions``, a point of the product whose inactive parameters are not at
their first value is the same effective point as one that is (the program never sees an
inactive parameter): only the latter, the *canonical* index, is run, so each effective
point runs once. A point ``sweepcli.forbid`` or ``sweepcli.require`` rules out is passed
over (each one looked at once per claim: a rule that leaves a few points of a huge grid
costs a walk over it).
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


@lru_cache(maxsize=32)
def _ancestors(space: Space) -> tuple[tuple[int, ...], ...]:
    """For each parameter (by position), the positions of every parameter its activity
    depends on (the ones its conditions name, and theirs, transitively)."""
    where = {p.name: i for i, p in enumerate(space.params)}
    conds = space.conditional
    out = []
    for p in space.params:
        seen: set[int] = set()
        todo = [other for other, _ in conds.get(p.name, ())]
        while todo:
            name = todo.pop()
            if name in where and where[name] not in seen:
                seen.add(where[name])
                todo.extend(other for other, _ in conds.get(name, ()))
        out.append(tuple(sorted(seen)))
    return tuple(out)


def next_canonical(space: Space, start: int) -> int | None:
    """The first canonical index at or after ``start`` (None: there is none), found
    without walking the points between: a point whose inactive parameter P is off its first
    value stays so until P's value wraps back (a carry into a slower digit) or a parameter
    P depends on changes, so whole blocks of the product are skipped at once. A conditional
    grid of millions of points costs a few steps per canonical point."""
    size = grid_size(space)
    if not space.conditions:
        return start if start < size else None
    _, axes = _axes(space)
    radix = [len(a) for a in axes]
    # stride[j]: how many indexes one step of digit j spans (the last digit is fastest)
    stride = [1] * len(radix)
    for j in range(len(radix) - 2, -1, -1):
        stride[j] = stride[j + 1] * radix[j + 1]
    ancestors = _ancestors(space)
    index = start
    while index < size:
        point = grid_point(space, index)
        active = space.active_names(point)
        jump = index
        for j, p in enumerate(space.params):
            if p.name in active or (index // stride[j]) % radix[j] == 0:
                continue
            # nothing changes for P before a slower digit or one P depends on moves:
            # the fastest of those is the next digit to step (-1: none, no point left)
            m = max([j - 1, *(a for a in ancestors[j] if a > j)])
            if m < 0:
                return None
            jump = max(jump, (index // stride[m] + 1) * stride[m])
        if jump == index:
            return index
        index = jump
    return None


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
    points = []
    index = next_canonical(space, 0)
    while index is not None:
        point = space.active(grid_point(space, index))
        if space.broken(point) is None:
            points.append(point)
        index = next_canonical(space, index + 1)
    return points


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
    index = next_canonical(space, 0)
    # a point sweepcli.forbid or sweepcli.require rules out is passed over, as taken
    while index is not None and (index in taken or (
            space.rules and space.broken(grid_point(space, index)) is not None)):
        index = next_canonical(space, index + 1)
    if index is None:
        return None
    return Suggestion(space.active(grid_point(space, index)), grid_index=index)
