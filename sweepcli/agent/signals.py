"""What the batch system and the person at the terminal ask of an agent, as flags: SIGTERM
or SIGUSR1 preempts (the run is stopped and its point requeued), Ctrl-C counts. A handler
only sets a flag; the loop acts on it (no I/O in a handler)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any


class Signals:
    """The agent's signals: ``preempt`` is set by SIGTERM/SIGUSR1 (``received`` says which,
    for ``-f``), ``interrupts`` counts Ctrl-C."""

    def __init__(self) -> None:
        self.preempt = threading.Event()
        self.interrupts = 0
        self.received = signal.SIGTERM

    @property
    def stopping(self) -> bool:
        """Preempted or interrupted: no new run starts."""
        return self.preempt.is_set() or bool(self.interrupts)

    def install(self, catch_sigint: bool) -> Callable[[], None]:
        """Take SIGTERM and SIGUSR1 (and SIGINT, unless in-process runs should get Python's
        usual KeyboardInterrupt); returns what puts the previous handlers back. Off the main
        thread (where Python takes no signals) nothing is installed."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}

        def preempt(signum: int, frame: Any) -> None:
            self.received = signal.Signals(signum)
            self.preempt.set()

        def interrupt(signum: int, frame: Any) -> None:
            self.interrupts += 1

        signal.signal(signal.SIGTERM, preempt)
        signal.signal(signal.SIGUSR1, preempt)
        if catch_sigint:
            signal.signal(signal.SIGINT, interrupt)

        def restore() -> None:
            for s, h in previous.items():
                signal.signal(s, h)

        return restore
