"""`cisgram train chrombpnet` and `cisgram predict --bigwig` on the planted simulation of
``tests/workflows/conftest.py`` (a random genome with a Tn5-like preference and AP-1 peaks; the
tiny run is trained once per session there)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyBigWig
import pytest
from typer.testing import CliRunner

import cisgram
from cisgram.cli.app import app
from cisgram.errors import InputError
from cisgram.inference import predict
from cisgram.metrics import profile_pearson
from cisgram.tracks import write_bigwig
from cisgram.workflows.predict import first_cover
from cisgram.workflows.train_chrombpnet import train_chrombpnet
from tests.workflows.conftest import IN, MOTIF, OUT, SIZES, TINY, Sim


@pytest.fixture
def sim(chrombpnet_sim) -> Sim:
    return chrombpnet_sim


@pytest.fixture
def run(chrombpnet_run):
    return chrombpnet_run


def _windows(preds: pd.DataFrame) -> pd.DataFrame:
    """The input windows named in a predictions table, as a BED table."""
    parts = preds["region"].str.extract(r"^(?P<chrom>[^:]+):(?P<start>\d+)-(?P<end>\d+)$")
    return parts.astype({"start": np.int64, "end": np.int64}).reset_index(drop=True)


def _true_bias(sim: Sim, windows: pd.DataFrame) -> np.ndarray:
    lo = (IN - OUT) // 2
    return np.stack([sim.bias_rate[c][s + lo: s + lo + OUT] for c, s in zip(windows["chrom"], windows["start"],
                                                                           strict=True)])


def _codes(sim: Sim, windows: pd.DataFrame) -> np.ndarray:
    return np.stack([sim.codes[c][s:e] for c, s, e in zip(windows["chrom"], windows["start"], windows["end"],
                                                           strict=True)])


def test_run_directory_metrics_and_report(run):
    out, result = run
    assert {"config.json", "split.json", "metrics.json", "predictions.parquet", "model.json", "model.safetensors",
            "history.json", "report.html", "bias"} <= {p.name for p in out.iterdir()}
    assert not (out / "checkpoint").exists()
    m = json.loads((out / "metrics.json").read_text())
    assert m["family"] == "chrombpnet" and set(m["test"]) == set(m["val"]) == {"sim_ins"}
    assert json.loads((out / "split.json").read_text())["test_chroms"] == ["chr3"]
    preds = pd.read_parquet(out / "predictions.parquet")
    assert list(preds.columns[:5]) == ["region", "target", "observed", "predicted", "split"]
    assert preds["region"].is_unique and set(preds["kind"]) == {"peak", "background"}
    # the headline is the count metrics on test peaks; the subsets cover background and both
    test_peaks = preds[(preds["split"] == "test") & (preds["kind"] == "peak")]
    assert m["test"]["sim_ins"]["n"] == len(test_peaks) > 50
    assert m["subsets"]["peaks+background"]["test"]["sim_ins"]["n"] == int((preds["split"] == "test").sum())
    assert m["test"]["sim_ins"]["pearson"] > 0.5  # copies of the motif set the total (0.92-0.96 seen)
    prof = m["profile"]["test"]["sim_ins"]
    # the model's profiles beat both baselines (average profile from training peaks)
    assert prof["full"]["jsd"] < prof["average"]["jsd"] - 0.05 < prof["shuffled"]["jsd"]
    assert m["bias"]["background"]["profile"]["bias"]["jsd"] < m["bias"]["background"]["profile"]["average"]["jsd"]
    assert m["n_params"] > 0 and m["train_seconds"] > 0
    html = (out / "report.html").read_text()
    assert "Profile metrics on test peaks" in html and "Bias model (Tn5 preference, frozen)" in html
    assert html.count("<img") >= 6 and len(result.examples) == 4


def test_bias_model_learns_the_planted_tn5_preference(run, sim):
    """On test background the bias model's profile follows the planted 7-mer preference (median
    profile Pearson with the true rate 0.72-0.87 over three simulation and training seeds; floor
    0.5)."""
    out, _ = run
    opened = cisgram.load(out)
    preds = pd.read_parquet(out / "predictions.parquet")
    bg = _windows(preds[(preds["split"] == "test") & (preds["kind"] == "background")])
    truth = _true_bias(sim, bg)
    bias = predict(opened.model, _codes(sim, bg), output="profile", part="bias")
    assert np.median(profile_pearson(bias, truth)) > 0.5


def test_bias_free_model_reads_the_motif_not_the_bias(run, sim):
    """The bias-free model: (1) its count rises when the motif is planted in test background
    sequence, more than when a scrambled copy of it is (mean rise 0.05-0.45 in log count against
    ±0.001 over three simulation and training seeds); (2) its profile on background does not follow
    the Tn5 preference, which the full model's does (median profile Pearson with the true rate:
    full 0.69-0.82, bias-free -0.15-0.24)."""
    out, _ = run
    opened = cisgram.load(out)
    preds = pd.read_parquet(out / "predictions.parquet")
    bg = _windows(preds[(preds["split"] == "test") & (preds["kind"] == "background")])
    codes = _codes(sim, bg)
    mid = IN // 2

    def planted(site: str) -> np.ndarray:
        c = codes.copy()
        c[:, mid - 3: mid + 4] = np.array(["ACGT".index(b) for b in site])
        return opened.predict(c, bias_free=True).to_numpy()[:, 0]

    ref = opened.predict(codes, bias_free=True).to_numpy()[:, 0]
    with_motif, scrambled = planted(MOTIF) - ref, planted("CTTAGCA") - ref
    assert (with_motif > 0).mean() > 0.9 and with_motif.mean() > scrambled.mean() + 0.02
    truth = _true_bias(sim, bg)
    full = np.median(profile_pearson(opened.profiles(codes)[:, 0], truth))
    free = np.median(profile_pearson(opened.profiles(codes, bias_free=True)[:, 0], truth))
    assert full > 0.5 and free < full - 0.3


def test_load_reproduces_the_predictions_table(run):
    out, _ = run
    opened = cisgram.load(out)
    assert opened.family == "chrombpnet" and opened.length == IN and opened.targets == ["sim_ins"]
    preds = pd.read_parquet(out / "predictions.parquet")
    sample = preds.iloc[::7]
    got = opened.predict(regions=_windows(sample))
    assert list(got.index) == list(sample["region"])
    np.testing.assert_allclose(got["sim_ins"].to_numpy(), sample["predicted"].to_numpy(), rtol=1e-5, atol=1e-5)
    free = opened.predict(regions=_windows(sample), bias_free=True)
    np.testing.assert_allclose(free["sim_ins"].to_numpy(), sample["predicted_bias_free"].to_numpy(), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("bias_free", [False, True])
def test_predicted_bigwig_equals_the_loaded_model(run, sim, tmp_path, bias_free):
    """`cisgram predict --bigwig` writes softmax × total over each region's output window; where
    windows overlap the one starting first writes (two regions 60 bp apart overlap here)."""
    out, _ = run
    regions = pd.DataFrame({"chrom": ["chr3", "chr3", "chr1", "chr3"], "start": [2400, 2460, 5000, 30_000],
                            "end": [2600, 2660, 5200, 30_200]})
    bed = tmp_path / "r.bed"
    regions.to_csv(bed, sep="\t", header=False, index=False)
    bw_path = tmp_path / "p.bw"
    args = ["predict", "--model", str(out), "--regions", str(bed), "--bigwig", str(bw_path)]
    res = CliRunner().invoke(app, args + (["--bias-free"] if bias_free else []))
    assert res.exit_code == 0, res.output
    opened = cisgram.load(out)
    prof = opened.profiles(regions=bed, bias_free=bias_free)[:, 0]
    starts = (regions["start"] + regions["end"]) // 2 - IN // 2 + (IN - OUT) // 2
    with pyBigWig.open(str(bw_path)) as bw:
        assert bw.chroms() == SIZES
        n_written = 0
        for chrom, i, lo in first_cover(regions["chrom"].to_numpy(), starts.to_numpy(), OUT, {c: k for k, c in
                                                                                           enumerate(SIZES)}):
            hi = int(starts[i]) + OUT
            got = np.asarray(bw.values(chrom, lo, hi))
            np.testing.assert_allclose(got, prof[i, lo - starts[i]:], rtol=1e-5)
            n_written += hi - lo
        assert n_written == 3 * OUT + 60  # the second window adds the 60 bp past the first's end
        assert np.isnan(bw.values("chr3", 2000, 2001)[0])  # outside every window: no data


def test_no_bias_run_and_reused_bias_model(run, sim, tmp_path):
    """--no-bias trains the accessibility model alone (no bias part); --bias-model reuses a run's
    bias model, its counts shifted to the new sample (here the same one: a small shift)."""
    out, _ = run
    quick = {**TINY, "max_epochs": 1, "patience": 1, "n_examples": 1}
    lone = train_chrombpnet(sim.fasta, sim.bigwig, sim.peaks, tmp_path / "lone", no_bias=True, **quick)
    assert lone.metrics["bias"] is None and lone.bias_source == "none" and not (tmp_path / "lone" / "bias").exists()
    opened = cisgram.load(tmp_path / "lone")
    x = np.zeros((1, IN), np.uint8)
    np.testing.assert_allclose(opened.predict(x), opened.predict(x, bias_free=True))
    with pytest.raises(InputError, match="without a bias model"):
        predict(opened.model, x, part="bias")
    reused = train_chrombpnet(sim.fasta, sim.bigwig, sim.peaks, tmp_path / "reused", bias_model=out, **quick)
    assert "bias" not in reused.history and reused.metrics["bias"]["source"] == str(out.resolve())
    assert abs(reused.metrics["bias"]["count_offset"]) < 0.05
    with pytest.raises(InputError, match="not a bias model"):
        train_chrombpnet(sim.fasta, sim.bigwig, sim.peaks, tmp_path / "bad", bias_model=tmp_path / "lone", **quick)


def test_bad_inputs_are_one_line_errors(sim, tmp_path, cisgram_main):
    """Through the command line's own main(): an output window the input cannot fill, and a bigWig
    of another assembly (chromosome lengths differ) are one-line errors with exit status 2."""
    base = ["train", "chrombpnet", "-g", sim.fasta, "-p", sim.peaks, "-o", tmp_path / "o", "--n-filters", "4",
            "--n-layers", "2", "--bias-filters", "4", "--bias-layers", "1"]
    code, _, err = cisgram_main(*base, "-b", sim.bigwig, "--input-len", "200", "--output-len", "150")
    assert code == 2 and "output window larger than input allows" in err and len(err.strip().splitlines()) <= 3, err
    other = tmp_path / "other.bw"
    write_bigwig(other, {c: n + 1000 for c, n in SIZES.items()}, [("chr1", np.array([5]), np.array([1.0]))])
    code, _, err = cisgram_main(*base, "-b", other, "--input-len", IN, "--output-len", OUT)
    assert code == 2 and "bp in this bigWig but" in err and "same assembly" in err, err
    assert len(err.strip().splitlines()) <= 3 and "Traceback" not in err
