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


#: where ``import wandb`` finds sweepcli's helper (``--wandb shim``)
SHIM_DIR = Path(__file__).resolve().parent.parent / "shim"


def wandb_env(env: dict[str, str], mode: str) -> None:
    """What ``import wandb`` is in a program: ``shim`` puts sweepcli's helper first on its
    ``PYTHONPATH`` (whether or not the real package is installed); ``off`` leaves it be."""
    if mode == "offline":
        raise CommandError("--wandb offline (the real wandb logging offline beside sweepcli) "
                           "is not available yet: use shim (the default) or off")
    env["SWEEPCLI_WANDB"] = mode
    if mode == "shim":
        path = env.get("PYTHONPATH")
        env["PYTHONPATH"] = str(SHIM_DIR) + (os.pathsep + path if path else "")
