"""Grammar simulations: every recorded site is where it says and reads as its motif, the label
follows the grammar, composites keep their order and spacing, and the files round-trip."""

import numpy as np
import pytest

from cisgram.data.simulate import GRAMMARS, Grammar, read_simulation, simulate, write_simulation
from cisgram.motifs.pvalues import log_odds_matrices
from cisgram.motifs.pwm import Motif


def _motif(name: str, consensus: str) -> Motif:
    from cisgram.data.simulate import consensus_probs

    return Motif(name, name.lower(), consensus_probs(consensus, 0.97).T)


MOTIFS = {"E": _motif("E", "CAGCTGCC"), "G": _motif("G", "AGATAAG"), "D": _motif("D", "CCCGCCCCT")}
COMPOSITE = Grammar("composite", ("E", "G"), gap=(7, 9), partial=0.5, decoys=("D",), decoy_rate=0.5)


@pytest.fixture(scope="module")
def sim():
    return simulate(COMPOSITE, MOTIFS, n=600, length=200, seed=3)


def _site_scores(sim, rows) -> np.ndarray:
    """Log-odds of each recorded site, read from the sequence on its recorded strand."""
    out = []
    for r in rows.itertuples():
        lo = log_odds_matrices([MOTIFS[r.motif]])[0]  # (W, 4)
        seq = sim.codes[r.seq, r.start:r.end]
        if r.strand == "-":
            seq = 3 - seq[::-1]
        out.append(lo[np.arange(seq.size), seq].sum() / lo.max(1).sum())
    return np.array(out)


def test_every_recorded_site_reads_as_its_motif(sim):
    frac = _site_scores(sim, sim.sites)  # fraction of the motif's best score
    assert np.mean(frac > 0.5) > 0.95 and np.median(frac) > 0.9  # near-consensus sites where the table says
    off = sim.sites.assign(start=(sim.sites["start"] + 40) % 150)
    off["end"] = off["start"] + (sim.sites["end"] - sim.sites["start"])
    assert np.median(_site_scores(sim, off)) < 0.2  # elsewhere the same motifs do not read


def test_labels_follow_the_grammar(sim):
    s = sim.sites
    for i in range(len(sim.label)):
        mine = s[s["seq"] == i]
        req = set(mine.loc[mine["role"] == "required", "motif"])
        part = set(mine.loc[mine["role"] == "partial", "motif"])
        if sim.label[i]:
            assert req == {"E", "G"} and not part
        else:
            assert not req and part != {"E", "G"}  # a negative never carries the whole grammar
    neg = np.flatnonzero(sim.label == 0)
    with_partial = np.isin(neg, s.loc[s["role"] == "partial", "seq"]).mean()
    assert 0.4 < with_partial < 0.6
    for label in (0, 1):  # decoys say nothing about the label
        rows = np.flatnonzero(sim.label == label)
        assert 0.4 < np.isin(rows, s.loc[s["role"] == "decoy", "seq"]).mean() < 0.6


def test_composites_keep_order_and_spacing_on_either_strand(sim):
    req = sim.sites[sim.sites["role"] == "required"]
    strands = set()
    for _, g in req.groupby("seq"):
        e, gg = g[g["motif"] == "E"].iloc[0], g[g["motif"] == "G"].iloc[0]
        assert e["strand"] == gg["strand"]
        strands.add(e["strand"])
        gap = gg["start"] - e["end"] if e["strand"] == "+" else e["start"] - gg["end"]
        assert 7 <= gap <= 9
    assert strands == {"+", "-"}


def test_sites_never_overlap_and_truth_marks_required_bases(sim):
    cover = np.zeros(sim.codes.shape, dtype=int)
    for r in sim.sites.itertuples():
        cover[r.seq, r.start:r.end] += 1
    assert cover.max() == 1
    truth = sim.truth()
    assert not truth[sim.label == 0].any()
    assert truth.sum() == (sim.sites.loc[sim.sites["role"] == "required", ["start", "end"]].diff(axis=1)["end"]).sum()


def test_same_seed_same_simulation_and_files_round_trip(sim, tmp_path):
    again = simulate(COMPOSITE, MOTIFS, n=600, length=200, seed=3)
    assert np.array_equal(again.codes, sim.codes) and again.sites.equals(sim.sites)
    back = read_simulation(write_simulation(sim, tmp_path / "s"))
    assert np.array_equal(back.codes, sim.codes) and np.array_equal(back.label, sim.label)
    assert back.sites.equals(sim.sites) and back.grammar == sim.grammar
    assert list(back.split) == list(sim.split) and set(sim.split) == {"train", "val", "test"}
    assert np.allclose(back.motifs["E"].probs, MOTIFS["E"].probs, atol=1e-6)


def test_bad_grammars_and_missing_motifs_are_refused():
    with pytest.raises(ValueError, match="at least two"):
        Grammar("x", ("E",), partial=0.5)
    with pytest.raises(ValueError, match="no matrix"):
        simulate(COMPOSITE, {"E": MOTIFS["E"]}, n=10)
    with pytest.raises(ValueError, match="do not fit"):
        simulate(COMPOSITE, MOTIFS, n=10, length=20)


def test_built_in_grammars_resolve_from_jaspar():
    from cisgram.data.simulate import grammar_motifs

    ms = grammar_motifs(GRAMMARS["gata_tal1"])
    assert {m.alt_name for m in ms.values()} == {"GATA1", "TAL1::TCF3", "CTCF"}
