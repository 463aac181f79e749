"""The helper the shim stands on: sweepcli's ``child`` module. From the sweepcli package
when the program's Python has it; else (a conda env's or a project venv's Python, sweepcli
installed with pipx) loaded from its file in the sweepcli this shim belongs to: it needs
only the standard library, so ``import wandb`` works in any Python 3.8+."""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType


def load_child() -> ModuleType:
    try:
        from sweepcli import child

        return child
    except Exception:  # noqa: BLE001 - not there, or not importable in this Python
        pass
    name = "_sweepcli_child"
    if name in sys.modules:
        return sys.modules[name]
    # <sweepcli>/shim/wandb/_helper.py -> <sweepcli>/child.py
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "child.py")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


child = load_child()
