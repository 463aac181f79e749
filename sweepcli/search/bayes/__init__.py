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

Its parts: ``encoding.py`` (points and back), ``values.py`` (what the model is told),
``design.py`` (the shared initial design), ``gp.py`` (the model), ``acquisition.py``
(choosing with it). Measurements behind each choice: ``docs/decisions/bayes.md``.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from ...config import SweepConfig, canonical_key
from ...runs import Run
from .. import Suggestion
from .acquisition import MIN_MODEL, Limits, _allowed_choice, _model_choice
from .design import _make_optimizer, continued_design
from .encoding import Encoding
from .values import PARTIAL, Partial, _cap_history, run_values

#: (for benchmarks) the share of claims, once there is a model, taken from the shared
#: space-filling sequence instead of the model (``SWEEPCLI_BAYES_EXPLORE``, default 0)
EXPLORE = float(os.environ.get("SWEEPCLI_BAYES_EXPLORE", "0") or 0)

#: (for benchmarks) once this many runs ended since the best one, half the claims come
#: from the space-filling sequence (``SWEEPCLI_BAYES_STALL``, default 0: never)
STALL = int(os.environ.get("SWEEPCLI_BAYES_STALL", "0") or 0)


def _stalled(runs: list[Run], ys: list[float]) -> int:
    """How many runs ended after the one with the best value (the model's loss)."""
    ended = sorted(((r.ended_at or 0.0, y) for r, y in zip(runs, ys)), key=lambda t: t[0])
    best_at = min(range(len(ended)), key=lambda i: ended[i][1]) if ended else 0
    return max(0, len(ended) - 1 - best_at)


__all__ = ["Encoding", "Partial", "PARTIAL", "run_values", "suggest", "continued_design"]


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
        from ...config.constraints import is_feasible

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
        elif (EXPLORE and rng.random() < EXPLORE) or (STALL and _stalled(done, ys) >= STALL
                                                       and rng.random() < 0.5):
            x = None  # (measuring: a share of claims taken from the space-filling sequence)
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
