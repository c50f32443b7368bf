"""`cisgram tfbind-patterns`: what each regime's networks learn, named by TOMTOM and classed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cisgram.genome import codes_to_onehot
from cisgram.workflows.tfbind_patterns import (
    PATTERN_COLUMNS,
    accessibility_family,
    pattern_class,
    regime_patterns,
    same_tf,
)


def test_names_and_families():
    assert same_tf("CTCFL", ["MA1930.2", "CTCF"]) and same_tf("MA1930.1", ["MA1930.2"])
    assert same_tf("GATA1::TAL1", ["GATA2"]) and same_tf("FOSL2", ["FOS"])
    assert same_tf("SPIB", ["MA0080.7", "SPI1"]) and same_tf("JUND", ["FOS::JUN"]) and same_tf("CEBPA", ["CEBPB"])
    assert not same_tf("ZNF384", ["ZNF143"]) and not same_tf("SPI1", ["SP1"]) and not same_tf("REST", ["CTCF"])
    assert accessibility_family("FOS::JUN") == "AP-1" and accessibility_family("Spi1") == "ETS/SPI1"
    assert accessibility_family("CTCF") == "CTCF" and accessibility_family("ZNF143") == ""
    ids, names = ["MA1930.2"], ["MA1930.2", "CTCF"]
    assert pattern_class("MA1930.2", "CTCF", 1e-5, ids, names) == ("the TF", "")
    assert pattern_class("MA0035.5", "GATA1", 1e-5, ids, names) == ("accessibility/pioneer", "GATA")
    assert pattern_class("MA0088.2", "ZNF143", 1e-5, ids, names) == ("partner", "")
    assert pattern_class("MA0088.2", "ZNF143", 0.2, ids, names) == ("unnamed", "")
    assert pattern_class("MA1930.2", "CTCF", 1e-9, ids, names, n_informative=1) == ("unnamed", "")  # noise
    assert pattern_class(None, None, None, ids, names) == ("unnamed", "")
    # CTCF is accessibility only when it is not the TF itself
    assert pattern_class("MA1930.2", "CTCF", 1e-5, ["MA0138.3"], ["REST"]) == ("accessibility/pioneer", "CTCF")


def _planted(motifs, n: int = 80, length: int = 500, seed: int = 0):
    """Windows holding the TF's site (CTCF) at the centre, a partner's (ZNF143) and an AP-1
    site (JUND) elsewhere; hypothetical contributions that light up exactly those sites
    (the motif's probabilities minus 0.25, scaled) over small noise elsewhere."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, length))
    hyp = rng.normal(0, 0.02, size=(n, 4, length))
    sites = {"CTCF": (length // 2 - 16, 2.0), "ZNF143": (length // 2 - 120, 2.0), "JUND": (length // 2 + 100, 2.0)}
    for name, (at, strength) in sites.items():
        m = next(x for x in motifs if x.alt_name == name)
        for i in range(n):
            start = at + int(rng.integers(-6, 7))
            codes[i, start: start + m.width] = [rng.choice(4, p=p) for p in m.probs]
            hyp[i, :, start: start + m.width] = strength * (m.probs.T - 0.25)
    return codes_to_onehot(codes.astype(np.uint8)), hyp.astype(np.float32)


def test_planted_partner_is_named_and_classed(tmp_path):
    """The partner's pattern is named ZNF143 and classed partner, the core CTCF and classed the
    TF, the AP-1 site accessibility/pioneer (constructed attributions, TOMTOM on the demo's
    100 JASPAR motifs); the network's files and the report section show them."""
    from cisgram.bundled import demo
    from cisgram.motifs.pwm import load_motifs
    from cisgram.report.tfbind import patterns_section
    from cisgram.workflows.tfbind_patterns import write_network_patterns

    db = load_motifs(demo().motifs)
    X, hyp = _planted(db)
    found, rows = regime_patterns(hyp, X, database=db, tf_ids=["MA1930.2"], tf_names=["MA1930.2", "CTCF"],
                                  window=15, flank=3)
    table = pd.DataFrame(rows)
    by_class = {c: set(t["match_name"]) for c, t in table.groupby("class")}
    assert "ZNF143" in by_class.get("partner", set()), table
    assert by_class.get("the TF", set()) & {"CTCF", "CTCFL"}, table
    assert by_class.get("accessibility/pioneer"), table
    assert (table.loc[table["class"] != "unnamed", "q_value"] <= 0.05).all()
    assert (table.loc[table["class"] != "unnamed", "n_informative"] >= 4).all()

    windows = pd.DataFrame({"name": [f"w{i}" for i in range(len(X))]})
    write_network_patterns(tmp_path / "open" / "patterns", found, windows)
    files = {p.name for p in (tmp_path / "open" / "patterns").iterdir()}
    assert {"patterns.meme", "patterns.npz", "matches.tsv", "seqlets.tsv"} <= files
    assert {f"{p}.png" for p in table["pattern"]} <= files
    seqlets = pd.read_csv(tmp_path / "open" / "patterns" / "seqlets.tsv", sep="\t")
    assert set(seqlets["pattern"]) == set(table["pattern"]) and seqlets["window"].str.startswith("w").all()
    table = table.assign(regime="open", core="kept", n_windows=len(X), note=f"{len(X)} bound test windows")
    table.reindex(columns=PATTERN_COLUMNS).to_csv(tmp_path / "patterns.tsv", sep="\t", index=False)
    title, body = patterns_section(tmp_path)
    assert title == "What each regime learns" and "open (kept)" in body
    assert body.count("<img") == len(table) and "ZNF143" in body and ">partner<" in body and ">the TF<" in body
    assert "1 the TF" in body and "1 partner" in body


def test_tfbind_patterns_on_a_tiny_run(tiny_tfbind_run, tmp_path):
    """``cisgram tfbind-patterns`` on a finished run (real K562 CTCF peaks of the demo slice, two
    regimes, kept and blocked): one block of rows per network in ``patterns.tsv``, the MoDISco
    files of each network, and the report's section with one column per regime x core. With 2
    epochs of 16 filters MoDISco may find nothing in a network: that network then has one row
    of class ``none`` whose ``note`` says why, and its column is empty."""
    import shutil

    from typer.testing import CliRunner

    from cisgram.bundled import demo
    from cisgram.cli.app import app

    run = tmp_path / "run"
    shutil.copytree(tiny_tfbind_run[0], run)
    res = CliRunner().invoke(app, ["tfbind-patterns", str(run), "--database", str(demo().motifs),
                                   "--max-windows", "150", "--shuffles", "2"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(run / "patterns.tsv", sep="\t", keep_default_na=False)
    assert list(table.columns) == PATTERN_COLUMNS
    networks = set(zip(table["regime"], table["core"], strict=True))
    assert networks == {("standard", "kept"), ("standard", "blocked"), ("genomic", "kept"), ("genomic", "blocked")}
    assert set(table["class"]) <= {"the TF", "accessibility/pioneer", "partner", "unnamed", "none"}
    assert (table["n_windows"] > 0).all() and table["note"].str.contains("bound test windows").all()
    for (regime, core), rows in table.groupby(["regime", "core"]):
        if (rows["class"] == "none").all():
            assert len(rows) == 1 and rows["note"].iloc[0]
            continue
        d = run / regime / ("blocked" if core == "blocked" else "") / "patterns"
        assert (d / "patterns.npz").is_file() and (d / "matches.tsv").is_file()
        assert all((d / f"{p}.png").is_file() for p in rows["pattern"])
    page = (run / "report.html").read_text()
    assert "What each regime learns" in page and "Test performance" in page
    assert all(f"{r} ({c})" in page for r, c in networks)
    assert "standard (kept)" in res.output
