"""Variant effects with a ChromBPNet run (``cisgram variants --model CHROMBPNET_RUN``): the two
scores of chrombpnet's variant scorer, per variant allele.

For every variant the reference and alternative windows are those of every other family
(:func:`cisgram.data.variants.variant_windows`: the run's input width, centred on the variant);
one forward pass of both gives, for the chosen ``part`` of the network,

- ``ref:<t>``, ``alt:<t>`` and ``delta:<t>``: the predicted log counts and their difference
  ``alt − ref``, chrombpnet's ``logfc`` (the column the other families write as ``delta``);
- ``jsd:<t>``: the Jensen–Shannon distance (base 2, in [0, 1]) between the reference and the
  alternative predicted profiles (``softmax`` of the profile logits over the output window,
  tracks flattened; :func:`cisgram.metrics.profile_jsd`): how much the variant changes the
  shape of the predicted signal, whatever it does to the total.

``part`` is ``"bias_free"`` by default: the accessibility model alone, chrombpnet's
``chrombpnet_nobias``, which its maintainers score variants with (the Tn5 preference is a
property of the assay, and a variant that creates or breaks a Tn5 preference site would otherwise
score as a change of accessibility). ``"full"`` scores with the bias model added, what was fitted
to the observed counts.

Departures from kundajelab/chrombpnet's scorers: ``delta`` is the difference of the predicted
``log(1 + count)`` in natural log (chrombpnet's older ``snp_scoring`` reports
``log2(count_alt / count_ref)`` of ``exp(log count) − 1``; kundajelab/variant-scorer reports
log2 fold changes; divide ``delta`` by ``ln 2`` for log2 of ``1 + count``); the JSD is base 2
(scipy's default, natural log, is ``√ln 2 ≈ 0.83`` times it); and the forward strand only is
scored, as ``cisgram predict`` does (variant-scorer averages each allele's prediction with its
reverse complement's by default). ``unresponsive`` applies the gradient test of the CNN family to
the scored log count, forward strand (:func:`unresponsive_counts`); ``split`` is that of the
run's own windows (:func:`run_windows`).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.data.variants import model_windows, prediction_windows, variant_splits, variant_windows
from cisgram.errors import InputError
from cisgram.inference import predict
from cisgram.interpret.attribution import FLAT_TOLERANCE, input_x_gradient, position_scores, unresponsive
from cisgram.metrics import profile_jsd
from cisgram.models.bpnet_run import PARTS

log = logging.getLogger(__name__)

FAMILY = "chrombpnet"
DEFAULT_PART = "bias_free"
SCORED_PARTS = ("bias_free", "full")  # what --part accepts for variants (the bias model alone is not a variant score)


def with_part(run, part: str | None):
    """``run`` predicting ``part`` (default :data:`DEFAULT_PART`) when it is a ChromBPNet run: a
    copy whose model's default part is that one (:meth:`~cisgram.models.bpnet_run.ChromBPNetModel.using`),
    so ``predict_codes`` and ``score_edits`` read it. Other runs are returned as they are, and
    a ``part`` given for one is an :class:`~cisgram.errors.InputError` naming the run."""
    check_part(getattr(run, "family", None), part, getattr(run, "path", None))
    if getattr(run, "family", None) != FAMILY:
        return run
    try:
        return dataclasses.replace(run, model=run.model.using(part or DEFAULT_PART))
    except InputError as e:
        raise InputError(e.problem, path=run.path, hint=e.hint) from None


def check_part(family: str | None, part: str | None, path=None) -> None:
    """Refuse a ``part`` other than :data:`SCORED_PARTS`, or any ``part`` for a run of another
    family than ChromBPNet (``family`` None: not known yet, not refused here)."""
    if part is None:
        return
    if family is not None and family != FAMILY:
        raise InputError(f"--part chooses the network of a ChromBPNet run; this is a {family} run", path=path,
                         hint="leave --part out")
    if part not in SCORED_PARTS:
        raise InputError(f"unknown part {part!r} for variant scoring", path=path,
                         hint=f"choose {' or '.join(SCORED_PARTS)} (of {', '.join(PARTS)})")


def run_windows(run) -> pd.DataFrame | None:
    """The windows a ChromBPNet run's model read, with their split: every window of its
    ``predictions.parquet`` (peaks and background, named by their centred input window)
    widened by the training jitter ``±max_jitter``; None (split ``unknown``) when the table is
    not there."""
    preds = Path(run.path) / "predictions.parquet"
    if not preds.is_file():
        log.warning("the run has no predictions.parquet: the variants' split is 'unknown'")
        return None
    regions = prediction_windows(preds)
    return model_windows(regions, int(run.length), jitter=int(run.config.get("max_jitter") or 0))


def unresponsive_counts(run, codes: np.ndarray, check: np.ndarray | None = None, *, batch_size: int = 512,
                        device: str = "cpu") -> np.ndarray:
    """``(N, 1)``: True where the predicted log count of the run's model (its default part) does
    not respond to window ``i`` at all: its gradient with respect to the one-hot input is at most
    :data:`~cisgram.interpret.attribution.FLAT_TOLERANCE` at every base, forward strand (the
    strand predicted). ``check`` ``(N, 1)`` restricts the test to those rows."""
    n = len(codes)
    out = np.zeros((n, 1), bool)
    rows = np.flatnonzero(np.ones(n, bool) if check is None else np.asarray(check, bool).any(1))
    if rows.size:
        out[rows, 0] = unresponsive(run.model.explained("counts"), np.asarray(codes)[rows], batch_size=batch_size,
                                    device=device, tol=FLAT_TOLERANCE)
    return out


def score_piece(run, g, table: pd.DataFrame, L: int, batch_size: int, attribution: bool, device: str,
                windows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Scores of one piece of the VCF: ``table`` with ``padded``, ``split``, ``unresponsive``,
    ``ref:<t>``, ``alt:<t>``, ``delta:<t>`` (log counts), ``jsd:<t>`` and, with ``attribution``,
    ``attribution:<t>`` (input × gradient of the reference's log count summed over the REF
    bases). ``run`` predicts its part already (:func:`with_part`)."""
    n, name = len(table), run.targets[0]
    counts = np.empty((n, 2))
    jsd, flat, padded = np.empty(n), np.zeros((n, 1), bool), np.zeros(n, bool)
    attr = np.empty(n) if attribution else None
    C = run.model.n_counts
    for lo in range(0, n, batch_size):
        part = table.iloc[lo: lo + batch_size]
        w, k = variant_windows(part, g, L), len(part)
        out = predict(run.model, np.concatenate([w.ref, w.alt]), output="counts_and_profile", batch_size=batch_size,
                      device=device)
        total = np.logaddexp.reduce(out[:, :C], axis=1)  # one count, or per-track counts summed
        counts[lo: lo + k] = np.stack([total[:k], total[k:]], axis=1)
        jsd[lo: lo + k] = profile_jsd(out[k:, C:], out[:k, C:])
        padded[lo: lo + k] = w.padded
        flat[lo: lo + k] = unresponsive_counts(run, w.ref, (total[:k] == total[k:])[:, None], batch_size=batch_size,
                                               device=device)
        if attr is not None:
            cols = np.arange(L)
            ref_len = part["ref"].str.len().to_numpy()
            mask = (cols >= w.ref_start[:, None]) & (cols < (w.ref_start + ref_len)[:, None])
            a = input_x_gradient(run.model.explained("counts"), w.ref, batch_size=batch_size, device=device)
            attr[lo: lo + k] = (position_scores(a, w.ref) * mask).sum(1)
    res = table.copy()
    res["padded"], res["split"], res["unresponsive"] = padded, variant_splits(table, windows), flat[:, 0]
    res[f"ref:{name}"], res[f"alt:{name}"] = counts[:, 0], counts[:, 1]
    res[f"delta:{name}"], res[f"jsd:{name}"] = counts[:, 1] - counts[:, 0], jsd
    if attr is not None:
        res[f"attribution:{name}"] = attr
    return res
