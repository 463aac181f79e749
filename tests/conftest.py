"""Helpers for tests that run the real CLI and real agents as subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from .faults import small_tmpfs, two_mounts  # noqa: F401 - fixtures of the fault suite

CLI = [sys.executable, "-m", "sweepcli"]


class Env:
    """A sweep root in tmp_path and ways to drive the CLI against it."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.root = tmp_path / "sweeps"
        self.env = {**os.environ, "SWEEPCLI_DIR": str(self.root), "PYTHONUNBUFFERED": "1"}
        self.env.pop("SWEEPCLI_HEARTBEAT_TIMEOUT", None)

    def program(self, body: str, name: str = "train.py") -> Path:
        path = self.tmp / name
        path.write_text(textwrap.dedent(body))
        return path

    def cli(self, *args: str, check: bool = True, timeout: float = 120, **kw: Any
            ) -> subprocess.CompletedProcess:
        env = {**self.env, **kw.pop("env", {})}
        proc = subprocess.run([*CLI, *args], cwd=kw.pop("cwd", self.tmp), env=env, capture_output=True,
                              text=True, timeout=timeout, **kw)
        if check and proc.returncode != 0:
            raise AssertionError(f"sweepcli {args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def create(self, config: dict, *args: str) -> str:
        """``sweepcli sweep sweep.yaml ARGS`` (in this process: see :meth:`inprocess`)."""
        f = self.tmp / "sweep.yaml"
        f.write_text(yaml.safe_dump(config))
        return self.inprocess("sweep", str(f), *args).strip()

    def inprocess(self, *args: str, env: dict | None = None) -> str:
        """The CLI run in this process by click's CliRunner (the same command and store
        code, with this sweep root's environment): its stdout. Tests look often, and a
        Python started for each look was most of the suite's CPU time. Agents, signals and
        anything whose process matters stay real subprocesses (:meth:`cli`, :meth:`agent`)."""
        from click.testing import CliRunner

        from sweepcli.cli import main

        environ = {**self.env, "SWEEPCLI_HEARTBEAT_TIMEOUT": self.env.get("SWEEPCLI_HEARTBEAT_TIMEOUT"),
                   **(env or {})}
        cwd = os.getcwd()
        os.chdir(self.tmp)
        try:
            result = CliRunner().invoke(main, list(args), env=environ, catch_exceptions=False)
        finally:
            os.chdir(cwd)
        if result.exit_code != 0:
            raise AssertionError(f"sweepcli {args} -> {result.exit_code}\n{result.stdout}\n"
                                 f"{result.stderr}")
        return result.stdout

    def agent(self, sweep_id: str, *args: str, env: dict | None = None,
              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) -> subprocess.Popen:
        return subprocess.Popen([*CLI, "agent", sweep_id, *args], cwd=self.tmp,
                                env={**self.env, **(env or {})}, stdout=stdout,
                                stderr=stderr, text=True, start_new_session=True)

    def watched_agent(self, sweep_id: str, *args: str, env: dict | None = None) -> Watched:
        """An agent whose stderr is collected as it comes, to wait on what it says."""
        return Watched(self.agent(sweep_id, *args, env=env))

    def on_terminal(self, *args: str, timeout: float = 60) -> tuple[int, str]:
        """Run the CLI with a pseudo-terminal as stdout and stderr: (exit status, what it drew)."""
        import pty

        master, slave = pty.openpty()
        proc = subprocess.Popen([*CLI, *args], cwd=self.tmp, env={**self.env, "COLUMNS": "120"},
                                stdout=slave, stderr=slave, stdin=subprocess.DEVNULL)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        return proc.wait(timeout=timeout), out.decode(errors="replace")

    def status(self, sweep_id: str) -> dict:
        """``sweepcli sweep --print ID --json`` (in this process: see :meth:`inprocess`)."""
        return json.loads(self.inprocess("sweep", "--print", sweep_id, "--json"))

    def wait_for(self, predicate, timeout: float = 30, poll: float = 0.1) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(poll)
        raise AssertionError("timed out waiting")


class Watched:
    """A process whose stderr a thread collects, so a test can wait for a line instead of
    sleeping and hoping the process got there."""

    def __init__(self, proc: subprocess.Popen):
        import threading

        self.proc = proc
        self.pid = proc.pid
        self._text = ""
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            with self._changed:
                self._text += line
                self._changed.notify_all()

    def wait_for_text(self, text: str, timeout: float = 60) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: text in self._text, timeout):
                raise AssertionError(f"never said {text!r}; said:\n{self._text}")

    def text(self) -> str:
        """All it said (waits up to 30 s for it to end)."""
        self._thread.join(timeout=30)
        return self._text

    def so_far(self) -> str:
        """What it has said until now (it goes on)."""
        with self._changed:
            return self._text

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout=timeout)

    def poll(self) -> int | None:
        return self.proc.poll()


_SKIPPED: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ci_may_skip: a skip of this test does not fail CI "
                            "(it depends on where CI checks the project out)")
    config.addinivalue_line("markers", "both_stores: run on the folder store and on PostgreSQL")
    config.addinivalue_line("markers", "e2e: starts processes, servers, mounts or a browser "
                            "(the fast tier is pytest -m 'not e2e')")


#: what makes a test end to end: the fixtures that start real processes, servers or mounts
_E2E_FIXTURES = frozenset({"env", "pg_url", "pg_cluster", "two_mounts", "small_tmpfs"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _E2E_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _the_fast_tier_starts_no_process(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test not marked e2e that starts a process fails, saying so: the fast tier
    (``pytest -m 'not e2e'``) starts no process, server or mount."""
    if request.node.get_closest_marker("e2e"):
        yield
        return
    original = subprocess.Popen.__init__

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"{request.node.nodeid} starts a process: mark it e2e "
                           "(pytest.mark.e2e), or keep it in the fast tier without one")

    subprocess.Popen.__init__ = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        subprocess.Popen.__init__ = original  # type: ignore[method-assign]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "ci_may_skip" not in report.keywords:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPPED.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (CI=true) every test must run: .ci/run installs what each needs, so a skip
    means a missing install or a broken tool, and fails the run instead of hiding it."""
    if os.environ.get("CI", "").lower() == "true" and _SKIPPED and exitstatus == 0:
        print("\nCI: these tests were skipped, and every test must run in CI:", file=sys.stderr)
        for line in _SKIPPED:
            print(f"  {line}", file=sys.stderr)
        session.exitstatus = 1


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``both_stores`` runs twice: on the folder store and on PostgreSQL
    (through ``SWEEPCLI_STORE`` in every command's environment, as a user would)."""
    if metafunc.definition.get_closest_marker("both_stores") and "env" in metafunc.fixturenames:
        metafunc.parametrize("store_kind", ["folder", "postgres"])


@pytest.fixture
def store_kind() -> str:
    return "folder"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """A throwaway PostgreSQL cluster for the whole session (one database per test)."""
    from .pg import Cluster

    cluster = Cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Any) -> str:
    """A fresh database of the session's cluster."""
    return pg_cluster.new_database(f"t{os.getpid()}_{time.monotonic_ns()}")


@pytest.fixture
def env(tmp_path: Path, store_kind: str, request: pytest.FixtureRequest) -> Env:
    e = Env(tmp_path)
    if store_kind == "postgres":
        e.env["SWEEPCLI_STORE"] = request.getfixturevalue("pg_url")
    return e


#: a training program driven by its parameters: sleep, fail, epochs, a log of its argv
PROGRAM = """
import json, os, sys, time
cfg = json.load(open(os.environ["SWEEPCLI_CONFIG_FILE"]))
with open(os.path.join(os.environ["SWEEPCLI_RUN_DIR"], "argv.json"), "w") as f:
    json.dump(sys.argv[1:], f)
out = open(os.environ["SWEEPCLI_METRICS_FILE"], "a")
for epoch in range(int(cfg.get("epochs", 1))):
    time.sleep(float(cfg.get("sleep", 0)))
    out.write(json.dumps({"loss": float(cfg.get("x", 1)) / (epoch + 1), "epoch": epoch}) + "\\n")
    out.flush()
sys.exit(int(cfg.get("fail", 0)))
"""
