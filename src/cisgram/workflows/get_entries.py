"""What a GET run reads and scores: the focus entries of windows centred on TSS regions, the
accessibility head at every held-out region, the metrics of a predictions table, the seeds'
spread, the LoRA stage and the test gene-by-motif of the run report (``specs/get.md`` §3.4, §8).

Every model of a GET run (the transformer, LoRA, the CNN baseline and the feature baselines) is
scored on the same entries: the focus region of a window centred on each validation and test TSS
region, on its TSS strand(s) (:func:`evaluate_entries`). The ATAC head is scored on windows
centred on every test region (:func:`accessibility_predictions`), its input's accessibility
column set to 1 as it was trained (:func:`~cisgram.training.accessibility_loss`).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from cisgram.data.get import STRANDS, RegionMotifData
from cisgram.data.get_windows import RegionWindows, region_windows, tss_windows
from cisgram.errors import InputError
from cisgram.files import atomic_path, write_json
from cisgram.inference import predict
from cisgram.interpret.jacobian import gene_by_motif
from cisgram.metrics import regression_metrics
from cisgram.models.get import GETModel, RegionTransformer, count_parameters
from cisgram.models.lora import apply_lora, lora_state_dict
from cisgram.training import fit, with_constant_accessibility

log = logging.getLogger(__name__)

LORA_TARGETS = ("region_embed", "encoder")
LORA_TRAINABLE = ("expression_head",)
SPLITS_SCORED = ("val", "test")
SPREAD = ("pearson", "spearman", "r2")


def focus_predictions(model: GETModel, windows: RegionWindows, *, batch_size: int = 64,
                      device: str = "cpu") -> pd.DataFrame:
    """The model's prediction at each window's focus region, on each strand holding a TSS.

    ``windows`` from :func:`~cisgram.data.get_windows.tss_windows`. Returns one row per (window,
    TSS strand): ``row`` (region row in the data), ``region`` (name), ``cell``, ``strand``
    (``+``/``-``), ``observed``, ``predicted``, ``split``.
    """
    data = windows.data
    names = data.regions["name"].to_numpy(dtype=str)
    split = data.split
    parts = []
    for b in DataLoader(windows, batch_size=batch_size, shuffle=False):
        if (b.focus < 0).any():
            raise InputError("focus_predictions needs windows with a focus region (tss_windows)")
        pos = b.positions if model.config.distance_encoding else None
        pred = predict(model, b.x, pos, batch_size=batch_size, device=device)
        k = np.arange(len(b.focus))
        f = b.focus.numpy()
        row = b.first.numpy() + f
        has = b.has_tss.numpy()[k, f]
        obs, pr = b.y.numpy()[k, f], pred[k, f]
        cells = np.asarray(b.cell_name, dtype=object)
        for s, strand in enumerate(STRANDS):
            sel = has[:, s]
            parts.append(pd.DataFrame({"row": row[sel], "region": names[row[sel]], "cell": cells[sel], "strand": strand,
                                       "observed": obs[sel, s], "predicted": pr[sel, s], "split": split[row[sel]]}))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["cell", "row", "strand"], kind="stable").reset_index(drop=True)


def evaluate_entries(model: GETModel, data: RegionMotifData, cells: list[str], R: int, *,
                     device: str = "cpu") -> pd.DataFrame:
    """The model's focus predictions on windows centred on every validation and test TSS region
    of ``cells`` (:func:`focus_predictions`); a split without TSS regions is skipped with a warning."""
    parts = []
    for s in SPLITS_SCORED:
        if not data.has_tss[data.split == s].any():
            log.warning("no TSS region in the %s split: it is not scored", s)
            continue
        parts.append(focus_predictions(model, tss_windows(data, cells, split=s, n_regions=R), device=device))
    return pd.concat(parts, ignore_index=True)


def accessibility_predictions(model: GETModel, data: RegionMotifData, cells: list[str], R: int, *,
                              split: str = "test", batch_size: int = 64, device: str = "cpu") -> pd.DataFrame:
    """The accessibility head at the focus of a window centred on every ``split`` region of each
    of ``cells``, the input's accessibility column set to 1 (the model sees motifs only): ``row,
    region, cell, observed`` (the data's accessibility value), ``predicted``, ``split``."""
    names = data.regions["name"].to_numpy(dtype=str)
    parts = []
    for b in DataLoader(region_windows(data, cells, split=split, n_regions=R), batch_size=batch_size, shuffle=False):
        pos = b.positions if model.config.distance_encoding else None
        pred = predict(model, with_constant_accessibility(b.x), pos, batch_size=batch_size, device=device,
                       output="accessibility")
        k, f = np.arange(len(b.focus)), b.focus.numpy()
        row = b.first.numpy() + f
        parts.append(pd.DataFrame({"row": row, "region": names[row], "cell": list(b.cell_name),
                                   "observed": b.x.numpy()[k, f, -1], "predicted": pred[k, f, 0], "split": split}))
    return pd.concat(parts, ignore_index=True)


def scores(preds: pd.DataFrame) -> dict:
    """``{"val": {cell: m}, "test": {...}, "subsets": {"expressed": {...}}}`` of one model's rows
    (:func:`cisgram.metrics.regression_metrics`; non-finite predictions left out)."""

    def table(p: pd.DataFrame) -> dict:
        return {s: {c: regression_metrics(g["observed"], g["predicted"])
                    for c, g in p[p["split"] == s].groupby("cell", sort=False)} for s in SPLITS_SCORED}

    ok = preds[np.isfinite(preds["predicted"].to_numpy(np.float64))]
    return {**table(ok), "subsets": {"expressed": table(ok[ok["observed"] > 0])}}


def seed_spread(per_seed: list[dict]) -> dict:
    """Mean, sd (n − 1; 0 for one seed) and values over seeds of each metric in :data:`SPREAD`,
    from the :func:`scores` of each seed: ``{split: {cell: {metric: {mean, sd, values}}}}``."""
    out: dict = {}
    for split in SPLITS_SCORED:
        cells = per_seed[0].get(split, {})
        out[split] = {}
        for cell in cells:
            out[split][cell] = {}
            for m in SPREAD:
                v = np.array([s[split][cell][m] for s in per_seed if cell in s.get(split, {})], dtype=np.float64)
                out[split][cell][m] = {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if v.size > 1 else 0.0,
                                       "values": [float(x) for x in v]}
    return out


def ensemble(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The seed-averaged predictions of per-seed tables of the same entries in the same order."""
    keys = ["cell", "region", "strand", "split", "model"]
    first = tables[0].reset_index(drop=True)
    for t in tables[1:]:
        if len(t) != len(first) or not (t[keys].reset_index(drop=True) == first[keys]).all().all():
            raise RuntimeError("the seeds scored different entries")  # a bug, not an input problem
    out = first.copy()
    out["predicted"] = np.mean(np.stack([t["predicted"].to_numpy(np.float64) for t in tables]), axis=0)
    return out


def lora_finetune(net: RegionTransformer, data: RegionMotifData, cell: str, config, *, n_regions: int = 100,
                  stride: int | None = None, rank: int = 8, alpha: float = 16.0, seed: int = 0, loss=None,
                  checkpoint: Path | None = None, resume: bool = False):
    """Adapt a copy of ``net`` to ``cell`` with LoRA (``net`` is left as it is).

    The copy gets rank-``rank`` adapters (initialised from ``seed``) on the region embedding and
    the encoder's linear layers, the expression head stays trainable, everything else is
    frozen; it is trained (:func:`cisgram.training.fit` with ``config`` and ``loss``, default
    GET's :func:`~cisgram.training.get_loss`) on ``cell``'s training-block windows with early
    stopping on its validation TSS windows (``checkpoint`` and ``resume`` as ``fit``'s).
    Returns ``(adapted network, FitResult)``.
    """
    from cisgram.training import get_loss

    with torch.random.fork_rng(devices=[]):  # the adapters' initialisation follows the seed, not the caller's state
        torch.manual_seed(seed)
        adapted = apply_lora(copy.deepcopy(net).cpu(), rank, alpha, targets=LORA_TARGETS, trainable=LORA_TRAINABLE)
    train = RegionWindows(data, [cell], split="train", n_regions=n_regions, stride=stride, seed=seed)
    val = tss_windows(data, [cell], split="val", n_regions=n_regions)
    result = fit(adapted, train, val, config, loss=loss or get_loss(), checkpoint=checkpoint, resume=resume)
    return result.net, result


def base_unchanged(base: RegionTransformer, adapted: torch.nn.Module) -> bool:
    """Every parameter of ``adapted`` that is neither an adapter nor trainable equals ``base``'s
    (LoRA layers hold the base layer under ``.base``)."""
    ref = base.state_dict()
    for name, p in adapted.named_parameters():
        if name.endswith((".lora_A", ".lora_B")) or p.requires_grad:
            continue
        key = name.replace(".base.", ".")
        if key not in ref or not torch.equal(ref[key].cpu(), p.detach().cpu()):
            return False
    return True


def write_adapter(d: Path, base: RegionTransformer, adapted, lora_preds: pd.DataFrame, before: pd.DataFrame,
                  cell: str, rank: int, alpha: float, base_name: str) -> dict:
    """``lora.safetensors`` + ``lora.json``; returns the LoRA part of ``metrics.json``: sizes,
    whether ``base`` is bit-identical inside ``adapted``, the scores of ``lora_preds`` and, under
    ``before``, of the model it started from on the same entries."""
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in lora_state_dict(adapted).items()}
    with atomic_path(d / "lora.safetensors") as tmp:
        save_file(state, str(tmp))
    trained, total = count_parameters(adapted, trainable_only=True), count_parameters(adapted)
    info = {"cell": cell, "rank": int(rank), "alpha": float(alpha), "base": base_name, "targets": list(LORA_TARGETS),
            "trainable": list(LORA_TRAINABLE), "trainable_parameters": trained, "total_parameters": total,
            "base_parameters": count_parameters(base), "fraction_trained": trained / total,
            "adapter_bytes": (d / "lora.safetensors").stat().st_size, "adapter_tensors": len(state),
            "base_unchanged": base_unchanged(base, adapted), **scores(lora_preds), "before": scores(before)}
    write_json(d / "lora.json", {k: info[k] for k in ("cell", "rank", "alpha", "base", "targets", "trainable")})
    return info


def report_gene_by_motif(model: GETModel, data: RegionMotifData, cell: str, R: int, device: str,
                       n: int = 30) -> pd.DataFrame | None:
    """Gene-by-motif (input × gradient, mean over the window) of up to ``n`` test TSS entries of
    ``cell`` with the highest predictions, for the run report; None without test TSS regions."""
    if not data.has_tss[data.split == "test"].any():
        return None
    w = tss_windows(data, [cell], split="test", n_regions=R, require_targets=False)
    ent = [(w.window(i)[1], w.window(i)[2], s) for i in range(len(w)) for s in (0, 1)
           if data.has_tss[w.window(i)[1] + w.window(i)[2], s]]
    X = np.stack([data.features(cell, slice(f, f + R)) for f, _, _ in ent])
    foc = np.array([c for _, c, _ in ent])
    st = np.array([s for _, _, s in ent])
    pred = predict(model, X, device=device)[np.arange(len(ent)), foc, st]
    keep = np.argsort(-pred, kind="stable")[:n]
    g = gene_by_motif(model, X[keep], foc[keep], strand=st[keep], device=device) / R
    cols = ("tss_plus", "tss_minus")
    names = [f"{data.regions[cols[st[k]]].iat[ent[k][0] + ent[k][1]] or data.regions['name'].iat[ent[k][0] + ent[k][1]]}"
             f" ({STRANDS[st[k]]})" for k in keep]
    return pd.DataFrame(g, index=pd.Index(names, name="gene"), columns=list(data.feature_names))
