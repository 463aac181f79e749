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

from ..config import SweepConfig
from ..early_stop import runs_to_stop
from ..runs import Run, RunState
from ..store import (
    Control,
    JournalDamaged,
    LockLost,
    LockTimeout,
    SweepFolder,
    end_event,
    heartbeat_timeout,
    metric_event,
    touch,
    write_atomic,
    write_json_atomic,
)
from .claim import Claim, Decision, claim_next_run
from .command import render_command
from .display import Display, make_display
from .metrics import MetricReader
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


def max_initial_failures() -> int:
    """``SWEEPCLI_AGENT_MAX_INITIAL_FAILURES`` or W&B's ``WANDB_AGENT_MAX_INITIAL_FAILURES``
    (default 5): failures of an agent's first runs, all failed, that stop it."""
    for name in ("SWEEPCLI_AGENT_MAX_INITIAL_FAILURES", "WANDB_AGENT_MAX_INITIAL_FAILURES"):
        text = os.environ.get(name, "").strip()
        if text:
            try:
                value = int(text)
            except ValueError:
                raise AgentError(f"{name}={text!r}: expected a whole number >= 1") from None
            if value < 1:
                raise AgentError(f"{name}={text!r}: expected a whole number >= 1")
            return value
    return 5


class AgentError(RuntimeError):
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
        return float(self.config.extension.get("stop_grace_seconds", 30.0))

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
    def retry(self, what: str, action: Callable[[], Any]) -> Any:
        """``action()``, tried again while it fails with a transient error (a full disk, an
        I/O error, the lock held or lost), for up to :data:`IO_RETRY_FOR` seconds."""
        start, delay, said = time.monotonic(), 0.05, False
        while True:
            try:
                result = action()
            except (OSError, LockTimeout, LockLost) as exc:
                if not _transient(exc) or time.monotonic() - start > IO_RETRY_FOR:
                    raise AgentError(f"cannot {what}: {describe(exc)}") from None
                if not said:
                    self.say(f"cannot {what} yet ({describe(exc)}); retrying")
                    said = True
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

        self.retry(f"prepare the folder of run {claim.run_id}", files)
        env = {
            **os.environ,
            **({"CUDA_VISIBLE_DEVICES": gpu} if gpu is not None else {}),
            "SWEEPCLI_SWEEP_ID": self.folder.sweep_id,
            "SWEEPCLI_RUN_ID": claim.run_id,
            "SWEEPCLI_RUN_DIR": str(run_dir),
            "SWEEPCLI_CONFIG_FILE": str(run_dir / "config.json"),
            "SWEEPCLI_METRICS_FILE": str(run_dir / "metrics.jsonl"),
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
                if run.state != RunState.RUNNING:
                    self.say(f"run {claim.run_id} was declared {run.state} while its folder "
                             "could not be made; it is not started here")
                    return RunResult(claim.run_id, run.state, None, None)
            self.display.run_started(slot, claim.run_id, claim.params, claim.retry_of, gpu)
            watch = _Watch(self, claim.run_id, run_dir, slot)
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
            watch.record_end(state, code)
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
            if self._preempt.is_set():
                outcome = RunState.PREEMPTED
                # -f passes the very signal on (SLURM's SIGUSR1 reaches a program that
                # checkpoints on it); else the run gets SIGTERM
                sig = self._signal if self.forward_signals else signal.SIGTERM
                self.say(f"run {claim.run_id}: preempted; stopping it ({signal.Signals(sig).name}) "
                         "and returning its point to the queue")
                threading.Thread(target=proc.terminate, args=(self.grace(PREEMPT_GRACE), sig),
                                 daemon=True).start()
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
                self.say(f"run {claim.run_id}: hyperband stops it "
                         f"({self.config.metric.name} worse than its band's threshold)")
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
                verdict = watch.tick()
                if verdict in ("stop", "cancel") and not verdicts:
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
            state = RunState.STOPPED if verdicts[0] == "stop" else RunState.KILLED
        return state, None


class _Watch:
    """Follows one run: metric lines, the sweep's control state, hyperband.

    Nothing here may end a healthy run: a journal it cannot write now (a full disk, the
    lock held elsewhere) keeps the new values for the next look.
    """

    def __init__(self, agent: Agent, run_id: str, run_dir: Path, slot: int = 0):
        self.agent = agent
        self.slot = slot
        self.folder = agent.folder
        self.run_id = run_id
        self.run_dir = run_dir
        self.reader = MetricReader(run_dir / "metrics.jsonl")
        self.metric = agent.config.metric
        self.history: list[float] = []
        self.unsent: list[float] = []
        now = time.monotonic()
        self.next_journal = now + JOURNAL_POLL
        self.next_flush = now
        self._said: set[str] = set()

    def best(self) -> float | None:
        if self.metric is None or not self.history:
            return None
        return max(self.history) if self.metric.goal == "maximize" else min(self.history)

    def _read_metrics(self, final: bool = False) -> None:
        lines = self.reader.read(final=final)
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
        if self.unsent and now >= self.next_flush:
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
        return verdict

    def _flush(self) -> str | None:
        """Send new metric values to the journal and apply hyperband with the sweep's runs."""
        with self.folder.lock.waiting_at_most(LOCK_WAIT):
            self.folder.append(metric_event(self.run_id, self.unsent))
            self.unsent = []
            if self.agent.config.hyperband is None:
                return None
            runs: list[Run] = list(self.folder.state.runs.values())
        return "stop" if self.run_id in runs_to_stop(self.agent.config, runs) else None

    def record_end(self, state: RunState, code: int | None) -> None:
        """The run's last values and its end, in one append, retried until it is written."""
        self._read_metrics(final=True)

        def write() -> None:
            events: list[dict[str, Any]] = []
            if self.unsent:
                events.append(metric_event(self.run_id, self.unsent))
            events.append(end_event(self.run_id, state, code))
            with self.folder.lock:
                self.folder.append(*events)
            self.unsent = []

        self.agent.retry(f"record the end of run {self.run_id}", write)
