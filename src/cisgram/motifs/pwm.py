"""Position weight matrices: :class:`Motif`, :class:`MotifSet`, MEME files and JASPAR releases.

One entry point, :func:`load_motifs`, takes either a MEME motif file (minimal format, version 4;
JASPAR's and the Vierstra archetypes' exports both read) or a ``jaspar:`` address served offline
by pyjaspar:

- ``jaspar:2024/CORE/vertebrates`` — release, collection, taxon (several taxa comma separated);
  ``jaspar:2024/CORE`` — every taxon. Latest version of each matrix only.
- ``jaspar:MA0139`` (latest version), ``jaspar:MA0139.2``, ``jaspar:2022/MA0139.1``,
  ``jaspar:MA0139,MA0079`` — matrices by ID; the release defaults to JASPAR 2024.

Probabilities are float64 arrays shaped ``(L, 4)``, columns A, C, G, T, each row summing to 1.
"""

from __future__ import annotations

import contextlib
import io
import logging
import operator
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cisgram.errors import InputError
from cisgram.files import atomic_write, open_text, require_file

logger = logging.getLogger(__name__)

ALPHABET = "ACGT"
UNIFORM = (0.25, 0.25, 0.25, 0.25)
ROW_SUM_TOLERANCE = 0.02  # a MEME row may be this far from 1; within it, it is renormalised
DEFAULT_JASPAR_RELEASE = "JASPAR2024"
ADDRESS_HINT = "e.g. jaspar:2024/CORE/vertebrates, jaspar:MA0139, jaspar:2022/MA0139.1, jaspar:MA0139,MA0079"


def as_background(values: Sequence[float], *, path=None, line: int | None = None) -> np.ndarray:
    """Background frequencies of A, C, G, T as a float64 array shaped (4,), summing to 1."""
    bg = np.asarray(values, dtype=np.float64)
    if bg.shape != (4,) or not np.all(np.isfinite(bg)) or np.any(bg <= 0):
        raise InputError(f"background must be 4 positive frequencies (A, C, G, T), got {values!r}",
                         path=path, line=line)
    if abs(bg.sum() - 1) > ROW_SUM_TOLERANCE:
        raise InputError(f"background frequencies sum to {bg.sum():.4g}, not 1", path=path, line=line)
    return bg / bg.sum()


@dataclass(frozen=True, eq=False, repr=False)
class Motif:
    """One motif as a letter-probability matrix.

    Attributes
    ----------
    name
        Unique key within a :class:`MotifSet` (``"MA0139.2"``, or a MEME ``MOTIF`` identifier).
    alt_name
        Readable name (``"CTCF"``); may be ``""``.
    probs
        float64 array shaped ``(L, 4)``, columns A, C, G, T, each row summing to 1. Stored as a
        read-only copy.
    nsites
        Number of sites the matrix was built from, when known.
    source
        Where it came from: a file path or ``"jaspar:2024"``.

    Motifs compare by identity (``probs`` is an array); compare ``probs`` with numpy.
    """

    name: str
    alt_name: str
    probs: np.ndarray
    nsites: int | None = None
    source: str = ""

    def __post_init__(self):
        where = self.source or None
        if not isinstance(self.name, str) or not self.name or any(c.isspace() for c in self.name):
            raise InputError(f"motif name {self.name!r} must be a non-empty word without spaces", path=where)
        if not isinstance(self.alt_name, str) or any(c.isspace() for c in self.alt_name):
            raise InputError(f"motif {self.name}: alt_name {self.alt_name!r} must not contain spaces", path=where)
        probs = np.array(self.probs, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[1] != 4 or probs.shape[0] == 0:
            raise InputError(f"motif {self.name}: probabilities must be shaped (L, 4) with L >= 1, "
                             f"got {probs.shape}", path=where)
        if not np.all(np.isfinite(probs)) or np.any(probs < 0):
            raise InputError(f"motif {self.name}: probabilities must be finite and non-negative", path=where)
        off = np.flatnonzero(np.abs(probs.sum(axis=1) - 1) > 1e-3)
        if off.size:
            raise InputError(f"motif {self.name}: row {off[0] + 1} sums to {probs[off[0]].sum():.4g}, not 1",
                             path=where)
        probs.setflags(write=False)
        object.__setattr__(self, "probs", probs)
        if self.nsites is not None:
            object.__setattr__(self, "nsites", int(self.nsites))

    def __repr__(self) -> str:
        return f"Motif({self.name!r}, {self.alt_name!r}, width={self.width}, consensus={self.consensus!r})"

    @property
    def width(self) -> int:
        """Number of positions ``L``."""
        return self.probs.shape[0]

    @property
    def consensus(self) -> str:
        """The most probable letter at each position (ties go to the first of A, C, G, T)."""
        return "".join(ALPHABET[i] for i in self.probs.argmax(axis=1))

    def reverse_complement(self) -> Motif:
        """The motif of the other strand: rows reversed, A<->T and C<->G. The name is kept."""
        return replace(self, probs=self.probs[::-1, ::-1])

    def log_odds(self, background: Sequence[float] = UNIFORM, pseudocount: float = 0.0,
                 base: float = 2.0) -> np.ndarray:
        """Log-odds scores shaped ``(L, 4)``: ``log_base(p' / bg)``.

        Probabilities are first smoothed as ``p' = (p + pseudocount) / (1 + 4 * pseudocount)``
        (IceQream's rule: pseudocount 0.01 gives ``(p + 0.01) / 1.04``). With ``pseudocount=0`` a
        zero probability gives ``-inf``, on purpose: that letter can never be part of a site.
        """
        bg = as_background(background)
        if pseudocount < 0:
            raise InputError(f"pseudocount must be >= 0, got {pseudocount}")
        if base <= 0 or base == 1:
            raise InputError(f"logarithm base must be positive and not 1, got {base}")
        p = (self.probs + pseudocount) / (1 + 4 * pseudocount)
        with np.errstate(divide="ignore"):
            return np.log(p / bg) / np.log(base)

    def information_content(self, background: Sequence[float] = UNIFORM) -> np.ndarray:
        """Information content in bits at each position, shaped ``(L,)``: ``sum p log2(p / bg)``
        (``0 log 0 = 0``)."""
        bg = as_background(background)
        p = self.probs
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, p * np.log2(p / bg), 0.0)
        return terms.sum(axis=1)


class MotifSet:
    """An ordered, read-only collection of motifs with unique names.

    ``len``, iteration in order, ``ms[0]`` or ``ms["MA0139.2"]``, ``"MA0139.2" in ms``.
    ``background`` is the file's background (float64, shaped (4,); uniform unless given) and
    ``source`` the file path or ``jaspar:`` address it was read from.
    """

    def __init__(self, motifs: Iterable[Motif], *, background: Sequence[float] = UNIFORM, source: str = ""):
        self._motifs = tuple(motifs)
        self._source = str(source)
        self._index: dict[str, int] = {}
        for i, m in enumerate(self._motifs):
            if not isinstance(m, Motif):
                raise TypeError(f"MotifSet holds Motif objects, got {type(m).__name__} at position {i}")
            if m.name in self._index:
                raise InputError(f"motif name {m.name!r} is given twice: records {self._index[m.name] + 1} "
                                 f"and {i + 1}", path=self._source or None, hint="motif names must be unique")
            self._index[m.name] = i
        bg = as_background(background, path=self._source or None)
        bg.setflags(write=False)
        self._background = bg

    def __len__(self) -> int:
        return len(self._motifs)

    def __iter__(self) -> Iterator[Motif]:
        return iter(self._motifs)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __getitem__(self, key: int | str) -> Motif:
        """A motif by position (negative counts from the end) or by name (KeyError if absent)."""
        if isinstance(key, str):
            return self._motifs[self._index[key]]
        return self._motifs[operator.index(key)]

    def __repr__(self) -> str:
        return f"MotifSet({len(self)} motifs, max_width={self.max_width}, source={self._source!r})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self._motifs)

    @property
    def background(self) -> np.ndarray:
        return self._background

    @property
    def source(self) -> str:
        return self._source

    @property
    def max_width(self) -> int:
        """Width of the widest motif (0 for an empty set)."""
        return max((m.width for m in self._motifs), default=0)

    def subset(self, names: Iterable[str]) -> MotifSet:
        """A new set holding the named motifs in the order given; unknown names raise InputError."""
        names = list(names)
        missing = [n for n in names if n not in self._index]
        if missing:
            raise InputError(f"{len(missing)} motif name(s) not in this set: {', '.join(missing[:5])}"
                             + (" ..." if len(missing) > 5 else ""), path=self._source or None,
                             hint="names are motif IDs such as MA0139.2; see MotifSet.names")
        return MotifSet((self[n] for n in names), background=self._background, source=self._source)


# ---------------------------------------------------------------- MEME minimal format, version 4

_MATRIX_END = ("MOTIF", "URL", "letter-probability", "log-odds", "--")


def _looks_like_row(text: str) -> bool:
    tokens = text.split()
    try:
        [float(t) for t in tokens]
    except ValueError:
        return False
    return len(tokens) == 4


def read_meme(path: str | os.PathLike) -> MotifSet:
    """Read a MEME motif file (minimal format, version 4; plain or gzipped) into a :class:`MotifSet`.

    Rows within 0.02 of summing to 1 are renormalised; anything else wrong raises
    :class:`InputError` naming the file, the line and the motif. Only DNA (ACGT) is accepted.
    """
    p = require_file(path, "MEME motif file")
    try:
        with open_text(p) as fh:
            lines = fh.read().splitlines()
    except UnicodeDecodeError:
        raise InputError("not a MEME motif file (it is not text)", path=p,
                         hint="give a MEME motif file, or a jaspar: address") from None
    motifs = _parse_meme(lines, p)
    logger.info("read %d motifs from %s", len(motifs), p)
    return motifs


def _parse_meme(lines: list[str], path: Path) -> MotifSet:
    def fail(problem: str, line: int | None = None, hint: str | None = None) -> InputError:
        return InputError(problem, path=path, line=line, hint=hint)

    content = [(n, s.strip()) for n, s in enumerate(lines, 1) if s.strip()]
    if not content:
        raise fail("MEME motif file is empty")
    if not content[0][1].startswith("MEME version"):
        raise fail(f"not a MEME motif file: it starts with {content[0][1][:40]!r}, not 'MEME version 4'",
                   content[0][0], hint="give a MEME motif file (JASPAR and the MEME suite export them), "
                   "or a jaspar: address")
    background: Sequence[float] = UNIFORM
    motifs: list[Motif] = []
    seen: dict[str, tuple[int, int]] = {}  # name -> (record, line) of its MOTIF
    i = content[0][0]  # 0-based index of the next line to read
    while i < len(lines):
        lineno, s = i + 1, lines[i].strip()
        i += 1
        if s.startswith("ALPHABET"):
            i = _check_alphabet(lines, i, s, fail)
        elif s.startswith("Background letter frequencies"):
            while i < len(lines) and not lines[i].strip():
                i += 1
            if i == len(lines):
                raise fail("no frequencies after 'Background letter frequencies'", lineno)
            background = _parse_background(lines[i], i + 1, path)
            i += 1
        elif s.startswith("MOTIF"):
            motif, i = _read_motif(lines, i, lineno, s, path, fail)
            if motif.name in seen:
                record, first = seen[motif.name]
                raise fail(f"motif name {motif.name!r} is given twice: records {record} (line {first}) and "
                           f"{len(motifs) + 1} (line {lineno})", lineno,
                           hint="motif names must be unique in a file; rename one")
            seen[motif.name] = (len(motifs) + 1, lineno)
            motifs.append(motif)
        elif _looks_like_row(s):
            raise fail("matrix row outside any letter-probability matrix", lineno)
        # anything else ("strands:", URL, free text) is not needed and skipped
    if not motifs:
        raise fail("no motifs found (no MOTIF lines)", hint="a MEME motif file has 'MOTIF <id> [name]' "
                   "followed by a 'letter-probability matrix:' line and its rows")
    return MotifSet(motifs, background=background, source=str(path))


def _check_alphabet(lines: list[str], i: int, s: str, fail) -> int:
    """Accept ``ALPHABET= ACGT`` (or a MEME 5 ``ALPHABET "DNA" DNA-LIKE ... END ALPHABET`` block)."""
    if "=" in s:
        value = s.split("=", 1)[1].strip()
        if value.upper() not in ("ACGT", "DNA"):
            raise fail(f"alphabet {value!r} is not DNA; cisgram reads DNA motifs only (ALPHABET= ACGT)", i)
        return i
    if "DNA" not in s.upper():
        raise fail(f"alphabet {s[8:].strip()!r} is not DNA; cisgram reads DNA motifs only (ALPHABET= ACGT)", i)
    while i < len(lines) and not lines[i].strip().upper().startswith("END ALPHABET"):
        i += 1
    return i + 1


def _parse_background(text: str, lineno: int, path: Path) -> np.ndarray:
    tokens = text.split()
    pairs = dict(zip((t.upper() for t in tokens[::2]), tokens[1::2], strict=False))
    if len(tokens) != 8 or set(pairs) != set(ALPHABET):
        raise InputError(f"background letter frequencies must be 'A f C f G f T f', got {text.strip()!r}",
                         path=path, line=lineno)
    try:
        values = [float(pairs[b]) for b in ALPHABET]
    except ValueError:
        raise InputError(f"background frequency is not a number: {text.strip()!r}", path=path,
                         line=lineno) from None
    return as_background(values, path=path, line=lineno)


def _read_motif(lines: list[str], i: int, lineno: int, s: str, path: Path, fail) -> tuple[Motif, int]:
    """Read one motif from its ``MOTIF`` line (``lineno``); ``i`` indexes the line after it."""
    tokens = s.split()
    if len(tokens) < 2:
        raise fail("MOTIF line without a motif name", lineno)
    name, alt = tokens[1], (tokens[2] if len(tokens) > 2 else "")
    while i < len(lines):
        header_line, t = i + 1, lines[i].strip()
        i += 1
        if t.startswith("MOTIF"):
            break
        if t.startswith("log-odds matrix"):  # not needed: skip its rows
            while i < len(lines) and lines[i].strip() and not lines[i].strip().startswith(_MATRIX_END):
                i += 1
        elif t.startswith("letter-probability matrix"):
            rows, i = _read_rows(lines, i, name, fail)
            fields = dict(re.findall(r"(\w+)\s*=\s*(\S+)", t.split(":", 1)[-1]))
            try:
                alength = int(fields.get("alength", 4))
                w = int(fields["w"]) if "w" in fields else len(rows)
                nsites = int(float(fields["nsites"])) if "nsites" in fields else None
            except ValueError:
                raise fail(f"motif {name}: cannot read the matrix line {t!r}", header_line) from None
            if alength != 4:
                raise fail(f"motif {name}: alength= {alength}; cisgram reads DNA motifs (alength= 4)", header_line)
            if not rows:
                raise fail(f"motif {name}: its letter-probability matrix has no rows", header_line)
            if w != len(rows):
                raise fail(f"motif {name}: w= {w} but {len(rows)} matrix rows follow", header_line,
                           hint="fix w= or the rows (a matrix ends at the first blank line)")
            return Motif(name, alt, np.array(rows), nsites=nsites, source=str(path)), i
        elif _looks_like_row(t):
            raise fail(f"motif {name}: matrix rows without a 'letter-probability matrix:' line", header_line)
    raise fail(f"motif {name} has no letter-probability matrix", lineno)


def _read_rows(lines: list[str], i: int, name: str, fail) -> tuple[list[list[float]], int]:
    """Rows of 4 probabilities from line index ``i`` up to a blank line, a keyword or the end."""
    rows = []
    while i < len(lines) and lines[i].strip() and not lines[i].strip().startswith(_MATRIX_END):
        lineno, t = i + 1, lines[i].strip()
        i += 1
        tokens = t.split()
        if len(tokens) != 4:
            raise fail(f"motif {name}: a matrix row needs 4 numbers (A C G T), found {len(tokens)}: {t!r}",
                       lineno)
        try:
            values = [float(v) for v in tokens]
        except ValueError:
            values = [float("nan")]
        if not np.all(np.isfinite(values)):
            raise fail(f"motif {name}: matrix row holds a value that is not a number: {t!r}", lineno)
        if min(values) < 0:
            raise fail(f"motif {name}: matrix row holds a negative probability: {t!r}", lineno)
        total = sum(values)
        if abs(total - 1) > ROW_SUM_TOLERANCE:
            raise fail(f"motif {name}: matrix row sums to {total:.4g}, not 1 (tolerance {ROW_SUM_TOLERANCE})",
                       lineno, hint="rows must be probabilities; divide counts by their row total")
        rows.append([v / total for v in values])
    j = i
    while j < len(lines) and not lines[j].strip():
        j += 1
    if rows and j > i and j < len(lines) and _looks_like_row(lines[j]):
        raise fail(f"motif {name}: a blank line inside its matrix", i + 1)
    return rows, i


def write_meme(motifs: MotifSet | Iterable[Motif], path: str | os.PathLike) -> Path:
    """Write motifs to a MEME motif file (minimal format, version 4), atomically; return its path.

    Probabilities are written with 8 decimals; the background is the set's own (uniform for a
    plain list of motifs).
    """
    ms = motifs if isinstance(motifs, MotifSet) else MotifSet(motifs)
    if not len(ms):
        raise InputError("no motifs to write", path=path)
    out = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "", "Background letter frequencies",
           " ".join(f"{b} {f:.8g}" for b, f in zip(ALPHABET, ms.background, strict=True)), ""]
    for m in ms:
        out.append(f"MOTIF {m.name} {m.alt_name}".rstrip())
        nsites = "" if m.nsites is None else f" nsites= {m.nsites}"
        out.append(f"letter-probability matrix: alength= 4 w= {m.width}{nsites} E= 0")
        out.extend(" ".join(f"{v:.8f}" for v in row) for row in m.probs)
        out.append("")
    with atomic_write(path) as fh:
        fh.write("\n".join(out))
    logger.info("wrote %d motifs to %s", len(ms), path)
    return Path(path)


# ---------------------------------------------------------------- JASPAR through pyjaspar (offline)

_JASPAR_ID = re.compile(r"[A-Z]{2}\d{4}(\.\d+)?", re.IGNORECASE)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence pyjaspar, which prints and warns instead of raising."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def read_jaspar(address: str) -> MotifSet:
    """Motifs from a JASPAR release shipped with pyjaspar, by a ``jaspar:`` address (see the module
    docstring). Counts become probabilities (each position divided by its total); ``nsites`` is the
    first position's total, as in JASPAR's own MEME exports (totals can differ between positions)."""
    from pyjaspar import jaspardb  # imported here: it loads Biopython

    spec = address.split(":", 1)[1] if address.lower().startswith("jaspar:") else address
    parts = spec.strip().split("/")
    release = DEFAULT_JASPAR_RELEASE
    if re.fullmatch(r"(?i)(jaspar)?\d{4}", parts[0]):
        release, parts = f"JASPAR{parts[0][-4:]}", parts[1:]
    if not parts or len(parts) > 2 or not all(parts):
        raise InputError("cannot read this JASPAR address", path=address, hint=ADDRESS_HINT)
    with _quiet():
        jdb = jaspardb(release=release)
    releases = jdb.get_releases()
    if release not in releases:
        raise InputError(f"JASPAR release {release} is not available", path=address,
                         hint="available releases: " + ", ".join(r[-4:] for r in releases))
    ids = parts[0].split(",")
    if len(parts) == 1 and all(_JASPAR_ID.fullmatch(x) for x in ids):
        found = [_fetch_jaspar_id(jdb, x.upper(), address, release) for x in ids]
    else:
        collection = parts[0].upper()
        taxa = parts[1].lower().split(",") if len(parts) == 2 else None
        known = sorted(r[0] for r in jdb.conn.execute("SELECT DISTINCT COLLECTION FROM MATRIX"))
        if collection not in known:
            raise InputError(f"{release} has no collection {collection!r}", path=address,
                             hint=f"collections: {', '.join(known)}; or give matrix IDs ({ADDRESS_HINT})")
        known = sorted(r[0] for r in jdb.conn.execute(
            "SELECT DISTINCT VAL FROM MATRIX_ANNOTATION WHERE TAG = 'tax_group'"))
        unknown = [t for t in taxa or () if t not in known]
        if unknown:
            raise InputError(f"{release} has no taxon {', '.join(map(repr, unknown))}", path=address,
                             hint=f"taxa: {', '.join(known)}")
        with _quiet():
            found = jdb.fetch_motifs(collection=collection, tax_group=taxa, all_versions=False)
        if not found:
            raise InputError(f"{release} has no {collection} motifs for this taxon", path=address)
    source = f"jaspar:{release[-4:]}"
    motifs = MotifSet((_from_jaspar(m, source) for m in found), source=address)
    logger.info("read %d motifs from %s (%s)", len(motifs), address, release)
    return motifs


def _fetch_jaspar_id(jdb, matrix_id: str, address: str, release: str):
    with _quiet():
        motif = jdb.fetch_motif_by_id(matrix_id)
    if motif is None:
        base = matrix_id.split(".")[0]
        versions = [f"{base}.{r[0]}" for r in jdb.conn.execute(
            "SELECT VERSION FROM MATRIX WHERE BASE_ID = ? ORDER BY VERSION", (base,))]
        hint = (f"{release} has {', '.join(versions)}; give one of those, or {base} for the latest"
                if versions else "check the ID on https://jaspar.elixir.no, or name another release "
                "(jaspar:2022/ID)")
        raise InputError(f"JASPAR matrix {matrix_id} not found in {release}", path=address, hint=hint)
    return motif


def _from_jaspar(m, source: str) -> Motif:
    counts = np.array([m.counts[b] for b in ALPHABET], dtype=np.float64).T  # (L, 4)
    totals = counts.sum(axis=1)
    if np.any(totals <= 0):
        raise InputError(f"JASPAR matrix {m.matrix_id} has a position without counts", path=source)
    alt = re.sub(r"\s+", "_", (m.name or "").strip())
    return Motif(m.matrix_id, alt, counts / totals[:, None], nsites=int(round(totals[0])), source=source)


def load_motifs(spec: str | os.PathLike) -> MotifSet:
    """Motifs from a MEME file path or a ``jaspar:`` address — the one entry point."""
    if isinstance(spec, str) and spec.strip().lower().startswith("jaspar:"):
        return read_jaspar(spec.strip())
    if Path(spec).exists():
        return read_meme(spec)
    raise InputError("motif source not found: neither an existing file nor a jaspar: address", path=spec,
                     hint=f"give a MEME motif file or a JASPAR address ({ADDRESS_HINT})")
