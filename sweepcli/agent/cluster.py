"""What a batch cluster tells an agent: when its job ends, which GPUs it has, and how
runs share them. Commands run without a shell, with fixed arguments."""

from __future__ import annotations

import os
import re
import subprocess
import time
from datetime import datetime

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
