"""The CLI from outside: create, control, print; exit codes; hostile IDs."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from .conftest import CLI, PROGRAM

GRID = {"program": "train.py", "method": "grid", "metric": {"name": "loss"},
        "parameters": {"x": {"values": [1, 2, 3]}}}


def test_create_prints_only_the_id_on_stdout(env) -> None:
    f = env.tmp / "s.yaml"
    f.write_text("program: train.py\nmethod: random\nparameters:\n  lr: {min: 1e-5, max: 1e-1}\n")
    proc = env.cli("sweep", str(f))
    sweep_id = proc.stdout.strip()
    assert proc.stdout == sweep_id + "\n" and len(sweep_id) == 8 and sweep_id.isalnum()
    assert "sweepcli agent" in proc.stderr and sweep_id in proc.stderr
    assert (env.root / sweep_id / "sweep.json").is_file()
    # 'create' is the same command
    assert len(env.cli("create", str(f)).stdout.strip()) == 8


def test_bad_config_exits_2_with_key_path_and_writes_nothing(env) -> None:
    f = env.tmp / "s.yaml"
    f.write_text("method: random\nparameters:\n  lr: {min: 0.1, max: 0.01}\n  b: {valeus: [1]}\n")
    proc = env.cli("sweep", str(f), check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "parameters.lr.min" in proc.stderr and "parameters.b.valeus" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not env.root.exists()


def test_yaml_syntax_error_exits_2(env) -> None:
    f = env.tmp / "s.yaml"
    f.write_text("method: grid\nparameters: [\n")
    proc = env.cli("sweep", str(f), check=False)
    assert proc.returncode == 2 and "line" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.both_stores
@pytest.mark.parametrize("bad", ["../x", "a/b/c/d", "", "ABCDEFGH", "abc", "../../etc/passwd",
                                 "a/../bcdefghi", "x y"])
def test_hostile_ids_are_refused_before_any_file_is_touched(env, bad) -> None:
    for args in (["agent", bad], ["sweep", "--print", bad], ["sweep", "--cancel", bad]):
        proc = env.cli(*args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert not env.root.exists()


@pytest.mark.both_stores
def test_hostile_project_is_refused(env) -> None:
    f = env.tmp / "s.yaml"
    f.write_text("method: random\nparameters:\n  a: {value: 1}\n")
    proc = env.cli("sweep", str(f), "--project", "../evil", check=False)
    assert proc.returncode == 2 and not (env.tmp / "evil").exists()


@pytest.mark.both_stores
def test_unknown_sweep_exits_1(env) -> None:
    proc = env.cli("agent", "abcdefgh", check=False)
    assert proc.returncode == 1 and "no sweep" in proc.stderr


def test_project_and_lookup_by_bare_id(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(GRID, "--project", "proj")
    assert (env.root / "proj" / sweep_id).is_dir()
    env.cli("agent", f"proj/{sweep_id}", "--count", "1")
    env.cli("agent", sweep_id, "--count", "1")
    assert env.status(sweep_id)["counts"]["finished"] == 2


def test_print_json_has_the_contract_fields(env) -> None:
    env.program(PROGRAM)
    config = {**GRID, "parameters": {"x": {"values": [3, 1, 2]},
                                     "m": {"parameters": {"d": {"value": 4}}}}}
    sweep_id = env.create(config)
    env.cli("agent", sweep_id)
    s = env.status(sweep_id)
    assert s["id"] == sweep_id and s["state"] == "finished" and s["method"] == "grid"
    assert s["metric"]["name"] == "loss" and s["counts"]["finished"] == 3
    assert s["best"]["value"] == 1.0 and s["best"]["config"] == {"x": 1, "m": {"d": 4}}
    assert sorted(r["config"]["x"] for r in s["runs"]) == [1, 2, 3]
    assert all({"run_id", "state", "config", "value"} <= set(r) for r in s["runs"])
    text = env.cli("sweep", "--print", sweep_id).stdout
    assert "finished" in text and "best" in text and s["best"]["run_id"] in text


def test_pause_resume_stop_cancel_change_the_state(env) -> None:
    sweep_id = env.create({**GRID, "method": "random",
                           "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    env.cli("sweep", "--pause", sweep_id)
    assert env.status(sweep_id)["state"] == "paused"
    env.cli("sweep", "--resume", sweep_id)
    assert env.status(sweep_id)["state"] == "running"
    env.cli("sweep", "--stop", sweep_id)
    assert env.status(sweep_id)["state"] == "finished"
    env.cli("sweep", "--cancel", sweep_id)
    assert env.status(sweep_id)["state"] == "canceled"
    proc = env.cli("sweep", "--resume", sweep_id, check=False)
    assert proc.returncode == 1 and "canceled" in proc.stderr


def test_two_actions_at_once_is_a_usage_error(env) -> None:
    proc = env.cli("sweep", "--print", "abcdefgh", "--stop", "abcdefgh", check=False)
    assert proc.returncode == 2


def test_journal_survives_a_garbage_and_a_half_written_line(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create(GRID)
    env.cli("agent", sweep_id, "--count", "1")
    journal = env.root / sweep_id / "journal.jsonl"
    with open(journal, "ab") as f:
        f.write(b"this is not json\n{\"op\": \"claim\", \"run\": \"abcd")  # a crash mid-write
    env.cli("agent", sweep_id)  # appends after the broken line, on a line of its own
    s = env.status(sweep_id)
    assert s["counts"]["finished"] == 3 and s["state"] == "finished"
    assert s["journal_lines_skipped"] == 2
    for line in journal.read_bytes().splitlines()[-3:]:
        json.loads(line)


def test_dir_option_and_env_agree(env, tmp_path) -> None:
    other = tmp_path / "elsewhere"
    f = env.tmp / "s.yaml"
    f.write_text("method: random\nparameters:\n  a: {value: 1}\n")
    sweep_id = env.cli("sweep", str(f), "--dir", str(other)).stdout.strip()
    assert (other / sweep_id).is_dir()
    assert env.cli("sweep", "--print", sweep_id, "--dir", str(other), "--json").returncode == 0
    assert not os.path.exists(env.root / sweep_id)


def test_a_wandb_project_name_that_cannot_name_a_folder_is_ignored_with_a_warning(env) -> None:
    f = env.tmp / "s.yaml"
    f.write_text("method: random\nproject: My Project/v2\nparameters:\n  a: {value: 1}\n")
    proc = env.cli("sweep", str(f))
    sweep_id = proc.stdout.strip()
    assert "cannot name a folder" in proc.stderr and (env.root / sweep_id).is_dir()
    f.write_text("method: random\nproject: mnist\nparameters:\n  a: {value: 1}\n")
    sweep_id = env.cli("sweep", str(f)).stdout.strip()
    assert (env.root / "mnist" / sweep_id).is_dir()


def test_a_reader_that_goes_away_is_not_an_error(env) -> None:
    # `sweepcli sweep --print ID | head -1`: the pipe closes before sweepcli is done
    env.program(PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "grid",
                           "parameters": {"x": {"values": [1, 2]}}})
    proc = subprocess.Popen([*CLI, "sweep", "--print", sweep_id], cwd=env.tmp, env=env.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # gone before anything is written
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert "Error" not in err and "Traceback" not in err, err


def test_every_error_leaves_through_one_handler_with_its_own_exit_status(tmp_path, monkeypatch
                                                                         ) -> None:
    """In-process (CliRunner): an error of ours is its message and its status (2 usage, 1
    the rest); an OSError its text; anything else is a bug and is not turned into 'bad
    usage' (a blanket ValueError -> 2 once hid bugs as usage errors)."""
    from click.testing import CliRunner

    from sweepcli import cli

    runner = CliRunner()
    root = str(tmp_path / "sweeps")
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: grid\nparameters: {x: {min: 2, max: 1}}\n")
    good = tmp_path / "good.yaml"
    good.write_text("method: grid\nparameters: {x: {values: [1]}}\n")
    cases = [
        (["sweep", "--print", "abcd1234", "--dir", root], 1, "no sweep abcd1234"),
        (["sweep", "--print", "../x", "--dir", root], 2, "invalid project name"),
        (["sweep", str(bad), "--dir", root], 2, "bad.yaml is not a valid sweep config:\n"
                                                "  parameters.x.min"),
        (["agent", "abcd1234", "--dir", root, "--gpus", ","], 2, "--gpus"),
        (["enqueue", "abcd1234", "--set", "x=1", "--dir", root], 1, "no sweep abcd1234"),
    ]
    for args, code, says in cases:
        result = runner.invoke(cli.main, args, env={"SWEEPCLI_STORE": ""})
        assert result.exit_code == code and says in result.output, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)
    result = runner.invoke(cli.main, ["agent", "abcd1234", "--dir", root],
                           env={"SWEEPCLI_HEARTBEAT_TIMEOUT": "nan", "SWEEPCLI_STORE": ""})
    assert result.exit_code == 2 and "SWEEPCLI_HEARTBEAT_TIMEOUT" in result.output
    sweep_id = runner.invoke(cli.main, ["sweep", str(good), "--dir", root],
                             env={"SWEEPCLI_STORE": ""}).output.split()[0]

    def bug(*args, **kwargs):
        raise ValueError("a bug, not bad usage")

    from sweepcli.cli import agents, sweeps

    for where, name, args in ((sweeps, "look", ["sweep", "--print", sweep_id]),
                              (agents, "Agent", ["agent", sweep_id])):
        monkeypatch.setattr(where, name, bug)  # (a bug planted where the command finds it)
        result = runner.invoke(cli.main, [*args, "--dir", root], env={"SWEEPCLI_STORE": ""})
        assert result.exit_code == 1 and isinstance(result.exception, ValueError), result.output


@pytest.mark.parametrize("args, says", [
    ([], "Usage"),
    (["sweep"], "give a CONFIG file"),
    (["sweep", "--pause", "abcd1234", "--stop", "abcd1234"], "give a CONFIG file"),
    (["sweep", "--update", "abcd1234"], "needs the new CONFIG"),
    (["sweep", "--print", "abcd1234", "--prior", "x.csv"], "--prior and --program are for"),
    (["enqueue", "abcd1234"], "give the point with --set"),
    (["enqueue", "abcd1234", "--set", "lr"], "expected NAME=VALUE"),
    (["agent", "abcd1234", "--runs-per-gpu", "2"], "need --gpus"),
    (["agent", "abcd1234", "--count", "0"], "--count"),
    (["agent", "abcd1234", "--time-limit", "soon"], "--time-limit"),
    (["agent", "abcd1234", "--no-such-flag"], "No such option"),
    (["sweep", "--print", "abcd1234", "--store", "mysql://x"], "postgresql://"),
])
def test_parsing_errors_are_usage_errors_before_anything_is_touched(tmp_path, args, says) -> None:
    """In-process: every mistake in the words of a command is exit 2 with a message, and
    nothing is created (no sweep folder appears)."""
    from click.testing import CliRunner

    from sweepcli import cli

    root = tmp_path / "sweeps"
    result = CliRunner().invoke(cli.main, [*args, "--dir", str(root)] if args else args,
                                env={"SWEEPCLI_STORE": ""})
    # (no command at all: click shows the usage, with status 0 or 2 by its version)
    assert result.exit_code in ((0, 2) if not args else (2,)), (result.exit_code, result.output)
    assert says in result.output, result.output
    assert not root.exists()


def test_list_shows_every_sweep_with_its_state_counts_and_live_agents(env) -> None:
    env.program("""
        import os, time, sweepcli
        run = sweepcli.init()
        sweepcli.log({"loss": run.config["x"]})
        release = os.path.join(os.environ["SWEEPCLI_RUN_DIR"], "..", "..", "..", "release")
        while run.config["x"] == 9 and not os.path.exists(release):
            time.sleep(0.05)  # the test's release file lets this run end
    """)
    done = env.create({"program": "train.py", "method": "grid", "name": "scan",
                       "metric": {"name": "loss"}, "parameters": {"x": {"values": [2, 1]}}})
    env.cli("agent", done)
    going = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                        "parameters": {"x": {"values": [9]}}})
    agent = env.agent(going)
    try:
        env.wait_for(lambda: env.status(going)["counts"]["running"] == 1, timeout=60)
        text = env.cli("list").stdout
        lines = {line.split()[0]: line for line in text.splitlines()}
        assert "finished" in lines[done] and "(scan)" in lines[done]
        assert "2 finished" in lines[done] and "best loss=1" in lines[done]
        assert "running" in lines[going] and "1 agent(s) running: " in lines[going]
        rows = {r["id"]: r for r in json.loads(env.cli("list", "--json").stdout)}
        assert rows[going]["agents"] and rows[going]["agents"][0].endswith(f":{agent.pid}")
        assert rows[done]["counts"] == {"finished": 2} and rows[done]["best"] == 1
    finally:
        (env.root / "release").touch()
        assert agent.wait(timeout=60) == 0
    assert env.cli("list", "--dir", str(env.tmp / "none")).stderr.startswith("No sweeps in")
