"""The sweep folder on a (possibly shared) disk and the state derived from its journal.

Layout of ``ROOT/[PROJECT/]ID/``::

    sweep.json      the config as given, name, project, creation time (written once)
    journal.jsonl   append-only events: claim, attempt, metric, end, control, rerun, prior,
                    enqueue, config, run
    snapshot.jsonl  the state replayed up to a journal offset (a cache; see snapshot.py)
    lock            the flock lock file
    lock.soft       the exclusive-create lock file (exists while someone holds the lock)
    clock           touched under the lock to read the file server's time
    runs/RUN_ID/    config.json, metrics.jsonl, output.log, heartbeat, pid, stop

The sweep's state is never read-modify-written: it is replayed from the journal.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import socket
import time
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from ..errors import SweepcliError
from ..config import SweepConfig
from .events import SweepState, fence_event
from .files import (
    FILE_MODE,
    ID_RE,
    InvalidId,
    check_id,
    check_project,
    fresh_mtime,
    new_id,
    open_nofollow,
    parse_sweep_ref,
    touch,
    write_json_atomic,
)
from . import snapshot
from .journal import Journal, JournalChanged, complete_lines
from .lock import SweepLock
from .protocol import Optional, RecordReplaced
from .sweep import Sweep, SweepUnreadable
from .settings import DEFAULT_SNAPSHOT_EVERY, SettingError, snapshot_every



class SweepNotFound(SweepcliError, LookupError):
    """No sweep with that ID under the root folder."""


class AmbiguousSweep(InvalidId):
    """A reference that names more than one sweep (exit 2: the user must say which)."""


def agent_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class FolderBackend(Optional):
    """The folder store's record of one sweep (``protocol.Backend``): ``journal.jsonl``
    under the sweep lock (flock and ``lock.soft``), snapshots, heartbeat files, and the
    run folders that prove what the journal must hold."""

    #: the agent's environment variables a training program is not given: the store's
    #: address (it may carry a password the program has no use for)
    hidden_from_programs: tuple[str, ...] = ("SWEEPCLI_STORE",)

    def __init__(self, path: Path, root: Path):
        self.path = path
        self.root = root  # where the sweep's siblings are
        self.lock = SweepLock(path, on_break=self._fence)
        self.journal = Journal(path / "journal.jsonl")
        self._meta: dict[str, Any] | None = None
        self._snapshot_at = 0  # the journal offset the newest snapshot we know covers

    @property
    def skipped(self) -> int:  # type: ignore[override]
        return self.journal.skipped

    def meta(self) -> dict[str, Any]:
        if self._meta is None:
            self._meta = read_meta(self.path)
        return self._meta

    def sibling(self, ref: str) -> Sweep:
        return Store(self.root).open(ref)

    # ---- the journal -------------------------------------------------------------------------
    def read(self) -> Iterator[list[dict[str, Any]]]:
        try:
            yield from self.journal.chunks()
        except JournalChanged as changed:
            lines, end = complete_lines(changed.current)
            raise RecordReplaced(self.journal._parse(lines), str(self.journal.path),
                                 (changed.current, end)) from None

    def accept(self, replaced: RecordReplaced) -> None:
        current, end = replaced.detail
        self.journal.start_at(end, current[:end])

    def rewrite(self, events: list[dict[str, Any]], replaced: RecordReplaced) -> None:
        self.journal.rewrite(events, replaced.detail[0])

    def append(self, events: list[dict[str, Any]]) -> bool:
        return self.journal.append_seen(events)

    def _fence(self, token: str) -> None:
        """Before a stale ``lock.soft`` is broken (by its breaker, who alone may write now
        besides the stalled holder): the fence after which that holder's events count for
        no one."""
        self.journal.append([{"t": round(time.time(), 3), **fence_event(token)}])

    def run_names(self) -> list[str] | None:
        try:
            return os.listdir(self.path / "runs")
        except FileNotFoundError:
            return []

    # ---- snapshots ---------------------------------------------------------------------------
    def start(self) -> SweepState | None:
        """The newest snapshot that still matches the journal, the journal read on from it."""
        snap = snapshot.load(self.path, self.journal.path)
        if snap is None:
            return None  # none, or one that does not check out in every way: replay it all
        self.journal.start_at(snap.offset, snap.tail)
        self.journal.skipped = snap.skipped
        self._snapshot_at = snap.offset
        return snap.state

    def save_snapshot(self, state: SweepState, force: bool) -> bool:
        """Write ``snapshot.jsonl`` when this process has replayed at least
        ``SWEEPCLI_SNAPSHOT_EVERY`` bytes (2 MiB) of journal past the newest one (``force``:
        whenever it is ahead at all). A cache: failing to write one changes nothing."""
        try:
            every = snapshot_every()
        except SettingError:
            every = DEFAULT_SNAPSHOT_EVERY  # (checked at start; its env does not change)
        offset = self.journal.offset
        if (every == 0 and not force) or offset <= self._snapshot_at or (
                not force and offset - self._snapshot_at < every):
            return False
        newest = snapshot.covered(self.path)
        self._snapshot_at = max(self._snapshot_at, newest)
        if offset <= newest or (not force and offset - newest < every):
            return False  # someone else wrote one meanwhile
        try:
            snapshot.write(self.path, offset, self.journal.tail, state.compact_count(),
                           state.compact(), self.journal.skipped + state.skipped)
        except OSError:
            return False  # a full disk, a read-only mount: the journal is still whole
        self._snapshot_at = offset
        return True

    # ---- heartbeats: file mtimes, set and read by the file server ----------------------------
    def heartbeat(self, run_id: str) -> None:
        touch(self.path / "runs" / run_id / "heartbeat")

    def beats(self, run_ids: list[str]) -> tuple[float, dict[str, float | None]]:
        now = touch(self.path / "clock")  # the file server's clock, not this host's
        return now, {rid: self._beat_time(rid) for rid in run_ids}

    def _beat_time(self, run_id: str) -> float | None:
        try:
            return fresh_mtime(self.path / "runs" / check_id(run_id, "run ID") / "heartbeat")
        except FileNotFoundError:
            return None  # its agent died right after the claim: silent since first seen so


def read_meta(path: Path) -> dict[str, Any]:
    """sweep.json, read without following a symlink; a clear error when it cannot be used."""
    target = path / "sweep.json"
    try:
        fd = open_nofollow(target, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise SweepUnreadable(f"cannot read {target}: {exc.strerror or exc}"
                              + (" (a symlink: refused)" if exc.errno == errno.ELOOP else "")) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SweepUnreadable(f"{target} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(64 << 20)
    finally:
        os.close(fd)
    try:
        meta = json.loads(data)
    except ValueError as exc:
        raise SweepUnreadable(f"{target} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise SweepUnreadable(f"{target} has no sweep config")
    return meta


class Store:
    """The root folder that holds every sweep."""

    url: str | None = None  # (no address but the folder)

    def __init__(self, root: str | Path | None = None):
        if root is None:
            root = os.environ.get("SWEEPCLI_DIR") or "sweeps"
        self.root = Path(root)

    def create(self, config: SweepConfig, name: str | None = None, project: str | None = None,
               events: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
               sweep_id: str | None = None, meta: dict[str, Any] | None = None,
               source_dir: str | None = None) -> Sweep:
        """Make a new sweep folder with a fresh ID (or ``sweep_id`` and ``meta``: a copy of
        a sweep from another store), whole or not at all: it is built under a temporary
        name and renamed into place, so no reader sees a sweep without its sweep.json (a
        full disk or a crash leaves at most a hidden temporary folder). ``events`` (prior
        runs) are its journal's first lines."""
        if project is not None:
            check_project(project)
        if meta is None:
            meta = {"project": project, "name": name or config.name, "created": time.time(),
                    "config": config.raw}
            if source_dir is not None:  # the sweep file's folder: where a relative program is
                meta["source_dir"] = source_dir
        meta = {k: v for k, v in meta.items() if k != "id"}
        json.dumps(meta, allow_nan=False)  # the config was validated: this cannot fail
        parent = self.root / project if project else self.root
        parent.mkdir(parents=True, exist_ok=True)
        wanted = sweep_id
        while True:
            sweep_id = wanted or new_id()
            if os.path.lexists(parent / sweep_id):
                if wanted:
                    raise FileExistsError(errno.EEXIST, "a sweep with this ID is already there",
                                          str(parent / sweep_id))
                continue
            tmp = parent / f".{sweep_id}.{os.getpid()}.creating"
            try:
                tmp.mkdir()
                (tmp / "runs").mkdir()
                # written once and never again: read-only, so a group-writable umask
                # does not make it something a teammate could edit
                write_json_atomic(tmp / "sweep.json", {"id": sweep_id, **meta}, mode=0o444)
                fd = open_nofollow(tmp / "journal.jsonl", os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                                   FILE_MODE)
                try:
                    if events:
                        t = round(time.time(), 3)
                        data = "".join(json.dumps({"t": t, **e} if "t" not in e else e,
                                                  allow_nan=False) + "\n"
                                       for e in events).encode()
                        view = memoryview(data)
                        while view:
                            view = view[os.write(fd, view):]
                        os.fsync(fd)
                finally:
                    os.close(fd)
                os.rename(tmp, parent / sweep_id)  # fails if the ID was taken meanwhile
            except OSError as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                if isinstance(exc, (FileExistsError, IsADirectoryError)) or exc.errno == errno.ENOTEMPTY:
                    if wanted:
                        raise FileExistsError(errno.EEXIST, "a sweep with this ID is already "
                                              "there", str(parent / sweep_id)) from None
                    continue  # ENOTEMPTY: somebody made that ID between our look and rename
                raise
            break
        return _sweep(parent / sweep_id, sweep_id, project, self.root)

    def _candidates(self, sweep_id: str) -> list[tuple[Path, str | None]]:
        found: list[tuple[Path, str | None]] = []
        if os.path.lexists(self.root / sweep_id / "sweep.json"):
            found.append((self.root / sweep_id, None))
        try:
            projects = sorted(os.listdir(self.root))
        except OSError:
            projects = []
        for name in projects:
            if _is_project(name) and os.path.lexists(self.root / name / sweep_id / "sweep.json"):
                found.append((self.root / name / sweep_id, name))
        return found

    def open(self, ref: str) -> Sweep:
        """Open ``ID``, ``PROJECT/ID`` or ``ENTITY/PROJECT/ID``. A bare ID is looked for at
        the top and in every project, and must name one sweep: where several folders hold
        it (anyone who can write the root could plant one), it is refused, listing them."""
        project, sweep_id = parse_sweep_ref(ref)
        found: list[tuple[Path, str | None]]
        if project is not None:
            path = self.root / project / sweep_id
            found = [(path, project)] if os.path.lexists(path / "sweep.json") else []
        else:
            found = self._candidates(sweep_id)
        path, project = the_one(found, project, sweep_id, self.root, hint=(
            f" (the folder of sweeps: --dir, else SWEEPCLI_DIR, else ./sweeps; this is "
            f"{self.root.resolve()}: give --dir DIR, or run where the sweep was created)"))
        folder = _sweep(path, sweep_id, project, self.root)
        _ = folder.meta  # read now: a planted or broken sweep.json is refused before anything runs
        return folder

    def list(self) -> list[str]:
        """Every sweep's reference (ID or PROJECT/ID), for completion and listing."""
        refs: list[str] = []
        if not self.root.is_dir():
            return refs
        for p in sorted(self.root.glob("*/sweep.json")):
            if ID_RE.match(p.parent.name):
                refs.append(p.parent.name)
        for p in sorted(self.root.glob("*/*/sweep.json")):
            if _is_project(p.parent.parent.name) and ID_RE.match(p.parent.name):
                refs.append(f"{p.parent.parent.name}/{p.parent.name}")
        return refs


def the_one(found: list[tuple[Any, str | None]], project: str | None, sweep_id: str,
            where: Any, hint: str = "") -> tuple[Any, str | None]:
    """The one (sweep, its project) a reference names among ``found``: none is
    SweepNotFound; several (a bare ID in more than one project: anyone who can write the
    store could plant one) are refused, listing them."""
    if not found:
        name = f"{project}/{sweep_id}" if project else sweep_id
        raise SweepNotFound(f"no sweep {name} in {where}{hint}")
    if len(found) > 1:
        listed = ", ".join(f"{p}/{sweep_id}" if p else sweep_id for _, p in found)
        raise AmbiguousSweep(f"sweep ID {sweep_id} names {len(found)} sweeps in {where} "
                             f"({listed}): give PROJECT/ID")
    return found[0]


def _is_project(name: str) -> bool:
    try:
        check_project(name)
    except InvalidId:
        return False
    return True


def _sweep(path: Path, sweep_id: str, project: str | None, root: Path) -> Sweep:
    return Sweep(path, sweep_id, project, FolderBackend(path, root))
