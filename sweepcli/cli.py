"""The ``sweepcli`` command: a thin front over the store, the agent and the status.

Exit status: 0 success; 2 bad usage, bad config or bad ID (nothing written); 1 anything
else. Errors are messages, never tracebacks: every ``SweepcliError`` (``errors.py``) and
every ``OSError`` leaves through one handler, :class:`Group`, with the error's own exit
status; anything else is a bug, and keeps its traceback.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from . import api, jsonline
from .agent import Agent, target_reached
from .agent.cluster import ClusterError, all_gpus, gpu_slots
from .agent.cluster import time_limit as cluster_time_limit
from .agent.display import make_display
from .config import ConfigError, load_config, parse_yaml, validate
from .config.validate import json_problems
from .errors import SweepcliError, describe
from .priors import MAX_FILE
from .store import (
    Control,
    LockLost,
    LockTimeout,
    Store,
    SweepStore,
    Sweep,
    SweepUnreadable,
    check_environment,
    open_store,
    parse_sweep_ref,
)
from .config import flat_names
from .reporting.report import fmt
from .text import printable
from .reporting.status import summarize

CONTROL = {"pause": api.pause, "resume": api.resume, "stop": api.stop, "cancel": api.cancel}


class CommandFailed(click.ClickException):
    """A message for the user and exit status 1; click prints it as ``Error: ...``, never
    as a traceback."""

    exit_code = 1


class UsageFailed(CommandFailed):
    """The same with exit status 2: bad usage or input, nothing written."""

    exit_code = 2


def _fail(message: str, code: int = 1) -> NoReturn:
    raise (UsageFailed if code == 2 else CommandFailed)(message)


def _complete_sweeps(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of sweep IDs from the sweep folder."""
    root = ctx.params.get("root_dir") or None
    try:
        refs = open_store(root).list()
    except Exception:  # noqa: BLE001 - completion never fails loudly
        return []
    return [click.shell_completion.CompletionItem(r) for r in refs if r.startswith(incomplete)]


class Group(click.Group):
    """The one way out of an error: a ``SweepcliError`` is its message and its exit status
    (1, or 2 for bad usage or input), an ``OSError`` its text and the file it concerns
    (exit 1); click prints them as ``Error: ...``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SweepcliError as exc:
            _fail(str(exc), exc.exit_code)
        except BrokenPipeError:
            raise  # the reader went away (| head): click exits quietly
        except OSError as exc:
            raise CommandFailed(describe(exc)) from None


def _store(root_dir: str | None) -> SweepStore:
    """The store ``--dir``/``--store`` name (else the environment's), once the
    environment's settings are known to be usable."""
    check_environment()
    return open_store(root_dir, click.get_current_context().meta.get(_STORE_URL))


def _open(store: SweepStore, ref: str) -> Sweep:
    parse_sweep_ref(ref)  # (an ID that is not one: before any path is built)
    return store.open(ref)


_STORE_URL = "sweepcli.store"  # where --store (or SWEEPCLI_STORE) is kept for _store()


def _use_store(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """``--store URL`` (or ``SWEEPCLI_STORE``): the store every command of this process
    opens (handed on explicitly, never through the environment)."""
    if value:
        from .store.postgres import is_url

        if not is_url(value):
            raise click.BadParameter("expected a PostgreSQL URL: "
                                     "postgresql://USER@HOST:PORT/DATABASE")
        ctx.meta[_STORE_URL] = value


def dir_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--dir`` (where sweeps, or with ``--store`` this host's run folders, live) and
    ``--store`` (a PostgreSQL store instead of the folder)."""
    f = click.option(
        "--store", envvar="SWEEPCLI_STORE", metavar="URL", expose_value=False,
        callback=_use_store, is_eager=True,
        help="Keep sweeps in PostgreSQL (postgresql://USER@HOST:PORT/DB; env SWEEPCLI_STORE; "
             "libpq's PG* variables and ~/.pgpass give the rest) instead of the folder.",
    )(f)
    return click.option(
        "--dir", "root_dir", envvar="SWEEPCLI_DIR", type=click.Path(file_okay=False),
        help="The folder that holds every sweep (env SWEEPCLI_DIR; default ./sweeps); with "
             "--store, where this host's run folders go.",
    )(f)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sweepcli")
def main() -> None:
    """Hyperparameter sweeps that need no server.

    \b
      ID=$(sweepcli sweep sweep.yaml)
      sweepcli agent $ID &
      sweepcli agent $ID &
      sweepcli sweep --print $ID
    """


def _ref(ref: str, project: str | None) -> str:
    """``-p/--project P`` with a bare ID names P/ID (W&B's flag)."""
    return f"{project}/{ref}" if project and "/" not in ref else ref


def _sweep_command(name: str, help_text: str) -> Callable[..., Any]:
    @main.command(name, help=help_text)
    @click.argument("config_file", required=False, type=click.Path(dir_okay=False))
    @click.option("--name", help="A name for the sweep (default: the config's name).")
    @click.option("-p", "--project", help="Put the sweep under this project (agents take "
                  "PROJECT/ID); with a control flag, the project of a bare ID.")
    @click.option("-e", "--entity", metavar="ENTITY", help="W&B's team or user: accepted and "
                  "ignored (a sweep folder has no owner name).")
    @click.option("--program", metavar="PATH", help="Run this program instead of the config's "
                  "'program' (at create).")
    @click.option("--prior", "-R", "--prior-run", "--prior_run", "priors", metavar="SOURCE",
                  multiple=True,
                  help="Runs that join the new sweep's history as ended runs: another sweep "
                       "(ID or PROJECT/ID), one run of it (ID/RUN_ID), or a CSV/JSONL results "
                       "file (a column per parameter, dotted for nested, and the metric). "
                       "Repeatable.")
    @click.option("--update", "update_id", metavar="ID", shell_complete=_complete_sweeps,
                  help="Give sweep ID the config CONFIG from its next claim on (running runs go "
                       "on); method and the metric's name and goal cannot change.")
    @click.option("--pause", "pause_id", metavar="ID", shell_complete=_complete_sweeps,
                  help="Pause: no new runs start; running runs go on; agents wait.")
    @click.option("--resume", "resume_id", metavar="ID", shell_complete=_complete_sweeps,
                  help="Undo --pause (or --stop).")
    @click.option("--stop", "stop_id", metavar="ID", shell_complete=_complete_sweeps,
                  help="Stop: no new runs; running runs finish; agents exit after them.")
    @click.option("--cancel", "cancel_id", metavar="ID", shell_complete=_complete_sweeps,
                  help="Cancel: kill running runs now; agents exit.")
    @click.option("--print", "print_id", metavar="ID", shell_complete=_complete_sweeps,
                  help="Show the sweep: state, counts, the best run, the last runs.")
    @click.option("--rerun-failed", "rerun_id", metavar="ID", shell_complete=_complete_sweeps,
                  help="Put the points of failed runs back in the queue to run again.")
    @click.option("--json", "as_json", is_flag=True, help="With --print: one JSON object.")
    @click.option("--last", default=10, show_default=True, help="With --print: runs listed.")
    @click.option("--top", type=click.IntRange(min=1), metavar="K",
                  help="With --print: the K best runs, best first (by the metric; with "
                       "--json, runs holds just them, in that order).")
    @dir_option
    def command(config_file: str | None, name: str | None, project: str | None,
                entity: str | None, program: str | None, priors: tuple[str, ...],
                update_id: str | None, pause_id: str | None, resume_id: str | None,
                stop_id: str | None, cancel_id: str | None, print_id: str | None,
                rerun_id: str | None, as_json: bool, last: int, top: int | None,
                root_dir: str | None) -> None:
        del entity  # W&B's account: nothing to do with a folder
        actions = {k: v for k, v in {"pause": pause_id, "resume": resume_id, "stop": stop_id,
                                     "cancel": cancel_id, "print": print_id,
                                     "rerun-failed": rerun_id, "update": update_id}.items() if v}
        if update_id and not config_file:
            raise click.UsageError("--update ID needs the new CONFIG file: sweepcli sweep "
                                   "--update ID CONFIG")
        if len(actions) + bool(config_file and not update_id) != 1:
            raise click.UsageError("give a CONFIG file to create a sweep, or one of --pause, "
                                   "--resume, --stop, --cancel, --print, --rerun-failed with "
                                   "an ID, or --update ID CONFIG")
        if top is not None and not print_id:
            raise click.UsageError("--top K is for --print ID")
        if (priors or program) and not (config_file and not update_id):
            raise click.UsageError("--prior and --program are for creating a sweep from CONFIG")
        store = _store(root_dir)
        if config_file and not update_id:
            _create(store, config_file, name, project, priors, program)
            return
        (action, ref), = actions.items()
        folder = _open(store, _ref(ref, project))
        if action == "print":
            _print(folder, as_json, last, top)
        elif action == "rerun-failed":
            failed = api.rerun_failed(folder)
            click.echo(f"{len(failed)} failed run(s) of {folder.ref} will run again when an "
                       "agent takes them.", err=True)
        elif action == "update":
            _update(folder, config_file)  # type: ignore[arg-type]
        else:
            CONTROL[action](folder)
            done = {"pause": "paused", "resume": "resumed", "stop": "stopped",
                    "cancel": "canceled"}
            click.echo(f"Sweep {folder.ref} {done[action]}.", err=True)

    return command


def _create(store: SweepStore, config_file: str, name: str | None, project: str | None,
            priors: tuple[str, ...], program: str | None) -> None:
    config = load_config(config_file)
    if program is not None:
        config = validate({**config.raw, "program": program}, source=config_file)
    for warning in config.warnings:
        click.echo(f"Warning: {printable(warning)}", err=True)
    folder, found = api.create(config, project=project, name=name, prior=priors, store=store,
                               source_dir=Path(config_file).resolve().parent)
    for note in found.notes:
        click.echo(f"Note: {printable(note)}", err=True)
    for skipped in found.skipped[:20]:
        click.echo(f"Skipped: {printable(skipped)}", err=True)
    if len(found.skipped) > 20:
        click.echo(f"Skipped: ... and {len(found.skipped) - 20} more", err=True)
    click.echo(folder.sweep_id)
    prior_text = f" with {len(found.runs)} prior run(s)" if priors else ""
    where = folder.path if isinstance(store, Store) else store
    click.echo(f"Created sweep {folder.ref} ({config.method}){prior_text} in {where}",
               err=True)
    dir_flag = f" --dir {store.root}" if str(store.root) != "sweeps" else ""
    store_flag = "" if isinstance(store, Store) else " --store URL"
    click.echo(f"Run agents with: sweepcli agent{store_flag}{dir_flag} {folder.ref}", err=True)


def _update(folder: Sweep, config_file: str) -> None:
    config = load_config(config_file)
    for warning in config.warnings:
        click.echo(f"Warning: {printable(warning)}", err=True)
    revision = api.update(folder, config.raw)
    click.echo(f"Sweep {folder.ref}: config revision {revision} takes effect at the next "
               "claim; running runs go on.", err=True)


def _run_note(run: dict[str, Any]) -> str:
    """' (attempt 2; timeout)' when a run was resumed or ended for a reason of its own."""
    notes = [f"attempt {run['attempt']}"] if run["attempt"] > 1 else []
    if run["reason"]:
        notes.append(fmt(run["reason"]))
    if run.get("feasible") is False:
        notes.append("infeasible: " + fmt(", ".join(run["broken"])))
    return f"  ({'; '.join(notes)})" if notes else ""


def _best_first(s: dict[str, Any], k: int) -> list[dict[str, Any]]:
    """The ``k`` runs with the best values (by the metric's goal; ties: the earlier run)."""
    goal = (s["metric"] or (s.get("metrics") or [{}])[0]).get("goal", "minimize")
    valued = [r for r in s["runs"] if r["value"] is not None]
    # feasible runs first (sweepcli.constraints): the best is never an infeasible one
    valued.sort(key=lambda r: (r.get("feasible") is False,
                               -r["value"] if goal == "maximize" else r["value"]))
    return valued[:k]


def _print(folder: Sweep, as_json: bool, last: int, top: int | None = None) -> None:
    s = summarize(folder, say=lambda message: click.echo(f"sweepcli: {printable(message)}", err=True))
    every_run = s["runs"]
    if top is not None:
        s["runs"] = _best_first(s, top)
    if as_json:
        # indented for a person; one line for a program (json's C encoder: a 10,000-run
        # sweep prints in a tenth of the time). No importance: scripts poll this, and the
        # forest costs a second (the Python API's ApiSweep.importance() has it)
        click.echo(json.dumps(s, indent=2 if sys.stdout.isatty() else None))
        return
    valued = [r for r in s["runs"] if r["value"] is not None]
    importance = None
    if s["metric"]:
        from .reporting.insight import importance as rank

        importance = rank(folder.config.space, [flat_names(r["config"]) for r in valued],
                          [r["value"] for r in valued], s["metric"]["goal"])
    metric = s["metric"]
    metric_text = printable(f"{metric['name']} ({metric['goal']})") if metric else "-"
    front: list[str] = []
    if "pareto" in s:  # several objectives: the front instead of one best run
        metric_text = printable(", ".join(f"{m['name']} ({m['goal']})" for m in s["metrics"]))
        for p in s["pareto"]:
            values = " ".join(f"{fmt(k)}={fmt(v)}" for k, v in p["values"].items())
            params = " ".join(f"{fmt(k)}={fmt(v)}" for k, v in flat_names(p["config"]).items())
            front.append(f"{p['run_id']}  {values}  {params}")
    counts = ", ".join(f"{n} {k}" for k, n in s["counts"].items() if n) or "no runs yet"
    if s["prior_runs"]:
        counts += f" ({s['prior_runs']} prior)"
    queued = s["queue"]
    queue_text = (f"{len(queued)} point(s) enqueued" + (
        f", {sum(not q['in_space'] for q in queued)} outside today's space (not run)"
        if any(not q["in_space"] for q in queued) else "")) if queued else ""
    revisions = s["revisions"]
    config_text = ("revision " + ", ".join(
        f"{r['revision']} ({time.strftime('%Y-%m-%d %H:%M', time.localtime(r['at']))})"
        if r["at"] else str(r["revision"]) for r in revisions)) if len(revisions) > 1 else ""
    budget_text = "; ".join(
        f"{b['spent']:,g} of {b['budget']:,g} {unit} spent, {b['left']:,g} left"
        for unit, b in (s["budget"] or {}).items())
    limits = folder.config.constraints
    feasible_text = ""
    if limits:
        said = {"True": 0, "False": 0, "None": 0}
        for r in every_run:
            said[str(r.get("feasible"))] += 1
        feasible_text = (f"{said['True']} feasible, {said['False']} infeasible"
                         + (f", {said['None']} running" if said["None"] else "") + "  ("
                         + ", ".join(f"{lim.metric}" + (f" >= {lim.min:g}" if lim.min is not None
                                                        else "")
                                     + (f" <= {lim.max:g}" if lim.max is not None else "")
                                     for lim in limits) + ")")
    skipped = s["journal_lines_skipped"]
    journal_text = (f"{skipped} line(s) skipped: damaged, or not events of ours"
                    if skipped else "")
    best = s["best"]
    best_text = "-"
    if best:
        params = " ".join(f"{fmt(k)}={fmt(v)}" for k, v in flat_names(best["config"]).items())
        best_text = f"{best['run_id']}  {fmt(best['value'])}  {params}"
    top_text = ""
    if importance:
        top_text = ", ".join(f"{fmt(d['name'])} {d['importance']:.2f}"
                             for d in importance[:5]) + (
            f"  (importance over {len(valued)} runs)")
    recent = s["runs"] if top is not None else s["runs"][-last:] if last > 0 else []
    if not sys.stdout.isatty():
        click.echo(f"sweep   {folder.ref}")
        if s["name"]:
            click.echo(f"name    {printable(str(s['name']))}")
        if s["description"]:
            click.echo(f"about   {printable(str(s['description']))}")
        click.echo(f"state   {s['state']}")
        click.echo(f"method  {s['method']}")
        click.echo(f"metric  {metric_text}")
        click.echo(f"runs    {counts}")
        if feasible_text:
            click.echo(f"limits  {feasible_text}")
        if budget_text:
            click.echo(f"budget  {budget_text}")
        if queue_text:
            click.echo(f"queue   {queue_text}")
        if config_text:
            click.echo(f"config  {config_text}")
        if journal_text:
            click.echo(f"journal {journal_text}")
        if "pareto" in s:
            click.echo(f"pareto  {len(front)} run(s) on the front (none dominated by another)")
            for line in front:
                click.echo(f"front   {line}")
        else:
            click.echo(f"best    {best_text}")
        if top_text:
            click.echo(f"top     {top_text}")
        for r in recent:
            params = " ".join(f"{fmt(k)}={fmt(v)}" for k, v in flat_names(r["config"]).items())
            origin = f"  (prior: {fmt(r['prior'])})" if r["prior"] else _run_note(r)
            click.echo(f"run     {r['run_id']}  {r['state']:<9}  {fmt(r['value']):>10}  "
                       f"{params}{origin}")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    head = Table.grid(padding=(0, 2))
    # every cell is a Text: a value is never read as rich markup
    for label, value in [("sweep", folder.ref + (f"  ({fmt(s['name'])})" if s["name"] else "")),
                         ("about", printable(str(s["description"] or ""))),
                         ("state", s["state"]), ("method", s["method"]), ("metric", metric_text),
                         ("runs", counts), ("limits", feasible_text), ("budget", budget_text),
                         ("queue", queue_text), ("config", config_text),
                         ("journal", journal_text),
                         ("best", "" if "pareto" in s else best_text),
                         ("pareto", f"{len(front)} run(s) on the front" if "pareto" in s else ""),
                         ("top", top_text)]:
        if value:
            head.add_row(Text(label, "bold"), Text(value))
    for line in front:
        head.add_row(Text("front", "bold"), Text(line))
    console.print(head)
    if recent:
        table = Table(title=f"{'best' if top is not None else 'last'} {len(recent)} runs",
                      title_justify="left")
        table.add_column("run")
        table.add_column("state")
        table.add_column(Text(fmt(metric["name"]) if metric else "value"), justify="right")
        names = list(flat_names(recent[0]["config"]))
        for n in names:
            table.add_column(Text(fmt(n)), justify="right")
        for r in recent:
            flat = flat_names(r["config"])
            table.add_row(r["run_id"], r["state"] + (" (prior)" if r["prior"] else _run_note(r)),
                          fmt(r["value"]),
                          *(Text(fmt(flat.get(n, ""))) for n in names))
        console.print(table)


_sweep_command("sweep", "Create a sweep from CONFIG (prints its ID), or control one by ID.")
_sweep_command("create", "The same as 'sweep': create a sweep from CONFIG, or control one by ID.")


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
    folder = _open(store, _ref(sweep_id, project))
    started = time.monotonic()
    display = make_display(count, len(gpu_list or [None]))
    report = Agent(folder, count=count, display=display, gpus=gpu_list,
                   term_timeout=term_timeout, forward_signals=forward_signals,
                   max_consecutive_failures=max_failures, time_limit=limit,
                   run_timeout=run_timeout, wandb=wandb_mode).run(keep_signal_handlers=True)
    # decided: a batch system's later SIGTERM (SLURM signals the job, its script forwards one
    # more) must not turn the exit status into 143. Ignored, not handled: Python puts its
    # own handlers back to the default as it shuts down
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    n = len(report.runs)
    click.echo(f"sweepcli: agent done after {n} run(s) in {time.monotonic() - started:.1f} s: "
               f"{report.reason}", err=True)
    if report.interrupted:
        sys.exit(130)
    if report.time_up:
        left = _work_left(folder)
        if left:
            why = ("this agent was preempted" if report.reason == "preempted"
                   else "this agent's time is up")
            how = ("the batch script requeues the job"
                   if os.environ.get("SWEEPCLI_JOB_SCRIPT") == "slurm"
                   else "requeue the job (the script of `sweepcli slurm` does, as does "
                        "examples/slurm/agent.sbatch)")
            click.echo(f"sweepcli: exit status 3: {why} and the sweep has work left ({left}); "
                       f"{how}", err=True)
            sys.exit(3)


def _work_left(folder: Sweep) -> str:
    """What the sweep still has to do, in words ('' when it is done)."""
    from .agent import sweep_status

    try:
        state = folder.refresh()
    except (OSError, LockTimeout, LockLost):
        return "its state could not be read"
    status = sweep_status(folder.config, state)
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

    from .slurm import JobArray, SlurmError, queued, submit
    from .store import write_atomic

    store = _store(root_dir)
    folder = _open(store, _ref(sweep_id, project))
    if not _work_left(folder):
        from .agent import sweep_status

        _fail(f"sweep {folder.ref} is {sweep_status(folder.config, folder.refresh())}: "
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
            _fail(f"cannot read --setup {setup_file}: {e}")
    try:
        job = JobArray(folder.ref, array, walltime, gpus=gpus, cpus=cpus, mem=mem, setup=setup,
                       root_dir=str(store.root), in_postgres=not isinstance(store, Store),
                       agent_args=extra, sbatch_args=tuple(sbatch_args))
    except SlurmError as e:
        _fail(str(e), 2)  # what was asked cannot be written as a job: nothing was
    for warning in job.warnings():
        click.echo(f"sweepcli: warning: {warning}", err=True)
    path = Path(script_path) if script_path else Path.cwd() / f"{job.job_name}.sbatch"
    try:
        write_atomic(path, job.script())
    except OSError as e:
        _fail(f"cannot write the script {path}: {e.strerror or e}")
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
        _fail(str(e))
    click.echo(job_id)
    click.echo(f"Submitted job array {job_id} ({job.array}, {walltime} each) for sweep "
               f"{folder.ref}: {path}", err=True)
    if already:
        click.echo(f"Note: job(s) {', '.join(already)} of this sweep were already queued; "
                   "their agents share the work with these.", err=True)
    click.echo(f"Watch: squeue -j {job_id}; sweepcli sweep --print {folder.ref}"
               f"{'' if str(store.root) == 'sweeps' else ' --dir ' + str(store.root)}. "
               f"Logs: {job.output} in {job.workdir}.", err=True)


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON list.")
@dir_option
def list_sweeps(as_json: bool, root_dir: str | None) -> None:
    """The sweeps of the folder (--dir, SWEEPCLI_DIR, ./sweeps) or store (--store): each
    one's state, method, counts of runs by state, best value, and the agents with a run
    going (host:pid). Read only: nothing is marked or written."""
    from .agent import sweep_status
    from .reporting.status import best_run

    store = _store(root_dir)
    rows: list[dict[str, Any]] = []
    for ref in store.list():
        row: dict[str, Any] = {"id": ref}
        try:
            folder = store.open(ref)
            state = folder.refresh()
        except (SweepcliError, OSError, LockTimeout, LockLost) as exc:
            row["error"] = describe(exc)
            rows.append(row)
            continue
        counts: dict[str, int] = {}
        for run in state.runs.values():
            counts[run.state.value] = counts.get(run.state.value, 0) + 1
        best = best_run(folder)
        metric = folder.config.metric
        row.update({
            "id": folder.ref, "name": folder.meta.get("name"),
            "state": sweep_status(folder.config, state), "method": folder.config.method,
            "metric": metric.name if metric else None, "counts": counts,
            "best": None if best is None or metric is None else best.best(metric.goal),
            "agents": sorted({r.agent for r in state.runs.values()
                              if r.state.value == "running" and r.agent}),
            "created": folder.meta.get("created"),
        })
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2 if sys.stdout.isatty() else None))
        return
    if not rows:
        where = store.root if isinstance(store, Store) else "the store"
        click.echo(f"No sweeps in {where}.", err=True)
        return
    from .reporting.report import fmt

    for row in rows:
        if "error" in row:
            click.echo(f"{row['id']:<17} cannot open: {printable(row['error'])}")
            continue
        counts_text = ", ".join(f"{n} {k}" for k, n in row["counts"].items()) or "no runs"
        best_text = f"best {row['metric']}={fmt(row['best'])}" if row["best"] is not None else ""
        agents = f"{len(row['agents'])} agent(s) running: {', '.join(row['agents'])}" \
            if row["agents"] else ""
        name = f"({printable(str(row['name']))})" if row["name"] else ""
        parts = [f"{row['id']:<17}", f"{row['state']:<9}", f"{row['method']:<6}", name,
                 counts_text, best_text, agents]
        click.echo("  ".join(p for p in parts if p))


def _setting(text: str) -> tuple[str, Any]:
    """``--set name=value``: the value read as a YAML scalar (0.01, 3, true, relu, [1, 2])."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise click.BadParameter(f"{text!r}: expected NAME=VALUE, e.g. lr=0.01", param_hint="--set")
    try:
        parsed = parse_yaml(value, "--set", max_nodes=MAX_POINT_VALUES) if value.strip() else value
    except ConfigError as exc:
        raise click.BadParameter(f"{text!r}: {exc}", param_hint="--set") from None
    return name.strip(), parsed


@main.command()
@click.argument("sweep_id", metavar="ID", shell_complete=_complete_sweeps)
@click.option("--set", "settings", metavar="NAME=VALUE", multiple=True,
              help="One parameter of the point (dotted names for nested ones); repeatable. "
                   "Parameters left out are drawn from their distributions now.")
@click.option("--file", "points_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Many points: a YAML or JSON list of mappings (or JSON lines), in order.")
@click.option("-p", "--project", help="The project of a bare ID.")
@dir_option
def enqueue(sweep_id: str, settings: tuple[str, ...], points_file: str | None,
            project: str | None, root_dir: str | None) -> None:
    """Run chosen points of sweep ID before its search's own suggestions, in order, each
    once across all agents (W&B's "create sweep from runs", Optuna's enqueue_trial).

    \b
      sweepcli enqueue ID --set lr=0.01 --set model.depth=3
      sweepcli enqueue ID --file points.yaml
    """
    if bool(settings) == bool(points_file):
        raise click.UsageError("give the point with --set NAME=VALUE (repeatable), or many "
                               "with --file FILE")
    points: list[Any]
    if settings:
        point: dict[str, Any] = {}
        for text in settings:
            name, value = _setting(text)
            point[name] = value
        points = [point]
    else:
        points = _points_file(points_file)  # type: ignore[arg-type]
    store = _store(root_dir)
    folder = _open(store, _ref(sweep_id, project))
    done = api.enqueue(folder, points)
    for pid, full in done:
        shown = " ".join(f"{fmt(k)}={fmt(v)}" for k, v in full.items())
        click.echo(pid)
        click.echo(f"Enqueued {pid} in {folder.ref} (the run that takes it will be run {pid}): "
                   f"{printable(shown)}", err=True)
    state = folder.refresh()
    if state.control == Control.STOPPED:
        click.echo(f"Note: sweep {folder.ref} is stopped: its queue runs once it is resumed "
                   f"(sweepcli sweep --resume {folder.ref})", err=True)
    elif state.control == Control.PAUSED:
        click.echo(f"Note: sweep {folder.ref} is paused: its queue runs once it is resumed",
                   err=True)
    elif target_reached(folder.config, list(state.runs.values())) is not None:
        click.echo(f"Note: sweep {folder.ref} reached metric.target: no new run starts, "
                   "enqueued ones included", err=True)


#: values in a points file (``enqueue --file``) once its YAML aliases are expanded
MAX_POINT_VALUES = 1_000_000


def _points_file(path: str) -> list[Any]:
    try:
        if os.path.getsize(path) > MAX_FILE:
            _fail(f"{path}: larger than {MAX_FILE >> 20} MiB", 2)
        text = open(path, encoding="utf-8").read()  # noqa: SIM115 - read at once
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}", 2)
    except UnicodeDecodeError:
        _fail(f"{path}: not a UTF-8 text file", 2)
    try:
        data = parse_yaml(text, path, max_nodes=MAX_POINT_VALUES)
    except ConfigError as exc:
        data = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:  # JSON lines: one object a line (not one YAML document)
                data.append(jsonline.parse(line, allow_nan=False))
            except ValueError:
                _fail(f"{path} line {n}: not a line of JSON" if data else str(exc), 2)
        problems = json_problems(data, MAX_POINT_VALUES)
        if problems:
            _fail(f"{path}: {problems[0]}", 2)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        _fail(f"{path}: expected a list of points (mappings of parameter names to values)", 2)
    return data


def _in_project(path: Any) -> bool:
    """A sweep folder ROOT/PROJECT/ID (not ROOT/ID): its meta names the project."""
    from .store.sweep_folder import read_meta

    try:
        return read_meta(path).get("project") == path.parent.name
    except (SweepUnreadable, OSError):
        return False


@main.command()
@click.argument("sweep_id", metavar="SRC", shell_complete=_complete_sweeps)
@click.argument("dest", metavar="DEST")
@dir_option
def copy(sweep_id: str, dest: str, root_dir: str | None) -> None:
    """Copy a sweep to DEST: a PostgreSQL URL (postgresql://USER@HOST:PORT/DB) or a folder.
    SRC is a sweep of this store (ID, PROJECT/ID; --dir, or --store) or a sweep's folder
    (sweeps/ID). The copy keeps the ID, project, every run and its history; pause the
    sweep first, then run agents on the copy."""
    from pathlib import Path

    from .store.postgres import is_url, safe_url

    store = _store(root_dir)
    path = Path(sweep_id)
    if path.is_dir() and (path / "sweep.json").is_file() and not path.is_symlink():
        # a sweep's folder: its root is the folder above (or two above, in a project)
        path = path.resolve()
        top = Store(path.parent)
        ref = path.name
        if path.parent.name and not os.path.lexists(path.parent / "sweep.json") and \
                _in_project(path):
            top, ref = Store(path.parent.parent), f"{path.parent.name}/{path.name}"
        folder = _open(top, ref)
    else:
        folder = _open(store, sweep_id)
    where = safe_url(dest) if is_url(dest) else dest
    try:
        copied = api.copy_sweep(folder.ref, dest, root_dir, source=folder)
    except FileExistsError:
        _fail(f"{where} already has a sweep {folder.ref}")
    if not is_url(dest):
        where = str(copied.path)
    click.echo(copied.ref)
    click.echo(f"Copied sweep {folder.ref} ({len(copied.refresh().runs)} run(s)) to {where}.",
               err=True)


@main.command()
@click.argument("sweep_id", metavar="ID", shell_complete=_complete_sweeps)
@click.option("--out", "out_file", type=click.Path(dir_okay=False),
              help="Where to write the report (default: sweep-ID.html here).")
@click.option("--open", "open_it", is_flag=True, help="Open the report in a browser.")
@click.option("--watch", type=click.FloatRange(min=1), is_flag=False, flag_value=10.0,
              default=None, metavar="[SECONDS]",
              help="Rewrite the report every SECONDS (default 10) while the sweep runs; an "
                   "open page reloads itself when it changed. Ctrl-C stops.")
@click.option("--static", is_flag=True,
              help="The static page: inline SVG, no script (what is written without plotly).")
@dir_option
def report(sweep_id: str, out_file: str | None, open_it: bool, watch: float | None,
           static: bool, root_dir: str | None) -> None:
    """Write a self-contained HTML report of sweep ID: best so far, learning curves with
    hyperband's thresholds, parameter importance, parallel coordinates, the metric against
    each parameter, the sortable runs table. Opens offline (no CDN)."""
    from pathlib import Path

    from .reporting import dashboard

    folder = _open(_store(root_dir), sweep_id)
    path = Path(out_file or f"sweep-{folder.sweep_id}.html")
    if not static and not dashboard.available():
        click.echo("sweepcli: the interactive report needs plotly: pip install "
                   "'sweepcli[report]'. Writing the static page.", err=True)
        static = True
    last: list[str | None] = [None]

    state = _write_report(folder, path, static, watch, last)
    click.echo(str(path))
    if open_it:
        _open_in_browser(path.resolve())
    if watch is None:
        return
    click.echo(f"Watching sweep {folder.ref}: {path} is rewritten every {watch:g} s while "
               "it runs (Ctrl-C stops).", err=True)
    try:
        while state in ("running", "paused"):
            time.sleep(watch)
            try:
                state = _write_report(folder, path, static, watch, last)
            except (OSError, LockTimeout) as exc:  # a busy or flaky disk: the next round
                click.echo("sweepcli: report not rewritten this time: "
                           f"{printable(str(exc))}", err=True)
        _write_report(folder, path, static, None, last)  # the last page: no longer live
        click.echo(f"Sweep {folder.ref} is {state}: {path} is final.", err=True)
    except KeyboardInterrupt:
        click.echo("Stopped watching.", err=True)


def _open_in_browser(path: Any) -> None:
    """``report --open``: a browser where there is a display; else where the file is (a
    login node over SSH has none, and a text browser would take over the terminal)."""
    import platform
    import webbrowser

    headless = platform.system() == "Linux" and not (os.environ.get("DISPLAY")
                                                     or os.environ.get("WAYLAND_DISPLAY"))
    opened = False
    if not headless:
        try:
            opened = webbrowser.open(path.as_uri())
        except webbrowser.Error:
            opened = False
    if not opened:
        why = "no display here" if headless else "no browser could be started"
        click.echo(f"sweepcli: {why}: the report is {path}; open {path.as_uri()} in a "
                   f"browser that sees this disk, or copy it (scp {platform.node()}:{path} .)",
                   err=True)


def _log_axes(folder: Sweep, summary: dict[str, Any]) -> dict[str, bool]:
    """Which parameters the report draws on a log scale (only log-distributed ones, and
    lists of values that span decades)."""
    from .config.space import flat_names
    from .reporting.insight import is_log

    params = {p.name: p for p in folder.config.space.params}
    values: dict[str, list[Any]] = {}
    for run in summary["runs"]:
        for k, v in flat_names(run["config"]).items():
            values.setdefault(k, []).append(v)
    return {k: is_log(params.get(k), vs) for k, vs in values.items()}


def _write_report(folder: Sweep, path: Any, static: bool, watch: float | None,
                  last: list[str | None]) -> str:
    """Write the report (and, when watched, its stamp) unless nothing it shows changed;
    the sweep's state."""
    from urllib.parse import quote

    from .reporting import dashboard
    from .reporting.report import html_report
    from .store.files import write_atomic

    stamp_path = path.with_name(path.name + ".stamp.js")
    if static:
        summary = summarize(folder)
        stamp = dashboard.data_stamp(summary) + ("w" if watch else "")
        if stamp != last[0]:
            write_atomic(path, html_report(summary, refresh=watch, logs=_log_axes(folder, summary)),
                         durable=False)
        last[0] = stamp
        return summary["state"]
    data = dashboard.report_data(folder)
    stamp = dashboard.data_stamp(data) + ("w" if watch else "")
    if stamp != last[0]:
        page, _ = dashboard.interactive_report(data, watch, quote(stamp_path.name), stamp)
        write_atomic(path, page, durable=False)
        write_atomic(stamp_path, f'window.sweepcliStamp && window.sweepcliStamp("{stamp}");\n',
                     durable=False)
    last[0] = stamp
    return data["state"]


@main.command()
@click.argument("sweep_id", metavar="ID", shell_complete=_complete_sweeps)
@click.option("--width", default=60, show_default=True, help="Columns of the chart.")
@click.option("--height", default=12, show_default=True, help="Rows of the chart.")
@click.option("--full", is_flag=True,
              help="Show every run on the axis, diverged ones too (they are marked on its "
                   "edge by default).")
@dir_option
def plot(sweep_id: str, width: int, height: int, full: bool, root_dir: str | None) -> None:
    """A terminal chart of sweep ID: every run's value and the best so far."""
    from .reporting.report import terminal_plot

    folder = _open(_store(root_dir), sweep_id)
    summary = summarize(folder)
    click.echo(terminal_plot(summary, width=max(width, 20), height=max(height, 4), full=full))


if __name__ == "__main__":  # pragma: no cover
    main()
