"""Big sweeps: snapshots of the replayed state, journals written by 025969b, idempotent
events; snapshots written by concurrent agents that are SIGKILLed, checked against a full
replay of the journal."""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from pathlib import Path

from sweepcli.config import validate
from sweepcli.store import Store
from sweepcli.store.events import claim_event, end_event, metric_event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from bench_scale import CONFIG, generate  # noqa: E402  (the benchmark's faithful generator)

from .conftest import PROGRAM  # noqa: E402



def look(env, sweep_id: str) -> dict:
    s = env.status(sweep_id)
    return {"counts": s["counts"], "best": s["best"], "state": s["state"],
            "runs": sorted((r["run_id"], r["state"], r["value"], r["steps"], r["attempt"],
                            json.dumps(r["config"], sort_keys=True)) for r in s["runs"])}


def full_replay(env, sweep_id: str) -> dict:
    """What a reader sees with no snapshot at all: the journal replayed from its start."""
    snap = env.root / sweep_id / "snapshot.jsonl"
    if snap.exists():
        snap.unlink()
    return look(env, sweep_id)


def test_a_journal_written_by_025969b_is_read_exactly_then_from_a_snapshot(env) -> None:
    sweep_id, best = generate(env.root, 300, 100)  # about 2.6 MB: past the snapshot size
    journal = env.root / sweep_id / "journal.jsonl"
    first = env.status(sweep_id)
    assert first["counts"]["finished"] == 300 and first["best"]["value"] == best
    assert all(r["steps"] == 100 for r in first["runs"])
    snap = env.root / sweep_id / "snapshot.jsonl"
    header = json.loads(snap.read_text().split("\n", 1)[0])
    assert header["offset"] == journal.stat().st_size and header["events"] == 300
    # a later reader starts from it: the same answer, and the journal was not touched
    before = journal.read_bytes()
    assert env.status(sweep_id) == first
    assert journal.read_bytes() == before
    # deleting it loses nothing
    snap.unlink()
    assert env.status(sweep_id) == first


def test_a_snapshot_that_does_not_match_the_journal_is_not_used(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": [1, 2, 3, 4]}}})
    env.cli("agent", sweep_id, "--count", "2", env={"SWEEPCLI_SNAPSHOT_EVERY": "1"})
    snap = env.root / sweep_id / "snapshot.jsonl"
    assert snap.exists()
    truth = look(env, sweep_id)
    good = snap.read_bytes()
    header, body = good.split(b"\n", 1)
    for damaged in (
        header + b"\n" + body[: len(body) // 2],  # torn (no rename would leave it so)
        b"not json\n" + body,
        header.replace(b'"offset": ', b'"offset": 1') + b"\n" + body,  # covers other bytes
        header + b"\n" + body.replace(b'"state":"finished"', b'"state":"running"', 1)
        + b'{"op":"run","run":"zzzzzzzz","record":{}}\n',  # one line too many
    ):
        snap.write_bytes(damaged)
        assert look(env, sweep_id) == truth, damaged[:80]
    # a snapshot of another sweep's journal: its bytes are not this journal's
    other = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                        "parameters": {"x": {"values": [7]}}})
    env.cli("agent", other, env={"SWEEPCLI_SNAPSHOT_EVERY": "1"})
    snap.write_bytes((env.root / other / "snapshot.jsonl").read_bytes())
    assert look(env, sweep_id) == truth


def test_a_line_read_twice_adds_nothing(tmp_path) -> None:
    """Metric events say where their values start, so a restored journal in which a line
    appears twice (the restorer's copy, and the original) counts it once."""
    folder = Store(tmp_path).create(validate(CONFIG))
    with folder.lock:
        folder.append(claim_event("aaaaaaaa", {"lr": 0.01, "bs": 16}, None, None, "h:1", 60.0))
        first = metric_event("aaaaaaaa", [3.0, 2.0], at=0)
        folder.append(first, dict(first), metric_event("aaaaaaaa", [1.0], at=2),
                      metric_event("aaaaaaaa", [2.0, 1.0, 0.5], at=1),
                      end_event("aaaaaaaa", "finished", 0))
    assert list(folder.state.runs["aaaaaaaa"].history) == [3.0, 2.0, 1.0, 0.5]
    fresh = Store(tmp_path).open(folder.sweep_id)
    assert list(fresh.refresh().runs["aaaaaaaa"].history) == [3.0, 2.0, 1.0, 0.5]


def test_snapshots_written_by_agents_that_are_killed_agree_with_a_full_replay(env) -> None:
    """Eight agents write a snapshot every 2 KB of journal (so, all the time, often two at
    once); some are SIGKILLed mid-way, others take over. At every look, and at the end,
    the sweep seen from the newest snapshot is the sweep the journal says."""
    env.program("""
        import json, os, sys, time
        cfg = json.load(open(os.environ["SWEEPCLI_CONFIG_FILE"]))
        with open(os.environ["SWEEPCLI_METRICS_FILE"], "a") as f:
            for i in range(8):
                f.write(json.dumps({"loss": cfg["x"] + 1.0 / (i + 1)}) + "\\n"); f.flush()
                time.sleep(0.02)
    """)
    fast = {"SWEEPCLI_SNAPSHOT_EVERY": "2048", "SWEEPCLI_HEARTBEAT_TIMEOUT": "2"}
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": list(range(60))}}})
    rng = random.Random(4)
    agents = [env.agent(sweep_id, env=fast) for _ in range(8)]
    killed = 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and any(a.poll() is None for a in agents):
        time.sleep(rng.uniform(0.3, 0.8))
        live = [a for a in agents if a.poll() is None]
        if live and killed < 6:
            os.killpg(rng.choice(live).pid, signal.SIGKILL)  # maybe mid-snapshot
            killed += 1
            agents.append(env.agent(sweep_id, env=fast))
    for a in agents:
        a.wait(timeout=120)
    final = env.agent(sweep_id, env=fast)  # crashed runs resumed, the grid completed
    assert final.wait(timeout=120) == 0, final.stderr.read()
    seen = look(env, sweep_id)
    assert (env.root / sweep_id / "snapshot.jsonl").exists()
    assert seen == full_replay(env, sweep_id)
    assert seen["counts"]["finished"] == 60 and seen["state"] == "finished"
    assert sorted(json.loads(r[5])["x"] for r in seen["runs"]) == list(range(60))


def test_a_killed_writers_temporary_file_is_removed_by_the_next_writer(tmp_path) -> None:
    folder = Store(tmp_path).create(validate(CONFIG))
    stale = folder.path / ".snapshot.jsonl.abc123.tmp"
    stale.write_text("half a snapshot")
    fresh = folder.path / ".snapshot.jsonl.def456.tmp"  # perhaps a live writer's
    fresh.write_text("being written")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    with folder.lock:
        folder.append(claim_event("aaaaaaaa", {"lr": 0.01, "bs": 16}, None, None, "h:1", 60.0))
    assert folder.write_snapshot(force=True)
    assert not stale.exists() and fresh.exists()
    assert not folder.write_snapshot(force=True)  # nothing new since: nothing written
