"""A run as a function of this process (``sweepcli.agent(ID, function=train)``, W&B's
``wandb.agent(sweep_id, function=...)``): the run's variables set around the call, and a
watcher thread that asks the function to stop (``run.should_stop``) when the run must end."""

from __future__ import annotations

import importlib
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..runs import RunState
from .process import RunProcess
from .watch import RunWatch

WATCH_POLL = 0.1  # seconds between looks at a running run

#: what the shim replaces on a real ``wandb`` module the program imported already
_SHIM_NAMES = ("init", "log", "finish", "define_metric", "watch", "unwatch", "save", "alert",
               "log_artifact", "use_artifact", "log_model", "mark_preempting", "login")


@contextmanager
def wandb_in_this_process(mode: str) -> Iterator[None]:
    """``--wandb`` for a function run in this process, as for a program: ``shim`` makes
    ``wandb.init/log/config/run/summary/finish`` sweepcli's helper for the run (on a real
    ``wandb`` the function's module imported already, and put back after); ``offline`` taps
    the real wandb's ``Run.log/finish`` (it logs offline: ``WANDB_MODE`` is set with the
    run's other variables); ``off`` leaves wandb alone."""
    if mode == "offline":
        try:
            wandb_run = importlib.import_module("wandb.sdk.wandb_run")
        except Exception:  # noqa: BLE001 - no real wandb here: the function's import fails as it would
            yield
            return
        importlib.import_module("sweepcli.shim.offline.sitecustomize")._patch(wandb_run)
        try:
            yield
        finally:
            # wandb reads its settings (the sweep's parameter file among them) once per
            # setup: the next run's must be read anew
            teardown = getattr(sys.modules.get("wandb"), "teardown", None)
            if callable(teardown):
                try:
                    teardown()
                except Exception:  # noqa: BLE001 - wandb's own shutdown: the run is recorded
                    pass
        return
    if mode != "shim":
        yield
        return
    shim = importlib.import_module("sweepcli.shim.wandb")
    real = sys.modules.get("wandb")
    if real is None or real is shim:
        sys.modules["wandb"] = shim
        try:
            yield
        finally:
            if sys.modules.get("wandb") is shim and real is None:
                del sys.modules["wandb"]
        return
    saved = {name: real.__dict__[name] for name in (*_SHIM_NAMES, "run", "config", "summary")
             if name in real.__dict__}

    def init(*args: Any, **kwargs: Any) -> Any:
        run = shim.init(*args, **kwargs)
        for name, value in (("run", run), ("config", run.config), ("summary", run.summary)):
            setattr(real, name, value)
        return run

    def finish(*args: Any, **kwargs: Any) -> None:
        shim.finish(*args, **kwargs)
        real.__dict__["run"] = None

    for name in _SHIM_NAMES:
        setattr(real, name, {"init": init, "finish": finish}.get(name, getattr(shim, name)))
    try:
        yield
    finally:
        for name in (*_SHIM_NAMES, "run", "config", "summary"):
            if name in saved:
                setattr(real, name, saved[name])
            elif name in real.__dict__:
                delattr(real, name)


def run_function(function: Callable[..., Any], env: dict[str, str], watch: RunWatch,
                 judge: Callable[[], RunState | None], pass_env: bool = False,
                 wandb_mode: str = "off") -> RunState:
    """Call ``function`` as the run; ``judge()`` (polled meanwhile) ends it early with the
    state it returns. Its traceback goes to stderr and the run's log; the state to record.
    ``pass_env``: call ``function(env)`` with the run's ``SWEEPCLI_*`` variables and leave
    this process's environment and helper alone (the function hands them on itself)."""
    from .. import child

    saved = dict(os.environ)
    if not pass_env:
        os.environ.update({k: v for k, v in env.items() if k.startswith(("SWEEPCLI_", "WANDB_"))})
        child.reset()
    done = threading.Event()
    ended: list[RunState] = []

    def watcher() -> None:
        while not done.wait(WATCH_POLL):
            if not ended:
                state = judge()
                if state is not None:
                    ended.append(state)

    thread = threading.Thread(target=watcher, daemon=True)
    thread.start()
    try:
        if pass_env:
            function({k: v for k, v in env.items() if k.startswith("SWEEPCLI_")})
        else:
            with wandb_in_this_process(wandb_mode):
                function()
        state = RunState.FINISHED
    except Exception:
        traceback.print_exc()
        try:
            with RunProcess.open_log(watch.run_dir / "output.log") as f:
                f.write(traceback.format_exc().encode())
        except OSError:
            pass
        state = RunState.FAILED
    finally:
        done.set()
        thread.join()
        if not pass_env:
            child.finish_current()
            os.environ.clear()
            os.environ.update(saved)
    return ended[0] if ended else state
