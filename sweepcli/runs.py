"""The data every layer shares: a run of a sweep and its state.

Pure data, no I/O: search methods and stopping rules take lists of these.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from . import goals


class RunState(str, Enum):
    """The life of a run (the contract's run states)."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CRASHED = "crashed"
    STOPPED = "stopped"
    KILLED = "killed"
    PREEMPTED = "preempted"
    #: stopped at a rung by the stopping rule, folder and checkpoint kept: resumed (its
    #: next attempt) when the rule promotes it
    PAUSED = "paused"

    def __str__(self) -> str:
        return self.value


#: States whose parameters go back to the queue to be run again.
REQUEUED_STATES = frozenset({RunState.CRASHED, RunState.PREEMPTED})


@dataclass
class Run:
    """One run of a sweep.

    ``params`` is flat (dotted names for nested parameters); ``history`` holds the
    finite values of the sweep's metric in the order they were logged.
    """

    run_id: str
    params: dict[str, Any]
    state: RunState = RunState.RUNNING
    #: compact (an array of doubles, 8 bytes a value): a sweep's runs hold millions
    history: Any = field(default_factory=lambda: array("d"))
    grid_index: int | None = None
    retry_of: str | None = None
    agent: str = ""
    started_at: float = 0.0
    ended_at: float | None = None
    exit_code: int | None = None
    #: set when a run was marked for re-running (``--rerun-failed``)
    requeued: bool = False
    #: the heartbeat timeout its agent keeps to (None: written by an older sweepcli)
    heartbeat_timeout: float | None = None
    #: the config revision it was claimed under (0: the sweep's first config)
    revision: int = 0
    #: where a prior run came from (``--prior``); None for the sweep's own runs
    prior: str | None = None
    #: a prior known by one summary value, not a history (a results file's row)
    summary_only: bool = False
    #: the enqueued point it runs (``sweepcli enqueue``), if any
    queued: str | None = None
    #: which attempt is the current one: a crashed or preempted run is resumed as attempt
    #: 2, 3, ... of the same run (same ID, same folder, one history)
    attempt: int = 1
    #: when the current attempt started (``started_at`` is the first's)
    attempt_started_at: float = 0.0
    #: how many values its history held when the current attempt started (0: the first)
    attempt_from: int = 0
    #: the attempts before the current one: attempt, state, agent, started_at, ended_at,
    #: exit_code, reason
    attempts: list[dict[str, Any]] = field(default_factory=list)
    #: the GPUs the current attempt was given (its agent's ``--gpus`` slot, a share where
    #: runs share a GPU; 0: none), what a ``gpu_hours`` budget charges; earlier attempts
    #: keep theirs in ``attempts``
    gpus: float = 0.0
    #: how many attempts ended crashed (their agent vanished): what ``max_retries`` limits
    crashes: int = 0
    #: why it ended as it did, when that is not plain (``timeout``, retries used up)
    reason: str | None = None
    #: several objectives: each metric but the first (whose values are ``history``) as
    #: [smallest, largest] value logged
    extremes: dict[str, list[float]] = field(default_factory=dict)
    #: ``sweepcli.constraints``: each constrained metric's last value logged (the final
    #: value, once the run ended)
    last: dict[str, float] = field(default_factory=dict)
    #: ``method: pbt``: the member's segments after its first, in order, each
    #: ``{"from": index in history where it starts, "step": the step it starts at (its
    #: lineage's), "params": its config, "parent": [donor run, step] or None}``; [] for one
    #: segment (every run of another method)
    segments: list[dict[str, Any]] = field(default_factory=list)
    #: ``method: pbt``: the steps at which a copy of its checkpoint was kept for others to
    #: exploit (``pbt/RUN_ID/STEP`` in the sweep's folder)
    kept: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.history, array):
            self.history = array("d", self.history)
        self._stats: tuple[int, int, float, float] | None = None

    def remember_extremes(self, lo: float, hi: float) -> None:
        """The history's smallest and largest values, known already (a snapshot's)."""
        self._stats = (id(self.history), len(self.history), lo, hi)

    def value_of(self, name: str, goal: str = "minimize") -> float | None:
        """The run's best value of another metric than the sweep's first (``metrics:``)."""
        lohi = self.extremes.get(name)
        if lohi is None:
            return None
        return goals.pick(lohi[0], lohi[1], goal)

    def fold_extremes(self, more: dict[str, list[float]]) -> None:
        """Merge new [smallest, largest] values of other metrics (idempotent)."""
        fold_extremes(self.extremes, more)

    def best(self, goal: str = "minimize") -> float | None:
        """The run's value: its best metric over its history (W&B's rule). Kept once
        computed, until the history grows: an ended run's costs nothing the next time."""
        h = self.history
        if not h:
            return None
        stats = self._stats
        if stats is None or stats[0] != id(h) or stats[1] != len(h):
            if stats is not None and stats[0] == id(h) and stats[1] < len(h):
                tail = h[stats[1]:]  # grown: fold in the new values only
                stats = (id(h), len(h), min(stats[2], min(tail)), max(stats[3], max(tail)))
            else:
                stats = (id(h), len(h), min(h), max(h))
            self._stats = stats
        return goals.pick(stats[2], stats[3], goal)

    def best_value(self, goal: str = "minimize") -> float:
        """:meth:`best` of a run known to have a history (ValueError when it has none)."""
        value = self.best(goal)
        if value is None:
            raise ValueError(f"run {self.run_id} has no value yet")
        return value


def fold_extremes(into: dict[str, list[float]], more: dict[str, list[float]]) -> None:
    """Merge {metric: [smallest, largest]} ``more`` into ``into`` (idempotent)."""
    for name, (lo, hi) in more.items():
        old = into.get(name)
        into[name] = [lo, hi] if old is None else [min(old[0], lo), max(old[1], hi)]
