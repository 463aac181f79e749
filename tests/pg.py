"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary folder, a random
port on 127.0.0.1, removed at the end. Started as the ``postgres`` user when the tests
run as root (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bindir() -> Path | None:
    for name in ("pg_ctl", "initdb"):
        found = shutil.which(name)
        if found:
            return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
        self.bindir = bindir
        self.tmp = Path(tempfile.mkdtemp(prefix="sweepcli-pg-"))
        self.data = self.tmp / "data"
        self.port = _free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam(self.user)
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "sweepcli", "--no-sync",
                  "-E", "UTF8")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.tmp / "log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.tmp} -c listen_addresses=127.0.0.1 "
                        "-c max_connections=400 -c fsync=off -c synchronous_commit=off "
                        "-c full_page_writes=off", "start")
        self.url = f"postgresql://sweepcli@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bindir / tool), *args]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=self.tmp, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{tool} failed: {proc.stdout}\n{proc.stderr}")

    def new_database(self, name: str) -> str:
        """A fresh database of the cluster: one per test, so tests never see each other."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # a name of ours, never a user's
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def restart(self) -> None:
        """Stop the server (every connection dropped) and start it again."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.tmp / "log"), "-m", "fast",
                  "-w", "restart",
                  "-o", f"-p {self.port} -k {self.tmp} -c listen_addresses=127.0.0.1 "
                        "-c max_connections=400 -c fsync=off -c synchronous_commit=off "
                        "-c full_page_writes=off")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
