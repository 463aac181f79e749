"""A store kept in this process's memory: the smallest backend there is, to show what a new
one takes (a Redis or S3 one would be the same shape) and to run the store contract suite
(``test_store_contract.py``) on one more. Its agents are threads; it is not shipped."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sweepcli.config import SweepConfig
from sweepcli.store.files import check_project, new_id, parse_sweep_ref
from sweepcli.store.lock import LockTimeout, ReentrantLock
from sweepcli.store.protocol import Optional
from sweepcli.store.sweep import Sweep
from sweepcli.store.sweep_folder import the_one


class Record:
    """One sweep's record, shared by every reader in the process."""

    def __init__(self, meta: dict[str, Any], events: list[dict[str, Any]]):
        self.meta = meta
        self.events = list(events)
        self.beats: dict[str, float] = {}
        self.mutex = threading.Lock()  # the sweep lock across "agents" (threads)


class MemoryLock(ReentrantLock):
    def __init__(self, record: Record):
        super().__init__()
        self.record = record

    def check(self) -> None:
        return  # a thread's lock is never broken

    def _take(self) -> None:
        if not self.record.mutex.acquire(timeout=self.timeout):
            raise LockTimeout(f"the sweep lock is held by another agent; waited {self.timeout:.0f} s")

    def _release(self, ok: bool) -> None:
        self.record.mutex.release()


class MemoryBackend(Optional):
    hidden_from_programs: tuple[str, ...] = ("SWEEPCLI_STORE",)

    def __init__(self, store: MemoryStore, record: Record):
        self.store = store
        self.record = record
        self.lock = MemoryLock(record)
        self.cursor = 0

    def meta(self) -> dict[str, Any]:
        return self.record.meta

    def read(self) -> Iterator[list[dict[str, Any]]]:
        new = self.record.events[self.cursor:]
        self.cursor += len(new)
        if new:
            yield new

    def append(self, events: list[dict[str, Any]]) -> bool:
        seen = self.cursor == len(self.record.events)
        self.record.events.extend(events)
        if seen:
            self.cursor = len(self.record.events)
        return seen

    def heartbeat(self, run_id: str) -> None:
        self.record.beats[run_id] = time.time()

    def beats(self, run_ids: list[str]) -> tuple[float, dict[str, float | None]]:
        return time.time(), {rid: self.record.beats.get(rid) for rid in run_ids}

    def sibling(self, ref: str) -> Sweep:
        return self.store.open(ref)


class MemoryStore:
    url = "memory://"

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.records: dict[tuple[str, str], Record] = {}

    def create(self, config: SweepConfig, name: str | None = None, project: str | None = None,
               events: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
               sweep_id: str | None = None, meta: dict[str, Any] | None = None,
               source_dir: str | None = None) -> Sweep:
        if project is not None:
            check_project(project)
        if meta is None:
            meta = {"project": project, "name": name or config.name, "created": time.time(),
                    "config": config.raw}
        sid = sweep_id or new_id()
        if (project or "", sid) in self.records:
            raise FileExistsError(f"a sweep with this ID is already there: {sid}")
        t = round(time.time(), 3)
        self.records[(project or "", sid)] = Record(
            {"id": sid, **meta}, [{"t": t, **e} if "t" not in e else e for e in events])
        return self._sweep(sid, project)

    def _sweep(self, sweep_id: str, project: str | None) -> Sweep:
        path = self.root / project / sweep_id if project else self.root / sweep_id
        record = self.records[(project or "", sweep_id)]
        return Sweep(path, sweep_id, project, MemoryBackend(self, record))

    def open(self, ref: str) -> Sweep:
        project, sweep_id = parse_sweep_ref(ref)
        found = [(sid, p or None) for p, sid in sorted(self.records)
                 if sid == sweep_id and (project is None or p == project)]
        _, project = the_one(found, project, sweep_id, "memory")
        return self._sweep(sweep_id, project)

    def list(self) -> list[str]:
        return [f"{p}/{i}" if p else i for p, i in sorted(self.records)]
