"""The PostgreSQL store against a real server (a throwaway cluster, ``tests/pg.py``): what
only it does. The multi-agent suite (``test_agent.py``, marked ``both_stores``) runs on it
too, unchanged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from .conftest import CLI, PROGRAM

psycopg = pytest.importorskip("psycopg")

GRID = {"program": "train.py", "method": "grid", "metric": {"name": "loss"},
        "parameters": {"x": {"values": [1, 2, 3, 4]}}}


@pytest.fixture
def pg(env, pg_url):
    env.env["SWEEPCLI_STORE"] = pg_url
    env.program(PROGRAM)
    return pg_url


def rows(url: str, sql: str, *args) -> list:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def test_the_sweep_lives_in_the_database_and_runs_folders_on_this_host(env, pg) -> None:
    sweep_id = env.create(GRID)
    env.cli("agent", sweep_id)
    sweep_dir = env.root / sweep_id
    assert not (sweep_dir / "journal.jsonl").exists() and not (sweep_dir / "sweep.json").exists()
    assert sorted(p.name for p in (sweep_dir / "runs").iterdir()) == sorted(
        r["run_id"] for r in env.status(sweep_id)["runs"])
    events = [e for (e,) in rows(pg, "SELECT event FROM sweepcli_events WHERE sweep = %s",
                                 f"/{sweep_id}")]
    assert sum(e["op"] == "claim" for e in events) == 4
    assert sum(e["op"] == "metric" for e in events) >= 4
    assert env.cli("sweep", "--print", sweep_id).stdout.count("finished") >= 4


def test_schema_is_created_versioned_and_a_newer_one_refused(env, pg) -> None:
    env.create(GRID)
    assert rows(pg, "SELECT max(version) FROM sweepcli_schema") == [(1,)]
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute("INSERT INTO sweepcli_schema (version) VALUES (2)")
    proc = env.cli("sweep", str(env.tmp / "sweep.yaml"), check=False)
    assert proc.returncode == 1 and "schema version 2" in proc.stderr
    assert "upgrade sweepcli" in proc.stderr and "Traceback" not in proc.stderr


def test_the_password_is_never_printed_nor_given_to_the_program(env, pg) -> None:
    url = pg.replace("sweepcli@", "sweepcli:hunter2@")  # (trust auth: any password works)
    env.env["SWEEPCLI_STORE"] = url
    env.program("import json, os\njson.dump(dict(os.environ), open(os.environ['SWEEPCLI_RUN_DIR'] "
                "+ '/env.json', 'w'))\n")
    out = []
    proc = env.cli("sweep", str(env.tmp / "sweep.yaml"), check=False)  # no file yet: an error
    out.append(proc.stdout + proc.stderr)
    (env.tmp / "sweep.yaml").write_text(json.dumps(GRID))
    created = env.cli("sweep", str(env.tmp / "sweep.yaml"))
    sweep_id = created.stdout.strip()
    out += [created.stderr, env.cli("agent", sweep_id, "--count", "1",
                                    env={"PGPASSWORD": "hunter2"}).stderr,
            env.cli("sweep", "--print", sweep_id).stdout]
    bad = url.replace(str(pg.rsplit(":", 1)[1].split("/")[0]), "1")  # a port nobody listens on
    proc = env.cli("sweep", "--print", sweep_id, check=False,
                   env={"SWEEPCLI_STORE": bad, "SWEEPCLI_DIR": str(env.root)}, timeout=180)
    out.append(proc.stdout + proc.stderr)
    assert proc.returncode == 1 and "unavailable" in proc.stderr
    assert not any("hunter2" in text for text in out), out
    (run_dir,) = (env.root / sweep_id / "runs").iterdir()
    program_env = json.loads((run_dir / "env.json").read_text())
    assert "SWEEPCLI_STORE" not in program_env
    assert not any("hunter2" in v for v in program_env.values())  # PGPASSWORD is libpq's


def test_a_url_libpq_cannot_parse_is_refused_without_showing_it(env, pg) -> None:
    url = pg.replace("sweepcli@", "sweepcli:p%zzSECRET@")
    proc = env.cli("sweep", "--print", "abcd1234", check=False, env={"SWEEPCLI_STORE": url})
    assert proc.returncode == 2 and "cannot parse" in proc.stderr, proc.stderr
    api = subprocess.run([sys.executable, "-c", "import sweepcli, sys\n"
                          "sweepcli.Api(store=sys.argv[1]).sweep('abcd1234')", url],
                         capture_output=True, text=True, cwd=env.tmp)
    assert api.returncode == 1 and "cannot parse" in api.stderr
    for text in (proc.stdout, proc.stderr, api.stdout, api.stderr):
        assert "SECRET" not in text, text


def test_heartbeats_use_the_servers_clock_not_the_hosts(env, pg) -> None:
    if shutil.which("faketime") is None:
        pytest.skip("needs faketime")
    sweep_id = env.create({**GRID, "parameters": {"x": {"values": [1]}, "sleep": {"value": 4}}})
    # this agent's clock is an hour behind; the one looking at the sweep is on time: were
    # heartbeats stamped by hosts, the run would look silent for an hour, far past 10 s
    agent = subprocess.Popen(["faketime", "-f", "-3600s", *CLI, "agent", sweep_id], cwd=env.tmp,
                             env={**env.env, "SWEEPCLI_HEARTBEAT_TIMEOUT": "10"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    env.wait_for(lambda: env.status(sweep_id)["counts"]["running"] == 1, timeout=60)
    time.sleep(1)
    proc = env.cli("sweep", "--print", sweep_id, env={"SWEEPCLI_HEARTBEAT_TIMEOUT": "10"})
    assert "crashed" not in proc.stdout + proc.stderr and "silent" not in proc.stderr
    assert agent.wait(timeout=60) == 0, agent.stderr.read()
    assert env.status(sweep_id)["counts"]["finished"] == 1


def test_a_server_restart_does_not_kill_a_healthy_run(env, pg, pg_cluster) -> None:
    sweep_id = env.create({**GRID, "parameters": {"x": {"values": [1, 2, 3]}, "epochs": {"value": 6},
                                                  "sleep": {"value": 0.5}}})
    agent = env.agent(sweep_id)
    env.wait_for(lambda: env.status(sweep_id)["counts"]["running"] == 1, timeout=60)
    pg_cluster.restart()  # every connection dropped mid-run
    assert agent.wait(timeout=180) == 0, agent.stderr.read()
    s = env.status(sweep_id)
    assert s["counts"]["finished"] == 3 and len(s["runs"]) == 3  # nothing crashed, nothing twice
    assert all(r["steps"] == 6 for r in s["runs"])  # every metric line reached the database


def test_copy_moves_a_sweep_to_postgres_mid_way_and_back(env, pg_url) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({**GRID, "parameters": {"x": {"values": [1, 2, 3, 4, 5, 6]}}})
    env.cli("agent", sweep_id, "--count", "3")
    env.cli("enqueue", sweep_id, "--set", "x=6")
    out = env.cli("copy", sweep_id, pg_url)
    assert out.stdout.strip() == sweep_id and "3 run(s)" in out.stderr
    assert env.cli("copy", sweep_id, pg_url, check=False).returncode == 1  # already there
    on_pg = {"SWEEPCLI_STORE": pg_url}
    before = json.loads(env.cli("sweep", "--print", sweep_id, "--json", env=on_pg).stdout)
    assert len(before["queue"]) == 1 and before["counts"]["finished"] == 3
    env.cli("agent", sweep_id, env=on_pg)  # the rest of the grid, on PostgreSQL
    after = json.loads(env.cli("sweep", "--print", sweep_id, "--json", env=on_pg).stdout)
    xs = sorted(r["config"]["x"] for r in after["runs"])
    assert xs == [1, 2, 3, 4, 5, 6]  # each grid point once (the enqueued x=6 is grid point 6)
    assert sum(1 for r in after["runs"] if r["queued"]) == 1
    back = env.tmp / "back"
    env.cli("copy", sweep_id, str(back), env=on_pg)
    again = json.loads(env.cli("sweep", "--print", sweep_id, "--json", "--dir", str(back)).stdout)
    assert [(r["run_id"], r["state"], r["value"], r["steps"]) for r in again["runs"]] == [
        (r["run_id"], r["state"], r["value"], r["steps"]) for r in after["runs"]]
    assert all((back / sweep_id / "runs" / r["run_id"] / "metrics.jsonl").exists()
               for r in again["runs"])
    # a sweep's folder as SRC (the folder store's, whatever --store says)
    env.cli("copy", str(back / sweep_id), str(env.tmp / "third"), env=on_pg)
    third = json.loads(env.cli("sweep", "--print", sweep_id, "--json", "--dir",
                               str(env.tmp / "third")).stdout)
    assert third["runs"] == again["runs"]


def test_without_psycopg_the_store_says_how_to_get_it(env, pg) -> None:
    fake = env.tmp / "nopsycopg" / "psycopg"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named psycopg')\n")
    (env.tmp / "sweep.yaml").write_text(json.dumps(GRID))
    proc = env.cli("sweep", str(env.tmp / "sweep.yaml"), check=False,
                   env={"PYTHONPATH": str(fake.parent)})
    assert proc.returncode == 1 and "pip install 'sweepcli[postgres]'" in proc.stderr
    proc = env.cli("agent", "abcd1234", check=False, env={"PYTHONPATH": str(fake.parent)})
    assert proc.returncode == 1 and "pip install 'sweepcli[postgres]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_store_that_is_not_a_postgres_url_is_a_usage_error(env) -> None:
    proc = env.cli("sweep", "--print", "abcd1234", "--store", "mysql://x", check=False)
    assert proc.returncode == 2 and "postgresql://" in proc.stderr
    proc = env.cli("sweep", "--print", "abcd1234", check=False,
                   env={"SWEEPCLI_STORE": "sqlite:///x.db"})
    assert proc.returncode == 2 and "postgresql://" in proc.stderr


def test_many_agents_on_postgres_run_each_grid_point_once(env, pg) -> None:
    sweep_id = env.create({**GRID, "parameters": {"x": {"values": list(range(60))}}})
    agents = [env.agent(sweep_id) for _ in range(12)]
    for a in agents:
        assert a.wait(timeout=300) == 0, a.stderr.read()
    xs = [r["config"]["x"] for r in env.status(sweep_id)["runs"]]
    assert sorted(xs) == list(range(60))
    assert os.environ.get("SWEEPCLI_STORE") is None  # (the tests' own process uses no store)


@pytest.mark.parametrize("level", ["repeatable read", "serializable"])
def test_a_stricter_default_isolation_runs_each_point_once(env, pg, level) -> None:
    """A DBA's default of REPEATABLE READ or SERIALIZABLE gave the claim a snapshot older
    than the lock it waited for (41-45 runs of a 40-point grid): the lock's transactions
    say their own isolation level."""
    dbname = pg.rsplit("/", 1)[1]
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE \"{dbname}\" SET default_transaction_isolation = '{level}'")
    quick = "import time; time.sleep(0.02)\n" + PROGRAM
    env.program(quick)
    sweep_id = env.create({**GRID, "parameters": {"x": {"values": list(range(40))}}})
    options = {"PGOPTIONS": "-c default_transaction_isolation=" + level.replace(" ", "\\ ")}
    agents = [env.agent(sweep_id, env=options) for _ in range(4)]
    for a in agents:
        assert a.wait(timeout=300) == 0, a.stderr.read()
    runs = env.status(sweep_id)["runs"]
    assert len(runs) == 40 and sorted(r["config"]["x"] for r in runs) == list(range(40))


def test_roles_without_create_on_the_schema_run_and_look(env, pg) -> None:
    """Tables made once (by their owner); afterwards a role with the tables' privileges
    alone runs agents, and a read-only one can look (PostgreSQL 15 refuses even CREATE TABLE
    IF NOT EXISTS without CREATE on the schema, and every command ran it)."""
    sweep_id = env.create(GRID)
    with psycopg.connect(pg, autocommit=True) as conn:
        for role in ("worker", "reader"):
            conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public "
                     "TO worker")
        conn.execute("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO worker")
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    as_role = lambda role: {"SWEEPCLI_STORE": pg.replace("sweepcli@", f"{role}@")}  # noqa: E731
    proc = env.cli("agent", sweep_id, "--count", "2", env=as_role("worker"), check=False)
    assert proc.returncode == 0, proc.stderr
    look = env.cli("sweep", "--print", sweep_id, "--json", env=as_role("reader"), check=False)
    assert look.returncode == 0, look.stderr
    assert json.loads(look.stdout)["counts"]["finished"] == 2
    proc = env.cli("agent", sweep_id, env=as_role("reader"), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "permission denied" in proc.stderr.lower()


def test_a_value_postgresql_cannot_store_is_said_as_refused_not_unavailable(env, pg) -> None:
    """A NUL character (W&B's validator takes it) is text jsonb refuses: the server said
    why, and the message says what the server said, not that it is unavailable."""
    (env.tmp / "nul.yaml").write_text(json.dumps({**GRID, "parameters": {"x": {"value": "a\0b"}}}))
    proc = env.cli("sweep", "nul.yaml", check=False)
    assert proc.returncode == 1 and "refused" in proc.stderr, proc.stderr
    assert "unavailable" not in proc.stderr and "Traceback" not in proc.stderr


def test_store_reaches_every_layer_explicitly_not_through_the_environment(pg_url, tmp_path,
                                                                          monkeypatch) -> None:
    """In-process: --store opens the store the command uses; the process's environment
    (which the API, and programs, would read) is left as it was."""
    from click.testing import CliRunner

    from sweepcli import cli

    monkeypatch.delenv("SWEEPCLI_STORE", raising=False)
    (tmp_path / "s.yaml").write_text(json.dumps(GRID))
    runner = CliRunner()
    made = runner.invoke(cli.main, ["sweep", str(tmp_path / "s.yaml"), "--store", pg_url,
                                    "--dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    assert "SWEEPCLI_STORE" not in os.environ
    sweep_id = made.stdout.strip()
    look = runner.invoke(cli.main, ["sweep", "--print", sweep_id, "--json", "--store", pg_url,
                                    "--dir", str(tmp_path)])
    assert json.loads(look.stdout)["id"] == sweep_id
    paused = runner.invoke(cli.main, ["sweep", "--pause", sweep_id, "--store", pg_url])
    assert paused.exit_code == 0 and "SWEEPCLI_STORE" not in os.environ
    assert rows(pg_url, "SELECT count(*) FROM sweepcli_events WHERE event->>'op' = 'control'"
                ) == [(1,)]
