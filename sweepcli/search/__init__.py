"""Search methods: pure functions from (config, runs, rng) to the next parameters.

A method never touches a file or a clock; the agent calls :func:`suggest` under the
sweep's lock with the runs read from the store.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..config import SweepConfig
from ..runs import Run


@dataclass(frozen=True)
class Suggestion:
    """Parameters for the next run (flat names); grid points carry their index."""

    params: dict[str, Any]
    grid_index: int | None = None


class SearchMethod(Protocol):
    """What a search method provides (one class here, one entry in ``METHODS``; the
    contract tests in ``tests/test_contracts.py`` say what a new one forgot)."""

    name: str

    def suggest(self, config: SweepConfig, runs: list[Run], rng: np.random.Generator
                ) -> Suggestion | None:
        """The next point (flat names), or None when it has none left to give."""
        ...

    def exhausted(self, config: SweepConfig, runs: list[Run]) -> bool:
        """Whether it has no point left, asked without searching (``--print``)."""
        ...

    def grid_index(self, config: SweepConfig, params: dict[str, Any]) -> int | None:
        """Where a point stands in an enumeration of the space (None: not enumerated)."""
        ...

    def empty(self, config: SweepConfig) -> str | None:
        """Why ``sweepcli.forbid``/``require`` leave it nothing to run, or None."""
        ...


class _Drawn:
    """What random and bayes share: points drawn from the space, never exhausted."""

    name = ""

    def exhausted(self, config: SweepConfig, runs: list[Run]) -> bool:
        return False

    def grid_index(self, config: SweepConfig, params: dict[str, Any]) -> int | None:
        return None

    def empty(self, config: SweepConfig) -> str | None:
        """None of ``MAX_DRAWS`` drawn points is allowed."""
        from ..config.space import MAX_DRAWS, NoPointAllowed

        rng = np.random.default_rng(0)
        try:
            config.space.sample(rng)
        except NoPointAllowed:
            one = config.space.broken(config.space.active({p.name: p.sample(rng)
                                                           for p in config.space.params}))
            return f"none of {MAX_DRAWS:,} points drawn is allowed" + (f" (one {one})" if one else "")
        return None


class Grid:
    """Every combination of the values, in order; a point once (``search/grid.py``)."""

    name = "grid"

    def suggest(self, config: SweepConfig, runs: list[Run], rng: np.random.Generator
                ) -> Suggestion | None:
        from .grid import suggest as grid_suggest

        return grid_suggest(config.space, runs, config.revision)

    def exhausted(self, config: SweepConfig, runs: list[Run]) -> bool:
        return self.suggest(config, runs, np.random.default_rng(0)) is None

    def grid_index(self, config: SweepConfig, params: dict[str, Any]) -> int | None:
        from .grid import grid_index_of

        return grid_index_of(config.space, params)

    def empty(self, config: SweepConfig) -> str | None:
        if self.suggest(config, [], np.random.default_rng(0)) is None:
            return "no grid point keeps them: every combination of the values is ruled out"
        return None


class Random(_Drawn):
    """Independent draws from the space (``search/random.py``)."""

    name = "random"

    def suggest(self, config: SweepConfig, runs: list[Run], rng: np.random.Generator
                ) -> Suggestion | None:
        from .random import suggest as random_suggest

        return random_suggest(config.space, runs, rng)


class Bayes(_Drawn):
    """A Gaussian process over the runs so far (``search/bayes/``)."""

    name = "bayes"

    def suggest(self, config: SweepConfig, runs: list[Run], rng: np.random.Generator
                ) -> Suggestion | None:
        from .bayes import suggest as bayes_suggest

        with one_blas_thread():
            return bayes_suggest(config, runs, rng)


class PopulationBased(_Drawn):
    """Population Based Training (``search/pbt.py``): the population's members are drawn
    at random; what follows (exploit, explore) is decided for each segment at its claim."""

    name = "pbt"

    def suggest(self, config: SweepConfig, runs: list[Run], rng: np.random.Generator
                ) -> Suggestion | None:
        if self.exhausted(config, runs):
            return None
        params = config.space.sample(rng)
        for change in config.pbt.schedule:  # a replay: its first values
            if change.step == 0:
                params.update(change.params)
        return Suggestion(params)

    def exhausted(self, config: SweepConfig, runs: list[Run]) -> bool:
        from .pbt import members

        return len(members(runs)) >= config.pbt.population


#: ``method`` -> its search (the validator's list of names, ``config.validate.METHODS``,
#: is checked against this by the contract tests)
METHODS: dict[str, SearchMethod] = {m.name: m for m in (Grid(), Random(), Bayes(),
                                                        PopulationBased())}


def method_of(config: SweepConfig) -> SearchMethod:
    try:
        return METHODS[config.method]
    except KeyError:
        raise ValueError(f"unknown search method {config.method!r}") from None


def suggest(config: SweepConfig, runs: list[Run], rng: np.random.Generator) -> Suggestion | None:
    """The next point to run, or None when the method has nothing left (grid exhausted)."""
    return method_of(config).suggest(config, runs, rng)


def ruled_out(config: SweepConfig) -> str | None:
    """Why ``sweepcli.forbid``/``require`` leave no point to run, or None: checked when a
    sweep is made or given a new config, so an agent never starts on a space with nothing
    in it. grid: no grid point is allowed; random and bayes: none of ``MAX_DRAWS`` drawn."""
    if not config.space.rules:
        return None
    return method_of(config).empty(config)


_CONTROLLER: Any = None


def one_blas_thread() -> Any:
    """The model's linear algebra on one thread. Its matrices are small (a few hundred
    runs), and on a busy machine (the agents' own programs, other agents) OpenBLAS's
    threads wait on each other: a 150 x 150 Cholesky took 11 ms with its default threads
    and 0.17 ms with one, on this project's 2-core machine under 8 agents. For the call
    only (threadpoolctl, which scikit-learn brings): an in-process training function
    keeps its threads, and no program inherits a setting."""
    global _CONTROLLER
    try:
        if _CONTROLLER is None:
            import scipy.linalg  # noqa: F401 - its own OpenBLAS, found only once loaded
            from threadpoolctl import ThreadpoolController

            _CONTROLLER = ThreadpoolController()
        return _CONTROLLER.limit(limits=1, user_api="blas")
    except Exception:  # noqa: BLE001 - a speed-up only: without it the model is the same
        return contextlib.nullcontext()


__all__ = ["METHODS", "SearchMethod", "Suggestion", "method_of", "ruled_out", "suggest"]
