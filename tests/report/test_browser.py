"""The HTML reports in a real browser (:mod:`tests.browser`): the compare, baseline, GET and
GET-explanation pages open in headless Chromium with every image decoded, no script error and
nothing fetched from outside; and the harness itself reports broken pages.

Needs the Debian package ``chromium`` (``.ci/run`` installs it); skipped without it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.browser import assert_renders, assert_screenshot_not_blank, check_in_browser


@pytest.fixture(scope="module")
def compare_report(tmp_path_factory) -> Path:
    """The report of compare_runs on two synthetic runs (a regression and a 0/1 target)."""
    from cisgram.data.targets import TrainingData
    from cisgram.report.compare import compare_report as render
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
    render(base / "cmp" / "report.html", compare_runs([base / "a", base / "b"], base / "cmp", n_boot=100))
    return base / "cmp" / "report.html"


def test_compare_report_renders_in_chromium(compare_report, tmp_path):
    got = assert_renders(compare_report, tmp_path)
    assert got["images"] >= 2 * 4 + 2  # bars per target, a scatter per target and model
    assert_screenshot_not_blank(compare_report, tmp_path)


def test_baseline_report_renders_in_chromium(tmp_path):
    from cisgram.report.baseline import baseline_report
    from cisgram.results import BaselineResult
    from cisgram.workflows.rundir import metrics_table

    rng = np.random.default_rng(1)
    n = 90
    obs = rng.normal(size=n)
    preds = pd.DataFrame({"region": [f"r{i}" for i in range(n)], "target": "K562", "observed": obs,
                          "predicted": obs + rng.normal(size=n), "split": np.repeat(["train", "val", "test"], n // 3)})
    result = BaselineResult(tmp_path, "baseline", {}, metrics_table(preds, "baseline"), preds, kind="gc")
    baseline_report(tmp_path / "report.html", result)
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
    from cisgram.report.get import get_explain_report
    from cisgram.workflows.explain_get import explain_get

    run, _, _ = get_demo_run
    got = assert_renders(run / "report.html", tmp_path)
    assert got["images"] >= 4
    get_explain_report(tmp_path / "explain" / "report.html", explain_get(run, tmp_path / "explain", top_motifs=8))
    got = assert_renders(tmp_path / "explain" / "report.html", tmp_path)
    assert got["images"] >= 4
    assert_screenshot_not_blank(tmp_path / "explain" / "report.html", tmp_path)
