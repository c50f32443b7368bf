"""`cisgram variants` on a ChromBPNet run: the tiny run of ``tests/workflows/conftest.py`` (trained
once per session on a random genome with a Tn5-like preference and planted AP-1 sites, TGACTCA, in
peaks every 1 kb; test chromosome chr3).

Measured on this run (seed 0): SNVs breaking a planted site in a test peak (TGACTCA -> TCACTCA)
score a bias-free Δ log count of −0.047 to −0.150 (mean −0.114, all 20 negative) and a profile
JSD of median 0.148, against |Δ| ≤ 0.011 (mean 0.002) and JSD 0.013 for SNVs at random
background positions; with the full model (``--part full``) the sites score −0.033 to −0.119, and
the two Δ differ by up to 0.042.
"""

from __future__ import annotations

import copy
import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.spatial.distance import jensenshannon

import cisgram
from cisgram.data.variants import variant_windows
from cisgram.errors import InputError
from cisgram.models.bpnet_run import ChromBPNetModel
from cisgram.report.variants import saturation_report
from cisgram.workflows.variants import saturate, score_variants, write_variant_scores
from tests.workflows.conftest import MOTIF

T = "delta:sim_ins"


@pytest.fixture(autouse=True, scope="module")
def _threads(one_thread):
    yield


def _sites(sim, chrom: str) -> np.ndarray:
    seq = "".join(np.array(list("ACGT"))[sim.codes[chrom]])
    return np.array([m.start() for m in re.finditer(MOTIF, seq)])


@pytest.fixture(scope="module")
def vcf(chrombpnet_sim, tmp_path_factory):
    """20 SNVs breaking a planted site of a test (chr3) peak (the G of TGACTCA -> C), 20 SNVs at
    random positions between peaks of chr3 (300-700 bp from any summit: no planted site within
    250 bp), 2 site-breaking SNVs in chr1 (training) peaks."""
    sim = chrombpnet_sim
    rng = np.random.default_rng(1)
    seq3 = sim.codes["chr3"]
    records = [f"chr3\t{p + 2}\tsite{p}\tG\tC\t.\t.\t." for p in rng.choice(_sites(sim, "chr3"), 20, replace=False)]
    for p in rng.choice(np.arange(1000, 59_000, 1000), 20, replace=False) + rng.integers(-200, 200, 20):
        b = "ACGT"[seq3[p]]
        records.append(f"chr3\t{p + 1}\tbg{p}\t{b}\t{'C' if b != 'C' else 'G'}\t.\t.\t.")
    records += [f"chr1\t{p + 2}\ttrain{p}\tG\tC\t.\t.\t." for p in _sites(sim, "chr1")[[3, 40]]]
    path = tmp_path_factory.mktemp("vcf") / "v.vcf"
    path.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "\n".join(records) + "\n")
    return path


@pytest.fixture(scope="module")
def scored(chrombpnet_run, vcf, tmp_path_factory):
    out = tmp_path_factory.mktemp("scores")
    run, _ = chrombpnet_run
    return (score_variants(run, vcf, out / "free.tsv"), score_variants(run, vcf, out / "full.tsv", part="full"),
            out)


def test_breaking_a_planted_site_lowers_the_bias_free_count(scored):
    free, _, out = scored
    assert list(free.columns[-7:]) == ["padded", "split", "unresponsive", "ref:sim_ins", "alt:sim_ins", T,
                                       "jsd:sim_ins"]
    assert pd.read_csv(out / "free.tsv", sep="\t").shape == free.shape
    site = free[free["id"].str.startswith("site")]
    bg = free[free["id"].str.startswith("bg")]
    assert (site[T] < 0).all() and site[T].mean() < -0.05  # −0.05 to −0.15 seen
    assert np.abs(bg[T]).mean() < 0.3 * abs(site[T].mean()) and np.abs(bg[T]).max() < 0.5 * abs(site[T].mean())
    # the profile changes shape around a broken site, hardly anywhere else (JSD base 2, in [0, 1])
    assert free["jsd:sim_ins"].between(0, 1).all()
    assert site["jsd:sim_ins"].median() > 3 * bg["jsd:sim_ins"].median()
    np.testing.assert_allclose(free[T], free["alt:sim_ins"] - free["ref:sim_ins"])
    assert not free["unresponsive"].any() and not free["padded"].any()
    # chr3 is the test chromosome, chr1 a training one; every site SNV lies in a peak window
    assert set(site["split"]) == {"test"} and set(free.loc[free["id"].str.startswith("train"), "split"]) == {"train"}
    assert set(bg["split"]) <= {"test", "none"}


def test_scores_equal_the_loaded_model_and_an_independent_jsd(scored, chrombpnet_run, chrombpnet_sim):
    """ref/alt are the bias-free (or full) predicted log counts of the windows; the JSD equals
    scipy's Jensen-Shannon distance (base 2) of the normalised predicted profiles."""
    free, full, _ = scored
    opened = cisgram.load(chrombpnet_run[0])
    w = variant_windows(free, opened.genome(), opened.length)
    for table, bias_free in ((free, True), (full, False)):
        np.testing.assert_allclose(table["ref:sim_ins"], opened.predict(w.ref, bias_free=bias_free)["sim_ins"],
                                   rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(table["alt:sim_ins"], opened.predict(w.alt, bias_free=bias_free)["sim_ins"],
                                   rtol=1e-6, atol=1e-6)
        ref = opened.profiles(w.ref, bias_free=bias_free)[:, 0].astype(np.float64)
        alt = opened.profiles(w.alt, bias_free=bias_free)[:, 0].astype(np.float64)
        scipy_jsd = [jensenshannon(a / a.sum(), r / r.sum(), base=2) for a, r in zip(alt, ref, strict=True)]
        np.testing.assert_allclose(table["jsd:sim_ins"], scipy_jsd, atol=2e-4)


def test_the_full_model_scores_differently(scored):
    """--part full adds the Tn5 bias: other predictions and other deltas, same sign at the sites."""
    free, full, _ = scored
    assert np.abs(full["ref:sim_ins"] - free["ref:sim_ins"]).min() > 1e-3
    assert np.abs(full[T] - free[T]).max() > 5e-3
    assert (full.loc[full["id"].str.startswith("site"), T] < 0).all()


def test_a_constant_model_is_flagged_unresponsive(chrombpnet_run, vcf, tmp_path, caplog):
    """With the accessibility model's weights zeroed its output is one constant: every bias-free Δ
    is 0 and every window is flagged (and warned); the full model still reads the bias model, so
    nothing is flagged there."""
    opened = cisgram.load(chrombpnet_run[0])
    net = copy.deepcopy(opened.model.net)
    with torch.no_grad():
        for p in net.accessibility.parameters():
            p.zero_()
    const = dataclasses.replace(opened, model=ChromBPNetModel(net, opened.targets[0]))
    with caplog.at_level("WARNING"):
        res = write_variant_scores(const, vcf, tmp_path / "c.tsv")
    table = pd.read_csv(tmp_path / "c.tsv", sep="\t")
    assert res.unresponsive == res.n == len(table) and table["unresponsive"].all() and (table[T] == 0).all()
    assert (table["jsd:sim_ins"] == 0).all() and "cannot see them" in caplog.text
    full = score_variants(const, vcf, tmp_path / "f.tsv", part="full")
    assert not full["unresponsive"].any() and (full[T] != 0).mean() > 0.9


def test_saturation_of_a_planted_site(chrombpnet_run, chrombpnet_sim, tmp_path):
    """Every substitution of 47 bp around a test-peak site: the 7 positions whose substitutions
    lower the bias-free count most are the site's."""
    at = int(_sites(chrombpnet_sim, "chr3")[5])
    res = saturate(chrombpnet_run[0], f"chr3:{at - 20}-{at + 27}", tmp_path)
    assert res.family == "chrombpnet" and res.unresponsive == [] and len(res.table) == 47 * 3
    worst = res.table.groupby("pos")[T].mean().sort_values().index[:7] - 1 - at
    assert sorted(worst) == list(range(7))
    saturation_report(tmp_path, res)
    assert (tmp_path / "report.html").is_file()
    full = saturate(chrombpnet_run[0], f"chr3:{at - 20}-{at + 27}", tmp_path / "full", part="full")
    assert np.abs(full.table[T] - res.table[T]).max() > 1e-4


def test_cli_part_attribution_and_one_line_errors(chrombpnet_run, vcf, scored, tmp_path, cisgram_main):
    from tests.toys import cnn_run

    run, _ = chrombpnet_run
    code, out, err = cisgram_main("variants", "--model", run, "--vcf", vcf, "-o", tmp_path / "s.tsv", "--part", "full",
                                  "--attribution")
    assert code == 0, err
    assert "42 variant allele(s) scored" in out and "in training regions" in out
    table = pd.read_csv(tmp_path / "s.tsv", sep="\t")
    np.testing.assert_allclose(table[T], scored[1][T], rtol=1e-6, atol=1e-7)
    # input × gradient of the log count at the broken G: the planted site's bases raise the count
    assert (table.loc[table["id"].str.startswith("site"), "attribution:sim_ins"] > 0).mean() > 0.8
    code, _, err = cisgram_main("variants", "--model", run, "--vcf", vcf, "-o", tmp_path / "b.tsv", "--part", "bias")
    assert code == 2 and "unknown part 'bias'" in err and len(err.strip().splitlines()) <= 2, err
    cnn = cnn_run(tmp_path / "cnn", length=201)
    code, _, err = cisgram_main("variants", "--model", cnn, "--vcf", vcf, "-o", tmp_path / "c.tsv", "--part", "full")
    assert code == 2 and "--part chooses the network of a ChromBPNet run" in err and str(cnn) in err, err
    with pytest.raises(InputError, match="this is a cnn run"):
        saturate(cnn, "chr3:100-120", tmp_path / "sat", part="bias_free")
