"""Build a dataset: regions × conditions with accessibility counts, access probabilities, log CPM,
sequence covariates and a hold-out, written as AnnData (``.h5ad``).

The AnnData follows the scverse convention: ``obs`` = conditions, ``var`` = regions (``chrom``,
``start``, ``end``, ``name``, ``tss_distance``, ``gc``, ``split``, ``constitutive``,
``background``), ``X`` = access probability, and layers ``counts``, ``access``, ``logcpm`` plus
the intermediate normalisation stages ``norm_regional`` and ``norm_const`` (kept for the
diagnostics). ``varm["covariates"]`` holds GC, the 16 dinucleotide frequencies and the regional
background, each scaled to [0, 10] on training quantiles. ``uns["cisgram"]`` is a JSON string with
every fitted parameter (fitted on training regions only), the split and the inputs, so the same
transformation can be reapplied to new regions.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram import __version__
from cisgram.annotation import read_tss
from cisgram.data.access import condition_target, differential_target, fit_access, log_cpm
from cisgram.data.covariates import apply_scale, fit_scale, sequence_covariates
from cisgram.errors import InputError
from cisgram.files import atomic_path, compressed_errors, require_file
from cisgram.fragments import fragment_counts
from cisgram.genome import Genome
from cisgram.intervals import check_regions, read_regions, resize, tss_distance, union_regions
from cisgram.splits import Split, make_split
from cisgram.tracks import bigwig_coverage

log = logging.getLogger(__name__)

DEFAULT_EXCLUDE = ("chrM", "MT", "M")


@dataclass(frozen=True)
class TrackSpec:
    """One condition's signal: ``NAME=PATH`` (bigWig or fragment file) or ``NAME=PATH:BC1,BC2``
    (fragments pooled over those barcodes into a pseudo-bulk)."""

    name: str
    path: Path
    barcodes: tuple[str, ...] | None = None

    @property
    def kind(self) -> str:
        with open(self.path, "rb") as fh:
            magic = fh.read(4)
        # bigWig magic 0x888FFC26 (either byte order)
        return "bigwig" if magic in (b"\x26\xfc\x8f\x88", b"\x88\x8f\xfc\x26") else "fragments"


def parse_track(text: str) -> TrackSpec:
    """Parse ``NAME=PATH[:BARCODE,…]``."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise InputError(f"track {text!r} is not NAME=PATH", hint="e.g. --tracks K562=K562.bw or --tracks A=frags.tsv.gz:AAAC,AAAG")
    path, barcodes = rest, None
    if ":" in rest and not Path(rest).exists():
        path, _, bc = rest.rpartition(":")
        barcodes = tuple(b for b in bc.split(",") if b)
        if not barcodes:
            raise InputError(f"track {text!r} names no barcode after ':'")
    return TrackSpec(name, require_file(path, f"track file for {name!r}"), barcodes)


def window_regions(regions: pd.DataFrame, sizes: dict[str, int], window: int) -> pd.DataFrame:
    """Windows of ``window`` bp centred on each region, clipped to the chromosome."""
    centre = (regions["start"].to_numpy() + regions["end"].to_numpy()) // 2
    length = regions["chrom"].map(sizes).to_numpy(dtype=np.int64)
    start = np.clip(centre - window // 2, 0, None)
    end = np.minimum(centre + window // 2, length)
    return pd.DataFrame({"chrom": regions["chrom"].to_numpy(), "start": start, "end": end})


def measure_tracks(tracks: Sequence[TrackSpec], regions: pd.DataFrame, windows: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Counts over regions (and windows) for every track, ``(R, C)``; a fragment file shared by
    several conditions is read once for all of them."""
    n = len(regions)
    counts = np.zeros((n, len(tracks)))
    wsums = None if windows is None else np.zeros((n, len(tracks)))
    both = regions[["chrom", "start", "end"]] if windows is None else pd.concat([regions[["chrom", "start", "end"]], windows], ignore_index=True)
    by_path: dict[Path, list[int]] = {}
    for j, t in enumerate(tracks):
        if t.kind == "bigwig":
            if t.barcodes:
                raise InputError(f"track {t.name!r} is a bigWig: barcodes apply to fragment files only", path=t.path)
            values = bigwig_coverage(t.path, both, stat="sum")
            counts[:, j] = values[:n]
            if wsums is not None:
                wsums[:, j] = values[n:]
        else:
            by_path.setdefault(t.path, []).append(j)
    for path, cols in by_path.items():
        pooled = all(tracks[j].barcodes for j in cols)
        calls = [cols] if pooled else [[j] for j in cols]
        for group_cols in calls:
            groups = {tracks[j].name: list(tracks[j].barcodes) for j in group_cols} if tracks[group_cols[0]].barcodes else None
            fc = fragment_counts(path, both, groups)
            for k, j in enumerate(group_cols):
                counts[:, j] = fc.counts[:n, k]
                if wsums is not None:
                    wsums[:, j] = fc.counts[n:, k]
    return counts, wsums


def _read_count_table(path: str | os.PathLike, genome: Genome) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """A region × condition table: columns ``chrom, start, end`` then one numeric column per
    condition (tab separated, header required)."""
    p = require_file(path, "count table")
    with compressed_errors(p):
        table = pd.read_csv(p, sep="\t")
    missing = [c for c in ("chrom", "start", "end") if c not in table.columns]
    if missing:
        raise InputError(f"count table lacks column(s) {', '.join(missing)}", path=p, hint="header: chrom, start, end, then one column per condition")
    conds = [c for c in table.columns if c not in ("chrom", "start", "end", "name")]
    if not conds:
        raise InputError("count table has no condition columns", path=p)
    values = table[conds].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().to_numpy()
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise InputError(f"count for {conds[j]!r} is not a number: {table[conds[j]].iat[i]!r}", path=p, line=i + 2)
    regions = table[["chrom", "start", "end"]].copy()
    regions["chrom"] = regions["chrom"].astype(str)
    check_regions(regions, genome, path=p, lines=np.arange(len(regions)) + 2)
    regions["name"] = table["name"].astype(str) if "name" in table else regions["chrom"] + ":" + regions["start"].astype(str) + "-" + regions["end"].astype(str)
    return regions, values.to_numpy(dtype=np.float64), conds


def _constitutive_flag(regions: pd.DataFrame, path: str | os.PathLike) -> np.ndarray:
    """Regions overlapping any interval of a user's BED of constitutive peaks."""
    marks = read_regions(path)
    flag = np.zeros(len(regions), dtype=bool)
    for chrom, grp in marks.groupby("chrom"):
        idx = np.flatnonzero(regions["chrom"].to_numpy() == chrom)
        if idx.size == 0:
            continue
        s = np.sort(grp["start"].to_numpy())
        e = np.maximum.accumulate(grp.sort_values("start")["end"].to_numpy())
        j = np.searchsorted(s, regions["end"].to_numpy()[idx], side="left") - 1  # last mark starting before region end
        ok = j >= 0
        flag[idx[ok]] = e[j[ok]] > regions["start"].to_numpy()[idx[ok]]
    if not flag.any():
        raise InputError("no region overlaps the constitutive peaks given", path=path)
    return flag


def _codes(genome: Genome, regions: pd.DataFrame) -> list[np.ndarray]:
    """Sequence codes per region, batch-fetched per width."""
    w = (regions["end"] - regions["start"]).to_numpy()
    out: list[np.ndarray] = [None] * len(regions)  # type: ignore[list-item]
    for width in np.unique(w):
        idx = np.flatnonzero(w == width)
        batch = genome.fetch_codes_batch(regions["chrom"].to_numpy()[idx], regions["start"].to_numpy()[idx], regions["end"].to_numpy()[idx])
        for k, i in enumerate(idx):
            out[i] = batch[k]
    return out


def prepare(
    genome: str | os.PathLike | Genome,
    peaks: Sequence[str | os.PathLike] = (),
    tracks: Sequence[str | TrackSpec] = (),
    *,
    counts: str | os.PathLike | None = None,
    width: int = 500,
    split: str = "auto",
    tss: str | os.PathLike | None = None,
    constitutive: str | os.PathLike | None = None,
    window: int = 20_000,
    exclude_chroms: Sequence[str] = DEFAULT_EXCLUDE,
    minimal_quantile: float = 0.1,
    const_threshold: float = -16.0,
    const_quantile: float = 0.9,
    max_scale_logcpm: bool = False,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
):
    """Build the dataset (see the module docstring) and return it as AnnData; with ``out``, also
    write it there atomically with ``split.json`` beside it.

    Parameters mirror ``cisgram prepare``: ``peaks`` (one or many BED/narrowPeak files: united,
    recentred on summits, fixed ``width``, overlaps merged) and ``tracks`` (``NAME=PATH`` bigWig or
    fragment file, ``NAME=PATH:BC,…`` for a barcode pseudo-bulk), or ``counts`` (a ready
    region × condition table, whose rows are the regions; no regional correction then).
    ``window`` is the punctured-window size (±window/2) of the regional correction.
    """
    import anndata as ad

    say = progress or (lambda msg: None)
    g = genome if isinstance(genome, Genome) else Genome(genome)
    if counts is not None:
        if tracks:
            raise InputError("give either --tracks or --counts, not both")
        regions, matrix, conditions = _read_count_table(counts, g)
        wsums = None
        say(f"read {len(regions):,} regions × {len(conditions)} conditions from {counts}")
    else:
        if not peaks:
            raise InputError("no peak files given", hint="pass one or more --peaks files (or --counts)")
        if not tracks:
            raise InputError("no tracks given", hint="pass --tracks NAME=PATH for each condition")
        specs = [t if isinstance(t, TrackSpec) else parse_track(t) for t in tracks]
        names = [t.name for t in specs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"track name(s) given twice: {', '.join(dup)}", hint="give every condition a distinct NAME")
        sets = []
        for p in peaks:
            df = read_regions(p, exclude=[c for c in exclude_chroms])
            check_regions(df, g, path=p)
            sets.append(resize(df, width, sizes=g.sizes))
        regions = union_regions(sets, width, sizes=g.sizes)
        say(f"{len(regions):,} union regions of {width} bp from {sum(map(len, sets)):,} peaks in {len(sets)} file(s)")
        conditions = names
        matrix, wsums = measure_tracks(specs, regions, window_regions(regions, g.sizes, window))
        say(f"measured {len(conditions)} track(s) over regions and ±{window // 2:,} bp windows")
        for j, c in enumerate(conditions):
            if matrix[:, j].sum() == 0:
                raise InputError(f"zero-coverage condition {c!r}: no signal in any region", path=specs[j].path,
                                 hint="check the track and that its chromosome names match the peaks")

    spl: Split = make_split(regions, g.sizes, split, seed=seed)
    labels = spl.assign(regions)
    train = labels == "train"
    if not train.any():
        raise InputError("the split leaves no training regions", hint="choose another --split")

    flag = _constitutive_flag(regions, constitutive) if constitutive is not None else None
    acc = fit_access(
        matrix, train, window_sums=wsums, constitutive=flag, conditions=conditions,
        minimal_quantile=minimal_quantile, const_threshold=const_threshold, const_quantile=const_quantile,
    )
    lcpm, lcpm_params = log_cpm(matrix, train, max_scale=max_scale_logcpm)

    codes = _codes(g, regions)
    cov_raw, cov_names = (
        sequence_covariates(np.stack(codes)) if len({c.size for c in codes}) == 1
        else (np.vstack([sequence_covariates(c[None])[0] for c in codes]), sequence_covariates(codes[0][None])[1])
    )
    if acc.background is not None:
        cov_raw = np.column_stack([cov_raw, acc.background])
        cov_names = [*cov_names, "regional_background"]
    cov_params = fit_scale(cov_raw, train)
    cov = apply_scale(cov_raw, cov_params)

    var = regions[["chrom", "start", "end", "name"]].copy().reset_index(drop=True)
    var["tss_distance"] = tss_distance(var, read_tss(tss)) if tss is not None else np.nan
    var["gc"] = cov_raw[:, 0]
    var["split"] = pd.Categorical(labels, categories=["train", "val", "test", "gap"])
    var["constitutive"] = acc.constitutive
    var["background"] = acc.background if acc.background is not None else np.nan
    var.index = pd.Index(var["name"].astype(str).to_numpy(), name="region")
    if var.index.has_duplicates:
        raise InputError("region names are not unique", hint="give each region of the count table a distinct name")

    info = {
        "version": __version__,
        "inputs": {
            "genome": str(g.path), "peaks": [str(p) for p in peaks], "counts": None if counts is None else str(counts),
            "tracks": [f"{t.name}={t.path}" + (":" + ",".join(t.barcodes) if t.barcodes else "") for t in specs] if counts is None else [],
            "tss": None if tss is None else str(tss), "constitutive": None if constitutive is None else str(constitutive),
        },
        "params": {"width": width, "window": window, "split": split, "seed": seed, "exclude_chroms": list(exclude_chroms)},
        "access": acc.params.to_dict(),
        "logcpm": lcpm_params,
        "covariates": {"names": cov_names, **cov_params},
        "split": spl.to_dict(),
    }
    layers = {
        "counts": matrix.T.astype(np.float32),
        "access": acc.ap.T.astype(np.float32),
        "logcpm": lcpm.T.astype(np.float32),
        "norm_regional": acc.stages["regional"].T.astype(np.float32),
        "norm_const": acc.stages["const"].T.astype(np.float32),
    }
    adata = ad.AnnData(
        X=layers["access"].copy(),
        obs=pd.DataFrame(index=pd.Index(conditions, name="condition")),
        var=var,
        layers=layers,
        varm={"covariates": cov.astype(np.float32)},
        uns={"cisgram": json.dumps(info)},
    )
    if out is not None:
        write_dataset(adata, out)
        spl.save(Path(out).parent / "split.json")
        say(f"wrote {out}")
    return adata


def write_dataset(adata, path: str | os.PathLike) -> None:
    """Write an AnnData dataset atomically (temporary file renamed into place)."""
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)


def read_dataset(path: str | os.PathLike):
    """Read a dataset written by :func:`prepare`, checking that it is one."""
    import anndata as ad

    p = require_file(path, "dataset")
    try:
        adata = ad.read_h5ad(p)
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"not a readable .h5ad dataset ({e})", path=p) from None
    if "cisgram" not in adata.uns or "split" not in adata.var:
        raise InputError("not a cisgram dataset (no uns['cisgram'] or var['split'])", path=p, hint="make one with `cisgram prepare`")
    return adata


def dataset_info(adata) -> dict:
    """The parameters, inputs and split stored in a dataset (the parsed ``uns["cisgram"]``)."""
    return json.loads(adata.uns["cisgram"])


def dataset_split(adata) -> Split:
    """The dataset's hold-out as a :class:`~cisgram.splits.Split`."""
    return Split.from_dict(dataset_info(adata)["split"])


@dataclass(frozen=True)
class Target:
    """A regression target on a dataset's regions: ``y`` ``(R,)`` in [0, 1] (NaN outside
    ``mask``), ``mask`` the regions modelled, ``split`` each region's split label."""

    name: str
    y: np.ndarray
    mask: np.ndarray
    split: np.ndarray
    params: dict


def dataset_target(adata, target: str, *, vs: str | None = None, min_tss_distance: float = 5000.0) -> Target:
    """The access probability of condition ``target`` on every region, or, with ``vs``, the
    differential target ``dAP = AP(target) - AP(vs)`` on distal regions (> ``min_tss_distance``
    from a TSS) min-max scaled with training statistics (IceQream's trajectory target)."""
    ap = np.asarray(adata.layers["access"], dtype=np.float64).T
    conditions = list(adata.obs_names)
    split = adata.var["split"].astype(str).to_numpy()
    if vs is None:
        y = condition_target(ap, conditions, target)
        return Target(target, y, np.ones(y.size, dtype=bool), split, {"condition": target})
    dist = adata.var["tss_distance"].to_numpy(dtype=np.float64)
    if np.isnan(dist).all():
        raise InputError(
            "a differential target needs TSS distances, and this dataset has none",
            hint="prepare the dataset with --tss (a TSS BED or GTF)",
        )
    d = differential_target(ap, conditions, vs, target, dist, split == "train", min_tss_distance=min_tss_distance)
    return Target(f"{target}-{vs}", d.y, d.mask, split, d.params)
