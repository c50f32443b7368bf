"""Variant scores of a tfbind run (``cisgram variants --model TFBIND_RUN``): every network's Δ in the
run's own windows, the blocked networks' zero inside the core, the concordance between networks,
the generated core SNVs and the refusals. All on the session's ``tiny_tfbind_run`` (demo slice,
K562 CTCF, standard + genomic negatives, kept + blocked cores, 400 bp windows)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cisgram.errors import InputError
from cisgram.genome import Genome, encode
from cisgram.inference import predict
from cisgram.models.cnn import CNNModel
from cisgram.workflows import variants_tfbind as vt
from cisgram.workflows.rundir import tfbind_network_dirs

KEYS = ["standard:cnn", "standard:cnn-blocked", "genomic:cnn", "genomic:cnn-blocked"]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _vcf(path, records):
    """A VCF of ``(chrom, pos 1-based, ref, alt)`` records."""
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines += [f"{c}\t{p}\t.\t{r}\t{a}\t.\t.\t." for c, p, r, a in records]
    path.write_text("\n".join(lines) + "\n")
    return path


def _test_positive(run_dir):
    """The first bound test window of the standard negative set's predictions."""
    t = pd.read_parquet(run_dir / "standard" / "predictions.parquet")
    return t[(t["split"] == "test") & (t["label"] == 1)].iloc[0], t


def _snvs_around(g: Genome, w, offsets):
    """One SNV (the next base, A->C ...) at each offset from the window's site start."""
    out = []
    for o in offsets:
        p0 = int(w["site_start"]) + o
        ref = g.fetch(w["chrom"], p0, p0 + 1)
        out.append((w["chrom"], p0 + 1, ref, "ACGT"[("ACGT".index(ref) + 1) % 4]))
    return out


@pytest.fixture(scope="module")
def scored(tiny_tfbind_run, tmp_path_factory):
    """Four SNVs around one test positive's site (two in the core, two in the flanks), scored."""
    run_dir, result = tiny_tfbind_run
    g = Genome(result.config["genome"])
    w, table = _test_positive(run_dir)
    records = _snvs_around(g, w, [-30, 2, 5, int(w["site_end"] - w["site_start"]) + 12])
    d = tmp_path_factory.mktemp("tfbind_variants")
    res = vt.score_tfbind_variants(run_dir, _vcf(d / "v.vcf", records), d / "scores.tsv")
    return res, w, table, records, g


def _by_hand(run_dir, key, codes, lo, hi):
    """The strand-averaged probability of the network ``key`` on ``codes`` (N, W), N over
    ``[lo, hi)`` for a blocked one, averaged over the seeds of its ensemble."""
    x = codes.copy()
    if key.endswith("cnn-blocked"):
        x[:, lo:hi] = 4
    dirs = tfbind_network_dirs(run_dir)[key]
    return np.mean([predict(CNNModel.load(d), x)[:, 0] for d in dirs], axis=0)


def test_delta_equals_a_hand_computation_for_every_network(tiny_tfbind_run, scored):
    """Δ (logit of alt minus logit of ref) of every network equals predicting the reference and
    alternative windows by hand, and the reference probability is the run's own prediction of
    that window (so the window and its orientation are those the network was tested on)."""
    run_dir, _ = tiny_tfbind_run
    res, w, table, records, g = scored
    assert res.keys == KEYS and res.scale == "logit"
    assert res.seeds == {k: len(v) for k, v in tfbind_network_dirs(run_dir).items()}
    rows = res.table[res.table["window"] == w["name"]].reset_index(drop=True)
    assert len(rows) == len(records)
    ref = g.fetch_codes(w["chrom"], int(w["start"]), int(w["end"]))
    lo, hi = int(w["site_start"] - w["start"]), int(w["site_end"] - w["start"])
    alt = np.stack([ref.copy() for _ in records])
    for i, (_, p, _r, a) in enumerate(records):
        alt[i, p - 1 - int(w["start"])] = encode(a)[0]
    for key in KEYS:
        p_ref = _by_hand(run_dir, key, ref[None], lo, hi)[0]
        p_alt = _by_hand(run_dir, key, alt, lo, hi)
        expect = np.log(p_alt / (1 - p_alt)) - np.log(p_ref / (1 - p_ref))
        np.testing.assert_allclose(rows[key].to_numpy(), expect, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(rows[f"ref:{key}"].to_numpy(), p_ref, rtol=1e-5)
        if key.startswith("standard"):  # the run's own test prediction of this window
            column = "cnn-blocked" if key.endswith("blocked") else "cnn"
            np.testing.assert_allclose(p_ref, table.loc[table["name"] == w["name"], column].iloc[0], atol=1e-5)
    # the flags: two in the core, one 30 bp before the site and one 12 bp after its last base
    assert rows["in_core"].tolist() == [False, True, True, False]
    sign = -1 if w["strand"] == "-" else 1
    site_len = int(w["site_end"] - w["site_start"])
    assert rows["distance"].tolist() == [sign * -30, 0, 0, sign * 13] and site_len > 5


def test_blocked_networks_score_zero_inside_the_core(scored):
    """A blocked network reads N over the core, so a substitution there changes nothing: Δ is
    exactly 0, while the kept networks move."""
    res = scored[0]
    core = res.table[res.table["in_core"]]
    assert len(core) >= 2
    for key in ("standard:cnn-blocked", "genomic:cnn-blocked"):
        assert (core[key] == 0).all()
        assert (res.table.loc[~res.table["in_core"], key] != 0).any()
    assert (core[["standard:cnn", "genomic:cnn"]] != 0).any().all()


def test_probability_scale_is_the_difference_of_the_predictions(tiny_tfbind_run, scored, tmp_path):
    """``scale="probability"``: Δ is p(alt) − p(ref) of the same windows."""
    run_dir, _ = tiny_tfbind_run
    res, w, _, records, _ = scored
    prob = vt.score_tfbind_variants(run_dir, _vcf(tmp_path / "v.vcf", records), tmp_path / "p.tsv", scale="probability")
    a, b = res.table, prob.table
    for key in KEYS:
        p_ref = a[f"ref:{key}"].to_numpy()
        logit_alt = np.log(p_ref / (1 - p_ref)) + a[key].to_numpy()
        np.testing.assert_allclose(b[key].to_numpy(), 1 / (1 + np.exp(-logit_alt)) - p_ref, atol=1e-6)


def test_a_network_compared_with_itself_is_fully_concordant(scored):
    """Spearman 1 and top-1 % overlap 1 on the diagonal of the concordance, and for a copy of a
    column; the file beside the scores holds the same table."""
    res = scored[0]
    diag = res.concordance[res.concordance["a"] == res.concordance["b"]]
    assert len(diag) == 2 * len(KEYS)
    assert np.allclose(diag["spearman"], 1.0) and np.allclose(diag["top_shared"], 1.0)
    t = res.table.assign(copy=res.table["standard:cnn"])
    c = vt.concordance(t, ["standard:cnn", "copy"])
    pair = c[(c["a"] == "standard:cnn") & (c["b"] == "copy")]
    assert np.allclose(pair["spearman"], 1.0) and np.allclose(pair["top_shared"], 1.0)
    on_disk = pd.read_csv(res.concordance_path, sep="\t")
    assert res.concordance_path.name == "scores.concordance.tsv" and len(on_disk) == len(res.concordance)
    m = res.spearman["all"]
    assert list(m.index) == KEYS and np.allclose(np.diag(m.to_numpy()), 1.0) and np.allclose(m, m.T, equal_nan=True)


def test_top_share_counts_the_shared_top_rows():
    a = np.arange(200, dtype=float)  # top 1 %: k = 2 rows, 199 and 198
    assert vt.top_share(a, a) == (1.0, 2)
    assert vt.top_share(a, -a) == (1.0, 2)  # |Δ| ranks
    b = a.copy()
    b[199] = 0
    assert vt.top_share(a, b) == (0.5, 2)


def test_core_snvs_cover_the_test_positives_sites_with_three_snvs_per_position(tiny_tfbind_run, tmp_path):
    """Every position of every bound test site ± 50 bp once, with its 3 other bases, REF from the genome."""
    run_dir, result = tiny_tfbind_run
    g = Genome(result.config["genome"])
    rec = vt.core_snvs(run_dir, tmp_path / "core.vcf", flank=50)
    wins = vt.run_windows(run_dir, "test")
    bound = wins[wins["label"] == 1]
    expect = set()
    for c, s, e in bound[["chrom", "site_start", "site_end"]].itertuples(index=False):
        expect |= {(c, p) for p in range(s - 50, e + 50)}
    got = rec.groupby(["chrom", "pos"]).size()
    assert (got == 3).all()
    assert {(c, p - 1) for c, p in got.index} == {x for x in expect if g.fetch(x[0], x[1], x[1] + 1) != "N"}
    for c, p, r, a in rec.sample(200, random_state=0).itertuples(index=False):
        assert g.fetch(c, p - 1, p) == r and a != r
    assert (rec.groupby(["chrom", "pos"])["alt"].apply(lambda s: "".join(sorted(s)))
            == rec.groupby(["chrom", "pos"])["ref"].first().map(lambda r: "".join(sorted(set("ACGT") - {r})))).all()
    body = [x for x in (tmp_path / "core.vcf").read_text().splitlines() if not x.startswith("#")]
    assert len(body) == len(rec) and body[0].split("\t")[2] == f"{rec['chrom'][0]}:{rec['pos'][0]}:{rec['ref'][0]}:{rec['alt'][0]}"


def _outside_every_window(run_dir, g):
    """A (chrom, 1-based pos, ref) in the demo slice's sequence but in no window of the run."""
    wins = vt.run_windows(run_dir, "all")
    starts, ends = np.sort(wins["start"].to_numpy()), np.sort(wins["end"].to_numpy())
    for p0 in range(20_000_000, 28_000_000, 997):
        inside = np.searchsorted(starts, p0, "right") - np.searchsorted(ends, p0, "right")
        if inside == 0 and g.fetch("chr22", p0, p0 + 1) in "ACGT":
            return "chr22", p0 + 1, g.fetch("chr22", p0, p0 + 1)
    raise AssertionError("no position outside the windows")


def test_a_vcf_outside_every_window_is_refused_naming_it(tiny_tfbind_run, tmp_path, cisgram_main):
    """No variant inside a window: an InputError naming the VCF, status 2 through the CLI, and
    no scores or concordance file."""
    run_dir, result = tiny_tfbind_run
    g = Genome(result.config["genome"])
    c, p, r = _outside_every_window(run_dir, g)
    vcf = _vcf(tmp_path / "far.vcf", [(c, p, r, "ACGT"[("ACGT".index(r) + 1) % 4])])
    out = tmp_path / "scores.tsv"
    with pytest.raises(InputError, match="no variant inside a window") as e:
        vt.score_tfbind_variants(run_dir, vcf, out, windows="all")
    assert str(vcf) in str(e.value)
    code, _, err = cisgram_main("variants", "--model", run_dir, "--vcf", vcf, "--out", out)
    assert code == 2 and "far.vcf" in err and "no variant inside a window" in err
    assert not out.exists() and not vt.side_file(out, "concordance.tsv").exists()
    assert not vt.side_file(out, "concordance.html").exists()


def test_ref_mismatch_and_indels_are_listed_as_problems(scored, tiny_tfbind_run, tmp_path):
    """A REF that is not the genome's and an indel are listed in scores.problems.tsv with their
    lines; the good record is scored."""
    run_dir, _ = tiny_tfbind_run
    _, w, _, records, _ = scored
    c, p, r, a = records[0]
    wrong = "ACGT"[("ACGT".index(r) + 2) % 4]
    vcf = _vcf(tmp_path / "mixed.vcf", [(c, p, wrong, r), (c, p, r, r + "A"), records[0]])
    res = vt.score_tfbind_variants(run_dir, vcf, tmp_path / "s.tsv")
    assert res.table["line"].unique().tolist() == [5] and res.problems == 2
    problems = pd.read_csv(tmp_path / "s.problems.tsv", sep="\t")
    assert problems["line"].tolist() == [3, 4]
    assert "only substitutions" in problems["reason"].iloc[1]


def test_cli_generates_scores_and_reports(tiny_tfbind_run, tmp_path, cisgram_main):
    """``--core-snvs`` writes the VCF; ``--vcf`` scores (a slice of) it with every network and
    writes the scores, the concordance and its page; options of other families are refused."""
    run_dir, _ = tiny_tfbind_run
    vcf = tmp_path / "core.vcf"
    code, stdout, err = cisgram_main("variants", "--model", run_dir, "--core-snvs", "--flank", "10", "--out", vcf)
    assert code == 0, err
    assert "SNVs at" in stdout
    lines = vcf.read_text().splitlines()
    head = [x for x in lines if x.startswith("#")]
    body = [x for x in lines if not x.startswith("#")]
    small = tmp_path / "small.vcf"
    small.write_text("\n".join(head + body[:90]) + "\n")
    out = tmp_path / "scores.tsv"
    code, stdout, err = cisgram_main("variants", "--model", run_dir, "--vcf", small, "--out", out)
    assert code == 0, err
    scores = pd.read_csv(out, sep="\t")
    assert set(KEYS) <= set(scores.columns) and len(scores) >= 90
    assert (tmp_path / "scores.concordance.tsv").is_file()
    assert "Spearman" in (tmp_path / "scores.concordance.html").read_text()
    code, _, err = cisgram_main("variants", "--model", run_dir, "--vcf", small, "--out", out, "--part", "full")
    assert code == 2 and "--part" in err


def test_score_variants_dispatches_a_tfbind_run(tiny_tfbind_run, scored, tmp_path):
    """``cisgram.workflows.variants.score_variants`` hands a tfbind run to this module (the same
    table); options of the fixed-window families are refused naming them."""
    from cisgram.workflows.variants import score_variants

    run_dir, _ = tiny_tfbind_run
    records = scored[3]
    vcf = _vcf(tmp_path / "v.vcf", records)
    table = score_variants(run_dir, vcf, tmp_path / "s.tsv")
    pd.testing.assert_frame_equal(table, scored[0].table)
    with pytest.raises(InputError, match="window cannot be used with a tfbind run"):
        score_variants(run_dir, vcf, tmp_path / "s.tsv", window=400)
    with pytest.raises(InputError, match="--part"):
        score_variants(run_dir, vcf, tmp_path / "s.tsv", part="full")
