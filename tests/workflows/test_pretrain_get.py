"""GET's foundation workflow on the real demo slice: `cisgram pretrain get` writes a
self-describing directory, `cisgram train get --init` loads it and fine-tunes it for a cell type
whose expression it never saw, LoRA from the pre-trained base trains only adapters and head (base
bit-identical), several seeds give the ensemble and its spread, and models of other features are
refused with the columns that differ."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from cisgram.cli.app import app
from cisgram.errors import InputError
from cisgram.models.get import GETModel
from cisgram.models.lora import apply_lora, load_lora
from cisgram.workflows.get_entries import LORA_TARGETS, LORA_TRAINABLE, evaluate_entries
from cisgram.workflows.pretrain_get import load_pretrained
from cisgram.workflows.rundir import load
from cisgram.workflows.train_get import train_get

R = 50
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def pretrained(get_demo_data, tmp_path_factory):
    """`cisgram pretrain get` on the demo slice (a tiny network, 2 epochs): (directory, output)."""
    path, _ = get_demo_data
    out = tmp_path_factory.mktemp("pretrained") / "pre"
    res = CliRunner().invoke(app, ["pretrain", "get", "-d", str(path), "-o", str(out), "--n-regions", str(R),
                                   "--max-epochs", "2", "--threads", "1", "--zscore-targets"])
    assert res.exit_code == 0, res.output
    return out, res.output


@pytest.fixture(scope="module")
def adapted(get_demo_data, pretrained, tmp_path_factory):
    """Fine-tune the pre-trained model on K562 only, LoRA from the pre-trained base on MCF7,
    2 seeds."""
    path, _ = get_demo_data
    out = tmp_path_factory.mktemp("from_pre") / "run"
    res = train_get(path, out, init=pretrained[0], cells=["K562"], leave_out="MCF7", lora=True,
                    lora_base="pretrained", seeds=2, n_regions=R, max_epochs=2, patience=2,
                    baselines=("mean", "linear"), seed=3)
    return out, res


def test_pretrained_directory_describes_itself(pretrained, get_demo_data):
    d, said = pretrained
    _, data = get_demo_data
    for name in ("config.json", "model.json", "model.safetensors", "split.json", "history.json", "metrics.json"):
        assert (d / name).is_file(), name
    config = json.loads((d / "config.json").read_text())
    metrics = json.loads((d / "metrics.json").read_text())
    assert config["family"] == "get-pretrained" and config["cell_types"] == list(data.cell_types)
    assert config["training"]["zscore_pretrain"] is True and config["n_features"] == data.n_features
    assert json.loads((d / "model.json").read_text())["feature_names"] == list(data.feature_names)
    assert metrics["train_windows"] > 0 and metrics["windows_per_second"] > 0 and np.isfinite(metrics["val_masked_mse"])
    assert f"{metrics['windows_per_second']:.1f} windows/s" in said
    with pytest.raises(InputError, match="pre-trained GET model"):
        load(d)  # nothing to predict with until fine-tuned


def test_fine_tuning_starts_from_the_pretrained_model(adapted, pretrained, get_demo_data):
    out, res = adapted
    _, data = get_demo_data
    cfg = res.config
    assert cfg["init"] == str(pretrained[0].resolve()) and cfg["training_cell_types"] == ["K562"]
    assert cfg["seeds"] == [3, 4] and cfg["lora_base"] == "pretrained"
    pre = GETModel.load(pretrained[0])
    assert cfg["config"] == pre.config.to_dict()
    # the untouched pre-trained network was scored as loaded, for the cell type it never saw
    ref = evaluate_entries(pre, data, ["MCF7"], R)
    got = res.predictions[res.predictions["model"] == "get_pretrained"].reset_index(drop=True)
    assert np.allclose(got["predicted"], ref["predicted"], rtol=1e-5, atol=1e-6)
    # fine-tuning moved it (MCF7 scored zero-shot, K562 on its held-out blocks)
    assert set(res.metrics["test"]) == {"K562", "MCF7"}
    assert res.metrics["held_out"] == {"K562": "blocks", "MCF7": "cell type and blocks"}
    tuned = GETModel.load(out)
    assert any(not torch.equal(a, b) for a, b in zip(tuned.net.state_dict().values(), pre.net.state_dict().values(),
                                                     strict=True))


def test_lora_from_the_pretrained_base_trains_adapters_and_head_only(adapted, pretrained, get_demo_data):
    out, res = adapted
    _, data = get_demo_data
    lm = res.metrics["lora"]
    assert lm["base"] == "pretrained" and lm["base_unchanged"] is True and lm["fraction_trained"] < 0.5
    assert json.loads((out / "lora.json").read_text())["base"] == "pretrained"
    # the saved adapter on the pre-trained base reproduces the first seed's LoRA predictions
    pre = GETModel.load(pretrained[0])
    net = apply_lora(pre.net, lm["rank"], lm["alpha"], targets=LORA_TARGETS, trainable=LORA_TRAINABLE)
    load_lora(net, load_file(str(out / "lora.safetensors")))
    mine = evaluate_entries(GETModel(net, pre.feature_names), data, ["MCF7"], R)
    seeds = pd.read_parquet(out / "seeds.parquet")
    first = seeds[(seeds["seed"] == 3) & (seeds["model"] == "get_lora")].reset_index(drop=True)
    assert np.allclose(mine["predicted"], first["predicted"], rtol=1e-4, atol=1e-5)


def test_seeds_give_the_ensemble_and_its_spread(adapted):
    out, res = adapted
    seeds = pd.read_parquet(out / "seeds.parquet")
    assert sorted(seeds["seed"].unique()) == [3, 4]
    for model in ("get", "get_lora", "mean", "linear"):
        rows = res.predictions[res.predictions["model"] == model].reset_index(drop=True)
        per = [seeds[(seeds["seed"] == s) & (seeds["model"] == model)].reset_index(drop=True) for s in (3, 4)]
        assert np.allclose(rows["predicted"], (per[0]["predicted"] + per[1]["predicted"]) / 2)
    spread = res.metrics["seeds"]["models"]["get"]["test"]["MCF7"]["pearson"]
    vals = spread["values"]
    assert len(vals) == 2 and spread["mean"] == pytest.approx(np.mean(vals))
    assert spread["sd"] == pytest.approx(np.std(vals, ddof=1)) and spread["sd"] > 0
    assert res.metrics["seeds"]["models"]["linear"]["test"]["MCF7"]["pearson"]["sd"] == 0  # deterministic


def test_other_features_are_refused_naming_the_columns(pretrained, get_demo_data, tmp_path):
    path, data = get_demo_data
    bad = tmp_path / "bad"
    shutil.copytree(pretrained[0], bad)
    meta = json.loads((bad / "model.json").read_text())
    names = meta["feature_names"]
    names[2], names[3] = names[3], names[2]
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=f"first differ at column 2 \\({names[2]} vs {data.feature_names[2]}\\)"):
        load_pretrained(bad, data)
    with pytest.raises(InputError, match="fixes d_model"):
        train_get(path, tmp_path / "r", init=pretrained[0], config_overrides={"d_model": 64})
    with pytest.raises(InputError, match="LoRA from the pre-trained base needs one"):
        train_get(path, tmp_path / "r", leave_out="MCF7", lora=True, lora_base="pretrained")
    with pytest.raises(InputError, match="not a pre-trained GET model"):
        train_get(path, tmp_path / "r", init=tmp_path)
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_cli_fine_tunes_from_the_pretrained_directory(pretrained, get_demo_data, tmp_path):
    path, _ = get_demo_data
    res = CliRunner().invoke(app, ["train", "get", "-d", str(path), "-o", str(tmp_path / "run"), "--init",
                                   str(pretrained[0]), "--cells", "MCF7", "--n-regions", str(R), "--max-epochs", "1",
                                   "--baselines", "mean", "--atac-target", "logcpm", "--threads", "1"])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["training_cell_types"] == ["MCF7"] and m["accessibility"]["target"] == "logcpm"
    assert f"MCF7 (held out: blocks): test r {m['test']['MCF7']['pearson']:.3f}" in res.output
    assert "ATAC head, test r: MCF7" in res.output
    atac = pd.read_parquet(tmp_path / "run" / "accessibility.parquet")
    assert set(atac["split"]) == {"test"} and len(atac) == m["accessibility"]["test"]["MCF7"]["n"]


def test_a_killed_pretraining_resumes_to_the_uninterrupted_numbers(get_demo_data, tmp_path, monkeypatch):
    import cisgram.workflows.pretrain_get as pg
    from tests.test_training import _kill_in, _Killed

    path, _ = get_demo_data
    kw = dict(n_regions=R, max_epochs=2, patience=2, config_overrides={"d_model": 32, "n_layers": 1, "mlp_dim": 64},
              seed=2)
    whole = pg.pretrain_get(path, tmp_path / "whole", **kw)
    real_fit = pg.fit
    monkeypatch.setattr(pg, "fit", lambda *a, **k: real_fit(*a, callbacks=(_kill_in(1),), **k))
    with pytest.raises(_Killed):
        pg.pretrain_get(path, tmp_path / "pre", **kw)
    monkeypatch.setattr(pg, "fit", real_fit)
    with pytest.raises(InputError, match="unfinished run"):
        load_pretrained(tmp_path / "pre", get_demo_data[1])
    resumed = pg.pretrain_get(path, tmp_path / "pre", **kw, resume=True)
    for key in ("val_masked_mse", "best_epoch", "train_windows"):
        assert resumed.metrics[key] == whole.metrics[key], key
    assert [{k: v for k, v in e.items() if k != "seconds"} for e in resumed.history["epochs"]] == \
           [{k: v for k, v in e.items() if k != "seconds"} for e in whole.history["epochs"]]
    a, b = load_file(str(tmp_path / "pre" / "model.safetensors")), load_file(str(tmp_path / "whole" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
