"""One sweep, over any store's events: the state replayed from them, its config, its runs'
folders on this host. What a store keeps and how (a journal file, database rows) is its
``Events`` backend (``protocol.Events``: the folder's in ``sweep_folder.py``, PostgreSQL's
in ``postgres.py``); everything here is the same for every store.

A sweep is an append-only list of events (``events.py``) and the state replayed from
them. The sweep lock serialises writers; heartbeats are stamped and judged by the store's
clock; runs' folders (``SWEEPCLI_RUN_DIR``: checkpoints, output, the metric file) are on
the agent's host under ``--dir`` whatever the store.
"""

from __future__ import annotations

import copy
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import jsonline
from ..config import ConfigError, SweepConfig, validate
from ..errors import SweepcliError
from ..runs import Run
from .events import SweepState
from .files import KEPT_END, check_id, new_id, open_nofollow, write_json_atomic

if TYPE_CHECKING:
    from .protocol import Events


class SweepUnreadable(SweepcliError, RuntimeError):
    """A sweep whose record (sweep.json, its row) cannot be trusted or read."""


class Sweep:
    """One sweep: its events' state, its config, its runs' folders on this host."""

    def __init__(self, path: Path, sweep_id: str, project: str | None, events: Events):
        self.path = path  # this host's folder of the sweep: runs/RUN_ID/ live under it
        self.sweep_id = sweep_id
        self.project = project
        self.events = events
        self.state = SweepState()
        #: what happened to the record that a person should hear of (a restored journal)
        self.notices: list[str] = []
        self._config: SweepConfig | None = None
        events.bind(self)

    # ---- what the store keeps -------------------------------------------------------------
    @property
    def lock(self) -> Any:
        """The sweep lock (``protocol.SweepLockLike``): one writer across every agent."""
        return self.events.lock

    @property
    def hidden_from_programs(self) -> tuple[str, ...]:
        """The agent's environment variables a training program is not given (the store's
        address and credentials)."""
        return self.events.hidden_from_programs

    @property
    def skipped_lines(self) -> int:
        """Records the replay skipped: not readable, or not valid events."""
        return self.events.skipped + self.state.skipped

    @property
    def ref(self) -> str:
        return f"{self.project}/{self.sweep_id}" if self.project else self.sweep_id

    @property
    def meta(self) -> dict[str, Any]:
        """What the sweep was created with: its config, name, project, creation time."""
        return self.events.meta()

    @property
    def base_config(self) -> SweepConfig:
        """The config the sweep was created with, revision 0."""
        if self._config is None:
            try:
                config = validate(self.meta["config"])
            except ConfigError as exc:  # (created by another version, or edited by hand)
                raise SweepUnreadable(f"the config of sweep {self.ref} is no longer valid: "
                                      f"{exc}") from None
            self._config = replace(config, salt=self.sweep_id)
        return self._config

    @property
    def config(self) -> SweepConfig:
        """The sweep's config now: the latest ``--update`` read from its events, else the one
        it was created with (salted with the sweep's ID, either way)."""
        updated = self.state.config
        if updated is None:
            return self.base_config
        if updated.salt != self.sweep_id:
            updated = self.state.config = replace(updated, salt=self.sweep_id)
        return updated

    def refresh(self) -> SweepState:
        """Apply the events written since the last look (thread-safe; every event is
        idempotent)."""
        with self.lock.threads:
            self.events.read()
        return self.state

    def append(self, *events: dict[str, Any]) -> None:
        """With the lock held: write events (in order, after every earlier one) and apply
        them. LockLost when the lock was lost meanwhile (nothing of them counts)."""
        self.events.append(list(events))

    def check_complete(self) -> None:
        """With the lock held: refuse to decide from a record that lost runs."""
        self.events.check_complete()

    def write_snapshot(self, force: bool = False) -> bool:
        """A cache of the replayed state, where the store keeps one."""
        return self.events.write_snapshot(force)

    def sibling(self, ref: str) -> Sweep:
        """Another sweep of the same store (a prior run's, named by its reference)."""
        return self.events.sibling(ref)

    # ---- heartbeats, by the store's clock ------------------------------------------------------
    def heartbeat(self, run_id: str) -> None:
        """Mark a run alive, stamped by the store's clock (the file server's, the database's)."""
        self.events.heartbeat(check_id(run_id, "run ID"))

    def server_now(self) -> float:
        """The store's clock, that heartbeats are judged against."""
        return self.events.beats([])[0]

    def beats(self, run_ids: list[str]) -> tuple[float, dict[str, float | None]]:
        """The store's clock now and each run's last heartbeat by it (None: none yet): no
        host's clock is compared with another's."""
        return self.events.beats(run_ids)

    # ---- runs' folders, on this host -----------------------------------------------------------
    def new_run_id(self) -> str:
        while True:
            rid = new_id()
            if rid not in self.state.runs and not os.path.lexists(self.path / "runs" / rid):
                return rid

    def run_dir(self, run_id: str) -> Path:
        return self.path / "runs" / check_id(run_id, "run ID")

    def make_run_dir(self, run_id: str) -> Path:
        """The run's folder, with its first heartbeat (after its claim is recorded)."""
        path = self.run_dir(run_id)
        path.mkdir(parents=True, exist_ok=True)
        self.heartbeat(run_id)
        return path

    def keep_end(self, run_id: str, events: list[dict[str, Any]]) -> None:
        """Keep a run's last events (its last metric values and its end) in its folder,
        for when its agent cannot write them now: whoever finds the run's heartbeat silent
        records them instead of calling it crashed."""
        write_json_atomic(self.run_dir(run_id) / KEPT_END, {"events": events})

    def drop_kept_end(self, run_id: str) -> None:
        try:
            os.unlink(self.run_dir(run_id) / KEPT_END)
        except OSError:
            pass  # (a kept end of an attempt that has ended is never read)

    def kept_end(self, run: Run) -> list[dict[str, Any]]:
        """The events a run's agent kept in its folder for its current attempt, checked
        (its metric values and its end, nothing else, of this run and attempt); [] if none."""
        try:
            fd = open_nofollow(self.run_dir(run.run_id) / KEPT_END, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return []
        try:
            with os.fdopen(fd, "rb", closefd=False) as f:
                kept = jsonline.parse(f.read(64 << 20), allow_nan=False)
        except (OSError, ValueError):
            return []
        finally:
            os.close(fd)
        events = kept.get("events") if isinstance(kept, dict) else None
        if not (isinstance(events, list) and events and all(
                isinstance(e, dict) and e.get("op") in ("metric", "end")
                and e.get("run") == run.run_id and e.get("attempt", 1) == run.attempt
                for e in events) and events[-1].get("op") == "end"):
            return []
        probe = SweepState(runs={run.run_id: copy.deepcopy(run)})
        if not all(probe.apply(dict(e)) for e in events):
            return []  # not events we write: call it crashed, as without the file
        return [{k: v for k, v in e.items() if k != "t"} for e in events]
