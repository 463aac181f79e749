"""The agent: claim a run, start it, watch it, record its end; again, until done."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import SweepConfig
from ..config.space import NoPointAllowed
from ..errors import describe
from ..runs import RunState
from ..store import JournalDamaged, LockLost, LockTimeout, Sweep
from ..store.files import HELPER, SIGNALED, STOP_SEEN, touch, write_atomic, write_json_atomic
from ..store.lock import transient
from ..store.settings import heartbeat_timeout
from ..store.settings import max_initial_failures
from .cluster import slurm_run_env
from .claim import Claim, Decision, Kind, claim_next_run, retry_queue, sweep_status
from .command import (
    DEFAULT_COMMAND,
    WANDB_PARAMS,
    program_missing,
    real_wandb_missing,
    render_command,
    resolve_program,
    wandb_env,
    wandb_params,
)
from .display import Display, make_display
from .endings import CANCEL_GRACE, ENDINGS, PREEMPT_GRACE, Ending
from .liveness import Silence
from .policy import failed_in_a_row, flapping_disabled, is_flapping, nothing_fits, run_limit
from .process import RunProcess
from .runfolder import resume_folder, stop_leftover_program
from .inprocess import run_function
from . import pbt as pbt_files
from ..search import pbt
from .retry import AgentError, Retry
from .signals import Signals
from .watch import LOCK_WAIT, Heartbeat, RunWatch

WAIT_POLL = 1.0  # seconds between looks while paused or waiting (contract: at most 2)
WATCH_POLL = 0.1  # seconds between looks at a running program
DAMAGE_GRACE = 15.0  # a journal that lost runs: wait this long for a running agent to restore it


def gpu_shares(slots: Sequence[str | None]) -> dict[str | None, float]:
    """Each slot's (``CUDA_VISIBLE_DEVICES``) share of the GPUs: a GPU in K slots counts
    1/K in each."""
    users: dict[str, int] = {}
    for slot in slots:
        for device in (slot or "").split(","):
            if device:
                users[device] = users.get(device, 0) + 1
    return {slot: sum(1.0 / users[d] for d in (slot or "").split(",") if d) for slot in slots}


@dataclass
class RunResult:
    run_id: str
    state: RunState
    value: float | None
    exit_code: int | None


#: seconds a program asked to stop through its stop file (a stopping rule, the budget) has
#: to end by itself before SIGTERM (at most half the grace, which counts from the request),
#: unless it logs another step first (SIGTERM then): one judged at its last line may be
#: saving a checkpoint or closing wandb, which takes seconds
STOP_NOTICE = 10.0


def missing_metric_hint(metric: str, logged: list[str]) -> str:
    """What to say when a run finished without logging the sweep's metric."""
    import difflib

    if not logged:
        return (f"finished without logging {metric!r}, the sweep's metric (it wrote no metric "
                "lines: log with sweepcli.log / wandb.log, or append JSON lines to "
                "SWEEPCLI_METRICS_FILE)")
    close = difflib.get_close_matches(metric, logged, n=1, cutoff=0.5)
    shown = ", ".join(logged[:12]) + (", ..." if len(logged) > 12 else "")
    return (f"finished without logging {metric!r}, the sweep's metric; it logged {shown}"
            + (f": did you mean {close[0]!r}? (metric.name in the sweep's config)" if close else ""))


@dataclass
class AgentReport:
    """What an agent did, returned to the API and printed by the CLI."""

    runs: list[RunResult] = field(default_factory=list)
    reason: str = ""
    #: stopped by Ctrl-C (the CLI exits 130, as a shell expects of SIGINT)
    interrupted: bool = False
    #: stopped because its time was up (``--time-limit``, walltime) or it was preempted:
    #: the CLI exits 3 if the sweep still has work, so a batch script requeues the job
    time_up: bool = False


class Agent:
    """Runs the runs of one sweep, one after another."""

    def __init__(
        self,
        sweep: Sweep,
        count: int | None = None,
        function: Callable[..., Any] | None = None,
        echo: bool = True,
        display: Display | None = None,
        gpus: Sequence[str | None] | None = None,
        term_timeout: float | None = None,
        forward_signals: bool = False,
        max_consecutive_failures: int | None = None,
        time_limit: float | None = None,
        run_timeout: float | None = None,
        wandb: str | None = None,
        function_env: bool = False,
    ):
        self.sweep = sweep
        #: the function takes the run's variables as its argument (``function(env)``) and
        #: this process's environment is left alone, so several may run side by side
        #: (the Hydra sweeper's agents, each launching one job at a time)
        self.function_env = function_env
        self.count = count
        self.function = function
        self.echo = echo
        self.gpus: list[str | None] = list(gpus) if gpus else [None]
        #: each slot's share of the GPUs (two slots on one GPU: half each): what its runs
        #: are charged by a gpu_hours budget
        self.gpu_share = gpu_shares(self.gpus)
        if function is not None and len(self.gpus) > 1 and not function_env:
            raise ValueError("--gpus runs programs side by side; an in-process function cannot")
        self.source_dir = self.sweep.meta.get("source_dir")
        if function is None:
            render_command(self.config.command, self.config.program, {}, {}, "")  # fail early
        self.display = display or make_display(count, len(self.gpus), live=False)
        self.say = self.display.say
        self.signals = Signals()  # SIGTERM/SIGUSR1 preempt, Ctrl-C counts
        #: what a full or failing disk, or a lock held elsewhere, refuses: tried again
        self.retry = Retry(self.say, lambda: self.signals.stopping)
        self.timeout = heartbeat_timeout()
        self.hb_interval = min(10.0, self.timeout / 4)
        #: -t/--term-timeout: the SIGTERM -> SIGKILL grace of every stop, cancel and preemption
        self.term_timeout = term_timeout
        self.forward_signals = forward_signals
        self.max_consecutive_failures = max_consecutive_failures
        self.max_initial = max_initial_failures()
        #: --time-limit: seconds from now this agent may use (None: no limit)
        self.deadline = time.monotonic() + time_limit if time_limit is not None else None
        self._run_timeout = run_timeout
        self._wandb = wandb
        # unseeded: this agent's own stream; with sweepcli.seed each claim is seeded from the
        # sweep (claim_rng), so agents started together still draw different points
        self.rng = np.random.default_rng()
        self.silence = Silence()  # the running runs' heartbeats as seen at earlier claims
        self.report = AgentReport()
        self._started = time.monotonic()
        self._said_no_metric = False  # (said once: the sweep's metric was never logged)
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

    def _limits(self, watch: RunWatch) -> Ending | None:
        """The run outlived its run_timeout, or this agent's time limit is near."""
        return run_limit(watch.started, time.monotonic(), self.run_timeout(), self.deadline,
                         self._margin())

    def _nothing_fits(self) -> str | None:
        """Why no run should start before the time limit, or None when one may."""
        if self.deadline is None:
            return None
        try:
            state = self.sweep.refresh()
        except (OSError, LockTimeout, LockLost):
            return nothing_fits(self.deadline, time.monotonic(), self._margin(), [])
        waiting = retry_queue(self.config, state)
        return nothing_fits(self.deadline, time.monotonic(), self._margin(),
                            list(state.runs.values()), waiting[0] if waiting else None,
                            started=self._started)

    def _sweep_done(self) -> bool:
        """Whether the sweep has ended or has nothing left to run (as ``--print`` says)."""
        try:
            state = self.sweep.refresh()
        except (OSError, LockTimeout, LockLost):
            return False
        return sweep_status(self.config, state) in ("finished", "canceled")

    @property
    def config(self) -> SweepConfig:
        """The sweep's config as of the journal last read: an ``--update`` applies from the
        next claim (a run keeps the command it was started with)."""
        return self.sweep.config

    # ---- signals -----------------------------------------------------------------------

    # ---- the loop ------------------------------------------------------------------------
    def run(self, keep_signal_handlers: bool = False) -> AgentReport:
        """Take and run runs until the sweep or ``count`` says stop. ``keep_signal_handlers``
        (the CLI, whose process ends next): SIGTERM/SIGUSR1 stay caught until it exits, so
        the second SIGTERM of a preemption (SLURM signals the whole job, and the batch
        script forwards one more) cannot kill it with 143 before it says exit status 3."""
        if self.function is None and "${program}" in (self.config.command or DEFAULT_COMMAND):
            missing = program_missing(self.config.program, self.source_dir)
            if missing:  # before any point is taken: none is spent on a program not there
                raise AgentError(missing)
        restore = self.signals.install(catch_sigint=self.function is None)
        if (self._wandb or self.config.settings.wandb) == "offline" and self.function is None\
                and real_wandb_missing():
            self.say("--wandb offline: this Python has no wandb package (pip install wandb); "
                     "programs that import wandb will fail unless their own Python has it")
        if "gpu_hours" in (self.config.settings.budget or {}) and not any(
                self.gpu_share.values()):
            self.say("the sweep's budget is in gpu_hours and this agent gives its runs no GPU "
                     "(--gpus): they count nothing against it")
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
            if not keep_signal_handlers:
                restore()
        return self.report

    def _guarded_loop(self, slot: int, gpu: str | None) -> None:
        try:
            self._loop(slot, gpu)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self._error = exc
            self.signals.preempt.set()  # the other slots wind down (their runs are requeued)

    def _reserve(self) -> bool:
        with self._lock:
            if self.count is not None and self._reserved >= self.count:
                return False
            self._reserved += 1
            return True

    def _claim(self, state: dict[str, Any], gpu: str | None = None) -> Claim | Decision:
        """One claim; a lock held elsewhere, a full disk or a journal being restored are
        waited out (a wait decision) rather than ending the agent."""
        try:
            # a short wait, so a signal or Ctrl-C is noticed while the lock is held elsewhere
            got = claim_next_run(self.sweep, self.rng, self.timeout, lock_wait=LOCK_WAIT,
                                 silence=self.silence, gpus=self.gpu_share.get(gpu, 0.0))
        except JournalDamaged as exc:
            since = state.setdefault("damaged", time.monotonic())
            if time.monotonic() - since > DAMAGE_GRACE:
                raise AgentError(str(exc)) from None
            return Decision(Kind.WAIT, "the journal lost runs; waiting for a running agent to "
                                    "restore it")
        except LockTimeout as exc:
            return Decision(Kind.WAIT, f"the sweep lock is held elsewhere ({exc}); retrying")
        except NoPointAllowed as exc:  # (refused at creation: a config from before that check)
            raise AgentError(f"cannot choose a point: {exc}") from None
        except (OSError, LockLost) as exc:
            if not transient(exc):
                raise AgentError(f"cannot claim a run: {describe(exc)}") from None
            return Decision(Kind.WAIT, f"cannot claim a run yet: {describe(exc)}; retrying")
        state.pop("damaged", None)
        for notice in self.sweep.notices:
            self.say(notice)
        self.sweep.notices.clear()
        try:
            self.sweep.write_snapshot()  # (outside the lock; now and then, not every claim)
        except (OSError, RuntimeError):
            pass  # a cache: the journal is whole without it
        return got

    def _loop(self, slot: int, gpu: str | None) -> None:
        waiting_said = ""
        claim_state: dict[str, Any] = {}
        while True:
            if self._error is not None:
                return
            if self.signals.preempt.is_set():
                self.report.reason = "preempted"
                self.report.time_up = True
                return
            if self.signals.interrupts:
                self.report.reason = "interrupted"
                self.report.interrupted = True
                return
            why = self._nothing_fits()
            if why is not None:
                if not self.report.runs and self.deadline is not None\
                        and self.deadline - self._started <= self._margin():
                    if self._sweep_done():
                        self.report.reason = "the sweep has nothing left to run"
                        return
                    # a job this short can never run anything: requeueing it would loop
                    raise AgentError(
                        f"the time limit ({self.deadline - self._started:.0f} s) is no longer "
                        f"than the {self._margin():.0f} s the agent keeps to stop a run cleanly: "
                        "no run can start. Give the job more time (or a shorter "
                        "--term-timeout)")
                self.report.reason = f"no run fits: {why}"
                self.report.time_up = True
                return
            if not self._reserve():
                self.report.reason = f"{self.count} run(s) done"
                return
            got = self._claim(claim_state, gpu)
            if isinstance(got, Decision):
                with self._lock:
                    self._reserved -= 1
                if got.action == Kind.DONE:
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
        while time.monotonic() < deadline and not self.signals.preempt.is_set() and not self.signals.interrupts:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def _check_flapping(self) -> None:
        results = self.report.runs
        states = [r.state for r in results]
        n = self.max_consecutive_failures
        if n is not None and failed_in_a_row(states) >= n:
            why = (f"{n} runs failed in a row (--max-consecutive-failed-runs {n}), so this "
                   "agent stops.")
        elif not flapping_disabled() and is_flapping(states, time.monotonic() - self._started,
                                                      self.max_initial):
            why = (f"the first {len(results)} runs all failed, so this agent stops (set "
                   "SWEEPCLI_AGENT_DISABLE_FLAPPING=1 to keep going).")
        else:
            return
        last = results[-1].run_id
        log_path = self.sweep.run_dir(last) / "output.log"
        try:
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
        except OSError:
            tail = []
        shown = "\n".join(f"    {line}" for line in tail) or "    (no output)"
        raise AgentError(f"{why} The end of run {last}'s output ({log_path}):\n{shown}")

    # ---- retrying what a full or failing disk refuses -----------------------------------------

    # ---- one run -------------------------------------------------------------------------
    def _prepare(self, claim: Claim, gpu: str | None) -> tuple[Path, dict[str, Any], dict[str, str]]:
        run_dir = self.sweep.run_dir(claim.run_id).resolve()
        nested = self.config.space.nest(claim.params)
        wandb_mode = self._wandb or self.config.settings.wandb

        def files() -> None:
            self.sweep.make_run_dir(claim.run_id)
            write_json_atomic(run_dir / "config.json", nested)
            if wandb_mode == "offline":
                write_atomic(run_dir / WANDB_PARAMS, wandb_params(nested))
            touch(run_dir / "metrics.jsonl")
            if claim.attempt > 1:
                if stop_leftover_program(run_dir, claim.run_id):
                    self.say(f"run {claim.run_id}: its previous attempt's program was still "
                             "running here; killed it before resuming")
                resume_folder(run_dir)

        self.retry(f"prepare the folder of run {claim.run_id}", files)
        env = {
            **{k: v for k, v in os.environ.items() if k not in self.sweep.hidden_from_programs},
            **({"CUDA_VISIBLE_DEVICES": gpu} if gpu is not None else {}),
            "SWEEPCLI_SWEEP_ID": self.sweep.sweep_id,
            "SWEEPCLI_RUN_ID": claim.run_id,
            "SWEEPCLI_RUN_DIR": str(run_dir),
            "SWEEPCLI_CONFIG_FILE": str(run_dir / "config.json"),
            "SWEEPCLI_METRICS_FILE": str(run_dir / "metrics.jsonl"),
            "SWEEPCLI_ATTEMPT": str(claim.attempt),
            "SWEEPCLI_RESUME": "1" if claim.attempt > 1 else "0",
        }
        wandb_env(env, wandb_mode, run_dir)
        if self.function is None:
            self.retry(f"prepare the folder of run {claim.run_id}",
                       lambda: slurm_run_env(env, run_dir))
        return run_dir, nested, env

    def _run_one(self, claim: Claim, slot: int = 0, gpu: str | None = None) -> RunResult:
        heartbeat = Heartbeat(self.sweep, claim.run_id, self.hb_interval)
        try:
            started = time.monotonic()
            run_dir, nested, env = self._prepare(claim, gpu)
            if time.monotonic() - started > self.hb_interval:
                # preparing took long (a full disk): if the run was declared crashed meanwhile,
                # its point runs elsewhere, and starting it here would run it twice
                run = self.retry("read the journal", self.sweep.refresh).runs[claim.run_id]
                if run.state != RunState.RUNNING or run.attempt != claim.attempt:
                    what = (f"resumed elsewhere (attempt {run.attempt})"
                            if run.attempt != claim.attempt else f"declared {run.state}")
                    self.say(f"run {claim.run_id} was {what} while its folder could not be "
                             "made; it is not started here")
                    return RunResult(claim.run_id, RunState.CRASHED, None, None)
            self.display.run_started(slot, claim.run_id, claim.params, claim.attempt, gpu)
            watch = RunWatch(self.sweep, self.display, self.retry, claim.run_id, run_dir, slot,
                             claim.attempt)
            try:
                gone = self._take_donor(claim, run_dir)
                if gone is not None:
                    state, code = RunState.FAILED, None
                    watch.reason = gone
                elif self._segment_over(claim, watch, env):
                    state, code = RunState.FINISHED, 0  # (its agent died after its last line)
                elif self.function is not None:
                    state, code = self._run_function(claim, env, watch)
                else:
                    state, code = self._run_program(claim, nested, env, run_dir, watch)
            except BaseException as exc:
                if not isinstance(exc, AgentError):
                    watch.record_end(RunState.KILLED if isinstance(exc, KeyboardInterrupt)
                                     else RunState.FAILED, None)
                raise
            kept = None
            if self.config.pbt is not None:
                state, kept = self._segment_end(claim, watch, run_dir, state)
            watch.record_end(state, code, watch.reason, kept)
        finally:
            heartbeat.stop()  # only once the end is in the journal (or we give up)
        if self.config.pbt is not None:
            try:
                pbt_files.prune(self.sweep, list(self.sweep.state.runs.values()))
            except OSError:
                pass  # the next segment's end tries again
        value = watch.best()
        metric = self.config.metric
        self.display.run_ended(slot, claim.run_id, state.value, metric.name if metric else None, value)
        for problem in watch.reader.problems:
            self.say(f"run {claim.run_id}: {problem}")
        if metric is not None and value is None and state == RunState.FINISHED\
                and not self._said_no_metric:
            self._said_no_metric = True
            self.say(f"run {claim.run_id}: " + missing_metric_hint(metric.name, watch.reader.keys))
        return RunResult(claim.run_id, state, value, code)

    # ---- pbt: a member's segment ------------------------------------------------------------
    def _take_donor(self, claim: Claim, run_dir: Path) -> str | None:
        """A member that exploits starts from its donor's kept checkpoint: copied into its
        folder now (once per segment). Why it cannot, if it cannot."""
        if claim.parent is None:
            return None
        parent = claim.parent
        try:
            if self.retry(f"copy run {parent[0]}'s checkpoint into run {claim.run_id}",
                          lambda: pbt_files.take_donor(self.sweep, run_dir, claim.segment, parent)):
                self.say(f"run {claim.run_id}: starts from run {parent[0]}'s checkpoint at "
                         f"step {parent[1]}")
        except pbt_files.DonorGone as exc:
            self.say(f"run {claim.run_id}: {exc}; the member cannot go on")
            return str(exc)
        return None

    def _segment_over(self, claim: Claim, watch: RunWatch, env: dict[str, str]) -> bool:
        """pbt: how many metric lines the member's program may log before its helper ends it
        (the segment's end: the checkpoint saved before its last line is what the next
        segment, or another member, starts from). True when the segment was trained to its
        end already, by an attempt whose agent died before recording it: nothing to run."""
        run = self.sweep.state.runs.get(claim.run_id)
        if self.config.pbt is None or self.config.metric is None or run is None:
            return False
        seg = pbt.segments_of(run)[-1]
        step = int(seg["step"]) + len(watch.history) - int(seg["from"])  # (lines not yet sent too)
        left = pbt.segment_end(self.config, run) - step
        env["SWEEPCLI_STOP_AFTER"] = str(left)
        env["SWEEPCLI_METRIC"] = self.config.metric.name
        return left <= 0

    def _segment_end(self, claim: Claim, watch: RunWatch, run_dir: Path, state: RunState
                     ) -> tuple[RunState, int | None]:
        """How a member's attempt ends: at the end of its steps (finished), at the end of
        a segment (paused, its checkpoint kept for others to copy), or where it ended."""
        run = self.sweep.state.runs.get(claim.run_id)
        if run is None or state not in (RunState.FINISHED, RunState.PAUSED):
            return state, None
        watch.read_final()
        seg = pbt.segments_of(run)[-1]
        step = int(seg["step"]) + len(watch.history) - int(seg["from"])
        steps = self.config.pbt.steps
        if step >= steps:
            watch.reason = None
            return RunState.FINISHED, None
        if step >= pbt.segment_end(self.config, run):
            watch.reason = f"its segment ended at step {step}"
            self.retry(f"keep run {claim.run_id}'s checkpoint at step {step}",
                       lambda: pbt_files.keep(self.sweep, claim.run_id, run_dir, step))
            return RunState.PAUSED, step
        if state == RunState.FINISHED:
            watch.reason = (f"its program ended by itself at step {step}, before pbt.steps "
                            f"({steps})")
        return state, None

    def _run_program(
        self, claim: Claim, nested: dict[str, Any], env: dict[str, str], run_dir: Path,
        watch: RunWatch,
    ) -> tuple[RunState, int | None]:
        program = resolve_program(self.config.program, self.source_dir)
        argv = render_command(self.config.command, program, claim.params, nested,
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
        if outcome is None and (code == -signal.SIGTERM or self.signals.preempt.is_set()
                                or os.path.lexists(run_dir / SIGNALED)):
            # sent SIGTERM by someone else (a batch system signals the whole job, the program
            # often first, and this agent too): it stopped short of its end, whatever its
            # status says
            watch.reason = ("the agent was preempted as its program ended" if self.signals.preempt.is_set()
                            else "the program was sent SIGTERM, not by its agent")
            outcome = self._end(Ending.SIGNALED, claim, proc, watch, run_dir)
        if outcome in (RunState.STOPPED, RunState.PAUSED) and watch.stop_asked and code == 0\
                and not proc.signalled and not watch.went_on.is_set()\
                and os.path.lexists(run_dir / HELPER) and not os.path.lexists(run_dir / STOP_SEEN):
            # it ended by itself, status 0, before any signal, logging nothing more, and its
            # helper says it never read the stop request: it had reached its end (its last
            # line, then saving). (A program without the helper may have read the stop file.)
            self.say(f"run {claim.run_id}: it ended by itself as it was being stopped: finished")
            outcome, watch.reason = None, None
        if outcome is not None:
            return outcome, code
        return (RunState.FINISHED if code == 0 else RunState.FAILED), code

    def _watch_program(self, claim: Claim, proc: RunProcess, watch: RunWatch, run_dir: Path
                       ) -> RunState | None:
        """Follow the program until it ends; the state to record if we ended it."""
        outcome: RunState | None = None
        # 0, not the count now: a Ctrl-C that came while the run was being started is
        # answered as soon as it runs (it was neither said nor acted on)
        interrupts_seen = 0
        while not proc.ended.wait(WATCH_POLL):
            verdict = watch.tick()
            if outcome is not None and len(watch.history) > watch.asked_at:
                watch.went_on.set()  # asked to stop, it logged another step: SIGTERM now
            if outcome is None and verdict is None:
                verdict = self._limits(watch)
            if self.signals.interrupts != interrupts_seen:
                interrupts_seen = self.signals.interrupts
                outcome = self._on_interrupt(claim, proc, watch, run_dir) or outcome
            if outcome is not None:
                continue
            if self.signals.preempt.is_set() and verdict != Ending.WALLTIME:
                verdict = Ending.PREEMPTED
            if verdict is not None:
                outcome = self._end(verdict, claim, proc, watch, run_dir)
        return outcome

    def _on_interrupt(self, claim: Claim, proc: RunProcess, watch: RunWatch, run_dir: Path
                      ) -> RunState | None:
        """Ctrl-C at the agent: once, no new runs (or, with -f, the run's own SIGINT);
        twice, terminate the run; three times, kill it. The state it ends in, if it does."""
        n, forward = self.signals.interrupts, self.forward_signals
        if n >= 3 or (forward and n >= 2):
            return self._end(Ending.KILLED_BY_USER, claim, proc, watch, run_dir)
        if n == 1 and not forward:
            self.say("Ctrl-C: no new runs; waiting for the current run "
                     "(Ctrl-C again to terminate it)")
            return None
        return self._end(Ending.INTERRUPT_PASSED if n == 1 else Ending.INTERRUPTED, claim, proc,
                         watch, run_dir)

    def _end(self, ending: Ending, claim: Claim, proc: RunProcess | None, watch: RunWatch,
             run_dir: Path) -> RunState:
        """End a run the way ``ENDINGS`` says: its reason, what the agent says, the stop
        request the helper reads, SIGTERM (or the very signal the agent got, with -f) and
        SIGKILL after the grace. ``proc`` None: an in-process function, which only gets
        the stop request. The state to record."""
        rule = ENDINGS[ending]
        if rule.reason is not None:
            watch.reason = rule.reason
        # -f passes the very signal on (SLURM's SIGUSR1 reaches a program that checkpoints
        # on it); else the run gets SIGTERM
        sig = rule.sig if rule.sig is not None else (
            self.signals.received if rule.forwards and self.forward_signals else signal.SIGTERM)
        self.say(f"run {claim.run_id}: " + rule.message.format(
            reason=watch.reason or "",
            rule=self.config.early_stop.type if self.config.early_stop else self.config.method,
            limit=self.run_timeout() or 0.0, signal=signal.Signals(sig).name if sig else ""))
        if rule.stop_file or proc is None:
            try:
                touch(run_dir / "stop")  # run.should_stop turns true
            except OSError:
                pass  # SIGTERM follows anyway
        grace = self.grace(rule.grace)
        # asked through its stop file, a program gets a moment to end by itself before
        # SIGTERM (one judged as it logged its last line is saving, not going on)
        notice = min(STOP_NOTICE, grace / 2) if rule.stop_file else 0.0
        watch.stop_asked = rule.stop_file
        watch.asked_at = len(watch.history)
        if proc is not None and sig:
            threading.Thread(target=proc.terminate, args=(grace - notice, sig, notice, watch.went_on),
                             daemon=True).start()
        return rule.state

    def _run_function(self, claim: Claim, env: dict[str, str], watch: RunWatch
                      ) -> tuple[RunState, int | None]:
        def judge() -> RunState | None:
            verdict = watch.tick() or self._limits(watch)
            return self._end(verdict, claim, None, watch, watch.run_dir) if verdict else None

        assert self.function is not None
        mode = self._wandb or self.config.settings.wandb
        return run_function(self.function, env, watch, judge, self.function_env, mode), None


