"""``cisgram train iq``: the biophysical IQ model on a dataset's regions, into a run directory.

Files in: a dataset from ``cisgram prepare``, a motif database, optional bigWig covariates.
Run directory out (:mod:`cisgram.workflows.rundir`) plus ``pipeline.json`` (the pipeline's stages,
clusters and leave-one-out contributions). Returns an :class:`~cisgram.results.IQResult`, which
:func:`cisgram.report.iq.iq_report` draws.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.data.targets import (
    TrainingData,
    domain_label,
    parse_tracks,
    peak_rows,
    track_covariates,
    training_data,
)
from cisgram.files import atomic_path, atomic_write
from cisgram.interpret.iq_anatomy import P_SITE, anatomy_table, best_sites, interaction_anatomy
from cisgram.interpret.iq_reading import N_BOOT, TOP_K, combined_label, measure_reading
from cisgram.models.iq import BASES, logistic_bases
from cisgram.models.iq_distill import top_site_share
from cisgram.models.iq_fit import IQConfig, fit_iq, information_bits
from cisgram.motifs.compare import nearest_matches
from cisgram.motifs.pvalues import log_odds_matrices, pvalue_thresholds
from cisgram.motifs.pwm import MotifSet, load_motifs
from cisgram.results import IQMotif, IQResult
from cisgram.workflows.rundir import path_entries, write_run

READING_TOP_K = TOP_K  # sites of the top-k reading fit (cisgram.interpret.iq_reading)
READING_BOOT = N_BOOT  # paired bootstrap resamples of the validation regions for the reading fits


def train_iq(dataset, targets: Sequence[str], out, *, vs: str | None = None, motifs: str = "jaspar:2024/CORE/vertebrates",
             config=None, genome=None, tracks=None, background: float = 0.0,
             progress: Callable[[str], None] | None = None) -> IQResult:
    """The IQ pipeline on a dataset's training regions (validation rows choose the ridge), written
    to the run directory ``out``. ``tracks`` (``NAME=FILE.bw`` strings or ``{name: path}``) add
    covariates: log(1 + mean signal) of each bigWig over each region (IceQream's additional
    features, e.g. an epigenomic mark)."""
    cfg = config or IQConfig()
    track_paths = parse_tracks(tracks)
    data = training_data(dataset, targets, vs=vs, genome=genome, background=background, seed=cfg.seed)  # background: AP 0
    db = load_motifs(motifs)
    extra = track_covariates(track_paths, data.regions) if track_paths else None
    fitted = fit_iq(data.codes, data.Y, data.split == "train", db, targets=data.targets, config=cfg,
                    extra=(list(track_paths), extra) if track_paths else None, extra_sources=track_paths,
                    val=data.split == "val", target_params=data.target_params, progress=progress)
    pred = fitted.model.predict(data.codes, extra)
    conf = {**path_entries(dataset=dataset, motifs=motifs, genome=data.genome), "targets": list(targets), "vs": vs,
            "target_params": data.target_params, "iq": fitted.model.info["config"], "tracks": track_paths,
            "background": background, "domain": domain_label(background)}
    anatomy = interaction_anatomy(fitted.model, data.codes, data.split == "train")  # [] without motif × motif terms

    def save(d: Path) -> None:  # before metrics.json, the mark of a finished run
        fitted.model.save(d)
        write_anatomy(d, anatomy)

    metrics, preds = write_run(out, "iq", conf, data, pred, save,
                               {"pipeline.json": {"stages": fitted.stages, "clusters": fitted.clusters,
                                                  "contributions": fitted.contributions}},
                               subsets=peak_rows if background else None)
    model = fitted.model
    ranking = {t: sorted(fitted.contributions.get(t, {}).items(), key=lambda kv: -kv[1]) for t in model.targets}
    names = model.feature_names()
    k0 = 4 * (len(model.motifs) + len(model.covariates))
    interactions = [(names[k0 + j], [float(model.coef[t, k0 + j]) for t in range(len(model.targets))])
                    for j in range(len(model.interactions))]
    return IQResult(out, "iq", {"family": "iq", **conf}, metrics, preds, targets=list(model.targets),
                    stages=fitted.stages, motifs=motif_summaries(fitted, data, db, extra), ranking=ranking,
                    interactions=interactions, anatomy=anatomy,
                    trajectory_sets=model.info.get("trajectory_sets", {}))


def write_anatomy(out, anatomy) -> None:
    """``interaction_anatomy.tsv`` (one row per motif × motif term) and ``interaction_sites.parquet``
    (each term's top and background regions with both best sites) in the run directory ``out``."""
    if not anatomy:
        return
    with atomic_write(Path(out) / "interaction_anatomy.tsv") as fh:
        anatomy_table(anatomy).to_csv(fh, sep="\t", index=False)
    with atomic_path(Path(out) / "interaction_sites.parquet") as tmp:
        pd.concat([a.sites.assign(pair=a.pair) for a in anatomy], ignore_index=True).to_parquet(tmp, index=False)


def reading(fitted, data: TrainingData, extra: np.ndarray | None = None) -> list[dict]:
    """How each motif of ``fitted`` reads sequence, measured (:func:`cisgram.interpret.iq_reading.measure_reading`):
    per motif, per target, the validation R² of the final fit with the motif's energy integrated,
    best-site only and top-:data:`READING_TOP_K`, refitted on training rows with the final fit's
    ridge, and the label from the paired-bootstrap interval (:data:`READING_BOOT` resamples).
    ``extra``: the track covariates the model was fitted with (``(N, K)``, read once by :func:`train_iq`)."""
    model = fitted.model
    ridge = next((s["chosen"] for s in fitted.stages if s["stage"] == "ridge"), None)
    return measure_reading(model, data.codes, data.Y, data.split == "train", data.split == "val", extra=extra,
                           ridge=ridge, top_k=READING_TOP_K, n_boot=READING_BOOT)


def best_site_share(codes: np.ndarray, motif, spatial: np.ndarray, grid) -> float:
    """Descriptive: the median share of the best site in the energy of the top 10 % regions by
    that motif's energy."""
    lse, share = top_site_share(codes, motif.probs, spatial, grid)
    top = share[lse >= np.quantile(lse, 0.9)]
    return float(np.median(top)) if top.size else float("nan")


def motif_summaries(fitted, data: TrainingData, database, extra: np.ndarray | None = None) -> list[IQMotif]:
    """One :class:`~cisgram.results.IQMotif` per binding model of ``fitted``: its partial
    responses, spatial profile, coefficients, ΔR², reading (measured by :func:`reading`; the
    best-site share on the training regions) and nearest database motif (TOMTOM)."""
    model = fitted.model
    matches = nearest_matches(MotifSet(model.motifs), database, n=1).set_index("query") if len(database) else None
    xs = np.linspace(0, 10, 101)
    phi = logistic_bases(xs[:, None])[:, 0, :]  # (101, 4)
    train_codes = data.codes[data.split == "train"]
    readings = reading(fitted, data, extra)
    figures = motif_figure_data(model, train_codes, data.Y[data.split == "train"], fitted.clusters)
    out = []
    for i, mot in enumerate(model.motifs):
        info = fitted.clusters[i]
        share = best_site_share(train_codes, mot, model.spatial[i], model.grid)
        nearest = None
        if matches is not None and mot.name in matches.index:
            r = matches.loc[mot.name]
            nearest = {"target": str(r["target"]), "target_name": str(r.get("target_name", "")),
                       "p_value": float(r["p_value"]), "strand": str(r["strand"])}
        betas = {t: model.coef[k, 4 * i: 4 * i + 4] for k, t in enumerate(model.targets)}
        out.append(IQMotif(
            name=mot.name, probs=np.asarray(mot.probs), how=info.get("how", ""), n_members=len(info.get("members", [])),
            bits=information_bits(mot.probs), reading=combined_label(readings[i]), best_site_share=share, nearest=nearest,
            coef={t: dict(zip(BASES, map(float, b), strict=True)) for t, b in betas.items()},
            delta_r2={t: fitted.contributions.get(t, {}).get(mot.name) for t in model.targets},
            energies=xs, response={t: phi @ b for t, b in betas.items()}, spatial=np.asarray(model.spatial[i]),
            bin_size=int(model.grid.size), offset=int(model.grid.offset), readings=readings[i], **figures[i]))
    return out


POSITION_BIN = 10  # bp per bar of the positional-frequency histogram
ENERGY_EDGES = np.arange(11.0)  # unit bins of the [0, 10] energy for the target boxplots


def site_positions(codes: np.ndarray, motif, grid, *, p_site: float = P_SITE, bin_bp: int = POSITION_BIN) -> dict:
    """Positional frequency of a motif's hits: each region's best site (the highest PWM log-odds
    window on either strand among the start positions inside ``grid``, as the interaction
    anatomy reads it, :func:`cisgram.interpret.iq_anatomy.best_sites`), kept where it passes the
    p < ``p_site`` threshold, its centre in bp from the region centre
    (``start + (w − 1) / 2 − (L − 1) / 2``), counted in ``bin_bp`` bins symmetric about 0.

    Returns ``{"edges", "counts", "n_strong", "n_regions", "p_site"}`` (edges and counts arrays)."""
    codes = np.asarray(codes)
    ms = MotifSet([motif])
    mat, thr = log_odds_matrices(ms)[0], float(pvalue_thresholds(ms, p_site)[0])
    w, length = mat.shape[0], codes.shape[1]
    starts = np.arange(length - w + 1)
    starts = starts[grid.index(starts) >= 0]
    half = int(np.ceil((length / 2) / bin_bp)) * bin_bp
    edges = np.arange(-half, half + bin_bp, bin_bp, dtype=np.float64)
    if len(codes) == 0 or starts.size == 0:
        return {"edges": edges, "counts": np.zeros(edges.size - 1, np.int64), "n_strong": 0,
                "n_regions": int(len(codes)), "p_site": p_site}
    score, start, _ = best_sites(codes, mat, starts)
    strong = score > thr
    centre = start[strong] + (w - 1) / 2 - (length - 1) / 2
    return {"edges": edges, "counts": np.histogram(centre, edges)[0], "n_strong": int(strong.sum()),
            "n_regions": int(len(codes)), "p_site": p_site}


def energy_bins(energy: np.ndarray, y: np.ndarray, edges: np.ndarray = ENERGY_EDGES) -> dict:
    """The target ``y`` in bins of one motif's normalised energy (``(N,)`` each; NaN targets left
    out): ``{"edges", "stats"}`` with one Tukey box per non-empty bin (median, quartiles, whiskers
    at the furthest point within 1.5 IQR; the keys matplotlib's ``bxp`` draws, plus ``n`` and
    ``label``, the bin's lower edge). The last bin holds its upper edge (energy 10)."""
    e, y = np.asarray(energy, np.float64), np.asarray(y, np.float64)
    ok = np.isfinite(e) & np.isfinite(y)
    idx = np.clip(np.searchsorted(edges, e[ok], side="right") - 1, 0, len(edges) - 2)
    stats = []
    for b in range(len(edges) - 1):
        v = y[ok][idx == b]
        if v.size == 0:
            continue
        q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
        inside = v[(v >= q1 - 1.5 * (q3 - q1)) & (v <= q3 + 1.5 * (q3 - q1))]
        stats.append({"label": f"{edges[b]:g}", "med": float(med), "q1": float(q1), "q3": float(q3),
                      "whislo": float(inside.min()), "whishi": float(inside.max()), "n": int(v.size)})
    return {"edges": np.asarray(edges, np.float64), "stats": stats}


def motif_figure_data(model, codes: np.ndarray, Y: np.ndarray, clusters: list[dict]) -> list[dict]:
    """Per binding model of ``model``, the report's extra per-motif data on the training regions
    ``codes`` with targets ``Y`` ``(n, T)`` (the rows the model was fitted on: peaks, and
    background windows when it was fitted with them): ``site_positions`` (:func:`site_positions`),
    ``energy_bins`` per target (:func:`energy_bins` of its normalised energy) and ``seed``, the
    k-mer a learned PWM grew from when its cluster record has one."""
    E = model.energies(codes) if len(model.motifs) else np.zeros((len(codes), 0))
    out = []
    for i, mot in enumerate(model.motifs):
        seed = clusters[i].get("seed") if i < len(clusters) else None
        out.append({"site_positions": site_positions(codes, mot, model.grid),
                    "energy_bins": {t: energy_bins(E[:, i], Y[:, k]) for k, t in enumerate(model.targets)},
                    "seed": str(seed) if seed else None})  # "" / None: not a k-mer-grown PWM
    return out
