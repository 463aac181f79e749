"""The config layer: parse, validate, fill defaults; the parameter space."""

import sys
import types
from typing import Any

from .loader import load_config, parse_yaml
from .space import Param, Space, canonical, canonical_key, flat_names
from .validate import ConfigError, Hyperband, Metric, Problem, SweepConfig, is_number, validate

__all__ = [
    "ConfigError",
    "Hyperband",
    "Metric",
    "Param",
    "Problem",
    "Space",
    "SweepConfig",
    "canonical",
    "canonical_key",
    "flat_names",
    "is_number",
    "load_config",
    "parse_yaml",
    "validate",
]


class RunConfigModule(types.ModuleType):
    """This module's class: the config layer *and*, inside a training program, the current
    run's parameters (the contract's ``sweepcli.config.lr``): names the module does not
    define, and item access, are looked up in the run's config (the helper's, read when
    asked: nothing here imports it before)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        from ..child import current

        return getattr(current().config, name)

    def __getitem__(self, key: str) -> Any:
        from ..child import current

        return current().config[key]

    def __contains__(self, key: str) -> bool:
        from ..child import current

        return key in current().config


sys.modules[__name__].__class__ = RunConfigModule
