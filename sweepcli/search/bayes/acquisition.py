"""Choosing the next point once there is a model: expected improvement on ``gp.SweepGP``
fitted to the ended runs, agents at once (the model conditioned on the running runs at
its own mean; one run in flight at the minimum of the mean), outcome limits as a
probability of feasibility, and the best allowed point when ``forbid``/``require`` rule
the model's choice out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...config import SweepConfig
from .design import HYPER_FIT_MAX
from .encoding import Encoding

MIN_MODEL = 3  # real observations a model needs before it may choose


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
