"""``sweepcli ui`` in a real Chromium (DevTools over a pipe), a sweep running beside it: the
page follows the agents without a reload, draws any key the runs logged, its controls work
and are refused without the token, and hostile names in a run's config, summary and keys
show as text."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.error
import urllib.request

import pytest

pytest.importorskip("aiohttp")

from .browser import CHROMIUM, Browser  # noqa: E402
from .conftest import CLI, Env, Watched  # noqa: E402

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine")

PROGRAM = """
import json, os, sys, time
import sweepcli
run = sweepcli.init()
gate = os.environ.get("GATE")
for step in range(int(run.config.steps)):
    time.sleep(float(run.config.get("pause", 0.05)))  # the step's work
    run.log({"loss": 1.0 / (step + 1) + float(run.config.lr), "train/loss": 2.0 / (step + 1),
             "val_acc": step * 0.01, "epoch": step})
    if gate and step == 2:
        while not os.path.exists(gate):  # a run held open until the test lets it go
            time.sleep(0.05)
run.summary["note"] = run.config.get("label", "ok")
run.finish()
"""


def start_ui(env: Env, *args: str) -> tuple[Watched, str]:
    proc = subprocess.Popen([*CLI, "ui", "--port", "0", *args], cwd=env.tmp, env=env.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    ui = Watched(proc)
    ui.wait_for_text("sweepcli ui: http")
    url = re.search(r"sweepcli ui: (\S+)", ui.so_far()).group(1)
    return ui, url


def get(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, headers=headers or {},
                                     method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def create(env: Env, label: object = "ok", steps: int = 12, **params: object) -> str:
    env.program(PROGRAM)
    return env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                       "parameters": {"lr": {"values": [0.1, 0.2]}, "steps": {"value": steps},
                                      "label": {"value": label}, **params}})


@needs_chromium
@pytest.mark.both_stores
def test_the_page_follows_the_agents_and_draws_any_key(env, tmp_path) -> None:
    sweep_id = create(env, steps=8)
    gate = tmp_path / "gate"
    ui, url = start_ui(env)
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(url)
        assert browser.wait(f"!!document.querySelector('tr[data-id=\"{sweep_id}\"]')")
        browser.open(f"{url}sweep/{sweep_id}")
        assert browser.wait("!!document.getElementById('runs-title')")
        browser.js("window.__same_page = 1")  # gone if the page reloads
        assert browser.js("document.querySelectorAll('tr[data-run]').length") == 0
        agent = env.watched_agent(sweep_id, env={"GATE": str(gate)})
        # a run and its first metric lines reach the open page, without a reload
        assert browser.wait("document.querySelectorAll('tr[data-run]').length >= 1")
        assert browser.wait("(document.getElementById('panel-fig-0').data || [])"
                            ".some(t => t.x.length >= 3)", timeout=30)
        assert browser.js("document.getElementById('head-state').textContent") == "running"
        gate.write_text("go")
        assert agent.wait(timeout=120) == 0, agent.text()
        assert browser.wait("document.getElementById('head-state').textContent === 'finished'")
        assert browser.wait("document.querySelectorAll('tr[data-run]').length === 2")
        assert browser.wait("(document.getElementById('panel-fig-0').data || [])"
                            ".filter(t => t.x.length === 8).length === 2")
        assert browser.js("window.__same_page") == 1
        # any key the runs logged: a chart of train/loss, against epoch, smoothed, log axis
        keys = browser.js("[...document.querySelector('#panel-0 select.key').options]"
                          ".map(o => o.value)")
        assert {"loss", "train/loss", "val_acc", "epoch"} <= set(keys)
        browser.js("""(() => { const p = document.getElementById('panel-0');
            const set = (sel, v) => { const e = p.querySelector(sel); e.value = v;
                e.dispatchEvent(new Event(e.type === 'checkbox' || e.tagName === 'SELECT' ? 'change' : 'input')); };
            set('select.key', 'train/loss'); set('select.x', 'epoch');
            const log = p.querySelector('input.log'); log.checked = true;
            log.dispatchEvent(new Event('change')); })()""")
        assert browser.wait("document.getElementById('panel-fig-0').layout.yaxis.type === 'log'")
        ys = browser.js("document.getElementById('panel-fig-0').data[0].y")
        xs = browser.js("document.getElementById('panel-fig-0').data[0].x")
        assert ys[0] == pytest.approx(2.0) and xs[:3] == [0, 1, 2]
        # the hover carries the run's config
        assert "lr=0." in browser.js("document.getElementById('panel-fig-0').data[0].text[0]")
        # grouped by a parameter: a group's mean and its range (two groups: lr 0.1, 0.2)
        browser.js("""(() => { const g = document.querySelector('#panel-0 select.group');
            g.value = 'lr'; g.dispatchEvent(new Event('change')); })()""")
        assert browser.wait("document.getElementById('panel-fig-0').data.length === 4")
        names = browser.js("document.getElementById('panel-fig-0').data.map(t => t.name)")
        assert "lr=0.1 (1 run)" in names and "lr=0.2 (1 run)" in names
        # the sweep's views (as the report draws them) and the summary key in the table
        assert browser.wait("document.querySelectorAll('#views .js-plotly-plot').length >= 1")
        assert "Parameter importance" in browser.js(
            "document.getElementById('view-importance').textContent")
        assert browser.wait("[...document.querySelectorAll('#runs th')]"
                            ".some(th => th.textContent.startsWith('note'))")
        # compare: two runs selected, their config diff
        browser.js("document.querySelectorAll('tr[data-run] input[type=checkbox]')"
                   ".forEach(b => { b.checked = true; b.dispatchEvent(new Event('change')); })")
        assert browser.wait("!!document.getElementById('config-diff')")
        assert "lr" in browser.js("document.getElementById('config-diff').textContent")
        # a run's page: its attempts, summary, log, folder
        run_id = env.status(sweep_id)["runs"][0]["run_id"]
        browser.open(f"{url}sweep/{sweep_id}/run/{run_id}")
        assert browser.wait("!!document.getElementById('attempts')")
        assert sweep_id in browser.js("document.getElementById('run-folder').textContent")
        assert "note" in browser.js("document.getElementById('summary').textContent")
    finally:
        browser.close()
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=30)


@needs_chromium
def test_controls_work_with_the_token_and_are_refused_without(env, tmp_path) -> None:
    sweep_id = create(env)
    ui, url = start_ui(env, "--allow-control")
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(f"{url}sweep/{sweep_id}")
        assert browser.wait("!!document.getElementById('control-pause')")
        browser.js("document.getElementById('control-pause').click()")
        assert env.wait_for(lambda: env.status(sweep_id)["state"] == "paused")
        assert browser.wait("document.getElementById('head-state').textContent === 'paused'")
        # the same request without the token, from the page itself, is refused
        code = browser.js(f"fetch('/api/sweep/{sweep_id}/control/resume', {{method: 'POST'}})"
                          ".then(r => r.status)")
        assert code == 403 and env.status(sweep_id)["state"] == "paused"
        browser.js("document.getElementById('control-resume').click()")
        assert env.wait_for(lambda: env.status(sweep_id)["state"] == "running")
        code, _ = get(f"{url}api/sweep/{sweep_id}/control/cancel", b"")
        assert code == 403 and env.status(sweep_id)["state"] == "running"
        # a run stopped from its page: that run only, gracefully; the sweep goes on
        gate = tmp_path / "gate"
        agent = env.watched_agent(sweep_id, "-t", "5", env={"GATE": str(gate)})
        run_id = env.wait_for(lambda: next((r["run_id"] for r in env.status(sweep_id)["runs"]
                                            if r["state"] == "running"), None))
        browser.open(f"{url}sweep/{sweep_id}/run/{run_id}")
        assert browser.wait("!!document.getElementById('control-stop-run')")
        browser.js("window.confirm = () => true; "
                   "document.getElementById('control-stop-run').click()")
        agent.wait_for_text(f"run {run_id}: stopped on request")
        gate.write_text("go")
        assert agent.wait(timeout=120) == 0, agent.text()
        states = {r["run_id"]: r["state"] for r in env.status(sweep_id)["runs"]}
        assert states[run_id] == "stopped" and list(states.values()).count("finished") == 1
    finally:
        browser.close()
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=30)
    ui, url = start_ui(env)  # without --allow-control: no buttons, every control refused
    try:
        page = get(f"{url}sweep/{sweep_id}")[1]
        token = re.search(r'name="sweepcli-token" content="([^"]*)"', page).group(1)
        assert token == ""
        code, text = get(f"{url}api/sweep/{sweep_id}/control/pause", b"",
                         {"X-Sweepcli-Token": "guess"})
        assert code == 403 and "--allow-control" in text
        # a page of another site that resolved to this address is refused (DNS rebinding)
        assert get(url, headers={"Host": "evil.example:80"})[0] == 403
        # no path a request can steer: IDs are checked before any path is built
        assert get(f"{url}api/sweep/..%2F..%2Fetc")[0] == 404
        assert get(f"{url}api/sweep/{sweep_id}/run/..%2Fx/lines")[0] == 404
    finally:
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=30)


def test_bound_beyond_this_host_every_request_needs_the_token(env) -> None:
    sweep_id = create(env)
    ui, url = start_ui(env, "--host", "0.0.0.0")
    try:
        assert "?token=" in url and "the token is needed" in ui.so_far()
        port = re.search(r":(\d+)/", url).group(1)
        base = f"http://127.0.0.1:{port}/"
        for path in ("", f"api/sweep/{sweep_id}", "api/sweeps"):
            code, _ = get(base + path)
            assert code == 401, path
        token = url.split("?token=")[1]
        code, text = get(f"{base}api/sweeps?token={token}")
        assert code == 200 and sweep_id in text
        assert get(f"{base}api/sweeps", headers={"X-Sweepcli-Token": token})[0] == 200
        assert get(f"{base}api/sweeps?token=wrong")[0] == 401
    finally:
        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=30) == 0


@needs_chromium
def test_hostile_names_show_as_text(env, tmp_path) -> None:
    bad = "<img src=x onerror=\"window.__xss=1\">"
    env.program(PROGRAM.replace('"val_acc"', json.dumps(bad)))
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"lr": {"value": 0.1}, "steps": {"value": 3},
                                          "label": {"values": [bad, "<script>window.__xss=2"
                                                                    "</script>"]}}})
    agent = env.watched_agent(sweep_id)
    assert agent.wait(timeout=120) == 0, agent.text()
    ui, url = start_ui(env)
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(f"{url}sweep/{sweep_id}")
        assert browser.wait("document.querySelectorAll('tr[data-run]').length === 2")
        assert browser.wait("[...document.querySelectorAll('#runs th')]"
                            ".some(th => th.textContent.startsWith('note'))")
        browser.js("""(() => { const s = document.querySelector('#panel-0 select.key');
            s.value = [...s.options].map(o => o.value).find(v => v.startsWith('<img'));
            s.dispatchEvent(new Event('change')); })()""")
        assert browser.wait("(document.getElementById('panel-fig-0').data || []).length === 2")
        assert browser.wait("document.querySelectorAll('#views .js-plotly-plot').length >= 1")
        table = browser.js("document.getElementById('runs').textContent")
        assert bad in table  # the config and the summary, as text
        assert browser.js("document.querySelectorAll('main img, main script').length") == 0
        assert browser.js("window.__xss") is None
        run_id = env.status(sweep_id)["runs"][0]["run_id"]
        browser.open(f"{url}sweep/{sweep_id}/run/{run_id}")
        assert browser.wait("!!document.getElementById('summary')")
        assert browser.js("document.querySelectorAll('main img, main script').length") == 0
        assert browser.js("window.__xss") is None
    finally:
        browser.close()
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=30)


def test_a_port_in_use_is_said_plainly(env) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        got = env.cli("ui", "--port", str(port), check=False, timeout=60)
    assert got.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in got.stderr
    assert "choose another --port" in got.stderr and "Traceback" not in got.stderr


def test_without_the_extra_it_says_how_to_get_it(env, tmp_path) -> None:
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "aiohttp.py").write_text("raise ImportError('aiohttp is not installed here')\n")
    got = env.cli("ui", check=False, env={"PYTHONPATH": str(blocker)})
    assert got.returncode == 2 and "pip install 'sweepcli[ui]'" in got.stderr
