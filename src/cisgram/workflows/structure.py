"""``cisgram structure``: the structural check of a TF or a TF pair (GET, spec §4.7) on a
predicted model: pLDDT segments of every chain and, for a complex, pDockQ and inter-chain PAE of
every chain pair (:func:`structure_check`)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cisgram import __version__
from cisgram.files import atomic_write, write_json
from cisgram.results import StructureResult
from cisgram.structure import (
    CONTACT_CUTOFF,
    MIN_SEGMENT,
    chain_pair_scores,
    read_pae,
    read_structure,
    structure_segments,
)
from cisgram.workflows.rundir import path_entries


def structure_check(model: str | os.PathLike, out: str | os.PathLike, *, pae: str | os.PathLike | None = None,
                    threshold: float = 70.0, min_length: int = MIN_SEGMENT,
                    cutoff: float = CONTACT_CUTOFF) -> StructureResult:
    """Segment a predicted structure by pLDDT and score the interfaces of its chain pairs.

    Parameters
    ----------
    model
        PDB or mmCIF (plain or gzip) with pLDDT in the B-factor column (AlphaFold, ColabFold).
    out
        Directory to write: ``segments.tsv`` (one row per segment of every chain),
        ``chain_pairs.tsv`` (one row per unordered chain pair; only for two or more chains, and an
        earlier run's copy is removed otherwise) and ``config.json``, each written atomically.
    pae
        The model's PAE JSON (plain or gzip), optional: adds minimum and mean inter-chain PAE, pTM
        and ipTM to the chain pairs.
    threshold, min_length
        The segmentation rule of :func:`cisgram.structure.segments`.
    cutoff
        Contact distance of pDockQ in Å (8, Bryant et al.).

    Returns
    -------
    StructureResult
        What the files hold, with per-chain pLDDT and the PAE matrix for the report.
    """
    structure = read_structure(model)
    matrix = read_pae(pae, structure) if pae is not None else None
    segs = structure_segments(structure, threshold=threshold, min_length=min_length)
    pairs = chain_pair_scores(structure, matrix, cutoff=cutoff) if len(structure.chains) > 1 else None

    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    with atomic_write(d / "segments.tsv") as fh:
        segs.to_csv(fh, sep="\t", index=False, float_format="%.2f")
    if pairs is not None:
        with atomic_write(d / "chain_pairs.tsv") as fh:
            pairs.to_csv(fh, sep="\t", index=False, float_format="%.4f", na_rep="NA")
    else:
        with contextlib.suppress(FileNotFoundError):
            (d / "chain_pairs.tsv").unlink()
    config = {"command": "structure", "cisgram": __version__, **path_entries(model=model, pae=pae),
              "chains": {c.id: len(c) for c in structure.chains}, "threshold": threshold, "min_length": min_length,
              "contact_cutoff": cutoff, "ptm": None if matrix is None else matrix.ptm,
              "iptm": None if matrix is None else matrix.iptm,
              "segmentation": "pLDDT >= threshold is folded; runs shorter than min_length residues are merged "
                              "into their neighbours, shortest first",
              "pdockq": "0.724 / (1 + exp(-0.052 (x - 152.611))) + 0.018, x = mean interface pLDDT * "
                        "log10(CB-CB contacts <= cutoff); 0 without contacts (Bryant et al. 2022)"}
    write_json(d / "config.json", config, indent=2)
    return StructureResult(path=d, config=config, chains=structure.ids,
                           residues={c.id: c.residues for c in structure.chains},
                           plddt={c.id: c.plddt for c in structure.chains}, segments=segs, pairs=pairs,
                           pae=None if matrix is None else matrix.matrix, chain_starts=structure.starts)
