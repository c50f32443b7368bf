"""TF binding from sequence context (AgentBind-style): motif instances labelled bound or unbound.

A transcription factor's motif occurs far more often in the genome than the factor binds. Asking
a sequence model "is *this* motif instance bound?" makes it learn what the context around a site
adds to the site itself (AgentBind, Zheng et al. 2021). This module builds that data set; the
models and the training live elsewhere.

:func:`motif_instances`
    Every site of one motif on both strands of the chosen chromosomes, at a p-value threshold,
    scanned in overlapping chunks by :func:`cisgram.motifs.scan.scan` (exact FIMO-style hits).
:func:`label_instances`
    Bound or not, from ChIP-seq peaks: the site lies entirely inside a peak, or (with
    ``summit_distance``) its centre lies within that many bp of a peak summit.
:func:`~cisgram.data.tfbind_examples.tfbind_examples` (in :mod:`cisgram.data.tfbind_examples`)
    The labelled context windows (default 1 kb) centred on the sites, oriented on the motif's
    strand, with a hold-out split and one of five negative sets. Returns
    :class:`~cisgram.data.tfbind_examples.TFBindExamples` (a table, the :class:`~cisgram.splits.Split`, the parameters).
:func:`~cisgram.data.tfbind_examples.instance_pool`, :func:`~cisgram.data.tfbind_examples.draw_examples`
    The same in two steps, for comparing negative sets: the scan, labels, windows and split
    once, then each negative set drawn from that pool (what ``cisgram tfbind`` does).
:func:`~cisgram.data.tfbind_examples.examples_dataset`
    The windows as a :class:`~cisgram.data.windows.SequenceWindows` (one-hot ``(4, L)`` read on
    the motif's strand, target ``(1,)`` = label), for training.

Choices, and why
----------------
- **An instance is a place.** When both strands of a (palindromic) motif pass the threshold at
  the same start, only the better-scoring strand is kept (ties: ``+``), so each ``(chrom,
  start)`` is one example; otherwise a palindrome would count twice, once per orientation, and
  the two copies could even land on both sides of a split.
- **Chunks.** A chromosome is cut into rows of ``chunk + w - 1`` bp starting every ``chunk`` bp
  (``w`` the motif width); row ``k`` holds exactly the windows starting in ``[k chunk, (k + 1)
  chunk)``, so no site is lost or found twice at a chunk edge, and memory is bounded by the rows
  of one :func:`scan` call (about 8 Mb), not by the chromosome. Sites containing an N are never
  hits (the scanner's rule).
- **Coordinates.** ``site_start, site_end`` are forward-strand, 0-based half-open, for both
  strands (FIMO's convention). The site's centre is ``(site_start + site_end) // 2`` and its
  window is ``[centre - window // 2, centre - window // 2 + window)``, the same rule as
  :class:`~cisgram.data.windows.SequenceWindows`, so the dataset reads exactly the table's
  window. A minus-strand window is read reverse-complemented, so the motif reads 5'->3' left to
  right at the centre (for an odd motif in an even window the reversed site sits 1 bp off the
  forward one's position).
- **Negatives are clean.** An unbound instance that still overlaps a ChIP peak (it straddles a
  peak edge, or, with ``summit_distance``, lies in a peak but far from its summit) is neither a
  positive nor a negative: it is dropped as ambiguous and counted in ``params["n_ambiguous"]``.
  Negatives overlap no peak at all.
- **Negative sets**, comparable on one split:
  ``"standard"`` (AgentBind's, the default) unbound instances drawn per bin of the motif's
  −log10 p-value (``pvalue_bin`` wide, 0.1 as in AgentBind) in every split, ``ratio`` (default 1)
  per bound instance of the bin, so the core site's strength carries no signal; a bin with too few
  unbound instances gives all it has (counted in ``n_short`` / ``n_pvalue_bins_short``);
  ``"gc"`` unbound instances drawn so that their window GC matches the positives' histogram in
  every split (``gc_bins`` equal bins over [0, 1]), which removes GC as a shortcut;
  ``"genomic"`` every (clean) unbound instance, the natural and heavily unbalanced set;
  ``"open"`` (AgentBind's open-chromatin control) bound *and* unbound instances whose site lies
  inside an accessibility peak of the same cell type, so neither class can be told by "open
  chromatin"; ``"open-negatives"`` only the unbound ones restricted so (the bound ones are all
  kept: cisgram's earlier ``open``, kept for comparison).
  ``ratio`` asks for that many negatives per positive in each split (a seeded draw; for ``"gc"``
  per GC bin and ``"standard"`` per p-value bin, default 1:1); ``None`` keeps them all
  (``"genomic"``, ``"open"``, ``"open-negatives"``).
- **The hold-out is never crossed.** The split is made from the positives' windows (whole
  chromosomes with 5 or more of them, else >= 1 Mb blocks, see :func:`cisgram.splits.make_split`)
  or given. Each window gets the split of its first base; a window whose first and last base
  (widened by ``margin``) fall in different splits is dropped, so no example's sequence is shared
  across train, val and test. With a chromosome split this drops nothing. Set ``margin`` to the
  ``jitter`` you train with so shifted windows stay inside too.
- Windows that leave their chromosome are dropped, and so are windows with more than 1% N.

Pitfalls
--------
- The p-value threshold decides how many instances there are: 1e-4 on a 50 Mb chromosome finds
  ~13,000 CTCF (MA0139.2) sites, 1e-5 about a tenth. Short motifs may have no attainable
  p-value below the threshold and then have no sites at all (see :mod:`cisgram.motifs.scan`).
- Peaks on chromosomes that were not scanned are ignored (but checked against the genome).
- Overlapping windows of neighbouring sites are kept: examples of one split share sequence.
  Overlapping sites at different starts are separate instances too (CTCF's MA1930.2 also scores
  above 1e-4 on the other strand 5 bp along a strong site); they share one peak and one split.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.genome import Genome, check_chromosomes
from cisgram.motifs.pwm import Motif, MotifSet, load_motifs, read_meme
from cisgram.motifs.scan import scan

log = logging.getLogger(__name__)

__all__ = ["NEGATIVES", "label_instances", "motif_instances", "resolve_motif"]

NEGATIVES = ("standard", "gc", "genomic", "open", "open-negatives")
MAX_N = 0.01  # largest fraction of N in a window
_SCAN_BASES = 8_000_000  # bases per scan() call in motif_instances
_INSTANCE_COLUMNS = ["chrom", "start", "end", "strand", "score", "p_value"]
TABLE_COLUMNS = [
    "name", "chrom", "start", "end", "strand", "site_start", "site_end", "score", "p_value", "label", "split", "gc",
]
_JASPAR_ID = re.compile(r"[A-Z]{2}\d{4}(\.\d+)?", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# The motif
# --------------------------------------------------------------------------------------------
def resolve_motif(spec: Motif | MotifSet | str | os.PathLike) -> tuple[Motif, np.ndarray]:
    """One motif, and the background its set was defined with.

    Parameters
    ----------
    spec
        A :class:`Motif`; a :class:`MotifSet` holding one motif; a JASPAR ID (``"MA0139"`` for the
        latest version, ``"MA0139.2"``) or ``jaspar:`` address naming one matrix; a MEME file
        holding one motif; or ``"FILE.meme#NAME"`` to pick one motif of a MEME file by ID
        (``MA0139.2``, or ``MA0139`` for its only version there) or name (``CTCF``,
        case-insensitive).

    Returns
    -------
    ``(motif, background)``; background float64 ``(4,)`` (uniform for a bare :class:`Motif`).

    Raises
    ------
    InputError
        Nothing found, several motifs where one is needed, or a name matching several motifs.
    """
    if isinstance(spec, Motif):
        return spec, np.full(4, 0.25)
    if isinstance(spec, MotifSet):
        return _one_of(spec, None), np.asarray(spec.background)
    text = os.fspath(spec)
    name = None
    if not Path(text).exists() and "#" in text:
        text, _, name = text.rpartition("#")
    if Path(text).exists():
        ms = read_meme(text)
    elif text.strip().lower().startswith("jaspar:"):
        ms = load_motifs(text.strip())
    elif _JASPAR_ID.fullmatch(text.strip()):
        ms = load_motifs("jaspar:" + text.strip().upper())
    else:
        raise InputError(
            "motif not found: neither a file, a jaspar: address nor a JASPAR matrix ID",
            path=text,
            hint="give e.g. MA0139 (latest JASPAR version), MA0139.2, jaspar:2022/MA0139.1, a MEME file of "
            "one motif, or FILE.meme#CTCF",
        )
    return _one_of(ms, name), np.asarray(ms.background)


def _one_of(ms: MotifSet, name: str | None) -> Motif:
    if name is None:
        if len(ms) == 1:
            return ms[0]
        shown = ", ".join(f"{m.name} ({m.alt_name})" if m.alt_name else m.name for m in list(ms)[:4])
        raise InputError(
            f"{len(ms)} motifs given where one is needed ({shown}{' …' if len(ms) > 4 else ''})",
            path=ms.source or None,
            hint="pick one: FILE.meme#MA0139.2 or FILE.meme#CTCF, or a JASPAR ID such as MA0139",
        )
    key = name.strip().lower()
    found = [m for m in ms if m.name.lower() == key]
    found = found or [m for m in ms if m.name.lower().split(".")[0] == key]
    found = found or [m for m in ms if m.alt_name.lower() == key]
    if len(found) != 1:
        what = "no motif" if not found else f"{len(found)} motifs ({', '.join(m.name for m in found[:5])})"
        raise InputError(
            f"{what} named {name!r} in this motif set",
            path=ms.source or None,
            hint="name one motif by its ID (e.g. MA0139.2) or by a name only one motif has",
        )
    return found[0]


# --------------------------------------------------------------------------------------------
# Motif instances
# --------------------------------------------------------------------------------------------
def motif_instances(
    genome: Genome | str | os.PathLike,
    motif: Motif | MotifSet | str,
    *,
    chroms: Sequence[str] | None = None,
    threshold: float = 1e-4,
    chunk: int = 1_000_000,
    background: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Every site of one motif on both strands of the given chromosomes.

    Parameters
    ----------
    genome
        A :class:`~cisgram.genome.Genome` or its path.
    motif
        One motif (anything :func:`resolve_motif` takes).
    chroms
        Chromosomes to scan, in this order (default: all of the genome's).
    threshold
        P-value threshold (a site scores strictly above the motif's threshold score; memelite's
        FIMO rules, see :mod:`cisgram.motifs.scan`).
    chunk
        Bases per scanned row; rows overlap by ``width - 1`` so sites across row edges are found
        exactly once. The result does not depend on it.
    background
        Background of the log-odds and p-values (default: the motif set's own, uniform for a bare
        :class:`Motif`).

    Returns
    -------
    DataFrame ``chrom, start, end, strand, score, p_value`` (``n_sites`` rows; forward-strand
    0-based half-open coordinates; ``strand`` ``"+"``/``"-"``; ``score`` the log-odds in bits),
    sorted by chromosome (in ``chroms`` order) and start. Each ``(chrom, start)`` appears once:
    when both strands pass at one start the better-scoring one is kept (ties: ``"+"``). Sites
    containing an N are never reported.
    """
    genome = genome if isinstance(genome, Genome) else Genome(genome)
    m, bg = resolve_motif(motif)
    bg = bg if background is None else background
    chroms = list(genome.sizes) if chroms is None else list(chroms)
    check_chromosomes(chroms, genome.sizes, path=genome.path, against=f"the genome {genome.path.name}")
    if int(chunk) != chunk or chunk < 1:
        raise InputError(f"chunk must be a positive number of bases, got {chunk}")
    chunk, w = int(chunk), m.width
    rows_per_call = max(1, _SCAN_BASES // chunk)
    tick = time.perf_counter()
    parts = []
    for c in chroms:
        size = genome.sizes[c]
        if size < w:
            continue
        codes = genome.chromosome_codes(c)
        n_rows = -(-size // chunk)
        for a in range(0, n_rows, rows_per_call):
            b = min(a + rows_per_call, n_rows)
            lo, hi = a * chunk, b * chunk + w - 1  # rows a..b-1 cover [lo, hi)
            seg = np.full(hi - lo, 4, dtype=np.uint8)  # N past the chromosome end: no site there
            seg[: min(hi, size) - lo] = codes[lo : min(hi, size)]
            rows = np.lib.stride_tricks.as_strided(seg, shape=(b - a, chunk + w - 1), strides=(chunk, 1))
            hits = scan(rows, [m], threshold=threshold, features=(), hits=True, batch_size=b - a, background=bg).hits
            if len(hits):
                start = lo + hits["region"].to_numpy(dtype=np.int64) * chunk + hits["start"].to_numpy(dtype=np.int64)
                parts.append(pd.DataFrame({
                    "chrom": c, "start": start, "end": start + w, "strand": hits["strand"].to_numpy(),
                    "score": hits["score"].to_numpy(), "p_value": hits["p_value"].to_numpy(),
                }))
    if not parts:
        out = pd.DataFrame({"chrom": pd.Series(dtype=object), "start": pd.Series(dtype=np.int64),
                            "end": pd.Series(dtype=np.int64), "strand": pd.Series(dtype=object),
                            "score": pd.Series(dtype=np.float64), "p_value": pd.Series(dtype=np.float64)})
    else:
        out = pd.concat(parts, ignore_index=True)
        rank = {c: i for i, c in enumerate(chroms)}
        key = out["chrom"].map(rank).to_numpy()
        # per (chrom, start): best score first, '+' before '-' on ties; keep the first
        order = np.lexsort(((out["strand"] == "-").to_numpy(), -out["score"].to_numpy(), out["start"].to_numpy(), key))
        out = out.iloc[order]
        out = out[~out.duplicated(["chrom", "start"])].reset_index(drop=True)
    log.info(
        "%s (%s): %d sites at p < %g on %d chromosome(s) in %.2f s",
        m.name, m.alt_name or "-", len(out), threshold, len(chroms), time.perf_counter() - tick,
    )
    return out[_INSTANCE_COLUMNS]


# --------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------
def _summits(peaks: pd.DataFrame) -> np.ndarray:
    """Absolute summit of each peak: ``start + summit`` where known (>= 0), else the midpoint."""
    start = peaks["start"].to_numpy(dtype=np.int64)
    mid = (start + peaks["end"].to_numpy(dtype=np.int64)) // 2
    if "summit" not in peaks:
        return mid
    s = peaks["summit"].to_numpy(dtype=np.int64)
    return np.where(s >= 0, start + s, mid)


def contained(s: np.ndarray, e: np.ndarray, ps: np.ndarray, pe: np.ndarray) -> np.ndarray:
    """Whether each ``[s, e)`` lies inside some ``[ps, pe)``: the peaks starting at or before
    ``s`` must reach ``e``, i.e. the running maximum of their ends (peaks sorted by start)."""
    order = np.argsort(ps, kind="stable")
    ps, reach = ps[order], np.maximum.accumulate(pe[order])
    k = np.searchsorted(ps, s, side="right") - 1
    return (k >= 0) & (reach[np.maximum(k, 0)] >= e)


def overlapping(s: np.ndarray, e: np.ndarray, ps: np.ndarray, pe: np.ndarray) -> np.ndarray:
    """Whether each ``[s, e)`` overlaps some ``[ps, pe)``: ``#{ps < e} - #{pe <= s} > 0``."""
    return (np.searchsorted(np.sort(ps), e, side="left") - np.searchsorted(np.sort(pe), s, side="right")) > 0


def per_chrom(instances: pd.DataFrame, peaks: pd.DataFrame, fn) -> np.ndarray:
    out = np.zeros(len(instances), dtype=bool)
    ichrom = instances["chrom"].to_numpy()
    s = instances["start"].to_numpy(dtype=np.int64)
    e = instances["end"].to_numpy(dtype=np.int64)
    for chrom, idx in pd.Series(np.arange(len(peaks))).groupby(peaks["chrom"].to_numpy()).indices.items():
        sel = np.flatnonzero(ichrom == chrom)
        if sel.size:
            out[sel] = fn(s[sel], e[sel], peaks.iloc[idx])
    return out


def require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df]
    if missing:
        raise InputError(f"{what} lack column(s) {', '.join(missing)} (have: {', '.join(map(str, df.columns))})",
                         path=df.attrs.get("path"))


def label_instances(instances: pd.DataFrame, peaks: pd.DataFrame, *, summit_distance: int | None = None) -> np.ndarray:
    """Which motif instances are bound, from (ChIP-seq) peaks.

    Parameters
    ----------
    instances
        ``chrom, start, end`` of the sites (e.g. :func:`motif_instances`), ``n`` rows.
    peaks
        ``chrom, start, end`` and, for the summit rule, ``summit`` (narrowPeak offset from start,
        -1 when unknown; without it or at -1 the peak's midpoint ``(start + end) // 2`` is used).
    summit_distance
        ``None``: a site is bound iff it lies entirely inside a peak (``peak.start <= start`` and
        ``end <= peak.end``). An integer ``d >= 0``: iff the site's centre ``(start + end) // 2``
        lies within ``d`` bp of a peak summit (``|centre - summit| <= d``).

    Returns
    -------
    ``bool`` ``(n,)`` in input order. Vectorised per chromosome (sorted peak starts, a running
    maximum of ends and ``searchsorted``): ``O((n + p) log p)``.
    """
    require_columns(instances, ["chrom", "start", "end"], "instances")
    require_columns(peaks, ["chrom", "start", "end"], "peaks")
    if summit_distance is None:
        def fn(s, e, p):
            return contained(s, e, p["start"].to_numpy(dtype=np.int64), p["end"].to_numpy(dtype=np.int64))
    else:
        if int(summit_distance) != summit_distance or summit_distance < 0:
            raise InputError(f"summit_distance must be a whole number of bp >= 0, got {summit_distance}")
        d = int(summit_distance)

        def fn(s, e, p):
            summit = np.sort(_summits(p))
            centre = (s + e) // 2
            return np.searchsorted(summit, centre - d, side="left") < np.searchsorted(summit, centre + d, side="right")
    return per_chrom(instances, peaks, fn)


