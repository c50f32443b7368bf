"""Explaining trained sequence models (``cisgram explain``) and the ground-truth benchmark of the
explanation methods (``cisgram explain benchmark``).

The benchmark follows AgentBind (Zheng et al. 2021): a DeepSEA-style CNN learns to tell the
positives of a simulation (:mod:`cisgram.data.simulate`) from its negatives; every attribution
method then explains the held-out positives, and each method is scored by the area under the ROC
curve of separating the bases of the planted, label-bearing sites from all other bases. The
per-base importance each method's score is computed from (:func:`importance`):

- ``ism``: the mean absolute change of the output over the three substitutions of a base;
- ``saliency``: the largest absolute gradient over the four bases (Simonyan et al.'s map);
- every other method: the absolute attribution of the observed base.

Absolute values, because a base can matter by raising or by lowering the output; each sequence's
importances are divided by their sum (AgentBind's L1 normalisation) before the areas are pooled
over all bases of all explained sequences. The mean of the per-sequence areas is reported too.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.files import atomic_write
from cisgram.interpret.attribution import importance, recovery

log = logging.getLogger(__name__)

BENCHMARK_METHODS = ("ism", "saliency", "input_x_gradient", "integrated_gradients", "deeplift", "gradcam",
                     "gradcam_saliency")
AGENTBIND = {"ism": 0.986, "gradcam_saliency": 0.979, "saliency": 0.962, "deeplift": 0.811}
TARGETS = {"ism": 0.986, "gradcam": 0.979, "gradcam_saliency": 0.979, "saliency": 0.962, "deeplift": 0.95}


def _doubled(codes: np.ndarray, label: np.ndarray):
    """A tensor dataset of both strands of every sequence (AgentBind's RC augmentation)."""
    import torch
    from torch.utils.data import TensorDataset

    from cisgram.genome import codes_to_onehot

    x = torch.from_numpy(codes_to_onehot(codes))
    y = torch.from_numpy(label.astype(np.float32))[:, None]
    return TensorDataset(torch.cat([x, x.flip(1, 2)]), torch.cat([y, y]))


def train_simulation_model(sim, config, *, arch: str = "deepsea", arch_params: dict | None = None):
    """A classifier of the simulation's labels, trained on its train split (both strands) with
    early stopping on its validation split; returns ``(CNNModel, FitResult)``. ``arch_params``
    go to the network's constructor (e.g. ``{"filters": [16, 16, 16]}``)."""
    import torch

    from cisgram.models.cnn import CNNModel, build
    from cisgram.training import fit

    spec = {"arch": arch, "n_tasks": 1, "length": int(sim.codes.shape[1]), **(arch_params or {})}
    tr, va = sim.split == "train", sim.split == "val"
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        net = build(spec)
    res = fit(net, _doubled(sim.codes[tr], sim.label[tr]), _doubled(sim.codes[va], sim.label[va]), config)
    return CNNModel(res.net, spec, "classification", ["label"]), res


def benchmark(sim, out_dir: str | os.PathLike, *, methods: Sequence[str] = BENCHMARK_METHODS,
              n_explain: int = 200, config=None, arch: str = "deepsea", arch_params: dict | None = None,
              device: str = "cpu", progress: Callable[[str], None] | None = None) -> dict:
    """Train a CNN on a simulation, explain its held-out positives with every method, and score
    each method against the planted sites.

    Parameters
    ----------
    sim
        A :class:`cisgram.data.simulate.Simulation`.
    out_dir
        Run directory: ``benchmark.tsv`` (method, auROC pooled and per sequence, seconds),
        ``metrics.json`` (the classifier's test auROC / auPRC and the table), ``attributions.npz``
        (per method, ``(n, 4, L)``, with the explained sequences' indices), the model
        (``model.safetensors`` + ``model.json``), ``config.json`` and ``report.html``.
    methods
        Attribution methods (:data:`cisgram.interpret.attribution.ATTRIBUTIONS`).
    n_explain
        Held-out positives explained (the first ones of the test split).
    config
        :class:`cisgram.training.TrainConfig` of the classifier (classification task).
    arch, arch_params
        The network (:func:`cisgram.models.cnn.build`): ``deepsea`` or ``dilated`` and its
        constructor's arguments (default widths when empty).
    """
    from cisgram.genome import codes_to_onehot
    from cisgram.interpret.attribution import ATTRIBUTIONS, attribute
    from cisgram.metrics import classification_metrics
    from cisgram.training import TrainConfig

    unknown = [m for m in methods if m not in ATTRIBUTIONS]
    if unknown:
        raise InputError(f"unknown attribution method(s) {', '.join(unknown)}", hint=f"choose from {', '.join(ATTRIBUTIONS)}")
    config = config or TrainConfig(task="classification")
    if config.task != "classification":
        raise InputError("the benchmark trains a classifier: give a TrainConfig with task='classification'")
    say = progress or (lambda msg: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    say(f"training a {arch} classifier on {int((sim.split == 'train').sum()):,} simulated sequences")
    model, res = train_simulation_model(sim, config, arch=arch, arch_params=arch_params)
    test = np.flatnonzero(sim.split == "test")
    p_test = model.predict(sim.codes[test], device=device)[:, 0]
    clf = classification_metrics(sim.label[test], p_test)
    say(f"test auROC {clf['auroc']:.3f}")

    pick = test[sim.label[test] == 1][:n_explain]
    if pick.size == 0:
        raise InputError("the test split holds no positive sequence to explain", hint="simulate more sequences")
    X = codes_to_onehot(sim.codes[pick])
    truth = sim.truth()[pick]
    rows, arrays = [], {"index": pick}
    for method in methods:
        say(f"explaining {pick.size} test positives with {method}")
        t0 = time.perf_counter()
        attr = attribute(model, X, method, device=device)
        seconds = time.perf_counter() - t0
        arrays[method] = attr.astype(np.float32)
        rows.append({"method": method, **recovery(importance(attr, X, method), truth), "seconds": seconds,
                     "agentbind": AGENTBIND.get(method, float("nan")), "target": TARGETS.get(method, float("nan"))})
    table = pd.DataFrame(rows)
    _write_benchmark(out, sim, model, res, clf, table, arrays, X, truth, config, arch, n_explain)
    return {"classifier": clf, "methods": table.to_dict("records")}


def _write_benchmark(out: Path, sim, model, res, clf: dict, table: pd.DataFrame, arrays: dict, X, truth,
                     config, arch: str, n_explain: int) -> None:
    from cisgram.files import atomic_path
    from cisgram.report.explain import explain_benchmark_report

    model.save(out)
    with atomic_path(out / "attributions.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    with atomic_write(out / "benchmark.tsv") as fh:
        table.to_csv(fh, sep="\t", index=False, float_format="%.4f")
    metrics = {"family": "cnn", "test": {"label": clf}, "methods": table.to_dict("records"),
               "best_epoch": res.best_epoch, "training_seconds": res.seconds}
    with atomic_write(out / "metrics.json") as fh:
        json.dump(metrics, fh, indent=2)
    cfg = {"command": "explain benchmark", "grammar": sim.grammar.to_dict(), "simulation": sim.config, "arch": arch, "spec": model.spec,
           "n_explain": n_explain, "train": config.to_dict(), "methods": list(table["method"])}
    with atomic_write(out / "config.json") as fh:
        json.dump(cfg, fh, indent=2)
    explain_benchmark_report(out / "report.html", sim, table, clf, arrays, X, truth)


def explain_regions(model: str | os.PathLike, out_dir: str | os.PathLike, *, regions=None, sequences=None,
                    methods: Sequence[str] = ("deeplift",), target: str | None = None, n_logos: int = 5,
                    discover: bool = False, database: str | os.PathLike = "jaspar:2024/CORE/vertebrates",
                    genome=None, device: str = "cpu", progress: Callable[[str], None] | None = None) -> dict:
    """Explain a trained CNN run on ``regions`` (BED) or ``sequences``.

    Writes into ``out_dir``: ``attributions.npz`` (``names``, ``codes`` ``(N, L)``,
    ``prediction`` ``(N,)`` and one ``(N, 4, L)`` array per method, on the target's output:
    logits for classification), ``report.html`` (importance tracks and logos of the ``n_logos``
    highest-predicted sequences, around each one's most important 60 bp) and ``config.json``.
    With ``discover``, TF-MoDISco runs on DeepLIFT's hypothetical contributions and the patterns,
    matched to ``database`` by TOMTOM, go to ``patterns.meme``, ``patterns.tsv`` and the report.
    """
    from cisgram.genome import codes_to_onehot
    from cisgram.interpret.attribution import ATTRIBUTIONS, attribute
    from cisgram.workflows.rundir import load

    run = load(model)
    if run.family != "cnn":
        raise InputError(f"cisgram explain reads sequence CNN runs; this is a {run.family} run", path=model,
                         hint="iq runs show their motifs, responses and spatial profiles in their own report")
    unknown = [m for m in methods if m not in ATTRIBUTIONS]
    if unknown or not methods:
        raise InputError(f"unknown attribution method(s) {', '.join(unknown) or '(none given)'}",
                         hint=f"choose from {', '.join(ATTRIBUTIONS)}")
    if target is not None and target not in run.targets:
        raise InputError(f"the model has no target {target!r}", path=model, hint=f"its targets: {', '.join(run.targets)}")
    t = run.targets.index(target) if target is not None else 0
    say = progress or (lambda msg: None)
    codes, names = run.codes(sequences, regions, genome)
    X = codes_to_onehot(codes)
    pred = run.model.predict(codes, device=device)[:, t]
    hyp = None
    if discover:
        from cisgram.interpret.attribution import deeplift

        say(f"DeepLIFT hypothetical contributions of {len(X):,} sequences for TF-MoDISco")
        hyp = deeplift(run.model, X, target=t, device=device, hypothetical=True)
    arrays = {}
    for m in methods:
        say(f"{m} on {len(codes):,} sequences")
        if m == "deeplift" and hyp is not None:
            arrays[m] = hyp * X  # the actual contributions, same references (tested)
        else:
            arrays[m] = attribute(run.model, X, m, target=t, device=device).astype(np.float32)
    found = None
    if discover:
        from cisgram.interpret.discovery import discover as run_discovery
        from cisgram.motifs.pwm import load_motifs

        say("TF-MoDISco and TOMTOM")
        found = run_discovery(hyp, X, database=load_motifs(database))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_explanation(out, names, codes, X, pred, arrays, found, n_logos)
    conf = {"command": "explain", "model": str(model), "regions": None if regions is None else str(regions),
            "methods": list(methods), "target": run.targets[t], "discover": discover,
            "database": str(database) if discover else None, "n": len(codes)}
    with atomic_write(out / "config.json") as fh:
        json.dump(conf, fh, indent=2)
    summary = {"n": len(codes), "methods": list(methods)}
    if found is not None:
        summary["patterns"] = [_pattern_summary(p) for p in found.patterns]
    return summary


def _pattern_summary(p) -> dict:
    """A discovered pattern as plain data: name, seqlets, its matches (best first) and the best one."""
    matches = [{"target": r["target"], "target_name": r["target_name"], "q_value": float(r["q_value"])}
               for r in p.matches.to_dict("records")]
    best = {"match": matches[0]["target"], "match_name": matches[0]["target_name"],
            "q_value": matches[0]["q_value"]} if matches else {}
    return {"name": p.name, "n_seqlets": int(p.n_seqlets), **best, "matches": matches}


def _write_explanation(out: Path, names, codes, X, pred, arrays: dict, found, n_logos: int) -> None:
    from cisgram.files import atomic_path
    from cisgram.report.explain import explain_report

    with atomic_path(out / "attributions.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, names=np.asarray(names), codes=codes, prediction=pred, **arrays)
    if found is not None:
        from cisgram.interpret.discovery import write_patterns

        write_patterns(found, out / "patterns.meme")
        rows = [{"pattern": p.name, "n_seqlets": p.n_seqlets, **m} for p in found.patterns
                for m in p.matches.to_dict("records")]
        with atomic_write(out / "patterns.tsv") as fh:
            pd.DataFrame(rows).to_csv(fh, sep="\t", index=False)
    explain_report(out / "report.html", names, X, pred, arrays, found, n_logos)


# --------------------------------------------------------------------------------------------
# GET runs: gene-by-motif, motif interactions, causal graph, enhancer-gene scores
# --------------------------------------------------------------------------------------------
def _gene_label(regions: pd.DataFrame, row: int, strand: int) -> str:
    return str(regions["tss_plus" if strand == 0 else "tss_minus"].iat[row])


def explain_get(run: str | os.PathLike, out_dir: str | os.PathLike, *, data=None, cell: str | None = None,
                genes: Sequence[str] | None = None, split: str | None = None, top_motifs: int = 50,
                n_orders: int = 3, causal_method: str = "ica", causal_threshold: float = 0.05,
                interaction_fraction: float | None = None, max_report_genes: int = 6, use_lora: bool = True,
                batch_size: int = 32, device: str = "cpu", seed: int = 0,
                progress: Callable[[str], None] | None = None) -> dict:
    """Explain a GET run (``cisgram train get``) in one cell type (``specs/get.md`` §4).

    Every TSS region of ``split`` (default all) gets a window of the run's ``n_regions`` centred
    on it; each (region, TSS strand) is one gene entry, labelled by the TSS names on that strand.
    Writes into ``out_dir``:

    - ``genes.tsv``: the entries (row, region, strand, gene, split, observed, predicted);
    - ``gene_by_motif.parquet`` / ``gene_by_motif_absmean.parquet``: genes × features, input ×
      gradient at the gene's focus region and strand, averaged over the window's regions (GET's
      signed mean, and the paper's mean of absolute values);
    - ``motif_correlation.parquet`` and ``interactions.tsv`` (:func:`~cisgram.interpret.interactions.top_interactions`
      of the signed matrix's motif columns, top ``interaction_fraction``, default 5 %);
    - ``causal_adjacency.parquet`` and ``causal_edges.tsv``: LiNGAM among the ``top_motifs``
      motifs of highest mean absolute contribution (``n_orders`` column orders averaged;
      edges with ``|weight| >= causal_threshold``);
    - ``enhancer_gene.tsv``: for the entries of ``genes`` (default every entry), each region of
      the window: distance, accessibility, knock-out effect, region importance (the embedding
      gradient norm), power-law contact, ABC term and the enhancer score;
    - ``config.json`` and ``report.html``.

    The cell type defaults to the run's held-out one (else its first training cell type); when
    the run trained a LoRA adapter for that cell type it is used (``use_lora``). ``data`` defaults
    to the region-motif file the run was trained on (its path in ``config.json``).
    """
    import torch

    from cisgram.data.get import STRANDS, RegionMotifData, tss_windows
    from cisgram.files import atomic_path
    from cisgram.interpret.interactions import (
        TOP_FRACTION,
        causal_edges,
        causal_graph,
        enhancer_gene_scores,
        knockout_effects,
        motif_correlation,
        top_interactions,
    )
    from cisgram.interpret.jacobian import jacobian, region_importance
    from cisgram.report.get import get_explain_report
    from cisgram.workflows.train_get import open_get_run

    say = progress or (lambda msg: None)
    opened = open_get_run(run, data=data, cell=cell, use_lora=use_lora)
    config, rmd, cell, model, adapted = opened.config, opened.data, opened.cell, opened.model, opened.adapted
    source = data if data is not None else config.get("data")
    R = int(config["n_regions"])
    windows = tss_windows(rmd, [cell], split=split, n_regions=R, require_targets=False)
    const = 1.0 if rmd.params.get("accessibility") == "ones" else None
    regions = rmd.regions
    names = regions["name"].to_numpy(dtype=str)
    mids = ((regions["start"].to_numpy(np.int64) + regions["end"].to_numpy(np.int64)) // 2)
    c = rmd.cell_index(cell)
    wanted = None if genes is None else [str(g) for g in genes]

    # every (window, TSS strand) entry
    firsts, focuses = [], []
    for i in range(len(windows)):
        _c, first, focus = windows.window(i)
        firsts.append(first)
        focuses.append(focus)
    firsts, focuses = np.array(firsts), np.array(focuses)
    rows = firsts + focuses
    ent = [(w, s) for w in range(len(rows)) for s in (0, 1) if rmd.has_tss[rows[w], s]]
    ew = np.array([w for w, _ in ent], dtype=np.int64)
    es = np.array([s for _, s in ent], dtype=np.int64)
    labels = [_gene_label(regions, rows[w], s) for w, s in ent]
    if wanted is not None:
        have = {g for lab in labels for g in lab.split(",")}
        missing = [g for g in wanted if g not in have]
        if missing:
            raise InputError(f"{len(missing)} gene(s) have no TSS region here: {', '.join(missing[:5])}",
                             hint=f"genes are TSS names of the region-motif data, e.g. {', '.join(sorted(have)[:5])}")
    selected = np.array([wanted is None or any(g in wanted for g in lab.split(",")) for lab in labels])

    def windows_of(idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.stack([rmd.features(c, slice(firsts[w], firsts[w] + R)) for w in idx]))

    say(f"gene-by-motif of {len(ent):,} TSS entries ({cell}, {R} regions per window)")
    signed, absolute, predicted = [], [], []
    chunk = max(1, int(batch_size))
    for lo in range(0, len(ent), chunk):
        sl = slice(lo, lo + chunk)
        X = windows_of(ew[sl])
        f = focuses[ew[sl]]
        ixg = jacobian(model, X, f, strand=es[sl], batch_size=batch_size, device=device) * X.numpy()  # one pass
        signed.append(ixg.sum(1) / R)  # = gene_by_motif(...) / R, signed and absolute
        absolute.append(np.abs(ixg).sum(1) / R)
        p = model.predict(X, batch_size=batch_size, device=device)
        predicted.append(p[np.arange(len(f)), f, es[sl]])
    features = list(rmd.feature_names)
    index = pd.Index([f"{lab}|{names[rows[w]]}|{STRANDS[s]}" for lab, (w, s) in zip(labels, ent, strict=True)],
                     name="entry")
    gbm = pd.DataFrame(np.concatenate(signed), index=index, columns=features)
    gbm_abs = pd.DataFrame(np.concatenate(absolute), index=index, columns=features)
    genes_df = pd.DataFrame({
        "entry": index, "gene": labels, "row": rows[ew], "region": names[rows[ew]],
        "strand": [STRANDS[s] for s in es], "split": rmd.split[rows[ew]],
        "observed": rmd.targets[c, rows[ew], es] if rmd.has_targets[c] else np.nan,
        "predicted": np.concatenate(predicted)})

    say("motif-motif correlation")
    motifs = list(rmd.motif_names)
    corr = motif_correlation(gbm[motifs])
    inter = top_interactions(corr, fraction=interaction_fraction or TOP_FRACTION)
    used = gbm_abs[motifs].mean(0).sort_values(ascending=False)
    chosen = [m for m in used.index[: int(top_motifs)] if used[m] > 0]
    say(f"LiNGAM ({causal_method}, {n_orders} column orders) among the top {len(chosen)} motifs")
    adj = causal_graph(gbm[chosen], n_orders=n_orders, method=causal_method, seed=seed)
    edges = causal_edges(adj, threshold=causal_threshold)

    pick = np.flatnonzero(selected)
    say(f"in-silico knock-out of every region in {len(pick):,} gene windows ({len(pick) * R:,} knock-outs)")
    effs, imps = [], []
    for lo in range(0, len(pick), chunk):
        sel = pick[lo:lo + chunk]
        X = windows_of(ew[sel])
        f = focuses[ew[sel]]
        effs.append(knockout_effects(model, X, f, strand=es[sel], constant_accessibility=const,
                                     batch_size=max(R + 1, 4 * (R + 1)), device=device))
        imps.append(region_importance(model, X, f, strand=es[sel], batch_size=batch_size, device=device))
    eff = np.concatenate(effs) if effs else np.zeros((0, R), np.float32)
    imp = np.concatenate(imps) if imps else np.zeros((0, R), np.float32)
    win_rows = firsts[ew[pick]][:, None] + np.arange(R)[None, :]
    dist = mids[win_rows] - mids[rows[ew[pick]]][:, None]
    acc = rmd.accessibility[c][win_rows]
    scores = enhancer_gene_scores(eff, acc, dist)
    eg = pd.DataFrame({
        "gene": np.repeat(np.asarray(labels, dtype=object)[pick], R),
        "tss_region": np.repeat(names[rows[ew[pick]]], R),
        "strand": np.repeat([STRANDS[s] for s in es[pick]], R),
        "region": names[win_rows].ravel(), "chrom": regions["chrom"].to_numpy(dtype=str)[win_rows].ravel(),
        "start": regions["start"].to_numpy()[win_rows].ravel(), "end": regions["end"].to_numpy()[win_rows].ravel(),
        "distance": dist.ravel(), "accessibility": acc.ravel(), "ko_effect": eff.ravel(),
        "importance": imp.ravel(), **{k: v.ravel() for k, v in scores.items()}})

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("gene_by_motif", gbm), ("gene_by_motif_absmean", gbm_abs), ("motif_correlation", corr),
                        ("causal_adjacency", adj)):
        with atomic_path(out / f"{name}.parquet") as tmp:
            frame.to_parquet(tmp)
    for name, frame in (("genes", genes_df), ("interactions", inter), ("causal_edges", edges), ("enhancer_gene", eg)):
        with atomic_write(out / f"{name}.tsv") as fh:
            frame.to_csv(fh, sep="\t", index=False)
    from cisgram.interpret.interactions import ABC_GAMMA, ABC_MIN_DISTANCE, ABC_SCALE, ABC_WEIGHT, KO_WEIGHT

    conf = {"command": "explain get", "run": str(run), "data": str(source) if not isinstance(source, RegionMotifData)
            else "<RegionMotifData>", "cell": cell, "lora_adapter": adapted, "split": split, "n_regions": R,
            "genes": wanted, "top_motifs": int(top_motifs), "causal_method": causal_method, "n_orders": int(n_orders),
            "causal_threshold": causal_threshold, "interaction_fraction": interaction_fraction or TOP_FRACTION,
            "seed": seed, "gene_by_motif": "input x gradient at the focus region and strand, mean over the window",
            "enhancer_score": {"ko_weight": KO_WEIGHT, "abc_weight": ABC_WEIGHT, "gamma": ABC_GAMMA,
                               "scale": ABC_SCALE, "min_distance": ABC_MIN_DISTANCE},
            "constant_accessibility": const}
    with atomic_write(out / "config.json") as fh:
        json.dump(conf, fh, indent=2, default=float)
    get_explain_report(out / "report.html", genes_df, gbm, corr, inter, adj, edges, eg, conf,
                       max_genes=max_report_genes)
    return {"cell": cell, "n_entries": len(ent), "n_explained": int(len(pick)), "n_interactions": len(inter),
            "n_causal_edges": len(edges), "causal_motifs": chosen, "lora_adapter": adapted,
            "top_motifs": list(used.index[:10])}
