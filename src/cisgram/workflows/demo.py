"""The demo chain on the bundled real slice (see :mod:`cisgram.bundled`): every step of cisgram,
file in, file out, into one directory, summarised by ``report.html`` and ``summary.json``.

Steps (:data:`STEPS`), each timed and announced through ``progress``:

``prepare``      union peaks of K562 / GM12878 / MCF7, accessibility from the bigWigs, access
                 probabilities, log CPM, covariates, a 1 Mb block hold-out: ``dataset.h5ad``,
                 ``split.json``, ``prepare_report.html``
``scan``         the 100 bundled JASPAR motifs on every region (max, count, energy) and their hits:
                 ``features.parquet``, ``hits.tsv``
``iq``           the biophysical model of K562 AP (a few distilled motifs): ``runs/iq``
``cnn``          a DeepSEA-style CNN on the same rows and numbers (AP on peaks, no background
                 windows, the README's "AP on peaks, the iq rows"), reading the same 500 bp the IQ
                 model reads (batch 64, learning rate 5e-4, weight decay 1e-2: on the slice's 687
                 training peaks these beat 1 kb windows and the defaults on validation): ``runs/cnn``
``baseline``     ridge on 6-mer counts, same rows: ``runs/kmer``
``get_data``     GET's region-by-motif data with transcription-initiation targets: ``get_data.npz``
``get``          the region transformer, MCF7 held out, pre-training and LoRA: ``runs/get``
``explain_get``  gene-by-motif, motif interactions, LiNGAM, enhancer-gene scores: ``explain_get``
``compare``      IQ, CNN and the baseline side by side with mean and stacked ensembles: ``compare``
``variants``     a small VCF (SNVs and an indel in test peaks, one SNV breaking the top IQ motif's
                 best site, one line whose REF is wrong on purpose) scored with the CNN and IQ
                 runs, and saturation maps of 60 bp around that site: ``variants``
``report``       ``report.html``, linking every step's own report

``quick=True`` keeps every step and output but trains with minimal epochs and motifs (the test
suite's setting, about a minute); ``stop_after`` ends the chain after a step (``"prepare"``
reproduces the first demo). The models are small because the slice is: 905 regions, 118 of them
held out for testing, so the test metrics carry wide intervals (the comparison gives them).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from cisgram.bundled import demo as demo_paths
from cisgram.data.dataset import prepare, read_dataset
from cisgram.data.get import RegionMotifData
from cisgram.data.get_data import region_motif_data
from cisgram.data.regionmotif import scan_regions
from cisgram.errors import InputError
from cisgram.files import atomic_write, write_json
from cisgram.genome import Genome
from cisgram.models.iq_fit import IQConfig
from cisgram.motifs.pwm import MotifSet, load_motifs
from cisgram.motifs.scan import scan
from cisgram.report.baseline import baseline_report
from cisgram.report.cnn import cnn_report
from cisgram.report.compare import compare_report
from cisgram.report.demo import demo_report
from cisgram.report.get import get_explain_report, get_report
from cisgram.report.iq import iq_report
from cisgram.report.prepare import prepare_report
from cisgram.report.variants import saturation_report
from cisgram.results import DemoResult
from cisgram.training import TrainConfig
from cisgram.vcf import problems_path
from cisgram.workflows.compare import compare_runs
from cisgram.workflows.explain_get import explain_get, explain_summary
from cisgram.workflows.rundir import end_run, load
from cisgram.workflows.train_baseline import train_baseline
from cisgram.workflows.train_cnn import train_cnn
from cisgram.workflows.train_get import train_get
from cisgram.workflows.train_iq import train_iq
from cisgram.workflows.variants import saturate, score_variants

STEPS = ("prepare", "scan", "iq", "cnn", "baseline", "get_data", "get", "explain_get", "compare", "variants",
         "report")
TITLES = {
    "prepare": "dataset (cisgram prepare)",
    "scan": "motif scan (cisgram scan)",
    "iq": "biophysical model (cisgram train iq)",
    "cnn": "sequence CNN (cisgram train cnn)",
    "baseline": "6-mer ridge baseline (cisgram train baseline)",
    "get_data": "region-by-motif data (cisgram get-data)",
    "get": "GET region transformer (cisgram train get)",
    "explain_get": "GET explanation (cisgram explain get)",
    "compare": "comparison and ensembles (cisgram compare)",
    "variants": "variant effects (cisgram variants)",
    "report": "this report",
}
TARGET = "K562"  # the accessibility target of IQ, the CNN and the baseline
HELD_OUT = "MCF7"  # the cell type GET is not fine-tuned on
SATURATION_BP = 60


@dataclass(frozen=True)
class DemoSettings:
    """How hard each step trains; :data:`FULL` for ``cisgram demo``, :data:`QUICK` for the tests."""

    iq_max_motifs: int
    iq_distill_steps: int
    iq_simplify: bool
    cnn_length: int
    cnn_epochs: int
    cnn_patience: int
    cnn_batch_size: int
    cnn_lr: float
    cnn_weight_decay: float
    get_overrides: dict | None
    get_epochs: int
    get_patience: int
    explain_top_motifs: int
    n_boot: int


FULL = DemoSettings(iq_max_motifs=10, iq_distill_steps=50, iq_simplify=True, cnn_length=500, cnn_epochs=15,
                    cnn_patience=4, cnn_batch_size=64, cnn_lr=5e-4, cnn_weight_decay=1e-2, get_overrides={"dropout": 0.1}, get_epochs=20, get_patience=5,
                    explain_top_motifs=10, n_boot=1000)
QUICK = DemoSettings(iq_max_motifs=3, iq_distill_steps=10, iq_simplify=False, cnn_length=500, cnn_epochs=2,
                     cnn_patience=1, cnn_batch_size=64, cnn_lr=5e-4, cnn_weight_decay=1e-2, get_overrides={"d_model": 32, "n_layers": 1, "mlp_dim": 64},
                     get_epochs=1, get_patience=1, explain_top_motifs=5, n_boot=200)


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Torch on ``n`` threads inside the block (unchanged when ``n`` is None), put back after."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _rel(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def run_demo(out_dir: str | os.PathLike, *, width: int = 500, quick: bool = False, stop_after: str | None = None,
             threads: int | None = None, progress: Callable[[str], None] | None = None) -> DemoResult:
    """Run the demo chain (:data:`STEPS`) into ``out_dir``, each step's report drawn as it ends;
    return a :class:`~cisgram.results.DemoResult` whose ``summary`` is also ``summary.json``.

    ``quick`` trains with :data:`QUICK` settings (same steps and files, rougher models);
    ``stop_after`` ends after that step; ``threads`` sets torch's threads for the chain (GET's
    tiny matrices always run on one). ``progress`` gets one line per step and the steps' own lines.
    """
    if stop_after is not None and stop_after not in STEPS:
        raise InputError(f"unknown demo step {stop_after!r}", hint=f"choose one of {', '.join(STEPS)}")
    say = progress or (lambda msg: None)
    cfg = QUICK if quick else FULL
    d = demo_paths()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {}
    steps: list[dict] = []
    state: dict = {}
    begin = time.perf_counter()

    def record(name: str, seconds: float, note: str, outputs: list[Path], report: Path | None = None) -> None:
        steps.append({"name": name, "title": TITLES[name], "seconds": round(seconds, 2), "note": note,
                      "outputs": [_rel(p, out) for p in outputs], "report": None if report is None else _rel(report, out)})
        say(f"  {name} done in {seconds:.1f} s: {note}")

    def inner(msg: str) -> None:
        say(f"    {msg}")

    plan = STEPS if stop_after is None else STEPS[: STEPS.index(stop_after) + 1]
    summary["quick"] = bool(quick)
    summary["settings"] = asdict(cfg)
    summary["steps"] = steps
    state["begin"] = begin
    with _torch_threads(threads):
        for k, name in enumerate(plan, 1):
            say(f"[{k}/{len(plan)}] {TITLES[name]}")
            t0 = time.perf_counter()
            note, outputs, report = _STEP_FUNCS[name](out, d, cfg, width, summary, state, inner)
            record(name, time.perf_counter() - t0, note, outputs, report)
    summary["seconds"] = {s["name"]: s["seconds"] for s in steps}
    summary["seconds_total"] = round(time.perf_counter() - begin, 2)
    write_json(out / "summary.json", summary)
    say(f"demo chain done in {summary['seconds_total']:.0f} s; wrote {out}")
    return DemoResult(out, summary, comparison=state.get("comparison"), variants=state.get("variant_table"),
                      problems=state.get("variant_problems"), saturation=state.get("saturation", {}))


# ------------------------------------------------------------------------------------ the steps


def _step_prepare(out: Path, d, cfg: DemoSettings, width: int, summary: dict, state: dict, say):
    adata = prepare(
        d.genome, list(d.peaks.values()), [f"{c}={p}" for c, p in d.accessibility.items()],
        tss=d.genes_tss, width=width, split="blocks:1Mb", out=out / "dataset.h5ad", progress=say,
    )
    prepare_report(adata, out / "prepare_report.html")
    motifs = load_motifs(str(d.motifs))
    var = adata.var
    counts = np.asarray(adata.layers["counts"])
    ap = np.asarray(adata.layers["access"])
    splits = var["split"].astype(str).value_counts()
    summary.update({
        "n_regions": adata.n_vars,
        "width": width,
        "n_near_tss": int((var["tss_distance"] <= 1000).sum()),
        "n_constitutive": int(var["constitutive"].sum()),
        "n_motifs": len(motifs),
        "split": "1 Mb blocks",
        "split_counts": {k: int(splits.get(k, 0)) for k in ("train", "val", "test")},
        "conditions": [
            {
                "name": c,
                "peaks": int(sum(1 for _ in open(d.peaks[c]))),
                "nonzero": int((counts[i] > 0).sum()),
                "mean_coverage": float(counts[i].mean()),
                "mean_access": float(ap[i].mean()),
            }
            for i, c in enumerate(adata.obs_names)
        ],
    })
    state["adata"] = adata
    state["motifs"] = motifs
    sc = summary["split_counts"]
    note = (f"{adata.n_vars:,} union regions of {width} bp x {adata.n_obs} cell lines; train {sc['train']:,} / "
            f"val {sc['val']:,} / test {sc['test']:,}")
    return note, [out / "dataset.h5ad", out / "split.json"], out / "prepare_report.html"


def _step_scan(out: Path, d, cfg: DemoSettings, width: int, summary: dict, state: dict, say):
    s = scan_regions(d.genome, out / "dataset.h5ad", d.motifs, out / "features.parquet",
                     features=("max", "count", "energy"), hits_out=out / "hits.tsv", device="cpu")
    hits = pd.read_csv(out / "hits.tsv", sep="\t", usecols=["motif"])
    alt = {m.name: m.alt_name for m in state["motifs"]}
    top = hits["motif"].value_counts().head(10)
    summary["scan"] = {"n_regions": s["n_regions"], "n_motifs": s["n_motifs"], "width": s["width"],
                       "features": s["features"], "n_hits": s["n_hits"],
                       "top_motifs_by_hits": [{"motif": m, "name": alt.get(m, ""), "hits": int(n)} for m, n in top.items()]}
    note = f"{s['n_regions']:,} regions x {s['n_motifs']} motifs ({', '.join(s['features'])}); {s['n_hits']:,} hits at p < 1e-4"
    return note, [out / "features.parquet", out / "hits.tsv"], None


def _run_metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def _step_iq(out: Path, d, cfg: DemoSettings, width: int, summary: dict, state: dict, say):
    run = out / "runs" / "iq"
    iq_cfg = IQConfig(max_motifs=cfg.iq_max_motifs, distill_steps=cfg.iq_distill_steps, filter=cfg.iq_simplify)
    res = train_iq(out / "dataset.h5ad", [TARGET], run, motifs=str(d.motifs), config=iq_cfg, progress=say)
    iq_report(run / "report.html", res)
    metrics = res.metrics
    pipe = json.loads((run / "pipeline.json").read_text())
    contrib = pipe["contributions"].get(TARGET, {})
    clusters = {c["name"]: c for c in pipe["clusters"]}
    ranked = sorted(contrib.items(), key=lambda kv: -kv[1]) or [(c["name"], float("nan")) for c in pipe["clusters"]]
    summary["iq"] = {"test": metrics["test"][TARGET], "val": metrics["val"][TARGET],
                     "motifs": [{"name": m, "delta_r2": v, "representative": clusters.get(m, {}).get("representative_alt", ""),
                                 "how": clusters.get(m, {}).get("how", "")} for m, v in ranked]}
    state["top_iq_motif"] = ranked[0][0]
    t = metrics["test"][TARGET]
    note = f"{len(ranked)} binding models; {TARGET} AP test r {t['pearson']:.3f} (n {t['n']})"
    return note, [run / "model.safetensors", run / "predictions.parquet", run / "metrics.json"], run / "report.html"


def _step_cnn(out: Path, d, cfg: DemoSettings, width: int, summary: dict, state: dict, say):
    run = out / "runs" / "cnn"
    tc = TrainConfig(max_epochs=cfg.cnn_epochs, patience=cfg.cnn_patience, batch_size=cfg.cnn_batch_size, lr=cfg.cnn_lr,
                     weight_decay=cfg.cnn_weight_decay, seed=0)
    end_run(run)  # the demo trains every step again: an interrupted earlier demo's checkpoints go
    res = train_cnn(out / "dataset.h5ad", run, targets=[TARGET], signal="access", background=0,
                    length=cfg.cnn_length, config=tc, progress=say)
    cnn_report(run / "report.html", res)
    metrics = res.metrics
    hist = json.loads((run / "history.json").read_text())
    summary["cnn"] = {"test": metrics["test"][TARGET], "val": metrics["val"][TARGET], "length": cfg.cnn_length,
                      "epochs": len(hist["epochs"]), "best_epoch": hist["best_epoch"]}
    t = metrics["test"][TARGET]
    note = (f"{cfg.cnn_length} bp windows, {len(hist['epochs'])} epoch(s) (best {hist['best_epoch']}); "
            f"{TARGET} AP test r {t['pearson']:.3f} (n {t['n']})")
    return note, [run / "model.safetensors", run / "predictions.parquet", run / "metrics.json"], run / "report.html"


def _step_baseline(out: Path, d, cfg: DemoSettings, width: int, summary: dict, state: dict, say):
    run = out / "runs" / "kmer"
    res = train_baseline(out / "dataset.h5ad", [TARGET], run, kind="kmer-ridge")
    baseline_report(run / "report.html", res)
    metrics = res.metrics
    summary["baseline"] = {"kind": "kmer-ridge", "test": metrics["test"][TARGET], "val": metrics["val"][TARGET]}
    t = metrics["test"][TARGET]
    return (f"ridge on 6-mer counts; {TARGET} AP test r {t['pearson']:.3f} (n {t['n']})",
            [run / "predictions.parquet", run / "metrics.json"], run / "report.html")


def _step_get_data(out: Path, d, cfg: DemoSettings, width: int, summary: dict, state: dict, say):
    init = {c: (d.initiation_plus[c], d.initiation_minus[c]) for c in d.initiation_plus}
    data = region_motif_data(out / "dataset.h5ad", d.genome, d.motifs, d.genes_tss, init, device="cpu")
    data.write(out / "get_data.npz")
    state["get_data"] = data
    s = data.summary()
    summary["get_data"] = {k: s[k] for k in ("n_regions", "n_features", "n_motifs", "cell_types", "tss_regions")}
    note = (f"{s['n_regions']:,} regions x {s['n_features']} features; TSS regions + {s['tss_regions']['+']} / "
            f"- {s['tss_regions']['-']}")
    return note, [out / "get_data.npz"], None


def _step_get(out: Path, d, cfg: DemoSettings, width: int, summary: dict, state: dict, say):
    run = out / "runs" / "get"
    end_run(run)  # as in the CNN step
    with _torch_threads(1):  # tiny matrices: one thread beats two on a busy machine
        res = train_get(out / "get_data.npz", run, leave_out=HELD_OUT, config_overrides=cfg.get_overrides,
                        n_regions=50, pretrain=True, lora=True, max_epochs=cfg.get_epochs,
                        patience=cfg.get_patience, seed=0, progress=say)
        get_report(run / "report.html", res)
    metrics = res.metrics
    summary["get"] = {"leave_out": HELD_OUT, "training_cell_types": metrics["training_cell_types"],
                      "test": metrics["test"],
                      "baselines": {k: v["test"] for k, v in metrics["baselines"].items()},
                      "lora": None if metrics["lora"] is None else metrics["lora"]["test"]}
    t = metrics["test"][HELD_OUT]
    lora = metrics["lora"]["test"][HELD_OUT]["pearson"] if metrics["lora"] else float("nan")
    note = f"{HELD_OUT} held out: zero-shot test r {t['pearson']:.3f}, with LoRA {lora:.3f} (n {t['n']})"
    return note, [run / "model.safetensors", run / "lora.safetensors", run / "predictions.parquet"], run / "report.html"


def _demo_genes(data, cell: str, n: int = 2) -> list[str]:
    """The ``n`` genes with the highest measured initiation in ``cell`` among test TSS regions
    (one name per region and strand), for the enhancer-gene part of the GET explanation."""
    c = data.cell_index(cell)
    test = data.split == "test"
    cands = []
    for s, col in enumerate(("tss_plus", "tss_minus")):
        for r in np.flatnonzero(test & data.has_tss[:, s]):
            name = str(data.regions[col].iat[r]).split(",")[0]
            if name:
                cands.append((float(data.targets[c, r, s]), name))
    chosen: list[str] = []
    for _, name in sorted(cands, reverse=True):
        if name not in chosen:
            chosen.append(name)
        if len(chosen) == n:
            break
    return chosen


def _step_explain_get(out: Path, d, cfg: DemoSettings, width: int, summary: dict, state: dict, say):


    data = state.get("get_data") or RegionMotifData.read(out / "get_data.npz")
    genes = _demo_genes(data, HELD_OUT)
    dest = out / "explain_get"
    with _torch_threads(1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        res = explain_get(out / "runs" / "get", dest, top_motifs=cfg.explain_top_motifs, genes=genes or None,
                          progress=say)
        get_explain_report(dest / "report.html", res)
    for w in caught:  # FastICA's convergence warnings are summed up in one line; others pass on
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    if unconverged:
        say(f"LiNGAM: FastICA stopped at its iteration limit in {unconverged} fit(s); the averaged graph is kept")
    alt = {m.name: m.alt_name for m in state.get("motifs") or load_motifs(str(d.motifs))}
    s = explain_summary(res)
    summary["explain_get"] = {"cell": s["cell"], "genes": genes, "n_entries": s["n_entries"],
                              "n_explained": s["n_explained"], "n_interactions": s["n_interactions"],
                              "n_causal_edges": s["n_causal_edges"], "lora_adapter": s["lora_adapter"],
                              "top_motifs": [{"motif": m, "name": alt.get(m, "")} for m in s["top_motifs"]]}
    note = (f"{s['n_entries']} TSS entries of {s['cell']}; {s['n_interactions']} motif pairs, "
            f"{s['n_causal_edges']} causal edges; enhancers scored for {', '.join(genes)}")
    return note, [dest / "gene_by_motif.parquet", dest / "interactions.tsv", dest / "causal_edges.tsv",
                  dest / "enhancer_gene.tsv"], dest / "report.html"


def _step_compare(out: Path, d, cfg: DemoSettings, width: int, summary: dict, state: dict, say):
    runs = [out / "runs" / n for n in ("iq", "cnn", "kmer")]
    res = compare_runs(runs, out / "compare", n_boot=cfg.n_boot, seed=0, progress=say)
    compare_report(out / "compare" / "report.html", res)
    comp = res.comparison
    state["comparison"] = comp
    test = comp["metrics"]["test"][TARGET]
    ci = comp["intervals"][TARGET]
    summary["compare"] = {
        "target": TARGET, "reference": comp["reference"][TARGET]["model"],
        "entries": next(t["entries"] for t in comp["targets"] if t["name"] == TARGET),
        "models": [{"name": m["name"], "kind": m["kind"], "pearson": test[m["name"]]["pearson"],
                    "pearson_ci": (ci.get(m["name"], {}) or {}).get("pearson"), "r2": test[m["name"]]["r2"],
                    "n": test[m["name"]]["n"]} for m in comp["models"]],
    }
    best = max(summary["compare"]["models"], key=lambda m: -np.inf if m["pearson"] is None else m["pearson"])
    note = f"{len(comp['models'])} models on {test['iq']['n']} shared test regions; best test r {best['name']} {best['pearson']:.3f}"
    return note, [out / "compare" / "comparison.tsv", out / "compare" / "comparison.json"], out / "compare" / "report.html"


# ------------------------------------------------------------------------------------ variants


def _motif_site(out: Path, d, motif_name: str) -> dict | None:
    """The best hit (p < 1e-3) of the IQ run's ``motif_name`` among the 20 test regions most
    accessible in K562: region, genome start/end, strand, and the motif's most informative
    position with its least likely base (an SNV there should break the site)."""

    model = load(out / "runs" / "iq").model
    motif = next((m for m in model.motifs if m.name == motif_name), None)
    if motif is None:
        return None
    adata = read_dataset(out / "dataset.h5ad")
    var = adata.var
    ap = np.asarray(adata.layers["access"])[list(adata.obs_names).index(TARGET)]
    test = np.flatnonzero((var["split"].astype(str) == "test").to_numpy())
    rows = test[np.argsort(-ap[test], kind="stable")[:20]]
    g = Genome(d.genome)
    codes = g.fetch_codes_batch(var["chrom"].to_numpy()[rows], var["start"].to_numpy()[rows], var["end"].to_numpy()[rows])
    hits = scan(codes, MotifSet([motif]), threshold=1e-3, features=(), hits=True).hits
    if hits is None or hits.empty:
        return None
    h = hits.sort_values(["score", "region"], ascending=[False, True]).iloc[0]
    r = rows[int(h["region"])]
    chrom, rstart = str(var["chrom"].iat[r]), int(var["start"].iat[r])
    probs = np.asarray(motif.probs)
    info = 2 + (np.clip(probs, 1e-12, 1) * np.log2(np.clip(probs, 1e-12, 1))).sum(axis=1)
    col = int(np.argmax(info))
    worst = int(np.argmin(probs[col]))
    if h["strand"] == "+":
        pos0, base = rstart + int(h["start"]) + col, "ACGT"[worst]
    else:
        pos0, base = rstart + int(h["end"]) - 1 - col, "TGCA"[worst]
    return {"motif": motif_name, "region": str(var.index[r]), "chrom": chrom, "start": rstart + int(h["start"]),
            "end": rstart + int(h["end"]), "strand": str(h["strand"]), "score": float(h["score"]),
            "p_value": float(h["p_value"]), "snv_pos0": pos0, "snv_alt": base}


def _write_vcf(out: Path, d, site: dict | None) -> tuple[Path, dict]:
    """The demo VCF: SNVs at the centres of the four most accessible K562 test regions, one SNV
    at ``site`` (breaking the motif), a 3 bp deletion, and one record whose REF is wrong."""

    adata = read_dataset(out / "dataset.h5ad")
    var = adata.var
    ap = np.asarray(adata.layers["access"])[list(adata.obs_names).index(TARGET)]
    test = np.flatnonzero((var["split"].astype(str) == "test").to_numpy())
    rows = test[np.argsort(-ap[test], kind="stable")]
    g = Genome(d.genome)
    records: list[tuple[str, int, str, str, str]] = []  # chrom, pos (1-based), id, ref, alt

    def base_at(chrom: str, pos0: int) -> str:
        return g.fetch(chrom, pos0, pos0 + 1).upper()

    for r in rows:
        if len(records) == 4:
            break
        chrom, mid = str(var["chrom"].iat[r]), (int(var["start"].iat[r]) + int(var["end"].iat[r])) // 2
        ref = base_at(chrom, mid)
        if ref in "ACGT":
            records.append((chrom, mid + 1, f"snv_centre_{len(records) + 1}", ref, "ACGT"[("ACGT".index(ref) + 2) % 4]))
    if site is not None:
        ref = base_at(site["chrom"], site["snv_pos0"])
        if ref in "ACGT" and ref != site["snv_alt"]:
            records.append((site["chrom"], site["snv_pos0"] + 1, f"snv_{site['motif']}_site", ref, site["snv_alt"]))
    r = rows[1]
    chrom, p0 = str(var["chrom"].iat[r]), (int(var["start"].iat[r]) + int(var["end"].iat[r])) // 2 + 40
    ref = g.fetch(chrom, p0, p0 + 4).upper()
    if set(ref) <= set("ACGT"):
        records.append((chrom, p0 + 1, "deletion_3bp", ref, ref[0]))
    r = rows[2]
    chrom, p0 = str(var["chrom"].iat[r]), (int(var["start"].iat[r]) + int(var["end"].iat[r])) // 2 - 25
    true = base_at(chrom, p0)
    wrong = "ACGT"[("ACGT".index(true) + 1) % 4] if true in "ACGT" else "A"
    header = ["##fileformat=VCFv4.2", f"##reference={Path(d.genome).name}",
              "##INFO=<ID=DEMO,Number=0,Type=Flag,Description=\"cisgram demo variant\">",
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines = [*header, *(f"{c}\t{p}\t{i}\t{rf}\t{a}\t.\tPASS\tDEMO" for c, p, i, rf, a in records)]
    lines.append(f"{chrom}\t{p0 + 1}\twrong_ref\t{wrong}\t{true}\t.\tPASS\tDEMO")
    path = out / "variants" / "demo.vcf"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as fh:
        fh.write("\n".join(lines) + "\n")
    return path, {"n_records": len(records) + 1, "bad_ref_line": len(lines),
                  "bad_ref": {"chrom": chrom, "pos": p0 + 1, "ref_given": wrong, "genome": true}}


def _step_variants(out: Path, d, cfg: DemoSettings, width: int, summary: dict, state: dict, say):
    dest = out / "variants"
    dest.mkdir(parents=True, exist_ok=True)
    top = state.get("top_iq_motif") or (summary.get("iq") or {}).get("motifs", [{}])[0].get("name")
    site = _motif_site(out, d, top) if top else None
    vcf, info = _write_vcf(out, d, site)
    say(f"wrote {vcf.name}: {info['n_records']} records, line {info['bad_ref_line']} with a wrong REF on purpose")
    tables = {}
    for fam in ("cnn", "iq"):
        tables[fam] = score_variants(out / "runs" / fam, vcf, dest / f"scores_{fam}.tsv")
    probs = pd.read_csv(problems_path(dest / "scores_cnn.tsv"), sep="\t")
    if site is not None:
        centre = (site["start"] + site["end"]) // 2
        chrom, lo = site["chrom"], centre - SATURATION_BP // 2
        where = f"the best {top} site ({site['strand']} strand, {site['region']})"
    else:  # no hit of the motif: the centre of the most accessible test peak

        adata = read_dataset(out / "dataset.h5ad")
        var = adata.var
        ap = np.asarray(adata.layers["access"])[list(adata.obs_names).index(TARGET)]
        test = np.flatnonzero((var["split"].astype(str) == "test").to_numpy())
        r = test[int(np.argmax(ap[test]))]
        chrom, lo = str(var["chrom"].iat[r]), (int(var["start"].iat[r]) + int(var["end"].iat[r])) // 2 - SATURATION_BP // 2
        where = f"the centre of the most accessible {TARGET} test peak"
    region = f"{chrom}:{lo}-{lo + SATURATION_BP}"
    sat = {}
    for fam in ("iq", "cnn"):
        say(f"saturation map of {region} with the {fam} run")
        sat_res = saturate(out / "runs" / fam, region, dest / f"saturation_{fam}", target=TARGET)
        saturation_report(dest / f"saturation_{fam}", sat_res)
        state.setdefault("saturation", {})[fam] = sat_res
        t = sat_res.table
        worst = t.sort_values(f"delta:{TARGET}").iloc[0]
        sat[fam] = {"n": len(t), "min_delta": float(worst[f"delta:{TARGET}"]), "worst": f"{worst['chrom']}:{int(worst['pos'])} "
                    f"{worst['ref']}>{worst['alt']}", "report": f"variants/saturation_{fam}/report.html"}
    merged = tables["cnn"][["line", "id", "chrom", "pos", "ref", "alt", "kind"]].copy()
    for fam, t in tables.items():
        merged[f"delta_{fam}"] = t[f"delta:{TARGET}"].to_numpy()
    state["variant_table"] = merged
    state["variant_problems"] = probs
    summary["variants"] = {
        "vcf": _rel(vcf, out), **info, "n_scored": int(len(merged)),
        "scored": [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in merged.to_dict("records")],
        "problems": [{"line": int(p.line), "reason": str(p.reason)} for p in probs.itertuples(index=False)],
        "site": site, "saturation": {"region": region, "where": where, **sat},
    }
    note = (f"{len(merged)} variant(s) scored with the CNN and IQ runs; {len(probs)} line(s) reported "
            f"(line {info['bad_ref_line']}: wrong REF); saturation of {region}")
    outputs = [vcf, dest / "scores_cnn.tsv", dest / "scores_iq.tsv", problems_path(dest / "scores_cnn.tsv"),
               dest / "saturation_iq" / "saturation.tsv", dest / "saturation_cnn" / "saturation.tsv"]
    return note, outputs, dest / "saturation_iq" / "report.html"


def _step_report(out: Path, d, cfg: DemoSettings, width: int, summary: dict, state: dict, say):
    result = DemoResult(out, summary, comparison=state.get("comparison"), variants=state.get("variant_table"),
                        problems=state.get("variant_problems"), saturation=state.get("saturation", {}))
    demo_report(out / "report.html", result, elapsed=time.perf_counter() - state["begin"])
    return "one page summarising every step, linking each step's own report", [out / "report.html"], None


_STEP_FUNCS = {
    "prepare": _step_prepare, "scan": _step_scan, "iq": _step_iq, "cnn": _step_cnn, "baseline": _step_baseline,
    "get_data": _step_get_data, "get": _step_get, "explain_get": _step_explain_get, "compare": _step_compare,
    "variants": _step_variants, "report": _step_report,
}
