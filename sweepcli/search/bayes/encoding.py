"""Runs' parameters as points of the model's space and back: scikit-optimize's dimensions
and transforms, with the encoding chosen per distribution (each law's natural scale,
ordinal ``values`` as ranks, one-hot categoricals, inactive parameters outside every
value)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...config import Param, SweepConfig, canonical_key, is_number

INACTIVE = -1.0  # where an inactive parameter's column sits: outside every active value


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
