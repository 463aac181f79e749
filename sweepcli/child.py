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
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

# (the names of files this helper writes in the run's folder are also in store/files.py,
# where its agent reads them from: this file imports nothing of sweepcli)
#: the file in the run's folder that says the program was sent SIGTERM (read by its agent)
SIGNALED = "signaled"
#: the file the helper writes when the program reads ``should_stop`` as true: it stops
#: because it was asked (paused, stopped), not because it reached its end
STOP_SEEN = "stop-seen"
#: the file the helper writes when the program starts it: its stop requests are seen through
#: ``should_stop`` (and ``STOP_SEEN``), so a program that never read one and ended by itself
#: had reached its end
HELPER = "helper"


_NOTED: set[str] = set()


def note_once(what: str, message: str) -> None:
    """One quiet line on stderr, once per kind, for what a W&B script asks that means
    nothing here (the program goes on)."""
    if what not in _NOTED:
        _NOTED.add(what)
        print(f"sweepcli: {message}", file=sys.stderr, flush=True)


def _as_dict(config: Any) -> dict[str, Any]:
    """What W&B takes as a config: a dict, an argparse ``Namespace``, absl's ``FLAGS``
    (``flag_values_dict()``), any object whose attributes are its values, or the name of a
    YAML file of them."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    if isinstance(config, (str, os.PathLike)):
        import yaml  # (W&B's form: config="config-defaults.yaml")

        with open(config) as f:
            loaded = yaml.safe_load(f.read(1_000_000))
        if not isinstance(loaded, dict):
            raise TypeError(f"config file {config}: not a mapping of values")
        # W&B's config-defaults form: key: {value: v}
        return {k: v["value"] if isinstance(v, dict) and set(v) <= {"value", "desc"} and "value" in v
                else v for k, v in loaded.items()}
    values = getattr(config, "flag_values_dict", None)  # absl.flags.FLAGS
    if callable(values):
        return dict(values())
    if hasattr(config, "__dict__") and not isinstance(config, type):  # argparse.Namespace
        return {k: v for k, v in vars(config).items() if not k.startswith("_")}
    raise TypeError(f"config takes a dict, an argparse Namespace or absl flags, got "
                    f"{type(config).__name__}")


def _wrap(value: Any) -> Any:
    if isinstance(value, dict) and not isinstance(value, Config):
        return Config(value)
    return value


class Config(dict):  # type: ignore[type-arg]
    """The run's parameters, as W&B's ``wandb.config``: item and attribute access (nested
    values too), a plain ``dict`` to ``json.dumps``, ``update()`` and assignment for keys
    the sweep does not set (a key the sweep sets keeps the sweep's value: noted once)."""

    def __init__(self, data: Mapping[str, Any] | None = None, sweep_keys: Any = ()):
        super().__init__({str(k): _wrap(v) for k, v in (data or {}).items()})
        object.__setattr__(self, "_sweep_keys", frozenset(sweep_keys))

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"no parameter {key!r} (have: {', '.join(self)})") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self._sweep_keys and key in self:
            if self[key] != value:
                note_once(f"config:{key}", f"config.{key} is the sweep's ({self[key]!r}); the "
                          f"program's {value!r} is ignored")
            return
        super().__setitem__(str(key), _wrap(value))

    def update(self, other: Any = (), /, allow_val_change: bool | None = None,  # type: ignore[override]
               **more: Any) -> None:
        """W&B's ``config.update(d, allow_val_change=...)``: a key the sweep sets keeps its
        value whatever ``allow_val_change`` says."""
        for k, v in {**_as_dict(other), **more}.items():
            self[k] = v

    def setdefaults(self, d: Mapping[str, Any]) -> None:
        for k, v in d.items():
            if k not in self:
                self[k] = v

    def __repr__(self) -> str:
        return f"Config({dict(self)!r})"

    def as_dict(self) -> dict[str, Any]:
        """A plain (nested) dict copy."""
        return json.loads(json.dumps(self, default=_jsonable))

    def keys_set_by_sweep(self) -> frozenset[str]:
        return self._sweep_keys  # type: ignore[no-any-return]


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _parse_scalar(text: str) -> Any:
    try:
        from .config import parse_yaml
    except ImportError:  # loaded on its own by the wandb shim in another Python
        try:
            return json.loads(text)
        except ValueError:
            return text
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


#: an array of at most this many values is kept as a list in a metric line; a larger one is
#: left out (W&B would have made a histogram of it)
MAX_ARRAY = 32


def _size(value: Any) -> int | None:
    """How many values an array or tensor holds (None: not one)."""
    size = getattr(value, "size", None)
    if callable(size):  # torch: size() is the shape; numel() the count
        numel = getattr(value, "numel", None)
        size = numel() if callable(numel) else None
    return size if isinstance(size, int) and hasattr(value, "tolist") else None


def _jsonable(value: Any) -> Any:
    size = _size(value)
    if size is not None and size != 1:
        return value.tolist()  # (small: larger ones were left out by _storable)
    try:
        return value.item()  # numpy and torch scalars
    except (AttributeError, ValueError, TypeError, RuntimeError):
        return str(value)


def _finite(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and value == value and value not in (float("inf"), float("-inf")))


def _storable(key: str, value: Any) -> bool:
    """Whether a logged value goes into the metric line; an array too large for one is left
    out with a note, once per key (the program goes on)."""
    size = _size(value)
    if size is None or size <= MAX_ARRAY:
        return True
    note_once(f"array:{key}", f"log({key!r}: an array of {size} values) is not stored (W&B would "
              f"have made a histogram of it); log numbers, or a list of at most {MAX_ARRAY}")
    return False


class Summary(dict):  # type: ignore[type-arg]
    """W&B's ``run.summary``: the last value of every key logged, and what the program
    sets itself (``summary["final_acc"] = x``, ``update()``), which wins. Kept in the run's
    folder (``summary.json``) as it is set: ``--json``, the API and the report show it."""

    def __init__(self, run: Run):
        super().__init__()
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_set", {})

    def _logged(self, record: Mapping[str, Any]) -> None:
        for k, v in record.items():
            if k not in self._set:
                super().__setitem__(k, v)

    def __setitem__(self, key: str, value: Any) -> None:
        self._set[str(key)] = value
        super().__setitem__(str(key), value)
        self._run._write_summary()

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def update(self, other: Any = (), /, **more: Any) -> None:  # type: ignore[override]
        for k, v in dict(other, **more).items():
            self._set[str(k)] = v
            super().__setitem__(str(k), v)
        self._run._write_summary()

    def explicit(self) -> dict[str, Any]:
        return dict(self._set)


class Run:
    """The current run, as seen from inside the training program."""

    def __init__(self, defaults: dict[str, Any] | None = None, name: str | None = None,
                 tags: Any = None, notes: str | None = None, **kwargs: Any):
        defaults = _as_dict(defaults)
        self.id = os.environ.get("SWEEPCLI_RUN_ID")
        #: W&B's ``run.name`` (``init(name=...)``, else the run's ID)
        self.name = name or self.id
        self.tags = tuple(tags or ())
        self.notes = notes
        self.group = kwargs.get("group")
        self.job_type = kwargs.get("job_type")
        self.project = kwargs.get("project")
        self.entity = kwargs.get("entity")
        kept = ("group", "job_type", "project", "entity")
        ignored = sorted(k for k in kwargs if kwargs[k] is not None and k not in kept)
        if ignored and os.environ.get("SWEEPCLI_RUN_ID"):
            note_once("init", f"init({', '.join(k + '=' for k in ignored)}) means nothing under a "
                      "sweepcli agent (the agent sets the run's ID, folder and resumption); "
                      "ignored")
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
        self.config = Config(_merge(defaults, values), sweep_keys=values if config_file else ())
        metrics = os.environ.get("SWEEPCLI_METRICS_FILE")
        self._fd = os.open(metrics, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if metrics else None
        self.history: list[dict[str, Any]] = []
        #: W&B's step: the index of the next metric line (``log(step=...)`` moves it on)
        self.step = 0
        self._row: dict[str, Any] = {}
        self._stepped = False
        self.summary = Summary(self)
        self._stop_requested = False
        self._stop_seen = False
        self._polled = False
        #: pbt: the program is ended right after this many metric lines of ``_metric`` (its
        #: segment's end; the checkpoint saved before the last one is what the next segment,
        #: or another member, starts from)
        self._metric = os.environ.get("SWEEPCLI_METRIC")
        try:
            self._stop_after: int | None = int(os.environ["SWEEPCLI_STOP_AFTER"])
        except (KeyError, ValueError):
            self._stop_after = None
        self._segment_lines = 0
        self._past_end = False
        #: pbt: SIGTERM came (status, lines written then): the program ends at its next line
        self._end_at_line: tuple[int, int] | None = None
        self._install_sigterm()
        if self.in_sweep and self.dir is not None:
            try:
                (self.dir / HELPER).write_text(f"{os.getpid()}\n")
            except OSError:
                pass

    @property
    def in_sweep(self) -> bool:
        return self.id is not None

    def _install_sigterm(self) -> None:
        if not self.in_sweep or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
            return  # the program handles SIGTERM itself: leave its handler alone

        main_pid = os.getpid()

        def on_sigterm(signum: int, frame: Any) -> None:
            if os.getpid() != main_pid:
                # a forked worker (multiprocessing.Pool, a DataLoader) inherited this
                # handler: Pool.terminate() is no preemption of the run. Die as by default.
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
                return
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
                if self._stop_after is not None:
                    # pbt: at its step's line, so the checkpoint it saved before that line
                    # and its lines agree (a member is copied and resumed by them)
                    self._end_at_line = (128 + signum, self._segment_lines)
                    return
                raise SystemExit(128 + signum)

        try:
            signal.signal(signal.SIGTERM, on_sigterm)
        except ValueError:
            return

        def in_forked_child() -> None:
            # a forked worker gets the default SIGTERM back: only the program's own main
            # process, signalled from outside, stops the run
            if signal.getsignal(signal.SIGTERM) is on_sigterm:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)

        os.register_at_fork(after_in_child=in_forked_child)

    @property
    def should_stop(self) -> bool:
        """True once the agent wants this run to end (hyperband, cancel, preemption).

        A program that reads this is left to stop itself (say, after saving a
        checkpoint); one that never does is ended by SIGTERM as usual.
        """
        self._polled = True
        if not self._stop_requested and self.dir is not None and (self.dir / "stop").exists():
            self._stop_requested = True
        if self._stop_requested and not self._stop_seen and self.dir is not None:
            self._stop_seen = True
            try:
                (self.dir / STOP_SEEN).write_text("1\n")
            except OSError:
                pass
        return self._stop_requested

    def log(self, data: Mapping[str, Any], step: int | None = None,
            commit: bool | None = None, sync: bool | None = None) -> None:
        """Log one step of history (one metric line, written and flushed at once), as W&B's
        ``log``: ``commit=False`` keeps adding to the same step until a call commits it;
        ``step=N`` logs at step N (a larger N first commits what is pending; values given
        with a step are committed when a later step comes, or with ``commit=True``, or at
        ``finish()``); a step below the current one is ignored, as W&B ignores it."""
        if not isinstance(data, Mapping):
            raise TypeError(f"log() takes a dict of metrics, got {type(data).__name__}")
        if step is not None:
            if not isinstance(step, int) or isinstance(step, bool):
                raise TypeError(f"log(step=...) takes an integer, got {type(step).__name__}")
            self._stepped = True
            if step < self.step:
                note_once("step", f"log(step={step}) is below the current step {self.step}: "
                          "ignored (steps must increase, as in W&B)")
                return
            if step > self.step:
                self._commit()
                self.step = step
        self._row.update({str(k): v for k, v in data.items() if _storable(str(k), v)})
        if commit is True or (commit is None and step is None):
            self._commit()
        if self._end_at_line is not None and self._segment_lines > self._end_at_line[1]:
            raise SystemExit(self._end_at_line[0])
        if self._stop_after is not None and self._segment_lines >= self._stop_after and (
                not self._polled or self._past_end):
            # the segment is over and the program goes on (it does not read should_stop, or
            # logged past its end): it ends here, status 0, its checkpoint that of the end
            raise SystemExit(0)

    def _commit(self) -> None:
        if not self._row:
            return
        record = self._row
        if self._stepped:
            record = {**record, "_step": self.step}
        self._row = {}
        counts = self._stop_after is not None and _finite(record.get(self._metric or ""))
        if counts and self._stop_after is not None and self._segment_lines >= self._stop_after:
            self._past_end = True
            return  # a step past the segment's end: not the run's (the next segment's)
        self.step += 1
        self.history.append(record)
        self.summary._logged(record)
        if self._fd is not None:
            line = json.dumps(record, default=_jsonable, allow_nan=True) + "\n"
            os.write(self._fd, line.encode())  # one write of one whole line
        if counts and self._stop_after is not None:
            self._segment_lines += 1
            if self._segment_lines >= self._stop_after:
                self._stop_requested = True  # should_stop: true from now on

    def _write_summary(self) -> None:
        if self.dir is None:
            return
        try:
            tmp = self.dir / ".summary.json.tmp"
            tmp.write_text(json.dumps(self.summary.explicit(), default=_jsonable, allow_nan=True))
            os.replace(tmp, self.dir / "summary.json")
        except OSError:
            pass  # the run goes on; its summary is shown when the folder can be written

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """End the run: what is pending is logged. ``exit_code`` (W&B's) other than 0
        ends the program with that status (the run is then ``failed``)."""
        self._commit()
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None
        if exit_code:
            raise SystemExit(exit_code)

    # W&B's methods that mean nothing here: accepted so a script or an integration runs on
    def define_metric(self, *args: Any, **kwargs: Any) -> None:
        note_once("define_metric", "define_metric: the sweep's metric is its config's; ignored")

    def watch(self, *args: Any, **kwargs: Any) -> None:
        note_once("watch", "watch (gradients, parameters) is not kept by sweepcli; ignored")

    def unwatch(self, *args: Any, **kwargs: Any) -> None:
        pass

    def save(self, *args: Any, **kwargs: Any) -> None:
        note_once("save", "save: files stay in the run's folder (SWEEPCLI_RUN_DIR); ignored")

    def alert(self, *args: Any, **kwargs: Any) -> None:
        note_once("alert", "alert: sweepcli sends no alerts; ignored")

    def log_artifact(self, *args: Any, **kwargs: Any) -> None:
        note_once("artifact", "artifacts are not kept by sweepcli; ignored")

    use_artifact = log_artifact
    log_model = log_artifact

    def log_code(self, *args: Any, **kwargs: Any) -> None:
        pass

    def _label(self, *args: Any, **kwargs: Any) -> None:
        pass  # W&B's integration telemetry (Hugging Face's callback calls it)

    def mark_preempting(self) -> None:
        pass  # the agent resumes a preempted run by itself

    @property
    def url(self) -> None:
        return None

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish()


_current: Run | None = None


def init(config: dict[str, Any] | None = None, **kwargs: Any) -> Run:
    """Start (or return) this process's run. ``config`` holds defaults; the sweep's win.
    W&B's other keywords are accepted: ``name``, ``tags``, ``notes``, ``group``,
    ``job_type`` are kept on the run; the rest (``project``, ``resume``, ``mode``, ...)
    mean nothing under an agent, which says so once."""
    global _current
    if _current is None:
        _current = Run(config, **kwargs)
        if _current.in_sweep:
            _at_exit()
    return _current


_EXIT_HOOKED = False


def _at_exit() -> None:
    """What a program logged with ``commit=False`` and never committed is written when it
    exits without ``finish()``, as W&B writes it."""
    global _EXIT_HOOKED
    if not _EXIT_HOOKED:
        import atexit

        atexit.register(finish_current)
        _EXIT_HOOKED = True


def current() -> Run:
    return _current if _current is not None else init()


def log(data: Mapping[str, Any], step: int | None = None, commit: bool | None = None,
        sync: bool | None = None) -> None:
    """``sweepcli.log({...})``: log to the current run (started on first use)."""
    current().log(data, step=step, commit=commit)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """W&B's ``finish()``: end the current run (a later ``init`` starts the same one again
    in this process, as sweepcli has one run per program)."""
    global _current
    if _current is not None:
        run, _current = _current, None
        run.finish(exit_code)


def reset() -> None:
    """Forget the current run (the in-process agent calls this before each run)."""
    global _current
    if _current is not None:
        _current.finish()
    _current = None


def finish_current() -> None:
    if _current is not None:
        _current.finish()
