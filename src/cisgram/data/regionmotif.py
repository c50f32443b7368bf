"""Region x motif matrices from files to files: what ``cisgram scan`` runs.

:func:`scan_regions` reads a genome, regions (BED / narrowPeak, or a dataset ``.h5ad`` from
``cisgram prepare``) and motifs, computes :func:`cisgram.motifs.features.region_features` and
writes them:

- ``.parquet``: one row per region (index = region name; ``chrom``, ``start``, ``end``), one
  column per feature and motif named ``"<feature>:<motif>"`` (``"energy_bins:<motif>:<bin>"``,
  ``"hit_score_sum:<motif or cluster>"``); :func:`read_features` splits it back into one
  region x motif DataFrame per feature.
- ``.h5ad`` (only when the regions are a dataset): the dataset with ``varm["motif_<feature>"]``
  (``(n_regions, n_motifs)``, ``energy_bins`` ``(n_regions, n_bins, n_motifs)``) and the motif
  names, threshold and energy normalisation in ``uns["cisgram_motifs"]`` (JSON).
- ``--hits``: the hit table as TSV (``region, motif, start, end, strand, score, p_value``;
  positions within the region, 0-based half-open).

``energy`` is written normalised to [0, 10] (``specs/iceqream.md`` §2.3): the reference is the
training regions of a dataset, or all regions of a BED file, unless stored statistics are given
(``energy_norm=``, a JSON written by an earlier run); the statistics used are written beside the
output as ``<out>.energy_norm.json`` so that new regions can be scaled the same way.

Every output is written atomically. Memory: the codes (1 byte per base) plus 4-8 bytes per
region, motif and feature (``energy_bins``: times the number of bins).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.data.dataset import read_dataset, write_dataset
from cisgram.errors import InputError
from cisgram.files import atomic_path, atomic_write, compressed_errors, require_file
from cisgram.genome import Genome
from cisgram.intervals import read_regions, resize
from cisgram.motifs.features import (
    FEATURES,
    Bins,
    EnergyNorm,
    apply_energy_norm,
    fit_energy_norm,
    region_features,
)
from cisgram.motifs.pwm import load_motifs

log = logging.getLogger(__name__)


def _regions(path: Path, genome: Genome, width: int | None):
    """(regions DataFrame with chrom/start/end, names, reference mask, dataset or None)."""
    if path.name.endswith(".h5ad"):
        adata = read_dataset(path)
        var = adata.var
        regions = pd.DataFrame({"chrom": var["chrom"].astype(str).to_numpy(),
                                "start": var["start"].to_numpy(np.int64), "end": var["end"].to_numpy(np.int64)})
        if width is not None:
            regions = resize(regions, width, on="center", sizes=genome.sizes)
        return regions, list(map(str, adata.var_names)), (var["split"].astype(str) == "train").to_numpy(), adata
    regions = read_regions(path, genome=genome)
    if width is not None:
        regions = resize(regions, width, sizes=genome.sizes)
    else:
        w = (regions["end"] - regions["start"]).to_numpy()
        if np.any(w != w[0]):
            raise InputError(f"regions have widths {int(w.min())} to {int(w.max())} bp; scanning needs one width",
                             path=path, hint="give --width (regions are recentred on their summit or centre)")
    names = [f"{c}:{s}-{e}" for c, s, e in zip(regions["chrom"], regions["start"], regions["end"], strict=True)]
    if "name" in regions and regions["name"].nunique() == len(regions) and (regions["name"] != ".").all():
        names = list(map(str, regions["name"]))
    return regions, names, np.ones(len(regions), dtype=bool), None


def read_motif_clusters(path) -> dict[str, str]:
    """motif<TAB>cluster table (no header, ``#`` comments) -> {motif: cluster}."""
    p = require_file(path, "motif cluster table")
    try:
        with compressed_errors(p):
            t = pd.read_csv(p, sep="\t", header=None, comment="#", dtype=str)
    except InputError:
        raise
    except (ValueError, pd.errors.ParserError) as e:
        raise InputError(f"not a readable motif cluster table ({e})", path=p) from None
    if t.shape[1] < 2 or t[[0, 1]].isna().any().any():
        raise InputError("a cluster table needs two tab-separated columns on every line: motif, cluster", path=p)
    return dict(zip(t[0], t[1], strict=True))


def _energy_norm(energy: np.ndarray, reference: np.ndarray, motif_names, stored: Path | None) -> EnergyNorm:
    if stored is not None:
        try:
            norm = EnergyNorm.from_dict(json.loads(Path(stored).read_text()))
        except (OSError, ValueError, KeyError) as e:
            raise InputError(f"not a readable energy normalisation file ({e})", path=stored) from None
        if tuple(norm.motif_names) != tuple(motif_names):
            raise InputError("the stored energy normalisation is for other motifs", path=stored,
                             hint="use the motifs it was made with, or drop --energy-norm")
        return norm
    if not reference.any():
        raise InputError("no reference regions for the energy normalisation (no training regions)")
    return fit_energy_norm(energy[reference], motif_names)


def _wide(feats: dict[str, np.ndarray], motif_names, hit_columns, regions: pd.DataFrame, names) -> pd.DataFrame:
    """The ``.parquet`` table of the module docstring (all rows at once; see :func:`write_wide`)."""
    blocks = [regions[["chrom", "start", "end"]].reset_index(drop=True)]
    for f, a in feats.items():
        if f == "energy_bins":
            cols = [f"{f}:{m}:{b}" for b in range(a.shape[1]) for m in motif_names]
            a = a.reshape(a.shape[0], -1)
        else:
            cols = [f"{f}:{m}" for m in (hit_columns if f == "hit_score_sum" else motif_names)]
        dtype = np.int32 if f == "count" else np.float32
        blocks.append(pd.DataFrame(a.astype(dtype, copy=False), columns=cols))
    df = pd.concat(blocks, axis=1)
    df.index = pd.Index(names, name="region")
    return df


def write_wide(path: str | os.PathLike, feats: dict[str, np.ndarray], motif_names, hit_columns, regions: pd.DataFrame,
               names, *, rows: int = 5000) -> None:
    """Write the table of :func:`_wide` to ``path`` ``rows`` regions at a time (one parquet row
    group each), so that only one slice of the wide table is ever in memory beside the feature
    arrays (a whole-genome scan holds ~180,000 regions x 2,600 columns: about 2 GB per copy)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(regions)
    writer, schema = None, None
    try:
        for a in range(0, max(n, 1), rows):
            b = min(a + rows, n)
            part = _wide({f: v[a:b] for f, v in feats.items()}, motif_names, hit_columns, regions.iloc[a:b],
                         list(names[a:b]))
            table = pa.Table.from_pandas(part, schema=schema, preserve_index=True)
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(str(path), schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def read_features(path: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """A ``.parquet`` written by :func:`scan_regions` -> ``{feature: region x column DataFrame}``
    (``energy_bins`` columns are ``"<motif>:<bin>"``) plus ``"regions"`` (chrom, start, end)."""
    df = pd.read_parquet(path)
    out = {"regions": df[["chrom", "start", "end"]]}
    for f in FEATURES:
        cols = [c for c in df.columns if c.startswith(f + ":")]
        if cols:
            out[f] = df[cols].rename(columns=lambda c, f=f: c[len(f) + 1 :])
    return out


def scan_regions(
    genome: str | os.PathLike,
    regions: str | os.PathLike,
    motifs: str | os.PathLike,
    out: str | os.PathLike,
    *,
    features: Sequence[str] = ("max", "count", "energy"),
    hits_out: str | os.PathLike | None = None,
    width: int | None = None,
    threshold: float = 1e-4,
    device: str = "auto",
    batch_size: int = 1000,
    energy_norm: str | os.PathLike | None = None,
    clusters: str | os.PathLike | None = None,
    bins: str = "central",
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Scan ``regions`` for ``motifs`` and write the features to ``out`` (see the module
    docstring); returns a summary dict (regions, motifs, width, features, hits, outputs)."""
    out = Path(out)
    if not (out.name.endswith(".parquet") or out.name.endswith(".h5ad")):
        raise InputError(f"output must end in .parquet or .h5ad, got {out.name}")
    g = Genome(genome)
    ms = load_motifs(motifs)
    regions_df, names, reference, adata = _regions(Path(regions), g, width)
    if out.name.endswith(".h5ad") and adata is None:
        raise InputError("an .h5ad output adds features to a dataset: give the dataset as --regions",
                         path=out, hint="or write a .parquet table")
    cluster_map = read_motif_clusters(clusters) if clusters is not None else None
    codes = g.fetch_codes_batch(regions_df["chrom"], regions_df["start"], regions_df["end"])
    grid = Bins.parse(bins, codes.shape[1])
    res = region_features(codes, ms, features, threshold=threshold, clusters=cluster_map, hits=hits_out is not None,
                          names=names, batch_size=batch_size, device=device, progress=progress, grid=grid)
    feats = dict(res.features)
    norm = None
    if "energy" in feats:
        norm = _energy_norm(feats["energy"], reference, ms.names, Path(energy_norm) if energy_norm else None)
        feats["energy"] = apply_energy_norm(feats["energy"], norm)
    written = []
    if out.name.endswith(".parquet"):
        with atomic_path(out) as tmp:
            write_wide(tmp, feats, ms.names, res.hit_columns, regions_df, names)
    else:
        for f, a in feats.items():
            adata.varm[f"motif_{f}"] = a
        adata.uns["cisgram_motifs"] = json.dumps({
            "motifs": list(ms.names), "source": ms.source, "threshold": threshold, "features": list(feats),
            "hit_columns": list(res.hit_columns), "grid": vars(res.grid),
            "energy_norm": norm.to_dict() if norm else None})
        write_dataset(adata, out)
    written.append(str(out))
    if norm is not None:
        norm_path = out.with_name(out.name + ".energy_norm.json")
        with atomic_write(norm_path) as fh:
            json.dump(norm.to_dict(), fh)
        written.append(str(norm_path))
    n_hits = None
    if hits_out is not None:
        with atomic_write(hits_out) as fh:
            res.hits.to_csv(fh, sep="\t", index=False, float_format="%.6g")
        n_hits = len(res.hits)
        written.append(str(hits_out))
    log.info("wrote %s", ", ".join(written))
    return {"n_regions": len(names), "n_motifs": len(ms), "width": int(codes.shape[1]), "features": list(feats),
            "n_hits": n_hits, "outputs": written}
