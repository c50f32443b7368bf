"""`cisgram train cnn` and `cisgram predict` end to end on the bundled demo slice (real chr22
sequence and accessibility), and on the full chr22 data when it is there."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import cisgram
from cisgram.cli.app import app
from cisgram.data.dataset import prepare
from cisgram.errors import InputError
from cisgram.report.cnn import cnn_report
from cisgram.training import TrainConfig
from cisgram.workflows.train_cnn import train_cnn

SMALL = {"filters": [16, 16, 16], "hidden": 16}


@pytest.fixture(scope="module")
def cls_run(demo_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cls"
    cfg = TrainConfig(task="classification", max_epochs=6, patience=2)
    result = train_cnn(demo_dataset, out, task="classification", length=500, arch_params=SMALL, config=cfg)
    cnn_report(out / "report.html", result)
    return out, result.metrics


@pytest.fixture(scope="module")
def reg_run(demo_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "reg"
    cfg = TrainConfig(max_epochs=2)
    result = train_cnn(demo_dataset, out, targets=["K562", "MCF7"], length=400, arch="dilated",
                       arch_params={"filters": 16, "layers": 3}, config=cfg)
    cnn_report(out / "report.html", result)
    return out, result.metrics


def test_classification_run_separates_peaks_from_gc_matched_background(cls_run):
    out, metrics = cls_run
    assert {"config.json", "split.json", "metrics.json", "predictions.parquet", "report.html", "model.json",
            "model.safetensors", "history.json"} <= {p.name for p in out.iterdir()}
    assert metrics["family"] == "cnn" and set(metrics["test"]) == {"peak"}
    m = metrics["test"]["peak"]
    # half of the rows are background windows of the same split, GC-matched
    assert m["n"] == 2 * m["n_pos"]
    preds = pd.read_parquet(out / "predictions.parquet")
    # the areas are those of the test rows of the predictions table (the floor on real data: the chr22 test)
    from sklearn.metrics import average_precision_score, roc_auc_score

    test = preds[preds["split"] == "test"]
    assert m["auroc"] == pytest.approx(roc_auc_score(test["observed"], test["predicted"]))
    assert m["auprc"] == pytest.approx(average_precision_score(test["observed"], test["predicted"]))
    bg = preds["region"].str.startswith("bg:")
    assert (preds.loc[bg, "observed"] == 0).all() and (preds.loc[~bg, "observed"] == 1).all()
    assert preds["predicted"].between(0, 1).all()
    report = (out / "report.html").read_text()
    assert "ROC" in report and "kept epoch" in report


def test_regression_run_scores_peaks_and_background_apart(reg_run):
    out, metrics = reg_run
    assert set(metrics["test"]) == {"K562", "MCF7"}
    assert set(metrics["subsets"]["peaks"]["test"]) == {"K562", "MCF7"}
    n_all = metrics["test"]["K562"]["n"]
    assert metrics["subsets"]["peaks"]["test"]["K562"]["n"] == n_all // 2
    preds = pd.read_parquet(out / "predictions.parquet")
    # log(1 + counts): background windows are measured from the same bigWigs, and read lower
    k = preds[preds["target"] == "K562"]
    bg = k["region"].str.startswith("bg:")
    assert k.loc[bg, "observed"].mean() < k.loc[~bg, "observed"].mean()
    config = json.loads((out / "config.json").read_text())
    assert config["spec"]["arch"] == "dilated" and config["length"] == 400


def test_loaded_run_and_cisgram_predict_reproduce_the_run(cls_run, tmp_path):
    out, _ = cls_run
    run = cisgram.load(out)
    assert run.family == "cnn" and run.length == 500 and run.targets == ["peak"]
    preds = pd.read_parquet(out / "predictions.parquet")
    peaks = preds[~preds["region"].str.startswith("bg:")].head(30)
    config = json.loads((out / "config.json").read_text())
    from cisgram.data.dataset import read_dataset

    var = read_dataset(config["dataset"]).var.loc[peaks["region"]]
    bed = tmp_path / "r.bed"
    var[["chrom", "start", "end"]].to_csv(bed, sep="\t", header=False, index=False)
    res = CliRunner().invoke(app, ["predict", "--model", str(out), "--regions", str(bed), "-o", str(tmp_path / "p.parquet")])
    assert res.exit_code == 0, res.output
    table = pd.read_parquet(tmp_path / "p.parquet")
    assert list(table.columns) == ["region", "peak"]
    np.testing.assert_allclose(table["peak"].to_numpy(), peaks["predicted"].to_numpy(), rtol=1e-5, atol=1e-6)
    # the same run scores single-base edits through the shared batched path
    codes = run.codes(regions=var[["chrom", "start", "end"]].reset_index(drop=True))[0]
    edits = run.score_edits(codes[:2], [(0, 250, "A"), (1, 10, "C")])
    assert np.isfinite(edits["delta:peak"]).all()


@pytest.mark.parametrize(("args", "message"), [
    (["--task", "classification", "-T", "K562"], "classification learns peak vs background"),
    (["--signal", "access"], "access probabilities exist on peaks only"),
    (["-T", "HeLa"], "no condition 'HeLa'"),
    (["--task", "regresion"], "unknown task"),
    (["--arch", "resnet"], "cannot build"),
    (["--precision", "bogus"], "Lightning refused the training settings"),
])
def test_bad_requests_fail_with_one_clear_line(demo_dataset, tmp_path, args, message):
    import subprocess
    import sys

    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "cisgram", "train", "cnn", "-d", str(demo_dataset), "-o", str(out),
                           "--max-epochs", "1", *args], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (out / "metrics.json").exists()


def test_cli_ddp_run_is_written_once_by_two_processes(demo_dataset, tmp_path):
    """`--devices 2 --strategy ddp` on CPU: Lightning re-runs the command in a second process
    (gloo); both train, only the first writes the run."""
    import subprocess
    import sys

    out = tmp_path / "ddp"
    proc = subprocess.run([sys.executable, "-m", "cisgram", "train", "cnn", "-d", str(demo_dataset), "-o", str(out),
                           "--task", "classification", "--length", "300", "--max-epochs", "2", "--accelerator", "cpu",
                           "--devices", "2", "--strategy", "ddp"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    history = json.loads((out / "history.json").read_text())
    assert history["world_size"] == 2 and len(history["epochs"]) == 2
    assert proc.stdout.count("wrote") == 1  # one summary line: the second process stays quiet
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["peak"]["n"] == 2 * metrics["test"]["peak"]["n_pos"]


def test_access_signal_uses_the_datasets_own_targets(demo_dataset, tmp_path):
    from cisgram.data.targets import sequence_targets

    t = sequence_targets(demo_dataset, signal="access", targets=["K562"], background=0)
    assert (t.regions["kind"] == "peak").all() and t.Y.min() >= 0 and t.Y.max() <= 1
    with pytest.raises(InputError, match="--vs makes a dAP target"):
        sequence_targets(demo_dataset, targets=["K562"], vs="GM12878", background=0)


@pytest.mark.shared
def test_chr22_peaks_are_told_from_background_on_held_out_blocks(shared, tmp_path):
    """The real chr22 data: union peaks of three cell lines against GC-matched background, a
    DeepSEA-style network at 500 bp; held-out 1 Mb blocks."""
    chr22 = shared / "hg38_chr22"
    cells = ("K562", "GM12878", "MCF7")
    ds = tmp_path / "dataset.h5ad"
    prepare(chr22 / "genome" / "chr22.fa.gz", [chr22 / "peaks" / f"{c}.narrowPeak" for c in cells],
            [f"{c}={chr22 / 'accessibility' / f'{c}.bw'}" for c in cells], width=500, out=ds)
    cfg = TrainConfig(task="classification", max_epochs=5, patience=3)  # 38 s
    metrics = train_cnn(ds, tmp_path / "run", task="classification", length=500, config=cfg).metrics
    # one seed, 5 epochs: 0.699 with the default batch-normalised dense head, 0.736 with the published one
    # (dense_norm=False; 8 epochs 0.718 / 0.742); GC alone gives 0.5 against GC-matched background
    assert metrics["test"]["peak"]["auroc"] > 0.66, metrics["test"]["peak"]["auroc"]


def test_run_reports_render_in_chromium(cls_run, reg_run, tmp_path):
    """Both CNN run reports (metrics, bars, curves, ROC / scatters, attribution logos) open in
    headless Chromium with every image loaded and no script error."""
    from tests.browser import assert_renders

    for out, _ in (cls_run, reg_run):
        html = (out / "report.html").read_text()
        assert "Attributions of the highest-predicted test regions" in html and "test Pearson per target" in html
        assert assert_renders(out / "report.html", tmp_path)["images"] >= 5


def test_a_killed_run_is_unfinished_and_resumes_to_the_numbers_of_an_uninterrupted_one(demo_dataset, tmp_path,
                                                                                          cisgram_main, one_thread):
    """A real ``cisgram train cnn`` process, sent SIGTERM once its first epoch is kept: it exits with
    128 + SIGTERM, leaves no metrics, ``cisgram.load`` refuses the directory, a new run there needs
    ``--resume``, and ``--resume`` ends with the metrics and history of an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    args = ["train", "cnn", "-d", demo_dataset, "--length", "200", "--background", "0", "-T", "K562", "--max-epochs", "6",
            "--patience", "6", "--accelerator", "cpu", "--device", "cpu", "--seed", "3"]
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "cisgram", *map(str, args), "-o", str(out)],
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pointer, deadline = out / "checkpoint" / "cnn" / "latest.json", time.monotonic() + 120
    while not pointer.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()[-2000:]
    assert not (out / "metrics.json").exists()
    kept = [p for p in (out / "checkpoint").rglob("*") if p.is_file()]
    assert {p.suffix for p in kept} == {".json", ".safetensors"}  # no pickle
    with pytest.raises(InputError, match="unfinished run: resume it with --resume"):
        cisgram.load(out)
    code, _, stderr = cisgram_main(*args, "-o", out)
    assert code == 2 and "unfinished run" in stderr and "--resume" in stderr
    assert cisgram_main(*args, "-o", out, "--resume")[0] == 0
    assert cisgram_main(*args, "-o", tmp_path / "whole")[0] == 0
    assert not (out / "checkpoint").exists() and cisgram.load(out).family == "cnn"
    assert json.loads((out / "metrics.json").read_text()) == json.loads((tmp_path / "whole" / "metrics.json").read_text())
    resumed, whole = (json.loads((d / "history.json").read_text()) for d in (out, tmp_path / "whole"))
    assert resumed["best_epoch"] == whole["best_epoch"] and len(resumed["epochs"]) == 6
    assert [{k: v for k, v in e.items() if k != "seconds"} for e in resumed["epochs"]] == \
           [{k: v for k, v in e.items() if k != "seconds"} for e in whole["epochs"]]


@pytest.mark.parametrize("run", ["cls_run", "reg_run"])
def test_metrics_hold_the_share_of_the_most_common_prediction(run, request):
    """``most_common_share`` of every split and target is the share of that split's rows in
    predictions.parquet on its single most common predicted value (counted here independently);
    ``dead_share`` rows all output the same bias, so it is never above it."""
    out, _ = request.getfixturevalue(run)
    metrics = json.loads((out / "metrics.json").read_text())
    preds = pd.read_parquet(out / "predictions.parquet")
    seen = 0
    for split in ("train", "val", "test"):
        for target, m in metrics[split].items():
            p = preds.loc[(preds["split"] == split) & (preds["target"] == target), "predicted"]
            assert m["most_common_share"] == pytest.approx(p.value_counts().iloc[0] / len(p), abs=1e-12)
            assert 0.0 <= m["dead_share"] <= m["most_common_share"]
            seen += 1
    assert seen >= 3
    spec = json.loads((out / "config.json").read_text())["spec"]
    assert spec.get("dense_norm") is (True if spec["arch"] == "deepsea" else None)  # new runs name their head


def test_a_constant_output_floor_is_warned_about(caplog):
    from cisgram.workflows.train_cnn import output_floor

    preds = pd.DataFrame({"region": [f"r{i}" for i in range(200)], "target": "K562",
                          "predicted": [0.4] * 3 + list(np.linspace(0, 1, 197)), "split": ["val"] * 100 + ["test"] * 100})
    metrics = {"val": {"K562": {}}, "test": {"K562": {}}}
    dead = {f"r{i}": i < 2 for i in range(200)}
    with caplog.at_level("WARNING", logger="cisgram.workflows.train_cnn"):
        flagged = output_floor(metrics, preds, dead)
    assert metrics["val"]["K562"] == {"most_common_share": 0.03, "dead_share": 0.02}
    assert metrics["test"]["K562"] == {"most_common_share": 0.01, "dead_share": 0.0}  # 1 %: not above
    assert flagged == {("val", "K562"): 0.03}
    assert len(caplog.records) == 1 and "val, K562: 3.0 % of the rows get one predicted value" in caplog.text
