"""The sweep lock: one writer at a time across processes and hosts.

Default (``SWEEPCLI_LOCK`` unset or ``fcntl``): an fcntl/flock lock through filelock. NFS
clients forward it to the server, and the kernel (or the server, after its lease) frees
it when the holder dies, so it is never left locked for good.

``SWEEPCLI_LOCK=soft``, for filesystems without working fcntl locks (Lustre mounted with
``localflock``, BeeGFS without global locks): an exclusive-create lock file holding host,
pid and time. A holder keeps it for milliseconds; one older than the stale time (or whose
holder on this host is gone) is broken by renaming it to a unique name, then deleting it.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

DEFAULT_TIMEOUT = 120.0
#: a soft lock file older than this is considered left by a dead holder
SOFT_STALE_SECONDS = float(os.environ.get("SWEEPCLI_SOFT_LOCK_STALE", "30"))


class LockTimeout(RuntimeError):
    """The lock could not be taken in time."""


def lock_kind() -> str:
    kind = os.environ.get("SWEEPCLI_LOCK", "fcntl").strip().lower() or "fcntl"
    if kind not in ("fcntl", "soft"):
        raise ValueError(f"SWEEPCLI_LOCK={kind!r}: expected 'fcntl' or 'soft'")
    return kind


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SoftLock:
    """An exclusive-create lock file, broken when stale."""

    def __init__(self, path: Path, stale_seconds: float = SOFT_STALE_SECONDS):
        self.path = path
        self.stale_seconds = stale_seconds
        self._token: str | None = None

    def acquire(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.001
        token = uuid.uuid4().hex
        body = json.dumps(
            {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time(), "token": token}
        ).encode()
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._break_if_stale()
            else:
                try:
                    os.write(fd, body)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                self._token = token
                return
            if time.monotonic() > deadline:
                raise LockTimeout(f"could not take {self.path} within {timeout:.0f} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _break_if_stale(self) -> None:
        try:
            st = os.stat(self.path)
            with open(self.path, "rb") as f:
                holder = json.loads(f.read() or b"{}")
        except (OSError, ValueError):
            holder = {}
            try:
                st = os.stat(self.path)
            except OSError:
                return
        age = time.time() - st.st_mtime
        dead_here = (
            holder.get("host") == socket.gethostname()
            and isinstance(holder.get("pid"), int)
            and not _pid_alive(holder["pid"])
        )
        if not (dead_here or age > self.stale_seconds):
            return
        broken = self.path.with_name(f"{self.path.name}.broken.{uuid.uuid4().hex}")
        try:
            os.rename(self.path, broken)  # atomic: only one breaker wins
        except OSError:
            return
        try:
            if os.stat(broken).st_ino != st.st_ino:
                # Between our look and the rename another breaker replaced it with a live
                # lock: put that one back (link fails if someone holds the name again).
                try:
                    os.link(broken, self.path)
                except OSError:
                    pass
        finally:
            try:
                os.unlink(broken)
            except OSError:
                pass

    def release(self) -> None:
        token, self._token = self._token, None
        try:
            with open(self.path, "rb") as f:
                holder = json.loads(f.read() or b"{}")
        except (OSError, ValueError):
            return
        if holder.get("token") == token:
            try:
                os.unlink(self.path)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise


class SweepLock:
    """Re-entrant within a process (threads share it), exclusive across processes."""

    def __init__(self, folder: Path, timeout: float = DEFAULT_TIMEOUT):
        self.kind = lock_kind()
        self.timeout = timeout
        self._threads = threading.RLock()
        self._depth = 0
        if self.kind == "soft":
            self._soft = SoftLock(folder / "lock.soft")
        else:
            self._file = FileLock(str(folder / "lock"), thread_local=False)

    def __enter__(self) -> SweepLock:
        if not self._threads.acquire(timeout=self.timeout):
            raise LockTimeout("another thread holds the sweep lock")
        try:
            if self._depth == 0:
                if self.kind == "soft":
                    self._soft.acquire(self.timeout)
                else:
                    try:
                        self._file.acquire(timeout=self.timeout, poll_interval=0.005)
                    except Timeout:
                        raise LockTimeout(
                            f"could not take {self._file.lock_file} within {self.timeout:.0f} s"
                        ) from None
            self._depth += 1
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._depth -= 1
            if self._depth == 0:
                if self.kind == "soft":
                    self._soft.release()
                else:
                    self._file.release()
        finally:
            self._threads.release()
