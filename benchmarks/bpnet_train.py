"""Training throughput of the BPNet trunk: `cisgram train chrombpnet`'s real path against a plain
PyTorch loop over tensors in memory.

Both sides train the same `cisgram.models.bpnet.BPNet` (2,114 bp in, 1,000 bp out: chrombpnet's
geometry; `--filters` 64 and 8 dilated layers by default, bpnet-lite's default width, so a CPU
finishes; `--filters 512` is chrombpnet's) with `chrombpnet_loss` at one precomputed count weight,
batch 64, Adam:

- **cisgram** (the real path): `cisgram.training.fit` (Lightning) on
  `cisgram.data.profiles.ProfileDataset`, which cuts each item from the windows in memory with
  chrombpnet's jitter (±500 bp here) and reverse-complement augmentation;
- **eager**: a `for` loop of forward / backward / step over one-hot and count tensors extracted
  beforehand (centred windows), no augmentation, no framework.

Windows: chr22 peaks of the three cell lines on the K562 bigWig (a pileup, which is fine for
timing), or the bundled demo slice without the shared data. Sequences per second are timed over
the training steps of each epoch (data loading included, validation excluded), the median of the
epochs after one warm-up epoch. The issue's target is ``real_vs_eager_ratio >= 0.9``.

    python benchmarks/bpnet_train.py [--windows 512] [--filters 64] [--epochs 3] [--device cpu]

Prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import statistics
import time
import warnings

import numpy as np
import torch

from _common import SHARED, emit, epoch_timer
from cisgram.data.profiles import ProfileDataset, profile_windows
from cisgram.inference import resolve_device
from cisgram.models.bpnet import BPNet, chrombpnet_loss, count_loss_weight
from cisgram.training import TrainConfig, fit

LENGTH, OUTPUT, JITTER, BATCH = 2114, 1000, 500, 64


def _inputs():
    chr22 = SHARED / "hg38_chr22"
    if (chr22 / "peaks").is_dir():
        return chr22 / "genome" / "chr22.fa.gz", chr22 / "accessibility" / "K562.bw", chr22 / "peaks" / "K562.narrowPeak"
    from cisgram.bundled import demo

    d = demo()
    name = sorted(d.peaks)[0]
    return d.genome, d.tracks[name], d.peaks[name]


def real_path(data, filters: int, weight: float, epochs: int, device: str) -> list[float]:
    torch.manual_seed(0)
    net = BPNet(n_filters=filters, n_layers=8, length=LENGTH, output_len=OUTPUT)
    train = ProfileDataset(data, None, kinds=("peak",), augment=True)
    val = ProfileDataset(data, None, kinds=("peak",))
    val = torch.utils.data.Subset(val, range(BATCH))
    timer = epoch_timer()
    cfg = TrainConfig(max_epochs=epochs, patience=epochs, batch_size=BATCH, lr=1e-3, weight_decay=0.0,
                      accelerator="gpu" if device.startswith("cuda") else "cpu")

    def loss(net, batch):
        x, y = batch
        return chrombpnet_loss(net(x), y, weight)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
        fit(net, train, val, cfg, loss=loss, callbacks=(timer,))
    return [n / s for s, n in timer.seconds]


def eager_loop(X: torch.Tensor, Y: torch.Tensor, filters: int, weight: float, epochs: int, device: str) -> list[float]:
    dev = torch.device(device)
    torch.manual_seed(0)
    net = BPNet(n_filters=filters, n_layers=8, length=LENGTH, output_len=OUTPUT).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    X, Y = X.to(dev), Y.to(dev)
    rates = []
    for _ in range(epochs):
        perm = torch.randperm(len(X), device=dev)
        t = time.perf_counter()
        for i in range(0, len(X), BATCH):
            b = perm[i: i + BATCH]
            opt.zero_grad()
            chrombpnet_loss(net(X[b]), Y[b], weight).backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        rates.append(len(X) / (time.perf_counter() - t))
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--windows", type=int, default=512, help="peak windows per epoch")
    ap.add_argument("--filters", type=int, default=64, help="trunk width (chrombpnet: 512)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per side; the first is a warm-up")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    device = str(resolve_device(a.device))
    genome, bigwig, peaks = _inputs()
    data = profile_windows(genome, bigwig, peaks, input_len=LENGTH, output_len=OUTPUT, max_jitter=JITTER,
                           background=0, split="auto", seed=0)
    keep = np.zeros(len(data), bool)
    keep[np.random.default_rng(0).permutation(len(data))[: a.windows]] = True
    data = data.select(keep)
    j = data.max_jitter
    X = torch.nn.functional.one_hot(torch.from_numpy(data.codes[:, j: j + LENGTH].astype(np.int64)), 5)[..., :4]
    X = X.permute(0, 2, 1).float().contiguous()
    Y = torch.from_numpy(np.ascontiguousarray(data.counts[:, :, j: j + OUTPUT], dtype=np.float32))
    weight = count_loss_weight(Y.sum(dim=(1, 2)).numpy())
    eager = eager_loop(X, Y, a.filters, weight, a.epochs, device)
    real = real_path(data, a.filters, weight, a.epochs, device)
    e, r = statistics.median(eager[1:]), statistics.median(real[1:])
    emit({
        "benchmark": "bpnet_train",
        "inputs": {"windows_per_epoch": int(len(data)), "length": LENGTH, "output_len": OUTPUT, "jitter": JITTER,
                   "batch": BATCH, "model": f"BPNet {a.filters} filters x 8 dilated layers", "device": device,
                   "bigwig": str(bigwig)},
        "versions": {p: md.version(p) for p in ("torch", "lightning")},
        "threads": torch.get_num_threads(),
        "eager_seqs_per_s": e, "real_seqs_per_s": r, "eager_epochs": eager, "real_epochs": real,
        "real_vs_eager_ratio": r / e,
    })


if __name__ == "__main__":
    main()
