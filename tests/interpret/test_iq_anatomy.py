"""Interaction anatomy of an IQ model (cisgram.interpret.iq_anatomy) on a planted grammar: two motifs at
a fixed spacing and orientation in the "interacting" regions, placed independently elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from cisgram.genome import encode
from cisgram.interpret.iq_anatomy import (
    anatomy_table,
    best_sites,
    co_occurrence,
    independent_placement,
    interaction_anatomy,
)
from cisgram.models.iq import Interactions, IQModel
from cisgram.motifs.features import Bins, apply_energy_norm, fit_energy_norm, motif_energy
from cisgram.motifs.pvalues import log_odds_matrices
from cisgram.motifs.pwm import Motif, MotifSet
from cisgram.report.iq_anatomy import interactions_section

A, B = "TTGCATAACG", "GAGGACCTTA"  # neither is its own reverse complement
SPACING = 20  # centre of B − centre of A, on A's strand
L, N, N_PAIRED = 500, 600, 90
RC = str.maketrans("ACGT", "TGCA")


def _rc(s: str) -> str:
    return s.translate(RC)[::-1]


def _motif(name: str, consensus: str) -> Motif:
    p = np.full((len(consensus), 4), 0.01)
    p[np.arange(len(consensus)), ["ACGT".index(c) for c in consensus]] = 0.97
    return Motif(name, name, p)


def _put(seq: list, pos: int, s: str) -> None:
    seq[pos:pos + len(s)] = list(s)


def _simulate(seed: int = 0):
    """Regions 0..N_PAIRED-1: A (+) then B (−) at SPACING, the construct reverse-complemented in a
    random half; the others: A and B each with probability 0.3, random strand and place, apart."""
    rng = np.random.default_rng(seed)
    seqs = []
    for i in range(N):
        seq = list(rng.choice(list("ACGT"), L))
        if i < N_PAIRED:
            construct = A + "".join(rng.choice(list("ACGT"), SPACING - len(A))) + _rc(B)
            _put(seq, int(rng.integers(40, 460 - len(construct))), _rc(construct) if rng.random() < 0.5 else construct)
        else:
            taken = []
            for m in (A, B):
                if rng.random() < 0.3:
                    while True:
                        p = int(rng.integers(40, 450))
                        if all(abs(p - q) > 15 for q in taken):
                            break
                    taken.append(p)
                    _put(seq, p, m if rng.random() < 0.5 else _rc(m))
        seqs.append("".join(seq))
    codes = np.stack([encode(s) for s in seqs])
    train = rng.random(N) < 0.85
    return codes, train


def _model(codes: np.ndarray, train: np.ndarray, beta: float = 3.0) -> IQModel:
    """An IQ model of A and B with flat spatial profiles and one A × B term (coefficient ``beta``)."""
    motifs = [_motif("A", A), _motif("B", B)]
    grid = Bins.default(L)
    spatial = np.ones((2, grid.n))
    raw = motif_energy(codes, MotifSet(motifs), grid=grid, weights=spatial).energy
    norm = fit_energy_norm(raw, ["A", "B"], rows=train)
    E = apply_energy_norm(raw, norm)
    inter = Interactions.fit(E, np.array([[0, 1]]), train)
    coef = np.zeros((1, 9))
    coef[0, 8] = beta
    return IQModel(motifs, spatial, grid, norm, [], {}, inter, ["y"], coef, np.zeros(1), np.array([[0, 1, 0, 1.0]]))


@pytest.fixture(scope="module")
def planted():
    codes, train = _simulate()
    model = _model(codes, train)
    return codes, train, model, interaction_anatomy(model, codes, train)


def test_anatomy_recovers_planted_spacing_orientation_and_co_occurrence(planted):
    codes, train, model, anatomy = planted
    assert len(anatomy) == 1
    a = anatomy[0]
    assert a.pair == "A*B" and a.coef == {"y": 3.0}
    top = a.sites[a.sites["set"] == "top"]
    assert len(top) == int(round(0.1 * train.sum())) and set(top["row"]) <= set(np.flatnonzero(train))
    # the planted grammar, exactly: mode of the top set's spacing, and B opposite to A
    assert a.spacing_mode_top == SPACING
    assert a.spacing_top.max() >= 0.4 * a.counts[0, 0]
    both_top = top[top["both"]]
    assert set(both_top.loc[both_top["spacing"] == SPACING, "orientation"]) == {"+-", "-+"}
    assert a.orientation.loc["+-", "top"] + a.orientation.loc["-+", "top"] > 2 * (
        a.orientation.loc["++", "top"] + a.orientation.loc["--", "top"])
    # both orientations of the construct were planted: the A-relative spacing does not depend on it
    assert min(a.orientation.loc["+-", "top"], a.orientation.loc["-+", "top"]) >= 5
    # far above independent placement of the same sites (A of one region with B of another)
    assert a.spacing_top.max() > 5 * a.spacing_expected.get(SPACING, 0.0)
    assert np.isclose(a.spacing_expected.sum(), a.counts[0, 0]) and np.isclose(a.orientation["top expected"].sum(),
                                                                                a.counts[0, 0])
    # co-occurrence: both sites far more often in the top set than in the matched background
    assert a.odds_ratio > 1 and a.ci_low > 1 and a.p_value < 1e-6
    bg = a.sites[a.sites["set"] == "background"]
    assert len(bg) > 0.5 * len(top) and not set(bg["row"]) & set(top["row"])
    assert bg["contribution"].abs().max() <= np.median(np.abs(top["contribution"]))
    row = anatomy_table(anatomy).iloc[0]
    assert row["spacing_mode_top"] == SPACING and row["ci_low"] > 1 and row["n_top"] == len(top)


def test_best_sites_finds_the_planted_window_on_either_strand():
    seq = list("A" * 60)
    _put(seq, 7, A)
    _put(seq, 33, _rc(A))
    codes = np.stack([encode("".join(seq))] * 2)
    codes[1, 33] = 4  # an N breaks the reverse site: the forward one wins
    mat = log_odds_matrices([_motif("A", A)])[0]
    score, start, strand = best_sites(codes, mat, np.arange(20, 51))
    assert strand[0] == -1 and start[0] == 33
    score2, start2, strand2 = best_sites(codes[1:], mat, np.arange(0, 51))
    assert start2[0] == 7 and strand2[0] == 1 and np.isclose(score2[0], mat.max(axis=1).sum())


def test_independent_placement_pairs_every_site_with_every_other_region():
    spacing, orient = independent_placement([10, 20, 30], [1, -1, 1], [15, 25, 40], [1, 1, -1])
    # pairs (i, j != i): (0,1) +15 ++, (0,2) +30 +-, (1,0) +5 -+, (1,2) -20 --, (2,0) -15 ++, (2,1) -5 ++
    assert spacing.to_dict() == {-20.0: 0.5, -15.0: 0.5, -5.0: 0.5, 5.0: 0.5, 15.0: 0.5, 30.0: 0.5}
    assert orient.tolist() == [1.5, 0.5, 0.5, 0.5]


def test_co_occurrence_woolf_interval():
    orr, lo, hi, p = co_occurrence([[20, 10], [5, 25]])
    se = np.sqrt(1 / 20 + 1 / 10 + 1 / 5 + 1 / 25)
    assert np.isclose(orr, 10.0) and np.isclose(lo, 10 * np.exp(-1.96 * se)) and np.isclose(hi, 10 * np.exp(1.96 * se))
    assert p < 1e-3
    orr0, lo0, _, _ = co_occurrence([[10, 0], [0, 10]])  # Haldane–Anscombe correction: finite
    assert np.isfinite(orr0) and lo0 > 1


def test_interactions_section_draws_every_pair(planted):
    *_, anatomy = planted
    html = interactions_section([("A*B", [3.0])], anatomy, ["y"])
    assert html.count("<img") == 2 and "odds ratio" in html and f"{SPACING:+.1f}" in html
    assert "none" in interactions_section([], [], ["y"])
