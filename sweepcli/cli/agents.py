"""``sweepcli agent`` and ``sweepcli slurm``: the commands that run a sweep's runs."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import click

from ..agent import Agent
from ..agent.cluster import ClusterError, all_gpus, gpu_slots
from ..agent.cluster import time_limit as cluster_time_limit
from ..agent.display import make_display
from ..errors import Stopped, SweepcliError, UsageError
from ..store import LockLost, LockTimeout, Sweep
from . import (CONTROL, STORE_URL_KEY as _STORE_URL, CommandFailed, UsageFailed,  # noqa: F401
                _complete_sweeps, _open, _ref, _store, _use_store, dir_option, main)


@main.command()
@click.argument("sweep_id", metavar="ID", shell_complete=_complete_sweeps)
@click.option("--count", type=click.IntRange(min=1), help="Exit after this many runs ended.")
@click.option("-p", "--project", help="The project of a bare ID (PROJECT/ID otherwise).")
@click.option("-e", "--entity", metavar="ENTITY", help="W&B's team or user: accepted and ignored.")
@click.option("--gpus", metavar="LIST|all",
              help="Run one run per GPU at once, e.g. 0,1,2,3: each sees only its own "
                   "CUDA_VISIBLE_DEVICES. all: CUDA_VISIBLE_DEVICES's GPUs, else nvidia-smi's.")
@click.option("--runs-per-gpu", type=click.IntRange(min=1), default=1, metavar="K",
              help="With --gpus: K runs share each GPU at once (small models).")
@click.option("--gpus-per-run", type=click.IntRange(min=1), default=1, metavar="K",
              help="With --gpus: each run gets K GPUs (CUDA_VISIBLE_DEVICES=0,1).")
@click.option("--time-limit", metavar="SECONDS|auto",
              help="Start no run that would not finish before this agent's end (the median "
                   "finished run's duration), and stop the running one (preempted: resumed "
                   "later) shortly before it. auto: the SLURM job's end.")
@click.option("--run-timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Stop a run still going after this long (stopped, reason timeout; "
                   "overrides sweepcli.run_timeout).")
@click.option("-f", "--forward-signals", is_flag=True,
              help="Pass the signals the agent gets on to the run as they are: SIGUSR1 (SLURM's "
                   "warning) stays SIGUSR1 instead of becoming SIGTERM, and the first Ctrl-C is "
                   "the run's SIGINT instead of 'finish this run, then exit'.")
@click.option("-t", "--term-timeout", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Seconds between SIGTERM and SIGKILL when a run is stopped, canceled or "
                   "preempted (default: sweepcli.stop_grace_seconds, 30; cancel 5; "
                   "preemption 10).")
@click.option("--max-consecutive-failed-runs", "max_failures", type=click.IntRange(min=1),
              metavar="N", help="Stop (exit 1, showing the last run's output) after N runs "
                                "in a row failed.")
@click.option("--wandb", "wandb_mode", type=click.Choice(["shim", "offline", "off"]),
              help="What `import wandb` is in the programs: sweepcli's helper with W&B's names "
                   "(shim, the default: W&B scripts run unchanged), the real wandb logging "
                   "offline beside the sweep (offline: `wandb sync` later), or the program's "
                   "own wandb left alone (off). Overrides sweepcli.wandb.")
@dir_option
def agent(sweep_id: str, count: int | None, project: str | None, entity: str | None,
          gpus: str | None, runs_per_gpu: int, gpus_per_run: int, time_limit: str | None,
          run_timeout: float | None, forward_signals: bool, term_timeout: float | None,
          max_failures: int | None, wandb_mode: str | None, root_dir: str | None) -> None:
    """Run runs of sweep ID (or PROJECT/ID, ENTITY/PROJECT/ID) one after another until it
    is done.

    SIGTERM or SIGUSR1 (what SLURM sends) preempts: the run is stopped, marked preempted,
    and resumed later by any agent as its next attempt, in its own folder. Ctrl-C: once,
    finish the run then exit; twice, terminate it; three times, kill it.
    """
    del entity
    gpu_list = None
    if gpus is not None:
        given = all_gpus() if gpus.strip() == "all" else [
            g.strip() for g in gpus.split(",") if g.strip()]
        if not given:
            raise ClusterError("--gpus: give GPU indices, e.g. 0,1,2,3, or all")
        gpu_list, unused = gpu_slots(given, runs_per_gpu, gpus_per_run)
        if unused:
            click.echo(f"sweepcli: GPU(s) {','.join(unused)} left unused: "
                       f"{len(given)} is not a multiple of --gpus-per-run {gpus_per_run}",
                       err=True)
    elif runs_per_gpu > 1 or gpus_per_run > 1:
        raise ClusterError("--runs-per-gpu and --gpus-per-run need --gpus (a list, or all)")
    limit, note = cluster_time_limit(time_limit)
    if note:
        click.echo(f"sweepcli: {note}", err=True)
    store = _store(root_dir)
    sweep = _open(store, _ref(sweep_id, project))
    started = time.monotonic()
    display = make_display(count, len(gpu_list or [None]))
    report = Agent(sweep, count=count, display=display, gpus=gpu_list,
                   term_timeout=term_timeout, forward_signals=forward_signals,
                   max_consecutive_failures=max_failures, time_limit=limit,
                   run_timeout=run_timeout, wandb=wandb_mode).run(keep_signal_handlers=True)
    # decided: a batch system's later SIGTERM (SLURM signals the job, its script forwards one
    # more) must not turn the exit status into 143. Ignored, not handled: Python puts its
    # own handlers back to the default as it shuts down
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    n = len(report.runs)
    did = f"{n} run(s)" if sweep.config.pbt is None else (
        f"{n} segment(s) of {len({r.run_id for r in report.runs})} member(s)")
    click.echo(f"sweepcli: agent done after {did} in {time.monotonic() - started:.1f} s: "
               f"{report.reason}", err=True)
    if report.interrupted:
        raise Stopped("", 130)
    if report.time_up:
        left = _work_left(sweep)
        if left:
            why = ("this agent was preempted" if report.reason == "preempted"
                   else "this agent's time is up")
            how = ("the batch script requeues the job"
                   if os.environ.get("SWEEPCLI_JOB_SCRIPT") == "slurm"
                   else "requeue the job (the script of `sweepcli slurm` does, as does "
                        "examples/slurm/agent.sbatch)")
            raise Stopped(f"exit status 3: {why} and the sweep has work left ({left}); {how}", 3)


def _work_left(sweep: Sweep) -> str:
    """What the sweep still has to do, in words ('' when it is done)."""
    from ..agent import sweep_status

    try:
        state = sweep.refresh()
    except (OSError, LockTimeout, LockLost):
        return "its state could not be read"
    status = sweep_status(sweep.config, state)
    if status in ("finished", "canceled"):
        return ""
    counts: dict[str, int] = {}
    for r in state.runs.values():
        counts[r.state.value] = counts.get(r.state.value, 0) + 1
    parts = [f"{n} {k}" for k, n in counts.items() if k in ("running", "preempted", "crashed",
                                                           "paused")]
    return f"sweep {status}" + (f": {', '.join(parts)}" if parts else "")


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("sweep_id", metavar="ID", shell_complete=_complete_sweeps)
@click.option("--array", "array", required=True, metavar="N|SPEC",
              help="How many agents: N array tasks (0..N-1), or SLURM's spec (0-15%4).")
@click.option("--time", "walltime", required=True, metavar="HH:MM:SS",
              help="Each task's walltime (SLURM's --time; 04:00:00, 90, 1-12:00:00). An agent "
                   "starts no run it cannot finish in it and its task is requeued until the "
                   "sweep is done.")
@click.option("--gpus", type=click.IntRange(min=0), default=0, show_default=True,
              help="GPUs per task (--gres=gpu:K); with more than 1, one run per GPU.")
@click.option("--cpus", type=click.IntRange(min=1), help="CPUs per task (--cpus-per-task).")
@click.option("--mem", metavar="SIZE", help="Memory per node (SLURM's --mem: 16G, 4000M).")
@click.option("--setup", "setup_file", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="Shell lines the script runs before the agent (module load ..., source "
                   "venv/bin/activate), copied into it.")
@click.option("--agent-args", metavar="ARGS", default="",
              help="More options for each agent, as one string (e.g. \"-t 5 --wandb off\").")
@click.option("--script", "script_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Where to write the batch script (default ./sweepcli-ID.sbatch).")
@click.option("--dry-run", is_flag=True, help="Write the script; do not submit it.")
@click.option("-p", "--project", help="The project of a bare ID.")
@click.argument("sbatch_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- SBATCH_ARGS]")
@dir_option
def slurm(sweep_id: str, array: str, walltime: str, gpus: int, cpus: int | None, mem: str | None,
          setup_file: str | None, agent_args: str, script_path: str | None, dry_run: bool,
          project: str | None, sbatch_args: tuple[str, ...], root_dir: str | None) -> None:
    """Submit a SLURM job array of agents for sweep ID: writes the batch script (read it,
    keep it), submits it with sbatch, and prints the job ID. Each task runs one agent with
    --time-limit auto; a task whose time ran out while the sweep has work is requeued, one
    that finds the sweep done ends. Options after -- are written into the script as
    #SBATCH lines (--partition=gpu --account=me --qos=long), so resubmitting it keeps them.

    \b
      sweepcli slurm $ID --array 8 --time 04:00:00 --gpus 1 -- --partition=gpu
    """
    import shlex

    from ..slurm import JobArray, SlurmError, queued, submit
    from ..store.files import write_atomic

    store = _store(root_dir)
    sweep = _open(store, _ref(sweep_id, project))
    if not _work_left(sweep):
        from ..agent import sweep_status

        raise SweepcliError(f"sweep {sweep.ref} is {sweep_status(sweep.config, sweep.refresh())}: "
              "no job to submit")
    try:
        extra = tuple(shlex.split(agent_args))
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--agent-args") from None
    setup = ""
    if setup_file:
        try:
            setup = Path(setup_file).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise SweepcliError(f"cannot read --setup {setup_file}: {e}") from None
    try:
        job = JobArray(sweep.ref, array, walltime, gpus=gpus, cpus=cpus, mem=mem, setup=setup,
                       root_dir=str(store.root), in_postgres=store.url is not None,
                       agent_args=extra, sbatch_args=tuple(sbatch_args))
    except SlurmError as e:
        raise UsageError(str(e)) from None  # what was asked cannot be written as a job: nothing was
    for warning in job.warnings():
        click.echo(f"sweepcli: warning: {warning}", err=True)
    path = Path(script_path) if script_path else Path.cwd() / f"{job.job_name}.sbatch"
    try:
        write_atomic(path, job.script())
    except OSError as e:
        raise SweepcliError(f"cannot write the script {path}: {e.strerror or e}") from None
    if dry_run:
        click.echo(str(path))
        click.echo(f"Wrote {path}; submit it with: sbatch {shlex.quote(str(path))}", err=True)
        return
    already = queued(job.job_name)
    env = dict(os.environ)
    url = click.get_current_context().meta.get(_STORE_URL)
    if url:
        env["SWEEPCLI_STORE"] = url  # to the jobs through sbatch's exported environment only
    try:
        job_id = submit(path, (), env)  # the options after -- are in the script
    except SlurmError as e:
        raise SweepcliError(str(e)) from None
    click.echo(job_id)
    click.echo(f"Submitted job array {job_id} ({job.array}, {walltime} each) for sweep "
               f"{sweep.ref}: {path}", err=True)
    if already:
        click.echo(f"Note: job(s) {', '.join(already)} of this sweep were already queued; "
                   "their agents share the work with these.", err=True)
    click.echo(f"Watch: squeue -j {job_id}; sweepcli sweep --print {sweep.ref}"
               f"{'' if str(store.root) == 'sweeps' else ' --dir ' + str(store.root)}. "
               f"Logs: {job.output} in {job.workdir}.", err=True)
