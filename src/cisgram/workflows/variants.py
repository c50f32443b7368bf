"""Variant effects: reference and alternative predictions of a trained sequence model
(``cisgram variants``), and saturation mutagenesis of a region.

:func:`cisgram.vcf.read_vcf` reads the variants (plain or gzip/bgzip VCF; CHROM POS ID REF ALT, a
multi-allelic ALT split into one row per allele), keeping SNVs, MNVs and short indels of
sequence-resolved alleles (A/C/G/T, at most ``max_indel`` bp). With a genome it also checks the
chromosome, the position and the REF allele against it. A bad record never stops the reading: it
becomes a :class:`~cisgram.vcf.Problem` (1-based line number, reason) and every good record is kept.

:func:`score_variants` builds, for every variant, the reference window of the model's width ``L``
centred on the REF span and the alternative window centred on the ALT allele, and predicts both
in batches: ``delta = alt − ref`` per target. :func:`cisgram.data.variants.variant_windows` is that
construction alone. :func:`saturate` scores every single-base substitution of a region (3 per
position) inside one model window centred on the region; :mod:`cisgram.report.variants` draws the map.

Windows (0-based, half-open; REF span ``[s, e)`` with ``r = e − s`` bases, ALT of ``a`` bases)::

    ref window  genome[s − ⌊(L−r)/2⌋, e + ⌈(L−r)/2⌉)                                     (L bp)
    alt window  genome[s − ⌊(L−a)/2⌋, s) + ALT + genome[e, e + ⌈(L−a)/2⌉)                (L bp)

so an SNV or MNV only swaps bases, a deletion pulls in ``r − a`` more flanking bases (split between the two
sides) and an insertion drops ``a − r`` of them, and both windows stay centred on the variant.

Supported: IQ, CNN and ChromBPNet runs (ChromBPNet's log-count change and profile JSD, bias-free by default:
:mod:`cisgram.workflows.variants_bpnet`), whose input width is fixed, GET runs (:func:`score_variants_get`: regions
re-scanned, gene windows predicted again) and tfbind runs (:mod:`cisgram.workflows.variants_tfbind`).

Pitfalls
--------
- REF must match the genome: a mismatch (reported per line, not scored) nearly always means the VCF was made for
  another assembly. Chromosome names must match too (``22`` vs ``chr22``); when none does the reading stops with
  the fix.
- Indels move the flanks: every base on each side shifts by about half the length difference, so an indel's delta
  includes the effect of that shift (small for a model that only looks near the centre). Normalise indels first
  (``bcftools norm -f genome.fa``): two spellings of one indel in a repeat are centred differently and score
  slightly differently.
- Windows hanging over a chromosome's end are padded with N (code 4, one-hot all zeros); such variants are flagged
  in the ``padded`` column and counted in the log.
- CNN predictions average the sequence and its reverse complement (as in training); the optional attribution
  explains the forward strand's raw output (standardised value or logit), so its scale is not that of the delta.
- A model can be blind to a whole window (a DeepSEA with every dense ReLU off there outputs one constant), so its
  variants score Δ = 0: those with Δ exactly 0 are tested (:func:`unresponsive_windows`) and the blind ones
  flagged ``unresponsive``. A variant in a training region was scored by a model that saw its sequence: see the
  ``split`` column.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.data.get import STRANDS
from cisgram.data.get_windows import tss_windows
from cisgram.data.variants import Windows, model_windows, training_regions, variant_splits, variant_windows
from cisgram.errors import InputError
from cisgram.files import atomic_write
from cisgram.genome import check_chromosomes, encode, open_genome
from cisgram.inference import predict
from cisgram.interpret.attribution import FLAT_TOLERANCE, input_x_gradient, position_scores, unresponsive
from cisgram.intervals import parse_region
from cisgram.motifs.features import region_features
from cisgram.motifs.pwm import load_motifs
from cisgram.results import SaturationResult, VariantScores
from cisgram.vcf import CHUNK as VCF_CHUNK
from cisgram.vcf import COLUMNS, Problem, iter_vcf, read_vcf, report_problems
from cisgram.workflows import variants_bpnet as bpnet
from cisgram.workflows import variants_tfbind as tfbind
from cisgram.workflows.rundir import GETRun, Run, load

log = logging.getLogger(__name__)

SUPPORTED = ("iq", "cnn", "chrombpnet")  # sequence models; GET runs go through score_variants_get
N_PROBES = 8  # evenly spaced positions the ISM-row test edits besides the variant's own


# ---------------------------------------------------------------- scoring


def _check_family(family) -> None:
    if family not in SUPPORTED:
        raise InputError(f"variant scoring does not support {family!r} runs yet",
                         hint=f"use a run of family {' or '.join(SUPPORTED)} (cisgram train iq|cnn|chrombpnet); "
                              "GET and baseline runs are not scored")


def _family_of(run) -> str | None:
    if isinstance(run, Run):
        return run.family
    cfg = Path(run) / "config.json"
    try:
        return json.loads(cfg.read_text()).get("family") if cfg.is_file() else None
    except (OSError, ValueError):
        return None


def _open_run(run) -> Run:
    """A :class:`~cisgram.workflows.rundir.Run` of a supported family from a Run or a run directory."""
    if isinstance(run, Run):
        _check_family(run.family)
        return run
    cfg = Path(run) / "config.json"
    if cfg.is_file():  # name the family before load() gives up on one it does not know
        try:
            family = json.loads(cfg.read_text()).get("family")
        except (OSError, ValueError) as e:
            raise InputError(f"unreadable config.json ({e})", path=cfg) from None
        _check_family(family)
    opened = load(run)
    _check_family(opened.family)
    return opened


def _write_tsv(df: pd.DataFrame, path: Path) -> None:
    with atomic_write(path) as fh:
        df.to_csv(fh, sep="\t", index=False)


def score_variants(run, vcf: str | os.PathLike, out: str | os.PathLike, *, window: int | None = None, genome=None,
                   batch_size: int = 512, attribution: bool = False, max_indel: int = 50,
                   device: str = "cpu", part: str | None = None) -> pd.DataFrame:
    """Score every variant of ``vcf`` with a trained IQ, CNN or ChromBPNet model and return the table.

    Parameters
    ----------
    run
        A :class:`~cisgram.workflows.rundir.Run` or a run directory of family ``iq``, ``cnn`` or ``chrombpnet``; a ``get``
        run goes to :func:`score_variants_get` (its own columns); others raise :class:`InputError`.
    vcf
        The variants (:func:`read_vcf`).
    out
        The table, written atomically as TSV. The records left out are listed in
        :func:`~cisgram.vcf.problems_path` ``(out)`` (columns ``line``, ``reason``); when there are none that file
        is not written (and one left by an earlier run is removed).
    window
        Input width; IQ and CNN models read a fixed width ``L``, so anything but ``L`` raises.
    genome
        Genome path or :class:`~cisgram.genome.Genome`; default the run's training genome.
    batch_size
        Variants per batch (each gives two sequences).
    attribution
        CNN and ChromBPNet runs: add ``attribution:<t>`` per target, the input × gradient of the
        forward strand's raw output (ChromBPNet: log count) summed over the REF bases in the
        reference window (:func:`cisgram.interpret.attribution.input_x_gradient`).
    max_indel
        Longest REF or ALT allele scored, in bp.
    device
        Where a CNN runs (``"cpu"``, ``"cuda"``, ``"auto"``).
    part
        ChromBPNet runs: ``"bias_free"`` (default, the accessibility model alone) or ``"full"``.

    Returns
    -------
    pd.DataFrame
        One row per scored (record, allele): ``line, chrom, pos, id, ref, alt, kind, padded``,
        ``split`` (of the run's region holding the variant: ``train``, ``val``, ``test``, ``gap``,
        ``none`` or ``unknown``; :func:`cisgram.data.variants.variant_splits`), ``unresponsive``
        (True where the model's output does not respond to the reference window at all for some
        target, so its Δ of 0 says nothing; :func:`unresponsive_windows`), then per target
        ``ref:<t>``, ``alt:<t>``, ``delta:<t>`` (alt − ref), with several targets
        ``unresponsive:<t>`` per target, then the attributions.
        :func:`write_variant_scores` writes the same file without holding the table (genome-wide VCFs).
    """
    if _family_of(run) == "get" and part is None:
        return score_variants_get(run, vcf, out, genome=genome, max_indel=max_indel, batch_size=min(batch_size, 64),
                                  device=device)
    pieces: list[pd.DataFrame] = []
    write_variant_scores(run, vcf, out, window=window, genome=genome, batch_size=batch_size, attribution=attribution,
                         max_indel=max_indel, device=device, keep=pieces, part=part)
    return pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0]


def write_variant_scores(run, vcf: str | os.PathLike, out: str | os.PathLike, *, window: int | None = None,
                         genome=None, batch_size: int = 512, attribution: bool = False, max_indel: int = 50,
                         device: str = "cpu", chunk: int = VCF_CHUNK, keep: list | None = None,
                         part: str | None = None) -> VariantScores:
    """:func:`score_variants` in bounded memory: the VCF is read ``chunk`` records at a time
    (:func:`~cisgram.vcf.iter_vcf`), each piece scored in batches and appended to ``out`` (a temporary file renamed
    into place at the end, so a failed run leaves nothing). Returns a :class:`~cisgram.results.VariantScores`: the
    rows written, how many are unresponsive, in training regions and padded; with ``keep`` (a list) each scored
    piece is also appended to it. A ``get`` run is scored by :func:`score_variants_get`, which holds its table,
    a ``tfbind`` one by :func:`~cisgram.workflows.variants_tfbind.score_tfbind_variants` (its own columns)."""
    bpnet.check_part(_family_of(run), part, getattr(run, "path", run))
    if _family_of(run) == "tfbind":
        return tfbind.as_variant_scores(run, vcf, out, genome, batch_size, device, keep, window, attribution)
    if _family_of(run) == "get":
        return VariantScores(Path(out), len(score_variants_get(run, vcf, out, genome=genome, max_indel=max_indel,
                                                               batch_size=min(batch_size, 64), device=device)))
    run = bpnet.with_part(_open_run(run), part)
    L = int(run.length)
    if window is not None and int(window) != L:
        raise InputError(f"the {run.family} model reads {L} bp windows; --window {window} cannot change that",
                         hint=f"leave the window out or pass {L}")
    if attribution and run.family not in ("cnn", "chrombpnet"):
        raise InputError(f"attribution needs a CNN run or a ChromBPNet one, not a {run.family!r} one", hint="leave attribution off")
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    g = run.genome(genome)
    windows, scorer = (bpnet.run_windows(run), bpnet.score_piece) if run.family == "chrombpnet" else (_run_windows(run), _score_piece)
    problems: list[Problem] = []
    n_rows = n_padded = n_flat = n_train = 0
    with atomic_write(Path(out)) as fh:
        for table, probs in iter_vcf(vcf, g, max_indel=max_indel, chunk=chunk):
            problems.extend(probs)
            too_long = (table["ref"].str.len() > L) | (table["alt"].str.len() > L)
            for line, c, p in table.loc[too_long, ["line", "chrom", "pos"]].itertuples(index=False):
                problems.append(Problem(int(line), f"{c}:{p}: an allele is longer than the model's {L} bp window"))
            table = table[~too_long].reset_index(drop=True)
            if table.empty:
                continue
            res = scorer(run, g, table, L, batch_size, attribution, device, windows)
            res.to_csv(fh, sep="\t", index=False, header=n_rows == 0)
            n_rows += len(res)
            n_padded += int(res["padded"].sum())
            n_flat += int(res["unresponsive"].sum())
            n_train += int((res["split"] == "train").sum())
            if keep is not None:
                keep.append(res)
            log.info("scored %d variant allele(s)", n_rows)
        report_problems(problems, n_rows, vcf, out)  # raises inside the block: no scores file then
    if n_padded:
        log.warning("%d variant window(s) run past a chromosome end and were padded with N", n_padded)
    if n_flat:
        log.warning("%d of %d windows do not respond to their input: their Δ is 0 because the model cannot see "
                    "them, not because the variant is neutral (column 'unresponsive')", n_flat, n_rows)
    if n_train:
        log.info("%d of %d variants lie in training regions of the run's split: the model saw their reference "
                 "sequence in training (column 'split')", n_train, n_rows)
    return VariantScores(Path(out), n_rows, n_flat, None if windows is None else n_train, n_padded)


def _run_windows(run) -> pd.DataFrame | None:
    """The windows the run's model read in fitting, validation and test (``chrom, start, end, split``;
    :func:`~cisgram.data.variants.training_regions` widened to the model's width and ``±jitter`` by
    :func:`~cisgram.data.variants.model_windows`), or None where the run names no dataset (a model fitted
    without one) or its dataset is gone or unreadable: the split is then unknown."""
    dataset = run.config.get("dataset")
    if not dataset:
        log.info("the run names no dataset: the variants' split is 'unknown'")
        return None
    if not Path(dataset).is_file():
        log.warning("the run's dataset %s is not there: the variants' split is 'unknown'", dataset)
        return None
    preds = Path(run.path) / "predictions.parquet"
    with_bg = float(run.config.get("background") or 0) > 0 and preds.is_file()
    try:
        regions = training_regions(dataset, preds if with_bg else None)
    except InputError as e:
        log.warning("%s: the variants' split is 'unknown'", e)
        return None
    return model_windows(regions, int(run.length), jitter=int(run.config.get("jitter") or 0))


def unresponsive_windows(run, codes: np.ndarray, at, *, check: np.ndarray | None = None, batch_size: int = 512,
                         device: str = "cpu") -> np.ndarray:
    """``(N, T)``: True where target ``t``'s prediction does not respond to window ``i`` at all.

    CNN runs: the gradient test, both strands (a prediction averages them): every
    ``|df/dx|`` of the raw output is at most :data:`~cisgram.interpret.attribution.FLAT_TOLERANCE`
    (:func:`cisgram.interpret.attribution.unresponsive`, one batched backward pass per strand).
    IQ runs, which have no gradients: the ISM-row test, every other base at position ``at[i]``
    (the variant) and at :data:`N_PROBES` evenly spaced positions, each alone, predicts exactly
    the window's own value (:meth:`~cisgram.workflows.rundir.Run.score_edits`). ``check``
    ``(N, T)`` restricts the work to the entries asked (the others are False); ``codes`` are
    ``(N, L)`` base codes. ChromBPNet: :func:`~cisgram.workflows.variants_bpnet.unresponsive_counts`."""
    codes = np.asarray(codes, dtype=np.uint8)
    if run.family == "chrombpnet":
        return bpnet.unresponsive_counts(run, codes, check, batch_size=batch_size, device=device)
    n, T = len(codes), len(run.targets)
    check = np.ones((n, T), bool) if check is None else np.asarray(check, bool)
    out = np.zeros((n, T), bool)
    if run.family == "cnn":
        for t in range(T):
            rows = np.flatnonzero(check[:, t])
            if rows.size:
                out[rows, t] = unresponsive(run.model, codes[rows], target=t, batch_size=batch_size, device=device,
                                            both_strands=True, tol=FLAT_TOLERANCE)
        return out
    rows = np.flatnonzero(check.any(1))
    if rows.size == 0:
        return out
    L = codes.shape[1]
    probes = [(2 * k + 1) * L // (2 * N_PROBES) for k in range(N_PROBES)]
    at = np.asarray(at, dtype=np.int64)
    edits = [(k, p, b) for k, i in enumerate(rows) for p in dict.fromkeys([int(at[i]), *probes])
             for b in "ACGT" if b != "ACGTN"[codes[i, p]]]
    scored = run.score_edits(codes[rows], edits)
    for t, name in enumerate(run.targets):
        moved = np.zeros(rows.size, bool)
        np.logical_or.at(moved, scored["row"].to_numpy(), scored[f"delta:{name}"].to_numpy() != 0)
        out[rows, t] = ~moved & check[rows, t]
    return out


def _score_piece(run, g, table: pd.DataFrame, L: int, batch_size: int, attribution: bool,
                 device: str, windows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Scores of one piece of the VCF: ``table`` with ``padded``, ``split``, ``unresponsive`` and
    the per-target columns."""
    n, T = len(table), len(run.targets)
    ref_p, alt_p = np.empty((n, T)), np.empty((n, T))
    flat = np.zeros((n, T), bool)
    attr = np.empty((n, T)) if attribution else None
    padded = np.zeros(n, bool)
    for lo in range(0, n, batch_size):
        part = table.iloc[lo: lo + batch_size]
        w = variant_windows(part, g, L)
        hi = lo + len(part)
        both = run.predict_codes(np.concatenate([w.ref, w.alt]), batch_size=batch_size, device=device)
        ref_p[lo:hi], alt_p[lo:hi] = both[: len(part)], both[len(part):]
        padded[lo:hi] = w.padded
        # a non-zero delta already shows the output responds: only exact zeros are tested
        flat[lo:hi] = unresponsive_windows(run, w.ref, w.ref_start, check=ref_p[lo:hi] == alt_p[lo:hi],
                                           batch_size=batch_size, device=device)
        if attr is not None:
            attr[lo:hi] = _span_attribution(run, w, part["ref"].str.len().to_numpy(), batch_size, device)
    res = table.copy()
    res["padded"] = padded
    res["split"] = variant_splits(table, windows)
    res["unresponsive"] = flat.any(1)
    for t, name in enumerate(run.targets):
        res[f"ref:{name}"], res[f"alt:{name}"], res[f"delta:{name}"] = ref_p[:, t], alt_p[:, t], alt_p[:, t] - ref_p[:, t]
    if T > 1:
        for t, name in enumerate(run.targets):
            res[f"unresponsive:{name}"] = flat[:, t]
    if attr is not None:
        for t, name in enumerate(run.targets):
            res[f"attribution:{name}"] = attr[:, t]
    return res


def _span_attribution(run, w: Windows, ref_len: np.ndarray, batch_size: int, device: str) -> np.ndarray:
    """``(N, T)``: input × gradient of each target summed over each variant's REF bases."""

    L = w.ref.shape[1]
    cols = np.arange(L)
    mask = (cols >= w.ref_start[:, None]) & (cols < (w.ref_start + ref_len)[:, None])
    out = np.empty((len(w.ref), len(run.targets)))
    for t in range(len(run.targets)):
        a = input_x_gradient(run.model, w.ref, target=t, batch_size=batch_size, device=device)
        out[:, t] = (position_scores(a, w.ref) * mask).sum(1)
    return out


# ---------------------------------------------------------------- saturation mutagenesis


def saturation_matrix(table: pd.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray]:
    """``(4, n)`` deltas of ``target`` (rows A, C, G, T; the reference base 0) and the ``(n,)``
    reference codes (A C G T N = 0..4) of a :func:`saturate` table."""
    positions = np.unique(table["pos"].to_numpy())
    col = np.searchsorted(positions, table["pos"].to_numpy())
    mat = np.zeros((4, positions.size))
    mat[table["alt"].map("ACGT".index).to_numpy(), col] = table[f"delta:{target}"].to_numpy()
    ref = np.full(positions.size, 4, np.uint8)
    ref[col] = table["ref"].map(lambda b: "ACGTN".index(b)).to_numpy()
    return mat, ref


def saturate(run, region, out_dir: str | os.PathLike, *, genome=None, target: str | None = None,
             part: str | None = None) -> SaturationResult:
    """Every single-base substitution of ``region`` (3 per position; 4 where the genome has N),
    scored inside one model window of ``L`` bp centred on the region (``Run.score_edits``).

    Parameters
    ----------
    run
        A :class:`~cisgram.workflows.rundir.Run` or run directory of family ``iq``, ``cnn`` or ``chrombpnet``.
    region
        ``"chr22:1000-1500"`` or ``(chrom, start, end)``, 0-based half-open, at most ``L`` bp.
    out_dir
        Receives ``saturation.tsv`` (``chrom, pos`` 1-based, ``ref, alt``, ``delta:<t>`` per
        target); :func:`cisgram.report.variants.saturation_report` adds the map of ``target``
        (``saturation.png``) and ``report.html``.
    target, part
        The target of the map (default the first; the table holds them all); ChromBPNet's part, as in :func:`score_variants`.

    Returns a :class:`~cisgram.results.SaturationResult`: the table and the ``(4, n)`` map of
    ``target`` (rows A, C, G, T, one column per position; the reference base's delta is 0), and
    in ``unresponsive`` the targets whose every delta is 0 because their output does not respond
    to the window at all (:func:`unresponsive_windows`; logged as a warning).
    """
    run = bpnet.with_part(_open_run(run), part)
    L = int(run.length)
    chrom, start, end = parse_region(region)
    target = target or run.targets[0]
    if target not in run.targets:
        raise InputError(f"target {target!r} is not one of the run's: {', '.join(run.targets)}")
    n = end - start
    if n > L:
        raise InputError(f"region {chrom}:{start}-{end} is {n} bp, longer than the model's {L} bp window",
                         hint=f"ask for a region of at most {L} bp (split a longer one)")
    g = run.genome(genome)
    check_chromosomes([chrom], g.sizes, path=None, against=f"the genome {g.path.name}")
    if end > g.sizes[chrom]:
        raise InputError(f"region {chrom}:{start}-{end} runs past the end of {chrom} ({g.sizes[chrom]:,} bp)")
    ws = start - (L - n) // 2
    codes = g.fetch_codes_batch([chrom], [ws], [ws + L], pad=True)
    if ws < 0 or ws + L > g.sizes[chrom]:
        log.warning("the window %s:%d-%d runs past a chromosome end and is padded with N", chrom, ws, ws + L)
    off = start - ws
    edits = [(0, off + i, b) for i in range(n) for b in "ACGT" if b != "ACGTN"[codes[0, off + i]]]
    scored = run.score_edits(codes, edits)
    pos0 = scored["position"].to_numpy() - off + start  # 0-based genome position
    table = pd.DataFrame({"chrom": chrom, "pos": pos0 + 1,
                          "ref": ["ACGTN"[c] for c in codes[0, scored["position"].to_numpy()]],
                          "alt": scored["base"].to_numpy()})
    for name in run.targets:
        table[f"delta:{name}"] = scored[f"delta:{name}"].to_numpy()
    zero = np.array([[bool((table[f"delta:{name}"] == 0).all()) for name in run.targets]])
    flat = unresponsive_windows(run, codes, [off + n // 2], check=zero)[0]
    silent = [name for name, f in zip(run.targets, flat, strict=True) if f]
    if silent:
        log.warning("the window %s:%d-%d does not respond to its input for %s: every Δ is 0 because the model cannot "
                    "see it, not because the bases are neutral", chrom, ws, ws + L, ", ".join(silent))
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    _write_tsv(table, d / "saturation.tsv")
    mat, ref = saturation_matrix(table, target)
    return SaturationResult(d, table, mat, ref, chrom, start, end, target, run.family, str(run.path), L, silent)


GET_COLUMNS = ["region", "gene", "tss_region", "strand", "distance", "ref:expression", "alt:expression",
               "delta:expression", "motifs_changed", "top_motif", "top_motif_delta"]


def _overlapping_region(regions: pd.DataFrame, chrom: str, start: int, end: int) -> tuple[int | None, str | None]:
    """The row of the region holding ``[start, end)`` wholly, or ``(None, why not)``."""
    on = np.flatnonzero((regions["chrom"].to_numpy(dtype=str) == chrom) & (regions["start"].to_numpy() < max(end, start + 1))
                        & (regions["end"].to_numpy() > start))
    if on.size == 0:
        return None, "not in any region of the data (GET reads only the regions' motif features)"
    for r in on:
        if regions["start"].iat[r] <= start and end <= regions["end"].iat[r]:
            return int(r), None
    return None, f"crosses the edge of region {regions['name'].iat[int(on[0])]}"


def score_variants_get(run, vcf: str | os.PathLike, out: str | os.PathLike, *, data=None, cell: str | None = None,
                       genome=None, max_indel: int = 50, batch_size: int = 64, device: str = "cpu") -> pd.DataFrame:
    """Score variants with a GET run by re-scanning the motifs of the region each one falls in.

    For each variant inside a region of the run's region-motif data, the region's sequence is
    scanned with and without the variant (the data's motif file and p-value threshold, GET's
    ``hit_score_sum``, clipped at 0 and divided by the training maxima as in the data); every TSS
    window of the run's ``n_regions`` holding that region is predicted with the region's motif
    features as they are and as changed, and ``delta:expression`` (alt − ref) is read at the
    gene's region and strand. The accessibility column is left as measured (a variant's effect
    on accessibility is not modelled). One row per (variant allele, gene window); a variant
    whose region lies in no gene's window keeps one row with an empty ``gene`` and no
    prediction. Variants outside every region, or across a region's edge, are listed as
    problems with their line numbers, like bad records.

    ``data`` defaults to the run's region-motif file, ``cell`` to its held-out cell type (its
    LoRA adapter is used when the run trained one for it), ``genome`` to the data's genome.
    Data built with motif clusters cannot be re-scanned (the clusters are not recorded).
    """
    opened = run if isinstance(run, GETRun) else load(run, family="get")
    rmd, cell, model, _adapted = opened.select(data=data, cell=cell)
    motif_path = rmd.params.get("motifs")
    if not motif_path or not Path(str(motif_path)).exists():
        raise InputError(f"the data's motif file {motif_path!r} is not there, so regions cannot be re-scanned",
                         hint="run from the directory the data were made in")
    motifs = load_motifs(str(motif_path))
    if tuple(m.name for m in motifs) != tuple(rmd.motif_names):
        raise InputError("the data's motif columns are not the motif file's motifs (clusters, or another file)",
                         hint="GET variant scoring re-scans single motifs; make the data without clusters")
    g = open_genome(genome or rmd.params.get("inputs", {}).get("genome"))
    if g is None:
        raise InputError("no genome: the data do not name one", hint="pass genome")
    table, problems = read_vcf(vcf, g, max_indel=max_indel)
    rows = []
    for line, chrom, pos, ref in table[["line", "chrom", "pos", "ref"]].itertuples(index=False):
        r, why = _overlapping_region(rmd.regions, str(chrom), int(pos) - 1, int(pos) - 1 + len(ref))
        if r is None:
            problems.append(Problem(int(line), f"{chrom}:{pos}: {why}"))
        rows.append(r)
    table = table[np.array([r is not None for r in rows], dtype=bool)].reset_index(drop=True)
    vrow = np.array([r for r in rows if r is not None], dtype=np.int64)
    report_problems(problems, len(table), vcf, out)
    delta_feat = motif_feature_deltas(g, rmd, motifs, table, vrow)
    R = int(opened.config["n_regions"])
    windows = tss_windows(rmd, [cell], n_regions=R, require_targets=False)
    firsts = np.array([windows.window(i)[1] for i in range(len(windows))], dtype=np.int64)
    focus = np.array([windows.window(i)[2] for i in range(len(windows))], dtype=np.int64)
    jobs = [(k, int(w), s_) for k, r in enumerate(vrow) for w in np.flatnonzero((firsts <= r) & (r < firsts + R))
            for s_ in (0, 1) if rmd.has_tss[firsts[w] + focus[w], s_]]  # (variant, window, strand)
    preds = _predict_jobs(model, rmd, rmd.cell_index(cell), jobs, vrow, delta_feat, firsts, focus, R,
                          batch_size=batch_size, device=device)
    res = _get_table(rmd, table, vrow, jobs, preds, delta_feat, firsts, focus)
    _write_tsv(res, Path(out))
    return res


def motif_feature_deltas(g, rmd, motifs, table: pd.DataFrame, vrow: np.ndarray) -> np.ndarray:
    """``(V, M)`` change of each motif feature (hit-score sums clipped at 0, divided by the
    training maxima) when each variant's region is re-scanned with the alternative allele."""
    regions = rmd.regions
    seqs, owners = [], []
    for k, (chrom, pos, ref, alt) in enumerate(table[["chrom", "pos", "ref", "alt"]].itertuples(index=False)):
        r = int(vrow[k])
        lo, hi = int(regions["start"].iat[r]), int(regions["end"].iat[r])
        refc = g.fetch_codes(str(chrom), lo, hi)
        off = int(pos) - 1 - lo
        altc = np.concatenate([refc[:off], encode(alt), refc[off + len(ref):]]).astype(np.uint8)
        seqs += [refc, altc]
        owners += [(k, 0), (k, 1)]
    raw = np.zeros((len(table), 2, len(motifs)))
    by_len: dict[int, list[int]] = {}
    for j, sq in enumerate(seqs):
        by_len.setdefault(len(sq), []).append(j)
    for idx in by_len.values():
        res = region_features(np.stack([seqs[j] for j in idx]), motifs, ("hit_score_sum",),
                              threshold=float(rmd.params.get("threshold", 1e-4)))
        for j, v in zip(idx, res.features["hit_score_sum"], strict=True):
            k, a = owners[j]
            raw[k, a] = np.maximum(v, 0.0)
    stored = rmd.motif_scores[vrow].astype(np.float64)
    if not np.allclose(raw[:, 0], stored, rtol=1e-4, atol=1e-3):
        log.warning("re-scanned reference regions differ from the stored features (another genome or threshold?)")
    return (raw[:, 1] - raw[:, 0]) / rmd.motif_max[None, :]


def _predict_jobs(model, rmd, c: int, jobs: list, vrow: np.ndarray, delta_feat: np.ndarray, firsts: np.ndarray,
                  focus: np.ndarray, R: int, *, batch_size: int, device: str) -> np.ndarray:
    """``(J, 2)`` reference and alternative expression at each job's gene region and strand."""
    preds = np.full((len(jobs), 2), np.nan)
    clip = bool(rmd.params.get("clip", False))
    for lo in range(0, len(jobs), batch_size):
        part = jobs[lo: lo + batch_size]
        X = np.stack([rmd.features(c, slice(firsts[w], firsts[w] + R)) for _, w, _ in part])
        Xa = X.copy()
        for b, (k, w, _) in enumerate(part):
            j = int(vrow[k] - firsts[w])
            m = rmd.motif_features(slice(int(vrow[k]), int(vrow[k]) + 1))[0].astype(np.float64) + delta_feat[k]
            Xa[b, j, :-1] = np.minimum(m, 1.0) if clip else np.maximum(m, 0.0)
        both = predict(model, np.concatenate([X, Xa]), batch_size=batch_size, device=device)
        f = np.array([focus[w] for _, w, _ in part])
        st = np.array([s_ for _, _, s_ in part])
        n = len(part)
        preds[lo: lo + n, 0] = both[np.arange(n), f, st]
        preds[lo: lo + n, 1] = both[n + np.arange(n), f, st]
    return preds


def _get_table(rmd, table: pd.DataFrame, vrow: np.ndarray, jobs: list, preds: np.ndarray, delta_feat: np.ndarray,
               firsts: np.ndarray, focus: np.ndarray) -> pd.DataFrame:
    """One row per (variant allele, gene window), and one empty row per variant in no gene's window."""
    regions = rmd.regions
    mids = (regions["start"].to_numpy(np.int64) + regions["end"].to_numpy(np.int64)) // 2
    names = regions["name"].to_numpy(dtype=str)
    mnames = np.asarray(rmd.motif_names, dtype=object)
    top = np.argmax(np.abs(delta_feat), axis=1)
    out_rows, scored = [], set()
    for (k, w, s_), (pr, pa) in zip(jobs, preds, strict=True):
        t = firsts[w] + focus[w]
        scored.add(k)
        out_rows.append({"k": k, "region": names[vrow[k]],
                         "gene": str(regions["tss_plus" if s_ == 0 else "tss_minus"].iat[t]),
                         "tss_region": names[t], "strand": STRANDS[s_], "distance": int(mids[vrow[k]] - mids[t]),
                         "ref:expression": pr, "alt:expression": pa, "delta:expression": pa - pr})
    for k in range(len(table)):
        if k not in scored:
            out_rows.append({"k": k, "region": names[vrow[k]], "gene": "", "tss_region": "", "strand": "",
                             "distance": np.nan, "ref:expression": np.nan, "alt:expression": np.nan,
                             "delta:expression": np.nan})
    genes = pd.DataFrame(out_rows)
    genes["motifs_changed"] = (np.abs(delta_feat) > 0).sum(1)[genes["k"]]
    genes["top_motif"] = np.where(genes["motifs_changed"] > 0, mnames[top[genes["k"]]], "")
    genes["top_motif_delta"] = delta_feat[genes["k"], top[genes["k"]]]
    res = table.iloc[genes["k"].to_numpy()].reset_index(drop=True)
    res = pd.concat([res, genes.drop(columns="k").reset_index(drop=True)], axis=1)
    res = res.sort_values(["line", "alt", "tss_region", "strand"], kind="stable").reset_index(drop=True)
    return res[[*COLUMNS, *GET_COLUMNS]]
