"""The config layer: parse, validate, fill defaults; the parameter space."""

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

