"""Motif features: IceQream energies against a brute-force reference, bins, normalisation, hit sums."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cisgram.bundled import demo
from cisgram.errors import InputError
from cisgram.genome import Genome, encode
from cisgram.motifs.features import (
    Bins,
    EnergyNorm,
    apply_energy_norm,
    fit_energy_norm,
    hit_score_sum,
    motif_energy,
)
from cisgram.motifs.pwm import Motif, MotifSet, read_meme


def brute_energy(seq: np.ndarray, motif: Motif, grid: Bins, weights=None) -> float:
    """Spec §2.2 written out: ln sum_w sum_s S[bin(w)] prod_i p'(base), site wholly inside, no N."""
    p = (motif.probs / motif.probs.sum(1, keepdims=True) + 0.01) / 1.04
    rc = p[::-1, ::-1]
    k = motif.width
    total = 0.0
    for w in range(seq.size - k + 1):
        b = (w - grid.offset) // grid.size
        if w < grid.offset or b >= grid.n:
            continue
        site = seq[w : w + k]
        if (site == 4).any():
            continue
        s = 1.0 if weights is None else weights[b]
        total += s * (np.prod(p[np.arange(k), site]) + np.prod(rc[np.arange(k), site]))
    return np.log(total)


@pytest.fixture(scope="module")
def demo_codes():
    g = Genome(demo().genome)
    rng = np.random.default_rng(0)
    starts = rng.integers(19_100_000, 28_900_000, 40)
    codes = g.fetch_codes_batch(["chr22"] * 40, starts, starts + 500)
    codes[3, 100:140] = 4  # an N stretch
    return codes


@pytest.fixture(scope="module")
def demo_motifs():
    return read_meme(demo().motifs)


def test_grid_follows_prego():
    assert Bins.for_length(500) == Bins(500, 40, 11, 30)
    assert Bins.for_length(300) == Bins(300, 40, 7, 10)
    assert Bins.for_length(1000) == Bins(1000, 40, 25, 0)
    assert Bins.for_length(500).index(np.array([0, 29, 30, 69, 70, 469, 470])).tolist() == [-1, -1, 0, 0, 1, 10, -1]


def test_default_grid_is_iceqreams_central_window():
    # IceQream models the central 500 bp: a 1 kb region keeps 11 x 40 bp over its central 440 bp
    assert Bins.default(500) == Bins.for_length(500)
    assert Bins.default(1000) == Bins(1000, 40, 11, 280)
    assert Bins.default(300) == Bins.for_length(300)
    assert Bins.parse("whole", 1000) == Bins.for_length(1000)
    assert Bins.parse("central", 1000) == Bins.default(1000)
    assert Bins.parse("5:20", 1000) == Bins(1000, 20, 5, 450)
    for bad in ("30:40", "many", "0:40"):
        with pytest.raises(InputError):
            Bins.parse(bad, 1000)
    # the kernel honours the offset: energies of a 1 kb sequence on the central grid equal those
    # of its central 560 bp on the same bins (560 bp leave room for the 34 bp CTCF sites at the end)
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 4, (3, 1000)).astype(np.uint8)
    ms = read_meme(demo().motifs).subset(["MA1930.2"])
    long = motif_energy(codes, ms, return_bins=True)
    short = motif_energy(np.ascontiguousarray(codes[:, 220:780]), ms, grid=Bins.centred(560, 11, 40), return_bins=True)
    np.testing.assert_allclose(long.energy, short.energy, rtol=1e-6)
    np.testing.assert_allclose(long.bins, short.bins, rtol=1e-5)


def test_energy_matches_brute_force(demo_codes, demo_motifs):
    grid = Bins.for_length(500)
    res = motif_energy(demo_codes, demo_motifs, return_bins=True)
    assert res.energy.shape == (40, 100) and res.bins.shape == (40, 11, 100)
    widths = [m.width for m in demo_motifs]
    picks = [0, 1, 17, 50, int(np.argmin(widths)), int(np.argmax(widths))]
    for n in (0, 3, 7, 39):
        for j in picks:
            expect = brute_energy(demo_codes[n], demo_motifs[j], grid)
            assert res.energy[n, j] == pytest.approx(expect, rel=1e-5)
    # the per-bin sums add up to the energy
    np.testing.assert_allclose(np.log(np.exp(res.bins.astype(np.float64)).sum(axis=1)), res.energy, rtol=1e-5)


def test_spatial_weights(demo_codes, demo_motifs):
    grid = Bins.for_length(500)
    w = np.linspace(0.1, 2.0, grid.n)
    res = motif_energy(demo_codes[:5], demo_motifs, weights=w)
    for n in range(5):
        assert res.energy[n, 0] == pytest.approx(brute_energy(demo_codes[n], demo_motifs[0], grid, w), rel=1e-5)


def test_planted_site_raises_energy_and_ns_count_nothing():
    ctcf = read_meme(demo().motifs).subset(["MA1930.2"])  # the nonredundant JASPAR CTCF
    rng = np.random.default_rng(3)
    background = rng.integers(0, 4, (20, 500)).astype(np.uint8)
    planted = background.copy()
    consensus = encode(ctcf[0].consensus)
    planted[:, 240 : 240 + consensus.size] = consensus
    e0 = motif_energy(background, ctcf).energy[:, 0]
    e1 = motif_energy(planted, ctcf).energy[:, 0]
    assert (e1 > e0 + 3).all()  # one consensus site outweighs a whole random 500 bp
    all_n = np.full((1, 500), 4, dtype=np.uint8)
    assert np.isneginf(motif_energy(all_n, ctcf).energy[0, 0])


def test_normalisation_to_0_10():
    rng = np.random.default_rng(0)
    ref = rng.normal(-20, 2, (1000, 3))
    norm = fit_energy_norm(ref, ["a", "b", "c"])
    out = apply_energy_norm(ref, norm)
    assert out.min() >= 0 and out.max() == pytest.approx(10)
    assert np.allclose(out[ref.argmax(0), [0, 1, 2]], 10)
    x2 = ref / np.log(2)
    expect = np.clip(x2 - x2.max(0), -7, 0)
    np.testing.assert_allclose(out, (expect - expect.min(0)) / (expect.max(0) - expect.min(0)) * 10)
    new = np.array([[ref[:, 0].max() + 5, -np.inf, np.nan]])
    np.testing.assert_allclose(apply_energy_norm(new, norm), [[10, 0, 0]])
    back = EnergyNorm.from_dict(norm.to_dict())
    np.testing.assert_array_equal(apply_energy_norm(ref, back), out)


def test_hit_score_sum_by_motif_and_cluster():
    hits = pd.DataFrame({"region": [0, 0, 2, 2], "motif": ["A", "A", "B", "C"], "score": [1.0, 2.0, 3.0, 4.0]})
    m, cols = hit_score_sum(hits, 3, ["A", "B", "C"])
    assert cols == ["A", "B", "C"] and m.tolist() == [[3, 0, 0], [0, 0, 0], [0, 3, 4]]
    c, ccols = hit_score_sum(hits, 3, ["A", "B", "C"], clusters={"B": "BC", "C": "BC"})
    assert ccols == ["A", "BC"] and c.tolist() == [[3, 0], [0, 0], [0, 7]]
    with pytest.raises(InputError, match="not in the motif set"):
        hit_score_sum(hits, 3, ["A", "B"])


def test_bad_inputs(demo_motifs):
    with pytest.raises(InputError, match="wider than the 10 bp"):
        motif_energy(np.zeros((2, 10), np.uint8), demo_motifs)
    with pytest.raises(InputError, match="empty"):
        motif_energy(np.zeros((2, 100), np.uint8), MotifSet([]))


def test_region_features_one_pass_equals_the_separate_verbs(demo_codes, demo_motifs):
    from cisgram.motifs.features import FEATURES, region_features
    from cisgram.motifs.scan import scan

    names = [f"r{i}" for i in range(len(demo_codes))]
    res = region_features(demo_codes, demo_motifs, FEATURES, threshold=1e-3, batch_size=16, hits=True, names=names)
    assert set(res.features) == set(FEATURES) and res.motif_names == demo_motifs.names
    dense = scan(demo_codes, demo_motifs, threshold=1e-3)
    np.testing.assert_array_equal(res.features["max"], dense.features["max"])
    np.testing.assert_array_equal(res.features["count"], dense.features["count"])
    e = motif_energy(demo_codes, demo_motifs, return_bins=True)
    np.testing.assert_array_equal(res.features["energy"], e.energy)
    np.testing.assert_array_equal(res.features["energy_bins"], e.bins)
    hits = scan(demo_codes, demo_motifs, threshold=1e-3, hits=True).hits
    expect, cols = hit_score_sum(hits, len(demo_codes), demo_motifs.names)
    np.testing.assert_allclose(res.features["hit_score_sum"], expect)
    assert res.hit_columns == tuple(cols) and len(hits) > 100
    per_region = hits.groupby("region").size().reindex(range(len(demo_codes)), fill_value=0).to_numpy()
    np.testing.assert_array_equal(res.features["count"].sum(axis=1), per_region)
    assert set(res.hits["region"]) <= set(names) and len(res.hits) == len(hits)
    only = region_features(demo_codes, demo_motifs, ("energy",))
    assert list(only.features) == ["energy"] and only.hits is None
    np.testing.assert_array_equal(only.features["energy"], e.energy)
    with pytest.raises(InputError, match="unknown"):
        region_features(demo_codes, demo_motifs, ("energy", "mean"))
    with pytest.raises(InputError, match="3 region names for 40 sequences"):
        region_features(demo_codes, demo_motifs, ("max",), hits=True, names=["a", "b", "c"])


def test_energy_normalisation_in_row_slices_equals_one_pass(monkeypatch):
    """fit/apply_energy_norm read a genome's regions a slice at a time (bounded memory): slices
    of 7 rows give exactly what one pass gives, -inf and NaN included."""
    import cisgram.motifs.features as F

    rng = np.random.default_rng(3)
    raw = rng.normal(-5, 3, (100, 6))
    raw[rng.random(raw.shape) < 0.05] = -np.inf
    raw[3, 2] = np.nan
    one_norm = fit_energy_norm(raw, list("abcdef"))
    one = apply_energy_norm(raw, one_norm)
    monkeypatch.setattr(F, "ENERGY_CHUNK", 7)
    sliced_norm = fit_energy_norm(raw, list("abcdef"))
    for field in ("ref", "min_ref", "max_ref"):
        np.testing.assert_array_equal(getattr(sliced_norm, field), getattr(one_norm, field))
    np.testing.assert_array_equal(apply_energy_norm(raw, sliced_norm), one)
    assert one.min() >= 0 and one.max() <= 10 and np.isfinite(one).all()
    # training rows by mask, without the copy; float32 energies normalised in place (IQ's screen)
    train = rng.random(100) < 0.7
    by_rows = fit_energy_norm(raw, list("abcdef"), rows=train)
    copied = fit_energy_norm(raw[train], list("abcdef"))
    for field in ("ref", "min_ref", "max_ref"):
        np.testing.assert_array_equal(getattr(by_rows, field), getattr(copied, field))
    np.testing.assert_array_equal(fit_energy_norm(raw, list("abcdef"), rows=np.flatnonzero(train)).ref, copied.ref)
    raw32 = raw.astype(np.float32)
    in_place = apply_energy_norm(raw32, copied, out=raw32)
    assert in_place is raw32 and raw32.dtype == np.float32
    np.testing.assert_allclose(in_place, apply_energy_norm(raw.astype(np.float32).astype(np.float64), copied),
                               atol=1e-5)
