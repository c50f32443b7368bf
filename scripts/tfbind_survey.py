"""Run `cisgram tfbind` for every TF ChIP-seq set on chr22 and gather one table (issue 6).

For each ``tf_chip/<CELL>.<TF>.narrowPeak`` (and the ENCODE CTCF set) the TF's motif is the
first motif named TF in the JASPAR 2024 CORE vertebrates non-redundant MEME file; sets whose TF
has no motif there (EP300, TAF1: cofactors) or with fewer than ``--min-bound`` bound instances
are listed as skipped. ``open`` negatives come from the accessibility peaks of the set's cell
line (K562 for the ENCODE CTCF set). Every strategy draws up to ``--ratio`` (5) negatives per
bound instance (gc: matched on GC per bin where there are enough). Runs already finished (a ``metrics.json`` in their
directory) are not redone, so the survey can be stopped and resumed.

    python scripts/tfbind_survey.py --out runs/tfbind_survey [--ratio 5] [--max-epochs 12]

Writes ``<out>/survey.tsv`` (set, motif, strategy, model, auROC, auPRC, counts).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import pandas as pd

from cisgram.data.tfbind_examples import tfbind_examples
from cisgram.errors import InputError
from cisgram.motifs.pwm import read_meme
from cisgram.training import TrainConfig
from cisgram.workflows.tfbind import run_tfbind

SHARED = Path(os.environ.get("CISGRAM_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def motif_for(tf: str, meme: Path, names: dict[str, str]) -> str | None:
    exact = [i for i, n in names.items() if n == tf]
    loose = [i for i, n in names.items() if n.upper() == tf.upper()]
    pick = (exact or loose or [None])[0]
    return None if pick is None else f"{meme}#{pick}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="runs/tfbind_survey")
    ap.add_argument("--ratio", type=float, default=5.0,
                    help="negatives per bound instance, every strategy (gc: GC-matched where there are enough)")
    ap.add_argument("--max-epochs", type=int, default=12)
    ap.add_argument("--min-bound", type=int, default=200)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    chr22 = SHARED / "hg38_chr22"
    meme = SHARED / "motifs" / "JASPAR2024_CORE_vertebrates_nonredundant.meme"
    names = {m.name: m.alt_name for m in read_meme(meme)}
    genome = chr22 / "genome" / "chr22.fa.gz"
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, skipped = [], []
    for chip in sorted((chr22 / "tf_chip").glob("*.narrowPeak")):
        stem = chip.name.removesuffix(".narrowPeak")
        cell, tf = ("K562", "CTCF") if stem.startswith("CTCF.") else stem.split(".", 1)
        motif = motif_for(tf, meme, names)
        if motif is None:
            skipped.append((stem, "no JASPAR motif"))
            continue
        run = out / stem
        if not (run / "metrics.json").exists():
            try:
                ex = tfbind_examples(genome, motif, chip, negatives="gc")
                bound = int(ex.table["label"].sum())
                if bound < a.min_bound:
                    skipped.append((stem, f"{bound} bound instances"))
                    continue
                print(f"{stem}: {motif.rsplit('#', 1)[1]}, {bound} bound", flush=True)
                cfg = TrainConfig(task="classification", max_epochs=a.max_epochs, patience=4)
                run_tfbind(genome, motif, chip, run, accessible=chr22 / "peaks" / f"{cell}.narrowPeak",
                           negatives=("genomic", "gc", "open-negatives"), ratio=a.ratio, database=str(meme),
                           config=cfg)  # the sets of the README table; issue 20 reruns it with standard / open
            except InputError as e:  # e.g. a 6 bp motif with no site at p < 1e-4, one class in a split
                skipped.append((stem, str(e).splitlines()[0]))
                continue
        t = pd.read_csv(run / "comparison.tsv", sep="\t")
        t.insert(0, "set", stem)
        rows.append(t)
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    table.to_csv(out / "survey.tsv", sep="\t", index=False, float_format="%.4f")
    pd.DataFrame(skipped, columns=["set", "why"]).to_csv(out / "skipped.tsv", sep="\t", index=False)
    if len(table):
        wide = table.pivot_table(index="set", columns=["strategy", "model"], values="auroc")
        print(wide.round(3).to_string())
        print(wide.mean().round(3).to_string())
    print(f"skipped: {skipped}")


if __name__ == "__main__":
    main()
