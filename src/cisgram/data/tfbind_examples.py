"""Bound and unbound motif instances as training examples (``cisgram tfbind``): the instance pool
of one motif with its labels, windows and split (:func:`instance_pool`), each negative set drawn
from it (:func:`draw_examples`: ``standard``, ``gc``, ``genomic``, ``open``, ``open-negatives``), and the oriented one-hot windows a
network reads (:func:`examples_dataset`; with ``block_core`` the core site is N,
:class:`BlockedWindows`, AgentBind's blocked condition). See :mod:`cisgram.data.tfbind` for the instances and
labels and the rules both follow."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from cisgram.data.tfbind import (
    MAX_N,
    NEGATIVES,
    TABLE_COLUMNS,
    contained,
    label_instances,
    motif_instances,
    overlapping,
    per_chrom,
    require_columns,
    resolve_motif,
)
from cisgram.data.windows import SequenceWindows, gc_bin, item_index, window_fractions
from cisgram.errors import InputError
from cisgram.genome import Genome, check_chromosomes
from cisgram.intervals import check_regions, read_regions
from cisgram.motifs.pwm import Motif, MotifSet
from cisgram.splits import SPLITS, Split, make_split

log = logging.getLogger(__name__)


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
        require_columns(df, ["chrom", "start", "end"], what)
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


def _match_pvalue(pos: np.ndarray, pos_lp: np.ndarray, cand: np.ndarray, cand_lp: np.ndarray, width: float,
                  ratio: float | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int, int, int]:
    """AgentBind's standard negatives, balanced within ``width``-wide bins of −log10 p: for every
    bin holding positives (indices ``pos``, ``pos_lp``), ``round(ratio * count)`` (default
    ``count``) candidates of that bin. A bin with too few candidates keeps them all and only as
    many positives as they balance (``floor(candidates / ratio)``, a seeded draw), so the classes
    have the same p-values in every bin. Returns the positives and candidates kept, the number of
    positives left out, of bins with positives, and of bins that fell short."""
    r = 1.0 if ratio is None else float(ratio)
    pbin, cbin = np.floor(pos_lp / width).astype(np.int64), np.floor(cand_lp / width).astype(np.int64)
    keep, chosen, dropped, n_short = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)], 0, 0
    bins = np.unique(pbin)
    for b in bins:
        mine, here = np.flatnonzero(pbin == b), np.flatnonzero(cbin == b)
        n = mine.size if round(r * mine.size) <= here.size else int(np.floor(here.size / r + 1e-9))
        if n < mine.size:
            dropped, n_short = dropped + mine.size - n, n_short + 1
        keep.append(pos[_subsample(mine, n, rng)])
        chosen.append(cand[_subsample(here, round(r * n), rng)])
    return np.concatenate(keep), np.concatenate(chosen), dropped, int(bins.size), n_short


def _check_draw(negatives: str, has_accessible: bool, ratio: float | None, gc_bins: int,
                pvalue_bin: float = 0.1) -> None:
    if negatives not in NEGATIVES:
        raise InputError(f"unknown negative set {negatives!r}; choose from {', '.join(NEGATIVES)}")
    if negatives in ("open", "open-negatives") and not has_accessible:
        raise InputError(
            f"the {negatives!r} negative set needs accessibility peaks (accessible=...)",
            hint="give the ATAC/DNase peaks of the ChIP's cell type, or use negatives='standard', 'gc' or 'genomic'",
        )
    if ratio is not None and not ratio > 0:
        raise InputError(f"ratio must be > 0 negatives per positive, or None (got {ratio})")
    if int(gc_bins) != gc_bins or gc_bins < 1:
        raise InputError(f"gc_bins must be a positive integer, got {gc_bins}")
    if not pvalue_bin > 0:
        raise InputError(f"pvalue_bin must be a positive width in -log10 p, got {pvalue_bin}")


def tfbind_examples(
    genome: Genome | str | os.PathLike,
    motif: Motif | MotifSet | str,
    chip: str | os.PathLike | pd.DataFrame,
    *,
    negatives: str = "standard",
    accessible: str | os.PathLike | pd.DataFrame | None = None,
    window: int = 1000,
    split: str | Split = "auto",
    chroms: Sequence[str] | None = None,
    threshold: float = 1e-4,
    summit_distance: int | None = None,
    ratio: float | None = None,
    seed: int = 0,
    gc_bins: int = 20,
    pvalue_bin: float = 0.1,
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
        ``"standard"``, ``"gc"``, ``"genomic"``, ``"open"`` or ``"open-negatives"`` (see
        :mod:`cisgram.data.tfbind`).
    accessible
        Accessibility peaks of the same cell type (path or DataFrame); needed for ``"open"`` and
        ``"open-negatives"``.
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
        (``"gc"``, ``"standard"``: one per positive in each GC or p-value bin).
    seed
        Seed of the split and of every draw.
    gc_bins
        Equal-width GC bins over [0, 1] for ``"gc"``.
    pvalue_bin
        Width of the ``"standard"`` bins in −log10 p (AgentBind's 0.1).
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
        no bound instance, no positive or negative left after the filters, or ``"standard"``
        with too few unbound instances in every p-value bin.
    """
    _check_draw(negatives, accessible is not None, ratio, gc_bins, pvalue_bin)  # before the scan, not after it
    pool = instance_pool(genome, motif, chip, accessible=accessible, window=window, split=split, chroms=chroms,
                         threshold=threshold, summit_distance=summit_distance, seed=seed, margin=margin, chunk=chunk)
    return draw_examples(pool, negatives, ratio=ratio, seed=seed, gc_bins=gc_bins, pvalue_bin=pvalue_bin)


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
    ambiguous = ~bound & per_chrom(
        inst, chip_df, lambda s, e, p: overlapping(s, e, p["start"].to_numpy(dtype=np.int64), p["end"].to_numpy(dtype=np.int64))
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


def draw_examples(pool: InstancePool, negatives: str = "standard", *, ratio: float | None = None, seed: int = 0,
                  gc_bins: int = 20, pvalue_bin: float = 0.1) -> TFBindExamples:
    """One negative set drawn from an :class:`InstancePool` (``negatives``, ``ratio``, ``seed``,
    ``gc_bins`` and ``pvalue_bin`` as in :func:`tfbind_examples`; the same seed gives the same
    draw)."""
    tick = time.perf_counter()
    _check_draw(negatives, pool.accessible is not None, ratio, gc_bins, pvalue_bin)
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
    if negatives in ("open", "open-negatives"):
        acc = per_chrom(inst, acc_df, lambda s, e, p: contained(
            s, e, p["start"].to_numpy(dtype=np.int64), p["end"].to_numpy(dtype=np.int64)))
        counts["n_unbound_closed"] = int((unbound & ~acc).sum())
        unbound &= acc
        if negatives == "open":  # AgentBind's control: the bound instances too
            counts["n_bound_closed"] = int((~acc[pos_idx]).sum())
            pos_idx = pos_idx[acc[pos_idx]]
    lp = -np.log10(np.maximum(inst["p_value"].to_numpy(dtype=np.float64), 1e-300))
    chosen, kept_pos = [], []
    short = unmatched = n_bins = n_bins_short = 0
    for s in SPLITS:
        n_pos = int(np.count_nonzero(sp[pos_idx] == s))
        cand = np.flatnonzero(unbound & (sp == s))
        if negatives == "gc":
            got, missing = _match_gc(gc[pos_idx[sp[pos_idx] == s]], cand, gc[cand], gc_bins, ratio, rng)
            chosen.append(got)
            short += missing
        elif negatives == "standard":
            mine = pos_idx[sp[pos_idx] == s]
            kept, got, missing, nb, ns = _match_pvalue(mine, lp[mine], cand, lp[cand], pvalue_bin, ratio, rng)
            kept_pos.append(kept)
            chosen.append(got)
            unmatched, n_bins, n_bins_short = unmatched + missing, n_bins + nb, n_bins_short + ns
        elif ratio is not None:
            k = round(ratio * n_pos)
            short += max(0, k - cand.size)
            chosen.append(_subsample(cand, k, rng))
        else:
            chosen.append(cand)
    if short:
        log.warning("%s negatives: %d fewer than asked for (too few unbound instances in some split%s)",
                    negatives, short, " or GC bin" if negatives == "gc" else "")
    counts["n_short"] = int(short)
    if negatives == "standard":
        counts |= {"n_bound_unmatched": unmatched, "n_pvalue_bins": n_bins, "n_pvalue_bins_short": n_bins_short}
        if unmatched:
            log.warning("standard negatives: %d of %d p-value bins (per split) hold too few unbound instances; their "
                        "%d surplus bound instances are left out", n_bins_short, n_bins, unmatched)
        if n_bins and n_bins_short == n_bins and pos_idx.size:
            raise InputError(f"standard negatives: every one of the {n_bins} p-value bins of the bound instances "
                             f"has fewer unbound instances than {ratio or 1:g} per bound one", path=where,
                             hint="lower --ratio, widen --pvalue-bin, scan more chromosomes, or use --negatives genomic")
        pos_idx = np.sort(np.concatenate(kept_pos))
    neg_idx = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    if pos_idx.size == 0 or neg_idx.size == 0:
        what = "bound" if pos_idx.size == 0 else f"unbound ({negatives})"
        raise InputError(
            f"no {what} example left after filtering ({counts}, split {spec})",
            path=acc_path if (negatives.startswith("open") and (pos_idx.size or negatives == "open")) else where,
            hint="check the accessibility peaks (same genome and cell type)" if negatives.startswith("open")
            and (pos_idx.size or negatives == "open") else "lower the threshold stringency, scan more chromosomes, or use a shorter window or a chromosome split",
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
    })[TABLE_COLUMNS]
    rank = {c: i for i, c in enumerate(chroms)}
    table = table.iloc[np.lexsort((table["start"].to_numpy(), table["chrom"].map(rank).to_numpy()))].reset_index(drop=True)
    params = {**pool.params, "negatives": negatives, "ratio": None if ratio is None else float(ratio),
              "seed": int(seed), "gc_bins": gc_bins, "pvalue_bin": float(pvalue_bin), **counts}
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
    block_core: bool = False,
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
    block_core
        Replace each example's core site (``site_start``-``site_end``) by N, all-zero one-hot
        columns, wherever jitter and orientation put it (AgentBind's "blocked" condition 'b'):
        a :class:`BlockedWindows`.

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
    args = (genome, t["chrom"].to_numpy(), centre, window, t["label"].to_numpy(dtype=np.float32).reshape(-1, 1))
    kw = {"jitter": jitter, "rc": rc, "seed": seed, "strand": t["strand"].to_numpy()}
    if block_core:
        return BlockedWindows(*args, site_start=t["site_start"].to_numpy(), site_end=t["site_end"].to_numpy(), **kw)
    return SequenceWindows(*args, **kw)


class BlockedWindows(SequenceWindows):
    """:class:`~cisgram.data.windows.SequenceWindows` whose items hold N (all-zero one-hot
    columns) over each example's core site ``[site_start, site_end)`` (forward-strand genome
    coordinates), wherever the item's shift and orientation put it."""

    def __init__(self, *args, site_start: np.ndarray, site_end: np.ndarray, **kw):
        super().__init__(*args, **kw)
        self.site_start = np.asarray(site_start, dtype=np.int64).reshape(-1)
        self.site_end = np.asarray(site_end, dtype=np.int64).reshape(-1)
        if self.site_start.size != len(self) or self.site_end.size != len(self):
            raise InputError(f"{self.site_start.size} core sites for {len(self)} windows")

    def __getitem__(self, i) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = super().__getitem__(i)
        i = item_index(i, len(self))
        w = self.window(i)
        lo = int(np.clip(self.site_start[i] - w.start, 0, self.length))
        hi = int(np.clip(self.site_end[i] - w.start, 0, self.length))
        if w.reverse:  # the item was read backwards: forward position p is column length - 1 - p
            lo, hi = self.length - hi, self.length - lo
        x[:, lo:hi] = 0
        return x, y


_GC_FINE = 8  # sub-bins per GC bin that the "gc" draw follows first
