"""``report.html`` of ``cisgram structure``, drawn from a :class:`~cisgram.results.StructureResult`."""

from __future__ import annotations

import html

import numpy as np

from cisgram.report.html import fmt_num, html_table, img_tag, write_page
from cisgram.report.plots import pae_map, plddt_track


def _pairs_section(result) -> str:
    pairs = result.pairs
    has_pae = "min_pae" in pairs.columns
    head = ["chains", "contacts", "interface residues", "mean interface pLDDT", "pDockQ"]
    head += ["min PAE (Å)", "mean PAE (Å)", "min PAE a→b / b→a (Å)"] if has_pae else []
    rows = []
    for r in pairs.itertuples(index=False):
        row = [f"{r.chain_a}–{r.chain_b}", f"{r.n_contacts:,}", f"{r.interface_a} + {r.interface_b}",
               fmt_num(float(r.mean_interface_plddt), 1), fmt_num(float(r.pdockq))]
        if has_pae:
            row += [fmt_num(r.min_pae, 2), fmt_num(r.mean_pae, 2), f"{fmt_num(r.min_pae_ab, 2)} / {fmt_num(r.min_pae_ba, 2)}"]
        rows.append(row)
    scores = [f"{k} {fmt_num(result.config[k], 2)}" for k in ("ptm", "iptm") if result.config.get(k) is not None]
    note = ("<p class='note'>Contacts: residue pairs, one of each chain, with CB atoms (CA for glycine) within "
            f"{result.config['contact_cutoff']:g} Å. pDockQ = 0.724 / (1 + exp(-0.052 (x − 152.611))) + 0.018 with "
            "x = mean pLDDT of both chains' interface residues × log10(contacts) (Bryant et al. 2022); 0 without "
            "contacts. Minimum and mean PAE over both inter-chain blocks; a→b is aligned on a, scored on b"
            f"{'; model ' + ', '.join(scores) if scores else ''}.</p>")
    body = note + html_table(head, rows)
    if result.pae is not None:
        title = "PAE, chains " + " | ".join(result.chains)
        body += img_tag(pae_map(result.pae, result.chain_starts, title), "predicted aligned error matrix")
    return body


def structure_report(path, result) -> None:
    """Write the report of ``cisgram structure``: the chains (length, mean pLDDT, folded share),
    the segments table, per chain pLDDT along the sequence with its folded segments shaded, and
    for a complex the chain-pair scores (pDockQ, PAE) with the PAE heat map when one was given."""
    seg = result.segments
    conf = result.config
    chain_rows = []
    for c in result.chains:
        p = np.asarray(result.plddt[c])
        folded = seg[(seg["chain"] == c) & (seg["kind"] == "folded")]
        chain_rows.append([c, f"{p.size:,}", fmt_num(float(p.mean()), 1), f"{len(folded)}",
                           f"{int(folded['length'].sum()):,}"])
    note = (f"<p class='note'>Model {html.escape(str(conf.get('model_given', conf.get('model'))))}. Folded: pLDDT ≥ "
            f"{conf['threshold']:g}; runs shorter than {conf['min_length']} residues are merged into their "
            "neighbours, shortest first.</p>")
    sections = [("Chains", note + html_table(["chain", "residues", "mean pLDDT", "folded segments", "folded residues"],
                                             chain_rows)),
                ("Segments", html_table(["chain", "start", "end", "kind", "length", "mean pLDDT"],
                                        [[r.chain, r.start, r.end, r.kind, r.length, fmt_num(r.mean_plddt, 1)]
                                         for r in seg.itertuples(index=False)]))]
    figs = []
    for c in result.chains:
        folded = seg[(seg["chain"] == c) & (seg["kind"] == "folded")]
        fig = plddt_track(result.plddt[c], result.residues[c], list(zip(folded["start"], folded["end"], strict=True)),
                          f"chain {c}: pLDDT (shaded: folded)")
        figs.append(img_tag(fig, f"pLDDT along chain {c}"))
    sections.append(("pLDDT along each chain", "<br>".join(figs)))
    if result.pairs is not None:
        sections.append(("Chain pairs", _pairs_section(result)))
    write_page(path, "cisgram structure", sections)
