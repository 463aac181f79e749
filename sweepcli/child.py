"""The helper a training program imports: ``sweepcli.init``, ``run.config``, ``run.log``.

Under an agent it reads the run's parameters from ``SWEEPCLI_CONFIG_FILE`` and appends
metric lines to ``SWEEPCLI_METRICS_FILE``; by hand, the same script runs on its defaults
and on ``--key=value`` arguments (``--model.lr=0.1`` for nested keys).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

#: the file in the run's folder that says the program was sent SIGTERM (read by its agent)
SIGNALED = "signaled"


class Config(Mapping[str, Any]):
    """Read-only parameters with attribute, item and nested access."""

    def __init__(self, data: dict[str, Any]):
        object.__setattr__(self, "_data", data)

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        return Config(value) if isinstance(value, dict) else value

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"no parameter {key!r} (have: {', '.join(self._data)})") from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("the sweep's parameters are read-only")

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Config({self._data!r})"

    def as_dict(self) -> dict[str, Any]:
        """A plain (nested) dict copy."""
        return json.loads(json.dumps(self._data))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _parse_scalar(text: str) -> Any:
    from .config import parse_yaml

    try:
        value = parse_yaml(f"v: {text}")["v"]
    except Exception:
        return text
    return text if isinstance(value, (dict, list)) and not text.startswith(("[", "{")) else value


def _cli_overrides(argv: list[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """``--key=value`` arguments as a nested dict; dotted keys nest where defaults do."""
    out: dict[str, Any] = {}
    for arg in argv:
        if not arg.startswith("--") or "=" not in arg:
            continue
        key, _, text = arg[2:].partition("=")
        value = _parse_scalar(text)
        if key in defaults or "." not in key:
            out[key] = value
            continue
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _jsonable(value: Any) -> Any:
    try:
        return value.item()  # numpy and torch scalars
    except AttributeError:
        return str(value)


class Run:
    """The current run, as seen from inside the training program."""

    def __init__(self, defaults: dict[str, Any] | None = None):
        defaults = dict(defaults or {})
        self.id = os.environ.get("SWEEPCLI_RUN_ID")
        self.sweep_id = os.environ.get("SWEEPCLI_SWEEP_ID")
        self.dir = Path(os.environ["SWEEPCLI_RUN_DIR"]) if "SWEEPCLI_RUN_DIR" in os.environ else None
        try:
            #: 1 for a run's first attempt; 2, 3, ... when it was resumed after a crash or a
            #: preemption, in the same folder (``dir``): load the checkpoint you left there
            self.attempt = max(1, int(os.environ.get("SWEEPCLI_ATTEMPT", "1")))
        except ValueError:
            self.attempt = 1
        #: True on a later attempt of the same run (``SWEEPCLI_RESUME=1``)
        self.resumed = os.environ.get("SWEEPCLI_RESUME") == "1"
        config_file = os.environ.get("SWEEPCLI_CONFIG_FILE")
        if config_file:
            with open(config_file) as f:
                values = json.load(f)
        else:
            values = _cli_overrides(sys.argv[1:], defaults)
        self.config = Config(_merge(defaults, values))
        metrics = os.environ.get("SWEEPCLI_METRICS_FILE")
        self._fd = os.open(metrics, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if metrics else None
        self.history: list[dict[str, Any]] = []
        self._stop_requested = False
        self._polled = False
        self._install_sigterm()

    @property
    def in_sweep(self) -> bool:
        return self.id is not None

    def _install_sigterm(self) -> None:
        if not self.in_sweep or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
            return  # the program handles SIGTERM itself: leave its handler alone

        def on_sigterm(signum: int, frame: Any) -> None:
            self._stop_requested = True
            if self.dir is not None:
                # for the agent: a run that stops because of a signal (a batch system's,
                # sent to the whole job before the agent hears of it) did not reach its
                # end, whatever status the program exits with
                try:
                    (self.dir / SIGNALED).write_text(f"{signum}\n")
                except OSError:
                    pass
            if not self._polled:  # the program does not check should_stop: end it now
                raise SystemExit(128 + signum)

        try:
            signal.signal(signal.SIGTERM, on_sigterm)
        except ValueError:
            pass

    @property
    def should_stop(self) -> bool:
        """True once the agent wants this run to end (hyperband, cancel, preemption).

        A program that reads this is left to stop itself (say, after saving a
        checkpoint); one that never does is ended by SIGTERM as usual.
        """
        self._polled = True
        if not self._stop_requested and self.dir is not None and (self.dir / "stop").exists():
            self._stop_requested = True
        return self._stop_requested

    def log(self, data: Mapping[str, Any]) -> None:
        """Append one step of history (one metric line); written and flushed at once."""
        if not isinstance(data, Mapping):
            raise TypeError(f"log() takes a dict of metrics, got {type(data).__name__}")
        record = {str(k): v for k, v in data.items()}
        self.history.append(record)
        if self._fd is not None:
            line = json.dumps(record, default=_jsonable, allow_nan=True) + "\n"
            os.write(self._fd, line.encode())  # one write of one whole line

    @property
    def summary(self) -> dict[str, Any]:
        """The last value of every key logged."""
        out: dict[str, Any] = {}
        for rec in self.history:
            out.update(rec)
        return out

    def finish(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish()


_current: Run | None = None


def init(config: dict[str, Any] | None = None) -> Run:
    """Start (or return) this process's run. ``config`` holds defaults; the sweep's win."""
    global _current
    if _current is None:
        _current = Run(config)
    return _current


def current() -> Run:
    return _current if _current is not None else init()


def log(data: Mapping[str, Any]) -> None:
    """``sweepcli.log({...})``: log to the current run (started on first use)."""
    current().log(data)


def reset() -> None:
    """Forget the current run (the in-process agent calls this before each run)."""
    global _current
    if _current is not None:
        _current.finish()
    _current = None


def finish_current() -> None:
    if _current is not None:
        _current.finish()


class RunConfigModule(types.ModuleType):
    """The class given to the ``sweepcli.config`` module (see ``sweepcli/__init__.py``).

    That module is the config layer *and*, inside a training program, the current run's
    parameters (the contract's ``sweepcli.config.lr``): names the module does not define,
    and item access, are looked up in the run's config.
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(current().config, name)

    def __getitem__(self, key: str) -> Any:
        return current().config[key]

    def __contains__(self, key: str) -> bool:
        return key in current().config
