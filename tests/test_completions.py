"""Completion scripts: up to date with the Click app, loadable, completing sweep IDs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: every test here starts processes (a Hydra multirun, a shell)
pytestmark = pytest.mark.e2e

COMPLETIONS = Path(__file__).resolve().parent.parent / "completions"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_up_to_date(shell) -> None:
    generated = subprocess.run([sys.executable, "-m", "sweepcli"], capture_output=True, text=True,
                               env={**os.environ, "_SWEEPCLI_COMPLETE": f"{shell}_source"}).stdout
    assert generated.strip(), "click produced no script"
    assert (COMPLETIONS / f"sweepcli.{shell}").read_text() == generated, (
        "completions/ is stale: regenerate it (see completions/README.md)")


def test_bash_script_registers_the_completion() -> None:
    if not shutil.which("bash"):
        pytest.skip("no bash")
    out = subprocess.run(["bash", "-c", f"source {COMPLETIONS / 'sweepcli.bash'}; complete -p sweepcli"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "sweepcli" in out.stdout


def _complete(env, words: str, cword: int) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "sweepcli"], capture_output=True, text=True, cwd=env.tmp,
                         env={**env.env, "COMP_WORDS": words, "COMP_CWORD": str(cword),
                              "_SWEEPCLI_COMPLETE": "bash_complete"})
    return [line.split(",", 1)[1] for line in out.stdout.splitlines()]


def test_sweep_ids_are_completed_from_the_sweep_folder(env) -> None:
    a = env.create({"method": "random", "parameters": {"x": {"value": 1}}})
    b = env.create({"method": "random", "parameters": {"x": {"value": 1}}}, "--project", "proj")
    assert sorted(_complete(env, "sweepcli agent ", 2)) == sorted([a, f"proj/{b}"])
    assert _complete(env, f"sweepcli sweep --print {a[:3]}", 3) == [a]
    assert "--count" in _complete(env, "sweepcli agent --", 2)
