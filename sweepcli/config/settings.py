"""The ``sweepcli:`` settings of a config, each declared once: its type and default (a
field of :class:`Settings`), what it takes in words and the check of a value (a
:class:`Setting`). The validator, its error messages, the readers and the README's
table (checked by a test) all come from here."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(float(v)))


def _amounts(v: Any) -> bool:
    """{steps: N}, {hours: H}, {gpu_hours: H}, or {runs: N} and/or {hours: H}: at least one."""
    if not isinstance(v, dict) or not v:
        return False
    for k, x in v.items():
        if k in ("steps", "runs"):
            if not (_int(x) and x >= 1):
                return False
        elif k in ("hours", "gpu_hours"):
            if not (_number(x) and x > 0):
                return False
        else:
            return False
    return True


def _budget(v: Any) -> bool:
    return _amounts(v) and "runs" not in v


def _stop_when(v: Any) -> bool:
    return (isinstance(v, dict) and set(v) == {"no_improvement"}
            and _amounts(v["no_improvement"]) and "steps" not in v["no_improvement"]
            and "gpu_hours" not in v["no_improvement"])


@dataclass(frozen=True)
class Settings:
    """A config's ``sweepcli:`` settings, defaults filled (``conditions`` is the space's)."""

    seed: int | None = None
    initial_random: int = 10
    max_history: int = 300
    stop_grace_seconds: float = 30.0
    run_timeout: float | None = None
    max_retries: int = 3
    budget: dict[str, Any] | None = None
    stop_when: dict[str, Any] | None = None
    wandb: str = "shim"


@dataclass(frozen=True)
class Setting:
    """One key under ``sweepcli:``: what it takes, in words, and the check of a value."""

    key: str
    takes: str
    check: Callable[[Any], bool]


SETTINGS: tuple[Setting, ...] = (
    Setting("seed", "an integer: the same points in the same order each time (without it, "
            "each sweep draws its own)", _int),
    Setting("initial_random", "an integer >= 1: random runs before bayes fits its model",
            lambda v: _int(v) and v >= 1),
    Setting("max_history", "an integer >= 20: ended runs bayes fits at most",
            lambda v: _int(v) and v >= 20),
    Setting("stop_grace_seconds", "a number >= 0: seconds between SIGTERM and SIGKILL",
            lambda v: _number(v) and v >= 0),
    Setting("run_timeout", "a number > 0: seconds a run may go on before it is stopped "
            "(reason timeout)", lambda v: _number(v) and v > 0),
    Setting("max_retries", "an integer >= 0: how many times a run whose agent vanished "
            "(crashed) is resumed before it is failed instead: 0, failed at its first crash; "
            "3, at its fourth (preemptions do not count)", lambda v: _int(v) and v >= 0),
    Setting("budget", "a mapping {steps: N} (metric lines across all runs, N an integer >= 1) "
            "and/or {hours: H} (run-hours across agents, H a number > 0) and/or {gpu_hours: H} "
            "(run-hours times the GPUs each run was given by its agent's --gpus, a shared GPU "
            "counted in part): the sweep ends when any is spent, running runs stopped "
            "gracefully", _budget),
    Setting("stop_when", "a mapping {no_improvement: {runs: N}} and/or {no_improvement: "
            "{hours: H}}: the sweep ends when its best has not improved over the last N ended "
            "runs, or for H hours", _stop_when),
    Setting("wandb", "shim, offline or off: what `import wandb` is in the programs (see "
            "sweepcli agent --wandb)", lambda v: v in ("shim", "offline", "off")),
)
BY_KEY = {s.key: s for s in SETTINGS}
#: the default of each setting (None: unset)
DEFAULTS = {f.name: f.default for f in fields(Settings)}
assert set(DEFAULTS) == set(BY_KEY), "a setting declared in one place only"


def described(key: str) -> str:
    """What ``key`` takes and its default, for messages and the README."""
    default = DEFAULTS[key]
    if default is None:
        return BY_KEY[key].takes
    return BY_KEY[key].takes + (f" (default {default})" if isinstance(default, str)
                                else f" (default {default:g})")
