"""A small region transformer trained on simulated windows with a known rule, shared by the
GET interpretation tests (test_jacobian, test_interactions): trained once per session."""

from __future__ import annotations

import functools

import torch

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
