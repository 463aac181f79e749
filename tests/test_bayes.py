"""Bayes: the encoding, imputation, pending points, no repeats; an end-to-end sweep."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sweepcli.config import canonical_key, validate
from sweepcli.runs import Run, RunState
from sweepcli.search import suggest
from sweepcli.search.bayes import Encoding, run_values

pytest.importorskip("skopt")

MIXED = {
    "method": "bayes", "metric": {"name": "loss"},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
        "bs": {"values": [16, 32, 64]},
        "q": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 2},
        "n": {"min": 1, "max": 6},
        "c": {"value": "fixed"},
        "model": {"parameters": {"drop": {"min": 0.0, "max": 0.5},
                                 "act": {"values": ["relu", "tanh"]}}},
    },
}


def loss(p: dict) -> float:
    return (np.log10(p["lr"]) + 3) ** 2 + (p["model.drop"] - 0.2) ** 2 + 0.1 * p["n"]


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000))
def test_encoding_round_trips_nested_q_and_categoricals(seed) -> None:
    config = validate(MIXED)
    enc = Encoding(config)
    assert [p.name for p in enc.params] == ["bs", "lr", "model.act", "model.drop", "n", "q"]
    rng = np.random.default_rng(seed)
    params = config.space.sample(rng)
    x = enc.encode(params)
    back = enc.decode(x, rng)
    assert back["c"] == "fixed" and back["bs"] == params["bs"] and back["n"] == params["n"]
    assert back["model.act"] == params["model.act"]
    assert back["lr"] == pytest.approx(params["lr"], rel=1e-9)
    assert back["q"] % 2 == 0 and isinstance(back["q"], int)  # q-rounded, int q keeps ints


def test_imputation_of_failed_and_crashed_runs() -> None:
    config = validate(MIXED)
    p = config.space.sample(np.random.default_rng(0))
    runs = [Run("a", p, RunState.FINISHED, [3.0, 1.0]), Run("b", p, RunState.FINISHED, [2.0]),
            Run("c", p, RunState.FAILED, []), Run("d", p, RunState.CRASHED, [0.5]),
            Run("e", p, RunState.RUNNING, [9.0]), Run("f", p, RunState.PREEMPTED, [])]
    done, ys, pending = run_values(config, runs)
    assert dict(zip([r.run_id for r in done], ys)) == {"a": 1.0, "b": 2.0, "c": 2.0, "d": 2.0}
    assert [r.run_id for r in pending] == ["e"]
    best = validate({**MIXED, "metric": {"name": "loss", "impute": "best"}})
    assert dict(zip([r.run_id for r in run_values(best, runs)[0]], run_values(best, runs)[1]))["c"] == 1.0
    latest = validate({**MIXED, "metric": {"name": "loss", "impute": "latest"}})
    done, ys, _ = run_values(latest, runs)
    assert dict(zip([r.run_id for r in done], ys))["d"] == 0.5
    maximize = validate({**MIXED, "metric": {"name": "loss", "goal": "maximize"}})
    done, ys, _ = run_values(maximize, runs[:2])
    assert ys == [-3.0, -2.0]


def _history(config, n, seed=0):
    rng = np.random.default_rng(seed)
    runs = []
    for i in range(n):
        p = config.space.sample(rng)
        runs.append(Run(f"r{i:07d}", p, RunState.FINISHED, [loss(p)]))
    return runs


def test_a_pending_point_is_never_suggested_again() -> None:
    config = validate(MIXED)
    runs = _history(config, 15)
    rng = np.random.default_rng(1)
    seen = {canonical_key(r.params) for r in runs}
    for i in range(4):  # agents claiming one after the other: earlier claims are pending
        s = suggest(config, runs, rng)
        key = canonical_key(s.params)
        assert key not in seen
        seen.add(key)
        runs.append(Run(f"p{i}", s.params, RunState.RUNNING))


def test_a_discrete_space_does_not_repeat_until_exhausted() -> None:
    config = validate({"method": "bayes", "metric": {"name": "loss"},
                       "parameters": {"a": {"values": [1, 2, 3]}, "b": {"min": 0, "max": 2}}})
    rng = np.random.default_rng(0)
    runs: list[Run] = []
    for i in range(9):
        s = suggest(config, runs, rng)
        runs.append(Run(f"r{i}", s.params, RunState.FINISHED, [s.params["a"] * s.params["b"]]))
    assert len({canonical_key(r.params) for r in runs}) == 9
    suggest(config, runs, rng)  # exhausted: a repeat is allowed, never an error


def test_runs_without_values_do_not_break_the_model() -> None:
    config = validate(MIXED)
    runs = _history(config, 12)
    for r in runs[:6]:
        r.history = []
        r.state = RunState.FAILED
    runs[6].history = []  # finished without logging the metric
    s = suggest(config, runs, np.random.default_rng(0))
    assert set(s.params) == set(config.space.names)


def test_model_beats_its_random_start_on_a_smooth_objective() -> None:
    config = validate({"method": "bayes", "metric": {"name": "y"}, "sweepcli": {"seed": 3},
                       "parameters": {"x": {"min": -5.0, "max": 5.0}, "z": {"min": -5.0, "max": 5.0}}})
    rng = np.random.default_rng(3)
    runs: list[Run] = []
    for i in range(20):
        s = suggest(config, runs, rng)
        y = (s.params["x"] - 1.3) ** 2 + (s.params["z"] + 0.7) ** 2
        runs.append(Run(f"r{i}", s.params, RunState.FINISHED, [y]))
    first = min(r.history[0] for r in runs[:10])
    later = min(r.history[0] for r in runs[10:])
    assert later < first and later < 0.05


def test_end_to_end_two_agents_improve_on_the_random_start(env) -> None:
    env.program("""
        import json, os
        cfg = json.load(open(os.environ["SWEEPCLI_CONFIG_FILE"]))
        y = (cfg["x"] - 1.3) ** 2 + (cfg["opt"]["z"] + 0.7) ** 2
        open(os.environ["SWEEPCLI_METRICS_FILE"], "a").write(json.dumps({"y": y}) + "\\n")
    """)
    sweep_id = env.create({"program": "train.py", "method": "bayes", "metric": {"name": "y"},
                           "run_cap": 20, "sweepcli": {"initial_random": 8},
                           "parameters": {"x": {"min": -5.0, "max": 5.0},
                                          "opt": {"parameters": {"z": {"min": -5.0, "max": 5.0}}}}})
    agents = [env.agent(sweep_id) for _ in range(2)]
    for a in agents:
        assert a.wait(timeout=240) == 0, a.stderr.read()
    runs = env.status(sweep_id)["runs"]
    assert len(runs) == 20 and all(r["state"] == "finished" for r in runs)
    keys = {canonical_key(r["config"]) for r in runs}
    assert len(keys) == 20  # no duplicate points across the two agents
    first = min(r["value"] for r in runs[:8])
    later = min(r["value"] for r in runs[8:])
    assert later < first


def test_numeric_values_are_ranked_and_others_stay_categories() -> None:
    config = validate({"method": "bayes", "metric": {"name": "loss"},
                       "parameters": {"bs": {"values": [64, 16, 256, 32]},
                                      "act": {"values": ["relu", "tanh", "gelu"]},
                                      "flag": {"values": [True, False, True]}}})
    enc = Encoding(config)
    kinds = {d.name: type(d).__name__ for d in enc.dimensions}
    assert kinds == {"act": "Categorical", "bs": "Integer", "flag": "Categorical"}
    rng = np.random.default_rng(0)
    for rank, bs in enumerate([16, 32, 64, 256]):
        x = enc.encode({"bs": bs, "act": "tanh", "flag": False})
        assert x is not None and x[[p.name for p in enc.params].index("bs")] == rank
        assert enc.decode(x, rng)["bs"] == bs


def _loss_function(X, z, layout):
    """The MAP objective that fit_hyperparameters minimises, caught on its way to scipy."""
    from sweepcli.search.bayes import gp

    caught = {}
    real = gp.minimize

    def spy(fun, x0, **kw):
        caught["f"] = fun
        return real(fun, x0, **kw)

    gp.minimize = spy
    try:
        gp.fit_hyperparameters(X, z, layout)
    finally:
        gp.minimize = real
    return caught["f"]


def test_model_gradients_match_finite_differences() -> None:
    from scipy.optimize import approx_fprime
    from skopt.space import Categorical, Integer, Real, Space

    from sweepcli.search.bayes.gp import Layout, SweepGP

    space = Space([Real(0, 1), Integer(1, 6, transform="normalize"),
                   Categorical(list("abc")), Real(0, 1)])
    layout = Layout.from_space(space)
    rng = np.random.default_rng(0)
    X = np.array(space.transform(space.rvs(25, random_state=1)))
    z = rng.normal(size=25)
    f = _loss_function(X, z, layout)
    theta = rng.normal(size=layout.membership.shape[1] + 2) * 0.5
    numeric = approx_fprime(theta, lambda t: f(t)[0], 1e-6)
    assert np.allclose(f(theta)[1], numeric, rtol=1e-4, atol=1e-3)

    model = SweepGP(layout=layout).fit(X, z)
    x = np.array(space.transform(space.rvs(1, random_state=5)))[0]
    cols = layout.gradient_cols

    def log_ei(c):
        y = x.copy()
        y[cols] = c
        return model.log_ei(y[None, :])[0]

    value, grad = model.log_ei_grad(x, cols)
    assert value == pytest.approx(log_ei(x[cols]), rel=1e-9)
    assert np.allclose(grad, approx_fprime(x[cols], log_ei, 1e-7), rtol=1e-4, atol=1e-5)


def test_log_expected_improvement_is_accurate_far_into_the_tail() -> None:
    from scipy.stats import norm

    from sweepcli.search.bayes.gp import _log_h, _log_h_and_grad

    u = np.array([-30.0, -12.0, -3.0, -1.0, 0.0, 2.0])
    exact = np.log(u * norm.cdf(u) + norm.pdf(u)).astype(float)
    exact[:2] = [math.log(_ei_mp(v)) for v in u[:2]]  # float64 cancels there: 60 digits
    assert np.allclose(_log_h(u), exact, rtol=1e-9)
    assert np.all(np.diff(_log_h(np.linspace(-1e5, 10, 1000))) > 0)  # increasing, finite
    for v in (-40.0, -2.0, 0.5):
        h = 1e-6
        numeric = (_log_h(np.array([v + h]))[0] - _log_h(np.array([v - h]))[0]) / (2 * h)
        assert _log_h_and_grad(v)[1] == pytest.approx(numeric, rel=1e-5)


def _ei_mp(u: float) -> float:
    """u * Phi(u) + phi(u) for u < 0, in 60-digit decimal arithmetic."""
    from decimal import Decimal, getcontext

    getcontext().prec = 60
    x = Decimal(-u)  # > 0; Phi(u) = erfc(x / sqrt 2) / 2, by the continued fraction
    phi = (-(x * x) / 2).exp() / (2 * Decimal(math.pi)).sqrt()
    frac = Decimal(0)
    for k in range(400, 0, -1):  # Mills ratio R(x) = 1 / (x + 1 / (x + 2 / (x + 3 / ...)))
        frac = Decimal(k) / (x + frac)
    mills = 1 / (x + frac)
    return float(phi * (1 - x * mills))


def test_a_diverged_run_is_clipped_so_the_others_keep_their_shape() -> None:
    from skopt.space import Real, Space

    from sweepcli.search.bayes.gp import Layout, SweepGP

    space = Space([Real(0, 1), Real(0, 1)])
    rng = np.random.default_rng(0)
    X = rng.random((30, 2))
    y = (X[:, 0] - 0.3) ** 2 + (X[:, 1] - 0.6) ** 2
    y[7] = 1e6  # diverged
    model = SweepGP(layout=Layout.from_space(space)).fit(X, y)
    q1, median, q3 = np.percentile(y, [25, 50, 75])
    assert model.predict(X[7:8])[0] <= median + 2 * (q3 - q1) + 1e-6
    rest = np.delete(np.arange(30), 7)
    assert np.corrcoef(model.predict(X[rest]), y[rest])[0, 1] > 0.95  # the bowl is still a bowl
    x = model.propose(np.random.default_rng(1))
    assert abs(x[0] - 0.3) < 0.25 and abs(x[1] - 0.6) < 0.25  # and the search goes to it


def test_a_seed_makes_the_sequence_reproducible() -> None:
    config = validate({**MIXED, "sweepcli": {"seed": 7}})

    def sequence() -> list[str]:
        runs: list[Run] = []
        for i in range(13):  # 10 from the design, 3 from the model
            s = suggest(config, runs, np.random.default_rng([7, len(runs)]))  # as the agent seeds
            runs.append(Run(f"r{i}", s.params, RunState.FINISHED, [loss(s.params)]))
        return [canonical_key(r.params) for r in runs]

    first = sequence()
    assert sequence() == first and len(set(first)) == 13


def _runs_for_impute() -> list[Run]:
    return [Run("a0000000", {"x": 0.1}, RunState.FINISHED, [3.0, 2.0]),
            Run("b0000000", {"x": 0.5}, RunState.FINISHED, [5.0]),
            Run("c0000000", {"x": 0.9}, RunState.RUNNING, [9.0, 4.0]),
            Run("d0000000", {"x": 0.7}, RunState.RUNNING, [])]


@pytest.mark.parametrize("how,value", [("latest", 4.0), ("best", 4.0), ("worst", 5.0)])
def test_impute_while_running_values_running_runs(how, value) -> None:
    """W&B's metric.impute_while_running: a running run that logged values is told to the
    model (its latest, its best, or the worst ended value) instead of as a pending point;
    one that logged nothing yet stays pending."""
    cfg = validate({"method": "bayes", "metric": {"name": "loss", "impute_while_running": how},
                    "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    done, ys, pending = run_values(cfg, _runs_for_impute())
    assert dict(zip((r.run_id for r in done), ys))["c0000000"] == value
    assert [r.run_id for r in pending] == ["d0000000"]


def test_impute_while_running_false_keeps_running_runs_pending() -> None:
    cfg = validate({"method": "bayes", "metric": {"name": "loss"},
                    "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    done, _, pending = run_values(cfg, _runs_for_impute())
    assert {r.run_id for r in pending} == {"c0000000", "d0000000"}
    assert {r.run_id for r in done} == {"a0000000", "b0000000"}


def test_latest_while_running_follows_the_goal() -> None:
    cfg = validate({"method": "bayes", "metric": {"name": "acc", "goal": "maximize",
                                                  "impute_while_running": "best"},
                    "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    done, ys, _ = run_values(cfg, [Run("c0000000", {"x": 0.5}, RunState.RUNNING, [0.2, 0.9, 0.4])])
    assert ys == [-0.9]  # a loss: the best accuracy negated


def test_runs_outside_an_updated_space_are_not_fitted() -> None:
    """After --update narrows the space, earlier runs outside it are left out of the model
    (encoding them would clamp them onto its edge)."""
    from dataclasses import replace

    cfg = replace(validate({"method": "bayes", "metric": {"name": "loss"}, "sweepcli": {"seed": 1},
                            "parameters": {"x": {"min": 0.0, "max": 1.0}}}), revision=1)
    inside = [Run(f"i{i:07d}", {"x": i / 12}, RunState.FINISHED, [abs(i / 12 - 0.3)])
              for i in range(12)]
    outside = [Run(f"o{i:07d}", {"x": 5.0 + i}, RunState.FINISHED, [-100.0]) for i in range(12)]
    alone = suggest(cfg, inside, np.random.default_rng(0)).params
    assert suggest(cfg, inside + outside, np.random.default_rng(0)).params == alone
    # the same runs as if claimed under this config: fitted (clamped to x = 1), which moves
    # the suggestion; so the comparison above can fail
    same_rev = [replace(r, revision=1) for r in outside]
    assert suggest(cfg, inside + same_rev, np.random.default_rng(0)).params != alone


def test_a_pending_run_is_believed_so_expected_improvement_leaves_its_spot() -> None:
    """Kriging believer: the model is fitted to the ended runs, then told that a run is
    being evaluated where it expects the most; expected improvement there collapses (and
    the hyperparameters stay those of the real data), so another agent goes elsewhere."""
    from skopt.space import Real, Space

    from sweepcli.search.bayes.gp import Layout, SweepGP

    rng = np.random.default_rng(0)
    X = rng.random((10, 2))
    y = ((X - 0.3) ** 2).sum(axis=1)
    gp = SweepGP(layout=Layout.from_space(Space([Real(0, 1), Real(0, 1)]))).fit(X, y)
    spot = gp.propose(np.random.default_rng(1))[None, :]
    before, scales = float(gp.log_ei(spot)[0]), gp.ils_.copy()
    gp.believe(spot)
    assert float(gp.log_ei(spot)[0]) < before - 5  # e^5: 150 times less improvement there
    assert (gp.ils_ == scales).all() and len(gp.X_) == 11
    elsewhere = gp.propose(np.random.default_rng(1))
    assert np.abs(elsewhere - spot[0]).max() > 1e-3


@pytest.mark.parametrize("seed", range(4))
def test_expected_improvement_never_asks_for_a_point_already_run(seed) -> None:
    """A search that converged in a corner (the best runs there, values a little noisy)
    had its expected improvement peak on the incumbent itself: on LCBench 189862 a quarter
    to 40% of a sweep's claims ran a configuration already run. The best new point is
    taken instead, near the incumbent, not on it."""
    from skopt.space import Real, Space

    from sweepcli.search.bayes.gp import Layout, SweepGP

    rng = np.random.default_rng(seed)
    X = rng.random((16, 2))
    X[:4] = [[0.0, 0.0], [0.0, 0.002], [0.002, 0.0], [0.001, 0.001]]
    y = X[:, 0] + X[:, 1] + 0.02 * rng.standard_normal(16)
    gp = SweepGP(layout=Layout.from_space(Space([Real(0, 1), Real(0, 1)]))).fit(X, y)
    x = gp.propose(np.random.default_rng(1))
    assert not gp.near_known(x[None, :])[0]
    assert np.min(((X - x) ** 2).sum(axis=1)) > 1e-6
    assert np.abs(x).max() < 0.2  # still where the model expects the best


def test_the_model_expects_the_worst_where_it_has_seen_nothing() -> None:
    """Far from every run the model's mean returns to its prior: the worst value seen, for
    one agent as for many (a batch does not pour into corners nothing has been seen near on
    the strength of an average guess, and one agent refines what it knows is good), not the
    values' mean, which ``prior_mean="mean"`` keeps for comparison."""
    from skopt.space import Real, Space

    from sweepcli.search.bayes.gp import Layout, SweepGP

    X = np.linspace(0.0, 0.3, 8)[:, None]
    y = (X[:, 0] - 0.1) ** 2
    layout = Layout.from_space(Space([Real(0, 1)]))
    far = np.array([[1.0]])
    model = SweepGP(layout=layout).fit(X, y)  # as bayes builds it
    average = SweepGP(layout=layout, prior_mean="mean").fit(X, y)
    assert abs(float(model.predict(far)[0]) - y.max()) < 0.2 * (y.max() - y.min())
    assert abs(float(average.predict(far)[0]) - y.mean()) < 0.2 * (y.max() - y.min())


def test_with_agents_at_once_one_run_in_flight_is_at_the_models_best_guess() -> None:
    """Exploitation: the minimum of the model's mean is run, unless a run still going is
    already there; then the agent takes expected improvement's point."""
    from skopt.space import Real, Space

    from sweepcli.search.bayes.gp import Layout, SweepGP

    rng = np.random.default_rng(0)
    X = rng.random((14, 2))
    y = ((X - 0.3) ** 2).sum(axis=1)
    gp = SweepGP(layout=Layout.from_space(Space([Real(0, 1), Real(0, 1)])))
    gp.fit(X, y)
    gp.believe(np.array([[0.9, 0.9], [0.8, 0.1]]))
    best = gp.exploit(np.random.default_rng(1))
    assert best is not None and np.abs(best - 0.3).max() < 0.06
    gp.believe(best[None, :])  # another agent took it: this one does something else
    assert gp.exploit(np.random.default_rng(1)) is None
    assert np.abs(gp.propose(np.random.default_rng(1)) - best).max() > 0.01


def test_eight_agents_started_together_get_eight_design_points() -> None:
    cfg = validate({"method": "bayes", "metric": {"name": "loss"}, "sweepcli": {"seed": 3},
                    "parameters": {"x": {"min": 0.0, "max": 1.0}, "y": {"min": 0.0, "max": 1.0}}})
    pending: list[Run] = []
    for i in range(8):
        s = suggest(cfg, pending, np.random.default_rng(i))
        pending.append(Run(f"p{i:07d}", s.params, RunState.RUNNING))
    assert len({canonical_key(r.params) for r in pending}) == 8


def test_more_agents_than_design_points_continue_one_shared_design() -> None:
    """Sixteen agents started together: the first ten take the sweep's LHS design, the
    others its continuation (a Sobol sequence seeded by the sweep): every agent computes
    the same point for the same place in line, and no two are alike."""
    cfg = validate({"method": "bayes", "metric": {"name": "loss"}, "sweepcli": {"seed": 3},
                    "parameters": {"x": {"min": 0.0, "max": 1.0}, "y": {"min": 0.0, "max": 1.0},
                                   "c": {"values": ["a", "b"]}, "k": {"value": 7}}})
    pending: list[Run] = []
    for i in range(16):
        s = suggest(cfg, pending, np.random.default_rng(100 + i))
        again = suggest(cfg, pending, np.random.default_rng(999))  # another agent, same moment
        if i >= 10:
            assert s.params == again.params
        assert s.params["k"] == 7
        pending.append(Run(f"p{i:07d}", s.params, RunState.RUNNING))
    assert len({canonical_key(r.params) for r in pending}) == 16


@pytest.mark.parametrize("seed", [None, 7])
def test_sweeps_made_from_one_file_draw_their_own_points_unless_seeded(env, seed) -> None:
    """Without ``sweepcli.seed`` each sweep draws its own points, as W&B's do (four sweeps
    from one file once all started at the same point); with one, they repeat."""
    env.program("""
        import json, os
        cfg = json.load(open(os.environ["SWEEPCLI_CONFIG_FILE"]))
        open(os.environ["SWEEPCLI_METRICS_FILE"], "a").write(json.dumps({"y": cfg["x"]}) + "\\n")
    """)
    config = {"program": "train.py", "method": "bayes", "metric": {"name": "y"},
              "parameters": {"x": {"min": -5.0, "max": 5.0}, "z": {"values": [1, 2, 3]}},
              **({"sweepcli": {"seed": seed}} if seed is not None else {})}
    firsts = []
    for _ in range(3):
        sweep_id = env.create(config)
        env.cli("agent", sweep_id, "--count", "2")
        firsts.append(tuple(canonical_key(r["config"]) for r in env.status(sweep_id)["runs"]))
    assert len(set(firsts)) == (1 if seed is not None else 3), firsts
