"""The saturation-mutagenesis map and its page, drawn from a :class:`~cisgram.results.SaturationResult`; the
concordance page of a tfbind run's variant scores (:func:`tfbind_variants_report`)."""

from __future__ import annotations

import html
from pathlib import Path

from cisgram.files import atomic_path
from cisgram.report import plots
from cisgram.report.html import fmt_num, html_table, img_tag, write_page


def saturation_figure(result):
    """The map of ``result.target``: rows A, C, G, T, one column per position, coloured by the
    delta (diverging, centred on 0), a dot on each reference base."""
    return plots.saturation_heatmap(result.matrix, result.reference, result.start + 1,
                                    f"{result.target}: {result.chrom}:{result.start + 1:,}-{result.end:,} (1-based), "
                                    f"{result.family} run")


def saturation_report(directory, result) -> None:
    """Write ``saturation.png`` (the map) and ``report.html`` (the map, the strongest losses and
    gains) into ``directory``."""
    d = Path(directory)
    with atomic_path(d / "saturation.png") as tmp:
        saturation_figure(result).savefig(tmp, format="png", dpi=90, bbox_inches="tight")
    t, table = result.target, result.table
    ranked = table[["chrom", "pos", "ref", "alt", f"delta:{t}"]].sort_values(f"delta:{t}")
    down = [[c, p, r, a, f"{v:.4g}"] for c, p, r, a, v in ranked.head(10).itertuples(index=False)]
    up = [[c, p, r, a, f"{v:.4g}"] for c, p, r, a, v in ranked.tail(10)[::-1].itertuples(index=False)]
    n = result.end - result.start
    note = (f"<p class='note'>Every substitution of {n} positions ({len(table)} in all), each scored alone in "
            f"one {result.length} bp window centred on the region; colour = predicted {html.escape(t)} of the "
            f"alternative minus the reference, dots = reference bases. Run: {html.escape(result.run)}.</p>")
    if result.unresponsive:
        note += (f"<p class='note'><b>The model cannot see this window</b> for {html.escape(', '.join(result.unresponsive))}: "
                 "its output does not respond to the input at all, so every Δ is 0 because of the model, not because "
                 "the bases are neutral.</p>")
    write_page(d / "report.html", f"cisgram saturation mutagenesis: {result.chrom}:{result.start + 1:,}-{result.end:,}", [
        ("Map", note + img_tag(saturation_figure(result), "saturation mutagenesis map")),
        ("Strongest losses", html_table(["chrom", "pos", "ref", "alt", "delta"], down)),
        ("Strongest gains", html_table(["chrom", "pos", "ref", "alt", "delta"], up))])


def tfbind_variants_report(path, result) -> None:
    """Write the page of a tfbind run's variant scores (a
    :class:`~cisgram.workflows.variants_tfbind.TFBindVariantScores`) to ``path``: the pairwise
    Spearman ρ of the networks' Δ as heat maps (all rows; rows outside the core, where a blocked
    network's Δ is not 0 by construction) and the table of every pair with its top-1 % overlap."""
    keys = list(result.keys)
    conc = result.concordance
    t = result.table
    n_var = t[["line", "alt"]].drop_duplicates().shape[0]
    seeds = ", ".join(f"{html.escape(k)} ({n})" for k, n in result.seeds.items())
    note = (f"<p class='note'>{len(t):,} (variant allele, window) rows: {n_var:,} substitutions in the run's "
            f"{html.escape(result.windows)} windows, {int(t['in_core'].sum()):,} rows inside the core site. Δ = "
            f"{'logit' if result.scale == 'logit' else 'probability'} of the strand-averaged prediction of the "
            f"alternative minus the reference, seeds averaged; networks (seeds): {seeds}. A blocked network reads "
            "N over the core site, so its Δ is 0 there by construction: compare the blocked networks on the rows "
            f"outside the core. Top 1 %: the share of the k rows with the largest |Δ| of one network that are "
            f"also among the other's k (k = {int(conc['top_k'].iloc[0]) if len(conc) else 0} over all rows). "
            f"Run: {html.escape(result.run)}.</p>")
    figs = []
    for subset, title in (("all", "all rows"), ("outside_core", "rows outside the core")):
        m = result.spearman[subset]
        nan = m.isna().to_numpy().any()
        fig = plots.heatmap(m.fillna(0.0).to_numpy(), keys, keys, f"Spearman ρ of Δ, {title}", center=True,
                            label="Spearman ρ")
        figs.append(img_tag(fig, f"Spearman of Δ between networks, {title}")
                    + ("<p class='note'>Blank pairs (a constant Δ) are drawn as 0.</p>" if nan else ""))
    by = {(a, b, s): (r, o) for a, b, s, r, o in conc[["a", "b", "subset", "spearman", "top_shared"]].itertuples(index=False)}
    rows = [[a, b, *[fmt_num(v) for s in ("all", "outside_core") for v in by[(a, b, s)]]]
            for i, a in enumerate(keys) for b in keys[i + 1:]]
    header = ["network a", "network b", "ρ (all)", "top 1 % shared (all)", "ρ (outside core)",
              "top 1 % shared (outside core)"]
    write_page(path, "cisgram variants: how much the training regime moves variant scores", [
        ("Concordance between networks", note + "".join(figs)),
        ("Every pair", html_table(header, rows))])
