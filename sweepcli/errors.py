"""Every error sweepcli raises for a person to read, under one base with its exit status.

``UsageError`` (exit 2): what was asked cannot be done as asked (a config, an ID, a file, a
setting), and nothing was written. Any other ``SweepcliError`` (exit 1): something went
wrong doing it (a lock held too long, a journal damaged, a database unavailable). The CLI
turns them into a message and the status in one place (``cli.Group``); anything else is a
bug and keeps its traceback. Each is also the built-in exception it always was
(``ValueError``, ``RuntimeError``, ``LookupError``), for code that catches those.
"""

from __future__ import annotations


class SweepcliError(Exception):
    """An error a person can act on; exit status 1."""

    exit_code = 1


class UsageError(SweepcliError):
    """Bad usage, a bad config or input: nothing was written; exit status 2."""

    exit_code = 2


class Stopped(SweepcliError):
    """Not a fault: the agent stopped before the sweep's end for a reason its caller acts on
    (exit 3: its time is up or it was preempted with work left, a batch script requeues
    it; exit 130: interrupted, Ctrl-C). The message, if any, is a note, not an error."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def describe(exc: BaseException) -> str:
    """An error in words: an OSError's text with the file it concerns when it names one."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({exc.filename})" if exc.filename else exc.strerror
    return str(exc)
