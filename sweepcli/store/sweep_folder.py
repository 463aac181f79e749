"""The sweep folder on a (possibly shared) disk and the state derived from its journal.

Layout of ``ROOT/[PROJECT/]ID/``::

    sweep.json      the config as given, name, project, creation time (written once)
    journal.jsonl   append-only events: claim, metric, end, control, rerun
    lock            the fcntl lock file (lock.soft with SWEEPCLI_LOCK=soft)
    clock           touched under the lock to read the file server's time
    runs/RUN_ID/    config.json, metrics.jsonl, output.log, heartbeat, stop

The sweep's state is never read-modify-written: it is replayed from the journal.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import SweepConfig, validate
from ..runs import Run, RunState
from .files import InvalidId, check_id, check_project, new_id, parse_sweep_ref, write_json_atomic
from .journal import Journal
from .lock import SweepLock

DEFAULT_HEARTBEAT_TIMEOUT = 60.0


class SweepNotFound(LookupError):
    """No sweep with that ID under the root folder."""


def heartbeat_timeout() -> float:
    """Seconds after which a run without heartbeat is crashed (SWEEPCLI_HEARTBEAT_TIMEOUT)."""
    raw = os.environ.get("SWEEPCLI_HEARTBEAT_TIMEOUT")
    if not raw:
        return DEFAULT_HEARTBEAT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"SWEEPCLI_HEARTBEAT_TIMEOUT={raw!r}: expected a number of seconds") from None
    if value <= 0:
        raise ValueError(f"SWEEPCLI_HEARTBEAT_TIMEOUT={raw!r}: must be > 0")
    return value


def agent_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class SweepState:
    """Everything the journal says, replayed in order."""

    runs: dict[str, Run] = field(default_factory=dict)
    #: running | paused | stopped | canceled (what the user last asked for)
    control: str = "running"
    #: runs whose parameters were taken again by a later run
    retried: set[str] = field(default_factory=set)
    #: runs started for a new point (retries not counted): what run_cap limits
    new_points: int = 0

    def apply(self, e: dict[str, Any]) -> None:
        op = e.get("op")
        if op == "claim":
            run = Run(
                run_id=e["run"],
                params=e.get("params", {}),
                grid_index=e.get("grid"),
                retry_of=e.get("retry_of"),
                agent=e.get("agent", ""),
                started_at=e.get("t", 0.0),
            )
            self.runs[run.run_id] = run
            if run.retry_of:
                self.retried.add(run.retry_of)
            else:
                self.new_points += 1
        elif op == "metric":
            run = self.runs.get(e.get("run", ""))
            if run is not None:
                run.history.extend(v for v in e.get("values", []) if isinstance(v, (int, float)))
        elif op == "end":
            run = self.runs.get(e.get("run", ""))
            if run is None:
                return
            try:
                state = RunState(e.get("state"))
            except ValueError:
                return
            # A late end from an agent that came back after being marked crashed still
            # counts: its result is kept.
            if run.state == RunState.RUNNING or run.state == RunState.CRASHED:
                run.state = state
                run.ended_at = e.get("t")
                run.exit_code = e.get("exit")
        elif op == "control":
            if e.get("state") in ("running", "paused", "stopped", "canceled"):
                if self.control != "canceled":  # canceled is final
                    self.control = e["state"]
        elif op == "rerun":
            for rid in e.get("runs", []):
                run = self.runs.get(rid)
                if run is not None:
                    run.requeued = True

    def running(self) -> list[Run]:
        return [r for r in self.runs.values() if r.state == RunState.RUNNING]


class SweepFolder:
    """One sweep's folder: its lock, its journal, its runs' folders."""

    def __init__(self, path: Path, sweep_id: str, project: str | None):
        self.path = path
        self.sweep_id = sweep_id
        self.project = project
        self.lock = SweepLock(path)
        self.journal = Journal(path / "journal.jsonl")
        self.state = SweepState()
        self._meta: dict[str, Any] | None = None
        self._config: SweepConfig | None = None

    @property
    def ref(self) -> str:
        return f"{self.project}/{self.sweep_id}" if self.project else self.sweep_id

    @property
    def meta(self) -> dict[str, Any]:
        if self._meta is None:
            self._meta = json.loads((self.path / "sweep.json").read_text())
        return self._meta

    @property
    def config(self) -> SweepConfig:
        if self._config is None:
            self._config = validate(self.meta["config"])
        return self._config

    def refresh(self) -> SweepState:
        """Apply the journal's new events to the in-memory state."""
        for event in self.journal.read_new():
            self.state.apply(event)
        return self.state

    def append(self, *events: dict[str, Any]) -> None:
        """Append events (the lock must be held) and apply them."""
        stamped = [{"t": round(time.time(), 3), **e} for e in events]
        self.refresh()
        if self.journal.append_seen(stamped):
            for event in stamped:  # as a reader will see it (JSON round trip), not re-read
                self.state.apply(json.loads(json.dumps(event)))
        else:
            self.refresh()

    # ---- runs ------------------------------------------------------------------------
    def new_run_id(self) -> str:
        while True:
            rid = new_id()
            if rid not in self.state.runs:
                return rid

    def run_dir(self, run_id: str) -> Path:
        return self.path / "runs" / check_id(run_id, "run ID")

    def heartbeat(self, run_id: str) -> None:
        """Mark a run alive (its heartbeat file's mtime, set by the file server)."""
        hb = self.run_dir(run_id) / "heartbeat"
        try:
            os.utime(hb)
        except FileNotFoundError:
            hb.parent.mkdir(parents=True, exist_ok=True)
            hb.touch()

    def server_now(self) -> float:
        """The file server's clock: heartbeats are compared with it, not with ours."""
        clock = self.path / "clock"
        try:
            os.utime(clock)
        except FileNotFoundError:
            clock.touch()
        return os.stat(clock).st_mtime

    def mark_stale_runs(self, timeout: float) -> list[str]:
        """Turn running runs whose heartbeat is older than ``timeout`` into ``crashed``.

        Call with the lock held, after :meth:`refresh`.
        """
        running = self.state.running()
        if not running:
            return []
        now = self.server_now()
        stale = []
        for run in running:
            try:
                beat = os.stat(self.run_dir(run.run_id) / "heartbeat").st_mtime
            except FileNotFoundError:
                beat = run.started_at
            if now - beat > timeout:
                stale.append(run.run_id)
        if stale:
            self.append(*({"op": "end", "run": rid, "state": "crashed"} for rid in stale))
        return stale


class Store:
    """The root folder that holds every sweep."""

    def __init__(self, root: str | Path | None = None):
        if root is None:
            root = os.environ.get("SWEEPCLI_DIR") or "sweeps"
        self.root = Path(root)

    def create(self, config: SweepConfig, name: str | None = None, project: str | None = None) -> SweepFolder:
        """Make a new sweep folder with a fresh ID."""
        if project is not None:
            check_project(project)
        parent = self.root / project if project else self.root
        parent.mkdir(parents=True, exist_ok=True)
        while True:
            sweep_id = new_id()
            path = parent / sweep_id
            try:
                path.mkdir()  # atomic: a taken ID fails and we draw another
                break
            except FileExistsError:
                continue
        (path / "runs").mkdir()
        write_json_atomic(path / "sweep.json", {
            "id": sweep_id,
            "project": project,
            "name": name or config.name,
            "created": time.time(),
            "config": config.raw,
        })
        (path / "journal.jsonl").touch()
        return SweepFolder(path, sweep_id, project)

    def open(self, ref: str) -> SweepFolder:
        """Open ``ID`` or ``PROJECT/ID``; a bare ID is also looked for in every project."""
        project, sweep_id = parse_sweep_ref(ref)
        if project is not None:
            path = self.root / project / sweep_id
            if (path / "sweep.json").is_file():
                return SweepFolder(path, sweep_id, project)
            raise SweepNotFound(f"no sweep {ref} in {self.root}")
        path = self.root / sweep_id
        if (path / "sweep.json").is_file():
            return SweepFolder(path, sweep_id, None)
        found = [p for p in self.root.glob(f"*/{sweep_id}/sweep.json")]
        found = [p for p in found if _is_project(p.parent.parent.name)]
        if len(found) == 1:
            return SweepFolder(found[0].parent, sweep_id, found[0].parent.parent.name)
        if len(found) > 1:
            projects = ", ".join(sorted(p.parent.parent.name for p in found))
            raise SweepNotFound(f"sweep {sweep_id} exists in several projects ({projects}): "
                                "give PROJECT/ID")
        raise SweepNotFound(f"no sweep {sweep_id} in {self.root}")

    def list(self) -> list[str]:
        """Every sweep's reference (ID or PROJECT/ID), for completion and listing."""
        refs = []
        if not self.root.is_dir():
            return refs
        for p in sorted(self.root.glob("*/sweep.json")):
            refs.append(p.parent.name)
        for p in sorted(self.root.glob("*/*/sweep.json")):
            if _is_project(p.parent.parent.name):
                refs.append(f"{p.parent.parent.name}/{p.parent.name}")
        return refs


def _is_project(name: str) -> bool:
    try:
        check_project(name)
    except InvalidId:
        return False
    return True
