"""Conditional parameters (``sweepcli.conditions``) and several objectives (``metrics:``),
through the CLI and real agents."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sweepcli

OPT = {"optimizer": {"values": ["sgd", "adam", "adamw"]},
       "momentum": {"values": [0.0, 0.9]},
       "beta1": {"values": [0.8, 0.9]},
       "lr": {"values": [0.1, 0.01]}}
CONDITIONS = {"momentum": {"optimizer": "sgd"}, "beta1": {"optimizer": ["adam", "adamw"]}}

#: logs a loss, and the arguments and config it received
PROGRAM = """
import json, os, sys
cfg = json.load(open(os.environ["SWEEPCLI_CONFIG_FILE"]))
json.dump(sys.argv[1:], open(os.path.join(os.environ["SWEEPCLI_RUN_DIR"], "argv.json"), "w"))
loss = cfg["lr"] + cfg.get("momentum", 0) + cfg.get("beta1", 0)
speed = 1.0 / (0.05 + loss)
with open(os.environ["SWEEPCLI_METRICS_FILE"], "a") as f:
    f.write(json.dumps({"loss": loss + 0.5, "speed": speed * 0.5}) + "\\n")
    f.write(json.dumps({"loss": loss, "speed": speed}) + "\\n")
"""


def received(env, sweep_id: str, run_id: str) -> tuple[list[str], dict]:
    run_dir = env.root / sweep_id / "runs" / run_id
    return (json.loads((run_dir / "argv.json").read_text()),
            json.loads((run_dir / "config.json").read_text()))


def check_active(params: dict) -> None:
    assert ("momentum" in params) == (params["optimizer"] == "sgd"), params
    assert ("beta1" in params) == (params["optimizer"] in ("adam", "adamw")), params


def test_grid_runs_each_effective_point_once_and_programs_never_see_inactive_ones(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": OPT, "sweepcli": {"conditions": CONDITIONS}})
    agents = [env.agent(sweep_id) for _ in range(3)]
    for a in agents:
        assert a.wait(timeout=120) == 0, a.stderr.read()
    runs = env.status(sweep_id)["runs"]
    points = [json.dumps(r["config"], sort_keys=True) for r in runs]
    # sgd: 2 momenta x 2 lr; adam, adamw: 2 beta1 x 2 lr each
    assert len(points) == 12 and len(set(points)) == 12
    for r in runs:
        check_active(r["config"])
        argv, config = received(env, sweep_id, r["run_id"])
        check_active(config)
        named = {a.split("=")[0].lstrip("-") for a in argv}
        assert named == set(config), (argv, config)


@pytest.mark.parametrize("method", ["random", "bayes"])
def test_random_and_bayes_draw_only_active_parameters(env, method) -> None:
    env.program(PROGRAM)
    params = {**OPT, "momentum": {"min": 0.0, "max": 0.99}, "beta1": {"min": 0.8, "max": 0.999},
              "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1}}
    sweep_id = env.create({"program": "train.py", "method": method, "metric": {"name": "loss"},
                           "parameters": params, "run_cap": 16,
                           "sweepcli": {"conditions": CONDITIONS, "seed": 4}})
    env.cli("agent", sweep_id)
    runs = env.status(sweep_id)["runs"]
    assert len(runs) == 16
    for r in runs:
        check_active(r["config"])
        check_active(received(env, sweep_id, r["run_id"])[1])
    assert {r["config"]["optimizer"] for r in runs} == {"sgd", "adam", "adamw"}


@pytest.mark.parametrize("conditions, where, says", [
    ({"momentum": {"beta1": 0.8}, "beta1": {"momentum": 0.9}}, "sweepcli.conditions.",
     "cycle"),
    ({"momentum": {"optimiser": "sgd"}}, "sweepcli.conditions.momentum.optimiser",
     "did you mean 'optimizer'"),
    ({"nesterov": {"optimizer": "sgd"}}, "sweepcli.conditions.nesterov", "unknown"),
    ({"momentum": {"optimizer": "rmsprop"}}, "sweepcli.conditions.momentum.optimizer",
     "not a value optimizer takes"),
    ({"momentum": {"lr": 0.5}}, "sweepcli.conditions.momentum.lr", "not a continuum"),
    ({"momentum": {"shape": [[1, 2]]}}, "sweepcli.conditions.momentum.shape",
     "numbers, strings or true/false"),
    # the likely slip said first: a nested group named as one, a quoted true, another case
    ({"model": {"dropout": {"model.residual": True}}}, "sweepcli.conditions.model",
     "model is a group of nested parameters, not one: name each by its dotted name"),
    ({"momentum": {"model.residual": "true"}}, "sweepcli.conditions.momentum.model.residual",
     "'true' is a string, and model.residual takes true/false: write true without quotes"),
    ({"momentum": {"optimizer": "SGD"}}, "sweepcli.conditions.momentum.optimizer",
     "did you mean 'sgd'? (it takes 'sgd', 'adam', 'adamw')"),
])
def test_bad_conditions_are_config_errors_with_key_paths(env, conditions, where, says) -> None:
    params = {**OPT, "lr": {"min": 0.0, "max": 1.0}, "shape": {"values": [[1, 2], [3]]},
              "model": {"parameters": {"residual": {"values": [True, False]},
                                       "dropout": {"values": [0.0, 0.1]}}}}
    f = env.tmp / "s.yaml"
    f.write_text(json.dumps({"program": "train.py", "method": "random", "parameters": params,
                             "sweepcli": {"conditions": conditions}}))
    proc = env.cli("sweep", str(f), check=False)
    assert proc.returncode == 2 and where in proc.stderr and says in proc.stderr, proc.stderr


def test_a_condition_on_a_conditional_and_nested_parameter(env) -> None:
    env.program(PROGRAM.replace('cfg["lr"]', 'cfg["opt"]["lr"]').replace(
        'cfg.get("momentum", 0)', '0').replace('cfg.get("beta1", 0)', '0'))
    sweep_id = env.create({
        "program": "train.py", "method": "grid", "metric": {"name": "loss"},
        "parameters": {"opt": {"parameters": {"name": {"values": ["sgd", "adam"]},
                                              "lr": {"values": [0.1]},
                                              "nesterov": {"values": [False, True]},
                                              "dampening": {"values": [0.0, 0.5]}}}},
        "sweepcli": {"conditions": {"opt.nesterov": {"opt.name": "sgd"},
                                    "opt.dampening": {"opt.nesterov": False}}}})
    env.cli("agent", sweep_id)
    configs = sorted(json.dumps(r["config"], sort_keys=True) for r in env.status(sweep_id)["runs"])
    # adam: one point; sgd + nesterov: one; sgd without: two dampenings
    assert len(configs) == 4
    for c in map(json.loads, configs):
        o = c["opt"]
        assert ("nesterov" in o) == (o["name"] == "sgd")
        assert ("dampening" in o) == (o.get("nesterov") is False)


def test_several_objectives_give_the_pareto_front(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "grid",
                           "metrics": [{"name": "loss", "goal": "minimize"},
                                       {"name": "speed", "goal": "maximize"}],
                           "parameters": {"lr": {"values": [0.1, 0.01, 0.3]},
                                          "optimizer": {"values": ["sgd", "adam"]},
                                          "momentum": {"values": [0.0, 0.9]}},
                           "sweepcli": {"conditions": {"momentum": {"optimizer": "sgd"}}}})
    env.cli("agent", sweep_id)
    s = env.status(sweep_id)
    assert s["best"] is None and [m["name"] for m in s["metrics"]] == ["loss", "speed"]
    values = {r["run_id"]: r["values"] for r in s["runs"]}
    assert all(v["loss"] is not None and v["speed"] is not None for v in values.values())

    def dominates(a: dict, b: dict) -> bool:
        return (a["loss"] <= b["loss"] and a["speed"] >= b["speed"]
                and (a["loss"] < b["loss"] or a["speed"] > b["speed"]))

    expected = {rid for rid, v in values.items()
                if not any(dominates(w, v) for other, w in values.items() if other != rid)}
    assert {p["run_id"] for p in s["pareto"]} == expected and expected
    assert all(p["values"] == values[p["run_id"]] for p in s["pareto"])
    # the best of each metric over the run's lines: speed is maximised, loss minimised
    sweep = sweepcli.Api(env.root).sweep(sweep_id)
    assert {r.id for r in sweep.pareto} == expected and sweep.best_run() is None
    text = env.cli("sweep", "--print", sweep_id).stdout
    assert f"pareto  {len(expected)} run(s) on the front" in text
    assert text.count("front   ") == len(expected)
    out = env.tmp / "r.html"
    env.cli("report", sweep_id, "--out", str(out))
    page = out.read_text()
    start = page.index("const SWEEP = ") + len("const SWEEP = ")
    figs = json.loads(page[start:page.index(";</script>", start)])["figs"]
    front = next(t for t in figs["pareto"]["data"] if t["name"] == "Pareto front")
    assert len(front["x"]) == len(expected)


@pytest.mark.parametrize("metrics, says", [
    ([{"name": "loss"}], "at least two"),
    ([{"name": "loss", "target": 0.1}, {"name": "speed"}], "metrics[0].target"),
    ([{"name": "loss"}, {"name": "loss", "goal": "maximize"}], "named twice"),
])
def test_bad_metrics_are_config_errors(env, metrics, says) -> None:
    f = env.tmp / "s.yaml"
    f.write_text(json.dumps({"program": "train.py", "method": "bayes", "metrics": metrics,
                             "parameters": {"x": {"min": 0.0, "max": 1.0}}}))
    proc = env.cli("sweep", str(f), check=False)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr


def test_bayes_with_several_objectives_spreads_along_the_front(env) -> None:
    env.program("""
import json, os
cfg = json.load(open(os.environ["SWEEPCLI_CONFIG_FILE"]))
x, y = cfg["x"], cfg["y"]
g = 1 + 9 * y
with open(os.environ["SWEEPCLI_METRICS_FILE"], "a") as f:
    f.write(json.dumps({"f1": x, "f2": g * (1 - (x / g) ** 0.5)}) + "\\n")
""")
    sweep_id = env.create({"program": "train.py", "method": "bayes", "run_cap": 24,
                           "metrics": [{"name": "f1"}, {"name": "f2"}],
                           "parameters": {"x": {"min": 0.0, "max": 1.0},
                                          "y": {"min": 0.0, "max": 1.0}},
                           "sweepcli": {"seed": 1}})
    env.cli("agent", sweep_id)
    s = env.status(sweep_id)
    front = s["pareto"]
    assert len(front) >= 5  # not one point: the front, spread
    f1s = sorted(p["values"]["f1"] for p in front)
    assert f1s[-1] - f1s[0] > 0.3


def test_update_cannot_change_the_objectives_but_can_the_conditions(env) -> None:
    env.program(PROGRAM)
    base = {"program": "train.py", "method": "random", "run_cap": 4,
            "metrics": [{"name": "loss"}, {"name": "speed", "goal": "maximize"}],
            "parameters": {"lr": {"values": [0.1, 0.01]}, "optimizer": {"values": ["sgd", "adam"]},
                           "momentum": {"values": [0.0, 0.9]}}}
    sweep_id = env.create(base)
    f = env.tmp / "new.yaml"
    f.write_text(json.dumps({**base, "metrics": [{"name": "loss"}, {"name": "speed"}]}))
    proc = env.cli("sweep", "--update", sweep_id, str(f), check=False)
    assert proc.returncode == 2 and "metrics:" in proc.stderr and "refused" in proc.stderr
    f.write_text(json.dumps({**base, "sweepcli": {"conditions": {"momentum": {"optimizer": "sgd"}}}}))
    env.cli("sweep", "--update", sweep_id, str(f))
    env.cli("agent", sweep_id)
    for r in env.status(sweep_id)["runs"]:
        assert ("momentum" in r["config"]) == (r["config"]["optimizer"] == "sgd")


def test_bayes_with_parents_of_every_kind_suggests_exactly_the_active_parameters() -> None:
    # parents: a two-valued categorical (one column), an int_uniform, numbers (an ordinal
    # axis) and strings (one-hot); a condition with two parents
    import numpy as np

    from sweepcli.config import validate
    from sweepcli.runs import Run, RunState
    from sweepcli.search import suggest

    config = validate({"method": "bayes", "metric": {"name": "y"}, "parameters": {
        "use": {"values": [True, False]}, "n": {"min": 1, "max": 4},
        "k": {"values": [8, 16, 32]}, "cat": {"values": ["x", "y", "z"]},
        **{v: {"min": 0.0, "max": 1.0} for v in "abcd"}},
        "sweepcli": {"seed": 1, "conditions": {"a": {"use": True}, "b": {"n": [1, 2]},
                                               "c": {"k": [16, 32]},
                                               "d": {"cat": "x", "use": False}}}})
    rng = np.random.default_rng(0)
    runs: list[Run] = []
    for i in range(16):  # past the initial design: the model chooses the last six
        s = suggest(config, runs, rng)
        assert set(s.params) == config.space.active_names(s.params), s.params
        r = Run(f"r{i:07d}", s.params, RunState.FINISHED)
        r.history.append(sum(v for k, v in s.params.items() if k in "abcd"))
        runs.append(r)


@given(st.data())
@settings(max_examples=150, deadline=None)
def test_the_next_canonical_point_is_found_as_a_walk_would_find_it(data) -> None:
    """Skipping whole blocks of a conditional grid finds exactly the points a walk over
    every index would (conditions on slower and on faster parameters, chained)."""
    from sweepcli.config import validate
    from sweepcli.search.grid import grid_size, is_canonical, next_canonical

    names = ["a", "b", "c", "d"]
    params = {n: {"values": list(range(data.draw(st.integers(1, 3))))} for n in names}
    conditions = {}
    for n in names:
        parents = [p for p in names if p != n]
        if data.draw(st.booleans()):
            parent = data.draw(st.sampled_from(parents))
            if n not in conditions.get(parent, {}) and not any(
                    n in c for c in conditions.values() if parent in c):
                allowed = data.draw(st.lists(st.sampled_from(params[parent]["values"]),
                                             min_size=1, unique=True))
                conditions[n] = {parent: allowed}
    try:
        config = validate({"method": "grid", "parameters": params,
                           "sweepcli": {"conditions": conditions}})
    except sweepcli.config.ConfigError:
        return  # (a cycle): refused, nothing to walk
    space = config.space
    walk = [i for i in range(grid_size(space)) if is_canonical(space, i)]
    found, index = [], next_canonical(space, 0)
    while index is not None:
        found.append(index)
        index = next_canonical(space, index + 1)
    assert found == walk


def test_a_conditional_grid_of_millions_of_points_claims_at_once(env) -> None:
    """A 3,000,000-value axis active under one of two parents: the second claim once walked
    3 million inactive points under the lock (45 s), and so did every --print."""
    env.program(PROGRAM.replace('cfg["lr"]', '0.1'))
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "run_cap": 3, "parameters": {
                               "a": {"values": ["sgd", "adam"]},
                               "z": {"min": 0, "max": 2_999_999}},
                           "sweepcli": {"conditions": {"z": {"a": "adam"}}}})
    env.cli("agent", sweep_id, timeout=30)
    s = json.loads(env.cli("sweep", "--print", sweep_id, "--json", timeout=30).stdout)
    assert [r["config"] for r in s["runs"]] == [{"a": "sgd"}, {"a": "adam", "z": 0},
                                                {"a": "adam", "z": 1}]
