"""Constraints: points that must never run (sweepcli.forbid, sweepcli.require) and limits
on outcomes (sweepcli.constraints), through the installed CLI with real agents."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

import sweepcli

PROGRAM = """
    import json, os, sweepcli
    run = sweepcli.init()
    c = run.config
    with open(os.path.join(os.environ["SWEEPCLI_RUN_DIR"], "..", "..", "seen.jsonl"), "a") as f:
        f.write(json.dumps(dict(c)) + "\\n")
    loss = c.get("x", 0) + c.get("layers", 0) * 0.01
    line = {"loss": loss, "acc": 1 - loss}
    if c.get("x", 0) != 7:  # x = 7 never logs its memory
        line["mem_gb"] = 50 - 10 * c.get("x", 0)
    sweepcli.log({"loss": loss + 1})
    sweepcli.log(line)
"""

SPACE = {"optimizer": {"values": ["sgd", "adam"]}, "momentum": {"values": [0, 0.9]},
         "layers": {"values": [1, 2, 4]}, "units": {"values": [512, 1024, 2048]}}
RULES = {"forbid": [{"optimizer": "sgd", "momentum": 0}], "require": ["layers * units <= 4096"]}


def _allowed(c: dict) -> bool:
    return not (c["optimizer"] == "sgd" and c["momentum"] == 0) and c["layers"] * c["units"] <= 4096


def _seen(env, sweep_id: str) -> list[dict]:
    path = env.root / sweep_id / "seen.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_grid_skips_forbidden_points_and_runs_the_rest_once(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": SPACE, "sweepcli": RULES})
    env.cli("agent", sweep_id)
    s = env.status(sweep_id)
    everything = [{"layers": la, "momentum": m, "optimizer": o, "units": u}
                  for la in (1, 2, 4) for m in (0, 0.9) for o in ("adam", "sgd")
                  for u in (512, 1024, 2048)]
    allowed = [c for c in everything if _allowed(c)]
    assert s["state"] == "finished" and len(s["runs"]) == len(allowed) == 24  # of 36
    got = sorted(json.dumps(r["config"], sort_keys=True) for r in s["runs"])
    assert got == sorted(json.dumps(c, sort_keys=True) for c in allowed)  # each once
    assert all(_allowed(c) for c in _seen(env, sweep_id))  # no program saw a forbidden one


@pytest.mark.parametrize("method", ["random", "bayes"])
def test_random_and_bayes_never_propose_a_forbidden_point(env, method: str) -> None:
    env.program(PROGRAM)
    space = {**SPACE, "x": {"min": 0.0, "max": 1.0}}
    rules = {**RULES, "require": [*RULES["require"], "x < 0.5 or optimizer == 'adam'"]}
    sweep_id = env.create({"program": "train.py", "method": method, "metric": {"name": "loss"},
                           "parameters": space, "run_cap": 14, "sweepcli": rules})
    env.cli("agent", sweep_id)
    seen = _seen(env, sweep_id)
    assert len(seen) == 14
    assert all(_allowed(c) and (c["x"] < 0.5 or c["optimizer"] == "adam") for c in seen), seen


def test_the_best_run_is_the_best_feasible_one(env) -> None:
    """loss = x: x = 1 is best but uses 40 GB > 35; x = 7 never logs mem_gb."""
    env.program(PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": [1, 2, 3, 7]}},
                           "sweepcli": {"constraints": [{"metric": "mem_gb", "max": 35},
                                                        {"metric": "acc", "min": -10}]}})
    env.cli("agent", sweep_id)
    s = env.status(sweep_id)
    by_x = {r["config"]["x"]: r for r in s["runs"]}
    assert by_x[1]["feasible"] is False and by_x[1]["broken"] == ["mem_gb 40 > max 35"]
    assert by_x[7]["feasible"] is False and by_x[7]["broken"] == ["mem_gb never logged"]
    assert by_x[2]["feasible"] is True and by_x[2]["broken"] == []
    assert s["best"]["run_id"] == by_x[2]["run_id"]  # not x = 1, the lowest loss
    text = env.cli("sweep", "--print", sweep_id).stdout
    assert "limits  2 feasible, 2 infeasible" in text
    assert "infeasible: mem_gb 40 > max 35" in text
    top = env.cli("sweep", "--print", sweep_id, "--top", "1").stdout
    assert [line.split()[1] for line in top.splitlines() if line.startswith("run ")] == [
        by_x[2]["run_id"]]
    api = sweepcli.Api(dir=str(env.root)).sweep(sweep_id)
    assert api.best_run().id == by_x[2]["run_id"]
    assert {r.id: r.feasible for r in api.runs}[by_x[1]["run_id"]] is False
    page = env.tmp / "r.html"
    env.cli("report", sweep_id, "--static", "--out", str(page))
    assert "no: mem_gb 40 &gt; max 35" in page.read_text()


def test_a_target_reached_by_an_infeasible_run_does_not_end_the_sweep(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "grid",
                           "metric": {"name": "loss", "target": 1.5},
                           "parameters": {"x": {"values": [1, 3, 2, 4]}},
                           "sweepcli": {"constraints": [{"metric": "mem_gb", "max": 35}]}})
    env.cli("agent", sweep_id)
    s = env.status(sweep_id)
    # x = 1 reaches the target but breaks the limit; x = 3 and x = 2 run; x = 2 (loss 2)
    # does not reach 1.5 either: every point runs
    assert len(s["runs"]) == 4 and s["best"]["config"] == {"x": 2}


def test_several_objectives_have_a_feasible_front(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "grid",
                           "metrics": [{"name": "loss", "goal": "minimize"},
                                       {"name": "mem_gb", "goal": "minimize"}],
                           "parameters": {"x": {"values": [1, 2, 3, 4]}},
                           "sweepcli": {"constraints": [{"metric": "mem_gb", "max": 25}]}})
    env.cli("agent", sweep_id)
    s = env.status(sweep_id)
    # loss up, memory down with x: all on the front, but x = 1, 2 break mem <= 25
    assert sorted(p["config"]["x"] for p in s["pareto"]) == [3, 4]


def test_enqueue_and_prior_runs_keep_the_rules(env) -> None:
    env.program(PROGRAM)
    config = {"program": "train.py", "method": "random", "metric": {"name": "loss"},
              "parameters": SPACE, "sweepcli": RULES}
    sweep_id = env.create(config)
    bad = env.cli("enqueue", sweep_id, "--set", "optimizer=sgd", "--set", "momentum=0",
                  "--set", "layers=1", "--set", "units=512", check=False)
    assert bad.returncode == 2
    assert "forbidden by sweepcli.forbid {momentum: 0, optimizer: 'sgd'}" in bad.stderr
    too_big = env.cli("enqueue", sweep_id, "--set", "optimizer=adam", "--set", "momentum=0",
                      "--set", "layers=4", "--set", "units=2048", check=False)
    assert too_big.returncode == 2 and "breaks sweepcli.require 'layers * units <= 4096'" in too_big.stderr
    # a point given in part: the rest is drawn among the allowed points
    for _ in range(5):
        env.cli("enqueue", sweep_id, "--set", "optimizer=sgd")
    points = [q["config"] for q in env.status(sweep_id)["queue"]]
    assert len(points) == 5 and all(_allowed(p) for p in points)
    # a free sweep's runs, some of which the rules forbid, as prior runs: those are skipped
    free = env.create({**config, "method": "grid", "sweepcli": {}})
    env.cli("agent", free)
    f = env.tmp / "ruled.yaml"
    f.write_text(yaml.safe_dump(config))
    proc = env.cli("sweep", str(f), "--prior", free)
    ruled = proc.stdout.strip()
    priors = [r["config"] for r in env.status(ruled)["runs"]]
    assert len(priors) == 24 and all(_allowed(c) for c in priors)
    assert "Skipped: " in proc.stderr and "forbidden by sweepcli.forbid" in proc.stderr


@pytest.mark.parametrize("extension, where, says", [
    ({"forbid": [{"optimiser": "sgd"}]}, "sweepcli.forbid[0].optimiser", "did you mean 'optimizer'"),
    ({"forbid": [{"optimizer": "rmsprop"}]}, "sweepcli.forbid[0].optimizer",
     "'rmsprop' is not a value optimizer takes (it takes 'sgd', 'adam')"),
    ({"forbid": {"optimizer": "sgd"}}, "sweepcli.forbid", "must be a list of combinations"),
    ({"require": ["layer * units <= 4096"]}, "sweepcli.require[0]",
     "'layer' is not a parameter; did you mean 'layers'?"),
    ({"require": ["__import__('os').system('x')"]}, "sweepcli.require[0]", "is not allowed"),
    ({"require": ["units.__class__ == 1"]}, "sweepcli.require[0]", "is not a parameter"),
    ({"require": ["layers *"]}, "sweepcli.require[0]", "cannot be read"),
    ({"require": ["[x for x in units]"]}, "sweepcli.require[0]", "is not allowed here"),
    ({"require": ["layers * units"]}, "sweepcli.require[0]", "is a value, not a condition"),
    ({"require": ["-layers"]}, "sweepcli.require[0]", "is a value, not a condition"),
    ({"constraints": [{"metric": "mem_gb"}]}, "sweepcli.constraints[0]", "gives no limit"),
    ({"constraints": [{"metric": "mem_gb", "max": "40GB"}]}, "sweepcli.constraints[0].max",
     "must be a finite number"),
    ({"constraints": [{"metric": "m", "min": 3, "max": 1}]}, "sweepcli.constraints[0]",
     "min 3 is above max 1"),
    ({"constraints": [{"max": 1}]}, "sweepcli.constraints[0].metric", "must name a metric"),
    ({"constraints": [{"metric": "m", "max": 1, "maximum": 2}]},
     "sweepcli.constraints[0].maximum", "unknown key"),
])
def test_bad_constraints_are_config_errors_with_key_paths(env, extension, where, says) -> None:
    f = env.tmp / "s.yaml"
    f.write_text(yaml.safe_dump({"program": "train.py", "method": "random",
                                 "metric": {"name": "loss"}, "parameters": SPACE,
                                 "sweepcli": extension}))
    proc = env.cli("sweep", str(f), check=False)
    assert proc.returncode == 2 and where in proc.stderr and says in proc.stderr, proc.stderr
    assert not env.root.exists() or not any(env.root.iterdir())


@pytest.mark.parametrize("method", ["grid", "random", "bayes"])
def test_rules_that_leave_no_point_are_refused_and_an_agent_says_so(env, method: str) -> None:
    """Before: the sweep was made; a grid agent said 'every grid point has run' and exited
    0, and a random or bayes agent died with a traceback."""
    from sweepcli.config import validate
    from sweepcli.store import Store

    env.program(PROGRAM)
    config = {"program": "train.py", "method": method, "metric": {"name": "loss"},
              "parameters": SPACE, "sweepcli": {"require": ["layers * units > 10000"]}}
    f = env.tmp / "s.yaml"
    f.write_text(yaml.safe_dump(config))
    proc = env.cli("sweep", str(f), check=False)
    assert proc.returncode == 2 and "leave no point to run" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not env.root.exists() or not any(env.root.iterdir())
    ok = env.create({**config, "sweepcli": RULES})
    proc = env.cli("sweep", "--update", ok, str(f), check=False)  # nor as a new config
    assert proc.returncode == 2 and "leave no point to run" in proc.stderr, proc.stderr
    # a sweep made without the check (as by a version before it): its agent stops, and says why
    folder = Store(env.root).create(validate(config))
    proc = env.cli("agent", folder.sweep_id, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "layers * units > 10000" in proc.stderr or "no grid point" in proc.stderr, proc.stderr
    assert _seen(env, folder.sweep_id) == []


def test_the_expression_language() -> None:
    from sweepcli.config.constraints import Expression

    names = {"a", "b", "opt", "m.lr"}
    rule = Expression.parse("a * b <= 10 and opt in ['x', 'y'] or m.lr > 1e-2", names)
    assert rule.names == ("a", "b", "opt", "m.lr")
    assert rule.holds({"a": 2, "b": 5, "opt": "x", "m.lr": 0.0})
    assert not rule.holds({"a": 3, "b": 5, "opt": "x", "m.lr": 0.0})
    assert rule.holds({"a": 3, "b": 5, "opt": "x", "m.lr": 0.1})
    assert Expression.parse("log(a) >= 0 if b > 0 else true", names).holds({"a": 1, "b": 1})
    assert not Expression.parse("a / b > 0", names).holds({"a": 1, "b": 0})  # cannot compute
    assert Expression.parse("a > 0", names).holds({"b": 1})  # a inactive: the rule holds
    assert not Expression.parse("a ** b > 0", names).holds({"a": 2, "b": 1000})  # refused
    assert Expression.parse("a == 1", names).holds({"a": 1.0})  # as grid values compare


@pytest.mark.parametrize("text", ["s == 'a' * 10**12", "[a] * 10**12 == [1]", "'%999999999d' % a == 'x'",
                                  "a == 1 or round(a, -10**9) == 0", "(2**64)**64 > a",
                                  "floor(1e308) * floor(1e308) > a", "s * a == 'x'", "-s == 1"])
def test_every_operation_of_the_language_is_bounded(text) -> None:
    """Rules of a few characters ended `sweepcli sweep` in a MemoryError, ran for minutes,
    or hung an agent inside the sweep lock: what cannot be computed small does not hold."""
    from sweepcli.config.constraints import Expression

    rule = Expression.parse(text, {"a", "s"})
    assert not rule.holds({"a": 2, "s": "abc"})


def test_a_rule_that_cannot_be_computed_small_is_refused_at_creation_without_a_traceback(env) -> None:
    env.program("import sweepcli\nsweepcli.log({'loss': 1})\n")
    config = {"program": "train.py", "method": "random", "metric": {"name": "loss"},
              "parameters": {"x": {"values": [1, 2, 3]}},
              "sweepcli": {"require": ["'a' * 10**12 == 'a'"]}}
    (env.tmp / "s.yaml").write_text(yaml.safe_dump(config))
    proc = env.cli("sweep", str(env.tmp / "s.yaml"), check=False, timeout=60)
    assert proc.returncode == 2 and "leave no point" in proc.stderr and "Traceback" not in proc.stderr
    config["sweepcli"]["require"] = ["x == 1 or round(x, -10**9) == 0"]  # passes creation
    sweep_id = env.create(config)
    proc = env.cli("agent", sweep_id, "--count", "2", timeout=60)
    assert all(r["config"]["x"] == 1 for r in env.status(sweep_id)["runs"])


def _constrained_sweep(n: int, rep: int = 0) -> list:
    """loss = x + y is least at the origin; runs are feasible only where g = x + 2y >= 1."""
    import dataclasses

    from sweepcli.config import validate
    from sweepcli.runs import Run, RunState
    from sweepcli.search import suggest

    config = validate({"method": "bayes", "metric": {"name": "loss"},
                       "parameters": {"x": {"min": 0.0, "max": 1.0}, "y": {"min": 0.0, "max": 1.0}},
                       "sweepcli": {"constraints": [{"metric": "g", "min": 1.0}]}})
    config = dataclasses.replace(config, salt=f"t{rep}")
    rng = np.random.default_rng(rep)
    runs = []
    for i in range(n):
        p = suggest(config, runs, rng).params
        r = Run(f"r{i:07d}", p, RunState.FINISHED, history=[p["x"] + p["y"]])
        r.last = {"g": p["x"] + 2 * p["y"]}
        runs.append(r)
    return runs


def test_bayes_models_the_probability_of_feasibility() -> None:
    """The feasible optimum is (0, 0.5), loss 0.5, on the constraint's edge; the best run
    below it breaks the limit. The model finds the edge and keeps to the feasible side."""
    runs = _constrained_sweep(24)
    feasible = [r for r in runs if r.last["g"] >= 1.0]
    assert min(r.history[0] for r in feasible) < 0.53
    assert sum(r.last["g"] >= 0.99 for r in runs[-10:]) >= 7  # its own choices: at the edge


def test_the_constrained_acquisitions_gradient_is_its_slope() -> None:
    from sweepcli.search.bayes.gp import Layout, SweepGP

    rng = np.random.default_rng(3)
    X = rng.random((12, 2))
    layout = Layout(n_cols=2, gradient_cols=np.array([0, 1]), discrete=[],
                    membership=np.eye(2), col_weight=np.ones(2))
    gp = SweepGP(layout=layout).fit(X, X.sum(axis=1))
    gc = SweepGP(layout=layout, prior_mean="mean").fit(X, X[:, 0] + 2 * X[:, 1])
    gp.constrain([(gc, 1.0, 2.5)], X[:, 0] + 2 * X[:, 1] >= 1.0)
    x, cols = np.array([0.3, 0.4]), np.array([0, 1])
    value, grad = gp.log_ei_grad(x, cols)
    assert value == pytest.approx(float(gp.log_ei(x[None, :])[0]))
    for j in range(2):
        step = np.zeros(2)
        step[j] = 1e-6
        slope = (gp.log_ei((x + step)[None, :])[0] - gp.log_ei((x - step)[None, :])[0]) / 2e-6
        assert grad[j] == pytest.approx(slope, rel=1e-3, abs=1e-6)
