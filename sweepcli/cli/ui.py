"""``sweepcli ui``: a live local web page of every sweep in the folder or store."""

from __future__ import annotations

import click

from ..errors import UsageError
from . import _store, dir_option, main


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on. Anything but this host alone (127.0.0.1, ::1, "
                   "localhost) needs the token printed at start.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="The port (0: any free one, printed).")
@click.option("--allow-control", is_flag=True,
              help="Let the page pause, resume, stop and cancel sweeps (with the token, "
                   "which the page carries).")
@dir_option
def ui(host: str, port: int, allow_control: bool, root_dir: str | None) -> None:
    """Serve a live web page of every sweep of the folder (--dir) or store (--store): a home
    page of the sweeps, a page per sweep (charts of any logged key, the sweep's views,
    the runs table, compare, control) and per run, updated as agents log. Nothing is sent
    anywhere: the page loads nothing from the network. Ctrl-C stops it."""
    try:
        from ..ui.server import serve
    except ImportError as exc:
        raise UsageError(f"sweepcli ui needs its extra: pip install 'sweepcli[ui]' ({exc})") from None
    store = _store(root_dir)
    serve(store, host, port, allow_control, say=lambda text: click.echo(text, err=True))
