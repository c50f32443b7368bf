"""TODO docstring."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cisgram.data.targets import parse_tracks, track_covariates, training_data
from cisgram.workflows.rundir import write_run


def train_iq(dataset, targets: Sequence[str], out, *, vs: str | None = None, motifs: str = "jaspar:2024/CORE/vertebrates",
             config=None, genome=None, tracks=None, progress: Callable[[str], None] | None = None) -> dict:
    """``cisgram train iq``: the IQ pipeline on a dataset's training regions; returns the metrics.
    ``tracks`` (``NAME=FILE.bw`` strings or ``{name: path}``) add covariates: log(1 + mean signal)
    of each bigWig over each region (IceQream's additional features, e.g. an epigenomic mark)."""
    from cisgram.models.iq_fit import IQConfig, fit_iq
    from cisgram.motifs.pwm import load_motifs
    from cisgram.report.iq import iq_report

    cfg = config or IQConfig()
    track_paths = parse_tracks(tracks)
    data = training_data(dataset, targets, vs=vs, genome=genome)
    db = load_motifs(motifs)
    extra = track_covariates(track_paths, data.regions) if track_paths else None
    fitted = fit_iq(data.codes, data.Y, data.split == "train", db, targets=data.targets, config=cfg,
                    extra=(list(track_paths), extra) if track_paths else None, extra_sources=track_paths,
                    val=data.split == "val", progress=progress)
    pred = fitted.model.predict(data.codes, extra)
    conf = {"dataset": str(dataset), "targets": list(targets), "vs": vs, "motifs": motifs, "genome": data.genome,
            "target_params": data.target_params, "iq": fitted.model.info["config"], "tracks": track_paths}
    return write_run(out, "iq", conf, data, pred, fitted.model.save,
                     lambda path, preds, metrics: iq_report(path, fitted, data, preds, metrics, db),
                     {"pipeline.json": {"stages": fitted.stages, "clusters": fitted.clusters,
                                        "contributions": fitted.contributions}})
