"""What a batch cluster tells an agent: when its job ends, which GPUs it has, and how
runs share them. Commands run without a shell, with fixed arguments."""

from __future__ import annotations

import os
import re
import subprocess
import time
from datetime import datetime
from pathlib import Path

from ..errors import UsageError


class ClusterError(UsageError, ValueError):
    """A setting that cannot be used (exit 2), with what would work."""


def _command(argv: list[str]) -> str | None:
    """A command's stdout, or None when it is missing, fails or hangs."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def slurm_end_time() -> tuple[float | None, str]:
    """The SLURM job's end as a Unix time, and where it was read (None: not in a job, or
    it has no end). ``SLURM_JOB_END_TIME`` (SLURM 23.02+), else ``squeue -h -j ID -o %e``."""
    text = os.environ.get("SLURM_JOB_END_TIME", "").strip()
    if text:
        try:
            return float(text), "SLURM_JOB_END_TIME"
        except ValueError:
            raise ClusterError(f"SLURM_JOB_END_TIME={text!r} is not a Unix time") from None
    job = os.environ.get("SLURM_JOB_ID", "").strip()
    if not job:
        return None, "not inside a SLURM job"
    if not re.fullmatch(r"[0-9_]+", job):
        raise ClusterError(f"SLURM_JOB_ID={job!r} is not a job ID")
    out = _command(["squeue", "-h", "-j", job, "-o", "%e"])
    if out is None:
        return None, f"squeue could not tell job {job}'s end"
    stamp = out.strip().splitlines()[0].strip() if out.strip() else ""
    try:  # squeue prints the end in local time, e.g. 2026-11-28T18:00:00
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S").timestamp(), f"squeue (job {job})"
    except ValueError:
        return None, f"job {job} has no end time (squeue says {stamp or 'nothing'!r})"


def time_limit(value: str | None) -> tuple[float | None, str]:
    """``--time-limit SECONDS|auto`` as seconds from now (None: no limit), and a note."""
    if value is None:
        return None, ""
    if value.strip().lower() == "auto":
        end, where = slurm_end_time()
        if end is None:
            return None, f"--time-limit auto: {where}; no limit"
        return max(0.0, end - time.time()), f"--time-limit auto: the job ends in " \
            f"{max(0.0, end - time.time()):.0f} s ({where})"
    try:
        seconds = float(value)
    except ValueError:
        raise ClusterError(f"--time-limit {value!r}: give seconds (e.g. 7200) or auto") from None
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise ClusterError(f"--time-limit {value!r}: give a number of seconds > 0, or auto")
    return seconds, ""


def all_gpus() -> list[str]:
    """The GPUs this job may use: ``CUDA_VISIBLE_DEVICES`` when set, else ``nvidia-smi -L``."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        gpus = [g.strip() for g in visible.split(",") if g.strip()]
        if not gpus or gpus == ["-1"]:
            raise ClusterError("--gpus all: CUDA_VISIBLE_DEVICES is set but lists no GPU")
        return gpus
    out = _command(["nvidia-smi", "-L"])
    if out is None:
        raise ClusterError("--gpus all: CUDA_VISIBLE_DEVICES is not set and nvidia-smi -L "
                           "did not answer; give the GPUs, e.g. --gpus 0,1")
    gpus = [m.group(1) for m in re.finditer(r"^GPU (\d+):", out, re.M)]
    if not gpus:
        raise ClusterError("--gpus all: nvidia-smi -L lists no GPU")
    return gpus


def gpu_slots(gpus: list[str], runs_per_gpu: int = 1, gpus_per_run: int = 1
              ) -> tuple[list[str], list[str]]:
    """The ``CUDA_VISIBLE_DEVICES`` of each run slot, and the GPUs left unused: K slots per
    GPU (``--runs-per-gpu``), or one slot per group of K GPUs (``--gpus-per-run``)."""
    if len(set(gpus)) != len(gpus):
        raise ClusterError("--gpus: give distinct GPUs, e.g. 0,1,2,3")
    if runs_per_gpu > 1 and gpus_per_run > 1:
        raise ClusterError("--runs-per-gpu and --gpus-per-run cannot both be above 1: "
                           "runs share a GPU, or a run has several")
    if gpus_per_run > len(gpus):
        raise ClusterError(f"--gpus-per-run {gpus_per_run}: only {len(gpus)} GPU(s) given "
                           f"({','.join(gpus)})")
    if gpus_per_run > 1:
        n = len(gpus) // gpus_per_run
        groups = [",".join(gpus[i * gpus_per_run:(i + 1) * gpus_per_run]) for i in range(n)]
        return groups, gpus[n * gpus_per_run:]
    return [g for g in gpus for _ in range(runs_per_gpu)], []


#: what a run under SLURM does not see: it is no srun task of the job (Lightning, seeing
#: SLURM_NTASKS, takes itself for one: it requeues the job on a signal and saves and loads
#: hpc_ckpt_*.ckpt in the working folder, which the next run, of any sweep, would load)
NOT_FOR_RUNS = ("SLURM_NTASKS", "SLURM_NPROCS")
#: a stand-in ``scontrol`` first on a run's PATH under SLURM: ``requeue`` is the agent's
#: (exit status 3), anything else goes to the real one
_SCONTROL_GUARD = """#!/bin/sh
# Written by the sweepcli agent: a run never requeues its agent's job (the agent does that
# itself, by exiting 3); anything else is the real scontrol's.
case "$1" in
  requeue|requeuehold)
    echo "sweepcli: 'scontrol $1' from a run is ignored: its agent requeues the job itself" >&2
    exit 0 ;;
esac
exec {real} "$@"
"""


def slurm_run_env(env: dict[str, str], run_dir: Path) -> None:
    """A run's environment inside a SLURM job: no srun task's variables, and an
    ``scontrol`` that will not requeue the agent's job (written into ``run_dir``)."""
    import shlex
    import shutil

    from ..store.files import write_atomic

    if "SLURM_JOB_ID" not in env:
        return
    for name in NOT_FOR_RUNS:
        env.pop(name, None)
    real = shutil.which("scontrol", path=env.get("PATH"))
    guard_dir = run_dir / ".sweepcli-bin"
    guard_dir.mkdir(exist_ok=True)
    guard = guard_dir / "scontrol"
    write_atomic(guard, _SCONTROL_GUARD.format(real=shlex.quote(real) if real else "false"),
                 durable=False)
    guard.chmod(0o755)
    env["PATH"] = str(guard_dir) + os.pathsep + env.get("PATH", "")
