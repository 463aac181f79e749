"""The ``sweepcli`` command: a thin front over the store, the agent and the status.

Exit status: 0 success; 2 bad usage, bad config or bad ID (nothing written); 3 an agent
stopped with work left (time up, preempted); 130 interrupted; 1 anything else. Errors
are messages, never tracebacks: every ``SweepcliError`` (``errors.py``, ``Stopped`` for 3
and 130) and every ``OSError`` leaves through one handler, :class:`Group`, with the
error's own exit status; anything else is a bug, and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .. import api
from ..errors import Stopped, SweepcliError, describe
from ..store import Sweep, SweepStore, open_store
from ..store.files import parse_sweep_ref
from ..store.settings import check_environment

CONTROL = {"pause": api.pause, "resume": api.resume, "stop": api.stop, "cancel": api.cancel}


class CommandFailed(click.ClickException):
    """A message for the user and exit status 1; click prints it as ``Error: ...``, never
    as a traceback."""

    exit_code = 1


class UsageFailed(CommandFailed):
    """The same with exit status 2: bad usage or input, nothing written."""

    exit_code = 2


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
        except Stopped as exc:
            if str(exc):
                click.echo(f"sweepcli: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except SweepcliError as exc:
            raise (UsageFailed if exc.exit_code == 2 else CommandFailed)(str(exc)) from None
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


STORE_URL_KEY = _STORE_URL = "sweepcli.store"  # where --store (or SWEEPCLI_STORE) is kept for _store()


def _use_store(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """``--store URL`` (or ``SWEEPCLI_STORE``): the store every command of this process
    opens (handed on explicitly, never through the environment)."""
    if value:
        from ..store.postgres import is_url

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


# the commands, one module a group; each registers itself on ``main`` (imported last, as
# they import what is above)
from . import agents, pbt, reports, sweeps, ui  # noqa: E402,F401
