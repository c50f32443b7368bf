"""The reference and alternative windows of variants (:func:`variant_windows`), each centred on the
variant, of the width a sequence model reads; see :mod:`cisgram.workflows.variants` for the rule
and its pitfalls (indels shift the flanks, windows past a chromosome end are padded with N)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.genome import open_genome


def _slice(codes: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``codes[lo:hi]`` with N (4) where the slice hangs over either end."""
    out = np.full(hi - lo, 4, np.uint8)
    a, b = max(lo, 0), min(hi, codes.size)
    if a < b:
        out[a - lo: b - lo] = codes[a:b]
    return out


@dataclass
class Windows:
    """The model inputs of a variant table: ``ref`` and ``alt`` ``(N, L)`` uint8 codes (A C G T N =
    0..4), ``padded`` ``(N,)`` True where either window hangs over a chromosome end (N-padded),
    and ``ref_start`` ``(N,)``: where the REF span starts inside the reference window."""

    ref: np.ndarray
    alt: np.ndarray
    padded: np.ndarray
    ref_start: np.ndarray


def variant_windows(table: pd.DataFrame, genome, length: int) -> Windows:
    """Reference and alternative windows of ``length`` bp centred on each variant (see the module
    docstring for the construction). ``table`` has ``chrom``, ``pos`` (1-based), ``ref``, ``alt``,
    as from :func:`read_vcf`; alleles longer than ``length`` raise :class:`InputError`."""
    from cisgram.genome import encode

    g = open_genome(genome)
    n, L = len(table), int(length)
    ref_w = np.empty((n, L), np.uint8)
    alt_w = np.empty((n, L), np.uint8)
    padded = np.zeros(n, bool)
    starts = np.zeros(n, np.int64)
    chroms = table["chrom"].to_numpy(dtype=object)
    pos = table["pos"].to_numpy(dtype=np.int64)
    refs = table["ref"].to_numpy(dtype=object)
    alts = table["alt"].to_numpy(dtype=object)
    for chrom in dict.fromkeys(chroms):
        codes = g.chromosome_codes(chrom)
        for i in np.flatnonzero(chroms == chrom):
            s = int(pos[i]) - 1
            r, a = len(refs[i]), len(alts[i])
            if r > L or a > L:
                raise InputError(f"variant {chrom}:{pos[i]} has an allele longer than the {L} bp window")
            e = s + r
            lf, rf = (L - r) // 2, L - r - (L - r) // 2
            ref_w[i] = _slice(codes, s - lf, e + rf)
            la, ra = (L - a) // 2, L - a - (L - a) // 2
            alt_w[i, :la] = _slice(codes, s - la, s)
            alt_w[i, la: la + a] = encode(alts[i])
            alt_w[i, la + a:] = _slice(codes, e, e + ra)
            padded[i] = min(s - lf, s - la) < 0 or max(e + rf, e + ra) > codes.size
            starts[i] = lf
    return Windows(ref_w, alt_w, padded, starts)
