"""``cisgram explain get``: GET's interpretation of a ``cisgram train get`` run in one cell type
(``specs/get.md`` §4): gene-by-motif input × gradient (per entry and per gene), motif-motif
interactions (Spearman, Pearson), a LiNGAM causal graph, enhancer-gene scores (ours and GET's),
motif leave-out robustness, and optionally the same interactions on several cell types pooled."""

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
    get_enhancer_scores,
    knockout_effects,
    motif_correlation,
    pool_cells,
    top_interactions,
)
from cisgram.interpret.jacobian import entry_contributions, per_gene, region_importance
from cisgram.interpret.robustness import TOP_LEAVE_OUT, LeaveOutState, motif_leave_out
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


class EntryWindows:
    """The windows of entries ``pick`` (default every entry) in cell ``c``, cut when sliced
    (``len`` and ``[lo:hi]`` give ``(n, R, F)``): what :func:`~cisgram.interpret.jacobian.entry_contributions`
    reads chunk by chunk."""

    def __init__(self, rmd: RegionMotifData, c: int, e: Entries, R: int, pick: np.ndarray | None = None):
        self.rmd, self.c, self.e, self.R = rmd, c, e, R
        self.pick = np.arange(len(e.w)) if pick is None else np.asarray(pick)

    def __len__(self) -> int:
        return len(self.pick)

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.pick), self.R, self.rmd.n_features

    def __getitem__(self, sl: slice) -> np.ndarray:
        idx = self.e.w[self.pick[sl]]
        if not len(idx):
            return np.zeros((0, self.R, self.rmd.n_features), np.float32)
        return _windows_of(self.rmd, self.c, self.e, idx, self.R).numpy()


def gene_by_motif_tables(model, rmd: RegionMotifData, cell: str, e: Entries, R: int, *, batch_size: int = 32,
                         device: str = "cpu") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Signed and mean-absolute gene-by-motif (input × gradient at the entry's focus region and
    strand, mean over the window; one Jacobian pass) and the entries table with predictions."""
    c = rmd.cell_index(cell)
    names = rmd.regions["name"].to_numpy(dtype=str)
    signed, absolute, predicted = entry_contributions(model, EntryWindows(rmd, c, e, R), e.focus[e.w], strand=e.s,
                                                      chunk=max(1, int(batch_size)), batch_size=batch_size,
                                                      device=device)
    rows = e.rows[e.w]
    index = pd.Index([f"{lab}|{names[r]}|{STRANDS[s]}" for lab, r, s in zip(e.labels, rows, e.s, strict=True)],
                     name="entry")
    features = list(rmd.feature_names)
    gbm = pd.DataFrame(signed, index=index, columns=features)
    gbm_abs = pd.DataFrame(absolute, index=index, columns=features)
    genes = pd.DataFrame({
        "entry": index, "gene": e.labels, "row": rows, "region": names[rows], "strand": [STRANDS[s] for s in e.s],
        "split": rmd.split[rows], "observed": rmd.targets[c, rows, e.s] if rmd.has_targets[c] else np.nan,
        "predicted": predicted})
    return gbm, gbm_abs, genes


def enhancer_table(model, rmd: RegionMotifData, cell: str, e: Entries, R: int, *, constant: float | None = None,
                   batch_size: int = 32, device: str = "cpu") -> pd.DataFrame:
    """For each selected entry, every region of its window: distance, accessibility, in-silico
    knock-out effect, region importance (its share of the window, and the Jacobian norm itself),
    power-law contact, ABC term and our enhancer score, and GET's enhancer score with its two
    parts (:func:`~cisgram.interpret.interactions.get_enhancer_scores`)."""
    c = rmd.cell_index(cell)
    regions = rmd.regions
    names = regions["name"].to_numpy(dtype=str)
    mids = (regions["start"].to_numpy(np.int64) + regions["end"].to_numpy(np.int64)) // 2
    pick = np.flatnonzero(e.selected)
    effs, norms = [], []
    for lo in range(0, len(pick), max(1, int(batch_size))):
        sel = pick[lo:lo + max(1, int(batch_size))]
        X = _windows_of(rmd, c, e, e.w[sel], R)
        f = e.focus[e.w[sel]]
        effs.append(knockout_effects(model, X, f, strand=e.s[sel], constant_accessibility=constant,
                                     batch_size=max(R + 1, 4 * (R + 1)), device=device))
        norms.append(region_importance(model, X, f, strand=e.s[sel], batch_size=batch_size, device=device,
                                       normalise=False))
    eff = np.concatenate(effs) if effs else np.zeros((0, R), np.float32)
    norm = np.concatenate(norms) if norms else np.zeros((0, R), np.float32)
    focus_rows = e.rows[e.w[pick]]
    win_rows = e.first[e.w[pick]][:, None] + np.arange(R)[None, :]
    dist = mids[win_rows] - mids[focus_rows][:, None]
    acc = rmd.accessibility[c][win_rows]
    scores = enhancer_gene_scores(eff, acc, dist)
    get = get_enhancer_scores(norm, acc, dist)
    return pd.DataFrame({
        "gene": np.repeat(np.asarray(e.labels, dtype=object)[pick], R), "tss_region": np.repeat(names[focus_rows], R),
        "strand": np.repeat([STRANDS[s] for s in e.s[pick]], R),
        "region": names[win_rows].ravel(), "chrom": regions["chrom"].to_numpy(dtype=str)[win_rows].ravel(),
        "start": regions["start"].to_numpy()[win_rows].ravel(), "end": regions["end"].to_numpy()[win_rows].ravel(),
        "distance": dist.ravel(), "accessibility": acc.ravel(), "ko_effect": eff.ravel(),
        "importance": get["importance"].astype(np.float32).ravel(), "jacobian_norm": norm.ravel(),
        **{k: v.ravel() for k, v in scores.items()},
        "get_jacobian_part": get["jacobian_part"].ravel(), "get_contact_part": get["contact_part"].ravel(),
        "score_get": get["score_get"].ravel()})


class Interactions(NamedTuple):
    """Motif-motif correlations (Spearman, Pearson), the pairs kept, and LiNGAM among ``chosen``."""

    spearman: pd.DataFrame
    pearson: pd.DataFrame
    pairs: pd.DataFrame
    adjacency: pd.DataFrame
    edges: pd.DataFrame
    chosen: list
    ranked: pd.Series


def interactions(gbm: pd.DataFrame, gbm_abs: pd.DataFrame, motifs: list, *, top_motifs: int, fraction: float,
                 n_orders: int, method: str, threshold: float, seed: int) -> Interactions:
    """The correlations of ``gbm``'s motif columns over its rows, the top ``fraction`` of pairs,
    and LiNGAM among the ``top_motifs`` motifs of highest mean ``gbm_abs`` (those above 0)."""
    corr = motif_correlation(gbm[motifs])
    pear = motif_correlation(gbm[motifs], method="pearson")
    ranked = gbm_abs[motifs].mean(0).sort_values(ascending=False)
    chosen = [m for m in ranked.index[: int(top_motifs)] if ranked[m] > 0]
    adj = causal_graph(gbm[chosen], n_orders=n_orders, method=method, seed=seed)
    return Interactions(corr, pear, top_interactions(corr, fraction=fraction), adj,
                        causal_edges(adj, threshold=threshold), chosen, ranked)


def pooled_cells(opened: GETRun, rmd: RegionMotifData, cells, e: Entries, R: int, done: dict, *, use_lora: bool,
                 batch_size: int, device: str) -> tuple[list, pd.DataFrame, pd.DataFrame]:
    """The gene-level gene-by-motif matrices (signed, absolute) of ``cells`` (``"all"`` or names;
    at least two) stacked, rows ``(gene, cell)``; each cell type read by its own model (the LoRA
    adapter where the run has one for it). ``done``: cell → (signed, absolute) already computed."""
    names = list(rmd.cell_types) if cells == "all" or list(cells) == ["all"] else [str(c) for c in cells]
    names = list(dict.fromkeys(names))
    for c in names:
        rmd.cell_index(c)
    if len(names) < 2:
        raise InputError(f"pooling cell types needs at least two, got {', '.join(names) or 'none'}",
                         hint="give --cells all, or two or more names separated by commas")
    signed, absolute = {}, {}
    for c in names:
        if c not in done:
            model, _ = opened.model_for(c, use_lora=use_lora)
            gbm, gbm_abs, _g = gene_by_motif_tables(model, rmd, c, e, R, batch_size=batch_size, device=device)
            done[c] = (per_gene(gbm, e.labels), per_gene(gbm_abs, e.labels))
        signed[c], absolute[c] = done[c]
    return names, pool_cells(signed), pool_cells(absolute)


def _write(out: Path, parquets: dict, tsvs: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in parquets.items():
        with atomic_path(out / f"{name}.parquet") as tmp:
            frame.to_parquet(tmp)
    for name, frame in tsvs.items():
        with atomic_write(out / f"{name}.tsv") as fh:
            frame.to_csv(fh, sep="\t", index=False)


def _interaction_files(it: Interactions) -> tuple[dict, dict]:
    return ({"motif_correlation": it.spearman, "motif_correlation_pearson": it.pearson, "causal_adjacency": it.adjacency},
            {"interactions": it.pairs, "causal_edges": it.edges})


def explain_get(run: str | os.PathLike, out_dir: str | os.PathLike, *, data=None, cell: str | None = None,
                genes: Sequence[str] | None = None, split: str | None = None, top_motifs: int = 50,
                n_orders: int = 3, causal_method: str = "ica", causal_threshold: float = 0.05,
                interaction_fraction: float | None = None, use_lora: bool = True,
                cells: Sequence[str] | str | None = None, leave_out_motifs: int = TOP_LEAVE_OUT,
                batch_size: int = 32, device: str = "cpu", seed: int = 0,
                progress: Callable[[str], None] | None = None) -> GETExplainResult:
    """Explain a GET run (``cisgram train get``) in one cell type (``specs/get.md`` §4).

    Every TSS region of ``split`` (default all) gets a window of the run's ``n_regions`` centred
    on it; each (region, TSS strand) is one gene entry, labelled by the TSS names on that strand.
    Writes into ``out_dir``:

    - ``genes.tsv``: the entries (row, region, strand, gene, split, observed, predicted);
    - ``gene_by_motif.parquet`` / ``gene_by_motif_absmean.parquet``: entries × features, input ×
      gradient at the gene's focus region and strand, averaged over the window's regions (GET's
      signed mean, and the paper's mean of absolute values);
    - ``gene_by_motif_genes.parquet`` / ``gene_by_motif_genes_absmean.parquet``: genes × features,
      the mean of each gene's entries (GET's ``get_gene_by_motif``; an entry labelled with several
      TSS names counts for each);
    - ``motif_correlation.parquet`` (Spearman), ``motif_correlation_pearson.parquet`` and
      ``interactions.tsv`` (:func:`~cisgram.interpret.interactions.top_interactions` of the
      signed matrix's motif columns, Spearman, top ``interaction_fraction``, default 5 %);
    - ``causal_adjacency.parquet`` and ``causal_edges.tsv``: LiNGAM among the ``top_motifs``
      motifs of highest mean absolute contribution (``n_orders`` column orders averaged;
      edges with ``|weight| >= causal_threshold``);
    - ``enhancer_gene.tsv``: for the entries of ``genes`` (default every entry), each region of
      the window: distance, accessibility, knock-out effect, ``importance`` (the region's share
      of the window's embedding-gradient norms, summing to 1 per entry) and ``jacobian_norm``
      (the norm itself), power-law contact, ABC term and our ``score`` (knock-out share + ABC
      share), and GET's ``score_get`` = ``get_jacobian_part`` + ``get_contact_part`` (each
      summing to 1 per entry; :func:`~cisgram.interpret.interactions.get_enhancer_scores`);
    - ``motif_leave_out.tsv``: the top ``leave_out_motifs`` motifs (mean |contribution|) each
      zeroed in every window (:func:`~cisgram.interpret.robustness.motif_leave_out`); 0 skips it;
    - ``pooled/``, with ``cells`` (``"all"`` or two or more names): the cell-type-agnostic
      analysis, the gene-level matrices of those cell types stacked (rows gene × cell type),
      with its correlations, pairs and LiNGAM (the same file names);
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
    fraction = interaction_fraction or TOP_FRACTION
    lingam = {"top_motifs": top_motifs, "fraction": fraction, "n_orders": n_orders, "method": causal_method,
              "threshold": causal_threshold, "seed": seed}

    say(f"gene-by-motif of {len(e.w):,} TSS entries ({cell}, {R} regions per window)")
    gbm, gbm_abs, genes_df = gene_by_motif_tables(model, rmd, cell, e, R, batch_size=batch_size, device=device)
    by_gene, by_gene_abs = per_gene(gbm, e.labels), per_gene(gbm_abs, e.labels)
    motifs = list(rmd.motif_names)
    say(f"motif-motif correlation; LiNGAM ({causal_method}, {n_orders} column orders) among the top "
        f"{min(int(top_motifs), len(motifs))} motifs")
    it = interactions(gbm, gbm_abs, motifs, **lingam)
    n_pick = int(e.selected.sum())
    say(f"in-silico knock-out of every region in {n_pick:,} gene windows ({n_pick * R:,} knock-outs)")
    eg = enhancer_table(model, rmd, cell, e, R, constant=const, batch_size=batch_size, device=device)
    left = [m for m in it.ranked.index[: max(0, int(leave_out_motifs))] if it.ranked[m] > 0]
    leave = None
    if left:
        say(f"motif leave-out at inference: {len(left)} motifs, each zeroed in {len(e.w):,} windows")
        leave = motif_leave_out(model, EntryWindows(rmd, rmd.cell_index(cell), e, R), e.focus[e.w], strand=e.s,
                                labels=e.labels, feature_names=list(rmd.feature_names), motifs=left,
                                before=LeaveOutState(genes_df["predicted"].to_numpy(), by_gene_abs),
                                chunk=max(1, int(batch_size)), batch_size=batch_size, device=device)
    pooled = None
    if cells is not None:
        names, pg, pg_abs = pooled_cells(opened, rmd, cells.split(",") if isinstance(cells, str) else cells, e, R,
                                         {cell: (by_gene, by_gene_abs)}, use_lora=use_lora, batch_size=batch_size,
                                         device=device)
        say(f"cell-type-agnostic: {len(pg):,} rows (genes x {len(names)} cell types), correlation and LiNGAM")
        pooled = (names, pg, pg_abs, interactions(pg, pg_abs, motifs, **lingam))

    out = Path(out_dir)
    parquets, tsvs = _interaction_files(it)
    _write(out, {"gene_by_motif": gbm, "gene_by_motif_absmean": gbm_abs, "gene_by_motif_genes": by_gene,
                 "gene_by_motif_genes_absmean": by_gene_abs, **parquets},
           {"genes": genes_df, **tsvs, "enhancer_gene": eg, **({"motif_leave_out": leave} if leave is not None else {})})
    if pooled is not None:
        parquets, tsvs = _interaction_files(pooled[3])
        _write(out / "pooled", {"gene_by_motif": pooled[1], "gene_by_motif_absmean": pooled[2], **parquets}, tsvs)
    source = data if data is not None else opened.config.get("data")
    conf = {"command": "explain get", "run": str(opened.path), "cell": cell, "lora_adapter": adapted,
            "data": "<RegionMotifData>" if isinstance(source, RegionMotifData) else str(source), "split": split,
            "n_regions": R, "genes": None if genes is None else [str(g) for g in genes], "top_motifs": int(top_motifs),
            "causal_method": causal_method, "n_orders": int(n_orders), "causal_threshold": causal_threshold,
            "interaction_fraction": fraction, "seed": seed,
            "gene_by_motif": "input x gradient at the focus region and strand, mean over the window",
            "gene_by_motif_genes": "mean over the gene's entries (each TSS name of an entry's label)",
            "enhancer_score": {"ko_weight": KO_WEIGHT, "abc_weight": ABC_WEIGHT, "gamma": ABC_GAMMA,
                               "scale": ABC_SCALE, "min_distance": ABC_MIN_DISTANCE},
            "enhancer_score_get": "share(jacobian_norm x accessibility) + share(accessibility x power-law contact)",
            "leave_out_motifs": len(left), "pooled_cells": None if pooled is None else pooled[0],
            "constant_accessibility": const}
    write_json(out / "config.json", conf, indent=2)
    extra = {} if pooled is None else {
        "pooled_cells": pooled[0], "pooled_gene_by_motif": pooled[1], "pooled_correlation": pooled[3].spearman,
        "pooled_correlation_pearson": pooled[3].pearson, "pooled_interactions": pooled[3].pairs,
        "pooled_adjacency": pooled[3].adjacency, "pooled_edges": pooled[3].edges,
        "pooled_causal_motifs": pooled[3].chosen}
    return GETExplainResult(out, conf, genes_df, gbm, gbm_abs, it.spearman, it.pairs, it.adjacency, it.edges, eg,
                            it.chosen, list(it.ranked.index[:10]), gene_by_motif_genes=by_gene,
                            gene_by_motif_genes_abs=by_gene_abs, correlation_pearson=it.pearson, leave_out=leave,
                            **extra)


def explain_summary(result: GETExplainResult) -> dict:
    """The counts a person reads first: cell, entries, genes, entries explained, interactions,
    causal edges and motifs, the LoRA flag, the top motifs, the motifs left out (and the one that
    moves the predictions most), and the pooled cell types, rows and causal edges (what
    ``cisgram explain get`` prints)."""
    leave = result.leave_out
    moved = None if leave is None or leave.empty else str(leave.sort_values("mean_abs_change").iloc[-1]["motif"])
    genes = result.gene_by_motif_genes
    return {"cell": result.cell, "n_entries": len(result.genes), "n_explained": len(result.enhancers) // int(result.config["n_regions"]),
            "n_interactions": len(result.interactions), "n_causal_edges": len(result.edges),
            "causal_motifs": list(result.causal_motifs), "lora_adapter": result.config["lora_adapter"],
            "top_motifs": list(result.top_motifs), "n_genes": 0 if genes is None else len(genes),
            "n_left_out": 0 if leave is None else len(leave), "most_moving_motif": moved,
            "pooled_cells": list(result.pooled_cells),
            "n_pooled_rows": 0 if result.pooled_gene_by_motif is None else len(result.pooled_gene_by_motif),
            "n_pooled_edges": 0 if result.pooled_edges is None else len(result.pooled_edges)}
