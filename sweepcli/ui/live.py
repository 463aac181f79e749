"""What an open page is sent about a sweep, read incrementally: the runs that changed since
the last look (from the journal, which a look reads only past its offset) and the metric
lines programs appended since (each running run's ``metrics.jsonl``, read only past its own
offset). The cost of a look grows with what is new, not with the sweep."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from ..agent import sweep_status
from ..budget import progress, spending
from ..config.constraints import is_feasible
from ..reporting.status import best_run, read_summary, run_value
from ..runs import Run, RunState
from ..store import Sweep
from ..store.files import open_nofollow

#: the most metric lines of one run a page is sent (the rest are thinned, evenly)
MAX_LINES = 5000
#: seconds between two heads made with no new event
HEADER_EVERY = 2.0
#: bytes of a metric file read in one look (a run that logged megabytes catches up over looks)
READ_CHUNK = 4 << 20


def row(sweep: Sweep, r: Run) -> dict[str, Any]:
    """A run as the page's table and charts have it (parameters flat)."""
    cfg = sweep.config
    out: dict[str, Any] = {
        "run_id": r.run_id, "state": r.state.value, "value": run_value(cfg, r),
        "steps": len(r.history), "params": r.params, "reason": r.reason,
        "attempt": r.attempt, "started_at": r.started_at, "ended_at": r.ended_at,
        "agent": r.agent, "prior": r.prior,
    }
    if cfg.constraints:
        out["feasible"] = is_feasible(cfg.constraints, r)
    if cfg.pbt is not None:
        from ..search import pbt

        out["step"] = pbt.step_of(r)
        out["parents"] = [s["parent"] for s in pbt.segments_of(r) if s.get("parent")]
    return out


def _signature(r: Run) -> tuple[Any, ...]:
    return (r.state, len(r.history), r.attempt, r.reason, len(r.segments))


class Live:
    """One sweep as the pages see it; ``look()`` says what changed since the last one."""

    def __init__(self, sweep: Sweep):
        self.sweep = sweep
        self.lock = threading.Lock()
        self.seen: dict[str, tuple[Any, ...]] = {}
        #: per run: (bytes of its metrics file read, lines read so far, a partial line)
        self.files: dict[str, tuple[int, int, bytes]] = {}
        self.header: dict[str, Any] = {}
        #: what the last look saw: the events applied, when its head was made, the
        #: running runs (whose metric files it follows)
        self._applied = -1
        self._header_at = 0.0
        self._running: list[str] = []
        #: the sweep's views as last made (the events applied then, their JSON): made
        #: again only when something happened
        self.views: tuple[int, str] | None = None
        self._summaries: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}

    # ---- what a page asks for first ----------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            self.sweep.refresh()
            runs = sorted(self.sweep.state.runs.values(), key=lambda r: r.started_at)
            self.seen = {r.run_id: _signature(r) for r in runs}
            self.header = self._header()
            cfg = self.sweep.config
            return {**self.header, "runs": [row(self.sweep, r) for r in runs],
                    "params": [p.name for p in cfg.space.params if p.searchable],
                    "metrics": [m.name for m in cfg.metrics] or (
                        [cfg.metric.name] if cfg.metric else [])}

    def _header(self) -> dict[str, Any]:
        sweep, cfg = self.sweep, self.sweep.config
        state = sweep.state
        counts: dict[str, int] = {}
        for r in state.runs.values():
            counts[r.state.value] = counts.get(r.state.value, 0) + 1
        best = best_run(sweep)
        now = time.time()
        runs = list(state.runs.values())
        return {
            "id": sweep.ref, "name": sweep.meta.get("name"), "method": cfg.method,
            "state": sweep_status(cfg, state), "control": state.control.value,
            "metric": None if cfg.metric is None else {"name": cfg.metric.name,
                                                       "goal": cfg.metric.goal},
            "counts": counts,
            "best": None if best is None else {"run_id": best.run_id,
                                               "value": run_value(cfg, best),
                                               "params": best.params},
            "agents": sorted({r.agent for r in runs if r.state == RunState.RUNNING and r.agent}),
            "budget": spending(cfg, runs, now),
            "progress": progress(cfg, runs, now) if cfg.pbt is None else None,
            "path": str(sweep.path),
        }

    # ---- what changed ----------------------------------------------------------------------
    def look(self) -> list[tuple[str, Any]]:
        """The events for open pages: ("sweep", header) when it changed, ("runs", rows)
        of the runs that changed, ("lines", {run: [first index, lines]}) new metric lines.
        With no new event, only the running runs' metric files are read (and the head made
        again every few seconds: a budget in hours moves with the clock)."""
        with self.lock:
            self.sweep.refresh()
            events: list[tuple[str, Any]] = []
            changed = []
            news = self.sweep.events_applied != self._applied
            if news:
                self._applied = self.sweep.events_applied
                running = []
                for r in self.sweep.state.runs.values():
                    sig = _signature(r)
                    if r.state == RunState.RUNNING:
                        running.append(r.run_id)
                    if self.seen.get(r.run_id) != sig:
                        self.seen[r.run_id] = sig
                        changed.append(row(self.sweep, r))
                self._running = running
            if changed:
                events.append(("runs", changed))
            if news or time.monotonic() - self._header_at > HEADER_EVERY:
                self._header_at = time.monotonic()
                header = self._header()
                if header != self.header:
                    self.header = header
                    events.append(("sweep", header))
            lines = {}
            ended = [c["run_id"] for c in changed if c["state"] != RunState.RUNNING.value
                     and c["run_id"] in self.files]
            # a running run's new lines; one that just ended: its last ones
            for rid in [*self._running, *ended]:
                got = self._new_lines(rid)
                if got[1]:
                    lines[rid] = got
            if lines:
                events.append(("lines", lines))
            return events

    def lines(self, run_id: str, start: int = 0) -> dict[str, Any]:
        """A run's metric lines from ``start`` (every key it logged), thinned evenly past
        ``MAX_LINES``; ``next``: where the page goes on from."""
        with self.lock:
            if run_id not in self.files:
                self.files[run_id] = (0, 0, b"")
            path = self.sweep.run_dir(run_id) / "metrics.jsonl"
            all_lines = _read_lines(path, 0, None)[1]
            done, new = self._new_lines(run_id)
            done += len(new)
        picked = all_lines[start:done]
        step = max(1, len(picked) // MAX_LINES + (1 if len(picked) > MAX_LINES else 0))
        return {"start": start, "lines": picked[::step], "thinned": step > 1,
                "next": start + len(picked)}

    def _new_lines(self, run_id: str) -> tuple[int, list[dict[str, Any]]]:
        """The lines the run's program appended since the last look: (how many came
        before them, the lines)."""
        offset, count, part = self.files.get(run_id, (0, 0, b""))
        path = self.sweep.run_dir(run_id) / "metrics.jsonl"
        offset, new, part = _read_lines(path, offset, part)
        self.files[run_id] = (offset, count + len(new), part)
        return count, new

    def summaries(self) -> dict[str, dict[str, Any]]:
        """Every run's summary (``summary.json`` of its folder): the table's summary keys.
        Read again only for the runs that changed since (a summary is written as a run goes)."""
        with self.lock:
            todo = [(r.run_id, _signature(r)) for r in self.sweep.state.runs.values()
                    if r.prior is None and self._summaries.get(r.run_id, (None,))[0] != _signature(r)]
        for rid, sig in todo:
            self._summaries[rid] = (sig, read_summary(self.sweep.run_dir(rid)))
        return {rid: s for rid, (_, s) in self._summaries.items() if s}


def _read_lines(path: Any, offset: int, part: bytes | None
                ) -> tuple[int, list[dict[str, Any]], bytes]:
    """The complete JSON lines of ``path`` past ``offset`` (never through a symlink);
    ``part``: the start of a line not yet ended (None: read the whole file)."""
    try:
        fd = open_nofollow(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return offset, [], part or b""
    try:
        size = os.fstat(fd).st_size
        if part is None:
            offset, part = 0, b""
            data = b"".join(iter(lambda: os.read(fd, 1 << 20), b""))
        else:
            if size < offset:  # (replaced: start again)
                offset, part = 0, b""
            data = os.pread(fd, min(READ_CHUNK, max(0, size - offset)), offset)
    finally:
        os.close(fd)
    offset += len(data)
    data = part + data
    *whole, rest = data.split(b"\n")
    out = []
    for raw in whole:
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return offset, out, rest
