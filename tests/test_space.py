"""Properties of the parameter space: draws valid, unit-interval round trips, nesting."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sweepcli.config import canonical_key, validate
from sweepcli.search.grid import grid_points, grid_size

from .strategies import parameters


def space_of(params, method="random"):
    return validate({"method": method, "parameters": params}).space


@settings(max_examples=150, deadline=None)
@given(parameters(), st.integers(0, 2**32 - 1))
def test_every_draw_is_valid_and_in_bounds(params, seed) -> None:
    space = space_of(params)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        point = space.sample(rng)
        assert set(point) == set(space.names)
        for p in space.params:
            v = point[p.name]
            assert p.contains(v), (p, v)
            if p.is_integer:
                assert isinstance(v, int) and not isinstance(v, bool)


@settings(max_examples=150, deadline=None)
@given(parameters(), st.lists(st.floats(0, 1), min_size=1, max_size=5))
def test_unit_interval_round_trip(params, us) -> None:
    space = space_of(params)
    for p in space.searchable:
        for u in us:
            v = p.from_unit(u)
            back = p.to_unit(v)
            assert 0.0 <= back <= 1.0
            # value -> unit -> value is exact for every value the law can produce
            again = p.from_unit(back)
            if isinstance(v, float) and not p.distribution.startswith("q_"):
                assert math.isclose(again, v, rel_tol=1e-6, abs_tol=1e-9), (p, u, v, again)
            elif p.distribution.startswith("q_"):
                # the quantised value lies within one step of where it came from
                assert abs(again - v) <= p.spec["q"] * 1.0001 + 1e-9, (p, u, v, again)
            else:
                assert canonical_key(again) == canonical_key(v), (p, u, v, again)


@settings(max_examples=100, deadline=None)
@given(parameters())
def test_nest_and_flatten_are_inverse(params) -> None:
    space = space_of(params)
    flat = space.sample(np.random.default_rng(0))
    nested = space.nest(flat)
    assert space.flatten(nested) == flat
    for p in space.params:  # the program sees the nested form
        node = nested
        for key in p.path:
            node = node[key]
        assert canonical_key(node) == canonical_key(flat[p.name])


@settings(max_examples=100, deadline=None)
@given(parameters(grid_only=True))
def test_grid_is_the_exact_product_each_point_once(params) -> None:
    space = space_of(params, "grid")
    assume(grid_size(space) <= 3000)
    points = grid_points(space)
    keys = [canonical_key(p) for p in points]
    assert len(set(keys)) == len(keys)
    assert len(points) == math.prod(len(p.grid_values()) for p in space.params)
    # every combination is there: per-parameter value sets multiply out
    for p in space.params:
        assert {canonical_key(pt[p.name]) for pt in points} == {
            canonical_key(v) for v in p.grid_values()
        }


def test_nested_names_flatten_with_dots() -> None:
    space = space_of({"model": {"parameters": {"num_layers": {"values": [2, 3]},
                                               "act": {"value": "relu"}}},
                      "opt.beta1": {"value": 0.9}})
    assert space.names == ["model.act", "model.num_layers", "opt.beta1"]
    nested = space.nest({"model.act": "relu", "model.num_layers": 2, "opt.beta1": 0.9})
    assert nested == {"model": {"act": "relu", "num_layers": 2}, "opt.beta1": 0.9}


def test_equal_numbers_are_one_grid_point() -> None:
    space = space_of({"a": {"values": [1, 1.0, 2]}}, "grid")
    assert grid_points(space) == [{"a": 1}, {"a": 2}]
