"""cisgram.training's GET pieces: AdamW parameter groups (no decay on 1-D parameters and tokens,
BEiT layer scales), the per-step warm-up + cosine schedule as a fit applies it, GET's zero-label
loss, the ATAC head's loss and the z-scored pre-training target."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cisgram.data.get_windows import RegionWindow
from cisgram.errors import InputError
from cisgram.models.get import GETConfig, RegionTransformer
from cisgram.models.lora import apply_lora
from cisgram.training import (
    GETTraining,
    TrainConfig,
    accessibility_loss,
    entry_weight,
    expression_loss,
    fit,
    get_loss,
    lr_factor,
    param_groups,
    poisson_loss,
    window_zscore,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(n_features: int = 6, **kw) -> RegionTransformer:
    torch.manual_seed(0)
    return RegionTransformer(GETConfig.small(n_features=n_features, d_model=16, n_layers=2, n_heads=2, mlp_dim=32, **kw))


def test_param_groups_exempt_1d_parameters_and_tokens_and_scale_layers():
    net = tiny()
    cfg = TrainConfig(weight_decay=0.05, lr=1e-3, no_decay_1d=True, layer_decay=0.5)
    groups = param_groups(net, cfg)
    names = {id(p): n for n, p in net.named_parameters()}
    decayed = {names[id(p)] for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    kept = {names[id(p)] for g in groups if g["weight_decay"] == 0 for p in g["params"]}
    assert decayed | kept == set(names.values()) and not decayed & kept
    assert {"cls_token", "mask_token"} <= kept
    assert all(n.endswith(".bias") or net.get_parameter(n).ndim <= 1 or n.endswith("_token") for n in kept)
    assert all(net.get_parameter(n).ndim >= 2 for n in decayed) and "encoder.blocks.0.attn.qkv.weight" in decayed
    # BEiT: the embedding gets 0.5 ** 3, block i 0.5 ** (2 - i), the heads the full rate
    scale = {names[id(p)]: g["lr_scale"] for g in groups for p in g["params"]}
    assert scale["region_embed.weight"] == pytest.approx(0.125) and scale["encoder.blocks.1.mlp.fc1.weight"] == 0.5
    assert scale["expression_head.weight"] == 1.0
    assert all(g["lr"] == pytest.approx(1e-3 * g["lr_scale"]) for g in groups)
    # the earlier optimiser: one group, decay everywhere; frozen LoRA bases stay out
    flat = param_groups(net, TrainConfig(weight_decay=0.05))
    assert len(flat) == 1 and flat[0]["weight_decay"] == 0.05
    lora = apply_lora(tiny(), 2, 4.0, targets=("encoder",), trainable=("expression_head",))
    trained = sum(p.numel() for g in param_groups(lora, cfg) for p in g["params"])
    assert trained == sum(p.numel() for p in lora.parameters() if p.requires_grad) < sum(p.numel() for p in lora.parameters())


def test_cosine_schedule_warms_up_then_decays_to_min_lr():
    cfg = TrainConfig(lr=1e-3, min_lr=1e-5, schedule="cosine")
    lo = 1e-5 / 1e-3
    f = [lr_factor(s, 100, 10, cfg) for s in range(101)]
    assert f[0] == pytest.approx(lo) and f[10] == pytest.approx(1.0) and f[100] == pytest.approx(lo)
    assert all(a < b for a, b in zip(f[:10], f[1:11], strict=True))  # warm-up rises
    assert all(a >= b for a, b in zip(f[10:-1], f[11:], strict=True))  # then falls
    assert f[55] == pytest.approx(lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * 0.5)))
    with pytest.raises(InputError, match="schedule"):
        TrainConfig(schedule="step")
    with pytest.raises(InputError, match="layer_decay"):
        TrainConfig(layer_decay=1.5)


def windows(n: int = 24, R: int = 6, F: int = 6, seed: int = 0) -> list[RegionWindow]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        x = torch.rand(R, F, generator=g)
        has = torch.zeros(R, 2, dtype=torch.bool)
        has[::2, 0] = True
        y = torch.where(has, (2 * x[:, :1]).expand(R, 2), torch.zeros(R, 2))
        out.append(RegionWindow(x, y, has, torch.ones(R, dtype=torch.bool), torch.arange(R) * 1000, torch.tensor(0),
                                torch.tensor(-1), torch.tensor(0), "c"))
    return out


def test_fit_applies_the_schedule_per_step():
    net = tiny()
    data = windows()
    cfg = GETTraining().config(max_epochs=4, patience=4, batch_size=4, lr=1e-3, seed=0)  # 6 steps per epoch
    res = fit(net, data, data, cfg, loss=get_loss())
    lrs = [h["lr"] for h in res.history]
    total, warm = 24, 6
    assert lrs == pytest.approx([1e-3 * lr_factor(6 * (e + 1), total, warm, cfg) for e in range(4)], rel=1e-6)
    assert lrs[0] > lrs[1] > lrs[2] > lrs[3] == pytest.approx(1e-6)
    flat = fit(tiny(), data, data, GETTraining.before().config(max_epochs=2, patience=2, batch_size=4), loss=get_loss())
    assert [h["lr"] for h in flat.history] == [1e-3, 1e-3]


def test_zero_labels_score_every_entry_of_training_windows_only():
    has = torch.zeros(2, 5, 2, dtype=torch.bool)
    has[:, 1, 0] = has[:, 3, 1] = True
    in_split = torch.tensor([[True] * 5, [True, True, False, True, True]])
    focus = torch.tensor([-1, 3])
    w = entry_weight(has, in_split, focus, zero_labels=True)
    assert w[0].all()  # a training window: all 10 entries, the 8 non-TSS ones as zeros
    assert w[1].sum() == 1 and w[1, 3, 1]  # an evaluation window: still its focus TSS entry only
    masked = entry_weight(has, in_split, focus)
    assert masked[0].sum() == 2 and torch.equal(masked[1], w[1])
    # the loss is the Poisson loss over those entries, zeros included
    net = tiny().eval()
    b = torch.utils.data.default_collate(windows(4))
    with torch.no_grad():
        out = net(b.x).expression
        ref = poisson_loss(out, b.y, torch.ones_like(b.has_tss))
        assert float(expression_loss(net, b, zero_labels=True)) == pytest.approx(float(ref), rel=1e-5)
        assert float(expression_loss(net, b)) == pytest.approx(float(poisson_loss(out, b.y, b.has_tss)), rel=1e-5)


def test_accessibility_loss_hides_the_column_and_scores_the_head_against_it():
    net = tiny().eval()
    b = torch.utils.data.default_collate(windows(4))
    seen = []
    net.region_embed.register_forward_hook(lambda m, i, o: seen.append(i[0].detach().clone()))
    with torch.no_grad():
        value = accessibility_loss(net, b)
    assert torch.all(seen[-1][..., -1] == 1) and torch.equal(seen[-1][..., :-1], b.x[..., :-1])
    with torch.no_grad():
        x1 = b.x.clone()
        x1[..., -1] = 1
        ref = poisson_loss(net(x1).accessibility, b.x[..., -1:], torch.ones(4, 6, 1, dtype=torch.bool))
    assert float(value) == pytest.approx(float(ref), rel=1e-5)
    # GET's training adds it with its weight; the default leaves the head alone
    with torch.no_grad():
        both = GETTraining(atac_target="logcpm", atac_weight=0.5).loss()(net, b)
        alone = GETTraining().loss()(net, b)
    assert float(both) == pytest.approx(float(alone) + 0.5 * float(value), rel=1e-4)
    with pytest.raises(InputError, match="ATAC target"):
        GETTraining(atac_target="binary")


def test_window_zscore_standardises_each_window_and_feature():
    x = torch.rand(3, 10, 4, dtype=torch.float64) * torch.tensor([1.0, 5.0, 0.1, 2.0], dtype=torch.float64) + 3
    z = window_zscore(x)
    assert np.allclose(z.mean(1).numpy(), 0, atol=1e-5) and np.allclose(z.std(1, unbiased=False).numpy(), 1, atol=1e-3)
    assert window_zscore(torch.ones(1, 4, 2)).abs().max() == 0  # constant columns give zeros, not NaN


# ------------------------------------------------------------------------------------ resuming a fit


class _Killed(Exception):
    pass


def _kill_in(epoch: int, batch: int = 1):
    """A callback that stops training in the middle of ``epoch`` (as a killed process would)."""
    from lightning.pytorch.callbacks import Callback

    class Kill(Callback):
        def on_train_batch_start(self, trainer, pl_module, b, batch_idx):
            if trainer.current_epoch == epoch and batch_idx == batch:
                raise _Killed

    return Kill()


def _numbers(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def _same_fit(a, b) -> bool:
    sa, sb = a.net.state_dict(), b.net.state_dict()
    return (_numbers(a.history) == _numbers(b.history) and a.best_epoch == b.best_epoch
            and a.best_val_loss == b.best_val_loss and list(sa) == list(sb)
            and all(torch.equal(sa[k], sb[k]) for k in sa))


def _interrupted_then_resumed(make_net, train, val, cfg, directory, *, epoch: int, **kw):
    with pytest.raises(_Killed):
        fit(make_net(), train, val, cfg, checkpoint=directory, callbacks=(_kill_in(epoch),), **kw)
    return fit(make_net(), train, val, cfg, checkpoint=directory, resume=True, **kw)


def sequences(n: int, length: int = 200, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One-hot sequences whose target is the count of G in the first 50 bp."""
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (n, length), generator=g), 4).float().transpose(1, 2)
    y = x[:, 2, :50].sum(1, keepdim=True) / 10
    return list(zip(x, y, strict=True))


def test_a_cnn_fit_killed_mid_epoch_and_resumed_ends_as_an_uninterrupted_one(tmp_path):
    from tests.toys import tiny_deepsea

    def make_net():
        return tiny_deepsea(length=200, seed=1)[0].train()  # batch norm, dropout: both random and stateful

    train, val = sequences(48, seed=1), sequences(24, seed=2)
    cfg = TrainConfig(max_epochs=4, patience=4, batch_size=8, lr=3e-3, seed=5)
    ref = fit(make_net(), train, val, cfg)
    res = _interrupted_then_resumed(make_net, train, val, cfg, tmp_path / "ck", epoch=2)
    assert len(res.history) == 4 and _same_fit(ref, res)
    # the checkpoint holds the last epoch only, as safetensors and JSON (no pickle), and says the fit had ended
    files = [p for p in (tmp_path / "ck").rglob("*") if p.is_file()]
    assert {p.suffix for p in files} == {".safetensors", ".json"}
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["epoch-3", "latest.json"]
    again = fit(make_net(), train, val, cfg, checkpoint=tmp_path / "ck", resume=True)  # no training: the kept result
    assert _same_fit(ref, again) and again.seconds == pytest.approx(res.seconds, rel=0.5)
    # other settings or data cannot resume it; without resume the old epochs go
    with pytest.raises(InputError, match="lr: 0.003 then, 0.001 now"):
        fit(make_net(), train, val, TrainConfig(max_epochs=4, patience=4, batch_size=8, seed=5), checkpoint=tmp_path / "ck",
            resume=True)
    with pytest.raises(InputError, match="train_items: 48 then, 40 now"):
        fit(make_net(), train[:40], val, cfg, checkpoint=tmp_path / "ck", resume=True)
    with pytest.raises(_Killed):
        fit(make_net(), train, val, cfg, checkpoint=tmp_path / "ck", callbacks=(_kill_in(0),))
    assert not (tmp_path / "ck" / "latest.json").exists()


def test_a_get_fit_with_a_schedule_early_stopping_and_a_killed_epoch_resumes_exactly(tmp_path):
    def make_net():
        return tiny(drop_path=0.1)

    data = windows(24)
    val = windows(12, seed=1)
    cfg = GETTraining().config(max_epochs=30, patience=2, batch_size=4, lr=3e-2, seed=2)  # stops early
    ref = fit(make_net(), data, val, cfg, loss=get_loss())
    assert len(ref.history) < 30
    for epoch in (1, len(ref.history) - 1):  # after the first checkpoint, and in the last epoch
        res = _interrupted_then_resumed(make_net, data, val, cfg, tmp_path / f"ck{epoch}", epoch=epoch, loss=get_loss())
        assert _same_fit(ref, res)
    # resume without a checkpoint there starts afresh
    assert _same_fit(ref, fit(make_net(), data, val, cfg, loss=get_loss(), checkpoint=tmp_path / "new", resume=True))


def test_a_redirected_fit_prints_a_line_per_epoch_and_no_progress_bar(capsys):
    """With ``progress`` and a stderr that is not a terminal (pytest captures it), each epoch is one
    line with its losses, and no progress bar redraws are written."""
    from tests.toys import tiny_deepsea

    data = sequences(64)
    fit(tiny_deepsea(length=200, seed=1)[0], data, data, TrainConfig(max_epochs=2, patience=2, batch_size=32,
                                                                      progress=True))
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("epoch ")]
    assert [ln.split(":")[0] for ln in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("train_loss" in ln and "val_loss" in ln for ln in lines)
    assert "\r" not in err and "━" not in err
