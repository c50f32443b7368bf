"""The saturation-mutagenesis map and its page, drawn from a :class:`~cisgram.results.SaturationResult`."""

from __future__ import annotations

import html
from pathlib import Path

from cisgram.files import atomic_path
from cisgram.report import plots
from cisgram.report.html import html_table, img_tag, write_page


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
