"""The toy models the tests share.

- A small region transformer trained on simulated windows with a known rule (the GET
  interpretation tests, test_jacobian and test_interactions): :func:`simulate`,
  :func:`trained_rule_model`, trained once per session.
- Small sequence networks and run directories written without training:
  :func:`tiny_deepsea`, :func:`random_batchnorm`, :func:`cnn_run` (a ``cisgram train cnn``-shaped
  run) and :func:`tfbind_run` (a ``cisgram tfbind``-shaped run with one CNN per negative set).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cisgram.models.get import GETConfig, RegionTransformer
from cisgram.training import poisson_loss

R = 11  # the whole window lies within 5 regions of the TSS at its centre
TSS = R // 2
MOTIFS = ["A", "B", "C", "D", "E", "F", "G", "H"]
F = len(MOTIFS) + 1  # + accessibility (random, uninformative)
A, B, C, D = 0, 1, 2, 3


def simulate(n: int, seed: int):
    """Region-by-motif windows: each motif is present in a region with probability 0.3 (score
    0.5-1). Expression of the TSS region, + strand = A at the TSS × (number of regions with B) / 2;
    - strand = C at the TSS × (number of regions with D) / 2; every other region expresses 0."""
    g = torch.Generator().manual_seed(seed)
    X = (torch.rand(n, R, F, generator=g) < 0.3) * (0.5 + 0.5 * torch.rand(n, R, F, generator=g))
    X[..., -1] = torch.rand(n, R, generator=g)
    y = torch.zeros(n, R, 2)
    y[:, TSS, 0] = X[:, TSS, A] * (X[..., B] > 0).sum(1) * 0.5
    y[:, TSS, 1] = X[:, TSS, C] * (X[..., D] > 0).sum(1) * 0.5
    tss = torch.zeros(n, R, 2)
    tss[:, TSS] = 1
    return X, y, tss


@functools.lru_cache(maxsize=1)
def trained_rule_model() -> RegionTransformer:
    """Trained on the rule (300 Adam steps of 32 windows; ~10 s on one thread), in eval mode."""
    X, y, tss = simulate(2048, seed=0)
    torch.manual_seed(0)
    net = RegionTransformer(GETConfig.small(n_features=F))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(2)
    for _ in range(300):
        idx = torch.randint(0, len(X), (32,), generator=g)
        loss = poisson_loss(net(X[idx]).expression, y[idx], tss[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def random_batchnorm(net: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial running statistics and affine terms, so eval-mode BatchNorm is not ~identity."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm1d):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
    return net.eval()


def tiny_deepsea(n_tasks: int = 1, length: int = 200, seed: int = 0) -> tuple[nn.Module, dict]:
    """An untrained DeepSEA-style network of 4-filter layers (random batch-norm statistics) and its spec."""
    from cisgram.models.cnn import build

    spec = {"arch": "deepsea", "n_tasks": n_tasks, "length": length, "filters": [4, 4, 4], "hidden": 4}
    return random_batchnorm(build(spec, seed=seed), seed), spec


def cnn_run(directory, *, length: int = 200, targets=("acc",), task: str = "regression", genome=None,
            seed: int = 0) -> Path:
    """A run directory as ``cisgram train cnn`` writes it (model files and ``config.json``), with an
    untrained tiny network: enough for ``cisgram.load`` and everything that predicts."""
    from cisgram.models.cnn import CNNModel

    d = Path(directory)
    net, spec = tiny_deepsea(len(targets), length, seed)
    CNNModel(net, spec, task, list(targets), np.arange(len(targets)) + 1.0, np.full(len(targets), 2.0)).save(d)
    (d / "config.json").write_text(json.dumps({"family": "cnn", "task": task, "length": length, "spec": spec,
                                               "genome": None if genome is None else str(genome)}))
    return d


def tfbind_run(directory, *, length: int = 200, strategies=("genomic", "gc")) -> Path:
    """A run directory as ``cisgram tfbind`` writes it: ``config.json`` naming the negative sets
    and one classification CNN run per set."""
    d = Path(directory)
    for k, s in enumerate(strategies):
        cnn_run(d / s, length=length, targets=(f"{s}:cnn",), task="classification", seed=k)
        cfg = json.loads((d / s / "config.json").read_text())
        (d / s / "config.json").write_text(json.dumps({**cfg, "negatives": s}))
    (d / "config.json").write_text(json.dumps({"family": "tfbind", "negatives": list(strategies), "window": length}))
    return d


def motif_cnn(motif: str, length: int):
    """``(net, spec)``: a dilated CNN that sees one motif and nothing else. Its one filter scores +1
    per base matching ``motif`` and −1 otherwise, minus ``len(motif) − 1.5``, then a ReLU, a global
    max and ``2 × ·``: on a window without ``motif`` (either strand as given) every ReLU is off, so
    the output is exactly 0 and its gradient zero."""
    from cisgram.genome import encode
    from cisgram.models.cnn import build

    k = len(motif)
    spec = {"arch": "dilated", "n_tasks": 1, "length": length, "filters": 1, "layers": 0, "first_kernel": k}
    net = build(spec)
    w = -np.ones((1, 4, k), np.float32)
    w[0, encode(motif), np.arange(k)] = 1.0
    with torch.no_grad():
        net.stem[0].weight.copy_(torch.from_numpy(w))
        net.stem[0].bias.fill_(-(k - 1.5))
        net.count.weight.fill_(2.0)
        net.count.bias.zero_()
    return net, spec
