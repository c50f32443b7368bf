"""IceQream's multi-trajectory fusion (specs/iceqream.md §5): the minimum-difference rows, the
coherence split of clusters whose members' partial responses disagree across targets, and the
per-trajectory motif sets stored with the model."""

from __future__ import annotations

import numpy as np
import pytest

from cisgram.errors import InputError
from cisgram.models import iq_fusion as fusion
from cisgram.models.iq import IQModel, logistic_bases
from cisgram.models.iq_fit import IQConfig, fit_iq
from cisgram.motifs.features import Bins, apply_energy_norm, fit_energy_norm, motif_energy
from cisgram.motifs.pwm import Motif, MotifSet

ACGT = "ACGT"


def _energies(n: int = 600, seed: int = 0) -> np.ndarray:
    """Columns a, a' (r ≈ 0.99), b, b' (r ≈ 0.99), a and b independent."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    return np.column_stack([a, a + 0.1 * rng.normal(size=n), b, b + 0.1 * rng.normal(size=n)]) + 5


def test_min_diff_rows_keeps_training_rows_that_differ_in_some_target():
    Y = np.array([[0.05, 0.0], [0.2, 0.0], [0.0, np.nan], [0.5, 0.9], [0.05, 0.15]])
    train = np.array([True, True, True, False, True])
    np.testing.assert_array_equal(fusion.min_diff_rows(Y, train, 0.1), [False, True, False, False, True])
    # a min-max scaled dAP: zero at 0.5, threshold 0.1 × 1/(max − min) = 0.05
    np.testing.assert_array_equal(fusion.min_diff_rows(Y[:, :1], train, 0.1, zero=0.5, scale=0.5),
                                  [True, True, True, False, True])


def test_references_put_the_min_diff_threshold_on_the_unscaled_dap():
    from cisgram.data.access import differential_target

    rng = np.random.default_rng(3)
    n = 400
    ap = rng.uniform(0, 1, size=(n, 2))
    d = differential_target(ap, ["K", "G"], "G", "K", np.full(n, 1e5), np.ones(n, bool))
    zero, scale = fusion.references([d.params, None])
    assert zero[1] == 0.0 and scale[1] == 1.0  # an AP target: read from 0
    train = np.ones(n, bool)
    rows = fusion.min_diff_rows(np.column_stack([d.y, np.full(n, np.nan)]), train, 0.1, zero=zero, scale=scale)
    np.testing.assert_array_equal(rows, np.abs(d.dap) > 0.1)  # |dAP| > 0.1, IceQream's rule
    assert 0 < rows.sum() < n


def test_cluster_whose_members_act_in_opposite_ways_is_split():
    E = _energies()
    rows = np.arange(len(E))
    labels = np.array([0, 0, 1, 1])  # {a, a'}, {b, b'}
    kept = {0: {0: 1.0, 2: 0.7, 3: 0.7}, 1: {1: -2.0, 2: 0.3}}  # target 1 reads a' against target 0's a
    new, rec = fusion.split_incoherent(labels, range(4), E, kept, rows, names=["a", "a2", "b", "b2"])
    np.testing.assert_array_equal(new, [0, 1, 2, 2])
    assert (rec["clusters_before"], rec["clusters_after"], rec["clusters_split"]) == (2, 3, 1)
    (s,) = rec["split"]
    assert s["members"] == ["a", "a2"] and s["parts"] == [["a"], ["a2"]]
    assert s["coherence"] < -0.99 and s["member_r"] < -0.99
    assert rec["coherence"][1] > 0.99  # {b, b'}: both targets read it the same way


def test_cluster_whose_members_are_uncorrelated_across_targets_is_split():
    E = _energies()
    labels = np.array([0, 1, 0, 1])  # a with b: what target 0 and target 1 read is unrelated
    kept = {0: {0: 1.0}, 1: {2: 1.0, 1: 0.5, 3: 0.5}}
    new, rec = fusion.split_incoherent(labels, range(4), E, kept, np.arange(len(E)))
    np.testing.assert_array_equal(new, [0, 2, 1, 2])  # {a', b'}: one target, nothing fused across targets
    assert rec["clusters_split"] == 1 and abs(rec["split"][0]["coherence"]) < 0.15
    assert rec["split"][0]["parts"] == [[0], [2]] and rec["coherence"][1] is None


def test_coherent_cluster_is_fused_and_switches_behave():
    E = _energies()
    rows = np.arange(len(E))
    labels = np.array([0, 0, 1, 1])
    coherent = {0: {0: 1.0, 2: 1.0}, 1: {1: 0.4, 3: 2.0}}
    new, rec = fusion.split_incoherent(labels, range(4), E, coherent, rows)
    np.testing.assert_array_equal(new, labels)
    assert rec["clusters_split"] == 0 and min(rec["coherence"]) > 0.98
    # one target reads collinear copies with opposite signs (an L1 path shares weight so), both alike
    flips = {0: {0: 1.0, 1: -0.5}, 1: {0: 0.8, 1: -0.3}}
    new, rec = fusion.split_incoherent(np.zeros(2, int), range(2), E[:, :2] - 5 + np.arange(2), flips, rows)
    np.testing.assert_array_equal(new, [0, 0])
    assert rec["coherence"][0] > 0.99
    # four motifs, two coherent pairs that disagree: groups keep the pairs, singletons do not
    one = np.zeros(4, dtype=int)
    kept = {0: {0: 1.0, 1: 1.0}, 1: {2: 1.0, 3: 1.0}}
    groups, _ = fusion.split_incoherent(one, range(4), E, kept, rows)
    np.testing.assert_array_equal(groups, [0, 0, 1, 1])
    single, _ = fusion.split_incoherent(one, range(4), E, kept, rows, mode="singletons")
    np.testing.assert_array_equal(single, [0, 1, 2, 3])
    off, rec = fusion.split_incoherent(one, range(4), E, kept, rows, mode="off")
    np.testing.assert_array_equal(off, one)
    assert rec["clusters_split"] == 0 and rec["coherence"][0] < 0.6
    with pytest.raises(InputError, match="coherence split"):
        fusion.split_incoherent(one, range(4), E, kept, rows, mode="never")


def test_trajectory_sets_follow_the_members_each_target_kept():
    clusters = [{"name": "A", "members": ["a", "a2"]}, {"name": "B", "members": ["b"]},
                {"name": "denovo1", "members": []}]
    sets = fusion.trajectory_sets(clusters, {"t1": {"a"}, "t2": {"a2", "b"}}, ["t1", "t2"])
    assert sets == {"models": {"t1": ["A", "denovo1"], "t2": ["A", "B", "denovo1"]},
                    "models_full": ["A", "B", "denovo1"]}
    assert [c["trajectories"] for c in clusters] == [["t1", "t2"], ["t2"], ["t1", "t2"]]


def _motif(cons: str, strength: float = 0.9, name: str = "m") -> Motif:
    p = np.full((len(cons), 4), (1 - strength) / 3)
    for i, c in enumerate(cons):
        p[i, ACGT.index(c)] = strength
    return Motif(name, "", p)


def _two_targets(sign: float, n: int = 1200, length: int = 120, seed: int = 3):
    """Target 1 opens with the sites of motif A; target 2 responds to A with ``sign``."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, length)).astype(np.uint8)
    act = _motif("TGACTCAT", name="A")
    for r in range(n):
        for _ in range(rng.poisson(1.0)):
            p = rng.integers(0, length - act.width)
            codes[r, p:p + act.width] = [rng.choice(4, p=row) for row in act.probs]
    grid = Bins.for_length(length)
    raw = motif_energy(codes, MotifSet([act]), grid=grid).energy
    E = apply_energy_norm(raw, fit_energy_norm(raw, ["A"]))
    link = logistic_bases(E)[:, 0, :] @ np.array([1.5, 0, 2.0, 0])
    link = link - link.mean()
    Y = np.column_stack([1 / (1 + np.exp(-link)), 1 / (1 + np.exp(-sign * link))])
    Y = np.clip(Y + rng.normal(0, 0.03, Y.shape), 0, 1)
    db = MotifSet([_motif("TGACTCAT", 0.75, "A_db"), _motif("TGACTCAA", 0.75, "A_db2")])
    return codes, Y, db


@pytest.mark.parametrize("sign, splits", [(-1.0, 1), (1.0, 0)])
def test_fit_iq_splits_only_the_incoherent_fusion_and_stores_the_sets(tmp_path, sign, splits):
    codes, Y, db = _two_targets(sign)
    train = np.arange(len(Y)) < 1000
    cfg = IQConfig(max_motifs=1, distill_steps=5, filter=False, covariates=False, seed=0, coherence_split="groups", min_diff=0.1)
    fitted = fit_iq(codes, Y, train, db, targets=["t1", "t2"], config=cfg)
    rec = next(s for s in fitted.stages if s["stage"] == "coherence split")
    assert (rec["clusters_before"], rec["clusters_split"]) == (1, splits)
    assert (rec["coherence"][0] < 0.6) == bool(splits)
    assert len(fitted.model.motifs) == 1 + splits
    fitted.model.save(tmp_path)
    back = IQModel.load(tmp_path)
    assert back.info["trajectory_sets"] == fitted.model.info["trajectory_sets"]
    assert back.trajectory_motifs() == back.motif_names
    assert all(set(back.trajectory_motifs(t)) <= set(back.motif_names) for t in ("t1", "t2"))
    assert back.info["config"]["coherence_threshold"] == 0.6


def test_report_section_shows_the_split_and_each_targets_own_set():
    from cisgram.report.iq import fusion_section

    E = _energies()
    _, rec = fusion.split_incoherent(np.array([0, 0, 1, 1]), range(4), E, {0: {0: 1.0, 2: 0.7}, 1: {1: -2.0, 3: 0.3}},
                                     np.arange(len(E)), names=["a", "a2", "b", "b2"])
    stages = [{"stage": "coherence split", "seconds": 0.0, **rec}]
    sets = {"models": {"t1": ["A", "B"], "t2": ["A2", "B"]}, "models_full": ["A", "A2", "B"]}
    page = fusion_section(stages, sets, ["t1", "t2"])
    assert "2 clusters, 1 split, 3 after" in page and "<td>a | a2</td>" in page
    assert "<td>t1</td><td>2</td><td>3</td><td>A2</td>" in page
    assert fusion_section(stages, sets, ["t1"]) == ""
