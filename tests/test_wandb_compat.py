"""Compatibility with W&B's own sweeps engine (``sweeps`` 0.2.0, from the test extra).

Verdicts on a corpus of configs, grid enumeration and random samples are compared with
W&B's. The documented differences (README, "Moving from W&B") are excluded here on
purpose, each named.
"""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings

from sweepcli.config import ConfigError, canonical_key, validate
from sweepcli.runs import Run
from sweepcli.search import grid

from .strategies import parameters

# W&B's engine is in the test extra: a missing oracle is a failure, never a silent skip
import jsonschema  # noqa: E402
import scipy.stats as stats  # noqa: E402
import sweeps  # noqa: E402, F401
from sweeps import next_run  # noqa: E402
from sweeps.config import SweepConfig  # noqa: E402
from sweeps.params import HyperParameterSet  # noqa: E402


def wandb_accepts(config: dict) -> bool:
    """W&B's verdict. Only its own ways of saying no count as no (a schema error, its
    ValueError for a bad parameter or a grid it cannot enumerate, the TypeError its schema
    code raises comparing a string with a number): any other exception (an ImportError, an
    AttributeError of a changed API) is a broken oracle and fails the test instead of
    reading as agreement."""
    try:
        SweepConfig(copy.deepcopy(config))
    except (jsonschema.ValidationError, ValueError, TypeError):
        return False
    if config.get("method") == "grid":  # W&B refuses non-grid distributions at the first run
        try:
            next_run(copy.deepcopy(config), [])
        except ValueError:
            return False
    return True


def ours_accepts(config: dict) -> bool:
    try:
        validate(copy.deepcopy(config))
    except ConfigError:
        return False
    return True


P = {"x": {"values": [1, 2]}}
CORPUS = [
    {"method": "grid", "parameters": P},
    {"method": "random", "parameters": P},
    {"method": "bayes", "parameters": P, "metric": {"name": "loss"}},
    {"method": "rnd", "parameters": P},
    {"parameters": P},
    {"method": "grid"},
    {"method": "grid", "parameters": {}},
    {"method": "grid", "parameters": P, "foo": 1},
    {"method": "grid", "parameters": P, "metric": {"name": "a", "goal": "maximize"}},
    {"method": "grid", "parameters": P, "metric": {"name": "a", "goal": "max"}},
    {"method": "grid", "parameters": P, "metric": {"goal": "maximize"}},
    {"method": "grid", "parameters": P, "metric": {"name": "a", "target": 0.5}},
    {"method": "grid", "parameters": P, "metric": {"name": "a", "target": "x"}},
    {"method": "grid", "parameters": P, "metric": {"name": "a", "impute": "best"}},
    {"method": "grid", "parameters": P, "metric": {"name": "a", "impute": "avg"}},
    {"method": "grid", "parameters": P, "metric": {"name": "a", "extra": 1}},
    {"method": "grid", "parameters": P, "metric": "loss"},
    {"method": "grid", "parameters": P, "program": "train.py", "command": ["${program}"]},
    {"method": "grid", "parameters": P, "command": "python train.py"},
    {"method": "grid", "parameters": P, "command": []},
    {"method": "grid", "parameters": P, "name": 3},
    {"method": "grid", "parameters": P, "description": None},
    {"method": "grid", "parameters": P, "metric": {"name": "a", "target": True}},
    {"method": "random", "parameters": {"p": {"value": None}}},
    {"method": "random", "parameters": {"p": {"values": [[1, 2], {"a": 1}]}}},
    {"method": "random", "parameters": {"p": {"min": 0, "max": 10, "q": 2}}},
    {"method": "random", "parameters": {"p": {"distribution": "int_uniform", "min": 0, "max": 10.0}}},
    {"method": "random", "parameters": P, "metric": {"name": "a"},
     "early_terminate": {"type": "hyperband", "min_iter": 3, "max_iter": 27, "s": 2}},
    {"method": "grid", "parameters": P, "name": "n", "description": "d", "project": "p",
     "entity": "e", "kind": "sweep", "apiVersion": "1"},
    {"method": "grid", "parameters": P, "kind": "run"},
    {"method": "grid", "parameters": P, "controller": {"type": "local"}},
    {"method": "grid", "parameters": P, "controller": {"type": "remote"}},
    {"method": "random", "parameters": P, "metric": {"name": "a"},
     "early_terminate": {"type": "hyperband", "min_iter": 3}},
    {"method": "random", "parameters": P, "metric": {"name": "a"},
     "early_terminate": {"type": "hyperband", "max_iter": 27, "s": 2}},
    {"method": "random", "parameters": P, "metric": {"name": "a"},
     "early_terminate": {"type": "hyperband", "max_iter": 27}},
    {"method": "random", "parameters": P, "metric": {"name": "a"},
     "early_terminate": {"type": "hyperband", "min_iter": 0}},
    {"method": "random", "parameters": P, "metric": {"name": "a"},
     "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 1}},
    {"method": "random", "parameters": P, "metric": {"name": "a"},
     "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 2.5}},
    {"method": "random", "parameters": P, "metric": {"name": "a"},
     "early_terminate": {"type": "other", "min_iter": 3}},
    {"method": "random", "parameters": P, "metric": {"name": "a"},
     "early_terminate": {"type": "hyperband", "min_iter": 3, "foo": 1}},
]
for spec in [
    {"value": 1}, {"value": [1, 2]}, {"values": [1, "a", None]}, {"values": []},
    {"values": 3}, {"values": [1, 2], "probabilities": [0.2, 0.8]},
    {"values": [1, 2], "probabilities": [0.2, 0.7]},
    {"values": [1, 2], "probabilities": [1.0]},
    {"values": [1, 2], "probabilities": [-0.5, 1.5]},
    {"min": 0, "max": 10}, {"min": 0.0, "max": 1.0}, {"min": 0, "max": 1.0},
    {"min": 1, "max": 0}, {"min": 1.0, "max": 1.0}, {"min": "a", "max": 2}, {"min": 0},
    {"distribution": "int_uniform", "min": 0, "max": 5},
    {"distribution": "int_uniform", "min": 0.5, "max": 5},
    {"distribution": "uniform", "min": 0, "max": 5},
    {"distribution": "uniform", "min": 0},
    {"distribution": "q_uniform", "min": 0, "max": 5, "q": 0.5},
    {"distribution": "q_uniform", "min": 0, "max": 5, "q": 0},
    {"distribution": "q_uniform", "min": 0, "max": 5, "q": -1},
    {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
    {"distribution": "log_uniform_values", "min": 0, "max": 1e-1},
    {"distribution": "log_uniform_values", "min": -1, "max": 1},
    {"distribution": "q_log_uniform_values", "min": 1, "max": 100, "q": 2},
    {"distribution": "inv_log_uniform_values", "min": 0.01, "max": 1},
    {"distribution": "normal"}, {"distribution": "normal", "mu": 1, "sigma": 2},
    {"distribution": "normal", "sigma": -1}, {"distribution": "normal", "min": 0},
    {"distribution": "q_normal", "q": 0.5}, {"distribution": "log_normal", "mu": -1},
    {"distribution": "q_log_normal", "q": 2}, {"distribution": "beta", "a": 2, "b": 3},
    {"distribution": "beta", "a": -1}, {"distribution": "q_beta", "q": 0.1},
    {"distribution": "categorical", "values": [1, 2]},
    {"distribution": "categorical", "values": [1, 2], "probabilities": [0.5, 0.5]},
    {"distribution": "categorical_w_probabilities", "values": [1, 2], "probabilities": [0.5, 0.5]},
    {"distribution": "categorical_w_probabilities", "values": [1, 2]},
    {"distribution": "constant", "value": 3}, {"distribution": "constant"},
    {"distribution": "gaussian"}, {"distribution": "uniform", "min": 0, "max": 1, "q": 1},
    {"parameters": {"a": {"values": [1, 2]}, "b": {"value": 3}}},
    {"parameters": {"a": {"parameters": {"b": {"min": 0.0, "max": 1.0}}}}},
    {"parameters": {"a": {"distribution": "bogus"}}},
    {"parameters": {}},
    {}, {"foo": 1}, 3, "x", [1, 2],
]:
    CORPUS.append({"method": "random", "parameters": {"p": spec}})
for name in ["a", "_a", "a.b", "a-b", "A9", "9a", "a b", "a/b", ""]:
    CORPUS.append({"method": "random", "parameters": {name: {"value": 1}}})
for spec in [{"values": [1, 2]}, {"min": 0, "max": 3}, {"value": 1},
             {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25},
             {"min": 0.0, "max": 1.0}, {"distribution": "normal"},
             {"values": [1, 2], "probabilities": [0.5, 0.5]}]:
    CORPUS.append({"method": "grid", "parameters": {"p": spec}})


@pytest.mark.parametrize("config", CORPUS, ids=lambda c: repr(c)[:80])
def test_verdict_agrees_with_wandb(config: dict) -> None:
    assert ours_accepts(config) == wandb_accepts(config)


# What changed in W&B's engine since 0.2.0 (wandb/sweeps HEAD, its current JSON schema and
# its SweepConfig's own checks): (config, W&B's verdict today). Ours must be the same.
M = {"name": "loss"}
TODAY = [
    ({"method": "bayes", "parameters": P, "metric": {**M, "impute_while_running": "latest"}}, True),
    ({"method": "bayes", "parameters": P, "metric": {**M, "impute_while_running": "best"}}, True),
    ({"method": "bayes", "parameters": P, "metric": {**M, "impute_while_running": "worst"}}, True),
    ({"method": "bayes", "parameters": P, "metric": {**M, "impute_while_running": "false"}}, True),
    ({"method": "bayes", "parameters": P, "metric": {**M, "impute_while_running": False}}, False),
    ({"method": "bayes", "parameters": P, "metric": {**M, "impute_while_running": "mean"}}, False),
    ({"method": "random", "parameters": P, "run_cap": 10}, True),
    ({"method": "random", "parameters": P, "run_cap": 10.0}, True),  # JSON schema: an integer
    ({"method": "random", "parameters": P, "run_cap": 0}, False),
    ({"method": "random", "parameters": P, "run_cap": 2.5}, False),
    ({"method": "random", "parameters": P, "run_cap": None}, False),
    ({"method": "random", "parameters": P, "metric": {**M, "target": None}}, False),
    ({"method": "random", "parameters": P, "metric": {"name": ""}}, True),
    ({"method": "random", "parameters": P, "metric": M,
      "early_terminate": {"type": "hyperband", "min_iter": 3, "strict": False}}, True),
    ({"method": "random", "parameters": P, "metric": M,
      "early_terminate": {"type": "hyperband", "min_iter": 3, "strict": "no"}}, False),
    ({"method": "random", "parameters": P, "metric": M,
      "early_terminate": {"type": "hyperband", "min_iter": 3.0}}, True),
    ({"method": "random", "parameters": P, "metric": M,
      "early_terminate": {"type": "hyperband", "max_iter": 27.0, "s": 2}}, True),
    ({"method": "random", "parameters": P, "metric": M,
      "early_terminate": {"type": "hyperband", "min_iter": 3, "max_iter": True}}, False),
    ({"method": "random", "parameters": {"p": {"distribution": None, "min": 0, "max": 1}}}, False),
    ({"method": "random", "parameters": {"p": {"distribution": [], "min": 0, "max": 1}}}, False),
    ({"method": "random"}, False),  # parameters: required unless a Launch scheduler says
    ({"method": "random", "parameters": P, "metric": M, "metrics": [M, {"name": "acc"}]}, False),
    ({"method": "random", "parameters": P, "metrics": [M]}, False),
    ({"method": "random", "parameters": P, "job": 3}, False),
    ({"method": "random", "parameters": P, "scheduler": {"engine": "optuna"}}, False),
    ({"method": "grid", "parameters": P, "controller": {"type": "local", "extra": 1}}, True),
]


@pytest.mark.parametrize("config,theirs", TODAY, ids=lambda c: repr(c)[:80])
def test_verdict_agrees_with_wandb_today(config: dict, theirs: bool) -> None:
    assert ours_accepts(config) is theirs


# W&B Launch's keys: valid for W&B today, refused here naming the key (a difference we
# document: a folder of agents has no Launch queue)
LAUNCH = [
    ({"method": "custom", "parameters": P, "scheduler": {"engine": "optuna", "source": "s.py"}},
     "method"),
    ({"method": "grid", "parameters": P, "scheduler": {"engine": "wandb"}}, "scheduler"),
    ({"method": "random", "parameters": P, "job": "entity/project/job:v0"}, "job"),
    ({"method": "random", "parameters": P, "image_uri": "repo/image:latest"}, "image_uri"),
    ({"method": "custom", "parameters": P, "metrics": [M, {"name": "acc", "goal": "maximize"}]},
     "method"),
]


@pytest.mark.parametrize("config,key", LAUNCH, ids=lambda c: repr(c)[:60])
def test_launch_keys_are_refused_naming_the_key(config: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(copy.deepcopy(config))
    paths = [p.path for p in err.value.problems]
    assert key in paths
    text = str(err.value)
    assert "Launch" in text or "not supported yet" in text


@pytest.mark.parametrize("method", ["grid", "random", "bayes"])
def test_several_objectives_without_custom_a_documented_difference(method: str) -> None:
    # W&B takes metrics only with method: custom (a Launch scheduler); we search for the
    # Pareto front with grid, random and bayes
    config = {"method": method, "parameters": P, "metrics": [M, {"name": "acc", "goal": "maximize"}]}
    assert ours_accepts(config)
    assert [m.name for m in validate(config).metrics] == ["loss", "acc"]


def test_integral_floats_become_ints() -> None:
    cfg = validate({"method": "random", "parameters": P, "run_cap": 1e6, "metric": M,
                    "early_terminate": {"type": "hyperband", "min_iter": 3.0, "eta": 3}})
    assert cfg.run_cap == 1_000_000 and isinstance(cfg.run_cap, int)
    assert cfg.hyperband.bands[:3] == (3, 9, 27)


def test_max_iter_with_s_wins_over_min_iter_as_in_wandb() -> None:
    cfg = validate({"method": "random", "parameters": P, "metric": M, "early_terminate": {
        "type": "hyperband", "min_iter": 2, "max_iter": 27, "s": 2, "eta": 3}})
    assert cfg.hyperband.bands == (3, 9)


# The documented differences: each is a deliberate choice (README, "Moving from W&B").
DIFFERENCES = [
    # base-e forms: W&B 0.2.0 rejects, we accept with a warning that gives the _values form
    ({"method": "random", "parameters": {"p": {"distribution": "log_uniform", "min": -5, "max": 0}}},
     True, False),
    # newer-engine keys that 0.2.0 does not know
    ({"method": "random", "parameters": P, "run_cap": 10}, True, False),
    ({"method": "random", "parameters": P, "metric": {"name": "a"},
      "early_terminate": {"type": "hyperband", "min_iter": 3, "strict": False}}, True, False),
    # W&B checks min < max only at the top level
    ({"method": "random", "parameters": {"m": {"parameters": {"p": {"min": 2.0, "max": 1.0}}}}},
     False, True),
    # bayes with no metric: W&B accepts the config and fails at the first suggestion
    ({"method": "bayes", "parameters": P}, False, True),
    # 'custom' needs W&B's server
    ({"method": "custom", "parameters": P}, False, True),
    # the string 'false' only, as in W&B's schema; 0.2.0 does not know the key at all
    ({"method": "bayes", "parameters": P,
      "metric": {"name": "a", "impute_while_running": "latest"}}, True, False),
    # beta with a = 0 cannot be drawn from
    ({"method": "random", "parameters": {"p": {"distribution": "beta", "a": 0}}}, False, True),
]


@pytest.mark.parametrize("config,ours,theirs", DIFFERENCES, ids=lambda c: repr(c)[:60])
def test_documented_differences_are_what_we_say(config, ours, theirs) -> None:
    assert ours_accepts(config) is ours
    assert wandb_accepts(config) is theirs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parameters(depth=0))
def test_generated_valid_spaces_are_accepted_by_both(params) -> None:
    config = {"method": "random", "parameters": params}
    assert ours_accepts(config) and wandb_accepts(config)


def wandb_grid(config: dict) -> list[dict]:
    runs: list = []
    while True:
        run = next_run(copy.deepcopy(config), runs)
        if run is None:
            return runs
        runs.append(run)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parameters(grid_only=True, depth=0, max_size=3))
def test_grid_enumeration_matches_wandb(params) -> None:
    config = {"method": "grid", "parameters": params}
    space = validate(config).space
    assume(grid.grid_size(space) <= 200)
    for p in params.values():  # W&B hashes 1 and 1.0 apart and repeats duplicates
        assume(not ("values" in p and len({canonical_key(v) for v in p["values"]}) != len(p["values"])))
    theirs = [{k: v["value"] for k, v in r.config.items()} for r in wandb_grid(config)]
    ours = grid.grid_points(space)
    assert [canonical_key(p) for p in ours] == [canonical_key(p) for p in theirs]


def test_nested_grid_is_complete_where_wandb_repeats() -> None:
    config = {"method": "grid", "parameters": {
        "model": {"parameters": {"layers": {"values": [1, 2]}, "act": {"values": ["a", "b"]}}},
        "lr": {"values": [0.1, 0.2]}}}
    space = validate(config).space
    runs, points = [], []
    while (s := grid.suggest(space, runs)) is not None:
        runs.append(Run(f"r{len(runs)}", s.params, grid_index=s.grid_index))
        points.append(space.nest(s.params))
    assert len(points) == 8 and len({canonical_key(p) for p in points}) == 8


CONTINUOUS_SPECS = [
    {"min": 0.0, "max": 3.0},
    {"distribution": "q_uniform", "min": 0, "max": 10, "q": 2},
    {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
    {"distribution": "q_log_uniform_values", "min": 1, "max": 1000, "q": 1},
    {"distribution": "inv_log_uniform_values", "min": 0.01, "max": 10},
    {"distribution": "log_uniform", "min": -5, "max": 1},
    {"distribution": "q_log_uniform", "min": 0, "max": 5, "q": 1},
    {"distribution": "inv_log_uniform", "min": 0, "max": 4},
    {"distribution": "normal", "mu": 2, "sigma": 3},
    {"distribution": "q_normal", "mu": 0, "sigma": 5, "q": 1},
    {"distribution": "log_normal", "mu": 0.5, "sigma": 0.7},
    {"distribution": "q_log_normal", "mu": 2, "sigma": 0.5, "q": 0.5},
    {"distribution": "beta", "a": 2, "b": 5},
    {"distribution": "q_beta", "a": 0.5, "b": 0.5, "q": 0.1},
    {"min": -3, "max": 7},
    {"values": ["a", "b", "c"]},
    {"values": ["a", "b", "c"], "probabilities": [0.1, 0.6, 0.3]},
]


@pytest.mark.parametrize("spec", CONTINUOUS_SPECS, ids=lambda s: s.get("distribution", repr(s)))
def test_random_samples_match_wandb(spec) -> None:
    n = 2000
    space = validate({"method": "random", "parameters": {"p": spec}}).space
    rng = np.random.default_rng(1)
    ours = [space.sample(rng)["p"] for _ in range(n)]
    # W&B's own sampler, from its engine (deprecated forms are built directly)
    random.seed(2)
    if spec.get("distribution", "").endswith("log_uniform") and "values" not in spec.get(
            "distribution", ""):
        from sweeps.params import HyperParameter
        hp = HyperParameter.__new__(HyperParameter)
        hp.name = "p"
        hp.type = {"log_uniform": HyperParameter.LOG_UNIFORM_V1,
                   "q_log_uniform": HyperParameter.Q_LOG_UNIFORM_V1,
                   "inv_log_uniform": HyperParameter.INV_LOG_UNIFORM_V1}[spec["distribution"]]
        hp.config = {"q": 1.0, **spec}
        theirs = [hp.sample() for _ in range(n)]
    else:
        hps = HyperParameterSet.from_config({"p": spec})
        theirs = [hps[0].sample() for _ in range(n)]
    theirs = [float(np.asarray(t)) if not isinstance(t, str) else t for t in theirs]
    if isinstance(ours[0], str):
        cats = sorted(set(ours) | set(theirs))
        table = [[ours.count(c) for c in cats], [theirs.count(c) for c in cats]]
        assert stats.chi2_contingency(table).pvalue > 0.001
    else:
        assert stats.ks_2samp(ours, theirs).pvalue > 0.001
        # same types: ints stay ints where W&B gives ints
        if isinstance(spec.get("q"), int) or "distribution" not in spec and isinstance(
                spec.get("min"), int):
            assert all(isinstance(v, int) for v in ours)
