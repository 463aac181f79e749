"""The store: locks (fcntl and soft), the journal, atomic writes, stale runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from sweepcli.config import validate
from sweepcli.store import Journal, LockTimeout, SoftLock, Store, write_atomic

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


def test_soft_lock_left_by_a_dead_process_of_this_machine_is_broken_at_once(tmp_path) -> None:
    from sweepcli.store.lock import _machine
    (tmp_path / "l").write_text(json.dumps({**_machine(), "pid": _dead_pid(), "token": "x"}))
    lock = SoftLock(tmp_path / "l", stale_seconds=30)
    lock.acquire(2)  # broken at once, not after the stale time
    assert json.loads((tmp_path / "l").read_text())["pid"] == os.getpid()
    lock.release()
    assert not list(tmp_path.glob("l*"))


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
    lock.acquire(3)
    lock.release()


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


def test_a_silent_heartbeat_turns_the_run_crashed_and_requeues_it(tmp_path) -> None:
    folder = Store(tmp_path).create(CONFIG)
    with folder.lock:
        folder.append({"op": "claim", "run": "aaaaaaaa", "params": {"a": 0.5}})
        folder.make_run_dir("aaaaaaaa")
        assert folder.mark_stale_runs(timeout=1) == []  # first look: silent since now
        time.sleep(0.6)
        folder.heartbeat("aaaaaaaa")  # it beats: silence starts again
        assert folder.mark_stale_runs(timeout=1) == []
        time.sleep(0.6)
        assert folder.mark_stale_runs(timeout=1) == []
        time.sleep(0.6)
        assert folder.mark_stale_runs(timeout=1) == []  # 1.2 s unchanged: a suspect
        time.sleep(0.8)  # one interval (1 / 4 s) and half a second later, still silent
        assert folder.mark_stale_runs(timeout=1) == ["aaaaaaaa"]
    assert folder.state.runs["aaaaaaaa"].state == "crashed"
    from sweepcli.agent import retry_queue
    assert [r.run_id for r in retry_queue(folder.config, folder.state)] == ["aaaaaaaa"]


def test_a_stalled_agent_that_beats_again_is_not_crashed(tmp_path) -> None:
    # silent past its timeout (its host stopped, or the lock held for long), then it beats
    folder = Store(tmp_path).create(CONFIG)
    with folder.lock:
        folder.append({"op": "claim", "run": "aaaaaaaa", "params": {"a": 0.5}})
        folder.make_run_dir("aaaaaaaa")
        folder.mark_stale_runs(timeout=1)
        time.sleep(1.2)
        assert folder.mark_stale_runs(timeout=1) == []  # a suspect
        folder.heartbeat("aaaaaaaa")  # resumed
        time.sleep(0.8)
        assert folder.mark_stale_runs(timeout=1) == []
    assert folder.state.runs["aaaaaaaa"].state == "running"


def test_a_one_shot_reader_crashes_a_run_only_after_watching_it_stay_silent(tmp_path) -> None:
    import threading
    folder = Store(tmp_path).create(CONFIG)
    with folder.lock:
        for rid in ("aaaaaaaa", "bbbbbbbb", "cccccccc"):
            folder.append({"op": "claim", "run": rid, "params": {"a": 0.5}})
            folder.make_run_dir(rid)
        for rid in ("aaaaaaaa", "bbbbbbbb"):
            old = time.time() - 60  # stamped long ago: by a dead agent, or a clock far behind
            os.utime(folder.run_dir(rid) / "heartbeat", (old, old))
    alive = threading.Event()

    def beat() -> None:  # bbbbbbbb's agent is alive: it beats while the reader watches
        while not alive.wait(0.2):
            folder.heartbeat("bbbbbbbb")

    threading.Timer(0.3, beat).start()
    try:
        reader = Store(tmp_path).open(folder.sweep_id)
        t0 = time.monotonic()
        assert reader.crash_silent_runs(timeout=4) == ["aaaaaaaa"]
        assert 1.5 <= time.monotonic() - t0 < 5  # watched one interval (4 / 4 s) and a half
    finally:
        alive.set()
    assert {r.run_id: r.state.value for r in reader.state.runs.values()} == {
        "aaaaaaaa": "crashed", "bbbbbbbb": "running", "cccccccc": "running"}


def test_an_agent_judges_old_timestamps_by_watching_too(tmp_path) -> None:
    folder = Store(tmp_path).create(CONFIG)
    with folder.lock:
        for rid in ("aaaaaaaa", "bbbbbbbb"):
            folder.append({"op": "claim", "run": rid, "params": {"a": 0.5}})
            folder.make_run_dir(rid)
            old = time.time() - 3600  # stamped long ago: dead, or by a clock an hour behind
            os.utime(folder.run_dir(rid) / "heartbeat", (old, old))
        assert folder.mark_stale_runs(timeout=2) == []  # at first sight: suspects only
        folder.heartbeat("bbbbbbbb")  # this one's agent is alive
        time.sleep(1.1)  # 2 / 4 s and half a second
        assert folder.mark_stale_runs(timeout=2) == ["aaaaaaaa"]


def test_a_run_declares_its_timeout_and_readers_keep_to_it(tmp_path) -> None:
    from sweepcli.store import claim_event
    folder = Store(tmp_path).create(CONFIG)
    with folder.lock:
        folder.append(claim_event("aaaaaaaa", {"a": 0.5}, None, None, "h:1", 3.0))
        folder.make_run_dir("aaaaaaaa")
        folder.mark_stale_runs(timeout=1)
        time.sleep(1.5)
        assert folder.mark_stale_runs(timeout=1) == []  # its agent beats every 0.75 s
        time.sleep(1.7)
        assert folder.mark_stale_runs(timeout=1) == []  # 3.2 s: a suspect
        time.sleep(1.3)  # 3 / 4 s and half a second later
        assert folder.mark_stale_runs(timeout=1) == ["aaaaaaaa"]


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
