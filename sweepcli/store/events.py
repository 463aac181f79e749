"""The journal's vocabulary: one constructor per event, and the state they replay into.

Every line of ``journal.jsonl`` is one of these operations. A line that is not one of
them, or whose fields do not have the right form (a run ID that is not an ID, a claim
of a run that exists already, values that are not numbers), is skipped and counted:
a damaged or hostile line never stops a reader and never turns into a path.
"""

from __future__ import annotations

import base64
import math
import re
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, TypeGuard

import numpy as np

from ..config import ConfigError, SweepConfig, is_number, validate
from ..runs import Run, RunState

_ID_RE = re.compile(r"^[a-z0-9]{8}$")


class Op(str, Enum):
    CLAIM = "claim"
    METRIC = "metric"
    END = "end"
    CONTROL = "control"
    RERUN = "rerun"
    PRIOR = "prior"
    ENQUEUE = "enqueue"
    CONFIG = "config"
    ATTEMPT = "attempt"
    RUN = "run"  # a whole run, as a snapshot or a restored journal states it
    FENCE = "fence"  # a stale lock was broken: what its holder writes later counts for no one
    STOP_RUN = "stop_run"  # a person asked for one running run to stop


class Control(str, Enum):
    """What the user last asked of the sweep."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    CANCELED = "canceled"


def claim_event(run_id: str, params: dict[str, Any], grid: int | None, retry_of: str | None,
                agent: str, heartbeat_timeout: float, revision: int = 0,
                queued: str | None = None, gpus: float = 0.0) -> dict[str, Any]:
    """A run is taken. ``hb``: the owner's heartbeat timeout, which every reader honours;
    ``rev``: the config revision it was decided under; ``queued``: the enqueued point it
    runs; ``gpus``: how many GPUs it is given."""
    event = {"op": Op.CLAIM.value, "run": run_id, "params": params, "grid": grid,
             "retry_of": retry_of, "agent": agent, "hb": heartbeat_timeout}
    if revision:
        event["rev"] = revision
    if queued is not None:
        event["queued"] = queued
    if gpus:
        event["gpus"] = round(gpus, 4)
    return event


def prior_event(run_id: str, params: dict[str, Any], state: RunState, values: list[float],
                source: str, summary_only: bool = False,
                more: dict[str, list[float]] | None = None,
                last: dict[str, float] | None = None) -> dict[str, Any]:
    """A run from elsewhere (another sweep, a results file) joins the history, ended."""
    event = {"op": Op.PRIOR.value, "run": run_id, "params": params,
             "state": RunState(state).value, "values": values, "source": source,
             "summary_only": summary_only}
    if more:
        event["more"] = more
    if last:
        event["last"] = last
    return event


def enqueue_event(point_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """A point to run before the search's own suggestions, once."""
    return {"op": Op.ENQUEUE.value, "id": point_id, "params": params}


def config_event(raw: dict[str, Any], revision: int) -> dict[str, Any]:
    """A new config for the sweep (``sweep --update``), effective from the next claim."""
    return {"op": Op.CONFIG.value, "rev": revision, "config": raw}


def _of_attempt(event: dict[str, Any], attempt: int) -> dict[str, Any]:
    if attempt != 1:  # the first attempt's events look as they always did
        event["attempt"] = attempt
    return event


def metric_event(run_id: str, values: list[float], attempt: int = 1,
                 at: int | None = None, more: dict[str, list[float]] | None = None,
                 last: dict[str, float] | None = None) -> dict[str, Any]:
    """New values of a run's metric. ``at``: how many values its history held before them,
    so that a line read twice (a restored journal) adds nothing the second time. ``more``:
    the other objectives' [smallest, largest] new values (``metrics:``). ``last``: the
    constrained metrics' latest values (``sweepcli.constraints``)."""
    event: dict[str, Any] = {"op": Op.METRIC.value, "run": run_id, "values": values}
    if at is not None:
        event["n"] = at
    if more:
        event["more"] = more
    if last:
        event["last"] = last
    return _of_attempt(event, attempt)


def end_event(run_id: str, state: RunState, exit_code: int | None = None, attempt: int = 1,
              reason: str | None = None, crash: bool = False, kept: int | None = None
              ) -> dict[str, Any]:
    """An attempt ended. ``crash``: its agent vanished (counted against ``max_retries``,
    also when the state written is ``failed`` because the retries are used up). ``kept``
    (pbt): a copy of its checkpoint at this step was kept for others to exploit."""
    event = {"op": Op.END.value, "run": run_id, "state": RunState(state).value, "exit": exit_code}
    if reason:
        event["reason"] = reason
    if crash:
        event["crash"] = True
    if kept is not None:
        event["kept"] = kept
    return _of_attempt(event, attempt)


def attempt_event(run_id: str, attempt: int, agent: str, heartbeat_timeout: float,
                  revision: int = 0, gpus: float = 0.0,
                  segment: dict[str, Any] | None = None) -> dict[str, Any]:
    """A crashed, preempted or re-queued run is taken again: attempt ``attempt`` of the same
    run, in the same folder, continuing the same history. ``segment`` (pbt): the attempt
    starts the member's next segment: ``{"step", "params", "parent": [run, step] | None}``."""
    event = {"op": Op.ATTEMPT.value, "run": run_id, "attempt": attempt, "agent": agent,
             "hb": heartbeat_timeout, "rev": revision}
    if gpus:
        event["gpus"] = round(gpus, 4)
    if segment is not None:
        event["seg"] = segment
    return event


def stop_run_event(run_id: str, attempt: int) -> dict[str, Any]:
    """A person asks for a run's current attempt to stop (``sweep --stop ID --run RUN``, the
    page): its agent stops it gracefully, ``stopped``."""
    return {"op": Op.STOP_RUN.value, "run": run_id, "attempt": attempt}


def fence_event(token: str) -> dict[str, Any]:
    """The lock stamped ``token`` was broken as stale: its holder's events written after
    this line (it stalled between its last check of the lock and its write) are ignored."""
    return {"op": Op.FENCE.value, "token": token}


def control_event(control: Control) -> dict[str, Any]:
    return {"op": Op.CONTROL.value, "state": Control(control).value}


def rerun_event(run_ids: list[str]) -> dict[str, Any]:
    return {"op": Op.RERUN.value, "runs": run_ids}


def _is_id(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and bool(_ID_RE.match(value))


def _extremes_ok(more: Any) -> bool:
    """{metric name: [smallest, largest]} with finite numbers, smallest first."""
    return isinstance(more, dict) and all(
        isinstance(k, str) and isinstance(v, list) and len(v) == 2 and all(is_number(x) for x in v)
        and v[0] <= v[1] for k, v in more.items())


def _last_ok(last: Any) -> bool:
    """{metric name: its latest value}, finite numbers."""
    return isinstance(last, dict) and all(isinstance(k, str) and is_number(v)
                                          for k, v in last.items())


def _params_ok(params: Any) -> TypeGuard[dict[str, Any]]:
    """A point as we write it: flat names (strings) and no NaN or infinity in its values.
    A name may be the dotted prefix of another (``optimizer`` beside ``optimizer.lr``: W&B
    takes flat dotted names, and a program sees both keys as they are). (Checked for every
    run a replay reads: kept cheap.)"""
    if not isinstance(params, dict):
        return False
    for k, v in params.items():
        if not isinstance(k, str):
            return False
        if isinstance(v, float):
            if not math.isfinite(v):
                return False
        elif isinstance(v, (dict, list)) and not _finite([v]):
            return False
    return True


def _segment_ok(seg: Any) -> bool:
    """A pbt segment as an attempt event states it."""
    if not isinstance(seg, dict) or set(seg) - {"step", "params", "parent"}:
        return False
    step, parent = seg.get("step"), seg.get("parent")
    return (_is_int(step) and step >= 0 and _params_ok(seg.get("params"))
            and (parent is None or (isinstance(parent, list) and len(parent) == 2
                                    and _is_id(parent[0]) and _is_int(parent[1])
                                    and parent[1] >= 0)))


def _finite(values: list[Any]) -> bool:
    """No NaN or infinity anywhere in these JSON values (a program could not be given one)."""
    todo = values
    while todo:
        v = todo.pop()
        if isinstance(v, float) and not math.isfinite(v):
            return False
        if isinstance(v, dict):
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)
    return True


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class SweepState:
    """Everything the journal says, replayed in order."""

    runs: dict[str, Run] = field(default_factory=dict)
    control: Control = Control.RUNNING
    #: runs whose parameters were taken again by a later run
    retried: set[str] = field(default_factory=set)
    #: runs started for a new point (retries not counted): what run_cap limits
    new_points: int = 0
    #: lines that were not a valid event (damaged or foreign), skipped
    skipped: int = 0
    #: enqueued points not yet taken, in order: point ID -> parameters (flat)
    queue: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: every point ever enqueued (an ID is used once)
    enqueued: set[str] = field(default_factory=set)
    #: the configs given by ``--update``, in order: {"rev", "t", "config"}
    revisions: list[dict[str, Any]] = field(default_factory=list)
    #: the latest of them, validated (None: the sweep's first config holds)
    config: SweepConfig | None = None
    #: tokens of locks broken as stale: their holders' later events are ignored
    fenced: set[str] = field(default_factory=set)
    #: events ignored for that (written by a holder whose lock had been broken)
    fenced_off: int = 0
    #: runs a person asked to stop: run ID -> the attempt asked of
    stop_asked: dict[str, int] = field(default_factory=dict)

    def apply(self, e: Any) -> bool:
        """Apply one event; False (and counted) when it is not a valid one, or was written
        under a lock that had been broken (counted apart: it was ours, and late)."""
        try:
            op = Op(e.get("op")) if isinstance(e, dict) else None
        except ValueError:
            op = None
        if op is not None and self.fenced and e.get("lk") in self.fenced:
            self.fenced_off += 1
            return False
        ok = op is not None and getattr(self, f"_apply_{op.value}")(e)
        if not ok:
            self.skipped += 1
        return ok

    def _apply_claim(self, e: dict[str, Any]) -> bool:
        rid, params, grid, retry_of = e.get("run"), e.get("params", {}), e.get("grid"), e.get("retry_of")
        if not _is_id(rid) or rid in self.runs or not _params_ok(params):
            return False
        if grid is not None and not (_is_int(grid) and grid >= 0):
            return False
        if retry_of is not None and not _is_id(retry_of):
            return False
        rev, queued = e.get("rev", 0), e.get("queued")
        if not (_is_int(rev) and rev >= 0) or (queued is not None and not _is_id(queued)):
            return False
        t, hb, agent = e.get("t", 0.0), e.get("hb"), e.get("agent", "")
        gpus = e.get("gpus", 0)
        if not (is_number(gpus) and 0 <= gpus <= 4096):
            return False
        self.runs[rid] = Run(
            run_id=rid,
            params=params,
            grid_index=grid,
            retry_of=retry_of,
            agent=agent if isinstance(agent, str) else "",
            started_at=float(t) if is_number(t) else 0.0,
            attempt_started_at=float(t) if is_number(t) else 0.0,
            heartbeat_timeout=float(hb) if is_number(hb) and hb > 0 else None,
            revision=rev,
            queued=queued,
            gpus=gpus,
        )
        if queued is not None:
            self.queue.pop(queued, None)
        if retry_of:
            self.retried.add(retry_of)
        else:
            self.new_points += 1
        return True

    def _apply_prior(self, e: dict[str, Any]) -> bool:
        rid, params, values, source = e.get("run"), e.get("params"), e.get("values"), e.get("source")
        try:
            state = RunState(e.get("state"))
        except ValueError:
            return False
        if (not _is_id(rid) or rid in self.runs or not _params_ok(params)
                or not isinstance(values, list)
                or not isinstance(source, str) or state == RunState.RUNNING):
            return False
        more, last = e.get("more"), e.get("last")
        if (more is not None and not _extremes_ok(more)) or (last is not None
                                                             and not _last_ok(last)):
            return False
        t = e.get("t", 0.0)
        self.runs[rid] = Run(run_id=rid, params=params, state=state,
                             history=[float(v) for v in values if is_number(v)],
                             started_at=float(t) if is_number(t) else 0.0, prior=source,
                             summary_only=e.get("summary_only") is True)
        if more:
            self.runs[rid].fold_extremes(more)
        if last:
            self.runs[rid].last.update({k: float(v) for k, v in last.items()})
        return True

    def _apply_enqueue(self, e: dict[str, Any]) -> bool:
        pid, params = e.get("id"), e.get("params")
        if not _is_id(pid) or pid in self.enqueued or not _params_ok(params):
            return False
        self.enqueued.add(pid)
        self.queue[pid] = params
        return True

    def _apply_config(self, e: dict[str, Any]) -> bool:
        rev, raw = e.get("rev"), e.get("config")
        if not (_is_int(rev) and rev == len(self.revisions) + 1) or not isinstance(raw, dict):
            return False
        try:
            config = validate(raw)
        except ConfigError:
            return False  # never written by us (we validate first): damaged or foreign
        t = e.get("t")
        self.revisions.append({"rev": rev, "t": float(t) if is_number(t) else None,
                               "config": raw})
        self.config = replace(config, revision=rev)
        return True

    def _apply_metric(self, e: dict[str, Any]) -> bool:
        run, values = self.runs.get(e.get("run")), e.get("values")  # type: ignore[arg-type]
        attempt, at = e.get("attempt", 1), e.get("n")
        if (run is None or not isinstance(values, list) or not _is_int(attempt)
                or not (at is None or (_is_int(at) and at >= 0))):
            return False
        more, last = e.get("more"), e.get("last")
        if (more is not None and not _extremes_ok(more)) or (last is not None
                                                             and not _last_ok(last)):
            return False
        if attempt == run.attempt:  # a superseded attempt's late lines are not history
            new = [float(v) for v in values if is_number(v)]
            if at is not None and at < len(run.history):
                new = new[len(run.history) - at:]  # values it holds already: a line read twice
            run.history.extend(new)
            if more:
                run.fold_extremes(more)
            if last:
                run.last.update({k: float(v) for k, v in last.items()})
        return True

    def _apply_end(self, e: dict[str, Any]) -> bool:
        run = self.runs.get(e.get("run"))  # type: ignore[arg-type]
        try:
            state = RunState(e.get("state"))
        except ValueError:
            return False
        code, t, attempt, reason = e.get("exit"), e.get("t"), e.get("attempt", 1), e.get("reason")
        if (run is None or state == RunState.RUNNING or not (code is None or _is_int(code))
                or not _is_int(attempt) or not (reason is None or isinstance(reason, str))):
            return False
        if attempt != run.attempt:
            return True  # an earlier attempt that came back after being resumed elsewhere
        # A late end from an agent that came back after being marked crashed still counts:
        # its result is kept.
        kept = e.get("kept")
        if kept is not None and not (_is_int(kept) and kept > 0):
            return False
        if run.state in (RunState.RUNNING, RunState.CRASHED):
            if kept is not None and kept not in run.kept:
                run.kept.append(kept)
            if e.get("crash") is True or state == RunState.CRASHED:
                run.crashes += 1
            run.state = state
            run.ended_at = float(t) if is_number(t) else None
            run.exit_code = code
            run.reason = reason
        return True

    def _apply_attempt(self, e: dict[str, Any]) -> bool:
        run, attempt, rev = self.runs.get(e.get("run")), e.get("attempt"), e.get("rev", 0)  # type: ignore[arg-type]
        if (run is None or run.prior is not None or not _is_int(attempt)
                or attempt != run.attempt + 1
                or run.state not in (RunState.CRASHED, RunState.PREEMPTED, RunState.FAILED,
                                     RunState.PAUSED)
                or not (_is_int(rev) and rev >= 0)):
            return False
        gpus, seg = e.get("gpus", 0), e.get("seg")
        if not (is_number(gpus) and 0 <= gpus <= 4096) or not (seg is None or _segment_ok(seg)):
            return False
        if seg is not None:
            if not run.segments:  # the first segment, implicit until a second one comes
                run.segments.append({"from": 0, "step": 0, "params": dict(run.params),
                                     "parent": None})
            run.segments.append({"from": len(run.history), "step": seg["step"],
                                 "params": seg["params"], "parent": seg.get("parent")})
            run.params = dict(seg["params"])
        run.attempts.append({"attempt": run.attempt, "state": run.state.value,
                             "agent": run.agent, "started_at": run.attempt_started_at,
                             "ended_at": run.ended_at, "exit_code": run.exit_code,
                             "reason": run.reason, **({"gpus": run.gpus} if run.gpus else {})})
        run.gpus = gpus
        t, hb, agent = e.get("t", 0.0), e.get("hb"), e.get("agent", "")
        run.attempt = attempt
        run.attempt_from = len(run.history)
        run.state = RunState.RUNNING
        run.agent = agent if isinstance(agent, str) else ""
        run.attempt_started_at = float(t) if is_number(t) else 0.0
        run.heartbeat_timeout = float(hb) if is_number(hb) and hb > 0 else None
        run.ended_at = run.exit_code = run.reason = None
        run.requeued = False  # (its grid index stays that of the config it was claimed under)
        return True

    def _apply_stop_run(self, e: dict[str, Any]) -> bool:
        run, attempt = self.runs.get(e.get("run")), e.get("attempt")  # type: ignore[arg-type]
        if run is None or not _is_int(attempt):
            return False
        self.stop_asked[run.run_id] = attempt
        return True

    def _apply_fence(self, e: dict[str, Any]) -> bool:
        token = e.get("token")
        if not (isinstance(token, str) and 0 < len(token) <= 64):
            return False
        self.fenced.add(token)
        return True

    def _apply_control(self, e: dict[str, Any]) -> bool:
        try:
            control = Control(e.get("state"))
        except ValueError:
            return False
        if self.control != Control.CANCELED:  # canceled is final
            self.control = control
        return True

    def _apply_rerun(self, e: dict[str, Any]) -> bool:
        ids = e.get("runs")
        if not isinstance(ids, list):
            return False
        for rid in ids:
            run = self.runs.get(rid) if isinstance(rid, str) else None
            if run is not None:
                run.requeued = True
        return True

    def _apply_run(self, e: dict[str, Any]) -> bool:
        """A whole run (a snapshot's or a restored journal's): taken when it is news, i.e.
        the run is unknown, or this record is further along (a later attempt, more
        history, or ended where the known one still runs); else it changes nothing."""
        rid, record = e.get("run"), e.get("record")
        if not _is_id(rid) or not isinstance(record, dict):
            return False
        try:
            run = run_from_record(rid, record)
        except (TypeError, ValueError, KeyError):
            return False
        known = self.runs.get(rid)
        if known is not None and not _ahead(run, known):
            return True
        self.runs[rid] = run
        if known is None and run.prior is None:
            if run.retry_of:
                self.retried.add(run.retry_of)
            else:
                self.new_points += 1
        if run.queued is not None:
            self.enqueued.add(run.queued)
            self.queue.pop(run.queued, None)
        return True

    def running(self) -> list[Run]:
        return [r for r in self.runs.values() if r.state == RunState.RUNNING]

    def covers(self, other: SweepState) -> bool:
        """Whether this state holds everything ``other`` does (a restored journal that a
        reader can take as it is)."""
        if other.control == Control.CANCELED and self.control != Control.CANCELED:
            return False
        if len(self.revisions) < len(other.revisions) or not other.enqueued <= self.enqueued:
            return False
        for rid, theirs in other.runs.items():
            mine = self.runs.get(rid)
            if mine is None or _ahead(theirs, mine):
                return False
        return True

    def compact_count(self) -> int:
        """How many events :meth:`compact` yields."""
        return (len(self.fenced) + len(self.revisions) + len(self.runs) + len(self.queue)
                + (self.control != Control.RUNNING))

    def compact(self) -> Iterator[dict[str, Any]]:
        """Events that rebuild this state from nothing: the configs, one ``run`` per run,
        the points still queued, the control state. What a snapshot holds, and what a
        restored journal starts with. (A generator: hold the state still while it runs.)"""
        for token in sorted(self.fenced):
            yield fence_event(token)
        for r in self.revisions:
            yield config_event(r["config"], r["rev"]) | {"t": r["t"]}
        for rid, run in self.runs.items():
            yield {"op": Op.RUN.value, "run": rid, "record": run_record(run)}
        for pid, params in self.queue.items():
            yield enqueue_event(pid, params)
        if self.control != Control.RUNNING:
            yield control_event(self.control)


def _ahead(a: Run, b: Run) -> bool:
    """Whether run record ``a`` is further along than ``b`` (the same run)."""
    if a.attempt != b.attempt:
        return a.attempt > b.attempt
    if len(a.history) != len(b.history):
        return len(a.history) > len(b.history)
    return b.state == RunState.RUNNING and a.state != RunState.RUNNING or (
        b.state == RunState.CRASHED and a.state not in (RunState.RUNNING, RunState.CRASHED))


_RECORD_FIELDS = ("params", "grid_index", "retry_of", "agent", "started_at", "ended_at",
                  "exit_code", "requeued", "heartbeat_timeout", "revision", "prior",
                  "summary_only", "queued", "attempt", "attempt_started_at", "attempts", "attempt_from",
                  "crashes", "reason", "extremes", "last", "gpus", "segments", "kept")


def run_record(run: Run) -> dict[str, Any]:
    """A run as plain JSON, its whole history included as little-endian float64 in base64
    (a tenth of the time to read back that a list of numbers takes)."""
    record = {k: getattr(run, k) for k in _RECORD_FIELDS}
    record["state"] = run.state.value
    record["history64"] = base64.b64encode(
        np.asarray(run.history, dtype="<f8").tobytes()).decode("ascii")
    return record


def _history(record: dict[str, Any]) -> tuple[array, float | None, float | None]:
    """A record's history, checked (finite float64 values; ValueError if not), with its
    smallest and largest value."""
    if "history64" in record:
        encoded = record["history64"]
        if not isinstance(encoded, str):
            raise ValueError("history64")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (ValueError, TypeError):
            raise ValueError("history64") from None
        if len(raw) % 8:
            raise ValueError("history64")
        values = np.frombuffer(raw, dtype="<f8")
    else:
        history = record["history"]
        if not isinstance(history, list):
            raise ValueError("history")
        try:
            values = np.asarray(array("d", history))
        except (TypeError, OverflowError):
            raise ValueError("history") from None
    if not values.size:
        return array("d"), None, None
    lo, hi = float(values.min()), float(values.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):  # a NaN makes both NaN
        raise ValueError("history")
    out = array("d")
    out.frombytes(values.tobytes() if sys.byteorder == "little" else values.astype("=f8").tobytes())
    return out, lo, hi


def run_from_record(rid: str, record: dict[str, Any]) -> Run:
    """The inverse of :func:`run_record`, checking what it takes (ValueError if wrong)."""
    params = record["params"]
    if not _params_ok(params):
        raise ValueError("params")
    values, lo, hi = _history(record)  # C-level passes, not a check per value
    attempts = record.get("attempts", [])
    if not isinstance(attempts, list) or not all(isinstance(a, dict) for a in attempts):
        raise ValueError("attempts")
    for key in ("retry_of", "queued"):
        if record.get(key) is not None and not _is_id(record[key]):
            raise ValueError(key)
    segments, kept = record.get("segments", []), record.get("kept", [])
    if not isinstance(segments, list) or not all(
            isinstance(s, dict) and _is_int(s.get("from")) and s["from"] >= 0
            and _segment_ok({k: v for k, v in s.items() if k != "from"}) for s in segments):
        raise ValueError("segments")
    if not isinstance(kept, list) or not all(_is_int(k) and k > 0 for k in kept):
        raise ValueError("kept")
    for key in ("attempt", "crashes", "revision", "attempt_from"):
        if not (_is_int(record.get(key, 0)) and record.get(key, 0) >= 0):
            raise ValueError(key)
    grid = record.get("grid_index")
    if grid is not None and not (_is_int(grid) and grid >= 0):
        raise ValueError("grid_index")

    def number(key: str) -> float | None:
        v = record.get(key)
        return float(v) if is_number(v) else None

    def text(key: str) -> str | None:
        v = record.get(key)
        return v if isinstance(v, str) else None

    run = Run(run_id=rid, params=params, state=RunState(record["state"]), history=values,
               grid_index=grid, retry_of=record.get("retry_of"), agent=text("agent") or "",
               started_at=number("started_at") or 0.0, ended_at=number("ended_at"),
               exit_code=record["exit_code"] if _is_int(record.get("exit_code")) else None,
               requeued=record.get("requeued") is True,
               heartbeat_timeout=number("heartbeat_timeout"), revision=record.get("revision", 0),
               prior=text("prior"), summary_only=record.get("summary_only") is True,
               queued=record.get("queued"), attempt=max(1, record.get("attempt", 1)),
               attempt_started_at=number("attempt_started_at") or 0.0, attempts=attempts,
               crashes=record.get("crashes", 0), reason=text("reason"),
               attempt_from=record.get("attempt_from", 0),
               gpus=float(record["gpus"]) if is_number(record.get("gpus")) else 0.0,
               segments=[dict(s) for s in segments], kept=list(kept))
    extremes = record.get("extremes", {})
    if extremes:
        if not _extremes_ok(extremes):
            raise ValueError("extremes")
        run.fold_extremes(extremes)
    last = record.get("last", {})
    if last:
        if not _last_ok(last):
            raise ValueError("last")
        run.last.update({k: float(v) for k, v in last.items()})
    if lo is not None and hi is not None:
        run.remember_extremes(lo, hi)  # its best, without a pass over the values
    return run
