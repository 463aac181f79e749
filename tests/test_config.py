"""Config validation: every problem reported with its key path, numbers read as written."""

from __future__ import annotations

import math

import pytest

from sweepcli.config import ConfigError, load_config, parse_yaml, validate

BASE = {"method": "random", "parameters": {"lr": {"min": 0.001, "max": 0.1}}}


def problems(config: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate(config)
    return [str(p) for p in info.value.problems]


def with_params(params: dict, **top) -> dict:
    return {"method": "random", "parameters": params, **top}


# (config, the key path the message must start with, a word the message must contain)
BAD_CONFIGS = [
    ({"parameters": BASE["parameters"]}, "method", "required"),
    ({"method": "grd", "parameters": BASE["parameters"]}, "method", "grid"),
    ({"method": "random"}, "parameters", "required"),
    (with_params({}), "parameters", "at least one"),
    (with_params({"lr": {"min": 1.0, "max": 0.5}}), "parameters.lr.min", "less than max"),
    (with_params({"lr": {"min": 0.1, "max": 0.1}}), "parameters.lr.min", "less than max"),
    (with_params({"lr": {"valuse": [1, 2]}}), "parameters.lr.valuse", "did you mean 'value"),
    (with_params({"lr": {"distribution": "unifrom", "min": 0, "max": 1}}),
     "parameters.lr.distribution", "did you mean 'uniform'"),
    (with_params({"lr": {"distribution": "uniform", "min": 0}}), "parameters.lr.max", "required"),
    (with_params({"lr": {"distribution": "int_uniform", "min": 0.5, "max": 3}}),
     "parameters.lr.min", "integer"),
    (with_params({"lr": {"distribution": "log_uniform_values", "min": 0, "max": 1}}),
     "parameters.lr.min", "> 0"),
    (with_params({"lr": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0}}),
     "parameters.lr.q", "> 0"),
    (with_params({"lr": {"distribution": "normal", "sigma": -1}}), "parameters.lr.sigma", ">= 0"),
    (with_params({"lr": {"values": []}}), "parameters.lr.values", "non-empty"),
    (with_params({"lr": {"values": [1, 2], "probabilities": [0.5]}}),
     "parameters.lr.probabilities", "one probability per value"),
    (with_params({"lr": {"values": [1, 2], "probabilities": [0.5, 0.6]}}),
     "parameters.lr.probabilities", "sum to 1"),
    (with_params({"lr": {"values": [1], "distribution": "categorical", "probabilities": [1]}}),
     "parameters.lr.probabilities", "not a setting of categorical"),
    (with_params({"lr": 0.1}), "parameters.lr", "must be a mapping"),
    (with_params({"1lr": {"value": 1}}), "parameters.1lr", "invalid parameter name"),
    (with_params({"lr": {"value": 1, "values": [1]}}), "parameters.lr.value", "not a setting"),
    (with_params({"model": {"parameters": {"lr": {"min": 1.0, "max": 0.1}}}}),
     "parameters.model.parameters.lr.min", "less than max"),
    (with_params({"model": {"parameters": {"layers": {"distribution": "bogus"}}}}),
     "parameters.model.parameters.layers.distribution", "unknown distribution"),
    (with_params({"model": {"parameters": {}}}), "parameters.model.parameters", "at least one"),
    (with_params({"model": {"parameters": {"x": {"value": 1}}, "extra": 1}}),
     "parameters.model.extra", "only 'parameters'"),
    (with_params({"model.lr": {"value": 1}, "model": {"parameters": {"lr": {"value": 2}}}}),
     "parameters.model.lr", "defined twice"),
    ({**BASE, "metric": {"goal": "minimize"}}, "metric.name", "required"),
    ({**BASE, "metric": {"name": "loss", "goal": "minimise"}}, "metric.goal", "maximize"),
    ({**BASE, "metric": {"name": "loss", "impute": "mean"}}, "metric.impute", "worst"),
    ({**BASE, "metric": {"name": "loss", "target": "low"}}, "metric.target", "number"),
    ({**BASE, "metric": {"name": "loss", "gaol": "minimize"}}, "metric.gaol", "did you mean 'goal'"),
    ({**BASE, "metrc": {"name": "loss"}}, "metrc", "did you mean 'metric'"),
    ({**BASE, "metric": {"name": "l"}, "early_terminate": {"type": "hyperband"}},
     "early_terminate", "min_iter"),
    ({**BASE, "metric": {"name": "l"}, "early_terminate": {"type": "hyperband", "min_iter": 0}},
     "early_terminate.min_iter", ">= 1"),
    ({**BASE, "metric": {"name": "l"}, "early_terminate": {"type": "hyperband", "min_iter": 1,
                                                           "eta": 1}},
     "early_terminate.eta", "> 1"),
    ({**BASE, "metric": {"name": "l"}, "early_terminate": {"type": "envelope", "min_iter": 1}},
     "early_terminate.type", "hyperband, asha, median"),
    ({**BASE, "metric": {"name": "l"}, "early_terminate": {"type": "asha", "eta": 1}},
     "early_terminate.eta", "> 1"),
    ({**BASE, "metric": {"name": "l"}, "early_terminate": {"type": "asha", "promote": "yes"}},
     "early_terminate.promote", "true or false"),
    ({**BASE, "metric": {"name": "l"}, "early_terminate": {"type": "asha", "min_iter": 9,
                                                           "max_iter": 9}},
     "early_terminate.min_iter", "below max_iter"),
    ({**BASE, "metric": {"name": "l"}, "early_terminate": {"type": "asha", "strict": True}},
     "early_terminate.strict", "unknown key"),
    ({**BASE, "metric": {"name": "l"}, "early_terminate": {"type": "median", "min_runs": 0}},
     "early_terminate.min_runs", ">= 1"),
    ({**BASE, "early_terminate": {"type": "asha"}}, "early_terminate", "metric"),
    ({**BASE, "metric": {"name": "l"}, "sweepcli": {"budget": {"epochs": 5}}},
     "sweepcli.budget", "steps"),
    ({**BASE, "metric": {"name": "l"}, "sweepcli": {"budget": {"steps": 0}}},
     "sweepcli.budget", "steps"),
    ({**BASE, "metric": {"name": "l"}, "sweepcli": {"stop_when": {"no_improvement": {}}}},
     "sweepcli.stop_when", "no_improvement"),
    ({**BASE, "early_terminate": {"type": "hyperband", "min_iter": 1}}, "early_terminate", "metric"),
    ({**BASE, "run_cap": 0}, "run_cap", "> 0"),
    ({**BASE, "command": "python train.py"}, "command", "list"),
    ({**BASE, "program": 3}, "program", "string"),
    ({"method": "grid", "parameters": {"lr": {"min": 0.1, "max": 1.0}}},
     "parameters.lr.distribution", "grid search cannot enumerate uniform"),
    ({"method": "grid", "parameters": {"m": {"parameters": {"lr": {"distribution": "normal"}}}}},
     "parameters.m.parameters.lr.distribution", "grid search"),
    ({"method": "bayes", "parameters": BASE["parameters"]}, "metric", "bayes needs a metric"),
    ({**BASE, "sweepcli": {"sed": 1}}, "sweepcli.sed", "did you mean 'seed'"),
]


@pytest.mark.parametrize("config,path,word", BAD_CONFIGS)
def test_bad_config_names_its_key_path(config: dict, path: str, word: str) -> None:
    found = problems(config)
    assert any(p.startswith(path + ":") and word in p for p in found), found


def test_every_problem_is_reported_at_once() -> None:
    found = problems({
        "method": "grd",
        "parameters": {"a": {"min": 3, "max": 1}, "b": {"distribution": "nope"}},
        "metric": {"name": "x", "goal": "up"},
    })
    paths = {p.split(":")[0] for p in found}
    assert {"method", "parameters.a.min", "parameters.b.distribution", "metric.goal"} <= paths


def test_defaults_are_filled() -> None:
    c = validate({
        "method": "bayes",
        "metric": {"name": "loss"},
        "parameters": {
            "n": {"distribution": "normal"},
            "q": {"distribution": "q_uniform", "min": 0, "max": 10},
            "b": {"distribution": "beta"},
        },
        "early_terminate": {"type": "hyperband", "min_iter": 3},
    })
    assert c.metric.goal == "minimize" and c.metric.impute == "worst"
    assert c.space["n"].spec == {"mu": 0.0, "sigma": 1.0}
    assert c.space["q"].spec["q"] == 1.0
    assert c.space["b"].spec == {"a": 1.0, "b": 1.0}
    assert c.hyperband.bands[:4] == (3, 9, 27, 81) and c.hyperband.eta == 3 and c.hyperband.strict


def test_inferred_distributions() -> None:
    c = validate(with_params({
        "a": {"values": [1, 2]},
        "b": {"values": [1, 2], "probabilities": [0.3, 0.7]},
        "c": {"value": "x"},
        "d": {"min": 1, "max": 5},
        "e": {"min": 1, "max": 5.0},
        "f": {"min": 0.1, "max": 1},
    }))
    dists = {p.name: p.distribution for p in c.space.params}
    assert dists == {
        "a": "categorical", "b": "categorical_w_probabilities", "c": "constant",
        "d": "int_uniform", "e": "uniform", "f": "uniform",
    }


def test_max_iter_bands() -> None:
    c = validate({**BASE, "metric": {"name": "l"},
                  "early_terminate": {"type": "hyperband", "max_iter": 27, "s": 2, "eta": 3}})
    assert c.hyperband.bands == (3, 9)


def test_deprecated_base_e_forms_warn_with_the_values_equivalent() -> None:
    c = validate(with_params({"lr": {"distribution": "log_uniform", "min": -9.2, "max": -2.3}}))
    assert c.space["lr"].distribution == "log_uniform"
    assert len(c.warnings) == 1 and "log_uniform_values" in c.warnings[0]
    assert "0.000101" in c.warnings[0]


def test_yaml_numbers_are_numbers() -> None:
    data = parse_yaml("a: 1e-5\nb: -2E3\nc: 3\nd: .5\ne: 1.0e-3\nf: '1e-5'\ng: 1_000\n")
    assert data == {"a": 1e-5, "b": -2000.0, "c": 3, "d": 0.5, "e": 1e-3, "f": "1e-5", "g": 1000}
    assert isinstance(data["a"], float) and isinstance(data["c"], int)
    assert math.isinf(parse_yaml("x: .inf")["x"])


def test_yaml_syntax_error_names_line_and_column(tmp_path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("method: grid\nparameters:\n  a: {values: [1, 2}\n")
    with pytest.raises(ConfigError) as info:
        load_config(f)
    assert "line 3" in str(info.value) and "column" in str(info.value)


def test_missing_file_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_w_and_b_top_level_keys_are_accepted() -> None:
    c = validate({**BASE, "program": "train.py", "command": ["${env}", "${program}", 3],
                  "name": "n", "description": "d", "project": "p", "entity": "e",
                  "kind": "sweep", "apiVersion": "v1", "controller": {"type": "local"},
                  "run_cap": 5, "metric": {"name": "m", "goal": "maximize", "target": 0.9}})
    assert c.command == ("${env}", "${program}", "3") and c.run_cap == 5
    assert c.metric.reached_target(0.95) and not c.metric.reached_target(0.5)


@pytest.mark.parametrize("method, spec, key", [
    ("random", {"distribution": "log_normal", "mu": 800, "sigma": 1}, "parameters.a"),
    ("random", {"distribution": "q_log_normal", "mu": 700, "sigma": 10, "q": 1}, "parameters.a"),
    ("random", {"distribution": "normal", "mu": 1.7e308, "sigma": 1e308}, "parameters.a"),
    ("bayes", {"distribution": "normal", "mu": 0, "sigma": 1e307}, "parameters.a"),
    ("random", {"distribution": "log_uniform", "min": 0, "max": 800}, "parameters.a"),
    ("random", {"distribution": "inv_log_uniform", "min": -800, "max": 0}, "parameters.a"),
    ("grid", {"distribution": "q_uniform", "min": 0, "max": 1, "q": 1e-300}, "parameters.a"),
    ("grid", {"distribution": "q_uniform", "min": 0, "max": 1e300, "q": 1}, "parameters.a"),
    ("grid", {"distribution": "q_uniform", "min": 0, "max": 1, "q": 1e-10}, "parameters.a.q"),
    ("random", {"distribution": "q_log_uniform_values", "min": 1e-300, "max": 1e300,
                "q": 1e-300}, "parameters.a"),
])
def test_a_distribution_whose_draws_overflow_is_refused_at_creation(method, spec, key) -> None:
    """Each of these was accepted once and crashed every agent (OverflowError, or inf that
    JSON refuses): refused with the key path instead."""
    with pytest.raises(ConfigError) as err:
        validate({"method": method, "metric": {"name": "loss"}, "parameters": {"a": spec}})
    assert any(p.path == key for p in err.value.problems), err.value.problems


@pytest.mark.parametrize("spec", [
    {"distribution": "log_normal", "mu": 5, "sigma": 3},
    {"distribution": "normal", "mu": 1e6, "sigma": 1e5},
    {"distribution": "q_uniform", "min": 0, "max": 1, "q": 1e-6},
    {"distribution": "q_log_uniform_values", "min": 1e-8, "max": 1, "q": 1e-9},
])
def test_wide_but_finite_distributions_are_still_accepted(spec) -> None:
    config = validate({"method": "grid" if spec["distribution"] == "q_uniform" else "random",
                       "parameters": {"a": spec}})
    import numpy as np

    p = config.space["a"]
    rng = np.random.default_rng(0)
    assert all(math.isfinite(p.sample(rng)) for _ in range(200))


def test_each_sweepcli_setting_is_declared_once_and_documented() -> None:
    """The validator, the readers and the config reference's table (docs/config.md) read
    one declaration."""
    from pathlib import Path

    from sweepcli.config.settings import DEFAULTS, SETTINGS

    readme = (Path(__file__).resolve().parent.parent / "docs" / "config.md").read_text()
    for setting in SETTINGS:
        assert f"`{setting.key}`" in readme or f"sweepcli.{setting.key}" in readme, setting.key
        with pytest.raises(ConfigError) as err:
            validate({"method": "random", "parameters": {"x": {"values": [1]}},
                      "sweepcli": {setting.key: "nonsense"}})
        assert f"sweepcli.{setting.key}: must be {setting.takes}" in str(err.value)
    config = validate({"method": "random", "parameters": {"x": {"values": [1]}}})
    assert {k: getattr(config.settings, k) for k in DEFAULTS} == DEFAULTS
    config = validate({"method": "random", "parameters": {"x": {"values": [1]}},
                       "sweepcli": {"max_retries": 0, "initial_random": 4}})
    assert config.settings.max_retries == 0 and config.settings.initial_random == 4
