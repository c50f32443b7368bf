"""Plots and self-contained HTML reports (images embedded as base64 PNG, no external files).

Today: the dataset diagnostics page written by ``cisgram prepare`` (``prepare_report.html``).
"""

from __future__ import annotations

import base64
import html
import io
import os

import numpy as np

from cisgram.files import atomic_write

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}img{max-width:100%}.note{color:#555;font-size:.9em}"""


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _figure().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(fig, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{_png(fig)}">'


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def page(title: str, sections: list[tuple[str, str]]) -> str:
    """A self-contained HTML page from ``(heading, html body)`` sections."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{body}")
    parts.append("</body></html>")
    return "".join(parts)


def _stage_scatter(adata) -> str:
    """Per condition, its values against the mean over conditions at every normalisation stage."""
    plt = _figure()
    import json

    threshold = json.loads(adata.uns["cisgram"])["access"]["constitutive_threshold"]
    stages = [("counts", "raw coverage, log10(x + 1)"), ("norm_regional", "regional + sum normalised, log2(x + 1e-5)"),
              ("norm_const", "constitutive normalised, log2(x + 1e-5)"), ("access", "access probability")]
    conds = list(adata.obs_names)
    const = adata.var["constitutive"].to_numpy(dtype=bool)
    fig, axes = plt.subplots(len(conds), len(stages), figsize=(3.2 * len(stages), 3.0 * len(conds)), squeeze=False)
    for j, (layer, label) in enumerate(stages):
        m = np.asarray(adata.layers[layer], dtype=np.float64)
        if layer == "counts":
            m = np.log10(m + 1)
        elif layer.startswith("norm_"):
            m = np.log2(m + 1e-5)
        mean = m.mean(axis=0)
        for i, c in enumerate(conds):
            ax = axes[i, j]
            ax.scatter(mean[~const], m[i, ~const], s=3, alpha=0.4, color="#888", label="other", rasterized=True)
            ax.scatter(mean[const], m[i, const], s=3, alpha=0.6, color="#c33", label="constitutive", rasterized=True)
            lo, hi = float(min(mean.min(), m[i].min())), float(max(mean.max(), m[i].max()))
            ax.plot([lo, hi], [lo, hi], lw=0.8, color="k")
            if layer == "norm_regional":
                ax.axhline(threshold, color="#c33", lw=0.8, ls="--")
            ax.set_title(f"{c}: {label}", fontsize=8)
            ax.set_xlabel("mean over conditions", fontsize=7)
            ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=6, markerscale=3)
    fig.tight_layout()
    return _img(fig, "each condition against the mean, per normalisation stage")


def _ap_hist(adata) -> str:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for i, c in enumerate(adata.obs_names):
        ax.hist(np.asarray(adata.layers["access"][i]), bins=50, histtype="step", label=c)
    ax.set_xlabel("access probability")
    ax.set_ylabel("regions")
    ax.legend(fontsize=8)
    return _img(fig, "access probability distributions")


def _region_hists(adata) -> str:
    plt = _figure()
    var = adata.var
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    axes[0].hist(var["end"] - var["start"], bins=40, color="#468")
    axes[0].set_xlabel("region width (bp)")
    d = var["tss_distance"].to_numpy(dtype=float)
    d = d[np.isfinite(d)]
    if d.size:
        axes[1].hist(np.log10(d + 1), bins=50, color="#468")
        axes[1].axvline(np.log10(5001), color="#c33", lw=1, label="5 kb (distal filter)")
        axes[1].legend(fontsize=8)
    axes[1].set_xlabel("log10(distance to nearest TSS + 1)")
    for ax in axes:
        ax.set_ylabel("regions")
    return _img(fig, "region widths and TSS distances")


def prepare_report(adata, path: str | os.PathLike) -> None:
    """Write the diagnostics page of a prepared dataset: per-condition scatter plots against the
    mean before and after each normalisation step, AP distributions, constitutive counts, region
    widths and TSS distances."""
    import json

    info = json.loads(adata.uns["cisgram"])
    var = adata.var
    split = var["split"].astype(str)
    rows = []
    counts = np.asarray(adata.layers["counts"], dtype=np.float64)
    ap = np.asarray(adata.layers["access"], dtype=np.float64)
    const = var["constitutive"].to_numpy(dtype=bool)
    for i, c in enumerate(adata.obs_names):
        rows.append([c, f"{counts[i].sum():,.0f}", f"{np.median(counts[i, const]):,.1f}", f"{np.median(ap[i, const]):.3f}",
                     f"{np.mean(ap[i] >= 0.999):.1%}"])
    acc = info["access"]
    summary = _table(
        ["what", "value"],
        [["regions", f"{adata.n_vars:,}"], ["conditions", ", ".join(adata.obs_names)],
         ["train / val / test", " / ".join(f"{(split == s).sum():,}" for s in ("train", "val", "test"))],
         ["constitutive regions", f"{const.sum():,} ({const.mean():.1%})"],
         ["AP = 1 threshold (prob1_thresh)", f"{acc['prob1_thresh']:.4g}"],
         ["regional correction", "on" if acc.get("background_floor") is not None else "off (no tracks)"]],
    )
    per_cond = _table(["condition", "total coverage", "median constitutive coverage", "median constitutive AP", "AP = 1"], rows)
    text = page(
        "cisgram prepare: dataset diagnostics",
        [
            ("Summary", summary + "<p class='note'>All normalisation parameters are fitted on training regions and reused for validation and test.</p>"),
            ("Per condition", per_cond),
            ("Normalisation stages (each condition against the mean; red = constitutive)", _stage_scatter(adata)),
            ("Access probability distributions", _ap_hist(adata)),
            ("Regions", _region_hists(adata)),
        ],
    )
    with atomic_write(path) as fh:
        fh.write(text)


# ------------------------------------------------------------------------------------ model runs


def _metrics_section(metrics: dict) -> str:
    rows = []
    areas = any("auroc" in m for s in ("train", "val", "test") for m in metrics.get(s, {}).values())
    for split in ("train", "val", "test"):
        for target, m in metrics.get(split, {}).items():
            row = [split, target, f"{m['pearson']:.3f}", f"{m['spearman']:.3f}", f"{m['pearson_r2']:.3f}",
                   f"{m['r2']:.3f}", f"{m['n']:,}"]
            rows.append([*row, f"{m['auroc']:.3f}", f"{m['auprc']:.3f}"] if areas else row)
    head = ["split", "target", "Pearson r", "Spearman", "R² (r²)", "R² (1 − SSres/SStot)", "n"]
    return _table([*head, "auROC", "auPRC"] if areas else head, rows)


def _scatters(preds) -> str:
    from cisgram import plots

    test = preds[preds["split"] == "test"]
    return "".join(_img(plots.scatter(g["observed"].to_numpy(), g["predicted"].to_numpy(), f"{t} (test)"), f"{t} test")
                   for t, g in test.groupby("target", sort=False) if len(g) >= 2)


def baseline_report(path, kind: str, preds, metrics: dict) -> None:
    """``report.html`` of a baseline run: metrics and test scatter plots."""
    html_text = page(f"cisgram baseline: {kind}", [("Metrics", _metrics_section(metrics) + _metric_bars(metrics)),
                                                    ("Test predictions", _scatters(preds))])
    with atomic_write(path) as fh:
        fh.write(html_text)


def _metric_bars(metrics: dict) -> str:
    """Test Pearson r (and auROC where scored) per target as bars."""
    from cisgram import plots

    test = metrics.get("test", {})
    names = [t for t, m in test.items() if np.isfinite(m.get("pearson", np.nan))]
    if not names:
        return ""
    out = _img(plots.bars(names, np.array([test[t]["pearson"] for t in names]), "test Pearson r per target"),
               "test Pearson per target")
    auc = [t for t in names if np.isfinite(test[t].get("auroc", np.nan))]
    if auc:
        out += _img(plots.bars(auc, np.array([test[t]["auroc"] for t in auc]), "test auROC per target"),
                    "test auROC per target")
    return out


def cnn_report(path, arch: str, task: str, preds, metrics: dict, history: dict, logos=()) -> None:
    """``report.html`` of a CNN run: metrics (and on peaks only, where background windows were
    scored too), per-target bars, the training curve, test scatter plots or ROC / PR curves, and
    attribution logos (``logos``: ``[(title, contributions (L, 4))]``, input × gradient of the
    highest-predicted test regions)."""
    from cisgram import plots

    sections = [("Metrics", _metrics_section(metrics) + _metric_bars(metrics))]
    for name, sub in metrics.get("subsets", {}).items():
        sections.append((f"Metrics on {name} only", _metrics_section(sub)))
    if history.get("epochs"):
        note = (f"<p class='note'>kept epoch {history['best_epoch']} (validation loss "
                f"{history['best_val_loss']:.4f}); {history['seconds']:.0f} s of training</p>")
        sections.append(("Training", note + _img(plots.training_curve(history["epochs"], arch, best=history["best_epoch"]),
                                                 "training curve")))
    if task == "classification":
        test = preds[preds["split"] == "test"]
        figs = [_img(plots.roc_pr(g["observed"].to_numpy(), g["predicted"].to_numpy(), t), f"{t} ROC and PR")
                for t, g in test.groupby("target", sort=False) if 0 < g["observed"].sum() < len(g)]
        sections.append(("Test ROC and precision-recall", "".join(figs)))
    else:
        sections.append(("Test predictions", _scatters(preds)))
    if logos:
        sections.append(("Attributions of the highest-predicted test regions (input × gradient, first target)",
                         "".join(_img(plots.contribution_logo(c, t), f"attribution {t}") for t, c in logos)))
    with atomic_write(path) as fh:
        fh.write(page(f"cisgram cnn: {arch} ({task})", sections))


def tfbind_report(path, config: dict, comparison, run_dir) -> None:
    """``report.html`` of ``cisgram tfbind``: test auROC / auPRC per negative strategy and model,
    and the test ROC curves of every model per strategy."""
    import pandas as pd

    from cisgram import plots

    rows = [[r.strategy, r.model, f"{r.auroc:.3f}", f"{r.auprc:.3f}", f"{int(r.n_bound):,}", f"{int(r.n_unbound):,}"]
            for r in comparison.itertuples()]
    head = (f"<p class='note'>motif {html.escape(str(config['motif_name']))} ({html.escape(str(config['motif']))}), "
            f"ChIP-seq peaks {html.escape(str(config['chip']))}, {config['window']} bp windows, "
            f"p &lt; {config['threshold']:g}; held-out test split</p>")
    figs = []
    for strategy in comparison["strategy"].unique():
        p = pd.read_parquet(f"{run_dir}/{strategy}/predictions.parquet")
        test = p[p["split"] == "test"]
        scores = {m: test[m].to_numpy() for m in ("cnn", "core-score", "context-motifs") if m in test}
        figs.append(_img(plots.roc_curves(test["label"].to_numpy(), scores, f"{strategy} negatives"), strategy))
    sections = [("Test performance", head + _table(["negatives", "model", "auROC", "auPRC", "bound", "unbound"], rows)),
                ("Test ROC curves", "".join(figs))]
    with atomic_write(path) as fh:
        fh.write(page(f"cisgram tfbind: {config['motif_name']}", sections))


def _reading(codes, motif, spatial, grid) -> tuple[str, float]:
    """Whether a motif reads strong sites only or integrates weak ones: the median share of the
    best site in the energy of the top 10 % regions by that motif's energy."""
    from cisgram.models.distill import top_site_share

    lse, share = top_site_share(codes, motif.probs, spatial, grid)
    top = share[lse >= np.quantile(lse, 0.9)]
    med = float(np.median(top)) if top.size else float("nan")
    return ("strong sites" if med >= 0.5 else "integrates weak sites"), med


def iq_report(path, fitted, data, preds, metrics: dict, database) -> None:
    """``report.html`` of an IQ run: metrics, test scatters, the pipeline's stages, and one row per
    motif (logo, dose-response per target, spatial profile, basis coefficients, leave-one-out ΔR²,
    nearest database match by TOMTOM, strong-site or weak-site reading), then the interactions."""
    from cisgram import plots
    from cisgram.models.iq import BASES, logistic_bases
    from cisgram.models.iq_train import information_bits
    from cisgram.motifs.compare import nearest_matches
    from cisgram.motifs.pwm import MotifSet

    model = fitted.model
    m = len(model.motifs)
    stages = _table(["stage", "seconds", "details"], [[s["stage"], f"{s['seconds']:.1f}",
                    "; ".join(f"{k}: {v}" for k, v in s.items() if k not in ("stage", "seconds"))] for s in fitted.stages])
    matches = nearest_matches(MotifSet(model.motifs), database, n=1).set_index("query") if len(database) else None
    xs = np.linspace(0, 10, 101)
    phi = logistic_bases(xs[:, None])[:, 0, :]  # (101, 4)
    rows, ranking = [], {}
    for target in model.targets:
        ranking[target] = sorted(fitted.contributions.get(target, {}).items(), key=lambda kv: -kv[1])
    for i, mot in enumerate(model.motifs):
        cells = [_img(plots.logo(mot.probs, mot.name), f"{mot.name} logo")]
        for t, target in enumerate(model.targets):
            beta = model.coef[t, 4 * i: 4 * i + 4]
            cells.append(_img(plots.dose_response(xs, phi @ beta, f"{target}: partial response (link)"),
                              f"{mot.name} response"))
        cells.append(_img(plots.spatial_profile(model.spatial[i], model.grid.size, model.grid.offset, "spatial"),
                          f"{mot.name} spatial"))
        reading, share = _reading(data.codes[data.split == "train"], mot, model.spatial[i], model.grid)
        info = fitted.clusters[i]
        lines = [f"<b>{html.escape(mot.name)}</b> ({html.escape(info.get('how', ''))}; {len(info.get('members', []))} member(s))",
                 f"bits {information_bits(mot.probs):.1f}; reading: {reading} (best-site share {share:.2f})"]
        if matches is not None and mot.name in matches.index:
            r = matches.loc[mot.name]
            lines.append(f"nearest: {html.escape(str(r['target']))} {html.escape(str(r.get('target_name', '')))} "
                         f"(p = {r['p_value']:.1e}, {r['strand']})")
        for t, target in enumerate(model.targets):
            beta = model.coef[t, 4 * i: 4 * i + 4]
            d = fitted.contributions.get(target, {}).get(mot.name)
            lines.append(f"{html.escape(target)}: β " + ", ".join(f"{b}: {v:+.2f}" for b, v in zip(BASES, beta, strict=True))
                         + (f"; ΔR² {d:.4f}" if d is not None else ""))
        cells.append("<br>".join(lines))
        rows.append("<tr>" + "".join(f"<td style='text-align:left'>{c}</td>" for c in cells) + "</tr>")
    motifs_html = f"<table>{''.join(rows)}</table>"
    rank_html = "".join(_img(plots.bars([k for k, _ in r], np.array([v for _, v in r]), t, "leave-one-out ΔR² (train)"),
                             f"{t} ranking") for t, r in ranking.items() if r)
    names = model.feature_names()
    k0 = 4 * (m + len(model.covariates))
    inter_rows = [[names[k0 + j]] + [f"{model.coef[t, k0 + j]:+.3f}" for t in range(len(model.targets))]
                  for j in range(len(model.interactions))]
    inter_html = _table(["pair", *model.targets], inter_rows) if inter_rows else "<p class='note'>none (run with --interactions)</p>"
    html_text = page(f"cisgram IQ model: {', '.join(model.targets)}", [
        ("Metrics", _metrics_section(metrics) + _metric_bars(metrics)), ("Test predictions", _scatters(preds)),
        ("Pipeline", stages), ("Contribution ranking", rank_html), (f"Motifs ({m})", motifs_html),
        ("Interactions", inter_html)])
    with atomic_write(path) as fh:
        fh.write(html_text)



def explain_benchmark_report(path, sim, table, classifier: dict, arrays: dict, X, truth) -> None:
    """``report.html`` of ``cisgram explain benchmark``: the grammar, the classifier's test
    areas, each method's recovery of the planted sites beside AgentBind's published figure, and
    the importance tracks and DeepLIFT / ISM logos of a few explained sequences."""
    from cisgram import plots
    from cisgram.explain import importance

    g = sim.grammar
    head = (f"<p class='note'>grammar <b>{html.escape(g.name)}</b>: {html.escape(g.description)}; "
            f"{len(sim.label):,} sequences of {sim.codes.shape[1]} bp; classifier test auROC "
            f"{classifier['auroc']:.3f}, auPRC {classifier['auprc']:.3f}. Scores: auROC of the planted "
            "label-bearing bases against all other bases of the explained test positives.</p>")
    rows = [[r.method, f"{r.auroc:.3f}", f"{r.auroc_per_sequence:.3f}", "" if np.isnan(r.agentbind) else f"{r.agentbind:.3f}",
             "" if np.isnan(r.target) else f"{r.target:.3f}", f"{r.seconds:.1f}"] for r in table.itertuples()]
    bars = plots.bars(list(table["method"]), table["auroc"].to_numpy(), "planted-site recovery", "auROC")
    sections = [("Methods against the ground truth",
                 head + _table(["method", "auROC", "per sequence", "AgentBind", "target", "seconds"], rows)
                 + _img(bars, "auROC per method"))]
    examples = []
    sites = sim.sites
    for k, i in enumerate(arrays["index"][:3]):
        s = sites[(sites["seq"] == i)]
        spans = [(a, b, f"{n} ({r})") for a, b, n, r in zip(s["start"], s["end"], s["name"], s["role"], strict=True)]
        tracks = {m: importance(arrays[m][k: k + 1], X[k: k + 1], m)[0] for m in table["method"]}
        examples.append(_img(plots.importance_tracks(tracks, f"test sequence {i}", spans=spans), f"tracks {i}"))
        for m in ("deeplift", "ism"):
            if m in arrays:
                # ISM: the observed base carries minus the mean change of its three substitutions
                a = -arrays[m][k].sum(0, keepdims=True) / 3 if m == "ism" else arrays[m][k]
                contrib = (a * X[k]).T
                examples.append(_img(plots.contribution_logo(contrib, f"{m}, sequence {i}", spans=spans), f"{m} {i}"))
    sections.append(("Examples (shaded: planted sites)", "".join(examples)))
    with atomic_write(path) as fh:
        fh.write(page(f"cisgram explain benchmark: {g.name}", sections))


def explain_report(path, names, X, pred, arrays: dict, found, n_logos: int, window: int = 60) -> None:
    """``report.html`` of ``cisgram explain``: per highest-predicted sequence, every method's
    importance along it and a logo of each method's contributions over its most important
    ``window`` bp; with discovery, the TF-MoDISco patterns and their database matches."""
    from cisgram import plots
    from cisgram.explain import importance

    order = np.argsort(-pred)[:n_logos]
    blocks = []
    for i in order:
        tracks = {m: importance(a[i: i + 1], X[i: i + 1], m)[0] for m, a in arrays.items()}
        first = next(iter(tracks.values()))
        smooth = np.convolve(first, np.ones(window), mode="valid")
        lo = int(np.argmax(smooth)) if smooth.size else 0
        blocks.append(_img(plots.importance_tracks(tracks, f"{names[i]} (prediction {pred[i]:.3g})",
                                                   spans=[(lo, lo + window, "")]), f"tracks {names[i]}"))
        for m, a in arrays.items():
            c = -a[i].sum(0, keepdims=True) / 3 if m == "ism" else a[i]
            contrib = (c * X[i]).T[lo: lo + window]
            blocks.append(_img(plots.contribution_logo(contrib, f"{m}: {names[i]} +{lo}"), f"{m} {names[i]}"))
    sections = [(f"The {len(order)} highest-predicted sequences", "".join(blocks))]
    if found is not None:
        from cisgram.interpret.discovery import discovery_section

        sections.append(("Motif discovery (TF-MoDISco, TOMTOM)", discovery_section(found)))
    with atomic_write(path) as fh:
        fh.write(page("cisgram explain", sections))


def _short(motif: str) -> str:
    """``AC0024:ZNF:C2H2_ZF`` → ``AC0024:ZNF`` (Vierstra archetype names), other names unchanged."""
    return ":".join(str(motif).split(":")[:2])


def get_explain_report(path, genes, gbm, corr, interactions, adjacency, edges, enhancers, config: dict, *,
                       max_genes: int = 6, max_motifs: int = 25, max_rows: int = 30) -> None:
    """``report.html`` of ``cisgram explain get``: the gene-by-motif heat map (highest-predicted
    genes × motifs of highest mean absolute contribution), the correlation of those motifs, the
    strongest interactions, the LiNGAM graph, and enhancer-gene tracks of up to ``max_genes`` genes."""
    from cisgram import plots

    motifs = [m for m in gbm.columns if m != "accessibility"]
    strength = gbm[motifs].abs().mean(0).sort_values(ascending=False)
    top_m = list(strength.index[:max_motifs])
    top_g = genes.sort_values("predicted", ascending=False)["entry"].head(max_rows).tolist()
    head = (f"<p class='note'>{html.escape(config['cell'])}: {len(genes):,} TSS entries (region and strand), windows "
            f"of {config['n_regions']} regions; input × gradient at the gene's region and strand, mean over the "
            f"window{' (LoRA adapter merged)' if config.get('lora_adapter') else ''}.</p>")
    sections = [("Gene by motif", head + _img(plots.heatmap(gbm.loc[top_g, top_m].to_numpy(), top_g, top_m,
                                                            "gene x motif (signed)", label="input x gradient"),
                                              "gene by motif"))]
    sub = corr.loc[top_m, top_m].to_numpy()
    rows = [[r.motif_a, r.motif_b, f"{r.correlation:.3f}"] for r in interactions.head(20).itertuples()]
    sections.append(("Motif-motif interactions",
                     _img(plots.heatmap(sub, top_m, top_m, "Spearman correlation across genes", label="rho"),
                          "motif correlation")
                     + f"<p class='note'>top {config['interaction_fraction']:.0%} of motif pairs by |rho|: "
                       f"{len(interactions):,} pairs; the strongest 20:</p>"
                     + _table(["motif", "motif", "rho"], rows)))
    e_rows = [[r.source, r.target, f"{r.weight:.3f}"] for r in edges.head(30).itertuples()]
    sections.append(("Causal graph (LiNGAM)",
                     f"<p class='note'>{html.escape(config['causal_method'])}-LiNGAM on the z-scored gene-by-motif "
                     f"columns of {adjacency.shape[0]} motifs, {config['n_orders']} column orders averaged; "
                     f"edges with |weight| ≥ {config['causal_threshold']}: {len(edges):,}.</p>"
                     + _img(plots.network([(_short(a), _short(b), w) for a, b, w in
                                           edges.head(60).itertuples(index=False, name=None)],
                                          "causal graph (strongest 60 edges)"), "causal graph")
                     + _table(["source", "target", "weight"], e_rows)))
    shown = config.get("genes") or genes.sort_values("predicted", ascending=False)["gene"].tolist()
    tracks = []
    labels = enhancers["gene"].astype(str).str.split(",")
    for g in dict.fromkeys(shown):
        part = enhancers[labels.map(lambda names, g=g: g in names)]
        if part.empty:
            continue
        for (tss, strand), one in part.groupby(["tss_region", "strand"], sort=False):
            one = one.sort_values("distance")
            tracks.append(_img(plots.enhancer_track(
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
    with atomic_write(path) as fh:
        fh.write(page(f"cisgram explain get: {config['cell']}", sections))


def get_report(path, preds, metrics: dict, history: dict, config: dict, gbm=None) -> None:
    """``report.html`` of a GET run (:func:`cisgram.expression.train_get`): test metrics of the
    transformer and every baseline per cell type (all TSS entries and expressed ones), the LoRA
    figures, the training curves, and observed-vs-predicted test scatters per cell type and model."""
    from cisgram import plots

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
    table = _table(["cell type", "held out", "model", "Pearson (all)", "Pearson (expressed)", "Spearman (all)",
                    "R² (all)", "n", "n expressed"], rows)
    sections = [("Test metrics", head + table)]
    lm = metrics.get("lora")
    if lm:
        sections.append(("LoRA", _table(["what", "value"], [
            ["cell type", lm["cell"]], ["rank", lm["rank"]],
            ["parameters trained", f"{lm['trainable_parameters']:,} of {lm['total_parameters']:,} "
                                   f"({lm['fraction_trained']:.2%})"],
            ["adapter on disk", f"{lm['adapter_bytes']:,} bytes"], ["base weights unchanged", lm["base_unchanged"]]])))
    curves = "".join(_img(plots.training_curve(h["epochs"], stage, best=h["best_epoch"]), f"{stage} curve")
                     for stage, h in history.items() if isinstance(h, dict) and h.get("epochs"))
    if curves:
        sections.append(("Training", curves))
    test = preds[preds["split"] == "test"]
    for cell, g in test.groupby("cell", sort=False):
        figs = []
        for name, gm in g.groupby("model", sort=False):
            ok = gm[np.isfinite(gm["predicted"].to_numpy(np.float64))]
            if len(ok) >= 2:
                figs.append(_img(plots.scatter(ok["observed"].to_numpy(), ok["predicted"].to_numpy(), f"{cell}: {name}"),
                                 f"{cell} {name}"))
        sections.append((f"Test predictions: {cell} (held out: {metrics['held_out'].get(cell, '')})", "".join(figs)))
    if gbm is not None and len(gbm):
        from cisgram import plots

        motifs = [m for m in gbm.columns if m != "accessibility"]
        top_m = list(gbm[motifs].abs().mean(0).sort_values(ascending=False).index[:25])
        sub = gbm.iloc[:30]
        sections.append(("Gene by motif (test TSS entries)",
                         "<p class='note'>input × gradient at each gene's region and strand, mean over its window; "
                         "the 25 motifs of highest mean |contribution| (`cisgram explain get` for all genes, "
                         "interactions, the causal graph and enhancer scores).</p>"
                         + _img(plots.heatmap(sub[top_m].to_numpy(), [str(r) for r in sub.index],
                                              [_short(m) for m in top_m], "gene x motif", label="input x gradient"),
                                "gene by motif")))
    with atomic_write(path) as fh:
        fh.write(page(f"cisgram GET: {'leave out ' + lo if lo else 'all cell types'}", sections))


def _fmt(v, digits: int = 3) -> str:
    return "" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{digits}f}"


def _compare_bars(target: str, comparison: dict) -> str:
    """Test Pearson (and auROC) per model with 95 % bootstrap intervals, and each model's
    difference to the reference run with its interval."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    models = [m["name"] for m in comparison["models"]]
    test = comparison["metrics"]["test"][target]
    ref = comparison["reference"][target]["model"]
    binary = next(x["binary"] for x in comparison["targets"] if x["name"] == target)
    metrics = ["pearson", "auroc"] if binary else ["pearson"]
    fig = Figure(figsize=(4.2 * 2 * len(metrics), 0.35 * len(models) + 1.2), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 * len(metrics), squeeze=False)[0]
    y = np.arange(len(models))
    colours = ["C0" if m["kind"] == "run" else "C2" for m in comparison["models"]]
    for k, metric in enumerate(metrics):
        ax, dx = axes[2 * k], axes[2 * k + 1]
        vals = np.array([np.nan if test[m].get(metric) is None else test[m][metric] for m in models], dtype=float)
        ci = [comparison["intervals"][target].get(m, {}).get(metric) or [None, None] for m in models]
        lo = np.array([np.nan if c[0] is None else c[0] for c in ci], dtype=float)
        hi = np.array([np.nan if c[1] is None else c[1] for c in ci], dtype=float)
        ax.barh(y, np.nan_to_num(vals), color=colours, height=0.7)
        err = np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)])
        ok = np.isfinite(err).all(axis=0) & np.isfinite(vals)
        ax.errorbar(vals[ok], y[ok], xerr=err[:, ok], fmt="none", ecolor="k", elinewidth=0.8, capsize=2)
        ax.set_yticks(y, [f"{m} (ref)" if m == ref else m for m in models], fontsize=7)
        ax.set_ylim(len(models) - 0.5, -0.5)
        ax.axvline(0, color="0.5", lw=0.5)
        ax.set_title(f"{target}: test {metric} (95% bootstrap)", fontsize=8)
        ax.tick_params(labelsize=6)
        d = [comparison["versus_reference"][target][m].get(metric) or [None, None, None] for m in models]
        est = np.array([np.nan if v[0] is None else v[0] for v in d], dtype=float)
        dlo = np.array([np.nan if v[1] is None else v[1] for v in d], dtype=float)
        dhi = np.array([np.nan if v[2] is None else v[2] for v in d], dtype=float)
        ok = np.isfinite(est) & np.isfinite(dlo) & np.isfinite(dhi)
        dx.errorbar(est[ok], y[ok], xerr=np.vstack([est[ok] - dlo[ok], dhi[ok] - est[ok]]).clip(0), fmt="o",
                    color="C1", ms=3, elinewidth=0.8, capsize=2)
        dx.axvline(0, color="0.5", lw=0.7, ls="--")
        dx.set_yticks(y, [""] * len(models))
        dx.set_ylim(len(models) - 0.5, -0.5)
        dx.set_title(f"difference to {ref}", fontsize=8)
        dx.tick_params(labelsize=6)
    return _img(fig, f"{target} test metrics with bootstrap intervals")


def compare_report(path, comparison: dict, joined) -> None:
    """``report.html`` of ``cisgram compare`` (:func:`cisgram.evaluate.compare_runs`): the runs,
    per target the test metrics of every run and ensemble with 95 % bootstrap intervals and
    differences to the reference run (bar charts and a table), validation metrics, ensemble
    weights, and test observed-vs-predicted scatters per model. ``joined`` is the comparison's
    ``predictions.parquet`` table (one prediction column per model)."""
    from cisgram import plots

    models = comparison["models"]
    boot = comparison["bootstrap"]
    runs_rows = [[r["name"], r["family"], r["path"], "" if r["n_params"] is None else f"{r['n_params']:,}",
                  _fmt(r["train_seconds"], 1), f"{r['entries_dropped']:,}"] for r in comparison["runs"]]
    note = (f"<p class='note'>Entries compared: those every run scored, on the targets every run predicts. "
            f"Ensembles are fitted on the validation split only ({html.escape(', '.join(m['name'] for m in models if m['kind'] == 'ensemble')) or 'none'}); "
            f"their validation metrics are in-sample. Intervals: paired bootstrap of the test entries, "
            f"{boot['n_boot']} resamples (seed {boot['seed']}), 2.5th-97.5th percentiles. The reference of a target is "
            "the single run with the best validation score. Parameters: fitted values in each run's weights; "
            "an ensemble's are the sum over its runs.</p>")
    sections = [("Runs", note + _table(["run", "family", "path", "parameters", "training seconds", "entries left out"],
                                       runs_rows))]
    for tinfo in comparison["targets"]:
        t, binary = tinfo["name"], tinfo["binary"]
        ref = comparison["reference"][t]["model"]
        rows = []
        for m in models:
            met = comparison["metrics"]["test"][t][m["name"]]
            ci = comparison["intervals"][t].get(m["name"], {})
            pc = ci.get("pearson") or [None, None]
            vs = comparison["versus_reference"][t][m["name"]]
            d = vs.get("pearson") or [None, None, None]
            row = [m["name"], m["kind"], f"{_fmt(met['pearson'])} [{_fmt(pc[0])}, {_fmt(pc[1])}]", _fmt(met["spearman"]),
                   _fmt(met["r2"]), f"{met['n']:,}", f"{_fmt(d[0])} [{_fmt(d[1])}, {_fmt(d[2])}]"]
            if binary:
                da = vs.get("auroc") or [None, None, None]
                row += [_fmt(met.get("auroc")), _fmt(met.get("auprc")), f"{_fmt(da[0])} [{_fmt(da[1])}, {_fmt(da[2])}]"]
            rows.append(row)
        head = ["model", "kind", "Pearson [95% CI]", "Spearman", "R²", "n", f"Δ Pearson vs {ref} [95% CI]"]
        if binary:
            head += ["auROC", "auPRC", f"Δ auROC vs {ref} [95% CI]"]
        entries = tinfo["entries"]
        tnote = (f"<p class='note'>{entries['val']:,} validation and {entries['test']:,} test entries"
                 f"{'; observed values are 0/1' if binary else ''}; reference {html.escape(ref)} "
                 f"({html.escape(comparison['reference'][t]['chosen_by'])}).</p>")
        sections.append((f"{t}: test metrics", tnote + _compare_bars(t, comparison) + _table(head, rows)))
    val_rows = [[t, m["name"], _fmt(met["pearson"]), _fmt(met["spearman"]), _fmt(met["r2"]), f"{met['n']:,}"]
                for t, per in comparison["metrics"]["val"].items() for m in models for met in [per[m["name"]]]]
    sections.append(("Validation metrics (ensembles fitted here: in-sample)",
                     _table(["target", "model", "Pearson", "Spearman", "R²", "n"], val_rows)))
    w_rows = []
    for t, per in comparison["ensembles"]["weights"].items():
        for kind, info in per.items():
            if not info.get("fitted"):
                w_rows.append([t, kind, f"not fitted: {info.get('reason', '')}"])
            elif kind == "stacked":
                w_rows.append([t, kind, f"intercept {info['intercept']:.4g}; " + "; ".join(
                    f"{r} {w:.4g} (standardised {info['standardised_weights'][r]:.3f})" for r, w in info["weights"].items())])
            else:
                w_rows.append([t, kind, f"mean of validation z-scores × {info['slope']:.4g} + {info['intercept']:.4g}"])
    if w_rows:
        sections.append(("Ensemble weights (fitted on validation)", _table(["target", "ensemble", "fit"], w_rows)))
    test = joined[joined["split"] == "test"]
    for tinfo in comparison["targets"]:
        t = tinfo["name"]
        g = test[test["target"] == t]
        figs = []
        for m in models:
            v = g[m["name"]].to_numpy(np.float64)
            ok = np.isfinite(v)
            if ok.sum() >= 2:
                figs.append(_img(plots.scatter(g["observed"].to_numpy(np.float64)[ok], v[ok], f"{t}: {m['name']}"),
                                 f"{t} {m['name']} test scatter"))
        labels = g["observed"].to_numpy(np.float64)
        if tinfo["binary"] and 0 < labels.sum() < len(labels):
            scores = {m["name"]: g[m["name"]].to_numpy(np.float64) for m in models}
            scores = {k: v for k, v in scores.items() if np.isfinite(v).all()}
            figs.insert(0, _img(plots.roc_curves(labels, scores, f"{t} (test)"), f"{t} test ROC curves"))
        sections.append((f"{t}: test predictions", "".join(figs) or "<p class='note'>no test entries</p>"))
    title = "cisgram compare: " + ", ".join(r["name"] for r in comparison["runs"])
    with atomic_write(path) as fh:
        fh.write(page(title, sections))


# ------------------------------------------------------------------------------------ the demo page


def _link(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def _raw_table(header: list[str], rows: list[list[str]], left: tuple[int, ...] = ()) -> str:
    """A table whose cells are HTML already (escape text with ``html.escape`` first); columns
    ``left`` (besides the first) are aligned left, for sentences."""
    def cell(tag: str, i: int, v) -> str:
        return f"<{tag} style='text-align:left'>{v}</{tag}>" if i in left else f"<{tag}>{v}</{tag}>"

    head = "".join(cell("th", i, html.escape(str(h))) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _png_file(path, alt: str) -> str:
    with open(path, "rb") as fh:
        data = base64.b64encode(fh.read()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _ci(v) -> str:
    return "" if not v or v[0] is None else f" [{_fmt(v[0])}, {_fmt(v[1])}]"


def demo_report(path, summary: dict, *, comparison: dict | None = None, variants=None, problems=None,
                images: dict | None = None, elapsed: float | None = None) -> None:
    """``report.html`` of ``cisgram demo`` (:func:`cisgram.demo.run_demo`): one self-contained page
    with every step's time and outcome, the dataset, the motif scan, the IQ / CNN / baseline
    metrics, the comparison with its ensembles (bootstrap intervals), GET's test metrics and
    explanation, the variant table with the VCF lines that were not scored, and the saturation
    maps (``images``: title -> PNG path, embedded). Each step's own report is linked by a path
    relative to the page. ``summary`` is the demo's ``summary.json`` so far; sections of steps not
    run are left out."""
    from cisgram import plots

    steps = summary.get("steps", [])
    target = (summary.get("compare") or {}).get("target", "K562")
    mode = "quick mode (minimal epochs and motifs: same steps, rougher models)" if summary.get("quick") else "full mode"
    total = elapsed if elapsed is not None else sum(s["seconds"] for s in steps)
    intro = (f"<p>Every step of cisgram on the bundled real slice (hg38 chr22:19-29 Mb; K562, GM12878, MCF7), "
             f"{html.escape(mode)}: {len(steps)} steps so far in {total:.0f} s. Each step reads and writes files in "
             "this directory; its own report is linked.</p>")
    rows = []
    for s in steps:
        link = _link(s["report"], "report") if s.get("report") else ", ".join(_link(o, o.rsplit("/", 1)[-1]) for o in s["outputs"][:2])
        rows.append([html.escape(s["name"]), html.escape(s["title"]), f"{s['seconds']:.1f}", html.escape(s["note"]), link])
    sections = [("The chain", intro + _raw_table(["step", "what", "seconds", "outcome", "see"], rows, left=(1, 3)))]
    if steps:
        fig = plots.bars([s["name"] for s in steps], np.array([s["seconds"] for s in steps], dtype=float),
                         "seconds per step", "seconds")
        sections[0] = ("The chain", sections[0][1] + _img(fig, "seconds per step"))

    if "conditions" in summary:
        sc = summary["split_counts"]
        crow = [[c["name"], f"{c['peaks']:,}", f"{c['nonzero']:,}", f"{c['mean_coverage']:,.1f}", f"{c['mean_access']:.3f}"]
                for c in summary["conditions"]]
        body = (f"<p>{summary['n_regions']:,} union regions of {summary['width']} bp ({summary['n_near_tss']:,} within "
                f"1 kb of a TSS, {summary['n_constitutive']:,} constitutive); {html.escape(summary['split'])} hold-out: "
                f"train {sc['train']:,} / val {sc['val']:,} / test {sc['test']:,}. "
                f"{_link('prepare_report.html', 'Dataset report')}, {_link('dataset.h5ad', 'dataset.h5ad')}.</p>")
        sections.append(("Dataset", body + _table(["cell line", "peaks", "regions with signal", "mean coverage",
                                                     "mean access prob."], crow)))
    if "scan" in summary:
        s = summary["scan"]
        body = (f"<p>{s['n_regions']:,} regions x {s['n_motifs']} motifs: {html.escape(', '.join(s['features']))}; "
                f"{s['n_hits']:,} hits at p &lt; 1e-4 ({_link('features.parquet', 'features.parquet')}, "
                f"{_link('hits.tsv', 'hits.tsv')}). Motifs with the most hits:</p>")
        sections.append(("Motif scan", body + _table(["motif", "name", "hits"],
                                                     [[m["motif"], m["name"], f"{m['hits']:,}"] for m in s["top_motifs_by_hits"]])))
    model_rows = []
    for key, name, href in (("iq", "IQ (biophysical)", "runs/iq/report.html"), ("cnn", "CNN (DeepSEA-style)", "runs/cnn/report.html"),
                            ("baseline", "6-mer ridge", "runs/kmer/report.html")):
        if key in summary:
            m = summary[key]
            model_rows.append([html.escape(name), _fmt(m["val"]["pearson"]), _fmt(m["test"]["pearson"]),
                               _fmt(m["test"]["spearman"]), f"{m['test']['n']:,}", _link(href, "report")])
    if model_rows:
        body = (f"<p>{html.escape(target)} access probability on the dataset's peaks: the same rows, numbers and "
                "split for the three families.</p>")
        body += _raw_table(["model", "val Pearson", "test Pearson", "test Spearman", "test n", "run"], model_rows)
        if "iq" in summary:
            body += "<p>IQ binding models, by leave-one-out ΔR² on training regions:</p>" + _table(
                ["motif", "from", "how", "ΔR²"],
                [[m["name"], m["representative"], m["how"], _fmt(m["delta_r2"], 4)] for m in summary["iq"]["motifs"]])
        sections.append(("Models of accessibility", body))
    if comparison is not None and "compare" in summary:
        c = summary["compare"]
        ref = c["reference"]
        versus = comparison["versus_reference"][target]
        crow = [[m["name"], m["kind"], _fmt(m["pearson"]) + _ci(m["pearson_ci"]), _fmt(m["r2"]), f"{m['n']:,}",
                 _fmt((versus[m["name"]].get("pearson") or [None])[0]) + _ci((versus[m["name"]].get("pearson") or [None])[1:])]
                for m in c["models"]]
        body = (f"<p>{c['entries']['val']:,} validation and {c['entries']['test']:,} test regions shared by every run; "
                "ensembles fitted on validation only; 95 % intervals from a paired bootstrap of the test regions; "
                f"reference {html.escape(ref)} (best validation Pearson). {_link('compare/report.html', 'Comparison report')}, "
                f"{_link('compare/comparison.tsv', 'comparison.tsv')}.</p>")
        body += _table(["model", "kind", "test Pearson [95% CI]", "test R²", "n", f"Δ Pearson vs {ref} [95% CI]"], crow)
        body += _compare_bars(target, comparison)
        sections.append(("Comparison and ensembles", body))
    if "get" in summary:
        g = summary["get"]
        cells = list(g["test"])
        names = ["GET", *(["GET + LoRA"] if g.get("lora") else []), *g["baselines"]]
        grow = []
        for cell in cells:
            vals = [g["test"][cell]["pearson"], *([(g["lora"] or {}).get(cell, {}).get("pearson")] if g.get("lora") else []),
                    *[b.get(cell, {}).get("pearson") for b in g["baselines"].values()]]
            held = "held out (zero-shot)" if cell == g["leave_out"] else "trained on (held-out blocks)"
            grow.append([cell, held, f"{g['test'][cell]['n']:,}", *[_fmt(v) for v in vals]])
        body = (f"<p>Transcription initiation at TSS regions from windows of 50 regions' motif hit-score sums and "
                f"accessibility; {html.escape(g['leave_out'])} held out of fine-tuning, then adapted with LoRA. "
                f"Test Pearson per cell type ({_link('runs/get/report.html', 'GET run report')}); with ~25 test "
                "entries per cell type the intervals are wide.</p>")
        body += _table(["cell type", "role", "test n", *names], grow)
        if "explain_get" in summary:
            e = summary["explain_get"]
            top = ", ".join(f"{m['name'] or m['motif']}" for m in e["top_motifs"][:10])
            body += (f"<p>Explanation in {html.escape(e['cell'])} ({_link('explain_get/report.html', 'explanation report')}): "
                     f"{e['n_entries']} TSS entries; motifs with the largest mean |input x gradient|: {html.escape(top)}; "
                     f"{e['n_interactions']} motif pairs kept, {e['n_causal_edges']} LiNGAM edges; enhancer-gene scores "
                     f"for {html.escape(', '.join(e['genes']))} ({_link('explain_get/enhancer_gene.tsv', 'enhancer_gene.tsv')}).</p>")
        sections.append(("Expression from region-by-motif data (GET)", body))
    if "variants" in summary:
        v = summary["variants"]
        sat = v["saturation"]
        body = (f"<p>{_link(v['vcf'], v['vcf'].rsplit('/', 1)[-1])}: {v['n_records']} records written for the demo, scored with "
                f"the CNN and IQ runs ({_link('variants/scores_cnn.tsv', 'scores_cnn.tsv')}, "
                f"{_link('variants/scores_iq.tsv', 'scores_iq.tsv')}); Δ = predicted {html.escape(target)} AP of the "
                "alternative minus the reference.</p>")
        if variants is not None and len(variants):
            vrow = [[int(r.line), r.id, f"{r.chrom}:{int(r.pos):,}", f"{r.ref}>{r.alt}", r.kind, f"{r.delta_cnn:+.4f}",
                     f"{r.delta_iq:+.4f}"] for r in variants.itertuples(index=False)]
            body += _table(["line", "id", "position", "change", "kind", "Δ CNN", "Δ IQ"], vrow)
        if problems is not None and len(problems):
            body += ("<p>Lines not scored (the wrong REF is deliberate; "
                     f"{_link('variants/scores_cnn.problems.tsv', 'scores_cnn.problems.tsv')}):</p>")
            body += _table(["line", "reason"], [[int(p.line), p.reason] for p in problems.itertuples(index=False)])
        body += (f"<p>Saturation mutagenesis of {html.escape(sat['region'])}, {html.escape(sat['where'])}: every "
                 "substitution scored alone. Strongest loss: "
                 + "; ".join(f"{fam.upper()} {html.escape(sat[fam]['worst'])} ({sat[fam]['min_delta']:+.4f}, "
                             f"{_link(sat[fam]['report'], 'map report')})" for fam in ("iq", "cnn") if fam in sat) + ".</p>")
        for title, png in (images or {}).items():
            body += f"<p class='note'>{html.escape(title)}</p>" + _png_file(png, title)
        sections.append(("Variant effects", body))
    files = [[html.escape(s["name"]), ", ".join(_link(o, o) for o in s["outputs"])] for s in steps]
    sections.append(("Files", _raw_table(["step", "outputs"], files, left=(1,))
                     + f"<p class='note'>{_link('summary.json', 'summary.json')} holds every number on this page.</p>"))
    with atomic_write(path) as fh:
        fh.write(page("cisgram demo: chr22:19-29 Mb, K562 / GM12878 / MCF7", sections))
