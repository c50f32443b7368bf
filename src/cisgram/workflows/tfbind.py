"""Does the context around a motif tell whether the TF binds it? (AgentBind-style, ``cisgram tfbind``)

For one TF: every instance of its motif on the genome is labelled bound (inside a ChIP-seq peak)
or unbound (:mod:`cisgram.data.tfbind`); each example is the ~1 kb window around the instance,
oriented on the motif's strand. For each negative-set strategy (``standard``, AgentBind's:
unbound instances matched to the bound ones in bins of motif p-value; ``gc``: GC-matched;
``genomic``: every unbound instance; ``open``: bound and unbound instances both in accessible
chromatin of the same cell type; ``open-negatives``: only the unbound ones restricted so; see
:mod:`cisgram.data.tfbind`) three models learn on the same training examples and are scored on
the same held-out ones:

- ``cnn``: the DeepSEA-style network of :mod:`cisgram.models.cnn` (``arch="danq"``: DanQ, the
  other network of AgentBind) on the oriented windows (jitter and reverse-complement
  augmentation in training, strand-averaged predictions);
- ``core-score``: logistic regression on the motif's own log-odds score (how far the site
  alone goes);
- ``context-motifs``: L1 logistic regression on the best score of every database motif in the
  window with the core site masked (N), penalty chosen on the validation split; what it
  recovers of the CNN's advantage is the part explained by other TFs' motifs;
- ``cnn-blocked`` (with ``core=("kept", "blocked")``): the same network trained, validated and
  tested on the windows with the core site replaced by N (all-zero one-hot), AgentBind's
  blocked condition 'b' (0.926 against 0.941 kept over 38 TFs): what the context alone tells.

The run directory holds ``comparison.tsv`` (strategy, model, test auROC / auPRC, counts),
``metrics.json`` (DESIGN's shape with targets ``<strategy>:<model>``), ``split.json``,
``config.json``, ``report.html`` and, per strategy, ``<strategy>/predictions.parquet`` and the
CNN's ``model.safetensors`` + ``model.json`` (the blocked one's in ``<strategy>/blocked/``).
``comparison.tsv`` has a ``core`` column: ``blocked`` for ``cnn-blocked``, ``kept`` otherwise.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.data.tfbind import NEGATIVES
from cisgram.data.tfbind_examples import draw_examples, examples_dataset, instance_pool
from cisgram.errors import InputError
from cisgram.files import atomic_path, write_json
from cisgram.genome import Genome
from cisgram.inference import predict
from cisgram.metrics import auroc, classification_metrics
from cisgram.models.cnn import CNNModel, build, new_spec
from cisgram.motifs.pwm import load_motifs
from cisgram.results import TFBindResult
from cisgram.splits import Split
from cisgram.training import TrainConfig, fit
from cisgram.workflows.rundir import (
    begin_run,
    end_run,
    finish_run,
    path_entries,
    request_paths,
    start_run,
    tfbind_network_dirs,
)

log = logging.getLogger(__name__)

MODELS = ("cnn", "cnn-blocked", "core-score", "context-motifs")
CORES = ("kept", "blocked")  # AgentBind's conditions 'c' and 'b': the core motif in the windows, or N over it
RETRIES = 2  # new starts of a CNN that collapsed to a constant output
COLLAPSED = 1e-6  # validation predictions spread no more than this: a constant output
SMALL_SET = 300  # fewer bound training instances than this: a seed ensemble by default
ENSEMBLE_SEEDS = 3  # the networks of that ensemble, their predictions averaged


def _l1_argument() -> dict:
    """scikit-learn 1.8 spells an L1 penalty ``l1_ratio=1`` and deprecates ``penalty``."""
    import sklearn

    major, minor = (int(x) for x in sklearn.__version__.split(".")[:2])
    return {"l1_ratio": 1.0} if (major, minor) >= (1, 8) else {"penalty": "l1"}
STRATEGIES = NEGATIVES
TFBIND_ARCHS = ("deepsea", "danq")  # AgentBind's two networks


def block_span(codes: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A copy of ``(N, W)`` codes with N (code 4) over each row's ``[lo, hi)``: what a blocked
    network reads."""
    pos = np.arange(codes.shape[1])
    out = codes.copy()
    out[(pos >= np.asarray(lo)[:, None]) & (pos < np.asarray(hi)[:, None])] = 4
    return out


def masked_context_codes(genome, table: pd.DataFrame) -> np.ndarray:
    """``(N, W)`` codes of each example's window with its core site set to N (code 4)."""
    codes = genome.fetch_codes_batch(table["chrom"].to_numpy(), table["start"].to_numpy(), table["end"].to_numpy())
    return block_span(codes, (table["site_start"] - table["start"]).to_numpy(),
                      (table["site_end"] - table["start"]).to_numpy())


def context_motif_scores(genome, table: pd.DataFrame, database, *, batch_size: int = 2000) -> np.ndarray:
    """``(N, M)`` best log-odds score of every database motif in each window, core masked."""
    from cisgram.motifs.scan import scan

    out = []
    for i in range(0, len(table), batch_size):
        codes = masked_context_codes(genome, table.iloc[i: i + batch_size])
        out.append(scan(codes, database, features=("max",)).features["max"])
    X = np.vstack(out)
    finite = np.isfinite(X)
    floor = np.where(finite, X, np.inf).min(0)
    return np.where(finite, X, np.where(np.isfinite(floor), floor, 0.0)[None, :])


def fit_core_score(score: np.ndarray, y: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Probabilities of a logistic regression on the core site's score, fitted on ``train``."""
    from sklearn.linear_model import LogisticRegression

    s = score.reshape(-1, 1)
    return LogisticRegression().fit(s[train], y[train]).predict_proba(s)[:, 1]


def fit_context_motifs(X: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray,
                       Cs: Sequence[float] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)) -> tuple[np.ndarray, dict]:
    """L1 logistic regression on standardised context-motif scores; ``C`` chosen by validation
    auROC. Returns probabilities for every row and ``{"C", "n_motifs", "val_auroc"}``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(X[train])
    Z = sc.transform(X)
    best, l1 = None, _l1_argument()
    for C in Cs:
        m = LogisticRegression(C=C, solver="liblinear", **l1).fit(Z[train], y[train])
        a = auroc(y[val], m.predict_proba(Z[val])[:, 1])
        if best is None or a > best[0]:
            best = (a, C, m)
    a, C, m = best
    return m.predict_proba(Z)[:, 1], {"C": C, "n_motifs": int((m.coef_ != 0).sum()), "val_auroc": a}


def _initial_weights(run: str | os.PathLike, window: int, arch: str = "deepsea") -> dict:
    """The weights of a ``cisgram train cnn`` run of ``arch`` with input length ``window``."""
    from cisgram.models.cnn import CNNModel

    model = CNNModel.load(run)
    if model.spec.get("arch") != arch or model.length != window:
        raise InputError(f"--init needs a {arch} run with {window} bp inputs; this one is "
                         f"{model.spec.get('arch')} with {model.length} bp", path=run)
    return model.net.state_dict()


def _load_trunk(net, state: dict) -> None:
    """Copy every tensor of ``state`` whose name and shape match, except the output layer's."""
    out_ids = {id(p) for p in net.output.parameters()}
    skip = {name for name, p in net.named_parameters() if id(p) in out_ids}
    own = net.state_dict()
    take = {k: v for k, v in state.items() if k in own and k not in skip and own[k].shape == v.shape}
    net.load_state_dict({**own, **take})


def _fewer_training_examples(ex, fraction: float, seed: int):
    """``ex`` with only ``fraction`` of its training examples of each class (at least one)."""
    t = ex.table
    rng = np.random.default_rng([seed, 17])
    keep = t["split"].to_numpy() != "train"
    for label in (0, 1):
        rows = np.flatnonzero((t["split"].to_numpy() == "train") & (t["label"].to_numpy() == label))
        keep[rng.choice(rows, max(1, round(fraction * rows.size)), replace=False) if rows.size else rows] = True
    return replace(ex, table=t[keep].reset_index(drop=True))


def _check_classes(ex, strategy: str, chip) -> None:
    y, part = ex.table["label"].to_numpy().astype(int), ex.table["split"].to_numpy()
    for s in ("train", "val", "test"):
        if not (y[part == s] == 1).any() or not (y[part == s] == 0).any():
            raise InputError(f"{strategy}: the {s} split has only one class "
                             f"({int(y[part == s].sum())} bound of {int((part == s).sum())})",
                             path=chip, hint="use more chromosomes or another --split")


def fit_tfbind_cnn(ex, genome, window: int, cfg, *, jitter: int = 20, start: dict | None = None, strategy: str = "",
                   say: Callable[[str], None] = lambda msg: None, checkpoints: Path | None = None,
                   resume: bool = False, arch: str = "deepsea", arch_params: dict | None = None,
                   block_core: bool = False, seed_index: int = 0):
    """The CNN of one negative set, trained on its training windows, the epoch kept by validation
    auROC: ``(CNNModel, FitResult, attempts)``.

    Classes are weighed equally: on the unbalanced sets (genomic: ~1 bound in 12) an unweighted
    network can settle on the base rate and never leave it. Small sets (a few hundred windows)
    get smaller batches, so an epoch is at least ~40 steps: with 10 steps an epoch the network
    had not left its starting plateau when early stopping ended it. A network that settles on a
    constant output (every ReLU off: auROC 0.50) is caught at the end of its **first** epoch
    (:func:`~cisgram.fit_hooks.constant_output_check` on the validation windows) and started
    again from another seed with a third of the learning rate, at most :data:`RETRIES` times;
    the final network is checked once more. ``attempts`` records each start (seed, learning
    rate, the first epoch's output spread, whether it collapsed). With ``checkpoints`` each
    start's fit keeps its last completed epoch in ``checkpoints/<name>-<attempt>``
    (``resume``: :func:`~cisgram.training.fit`'s). ``arch`` and ``arch_params`` pick the network
    (:func:`~cisgram.models.cnn.new_spec`: ``deepsea`` or ``danq``). ``block_core``: train and
    validate on windows whose core site is N (AgentBind's blocked condition); the output is then
    ``<strategy>:cnn-blocked``. ``seed_index`` k > 0 is member k of a seed ensemble: its seeds
    start at ``cfg.seed + 100·k`` and its checkpoints are named ``<name>-s<k>-<attempt>``."""
    from cisgram.fit_hooks import constant_output_check

    t = ex.table
    y, part = t["label"].to_numpy().astype(int), t["split"].to_numpy()
    tr, va = part == "train", part == "val"
    spec = new_spec(arch, 1, window, **(arch_params or {}))  # deepsea: the batch-normalised dense head
    pos, neg = int(y[tr].sum()), int((1 - y[tr]).sum())
    batch = int(np.clip(tr.sum() // 40, 16, cfg.batch_size))
    name = f"{strategy or 'cnn'}-blocked" if block_core else strategy or "cnn"
    if seed_index:
        name = f"{name}-s{seed_index}"
    say(f"{strategy}: training the {arch} CNN{' (core blocked)' if block_core else ''}"
        f"{f' (seed {seed_index + 1})' if seed_index else ''} on {int(tr.sum()):,} windows (batch {batch})")
    val_windows = examples_dataset(ex, genome, rows=va, block_core=block_core)
    attempts = []
    for attempt in range(RETRIES + 1):
        seed, lr = cfg.seed + 100 * seed_index + attempt, cfg.lr / 3**attempt
        net = build(spec, seed=seed)
        if start is not None:
            _load_trunk(net, start)
        check = constant_output_check(val_windows)
        res = fit(net, examples_dataset(ex, genome, jitter=jitter, rc=True, seed=seed, rows=tr, block_core=block_core),
                  val_windows, replace(cfg, pos_weight=neg / max(pos, 1), batch_size=batch, monitor="auroc", seed=seed,
                                       lr=lr),
                  callbacks=(check,), checkpoint=None if checkpoints is None else checkpoints / f"{name}-{attempt}",
                  resume=resume)
        model = CNNModel(res.net, spec, "classification", [f"{strategy}:cnn{'-blocked' if block_core else ''}"])
        spread = float(np.ptp(predict(model, val_windows)[:, 0])) if va.any() else 1.0
        collapsed = check.collapsed or spread <= COLLAPSED
        attempts.append({"seed": seed, "lr": lr, "first_epoch_spread": check.spread,
                         "val_prediction_range": spread, "collapsed": collapsed})
        if not collapsed:
            break
        when = "in its first epoch" if check.collapsed else "by the end of training"
        say(f"{strategy}: the CNN collapsed to a constant output {when} (seed {seed}, lr {lr:.1e})"
            + ("; training it again" if attempt < RETRIES else "; giving up"))
    return model, res, attempts


def fit_seed_ensemble(ex, genome, window: int, cfg, n_seeds: int, *, block_core: bool = False, **kw):
    """``n_seeds`` CNNs of :func:`fit_tfbind_cnn` from different seeds: ``(models, fits)``, each fit
    ``{"best_epoch", "attempts", "epochs", "seconds"}``. Their predictions are averaged
    (:func:`ensemble_predict`)."""
    models, fits = [], []
    for k in range(n_seeds):
        model, res, attempts = fit_tfbind_cnn(ex, genome, window, cfg, block_core=block_core, seed_index=k, **kw)
        models.append(model)
        fits.append({"best_epoch": res.best_epoch, "attempts": attempts, "epochs": res.history,
                     "seconds": res.seconds})
    return models, fits


def ensemble_predict(models: Sequence[CNNModel], windows, **kw) -> np.ndarray:
    """The mean of the models' (strand-averaged) probabilities on ``windows`` (a dataset or
    codes; ``kw``: :func:`~cisgram.inference.predict`'s ``batch_size``, ``device``): ``(N,)``."""
    return np.mean([predict(m, windows, **kw)[:, 0] for m in models], axis=0)


def seeds_for(ex, seeds: int | None) -> int:
    """``seeds`` when given, else :data:`ENSEMBLE_SEEDS` for a set with fewer than
    :data:`SMALL_SET` bound training instances and 1 otherwise."""
    if seeds is not None:
        return seeds
    t = ex.table
    bound = int(((t["split"] == "train") & (t["label"] == 1)).sum())
    return ENSEMBLE_SEEDS if bound < SMALL_SET else 1


def _save_networks(d: Path, models: Sequence[CNNModel], genome, motif: str, strategy: str, window: int,
                   core: str) -> None:
    """A regime's networks, each opened by ``cisgram.load``: the first seed's in ``d``, the
    others' in ``d/seed-<k>`` (:func:`~cisgram.workflows.rundir.tfbind_network_dirs`)."""
    for k, model in enumerate(models):
        target = d if k == 0 else d / f"seed-{k}"
        model.save(target)
        write_json(target / "config.json", {"family": "cnn", "task": "classification", **path_entries(genome=genome),
                                            "length": window, "motif": motif, "negatives": strategy, "core": core,
                                            "seed_member": k, "spec": model.spec})


def _write_predictions(d: Path, t: pd.DataFrame, preds: dict) -> pd.DataFrame:
    """``d/predictions.parquet``: the examples and every model's probability; returns the table."""
    table = t[["name", "chrom", "start", "end", "strand", "site_start", "site_end", "score", "label", "split"]].copy()
    for name, p in preds.items():
        table[name] = p
    with atomic_path(d / "predictions.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    return table


def _train_networks(ex, g, d: Path, strategy: str, *, genome, motif: str, window: int, cfg, core: Sequence[str],
                    n_seeds: int, kw: dict) -> tuple[dict, dict]:
    """The kept (and with ``"blocked"`` in ``core`` the blocked) seed ensemble of one negative
    set, trained, saved under ``d/<strategy>`` and scored on every example: ``(predictions,
    fits)`` keyed ``cnn`` / ``cnn-blocked``."""
    preds, fits = {}, {}
    for condition in core:
        blocked = condition == "blocked"
        key = "cnn-blocked" if blocked else "cnn"
        models, fits[key] = fit_seed_ensemble(ex, g, window, cfg, n_seeds, block_core=blocked, strategy=strategy, **kw)
        preds[key] = ensemble_predict(models, examples_dataset(ex, g, block_core=blocked))
        _save_networks(d / strategy / ("blocked" if blocked else ""), models, genome, motif, strategy, window,
                       condition)
    return preds, fits


def _comparison_rows(pool, chip, strategy: str, metrics: dict, y: np.ndarray, part: np.ndarray, preds: dict,
                     n_seeds: int, fits: dict) -> list[dict]:
    """Fill ``metrics`` for every split and model of one negative set; return its test rows of
    ``comparison.tsv`` (with the seeds and the restarts the CNNs needed)."""
    rows = []
    for s in ("train", "val", "test"):
        k = part == s
        for name in (m for m in MODELS if m in preds):
            m = metrics[s][f"{strategy}:{name}"] = classification_metrics(y[k], preds[name][k])
            if s != "test":
                continue
            restarts = sum(len(f["attempts"]) - 1 for f in fits.get(name, []))
            rows.append({"motif": pool.motif.name, "chip": "" if isinstance(chip, pd.DataFrame) else Path(chip).name,
                         "strategy": strategy, "model": name, "core": "blocked" if name == "cnn-blocked" else "kept",
                         "auroc": m["auroc"], "auprc": m["auprc"], "n_bound": m["n_pos"], "n_unbound": m["n"] - m["n_pos"],
                         "seeds": n_seeds if name in fits else 0, "restarts": restarts if name in fits else 0})
    return rows


def dataset_split_near(out: str | os.PathLike, genome: Genome) -> Path | None:
    """A ``split.json`` beside a ``dataset.h5ad`` in ``out``'s parent directory or one of its
    sub-directories whose chromosomes all belong to ``genome`` (a ``cisgram prepare`` dataset
    of the same genome), or ``None``. ``--split auto`` draws its own hold-out, which differs from
    the dataset's, so a tfbind run and an accessibility run would not share their test regions."""
    parent = Path(out).resolve().parent
    for path in [parent / "split.json", *sorted(parent.glob("*/split.json"))]:
        if not (path.parent / "dataset.h5ad").is_file():
            continue
        try:
            spec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        chroms = {b[0] for b in spec.get("blocks", [])} | {c for k in ("train", "val", "test")
                                                           for c in spec.get(k, []) if isinstance(c, str)}
        if chroms and chroms <= set(genome.chroms):
            return path
    return None


def tfbind_networks(run: str | os.PathLike) -> dict[str, list[CNNModel]]:
    """Every CNN of a tfbind run (:func:`~cisgram.workflows.rundir.tfbind_network_dirs`), loaded:
    ``{key: [seed 0, seed 1, ...]}``.
    A ``cnn-blocked`` network must be given windows whose core site is N
    (:func:`masked_context_codes`)."""
    return {key: [CNNModel.load(d) for d in dirs] for key, dirs in tfbind_network_dirs(run).items()}


def run_tfbind(genome: str | os.PathLike, motif: str, chip: str | os.PathLike, out: str | os.PathLike, *,
               accessible: str | os.PathLike | None = None, negatives: Sequence[str] = ("standard",),
               window: int = 1000, split: str = "auto", chroms: Sequence[str] | None = None, threshold: float = 1e-4,
               summit_distance: int | None = None, ratio: float | None = None, pvalue_bin: float = 0.1,
               database: str | None = "jaspar:2024/CORE/vertebrates", config=None, jitter: int = 20,
               init: str | os.PathLike | None = None, train_fraction: float = 1.0, arch: str = "deepsea",
               arch_params: dict | None = None, core: Sequence[str] = ("kept",), seeds: int | None = None,
               progress: Callable[[str], None] | None = None, resume: bool = False) -> TFBindResult:
    """``cisgram tfbind``: every strategy in ``negatives``, every model of :data:`MODELS`, written
    to the run directory ``out`` (see the module docstring).

    ``split`` is a spec for :func:`~cisgram.splits.make_split` or a ``split.json`` file (e.g. the
    dataset's, so that ``init`` — a ``cisgram train cnn`` run whose weights start the CNN, as
    AgentBind started from a network trained on ENCODE accessibility — never saw a test window).
    ``train_fraction`` < 1 keeps that share of the training examples of each class (seeded; the
    others are left out of every model), for learning curves; validation and test are unchanged.
    Each CNN keeps its last completed epoch in ``out/checkpoint/`` until the run is written;
    ``resume`` continues an interrupted run from there (the finished strategies' networks are
    read back, the simple models recomputed). ``arch`` is the network of every ``cnn``
    (:data:`TFBIND_ARCHS`: ``deepsea`` or ``danq``) and ``arch_params`` its hyper-parameters over
    the defaults. ``core`` ``("kept", "blocked")`` also trains, per negative set, a second CNN
    on the same windows with the core site replaced by N in training, validation and test
    (model ``cnn-blocked``, written to ``<strategy>/blocked/``); ``"kept"`` is always trained.
    ``seeds`` networks per CNN, their predictions averaged (default: :data:`ENSEMBLE_SEEDS` for a
    set with fewer than :data:`SMALL_SET` bound training instances, else 1; the others saved in
    ``seed-<k>/``). Every CNN keeps the epoch of its best validation auROC; one that collapses to
    a constant output is started again after its first epoch (``restarts`` in
    ``comparison.tsv``, each start in ``fits.json``). Without ``progress`` the messages go to the
    log. With ``split="auto"``, a ``cisgram prepare`` dataset split of the same genome found
    beside ``out`` is named in a message (:func:`dataset_split_near`)."""
    say = progress or log.info
    if seeds is not None and seeds < 1:
        raise InputError(f"seeds must be at least 1, got {seeds}")
    unknown = [s for s in negatives if s not in STRATEGIES]
    if unknown or not negatives:
        raise InputError(f"unknown negative strategy {', '.join(unknown) or '(none)'}",
                         hint=f"choose from {', '.join(STRATEGIES)}")
    if arch not in TFBIND_ARCHS:
        raise InputError(f"unknown architecture {arch!r} for tfbind", hint=f"choose from {', '.join(TFBIND_ARCHS)}")
    try:
        build(new_spec(arch, 1, window, **(arch_params or {})), seed=0)  # refused here, before the scan
    except ValueError as e:
        raise InputError(str(e), hint="check --window and the architecture's parameters") from None
    bad_core = [c for c in core if c not in CORES]
    if bad_core or "kept" not in core:
        raise InputError(f"core must be kept or kept,blocked, got {','.join(core) or '(none)'}",
                         hint="the kept network is always trained; add blocked to compare it with the core masked")
    if not 0 < train_fraction <= 1:
        raise InputError(f"train_fraction must be in (0, 1], got {train_fraction}")
    if {"open", "open-negatives"} & set(negatives) and accessible is None:
        raise InputError("the open strategies need accessibility peaks of the same cell type", hint="pass --accessible")
    cfg = config or TrainConfig(task="classification")
    split_arg = split if isinstance(split, str | os.PathLike) else "given"
    checkpoints = begin_run(out, {"command": "tfbind", **request_paths(genome=genome, chip=chip, accessible=accessible,
                                                                       init=init), "motif": motif,
                                  "negatives": list(negatives), "window": window, "split": str(split_arg),
                                  "chroms": None if chroms is None else list(chroms), "threshold": threshold,
                                  "summit_distance": summit_distance, "ratio": ratio, "pvalue_bin": pvalue_bin,
                                  "database": database, "jitter": jitter, "train_fraction": train_fraction, "arch": arch,
                                  "arch_params": arch_params, "core": list(core), "seeds": seeds,
                                  "training": cfg.resumable()},
                            resume=resume)
    if isinstance(split, str | os.PathLike) and str(split).endswith(".json"):
        split = Split.load(split)
    start = _initial_weights(init, window, arch) if init is not None else None
    g = Genome(genome)
    near = dataset_split_near(out, g) if split == "auto" else None
    if near is not None:
        say(f"note: --split auto draws its own hold-out; the dataset beside this run has one ({near}): "
            f"pass --split {near} to share its test regions with the accessibility runs")
    db = load_motifs(database) if database else None
    # the scan, labels, windows and split once; each negative set is a draw from them
    pool = instance_pool(g, motif, chip, accessible=accessible, window=window, split=split, chroms=chroms,
                         threshold=threshold, summit_distance=summit_distance, seed=cfg.seed, margin=jitter)
    d = start_run(out)
    metrics: dict = {"family": "tfbind", "train": {}, "val": {}, "test": {}}
    rows, extra, skipped, test_scores = [], {}, {}, {}
    for strategy in negatives:
        try:
            ex = draw_examples(pool, strategy, ratio=ratio, seed=cfg.seed, pvalue_bin=pvalue_bin)
            if train_fraction < 1:
                ex = _fewer_training_examples(ex, train_fraction, cfg.seed)
            _check_classes(ex, strategy, chip)
        except InputError as e:
            if len(negatives) == 1:
                raise
            skipped[strategy] = str(e).splitlines()[0]
            say(f"{strategy}: skipped ({str(e).splitlines()[0]})")
            continue
        t = ex.table
        y, part = t["label"].to_numpy().astype(int), t["split"].to_numpy()
        tr, va = part == "train", part == "val"
        say(f"{strategy}: {int(y.sum()):,} bound and {int((1 - y).sum()):,} unbound instances "
            f"(train {int(tr.sum()):,}, val {int(va.sum()):,}, test {int((part == 'test').sum()):,})")
        preds = {"core-score": fit_core_score(t["score"].to_numpy(), y, tr)}
        if db is not None:
            preds["context-motifs"], extra[strategy] = fit_context_motifs(context_motif_scores(g, t, db), y, tr, va)
        n_seeds = seeds_for(ex, seeds)
        cnn, fits = _train_networks(ex, g, d, strategy, genome=genome, motif=motif, window=window, cfg=cfg, core=core,
                                    n_seeds=n_seeds, kw={"jitter": jitter, "start": start, "say": say,
                                                         "checkpoints": checkpoints, "resume": resume, "arch": arch,
                                                         "arch_params": arch_params})
        preds.update(cnn)
        table = _write_predictions(d / strategy, t, preds)
        test_scores[strategy] = table[table["split"] == "test"][["label", *[m for m in MODELS if m in preds]]]
        rows += _comparison_rows(pool, chip, strategy, metrics, y, part, preds, n_seeds, fits)
        for key, members in fits.items():
            extra.setdefault(key, {})[strategy] = {**members[0], "seeds": n_seeds, "members": members[1:]}
    if not rows:
        raise InputError("no negative set could be built: " + "; ".join(skipped.values()), path=chip)
    comparison = pd.DataFrame(rows)
    config = {"family": "tfbind", **path_entries(genome=genome, chip=chip, accessible=accessible, init=init),
              "motif": motif, "motif_name": pool.motif.name, "negatives": list(negatives), "window": window,
              "split": str(split_arg), "chroms": None if chroms is None else list(chroms), "threshold": threshold,
              "summit_distance": summit_distance, "ratio": ratio, "pvalue_bin": pvalue_bin, "database": database,
              "jitter": jitter, "arch": arch, "arch_params": arch_params, "core": list(core),
              "seeds": seeds, "train_fraction": train_fraction, "training": cfg.to_dict(), "skipped": skipped}
    finish_run(d, config=config, split=pool.split.to_dict(), metrics=metrics, extra={"fits.json": extra},
               tables={"comparison.tsv": comparison})
    end_run(d)
    return TFBindResult(d, config, metrics, comparison, test_scores)
