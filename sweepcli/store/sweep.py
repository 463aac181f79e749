"""One sweep, over any store's events: the state replayed from them, its config, its runs'
folders on this host. What a store keeps and how (a journal file, database rows) is its
``Backend`` (``protocol.Backend``: the folder's in ``sweep_folder.py``, PostgreSQL's in
``postgres.py``); everything here is the same for every store: stamping events, the
fence-token check, applying them, restoring a record replaced under running agents, and
refusing to decide from one that lost runs.

A sweep is an append-only list of events (``events.py``) and the state replayed from
them. The sweep lock serialises writers; heartbeats are stamped and judged by the store's
clock; runs' folders (``SWEEPCLI_RUN_DIR``: checkpoints, output, the metric file) are on
the agent's host under ``--dir`` whatever the store.
"""

from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import jsonline
from ..config import ConfigError, SweepConfig, validate
from ..errors import SweepcliError
from ..runs import Run
from .events import SweepState
from .files import ID_RE, KEPT_END, check_id, new_id, open_nofollow, write_json_atomic
from .lock import LockLost
from .protocol import Event, RecordReplaced, StartOver

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .protocol import Backend, SweepLockLike


class SweepUnreadable(SweepcliError, RuntimeError):
    """A sweep whose record (sweep.json, its row) cannot be trusted or read."""


class JournalDamaged(SweepcliError, RuntimeError):
    """The record lost events that the run folders prove existed."""


class Sweep:
    """One sweep: its events' state, its config, its runs' folders on this host."""

    def __init__(self, path: Path, sweep_id: str, project: str | None, backend: Backend):
        self.path = path  # this host's folder of the sweep: runs/RUN_ID/ live under it
        self.sweep_id = sweep_id
        self.project = project
        self.backend = backend
        self.state = SweepState()
        #: what happened to the record that a person should hear of (a restored journal)
        self.notices: list[str] = []
        self._config: SweepConfig | None = None
        self._started = False  # the first read starts from the backend's snapshot, if any
        #: how many events this process has applied (and more after a restart of the
        #: record): a reader that saw the same number has nothing new to look at
        self.events_applied = 0
        self._checked_complete = False

    # ---- what the store keeps -------------------------------------------------------------
    @property
    def lock(self) -> SweepLockLike:
        """The sweep lock: one writer across every agent."""
        return self.backend.lock

    @property
    def hidden_from_programs(self) -> tuple[str, ...]:
        """The agent's environment variables a training program is not given (the store's
        address and credentials)."""
        return self.backend.hidden_from_programs

    @property
    def skipped_lines(self) -> int:
        """Records the replay skipped: not readable, or not valid events."""
        return self.backend.skipped + self.state.skipped

    @property
    def ref(self) -> str:
        return f"{self.project}/{self.sweep_id}" if self.project else self.sweep_id

    @property
    def meta(self) -> dict[str, Any]:
        """What the sweep was created with: its config, name, project, creation time."""
        return self.backend.meta()

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

    # ---- events ----------------------------------------------------------------------------
    def refresh(self) -> SweepState:
        """Apply the events written since the last look (thread-safe; every event is
        idempotent). The first look starts from the backend's snapshot, if it keeps one."""
        with self.lock.threads:
            if not self._started:
                self._started = True
                cached = self.backend.start()
                if cached is not None:
                    self.state = cached
            try:
                self._apply(self.backend.read())
            except StartOver:
                self.state = SweepState()
                self.events_applied += 1
                self._apply(self.backend.read())
            except RecordReplaced as replaced:
                self.events_applied += 1
                self._restore(replaced)
        return self.state

    def _apply(self, batches: Iterator[list[Event]]) -> None:
        for events in batches:
            state = self.state
            for event in events:
                state.apply(event)
            self.events_applied += len(events)

    def _restore(self, replaced: RecordReplaced) -> None:
        """The record was truncated, deleted or replaced: put back what this process knows.

        Under the lock: if the record now holds all we know (another reader restored it),
        take it as it is; else rewrite it as our state (compacted) followed by the events it
        holds now (written since by others). Every event is idempotent, so what is in both
        counts once; readers that knew more repeat this in turn, and the record converges.
        """
        with self.lock:
            try:
                self._apply(self.backend.read())  # someone may have restored it already
                return
            except RecordReplaced as again:
                replaced = again
            fresh = SweepState()
            for event in replaced.events:
                fresh.apply(event)
            if fresh.covers(self.state):
                self.state = fresh  # restored by another reader: read on from its end
                self.backend.accept(replaced)
                return
            self.backend.rewrite(list(self.state.compact()), replaced)
            # what we restored may still lack what another agent alone had read: claim
            # nothing until every run folder is accounted for again
            self._checked_complete = False
            self.notices.append(
                f"{replaced.where} had been truncated or replaced; restored it from the "
                f"{len(self.state.runs)} run(s) this process knew"
                + (f", followed by {len(replaced.events)} event(s) written since"
                   if replaced.events else ""))
            for event in replaced.events:
                self.state.apply(event)

    def append(self, *events: Event) -> None:
        """With the lock held: write events (in order, after every earlier one) and apply
        them. Each is stamped with the time and the fence token of the lock it was written
        under: if that lock was broken while this process stalled between its check and its
        write, the breaker's fence came first, nobody counts these events, and
        :class:`LockLost` says so."""
        token = self.lock.token
        stamp = {"t": round(time.time(), 3)}
        stamped = [{**stamp, **e, **({"lk": token} if token else {})} for e in events]
        self.refresh()
        self.lock.check()
        if self.backend.append(stamped):
            for event in stamped:  # as a reader will see it (JSON round trip), not re-read
                self.state.apply(json.loads(json.dumps(event)))
            return
        self.refresh()
        if token is not None and token in self.state.fenced:
            raise LockLost("the sweep lock was broken while this process held it (it stalled "
                           "past the stale time); what it wrote then was fenced off and "
                           "counts for no one")

    def check_complete(self) -> None:
        """Once per process, with the lock held: every run folder must have its claim in the
        record. A folder without one means the record lost events (truncated or replaced
        while no agent that had read it was running); deciding from it would run points
        again."""
        if self._checked_complete:
            return
        names = self.backend.run_names()
        lost = sorted(n for n in names or () if ID_RE.match(n) and n not in self.state.runs)
        if lost:
            shown = ", ".join(lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
            raise JournalDamaged(
                f"the journal of sweep {self.ref} does not list run(s) {shown} whose folders "
                f"exist in {self.path / 'runs'}: it was truncated or replaced. A running agent "
                "that had read it restores it; with none left, put back a copy of "
                "journal.jsonl (a backup) before starting agents, or they would run those "
                "points again")
        self._checked_complete = True

    def write_snapshot(self, force: bool = False) -> bool:
        """A cache of the replayed state, where the store keeps one."""
        with self.lock.threads:
            return self.backend.save_snapshot(self.state, force)

    def sibling(self, ref: str) -> Sweep:
        """Another sweep of the same store (a prior run's, named by its reference)."""
        return self.backend.sibling(ref)

    # ---- heartbeats, by the store's clock ------------------------------------------------------
    def heartbeat(self, run_id: str) -> None:
        """Mark a run alive, stamped by the store's clock (the file server's, the database's)."""
        self.backend.heartbeat(check_id(run_id, "run ID"))

    def beats(self, run_ids: list[str]) -> tuple[float, dict[str, float | None]]:
        """The store's clock now and each run's last heartbeat by it (None: none yet): no
        host's clock is compared with another's."""
        return self.backend.beats(run_ids)

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
