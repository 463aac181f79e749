"""``import wandb`` under a sweepcli agent (``sweepcli agent --wandb shim``, the default):
sweepcli's helper with W&B's names, so a W&B training script runs unchanged. The agent
puts this folder's parent first on the program's ``PYTHONPATH``; nothing here talks to
W&B's servers. What W&B offers and a sweep has no use for is accepted and said once."""

from __future__ import annotations

from typing import Any

from typing import TYPE_CHECKING

from . import sdk as sdk
from . import wandb_run as wandb_run
from ._helper import child as _child

if TYPE_CHECKING:
    from sweepcli.child import Config, Run, note_once
else:
    Config, Run, note_once = _child.Config, _child.Run, _child.note_once

__version__ = "0.19.0"  # what integrations check; the names below are sweepcli's

init = _child.init
log = _child.log
finish = _child.finish


def _current() -> Run | None:
    return _child._current


def __getattr__(name: str) -> Any:
    # W&B's module-level views of the current run (None before init(), as in W&B)
    if name == "run":
        return _current()
    if name == "config":
        run = _current()
        return run.config if run is not None else Config()
    if name == "summary":
        run = _current()
        return run.summary if run is not None else {}
    raise AttributeError(f"module 'wandb' (sweepcli's shim) has no attribute {name!r}")


def _noop(what: str) -> Any:
    def call(*args: Any, **kwargs: Any) -> None:
        note_once(what, f"wandb.{what} means nothing under sweepcli; ignored")
    return call


def define_metric(*args: Any, **kwargs: Any) -> None:
    run = _current()
    if run is not None:
        run.define_metric(*args, **kwargs)


def watch(*args: Any, **kwargs: Any) -> None:
    note_once("watch", "watch (gradients, parameters) is not kept by sweepcli; ignored")


unwatch = _noop("unwatch")
save = _noop("save")
alert = _noop("alert")
log_artifact = _noop("log_artifact")
use_artifact = _noop("use_artifact")
log_model = _noop("log_model")
mark_preempting = _noop("mark_preempting")


def require(*args: Any, **kwargs: Any) -> None:
    return None  # W&B's feature flags ("service", ...): nothing to turn on here


class Api:
    """W&B's public API reads W&B's server, which a sweepcli run never talks to."""

    def __init__(self, *args: Any, **kwargs: Any):
        raise Error("wandb.Api() reads W&B's server; under a sweepcli agent the runs are "
                    "sweepcli's: use sweepcli.Api() (or run the agent with --wandb offline)")


def login(*args: Any, **kwargs: Any) -> bool:
    return True


def setup(*args: Any, **kwargs: Any) -> None:
    return None


def teardown(*args: Any, **kwargs: Any) -> None:
    return None


class _Media:
    """W&B's media and table types: kept as nothing (a metric line holds numbers)."""

    def __init__(self, *args: Any, **kwargs: Any):
        note_once(type(self).__name__, f"wandb.{type(self).__name__} is not kept by sweepcli; "
                  "logged as its name")

    def __repr__(self) -> str:
        return type(self).__name__


class Table(_Media):
    def add_data(self, *args: Any) -> None:
        pass


class Image(_Media):
    pass


class Histogram(_Media):
    pass


class Audio(_Media):
    pass


class Video(_Media):
    pass


class Html(_Media):
    pass


class Object3D(_Media):
    pass


class Artifact(_Media):
    def add_file(self, *args: Any, **kwargs: Any) -> None:
        pass

    def add_dir(self, *args: Any, **kwargs: Any) -> None:
        pass


class Settings:
    def __init__(self, *args: Any, **kwargs: Any):
        self.__dict__.update(kwargs)


class Error(Exception):
    pass


def termlog(message: str = "", *args: Any, **kwargs: Any) -> None:
    import sys

    print(f"wandb: {message}", file=sys.stderr)


termwarn = termerror = termlog
