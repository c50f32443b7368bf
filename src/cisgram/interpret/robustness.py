"""How much a GET explanation rests on one motif: leave the motif out and measure what moves
(issue 21; ``specs/get.md`` §4.2).

A motif is left out **at inference** by setting its column to 0 in every window of the TSS
entries; the trained model is not changed. Two things are measured against the intact windows:

- the **predictions** at the entries (the gene's focus region and strand): mean and largest
  ``|Δ|`` and the Pearson correlation of before and after;
- the **other motifs' importances**: the gene-level absolute gene-by-motif vectors (GET's
  ``absmean``, mean over each gene's entries, :func:`cisgram.interpret.jacobian.per_gene`) over
  the remaining motifs (not the left-out one, not accessibility). Per gene, the Spearman
  correlation of its vector before and after, averaged over genes (``importance_spearman``);
  and the ranking of the remaining motifs by their mean importance over genes: its Spearman
  before vs after (``ranking_spearman``) and the largest change of a motif's rank
  (``max_rank_change``, that motif ``most_moved``).

The measurement is split so that a script which **retrains** without a motif can reuse it:
:func:`inference_state` reads a model on windows (optionally with columns zeroed) and
:func:`leave_out_change` compares two states, whichever models made them::

    before = inference_state(model, X, focus, strand=s, labels=genes, feature_names=names)
    after = inference_state(retrained, X, focus, strand=s, labels=genes, feature_names=names, zero=m)
    row = leave_out_change(before, after, names[m])

:func:`motif_leave_out` runs the inference version for several motifs and returns the table.

Pitfalls
--------
- Zeroing a column is not removing a motif from training: the model never saw a window without
  it, so a large change says the model leans on the motif, not that the biology needs it.
- A gene whose remaining importances are all equal (e.g. all 0) has no rank order: it is left out
  of ``importance_spearman`` (NaN when no gene remains).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.interpret.jacobian import entry_contributions, per_gene
from cisgram.metrics import pearson, spearman

TOP_LEAVE_OUT = 10  # motifs left out, highest mean |contribution| first
NOT_MOTIFS = ("accessibility",)


class LeaveOutState(NamedTuple):
    """What a model says on a set of entries: ``predicted`` ``(E,)`` at each entry's focus region
    and strand, and ``importance`` (genes × features), the gene-level mean |input × gradient|."""

    predicted: np.ndarray
    importance: pd.DataFrame


def inference_state(model, X, focus, *, strand=0, labels: Sequence[str], feature_names: Sequence[str], zero=None,
                    chunk: int = 256, batch_size: int = 64, device: str = "cpu") -> LeaveOutState:
    """The predictions and gene-level absolute gene-by-motif of ``model`` on the entries ``X``
    (``(E, R, F)`` windows, or a lazy sequence of them, see
    :func:`~cisgram.interpret.jacobian.entry_contributions`), with the feature column(s) ``zero``
    set to 0 in every window first. ``labels``: each entry's TSS names joined by ``","``."""
    _signed, absolute, predicted = entry_contributions(model, X, focus, strand=strand, zero=zero, chunk=chunk,
                                                       batch_size=batch_size, device=device)
    return LeaveOutState(predicted, per_gene(absolute, labels, columns=feature_names))


def _row_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``a`` with the same row of ``b``; NaN for a constant row."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(1) / np.where(den > 0, den, 1.0), np.nan)


def leave_out_change(before: LeaveOutState, after: LeaveOutState, motif: str) -> dict:
    """The row of one left-out ``motif``: ``mean_abs_change``, ``max_abs_change`` and
    ``prediction_pearson`` of the predictions; ``importance_spearman`` (mean over genes),
    ``ranking_spearman``, ``max_rank_change`` and ``most_moved`` of the remaining motifs'
    importances (module docstring); ``importance`` the motif's own mean importance before."""
    if before.predicted.shape != after.predicted.shape:
        raise InputError(f"the two states cover different entries: {before.predicted.shape} and "
                         f"{after.predicted.shape}")
    if list(before.importance.columns) != list(after.importance.columns) or not before.importance.index.equals(
            after.importance.index):
        raise InputError("the two states' importances have different genes or features")
    if motif not in before.importance.columns:
        raise InputError(f"unknown motif {motif!r}")
    delta = after.predicted.astype(np.float64) - before.predicted.astype(np.float64)
    rest = [m for m in before.importance.columns if m != motif and m not in NOT_MOTIFS]
    a, b = before.importance[rest].to_numpy(), after.importance[rest].to_numpy()
    per = _row_spearman(a, b) if len(rest) > 1 and len(a) else np.full(len(a), np.nan)
    ma, mb = a.mean(0), b.mean(0)
    from scipy.stats import rankdata

    moved = np.abs(rankdata(-ma, method="min") - rankdata(-mb, method="min")) if rest else np.zeros(0)
    k = int(np.argmax(moved)) if moved.size else None
    return {"motif": motif, "importance": float(before.importance[motif].mean()),
            "mean_abs_change": float(np.abs(delta).mean()) if delta.size else float("nan"),
            "max_abs_change": float(np.abs(delta).max()) if delta.size else float("nan"),
            "prediction_pearson": pearson(before.predicted, after.predicted),
            "importance_spearman": float(np.nanmean(per)) if np.isfinite(per).any() else float("nan"),
            "ranking_spearman": spearman(ma, mb), "max_rank_change": int(moved.max()) if moved.size else 0,
            "most_moved": rest[k] if k is not None else ""}


def motif_leave_out(model, X, focus, *, strand=0, labels: Sequence[str], feature_names: Sequence[str],
                    motifs: Sequence[str], before: LeaveOutState | None = None, chunk: int = 256,
                    batch_size: int = 64, device: str = "cpu") -> pd.DataFrame:
    """Leave each of ``motifs`` out at inference (its column 0 in every window of ``X``) and
    measure the change (:func:`leave_out_change`); one row per motif in the order given, with its
    ``rank`` (1 = first given). ``before``: the intact state when already computed."""
    names = list(feature_names)
    unknown = [m for m in motifs if m not in names]
    if unknown:
        raise InputError(f"unknown motif(s) to leave out: {', '.join(map(str, unknown[:5]))}")
    kw = {"strand": strand, "labels": labels, "feature_names": names, "chunk": chunk, "batch_size": batch_size,
          "device": device}
    base = before if before is not None else inference_state(model, X, focus, **kw)
    rows = [leave_out_change(base, inference_state(model, X, focus, zero=names.index(m), **kw), m) for m in motifs]
    table = pd.DataFrame(rows, columns=["motif", "importance", "mean_abs_change", "max_abs_change",
                                        "prediction_pearson", "importance_spearman", "ranking_spearman",
                                        "max_rank_change", "most_moved"])
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table
