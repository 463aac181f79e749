"""Under ``sweepcli agent --wandb offline``: the program's real ``wandb`` logs offline (the
user runs ``wandb sync`` later) and every ``log``/``finish`` of a W&B run is also told to
sweepcli's helper, which writes the run's metric lines and summary for the agent.

The agent puts this folder first on the program's ``PYTHONPATH``, so Python runs this file
at start-up; any other ``sitecustomize`` the environment has is run too. Nothing happens
until the program imports ``wandb``: then ``wandb.sdk.wandb_run.Run`` gains the tap.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_TARGET = "wandb.sdk.wandb_run"


def _run_next_sitecustomize() -> None:
    """The environment's own ``sitecustomize`` (Debian's, a cluster's), which this file hides."""
    for entry in sys.path:
        if not entry or os.path.abspath(entry) == _HERE:
            continue
        path = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(path):
            spec = importlib.util.spec_from_file_location("_sweepcli_next_sitecustomize", path)
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                try:
                    spec.loader.exec_module(module)
                except Exception as e:  # as Python treats a failing sitecustomize: say, go on
                    print(f"Error in sitecustomize ({path}): {e!r}", file=sys.stderr)
            return


def _note(message: str) -> None:
    print(f"sweepcli: {message}", file=sys.stderr, flush=True)


def _tap() -> Any:
    child: Any
    try:
        from sweepcli import child
    except Exception:  # noqa: BLE001 - the program's Python has no sweepcli: load its helper file
        import importlib.util

        child = sys.modules.get("_sweepcli_child")
        if child is None:
            path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
                os.path.abspath(__file__)))), "child.py")
            spec = importlib.util.spec_from_file_location("_sweepcli_child", path)
            assert spec is not None and spec.loader is not None
            child = importlib.util.module_from_spec(spec)
            sys.modules["_sweepcli_child"] = child
            spec.loader.exec_module(child)
    return child.current()


def _patch(module: Any) -> None:
    run_class = getattr(module, "Run", None)
    if run_class is None or getattr(run_class, "_sweepcli_tapped", False):
        return
    original_log = run_class.log
    original_finish = run_class.finish

    @functools.wraps(original_log)
    def log(self: Any, data: Any, step: Any = None, commit: Any = None, *args: Any, **kwargs: Any) -> Any:
        result = original_log(self, data, step, commit, *args, **kwargs)
        try:
            _tap().log(data, step=step, commit=commit)
        except Exception as e:  # W&B took it; the sweep's copy must not end the program
            _note(f"this log() was not written to the sweep's metric lines: {e}")
        return result

    @functools.wraps(original_finish)
    def finish(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            tap = _tap()
            logged = dict(tap.summary)
            kept = {}
            for key, value in dict(self.summary).items():
                if str(key).startswith("_") or (key in logged and logged[key] == value):
                    continue
                if isinstance(value, (int, float, str, bool)) or value is None:
                    kept[key] = value
            if kept:
                tap.summary.update(kept)
            tap.finish()
        except Exception as e:
            _note(f"the sweep's copy of this run's summary could not be written: {e}")
        return original_finish(self, *args, **kwargs)

    run_class.log = log
    run_class.finish = finish
    run_class._sweepcli_tapped = True


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: Any):
        self._inner = inner

    def create_module(self, spec: Any) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._inner.exec_module(module)
        _patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``wandb.sdk.wandb_run`` as the other finders do, and taps it once loaded."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != _TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


if __name__ == "sitecustomize":  # at start-up (an in-process agent imports it only to tap)
    if os.environ.get("SWEEPCLI_WANDB") == "offline":
        sys.meta_path.insert(0, _Finder())
    _run_next_sitecustomize()
