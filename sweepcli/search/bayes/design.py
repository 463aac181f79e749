"""The initial design, shared by every agent of a sweep: scikit-optimize's maximin Latin
hypercube (``Optimizer.ask`` while it lasts), then a scrambled Sobol sequence for agents
started together beyond it. Seeded from the sweep, so agents agree on it."""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import numpy as np

from ...config import SweepConfig, canonical_key
from .encoding import Encoding

HYPER_FIT_MAX = 150  # kernel hyperparameters are fit on at most this many points


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
