"""``report.html`` of a GET run (:func:`get_report`) and of its explanation (:func:`get_explain_report`)."""

from __future__ import annotations

import html

import numpy as np

from cisgram.report import plots
from cisgram.report.html import html_table, img_tag, write_page


def _short(motif: str) -> str:
    """``AC0024:ZNF:C2H2_ZF`` → ``AC0024:ZNF`` (Vierstra archetype names), other names unchanged."""
    return ":".join(str(motif).split(":")[:2])


def get_explain_report(path, result, *, max_genes: int = 6, max_motifs: int = 25, max_rows: int = 30) -> None:
    """Write the report of ``cisgram explain get`` (a :class:`~cisgram.results.GETExplainResult`):
    the gene-by-motif heat map (highest-predicted genes × motifs of highest mean absolute
    contribution), the correlation of those motifs, the strongest interactions, the LiNGAM graph,
    and enhancer-gene tracks of up to ``max_genes`` genes."""
    genes, gbm, corr, interactions = result.genes, result.gene_by_motif, result.correlation, result.interactions
    adjacency, edges, enhancers, config = result.adjacency, result.edges, result.enhancers, result.config

    motifs = [m for m in gbm.columns if m != "accessibility"]
    strength = gbm[motifs].abs().mean(0).sort_values(ascending=False)
    top_m = list(strength.index[:max_motifs])
    top_g = genes.sort_values("predicted", ascending=False)["entry"].head(max_rows).tolist()
    head = (f"<p class='note'>{html.escape(config['cell'])}: {len(genes):,} TSS entries (region and strand), windows "
            f"of {config['n_regions']} regions; input × gradient at the gene's region and strand, mean over the "
            f"window{' (LoRA adapter merged)' if config.get('lora_adapter') else ''}.</p>")
    sections = [("Gene by motif", head + img_tag(plots.heatmap(gbm.loc[top_g, top_m].to_numpy(), top_g, top_m,
                                                            "gene x motif (signed)", label="input x gradient"),
                                              "gene by motif"))]
    sub = corr.loc[top_m, top_m].to_numpy()
    rows = [[r.motif_a, r.motif_b, f"{r.correlation:.3f}"] for r in interactions.head(20).itertuples()]
    sections.append(("Motif-motif interactions",
                     img_tag(plots.heatmap(sub, top_m, top_m, "Spearman correlation across genes", label="rho"),
                          "motif correlation")
                     + f"<p class='note'>top {config['interaction_fraction']:.0%} of motif pairs by |rho|: "
                       f"{len(interactions):,} pairs; the strongest 20:</p>"
                     + html_table(["motif", "motif", "rho"], rows)))
    e_rows = [[r.source, r.target, f"{r.weight:.3f}"] for r in edges.head(30).itertuples()]
    sections.append(("Causal graph (LiNGAM)",
                     f"<p class='note'>{html.escape(config['causal_method'])}-LiNGAM on the z-scored gene-by-motif "
                     f"columns of {adjacency.shape[0]} motifs, {config['n_orders']} column orders averaged; "
                     f"edges with |weight| ≥ {config['causal_threshold']}: {len(edges):,}.</p>"
                     + img_tag(plots.network([(_short(a), _short(b), w) for a, b, w in
                                           edges.head(60).itertuples(index=False, name=None)],
                                          "causal graph (strongest 60 edges)"), "causal graph")
                     + html_table(["source", "target", "weight"], e_rows)))
    shown = config.get("genes") or genes.sort_values("predicted", ascending=False)["gene"].tolist()
    tracks = []
    labels = enhancers["gene"].astype(str).str.split(",")
    for g in dict.fromkeys(shown):
        part = enhancers[labels.map(lambda names, g=g: g in names)]
        if part.empty:
            continue
        for (tss, strand), one in part.groupby(["tss_region", "strand"], sort=False):
            one = one.sort_values("distance")
            tracks.append(img_tag(plots.enhancer_track(
                one["distance"].to_numpy(), one["score"].to_numpy(), f"{g} ({strand}, {tss})",
                parts={"knock-out loss share": one["loss"].to_numpy() / max(one["loss"].sum(), 1e-12),
                       "ABC share": one["abc"].to_numpy() / max(one["abc"].sum(), 1e-12)}), f"enhancers {g}"))
        if len(tracks) >= max_genes:
            break
    es = config["enhancer_score"]
    sections.append(("Enhancer-gene scores",
                     f"<p class='note'>score = {es['ko_weight']} × share of the in-silico knock-out loss + "
                     f"{es['abc_weight']} × share of accessibility × power-law contact (γ {es['gamma']:.3f}, "
                     f"scale {es['scale']:.3f}, flat within {es['min_distance']:,} bp).</p>" + "".join(tracks)))
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
            f"pre-training {'on' if config.get('pretrain') else 'off'}. Entries: the focus region of a window centred "
            "on each test TSS region, on its TSS strand(s). 'mean' is the mean of the other training cell types' "
            "observed values at the same entry.</p>")
    table = html_table(["cell type", "held out", "model", "Pearson (all)", "Pearson (expressed)", "Spearman (all)",
                    "R² (all)", "n", "n expressed"], rows)
    sections = [("Test metrics", head + table)]
    lm = metrics.get("lora")
    if lm:
        sections.append(("LoRA", html_table(["what", "value"], [
            ["cell type", lm["cell"]], ["rank", lm["rank"]],
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
