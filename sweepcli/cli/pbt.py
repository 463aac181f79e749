"""``sweepcli pbt``: what a Population Based Training sweep leaves a person to do after it."""

from __future__ import annotations

import os

import click

from ..errors import UsageError
from . import _complete_sweeps, _open, _store, dir_option, main


@main.group()
def pbt() -> None:
    """Population Based Training (method: pbt): replay a member's schedule."""


@pbt.command()
@click.argument("sweep_id", metavar="ID", shell_complete=_complete_sweeps)
@click.option("--run", "run_id", metavar="RUN_ID",
              help="The member whose schedule to replay (default: the best one).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the sweep config here (default: print it).")
@dir_option
def replay(sweep_id: str, run_id: str | None, output: str | None, root_dir: str | None) -> None:
    """Write a sweep config that trains the best member's lineage again, alone: its fixed
    parameters as they were, the mutable ones changed at the steps they changed along
    the way (a pbt.schedule, no exploit). Create it with `sweepcli sweep FILE` and run one
    agent to retrain that model by itself."""
    import yaml

    from ..reporting.status import best_run, reap
    from ..search.pbt import replay_config
    from ..store.files import check_id, write_atomic

    sweep = _open(_store(root_dir), sweep_id)
    reap(sweep)
    if sweep.config.pbt is None:
        raise UsageError(f"sweep {sweep.ref} is a {sweep.config.method} sweep: only a pbt "
                         "sweep has schedules to replay")
    runs = list(sweep.state.runs.values())
    if run_id is not None:
        run = sweep.state.runs.get(check_id(run_id, "run ID"))
        if run is None:
            raise UsageError(f"sweep {sweep.ref} has no run {run_id}")
    else:
        run = best_run(sweep)
        if run is None:
            raise UsageError(f"sweep {sweep.ref} has no member with a value yet")
    raw = replay_config(sweep.config, runs, run)
    program, source = raw.get("program"), sweep.meta.get("source_dir")
    if isinstance(program, str) and isinstance(source, str) and not os.path.isabs(program)\
            and os.path.isfile(os.path.join(source, program)):
        raw["program"] = os.path.join(source, program)  # found wherever the file is written
    text = (f"# sweepcli pbt replay {sweep.ref} --run {run.run_id}\n"
            + yaml.safe_dump(raw, sort_keys=False))
    if output is None:
        click.echo(text, nl=False)
    else:
        from pathlib import Path

        write_atomic(Path(output), text)
        click.echo(output)
