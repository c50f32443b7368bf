"""Motif discovery from attributions: TF-MoDISco (modisco-lite) patterns, named by TOMTOM.

:func:`discover` clusters the high-contribution stretches ("seqlets") of many sequences into
patterns with modisco-lite, trims each pattern to its informative columns and looks it up in a
motif database (JASPAR 2024 CORE vertebrates by default) with
:func:`cisgram.motifs.compare.nearest_matches`, adding Benjamini-Hochberg q-values.
:func:`discovery_section` renders the result as an HTML fragment for a report and
:func:`write_patterns` writes the patterns as a MEME motif file.

Conventions
-----------
- Inputs use cisgram's layout, ``(N, 4, L)`` float arrays, rows A, C, G, T; modisco-lite wants
  ``(N, L, 4)`` float32 and gets a transposed copy. The contribution scores modisco clusters are
  ``onehot * hypothetical`` (the observed base's hypothetical score).
- Patterns are named ``pos_0, pos_1, ...`` (seqlets whose summed contribution is positive) and
  ``neg_0, ...`` (negative), each sign ordered by number of seqlets, largest first, as
  modisco-lite returns them.
- Trimming, as modisco-lite's own report does before TOMTOM: a pattern keeps the columns from
  the first to the last whose summed ``|contribution|`` is at least ``0.3 x`` the largest
  column's (:data:`TRIM_FRACTION`). ``probs``, ``contrib`` and the seqlet coordinates are all
  of the trimmed window.
- q-values: TOMTOM's own q-values are per query over all targets. ``nearest_matches`` is asked
  for every target, and the Benjamini-Hochberg q-value of each match is computed over those
  ``len(database)`` p-values before the top ``n_matches`` are kept.

Determinism and the seed
------------------------
modisco-lite fixes its own seeds (its Laplace null and subsamples use ``RandomState(1234)``,
Leiden runs seeds ``100, 200, ...``), so the same input gives the same patterns. The one choice
it leaves to input order is which seqlets survive ``max_seqlets``: it keeps the first ones in the
order of the input sequences. :func:`discover` therefore hands the sequences over in an order
shuffled by ``seed``, so the cap keeps seqlets from a random sample of the sequences rather than
from the first ones (say, chromosome 1). Seqlet coordinates are reported in the caller's order.

Pitfalls
--------
- modisco-lite needs more than 100 seqlets of one sign (its ``min_metacluster_size``) and 20 per
  pattern (``final_min_cluster_size``); fewer give an empty :class:`Discovery`, not an error.
- The first call in a fresh environment compiles numba kernels (modisco-lite's and memelite's,
  tens of seconds); later calls load them from numba's disk cache.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.motifs.compare import nearest_matches
from cisgram.motifs.pwm import Motif, MotifSet, load_motifs, write_meme

logger = logging.getLogger(__name__)

DEFAULT_DATABASE = "jaspar:2024/CORE/vertebrates"
TRIM_FRACTION = 0.3  # keep columns whose summed |contribution| >= this x the largest (modisco-lite's report)
MIN_SEQUENCES = 10  # fewer sequences cannot give the > 100 seqlets of one sign a metacluster needs, in practice
SIGNIFICANT_Q = 0.05  # a match at or below this q-value names a pattern in write_patterns
SEQLET_COLUMNS = ["sequence", "start", "end", "strand"]
MATCH_COLUMNS = ["query", "rank", "target", "target_name", "p_value", "q_value", "e_value", "offset",
                 "strand", "overlap", "target_consensus"]


@dataclass(frozen=True, eq=False)
class Pattern:
    """One TF-MoDISco pattern, trimmed to its informative columns.

    Attributes
    ----------
    name
        ``"pos_0"``, ``"neg_1"``, ... (sign, then rank by number of seqlets).
    sign
        ``"pos"`` or ``"neg"``: the sign of the seqlets' summed contribution.
    n_seqlets
        Number of seqlets in the pattern.
    probs
        float64 ``(W, 4)``, A, C, G, T: the fraction of seqlets with each base at each column
        (rows sum to 1; a column where every seqlet holds ``N`` is uniform).
    contrib
        float64 ``(W, 4)``: the mean contribution score (``onehot * hypothetical``) of the
        seqlets, the contribution weight matrix drawn in the report.
    hypothetical
        float64 ``(W, 4)``: the mean hypothetical contribution of the seqlets.
    seqlets
        One row per seqlet: ``sequence`` (0-based index into the inputs), ``start``, ``end``
        (0-based, half-open, the trimmed window on the forward strand of that sequence) and
        ``strand`` (``"+"``, or ``"-"`` when the pattern reads the reverse complement there).
    matches
        The top database matches (see :func:`discover`); empty when matching was skipped.
    """

    name: str
    sign: str
    n_seqlets: int
    probs: np.ndarray
    contrib: np.ndarray
    hypothetical: np.ndarray
    seqlets: pd.DataFrame
    matches: pd.DataFrame

    @property
    def width(self) -> int:
        return self.probs.shape[0]

    def best_match(self) -> pd.Series | None:
        """The rank-1 match, or None when there are no matches."""
        return None if self.matches.empty else self.matches.iloc[0]

    def motif(self) -> Motif:
        """The pattern as a :class:`Motif` named after it; ``alt_name`` is the best match's name
        (e.g. ``CTCF``) when its q-value is at most 0.05, else empty."""
        best = self.best_match()
        alt = ""
        if best is not None and best["q_value"] <= SIGNIFICANT_Q:
            alt = "".join(str(best["target_name"]).split())
        return Motif(self.name, alt, self.probs, nsites=self.n_seqlets, source="tfmodisco")


@dataclass(frozen=True, eq=False)
class Discovery:
    """What :func:`discover` found.

    Attributes
    ----------
    patterns
        The patterns, positive first, each sign largest first; empty when none was found.
    database
        Where the matches come from (a path or ``jaspar:`` address); ``""`` when not matched.
    matched
        The database motifs that appear among the matches (for drawing them).
    params
        The modisco-lite parameters used, and ``trim_fraction`` (:data:`TRIM_FRACTION`).
    """

    patterns: tuple[Pattern, ...]
    database: str = ""
    matched: MotifSet = field(default_factory=lambda: MotifSet(()))
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.patterns)

    @property
    def matches(self) -> pd.DataFrame:
        """All patterns' matches in one table (columns as in :func:`discover`)."""
        tables = [p.matches for p in self.patterns if not p.matches.empty]
        return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=MATCH_COLUMNS)


# ---------------------------------------------------------------- checks


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_arrays(hypothetical, onehot, window: int, flank: int) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as float32 ``(N, 4, L)`` arrays, after checking what modisco-lite cannot."""
    arrays = []
    for name, x in (("hypothetical", hypothetical), ("onehot", onehot)):
        try:
            a = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError):
            raise InputError(f"{name} must be a numeric array shaped (N, 4, L)") from None
        if a.ndim != 3 or a.shape[1] != 4:
            raise InputError(f"{name} must be shaped (N, 4, L), rows A, C, G, T, got {a.shape}",
                             hint="cisgram's layout is (N, 4, L); transpose an (N, L, 4) array with "
                             ".transpose(0, 2, 1)")
        if not np.all(np.isfinite(a)):
            raise InputError(f"{name} holds {int(np.sum(~np.isfinite(a)))} value(s) that are NaN or infinite")
        arrays.append(a)
    hyp, oh = arrays
    if hyp.shape != oh.shape:
        raise InputError(f"hypothetical and onehot must have the same shape, got {hyp.shape} and {oh.shape}",
                         hint="give the hypothetical contributions of exactly the one-hot sequences")
    n, _, length = oh.shape
    if n < MIN_SEQUENCES:
        raise InputError(f"motif discovery needs at least {MIN_SEQUENCES} sequences, got {n}",
                         hint="TF-MoDISco clusters seqlets across many sequences (hundreds or more)")
    if length < window + 2 * flank:
        raise InputError(f"sequences of {length} bp are shorter than one seqlet (window {window} + 2 x flank "
                         f"{flank} bp)", hint="use longer sequences or a smaller window and flank")
    if np.any((oh != 0) & (oh != 1)) or np.any(oh.sum(axis=1) > 1):
        raise InputError("onehot must hold 0s and 1s with at most one 1 per position (all zeros for N)")
    if not np.any(oh * hyp):
        raise InputError("every contribution score (onehot * hypothetical) is zero: nothing to discover",
                         hint="check that the attributions were computed for these sequences")
    return hyp, oh


def _load_database(database) -> MotifSet:
    if database is None:
        database = DEFAULT_DATABASE
    if isinstance(database, MotifSet):
        return database
    if isinstance(database, (str, os.PathLike)):
        return load_motifs(database)
    return MotifSet(database)


# ---------------------------------------------------------------- modisco-lite


def _run_modisco(hyp: np.ndarray, oh: np.ndarray, params: dict):
    """modisco-lite's positive and negative pattern lists (``None`` for a sign with none) on
    ``(N, L, 4)`` float32 copies of the inputs; a failure becomes an InputError."""
    from modiscolite.tfmodisco import TFMoDISco  # imported here: it loads numba, igraph, leidenalg

    try:
        return TFMoDISco(one_hot=np.ascontiguousarray(oh.transpose(0, 2, 1)),
                         hypothetical_contribs=np.ascontiguousarray(hyp.transpose(0, 2, 1)),
                         verbose=False, **params)
    except MemoryError:
        raise
    except Exception as exc:  # modisco-lite fails with raw IndexErrors etc. on degenerate scores
        raise InputError(f"TF-MoDISco failed on these attributions ({type(exc).__name__}: {exc})",
                         hint="this happens with degenerate scores (constant, or no stretch standing out "
                         "from the rest); check the attributions, or give more sequences") from exc


def trim_bounds(contrib: np.ndarray, fraction: float = TRIM_FRACTION) -> tuple[int, int]:
    """``(start, stop)`` of the columns kept from a ``(W, 4)`` contribution matrix: from the first
    to the last column whose summed ``|contribution|`` is at least ``fraction`` x the largest."""
    score = np.abs(np.asarray(contrib, dtype=np.float64)).sum(axis=1)
    keep = np.flatnonzero(score >= fraction * score.max())
    return int(keep[0]), int(keep[-1]) + 1


def _as_probs(sequence: np.ndarray) -> np.ndarray:
    """Rows of mean one-hot as probabilities; an all-``N`` row becomes uniform."""
    p = np.asarray(sequence, dtype=np.float64)
    total = p.sum(axis=1, keepdims=True)
    return np.where(total > 0, p / np.where(total > 0, total, 1.0), 0.25)


def _seqlet_table(seqlets, start: int, stop: int, order: np.ndarray) -> pd.DataFrame:
    """Trimmed window ``[start, stop)`` of each seqlet on the forward strand of its sequence,
    the sequence given by its index in the caller's order."""
    rows = []
    for s in seqlets:
        if s.is_revcomp:  # pattern column j reads sequence position s.end - 1 - j
            rows.append((order[s.example_idx], s.end - stop, s.end - start, "-"))
        else:
            rows.append((order[s.example_idx], s.start + start, s.start + stop, "+"))
    table = pd.DataFrame(rows, columns=SEQLET_COLUMNS)
    return table.astype({"sequence": np.int64, "start": np.int64, "end": np.int64})


def _pattern(mp, name: str, sign: str, order: np.ndarray) -> Pattern:
    contrib = np.asarray(mp.contrib_scores, dtype=np.float64)
    start, stop = trim_bounds(contrib)
    return Pattern(name=name, sign=sign, n_seqlets=len(mp.seqlets),
                   probs=_as_probs(mp.sequence[start:stop]), contrib=contrib[start:stop].copy(),
                   hypothetical=np.asarray(mp.hypothetical_contribs, dtype=np.float64)[start:stop].copy(),
                   seqlets=_seqlet_table(mp.seqlets, start, stop, order),
                   matches=pd.DataFrame(columns=MATCH_COLUMNS))


# ---------------------------------------------------------------- matching


def bh_qvalues(p_values) -> np.ndarray:
    """Benjamini-Hochberg q-values of one family of p-values, in their given order:
    ``q_(i) = min_{j >= i} m p_(j) / j`` over the ascending p-values, capped at 1."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * p.size / np.arange(1, p.size + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    out = np.empty_like(q)
    out[order] = q
    return out


def _match(patterns: list[Pattern], db: MotifSet, n_matches: int) -> list[Pattern]:
    """The patterns with their top ``n_matches`` matches in ``db``, q-values over all of ``db``."""
    table = nearest_matches([p.motif() for p in patterns], db, n=len(db))
    table.insert(table.columns.get_loc("p_value") + 1, "q_value",
                 table.groupby("query", sort=False)["p_value"].transform(bh_qvalues))
    table = table[table["rank"] <= n_matches][MATCH_COLUMNS]
    by_query = {q: t.reset_index(drop=True) for q, t in table.groupby("query", sort=False)}
    return [replace(p, matches=by_query[p.name]) for p in patterns]


# ---------------------------------------------------------------- the verb


def discover(hypothetical: np.ndarray, onehot: np.ndarray, *,
             database: MotifSet | Iterable[Motif] | str | os.PathLike | None = None,
             max_seqlets: int = 2000, window: int = 21, flank: int = 5, fdr: float = 0.05,
             n_matches: int = 3, leiden_runs: int = 2, seed: int = 0) -> Discovery:
    """Find the recurring patterns of attributions with TF-MoDISco and name them by TOMTOM.

    Parameters
    ----------
    hypothetical
        Hypothetical contribution scores shaped ``(N, 4, L)``, rows A, C, G, T (e.g. from
        DeepLIFT-SHAP; the score each base would have at each position).
    onehot
        The sequences, one-hot ``(N, 4, L)`` (all zeros for ``N``).
    database
        Motifs to name the patterns with: a :class:`MotifSet`, motifs, a MEME file or a
        ``jaspar:`` address; ``None`` is JASPAR 2024 CORE vertebrates (offline, pyjaspar).
    max_seqlets
        At most this many seqlets per sign are clustered (modisco's ``max_seqlets_per_metacluster``).
    window
        Width of the core of a seqlet in bp (``sliding_window_size``).
    flank
        bp added on each side of a seqlet core (``flank_size``).
    fdr
        Target false discovery rate of seqlet calling against modisco's Laplace null
        (``target_seqlet_fdr``).
    n_matches
        Matches kept per pattern; 0 skips matching (and loading the database).
    leiden_runs
        Leiden clusterings from different (fixed) seeds, the best kept (``n_leiden_runs``;
        modisco-lite's command line uses 2, its function 50).
    seed
        Shuffles the order in which sequences are handed to modisco-lite, which decides the
        seqlets kept by ``max_seqlets`` (see the module docstring).

    Returns
    -------
    Discovery
        Its ``patterns`` (possibly none: then the report says so). Each pattern's ``matches``
        table has columns ``query`` (the pattern), ``rank`` (1-based), ``target``,
        ``target_name``, ``p_value`` (TOMTOM), ``q_value`` (Benjamini-Hochberg over all
        ``len(database)`` targets of that pattern), ``e_value``, ``offset``, ``strand``,
        ``overlap`` and ``target_consensus``, as in
        :func:`~cisgram.motifs.compare.nearest_matches`.

    Raises
    ------
    InputError
        Shapes that differ or are not ``(N, 4, L)``, fewer than 10 sequences, sequences shorter
        than a seqlet, a one-hot that is not one-hot, non-finite or all-zero contributions, bad
        parameters, or modisco-lite failing on degenerate scores.
    """
    max_seqlets = _check_int(max_seqlets, "max_seqlets", 1)
    window = _check_int(window, "window", 1)
    flank = _check_int(flank, "flank", 0)
    n_matches = _check_int(n_matches, "n_matches", 0)
    leiden_runs = _check_int(leiden_runs, "leiden_runs", 1)
    if isinstance(fdr, bool) or not isinstance(fdr, (int, float, np.floating)) or not 0 < fdr < 1:
        raise InputError(f"fdr must be a number between 0 and 1 (exclusive), got {fdr!r}")
    hyp, oh = _check_arrays(hypothetical, onehot, window, flank)
    db = _load_database(database) if n_matches else None

    order = np.random.default_rng(seed).permutation(oh.shape[0])
    params = {"sliding_window_size": window, "flank_size": flank, "target_seqlet_fdr": float(fdr),
              "max_seqlets_per_metacluster": max_seqlets, "n_leiden_runs": leiden_runs}
    pos, neg = _run_modisco(hyp[order], oh[order], params)
    patterns = [_pattern(mp, f"{sign}_{i}", sign, order)
                for sign, found in (("pos", pos), ("neg", neg)) for i, mp in enumerate(found or ())]
    logger.info("TF-MoDISco found %d pattern(s) in %d sequences", len(patterns), oh.shape[0])
    if not patterns or db is None:
        return Discovery(tuple(patterns), params={**params, "trim_fraction": TRIM_FRACTION})
    patterns = _match(patterns, db, n_matches)
    names = list(dict.fromkeys(t for p in patterns for t in p.matches["target"]))
    return Discovery(tuple(patterns), database=db.source, matched=db.subset(names),
                     params={**params, "trim_fraction": TRIM_FRACTION})


# ---------------------------------------------------------------- outputs


def write_patterns(discovery: Discovery, path: str | os.PathLike) -> Path:
    """Write the patterns as a MEME motif file (atomically, through
    :func:`~cisgram.motifs.pwm.write_meme`) and return its path. Each motif is named after its
    pattern, with the best match's name when significant (:meth:`Pattern.motif`); ``nsites`` is
    the number of seqlets. A discovery without patterns raises InputError (nothing to write)."""
    if not discovery.patterns:
        raise InputError("no patterns to write: TF-MoDISco found none", path=path)
    return write_meme([p.motif() for p in discovery.patterns], path)


