"""Tests for cisgram.inference: predict, the one loop, on every kind of model and input, against
plain forward passes; the network's mode and device put back; devices resolved once."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from cisgram.devices import resolve_device
from cisgram.errors import InputError
from cisgram.genome import codes_to_onehot
from cisgram.inference import evaluating, predict
from cisgram.models.cnn import CNNModel
from cisgram.models.get import GETConfig, GETModel, RegionTransformer
from tests.toys import tiny_deepsea


@pytest.fixture(scope="module")
def codes():
    return np.random.default_rng(0).integers(0, 4, size=(37, 200)).astype(np.uint8)


def test_a_cnn_model_is_strand_averaged_and_back_on_the_target_scale(codes):
    net, spec = tiny_deepsea(2, 200)
    model = CNNModel(net, spec, "regression", ["a", "b"], np.array([1.0, -2.0]), np.array([3.0, 0.5]))
    x = torch.from_numpy(codes_to_onehot(codes))
    with torch.no_grad():
        raw = ((net(x) + net(x.flip(1, 2))) / 2).numpy()
    for batch in (1, 5, 256):
        np.testing.assert_allclose(predict(model, codes, batch_size=batch), raw * [3.0, 0.5] + [1.0, -2.0], rtol=1e-5)
    ds = TensorDataset(x, torch.zeros(len(x), 2))
    np.testing.assert_allclose(predict(model, ds, batch_size=8), predict(model, codes), rtol=1e-6)
    cls = CNNModel(net, spec, "classification", ["a", "b"])
    with torch.no_grad():
        prob = ((torch.sigmoid(net(x)) + torch.sigmoid(net(x.flip(1, 2)))) / 2).numpy()
    np.testing.assert_allclose(predict(cls, codes), prob, rtol=1e-5)
    assert predict(model, codes[:0]).shape == (0, 2)
    with pytest.raises(InputError, match="reads 200 bp sequences, got 60 bp"):
        predict(model, codes[:, :60])


def test_a_bare_network_gives_its_own_outputs(codes):
    net, _ = tiny_deepsea(1, 200)
    x = torch.from_numpy(codes_to_onehot(codes))
    with torch.no_grad():
        one = net(x).numpy()
    np.testing.assert_allclose(predict(net, codes, rc_average=False), one, rtol=1e-5)
    np.testing.assert_allclose(predict(net, x.numpy(), rc_average=False), one, rtol=1e-5)


def test_get_windows_with_positions_and_each_head():
    net = RegionTransformer(GETConfig.small(n_features=5, distance_encoding=True)).eval()
    model = GETModel(net)
    g = torch.Generator().manual_seed(0)
    X = torch.rand(7, 12, 5, generator=g)
    pos = torch.arange(12)[None].repeat(7, 1) * 1000
    with torch.no_grad():
        out = net(X, positions=pos)
    np.testing.assert_allclose(predict(model, X.numpy(), pos.numpy(), batch_size=3), out.expression.numpy(), rtol=1e-5)
    np.testing.assert_allclose(predict(model, X, pos, output="accessibility"), out.accessibility.numpy(), rtol=1e-5)
    assert predict(model, X[:0], None).shape == (0, 12, 2)
    with pytest.raises(InputError, match="output must be"):
        predict(model, X, pos, output="profile")


def test_the_network_is_left_as_it_was(codes):
    net, spec = tiny_deepsea(1, 200)
    net.train()
    predict(CNNModel(net, spec, "regression", ["a"]), codes)
    assert net.training and next(net.parameters()).device.type == "cpu"
    with pytest.raises(RuntimeError), evaluating(net, "cpu"):
        assert not net.training
        raise RuntimeError
    assert net.training


def test_devices_are_resolved_in_one_place():
    assert resolve_device("cpu").type == "cpu" and resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(InputError, match="device must be"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="sees no CUDA GPU"):
            resolve_device("cuda:0")
