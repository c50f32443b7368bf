"""Attribution methods and in-silico mutagenesis on tiny models with known answers.

Linear models have analytic attributions; fast ISM is checked against brute force, DeepLIFT
against its summation-to-delta property, Grad-CAM against captum, and every method against a
motif detector whose important positions are known (planted sites).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from cisgram.data.simulate import consensus_probs, planted
from cisgram.errors import InputError
from cisgram.genome import codes_to_onehot
from cisgram.interpret.attribution import (
    ATTRIBUTIONS,
    attribute,
    deeplift,
    gradcam,
    input_x_gradient,
    integrated_gradients,
    position_scores,
    saliency,
)
from cisgram.interpret.ism import ism, ism_fast
from cisgram.models.cnn import CNNModel, DeepSEA, DilatedCNN
from tests.toys import random_batchnorm

L = 24


def _onehot(rng, n, length, n_frac=0.0):
    codes = rng.integers(0, 4, (n, length)).astype(np.uint8)
    codes[rng.random((n, length)) < n_frac] = 4
    return codes_to_onehot(codes)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors (conftest)


@pytest.fixture(scope="module")
def linear():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4 * L, 2))
    w = net[1].weight.detach().numpy()[1].reshape(4, L)  # target 1
    X = _onehot(np.random.default_rng(0), 5, L)
    return net, w, X


@pytest.fixture(scope="module")
def deepsea():
    torch.manual_seed(1)
    return random_batchnorm(DeepSEA(2, 200, filters=(8, 8, 8), hidden=16))


# ---------------------------------------------------------------- 1. analytic answers on a linear model


def test_gradient_methods_are_exact_on_a_linear_model(linear):
    net, w, X = linear
    np.testing.assert_allclose(saliency(net, X, target=1), np.broadcast_to(w, X.shape), atol=1e-6)
    np.testing.assert_allclose(input_x_gradient(net, X, target=1), w * X, atol=1e-6)
    np.testing.assert_allclose(integrated_gradients(net, X, target=1, n_steps=5), w * X, atol=1e-6)


def test_deeplift_on_a_linear_model_is_weights_times_difference_from_references(linear):
    net, w, X = linear
    refs = np.stack([_onehot(np.random.default_rng(k + 10), len(X), L) for k in range(3)], 1)  # (N, K, 4, L)
    per_position = (w * (X[:, None] - refs)).sum(2).mean(1)  # (N, L): mean_k sum_c w (x - r_k)
    actual = deeplift(net, X, target=1, references=refs)
    np.testing.assert_allclose(actual, X * per_position[:, None], atol=1e-6)
    hypothetical = deeplift(net, X, target=1, references=refs, hypothetical=True)
    np.testing.assert_allclose(hypothetical, (w - (refs * w).sum(2, keepdims=True)).mean(1), atol=1e-6)
    np.testing.assert_allclose(hypothetical * X, actual, atol=1e-6)


def test_ism_on_a_linear_model_is_the_weight_difference(linear):
    net, w, X = linear
    expected = w - (w * X).sum(1, keepdims=True)  # w[b, l] - w[ref, l]
    expected[X == 1] = 0
    out = ism(net, X, target=1, batch_size=7)  # a batch size that does not divide the 5 x 3 x 24 mutants
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_allclose(position_scores(out, X, method="ism"), -expected.sum(1) / 3, atol=1e-5)
    only = ism(net, X, target=1, positions=[0, 5])
    np.testing.assert_allclose(only[..., [0, 5]], expected[..., [0, 5]], atol=1e-5)
    assert not only[..., 1:5].any()
    with pytest.raises(InputError, match="fast ISM"):
        ism_fast(net, X)


def test_shuffled_baselines_are_seeded_and_complete(linear):
    net, w, X = linear
    a = integrated_gradients(net, X, target=1, baseline="shuffle", n_shuffles=2, seed=3, batch_size=2)
    b = integrated_gradients(net, X, target=1, baseline="shuffle", n_shuffles=2, seed=3, batch_size=5)
    np.testing.assert_allclose(a, b, atol=1e-6)  # references do not depend on the batching
    assert np.all(a[X == 0] == 0)  # on the observed base only
    c = deeplift(net, X, target=1, n_shuffles=2, seed=3)
    np.testing.assert_allclose(a.sum((1, 2)), c.sum((1, 2)), atol=1e-5)  # same references, same total


# ---------------------------------------------------------------- 2. fast ISM = brute force


@pytest.mark.parametrize("arch", ["deepsea", "dilated_max", "dilated_mean_norm"])
def test_fast_ism_equals_brute_force(arch, deepsea):
    """To 1e-6 absolute (the issue asks 1e-5): the fast path updates the dense layer and the
    pools instead of recomputing them, so the two differ by float32 rounding only."""
    torch.manual_seed(2)
    net = {"deepsea": lambda: deepsea,
           "dilated_max": lambda: DilatedCNN(2, 200, filters=8, layers=3),
           "dilated_mean_norm": lambda: random_batchnorm(DilatedCNN(2, 200, filters=8, layers=3, norm=True,
                                                                     pool="mean", pool_width=90))}[arch]()
    X = _onehot(np.random.default_rng(3), 3, 200, n_frac=0.01)  # with a few N
    brute = ism(net, X, target=1, fast=False)
    fast = ism(net, X, target=1, batch_size=5)  # recognised: fast path, many small chunks
    assert np.abs(brute).max() > 0
    np.testing.assert_allclose(fast, brute, atol=1e-6)
    assert (brute[X == 1] == 0).all() and (fast[X == 1] == 0).all()
    some = [0, 1, 57, 130, 199]
    part = ism(net, X, target=1, positions=some)
    np.testing.assert_allclose(part[..., some], brute[..., some], atol=1e-6)
    assert not np.delete(part, some, axis=2).any()


def test_fast_ism_equals_brute_force_on_a_wide_deepsea():
    """Default-width DeepSEA at 400 bp, more sequences than one span of the fast path (64)."""
    torch.manual_seed(0)
    net = random_batchnorm(DeepSEA(1, 400), seed=1)
    X = _onehot(np.random.default_rng(0), 70, 400)
    positions = np.arange(0, 400, 7)
    brute = ism(net, X, fast=False, batch_size=512, positions=positions)
    fast = ism(net, X, fast=True, positions=positions)
    assert np.abs(brute).max() > 1e-3
    np.testing.assert_allclose(fast, brute, atol=1e-6)


# ---------------------------------------------------------------- 3. DeepLIFT sums to the difference


def test_deeplift_sums_to_the_prediction_difference_per_reference(deepsea):
    from tangermeme.ersatz import dinucleotide_shuffle

    X = _onehot(np.random.default_rng(4), 4, 200)
    refs = dinucleotide_shuffle(torch.from_numpy(X), n=3, random_state=0).numpy()
    with torch.no_grad():
        f = deepsea(torch.from_numpy(X))[:, 1].numpy()
        f_ref = np.stack([deepsea(torch.from_numpy(refs[:, k]))[:, 1].numpy() for k in range(3)], 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tangermeme warns when the deltas are not ~0
        for k in range(3):
            attr = deeplift(deepsea, X, target=1, references=refs[:, k:k + 1])
            delta = f - f_ref[:, k]
            np.testing.assert_allclose(attr.sum((1, 2)), delta, rtol=1e-3, atol=1e-6 * np.abs(delta).max())
        averaged = deeplift(deepsea, X, target=1, references=refs)
    np.testing.assert_allclose(averaged.sum((1, 2)), (f[:, None] - f_ref).mean(1), rtol=1e-3, atol=1e-7)


def test_model_mode_and_device_are_restored(deepsea):
    X = _onehot(np.random.default_rng(5), 2, 200)
    deepsea.train()
    try:
        for method in ("saliency", "deeplift", "ism"):
            kw = {"n_shuffles": 2} if method == "deeplift" else {}
            attribute(deepsea, X, method, **kw)
            assert deepsea.training
        model = CNNModel(deepsea, {"arch": "deepsea"}, "classification", ["a", "b"])
        np.testing.assert_allclose(saliency(model, X, target=1), saliency(deepsea, X, target=1))
    finally:
        deepsea.eval()


# ---------------------------------------------------------------- 4. Grad-CAM = captum


@pytest.mark.parametrize("layer", [None, "trunk.2", "trunk.7"])
def test_gradcam_matches_captum(layer, deepsea):
    from captum.attr import LayerAttribution, LayerGradCam

    from cisgram.interpret.attribution import _layer

    X = _onehot(np.random.default_rng(6), 4, 200)
    for target in (0, 1):
        ours = gradcam(deepsea, X, target=target, layer=layer, upsample="linear")
        module = _layer(deepsea, layer)
        cam = LayerGradCam(deepsea, module).attribute(torch.from_numpy(X), target=target,
                                                      relu_attributions=True)
        theirs = LayerAttribution.interpolate(cam, 200, "linear").detach().numpy()[:, 0]
        np.testing.assert_allclose(position_scores(ours, X), theirs, atol=1e-6)
        assert (ours[X == 0] == 0).all()


def test_gradcam_last_layer_of_a_dilated_network_is_its_last_block():
    torch.manual_seed(3)
    net = DilatedCNN(1, 120, filters=8, layers=2).eval()
    X = _onehot(np.random.default_rng(7), 3, 120)
    from captum.attr import LayerAttribution, LayerGradCam

    cam = LayerGradCam(net, net.blocks[-1]).attribute(torch.from_numpy(X), target=0, relu_attributions=True)
    theirs = LayerAttribution.interpolate(cam, 120, "linear").detach().numpy()[:, 0]
    assert theirs.max() > 0
    np.testing.assert_allclose(gradcam(net, X, layer="last", upsample="linear").sum(1), theirs, atol=1e-6)


def test_receptive_fields_of_deepsea_layers_bound_the_gradient():
    """The composed (span, stride, pad) by hand for kernel 8 / pool 4, and no input outside a
    layer output's field moves it (its input gradient is 0 there)."""
    from cisgram.interpret.attribution import _layer, receptive_field

    torch.manual_seed(4)
    net = DeepSEA(1, 200, filters=(4, 4, 4), hidden=4).eval()
    fields = {"first": (8, 1, 0), "trunk.7": (8 + 3 + 7 * 4, 4, 0), "last": (39 + 3 * 4 + 7 * 16, 16, 0)}
    x = torch.from_numpy(_onehot(np.random.default_rng(8), 1, 200)).requires_grad_(True)
    for name, field in fields.items():
        layer = _layer(net, name)
        assert receptive_field(net, layer) == field
        seen: dict = {}
        h = layer.register_forward_hook(lambda m, i, o, seen=seen: seen.update(a=o))
        net(x)
        h.remove()
        span, stride, pad = field
        n_out, any_moved = seen["a"].shape[-1], False
        for j in sorted({0, n_out // 2, n_out - 1}):
            (g,) = torch.autograd.grad(seen["a"][0, :, j].sum(), x, retain_graph=True)
            moved = torch.nonzero(g[0].abs().sum(0)).ravel().numpy()  # none when every unit at j is off
            any_moved |= bool(moved.size)
            assert not moved.size or (moved.min() >= j * stride - pad and moved.max() < j * stride - pad + span)
        assert any_moved
    same = DilatedCNN(1, 120, filters=4, layers=2)  # 'same' padding: a field centred on its output
    assert receptive_field(same, _layer(same, "first")) == (same.stem[0].kernel_size[0], 1, same.stem[0].padding[0])
    assert receptive_field(net, nn.ReLU()) is None  # not a layer of this network


def test_footprint_upsampling_averages_over_covering_outputs():
    from cisgram.interpret.attribution import footprint_upsample

    cam = torch.tensor([[[1.0, 2.0, 4.0]]])
    # span 3, stride 2, pad 1: output j covers inputs [2j - 1, 2j + 2)
    out = footprint_upsample(cam, 7, 3, 2, 1)[0, 0].numpy()
    covers = [[j for j in range(3) if 2 * j - 1 <= pos < 2 * j + 2] for pos in range(7)]
    expected = [np.mean([cam[0, 0, j].item() for j in c]) if c else 0.0 for c in covers]
    np.testing.assert_allclose(out, expected)
    assert out[-1] == 0  # position 6 is in no output's field


# ---------------------------------------------------------------- 5. planted motif


class _MotifDetector(nn.Module):
    """Log-odds filters of a consensus on both strands, a threshold, a global max pool each, summed."""

    def __init__(self, consensus: str, length: int):
        super().__init__()
        probs = consensus_probs(consensus)
        pwm = torch.tensor(np.log(probs / 0.25), dtype=torch.float32)
        self.conv = nn.Conv1d(4, 2, pwm.shape[1])
        with torch.no_grad():
            self.conv.weight.copy_(torch.stack([pwm, pwm.flip(0, 1)]))
            self.conv.bias.fill_(-0.75 * float(pwm.max(0).values.sum()))  # fires on near-complete sites only
        self.act = nn.ReLU()
        self.pool = nn.MaxPool1d(length - pwm.shape[1] + 1)

    def forward(self, x):
        return self.pool(self.act(self.conv(x))).sum(1)  # (B, 1)


def test_attributions_point_at_planted_sites():
    motif, n, length = "GATAAG", 30, 120
    sim = planted(consensus_probs(motif, p=1.0), n, length, fraction=1.0, seed=0)  # exact sites
    net = _MotifDetector(motif, length).eval()
    X = codes_to_onehot(sim.codes)
    inside = np.zeros((n, length), bool)
    for i, p in enumerate(sim.position):
        inside[i, p: p + len(motif)] = True
    auroc, peak_inside = {}, {}
    for method in ATTRIBUTIONS:
        kw = {"n_shuffles": 3} if method == "deeplift" else {}
        scores = position_scores(attribute(net, sim.codes, method, **kw), X, method=method)
        auroc[method] = roc_auc_score(inside.ravel(), scores.ravel())
        peak_inside[method] = inside[np.arange(n), scores.argmax(1)].mean()
    for method in ("ism", "saliency", "input_x_gradient", "integrated_gradients", "deeplift"):
        assert auroc[method] > 0.95, auroc
    # Grad-CAM of a global max pool is one point of the pooled map, stretched from L - 5 to L
    # positions: too narrow for a high auROC over the six site positions, but its peak is in the
    # site. Two of the 30 sequences hold a second, chance exact site, which ties.
    assert min(peak_inside.values()) >= 0.9, peak_inside


# ---------------------------------------------------------------- 6. errors


def test_errors_name_what_is_valid(linear):
    net, _, X = linear
    with pytest.raises(InputError, match="unknown attribution method 'shap'") as e:
        attribute(net, X, "shap")
    assert "integrated_gradients" in str(e.value) and "gradcam_saliency" in str(e.value)
    with pytest.raises(InputError, match="transpose"):
        saliency(net, X.transpose(0, 2, 1))
    with pytest.raises(InputError, match=r"\(N, 4, L\)"):
        saliency(net, X[0, 0])
    with pytest.raises(InputError, match="codes"):
        saliency(net, X[:, 0])  # 2-D floats are not codes
    with pytest.raises(InputError, match="target 2 is not an output"):
        saliency(net, X, target=2)
    with pytest.raises(InputError, match="target 5"):
        ism(net, X, target=5)
    with pytest.raises(InputError, match="its options are"):
        attribute(net, X, "saliency", n_steps=3)
    with pytest.raises(InputError, match="positions"):
        ism(net, X, positions=[L])
    with pytest.raises(InputError, match="one-hot"):
        deeplift(net, X * 0.5, n_shuffles=2)
    with pytest.raises(InputError, match="unknown upsampling"):
        gradcam(net, X, upsample="nearest")
    with pytest.raises(InputError, match="no layer"):
        gradcam(DeepSEA(1, 200, filters=(4, 4, 4), hidden=4), X[:, :, :1].repeat(200, 2), layer="trunk.99")
