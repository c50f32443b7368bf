"""``report.html`` of a GET run (:func:`get_report`) and of its explanation (:func:`get_explain_report` and
its section helpers)."""

from __future__ import annotations

import html

import numpy as np

from cisgram.report import plots
from cisgram.report.html import html_table, img_tag, write_page


def _short(motif: str) -> str:
    """``AC0024:ZNF:C2H2_ZF`` → ``AC0024:ZNF`` (Vierstra archetype names), other names unchanged."""
    return ":".join(str(motif).split(":")[:2])


def _gene_sections(result, top_m: list, max_rows: int) -> list:
    genes, gbm, config = result.genes, result.gene_by_motif, result.config
    top_g = genes.sort_values("predicted", ascending=False)["entry"].head(max_rows).tolist()
    head = (f"<p class='note'>{html.escape(config['cell'])}: {len(genes):,} TSS entries (region and strand), windows "
            f"of {config['n_regions']} regions; input × gradient at the gene's region and strand, mean over the "
            f"window{' (LoRA adapter merged)' if config.get('lora_adapter') else ''}.</p>")
    body = head + img_tag(plots.heatmap(gbm.loc[top_g, top_m].to_numpy(), top_g, top_m, "gene x motif (signed)",
                                        label="input x gradient"), "gene by motif")
    by_gene = result.gene_by_motif_genes
    if by_gene is not None and len(by_gene):
        names = list(dict.fromkeys(g for lab in genes.sort_values("predicted", ascending=False)["gene"].astype(str)
                                   for g in lab.split(",") if g in by_gene.index))[:max_rows]
        body += (f"<p class='note'>Per gene ({len(by_gene):,} genes, <code>gene_by_motif_genes.parquet</code> and "
                 "<code>_absmean</code>): the mean of the gene's entries (each TSS name of an entry counts it), as "
                 "GET's <code>get_gene_by_motif</code>; the highest-predicted genes.</p>"
                 + img_tag(plots.heatmap(by_gene.loc[names, top_m].to_numpy(), names, top_m, "gene x motif, per gene "
                                         "(signed)", label="input x gradient"), "gene by motif per gene"))
    return [("Gene by motif", body)]


def _interaction_body(corr, pearson, pairs, top_m: list, fraction: float, what: str) -> str:
    body = img_tag(plots.heatmap(corr.loc[top_m, top_m].to_numpy(), top_m, top_m,
                                 f"Spearman correlation across {what}", label="rho"), "motif correlation")
    if pearson is not None:
        body += img_tag(plots.heatmap(pearson.loc[top_m, top_m].to_numpy(), top_m, top_m,
                                      f"Pearson correlation across {what}", label="r"), "motif correlation (Pearson)")
    rows = [[r.motif_a, r.motif_b, f"{r.correlation:.3f}",
             "" if pearson is None else f"{pearson.at[r.motif_a, r.motif_b]:.3f}"] for r in pairs.head(20).itertuples()]
    return (body + f"<p class='note'>top {fraction:.0%} of motif pairs by |Spearman rho|: {len(pairs):,} pairs; "
            "the strongest 20 (with their Pearson r):</p>" + html_table(["motif", "motif", "rho", "r"], rows))


def _causal_body(adjacency, edges, config: dict, what: str) -> str:
    e_rows = [[r.source, r.target, f"{r.weight:.3f}"] for r in edges.head(30).itertuples()]
    return (f"<p class='note'>{html.escape(config['causal_method'])}-LiNGAM on the z-scored gene-by-motif columns "
            f"({what}) of {adjacency.shape[0]} motifs, {config['n_orders']} column orders averaged; edges with "
            f"|weight| ≥ {config['causal_threshold']}: {len(edges):,}.</p>"
            + img_tag(plots.network([(_short(a), _short(b), w) for a, b, w in
                                     edges.head(60).itertuples(index=False, name=None)],
                                    "causal graph (strongest 60 edges)"), "causal graph")
            + html_table(["source", "target", "weight"], e_rows))


def _enhancer_section(result, max_genes: int) -> tuple[str, str]:
    genes, enhancers, config = result.genes, result.enhancers, result.config
    shown = config.get("genes") or genes.sort_values("predicted", ascending=False)["gene"].tolist()
    has_get = "score_get" in enhancers.columns
    tracks, n = [], 0
    labels = enhancers["gene"].astype(str).str.split(",")
    for g in dict.fromkeys(shown):
        part = enhancers[labels.map(lambda names, g=g: g in names)]
        for (tss, strand), one in part.groupby(["tss_region", "strand"], sort=False):
            one = one.sort_values("distance")
            d = one["distance"].to_numpy()
            tracks.append(img_tag(plots.enhancer_track(
                d, one["score"].to_numpy(), f"{g} ({strand}, {tss}): knock-out + ABC",
                parts={"knock-out loss share": one["loss"].to_numpy() / max(one["loss"].sum(), 1e-12),
                       "ABC share": one["abc"].to_numpy() / max(one["abc"].sum(), 1e-12)}), f"enhancers {g}"))
            if has_get:
                tracks.append(img_tag(plots.enhancer_track(
                    d, one["score_get"].to_numpy(), f"{g} ({strand}, {tss}): GET's score",
                    parts={"Jacobian norm x ATAC share": one["get_jacobian_part"].to_numpy(),
                           "ATAC x contact share": one["get_contact_part"].to_numpy()}), f"GET enhancers {g}"))
            n += 1
        if n >= max_genes:
            break
    es = config["enhancer_score"]
    note = (f"<p class='note'>score = {es['ko_weight']} × share of the in-silico knock-out loss + "
            f"{es['abc_weight']} × share of accessibility × power-law contact (γ {es['gamma']:.3f}, "
            f"scale {es['scale']:.3f}, flat within {es['min_distance']:,} bp).")
    if has_get:
        note += (" GET's score (right) = share of Jacobian norm × accessibility + share of accessibility × contact "
                 "(GET reads the contact from a Hi-C-trained distance model; without Hi-C, the same power law). "
                 "Each share sums to 1 over the gene's window.")
    return "Enhancer-gene scores", note + "</p>" + "".join(tracks)


def _leave_out_section(leave) -> tuple[str, str]:
    rows = [[r.rank, r.motif, f"{r.importance:.4g}", f"{r.mean_abs_change:.4g}", f"{r.max_abs_change:.4g}",
             f"{r.prediction_pearson:.4f}", f"{r.importance_spearman:.4f}", f"{r.ranking_spearman:.4f}",
             r.max_rank_change, r.most_moved] for r in leave.itertuples()]
    names = [_short(m) for m in leave["motif"]]
    return ("Motif leave-out (inference)",
            "<p class='note'>Each motif (highest mean |input × gradient| first) set to 0 in every window; the model "
            "is not retrained. Change of the predictions at the TSS entries (mean and largest |Δ|, Pearson of before "
            "and after) and of the other motifs' gene-level absolute importances (Spearman per gene, averaged; "
            "Spearman of the motif ranking; the largest rank change and its motif).</p>"
            + img_tag(plots.bars(names, leave["mean_abs_change"].to_numpy(), "left out: change of the predictions",
                                 "mean |Δ prediction|"), "leave-out prediction change")
            + img_tag(plots.bars(names, leave["importance_spearman"].fillna(0).to_numpy(),
                                 "left out: the other motifs' importances", "Spearman before/after (mean over genes)"),
                      "leave-out importance stability")
            + html_table(["rank", "motif", "importance", "mean |Δ|", "max |Δ|", "Pearson", "Spearman (genes)",
                          "Spearman (ranking)", "max rank change", "most moved"], rows))


def _pooled_section(result, max_motifs: int) -> tuple[str, str]:
    config, pooled = result.config, result.pooled_gene_by_motif
    cells = result.pooled_cells
    top_m = list(result.pooled_causal_motifs[:max_motifs]) or list(result.pooled_correlation.columns[:max_motifs])
    head = (f"<p class='note'>Cell-type-agnostic: the gene-level gene-by-motif matrices of {len(cells)} cell types "
            f"({html.escape(', '.join(cells))}) stacked, {len(pooled):,} rows (gene × cell type); each cell type read "
            "by its own model (the LoRA adapter where the run has one). Files in <code>pooled/</code>.</p>")
    return ("Cell-type-agnostic interactions (pooled)",
            head + _interaction_body(result.pooled_correlation, result.pooled_correlation_pearson,
                                     result.pooled_interactions, top_m, config["interaction_fraction"],
                                     "genes x cell types")
            + _causal_body(result.pooled_adjacency, result.pooled_edges, config, "pooled rows"))


def get_explain_report(path, result, *, max_genes: int = 6, max_motifs: int = 25, max_rows: int = 30) -> None:
    """Write the report of ``cisgram explain get`` (a :class:`~cisgram.results.GETExplainResult`):
    the gene-by-motif heat maps (highest-predicted entries and genes × motifs of highest mean
    absolute contribution), the Spearman and Pearson correlations of those motifs, the strongest
    interactions, the LiNGAM graph, enhancer-gene tracks (our score and GET's) of up to
    ``max_genes`` genes, the motif leave-out table, and the pooled (cell-type-agnostic)
    interactions when the result holds them."""
    gbm, config = result.gene_by_motif, result.config
    motifs = [m for m in gbm.columns if m != "accessibility"]
    strength = gbm[motifs].abs().mean(0).sort_values(ascending=False)
    top_m = list(strength.index[:max_motifs])
    sections = _gene_sections(result, top_m, max_rows)
    sections.append(("Motif-motif interactions",
                     _interaction_body(result.correlation, result.correlation_pearson, result.interactions, top_m,
                                       config["interaction_fraction"], "genes")))
    sections.append(("Causal graph (LiNGAM)", _causal_body(result.adjacency, result.edges, config, "entries")))
    sections.append(_enhancer_section(result, max_genes))
    if result.leave_out is not None and len(result.leave_out):
        sections.append(_leave_out_section(result.leave_out))
    if result.pooled_gene_by_motif is not None:
        sections.append(_pooled_section(result, max_motifs))
    write_page(path, f"cisgram explain get: {config['cell']}", sections)


def get_report(path, result) -> None:
    """Write the report of a GET run (a :class:`~cisgram.results.GETResult`): test metrics of the
    transformer and every baseline per cell type (all TSS entries and expressed ones), the LoRA
    figures, the training curves, observed-vs-predicted test scatters per cell type and model, and
    the gene-by-motif heat map of test TSS entries."""
    preds, metrics, history, config, gbm = (result.predictions, result.metrics, result.history, result.config,
                                            result.gene_by_motif)

    def f(v) -> str:
        return "" if v is None or not np.isfinite(v) else f"{v:.3f}"

    models = [("get", metrics)] + list(metrics.get("baselines", {}).items())
    if metrics.get("lora"):
        models.append(("get_lora", metrics["lora"]))
    rows = []
    for cell, held in metrics["held_out"].items():
        for name, m in models:
            a = m.get("test", {}).get(cell)
            if a is None:
                continue
            e = m.get("subsets", {}).get("expressed", {}).get("test", {}).get(cell, {})
            rows.append([cell, held, name, f(a["pearson"]), f(e.get("pearson")), f(a["spearman"]), f(a["r2"]),
                         f"{a['n']:,}", f"{e.get('n', 0):,}"])
    lo = metrics.get("leave_out")
    head = (f"<p class='note'>training cell types: {html.escape(', '.join(metrics['training_cell_types']))}; "
            f"held out: {html.escape(lo) if lo else 'no cell type'} and the test blocks; "
            f"configuration {html.escape(str(config.get('config_name')))}, {config.get('n_regions')} regions per window, "
            f"pre-training {'on' if config.get('pretrain') else 'off'}"
            f"{', started from ' + html.escape(str(config['init'])) if config.get('init') else ''}. Entries: the focus region of a window centred "
            "on each test TSS region, on its TSS strand(s). 'mean' is the mean of the other training cell types' "
            "observed values at the same entry.</p>")
    table = html_table(["cell type", "held out", "model", "Pearson (all)", "Pearson (expressed)", "Spearman (all)",
                    "R² (all)", "n", "n expressed"], rows)
    sections = [("Test metrics", head + table)]
    seeds = metrics.get("seeds") or {}
    if seeds.get("n", 1) > 1:
        srows = [[cell, name, f"{p['pearson']['mean']:.3f} ± {p['pearson']['sd']:.3f}",
                  f"{p['spearman']['mean']:.3f} ± {p['spearman']['sd']:.3f}",
                  ", ".join(f"{v:.3f}" for v in p["pearson"]["values"])]
                 for name, sp in seeds["models"].items() for cell, p in sp.get("test", {}).items()]
        sections.append((f"Seeds ({seeds['n']})", "<p class='note'>Each model trained with seeds "
                         f"{', '.join(map(str, seeds['values']))}; the table above scores the seed-averaged "
                         "ensemble, this one each seed (test Pearson and Spearman, mean ± sd).</p>"
                         + html_table(["cell type", "model", "Pearson", "Spearman", "per seed"], srows)))
    atac = metrics.get("accessibility")
    if atac:
        sections.append(("ATAC head", "<p class='note'>The accessibility head predicts the data's accessibility "
                         f"({html.escape(atac['target'])}) from motifs only (its input column set to 1), at every "
                         "test region.</p>" + html_table(["cell type", "Pearson", "Spearman", "n"], [
                             [c, f(v["pearson"]), f(v["spearman"]), f"{v['n']:,}"] for c, v in atac["test"].items()])))
    lm = metrics.get("lora")
    if lm:
        sections.append(("LoRA", html_table(["what", "value"], [
            ["cell type", lm["cell"]], ["base", lm.get("base", "finetuned")], ["rank", lm["rank"]],
            ["parameters trained", f"{lm['trainable_parameters']:,} of {lm['total_parameters']:,} "
                                   f"({lm['fraction_trained']:.2%})"],
            ["adapter on disk", f"{lm['adapter_bytes']:,} bytes"], ["base weights unchanged", lm["base_unchanged"]]])))
    curves = "".join(img_tag(plots.training_curve(h["epochs"], stage, best=h["best_epoch"]), f"{stage} curve")
                     for stage, h in history.items() if isinstance(h, dict) and h.get("epochs"))
    if curves:
        sections.append(("Training", curves))
    test = preds[preds["split"] == "test"]
    for cell, g in test.groupby("cell", sort=False):
        figs = []
        for name, gm in g.groupby("model", sort=False):
            ok = gm[np.isfinite(gm["predicted"].to_numpy(np.float64))]
            if len(ok) >= 2:
                figs.append(img_tag(plots.scatter(ok["observed"].to_numpy(), ok["predicted"].to_numpy(), f"{cell}: {name}"),
                                 f"{cell} {name}"))
        sections.append((f"Test predictions: {cell} (held out: {metrics['held_out'].get(cell, '')})", "".join(figs)))
    if gbm is not None and len(gbm):
        motifs = [m for m in gbm.columns if m != "accessibility"]
        top_m = list(gbm[motifs].abs().mean(0).sort_values(ascending=False).index[:25])
        sub = gbm.iloc[:30]
        sections.append(("Gene by motif (test TSS entries)",
                         "<p class='note'>input × gradient at each gene's region and strand, mean over its window; "
                         "the 25 motifs of highest mean |contribution| (`cisgram explain get` for all genes, "
                         "interactions, the causal graph and enhancer scores).</p>"
                         + img_tag(plots.heatmap(sub[top_m].to_numpy(), [str(r) for r in sub.index],
                                              [_short(m) for m in top_m], "gene x motif", label="input x gradient"),
                                "gene by motif")))
    write_page(path, f"cisgram GET: {'leave out ' + lo if lo else 'all cell types'}", sections)
