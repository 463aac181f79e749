"""Properties of the parameter space: draws valid, unit-interval round trips, nesting."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sweepcli.config import canonical_key, validate
from sweepcli.runs import Run, RunState
from sweepcli.search.grid import grid_index_of, grid_point, grid_points, grid_size, suggest

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


def test_whole_floats_are_the_int_as_in_wandb_today() -> None:
    """3e6 (a float in YAML) and 3000000 are one point, where the first stands, in the
    last one's form (W&B's grid looks values up by a hash, the last written wins)."""
    space = space_of({"a": {"values": [3e6, 5, 3000000]}}, "grid")
    points = grid_points(space)
    assert points == [{"a": 3000000}, {"a": 5}] and isinstance(points[0]["a"], int)
    # only at the top of a value, as W&B's hash does: [1.0] and [1] stay two values
    assert len(grid_points(space_of({"a": {"values": [[1.0], [1]]}}, "grid"))) == 2
    assert len(grid_points(space_of({"a": {"values": [True, 1]}}, "grid"))) == 2


def test_a_run_is_found_on_the_grid_by_its_values() -> None:
    space = space_of({"lr": {"values": [0.1, 0.01]}, "n": {"min": 1, "max": 3},
                      "q": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.1},
                      "opt": {"values": [{"name": "adam", "beta": 0.9}, {"name": "sgd"}]}},
                     "grid")
    for i in (0, 7, grid_size(space) - 1):
        assert grid_index_of(space, grid_point(space, i)) == i
    point = grid_point(space, 5)
    assert grid_index_of(space, {**point, "n": float(point["n"])}) == 5  # 2.0 is 2
    # arange's 0.30000000000000004 is the 0.3 a person or a results file writes
    q3 = next(i for i in range(grid_size(space)) if abs(grid_point(space, i)["q"] - 0.3) < 1e-9)
    assert grid_index_of(space, {**grid_point(space, q3), "q": 0.3}) == q3
    # keys the program added to a mapping value at run time do not make a new point
    with_extra = {**point, "opt": {**point["opt"], "added_at_run_time": 1}}
    assert grid_index_of(space, with_extra) == 5
    assert grid_index_of(space, {**point, "lr": 0.5}) is None
    assert grid_index_of(space, {"lr": 0.1}) is None  # a parameter missing: no point


def test_grid_skips_points_that_prior_runs_or_earlier_configs_hold() -> None:
    space = space_of({"a": {"values": [1, 2, 3]}}, "grid")
    prior = Run("p0000000", {"a": 1}, RunState.FINISHED, [0.5], prior="old/x")
    older = Run("r0000000", {"a": 2.0}, RunState.FINISHED, grid_index=0, revision=0)
    # at revision 1 the old run's grid index means nothing; its values put it on point 1
    s = suggest(space, [prior, older], revision=1)
    assert s is not None and s.params == {"a": 3} and s.grid_index == 2
    assert suggest(space, [prior, older, Run("n0000000", {"a": 3}, grid_index=2,
                                             revision=1)], revision=1) is None
