"""A run as a function of this process (``sweepcli.agent(ID, function=train)``, W&B's
``wandb.agent(sweep_id, function=...)``): the run's variables set around the call, and a
watcher thread that asks the function to stop (``run.should_stop``) when the run must end."""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Callable
from typing import Any

from ..runs import RunState
from .process import RunProcess
from .watch import RunWatch

WATCH_POLL = 0.1  # seconds between looks at a running run


def run_function(function: Callable[..., Any], env: dict[str, str], watch: RunWatch,
                 judge: Callable[[], RunState | None], pass_env: bool = False) -> RunState:
    """Call ``function`` as the run; ``judge()`` (polled meanwhile) ends it early with the
    state it returns. Its traceback goes to stderr and the run's log; the state to record.
    ``pass_env``: call ``function(env)`` with the run's ``SWEEPCLI_*`` variables and leave
    this process's environment and helper alone (the function hands them on itself)."""
    from .. import child

    saved = dict(os.environ)
    if not pass_env:
        os.environ.update({k: v for k, v in env.items() if k.startswith("SWEEPCLI_")})
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
