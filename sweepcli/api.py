"""The Python API, a thin front over the store and the agent; the CLI calls it.

Creating and running::

    sweep_id = sweepcli.sweep(config, prior=["results.csv"])
    sweepcli.agent(sweep_id, function=train, count=10)

Changing a sweep: ``pause``, ``resume``, ``stop``, ``cancel``, ``enqueue``, ``update``,
``rerun_failed``. Reading one, as W&B's ``wandb.Api()`` does::

    sweep = sweepcli.Api().sweep("my-project/ab12cd34")
    best = sweep.best_run()
    best.config, best.summary, best.history()
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

from .errors import SweepcliError, UsageError
from .agent import Agent, AgentReport
from .agent.metrics import MetricReader
from .config import ConfigError, Problem, SweepConfig, validate
from .config import flat_names
from .config.space import MAX_DRAWS
from .config.validate import check_point
from .runs import RunState
from .reporting.status import Status, look, read_summary, reap
from .store import InvalidId, Store, Sweep, SweepStore, open_store
from .store.events import (
    Control,
    config_event,
    control_event,
    enqueue_event,
    prior_event,
    rerun_event,
)
from .store.files import parse_sweep_ref
from .store.files import new_id


class SweepClosed(SweepcliError, RuntimeError):
    """The sweep was canceled: nothing about it can change any more (exit 1)."""


class PointError(UsageError, ValueError):
    """An enqueued point that is not a point of the sweep (exit 2); ``problems`` says why."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("not a point of the sweep:\n" + "\n".join(f"  {p}" for p in problems))


class UpdateRefused(UsageError, ValueError):
    """An ``update`` that would change what the sweep's runs mean (exit 2)."""


#: a sweep, or a reference to one (``ID``, ``PROJECT/ID``, ``ENTITY/PROJECT/ID``)
SweepRef = Union[str, Sweep]
#: a store: a PostgreSQL URL, or an open store (``open_store``); None: ``SWEEPCLI_STORE``
StoreRef = Union[str, SweepStore, None]


def _where(dir: str | Path | None, store: StoreRef) -> SweepStore:  # noqa: A002
    """The store ``dir``/``store`` name, or ``store`` itself when it is an open one."""
    if store is not None and not isinstance(store, str):
        return store  # an open store (the folder's, or PostgreSQL's)
    return open_store(dir, store)


def open_sweep(ref: SweepRef, dir: str | Path | None = None,  # noqa: A002
               project: str | None = None, store: StoreRef = None) -> Sweep:
    """The sweep ``ref`` names (``ID``, ``PROJECT/ID``, ``ENTITY/PROJECT/ID``) in the folder
    ``dir`` or the PostgreSQL ``store`` (else ``SWEEPCLI_DIR``/``SWEEPCLI_STORE``); a bare ID
    with ``project`` is looked for in that project. An open sweep is itself."""
    if not isinstance(ref, str):
        return ref
    if project is not None and "/" not in ref:
        ref = f"{project}/{ref}"
    parse_sweep_ref(ref)
    return _where(dir, store).open(ref)


# ---- creating and running ----------------------------------------------------------------
def create(config: dict[str, Any] | SweepConfig, project: str | None = None,
           dir: str | Path | None = None, name: str | None = None,  # noqa: A002
           prior: Iterable[str] = (), program: str | None = None, store: StoreRef = None,
           source_dir: str | Path | None = None) -> tuple[Sweep, Any]:
    """Create a sweep; returns its folder and what the prior sources gave (``Priors``).
    ``source_dir``: the sweep file's folder, where agents look for a relative ``program``
    that is not in their own working folder."""
    from .priors import gather

    for key, value in (("name", name), ("program", program)):
        if value is not None and not isinstance(value, str):
            raise ConfigError([Problem(key, f"must be a string, got {value!r}")])
    raw = copy.deepcopy(config.raw if isinstance(config, SweepConfig) else config)
    if program is not None:
        if not isinstance(raw, dict):
            raise ConfigError([Problem("", "a sweep config must be a mapping")])
        raw["program"] = program
    cfg = validate(raw)
    _space_left(cfg)
    where = _where(dir, store)
    priors = gather(where, list(prior), cfg)
    events = []
    used: set[str] = set()
    for run in priors.runs:
        rid = new_id()
        while rid in used:
            rid = new_id()
        used.add(rid)
        events.append(prior_event(rid, run.params, run.state, run.values, run.source,
                                  run.summary_only, last=run.last or None))
    sweep = where.create(cfg, name=name, project=project or cfg.project_folder, events=events,
                          source_dir=None if source_dir is None else str(Path(source_dir).resolve()))
    return sweep, priors


def sweep(config: dict[str, Any], project: str | None = None, dir: str | None = None,  # noqa: A002
          name: str | None = None, prior: Iterable[str] = (), program: str | None = None,
          store: StoreRef = None) -> str:
    """Validate ``config`` and create a sweep; returns its ID (agents also find it by ID).

    ``prior``: sources of runs that join its history (another sweep's ID, ``ID/RUN_ID``,
    a CSV or JSONL results file); ``program`` replaces the config's."""
    sweep, _ = create(config, project=project, dir=dir, name=name, prior=prior, program=program,
                       store=store)
    return sweep.sweep_id


def agent(
    sweep_id: SweepRef,
    function: Callable[[], Any] | None = None,
    count: int | None = None,
    dir: str | None = None,  # noqa: A002
    project: str | None = None,
    store: StoreRef = None,
) -> AgentReport:
    """Run runs of a sweep: ``function`` in this process, else the config's program."""
    return Agent(open_sweep(sweep_id, dir, project, store), count=count, function=function).run()


# ---- changing a sweep ----------------------------------------------------------------------
def _write(sweep: Sweep, make: Callable[[Sweep], list[dict[str, Any]]]) -> None:
    """Under the lock: refuse a canceled sweep, then append what ``make`` returns."""
    with sweep.lock:
        sweep.refresh()
        if sweep.state.control == Control.CANCELED:
            raise SweepClosed(f"sweep {sweep.ref} was canceled; it cannot be changed any more")
        events = make(sweep)
        if events:
            sweep.append(*events)


def _control(ref: SweepRef, control: Control, dir: str | Path | None,  # noqa: A002
             store: StoreRef) -> Sweep:
    sweep = open_sweep(ref, dir, store=store)
    _write(sweep, lambda f: [control_event(control)])
    return sweep


def pause(ref: SweepRef, dir: str | Path | None = None,  # noqa: A002
          store: StoreRef = None) -> None:
    """No new runs start; running runs go on; agents wait."""
    _control(ref, Control.PAUSED, dir, store)


def resume(ref: SweepRef, dir: str | Path | None = None,  # noqa: A002
           store: StoreRef = None) -> None:
    """Undo :func:`pause` (or :func:`stop`: the sweep takes runs again)."""
    _control(ref, Control.RUNNING, dir, store)


def stop(ref: SweepRef, dir: str | Path | None = None,  # noqa: A002
         store: StoreRef = None) -> None:
    """No new runs; running runs finish; agents exit after them."""
    _control(ref, Control.STOPPED, dir, store)


def stop_run(ref: SweepRef, run_id: str, dir: str | Path | None = None,  # noqa: A002
             store: StoreRef = None) -> None:
    """Stop one running run gracefully (its program's ``should_stop`` turns true, then
    SIGTERM after the grace): it ends ``stopped``, its value what it logged. The sweep goes
    on."""
    from .store.events import stop_run_event
    from .store.files import check_id

    run_id = check_id(run_id, "run ID")
    sweep = open_sweep(ref, dir, store=store)

    def ask(s: Sweep) -> list[dict[str, Any]]:
        run = s.state.runs.get(run_id)
        if run is None:
            raise UsageError(f"sweep {s.ref} has no run {run_id}")
        if run.state != RunState.RUNNING:
            raise UsageError(f"run {run_id} is {run.state.value}, not running: nothing to stop")
        return [stop_run_event(run_id, run.attempt)]

    _write(sweep, ask)


def cancel(ref: SweepRef, dir: str | Path | None = None,  # noqa: A002
           store: StoreRef = None) -> None:
    """Running runs are killed now; agents exit; the sweep cannot change any more."""
    _control(ref, Control.CANCELED, dir, store)


def copy_sweep(ref: str, dest: str, dir: str | Path | None = None,  # noqa: A002
               store: StoreRef = None, source: Sweep | None = None) -> Sweep:
    """Copy sweep ``ref`` (of the store ``dir``/``store`` select) to ``dest``: a PostgreSQL
    URL, or a root folder. The copy keeps the sweep's ID, project, configs, every run
    with its history and attempts, the queue and the control state; runs' folders are
    copied when both ends keep them in different folders of this host. Pause the sweep's
    agents first: a run still going has no heartbeat in the copy and is resumed there
    as its next attempt once its timeout passes."""
    import shutil

    from .store.postgres import PgStore, is_url

    if source is None:
        source = _where(dir, store).open(ref)
    with source.lock:
        source.refresh()
        events = list(source.state.compact())
    target_store: Any = PgStore(dest, dir) if is_url(dest) else Store(dest)
    copied = target_store.create(source.base_config, project=source.project, events=events,
                                 sweep_id=source.sweep_id, meta=source.meta)
    src_runs, dst_runs = source.path / "runs", copied.path / "runs"
    if src_runs.is_dir() and src_runs.resolve() != dst_runs.resolve():
        dst_runs.mkdir(parents=True, exist_ok=True)
        for run_dir in src_runs.iterdir():
            if run_dir.is_dir() and not run_dir.is_symlink():
                shutil.copytree(run_dir, dst_runs / run_dir.name, symlinks=True,
                                dirs_exist_ok=True)
    return copied


def rerun_failed(ref: SweepRef, dir: str | Path | None = None,  # noqa: A002
                 store: StoreRef = None) -> list[str]:
    """Put the points of failed runs back in the queue; returns those runs' IDs."""
    sweep = open_sweep(ref, dir, store=store)
    failed: list[str] = []

    def make(f: Sweep) -> list[dict[str, Any]]:
        failed.extend(r.run_id for r in f.state.runs.values()
                      if r.state == RunState.FAILED and not r.requeued and r.prior is None)
        return [rerun_event(failed)] if failed else []

    _write(sweep, make)
    return failed


def enqueue(ref: SweepRef, point: dict[str, Any] | list[dict[str, Any]],
            dir: str | Path | None = None, seed: int | None = None,  # noqa: A002
            store: StoreRef = None) -> list[tuple[str, dict[str, Any]]]:
    """Put points (flat dotted names or nested) before the search's own suggestions; each
    runs once, in order, across all agents. A parameter a point leaves out is drawn from
    its distribution now, so every agent sees the same full point. A point outside the
    space raises :class:`PointError` naming the parameter, and nothing is enqueued.

    Returns ``(point ID, full point with flat names)`` for each; the run that takes a point
    has the point's ID as its run ID."""
    points = [point] if isinstance(point, dict) else list(point)
    sweep = open_sweep(ref, dir, store=store)
    sweep.refresh()
    space = sweep.config.space
    problems: list[Problem] = []
    for i, p in enumerate(points):
        if not isinstance(p, dict):
            problems.append(Problem(f"point {i + 1}", f"must be a mapping of parameter names "
                                    f"to values, got {p!r}"))
            continue
        problems += check_point(space, p, where=f"point {i + 1}: " if len(points) > 1 else "")
    if problems:
        raise PointError(problems)
    rng = np.random.default_rng(seed)
    done: list[tuple[str, dict[str, Any]]] = []

    def make(f: Sweep) -> list[dict[str, Any]]:
        if f.config.space != space:  # an update came between our check and the lock
            for i, p in enumerate(points):
                problems.extend(check_point(f.config.space, p, f"point {i + 1}: "))
            if problems:
                raise PointError(problems)
        events = []
        for i, p in enumerate(points):
            now = f.config.space
            given = now.flat_point(p)
            for _ in range(MAX_DRAWS if now.rules else 1):
                full = now.active(  # (an inactive parameter is not the program's)
                    {prm.name: given[prm.name] if prm.name in given else prm.sample(rng)
                     for prm in now.params})
                why = now.broken(full)
                if why is None or all(n in given for n in full):
                    break  # (a point given whole is what it is: no draw changes it)
            if why is not None:
                raise PointError([Problem(f"point {i + 1}" if len(points) > 1 else "point",
                                          f"{printable_point(full)} {why}: it would never run")])
            pid = new_id()  # also the ID of the run that takes the point
            while pid in f.state.enqueued or pid in f.state.runs:
                pid = new_id()
            done.append((pid, full))
            events.append(enqueue_event(pid, full))
        return events

    _write(sweep, make)
    return done


def printable_point(point: dict[str, Any]) -> str:
    return " ".join(f"{k}={v!r}" for k, v in point.items())


def _space_left(config: SweepConfig) -> None:
    """A config whose rules leave nothing to run is refused, as any bad config is."""
    from .search import ruled_out

    why = ruled_out(config)
    if why is not None:
        raise ConfigError([Problem("sweepcli", f"forbid and require leave no point to run: {why}")])


def update(ref: SweepRef, config: dict[str, Any], dir: str | Path | None = None,  # noqa: A002
           store: StoreRef = None) -> int:
    """Give a sweep a new config, validated like a new one, in effect from the next claim;
    running runs go on. Changing ``method`` or the metric's name or goal is refused (the
    runs' values would change meaning). Returns the new revision number."""
    new = validate(copy.deepcopy(config))
    _space_left(new)
    sweep = open_sweep(ref, dir, store=store)
    revision = 0

    def make(f: Sweep) -> list[dict[str, Any]]:
        nonlocal revision
        old = f.config
        if new.method != old.method:
            raise UpdateRefused(f"method: {old.method} -> {new.method} is refused: the runs so "
                                "far were chosen by another method; create a new sweep "
                                f"(--prior {f.ref} brings its runs along)")
        if (old.metric and old.metric.name) != (new.metric and new.metric.name):
            raise UpdateRefused(f"metric.name: {_name(old)} -> {_name(new)} is refused: every "
                                "run's recorded value is of the old metric; create a new sweep "
                                f"with --prior {f.ref}")
        objectives = [(m.name, m.goal) for m in old.metrics]
        if objectives != [(m.name, m.goal) for m in new.metrics]:
            said = ", ".join(f"{n} ({g})" for n, g in objectives) or "one metric"
            told = ", ".join(f"{m.name} ({m.goal})" for m in new.metrics) or "one metric"
            raise UpdateRefused(f"metrics: {said} -> {told} is refused: the front is of the "
                                f"old objectives; create a new sweep with --prior {f.ref}")
        if old.metric and new.metric and old.metric.goal != new.metric.goal:
            raise UpdateRefused(f"metric.goal: {old.metric.goal} -> {new.metric.goal} is "
                                "refused: the best run and bayes' history would flip; create a "
                                f"new sweep with --prior {f.ref}")
        revision = len(f.state.revisions) + 1
        return [config_event(new.raw, revision)]

    _write(sweep, make)
    return revision


def _name(config: SweepConfig) -> str:
    return config.metric.name if config.metric else "(none)"


# ---- reading sweeps (W&B's wandb.Api() in spirit) -------------------------------------------
@dataclass
class ApiRun:
    """One run of a sweep, as :meth:`Api.sweep` returns it."""

    id: str
    state: str
    config: dict[str, Any]
    #: the run's value: its best of the sweep's metric (None without one)
    value: float | None
    #: where a prior run came from (``--prior``); None for the sweep's own
    prior: str | None
    dir: Path | None
    _metric: str | None
    _values: list[float]
    #: its attempts so far (2 or more: resumed after a crash or a preemption)
    attempt: int = 1
    #: several objectives (``metrics:``): metric name -> its best value of it
    values: dict[str, float | None] | None = None
    #: ``sweepcli.constraints``: whether it kept every limit (None: still running, or no
    #: constraints) and the limits it broke, in words
    feasible: bool | None = None
    broken: list[str] | None = None

    def history(self, pandas: bool = False) -> Any:
        """Its metric lines in order, each a dict (``pandas=True``: a DataFrame)."""
        if self.dir is not None:
            reader = MetricReader(self.dir / "metrics.jsonl")
            rows = reader.read(final=True)
        else:  # a prior run: the values it brought
            rows = [{self._metric: v} for v in self._values] if self._metric else []
        if pandas:
            try:
                import pandas as pd
            except ImportError:
                raise ImportError("history(pandas=True) needs pandas: pip install pandas") from None
            return pd.DataFrame(rows)
        return rows

    @property
    def summary(self) -> dict[str, Any]:
        """The last value of every key it logged, and ``<metric>.best``: its best value of
        the sweep's metric (what ``--print`` calls its value)."""
        out: dict[str, Any] = {}
        for row in self.history():
            out.update(row)
        if self._metric is not None:
            out[f"{self._metric}.best"] = self.value
        if self.dir is not None:  # what the program set itself (run.summary[...] = ...)
            out.update(read_summary(self.dir))
        return out


class ApiSweep:
    """A sweep as it is now: ``id``, ``project``, ``state``, ``config``, ``runs``,
    ``best_run()``; the same runs and best as ``sweepcli sweep --print --json``."""

    def __init__(self, sweep: Sweep, status: Status):
        self._sweep = sweep
        self._status = status
        self.id: str = status.id
        self.project: str | None = status.project
        self.name: str | None = status.name
        self.state: str = status.state
        self.method: str = status.method
        #: the config now (the latest ``--update``), as given
        self.config: dict[str, Any] = sweep.config.raw
        metric = sweep.config.metric
        history = {r.run_id: r.history for r in sweep.state.runs.values()}
        self.runs: list[ApiRun] = [
            ApiRun(r["run_id"], r["state"], r["config"], r["value"], r["prior"],
                   _run_dir(sweep, r["run_id"], r["prior"]),
                   metric.name if metric else None, history.get(r["run_id"], []), r["attempt"],
                   r.get("values"), r.get("feasible"), r.get("broken"))
            for r in status.runs
        ]
        by_id = {r.id: r for r in self.runs}
        #: several objectives: the runs on the Pareto front (none dominated by another)
        self.pareto: list[ApiRun] = [by_id[p["run_id"]] for p in status.pareto or ()]

    def best_run(self) -> ApiRun | None:
        """The run with the best value of the metric (the same as ``--print``'s best)."""
        best = self._status.best
        if best is None:
            return None
        return next(r for r in self.runs if r.id == best["run_id"])

    def importance(self) -> list[dict[str, Any]] | None:
        """Each varying parameter's importance for the metric and its correlation with it,
        most important first (``name``, ``importance``, ``correlation``, ``correlation_of``),
        as ``--print`` and the report show them; None below 10 runs with a value or
        without a metric. It fits a random forest: about a second."""
        metric = self._sweep.config.metric
        if metric is None:
            return None
        from .reporting.insight import importance

        valued = [(r, r.value) for r in self.runs if r.value is not None]
        return importance(self._sweep.config.space, [flat_names(r.config) for r, _ in valued],
                          [v for _, v in valued], metric.goal)

    def to_dict(self) -> dict[str, Any]:
        """What ``sweepcli sweep --print ID --json`` prints."""
        return copy.deepcopy(self._status.as_json())

    def __repr__(self) -> str:
        return f"<ApiSweep {self.id} {self.state} runs={len(self.runs)}>"


def _run_dir(sweep: Sweep, run_id: str, prior: str | None) -> Path | None:
    """A run's folder; a prior run's is its own in the sweep it came from (if still there),
    a results file's row has none."""
    if prior is None:
        return sweep.run_dir(run_id)
    ref, _, source_run = prior.rpartition("/")
    if not ref:
        return None
    try:
        parse_sweep_ref(ref)
        return sweep.sibling(ref).run_dir(source_run)
    except (InvalidId, LookupError, OSError, RuntimeError):
        return None


class Api:
    """Reads sweeps under a root folder (``dir``, else ``SWEEPCLI_DIR``, else ./sweeps), or
    in PostgreSQL (``store``, else ``SWEEPCLI_STORE``: ``postgresql://...``)."""

    def __init__(self, dir: str | Path | None = None, store: StoreRef = None):  # noqa: A002
        self.store = _where(dir, store)

    def sweep(self, ref: str) -> ApiSweep:
        """The sweep ``ref`` names (``ID``, ``PROJECT/ID`` or ``ENTITY/PROJECT/ID``)."""
        parse_sweep_ref(ref)
        sweep = self.store.open(ref)
        reap(sweep)  # (as --print: silent runs are ended first)
        return ApiSweep(sweep, look(sweep))

    def sweeps(self) -> list[str]:
        """Every sweep's reference under the root folder."""
        return self.store.list()


__all__ = [
    "Api",
    "ApiRun",
    "ApiSweep",
    "InvalidId",
    "PointError",
    "SweepClosed",
    "UpdateRefused",
    "agent",
    "cancel",
    "create",
    "enqueue",
    "open_sweep",
    "pause",
    "rerun_failed",
    "resume",
    "stop",
    "sweep",
    "update",
]
