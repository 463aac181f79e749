"""Helpers for tests that run the real CLI and real agents as subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
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
        proc = subprocess.run([*CLI, *args], cwd=self.tmp, env=env, capture_output=True,
                              text=True, timeout=timeout, **kw)
        if check and proc.returncode != 0:
            raise AssertionError(f"sweepcli {args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def create(self, config: dict, *args: str) -> str:
        f = self.tmp / "sweep.yaml"
        f.write_text(yaml.safe_dump(config))
        return self.cli("sweep", str(f), *args).stdout.strip()

    def agent(self, sweep_id: str, *args: str, env: dict | None = None,
              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) -> subprocess.Popen:
        return subprocess.Popen([*CLI, "agent", sweep_id, *args], cwd=self.tmp,
                                env={**self.env, **(env or {})}, stdout=stdout,
                                stderr=stderr, text=True, start_new_session=True)

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
        return json.loads(self.cli("sweep", "--print", sweep_id, "--json").stdout)

    def wait_for(self, predicate, timeout: float = 30, poll: float = 0.1) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(poll)
        raise AssertionError("timed out waiting")


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


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
