"""Attribution throughput: cisgram's ISM and DeepLIFT-SHAP beside tangermeme's, same model, same inputs.

The model is the issue's "1 kb, 3-conv-layer CNN": `cisgram.models.cnn.DeepSEA` at its default
widths (convolutions of 64 / 128 / 128 filters, kernel 8, max pools of 4, a 128-unit dense layer),
random weights in eval mode, one output. The inputs are real 1 kb chr22 windows centred on K562
peak summits (the bundled demo slice without the shared data).

- **ISM**, every position and all three substitutions (3,000 mutants per sequence):
  `cisgram.interpret.ism.ism` (fast path: only what a substitution reaches is recomputed),
  cisgram's brute force (`fast=False`, every mutant through the whole network), tangermeme's
  `saturation_mutagenesis(fast=True)` (its torch.export fastISM) and, on fewer sequences and once,
  tangermeme's `fast=False`. Tangermeme decides for itself to use its fast path only when the job
  would take over 30 s naively, so it is given enough sequences for that (16; 4 with --quick,
  where it stays naive and the quick figure is not the target's comparison).
  The two sides' answers are checked to agree (tangermeme's mean-centred, projected form
  computed from ours) before anything is timed.
- **DeepLIFT-SHAP** with 20 dinucleotide-shuffled references per sequence, the same reference
  tensor given to both: `cisgram.interpret.attribution.deeplift` and tangermeme's
  `deep_lift_shap`, batch 64 sequence-reference pairs on both sides.

Targets (issue 7): `ism_ratio` (tangermeme fast seconds / cisgram seconds) >= 2 and
`deeplift_ratio` >= 1.

    python benchmarks/ism.py [--quick] [--threads N]

Prints one JSON object as its last line; sequences per second for every side.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import time
import warnings

import numpy as np
import torch

from _common import SHARED, emit, measure
from cisgram.genome import Genome, codes_to_onehot
from cisgram.intervals import read_regions, resize
from cisgram.models.cnn import DeepSEA

LENGTH = 1000


def _inputs(n: int) -> np.ndarray:
    chr22 = SHARED / "hg38_chr22"
    if (chr22 / "peaks").is_dir():
        genome, peaks = chr22 / "genome" / "chr22.fa.gz", chr22 / "peaks" / "K562.narrowPeak"
    else:
        from cisgram.bundled import demo

        d = demo()
        genome, peaks = d.genome, d.peaks["K562"]
    g = Genome(genome)
    r = resize(read_regions(peaks, genome=g), LENGTH, sizes=g.sizes)
    r = r[(r["end"] - r["start"]) == LENGTH].iloc[:n]
    return codes_to_onehot(np.stack([g.fetch_codes(c, s, e) for c, s, e in zip(r.chrom, r.start, r.end, strict=True)]))


def _tangermeme_form(ours: np.ndarray, X: np.ndarray) -> np.ndarray:
    """tangermeme's default ISM answer from ours: the changes (0 at the observed base) centred on
    their mean over the four bases, projected on the observed base."""
    return (ours - ours.mean(1, keepdims=True)) * X


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer sequences (under a minute)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from tangermeme.deep_lift_shap import deep_lift_shap
    from tangermeme.ersatz import dinucleotide_shuffle
    from tangermeme.saturation_mutagenesis import saturation_mutagenesis

    from cisgram.interpret.attribution import deeplift
    from cisgram.interpret.ism import ism

    n_ism, n_naive, n_dl = (4, 1, 8) if args.quick else (16, 2, 64)
    reps = 1 if args.quick else 3
    X = _inputs(max(n_ism, n_dl))
    torch.manual_seed(0)
    net = DeepSEA(1, LENGTH).eval()
    Xi = X[:n_ism]
    Xt = torch.from_numpy(Xi)

    def ours_ism():
        return ism(net, Xi, batch_size=256)

    def ours_brute():
        return ism(net, Xi[:n_naive], batch_size=256, fast=False)

    def theirs(fast: bool, n: int):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return saturation_mutagenesis(net, Xt[:n], batch_size=256, target=0, device="cpu", fast=fast)

    # the answers agree before anything is timed
    a = ours_ism()
    b = theirs(True, n_ism).numpy()
    scale = float(np.abs(b).max())
    ism_max_abs_diff = float(np.abs(_tangermeme_form(a, Xi) - b).max())
    assert ism_max_abs_diff <= 1e-4 * max(scale, 1e-3), (ism_max_abs_diff, scale)

    out = {"inputs": {"model": "DeepSEA default (64/128/128 conv, 128 dense), 1 output", "length": LENGTH,
                      "ism_sequences": n_ism, "naive_sequences": n_naive, "deeplift_sequences": n_dl,
                      "deeplift_references": 20, "threads": torch.get_num_threads()},
           "versions": {"cisgram": md.version("cisgram"), "tangermeme": md.version("tangermeme"),
                        "torch": torch.__version__},
           "ism_max_abs_diff": ism_max_abs_diff}
    sides = {
        "cisgram_ism": (ours_ism, n_ism, reps),
        "tangermeme_ism": (lambda: theirs(True, n_ism), n_ism, reps),
        "cisgram_ism_brute": (ours_brute, n_naive, 1),
        "tangermeme_ism_naive": (lambda: theirs(False, n_naive), n_naive, 1),
    }
    for name, (fn, n, r) in sides.items():
        m = measure(fn, repeats=r, warmup=1 if r > 1 else 0)
        out[name] = {**m, "seq_per_s": n / m["median_s"]}

    Xd = torch.from_numpy(X[:n_dl])
    refs = dinucleotide_shuffle(Xd, n=20, random_state=0)  # (N, 20, 4, L), shared by both sides

    def ours_dl():
        return deeplift(net, Xd, references=refs.numpy(), batch_size=64)

    def theirs_dl():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return deep_lift_shap(net, Xd, target=0, references=refs, batch_size=64, device="cpu")

    out["deeplift_max_abs_diff"] = float(np.abs(ours_dl() - theirs_dl().numpy()).max())
    for name, fn in (("cisgram_deeplift", ours_dl), ("tangermeme_deeplift", theirs_dl)):
        m = measure(fn, repeats=reps, warmup=1)
        out[name] = {**m, "seq_per_s": n_dl / m["median_s"]}

    per_seq = {k: out[k]["median_s"] / n for k, n in (("cisgram_ism", n_ism), ("tangermeme_ism", n_ism),
                                                       ("cisgram_ism_brute", n_naive),
                                                       ("tangermeme_ism_naive", n_naive))}
    out["ism_ratio"] = per_seq["tangermeme_ism"] / per_seq["cisgram_ism"]
    out["ism_vs_naive_ratio"] = per_seq["tangermeme_ism_naive"] / per_seq["cisgram_ism"]
    out["brute_vs_naive_ratio"] = per_seq["tangermeme_ism_naive"] / per_seq["cisgram_ism_brute"]
    out["deeplift_ratio"] = out["tangermeme_deeplift"]["median_s"] / out["cisgram_deeplift"]["median_s"]
    out["at"] = time.strftime("%Y-%m-%d %H:%M")
    emit(out)


if __name__ == "__main__":
    main()
