"""GET on chr22 as GET trains it: three cell types held out in turn, several seeds, zero-shot,
fine-tuned from the pre-trained model and LoRA from it, against five baselines, and an ablation of
GET's training settings (issue 21's measurement).

    python scripts/get_eval.py OUT [--seeds 3] [--cells K562,GM12878,MCF7] [--stage all]

Stages (each run is skipped when its ``metrics.json`` exists, so the script resumes):

- ``data``: the region-motif data of the whole chr22 (three cell lines, 1 Mb blocks, Vierstra
  archetypes, gene TSSs, initiation tracks), as the test suite's ``chr22_get_data``;
- ``pretrain``: one ``cisgram pretrain get`` on every cell type's inputs (no expression);
- ``zero_shot``: per held-out cell, fine-tune from the pre-trained model on the other two, score
  the held-out cell's test blocks; LoRA from the pre-trained base on the held-out cell's training
  blocks; the five baselines fitted on the other two cell types;
- ``finetune``: per held-out cell, fine-tune the pre-trained model on that cell's training blocks
  only (the cell type it never saw the expression of); baselines fitted on the same blocks;
- ``leave_out``: motif leave-out by retraining for the first cell's top 10 motifs
  (:func:`leave_out_retrain`);
- ``ablation``: the zero-shot run with one setting changed at a time: from scratch (no
  pre-training), GET's zero labels (non-TSS entries scored as zeros), flat learning rate with decay on all
  (cisgram's earlier optimiser), plus the ATAC head; and ``before`` (all earlier settings).

Everything is chosen on training and validation rows (epochs by validation loss); the test
blocks are only scored. Writes ``OUT/summary.json`` and ``OUT/summary.md`` (the tables of the
README and the closing note).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CELLS = ("K562", "GM12878", "MCF7")
COMMON = dict(n_regions=50, stride=10, max_epochs=20, patience=5, config_overrides={"dropout": 0.1}, batch_size=16)
ABLATIONS = {
    "scratch": dict(init=False),
    "zero_labels": dict(training={"zero_labels": True}),
    "flat_schedule": dict(training={"schedule": "flat", "warmup_epochs": 0.0, "min_lr": 0.0, "no_decay_1d": False,
                                    "betas": (0.9, 0.999)}),
    "atac_head": dict(training={"atac_target": "logcpm"}),
    "before": dict(init=False, training="before"),
}


def build_data(out: Path) -> Path:
    from cisgram.data.dataset import prepare
    from cisgram.data.get_data import region_motif_data

    path = out / "chr22_get.npz"
    if path.is_file():
        return path
    chr22 = SHARED / "hg38_chr22"
    ds = out / "chr22.h5ad"
    if not ds.is_file():
        prepare(chr22 / "genome/chr22.fa.gz", [chr22 / f"peaks/{c}.narrowPeak" for c in CELLS],
                [f"{c}={chr22 / 'accessibility' / (c + '.bw')}" for c in CELLS], tss=chr22 / "annotation/genes_tss.bed",
                width=500, split="blocks:1Mb", out=ds)
    ti = chr22 / "transcription_initiation"
    data = region_motif_data(ds, chr22 / "genome/chr22.fa.gz", SHARED / "motifs/vierstra_archetypes_v2.1beta.meme",
                             chr22 / "annotation/genes_tss.bed", {c: (ti / f"{c}.pl.bw", ti / f"{c}.mn.bw") for c in CELLS})
    data.write(path)
    return path


def training(spec):
    from cisgram.training import GETTraining

    if spec == "before":
        return GETTraining.before()
    return GETTraining(**{**GETTraining().to_dict(), **(spec or {})})


def run(name: str, out: Path, data: Path, pre: Path, **kw) -> dict:
    from cisgram.workflows.train_get import train_get

    d = out / name
    if (d / "metrics.json").is_file():
        return json.loads((d / "metrics.json").read_text())
    init = kw.pop("init", True)
    tr = training(kw.pop("training", None))
    t0 = time.perf_counter()
    res = train_get(data, d, init=pre if init else None, training=tr, **COMMON, **kw)
    print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return res.metrics


def pearson(m: dict, model: str, cell: str) -> dict:
    return m["seeds"]["models"][model]["test"][cell]["pearson"]


def validation(m: dict) -> float:
    """The seed-mean validation Pearson of GET over the training cell types' validation blocks
    (what a setting may be chosen on; the held-out cell's test blocks are not)."""
    val = m["seeds"]["models"]["get"]["val"]
    return float(np.mean([val[c]["pearson"]["mean"] for c in m["training_cell_types"] if c in val]))


def cell_figure(m: dict | None, model: str, cell: str) -> tuple[str, dict | None]:
    """``"mean ± sd [ensemble]"`` of one model's test Pearson for one cell, and the numbers."""
    if m is None or model not in m["seeds"]["models"] or cell not in m["seeds"]["models"][model]["test"]:
        return "", None
    p = pearson(m, model, cell)
    ens = (m["test"][cell]["pearson"] if model == "get" else m["lora"]["test"][cell]["pearson"]
           if model == "get_lora" else m["baselines"][model]["test"][cell]["pearson"])
    return f"{p['mean']:.3f} ± {p['sd']:.3f} [{ens:.3f}]", {**p, "ensemble": ens}


def summarise(out: Path, results: dict, cells, seeds: int) -> None:
    lines = [f"# GET on chr22, test Pearson, {seeds} seeds (mean ± sd; ensemble in brackets)\n",
             "| held out | model | zero-shot (trained on the other two) | fine-tuned on the held-out cell |",
             "|---|---|---|---|"]
    summary: dict = {"seeds": seeds, "cells": list(cells), "main": {}, "ablation": {}}
    for cell in cells:
        zs, ft = results.get(f"zero_shot_{cell}"), results.get(f"finetune_{cell}")
        rows = {}
        for model in ("get", "get_lora", "mean", "linear", "random_forest", "mlp", "cnn"):
            a, av = cell_figure(zs, model, cell)
            b, bv = cell_figure(ft, model, cell)
            rows[model] = {"zero_shot": av, "finetune": bv}
            lines.append(f"| {cell} | {model} | {a} | {b} |")
        summary["main"][cell] = rows
    lines += ["", "# Ablation (zero-shot, test Pearson mean ± sd over seeds; Δ against GET's settings)\n",
              "| held out | GET settings | " + " | ".join(ABLATIONS) + " |", "|---|---|" + "---|" * len(ABLATIONS)]
    for cell in cells:
        ref = results.get(f"zero_shot_{cell}")
        if ref is None:
            continue
        r = pearson(ref, "get", cell)
        row, summary["ablation"][cell] = [f"{r['mean']:.3f} ± {r['sd']:.3f}"], {"get": {**r, "val": validation(ref)}}
        for name in ABLATIONS:
            m = results.get(f"ablation_{name}_{cell}")
            if m is None:
                row.append("")
                continue
            p = pearson(m, "get", cell)
            summary["ablation"][cell][name] = {**p, "val": validation(m)}
            row.append(f"{p['mean']:.3f} ± {p['sd']:.3f} ({p['mean'] - r['mean']:+.3f})")
        lines.append(f"| {cell} | " + " | ".join(row) + " |")
    lines += ["", "Validation Pearson (training cell types' validation blocks, seed mean), for choosing:", ""]
    for cell, variants in summary["ablation"].items():
        lines.append(f"- {cell} held out: " + ", ".join(f"{k} {v['val']:.3f}" for k, v in variants.items()))
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print("\n".join(lines))


def leave_out_retrain(out: Path, data_path: Path, cell: str, *, top: int = 10, seed: int = 0) -> None:
    """Motif leave-out by retraining (issue 21 item 4): a model from scratch with ``cell`` held
    out, its top ``top`` motifs (gene-level mean |input x gradient| on ``cell``'s test TSS entries),
    and for each a model retrained with that motif's column zeroed in every region (same seed);
    each compared with the intact model on the same entries
    (:func:`cisgram.interpret.robustness.leave_out_change`). The control row retrains the intact
    data with another seed: what retraining alone moves. Writes ``leave_out_retrain.tsv``."""
    import dataclasses

    import pandas as pd

    from cisgram.data.get import RegionMotifData
    from cisgram.data.get_windows import tss_windows
    from cisgram.interpret.robustness import NOT_MOTIFS, inference_state, leave_out_change
    from cisgram.models.get import GETModel
    from cisgram.workflows.explain_get import EntryWindows, gene_entries
    from cisgram.workflows.train_get import train_get

    dest = out / "leave_out_retrain.tsv"
    if dest.is_file():
        return
    data = RegionMotifData.read(data_path)
    names = list(data.feature_names)
    R = COMMON["n_regions"]
    kw = dict(leave_out=cell, seeds=1, baselines=(), training=training(None), **COMMON)

    def fit(d, name, s=seed):
        res = train_get(d, out / "leave_out" / name, seed=s, **kw)
        return GETModel.load(res.path)

    e = gene_entries(data, tss_windows(data, [cell], split="test", n_regions=R), None)
    X = EntryWindows(data, data.cell_index(cell), e, R)

    def state(model, zero=None):
        return inference_state(model, X, e.focus[e.w], strand=e.s, labels=e.labels, feature_names=names, zero=zero)

    before = state(fit(data, "intact"))
    ranked = before.importance.drop(columns=list(NOT_MOTIFS)).mean(0).sort_values(ascending=False)
    rows = [{**leave_out_change(before, state(fit(data, "intact_seed1", seed + 1)), ranked.index[0]),
             "motif": "(none: another seed)"}]
    for m in ranked.index[:top]:
        j = names.index(m)
        scores = data.motif_scores.copy()
        scores[:, j] = 0
        t0 = time.perf_counter()
        row = leave_out_change(before, state(fit(dataclasses.replace(data, motif_scores=scores), f"without_{j}"),
                                             zero=j), m)
        rows.append(row)
        print(f"retrained without {m}: mean |change| {row['mean_abs_change']:.3f}, importance Spearman "
              f"{row['importance_spearman']:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    pd.DataFrame(rows).to_csv(dest, sep="\t", index=False, float_format="%.4f")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--cells", default=",".join(CELLS))
    ap.add_argument("--stage", default="all", help="data | pretrain | zero_shot | finetune | ablation | leave_out | all")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    cells = [c for c in args.cells.split(",") if c]
    data = build_data(out)
    stages = ("pretrain", "zero_shot", "finetune", "ablation", "leave_out") if args.stage == "all" else (args.stage,)
    pre = out / "pretrained"
    if not (pre / "metrics.json").is_file() and "pretrain" in stages or args.stage in ("zero_shot", "finetune"):
        if not (pre / "metrics.json").is_file():
            from cisgram.workflows.pretrain_get import pretrain_get

            m = pretrain_get(data, pre, config_overrides={"dropout": 0.1}, n_regions=50, stride=10, max_epochs=80,
                             patience=5, progress=print).metrics
            print(f"pre-trained: {m}", flush=True)
    results: dict = {}
    for cell in cells:
        if "zero_shot" in stages:
            results[f"zero_shot_{cell}"] = run(f"zero_shot_{cell}", out, data, pre, leave_out=cell, lora=True,
                                               lora_base="pretrained", seeds=args.seeds)
        if "finetune" in stages:
            results[f"finetune_{cell}"] = run(f"finetune_{cell}", out, data, pre, cells=[cell], seeds=args.seeds)
    for cell in cells:
        if "ablation" in stages:
            for name, spec in ABLATIONS.items():
                results[f"ablation_{name}_{cell}"] = run(f"ablation_{name}_{cell}", out, data, pre, leave_out=cell,
                                                         seeds=args.seeds, baselines=(), **spec)
    if "leave_out" in stages:
        leave_out_retrain(out, data, cells[0])
    for p in out.glob("*/metrics.json"):  # earlier stages' runs
        if p.parent.name not in results and p.parent.name != "pretrained":
            results[p.parent.name] = json.loads(p.read_text())
    summarise(out, results, cells, args.seeds)
    np.seterr(all="ignore")


if __name__ == "__main__":
    main()
