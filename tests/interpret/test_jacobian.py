"""GET Jacobians on a small region transformer trained on simulated windows with a known rule:
the model must learn the rule (held-out Pearson > 0.9), gene-by-motif must name the rule's two
motifs per strand, and the gradients must agree with torch.autograd.functional.jacobian."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cisgram.errors import InputError
from cisgram.interpret.jacobian import (
    entry_contributions,
    gene_by_motif,
    jacobian,
    per_gene,
    region_importance,
)
from cisgram.models.get import GETConfig, GETModel, RegionTransformer
from tests.toys import MOTIFS, TSS, A, B, C, D, F, R, simulate, trained_rule_model

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors (conftest)


@pytest.fixture(scope="module")
def trained():
    return trained_rule_model()


@pytest.fixture(scope="module")
def held_out():
    return simulate(400, seed=1)


def test_model_learns_the_rule(trained, held_out):
    X, y, _ = held_out
    with torch.no_grad():
        pred = trained(X).expression[:, TSS]
    for s in (0, 1):
        r = np.corrcoef(pred[:, s].numpy(), y[:, TSS, s].numpy())[0, 1]
        assert r > 0.9, (s, r)


@pytest.mark.parametrize("absolute", [False, True])
def test_gene_by_motif_names_the_rule_motifs(trained, held_out, absolute):
    X = held_out[0]
    for strand, rule in ((0, {"A", "B"}), (1, {"C", "D"})):
        gm = gene_by_motif(trained, X, TSS, strand=strand, absolute=absolute, batch_size=128)
        assert gm.shape == (len(X), F) and gm.dtype == np.float32
        score = gm.mean(0)
        top = {(MOTIFS + ["accessibility"])[i] for i in np.argsort(-score)[:2]}
        assert top == rule, (strand, absolute, score.round(3))
        if not absolute:  # the rule's motifs raise expression; the other motifs barely move it (the
            # dense accessibility column, present in every region, takes part of a bias term)
            rule_idx = [A, B] if strand == 0 else [C, D]
            others = np.delete(score[:-1], rule_idx)
            assert score[rule_idx].min() > 2 * np.abs(others).max(), score.round(3)


def test_gradients_match_autograd(trained, held_out):
    X = held_out[0][:3]
    focus, strand = np.array([TSS, 2, 9]), np.array([0, 1, 0])
    J = jacobian(trained, X, focus, strand=strand, batch_size=2)
    for i in range(3):
        ref = torch.autograd.functional.jacobian(
            lambda x, i=i: trained(x[None]).expression[0, focus[i], strand[i]], X[i])
        np.testing.assert_allclose(J[i], ref.numpy(), rtol=1e-4, atol=1e-6)
    gm = gene_by_motif(trained, X, focus, strand=strand)
    np.testing.assert_allclose(gm, (J * X.numpy()).sum(1), rtol=1e-4, atol=1e-6)
    ga = gene_by_motif(trained, X, focus, strand=strand, absolute=True)
    np.testing.assert_allclose(ga, np.abs(J * X.numpy()).sum(1), rtol=1e-4, atol=1e-6)


def test_region_importance_is_the_embedding_gradient_norm(trained, held_out):
    X = held_out[0][:3]
    imp = region_importance(trained, X, TSS, strand=0)
    assert imp.shape == (3, R)
    np.testing.assert_allclose(imp.sum(1), 1.0, rtol=1e-5)
    with torch.no_grad():
        E = trained.region_embed(X)
    for i in range(3):
        def from_embedding(e, i=i):
            hook = trained.region_embed.register_forward_hook(lambda *_: e[None])
            try:
                return trained(X[i:i + 1]).expression[0, TSS, 0]
            finally:
                hook.remove()

        norm = torch.autograd.functional.jacobian(from_embedding, E[i]).norm(dim=-1)
        np.testing.assert_allclose(imp[i], (norm / norm.sum()).numpy(), rtol=1e-4, atol=1e-6)


def test_regions_with_b_matter_more(trained, held_out):
    X = held_out[0]
    imp = region_importance(trained, X, TSS)
    active = X[:, TSS, A] > 0  # otherwise + strand expression is 0 whatever B does
    has_b = (X[..., B] > 0) & active[:, None]
    no_b = (X[..., B] == 0) & active[:, None]
    has_b[:, TSS] = no_b[:, TSS] = False
    assert imp[has_b.numpy()].mean() > 1.5 * imp[no_b.numpy()].mean()


def test_mode_device_and_inputs(held_out):
    torch.manual_seed(0)
    net = RegionTransformer(GETConfig.small(n_features=F, dropout=0.5)).train()
    X = held_out[0][:4].numpy()
    a = gene_by_motif(GETModel(net), X, TSS)
    b = gene_by_motif(net, X, TSS)
    assert np.array_equal(a, b)  # eval mode: dropout off
    assert net.training and next(net.parameters()).device.type == "cpu"
    assert region_importance(net, X, TSS, output="accessibility").shape == (4, R)
    assert jacobian(net, X[:0], TSS).shape == (0, R, F)
    with pytest.raises(InputError, match=r"focus must be in 0\.\.10"):
        gene_by_motif(net, X, R)
    with pytest.raises(InputError, match=r"strand must be in 0\.\.0"):
        gene_by_motif(net, X, TSS, strand=1, output="accessibility")
    with pytest.raises(InputError, match=r"one per window \(4,\)"):
        gene_by_motif(net, X, [TSS, TSS])
    with pytest.raises(InputError, match="whole numbers"):
        gene_by_motif(net, X, 4.5)
    assert np.array_equal(gene_by_motif(net, X, np.full(4, float(TSS))), b)  # 5.0 is region 5
    with pytest.raises(InputError, match="output must be"):
        gene_by_motif(net, X, TSS, output="atac")
    with pytest.raises(InputError, match="takes 9 features"):
        gene_by_motif(net, X[..., :-1], TSS)
    with pytest.raises(InputError, match="RegionTransformer"):
        gene_by_motif(torch.nn.Linear(9, 2), X, TSS)


def test_region_importance_norms_unnormalised(trained, held_out):
    X = held_out[0][:4]
    norm = region_importance(trained, X, TSS, strand=1, normalise=False)
    share = region_importance(trained, X, TSS, strand=1)
    assert (norm > 0).all() and not np.allclose(norm.sum(1), 1.0)
    np.testing.assert_allclose(share, norm / norm.sum(1, keepdims=True), rtol=1e-5)


class _Lazy:
    """Windows cut when sliced, as the workflow's EntryWindows: ``len`` and ``[lo:hi]`` only."""

    def __init__(self, X):
        self.X, self.sliced = X.numpy(), []

    def __len__(self):
        return len(self.X)

    def __getitem__(self, sl):
        self.sliced.append(sl)
        return self.X[sl]


def test_entry_contributions_are_gene_by_motif_over_the_window(trained, held_out):
    """One pass gives GET's mean and absmean rows (gene_by_motif / R) and the outputs themselves,
    chunk by chunk from a lazy sequence; zero= sets a column to 0 in every window first."""
    X = held_out[0][:10]
    focus, strand = np.array([TSS, 2, 9, TSS, 0, TSS, TSS, 4, 5, 6]), np.arange(10) % 2
    lazy = _Lazy(X)
    signed, absolute, pred = entry_contributions(trained, lazy, focus, strand=strand, chunk=4, batch_size=3)
    assert lazy.sliced == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert signed.shape == absolute.shape == (10, F) and pred.shape == (10,)
    np.testing.assert_allclose(signed, gene_by_motif(trained, X, focus, strand=strand) / R, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(absolute, gene_by_motif(trained, X, focus, strand=strand, absolute=True) / R,
                               rtol=1e-4, atol=1e-7)
    with torch.no_grad():
        ref = trained(X).expression[np.arange(10), focus, strand].numpy()
    np.testing.assert_allclose(pred, ref, rtol=1e-5, atol=1e-6)
    s0, a0, p0 = entry_contributions(trained, X, TSS, strand=0, zero=[A, B])
    Xz = X.clone()
    Xz[..., [A, B]] = 0
    assert (s0[:, [A, B]] == 0).all() and (a0[:, [A, B]] == 0).all()
    np.testing.assert_allclose(s0, gene_by_motif(trained, Xz, TSS) / R, rtol=1e-4, atol=1e-7)
    assert np.abs(p0).max() < 0.1 < np.abs(ref).mean()  # + strand = A at the TSS x ...: nothing left
    assert entry_contributions(trained, X[:0], TSS)[0].shape == (0, F)


def test_per_gene_is_the_mean_of_each_gene_entries():
    rows = np.array([[1.0, 2.0], [3.0, 5.0], [5.0, -4.0], [7.0, 0.0], [9.0, 1.0]])
    labels = ["g1", "g2,g3", "g1", "", "g3"]
    got = per_gene(pd.DataFrame(rows, columns=["m", "n"]), labels)
    assert list(got.index) == ["g1", "g2", "g3"] and got.index.name == "gene" and list(got.columns) == ["m", "n"]
    np.testing.assert_allclose(got.loc["g1"], (rows[0] + rows[2]) / 2)
    np.testing.assert_allclose(got.loc["g2"], rows[1])  # an entry with two TSS names counts for both
    np.testing.assert_allclose(got.loc["g3"], (rows[1] + rows[4]) / 2)
    assert list(per_gene(rows, labels, columns=["a", "b"]).columns) == ["a", "b"]
    with pytest.raises(InputError, match="one label per row"):
        per_gene(rows, labels[:3])
