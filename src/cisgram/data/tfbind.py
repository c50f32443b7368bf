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
:func:`tfbind_examples`
    The labelled context windows (default 1 kb) centred on the sites, oriented on the motif's
    strand, with a hold-out split and one of three negative sets. Returns
    :class:`TFBindExamples` (a table, the :class:`~cisgram.splits.Split`, the parameters).
:func:`instance_pool`, :func:`draw_examples`
    The same in two steps, for comparing negative sets: the scan, labels, windows and split
    once, then each negative set drawn from that pool (what ``cisgram tfbind`` does).
:func:`examples_dataset`
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
  ``"genomic"`` every (clean) unbound instance, the natural and heavily unbalanced set;
  ``"gc"`` unbound instances drawn so that their window GC matches the positives' histogram in
  every split (``gc_bins`` equal bins over [0, 1]), which removes GC as a shortcut;
  ``"open"`` unbound instances whose site lies inside an accessibility peak of the same cell type,
  which removes "open chromatin" as a shortcut (AgentBind's hardest control).
  ``ratio`` asks for that many negatives per positive in each split (a seeded draw; for ``"gc"``
  per GC bin, default 1:1); ``None`` keeps them all (``"genomic"``, ``"open"``).
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.data.windows import SequenceWindows, gc_bin, window_fractions
from cisgram.errors import InputError
from cisgram.genome import Genome, check_chromosomes
from cisgram.intervals import check_regions, read_regions
from cisgram.motifs.pwm import Motif, MotifSet, load_motifs, read_meme
from cisgram.motifs.scan import scan
from cisgram.splits import SPLITS, Split, make_split

log = logging.getLogger(__name__)

__all__ = [
    "NEGATIVES",
    "TFBindExamples",
    "examples_dataset",
    "label_instances",
    "motif_instances",
    "resolve_motif",
    "tfbind_examples",
]

NEGATIVES = ("genomic", "gc", "open")
MAX_N = 0.01  # largest fraction of N in a window
_GC_FINE = 8  # sub-bins per GC bin that the "gc" draw follows first
_SCAN_BASES = 8_000_000  # bases per scan() call in motif_instances
_INSTANCE_COLUMNS = ["chrom", "start", "end", "strand", "score", "p_value"]
_TABLE_COLUMNS = [
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


def _contained(s: np.ndarray, e: np.ndarray, ps: np.ndarray, pe: np.ndarray) -> np.ndarray:
    """Whether each ``[s, e)`` lies inside some ``[ps, pe)``: the peaks starting at or before
    ``s`` must reach ``e``, i.e. the running maximum of their ends (peaks sorted by start)."""
    order = np.argsort(ps, kind="stable")
    ps, reach = ps[order], np.maximum.accumulate(pe[order])
    k = np.searchsorted(ps, s, side="right") - 1
    return (k >= 0) & (reach[np.maximum(k, 0)] >= e)


def _overlapping(s: np.ndarray, e: np.ndarray, ps: np.ndarray, pe: np.ndarray) -> np.ndarray:
    """Whether each ``[s, e)`` overlaps some ``[ps, pe)``: ``#{ps < e} - #{pe <= s} > 0``."""
    return (np.searchsorted(np.sort(ps), e, side="left") - np.searchsorted(np.sort(pe), s, side="right")) > 0


def _per_chrom(instances: pd.DataFrame, peaks: pd.DataFrame, fn) -> np.ndarray:
    out = np.zeros(len(instances), dtype=bool)
    ichrom = instances["chrom"].to_numpy()
    s = instances["start"].to_numpy(dtype=np.int64)
    e = instances["end"].to_numpy(dtype=np.int64)
    for chrom, idx in pd.Series(np.arange(len(peaks))).groupby(peaks["chrom"].to_numpy()).indices.items():
        sel = np.flatnonzero(ichrom == chrom)
        if sel.size:
            out[sel] = fn(s[sel], e[sel], peaks.iloc[idx])
    return out


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
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
    _require(instances, ["chrom", "start", "end"], "instances")
    _require(peaks, ["chrom", "start", "end"], "peaks")
    if summit_distance is None:
        def fn(s, e, p):
            return _contained(s, e, p["start"].to_numpy(dtype=np.int64), p["end"].to_numpy(dtype=np.int64))
    else:
        if int(summit_distance) != summit_distance or summit_distance < 0:
            raise InputError(f"summit_distance must be a whole number of bp >= 0, got {summit_distance}")
        d = int(summit_distance)

        def fn(s, e, p):
            summit = np.sort(_summits(p))
            centre = (s + e) // 2
            return np.searchsorted(summit, centre - d, side="left") < np.searchsorted(summit, centre + d, side="right")
    return _per_chrom(instances, peaks, fn)


# --------------------------------------------------------------------------------------------
# Examples
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TFBindExamples:
    """What :func:`tfbind_examples` returns.

    table
        One row per example: ``name`` (``MOTIF:chrom:site_start-site_end:strand``), ``chrom,
        start, end`` (the window, 0-based half-open, ``window`` bp), ``strand`` (the site's,
        ``"+"``/``"-"``: the window is read on it), ``site_start, site_end, score, p_value`` (the
        site, forward-strand coordinates), ``label`` (int8, 1 bound / 0 unbound), ``split``
        (``"train"``/``"val"``/``"test"``) and ``gc`` (window GC among non-N bases). Sorted by
        chromosome and window start.
    split
        The :class:`~cisgram.splits.Split` the labels come from (store it beside the model).
    params
        JSON-safe description: the arguments, the motif, the input files and the counts of every
        filter step (``n_instances``, ``n_bound``, ``n_ambiguous``, ``n_dropped_edge``,
        ``n_dropped_n``, ``n_dropped_boundary``).
    """

    table: pd.DataFrame
    split: Split
    params: dict = field(default_factory=dict)

    def counts(self) -> pd.DataFrame:
        """Bound and unbound examples per split: index ``train, val, test``, columns ``bound,
        unbound``."""
        t = self.table
        out = pd.crosstab(t["split"], t["label"]).reindex(index=list(SPLITS), columns=[1, 0], fill_value=0)
        out.columns, out.index.name = ["bound", "unbound"], None
        return out


@dataclass(frozen=True)
class InstancePool:
    """Every labelled, window-checked instance of one motif: what :func:`instance_pool` finds
    once and :func:`draw_examples` draws each negative set from. ``instances`` (one row per
    non-ambiguous site, with ``label``), and per row ``wstart`` (window start), ``gc``,
    ``splits`` (train/val/test, or gap for windows that are dropped) and ``usable``."""

    motif: Motif
    instances: pd.DataFrame
    wstart: np.ndarray
    gc: np.ndarray
    splits: np.ndarray
    usable: np.ndarray
    split: Split
    params: dict
    chroms: list
    accessible: pd.DataFrame | None = None


def _read_peaks(peaks, genome: Genome, what: str) -> tuple[pd.DataFrame, str | None]:
    if isinstance(peaks, pd.DataFrame):
        df, path = peaks, peaks.attrs.get("path")
        _require(df, ["chrom", "start", "end"], what)
    else:
        df = read_regions(peaks)
        path = df.attrs["path"]
    check_regions(df, genome, path=path)  # unknown chromosomes or bounds: InputError naming the file
    return df, path


def _point_splits(split: Split, chrom: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The split of single bases ``chrom:pos``, each on its own (what ``split.assign`` gives a
    lone 1-bp interval), without the clustering of neighbours that ``assign`` applies."""
    if split.kind == "chroms":
        return split.assign(pd.DataFrame({"chrom": chrom, "start": pos, "end": pos + 1}))
    out = np.full(chrom.size, "gap", dtype=object)
    blocks = split.blocks
    for c in pd.unique(chrom):
        sel = np.flatnonzero(chrom == c)
        blk = blocks[blocks["chrom"] == c].sort_values("start")
        if blk.empty:
            split.assign(pd.DataFrame({"chrom": [c], "start": [0], "end": [1]}))  # raises its clear error
        bs, be, lab = (blk[k].to_numpy() for k in ("start", "end", "split"))
        k = np.searchsorted(bs.astype(np.int64), pos[sel], side="right") - 1
        inside = (k >= 0) & (pos[sel] < be[np.maximum(k, 0)])
        out[sel] = np.where(inside, lab[np.maximum(k, 0)], "gap")
    return out


def _subsample(idx: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    return idx if k >= idx.size else np.sort(rng.choice(idx, size=k, replace=False))


def _match_gc(pos_gc: np.ndarray, cand: np.ndarray, cand_gc: np.ndarray, bins: int, ratio: float | None,
              rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Draw candidates (indices ``cand``, GC ``cand_gc``) matching the GC histogram of ``pos_gc``.

    For every one of ``bins`` equal bins, ``k = count`` (or ``round(ratio * count)``) positives'
    worth of candidates from that bin, or all of them when fewer. Inside a bin the draw follows the
    positives at :data:`_GC_FINE` times finer resolution first, then fills up at random from the
    bin's other candidates, so the GC distributions match closely (KS ~ 0.05 at 100 positives)
    rather than only bin by bin. Returns the chosen indices and how many were missing.
    """
    fine = bins * _GC_FINE
    pbin, cbin = gc_bin(pos_gc, bins), gc_bin(cand_gc, bins)
    pfine, cfine = gc_bin(pos_gc, fine), gc_bin(cand_gc, fine)
    chosen, short = [], 0
    for b, n in zip(*np.unique(pbin, return_counts=True), strict=True):
        k = int(n) if ratio is None else round(ratio * int(n))
        here = np.flatnonzero(cbin == b)
        if k >= here.size:
            short += k - here.size
            chosen.append(cand[here])
            continue
        take = []
        for f, nf in zip(*np.unique(pfine[pbin == b], return_counts=True), strict=True):
            kf = int(nf) if ratio is None else round(ratio * int(nf))
            take.append(_subsample(here[cfine[here] == f], kf, rng))
        got = np.concatenate(take)
        if got.size > k:
            got = rng.choice(got, size=k, replace=False)
        elif got.size < k:
            rest = np.setdiff1d(here, got)
            got = np.concatenate([got, rng.choice(rest, size=k - got.size, replace=False)])
        chosen.append(cand[np.sort(got)])
    return (np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)), short


def _check_draw(negatives: str, has_accessible: bool, ratio: float | None, gc_bins: int) -> None:
    if negatives not in NEGATIVES:
        raise InputError(f"unknown negative set {negatives!r}; choose from {', '.join(NEGATIVES)}")
    if negatives == "open" and not has_accessible:
        raise InputError(
            "the 'open' negative set needs accessibility peaks (accessible=...)",
            hint="give the ATAC/DNase peaks of the ChIP's cell type, or use negatives='genomic' or 'gc'",
        )
    if ratio is not None and not ratio > 0:
        raise InputError(f"ratio must be > 0 negatives per positive, or None (got {ratio})")
    if int(gc_bins) != gc_bins or gc_bins < 1:
        raise InputError(f"gc_bins must be a positive integer, got {gc_bins}")


def tfbind_examples(
    genome: Genome | str | os.PathLike,
    motif: Motif | MotifSet | str,
    chip: str | os.PathLike | pd.DataFrame,
    *,
    negatives: str = "genomic",
    accessible: str | os.PathLike | pd.DataFrame | None = None,
    window: int = 1000,
    split: str | Split = "auto",
    chroms: Sequence[str] | None = None,
    threshold: float = 1e-4,
    summit_distance: int | None = None,
    ratio: float | None = None,
    seed: int = 0,
    gc_bins: int = 20,
    margin: int = 0,
    chunk: int = 1_000_000,
) -> TFBindExamples:
    """Bound and unbound motif instances as context windows, with a hold-out split.

    Parameters
    ----------
    genome
        A :class:`~cisgram.genome.Genome` or its path.
    motif
        The TF's motif (anything :func:`resolve_motif` takes: ``"MA0139"``, a MEME file, …).
    chip
        ChIP-seq peaks (narrowPeak/BED path, or a DataFrame ``chrom, start, end[, summit]``).
    negatives
        ``"genomic"``, ``"gc"`` or ``"open"`` (see the module docstring).
    accessible
        Accessibility peaks of the same cell type (path or DataFrame); needed for ``"open"``.
    window
        Window length in bp, centred on the site's centre.
    split
        A :func:`~cisgram.splits.make_split` spec (``"auto"``, ``"chroms"``, ``"blocks:1Mb"``,
        ``"chroms:chr8/chr9"``), made from the positives' windows with ``seed``; or a
        :class:`~cisgram.splits.Split`.
    chroms
        Chromosomes to scan (default all of the genome's).
    threshold
        P-value threshold of the motif scan.
    summit_distance
        Label rule (see :func:`label_instances`).
    ratio
        Negatives per positive in each split (a seeded draw); ``None`` keeps every negative
        (``"gc"``: one per positive in each GC bin).
    seed
        Seed of the split and of every draw.
    gc_bins
        Equal-width GC bins over [0, 1] for ``"gc"``.
    margin
        Bases on each side of the window that must also lie inside the chromosome and in the
        window's split (use the training ``jitter``).
    chunk
        Scanning chunk (see :func:`motif_instances`).

    Returns
    -------
    :class:`TFBindExamples`.

    Raises
    ------
    InputError
        Unknown strategy, ``"open"`` without ``accessible``, peaks on chromosomes the genome lacks,
        no bound instance, or no positive or negative left after the filters.
    """
    _check_draw(negatives, accessible is not None, ratio, gc_bins)  # before the scan, not after it
    pool = instance_pool(genome, motif, chip, accessible=accessible, window=window, split=split, chroms=chroms,
                         threshold=threshold, summit_distance=summit_distance, seed=seed, margin=margin, chunk=chunk)
    return draw_examples(pool, negatives, ratio=ratio, seed=seed, gc_bins=gc_bins)


def instance_pool(
    genome: Genome | str | os.PathLike,
    motif: Motif | MotifSet | str,
    chip: str | os.PathLike | pd.DataFrame,
    *,
    accessible: str | os.PathLike | pd.DataFrame | None = None,
    window: int = 1000,
    split: str | Split = "auto",
    chroms: Sequence[str] | None = None,
    threshold: float = 1e-4,
    summit_distance: int | None = None,
    seed: int = 0,
    margin: int = 0,
    chunk: int = 1_000_000,
) -> InstancePool:
    """The part of :func:`tfbind_examples` every negative set shares, done once: the scan, the
    labels, the windows and their GC, and the split (arguments as there). Draw each negative set
    from it with :func:`draw_examples`."""
    if int(window) != window or window < 1 or int(margin) != margin or margin < 0:
        raise InputError(f"window must be a positive and margin a non-negative number of bp (got {window}, {margin})")
    window, margin = int(window), int(margin)
    genome = genome if isinstance(genome, Genome) else Genome(genome)
    m, bg = resolve_motif(motif)
    chip_df, chip_path = _read_peaks(chip, genome, "ChIP peaks")
    acc_df, acc_path = _read_peaks(accessible, genome, "accessibility peaks") if accessible is not None else (None, None)
    chroms = list(genome.sizes) if chroms is None else list(dict.fromkeys(chroms))
    check_chromosomes(chroms, genome.sizes, path=genome.path, against=f"the genome {genome.path.name}")
    where = chip_path or "ChIP peaks"

    # sites and labels
    inst = motif_instances(genome, m, chroms=chroms, threshold=threshold, chunk=chunk, background=bg)
    if inst.empty:
        raise InputError(
            f"motif {m.name} ({m.alt_name or '-'}) has no site at p < {threshold:g} on {', '.join(chroms[:5])}",
            path=genome.path,
            hint="raise the p-value threshold (e.g. 1e-3), or check the motif (its width is "
            f"{m.width}: short motifs cannot reach small p-values)",
        )
    bound = label_instances(inst, chip_df, summit_distance=summit_distance)
    if not bound.any():
        raise InputError(
            f"no bound instance: none of the {len(inst):,} {m.name} ({m.alt_name or '-'}) sites at p < {threshold:g} "
            + ("lies inside a ChIP peak" if summit_distance is None else f"lies within {summit_distance} bp of a summit"),
            path=where,
            hint="lower the threshold stringency (e.g. 1e-3), check that the motif is the ChIP'd factor's, "
            "and that the peaks and the genome are the same assembly",
        )
    ambiguous = ~bound & _per_chrom(
        inst, chip_df, lambda s, e, p: _overlapping(s, e, p["start"].to_numpy(dtype=np.int64), p["end"].to_numpy(dtype=np.int64))
    )
    inst = inst.assign(label=bound.astype(np.int8))[~ambiguous].reset_index(drop=True)

    # windows: inside the chromosome (with margin), at most 1% N
    site_s, site_e = inst["start"].to_numpy(dtype=np.int64), inst["end"].to_numpy(dtype=np.int64)
    wstart = (site_s + site_e) // 2 - window // 2
    size = inst["chrom"].map(genome.sizes).to_numpy(dtype=np.int64)
    inside = (wstart - margin >= 0) & (wstart + window + margin <= size)
    gc = np.full(len(inst), np.nan)
    nfrac = np.ones(len(inst))
    ichrom = inst["chrom"].to_numpy()
    for c in pd.unique(ichrom):
        sel = np.flatnonzero((ichrom == c) & inside)
        if sel.size:
            gc[sel], nfrac[sel] = window_fractions(genome.chromosome_codes(c), wstart[sel], window)
    clean = inside & (nfrac <= MAX_N) & ~np.isnan(gc)
    counts = {
        "n_instances": int(len(inst) + ambiguous.sum()),
        "n_bound": int(bound.sum()),
        "n_ambiguous": int(ambiguous.sum()),
        "n_dropped_edge": int((~inside).sum()),
        "n_dropped_n": int((inside & ~clean).sum()),
    }

    # the split, and windows that would cross it
    labels = inst["label"].to_numpy()
    if isinstance(split, Split):
        the_split, spec = split, "given"
    else:
        pos = clean & (labels == 1)
        if not pos.any():
            raise InputError(f"no bound instance left: every bound site's {window} bp window leaves its chromosome or "
                             f"has more than {MAX_N:.0%} N", path=where, hint="use a shorter window")
        regions = pd.DataFrame({"chrom": ichrom[pos], "start": wstart[pos], "end": wstart[pos] + window})
        the_split, spec = make_split(regions, {c: genome.sizes[c] for c in chroms}, str(split), seed=seed), str(split)
    sp = np.full(len(inst), "gap", dtype=object)
    idx = np.flatnonzero(clean)
    first = _point_splits(the_split, ichrom[idx], wstart[idx] - margin)
    last = _point_splits(the_split, ichrom[idx], wstart[idx] + window - 1 + margin)
    sp[idx] = np.where(first == last, first, "gap")
    ok = clean & np.isin(sp, SPLITS)
    counts["n_dropped_boundary"] = int((clean & ~ok).sum())

    params = {
        "motif": m.name, "motif_name": m.alt_name, "motif_source": m.source, "motif_width": m.width,
        "chip": None if chip_path is None else str(chip_path),
        "accessible": None if acc_path is None else str(acc_path),
        "genome": str(genome.path), "window": window, "split": spec, "chroms": chroms,
        "threshold": float(threshold), "summit_distance": summit_distance, "margin": margin, **counts,
    }
    return InstancePool(m, inst, wstart, gc, sp, ok, the_split, params, chroms, acc_df)


def draw_examples(pool: InstancePool, negatives: str = "genomic", *, ratio: float | None = None, seed: int = 0,
                  gc_bins: int = 20) -> TFBindExamples:
    """One negative set drawn from an :class:`InstancePool` (``negatives``, ``ratio``, ``seed``
    and ``gc_bins`` as in :func:`tfbind_examples`; the same seed gives the same draw)."""
    tick = time.perf_counter()
    _check_draw(negatives, pool.accessible is not None, ratio, gc_bins)
    gc_bins = int(gc_bins)
    m, inst, wstart, gc, sp, ok = pool.motif, pool.instances, pool.wstart, pool.gc, pool.splits, pool.usable
    acc_df, chroms, window = pool.accessible, pool.chroms, pool.params["window"]
    labels = inst["label"].to_numpy()
    counts = {k: v for k, v in pool.params.items() if k.startswith("n_")}
    spec = pool.params["split"]
    where = pool.params["chip"] or "ChIP peaks"
    acc_path = pool.params["accessible"]

    # positives and negatives
    rng = np.random.default_rng(seed)
    pos_idx = np.flatnonzero(ok & (labels == 1))
    unbound = ok & (labels == 0)
    if negatives == "open":
        acc = _per_chrom(inst, acc_df, lambda s, e, p: _contained(
            s, e, p["start"].to_numpy(dtype=np.int64), p["end"].to_numpy(dtype=np.int64)))
        counts["n_unbound_closed"] = int((unbound & ~acc).sum())
        unbound &= acc
    chosen = []
    short = 0
    for s in SPLITS:
        n_pos = int(np.count_nonzero(sp[pos_idx] == s))
        cand = np.flatnonzero(unbound & (sp == s))
        if negatives == "gc":
            got, missing = _match_gc(gc[pos_idx[sp[pos_idx] == s]], cand, gc[cand], gc_bins, ratio, rng)
            chosen.append(got)
            short += missing
        elif ratio is not None:
            k = round(ratio * n_pos)
            short += max(0, k - cand.size)
            chosen.append(_subsample(cand, k, rng))
        else:
            chosen.append(cand)
    if short:
        log.warning("%s negatives: %d fewer than asked for (too few unbound instances in some split%s)",
                    negatives, short, " or GC bin" if negatives == "gc" else "")
    neg_idx = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    if pos_idx.size == 0 or neg_idx.size == 0:
        what = "bound" if pos_idx.size == 0 else f"unbound ({negatives})"
        raise InputError(
            f"no {what} example left after filtering ({counts}, split {spec})",
            path=acc_path if (negatives == "open" and pos_idx.size) else where,
            hint="check the accessibility peaks (same genome and cell type)" if negatives == "open" and pos_idx.size
            else "lower the threshold stringency, scan more chromosomes, or use a shorter window or a chromosome split",
        )

    keep = np.sort(np.concatenate([pos_idx, neg_idx]))
    t = inst.iloc[keep]
    ws = wstart[keep]
    table = pd.DataFrame({
        "name": (m.name + ":" + t["chrom"] + ":" + t["start"].astype(str) + "-" + t["end"].astype(str) + ":" + t["strand"]).to_numpy(),
        "chrom": t["chrom"].to_numpy(),
        "start": ws,
        "end": ws + window,
        "strand": t["strand"].to_numpy(),
        "site_start": t["start"].to_numpy(dtype=np.int64),
        "site_end": t["end"].to_numpy(dtype=np.int64),
        "score": t["score"].to_numpy(),
        "p_value": t["p_value"].to_numpy(),
        "label": t["label"].to_numpy(dtype=np.int8),
        "split": sp[keep],
        "gc": gc[keep],
    })[_TABLE_COLUMNS]
    rank = {c: i for i, c in enumerate(chroms)}
    table = table.iloc[np.lexsort((table["start"].to_numpy(), table["chrom"].map(rank).to_numpy()))].reset_index(drop=True)
    params = {**pool.params, "negatives": negatives, "ratio": None if ratio is None else float(ratio),
              "seed": int(seed), "gc_bins": gc_bins, **counts}
    ex = TFBindExamples(table, pool.split, params)
    c = ex.counts()
    log.info("%s %s examples in %.1f s: %s", m.name, negatives, time.perf_counter() - tick,
             "; ".join(f"{s} {c.at[s, 'bound']}+/{c.at[s, 'unbound']}-" for s in SPLITS))
    return ex


def examples_dataset(
    ex: TFBindExamples,
    genome: Genome | str | os.PathLike,
    *,
    jitter: int = 0,
    rc: bool = False,
    seed: int = 0,
    rows: np.ndarray | pd.Series | Sequence | None = None,
) -> SequenceWindows:
    """The examples' windows as a training dataset, read on the motif's strand.

    Parameters
    ----------
    ex
        From :func:`tfbind_examples`.
    genome
        The genome the examples were made on.
    jitter, rc, seed
        Augmentation (see :class:`~cisgram.data.windows.SequenceWindows`): random shifts of up to
        ``jitter`` bp and, with ``rc``, a reverse complement of half the items (applied after the
        orientation, so it flips minus-strand items back half the time).
    rows
        Which examples: a boolean mask ``(n,)`` (e.g. ``ex.table["split"] == "train"``) or integer
        positions; default all.

    Returns
    -------
    :class:`~cisgram.data.windows.SequenceWindows` of ``n_rows`` items ``(x, y)``: ``x`` float32
    ``(4, window)``, the window reverse-complemented for minus-strand sites; ``y`` float32
    ``(1,)``, the label.

    Notes
    -----
    With ``jitter`` larger than the examples' ``margin`` a shifted window can reach up to
    ``jitter - margin`` bp over a hold-out boundary; build the examples with ``margin=jitter``.
    """
    t = ex.table
    if rows is not None:
        r = np.asarray(rows)
        t = t[r] if r.dtype == bool else t.iloc[r]
    widths = (t["end"] - t["start"]).to_numpy(dtype=np.int64)
    window = int(ex.params.get("window", widths[0] if widths.size else 1))
    if widths.size and np.any(widths != window):
        raise InputError("examples of different window lengths", hint="make the examples with tfbind_examples")
    if jitter > ex.params.get("margin", 0):
        log.warning("jitter %d exceeds the examples' margin %d: shifted windows may cross a hold-out boundary",
                    jitter, ex.params.get("margin", 0))
    centre = t["start"].to_numpy(dtype=np.int64) + window // 2
    return SequenceWindows(
        genome, t["chrom"].to_numpy(), centre, window, t["label"].to_numpy(dtype=np.float32).reshape(-1, 1),
        jitter=jitter, rc=rc, seed=seed, strand=t["strand"].to_numpy(),
    )
