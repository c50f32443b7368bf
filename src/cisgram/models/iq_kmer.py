"""Learning a cluster's PWM from gapped k-mer seeds: IceQream's distillation (``specs/iceqream.md``
§3.5, §4), with our gradient-ascent engine (:func:`cisgram.models.iq_distill.learn_binding_model`)
in place of prego's coordinate-wise search.

    gapped k-mers (k informative letters, at most one N, both strands pooled) in the central
    ``window`` bp → correlation of each k-mer's count with the cluster's partial response on
    training rows (sum of r² over response columns) → the ``n_seeds`` best mutually distinct
    k-mers → each a seed PWM (0.85 / 0.05 on its letters, 0.25 on the N and on the padding to
    ``width`` columns: prego's seed) grown on ``rows`` training rows (PWM and spatial profile)
    → the best on validation rows (r² of its energy with the partial response there; training r²
    when there are none) → that one grown again on ``final_rows`` training rows.

Deviations from prego, each deliberate:

- prego keeps one seed (the k-mer with the largest r²; ``n_prego_motifs`` de-novo runs try up to
  10); we grow ``n_seeds`` distinct ones and let held-out rows choose, as IceQream's de-novo path
  does (10 % sample to grow, 10 % to score, the winner refitted on all rows);
- k-mers seen in fewer than ``min_rows`` regions are not seeds (a rare 8-mer correlates by chance);
- the statistic is the Pearson r² of the per-region count (prego's C++ statistic is unconfirmed);
- rows: prego screens and grows on every training peak. Here the screen reads at most
  ``screen_rows`` and the winner is grown again on at most ``final_rows`` training rows (both
  ``IQConfig.kmer_rows`` = 10,000), the seeds on ``distill_rows`` (4,000): on chr22 (2,348
  training regions) that is every row; at 100,000 regions (80,000 training rows) growing three
  seeds on all rows would cost about 60 times refining one representative on 4,000 (100 Adam
  steps took 36 s on 4,000 rows and 143 s on 20,000, one busy core), far past the 15-minute
  budget of ``benchmarks/iq.py``; 10,000 rows is 2.5 times the refinement's sample.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from cisgram.errors import InputError
from cisgram.models.iq_distill import Learned, learn_binding_model
from cisgram.models.iq_seeds import screen_kmers, seed_probs
from cisgram.motifs.features import Bins, motif_energy
from cisgram.motifs.pwm import Motif, MotifSet

log = logging.getLogger(__name__)


def response_r2(codes: np.ndarray, response: np.ndarray, probs: np.ndarray, spatial: np.ndarray, grid: Bins) -> float:
    """Σ over the columns of ``response`` ``(N, T)`` of r² between the binding model's energy and
    the column, over the rows where that column is finite (0 for a column with < 3 of them)."""
    R = np.asarray(response, dtype=np.float64)
    R = R[:, None] if R.ndim == 1 else R
    rows = np.flatnonzero(np.isfinite(R).any(axis=1))
    if rows.size == 0:
        return 0.0
    e = motif_energy(codes[rows], MotifSet([Motif("m", "", probs)]), grid=grid, weights=np.asarray(spatial)).energy[:, 0]
    total = 0.0
    for t in range(R.shape[1]):
        ok = np.isfinite(R[rows, t])
        if ok.sum() >= 3 and np.ptp(e[ok]) > 0 and np.ptp(R[rows[ok], t]) > 0:
            total += float(np.corrcoef(e[ok], R[rows[ok], t])[0, 1] ** 2)
    return total


@dataclass
class Seeded:
    """What :func:`learn_from_kmers` chose: the binding model, ``how`` it was made (``"kmer"`` or
    the incumbent's label), the seed k-mer of the best k-mer candidate, where candidates were
    scored (``"validation"`` or ``"training"``) and every candidate's score."""

    learned: Learned
    how: str
    seed: str
    scored_on: str
    scores: dict[str, float] = field(default_factory=dict)


def learn_from_kmers(codes: np.ndarray, response: np.ndarray, grid: Bins, *, validation: np.ndarray | None = None,
                     incumbent: tuple[str, Learned] | None = None, width: int = 15, k: int = 8, max_gap: int = 1,
                     n_seeds: int = 3, steps: int = 100, lr: float = 0.1, rows: int = 4000,
                     final_rows: int = 10000, screen_rows: int = 10000, min_frac: float = 0.005,
                     seed: int = 0) -> Seeded:
    """Learn a binding model for ``response`` ``(N, T)`` (the cluster's partial response, NaN
    outside training rows) from its best gapped k-mer seeds (:func:`screen_kmers` on at most
    ``screen_rows`` training rows, at least ``max(10, min_frac × those)`` regions per k-mer),
    each grown with ``steps`` Adam steps on ``rows`` training rows; the best by :func:`response_r2` on ``validation`` ``(N, T)`` (the
    same partial response on validation rows, NaN elsewhere) is grown again on ``final_rows``
    training rows when there are more than ``rows``. Without validation values candidates are
    ranked by their training r² (logged). ``incumbent`` = (label, model), e.g. the refined
    representative, competes on the same score and is returned unchanged when it wins."""
    R = np.asarray(response, dtype=np.float64)
    R = R[:, None] if R.ndim == 1 else R
    n_ok = int(np.isfinite(R).all(axis=1).sum())
    seeds = screen_kmers(codes, R, k=k, max_gap=max_gap, n_seeds=n_seeds, max_rows=screen_rows, seed=seed,
                         min_rows=max(10, int(min_frac * min(n_ok, screen_rows))))
    kw = dict(steps=steps, lr=lr, seed=seed)
    cands = {word: learn_binding_model(codes, R, grid, seed_probs(word, width), max_rows=rows, **kw)
             for word, _ in seeds}
    has_val = validation is not None and bool(np.isfinite(np.asarray(validation, dtype=np.float64)).any())
    if has_val:
        score = {w: response_r2(codes, validation, m.probs, m.spatial, grid) for w, m in cands.items()}
    else:
        log.info("no validation rows: k-mer candidates ranked by training r²")
        score = {w: m.r2 for w, m in cands.items()}
    best = max(score, key=score.get)
    scores = {f"kmer:{w}": round(v, 6) for w, v in score.items()}
    if incumbent is not None:
        label, model = incumbent
        inc = response_r2(codes, validation, model.probs, model.spatial, grid) if has_val else model.r2
        scores[label] = round(inc, 6)
        if inc >= score[best]:
            return Seeded(model, label, best, "validation" if has_val else "training", scores)
    chosen = cands[best]
    if n_ok > rows and final_rows > rows:
        chosen = learn_binding_model(codes, R, grid, chosen.probs, max_rows=final_rows, **kw)
    return Seeded(chosen, "kmer", best, "validation" if has_val else "training", scores)


DISTILL = ("refine", "kmer", "both")


def options(cfg) -> dict:
    """:func:`learn_from_kmers`'s keywords from an :class:`~cisgram.models.iq_fit.IQConfig`;
    refuses a ``cfg.distill`` outside :data:`DISTILL`."""
    if cfg.distill not in DISTILL:
        raise InputError(f"distill must be one of {', '.join(DISTILL)}; got {cfg.distill!r}")
    return dict(width=cfg.pwm_width, n_seeds=cfg.kmer_seeds, steps=cfg.distill_steps, lr=cfg.distill_lr,
                rows=cfg.distill_rows, final_rows=cfg.kmer_rows, screen_rows=cfg.kmer_rows, seed=cfg.seed)


__all__ = ["DISTILL", "Seeded", "learn_from_kmers", "options", "response_r2"]
