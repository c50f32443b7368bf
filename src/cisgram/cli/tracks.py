"""``cisgram tracks insertions``: parse, call the workflow, print (the ``tracks`` group is
registered in :mod:`cisgram.cli.app`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cisgram.cli.console import console, out
from cisgram.errors import InputError

tracks_app = typer.Typer(help="Build signal tracks (bigWig) from fragment files.", no_args_is_help=True)


@tracks_app.command("insertions")
def insertions(
    fragments: Annotated[str, typer.Argument(help="Fragment file (chrom, start, end, barcode, count; plain/gzip/bgzip), or FILE:BC1,BC2 to keep only those barcodes (a pseudo-bulk).")],
    genome: Annotated[Path, typer.Option("--genome", "-g", help="FASTA (plain/bgzip) or 2bit genome: the bigWig's chromosomes and lengths.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="bigWig to write (1-bp insertion counts, written atomically).")],
    tn5_shift: Annotated[bool, typer.Option("--tn5-shift/--no-shift", help="Shift insertions +4 / -5 (fragments made directly from read alignments); the default --no-shift suits 10x / Cell Ranger ATAC files, which are already shifted.")] = False,
    shift_plus: Annotated[int | None, typer.Option(help="Custom shift added to each fragment's start (instead of --tn5-shift).")] = None,
    shift_minus: Annotated[int | None, typer.Option(help="Custom shift added to each fragment's last base, end - 1 (e.g. -5).")] = None,
    chunksize: Annotated[int, typer.Option(help="Fragment records read at once.")] = 2_000_000,
) -> None:
    """Tn5 insertion (cut-site) counts per base from a fragment file, as a bigWig: each fragment gives two insertions, at start and end - 1 (plus the shift)."""
    from cisgram.insertions import TN5_SHIFT
    from cisgram.workflows.tracks import insertion_bigwig

    custom = shift_plus is not None or shift_minus is not None
    if tn5_shift and custom:
        raise InputError("give either --tn5-shift or --shift-plus / --shift-minus, not both")
    if chunksize < 1:
        raise InputError(f"--chunksize must be at least 1, got {chunksize}")
    shift = TN5_SHIFT if tn5_shift else (shift_plus or 0, shift_minus or 0)
    with console.status("counting insertions…"):
        r = insertion_bigwig(fragments, genome, out_path, shift=shift, chunksize=chunksize)
    kept = "" if r.barcodes is None else f" of {len(r.barcodes)} barcode(s) ({r.n_unmatched:,} of other barcodes skipped)"
    out.print(f"{r.n_fragments:,} fragments{kept}, shift {r.shift[0]:+d} / {r.shift[1]:+d}: {r.n_insertions:,} insertions "
              f"at {r.n_positions:,} bases; wrote {out_path}", highlight=False)
    if r.n_dropped:
        out.print(f"dropped {r.n_dropped:,} insertion(s) shifted off a chromosome end (first at line {r.first_dropped})",
                  highlight=False)
