"""Validate a W&B sweep config, report every problem with its key path, fill defaults.

The rules follow W&B's sweep config schema (the ``sweeps`` engine's JSON schema) so that a
config W&B accepts is accepted here with the same meaning. Deliberate differences (each
a W&B bug or a check W&B forgets) are listed in the README.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .. import goals
from ..errors import UsageError
from ..early_stop.hyperband import Hyperband
from .settings import BY_KEY, Settings, described
from ..checks import describe, is_int, is_whole, unknown_key
from .space import DEPRECATED, DISTRIBUTIONS, GRID_DISTRIBUTIONS, Param, Space, is_number

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
#: a project name that can name a folder (the store checks --project with it too)
PROJECT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

TOP_LEVEL_KEYS = (
    "method",
    "parameters",
    "metric",
    "early_terminate",
    "run_cap",
    "program",
    "command",
    "name",
    "description",
    "project",
    "entity",
    "kind",
    "apiVersion",
    "controller",
    "metrics",
    "job",
    "image_uri",
    "scheduler",
    "sweepcli",
    "pbt",
)
METHODS = ("grid", "random", "bayes", "pbt")
#: W&B's keys for what only its Launch service runs: accepted by its schema, refused here
#: with a message naming the key (a folder of agents has no Launch queue to hand them to)
LAUNCH_KEYS = {
    "job": "a W&B Launch job (what Launch runs instead of program)",
    "image_uri": "a container image run by W&B Launch",
    "scheduler": "an external scheduler run by W&B Launch",
}
IMPUTES_WHILE_RUNNING = ("false", "latest", "best", "worst")
GOALS = ("minimize", "maximize")
IMPUTES = ("worst", "best", "latest")

#: the settings of each distribution: (required keys, {optional key: default})
_Q = {"q": 1.0}
DISTRIBUTION_KEYS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "constant": (("value",), {}),
    "categorical": (("values",), {}),
    "categorical_w_probabilities": (("values", "probabilities"), {}),
    "int_uniform": (("min", "max"), {}),
    "uniform": (("min", "max"), {}),
    "q_uniform": (("min", "max"), _Q),
    "log_uniform": (("min", "max"), {}),
    "q_log_uniform": (("min", "max"), _Q),
    "inv_log_uniform": (("min", "max"), {}),
    "log_uniform_values": (("min", "max"), {}),
    "q_log_uniform_values": (("min", "max"), _Q),
    "inv_log_uniform_values": (("min", "max"), {}),
    "normal": ((), {"mu": 0.0, "sigma": 1.0}),
    "q_normal": ((), {"mu": 0.0, "sigma": 1.0, **_Q}),
    "log_normal": ((), {"mu": 0.0, "sigma": 1.0}),
    "q_log_normal": ((), {"mu": 0.0, "sigma": 1.0, **_Q}),
    "beta": ((), {"a": 1.0, "b": 1.0}),
    "q_beta": ((), {"a": 1.0, "b": 1.0, **_Q}),
}
assert set(DISTRIBUTION_KEYS) == DISTRIBUTIONS

#: knobs of ours that W&B's format lacks, under the top-level ``sweepcli`` key (declared
#: in settings.py; ``conditions`` shapes the space, and is checked with it)
EXTENSION_KEYS = {
    **{k: described(k) for k in BY_KEY},
    "conditions": "a mapping of parameters to the condition under which each is active: "
                  "{momentum: {optimizer: sgd}, beta1: {optimizer: [adam, adamw]}}",
    "forbid": "a list of combinations never to run: [{optimizer: sgd, momentum: 0}]",
    "require": "a list of expressions every point keeps: ['layers * units <= 4096']",
    "constraints": "a list of limits on a run's final metric values: "
                   "[{metric: mem_gb, max: 40}, {metric: latency_ms, max: 10}]",
}
#: the sweepcli keys checked against the parameters (or metrics), not on their own
SHAPING_KEYS = ("conditions", "forbid", "require", "constraints")
#: what a condition may name: parameters with a few values, not a continuum
CONDITION_DISTRIBUTIONS = frozenset({"constant", "categorical", "categorical_w_probabilities",
                                     "int_uniform"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: where, and what would be valid."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(UsageError, ValueError):
    """A config that cannot be used; carries every problem found (and, read from a file,
    which: its message then names it and lists them)."""

    def __init__(self, problems: list[Problem], source: str | None = None):
        self.problems = problems
        self.source = source
        listed = "\n".join(str(p) for p in problems)
        if source is not None:
            listed = f"{source} is not a valid sweep config:\n" + "\n".join(
                f"  {p}" for p in problems)
        super().__init__(listed)


@dataclass(frozen=True)
class Metric:
    name: str
    goal: str = "minimize"
    target: float | None = None
    impute: str = "worst"
    #: bayes: ``false`` (running runs are pending points) or how to value a running run
    impute_while_running: str = "false"

    @property
    def sign(self) -> float:
        """+1 to minimise, -1 to maximise: ``sign * value`` is a loss."""
        return goals.sign(self.goal)

    def better(self, a: float, b: float) -> bool:
        """True when value ``a`` is strictly better than ``b``."""
        return goals.better(a, b, self.goal)

    def reached_target(self, value: float | None) -> bool:
        if self.target is None or value is None:
            return False
        return value == self.target or goals.better(value, self.target, self.goal)


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep config with its defaults filled in."""

    raw: dict[str, Any]
    method: str
    space: Space
    metric: Metric | None = None
    #: the stopping rule (``early_terminate``): a config of one of ``early_stop.RULES``
    early_stop: Any = None
    run_cap: int | None = None
    program: str | None = None
    command: tuple[str, ...] | None = None
    name: str | None = None
    description: str | None = None
    project: str | None = None
    extension: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    #: which config of the sweep this is: 0 the first, n after the n-th ``--update``
    revision: int = 0
    #: several objectives (``metrics:``); ``metric`` is then the first (hyperband's)
    metrics: tuple[Metric, ...] = ()
    #: ``sweepcli.constraints``: limits on runs' final metric values (constraints.Limit)
    constraints: tuple[Any, ...] = ()
    #: ``method: pbt``: its checked ``pbt:`` block (``config.pbt.Pbt``)
    pbt: Any = None
    #: what makes a sweep's own draws differ from another's made from the same config when
    #: ``sweepcli.seed`` is not given (its store sets the sweep's ID here)
    salt: str = ""

    @property
    def hyperband(self) -> Hyperband | None:
        """W&B's hyperband, when it is the sweep's stopping rule."""
        es = self.early_stop
        return es if isinstance(es, Hyperband) else None

    @property
    def multi(self) -> bool:
        """Several objectives: the result is a Pareto front, not one best run."""
        return len(self.metrics) > 1

    @cached_property
    def settings(self) -> Settings:
        """The ``sweepcli:`` settings, defaults filled."""
        return Settings(**{k: v for k, v in self.extension.items() if k in BY_KEY})

    @property
    def seed(self) -> int | None:
        return self.settings.seed

    @property
    def project_folder(self) -> str | None:
        """The config's ``project`` when it can name a folder (W&B allows names we can't)."""
        p = self.project
        return p if p and PROJECT_NAME_RE.match(p) else None





_is_int, _whole, _describe = is_int, is_whole, describe  # (the names used below)


def _not_taken(value: Any, name: str, param: Any) -> str:
    """A condition's value the parameter never takes: what it takes, and the likely slip
    (a quoted 'true', another case) first."""
    taken = param.spec.get("values") if param.distribution in ("categorical",
                                                               "categorical_w_probabilities") \
        else [param.spec["value"]] if "value" in param.spec else None
    text = f"{_describe(value)} is not a value {name} takes"
    if taken is None:
        if "min" in param.spec and "max" in param.spec:
            text += f" (it takes the integers {param.spec['min']} to {param.spec['max']})"
        return text
    shown = ", ".join(str(v).lower() if isinstance(v, bool) else _describe(v)
                      for v in taken[:8]) + (", ..." if len(taken) > 8 else "")
    if isinstance(value, str):
        for v in taken:
            if isinstance(v, bool) and value.strip().lower() == str(v).lower():
                return (f"{_describe(value)} is a string, and {name} takes true/false: write "
                        f"{str(v).lower()} without quotes (it takes {shown})")
            if not isinstance(v, bool) and isinstance(v, (int, float)) and value.strip() == str(v):
                return (f"{_describe(value)} is a string, and {name} takes numbers: write "
                        f"{v} without quotes (it takes {shown})")
            if isinstance(v, str) and value.lower() == v.lower():
                return f"{text}; did you mean {_describe(v)}? (it takes {shown})"
    return f"{text} (it takes {shown})"


_unknown = unknown_key


class _Checker:
    """Walks a config and collects every problem."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    # ---- parameters ------------------------------------------------------------------
    def parameters(self, block: Any, path: str, prefix: tuple[str, ...]) -> list[Param]:
        if not isinstance(block, dict):
            self.add(path, f"must be a mapping of parameter names to settings, got {_describe(block)}")
            return []
        if not block:
            self.add(path, "must define at least one parameter")
            return []
        params: list[Param] = []
        for name, spec in block.items():
            p = f"{path}.{name}"
            if not isinstance(name, str) or not NAME_RE.match(name):
                self.add(p, f"invalid parameter name {_describe(name)}: use letters, digits, "
                         "'_', '.', '-', starting with a letter or '_'")
                continue
            params.extend(self.parameter(spec, p, prefix + (name,)))
        return params

    def parameter(self, spec: Any, path: str, key: tuple[str, ...]) -> list[Param]:
        if not isinstance(spec, dict):
            self.add(path, f"must be a mapping such as {{values: [...]}}, {{value: x}} or "
                     f"{{min: a, max: b}}, got {_describe(spec)}")
            return []
        if "parameters" in spec:
            extra = [k for k in spec if k != "parameters"]
            for k in extra:
                self.add(f"{path}.{k}", "a nested parameter holds only 'parameters'")
            return self.parameters(spec["parameters"], f"{path}.parameters", key)
        dist = spec.get("distribution")
        if dist is None and "distribution" in spec:
            self.add(f"{path}.distribution", "is null: name a distribution or leave the key out")
            return []
        if dist is None:
            dist = self.infer(spec, path)
            if dist is None:
                return []
        elif not isinstance(dist, str) or dist not in DISTRIBUTIONS:
            close = difflib.get_close_matches(str(dist), sorted(DISTRIBUTIONS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.add(f"{path}.distribution", f"unknown distribution {_describe(dist)}{hint} "
                     f"(allowed: {', '.join(sorted(DISTRIBUTIONS))})")
            return []
        required, optional = DISTRIBUTION_KEYS[dist]
        allowed = ["distribution", *required, *optional]
        ok = True
        for k in spec:
            if k not in allowed:
                self.add(f"{path}.{k}", f"not a setting of {dist}: " + _unknown(k, allowed))
                ok = False
        for k in required:
            if k not in spec:
                self.add(f"{path}.{k}", f"required by {dist}")
                ok = False
        if not ok:
            return []
        filled = {**optional, **{k: v for k, v in spec.items() if k != "distribution"}}
        if not self.settings(dist, filled, path):
            return []
        param = Param(key, dist, filled)
        overflow = _overflow(param)
        if overflow:
            self.add(path, overflow)
            return []
        if dist in DEPRECATED:
            self.warnings.append(
                f"{path}: {dist} takes base-e exponents as min/max (W&B no longer accepts it); "
                f"the same range in values is distribution: {DEPRECATED[dist]}, "
                f"min: {math.exp(filled['min']):.6g}, max: {math.exp(filled['max']):.6g}"
            )
        return [param]

    def infer(self, spec: dict, path: str) -> str | None:
        """W&B's inference of the distribution when none is named."""
        if "values" in spec:
            return "categorical_w_probabilities" if "probabilities" in spec else "categorical"
        if "value" in spec:
            return "constant"
        if "min" in spec and "max" in spec:
            if _is_int(spec["min"]) and _is_int(spec["max"]):
                return "int_uniform"
            return "uniform"
        known = {k for req, opt in DISTRIBUTION_KEYS.values() for k in (*req, *opt)}
        for k in spec:
            if k not in known and k != "distribution":
                self.add(f"{path}.{k}", _unknown(k, sorted(known | {"distribution", "parameters"})))
        self.add(path, "cannot tell the distribution: give 'values' (a list), 'value' (a "
                 "constant), 'min' and 'max', or 'distribution' (one of "
                 f"{', '.join(sorted(DISTRIBUTIONS))})")
        return None

    def settings(self, dist: str, s: dict, path: str) -> bool:
        before = len(self.problems)
        if dist in ("categorical", "categorical_w_probabilities"):
            if not isinstance(s["values"], list) or not s["values"]:
                self.add(f"{path}.values", f"must be a non-empty list, got {_describe(s['values'])}")
            if dist == "categorical_w_probabilities":
                probs = s["probabilities"]
                if not isinstance(probs, list) or not probs or not all(
                    is_number(x) and x >= 0 for x in probs
                ):
                    self.add(f"{path}.probabilities",
                             f"must be a non-empty list of numbers >= 0, got {_describe(probs)}")
                elif isinstance(s["values"], list) and len(probs) != len(s["values"]):
                    self.add(f"{path}.probabilities", f"has {len(probs)} entries but values has "
                             f"{len(s['values'])}: give one probability per value")
                elif not math.isclose(sum(probs), 1.0, rel_tol=1e-5, abs_tol=1e-8):
                    self.add(f"{path}.probabilities", f"must sum to 1, they sum to {sum(probs):g}")
        elif dist == "int_uniform":
            for k in ("min", "max"):
                if not _is_int(s[k]):
                    self.add(f"{path}.{k}", f"must be an integer for int_uniform, got {_describe(s[k])}")
        for k in ("min", "max", "mu"):
            if k in s and dist != "int_uniform" and not is_number(s[k]):
                self.add(f"{path}.{k}", f"must be a number, got {_describe(s[k])}")
        for k in ("sigma",):
            if k in s and not (is_number(s[k]) and s[k] >= 0):
                self.add(f"{path}.{k}", f"must be a number >= 0, got {_describe(s[k])}")
        for k in ("a", "b"):
            if k in s and not (is_number(s[k]) and s[k] > 0):
                self.add(f"{path}.{k}", f"must be a number > 0, got {_describe(s[k])}")
        if "q" in s and not (is_number(s["q"]) and s["q"] > 0):
            self.add(f"{path}.q", f"must be a number > 0, got {_describe(s['q'])}")
        if dist.endswith("_values") and is_number(s.get("min")) and s["min"] <= 0:
            self.add(f"{path}.min", f"must be > 0 for {dist} (a log scale), got {_describe(s['min'])}")
        if (
            len(self.problems) == before
            and "min" in s
            and "max" in s
            and s["min"] >= s["max"]
        ):
            self.add(f"{path}.min", f"min {s['min']!r} must be less than max {s['max']!r}")
        elif len(self.problems) == before and "min" in s and not math.isfinite(
                float(s["max"]) - float(s["min"])):
            self.add(f"{path}.max", f"max - min overflows ({s['min']!r} to {s['max']!r}): use a "
                     "range whose width is a finite number")
        return len(self.problems) == before

    # ---- the rest of the config ----------------------------------------------------------
    def metric(self, m: Any, where: str = "metric") -> Metric | None:
        if not isinstance(m, dict):
            self.add(where, f"must be a mapping with 'name' (and 'goal'), got {_describe(m)}")
            return None
        allowed = ("name", "goal", "target", "impute", "impute_while_running")
        ok = True
        for k in m:
            if k not in allowed:
                self.add(f"{where}.{k}", _unknown(k, allowed))
                ok = False
        if "name" not in m:
            self.add(f"{where}.name", "required: the name of the metric to optimise")
            ok = False
        elif not isinstance(m["name"], str):
            self.add(f"{where}.name", f"must be a string, got {_describe(m['name'])}")
            ok = False
        elif not m["name"]:
            self.warnings.append(f"{where}.name is empty: no metric line can carry it, so no run "
                                 "gets a value")
        goal = m.get("goal", "minimize")
        if goal not in GOALS:
            self.add(f"{where}.goal", f"must be one of {', '.join(GOALS)}, got {_describe(goal)}")
            ok = False
        impute = m.get("impute", "worst")
        if impute not in IMPUTES:
            self.add(f"{where}.impute", f"must be one of {', '.join(IMPUTES)}, got {_describe(impute)}")
            ok = False
        target = m.get("target")
        if "target" in m and not is_number(target):
            self.add(f"{where}.target", f"must be a number, got {_describe(target)}")
            ok = False
        running = m.get("impute_while_running", "false")
        if running is False:  # YAML's unquoted false; W&B's schema takes only the string
            self.add(f"{where}.impute_while_running", "must be the string 'false' (quoted, as "
                     "W&B's schema has it) or one of latest, best, worst; got false unquoted")
            ok = False
        elif running not in IMPUTES_WHILE_RUNNING:
            self.add(f"{where}.impute_while_running", f"must be one of "
                     f"{', '.join(IMPUTES_WHILE_RUNNING)}, got {_describe(running)}")
            ok = False
        if not ok:
            return None
        return Metric(m["name"], goal, float(target) if target is not None else None, impute,
                      running)

    def metrics(self, raw: Any) -> tuple[Metric, ...]:
        """``metrics``: several objectives, each ``{name, goal}`` (W&B's schema), at least two,
        each named once; a target has no meaning for a Pareto front."""
        if not isinstance(raw, list):
            self.add("metrics", f"must be a list of at least two {{name, goal}}, got "
                     f"{_describe(raw)}")
            return ()
        if len(raw) < 2:
            self.add("metrics", f"needs at least two objectives, got {len(raw)}: for one, "
                     "use metric: {name: ..., goal: ...}")
        out = []
        names: set[str] = set()
        for i, m in enumerate(raw):
            where = f"metrics[{i}]"
            if isinstance(m, dict):
                if "target" in m:
                    self.add(f"{where}.target", "has no meaning with several objectives (the "
                             "result is the Pareto front, not one value to reach): remove it")
                    continue
                if "impute_while_running" in m:
                    self.add(f"{where}.impute_while_running",
                             "not supported with several objectives")
            got = self.metric(m, where)
            if got is None:
                continue
            if got.name in names:
                self.add(f"{where}.name", f"{got.name!r} is named twice")
                continue
            names.add(got.name)
            out.append(got)
        return tuple(out)

    def early_terminate(self, e: Any) -> Any:
        from ..early_stop import parse

        return parse(e, self.add)

    def extension(self, x: Any) -> dict[str, Any]:
        if not isinstance(x, dict):
            self.add("sweepcli", f"must be a mapping, got {_describe(x)}")
            return {}
        out = {}
        for k, v in x.items():
            if k not in EXTENSION_KEYS:
                self.add(f"sweepcli.{k}", _unknown(k, list(EXTENSION_KEYS)))
                continue
            if k in SHAPING_KEYS:
                out[k] = v  # checked against the parameters: see conditions(), rules()
                continue
            if not BY_KEY[k].check(v):
                self.add(f"sweepcli.{k}", f"must be {EXTENSION_KEYS[k]}, got {_describe(v)}")
            else:
                out[k] = v
        return out

    def rules(self, forbid: Any, require: Any, params: dict[str, Param]) -> Any:
        """``sweepcli.forbid`` and ``sweepcli.require`` as the space's Rules."""
        from .constraints import Expression, ExpressionError, Forbid, Rules

        entries: list[Forbid] = []
        if forbid is not None:
            if not isinstance(forbid, list):
                self.add("sweepcli.forbid", "must be a list of combinations, e.g. "
                         f"[{{optimizer: sgd, momentum: 0}}], got {_describe(forbid)}")
                forbid = []
            for i, entry in enumerate(forbid):
                at = f"sweepcli.forbid[{i}]"
                if not isinstance(entry, dict) or not entry:
                    self.add(at, "must be a mapping of parameters to a value (or a list of "
                             f"values), e.g. {{optimizer: sgd, momentum: 0}}, got {_describe(entry)}")
                    continue
                terms = []
                for name, value in entry.items():
                    if name not in params:
                        inside = [n for n in params if n.startswith(f"{name}.")]
                        self.add(f"{at}.{name}", (f"{name} is a group of nested parameters: "
                                                  f"name one by its dotted name ({', '.join(inside[:3])})")
                                 if inside else _unknown(name, list(params)))
                        continue
                    values = value if isinstance(value, list) else [value]
                    if not values or any(isinstance(v, (list, dict)) for v in values):
                        self.add(f"{at}.{name}", "must be a value (a number, a string or "
                                 "true/false) or a list of them")
                        continue
                    q = params[name]
                    bad = [v for v in values if not q.contains(v)]
                    if bad:
                        self.add(f"{at}.{name}", _not_taken(bad[0], name, q))
                        continue
                    terms.append((name, tuple(values)))
                if len(terms) == len(entry):
                    entries.append(Forbid(tuple(terms)))
        rules: list[Expression] = []
        if require is not None:
            if not isinstance(require, list):
                require = [require] if isinstance(require, str) else None
                if require is None:
                    self.add("sweepcli.require", "must be a list of expressions, e.g. "
                             "['layers * units <= 4096']")
                    require = []
            for i, text in enumerate(require):
                try:
                    rules.append(Expression.parse(text, set(params)))
                except ExpressionError as e:
                    self.add(f"sweepcli.require[{i}]", str(e))
        return Rules(tuple(entries), tuple(rules))

    def limits(self, raw: Any) -> tuple[Any, ...]:
        """``sweepcli.constraints``: limits on runs' final metric values."""
        from .constraints import Limit

        where = "sweepcli.constraints"
        if not isinstance(raw, list):
            self.add(where, "must be a list of limits, e.g. [{metric: mem_gb, max: 40}], got "
                     f"{_describe(raw)}")
            return ()
        out = []
        seen: set[str] = set()
        for i, entry in enumerate(raw):
            at = f"{where}[{i}]"
            if not isinstance(entry, dict):
                self.add(at, f"must be a mapping like {{metric: mem_gb, max: 40}}, got "
                         f"{_describe(entry)}")
                continue
            for k in entry:
                if k not in ("metric", "min", "max"):
                    self.add(f"{at}.{k}", _unknown(k, ["metric", "min", "max"]))
            name = entry.get("metric")
            if not isinstance(name, str) or not name:
                self.add(f"{at}.metric", f"must name a metric the program logs, got "
                         f"{_describe(name)}")
                continue
            bounds = {}
            for k in ("min", "max"):
                v = entry.get(k)
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                      or not math.isfinite(v)):
                    self.add(f"{at}.{k}", f"must be a finite number, got {_describe(v)}")
                    v = None
                bounds[k] = None if v is None else float(v)
            if "min" not in entry and "max" not in entry:
                self.add(at, f"gives no limit: add max (or min), e.g. {{metric: {name}, max: 40}}")
                continue
            if bounds["min"] is not None and bounds["max"] is not None \
                    and bounds["min"] > bounds["max"]:
                self.add(at, f"min {bounds['min']:g} is above max {bounds['max']:g}: no value "
                         "would be feasible")
                continue
            if name in seen:
                self.add(f"{at}.metric", f"{name} is limited twice: give min and max in one entry")
                continue
            seen.add(name)
            out.append(Limit(name, bounds["min"], bounds["max"]))
        return tuple(out)

    def conditions(self, raw: Any, params: dict[str, Param]
                   ) -> tuple[tuple[str, tuple[tuple[str, tuple[Any, ...]], ...]], ...]:
        """``sweepcli.conditions``: each conditional parameter's condition, a mapping of
        other parameters (discrete ones) to a value or a list of values, all of which must
        hold; no cycles."""
        where = "sweepcli.conditions"
        if not isinstance(raw, dict):
            self.add(where, f"must be a mapping of parameters to conditions, e.g. "
                     f"{{momentum: {{optimizer: sgd}}}}, got {_describe(raw)}")
            return ()
        out: list[tuple[str, tuple[tuple[str, tuple[Any, ...]], ...]]] = []

        def group(key: Any) -> str | None:
            """What to say when ``key`` is a group of nested parameters, not one."""
            inside = [n for n in params if n.startswith(f"{key}.")]
            if not inside:
                return None
            return (f"{key} is a group of nested parameters, not one: name each by its dotted "
                    f"name ({', '.join(inside[:3])}{', ...' if len(inside) > 3 else ''})")

        for name, cond in raw.items():
            path = f"{where}.{name}"
            if name not in params:
                self.add(path, group(name) or (_unknown(name, list(params)) if params
                                               else "no such parameter"))
                continue
            if not isinstance(cond, dict) or not cond:
                self.add(path, "must be a mapping of other parameters to a value or a list of "
                         f"values, e.g. {{optimizer: sgd}}, got {_describe(cond)}")
                continue
            terms = []
            for other, allowed in cond.items():
                at = f"{path}.{other}"
                if other == name:
                    self.add(at, "a parameter cannot be conditioned on itself")
                    continue
                if other not in params:
                    self.add(at, group(other) or _unknown(other, [n for n in params if n != name]))
                    continue
                q = params[other]
                if q.distribution not in CONDITION_DISTRIBUTIONS:
                    self.add(at, f"{other} is {q.distribution}: a condition names a parameter "
                             "with values (values, value or int_uniform), not a continuum")
                    continue
                values = allowed if isinstance(allowed, list) else [allowed]
                if not values:
                    self.add(at, "an empty list: the parameter would never be active")
                    continue
                if any(isinstance(v, (list, dict)) for v in values):
                    self.add(at, "a condition names values that are numbers, strings or "
                             "true/false (a parameter whose values are lists or mappings "
                             "cannot be a condition)")
                    continue
                bad = [v for v in values if not q.contains(v)]
                if bad:
                    self.add(at, _not_taken(bad[0], other, q))
                    continue
                terms.append((other, tuple(values)))
            if terms:
                out.append((name, tuple(terms)))
        # cycles: a -> b -> a can never be decided
        graph = {n: [o for o, _ in terms] for n, terms in out}
        state: dict[str, int] = {}

        def visit(n: str, trail: list[str]) -> None:
            if state.get(n) == 2:
                return
            if state.get(n) == 1:
                cycle = trail[trail.index(n):] + [n]
                self.add(f"{where}.{cycle[0]}", "conditions form a cycle: "
                         + " -> ".join(cycle))
                return
            state[n] = 1
            for o in graph.get(n, []):
                visit(o, trail + [n])
            state[n] = 2

        for n in list(graph):
            visit(n, [])
        return tuple(out)


#: limits on a config's shape, so that a hostile one (a YAML alias bomb, deep nesting) is
#: refused at once instead of exhausting memory or the stack
MAX_DEPTH = 64
MAX_NODES = 100_000


def json_problems(raw: Any, max_nodes: int = MAX_NODES) -> list[Problem]:
    """What in ``raw`` a program could not receive as JSON, or is too big or deep to be a
    config: walked without recursion, counting shared (aliased) parts every time they occur."""
    problems: list[Problem] = []
    stack: list[tuple[Any, str, int]] = [(raw, "", 0)]
    nodes = 0
    while stack:
        value, path, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            return [Problem("", f"too large: more than {max_nodes:,} values once "
                                "its YAML aliases are expanded")]
        if depth > MAX_DEPTH:
            return [Problem(path, f"nested too deeply (at most {MAX_DEPTH} levels)")]
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    problems.append(Problem(path, f"key {_describe(k)} is not a string"))
                    continue
                stack.append((v, f"{path}.{k}" if path else k, depth + 1))
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(Problem(path, f"{value!r} is not a number a program can receive: "
                                          "use a finite number"))
        elif not (value is None or isinstance(value, (str, bool, int, float))):
            problems.append(Problem(path, f"{_describe(value)} ({type(value).__name__}) is not a "
                                          "JSON value: use a string, a number, true/false, null, "
                                          "a list or a mapping"))
    return problems


def validate(raw: Any, source: str | None = None) -> SweepConfig:
    """Check a config dict and return it filled; raise :class:`ConfigError` listing every
    problem (``source``: the file it came from, named in the message)."""
    try:
        return _validate(raw)
    except ConfigError as exc:
        if source is None:
            raise
        raise ConfigError(exc.problems, source) from None


def _validate(raw: Any) -> SweepConfig:
    c = _Checker()
    if not isinstance(raw, dict):
        raise ConfigError([Problem("", f"a sweep config must be a mapping, got {_describe(raw)}")])
    shape = json_problems(raw)
    if shape:
        raise ConfigError(shape)
    for k in raw:
        if k not in TOP_LEVEL_KEYS:
            c.add(str(k), _unknown(k, TOP_LEVEL_KEYS))
    method = raw.get("method")
    if method is None:
        c.add("method", f"required: one of {', '.join(METHODS)}")
    elif method == "custom":
        c.add("method", "custom runs a scheduler of W&B Launch (Optuna or Ax inside W&B's "
              f"service), which needs W&B's server: use one of {', '.join(METHODS)}")
    elif method not in METHODS:
        c.add("method", f"must be one of {', '.join(METHODS)}, got {_describe(method)}")
    for k, what in LAUNCH_KEYS.items():
        if k in raw:
            c.add(k, f"{what} needs W&B Launch and its server; sweepcli runs program or "
                  "command on the agents' own hosts: remove it")
    metrics: tuple[Metric, ...] = ()
    if "metrics" in raw:
        if "metric" in raw:
            c.add("metrics", "metric and metrics cannot both be set: metric for one objective, "
                  "metrics for several")
        else:
            metrics = c.metrics(raw["metrics"])
    params: list[Param] = []
    if "parameters" not in raw:
        c.add("parameters", "required: the parameters to sweep")
    else:
        params = c.parameters(raw["parameters"], "parameters", ())
    seen: dict[str, Param] = {}
    for p in params:
        if p.name in seen:
            c.add(f"parameters.{p.name}", f"the dotted name '{p.name}' is defined twice "
                  "(a dotted name collides with a nested one); rename one of them")
        seen[p.name] = p
        if method == "grid" and p.distribution not in GRID_DISTRIBUTIONS:
            c.add(f"parameters.{'.parameters.'.join(p.path)}.distribution",
                  f"grid search cannot enumerate {p.distribution}: use values, "
                  "int_uniform, q_uniform or a constant (value)")
        elif method == "grid" and p.distribution == "q_uniform" and (
                len(p.grid_axis()) > MAX_GRID_AXIS):
            c.add(f"parameters.{'.parameters.'.join(p.path)}.q",
                  f"gives {len(p.grid_axis()):,} grid values from {p.spec['min']!r} to "
                  f"{p.spec['max']!r}: at most {MAX_GRID_AXIS:,} (a larger q, or random or bayes)")
    metric = c.metric(raw["metric"]) if "metric" in raw else (metrics[0] if metrics else None)
    early_stop = c.early_terminate(raw["early_terminate"]) if "early_terminate" in raw else None
    if early_stop is not None and metric is None and "metric" not in raw and "metrics" not in raw:
        c.add("early_terminate", f"{early_stop.type} needs a metric: add metric.name")
    if method == "bayes" and "metric" not in raw and "metrics" not in raw:
        c.add("metric", "bayes needs a metric to optimise: add metric.name (and goal)")
    pbt = None
    if method == "pbt":
        from . import pbt as pbt_block

        pbt = pbt_block.parse(raw.get("pbt"), seen, c.add)
        if "metric" not in raw:
            c.add("metric", "pbt needs the metric its members are compared by: add metric.name "
                  "(and goal)" + (" (one: pbt compares members by one metric, not several)"
                                  if "metrics" in raw else ""))
        if "early_terminate" in raw:
            c.add("early_terminate", "pbt judges its members itself (the bottom quantile copies "
                  "the top one every pbt.interval steps): remove early_terminate")
        if "run_cap" in raw:
            c.add("run_cap", "pbt runs pbt.population members: remove run_cap")
    elif "pbt" in raw:
        c.add("pbt", f"is the setting of method: pbt; this sweep's method is {_describe(method)}")
    run_cap = raw.get("run_cap")
    if "run_cap" in raw and not (_whole(run_cap) and run_cap > 0):
        c.add("run_cap", f"must be an integer > 0, got {_describe(run_cap)}")
    elif run_cap is not None:
        run_cap = int(run_cap)
    for k in ("program", "name", "description", "project", "entity", "apiVersion"):
        if k in raw and not isinstance(raw[k], str):
            c.add(k, f"must be a string, got {_describe(raw[k])}")
    if "kind" in raw and raw["kind"] != "sweep":
        c.add("kind", f"must be 'sweep', got {_describe(raw['kind'])}")
    if "controller" in raw:
        ctl = raw["controller"]
        if not isinstance(ctl, dict) or ctl.get("type") not in ("local", "cloud"):
            c.add("controller.type", f"must be 'local' or 'cloud', got {_describe(ctl)}")
    command = raw.get("command")
    if command is not None:
        if not isinstance(command, list):
            c.add("command", f"must be a list of arguments, got {_describe(command)}")
        else:
            for i, tok in enumerate(command):
                if isinstance(tok, (dict, list)) or tok is None:
                    c.add(f"command[{i}]", f"must be a string, got {_describe(tok)}")
    extension = c.extension(raw["sweepcli"]) if "sweepcli" in raw else {}
    conditions = c.conditions(extension["conditions"], seen) if "conditions" in extension else ()
    rules = c.rules(extension.get("forbid"), extension.get("require"), seen) \
        if "forbid" in extension or "require" in extension else None
    limits = c.limits(extension["constraints"]) if "constraints" in extension else ()
    if c.problems or not isinstance(method, str):
        raise ConfigError(c.problems)
    return SweepConfig(
        raw=raw,
        method=method,
        space=Space(tuple(params), conditions, rules or None),
        constraints=limits,
        metric=metric,
        metrics=metrics,
        early_stop=early_stop,
        pbt=pbt,
        run_cap=run_cap,
        program=raw.get("program"),
        command=tuple(str(t) for t in command) if command else None,
        name=raw.get("name"),
        description=raw.get("description"),
        project=raw.get("project"),
        extension=extension,
        warnings=tuple(c.warnings) + _project_warning(raw.get("project")),
    )


def _project_warning(project: Any) -> tuple[str, ...]:
    if isinstance(project, str) and project and not PROJECT_NAME_RE.match(project):
        return (f"project: {project!r} cannot name a folder (letters, digits, '_', '.', '-'); "
                "the sweep is created without a project (use --project to choose one)",)
    return ()


#: values on one grid axis at most: more is a typo in q, not a grid anyone can run
MAX_GRID_AXIS = 10**9


def _overflow(p: Param) -> str | None:
    """Why drawing from ``p`` would give a number a program cannot receive (an overflow, an
    infinity) or a step its grid could not count, in words; None when it cannot."""
    d, s = p.distribution, p.spec
    if d in ("constant", "categorical", "categorical_w_probabilities", "int_uniform", "beta"):
        return None
    try:
        ends = [float(p._from_unit_raw(u)) for u in (0.0, 1.0)]
    except (OverflowError, ValueError):
        ends = [math.inf]
    if not all(math.isfinite(x) and abs(x) < 1e300 for x in ends):
        return (f"{d} with these settings draws values that overflow a float (or reach "
                "infinity), which no program can receive: narrow it (mu, sigma, min or max)")
    if d.startswith("q_"):
        q = s["q"]
        top = max(abs(x) for x in ends)
        if not math.isfinite(top / q) or top / q > 2**63:
            return (f"q {q!r} is too small for values up to {top:g}: each value would be a "
                    "multiple of q beyond counting; use a larger q")
        if d == "q_uniform" and math.ceil((s["max"] - s["min"]) / q) > 2**62:
            return f"q {q!r} gives more steps from min to max than can be counted; use a larger q"
    return None


def _allowed(p: Param) -> str:
    """What a parameter takes, in words, for an error about a value it does not."""
    d, s = p.distribution, p.spec
    if d == "constant":
        return f"the constant {_describe(s['value'])}"
    if p.is_categorical:
        return f"one of {_describe(s['values'])}"
    if d == "int_uniform":
        return f"an integer from {s['min']} to {s['max']}"
    lo, hi = p._bounds()
    step = f" in steps of {s['q']}" if d.startswith("q_") else ""
    if math.isinf(lo) and math.isinf(hi):
        return f"a number{step}"
    return f"a number from {lo:g} to {hi:g}{step}"


def check_point(space: Space, point: dict[str, Any], where: str = "") -> list[Problem]:
    """What keeps ``point`` (flat dotted names, or nested as the program sees it) from
    being a point of ``space``: unknown names and values outside a parameter's support,
    each named. Parameters it leaves out are not problems (the caller fills them)."""
    flat: dict[str, Any] = {}
    names = space.names
    problems = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for k, v in node.items():
            name = f"{prefix}{k}"
            if name in names:
                flat[name] = v
            elif isinstance(v, dict) and any(n.startswith(name + ".") for n in names):
                walk(v, name + ".")
            else:
                problems.append(Problem(f"{where}{name}", "not a parameter of this sweep: "
                                        + _unknown(name, names)))

    walk(point, "")
    for name, value in flat.items():
        p = space[name]
        if not p.contains(value):
            problems.append(Problem(f"{where}{name}", f"{_describe(value)} is outside the "
                                    f"sweep's space: {name} takes {_allowed(p)}"))
    return problems
