"""Tools that make a filesystem, a clock or a host misbehave for the fault suite.

Each fixture skips (saying why) only when its tool truly cannot run here; in CI
(``CI=true``) conftest turns such a skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60)


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (Debian package: apt-get install {tool})")
    return path


def unmount(path: Path) -> None:
    for _ in range(50):
        if _run("umount", str(path)).returncode == 0 or not os.path.ismount(path):
            return
        time.sleep(0.1)
    _run("umount", "-l", str(path))


@pytest.fixture
def two_mounts(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """One folder seen through two bindfs (FUSE) mounts: as two hosts see an NFS export
    whose locks do not cross hosts, a flock taken through one does not block the other.

    ``SWEEPCLI_TEST_MOUNTS=A:B`` runs the same tests on a filesystem of your own: A and B
    are one folder seen through two mounts of it.
    """
    given = os.environ.get("SWEEPCLI_TEST_MOUNTS")
    if given:
        a, b = (Path(p) for p in given.split(":", 1))
        yield a, b
        return
    need("bindfs")
    src, a, b = tmp_path / "disk", tmp_path / "host-a", tmp_path / "host-b"
    for p in (src, a, b):
        p.mkdir()
    for m in (a, b):
        proc = _run("bindfs", "--no-allow-other", str(src), str(m))
        if proc.returncode != 0:
            pytest.skip(f"bindfs cannot mount here (needs /dev/fuse and root): {proc.stderr.strip()}")
    try:
        yield a, b
    finally:
        unmount(a)
        unmount(b)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a disk that a test can fill for a few seconds."""
    path = tmp_path / "small"
    path.mkdir()
    proc = _run("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path))
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        yield path
    finally:
        unmount(path)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; returns the filler, whose removal frees it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (1 << 16, 512, 1):  # big blocks, then the last partial ones
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def faketime_prefix(offset: str) -> list[str]:
    """Run a command with its clock ``offset`` away (libfaketime: time(), not the file server's)."""
    need("faketime")
    return ["faketime", "-f", offset]


def other_host_prefix(name: str) -> list[str]:
    """Run a command under another host name (a UTS namespace of its own), same PIDs and disk."""
    need("unshare")
    probe = _run("unshare", "-u", "true")
    if probe.returncode != 0:
        pytest.skip(f"unshare -u cannot run here (needs root): {probe.stderr.strip()}")
    return ["unshare", "-u", "sh", "-c", f'hostname {name} && exec "$@"', "sh"]
