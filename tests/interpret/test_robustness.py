"""Motif leave-out at inference on the small region transformer trained on the planted rule of
``tests/toys.py`` (+ strand = A at the TSS × regions with B / 2, - strand = C at the TSS ×
regions with D / 2): leaving out A must silence the + strand and move the predictions far more
than leaving out a motif the rule does not use; and the measurement checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from cisgram.errors import InputError
from cisgram.interpret.robustness import LeaveOutState, inference_state, leave_out_change, motif_leave_out
from tests.toys import MOTIFS, TSS, A, simulate, trained_rule_model

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors (conftest)
NAMES = [*MOTIFS, "accessibility"]


@pytest.fixture(scope="module")
def entries():
    """Each window is one gene with two entries, its TSS region on either strand."""
    X = simulate(200, seed=7)[0]
    n = len(X)
    return torch.cat([X, X]), np.r_[np.zeros(n, int), np.ones(n, int)], [f"w{k}" for k in range(n)] * 2


def test_leaving_out_the_planted_motif_moves_the_predictions(entries):
    net = trained_rule_model()
    X, strand, labels = entries
    n = len(X) // 2
    table = motif_leave_out(net, X, TSS, strand=strand, labels=labels, feature_names=NAMES,
                            motifs=["A", "E", "F", "G", "H"], batch_size=128)
    assert table["motif"].tolist() == ["A", "E", "F", "G", "H"] and table["rank"].tolist() == [1, 2, 3, 4, 5]
    row = table.set_index("motif")
    inert = row.loc[["E", "F", "G", "H"]]
    assert row.at["A", "mean_abs_change"] > 4 * inert["mean_abs_change"].max(), row["mean_abs_change"]
    assert row.at["A", "prediction_pearson"] < 0.8 < 0.98 < inert["prediction_pearson"].min()
    assert row.at["A", "importance_spearman"] < inert["importance_spearman"].min()  # B loses its use with A
    # the rule: without A the + strand expresses 0 whatever else is there; the - strand does not read A
    before = inference_state(net, X, TSS, strand=strand, labels=labels, feature_names=NAMES)
    after = inference_state(net, X, TSS, strand=strand, labels=labels, feature_names=NAMES, zero=A)
    assert np.abs(after.predicted[:n]).mean() < 0.05 * before.predicted[:n].mean()
    plus, minus = (np.abs(after.predicted - before.predicted)[k] for k in (slice(0, n), slice(n, None)))
    assert minus.mean() < 0.2 * plus.mean(), (minus.mean(), plus.mean())
    assert (after.importance["A"] == 0).all()
    np.testing.assert_allclose(row.at["A", "mean_abs_change"], np.abs(after.predicted - before.predicted).mean(),
                               rtol=1e-6)


def test_leave_out_change_by_hand():
    genes = pd.Index(["g1", "g2", "g3", "g4"], name="gene")
    cols = ["m0", "m1", "m2", "m3", "accessibility"]
    a = pd.DataFrame([[5.0, 1.0, 2.0, 3.0, 9.0], [4.0, 3.0, 2.0, 1.0, 9.0], [1.0, 0.0, 0.0, 6.0, 9.0],
                      [1.0, 1.0, 1.0, 1.0, 9.0]], genes, cols)
    b = pd.DataFrame([[0.0, 3.0, 2.0, 1.0, 1.0], [0.0, 3.0, 2.0, 1.0, 2.0], [0.0, 6.0, 0.0, 0.0, 3.0],
                      [0.0, 1.0, 1.0, 1.0, 4.0]], genes, cols)
    before = LeaveOutState(np.array([1.0, 2.0, 3.0, 4.0]), a)
    after = LeaveOutState(np.array([1.5, 2.0, 2.0, 4.5]), b)
    r = leave_out_change(before, after, "m0")
    assert r["motif"] == "m0" and r["importance"] == pytest.approx(11 / 4)
    assert r["mean_abs_change"] == pytest.approx(0.5) and r["max_abs_change"] == pytest.approx(1.0)
    assert r["prediction_pearson"] == pytest.approx(np.corrcoef(before.predicted, after.predicted)[0, 1])
    # per gene over m1..m3 (accessibility is not a motif): g1 reversed (-1), g2 the same (1), g3 -0.5, g4
    # constant (left out)
    per = [stats.spearmanr(a.loc[g, ["m1", "m2", "m3"]], b.loc[g, ["m1", "m2", "m3"]]).statistic for g in genes[:3]]
    np.testing.assert_allclose(per, [-1.0, 1.0, -0.5])
    assert r["importance_spearman"] == pytest.approx(np.mean(per))
    ma, mb = a[["m1", "m2", "m3"]].mean(), b[["m1", "m2", "m3"]].mean()
    assert r["ranking_spearman"] == pytest.approx(stats.spearmanr(ma, mb).statistic)
    assert r["max_rank_change"] == 2 and r["most_moved"] == "m3"  # m3: first (11/4) -> last (3/4)
    with pytest.raises(InputError, match="unknown motif"):
        leave_out_change(before, after, "zz")
    with pytest.raises(InputError, match="different entries"):
        leave_out_change(before, LeaveOutState(after.predicted[:2], b), "m0")
    with pytest.raises(InputError, match="unknown motif"):
        motif_leave_out(None, np.zeros((1, 3, 5)), 0, labels=["g"], feature_names=cols, motifs=["nope"])
