"""The sweep lock: one writer at a time across threads, processes and hosts.

Two locks make it, taken in this order and released in the reverse one:

* ``lock``: flock(2) on a file. The kernel (or an NFS server, after the dead client's
  lease) frees it when its holder dies, and waiters on one host queue on it cheaply. It
  is not enough alone: Lustre mounted with ``localflock``, BeeGFS without global locks,
  some NFS setups and FUSE mounts give every host (or mount) a flock of its own.
* ``lock.soft``: a file made with an exclusive create (atomic on every shared
  filesystem), holding who made it. Its holder refreshes its mtime every few seconds;
  a waiter breaks it when it saw the very same file (inode, mtime, content) unchanged
  for ``SWEEPCLI_SOFT_LOCK_STALE`` seconds of *its own* monotonic clock, so no two
  hosts' clocks are ever compared; or at once when its holder is a dead process of this
  machine (same host name, boot and PID namespace, and the PID is gone or was reused).
  A holder checks that ``lock.soft`` is still its own before every journal write, so a
  holder that stalled past the stale time and was broken writes nothing.

``SWEEPCLI_LOCK=flock`` or ``soft`` takes one of the two alone. An outside process that
takes flock on ``lock`` and creates ``lock.soft`` holds the sweep lock under every setting.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import SweepcliError
from ..backoff import Backoff
from .. import jsonline
from .files import open_nofollow, sync_attributes
from .settings import lock_kind, soft_lock_stale

DEFAULT_TIMEOUT = 120.0


#: errors of a disk that may pass (full, flaky, a stale NFS handle, a lock server restarting)
TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.ESTALE, errno.EAGAIN,
                              errno.EINTR, errno.ETIMEDOUT, errno.EBUSY, errno.ENOLCK})


def transient(exc: BaseException) -> bool:
    """A failure worth waiting out: the lock held elsewhere or lost, or a disk (or a database
    connection, an EIO) that may recover."""
    if isinstance(exc, (LockTimeout, LockLost)):
        return True
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


class LockTimeout(SweepcliError, RuntimeError):
    """The lock could not be taken in time."""


class LockLost(SweepcliError, RuntimeError):
    """``lock.soft`` was broken while we held it (we stalled past the stale time)."""


def _read_text(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    """The kernel's start time of ``pid`` (tells a reused PID from the original)."""
    stat = _read_text(f"/proc/{pid}/stat")
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


@lru_cache(maxsize=1)
def _machine() -> dict[str, str]:
    """What makes two processes' PIDs comparable: the same host, boot and PID namespace
    (read once: a process does not move between them)."""
    try:
        pidns = os.readlink("/proc/self/ns/pid")
    except OSError:
        pidns = ""
    if _read_text("/proc/self/stat").split(" ", 1)[0] != str(os.getpid()):
        pidns = ""  # /proc is another PID namespace's (not remounted): its PIDs are not ours
    return {"host": socket.gethostname(), "boot": _read_text("/proc/sys/kernel/random/boot_id"),
            "pidns": pidns}


@lru_cache(maxsize=4)
def _own_start_time(pid: int) -> str:
    return _start_time(pid)  # keyed by PID: a forked child is a process of its own


def _holder_dead(holder: dict[str, Any]) -> bool:
    """True only when we can be sure: the holder is a process of this very machine that is gone."""
    here = _machine()
    if not here["boot"] or not here["pidns"]:
        return False
    if any(holder.get(k) != v for k, v in here.items()):
        return False
    pid = holder.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    started = holder.get("start")
    return bool(started) and _start_time(pid) not in ("", started)


class SoftLock:
    """``lock.soft``: an exclusive-create lock file, refreshed by its holder, broken when stale."""

    def __init__(self, path: Path, stale_seconds: float | None = None,
                 on_break: Callable[[str], None] | None = None):
        self.path = path
        self.stale_seconds = soft_lock_stale() if stale_seconds is None else stale_seconds
        #: called with a stale holder's token before its lock is broken (and the lock is not
        #: broken when it fails): the sweep writes a fence, so that whatever that holder
        #: still writes, having stalled between its last check and its write, counts for no one
        self.on_break = on_break
        self._token: str | None = None
        #: what the lock file looked like and since when (monotonic), kept across attempts:
        #: a caller that waits in short attempts must still see a dead holder's file go stale
        self._seen: dict[tuple, float] = {}
        self._held = threading.Event()
        self._keeper: threading.Thread | None = None

    # ---- taking and giving back ------------------------------------------------------------
    def acquire(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        backoff = Backoff(0.001, 0.05)
        token = uuid.uuid4().hex[:16]
        body = json.dumps({**_machine(), "pid": os.getpid(), "start": _own_start_time(os.getpid()),
                           "time": time.time(), "token": token}).encode()
        while True:
            try:
                fd = open_nofollow(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                self._break_if_stale(self._seen)
            else:
                try:
                    # no fsync: what the file says is for people and for our own token
                    # check; the exclusive create itself is what excludes, and is synchronous
                    # on network filesystems (and NFS flushes the content at close)
                    os.write(fd, body)
                except OSError:
                    # (a full disk): the file is ours, made by our exclusive create, but may
                    # not hold our token yet; leaving it would block everyone for the stale time
                    os.close(fd)
                    try:
                        os.unlink(self.path)
                    except FileNotFoundError:
                        pass
                    raise
                os.close(fd)
                self._token = token
                self._seen.clear()
                self._start_keeper()
                return
            if time.monotonic() > deadline:
                raise LockTimeout(f"could not take {self.path} within {timeout:.0f} s"
                                  f"{self._describe_holder()}")
            backoff.wait()

    @property
    def token(self) -> str | None:
        """This holder's token while it holds the lock (what its events are stamped with)."""
        return self._token

    def release(self) -> None:
        token, self._token = self._token, None
        self._held.clear()
        if token is not None:
            self._unlink_if(token)

    def check(self) -> None:
        """Raise :class:`LockLost` unless ``lock.soft`` is still the one we made."""
        if self._token is None or self._read_holder().get("token") != self._token:
            raise LockLost(f"{self.path} was broken while this process held it (it stalled "
                           f"for over {self.stale_seconds:g} s); nothing was written")

    # ---- the holder keeps it fresh -----------------------------------------------------------
    def _start_keeper(self) -> None:
        self._held.set()
        if self._keeper is None or not self._keeper.is_alive():
            self._keeper = threading.Thread(target=self._keep, name="sweepcli-lock-keeper",
                                            daemon=True)
            self._keeper.start()

    def _keep(self) -> None:
        interval = max(0.2, self.stale_seconds / 6)
        while True:
            self._held.wait()
            time.sleep(interval)
            token = self._token
            if token is None or not self._held.is_set():
                continue
            try:
                if self._read_holder().get("token") == token:
                    os.utime(self.path, follow_symlinks=False)
            except OSError:
                pass  # a refresh missed; the next one may go through

    # ---- breaking a stale one ---------------------------------------------------------------
    def _read(self) -> tuple[tuple, bytes] | None:
        """(identity, content) of the lock file now, or None when there is none."""
        try:
            fd = open_nofollow(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            st = os.lstat(self.path)  # a symlink someone planted: stale like any other file
            return (st.st_ino, st.st_mtime_ns, st.st_size, b""), b""
        try:
            sync_attributes(fd)
            st = os.fstat(fd)
            data = os.read(fd, 65536)
        except FileNotFoundError:
            return None  # removed between our open and our look (some network filesystems)
        finally:
            os.close(fd)
        return (st.st_ino, st.st_mtime_ns, st.st_size, hashlib.sha1(data).digest()), data

    def _read_holder(self) -> dict[str, Any]:
        try:
            got = self._read()
        except OSError:
            return {}
        if got is None:
            return {}
        try:
            holder = jsonline.parse(got[1] or b"{}")
        except ValueError:
            return {}
        return holder if isinstance(holder, dict) else {}

    def _describe_holder(self) -> str:
        h = self._read_holder()
        return f" (held by {h.get('host')}:{h.get('pid')})" if h.get("host") else ""

    def _break_if_stale(self, seen: dict[tuple, float]) -> None:
        got = self._read()
        if got is None:
            return
        ident, data = got
        now = time.monotonic()
        first = seen.setdefault(ident, now)
        try:
            holder = jsonline.parse(data or b"{}")
        except ValueError:
            holder = {}
        dead = isinstance(holder, dict) and _holder_dead(holder)
        if not dead and now - first < self.stale_seconds:
            return
        # Breakers take turns through a second exclusive file, and each checks under it that
        # the lock is still the very file it judged, so a breaker never removes a lock that
        # somebody took in the meantime.
        breaker = self.path.with_name(self.path.name + ".break")
        try:
            fd = open_nofollow(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            self._break_stale_breaker(breaker, seen)
            return
        except OSError:
            return
        os.close(fd)
        try:
            again = self._read()
            if again is not None and again[0] == ident:
                token = holder.get("token") if isinstance(holder, dict) else None
                if isinstance(token, str) and token and self.on_break is not None:
                    try:
                        self.on_break(token)
                    except OSError:
                        return  # no fence, no break: tried again at the next look
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
        finally:
            try:
                os.unlink(breaker)
            except OSError:
                pass

    def _break_stale_breaker(self, breaker: Path, seen: dict[tuple, float]) -> None:
        """A breaker that died between its two steps left its file: remove it once stale."""
        try:
            st = os.lstat(breaker)
        except OSError:
            return
        ident = ("breaker", st.st_ino, st.st_mtime_ns)
        if time.monotonic() - seen.setdefault(ident, time.monotonic()) >= self.stale_seconds:
            try:
                os.unlink(breaker)
            except OSError:
                pass

    def _unlink_if(self, token: str) -> None:
        if self._read_holder().get("token") == token:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


class FlockLock:
    """flock(2) on ``lock``, opened without following a symlink and never truncated."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self, timeout: float) -> None:
        fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = time.monotonic() + timeout
        backoff = Backoff(0.001, 0.005)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise LockTimeout(f"could not take {self.path} within {timeout:.0f} s") from None
                backoff.wait()
                continue
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            return

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor frees the flock


class ReentrantLock:
    """Re-entrant within a process (its threads take turns), exclusive across processes by
    what a subclass takes in :meth:`_take` and gives back in :meth:`_release`.

    ``threads`` is the in-process part alone: a thread that only reads the journal into
    the shared state holds it, so two threads never apply the same events twice.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT):
        self._timeout = timeout
        self._local = threading.local()
        self.threads = threading.RLock()
        self._depth = 0

    @property
    def timeout(self) -> float:
        """How long this thread waits for the lock (see :meth:`waiting_at_most`)."""
        return getattr(self._local, "timeout", self._timeout)

    @property
    def token(self) -> str | None:
        """The fence token the holder stamps its events with (None: this lock is never
        broken for being stale)."""
        return None

    @contextmanager
    def waiting_at_most(self, seconds: float) -> Iterator[Any]:
        """Take the lock, waiting at most ``seconds`` (LockTimeout after): for work that can
        be tried again later, so a caller stays free to notice a signal or a cancel."""
        before = self.timeout
        self._local.timeout = seconds
        try:
            with self:
                yield self
        finally:
            self._local.timeout = before

    def _take(self) -> None:
        raise NotImplementedError

    def _release(self, ok: bool) -> None:
        """Give the lock back; ``ok``: the block that held it ended without an exception."""
        raise NotImplementedError

    def __enter__(self) -> Any:
        if not self.threads.acquire(timeout=self.timeout):
            raise LockTimeout("another thread of this process holds the sweep lock")
        try:
            if self._depth == 0:
                self._take()
            self._depth += 1
        except BaseException:
            self.threads.release()
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
                self._release(ok=exc_type is None)
        finally:
            self.threads.release()


class SweepLock(ReentrantLock):
    """The folder's lock: flock on ``lock`` and the exclusive-create ``lock.soft``."""

    def __init__(self, folder: Path, timeout: float = DEFAULT_TIMEOUT,
                 on_break: Callable[[str], None] | None = None):
        super().__init__(timeout)
        self.kind = lock_kind()
        self._flock = FlockLock(folder / "lock") if self.kind in ("both", "flock") else None
        self._soft = (SoftLock(folder / "lock.soft", on_break=on_break)
                      if self.kind in ("both", "soft") else None)

    @property
    def token(self) -> str | None:
        """The token of the ``lock.soft`` this process holds (None: not held, or flock alone,
        which is never broken for being stale)."""
        return self._soft.token if self._soft is not None else None

    def check(self) -> None:
        """Before a write: raise :class:`LockLost` if our ``lock.soft`` was broken."""
        if self._soft is not None:
            self._soft.check()

    def _take(self) -> None:
        deadline = time.monotonic() + self.timeout
        if self._flock is not None:
            self._flock.acquire(self.timeout)
        if self._soft is not None:
            try:
                self._soft.acquire(max(0.0, deadline - time.monotonic()))
            except BaseException:
                if self._flock is not None:
                    self._flock.release()
                raise

    def _release(self, ok: bool) -> None:
        try:
            if self._soft is not None:
                self._soft.release()
        finally:
            if self._flock is not None:
                self._flock.release()
