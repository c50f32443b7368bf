"""Distillation from gapped k-mer seeds (``--distill kmer|both``): the screen against a brute-force
count, the seed PWM, and a planted motif the database holds only in two halves."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cisgram.errors import InputError
from cisgram.models.iq import logistic_bases
from cisgram.models.iq_distill import crop, learn_binding_model
from cisgram.models.iq_fit import IQConfig, fit_iq
from cisgram.models.iq_kmer import learn_from_kmers
from cisgram.models.iq_seeds import screen_kmers, seed_probs
from cisgram.motifs.features import Bins, apply_energy_norm, fit_energy_norm, motif_energy
from cisgram.motifs.pwm import Motif, MotifSet

ACGT = "ACGT"


def _rc(s: str) -> str:
    return s[::-1].translate(str.maketrans("ACGTN", "TGCAN"))


def _count(seq: str, pat: str) -> int:
    return sum(all(c == "N" or seq[p + i] == c for i, c in enumerate(pat)) for p in range(len(seq) - len(pat) + 1))


def test_gapped_kmer_screen_equals_a_brute_force_count():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (100, 24)).astype(np.uint8)
    codes[5, 10] = 4  # an N: no k-mer over it
    y = rng.normal(size=100)
    seqs = ["".join("ACGTN"[c] for c in row) for row in codes]
    best, seen = ("", -1.0), set()
    for letters in map("".join, itertools.product(ACGT, repeat=4)):
        for g in range(4):  # ungapped, or one N after letter g
            pat = letters if g == 0 else letters[:g] + "N" + letters[g:]
            can = min(pat, _rc(pat))
            if can in seen:
                continue
            seen.add(can)
            cnt = np.array([_count(s, can) + (_count(s, _rc(can)) if _rc(can) != can else 0) for s in seqs], float)
            if cnt.std() > 0:
                r2 = np.corrcoef(cnt, y)[0, 1] ** 2
                best = max(best, (can, r2), key=lambda b: b[1])
    (word, r2), = screen_kmers(codes, y, k=4, max_gap=1, window=24)
    assert word == best[0]
    assert r2 == pytest.approx(best[1], rel=1e-9)


def test_seed_pwm_is_pregos_and_seeds_are_distinct():
    p = seed_probs("ACNT", 7)
    assert p.shape == (7, 4)
    np.testing.assert_allclose(p[[0, 3, 5, 6]], 0.25)  # padding and the N are uniform
    assert p[1, 0] == 0.85 and p[2, 1] == 0.85 and p[4, 3] == 0.85 and p[1, 1] == 0.05
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 4, (400, 100)).astype(np.uint8)
    y = np.zeros(400)
    for r in range(0, 400, 2):  # one planted 8-mer: its shifted or gapped copies are not new seeds
        codes[r, 40:48] = [ACGT.index(c) for c in "GATTACAG"]
        y[r] = 1
    seeds = screen_kmers(codes, y, k=6, n_seeds=3, min_rows=10)
    assert seeds[0][1] > 0.8
    assert all(s[1] < 0.5 for s in seeds[1:]), seeds


def _motif(cons: str, strength: float, name: str) -> Motif:
    p = np.full((len(cons), 4), (1 - strength) / 3)
    for i, c in enumerate(cons):
        p[i, ACGT.index(c)] = strength
    return Motif(name, "", p)


def _best_corr(probs: np.ndarray, truth: np.ndarray) -> float:
    """Pearson r of ``truth`` with the best-aligned window of ``probs``, either strand."""
    w = truth.shape[0]
    return max(np.corrcoef(p[i:i + w].ravel(), truth.ravel())[0, 1]
               for p in (probs, probs[::-1, ::-1]) for i in range(p.shape[0] - w + 1))


def _planted(n: int, cons: str, seed: int):
    """Random 200 bp sequences with sites of ``cons`` (Poisson 0.7 per region) and an IQ-style
    target driven by them alone: codes, target, the true motif."""
    rng = np.random.default_rng(seed)
    L = 200
    codes = rng.integers(0, 4, (n, L)).astype(np.uint8)
    truth = _motif(cons, 0.9, "planted")
    for r in range(n):
        for _ in range(rng.poisson(0.7)):
            p = rng.integers(20, L - 20 - truth.width)
            codes[r, p:p + truth.width] = [rng.choice(4, p=row) for row in truth.probs]
    raw = motif_energy(codes, MotifSet([truth]), grid=Bins.for_length(L)).energy
    E = apply_energy_norm(raw, fit_energy_norm(raw, ["planted"]))
    link = logistic_bases(E)[:, 0, :] @ np.array([1.5, 0, 2.0, 0]) - 1
    return codes, np.clip(1 / (1 + np.exp(-link)) + rng.normal(0, 0.05, n), 0, 1), truth


def test_kmer_seeds_recover_a_motif_the_database_lacks_and_refining_a_decoy_cannot():
    codes, y, truth = _planted(1000, "GATTACAGGTCT", seed=0)
    grid = Bins.for_length(codes.shape[1])
    idx = np.arange(len(y))
    response = np.where(idx < 700, y, np.nan)[:, None]  # training rows
    validation = np.where((idx >= 700) & (idx < 850), y, np.nan)[:, None]
    decoy = _motif("CCAATGGG", 0.85, "decoy")  # the database's motif: unrelated to the planted one
    refined = learn_binding_model(codes, response, grid, crop(decoy.probs, 15), steps=60, lr=0.1)
    assert _best_corr(refined.probs, truth.probs) < 0.6  # gradient ascent stays near its seed
    pick = learn_from_kmers(codes, response, grid, validation=validation, incumbent=("distilled", refined),
                            steps=60, n_seeds=2)
    assert pick.how == "kmer" and pick.scored_on == "validation"
    assert pick.scores[f"kmer:{pick.seed}"] > pick.scores["distilled"] + 0.2, pick.scores
    assert _count("GATTACAGGTCT" + "N" + _rc("GATTACAGGTCT"), pick.seed) > 0  # a gapped 8-mer of the site
    assert _best_corr(pick.learned.probs, truth.probs) > 0.9
    alone = learn_from_kmers(codes, response, grid, steps=5, n_seeds=1)  # no validation rows: training r²
    assert alone.scored_on == "training" and alone.how == "kmer"


def test_fit_iq_records_the_seed_and_the_choice_of_each_cluster():
    codes, y, truth = _planted(700, "GATTACAGGTCTGC", seed=1)
    db = MotifSet([_motif("GATTACA", 0.85, "left"), _motif("GGTCTGC", 0.85, "right"), _motif("CCCGGG", 0.8, "u1")])
    idx = np.arange(len(y))
    cfg = IQConfig(max_motifs=1, distill_steps=20, filter=False, covariates=False, distill="both", kmer_seeds=2)
    fitted = fit_iq(codes, y[:, None], idx < 500, db, targets=["sim"], config=cfg, val=idx >= 600)
    (c,) = [c for c in fitted.clusters if len(c["members"]) > 1]
    assert c["how"] in ("kmer", "distilled", "spatial only")
    assert _count("GATTACAGGTCTGC" + "N" + _rc("GATTACAGGTCTGC"), c["seed"]) > 0
    assert next(s for s in fitted.stages if s["stage"] == "distillation")["kmer"] == (c["how"] == "kmer")


def test_unknown_distill_is_refused_before_any_work():
    codes = np.zeros((60, 50), np.uint8)
    with pytest.raises(InputError, match="distill"):
        fit_iq(codes, np.full((60, 1), 0.5), np.ones(60, bool), MotifSet([_motif("ACGT", 0.9, "m")]),
               targets=["t"], config=IQConfig(distill="prego"))
