"""BPNet / ChromBPNet (cisgram.models.bpnet): the losses against scipy and by hand, the network's
geometry against a gradient measurement, the frozen bias model, the combination rule, the saved
network, and a tiny planted-signal training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.stats import multinomial

from cisgram.errors import InputError
from cisgram.metrics import pearson, profile_baselines, profile_jsd
from cisgram.models.bpnet import (
    BIAS_DEFAULTS,
    BPNet,
    ChromBPNet,
    ProfileCount,
    build_bpnet,
    chrombpnet_loss,
    count_loss_weight,
    count_mse,
    load_bpnet,
    multinomial_nll,
    receptive_field,
    save_bpnet,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors (conftest)

TINY = {"n_filters": 8, "n_layers": 2, "first_kernel": 5, "profile_kernel": 7}  # receptive field 5+12+6 = 23


def tiny(length: int = 60, output_len: int = 20, **kw) -> BPNet:
    return BPNet(length, output_len, **{**TINY, **kw})


def onehot(n: int, length: int, seed: int = 0) -> torch.Tensor:
    codes = np.random.default_rng(seed).integers(0, 4, (n, length))
    return torch.from_numpy(np.ascontiguousarray(np.eye(4, dtype=np.float32)[codes].transpose(0, 2, 1)))


# --- losses --------------------------------------------------------------------------------------

def test_multinomial_nll_equals_scipy_logpmf():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 4, (3, 2, 5)).astype(np.float64)  # 3 examples, 2 strands, 5 positions
    counts[2] = 0  # an example without reads costs nothing
    logits = rng.normal(size=(3, 2, 5))
    got = multinomial_nll(torch.from_numpy(logits), torch.from_numpy(counts), reduction="none").numpy()
    want = []
    for c, z in zip(counts, logits, strict=True):  # strands flattened into one multinomial
        p = np.exp(z.ravel() - z.max())
        want.append(-multinomial.logpmf(c.ravel(), n=c.sum(), p=p / p.sum()) if c.sum() else 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    mean = multinomial_nll(torch.from_numpy(logits), torch.from_numpy(counts))
    assert float(mean) == pytest.approx(np.mean(want))
    with pytest.raises(ValueError, match="shape"):
        multinomial_nll(torch.zeros(2, 1, 5), torch.zeros(2, 1, 4))


def test_multinomial_nll_is_minimised_at_the_observed_proportions():
    counts = torch.tensor([[[3.0, 0.0, 1.0, 6.0, 2.0]]], dtype=torch.float64)
    best = torch.log(counts / counts.sum() + 1e-300).clamp_min(-50).requires_grad_(True)
    loss = multinomial_nll(best, counts)
    loss.backward()
    assert best.grad.abs().max() < 1e-12  # gradient n·softmax - c vanishes there
    rng = np.random.default_rng(1)
    for _ in range(20):
        other = best.detach() + torch.from_numpy(rng.normal(scale=0.3, size=best.shape))
        assert float(multinomial_nll(other, counts)) > loss.item()


def test_count_mse_and_chrombpnet_loss_by_hand():
    counts = torch.tensor([[[1.0, 2.0, 0.0]], [[0.0, 0.0, 4.0]]])
    log_counts = torch.tensor([[1.0], [2.0]])
    mse = ((1 - np.log(4)) ** 2 + (2 - np.log(5)) ** 2) / 2
    assert float(count_mse(log_counts, counts)) == pytest.approx(mse, rel=1e-6)
    assert float(count_mse(log_counts.ravel(), counts.sum((1, 2)))) == pytest.approx(mse, rel=1e-6)
    per_track = torch.tensor([[0.0, 1.0]])  # count_per_track: (N, T) against (N, T, L)
    two = torch.tensor([[[1.0, 1.0], [3.0, 0.0]]])
    assert float(count_mse(per_track, two)) == pytest.approx((np.log(3) ** 2 + (1 - np.log(4)) ** 2) / 2, rel=1e-6)
    logits = torch.randn(2, 1, 3)
    out = ProfileCount(logits, log_counts)
    total = chrombpnet_loss(out, counts, count_weight=7.0)
    assert float(total) == pytest.approx(float(multinomial_nll(logits, counts)) + 7.0 * mse, rel=1e-6)
    # without a weight, the batch's own: median total (3 and 4) / 10
    assert float(chrombpnet_loss(out, counts)) == pytest.approx(float(multinomial_nll(logits, counts)) + 0.35 * mse,
                                                               rel=1e-6)


def test_count_loss_weight():
    totals = np.r_[np.arange(1, 100), 1e9]  # the interpolated 1 % / 99 % quantiles drop 1 and 1e9
    assert count_loss_weight(totals, outlier_quantile=0.99) == pytest.approx(np.median(np.arange(2, 100)) / 10)
    assert count_loss_weight([10, 20, 30]) == pytest.approx(2.0)
    with pytest.raises(InputError, match="median total count is 0"):
        count_loss_weight([0, 0, 0])


# --- the network ---------------------------------------------------------------------------------

def test_shapes_defaults_and_receptive_field_formula():
    net = tiny(count_per_track=True, n_outputs=2)
    out = net(onehot(3, 60))
    assert isinstance(out, ProfileCount)
    assert out.profile_logits.shape == (3, 2, 20) and out.log_counts.shape == (3, 2)
    assert tiny()(onehot(3, 60)).log_counts.shape == (3, 1)
    assert net.receptive_field == 23 and net.min_length == 42
    # ChromBPNet's geometry: 2114 bp in, 1000 out, 1,115 bp receptive field; the bias model 155 bp
    assert receptive_field(8) == 1115 and 1000 + receptive_field(8) - 1 == 2114
    assert receptive_field(BIAS_DEFAULTS["n_layers"]) == 155
    default = BPNet()
    assert (default.length, default.output_len, default.min_length) == (2114, 1000, 2114)
    assert default.spec["n_filters"] == 512 and default.spec["n_layers"] == 8


def test_receptive_field_equals_the_gradient_support():
    torch.manual_seed(0)
    net = tiny(length=60, output_len=20).double()
    x = onehot(4, 60, seed=3).double().requires_grad_(True)
    left = (60 - net.receptive_field + 1 - 20) // 2  # the first output's window starts here
    for o in (0, 7, 19):
        (g,) = torch.autograd.grad(net(x).profile_logits[:, 0, o].sum(), x)
        touched = np.flatnonzero(g.abs().sum((0, 1)).numpy() > 0)
        assert touched.min() == left + o and touched.max() == left + o + net.receptive_field - 1
    # a substitution outside an output's window leaves it unchanged; inside, it changes it
    y0 = net(x.detach()).profile_logits
    x2 = x.detach().clone()
    x2[:, :, left + 5 + net.receptive_field] = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=x2.dtype)[:, None]
    y2 = net(x2).profile_logits
    assert torch.equal(y0[..., :6], y2[..., :6])
    assert not torch.allclose(y0[..., 6:], y2[..., 6:])


def test_input_too_short_is_refused():
    with pytest.raises(InputError, match="output window larger than input"):
        tiny(length=41, output_len=20)
    net = tiny()
    with pytest.raises(InputError, match="needs 42 bp in"):
        net(onehot(1, 41))
    with pytest.raises(InputError, match=r"\(N, 4, L\)"):
        net(torch.zeros(1, 5, 60))


# --- ChromBPNet ----------------------------------------------------------------------------------

def _chrombpnet() -> ChromBPNet:
    torch.manual_seed(0)
    return ChromBPNet(tiny(n_layers=1), tiny())


def test_bias_model_is_frozen_and_stays_in_eval_mode():
    net = _chrombpnet()
    net.train()
    assert net.training and net.accessibility.training
    assert not net.bias.training and not any(m.training for m in net.bias.modules())
    before = {k: v.clone() for k, v in net.bias.state_dict().items()}
    acc_before = [p.clone() for p in net.accessibility.parameters()]
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    counts = torch.poisson(torch.full((4, 1, 20), 2.0))
    chrombpnet_loss(net(onehot(4, 60)), counts, 1.0).backward()
    assert all(p.grad is None and not p.requires_grad for p in net.bias.parameters())
    opt.step()
    assert all(torch.equal(v, net.bias.state_dict()[k]) for k, v in before.items())
    assert any(not torch.equal(a, p) for a, p in zip(acc_before, net.accessibility.parameters(), strict=True))
    net.eval()
    assert not net.training and not net.bias.training


def test_combination_rule_and_bias_free():
    net = _chrombpnet()
    x = onehot(5, 60, seed=2)
    out, b, a = net(x), net.bias(x), net.accessibility(x)
    torch.testing.assert_close(out.profile_logits, a.profile_logits + b.profile_logits)
    torch.testing.assert_close(out.log_counts, torch.log(torch.exp(a.log_counts) + torch.exp(b.log_counts)))
    free = net.bias_free(x)
    assert torch.equal(free.profile_logits, a.profile_logits) and torch.equal(free.log_counts, a.log_counts)


def test_parts_with_different_windows_are_refused():
    with pytest.raises(InputError, match="differ in output_len"):
        ChromBPNet(tiny(output_len=10), tiny())


# --- spec, save and load -------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["bpnet", "chrombpnet"])
def test_spec_and_saved_weights_round_trip(tmp_path, arch):
    spec = tiny().spec if arch == "bpnet" else {"arch": "chrombpnet", "bias": tiny(n_layers=1).spec,
                                                "accessibility": tiny().spec}
    spec = json.loads(json.dumps(spec))
    net = build_bpnet(spec, seed=3)
    assert net.spec == spec
    state = torch.get_rng_state()
    again = build_bpnet(spec, seed=3)
    assert torch.equal(state, torch.get_rng_state())  # the caller's generator is untouched
    x = onehot(3, 60)
    assert torch.equal(net(x).profile_logits, again(x).profile_logits)
    save_bpnet(net, tmp_path / "m", {"count_weight": 2.5})
    loaded, config = load_bpnet(tmp_path / "m")
    assert config["family"] == arch and config["count_weight"] == 2.5 and loaded.spec == spec
    for got, want in zip(loaded(x), net(x), strict=True):
        assert torch.equal(got, want)
    if arch == "chrombpnet":
        assert not any(p.requires_grad for p in loaded.bias.parameters())


def test_bad_specs_are_input_errors():
    with pytest.raises(InputError, match="unknown BPNet architecture"):
        build_bpnet({"arch": "enformer"})
    with pytest.raises(InputError, match="cannot build"):
        build_bpnet({**tiny().spec, "n_heads": 4})


# --- a planted signal ----------------------------------------------------------------------------

MOTIF = "TGACTCAT"


def _planted(n: int, seed: int, length: int = 200, out: int = 50):
    """0-3 copies of MOTIF in the output window; each adds a Gaussian bump (sd 2 bp, height 6)
    to a flat 0.2 read rate at its centre; counts are Poisson draws of the rate."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, length))
    lo = (length - out) // 2
    rate = np.full((n, out), 0.2)
    motif = np.array(["ACGT".index(c) for c in MOTIF])
    for i, k in enumerate(rng.integers(0, 4, n)):
        for s in rng.choice(np.arange(lo + 2, lo + out - len(MOTIF) - 2, 12), size=k, replace=False):
            codes[i, s: s + len(MOTIF)] = motif
            rate[i] += 6.0 * np.exp(-0.5 * ((np.arange(out) - (s + len(MOTIF) // 2 - lo)) / 2.0) ** 2)
    x = torch.from_numpy(np.ascontiguousarray(np.eye(4, dtype=np.float32)[codes].transpose(0, 2, 1)))
    y = torch.from_numpy(rng.poisson(rate)[:, None, :].astype(np.float32))
    return x, y, np.log(rate.sum(1)), rate


def test_planted_signal_is_learned_by_both_heads():
    """400 training sequences of 200 bp, output 50, 10 epochs of Adam (about 2 s on one core).
    The count head must reach r > 0.7 with the true log expected count on 100 held-out
    sequences (0.76-0.93 over 8 seeds of data and weights), and the profile must beat the
    average-profile baseline's JSD (0.43-0.51 against 0.61-0.67)."""
    x, y, _, _ = _planted(400, 0)
    xt, yt, truth, rate = _planted(100, 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = BPNet(200, 50, n_filters=16, n_layers=3, first_kernel=11, profile_kernel=15)
        net.offset_log_counts(float(torch.log1p(y.sum((1, 2))).mean()))  # start the counts at the mean
        opt = torch.optim.Adam(net.parameters(), lr=4e-3)
        weight = count_loss_weight(y.sum((1, 2)).numpy())
        for _ in range(10):
            for i in torch.randperm(len(x)).split(32):
                opt.zero_grad()
                chrombpnet_loss(net(x[i]), y[i], weight).backward()
                opt.step()
    with torch.no_grad():
        out = net(xt)
    assert pearson(out.log_counts.numpy().ravel(), truth) > 0.7
    prob = torch.softmax(out.profile_logits.flatten(1), -1).numpy()
    average = (y / y.sum(-1, keepdim=True)).nanmean(0).numpy()
    base = profile_baselines(yt.numpy(), average=average)
    model_jsd = np.nanmean(profile_jsd(prob, yt.numpy()))
    assert model_jsd < np.nanmean(base.average_jsd) - 0.05 < np.nanmean(base.shuffled_jsd)
    assert np.nanmean(profile_jsd(prob, rate)) < 0.2  # close to the true rate's shape
