"""Explicit hold-outs: whole chromosomes, or contiguous genome blocks when there are few.

A :class:`Split` is data: it is stored as ``split.json`` beside a dataset and every model
trained on it, and :meth:`Split.assign` labels any region set (the training regions, or new
ones later) ``"train"``, ``"val"`` or ``"test"`` the same way.

- ``chroms``: regions on the test (val) chromosomes are test (val), all others train. The
  default when regions lie on 5 or more chromosomes.
- ``blocks``: each chromosome is tiled into equal blocks of at least ``block_size`` bp, and
  whole blocks are drawn (seeded) for test and val until they hold the requested fractions of the
  regions. Regions that overlap or touch (within ``gap`` bp) form one cluster, and a cluster goes
  wholly to the block of its first base, so overlapping or adjacent regions never sit on both
  sides of a boundary. Clusters longer than a block (tiled regions chain along a chromosome) are
  cut at the block boundaries instead, and the few regions touching across a boundary between
  different splits are labelled ``"gap"`` and left out of every split. Never a random split per
  region: neighbouring regions leak.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.files import atomic_write, require_file
from cisgram.intervals import cluster_ids

SPLITS = ("train", "val", "test")
GAP = "gap"  # regions cut out between blocks of different splits (tiled regions only)
MIN_BLOCK = 1_000_000


@dataclass(frozen=True)
class Split:
    """A hold-out design. ``kind`` is ``"chroms"`` or ``"blocks"``.

    For ``chroms``: ``test_chroms`` and ``val_chroms``. For ``blocks``: ``blocks``, a table
    ``chrom, start, end, split`` tiling every chromosome, and ``gap`` (the clustering distance).
    """

    kind: str
    seed: int = 0
    test_chroms: tuple[str, ...] = ()
    val_chroms: tuple[str, ...] = ()
    blocks: pd.DataFrame | None = field(default=None, compare=False)
    block_size: int | None = None
    gap: int = 0

    def assign(self, regions: pd.DataFrame) -> np.ndarray:
        """Label each region ``"train"``, ``"val"`` or ``"test"`` (and, for tiled regions that
        chain across block boundaries, ``"gap"`` at the cuts); ``(n,)`` object array in input order."""
        chrom = regions["chrom"].to_numpy()
        if self.kind == "chroms":
            out = np.full(chrom.size, "train", dtype=object)
            out[np.isin(chrom, list(self.val_chroms))] = "val"
            out[np.isin(chrom, list(self.test_chroms))] = "test"
            return out
        return self._assign_blocks(regions)

    def _assign_blocks(self, regions: pd.DataFrame) -> np.ndarray:
        b = self.blocks
        unknown = sorted(set(regions["chrom"]) - set(b["chrom"]))
        if unknown:
            raise InputError(
                f"regions on chromosome(s) the block split does not cover: {', '.join(unknown[:5])}",
                hint="make the split from chromosome sizes that include every region's chromosome",
            )
        order = np.lexsort((regions["start"].to_numpy(), regions["chrom"].to_numpy()))
        chrom = regions["chrom"].to_numpy()[order]
        start = regions["start"].to_numpy(dtype=np.int64)[order]
        end = regions["end"].to_numpy(dtype=np.int64)[order]
        cid = cluster_ids(chrom, start, end, gap=self.gap)
        own = self._block_labels(chrom, start)  # the split of the block holding each region's start
        first = np.r_[0, np.flatnonzero(np.diff(cid)) + 1]  # first (leftmost) region of each cluster
        labels = own[first][cid]  # a cluster goes wholly to the block of its first base
        # Clusters longer than a block (tiled regions chain along the chromosome) are cut at block
        # boundaries instead: regions keep their own block, and the touching pairs that straddle
        # a train/val/test boundary become "gap" (in no split), so no neighbours leak.
        span_end = pd.Series(end).groupby(cid).transform("max").to_numpy()
        long = (span_end - start[first][cid]) > (self.block_size or 0)
        if long.any():
            labels = np.where(long, own, labels).astype(object)
            labels[self._cut_at_boundaries(chrom, start, end, long, labels)] = GAP
        out = np.empty(chrom.size, dtype=object)
        out[order] = labels
        return out

    def _cut_at_boundaries(self, chrom, start, end, long, labels) -> np.ndarray:
        """Indices (into the sorted arrays) of long-cluster regions that touch a region across a
        boundary between blocks of different splits: those reaching the boundary from the left,
        and those starting within ``gap`` bp of the furthest such end on the right."""
        cut: list[np.ndarray] = []
        for c, blk in self.blocks.groupby("chrom", sort=False):
            sel = np.flatnonzero((chrom == c) & long)
            if sel.size == 0:
                continue
            s, e = start[sel], end[sel]
            run = np.maximum.accumulate(e)  # furthest end among regions up to here
            sp = blk["split"].to_numpy()
            for bpos in blk["start"].to_numpy()[1:][sp[1:] != sp[:-1]]:
                k = np.searchsorted(s, bpos, side="left") - 1  # last region starting left of bpos
                if k < 0 or run[k] + self.gap < bpos:
                    continue  # nothing on the left reaches the boundary
                j = k
                while j >= 0 and run[j] + self.gap >= bpos:  # walk back while something may reach
                    if e[j] + self.gap >= bpos:
                        cut.append(sel[j : j + 1])
                    j -= 1
                hi = np.searchsorted(s, run[k] + self.gap, side="right")
                cut.append(sel[k + 1 : hi])
        return np.concatenate(cut) if cut else np.zeros(0, dtype=np.int64)

    def _block_labels(self, chrom: np.ndarray, start: np.ndarray) -> np.ndarray:
        labels = np.empty(chrom.size, dtype=object)
        for c, blk in self.blocks.groupby("chrom", sort=False):
            sel = np.flatnonzero(chrom == c)
            if sel.size == 0:
                continue
            k = np.searchsorted(blk["start"].to_numpy(), start[sel], side="right") - 1
            labels[sel] = blk["split"].to_numpy()[np.clip(k, 0, len(blk) - 1)]
        return labels

    # -- storage ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {"kind": self.kind, "seed": self.seed}
        if self.kind == "chroms":
            d.update(test_chroms=list(self.test_chroms), val_chroms=list(self.val_chroms))
        else:
            d.update(
                block_size=self.block_size,
                gap=self.gap,
                blocks=[[c, int(s), int(e), sp] for c, s, e, sp in self.blocks[["chrom", "start", "end", "split"]].itertuples(index=False)],
            )
        return d

    @classmethod
    def from_dict(cls, d: dict, *, path=None) -> Split:
        try:
            if d["kind"] == "chroms":
                return cls("chroms", seed=d.get("seed", 0), test_chroms=tuple(d["test_chroms"]), val_chroms=tuple(d["val_chroms"]))
            if d["kind"] == "blocks":
                blocks = pd.DataFrame(d["blocks"], columns=["chrom", "start", "end", "split"])
                return cls("blocks", seed=d.get("seed", 0), blocks=blocks, block_size=d["block_size"], gap=d.get("gap", 0))
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"malformed split description ({e!r})", path=path) from None
        raise InputError(f"unknown split kind {d.get('kind')!r} (expected 'chroms' or 'blocks')", path=path)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``split.json`` (one block per line, so the file stays readable)."""
        d = self.to_dict()
        blocks = d.pop("blocks", None)
        text = json.dumps(d, indent=1)
        if blocks is not None:
            rows = ",\n  ".join(json.dumps(b) for b in blocks)
            text = text[:-2] + ',\n "blocks": [\n  ' + rows + "\n ]\n}"
        with atomic_write(path) as fh:
            fh.write(text + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Split:
        p = require_file(path, "split file")
        try:
            d = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise InputError(f"not valid JSON ({e})", path=p) from None
        return cls.from_dict(d, path=p)


def _draw(weights: dict, fracs: tuple[float, float], rng: np.random.Generator) -> tuple[list, list]:
    """Draw keys in a seeded random order into test, then val, until each holds its fraction of
    the total weight. Keys with zero weight are drawn too but fill nothing."""
    keys = list(weights)
    total = float(sum(weights.values()))
    order = [keys[i] for i in rng.permutation(len(keys))]
    test, val, acc_t, acc_v = [], [], 0.0, 0.0
    for k in order:
        if acc_t < fracs[0] * total:
            test.append(k)
            acc_t += weights[k]
        elif acc_v < fracs[1] * total:
            val.append(k)
            acc_v += weights[k]
    return test, val


def chrom_split(
    regions: pd.DataFrame,
    *,
    test: list[str] | None = None,
    val: list[str] | None = None,
    test_frac: float = 0.1,
    val_frac: float = 0.1,
    seed: int = 0,
) -> Split:
    """Whole-chromosome hold-out. Give ``test``/``val`` chromosomes, or let them be drawn (seeded)
    until each holds about ``test_frac``/``val_frac`` of the regions."""
    counts = regions["chrom"].value_counts().to_dict()
    for name, given in (("test", test), ("val", val)):
        missing = sorted(set(given or []) - set(counts))
        if missing:
            raise InputError(
                f"{name} chromosome(s) {', '.join(missing)} hold no regions (regions are on {', '.join(list(counts)[:8])}…)",
                hint="name chromosomes as the regions do",
            )
    if test is None or val is None:
        pool = {c: n for c, n in counts.items() if c not in set(test or []) | set(val or [])}
        drawn_t, drawn_v = _draw(pool, (test_frac if test is None else 0.0, val_frac if val is None else 0.0), np.random.default_rng(seed))
        test = test if test is not None else drawn_t
        val = val if val is not None else drawn_v
    if set(test) & set(val):
        raise InputError(f"chromosome(s) {sorted(set(test) & set(val))} are in both test and val")
    if not test or len(set(test) | set(val)) >= len(counts):
        raise InputError(
            f"cannot hold out whole chromosomes: the regions lie on {len(counts)} chromosome(s)",
            hint="use a block split (split='blocks:1000000') for genomes or region sets with few chromosomes",
        )
    return Split("chroms", seed=seed, test_chroms=tuple(test), val_chroms=tuple(val))


def block_split(
    regions: pd.DataFrame,
    sizes: dict[str, int],
    *,
    block_size: int = MIN_BLOCK,
    test_frac: float = 0.1,
    val_frac: float = 0.1,
    seed: int = 0,
    gap: int = 0,
) -> Split:
    """Contiguous-block hold-out: chromosomes tiled into equal blocks of >= ``block_size`` bp,
    whole blocks drawn (seeded) into test and val until each holds its fraction of the regions'
    clusters. See the module docstring for how overlapping and adjacent regions are kept together.
    """
    if block_size < MIN_BLOCK:
        raise InputError(f"block size must be at least {MIN_BLOCK:,} bp (got {block_size:,}): shorter blocks leak through neighbours")
    rows = []
    for chrom, size in sizes.items():
        n = max(1, size // block_size)
        edges = np.linspace(0, size, n + 1).astype(np.int64)
        rows += [(chrom, int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    blocks = pd.DataFrame(rows, columns=["chrom", "start", "end"])
    blocks["split"] = "train"
    # weight each block by the regions starting in it
    probe = Split("blocks", blocks=blocks.assign(split=np.arange(len(blocks))), block_size=block_size, gap=gap)
    block_of = probe._block_labels(regions["chrom"].to_numpy(), regions["start"].to_numpy(dtype=np.int64))
    if any(b is None for b in block_of):
        probe.assign(regions)  # raises the clear error for chromosomes the sizes lack
    counts = np.bincount(block_of.astype(np.int64), minlength=len(blocks))
    weights = {i: int(n) for i, n in enumerate(counts)}
    test, val = _draw(weights, (test_frac, val_frac), np.random.default_rng(seed))
    blocks.loc[test, "split"] = "test"
    blocks.loc[val, "split"] = "val"
    split = Split("blocks", seed=seed, blocks=blocks, block_size=block_size, gap=gap)
    labels = split.assign(regions)
    if test_frac > 0 and not np.any(labels == "test"):
        raise InputError(f"too few regions ({len(regions)}) or blocks ({len(blocks)}) for a block hold-out")
    return split


def make_split(regions: pd.DataFrame, sizes: dict[str, int], spec: str = "auto", *, seed: int = 0, gap: int = 0) -> Split:
    """Build a split from a CLI-style spec.

    ``auto``: chromosomes when the regions lie on >= 5 chromosomes, else 1 Mb blocks.
    ``chroms:TEST[,TEST…][/VAL[,VAL…]]``: named test (and val) chromosomes; val drawn if omitted.
    ``chroms``: test and val chromosomes drawn (seeded). ``blocks[:SIZE]``: blocks of SIZE bp
    (suffixes k/kb, M/Mb accepted; default 1 Mb).
    """
    spec = spec.strip()
    if spec == "auto":
        spec = "chroms" if regions["chrom"].nunique() >= 5 else "blocks"
    if spec == "chroms":
        return chrom_split(regions, seed=seed)
    if spec.startswith("chroms:"):
        test, _, val = spec[len("chroms:"):].partition("/")
        return chrom_split(
            regions,
            test=[c for c in test.split(",") if c],
            val=[c for c in val.split(",") if c] or None,
            seed=seed,
        )
    m = re.fullmatch(r"blocks(?::(\d+(?:\.\d+)?)\s*([kKmM]?)[bB]?)?", spec)
    if m:
        size = MIN_BLOCK
        if m.group(1):
            size = int(float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2).lower()])
        return block_split(regions, sizes, block_size=size, seed=seed, gap=gap)
    raise InputError(f"unknown split {spec!r}", hint="use auto, chroms, chroms:chrX[/chrY], or blocks:1Mb")
