"""Population Based Training (method: pbt): the config, the decisions (pure), the helper's
stop at a segment's end, and real agents training a population: lineages that match the
metric lines and the checkpoints, agents killed mid-segment, a copy interrupted half-way,
a schedule replayed alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sweepcli.config import ConfigError, validate
from sweepcli.runs import Run, RunState
from sweepcli.search import pbt
from sweepcli.store.events import SweepState, attempt_event, run_from_record, run_record

SPACE = {"lr": {"distribution": "log_uniform_values", "min": 0.001, "max": 1.0},
         "width": {"values": [8, 16, 32, 64]}, "layers": {"min": 1, "max": 6},
         "seed": {"value": 3}}


def config(**block: object) -> object:
    return validate({"method": "pbt", "metric": {"name": "acc", "goal": "maximize"},
                     "parameters": SPACE, "pbt": {"steps": 40, "interval": 10, **block}})


def problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as got:
        validate(raw)
    return [p.path for p in got.value.problems]


# ---- the config ---------------------------------------------------------------------------

def test_defaults_and_every_bad_key_named_by_its_path() -> None:
    c = config()
    assert (c.pbt.population, c.pbt.quantile, c.pbt.factors, c.pbt.resample_probability) == (
        8, 0.25, (0.8, 1.2), 0.25)
    assert c.pbt.mutable == ("lr", "width", "layers")  # every parameter drawn, not constants
    assert validate({"method": "pbt", "metric": {"name": "a"}, "parameters": SPACE,
                     "pbt": {"steps": 50}}).pbt.interval == 5  # a tenth of the steps
    bad = {"method": "pbt", "parameters": SPACE, "early_terminate": {"type": "asha"},
           "metric": {"name": "acc"},
           "pbt": {"population": 0, "steps": 0, "interval": "5", "quantile": 0.6,
                   "mutable": ["lr", "seed", "nope"], "explore": {"factors": [0, 2],
                                                                  "resample_probabilty": 1},
                   "schedule": [{"step": 3, "params": {"lr": 5}}], "typo": 1}}
    assert set(problems(bad)) == {
        "early_terminate", "pbt.population", "pbt.steps", "pbt.interval", "pbt.quantile",
        "pbt.mutable[1]", "pbt.mutable[2]", "pbt.explore.factors",
        "pbt.explore.resample_probabilty", "pbt.schedule[0].step", "pbt.typo"}
    assert problems({"method": "pbt", "parameters": SPACE}) == ["pbt.steps", "metric"]
    assert problems({"method": "random", "parameters": SPACE, "pbt": {"steps": 3}}) == ["pbt"]
    assert problems({"method": "pbt", "metric": {"name": "a"}, "parameters": SPACE,
                     "pbt": {"steps": 9, "explore": {"pb2": True, "factors": [2]}}}
                    ) == ["pbt.explore"]


def test_bad_pbt_keys_are_refused_by_the_cli_with_their_paths(tmp_path) -> None:
    f = tmp_path / "sweep.yaml"
    f.write_text("method: pbt\nmetric: {name: acc}\nprogram: t.py\n"
                 "parameters: {lr: {min: 0.1, max: 1.0}}\n"
                 "pbt: {steps: 10, quantile: 2, explore: {factor: [2]}}\n")
    from click.testing import CliRunner

    from sweepcli.cli import main

    got = CliRunner().invoke(main, ["sweep", str(f)], env={"SWEEPCLI_DIR": str(tmp_path / "s")})
    assert got.exit_code == 2, got.output
    assert "pbt.quantile" in got.output and "pbt.explore.factor:" in got.output
    assert "did you mean 'factors'" in got.output
    assert not (tmp_path / "s").exists()  # nothing written


# ---- the decisions, on hand-made runs -------------------------------------------------------

def member(rid: str, values: list[float], state: RunState = RunState.PAUSED,
           lr: float = 0.1, kept: list[int] | None = None) -> Run:
    r = Run(rid, {"lr": lr, "width": 16, "layers": 3, "seed": 3}, state, values)
    r.kept = list(kept or [])
    return r


def test_the_bottom_copies_a_top_members_kept_checkpoint_and_explores() -> None:
    c = config(population=4)
    runs = [member(f"m{i:07d}", [0.1 * i] * 10, kept=[10], lr=0.01 * (i + 1)) for i in range(4)]
    rng = np.random.default_rng(0)
    worst, best = runs[0], runs[3]
    seg = pbt.next_segment(c, runs, worst, rng)
    assert seg.parent == (best.run_id, 10) and seg.step == 10  # bottom 1 of 4 copies top 1
    assert "copies run m0000003 at step 10" in seg.why
    assert seg.params["seed"] == 3 and c.space.holds(seg.params)
    assert seg.params != best.params  # explored
    for i in (1, 2, 3):  # the others go on as they are
        s = pbt.next_segment(c, runs, runs[i], rng)
        assert s.parent is None and s.params == runs[i].params and "goes on" in s.why
    best.kept = []  # no kept copy: nobody to copy
    assert pbt.next_segment(c, runs, worst, rng).parent is None
    lonely = [member("a0000000", [0.0] * 10), member("b0000000", [1.0] * 3)]
    assert pbt.next_segment(c, lonely, lonely[0], rng).parent is None  # alone at its step


def test_explore_keeps_every_value_in_its_range() -> None:
    c = config(explore={"factors": [0.5, 3.0], "resample_probability": 0.3})
    rng = np.random.default_rng(1)
    seen = {"width": set(), "layers": set()}
    base = {"lr": 0.9, "width": 8, "layers": 6, "seed": 3}
    for _ in range(300):
        new = pbt.explore(c, [], base, 10, rng)
        assert c.space.holds(new) and new["seed"] == 3, new
        seen["width"].add(new["width"])
        seen["layers"].add(new["layers"])
        assert 0.001 <= new["lr"] <= 1.0
    assert 16 in seen["width"] and seen["width"] <= {8, 16, 32, 64}  # a neighbour, or drawn
    assert seen["layers"] <= set(range(1, 7)) and len(seen["layers"]) > 2


def test_lineage_values_and_schedule_follow_the_donors() -> None:
    c = config(population=2, mutable=["lr"])
    state = SweepState()
    a = member("aaaaaaaa", [1.0, 2.0, 3.0, 4.0], lr=0.5)
    b = member("bbbbbbbb", [0.5, 0.6], lr=0.2)
    state.runs = {a.run_id: a, b.run_id: b}
    b.state = RunState.PAUSED
    seg = {"step": 4, "params": {**b.params, "lr": 0.4}, "parent": [a.run_id, 4]}
    assert state.apply({**attempt_event(b.run_id, 2, "h", 60.0, segment=seg), "t": 1.0})
    b.history.extend([5.0, 6.0])
    assert pbt.step_of(b) == 6 and b.params["lr"] == 0.4
    by_id = state.runs
    assert [pbt.value_at(b, s, by_id) for s in (1, 4, 5, 6, 7)] == [1.0, 4.0, 5.0, 6.0, None]
    assert pbt.params_at(b, 4, by_id)["lr"] == 0.5 and pbt.params_at(b, 5, by_id)["lr"] == 0.4
    assert pbt.lineage(b, by_id) == [(0, 4, a.run_id, a.params), (4, 6, b.run_id, b.params)]
    assert pbt.schedule_text(c, list(by_id.values()), b) == [
        "lr: 0.5 -> 0.4 (step 4, from run aaaaaaaa)"]
    back = run_from_record(b.run_id, json.loads(json.dumps(run_record(b))))  # a snapshot's
    assert back.segments == b.segments and back.params == b.params
    replay = validate(pbt.replay_config(c, list(by_id.values()), b))
    assert replay.pbt.population == 1 and [(x.step, x.params) for x in replay.pbt.schedule] == [
        (0, {"lr": 0.5}), (4, {"lr": 0.4})]
    assert replay.space["width"].spec == {"value": 16}  # what stays, as its lineage had it


def test_pb2_prefers_what_improved_most_lately() -> None:
    """Members whose lr was high improved most lately: PB2 asks for a high one."""
    c = config(population=6, mutable=["lr"], explore="pb2", steps=100)
    runs = []
    for i, lr in enumerate(np.geomspace(0.001, 1.0, 6)):
        gain = float(np.log10(lr) + 3)  # improves by more per step the higher lr is
        runs.append(member(f"p{i:07d}", [gain * k for k in range(1, 41)], lr=float(lr),
                           kept=[40]))
    got = [pbt.pb2_choice(c, runs, runs[0].params, 40, np.random.default_rng(s))["lr"]
           for s in range(5)]
    assert all(g > 0.1 for g in got), got
    assert all(c.space["lr"].contains(g) for g in got)


# ---- the helper's stop at a segment's end ---------------------------------------------------

def _run_a_segment(tmp_path: Path, prog: Path, stop_after: int
                   ) -> tuple[subprocess.CompletedProcess, Path]:
    """Run a program with the helper as a pbt member's segment ending after ``stop_after``
    lines of ``acc``, as the agent starts one; its result and its metric file."""
    metrics = tmp_path / "m.jsonl"
    env = {**os.environ, "SWEEPCLI_RUN_ID": "abcdefgh", "SWEEPCLI_RUN_DIR": str(tmp_path),
           "SWEEPCLI_METRICS_FILE": str(metrics), "SWEEPCLI_STOP_AFTER": str(stop_after),
           "SWEEPCLI_METRIC": "acc"}
    got = subprocess.run([sys.executable, str(prog)], env=env, capture_output=True, text=True,
                         timeout=60)
    return got, metrics


@pytest.mark.e2e
@pytest.mark.parametrize("polls", [False, True])
def test_the_helper_ends_the_program_after_the_segments_last_line(tmp_path, polls) -> None:
    prog = tmp_path / "p.py"
    prog.write_text(
        "import sweepcli\nrun = sweepcli.init()\n"
        "for i in range(1, 50):\n"
        "    run.log({'other': i})\n"  # lines without the metric do not count
        "    run.log({'acc': i})\n"
        + ("    if run.should_stop:\n        print('stopped at', i); break\n" if polls else "")
        + "print('never here' if not run.should_stop else 'ended')\n")
    got, metrics = _run_a_segment(tmp_path, prog, stop_after=3)
    assert got.returncode == 0, got.stderr
    lines = [json.loads(x) for x in metrics.read_text().splitlines()]
    assert [x.get("acc") for x in lines if "acc" in x] == [1, 2, 3]
    assert ("stopped at 3" in got.stdout) == polls and "never here" not in got.stdout


# ---- real agents -------------------------------------------------------------------------

PROGRAM = """
import json, os, sys, time
import sweepcli
run = sweepcli.init()
cfg = run.config
me = os.environ["SWEEPCLI_RUN_ID"]
ckpt = os.path.join(os.environ["SWEEPCLI_RUN_DIR"], "model.json")
state = {"w": 0.0, "step": 0, "trail": []}
if run.resumed and os.path.exists(ckpt):
    state = json.load(open(ckpt))
while True:  # the helper ends it at its segment's end
    time.sleep(float(os.environ.get("STEP_SLEEP", "0")))
    state["step"] += 1
    state["w"] += float(cfg.lr)
    state["trail"].append(me)
    with open(ckpt + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(ckpt + ".tmp", ckpt)  # the checkpoint, whole, then the step's line
    with open(sys.argv[1], "a") as ledger:
        ledger.write(json.dumps({"run": me, "step": state["step"]}) + "\\n")
    run.log({"acc": -abs(state["w"] - 3.0) - 0.01 * (state["step"] % 3), "pstep": state["step"]})
"""


def create(env, population: int = 4, steps: int = 16, interval: int = 4, **more) -> str:
    env.program(PROGRAM)
    return env.create({
        "program": "train.py", "method": "pbt", "metric": {"name": "acc", "goal": "maximize"},
        "command": ["${env}", "${interpreter}", "${program}", str(env.tmp / "ledger.jsonl")],
        "parameters": {"lr": {"distribution": "log_uniform_values", "min": 0.01, "max": 1.0}},
        "pbt": {"population": population, "steps": steps, "interval": interval,
                "mutable": ["lr"], **more}})


def check_lineages(env, sweep_id: str, steps: int) -> dict:
    """Every member trained its steps; its checkpoint's trail (who trained each step of the
    model it holds) is the lineage --json gives; its own metric lines are its segments."""
    s = env.status(sweep_id)
    by_id = {r["run_id"]: r for r in s["runs"]}
    assert all(r["state"] == "finished" and r["step"] == steps for r in s["runs"]), s["runs"]

    def trail(rid: str, upto: int, cut: int | None = None) -> list[str]:
        # a kept copy at step `cut` holds the model before any segment that started there
        segs = [g for i, g in enumerate(by_id[rid]["segments"])
                if cut is None or g["step"] < cut or i == 0]
        out: list[str] = []
        for i, seg in enumerate(segs):
            end = segs[i + 1]["step"] if i + 1 < len(segs) else upto
            if seg["parent"]:
                p = seg["parent"]
                out = trail(p["run_id"], p["step"], p["step"])
            out = out[:seg["step"]] + [rid] * (end - seg["step"])
        return out[:upto]

    for rid, r in by_id.items():
        folder = env.root / sweep_id / "runs" / rid
        model = json.loads((folder / "model.json").read_text())
        assert model["step"] == steps and model["trail"] == trail(rid, steps), rid
        psteps = [json.loads(x)["pstep"] for x in (folder / "metrics.jsonl").read_text().splitlines()]
        expect = [k for i, seg in enumerate(r["segments"])
                  for k in range(seg["step"] + 1, (r["segments"][i + 1]["step"] if i + 1 <
                                                   len(r["segments"]) else steps) + 1)]
        assert psteps == expect, (rid, psteps, r["segments"])
    return s


@pytest.mark.both_stores
def test_agents_train_a_population_that_exploits_and_explores(env) -> None:
    sweep_id = create(env)
    agents = [env.watched_agent(sweep_id) for _ in range(3)]
    for a in agents:
        assert a.wait(timeout=240) == 0, a.text()
    s = check_lineages(env, sweep_id, 16)
    exploits = [seg for r in s["runs"] for seg in r["segments"] if seg["parent"]]
    assert exploits, "no member exploited"
    for r in s["runs"]:
        for seg in r["segments"][1:]:
            assert seg["step"] % 4 == 0  # judged at the ends of segments only
    paid = [json.loads(x) for x in (env.tmp / "ledger.jsonl").read_text().splitlines()]
    logged = sum(len((env.root / sweep_id / "runs" / r["run_id"] / "metrics.jsonl").read_text()
                     .splitlines()) for r in s["runs"])
    assert len(paid) == logged  # every step trained was logged once: none trained twice
    assert len({(p["run"], p["step"]) for p in paid}) == len(paid)
    text = env.cli("sweep", "--print", sweep_id).stdout
    assert "pbt     4 of 4 members at step 16 of 16" in text and "lineage " in text
    assert not (env.root / sweep_id / "pbt").exists()  # the kept copies went with the end
    page = env.tmp / "report.html"
    env.cli("report", sweep_id, "--out", str(page))
    html = page.read_text()
    assert "id='fig-population'" in html and "id='fig-schedule'" in html
    assert "exploit (a copy)" in html and "copied " in html
    env.cli("report", sweep_id, "--static", "--out", str(env.tmp / "static.html"))
    assert "segment(s) of" in agents[0].text()


@pytest.mark.parametrize("how", ["killed", "preempted"])
def test_a_member_whose_agent_dies_or_is_preempted_mid_segment_is_resumed(env, how) -> None:
    hb = {"SWEEPCLI_HEARTBEAT_TIMEOUT": "4", "STEP_SLEEP": "0.05"}
    sweep_id = create(env, population=2, steps=30, interval=10)
    victim = env.watched_agent(sweep_id, "-t", "5", env=hb)
    ledger = env.tmp / "ledger.jsonl"
    env.wait_for(lambda: ledger.exists() and len(ledger.read_text().splitlines()) >= 14,
                 timeout=60)  # the second segment of the first member, or the other's first
    if how == "killed":
        os.killpg(victim.pid, signal.SIGKILL)  # the agent and its program, mid-segment
        victim.wait()
    else:
        victim.send_signal(signal.SIGTERM)  # a batch system's: the run is stopped, requeued
        assert victim.wait(timeout=60) == 3, victim.text()
    survivors = [env.watched_agent(sweep_id, env=hb) for _ in range(2)]
    for a in survivors:
        assert a.wait(timeout=240) == 0, a.text()
    s = check_lineages(env, sweep_id, 30)
    ended = "crashed" if how == "killed" else "preempted"
    assert [r for r in s["runs"] if any(a["state"] == ended for a in r["attempts"])], s["runs"]


def test_a_job_array_requeued_by_its_script_trains_the_population_to_its_end(env, tmp_path
                                                                            ) -> None:
    """A PBT sweep longer than one job's walltime, run by the SLURM example's script: each
    job trains what fits, stops its member before SLURM's end (exit 3, requeued), the next
    job goes on from the checkpoints; every member reaches its steps, lineages whole."""
    from tests.test_examples import run_job_array

    sweep_id = create(env, population=3, steps=24, interval=4)
    jobs = run_job_array(env, tmp_path, sweep_id, STEP_SLEEP="0.1")
    assert jobs >= 2  # more than one job's walltime of work
    s = check_lineages(env, sweep_id, 24)
    assert s["state"] == "finished"


def test_pb2_trains_a_population_to_its_end(env) -> None:
    sweep_id = create(env, explore="pb2")
    for a in [env.watched_agent(sweep_id) for _ in range(2)]:
        assert a.wait(timeout=240) == 0, a.text()
    s = check_lineages(env, sweep_id, 16)
    assert any(seg["parent"] for r in s["runs"] for seg in r["segments"])


def test_a_copy_interrupted_half_way_is_done_again_whole(env, tmp_path) -> None:
    """An agent that dies while it copies a donor's checkpoint leaves a folder half one
    member's, half the other's: the next attempt starts the copy again and ends whole."""
    from sweepcli.agent.pbt import MARK, keep, prune, take_donor
    from sweepcli.store.sweep_folder import Store

    sweep_id = create(env)
    sweep = Store(env.root).open(sweep_id)
    donor, mine = sweep.path / "runs" / "dddddddd", sweep.path / "runs" / "mmmmmmmm"
    for d in (donor, mine):
        d.mkdir(parents=True)
        (d / "metrics.jsonl").write_text(f"{d.name}\n")
    (donor / "model.json").write_text("donor's")
    (donor / "opt").mkdir()
    (donor / "opt" / "state").write_text("donor's optimizer")
    keep(sweep, "dddddddd", donor, 8)
    (donor / "model.json").write_text("donor's, later")  # it trained on: the copy stays
    (mine / "model.json").write_text("mine")
    (mine / "extra.bin").write_text("mine only")
    (mine / "opt").mkdir()  # half-copied by the agent that died
    assert take_donor(sweep, mine, 2, ("dddddddd", 8))
    assert sorted(os.listdir(mine)) == [f"{MARK}2", "metrics.jsonl", "model.json", "opt"]
    assert (mine / "model.json").read_text() == "donor's"
    assert (mine / "opt" / "state").read_text() == "donor's optimizer"
    assert (mine / "metrics.jsonl").read_text() == "mmmmmmmm\n"  # its own lines stay its own
    (mine / "model.json").write_text("trained on since")
    assert not take_donor(sweep, mine, 2, ("dddddddd", 8))  # done once: never again
    assert (mine / "model.json").read_text() == "trained on since"
    # a copy being kept when its agent died is left half-built aside, never in place; both
    # go once no member can want them
    half = sweep.path / "pbt" / "dddddddd" / ".12.4242.tmp"
    half.mkdir()
    assert not (sweep.path / "pbt" / "dddddddd" / "12").exists()
    assert prune(sweep, []) == 1 and not (sweep.path / "pbt").exists()


def test_the_best_members_schedule_replayed_alone_reaches_its_value(env) -> None:
    sweep_id = create(env, population=4, steps=12, interval=3)
    for a in [env.watched_agent(sweep_id) for _ in range(2)]:
        assert a.wait(timeout=240) == 0, a.text()
    s = env.status(sweep_id)
    out = env.tmp / "replay.yaml"
    env.cli("pbt", "replay", sweep_id, "-o", str(out))
    assert out.read_text().startswith(f"# sweepcli pbt replay {sweep_id} --run {s['best']['run_id']}")
    again = env.inprocess("sweep", str(out)).strip()
    agent = env.watched_agent(again)
    assert agent.wait(timeout=120) == 0, agent.text()
    r = env.status(again)
    assert len(r["runs"]) == 1 and r["runs"][0]["state"] == "finished"
    assert r["best"]["value"] == s["best"]["value"]  # the same model, trained alone
    lr = [seg["config"]["lr"] for seg in r["runs"][0]["segments"]]
    want = [e["params"]["lr"] for e in s["pbt"]["best"]["schedule"] if "lr" in e["params"]]
    assert [x for i, x in enumerate(lr) if i == 0 or x != lr[i - 1]] == want
    bad = env.cli("pbt", "replay", sweep_id, "--run", "zzzzzzzz", check=False)
    assert bad.returncode == 2 and "has no run zzzzzzzz" in bad.stderr


@pytest.mark.e2e
def test_a_member_sent_sigterm_between_its_checkpoint_and_its_line_ends_at_the_line(tmp_path
                                                                                    ) -> None:
    """A batch system's SIGTERM right after a member saved step 3's checkpoint: the helper
    lets it log step 3's line and ends it there, so the checkpoint and the lines agree
    (ended at once, the checkpoint was a step ahead of the lineage: seen under load)."""
    prog = tmp_path / "p.py"
    prog.write_text(
        "import os, signal, sweepcli\nrun = sweepcli.init()\n"
        "for i in range(1, 50):\n"
        "    open(os.path.join(os.environ['SWEEPCLI_RUN_DIR'], 'ckpt'), 'w').write(str(i))\n"
        "    if i == 3:\n        os.kill(os.getpid(), signal.SIGTERM)\n"
        "    run.log({'acc': i})\n")
    got, metrics = _run_a_segment(tmp_path, prog, stop_after=10)
    assert got.returncode == 128 + signal.SIGTERM, got.stderr
    assert [json.loads(x)["acc"] for x in metrics.read_text().splitlines()] == [1, 2, 3]
    assert (tmp_path / "ckpt").read_text() == "3"
