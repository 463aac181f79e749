"""Render a run's command line from W&B's macros. No shell is ever involved."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import SweepcliError

DEFAULT_COMMAND = ("${env}", "${interpreter}", "${program}", "${args}")
_ENVVAR = re.compile(r"\$\{envvar:([A-Za-z_][A-Za-z0-9_]*)\}")


class CommandError(SweepcliError, ValueError):
    """The command cannot be rendered (e.g. ${program} with no program)."""


def _text(value: Any) -> str:
    """Values render with Python's str(), as W&B renders them (True -> 'True')."""
    return str(value)


def render_command(
    command: tuple[str, ...] | None,
    program: str | None,
    flat_params: dict[str, Any],
    nested_params: dict[str, Any],
    config_file: str,
    environ: dict[str, str] | None = None,
) -> list[str]:
    """The argv of a run. Nested parameters appear with dotted names (``--model.lr=0.1``)."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    items = list(flat_params.items())
    macros: dict[str, list[str]] = {
        "${env}": ["/usr/bin/env"] if os.name == "posix" else [],
        "${interpreter}": [sys.executable],
        "${args}": [f"--{k}={_text(v)}" for k, v in items],
        "${args_no_hyphens}": [f"{k}={_text(v)}" for k, v in items],
        "${args_no_equals}": [t for k, v in items for t in (f"--{k}", _text(v))],
        "${args_append_hydra}": [f"+{k}={_text(v)}" for k, v in items],
        "${args_override_hydra}": [f"++{k}={_text(v)}" for k, v in items],
        "${args_no_boolean_flags}": [
            f"--{k}" if v is True else f"--{k}={_text(v)}" for k, v in items if v is not False
        ],
        "${args_json}": [json.dumps(nested_params)],
        "${args_json_file}": [config_file],
    }
    argv: list[str] = []
    for token in command or DEFAULT_COMMAND:
        if token == "${program}":
            if not program:
                raise CommandError(
                    "the sweep config has no 'program' but its command uses ${program}: "
                    "add program: train.py (or a command without it)"
                )
            argv.append(program)
        elif token in macros:
            argv.extend(macros[token])
        else:
            argv.append(_ENVVAR.sub(lambda m: env.get(m.group(1), ""), token))
    if not argv:
        raise CommandError("the command is empty")
    return argv


def resolve_program(program: str | None, source_dir: str | None, cwd: Path | None = None
                    ) -> str | None:
    """Where a run's ``program`` is: as given when it is absolute or found from the agent's
    working folder (W&B's rule), else beside the sweep file the sweep was created from (so
    an agent started in any folder, a batch job's, runs it)."""
    if not program or os.path.isabs(program) or not source_dir:
        return program
    here = Path.cwd() if cwd is None else cwd
    if (here / program).exists():
        return program
    beside = Path(source_dir) / program
    return str(beside) if beside.exists() else program


def program_missing(program: str | None, source_dir: str | None) -> str | None:
    """What to say when a relative ``program`` is in neither place (no run is spent on it)."""
    if not program or os.path.isabs(program) or resolve_program(program, source_dir) != program:
        return None
    if Path(program).exists():
        return None
    where = (f"neither in this folder ({Path.cwd()}) nor beside its sweep file ({source_dir})"
             if source_dir else f"not in this folder ({Path.cwd()})")
    return (f"the sweep's program {program!r} is {where}: no run was started; start the agent "
            "where the program is, or create the sweep with --program /full/path")


#: where ``import wandb`` finds sweepcli's helper (``--wandb shim``)
SHIM_DIR = Path(__file__).resolve().parent.parent / "shim"
#: the start-up hook that taps the real wandb's runs (``--wandb offline``)
OFFLINE_DIR = SHIM_DIR / "offline"
#: the run's parameters in W&B's sweep format, read by the real wandb's ``init`` (offline)
WANDB_PARAMS = "wandb-sweep-params.yaml"


def wandb_env(env: dict[str, str], mode: str, run_dir: Path | None = None) -> None:
    """What ``import wandb`` is in a program: ``shim`` puts sweepcli's helper first on its
    ``PYTHONPATH`` (whether or not the real package is installed); ``offline`` lets the real
    wandb log offline (``wandb sync`` later) with the sweep's parameters as its config, and
    taps its ``log``/``finish`` for the metric lines; ``off`` leaves it be."""
    env["SWEEPCLI_WANDB"] = mode
    first = {"shim": SHIM_DIR, "offline": OFFLINE_DIR}.get(mode)
    if first is not None:
        path = env.get("PYTHONPATH")
        env["PYTHONPATH"] = str(first) + (os.pathsep + path if path else "")
    if mode == "offline":
        env["WANDB_MODE"] = "offline"
        if run_dir is not None:
            env["WANDB_SWEEP_PARAM_PATH"] = str(run_dir / WANDB_PARAMS)
        if "SWEEPCLI_RUN_ID" in env:
            env.setdefault("WANDB_NAME", env["SWEEPCLI_RUN_ID"])
        if "SWEEPCLI_SWEEP_ID" in env:
            env.setdefault("WANDB_RUN_GROUP", env["SWEEPCLI_SWEEP_ID"])


def wandb_params(nested: dict[str, Any]) -> str:
    """The text of W&B's sweep parameter file (``wandb_version: 1`` then ``key: {value: v}``),
    which the real ``wandb.init`` reads from ``WANDB_SWEEP_PARAM_PATH``: the sweep's values
    win over the program's, as under W&B's own agent."""
    import yaml

    body = {k: {"value": v} for k, v in nested.items()}
    return "wandb_version: 1\n\n" + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def real_wandb_missing() -> bool:
    """True when this Python has no real ``wandb`` (``--wandb offline`` needs one)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("wandb")
    except (ImportError, ValueError):
        return True
    return spec is None or spec.origin is None or Path(spec.origin).resolve().is_relative_to(SHIM_DIR)
