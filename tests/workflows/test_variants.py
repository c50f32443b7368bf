"""`cisgram.workflows.variants`: VCF reading with per-line problems, reference checks, centred indel
windows, and variant / saturation scoring with a hand-built CNN that sees exactly one motif.

The model (``motif_run``) is a DilatedCNN with one 9 bp filter and no residual layers: the filter
scores +1 per base matching MOTIF and −1 otherwise, minus 7.5, through a ReLU, a global max
and a linear layer of weight 2. The intact motif (score 9) gives 2·1.5 = 3 on its strand; one
mismatch (score 7) or any background 9-mer with fewer than 9 matches gives 0. The prediction
averages both strands, and MOTIF is not its own reverse complement, so a window holding the
motif predicts 1.5 and one without it 0: the numbers below are exact, not trained.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
import torch

from cisgram.data.variants import variant_windows
from cisgram.errors import InputError
from cisgram.genome import Genome
from cisgram.intervals import parse_region
from cisgram.report.variants import saturation_report
from cisgram.vcf import problems_path, read_vcf, variant_kind
from cisgram.workflows.rundir import Run, load
from cisgram.workflows.variants import (
    saturate,
    saturation_matrix,
    score_variants,
    write_variant_scores,
)
from tests.probes import TRUNCATED, genome_wide_vcf, truncated

MOTIF = "GATTACAGC"  # reverse complement GCTGTAATC: not a palindrome
AT = 1500  # 0-based start of the planted motif on chrT
L = 201
COMP = str.maketrans("ACGT", "TGCA")


@pytest.fixture(autouse=True, scope="module")
def _threads(one_thread):
    yield


def _background(n: int, rng) -> str:
    """Random sequence holding no 9-mer within one mismatch of MOTIF on either strand."""
    rc = MOTIF.translate(COMP)[::-1]
    while True:
        s = "".join(rng.choice(list("ACGT"), n))
        near = any(sum(a != b for a, b in zip(s[i: i + 9], m, strict=True)) <= 1
                   for m in (MOTIF, rc) for i in range(n - 8))
        if not near:
            return s


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A FASTA with chrT (3 kb, MOTIF planted at AT) and chrU (300 bp); returns (path, sequences)."""
    rng = np.random.default_rng(7)
    t = _background(3000, rng)
    t = t[:AT] + MOTIF + t[AT + len(MOTIF):]
    seqs = {"chrT": t, "chrU": _background(300, rng)}
    path = tmp_path_factory.mktemp("genome") / "toy.fa"
    path.write_text("".join(f">{k}\n" + "\n".join(v[i: i + 60] for i in range(0, len(v), 60)) + "\n"
                            for k, v in seqs.items()))
    return path, seqs


@pytest.fixture(scope="module")
def motif_run(toy, tmp_path_factory):
    from cisgram.models.cnn import CNNModel
    from tests.toys import motif_cnn

    net, spec = motif_cnn(MOTIF, L)
    d = tmp_path_factory.mktemp("runs") / "motif"
    CNNModel(net, spec, "regression", ["acc"]).save(d)
    (d / "config.json").write_text(json.dumps({"family": "cnn", "genome": str(toy[0]), "length": L}))
    return d


def _vcf(path, records, header=True):
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"] if header else []
    lines += records
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def _other(b: str) -> str:
    return "C" if b != "C" else "G"


# ---------------------------------------------------------------- reading


def test_variant_kinds():
    assert variant_kind("A", "G") == "snv"
    assert variant_kind("AC", "GT") == "mnv"
    assert variant_kind("A", "ATT") == "insertion"
    assert variant_kind("ATT", "A") == "deletion"
    assert variant_kind("ACG", "AG") == "deletion"  # anchor and shared last base removed
    assert variant_kind("ACG", "AT") == "complex"


@pytest.fixture(scope="module")
def messy(toy, tmp_path_factory):
    """A VCF with every kind of bad record; returns (path, good rows expected, problem lines)."""
    _, seqs = toy
    t = seqs["chrT"]

    def ref(pos, n=1):  # REF of n bases at 1-based pos
        return t[pos - 1: pos - 1 + n]

    wrong = _other(ref(140))
    records = [
        f"chrT\t101\tsnv1\t{ref(101)}\t{_other(ref(101))}\t.\t.\t.",  # 3 good
        "chrT\t102\tbad",  # 4 too few columns
        "chrT\tabc\tx\tA\tC\t.\t.\t.",  # 5 POS not an integer
        "chrT\t0\tx\tA\tC\t.\t.\t.",  # 6 POS below 1
        "chrT\t110\tx\tAXC\tA\t.\t.\t.",  # 7 bad REF
        f"chrT\t120\tsv\t{ref(120)}\t<DEL>\t.\t.\t.",  # 8 symbolic ALT
        f"chrT\t130\tx\t{ref(130)}\t*\t.\t.\t.",  # 9 '*' ALT
        "chrZ\t10\tx\tA\tC\t.\t.\t.",  # 10 unknown chromosome
        f"chrU\t300\tx\t{seqs['chrU'][-1]}A\tA\t.\t.\t.",  # 11 REF runs past chrU's end
        f"chrT\t140\tmm\t{wrong}\t{_other(wrong)}\t.\t.\t.",  # 12 REF mismatch
        f"chrT\t150\tmulti\t{ref(150)}\t{_other(ref(150))},T,*\t.\t.\t.",  # 13 two good alleles (or one) + '*'
        f"chrT\t160\tins\t{ref(160)}\t{ref(160)}GT\t.\t.\t.",  # 14 insertion
        f"chrT\t170\tdel\t{ref(170, 4)}\t{ref(170)}\t.\t.\t.",  # 15 deletion
        f"chrT\t180\tmnv\t{ref(180, 2)}\t{_other(ref(180))}{_other(ref(181))}\t.\t.\t.",  # 16 MNV
        f"chrT\t190\tlong\t{ref(190)}\t{ref(190)}{'A' * 60}\t.\t.\t.",  # 17 longer than max_indel
        f"chrT\t200\tlower\t{ref(200).lower()}\t{_other(ref(200)).lower()}\t.\t.\t.",  # 18 lower case, good
    ]
    multi_good = len({_other(ref(150)), "T"} - {ref(150)})
    good = 1 + multi_good + 4
    problem_lines = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 17] + ([13] if ref(150) == "T" else [])
    path = _vcf(tmp_path_factory.mktemp("vcf") / "messy.vcf", records)
    return path, good, sorted(problem_lines), wrong, ref(140)


def test_every_bad_line_is_reported_and_every_good_one_kept(messy, toy):
    path, good, problem_lines, wrong, truth = messy
    table, problems = read_vcf(path, Genome(toy[0]))
    assert len(table) == good
    assert list(table.columns) == ["line", "chrom", "pos", "id", "ref", "alt", "kind"]
    assert sorted(table["line"].unique()) == [3, 13, 14, 15, 16, 18]
    assert table.set_index("id").loc[["ins", "del", "mnv", "lower"], "kind"].tolist() == \
        ["insertion", "deletion", "mnv", "snv"]
    assert table.loc[table["id"] == "lower", "ref"].item().isupper()
    assert sorted(p.line for p in problems) == problem_lines
    why = {p.line: p.reason for p in problems}
    assert "5 tab-separated columns" in why[4] and "not an integer" in why[5] and "below 1" in why[6]
    assert "REF 'AXC'" in why[7] and "symbolic ALT '<DEL>'" in why[8] and "'*'" in why[9]
    assert "'chrZ' is not in the genome" in why[10] and "past the end of chrU" in why[11]
    assert why[12] == f"REF {wrong!r} but the genome has {truth!r} at chrT:140"
    assert "max_indel=50" in why[17]
    # without a genome only the file's own errors are problems; the same table comes back from gzip
    plain, syntax = read_vcf(path)
    assert {p.line for p in syntax} == {4, 5, 6, 7, 8, 9, 13, 17}
    gz = _vcf(path.with_suffix(".vcf.gz"), path.read_text().splitlines(), header=False)
    pd.testing.assert_frame_equal(read_vcf(gz)[0], plain)


def test_chromosome_naming_mismatch_says_what_to_do(toy, tmp_path):
    vcf = _vcf(tmp_path / "nochr.vcf", ["T\t101\t.\tA\tC\t.\t.\t.", "U\t5\t.\tA\tC\t.\t.\t."])
    with pytest.raises(InputError, match="no record is on a chromosome of the genome") as e:
        read_vcf(vcf, toy[0])
    assert "chr" in e.value.hint and "T -> chrT" in e.value.hint and str(vcf) in str(e.value)


# ---------------------------------------------------------------- windows


@pytest.mark.parametrize("length", [20, 21])
def test_indel_windows_are_exactly_l_and_centred(toy, length):
    path, seqs = toy
    t, u = seqs["chrT"], seqs["chrU"]
    rows = [("chrT", 801, t[800], _other(t[800])),  # SNV
            ("chrT", 801, t[800:802], _other(t[800]) + _other(t[801])),  # MNV
            ("chrT", 801, t[800:806], t[800]),  # 5 bp deletion
            ("chrT", 801, t[800], t[800] + "ACGTTGCA"),  # 8 bp insertion
            ("chrT", 801, t[800:803], "GATTAC"),  # complex
            ("chrU", 2, u[1:4], u[1]),  # deletion at the chromosome start: N-padded
            ("chrU", 299, u[298], u[298] + "TTT")]  # insertion at the end
    table = pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"])
    w = variant_windows(table, Genome(path), length)
    assert w.ref.shape == w.alt.shape == (len(rows), length)
    pad = "N" * length
    for i, (chrom, pos, ref, alt) in enumerate(rows):
        s, r, a = pos - 1, len(ref), len(alt)
        seq = pad + seqs[chrom] + pad
        # independent construction: edit the whole (padded) chromosome string, then cut L bp around the allele
        ref_exp = seq[length + s - (length - r) // 2:][:length]
        edited = seq[: length + s] + alt + seq[length + s + r:]
        alt_exp = edited[length + s - (length - a) // 2:][:length]
        assert "".join("ACGTN"[c] for c in w.ref[i]) == ref_exp
        assert "".join("ACGTN"[c] for c in w.alt[i]) == alt_exp
        # the allele sits in the middle: flanks differ by at most one base
        assert ref_exp[(length - r) // 2:][:r] == ref and alt_exp[(length - a) // 2:][:a] == alt
        assert abs((length - a) // 2 - (length - a - (length - a) // 2)) <= 1
        assert w.ref_start[i] == (length - r) // 2
    assert w.padded.tolist() == [False] * 5 + [True, True]
    assert (w.ref[5] == 4).any() and (w.alt[6] == 4).any()


# ---------------------------------------------------------------- scoring


def test_motif_loss_scores_large_and_neutral_near_zero(motif_run, toy, messy, tmp_path):
    _, seqs = toy
    t = seqs["chrT"]
    centre = AT + 4  # 0-based, the middle base of the motif; every base weighs the same in this filter
    neutral = AT + 40  # inside the same 201 bp windows, outside the filter's reach
    vcf = _vcf(tmp_path / "two.vcf", [f"chrT\t{centre + 1}\tmotif\t{t[centre]}\t{_other(t[centre])}\t.\t.\t.",
                                      f"chrT\t{neutral + 1}\tneutral\t{t[neutral]}\t{_other(t[neutral])}\t.\t.\t.",
                                      f"chrT\t{AT - 20}\tdel\t{t[AT - 21: AT - 18]}\t{t[AT - 21]}\t.\t.\t."])
    out = tmp_path / "scores.tsv"
    res = score_variants(motif_run, vcf, out, attribution=True)
    assert list(res.columns) == ["line", "chrom", "pos", "id", "ref", "alt", "kind", "padded", "split", "unresponsive",
                                 "ref:acc", "alt:acc", "delta:acc", "attribution:acc"]
    assert (res["split"] == "unknown").all()  # the run names no dataset
    assert not res["unresponsive"].any()  # every window holds the motif: the output responds
    by = res.set_index("id")
    # the intact motif is worth 1.5 (strand average of 3 and 0); one mismatch removes all of it.
    # |delta| > 1.0 demands most of that loss; background windows predict exactly 0 here.
    assert by.loc["motif", "ref:acc"] == pytest.approx(1.5, abs=1e-5)
    assert by.loc["motif", "delta:acc"] < -1.0
    # the neutral SNV and a deletion 20 bp away leave the motif in the window: no change
    assert abs(by.loc["neutral", "delta:acc"]) < 1e-6 and abs(by.loc["del", "delta:acc"]) < 1e-6
    # input x gradient of the forward strand's raw output: 2 (linear weight) x 1 (filter weight) at the motif
    assert by.loc["motif", "attribution:acc"] == pytest.approx(2.0, abs=1e-5)
    assert by.loc["neutral", "attribution:acc"] == 0
    # the file is the table; no problems, so no problems file
    pd.testing.assert_frame_equal(pd.read_csv(out, sep="\t", dtype={"id": object}), res, check_dtype=False)
    assert not problems_path(out).exists()
    # an independent check: the delta is the model on windows built by hand
    run = load(motif_run)
    win = t[centre - 100: centre + 101]
    alt = win[:100] + _other(t[centre]) + win[101:]
    manual = run.predict([win, alt])["acc"].to_numpy()
    assert by.loc["motif", "delta:acc"] == pytest.approx(manual[1] - manual[0], abs=1e-6)


def test_problems_file_lists_bad_lines_and_good_ones_are_scored(motif_run, messy, toy, tmp_path):
    path, good, problem_lines, *_ = messy
    out = tmp_path / "messy.tsv"
    res = score_variants(motif_run, path, out, batch_size=2, genome=Genome(toy[0]))  # several batches
    assert len(res) == good and np.isfinite(res[["ref:acc", "alt:acc", "delta:acc"]].to_numpy()).all()
    probs = pd.read_csv(problems_path(out), sep="\t")
    assert problems_path(out).name == "messy.problems.tsv"
    assert list(probs.columns) == ["line", "reason"] and probs["line"].tolist() == problem_lines
    assert probs.loc[probs["line"] == 12, "reason"].str.contains("but the genome has").all()
    # a rerun whose VCF is clean removes the stale problems file
    clean = _vcf(tmp_path / "clean.vcf", [path.read_text().splitlines()[2]])
    score_variants(motif_run, clean, out)
    assert not problems_path(out).exists()


def test_unsupported_runs_and_options_are_refused(motif_run, toy, tmp_path):
    vcf = _vcf(tmp_path / "one.vcf", ["chrT\t101\t.\tA\tC\t.\t.\t."])
    get_dir = tmp_path / "get"
    get_dir.mkdir()
    (get_dir / "config.json").write_text(json.dumps({"family": "get"}))
    with pytest.raises(InputError, match="no model here"):  # a GET run goes to the GET scorer, which opens its model
        score_variants(get_dir, vcf, tmp_path / "o.tsv")
    with pytest.raises(InputError, match="'get' runs") as e:
        saturate(get_dir, "chrT:100-120", tmp_path / "sat")
    assert "iq or cnn" in e.value.hint
    for family in ("baseline", "mystery"):
        with pytest.raises(InputError, match=f"'{family}' runs"):
            score_variants(Run(tmp_path, family, {}, ["acc"], None), vcf, tmp_path / "o.tsv")
        with pytest.raises(InputError, match=f"'{family}' runs"):
            saturate(Run(tmp_path, family, {}, ["acc"], None), "chrT:0-10", tmp_path / "sat")
    with pytest.raises(InputError, match="201 bp windows"):
        score_variants(motif_run, vcf, tmp_path / "o.tsv", window=500)

    class IQStub:
        length = L

    with pytest.raises(InputError, match="attribution needs a CNN run"):
        score_variants(Run(tmp_path, "iq", {"genome": str(toy[0])}, ["acc"], IQStub()), vcf, tmp_path / "o.tsv",
                       attribution=True)
    empty = _vcf(tmp_path / "empty.vcf", ["chrT\t101\tbad"])
    with pytest.raises(InputError, match="no variant to score"):
        score_variants(motif_run, empty, tmp_path / "o.tsv")


# ---------------------------------------------------------------- windows the model cannot see, splits

FAR = 600  # 0-based; the 201 bp windows of this and of FAR + 300 hold no motif: the model outputs exactly 0


class MotifStub:
    """An IQ-like model without gradients (a numpy ``predict``): 1.5 where a window holds MOTIF on
    either strand, exactly 0 elsewhere; like ``motif_run``, blind to every window without it."""

    reads = "sequence"
    length = L

    def predict(self, codes):
        rc = MOTIF.translate(COMP)[::-1]
        seqs = ["".join("ACGTN"[c] for c in row) for row in np.asarray(codes)]
        return np.array([[1.5 if MOTIF in s or rc in s else 0.0] for s in seqs])


def _blind_vcf(path, t):
    """Windows the model sees (motif; neutral: Δ 0 but the motif is in its window) and does not
    (far, far2); wake inserts the whole motif into a blind window, so its Δ is not 0."""
    c, nb = AT + 4, AT + 40
    return _vcf(path, [f"chrT\t{c + 1}\tmotif\t{t[c]}\t{_other(t[c])}\t.\t.\t.",
                       f"chrT\t{nb + 1}\tneutral\t{t[nb]}\t{_other(t[nb])}\t.\t.\t.",
                       f"chrT\t{FAR + 1}\tfar\t{t[FAR]}\t{_other(t[FAR])}\t.\t.\t.",
                       f"chrT\t{FAR + 301}\tfar2\t{t[FAR + 300]}\t{_other(t[FAR + 300])}\t.\t.\t.",
                       f"chrT\t{FAR + 101}\twake\t{t[FAR + 100]}\t{t[FAR + 100]}{MOTIF}\t.\t.\t."])


BLIND = {"motif": False, "neutral": False, "far": True, "far2": True, "wake": False}


def test_windows_the_model_cannot_see_are_flagged_and_warned(motif_run, toy, tmp_path, caplog):
    """Gradient test (CNN): exactly the variants whose reference window gives a zero gradient
    on both strands and whose Δ is 0 are ``unresponsive``; cross-checked by autograd on the bare
    network and by the motif's presence in the window; the count is logged as a warning."""
    import logging

    from cisgram.genome import codes_to_onehot

    t = toy[1]["chrT"]
    vcf = _blind_vcf(tmp_path / "blind.vcf", t)
    with caplog.at_level(logging.WARNING, logger="cisgram.workflows.variants"):
        res = score_variants(motif_run, vcf, tmp_path / "blind.tsv")
    by = res.set_index("id")
    assert by["unresponsive"].to_dict() == BLIND
    assert (by.loc[["far", "far2"], "delta:acc"] == 0).all() and by.loc["wake", "delta:acc"] > 1.0
    assert "2 of 5 windows do not respond to their input" in caplog.text and "not because the variant" in caplog.text
    # independently: the motif is in the reference window exactly where the output responds
    rc = MOTIF.translate(COMP)[::-1]
    for vid, pos in by["pos"].items():
        win = t[pos - 1 - 100: pos - 1 + 101]
        assert (MOTIF in win or rc in win) == (not BLIND[vid] and vid != "wake")
    # independently: autograd of the bare network on both strands of the reference windows
    w = variant_windows(res, Genome(toy[0]), L)
    x = torch.from_numpy(codes_to_onehot(w.ref)).requires_grad_(True)
    net = load(motif_run).model.net.eval()
    grads = [torch.autograd.grad(net(v).sum(), x)[0].abs().amax(dim=(1, 2)) for v in (x, x.flip(1, 2))]
    blind = ((grads[0] == 0) & (grads[1] == 0)).numpy() & (res["delta:acc"] == 0).to_numpy()
    assert blind.tolist() == res["unresponsive"].tolist()
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "blind.tsv", sep="\t", dtype={"id": object}), res,
                                  check_dtype=False)


def test_each_target_is_tested_on_its_own(motif_run, toy, tmp_path):
    """Two targets: ``on`` reads the motif, ``off`` has weight 0 (a constant everywhere); the
    per-target columns say which is blind, ``unresponsive`` is True where any target is."""
    from cisgram.models.cnn import CNNModel, build

    model = load(motif_run).model
    spec = {**model.spec, "n_tasks": 2}
    net = build(spec)
    state = model.net.state_dict()
    state["count.weight"], state["count.bias"] = torch.tensor([[2.0], [0.0]]), torch.tensor([0.0, 0.25])
    net.load_state_dict(state)
    d = tmp_path / "two"
    CNNModel(net, spec, "regression", ["on", "off"]).save(d)
    (d / "config.json").write_text((motif_run / "config.json").read_text())
    res = score_variants(d, _blind_vcf(tmp_path / "blind.vcf", toy[1]["chrT"]), tmp_path / "two.tsv").set_index("id")
    assert res["unresponsive:on"].to_dict() == BLIND
    assert res["unresponsive:off"].all() and res["unresponsive"].all() and (res["delta:off"] == 0).all()


def test_models_without_gradients_take_the_ism_row_test(toy, tmp_path, caplog):
    """An IQ run (no gradients) is tested by single edits at the variant and at 8 evenly spaced
    positions: the same windows as the CNN's are flagged."""
    import logging

    run = Run(tmp_path, "iq", {"genome": str(toy[0])}, ["acc"], MotifStub())
    vcf = _blind_vcf(tmp_path / "blind.vcf", toy[1]["chrT"])
    with caplog.at_level(logging.WARNING, logger="cisgram.workflows.variants"):
        res = score_variants(run, vcf, tmp_path / "iq.tsv")
    assert res.set_index("id")["unresponsive"].to_dict() == BLIND
    assert "2 of 5 windows do not respond" in caplog.text and (res["split"] == "unknown").all()


def test_split_column_says_which_regions_the_model_saw(motif_run, toy, tmp_path):
    """``split`` is the split of the run's dataset region whose model window (±jitter) holds the
    variant, train first where windows of several splits do; background windows of the run's
    predictions count too; ``none`` outside every window. The CLI line counts the training ones."""
    import shutil

    import anndata as ad
    from typer.testing import CliRunner

    from cisgram.cli.app import app

    t = toy[1]["chrT"]
    var = pd.DataFrame({"chrom": "chrT", "start": [AT - 96, AT - 50, 2000, 200], "end": [AT + 104, AT + 150, 2200, 400],
                        "split": ["train", "val", "val", "test"]}, index=["r1", "r2", "r3", "r4"])
    ds = tmp_path / "ds.h5ad"
    ad.AnnData(X=np.zeros((1, 4), np.float32), var=var).write_h5ad(ds)
    run = tmp_path / "run"
    shutil.copytree(motif_run, run)
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "dataset": str(ds), "jitter": 10, "background": 1}))
    pd.DataFrame({"region": ["r1", "bg:chrT:2500-2700"], "target": "acc", "observed": 0.0, "predicted": 0.0,
                  "split": ["train", "test"]}).to_parquet(run / "predictions.parquet")
    # r1's window: midpoint AT + 4, [AT - 96, AT + 105) widened by the jitter to [AT - 106, AT + 115);
    # r2's (val) starts at AT - 60: "edge" lies in r1's jitter margin alone, "both" in r1 and r2
    where = {"both": AT + 4, "edge": AT - 100, "val": AT + 130, "val2": 2100, "test": 250, "bg": 2650, "none": 1000}
    vcf = _vcf(tmp_path / "split.vcf", [f"chrT\t{p + 1}\t{k}\t{t[p]}\t{_other(t[p])}\t.\t.\t." for k, p in where.items()])
    res = score_variants(run, vcf, tmp_path / "split.tsv")
    assert res.set_index("id")["split"].to_dict() == {"both": "train", "edge": "train", "val": "val", "val2": "val",
                                                      "test": "test", "bg": "test", "none": "none"}
    r = CliRunner().invoke(app, ["variants", "--model", str(run), "--vcf", str(vcf), "--out", str(tmp_path / "c.tsv")])
    assert r.exit_code == 0, r.output
    n_blind = int(res["unresponsive"].sum())
    assert f"7 variant allele(s) scored; {n_blind} unresponsive" in r.output and "2 in training regions" in r.output
    # a run whose dataset is gone: unknown, said once
    (run / "config.json").write_text(json.dumps({**cfg, "dataset": str(tmp_path / "gone.h5ad")}))
    assert (score_variants(run, vcf, tmp_path / "gone.tsv")["split"] == "unknown").all()


# ---------------------------------------------------------------- real-world call sets (issue 24)


@pytest.fixture(scope="module")
def slice_run(motif_run, tmp_path_factory):
    """``motif_run``'s model with the bundled chr22 slice (real hg38 chr22, one chromosome) as
    the genome it was trained on."""
    import shutil

    from cisgram.bundled import demo

    d = tmp_path_factory.mktemp("runs") / "slice"
    shutil.copytree(motif_run, d)
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "genome": str(demo().genome)}))
    return d


@pytest.fixture(scope="module")
def call_set(tmp_path_factory):
    """A genome-wide-shaped call set on real positions (tests/probes.py), bgzip without index."""
    import pysam

    from cisgram.bundled import demo

    d = tmp_path_factory.mktemp("calls")
    vcf, expect = genome_wide_vcf(d / "calls.vcf", demo().genome, demo().peaks["K562"])
    pysam.tabix_compress(str(vcf), str(d / "calls.vcf.gz"))
    return vcf, d / "calls.vcf.gz", expect


def test_genome_wide_call_set_scores_every_record_on_the_models_chromosomes(slice_run, call_set, tmp_path,
                                                                            cisgram_main):
    """chrM, chrUn_*, *_random, chrX, chrEBV and HLA records used to be feared to refuse the
    whole file: they are listed as problems with the reason and every chr22 record is scored."""
    plain, bgz, expect = call_set
    out = tmp_path / "scores.tsv"
    code, stdout, err = cisgram_main("variants", "--model", slice_run, "--vcf", bgz, "--out", out)
    assert code == 0, err
    scores = pd.read_csv(out, sep="\t", dtype={"id": object})
    assert scores["line"].value_counts().sort_index().to_dict() == expect["scored"]
    assert set(scores["chrom"]) == {"chr22"} and np.isfinite(scores["delta:acc"]).all()
    problems = pd.read_csv(problems_path(out), sep="\t")
    assert problems["line"].tolist() == sorted(expect["problems"])
    for line, reason in zip(problems["line"], problems["reason"], strict=True):
        assert expect["problems"][line] in reason, (line, reason)
    assert f"{len(scores)} variant allele(s) scored" in stdout and f"{len(problems)} line(s) not scored" in stdout
    # the other contigs change nothing: the chr22 records alone score the same
    text = plain.read_text().splitlines()
    alone = _vcf(tmp_path / "chr22.vcf", [x for x in text if x.startswith("chr22\t")], header=True)
    by_allele = ["pos", "ref", "alt"]
    mine = score_variants(slice_run, alone, tmp_path / "alone.tsv").set_index(by_allele)["delta:acc"]
    pd.testing.assert_series_equal(scores.set_index(by_allele)["delta:acc"], mine.loc[scores.set_index(by_allele).index])


def test_truncated_or_misnamed_call_sets_stop_variants_with_nothing_written(slice_run, call_set, tmp_path,
                                                                           cisgram_main):
    import pysam

    from cisgram.bundled import demo

    plain, _, _ = call_set
    lines = plain.read_text().splitlines()
    big = tmp_path / "big.vcf"  # many BGZF blocks, so that the cut falls among the records
    big.write_text("\n".join([x for x in lines if x.startswith("#")] + [x for x in lines if not x.startswith("#")] * 800)
                   + "\n")
    pysam.tabix_compress(str(big), str(tmp_path / "big.vcf.gz"))
    cut = truncated(tmp_path / "big.vcf.gz", tmp_path / "cut.vcf.gz")
    ensembl, _ = genome_wide_vcf(tmp_path / "ensembl.vcf", demo().genome, demo().peaks["K562"],
                                 rename={"chr22": "22", "chrM": "MT", "chrX": "X"})
    errors = []
    for vcf, first in ((cut, f"error: {cut}: {TRUNCATED} ("),
                       (ensembl, f"error: {ensembl}: no record is on a chromosome of the genome chr22_demo.fa.gz")):
        out = tmp_path / "scores.tsv"
        code, stdout, err = cisgram_main("variants", "--model", slice_run, "--vcf", vcf, "--out", out)
        assert code == 2 and err.startswith(first) and "Aborted" not in stdout + err, err
        assert not out.exists() and not problems_path(out).exists()
        errors.append(err.strip().splitlines())
    assert len(errors[0]) == 1  # a cut download: one line (it used to be a bare "Aborted.", exit 1)
    assert len(errors[1]) == 2 and "22 -> chr22" in errors[1][1]  # the naming fix, on its hint line


def test_streamed_scores_equal_the_whole_table_and_a_cut_mid_file_leaves_nothing(slice_run, call_set, tmp_path):
    """A genome-wide VCF is read, scored and written in pieces (issue 24): pieces of 3 records
    give byte-for-byte the file and problems of one piece, and a download cut after several
    pieces were written raises naming the file and leaves no scores file."""
    import pysam

    from cisgram.vcf import iter_vcf

    plain, bgz, _ = call_set
    whole = score_variants(slice_run, bgz, tmp_path / "whole.tsv")
    n = write_variant_scores(slice_run, bgz, tmp_path / "pieces.tsv", chunk=3)
    assert n.n == len(whole) and n.unresponsive == int(whole["unresponsive"].sum()) and n.in_training is None
    assert (tmp_path / "pieces.tsv").read_bytes() == (tmp_path / "whole.tsv").read_bytes()
    assert problems_path(tmp_path / "pieces.tsv").read_bytes() == problems_path(tmp_path / "whole.tsv").read_bytes()
    pieces = list(iter_vcf(bgz, Genome(_slice_genome()), chunk=3))
    assert len(pieces) > 3
    read, problems = read_vcf(bgz, Genome(_slice_genome()))
    pd.testing.assert_frame_equal(pd.concat([t for t, _ in pieces], ignore_index=True), read)
    assert [q for _, p in pieces for q in p] == problems
    lines = plain.read_text().splitlines()
    big = tmp_path / "big.vcf"
    big.write_text("\n".join([x for x in lines if x.startswith("#")] + [x for x in lines if not x.startswith("#")] * 800)
                   + "\n")
    pysam.tabix_compress(str(big), str(tmp_path / "big.vcf.gz"))
    cut = truncated(tmp_path / "big.vcf.gz", tmp_path / "cut.vcf.gz")
    out = tmp_path / "cut.tsv"
    written: list = []
    with pytest.raises(InputError) as e:
        write_variant_scores(slice_run, cut, out, chunk=200, keep=written)
    assert str(e.value).startswith(f"{cut}: {TRUNCATED}")
    assert len(written) >= 2  # pieces had gone to the temporary file before the cut was met
    assert not out.exists() and not list(tmp_path.glob("*cut.tsv*")) and not problems_path(out).exists()


def _slice_genome():
    from cisgram.bundled import demo

    return demo().genome


# ---------------------------------------------------------------- saturation


def test_saturation_map_finds_the_motif(motif_run, toy, tmp_path):
    _, seqs = toy
    start, end = AT - 20, AT + 30
    result = saturate(motif_run, f"chrT:{start}-{end}", tmp_path / "sat")
    saturation_report(tmp_path / "sat", result)
    table = result.table
    n = end - start
    assert len(table) == 3 * n and list(table.columns) == ["chrom", "pos", "ref", "alt", "delta:acc"]
    assert (table.groupby("pos").size() == 3).all() and (table["ref"] != table["alt"]).all()
    assert table["pos"].min() == start + 1 and table["pos"].max() == end
    assert "".join(table.drop_duplicates("pos")["ref"]) == seqs["chrT"][start:end]
    mat, ref = saturation_matrix(table, "acc")
    assert mat.shape == (4, n) and (mat[ref, np.arange(n)] == 0).all()
    worst = mat.min(axis=0)
    in_motif = np.zeros(n, bool)
    in_motif[AT - start: AT - start + len(MOTIF)] = True
    # every substitution of a motif base destroys it (-1.5); nothing outside changes
    assert (worst[in_motif] < -1.0).all() and np.abs(mat[:, ~in_motif]).max() < 1e-6
    assert in_motif[int(np.argmin(worst))]
    assert result.unresponsive == []
    on_disk = pd.read_csv(tmp_path / "sat" / "saturation.tsv", sep="\t")
    pd.testing.assert_frame_equal(on_disk, table, check_dtype=False)
    assert (tmp_path / "sat" / "saturation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (tmp_path / "sat" / "report.html").read_text()
    assert html.count("<img") == 1 and "Strongest losses" in html
    with pytest.raises(InputError, match="longer than the model's 201 bp window"):
        saturate(motif_run, ("chrT", 0, 500), tmp_path / "sat2")


def test_saturation_of_a_window_the_model_cannot_see_says_so(motif_run, toy, tmp_path, caplog):
    """Every Δ of a blind window is 0: the result, a warning and the page say the model cannot
    see it, for the gradient test (CNN) and the ISM-row test (a model without gradients)."""
    import logging

    stub = Run(tmp_path, "iq", {"genome": str(toy[0])}, ["acc"], MotifStub())
    for run, name in ((motif_run, "cnn"), (stub, "iq")):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="cisgram.workflows.variants"):
            result = saturate(run, f"chrT:{FAR}-{FAR + 20}", tmp_path / name)
        assert result.unresponsive == ["acc"] and (result.table["delta:acc"] == 0).all()
        assert "does not respond to its input for acc" in caplog.text
        saturation_report(tmp_path / name, result)
        assert "cannot see this window" in (tmp_path / name / "report.html").read_text()
    assert saturate(stub, f"chrT:{AT - 5}-{AT + 15}", tmp_path / "seen").unresponsive == []


def test_parse_region():
    assert parse_region("chr22:1,000-1,500") == ("chr22", 1000, 1500)
    assert parse_region(("chrT", 5, 9)) == ("chrT", 5, 9)
    for bad in ("chr22:1500-1000", "chr22-1000", ("chr1", "a", 3)):
        with pytest.raises(InputError):
            parse_region(bad)


def test_cli_scores_a_vcf_and_a_region_and_refuses_in_one_line(motif_run, messy, tmp_path):
    import subprocess
    import sys

    from typer.testing import CliRunner

    from cisgram.cli.app import app

    path, good, problem_lines, *_ = messy
    r = CliRunner().invoke(app, ["variants", "--model", str(motif_run), "--vcf", str(path),
                                 "--out", str(tmp_path / "s.tsv")])
    assert r.exit_code == 0, r.output
    assert f"{good:,} variant allele(s) scored" in r.output and f"{len(set(problem_lines))} line(s) not scored" in r.output
    # every window of these variants lacks the motif: all unresponsive; the run names no dataset
    assert f"; {good:,} unresponsive (Δ = 0 because the model cannot see the window); split unknown" in r.output
    assert len(pd.read_csv(tmp_path / "s.tsv", sep="\t")) == good
    r = CliRunner().invoke(app, ["variants", "--model", str(motif_run), "--saturate", f"chrT:{AT - 5}-{AT + 15}",
                                 "--out", str(tmp_path / "sat")])
    assert r.exit_code == 0 and "60 substitutions scored" in r.output, r.output
    assert "cannot see" not in r.output  # the motif's window
    proc = subprocess.run([sys.executable, "-m", "cisgram", "variants", "--model", str(motif_run), "--out",
                           str(tmp_path / "x.tsv")], capture_output=True, text=True)
    text = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 2 and "either --vcf or --saturate" in text and "Traceback" not in text


# ---------------------------------------------------------------- GET runs
def test_get_run_scores_variants_by_rescanning_their_region(get_demo_run, get_demo_data, tmp_path):
    """Variants in a TSS region of the demo GET run: the re-scanned reference equals the data's
    stored features, each alternative prediction equals the model run by hand on the window with
    the region's motif features re-scanned with the variant, a variant that changes no motif
    changes no prediction, and variants outside the regions are reported by line."""
    from cisgram.data.get_windows import tss_windows
    from cisgram.genome import Genome
    from cisgram.inference import predict
    from cisgram.motifs.features import region_features
    from cisgram.motifs.pwm import load_motifs

    run, _, _ = get_demo_run
    _, data = get_demo_data
    g = Genome(data.params["inputs"]["genome"])
    regions = data.regions
    row = int(np.flatnonzero(data.has_tss.any(1))[3])
    chrom, lo, hi = str(regions["chrom"].iat[row]), int(regions["start"].iat[row]), int(regions["end"].iat[row])
    seq = g.fetch(chrom, lo, hi).upper()
    recs, i = [], 0
    for p in range(lo + 5, hi - 5, 7):  # SNVs across the region
        alt = "A" if seq[p - lo] != "A" else "C"
        recs.append(f"{chrom}\t{p + 1}\ts{i}\t{seq[p - lo]}\t{alt}\t.\t.\t.")
        i += 1
    recs.append(f"{chrom}\t{lo + 101}\tdel\t{seq[100:104]}\t{seq[100]}\t.\t.\t.")  # a 3 bp deletion
    gap = int(regions["end"].iat[row]) + 1 if int(regions["start"].iat[row + 1]) > hi + 2 else None
    if gap is not None:
        recs.append(f"{chrom}\t{gap + 1}\toutside\t{g.fetch(chrom, gap, gap + 1).upper()}\tA\t.\t.\t.")
    vcf = _vcf(tmp_path / "get.vcf", recs)
    res = score_variants(run, vcf, tmp_path / "get.tsv")
    assert set(res["region"]) == {regions["name"].iat[row]} and res["gene"].ne("").all()
    assert res["id"].nunique() == len(recs) - (gap is not None)
    if gap is not None:
        probs = pd.read_csv(problems_path(tmp_path / "get.tsv"), sep="\t")
        assert probs["line"].tolist() == [2 + len(recs)] and "not in any region" in probs["reason"].iat[0]
    # no motif changed -> the prediction does not move
    quiet = res[res["motifs_changed"] == 0]
    assert len(quiet) and (quiet["delta:expression"].abs() < 1e-6).all()
    moved = res[res["motifs_changed"] > 0]
    assert len(moved) and (moved["delta:expression"].abs() > 0).any()
    # by hand: re-scan the edited region, rebuild one window, run the model
    motifs = load_motifs(data.params["motifs"])
    thr = float(data.params["threshold"])
    stored = data.motif_scores[row]
    ref_scan = region_features(g.fetch_codes(chrom, lo, hi)[None], motifs, ("hit_score_sum",), threshold=thr)
    np.testing.assert_allclose(np.maximum(ref_scan.features["hit_score_sum"][0], 0), stored, rtol=1e-5, atol=1e-4)
    one = moved.iloc[0]
    p = int(one["pos"]) - 1
    edited = seq[: p - lo] + one["alt"] + seq[p - lo + len(one["ref"]):]
    from cisgram.genome import encode

    alt_raw = np.maximum(region_features(encode(edited)[None], motifs, ("hit_score_sum",),
                                         threshold=thr).features["hit_score_sum"][0], 0)
    model, _ = load(run).model_for("MCF7")
    w = tss_windows(data, ["MCF7"], n_regions=50, require_targets=False)
    k = next(i for i in range(len(w)) if data.regions["name"].iat[w.window(i)[1] + w.window(i)[2]] == one["tss_region"])
    _, first, focus = w.window(k)
    X = data.features("MCF7", slice(first, first + 50))
    Xa = X.copy()
    Xa[row - first, :-1] = alt_raw / data.motif_max
    s = 0 if one["strand"] == "+" else 1
    ref_p, alt_p = (predict(model, np.stack([X, Xa]))[:, focus, s]).tolist()
    assert one["ref:expression"] == pytest.approx(ref_p, rel=1e-5)
    assert one["alt:expression"] == pytest.approx(alt_p, rel=1e-5)
