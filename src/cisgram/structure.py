"""Predicted protein structures: pLDDT segments of a chain and interface scores of a complex.

The structural check of TF pairs in the GET paper (spec §4.7, proscope): split each protein into
folded (high pLDDT) and disordered (low pLDDT) segments of its AlphaFold DB model, and score an
AlphaFold2-multimer model of a pair by pDockQ (Bryant et al. 2022) and its minimum inter-chain
predicted aligned error (PAE).

- :func:`read_structure` reads a PDB or mmCIF model (plain or gzip) with Biopython into a
  :class:`Structure`: per chain the residue numbers, one-letter sequence, per-residue pLDDT and
  the CB coordinates (CA for glycine) that pDockQ measures contacts between.
- :func:`segments` cuts one chain into folded and disordered segments.
- :func:`read_pae` reads an AlphaFold / ColabFold PAE JSON, checked against the structure.
- :func:`pdockq` scores one pair of chains; :func:`chain_pair_scores` every pair, with PAE.

Conventions: residues are kept in file order, chains in file order, only the first model of a
file is read. The PAE matrix's rows and columns follow that order (chain after chain), as
AlphaFold writes them.
"""

from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.errors import InputError, few
from cisgram.files import open_text, require_file

PLDDT_THRESHOLD = 70.0  # AlphaFold's "confident" boundary: folded at or above it
MIN_SEGMENT = 10  # residues: a shorter run of either kind is absorbed by its neighbours
CONTACT_CUTOFF = 8.0  # Å between CB atoms (CA for glycine): pDockQ's interface definition
SEGMENT_COLUMNS = ["chain", "start", "end", "kind", "length", "mean_plddt"]
PAIR_COLUMNS = ["chain_a", "chain_b", "n_contacts", "interface_a", "interface_b", "mean_interface_plddt",
                "pdockq"]
PAE_COLUMNS = ["min_pae", "mean_pae", "min_pae_ab", "min_pae_ba"]


@dataclass(frozen=True)
class Chain:
    """One protein chain of a model.

    Attributes
    ----------
    id
        The chain identifier (``"A"``).
    residues
        Residue numbers as written in the file, int64 ``(n,)``, in file order.
    sequence
        One-letter sequence, ``n`` letters (``X`` for an unknown residue).
    plddt
        Per-residue pLDDT on the 0-100 scale, float64 ``(n,)``: the B-factor of the residue's CA.
    coords
        The atom pDockQ measures contacts between, float64 ``(n, 3)`` in Å: CB, or CA for glycine
        and for a residue whose CB is missing.
    """

    id: str
    residues: np.ndarray
    sequence: str
    plddt: np.ndarray
    coords: np.ndarray

    def __len__(self) -> int:
        return int(self.residues.size)


@dataclass(frozen=True)
class Structure:
    """A model read by :func:`read_structure`: its file and its protein chains in file order."""

    path: Path
    chains: tuple[Chain, ...]

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.chains]

    @property
    def n_residues(self) -> int:
        return sum(len(c) for c in self.chains)

    @property
    def starts(self) -> list[int]:
        """0-based index of each chain's first residue in the chain-after-chain order (of a PAE)."""
        return [int(x) for x in np.cumsum([0] + [len(c) for c in self.chains[:-1]])]

    def chain(self, chain_id: str) -> Chain:
        """The chain ``chain_id``; :class:`InputError` naming the chains the file has otherwise."""
        for c in self.chains:
            if c.id == chain_id:
                return c
        raise InputError(f"no chain {chain_id!r}; the file has chain(s) {few(self.ids, 20, sort=False)}",
                         path=self.path)


@dataclass(frozen=True)
class PAE:
    """A predicted aligned error matrix and the global scores of its JSON.

    Attributes
    ----------
    path
        The JSON file.
    matrix
        float64 ``(N, N)`` in Å, ``N`` the structure's residue count: ``matrix[i, j]`` is the
        expected error at residue ``j`` when the model is aligned on residue ``i`` (AlphaFold's
        convention); rows and columns chain after chain in file order.
    ptm, iptm
        The JSON's pTM and ipTM, None when absent.
    """

    path: Path
    matrix: np.ndarray
    ptm: float | None = None
    iptm: float | None = None


# ------------------------------------------------------------------------------------ reading


def _parse(path: Path):
    """The Biopython structure of a PDB or mmCIF file (mmCIF when its first data line starts with
    ``data_``), plain or gzip."""
    from Bio.PDB import MMCIFParser, PDBParser

    try:
        with open_text(path) as fh:
            text = fh.read()
    except (UnicodeDecodeError, OSError, EOFError) as e:
        raise InputError(f"cannot read the structure ({e.__class__.__name__}: {e})", path=path,
                         hint="give a PDB or mmCIF file, plain or gzip") from None
    first = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    parser = MMCIFParser(QUIET=True) if first.startswith("data_") else PDBParser(QUIET=True)
    try:
        return parser.get_structure(path.name, io.StringIO(text))
    except Exception as e:  # Biopython raises ValueError, KeyError, IndexError ... on broken files
        raise InputError(f"cannot parse the structure ({e.__class__.__name__}: {e})", path=path,
                         hint="give a PDB or mmCIF file, plain or gzip") from None


def read_structure(path: str | os.PathLike) -> Structure:
    """Read the protein chains of a predicted structure (PDB or mmCIF, plain or gzip).

    Only the first model is read; a residue is kept when it is a standard (ATOM) residue with a CA
    atom, so waters, ligands and nucleic acids are left out. The pLDDT of a residue is the
    B-factor of its CA (AlphaFold writes the same value on every atom of a residue). B-factors all
    within [0, 1] are read as pLDDT fractions (ESMFold writes them so) and multiplied by 100.

    Parameters
    ----------
    path
        ``.pdb``, ``.cif`` / ``.mmcif``, optionally gzip-compressed (detected from its bytes; the
        format from its first line: ``data_`` is mmCIF).

    Returns
    -------
    Structure
        Chains in file order, each with residue numbers ``(n,)``, sequence, pLDDT ``(n,)`` and
        CB (CA for glycine) coordinates ``(n, 3)``.

    Raises
    ------
    InputError
        An unreadable file, no protein residue, or no B-factors (all 0 or missing, so no pLDDT: an
        AlphaFold model is expected). Experimental B-factors cannot be told from pLDDT: give models.
    """
    from Bio.SeqUtils import seq1

    p = require_file(path, "structure")
    parsed = _parse(p)
    models = list(parsed)
    if not models:
        raise InputError("no atoms: not a PDB or mmCIF structure", path=p)
    chains = []
    for ch in models[0]:
        rows = [r for r in ch if r.id[0] == " " and "CA" in r]
        if not rows:
            continue
        ca = [r["CA"] for r in rows]
        cb = [r["CB"] if r.get_resname() != "GLY" and "CB" in r else a for r, a in zip(rows, ca, strict=True)]
        chains.append(Chain(id=str(ch.id), residues=np.array([r.id[1] for r in rows], dtype=np.int64),
                            sequence="".join(seq1(r.get_resname()) or "X" for r in rows),
                            plddt=np.array([a.get_bfactor() for a in ca], dtype=np.float64),
                            coords=np.array([a.get_coord() for a in cb], dtype=np.float64)))
    if not chains:
        raise InputError("no protein residue (no ATOM record with a CA atom)", path=p)
    b = np.concatenate([c.plddt for c in chains])
    if not np.isfinite(b).all() or not np.any(b != 0):
        raise InputError("no pLDDT: every B-factor is 0 or missing", path=p,
                         hint="give an AlphaFold (or ColabFold, ESMFold) model, which writes pLDDT as B-factors")
    if b.min() < 0 or b.max() > 100:
        raise InputError(f"B-factors from {b.min():g} to {b.max():g} are not pLDDT (0-100)", path=p,
                         hint="give a predicted model: an experimental structure's B-factors are not pLDDT")
    if b.max() <= 1.0:
        chains = [Chain(c.id, c.residues, c.sequence, c.plddt * 100.0, c.coords) for c in chains]
    return Structure(path=p, chains=tuple(chains))


def _pae_matrix(obj, path: Path):
    """``(matrix, ptm, iptm)`` from a parsed PAE JSON in any of its three layouts."""
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        obj = obj[0]  # AlphaFold DB: [{"predicted_aligned_error": ..., "max_predicted_aligned_error": ...}]
    if not isinstance(obj, dict):
        raise InputError("not a PAE JSON: expected an object with 'pae' or 'predicted_aligned_error'", path=path)
    if "pae" in obj or "predicted_aligned_error" in obj:
        raw = obj.get("pae", obj.get("predicted_aligned_error"))
    elif {"residue1", "residue2", "distance"} <= obj.keys():  # AlphaFold DB v1: flat rows
        n = int(max(obj["residue1"], default=0))
        raw = np.reshape(np.asarray(obj["distance"], dtype=np.float64), (n, n)) if n * n == len(obj["distance"]) else None
    else:
        raise InputError(f"no PAE in the JSON: keys {few(obj.keys(), 8)}", path=path,
                         hint="expected 'pae' (ColabFold) or 'predicted_aligned_error' (AlphaFold)")
    try:
        m = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        m = np.empty(0)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.size == 0:
        raise InputError(f"the PAE is not a square matrix (shape {getattr(m, 'shape', None)})", path=path)
    if not np.isfinite(m).all() or m.min() < 0:
        raise InputError("the PAE holds negative, NaN or infinite values", path=path)
    scores = [obj.get(k) for k in ("ptm", "iptm")]
    return m, *(None if s is None else float(s) for s in scores)


def read_pae(path: str | os.PathLike, chains) -> PAE:
    """Read the predicted aligned error of a model and check it against the model's chains.

    Parameters
    ----------
    path
        AlphaFold / ColabFold JSON (plain or gzip): an object with ``pae`` (ColabFold) or
        ``predicted_aligned_error`` (AlphaFold), AlphaFold DB's list ``[{"predicted_aligned_error":
        ...}]``, or its older flat ``residue1`` / ``residue2`` / ``distance`` rows. ``ptm`` and
        ``iptm`` are kept when present.
    chains
        The :class:`Structure` the PAE belongs to (or its chains): the matrix must be ``(N, N)``
        with ``N`` their total residue count.

    Returns
    -------
    PAE
        The ``(N, N)`` matrix in Å (row: aligned residue, column: scored residue), pTM and ipTM.

    Raises
    ------
    InputError
        An unreadable file, no PAE in it, or a size other than the chains' (both sizes are named).
    """
    p = require_file(path, "PAE file")
    try:
        with open_text(p) as fh:
            obj = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError, OSError, EOFError) as e:
        raise InputError(f"cannot read the PAE JSON ({e.__class__.__name__}: {e})", path=p) from None
    matrix, ptm, iptm = _pae_matrix(obj, p)
    chs = list(chains.chains if isinstance(chains, Structure) else chains)
    n = sum(len(c) for c in chs)
    if matrix.shape[0] != n:
        parts = " + ".join(f"{c.id} {len(c)}" for c in chs)
        raise InputError(f"the PAE is {matrix.shape[0]} x {matrix.shape[1]} but the structure's chains hold "
                         f"{n} residues ({parts})", path=p, hint="give the PAE JSON of this very model")
    return PAE(path=p, matrix=matrix, ptm=ptm, iptm=iptm)


# ------------------------------------------------------------------------------------ segments


def _runs(mask: np.ndarray) -> list[list]:
    """``[[start, end, value]]`` (0-based, end exclusive) of the runs of equal values of ``mask``."""
    cuts = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    edges = [0, *cuts.tolist(), mask.size]
    return [[a, b, bool(mask[a])] for a, b in zip(edges[:-1], edges[1:], strict=True)]


def segments(plddt, residues, *, threshold: float = PLDDT_THRESHOLD, min_length: int = MIN_SEGMENT,
             chain: str = "") -> pd.DataFrame:
    """Cut one chain into folded and disordered segments by pLDDT.

    The rule: a residue is folded when its pLDDT is at least ``threshold`` (AlphaFold's confident
    boundary, 70), disordered otherwise. Then, while some run of equal kind is shorter than
    ``min_length`` residues, the shortest such run (the first of equal ones) takes the kind of its
    neighbours and merges with them; this repeats until every segment is at least ``min_length``
    long or the chain is one segment. A dip of a few residues inside a domain (TP53's 183-186
    at pLDDT 69) therefore does not split it, and a short confident blip in a disordered tail
    (TP53's 24-25) is not a domain. With the defaults TP53 (AF-P04637-F1) gives folded 96-292 and
    324-355, disordered 1-95, 293-323 and 356-393.

    Parameters
    ----------
    plddt
        Per-residue pLDDT (0-100), ``(n,)``, in chain order.
    residues
        The residue numbers, ``(n,)``, same order.
    threshold
        pLDDT at or above which a residue is folded.
    min_length
        Shortest segment kept, in residues (1 keeps the raw threshold runs).
    chain
        Chain identifier written in the ``chain`` column.

    Returns
    -------
    pandas.DataFrame
        One row per segment in chain order: ``chain``, ``start`` and ``end`` (residue numbers,
        both inclusive), ``kind`` (``folded`` | ``disordered``), ``length`` (residues in the
        segment, which is ``end - start + 1`` when the numbering has no gap) and ``mean_plddt``.
    """
    p = np.asarray(plddt, dtype=np.float64)
    r = np.asarray(residues)
    if p.ndim != 1 or p.shape != r.shape or p.size == 0:
        raise InputError(f"pLDDT and residue numbers must be two non-empty (n,) arrays of one length, got shapes "
                         f"{p.shape} and {r.shape}")
    if min_length < 1:
        raise InputError(f"the minimum segment length must be at least 1 residue, got {min_length}")
    runs = _runs(p >= threshold)
    while len(runs) > 1:
        lengths = [b - a for a, b, _ in runs]
        i = int(np.argmin(lengths))
        if lengths[i] >= min_length:
            break
        runs[i][2] = not runs[i][2]
        merged: list[list] = []
        for run in runs:
            if merged and merged[-1][2] == run[2]:
                merged[-1][1] = run[1]
            else:
                merged.append(list(run))
        runs = merged
    return pd.DataFrame([{"chain": chain, "start": int(r[a]), "end": int(r[b - 1]),
                          "kind": "folded" if folded else "disordered", "length": b - a,
                          "mean_plddt": float(p[a:b].mean())} for a, b, folded in runs], columns=SEGMENT_COLUMNS)


def structure_segments(structure: Structure, *, threshold: float = PLDDT_THRESHOLD,
                       min_length: int = MIN_SEGMENT) -> pd.DataFrame:
    """:func:`segments` of every chain of ``structure``, chain after chain, in one table."""
    return pd.concat([segments(c.plddt, c.residues, threshold=threshold, min_length=min_length, chain=c.id)
                      for c in structure.chains], ignore_index=True)


# ------------------------------------------------------------------------------------ interfaces


def pdockq_score(mean_interface_plddt: float, n_contacts: int) -> float:
    """pDockQ from its two inputs: ``0.724 / (1 + exp(-0.052 (x - 152.611))) + 0.018`` with
    ``x = mean_interface_plddt * log10(n_contacts)`` (Bryant et al. 2022); 0.0 without contacts,
    as their ``pdockq.py`` gives (the formula's floor, one contact at x = 0, is 0.0183)."""
    if n_contacts < 1:
        return 0.0
    x = mean_interface_plddt * math.log10(n_contacts)
    return 0.724 / (1.0 + math.exp(-0.052 * (x - 152.611))) + 0.018


def _contacts(a: Chain, b: Chain, cutoff: float) -> np.ndarray:
    """``(k, 2)`` index pairs (residue of ``a``, residue of ``b``) within ``cutoff`` Å."""
    from scipy.spatial import cKDTree

    near = cKDTree(a.coords).query_ball_tree(cKDTree(b.coords), r=cutoff)
    pairs = [(i, j) for i, js in enumerate(near) for j in js]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def pdockq(structure: Structure, a: str, b: str, *, cutoff: float = CONTACT_CUTOFF) -> dict:
    """pDockQ of chains ``a`` and ``b`` of a model (Bryant et al. 2022, Nat. Commun. 13:1265).

    A contact is a residue pair, one of each chain, whose CB atoms (CA for glycine) are within
    ``cutoff`` (8 Å, inclusive); the interface residues of a chain are those in at least one
    contact. ``x = mean pLDDT of the interface residues of both chains * log10(contacts)`` and
    ``pDockQ = 0.724 / (1 + exp(-0.052 (x - 152.611))) + 0.018`` (:func:`pdockq_score`). Without
    any contact pDockQ is 0.0 and the mean interface pLDDT NaN, as in the authors' ``pdockq.py``.

    Returns
    -------
    dict
        ``chain_a``, ``chain_b``, ``n_contacts`` (residue pairs), ``interface_a`` and
        ``interface_b`` (interface residues per chain), ``mean_interface_plddt``, ``x`` and
        ``pdockq`` (in [0.018, 0.742], or 0.0 without contacts).

    Raises
    ------
    InputError
        A chain the file lacks (the message lists the chains it has).
    """
    ca, cb = structure.chain(a), structure.chain(b)
    pairs = _contacts(ca, cb, cutoff)
    ia, ib = np.unique(pairs[:, 0]), np.unique(pairs[:, 1])
    k = int(pairs.shape[0])
    mean = float(np.concatenate([ca.plddt[ia], cb.plddt[ib]]).mean()) if k else float("nan")
    return {"chain_a": a, "chain_b": b, "n_contacts": k, "interface_a": int(ia.size), "interface_b": int(ib.size),
            "mean_interface_plddt": mean, "x": mean * math.log10(k) if k else float("nan"),
            "pdockq": pdockq_score(mean, k)}


def chain_pair_scores(structure: Structure, pae: PAE | None = None, *, cutoff: float = CONTACT_CUTOFF) -> pd.DataFrame:
    """Interface scores of every unordered pair of chains of a model.

    Parameters
    ----------
    structure
        The model (:func:`read_structure`).
    pae
        Its PAE (:func:`read_pae`), optional.
    cutoff
        Contact distance in Å (:func:`pdockq`).

    Returns
    -------
    pandas.DataFrame
        One row per pair ``(a, b)`` with ``a`` before ``b`` in file order: the columns of
        :func:`pdockq` but ``x``; with ``pae`` also ``min_pae`` and ``mean_pae`` over both
        off-diagonal blocks (rows of ``a`` x columns of ``b`` and rows of ``b`` x columns of
        ``a``), ``min_pae_ab`` (aligned on ``a``, scored on ``b``) and ``min_pae_ba``, and the
        JSON's ``ptm`` and ``iptm`` (global, the same on every row) when it holds them. No row for
        a model of one chain.
    """
    starts = structure.starts
    rows = []
    for (i, ca), (j, cb) in combinations(enumerate(structure.chains), 2):
        row = pdockq(structure, ca.id, cb.id, cutoff=cutoff)
        del row["x"]
        if pae is not None:
            sa, sb = slice(starts[i], starts[i] + len(ca)), slice(starts[j], starts[j] + len(cb))
            ab, ba = pae.matrix[sa, sb], pae.matrix[sb, sa]
            both = np.concatenate([ab.ravel(), ba.ravel()])
            row.update(min_pae=float(both.min()), mean_pae=float(both.mean()), min_pae_ab=float(ab.min()),
                       min_pae_ba=float(ba.min()))
            row.update({k: v for k, v in (("ptm", pae.ptm), ("iptm", pae.iptm)) if v is not None})
        rows.append(row)
    columns = PAIR_COLUMNS + (PAE_COLUMNS if pae is not None else [])
    columns += [k for k in ("ptm", "iptm") if rows and k in rows[0]]
    return pd.DataFrame(rows, columns=columns)
