"""Run `cisgram tfbind` for every chr22 TF ChIP-seq set and gather one table (issues 6 and 20).

For each ``tf_chip/<CELL>.<TF>.narrowPeak`` (and the ENCODE CTCF set, a K562 one) the TF's motif is
the first motif named TF in the JASPAR 2024 CORE vertebrates non-redundant MEME file; sets whose TF
has no motif there (EP300, TAF1: cofactors) or with fewer than ``--min-bound`` bound instances at
p < 1e-4 are listed as skipped. The three CTCF sets are also pooled into a fourth CTCF entry
(``CTCF.pooled``: bound when inside a peak of any of them; ``open`` conditioned on the union of the
K562 and MCF7 accessibility peaks). Every set runs the negative sets ``--negatives`` (standard, gc,
genomic, open) with the core kept and blocked (``--core``), at `cisgram tfbind`'s training
defaults (40 epochs, patience 8, lr 3e-3, the epoch of the best validation auROC, seed
ensembles of 3 for sets under 300 bound training instances), ``--ratio`` negatives per bound
instance (1: AgentBind's balance), on the chr22 dataset's own hold-out (``--split``, the
``split.json`` of ``cisgram prepare``) so that the test regions are the accessibility models'.
Runs already finished (a ``metrics.json`` in their directory) are not redone, so the survey can
be stopped and resumed; ``--sets`` runs only the named sets, in that order.

    python scripts/tfbind_survey.py --out runs/tfbind_survey --split runs/chr22/split.json [--threads 1]

Writes ``<out>/survey.tsv``: set, motif, strategy, model, core, test auROC with its 95 % bootstrap
interval over test instances, auPRC, test bound / unbound counts, seeds and restarts, and the
paired bootstrap difference of every model's auROC with the core-score baseline's; and
``<out>/skipped.tsv``.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.data.tfbind_examples import instance_pool
from cisgram.errors import InputError
from cisgram.genome import Genome
from cisgram.metrics import bootstrap_target
from cisgram.motifs.pwm import read_meme
from cisgram.splits import Split
from cisgram.training import TrainConfig
from cisgram.workflows.tfbind import MODELS, run_tfbind

SHARED = Path(os.environ.get("CISGRAM_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CTCF_SETS = ("CTCF.ENCSR000AKO", "K562.CTCF", "MCF7.CTCF")


def motif_for(tf: str, meme: Path, names: dict[str, str]) -> str | None:
    exact = [i for i, n in names.items() if n == tf]
    loose = [i for i, n in names.items() if n.upper() == tf.upper()]
    pick = (exact or loose or [None])[0]
    return None if pick is None else f"{meme}#{pick}"


def _peaks(path: Path) -> pd.DataFrame:
    t = pd.read_csv(path, sep="\t", header=None, comment="#")
    return pd.DataFrame({"chrom": t[0], "start": t[1], "end": t[2],
                         "summit": t[9] if t.shape[1] >= 10 else (t[2] - t[1]) // 2})


def pooled_files(chr22: Path, out: Path) -> tuple[Path, Path]:
    """The pooled CTCF peaks and the pooled accessibility peaks (K562 + MCF7) as narrowPeak files."""
    chip, acc = out / "CTCF.pooled.narrowPeak", out / "K562_MCF7.accessible.narrowPeak"
    for path, sources in ((chip, [chr22 / "tf_chip" / f"{s}.narrowPeak" for s in CTCF_SETS]),
                          (acc, [chr22 / "peaks" / f"{c}.narrowPeak" for c in ("K562", "MCF7")])):
        if not path.exists():
            t = pd.concat([_peaks(p) for p in sources]).sort_values(["chrom", "start"])
            cols = pd.DataFrame({"chrom": t["chrom"], "start": t["start"], "end": t["end"], "name": ".", "score": 0,
                                 "strand": ".", "signal": 0.0, "p": -1.0, "q": -1.0, "summit": t["summit"]})
            cols.to_csv(path, sep="\t", header=False, index=False)
    return chip, acc


def survey_sets(chr22: Path, meme: Path, out: Path) -> list[tuple[str, str, Path, Path]]:
    """(set, TF, ChIP peaks, accessibility peaks) of every chr22 set, the pooled CTCF entry second."""
    sets = []
    for chip in sorted((chr22 / "tf_chip").glob("*.narrowPeak")):
        stem = chip.name.removesuffix(".narrowPeak")
        cell, tf = ("K562", "CTCF") if stem.startswith("CTCF.") else stem.split(".", 1)
        sets.append((stem, tf, chip, chr22 / "peaks" / f"{cell}.narrowPeak"))
    chip, acc = pooled_files(chr22, out)
    sets.append(("CTCF.pooled", "CTCF", chip, acc))
    return sets


def test_rows(run: Path, stem: str, n_boot: int = 1000) -> pd.DataFrame:
    """The run's comparison rows with bootstrap intervals of each model's test auROC and of its
    difference with the core score (paired, over test instances)."""
    t = pd.read_csv(run / "comparison.tsv", sep="\t")
    t.insert(0, "set", stem)
    extra = []
    for strategy, rows in t.groupby("strategy", sort=False):
        p = pd.read_parquet(run / strategy / "predictions.parquet")
        p = p[p["split"] == "test"]
        models = [m for m in MODELS if m in p.columns]
        intervals, diffs = bootstrap_target(p["label"].to_numpy(float), p[models].to_numpy(float), models, True,
                                            n_boot, np.random.default_rng(0))
        vs_core = {d["a"] if d["b"] == "core-score" else d["b"]: (d, 1 if d["b"] == "core-score" else -1)
                   for d in diffs if d["metric"] == "auroc" and "core-score" in (d["a"], d["b"])}
        for i in rows.index:
            m = t.at[i, "model"]
            lo, hi = intervals[m]["auroc"] or (None, None)  # fewer than 3 test instances: no interval
            row = {"auroc_low": lo, "auroc_high": hi}
            if m in vs_core:
                d, sign = vs_core[m]
                bounds = sorted(sign * x for x in (d["low"], d["high"]))
                row.update({"minus_core": sign * d["difference"], "minus_core_low": bounds[0],
                            "minus_core_high": bounds[1]})
            extra.append((i, row))
    for i, row in extra:
        for k, v in row.items():
            t.at[i, k] = v
    return t


def markdown(table: pd.DataFrame) -> str:
    """One row per set and negative set: test counts, the kept and blocked CNNs' auROC with
    intervals, the two baselines, and the kept CNN's lead over the core score (paired interval);
    a set with fewer than 20 test instances of a class is listed without scores."""
    def cell(r) -> str:
        return "–" if r is None else f"{r.auroc:.3f} [{r.auroc_low:.2f}, {r.auroc_high:.2f}]"

    # fewer test instances of either class than this: no auROC is shown (8 bound against 3
    # unbound gives 24 pairs, and 0.500 by chance)
    min_test = 20
    lines = ["| set | negatives | test bound / unbound | CNN, core kept | CNN, core blocked | core score | "
             "context motifs | kept CNN − core score | seeds (restarts) |", "|---" * 9 + "|"]
    for (stem, strategy), rows in table.groupby(["set", "strategy"], sort=False):
        by = {r.model: r for r in rows.itertuples()}
        k = by.get("cnn")
        lead = "–" if k is None or pd.isna(getattr(k, "minus_core", np.nan)) else (
            f"{k.minus_core:+.3f} [{k.minus_core_low:+.2f}, {k.minus_core_high:+.2f}]")
        if k is not None and min(k.n_bound, k.n_unbound) < min_test:
            lines.append(f"| {stem} | {strategy} | {int(k.n_bound)} / {int(k.n_unbound)} | too few test instances "
                         f"(< {min_test} of a class) | | | | | |")
            continue
        seeds = "–" if k is None else f"{int(k.seeds)} ({int(k.restarts) + int(getattr(by.get('cnn-blocked'), 'restarts', 0))})"
        lines.append(f"| {stem} | {strategy} | {int(k.n_bound)} / {int(k.n_unbound)} | {cell(k)} | "
                     f"{cell(by.get('cnn-blocked'))} | {by['core-score'].auroc:.3f} | "
                     f"{by['context-motifs'].auroc:.3f} | {lead} | {seeds} |" if k is not None else f"| {stem} | {strategy} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/tfbind_survey")
    ap.add_argument("--split", default="runs/chr22/split.json", help="the chr22 dataset's split.json")
    ap.add_argument("--negatives", default="standard,gc,genomic,open")
    ap.add_argument("--core", default="kept,blocked")
    ap.add_argument("--ratio", type=float, default=1.0, help="negatives per bound instance, every strategy")
    ap.add_argument("--max-epochs", type=int, default=40)
    ap.add_argument("--patience", type=int, default=8)
    ap.add_argument("--min-bound", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--sets", default="", help="only these sets, comma-separated, in this order")
    ap.add_argument("--gather-only", action="store_true", help="write the tables from the finished runs")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    chr22 = SHARED / "hg38_chr22"
    meme = SHARED / "motifs" / "JASPAR2024_CORE_vertebrates_nonredundant.meme"
    names = {m.name: m.alt_name for m in read_meme(meme)}
    genome = chr22 / "genome" / "chr22.fa.gz"
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    sets = survey_sets(chr22, meme, out)
    if a.sets:
        order = [s.strip() for s in a.sets.split(",") if s.strip()]
        sets = sorted((s for s in sets if s[0] in order), key=lambda s: order.index(s[0]))
    rows, skipped, g = [], [], Genome(genome)
    for stem, tf, chip, accessible in sets:
        motif = motif_for(tf, meme, names)
        if motif is None:
            skipped.append((stem, "no JASPAR motif"))
            continue
        run = out / stem
        if not (run / "metrics.json").exists() and not a.gather_only:
            try:
                pool = instance_pool(g, motif, chip, window=1000, split=Split.load(a.split))
                bound = int(pool.instances["label"].to_numpy()[pool.usable].sum())
                if bound < a.min_bound:
                    skipped.append((stem, f"{bound} bound instances"))
                    continue
                print(f"{stem}: {motif.rsplit('#', 1)[1]}, {bound} bound", flush=True)
                t0 = time.perf_counter()
                cfg = TrainConfig(task="classification", max_epochs=a.max_epochs, patience=a.patience, lr=3e-3)
                run_tfbind(genome, motif, chip, run, accessible=accessible, negatives=a.negatives.split(","),
                           core=a.core.split(","), ratio=a.ratio, split=a.split, database=str(meme), config=cfg,
                           progress=lambda msg, s=stem: print(f"  {s} {msg}", flush=True),
                           resume=(run / "checkpoint").is_dir())  # a stopped survey goes on where it was
                print(f"{stem}: done in {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
            except InputError as e:  # e.g. a 6 bp motif with no site at p < 1e-4, one class in a split
                skipped.append((stem, str(e).splitlines()[0]))
                continue
        if (run / "metrics.json").exists():
            rows.append(test_rows(run, stem))
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    table.to_csv(out / "survey.tsv", sep="\t", index=False, float_format="%.4f")
    if len(table):
        (out / "survey.md").write_text(markdown(table))
    pd.DataFrame(skipped, columns=["set", "why"]).to_csv(out / "skipped.tsv", sep="\t", index=False)
    if len(table):
        wide = table.pivot_table(index="set", columns=["strategy", "model"], values="auroc")
        print(wide.round(3).to_string())
    print(f"skipped: {skipped}")


if __name__ == "__main__":
    main()
