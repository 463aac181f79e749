"""``sweepcli sweep`` (create, print, pause/resume/stop/cancel, update, rerun), ``create``,
``list``, ``enqueue`` and ``copy``: the commands that make, change and look at sweeps."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .. import api, jsonline
from ..agent import target_reached
from ..config import ConfigError, load_config, parse_yaml, validate
from ..config.validate import json_problems
from ..errors import SweepcliError, UsageError, describe
from ..priors import MAX_FILE
from ..store import LockLost, LockTimeout, Store, Sweep, SweepStore, SweepUnreadable
from ..store.events import Control
from ..reporting.report import fmt
from ..text import printable
from ..reporting.status import look, reap
from ..reporting.text import render_status
from . import (CONTROL, STORE_URL_KEY as _STORE_URL, CommandFailed, UsageFailed,  # noqa: F401
                _complete_sweeps, _open, _ref, _store, _use_store, dir_option, main)


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
                  help="Stop: no new runs; running runs finish; agents exit after them. "
                       "With --run RUN_ID: stop that running run only (gracefully: "
                       "stopped), the sweep goes on.")
    @click.option("--run", "run_id", metavar="RUN_ID", help="With --stop: the one run to stop.")
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
                run_id: str | None, root_dir: str | None) -> None:
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
        if run_id is not None and not stop_id:
            raise click.UsageError("--run RUN_ID is for --stop ID: sweepcli sweep --stop ID "
                                   "--run RUN_ID")
        if (priors or program) and not (config_file and not update_id):
            raise click.UsageError("--prior and --program are for creating a sweep from CONFIG")
        store = _store(root_dir)
        if config_file and not update_id:
            _create(store, config_file, name, project, priors, program)
            return
        (action, ref), = actions.items()
        sweep = _open(store, _ref(ref, project))
        if action == "print":
            _print(sweep, as_json, last, top)
        elif action == "rerun-failed":
            failed = api.rerun_failed(sweep)
            click.echo(f"{len(failed)} failed run(s) of {sweep.ref} will run again when an "
                       "agent takes them.", err=True)
        elif action == "update":
            _update(sweep, config_file)  # type: ignore[arg-type]
        elif action == "stop" and run_id is not None:
            api.stop_run(sweep, run_id)
            click.echo(f"Run {run_id} of {sweep.ref} will stop (its agent ends it gracefully).",
                       err=True)
        else:
            CONTROL[action](sweep)
            done = {"pause": "paused", "resume": "resumed", "stop": "stopped",
                    "cancel": "canceled"}
            click.echo(f"Sweep {sweep.ref} {done[action]}.", err=True)

    return command


def _create(store: SweepStore, config_file: str, name: str | None, project: str | None,
            priors: tuple[str, ...], program: str | None) -> None:
    config = load_config(config_file)
    if program is not None:
        config = validate({**config.raw, "program": program}, source=config_file)
    for warning in config.warnings:
        click.echo(f"Warning: {printable(warning)}", err=True)
    sweep, found = api.create(config, project=project, name=name, prior=priors, store=store,
                               source_dir=Path(config_file).resolve().parent)
    for note in found.notes:
        click.echo(f"Note: {printable(note)}", err=True)
    for skipped in found.skipped[:20]:
        click.echo(f"Skipped: {printable(skipped)}", err=True)
    if len(found.skipped) > 20:
        click.echo(f"Skipped: ... and {len(found.skipped) - 20} more", err=True)
    click.echo(sweep.sweep_id)
    prior_text = f" with {len(found.runs)} prior run(s)" if priors else ""
    where = store if store.url else sweep.path
    click.echo(f"Created sweep {sweep.ref} ({config.method}){prior_text} in {where}",
               err=True)
    dir_flag = f" --dir {store.root}" if str(store.root) != "sweeps" else ""
    store_flag = " --store URL" if store.url else ""
    click.echo(f"Run agents with: sweepcli agent{store_flag}{dir_flag} {sweep.ref}", err=True)


def _update(sweep: Sweep, config_file: str) -> None:
    config = load_config(config_file)
    for warning in config.warnings:
        click.echo(f"Warning: {printable(warning)}", err=True)
    revision = api.update(sweep, config.raw)
    click.echo(f"Sweep {sweep.ref}: config revision {revision} takes effect at the next "
               "claim; running runs go on.", err=True)


def _print(sweep: Sweep, as_json: bool, last: int, top: int | None = None) -> None:
    reap(sweep, say=lambda message: click.echo(f"sweepcli: {printable(message)}", err=True))
    status = look(sweep)
    shown = status.best_first(top) if top is not None else status
    if as_json:
        # indented for a person; one line for a program (json's C encoder: a 10,000-run
        # sweep prints in a tenth of the time). No importance: scripts poll this, and the
        # forest costs a second (the Python API's ApiSweep.importance() has it)
        click.echo(json.dumps(shown.as_json(), indent=2 if sys.stdout.isatty() else None))
        return
    render_status(status, shown, sweep.config, sweep.ref, last=last, top=top,
                  tty=sys.stdout.isatty(), echo=click.echo)


_sweep_command("sweep", "Create a sweep from CONFIG (prints its ID), or control one by ID.")
_sweep_command("create", "The same as 'sweep': create a sweep from CONFIG, or control one by ID.")



@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON list.")
@dir_option
def list_sweeps(as_json: bool, root_dir: str | None) -> None:
    """The sweeps of the folder (--dir, SWEEPCLI_DIR, ./sweeps) or store (--store): each
    one's state, method, counts of runs by state, best value, and the agents with a run
    going (host:pid). Read only: nothing is marked or written."""
    from ..reporting.status import overview

    store = _store(root_dir)
    rows: list[dict[str, Any]] = []
    for ref in store.list():
        try:
            rows.append(overview(store.open(ref)))
        except (SweepcliError, OSError, LockTimeout, LockLost) as exc:
            rows.append({"id": ref, "error": describe(exc)})
    if as_json:
        click.echo(json.dumps(rows, indent=2 if sys.stdout.isatty() else None))
        return
    if not rows:
        where = store if store.url else store.root
        click.echo(f"No sweeps in {where}.", err=True)
        return
    from ..reporting.report import fmt

    for row in rows:
        if "error" in row:
            click.echo(f"{row['id']:<17} cannot open: {printable(row['error'])}")
            continue
        counts_text = ", ".join(f"{n} {k}" for k, n in row["counts"].items()) or "no runs"
        best_text = f"best {row['metric']}={fmt(row['best'])}" if row["best"] is not None else ""
        agents = f"{len(row['agents'])} agent(s) running: {', '.join(row['agents'])}"\
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
    sweep = _open(store, _ref(sweep_id, project))
    done = api.enqueue(sweep, points)
    for pid, full in done:
        shown = " ".join(f"{fmt(k)}={fmt(v)}" for k, v in full.items())
        click.echo(pid)
        click.echo(f"Enqueued {pid} in {sweep.ref} (the run that takes it will be run {pid}): "
                   f"{printable(shown)}", err=True)
    state = sweep.refresh()
    if state.control == Control.STOPPED:
        click.echo(f"Note: sweep {sweep.ref} is stopped: its queue runs once it is resumed "
                   f"(sweepcli sweep --resume {sweep.ref})", err=True)
    elif state.control == Control.PAUSED:
        click.echo(f"Note: sweep {sweep.ref} is paused: its queue runs once it is resumed",
                   err=True)
    elif target_reached(sweep.config, list(state.runs.values())) is not None:
        click.echo(f"Note: sweep {sweep.ref} reached metric.target: no new run starts, "
                   "enqueued ones included", err=True)


#: values in a points file (``enqueue --file``) once its YAML aliases are expanded
MAX_POINT_VALUES = 1_000_000


def _points_file(path: str) -> list[Any]:
    try:
        if os.path.getsize(path) > MAX_FILE:
            raise UsageError(f"{path}: larger than {MAX_FILE >> 20} MiB")
        text = open(path, encoding="utf-8").read()  # noqa: SIM115 - read at once
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a UTF-8 text file") from None
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
                raise UsageError(f"{path} line {n}: not a line of JSON" if data else str(exc)) from None
        problems = json_problems(data, MAX_POINT_VALUES)
        if problems:
            raise UsageError(f"{path}: {problems[0]}") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise UsageError(f"{path}: expected a list of points (mappings of parameter names to values)")
    return data


def _in_project(path: Any) -> bool:
    """A sweep folder ROOT/PROJECT/ID (not ROOT/ID): its meta names the project."""
    from ..store.sweep_folder import read_meta

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

    from ..store.postgres import is_url, safe_url

    store = _store(root_dir)
    path = Path(sweep_id)
    if path.is_dir() and (path / "sweep.json").is_file() and not path.is_symlink():
        # a sweep's folder: its root is the folder above (or two above, in a project)
        path = path.resolve()
        top = Store(path.parent)
        ref = path.name
        if path.parent.name and not os.path.lexists(path.parent / "sweep.json") and\
                _in_project(path):
            top, ref = Store(path.parent.parent), f"{path.parent.name}/{path.name}"
        sweep = _open(top, ref)
    else:
        sweep = _open(store, sweep_id)
    where = safe_url(dest) if is_url(dest) else dest
    try:
        copied = api.copy_sweep(sweep.ref, dest, root_dir, source=sweep)
    except FileExistsError:
        raise SweepcliError(f"{where} already has a sweep {sweep.ref}") from None
    if not is_url(dest):
        where = str(copied.path)
    click.echo(copied.ref)
    click.echo(f"Copied sweep {sweep.ref} ({len(copied.refresh().runs)} run(s)) to {where}.",
               err=True)
