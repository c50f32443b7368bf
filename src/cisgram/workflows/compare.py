"""``cisgram compare``: run directories of one dataset and split side by side, with ensembles
fitted on validation, paired-bootstrap intervals and, for several targets, their cell-type
specificity (:func:`compare_runs`)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.files import atomic_path, atomic_write, write_json
from cisgram.metrics import bootstrap_target, classification_metrics, pearson, regression_metrics, specificity
from cisgram.results import CompareResult

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------ comparing runs

ENSEMBLES = ("mean", "stacked")
_ENSEMBLE_PREFIX = "ensemble:"
_RESERVED = {"region", "strand", "target", "split", "observed"}
_NOT_FITTED = ("running_mean", "running_var", "num_batches_tracked")  # batch-norm statistics, not parameters
# per family: its weight files (a glob under the run) and the tensors that are fitted values (None: all but
# batch-norm statistics)
_WEIGHTS = {"baseline": ("targets/*/model.safetensors", ("coef", "intercept")),
            "iq": ("model.safetensors", ("pwm", "spatial", "coef", "intercept", "calibration")),
            "cnn": ("model.safetensors", None), "get": ("model.safetensors", None)}
COMPARISON_COLUMNS = ["target", "model", "kind", "family", "pearson", "spearman", "r2", "auroc", "auprc", "n",
                      "n_params", "train_seconds", "reference", "pearson_diff", "pearson_diff_low",
                      "pearson_diff_high", "auroc_diff", "auroc_diff_low", "auroc_diff_high"]


@dataclass
class _RunInput:
    """One run as :func:`compare_runs` reads it: ``preds`` keyed by ``keys`` + ``target``."""

    name: str
    path: Path
    family: str
    config: dict
    split_json: dict | None
    preds: pd.DataFrame
    n_params: int | None
    train_seconds: float | None

    @property
    def dataset(self) -> str | None:
        d = self.config.get("dataset", self.config.get("data"))
        return None if d is None else str(d)


def compare_runs(runs: Sequence[str | os.PathLike], out: str | os.PathLike, *, ensembles: Sequence[str] = ENSEMBLES,
                 n_boot: int = 1000, seed: int = 0, gc: Mapping[str, float] | pd.Series | None = None,
                 progress: Callable[[str], None] | None = None) -> CompareResult:
    """``cisgram compare``: score run directories side by side on the entries they share, add
    ensembles of them, and write ``comparison.json``, ``comparison.tsv``, ``predictions.parquet``
    into ``out``. Returns a :class:`~cisgram.results.CompareResult` (what ``comparison.json`` holds
    and the joined table), which :func:`cisgram.report.compare.compare_report` draws.

    What is compared
        The targets every run predicts, on the (region, target) entries every run scored with a
        finite prediction (a CNN's GC-matched background windows, absent from an IQ or baseline
        run, drop out; the counts are in ``runs[i]["entries_dropped"]``). The runs must come from
        one dataset (``config.json``'s ``dataset``), one split (``split.json`` and every shared
        region in the same split) and the same observed values; anything else is an
        :class:`InputError` naming the runs. GET runs (entries keyed by region and strand; the
        ``get`` model's rows) compare only with other GET runs.
    Models
        Each run is named by its directory (parent folders added where two share a name). The
        ensembles, fitted per target on the **validation** entries only and applied to every split:
        ``ensemble:mean`` z-scores each run's predictions with that run's validation mean and
        standard deviation, averages them, and maps the average to the observed scale by least
        squares on validation; ``ensemble:stacked`` regresses observed on the runs' predictions
        on validation with non-negative weights and a free intercept (``scipy.optimize.nnls`` on
        centred columns). Their validation metrics are therefore in-sample; only test is fair.
    Metrics
        :func:`regression_metrics` per split (val, test), target and model, plus auROC / auPRC
        (:func:`classification_metrics`) when a target's observed values are all 0 or 1.
    Intervals
        A paired bootstrap of the test entries of each target (``n_boot`` resamples with
        replacement, the same resample for every model, ``seed``): 95 % percentile intervals of
        each model's test Pearson (and auROC) and of the difference between **every pair** of
        models. The *reference* of a target is the single run with the best validation Pearson
        (auROC for 0/1 targets); ``comparison.tsv`` gives every model's difference to it.
    Cost and records
        ``n_params`` counts the fitted values in a run's weights file(s) (network weights without
        batch-norm statistics; a baseline's coefficients; IQ's PWMs, spatial weights and
        coefficients) unless ``metrics.json`` / ``config.json`` records ``n_params``;
        ``train_seconds`` comes from ``history.json`` or IQ's ``pipeline.json``, else null. An
        ensemble's counts are the sums over its runs.
    Cell-type specificity
        With two or more shared targets, ``comparison["specificity"]`` scores, on the test
        entries, whether each model (ensembles included) tells the targets apart
        (:func:`cisgram.metrics.specificity`): per pair (A, B) the Pearson r of its A and B
        predictions, of (pred A - pred B) with (obs A - obs B), and the same with GC regressed
        out of both differences, with paired-bootstrap intervals, plus each head's r with GC.
        GC is ``gc`` (a mapping or Series from region to GC fraction) or else the dataset's
        ``var["gc"]`` (the GC fraction of each region's sequence, from ``cisgram prepare``);
        without either the GC numbers are null and ``specificity["gc"]["reason"]`` says why. A run
        trained on a difference of two of the shared targets (``--vs``: target ``A-B`` =
        dAP A - B) is set aside from the comparison above and scored here only, against the
        observed A - B on the test entries it predicts (distal regions), beside every other model
        on the same entries (``specificity["direct"]``).
    """
    say = progress or (lambda msg: None)
    paths = [Path(r) for r in runs]
    if len(paths) < 2:
        raise InputError(f"give at least two run directories to compare (got {len(paths)})")
    resolved = [p.resolve() for p in paths]
    for i, p in enumerate(resolved):
        if p in resolved[:i]:
            raise InputError(f"run directory {paths[i]} is given twice")
    if Path(out).resolve() in resolved or (Path(out) / "config.json").exists():
        raise InputError("the output directory is a run directory; its files would be overwritten", path=out,
                         hint="write the comparison into a directory of its own")
    unknown = [e for e in ensembles if e not in ENSEMBLES]
    if unknown:
        raise InputError(f"unknown ensemble {unknown[0]!r}; expected some of {', '.join(ENSEMBLES)}")
    ensembles = [e for e in ENSEMBLES if e in ensembles]
    if n_boot < 1:
        raise InputError(f"n_boot must be at least 1 (got {n_boot})")
    names = _run_names(paths)
    say(f"reading {len(paths)} runs")
    inputs = [_read_run(p, n) for p, n in zip(paths, names, strict=True)]
    inputs, direct_runs = _set_aside_difference_runs(inputs)
    keys = _check_same_data(inputs, direct_runs)
    joined, targets, dropped = _join(inputs, keys)
    run_names = [r.name for r in inputs]
    binary = {t: bool(np.isin(joined.loc[joined["target"] == t, "observed"], (0.0, 1.0)).all()) for t in targets}

    say(f"fitting {', '.join(ensembles) or 'no'} ensemble(s) on validation for {len(targets)} target(s)")
    ens_names = [_ENSEMBLE_PREFIX + e for e in ensembles]
    weights = _add_ensembles(joined, targets, run_names, ensembles)
    models = run_names + ens_names
    metrics = {split: {t: {m: (classification_metrics if binary[t] else regression_metrics)(g["observed"], g[m])
                           for m in models}
                       for t in targets for g in [joined[(joined["target"] == t) & (joined["split"] == split)]]}
               for split in ("val", "test")}
    say(f"paired bootstrap of the test entries ({n_boot} resamples)")
    reference, intervals, differences = _bootstrap(joined, targets, run_names, models, metrics, binary, n_boot, seed)

    versus = {t: {m: {k: _difference(differences[t], m, reference[t]["model"], k)
                      for k in (["pearson", "auroc"] if binary[t] else ["pearson"])} for m in models} for t in targets}

    say("cell-type specificity of the test entries")
    spec = _specificity(joined, keys, targets, models, direct_runs, gc, inputs[0].dataset, n_boot, seed)

    run_info = [{"name": r.name, "path": str(r.path), "family": r.family, "dataset": r.dataset,
                 "targets": list(dict.fromkeys(r.preds["target"])), "n_params": r.n_params,
                 "train_seconds": r.train_seconds, "entries_dropped": dropped[r.name]} for r in inputs]
    model_info = [{"name": r.name, "kind": "run", "family": r.family, "n_params": r.n_params,
                   "train_seconds": r.train_seconds} for r in inputs]
    total_params = None if any(r.n_params is None for r in inputs) else int(sum(r.n_params for r in inputs))
    total_seconds = None if any(r.train_seconds is None for r in inputs) else float(sum(r.train_seconds for r in inputs))
    model_info += [{"name": e, "kind": "ensemble", "family": "ensemble", "n_params": total_params,
                    "train_seconds": total_seconds} for e in ens_names]
    counts = {t: {s: int(((joined["target"] == t) & (joined["split"] == s)).sum()) for s in ("train", "val", "test")}
              for t in targets}
    comparison = _finite_or_none({
        "runs": run_info, "models": model_info, "keys": keys,
        "targets": [{"name": t, "binary": binary[t], "entries": counts[t]} for t in targets],
        "metrics": metrics, "reference": reference, "intervals": intervals, "differences": differences,
        "versus_reference": versus, "specificity": spec,
        "ensembles": {"fitted_on": "val", "weights": weights},
        "bootstrap": {"n_boot": int(n_boot), "seed": int(seed), "split": "test", "paired": True, "level": 0.95,
                      "interval": "2.5th and 97.5th percentiles of the resampled values",
                      "pairs": "every pair of models; difference = a - b"},
    })

    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    say(f"writing {d}")
    write_json(d / "comparison.json", comparison)
    with atomic_write(d / "comparison.tsv") as fh:
        comparison_table(comparison).to_csv(fh, sep="\t", index=False, na_rep="NA", float_format="%.6g")
    with atomic_path(d / "predictions.parquet") as tmp:
        joined.to_parquet(tmp, index=False)
    return CompareResult(d, comparison, joined)


def _add_ensembles(joined: pd.DataFrame, targets: list[str], run_names: list[str], ensembles: list[str]) -> dict:
    """Add one ``ensemble:<kind>`` column per ensemble to ``joined`` (fitted per target on the
    validation entries); returns the fitted weights per target and ensemble."""
    weights: dict = {}
    for e in ensembles:
        joined[_ENSEMBLE_PREFIX + e] = np.nan
    for t in targets:
        rows = (joined["target"] == t).to_numpy()
        X = joined.loc[rows, run_names].to_numpy(np.float64)
        y = joined.loc[rows, "observed"].to_numpy(np.float64)
        val = (joined.loc[rows, "split"] == "val").to_numpy()
        weights[t] = {}
        for e in ensembles:
            pred, info = _fit_ensemble(e, X[val], y[val], X, run_names)
            joined.loc[rows, _ENSEMBLE_PREFIX + e] = pred
            weights[t][e] = info
    return weights


def _bootstrap(joined: pd.DataFrame, targets: list[str], run_names: list[str], models: list[str], metrics: dict,
               binary: dict, n_boot: int, seed: int) -> tuple[dict, dict, dict]:
    """Per target the reference run (best validation score), the test intervals of every model
    and the differences between every pair (:func:`cisgram.metrics.bootstrap_target`)."""
    reference, intervals, differences = {}, {}, {}
    for k, t in enumerate(targets):
        key = "auroc" if binary[t] else "pearson"
        vals = [metrics["val"][t][r].get(key, float("nan")) for r in run_names]
        best = int(np.nanargmax(vals)) if np.isfinite(vals).any() else 0
        reference[t] = {"model": run_names[best], "chosen_by": f"validation {key}"}
        g = joined[(joined["target"] == t) & (joined["split"] == "test")]
        usable = [m for m in models if np.isfinite(g[m].to_numpy(np.float64)).all()]
        intervals[t], differences[t] = bootstrap_target(g["observed"].to_numpy(np.float64),
                                                        g[usable].to_numpy(np.float64), usable, binary[t],
                                                        n_boot, np.random.default_rng([seed, k]))
    return reference, intervals, differences


def _difference_pairs(run: _RunInput) -> list[tuple[str, str, str]]:
    """``(target name, A, B)`` of each difference target of a ``--vs`` run (``A-B`` = dAP A - B)."""
    vs, given = run.config.get("vs"), run.config.get("targets") or []
    if not vs:
        return []
    names = {f"{t}-{vs}": (str(t), str(vs)) for t in given}
    found = list(dict.fromkeys(run.preds["target"]))
    return [(n, *names[n]) for n in found] if found and all(n in names for n in found) else []


def _set_aside_difference_runs(inputs: list[_RunInput]) -> tuple[list[_RunInput], list[_RunInput]]:
    """Split off the runs whose every target is a difference of two targets all the other runs
    share (``--vs`` runs beside multi-target runs): they are scored by the specificity section only."""
    plain = [r for r in inputs if not _difference_pairs(r)]
    if not plain:
        return inputs, []
    shared = set.intersection(*(set(r.preds["target"]) for r in plain))
    direct = [r for r in inputs if (p := _difference_pairs(r)) and all({a, b} <= shared for _, a, b in p)]
    if not direct:
        return inputs, []
    log.info("run(s) %s model a difference of shared targets: scored in the specificity section",
             ", ".join(r.name for r in direct))
    return [r for r in inputs if r not in direct], direct


def _region_gc(regions: pd.Series, gc, dataset: str | None) -> tuple[np.ndarray | None, dict]:
    """GC fraction per region from ``gc`` (region -> fraction) or the dataset's ``var["gc"]``."""
    source = "given"
    if gc is None:
        source = f"var['gc'] of {dataset}"
        if dataset is None:
            return None, {"source": None, "reason": "the runs record no dataset"}
        try:
            import anndata as ad

            adata = ad.read_h5ad(dataset, backed="r")
            try:
                gc = adata.var["gc"].astype(np.float64)
            finally:
                adata.file.close()
        except (OSError, KeyError, ValueError) as e:
            return None, {"source": None, "reason": f"could not read GC from {dataset}: {e}"}
    values = regions.map(pd.Series(gc, dtype=np.float64)).to_numpy(np.float64)
    missing = int((~np.isfinite(values)).sum())
    if missing:
        return None, {"source": None, "reason": f"{missing} test region(s) have no GC value in {source}"}
    return values, {"source": source, "reason": None}


def _specificity(joined: pd.DataFrame, keys: list[str], targets: list[str], models: list[str],
                 direct: list[_RunInput], gc, dataset: str | None, n_boot: int, seed: int) -> dict | None:
    """The ``specificity`` section (see :func:`compare_runs`): every model's heads on the test
    entries scored for every target, and each difference run beside them on its own entries."""
    if len(targets) < 2:
        return None
    test = joined[joined["split"] == "test"]
    wide = test.pivot_table(index=keys, columns="target", values=["observed", *models], aggfunc="first")
    wide = wide.dropna()
    Y = wide["observed"][targets].to_numpy(np.float64)
    heads = {m: wide[m][targets].to_numpy(np.float64) for m in models}
    gcv, gc_info = _region_gc(wide.index.get_level_values("region").to_series(), gc, dataset)
    out = {"split": "test", "gc": gc_info, "all": specificity(Y, heads, targets, gc=gcv, n_boot=n_boot, seed=seed),
           "direct": [], "difference_runs": []}
    groups: dict[tuple[str, str], dict[str, pd.Series]] = {}
    for r in direct:
        rt = r.preds[r.preds["split"] == "test"].set_index([*keys, "target"])
        for name, a, b in _difference_pairs(r):
            pair = (a, b) if targets.index(a) < targets.index(b) else (b, a)
            g = rt.xs(name, level="target")
            both = g.index.intersection(wide.index)
            obs = Y[wide.index.get_indexer(both)]
            r_obs = pearson(g.loc[both, "observed"], obs[:, targets.index(a)] - obs[:, targets.index(b)])
            if not r_obs > 0.99:
                raise InputError(f"run {r.name}: its observed {name} does not follow {a} - {b} of the other runs "
                                 f"(Pearson r {r_obs:.3f} on {len(both)} test entries)",
                                 hint="compare a --vs run with runs of the same dataset and signal (AP)")
            sign = 1.0 if pair == (a, b) else -1.0
            groups.setdefault(pair, {})[r.name] = sign * g.loc[both, "predicted"]
            out["difference_runs"].append({"name": r.name, "path": str(r.path), "family": r.family, "target": name,
                                           "pair": list(pair), "test_entries": len(both)})
    for k, (pair, preds) in enumerate(groups.items()):
        rows = wide.index
        for v in preds.values():
            rows = rows.intersection(v.index)
        idx = wide.index.get_indexer(rows)
        res = specificity(Y[idx], {m: h[idx] for m, h in heads.items()}, targets, pairs=[pair],
                          gc=None if gcv is None else gcv[idx], n_boot=n_boot, seed=seed + 1 + k,
                          direct={n: (*pair, v.loc[rows].to_numpy(np.float64)) for n, v in preds.items()})
        out["direct"].append({"pair": list(pair), "runs": list(preds), **res})
    return out


def comparison_table(comparison: dict) -> pd.DataFrame:
    """``comparison.tsv``: one row per target and model with its test metrics, cost, and the
    bootstrap difference to the target's reference run (columns :data:`COMPARISON_COLUMNS`)."""
    rows = []
    for t in (x["name"] for x in comparison["targets"]):
        ref = comparison["reference"][t]["model"]
        for m in comparison["models"]:
            met = comparison["metrics"]["test"][t][m["name"]]
            row = {"target": t, "model": m["name"], "kind": m["kind"], "family": m["family"],
                   **{k: met.get(k) for k in ("pearson", "spearman", "r2", "auroc", "auprc", "n")},
                   "n_params": m["n_params"], "train_seconds": m["train_seconds"], "reference": ref}
            for metric in ("pearson", "auroc"):
                diff = comparison["versus_reference"][t][m["name"]].get(metric) or [None, None, None]
                row[f"{metric}_diff"], row[f"{metric}_diff_low"], row[f"{metric}_diff_high"] = diff
            rows.append(row)
    df = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    for c in ("n", "n_params"):
        df[c] = df[c].astype("Int64")
    return df


def _difference(diffs: list[dict], a: str, b: str, metric: str) -> list:
    """``[difference, low, high]`` of ``metric`` for model ``a`` minus ``b`` from the pair list."""
    if a == b:
        return [0.0, 0.0, 0.0]
    for d in diffs:
        if d["metric"] != metric:
            continue
        if (d["a"], d["b"]) == (a, b):
            return [d["difference"], d["low"], d["high"]]
        if (d["a"], d["b"]) == (b, a):
            return [None if v is None else -v for v in (d["difference"], d["high"], d["low"])]
    return [None, None, None]


def _run_names(paths: list[Path]) -> list[str]:
    """Directory names, with as many parent folders as it takes to tell two apart; names that
    clash with the joined table's columns or the ensembles get ``_run`` appended."""
    parts = [p.resolve().parts for p in paths]
    depth = [1] * len(paths)
    while True:
        names = ["/".join(pp[-k:]) for pp, k in zip(parts, depth, strict=True)]
        clash = [i for i, n in enumerate(names) if names.count(n) > 1 and depth[i] < len(parts[i])]
        if not clash:
            break
        for i in clash:
            depth[i] += 1
    out: list[str] = []
    for n in names:
        while n in _RESERVED or n.startswith(_ENSEMBLE_PREFIX) or n in out:
            n += "_run"
        out.append(n)
    return out


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e}", path=path) from None


def _read_run(path: Path, name: str) -> _RunInput:
    if not path.is_dir():
        raise InputError(f"run {name}: not a directory", path=path, hint="give directories written by `cisgram train`")
    config = _read_json(path / "config.json")
    if config is None:
        raise InputError(f"run {name}: not a run directory (no config.json)", path=path,
                         hint="give directories written by `cisgram train`")
    metrics = _read_json(path / "metrics.json")
    if metrics is None:
        raise InputError(f"run {name} is incomplete (no metrics.json): its training failed or is still running",
                         path=path)
    pq = path / "predictions.parquet"
    if not pq.is_file():
        raise InputError(f"run {name} has no predictions.parquet", path=path)
    preds = pd.read_parquet(pq)
    family = str(config.get("family", metrics.get("family", "unknown")))
    keys = ["region", "strand"] if family == "get" else ["region"]
    need = {*keys, "target", "observed", "predicted", "split"} | ({"model"} if family == "get" else set())
    missing = need - set(preds.columns)
    if missing:
        raise InputError(f"run {name}: predictions.parquet lacks column(s) {', '.join(sorted(missing))}", path=pq)
    if family == "get":  # the transformer's rows; its baselines and LoRA rows are compared in its own report
        preds = preds[preds["model"] == "get"]
    preds = preds[[*keys, "target", "split", "observed", "predicted"]].copy()
    for k in (*keys, "target", "split"):
        preds[k] = preds[k].astype(str)
    preds["observed"] = preds["observed"].astype(np.float64)
    preds["predicted"] = preds["predicted"].astype(np.float64)
    dup = preds.duplicated([*keys, "target"])
    if dup.any():
        first = preds.loc[dup, [*keys, "target"]].iloc[0].tolist()
        raise InputError(f"run {name}: predictions.parquet holds {int(dup.sum())} repeated entries, e.g. {first}", path=pq)
    return _RunInput(name, path, family, config, _read_json(path / "split.json"), preds,
                     _n_params(path, family, config, metrics), _train_seconds(path, metrics))


def _safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor shapes from a safetensors header (8-byte length, then JSON), without loading data."""
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(n))
    return {k: v["shape"] for k, v in header.items() if k != "__metadata__"}


def _n_params(path: Path, family: str, config: dict, metrics: dict) -> int | None:
    for src in (metrics, config):
        if isinstance(src.get("n_params"), int | float):
            return int(src["n_params"])
    if family not in _WEIGHTS:
        return None
    pattern, keep = _WEIGHTS[family]
    try:
        files = sorted(path.glob(pattern))
        if not files or not all(f.is_file() for f in files):
            return None
        total = 0
        for f in files:
            for k, shape in _safetensors_shapes(f).items():
                leaf = k.rsplit(".", 1)[-1]
                if (keep is None and leaf not in _NOT_FITTED) or (keep is not None and k in keep):
                    total += int(np.prod(shape, dtype=np.int64))
        return total
    except (OSError, ValueError, KeyError):
        log.warning("could not count the parameters of %s", path)
        return None


def _train_seconds(path: Path, metrics: dict) -> float | None:
    for key in ("train_seconds", "seconds"):
        if isinstance(metrics.get(key), int | float):
            return float(metrics[key])
    hist = _read_json(path / "history.json")
    if isinstance(hist, dict):
        if isinstance(hist.get("timings"), dict):  # GET: seconds per stage
            return float(sum(v for v in hist["timings"].values() if isinstance(v, int | float)))
        if isinstance(hist.get("seconds"), int | float):  # CNN
            return float(hist["seconds"])
    pipe = _read_json(path / "pipeline.json")
    if isinstance(pipe, dict) and pipe.get("stages"):  # IQ: seconds per pipeline stage
        return float(sum(s.get("seconds", 0.0) for s in pipe["stages"]))
    return None


def _same_file(a: str, b: str) -> bool:
    if os.path.normpath(a) == os.path.normpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_same_data(inputs: list[_RunInput], direct: Sequence[_RunInput] = ()) -> list[str]:
    """Refuse runs that cannot be compared (``direct``: difference runs, checked for dataset and
    split only); returns the entry key columns."""
    gets = [r.name for r in inputs if r.family == "get"]
    if gets and len(gets) < len(inputs):
        raise InputError(f"GET run(s) {', '.join(gets)} cannot be compared with runs of other families: GET scores "
                         "(TSS region, strand) entries of held-out cell types",
                         hint="compare GET runs with each other; each GET run's report compares it with its baselines")
    first = inputs[0]
    for r in [*inputs[1:], *direct]:
        if first.dataset is None or r.dataset is None:
            log.warning("run %s or %s records no dataset; relying on the regions and split only", first.name, r.name)
        elif not _same_file(first.dataset, r.dataset):
            raise InputError(f"runs {first.name} and {r.name} were trained on different datasets: {first.dataset} "
                             f"({first.name}) and {r.dataset} ({r.name})", hint="compare runs of one dataset")
        if first.split_json is not None and r.split_json is not None and first.split_json != r.split_json:
            raise InputError(f"runs {first.name} and {r.name} have different splits (their split.json differ)",
                             hint="compare runs trained on one dataset with one split")
    common = set(first.preds["target"])
    for r in inputs[1:]:
        common &= set(r.preds["target"])
    if not common:
        listed = "; ".join(f"{r.name}: {', '.join(dict.fromkeys(r.preds['target']))}" for r in inputs)
        raise InputError(f"the runs share no target ({listed})", hint="compare runs that predict the same condition")
    return ["region", "strand"] if gets else ["region"]


def _join(inputs: list[_RunInput], keys: list[str]) -> tuple[pd.DataFrame, list[str], dict[str, int]]:
    """The entries every run scored (shared targets, finite values), one prediction column per run."""
    shared = set.intersection(*(set(r.preds["target"]) for r in inputs))
    targets = [t for t in dict.fromkeys(inputs[0].preds["target"]) if t in shared]
    on = [*keys, "target"]
    first = inputs[0]
    joined = first.preds[first.preds["target"].isin(shared)].rename(columns={"predicted": first.name})
    for r in inputs[1:]:
        right = r.preds[r.preds["target"].isin(shared)].rename(
            columns={"predicted": r.name, "split": "_split", "observed": "_observed"})
        joined = joined.merge(right, on=on, how="inner")
        bad = joined["split"] != joined["_split"]
        if bad.any():
            e = joined[bad].iloc[0]
            raise InputError(f"runs {first.name} and {r.name} put {int(bad.sum())} shared entries in different splits, "
                             f"e.g. region {e['region']} (target {e['target']}): {e['split']} in {first.name}, "
                             f"{e['_split']} in {r.name}", hint="compare runs trained on one dataset with one split")
        a, b = joined["observed"].to_numpy(), joined["_observed"].to_numpy()
        bad = ~(np.isclose(a, b, rtol=1e-5, atol=1e-6) | (np.isnan(a) & np.isnan(b)))
        if bad.any():
            e = joined[bad].iloc[0]
            raise InputError(f"runs {first.name} and {r.name} have different observed values for target {e['target']} "
                             f"({int(bad.sum())} entries, e.g. region {e['region']}: {e['observed']:.6g} vs "
                             f"{e['_observed']:.6g})",
                             hint="the runs model different signals (e.g. --signal, --vs or --task differ)")
        joined = joined.drop(columns=["_split", "_observed"])
    names = [r.name for r in inputs]
    if joined.empty:
        raise InputError(f"runs {', '.join(names)} share no region for target(s) {', '.join(targets)}",
                         hint="compare runs of one dataset")
    finite = np.isfinite(joined[["observed", *names]].to_numpy(np.float64)).all(axis=1)
    joined = joined[finite]
    if joined.empty:
        raise InputError(f"runs {', '.join(names)} share no region with finite values for target(s) {', '.join(targets)}")
    kept = joined.groupby("target").size()
    dropped = {r.name: int(r.preds["target"].isin(shared).sum() - kept.sum()) for r in inputs}
    for n, k in dropped.items():
        if k:
            log.info("run %s: %d entries of the shared targets are not scored by every run and are left out", n, k)
    joined = joined[[*keys, "target", "split", "observed", *names]]
    order = {t: i for i, t in enumerate(targets)}
    joined = joined.sort_values("target", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    return joined, targets, dropped


def _fit_ensemble(kind: str, Xv: np.ndarray, yv: np.ndarray, X: np.ndarray, names: list[str]) -> tuple[np.ndarray, dict]:
    """Fit ensemble ``kind`` on validation rows ``Xv`` ``(n, R)``, ``yv`` ``(n,)``; return its
    predictions for ``X`` ``(N, R)`` and the fitted numbers."""
    from scipy.optimize import nnls

    n, R = Xv.shape
    need = 3 if kind == "mean" else R + 2
    if n < need:
        return np.full(len(X), np.nan), {"fitted": False, "n_val": int(n),
                                         "reason": f"{n} validation entries; the {kind} ensemble needs {need}"}
    if kind == "mean":
        centre, scale = Xv.mean(axis=0), Xv.std(axis=0)
        ok = scale > 0  # a run constant on validation carries nothing: it adds 0
        z = np.where(ok, (X - centre) / np.where(ok, scale, 1.0), 0.0).mean(axis=1)
        zv = np.where(ok, (Xv - centre) / np.where(ok, scale, 1.0), 0.0).mean(axis=1)
        zc = zv - zv.mean()
        slope = float(zc @ (yv - yv.mean()) / (zc @ zc)) if zc @ zc > 0 else 0.0
        intercept = float(yv.mean() - slope * zv.mean())
        info = {"fitted": True, "n_val": int(n), "centre": dict(zip(names, centre.tolist(), strict=True)),
                "scale": dict(zip(names, scale.tolist(), strict=True)), "slope": slope, "intercept": intercept}
        return intercept + slope * z, info
    xm, ym = Xv.mean(axis=0), yv.mean()
    w, _ = nnls(Xv - xm, yv - ym)
    intercept = float(ym - xm @ w)
    sd = Xv.std(axis=0)
    info = {"fitted": True, "n_val": int(n), "intercept": intercept, "weights": dict(zip(names, w.tolist(), strict=True)),
            "standardised_weights": dict(zip(names, (w * sd / (yv.std() or 1.0)).tolist(), strict=True))}
    return intercept + X @ w, info


def _finite_or_none(obj):
    """``obj`` with NaN / infinite floats (numpy or not) as None and numpy scalars as Python ones."""
    if isinstance(obj, dict):
        return {str(k): _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
