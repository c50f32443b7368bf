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

from cisgram.data.targets import TrainingData, parse_tracks, track_covariates, training_data
from cisgram.files import atomic_path, atomic_write
from cisgram.interpret.iq_anatomy import anatomy_table, interaction_anatomy
from cisgram.interpret.iq_reading import N_BOOT, TOP_K, combined_label, measure_reading
from cisgram.models.iq import BASES, logistic_bases
from cisgram.models.iq_distill import top_site_share
from cisgram.models.iq_fit import IQConfig, fit_iq, information_bits
from cisgram.motifs.compare import nearest_matches
from cisgram.motifs.pwm import MotifSet, load_motifs
from cisgram.results import IQMotif, IQResult
from cisgram.workflows.rundir import path_entries, write_run

READING_TOP_K = TOP_K  # sites of the top-k reading fit (cisgram.interpret.iq_reading)
READING_BOOT = N_BOOT  # paired bootstrap resamples of the validation regions for the reading fits


def train_iq(dataset, targets: Sequence[str], out, *, vs: str | None = None, motifs: str = "jaspar:2024/CORE/vertebrates",
             config=None, genome=None, tracks=None, progress: Callable[[str], None] | None = None) -> IQResult:
    """The IQ pipeline on a dataset's training regions (validation rows choose the ridge), written
    to the run directory ``out``. ``tracks`` (``NAME=FILE.bw`` strings or ``{name: path}``) add
    covariates: log(1 + mean signal) of each bigWig over each region (IceQream's additional
    features, e.g. an epigenomic mark)."""
    cfg = config or IQConfig()
    track_paths = parse_tracks(tracks)
    data = training_data(dataset, targets, vs=vs, genome=genome)
    db = load_motifs(motifs)
    extra = track_covariates(track_paths, data.regions) if track_paths else None
    fitted = fit_iq(data.codes, data.Y, data.split == "train", db, targets=data.targets, config=cfg,
                    extra=(list(track_paths), extra) if track_paths else None, extra_sources=track_paths,
                    val=data.split == "val", progress=progress)
    pred = fitted.model.predict(data.codes, extra)
    conf = {**path_entries(dataset=dataset, motifs=motifs, genome=data.genome), "targets": list(targets), "vs": vs,
            "target_params": data.target_params, "iq": fitted.model.info["config"], "tracks": track_paths}
    anatomy = interaction_anatomy(fitted.model, data.codes, data.split == "train")  # [] without motif × motif terms

    def save(d: Path) -> None:  # before metrics.json, the mark of a finished run
        fitted.model.save(d)
        write_anatomy(d, anatomy)

    metrics, preds = write_run(out, "iq", conf, data, pred, save,
                               {"pipeline.json": {"stages": fitted.stages, "clusters": fitted.clusters,
                                                  "contributions": fitted.contributions}})
    model = fitted.model
    ranking = {t: sorted(fitted.contributions.get(t, {}).items(), key=lambda kv: -kv[1]) for t in model.targets}
    names = model.feature_names()
    k0 = 4 * (len(model.motifs) + len(model.covariates))
    interactions = [(names[k0 + j], [float(model.coef[t, k0 + j]) for t in range(len(model.targets))])
                    for j in range(len(model.interactions))]
    return IQResult(out, "iq", {"family": "iq", **conf}, metrics, preds, targets=list(model.targets),
                    stages=fitted.stages, motifs=motif_summaries(fitted, data, db), ranking=ranking,
                    interactions=interactions, anatomy=anatomy)


def write_anatomy(out, anatomy) -> None:
    """``interaction_anatomy.tsv`` (one row per motif × motif term) and ``interaction_sites.parquet``
    (each term's top and background regions with both best sites) in the run directory ``out``."""
    if not anatomy:
        return
    with atomic_write(Path(out) / "interaction_anatomy.tsv") as fh:
        anatomy_table(anatomy).to_csv(fh, sep="\t", index=False)
    with atomic_path(Path(out) / "interaction_sites.parquet") as tmp:
        pd.concat([a.sites.assign(pair=a.pair) for a in anatomy], ignore_index=True).to_parquet(tmp, index=False)


def reading(fitted, data: TrainingData) -> list[dict]:
    """How each motif of ``fitted`` reads sequence, measured (:func:`cisgram.interpret.iq_reading.measure_reading`):
    per motif, per target, the validation R² of the final fit with the motif's energy integrated,
    best-site only and top-:data:`READING_TOP_K`, refitted on training rows with the final fit's
    ridge, and the label from the paired-bootstrap interval (:data:`READING_BOOT` resamples)."""
    model = fitted.model
    ridge = next((s["chosen"] for s in fitted.stages if s["stage"] == "ridge"), None)
    extra = track_covariates(model.extra_sources, data.regions) if model.extra else None
    return measure_reading(model, data.codes, data.Y, data.split == "train", data.split == "val", extra=extra,
                           ridge=ridge, top_k=READING_TOP_K, n_boot=READING_BOOT)


def best_site_share(codes: np.ndarray, motif, spatial: np.ndarray, grid) -> float:
    """Descriptive: the median share of the best site in the energy of the top 10 % regions by
    that motif's energy."""
    lse, share = top_site_share(codes, motif.probs, spatial, grid)
    top = share[lse >= np.quantile(lse, 0.9)]
    return float(np.median(top)) if top.size else float("nan")


def motif_summaries(fitted, data: TrainingData, database) -> list[IQMotif]:
    """One :class:`~cisgram.results.IQMotif` per binding model of ``fitted``: its partial
    responses, spatial profile, coefficients, ΔR², reading (measured by :func:`reading`; the
    best-site share on the training regions) and nearest database motif (TOMTOM)."""
    model = fitted.model
    matches = nearest_matches(MotifSet(model.motifs), database, n=1).set_index("query") if len(database) else None
    xs = np.linspace(0, 10, 101)
    phi = logistic_bases(xs[:, None])[:, 0, :]  # (101, 4)
    train_codes = data.codes[data.split == "train"]
    readings = reading(fitted, data)
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
            bin_size=int(model.grid.size), offset=int(model.grid.offset), readings=readings[i]))
    return out
