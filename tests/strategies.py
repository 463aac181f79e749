"""Hypothesis strategies for sweep parameter spaces."""

from __future__ import annotations

from hypothesis import strategies as st

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-6, max_value=1e3)
scalars = st.one_of(st.integers(-5, 5), st.text(max_size=4), st.booleans(),
                    st.floats(-10, 10, allow_nan=False))


@st.composite
def min_max(draw, lo=finite, integer=False):
    if integer:
        a = draw(st.integers(-50, 50))
        return a, a + draw(st.integers(1, 20))
    a = draw(lo)
    return a, a + draw(st.floats(min_value=1e-3, max_value=1e3))


@st.composite
def param_spec(draw, grid_only=False):
    kinds = ["constant", "categorical", "int_uniform", "q_uniform"]
    if not grid_only:
        kinds += ["uniform", "log_uniform_values", "q_log_uniform_values",
                  "inv_log_uniform_values", "normal", "q_normal", "log_normal",
                  "q_log_normal", "beta", "q_beta", "categorical_w_probabilities"]
    kind = draw(st.sampled_from(kinds))
    if kind == "constant":
        return {"value": draw(scalars)}
    if kind == "categorical":
        return {"values": draw(st.lists(scalars, min_size=1, max_size=4))}
    if kind == "categorical_w_probabilities":
        n = draw(st.integers(1, 4))
        w = draw(st.lists(st.integers(1, 10), min_size=n, max_size=n))
        return {"values": list(range(n)), "probabilities": [x / sum(w) for x in w]}
    if kind == "int_uniform":
        a, b = draw(min_max(integer=True))
        return {"min": a, "max": b}
    if kind in ("uniform",):
        a, b = draw(min_max())
        return {"distribution": kind, "min": a, "max": b}
    if kind == "q_uniform":
        a, b = draw(min_max(integer=True))
        q = draw(st.sampled_from([1, 2, 0.5, 0.25]))
        return {"distribution": kind, "min": a, "max": b, "q": q}
    if kind.endswith("log_uniform_values"):
        a = draw(positive)
        spec = {"distribution": kind, "min": a, "max": a * draw(st.floats(1.01, 1e4))}
        if kind.startswith("q_"):
            spec["q"] = draw(st.sampled_from([1, 0.01]))
        return spec
    if "normal" in kind:
        spec = {"distribution": kind, "mu": draw(st.floats(-3, 3)), "sigma": draw(st.floats(0.01, 2))}
        if kind.startswith("q_"):
            spec["q"] = draw(st.sampled_from([1, 0.1]))
        return spec
    spec = {"distribution": kind, "a": draw(st.floats(0.2, 5)), "b": draw(st.floats(0.2, 5))}
    if kind.startswith("q_"):
        spec["q"] = 0.1
    return spec


names = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True)


@st.composite
def parameters(draw, grid_only=False, depth=2, max_size=4):
    out = {}
    for name in draw(st.lists(names, min_size=1, max_size=max_size, unique=True)):
        if depth > 0 and draw(st.integers(0, 4)) == 0:
            out[name] = {"parameters": draw(parameters(grid_only, depth - 1, 3))}
        else:
            out[name] = draw(param_spec(grid_only))
    return out
