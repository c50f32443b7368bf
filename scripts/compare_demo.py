"""Compare the numbers of two ``cisgram demo`` output directories (a behaviour check for refactors).

Every ``metrics.json`` under ``runs/`` and ``compare/comparison.json`` are read from both
directories and every number is compared; run-time figures (``seconds``, ``train_seconds``) and
paths are left out. Prints one line per file and the largest differences, then a JSON summary as
its last line; exits 1 when any number differs by more than ``--tol`` (absolute) or a key is
missing on one side.

    python scripts/compare_demo.py BEFORE_DIR AFTER_DIR [--tol 0]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

SKIP = {"seconds", "train_seconds", "path", "dataset", "best_val_loss_seconds"}


def numbers(obj, prefix: str = "") -> dict[str, float | str | None]:
    """Flatten a JSON object to ``{dotted key: leaf}``, leaving out run-time and path keys."""
    out: dict = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in SKIP:
                continue
            out.update(numbers(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(numbers(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = obj
    return out


def compare(a: Path, b: Path, tol: float) -> dict:
    files = sorted({p.relative_to(a) for p in a.glob("runs/*/metrics.json")} | {Path("compare/comparison.json")})
    report = {"files": {}, "n_values": 0, "n_differ": 0, "max_abs_diff": 0.0, "missing": []}
    for rel in files:
        pa, pb = a / rel, b / rel
        if not pa.is_file() or not pb.is_file():
            report["missing"].append(str(rel))
            continue
        na, nb = numbers(json.loads(pa.read_text())), numbers(json.loads(pb.read_text()))
        keys = set(na) | set(nb)
        differ, worst = [], 0.0
        for k in sorted(keys):
            va, vb = na.get(k, "<missing>"), nb.get(k, "<missing>")
            if isinstance(va, int | float) and isinstance(vb, int | float) and not isinstance(va, bool):
                both_nan = isinstance(va, float) and isinstance(vb, float) and math.isnan(va) and math.isnan(vb)
                d = 0.0 if both_nan else abs(float(va) - float(vb))
                worst = max(worst, d)
                if d > tol:
                    differ.append((k, va, vb))
            elif va != vb:
                differ.append((k, va, vb))
        report["files"][str(rel)] = {"values": len(keys), "differ": len(differ), "max_abs_diff": worst,
                                     "examples": [list(map(str, x)) for x in differ[:5]]}
        report["n_values"] += len(keys)
        report["n_differ"] += len(differ)
        report["max_abs_diff"] = max(report["max_abs_diff"], worst)
        print(f"{rel}: {len(keys)} values, {len(differ)} differ (largest |difference| {worst:.3g})")
        for k, va, vb in differ[:5]:
            print(f"    {k}: {va} -> {vb}")
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--tol", type=float, default=0.0, help="largest absolute difference taken as equal")
    a = ap.parse_args()
    report = compare(a.before, a.after, a.tol)
    print(json.dumps(report))
    return 1 if report["n_differ"] or report["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
