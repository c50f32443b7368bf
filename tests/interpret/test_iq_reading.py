"""How an IQ motif reads sequence (`cisgram.interpret.iq_reading`): the site table against the
energy kernel, and a simulation where one motif acts through its best site only and another
through the number of its weak sites, each labelled correctly with separated intervals."""

from __future__ import annotations

import numpy as np
import pytest

from cisgram.data.simulate import consensus_probs, random_codes
from cisgram.interpret.iq_reading import (
    STRONG,
    UNDECIDED,
    WEAK,
    combined_label,
    label,
    measure_reading,
    reading_energies,
)
from cisgram.models.iq import Interactions, IQModel
from cisgram.motifs.features import Bins, fit_energy_norm, motif_energy
from cisgram.motifs.pwm import Motif, MotifSet
from cisgram.results import IQReading

ACGT = "ACGT"
STRONG_SITE, WEAK_SITES = "TAGCCATGAC", "CACGTTGAGT"  # two unrelated 10-mers
L = 300


def _weak(consensus: str, rng) -> np.ndarray:
    """The consensus with one random mismatch, as codes."""
    site = np.array([ACGT.index(c) for c in consensus], np.uint8)
    j = rng.integers(len(site))
    site[j] = (site[j] + rng.integers(1, 4)) % 4
    return site


def _simulate(n: int, seed: int):
    """Motif S acts through its best site only: the response steps up when a perfect site is
    present, whatever the number (0-8) of one-mismatch S sites also planted; motif W acts
    through the number (0-8) of its one-mismatch sites, each adding the same amount."""
    rng = np.random.default_rng(seed)
    codes = random_codes(n, L, rng=rng)
    strong = rng.random(n) < 0.5
    n_s, n_w = rng.integers(0, 9, n), rng.integers(0, 9, n)
    slots = np.arange(12, L - 24, 12)  # 22 non-overlapping 10 bp slots inside the bins
    for r in range(n):
        sites = [np.array([ACGT.index(c) for c in STRONG_SITE], np.uint8)] if strong[r] else []
        sites += [_weak(STRONG_SITE, rng) for _ in range(n_s[r])] + [_weak(WEAK_SITES, rng) for _ in range(n_w[r])]
        for pos, site in zip(rng.choice(slots, len(sites), replace=False), sites, strict=True):
            codes[r, pos: pos + len(site)] = site
    y = np.clip(0.1 + 0.35 * strong + 0.05 * n_w + rng.normal(0, 0.05, n), 0, 1)
    return codes, y


@pytest.fixture(scope="module")
def sim():
    codes, y = _simulate(2000, seed=0)
    train = np.arange(len(y)) < 1500
    motifs = [Motif(name, "", consensus_probs(cons, 0.8).T, source="iq")
              for name, cons in (("S", STRONG_SITE), ("W", WEAK_SITES))]
    grid = Bins.default(L)
    spatial = np.ones((2, grid.n))
    raw = motif_energy(codes, MotifSet(motifs), grid=grid, weights=spatial).energy
    model = IQModel(motifs, spatial, grid, fit_energy_norm(raw[train], ["S", "W"]), [], {}, Interactions(), ["sim"],
                    np.zeros((1, 8)), np.zeros(1), np.array([[0.0, 1.0, 0.0, 1.0]]))
    return model, codes, y, train


def test_site_terms_sum_to_the_energy_kernel_and_order_the_three_versions():
    rng = np.random.default_rng(1)
    codes = random_codes(40, 200, rng=rng)
    codes[3, 80:90] = 4  # Ns: those sites count 0
    grid = Bins.for_length(200)
    spatial = rng.uniform(0, 2, grid.n)
    spatial[0] = 0.0  # a bin of weight 0
    m = Motif("m", "", consensus_probs("TGACTCAT", 0.85).T)
    got = reading_energies(codes, m.probs, spatial, grid, top_k=3)
    want = motif_energy(codes, MotifSet([m]), grid=grid, weights=spatial).energy[:, 0]
    np.testing.assert_allclose(got[:, 0], want, rtol=1e-6)
    assert np.all(got[:, 1] <= got[:, 2] + 1e-12) and np.all(got[:, 2] <= got[:, 0] + 1e-12)
    assert np.all(got[:, 0] - got[:, 2] > 0)  # hundreds of sites: the top 3 never hold all of it


def test_best_site_motif_and_weak_site_motif_are_told_apart(sim):
    model, codes, y, train = sim
    readings = measure_reading(model, codes, y[:, None], train, ~train, n_boot=500)
    s, w = readings[0]["sim"], readings[1]["sim"]
    assert s.label == STRONG and w.label == WEAK, (s, w)
    d_s, d_w = s.delta["best site"], w.delta["best site"]
    assert d_s[1] > 0 and d_w[2] < 0 and d_w[2] < d_s[1]  # the two intervals do not overlap
    assert s.r2["best site"] > s.r2["integrated"] + 0.02
    assert w.r2["integrated"] > w.r2["best site"] + 0.05
    # the top-3 version sits between: it reads three of W's up to eight sites
    assert w.r2["best site"] < w.r2["top-3 sites"] < w.r2["integrated"] + 0.01
    assert s.n_val == 500 and s.n_boot == 500 and s.top_k == 3


def test_without_validation_rows_the_label_says_so(sim):
    model, codes, y, train = sim
    readings = measure_reading(model, codes, y[:, None], train, np.zeros(len(y), bool))
    r = readings[0]["sim"]
    assert r.label == "not measured: no validation rows" and np.isnan(r.r2["integrated"])


def test_labels_follow_the_interval():
    assert label(0.0, 0.02) == STRONG and label(-0.03, -0.01) == WEAK and label(-0.01, 0.01) == UNDECIDED
    r = {t: IQReading(lab, {}, {}, 10, 10, 3) for t, lab in (("A", STRONG), ("B", WEAK))}
    assert combined_label(r) == f"A: {STRONG}; B: {WEAK}"
    assert combined_label({"A": r["A"]}) == STRONG


def test_reading_figure_draws_one_bar_per_fit():
    from cisgram.report.plots_iq import reading_fits

    fig = reading_fits(["t best site", "t top-3 sites"], np.array([0.02, -0.01]), np.array([0.01, -0.03]),
                       np.array([0.03, 0.01]), "reading")
    assert len(fig.axes[0].patches) == 2
