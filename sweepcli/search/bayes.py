"""Bayesian search: a Gaussian process over the sweep's runs, refit at every claim.

Who does what (measurements and what was dropped: ``docs/decisions/bayes.md``):

* **scikit-optimize**, the dependency our users asked for, does what it does well: the
  space and its transforms (``Real``/``Integer``/``Categorical``; a point to the model's
  columns and back) and the initial design (a maximin Latin hypercube shared by a sweep's
  agents, seeded from the sweep), handed out through its ``Optimizer.ask`` while the
  design lasts. Its own GP, acquisition and candidate search are not used.
* **Ours**: the encoding chosen per distribution (each law's natural scale; ordinal
  ``values`` lists as ranks; one-hot categoricals; inactive parameters outside every
  value), the values told (best over a run's history; ``metric.impute`` for failed runs;
  ``impute_while_running``), the model and its acquisition (``gp.SweepGP``: Matern 5/2 ARD,
  MAP-fit, log expected improvement maximised by a mixed local search; measured better
  than scikit-optimize's GP + EI), and what agents at once need: the model fitted to the
  ended runs and conditioned on the running ones at its own mean (Kriging believer), one
  run in flight at the minimum of the mean, no point handed out twice.
* **Speed**: one fit per claim; hyperparameters fit on at most 150 points; beyond
  ``max_history`` ended runs the best third and a random spread of the rest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
import os
import warnings
from typing import Any

import numpy as np

from ..config import Param, SweepConfig, canonical_key, is_number
from ..runs import Run, RunState
from . import Suggestion

HYPER_FIT_MAX = 150  # kernel hyperparameters are fit on at most this many points

_IMPUTED = (RunState.FAILED, RunState.CRASHED, RunState.KILLED)


class Encoding:
    """Maps flat parameter dicts to scikit-optimize points and back."""

    def __init__(self, config: SweepConfig):
        from skopt.space import Categorical, Integer, Real

        self.space = config.space
        self.params: list[Param] = []
        self.dimensions: list[Any] = []
        self.ranked: dict[str, list[int]] = {}  # numeric values: value indexes in sorted order
        for p in config.space.params:
            if not p.searchable:
                continue
            if p.is_categorical:
                values = p.spec["values"]
                n = len(values)
                if n < 2:
                    continue
                if n > 2 and all(is_number(v) for v in values):
                    self.ranked[p.name] = sorted(range(n), key=lambda i: values[i])
                    self.dimensions.append(Integer(0, n - 1, transform="normalize", name=p.name))
                else:
                    self.dimensions.append(Categorical([str(i) for i in range(n)], name=p.name))
            elif p.distribution == "int_uniform":
                self.dimensions.append(Integer(p.spec["min"], p.spec["max"], transform="normalize",
                                               name=p.name))
            else:
                self.dimensions.append(Real(0.0, 1.0, name=p.name))
            self.params.append(p)

    def encode(self, params: dict[str, Any]) -> list[Any] | None:
        """A run's parameters as a point of the model's space (None if out of the space).
        An inactive parameter (``sweepcli.conditions``) takes a placeholder here; its
        columns are set apart by :meth:`project`."""
        x: list[Any] = []
        active = self.space.active_names(params) if self.space.conditions else None
        for p in self.params:
            if active is not None and p.name not in active:
                x.append(self._placeholder(p))
                continue
            if p.name not in params:
                return None
            v = params[p.name]
            try:
                if p.name in self.ranked:
                    x.append(self.ranked[p.name].index(p._index_of(v)))
                elif p.is_categorical:
                    x.append(str(p._index_of(v)))
                elif p.distribution == "int_uniform":
                    x.append(int(min(max(int(v), p.spec["min"]), p.spec["max"])))
                else:
                    x.append(float(p.to_unit(v)))
            except (TypeError, ValueError):
                return None
        return x

    def _placeholder(self, p: Param) -> Any:
        if p.name in self.ranked:
            return 0
        if p.is_categorical:
            return "0"
        if p.distribution == "int_uniform":
            return int(p.spec["min"])
        return 0.0

    def projector(self, space: Any, layout: Any) -> Any:
        """``project(X)``: transformed points with the columns of their inactive parameters
        set apart (INACTIVE for numbers, all zeros for a one-hot group), as the model sees
        them: two points where a parameter is inactive agree on it, and a point where it
        is active is far from both. None without conditions."""
        if not self.space.conditions:
            return None
        from skopt.space import Categorical

        index = {p.name: j for j, p in enumerate(self.params)}
        cols = [np.nonzero(layout.membership[:, j])[0] for j in range(len(self.params))]
        onehot = [isinstance(d, Categorical) and d.transformed_size > 1 for d in space.dimensions]
        parents = sorted({o for _, terms in self.space.conditions for o, _ in terms})
        fixed = {n: self.space[n].sample(np.random.default_rng(0)) for n in parents
                 if n not in index}
        conditional = [index[n] for n, _ in self.space.conditions if n in index]

        def parent_values(X: np.ndarray) -> list[list[Any]]:
            out = []
            for n in parents:
                if n not in index:
                    out.append([fixed[n]] * len(X))
                    continue
                j = index[n]
                block = X[:, cols[j]] if len(cols[j]) > 1 else X[:, cols[j][0]]
                raw = np.asarray(space.dimensions[j].inverse_transform(block)).reshape(-1)
                p = self.params[j]
                if n in self.ranked:
                    out.append([p.spec["values"][self.ranked[n][int(v)]] for v in raw])
                elif p.is_categorical:
                    out.append([p.spec["values"][int(v)] for v in raw])
                else:
                    out.append([int(v) for v in raw])
            return out

        def project(X: np.ndarray) -> np.ndarray:
            X = np.array(X, dtype=float, copy=True)
            columns = parent_values(X)
            memo: dict[str, set[str]] = {}
            for i in range(len(X)):
                point = {n: columns[k][i] for k, n in enumerate(parents)}
                key = canonical_key(point)
                if key not in memo:
                    memo[key] = self.space.active_names(point)
                active = memo[key]
                for j in conditional:
                    if self.params[j].name not in active:
                        X[i, cols[j]] = 0.0 if onehot[j] else INACTIVE
            return X

        return project

    def decode(self, x: list[Any], rng: np.random.Generator) -> dict[str, Any]:
        """A model point as parameters (constants and one-value categoricals filled in)."""
        out = {}
        by_name = dict(zip((p.name for p in self.params), x))
        for p in self.space.params:
            if p.name in by_name:
                v = by_name[p.name]
                if p.name in self.ranked:
                    out[p.name] = p.spec["values"][self.ranked[p.name][int(v)]]
                elif p.is_categorical:
                    out[p.name] = p.spec["values"][int(v)]
                elif p.distribution == "int_uniform":
                    out[p.name] = int(v)
                else:
                    value = p.from_unit(float(v))
                    out[p.name] = value.item() if isinstance(value, np.generic) else value
            else:
                out[p.name] = p.sample(rng)
        return self.space.active(out)


def _parego_values(config: SweepConfig, runs: list[Run], rng: np.random.Generator
                   ) -> tuple[list[Run], list[float], list[Run]]:
    """Several objectives: each ended run with a value of every objective scalarised by
    one random ParEGO weighting (``pareto.parego_losses``); failed runs, and runs missing
    an objective, get the worst scalar; running runs are pending."""
    from ..pareto import losses, parego_losses

    pending = [r for r in runs if r.state == RunState.RUNNING]
    ended = [r for r in runs if r.state not in (RunState.RUNNING, RunState.PREEMPTED)]
    valued, points = losses(config, [r for r in ended if r.state not in _IMPUTED])
    ys = list(parego_losses(points, rng)) if valued else []
    worst = max(ys) if ys else 0.0
    seen = {r.run_id for r in valued}
    rest = [r for r in ended if r.run_id not in seen]
    return valued + rest, ys + [worst] * len(rest), pending


def run_values(config: SweepConfig, runs: list[Run], rng: np.random.Generator | None = None
               ) -> tuple[list[Run], list[float], list[Run]]:
    """(runs with a value, their values to minimise, runs still going).

    Imputation follows ``metric.impute``: ``worst`` (default) gives failed, crashed and
    killed runs the worst observed value, ``best`` the best, ``latest`` the run's own last
    value when it logged one. Preempted runs are left out: their point runs again. Running
    runs are pending, or valued per ``metric.impute_while_running`` once they logged one.
    """
    return _run_values(config, runs, rng)


def _run_values(config: SweepConfig, runs: list[Run], rng: np.random.Generator | None = None
                ) -> tuple[list[Run], list[float], list[Run]]:
    if config.multi:
        return _parego_values(config, runs, rng if rng is not None else np.random.default_rng(0))
    m = config.metric
    assert m is not None
    sign = m.sign
    observed: list[tuple[Run, float]] = []
    pending: list[Run] = []
    to_impute: list[Run] = []
    live: list[Run] = []
    whole = Partial(runs, sign) if PARTIAL != "best" else None
    for r in runs:
        if r.state == RunState.RUNNING:
            (live if m.impute_while_running != "false" and r.history else pending).append(r)
        elif r.state == RunState.PREEMPTED:
            continue
        elif whole is not None and whole.is_partial(r):
            y = whole.predict(r)
            if y is None:
                pending.append(r)  # nothing to say yet what it would have reached
            else:
                observed.append((r, y))
        elif r.state in _IMPUTED or not r.history:
            to_impute.append(r)
        else:
            observed.append((r, sign * r.best_value(m.goal)))  # best, as a loss (kept per run)
    ys = [y for _, y in observed]
    if to_impute:
        worst = max(ys) if ys else 0.0
        best = min(ys) if ys else 0.0
        for r in to_impute:
            if m.impute == "best":
                y = best
            elif m.impute == "latest" and r.history:
                y = sign * r.history[-1]
            else:
                y = worst
            observed.append((r, y))
    for r in live:
        if m.impute_while_running == "latest":
            y = sign * r.history[-1]
        elif m.impute_while_running == "best":
            y = sign * r.best_value(m.goal)
        elif ys:
            y = max(ys)  # worst: the worst value of the ended runs
        else:
            pending.append(r)  # no ended run yet: nothing to call worst
            continue
        observed.append((r, y))
    return [r for r, _ in observed], [y for _, y in observed], pending


#: how a run stopped or paused before its end enters the model (``SWEEPCLI_BAYES_PARTIAL``,
#: for benchmarks): ``auto`` (the default: ``shrunk``), ``shrunk``, ``rank``, ``delta``,
#: ``pending`` or ``best`` (its best so far, as W&B does and sweepcli did); see Partial
PARTIAL = os.environ.get("SWEEPCLI_BAYES_PARTIAL", "auto")


class Partial:
    """What a run ended before its last step would have reached. A stopped run's epoch-3
    value is not an epoch-52 one: told as it is, it teaches the model that the regions
    stopped early are bad. Options (``SWEEPCLI_BAYES_PARTIAL``): ``best`` its best so far
    (W&B's rule, sweepcli's before); ``delta`` that plus the median gain after step ``s``
    of the runs that went the whole way; ``rank`` the final value of the whole runs at the
    rank it held among them at ``s``; ``shrunk`` (the default) that, pulled toward the
    whole runs' median final value as far as their order at ``s`` fails to tell their
    final order (1 - Spearman's correlation, measured on the sweep's own whole runs: at
    step 1 of LCBench it is 0.07, so a run stopped there says almost nothing). Measured
    (``benchmarks/partial_lcbench.py``, 6 LCBench tasks x 2 seeds, 30 whole runs, 300
    random runs cut at step s; median absolute error of the final val_accuracy, points,
    all / the worst third at s, s = 1, 3, 6, 17): best 31.5/36.1, 9.6/17.0, 5.4/11.9,
    2.0/4.5; delta 6.4/6.6, 6.0/12.3, 3.3/9.9, 1.5/2.9; rank 6.9/10.5, 3.5/7.5, 2.5/5.4,
    1.4/2.9; shrunk 4.2/6.0, 3.1/7.3, 2.3/5.3, 1.3/3.2."""

    def __init__(self, runs: list[Run], sign: float):
        from ..early_stop.rungs import full_length

        self.sign = sign
        self.length = full_length(runs)
        self.whole = [r for r in runs if r.state == RunState.FINISHED and not r.summary_only
                      and self.length is not None and len(r.history) >= self.length]
        self.finals = np.array([sign * r.best_value(("minimize" if sign > 0 else "maximize"))
                                for r in self.whole])
        self._at: dict[int, np.ndarray] = {}
        self._rho: dict[int, float] = {}

    def is_partial(self, run: Run) -> bool:
        return (run.state in (RunState.STOPPED, RunState.PAUSED) and bool(run.history)
                and not run.summary_only and (self.length is None or len(run.history) < self.length))

    def _losses_at(self, step: int) -> np.ndarray:
        got = self._at.get(step)
        if got is None:
            got = np.array([min(self.sign * v for v in r.history[:step]) for r in self.whole])
            self._at[step] = got
        return got

    def _trust(self, step: int) -> float:
        """How far the whole runs' order at ``step`` tells their final order: Spearman's
        correlation between their values there and their final values, in [0, 1]."""
        got = self._rho.get(step)
        if got is None:
            at, finals = self._losses_at(step), self.finals
            if len(at) < 3 or np.ptp(at) == 0 or np.ptp(finals) == 0:
                got = 0.0
            else:
                ra = np.argsort(np.argsort(at)).astype(float)
                rb = np.argsort(np.argsort(finals)).astype(float)
                got = float(max(0.0, min(1.0, np.corrcoef(ra, rb)[0, 1])))
            self._rho[step] = got
        return got

    def predict(self, run: Run, how: str | None = None) -> float | None:
        how = how or PARTIAL
        if len(self.whole) < 2:
            return None
        step = len(run.history)
        mine = min(self.sign * v for v in run.history)
        at = self._losses_at(step)
        if how in ("rank", "auto", "shrunk"):
            q = (np.sum(at < mine) + 0.5 * np.sum(at == mine)) / len(at)
            by_rank = float(np.quantile(self.finals, min(1.0, max(0.0, q))))
            if how == "rank":
                return by_rank
            if how in ("shrunk", "auto"):
                # toward the whole runs' median final value as far as the order at this
                # step fails to tell the final order (at step 1 on LCBench it hardly does)
                middle = float(np.median(self.finals))
                return middle + self._trust(step) * (by_rank - middle)
        if how == "pending":
            return None
        return float(mine + np.median(self.finals - at))


def _cap_history(runs: list[Run], ys: list[float], cap: int, rng: np.random.Generator
                 ) -> tuple[list[Run], list[float]]:
    """Keep the best third and a random spread of the rest (W&B keeps 100 at random)."""
    if len(runs) <= cap:
        return runs, ys
    from .gp import best_and_spread

    keep = best_and_spread(np.asarray(ys), cap, rng)
    return [runs[i] for i in keep], [ys[i] for i in keep]


def _design_seed(config: SweepConfig) -> int:
    """The initial design is shared by every agent of a sweep: seed it from the config's
    seed, else from the config and the sweep's own salt (two sweeps made from one file
    draw their own points, as W&B's do)."""
    if config.seed is not None:
        return int(config.seed) % (2**31)
    digest = hashlib.sha256((canonical_key(config.raw) + config.salt).encode()).digest()
    return int.from_bytes(digest[:4], "little") % (2**31)


def _make_optimizer(enc: Encoding, config: SweepConfig, rng: np.random.Generator, n_told: int
                    ) -> Any:
    """scikit-optimize's ``Optimizer`` for what it does here: the space's transforms and
    the initial design, handed out by ``ask`` while it lasts. Its estimator is never fitted
    by it (the design ends before scikit-optimize would fit one): the model is
    ``gp.SweepGP``, fitted in ``_model_choice``; an instance is passed only because
    scikit-optimize's own placeholder ("dummy") no longer works with today's scikit-learn."""
    from skopt import Optimizer
    from skopt.space import Space

    from .gp import Layout, SweepGP

    n_initial = config.settings.initial_random
    layout = Layout.from_space(Space(enc.dimensions))
    opt = Optimizer(
        enc.dimensions,
        base_estimator=SweepGP(layout=layout, fit_max=HYPER_FIT_MAX,
                               random_state=int(rng.integers(2**31))),
        n_initial_points=n_initial,
        # the maximin LHS costs ~0.3 s to build: only while its points are still handed out
        initial_point_generator="lhs" if 1 < n_initial and n_told < n_initial else "random",
        acq_optimizer="sampling",  # (its acquisition is never run: see above)
        acq_optimizer_kwargs={"n_points": 1},
        random_state=_design_seed(config),
    )
    # the design is the sweep's; the candidates of the model phase are this agent's draw
    opt.rng = np.random.RandomState(int(rng.integers(2**31)))
    return opt


MIN_MODEL = 3  # real observations a model needs before it may choose
INACTIVE = -1.0  # where an inactive parameter's column sits: outside every active value


def continued_design(config: SweepConfig, index: int) -> dict[str, Any]:
    """Point ``index`` of a scrambled Sobol sequence seeded by the sweep: the same for every
    agent, spread over the space, and as long as the number of agents needs (the initial
    LHS has ``initial_random`` points; agents started together beyond that take these)."""
    from scipy.stats import qmc

    params = config.space.params
    n = 1 << max(0, index).bit_length()  # a power of two covering index, as Sobol likes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = qmc.Sobol(d=max(1, len(params)), scramble=True,
                      seed=_design_seed(config) + 1).random(n + 1)[index]
    return config.space.active({p.name: p.sample(np.random.default_rng(0)) if not p.searchable
                                else _plain(p.from_unit(float(ui))) for p, ui in zip(params, u)})


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _model_choice(opt: Any, done: list[tuple[list[Any], float]], pending: list[list[Any]],
                  rng: np.random.Generator, enc: Encoding | None = None,
                  front: bool = False, keep: dict[str, Any] | None = None,
                  limits: Limits | None = None) -> list[Any]:
    """Expected improvement on a GP fitted to the ended runs alone, which expects the worst
    value where it has seen nothing. With runs still going (agents at once): the model is
    conditioned on those runs at its own mean there (Kriging believer), and one of the runs
    in flight is always at the minimum of its mean (see the module's docstring).

    ``front``: several objectives, each claim minimising one random weighting of them
    (ParEGO). One agent's model then expects the values' mean, not the worst, where it has
    seen nothing: the search is for a whole front, not one minimum, and the worst prior
    kept it near the parts already found (``bench_multiobjective.py``, ZDT2, 10 seeds,
    hypervolume at 40 runs: the worst seed 120.08 with the mean prior, 113.55 with the
    worst, medians equal)."""
    from .gp import Layout, SweepGP

    layout = Layout.from_space(opt.space)
    project = enc.projector(opt.space, layout) if enc is not None else None
    gp = SweepGP(layout=layout, fit_max=HYPER_FIT_MAX, random_state=int(rng.integers(2**31)),
                 project=project, prior_mean="mean" if front and not pending else "worst")
    X = np.asarray(opt.space.transform([x for x, _ in done]), dtype=float)
    gp.fit(project(X) if project else X, np.asarray([y for _, y in done], dtype=float))
    if limits is not None:
        models = []
        for (lo, hi), points in zip(limits.bounds, limits.points):
            if len(points) < MIN_MODEL:
                continue  # too few runs logged it to say where it is kept: EI alone
            C = np.asarray(opt.space.transform([x for x, _ in points]), dtype=float)
            model_c = SweepGP(layout=layout, fit_max=HYPER_FIT_MAX,
                              random_state=int(rng.integers(2**31)), prior_mean="mean")
            model_c.fit(project(C) if project else C, np.asarray([v for _, v in points]))
            models.append((model_c, lo, hi))
        gp.constrain(models, np.asarray(limits.feasible, dtype=bool))
    x = None
    if pending:
        P = np.asarray(opt.space.transform(pending), dtype=float)
        gp.believe(project(P) if project else P)
        if limits is None:  # (the minimum of the mean may be infeasible: EI x P(feasible))
            x = gp.exploit(rng)
    if x is None:
        x = gp.propose(rng)
    if keep is not None:  # for a point the rules refuse: the same model scores others
        keep.update(gp=gp, project=project)
    return opt.space.inverse_transform(x[None, :])[0]


@dataclass
class Limits:
    """What the model needs of ``sweepcli.constraints``: each limit's [min, max], the
    (encoded point, last value) of the runs that logged its metric, and whether each
    observation (in the model's order) kept every limit."""

    bounds: list[tuple[float | None, float | None]]
    points: list[list[tuple[list[Any], float]]]
    feasible: list[bool]


#: points drawn among those the rules allow when the model's own choice is ruled out
ALLOWED_CANDIDATES = 512


def _allowed_choice(config: SweepConfig, enc: Encoding, opt: Any, model: dict[str, Any],
                    rng: np.random.Generator) -> dict[str, Any]:
    """``sweepcli.forbid``/``require`` ruled the model's choice out: the best of points drawn
    among the allowed ones by the same expected improvement (or, before a model, one of
    them). The rules are not in the model: they say where not to look, not how runs go."""
    points = [config.space.sample(rng) for _ in range(ALLOWED_CANDIDATES if model else 1)]
    gp = model.get("gp")
    if gp is None:
        return points[0]
    encoded = [(p, x) for p in points if (x := enc.encode(p)) is not None]
    if not encoded:
        return points[0]
    X = np.asarray(opt.space.transform([x for _, x in encoded]), dtype=float)
    project = model.get("project")
    scores = gp.log_ei(project(X) if project else X)
    return encoded[int(np.argmax(scores))][0]


def suggest(config: SweepConfig, runs: list[Run], rng: np.random.Generator) -> Suggestion:
    """The next point: the initial design first, then expected improvement on a GP."""
    enc = Encoding(config)
    if not enc.params:
        return Suggestion(config.space.sample(rng))
    space = config.space
    runs = [r for r in runs if (r.revision == config.revision and r.prior is None)
            or space.holds(r.params)]  # earlier configs' and prior runs: only inside today's space
    done, ys, pending = run_values(config, runs, rng)
    cap = config.settings.max_history
    done, ys = _cap_history(done, ys, cap, rng)
    lie = float(np.mean(ys)) if ys else 0.0
    encoded = [(r, x, float(y)) for r, y in zip(done, ys) if (x := enc.encode(r.params)) is not None]
    done_x = [(x, y) for _, x, y in encoded]
    limits = None
    if config.constraints:
        from ..config.constraints import is_feasible

        limits = Limits([(c.min, c.max) for c in config.constraints],
                        [[(x, r.last[c.metric]) for r, x, _ in encoded if c.metric in r.last]
                         for c in config.constraints],
                        [is_feasible(config.constraints, r) is not False for r, _, _ in encoded])
    pending_x = [x for r in pending if (x := enc.encode(r.params)) is not None]
    n_initial = config.settings.initial_random
    model: dict[str, Any] = {}
    opt = _make_optimizer(enc, config, rng, len(done_x) + len(pending_x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(done_x) + len(pending_x) < n_initial:
            # the initial design (pending points told as lies only to move along it, so
            # agents started together take different design points; no model is fitted)
            told = done_x + [(x, lie) for x in pending_x]
            if told:
                opt.tell([x for x, _ in told], [y for _, y in told])
            x = opt.ask()
        elif len(done_x) < MIN_MODEL:
            # more agents than the design has points, and too few runs ended to fit a
            # model: the design goes on, as a sequence every agent shares
            x = None
        else:
            x = _model_choice(opt, done_x, pending_x, rng, enc, front=config.multi, keep=model,
                              limits=limits)
    params = (enc.decode(x, rng) if x is not None
              else continued_design(config, len(done_x) + len(pending_x)))
    if space.rules and space.broken(params) is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params = _allowed_choice(config, enc, opt, model, rng)
    seen = {canonical_key(r.params) for r in runs}
    tries = 0
    while canonical_key(params) in seen and tries < 200:
        params = config.space.sample(rng)  # a repeat (a discrete space): take an unseen point
        tries += 1
    return Suggestion(params)
