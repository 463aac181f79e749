"""Following one run while it runs: its heartbeat (a thread of its own), and its metric
lines, which go to the journal, where the sweep's stopping rule judges them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import goals
from ..budget import budget_spent
from ..early_stop import VerdictKind, judge
from ..errors import describe
from ..runs import Run, RunState, fold_extremes
from ..store import LockLost, LockTimeout, Sweep
from ..store.events import Control, end_event, metric_event
from ..store.files import HELPER, KEPT_END
from ..search import pbt
from .display import Display
from .endings import Ending
from .metrics import MetricReader

JOURNAL_POLL = 0.5  # seconds between looks at the journal for pause/cancel while running
METRIC_FLUSH = 0.25  # at most this long before new metric values reach the journal
LOCK_WAIT = 2.0  # seconds a claim or a metric flush waits for the lock before trying later
KEEP_END_AFTER = LOCK_WAIT  # the lock not had this long: a run's end is kept in its folder first
#: a lock held by other agents this long is worth saying (shorter waits are ordinary
#: contention between agents started together)
NOTEWORTHY_WAIT = 30.0


class Heartbeat:
    """Touches a run's heartbeat file every ``interval`` seconds from a thread of its own,
    so nothing the agent waits for (the lock, a full disk, a slow journal) can starve it."""

    def __init__(self, sweep: Sweep, run_id: str, interval: float):
        self.sweep = sweep
        self.run_id = run_id
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep.heartbeat(self.run_id)
            except OSError:
                pass  # the next beat may go through; the timeout allows several misses

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class RunWatch:
    """Follows one run: metric lines, the sweep's control state, hyperband.

    Nothing here may end a healthy run: a journal it cannot write now (a full disk, the
    lock held elsewhere) keeps the new values for the next look.
    """

    def __init__(self, sweep: Sweep, display: Display, retry: Callable[..., Any],
                 run_id: str, run_dir: Path, slot: int = 0, attempt: int = 1):
        self.sweep = sweep
        self.display = display
        self.retry = retry  # the agent's: what a full disk or a held lock refuses, tried again
        self.slot = slot
        self.run_id = run_id
        self.run_dir = run_dir
        self.attempt = attempt
        self.started = time.monotonic()
        self.reader = MetricReader(run_dir / "metrics.jsonl")
        self.metric = sweep.config.metric
        #: several objectives: the others, whose [smallest, largest] new values go along
        self.others = [m.name for m in sweep.config.metrics[1:]]
        self.more: dict[str, list[float]] = {}
        #: ``sweepcli.constraints``: the constrained metrics, and their latest new values
        self.constrained = [c.metric for c in sweep.config.constraints]
        self.last: dict[str, float] = {}
        self.history: list[float] = []
        self.unsent: list[float] = []
        #: why the run ended as it did, when it is not plain (``timeout``)
        self.reason: str | None = None
        #: the agent asked it to stop through its stop file (a rule, the budget), when it
        #: had logged ``asked_at`` values; ``went_on``: it logged more after that
        self.stop_asked = False
        self.asked_at = 0
        self.went_on = threading.Event()
        #: how many values the run had when the stopping rule last judged it: a rung at or
        #: below it was judged then (and the run kept), and is not judged again
        self.judged_at = 0
        if attempt > 1:
            self._continue_history()
        now = time.monotonic()
        self.next_journal = now + JOURNAL_POLL
        self.next_flush = now
        self._said: set[str] = set()
        #: since when each kind of write has waited for the lock (cleared once it goes through)
        self._waiting_since: dict[str, float] = {}

    def _continue_history(self) -> None:
        """A resumed attempt: its history is the run's so far. The earlier attempts' metric
        lines are read now, and any the journal lacks (written after its agent's last
        flush, before it vanished) are sent with the first flush; the new attempt's lines
        are the ones after them."""
        run = self.sweep.state.runs.get(self.run_id)
        known = list(run.history) if run is not None else []
        self.history = list(known)
        if self.metric is None:
            self.reader.read()
            return
        lines = self.reader.read()
        self._note_others(lines)  # (min and max: what was sent already changes nothing)
        logged = self.reader.metric_values(lines, self.metric.name)
        if len(logged) > len(known) and logged[:len(known)] == known:
            missing = logged[len(known):]
            self.history.extend(missing)
            self.unsent.extend(missing)

    def best(self) -> float | None:
        if self.metric is None or not self.history:
            return None
        return goals.best(self.history, self.metric.goal)

    def _note_others(self, lines: list[dict[str, Any]]) -> None:
        for name in self.others:
            values = self.reader.metric_values(lines, name)
            if values:
                fold_extremes(self.more, {name: [min(values), max(values)]})
        for name in self.constrained:
            values = self.reader.metric_values(lines, name)
            if values:
                self.last[name] = values[-1]

    def _read_metrics(self, final: bool = False) -> None:
        lines = self.reader.read(final=final)
        if lines and (self.others or self.constrained):
            self._note_others(lines)
        if lines and self.metric is not None:
            values = self.reader.metric_values(lines, self.metric.name)
            self.history.extend(values)
            self.unsent.extend(values)
            if values:
                self.display.metric(self.slot, self.metric.name, values[-1])

    def _say_once(self, what: str, exc: BaseException) -> None:
        if isinstance(exc, (LockTimeout, LockLost)):
            since = self._waiting_since.setdefault(what, time.monotonic())
            if time.monotonic() - since < NOTEWORTHY_WAIT:
                return  # ordinary contention: not news
        if what not in self._said:
            self._said.add(what)
            self.display.say(f"run {self.run_id}: cannot {what} yet ({describe(exc)}); the run "
                           "goes on and it is tried again")

    def tick(self) -> Ending | None:
        """One look: how the run must end now (canceled, superseded, the budget, the
        stopping rule's stop or pause), or None while it goes on."""
        now = time.monotonic()
        self._read_metrics()
        verdict = None
        if (self.unsent or self.more or self.last) and now >= self.next_flush:
            try:
                verdict = self._flush()
                self._waiting_since.pop("write its metric values to the journal", None)
            except (OSError, LockTimeout, LockLost) as exc:
                self._say_once("write its metric values to the journal", exc)
            self.next_flush = now + METRIC_FLUSH
        if now >= self.next_journal:
            try:
                self.sweep.refresh()
                self._waiting_since.pop("read the journal", None)
            except (OSError, LockTimeout, LockLost) as exc:
                self._say_once("read the journal", exc)
            for notice in self.sweep.notices:
                self.display.say(notice)
            self.sweep.notices.clear()
            self.next_journal = now + JOURNAL_POLL
        if self.sweep.state.control == Control.CANCELED:
            return Ending.CANCELED
        run = self.sweep.state.runs.get(self.run_id)
        if run is not None and run.attempt != self.attempt:
            return Ending.SUPERSEDED
        if self.sweep.state.stop_asked.get(self.run_id) == self.attempt:
            return Ending.ASKED
        return verdict

    def _flush(self) -> Ending | None:
        """Send new metric values to the journal; then the sweep's budget and its stopping
        rule say whether the run goes on."""
        with self.sweep.lock.waiting_at_most(LOCK_WAIT):
            self.sweep.append(metric_event(self.run_id, self.unsent, self.attempt, self._at(),
                                            self.more, self.last))
            self.unsent = []
            self.more = {}
            self.last = {}
            config = self.sweep.config
            runs: list[Run] = list(self.sweep.state.runs.values())
        spent = budget_spent(config, self.sweep.state, time.time())
        if spent is not None:
            self.reason = spent
            return Ending.BUDGET
        if config.pbt is not None:
            return self._segment_over(config)
        if config.early_stop is None:
            return None
        verdict = judge(config, runs, {self.run_id: self.judged_at}).get(self.run_id)
        mine = self.sweep.state.runs.get(self.run_id)
        self.judged_at = len(mine.history) if mine is not None else self.judged_at
        if verdict is None:
            return None
        self.reason = verdict.reason
        return Ending.PAUSE if verdict.action == VerdictKind.PAUSE else Ending.RULE

    def _segment_over(self, config: Any) -> Ending | None:
        """pbt: a program that went past its segment's end (its helper did not end it
        there: a program without it) is paused now."""
        mine = self.sweep.state.runs.get(self.run_id)
        if mine is None:
            return None
        step, end = pbt.step_of(mine), pbt.segment_end(config, mine)
        if step > end or (step == end and not (self.run_dir / HELPER).exists()):
            if end >= config.pbt.steps:
                return None  # its last step: it ends by itself, finished
            self.reason = f"its segment ended at step {end}"
            return Ending.PAUSE
        return None

    def _at(self) -> int | None:
        """How many values the run's history holds in the journal: where the values sent
        next start, so a line read twice adds nothing. Only this watch writes them, and
        its appends are applied as written, so the state in memory knows (no read)."""
        run = self.sweep.state.runs.get(self.run_id)
        return len(run.history) if run is not None and run.attempt == self.attempt else None

    def read_final(self) -> None:
        """Read the metric lines the program wrote last (before its end is recorded)."""
        self._read_metrics(final=True)

    def record_end(self, state: RunState, code: int | None, reason: str | None = None,
                   kept: int | None = None) -> None:
        """The run's last values and its end, in one append, retried until it is written.
        When the lock cannot be had at once, they are first kept in the run's folder, so
        they are never lost: whoever finds the run silent records them (see
        ``keep_end``), and this agent may wait for the lock as long as it takes."""
        self._read_metrics(final=True)
        events: list[dict[str, Any]] = []
        if self.unsent or self.more or self.last:
            events.append(metric_event(self.run_id, self.unsent, self.attempt, self._at(),
                                       self.more, self.last))
        events.append(end_event(self.run_id, state, code, self.attempt, reason, kept=kept))
        where: list[str] = []

        def write() -> bool:
            try:
                with self.sweep.lock.waiting_at_most(KEEP_END_AFTER):
                    self.sweep.append(*events)
                return True
            except (OSError, LockTimeout, LockLost):
                if not where:
                    try:
                        self.sweep.keep_end(self.run_id, events)
                        where.append(f"its end is kept in {self.run_dir / KEPT_END}, which "
                                     "whoever takes the sweep lock next records")
                    except OSError:
                        pass  # (a full disk: the retries go on as before)
                raise

        written = self.retry(f"record the end of run {self.run_id}", write,
                                   kept=lambda: where[0] if where else None)
        self.unsent = []
        self.more = {}
        self.last = {}
        if written and where:
            self.sweep.drop_kept_end(self.run_id)
