"""``cisgram structure``: parse, call the workflow, render its report, print (registered in
:mod:`cisgram.cli.app` with ``app.command()(structure)``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cisgram.cli.console import out


def structure(
    model: Annotated[Path, typer.Option("--model", help="Predicted structure: PDB or mmCIF (plain or gzip), pLDDT as B-factors (AlphaFold, ColabFold).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory to write segments.tsv, chain_pairs.tsv, config.json and report.html.")],
    pae: Annotated[Path | None, typer.Option("--pae", help="The model's PAE JSON (.json or .json.gz): adds min and mean inter-chain PAE, pTM, ipTM.")] = None,
    threshold: Annotated[float, typer.Option(help="pLDDT at or above which a residue is folded.")] = 70.0,
    min_length: Annotated[int, typer.Option(help="Shortest segment (residues): shorter runs merge into their neighbours.")] = 10,
) -> None:
    """Structural check of a TF or TF pair (GET): pLDDT segments of each chain, pDockQ and inter-chain PAE of each chain pair."""
    from cisgram.report.structure import structure_report
    from cisgram.workflows.structure import structure_check

    result = structure_check(model, out_dir, pae=pae, threshold=threshold, min_length=min_length)
    structure_report(out_dir / "report.html", result)
    seg = result.segments
    folded = seg[seg["kind"] == "folded"]
    spans = ", ".join(f"{r.chain}:{r.start}-{r.end}" for r in folded.itertuples(index=False)) or "none"
    out.print(f"{len(seg)} segment(s) on {len(result.chains)} chain(s), folded: {spans}; wrote {out_dir}",
              highlight=False)
    if result.pairs is not None:
        parts = []
        for r in result.pairs.itertuples(index=False):
            pae_text = f", min PAE {r.min_pae:.2f} Å" if "min_pae" in result.pairs.columns else ""
            parts.append(f"{r.chain_a}-{r.chain_b} pDockQ {r.pdockq:.3f} ({r.n_contacts} contacts{pae_text})")
        out.print("; ".join(parts), highlight=False)
