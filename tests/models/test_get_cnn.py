"""GET's CNN baseline (cisgram.models.get_cnn): shapes and ranges, a receptive field of exactly
``layers · (k − 1) / 2`` regions on each side, order sensitivity (unlike the transformer without
a distance encoding), the predict protocol through GETModel, and clear errors."""

from __future__ import annotations

import pytest
import torch

from cisgram.errors import InputError
from cisgram.inference import predict
from cisgram.models.get import GETModel
from cisgram.models.get_cnn import RegionCNN, RegionCNNConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def cnn(**kw) -> RegionCNN:
    torch.manual_seed(0)
    return RegionCNN(RegionCNNConfig(n_features=5, channels=8, **kw)).eval()


def test_outputs_are_non_negative_rates_per_region_and_strand():
    out = cnn()(torch.rand(3, 20, 5))
    assert out.expression.shape == (3, 20, 2) and (out.expression >= 0).all()
    assert out.accessibility.shape == (3, 20, 1) and not out.accessibility.any()


def test_receptive_field_is_layers_times_half_kernel():
    net = cnn(kernel=5, layers=3)  # 6 regions on each side
    x = torch.rand(1, 30, 5)
    base = net(x).expression[0, 15]
    for d, changes in ((6, True), (7, False), (-6, True), (-7, False)):
        y = x.clone()
        y[0, 15 + d] += 1.0
        assert (not torch.allclose(net(y).expression[0, 15], base)) is changes, d


def test_order_matters_and_predict_reads_it_through_getmodel():
    net = cnn()
    x = torch.rand(2, 12, 5)
    flipped = x.flip(1)
    assert not torch.allclose(net(x).expression.flip(1), net(flipped).expression)
    model = GETModel(net, [f"m{i}" for i in range(4)] + ["accessibility"])
    assert torch.allclose(torch.from_numpy(predict(model, x)), net(x).expression, atol=1e-6)


def test_bad_configurations_and_inputs_name_the_problem():
    with pytest.raises(InputError, match="odd"):
        RegionCNNConfig(kernel=4)
    with pytest.raises(InputError, match="channels"):
        RegionCNNConfig(channels=0)
    with pytest.raises(InputError, match="distance encoding"):
        RegionCNNConfig(distance_encoding=True)
    with pytest.raises(InputError, match=r"F=5"):
        cnn()(torch.rand(1, 10, 6))
