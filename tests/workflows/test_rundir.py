"""Run directories end to end on the bundled demo slice: `cisgram train iq|baseline`, the files
DESIGN asks for, `cisgram.load(run).predict` on regions and sequences, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import cisgram
from cisgram.bundled import demo
from cisgram.cli.app import app

RUN_FILES = {"config.json", "split.json", "metrics.json", "predictions.parquet", "report.html", "model.json"}


@pytest.fixture(scope="module")
def iq_run(demo_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "iq"
    res = CliRunner().invoke(app, ["train", "iq", "-d", str(demo_dataset), "-T", "K562", "-T", "GM12878",
                                   "-m", str(demo().motifs), "--max-motifs", "4", "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_iq_run_directory_is_complete(iq_run):
    assert RUN_FILES | {"model.safetensors", "pipeline.json"} <= {p.name for p in iq_run.iterdir()}
    metrics = json.loads((iq_run / "metrics.json").read_text())
    assert metrics["family"] == "iq"
    for split in ("train", "val", "test"):
        assert set(metrics[split]) == {"K562", "GM12878"}
        assert {"pearson", "spearman", "r2", "pearson_r2", "n"} <= set(metrics[split]["K562"])
    # real accessibility is predicted from sequence on held-out blocks, not just fitted
    assert metrics["test"]["K562"]["pearson"] > 0.2
    preds = pd.read_parquet(iq_run / "predictions.parquet")
    assert list(preds.columns) == ["region", "target", "observed", "predicted", "split"]
    report = (iq_run / "report.html").read_text()
    assert "ΔR²" in report and "nearest" in report and report.count("<img") > 10


def test_loaded_run_predicts_what_it_wrote(iq_run, demo_dataset):
    run = cisgram.load(iq_run)
    assert run.family == "iq" and run.targets == ["K562", "GM12878"]
    preds = pd.read_parquet(iq_run / "predictions.parquet")
    k = preds[preds["target"] == "K562"].head(20)
    import anndata as ad

    var = ad.read_h5ad(demo_dataset).var.loc[k["region"]]
    regions = var[["chrom", "start", "end"]].reset_index(drop=True)
    got = run.predict(regions=regions)
    np.testing.assert_allclose(got["K562"].to_numpy(), k["predicted"].to_numpy(), rtol=1e-9)
    # the same from sequences, and edits: the reference base changes nothing, another base moves the prediction
    from cisgram.genome import Genome

    codes = Genome(run.config["genome"]).fetch_codes_batch(regions["chrom"], regions["start"], regions["end"])
    seqs = ["".join("ACGTN"[c] for c in row) for row in codes[:3]]
    np.testing.assert_allclose(run.predict(seqs)["K562"].to_numpy(), k["predicted"].to_numpy()[:3], rtol=1e-9)
    edits = [(0, 250, "ACGTN"[codes[0, 250]])] + [(0, p, b) for p in range(240, 260) for b in "ACGT"]
    scored = run.score_edits(codes, edits)
    assert scored.loc[0, "delta:K562"] == 0
    assert np.abs(scored["delta:K562"]).max() > 0


def test_track_covariate_enters_the_model_and_is_read_again_on_new_regions(iq_run, demo_dataset, tmp_path):
    out = tmp_path / "iq_track"
    bw = demo().accessibility["K562"]
    res = CliRunner().invoke(app, ["train", "iq", "-d", str(demo_dataset), "-T", "K562", "-m", str(demo().motifs),
                                   "--max-motifs", "1", "--no-simplify", "--track", f"K562dnase={bw}", "-o", str(out)])
    assert res.exit_code == 0, res.output
    # the target's own accessibility track as a covariate: far better than sequence alone
    r_track = json.loads((out / "metrics.json").read_text())["test"]["K562"]["pearson"]
    r_seq = json.loads((iq_run / "metrics.json").read_text())["test"]["K562"]["pearson"]
    assert r_track > 0.7 and r_track > r_seq + 0.2, (r_track, r_seq)
    run = cisgram.load(out)
    assert run.model.extra == ["track:K562dnase"] and json.loads((out / "config.json").read_text())["tracks"]
    preds = pd.read_parquet(out / "predictions.parquet").head(15)
    import anndata as ad

    var = ad.read_h5ad(demo_dataset).var.loc[preds["region"]]
    got = run.predict(regions=var[["chrom", "start", "end"]].reset_index(drop=True))
    np.testing.assert_allclose(got["K562"].to_numpy(), preds["predicted"].to_numpy(), rtol=1e-9)
    with pytest.raises(cisgram.errors.InputError, match="track covariates"):
        run.predict(["A" * run.length])
    r = subprocess.run([sys.executable, "-m", "cisgram", "train", "iq", "-d", str(demo_dataset), "-T", "K562",
                        "--track", "nothing.bw", "-o", str(tmp_path / "bad")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "NAME=FILE.bw" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_baseline_run_has_the_same_shape(demo_dataset, tmp_path):
    out = tmp_path / "gc"
    res = CliRunner().invoke(app, ["train", "baseline", "--kind", "gc", "-d", str(demo_dataset), "-T", "K562", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert RUN_FILES <= {p.name for p in out.iterdir()}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["family"] == "baseline" and set(metrics["test"]) == {"K562"}
    run = cisgram.load(out)
    assert run.family == "baseline" and run.targets == ["K562"]
    preds = pd.read_parquet(out / "predictions.parquet").head(10)
    import anndata as ad

    var = ad.read_h5ad(demo_dataset).var.loc[preds["region"]]
    got = run.predict(regions=var[["chrom", "start", "end"]].reset_index(drop=True))
    np.testing.assert_allclose(got["K562"].to_numpy(), preds["predicted"].to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("args, message", [
    (["-T", "HeLa"], "HeLa"),
    (["-T", "K562", "-T", "K562"], "twice"),
    (["-T", "K562", "--vs", "K562"], "differ"),
])
def test_bad_targets_are_one_line_errors(demo_dataset, tmp_path, args, message):
    r = subprocess.run([sys.executable, "-m", "cisgram", "train", "iq", "-d", str(demo_dataset), *args,
                        "-o", str(tmp_path / "r")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3
    assert not (tmp_path / "r").exists()


def test_load_refuses_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(cisgram.errors.InputError, match="not a run directory"):
        cisgram.load(tmp_path)


def test_iq_report_renders_in_chromium(iq_run, tmp_path):
    """The IQ run report (metrics, bars, scatters, logos, responses, spatial profiles) opens in
    headless Chromium with every image loaded and no script error."""
    from tests.browser import assert_renders

    assert assert_renders(iq_run / "report.html", tmp_path)["images"] >= 4 * 3


# ------------------------------------------------------------------------------------ the model protocol

def _forms(codes: np.ndarray) -> dict:
    """The same sequences as strings, uint8 codes, float32 one-hot (the README's format) and a torch tensor."""
    import torch

    from cisgram.genome import codes_to_onehot

    onehot = codes_to_onehot(codes)
    return {"strings": ["".join("ACGTN"[c] for c in row) for row in codes], "codes": codes,
            "onehot": onehot.astype(np.float32), "tensor": torch.from_numpy(onehot)}


def _check_protocol(run, codes: np.ndarray) -> None:
    """Every input form gives the same predictions; a length other than the model's is refused
    naming both lengths, unless recentring is asked for; what cannot be sequences is refused
    saying what it got."""
    from cisgram.errors import InputError
    from cisgram.genome import codes_to_onehot

    L = run.length
    assert codes.shape[1] == L
    want = run.predict(codes)
    assert list(want.columns) == run.targets and len(want) == len(codes) and np.isfinite(want.to_numpy()).all()
    for name, X in _forms(codes).items():
        np.testing.assert_allclose(run.predict(X).to_numpy(), want.to_numpy(), rtol=1e-6, err_msg=name)
    longer = np.concatenate([codes[:, :8], codes, codes[:, :8]], axis=1)  # +16 bp, the centre is codes
    with pytest.raises(InputError, match=rf"reads {L} bp sequences, got {L + 16} bp") as e:
        run.predict(longer)
    assert "recentre=True" in e.value.hint
    np.testing.assert_allclose(run.predict(longer, recentre=True).to_numpy(), want.to_numpy(), rtol=1e-6)
    with pytest.raises(InputError, match=rf"reads {L} bp sequences, got {L - 1} bp"):
        run.predict(codes[:, 1:], recentre=True)  # shorter ones are never padded
    with pytest.raises(InputError, match="0 and 1 only"):
        run.predict(codes_to_onehot(codes) * 0.5)
    with pytest.raises(InputError, match="transpose"):
        run.predict(codes_to_onehot(codes).transpose(0, 2, 1))
    with pytest.raises(InputError, match="not one string"):
        run.predict("ACGT" * (L // 4))


def test_every_sequence_family_reads_every_input_form(iq_run, demo_dataset, tmp_path):
    from cisgram.genome import Genome
    from tests.toys import cnn_run, tfbind_run

    res = CliRunner().invoke(app, ["train", "baseline", "--kind", "kmer-ridge", "-d", str(demo_dataset), "-T", "K562",
                                   "-o", str(tmp_path / "kmer")])
    assert res.exit_code == 0, res.output
    iq = cisgram.load(iq_run)
    preds = pd.read_parquet(iq_run / "predictions.parquet").head(6)
    import anndata as ad

    var = ad.read_h5ad(demo_dataset).var.loc[preds["region"].unique()]
    codes = Genome(iq.config["genome"]).fetch_codes_batch(var["chrom"], var["start"], var["end"])
    for path in (iq_run, tmp_path / "kmer"):
        _check_protocol(cisgram.load(path), codes)
    assert cisgram.load(tmp_path / "kmer").length == 500  # the baseline records the width it was trained on
    cnn = cisgram.load(cnn_run(tmp_path / "cnn", length=200, targets=("a", "b")))
    _check_protocol(cnn, codes[:, 150:350])
    tf = cisgram.load(tfbind_run(tmp_path / "tfbind", length=200))
    assert tf.family == "tfbind" and tf.targets == ["genomic:cnn", "gc:cnn"] and tf.length == 200
    _check_protocol(tf, codes[:, 150:350])
    # each column is its strategy's own network
    from cisgram.inference import predict

    np.testing.assert_allclose(tf.predict(codes[:, 150:350])["gc:cnn"], predict(tf.strategies["gc"].model,
                               codes[:, 150:350])[:, 0], rtol=1e-6)


def test_run_configs_store_resolved_paths_and_the_paths_as_given(iq_run):
    cfg = json.loads((iq_run / "config.json").read_text())
    from pathlib import Path

    assert Path(cfg["dataset"]).is_absolute() and Path(cfg["dataset"]).is_file()
    assert Path(cfg["dataset"]) == Path(cfg["dataset_given"]).resolve()
    assert Path(cfg["genome"]).is_absolute() and "genome_given" in cfg


def test_a_get_run_predicts_with_its_lora_adapter(get_demo_run, get_demo_data):
    """``cisgram.load(get_run)`` opens the run with its adapter: windows of the held-out cell type
    (the adapter's) are predicted by the adapted network, those of another by the fine-tuned
    base; sequences are refused."""
    from cisgram.data.get_windows import tss_windows
    from cisgram.inference import predict
    from cisgram.models.get import GETModel

    run_dir, metrics, _ = get_demo_run
    _, data = get_demo_data
    run = cisgram.load(run_dir)
    assert run.family == "get" and run.adapter["cell"] == "MCF7" and run.default_cell == "MCF7"
    w = tss_windows(data, ["MCF7"], split="test", n_regions=50)
    X = np.stack([w[i].x.numpy() for i in range(4)])
    base = predict(GETModel.load(run_dir), X)
    adapted = run.predict(X)
    assert adapted.shape == (4, 50, 2) and not np.allclose(adapted, base)
    np.testing.assert_allclose(run.predict(X, cell="K562"), base, rtol=1e-6)
    # the adapted predictions are the run's own get_lora predictions at the focus entries
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    lora = preds[(preds["model"] == "get_lora") & (preds["split"] == "test")].set_index(["region", "strand"])
    names = data.regions["name"].to_numpy()
    for i in range(4):
        f = w[i].focus
        for s, strand in enumerate("+-"):
            if w[i].has_tss[f, s]:
                assert lora.loc[(names[w[i].first + f], strand), "predicted"] == pytest.approx(float(adapted[i, f, s]),
                                                                                           rel=1e-5, abs=1e-6)
    with pytest.raises(cisgram.errors.InputError, match="region-by-motif"):
        run.predict(["ACGT" * 10])
    with pytest.raises(cisgram.errors.InputError, match="region-by-motif"):
        run.predict(regions="peaks.bed")


def test_runs_that_keep_checkpoints_are_unfinished_until_written(tmp_path):
    """``begin_run``: a run directory holds ``checkpoint/`` from the start of training until its
    metrics are written; ``cisgram.load`` refuses it meanwhile (also an earlier run's files there),
    and a new run there needs ``resume`` (same options) once an epoch has been kept."""
    from cisgram.checkpoints import write_checkpoint
    from cisgram.errors import InputError
    from cisgram.workflows.rundir import begin_run, end_run
    from tests.toys import cnn_run, tfbind_run

    out = cnn_run(tmp_path / "run")  # a finished run of earlier
    (out / "metrics.json").write_text("{}")
    with pytest.raises(InputError, match="nothing to resume"):
        begin_run(out, {"lr": 1}, resume=True)
    ck = begin_run(out, {"lr": 1})
    assert ck == out / "checkpoint" and not (out / "metrics.json").exists()
    with pytest.raises(InputError, match="unfinished run: resume it with --resume"):
        cisgram.load(out)  # the earlier run's model is still there, but it is not this run's
    assert begin_run(out, {"lr": 2}) == ck  # stopped before an epoch was kept: it starts again, any options
    write_checkpoint({"epoch": 0}, ck / "cnn")
    with pytest.raises(InputError, match="an unfinished run is in this directory") as e:
        begin_run(out, {"lr": 2})
    assert "--resume" in e.value.hint
    with pytest.raises(InputError, match="lr: 2 then, 3 now"):
        begin_run(out, {"lr": 3}, resume=True)
    assert begin_run(out, {"lr": 2}, resume=True) == ck and (ck / "cnn" / "latest.json").is_file()
    (out / "metrics.json").write_text("{}")
    end_run(out)
    assert not ck.exists() and cisgram.load(out).family == "cnn"
    # a tfbind run's strategy directories are refused while their run is unfinished
    tf = tfbind_run(tmp_path / "tf")
    begin_run(tf, {})
    for d in (tf, tf / "gc"):
        with pytest.raises(InputError, match="unfinished run"):
            cisgram.load(d)
