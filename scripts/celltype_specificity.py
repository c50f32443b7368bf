"""Cell-type specificity of multi-task models on held-out blocks (issue 22, item 7).

Does a model know *where two cell types differ*, or only where both are open? For every pair of
targets (A, B) on the test regions: the Pearson r of a model's A and B predictions (head-head r,
beside the observed A-B r), the Pearson r of (pred A - pred B) with (obs A - obs B) (Δ r), and
the same with GC regressed out of both differences (Δ r | GC, the partial correlation given the
GC fraction of each region), with paired-bootstrap 95 % intervals; plus each head's r with GC.
The numbers come from ``cisgram compare`` (``comparison.json``'s ``specificity``,
:func:`cisgram.metrics.specificity`); this script trains what is missing, puts per-target runs
together into one multi-target run, compares, and writes one table.

Models (one seed, the commands' defaults otherwise; ``-o`` holds one directory per run, a run
already finished there is read, not retrained):

- ``cnn_multi``: the DeepSEA-style multi-task CNN, ``cisgram train cnn -d D -T K562 -T GM12878
  -T MCF7 --signal access --background 0``;
- ``cnn_single``: one CNN per cell type (the same command with one ``-T``), put together;
- ``cnn_dap_A_B``: a CNN trained on the dAP directly (``-T A --vs B``);
- ``iq_multi``: IQ fused on the three targets (``cisgram train iq -T K562 -T GM12878 -T MCF7 -m MEME``);
- ``iq_dap_A_B``: IQ on the dAP (``-T A --vs B``);
- ``kmer``: the 6-mer ridge, fitted per target (``cisgram train baseline --kind kmer-ridge``),
  and ``kmer_dap_A_B`` on the dAP; ``gc``: GC + dinucleotides per target (what GC alone gives);
- ``--run NAME=DIR[,DIR...]``: any other run directories of the same dataset (e.g. the ChromBPNet
  runs mapped onto the targets by ``cisgram calibrate``): several directories of one target each
  are put together into one multi-target run; a ``--vs`` run is a dAP model.

Training runs one job at a time with ``--threads`` CPU threads (``OMP_NUM_THREADS``). dAP models
are scored against the observed A - B on their own test rows (distal regions) beside every other
model on the same rows. Writes ``<out>/compare/`` (``cisgram compare``), ``<out>/specificity.tsv``
(one row per rows set, pair and model), ``<out>/specificity_versus.tsv`` (each model's Δ r and
Δ r | GC minus ``--reference``'s, default the multi-task CNN, with paired-bootstrap intervals) and
``<out>/commands.json``; prints the tables.

    python scripts/celltype_specificity.py -d /work/runs/chr22/dataset.h5ad \\
        -m ../shared/data/motifs/JASPAR2024_CORE_vertebrates_nonredundant.meme -o /work/runs/spec --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from cisgram.files import write_json
from cisgram.workflows.compare import compare_runs

TARGETS = ["K562", "GM12878", "MCF7"]


def plan(dataset: str, motifs: str, targets: list[str], dap_pairs: list[tuple[str, str]],
         skip: set[str]) -> dict[str, list[str]]:
    """Run name -> its ``cisgram`` command (without ``-o``)."""
    cnn = ["train", "cnn", "-d", dataset, "--signal", "access", "--background", "0", "--accelerator", "cpu",
           "--device", "cpu"]
    t_all = [x for t in targets for x in ("-T", t)]
    runs = {"kmer": ["train", "baseline", "--kind", "kmer-ridge", "-d", dataset, *t_all],
            "gc": ["train", "baseline", "--kind", "gc", "-d", dataset, *t_all],
            "cnn_multi": [*cnn, *t_all],
            "iq_multi": ["train", "iq", "-d", dataset, *t_all, "-m", motifs]}
    for a, b in dap_pairs:
        runs[f"kmer_dap_{a}_{b}"] = ["train", "baseline", "--kind", "kmer-ridge", "-d", dataset, "-T", a, "--vs", b]
        runs[f"iq_dap_{a}_{b}"] = ["train", "iq", "-d", dataset, "-T", a, "--vs", b, "-m", motifs]
        runs[f"cnn_dap_{a}_{b}"] = [*cnn, "-T", a, "--vs", b]
    for t in targets:
        runs[f"cnn_{t}"] = [*cnn, "-T", t]
    return {k: v for k, v in runs.items() if not any(k.startswith(s) for s in skip)}


def train(runs: dict[str, list[str]], out: Path, threads: int) -> list[dict]:
    """Run every command whose run directory is not finished (no ``metrics.json``), one at a time."""
    env = {**os.environ, **{k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                                                        "OPENBLAS_NUM_THREADS")}}
    done = []
    before = json.loads((out / "commands.json").read_text()) if (out / "commands.json").is_file() else {}
    seconds = {c["run"]: c["seconds"] for c in before.get("commands", [])}
    for name, cmd in runs.items():
        d = out / name
        full = ["cisgram", *cmd, "-o", str(d)]
        if (d / "metrics.json").is_file():  # trained by an earlier call: its time as recorded then
            done.append({"run": name, "command": " ".join(full), "seconds": seconds.get(name), "trained": False})
            continue
        print(f"[{time.strftime('%H:%M:%S')}] {' '.join(full)}", flush=True)
        t0 = time.time()
        with open(out / f"{name}.log", "w") as log:
            subprocess.run([sys.executable, "-m", "cisgram", *cmd, "-o", str(d)], env=env, check=True, stdout=log,
                           stderr=subprocess.STDOUT)
        done.append({"run": name, "command": " ".join(full), "seconds": round(time.time() - t0, 1), "trained": True})
    return done


def combine(parts: list[Path], out: Path) -> Path:
    """One multi-target run directory from runs of one target each (same dataset and split):
    predictions and metrics side by side, ``family`` ``per-target``; ``cisgram compare`` reads it
    as any run."""
    configs = [json.loads((p / "config.json").read_text()) for p in parts]
    splits = [(p / "split.json").read_text() for p in parts]
    if len(set(splits)) != 1 or len({c.get("dataset") for c in configs}) != 1:
        raise SystemExit(f"runs {', '.join(map(str, parts))} differ in dataset or split")
    preds = pd.concat([pd.read_parquet(p / "predictions.parquet") for p in parts], ignore_index=True)
    if preds.duplicated(["region", "target"]).any():
        raise SystemExit(f"runs {', '.join(map(str, parts))} predict a target twice")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    metrics: dict = {"family": "per-target"}
    for p in parts:
        for split, per in json.loads((p / "metrics.json").read_text()).items():
            if isinstance(per, dict) and split in ("train", "val", "test"):
                metrics.setdefault(split, {}).update(per)
    write_json(out / "config.json", {"family": "per-target", "dataset": configs[0].get("dataset"),
                                     "targets": list(dict.fromkeys(preds["target"])),
                                     "parts": [str(p.resolve()) for p in parts],
                                     "part_families": [c.get("family") for c in configs]})
    (out / "split.json").write_text(splits[0])
    preds.to_parquet(out / "predictions.parquet", index=False)
    write_json(out / "metrics.json", metrics)
    return out


def copy_run(src: Path, out: Path) -> Path:
    """The files ``cisgram compare`` reads of run ``src``, copied to ``out``."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for f in ("config.json", "split.json", "metrics.json", "predictions.parquet", "history.json", "pipeline.json"):
        if (src / f).is_file():
            shutil.copy2(src / f, out / f)
    return out


def table(comparison: dict, names: dict[str, str]) -> pd.DataFrame:
    """One row per rows set, pair and model of ``comparison["specificity"]``."""
    spec = comparison["specificity"]
    rows = []
    sets = [("all test", spec["all"])] + [(f"dAP rows ({', '.join(d['runs'])})", d) for d in spec["direct"]]
    for label, res in sets:
        for pair in res["pairs"]:
            for m, v in pair["models"].items():
                gc = res["head_gc"].get(m, {})
                rows.append({"rows": label, "pair": f"{pair['a']}/{pair['b']}", "n": pair["n"],
                             "model": names.get(m, m), "kind": v["kind"], "observed_r": pair["observed_r"],
                             "head_r": v["head_r"], "difference_r": v["difference_r"],
                             "difference_r_low": v["difference_r_ci"][0], "difference_r_high": v["difference_r_ci"][1],
                             "difference_r_gc": v["difference_r_gc"], "difference_r_gc_low": v["difference_r_gc_ci"][0],
                             "difference_r_gc_high": v["difference_r_gc_ci"][1],
                             "pred_difference_gc_r": v["predicted_difference_gc_r"],
                             "obs_difference_gc_r": pair["observed_difference_gc_r"],
                             "head_gc_a": gc.get(pair["a"]), "head_gc_b": gc.get(pair["b"])})
    return pd.DataFrame(rows)


def versus(comparison: dict, names: dict[str, str], ref: str) -> pd.DataFrame:
    """Each model's Δ r and Δ r | GC minus the reference model's, with the paired-bootstrap 95 %
    interval, per rows set and pair (what measurably helps over ``ref``)."""
    spec = comparison["specificity"]
    inv = {v: k for k, v in names.items()}
    ref = inv.get(ref, ref)
    rows = []
    sets = [("all test", spec["all"])] + [(f"dAP rows ({', '.join(d['runs'])})", d) for d in spec["direct"]]
    for label, res in sets:
        for pair in res["pairs"]:
            for d in pair["differences"]:
                if ref not in (d["a"], d["b"]) or d["difference"] is None:
                    continue
                sign = 1 if d["b"] == ref else -1
                other = d["a"] if sign == 1 else d["b"]
                lo, hi = (d["low"], d["high"]) if sign == 1 else (-d["high"], -d["low"])
                rows.append({"rows": label, "pair": f"{pair['a']}/{pair['b']}", "model": names.get(other, other),
                             "metric": d["metric"], "minus": names.get(ref, ref), "difference": sign * d["difference"],
                             "low": lo, "high": hi})
    return pd.DataFrame(rows)


def markdown(df: pd.DataFrame) -> str:
    def f(v):
        return "–" if v is None or pd.isna(v) else f"{v:.3f}"

    def ci(r, k):
        return f"{f(r[k])} [{f(r[k + '_low'])}, {f(r[k + '_high'])}]"

    lines = ["| rows | pair (obs r) | model | head-head r | Δ r [95 % CI] | Δ r \\| GC [95 % CI] | r(pred Δ, GC) | heads' r with GC |",
             "|---|---|---|---|---|---|---|---|"]
    for _, r in df.iterrows():
        lines.append(f"| {r['rows']} (n {r['n']}) | {r['pair']} ({f(r['observed_r'])}) | {r['model']} | {f(r['head_r'])} | "
                     f"{ci(r, 'difference_r')} | {ci(r, 'difference_r_gc')} | {f(r['pred_difference_gc_r'])} | "
                     f"{f(r['head_gc_a'])} / {f(r['head_gc_b'])} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-d", "--dataset", default="/work/runs/chr22/dataset.h5ad")
    ap.add_argument("-m", "--motifs", default="/work/shared/data/motifs/JASPAR2024_CORE_vertebrates_nonredundant.meme")
    ap.add_argument("-o", "--out", default="/work/runs/spec", type=Path)
    ap.add_argument("-T", "--target", action="append", help="targets (default K562, GM12878, MCF7)")
    ap.add_argument("--dap", action="append", default=[], metavar="A:B",
                    help="dAP models for the pair A - B (default K562:GM12878); repeat for more pairs")
    ap.add_argument("--run", action="append", default=[], metavar="NAME=DIR[,DIR...]",
                    help="extra run directories (several of one target each are put together)")
    ap.add_argument("--skip", action="append", default=[], help="leave out planned runs whose name starts with this")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reference", default="cnn_multi", help="model every other is compared with")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    targets = args.target or TARGETS
    dap_pairs = [tuple(p.split(":")) for p in (args.dap or ["K562:GM12878"])]
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    runs = plan(str(args.dataset), str(args.motifs), targets, dap_pairs, set(args.skip))
    commands = train(runs, out, args.threads)
    dirs = {n: out / n for n in runs if not n.startswith("cnn_") or n == "cnn_multi" or n.startswith("cnn_dap")}
    singles = [out / f"cnn_{t}" for t in targets if f"cnn_{t}" in runs]
    if singles:
        dirs["cnn_single"] = combine(singles, out / "cnn_single")
    for spec in args.run:  # copied under their NAME: compare names a run by its directory
        name, _, paths = spec.partition("=")
        parts = [Path(p) for p in paths.split(",") if p]
        dirs[name] = copy_run(parts[0], out / "extra" / name) if len(parts) == 1 else combine(parts, out / "extra" / name)
    names = {}
    for name, d in dirs.items():  # the table uses the names above
        names[d.resolve().name] = name
    result = compare_runs(list(dirs.values()), out / "compare", n_boot=args.n_boot, seed=args.seed, progress=print)
    from cisgram.report.compare import compare_report

    compare_report(result.path / "report.html", result)
    df = table(result.comparison, names)
    df.to_csv(out / "specificity.tsv", sep="\t", index=False, float_format="%.6g")
    vs = versus(result.comparison, names, args.reference)
    vs.to_csv(out / "specificity_versus.tsv", sep="\t", index=False, float_format="%.6g")
    write_json(out / "commands.json", {"commands": commands, "n_boot": args.n_boot, "seed": args.seed,
                                       "threads": args.threads, "argv": sys.argv})
    test = result.comparison["metrics"]["test"]
    print("\ntest Pearson r per target:")
    for t, per in test.items():
        print(f"  {t}: " + ", ".join(f"{names.get(m, m)} {v['pearson']:.3f}" for m, v in per.items()))
    print()
    print(markdown(df))
    print(f"\nminus {args.reference} (paired bootstrap 95 % interval):")
    for _, r in vs.iterrows():
        print(f"  {r['rows']} {r['pair']} {r['metric']}: {r['model']} {r['difference']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]")


if __name__ == "__main__":
    main()
