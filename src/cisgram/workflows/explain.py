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
give each method's per-base importance and the areas), and, as AgentBind also did, at region
resolution: the auROC of the ``region_width``-bp windows that overlap a planted site against the
other windows, ranked by summed importance (:func:`cisgram.interpret.regions.region_recovery`).
Both areas carry 95 % bootstrap intervals over the explained sequences, and every pair of
methods a paired interval of its difference at each resolution (:mod:`cisgram.interpret.regions`).
The network is DeepSEA-style by default, or DanQ (AgentBind's second network; DeepLIFT has no rule
for its LSTM, so that row is NaN with a note) or the dilated CNN.

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
from cisgram.interpret.regions import method_pairs, region_recovery, sequence_bootstrap, winners
from cisgram.metrics import classification_metrics
from cisgram.models.bpnet_run import EXPLAINED, PARTS
from cisgram.models.cnn import ARCHS, CNNModel, build, new_spec
from cisgram.motifs.pwm import load_motifs
from cisgram.results import BenchmarkResult, ExplainedSequence, ExplainResult
from cisgram.training import TrainConfig, fit
from cisgram.workflows.rundir import load, path_entries

log = logging.getLogger(__name__)

BENCHMARK_METHODS = ("ism", "saliency", "input_x_gradient", "integrated_gradients", "deeplift", "gradcam",
                     "gradcam_saliency")
AGENTBIND = {"ism": 0.986, "gradcam_saliency": 0.979, "saliency": 0.962, "deeplift": 0.811}
TARGETS = {"ism": 0.986, "gradcam": 0.979, "gradcam_saliency": 0.979, "saliency": 0.962, "deeplift": 0.95}
REGION_WIDTH = 30  # bp of the region-level score's windows (AgentBind scored regions and bases)
REGION_WIDTHS = (20, 50)  # the widths the benchmark accepts
PAIR_COLUMNS = ["a", "b", "resolution", "difference", "low", "high", "share_above_zero"]
WINNER_COLUMNS = ["resolution", "best", "auroc", "runner_up", "difference", "low", "high", "share_above_zero"]
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
              device: str = "cpu", progress: Callable[[str], None] | None = None, region_width: int = REGION_WIDTH,
              n_boot: int = 1000, boot_seed: int = 0) -> BenchmarkResult:
    """Train a CNN on a simulation, explain its held-out positives with every method, and score
    each method against the planted sites at base and at region resolution, with bootstrap
    intervals over the explained sequences.

    Parameters
    ----------
    sim
        A :class:`cisgram.data.simulate.Simulation`.
    out_dir
        Run directory: ``benchmark.tsv`` (per method: base-level auROC pooled with its interval
        and per sequence, the same at region level, seconds, ``note``), ``benchmark_pairs.tsv``
        (every pair of methods at each resolution: paired difference and interval),
        ``metrics.json`` (the classifier's test auROC / auPRC, the tables and the winner per
        resolution), ``attributions.npz`` (per method, ``(n, 4, L)``, with the explained
        sequences' indices), the model (``model.safetensors`` + ``model.json``) and ``config.json``.
    methods
        Attribution methods (:data:`cisgram.interpret.attribution.ATTRIBUTIONS`). A method the
        network refuses (DeepLIFT on DanQ's LSTM) keeps its row with NaN scores and the reason in
        ``note``.
    n_explain
        Held-out positives explained (the first ones of the test split).
    config
        :class:`cisgram.training.TrainConfig` of the classifier (classification task).
    arch, arch_params
        The network (:func:`cisgram.models.cnn.build`): ``deepsea``, ``danq`` or ``dilated``
        and its constructor's arguments over the defaults.
    region_width
        Window width in bp of the region-level score, 20 to 50
        (:func:`cisgram.interpret.regions.region_recovery`: non-overlapping, the shorter last
        window dropped).
    n_boot, boot_seed
        Bootstrap resamples of the explained sequences and their seed
        (:func:`cisgram.interpret.regions.sequence_bootstrap`).
    """
    _check_methods(methods)
    config = config or TrainConfig(task="classification")
    if config.task != "classification":
        raise InputError("the benchmark trains a classifier: give a TrainConfig with task='classification'")
    if arch not in ARCHS:
        raise InputError(f"unknown architecture {arch!r}", hint=f"choose from {', '.join(ARCHS)}")
    if not REGION_WIDTHS[0] <= region_width <= REGION_WIDTHS[1]:
        raise InputError(f"--region-width must be {REGION_WIDTHS[0]} to {REGION_WIDTHS[1]} bp, got {region_width}")
    if n_boot < 1:
        raise InputError(f"--n-boot must be at least 1, got {n_boot}")
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
    arrays, seconds, notes = _attribute_all(model, X, methods, device, say)
    say(f"bootstrapping {n_boot} resamples of the {pick.size} explained sequences")
    imps = {m: importance(arrays[m], X, m) for m in methods if m in arrays}
    boot = sequence_bootstrap(imps, truth, width=region_width, n_boot=n_boot, seed=boot_seed)
    table = _benchmark_table(methods, imps, truth, boot, seconds, notes, region_width)
    pairs = pd.DataFrame(method_pairs(boot), columns=PAIR_COLUMNS)
    wins = pd.DataFrame(winners(boot), columns=WINNER_COLUMNS)
    model.save(out)
    with atomic_path(out / "attributions.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, index=pick, **arrays)
    for name, frame in (("benchmark.tsv", table), ("benchmark_pairs.tsv", pairs)):
        with atomic_write(out / name) as fh:
            frame.to_csv(fh, sep="\t", index=False, float_format="%.4f")
    write_json(out / "metrics.json", {"family": "cnn", "test": {"label": clf}, "methods": _records(table),
                                      "pairs": _records(pairs), "winners": _records(wins), "region_width": region_width,
                                      "n_boot": n_boot, "best_epoch": res.best_epoch,
                                      "training_seconds": res.seconds}, indent=2)
    write_json(out / "config.json", {"command": "explain benchmark", "grammar": sim.grammar.to_dict(),
                                     "simulation": sim.config, "arch": arch, "spec": model.spec, "n_explain": n_explain,
                                     "region_width": region_width, "n_boot": n_boot, "boot_seed": boot_seed,
                                     "train": config.to_dict(), "methods": list(table["method"])}, indent=2)
    return BenchmarkResult(out, sim.grammar.name, sim.grammar.description, len(sim.label), int(sim.codes.shape[1]),
                           clf, table, _benchmark_examples(sim, {"index": pick, **arrays}, X, list(arrays)),
                           pairs, wins, arch, region_width)


def _attribute_all(model, X: np.ndarray, methods: Sequence[str], device: str, say) -> tuple[dict, dict, dict]:
    """``(arrays, seconds, notes)`` per method: the ``(n, 4, L)`` attributions of the methods the
    network allows, the seconds each took and, for a method it refuses (an
    :class:`~cisgram.errors.InputError` such as DeepLIFT on DanQ's LSTM), the reason instead."""
    arrays, seconds, notes = {}, {}, {}
    for method in methods:
        say(f"explaining {len(X)} test positives with {method}")
        t0 = time.perf_counter()
        try:
            arrays[method] = attribute(model, X, method, device=device).astype(np.float32)
        except InputError as e:
            notes[method] = f"not available: {e.problem}"
            log.warning("%s: %s", method, notes[method])
        seconds[method] = time.perf_counter() - t0
    return arrays, seconds, notes


def _benchmark_table(methods, imps: dict, truth: np.ndarray, boot, seconds: dict, notes: dict,
                     width: int) -> pd.DataFrame:
    """One row per method: both resolutions' areas (pooled with the bootstrap interval, and per
    sequence), AgentBind's figure, the target, seconds and a note (NaN scores when refused)."""
    nan = float("nan")
    rows = []
    for m in methods:
        row = {"method": m, "auroc": nan, "auroc_low": nan, "auroc_high": nan, "auroc_per_sequence": nan,
               "region_auroc": nan, "region_auroc_low": nan, "region_auroc_high": nan,
               "region_auroc_per_sequence": nan, "n_sequences": len(truth), "region_width": width,
               "n_windows": truth.shape[1] // width}
        if m in imps:
            row.update(recovery(imps[m], truth), **region_recovery(imps[m], truth, width))
            (row["auroc_low"], row["auroc_high"]), (row["region_auroc_low"], row["region_auroc_high"]) = (
                boot.intervals[m]["base"], boot.intervals[m]["region"])
        rows.append({**row, "seconds": seconds[m], "agentbind": AGENTBIND.get(m, nan), "target": TARGETS.get(m, nan),
                     "note": notes.get(m, "")})
    return pd.DataFrame(rows)


def _records(frame: pd.DataFrame) -> list[dict]:
    """Table rows for JSON, NaN as null."""
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in frame.to_dict("records")]


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
