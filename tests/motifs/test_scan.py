"""Tests for cisgram.motifs.scan: scores against brute force, exact p-values against enumeration,
planted sites, Ns, the torch path, input errors, and hits against memelite's FIMO on real chr22."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from cisgram.errors import InputError
from cisgram.motifs import kernels as K
from cisgram.motifs import pvalues as P
from cisgram.motifs import scan as S
from cisgram.motifs.pwm import Motif, MotifSet, read_meme

VERTEBRATES = "JASPAR2024_CORE_vertebrates_nonredundant.meme"


def random_motifs(seed=0, widths=(4, 6, 8, 11, 15, 20)) -> MotifSet:
    rng = np.random.default_rng(seed)
    out = []
    for i, w in enumerate(widths):
        p = rng.dirichlet(np.full(4, 0.3), size=w)
        out.append(Motif(f"M{i}", f"m{i}", p))
    return MotifSet(out)


def random_codes(n, L, seed=1, n_frac=0.0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 4, size=(n, L)).astype(np.uint8)
    if n_frac:
        X[rng.random((n, L)) < n_frac] = 4
    return X


def brute_force(X, mats, thr):
    """Best score and hit count per (region, motif), windows with an N excluded."""
    n = X.shape[0]
    best = np.full((n, len(mats)), -np.inf)
    count = np.zeros((n, len(mats)), dtype=int)
    for k, m in enumerate(mats):
        w = m.shape[0]
        win = np.lib.stride_tricks.sliding_window_view(X, w, axis=1)
        ok = (win < 4).all(axis=-1)
        for mm in (m, m[::-1, ::-1]):
            sc = np.where(ok, mm[np.arange(w), np.minimum(win, 3)].sum(axis=-1), -np.inf)
            best[:, k] = np.maximum(best[:, k], sc.max(axis=1))
            count[:, k] += (sc > thr[k]).sum(axis=1)
    return best, count


def test_scores_and_counts_match_brute_force():
    ms = random_motifs()
    X = random_codes(40, 300, n_frac=0.01)
    X[3] = 4  # a region of Ns only
    res = S.scan(X, ms, threshold=1e-3, batch_size=7)  # the dense kernel
    exact = S.scan(X, ms, threshold=1e-3, batch_size=7, hits=True)  # the pruning hit kernel
    mats = P.log_odds_matrices(ms)
    best, count = brute_force(X, mats, res.score_thresholds)
    assert res.features["max"].shape == (40, len(ms))
    np.testing.assert_allclose(res.features["max"], best, rtol=0, atol=1e-4)  # float32 sums
    np.testing.assert_allclose(exact.features["max"], best, rtol=0, atol=1e-9)
    assert np.all(res.features["max"][3] == -np.inf) and np.all(exact.features["max"][3] == -np.inf)
    np.testing.assert_array_equal(res.features["count"], count)
    np.testing.assert_array_equal(exact.features["count"], count)
    assert res.features["count"].dtype == np.int32 and count.sum() > 50


def test_feature_subsets_batches_and_onehot_agree():
    ms = random_motifs(2)
    X = random_codes(30, 200, seed=3, n_frac=0.02)
    full = S.scan(X, ms, threshold=1e-3, hits=True)
    dense = S.scan(X, ms, threshold=1e-3)
    only_max = S.scan(X, ms, threshold=1e-3, features=("max",), batch_size=4)
    only_count = S.scan(X, ms, threshold=1e-3, features=("count",), batch_size=1)
    onehot = (np.arange(4)[None, :, None] == X[:, None, :]).astype(np.float32)  # N: all zeros
    from_onehot = S.scan(onehot, ms, threshold=1e-3, hits=True)
    np.testing.assert_array_equal(only_max.features["max"], dense.features["max"])
    np.testing.assert_allclose(dense.features["max"], full.features["max"], rtol=0, atol=1e-4)
    assert "count" not in only_max.features and "max" not in only_count.features
    np.testing.assert_array_equal(only_count.features["count"], full.features["count"])
    np.testing.assert_array_equal(dense.features["count"], full.features["count"])
    np.testing.assert_array_equal(from_onehot.features["max"], full.features["max"])
    pd.testing.assert_frame_equal(from_onehot.hits, full.hits)
    counts = full.hits.groupby(["region", "motif"], observed=False).size().unstack(fill_value=0)
    np.testing.assert_array_equal(counts.reindex(range(30), fill_value=0).to_numpy(), full.features["count"])


def test_hit_table_columns_and_names():
    ms = random_motifs(4)
    X = random_codes(5, 150, seed=5)
    res = S.scan(X, ms, threshold=1e-2, hits=True, names=[f"r{i}" for i in range(5)])
    h = res.hits
    assert list(h.columns) == ["region", "motif", "start", "end", "strand", "score", "p_value"]
    assert set(h["region"]) <= {f"r{i}" for i in range(5)} and set(h["strand"]) <= {"+", "-"}
    widths = np.array([m.width for m in ms])
    np.testing.assert_array_equal(h["end"] - h["start"], widths[h["motif"].cat.codes])
    assert (h["p_value"] < 1e-2).all() and (h["p_value"] > 0).all()
    thr = dict(zip(res.motif_names, res.score_thresholds, strict=True))
    assert all(s > thr[m] for m, s in zip(h["motif"], h["score"], strict=True))


def test_planted_site_found_at_its_position_and_strand():
    probs = np.full((10, 4), 0.01)
    probs[np.arange(10), [0, 1, 2, 3, 3, 2, 0, 0, 1, 2]] = 0.97  # ACGTTGAACG, not a palindrome
    ms = MotifSet([Motif("SITE", "site", probs)])
    X = random_codes(3, 200, seed=7)
    site = np.array([0, 1, 2, 3, 3, 2, 0, 0, 1, 2], dtype=np.uint8)
    X[0, 37:47] = site
    X[1, 120:130] = (3 - site)[::-1]  # reverse complement: read on the minus strand
    X[2, 50:60] = site
    X[2, 55] = 4  # an N inside the site: no site at all
    res = S.scan(X, ms, hits=True)
    h = res.hits
    assert ((h.region == 0) & (h.start == 37) & (h.end == 47) & (h.strand == "+")).any()
    assert ((h.region == 1) & (h.start == 120) & (h.end == 130) & (h.strand == "-")).any()
    assert not ((h.region == 2) & (h.start <= 55) & (h.end > 55)).any()
    top = np.log2(0.97 + 1e-4) - np.log2(0.25)
    assert res.features["max"][0, 0] == pytest.approx(10 * top) == res.features["max"][1, 0]


def test_all_n_regions_give_no_hits_and_minus_inf():
    ms = random_motifs(6)
    X = np.full((4, 100), 4, dtype=np.uint8)
    res = S.scan(X, ms, threshold=0.5, hits=True)
    assert np.all(res.features["max"] == -np.inf) and res.features["count"].sum() == 0 and len(res.hits) == 0


def test_pvalues_exact_by_enumeration():
    rng = np.random.default_rng(8)
    bg = np.array([0.3, 0.2, 0.2, 0.3])
    ms = MotifSet([Motif("E", "e", rng.dirichlet(np.ones(4), size=5))], background=bg)
    (m,) = P.log_odds_matrices(ms)
    im = np.round(m / P.BIN_SIZE).astype(int)
    seqs = np.array(list(itertools.product(range(4), repeat=5)))
    iscore = im[np.arange(5), seqs].sum(axis=1)
    prob = bg[seqs].prod(axis=1)
    smallest, sf = P._survival(im, bg)
    for j in range(iscore.min(), iscore.max() + 1):
        assert sf[j - smallest] == pytest.approx(prob[iscore >= j].sum(), rel=1e-9)
    p = 0.01
    thr = P.pvalue_thresholds(ms, p)[0]
    j = min(s for s in range(iscore.min(), iscore.max() + 1) if prob[iscore >= s].sum() < p)
    assert thr == float(np.float32(j * P.BIN_SIZE))
    pv = P.score_pvalue(ms, [0, 0], [j * P.BIN_SIZE + 0.05, 1e9])
    assert pv[0] == pytest.approx(prob[iscore >= j].sum(), rel=1e-9)
    assert pv[1] == pytest.approx(prob[iscore == iscore.max()].sum(), rel=1e-9)  # never 0
    assert np.isinf(P.pvalue_thresholds(ms, 1e-6)[0])  # 4**-5 is the smallest p-value here


def test_torch_path_matches_numba_kernel():
    ms = random_motifs(9)
    X = random_codes(12, 250, seed=10, n_frac=0.01)
    mats = P.log_odds_matrices(ms)
    thr = P.pvalue_thresholds(ms, 1e-3)
    b1, c1, h1 = K.CpuScanner(mats, thr).run(X, True, True, True)
    b2, c2, h2 = K.TorchScanner(mats, thr, "cpu").run(X, True, True, True)
    np.testing.assert_allclose(b2, b1, atol=1e-4)
    np.testing.assert_array_equal(c2, c1)

    def rows(parts):
        return sorted((k, *map(float, row[:3]), round(float(row[3]), 9)) for k, a in parts for row in a)

    assert rows(h1) == rows(h2)


def test_input_errors():
    ms = random_motifs()
    with pytest.raises(InputError, match="wider than the sequences"):
        S.scan(random_codes(2, 12), ms)
    with pytest.raises(InputError, match="no motifs"):
        S.scan(random_codes(2, 50), MotifSet([]))
    with pytest.raises(InputError, match="given twice"):
        S.scan(random_codes(2, 50), [ms[0], ms[0]])
    with pytest.raises(InputError, match=r"\(N, 4, L\)"):
        S.scan(np.zeros((2, 5, 50), dtype=np.float32), ms)
    with pytest.raises(InputError, match="unknown feature"):
        S.scan(random_codes(2, 50), ms, features=("mean",))
    with pytest.raises(InputError, match="p-value threshold"):
        S.scan(random_codes(2, 50), ms, threshold=0)
    with pytest.raises(InputError, match="region names"):
        S.scan(random_codes(2, 50), ms, names=["a"])
    with pytest.raises(InputError, match="device"):
        S.scan(random_codes(2, 50), ms, device="tpu")


@pytest.mark.shared
def test_hits_match_memelite_fimo_on_chr22(chr22, motif_dir):
    fimo = pytest.importorskip("memelite.fimo").fimo
    from cisgram.genome import Genome

    ms = read_meme(motif_dir / VERTEBRATES)
    n = 200
    starts = np.random.default_rng(0).integers(10_600_000, 50_818_468 - 1000, n)
    X = Genome(chr22 / "genome" / "chr22.fa.gz").fetch_codes_batch(["chr22"] * n, starts, starts + 1000)
    res = S.scan(X, ms, hits=True)
    ours = res.hits.assign(motif=res.hits["motif"].astype(str))

    onehot = (np.arange(4)[None, :, None] == X[:, None, :]).astype(np.float32)
    theirs = pd.concat([d for d in fimo({m.name: m.probs.T.copy() for m in ms}, onehot) if len(d)])
    theirs = theirs.rename(columns={"sequence_name": "region", "motif_name": "motif", "p-value": "p_value"})
    theirs = theirs.astype({"region": int, "start": int, "end": int})
    # memelite scores an N as 0 (we never call a window with an N a site), and gives motifs whose
    # p-value threshold is unreachable a threshold past their best integer score (hits with p = 0).
    csum = np.concatenate([np.zeros((n, 1), int), np.cumsum(X == 4, axis=1)], axis=1)
    with_n = csum[theirs.region, theirs.end] > csum[theirs.region, theirs.start]
    unreachable = set(np.array(res.motif_names)[np.isinf(res.score_thresholds)])
    theirs = theirs[~with_n & ~theirs.motif.isin(unreachable)]
    assert not ours.motif.isin(unreachable).any()

    thr = dict(zip(res.motif_names, res.score_thresholds, strict=True))
    agree = S.compare_hits(ours, theirs, thr)
    assert len(ours) > 30_000
    assert agree["common_fraction"] >= 0.999
    assert agree["max_score_diff"] < 1e-3
    assert agree["differ_only_at_boundary"]  # any others only at the threshold boundary
    # p-values agree except where memelite's is 0 (a score past the best integer score)
    assert agree["max_pvalue_rel_diff"] < 1e-6
    assert (ours.p_value > 0).all()
    counts = ours.groupby(["region", "motif"]).size()
    feat = res.features["count"]
    idx = {m: i for i, m in enumerate(res.motif_names)}
    assert all(feat[r, idx[m]] == c for (r, m), c in counts.items()) and feat.sum() == len(ours)
    # the dense kernel (no hit table) counts exactly the same hits
    np.testing.assert_array_equal(S.scan(X, ms).features["count"], feat)
