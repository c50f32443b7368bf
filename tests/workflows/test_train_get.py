"""`cisgram train get` (cisgram.workflows.train_get): a complete run directory on the real demo slice
(pre-training, leave-one-cell-type-out fine-tuning, baselines, LoRA), predictions that the saved
model and adapter reproduce, frozen LoRA bases, and a simulated grammar (motif A at the TSS ×
motif B density nearby + accessibility) that the transformer learns and the focus-region
baselines cannot."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from cisgram.data.get import RegionMotifData
from cisgram.data.get_windows import MaskedWindows, tss_windows
from cisgram.errors import InputError
from cisgram.inference import predict
from cisgram.models.get import GETConfig, GETModel, RegionTransformer
from cisgram.training import GETTraining, TrainConfig, entry_weight, fit, pretrain_loss
from cisgram.workflows.get_entries import focus_predictions, lora_finetune
from cisgram.workflows.train_get import BASELINES, train_get

R = 50  # as in the conftest GET demo run


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors (conftest)


def tiny(n_features: int, **kw) -> GETConfig:
    return GETConfig.small(n_features=n_features, d_model=32, n_layers=1, mlp_dim=64, **kw)


@pytest.fixture(scope="module")
def demo_data(get_demo_data):
    return get_demo_data


@pytest.fixture(scope="module")
def demo_run(get_demo_run):
    return get_demo_run


# ------------------------------------------------------------------------------------ the run directory
def test_run_directory_is_complete(demo_run, demo_data):
    out, metrics, said = demo_run
    for name in ("config.json", "split.json", "metrics.json", "predictions.parquet", "model.safetensors", "model.json",
                 "history.json", "report.html", "lora.safetensors", "lora.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics, default=float))
    config = json.loads((out / "config.json").read_text())
    assert config["family"] == "get" and config["leave_out"] == "MCF7" and config["pretrain"] and config["lora"]
    assert config["training_cell_types"] == ["K562", "GM12878"] and config["n_regions"] == R
    assert config["config"]["d_model"] == 32 and config["data"] == str(demo_data[0])
    history = json.loads((out / "history.json").read_text())
    assert set(history) >= {"pretrain", "finetune", "lora", "timings"}
    assert all(1 <= len(history[k]["epochs"]) <= 3 for k in ("pretrain", "finetune", "lora"))
    split = json.loads((out / "split.json").read_text())
    assert {b["split"] for b in split["blocks"]} == {"train", "val", "test"}
    assert any("pre-training" in s for s in said) and any("LoRA" in s for s in said)
    page = (out / "report.html").read_text()
    assert "Test metrics" in page and "random_forest" in page and page.count("<img") >= 3 * 6


def test_metrics_have_one_shape_for_every_model(demo_run):
    _, m, _ = demo_run
    assert m["family"] == "get" and m["leave_out"] == "MCF7"
    assert m["held_out"] == {"K562": "blocks", "GM12878": "blocks", "MCF7": "cell type and blocks"}
    assert set(m["baselines"]) == set(BASELINES)
    for scores in [m, *m["baselines"].values(), m["lora"]]:
        for split in ("val", "test"):
            expressed = scores["subsets"]["expressed"][split]
            for cell, s in scores[split].items():
                assert set(s) >= {"pearson", "spearman", "r2", "n"}
                assert 0 < expressed[cell]["n"] <= s["n"]
    assert set(m["test"]) == {"K562", "GM12878", "MCF7"} and set(m["lora"]["test"]) == {"MCF7"}
    # the demo's test blocks hold 25 TSS entries per cell type, scored the same for every model
    assert {s["n"] for s in m["test"].values()} == {25}
    assert all(m["baselines"][b]["test"]["MCF7"]["n"] == 25 for b in BASELINES)
    # real numbers: the other cell types' mean and the feature models track expression
    assert m["baselines"]["mean"]["test"]["MCF7"]["pearson"] > 0.6
    assert m["baselines"]["random_forest"]["test"]["K562"]["pearson"] > 0.3


def test_predictions_match_the_saved_model(demo_run, demo_data):
    out, _, _ = demo_run
    _, data = demo_data
    preds = pd.read_parquet(out / "predictions.parquet")
    assert list(preds.columns) == ["region", "cell", "target", "strand", "observed", "predicted", "split", "model",
                                   "held_out"]
    assert set(preds["model"]) == {"get", *BASELINES, "get_lora"}
    assert (preds["cell"] == preds["target"]).all() and set(preds["split"]) == {"val", "test"}
    model = GETModel.load(out)
    ws = tss_windows(data, ["MCF7"], split="test", n_regions=R)
    names = data.regions["name"].to_numpy()
    get = preds[(preds["model"] == "get") & (preds["cell"] == "MCF7")].set_index(["region", "strand"])
    checked = 0
    for i in (0, 3, len(ws) - 1):
        w = ws[i]
        y = predict(model, w.x[None])[0, w.focus]
        for s, strand in enumerate("+-"):
            if w.has_tss[w.focus, s]:
                row = get.loc[(names[w.first + w.focus], strand)]
                assert row["predicted"] == pytest.approx(float(y[s]), rel=1e-5, abs=1e-6)
                assert row["observed"] == pytest.approx(float(data.targets[2, w.first + w.focus, s]))
                checked += 1
    assert checked >= 3
    # baselines score the very same entries
    keys = ["region", "cell", "strand", "split"]
    ref = preds[preds["model"] == "get"][keys].reset_index(drop=True)
    for b in BASELINES:
        pd.testing.assert_frame_equal(preds[preds["model"] == b][keys].reset_index(drop=True), ref)


def test_lora_adapter_is_small_and_reproduces_its_predictions(demo_run, demo_data):
    from safetensors.torch import load_file

    from cisgram.models.lora import apply_lora, load_lora

    out, m, _ = demo_run
    _, data = demo_data
    lm = m["lora"]
    assert lm["base_unchanged"] is True and lm["rank"] == 8 and lm["cell"] == "MCF7"
    assert lm["adapter_bytes"] == (out / "lora.safetensors").stat().st_size
    assert lm["adapter_bytes"] < 0.4 * (out / "model.safetensors").stat().st_size
    assert 0 < lm["fraction_trained"] < 0.3
    state = load_file(str(out / "lora.safetensors"))
    assert all(k.endswith((".lora_A", ".lora_B")) or k.startswith("expression_head.") for k in state)
    # base + adapter reproduce the LoRA predictions of the run
    net = apply_lora(GETModel.load(out).net, 8, 16.0, targets=("region_embed", "encoder"),
                     trainable=("expression_head",))
    load_lora(net, state)
    again = focus_predictions(GETModel(net, list(data.feature_names)),
                              tss_windows(data, ["MCF7"], split="test", n_regions=R))
    preds = pd.read_parquet(out / "predictions.parquet")
    lora = preds[(preds["model"] == "get_lora") & (preds["split"] == "test")]
    np.testing.assert_allclose(lora["predicted"].to_numpy(), again["predicted"].to_numpy(), rtol=1e-5, atol=1e-6)


def test_lora_finetune_keeps_base_weights_bit_identical(demo_data):
    _, data = demo_data
    torch.manual_seed(0)
    net = RegionTransformer(tiny(data.n_features))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    adapted, result = lora_finetune(net, data, "MCF7", TrainConfig(max_epochs=2, patience=2, batch_size=8, lr=1e-2),
                                    n_regions=R)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # the caller's net untouched
    ref = adapted.state_dict()
    for k, v in before.items():  # and the adapted copy's frozen bases too
        if k.startswith("expression_head."):
            continue
        key = k if k in ref else k.replace(".weight", ".base.weight").replace(".bias", ".base.bias")
        assert torch.equal(ref[key], v), k
    head = adapted.expression_head.weight
    lora_b = adapted.encoder.blocks[0].mlp.fc1.lora_B
    assert not torch.equal(head, before["expression_head.weight"]) and lora_b.abs().sum() > 0
    assert len(result.history) >= 1


# ------------------------------------------------------------------------------------ pieces
def test_masks_are_seeded_and_scored_on_the_split_only(demo_data):
    from cisgram.data.get_windows import RegionWindows

    _, data = demo_data
    ws = RegionWindows(data, None, split="train", n_regions=R, require_targets=False)
    mw = MaskedWindows(ws, seed=3)
    a, b = mw[5], mw[5]
    assert torch.equal(a.mask, b.mask) and int(a.mask.sum()) == R // 2
    mw.set_epoch(1)
    assert not torch.equal(mw[5].mask, a.mask) and ws.epoch == 1
    fixed = MaskedWindows(ws, seed=3, fixed=True)
    m0 = fixed[5].mask
    fixed.set_epoch(4)
    assert torch.equal(fixed[5].mask, m0)
    # the loss ignores regions outside the window's split: changing their reconstruction target changes nothing
    net = RegionTransformer(tiny(data.n_features))
    batch = torch.utils.data.default_collate([fixed[i] for i in range(4)])
    outside = batch._replace(in_split=torch.zeros_like(batch.in_split))
    with torch.no_grad():
        assert float(pretrain_loss(net, outside)) == 0.0 and float(pretrain_loss(net, batch)) > 0


def test_entry_weight_reads_focus_entries_only():
    has = torch.ones(2, 5, 2, dtype=torch.bool)
    in_split = torch.tensor([[True] * 5, [True, True, False, True, True]])
    w = entry_weight(has, in_split, torch.tensor([-1, 3]))
    assert w[0].all() and int(w[1].sum()) == 2 and w[1, 3].all()


def test_fit_custom_loss_refuses_auroc(demo_data):
    with pytest.raises(InputError, match="custom loss"):
        fit(torch.nn.Linear(1, 1), [0], [0], TrainConfig(task="classification", monitor="auroc"),
            loss=lambda net, b: torch.zeros(()))


def test_bad_requests_name_the_problem(demo_data, tmp_path):
    path, data = demo_data
    with pytest.raises(InputError, match="unknown cell type 'HeLa'"):
        train_get(path, tmp_path / "a", leave_out="HeLa")
    with pytest.raises(InputError, match="LoRA adapts"):
        train_get(path, tmp_path / "b", lora=True)
    with pytest.raises(InputError, match="takes 12 features"):
        train_get(path, tmp_path / "c", config=GETConfig.small(n_features=12))
    with pytest.raises(InputError, match="unknown baseline"):
        train_get(path, tmp_path / "g", baselines=("mean", "xgboost"))
    with pytest.raises(InputError, match="unknown GET configuration keys: depth"):
        train_get(path, tmp_path / "h", config_overrides={"depth": 3})
    with pytest.raises(InputError, match="unknown GET configuration"):
        train_get(path, tmp_path / "d", config="huge")
    with pytest.raises(InputError, match="larger than every train segment"):
        train_get(path, tmp_path / "e", n_regions=600)
    with pytest.raises(InputError, match="region-motif"):
        train_get(tmp_path / "missing.npz", tmp_path / "f")
    assert not any((tmp_path / k / "metrics.json").exists() for k in "abcdefgh")


def test_cli_train_get_runs_and_refuses_in_one_line(demo_data, tmp_path):
    import subprocess
    import sys

    from typer.testing import CliRunner

    from cisgram.cli.app import app

    path, data = demo_data
    res = CliRunner().invoke(app, ["train", "get", "-d", str(path), "-o", str(tmp_path / "run"), "--n-regions", str(R),
                                   "--max-epochs", "1", "--baselines", "mean,linear", "--threads", "1"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["family"] == "get" and set(metrics["baselines"]) == {"mean", "linear"}
    for cell, m in metrics["test"].items():
        assert f"{cell} (held out: {metrics['held_out'][cell]}): test r {m['pearson']:.3f}" in res.output
    proc = subprocess.run([sys.executable, "-m", "cisgram", "train", "get", "-d", str(path), "-o", str(tmp_path / "x"),
                           "--lora"], capture_output=True, text=True)
    text = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 2 and "LoRA adapts" in text and len(text.splitlines()) <= 3 and "Traceback" not in text


# ------------------------------------------------------------------------------------ simulated grammar
def simulate(n: int = 1200, n_motifs: int = 6, cells=("c1", "c2", "c3"), k: int = 8, seed: int = 0) -> RegionMotifData:
    """One chromosome of ``n`` regions in 100-region blocks (train ×3, val, train ×3, test, ...).
    Motif A (column 0) is sparse; motif B (column 1) is present with a probability that drifts
    slowly along the chromosome. At TSS regions (every 2nd on +, every 4th on -; the last two
    columns mark them, one per strand, as a promoter motif would) the target of
    cell type c is ``2 · A_i · (share of regions with B within ± k) + accessibility_c,i``: the
    focus region's own features tell A and the accessibility, only the neighbours tell B."""
    rng = np.random.default_rng(seed)
    pattern = ["train", "train", "train", "val", "train", "train", "train", "test"]
    split = np.array([pattern[(i // 100) % len(pattern)] for i in range(n)])
    regions = pd.DataFrame({"chrom": "chrS", "start": np.arange(n) * 2000, "end": np.arange(n) * 2000 + 500,
                            "name": [f"r{i}" for i in range(n)], "split": split, "dataset_row": np.arange(n)})
    scores = (rng.random((n, n_motifs)) < 0.3) * rng.uniform(0.5, 1.0, (n, n_motifs))
    density = 0.5 + 0.5 * np.sin(np.arange(n) / 25.0 + rng.uniform(0, 6))
    scores[:, 1] = (rng.random(n) < density) * rng.uniform(0.5, 1.0, n)
    nearby = np.convolve((scores[:, 1] > 0).astype(float), np.ones(2 * k + 1), mode="same") / (2 * k + 1)
    has = np.zeros((n, 2), bool)
    has[::2, 0] = True
    has[1::4, 1] = True
    scores[:, -2:] = has  # promoter marks: where and on which strand a gene starts (as promoters show in real data)
    acc = rng.random((len(cells), n)).astype(np.float32)
    targets = np.where(has[None], 2.0 * scores[:, 0][None, :, None] * nearby[None, :, None] + acc[:, :, None], 0)
    regions["tss_plus"] = np.where(has[:, 0], "g", "")
    regions["tss_minus"] = np.where(has[:, 1], "g", "")
    return RegionMotifData(regions, tuple(cells), tuple(f"m{j}" for j in range(n_motifs)), scores.astype(np.float32),
                           np.ones(n_motifs), acc, targets.astype(np.float32), (10 ** targets - 1).astype(np.float32),
                           has, np.ones(len(cells), bool), {})


def test_transformer_learns_a_neighbourhood_grammar_the_baselines_cannot(tmp_path):
    """GET's own training throughout (zero labels, warm-up + cosine, no decay on 1-D parameters:
    ``GETTraining.faithful()``) learns the
    grammar to Pearson >= 0.95 on held-out blocks and ranks the two planted motifs first; the
    focus-region baselines cannot, and the CNN baseline, which sees only a few neighbours in
    order, does less well."""
    data = simulate()
    cfg = GETConfig.small(n_features=data.n_features, d_model=32, mlp_dim=64)
    res = train_get(data, tmp_path / "sim", config=cfg, n_regions=20, max_epochs=20, patience=5, lr=3e-3,
                    weight_decay=0.0, seed=0, baselines=("mean", "linear", "cnn"), training=GETTraining.faithful())
    m = res.metrics
    assert res.config["training"]["zero_labels"] and res.config["optimiser"]["schedule"] == "cosine"
    assert set(m["baselines"]) == {"mean", "linear", "cnn"}
    for cell in data.cell_types:  # held-out blocks of every cell type
        get = m["test"][cell]["pearson"]
        assert get >= 0.95, (cell, get)
        assert get > m["baselines"]["mean"]["test"][cell]["pearson"] + 0.2
        assert get > m["baselines"]["linear"]["test"][cell]["pearson"] + 0.05
        assert m["baselines"]["cnn"]["test"][cell]["pearson"] > m["baselines"]["linear"]["test"][cell]["pearson"]
        assert m["test"][cell]["r2"] > 0.8
    # the planted motifs A (m0) and B (m1) contribute most (the promoter marks m4, m5 only gate)
    gbm = res.gene_by_motif.drop(columns="accessibility").mean(0).sort_values(ascending=False)
    assert list(gbm.index[:2]) == ["m0", "m1"], gbm


# ------------------------------------------------------------------------------------ real chr22
@pytest.mark.shared
def test_chr22_leave_out_k562(chr22_get_data, tmp_path):
    """Zero-shot K562 on chr22's test blocks (Vierstra archetypes, 1 Mb blocks): a short run
    reads real signal, and the baselines score the same entries. (The full comparison, with
    pre-training and LoRA, is in the notes; on chr22 the transformer does not beat them.)"""
    data = chr22_get_data
    m = train_get(data, tmp_path / "run", leave_out="K562", config_overrides={"dropout": 0.1}, n_regions=50, stride=10,
                  max_epochs=8, patience=3, seed=0, baselines=("mean", "linear")).metrics
    k = m["test"]["K562"]
    assert m["held_out"]["K562"] == "cell type and blocks" and 40 <= k["n"] <= 60
    assert k["pearson"] > 0.4 and k["spearman"] > 0.3
    assert m["baselines"]["mean"]["test"]["K562"]["pearson"] > 0.7
    assert m["baselines"]["linear"]["test"]["K562"]["pearson"] > 0.5


def test_same_seed_same_numbers_and_reruns_replace_the_run(demo_data, demo_run, tmp_path):
    path, data = demo_data
    kw = dict(leave_out="MCF7", config=tiny(data.n_features), n_regions=R, max_epochs=1, patience=1, seed=4,
              baselines=("mean", "random_forest"))
    a = train_get(path, tmp_path / "a", **kw).metrics
    b = train_get(data, tmp_path / "b", **kw).metrics
    assert a["test"] == b["test"] and a["baselines"] == b["baselines"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / "predictions.parquet"),
                                  pd.read_parquet(tmp_path / "b" / "predictions.parquet"))
    # a run without LoRA written over one with it leaves no stale adapter behind
    import shutil

    shutil.copytree(demo_run[0], tmp_path / "c")
    c = train_get(path, tmp_path / "c", **kw).metrics
    assert c["lora"] is None and not (tmp_path / "c" / "lora.safetensors").exists()
    assert json.loads((tmp_path / "c" / "metrics.json").read_text())["baselines"].keys() == {"mean", "random_forest"}


def test_a_run_killed_in_its_last_stage_resumes_to_the_uninterrupted_numbers(demo_data, tmp_path, monkeypatch):
    """Every fit of a GET run (pre-training, fine-tuning, the CNN baseline, LoRA) keeps its last
    epoch: a run killed in the middle of LoRA's second epoch resumes with the other stages' kept
    weights and LoRA from its first epoch, and ends with an uninterrupted run's numbers."""
    import cisgram
    import cisgram.workflows.get_entries as entries
    from tests.test_training import _kill_in, _Killed

    path, data = demo_data
    kw = dict(leave_out="MCF7", config=tiny(data.n_features, dropout=0.1), n_regions=R, pretrain=True, lora=True,
              lora_base="pretrained", max_epochs=2, patience=2, seed=1, baselines=("mean", "cnn"))
    whole = train_get(path, tmp_path / "whole", **kw)

    def killed_lora(*args, checkpoint=None, **fit_kw):
        return fit(*args, checkpoint=checkpoint, callbacks=(_kill_in(1),), **fit_kw)

    with monkeypatch.context() as m:
        m.setattr(entries, "fit", killed_lora)
        with pytest.raises(_Killed):
            train_get(path, tmp_path / "run", **kw)
    kept = tmp_path / "run" / "checkpoint"
    assert sorted(p.name for p in kept.iterdir()) == ["run.json", "seed1-cnn", "seed1-finetune", "seed1-lora",
                                                      "seed1-pretrain"]
    assert json.loads((kept / "seed1-lora" / "latest.json").read_text())["epoch"] == 0
    with pytest.raises(InputError, match="unfinished run"):
        cisgram.load(tmp_path / "run")
    with pytest.raises(InputError, match="an unfinished run"):
        train_get(path, tmp_path / "run", **kw)
    with pytest.raises(InputError, match="seeds: \\[1\\] then, \\[2\\] now"):
        train_get(path, tmp_path / "run", **{**kw, "seed": 2}, resume=True)
    resumed = train_get(path, tmp_path / "run", **kw, resume=True)
    assert not kept.exists()
    for key in ("test", "val", "baselines", "lora"):
        assert resumed.metrics[key] == whole.metrics[key], key
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "run" / "predictions.parquet"),
                                  pd.read_parquet(tmp_path / "whole" / "predictions.parquet"))
