"""The store's seam: what a store must give. A store (``SweepStore``) creates, opens and
lists sweeps; each sweep is one ``sweep.Sweep`` over the store's ``Backend`` for it. Two
stores ship: the folder (``sweep_folder.Store``/``FolderBackend``) and PostgreSQL
(``postgres.PgStore``/``PgBackend``), picked by ``open_store`` from the URL's scheme.
Everything that decides (search, the stopping rules, the claim, who is dead:
``agent/liveness.py``) is above this line and the same for both.

A backend is Optuna's journal shape: it reads the events appended since its cursor,
appends events under the sweep lock, keeps heartbeats on one clock and the sweep's
metadata. It never interprets an event: the ``Sweep`` stamps them, checks the fence
token, applies them to the state, restores a record replaced under it and checks that
the record is complete. A new backend (Redis, S3 with conditional writes) is about 100
lines: ``tests/memory_backend.py`` is one, and ``tests/test_store_contract.py`` is the
suite every backend must pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..config import SweepConfig

if TYPE_CHECKING:
    from .events import SweepState
    from .sweep import Sweep

Event = dict[str, Any]


class SweepLockLike(Protocol):
    """Exclusive across every agent, re-entrant within a process (``threads`` is the
    in-process part alone). Folder: flock + an exclusive-create file; PostgreSQL: a
    transaction holding the sweep's advisory lock (what was appended commits with it)."""

    @property
    def threads(self) -> Any: ...
    @property
    def timeout(self) -> float: ...
    @property
    def token(self) -> str | None:
        """The holder's fence token (stamped on what it appends), where a lock can be broken
        for being stale; None where it cannot."""

    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: Any) -> None: ...
    def waiting_at_most(self, seconds: float) -> AbstractContextManager[Any]: ...
    def check(self) -> None:
        """Before a write: LockLost if the lock was lost meanwhile."""


class StartOver(Exception):
    """From ``Backend.read``: the backend's cursor went back to the first event (what this
    process appended was rolled back); the sweep drops its state and reads again."""


class RecordReplaced(Exception):
    """From ``Backend.read``: the record is no longer the one read (truncated, deleted or
    replaced under running agents). ``events`` is what it holds now; the sweep either takes
    it (``Backend.accept``) or writes back what it knows first (``Backend.rewrite``)."""

    def __init__(self, events: list[Event], where: str, detail: Any = None):
        super().__init__(f"{where} changed under this reader")
        self.events = events
        self.where = where
        self.detail = detail  # the backend's own note of where it stands


class Backend(Protocol):
    """What a store keeps of one sweep, and how."""

    @property
    def lock(self) -> SweepLockLike: ...
    @property
    def hidden_from_programs(self) -> tuple[str, ...]:
        """The agent's environment variables a training program is not given."""
    @property
    def skipped(self) -> int:
        """Records it could not read."""

    def meta(self) -> dict[str, Any]:
        """What the sweep was created with (``config``, ``name``, ``project``, ``created``)."""
    def read(self) -> Iterator[list[Event]]:
        """The events appended since the cursor, in order, in batches (moving the cursor as
        they are taken). May raise StartOver or RecordReplaced."""
    def append(self, events: list[Event]) -> bool:
        """With the lock held: write events (already stamped) after every earlier one.
        True: nobody else's came between what was read and these, and the cursor is past
        them (the sweep applies them without reading back); False: read to see them.
        LockLost when the lock was lost and nothing of them counts."""
    def heartbeat(self, run_id: str) -> None:
        """Mark a run alive, stamped by the store's clock."""
    def beats(self, run_ids: list[str]) -> tuple[float, dict[str, float | None]]:
        """The store's clock now and each run's last heartbeat by it (None: none yet)."""
    def sibling(self, ref: str) -> Sweep:
        """Another sweep of the same store."""

    # ---- optional (``Optional`` gives each a default) ------------------------------------
    def start(self) -> SweepState | None:
        """A cached state to start from (a snapshot), the cursor set past what it covers."""
    def save_snapshot(self, state: SweepState, force: bool) -> bool:
        """Cache the state replayed so far, where the store keeps such a cache."""
    def run_names(self) -> list[str] | None:
        """The run folders that prove a run was claimed (None: the store alone is the record)."""
    def accept(self, replaced: RecordReplaced) -> None:
        """Read on from the end of the record as it is now."""
    def rewrite(self, events: list[Event], replaced: RecordReplaced) -> None:
        """With the lock held: the record becomes ``events`` then what it holds now."""


class Optional:
    """The optional parts of a ``Backend``, for a backend that has none of them: no
    snapshots, no run folders to check, a record that is never replaced under a reader."""

    skipped = 0

    def start(self) -> SweepState | None:
        return None

    def save_snapshot(self, state: SweepState, force: bool) -> bool:
        return False

    def run_names(self) -> list[str] | None:
        return None

    def accept(self, replaced: RecordReplaced) -> None:
        raise NotImplementedError("this backend never replaces its record")

    def rewrite(self, events: list[Event], replaced: RecordReplaced) -> None:
        raise NotImplementedError("this backend never replaces its record")


class SweepStore(Protocol):
    """Every sweep of one store."""

    root: Path  # where this host's run folders go (and, for the folder store, sweeps)
    url: str | None  # the store's address (--store), None for the folder under root

    def create(self, config: SweepConfig, name: str | None = None, project: str | None = None,
               events: list[Event] | tuple[Event, ...] = (), sweep_id: str | None = None,
               meta: dict[str, Any] | None = None, source_dir: str | None = None) -> Sweep: ...
    def open(self, ref: str) -> Sweep: ...
    def list(self) -> list[str]: ...
