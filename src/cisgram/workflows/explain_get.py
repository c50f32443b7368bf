"""``cisgram explain get``: GET's interpretation of a ``cisgram train get`` run in one cell type
(``specs/get.md`` §4): gene-by-motif input × gradient, motif-motif interactions, a LiNGAM causal
graph and enhancer-gene scores."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from cisgram.data.get import STRANDS, RegionMotifData
from cisgram.data.get_windows import tss_windows
from cisgram.errors import InputError
from cisgram.files import atomic_path, atomic_write, write_json
from cisgram.inference import predict
from cisgram.interpret.interactions import (
    ABC_GAMMA,
    ABC_MIN_DISTANCE,
    ABC_SCALE,
    ABC_WEIGHT,
    KO_WEIGHT,
    TOP_FRACTION,
    causal_edges,
    causal_graph,
    enhancer_gene_scores,
    knockout_effects,
    motif_correlation,
    top_interactions,
)
from cisgram.interpret.jacobian import jacobian, region_importance
from cisgram.results import GETExplainResult
from cisgram.workflows.rundir import GETRun, load


class Entries(NamedTuple):
    """Every (window, TSS strand) entry of the TSS windows: each window's ``first`` region and
    ``focus`` offset, the entries' window ``w`` and strand ``s``, their gene ``labels``, and
    which are ``selected`` for enhancer scoring."""

    first: np.ndarray
    focus: np.ndarray
    w: np.ndarray
    s: np.ndarray
    labels: list
    selected: np.ndarray

    @property
    def rows(self) -> np.ndarray:
        """The focus region's row of each window."""
        return self.first + self.focus


def _gene_label(regions: pd.DataFrame, row: int, strand: int) -> str:
    return str(regions["tss_plus" if strand == 0 else "tss_minus"].iat[row])


def gene_entries(rmd: RegionMotifData, windows, genes: Sequence[str] | None) -> Entries:
    """The entries of ``windows`` (:func:`~cisgram.data.get_windows.tss_windows`); ``genes`` (TSS names)
    select those whose enhancers are scored (default all); a name with no TSS region is an error."""
    first = np.array([windows.window(i)[1] for i in range(len(windows))], dtype=np.int64)
    focus = np.array([windows.window(i)[2] for i in range(len(windows))], dtype=np.int64)
    rows = first + focus
    ent = [(w, s) for w in range(len(rows)) for s in (0, 1) if rmd.has_tss[rows[w], s]]
    labels = [_gene_label(rmd.regions, rows[w], s) for w, s in ent]
    wanted = None if genes is None else [str(g) for g in genes]
    if wanted is not None:
        have = {g for lab in labels for g in lab.split(",")}
        missing = [g for g in wanted if g not in have]
        if missing:
            raise InputError(f"{len(missing)} gene(s) have no TSS region here: {', '.join(missing[:5])}",
                             hint=f"genes are TSS names of the region-motif data, e.g. {', '.join(sorted(have)[:5])}")
    selected = np.array([wanted is None or any(g in wanted for g in lab.split(",")) for lab in labels], dtype=bool)
    return Entries(first, focus, np.array([w for w, _ in ent], dtype=np.int64),
                   np.array([s for _, s in ent], dtype=np.int64), labels, selected)


def _windows_of(rmd: RegionMotifData, c: int, e: Entries, idx: np.ndarray, R: int) -> torch.Tensor:
    return torch.from_numpy(np.stack([rmd.features(c, slice(e.first[w], e.first[w] + R)) for w in idx]))


def gene_by_motif_tables(model, rmd: RegionMotifData, cell: str, e: Entries, R: int, *, batch_size: int = 32,
                         device: str = "cpu") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Signed and mean-absolute gene-by-motif (input × gradient at the entry's focus region and
    strand, mean over the window; one Jacobian pass) and the entries table with predictions."""
    c = rmd.cell_index(cell)
    names = rmd.regions["name"].to_numpy(dtype=str)
    signed, absolute, predicted = [], [], []
    chunk = max(1, int(batch_size))
    for lo in range(0, len(e.w), chunk):
        sl = slice(lo, lo + chunk)
        X = _windows_of(rmd, c, e, e.w[sl], R)
        f = e.focus[e.w[sl]]
        ixg = jacobian(model, X, f, strand=e.s[sl], batch_size=batch_size, device=device) * X.numpy()
        signed.append(ixg.sum(1) / R)  # = gene_by_motif(...) / R, signed and absolute
        absolute.append(np.abs(ixg).sum(1) / R)
        p = predict(model, X, batch_size=batch_size, device=device)
        predicted.append(p[np.arange(len(f)), f, e.s[sl]])
    rows = e.rows[e.w]
    index = pd.Index([f"{lab}|{names[r]}|{STRANDS[s]}" for lab, r, s in zip(e.labels, rows, e.s, strict=True)],
                     name="entry")
    features = list(rmd.feature_names)
    gbm = pd.DataFrame(np.concatenate(signed), index=index, columns=features)
    gbm_abs = pd.DataFrame(np.concatenate(absolute), index=index, columns=features)
    genes = pd.DataFrame({
        "entry": index, "gene": e.labels, "row": rows, "region": names[rows], "strand": [STRANDS[s] for s in e.s],
        "split": rmd.split[rows], "observed": rmd.targets[c, rows, e.s] if rmd.has_targets[c] else np.nan,
        "predicted": np.concatenate(predicted)})
    return gbm, gbm_abs, genes


def enhancer_table(model, rmd: RegionMotifData, cell: str, e: Entries, R: int, *, constant: float | None = None,
                   batch_size: int = 32, device: str = "cpu") -> pd.DataFrame:
    """For each selected entry, every region of its window: distance, accessibility, in-silico
    knock-out effect, region importance, power-law contact, ABC term and the enhancer score."""
    c = rmd.cell_index(cell)
    regions = rmd.regions
    names = regions["name"].to_numpy(dtype=str)
    mids = (regions["start"].to_numpy(np.int64) + regions["end"].to_numpy(np.int64)) // 2
    pick = np.flatnonzero(e.selected)
    effs, imps = [], []
    for lo in range(0, len(pick), max(1, int(batch_size))):
        sel = pick[lo:lo + max(1, int(batch_size))]
        X = _windows_of(rmd, c, e, e.w[sel], R)
        f = e.focus[e.w[sel]]
        effs.append(knockout_effects(model, X, f, strand=e.s[sel], constant_accessibility=constant,
                                     batch_size=max(R + 1, 4 * (R + 1)), device=device))
        imps.append(region_importance(model, X, f, strand=e.s[sel], batch_size=batch_size, device=device))
    eff = np.concatenate(effs) if effs else np.zeros((0, R), np.float32)
    imp = np.concatenate(imps) if imps else np.zeros((0, R), np.float32)
    focus_rows = e.rows[e.w[pick]]
    win_rows = e.first[e.w[pick]][:, None] + np.arange(R)[None, :]
    dist = mids[win_rows] - mids[focus_rows][:, None]
    acc = rmd.accessibility[c][win_rows]
    scores = enhancer_gene_scores(eff, acc, dist)
    return pd.DataFrame({
        "gene": np.repeat(np.asarray(e.labels, dtype=object)[pick], R), "tss_region": np.repeat(names[focus_rows], R),
        "strand": np.repeat([STRANDS[s] for s in e.s[pick]], R),
        "region": names[win_rows].ravel(), "chrom": regions["chrom"].to_numpy(dtype=str)[win_rows].ravel(),
        "start": regions["start"].to_numpy()[win_rows].ravel(), "end": regions["end"].to_numpy()[win_rows].ravel(),
        "distance": dist.ravel(), "accessibility": acc.ravel(), "ko_effect": eff.ravel(),
        "importance": imp.ravel(), **{k: v.ravel() for k, v in scores.items()}})


def explain_get(run: str | os.PathLike, out_dir: str | os.PathLike, *, data=None, cell: str | None = None,
                genes: Sequence[str] | None = None, split: str | None = None, top_motifs: int = 50,
                n_orders: int = 3, causal_method: str = "ica", causal_threshold: float = 0.05,
                interaction_fraction: float | None = None, use_lora: bool = True,
                batch_size: int = 32, device: str = "cpu", seed: int = 0,
                progress: Callable[[str], None] | None = None) -> GETExplainResult:
    """Explain a GET run (``cisgram train get``) in one cell type (``specs/get.md`` §4).

    Every TSS region of ``split`` (default all) gets a window of the run's ``n_regions`` centred
    on it; each (region, TSS strand) is one gene entry, labelled by the TSS names on that strand.
    Writes into ``out_dir``:

    - ``genes.tsv``: the entries (row, region, strand, gene, split, observed, predicted);
    - ``gene_by_motif.parquet`` / ``gene_by_motif_absmean.parquet``: genes × features, input ×
      gradient at the gene's focus region and strand, averaged over the window's regions (GET's
      signed mean, and the paper's mean of absolute values);
    - ``motif_correlation.parquet`` and ``interactions.tsv`` (:func:`~cisgram.interpret.interactions.top_interactions`
      of the signed matrix's motif columns, top ``interaction_fraction``, default 5 %);
    - ``causal_adjacency.parquet`` and ``causal_edges.tsv``: LiNGAM among the ``top_motifs``
      motifs of highest mean absolute contribution (``n_orders`` column orders averaged;
      edges with ``|weight| >= causal_threshold``);
    - ``enhancer_gene.tsv``: for the entries of ``genes`` (default every entry), each region of
      the window: distance, accessibility, knock-out effect, region importance (the embedding
      gradient norm), power-law contact, ABC term and the enhancer score;
    - ``config.json``.

    Returns a :class:`~cisgram.results.GETExplainResult` (drawn by
    :func:`cisgram.report.get.get_explain_report`).

    The cell type defaults to the run's held-out one (else its first training cell type); when
    the run trained a LoRA adapter for that cell type it is used (``use_lora``). ``data`` defaults
    to the region-motif file the run was trained on (its path in ``config.json``).
    """
    say = progress or (lambda msg: None)
    opened = run if isinstance(run, GETRun) else load(run, family="get")
    rmd, cell, model, adapted = opened.select(data=data, cell=cell, use_lora=use_lora)
    R = int(opened.config["n_regions"])
    windows = tss_windows(rmd, [cell], split=split, n_regions=R, require_targets=False)
    const = 1.0 if rmd.params.get("accessibility") == "ones" else None
    e = gene_entries(rmd, windows, genes)

    say(f"gene-by-motif of {len(e.w):,} TSS entries ({cell}, {R} regions per window)")
    gbm, gbm_abs, genes_df = gene_by_motif_tables(model, rmd, cell, e, R, batch_size=batch_size, device=device)
    say("motif-motif correlation")
    motifs = list(rmd.motif_names)
    corr = motif_correlation(gbm[motifs])
    inter = top_interactions(corr, fraction=interaction_fraction or TOP_FRACTION)
    used = gbm_abs[motifs].mean(0).sort_values(ascending=False)
    chosen = [m for m in used.index[: int(top_motifs)] if used[m] > 0]
    say(f"LiNGAM ({causal_method}, {n_orders} column orders) among the top {len(chosen)} motifs")
    adj = causal_graph(gbm[chosen], n_orders=n_orders, method=causal_method, seed=seed)
    edges = causal_edges(adj, threshold=causal_threshold)
    n_pick = int(e.selected.sum())
    say(f"in-silico knock-out of every region in {n_pick:,} gene windows ({n_pick * R:,} knock-outs)")
    eg = enhancer_table(model, rmd, cell, e, R, constant=const, batch_size=batch_size, device=device)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("gene_by_motif", gbm), ("gene_by_motif_absmean", gbm_abs), ("motif_correlation", corr),
                        ("causal_adjacency", adj)):
        with atomic_path(out / f"{name}.parquet") as tmp:
            frame.to_parquet(tmp)
    for name, frame in (("genes", genes_df), ("interactions", inter), ("causal_edges", edges), ("enhancer_gene", eg)):
        with atomic_write(out / f"{name}.tsv") as fh:
            frame.to_csv(fh, sep="\t", index=False)
    source = data if data is not None else opened.config.get("data")
    conf = {"command": "explain get", "run": str(opened.path), "cell": cell, "lora_adapter": adapted,
            "data": "<RegionMotifData>" if isinstance(source, RegionMotifData) else str(source), "split": split,
            "n_regions": R, "genes": None if genes is None else [str(g) for g in genes], "top_motifs": int(top_motifs),
            "causal_method": causal_method, "n_orders": int(n_orders), "causal_threshold": causal_threshold,
            "interaction_fraction": interaction_fraction or TOP_FRACTION, "seed": seed,
            "gene_by_motif": "input x gradient at the focus region and strand, mean over the window",
            "enhancer_score": {"ko_weight": KO_WEIGHT, "abc_weight": ABC_WEIGHT, "gamma": ABC_GAMMA,
                               "scale": ABC_SCALE, "min_distance": ABC_MIN_DISTANCE},
            "constant_accessibility": const}
    write_json(out / "config.json", conf, indent=2)
    return GETExplainResult(out, conf, genes_df, gbm, gbm_abs, corr, inter, adj, edges, eg, chosen,
                            list(used.index[:10]))


def explain_summary(result: GETExplainResult) -> dict:
    """The counts a person reads first: cell, entries, entries explained, interactions, causal
    edges and motifs, the LoRA flag and the top motifs (what ``cisgram explain get`` prints)."""
    return {"cell": result.cell, "n_entries": len(result.genes), "n_explained": len(result.enhancers) // int(result.config["n_regions"]),
            "n_interactions": len(result.interactions), "n_causal_edges": len(result.edges),
            "causal_motifs": list(result.causal_motifs), "lora_adapter": result.config["lora_adapter"],
            "top_motifs": list(result.top_motifs)}
