"""The reports: the interactive page (plotly) in a real headless Chromium, driven through
its DevTools protocol (hover, sort, the metric axis switch, --watch's reload); the static
page; parameter importance; the terminal plot."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

import sweepcli

from .conftest import CLI, PROGRAM

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def finished_sweep(env):
    env.program(PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": [1, 2, 3, 4, 5]},
                                          "opt": {"parameters": {"name": {"values": ["a", "b"]}}},
                                          "epochs": {"value": 2}}})
    env.cli("agent", sweep_id)
    return sweep_id


def test_static_report_is_self_contained(env, finished_sweep) -> None:
    out = env.tmp / "r.html"
    assert env.cli("report", finished_sweep, "--static", "--out",
                   str(out)).stdout.strip() == str(out)
    page = out.read_text()
    assert page.count("<tr class='run'>") == 10 and page.count('class="run-line"') == 10
    # nothing is fetched when it opens: no script, stylesheet, frame or image from elsewhere,
    # no URL in an attribute or in CSS other than an in-page #fragment or inline data:
    lowered = page.lower()
    for tag in ("<script", "<link", "<iframe", "<object", "<embed", "<img", "@import"):
        assert tag not in lowered, tag
    urls = re.findall(r"""(?:src|href|action|xlink:href)\s*=\s*["']?([^"' >]+)""", page, re.I)
    urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", page, re.I)
    assert all(u.startswith(("#", "data:")) for u in urls), urls
    assert "opt.name" in page and "Best loss so far" in page
    # the best against what was spent: a step line over the steps the runs logged
    assert "Best loss against what was spent" in page and 'class="against-spent"' in page
    assert "steps spent" in page


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package")
def test_static_report_renders_in_headless_chromium(env, finished_sweep, tmp_path) -> None:
    out = env.tmp / "r.html"
    env.cli("report", finished_sweep, "--static", "--out", str(out))
    profile = tmp_path / "profile"
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                          out.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert dom.count('class="run"') == 10  # the table, as the browser parsed it
    assert dom.count("<polyline") >= 11  # one line per run in parallel coordinates + best so far
    png = tmp_path / "shot.png"
    shot = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                           "--window-size=1000,1400", out.as_uri()], capture_output=True, timeout=120)
    assert shot.returncode == 0, shot.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_terminal_plot(env, finished_sweep) -> None:
    text = env.cli("plot", finished_sweep).stdout
    assert "best so far" in text and "█" in text and "run 10" in text


def test_report_without_plotly_writes_the_static_page_and_says_how(env, finished_sweep) -> None:
    # a Python where plotly cannot be imported (as without the extra)
    fake = env.tmp / "noplotly" / "plotly"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named plotly')\n")
    out = env.tmp / "r.html"
    proc = env.cli("report", finished_sweep, "--out", str(out),
                   env={"PYTHONPATH": str(fake.parent)})
    assert "pip install 'sweepcli[report]'" in proc.stderr
    assert 'class="run-line"' in out.read_text() and "<script" not in out.read_text()


HYPERBAND_PROGRAM = """
import json, math, os, time
cfg = json.load(open(os.environ["SWEEPCLI_CONFIG_FILE"]))
out = open(os.environ["SWEEPCLI_METRICS_FILE"], "a")
for epoch in range(9):
    time.sleep(0.02)
    loss = (math.log10(cfg["x"]) + 2) ** 2 + (0.5 if cfg["opt"] == "b" else 0) + 1 / (epoch + 1)
    if cfg["x"] > 0.5:
        loss = 1000.0  # diverged
    out.write(json.dumps({"loss": loss}) + "\\n")
    out.flush()
"""


@pytest.fixture
def hyperband_sweep(env):
    """Random search with hyperband: finished and stopped runs, a log parameter, a
    categorical, one that does nothing, and one diverged run (loss 1000 against ~1)."""
    env.program(HYPERBAND_PROGRAM)
    sweep_id = env.create({
        "program": "train.py", "method": "random", "run_cap": 24,
        "metric": {"name": "loss", "goal": "minimize"},
        "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 2},
        "parameters": {"x": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1.0},
                       "opt": {"values": ["a", "b"]}, "noise": {"min": 0.0, "max": 1.0}},
        "sweepcli": {"seed": 3}})
    env.cli("enqueue", sweep_id, "--set", "x=0.9", "--set", "opt=a", "--set", "noise=0.5")
    agents = [env.agent(sweep_id) for _ in range(2)]
    for a in agents:
        assert a.wait(timeout=120) == 0, a.stderr.read()
    return sweep_id


def _sweep_settings(page: str) -> dict:
    import json

    start = page.index("const SWEEP = ") + len("const SWEEP = ")
    return json.loads(page[start:page.index(";</script>", start)])


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package")
def test_interactive_report_in_a_browser(env, hyperband_sweep, tmp_path) -> None:
    from .browser import Browser

    out = env.tmp / "r.html"
    env.cli("report", hyperband_sweep, "--out", str(out))
    page = out.read_text()
    status = env.status(hyperband_sweep)
    runs = status["runs"]
    assert len(runs) == 24 and {"finished", "stopped"} <= {r["state"] for r in runs}
    # self-contained: nothing outside the page's own scripts points elsewhere
    html_only = re.sub(r"<script>.*?</script>", "", page, flags=re.S).lower()
    for tag in ("<script src", "<link", "<iframe", "<img", "@import"):
        assert tag not in html_only, tag
    settings = _sweep_settings(page)
    assert {"best", "spent", "curves", "parallel", "param0", "param1", "param2"} <= set(
        settings["figs"])
    browser = Browser(tmp_path / "profile")  # no network: every host resolves to nothing
    try:
        browser.open(out.as_uri())
        assert browser.wait("document.body && document.body.dataset.ready") == "1"
        # every chart drawn: best so far (against runs, against what was spent), curves,
        # parallel coordinates (WebGL), 3 parameters
        assert browser.js("document.querySelectorAll('.js-plotly-plot').length") == 7
        # best so far against the steps spent: never worse, ending at the best run's value
        # when every step the sweep logged is spent
        spent = browser.js("JSON.stringify(document.getElementById('fig-spent').data[0])")
        import json as _json

        line = _json.loads(spent)
        assert line["y"] == sorted(line["y"], reverse=True)  # (loss: lower is better)
        assert line["y"][-1] == status["best"]["value"]
        assert line["x"][-1] == pytest.approx(sum(r["steps"] for r in runs))
        assert browser.js("document.querySelectorAll('#fig-parallel canvas').length") >= 1
        assert browser.js("document.querySelectorAll('#fig-parallel .axis-title').length") == 4
        # every run with a value is a point of the best-so-far chart, its ID in its hover text
        texts = browser.js("[].concat(...document.getElementById('fig-best').data"
                           ".filter(t => t.mode === 'markers').map(t => t.text)).join(' ')")
        assert all(r["run_id"] in texts for r in runs if r["value"] is not None)
        # hovering a point shows that run's ID and config
        label = browser.js("""(() => {
            const el = document.getElementById('fig-best');
            Plotly.Fx.hover(el, [{curveNumber: 0, pointNumber: 0}]);
            return el.querySelector('.hovertext') ? el.querySelector('.hovertext').textContent : '';
        })()""")
        first = browser.js("document.getElementById('fig-best').data[0].text[0]")
        run_id = re.search(r"<b>(\w+)</b>", first).group(1)
        assert run_id in label and "x = " in label
        # learning curves: where hyperband stopped runs, and the bands' thresholds
        names = browser.js("document.getElementById('fig-curves').data.map(t => t.name)")
        assert "stopped here" in names and "hyperband threshold" in names
        stopped = browser.js("document.getElementById('fig-curves').data"
                             ".find(t => t.name === 'stopped here').text.join(' ')")
        assert "worse than the band's threshold" in stopped
        assert stopped.count("<b>") == sum(r["state"] == "stopped" for r in runs)
        # the diverged run does not squash the axis: clipped by default, full on request
        top = browser.js("document.getElementById('fig-best')._fullLayout.yaxis.range[1]")
        assert top < 100
        symbols = browser.js("JSON.stringify(document.getElementById('fig-best').data"
                             ".map(t => t.marker && t.marker.symbol))")
        assert "triangle-up" in symbols
        browser.js("document.querySelector('#axis-mode input[value=full]').click()")
        assert browser.wait("document.getElementById('fig-best')._fullLayout.yaxis.range[1] > 900")
        # importance: the parameter that drives the loss first, the one that does nothing last
        order = browser.js("[...document.querySelectorAll('#importance tr.imp td:first-child')]"
                           ".map(td => td.textContent)")
        assert order[0] == "x" and order[-1] == "noise"
        # the table sorts by a click on a column, numbers as numbers, both ways
        assert browser.js("document.querySelectorAll('#runs tbody tr').length") == 24
        browser.js("document.querySelectorAll('#runs th')[2].click()")
        col = browser.js("[...document.querySelectorAll('#runs tbody tr')]"
                         ".map(r => r.cells[2].dataset.v).filter(v => v).map(Number)")
        assert col == sorted(col) and col[-1] == 1000.0
        browser.js("document.querySelectorAll('#runs th')[2].click()")
        col = browser.js("[...document.querySelectorAll('#runs tbody tr')]"
                         ".map(r => r.cells[2].dataset.v).filter(v => v).map(Number)")
        assert col == sorted(col, reverse=True)
    finally:
        browser.close()


def test_importance_ranks_what_drives_the_metric(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "random", "run_cap": 20,
                           "metric": {"name": "loss"},
                           "parameters": {"x": {"min": 0.0, "max": 1.0},
                                          "noise": {"min": 0.0, "max": 1.0},
                                          "colour": {"values": ["red", "green", "blue"]},
                                          "epochs": {"value": 1}},
                           "sweepcli": {"seed": 5}})
    env.cli("agent", sweep_id)
    imp = sweepcli.Api(env.root).sweep(sweep_id).importance()
    assert [d["name"] for d in imp][0] == "x" and imp[0]["importance"] > 0.5
    assert imp[0]["correlation"] > 0.9  # loss = x
    assert {d["name"] for d in imp} == {"x", "noise", "colour"}
    text = env.cli("sweep", "--print", sweep_id).stdout
    assert re.search(r"^top\s+x \d\.\d\d, ", text, re.M), text


def test_importance_waits_for_enough_runs(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "random", "run_cap": 9,
                           "metric": {"name": "loss"},
                           "parameters": {"x": {"min": 0.0, "max": 1.0}, "epochs": {"value": 1}}})
    env.cli("agent", sweep_id)
    assert sweepcli.Api(env.root).sweep(sweep_id).importance() is None
    assert "top" not in env.cli("sweep", "--print", sweep_id).stdout
    assert "importance" not in env.status(sweep_id)  # --json: what scripts poll stays fast


def test_terminal_plot_keeps_a_diverged_run_from_flattening_the_rest(env) -> None:
    env.program(PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1e6]},
                                          "epochs": {"value": 1}}})
    env.cli("agent", sweep_id)
    text = env.cli("plot", sweep_id, "--height", "8").stdout
    assert "▲ 1 run(s) beyond the axis" in text
    rows = [ln for ln in text.splitlines() if "│" in ln]
    dots = [i for i, ln in enumerate(rows) if "·" in ln or "█" in ln]
    assert len(set(dots)) >= 4  # the six ordinary runs spread over the chart's rows
    full = env.cli("plot", sweep_id, "--height", "8", "--full").stdout
    assert "▲" not in full and "1e+06" in full


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package")
def test_report_watch_rewrites_atomically_and_the_open_page_follows(env, tmp_path) -> None:
    import threading

    from .browser import Browser
    from .conftest import CLI

    env.program(PROGRAM)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": [1, 2, 3, 4, 5, 6]},
                                          "epochs": {"value": 2}, "sleep": {"value": 0.6}}})
    out = env.tmp / "live.html"
    agent = env.agent(sweep_id)
    watch = subprocess.Popen([*CLI, "report", sweep_id, "--out", str(out), "--watch", "1"],
                             cwd=env.tmp, env=env.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    torn: list[int] = []
    seen: set[str] = set()
    done = threading.Event()

    def read() -> None:  # a reader that never sees half a page
        while not done.is_set():
            try:
                data = out.read_bytes()
            except FileNotFoundError:
                continue
            if not data.rstrip().endswith(b"</html>"):
                torn.append(len(data))
            else:
                seen.add(_sweep_settings(data.decode())["stamp"])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    browser = Browser(tmp_path / "profile")
    try:
        env.wait_for(out.exists, timeout=30)
        browser.open(out.as_uri())
        # sort by the metric, scroll, mark the document and read its stamp in one look: the
        # page may reload itself between two looks (the sweep goes on)
        first = browser.wait("document.body && document.body.dataset.ready && "
                             "typeof SWEEP !== 'undefined' && "
                             "(document.querySelectorAll('#runs th')[2].click(), "
                             "window.scrollTo(0, 400), window.sameDocument = 1, SWEEP.stamp)")
        # the page reloads itself once the sweep has moved on, keeping its place
        browser.wait(f"typeof window.sameDocument === 'undefined' && "
                     f"document.body && document.body.dataset.ready && SWEEP.stamp !== '{first}'",
                     timeout=60)
        # (read in one look at a whole page: the sweep goes on, the page may reload again)
        place = browser.wait("document.body && document.body.dataset.ready && "
                             "JSON.stringify([window.scrollY, document.querySelectorAll("
                             "'#runs th .arrow')[2].textContent])")
        assert json.loads(place) == [400, " ▲"]
        assert agent.wait(timeout=120) == 0
        assert watch.wait(timeout=60) == 0  # the sweep ended: the last page, then exit
    finally:
        done.set()
        browser.close()
        if watch.poll() is None:
            watch.kill()
    reader.join(timeout=10)
    assert not torn, torn
    assert len(seen) >= 3  # rewritten as runs ended, not once
    final = out.read_text()
    assert "live: rewritten" not in final and final.count("<tr class='run'>") == 6
    assert "is final" in watch.stderr.read()


def test_report_open_without_a_display_says_where_the_file_is(env, finished_sweep) -> None:
    out = env.tmp / "r.html"
    env_vars = {k: v for k, v in env.env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run([*CLI, "report",
                           finished_sweep, "--static", "--out", str(out), "--open"],
                          cwd=env.tmp, env=env_vars, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == str(out)
    assert "no display here" in proc.stderr and out.resolve().as_uri() in proc.stderr


def test_the_report_shows_what_programs_put_in_their_summary(env) -> None:
    env.program("""
        import sweepcli
        run = sweepcli.init()
        run.log({"loss": run.config["x"]})
        run.summary["final_acc"] = 1 - run.config["x"] / 10
        run.summary["note"] = "<b>kept</b>"
    """)
    sweep_id = env.create({"program": "train.py", "method": "grid", "metric": {"name": "loss"},
                           "parameters": {"x": {"values": [1, 2]}}})
    env.cli("agent", sweep_id)
    for static in (True, False):
        if not static:
            pytest.importorskip("plotly")
        out = env.tmp / f"r{static}.html"
        env.cli("report", sweep_id, "--out", str(out), *(["--static"] if static else []))
        page = out.read_text()
        assert "summary.final_acc" in page and ">0.9<" in page and ">0.8<" in page
        assert "&lt;b&gt;kept&lt;/b&gt;" in page and "<b>kept</b>" not in page  # escaped


def test_only_log_distributed_parameters_get_log_axes() -> None:
    """A uniform parameter was drawn on a log axis (and correlated in log) once a draw
    spanned three decades."""
    from sweepcli.config import validate
    from sweepcli.reporting.insight import is_log

    space = validate({"method": "random", "metric": {"name": "loss"}, "parameters": {
        "wide": {"min": 0.001, "max": 10.0},
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
        "grid": {"values": [1e-4, 1e-3, 1e-2, 1e-1]}}}).space
    assert not is_log(space["wide"], [0.002, 0.5, 9.0])
    assert is_log(space["lr"], [1e-5, 2e-5])
    assert is_log(space["grid"], [1e-4, 1e-1])  # a list of values across decades: its scale
    assert is_log(None, [1e-4, 1.0])  # a prior run's parameter the config does not name
