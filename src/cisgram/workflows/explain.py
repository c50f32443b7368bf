"""``cisgram explain``: attributions of a trained sequence CNN or ChromBPNet on regions, with
optional motif discovery; and ``cisgram explain benchmark``: the ground-truth test of the
attribution methods.

A ChromBPNet run (``cisgram train chrombpnet``) is explained through
:meth:`~cisgram.models.bpnet_run.ChromBPNetModel.explained`: one scalar per sequence, the predicted
log count (``target="counts"``, the default) or BPNet's profile scalar (``target="profile"``:
``Σ softmax(logits).detach() · (logits − mean(logits))``), of the bias-free model by default
(``part="bias_free"``: chrombpnet's ``chrombpnet_nobias``, the model its maintainers explain, so
that Tn5's preference does not show up as motifs), or of ``"full"`` / ``"bias"`` (the bias
model's own contributions, chrombpnet's check that it learnt no TF motif).

The benchmark follows AgentBind (Zheng et al. 2021): a DeepSEA-style CNN learns to tell the
positives of a simulation (:mod:`cisgram.data.simulate`) from its negatives; every attribution
method then explains the held-out positives, and each method is scored by the area under the ROC
curve of separating the bases of the planted, label-bearing sites from all other bases
(:func:`cisgram.interpret.attribution.importance` and :func:`~cisgram.interpret.attribution.recovery`
give each method's per-base importance and the areas).

Both return typed results (:class:`~cisgram.results.BenchmarkResult`,
:class:`~cisgram.results.ExplainResult`) that :mod:`cisgram.report.explain` draws.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import TensorDataset

from cisgram.errors import InputError
from cisgram.files import atomic_path, atomic_write, write_json
from cisgram.genome import codes_to_onehot
from cisgram.inference import predict
from cisgram.interpret.attribution import (
    ATTRIBUTIONS,
    attribute,
    contributions,
    deeplift,
    importance,
    recovery,
    unresponsive,
)
from cisgram.interpret.discovery import discover as discover_patterns
from cisgram.interpret.discovery import write_patterns
from cisgram.metrics import classification_metrics
from cisgram.models.bpnet_run import EXPLAINED, PARTS
from cisgram.models.cnn import CNNModel, build, new_spec
from cisgram.motifs.pwm import load_motifs
from cisgram.results import BenchmarkResult, ExplainedSequence, ExplainResult
from cisgram.training import TrainConfig, fit
from cisgram.workflows.rundir import load, path_entries

log = logging.getLogger(__name__)

BENCHMARK_METHODS = ("ism", "saliency", "input_x_gradient", "integrated_gradients", "deeplift", "gradcam",
                     "gradcam_saliency")
AGENTBIND = {"ism": 0.986, "gradcam_saliency": 0.979, "saliency": 0.962, "deeplift": 0.811}
TARGETS = {"ism": 0.986, "gradcam": 0.979, "gradcam_saliency": 0.979, "saliency": 0.962, "deeplift": 0.95}
LOGO_WINDOW = 60  # bp of each shown sequence drawn as logos: its most important stretch


def _check_methods(methods: Sequence[str]) -> None:
    unknown = [m for m in methods if m not in ATTRIBUTIONS]
    if unknown or not methods:
        raise InputError(f"unknown attribution method(s) {', '.join(unknown) or '(none given)'}",
                         hint=f"choose from {', '.join(ATTRIBUTIONS)}")


def _doubled(codes: np.ndarray, label: np.ndarray) -> TensorDataset:
    """A tensor dataset of both strands of every sequence (AgentBind's RC augmentation)."""
    x = torch.from_numpy(codes_to_onehot(codes))
    y = torch.from_numpy(label.astype(np.float32))[:, None]
    return TensorDataset(torch.cat([x, x.flip(1, 2)]), torch.cat([y, y]))


def train_simulation_model(sim, config, *, arch: str = "deepsea", arch_params: dict | None = None):
    """A classifier of the simulation's labels, trained on its train split (both strands) with
    early stopping on its validation split; returns ``(CNNModel, FitResult)``. ``arch_params``
    go to the network's constructor (e.g. ``{"filters": [16, 16, 16]}``)."""
    spec = new_spec(arch, 1, int(sim.codes.shape[1]), **(arch_params or {}))
    tr, va = sim.split == "train", sim.split == "val"
    net = build(spec, seed=config.seed)
    res = fit(net, _doubled(sim.codes[tr], sim.label[tr]), _doubled(sim.codes[va], sim.label[va]), config)
    return CNNModel(res.net, spec, "classification", ["label"]), res


def benchmark(sim, out_dir: str | os.PathLike, *, methods: Sequence[str] = BENCHMARK_METHODS,
              n_explain: int = 200, config=None, arch: str = "deepsea", arch_params: dict | None = None,
              device: str = "cpu", progress: Callable[[str], None] | None = None) -> BenchmarkResult:
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
        (``model.safetensors`` + ``model.json``) and ``config.json``.
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
    _check_methods(methods)
    config = config or TrainConfig(task="classification")
    if config.task != "classification":
        raise InputError("the benchmark trains a classifier: give a TrainConfig with task='classification'")
    say = progress or (lambda msg: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    say(f"training a {arch} classifier on {int((sim.split == 'train').sum()):,} simulated sequences")
    model, res = train_simulation_model(sim, config, arch=arch, arch_params=arch_params)
    test = np.flatnonzero(sim.split == "test")
    clf = classification_metrics(sim.label[test], predict(model, sim.codes[test], device=device)[:, 0])
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
    model.save(out)
    with atomic_path(out / "attributions.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    with atomic_write(out / "benchmark.tsv") as fh:
        table.to_csv(fh, sep="\t", index=False, float_format="%.4f")
    write_json(out / "metrics.json", {"family": "cnn", "test": {"label": clf}, "methods": table.to_dict("records"),
                                      "best_epoch": res.best_epoch, "training_seconds": res.seconds}, indent=2)
    write_json(out / "config.json", {"command": "explain benchmark", "grammar": sim.grammar.to_dict(),
                                     "simulation": sim.config, "arch": arch, "spec": model.spec, "n_explain": n_explain,
                                     "train": config.to_dict(), "methods": list(table["method"])}, indent=2)
    return BenchmarkResult(out, sim.grammar.name, sim.grammar.description, len(sim.label), int(sim.codes.shape[1]),
                           clf, table, _benchmark_examples(sim, arrays, X, list(methods)))


def _benchmark_examples(sim, arrays: dict, X: np.ndarray, methods: list[str], n: int = 3) -> list[ExplainedSequence]:
    """The first ``n`` explained sequences as drawn: every method's importance track, the planted
    sites shaded, DeepLIFT and ISM contribution logos."""
    out = []
    for k, i in enumerate(arrays["index"][:n]):
        s = sim.sites[sim.sites["seq"] == i]
        spans = [(a, b, f"{nm} ({r})") for a, b, nm, r in zip(s["start"], s["end"], s["name"], s["role"], strict=True)]
        tracks = {m: importance(arrays[m][k: k + 1], X[k: k + 1], m)[0] for m in methods}
        logos = [(f"{m}, sequence {i}", contributions(arrays[m][k: k + 1], X[k: k + 1], m)[0].T, spans)
                 for m in ("deeplift", "ism") if m in arrays]
        out.append(ExplainedSequence(f"test sequence {i}", tracks, spans, logos))
    return out


def _shown(names, X: np.ndarray, pred: np.ndarray, arrays: dict, n: int, flat: np.ndarray | None = None,
           window: int = LOGO_WINDOW) -> list:
    """The ``n`` highest-predicted sequences as drawn: every method's importance track and, over
    the most important ``window`` bp of the first method's track, each method's contribution logo
    (a title says when the sequence is one the model cannot see, ``flat``)."""
    out = []
    for i in np.argsort(-pred)[:n]:
        tracks = {m: importance(a[i: i + 1], X[i: i + 1], m)[0] for m, a in arrays.items()}
        smooth = np.convolve(next(iter(tracks.values())), np.ones(window), mode="valid")
        lo = int(np.argmax(smooth)) if smooth.size else 0
        logos = [(f"{m}: {names[i]} +{lo}", contributions(a[i: i + 1], X[i: i + 1], m)[0].T[lo: lo + window], ())
                 for m, a in arrays.items()]
        blind = ", unresponsive: zero output gradient" if flat is not None and flat[i] else ""
        out.append(ExplainedSequence(f"{names[i]} (prediction {pred[i]:.3g}{blind})", tracks, [(lo, lo + window, "")],
                                     logos))
    return out


def _explained(run, path, target: str | None, part: str | None) -> tuple[object, int, str, str | None]:
    """``(model the attributions explain, its output column, the target's name, part)``: a CNN
    run's model and target column; a ChromBPNet run's scalar of ``target`` (``counts`` or
    ``profile``) of ``part`` (default ``bias_free``). Bad choices are one-line errors naming the run."""
    if run.family == "chrombpnet":
        target, part = target or "counts", part or "bias_free"
        if target not in EXPLAINED:
            raise InputError(f"a ChromBPNet run explains --target counts or profile, not {target!r}", path=path,
                             hint="counts: the predicted log count; profile: the weighted mean-normalised logits")
        if part not in PARTS:
            raise InputError(f"unknown part {part!r} of a ChromBPNet run", path=path, hint=f"choose {', '.join(PARTS)}")
        try:
            return run.model.explained(target, part), 0, target, part
        except InputError as e:  # "bias" of a run trained without a bias model
            raise InputError(e.problem, path=path, hint=e.hint) from None
    if part is not None:
        raise InputError(f"--part chooses the network of a ChromBPNet run; this is a {run.family} run", path=path,
                         hint="leave --part out")
    if target is not None and target not in run.targets:
        raise InputError(f"the model has no target {target!r}", path=path,
                         hint=f"its targets: {', '.join(run.targets)} (counts | profile are ChromBPNet's)")
    t = run.targets.index(target) if target is not None else 0
    return run.model, t, run.targets[t], None


def explain_regions(model: str | os.PathLike, out_dir: str | os.PathLike, *, regions=None, sequences=None,
                    methods: Sequence[str] = ("deeplift",), target: str | None = None, n_logos: int = 5,
                    discover: bool = False, database: str | os.PathLike = "jaspar:2024/CORE/vertebrates",
                    genome=None, device: str = "cpu", progress: Callable[[str], None] | None = None,
                    part: str | None = None) -> ExplainResult:
    """Explain a trained CNN or ChromBPNet run on ``regions`` (BED) or ``sequences``.

    Writes into ``out_dir``: ``attributions.npz`` (``names``, ``codes`` ``(N, L)``,
    ``prediction`` ``(N,)`` and one ``(N, 4, L)`` array per method, on the target's output:
    logits for classification, and ``unresponsive`` ``(N,)``) and ``config.json``; the result
    carries the ``n_logos`` highest-predicted sequences as the report draws them.
    A sequence is ``unresponsive`` when the explained output does not respond to it at all: the
    gradient of the forward strand's raw output (what the attributions explain) is at most
    :data:`~cisgram.interpret.attribution.FLAT_TOLERANCE` at every base
    (:func:`cisgram.interpret.attribution.unresponsive`); its gradient attributions are 0
    because the model cannot see the window, not because no base matters. They are flagged in
    the result, the file, ``config.json`` (``n_unresponsive``), a warning and the report. With ``discover``, TF-MoDISco runs on DeepLIFT's hypothetical contributions and the patterns,
    matched to ``database`` by TOMTOM, go to ``patterns.meme``, ``patterns.tsv`` and the result.

    ChromBPNet runs: ``target`` is ``"counts"`` (default) or ``"profile"`` and ``part``
    ``"bias_free"`` (default), ``"full"`` or ``"bias"`` (see the module docstring); ``prediction``
    is then the part's predicted log count, and ``unresponsive`` tests the explained scalar.
    """
    run = load(model)
    if run.family not in ("cnn", "chrombpnet"):
        raise InputError(f"cisgram explain reads sequence CNN and ChromBPNet runs; this is a {run.family} run",
                         path=model, hint="iq runs show their motifs, responses and spatial profiles in their own report")
    _check_methods(methods)
    explained, t, target, part = _explained(run, model, target, part)
    say = progress or (lambda msg: None)
    codes, names = run.codes(sequences, regions, genome)
    X = codes_to_onehot(codes)
    pred = predict(run.model, codes, device=device, **({} if part is None else {"part": part}))[:, t]
    flat = unresponsive(explained, codes, target=t, device=device)
    if flat.any():
        log.warning("%d of %d regions do not respond to their input (the explained output, forward strand, has a "
                    "zero gradient at every base): their attributions are 0 because the model cannot see them, not "
                    "because no base matters; first: %s", int(flat.sum()), len(flat),
                    ", ".join(np.asarray(names)[flat][:5]))
    hyp = None
    if discover:
        say(f"DeepLIFT hypothetical contributions of {len(X):,} sequences for TF-MoDISco")
        hyp = deeplift(explained, X, target=t, device=device, hypothetical=True)
    arrays = {}
    for m in methods:
        say(f"{m} on {len(codes):,} sequences")
        if m == "deeplift" and hyp is not None:
            arrays[m] = hyp * X  # the actual contributions, same references (tested)
        else:
            arrays[m] = attribute(explained, X, m, target=t, device=device).astype(np.float32)
    found = None
    if discover:
        say("TF-MoDISco and TOMTOM")
        found = discover_patterns(hyp, X, database=load_motifs(database))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "attributions.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, names=np.asarray(names), codes=codes, prediction=pred, unresponsive=flat, **arrays)
    patterns = []
    if found is not None:
        write_patterns(found, out / "patterns.meme")
        rows = [{"pattern": p.name, "n_seqlets": p.n_seqlets, **m} for p in found.patterns
                for m in p.matches.to_dict("records")]
        with atomic_write(out / "patterns.tsv") as fh:
            pd.DataFrame(rows).to_csv(fh, sep="\t", index=False)
        patterns = [_pattern_summary(p) for p in found.patterns]
    conf = {"command": "explain", **path_entries(model=model, regions=regions), "methods": list(methods),
            "target": target, **({} if part is None else {"part": part}), "discover": discover,
            "database": str(database) if discover else None, "n": len(codes), "n_unresponsive": int(flat.sum())}
    write_json(out / "config.json", conf, indent=2)
    return ExplainResult(out, conf, list(names), pred, list(methods), _shown(names, X, pred, arrays, n_logos, flat),
                         found, patterns, flat)


def _pattern_summary(p) -> dict:
    """A discovered pattern as plain data: name, seqlets, its matches (best first) and the best one."""
    matches = [{"target": r["target"], "target_name": r["target_name"], "q_value": float(r["q_value"])}
               for r in p.matches.to_dict("records")]
    best = {"match": matches[0]["target"], "match_name": matches[0]["target_name"],
            "q_value": matches[0]["q_value"]} if matches else {}
    return {"name": p.name, "n_seqlets": int(p.n_seqlets), **best, "matches": matches}
