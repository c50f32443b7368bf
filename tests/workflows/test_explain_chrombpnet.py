"""`cisgram explain` on a ChromBPNet run: the tiny run of ``tests/workflows/conftest.py`` (planted
AP-1 sites, TGACTCA, in peaks; a Tn5-like preference everywhere), explained on 8 test background
windows (no site) with the site planted 20 bp right of their centre.

Measured on this run (seed 0), |per-base score| summed over the 7 bp site against the mean over
random 7 bp spans elsewhere, mean over the 8 sequences: log counts (bias-free) ISM 0.64 vs 0.044,
input × gradient 0.11 vs 0.035, DeepLIFT 0.19 vs 0.010; profile scalar ISM 1.66 vs 0.017,
input × gradient 0.45 vs 0.007, DeepLIFT 0.28 vs 0.003. The signed site sum is positive for every
method, and ISM ranks the bases around the site as the gradient methods do (mean Spearman over
the site ± 5 bp with input × gradient and DeepLIFT: 0.87 and 0.85 for counts, 0.85 and 0.88 for
profile).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from cisgram.genome import codes_to_onehot
from cisgram.interpret.attribution import position_scores
from cisgram.workflows.explain import explain_regions
from tests.workflows.conftest import IN, MOTIF

METHODS = ("ism", "saliency", "input_x_gradient", "deeplift")
AT = IN // 2 + 17  # the planted site's first base: 20 bp right of the window's centre, centred


@pytest.fixture(autouse=True, scope="module")
def _threads(one_thread):
    yield


@pytest.fixture(scope="module")
def planted(chrombpnet_run, chrombpnet_sim) -> np.ndarray:
    """``(8, IN)`` codes: test background windows with MOTIF planted at AT."""
    preds = pd.read_parquet(chrombpnet_run[0] / "predictions.parquet")
    bg = preds[(preds["split"] == "test") & (preds["kind"] == "background")].head(8)
    parts = bg["region"].str.extract(r"^([^:]+):(\d+)-(\d+)$")
    codes = np.stack([chrombpnet_sim.codes[c][int(s):int(e)] for c, s, e in parts.itertuples(index=False)])
    codes[:, AT: AT + len(MOTIF)] = np.array(["ACGT".index(b) for b in MOTIF])
    return codes


@pytest.fixture(scope="module")
def explained(chrombpnet_run, planted, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("explained")
    return {target: (explain_regions(chrombpnet_run[0], out / target, sequences=planted, methods=METHODS,
                                     target=target), np.load(out / target / "attributions.npz"), out / target)
            for target in ("counts", "profile")}


def _scores(arrays, codes: np.ndarray, method: str) -> np.ndarray:
    return position_scores(arrays[method], codes_to_onehot(codes), method="ism" if method == "ism" else None)


@pytest.mark.parametrize("target", ["counts", "profile"])
def test_attributions_concentrate_on_the_planted_site(explained, planted, target):
    result, arrays, out = explained[target]
    conf = json.loads((out / "config.json").read_text())
    assert conf["target"] == target and conf["part"] == "bias_free" and conf["n_unresponsive"] == 0
    assert result.unresponsive.sum() == 0 and arrays["deeplift"].shape == (8, 4, IN)
    spans = [s for s in np.random.default_rng(0).integers(0, IN - 7, 200) if abs(s - AT) > 10]
    for m in METHODS:
        imp = np.abs(_scores(arrays, planted, m))
        on = imp[:, AT: AT + 7].sum(1)
        off = np.mean([imp[:, s: s + 7].sum(1) for s in spans], axis=0)
        assert on.mean() > 2.5 * off.mean(), (m, on.mean(), off.mean())  # 3.2x-100x seen
        if m in ("ism", "deeplift"):
            assert (on > 3 * off).all(), (m, on / off)  # 8x-70x seen, per sequence


@pytest.mark.parametrize("target", ["counts", "profile"])
def test_ism_agrees_with_the_gradient_methods_in_sign_and_rank(explained, planted, target):
    _, arrays, _ = explained[target]
    ism = _scores(arrays, planted, "ism")
    assert (ism[:, AT: AT + 7].sum(1) > 0).all()  # the site raises the output in every sequence
    near = slice(AT - 5, AT + 12)
    for m in ("input_x_gradient", "deeplift"):
        grad = _scores(arrays, planted, m)
        assert (grad[:, AT: AT + 7].sum(1) > 0).all(), m
        rho = [spearmanr(a[near], b[near])[0] for a, b in zip(ism, grad, strict=True)]
        assert np.mean(rho) > 0.6, (m, rho)  # 0.82-0.89 seen


def test_the_full_model_is_explained_on_request(chrombpnet_run, planted, explained, tmp_path):
    """--part full explains the model with the bias added: other attributions, other predictions."""
    full = explain_regions(chrombpnet_run[0], tmp_path, sequences=planted, methods=("input_x_gradient",),
                           part="full")
    free = explained["counts"]
    assert json.loads((tmp_path / "config.json").read_text())["part"] == "full"
    assert np.abs(full.predictions - free[0].predictions).min() > 1e-3
    diff = np.abs(np.load(tmp_path / "attributions.npz")["input_x_gradient"] - free[1]["input_x_gradient"]).max()
    assert diff > 1e-3


def test_cli_explains_regions_and_refuses_bad_requests_in_one_line(chrombpnet_run, chrombpnet_sim, tmp_path,
                                                                   cisgram_main):
    from tests.toys import cnn_run

    run, _ = chrombpnet_run
    bed = tmp_path / "r.bed"
    bed.write_text("".join(f"chr3\t{c - 100}\t{c + 100}\n" for c in (2500, 3500, 4500)))
    code, out, err = cisgram_main("explain", "--model", run, "--regions", bed, "-o", tmp_path / "ex", "--target",
                                  "profile", "--method", "ism,deeplift", "--logos", "2")
    assert code == 0, err
    assert "3 sequences explained with ism, deeplift" in out and (tmp_path / "ex" / "report.html").is_file()
    z = np.load(tmp_path / "ex" / "attributions.npz")
    assert z["ism"].shape == z["deeplift"].shape == (3, 4, IN)
    assert list(z["names"]) == [f"chr3:{c - IN // 2}-{c + IN // 2}" for c in (2500, 3500, 4500)]
    for args, says in ((("--target", "expression"), "explains --target counts or profile"),
                       (("--part", "biased"), "unknown part 'biased'")):
        code, _, err = cisgram_main("explain", "--model", run, "--regions", bed, "-o", tmp_path / "bad", *args)
        assert code == 2 and says in err and str(run) in err and len(err.strip().splitlines()) <= 2, err
    cnn = cnn_run(tmp_path / "cnn", length=200, genome=chrombpnet_sim.fasta)
    for args, says in ((("--part", "full"), "--part chooses the network of a ChromBPNet run"),
                       (("--target", "profile"), "no target 'profile'")):
        code, _, err = cisgram_main("explain", "--model", cnn, "--regions", bed, "-o", tmp_path / "bad", *args)
        assert code == 2 and says in err and str(cnn) in err and len(err.strip().splitlines()) <= 2, err
