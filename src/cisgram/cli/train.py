"""``cisgram train iq | baseline | cnn | get | chrombpnet`` and ``cisgram pretrain get``: parse, call the workflow, render its report, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cisgram.cli.console import console, out
from cisgram.cli.console import metrics_line as _metrics_line
from cisgram.cli.console import say as _say

train_app = typer.Typer(help="Train a model family on a dataset; each writes a run directory.", no_args_is_help=True)
pretrain_app = typer.Typer(help="Pre-train a foundation model to fine-tune or adapt later.", no_args_is_help=True)

_TargetOpt = Annotated[list[str], typer.Option("--target", "-T", help="Condition to model; repeat for several targets (a shared motif set).")]
ResumeOption = Annotated[bool, typer.Option("--resume", help="Continue the interrupted run in --out from its last completed epoch (same options).")]
_VsOpt = Annotated[str | None, typer.Option("--vs", help="Model the dAP target - VS on distal regions instead of the AP.")]


@train_app.command("iq")
def train_iq(
    dataset: Annotated[Path, typer.Option("--dataset", "-d", help="Dataset .h5ad from `cisgram prepare`.")],
    target: _TargetOpt,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")],
    vs: _VsOpt = None,
    motifs: Annotated[str, typer.Option("--motifs", "-m", help="Motif database: MEME file or jaspar: address.")] = "jaspar:2024/CORE/vertebrates",
    max_motifs: Annotated[int, typer.Option(help="At most this many binding models (clusters).")] = 30,
    n_denovo: Annotated[int, typer.Option(help="De-novo motifs learned on the residual.")] = 0,
    interactions: Annotated[bool, typer.Option(help="Add pairwise interactions.")] = False,
    simplify: Annotated[bool, typer.Option(help="Drop low-information motifs and those with leave-one-out ΔR² < 5e-4.")] = True,
    covariates: Annotated[bool, typer.Option(help="GC and dinucleotide covariates.")] = True,
    track: Annotated[list[str] | None, typer.Option("--track", help="Extra covariate NAME=FILE.bw: log(1 + mean signal) over each region; repeatable.")] = None,
    genome: Annotated[Path | None, typer.Option(help="Genome, if not where the dataset says.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of every subsample.")] = 0,
    calibrate: Annotated[str, typer.Option(help="Rows of the least-squares line from σ(link) to the target: train | val (validation blocks; never test).")] = "train",
    background: Annotated[float, typer.Option(help="GC-matched background windows per peak, target AP 0 (0: peaks only; refused with --vs).")] = 0.0,
    distill: Annotated[str, typer.Option(help="How a multi-member cluster learns its PWM: refine (the representative by gradient ascent) | kmer (grown from gapped 8-mer seeds, IceQream) | both (the best on validation).")] = "refine",
    coherence_split: Annotated[str, typer.Option(help="Several targets: split clusters whose targets' responses correlate below 0.6: off | groups | singletons (IceQream).")] = "off",
    min_diff: Annotated[float, typer.Option(help="Several targets: cluster on training rows where some target exceeds this (IceQream 0.1; < 0: every row).")] = -1.0,
) -> None:
    """The biophysical model (IceQream-style): a few PWM + spatial binding models, dose-response bases, logistic link."""
    from cisgram.models.iq_fit import IQConfig
    from cisgram.report.iq import iq_report
    from cisgram.workflows.train_iq import train_iq as run

    cfg = IQConfig(max_motifs=max_motifs, n_denovo=n_denovo, interactions=interactions, filter=simplify,
                   covariates=covariates, seed=seed, calibrate=calibrate, distill=distill,
                   coherence_split=coherence_split, min_diff=min_diff)
    with console.status("training the IQ model…"):
        result = run(dataset, target, out_dir, vs=vs, motifs=motifs, config=cfg, genome=genome, tracks=track,
                     background=background, progress=_say)
        iq_report(out_dir / "report.html", result)
    out.print(f"{_metrics_line(result.metrics)}; wrote {out_dir}")


@train_app.command("baseline")
def train_baseline(
    dataset: Annotated[Path, typer.Option("--dataset", "-d", help="Dataset .h5ad from `cisgram prepare`.")],
    target: _TargetOpt,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")],
    kind: Annotated[str, typer.Option(help="motif-lasso | kmer-ridge | gc")] = "gc",
    vs: _VsOpt = None,
    motifs: Annotated[str, typer.Option("--motifs", "-m", help="Motifs of motif-lasso: MEME file or jaspar: address.")] = "jaspar:2024/CORE/vertebrates",
    genome: Annotated[Path | None, typer.Option(help="Genome, if not where the dataset says.")] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    background: Annotated[float, typer.Option(help="GC-matched background windows per peak, target AP 0 (0: peaks only; refused with --vs).")] = 0.0,
) -> None:
    """A baseline on the same split: L1 linear on motif max scores, ridge on 6-mers, or GC + dinucleotides."""
    from cisgram.report.baseline import baseline_report
    from cisgram.workflows.train_baseline import train_baseline as run

    with console.status(f"training the {kind} baseline…"):
        result = run(dataset, target, out_dir, kind=kind, vs=vs, motifs=motifs, genome=genome, seed=seed,
                     background=background)
        baseline_report(out_dir / "report.html", result)
    out.print(f"{_metrics_line(result.metrics)}; wrote {out_dir}")


def _rank_zero() -> bool:
    """False in the extra processes Lightning starts for ``--strategy ddp`` (they stay quiet)."""
    import os

    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


@train_app.command("cnn")
def train_cnn(
    dataset: Annotated[Path, typer.Option("--dataset", "-d", help="Dataset .h5ad from `cisgram prepare`.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")],
    arch: Annotated[str, typer.Option(help="deepsea | dilated | danq")] = "deepsea",
    task: Annotated[str, typer.Option(help="regression | classification (peak vs GC-matched background)")] = "regression",
    signal: Annotated[str, typer.Option(help="Regression target: logcounts (peaks + background) | access (peaks only, as iq).")] = "logcounts",
    target: Annotated[list[str] | None, typer.Option("--target", "-T", help="Condition(s) to predict (default: all).")] = None,
    vs: _VsOpt = None,
    length: Annotated[int, typer.Option(help="Input window in bp, centred on each region.")] = 1000,
    background: Annotated[float, typer.Option(help="GC-matched background windows per peak (0: none).")] = 1.0,
    jitter: Annotated[int, typer.Option(help="Random shift of training windows, ± bp.")] = 20,
    rc: Annotated[bool, typer.Option(help="Reverse-complement half the training windows.")] = True,
    max_epochs: Annotated[int, typer.Option(help="At most this many epochs.")] = 30,
    patience: Annotated[int, typer.Option(help="Stop after this many epochs without a better validation loss.")] = 5,
    batch_size: Annotated[int, typer.Option(help="Sequences per batch (per process).")] = 64,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 1e-3,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 1e-4,
    workers: Annotated[int, typer.Option(help="Data-loader worker processes.")] = 0,
    accelerator: Annotated[str, typer.Option(help="Lightning accelerator: auto | cpu | gpu.")] = "auto",
    devices: Annotated[str, typer.Option(help="Devices (processes with ddp) per node, or auto.")] = "1",
    strategy: Annotated[str, typer.Option(help="Lightning strategy: auto | ddp | ...")] = "auto",
    num_nodes: Annotated[int, typer.Option(help="Machines taking part (multi-node DDP).")] = 1,
    precision: Annotated[str, typer.Option(help="Lightning precision: 32-true | bf16-mixed | 16-mixed.")] = "32-true",
    device: Annotated[str, typer.Option(help="Device for the final predictions: cpu | cuda | auto.")] = "auto",
    genome: Annotated[Path | None, typer.Option(help="Genome, if not where the dataset says.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the background, initialisation, shuffling and augmentation.")] = 0,
    dense_norm: Annotated[bool, typer.Option(help="DeepSEA: batch-normalise the dense layer (default; --no-dense-norm is the published head, which can die into a constant output).")] = True,
    resume: ResumeOption = False,
) -> None:
    """A sequence CNN (DeepSEA-style or dilated residual) trained through Lightning on windows cut from the genome."""
    from cisgram.report.cnn import cnn_report
    from cisgram.training import TrainConfig
    from cisgram.workflows.train_cnn import train_cnn as run

    loud = _rank_zero()
    cfg = TrainConfig(task=task, max_epochs=max_epochs, patience=patience, batch_size=batch_size, lr=lr,
                      weight_decay=weight_decay, num_workers=workers, accelerator=accelerator,
                      devices=int(devices) if devices.isdigit() else devices, strategy=strategy, num_nodes=num_nodes,
                      precision=precision, seed=seed, progress=loud)
    result = run(dataset, out_dir, arch=arch, task=task, signal=signal, targets=target or (), vs=vs, length=length,
                 background=background, jitter=jitter, rc=rc, config=cfg, genome=genome, device=device,
                 arch_params={"dense_norm": dense_norm} if arch == "deepsea" else None,
                 progress=_say if loud else None, resume=resume)
    if result is None:
        return
    cnn_report(out_dir / "report.html", result)
    metrics = result.metrics
    if task == "classification":
        line = "; ".join(f"{t}: test auROC {m['auroc']:.3f}, auPRC {m['auprc']:.3f} (n {m['n']:,})"
                         for t, m in metrics["test"].items())
    else:
        line = _metrics_line(metrics)
    out.print(f"{line}; wrote {out_dir}")


@train_app.command("chrombpnet")
def train_chrombpnet(
    genome: Annotated[Path, typer.Option("--genome", "-g", help="FASTA (plain/bgzip) or 2bit genome.")],
    bigwig: Annotated[Path, typer.Option("--bigwig", "-b", help="Tn5 insertion bigWig (`cisgram tracks insertions`).")],
    peaks: Annotated[Path, typer.Option("--peaks", "-p", help="narrowPeak (windows centred on the summit) or BED.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")],
    dataset: Annotated[Path | None, typer.Option("--dataset", "-d", help="Hold out what this `cisgram prepare` dataset holds out (its split).")] = None,
    split: Annotated[str, typer.Option(help="Hold-out without --dataset: auto | chroms:TEST/VAL | blocks:1Mb.")] = "auto",
    target: Annotated[str | None, typer.Option(help="Name of the track in metrics and predictions (default: the bigWig's name).")] = None,
    input_len: Annotated[int, typer.Option(help="Input window in bp, centred on each summit.")] = 2114,
    output_len: Annotated[int, typer.Option(help="Output (profile) window in bp, the middle of the input.")] = 1000,
    max_jitter: Annotated[int, typer.Option(help="Largest random shift of training peaks, ± bp.")] = 500,
    background: Annotated[float, typer.Option(help="GC-matched background windows per peak.")] = 2.0,
    n_filters: Annotated[int, typer.Option(help="Filters of the accessibility model.")] = 512,
    n_layers: Annotated[int, typer.Option(help="Dilated layers of the accessibility model.")] = 8,
    bias_filters: Annotated[int, typer.Option(help="Filters of the bias model.")] = 128,
    bias_layers: Annotated[int, typer.Option(help="Dilated layers of the bias model.")] = 4,
    background_ratio: Annotated[float, typer.Option(help="Background windows per peak drawn each epoch for the accessibility model.")] = 0.1,
    bias_threshold_factor: Annotated[float, typer.Option(help="Bias background: total count below this × the peaks' 1 % quantile (0.8 for DNase).")] = 0.5,
    bias_model: Annotated[Path | None, typer.Option(help="Reuse the bias model of this chrombpnet run (its counts are shifted to this sample).")] = None,
    no_bias: Annotated[bool, typer.Option("--no-bias", help="No bias model: the accessibility model alone (for coverage pileups, not Tn5 cut sites).")] = False,
    max_epochs: Annotated[int, typer.Option(help="At most this many epochs per model.")] = 50,
    patience: Annotated[int, typer.Option(help="Stop after this many epochs without a better validation loss.")] = 5,
    batch_size: Annotated[int, typer.Option(help="Windows per batch.")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    accelerator: Annotated[str, typer.Option(help="Lightning accelerator: auto | cpu | gpu.")] = "auto",
    device: Annotated[str, typer.Option(help="Device for the final predictions: cpu | cuda | auto.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="Torch CPU threads.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the background, initialisation, shuffling and augmentation.")] = 0,
    resume: ResumeOption = False,
) -> None:
    """ChromBPNet: a Tn5 bias model on background, then a base-resolution accessibility model with the bias frozen."""
    from cisgram.report.chrombpnet import chrombpnet_report, summary_lines
    from cisgram.workflows.train_chrombpnet import train_chrombpnet as run

    result = run(genome, bigwig, peaks, out_dir, split=split, dataset=dataset, target=target, input_len=input_len,
                 output_len=output_len, max_jitter=max_jitter, background=background, n_filters=n_filters,
                 n_layers=n_layers, bias_filters=bias_filters, bias_layers=bias_layers,
                 background_ratio=background_ratio, bias_threshold_factor=bias_threshold_factor,
                 bias_model=bias_model, no_bias=no_bias, max_epochs=max_epochs, patience=patience,
                 batch_size=batch_size, lr=lr, seed=seed, threads=threads, accelerator=accelerator, device=device,
                 progress=_say, progress_bar=True, resume=resume)
    chrombpnet_report(out_dir / "report.html", result)
    for line in summary_lines(result):
        out.print(line)
    out.print(f"wrote {out_dir}")


_TRAINING = ("get", "faithful", "before")


def get_training(preset: str = "get", **switches):
    """A :class:`~cisgram.training.GETTraining` from a preset (``get``, ``faithful`` or ``before``) and the
    switches given (None keeps the preset's)."""
    from cisgram.errors import InputError
    from cisgram.training import GETTraining

    if preset not in _TRAINING:
        raise InputError(f"unknown training preset {preset!r}", hint="choose get, faithful or before")
    base = {"get": GETTraining, "faithful": GETTraining.faithful, "before": GETTraining.before}[preset]()
    return GETTraining(**{**base.to_dict(), **{k: v for k, v in switches.items() if v is not None}})


_Training = Annotated[str, typer.Option("--training", help="Preset: get (GET's optimiser, TSS entries only: measured best on chr22) | faithful (GET's throughout, zero labels on) | before (cisgram's earlier: flat lr, decay on all). The switches below override it.")]
_ZeroLabels = Annotated[bool | None, typer.Option("--zero-labels/--mask-zero-labels", help="Score non-TSS regions as zeros (GET's loss) or only TSS entries (default).", show_default=False)]
_Schedule = Annotated[str | None, typer.Option(help="cosine (per-step warm-up then cosine, GET) | flat.", show_default=False)]
_Warmup = Annotated[float | None, typer.Option(help="Warm-up length in epochs (GET: 1).", show_default=False)]
_MinLr = Annotated[float | None, typer.Option(help="Learning rate at the ends of the cosine (GET: 1e-6).", show_default=False)]
_LayerDecay = Annotated[float | None, typer.Option(help="BEiT layer-wise lr decay, e.g. 0.75 (default none).", show_default=False)]
_NoDecay = Annotated[bool | None, typer.Option("--no-decay-1d/--decay-all", help="Exempt biases, norms and tokens from weight decay (GET).", show_default=False)]
_Zscore = Annotated[bool | None, typer.Option("--zscore-targets/--raw-targets", help="Pre-train against each window's z-scored features (paper-era target).", show_default=False)]


@pretrain_app.command("get")
def pretrain_get(
    data: Annotated[Path, typer.Option("--data", "--dataset", "-d", help="Region-motif data (.npz) from `cisgram get-data`.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for the pre-trained model.")],
    config: Annotated[str, typer.Option(help="small (2 x 64) | paper (GET's 12 x 768)")] = "small",
    dropout: Annotated[float | None, typer.Option(help="Dropout of the transformer (default: the preset's).")] = None,
    n_regions: Annotated[int, typer.Option(help="Regions per window.")] = 100,
    stride: Annotated[int | None, typer.Option(help="Regions between training windows (default n_regions // 2).")] = None,
    max_epochs: Annotated[int, typer.Option(help="At most this many epochs.")] = 30,
    patience: Annotated[int, typer.Option(help="Stop after this many epochs without a better validation MSE.")] = 5,
    batch_size: Annotated[int, typer.Option(help="Windows per batch.")] = 16,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 1e-3,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 0.05,
    training: _Training = "get",
    zscore_targets: _Zscore = None,
    schedule: _Schedule = None,
    warmup_epochs: _Warmup = None,
    layer_decay: _LayerDecay = None,
    device: Annotated[str, typer.Option(help="cpu | cuda[:N] | auto")] = "cpu",
    threads: Annotated[int | None, typer.Option(help="Torch CPU threads.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, windows and masks.")] = 0,
    resume: ResumeOption = False,
) -> None:
    """GET's foundation step: masked-region pre-training on every cell type's inputs, saved as a directory `train get --init` starts from."""
    from cisgram.workflows.pretrain_get import pretrain_get as run

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    tr = get_training(training, zscore_pretrain=zscore_targets, schedule=schedule, warmup_epochs=warmup_epochs,
                      layer_decay=layer_decay)
    result = run(data, out_dir, config=config, config_overrides=None if dropout is None else {"dropout": dropout},
                 n_regions=n_regions, stride=stride, max_epochs=max_epochs, patience=patience, batch_size=batch_size,
                 lr=lr, weight_decay=weight_decay, seed=seed, training=tr, device=device, progress=_say, resume=resume)
    m = result.metrics
    out.print(f"pre-trained on {m['train_windows']:,} windows of {len(result.config['cell_types'])} cell type(s): "
              f"validation masked MSE {m['val_masked_mse']:.4f} (epoch {m['best_epoch']}), "
              f"{m['windows_per_second']:.1f} windows/s; wrote {out_dir}")


@train_app.command("get")
def train_get(
    data: Annotated[Path, typer.Option("--data", "--dataset", "-d", help="Region-motif data (.npz) from `cisgram get-data`.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")],
    leave_out: Annotated[str | None, typer.Option(help="Cell type held out of fine-tuning (zero-shot on its test blocks).")] = None,
    cells: Annotated[str | None, typer.Option(help="Comma-separated cell types to fine-tune on (default: all with targets but --leave-out).")] = None,
    init: Annotated[Path | None, typer.Option(help="Start from a `cisgram pretrain get` directory (fine-tune it).")] = None,
    config: Annotated[str, typer.Option(help="small (2 x 64) | paper (GET's 12 x 768); ignored with --init")] = "small",
    dropout: Annotated[float | None, typer.Option(help="Dropout of the transformer (default: the preset's).")] = None,
    n_regions: Annotated[int, typer.Option(help="Regions per window (GET: 200; 50-100 for 1 Mb block hold-outs).")] = 100,
    stride: Annotated[int | None, typer.Option(help="Regions between training windows (default n_regions // 2).")] = None,
    pretrain: Annotated[bool, typer.Option(help="Masked-region pre-training (all cell types' inputs) inside this run first.")] = False,
    lora: Annotated[bool, typer.Option(help="Then adapt to --leave-out with LoRA on its training blocks.")] = False,
    lora_rank: Annotated[int, typer.Option(help="LoRA rank.")] = 8,
    lora_base: Annotated[str, typer.Option(help="finetuned | pretrained: the network LoRA adapts (pretrained needs --init or --pretrain).")] = "finetuned",
    baselines: Annotated[str, typer.Option(help="Comma-separated: mean,linear,random_forest,mlp,cnn ('none' for none).")] = "mean,linear,random_forest,mlp,cnn",
    seeds: Annotated[int, typer.Option(help="Train this many seeds; report the ensemble and mean +- sd.")] = 1,
    training: _Training = "get",
    zero_labels: _ZeroLabels = None,
    atac_target: Annotated[str | None, typer.Option(help="none | logcpm: train the ATAC head on the accessibility column (GET's quantitative mode).", show_default=False)] = None,
    atac_weight: Annotated[float | None, typer.Option(help="Weight of the ATAC loss (default 1).", show_default=False)] = None,
    schedule: _Schedule = None,
    warmup_epochs: _Warmup = None,
    min_lr: _MinLr = None,
    layer_decay: _LayerDecay = None,
    no_decay_1d: _NoDecay = None,
    max_epochs: Annotated[int, typer.Option(help="At most this many epochs per stage.")] = 30,
    patience: Annotated[int, typer.Option(help="Stop after this many epochs without a better validation loss.")] = 5,
    batch_size: Annotated[int, typer.Option(help="Windows per batch.")] = 16,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 1e-3,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 0.05,
    device: Annotated[str, typer.Option(help="cpu | cuda[:N] | auto")] = "cpu",
    threads: Annotated[int | None, typer.Option(help="Torch CPU threads (1 is fastest for the small model on a busy machine).")] = None,
    seed: Annotated[int, typer.Option(help="First seed of initialisation, windows, masks, shuffling and baselines.")] = 0,
    resume: ResumeOption = False,
) -> None:
    """GET's region transformer: per-strand TSS initiation from the motifs of a window of regions; five baselines and LoRA on the same entries."""
    from cisgram.report.get import get_report
    from cisgram.workflows.train_get import train_get as run

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    chosen = () if baselines.strip().lower() == "none" else tuple(b.strip() for b in baselines.split(",") if b.strip())
    tr = get_training(training, zero_labels=zero_labels, atac_target=atac_target, atac_weight=atac_weight,
                      schedule=schedule, warmup_epochs=warmup_epochs, min_lr=min_lr, layer_decay=layer_decay,
                      no_decay_1d=no_decay_1d)
    result = run(data, out_dir, leave_out=leave_out, cells=[c.strip() for c in cells.split(",") if c.strip()] if cells else None,
                 init=init, config=config, config_overrides=None if dropout is None else {"dropout": dropout},
                 n_regions=n_regions, stride=stride, pretrain=pretrain, lora=lora, lora_rank=lora_rank,
                 lora_base=lora_base, baselines=chosen, seeds=seeds, training=tr, max_epochs=max_epochs,
                 patience=patience, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed, device=device,
                 progress=_say, resume=resume)
    get_report(out_dir / "report.html", result)
    metrics = result.metrics
    spread = metrics["seeds"]["models"]
    for cell, m in metrics["test"].items():
        e = metrics["subsets"]["expressed"]["test"][cell]
        line = f"{cell} (held out: {metrics['held_out'][cell]}): test r {m['pearson']:.3f} (n {m['n']:,}), expressed {e['pearson']:.3f}"
        if metrics["seeds"]["n"] > 1:
            p = spread["get"]["test"][cell]["pearson"]
            line += f", seeds {p['mean']:.3f} +- {p['sd']:.3f}"
        line += "".join(f"; {b} {s['test'][cell]['pearson']:.3f}" for b, s in metrics["baselines"].items())
        out.print(line)
    if metrics["lora"]:
        lm = metrics["lora"]
        out.print(f"LoRA on {lm['cell']} (from the {lm['base']} model): test r {lm['test'][lm['cell']]['pearson']:.3f}; "
                  f"trained {lm['fraction_trained']:.1%} of {lm['total_parameters']:,} parameters; adapter "
                  f"{lm['adapter_bytes']:,} bytes; base unchanged: {lm['base_unchanged']}")
    if metrics.get("accessibility"):
        out.print("ATAC head, test r: " + ", ".join(f"{c} {v['pearson']:.3f}" for c, v in metrics["accessibility"]["test"].items()))
    out.print(f"wrote {out_dir}")
