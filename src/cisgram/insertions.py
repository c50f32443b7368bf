"""Tn5 insertions per base from fragment files: the counts behind an insertion (cut-site) bigWig.

:func:`insertion_track` streams a fragment file (:func:`cisgram.fragments.read_fragment_chunks`)
and counts, per chromosome and base, the Tn5 insertions of the fragments of all barcodes or of a
list of barcodes (a pseudo-bulk). ``cisgram tracks insertions`` writes the result as a bigWig
(:func:`cisgram.tracks.write_bigwig`).

The shift convention
--------------------
Each fragment ``(start, end)`` (0-based, half-open) gives two insertions, at
``start + shift[0]`` and at ``end - 1 + shift[1]``. Tn5 cuts the two strands 9 bp apart; the
insertion is centred 4 bp inside the first base of a forward read and 5 bp inside the last base of
a reverse read, hence the +4 / -5 shift (Buenrostro et al. 2013, :data:`TN5_SHIFT`).

* **Default ``(0, 0)``: no shift.** 10x Genomics (Cell Ranger ATAC / ARC) fragment files, and
  files written in their format by ArchR, SnapATAC2 or sinto, already carry the shift, so their
  ``start`` and ``end - 1`` *are* the insertions. This is also what
  :func:`cisgram.fragments.fragment_counts` counts, so a region's count in ``cisgram prepare``
  equals the sum of this track over the region. The yeast test file
  ``SRR1822137.fragments.tsv.gz`` is such a 10x-style file and is read without a shift.
* **``shift=TN5_SHIFT`` (``--tn5-shift``)** for fragments made directly from read alignments
  (BAM pairs: start of the forward read, end of the reverse read) that were not shifted; shifting
  a 10x file again would move every insertion 4-5 bp inwards.

Insertions that the shift moves off a chromosome (before 0 or past its end) are **dropped and
counted** (``n_dropped``, with the line of the first): a fragment at a chromosome's very edge is
real, only its shifted cut is not on the sequence. A fragment that ends past its chromosome
*before* any shift is an error instead: it means fragments and genome are different assemblies.

Memory
------
The file is streamed in chunks of ``chunksize`` records and need not be sorted. Per chromosome,
each chunk's insertions are reduced to sorted (position, count) pairs (``np.unique``) that wait in
a list and are merged into the chromosome's running pairs once they outnumber them (and 2**20),
so memory is 8 bytes (int32 position, uint32 count) per distinct insertion position, at most about
twice that during a merge, plus at most 2**20 waiting pairs (8 MB) per chromosome and ~100 bytes x
``chunksize`` for the chunk: bounded by the number of insertions, never a dense array of a
chromosome's (or a genome's) length. The result itself holds the merged pairs.

Pitfalls
--------
* Each record counts once; the duplicate count in column 5 is ignored (as in
  :func:`~cisgram.fragments.fragment_counts`, ArchR and Signac).
* A barcode list is checked strictly: a barcode that never occurs in the file is an error (a typo
  or a missing ``-1`` suffix would otherwise quietly shrink the pseudo-bulk).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cisgram.errors import InputError, few
from cisgram.files import require_file
from cisgram.fragments import barcode_index, read_fragment_chunks
from cisgram.genome import chromosome_hint

log = logging.getLogger(__name__)

__all__ = ["TN5_SHIFT", "InsertionTrack", "insertion_track"]

TN5_SHIFT = (4, -5)
"""``(plus, minus)`` shift of fragments made directly from read alignments; 10x Genomics fragment
files already include it."""


@dataclass
class InsertionTrack:
    """Tn5 insertions per base, from :func:`insertion_track`.

    Attributes
    ----------
    positions, counts
        Per chromosome with insertions, in the order of ``chrom_sizes``: int32 sorted unique
        0-based positions and uint32 insertions at each (all > 0).
    n_fragments
        Fragments counted (those of the barcodes given, or every record).
    n_insertions
        Insertions kept, ``2 * n_fragments - n_dropped`` (the sum of ``counts``).
    n_dropped
        Insertions that the shift moved off their chromosome (before 0 or past its end).
    n_unmatched
        Fragments skipped because their barcode is not among those given (0 without barcodes).
    shift
        The ``(plus, minus)`` shift applied.
    first_dropped
        File line of the first record with a dropped insertion (None when none was dropped).
    """

    positions: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]
    n_fragments: int
    n_insertions: int
    n_dropped: int
    n_unmatched: int
    shift: tuple[int, int] = (0, 0)
    first_dropped: int | None = None


class _Tally:
    """Sorted unique positions of one chromosome and their counts; chunks wait in ``pending`` and
    are merged in (``np.unique``) once they outnumber the merged positions, so memory stays within
    about twice the distinct positions plus one chunk, at O(n log n) amortised time."""

    merge_min = 1 << 20  # pending pairs always allowed before a merge (small merges cost more than they save)

    def __init__(self) -> None:
        self.pos, self.cnt = np.zeros(0, np.int32), np.zeros(0, np.uint32)
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []
        self.n_pending = 0

    def add(self, pos: np.ndarray) -> None:
        u, c = np.unique(pos, return_counts=True)
        self.pending.append((u.astype(np.int32), c.astype(np.uint32)))
        self.n_pending += len(u)
        if self.n_pending > max(len(self.pos), self.merge_min):
            self.merge()

    def merge(self) -> tuple[np.ndarray, np.ndarray]:
        if self.pending:
            pos = np.concatenate([self.pos, *(u for u, _ in self.pending)])
            cnt = np.concatenate([self.cnt, *(c for _, c in self.pending)])
            self.pos, inv = np.unique(pos, return_inverse=True)
            self.cnt = np.bincount(inv, weights=cnt, minlength=len(self.pos)).astype(np.uint32)
            self.pending, self.n_pending = [], 0
        return self.pos, self.cnt


def insertion_track(
    path: str | os.PathLike,
    chrom_sizes: Mapping[str, int],
    barcodes: Sequence[str] | None = None,
    *,
    shift: tuple[int, int] = (0, 0),
    chunksize: int = 2_000_000,
) -> InsertionTrack:
    """Count Tn5 insertions per base from a fragment file (plain, gzip or bgzip; any order).

    Each fragment ``(start, end)`` gives two insertions, at ``start + shift[0]`` and
    ``end - 1 + shift[1]``; each record counts once (the module docstring says why the default is
    no shift, and how memory is bounded).

    Parameters
    ----------
    path
        Fragment file: ``chrom, start, end[, barcode, count]``, 0-based half-open, ``#`` header
        lines allowed.
    chrom_sizes
        Chromosome lengths of the genome (e.g. :attr:`cisgram.genome.Genome.sizes`).
    barcodes
        Keep only the fragments of these barcodes (a pseudo-bulk); None keeps every fragment.
    shift
        ``(plus, minus)``: ``(0, 0)`` for 10x Genomics / Cell Ranger ATAC files (already shifted,
        as :func:`~cisgram.fragments.fragment_counts` assumes); :data:`TN5_SHIFT` ``(4, -5)`` for
        fragments made directly from read alignments. Insertions shifted off a chromosome are
        dropped and counted.
    chunksize
        Records read at once.

    Returns
    -------
    InsertionTrack
        Positions and counts per chromosome, and the fragment and insertion tallies.

    Raises
    ------
    InputError
        Naming the file and line: a malformed record, a chromosome not in ``chrom_sizes`` (both
        sides listed), a fragment that ends past its chromosome before any shift; naming the file:
        a barcode that never occurs in it, or no insertion at all to write.
    """
    p = require_file(path, "fragment file")
    sizes = {str(k): int(v) for k, v in chrom_sizes.items()}
    sp, sm = (int(x) for x in shift)
    if barcodes is not None:
        bc_index = barcode_index(p, barcodes)
        found = np.zeros(len(bc_index), dtype=bool)
    tallies: dict[str, _Tally] = {}
    n_fragments = n_dropped = n_unmatched = 0
    first_dropped: int | None = None
    seen_barcodes: list[str] = []
    for first_line, chunk, s, e in read_fragment_chunks(p, 3 if barcodes is None else 4, chunksize):
        keep = None
        if barcodes is not None:
            cats = chunk[3].cat.categories
            seen_barcodes.extend(map(str, cats[: max(0, 5 - len(seen_barcodes))]))
            where = bc_index.get_indexer(cats)
            found[where[where >= 0]] = True
            keep = (where >= 0)[chunk[3].cat.codes.to_numpy()]
            n_unmatched += int(len(keep) - keep.sum())
        codes = chunk[0].cat.codes.to_numpy()
        for k, name in enumerate(map(str, chunk[0].cat.categories)):
            rows = np.flatnonzero(codes == k)
            if name not in sizes:
                raise InputError(
                    f"fragment on chromosome {name!r}, which is not in the genome; the genome has {few(sizes)}, "
                    f"this part of the fragment file {few(chunk[0].cat.categories)}",
                    path=p, line=first_line + int(rows[0]), hint=chromosome_hint([name], sizes) or "use fragments and a genome of the same assembly",
                )
            past = e[rows] > sizes[name]
            if past.any():
                i = rows[int(np.argmax(past))]
                raise InputError(
                    f"fragment {name}:{s[i]}-{e[i]} ends past the chromosome's end ({sizes[name]:,} bp in the genome)",
                    path=p, line=first_line + i, hint="use fragments and a genome of the same assembly",
                )
            if keep is not None:
                rows = rows[keep[rows]]
            if len(rows) == 0:
                continue
            ins = np.concatenate((s[rows] + sp, e[rows] - 1 + sm))
            on = (ins >= 0) & (ins < sizes[name])
            if not on.all():
                n_dropped += int(len(on) - on.sum())
                line = first_line + int(rows[np.flatnonzero(~on) % len(rows)].min())
                first_dropped = line if first_dropped is None else min(first_dropped, line)
            n_fragments += len(rows)
            if on.any():
                tallies.setdefault(name, _Tally()).add(ins[on])
    if barcodes is not None and not found.all():
        absent = list(bc_index[~found])
        raise InputError(
            f"{len(absent)} of the {len(bc_index)} barcode(s) given never occur in the file (fragments without the "
            f"barcode): {few(absent, sort=False)}; barcodes that do occur include: {', '.join(seen_barcodes)}",
            path=p, hint="check the barcodes (a suffix such as '-1' must match the file exactly)",
        )
    if not tallies:
        raise InputError(
            f"no insertion to write: {n_fragments:,} fragment(s) counted, {n_dropped:,} insertion(s) shifted off a "
            "chromosome end", path=p,
        )
    if n_dropped:
        log.info("%s: %d insertion(s) shifted off a chromosome end were dropped (first at line %d)",
                    p, n_dropped, first_dropped)
    merged = {c: tallies[c].merge() for c in sizes if c in tallies}
    return InsertionTrack(
        positions={c: v[0] for c, v in merged.items()}, counts={c: v[1] for c, v in merged.items()},
        n_fragments=n_fragments, n_insertions=2 * n_fragments - n_dropped, n_dropped=n_dropped,
        n_unmatched=n_unmatched, shift=(sp, sm), first_dropped=first_dropped,
    )
