"""pbt's files: a member's checkpoint kept at the end of a segment for others to copy, the
copy a member that exploits starts its next segment from, and the kept copies no one can
want any more, removed.

A run folder holds the agent's files (``OWN``) and the program's (everything else: its
checkpoint). A kept copy is the program's files of a member at a step, in
``pbt/RUN_ID/STEP/`` of the sweep's folder: built beside it and renamed into place, so it
exists whole or not at all. A member that exploits gets a fresh folder's worth of the
donor's files: its own program files are removed, the copy's put in their place, and a mark
(``.pbt-segment-N``) says it is done, so an attempt that dies half-way through is redone
by the next one, never applied twice.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..runs import Run
from ..search import pbt
from ..store import Sweep
from ..store.files import HELPER, KEPT_END, SIGNALED, STOP_SEEN, check_id
from .command import WANDB_PARAMS

#: the agent's and the helper's files in a run folder: not the program's checkpoint
OWN = frozenset({"config.json", "metrics.jsonl", "output.log", "heartbeat", "pid", "stop",
                 SIGNALED, STOP_SEEN, HELPER, KEPT_END, "summary.json", ".summary.json.tmp",
                 WANDB_PARAMS, "wandb"})
MARK = ".pbt-segment-"


class DonorGone(RuntimeError):
    """The kept copy a member was to start from is not there (removed by hand)."""


def program_files(run_dir: Path) -> list[str]:
    return sorted(n for n in os.listdir(run_dir) if n not in OWN and not n.startswith(MARK))


def kept_dir(sweep: Sweep, run_id: str, step: int) -> Path:
    return sweep.path / "pbt" / check_id(run_id, "run ID") / str(int(step))


def _copy_entries(src: Path, names: list[str], dst: Path) -> None:
    for name in names:
        s, d = src / name, dst / name
        if s.is_symlink():
            os.symlink(os.readlink(s), d)  # a link the program made stays a link: never followed
        elif s.is_dir():
            shutil.copytree(s, d, symlinks=True)
        else:
            shutil.copy2(s, d, follow_symlinks=False)


def keep(sweep: Sweep, run_id: str, run_dir: Path, step: int) -> None:
    """Keep a copy of the member's checkpoint (its program's files) at ``step``."""
    final = kept_dir(sweep, run_id, step)
    if final.is_dir():
        return  # kept by an attempt that died before saying so
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{step}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        _copy_entries(run_dir, program_files(run_dir), tmp)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def take_donor(sweep: Sweep, run_dir: Path, segment: int, parent: tuple[str, int]) -> bool:
    """The member's folder holds the donor's kept checkpoint instead of its own (done once
    per segment: True when it was done now)."""
    mark = run_dir / f"{MARK}{segment}"
    if mark.exists():
        return False
    src = kept_dir(sweep, parent[0], parent[1])
    if not src.is_dir():
        raise DonorGone(f"the checkpoint of run {parent[0]} kept at step {parent[1]} ({src}) "
                        "is gone")
    for name in program_files(run_dir):
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    _copy_entries(src, sorted(os.listdir(src)), run_dir)
    for old in run_dir.glob(f"{MARK}*"):
        old.unlink()
    fd = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.fsync(fd)
    os.close(fd)
    return True


def prune(sweep: Sweep, runs: list[Run]) -> int:
    """Remove the kept copies no member can still copy (below the step of every member that
    may still train); how many went."""
    root = sweep.path / "pbt"
    low = pbt.floor(runs)
    gone = 0
    try:
        owners = os.listdir(root)
    except OSError:
        return 0
    for owner in owners:
        try:
            names = os.listdir(root / owner)
        except OSError:
            continue
        for name in names:
            # a kept copy, or one an agent that died was building (".STEP.PID.tmp")
            step = name if name.isdigit() else name.split(".")[1] if name.endswith(".tmp")\
                and name.count(".") == 3 else ""
            if step.isdigit() and int(step) < low:
                shutil.rmtree(root / owner / name, ignore_errors=True)
                gone += name.isdigit()
        try:
            os.rmdir(root / owner)  # (only when empty)
        except OSError:
            pass
    try:
        os.rmdir(root)
    except OSError:
        pass
    return gone
