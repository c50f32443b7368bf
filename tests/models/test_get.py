"""GET's region transformer: parameter counts, masking, distance encoding, losses, masked-region
pre-training on simulated windows, save/load and input checks.

Expression training and its Jacobians are tested in test_jacobian.py, LoRA in test_lora.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cisgram.data.get_windows import random_region_mask
from cisgram.errors import InputError
from cisgram.inference import predict
from cisgram.models.get import GETConfig, GETModel, RegionTransformer, count_parameters
from cisgram.training import masked_mse, poisson_loss

F = 9  # 8 motifs + accessibility


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors (conftest)


def small(**kw) -> RegionTransformer:
    torch.manual_seed(0)
    return RegionTransformer(GETConfig.small(n_features=F, **kw)).eval()


def windows(n: int, R: int = 12, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, R, F, generator=g) < 0.3) * torch.rand(n, R, F, generator=g)


# ---------------------------------------------------------------- parameter counts


def _part(net, *names) -> int:
    return sum(count_parameters(net.get_submodule(n)) if not n.endswith("token") else net.get_parameter(n).numel()
               for n in names)


def test_paper_parameter_count_matches_get_on_meta_device():
    """With GET's 283 features the trunk, the fine-tuning model and the pre-training model have
    exactly the counts derived from GET's layer shapes (specs/get.md §2.7)."""
    with torch.device("meta"):
        net = RegionTransformer(GETConfig.paper(n_features=283))
    assert all(p.is_meta for p in net.parameters())  # nothing allocated
    trunk = _part(net, "region_embed", "cls_token", "encoder")
    assert count_parameters(net.encoder) == 85_046_784
    assert trunk + _part(net, "expression_head") == 85_267_202  # GETRegionFinetune
    assert trunk + _part(net, "mask_token", "mask_head") == 85_484_059  # GETRegionPretrain
    assert count_parameters(net) == 85_484_059 + 1_538 + 769  # + expression and accessibility heads


def test_paper_preset_runs_one_training_step_on_the_meta_device():
    """GET's 12 x 768 model with GET's optimiser (parameter groups, AdamW β 0.9/0.95): a forward,
    GET's zero-label Poisson loss, a backward pass and an optimiser step, all shapes checked
    without allocating (the CPU step is timed in benchmarks/get.py)."""
    from cisgram.training import GETTraining, param_groups

    with torch.device("meta"):
        net = RegionTransformer(GETConfig.paper(n_features=283))
        x = torch.rand(2, 200, 283)
        y = torch.rand(2, 200, 2)
        out = net(x)
        loss = poisson_loss(out.expression, y, torch.ones(2, 200, 2, dtype=torch.bool))
    assert out.expression.shape == (2, 200, 2) and loss.shape == () and loss.is_meta
    loss.backward()
    unused = ("mask_token", "mask_head.", "accessibility_head.")  # heads this loss does not read
    graded = {n for n, p in net.named_parameters() if p.grad is not None and p.grad.shape == p.shape}
    assert graded == {n for n, _ in net.named_parameters() if not n.startswith(unused)}
    cfg = GETTraining().config(lr=1e-3, weight_decay=0.05)
    groups = param_groups(net, cfg)
    opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)
    opt.step()
    assert sum(p.numel() for g in groups for p in g["params"]) == count_parameters(net)
    assert cfg.betas == (0.9, 0.95) and {g["weight_decay"] for g in groups} == {0.0, 0.05}


def test_paper_parameter_count_with_638_features():
    with torch.device("meta"):
        net = RegionTransformer(GETConfig.paper())
    n = count_parameters(net)
    assert n == 86_032_001
    assert abs(n / 85.3e6 - 1) < 0.02  # within 2% of GET's 85.3 M


def test_small_preset_is_small_and_paper_preset_is_the_paper():
    cfg = GETConfig.paper()
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.mlp_dim, cfg.drop_path) == (12, 768, 12, 3072, 0.1)
    assert not cfg.distance_encoding and cfg.n_outputs == 2
    assert GETConfig() == GETConfig.small()
    assert count_parameters(RegionTransformer()) < 250_000
    with torch.device("meta"):
        rates = [b.drop_path.p for b in RegionTransformer(cfg).encoder.blocks]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.1) and rates == sorted(rates)


# ---------------------------------------------------------------- forward


def test_forward_shapes_and_ranges():
    net = small()
    out = net(windows(3))
    assert out.expression.shape == (3, 12, 2)
    assert out.accessibility.shape == (3, 12, 1)
    assert out.reconstruction.shape == (3, 12, F)
    assert out.hidden.shape == (3, 12, 64)
    assert (out.expression >= 0).all() and (out.accessibility >= 0).all()


def test_masked_regions_are_hidden_from_the_model():
    """Whatever a masked region holds, no output of any region changes."""
    net = small()
    X = windows(4)
    mask = random_region_mask(4, 12, 0.5, torch.Generator().manual_seed(1))
    X2 = X.clone()
    X2[mask] = torch.rand(int(mask.sum()), F)
    with torch.no_grad():
        a, b = net(X, mask=mask), net(X2, mask=mask)
        c = net(X2)
    torch.testing.assert_close(a.reconstruction, b.reconstruction, rtol=0, atol=1e-6)
    torch.testing.assert_close(a.expression, b.expression, rtol=0, atol=1e-6)
    assert not torch.allclose(a.expression, c.expression)  # without the mask the change is seen


def test_random_region_mask():
    g = torch.Generator().manual_seed(0)
    m = random_region_mask(50, 20, 0.5, g)
    assert m.dtype == torch.bool and m.shape == (50, 20)
    assert (m.sum(1) == 10).all()
    assert torch.equal(m, random_region_mask(50, 20, 0.5, torch.Generator().manual_seed(0)))
    b = random_region_mask(400, 20, 0.3, g, exact=False)
    assert abs(b.float().mean().item() - 0.3) < 0.02 and b.sum(1).unique().numel() > 1
    with pytest.raises(InputError, match="ratio"):
        random_region_mask(2, 3, 1.5)


def test_without_distance_encoding_regions_are_a_set():
    net = small()
    X = windows(2)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = net(X).expression, net(X[:, perm]).expression
    torch.testing.assert_close(a[:, perm], b, rtol=0, atol=1e-5)


def test_distance_encoding_uses_offsets_not_order():
    net = small(distance_encoding=True)
    X = windows(2)
    pos = torch.sort(torch.randint(0, 2_000_000, (2, 12), generator=torch.Generator().manual_seed(0)), 1).values
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = net(X, positions=pos).expression
        shifted = net(X, positions=pos + 12_345_678).expression
        permuted = net(X[:, perm], positions=pos[:, perm]).expression
        spread = net(X, positions=pos * 2).expression
    torch.testing.assert_close(a, shifted, rtol=0, atol=1e-5)
    torch.testing.assert_close(a[:, perm], permuted, rtol=0, atol=1e-5)
    assert (a - spread).abs().max() > 1e-3  # distances matter
    with pytest.raises(InputError, match="positions"):
        net(X)


# ---------------------------------------------------------------- losses


def test_poisson_loss_matches_torch():
    g = torch.Generator().manual_seed(0)
    rate, y = torch.rand(4, 5, 2, generator=g) * 3, torch.rand(4, 5, 2, generator=g) * 2
    ref = torch.nn.PoissonNLLLoss(log_input=False, full=False, eps=1e-8)
    torch.testing.assert_close(poisson_loss(rate, y), ref(rate, y))
    w = torch.zeros(4, 5, 1)
    w[:, 2] = 1  # TSS region only, both strands
    torch.testing.assert_close(poisson_loss(rate, y, w), ref(rate[:, 2], y[:, 2]))
    assert poisson_loss(rate, y, torch.zeros(4, 5, 2)).item() == 0.0


def test_masked_mse_scores_masked_regions_only():
    g = torch.Generator().manual_seed(0)
    recon, X = torch.rand(3, 6, F, generator=g), torch.rand(3, 6, F, generator=g)
    mask = torch.zeros(3, 6, dtype=torch.bool)
    mask[0, 1] = mask[2, 4] = True
    want = torch.cat([(recon[0, 1] - X[0, 1]) ** 2, (recon[2, 4] - X[2, 4]) ** 2]).mean()
    torch.testing.assert_close(masked_mse(recon, X, mask), want)
    recon2 = recon.clone()
    recon2[~mask] = 100.0
    torch.testing.assert_close(masked_mse(recon2, X, mask), want)
    assert masked_mse(recon, X, torch.zeros_like(mask)).item() == 0.0


# ---------------------------------------------------------------- masked pre-training


def programs(n: int, R: int = 20, seed: int = 0):
    """Windows whose regions share one of 4 regulatory "programs" (motif-presence profiles): a
    masked region's expected features follow from its unmasked neighbours, not from the global
    mean. Returns X and the oracle (the program's expected features)."""
    prof = (torch.rand(4, F, generator=torch.Generator().manual_seed(100)) < 0.35) * 0.7 + 0.05
    g = torch.Generator().manual_seed(seed)
    p = prof[torch.randint(0, 4, (n,), generator=g)][:, None, :].expand(n, R, F)
    X = (torch.rand(n, R, F, generator=g) < p) * (0.5 + 0.5 * torch.rand(n, R, F, generator=g))
    return X, p * 0.75


def test_masked_pretraining_learns_context():
    X, _ = programs(2048)
    Xt, oracle = programs(512, seed=1)
    torch.manual_seed(0)
    net = RegionTransformer(GETConfig.small(n_features=F))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(2)
    for _ in range(200):
        idx = torch.randint(0, len(X), (32,), generator=g)
        mask = random_region_mask(32, 20, 0.5, g)
        loss = masked_mse(net(X[idx], mask=mask).reconstruction, X[idx], mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    mask = random_region_mask(len(Xt), 20, 0.5, torch.Generator().manual_seed(3))
    with torch.no_grad():
        model = masked_mse(net(Xt, mask=mask).reconstruction, Xt, mask).item()
    mean = masked_mse(X.mean((0, 1)).expand_as(Xt), Xt, mask).item()
    best = masked_mse(oracle, Xt, mask).item()
    assert model < 0.7 * mean, (model, mean, best)
    assert model < 1.15 * best, (model, mean, best)


# ---------------------------------------------------------------- saving and checking


def test_save_load_round_trip(tmp_path):
    net = small(distance_encoding=True, n_outputs=1)
    names = [f"motif{i}" for i in range(F - 1)] + ["accessibility"]
    model = GETModel(net, names)
    X = windows(5).numpy()
    pos = np.tile(np.arange(12) * 5_000, (5, 1))
    before = predict(model, X, pos, batch_size=2)
    model.save(tmp_path / "run")
    back = GETModel.load(tmp_path / "run")
    assert back.config == net.config and back.feature_names == names
    after = predict(back, X, pos, batch_size=2)
    assert before.shape == (5, 12, 1) and np.array_equal(before, after)
    assert predict(back, X, pos, output="accessibility").shape == (5, 12, 1)


def test_load_refuses_other_families_and_missing_runs(tmp_path):
    from cisgram.models.state import save_state

    save_state(tmp_path / "cnn", "cnn", {"w": np.zeros(2, np.float32)}, {})
    with pytest.raises(InputError, match="'cnn' model"):
        GETModel.load(tmp_path / "cnn")
    with pytest.raises(InputError, match="no model here"):
        GETModel.load(tmp_path / "nothing")


def test_bad_inputs_raise_input_error():
    net = small()
    with pytest.raises(InputError, match=r"takes 9 features per region.*has 8"):
        net(torch.zeros(2, 12, 8))
    with pytest.raises(InputError, match=r"\(B, R, F=9\).*\(12, 9\)") as e:
        net(torch.zeros(12, 9))
    assert "X[None]" in str(e.value)
    with pytest.raises(InputError, match="floating point"):
        net(torch.zeros(2, 12, 9, dtype=torch.long))
    with pytest.raises(InputError, match="mask must be a bool"):
        net(torch.zeros(2, 12, 9), mask=torch.zeros(2, 12))
    with pytest.raises(InputError, match="no distance encoding"):
        net(torch.zeros(2, 12, 9), positions=torch.zeros(2, 12))
    with pytest.raises(InputError, match="multiple of n_heads"):
        GETConfig(d_model=30, n_heads=4)
    with pytest.raises(InputError, match="dropout"):
        GETConfig(dropout=1.5)
    with pytest.raises(InputError, match="unknown GET configuration keys: layers"):
        GETConfig.from_dict({"layers": 3})
    with pytest.raises(InputError, match="feature names"):
        GETModel(net, ["a", "b"])
    with pytest.raises(InputError, match="takes 9 features"):
        predict(GETModel(net), np.zeros((1, 12, 10), np.float32))


def test_dropout_and_drop_path_only_in_training():
    net = small(dropout=0.3, drop_path=0.5)
    X = windows(4)
    with torch.no_grad():
        assert torch.equal(net(X).expression, net(X).expression)  # eval: deterministic
        net.train()
        assert not torch.equal(net(X).expression, net(X).expression)
