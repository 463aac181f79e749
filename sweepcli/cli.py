"""The ``sweepcli`` command: a thin front over the store, the agent and the status.

Exit status: 0 success; 2 bad usage, bad config or bad ID (nothing written); 1 anything
else. Errors are messages, never tracebacks.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from .agent import Agent, AgentError, CommandError
from .agent.display import make_display
from .config import ConfigError, load_config
from .store import (
    AmbiguousSweep,
    Control,
    InvalidId,
    JournalDamaged,
    LockLost,
    LockTimeout,
    SettingError,
    Store,
    SweepFolder,
    SweepNotFound,
    SweepUnreadable,
    check_environment,
    control_event,
    parse_sweep_ref,
    rerun_event,
)
from .report import flat_names, fmt
from .text import printable
from .status import summarize

CONTROL = {"pause": Control.PAUSED, "resume": Control.RUNNING, "stop": Control.STOPPED,
           "cancel": Control.CANCELED}


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _complete_sweeps(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of sweep IDs from the sweep folder."""
    root = ctx.params.get("root_dir") or None
    try:
        refs = Store(root).list()
    except OSError:
        return []
    return [click.shell_completion.CompletionItem(r) for r in refs if r.startswith(incomplete)]


@contextmanager
def _reported() -> Iterator[None]:
    """What can go wrong with a sweep on disk, as a message and exit 1, never a traceback."""
    try:
        yield
    except (LockTimeout, LockLost, JournalDamaged, SweepUnreadable) as exc:
        _fail(str(exc))
    except ConfigError as exc:
        _fail(f"the sweep's config is no longer valid: {exc}", 1)
    except OSError as exc:
        _fail(f"{exc.filename or ''}: {exc.strerror or exc}")


def _store(root_dir: str | None) -> Store:
    """The root folder, once the environment's settings are known to be usable."""
    try:
        check_environment()
    except SettingError as exc:
        _fail(str(exc), 2)
    return Store(root_dir)


def _open(store: Store, ref: str) -> SweepFolder:
    try:
        parse_sweep_ref(ref)
        return store.open(ref)
    except (InvalidId, AmbiguousSweep) as exc:
        _fail(str(exc), 2)
    except (SweepNotFound, SweepUnreadable) as exc:
        _fail(str(exc), 1)
    except OSError as exc:
        _fail(f"cannot open sweep {ref}: {exc.strerror or exc}", 1)


dir_option = click.option(
    "--dir", "root_dir", envvar="SWEEPCLI_DIR", type=click.Path(file_okay=False),
    help="The folder that holds every sweep (env SWEEPCLI_DIR; default ./sweeps).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sweepcli")
def main() -> None:
    """Hyperparameter sweeps that need no server.

    \b
      ID=$(sweepcli sweep sweep.yaml)
      sweepcli agent $ID &
      sweepcli agent $ID &
      sweepcli sweep --print $ID
    """


def _sweep_command(name: str, help_text: str) -> Callable[..., Any]:
    @main.command(name, help=help_text)
    @click.argument("config_file", required=False, type=click.Path(dir_okay=False))
    @click.option("--name", help="A name for the sweep (default: the config's name).")
    @click.option("--project", help="Put the sweep under this project (agents take PROJECT/ID).")
    @click.option("--pause", "pause_id", metavar="ID", shell_complete=_complete_sweeps,
                  help="Pause: no new runs start; running runs go on; agents wait.")
    @click.option("--resume", "resume_id", metavar="ID", shell_complete=_complete_sweeps,
                  help="Undo --pause.")
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
    @dir_option
    def command(config_file: str | None, name: str | None, project: str | None,
                pause_id: str | None, resume_id: str | None, stop_id: str | None,
                cancel_id: str | None, print_id: str | None, rerun_id: str | None,
                as_json: bool, last: int, root_dir: str | None) -> None:
        actions = {k: v for k, v in {"pause": pause_id, "resume": resume_id, "stop": stop_id,
                                     "cancel": cancel_id, "print": print_id,
                                     "rerun-failed": rerun_id}.items() if v}
        if len(actions) + bool(config_file) != 1:
            raise click.UsageError("give a CONFIG file to create a sweep, or one of --pause, "
                                   "--resume, --stop, --cancel, --print, --rerun-failed with an ID")
        store = _store(root_dir)
        with _reported():
            if config_file:
                _create(store, config_file, name, project)
                return
            (action, ref), = actions.items()
            folder = _open(store, ref)
            if action == "print":
                _print(folder, as_json, last)
            elif action == "rerun-failed":
                _rerun_failed(folder)
            else:
                _control(folder, action)

    return command


def _create(store: Store, config_file: str, name: str | None, project: str | None) -> None:
    try:
        config = load_config(config_file)
    except ConfigError as exc:
        lines = "\n".join(f"  {p}" for p in exc.problems)
        _fail(f"{config_file} is not a valid sweep config:\n{lines}", 2)
    for warning in config.warnings:
        click.echo(f"Warning: {warning}", err=True)
    try:
        folder = store.create(config, name=name, project=project or config.project_folder)
    except InvalidId as exc:
        _fail(str(exc), 2)
    click.echo(folder.sweep_id)
    click.echo(f"Created sweep {folder.ref} ({config.method}) in {folder.path}", err=True)
    dir_flag = f" --dir {store.root}" if str(store.root) != "sweeps" else ""
    click.echo(f"Run agents with: sweepcli agent{dir_flag} {folder.ref}", err=True)


def _control(folder: SweepFolder, action: str) -> None:
    with folder.lock:
        folder.refresh()
        if folder.state.control == Control.CANCELED:
            _fail(f"sweep {folder.ref} was canceled; it cannot be changed any more", 1)
        folder.append(control_event(CONTROL[action]))
    done = {"pause": "paused", "resume": "resumed", "stop": "stopped", "cancel": "canceled"}
    click.echo(f"Sweep {folder.ref} {done[action]}.", err=True)


def _rerun_failed(folder: SweepFolder) -> None:
    with folder.lock:
        folder.refresh()
        failed = [r.run_id for r in folder.state.runs.values()
                  if r.state.value == "failed" and not r.requeued]
        if failed:
            folder.append(rerun_event(failed))
    click.echo(f"{len(failed)} failed run(s) of {folder.ref} will run again when an agent "
               "takes them.", err=True)


def _print(folder: SweepFolder, as_json: bool, last: int) -> None:
    s = summarize(folder, say=lambda message: click.echo(f"sweepcli: {printable(message)}", err=True))
    if as_json:
        click.echo(json.dumps(s, indent=2))
        return
    metric = s["metric"]
    metric_text = printable(f"{metric['name']} ({metric['goal']})") if metric else "-"
    counts = ", ".join(f"{n} {k}" for k, n in s["counts"].items() if n) or "no runs yet"
    best = s["best"]
    best_text = "-"
    if best:
        params = " ".join(f"{fmt(k)}={fmt(v)}" for k, v in flat_names(best["config"]).items())
        best_text = f"{best['run_id']}  {fmt(best['value'])}  {params}"
    recent = s["runs"][-last:] if last > 0 else []
    if not sys.stdout.isatty():
        click.echo(f"sweep   {folder.ref}")
        click.echo(f"state   {s['state']}")
        click.echo(f"method  {s['method']}")
        click.echo(f"metric  {metric_text}")
        click.echo(f"runs    {counts}")
        click.echo(f"best    {best_text}")
        for r in recent:
            params = " ".join(f"{fmt(k)}={fmt(v)}" for k, v in flat_names(r["config"]).items())
            click.echo(f"run     {r['run_id']}  {r['state']:<9}  {fmt(r['value']):>10}  {params}")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    head = Table.grid(padding=(0, 2))
    # every cell is a Text: a value is never read as rich markup
    for label, value in [("sweep", folder.ref + (f"  ({fmt(s['name'])})" if s["name"] else "")),
                         ("state", s["state"]), ("method", s["method"]), ("metric", metric_text),
                         ("runs", counts), ("best", best_text)]:
        head.add_row(Text(label, "bold"), Text(value))
    console.print(head)
    if recent:
        table = Table(title=f"last {len(recent)} runs", title_justify="left")
        table.add_column("run")
        table.add_column("state")
        table.add_column(Text(fmt(metric["name"]) if metric else "value"), justify="right")
        names = list(flat_names(recent[0]["config"]))
        for n in names:
            table.add_column(Text(fmt(n)), justify="right")
        for r in recent:
            flat = flat_names(r["config"])
            table.add_row(r["run_id"], r["state"], fmt(r["value"]),
                          *(Text(fmt(flat.get(n, ""))) for n in names))
        console.print(table)


_sweep_command("sweep", "Create a sweep from CONFIG (prints its ID), or control one by ID.")
_sweep_command("create", "The same as 'sweep': create a sweep from CONFIG, or control one by ID.")


@main.command()
@click.argument("sweep_id", metavar="ID", shell_complete=_complete_sweeps)
@click.option("--count", type=click.IntRange(min=1), help="Exit after this many runs ended.")
@click.option("--gpus", metavar="LIST",
              help="Run one run per GPU at once, e.g. 0,1,2,3: each sees only its own "
                   "CUDA_VISIBLE_DEVICES.")
@dir_option
def agent(sweep_id: str, count: int | None, gpus: str | None, root_dir: str | None) -> None:
    """Run runs of sweep ID (or PROJECT/ID) one after another until it is done.

    SIGTERM or SIGUSR1 (what SLURM sends) preempts: the run is stopped and its point goes
    back to the queue. Ctrl-C: once, finish the run then exit; twice, terminate it;
    three times, kill it.
    """
    gpu_list = None
    if gpus is not None:
        gpu_list = [g.strip() for g in gpus.split(",") if g.strip()]
        if not gpu_list or len(set(gpu_list)) != len(gpu_list):
            raise click.BadParameter("give distinct GPU indices, e.g. 0,1,2,3", param_hint="--gpus")
    store = _store(root_dir)
    folder = _open(store, sweep_id)
    started = time.monotonic()
    try:
        display = make_display(count, len(gpu_list or [None]))
        report = Agent(folder, count=count, display=display, gpus=gpu_list).run()
    except (AgentError, CommandError) as exc:
        _fail(str(exc), 1)
    except ConfigError as exc:
        _fail(f"the sweep's config is no longer valid: {exc}", 1)
    except (LockTimeout, LockLost, JournalDamaged) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{exc.filename or ''}: {exc.strerror or exc}")
    except ValueError as exc:
        _fail(str(exc), 2)
    n = len(report.runs)
    click.echo(f"sweepcli: agent done after {n} run(s) in {time.monotonic() - started:.1f} s: "
               f"{report.reason}", err=True)
    if report.reason == "interrupted":
        sys.exit(130)


@main.command()
@click.argument("sweep_id", metavar="ID", shell_complete=_complete_sweeps)
@click.option("--out", "out_file", type=click.Path(dir_okay=False),
              help="Where to write the report (default: sweep-ID.html here).")
@click.option("--open", "open_it", is_flag=True, help="Open the report in a browser.")
@dir_option
def report(sweep_id: str, out_file: str | None, open_it: bool, root_dir: str | None) -> None:
    """Write a self-contained HTML report of sweep ID: best-so-far curve, parallel
    coordinates, the metric against each parameter, the table of runs."""
    from pathlib import Path

    from .report import html_report

    folder = _open(_store(root_dir), sweep_id)
    path = Path(out_file or f"sweep-{folder.sweep_id}.html")
    with _reported():
        summary = summarize(folder)
    try:
        path.write_text(html_report(summary), encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror or exc}")
    click.echo(str(path))
    if open_it:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


@main.command()
@click.argument("sweep_id", metavar="ID", shell_complete=_complete_sweeps)
@click.option("--width", default=60, show_default=True, help="Columns of the chart.")
@click.option("--height", default=12, show_default=True, help="Rows of the chart.")
@dir_option
def plot(sweep_id: str, width: int, height: int, root_dir: str | None) -> None:
    """A terminal chart of sweep ID: every run's value and the best so far."""
    from .report import terminal_plot

    folder = _open(_store(root_dir), sweep_id)
    with _reported():
        summary = summarize(folder)
    click.echo(terminal_plot(summary, width=max(width, 20), height=max(height, 4)))


if __name__ == "__main__":  # pragma: no cover
    main()
