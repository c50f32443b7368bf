"""LoRA: frozen bases stay bit-identical, only adapters and named heads learn, merging is exact,
the adapter state round-trips, and GET's paper model trains about 1.4 % of its parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cisgram.errors import InputError
from cisgram.models.get import GETConfig, GETModel, RegionTransformer, count_parameters
from cisgram.models.lora import LoRALinear, apply_lora, load_lora, lora_modules, lora_state_dict, merge_lora
from cisgram.training import poisson_loss

F, R = 9, 11


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors (conftest)


def base() -> RegionTransformer:
    torch.manual_seed(0)
    return RegionTransformer(GETConfig.small(n_features=F))


def data(n: int = 256, seed: int = 0):
    """Expression at the centre region = A there × number of regions carrying B (/2)."""
    g = torch.Generator().manual_seed(seed)
    X = (torch.rand(n, R, F, generator=g) < 0.3) * (0.5 + 0.5 * torch.rand(n, R, F, generator=g))
    y = torch.zeros(n, R, 2)
    y[:, R // 2, 0] = X[:, R // 2, 0] * (X[..., 1] > 0).sum(1) * 0.5
    w = torch.zeros(n, R, 2)
    w[:, R // 2] = 1
    return X, y, w


def finetune(net: nn.Module, steps: int = 30) -> list[float]:
    """AdamW with weight decay over *all* parameters: frozen ones get no gradient, so no update."""
    X, y, w = data()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2, weight_decay=0.05)
    g = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(X), (32,), generator=g)
        loss = poisson_loss(net(X[idx]).expression, y[idx], w[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_lora_linear_starts_equal_and_merges_exactly():
    torch.manual_seed(0)
    lin = nn.Linear(6, 5)
    lora = LoRALinear(lin, rank=2, alpha=4)
    x = torch.randn(3, 6)
    assert torch.equal(lora(x), lin(x))  # B = 0
    assert not lin.weight.requires_grad and not lin.bias.requires_grad
    assert lora.lora_A.shape == (2, 6) and lora.lora_B.shape == (5, 2) and lora.scaling == 2.0
    with torch.no_grad():
        lora.lora_B.normal_()
    merged = lora.merge()
    assert type(merged) is nn.Linear
    torch.testing.assert_close(merged.weight, lin.weight + 2.0 * lora.lora_B @ lora.lora_A)
    torch.testing.assert_close(merged(x), lora(x), rtol=0, atol=1e-6)


def test_only_adapters_and_named_heads_change():
    net = base()
    before = {id(p): p.detach().clone() for p in net.parameters()}
    names = {id(p): n for n, p in net.named_parameters()}
    apply_lora(net, rank=4, alpha=8, trainable=("expression_head",))
    adapters = lora_modules(net)
    assert set(adapters) == {"region_embed"} | {f"encoder.blocks.{i}.{m}" for i in range(2)
                                               for m in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")}
    losses = finetune(net)
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5])  # the adapters learn
    for p in net.parameters():
        if id(p) not in before:
            continue  # an adapter
        name = names[id(p)]
        if name.startswith("expression_head."):
            assert p.requires_grad and not torch.equal(p, before[id(p)]), name
        else:
            assert not p.requires_grad and torch.equal(p, before[id(p)]), name
    for m in adapters.values():
        assert m.lora_B.abs().sum() > 0 and m.lora_A.requires_grad


def test_merged_model_predicts_like_the_adapted_one():
    from cisgram.interpret.jacobian import region_importance

    net = apply_lora(base(), rank=4, alpha=8)
    finetune(net, steps=10)
    net.eval()
    X = data(16, seed=5)[0]
    imp = region_importance(net, X, R // 2)  # the hook sits on the adapted region embedding
    with torch.no_grad():
        adapted = net(X).expression
        n_adapted = count_parameters(net)
        merge_lora(net)
        merged = net(X).expression
    assert not lora_modules(net)
    assert count_parameters(net) == count_parameters(base()) < n_adapted
    torch.testing.assert_close(merged, adapted, rtol=0, atol=1e-5)
    np.testing.assert_allclose(region_importance(net, X, R // 2), imp, rtol=1e-4, atol=1e-6)


def test_lora_state_round_trips_and_saves_merged(tmp_path):
    net = apply_lora(base(), rank=4, alpha=8)
    finetune(net, steps=10)
    state = lora_state_dict(net)
    assert state and all(k.endswith((".lora_A", ".lora_B")) or k.startswith("expression_head.") for k in state)
    assert any(k.startswith("expression_head.") for k in state)
    fresh = load_lora(apply_lora(base(), rank=4, alpha=8), state)
    X = data(8, seed=6)[0]
    net.eval(), fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh(X).expression, net(X).expression)
        GETModel(net).save(tmp_path / "run")  # merges a copy; the adapted net is left as it is
        assert lora_modules(net)
        back = GETModel.load(tmp_path / "run").net
        torch.testing.assert_close(back(X).expression, net(X).expression, rtol=0, atol=1e-5)
    with pytest.raises(InputError, match="no place in this model"):
        load_lora(base(), state)
    with pytest.raises(InputError, match="do not fit"):
        load_lora(apply_lora(base(), rank=2, alpha=8), state)


def test_paper_model_trains_a_small_fraction_on_meta_device():
    """rank 8 on the region embedding and every qkv, proj, fc1, fc2 of 12 blocks: 1,188,056
    adapter parameters with GET's 283 features (specs/get.md §2.6: ≈ 1.19 M), plus the head."""
    with torch.device("meta"):
        net = RegionTransformer(GETConfig.paper(n_features=283))
    total = count_parameters(net)
    apply_lora(net, rank=8, alpha=16)
    adapters = sum(m.lora_A.numel() + m.lora_B.numel() for m in lora_modules(net).values())
    assert adapters == 8 * (283 + 768) + 12 * 8 * ((768 + 3 * 768) + (768 + 768) + 2 * (768 + 3072))
    assert adapters == 1_188_056
    trainable = count_parameters(net, trainable_only=True)
    assert trainable == adapters + 768 * 2 + 2
    assert trainable / (total + adapters) < 0.015


def test_apply_lora_refuses_mistakes():
    with pytest.raises(InputError, match="matches no linear layer"):
        apply_lora(base(), targets=("encoders",))
    with pytest.raises(InputError, match="neither a module nor a parameter"):
        apply_lora(base(), trainable=("exp_head",))
    with pytest.raises(InputError, match="both a LoRA target"):
        apply_lora(base(), targets=("encoder", "expression_head"), trainable=("expression_head",))
    net = apply_lora(base())
    with pytest.raises(InputError, match="already has a LoRA adapter"):
        apply_lora(net, targets=("encoder",))  # adapters never stack (GET's minLoRA substring pitfall)


def test_patterns_and_parameters():
    net = apply_lora(base(), targets=("encoder.blocks.*.attn.qkv",), trainable=("cls_token", "mask_head"))
    assert set(lora_modules(net)) == {"encoder.blocks.0.attn.qkv", "encoder.blocks.1.attn.qkv"}
    assert net.cls_token.requires_grad and net.mask_head.weight.requires_grad
    assert not net.expression_head.weight.requires_grad and not net.region_embed.weight.requires_grad
