"""What every store backend must do, run on each: the folder, PostgreSQL and the in-memory
one of ``memory_backend.py`` (the shape a new backend takes). A new backend is one entry in
``STORES`` below; what it forgot fails here."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sweepcli.config import validate
from sweepcli.runs import RunState
from sweepcli.store import AmbiguousSweep, LockTimeout, Store, SweepNotFound, SweepStore
from sweepcli.store.events import claim_event, end_event, metric_event

from .memory_backend import MemoryStore

CONFIG = validate({"method": "random", "metric": {"name": "loss", "goal": "minimize"},
                   "parameters": {"x": {"min": 0.0, "max": 1.0}}})


@pytest.fixture(params=["folder", "memory", pytest.param("postgres", marks=pytest.mark.e2e)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], SweepStore]:
    """A function that opens the same store again, as another agent would."""
    if request.param == "folder":
        return lambda: Store(tmp_path / "sweeps")
    if request.param == "memory":
        shared = MemoryStore(tmp_path / "runs")
        return lambda: shared
    from sweepcli.store.postgres import PgStore

    url = request.getfixturevalue("pg_url")
    return lambda: PgStore(url, tmp_path / "runs")


def _claim(i: int) -> dict[str, Any]:
    return claim_event(f"r{i:07d}", {"x": i / 1000}, None, None, "test:1", 60.0)


def test_a_sweep_is_created_opened_and_listed_by_its_reference(stores) -> None:
    store = stores()
    a = store.create(CONFIG, name="first", events=[_claim(0)])
    b = store.create(CONFIG, project="proj")
    assert a.meta["config"] == CONFIG.raw and a.meta["name"] == "first"
    assert set(stores().list()) >= {a.sweep_id, f"proj/{b.sweep_id}"}
    again = stores().open(a.sweep_id)
    assert again.ref == a.ref and again.meta["config"] == CONFIG.raw
    assert list(again.refresh().runs) == ["r0000000"]  # the events it was created with
    assert stores().open(f"proj/{b.sweep_id}").project == "proj"
    assert stores().open(f"someone/proj/{b.sweep_id}").ref == f"proj/{b.sweep_id}"
    with pytest.raises(SweepNotFound):
        stores().open("zzzzzzzz")
    with pytest.raises(FileExistsError):
        store.create(CONFIG, sweep_id=a.sweep_id, meta=a.meta)
    store.create(CONFIG, project="other", sweep_id=b.sweep_id, meta=b.meta)
    with pytest.raises(AmbiguousSweep):  # a bare ID in two projects is refused
        stores().open(b.sweep_id)


def test_what_one_agent_appends_another_reads_once_in_order(stores) -> None:
    writer = stores().create(CONFIG)
    reader = stores().open(writer.sweep_id)
    with writer.lock:
        writer.append(_claim(1))
        writer.append(metric_event("r0000001", [3.0, 2.0]), metric_event("r0000001", [1.0], at=2))
    assert list(writer.state.runs["r0000001"].history) == [3.0, 2.0, 1.0]  # applied as appended
    assert list(reader.refresh().runs["r0000001"].history) == [3.0, 2.0, 1.0]
    assert list(reader.refresh().runs["r0000001"].history) == [3.0, 2.0, 1.0]  # read once
    with reader.lock:
        reader.append(end_event("r0000001", RunState.FINISHED))
    assert writer.refresh().runs["r0000001"].state == RunState.FINISHED


def test_the_lock_excludes_every_other_agent_and_appends_land_once(stores) -> None:
    """Agents that each read the record, decide from it and append under the lock: no two
    decide from the same state (each takes the next number), none is lost or doubled."""
    first = stores().create(CONFIG)
    agents = [stores().open(first.sweep_id) for _ in range(4)]
    errors: list[BaseException] = []

    def agent(sweep: Any) -> None:
        try:
            for _ in range(15):
                with sweep.lock:
                    sweep.append(_claim(len(sweep.refresh().runs)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=agent, args=(s,)) for s in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    runs = stores().open(first.sweep_id).refresh().runs
    assert sorted(runs) == [f"r{i:07d}" for i in range(60)]
    for sweep in agents:
        assert sorted(sweep.refresh().runs) == sorted(runs)


def test_a_held_lock_makes_another_agent_wait_and_is_reentrant(stores) -> None:
    a = stores().create(CONFIG)
    b = stores().open(a.sweep_id)
    got: list[str] = []

    def other() -> None:
        try:
            with b.lock.waiting_at_most(0.3):
                got.append("took it")
        except LockTimeout:
            got.append("timed out")

    with a.lock:
        with a.lock:  # re-entrant within the holder
            t = threading.Thread(target=other)
            t.start()
            t.join()
    assert got == ["timed out"]
    with b.lock.waiting_at_most(5):
        pass


def test_heartbeats_are_stamped_and_read_by_the_store_s_clock(stores) -> None:
    sweep = stores().create(CONFIG)
    with sweep.lock:
        sweep.append(_claim(2))
    now, beats = sweep.beats(["r0000002"])
    assert beats == {"r0000002": None}
    sweep.make_run_dir("r0000002")
    now2, beats = stores().open(sweep.sweep_id).beats(["r0000002"])
    assert beats["r0000002"] is not None and abs(now2 - beats["r0000002"]) < 60 and now2 >= now - 1


def test_a_backend_hides_the_store_s_address_from_programs(stores) -> None:
    assert "SWEEPCLI_STORE" in stores().create(CONFIG).hidden_from_programs


def test_a_snapshot_if_kept_gives_a_new_reader_the_same_state(stores) -> None:
    sweep = stores().create(CONFIG)
    with sweep.lock:
        for i in range(20):
            sweep.append(_claim(i), metric_event(f"r{i:07d}", [float(i)]))
    sweep.write_snapshot(force=True)
    with sweep.lock:
        sweep.append(end_event("r0000003", RunState.FINISHED))
    fresh = stores().open(sweep.sweep_id).refresh()
    assert list(fresh.compact()) == list(sweep.refresh().compact())


def test_a_look_reads_and_never_writes(tmp_path: Path) -> None:
    """``status.look`` is a read-only look (a frozen Status); ending silent runs and leaving
    a snapshot are ``reap``'s, which --print asks for first."""
    import dataclasses

    from sweepcli.reporting.status import look

    sweep = Store(tmp_path).create(CONFIG)
    with sweep.lock:
        for i in range(3):
            sweep.append(_claim(i))  # claimed, never a heartbeat: silent
    before = {p: p.read_bytes() for p in sorted(sweep.path.rglob("*")) if p.is_file()}
    status = look(Store(tmp_path).open(sweep.sweep_id))
    after = {p: p.read_bytes() for p in sorted(sweep.path.rglob("*")) if p.is_file()}
    assert after == before
    assert status.counts["running"] == 3 and len(status.runs) == 3
    shown = status.as_json()  # what --json prints and ApiSweep.to_dict() gives: lists
    assert isinstance(shown["runs"], list) and isinstance(shown["queue"], list)
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.state = "finished"  # type: ignore[misc]
