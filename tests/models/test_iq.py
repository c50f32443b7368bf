"""The IQ model: bases, the logistic fit against an independent optimiser, the differentiable
energy against the numba kernel, and recovery of a known IQ-style model from simulated sequences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from cisgram.errors import InputError
from cisgram.models import iq_distill as distill
from cisgram.models.iq import IQModel, fit_logistic, logistic_bases
from cisgram.models.iq_fit import IQConfig, fit_iq, information_bits
from cisgram.motifs.features import Bins, apply_energy_norm, fit_energy_norm, motif_energy
from cisgram.motifs.pwm import Motif, MotifSet

ACGT = "ACGT"


def test_logistic_bases_match_the_spec_table():
    got = logistic_bases(np.array([[0.0], [5.0], [10.0]]))[:, 0, :]
    want = np.array([[0, 0.013, 0.007, 9e-5], [0.848, 0.152, 0.5, 0.013], [0.987, 1, 0.993, 1]])
    np.testing.assert_allclose(got, want, atol=1.5e-3)


def test_fit_logistic_matches_scipy_on_fractional_targets():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5)) * [1, 2, 0.5, 3, 1] + [0, 1, 2, 3, 4]
    y = 1 / (1 + np.exp(-(X @ [0.5, -0.3, 1.0, 0.2, 0.0] - 1)))
    y = np.clip(y + rng.normal(0, 0.05, 400), 0, 1)
    fit = fit_logistic(X, y, ridge=0.0)

    def loss(w):
        z = X @ w[:-1] + w[-1]
        return np.mean(np.logaddexp(0, z) - y * z)

    ref = optimize.minimize(loss, np.zeros(6), method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(fit.coef, ref[:-1], atol=2e-4)
    assert fit.intercept == pytest.approx(ref[-1], abs=2e-4)


def test_fit_logistic_refuses_targets_outside_unit_interval():
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        fit_logistic(np.ones((5, 1)), np.array([0, 0.5, 1, 1.2, 0]))


def _motif(cons: str, strength: float = 0.88, name: str = "m") -> Motif:
    p = np.full((len(cons), 4), (1 - strength) / 3)
    for i, c in enumerate(cons):
        p[i, ACGT.index(c)] = strength
    return Motif(name, "", p)


def test_differentiable_energy_equals_the_scanning_kernel_and_its_gradient_is_exact():
    import torch

    rng = np.random.default_rng(1)
    codes = rng.integers(0, 4, (30, 120)).astype(np.uint8)
    codes[3, 50] = 4  # an N
    grid = Bins.for_length(120)
    probs = rng.dirichlet(np.ones(4), 9)
    spatial = rng.uniform(0.2, 1, grid.n)
    spatial = np.concatenate([spatial[: (grid.n + 1) // 2], spatial[: grid.n // 2][::-1]])
    ref = motif_energy(codes, MotifSet([Motif("x", "", probs)]), grid=grid, weights=spatial).energy[:, 0]
    e = distill._Energy(codes, grid, 9)
    logits = torch.tensor(np.log(probs), requires_grad=True)
    half = torch.tensor(np.log(spatial[: (grid.n + 1) // 2]), requires_grad=True)
    got = e(logits, half, grid.n)
    np.testing.assert_allclose(got.detach().numpy(), ref, rtol=1e-5)
    assert torch.autograd.gradcheck(lambda lg, h: e(lg, h, grid.n), (logits, half), eps=1e-6, atol=1e-5)


def _simulate(n: int = 2500, length: int = 200, seed: int = 0):
    """Sequences with planted sites of an activator (A) and a repressor (R), the truth of an
    IQ-style model: energies with a central spatial profile, normalised, four bases, logistic link."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, length)).astype(np.uint8)
    act, rep = _motif("TGACTCAT", name="act"), _motif("CCAATGGG", name="rep")
    for r in range(n):
        for m in (act, rep):
            for _ in range(rng.poisson(0.8)):
                p = rng.integers(0, length - m.width)
                codes[r, p:p + m.width] = rng.choice(4, m.width, p=None) if rng.random() < 0.1 else \
                    [rng.choice(4, p=row) for row in m.probs]
    grid = Bins.for_length(length)
    spatial = np.array([0.3, 0.8, 1.0, 0.8, 0.3])[: grid.n]
    raw = motif_energy(codes, MotifSet([act, rep]), grid=grid, weights=np.vstack([spatial, spatial])).energy
    E = apply_energy_norm(raw, fit_energy_norm(raw, ["act", "rep"]))
    beta = np.array([[1.5, 0, 2.0, 0], [-1.0, 0, -2.0, 0]])  # act opens, rep closes
    link = np.einsum("nmk,mk->n", logistic_bases(E), beta) - 0.5
    p_true = 1 / (1 + np.exp(-link))
    y = np.clip(p_true + rng.normal(0, 0.05, n), 0, 1)
    decoys = [_motif(c, 0.7, f"decoy{i}") for i, c in enumerate(["GGGGCGGG", "ATATATAT", "CACGTGAC", "TTTTAAAA"])]
    noisy = []
    for m in (act, rep):
        for j in range(3):  # three noisy database copies of each true motif: multi-member clusters
            q = np.clip(m.probs + rng.uniform(0, 0.15, m.probs.shape), 1e-3, None)
            noisy.append(Motif(f"{m.name}_db{j}", "", q / q.sum(axis=1, keepdims=True)))
    return codes, y, p_true, MotifSet(noisy + decoys), (act, rep), spatial


@pytest.fixture(scope="module")
def simulated():
    codes, y, p_true, db, truth, spatial = _simulate()
    train = np.arange(len(y)) < 2000
    cfg = IQConfig(max_motifs=4, distill_steps=80, filter=True, seed=0)
    fitted = fit_iq(codes, y[:, None], train, db, targets=["sim"], config=cfg)
    return codes, y, p_true, train, truth, spatial, fitted


def _best_corr(probs: np.ndarray, truth: np.ndarray) -> float:
    """Pearson r of ``truth`` with the best-aligned window of ``probs`` on either strand."""
    w = truth.shape[0]
    best = -1.0
    for p in (probs, probs[::-1, ::-1]):
        for i in range(p.shape[0] - w + 1):
            best = max(best, np.corrcoef(p[i:i + w].ravel(), truth.ravel())[0, 1])
    return best


def test_simulated_model_is_recovered(simulated):
    codes, y, p_true, train, truth, spatial, fitted = simulated
    model = fitted.model
    pred = model.predict(codes)[:, 0]
    test = ~train
    ceiling = np.corrcoef(y[test], p_true[test])[0, 1] ** 2
    r2 = np.corrcoef(y[test], pred[test])[0, 1] ** 2
    assert r2 > ceiling - 0.05, (r2, ceiling)
    # the calibration is the least-squares line on training rows: there 1 - SSres/SStot = r^2
    res = ((y[train] - pred[train]) ** 2).sum() / ((y[train] - y[train].mean()) ** 2).sum()
    assert 1 - res == pytest.approx(np.corrcoef(y[train], pred[train])[0, 1] ** 2, abs=1e-9)
    # each true PWM is recovered by one learned motif, and its partial response has the true sign
    E = model.energies(codes)
    for m in truth:
        corr = [_best_corr(mm.probs, m.probs) for mm in model.motifs]
        i = int(np.argmax(corr))
        assert corr[i] > 0.9, (m.name, corr)
        resp = model.partial_response(E)[:, i]
        slope = np.corrcoef(E[:, i], resp)[0, 1]
        assert (slope > 0) == (m.name == "act"), (m.name, slope)


def test_distillation_never_loses_to_its_representative(simulated):
    fitted = simulated[-1]
    assert fitted.clusters
    for c in fitted.clusters:
        assert c["r2_learned"] >= c["r2_representative"] - 1e-9, c


def test_learned_binding_model_beats_its_seed():
    codes, y, _, _, truth, spatial = _simulate(n=800, seed=2)
    grid = Bins.for_length(codes.shape[1])
    word, _, seed_probs = distill.kmer_seed(codes, y)
    res = distill.learn_binding_model(codes, y, grid, seed_probs, steps=60, lr=0.1)
    assert res.r2 >= res.r2_start
    assert len(word) == 8


def test_model_round_trip(tmp_path, simulated):
    codes, *_, fitted = simulated
    fitted.model.save(tmp_path)
    back = IQModel.load(tmp_path)
    np.testing.assert_allclose(back.predict(codes[:50]), fitted.model.predict(codes[:50]))
    with pytest.raises(InputError, match="200 bp"):
        back.predict(codes[:5, :100])


def test_information_bits():
    assert information_bits(np.full((5, 4), 0.25)) == pytest.approx(0)
    assert information_bits(np.eye(4)[[0, 1, 2]]) == pytest.approx(6, abs=1e-6)


def test_fit_iq_refuses_too_few_training_rows():
    codes, y, _, db, _, _ = _simulate(n=60)
    with pytest.raises(InputError, match="at least 50"):
        fit_iq(codes, y[:, None], np.arange(60) < 30, db, targets=["t"])


def test_denovo_motif_finds_what_the_database_lacks():
    codes, y, _, db, (act, rep), _ = _simulate(n=1500, seed=3)
    no_rep = MotifSet([m for m in db if not m.name.startswith("rep")])
    cfg = IQConfig(max_motifs=2, distill_steps=60, n_denovo=1, filter=False, seed=0)
    fitted = fit_iq(codes, y[:, None], np.arange(1500) < 1200, no_rep, targets=["sim"], config=cfg)
    denovo = [m for m in fitted.model.motifs if m.name.startswith("denovo")]
    assert len(denovo) == 1
    assert _best_corr(denovo[0].probs, rep.probs) > 0.8


def test_top_site_share_tells_one_strong_site_from_many_weak_ones():
    grid = Bins.for_length(200)
    m = _motif("TGACTCAT")
    codes = np.full((2, 200), 1, np.uint8)  # all C: no site
    codes[0, 90:98] = [ACGT.index(c) for c in "TGACTCAT"]  # one perfect site
    weak = [ACGT.index(c) for c in "TGACTCAA"]  # one mismatch, planted many times
    for p in range(10, 180, 12):
        codes[1, p:p + 8] = weak
    _, share = distill.top_site_share(codes, m.probs, np.ones(grid.n), grid)
    assert share[0] > 0.9
    assert share[1] < 0.2


def test_validation_chosen_ridge_helps_a_small_noisy_training_set():
    # 120 noisy training regions: IceQream's near-unpenalised final fit overfits the design
    codes, y, p_true, db, truth, spatial = _simulate(n=700, seed=4)
    y = np.clip(p_true + np.random.default_rng(0).normal(0, 0.25, len(y)), 0, 1)
    idx = np.arange(len(y))
    train, val, test = idx < 120, (idx >= 120) & (idx < 400), idx >= 400
    cfg = IQConfig(max_motifs=4, distill_steps=10, filter=False, seed=0)
    tuned = fit_iq(codes, y[:, None], train, db, targets=["sim"], config=cfg, val=val)
    stage = next(s for s in tuned.stages if s["stage"] == "ridge")
    assert stage["chosen"][0] > 1e-6  # a penalty was chosen ...
    m = tuned.model
    X = m.design(m.energies(codes), m.cov_values(codes))
    plain = fit_logistic(X[train], y[train])  # the same design fitted without it
    r_plain = np.corrcoef(X[test] @ plain.coef + plain.intercept, p_true[test])[0, 1]
    r_tuned = np.corrcoef(m.predict(codes[test])[:, 0], p_true[test])[0, 1]
    assert r_tuned > r_plain + 0.05, (r_tuned, r_plain)  # ... and it finds the truth better on held-out regions
    with pytest.raises(InputError, match="validation rows"):
        fit_iq(codes, y[:, None], train, db, targets=["sim"], config=cfg, val=train)
