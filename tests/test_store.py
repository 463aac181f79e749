"""The store: locks (fcntl and soft), the journal, atomic writes, stale runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from sweepcli.agent import retry_queue
from sweepcli.agent.liveness import Silence, crash_event, end_dead_runs, end_silent_runs, judge
from sweepcli.config import validate
from sweepcli.runs import Run
from sweepcli.store import LockTimeout, Store
from sweepcli.store.files import write_atomic
from sweepcli.store.journal import Journal
from sweepcli.store.lock import SoftLock

CONFIG = validate({"method": "random", "parameters": {"a": {"min": 0.0, "max": 1.0}}})


def test_soft_lock_excludes_and_releases(tmp_path) -> None:
    a, b = SoftLock(tmp_path / "l"), SoftLock(tmp_path / "l")
    a.acquire(1)
    with pytest.raises(LockTimeout):
        b.acquire(0.2)
    a.release()
    b.acquire(0.2)
    b.release()
    assert not (tmp_path / "l").exists()


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout.strip())


@pytest.mark.e2e
def test_soft_lock_left_by_a_dead_process_of_this_machine_is_broken_at_once(tmp_path) -> None:
    from sweepcli.store.lock import _machine
    (tmp_path / "l").write_text(json.dumps({**_machine(), "pid": _dead_pid(), "token": "x"}))
    lock = SoftLock(tmp_path / "l", stale_seconds=30)
    lock.acquire(2)  # broken at once, not after the stale time
    assert json.loads((tmp_path / "l").read_text())["pid"] == os.getpid()
    lock.release()
    assert not list(tmp_path.glob("l*"))


@pytest.mark.e2e
def test_a_dead_pid_of_another_pid_namespace_or_boot_is_not_taken_for_dead(tmp_path) -> None:
    # containers that share a host name but not a PID namespace: their PIDs mean nothing here
    from sweepcli.store.lock import _machine
    for other in ({"pidns": "pid:[1]"}, {"boot": "another-boot"}, {"host": "elsewhere"}):
        (tmp_path / "l").write_text(json.dumps({**_machine(), "pid": _dead_pid(), **other}))
        with pytest.raises(LockTimeout):
            SoftLock(tmp_path / "l", stale_seconds=30).acquire(0.3)


def test_soft_lock_is_broken_only_after_it_stayed_unchanged_for_the_stale_time(tmp_path) -> None:
    # judged by the waiter's own monotonic clock: the file's mtime (another host's, or the
    # server's) is never compared with our clock, so a skewed clock cannot break a live lock
    (tmp_path / "l").write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    future = time.time() + 3600
    os.utime(tmp_path / "l", (future, future))
    with pytest.raises(LockTimeout):
        SoftLock(tmp_path / "l", stale_seconds=1.0).acquire(0.5)
    t0 = time.monotonic()
    lock = SoftLock(tmp_path / "l", stale_seconds=1.0)
    lock.acquire(5)
    assert time.monotonic() - t0 >= 1.0
    lock.release()


def test_a_live_holder_keeps_its_soft_lock_however_long_it_holds_it(tmp_path) -> None:
    holder = SoftLock(tmp_path / "l", stale_seconds=2.0)
    holder.acquire(1)
    with pytest.raises(LockTimeout):
        SoftLock(tmp_path / "l", stale_seconds=2.0).acquire(5)  # refreshed: never stale
    holder.check()
    holder.release()


def test_a_holder_whose_soft_lock_was_broken_knows_it(tmp_path) -> None:
    from sweepcli.store import LockLost
    holder = SoftLock(tmp_path / "l", stale_seconds=30)
    holder.acquire(1)
    os.unlink(tmp_path / "l")  # what a breaker does to a holder that stalled
    with pytest.raises(LockLost):
        holder.check()


def test_garbage_soft_lock_file_is_broken_once_stale(tmp_path) -> None:
    (tmp_path / "l").write_bytes(b"\x00garbage")
    lock = SoftLock(tmp_path / "l", stale_seconds=0.5)
    with pytest.raises(LockTimeout):
        lock.acquire(0.1)  # not stale yet: not broken
    lock.acquire(3)
    assert json.loads((tmp_path / "l").read_text())["token"] == lock.token  # ours now
    lock.check()
    lock.release()
    assert not (tmp_path / "l").exists()


WRITER = """
import sys
from sweepcli.store import Store
folder = Store(sys.argv[1]).open(sys.argv[2])
for i in range(int(sys.argv[3])):
    with folder.lock:
        folder.refresh()
        n = len(folder.state.runs)
        folder.append({"op": "claim", "run": folder.new_run_id(), "params": {"n": n}})
"""


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["fcntl", "soft"])
def test_parallel_writers_never_lose_or_repeat_an_event(tmp_path, kind) -> None:
    folder = Store(tmp_path).create(CONFIG)
    env = {**os.environ, "SWEEPCLI_LOCK": kind}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), folder.sweep_id, "40"],
                              env=env) for _ in range(4)]
    for p in procs:
        assert p.wait(timeout=120) == 0
    folder.refresh()
    seen = sorted(r.params["n"] for r in folder.state.runs.values())
    # under the lock each writer saw every earlier event: n counts 0..159 exactly once
    assert seen == list(range(160))


def test_journal_reads_incrementally_and_skips_bad_lines(tmp_path) -> None:
    j = Journal(tmp_path / "j.jsonl")
    j.append([{"op": "a"}, {"op": "b"}])
    assert [e["op"] for e in j.read_new()] == ["a", "b"]
    assert j.read_new() == []
    with open(tmp_path / "j.jsonl", "ab") as f:
        f.write(b'{"op": "c"}\n[1]\n{"op": "d"')  # an unparsable line and a torn one
    assert [e["op"] for e in j.read_new()] == ["c"]
    j.append([{"op": "e"}])  # starts on its own line; the torn line becomes one skipped line
    assert [e["op"] for e in j.read_new()] == ["e"]
    assert j.skipped == 2


def test_write_atomic_replaces_whole_files(tmp_path) -> None:
    target = tmp_path / "f.json"
    write_atomic(target, "old")
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def _running(rid: str = "aaaaaaaa", timeout: float | None = None) -> Run:
    return Run(rid, {"a": 0.5}, heartbeat_timeout=timeout)


def test_a_heartbeat_silent_past_the_timeout_is_watched_one_interval_then_dead() -> None:
    """The clocks are passed in: the observer's monotonic one and the store's."""
    run, silence = _running(), Silence()
    look = lambda mono, stamp, now=100.0: judge([run], {run.run_id: stamp}, now, mono, 1.0,  # noqa: E731
                                                silence)
    assert look(0.0, 99.9) == ([], None)  # first look: silent since now
    assert look(0.6, 100.5) == ([], None)  # it beats: silence starts again
    assert look(1.2, 100.5) == ([], None)
    dead, wait = look(1.8, 100.5)  # 1.2 s unchanged: a suspect, watched 1 / 4 s + 0.5 s
    assert dead == [] and wait == pytest.approx(0.75)
    assert look(2.4, 100.5)[0] == []
    assert look(2.6, 100.5) == (["aaaaaaaa"], None)


def test_a_suspect_that_beats_again_is_not_dead() -> None:
    # silent past its timeout (its host stopped, or the lock held for long), then it beats
    run, silence = _running(), Silence()
    judge([run], {run.run_id: 50.0}, 50.0, 0.0, 1.0, silence)
    assert judge([run], {run.run_id: 50.0}, 51.2, 1.2, 1.0, silence)[0] == []  # a suspect
    assert run.run_id in silence.suspects
    assert judge([run], {run.run_id: 52.0}, 52.0, 2.0, 1.0, silence) == ([], None)  # resumed
    assert silence.suspects == {}


def test_old_timestamps_make_suspects_and_are_judged_by_watching_too() -> None:
    """Stamped an hour ago (dead, or by a clock an hour behind): suspects at first sight,
    dead only if still unchanged one interval later."""
    runs, silence = [_running("aaaaaaaa"), _running("bbbbbbbb")], Silence()
    stamps: dict[str, float | None] = {"aaaaaaaa": 0.0, "bbbbbbbb": 0.0}
    dead, wait = judge(runs, stamps, 3600.0, 0.0, 2.0, silence)
    assert dead == [] and wait == pytest.approx(1.0)
    stamps["bbbbbbbb"] = 3600.5  # this one's agent is alive
    assert judge(runs, stamps, 3601.0, 1.1, 2.0, silence)[0] == ["aaaaaaaa"]


def test_a_run_declares_its_timeout_and_observers_keep_to_it() -> None:
    run, silence = _running(timeout=3.0), Silence()  # its agent beats every 0.75 s
    assert judge([run], {run.run_id: 0.0}, 0.0, 0.0, 1.0, silence) == ([], None)
    assert judge([run], {run.run_id: 0.0}, 1.5, 1.5, 1.0, silence) == ([], None)
    dead, wait = judge([run], {run.run_id: 0.0}, 3.2, 3.2, 1.0, silence)  # a suspect
    assert dead == [] and wait == pytest.approx(1.25)
    assert judge([run], {run.run_id: 0.0}, 4.5, 4.5, 1.0, silence)[0] == ["aaaaaaaa"]


def test_a_dead_run_is_crashed_and_resumed_then_failed_past_max_retries() -> None:
    run = _running()
    assert crash_event(run, 3)["state"] == "crashed"
    run.crashes = 3
    failed = crash_event(run, 3)
    assert failed["state"] == "failed" and "crashed 4 times (sweepcli.max_retries 3)" in failed["reason"]
    assert crash_event(_running(), 0)["state"] == "failed"  # 0: failed at its first crash


def test_the_dead_run_of_a_store_is_crashed_and_requeued(tmp_path) -> None:
    folder = Store(tmp_path).create(CONFIG)
    clock = [0.0]
    with folder.lock:
        folder.append({"op": "claim", "run": "aaaaaaaa", "params": {"a": 0.5}})
        folder.make_run_dir("aaaaaaaa")
        old = time.time() - 60  # its agent beat last a minute ago
        os.utime(folder.run_dir("aaaaaaaa") / "heartbeat", (old, old))
        silence = Silence()
        assert end_dead_runs(folder, 1.0, silence, mono=lambda: clock[0])[0] == []  # a suspect
        clock[0] = 1.0
        assert end_dead_runs(folder, 1.0, silence, mono=lambda: clock[0])[0] == ["aaaaaaaa"]
    assert folder.state.runs["aaaaaaaa"].state == "crashed"
    assert [r.run_id for r in retry_queue(folder.config, folder.state)] == ["aaaaaaaa"]


def test_a_one_shot_reader_crashes_a_run_only_after_watching_it_stay_silent(tmp_path) -> None:
    folder = Store(tmp_path).create(CONFIG)
    with folder.lock:
        for rid in ("aaaaaaaa", "bbbbbbbb", "cccccccc"):
            folder.append({"op": "claim", "run": rid, "params": {"a": 0.5}})
            folder.make_run_dir(rid)
        for rid in ("aaaaaaaa", "bbbbbbbb"):
            old = time.time() - 60  # stamped long ago: by a dead agent, or a clock far behind
            os.utime(folder.run_dir(rid) / "heartbeat", (old, old))
    clock, said = [0.0], []

    def wait(seconds: float) -> None:  # while the reader waits, bbbbbbbb's live agent beats
        clock[0] += seconds
        folder.heartbeat("bbbbbbbb")

    reader = Store(tmp_path).open(folder.sweep_id)
    dead = end_silent_runs(reader, 4.0, said.append, sleep=wait, mono=lambda: clock[0])
    assert dead == ["aaaaaaaa"] and clock[0] == pytest.approx(1.5)  # one interval and a half
    assert "aaaaaaaa" in said[0] and "bbbbbbbb" in said[0]
    assert {r.run_id: r.state.value for r in reader.state.runs.values()} == {
        "aaaaaaaa": "crashed", "bbbbbbbb": "running", "cccccccc": "running"}


def test_store_refuses_unchecked_ids(tmp_path) -> None:
    from sweepcli.store import InvalidId
    store = Store(tmp_path)
    for bad in ["../x", "a/b/c", "", "ABCDEFGH", "abcdefgh/../../x"]:
        with pytest.raises(InvalidId):
            store.open(bad)
    folder = store.create(CONFIG)
    with pytest.raises(InvalidId):
        folder.run_dir("../../etc")


def test_a_lock_file_left_empty_goes_stale_across_short_attempts(tmp_path) -> None:
    # a holder killed between its exclusive create and its write leaves an empty file; a
    # waiter that tries in short attempts (as agents do, to stay free for signals) must
    # still see it stay unchanged for the stale time
    (tmp_path / "l").touch()
    lock = SoftLock(tmp_path / "l", stale_seconds=1.0)
    t0 = time.monotonic()
    while True:
        try:
            lock.acquire(0.3)
            break
        except LockTimeout:
            assert time.monotonic() - t0 < 10
    assert time.monotonic() - t0 >= 1.0
    lock.release()
