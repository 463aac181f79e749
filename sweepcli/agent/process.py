"""Start a run's program in its own process group, tee its output, stop it when told."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

from ..store.files import open_nofollow


def _tee(src: IO[bytes], sinks: list[IO[bytes]], lock: threading.Lock) -> None:
    for chunk in iter(lambda: src.read1(65536), b""):  # type: ignore[attr-defined]
        with lock:
            for sink in sinks:
                try:
                    sink.write(chunk)
                    sink.flush()
                except (OSError, ValueError):
                    pass
    src.close()


class RunProcess:
    """A running program; ``ended`` is set the moment it exits."""

    @staticmethod
    def open_log(path: Path) -> IO[bytes]:
        """The run's log, opened for appending without following a planted symlink."""
        return os.fdopen(open_nofollow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab")

    def __init__(self, argv: list[str], env: dict[str, str], log: IO[bytes],
                 echo: tuple[IO[bytes], IO[bytes]] | None = None):
        """``log``: an open log file, closed by :meth:`finish`; ``echo``: where stdout and
        stderr go besides the log (None: the log only)."""
        self.log = log
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(  # noqa: S603 - argv list, never a shell
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: signals reach all its children
        )
        self.pgid = self.proc.pid
        out = [self.log] + ([echo[0]] if echo else [])
        err = [self.log] + ([echo[1]] if echo else [])
        self._threads = [
            threading.Thread(target=_tee, args=(self.proc.stdout, out, self._lock), daemon=True),
            threading.Thread(target=_tee, args=(self.proc.stderr, err, self._lock), daemon=True),
        ]
        for t in self._threads:
            t.start()
        self.ended = threading.Event()
        self.returncode: int | None = None
        #: whether the agent has signalled it (an exit before that was its own)
        self.signalled = False
        threading.Thread(target=self._wait, daemon=True).start()

    def _wait(self) -> None:
        self.returncode = self.proc.wait()
        self.ended.set()

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def terminate(self, grace: float, sig: int = signal.SIGTERM, notice: float = 0.0,
                  went_on: threading.Event | None = None) -> None:
        """``sig`` (SIGTERM) to the group, SIGKILL after ``grace`` seconds if it is still there.
        ``notice``: first wait up to this long for it to end by itself (it was asked through
        its ``stop`` file, or is saving after its last line), unless ``went_on`` is set (it
        logged another step: it is not at its end)."""
        until = time.monotonic() + notice
        while notice > 0 and not (went_on is not None and went_on.is_set()):
            if self.ended.wait(min(0.05, max(0.0, until - time.monotonic()))):
                self._kill_leftovers()
                return
            if time.monotonic() >= until:
                break
        self.signalled = True
        self.signal_group(sig)
        if not self.ended.wait(grace):
            self.signal_group(signal.SIGKILL)
            self.ended.wait()
        self._kill_leftovers()

    def _kill_leftovers(self) -> None:
        # Children that outlive the program (orphans holding a GPU) get the group's SIGKILL.
        self.signal_group(signal.SIGKILL)

    def finish(self) -> int:
        """Wait for the end, collect the output, close the log; the exit code."""
        self.ended.wait()
        self._kill_leftovers()
        deadline = time.monotonic() + 5
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self.log.close()
        assert self.returncode is not None
        return self.returncode
