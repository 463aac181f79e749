"""The faults sweepcli survives, each tried for real: read this file as that list.

Every test runs the installed CLI in real processes against real files, and checks the
promise: each point runs once, no live run is crashed, nothing is lost, no traceback,
nobody else's command runs.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from .conftest import CLI, PROGRAM
from .faults import faketime_prefix, fill, other_host_prefix

QUICK = "import time; time.sleep(0.05)\n" + PROGRAM


def grid(n: int, **extra) -> dict:
    return {"program": "train.py", "method": "grid", "metric": {"name": "loss"},
            "parameters": {"x": {"values": list(range(1, n + 1))}, **extra}}


def no_traceback(*texts: str) -> None:
    for t in texts:
        assert "Traceback" not in (t or ""), t


def finished_once(env, sweep_id: str, n: int, root: Path | None = None) -> dict:
    """Every point 1..n finished exactly once; no run lost or running."""
    s = json.loads(env.cli("sweep", "--print", sweep_id, "--json",
                           *(["--dir", str(root)] if root else [])).stdout)
    done = Counter(r["config"]["x"] for r in s["runs"] if r["state"] == "finished")
    assert sorted(done) == list(range(1, n + 1)), s["counts"]
    assert set(done.values()) == {1}, [x for x, c in done.items() if c > 1]
    assert s["counts"]["running"] == 0
    return s


def wait_all(procs, timeout=180) -> list[str]:
    errs = []
    for p in procs:
        assert p.wait(timeout=timeout) == 0, p.stderr.read()
        errs.append(p.stderr.read())
    no_traceback(*errs)
    return errs


# ---- locks ------------------------------------------------------------------------------------
def test_locks_that_do_not_cross_mounts_still_run_each_point_once(env, two_mounts) -> None:
    a, b = two_mounts
    if "SWEEPCLI_TEST_MOUNTS" not in os.environ:
        # the fault is real: a flock through one mount does not block the other
        with open(a / "probe", "w") as fa, open(b / "probe") as fb:
            fcntl.flock(fa, fcntl.LOCK_EX)
            fcntl.flock(fb, fcntl.LOCK_EX | fcntl.LOCK_NB)  # would raise if the lock crossed
    env.program(QUICK)
    sweep_id = env.create(grid(100), "--dir", str(a / "sweeps"))
    agents = [env.agent(sweep_id, env={"SWEEPCLI_DIR": str(m / "sweeps")}) for m in (a, b, a, b)]
    wait_all(agents)
    finished_once(env, sweep_id, 100, a / "sweeps")


def test_a_stalled_lock_holder_crashes_no_live_run(env) -> None:
    env.program(PROGRAM)
    hb = {"SWEEPCLI_HEARTBEAT_TIMEOUT": "2"}
    sweep_id = env.create(grid(2, sleep={"value": 1.0}, epochs={"value": 5}))
    first = env.agent(sweep_id, env=hb)
    env.wait_for(lambda: env.status(sweep_id)["counts"]["running"] == 1)
    folder = env.root / sweep_id
    (run,) = env.status(sweep_id)["runs"]
    metrics = folder / "runs" / run["run_id"] / "metrics.jsonl"
    lines = lambda: len(metrics.read_bytes().splitlines())  # noqa: E731
    # an admin tool (or a stalled agent) holds the sweep lock: flock and lock.soft
    with open(folder / "lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        fd = os.open(folder / "lock.soft", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        os.write(fd, b'{"host": "backup-tool"}')
        os.close(fd)
        second = env.agent(sweep_id, env=hb)  # waits for the lock too
        # held while the running program logs 3 more lines (1 s apart): longer than the
        # heartbeat timeout, which no heartbeat of a live run may miss meanwhile
        start = lines()
        env.wait_for(lambda: lines() >= start + 3 or first.poll() is not None, timeout=60)
        os.unlink(folder / "lock.soft")
    wait_all([first, second])
    s = finished_once(env, sweep_id, 2)
    assert s["counts"]["crashed"] == 0


def test_an_agent_waiting_for_a_held_lock_still_obeys_signals(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid(2))
    folder = env.root / sweep_id
    with open(folder / "lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # held for as long as this test likes
        agent = env.watched_agent(sweep_id)
        agent.wait_for_text("the sweep lock is held elsewhere")
        agent.send_signal(signal.SIGTERM)  # the batch system's time is up
        assert agent.wait(timeout=20) == 3, agent.text()
    assert env.status(sweep_id)["runs"] == []


def test_a_clock_40_s_ahead_on_another_host_breaks_no_lock_and_crashes_no_run(env) -> None:
    env.program(QUICK)
    skewed = [*other_host_prefix("skewed-host"), *faketime_prefix("+40s")]
    sweep_id = env.create(grid(40))
    agents = []
    for lock in ("both", "soft"):
        agents.append(subprocess.Popen([*skewed, *CLI, "agent", sweep_id], cwd=env.tmp,
                                       env={**env.env, "SWEEPCLI_LOCK": lock,
                                            "SWEEPCLI_HEARTBEAT_TIMEOUT": "5"},
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    # the skewed host first, until it has claimed a run (under load its faketime'd Python
    # started after the others had run all 40 quick points), then this host's agents
    env.wait_for(lambda: any(r["agent"].startswith("skewed-host:")
                             for r in env.status(sweep_id)["runs"]), timeout=60)
    agents += [env.agent(sweep_id, env={"SWEEPCLI_HEARTBEAT_TIMEOUT": "5"}) for _ in range(2)]
    wait_all(agents)
    s = finished_once(env, sweep_id, 40)
    assert s["counts"]["crashed"] == 0
    assert any(r["agent"].startswith("skewed-host:") for r in s["runs"])  # it did take part


def test_a_look_from_a_host_whose_clock_is_40_s_ahead_crashes_no_live_run(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid(1, sleep={"value": 5.0}))
    hb = {"SWEEPCLI_HEARTBEAT_TIMEOUT": "5"}
    agent = env.agent(sweep_id, env=hb)
    env.wait_for(lambda: env.status(sweep_id)["counts"]["running"] == 1)
    skewed = [*other_host_prefix("skewed-host"), *faketime_prefix("+40s")]
    look = subprocess.run([*skewed, *CLI, "sweep", "--print", sweep_id, "--json"], cwd=env.tmp,
                          env={**env.env, **hb}, capture_output=True, text=True, timeout=60)
    assert look.returncode == 0, look.stderr
    assert "watching" in look.stderr  # every heartbeat looked 40 s old from there
    assert json.loads(look.stdout)["counts"]["crashed"] == 0
    wait_all([agent])
    assert finished_once(env, sweep_id, 1)["counts"]["crashed"] == 0


def test_sigkill_storm_during_claims_loses_and_repeats_nothing(env) -> None:
    env.program(QUICK)
    hb = {"SWEEPCLI_HEARTBEAT_TIMEOUT": "2"}
    n = 60
    sweep_id = env.create(grid(n))
    rnd = random.Random(0)
    agents = [env.agent(sweep_id, env=hb) for _ in range(4)]
    for _ in range(12):  # kill whole agents (their programs too, as a dead host) mid-claim
        time.sleep(rnd.uniform(0.05, 0.3))
        victim = agents.pop(rnd.randrange(len(agents)))
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        agents.append(env.agent(sweep_id, env=hb))
    wait_all(agents)
    finished_once(env, sweep_id, n)
    for line in (env.root / sweep_id / "journal.jsonl").read_bytes().splitlines():
        json.loads(line)  # no torn line


# ---- heartbeats -------------------------------------------------------------------------------
def test_a_reader_with_a_shorter_timeout_never_crashes_a_live_run(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid(1, sleep={"value": 4.0}))
    agent = env.agent(sweep_id, env={"SWEEPCLI_HEARTBEAT_TIMEOUT": "20"})  # it beats every 5 s
    env.wait_for(lambda: env.status(sweep_id)["counts"]["running"] == 1)
    (run,) = env.status(sweep_id)["runs"]
    beat = env.root / sweep_id / "runs" / run["run_id"] / "heartbeat"
    # its last beat is older than the eager reader's timeout (it beats every 5 s)
    env.wait_for(lambda: time.time() - beat.stat().st_mtime > 1.5)
    eager = {"SWEEPCLI_HEARTBEAT_TIMEOUT": "1"}
    s = json.loads(env.cli("sweep", "--print", sweep_id, "--json", env=eager).stdout)
    assert s["counts"]["running"] == 1 and s["counts"]["crashed"] == 0
    wait_all([agent])
    assert finished_once(env, sweep_id, 1)["counts"]["crashed"] == 0


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "soon", "1e-300"])
def test_an_unusable_heartbeat_timeout_is_a_clear_error(env, value) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid(1))
    for args in (["agent", sweep_id], ["sweep", "--print", sweep_id]):
        proc = env.cli(*args, check=False, env={"SWEEPCLI_HEARTBEAT_TIMEOUT": value})
        assert proc.returncode == 2 and "SWEEPCLI_HEARTBEAT_TIMEOUT" in proc.stderr
        no_traceback(proc.stderr)
    assert env.status(sweep_id)["runs"] == []


def test_gpu_slots_apply_each_journal_event_once(env) -> None:
    env.program("""
        import json, os, time
        with open(os.environ["SWEEPCLI_METRICS_FILE"], "a") as f:
            for i in range(6):
                f.write(json.dumps({"loss": 10 - i}) + "\\n"); f.flush(); time.sleep(0.15)
    """)
    sweep_id = env.create({**grid(9), "run_cap": 9})
    proc = env.cli("agent", sweep_id, "--gpus", "0,1,2")
    no_traceback(proc.stderr)
    s = finished_once(env, sweep_id, 9)
    assert all(r["steps"] == 6 for r in s["runs"]), [r["steps"] for r in s["runs"]]


# ---- the journal ------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["truncate", "replace with its first lines", "delete"])
def test_a_journal_damaged_under_running_agents_is_restored(env, how) -> None:
    env.program(PROGRAM)
    n = 16
    sweep_id = env.create(grid(n, sleep={"value": 0.3}))
    journal = env.root / sweep_id / "journal.jsonl"
    agents = [env.agent(sweep_id) for _ in range(2)]
    env.wait_for(lambda: env.status(sweep_id)["counts"]["finished"] >= 4)
    if how == "truncate":
        os.truncate(journal, 0)
    elif how == "delete":
        journal.unlink()
    else:
        head = b"".join(journal.read_bytes().splitlines(keepends=True)[:3])
        (journal.parent / "old").write_bytes(head)
        os.replace(journal.parent / "old", journal)
    errs = wait_all(agents)
    finished_once(env, sweep_id, n)
    assert any("restored" in e for e in errs)


def test_a_cancel_right_after_a_truncation_reaches_the_agents(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid(6, sleep={"value": 30.0}))
    agents = [env.agent(sweep_id) for _ in range(2)]
    env.wait_for(lambda: env.status(sweep_id)["counts"]["running"] == 2)
    os.truncate(env.root / sweep_id / "journal.jsonl", 0)
    env.cli("sweep", "--cancel", sweep_id)
    wait_all(agents, timeout=30)
    s = env.status(sweep_id)
    assert s["state"] == "canceled" and s["counts"]["killed"] == 2 and len(s["runs"]) == 2


def test_a_journal_that_lost_runs_while_no_agent_ran_is_refused(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid(4))
    env.cli("agent", sweep_id, "--count", "2")
    os.truncate(env.root / sweep_id / "journal.jsonl", 0)
    proc = env.cli("agent", sweep_id, check=False, timeout=60)
    assert proc.returncode == 1 and "truncated or replaced" in proc.stderr
    no_traceback(proc.stderr)
    assert len(os.listdir(env.root / sweep_id / "runs")) == 2  # no point ran again
    proc = env.cli("sweep", "--print", sweep_id, check=False)  # not shown as an empty sweep
    assert proc.returncode == 1 and "truncated or replaced" in proc.stderr
    no_traceback(proc.stderr)


def test_hostile_and_broken_journal_lines_are_skipped(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid(3))
    env.cli("agent", sweep_id, "--count", "1")
    done = env.status(sweep_id)["runs"][0]["run_id"]
    journal = env.root / sweep_id / "journal.jsonl"
    with open(journal, "a") as f:
        for e in [{"op": "claim", "run": "../../x", "params": {"x": 9}},
                  {"op": "claim", "run": done, "params": {"x": 9}},  # would reset a finished run
                  {"op": "end", "run": done, "state": "running"},
                  {"op": "metric", "run": done, "values": [1e999, "x", -5]},
                  {"op": "claim", "run": "abcdefgh", "params": [1], "grid": -1},
                  {"op": "explode"}, [1, 2], "text", {"op": "control", "state": "bogus"}]:
            f.write(json.dumps(e) + "\n")
        f.write('{"op": "metric", "run": "' + done + '", "values": [1e999]}\n')
    proc = env.cli("agent", sweep_id)
    no_traceback(proc.stderr)
    s = finished_once(env, sweep_id, 3)
    assert s["journal_lines_skipped"] == 8
    assert next(r for r in s["runs"] if r["run_id"] == done)["value"] == -5
    assert not (env.root / "x").exists() and not (env.tmp / "x").exists()


# ---- the disk ---------------------------------------------------------------------------------
ROBUST_PROGRAM = """
import json, os, sys, time
cfg = json.load(open(os.environ["SWEEPCLI_CONFIG_FILE"]))
def log(line):
    while True:  # a program that survives a full disk itself
        try:
            with open(os.environ["SWEEPCLI_METRICS_FILE"], "a") as f:
                f.write(line)
            return
        except OSError:
            time.sleep(0.05)
for epoch in range(8):
    time.sleep(0.4)
    log(json.dumps({"loss": cfg["x"] / (epoch + 1)}) + "\\n")
"""


def test_a_disk_full_for_a_few_seconds_loses_and_crashes_nothing(env, small_tmpfs) -> None:
    env.program(ROBUST_PROGRAM)
    root = small_tmpfs / "sweeps"
    hb = {"SWEEPCLI_HEARTBEAT_TIMEOUT": "2", "SWEEPCLI_DIR": str(root)}
    sweep_id = env.create(grid(3), "--dir", str(root))
    agents = [env.watched_agent(sweep_id, env=hb) for _ in range(2)]
    runs = root / sweep_id / "runs"
    # both runs are going (a metric line each), then the disk fills
    env.wait_for(lambda: sum(1 for m in runs.glob("*/metrics.jsonl") if m.stat().st_size) >= 2)
    filler = fill(small_tmpfs)
    for a in agents:  # every agent meets the full disk (a metric flush, a run's end, a claim)
        a.wait_for_text("No space left on device")
    filler.unlink()
    for a in agents:
        assert a.wait(timeout=180) == 0, a.text()
        no_traceback(a.text())
    s = finished_once(env, sweep_id, 3, root)
    assert s["counts"]["crashed"] == 0 and all(r["steps"] == 8 for r in s["runs"])
    for line in (root / sweep_id / "journal.jsonl").read_bytes().splitlines():
        json.loads(line)  # no torn line


def test_a_full_disk_at_claim_time_leaves_no_orphan_and_no_traceback(env, small_tmpfs) -> None:
    env.program(PROGRAM)
    root = small_tmpfs / "sweeps"
    sweep_id = env.create(grid(2), "--dir", str(root))
    filler = fill(small_tmpfs)
    agent = env.watched_agent(sweep_id, env={"SWEEPCLI_DIR": str(root)})
    agent.wait_for_text("cannot claim a run yet")
    assert os.listdir(root / sweep_id / "runs") == []  # nothing claimed, no orphan folder
    filler.unlink()
    assert agent.wait(timeout=180) == 0, agent.text()
    no_traceback(agent.text())
    finished_once(env, sweep_id, 2, root)


# ---- who runs what ----------------------------------------------------------------------------
def test_a_sweep_planted_under_your_id_is_refused(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid(1), "--project", "mine")
    planted = env.root / sweep_id  # someone who can write the root plants ROOT/ID
    planted.mkdir()
    pwned = env.tmp / "pwned"
    (planted / "sweep.json").write_text(json.dumps({"id": sweep_id, "config": {
        "method": "grid", "command": ["/bin/touch", str(pwned)],
        "parameters": {"x": {"value": 1}}}}))
    (planted / "journal.jsonl").touch()
    proc = env.cli("agent", sweep_id, check=False)
    assert proc.returncode == 2 and f"mine/{sweep_id}" in proc.stderr
    no_traceback(proc.stderr)
    assert not pwned.exists()
    env.cli("agent", f"mine/{sweep_id}")
    env.cli("agent", f"someone/mine/{sweep_id}")  # ENTITY/PROJECT/ID
    assert not pwned.exists()


def test_symlinks_planted_in_a_sweep_folder_are_never_followed(env) -> None:
    # the first run holds on a gate until the second agent has been refused (a 2 s sleep
    # raced it: under load that agent's claim came after the run had ended, when a claim
    # has no heartbeat to judge and reads no clock)
    gate = env.tmp / "gate"
    env.program(PROGRAM.replace("out = open(", f"while cfg.get('sleep') and not os.path.exists("
                                               f"{str(gate)!r}):\n    time.sleep(0.05)\nout = open("))
    sweep_id = env.create(grid(2, sleep={"value": 2.0}))
    folder = env.root / sweep_id
    victim = env.tmp / "victim"
    victim.write_text("precious\n")
    os.utime(victim, (0, 0))
    intact = lambda: victim.read_text() == "precious\n" and os.stat(victim).st_mtime == 0  # noqa: E731
    os.symlink(victim, folder / "lock")  # filelock would have truncated the victim
    proc = env.cli("agent", sweep_id, check=False)
    no_traceback(proc.stderr)
    assert proc.returncode == 1 and "lock" in proc.stderr and intact()
    os.unlink(folder / "lock")
    os.symlink(victim, folder / "clock")  # touched to read the server's time
    first = env.agent(sweep_id, "--count", "1")
    env.wait_for(lambda: (folder / "runs").exists() and os.listdir(folder / "runs"))
    proc = env.cli("agent", sweep_id, check=False)  # its claim reads the clock: refused
    no_traceback(proc.stderr)
    assert proc.returncode == 1 and "clock" in proc.stderr and intact()
    gate.write_text("go")
    assert first.wait(timeout=30) == 0
    journal = folder / "journal.jsonl"
    os.replace(journal, env.tmp / "j")
    os.symlink(env.tmp / "j", journal)
    proc = env.cli("sweep", "--print", sweep_id, check=False)
    assert proc.returncode == 1 and "journal.jsonl" in proc.stderr
    no_traceback(proc.stderr)


def test_files_follow_the_umask_so_a_teammate_can_read_them(env) -> None:
    env.program(PROGRAM)
    script = ("import os, runpy, sys; os.umask(0o027); sys.argv = ['sweepcli'] + sys.argv[1:]; "
              "runpy.run_module('sweepcli', run_name='__main__')")
    f = env.tmp / "s.yaml"
    f.write_text(json.dumps(grid(1)))
    run = lambda *a: subprocess.run([sys.executable, "-c", script, *a], cwd=env.tmp, env=env.env,  # noqa: E731
                                    capture_output=True, text=True, check=True)
    sweep_id = run("sweep", str(f)).stdout.strip()
    run("agent", sweep_id)
    folder = env.root / sweep_id
    run_dir = next((folder / "runs").iterdir())
    mode = lambda p: os.stat(p).st_mode & 0o777  # noqa: E731
    assert mode(folder / "sweep.json") == 0o440  # read-only: written once
    for p in (folder / "journal.jsonl", run_dir / "config.json", run_dir / "output.log",
              run_dir / "metrics.jsonl", run_dir / "pid"):
        assert mode(p) == 0o640, p


# ---- what reaches the terminal ------------------------------------------------------------------
HOSTILE_VALUES = ["[/]", "[bold]x", "\x1b]2;pwned-title\x07", "\x1b[41mred"]


def test_hostile_values_reach_the_terminal_as_text(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({**grid(1), "parameters": {"x": {"value": 1},
                                                     "name": {"values": HOSTILE_VALUES}}})
    code, text = env.on_terminal("agent", sweep_id)  # the live display, drawn by rich
    assert code == 0, text
    s = env.status(sweep_id)
    assert s["counts"]["finished"] == 4
    assert sorted(r["config"]["name"] for r in s["runs"]) == sorted(HOSTILE_VALUES)
    assert "\x1b]2;" not in text and "\x1b[41m" not in text and "\\x1b]2;pwned-title" in text
    assert "Traceback" not in text
    plain = env.cli("sweep", "--print", sweep_id)
    code, drawn = env.on_terminal("sweep", "--print", sweep_id)
    assert plain.returncode == 0 and code == 0
    for shown in (plain.stdout + plain.stderr, drawn):
        assert "\x1b]2;" not in shown and "\x1b[41m" not in shown
        assert "[/]" in shown and "[bold]x" in shown


# ---- hostile configs and environment -------------------------------------------------------------
ALIAS_BOMB = """method: random
parameters:
  x:
    values: &a9 [&a8 [&a7 [&a6 [&a5 [&a4 [&a3 [&a2 [&a1 [&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol],
      *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0], *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1],
      *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2], *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3],
      *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4], *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5],
      *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6], *a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7],
      *a8, *a8, *a8, *a8, *a8, *a8, *a8, *a8]
"""
NESTED = "method: random\nparameters:\n" + "".join(
    "  " * (i + 1) + f"p{i}:\n" + "  " * (i + 2) + "parameters:\n" for i in range(0, 400, 2)
) + "  " * 402 + "x: {value: 1}\n"


@pytest.mark.parametrize("text, where", [
    (ALIAS_BOMB, "too large"),
    (NESTED, "nested too deeply"),
    ("method: grid\nparameters:\n  x: {values: [.nan, 1]}\n", "parameters.x.values[0]"),
    ("method: random\nparameters:\n  x: {min: -1e308, max: 1e308}\n", "parameters.x.max"),
    ("method: random\nearly_terminate: {type: hyperband, max_iter: 1000000000000000000000000000000,"
     " s: 1e300, eta: 1.0000001}\nmetric: {name: loss}\nparameters:\n  x: {value: 1}\n",
     "early_terminate"),
    ("method: random\nparameters:\n  x: {values: !!binary aGVsbG8=}\n", "parameters.x.values"),
    ("method: random\nparameters:\n  x: {values: !!set {a, b}}\n", "parameters.x.values"),
])
def test_hostile_configs_are_refused_at_once_with_a_key_path(env, text, where) -> None:
    f = env.tmp / "s.yaml"
    f.write_text(text)
    t0 = time.monotonic()
    proc = env.cli("sweep", str(f), check=False)
    assert time.monotonic() - t0 < 10
    assert proc.returncode == 2 and where in proc.stderr, proc.stderr
    no_traceback(proc.stderr)
    assert not env.root.exists() or os.listdir(env.root) == []


def test_odd_but_valid_configs_run(env) -> None:
    env.program(PROGRAM)
    f = env.tmp / "s.yaml"
    f.write_text("program: train.py\nmethod: grid\nmetric: {name: loss}\nparameters:\n"
                 "  x: {min: 0, max: 3000000}\n  day: {values: [2024-01-01]}\n"
                 "  big: {min: 0, max: 1000000000000, distribution: int_uniform}\n")
    sweep_id = env.cli("sweep", str(f)).stdout.strip()
    t0 = time.monotonic()
    env.cli("agent", sweep_id, "--count", "2")
    assert time.monotonic() - t0 < 15  # no axis is listed in full
    s = env.status(sweep_id)
    assert [r["config"] for r in s["runs"]] == [{"x": 0, "day": "2024-01-01", "big": 0},
                                                {"x": 1, "day": "2024-01-01", "big": 0}]


@pytest.mark.parametrize("var, value", [
    ("SWEEPCLI_SOFT_LOCK_STALE", "soon"), ("SWEEPCLI_SOFT_LOCK_STALE", "-3"),
    ("SWEEPCLI_LOCK", "bogus"), ("SWEEPCLI_HEARTBEAT_TIMEOUT", "1 minute"),
])
def test_hostile_environment_variables_are_clear_errors(env, var, value) -> None:
    assert env.cli("--help", env={var: value}).returncode == 0
    assert env.cli("agent", "--help", env={var: value}).returncode == 0
    env.program(PROGRAM)
    sweep_id = env.create(grid(1))
    proc = env.cli("agent", sweep_id, check=False, env={var: value})
    assert proc.returncode == 2 and var in proc.stderr
    no_traceback(proc.stderr)


@pytest.mark.parametrize("var, value", [("SWEEPCLI_SOFT_LOCK_STALE", "30s"),
                                        ("SWEEPCLI_LOCK", "flock"), ("SWEEPCLI_LOCK", "fcntl"),
                                        ("SWEEPCLI_LOCK", "soft"), ("SWEEPCLI_LOCK", " Both ")])
def test_every_documented_setting_works(env, var, value) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid(2))
    env.cli("agent", sweep_id, env={var: value})
    finished_once(env, sweep_id, 2)


# ---- metric files -----------------------------------------------------------------------------
@pytest.mark.parametrize("body, values", [
    # rotated: renamed away, a new file made (logrotate's default)
    ("""w(1); w(2); os.rename(path, path + ".1"); time.sleep(0.5); w(3); w(4)""", [1, 2, 3, 4]),
    # truncated in place (copytruncate), then written again
    ("""w(5); w(6); time.sleep(0.5); open(path, "w").close(); time.sleep(0.5); w(7)""", [5, 6, 7]),
    # the last line has no newline when the program exits
    ("""w(1); open(path, "a").write('{"loss": 0.5}')""", [1, 0.5]),
    # a 3 MiB line still being written, then normal lines
    ("""open(path, "a").write('{"pad": "' + 'x' * (3 << 20)); time.sleep(1.0);
open(path, "a").write('"}\\n'); w(2)""", [2]),
])
def test_metric_files_rotated_truncated_or_unterminated_lose_no_line(env, body, values) -> None:
    env.program("import json, os, time\npath = os.environ['SWEEPCLI_METRICS_FILE']\n"
                "def w(v):\n    with open(path, 'a') as f: f.write(json.dumps({'loss': v}) + '\\n')\n"
                "    time.sleep(0.3)\n" + body + "\n")
    sweep_id = env.create(grid(1))
    proc = env.cli("agent", sweep_id)
    no_traceback(proc.stderr)
    run = env.status(sweep_id)["runs"][0]
    assert run["state"] == "finished" and run["steps"] == len(values)
    assert run["value"] == min(values)


# ---- a job array ------------------------------------------------------------------------------
def test_a_seeded_random_sweep_started_as_a_job_array_draws_distinct_points(env) -> None:
    env.program(PROGRAM)
    config = {**grid(1), "method": "random", "run_cap": 6, "sweepcli": {"seed": 1},
              "parameters": {"x": {"min": 0.0, "max": 1.0}}}
    points = []
    for _ in range(2):  # the same seed twice: the same points, however the agents interleave
        sweep_id = env.create(config)
        wait_all([env.agent(sweep_id) for _ in range(3)])  # started at the same instant
        xs = sorted(r["config"]["x"] for r in env.status(sweep_id)["runs"])
        assert len(xs) == 6 and len(set(xs)) == 6, xs
        points.append(xs)
    assert points[0] == points[1]


@pytest.mark.ci_may_skip  # where the checkout itself is private, another user cannot run it
def test_a_teammate_who_may_only_read_gets_the_sweep_or_a_clear_error(env) -> None:
    import shutil
    import tempfile
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv (util-linux) to act as another user")
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            sys.executable, "-c", "import sweepcli"], capture_output=True,
                           text=True, env=env.env)
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run this checkout's Python: {probe.stderr.strip()[-200:]}")
    shared = Path(tempfile.mkdtemp(prefix="sweepcli-shared-"))  # outside the 0700 tmp_path
    try:
        shared.chmod(0o755)
        env.program(PROGRAM)
        root = shared / "sweeps"
        sweep_id = env.create(grid(2), "--dir", str(root))
        env.cli("agent", sweep_id, "--dir", str(root))
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *CLI]
        run = lambda *a: subprocess.run([*as_nobody, *a, "--dir", str(root)], cwd=shared,  # noqa: E731
                                        env=env.env, capture_output=True, text=True, timeout=60)
        look = run("sweep", "--print", sweep_id)
        assert look.returncode == 0 and "2 finished" in look.stdout, look.stderr
        agent = run("agent", sweep_id)
        assert agent.returncode == 1 and "Permission denied" in agent.stderr
        no_traceback(look.stderr, agent.stderr)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_a_run_declared_crashed_while_its_folder_could_not_be_made_is_not_started(env) -> None:
    # no inode left: the claim goes into the journal, but the run's folder cannot be made;
    # another agent declares the run crashed and takes its point. When inodes come back, the
    # first agent must not start the run too.
    import shutil
    import tempfile
    disk = Path(tempfile.mkdtemp(prefix="sweepcli-inodes-"))
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,nr_inodes=64", "tmpfs",
                           str(disk)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        env.program(PROGRAM)
        root = disk / "sweeps"
        hb = {"SWEEPCLI_DIR": str(root), "SWEEPCLI_HEARTBEAT_TIMEOUT": "2", "SWEEPCLI_LOCK": "flock"}
        sweep_id = env.create(grid(1), "--dir", str(root))
        for name in ("clock", "lock"):
            (root / sweep_id / name).touch()
        fillers = []
        try:
            while True:
                fillers.append(disk / f"f{len(fillers)}")
                fillers[-1].touch()
        except OSError:
            fillers.pop()
        agents = [env.watched_agent(sweep_id, env=hb) for _ in range(2)]
        status = lambda: json.loads(env.cli("sweep", "--print", sweep_id, "--json",  # noqa: E731
                                            env=hb).stdout)
        # declared crashed, then resumed by the other agent as its next attempt (no run at
        # all until an agent has claimed the point: on a loaded machine the first look can
        # come before either agent has started)
        def resumed() -> bool:
            runs = status()["runs"]
            return bool(runs) and runs[0]["attempt"] == 2
        env.wait_for(resumed, timeout=60)
        for f in fillers:
            f.unlink()
        for a in agents:
            assert a.wait(timeout=60) == 0, a.text()
        assert any("it is not started here" in a.text() for a in agents)
        (run,) = status()["runs"]
        assert [a["state"] for a in run["attempts"]] == ["crashed", "finished"]
        # its program ran once (one epoch, one metric line), not once per agent
        assert run["state"] == "finished" and len(run["attempts"]) == 2
        lines = (root / sweep_id / "runs" / run["run_id"] / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == 1
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
        shutil.rmtree(disk, ignore_errors=True)


# ---- hostile input (issue 23) -------------------------------------------------------------------
def test_a_metric_line_nested_3000_deep_is_skipped_and_the_run_finishes(env) -> None:
    env.program("""
        import json, os
        with open(os.environ["SWEEPCLI_METRICS_FILE"], "a") as f:
            f.write("[" * 3000 + "]" * 3000 + "\\n")
            f.write('{"deep": ' + "[" * 3000 + "]" * 3000 + '}\\n')
            f.write(json.dumps({"loss": 0.5}) + "\\n")
    """)
    sweep_id = env.create(grid(1))
    proc = env.cli("agent", sweep_id)
    no_traceback(proc.stderr)
    s = finished_once(env, sweep_id, 1)
    assert s["runs"][0]["value"] == 0.5


def test_hostile_journal_lines_are_skipped_and_counted(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({**grid(2), "parameters": {
        "x": {"values": [1, 2]}, "m": {"parameters": {"d": {"values": [1]}}}}})
    claim = {"op": "claim", "grid": None, "retry_of": None, "agent": "x:1", "hb": 60}
    hostile = [
        json.dumps({**claim, "run": "aaaaaaaa", "params": {"x": 1, "m.d": 1}})[:-1]
        + ', "nested": ' + "[" * 3000 + "]" * 3000 + "}",
        json.dumps({**claim, "run": "bbbbbbbb", "params": {"x": 1}}).replace("1}", "NaN}"),
        json.dumps({**claim, "run": "../../cc", "params": {"x": 1}}),
    ]
    with open(env.root / sweep_id / "journal.jsonl", "a") as f:
        f.write("".join(line + "\n" for line in hostile))
    look = env.cli("sweep", "--print", sweep_id)
    no_traceback(look.stderr)
    assert "3 line(s) skipped" in look.stdout
    assert env.status(sweep_id)["journal_lines_skipped"] == 3
    proc = env.cli("agent", sweep_id)
    no_traceback(proc.stderr)
    finished_once(env, sweep_id, 2)


def _alias_bomb(path: Path) -> Path:
    """A YAML file of a few hundred bytes whose aliases expand to 9^9 values."""
    lines, prev = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'], "a"
    for c in "bcdefghi":
        lines.append(f"{c}: &{c} [" + ",".join(["*" + prev] * 9) + "]")
        prev = c
    path.write_text("- " + "\n  ".join(lines) + "\n")
    return path


def test_points_and_prior_files_that_would_exhaust_a_reader_are_refused_with_where(env) -> None:
    env.program(PROGRAM)
    config = grid(2)
    sweep_id = env.create(config)
    bomb = _alias_bomb(env.tmp / "bomb.yaml")
    assert bomb.stat().st_size < 600
    proc = env.cli("enqueue", sweep_id, "--file", str(bomb), check=False, timeout=60)
    assert proc.returncode == 2 and "aliases are expanded" in proc.stderr, proc.stderr
    proc = env.cli("enqueue", sweep_id, "--set", "x=" + bomb.read_text().replace("\n", " ")
                   .replace("- a:", "{a:", 1) + "}", check=False, timeout=60)
    assert proc.returncode == 2, proc.stderr
    deep = env.tmp / "deep.jsonl"
    deep.write_text('{"x": 1}\n{"x": ' + "[" * 3000 + "]" * 3000 + "}\n")
    proc = env.cli("enqueue", sweep_id, "--file", str(deep), check=False)
    assert proc.returncode == 2 and "line 2" in proc.stderr, proc.stderr
    (env.tmp / "cfg.yaml").write_text(json.dumps(config))
    proc = env.cli("sweep", "cfg.yaml", "--prior", str(deep), check=False)
    assert proc.returncode == 2 and "deep.jsonl: line 2" in proc.stderr, proc.stderr
    wide = env.tmp / "wide.csv"
    wide.write_text("x,loss\n1,0.5\n" + "y" * 140_000 + ",1\n")
    proc = env.cli("sweep", "cfg.yaml", "--prior", str(wide), check=False)
    assert proc.returncode == 2 and "wide.csv: row 3" in proc.stderr, proc.stderr
    no_traceback(proc.stderr)
    assert env.status(sweep_id)["queue"] == []


def test_a_program_sent_sigterm_by_someone_else_is_not_finished(env) -> None:
    """A batch system signals the whole job, the program often before its agent: a program
    that stops early on ``run.should_stop`` and exits 0 did not reach its end."""
    env.program("""
        import os, signal, sweepcli
        with sweepcli.init() as run:
            for epoch in range(20):
                run.log({"loss": 1.0 / (epoch + 1), "epoch": epoch})
                if run.attempt == 1 and epoch == 3:
                    os.kill(os.getpid(), signal.SIGTERM)  # as scancel would, not the agent
                if run.should_stop:
                    break
    """)
    sweep_id = env.create(grid(1))
    proc = env.cli("agent", sweep_id)
    no_traceback(proc.stderr)
    assert "sent SIGTERM" in proc.stderr, proc.stderr
    (run,) = finished_once(env, sweep_id, 1)["runs"]
    assert [a["state"] for a in run["attempts"]] == ["preempted", "finished"], run["attempts"]
    assert run["attempts"][0]["reason"] and "SIGTERM" in run["attempts"][0]["reason"]


# ---- snapshots: a cache that cannot lie (issue 23) -------------------------------------------
def test_a_snapshot_edited_by_a_byte_costs_a_replay_never_a_rerun(env) -> None:
    env.program(QUICK)
    sweep_id = env.create(grid(3))
    env.cli("agent", sweep_id, "--count", "2", env={"SWEEPCLI_SNAPSHOT_EVERY": "1"})
    snap = env.root / sweep_id / "snapshot.jsonl"
    good = snap.read_bytes()
    truth = env.status(sweep_id)
    assert truth["counts"]["finished"] == 2
    for edit in (b'"state":"running"', b'"state":"finishd"'):
        assert b'"state":"finished"' in good
        snap.write_bytes(good.replace(b'"state":"finished"', edit, 1))
        look = env.cli("sweep", "--print", sweep_id, "--json")
        no_traceback(look.stderr)
        assert json.loads(look.stdout)["counts"] == truth["counts"], edit
    snap.write_bytes(good.replace(b'"state":"finished"', b'"state":"running"', 1))
    proc = env.cli("agent", sweep_id, env={"SWEEPCLI_HEARTBEAT_TIMEOUT": "1"})
    no_traceback(proc.stderr)
    s = finished_once(env, sweep_id, 3)
    assert s["counts"]["crashed"] == 0 and all(r["attempt"] == 1 for r in s["runs"])


def test_a_huge_sparse_snapshot_is_not_read(env) -> None:
    env.program(QUICK)
    sweep_id = env.create(grid(2))
    env.cli("agent", sweep_id, env={"SWEEPCLI_SNAPSHOT_EVERY": "1"})
    snap = env.root / sweep_id / "snapshot.jsonl"
    header = snap.read_bytes().split(b"\n", 1)[0]
    with open(snap, "wb") as f:
        f.write(header + b"\n")
        f.truncate(1_500_000_000)  # sparse: costs no disk, 1.5 GB to whoever reads it
    probe = ("import resource, subprocess, sys\n"
             "p = subprocess.run(sys.argv[1:], capture_output=True)\n"
             "sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
             "sys.exit(p.returncode)")
    proc = subprocess.run([sys.executable, "-c", probe, *CLI, "sweep", "--print", sweep_id],
                          cwd=env.tmp, env=env.env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) < 400_000, f"{proc.stdout} KiB"  # not the 1.5 GB file
    finished_once(env, sweep_id, 2)


# ---- a lock held by a stopped process (issue 23) ---------------------------------------------
class _HeldLock:
    """The sweep lock held by this test as a process stopped while holding it would."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __enter__(self) -> _HeldLock:
        self.f = open(self.folder / "lock", "a")  # noqa: SIM115 - held until __exit__
        fcntl.flock(self.f, fcntl.LOCK_EX)
        fd = os.open(self.folder / "lock.soft", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        os.write(fd, b'{"host": "stopped-process"}')
        os.close(fd)
        return self

    def __exit__(self, *exc) -> None:
        os.unlink(self.folder / "lock.soft")
        self.f.close()


@pytest.mark.parametrize("then", ["waits", "is killed", "is preempted"])
def test_a_finished_runs_end_is_never_lost_while_the_lock_is_held_elsewhere(env, then) -> None:
    go = env.tmp / "go"
    env.program(f"""
        import json, os, time
        with open(os.environ["SWEEPCLI_METRICS_FILE"], "a") as f:
            for epoch in range(3):
                f.write(json.dumps({{"loss": 1.0 / (epoch + 1)}}) + "\\n")
        while not os.path.exists({str(go)!r}):  # until the test lets it end
            time.sleep(0.05)
    """)
    sweep_id = env.create({**grid(1), "run_cap": 1})
    agent = env.watched_agent(sweep_id, env={"SWEEPCLI_HEARTBEAT_TIMEOUT": "2"})
    env.wait_for(lambda: env.status(sweep_id)["counts"]["running"] == 1)
    with _HeldLock(env.root / sweep_id):
        go.touch()  # the program ends while the lock is held elsewhere
        agent.wait_for_text("end is kept in")
        if then == "is killed":  # the agent (its host) dies: its end is in the run's folder
            os.killpg(agent.pid, signal.SIGKILL)
            agent.wait(timeout=30)
        elif then == "is preempted":  # it hands over, and says so
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(timeout=30) == 3, agent.text()
            assert "cannot record the end of run" in agent.text()
    if then == "waits":
        assert agent.wait(timeout=60) == 0, agent.text()
        assert "record the end of run" in agent.text() and "done" in agent.text()
    else:
        def ended() -> bool:  # a look that finds its heartbeat silent records the kept end
            proc = env.cli("sweep", "--print", sweep_id, "--json",
                           env={"SWEEPCLI_HEARTBEAT_TIMEOUT": "1"})
            no_traceback(proc.stderr)
            return json.loads(proc.stdout)["counts"]["running"] == 0
        env.wait_for(ended, timeout=60)
    no_traceback(agent.text())
    (run,) = finished_once(env, sweep_id, 1)["runs"]
    assert run["attempt"] == 1 and run["steps"] == 3 and run["value"] == pytest.approx(1 / 3)
    assert not (env.root / sweep_id / "runs" / run["run_id"] / "end.json").exists() or then != "waits"


# ---- a writer stalled between its lock check and its write (issue 23) -------------------------
def test_a_claim_written_after_its_lock_was_broken_is_fenced_off(env) -> None:
    """Agent A is stopped (as by SIGSTOP, a SLURM suspend, a frozen VM) exactly at the
    write of its claim, after its last check of the lock; B breaks the stale lock and runs
    the point. When A wakes, its write lands after B's fence: nobody counts it, and A does
    not run the point."""
    strace = pytest.importorskip("shutil").which("strace")
    if strace is None:
        pytest.skip("needs strace (Debian package strace)")
    env.program(QUICK)
    sweep_id = env.create(grid(2))
    env.cli("sweep", "--pause", sweep_id)  # two lines: the writer reads the last byte first
    env.cli("sweep", "--resume", sweep_id)
    journal = env.root / sweep_id / "journal.jsonl"
    lock = {"SWEEPCLI_LOCK": "soft", "SWEEPCLI_SOFT_LOCK_STALE": "2"}  # flock not shared
    # A's journal calls: two reads (open, and the claim's refresh), 2 preads each; then the
    # append checks the lock, opens the journal, reads its last byte (the 5th pread): it is
    # stopped there, its claim not yet written
    trace = env.tmp / "strace.log"
    a = subprocess.Popen([strace, "-f", "-qq", "-o", str(trace), "-P", str(journal),
                          "-e", "trace=pread64", "-e", "inject=pread64:signal=SIGSTOP:when=5",
                          *CLI, "agent", sweep_id], cwd=env.tmp, env={**env.env, **lock},
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    env.wait_for(lambda: trace.exists() and "stopped by SIGSTOP" in trace.read_text(), timeout=60)
    assert (env.root / sweep_id / "lock.soft").exists()  # A holds the lock, stopped
    assert b'"claim"' not in journal.read_bytes()
    b = env.agent(sweep_id, env=lock)
    assert b.wait(timeout=120) == 0, b.stderr.read()
    for child in Path(f"/proc/{a.pid}/task/{a.pid}/children").read_text().split():
        os.kill(int(child), signal.SIGCONT)
    assert a.wait(timeout=120) == 0, a.stderr.read()
    s = finished_once(env, sweep_id, 2)
    assert len(s["runs"]) == 2, s["runs"]
    assert len(list((env.root / sweep_id / "runs").iterdir())) == 2  # A made no run folder


# ---- messages a person can act on (issue 23) ----------------------------------------------------
def test_errors_that_once_read_badly_say_what_and_where(env, small_tmpfs) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(grid(1))
    # a full disk: the error names no file, and said "Error: : No space left on device"
    (env.tmp / "sweep.yaml").write_text(json.dumps(grid(2)))
    fill(small_tmpfs)
    proc = env.cli("sweep", "sweep.yaml", "--dir", str(small_tmpfs / "sweeps"), check=False)
    assert proc.returncode == 1 and "No space left on device" in proc.stderr, proc.stderr
    assert "Error: :" not in proc.stderr
    # an unusable setting is a usage error, said before any sweep is looked for
    proc = env.cli("agent", "zzzzzzzz", check=False,
                   env={"SWEEPCLI_AGENT_MAX_INITIAL_FAILURES": "x"})
    assert proc.returncode == 2 and "SWEEPCLI_AGENT_MAX_INITIAL_FAILURES" in proc.stderr
    # the wrong folder: where it looked, and how to say where to look
    elsewhere = env.tmp / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run([*CLI, "agent", sweep_id], cwd=elsewhere, capture_output=True,
                          text=True, env={**env.env, "SWEEPCLI_DIR": ""}, timeout=60)
    assert proc.returncode == 1 and "--dir" in proc.stderr and "SWEEPCLI_DIR" in proc.stderr
    # a name that is not a string
    api = subprocess.run([sys.executable, "-c", "import sweepcli, sys\n"
                          "sweepcli.sweep({'method': 'grid', 'parameters': {'x': {'value': 1}}},"
                          " name=5, dir=sys.argv[1])", str(env.root)],
                         capture_output=True, text=True, cwd=env.tmp)
    assert api.returncode == 1 and "name: must be a string" in api.stderr


def test_a_claim_whose_names_collide_with_a_nested_group_does_not_break_a_look(env) -> None:
    """A parameter may sit beside a dotted name under it (W&B's flat names), so replay takes
    such a claim; where the space nests the dotted name instead, looking must still work."""
    env.program(PROGRAM)
    sweep_id = env.create({**grid(2), "parameters": {
        "x": {"values": [1, 2]}, "m": {"parameters": {"d": {"values": [1]}}}}})
    claim = {"op": "claim", "grid": None, "retry_of": None, "agent": "x:1", "hb": 60,
             "run": "cccccccc", "params": {"x": 1, "m": 5, "m.d": 1}}
    with open(env.root / sweep_id / "journal.jsonl", "a") as f:
        f.write(json.dumps(claim) + "\n")
    look = env.cli("sweep", "--print", sweep_id)
    no_traceback(look.stderr)
    (run,) = env.status(sweep_id)["runs"]
    assert run["config"] == {"x": 1, "m": 5, "m.d": 1}
