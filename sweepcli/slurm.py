"""``sweepcli slurm``: write the batch script of a job array of agents, and submit it.

The script is the one ``examples/slurm/agent.sbatch`` shows, with the sweep, the store,
this Python and the job's shape filled in: each array task runs one agent with
``--time-limit auto``; an agent that exits 3 (its time is up, or it was preempted, and the
sweep has work) has its task requeued; exit 0 (the sweep is done) ends it for good.
No credential is written into the script: a PostgreSQL store's URL reaches the jobs through
the environment ``sbatch`` exports (``SWEEPCLI_STORE``).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SweepcliError

#: seconds before the job's end SLURM sends USR1 (the agent stops its run then at the latest);
#: a shorter walltime gets a quarter of it
SIGNAL_MARGIN = 120
#: the shortest walltime a task may have: the agent keeps about 15 s to stop a run cleanly
MIN_WALLTIME = 120
#: folders that are each node's own (a job on another node does not see them)
NODE_LOCAL = ("/tmp", "/var/tmp", "/dev/shm", "/run")
_TIME = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}$")  # SLURM's --time forms
_ARRAY = re.compile(r"^[0-9][0-9,\-:%]*$")
_JOB_ID = re.compile(r"^(\d+)(_\d+)?(;[\w.-]+)?$")


class SlurmError(SweepcliError):
    """The job array cannot be written or submitted."""


@dataclass
class JobArray:
    sweep_ref: str
    array: str  # N (tasks 0..N-1) or SLURM's own spec ("0-15%4")
    time: str
    gpus: int = 0
    cpus: int | None = None
    job_name: str = ""
    output: str = ""
    workdir: Path = field(default_factory=Path.cwd)
    root_dir: str = "sweeps"  # the folder store's root (with a PostgreSQL store: run folders)
    in_postgres: bool = False  # the store's URL comes from the jobs' SWEEPCLI_STORE
    agent_args: tuple[str, ...] = ()
    sbatch_args: tuple[str, ...] = ()
    mem: str | None = None
    #: shell lines run before the agent (``module load ...``, ``source venv/bin/activate``)
    setup: str = ""

    def __post_init__(self) -> None:
        if not _TIME.match(self.time):
            raise SlurmError(f"--time {self.time!r}: give SLURM's form, e.g. 04:00:00, "
                             "90 (minutes) or 1-12:00:00")
        seconds = walltime_seconds(self.time)
        if seconds < MIN_WALLTIME:
            raise SlurmError(f"--time {self.time}: give each task at least "
                             f"{MIN_WALLTIME // 60} minutes; SLURM signals the agent before the "
                             "end to stop its run cleanly, and a shorter job has no time left "
                             "for a run")
        #: seconds before the end SLURM signals the agent: 120, or a quarter of a short job
        self.signal_margin = min(SIGNAL_MARGIN, seconds // 4)
        if self.mem is not None and not re.match(r"^\d+[KMGT]?B?$", self.mem, re.I):
            raise SlurmError(f"--mem {self.mem!r}: give SLURM's form, e.g. 16G or 4000M")
        for what, text in (("the working folder", str(self.workdir)), ("--dir", self.root_dir),
                           ("the log name", self.output), ("the job name", self.job_name)):
            if any(c in text for c in '\n\r"\\') or any(ord(c) < 32 for c in text):
                raise SlurmError(f"{what} {text!r} has a newline, a quote or a backslash, "
                                 "which a #SBATCH line cannot hold: use another folder or name")
        if self.array.isdigit():
            n = int(self.array)
            if n < 1:
                raise SlurmError("--array N: give at least 1 task")
            self.array = f"0-{n - 1}"
        elif not _ARRAY.match(self.array):
            raise SlurmError(f"--array {self.array!r}: give a number of tasks (8) or SLURM's "
                             "spec (0-15%4)")
        if self.gpus < 0:
            raise SlurmError("--gpus: give 0 or more GPUs per task")
        safe = re.sub(r"[^A-Za-z0-9_.-]", "-", self.sweep_ref)
        self.job_name = self.job_name or f"sweepcli-{safe}"
        self.output = self.output or f"{self.job_name}-%A_%a.log"

    def warnings(self) -> list[str]:
        """What will likely not work on other nodes (folders each node has its own)."""
        out = []
        places = [("this Python's environment", sys.prefix),
                  ("the sweeps' folder (--dir)", str(Path(self.root_dir).resolve())),
                  ("the jobs' working folder", str(self.workdir))]
        for line in sbatch_lines(self.sbatch_args):  # a --chdir given after --
            for prefix in ("--chdir=", "--chdir ", "-D "):
                if line.startswith(prefix):
                    places.append(("--chdir", str(Path(line[len(prefix):]).resolve())))
        for what, path in places:
            if any(path == p or path.startswith(p + "/") for p in NODE_LOCAL):
                out.append(f"{what} is {path}, under a folder each node has its own: jobs on "
                           "other nodes will not find it; put it on a shared disk")
        return out

    def script(self) -> str:
        """The batch script (bash), every value quoted."""
        q = shlex.quote

        def directive(option: str, value: str) -> str:
            # sbatch reads #SBATCH lines with double quotes around a value with spaces
            return f"#SBATCH {option}={value}" if re.match(r"^[\w./%@:,+=-]+$", value)\
                else f'#SBATCH {option}="{value}"'
        lines = [
            "#!/bin/bash",
            f"# Written by `sweepcli slurm` for sweep {self.sweep_ref}: one agent per array task.",
            "# An agent exits 3 when its time is up or it was preempted while the sweep has work:",
            "# the task is then requeued, and a later agent resumes the stopped run in its folder.",
            "# Exit 0: the sweep is done (or --count reached); the task ends for good.",
            directive("--job-name", self.job_name),
            f"#SBATCH --array={self.array}",
            f"#SBATCH --time={self.time}",
            directive("--chdir", str(self.workdir)),
            directive("--output", self.output),
            "#SBATCH --open-mode=append",
            "#SBATCH --requeue",
            f"#SBATCH --signal=B:USR1@{self.signal_margin}",
        ]
        if self.cpus:
            lines.append(f"#SBATCH --cpus-per-task={self.cpus}")
        if self.mem:
            lines.append(f"#SBATCH --mem={self.mem}")
        if self.gpus:
            lines.append(f"#SBATCH --gres=gpu:{self.gpus}")
        # the options given after --, kept in the file so that resubmitting it keeps them
        lines += [f"#SBATCH {option}" for option in sbatch_lines(self.sbatch_args)]
        agent = [sys.executable, "-m", "sweepcli", "agent", self.sweep_ref, "--time-limit", "auto"]
        agent += ["--dir", str(Path(self.root_dir).resolve())]
        if self.gpus > 1:
            agent += ["--gpus", "all"]  # one run per GPU SLURM gave this task
        agent += list(self.agent_args)
        store_check = "" if not self.in_postgres else (
            ': "${SWEEPCLI_STORE:?the sweep is in a PostgreSQL store: submit with '
            'SWEEPCLI_STORE set (sbatch exports it)}"\n')
        setup = ["# set up with --setup:", self.setup.rstrip("\n")] if self.setup.strip() else []
        lines += ["", *setup, "set -u", store_check.rstrip("\n"),
                  "# the agent's messages say that this script requeues the job",
                  "export SWEEPCLI_JOB_SCRIPT=slurm",
                  f"# this Python ({q(sys.prefix)}) runs the agent; its programs' ${{interpreter}} too",
                  f"{shlex.join(agent)} &", _TAIL]
        return "\n".join(line for line in lines if line is not None) + "\n"


_TAIL = """agent=$!
# SLURM's signals go to the agent, which stops its run (preempted: resumed later)
trap 'kill -USR1 "$agent" 2>/dev/null' USR1
trap 'kill -TERM "$agent" 2>/dev/null' TERM
# `wait` returns early when a trapped signal arrives: wait until the agent has exited
while :; do
  wait "$agent"
  status=$?
  kill -0 "$agent" 2>/dev/null || break
done
wait "$agent" 2>/dev/null
last=$?
[ "$last" -ne 127 ] && status=$last
if [ "$status" -eq 3 ]; then
  task="${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-}}${SLURM_ARRAY_TASK_ID:+_$SLURM_ARRAY_TASK_ID}"
  echo "sweepcli slurm: the agent stopped early (time up or preempted) and the sweep has" \
    "work left: requeueing ${task:-this job}" >&2
  if [ -n "$task" ]; then
    scontrol requeue "$task" || { echo "sweepcli slurm: scontrol requeue failed" >&2; exit 3; }
  fi
  exit 0
fi
exit "$status"
"""


def walltime_seconds(text: str) -> int:
    """SLURM's --time (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) in seconds."""
    days = 0
    if "-" in text:
        d, _, text = text.partition("-")
        days = int(d)
        parts = [int(p) for p in text.split(":")]
        h, m, s = (parts + [0, 0])[:3]
        return ((days * 24 + h) * 60 + m) * 60 + s
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 1:
        return parts[0] * 60
    if len(parts) == 2:
        return parts[0] * 60 + parts[1]
    return (parts[0] * 60 + parts[1]) * 60 + parts[2]


def sbatch_lines(args: tuple[str, ...]) -> list[str]:
    """sbatch options as #SBATCH lines: ``--partition=gpu``, ``-p gpu`` (an option and its
    value) and flags, each on a line of its own."""
    out: list[str] = []
    for arg in args:
        if out and not arg.startswith("-") and not out[-1].startswith("--")\
                and " " not in out[-1]:
            out[-1] = f"{out[-1]} {arg}"  # -p gpu
        elif out and not arg.startswith("-") and out[-1].startswith("--") and "=" not in out[-1]:
            out[-1] = f"{out[-1]}={arg}"  # --partition gpu
        else:
            out.append(arg)
    return out


def queued(job_name: str) -> list[str]:
    """Jobs of this name already in SLURM's queue (``squeue``; empty when it cannot say)."""
    if shutil.which("squeue") is None:
        return []
    try:
        out = subprocess.run(["squeue", "--noheader", f"--name={job_name}", "--format=%i"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def submit(script: Path, sbatch_args: tuple[str, ...], env: dict[str, str] | None = None) -> str:
    """``sbatch --parsable [ARGS] SCRIPT``; the job ID it gives."""
    if shutil.which("sbatch", path=(env or os.environ).get("PATH")) is None:
        raise SlurmError(f"sbatch is not on PATH (not a SLURM login node?): the script is "
                         f"written, submit it with: sbatch {shlex.join([*sbatch_args, str(script)])}")
    try:
        out = subprocess.run(["sbatch", "--parsable", *sbatch_args, str(script)],
                             capture_output=True, text=True, timeout=120, env=env)
    except (OSError, subprocess.SubprocessError) as e:
        raise SlurmError(f"sbatch did not answer: {e}") from None
    if out.returncode != 0:
        said = (out.stderr or out.stdout).strip()
        raise SlurmError(f"sbatch refused the job (exit {out.returncode}): {said}")
    job = out.stdout.strip().splitlines()[-1].strip() if out.stdout.strip() else ""
    if not _JOB_ID.match(job):
        raise SlurmError(f"sbatch said {job!r}, not a job ID")
    return job.split(";")[0]
