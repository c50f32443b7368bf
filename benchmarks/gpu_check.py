"""The GPU check (issue 24): every CUDA path of cisgram once, checked against the CPU and timed,
in one short run. Run it through ``benchmarks/gpu_check.sh`` on a machine with an NVIDIA GPU
(under 8 minutes on an H100 / H200); ``--device cpu`` runs the same checks on the CPU (the test
suite does, with ``--quick``), so the script is known to work before a GPU is at hand.

- **scan**: the torch motif kernel (``conv1d`` scores, exact float64 rescoring;
  :class:`cisgram.motifs.kernels.TorchScanner`) on the device against the numba CPU kernel
  (:class:`~cisgram.motifs.kernels.CpuScanner`) on the same real 1 kb chr22 windows and every
  JASPAR motif: per-region maxima, counts and the hit table must agree (``scan.hits_equal``);
  then ``cisgram.motifs.scan.scan`` end to end on the device (regions / s).
- **cnn**: training of the DeepSEA-style CNN through :func:`cisgram.training.fit` (Lightning) in
  ``32-true`` and ``bf16-mixed`` precision, one epoch each; sequences / s (the epoch's own time).
- **get**: training steps of GET's region transformer (the paper preset, 12 x 768, on a GPU; the
  small preset on a CPU) in float32 and bfloat16 autocast; windows / s of the steps after the
  first.
- **ism** and **deeplift**: :func:`cisgram.interpret.ism.ism` (fast path) and
  :func:`cisgram.interpret.attribution.deeplift` on the device, checked against the CPU answer
  (largest absolute difference) and timed (sequences / s).

    benchmarks/gpu_check.sh [--device cuda] [--quick]

Prints one JSON object as its last line; ``ok`` is true when every check agreed.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from _common import SHARED, emit

LENGTH = 1000


def _inputs(n: int):
    """``n`` real 1 kb windows (uint8 codes) centred on K562 peaks and the JASPAR motifs (the
    shared chr22 data, or the bundled demo slice)."""
    from cisgram.genome import Genome
    from cisgram.intervals import read_regions, resize
    from cisgram.motifs.pwm import read_meme

    chr22 = SHARED / "hg38_chr22"
    if (chr22 / "peaks").is_dir():
        genome, peaks = chr22 / "genome" / "chr22.fa.gz", chr22 / "peaks" / "K562.narrowPeak"
        motifs = SHARED / "motifs" / "JASPAR2024_CORE_vertebrates_nonredundant.meme"
    else:
        from cisgram.bundled import demo

        d = demo()
        genome, peaks, motifs = d.genome, d.peaks["K562"], d.motifs
    g = Genome(genome)
    r = resize(read_regions(peaks, genome=g), LENGTH, sizes=g.sizes)
    r = r[(r["end"] - r["start"]) == LENGTH]
    reps = -(-n // len(r))  # the demo slice has fewer peaks than a full check asks for
    codes = np.stack([g.fetch_codes(c, s, e) for c, s, e in zip(r.chrom, r.start, r.end, strict=True)])
    return np.tile(codes, (reps, 1))[:n], read_meme(motifs)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def check_scan(codes: np.ndarray, motifs, device: str) -> dict:
    from cisgram.motifs import kernels as K
    from cisgram.motifs import pvalues as P
    from cisgram.motifs.scan import scan

    mats = P.log_odds_matrices(motifs)
    thr = P.pvalue_thresholds(motifs, 1e-4)
    t = time.perf_counter()
    b1, c1, h1 = K.CpuScanner(mats, thr).run(codes, True, True, True)
    cpu_s = time.perf_counter() - t
    t = time.perf_counter()
    b2, c2, h2 = K.TorchScanner(mats, thr, device).run(codes, True, True, True)
    _sync(device)
    dev_s = time.perf_counter() - t

    def rows(parts):
        return sorted((k, *map(float, row[:3]), round(float(row[3]), 9)) for k, a in parts for row in a)

    hits_cpu, hits_dev = rows(h1), rows(h2)
    equal = bool(np.allclose(b1, b2, atol=1e-4) and np.array_equal(c1, c2) and hits_cpu == hits_dev)
    scan(codes[: min(64, len(codes))], motifs, device=device)  # warm-up (CUDA context, kernels)
    t = time.perf_counter()
    scan(codes, motifs, device=device)
    _sync(device)
    end_to_end = time.perf_counter() - t
    return {"regions": len(codes), "motifs": len(motifs), "hits": len(hits_cpu), "hits_equal": equal,
            "max_abs_diff": float(np.abs(np.where(np.isfinite(b1), b1 - b2, 0)).max()),
            "kernel_cpu_s": cpu_s, "kernel_device_s": dev_s, "scan_s": end_to_end,
            "scan_regions_per_s": len(codes) / end_to_end}


def check_cnn(codes: np.ndarray, device: str, n: int) -> dict:
    from torch.utils.data import TensorDataset

    from cisgram.genome import codes_to_onehot
    from cisgram.models.cnn import DeepSEA
    from cisgram.training import TrainConfig, fit

    X = torch.from_numpy(codes_to_onehot(np.resize(codes, (n, codes.shape[1]))))
    y = torch.from_numpy(np.random.default_rng(0).random((n, 1), dtype=np.float32))
    train, val = TensorDataset(X, y), TensorDataset(X[:64], y[:64])
    out = {"sequences": n}
    for precision in ("32-true", "bf16-mixed"):
        torch.manual_seed(0)
        cfg = TrainConfig(task="regression", max_epochs=1, patience=1, batch_size=64, precision=precision,
                          accelerator="gpu" if device.startswith("cuda") else "cpu", devices=1, seed=0)
        res = fit(DeepSEA(1, LENGTH), train, val, cfg)
        secs = res.history[0]["seconds"]
        out[precision] = {"seconds": secs, "seq_per_s": n / secs, "val_loss": res.best_val_loss,
                          "finite": bool(np.isfinite(res.best_val_loss))}
    return out


def check_get(device: str, steps: int) -> dict:
    from cisgram.models.get import GETConfig, RegionTransformer, count_parameters
    from cisgram.training import GETTraining, param_groups

    paper = device.startswith("cuda")
    cfg = GETConfig.paper(n_features=638) if paper else GETConfig.small(n_features=638)
    batch, regions = (8, 200) if paper else (4, 100)
    out = {"preset": "paper" if paper else "small", "batch": batch, "regions": regions}
    for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        torch.manual_seed(0)
        net = RegionTransformer(cfg).to(device).train()
        tc = GETTraining().config(lr=1e-4, weight_decay=0.05)
        opt = torch.optim.AdamW(param_groups(net, tc), lr=tc.lr, betas=tc.betas)
        x = torch.rand(batch, regions, cfg.n_features, device=device)
        y = torch.rand(batch, regions, 2, device=device)
        times, losses = [], []
        for _ in range(steps + 1):  # the first step allocates AdamW's state
            t = time.perf_counter()
            with torch.autocast(device_type="cuda" if paper else "cpu", dtype=dtype, enabled=dtype is not None):
                pred = net(x).expression
            loss = torch.nn.functional.poisson_nll_loss(pred.float(), y, log_input=False)
            opt.zero_grad()
            loss.backward()
            opt.step()
            _sync(device)
            times.append(time.perf_counter() - t)
            losses.append(float(loss))
        step = float(np.median(times[1:]))
        out[name] = {"step_s": step, "windows_per_s": batch / step, "finite": bool(np.isfinite(losses).all())}
        out["parameters"] = count_parameters(net)
        del net, opt
    return out


def check_attribution(codes: np.ndarray, device: str, n_ism: int, n_dl: int) -> dict:
    from cisgram.genome import codes_to_onehot
    from cisgram.interpret.attribution import deeplift
    from cisgram.interpret.ism import ism
    from cisgram.models.cnn import DeepSEA

    torch.manual_seed(0)
    net = DeepSEA(1, LENGTH).eval()
    X = codes_to_onehot(codes[: max(n_ism, n_dl)])
    out = {}
    for name, fn, n in (("ism", lambda dev, x: ism(net, x, batch_size=256, device=dev), n_ism),
                        ("deeplift", lambda dev, x: deeplift(net, x, batch_size=64, device=dev, n_shuffles=20), n_dl)):
        ref = fn("cpu", X[:1])
        fn(device, X[:1])  # warm-up
        _sync(device)
        t = time.perf_counter()
        got = fn(device, X[:n])
        _sync(device)
        secs = time.perf_counter() - t
        diff = float(np.abs(got[:1] - ref).max())
        out[name] = {"sequences": n, "seq_per_s": n / secs, "max_abs_diff_vs_cpu": diff,
                     "agrees": bool(diff <= 1e-3 * max(float(np.abs(ref).max()), 1e-3))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    ap.add_argument("--quick", action="store_true", help="small sizes (the CPU test)")
    args = ap.parse_args()
    from cisgram.devices import resolve_device
    from cisgram.errors import InputError

    try:
        device = str(resolve_device(args.device))
    except InputError as e:
        sys.exit(f"gpu_check: {e}")
    n_scan, n_cnn, steps, n_ism, n_dl = (40, 128, 2, 1, 2) if args.quick else (2000, 8192, 10, 16, 64)
    codes, motifs = _inputs(max(n_scan, n_ism, n_dl))
    if args.quick:
        motifs = motifs.subset(motifs.names[:50])
    t0 = time.perf_counter()
    out = {"benchmark": "gpu_check", "device": device, "quick": args.quick,
           "gpu": torch.cuda.get_device_name(device) if device.startswith("cuda") else None,
           "torch": torch.__version__}
    out["scan"] = check_scan(codes[:n_scan], motifs, device)
    out["cnn"] = check_cnn(codes, device, n_cnn)
    out["get"] = check_get(device, steps)
    out.update(check_attribution(codes, device, n_ism, n_dl))
    out["ok"] = bool(out["scan"]["hits_equal"] and out["ism"]["agrees"] and out["deeplift"]["agrees"]
                     and all(out["cnn"][p]["finite"] for p in ("32-true", "bf16-mixed"))
                     and all(out["get"][p]["finite"] for p in ("fp32", "bf16")))
    out["seconds"] = time.perf_counter() - t0
    emit(out)


if __name__ == "__main__":
    main()
