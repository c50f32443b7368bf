"""Sequence CNNs and the training engine on simulated sequences with a planted motif: the
networks learn it, predictions are strand-symmetric, a saved model predicts identically, and
two DDP processes (gloo) train as well as one."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch.utils.data import TensorDataset

from cisgram.data.simulate import consensus_probs, planted
from cisgram.genome import codes_to_onehot
from cisgram.inference import predict
from cisgram.models.cnn import CNNModel, DeepSEA, DilatedCNN, build, new_spec
from cisgram.training import TrainConfig, fit, masked_loss

CONSENSUS = "CCACCAGGGGGCG"  # CTCF-like core: 13 bp


def onehot(codes: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(codes_to_onehot(codes))


def _probs() -> np.ndarray:
    return consensus_probs(CONSENSUS, 0.94)


@pytest.fixture(scope="module")
def sim():
    return planted(_probs(), 3000, 200, seed=0)


def _datasets(sim):
    X = onehot(sim.codes)
    y = torch.tensor(sim.label, dtype=torch.float32)[:, None]
    return TensorDataset(X[:2000], y[:2000]), TensorDataset(X[2000:2500], y[2000:2500])


@pytest.mark.parametrize("arch", ["deepsea", "dilated"])
def test_cnn_finds_the_planted_motif(sim, arch):
    torch.manual_seed(0)
    net = DeepSEA(1, 200) if arch == "deepsea" else DilatedCNN(1, 200, layers=4, filters=32)
    res = fit(net, *_datasets(sim), TrainConfig(task="classification", max_epochs=12, patience=3))
    p = predict(res.net, sim.codes[2500:], task="classification")[:, 0]
    assert p.min() >= 0 and p.max() <= 1
    # the Bayes ceiling of this simulation is about 0.99 (sites drawn at 0.94 per position)
    assert roc_auc_score(sim.label[2500:], p) > 0.95
    assert res.best_epoch >= 0 and len(res.history) >= res.best_epoch + 1
    assert res.best_val_loss == min(h["val_loss"] for h in res.history)


def test_reverse_complement_averaging_makes_predictions_strand_symmetric(sim):
    torch.manual_seed(1)
    net = DilatedCNN(2, 200, layers=3, filters=16)
    x = sim.codes[:64]
    rc = (3 - x[:, ::-1]).copy()
    both = predict(net, x), predict(net, rc)
    np.testing.assert_allclose(both[0], both[1], rtol=1e-5, atol=1e-6)
    one = predict(net, x, rc_average=False), predict(net, rc, rc_average=False)
    assert np.abs(one[0] - one[1]).max() > 1e-4  # the network alone is not symmetric: the averaging is
    # codes and one-hot inputs give the same answer
    np.testing.assert_allclose(predict(net, onehot(x).numpy()), both[0], rtol=1e-6)


def test_saved_model_predicts_identically(tmp_path, sim):
    torch.manual_seed(2)
    spec = {"arch": "deepsea", "n_tasks": 2, "length": 200, "filters": [8, 8, 8], "hidden": 8}
    net = build(spec)
    for m in net.modules():  # non-trivial batch-norm statistics must travel too
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    model = CNNModel(net, spec, "regression", ["a", "b"], np.array([1.0, 2.0]), np.array([0.5, 3.0]))
    model.save(tmp_path)
    again = CNNModel.load(tmp_path)
    x = sim.codes[:50]
    np.testing.assert_array_equal(predict(model, x), predict(again, x))
    assert again.targets == ["a", "b"] and again.length == 200
    # predictions come back on the targets' scale
    raw = predict(net, x)
    np.testing.assert_allclose(predict(model, x), raw * [0.5, 3.0] + [1.0, 2.0], rtol=1e-6)


def test_masked_loss_ignores_missing_targets():
    out = torch.tensor([[0.0, 5.0], [1.0, -3.0]])
    y = torch.tensor([[1.0, float("nan")], [1.0, float("nan")]])
    assert float(masked_loss(out, y, "regression")) == pytest.approx(0.5)
    assert float(masked_loss(out, torch.full_like(y, float("nan")), "regression")) == 0.0
    # a positive weight scales the loss of positive labels only
    logit, lab = torch.tensor([[0.3], [-1.2]]), torch.tensor([[1.0], [0.0]])
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = (3 * bce(logit[:1], lab[:1]) + bce(logit[1:], lab[1:])) / 2
    assert float(masked_loss(logit, lab, "classification", pos_weight=3.0)) == pytest.approx(float(expected))


def test_fit_leaves_the_callers_random_state_alone(sim):
    torch.manual_seed(3)
    net = DeepSEA(1, 200, filters=(4, 4, 4), hidden=4)
    tr, va = _datasets(sim)
    before = torch.get_rng_state()
    fit(net, TensorDataset(*tr[:200]), TensorDataset(*va[:100]), TrainConfig(task="classification", max_epochs=1))
    assert torch.equal(before, torch.get_rng_state())


DDP_SCRIPT = textwrap.dedent('''
    import json, sys
    import numpy as np, torch
    from sklearn.metrics import roc_auc_score
    from torch.utils.data import TensorDataset
    from cisgram.data.simulate import planted
    from cisgram.genome import codes_to_onehot
    from cisgram.models.cnn import DeepSEA
    from cisgram.inference import predict
    from cisgram.training import TrainConfig, fit

    devices, strategy, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    probs = np.array(json.loads(sys.argv[4]))
    sim = planted(probs, 3000, 200, seed=0)
    X, y = torch.from_numpy(codes_to_onehot(sim.codes)), torch.tensor(sim.label, dtype=torch.float32)[:, None]
    torch.manual_seed(0)
    net = DeepSEA(1, 200, filters=(32, 32, 32), hidden=32)
    cfg = TrainConfig(task="classification", max_epochs=12, patience=3, batch_size=32 // devices,
                      accelerator="cpu", devices=devices, strategy=strategy)
    res = fit(net, TensorDataset(X[:2000], y[:2000]), TensorDataset(X[2000:2500], y[2000:2500]), cfg)
    if res.is_global_zero:
        p = predict(res.net, sim.codes[2500:], task="classification")[:, 0]
        json.dump({"auroc": roc_auc_score(sim.label[2500:], p), "epochs": len(res.history),
                   "world_size": res.world_size}, open(out, "w"))
''')


def test_two_ddp_processes_train_as_well_as_one(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(DDP_SCRIPT)
    probs = json.dumps(_probs().tolist())
    result = {}
    for devices, strategy in ((1, "auto"), (2, "ddp")):
        out = tmp_path / f"{devices}.json"
        proc = subprocess.run([sys.executable, str(script), str(devices), strategy, str(out), probs],
                              capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        result[devices] = json.loads(out.read_text())
    assert result[1]["world_size"] == 1 and result[2]["world_size"] == 2
    # the same global batch (16 per process x 2) and data; both learn the motif
    assert result[1]["auroc"] > 0.95 and result[2]["auroc"] > 0.95
    assert abs(result[1]["auroc"] - result[2]["auroc"]) < 0.03


def _toy_dense_layer(dense_norm: bool) -> tuple[float, float]:
    """A DeepSEA-style regressor (300 bp, 64 × 22 non-negative features into 32 dense units) after
    30 Adam steps at lr 3e-2 on random sequences: the most common prediction's share and the
    share of sequences whose output layer reads only zeros (both strands), over 256 sequences."""
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (256, 300), dtype=np.uint8)
    X, y = onehot(codes), torch.from_numpy(rng.normal(size=(256, 1)).astype(np.float32))
    spec = {"arch": "deepsea", "n_tasks": 1, "length": 300, "filters": [8, 8, 64], "hidden": 32,
            "dense_norm": dense_norm}
    net = build(spec, seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=3e-2)
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # dropout
        net.train()
        for _ in range(30):
            idx = torch.randint(0, len(codes), (32,), generator=g)
            loss = masked_loss(net(X[idx]), y[idx], "regression")
            opt.zero_grad()
            loss.backward()
            opt.step()
    model = CNNModel(net, spec, "regression", ["y"])
    with model.recording_silence() as silent:
        p = predict(model, codes)[:, 0]
    return np.unique(p, return_counts=True)[1].max() / p.size, float(np.concatenate(silent).mean())


def test_published_dense_head_dies_into_a_constant_and_the_normalised_one_does_not():
    """The published head (linear → ReLU → linear) reads many non-negative features; Adam moves
    every weight of a unit by about lr per step, so the unit's pre-activation moves by lr × Σ inputs
    and most units end below zero everywhere: the output is the bias on most sequences. Batch
    normalisation before the ReLU (the default) takes that shift out."""
    share, dead = _toy_dense_layer(dense_norm=False)
    assert dead > 0.5 and share >= dead  # every dead sequence outputs the same bias
    share, dead = _toy_dense_layer(dense_norm=True)
    assert dead == 0.0 and share < 0.01  # 1/256: all predictions distinct


def test_saved_runs_without_the_dense_norm_key_load_the_published_head(tmp_path, sim):
    """A spec saved before ``dense_norm`` existed means the head it was trained with (no norm);
    new specs spell the new default out; an unknown spec key is still refused."""
    old = {"arch": "deepsea", "n_tasks": 1, "length": 200, "filters": [8, 8, 8], "hidden": 8}
    assert new_spec("deepsea", 1, 200, filters=[8, 8, 8], hidden=8) == {**old, "dense_norm": True}
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in build(old).head)
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in build({**old, "dense_norm": True}).head)
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in DeepSEA(1, 200).head)  # the class default is new
    torch.manual_seed(4)
    net = build(old)
    keys = set(net.state_dict())
    assert {"head.1.weight", "head.3.weight"} <= keys and not any(k.startswith("head.2") for k in keys)
    model = CNNModel(net, old, "regression", ["a"], np.array([0.5]), np.array([2.0]))
    model.save(tmp_path / "old")
    assert "dense_norm" not in json.loads((tmp_path / "old" / "model.json").read_text())["spec"]
    again = CNNModel.load(tmp_path / "old")
    x = sim.codes[:40]
    np.testing.assert_array_equal(predict(again, x), predict(model, x))
    # a new network round-trips with its key
    new = CNNModel(build(new_spec("deepsea", 1, 200, filters=[8, 8, 8], hidden=8), seed=1),
                   new_spec("deepsea", 1, 200, filters=[8, 8, 8], hidden=8), "regression", ["a"])
    new.save(tmp_path / "new")
    np.testing.assert_array_equal(predict(CNNModel.load(tmp_path / "new"), x), predict(new, x))
    with pytest.raises(ValueError, match="cannot build"):
        build({**old, "dense_activation": "gelu"})


def test_a_one_item_training_batch_passes_the_dense_norm():
    net = DeepSEA(2, 200, filters=(4, 4, 4), hidden=4).train()
    assert net(torch.zeros(1, 4, 200)).shape == (1, 2)  # BatchNorm1d alone refuses a batch of one
