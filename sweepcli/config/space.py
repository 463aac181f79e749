"""The parameter space: every W&B distribution, drawn, mapped to [0, 1] and enumerated.

A parameter is addressed by its *path*: the tuple of keys from the top of ``parameters``
down through nested ``parameters`` blocks. Its flat name is the path joined with dots
(``model.num_layers``); the program always receives the nested form.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from statistics import NormalDist
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..checks import is_number

#: distributions whose value is drawn from a continuous law (possibly quantised)
CONTINUOUS = frozenset(
    {
        "uniform",
        "q_uniform",
        "log_uniform",
        "q_log_uniform",
        "inv_log_uniform",
        "log_uniform_values",
        "q_log_uniform_values",
        "inv_log_uniform_values",
        "normal",
        "q_normal",
        "log_normal",
        "q_log_normal",
        "beta",
        "q_beta",
    }
)
DISCRETE = frozenset({"constant", "categorical", "categorical_w_probabilities", "int_uniform"})
DISTRIBUTIONS = CONTINUOUS | DISCRETE
#: what grid search can enumerate (W&B's rule)
GRID_DISTRIBUTIONS = frozenset({"constant", "categorical", "int_uniform", "q_uniform"})
#: the base-e forms W&B 0.2.0 rejects; we accept them with a warning
DEPRECATED = {
    "log_uniform": "log_uniform_values",
    "q_log_uniform": "q_log_uniform_values",
    "inv_log_uniform": "inv_log_uniform_values",
}

_EPS = 1e-12


def canonical(value: Any) -> Any:
    """A JSON-ready form in which equal numbers are equal (1 == 1.0), bools stay bools."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return repr(value)


def canonical_key(value: Any) -> str:
    """A string that identifies a value (or a point: a dict of values) exactly."""
    return json.dumps(canonical(value), sort_keys=True, separators=(",", ":"))


def grid_key(value: Any) -> str:
    """What identifies a grid value, as W&B's grid does today: a whole-number float is the
    int (YAML reads ``3e6`` as a float, a run's config gives it back as an int); nothing
    else is merged (``[1.0]`` and ``[1]`` stay two values, as ``true`` and ``1`` do)."""
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        value = int(value)
    return json.dumps(plain(value), sort_keys=True, separators=(",", ":"), default=repr)


def same_grid_value(axis_value: Any, value: Any) -> bool:
    """Whether a run's ``value`` is the grid's ``axis_value``. A mapping matches on the
    axis value's own keys: keys a program adds to it at run time do not make a new point."""
    if isinstance(axis_value, dict) and isinstance(value, dict):
        return all(k in value and same_grid_value(v, value[k]) for k, v in axis_value.items())
    return grid_key(axis_value) == grid_key(value)


def plain(value: Any) -> Any:
    """Turn numpy scalars into Python ones so values serialise and print cleanly."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _quantise(x: float, q: float | int) -> float | int:
    """W&B's rounding: round(x / q) * q; an int q gives ints."""
    if isinstance(q, int):
        return int(np.round(x / q)) * q
    return float(np.round(x / q) * q)


@dataclass(frozen=True, eq=False)
class Param:
    """One parameter with its distribution and filled-in settings."""

    path: tuple[str, ...]
    distribution: str
    spec: dict[str, Any]

    def _identity(self) -> tuple[tuple[str, ...], str, str]:  # repr keeps 1 and 1.0 apart
        return (self.path, self.distribution, repr(sorted(self.spec.items())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Param) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    @property
    def name(self) -> str:
        return ".".join(self.path)

    @property
    def searchable(self) -> bool:
        return self.distribution != "constant"

    @property
    def is_categorical(self) -> bool:
        return self.distribution in ("categorical", "categorical_w_probabilities")

    @property
    def is_integer(self) -> bool:
        """True when every value is an int (int_uniform, or a q form with an int q)."""
        if self.distribution == "int_uniform":
            return True
        return self.distribution.startswith("q_") and isinstance(self.spec.get("q"), int)

    # ---- the continuous law, as a map from the unit interval -------------------------
    def _from_unit_raw(self, u: float) -> float:
        s = self.spec
        d = self.distribution.removeprefix("q_")
        if d == "uniform":
            return s["min"] + u * (s["max"] - s["min"])
        if d in ("log_uniform_values", "inv_log_uniform_values"):
            # W&B's inv_log_uniform_values is 1/X with X log-uniform on [1/max, 1/min],
            # which is the same law as log-uniform on [min, max].
            lo, hi = math.log(s["min"]), math.log(s["max"])
            return math.exp(lo + u * (hi - lo))
        if d == "log_uniform":
            return math.exp(s["min"] + u * (s["max"] - s["min"]))
        if d == "inv_log_uniform":
            return math.exp(-(s["max"] - u * (s["max"] - s["min"])))
        u = min(max(u, _EPS), 1 - _EPS)
        if d == "normal":
            return NormalDist(s["mu"], s["sigma"] or _EPS).inv_cdf(u)
        if d == "log_normal":
            return math.exp(NormalDist(s["mu"], s["sigma"] or _EPS).inv_cdf(u))
        if d == "beta":
            from scipy.special import betaincinv

            return float(betaincinv(s["a"], s["b"], u))
        raise ValueError(f"not a continuous distribution: {self.distribution}")

    def _to_unit_raw(self, x: float) -> float:
        s = self.spec
        d = self.distribution.removeprefix("q_")
        if d == "uniform":
            u = (x - s["min"]) / (s["max"] - s["min"])
        elif d in ("log_uniform_values", "inv_log_uniform_values"):
            lo, hi = math.log(s["min"]), math.log(s["max"])
            u = (math.log(max(x, _EPS)) - lo) / (hi - lo)
        elif d == "log_uniform":
            u = (math.log(max(x, _EPS)) - s["min"]) / (s["max"] - s["min"])
        elif d == "inv_log_uniform":
            u = (s["max"] + math.log(max(x, _EPS))) / (s["max"] - s["min"])
        elif d == "normal":
            u = NormalDist(s["mu"], s["sigma"] or _EPS).cdf(x)
        elif d == "log_normal":
            u = NormalDist(s["mu"], s["sigma"] or _EPS).cdf(math.log(max(x, _EPS)))
        elif d == "beta":
            from scipy.special import betainc

            u = float(betainc(s["a"], s["b"], min(max(x, 0.0), 1.0)))
        else:
            raise ValueError(f"not a continuous distribution: {self.distribution}")
        return min(max(u, 0.0), 1.0)

    # ---- public mapping ----------------------------------------------------------------
    def from_unit(self, u: float) -> Any:
        """The value at quantile-like position ``u`` in [0, 1]."""
        u = min(max(float(u), 0.0), 1.0)
        d, s = self.distribution, self.spec
        if d == "constant":
            return s["value"]
        if d == "categorical":
            n = len(s["values"])
            return s["values"][min(int(u * n), n - 1)]
        if d == "categorical_w_probabilities":
            cdf = np.cumsum(s["probabilities"])
            i = int(np.argmax(u < cdf)) if u < cdf[-1] else len(cdf) - 1
            return s["values"][i]
        if d == "int_uniform":
            n = s["max"] - s["min"] + 1
            return s["min"] + min(int(u * n), n - 1)
        x = self._from_unit_raw(u)
        if d.startswith("q_"):
            return _quantise(x, s["q"])
        return float(x)

    def to_unit(self, value: Any) -> float:
        """The position of ``value`` in [0, 1]: the inverse of :meth:`from_unit`.

        Discrete values map to the middle of their cell, so ``from_unit(to_unit(v)) == v``.
        """
        d, s = self.distribution, self.spec
        if d == "constant":
            return 0.5
        if d == "categorical":
            n = len(s["values"])
            return (self._index_of(value) + 0.5) / n
        if d == "categorical_w_probabilities":
            i = self._index_of(value)
            cdf = np.cumsum(s["probabilities"])
            lo = cdf[i - 1] if i > 0 else 0.0
            return float((lo + cdf[i]) / 2)
        if d == "int_uniform":
            n = s["max"] - s["min"] + 1
            return (int(value) - s["min"] + 0.5) / n
        return self._to_unit_raw(float(value))

    def _index_of(self, value: Any) -> int:
        key = canonical_key(value)
        for i, v in enumerate(self.spec["values"]):
            if canonical_key(v) == key:
                return i
        raise ValueError(f"{self.name}: {value!r} is not one of {self.spec['values']!r}")

    def sample(self, rng: np.random.Generator) -> Any:
        """One independent draw, as W&B draws it (the law's quantile at a uniform draw)."""
        if self.distribution == "constant":
            return self.spec["value"]
        return plain(self.from_unit(rng.random()))

    def grid_axis(self) -> Sequence[Any]:
        """Every value, in W&B's grid order, without listing them: a range of three million
        ints costs nothing until a point is asked for. Equal values (1 and 1.0) appear once."""
        d, s = self.distribution, self.spec
        if d == "constant":
            return (s["value"],)
        if d == "categorical":
            # equal values appear once, where the first stands, with the last one's form
            # (W&B's grid looks values up by hash, and the last one written wins)
            order = dict.fromkeys(grid_key(v) for v in s["values"])
            last = {grid_key(v): v for v in s["values"]}
            return tuple(last[k] for k in order)
        if d == "int_uniform":
            return range(s["min"], s["max"] + 1)
        if d == "q_uniform":
            return _Steps(s["min"], s["max"], s["q"])
        raise ValueError(f"{self.name}: {d} cannot be enumerated by grid search")

    def grid_position(self, value: Any) -> int | None:
        """Where ``value`` stands on this parameter's grid axis (None: not on it)."""
        d, s = self.distribution, self.spec
        axis = self.grid_axis()
        if d == "int_uniform" or d == "q_uniform":
            if not is_number(value):
                return None
            i = round((value - s["min"]) / (1 if d == "int_uniform" else s["q"]))
            if not 0 <= i < len(axis):
                return None
            # arange's 0.30000000000000004 is the 0.3 a results file holds
            return i if abs(axis[i] - value) <= 1e-9 * max(1.0, abs(value)) else None
        for i, v in enumerate(axis):
            if same_grid_value(v, value):
                return i
        return None

    def grid_values(self) -> list[Any]:
        """Every value, in W&B's grid order, as a list (small axes only)."""
        return list(self.grid_axis())

    def contains(self, value: Any) -> bool:
        """Whether ``value`` could have been drawn from this parameter."""
        d, s = self.distribution, self.spec
        if d == "constant":
            return canonical_key(value) == canonical_key(s["value"])
        if d in ("categorical", "categorical_w_probabilities"):
            try:
                self._index_of(value)
            except ValueError:
                return False
            return True
        if not is_number(value):
            return False
        if d == "int_uniform":
            return float(value).is_integer() and s["min"] <= value <= s["max"]
        if d.startswith("q_"):
            q = s["q"]
            if abs(value / q - round(value / q)) > 1e-6:
                return False
        lo, hi = self._bounds()
        slack = s.get("q", 0) if d.startswith("q_") else 0
        return lo - slack - 1e-9 * abs(lo) <= value <= hi + slack + 1e-9 * abs(hi)

    def _bounds(self) -> tuple[float, float]:
        d, s = self.distribution.removeprefix("q_"), self.spec
        if d in ("uniform", "log_uniform_values", "inv_log_uniform_values"):
            return s["min"], s["max"]
        if d == "log_uniform":
            return math.exp(s["min"]), math.exp(s["max"])
        if d == "inv_log_uniform":
            return math.exp(-s["max"]), math.exp(-s["min"])
        if d == "log_normal":
            return 0.0, math.inf
        if d == "beta":
            return 0.0, 1.0
        return -math.inf, math.inf


class _Steps(Sequence[Any]):
    """``numpy.arange(lo, hi, q)`` as W&B's grid lists it, computed point by point."""

    def __init__(self, lo: float, hi: float, q: float):
        self.lo, self.q = lo, q
        self.ints = all(isinstance(v, int) for v in (lo, hi, q))
        self.delta = (lo + q) - lo  # numpy's own step, so every value is the one arange gives
        self.n = max(0, math.ceil((hi - lo) / q))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.lo + i * self.q if self.ints else float(self.lo + i * float(self.delta))


#: draws a random point gets to keep ``sweepcli.forbid``/``require`` before the search gives up
MAX_DRAWS = 10_000


class NoPointAllowed(ValueError):
    """The rules leave (almost) no point of the space to draw."""


@dataclass(frozen=True)
class Space:
    """All parameters of a sweep, in W&B's order (sorted by name at every level), and the
    conditions under which some of them are active (``sweepcli.conditions``).

    ``conditions``: (parameter, ((other, (allowed values...)), ...)) pairs, validated: the
    others are discrete, acyclic. A parameter is active when every condition of it holds
    and every parameter it names is active; an inactive parameter is absent from a point.
    """

    params: tuple[Param, ...]
    conditions: tuple[tuple[str, tuple[tuple[str, tuple[Any, ...]], ...]], ...] = ()
    #: ``sweepcli.forbid`` and ``sweepcli.require``: points never run (constraints.Rules)
    rules: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(sorted(self.params, key=lambda p: p.path)))

    @property
    def conditional(self) -> dict[str, tuple[tuple[str, tuple[Any, ...]], ...]]:
        return dict(self.conditions)

    def active_names(self, point: dict[str, Any]) -> set[str]:
        """The parameters active at ``point`` (flat names; inactive ones may be in it or not)."""
        conds = self.conditional
        active: dict[str, bool] = {}

        def is_active(name: str, seen: tuple[str, ...] = ()) -> bool:
            if name in active:
                return active[name]
            result = True
            for other, allowed in conds.get(name, ()):
                if other in seen or not is_active(other, (*seen, name)) or other not in point \
                        or not any(same_grid_value(v, point[other]) for v in allowed):
                    result = False
                    break
            active[name] = result
            return result

        return {p.name for p in self.params if is_active(p.name)}

    def active(self, point: dict[str, Any]) -> dict[str, Any]:
        """``point`` without its inactive parameters (what a program receives)."""
        if not self.conditions:
            return point
        names = self.active_names(point)
        return {k: v for k, v in point.items() if k in names or k not in self.names}

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    @property
    def searchable(self) -> list[Param]:
        return [p for p in self.params if p.searchable]

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def holds(self, params: dict[str, Any]) -> bool:
        """Whether a point (flat names) lies in this space: every active parameter given
        and inside its distribution's support (names the space lacks, and inactive
        parameters, are not looked at)."""
        names = self.active_names(params) if self.conditions else None
        return all(p.name in params and p.contains(params[p.name]) for p in self.params
                   if names is None or p.name in names)

    def broken(self, point: dict[str, Any]) -> str | None:
        """Why a point (flat names) must never run (``sweepcli.forbid``/``require``), or
        None. Only its active parameters are looked at."""
        if not self.rules:
            return None
        return self.rules.broken(self.active(point))  # type: ignore[no-any-return]

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """One independent draw of every active parameter (flat names), among the points
        the rules allow (drawn again until one is: at most ``MAX_DRAWS`` times)."""
        for _ in range(MAX_DRAWS if self.rules else 1):
            point = self.active({p.name: p.sample(rng) for p in self.params})
            if self.broken(point) is None:
                return point
        raise NoPointAllowed(f"no point of {MAX_DRAWS} drawn keeps sweepcli.forbid and "
                             f"sweepcli.require (the last: {self.broken(point)}): they leave "
                             "(almost) nothing of the space")

    def nest(self, flat: dict[str, Any]) -> dict[str, Any]:
        """Flat (dotted) names -> the nested dict the program sees."""
        by_name = {p.name: p.path for p in self.params}
        out: dict[str, Any] = {}
        for name, value in flat.items():
            path = by_name.get(name, (name,))
            node = out
            for key in path[:-1]:
                node = node.setdefault(key, {})
                if not isinstance(node, dict):
                    break  # a value is in the way (a journal line written by hand): keep it flat
            else:
                if not isinstance(node.get(path[-1]), dict):  # (else a group is there)
                    node[path[-1]] = value
                    continue
            out[name] = value
        return out

    def flat_point(self, point: dict[str, Any]) -> dict[str, Any]:
        """``point`` (flat or nested, or both: a results file's row) with flat names;
        what is not a parameter of this space is left out."""
        names = set(self.names)
        out: dict[str, Any] = {}

        def walk(node: dict[str, Any], prefix: str) -> None:
            for k, v in node.items():
                name = f"{prefix}{k}"
                if name in names:
                    out[name] = v
                elif isinstance(v, dict):
                    walk(v, name + ".")

        walk(point, "")
        return out

    def flatten(self, nested: dict[str, Any]) -> dict[str, Any]:
        """The nested form -> flat dotted names (inverse of :meth:`nest`)."""
        out: dict[str, Any] = {}
        for p in self.params:
            node: Any = nested
            for key in p.path:
                if not isinstance(node, dict) or key not in node:
                    break
                node = node[key]
            else:
                out[p.name] = node
        return out


def flat_names(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as dotted names (how parameters are shown)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat_names(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
