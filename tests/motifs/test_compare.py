"""Tests for cisgram.motifs.compare: nearest database matches by TOMTOM (memelite)."""

from __future__ import annotations

import numpy as np
import pytest

from cisgram.errors import InputError
from cisgram.motifs.compare import COLUMNS, nearest_matches
from cisgram.motifs.pwm import Motif, MotifSet, read_meme

VERTEBRATES = "JASPAR2024_CORE_vertebrates_nonredundant.meme"

IUPAC = {"A": "A", "C": "C", "G": "G", "T": "T", "R": "AG", "Y": "CT", "S": "CG", "W": "AT",
         "K": "GT", "M": "AC", "N": "ACGT"}


def from_iupac(name: str, site: str, sharp: float = 0.85) -> Motif:
    """A motif from an IUPAC consensus: ``sharp`` shared by the allowed letters, the rest spread."""
    rows = []
    for ch in site:
        letters = IUPAC[ch]
        rest = (1 - sharp) / (4 - len(letters)) if len(letters) < 4 else 0.0
        row = np.full(4, rest)
        for b in letters:
            row["ACGT".index(b)] = (sharp if len(letters) < 4 else 1.0) / len(letters)
        rows.append(row)
    return Motif(name, name.lower(), np.array(rows))


@pytest.fixture(scope="module")
def toy() -> MotifSet:
    """Ten hand-made, dissimilar motifs (no shared data needed)."""
    sites = [("AP1", "TGASTCA"), ("CTCFLIKE", "CCGCGNGGNGGCAG"), ("EBOX", "CACGTG"), ("GATA", "WGATAR"),
             ("ETS", "CCGGAAGT"), ("TATA", "TATAWAWR"), ("SOX", "ACAAWGG"), ("FOX", "TGTTTAC"),
             ("NFKB", "GGGAATTTCC"), ("CEBP", "TTGCGCAA")]
    return MotifSet(from_iupac(n, s) for n, s in sites)


@pytest.fixture(scope="module")
def jaspar(motif_dir) -> MotifSet:
    return read_meme(motif_dir / VERTEBRATES)


def noisy_trimmed(m: Motif, seed: int, scale: float = 0.03) -> Motif:
    """``m`` without its first and last column, with Gaussian noise, renormalised."""
    rng = np.random.default_rng(seed)
    p = m.probs[1:-1] + rng.normal(0, scale, (m.width - 2, 4))
    p = np.clip(p, 1e-3, None)
    return Motif(f"{m.name}_noisy", m.alt_name, p / p.sum(axis=1, keepdims=True))


# ---------------------------------------------------------------- without shared data

def test_toy_set_matches_itself(toy):
    with pytest.warns(UserWarning, match="only 10 target motifs"):
        df = nearest_matches(toy, toy, n=2)
    assert list(df.columns) == COLUMNS
    assert len(df) == 2 * len(toy)
    assert list(df["query"]) == [name for name in toy.names for _ in range(2)]
    assert list(df["rank"]) == [1, 2] * len(toy)
    top = df[df["rank"] == 1]
    assert list(top["target"]) == list(toy.names)
    assert (top["offset"] == 0).all()
    assert list(top["overlap"]) == [m.width for m in toy]
    assert list(top["target_consensus"]) == [m.consensus for m in toy]
    assert list(top["target_name"]) == [m.alt_name for m in toy]
    # a non-palindromic motif matches itself on the + strand
    assert top.set_index("query").loc[["ETS", "NFKB", "FOX", "GATA", "TATA"], "strand"].eq("+").all()
    # ranks follow p-values; e-values are p times the number of targets
    second = df[df["rank"] == 2]
    assert (second["p_value"].to_numpy() >= top["p_value"].to_numpy()).all()
    np.testing.assert_allclose(df["e_value"], df["p_value"] * len(toy))
    assert df["strand"].isin(["+", "-"]).all()
    assert df["offset"].dtype == np.int64 and df["overlap"].dtype == np.int64


def test_toy_reverse_complement_and_offset(toy):
    queries = [Motif("ets_rc", "", toy["ETS"].reverse_complement().probs),
               Motif("nfkb_cut", "", toy["NFKB"].probs[2:8])]
    with pytest.warns(UserWarning, match="target motifs"):
        df = nearest_matches(queries, toy, n=1)
    rc, cut = df.iloc[0], df.iloc[1]
    assert (rc["query"], rc["target"], rc["strand"], rc["offset"], rc["overlap"]) == ("ets_rc", "ETS", "-", 0, 8)
    # target column j + offset is aligned with query column j
    assert (cut["target"], cut["strand"], cut["offset"], cut["overlap"]) == ("NFKB", "+", 2, 6)


def test_n_is_clipped_to_the_targets(toy):
    with pytest.warns(UserWarning):
        df = nearest_matches([toy["AP1"]], toy.subset(["AP1", "EBOX", "GATA"]), n=10)
    assert list(df["rank"]) == [1, 2, 3]
    assert sorted(df["target"]) == ["AP1", "EBOX", "GATA"]


def test_errors(toy):
    empty = MotifSet([])
    with pytest.raises(InputError, match="no query motifs"):
        nearest_matches(empty, toy)
    with pytest.raises(InputError, match="no target motifs"):
        nearest_matches(toy, [])
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InputError, match="n \\(matches per query\\)"):
            nearest_matches(toy, toy, n=bad)


# ---------------------------------------------------------------- JASPAR (shared data)

def test_jaspar_motif_matches_itself_first(jaspar):
    ctcf = jaspar["MA0139.2"]
    df = nearest_matches(MotifSet([ctcf]), jaspar, n=3)
    top = df.iloc[0]
    assert (top["target"], top["target_name"], top["strand"], top["offset"]) == ("MA0139.2", "CTCF", "+", 0)
    assert top["overlap"] == ctcf.width
    assert top["p_value"] < 1e-30
    assert top["e_value"] == pytest.approx(top["p_value"] * len(jaspar))
    assert df["p_value"].is_monotonic_increasing


def test_jaspar_reverse_complement_matches_on_minus(jaspar):
    ctcf = jaspar["MA0139.2"]
    top = nearest_matches([ctcf.reverse_complement()], jaspar, n=1).iloc[0]
    assert (top["target"], top["strand"], top["offset"], top["overlap"]) == ("MA0139.2", "-", 0, ctcf.width)
    assert top["p_value"] < 1e-30


@pytest.mark.parametrize("name", ["MA0139.2", "MA0138.3", "MA0106.3", "MA0112.4"])  # CTCF REST TP53 ESR1
def test_jaspar_noisy_trimmed_copy_ranks_original_first(jaspar, name):
    original = jaspar[name]
    top = nearest_matches([noisy_trimmed(original, seed=0)], jaspar, n=1).iloc[0]
    assert top["target"] == name
    assert top["strand"] == "+"
    assert top["offset"] == 1  # query column j is original column j + 1
    assert top["overlap"] == original.width - 2
    assert top["p_value"] < 1e-8
