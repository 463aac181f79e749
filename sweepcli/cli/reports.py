"""``sweepcli report`` and ``sweepcli plot``: what a person is shown of a sweep."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from ..store import LockTimeout, Sweep
from ..text import printable
from ..reporting.status import look, reap
from . import (CONTROL, STORE_URL_KEY as _STORE_URL, CommandFailed, UsageFailed,  # noqa: F401
                _complete_sweeps, _open, _ref, _store, _use_store, dir_option, main)


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

    from ..reporting import dashboard

    sweep = _open(_store(root_dir), sweep_id)
    path = Path(out_file or f"sweep-{sweep.sweep_id}.html")
    if not static and not dashboard.available():
        click.echo("sweepcli: the interactive report needs plotly: pip install "
                   "'sweepcli[report]'. Writing the static page.", err=True)
        static = True
    last: list[str | None] = [None]

    state = _write_report(sweep, path, static, watch, last)
    click.echo(str(path))
    if open_it:
        _open_in_browser(path.resolve())
    if watch is None:
        return
    click.echo(f"Watching sweep {sweep.ref}: {path} is rewritten every {watch:g} s while "
               "it runs (Ctrl-C stops).", err=True)
    try:
        while state in ("running", "paused"):
            time.sleep(watch)
            try:
                state = _write_report(sweep, path, static, watch, last)
            except (OSError, LockTimeout) as exc:  # a busy or flaky disk: the next round
                click.echo("sweepcli: report not rewritten this time: "
                           f"{printable(str(exc))}", err=True)
        _write_report(sweep, path, static, None, last)  # the last page: no longer live
        click.echo(f"Sweep {sweep.ref} is {state}: {path} is final.", err=True)
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


def _log_axes(sweep: Sweep, summary: dict[str, Any]) -> dict[str, bool]:
    """Which parameters the report draws on a log scale (only log-distributed ones, and
    lists of values that span decades)."""
    from ..config.space import flat_names
    from ..reporting.insight import is_log

    params = {p.name: p for p in sweep.config.space.params}
    values: dict[str, list[Any]] = {}
    for run in summary["runs"]:
        for k, v in flat_names(run["config"]).items():
            values.setdefault(k, []).append(v)
    return {k: is_log(params.get(k), vs) for k, vs in values.items()}


def _write_report(sweep: Sweep, path: Any, static: bool, watch: float | None,
                  last: list[str | None]) -> str:
    """Write the report (and, when watched, its stamp) unless nothing it shows changed;
    the sweep's state."""
    from urllib.parse import quote

    from ..reporting import dashboard
    from ..reporting.report import html_report
    from ..store.files import write_atomic

    stamp_path = path.with_name(path.name + ".stamp.js")
    if static:
        reap(sweep)
        summary = look(sweep).as_json()
        stamp = dashboard.data_stamp(summary) + ("w" if watch else "")
        if stamp != last[0]:
            write_atomic(path, html_report(summary, refresh=watch, logs=_log_axes(sweep, summary)),
                         durable=False)
        last[0] = stamp
        return summary["state"]
    data = dashboard.report_data(sweep)
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
    from ..reporting.report import terminal_plot

    sweep = _open(_store(root_dir), sweep_id)
    reap(sweep)
    summary = look(sweep).as_json()
    click.echo(terminal_plot(summary, width=max(width, 20), height=max(height, 4), full=full))


if __name__ == "__main__":  # pragma: no cover
    main()
