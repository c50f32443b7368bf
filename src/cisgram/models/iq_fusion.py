"""IceQream's multi-trajectory fusion (``specs/iceqream.md`` §5, ``distill_traj_model_multi``)
around the shared clustering of :func:`cisgram.models.iq_fit.fit_iq`, for runs with several
targets (IceQream's trajectories):

- **minimum-difference rows** (§5 2b, :func:`min_diff_rows`): clustering and coherence use the
  training regions whose target differs from its reference by more than ``min_diff`` (0.1) in at
  least one target. IceQream's targets are dAP (reference 0); an access-probability target is
  read as a difference from a closed region (reference 0, so: AP > 0.1 in some target). A
  min–max scaled dAP target (``--vs``) has its reference at ``-min / (max - min)`` and its
  threshold at ``min_diff / (max - min)``: pass them as ``zero`` and ``scale``.
- **coherence split** (§5 2d, :func:`split_incoherent`): a cluster's members are its (target,
  motif) pairs, each with the linear partial response β_t,m · E_m of its screen; a target's
  response is the sum over its members (what distillation learns against, one column per
  target). A cluster whose target responses correlate below ``threshold`` (0.6; the mean
  pairwise Pearson r across targets) is not fused into one shared PWM but split.
- **per-trajectory sets** (§5 2h, :func:`trajectory_sets`): ``models`` = for each target the
  binding models of clusters where that target had a member (de-novo motifs serve every
  target); ``models_full`` = the whole fused set, which every target is fitted on.

Deviations from IceQream, deliberate. (1) IceQream's coherence is the mean r over all pairs of
members. With screen coefficients from an L1 path, near-collinear database copies of one motif
often get opposite signs within one target (the path shares the weight between them), so that
mean is low even where every target reads the cluster alike (a simulated case: member mean r
−0.23, target responses r = 1.0); the coherence here is therefore taken across targets, on their
summed responses, which is what a shared PWM must serve. A cluster with members from one target
only fuses nothing across targets and is not split (IceQream's single-trajectory path does not
split either); the member mean r is kept in the record. (2) IceQream splits into singletons, with
about 30 motifs per trajectory pooled into up to 120 clusters (small clusters). Here each target
keeps about 3 × ``max_motifs`` motifs and they are cut into ``max_motifs`` clusters (on chr22
with three cell lines: 241 motifs into 30 clusters of up to 53 members), so singletons would
turn a cluster into dozens of binding models. The default (``mode="groups"``) therefore splits
an incoherent cluster into coherent groups instead: complete linkage over its motifs on
1 − (the smallest r between two of their members from different targets; 0 between motifs only
one and the same target kept), cut where those pairs correlate at ≥ ``threshold``, and into at
most as many groups as targets have members in the cluster. ``mode="singletons"`` is IceQream's behaviour; ``mode="off"`` fuses every
cluster as clustered.

Measured (``docs/iq.md``, "Fusing several targets"): on chr22 with three cell lines 23 of 30
clusters split (30 → 66 binding models) and test Pearson r moved by −0.007 / −0.044 / −0.048
(K562 / GM12878 / MCF7) against the unsplit run, within one split's seed noise but not in the
split's favour; ``coherence_split="off"`` gives the unsplit pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cisgram.errors import InputError

SPLIT_MODES = ("groups", "singletons", "off")


def min_diff_rows(Y: np.ndarray, train: np.ndarray, min_diff: float, *, zero=0.0, scale=1.0) -> np.ndarray:
    """Training rows ``(N,)`` (bool) where ``|Y[:, t] - zero_t| > min_diff · scale_t`` for at least
    one target ``t`` of ``Y`` ``(N, T)`` (NaN counts as no difference). ``zero`` and ``scale`` are
    scalars or one value per target (for min–max scaled dAP: ``-min/(max-min)`` and ``1/(max-min)``)."""
    Y = np.asarray(Y, dtype=np.float64)
    Y = Y[:, None] if Y.ndim == 1 else Y
    zero = np.broadcast_to(np.asarray(zero, dtype=np.float64), (Y.shape[1],))
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (Y.shape[1],))
    with np.errstate(invalid="ignore"):
        big = np.abs(Y - zero) > min_diff * scale
    return np.asarray(train, dtype=bool) & big.any(axis=1)


def references(params: Sequence[dict | None]) -> tuple[np.ndarray, np.ndarray]:
    """``zero`` and ``scale`` of :func:`min_diff_rows` for targets described by ``params`` (a
    target's ``params`` from :func:`cisgram.data.targets.training_data`): a min–max scaled dAP
    target (``min`` and ``max`` present) has its no-difference point at ``-min/(max-min)`` and one
    unit of dAP spans ``1/(max-min)``; any other target (AP) is read from 0 on its own scale."""
    zero, scale = np.zeros(len(params)), np.ones(len(params))
    for t, p in enumerate(params):
        if p and "min" in p and "max" in p and float(p["max"]) > float(p["min"]):
            span = float(p["max"]) - float(p["min"])
            zero[t], scale[t] = -float(p["min"]) / span, 1.0 / span
    return zero, scale


def member_responses(E: np.ndarray, kept: dict, motifs: Sequence[int], rows: np.ndarray):
    """The cluster's members: ``[(target, motif)]`` for every target ``t`` of ``kept`` (target ->
    {motif column of ``E``: screen coefficient β}) that kept a motif of ``motifs``, and their
    partial responses β · E[rows, motif] ``(len(rows), K)`` in float64."""
    members = [(t, m) for t in sorted(kept) for m in motifs if m in kept[t]]
    P = np.column_stack([kept[t][m] * np.asarray(E[rows, m], dtype=np.float64) for t, m in members]) \
        if members else np.zeros((len(rows), 0))
    return members, P


def _corr(P: np.ndarray) -> np.ndarray:
    """Pearson r between the columns of ``P``; a constant column correlates 0 with the others."""
    if P.shape[1] < 2:
        return np.ones((P.shape[1], P.shape[1]))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.nan_to_num(np.corrcoef(P.T))
    np.fill_diagonal(r, 1.0)
    return r


def mean_pairwise_r(P: np.ndarray) -> float:
    """IceQream's coherence: the mean Pearson r over pairs of columns of ``P``; 1 for fewer than two."""
    k = P.shape[1]
    if k < 2:
        return 1.0
    r = _corr(P)
    return float(r[np.triu_indices(k, 1)].mean())


def cross_target_r(members, P: np.ndarray) -> float | None:
    """The mean Pearson r between the cluster's per-target responses (each target's members
    summed: what distillation fuses into one PWM); None when one target has members."""
    targets = sorted({t for t, _ in members})
    if len(targets) < 2:
        return None
    cols = np.column_stack([P[:, [i for i, (t, _) in enumerate(members) if t == u]].sum(axis=1) for u in targets])
    return mean_pairwise_r(cols)


def coherent_groups(members, P: np.ndarray, threshold: float, cap: int) -> list[list[int]]:
    """Split the motifs of one cluster into groups (lists of motif ids in first-seen order):
    complete linkage on d(a, b) = 1 − min r over the pairs of members of a or b kept by
    different targets (0 when there is none), cut at 1 − ``threshold`` (such pairs in a group
    correlate at ≥ threshold), and into at most ``cap`` groups. A motif that its targets read in
    opposite ways is thus kept apart: a singleton keeps its database PWM."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    motifs = list(dict.fromkeys(m for _, m in members))
    if len(motifs) < 2:
        return [motifs]
    r = _corr(P)
    tg = np.array([t for t, _ in members])
    idx = [[i for i, (_, m) in enumerate(members) if m == u] for u in motifs]
    k = len(motifs)
    d = np.zeros((k, k))
    for a in range(k):
        for b in range(a + 1, k):
            u = idx[a] + idx[b]  # both motifs' members: a motif whose targets disagree stays alone
            cross = r[np.ix_(u, u)][tg[u][:, None] != tg[u][None, :]]
            d[a, b] = d[b, a] = 1.0 - cross.min() if cross.size else 0.0
    z = linkage(squareform(np.clip(d, 0, 2), checks=False), method="complete")
    lab = fcluster(z, t=1.0 - threshold, criterion="distance")
    if lab.max() > cap:
        lab = fcluster(z, t=cap, criterion="maxclust")
    order = list(dict.fromkeys(lab))
    return [[motifs[i] for i in range(k) if lab[i] == g] for g in order]


def split_incoherent(labels: np.ndarray, pool: Sequence[int], E: np.ndarray, kept: dict, rows: np.ndarray, *,
                     threshold: float = 0.6, mode: str = "groups", names: Sequence[str] | None = None):
    """Split the clusters ``labels`` ``(len(pool),)`` (0..K−1 over the motif columns ``pool`` of
    ``E`` ``(N, M)``) whose target responses (:func:`member_responses` on ``rows``, summed per
    target) have a mean pairwise r below ``threshold`` (:func:`cross_target_r`). Returns (new
    labels, the stage record): ``mode``, ``threshold``, ``rows``, ``clusters_before`` /
    ``clusters_after``, ``clusters_split``, ``coherence`` (per cluster the cross-target r; None
    where one target has members) and ``split``: per split cluster its members, coherence,
    ``member_r`` (IceQream's mean r over all member pairs) and ``parts`` (motif ``names`` when
    given, else column ids). A split cluster's groups take consecutive labels where it stood."""
    if mode not in SPLIT_MODES:
        raise InputError(f"coherence split must be one of {', '.join(SPLIT_MODES)}; got {mode!r}")
    labels = np.asarray(labels)
    pool = list(pool)
    where = {m: i for i, m in enumerate(pool)}
    label_of = (lambda m: str(names[m])) if names is not None else (lambda m: int(m))
    groups, record = [], []
    for c in range(int(labels.max()) + 1 if labels.size else 0):
        motifs = [pool[i] for i in np.flatnonzero(labels == c)]
        members, P = member_responses(E, kept, motifs, rows)
        cross = cross_target_r(members, P)
        parts = [motifs]
        if mode != "off" and cross is not None and cross < threshold and len(motifs) > 1:
            cap = len({t for t, _ in members})
            parts = [[m] for m in motifs] if mode == "singletons" else coherent_groups(members, P, threshold, cap)
            left = [m for m in motifs if not any(m in p for p in parts)]  # motifs no target kept: their own group
            parts += [[m] for m in left]
        groups += parts
        record.append({"members": [label_of(m) for m in motifs], "member_r": round(mean_pairwise_r(P), 4),
                       "coherence": None if cross is None else round(cross, 4), "split": len(parts) > 1,
                       "parts": [[label_of(m) for m in p] for p in parts] if len(parts) > 1 else []})
    new = np.empty(len(pool), dtype=np.int64)
    for g, part in enumerate(groups):
        for m in part:
            new[where[m]] = g
    info = {"mode": mode, "threshold": threshold, "rows": int(np.asarray(rows).size),
            "clusters_before": len(record), "clusters_after": len(groups),
            "clusters_split": sum(r["split"] for r in record), "coherence": [r["coherence"] for r in record],
            "split": [r for r in record if r["split"]]}
    return new, info


def trajectory_sets(clusters: Sequence[dict], kept_names: dict[str, set], targets: Sequence[str]) -> dict:
    """IceQream's ``models`` and ``models_full`` as motif names: ``models`` maps each target to
    the binding models (cluster records ``{"name", "members", …}`` in model order) with a member
    that target's screens kept (a cluster without members, a de-novo motif, serves every
    target); ``models_full`` is every binding model. Each record gains ``trajectories``."""
    models = {t: [] for t in targets}
    for c in clusters:
        members = set(c.get("members") or [])
        serves = [t for t in targets if not members or members & kept_names.get(t, set())]
        c["trajectories"] = serves
        for t in serves:
            models[t].append(c["name"])
    return {"models": models, "models_full": [c["name"] for c in clusters]}


__all__ = ["SPLIT_MODES", "coherent_groups", "cross_target_r", "mean_pairwise_r", "member_responses",
           "min_diff_rows", "references", "split_incoherent", "trajectory_sets"]
