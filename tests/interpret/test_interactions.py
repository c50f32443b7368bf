"""Motif–motif interactions, LiNGAM causal graphs and in-silico knock-out of regions: checked
against independent computations (scipy's Spearman, a one-window-at-a-time knock-out loop), a
planted linear non-Gaussian causal chain, and the planted enhancer rule of ``get_rule``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from cisgram.errors import InputError
from cisgram.interpret.interactions import (
    ABC_GAMMA,
    ABC_MIN_DISTANCE,
    ABC_SCALE,
    causal_edges,
    causal_graph,
    enhancer_gene_scores,
    get_enhancer_scores,
    knockout_effects,
    motif_correlation,
    pool_cells,
    powerlaw_contact,
    top_interactions,
)
from cisgram.models.get import GETConfig, RegionTransformer
from tests.toys import TSS, A, B, F, R, simulate, trained_rule_model

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors (conftest)


def test_correlation_matches_scipy_and_names_the_planted_pair():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 6))
    a[:, 4] = a[:, 1] + 0.3 * rng.normal(size=200)  # motifs 1 and 4 are used together
    a[:, 5] = 0.0  # a motif no gene uses
    gbm = pd.DataFrame(a, columns=list("uvwxyz"))
    c = motif_correlation(gbm)
    ref = stats.spearmanr(a[:, :5]).statistic
    np.fill_diagonal(ref, 0)
    np.testing.assert_allclose(c.to_numpy()[:5, :5], ref, atol=1e-12)
    assert (c["z"] == 0).all() and (np.diag(c) == 0).all()
    np.testing.assert_allclose(motif_correlation(gbm, method="pearson").to_numpy()[:5, :5],
                               np.corrcoef(a[:, :5].T) - np.eye(5), atol=1e-12)
    top = top_interactions(c, fraction=0.05)
    assert len(top) == 1  # ceil(5 % of 15 pairs)
    assert set(top.iloc[0][["motif_a", "motif_b"]]) == {"v", "y"} and top.iloc[0]["correlation"] > 0.9
    assert len(top_interactions(c, fraction=1.0)) == 15
    with pytest.raises(InputError, match="NaN"):
        motif_correlation(np.full((5, 3), np.nan))
    with pytest.raises(InputError, match="fraction"):
        top_interactions(c, fraction=0)


@pytest.mark.parametrize("method", ["ica", "direct"])
def test_lingam_recovers_a_planted_chain_in_any_column_order(method):
    """x0 → x1 → x3, x2 independent, uniform (non-Gaussian) noise; the columns are given out of
    causal order and LiNGAM runs on permuted orders: the averaged graph must hold exactly the two
    planted edges, with their signs."""
    rng = np.random.default_rng(1)
    n = 1500
    x0 = rng.uniform(-1, 1, n)
    x1 = 1.5 * x0 + rng.uniform(-1, 1, n)
    x2 = rng.uniform(-1, 1, n)
    x3 = -1.2 * x1 + rng.uniform(-1, 1, n)
    gbm = pd.DataFrame({"x3": x3, "x1": x1, "x2": x2, "x0": x0, "flat": np.zeros(n)})
    adj = causal_graph(gbm, n_orders=3, method=method, seed=0)
    assert list(adj.index) == list(adj.columns) == list(gbm.columns)
    edges = causal_edges(adj, threshold=0.1)
    assert {(s, t) for s, t in edges[["source", "target"]].itertuples(index=False)} == {("x0", "x1"), ("x1", "x3")}
    w = dict(zip(zip(edges["source"], edges["target"], strict=True), edges["weight"], strict=True))
    assert w[("x0", "x1")] > 0.5 and w[("x1", "x3")] < -0.5  # z-scored effects
    assert (adj["flat"] == 0).all() and (adj.loc["flat"] == 0).all()


def test_lingam_refuses_too_few_genes():
    with pytest.raises(InputError, match="more genes than motifs"):
        causal_graph(np.random.default_rng(0).normal(size=(4, 6)))
    with pytest.raises(InputError, match="method"):
        causal_graph(np.random.default_rng(0).normal(size=(40, 3)), method="pc")


def test_knockout_matches_a_window_by_window_loop():
    torch.manual_seed(0)
    net = RegionTransformer(GETConfig.small(n_features=F)).eval()
    X = simulate(5, seed=3)[0]
    focus, strand = np.array([TSS, 0, 3, TSS, R - 1]), np.array([0, 1, 1, 0, 1])
    for const in (None, 1.0):
        eff = knockout_effects(net, X, focus, strand=strand, constant_accessibility=const, batch_size=30)
        assert eff.shape == (5, R) and eff.dtype == np.float32
        with torch.no_grad():
            for b in range(5):
                wt = net(X[b:b + 1]).expression[0, focus[b], strand[b]]
                for j in range(R):
                    x = X[b:b + 1].clone()
                    x[0, j] = 0
                    if const is not None:
                        x[0, j, -1] = const
                    ko = net(x).expression[0, focus[b], strand[b]]
                    assert abs(eff[b, j] - float(ko - wt)) < 1e-5
    with pytest.raises(InputError, match="focus must be in"):
        knockout_effects(net, X, R)


def test_knockout_finds_the_planted_enhancers():
    """+ strand expression = A at the TSS × (number of regions with B) / 2: knocking out a
    region with B must cost about half a unit of rate, one without B (and not the TSS) nothing."""
    net = trained_rule_model()
    X = simulate(300, seed=5)[0]
    eff = knockout_effects(net, X, TSS, strand=0)
    active = (X[:, TSS, A] > 0).numpy()
    has_b = (X[..., B] > 0).numpy() & active[:, None]
    no_b = (X[..., B] == 0).numpy() & active[:, None]
    has_b[:, TSS] = no_b[:, TSS] = False
    assert eff[has_b].mean() < -0.2, eff[has_b].mean()
    assert abs(eff[no_b].mean()) < 0.25 * abs(eff[has_b].mean()), (eff[no_b].mean(), eff[has_b].mean())
    assert (eff[:, TSS][active] < eff[has_b].mean()).mean() > 0.8  # the promoter itself (A) matters most


def test_enhancer_scores_and_power_law():
    d = np.array([0, 1000, ABC_MIN_DISTANCE, 20_000, 200_000])
    c = powerlaw_contact(d)
    assert c[0] == c[1] == c[2] and np.all(np.diff(c[2:]) < 0)
    np.testing.assert_allclose(c[3], np.exp(ABC_SCALE - ABC_GAMMA * np.log(20_001)))
    eff = np.array([[-2.0, 0.5, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    acc = np.array([[1.0, 1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    s = enhancer_gene_scores(eff, acc, np.vstack([d, d]))
    np.testing.assert_allclose(s["loss"][0], [2, 0, 1, 0, 0])
    np.testing.assert_allclose(s["score"][0].sum(), 2.0)  # each part sums to 1
    abc = c * acc[0]
    np.testing.assert_allclose(s["score"][0], np.array([2, 0, 1, 0, 0]) / 3 + abc / abc.sum())
    assert (s["score"][1] == 0).all()  # nothing to share: zeros, not NaN
    with pytest.raises(InputError, match="one \\(genes, regions\\) shape"):
        enhancer_gene_scores(eff, acc[:1], np.vstack([d, d]))


def test_get_enhancer_score_parts_each_sum_to_one_per_gene():
    """GET's score = share(jacobian_norm x atac) + share(atac x contact), by hand."""
    rng = np.random.default_rng(4)
    jn = rng.uniform(0, 2, (6, 9))
    acc = rng.uniform(0, 1, (6, 9))
    acc[0, :4] = 0.0  # closed regions take no share of either part
    dist = rng.integers(-300_000, 300_000, (6, 9))
    jn[5], acc[5] = 0.0, 0.0  # nothing to share: zeros, not NaN
    s = get_enhancer_scores(jn, acc, dist)
    contact = powerlaw_contact(dist)
    for k in range(5):
        np.testing.assert_allclose(s["jacobian_part"][k], jn[k] * acc[k] / (jn[k] * acc[k]).sum())
        np.testing.assert_allclose(s["contact_part"][k], acc[k] * contact[k] / (acc[k] * contact[k]).sum())
    for part in ("importance", "jacobian_part", "contact_part"):
        np.testing.assert_allclose(s[part][:5].sum(1), 1.0)
        assert (s[part][5] == 0).all()
    np.testing.assert_allclose(s["score_get"], s["jacobian_part"] + s["contact_part"])
    np.testing.assert_allclose(s["score_get"][:5].sum(1), 2.0)
    assert (s["score_get"][0, :4] == 0).all()
    np.testing.assert_allclose(get_enhancer_scores(jn / 7, acc, dist)["score_get"], s["score_get"])  # scale-free
    with pytest.raises(InputError, match="one \\(genes, regions\\) shape"):
        get_enhancer_scores(jn, acc[:2], dist)


def test_pooled_matrix_has_every_cell_type_and_its_lingam_runs():
    rng = np.random.default_rng(2)
    cells = {}
    for k, cell in enumerate(("K562", "GM12878", "MCF7")):
        x0 = rng.uniform(-1, 1, 300) + k  # cell types differ in level
        cells[cell] = pd.DataFrame({"x0": x0, "x1": 1.5 * x0 + rng.uniform(-1, 1, 300), "x2": rng.uniform(-1, 1, 300)},
                                   index=pd.Index([f"g{i}" for i in range(300)], name="gene"))
    pooled = pool_cells(cells)
    assert pooled.shape == (900, 3) and list(pooled.index.names) == ["gene", "cell"]
    assert pooled.index.get_level_values("cell").unique().tolist() == ["K562", "GM12878", "MCF7"]
    np.testing.assert_array_equal(pooled.xs("GM12878", level="cell").to_numpy(), cells["GM12878"].to_numpy())
    edges = causal_edges(causal_graph(pooled, n_orders=2, seed=0), threshold=0.1)
    assert ("x0", "x1") in set(zip(edges["source"], edges["target"], strict=True))
    np.testing.assert_allclose(motif_correlation(pooled, method="pearson").to_numpy(),
                               np.corrcoef(pooled.to_numpy().T) - np.eye(3), atol=1e-12)
    with pytest.raises(InputError, match="different columns"):
        pool_cells({"a": cells["K562"], "b": cells["MCF7"][["x1", "x0", "x2"]]})
