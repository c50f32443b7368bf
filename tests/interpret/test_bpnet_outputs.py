"""The scalars a ChromBPNet is explained by (`ChromBPNetModel.explained`, `BPNetScalar`) on a small
untrained ChromBPNet (random weights: the identities below hold for any weights).

- ``counts`` is the part's predicted log count, the number ``predict`` gives;
- ``profile`` is ``Σ softmax(z).detach() · (z − mean z)`` of the profile logits ``z``, by hand, and
  its gradient is that of the logits weighted by the (constant) softmax;
- DeepLIFT's contributions sum to ``f(X) − f(reference)`` for every part and both outputs (the
  softmax weighting gets the rescale rule, the full model's ``logaddexp`` is a Softplus);
- ISM equals the prediction of each substituted sequence minus the reference's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from cisgram.errors import InputError
from cisgram.genome import codes_to_onehot
from cisgram.inference import predict
from cisgram.interpret.attribution import deeplift, saliency
from cisgram.interpret.ism import ism
from cisgram.models.bpnet import BPNet, ChromBPNet
from cisgram.models.bpnet_run import ChromBPNetModel

IN, OUT = 160, 40
PARTS = ("bias_free", "full", "bias")


@pytest.fixture(scope="module")
def model(one_thread) -> ChromBPNetModel:
    torch.manual_seed(0)
    bias = BPNet(IN, OUT, n_filters=4, n_layers=1)
    acc = BPNet(IN, OUT, n_filters=6, n_layers=2)
    return ChromBPNetModel(ChromBPNet(bias, acc), "track")


@pytest.fixture(scope="module")
def codes() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 4, (5, IN)).astype(np.uint8)


@pytest.mark.parametrize("part", PARTS)
def test_counts_is_the_predicted_log_count(model, codes, part):
    with torch.no_grad():
        got = model.explained("counts", part)(torch.from_numpy(codes_to_onehot(codes)))[:, 0].numpy()
    np.testing.assert_allclose(got, predict(model, codes, part=part)[:, 0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("part", PARTS)
def test_profile_scalar_and_its_gradient_by_hand(model, codes, part):
    x = torch.from_numpy(codes_to_onehot(codes)).requires_grad_(True)
    body = {"bias_free": model.net.accessibility, "full": model.net, "bias": model.net.bias}[part]
    z = body(x).profile_logits.flatten(1).double()
    w = torch.softmax(z, -1).detach()
    by_hand = (w * (z - z.mean(-1, keepdim=True))).sum(-1)
    grad = torch.autograd.grad(by_hand.sum(), x)[0].numpy()
    with torch.no_grad():
        got = model.explained("profile", part)(x)[:, 0].numpy()
    np.testing.assert_allclose(got, by_hand.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(saliency(model.explained("profile", part), codes), grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("output", ["counts", "profile"])
@pytest.mark.parametrize("part", PARTS)
def test_deeplift_sums_to_the_output_difference(model, codes, output, part):
    net = model.explained(output, part)
    X = codes_to_onehot(codes)
    rng = np.random.default_rng(1)
    refs = np.stack([codes_to_onehot(np.stack([rng.permutation(c) for _ in range(3)])) for c in codes])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # tangermeme warns when the sums are off
        attr = deeplift(net, X, references=refs)
    with torch.no_grad():
        fx = net(torch.from_numpy(X))[:, 0].numpy()
        fr = np.stack([net(torch.from_numpy(refs[:, k]))[:, 0].numpy() for k in range(3)], 1).mean(1)
    np.testing.assert_allclose(attr.sum((1, 2)), fx - fr, atol=1e-5)
    assert np.abs(fx - fr).max() > 1e-3  # not trivially 0


def test_ism_is_the_prediction_difference(model, codes):
    net = model.explained("counts", "bias_free")
    got = ism(net, codes[:2], positions=[3, 60, 100])
    ref = predict(model, codes[:2], part="bias_free")[:, 0]
    for i in range(2):
        for p in (3, 60, 100):
            for b in range(4):
                alt = codes[i].copy()
                alt[p] = b
                want = 0.0 if b == codes[i, p] else predict(model, alt[None], part="bias_free")[0, 0] - ref[i]
                assert got[i, b, p] == pytest.approx(want, abs=1e-5)


def test_bad_outputs_and_parts_are_refused(model):
    with pytest.raises(InputError, match="counts or profile"):
        model.explained("shape")
    with pytest.raises(InputError, match="unknown part"):
        model.explained("counts", "half")
    lone = ChromBPNetModel(BPNet(IN, OUT, n_filters=4, n_layers=1), "track")
    assert lone.explained("counts", "bias_free").body is lone.net and lone.explained("counts", "full").body is lone.net
    with pytest.raises(InputError, match="without a bias model"):
        lone.explained("profile", "bias")
    assert model.using("bias_free").net is model.net and model.default_part == "full"
    np.testing.assert_allclose(predict(model.using("bias_free"), np.zeros((1, IN), np.uint8)),
                               predict(model, np.zeros((1, IN), np.uint8), part="bias_free"))
