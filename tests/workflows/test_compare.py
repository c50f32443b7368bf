"""Tests for cisgram.workflows.compare: compare_runs (runs side by side, ensembles, paired bootstrap,
cell-type specificity) on run directories written by rundir.write_run from synthetic predictions of a known truth, plus
two real baseline runs on the bundled demo slice; the report rendered from its result."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.metrics import average_precision_score, roc_auc_score

from cisgram.data.targets import TrainingData
from cisgram.errors import InputError
from cisgram.report.compare import compare_report
from cisgram.workflows.compare import COMPARISON_COLUMNS, compare_runs
from cisgram.workflows.rundir import write_run

N_SPLIT = 1000  # entries per split (train, val, test)
SPLIT = np.repeat(["train", "val", "test"], N_SPLIT)
REGIONS = [f"chr1:{1000 * i}-{1000 * i + 500}" for i in range(3 * N_SPLIT)]


def make_run(path, preds, observed, targets, *, family="baseline", dataset="data/dataset.h5ad", split=SPLIT,
             regions=REGIONS, split_json=None, task="regression"):
    """A run directory as ``rundir.write_run`` writes it (no model files): ``preds`` and
    ``observed`` shaped ``(R, T)``."""
    data = TrainingData(pd.DataFrame({"region": regions}), np.zeros((len(regions), 1), np.uint8),
                        np.asarray(observed, float).reshape(len(regions), -1), np.asarray(split), list(targets),
                        [{} for _ in targets], "genome.fa", split_json or {"kind": "blocks", "seed": 0})
    write_run(path, family, {"dataset": dataset, "targets": list(targets)}, data,
              np.asarray(preds, float).reshape(len(regions), -1), lambda d: None, task=task)
    return path


def compare(runs, out, **kw) -> dict:
    """``cisgram compare`` as the CLI runs it: the workflow, then its renderer; the comparison dict."""
    result = compare_runs(runs, out, **kw)
    compare_report(result.path / "report.html", result)
    return result.comparison


def truth(seed: int, noise: float = 0.3):
    """A latent signal ``s`` and observed ``y = s + noise``."""
    rng = np.random.default_rng(seed)
    s = rng.normal(size=3 * N_SPLIT)
    return rng, s, s + noise * rng.normal(size=s.size)


def strict_json(path):
    """comparison.json parsed with NaN / Infinity refused (they are not JSON)."""
    def refuse(c):
        raise AssertionError(f"{c} in {path}")

    return json.loads(path.read_text(), parse_constant=refuse)


# ------------------------------------------------------------------------------------ metrics


# ------------------------------------------------------------------------------------ compare_runs

@pytest.fixture(scope="module")
def two_noisy(tmp_path_factory):
    """Two runs predicting truth + independent noise (sd 1 each, run b on another scale), a
    regression target ``y`` and a 0/1 target ``bound``; compared once."""
    base = tmp_path_factory.mktemp("cmp")
    rng, s, y = truth(1)
    bound = (s > 0.5).astype(float)
    pa = s + rng.normal(size=s.size)
    pb = 3 * (s + rng.normal(size=s.size)) + 10
    obs = np.column_stack([y, bound])
    make_run(base / "a", np.column_stack([pa, pa]), obs, ["y", "bound"])
    make_run(base / "b", np.column_stack([pb, pb]), obs, ["y", "bound"])
    messages = []
    comp = compare([base / "a", base / "b"], base / "cmp", n_boot=300, seed=0, progress=messages.append)
    return base, comp, messages


def test_compare_writes_every_file_in_its_shape(two_noisy):
    base, comp, messages = two_noisy
    out = base / "cmp"
    assert {"comparison.json", "comparison.tsv", "predictions.parquet", "report.html"} <= {p.name for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left
    assert strict_json(out / "comparison.json") == comp
    models = ["a", "b", "ensemble:mean", "ensemble:stacked"]
    assert [m["name"] for m in comp["models"]] == models
    assert [t["name"] for t in comp["targets"]] == ["y", "bound"]
    assert [t["binary"] for t in comp["targets"]] == [False, True]
    tsv = pd.read_csv(out / "comparison.tsv", sep="\t")
    assert list(tsv.columns) == COMPARISON_COLUMNS
    assert len(tsv) == 2 * len(models)
    assert list(tsv["model"][:4]) == models and set(tsv["target"]) == {"y", "bound"}
    assert tsv.loc[tsv["target"] == "y", "auroc"].isna().all()
    assert tsv.loc[tsv["target"] == "bound", ["auroc", "auprc"]].notna().all().all()
    joined = pd.read_parquet(out / "predictions.parquet")
    assert list(joined.columns) == ["region", "target", "split", "observed", *models]
    assert len(joined) == 2 * 3 * N_SPLIT
    assert messages and all(isinstance(m, str) for m in messages)
    html = (out / "report.html").read_text()
    assert html.count("<img") >= 2 * len(models) and "http" not in html.replace("http-equiv", "")


def test_single_run_metrics_equal_their_own_runs(two_noisy):
    base, comp, _ = two_noisy
    for run in ("a", "b"):
        own = json.loads((base / run / "metrics.json").read_text())
        for split in ("val", "test"):
            got = comp["metrics"][split]["y"][run]
            assert got["pearson"] == pytest.approx(own[split]["y"]["pearson"], rel=1e-12)
            assert got["n"] == own[split]["y"]["n"] == N_SPLIT


def test_ensembles_beat_both_single_runs(two_noisy):
    """Population test Pearson: single runs 1/sqrt(1.09 * 2) = 0.677, the average of the two
    standardised predictions 1/sqrt(1.09 * 1.5) = 0.782; floor: 0.05 above the better run."""
    _, comp, _ = two_noisy
    test = comp["metrics"]["test"]["y"]
    best_single = max(test["a"]["pearson"], test["b"]["pearson"])
    assert 0.62 < best_single < 0.74
    for e in ("ensemble:mean", "ensemble:stacked"):
        assert test[e]["pearson"] > best_single + 0.05
        assert test[e]["r2"] > 0.5  # on the observed scale, although run b is on another one
        lo, hi = comp["versus_reference"]["y"][e]["pearson"][1:]
        assert lo > 0  # the bootstrap says so too
    bound = comp["metrics"]["test"]["bound"]
    assert min(bound["ensemble:mean"]["auroc"], bound["ensemble:stacked"]["auroc"]) > max(
        bound["a"]["auroc"], bound["b"]["auroc"]) + 0.02


def test_binary_target_gets_areas_and_auroc_intervals(two_noisy):
    base, comp, _ = two_noisy
    joined = pd.read_parquet(base / "cmp" / "predictions.parquet")
    test = joined[(joined["target"] == "bound") & (joined["split"] == "test")]
    for m in ("a", "b", "ensemble:mean", "ensemble:stacked"):
        got = comp["metrics"]["test"]["bound"][m]
        assert got["auroc"] == pytest.approx(roc_auc_score(test["observed"], test[m]))
        assert got["auprc"] == pytest.approx(average_precision_score(test["observed"], test[m]))
        lo, hi = comp["intervals"]["bound"][m]["auroc"]
        assert lo < got["auroc"] < hi
    assert comp["reference"]["bound"]["chosen_by"] == "validation auroc"
    assert {d["metric"] for d in comp["differences"]["bound"]} == {"pearson", "auroc"}
    assert {d["metric"] for d in comp["differences"]["y"]} == {"pearson"}
    assert len(comp["differences"]["y"]) == 6  # every pair of four models


def test_mean_ensemble_is_blind_to_each_runs_scale(tmp_path):
    """z-scoring with each run's validation statistics: an affine change of one run's
    predictions leaves the mean ensemble's predictions unchanged."""
    rng, s, y = truth(2)
    pa, pb = s + rng.normal(size=s.size), s + rng.normal(size=s.size)
    make_run(tmp_path / "a", pa, y, ["y"])
    make_run(tmp_path / "b", pb, y, ["y"])
    make_run(tmp_path / "b2", 5 * pb - 7, y, ["y"])
    one = compare([tmp_path / "a", tmp_path / "b"], tmp_path / "c1", ensembles=("mean",), n_boot=10)
    two = compare([tmp_path / "a", tmp_path / "b2"], tmp_path / "c2", ensembles=("mean",), n_boot=10)
    p1 = pd.read_parquet(tmp_path / "c1" / "predictions.parquet")["ensemble:mean"]
    p2 = pd.read_parquet(tmp_path / "c2" / "predictions.parquet")["ensemble:mean"]
    np.testing.assert_allclose(p1, p2, rtol=1e-9, atol=1e-9)
    assert one["metrics"]["test"]["y"]["ensemble:mean"]["pearson"] == pytest.approx(
        two["metrics"]["test"]["y"]["ensemble:mean"]["pearson"])
    assert [m["name"] for m in one["models"]] == ["a", "b", "ensemble:mean"]  # only what was asked
    # least squares on validation: the rescaled average has the observed validation mean
    val = (SPLIT == "val")
    assert p1[val].mean() == pytest.approx(y[val].mean(), abs=1e-9)


def test_stacked_weights_come_from_validation_only(tmp_path):
    """Run a is informative on validation and noise on test; b is mediocre everywhere. The
    stacked fit equals non-negative least squares with an intercept on validation (sklearn's
    LinearRegression(positive=True)); fitting on test would give clearly different weights; and
    replacing the test predictions changes neither the weights nor the validation predictions."""
    rng, s, y = truth(3)
    test = SPLIT == "test"
    val = SPLIT == "val"
    pa = np.where(test, rng.normal(size=s.size), s + 0.5 * rng.normal(size=s.size))
    pb = s + 1.5 * rng.normal(size=s.size)
    make_run(tmp_path / "a", pa, y, ["y"])
    make_run(tmp_path / "b", pb, y, ["y"])
    comp = compare([tmp_path / "a", tmp_path / "b"], tmp_path / "c", n_boot=10)
    fit = comp["ensembles"]["weights"]["y"]["stacked"]
    X = np.column_stack([pa, pb])
    ref = LinearRegression(positive=True).fit(X[val], y[val])
    np.testing.assert_allclose([fit["weights"]["a"], fit["weights"]["b"]], ref.coef_, rtol=1e-6, atol=1e-9)
    assert fit["intercept"] == pytest.approx(ref.intercept_, abs=1e-9)
    on_test = LinearRegression(positive=True).fit(X[test], y[test])
    assert abs(on_test.coef_[0] - fit["weights"]["a"]) > 0.3  # the case tells the two fits apart
    joined = pd.read_parquet(tmp_path / "c" / "predictions.parquet")
    np.testing.assert_allclose(joined["ensemble:stacked"], ref.predict(X), rtol=1e-9, atol=1e-9)

    pa2 = np.where(test, 100 * rng.normal(size=s.size) + 3, pa)  # new test predictions only
    make_run(tmp_path / "a", pa2, y, ["y"])
    again = compare([tmp_path / "a", tmp_path / "b"], tmp_path / "c", n_boot=10)
    assert again["ensembles"]["weights"] == comp["ensembles"]["weights"]
    assert again["metrics"]["val"] == comp["metrics"]["val"]
    assert again["metrics"]["test"]["y"]["a"]["pearson"] != comp["metrics"]["test"]["y"]["a"]["pearson"]


def test_bootstrap_interval_covers_the_true_difference(tmp_path):
    """y = s + 0.5 e, a = s + 0.5 e_a, b = s + e_b: population Pearson 0.8 and 1/sqrt(2.5) = 0.632.
    With 1,000 test entries the 95 % interval of a - b covers 0.168 and excludes 0; two runs of
    equal quality get an interval around 0."""
    rng, s, y = truth(4, noise=0.5)
    make_run(tmp_path / "a", s + 0.5 * rng.normal(size=s.size), y, ["y"])
    make_run(tmp_path / "b", s + rng.normal(size=s.size), y, ["y"])
    make_run(tmp_path / "c", s + rng.normal(size=s.size), y, ["y"])
    comp = compare([tmp_path / "a", tmp_path / "b", tmp_path / "c"], tmp_path / "cmp", ensembles=(), n_boot=1000)
    true = 0.8 - 1 / math.sqrt(2.5)
    ab = next(d for d in comp["differences"]["y"] if (d["a"], d["b"]) == ("a", "b"))
    assert ab["low"] < true < ab["high"] and ab["low"] > 0.05
    assert ab["high"] - ab["low"] < 0.12
    bc = next(d for d in comp["differences"]["y"] if (d["a"], d["b"]) == ("b", "c"))
    assert bc["low"] < 0 < bc["high"]
    assert comp["reference"]["y"]["model"] == "a"  # best validation Pearson
    tsv = pd.read_csv(tmp_path / "cmp" / "comparison.tsv", sep="\t").set_index("model")
    assert tsv.loc["b", "pearson_diff_high"] < 0 and tsv.loc["a", "pearson_diff"] == 0
    assert tsv.loc["b", "pearson_diff"] == pytest.approx(-ab["difference"], rel=1e-5)  # 6 digits in the TSV


def test_entries_not_scored_by_every_run_are_left_out(tmp_path):
    """A run with extra regions (a CNN's background windows) and an extra target compares on
    the shared regions and target."""
    rng, s, y = truth(6)
    extra = [f"bg{i}" for i in range(50)]
    make_run(tmp_path / "a", s + rng.normal(size=s.size), y, ["y"])
    make_run(tmp_path / "b", np.column_stack([np.r_[s + rng.normal(size=s.size), np.zeros(50)], np.zeros(s.size + 50)]),
             np.column_stack([np.r_[y, np.ones(50)], np.ones(s.size + 50)]), ["y", "other"],
             regions=REGIONS + extra, split=np.r_[SPLIT, np.repeat("train", 50)])
    comp = compare([tmp_path / "a", tmp_path / "b"], tmp_path / "c", n_boot=10)
    assert [t["name"] for t in comp["targets"]] == ["y"]
    assert {r["name"]: r["entries_dropped"] for r in comp["runs"]} == {"a": 0, "b": 50}
    assert comp["targets"][0]["entries"] == {"train": N_SPLIT, "val": N_SPLIT, "test": N_SPLIT}
    assert comp["runs"][1]["targets"] == ["y", "other"]


def test_runs_with_one_directory_name_are_told_apart(tmp_path):
    rng, s, y = truth(7)
    make_run(tmp_path / "x" / "run", s + rng.normal(size=s.size), y, ["y"])
    make_run(tmp_path / "z" / "run", s + rng.normal(size=s.size), y, ["y"])
    comp = compare([tmp_path / "x" / "run", tmp_path / "z" / "run"], tmp_path / "c", n_boot=10, ensembles=())
    assert [r["name"] for r in comp["runs"]] == ["x/run", "z/run"]


def test_parameters_and_training_time_are_read_from_the_run(tmp_path):
    from safetensors.numpy import save_file

    rng, s, y = truth(8)
    a = make_run(tmp_path / "a", s + rng.normal(size=s.size), y, ["y"], family="cnn")
    save_file({"conv.weight": np.zeros((8, 4, 5), np.float32), "conv.bias": np.zeros(8, np.float32),
               "bn.running_mean": np.zeros(8, np.float32), "bn.num_batches_tracked": np.zeros((), np.int64)},
              str(a / "model.safetensors"))
    (a / "history.json").write_text(json.dumps({"seconds": 12.5, "epochs": []}))
    b = make_run(tmp_path / "b", s + rng.normal(size=s.size), y, ["y"], family="baseline")
    (b / "targets" / "y").mkdir(parents=True)
    save_file({"coef": np.zeros(64), "intercept": np.zeros(1), "mean": np.zeros(64), "sd": np.ones(64)},
              str(b / "targets" / "y" / "model.safetensors"))
    comp = compare([a, b], tmp_path / "c", n_boot=10)
    info = {m["name"]: m for m in comp["models"]}
    assert info["a"]["n_params"] == 8 * 4 * 5 + 8 and info["a"]["train_seconds"] == 12.5
    assert info["b"]["n_params"] == 65 and info["b"]["train_seconds"] is None
    assert info["ensemble:mean"]["n_params"] == 8 * 4 * 5 + 8 + 65 and info["ensemble:mean"]["train_seconds"] is None
    tsv = pd.read_csv(tmp_path / "c" / "comparison.tsv", sep="\t").set_index("model")
    assert tsv.loc["a", "n_params"] == 168 and tsv.loc["a", "train_seconds"] == 12.5


def test_get_runs_compare_on_region_and_strand(tmp_path):
    """GET runs: the transformer's rows (model "get") keyed by region and strand; their own
    baselines' rows are left to their run reports."""
    rng, s, y = truth(10)
    half = len(REGIONS) // 2
    keys = pd.DataFrame({"region": np.r_[REGIONS[:half], REGIONS[:half]], "strand": np.repeat(["+", "-"], half)})
    split = np.r_[SPLIT[::2], SPLIT[::2]]  # each region in one split on both strands
    for name in ("pre", "scratch"):
        d = tmp_path / name
        d.mkdir()
        (d / "config.json").write_text(json.dumps({"family": "get", "data": "get_data.npz"}))
        (d / "metrics.json").write_text(json.dumps({"family": "get"}))
        (d / "history.json").write_text(json.dumps({"timings": {"pretrain": 3.0, "finetune": 4.5}}))
        rows = keys.assign(cell="K562", target="K562", observed=y, predicted=s + rng.normal(size=s.size),
                           split=split, model="get", held_out="blocks")
        pd.concat([rows, rows.assign(model="mean", predicted=0.0)]).to_parquet(d / "predictions.parquet")
    comp = compare([tmp_path / "pre", tmp_path / "scratch"], tmp_path / "c", n_boot=10)
    assert comp["keys"] == ["region", "strand"]
    assert comp["targets"][0]["entries"]["test"] == (SPLIT[::2] == "test").sum() * 2
    assert {m["name"]: m["train_seconds"] for m in comp["runs"]} == {"pre": 7.5, "scratch": 7.5}
    joined = pd.read_parquet(tmp_path / "c" / "predictions.parquet")
    assert list(joined.columns[:2]) == ["region", "strand"] and len(joined) == len(REGIONS)


# ------------------------------------------------------------------------------------ cell-type specificity

@pytest.fixture(scope="module")
def specific(tmp_path_factory):
    """Conditions A and B share a strong GC component (A more GC-driven) and a common signal; A
    alone has ``s``. Runs: ``multi`` (its heads know ``s``), ``gc_heads`` (GC and common parts
    only) and ``dap``, a ``--vs`` run predicting A - B directly (min-max scaled on training rows,
    as ``cisgram train iq --vs`` writes it) on 60 % of the regions; compared once with GC given."""
    base = tmp_path_factory.mktemp("spec")
    rng = np.random.default_rng(11)
    n = len(REGIONS)
    gc = rng.uniform(0.3, 0.7, n)
    common, s = rng.normal(size=n), rng.normal(size=n)
    obs = np.column_stack([25 * gc + common + s + 0.3 * rng.normal(size=n), 10 * gc + common + 0.3 * rng.normal(size=n)])
    noise = 0.2 * rng.normal(size=(n, 2))
    make_run(base / "multi", np.column_stack([25 * gc + common + s, 10 * gc + common]) + noise, obs, ["A", "B"])
    make_run(base / "gc_heads", np.column_stack([25 * gc + common, 10 * gc + common]) + noise, obs, ["A", "B"])
    d = obs[:, 0] - obs[:, 1]
    lo, hi = d[SPLIT == "train"].min(), d[SPLIT == "train"].max()
    keep = np.flatnonzero(rng.random(n) < 0.6)
    make_run(base / "dap", (15 * gc + s + 0.5 * rng.normal(size=n))[keep], np.clip((d - lo) / (hi - lo), 0, 1)[keep],
             ["A-B"], family="iq", regions=[REGIONS[i] for i in keep], split=SPLIT[keep])
    cfg = json.loads((base / "dap" / "config.json").read_text())
    (base / "dap" / "config.json").write_text(json.dumps({**cfg, "targets": ["A"], "vs": "B"}))
    comp = compare([base / "multi", base / "gc_heads", base / "dap"], base / "cmp", n_boot=300,
                   gc=dict(zip(REGIONS, gc, strict=True)))
    return base, comp, gc, obs, keep


def test_specificity_scores_every_model_on_the_test_entries(specific):
    base, comp, gc, obs, _ = specific
    spec = comp["specificity"]
    assert [r["name"] for r in comp["runs"]] == ["multi", "gc_heads"]  # the dAP run is set aside
    assert spec["gc"] == {"source": "given", "reason": None}
    (pair,) = spec["all"]["pairs"]
    assert (pair["a"], pair["b"], pair["n"]) == ("A", "B", N_SPLIT)
    assert list(pair["models"]) == ["multi", "gc_heads", "ensemble:mean", "ensemble:stacked"]
    joined = pd.read_parquet(base / "cmp" / "predictions.parquet")
    test = joined[joined["split"] == "test"]
    wide = test.pivot(index="region", columns="target")
    g = pd.Series(gc, index=REGIONS)[wide.index].to_numpy()
    d_obs = wide["observed"]["A"] - wide["observed"]["B"]
    assert pair["observed_r"] == pytest.approx(np.corrcoef(wide["observed"]["A"], wide["observed"]["B"])[0, 1])
    for m in pair["models"]:
        got, d_pred = pair["models"][m], wide[m]["A"] - wide[m]["B"]
        assert got["head_r"] == pytest.approx(np.corrcoef(wide[m]["A"], wide[m]["B"])[0, 1])
        assert got["difference_r"] == pytest.approx(np.corrcoef(d_pred, d_obs)[0, 1])
        res = [v - np.polyval(np.polyfit(g, v, 1), g) for v in (d_pred.to_numpy(), d_obs.to_numpy())]
        assert got["difference_r_gc"] == pytest.approx(np.corrcoef(*res)[0, 1], abs=1e-9)
        assert spec["all"]["head_gc"][m]["B"] == pytest.approx(np.corrcoef(wide[m]["B"], g)[0, 1])
    multi, gc_heads = pair["models"]["multi"], pair["models"]["gc_heads"]
    assert gc_heads["difference_r"] > 0.75 and gc_heads["difference_r_gc_ci"][0] < 0 < gc_heads["difference_r_gc_ci"][1]
    assert multi["difference_r_gc"] > 0.85
    html = (base / "cmp" / "report.html").read_text()
    assert "Cell-type specificity A − B (all)" in html and "head-head r" in html


def test_a_difference_run_is_scored_beside_the_heads_on_its_entries(specific):
    base, comp, gc, obs, keep = specific
    spec = comp["specificity"]
    (info,) = spec["difference_runs"]
    assert (info["name"], info["target"], info["pair"]) == ("dap", "A-B", ["A", "B"])
    rows = keep[SPLIT[keep] == "test"]
    assert info["test_entries"] == len(rows)
    (direct,) = spec["direct"]
    assert direct["runs"] == ["dap"]
    (pair,) = direct["pairs"]
    assert pair["n"] == len(rows) and pair["models"]["dap"]["kind"] == "direct"
    assert set(pair["models"]) == {"multi", "gc_heads", "ensemble:mean", "ensemble:stacked", "dap"}
    dap = pd.read_parquet(base / "dap" / "predictions.parquet").set_index("region")["predicted"]
    d_obs = obs[rows, 0] - obs[rows, 1]
    p = dap[[REGIONS[i] for i in rows]].to_numpy()
    assert pair["models"]["dap"]["difference_r"] == pytest.approx(np.corrcoef(p, d_obs)[0, 1])
    heads = pd.read_parquet(base / "multi" / "predictions.parquet").pivot(index="region", columns="target", values="predicted")
    sub = heads.loc[[REGIONS[i] for i in rows]]
    assert pair["models"]["multi"]["difference_r"] == pytest.approx(np.corrcoef(sub["A"] - sub["B"], d_obs)[0, 1])
    assert any(d["a"] == "multi" and d["b"] == "dap" for d in pair["differences"])
    assert "Cell-type specificity A − B (rows of dap)" in (base / "cmp" / "report.html").read_text()


def test_specificity_without_gc_and_with_one_target(tmp_path, two_noisy):
    _, comp, _ = two_noisy  # dataset "data/dataset.h5ad" does not exist: no GC numbers, the rest is there
    spec = comp["specificity"]
    assert spec["gc"]["source"] is None and "could not read GC" in spec["gc"]["reason"]
    assert spec["all"]["head_gc"] == {} and spec["all"]["pairs"][0]["models"]["a"]["difference_r_gc"] is None
    rng, s, y = truth(12)
    make_run(tmp_path / "a", s + rng.normal(size=s.size), y, ["y"])
    make_run(tmp_path / "b", s + rng.normal(size=s.size), y, ["y"])
    assert compare([tmp_path / "a", tmp_path / "b"], tmp_path / "c", n_boot=10)["specificity"] is None


def test_refuses_a_difference_run_of_other_observed_values(specific, tmp_path):
    base, _, gc, _, keep = specific
    rng = np.random.default_rng(0)
    make_run(tmp_path / "dap", rng.normal(size=keep.size), rng.normal(size=keep.size), ["A-B"], family="iq",
             regions=[REGIONS[i] for i in keep], split=SPLIT[keep])
    cfg = json.loads((tmp_path / "dap" / "config.json").read_text())
    (tmp_path / "dap" / "config.json").write_text(json.dumps({**cfg, "targets": ["A"], "vs": "B"}))
    with pytest.raises(InputError, match="does not follow A - B"):
        compare_runs([base / "multi", base / "gc_heads", tmp_path / "dap"], tmp_path / "c", n_boot=10)


# ------------------------------------------------------------------------------------ refusals

@pytest.fixture
def base_run(tmp_path):
    rng, s, y = truth(9)
    make_run(tmp_path / "first", s + rng.normal(size=s.size), y, ["y"])
    return tmp_path, rng, s, y


def _refused(paths, out, *match):
    with pytest.raises(InputError) as err:
        compare_runs(paths, out, n_boot=10)
    for m in match:
        assert m in str(err.value), str(err.value)
    assert not (out / "comparison.json").exists()
    return str(err.value)


def test_refuses_runs_of_another_dataset(base_run):
    d, rng, s, y = base_run
    make_run(d / "other", s, y, ["y"], dataset="elsewhere/dataset.h5ad")
    _refused([d / "first", d / "other"], d / "c", "first", "other", "different datasets", "elsewhere/dataset.h5ad")


def test_refuses_a_region_in_another_split(base_run):
    d, rng, s, y = base_run
    split = SPLIT.copy()
    split[1500] = "test"  # a validation region moved to test
    make_run(d / "moved", s, y, ["y"], split=split)
    _refused([d / "first", d / "moved"], d / "c", "first", "moved", REGIONS[1500], "val", "test")


def test_refuses_another_split_json(base_run):
    d, rng, s, y = base_run
    make_run(d / "resplit", s, y, ["y"], split_json={"kind": "chromosomes", "test": ["chr2"]})
    _refused([d / "first", d / "resplit"], d / "c", "first", "resplit", "split")


def test_refuses_runs_without_a_shared_target(base_run):
    d, rng, s, y = base_run
    make_run(d / "else", s, y, ["z"])
    _refused([d / "first", d / "else"], d / "c", "no target", "first: y", "else: z")


def test_refuses_runs_without_a_shared_region(base_run):
    d, rng, s, y = base_run
    make_run(d / "elsewhere", s, y, ["y"], regions=[f"chr9:{i}" for i in range(len(REGIONS))])
    _refused([d / "first", d / "elsewhere"], d / "c", "first", "elsewhere", "no region")


def test_refuses_other_observed_values(base_run):
    d, rng, s, y = base_run
    make_run(d / "counts", s, 3 * y + 1, ["y"])
    _refused([d / "first", d / "counts"], d / "c", "first", "counts", "observed", "target y")


def test_refuses_get_runs_beside_other_families(base_run):
    d, rng, s, y = base_run
    g = d / "get"
    g.mkdir()
    (g / "config.json").write_text(json.dumps({"family": "get", "data": "x.npz"}))
    (g / "metrics.json").write_text(json.dumps({"family": "get"}))
    pd.DataFrame({"region": REGIONS[:3], "cell": "y", "target": "y", "strand": "+", "observed": 1.0, "predicted": 1.0,
                  "split": "test", "model": "get", "held_out": "blocks"}).to_parquet(g / "predictions.parquet")
    _refused([d / "first", g], d / "c", "GET", "get")


@pytest.mark.parametrize("case", ["one run", "twice", "no run", "incomplete", "ensemble", "n_boot", "out is a run"])
def test_refuses_bad_arguments(base_run, case):
    d, *_ = base_run
    first = d / "first"
    if case == "one run":
        _refused([first], d / "c", "at least two")
    elif case == "twice":
        _refused([first, d / ".." / d.name / "first"], d / "c", "twice")
    elif case == "no run":
        (d / "empty").mkdir()
        _refused([first, d / "empty"], d / "c", "config.json")
    elif case == "incomplete":
        make_run(d / "half", np.zeros(len(REGIONS)), np.zeros(len(REGIONS)), ["y"])
        (d / "half" / "metrics.json").unlink()
        _refused([first, d / "half"], d / "c", "half", "metrics.json")
    elif case == "ensemble":
        with pytest.raises(InputError, match="median"):
            compare_runs([first, d / "x"], d / "c", ensembles=("median",))
    elif case == "n_boot":
        with pytest.raises(InputError, match="n_boot"):
            compare_runs([first, d / "x"], d / "c", n_boot=0)
    else:
        before = (first / "predictions.parquet").read_bytes()
        make_run(d / "second", np.zeros(len(REGIONS)), np.zeros(len(REGIONS)), ["y"])
        with pytest.raises(InputError, match="run directory"):
            compare_runs([first, d / "second"], first)
        assert (first / "predictions.parquet").read_bytes() == before


# ------------------------------------------------------------------------------------ real runs

def test_compare_two_baseline_runs_on_the_demo_slice(demo_dataset, tmp_path):
    """A GC baseline on K562 and GM12878 beside a k-mer ridge on K562: compared on K562, each
    run's test metrics as it wrote them, parameters counted from its weights."""
    from cisgram.workflows.train_baseline import train_baseline

    gc = train_baseline(demo_dataset, ["K562", "GM12878"], tmp_path / "gc", kind="gc").metrics
    km = train_baseline(demo_dataset, ["K562", "GM12878"], tmp_path / "kmer", kind="kmer-ridge").metrics
    comp = compare([tmp_path / "gc", tmp_path / "kmer"], tmp_path / "cmp", n_boot=200)
    assert [t["name"] for t in comp["targets"]] == ["K562", "GM12878"]
    test = comp["metrics"]["test"]["K562"]
    assert test["gc"]["pearson"] == pytest.approx(gc["test"]["K562"]["pearson"], rel=1e-9)
    assert test["kmer"]["pearson"] == pytest.approx(km["test"]["K562"]["pearson"], rel=1e-9)
    assert test["kmer"]["n"] == km["test"]["K562"]["n"]
    info = {m["name"]: m for m in comp["models"]}
    assert info["gc"]["n_params"] > 0 and info["kmer"]["n_params"] > info["gc"]["n_params"]
    assert (tmp_path / "cmp" / "report.html").stat().st_size > 10_000
    # specificity with GC from the dataset's var["gc"]
    import anndata as ad

    spec = comp["specificity"]
    assert spec["gc"]["source"].startswith("var['gc']")
    joined = pd.read_parquet(tmp_path / "cmp" / "predictions.parquet")
    test = joined[(joined["split"] == "test") & (joined["target"] == "K562")]
    gc_values = ad.read_h5ad(demo_dataset).var["gc"][test["region"]].to_numpy()
    assert spec["all"]["head_gc"]["kmer"]["K562"] == pytest.approx(np.corrcoef(test["kmer"], gc_values)[0, 1])
    assert spec["all"]["pairs"][0]["models"]["gc"]["difference_r_gc"] is not None


def test_cli_compare_prints_the_table_and_refuses_in_one_line(demo_dataset, tmp_path):
    import subprocess
    import sys

    from typer.testing import CliRunner

    from cisgram.cli.app import app
    from cisgram.workflows.train_baseline import train_baseline

    train_baseline(demo_dataset, ["K562"], tmp_path / "gc", kind="gc")
    train_baseline(demo_dataset, ["K562"], tmp_path / "kmer", kind="kmer-ridge")
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "gc"), str(tmp_path / "kmer"), "--n-boot", "100",
                                 "--out", str(tmp_path / "cmp")], terminal_width=200)
    assert r.exit_code == 0, r.output
    comp = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    p = comp["metrics"]["test"]["K562"]["ensemble:stacked"]["pearson"]
    assert "ensemble:stacked" in r.output and f"{p:.3f}" in r.output
    proc = subprocess.run([sys.executable, "-m", "cisgram", "compare", str(tmp_path / "gc"), "--out",
                           str(tmp_path / "x")], capture_output=True, text=True)
    text = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 2 and "Traceback" not in text and len(text.splitlines()) <= 3, text
