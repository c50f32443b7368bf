"""Tests for cisgram.models.baselines: k-mer counts against brute force, each baseline recovering a
planted signal, the save/load round trip, and input errors."""

from __future__ import annotations

import numpy as np
import pytest

from cisgram.errors import InputError
from cisgram.models.baselines import KINDS, BaselineModel, fit_baseline, kmer_counts
from cisgram.motifs.pwm import Motif, MotifSet

COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}


def encode(seq: str) -> np.ndarray:
    return np.array(["ACGTN".index(c) for c in seq], dtype=np.uint8)


def decode(row: np.ndarray) -> str:
    return "".join("ACGTN"[int(c)] for c in row)


def brute_kmers(seq: str, k: int) -> dict[str, int]:
    """Each N-free window counts once, under min(kmer, reverse complement)."""
    out: dict[str, int] = {}
    for i in range(len(seq) - k + 1):
        w = seq[i:i + k]
        if "N" in w:
            continue
        rc = "".join(COMP[c] for c in reversed(w))
        key = min(w, rc)
        out[key] = out.get(key, 0) + 1
    return out


def random_codes(n, L, rng, gc=None):
    p = np.full((n, 4), 0.25) if gc is None else np.stack([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2], 1)
    u = rng.random((n, L, 1))
    return (u > np.cumsum(p, axis=1)[:, None, :]).sum(axis=2).astype(np.uint8)


def plant(codes, row, pos, seq):
    codes[row, pos:pos + len(seq)] = encode(seq)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 6])
def test_kmer_counts_match_brute_force(k):
    rng = np.random.default_rng(k)
    codes = random_codes(6, 40, rng)
    codes[0, 5] = 4  # an N
    codes[1, :3] = 4
    codes[2, :] = 4  # all N
    plant(codes, 3, 10, "ACGTACGT")  # ACGT (palindrome) and its neighbours
    counts, names = kmer_counts(codes, k)
    assert counts.shape == (6, len(names)) and len(set(names)) == len(names)
    for r in range(len(codes)):
        expected = brute_kmers(decode(codes[r]), k)
        got = {nm: int(c) for nm, c in zip(names, counts[r], strict=True) if c}
        assert got == expected
    assert counts[2].sum() == 0


def test_kmer_canonical_collapsing_and_palindromes():
    _, names6 = kmer_counts(np.zeros((1, 10), np.uint8), 6)
    assert len(names6) == 2080
    codes = np.stack([encode("AAAAA"), encode("TTTTT"), encode("ACGTN")])
    counts, names = kmer_counts(codes, 2)
    col = {nm: i for i, nm in enumerate(names)}
    assert "TT" not in col and counts[0, col["AA"]] == counts[1, col["AA"]] == 4
    # palindromes AT, CG, GC, TA count once per window; ACGT has AC, CG, GT(->AC)
    assert counts[2, col["AC"]] == 2 and counts[2, col["CG"]] == 1 and counts[2].sum() == 3
    assert kmer_counts(np.zeros((2, 3), np.uint8), 5)[0].sum() == 0  # shorter than k


def test_gc_recovers_linear_gc_target():
    rng = np.random.default_rng(0)
    gc = rng.uniform(0.2, 0.8, 500)
    codes = random_codes(500, 200, rng, gc)
    true_gc = ((codes == 1) | (codes == 2)).mean(axis=1)
    y = 3.0 * true_gc + rng.normal(0, 0.02, 500)
    y[::37] = np.nan  # not modelled
    train, val = np.arange(500) < 350, np.arange(500) >= 350
    m = fit_baseline("gc", codes, y, train, val)
    ok = val & np.isfinite(y)
    assert np.corrcoef(m.predict(codes)[ok], y[ok])[0, 1] > 0.95
    assert m.params["selected_on"] == "val" and m.params["n_features"] == 17
    assert m.params["alpha"] in m.params["alpha_grid"]


def test_kmer_ridge_recovers_planted_6mer():
    rng = np.random.default_rng(1)
    n, L, site = 1500, 150, "GATTAC"
    codes = random_codes(n, L, rng)
    for r in range(n):
        for pos in rng.choice(np.arange(0, L - 6, 8), size=rng.integers(0, 5), replace=False):
            plant(codes, r, pos, site)
    counts, names = kmer_counts(codes, 6)
    y = counts[:, names.index("GATTAC")] + rng.normal(0, 0.5, n)
    train = np.arange(n) < 1200
    m = fit_baseline("kmer-ridge", codes, y, train, seed=3)  # no val: 20% holdout of train
    assert m.params["selected_on"] == "holdout" and m.params["n_features"] == 2080
    test = ~train
    assert np.corrcoef(m.predict(codes)[test], y[test])[0, 1] > 0.8
    assert names[int(np.argmax(m.arrays["coef"]))] == "GATTAC"


def hand_motifs() -> MotifSet:
    def sharp(seq, p=0.91):
        probs = np.full((len(seq), 4), (1 - p) / 3)
        probs[np.arange(len(seq)), ["ACGT".index(c) for c in seq]] = p
        return probs

    return MotifSet([Motif("SITE1", "one", sharp("TGACTCAG")), Motif("SITE2", "two", sharp("CCAATGG")),
                     Motif("SITE3", "three", sharp("GGGCGGGAC"))])


def test_motif_lasso_recovers_planted_motif():
    rng = np.random.default_rng(2)
    n, L = 300, 80
    codes = random_codes(n, L, rng)
    has = rng.random(n) < 0.5
    for r in np.flatnonzero(has):
        plant(codes, r, rng.integers(0, L - 8), "TGACTCAG")
    y = has + rng.normal(0, 0.2, n)
    train, val = np.arange(n) < 200, (np.arange(n) >= 200) & (np.arange(n) < 250)
    m = fit_baseline("motif-lasso", codes, y, train, val, motifs=hand_motifs())
    assert m.params["motif_names"][int(np.argmax(np.abs(m.arrays["coef"])))] == "SITE1"
    test = np.arange(n) >= 250
    assert np.corrcoef(m.predict(codes)[test], y[test])[0, 1] > 0.8


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(kind, tmp_path):
    rng = np.random.default_rng(4)
    codes = random_codes(120, 60, rng)
    codes[0, :] = 4  # all N: -inf motif scores are filled
    y = rng.normal(size=120)
    m = fit_baseline(kind, codes, y, np.arange(120) < 80, motifs=hand_motifs(), k=3)
    m.save(tmp_path / kind)
    back = BaselineModel.load(tmp_path / kind)
    assert back.kind == kind and back.params == m.params
    new = random_codes(30, 70, rng)  # other sequences, other length
    assert np.array_equal(back.predict(new), m.predict(new))
    assert np.all(np.isfinite(back.predict(codes)))


def test_errors(tmp_path):
    rng = np.random.default_rng(5)
    codes = random_codes(20, 30, rng)
    y, train = rng.normal(size=20), np.arange(20) < 15
    with pytest.raises(InputError, match="motif-lasso, kmer-ridge, gc"):
        fit_baseline("cnn", codes, y, train)
    with pytest.raises(InputError, match="no training rows"):
        fit_baseline("gc", codes, np.where(train, np.nan, y), train)
    with pytest.raises(InputError, match="y has shape"):
        fit_baseline("gc", codes, y[:-1], train)
    with pytest.raises(InputError, match="train must be a boolean mask"):
        fit_baseline("gc", codes, y, train[:-1])
    with pytest.raises(InputError, match="val must be a boolean mask"):
        fit_baseline("gc", codes, y, train, np.flatnonzero(~train))
    with pytest.raises(InputError, match="needs motifs"):
        fit_baseline("motif-lasso", codes, y, train)
    with pytest.raises(InputError, match="2-D"):
        fit_baseline("gc", codes[0], y, train)
    with pytest.raises(InputError, match="k must be"):
        fit_baseline("kmer-ridge", codes, y, train, k=0)
    with pytest.raises(InputError, match="no model here"):
        BaselineModel.load(tmp_path)
