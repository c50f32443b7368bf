"""``cisgram tracks insertions``: a fragment file in, a base-resolution bigWig of Tn5 insertion
(cut-site) counts out (:func:`insertion_bigwig`)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from cisgram.data.dataset import parse_track
from cisgram.genome import Genome
from cisgram.insertions import insertion_track
from cisgram.results import InsertionsResult
from cisgram.tracks import write_bigwig

log = logging.getLogger(__name__)


def insertion_bigwig(fragments: str | os.PathLike, genome: str | os.PathLike, out: str | os.PathLike, *,
                     shift: tuple[int, int] = (0, 0), chunksize: int = 2_000_000) -> InsertionsResult:
    """Write the Tn5 insertions of a fragment file (or of a barcode group) as a 1-bp bigWig.

    Parameters
    ----------
    fragments
        ``FILE`` or ``FILE:BC1,BC2,…`` (only those barcodes: a pseudo-bulk), the syntax of
        ``cisgram prepare --tracks NAME=FILE:BC1,BC2`` (:func:`cisgram.data.dataset.parse_track`).
    genome
        FASTA (plain or bgzip) or 2bit: the bigWig's header lists all its chromosomes, in order.
    out
        bigWig to write, atomically: a failed run leaves no file (and keeps an earlier one).
    shift
        ``(plus, minus)`` added to ``start`` and ``end - 1``: ``(0, 0)`` for 10x / Cell Ranger
        ATAC files (already shifted), :data:`cisgram.insertions.TN5_SHIFT` for fragments made
        directly from alignments (:mod:`cisgram.insertions` explains the choice).
    chunksize
        Records read at once.

    Returns
    -------
    InsertionsResult
        The path written and the tallies (fragments, insertions, dropped, other barcodes).
    """
    t0 = time.perf_counter()
    spec = parse_track(f"fragments={os.fspath(fragments)}")
    with Genome(genome) as g:
        sizes = dict(g.sizes)
    track = insertion_track(spec.path, sizes, spec.barcodes, shift=shift, chunksize=chunksize)
    n = write_bigwig(out, sizes, ((c, track.positions[c], track.counts[c]) for c in track.positions))
    seconds = time.perf_counter() - t0
    log.info("%s: %d insertions at %d bases from %d fragments, %.1f s", out, track.n_insertions, n,
             track.n_fragments, seconds)
    return InsertionsResult(path=Path(out), fragments=spec.path, barcodes=spec.barcodes, shift=track.shift,
                            n_fragments=track.n_fragments, n_insertions=track.n_insertions, n_dropped=track.n_dropped,
                            n_unmatched=track.n_unmatched, n_positions=n, first_dropped=track.first_dropped,
                            seconds=seconds)
