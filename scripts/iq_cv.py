"""Cross-validated comparison of the IQ model and the baselines on one dataset target (issue 5).

The chr22 dAP target has 172 held-out test regions and yeast 202, so one split's test Pearson r
moves by about ±0.07 from the split alone (on chr22 dAP, IQ's r was 0.49 on validation and 0.10
on test). Here every region is tested once: regions are grouped (1 Mb blocks, or whole
chromosomes when there are 5 or more: yeast), groups are dealt at random into ``--folds`` folds,
and for fold k the models are fitted on the other folds (fold k + 1 chooses the baselines'
penalties and IQ's final ridge, as the validation split does in ``cisgram train``) and predict
fold k. The
out-of-fold predictions of all models are compared on the same regions: pooled Pearson r with a
paired bootstrap interval of each difference to IQ, IQ's Pearson r on each fold's validation
rows (fold k + 1, never tested on: where a default may be chosen), pooled R² (1 - SSres/SStot of the
out-of-fold predictions), and the Pearson r and R² of every fold. ``--distill refine,both`` fits
one IQ model per mode on the same folds (columns ``iq-refine``, ``iq-both``); the baselines are
fitted once. Several ``-T`` fit one IQ model on all targets (IceQream's fusion, as ``cisgram
train iq -T A -T B``) and the baselines per target.

    python scripts/iq_cv.py -d runs/chr22/dataset.h5ad -T K562 --vs GM12878 \\
        -m ../shared/data/motifs/JASPAR2024_CORE_vertebrates_nonredundant.meme -o runs/iq_cv_dap

Writes ``<out>/predictions.parquet`` (region, target, fold, observed, one column per model),
``<out>/folds.tsv`` (fold, model, n, pearson, r2, target) and ``<out>/summary.json`` (per target: pooled r and R²,
intervals, per-fold mean and sd, every paired difference, IQ's motif counts and seconds per fold);
prints the summary.
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


def r2(observed, predicted) -> float:
    """1 - SSres/SStot of one set of predictions."""
    o, p = np.asarray(observed, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    return float(1.0 - ((o - p) ** 2).sum() / ((o - o.mean()) ** 2).sum())


def target_summary(table: pd.DataFrame, models: list[str], iqs: list[str], seed: int) -> tuple[dict, pd.DataFrame]:
    """Pooled and per-fold Pearson r and R² of one target's out-of-fold predictions, with the
    paired-bootstrap interval of every difference."""
    pf = pd.DataFrame([{"fold": int(k), "model": m, "n": len(g), "pearson": float(np.corrcoef(g["observed"], g[m])[0, 1]),
                        "r2": r2(g["observed"], g[m])} for k, g in table.groupby("fold") for m in models])
    intervals, diffs = paired_bootstrap(table["observed"].to_numpy(), table[models].to_numpy(), models, seed=seed)
    return {
        "n": len(table),
        "pooled_pearson": {m: float(np.corrcoef(table["observed"], table[m])[0, 1]) for m in models},
        "pooled_interval": {m: intervals[m]["pearson"] for m in models},
        "pooled_r2": {m: r2(table["observed"], table[m]) for m in models},
        "fold_pearson_mean": pf.groupby("model")["pearson"].mean().to_dict(),
        "fold_pearson_sd": pf.groupby("model")["pearson"].std().to_dict(),
        "fold_r2_mean": pf.groupby("model")["r2"].mean().to_dict(),
        "iq_minus": {name: {d["b"]: {"difference": d["difference"], "low": d["low"], "high": d["high"]}
                            for d in diffs if d["a"] == name} for name in iqs},
        "differences": diffs,
    }, pf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-d", "--dataset", required=True)
    ap.add_argument("-T", "--target", required=True, action="append",
                    help="a target; several -T fit one IQ model on all of them (IceQream's fusion), baselines per target")
    ap.add_argument("--vs", default=None)
    ap.add_argument("-m", "--motifs", required=True)
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--max-motifs", type=int, default=30)
    ap.add_argument("--distill", default="refine",
                    help="refine | kmer | both (IQ's PWM learning); a comma list fits one IQ model per mode")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-ridge", dest="ridge", action="store_false",
                    help="IceQream's near-unpenalised final fit instead of a ridge chosen on fold k + 1")
    ap.add_argument("--from-partial", metavar="LOG", default=None,
                    help="summarise the folds a stopped run finished (<out>/partial.npz) instead of fitting; LOG is "
                         "that run's output, whose per-fold lines hold IQ's validation r")
    ap.add_argument("--resume", metavar="LOG", default=None,
                    help="go on from the folds a stopped run finished (<out>/partial.npz); LOG is that run's output")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    data = training_data(a.dataset, a.target, vs=a.vs)
    Y = data.Y
    live = np.isfinite(Y).any(axis=1)
    fold = folds_of(data.regions, a.folds, a.seed)
    db = load_motifs(a.motifs)
    modes = [m.strip() for m in a.distill.split(",") if m.strip()]
    iqs = [f"iq-{m}" for m in modes]
    models = [*iqs, *KINDS]
    pred = {m: np.full(Y.shape, np.nan) for m in models}
    info = []
    done, first = a.folds, 0
    if a.from_partial or a.resume:
        part = np.load(out / "partial.npz")
        if not np.array_equal(part["fold"], fold):
            raise SystemExit("partial.npz was written with other folds (dataset, --folds or --seed differ)")
        done = first = int(part["folds_done"])
        pred = {m: part[m.replace("-", "_")].copy() for m in models}
        info = [json.loads(line) for line in Path(a.from_partial or a.resume).read_text().splitlines()
                if line.startswith('{"fold"')][:done]
        if a.from_partial:
            live &= fold < done
            print(f"summarising the {done} of {a.folds} folds the stopped run finished ({int(live.sum())} regions)")
        else:
            print(f"going on from fold {done} of {a.folds}")
    for k in range(first, a.folds if not a.from_partial else first):
        test, val = live & (fold == k), live & (fold == (k + 1) % a.folds)
        train = live & ~test & ~val
        info.append({"fold": k, "n_train": int(train.sum()), "n_test": int(test.sum())})
        for mode, name in zip(modes, iqs, strict=True):
            t0 = time.perf_counter()
            fitted = fit_iq(data.codes, Y, train, db, targets=data.targets, target_params=data.target_params,
                            config=IQConfig(max_motifs=a.max_motifs, seed=a.seed, distill=mode), val=val if a.ridge else None)
            pred[name][test] = fitted.model.predict(data.codes[test])
            pv = fitted.model.predict(data.codes[val])  # fold k + 1: the rows a default may be chosen on
            info[-1][f"{name}_val_pearson"] = [
                float(np.corrcoef(Y[val, t][ok], pv[ok, t])[0, 1]) if (ok := np.isfinite(Y[val, t])).sum() > 2 else None
                for t in range(Y.shape[1])]
            info[-1][f"{name}_motifs"] = len(fitted.model.motifs)
            info[-1][f"{name}_seconds"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        for t in range(Y.shape[1]):
            for kind in KINDS:
                m = fit_baseline(kind, data.codes, Y[:, t], train, val, motifs=db if kind == "motif-lasso" else None,
                                 seed=a.seed)
                pred[kind][test, t] = m.predict(data.codes[test])
        info[-1]["baselines_seconds"] = round(time.perf_counter() - t0, 1)
        print(json.dumps(info[-1]), flush=True)
        with atomic_path(out / "partial.npz") as tmp, open(tmp, "wb") as fh:  # the folds so far, should a run be stopped
            np.savez(fh, folds_done=k + 1, fold=fold, Y=Y, **{m.replace("-", "_"): p for m, p in pred.items()})
    if not a.from_partial:
        done = a.folds
    tables, folds_tables, per_target = [], [], {}
    for t, name in enumerate(data.targets):
        rows = np.isfinite(Y[:, t]) & live
        table = pd.DataFrame({"region": data.regions.iloc[:, 0].to_numpy()[rows], "target": name, "fold": fold[rows],
                              "observed": Y[rows, t], **{m: p[rows, t] for m, p in pred.items()}})
        per_target[name], pf = target_summary(table, models, iqs, a.seed)
        tables.append(table)
        folds_tables.append(pf.assign(target=name))
    val_r = {name: np.nanmean([[v if v is not None else np.nan for v in f[f"{name}_val_pearson"]] for f in info], axis=0)
             for name in iqs}
    summary = {"validation_pearson_mean": {name: dict(zip(data.targets, map(float, v), strict=True))
                                           for name, v in val_r.items()},
               "dataset": a.dataset, "targets": data.targets, "vs": a.vs, "distill": modes, "folds": a.folds,
               "folds_done": done,
               "folds_info": info, "per_target": per_target}
    with atomic_path(out / "predictions.parquet") as tmp:
        pd.concat(tables, ignore_index=True).to_parquet(tmp, index=False)
    with atomic_path(out / "folds.tsv") as tmp:
        pd.concat(folds_tables, ignore_index=True).to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=1)
    for name, st in per_target.items():
        print(json.dumps({"target": name, **{k: st[k] for k in ("n", "pooled_pearson", "pooled_r2", "iq_minus",
                                                                "fold_pearson_mean")}}))


if __name__ == "__main__":
    main()
