"""Motif comparison: the nearest database matches of motifs by TOMTOM (through memelite).

One public verb, :func:`nearest_matches`, over :func:`memelite.tomtom.tomtom` (a numba port of
the MEME suite's TOMTOM, "complete" score, both strands of every target).

Conventions of the table it returns
-----------------------------------
- ``offset``: target column ``j + offset`` is aligned with query column ``j`` (0-based), so a
  query cut out of a target at column 3 has offset 3; negative when the query overhangs the
  target's start. For ``strand == "-"`` the columns are those of the target's reverse complement.
- ``strand``: ``"+"`` when the query matches the target as given, ``"-"`` when it matches its
  reverse complement. On an exact tie (a palindromic target) memelite reports ``"-"``.
- ``p_value``: TOMTOM's p-value of the best alignment over both strands, combined as
  ``1 - (1 - p) ** 2``. ``e_value = p_value * len(targets)``, as MEME's tomtom reports it.
- ``overlap``: number of aligned columns.

Pitfalls
--------
- The p-values use the columns of *all* targets as the background, so they depend on which
  targets are given. With fewer than 25 targets they can move by orders of magnitude and a
  ``UserWarning`` is raised; compare against a whole database (a JASPAR release) for numbers
  worth reporting. With a handful of targets a strong match can even get ``p_value == 0``.
- The first call in a fresh environment compiles memelite's kernels (~40 s); numba caches them on
  disk, and later calls take milliseconds for a few queries against JASPAR.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.motifs.pwm import Motif, MotifSet

logger = logging.getLogger(__name__)

COLUMNS = ["query", "rank", "target", "p_value", "e_value", "offset", "strand", "overlap",
           "target_consensus", "target_name"]
MIN_TARGETS = 25  # below this memelite (and MEME's tomtom, at 50) warn that p-values are unreliable
_MAX_CELLS = 2 ** 22  # queries are sent in chunks of at most this many query x target pairs


def _as_set(motifs: MotifSet | Iterable[Motif], what: str) -> MotifSet:
    ms = motifs if isinstance(motifs, MotifSet) else MotifSet(motifs)
    if not len(ms):
        raise InputError(f"no {what} motifs to compare", path=ms.source or None,
                         hint=f"give at least one {what} motif")
    return ms


def nearest_matches(queries: MotifSet | Iterable[Motif], targets: MotifSet | Iterable[Motif], *,
                    n: int = 1) -> pd.DataFrame:
    """The ``n`` most similar targets of each query motif, by TOMTOM p-value.

    Parameters
    ----------
    queries
        Motifs to look up (a :class:`MotifSet`, or any iterable of :class:`Motif` with unique
        names), e.g. the filters of a trained model.
    targets
        The database, e.g. ``load_motifs("jaspar:2024/CORE/vertebrates")``. Use a whole database:
        the p-values depend on it (see the module docstring).
    n
        Matches kept per query (clipped to ``len(targets)``).

    Returns
    -------
    pandas.DataFrame
        ``len(queries) * min(n, len(targets))`` rows, queries in their given order and, within
        each, ranked by p-value (ties by TOMTOM score, then target order). Columns: ``query``
        (name), ``rank`` (1-based), ``target`` (name, e.g. ``MA0139.2``), ``p_value``,
        ``e_value``, ``offset``, ``strand`` (``"+"``/``"-"``), ``overlap``, ``target_consensus``
        (consensus of the target as given, forward strand) and ``target_name`` (its
        ``alt_name``, e.g. ``CTCF``).

    Raises
    ------
    InputError
        An empty query or target set, or ``n < 1``.
    """
    from memelite.tomtom import tomtom  # imported here: it loads numba

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"n (matches per query) must be an integer >= 1, got {n!r}")
    queries = _as_set(queries, "query")
    targets = _as_set(targets, "target")
    n_t = len(targets)
    k = min(int(n), n_t)
    if n_t < MIN_TARGETS:
        warnings.warn(f"comparing against only {n_t} target motifs: TOMTOM's p-values use the target "
                      f"columns as their background and are unreliable with fewer than {MIN_TARGETS} "
                      "targets; compare against a whole motif database", UserWarning, stacklevel=2)

    # memelite takes (4, w) arrays, rows A, C, G, T; probs.T of our C-ordered (w, 4) is F-ordered,
    # the layout its kernels are compiled (and cached) for.
    t_arrays = [m.probs.T for m in targets]
    q_motifs = list(queries)
    chunk = max(1, _MAX_CELLS // n_t)
    parts = []
    for lo in range(0, len(q_motifs), chunk):
        q_arrays = [m.probs.T for m in q_motifs[lo:lo + chunk]]
        with warnings.catch_warnings():  # our own warning above says it once, pointing at the caller
            warnings.filterwarnings("ignore", message="tomtom was given", category=UserWarning)
            # (5, n_queries, n_targets): p-value, score, offset, overlap, strand (0 = +, 1 = -)
            parts.append(np.asarray(tomtom(q_arrays, t_arrays, n_nearest=None)))
    p, score, offset, overlap, strand = np.concatenate(parts, axis=1)

    target_index = np.arange(n_t)
    order = np.stack([np.lexsort((target_index, -score[i], p[i]))[:k] for i in range(len(q_motifs))])
    rows = np.arange(len(q_motifs))[:, None]
    t_names = np.array(targets.names, dtype=object)
    t_alt = np.array([m.alt_name for m in targets], dtype=object)
    t_cons = np.array([m.consensus for m in targets], dtype=object)
    p_k = p[rows, order].ravel()
    table = pd.DataFrame({
        "query": np.repeat(np.array(queries.names, dtype=object), k),
        "rank": np.tile(np.arange(1, k + 1), len(q_motifs)),
        "target": t_names[order].ravel(),
        "p_value": p_k,
        "e_value": p_k * n_t,
        "offset": offset[rows, order].ravel().astype(np.int64),
        "strand": np.where(strand[rows, order].ravel() > 0, "-", "+"),
        "overlap": overlap[rows, order].ravel().astype(np.int64),
        "target_consensus": t_cons[order].ravel(),
        "target_name": t_alt[order].ravel(),
    }, columns=COLUMNS)
    logger.info("compared %d query motifs with %d targets (TOMTOM), kept %d match(es) each",
                len(q_motifs), n_t, k)
    return table
