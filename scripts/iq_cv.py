"""Cross-validated comparison of the IQ model and the baselines on one dataset target (issue 5).

The chr22 dAP target has 172 held-out test regions and yeast 202, so one split's test Pearson r
moves by about ±0.07 from the split alone (on chr22 dAP, IQ's r was 0.49 on validation and 0.10
on test). Here every region is tested once: regions are grouped (1 Mb blocks, or whole
chromosomes when there are 5 or more: yeast), groups are dealt at random into ``--folds`` folds,
and for fold k the models are fitted on the other folds (fold k + 1 chooses the baselines'
penalties and IQ's final ridge, as the validation split does in ``cisgram train``) and predict
fold k. The
out-of-fold predictions of all models are compared on the same regions: pooled Pearson r with a
paired bootstrap interval of each difference to IQ, and the Pearson r of every fold.

    python scripts/iq_cv.py -d runs/chr22/dataset.h5ad -T K562 --vs GM12878 \\
        -m ../shared/data/motifs/JASPAR2024_CORE_vertebrates_nonredundant.meme -o runs/iq_cv_dap

Writes ``<out>/predictions.parquet`` (region, fold, observed, one column per model),
``<out>/folds.tsv`` (fold, model, n, pearson) and ``<out>/summary.json`` (pooled r, intervals,
per-fold mean and sd, IQ's motif counts and seconds per fold); prints the summary.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.data.targets import training_data
from cisgram.files import atomic_path, atomic_write
from cisgram.metrics import paired_bootstrap
from cisgram.models.baselines import KINDS, fit_baseline
from cisgram.models.iq_fit import IQConfig, fit_iq
from cisgram.motifs.pwm import load_motifs


def folds_of(regions: pd.DataFrame, k: int, seed: int) -> np.ndarray:
    """Fold of every region: whole chromosomes when there are >= 5, else 1 Mb blocks, dealt at random."""
    chrom = regions["chrom"].astype(str)
    group = (chrom if chrom.nunique() >= 5 else chrom + ":" + (regions["start"] // 1_000_000).astype(str)).to_numpy()
    names = np.unique(group)
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of = {names[j]: i % k for i, j in enumerate(order)}
    return np.array([fold_of[g] for g in group])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-d", "--dataset", required=True)
    ap.add_argument("-T", "--target", required=True)
    ap.add_argument("--vs", default=None)
    ap.add_argument("-m", "--motifs", required=True)
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--max-motifs", type=int, default=30)
    ap.add_argument("--distill", default="refine", help="refine | kmer | both (IQ's PWM learning)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-ridge", dest="ridge", action="store_false",
                    help="IceQream's near-unpenalised final fit instead of a ridge chosen on fold k + 1")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    data = training_data(a.dataset, [a.target], vs=a.vs)
    y = data.Y[:, 0]
    live = np.isfinite(y)
    fold = folds_of(data.regions, a.folds, a.seed)
    db = load_motifs(a.motifs)
    models = ["iq", *KINDS]
    pred = {m: np.full(len(y), np.nan) for m in models}
    info = []
    for k in range(a.folds):
        test, val = live & (fold == k), live & (fold == (k + 1) % a.folds)
        train = live & ~test & ~val
        t0 = time.perf_counter()
        fitted = fit_iq(data.codes, y[:, None], train, db, targets=data.targets,
                        config=IQConfig(max_motifs=a.max_motifs, seed=a.seed, distill=a.distill), val=val if a.ridge else None)
        pred["iq"][test] = fitted.model.predict(data.codes[test])[:, 0]
        info.append({"fold": k, "n_train": int(train.sum()), "n_test": int(test.sum()),
                     "iq_motifs": len(fitted.model.motifs), "iq_seconds": round(time.perf_counter() - t0, 1)})
        for kind in KINDS:
            m = fit_baseline(kind, data.codes, y, train, val, motifs=db if kind == "motif-lasso" else None, seed=a.seed)
            pred[kind][test] = m.predict(data.codes[test])
        print(json.dumps(info[-1]), flush=True)
    rows = live
    table = pd.DataFrame({"region": data.regions.iloc[:, 0].to_numpy()[rows], "fold": fold[rows], "observed": y[rows],
                          **{m: p[rows] for m, p in pred.items()}})
    per_fold = [{"fold": int(k), "model": m, "n": len(g), "pearson": float(np.corrcoef(g["observed"], g[m])[0, 1])}
                for k, g in table.groupby("fold") for m in models]
    pf = pd.DataFrame(per_fold)
    intervals, diffs = paired_bootstrap(table["observed"].to_numpy(), table[models].to_numpy(), models, seed=a.seed)
    summary = {
        "dataset": a.dataset, "target": data.targets[0], "folds": a.folds, "n": len(table), "folds_info": info,
        "pooled_pearson": {m: float(np.corrcoef(table["observed"], table[m])[0, 1]) for m in models},
        "pooled_interval": {m: intervals[m]["pearson"] for m in models},
        "fold_pearson_mean": pf.groupby("model")["pearson"].mean().to_dict(),
        "fold_pearson_sd": pf.groupby("model")["pearson"].std().to_dict(),
        "iq_minus": {d["b"]: {"difference": d["difference"], "low": d["low"], "high": d["high"]}
                     for d in diffs if d["a"] == "iq"},
    }
    with atomic_path(out / "predictions.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    with atomic_path(out / "folds.tsv") as tmp:
        pf.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=1)
    print(json.dumps({k: summary[k] for k in ("target", "n", "pooled_pearson", "iq_minus", "fold_pearson_mean")}))


if __name__ == "__main__":
    main()
