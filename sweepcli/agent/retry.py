"""Doing what a full or failing disk, or a sweep lock held or lost elsewhere, refuses now:
tried again, saying so once, for up to ten minutes (or for as long as it takes when what
it writes is kept safe meanwhile)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import SweepcliError, describe
from ..backoff import Backoff
from ..store import LockLost, LockTimeout
from ..store.lock import transient

IO_RETRY_FOR = 600.0  # a full or failing disk: keep trying this long before giving up


class AgentError(SweepcliError, RuntimeError):
    """The agent stops with exit status 1 (flapping, no program, a disk that stays full...)."""


class Retry:
    """``retry(what, action)``: ``action()``, tried again while it fails transiently.
    ``say``: how to tell a person; ``stopping()``: whether the agent is being stopped
    (preempted, Ctrl-C), when what is kept is handed over instead of waited for."""

    def __init__(self, say: Callable[[str], None], stopping: Callable[[], bool]):
        self.say = say
        self.stopping = stopping

    def __call__(self, what: str, action: Callable[[], Any],
                 kept: Callable[[], str | None] = lambda: None) -> Any:
        """``action()``, tried again while it fails with a transient error (a full disk, an
        I/O error, the lock held or lost), for up to :data:`IO_RETRY_FOR` seconds.

        ``kept()``: where what the action writes is kept meanwhile, once it is (None until
        then). What is kept is never lost, so then a sweep lock held elsewhere (a process
        stopped while it holds it) is waited out for as long as it takes, and a preemption
        or Ctrl-C hands over: the action is left to whoever takes the lock next (None)."""
        start, backoff, said, last_said = time.monotonic(), Backoff(0.05, 2.0), False, 0.0
        while True:
            try:
                result = action()
            except (OSError, LockTimeout, LockLost) as exc:
                where = kept()
                waited = time.monotonic() - start
                patient = where is not None and isinstance(exc, (LockTimeout, LockLost))
                if not transient(exc) or (waited > IO_RETRY_FOR and not patient):
                    raise AgentError(f"cannot {what}: {describe(exc)}"
                                     + (f"; {where}" if where else "")) from None
                if where is not None and self.stopping():
                    self.say(f"cannot {what} now ({describe(exc)}); {where}")
                    return None
                if not said or waited - last_said > IO_RETRY_FOR:
                    self.say(f"cannot {what} yet ({describe(exc)}); "
                             + (f"{where}; waiting" if where else "retrying"))
                    said, last_said = True, waited
                backoff.wait()
                continue
            if said:
                self.say(f"{what}: done")
            return result
