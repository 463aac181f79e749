"""What an agent shows: a live line per slot on a terminal, plain greppable lines otherwise."""

from __future__ import annotations

import codecs
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from ..text import printable


@dataclass
class _Slot:
    run_id: str = ""
    params: str = ""
    metric: str = ""
    started: float = 0.0
    gpu: str | None = None


def _short(params: dict[str, Any], limit: int = 60) -> str:
    text = printable(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in params.items()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Display:
    """Plain lines (``sweepcli: ...`` on stderr); the live version draws with rich."""

    live = False

    def __init__(self, count: int | None = None):
        self.count = count
        self.done = 0

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def say(self, message: str) -> None:
        print(f"sweepcli: {printable(message)}", file=sys.stderr, flush=True)

    def run_started(self, slot: int, run_id: str, params: dict[str, Any], attempt: int,
                    gpu: str | None) -> None:
        again = f" (attempt {attempt}: resumed in its folder)" if attempt > 1 else ""
        on_gpu = f" on GPU {gpu}" if gpu is not None else ""
        self.say(f"run {run_id} started{again}{on_gpu}: {_short(params, 400)}")

    def metric(self, slot: int, name: str, value: float) -> None:
        pass

    def run_ended(self, slot: int, run_id: str, state: str, metric: str | None,
                  value: float | None) -> None:
        self.done += 1
        shown = f", {metric}={value:g}" if metric and value is not None else ""
        of = f" [{self.done}/{self.count}]" if self.count else ""
        self.say(f"run {run_id} {state}{shown}{of}")

    def echo(self, stream: int) -> Any:
        """Where a program's output goes besides its log (a binary file-like)."""
        return sys.stdout.buffer if stream == 1 else sys.stderr.buffer


class _ConsoleWriter:
    """A file-like that prints a program's output above the live display."""

    def __init__(self, console: Any, lock: threading.Lock):
        self.console = console
        self.lock = lock
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, data: bytes) -> None:
        text = self.decoder.decode(data)
        if text:
            with self.lock:
                self.console.print(text, end="", markup=False, highlight=False, soft_wrap=True)

    def flush(self) -> None:
        pass


class LiveDisplay(Display):
    """A rich live table: one line per slot (run, parameters, last metric, elapsed) and,
    with ``--count``, a progress bar."""

    live = True

    def __init__(self, count: int | None = None, slots: int = 1):
        super().__init__(count)
        from rich.console import Console

        self.console = Console(stderr=True)
        self.slots = [_Slot() for _ in range(slots)]
        self._lock = threading.Lock()
        self._live: Any = None

    def _render(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        for s in self.slots:
            label = Text("GPU " + printable(s.gpu) if s.gpu is not None else "agent", "bold")
            if s.run_id:
                elapsed = f"{time.monotonic() - s.started:5.0f} s"
                table.add_row(label, Text(s.run_id, "cyan"), Text(s.params), Text(s.metric or "-"),
                              elapsed)
            else:
                table.add_row(label, Text("waiting", "dim"), "", "", "")
        if self.count:
            bar = Table.grid(padding=(0, 2))
            bar.add_row(ProgressBar(total=self.count, completed=self.done, width=40),
                        f"{self.done}/{self.count} runs")
            outer = Table.grid()
            outer.add_row(table)
            outer.add_row(bar)
            return outer
        table.add_row("", Text(f"{self.done} run(s) done", "dim"), "", "", "")
        return table

    def start(self) -> None:
        from rich.live import Live

        self._live = Live(self._render(), console=self.console, refresh_per_second=4,
                          transient=True, get_renderable=self._render)
        self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def say(self, message: str) -> None:
        with self._lock:
            self.console.print(Text.assemble(("sweepcli: ", "dim"), printable(message)),
                               highlight=False)

    def run_started(self, slot: int, run_id: str, params: dict[str, Any], attempt: int,
                    gpu: str | None) -> None:
        s = self.slots[slot]
        s.run_id, s.params, s.metric, s.started, s.gpu = run_id, _short(params), "", time.monotonic(), gpu
        super().run_started(slot, run_id, params, attempt, gpu)

    def metric(self, slot: int, name: str, value: float) -> None:
        self.slots[slot].metric = printable(f"{name}={value:.5g}")

    def run_ended(self, slot: int, run_id: str, state: str, metric: str | None,
                  value: float | None) -> None:
        super().run_ended(slot, run_id, state, metric, value)
        self.slots[slot].run_id = ""

    def echo(self, stream: int) -> Any:
        return _ConsoleWriter(self.console, self._lock)


def make_display(count: int | None, slots: int, live: bool | None = None) -> Display:
    """Live on a terminal, plain otherwise (``live`` forces either)."""
    if live is None:
        live = sys.stderr.isatty()
    return LiveDisplay(count, slots) if live else Display(count)
