"""What GET's Jacobians say about motifs together and about enhancers (``specs/get.md`` §4.3–4.6).

Three analyses of a trained :class:`~cisgram.models.get.RegionTransformer`, each a small verb:

:func:`motif_correlation`, :func:`top_interactions`
    Motif–motif interaction scores: the Spearman correlation, across genes, of two columns of the
    gene-by-motif matrix (:func:`cisgram.interpret.jacobian.gene_by_motif`), diagonal 0 (GET's
    ``get_corr``, which its current code calls but no longer defines). Two motifs whose
    contributions rise and fall together over genes are candidate partners. ``top_interactions``
    keeps the top ``fraction`` (default 5 %) of motif pairs by ``|rho|``, sign kept.
:func:`causal_graph`, :func:`causal_edges`
    A causal graph among motifs with LiNGAM (the ``lingam`` package; GET used R's
    ``pcalg::lingam``, an ICA-LiNGAM, so ``method="ica"`` is the default and ``"direct"``
    DirectLiNGAM is offered): each motif column is z-scored over genes, LiNGAM is fitted on
    ``n_orders`` random column orders (its causal ordering depends on the column order), each
    adjacency is mapped back to the original order, self-loops are dropped and the matrices are
    averaged. ``B[i, j]`` is the effect of motif ``j`` on motif ``i`` (lingam's convention); the
    edge table reads ``source = j → target = i``.
:func:`knockout_effects`, :func:`powerlaw_contact`, :func:`enhancer_gene_scores`
    Enhancer–gene scores. In-silico knock-out: for each region ``j`` of a gene's window, every
    feature of ``j`` (motifs and accessibility) is set to 0 (in GET's binary-ATAC mode the
    accessibility column is put back to its constant) and the prediction at the gene's focus
    region and strand is read again; ``effect = knocked-out - wild type``, so an enhancer has a
    negative effect. The ABC-style term is ``accessibility_j × contact(d_j)`` with the power law
    ``contact(d) = exp(scale - gamma · ln(max(d, min_distance) + 1))``. The score of region ``j``
    for the gene is ``ko_weight · loss_j / Σ loss + abc_weight · abc_j / Σ abc`` with
    ``loss_j = max(0, -effect_j)``, each part normalised to sum to 1 over the window (GET's
    CRISPRi score normalises its two parts the same way; it uses the Jacobian norm where we use
    the knock-out). Constants are module-level names (:data:`ABC_GAMMA`, :data:`ABC_SCALE`,
    :data:`ABC_MIN_DISTANCE`, :data:`KO_WEIGHT`, :data:`ABC_WEIGHT`).
:func:`get_enhancer_scores`
    GET's own enhancer score (its CRISPRi evaluation, ``specs/get.md`` §4.6), beside ours:
    ``score_get_r = jacobian_norm_r · atac_r / Σ + atac_r · contact_r / Σ``, each part a share
    of the gene's window. GET reads the contact from a frozen distance→contact model trained on
    Hi-C; we have no Hi-C, so the contact is the same power law as the ABC term.
:func:`pool_cells`
    The cell-type-agnostic matrix: several cell types' gene-by-motif matrices stacked (rows =
    gene × cell type), on which the correlation and LiNGAM run as on one cell type's.

Pitfalls
--------
- LiNGAM needs more genes than motifs and is slow in the number of motifs: give it the few
  dozen motifs that matter (``explain_get`` keeps the top ``n`` by mean absolute contribution).
  Results of ICA-LiNGAM change with its random start; averaging over orders and recording the
  seed is how GET made them stable enough to read, not proof of causation.
- Distances are between region midpoints (the focus region's midpoint stands for the TSS);
  within ``min_distance`` (5 kb) every region gets the same contact.
- The default power law is GET's K562 fit of the ABC contact model (γ = 1.0242, scale =
  5.9595); ABC's reference ``γ = 0.87, scale = -4.80 + 11.63 γ`` is :data:`ABC_REFERENCE`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from cisgram.errors import InputError
from cisgram.inference import evaluating, spans

ABC_GAMMA = 1.024238616787792  # GET's K562 fit of the ABC power law (specs/get.md §4.3)
ABC_SCALE = 5.9594510043736655
ABC_MIN_DISTANCE = 5000  # bp: contact is flat closer than this
ABC_REFERENCE = {"gamma": 0.87, "scale": -4.80 + 11.63 * 0.87}  # ABC's reference fit
KO_WEIGHT = 1.0
ABC_WEIGHT = 1.0
TOP_FRACTION = 0.05
LINGAM_METHODS = ("ica", "direct")


# --------------------------------------------------------------------------------------------
# Motif-motif interactions
# --------------------------------------------------------------------------------------------
def _matrix(gbm, what: str = "gene-by-motif matrix") -> pd.DataFrame:
    if isinstance(gbm, pd.DataFrame):
        df = gbm
    else:
        a = np.asarray(gbm, dtype=np.float64)
        if a.ndim != 2:
            raise InputError(f"the {what} must be 2-D (genes x motifs), got shape {a.shape}")
        df = pd.DataFrame(a, columns=[f"m{i}" for i in range(a.shape[1])])
    if df.shape[0] < 3 or df.shape[1] < 2:
        raise InputError(f"the {what} needs at least 3 genes and 2 motifs, got {df.shape[0]} x {df.shape[1]}")
    if not np.isfinite(df.to_numpy(dtype=np.float64)).all():
        raise InputError(f"the {what} holds NaN or infinite values")
    return df.astype(np.float64)


def motif_correlation(gbm, *, method: str = "spearman") -> pd.DataFrame:
    """Motif × motif correlation of the gene-by-motif columns across genes, diagonal 0.

    ``gbm`` genes × motifs (DataFrame or array). Columns that are constant over genes get
    correlation 0 with everything (not NaN)."""
    df = _matrix(gbm)
    if method not in ("spearman", "pearson"):
        raise InputError(f"method must be 'spearman' or 'pearson', not {method!r}")
    a = df.to_numpy()
    if method == "spearman":
        from scipy.stats import rankdata

        a = rankdata(a, axis=0)
    a = a - a.mean(0)
    norm = np.sqrt((a * a).sum(0))
    live = norm > 0
    a[:, live] /= norm[live]
    c = a.T @ a
    c[~live, :] = 0.0
    c[:, ~live] = 0.0
    np.fill_diagonal(c, 0.0)
    return pd.DataFrame(np.clip(c, -1.0, 1.0), index=df.columns, columns=df.columns)


def top_interactions(corr: pd.DataFrame, *, fraction: float = TOP_FRACTION) -> pd.DataFrame:
    """The top ``fraction`` of motif pairs (upper triangle) by ``|correlation|``: columns
    ``motif_a, motif_b, correlation, rank`` (rank 1 = strongest)."""
    if not 0 < fraction <= 1:
        raise InputError(f"fraction must be in (0, 1], got {fraction!r}")
    c = np.asarray(corr, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise InputError(f"the correlation matrix must be square, got shape {c.shape}")
    names = list(corr.columns) if isinstance(corr, pd.DataFrame) else [f"m{i}" for i in range(len(c))]
    i, j = np.triu_indices(len(c), k=1)
    if i.size == 0:
        return pd.DataFrame(columns=["motif_a", "motif_b", "correlation", "rank"])
    k = max(1, int(np.ceil(fraction * i.size)))
    order = np.argsort(-np.abs(c[i, j]), kind="stable")[:k]
    return pd.DataFrame({"motif_a": [names[t] for t in i[order]], "motif_b": [names[t] for t in j[order]],
                         "correlation": c[i[order], j[order]], "rank": np.arange(1, k + 1)})


# --------------------------------------------------------------------------------------------
# Causal graph (LiNGAM)
# --------------------------------------------------------------------------------------------
def causal_graph(gbm, *, n_orders: int = 3, method: str = "ica", seed: int = 0) -> pd.DataFrame:
    """LiNGAM adjacency among the motif columns of ``gbm`` (genes × motifs), averaged over
    ``n_orders`` random column orders; ``B[i, j]`` = effect of column ``j`` on column ``i``,
    diagonal 0, as a motif × motif DataFrame (rows = targets, columns = sources).

    Constant columns take no part (their rows and columns are 0). ``method``: ``"ica"``
    (ICA-LiNGAM, as R's ``pcalg::lingam`` used by GET) or ``"direct"`` (DirectLiNGAM; slower,
    no random start)."""
    df = _matrix(gbm)
    if method not in LINGAM_METHODS:
        raise InputError(f"method must be one of {', '.join(LINGAM_METHODS)}, not {method!r}")
    if int(n_orders) != n_orders or n_orders < 1:
        raise InputError(f"n_orders must be a positive integer, got {n_orders!r}")
    a = df.to_numpy()
    sd = a.std(0)
    live = np.flatnonzero(sd > 0)
    if live.size < 2:
        raise InputError("fewer than two motif columns vary across genes: no causal graph to fit")
    if a.shape[0] <= live.size:
        raise InputError(f"LiNGAM needs more genes than motifs: {a.shape[0]} genes, {live.size} varying motifs",
                         hint="keep fewer motifs (the top ones by mean absolute contribution) or add genes")
    z = (a[:, live] - a[:, live].mean(0)) / sd[live]
    import lingam

    rng = np.random.default_rng(seed)
    total = np.zeros((live.size, live.size))
    for k in range(int(n_orders)):
        perm = rng.permutation(live.size) if k else np.arange(live.size)
        model = (lingam.ICALiNGAM(random_state=int(rng.integers(2**31 - 1)), max_iter=2000) if method == "ica"
                 else lingam.DirectLiNGAM())
        model.fit(z[:, perm])
        b = np.zeros_like(total)
        b[np.ix_(perm, perm)] = model.adjacency_matrix_  # back to the original column order
        total += b
    total /= n_orders
    np.fill_diagonal(total, 0.0)
    out = np.zeros((a.shape[1], a.shape[1]))
    out[np.ix_(live, live)] = total
    return pd.DataFrame(out, index=df.columns, columns=df.columns)


def causal_edges(adjacency: pd.DataFrame, *, threshold: float = 0.05) -> pd.DataFrame:
    """Edges ``source → target`` of an adjacency from :func:`causal_graph` with ``|weight| >=
    threshold`` (GET's tutorials: 0.05–0.1), strongest first: ``source, target, weight``."""
    b = np.asarray(adjacency, dtype=np.float64)
    names = list(adjacency.columns)
    tgt, src = np.nonzero(np.abs(b) >= threshold)
    keep = tgt != src
    tgt, src = tgt[keep], src[keep]
    w = b[tgt, src]
    order = np.argsort(-np.abs(w), kind="stable")
    return pd.DataFrame({"source": [names[s] for s in src[order]], "target": [names[t] for t in tgt[order]],
                         "weight": w[order]})


# --------------------------------------------------------------------------------------------
# Enhancer-gene scores
# --------------------------------------------------------------------------------------------
def powerlaw_contact(distance, *, gamma: float = ABC_GAMMA, scale: float = ABC_SCALE,
                     min_distance: float = ABC_MIN_DISTANCE) -> np.ndarray:
    """ABC's power-law contact ``exp(scale - gamma · ln(max(|d|, min_distance) + 1))``."""
    d = np.maximum(np.abs(np.asarray(distance, dtype=np.float64)), float(min_distance))
    return np.exp(scale - gamma * np.log(d + 1.0))


def knockout_effects(model, X, focus, *, strand=0, output: str = "expression", constant_accessibility=None,
                     positions=None, batch_size: int = 256, device: str = "cpu") -> np.ndarray:
    """``(B, R)`` float32: the prediction at ``output[b, focus_b, strand_b]`` with region ``j``'s
    features all set to 0, minus the prediction with none removed.

    ``X`` ``(B, R, F)`` windows (numpy or torch; the last column is accessibility);
    ``focus`` / ``strand`` one int or one per window. ``constant_accessibility``: a value the
    accessibility column keeps in the knocked-out region (GET's binary-ATAC mode, where it is 1
    everywhere); ``None`` zeroes it with the motifs. Each window is run once plus ``R`` times,
    in batches of ``batch_size`` windows."""
    from cisgram.interpret.jacobian import prepare

    net, X, focus, strand, pos = prepare(model, X, focus, strand, output, positions)
    B, R, _F = X.shape
    out = np.zeros((B, R), np.float32)
    eye = torch.eye(R, dtype=torch.bool)
    per = max(1, int(batch_size) // (R + 1))  # windows per forward pass, each with its R knock-outs
    with evaluating(net, device) as dev, torch.inference_mode():
        for s in spans(B, per):
            xb = X[s]
            n = len(xb)
            ko = xb.unsqueeze(1).repeat(1, R + 1, 1, 1)  # (n, R + 1, R, F): copy 0 is the wild type
            ko[:, 1:][eye.expand(n, R, R)] = 0.0
            if constant_accessibility is not None:
                ko[:, 1:, :, -1][eye.expand(n, R, R)] = float(constant_accessibility)
            pb = None if pos is None else pos[s].unsqueeze(1).expand(n, R + 1, R).reshape(-1, R).to(dev)
            y = getattr(net(ko.reshape(-1, R, ko.shape[-1]).to(dev), positions=pb), output)
            y = y.reshape(n, R + 1, R, -1)
            k = torch.arange(n)
            picked = y[k, :, focus[s].to(y.device)[k], strand[s].to(y.device)[k]].float().cpu()  # (n, R + 1)
            out[s] = (picked[:, 1:] - picked[:, :1]).numpy()
    return out


def _gene_region(**arrays) -> list[np.ndarray]:
    """The named inputs as float64 arrays of one ``(genes, regions)`` shape, or a clear error."""
    out = [np.asarray(a, dtype=np.float64) for a in arrays.values()]
    if len({a.shape for a in out}) != 1 or out[0].ndim != 2:
        raise InputError(f"{', '.join(arrays)} must share one (genes, regions) shape, got "
                         f"{', '.join(str(a.shape) for a in out)}")
    return out


def _share(v: np.ndarray) -> np.ndarray:
    total = v.sum(-1, keepdims=True)
    return np.where(total > 0, v / np.where(total > 0, total, 1.0), 0.0)


def enhancer_gene_scores(effects, accessibility, distance, *, gamma: float = ABC_GAMMA, scale: float = ABC_SCALE,
                         min_distance: float = ABC_MIN_DISTANCE, ko_weight: float = KO_WEIGHT,
                         abc_weight: float = ABC_WEIGHT) -> dict[str, np.ndarray]:
    """Per gene (row) and region (column): ``loss`` = ``max(0, -effect)``, ``contact``
    (:func:`powerlaw_contact`), ``abc`` = accessibility × contact, and ``score`` =
    ``ko_weight · loss / Σ loss + abc_weight · abc / Σ abc`` (sums over the row; a row whose
    sum is 0 contributes 0). All inputs ``(G, R)``; returns a dict of ``(G, R)`` arrays."""
    eff, acc, dist = _gene_region(effects=effects, accessibility=accessibility, distance=distance)
    loss = np.maximum(0.0, -eff)
    contact = powerlaw_contact(dist, gamma=gamma, scale=scale, min_distance=min_distance)
    abc = np.maximum(acc, 0.0) * contact
    score = ko_weight * _share(loss) + abc_weight * _share(abc)
    return {"loss": loss, "contact": contact, "abc": abc, "score": score}


def get_enhancer_scores(jacobian_norm, accessibility, distance, *, gamma: float = ABC_GAMMA,
                        scale: float = ABC_SCALE, min_distance: float = ABC_MIN_DISTANCE) -> dict[str, np.ndarray]:
    """GET's enhancer score per gene (row) and region (column), ``specs/get.md`` §4.6:
    ``score_get = jacobian_part + contact_part`` with ``jacobian_part = share(jacobian_norm ·
    atac)`` and ``contact_part = share(atac · contact)``, each share summing to 1 over the row
    (a row whose sum is 0 gives 0s, not NaN).

    ``jacobian_norm`` the region importance (the L2 norm of the embedding gradient,
    :func:`cisgram.interpret.jacobian.region_importance`; normalised or not, the share is the
    same), ``accessibility`` the regions' accessibility input, ``distance`` to the gene's TSS
    region. GET's contact is the row of a frozen Hi-C-trained distance model at the TSS; without
    Hi-C we use :func:`powerlaw_contact`, the ABC term of :func:`enhancer_gene_scores`. Returns
    ``importance`` (``jacobian_norm``'s own share), ``jacobian_part``, ``contact_part`` and
    ``score_get``, each ``(G, R)``."""
    jn, acc, dist = _gene_region(jacobian_norm=jacobian_norm, accessibility=accessibility, distance=distance)
    jn = np.maximum(jn, 0.0)
    atac = np.maximum(acc, 0.0)
    contact = powerlaw_contact(dist, gamma=gamma, scale=scale, min_distance=min_distance)
    jac, con = _share(jn * atac), _share(atac * contact)
    return {"importance": _share(jn), "jacobian_part": jac, "contact_part": con, "score_get": jac + con}


def pool_cells(matrices) -> pd.DataFrame:
    """Stack several cell types' gene-by-motif matrices (``{cell: genes × features}``, same
    columns) into one: rows ``(gene, cell)`` (a two-level index), every cell type's genes in turn.
    The cell-type-agnostic matrix of GET's motif interactions: a motif pair that works together
    in any cell type correlates over the pooled rows."""
    frames = dict(matrices)
    if not frames:
        raise InputError("no cell type to pool")
    cols = [list(f.columns) for f in frames.values()]
    if any(c != cols[0] for c in cols):
        raise InputError("the cell types' gene-by-motif matrices have different columns")
    parts = []
    for cell, f in frames.items():
        index = pd.MultiIndex.from_arrays([f.index.astype(str), [str(cell)] * len(f)], names=["gene", "cell"])
        parts.append(pd.DataFrame(f.to_numpy(), index=index, columns=f.columns))
    return pd.concat(parts)
