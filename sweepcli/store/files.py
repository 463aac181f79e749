"""Small file primitives: atomic writes, IDs checked before any path is built."""

from __future__ import annotations

import json
import os
import re
import secrets
import string
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..config.validate import PROJECT_NAME_RE as PROJECT_RE

ID_ALPHABET = string.ascii_lowercase + string.digits
ID_RE = re.compile(r"^[a-z0-9]{8}$")


#: a run's last events, kept in its folder by an agent that could not write them in time
KEPT_END = "end.json"
#: files a program's helper (``child.py``) writes in its run folder, read by its agent
#: (child.py, loadable on its own in a program's Python, keeps the same names: a
#: contract test holds them equal)
SIGNALED = "signaled"  # the program was sent SIGTERM
STOP_SEEN = "stop-seen"  # the program read should_stop as true: it stops because asked
HELPER = "helper"  # the program started the helper: its stop requests are seen


class InvalidId(UsageError, ValueError):
    """A sweep ID, run ID or project name that is not of the allowed form."""


def new_id() -> str:
    """A short random ID: 8 lowercase letters and digits, like W&B's."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(8))


def check_id(value: str, what: str = "sweep ID") -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise InvalidId(f"invalid {what} {value!r}: expected 8 lowercase letters or digits")
    return value


def check_project(value: str) -> str:
    if not isinstance(value, str) or not PROJECT_RE.match(value):
        raise InvalidId(
            f"invalid project name {value!r}: use letters, digits, '_', '.', '-' "
            "(starting with a letter or digit, at most 100 characters)"
        )
    return value


def parse_sweep_ref(ref: str) -> tuple[str | None, str]:
    """'ID', 'PROJECT/ID' or 'ENTITY/PROJECT/ID' -> (project or None, id), all checked.

    The entity (W&B's user or team) is checked and ignored: a folder has no owner name.
    """
    if not isinstance(ref, str):
        raise InvalidId(f"invalid sweep {ref!r}")
    parts = ref.split("/")
    if len(parts) == 1:
        return None, check_id(parts[0])
    if len(parts) == 2:
        return check_project(parts[0]), check_id(parts[1])
    if len(parts) == 3:
        check_project(parts[0])  # an entity: the same characters as a project name
        return check_project(parts[1]), check_id(parts[2])
    raise InvalidId(f"invalid sweep {ref!r}: expected ID, PROJECT/ID or ENTITY/PROJECT/ID")


def _read_umask() -> int:
    """The process's umask, read without changing it (os.umask is not thread-safe)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # where /proc has no Umask line: at import, before any thread
    os.umask(mask)
    return mask


UMASK = _read_umask()
#: what a new file's mode is when the umask decides (as open(2) would make it)
FILE_MODE = 0o666 & ~UMASK
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def open_nofollow(path: Path, flags: int, mode: int = 0o666) -> int:
    """``os.open`` that refuses to go through a symlink at the last component (ELOOP)."""
    return os.open(path, flags | _NOFOLLOW | _CLOEXEC, mode)


def _statx() -> Any:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        statx = libc.statx
    except (OSError, AttributeError, ImportError):
        return None
    statx.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]
    return statx, ctypes.create_string_buffer(256)


_STATX = _statx()
_AT_EMPTY_PATH, _AT_STATX_FORCE_SYNC, _STATX_BASIC_STATS = 0x1000, 0x2000, 0x7FF


def sync_attributes(fd: int) -> None:
    """Make the kernel ask the file server for ``fd``'s size and times now.

    NFS (with attribute caching), FUSE mounts and other network filesystems may answer
    ``fstat`` and clamp reads with a size cached for a second or more: a reader under the
    lock would then miss events another host has just appended. statx with
    ``AT_STATX_FORCE_SYNC`` refreshes them (a no-op on local filesystems).
    """
    if _STATX is not None:
        statx, buf = _STATX
        statx(fd, b"", _AT_EMPTY_PATH | _AT_STATX_FORCE_SYNC, _STATX_BASIC_STATS, buf)


def touch(path: Path) -> float:
    """Create ``path`` if needed and set its times to now (the file server's clock on NFS),
    never through a symlink someone planted there; returns the mtime it now has."""
    fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK)
    try:
        os.utime(fd)
        sync_attributes(fd)
        return os.fstat(fd).st_mtime
    finally:
        os.close(fd)


def fresh_mtime(path: Path) -> float:
    """``path``'s mtime as the file server has it now (not a cached one), no symlink followed."""
    fd = open_nofollow(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        sync_attributes(fd)
        return os.fstat(fd).st_mtime
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes | str | Iterable[bytes], mode: int | None = None,
                 durable: bool = True) -> None:
    """Write a whole file so that readers see the old or the new content, never a part.

    Temp file in the same folder (created exclusively: no symlink is followed), fsync,
    rename over the target (which replaces a symlink there rather than writing through
    it). The mode is the umask's, like any other file of the sweep, unless given.
    ``durable=False`` skips the fsync, for files that matter only while this host is up.
    ``data`` may be an iterable of byte chunks, written as they come (a big file is never
    whole in memory); an error while producing them leaves the old file as it was.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    chunks = [data] if isinstance(data, (bytes, bytearray)) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), FILE_MODE if mode is None else mode & ~UMASK)
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json_atomic(path: Path, obj: Any, mode: int | None = None) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n", mode)
