"""DanQ (convolution + BiLSTM): learns a planted motif, a saved run predicts identically, the
gradient attributions work and DeepLIFT is refused with a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch.utils.data import TensorDataset

from cisgram.data.simulate import consensus_probs, planted
from cisgram.errors import InputError
from cisgram.genome import codes_to_onehot
from cisgram.inference import predict
from cisgram.models.cnn import CNNModel, DanQ, build, new_spec
from cisgram.training import TrainConfig, fit

SMALL = {"filters": 32, "kernel": 13, "pool": 5, "units": 16, "hidden": 32}


@pytest.fixture(autouse=True)
def one_thread():
    """An LSTM's small matrix products lose more to thread hand-offs than they gain on a busy
    machine (10x slower with 2 threads on 2 shared cores); put the count back afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def sim():
    return planted(consensus_probs("CCACCAGGGGGCG", 0.94), 2000, 200, seed=0)


def test_danq_finds_the_planted_motif(sim):
    X = torch.from_numpy(codes_to_onehot(sim.codes))
    y = torch.tensor(sim.label, dtype=torch.float32)[:, None]
    net = build(new_spec("danq", 1, 200, **SMALL), seed=0)
    assert isinstance(net, DanQ)
    res = fit(net, TensorDataset(X[:1400], y[:1400]), TensorDataset(X[1400:1700], y[1400:1700]),
              TrainConfig(task="classification", max_epochs=5, patience=3, lr=3e-3))
    p = predict(res.net, sim.codes[1700:], task="classification")[:, 0]
    assert roc_auc_score(sim.label[1700:], p) > 0.9  # 0.97 measured (Bayes ceiling about 0.99)


def test_the_paper_sizes_are_the_defaults():
    net = DanQ(1, 1000)
    conv = net.conv[0]
    assert (conv.out_channels, conv.kernel_size[0], net.conv[2].kernel_size) == (320, 26, 13)
    assert net.lstm.hidden_size == 320 and net.lstm.bidirectional
    assert net.head[1].in_features == 2 * 320 * 75 and net.head[1].out_features == 925  # (1000 - 25) // 13 = 75
    assert (net.conv[3].p, net.drop.p) == (0.2, 0.5)
    with pytest.raises(ValueError, match="too short"):
        build(new_spec("danq", 1, 30))


def test_saved_danq_loads_and_predicts_identically(tmp_path, sim):
    spec = new_spec("danq", 2, 200, **SMALL)
    model = CNNModel(build(spec, seed=1), spec, "classification", ["a", "b"])
    model.save(tmp_path / "m")
    back = CNNModel.load(tmp_path / "m")
    assert back.spec == spec and isinstance(back.net, DanQ)
    np.testing.assert_array_equal(predict(back, sim.codes[:50]), predict(model, sim.codes[:50]))


def test_gradient_attributions_work_and_deeplift_is_refused(sim):
    from cisgram.interpret.attribution import attribute

    spec = new_spec("danq", 1, 200, **SMALL)
    model = CNNModel(build(spec, seed=2).eval(), spec, "classification", ["y"])
    x = sim.codes[:3]
    for method in ("saliency", "gradcam", "ism"):
        a = attribute(model, x, method=method)
        assert a.shape == (3, 4, 200) and np.isfinite(a).all() and np.abs(a).sum() > 0
    with pytest.raises(InputError, match="DeepLIFT has no rule for DanQ"):
        attribute(model, x, method="deeplift", n_shuffles=2)
    assert not hasattr(model.net, "_NON_LINEAR_OPS") and not model.net.training  # hooks and mode put back
    assert predict(model, x).shape == (3, 1)
