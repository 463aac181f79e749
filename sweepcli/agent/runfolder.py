"""A run's folder between attempts: the previous attempt's program stopped if it still runs
on this host, and what it left (a stop request, a signal mark, a kept end, a torn metric
line) made ready for the next one."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ..store.files import HELPER, KEPT_END, SIGNALED, STOP_SEEN, open_nofollow


def stop_leftover_program(run_dir: Path, run_id: str) -> bool:
    """Kill the previous attempt's program if it still runs on this host (its agent was
    SIGKILLed and the program lived on): two attempts must not write one folder. Only a
    process group whose leader's environment names this very run is touched."""
    try:
        pgid = int((run_dir / "pid").read_text().strip())
        with open(f"/proc/{pgid}/environ", "rb") as f:
            environ = f.read().split(b"\0")
    except (OSError, ValueError):
        return False  # no pid file, gone, another host's, or not ours to read
    if f"SWEEPCLI_RUN_ID={run_id}".encode() not in environ or pgid <= 1:
        return False
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        return False
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    return True


def resume_folder(run_dir: Path) -> None:
    """Make a run's folder ready for its next attempt: no stop request left from the last
    one, and a metric file whose torn last line (its agent died mid-write) is ended, so the
    new attempt's first line is not glued to it."""
    for name in ("stop", SIGNALED, STOP_SEEN, HELPER, KEPT_END):
        try:
            (run_dir / name).unlink()
        except FileNotFoundError:
            pass
    path = run_dir / "metrics.jsonl"
    fd = open_nofollow(path, os.O_RDWR | os.O_APPEND)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            os.write(fd, b"\n")
    finally:
        os.close(fd)
