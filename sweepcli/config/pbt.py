"""The ``pbt:`` block of ``method: pbt`` (Population Based Training): parsed and checked,
every problem with its key path, defaults filled.

::

    method: pbt
    metric: {name: val_acc, goal: maximize}
    parameters: {lr: {distribution: log_uniform_values, min: 1e-4, max: 1e-1}, ...}
    pbt:
      population: 8          # members trained at once (each a run)
      steps: 100             # steps every member trains (metric lines of the sweep's metric)
      interval: 10           # steps of a segment: a member is judged every `interval` steps
      quantile: 0.25         # the bottom quarter copies the top quarter
      mutable: [lr]          # what may change while a member trains (default: every
                             # parameter drawn from a range or a list)
      explore:               # how a copied configuration is changed
        factors: [0.8, 1.2]  #   numbers: multiplied by one of them
        resample_probability: 0.25   # or drawn again from the parameter's range
      # explore: pb2         # or PB2's GP bandit over the numeric mutable parameters
      schedule:              # (what `sweepcli pbt replay` writes) a fixed schedule, no
        - {step: 0, params: {lr: 0.1}}    # exploit: the member starts so, and changes at
        - {step: 20, params: {lr: 0.05}}  # these steps
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..checks import describe, is_number, is_whole, unknown_key

KEYS = ("population", "steps", "interval", "quantile", "mutable", "explore", "schedule")
EXPLORE_KEYS = ("factors", "resample_probability", "pb2")
DEFAULT_FACTORS: tuple[float, ...] = (0.8, 1.2)


@dataclass(frozen=True)
class Change:
    """One entry of a fixed schedule: from ``step`` on, these parameters (flat names)."""

    step: int
    params: dict[str, Any]


@dataclass(frozen=True)
class Pbt:
    """The checked ``pbt:`` block."""

    population: int = 8
    steps: int = 100
    interval: int = 10
    quantile: float = 0.25
    #: flat names of the parameters that may change while a member trains
    mutable: tuple[str, ...] = ()
    factors: tuple[float, ...] = DEFAULT_FACTORS
    resample_probability: float = 0.25
    #: explore with PB2's GP bandit instead of random perturbation
    pb2: bool = False
    #: a fixed schedule (a replay): no exploit, the member changes at these steps
    schedule: tuple[Change, ...] = ()


def parse(raw: Any, names: dict[str, Any], add: Any) -> Pbt | None:
    """``pbt:`` checked against the sweep's parameters (``names``: flat name -> Param);
    ``add(path, message)`` collects each problem. None when it has any."""
    bad: list[str] = []

    def problem(path: str, message: str) -> None:
        bad.append(path)
        add(path, message)

    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problem("pbt", f"must be a mapping (population, steps, interval, ...), got {describe(raw)}")
        return None
    for k in raw:
        if k not in KEYS:
            problem(f"pbt.{k}", unknown_key(str(k), KEYS))

    def whole(key: str, default: int | None, low: int, high: int) -> int:
        v = raw.get(key, default)
        if v is None:
            problem(f"pbt.{key}", "required: how many steps each member trains (metric "
                    "lines of the sweep's metric)")
            return low
        if not (is_whole(v) and low <= v <= high):
            problem(f"pbt.{key}", f"must be an integer from {low} to {high:,}, got {describe(v)}")
            return low
        return int(v)

    population = whole("population", 8, 1 if raw.get("schedule") else 2, 10_000)
    steps = whole("steps", None, 1, 10**9)
    interval = whole("interval", max(1, steps // 10), 1, 10**9)
    if "interval" in raw and interval > steps and "pbt.steps" not in bad:
        problem("pbt.interval", f"{interval} is more than steps ({steps}): no member would "
                "ever be judged; use at most steps")
    quantile = raw.get("quantile", 0.25)
    if not (is_number(quantile) and 0 < quantile <= 0.5):
        problem("pbt.quantile", f"must be a number above 0 and at most 0.5 (the bottom "
                f"fraction copies the top one), got {describe(quantile)}")
        quantile = 0.25
    searchable = [n for n, p in names.items() if p.searchable]
    mutable: tuple[str, ...] = tuple(searchable)
    if "mutable" in raw:
        m = raw["mutable"]
        if not (isinstance(m, list) and all(isinstance(x, str) for x in m)):
            problem("pbt.mutable", f"must be a list of parameter names, got {describe(m)}")
        else:
            for i, name in enumerate(m):
                if name not in names:
                    problem(f"pbt.mutable[{i}]", f"{name!r} is not a parameter of this sweep: "
                            + unknown_key(name, list(names)))
                elif not names[name].searchable:
                    problem(f"pbt.mutable[{i}]", f"{name!r} is a constant (value): there is "
                            "nothing to change")
            if len(set(m)) != len(m):
                problem("pbt.mutable", "names a parameter twice")
            mutable = tuple(m)
    factors: tuple[float, ...] = DEFAULT_FACTORS
    resample, pb2 = 0.25, False
    explore = raw.get("explore", {})
    if explore == "pb2":
        explore = {"pb2": True}
    if not isinstance(explore, dict):
        problem("pbt.explore", "must be a mapping (factors, resample_probability) or 'pb2', "
                f"got {describe(explore)}")
        explore = {}
    for k in explore:
        if k not in EXPLORE_KEYS:
            problem(f"pbt.explore.{k}", unknown_key(str(k), EXPLORE_KEYS))
    if "factors" in explore:
        f = explore["factors"]
        if not (isinstance(f, list) and f and all(is_number(x) and x > 0 for x in f)):
            problem("pbt.explore.factors", "must be a list of numbers above 0 (a number is "
                    f"multiplied by one of them), got {describe(f)}")
        else:
            factors = tuple(float(x) for x in f)
    if "resample_probability" in explore:
        r = explore["resample_probability"]
        if not (is_number(r) and 0 <= r <= 1):
            problem("pbt.explore.resample_probability", f"must be a number from 0 to 1, got "
                    f"{describe(r)}")
        else:
            resample = float(r)
    if "pb2" in explore:
        pb2 = explore["pb2"]
        if not isinstance(pb2, bool):
            problem("pbt.explore.pb2", f"must be true or false, got {describe(pb2)}")
            pb2 = False
        elif pb2 and ("factors" in explore or "resample_probability" in explore):
            problem("pbt.explore", "pb2 chooses the new values itself: give pb2 or factors/"
                    "resample_probability, not both")
        elif pb2 and not any(_numeric(names[n]) for n in mutable if n in names):
            problem("pbt.explore.pb2", "needs a numeric mutable parameter (a range: min/max); "
                    "the mutable ones are all lists of values")
    schedule = _schedule(raw.get("schedule"), names, mutable, steps, problem) \
        if "schedule" in raw else ()
    if bad:
        return None
    return Pbt(population=population, steps=steps, interval=interval, quantile=float(quantile),
               mutable=mutable, factors=factors, resample_probability=resample, pb2=pb2,
               schedule=schedule)


def _numeric(param: Any) -> bool:
    return param.searchable and not param.is_categorical


def _schedule(raw: Any, names: dict[str, Any], mutable: tuple[str, ...], steps: int,
              problem: Any) -> tuple[Change, ...]:
    if not isinstance(raw, list):
        problem("pbt.schedule", f"must be a list of {{step, params}}, got {describe(raw)}")
        return ()
    out: list[Change] = []
    last = -1
    for i, entry in enumerate(raw):
        where = f"pbt.schedule[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"step", "params"}:
            problem(where, f"must be a mapping with step and params, got {describe(entry)}")
            continue
        step, params = entry.get("step"), entry.get("params")
        if not (is_whole(step) and last < step < steps):
            problem(f"{where}.step", f"must be an integer from {last + 1} to {steps - 1} (the "
                    f"steps in order, below pbt.steps), got {describe(step)}")
            continue
        if not isinstance(params, dict) or not params:
            problem(f"{where}.params", f"must be a mapping of parameters, got {describe(params)}")
            continue
        ok = True
        for name, value in params.items():
            if name not in names:
                problem(f"{where}.params.{name}", "not a parameter of this sweep: "
                        + unknown_key(str(name), list(names)))
                ok = False
            elif name not in mutable:
                problem(f"{where}.params.{name}", "not in pbt.mutable: it stays for a member's "
                        "life")
                ok = False
            elif not names[name].contains(value):
                problem(f"{where}.params.{name}", f"{describe(value)} is outside the "
                        "parameter's range")
                ok = False
        if ok:
            out.append(Change(int(step), dict(params)))
            last = int(step)
    return tuple(out)
