"""The HTML reports in a real browser: headless Chromium opens a page, and a script injected as
the first element of its ``<head>`` records script errors, files the page loads or refers to
(anything but ``data:`` URIs), and how many ``<img>`` decoded; a screenshot must not be blank.

Needs the Debian package ``chromium`` (``.ci/run`` installs it); skipped without it.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CHECK = """<script>(function(){var errs=[];
window.onerror=function(m,s,l){errs.push(String(m)+" @"+l);};
window.addEventListener("error",function(e){var t=e.target;if(t&&t.tagName){errs.push("failed "+t.tagName);}},true);
window.addEventListener("load",function(){var im=Array.prototype.slice.call(document.images);
var res=performance.getEntriesByType("resource").map(function(r){return r.name;});
document.querySelectorAll("link[href],script[src],img[src],iframe[src],source[src],embed[src],object[data]")
.forEach(function(e){res.push(e.getAttribute("href")||e.getAttribute("src")||e.getAttribute("data"));});
res=res.filter(function(n){return n.indexOf("data:")!==0;});
var pre=document.createElement("pre");pre.id="cisgram-check";
pre.textContent=JSON.stringify({images:im.length,loaded:im.filter(function(i){return i.complete&&i.naturalWidth>0;}).length,
errors:errs,external:res});document.body.appendChild(pre);});})();</script>"""


def _browser() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    pytest.skip("headless Chromium not installed (Debian package chromium; .ci/run installs it)")


def _chromium(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-extensions", "--no-first-run",
           f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def check_in_browser(report: Path, tmp_path: Path) -> dict:
    """Open a copy of ``report`` with the check script injected; return what it recorded."""
    browser = _browser()
    text = report.read_text()
    assert text.count("<head>") == 1
    page = tmp_path / f"checked_{report.name}"
    # a byte-order mark keeps the page UTF-8 although the script pushes its <meta charset> down
    page.write_text("\ufeff" + text.replace("<head>", "<head>" + CHECK, 1), encoding="utf-8")
    r = _chromium(browser, tmp_path, "--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    found = re.search(r'<pre id="cisgram-check">(.*?)</pre>', r.stdout, re.S)
    assert found, f"no check result in the dumped DOM (exit {r.returncode}): {r.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def assert_renders(report: Path, tmp_path: Path) -> dict:
    got = check_in_browser(report, tmp_path)
    assert got["images"] >= 1
    assert got["loaded"] == got["images"], got
    assert got["errors"] == [], got
    assert got["external"] == [], got  # self-contained: nothing fetched
    return got


def assert_screenshot_not_blank(report: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "shot.png"
    r = _chromium(_browser(), tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", report.as_uri())
    assert shot.exists(), r.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1200, 2000)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 10  # None: more colours than maxcolors


@pytest.fixture(scope="module")
def compare_report(tmp_path_factory) -> Path:
    """The report of compare_runs on two synthetic runs (a regression and a 0/1 target)."""
    from cisgram.data.targets import TrainingData
    from cisgram.workflows.compare import compare_runs
    from cisgram.workflows.rundir import write_run

    base = tmp_path_factory.mktemp("browser_cmp")
    rng = np.random.default_rng(0)
    n = 600
    split = np.repeat(["train", "val", "test"], n // 3)
    s = rng.normal(size=n)
    obs = np.column_stack([s + 0.3 * rng.normal(size=n), (s > 0.3).astype(float)])
    data = TrainingData(pd.DataFrame({"region": [f"chr1:{i}" for i in range(n)]}), np.zeros((n, 1), np.uint8), obs,
                        split, ["y", "bound"], [{}, {}], "genome.fa", {"kind": "blocks"})
    for name in ("a", "b"):
        p = s + rng.normal(size=n)
        write_run(base / name, "baseline", {"dataset": "d.h5ad"}, data, np.column_stack([p, p]), lambda d: None)
    compare_runs([base / "a", base / "b"], base / "cmp", n_boot=100)
    return base / "cmp" / "report.html"


def test_compare_report_renders_in_chromium(compare_report, tmp_path):
    got = assert_renders(compare_report, tmp_path)
    assert got["images"] >= 2 * 4 + 2  # bars per target, a scatter per target and model
    assert_screenshot_not_blank(compare_report, tmp_path)


def test_baseline_report_renders_in_chromium(tmp_path):
    from cisgram.report.baseline import baseline_report
    from cisgram.workflows.rundir import metrics_table

    rng = np.random.default_rng(1)
    n = 90
    obs = rng.normal(size=n)
    preds = pd.DataFrame({"region": [f"r{i}" for i in range(n)], "target": "K562", "observed": obs,
                          "predicted": obs + rng.normal(size=n), "split": np.repeat(["train", "val", "test"], n // 3)})
    baseline_report(tmp_path / "report.html", "gc", preds, metrics_table(preds, "baseline"))
    assert_renders(tmp_path / "report.html", tmp_path)


def test_the_check_sees_broken_pages(tmp_path):
    """The harness itself: a broken image, a script error and a fetched file are all reported."""
    (tmp_path / "x.css").write_text("body{}")
    bad = tmp_path / "bad.html"
    bad.write_text("<!doctype html><html><head><link rel='stylesheet' href='x.css'></head><body>"
                   "<img alt='ok' src='data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
                   "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='><img alt='broken' src='data:image/png;base64,AAAA'>"
                   "<script>undefinedFunction();</script></body></html>")
    got = check_in_browser(bad, tmp_path)
    assert got["images"] == 2 and got["loaded"] == 1
    assert any("undefinedFunction" in e for e in got["errors"])
    assert any(e.endswith("x.css") for e in got["external"])


def test_get_run_and_explanation_reports_render_in_chromium(get_demo_run, tmp_path):
    """The GET run's report (metrics, curves, scatters, gene-by-motif heat map) and the
    `cisgram explain get` report (heat maps, causal graph, enhancer tracks) of the demo run."""
    from cisgram.workflows.explain import explain_get

    run, _, _ = get_demo_run
    got = assert_renders(run / "report.html", tmp_path)
    assert got["images"] >= 4
    explain_get(run, tmp_path / "explain", top_motifs=8, genes=None)
    got = assert_renders(tmp_path / "explain" / "report.html", tmp_path)
    assert got["images"] >= 4
    assert_screenshot_not_blank(tmp_path / "explain" / "report.html", tmp_path)
