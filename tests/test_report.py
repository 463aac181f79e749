"""The HTML report renders in headless Chromium with every run; the terminal plot."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from .conftest import PROGRAM

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


def test_report_is_self_contained(env, finished_sweep) -> None:
    out = env.tmp / "r.html"
    assert env.cli("report", finished_sweep, "--out", str(out)).stdout.strip() == str(out)
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


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package")
def test_report_renders_in_headless_chromium(env, finished_sweep, tmp_path) -> None:
    out = env.tmp / "r.html"
    env.cli("report", finished_sweep, "--out", str(out))
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
