"""GET's speed on this machine: masked-region pre-training throughput (windows per second) of the
real path against a plain PyTorch loop, and one training step of the paper preset (12 x 768).

- **cisgram** (the real path): :func:`cisgram.workflows.pretrain_get.masked_pretraining`, i.e.
  :func:`cisgram.training.fit` through Lightning with GET's optimiser (parameter groups, AdamW β
  0.9/0.95, per-step warm-up + cosine) on :class:`~cisgram.data.get_windows.MaskedWindows` cut
  from the region-motif data when asked for; windows per second over the training steps of each
  epoch (validation included: it is part of an epoch), median of the epochs after the first;
- **eager**: a ``for`` loop of forward / masked MSE / backward / step over the same windows,
  collated beforehand.
- **paper preset**: one forward + backward + AdamW step of GET's 12 x 768 model on
  ``--paper-batch`` windows of 200 regions (seconds, and the process's peak resident memory).

The data are the whole chr22 (``--data`` a ``cisgram get-data`` .npz; by default built from the
shared data, or the bundled demo slice without it). ``--device cuda`` times the GPU.

    python benchmarks/get.py [--data D.npz] [--regions 100] [--stride 10] [--epochs 3] [--device cpu] [--quick]

Prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from _common import SHARED, emit
from cisgram.data.get import RegionMotifData
from cisgram.data.get_windows import MaskedWindows, RegionWindows
from cisgram.models.get import GETConfig, RegionTransformer, count_parameters
from cisgram.training import GETTraining, masked_mse, param_groups
from cisgram.workflows.pretrain_get import masked_pretraining

CELLS = ("K562", "GM12878", "MCF7")


def build_data(tmp: Path) -> Path:
    """The chr22 region-motif data (or the demo slice's), as ``cisgram get-data`` makes it."""
    from cisgram.data.dataset import prepare
    from cisgram.data.get_data import region_motif_data

    chr22 = SHARED / "hg38_chr22"
    if (chr22 / "peaks").is_dir():
        genome, tss, motifs = chr22 / "genome/chr22.fa.gz", chr22 / "annotation/genes_tss.bed", \
            SHARED / "motifs/vierstra_archetypes_v2.1beta.meme"
        peaks = [chr22 / f"peaks/{c}.narrowPeak" for c in CELLS]
        tracks = [f"{c}={chr22 / 'accessibility' / (c + '.bw')}" for c in CELLS]
        ti = chr22 / "transcription_initiation"
        init = {c: (ti / f"{c}.pl.bw", ti / f"{c}.mn.bw") for c in CELLS}
    else:
        from cisgram.bundled import demo

        d = demo()
        genome, tss, motifs, peaks = d.genome, d.genes_tss, d.motifs, list(d.peaks.values())
        tracks = [f"{c}={p}" for c, p in d.accessibility.items()]
        init = {c: (d.initiation_plus[c], d.initiation_minus[c]) for c in d.initiation_plus}
    ds = tmp / "regions.h5ad"
    prepare(genome, peaks, tracks, tss=tss, width=500, split="blocks:1Mb", out=ds)
    out = tmp / "get.npz"
    region_motif_data(ds, genome, motifs, tss, init).write(out)
    return out


def eager(net: RegionTransformer, windows: MaskedWindows, batch: int, epochs: int, device: str) -> float:
    """Windows per second of a plain loop (median over epochs after the first)."""
    loader = torch.utils.data.DataLoader(windows, batch_size=batch, shuffle=True)
    batches = list(loader)
    net = net.to(device).train()
    cfg = GETTraining().config(lr=1e-3, weight_decay=0.05)
    opt = torch.optim.AdamW(param_groups(net, cfg), lr=cfg.lr, betas=cfg.betas)
    rates = []
    for _ in range(epochs):
        t = time.perf_counter()
        for b in batches:
            x, mask, keep = b.x.to(device), b.mask.to(device), (b.mask & b.in_split).to(device)
            loss = masked_mse(net(x, mask=mask).reconstruction, x, keep)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        rates.append(len(windows) / (time.perf_counter() - t))
    return statistics.median(rates[1:] or rates)


def paper_step(n_features: int, batch: int, device: str) -> dict:
    """One training step of the paper preset: seconds and peak resident memory."""
    torch.manual_seed(0)
    net = RegionTransformer(GETConfig.paper(n_features=n_features)).to(device).train()
    cfg = GETTraining().config(lr=1e-3, weight_decay=0.05)
    opt = torch.optim.AdamW(param_groups(net, cfg), lr=cfg.lr, betas=cfg.betas)
    x = torch.rand(batch, 200, n_features, device=device)
    y = torch.rand(batch, 200, 2, device=device)
    times = []
    for _ in range(2):  # the first step allocates AdamW's state
        t = time.perf_counter()
        out = net(x).expression
        loss = torch.nn.functional.poisson_nll_loss(out, y, log_input=False)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    peak = (torch.cuda.max_memory_allocated() / 1e6 if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3)
    return {"parameters": count_parameters(net), "batch": batch, "regions": 200, "first_step_s": times[0],
            "step_s": times[1], "windows_per_s": batch / times[1], "peak_mb": peak,
            "peak_kind": "cuda allocated" if device.startswith("cuda") else "process max RSS"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path)
    ap.add_argument("--regions", type=int, default=100)
    ap.add_argument("--stride", type=int, default=10, help="regions between training windows (as scripts/get_eval.py)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--paper-batch", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="2 epochs, paper batch 1")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    epochs, pbatch = (2, 1) if args.quick else (args.epochs, args.paper_batch)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.data or build_data(Path(tmp))
        data = RegionMotifData.read(path)
        R = args.regions
        cfg = GETConfig.small(n_features=data.n_features)
        torch.manual_seed(0)
        net = RegionTransformer(cfg)
        windows = MaskedWindows(RegionWindows(data, None, split="train", n_regions=R, stride=args.stride,
                                                  require_targets=False), seed=0)
        accelerator = "cpu" if args.device == "cpu" else "gpu"
        tc = GETTraining().config(max_epochs=epochs, patience=epochs, batch_size=args.batch, lr=1e-3, weight_decay=0.05,
                                  seed=0, accelerator=accelerator)
        _, hist = masked_pretraining(net, data, R, tc, GETTraining(), stride=args.stride, seed=0)
        secs = [e["seconds"] for e in hist["epochs"]]
        real = len(windows) / statistics.median(secs[1:] or secs)
        torch.manual_seed(0)
        loop = eager(RegionTransformer(cfg), windows, args.batch, epochs, args.device)
        paper = paper_step(data.n_features, pbatch, args.device)
    emit({"benchmark": "get", "device": args.device, "threads": torch.get_num_threads(),
          "data": {"regions": data.n_regions, "features": data.n_features, "cell_types": list(data.cell_types),
                   "train_windows": len(windows), "window_regions": R, "stride": args.stride},
          "pretrain": {"config": "small", "parameters": count_parameters(net), "batch": args.batch,
                       "cisgram_windows_per_s": real, "eager_windows_per_s": loop, "real_vs_eager_ratio": real / loop,
                       "epoch_seconds": secs},
          "paper_step": paper})


if __name__ == "__main__":
    main()
