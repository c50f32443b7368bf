"""Tests for cisgram.interpret.discovery: TF-MoDISco patterns named by TOMTOM against JASPAR.

The attributions are synthetic with a known answer: sequences carrying sites of the real JASPAR
CTCF matrix (MA0139.2, from pyjaspar, offline) get hypothetical contributions equal to the
matrix's log-odds at the site and small noise elsewhere, so a working pipeline must find one
pattern, on the planted sites, whose best match in all of JASPAR 2024 CORE vertebrates is CTCF.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from cisgram.data.simulate import planted
from cisgram.errors import InputError
from cisgram.interpret.discovery import (
    MATCH_COLUMNS,
    SEQLET_COLUMNS,
    Discovery,
    bh_qvalues,
    discover,
    trim_bounds,
    write_patterns,
)
from cisgram.motifs.pwm import load_motifs, read_meme
from cisgram.report.discovery import discovery_section

CTCF = "MA0139.2"
N, L = 300, 150


def onehot_of(codes: np.ndarray) -> np.ndarray:
    n, length = codes.shape
    x = np.zeros((n, 4, length), np.float32)
    x[np.arange(n)[:, None], codes, np.arange(length)[None, :]] = 1
    return x


@pytest.fixture(scope="module")
def jaspar():
    return load_motifs("jaspar:2024/CORE/vertebrates")


@pytest.fixture(scope="module")
def simulated(jaspar):
    """CTCF sites planted in 80% of N random sequences; log-odds contributions at the sites."""
    motif = jaspar[CTCF]
    sim = planted(motif.probs.T, N, L, fraction=0.8, gc=0.41, seed=0)
    hyp = np.random.default_rng(1).normal(0, 0.05, (N, 4, L)).astype(np.float32)
    log_odds = motif.log_odds(pseudocount=0.01)  # (W, 4)
    for i in np.flatnonzero(sim.label):
        site = log_odds if sim.strand[i] > 0 else log_odds[::-1, ::-1]
        hyp[i, :, sim.position[i]:sim.position[i] + motif.width] += 0.5 * site.T
    return sim, hyp, onehot_of(sim.codes), motif.width


@pytest.fixture(scope="module")
def found(simulated, jaspar) -> Discovery:
    _, hyp, oh, _ = simulated
    return discover(hyp, oh, database=jaspar, seed=0)


# ---------------------------------------------------------------- planted motif recovery


def test_recovers_planted_ctcf_with_significant_match(found, jaspar):
    assert found.database == jaspar.source
    assert len(found) >= 1
    best = found.patterns[0]
    assert best.name == "pos_0" and best.sign == "pos"
    top = best.best_match()
    assert top["target"] == CTCF and top["target_name"] == "CTCF"
    assert top["q_value"] < 0.05 and top["p_value"] <= top["q_value"]
    assert list(best.matches.columns) == MATCH_COLUMNS
    assert list(best.matches["rank"]) == [1, 2, 3]
    assert np.all(np.diff(best.matches["q_value"]) >= 0)
    assert CTCF in found.matched


def test_pattern_arrays_are_trimmed_and_consistent(found):
    p = found.patterns[0]
    assert p.probs.shape == p.contrib.shape == p.hypothetical.shape == (p.width, 4)
    np.testing.assert_allclose(p.probs.sum(axis=1), 1.0)
    score = np.abs(p.contrib).sum(axis=1)
    assert score[0] >= 0.3 * score.max() and score[-1] >= 0.3 * score.max()
    assert 8 <= p.width <= 25
    assert p.n_seqlets == len(p.seqlets) >= 100


def test_seqlets_sit_on_planted_sites_in_the_callers_order(found, simulated):
    sim, _, oh, width = simulated
    p = found.patterns[0]
    s = p.seqlets
    assert list(s.columns) == SEQLET_COLUMNS
    assert np.all(s["end"] - s["start"] == p.width)
    assert sim.label[s["sequence"]].all()
    site_start = sim.position[s["sequence"]]
    overlap = np.minimum(s["end"], site_start + width) - np.maximum(s["start"], site_start)
    assert np.mean(overlap >= 0.8 * p.width) > 0.95
    # the windows read on the seqlets' strands average to the pattern's probabilities
    windows = []
    for seq, start, end, strand in s.itertuples(index=False):
        window = oh[seq, :, start:end]
        windows.append(window[::-1, ::-1] if strand == "-" else window)
    np.testing.assert_allclose(np.mean(windows, axis=0).T, p.probs, atol=1e-6)


def test_same_seed_same_patterns_and_negative_sign(simulated, found):
    _, hyp, oh, _ = simulated
    again = discover(hyp, oh, n_matches=0, seed=0)
    assert [p.name for p in again.patterns] == [p.name for p in found.patterns]
    np.testing.assert_array_equal(again.patterns[0].probs, found.patterns[0].probs)
    assert again.patterns[0].seqlets.equals(found.patterns[0].seqlets)
    assert again.patterns[0].matches.empty and again.database == ""

    flipped = discover(-hyp, oh, n_matches=0, seed=0)
    assert flipped.patterns and all(p.sign == "neg" for p in flipped.patterns)
    assert flipped.patterns[0].name == "neg_0" and flipped.patterns[0].contrib.sum() < 0


# ---------------------------------------------------------------- outputs


def test_section_renders_patterns_and_matches(found):
    text = discovery_section(found)
    for word in ("pos_0", CTCF, "CTCF", "q-value", "p-value"):
        assert word in text
    assert text.count("<img") == 3 * len(found.patterns)
    assert text.count("<table>") == len(found.patterns)


def test_write_patterns_round_trips(found, tmp_path):
    path = write_patterns(found, tmp_path / "patterns.meme")
    back = read_meme(path)
    assert back.names == tuple(p.name for p in found.patterns)
    assert back["pos_0"].alt_name == "CTCF"
    assert back["pos_0"].nsites == found.patterns[0].n_seqlets
    np.testing.assert_allclose(back["pos_0"].probs, found.patterns[0].probs, atol=1e-7)
    assert not list(tmp_path.glob("*.tmp*"))


def test_no_patterns_is_an_empty_discovery(tmp_path):
    rng = np.random.default_rng(0)
    oh = onehot_of(rng.integers(0, 4, (50, 100)))
    empty = discover(rng.normal(0, 1, (50, 4, 100)), oh, n_matches=0)
    assert len(empty) == 0 and empty.matches.empty
    assert "no patterns" in discovery_section(empty)
    with pytest.raises(InputError, match="no patterns"):
        write_patterns(empty, tmp_path / "none.meme")


# ---------------------------------------------------------------- helpers


def test_bh_qvalues_match_scipy():
    p = np.random.default_rng(3).uniform(0, 0.2, 200) ** 2
    np.testing.assert_allclose(bh_qvalues(p), false_discovery_control(p, method="bh"))
    assert bh_qvalues([]).size == 0


def test_trim_bounds_keeps_columns_above_30_percent_of_max():
    contrib = np.zeros((8, 4))
    contrib[[1, 2, 3, 5, 6], 0] = [0.2, 1.0, -0.5, 0.05, 0.3]
    assert trim_bounds(contrib) == (2, 7)


# ---------------------------------------------------------------- input errors


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 4, 60)).astype(np.float32), onehot_of(rng.integers(0, 4, (20, 60)))


@pytest.mark.parametrize("change, message", [
    (lambda h, o: (h[:, :, :50], o), "same shape"),
    (lambda h, o: (h.transpose(0, 2, 1), o.transpose(0, 2, 1)), r"\(N, 4, L\)"),
    (lambda h, o: (h[:5], o[:5]), "at least 10 sequences"),
    (lambda h, o: (h[:, :, :25], o[:, :, :25]), "shorter than one seqlet"),
    (lambda h, o: (h, o * 2), "0s and 1s"),
    (lambda h, o: (np.where(np.arange(60) == 3, np.nan, h), o), "NaN"),
    (lambda h, o: (np.zeros_like(h), o), "is zero"),
])
def test_bad_inputs_raise_input_error(small, change, message):
    h, o = change(*small)
    with pytest.raises(InputError, match=message):
        discover(h, o, n_matches=0)


@pytest.mark.parametrize("kwargs", [{"window": 0}, {"flank": -1}, {"fdr": 1.5}, {"n_matches": -1},
                                    {"max_seqlets": 2.5}, {"leiden_runs": True}])
def test_bad_parameters_raise_input_error(small, kwargs):
    with pytest.raises(InputError):
        discover(*small, **kwargs)


def test_modisco_failure_on_degenerate_scores_is_an_input_error():
    oh = onehot_of(np.random.default_rng(0).integers(0, 4, (50, 100)))
    with pytest.raises(InputError, match="TF-MoDISco failed") as err:
        discover(np.ones_like(oh), oh, n_matches=0)
    assert err.value.hint
