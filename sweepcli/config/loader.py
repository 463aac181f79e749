"""Read a sweep config from YAML (safe_load only) with numbers read as people write them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .validate import MAX_DEPTH, ConfigError, Problem, SweepConfig, json_problems, validate


class _SweepYamlLoader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-5`` as a float (YAML 1.1 demands a dot: "1.0e-5")."""


_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
# Dates and times stay the strings they were written as (2024-01-01): a program receives
# its parameters as JSON, which has no date type.
_SweepYamlLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:float",
                                                  "tag:yaml.org,2002:timestamp")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SweepYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", _FLOAT, list("-+0123456789.")
)


def parse_yaml(text: str, source: str = "<config>", max_nodes: int | None = None) -> Any:
    """Parse YAML text; a syntax error becomes a ConfigError naming line and column. With
    ``max_nodes`` (data that is not a config, which ``validate`` checks itself), so does a
    document of more values than that once its aliases are expanded (an alias bomb of a few
    hundred bytes), nested too deeply, or holding what JSON cannot."""
    try:
        data = yaml.load(text, Loader=_SweepYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        what = exc.problem or exc.context or "invalid YAML"
        hint = ""
        if mark is not None:
            line = text.splitlines()[mark.line] if mark.line < len(text.splitlines()) else ""
            if "${" in line and not any(f"{q}${{" in line for q in "'\""):
                # [${env}, python] reads as a list holding a mapping: W&B's macros need quotes
                hint = ("; a value that starts with ${ must be quoted in YAML: "
                        "command: [\"${env}\", python, \"${program}\", \"${args}\"], or one "
                        "item a line (- ${env})")
        raise ConfigError([Problem("", f"{source}: YAML syntax error at {where}: {what}{hint}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem("", f"{source}: YAML error: {exc}")]) from None
    except RecursionError:
        raise ConfigError([Problem("", f"{source}: nested too deeply to be a sweep config "
                                       f"(at most {MAX_DEPTH} levels)")]) from None
    problems = json_problems(data, max_nodes) if max_nodes is not None else []
    if problems:
        raise ConfigError([Problem("", f"{source}: {p}") for p in problems])
    return data


def load_config(source: str | Path | dict) -> SweepConfig:
    """Load and validate a config from a YAML/JSON file path or a dict."""
    if isinstance(source, dict):
        return validate(source)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read config file {path}: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem("", f"{path}: not a UTF-8 text file")]) from None
    raw = parse_yaml(text, str(path))
    if raw is None:
        raise ConfigError([Problem("", f"{path}: the file is empty")])
    return validate(raw, source=str(path))
