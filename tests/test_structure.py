"""Predicted structures (cisgram.structure): pLDDT segments of TP53's AlphaFold model, pDockQ on a
hand-built two-chain PDB against a hand computation, the three-chain multimer's pair scores and
PAE, and the one-line errors."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest

from cisgram.errors import InputError
from cisgram.structure import (
    chain_pair_scores,
    pdockq,
    pdockq_score,
    read_pae,
    read_structure,
    segments,
    structure_segments,
)

TP53 = "structures/AF-P04637-F1-model_v4.pdb"
MULTIMER = "structures/5b8c_multimer_model_4.pdb"
MULTIMER_PAE = "structures/5b8c_multimer_model_4.scores.json.gz"


def atom_line(serial, name, resname, chain, resnum, xyz, b, element="C", *, bfactor=True):
    """One fixed-column PDB ATOM record (B-factor column left out when ``bfactor`` is False)."""
    line = (f"ATOM  {serial:5d} {(' ' + name).ljust(4)} {resname:3s} {chain}{resnum:4d}    "
            f"{xyz[0]:8.3f}{xyz[1]:8.3f}{xyz[2]:8.3f}{1.0:6.2f}")
    return line + (f"{b:6.2f}          {element:>2s}" if bfactor else "")


# The toy complex: (chain, number, residue, CB or, for glycine, CA position, pLDDT). Each alanine's CA
# sits 1.5 Å off its CB in x, away from the other chain's atoms, except B6's (see below).
TOY = [("A", 1, "ALA", (0, 0, 0), 90), ("A", 2, "GLY", (0, 0, 20), 80), ("A", 3, "ALA", (0, 0, 40), 70),
       ("B", 1, "ALA", (5, 0, 0), 60), ("B", 2, "ALA", (0, 7, 0), 50), ("B", 3, "GLY", (0, 0, 27), 40),
       ("B", 4, "ALA", (0, 0, 31), 95), ("B", 5, "ALA", (0, 0, 48), 30), ("B", 6, "ALA", (20, 0, 40), 99)]


def toy_pdb(path, *, bfactor=True, scale=1.0):
    lines, serial = [], 1
    for chain, num, res, pos, b in TOY:
        pos = np.array(pos, dtype=float)
        # B6's CA is 3 Å from A3's CB although its CB is 20 Å away: contacts must be measured on CB
        ca = pos if res == "GLY" else (np.array([3.0, 0, 40]) if (chain, num) == ("B", 6) else pos + [-1.5, 0, 0])
        lines.append(atom_line(serial, "CA", res, chain, num, ca, b * scale, bfactor=bfactor))
        serial += 1
        if res != "GLY":  # the CB's B-factor differs from the CA's: pLDDT is read from the CA
            lines.append(atom_line(serial, "CB", res, chain, num, pos, 0.0 if num == 1 else b * scale, bfactor=bfactor))
            serial += 1
    path.write_text("\n".join([*lines, "END", ""]))
    return path


# --------------------------------------------------------------------------------------------- segments


def test_tp53_segments_are_its_two_domains(shared):
    s = read_structure(shared / TP53)
    assert s.ids == ["A"] and len(s.chains[0]) == 393
    assert s.chains[0].sequence.startswith("MEEPQSDPSVEPPLSQETFSDLWKLL")
    seg = structure_segments(s)
    folded = seg[seg["kind"] == "folded"][["start", "end"]].to_numpy()
    assert folded.shape == (2, 2)
    (dbd_start, dbd_end), (tet_start, tet_end) = folded
    assert abs(dbd_start - 96) <= 3 and abs(dbd_end - 292) <= 3  # DNA-binding domain
    assert abs(tet_start - 324) <= 3 and abs(tet_end - 355) <= 3  # tetramerisation domain
    first = seg.iloc[0]
    assert first["kind"] == "disordered" and first["start"] == 1 and first["end"] >= 89  # N-terminal TAD
    assert list(seg["kind"]) == ["disordered", "folded", "disordered", "folded", "disordered"]
    assert seg["length"].sum() == 393 and (seg["end"] - seg["start"] + 1 == seg["length"]).all()
    assert seg.loc[seg["kind"] == "folded", "mean_plddt"].min() > 90
    assert seg.loc[seg["kind"] == "disordered", "mean_plddt"].max() < 50
    # without the minimum length, the raw threshold splits the DNA-binding domain at its dip (183-186)
    raw = segments(s.chains[0].plddt, s.chains[0].residues, min_length=1)
    assert (raw["kind"] == "folded").sum() == 4


def test_segments_merge_short_runs_only():
    plddt = np.r_[np.full(20, 40.0), np.full(3, 80.0), np.full(30, 40.0),  # a 3-residue blip in disorder
                  np.full(25, 90.0), np.full(4, 60.0), np.full(25, 90.0),  # a 4-residue dip in a domain
                  np.full(12, 30.0)]
    res = np.arange(101, 101 + plddt.size)
    seg = segments(plddt, res, chain="X")
    assert seg[["start", "end", "kind", "length"]].values.tolist() == [
        [101, 153, "disordered", 53], [154, 207, "folded", 54], [208, 219, "disordered", 12]]
    assert seg["chain"].eq("X").all()
    assert seg["mean_plddt"].iloc[1] == pytest.approx((50 * 90 + 4 * 60) / 54)
    assert len(segments(plddt, res, min_length=1)) == 7
    assert segments(np.full(5, 95.0), np.arange(1, 6))["kind"].tolist() == ["folded"]  # short chain: one segment
    with pytest.raises(InputError, match="one length"):
        segments(plddt, res[:-1])


# --------------------------------------------------------------------------------------------- pDockQ


def test_pdockq_equals_hand_computation(tmp_path):
    s = read_structure(toy_pdb(tmp_path / "toy.pdb"))
    assert s.ids == ["A", "B"] and [len(c) for c in s.chains] == [3, 6]
    assert s.chains[0].plddt.tolist() == [90, 80, 70]  # from the CA, not the CB written 0.0
    assert s.chains[1].sequence == "AAGAAA"
    # CB-CB (CA for glycine) pairs within 8 Å, inclusive:
    #   A1 (0,0,0)  - B1 (5,0,0)   5 Å
    #   A1 (0,0,0)  - B2 (0,7,0)   7 Å
    #   A2 (0,0,20) - B3 (0,0,27)  7 Å (two glycines: CA-CA)
    #   A3 (0,0,40) - B5 (0,0,48)  8 Å exactly
    # not: A2-B4 11 Å, A3-B4 9 Å, A3-B6 20 Å (B6's CA is 3 Å from A3 but its CB is not)
    contacts = 4
    interface_plddt = [90, 80, 70] + [60, 50, 40, 30]  # A1 A2 A3; B1 B2 B3 B5
    mean = sum(interface_plddt) / 7  # 60.0
    x = mean * math.log10(contacts)  # 36.12
    expected = 0.724 / (1 + math.exp(-0.052 * (x - 152.611))) + 0.018
    got = pdockq(s, "A", "B")
    assert got["n_contacts"] == contacts and got["interface_a"] == 3 and got["interface_b"] == 4
    assert got["mean_interface_plddt"] == pytest.approx(60.0)
    assert got["x"] == pytest.approx(x)
    assert got["pdockq"] == pytest.approx(expected, abs=1e-12)
    assert got["pdockq"] == pytest.approx(0.01969, abs=1e-5)
    # the cutoff is inclusive: just under 8 Å loses the A3-B5 contact
    assert pdockq(s, "A", "B", cutoff=7.999)["n_contacts"] == 3
    table = chain_pair_scores(s)
    assert table[["chain_a", "chain_b", "n_contacts"]].values.tolist() == [["A", "B", 4]]
    assert "min_pae" not in table.columns


def test_pdockq_without_contacts_is_zero(tmp_path):
    s = read_structure(toy_pdb(tmp_path / "toy.pdb"))
    got = pdockq(s, "A", "B", cutoff=4.0)
    assert got["n_contacts"] == 0 and got["pdockq"] == 0.0 and math.isnan(got["mean_interface_plddt"])
    assert pdockq_score(95.0, 1) == pytest.approx(0.724 / (1 + math.exp(0.052 * 152.611)) + 0.018)  # x = 0


def test_mmcif_gzip_and_fraction_plddt_read_alike(tmp_path):
    from Bio.PDB import MMCIFIO, PDBParser

    pdb = toy_pdb(tmp_path / "toy.pdb")
    io = MMCIFIO()
    io.set_structure(PDBParser(QUIET=True).get_structure("toy", pdb))
    io.save(str(tmp_path / "toy.cif"))
    with open(tmp_path / "toy.cif", "rb") as src, gzip.open(tmp_path / "toy.cif.gz", "wb") as dst:
        dst.write(src.read())
    ref = pdockq(read_structure(pdb), "A", "B")
    for path in (tmp_path / "toy.cif", tmp_path / "toy.cif.gz"):
        assert pdockq(read_structure(path), "A", "B") == ref
    frac = read_structure(toy_pdb(tmp_path / "frac.pdb", scale=0.01))  # ESMFold's 0-1 pLDDT
    assert frac.chains[0].plddt == pytest.approx([90, 80, 70])


# --------------------------------------------------------------------------------------------- multimer + PAE


def test_multimer_pairs_and_pae(shared):
    s = read_structure(shared / MULTIMER)
    assert [(c.id, len(c)) for c in s.chains] == [("A", 139), ("B", 120), ("C", 111)]
    assert s.starts == [0, 139, 259]
    pae = read_pae(shared / MULTIMER_PAE, s)
    assert pae.matrix.shape == (370, 370) and pae.ptm == 0.88 and pae.iptm == 0.84
    table = chain_pair_scores(s, pae)
    assert [tuple(r) for r in table[["chain_a", "chain_b"]].values] == [("A", "B"), ("A", "C"), ("B", "C")]
    assert ((table["pdockq"] > 0) & (table["pdockq"] < 1)).all() and (table["n_contacts"] > 0).all()
    # the heavy-light chain pair (B-C) is the tightest interface
    assert table.set_index(["chain_a", "chain_b"])["pdockq"].idxmax() == ("B", "C")
    with gzip.open(shared / MULTIMER_PAE, "rt") as fh:
        raw = np.array(json.load(fh)["pae"])
    a_rows, b_rows = slice(0, 139), slice(139, 259)
    ab = raw[a_rows, b_rows]  # aligned on A, scored on B
    ba = raw[b_rows, a_rows]
    row = table.iloc[0]
    assert row["min_pae_ab"] == ab.min() == 1.49
    assert row["min_pae_ba"] == ba.min() == 0.98
    assert row["min_pae"] == min(ab.min(), ba.min())
    assert row["mean_pae"] == pytest.approx((ab.sum() + ba.sum()) / (2 * 139 * 120))
    assert set(table["iptm"]) == {0.84}


def test_read_pae_alphafold_db_list_form(tmp_path):
    s = read_structure(toy_pdb(tmp_path / "toy.pdb"))
    m = np.arange(81, dtype=float).reshape(9, 9) / 10
    path = tmp_path / "pae.json.gz"
    with gzip.open(path, "wt") as fh:
        json.dump([{"predicted_aligned_error": m.tolist(), "max_predicted_aligned_error": 31.75}], fh)
    pae = read_pae(path, s)
    assert np.array_equal(pae.matrix, m) and pae.ptm is None
    row = chain_pair_scores(s, pae).iloc[0]
    assert row["min_pae_ab"] == m[:3, 3:].min() == 0.3 and row["min_pae_ba"] == m[3:, :3].min() == 2.7
    assert "iptm" not in chain_pair_scores(s, pae).columns


# --------------------------------------------------------------------------------------------- errors


def test_pdb_without_bfactors_is_refused(tmp_path):
    for name, kwargs in (("blank.pdb", {"bfactor": False}), ("zero.pdb", {"scale": 0.0})):
        path = toy_pdb(tmp_path / name, **kwargs)
        with pytest.raises(InputError, match="no pLDDT") as e:
            read_structure(path)
        assert str(path) in str(e.value)


def test_pae_of_another_size_is_refused(tmp_path):
    s = read_structure(toy_pdb(tmp_path / "toy.pdb"))
    path = tmp_path / "pae.json"
    path.write_text(json.dumps({"pae": np.zeros((5, 5)).tolist()}))
    with pytest.raises(InputError) as e:
        read_pae(path, s)
    msg = str(e.value)
    assert str(path) in msg and "5 x 5" in msg and "9 residues (A 3 + B 6)" in msg
    path.write_text(json.dumps({"plddt": [1, 2]}))
    with pytest.raises(InputError, match="no PAE"):
        read_pae(path, s)


def test_missing_chain_is_named_with_those_present(tmp_path):
    path = toy_pdb(tmp_path / "toy.pdb")
    s = read_structure(path)
    with pytest.raises(InputError) as e:
        pdockq(s, "A", "Z")
    msg = str(e.value)
    assert str(path) in msg and "'Z'" in msg and "A, B" in msg


def test_unreadable_files_are_refused(tmp_path):
    binary = tmp_path / "model.pdb"
    binary.write_bytes(bytes(range(256)) * 4)
    text = tmp_path / "notes.pdb"
    text.write_text("this is not a structure\n")
    cif = tmp_path / "broken.cif"
    cif.write_text("data_x\n_atom_site.id 1\n")
    for path in (binary, text, cif, tmp_path / "absent.pdb"):
        with pytest.raises(InputError) as e:
            read_structure(path)
        assert str(e.value).splitlines()[0].startswith(f"{path}: ")  # one line naming the file
