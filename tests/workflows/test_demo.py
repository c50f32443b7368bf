"""The demo chain (``cisgram demo``) end to end on the bundled slice, in quick mode (every step and
file, minimal epochs and motifs), run once for the module: each step's outputs, the comparison
with its ensembles, the variant problems, the GET explanation, and the one-page report opened
in headless Chromium."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from cisgram.workflows.demo import STEPS, run_demo


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    """``(out dir, summary, progress lines)`` of ``run_demo(quick=True)`` on one torch thread."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    said: list[str] = []
    summary = run_demo(out, quick=True, threads=1, progress=said.append).summary
    return out, summary, said


def test_every_step_ran_and_wrote_its_outputs(quick_demo):
    out, s, said = quick_demo
    assert [st["name"] for st in s["steps"]] == list(STEPS)
    for k, name in enumerate(STEPS, 1):  # each step announced, then reported done
        assert any(line.startswith(f"[{k}/{len(STEPS)}]") for line in said)
        assert any(line.strip().startswith(f"{name} done in") for line in said)
    for st in s["steps"]:
        assert st["seconds"] > 0 and st["outputs"], st
        for rel in st["outputs"] + ([st["report"]] if st["report"] else []):
            assert (out / rel).stat().st_size > 0, rel
    assert set(s["seconds"]) == set(STEPS) and s["seconds_total"] >= sum(s["seconds"].values()) - 1
    assert json.loads((out / "summary.json").read_text())["steps"] == s["steps"]
    # the keys of the first demo stay
    assert s["n_regions"] == 905 and s["n_motifs"] == 100 and s["quick"] is True
    assert [c["name"] for c in s["conditions"]] == ["K562", "GM12878", "MCF7"]
    assert s["scan"]["n_hits"] > 1000 and s["get_data"]["n_features"] == 101
    assert not list(out.rglob(".*.tmp"))


def test_comparison_holds_the_three_runs_and_both_ensembles(quick_demo):
    out, s, _ = quick_demo
    comp = json.loads((out / "compare" / "comparison.json").read_text())
    assert [r["name"] for r in comp["runs"]] == ["iq", "cnn", "kmer"]
    assert {r["family"] for r in comp["runs"]} == {"iq", "cnn", "baseline"}
    assert all(r["entries_dropped"] == 0 for r in comp["runs"])  # the CNN scored exactly the IQ rows
    models = [m["name"] for m in comp["models"]]
    assert models == ["iq", "cnn", "kmer", "ensemble:mean", "ensemble:stacked"]
    test = comp["metrics"]["test"]["K562"]
    assert all(np.isfinite(test[m]["pearson"]) and test[m]["n"] == s["split_counts"]["test"] for m in models)
    assert [m["pearson"] for m in s["compare"]["models"]] == pytest.approx([test[m]["pearson"] for m in models])


def test_variants_report_the_wrong_ref_and_score_the_rest(quick_demo):
    out, s, _ = quick_demo
    v = s["variants"]
    vcf_lines = (out / v["vcf"]).read_text().splitlines()
    assert "\twrong_ref\t" in vcf_lines[v["bad_ref_line"] - 1]
    problems = pd.read_csv(out / "variants" / "scores_cnn.problems.tsv", sep="\t")
    assert problems["line"].tolist() == [v["bad_ref_line"]]
    assert f"REF '{v['bad_ref']['ref_given']}' but the genome has '{v['bad_ref']['genome']}'" in problems["reason"].iat[0]
    for fam in ("cnn", "iq"):
        scores = pd.read_csv(out / "variants" / f"scores_{fam}.tsv", sep="\t")
        assert len(scores) == v["n_records"] - 1 == v["n_scored"]
        assert v["bad_ref_line"] not in scores["line"].tolist()
        assert np.isfinite(scores["delta:K562"]).all()
        assert "deletion" in scores["kind"].tolist()
        sat = pd.read_csv(out / "variants" / f"saturation_{fam}" / "saturation.tsv", sep="\t")
        assert len(sat) == 60 * 3 and np.isfinite(sat["delta:K562"]).all()
    # the SNV planted at the top IQ motif's best site is scored
    if v["site"] is not None:
        assert any(r["id"].endswith("_site") for r in v["scored"])


def test_get_explanation_wrote_its_tables(quick_demo):
    out, s, _ = quick_demo
    e, dest = s["explain_get"], out / "explain_get"
    gbm = pd.read_parquet(dest / "gene_by_motif.parquet")
    assert len(gbm) == e["n_entries"] and gbm.shape[1] == s["get_data"]["n_features"]
    eg = pd.read_csv(dest / "enhancer_gene.tsv", sep="\t")
    assert len(eg) == 50 * e["n_explained"] and len(e["genes"]) == 2
    assert {g for lab in eg["gene"] for g in lab.split(",")} >= set(e["genes"])
    for name in ("interactions.tsv", "causal_edges.tsv", "genes.tsv"):
        pd.read_csv(dest / name, sep="\t")
    metrics = json.loads((out / "runs" / "get" / "metrics.json").read_text())
    assert metrics["leave_out"] == "MCF7" and metrics["test"]["MCF7"]["n"] > 0


def test_demo_report_renders_in_chromium(quick_demo, tmp_path):
    """The page in headless Chromium (the check of tests/report/test_browser.py): every image
    decoded, no script error, nothing fetched from outside the page; and a 1200 x 2000 screenshot
    that is not blank (more than 10 colours). Every relative link points to a file the demo wrote."""
    from tests.browser import assert_renders, assert_screenshot_not_blank

    out, s, _ = quick_demo
    report = out / "report.html"
    text = report.read_text()
    hrefs = re.findall(r'<a href="([^"]+)"', text)
    for step in s["steps"]:
        if step["report"]:
            assert step["report"] in hrefs, step["name"]
    missing = [h for h in hrefs if not (out / h).is_file()]
    assert not missing, missing
    got = assert_renders(report, tmp_path)
    assert got["images"] >= 4, got  # seconds per step, comparison bars, two saturation maps
    assert_screenshot_not_blank(report, tmp_path)
