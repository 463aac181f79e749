"""Prior runs for a new sweep (``sweepcli sweep CONFIG --prior SOURCE``).

A source is another sweep (``ID``, ``PROJECT/ID``: its ended runs), one run of one
(``ID/RUN_ID``), or a results file: CSV or JSONL, one row per run, a column per parameter
(dotted names for nested ones, or nested objects in JSONL) and one for the metric, and
optionally ``state``. Every row is checked against the new sweep's space: a row that
lacks a parameter, or whose value lies outside the space, is reported and skipped, never
guessed.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SweepcliError, UsageError
from . import jsonline
from .agent.metrics import MetricReader
from .config import Param, SweepConfig, is_number
from .runs import Run, RunState
from .store import InvalidId, Sweep, SweepNotFound, SweepStore
from .store.files import parse_sweep_ref
from .store.files import check_id

#: the states of another sweep's runs that join as prior runs: ended, with a result (a
#: crashed or preempted run's point was run again, and that run is the result)
PRIOR_STATES = (RunState.FINISHED, RunState.STOPPED, RunState.FAILED, RunState.KILLED)
#: a results file's rows may also say crashed (W&B's CSV export does): an ended run there
FILE_STATES = (*PRIOR_STATES, RunState.CRASHED)
#: Python's spellings that pandas writes into CSV files, read as JSON's
_PYTHON_WORDS = {"True": "true", "False": "false", "None": "null"}
MAX_FILE = 256 << 20


class PriorError(UsageError, ValueError):
    """A source that cannot be read at all (exit 2: nothing is created)."""


@dataclass
class PriorRun:
    params: dict[str, Any]
    state: RunState
    values: list[float]
    source: str
    summary_only: bool = False
    #: the constrained metrics' final values (``sweepcli.constraints``)
    last: dict[str, float] = field(default_factory=dict)


@dataclass
class Priors:
    """What the sources gave: the runs to import and, for the user, what was skipped."""

    runs: list[PriorRun] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def gather(store: SweepStore, sources: list[str], config: SweepConfig) -> Priors:
    """Every source's runs that fit ``config``'s space."""
    out = Priors()
    for source in sources:
        path = Path(source)
        if os.path.isfile(path):
            _from_file(path, config, out)
            continue
        sweep, run_id = _resolve(store, source)
        _from_sweep(sweep, run_id, config, out)
    return out


def _resolve(store: SweepStore, source: str) -> tuple[Sweep, str | None]:
    """A sweep reference, or one with a run ID after it; exactly one of them must exist."""
    found: list[tuple[Sweep, str | None]] = []
    problems = []
    parts = source.split("/")
    for ref, run_id in [(source, None), ("/".join(parts[:-1]), parts[-1])]:
        if not ref:
            continue
        try:
            parse_sweep_ref(ref)
            if run_id is not None:
                check_id(run_id, "run ID")
            sweep = store.open(ref)
        except (InvalidId, SweepNotFound) as exc:
            problems.append(str(exc))
            continue
        if run_id is not None:
            sweep.refresh()
            if run_id not in sweep.state.runs:
                problems.append(f"sweep {sweep.ref} has no run {run_id}")
                continue
        found.append((sweep, run_id))
    if "/" not in source and not any(f[0].sweep_id == source for f in found):
        found += _runs_named(store, source)  # W&B's bare form: -R RUN_ID
    if not found:
        raise PriorError(f"--prior {source}: no such file, sweep or run in {store.root} "
                         f"({'; '.join(problems)})")
    if len(found) > 1 and all(run_id is not None for _, run_id in found):
        where = ", ".join(f"{f.ref}/{r}" for f, r in found)
        raise PriorError(f"--prior {source}: several sweeps have a run {source} ({where}): "
                         "give SWEEP_ID/RUN_ID")
    if len(found) > 1:
        raise PriorError(f"--prior {source}: names both sweep {found[0][0].ref} and run "
                         f"{found[1][1]} of sweep {found[1][0].ref}: give PROJECT/ID or "
                         "ID/RUN_ID in full")
    return found[0]


def _runs_named(store: SweepStore, run_id: str) -> list[tuple[Sweep, str | None]]:
    """The sweeps of ``store`` that hold a run ``run_id``."""
    try:
        check_id(run_id, "run ID")
    except InvalidId:
        return []
    found: list[tuple[Sweep, str | None]] = []
    for ref in store.list():
        try:
            sweep = store.open(ref)
            sweep.refresh()
        except (SweepNotFound, OSError, SweepcliError):
            continue  # a sweep that cannot be read holds nothing we can take
        if run_id in sweep.state.runs:
            found.append((sweep, run_id))
    return found


def _fit(config: SweepConfig, params: dict[str, Any], where: str, out: Priors) -> dict[str, Any] | None:
    """The row's point in the new space (flat names), or None after saying why not."""
    point = {}
    active = config.space.active_names(params) if config.space.conditions else None
    for p in config.space.params:
        if active is not None and p.name not in active:
            continue  # inactive in this point: not part of it
        if p.name not in params:
            out.skipped.append(f"{where}: no value for parameter {p.name}")
            return None
        value = params[p.name]
        if not p.contains(value):
            out.skipped.append(f"{where}: {p.name} = {value!r} is outside the new sweep's space")
            return None
        point[p.name] = value
    why = config.space.broken(point)
    if why is not None:
        out.skipped.append(f"{where}: {why}")  # (a point the new sweep would never run)
        return None
    return point


def _from_sweep(sweep: Sweep, run_id: str | None, config: SweepConfig, out: Priors) -> None:
    sweep.refresh()
    if run_id is not None:
        runs = [sweep.state.runs[run_id]]
        if runs[0].state not in PRIOR_STATES:
            out.skipped.append(f"run {run_id} of sweep {sweep.ref}: {runs[0].state}, not ended "
                               "with a result")
            return
    else:
        runs = [r for r in sweep.state.runs.values()
                if r.prior is None and r.state in PRIOR_STATES]
    theirs = sweep.config.metric
    ours = config.metric
    extra: set[str] = set()
    for run in runs:
        where = f"run {run.run_id} of sweep {sweep.ref}"
        point = _fit(config, run.params, where, out)
        if point is None:
            continue
        extra |= set(run.params) - set(point)
        if ours is None:
            values: list[float] = []
        elif theirs is not None and theirs.name == ours.name:
            values = list(run.history)
        else:  # another metric: read it from the run's own metric lines
            values = _logged(sweep, run, ours.name)
        last = {}
        for limit in config.constraints:
            if limit.metric in run.last:
                last[limit.metric] = run.last[limit.metric]
            else:
                logged = _logged(sweep, run, limit.metric)
                if logged:
                    last[limit.metric] = logged[-1]
        out.runs.append(PriorRun(point, run.state, values, f"{sweep.ref}/{run.run_id}",
                                 last=last))
    if extra:
        out.notes.append(f"sweep {sweep.ref}: parameter(s) {', '.join(sorted(extra))} are not in "
                         "the new sweep; its runs join without them")


def _logged(sweep: Sweep, run: Run, name: str) -> list[float]:
    reader = MetricReader(sweep.run_dir(run.run_id) / "metrics.jsonl")
    return reader.metric_values(reader.read(final=True), name)


def _cell(p: Param, text: str) -> Any:
    """A CSV cell as the parameter's value: JSON where it reads as JSON (numbers, true,
    lists), else the text; a categorical's value is also found by its text."""
    try:
        value = jsonline.parse(_PYTHON_WORDS.get(text.strip(), text), allow_nan=False)
    except ValueError:
        value = text
    if p.contains(value):
        return value
    if p.is_categorical:
        for v in p.spec["values"]:
            if str(v) == text or (isinstance(v, bool) and str(v).lower() == text.lower()):
                return v
    return value


def _rows(path: Path) -> list[tuple[int, dict[str, Any], bool]]:
    """(row number, row, from CSV) of a results file."""
    try:
        if os.path.getsize(path) > MAX_FILE:
            raise PriorError(f"--prior {path}: larger than {MAX_FILE >> 20} MiB")
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark too
    except OSError as exc:
        raise PriorError(f"--prior {path}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PriorError(f"--prior {path}: not a UTF-8 text file") from None
    is_jsonl = path.suffix.lower() in (".jsonl", ".ndjson", ".json") or (
        path.suffix.lower() != ".csv" and text.lstrip().startswith("{"))
    rows: list[tuple[int, dict[str, Any], bool]] = []
    if is_jsonl:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = jsonline.parse(line, allow_nan=False)
            except ValueError:
                raise PriorError(f"--prior {path}: line {n} is not JSON") from None
            if not isinstance(obj, dict):
                raise PriorError(f"--prior {path}: line {n} is not a JSON object")
            rows.append((n, obj, False))
        return rows
    reader = csv.DictReader(text.splitlines())
    try:
        if not reader.fieldnames:
            raise PriorError(f"--prior {path}: no header row (the parameter and metric names)")
        for n, row in enumerate(reader, 2):
            rows.append((n, {k: v for k, v in row.items() if k is not None and v not in (None, "")},
                         True))
    except csv.Error as exc:  # a cell over the csv module's limit (128 KiB), a stray NUL
        raise PriorError(f"--prior {path}: row {reader.line_num + 1} is not CSV ({exc})") from None
    return rows


def _lookup(row: dict[str, Any], name: str) -> Any:
    """``name`` in a JSON row: the key itself, else a dotted path into nested objects."""
    if name in row:
        return row[name]
    node: Any = row
    for key in name.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _from_file(path: Path, config: SweepConfig, out: Priors) -> None:
    metric = config.metric
    by_name = {p.name: p for p in config.space.params}
    known = set(by_name) | {"state", "State"} | ({metric.name} if metric else set())
    ignored: set[str] = set()
    tops = {name.split(".")[0] for name in known}
    for n, row, from_csv in _rows(path):
        where = f"{path} row {n}" if from_csv else f"{path} line {n}"
        if from_csv:
            ignored |= set(row) - known
            params = {k: _cell(by_name[k], v) for k, v in row.items() if k in by_name}
        else:  # nested objects down to the parameters (a value may itself be a mapping)
            ignored |= {k for k in row if k not in known and k not in tops}
            params = config.space.flat_point(row)
        point = _fit(config, params, where, out)
        if point is None:
            continue
        state = RunState.FINISHED
        given = row.get("state", row.get("State"))  # W&B's CSV export says State
        if given is not None:
            try:
                state = RunState(str(given).strip().lower())
            except ValueError:
                state = RunState.RUNNING
            if state not in FILE_STATES:
                out.skipped.append(f"{where}: state {given!r} is not one of "
                                   f"{', '.join(s.value for s in FILE_STATES)}")
                continue
        values: list[float] = []
        if metric is not None:
            raw = row.get(metric.name) if from_csv else _lookup(row, metric.name)
            value: Any = raw
            if from_csv and isinstance(raw, str):
                try:
                    value = float(raw)
                except ValueError:
                    value = None
            if raw is None and state == RunState.FINISHED:
                out.skipped.append(f"{where}: no value for the metric {metric.name}")
                continue
            if raw is not None and not is_number(value):
                out.skipped.append(f"{where}: {metric.name} = {raw!r} is not a finite number")
                continue
            if raw is not None:
                values = [float(value)]
        out.runs.append(PriorRun(point, state, values, f"{path.name}:{n}", summary_only=True))
    if ignored:
        out.notes.append(f"{path}: column(s) {', '.join(sorted(ignored))} are neither a "
                         "parameter nor the metric: ignored")
