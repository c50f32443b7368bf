"""``cisgram tfbind-patterns``: what each regime of a finished tfbind run learns (TF-MoDISco
patterns named by TOMTOM and classified), written into the run and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cisgram.cli.console import out, say


def tfbind_patterns(
    run: Annotated[Path, typer.Argument(help="A finished `cisgram tfbind` run directory.")],
    database: Annotated[str | None, typer.Option("--database", "-d", help="MEME file or jaspar: address naming the patterns (default: the run's MEME database, else JASPAR 2024 CORE vertebrates).")] = None,
    max_windows: Annotated[int, typer.Option("--max-windows", help="At most this many bound windows per regime (a seeded sample).")] = 1000,
    windows: Annotated[str, typer.Option("--windows", help="test: the bound test windows; bound: every bound window (more patterns, but seen in training).")] = "test",
    shuffles: Annotated[int, typer.Option("--shuffles", help="DeepLIFT's dinucleotide-shuffled references per window.")] = 20,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda[:N].")] = "cpu",
) -> None:
    """Find what each regime's networks learn: TF-MoDISco patterns of DeepLIFT contributions on bound windows, named by TOMTOM and classed (the TF, accessibility/pioneer, partner, unnamed); rewrites the run's report.html."""
    from cisgram.report.tfbind import tfbind_report
    from cisgram.workflows.tfbind_patterns import read_tfbind_result
    from cisgram.workflows.tfbind_patterns import tfbind_patterns as find_patterns

    table = find_patterns(run, database=database, max_windows=max_windows, windows=windows, n_shuffles=shuffles,
                          device=device, progress=say)
    tfbind_report(run / "report.html", read_tfbind_result(run))
    for (regime, core), rows in table.groupby(["regime", "core"], sort=False):
        found = rows[rows["class"] != "none"]
        counts = ", ".join(f"{n} {c}" for c, n in found["class"].value_counts().items()) or "no patterns"
        out.print(f"{regime} ({core}): {counts}")
        for r in found.to_dict("records"):
            match = (f"{r['match_name']} ({r['match_id']}) q {r['q_value']:.1e}"
                     if isinstance(r["match_id"], str) and r["match_id"] else "no match")
            out.print(f"  {r['pattern']:7s} {int(r['n_seqlets']):5d} seqlets  {r['consensus']:25s} {match}  [{r['class']}]")
    out.print(f"wrote {run / 'patterns.tsv'} and {run / 'report.html'}")
