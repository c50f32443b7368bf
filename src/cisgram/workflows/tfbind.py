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
from cisgram.workflows.rundir import begin_run, end_run, finish_run, path_entries, request_paths, start_run

log = logging.getLogger(__name__)

MODELS = ("cnn", "cnn-blocked", "core-score", "context-motifs")
CORES = ("kept", "blocked")  # AgentBind's conditions 'c' and 'b': the core motif in the windows, or N over it
RETRIES = 2  # new starts of a CNN that collapsed to a constant output
COLLAPSED = 1e-6  # validation predictions spread no more than this: a constant output


def _l1_argument() -> dict:
    """scikit-learn 1.8 spells an L1 penalty ``l1_ratio=1`` and deprecates ``penalty``."""
    import sklearn

    major, minor = (int(x) for x in sklearn.__version__.split(".")[:2])
    return {"l1_ratio": 1.0} if (major, minor) >= (1, 8) else {"penalty": "l1"}
STRATEGIES = NEGATIVES
TFBIND_ARCHS = ("deepsea", "danq")  # AgentBind's two networks


def masked_context_codes(genome, table: pd.DataFrame) -> np.ndarray:
    """``(N, W)`` codes of each example's window with its core site set to N (code 4)."""
    codes = genome.fetch_codes_batch(table["chrom"].to_numpy(), table["start"].to_numpy(), table["end"].to_numpy())
    lo = (table["site_start"] - table["start"]).to_numpy()
    hi = (table["site_end"] - table["start"]).to_numpy()
    pos = np.arange(codes.shape[1])
    codes[(pos >= lo[:, None]) & (pos < hi[:, None])] = 4
    return codes


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
                   block_core: bool = False):
    """The CNN of one negative set, trained on its training windows with early stopping on
    validation auROC: ``(CNNModel, FitResult, attempts)``.

    Classes are weighed equally: on the unbalanced sets (genomic: ~1 bound in 12) an unweighted
    network can settle on the base rate and never leave it. Small sets (a few hundred windows)
    get smaller batches, so an epoch is at least ~40 steps: with 10 steps an epoch the network
    had not left its starting plateau when early stopping ended it. A network that dies in its
    first steps (every ReLU off: constant output, auROC 0.50) is trained again from another
    start with a third of the learning rate, at most :data:`RETRIES` times; ``attempts`` records
    each start. With ``checkpoints`` each start's fit keeps its last completed epoch in
    ``checkpoints/<strategy>-<attempt>`` (``resume``: :func:`~cisgram.training.fit`'s). ``arch``
    and ``arch_params`` pick the network (:func:`~cisgram.models.cnn.new_spec`: ``deepsea`` or
    ``danq``, with hyper-parameters over the defaults). ``block_core``: train and validate on
    windows whose core site is N (AgentBind's blocked condition); the output is then
    ``<strategy>:cnn-blocked`` and the checkpoints ``<strategy>-blocked-<attempt>``."""
    t = ex.table
    y, part = t["label"].to_numpy().astype(int), t["split"].to_numpy()
    tr, va = part == "train", part == "val"
    spec = new_spec(arch, 1, window, **(arch_params or {}))  # deepsea: the batch-normalised dense head
    pos, neg = int(y[tr].sum()), int((1 - y[tr]).sum())
    batch = int(np.clip(tr.sum() // 40, 16, cfg.batch_size))
    name = f"{strategy or 'cnn'}-blocked" if block_core else strategy or "cnn"
    say(f"{strategy}: training the {arch} CNN{' (core blocked)' if block_core else ''} on {int(tr.sum()):,} windows "
        f"(batch {batch})")
    attempts = []
    for attempt in range(RETRIES + 1):
        seed, lr = cfg.seed + attempt, cfg.lr / 3**attempt
        net = build(spec, seed=seed)
        if start is not None:
            _load_trunk(net, start)
        res = fit(net, examples_dataset(ex, genome, jitter=jitter, rc=True, seed=seed, rows=tr, block_core=block_core),
                  examples_dataset(ex, genome, rows=va, block_core=block_core),
                  replace(cfg, pos_weight=neg / max(pos, 1), batch_size=batch, monitor="auroc", seed=seed, lr=lr),
                  checkpoint=None if checkpoints is None else checkpoints / f"{name}-{attempt}",
                  resume=resume)
        model = CNNModel(res.net, spec, "classification", [f"{strategy}:cnn{'-blocked' if block_core else ''}"])
        spread = (float(np.ptp(predict(model, examples_dataset(ex, genome, rows=va, block_core=block_core))[:, 0]))
                  if va.any() else 1.0)
        attempts.append({"seed": seed, "lr": lr, "val_prediction_range": spread})
        if spread > COLLAPSED:
            break
        say(f"{strategy}: the CNN collapsed to a constant output (seed {seed}, lr {lr:.1e})"
            + ("; training it again" if attempt < RETRIES else "; giving up"))
    return model, res, attempts


def _write_blocked(d: Path, model, genome, motif: str, strategy: str, window: int) -> None:
    """The blocked-core CNN of one strategy in its own directory (opened by ``cisgram.load``)."""
    model.save(d)
    write_json(d / "config.json", {"family": "cnn", "task": "classification", **path_entries(genome=genome),
                                   "length": window, "motif": motif, "negatives": strategy, "core": "blocked",
                                   "spec": model.spec})


def _write_strategy(d: Path, strategy: str, model, t: pd.DataFrame, preds: dict, genome, motif: str,
                    window: int) -> pd.DataFrame:
    """The strategy's CNN (opened by ``cisgram.load``), config and predictions table; returns the table."""
    model.save(d / strategy)
    write_json(d / strategy / "config.json", {"family": "cnn", "task": "classification", **path_entries(genome=genome),
                                              "length": window, "motif": motif, "negatives": strategy,
                                              "spec": model.spec})
    table = t[["name", "chrom", "start", "end", "strand", "site_start", "site_end", "score", "label", "split"]].copy()
    for name, p in preds.items():
        table[name] = p
    with atomic_path(d / strategy / "predictions.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    return table


def run_tfbind(genome: str | os.PathLike, motif: str, chip: str | os.PathLike, out: str | os.PathLike, *,
               accessible: str | os.PathLike | None = None, negatives: Sequence[str] = ("standard",),
               window: int = 1000, split: str = "auto", chroms: Sequence[str] | None = None, threshold: float = 1e-4,
               summit_distance: int | None = None, ratio: float | None = None, pvalue_bin: float = 0.1,
               database: str | None = "jaspar:2024/CORE/vertebrates", config=None, jitter: int = 20,
               init: str | os.PathLike | None = None, train_fraction: float = 1.0, arch: str = "deepsea",
               arch_params: dict | None = None, core: Sequence[str] = ("kept",),
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
    (model ``cnn-blocked``, written to ``<strategy>/blocked/``); ``"kept"`` is always trained."""
    say = progress or (lambda msg: None)
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
                                  "arch_params": arch_params, "core": list(core), "training": cfg.resumable()},
                            resume=resume)
    if isinstance(split, str | os.PathLike) and str(split).endswith(".json"):
        split = Split.load(split)
    start = _initial_weights(init, window, arch) if init is not None else None
    g = Genome(genome)
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
            log.warning("skipping the %s negatives: %s", strategy, str(e).splitlines()[0])
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
        model, res, attempts = fit_tfbind_cnn(ex, g, window, cfg, jitter=jitter, start=start, strategy=strategy,
                                              say=say, checkpoints=checkpoints, resume=resume, arch=arch,
                                              arch_params=arch_params)
        preds["cnn"] = predict(model, examples_dataset(ex, g))[:, 0]
        if "blocked" in core:
            blocked, bres, battempts = fit_tfbind_cnn(ex, g, window, cfg, jitter=jitter, start=start, strategy=strategy,
                                                      say=say, checkpoints=checkpoints, resume=resume, arch=arch,
                                                      arch_params=arch_params, block_core=True)
            preds["cnn-blocked"] = predict(blocked, examples_dataset(ex, g, block_core=True))[:, 0]
            _write_blocked(d / strategy / "blocked", blocked, genome, motif, strategy, window)
            extra.setdefault("cnn-blocked", {})[strategy] = {"best_epoch": bres.best_epoch, "attempts": battempts,
                                                             "epochs": bres.history, "seconds": bres.seconds}
        table = _write_strategy(d, strategy, model, t, preds, genome, motif, window)
        test_scores[strategy] = table[table["split"] == "test"][["label", *[m for m in MODELS if m in preds]]]
        for s in ("train", "val", "test"):
            k = part == s
            for name in (m for m in MODELS if m in preds):
                m = metrics[s][f"{strategy}:{name}"] = classification_metrics(y[k], preds[name][k])
                if s == "test":
                    rows.append({"motif": pool.motif.name, "chip": Path(chip).name if not isinstance(chip, pd.DataFrame)
                                 else "", "strategy": strategy, "model": name,
                                 "core": "blocked" if name == "cnn-blocked" else "kept", "auroc": m["auroc"], "auprc": m["auprc"],
                                 "n_bound": m["n_pos"], "n_unbound": m["n"] - m["n_pos"]})
        extra.setdefault("cnn", {})[strategy] = {"best_epoch": res.best_epoch, "attempts": attempts,
                                                 "epochs": res.history, "seconds": res.seconds}
    if not rows:
        raise InputError("no negative set could be built: " + "; ".join(skipped.values()), path=chip)
    comparison = pd.DataFrame(rows)
    config = {"family": "tfbind", **path_entries(genome=genome, chip=chip, accessible=accessible, init=init),
              "motif": motif, "motif_name": pool.motif.name, "negatives": list(negatives), "window": window,
              "split": str(split_arg), "chroms": None if chroms is None else list(chroms), "threshold": threshold,
              "summit_distance": summit_distance, "ratio": ratio, "pvalue_bin": pvalue_bin, "database": database,
              "jitter": jitter, "arch": arch, "arch_params": arch_params, "core": list(core),
              "train_fraction": train_fraction, "training": cfg.to_dict(), "skipped": skipped}
    finish_run(d, config=config, split=pool.split.to_dict(), metrics=metrics, extra={"fits.json": extra},
               tables={"comparison.tsv": comparison})
    end_run(d)
    return TFBindResult(d, config, metrics, comparison, test_scores)
