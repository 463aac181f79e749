"""The store's seam: what a store must give. A store (``SweepStore``) creates, opens and
lists sweeps; each sweep is one ``sweep.Sweep`` over the store's ``Events`` for it. Two
stores: the folder (``sweep_folder.Store``/``FolderEvents``) and PostgreSQL
(``postgres.PgStore``/``PgEvents``), picked by ``open_store`` from the URL's scheme.
Everything that decides (search, the stopping rules, the claim, who is dead:
``agent/liveness.py``) is above this line and the same for both.

A sweep is an append-only list of events (``events.py``) and the state replayed from them;
the store keeps the events, serialises writers (the sweep lock), stamps heartbeats with
one clock, and gives each run a folder on the agent's host.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from ..config import SweepConfig


class SweepLockLike(Protocol):
    """Exclusive across every agent, re-entrant within a process (``threads`` is the
    in-process part alone). Folder: flock + an exclusive-create file; PostgreSQL: a
    transaction holding the sweep's advisory lock (what was appended commits with it)."""

    @property
    def threads(self) -> Any: ...
    @property
    def timeout(self) -> float: ...

    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: Any) -> None: ...
    def waiting_at_most(self, seconds: float) -> AbstractContextManager[Any]: ...
    def check(self) -> None:
        """Before a write: LockLost if the lock was lost meanwhile."""


class Events(Protocol):
    """What a store keeps of one sweep, and how (``sweep.Sweep`` is the rest, the same for
    every store): the lock, the events read from a cursor and appended, heartbeats on the
    store's clock. The folder's is ``sweep_folder.FolderEvents``, PostgreSQL's
    ``postgres.PgEvents``."""

    @property
    def lock(self) -> SweepLockLike: ...
    @property
    def skipped(self) -> int:
        """Records it could not read."""
    @property
    def hidden_from_programs(self) -> tuple[str, ...]:
        """The environment variables a training program is not given."""

    def bind(self, sweep: Any) -> None:
        """The sweep whose state ``read`` and ``append`` apply events to."""
    def meta(self) -> dict[str, Any]:
        """What the sweep was created with (``config``, ``name``, ``project``, ``created``)."""
    def read(self) -> None:
        """Apply the events written since the last read to the sweep's state."""
    def append(self, events: list[dict[str, Any]]) -> None:
        """With the lock held: write events after every earlier one and apply them; LockLost
        when the lock was lost meanwhile and nothing of them counts."""
    def check_complete(self) -> None:
        """With the lock held: refuse to decide from a record that lost runs."""
    def write_snapshot(self, force: bool = False) -> bool:
        """A cache of the replayed state, if the store keeps one."""
    def sibling(self, ref: str) -> Any:
        """Another sweep of the same store."""
    def heartbeat(self, run_id: str) -> None:
        """Mark a run alive, stamped by the store's clock."""
    def beats(self, run_ids: list[str]) -> tuple[float, dict[str, float | None]]:
        """The store's clock now and each run's last heartbeat by it (None: none yet)."""


class SweepStore(Protocol):
    root: Path  # where this host's run folders go (and, for the folder store, sweeps)

    def create(self, config: SweepConfig, name: str | None = None, project: str | None = None,
               events: Any = (), sweep_id: str | None = None,
               meta: dict[str, Any] | None = None, source_dir: str | None = None) -> Any: ...
    def open(self, ref: str) -> Any: ...
    def list(self) -> list[str]: ...
