"""Training throughput of the real path against a plain PyTorch loop over tensors in memory.

Both sides train the same DeepSEA-style network (cisgram.models.cnn.DeepSEA, default widths, one
output per cell line) on 1 kb inputs at batch 64 with AdamW:

- **cisgram** (the real path): `cisgram.training.fit` through Lightning, on
  `cisgram.data.windows.SequenceWindows` that cut each window from the chr22 genome when it is
  asked for, with ±20 bp jitter and reverse-complement augmentation;
- **eager**: a `for` loop of forward / backward / step over one-hot tensors extracted
  beforehand, no augmentation, no framework.

Sequences per second are timed over the training steps of each epoch (data loading included,
validation excluded), median of 3 epochs after one warm-up epoch. The regions are the chr22
peaks of the three cell lines (500 bp, recentred to 1 kb windows), or the bundled demo slice
without the shared data. The issue's target is ``real_vs_eager_ratio >= 0.9``.

    python benchmarks/train.py [--quick] [--workers 0] [--device cpu]

Prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import statistics
import time

import numpy as np
import torch

from _common import SHARED, emit, epoch_timer
from cisgram.data.windows import SequenceWindows
from cisgram.genome import Genome
from cisgram.inference import resolve_device
from cisgram.intervals import read_regions, resize
from cisgram.models.cnn import DeepSEA
from cisgram.training import TrainConfig, fit

LENGTH, BATCH = 1000, 64


def _regions():
    chr22 = SHARED / "hg38_chr22"
    if (chr22 / "peaks").is_dir():
        genome = chr22 / "genome" / "chr22.fa.gz"
        peaks = sorted((chr22 / "peaks").glob("*.narrowPeak"))
    else:
        from cisgram.bundled import demo

        d = demo()
        genome, peaks = d.genome, list(d.peaks.values())
    import pandas as pd

    g = Genome(genome)
    df = pd.concat([resize(read_regions(p), LENGTH, sizes=g.sizes) for p in peaks], ignore_index=True)
    return str(genome), g, df


def real_path(genome: str, chroms, centres, Y, epochs: int, workers: int, device: str) -> list[float]:
    torch.manual_seed(0)
    net = DeepSEA(Y.shape[1], LENGTH)
    train = SequenceWindows(genome, chroms, centres, LENGTH, Y, jitter=20, rc=True, seed=0)
    val = SequenceWindows(genome, chroms[:BATCH], centres[:BATCH], LENGTH, Y[:BATCH])
    timer = epoch_timer()
    cfg = TrainConfig(max_epochs=epochs, patience=epochs, batch_size=BATCH, num_workers=workers,
                      accelerator="gpu" if device.startswith("cuda") else "cpu")
    fit(net, train, val, cfg, callbacks=(timer,))
    return [n / s for s, n in timer.seconds]


def eager_loop(X: torch.Tensor, Y: torch.Tensor, epochs: int, device: str) -> list[float]:
    dev = torch.device(device)
    torch.manual_seed(0)
    net = DeepSEA(Y.shape[1], LENGTH).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    X, Y = X.to(dev), Y.to(dev)
    rates = []
    for _ in range(epochs):
        perm = torch.randperm(len(X), device=dev)
        t = time.perf_counter()
        for i in range(0, len(X), BATCH):
            b = perm[i: i + BATCH]
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(X[b]), Y[b])
            loss.backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        rates.append(len(X) / (time.perf_counter() - t))
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="1,024 windows per epoch instead of 4,096")
    ap.add_argument("--workers", type=int, default=0, help="data-loader workers of the real path")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    device = str(resolve_device(a.device))
    genome, g, df = _regions()
    n = min(len(df), 1024 if a.quick else 4096)
    df = df.sample(n=n, random_state=0).reset_index(drop=True)
    chroms, centres = df["chrom"].to_numpy(), ((df["start"] + df["end"]) // 2).to_numpy()
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(n, 3)).astype(np.float32)
    X = torch.from_numpy(g.fetch_onehot_batch(df["chrom"], df["start"], df["end"]))
    epochs = 4  # one warm-up epoch, then the median of three
    eager = eager_loop(X, torch.from_numpy(Y), epochs, device)
    real = real_path(genome, chroms, centres, Y, epochs, a.workers, device)
    e, r = statistics.median(eager[1:]), statistics.median(real[1:])
    emit({
        "benchmark": "train", "inputs": {"windows_per_epoch": n, "length": LENGTH, "batch": BATCH,
                                         "model": "DeepSEA default", "workers": a.workers, "device": device},
        "versions": {p: md.version(p) for p in ("torch", "lightning")},
        "threads": torch.get_num_threads(),
        "eager_seqs_per_s": e, "real_seqs_per_s": r, "eager_epochs": eager, "real_epochs": real,
        "real_vs_eager_ratio": r / e,
    })


if __name__ == "__main__":
    main()
