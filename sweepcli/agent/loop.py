"""The agent: claim a run, start it, watch it, record its end; again, until done."""

from __future__ import annotations

import errno
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SweepcliError
from ..config import SweepConfig
from ..early_stop import stop_reasons
from ..runs import Run, RunState, fold_extremes
from ..store import (
    KEPT_END,
    Control,
    JournalDamaged,
    LockLost,
    LockTimeout,
    SweepFolder,
    end_event,
    heartbeat_timeout,
    metric_event,
    open_nofollow,
    touch,
    write_atomic,
    write_json_atomic,
)
from .claim import Claim, Decision, claim_next_run
from .command import render_command
from .display import Display, make_display
from .metrics import MetricReader
from ..child import SIGNALED
from ..store.settings import max_initial_failures
from .process import RunProcess

WAIT_POLL = 1.0  # seconds between looks while paused or waiting (contract: at most 2)
WATCH_POLL = 0.1  # seconds between looks at a running program
JOURNAL_POLL = 0.5  # seconds between looks at the journal for pause/cancel while running
METRIC_FLUSH = 0.25  # at most this long before new metric values reach the journal
CANCEL_GRACE = 5.0  # --cancel: SIGTERM, then SIGKILL after this (contract: dead within 10 s)
PREEMPT_GRACE = 10.0  # SIGTERM from the batch system: its own SIGKILL follows soon
FLAP_WINDOW = 60.0
LOCK_WAIT = 2.0  # seconds a claim or a metric flush waits for the lock before trying later
IO_RETRY_FOR = 600.0  # a full or failing disk: keep trying this long before giving up
KEEP_END_AFTER = LOCK_WAIT  # the lock not had this long: a run's end is kept in its folder first
DAMAGE_GRACE = 15.0  # a journal that lost runs: wait this long for a running agent to restore it
#: errors of a disk that may pass (full, flaky, a stale NFS handle, a lock server restarting)
TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.ESTALE, errno.EAGAIN,
                              errno.EINTR, errno.ETIMEDOUT, errno.EBUSY, errno.ENOLCK})


def _transient(exc: BaseException) -> bool:
    """A failure worth waiting out: a lock held elsewhere or lost, or a disk that may recover."""
    if isinstance(exc, (LockTimeout, LockLost)):
        return True
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


def describe(exc: BaseException) -> str:
    """An error in words: an OSError's text with the file it concerns when it names one."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({exc.filename})" if exc.filename else exc.strerror
    return str(exc)


class Heartbeat:
    """Touches a run's heartbeat file every ``interval`` seconds from a thread of its own,
    so nothing the agent waits for (the lock, a full disk, a slow journal) can starve it."""

    def __init__(self, folder: SweepFolder, run_id: str, interval: float):
        self.folder = folder
        self.run_id = run_id
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.folder.heartbeat(self.run_id)
            except OSError:
                pass  # the next beat may go through; the timeout allows several misses

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def is_flapping(states: list[RunState], elapsed: float, max_initial: int = 5) -> bool:
    """W&B's rule: an agent whose every run so far failed stops, after 3 failures within its
    first minute or ``max_initial`` (5) in all (a broken program, not unlucky parameters)."""
    if not states or any(s != RunState.FAILED for s in states):
        return False
    return len(states) >= max_initial or (len(states) >= min(3, max_initial)
                                          and elapsed < FLAP_WINDOW)


def failed_in_a_row(states: list[RunState]) -> int:
    """How many runs failed one after another at the end of ``states``."""
    n = 0
    for s in reversed(states):
        if s != RunState.FAILED:
            break
        n += 1
    return n


def stop_leftover_program(run_dir: Path, run_id: str) -> bool:
    """Kill the previous attempt's program if it still runs on this host (its agent was
    SIGKILLed and the program lived on): two attempts must not write one folder. Only a
    process group whose leader's environment names this very run is touched."""
    try:
        pgid = int((run_dir / "pid").read_text().strip())
        with open(f"/proc/{pgid}/environ", "rb") as f:
            environ = f.read().split(b"\0")
    except (OSError, ValueError):
        return False  # no pid file, gone, another host's, or not ours to read
    if f"SWEEPCLI_RUN_ID={run_id}".encode() not in environ or pgid <= 1:
        return False
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        return False
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    return True


def resume_folder(run_dir: Path) -> None:
    """Make a run's folder ready for its next attempt: no stop request left from the last
    one, and a metric file whose torn last line (its agent died mid-write) is ended, so the
    new attempt's first line is not glued to it."""
    for name in ("stop", SIGNALED, KEPT_END):
        try:
            (run_dir / name).unlink()
        except FileNotFoundError:
            pass
    path = run_dir / "metrics.jsonl"
    fd = open_nofollow(path, os.O_RDWR | os.O_APPEND)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            os.write(fd, b"\n")
    finally:
        os.close(fd)


def _time_spent(run: Run) -> float | None:
    """A finished run's running time: its attempts' durations added up."""
    spans = [(a["started_at"], a["ended_at"]) for a in run.attempts]
    spans.append((run.attempt_started_at, run.ended_at))
    if not all(start and end and end >= start for start, end in spans):
        return None
    return sum(end - start for start, end in spans)


def median_duration(runs: list[Run]) -> float | None:
    """How long a run takes: the median running time of the finished runs (None: none yet)."""
    took = sorted(t for r in runs if r.state == RunState.FINISHED
                  and (t := _time_spent(r)) is not None)
    if not took:
        return None
    mid = len(took) // 2
    return took[mid] if len(took) % 2 else (took[mid - 1] + took[mid]) / 2


class AgentError(SweepcliError, RuntimeError):
    """The agent stops with exit status 1 (flapping, no program, ...)."""


@dataclass
class RunResult:
    run_id: str
    state: RunState
    value: float | None
    exit_code: int | None


@dataclass
class AgentReport:
    """What an agent did, returned to the API and printed by the CLI."""

    runs: list[RunResult] = field(default_factory=list)
    reason: str = ""


def _flapping_disabled() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes")
               for v in ("SWEEPCLI_AGENT_DISABLE_FLAPPING", "WANDB_AGENT_DISABLE_FLAPPING"))


class Agent:
    """Runs the runs of one sweep, one after another."""

    def __init__(
        self,
        folder: SweepFolder,
        count: int | None = None,
        function: Callable[[], Any] | None = None,
        echo: bool = True,
        display: Display | None = None,
        gpus: list[str] | None = None,
        term_timeout: float | None = None,
        forward_signals: bool = False,
        max_consecutive_failures: int | None = None,
        time_limit: float | None = None,
        run_timeout: float | None = None,
    ):
        self.folder = folder
        self.count = count
        self.function = function
        self.echo = echo
        self.gpus: list[str | None] = list(gpus) if gpus else [None]
        if function is not None and len(self.gpus) > 1:
            raise ValueError("--gpus runs programs side by side; an in-process function cannot")
        if function is None:
            render_command(self.config.command, self.config.program, {}, {}, "")  # fail early
        self.display = display or make_display(count, len(self.gpus), live=False)
        self.say = self.display.say
        self.timeout = heartbeat_timeout()
        self.hb_interval = min(10.0, self.timeout / 4)
        #: -t/--term-timeout: the SIGTERM -> SIGKILL grace of every stop, cancel and preemption
        self.term_timeout = term_timeout
        self.forward_signals = forward_signals
        self.max_consecutive_failures = max_consecutive_failures
        self._signal = signal.SIGTERM  # the signal that preempted us (forwarded with -f)
        self.max_initial = max_initial_failures()
        #: --time-limit: seconds from now this agent may use (None: no limit)
        self.deadline = time.monotonic() + time_limit if time_limit is not None else None
        self._run_timeout = run_timeout
        # unseeded: this agent's own stream; with sweepcli.seed each claim is seeded from the
        # sweep (claim_rng), so agents started together still draw different points
        self.rng = np.random.default_rng()
        self.report = AgentReport()
        self._preempt = threading.Event()
        self._interrupts = 0
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._reserved = 0  # runs started or being claimed, against --count
        self._error: BaseException | None = None

    def grace(self, default: float | None = None) -> float:
        """Seconds between SIGTERM and SIGKILL: ``-t`` if given, else ``default``, else the
        config's ``sweepcli.stop_grace_seconds`` (30)."""
        if self.term_timeout is not None:
            return self.term_timeout
        if default is not None:
            return default
        return float(self.config.settings.stop_grace_seconds)

    def run_timeout(self) -> float | None:
        """``--run-timeout``, else the config's ``sweepcli.run_timeout`` (None: none)."""
        if self._run_timeout is not None:
            return self._run_timeout
        value = self.config.settings.run_timeout
        return float(value) if value is not None else None

    def _margin(self) -> float:
        """How long before the time limit a run is stopped: its grace and a little more."""
        return self.grace(PREEMPT_GRACE) + 5.0

    def _limits(self, watch: _Watch) -> str | None:
        """'timeout' when the run outlived its run_timeout, 'walltime' when this agent's
        time limit is near; else None."""
        limit = self.run_timeout()
        now = time.monotonic()
        if limit is not None and now - watch.started >= limit:
            return "timeout"
        if self.deadline is not None and self.deadline - now <= self._margin():
            return "walltime"
        return None

    def _nothing_fits(self) -> str | None:
        """Why no run should start before the time limit, or None when one may."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic() - self._margin()
        if left <= 0:
            return "its time limit is reached"
        try:
            runs = list(self.folder.refresh().runs.values())
        except (OSError, LockTimeout, LockLost):
            runs = []
        expected = median_duration(runs)
        if expected is not None and expected > left:
            return (f"a run takes about {expected:.0f} s (the median of the finished ones), "
                    f"and {max(left, 0):.0f} s are left before its time limit")
        return None

    @property
    def config(self) -> SweepConfig:
        """The sweep's config as of the journal last read: an ``--update`` applies from the
        next claim (a run keeps the command it was started with)."""
        return self.folder.config

    # ---- signals -----------------------------------------------------------------------
    def _install_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}

        def preempt(signum: int, frame: Any) -> None:
            self._signal = signal.Signals(signum)
            self._preempt.set()

        def interrupt(signum: int, frame: Any) -> None:
            self._interrupts += 1  # only a flag: the loop announces it (no I/O in a handler)

        signal.signal(signal.SIGTERM, preempt)
        signal.signal(signal.SIGUSR1, preempt)
        if self.function is None:  # in-process runs get Python's usual KeyboardInterrupt
            signal.signal(signal.SIGINT, interrupt)

        def restore() -> None:
            for s, h in previous.items():
                signal.signal(s, h)

        return restore

    # ---- the loop ------------------------------------------------------------------------
    def run(self) -> AgentReport:
        """Take and run runs until the sweep or ``count`` says stop."""
        restore = self._install_signals()
        self.display.start()
        try:
            if len(self.gpus) == 1:
                self._loop(0, self.gpus[0])
            else:
                threads = [threading.Thread(target=self._guarded_loop, args=(i, gpu), daemon=True)
                           for i, gpu in enumerate(self.gpus)]
                for t in threads:
                    t.start()
                for t in threads:
                    while t.is_alive():  # the main thread stays free to take signals
                        t.join(0.2)
                if self._error is not None:
                    raise self._error
        finally:
            self.display.stop()
            restore()
        return self.report

    def _guarded_loop(self, slot: int, gpu: str | None) -> None:
        try:
            self._loop(slot, gpu)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self._error = exc
            self._preempt.set()  # the other slots wind down (their runs are requeued)

    def _reserve(self) -> bool:
        with self._lock:
            if self.count is not None and self._reserved >= self.count:
                return False
            self._reserved += 1
            return True

    def _claim(self, state: dict[str, Any]) -> Claim | Decision:
        """One claim; a lock held elsewhere, a full disk or a journal being restored are
        waited out (a wait decision) rather than ending the agent."""
        try:
            # a short wait, so a signal or Ctrl-C is noticed while the lock is held elsewhere
            got = claim_next_run(self.folder, self.rng, self.timeout, lock_wait=LOCK_WAIT)
        except JournalDamaged as exc:
            since = state.setdefault("damaged", time.monotonic())
            if time.monotonic() - since > DAMAGE_GRACE:
                raise AgentError(str(exc)) from None
            return Decision("wait", "the journal lost runs; waiting for a running agent to "
                                    "restore it")
        except LockTimeout as exc:
            return Decision("wait", f"the sweep lock is held elsewhere ({exc}); retrying")
        except (OSError, LockLost) as exc:
            if not _transient(exc):
                raise AgentError(f"cannot claim a run: {describe(exc)}") from None
            return Decision("wait", f"cannot claim a run yet: {describe(exc)}; retrying")
        state.pop("damaged", None)
        for notice in self.folder.notices:
            self.say(notice)
        self.folder.notices.clear()
        try:
            self.folder.write_snapshot()  # (outside the lock; now and then, not every claim)
        except (OSError, RuntimeError):
            pass  # a cache: the journal is whole without it
        return got

    def _loop(self, slot: int, gpu: str | None) -> None:
        waiting_said = ""
        claim_state: dict[str, Any] = {}
        while True:
            if self._error is not None:
                return
            if self._preempt.is_set():
                self.report.reason = "preempted"
                return
            if self._interrupts:
                self.report.reason = "interrupted"
                return
            why = self._nothing_fits()
            if why is not None:
                self.report.reason = f"no run fits: {why}"
                return
            if not self._reserve():
                self.report.reason = f"{self.count} run(s) done"
                return
            got = self._claim(claim_state)
            if isinstance(got, Decision):
                with self._lock:
                    self._reserved -= 1
                if got.action == "done":
                    self.report.reason = got.reason
                    return
                if got.reason != waiting_said and slot == 0:
                    self.say(f"waiting: {got.reason}")
                waiting_said = got.reason
                self._sleep(WAIT_POLL)
                continue
            waiting_said = ""
            result = self._run_one(got, slot, gpu)
            with self._lock:
                self.report.runs.append(result)
            self._check_flapping()

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self._preempt.is_set() and not self._interrupts:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def _check_flapping(self) -> None:
        results = self.report.runs
        states = [r.state for r in results]
        n = self.max_consecutive_failures
        if n is not None and failed_in_a_row(states) >= n:
            why = (f"{n} runs failed in a row (--max-consecutive-failed-runs {n}), so this "
                   "agent stops.")
        elif not _flapping_disabled() and is_flapping(states, time.monotonic() - self._started,
                                                      self.max_initial):
            why = (f"the first {len(results)} runs all failed, so this agent stops (set "
                   "SWEEPCLI_AGENT_DISABLE_FLAPPING=1 to keep going).")
        else:
            return
        last = results[-1].run_id
        log_path = self.folder.run_dir(last) / "output.log"
        try:
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
        except OSError:
            tail = []
        shown = "\n".join(f"    {line}" for line in tail) or "    (no output)"
        raise AgentError(f"{why} The end of run {last}'s output ({log_path}):\n{shown}")

    # ---- retrying what a full or failing disk refuses -----------------------------------------
    def retry(self, what: str, action: Callable[[], Any], kept: Callable[[], str | None] = lambda: None
              ) -> Any:
        """``action()``, tried again while it fails with a transient error (a full disk, an
        I/O error, the lock held or lost), for up to :data:`IO_RETRY_FOR` seconds.

        ``kept()``: where what the action writes is kept meanwhile, once it is (None until
        then). What is kept is never lost, so then a sweep lock held elsewhere (a process
        stopped while it holds it) is waited out for as long as it takes, and a preemption
        or Ctrl-C hands over: the action is left to whoever takes the lock next (None)."""
        start, delay, said, last_said = time.monotonic(), 0.05, False, 0.0
        while True:
            try:
                result = action()
            except (OSError, LockTimeout, LockLost) as exc:
                where = kept()
                waited = time.monotonic() - start
                patient = where is not None and isinstance(exc, (LockTimeout, LockLost))
                if not _transient(exc) or (waited > IO_RETRY_FOR and not patient):
                    raise AgentError(f"cannot {what}: {describe(exc)}"
                                     + (f"; {where}" if where else "")) from None
                if where is not None and (self._preempt.is_set() or self._interrupts):
                    self.say(f"cannot {what} now ({describe(exc)}); {where}")
                    return None
                if not said or waited - last_said > IO_RETRY_FOR:
                    self.say(f"cannot {what} yet ({describe(exc)}); "
                             + (f"{where}; waiting" if where else "retrying"))
                    said, last_said = True, waited
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if said:
                self.say(f"{what}: done")
            return result

    # ---- one run -------------------------------------------------------------------------
    def _prepare(self, claim: Claim, gpu: str | None) -> tuple[Path, dict[str, Any], dict[str, str]]:
        run_dir = self.folder.run_dir(claim.run_id).resolve()
        nested = self.config.space.nest(claim.params)

        def files() -> None:
            self.folder.make_run_dir(claim.run_id)
            write_json_atomic(run_dir / "config.json", nested)
            touch(run_dir / "metrics.jsonl")
            if claim.attempt > 1:
                if stop_leftover_program(run_dir, claim.run_id):
                    self.say(f"run {claim.run_id}: its previous attempt's program was still "
                             "running here; killed it before resuming")
                resume_folder(run_dir)

        self.retry(f"prepare the folder of run {claim.run_id}", files)
        env = {
            **{k: v for k, v in os.environ.items() if k not in self.folder.hidden_from_programs},
            **({"CUDA_VISIBLE_DEVICES": gpu} if gpu is not None else {}),
            "SWEEPCLI_SWEEP_ID": self.folder.sweep_id,
            "SWEEPCLI_RUN_ID": claim.run_id,
            "SWEEPCLI_RUN_DIR": str(run_dir),
            "SWEEPCLI_CONFIG_FILE": str(run_dir / "config.json"),
            "SWEEPCLI_METRICS_FILE": str(run_dir / "metrics.jsonl"),
            "SWEEPCLI_ATTEMPT": str(claim.attempt),
            "SWEEPCLI_RESUME": "1" if claim.attempt > 1 else "0",
        }
        return run_dir, nested, env

    def _run_one(self, claim: Claim, slot: int = 0, gpu: str | None = None) -> RunResult:
        heartbeat = Heartbeat(self.folder, claim.run_id, self.hb_interval)
        try:
            started = time.monotonic()
            run_dir, nested, env = self._prepare(claim, gpu)
            if time.monotonic() - started > self.hb_interval:
                # preparing took long (a full disk): if the run was declared crashed meanwhile,
                # its point runs elsewhere, and starting it here would run it twice
                run = self.retry("read the journal", self.folder.refresh).runs[claim.run_id]
                if run.state != RunState.RUNNING or run.attempt != claim.attempt:
                    what = (f"resumed elsewhere (attempt {run.attempt})"
                            if run.attempt != claim.attempt else f"declared {run.state}")
                    self.say(f"run {claim.run_id} was {what} while its folder could not be "
                             "made; it is not started here")
                    return RunResult(claim.run_id, RunState.CRASHED, None, None)
            self.display.run_started(slot, claim.run_id, claim.params, claim.attempt, gpu)
            watch = _Watch(self, claim.run_id, run_dir, slot, claim.attempt)
            try:
                if self.function is not None:
                    state, code = self._run_function(claim, env, watch)
                else:
                    state, code = self._run_program(claim, nested, env, run_dir, watch)
            except BaseException as exc:
                if not isinstance(exc, AgentError):
                    watch.record_end(RunState.KILLED if isinstance(exc, KeyboardInterrupt)
                                     else RunState.FAILED, None)
                raise
            watch.record_end(state, code, watch.reason)
        finally:
            heartbeat.stop()  # only once the end is in the journal (or we give up)
        value = watch.best()
        metric = self.config.metric
        self.display.run_ended(slot, claim.run_id, state.value, metric.name if metric else None, value)
        for problem in watch.reader.problems:
            self.say(f"run {claim.run_id}: {problem}")
        return RunResult(claim.run_id, state, value, code)

    def _run_program(
        self, claim: Claim, nested: dict[str, Any], env: dict[str, str], run_dir: Path,
        watch: _Watch,
    ) -> tuple[RunState, int | None]:
        argv = render_command(self.config.command, self.config.program, claim.params, nested,
                              str(run_dir / "config.json"), env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        log = self.retry(f"open the log of run {claim.run_id}",
                         lambda: RunProcess.open_log(run_dir / "output.log"))
        if claim.attempt > 1:
            try:
                log.write(f"sweepcli: attempt {claim.attempt} of run {claim.run_id}, resumed in "
                          "its folder\n".encode())
                log.flush()
            except OSError:
                pass  # only for people reading the log
        try:
            echo = (self.display.echo(1), self.display.echo(2)) if self.echo else None
            proc = RunProcess(argv, env, log, echo=echo)
        except OSError as exc:
            try:
                log.write(f"sweepcli: cannot start {argv[0]}: {exc}\n".encode())
            except OSError:
                pass
            log.close()
            self.say(f"run {claim.run_id}: cannot start {argv[0]}: {exc.strerror or exc}")
            return RunState.FAILED, None
        try:
            # its process group, for users (no fsync: it means nothing once this host is down)
            write_atomic(run_dir / "pid", f"{proc.pgid}\n", durable=False)
        except OSError:
            pass  # only for people; the agent keeps the group itself
        try:
            outcome = self._watch_program(claim, proc, watch, run_dir)
        except BaseException:
            proc.terminate(CANCEL_GRACE)  # never leave a program running behind us
            proc.finish()
            raise
        code = proc.finish()
        if outcome is None and (code == -signal.SIGTERM or self._preempt.is_set()
                                or os.path.lexists(run_dir / SIGNALED)):
            # sent SIGTERM by someone else (a batch system signals the whole job, the program
            # often first, and this agent too): it stopped short of its end, whatever its
            # status says
            outcome = RunState.PREEMPTED
            watch.reason = ("the agent was preempted as its program ended" if self._preempt.is_set()
                            else "the program was sent SIGTERM, not by its agent")
            self.say(f"run {claim.run_id}: {watch.reason}, before its end; its point goes back "
                     "to the queue")
        if outcome is not None:
            return outcome, code
        return (RunState.FINISHED if code == 0 else RunState.FAILED), code

    def _watch_program(self, claim: Claim, proc: RunProcess, watch: _Watch, run_dir: Path
                       ) -> RunState | None:
        """Follow the program until it ends; the state to record if we ended it."""
        outcome: RunState | None = None
        interrupts_seen = self._interrupts
        while not proc.ended.wait(WATCH_POLL):
            verdict = watch.tick()
            if outcome is None and verdict is None:
                verdict = self._limits(watch)
            if self._interrupts != interrupts_seen:
                interrupts_seen = self._interrupts
                if self.forward_signals and self._interrupts == 1:
                    self.say("Ctrl-C: passed on to the run (SIGINT; -f); no new runs "
                             "(Ctrl-C again to kill it)")
                    outcome = RunState.KILLED
                    threading.Thread(target=proc.terminate,
                                     args=(self.grace(), signal.SIGINT), daemon=True).start()
                elif self._interrupts == 1:
                    self.say("Ctrl-C: no new runs; waiting for the current run "
                             "(Ctrl-C again to terminate it)")
                elif self._interrupts == 2:
                    self.say("Ctrl-C: terminating the current run (Ctrl-C again to kill it)")
                    outcome = RunState.KILLED
                    threading.Thread(target=proc.terminate, args=(self.grace(),), daemon=True).start()
                elif self._interrupts >= 3 or (self.forward_signals and self._interrupts >= 2):
                    self.say("Ctrl-C: killing the current run")
                    proc.signal_group(signal.SIGKILL)
                    outcome = RunState.KILLED
            if outcome is not None:
                continue
            if self._preempt.is_set() or verdict == "walltime":
                outcome = RunState.PREEMPTED
                if verdict == "walltime":
                    watch.reason = "the agent's time limit"
                    self.say(f"run {claim.run_id}: the agent's time limit is near")
                # -f passes the very signal on (SLURM's SIGUSR1 reaches a program that
                # checkpoints on it); else the run gets SIGTERM
                sig = self._signal if self.forward_signals else signal.SIGTERM
                self.say(f"run {claim.run_id}: preempted; stopping it ({signal.Signals(sig).name}) "
                         "and returning its point to the queue")
                threading.Thread(target=proc.terminate, args=(self.grace(PREEMPT_GRACE), sig),
                                 daemon=True).start()
            elif verdict == "superseded":
                outcome = RunState.CRASHED
                self.say(f"run {claim.run_id}: declared crashed while this agent was silent, and "
                         "resumed elsewhere; stopping this copy")
                threading.Thread(target=proc.terminate, args=(self.grace(CANCEL_GRACE),),
                                 daemon=True).start()
            elif verdict == "timeout":
                outcome = RunState.STOPPED
                watch.reason = "timeout"
                self.say(f"run {claim.run_id}: still going after its run_timeout "
                         f"({self.run_timeout():g} s); stopping it")
                threading.Thread(target=proc.terminate, args=(self.grace(),), daemon=True).start()
            elif verdict == "cancel":
                outcome = RunState.KILLED
                self.say(f"run {claim.run_id}: the sweep was canceled; killing it")
                threading.Thread(target=proc.terminate, args=(self.grace(CANCEL_GRACE),),
                                 daemon=True).start()
            elif verdict == "stop":
                outcome = RunState.STOPPED
                try:
                    touch(run_dir / "stop")
                except OSError:
                    pass  # SIGTERM follows anyway
                self.say(f"run {claim.run_id}: hyperband stops it ({watch.reason})")
                threading.Thread(target=proc.terminate, args=(self.grace(),), daemon=True).start()
        return outcome

    def _run_function(
        self, claim: Claim, env: dict[str, str], watch: _Watch
    ) -> tuple[RunState, int | None]:
        from .. import child

        saved = dict(os.environ)
        os.environ.update({k: v for k, v in env.items() if k.startswith("SWEEPCLI_")})
        child.reset()
        done = threading.Event()
        verdicts: list[str] = []

        def watcher() -> None:
            while not done.wait(WATCH_POLL):
                verdict = watch.tick() or self._limits(watch)
                if verdict is not None and not verdicts:
                    verdicts.append(verdict)
                    try:
                        touch(watch.run_dir / "stop")  # run.should_stop turns true
                    except OSError:
                        verdicts.pop()  # try again at the next look

        thread = threading.Thread(target=watcher, daemon=True)
        thread.start()
        try:
            assert self.function is not None
            self.function()
            state = RunState.FINISHED
        except Exception:
            traceback.print_exc()
            try:
                with RunProcess.open_log(watch.run_dir / "output.log") as f:
                    f.write(traceback.format_exc().encode())
            except OSError:
                pass
            state = RunState.FAILED
        finally:
            done.set()
            thread.join()
            child.finish_current()
            os.environ.clear()
            os.environ.update(saved)
        if verdicts:
            state = {"stop": RunState.STOPPED, "timeout": RunState.STOPPED,
                     "walltime": RunState.PREEMPTED, "superseded": RunState.CRASHED
                     }.get(verdicts[0], RunState.KILLED)
            if verdicts[0] == "timeout":
                watch.reason = "timeout"
        return state, None


class _Watch:
    """Follows one run: metric lines, the sweep's control state, hyperband.

    Nothing here may end a healthy run: a journal it cannot write now (a full disk, the
    lock held elsewhere) keeps the new values for the next look.
    """

    def __init__(self, agent: Agent, run_id: str, run_dir: Path, slot: int = 0, attempt: int = 1):
        self.agent = agent
        self.slot = slot
        self.folder = agent.folder
        self.run_id = run_id
        self.run_dir = run_dir
        self.attempt = attempt
        self.started = time.monotonic()
        self.reader = MetricReader(run_dir / "metrics.jsonl")
        self.metric = agent.config.metric
        #: several objectives: the others, whose [smallest, largest] new values go along
        self.others = [m.name for m in agent.config.metrics[1:]]
        self.more: dict[str, list[float]] = {}
        self.history: list[float] = []
        self.unsent: list[float] = []
        #: why the run ended as it did, when it is not plain (``timeout``)
        self.reason: str | None = None
        if attempt > 1:
            self._continue_history()
        now = time.monotonic()
        self.next_journal = now + JOURNAL_POLL
        self.next_flush = now
        self._said: set[str] = set()

    def _continue_history(self) -> None:
        """A resumed attempt: its history is the run's so far. The earlier attempts' metric
        lines are read now, and any the journal lacks (written after its agent's last
        flush, before it vanished) are sent with the first flush; the new attempt's lines
        are the ones after them."""
        run = self.folder.state.runs.get(self.run_id)
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
        return max(self.history) if self.metric.goal == "maximize" else min(self.history)

    def _note_others(self, lines: list[dict[str, Any]]) -> None:
        for name in self.others:
            values = self.reader.metric_values(lines, name)
            if values:
                fold_extremes(self.more, {name: [min(values), max(values)]})

    def _read_metrics(self, final: bool = False) -> None:
        lines = self.reader.read(final=final)
        if lines and self.others:
            self._note_others(lines)
        if lines and self.metric is not None:
            values = self.reader.metric_values(lines, self.metric.name)
            self.history.extend(values)
            self.unsent.extend(values)
            if values:
                self.agent.display.metric(self.slot, self.metric.name, values[-1])

    def _say_once(self, what: str, exc: BaseException) -> None:
        if what not in self._said:
            self._said.add(what)
            self.agent.say(f"run {self.run_id}: cannot {what} yet ({describe(exc)}); the run "
                           "goes on and it is tried again")

    def tick(self) -> str | None:
        """One look; returns 'cancel', 'stop' or None."""
        now = time.monotonic()
        self._read_metrics()
        verdict = None
        if (self.unsent or self.more) and now >= self.next_flush:
            try:
                verdict = self._flush()
            except (OSError, LockTimeout, LockLost) as exc:
                self._say_once("write its metric values to the journal", exc)
            self.next_flush = now + METRIC_FLUSH
        if now >= self.next_journal:
            try:
                self.folder.refresh()
            except (OSError, LockTimeout, LockLost) as exc:
                self._say_once("read the journal", exc)
            for notice in self.folder.notices:
                self.agent.say(notice)
            self.folder.notices.clear()
            self.next_journal = now + JOURNAL_POLL
        if self.folder.state.control == Control.CANCELED:
            return "cancel"
        run = self.folder.state.runs.get(self.run_id)
        if run is not None and run.attempt != self.attempt:
            return "superseded"
        return verdict

    def _flush(self) -> str | None:
        """Send new metric values to the journal and apply hyperband with the sweep's runs."""
        with self.folder.lock.waiting_at_most(LOCK_WAIT):
            self.folder.append(metric_event(self.run_id, self.unsent, self.attempt, self._at(),
                                            self.more))
            self.unsent = []
            self.more = {}
            if self.agent.config.hyperband is None:
                return None
            runs: list[Run] = list(self.folder.state.runs.values())
        why = stop_reasons(self.agent.config, runs).get(self.run_id)
        if why is None:
            return None
        self.reason = why
        return "stop"

    def _at(self) -> int | None:
        """How many values the run's history holds in the journal: where the values sent
        next start, so a line read twice adds nothing. Only this watch writes them, and
        its appends are applied as written, so the state in memory knows (no read)."""
        run = self.folder.state.runs.get(self.run_id)
        return len(run.history) if run is not None and run.attempt == self.attempt else None

    def record_end(self, state: RunState, code: int | None, reason: str | None = None) -> None:
        """The run's last values and its end, in one append, retried until it is written.
        When the lock cannot be had at once, they are first kept in the run's folder, so
        they are never lost: whoever finds the run silent records them (see
        ``keep_end``), and this agent may wait for the lock as long as it takes."""
        self._read_metrics(final=True)
        events: list[dict[str, Any]] = []
        if self.unsent or self.more:
            events.append(metric_event(self.run_id, self.unsent, self.attempt, self._at(),
                                       self.more))
        events.append(end_event(self.run_id, state, code, self.attempt, reason))
        where: list[str] = []

        def write() -> bool:
            try:
                with self.folder.lock.waiting_at_most(KEEP_END_AFTER):
                    self.folder.append(*events)
                return True
            except (OSError, LockTimeout, LockLost):
                if not where:
                    try:
                        self.folder.keep_end(self.run_id, events)
                        where.append(f"its end is kept in {self.run_dir / KEPT_END}, which "
                                     "whoever takes the sweep lock next records")
                    except OSError:
                        pass  # (a full disk: the retries go on as before)
                raise

        written = self.agent.retry(f"record the end of run {self.run_id}", write,
                                   kept=lambda: where[0] if where else None)
        self.unsent = []
        self.more = {}
        if written and where:
            self.folder.drop_kept_end(self.run_id)
