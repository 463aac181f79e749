"""The one way sweepcli waits before it tries again (a lock held elsewhere, a full or
failing disk, a database connection lost): waits that double from a first one up to a cap,
so a short hiccup costs little and a long one does not spin."""

from __future__ import annotations

import time


class Backoff:
    """``wait()`` sleeps ``delay`` seconds, then doubles it, up to ``cap``."""

    def __init__(self, first: float, cap: float):
        self.delay = first
        self.cap = cap

    def wait(self) -> None:
        time.sleep(self.delay)
        self.delay = min(self.delay * 2, self.cap)
