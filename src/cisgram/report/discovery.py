"""The TF-MoDISco section of an explanation report, drawn from a
:class:`~cisgram.interpret.discovery.Discovery` (duck-typed: this module imports no compute)."""

from __future__ import annotations

import html

import pandas as pd

from cisgram.report.html import html_table, img_tag
from cisgram.report.plots import contribution_logo, logo


def _match_rows(matches: pd.DataFrame) -> list[list]:
    return [[int(r["rank"]), r["target"], r["target_name"], f"{r['p_value']:.2e}", f"{r['q_value']:.2e}",
             r["strand"], int(r["offset"]), int(r["overlap"])] for _, r in matches.iterrows()]


def _pattern_html(p, matched) -> str:
    figures = [img_tag(contribution_logo(p.contrib, f"{p.name} contributions"), f"{p.name} contribution logo"),
               img_tag(logo(p.probs, f"{p.name} sequence"), f"{p.name} sequence logo")]
    best = p.best_match()
    if best is not None and best["target"] in matched:
        target = matched[best["target"]]
        shown = target.reverse_complement() if best["strand"] == "-" else target
        label = f"{target.name} {target.alt_name} ({best['strand']})".replace("  ", " ")
        figures.append(img_tag(logo(shown.probs, label), f"best match {label}"))
    head = (f"<h3>{html.escape(p.name)}: {p.n_seqlets} seqlets, "
            f"{'positive' if p.sign == 'pos' else 'negative'} contributions, {p.width} bp</h3>")
    body = "<div>" + "".join(figures) + "</div>"
    if not p.matches.empty:
        body += html_table(["rank", "target", "name", "p-value", "q-value", "strand", "offset", "overlap"],
                           _match_rows(p.matches))
    return head + body


def discovery_section(discovery) -> str:
    """An HTML fragment: per pattern a contribution logo, a sequence logo and its best match's
    logo (reverse-complemented when it matched on ``-``), then a table of its matches with p- and
    q-values. Without patterns, a sentence saying so."""
    if not discovery.patterns:
        return ("<p class='note'>TF-MoDISco found no patterns: too few seqlets stood out from the "
                "null, or none recurred often enough (more than 100 of one sign and 20 per pattern "
                "are needed).</p>")
    source = html.escape(discovery.database) if discovery.database else "no database"
    trim = discovery.params.get("trim_fraction")
    intro = (f"<p class='note'>{len(discovery.patterns)} pattern(s) from TF-MoDISco (modisco-lite), "
             + (f"trimmed to columns with at least {trim:g} x the largest summed |contribution|; " if trim else "")
             + f"matches by TOMTOM against {source}, q-values by Benjamini-Hochberg over all targets.</p>")
    return intro + "".join(_pattern_html(p, discovery.matched) for p in discovery.patterns)
