"""The store's protocol: what the agent, ``--print``, the report and the Python API ask of a
store. Two implementations: the folder (``sweep_folder.Store``/``SweepFolder``) and
PostgreSQL (``postgres.PgStore``/``PgSweep``). Everything that decides (search, hyperband,
the claim, who is dead: ``agent/liveness.py``) is above this line and the same for both.

A sweep is an append-only list of events (``events.py``) and the state replayed from them;
the store keeps the events, serialises writers (the sweep lock), stamps heartbeats with
one clock, and gives each run a folder on the agent's host.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from ..config import SweepConfig
from .events import SweepState


class SweepLockLike(Protocol):
    """Exclusive across every agent, re-entrant within a process (``threads`` is the
    in-process part alone). Folder: flock + an exclusive-create file; PostgreSQL: a
    transaction holding the sweep's advisory lock (what was appended commits with it)."""

    threads: Any
    timeout: float

    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: Any) -> None: ...
    def waiting_at_most(self, seconds: float) -> AbstractContextManager[Any]: ...
    def check(self) -> None:
        """Before a write: LockLost if the lock was lost meanwhile."""


class Sweep(Protocol):
    sweep_id: str
    project: str | None
    path: Path  # this host's folder of the sweep: runs/RUN_ID/ live under it
    lock: SweepLockLike
    state: SweepState
    notices: list[str]  # what a person should hear of (a restored journal)
    hidden_from_programs: tuple[str, ...]  # environment variables a program is not given

    @property
    def ref(self) -> str: ...
    @property
    def meta(self) -> dict[str, Any]: ...
    @property
    def base_config(self) -> SweepConfig: ...
    @property
    def config(self) -> SweepConfig: ...

    def refresh(self) -> SweepState:
        """Apply the events written since the last look (every event is idempotent)."""
    def append(self, *events: dict[str, Any]) -> None:
        """With the lock held: write events (in order, after every earlier one) and apply
        them."""
    def check_complete(self) -> None:
        """With the lock held: refuse to decide from a record that lost runs."""
    def write_snapshot(self, force: bool = False) -> bool:
        """A cache of the replayed state, if the store wants one."""
    def sibling(self, ref: str) -> Sweep:
        """Another sweep of the same store."""
    def new_run_id(self) -> str: ...
    def run_dir(self, run_id: str) -> Path: ...
    def make_run_dir(self, run_id: str) -> Path:
        """The run's folder on this host, with its first heartbeat."""
    def keep_end(self, run_id: str, events: list[dict[str, Any]]) -> None:
        """Keep a run's last events in its folder, for whoever finds it silent to record."""
    def drop_kept_end(self, run_id: str) -> None: ...
    def heartbeat(self, run_id: str) -> None:
        """Mark the run alive, stamped by the store's clock (file server; database server)."""
    def server_now(self) -> float:
        """The store's clock, that heartbeats are judged against."""
    def beats(self, run_ids: list[str]) -> tuple[float, dict[str, float | None]]:
        """The store's clock now and each run's last heartbeat by it (None: none yet)."""
    def kept_end(self, run: Any) -> list[dict[str, Any]]:
        """The last events a run's agent kept in its folder for its attempt ([]: none)."""


class SweepStore(Protocol):
    root: Path  # where this host's run folders go (and, for the folder store, sweeps)

    def create(self, config: SweepConfig, name: str | None = None, project: str | None = None,
               events: Any = (), sweep_id: str | None = None,
               meta: dict[str, Any] | None = None) -> Sweep: ...
    def open(self, ref: str) -> Sweep: ...
    def list(self) -> list[str]: ...
