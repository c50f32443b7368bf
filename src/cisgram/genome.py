"""Reference genomes: FASTA (plain or bgzip, through pysam/htslib) and 2bit (py2bit).

A :class:`Genome` knows its chromosome sizes, checks region sets against them, and fetches
sequence as a string or as one-hot arrays.

Conventions
-----------
- Coordinates are 0-based, half-open (BED).
- One-hot is ``float32`` shaped ``(4, L)`` for one region and ``(N, 4, L)`` for a batch, rows in
  the order A, C, G, T. ``N`` (and any other IUPAC code) is all zeros. Soft-masked (lower-case)
  bases are read as upper case.
- Batch fetches read each chromosome once into a compact ``uint8`` code array (A=0, C=1, G=2,
  T=3, other=4) and slice from it. The decoded chromosomes are kept in a small LRU cache bounded
  by ``cache_bytes`` (one byte per base: chr1 is 249 MB), so random windows cost a slice and a
  comparison, not a file read. Single fetches below the cache go straight to the file.

Pitfalls
--------
- A gzip (not bgzip) FASTA cannot be indexed: recompress it with ``bgzip``.
- A truncated or corrupt bgzip FASTA is refused as such (:func:`cisgram.files.corrupt_compressed`):
  at opening when its BGZF end-of-file block is missing (the whole file is then decompressed
  once to tell a truncated file from one written by an old bgzip without that block), or when
  htslib fails to index or read it. A stale ``.fai``/``.gzi`` (the FASTA changed after indexing)
  gives an error that says so; delete them and they are rebuilt.
- A FASTA without ``.fai`` (and ``.gzi`` for bgzip) is indexed on first open; when its directory
  is read-only the index is built in a temporary directory instead.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import struct
import tempfile
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from cisgram.errors import InputError
from cisgram.files import check_compressed, has_bgzf_eof, is_gzipped, require_file

log = logging.getLogger(__name__)

# Byte -> code lookup: A/a=0, C/c=1, G/g=2, T/t=3, anything else (N, IUPAC) = 4.
_CODE = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate("ACGT"):
    _CODE[ord(_b)] = _i
    _CODE[ord(_b.lower())] = _i

_TWOBIT_MAGIC = (0x1A412743).to_bytes(4, "little")


def encode(seq: str | bytes) -> np.ndarray:
    """DNA string -> ``uint8`` codes (A=0, C=1, G=2, T=3, other=4), case-insensitive."""
    if isinstance(seq, str):
        seq = seq.encode("ascii", errors="replace")
    return _CODE[np.frombuffer(seq, dtype=np.uint8)]


def codes_to_onehot(codes: np.ndarray) -> np.ndarray:
    """Codes shaped ``(..., L)`` -> one-hot ``float32`` shaped ``(..., 4, L)``; code 4 -> zeros."""
    codes = np.asarray(codes)
    out = codes[..., None, :] == np.arange(4, dtype=np.uint8)[:, None]
    return out.astype(np.float32)


def one_hot(seq: str | bytes) -> np.ndarray:
    """DNA string -> one-hot ``(4, L)`` float32 (A, C, G, T; N = zeros)."""
    return codes_to_onehot(encode(seq))


def reverse_complement_onehot(x: np.ndarray) -> np.ndarray:
    """Reverse complement of one-hot ``(..., 4, L)``: flips both the base and the position axes."""
    return x[..., ::-1, ::-1]



def as_codes(X, *, length: int | None = None, recentre: bool = False) -> np.ndarray:
    """Sequences in any of the forms cisgram reads, as ``(N, L)`` uint8 base codes.

    ``X`` may be a list of DNA strings of one length, ``(N, L)`` integer codes (A C G T N =
    0..4) or ``(N, 4, L)`` one-hot (0/1, rows A, C, G, T, at most one 1 per position; all zeros
    is ``N``), as numpy arrays or torch tensors. Anything else is an :class:`InputError` that says
    what it got. With ``length`` the sequences must have that many bases; ``recentre`` cuts the
    central ``length`` bases out of longer ones instead (never pads shorter ones).
    """
    if isinstance(X, str | bytes):
        raise InputError("sequences must be a list of strings, not one string", hint="wrap it: [sequence]")
    if hasattr(X, "detach"):  # a torch tensor
        X = X.detach().cpu().numpy()
    if isinstance(X, list | tuple) and X and all(isinstance(s, str | bytes) for s in X):
        lengths = {len(s) for s in X}
        if len(lengths) != 1:
            raise InputError(f"sequences of {len(lengths)} different lengths ({min(lengths)}-{max(lengths)} bp)",
                             hint="give sequences of one length")
        codes = np.stack([encode(s) for s in X])
    else:
        arr = np.asarray(X)
        what = f"{arr.dtype} array of shape {arr.shape}"
        if arr.ndim == 2 and (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
            if arr.size and (arr.min() < 0 or arr.max() > 4):
                raise InputError(f"base codes must be 0..4 (A C G T N), got values {arr.min()}..{arr.max()} in a {what}")
            codes = arr.astype(np.uint8)
        elif arr.ndim == 3 and arr.shape[1] == 4:
            if arr.size and not np.isin(arr, (0, 1)).all():
                raise InputError(f"one-hot sequences must hold 0 and 1 only, got a {what} with other values",
                                 hint="probabilities (soft one-hot) cannot be read as bases")
            if arr.size and (arr.sum(axis=1) > 1).any():
                raise InputError(f"one-hot sequences have at most one 1 per position, got more in a {what}")
            codes = np.where(arr.any(axis=1), arr.argmax(axis=1), 4).astype(np.uint8)
        elif arr.ndim == 3 and arr.shape[2] == 4:
            raise InputError(f"one-hot sequences are (N, 4, L), got a {what}", hint="transpose it: X.transpose(0, 2, 1)")
        elif arr.ndim == 2 and np.issubdtype(arr.dtype, np.floating):
            raise InputError(f"got a {what}: base codes are integers (N, L) and one-hot is (N, 4, L)",
                             hint="one one-hot sequence needs a leading axis: X[None]")
        else:
            raise InputError(f"cannot read a {what} as sequences",
                             hint="give strings, (N, L) uint8 codes (A C G T N = 0..4) or (N, 4, L) one-hot")
    if length is not None and codes.shape[1] != int(length):
        L = codes.shape[1]
        if recentre and L > length:
            lo = (L - int(length)) // 2
            return np.ascontiguousarray(codes[:, lo: lo + int(length)])
        raise InputError(f"the model reads {int(length)} bp sequences, got {L} bp",
                         hint=f"give {int(length)} bp sequences" + (
                             f", or ask for the central {int(length)} bp (recentre=True)" if L > length else ""))
    return codes


def chromosome_hint(missing: Sequence[str], available: Sequence[str], theirs: str = "genome") -> str | None:
    """Suggest adding or removing the ``chr`` prefix when that maps ``missing`` names onto
    ``available`` ones (named ``theirs`` in the message); None when it would not help."""
    available = set(available)
    add = [c for c in missing if not c.startswith("chr") and "chr" + c in available]
    remove = [c for c in missing if c.startswith("chr") and c[3:] in available]
    if add:
        return (
            f"the {theirs} names its chromosomes with a 'chr' prefix: add 'chr' to the other side's "
            f"names (e.g. {add[0]} -> chr{add[0]})"
        )
    if remove:
        return (
            f"the {theirs} names its chromosomes without a 'chr' prefix: remove 'chr' from the other "
            f"side's names (e.g. {remove[0]} -> {remove[0][3:]})"
        )
    return None


def check_chromosomes(
    chroms: Sequence[str],
    sizes: dict[str, int],
    *,
    path: str | os.PathLike | None,
    against: str = "the genome",
) -> None:
    """Raise :class:`InputError` when any of ``chroms`` is absent from ``sizes``.

    The message lists a few names from both sides and suggests the ``chr`` prefix fix when it
    would work.
    """
    missing = sorted(set(chroms) - set(sizes))
    if not missing:
        return
    shown_missing = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
    known = list(sizes)
    shown_known = ", ".join(known[:5]) + (" …" if len(known) > 5 else "")
    raise InputError(
        f"{len(missing)} chromosome name(s) not in {against}: {shown_missing} "
        f"(it has: {shown_known})",
        path=path,
        hint=chromosome_hint(missing, known) or "use the same chromosome naming as the genome",
    )


class Genome:
    """A reference genome read from FASTA (plain or bgzip) or 2bit.

    Parameters
    ----------
    path
        ``.fa``/``.fasta`` (plain or bgzip, with or without ``.fai``/``.gzi``) or ``.2bit``.
    cache_bytes
        Upper bound on decoded chromosomes kept in memory for batch fetches (1 byte/base).

    Examples
    --------
    >>> g = Genome("chr22.fa.gz")
    >>> g.fetch("chr22", 20_000_000, 20_000_010)
    'GATCCTGAGA'
    >>> g.fetch_onehot_batch(["chr22"] * 2, [20_000_000, 30_000_000], [20_001_000, 30_001_000]).shape
    (2, 4, 1000)
    """

    def __init__(self, path: str | os.PathLike, *, cache_bytes: int = 2 << 30):
        self.path = require_file(path, "genome file")
        self.cache_bytes = int(cache_bytes)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._tmpdir: tempfile.TemporaryDirectory | None = None
        with open(self.path, "rb") as fh:
            magic = fh.read(4)
        if magic == _TWOBIT_MAGIC:
            self.format = "2bit"
            self._open_2bit()
        else:
            self.format = "fasta"
            self._open_fasta()
        if not self.sizes:
            raise InputError("the genome holds no sequences", path=self.path)

    # -- opening -------------------------------------------------------------------------------
    def _open_2bit(self) -> None:
        import py2bit

        _check_2bit(self.path)  # py2bit reads past the end of a truncated file and crashes
        try:
            self._tb = py2bit.open(str(self.path))
        except RuntimeError as e:
            raise InputError(f"not a readable 2bit file ({e})", path=self.path) from None
        self.sizes = {k: int(v) for k, v in self._tb.chroms().items()}

    def _open_fasta(self) -> None:
        import pysam

        with open(self.path, "rb") as fh:
            head = fh.read(1 << 16)
        gz = head[:2] == b"\x1f\x8b"
        if not gz and not head.lstrip().startswith(b">"):
            raise InputError(
                "not a FASTA or 2bit file (a FASTA starts with '>' and a 2bit with its magic number)",
                path=self.path,
            )
        if gz and not _is_bgzf(head):
            raise InputError(
                "this FASTA is gzip-compressed but not with bgzip, so it cannot be indexed",
                path=self.path,
                hint=f"recompress it: zcat {self.path} | bgzip > {self.path.with_suffix('')}.bgz.fa.gz",
            )
        if gz and not has_bgzf_eof(self.path):
            check_compressed(self.path)  # raises for a truncated file
            log.warning("%s has no BGZF end-of-file block (an old bgzip?) but decompresses whole", self.path)
        fasta_path = self.path
        fai = Path(str(self.path) + ".fai")
        gzi = Path(str(self.path) + ".gzi")
        needs_index = not fai.exists() or (gz and not gzi.exists())
        if needs_index and not os.access(self.path.parent, os.W_OK):
            # Index beside a link in a private temporary directory: the data stay read-only.
            self._tmpdir = tempfile.TemporaryDirectory(prefix="cisgram-faidx-")
            fasta_path = Path(self._tmpdir.name) / self.path.name
            os.symlink(self.path.resolve(), fasta_path)
            for idx in (fai, gzi):
                if idx.exists():
                    shutil.copy(idx, Path(self._tmpdir.name) / idx.name)
            log.info("indexing %s in %s (its directory is read-only)", self.path, self._tmpdir.name)
        try:
            with _htslib_quiet():
                self._fa = pysam.FastaFile(str(fasta_path))
        except (OSError, ValueError) as e:
            if gz:
                check_compressed(self.path)  # a corrupt block is the usual reason: say so
            raise InputError(
                f"cannot open or index this FASTA ({e})",
                path=self.path,
                hint="check that it is a valid FASTA; for a compressed one use bgzip and "
                "`samtools faidx` to build .fai and .gzi",
            ) from None
        self.sizes = dict(zip(self._fa.references, (int(n) for n in self._fa.lengths), strict=True))

    def __repr__(self) -> str:
        return f"Genome({str(self.path)!r}, {len(self.sizes)} sequences, {sum(self.sizes.values()):,} bp)"

    def __getstate__(self):  # pickling (data-loader workers) reopens the file
        return {"path": self.path, "cache_bytes": self.cache_bytes}

    def __setstate__(self, state):
        self.__init__(state["path"], cache_bytes=state["cache_bytes"])

    # -- checks --------------------------------------------------------------------------------
    @property
    def chroms(self) -> list[str]:
        return list(self.sizes)

    def check_intervals(
        self,
        chroms: Sequence[str],
        starts: Sequence[int],
        ends: Sequence[int],
        *,
        path: str | os.PathLike | None = None,
        lines: Sequence[int] | None = None,
    ) -> None:
        """Raise :class:`InputError` for unknown chromosomes, ``start >= end``, negative starts or
        intervals past a chromosome's end. ``lines`` gives each record's line in ``path``."""
        chroms = np.asarray(chroms, dtype=object)
        starts = np.asarray(starts, dtype=np.int64)
        ends = np.asarray(ends, dtype=np.int64)
        check_chromosomes(list(dict.fromkeys(chroms)), self.sizes, path=path, against=f"the genome {self.path.name}")

        def where(i: int) -> int | None:
            return None if lines is None else int(lines[i])

        bad = np.flatnonzero((starts < 0) | (starts >= ends))
        if bad.size:
            i = int(bad[0])
            raise InputError(
                f"{bad.size} interval(s) with start < 0 or start >= end, first {chroms[i]}:{starts[i]}-{ends[i]}",
                path=path,
                line=where(i),
                hint="coordinates are 0-based half-open (BED): start must be below end",
            )
        lengths = np.array([self.sizes[c] for c in chroms], dtype=np.int64) if chroms.size else np.zeros(0, np.int64)
        past = np.flatnonzero(ends > lengths)
        if past.size:
            i = int(past[0])
            raise InputError(
                f"{past.size} interval(s) end past the chromosome end, first {chroms[i]}:{starts[i]}-{ends[i]} "
                f"({chroms[i]} has {lengths[i]:,} bp in {self.path.name})",
                path=path,
                line=where(i),
                hint="check that the regions were made for this genome assembly, or clip them",
            )

    # -- fetching ------------------------------------------------------------------------------
    def _read(self, chrom: str, start: int, end: int) -> str:
        if self.format == "2bit":
            return self._tb.sequence(chrom, start, end)
        try:
            with _htslib_quiet():
                return self._fa.fetch(chrom, start, end)
        except (OSError, ValueError) as e:
            if is_gzipped(self.path):
                check_compressed(self.path)
            raise InputError(
                f"cannot read {chrom}:{start}-{end} from this FASTA ({e})",
                path=self.path,
                hint="its index (.fai, .gzi) may be older than the file: delete them and they are rebuilt",
            ) from None

    def _check_one(self, chrom: str, start: int, end: int) -> None:
        if chrom not in self.sizes:
            check_chromosomes([chrom], self.sizes, path=None, against=f"the genome {self.path.name}")
        if start < 0 or start >= end or end > self.sizes[chrom]:
            raise InputError(
                f"interval {chrom}:{start}-{end} is empty or outside {chrom} (0-{self.sizes[chrom]:,})",
                hint="coordinates are 0-based half-open (BED)",
            )

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Sequence of ``chrom:start-end`` as an upper-case string."""
        self._check_one(chrom, start, end)
        return self._read(chrom, int(start), int(end)).upper()

    def fetch_codes(self, chrom: str, start: int, end: int) -> np.ndarray:
        """``uint8`` codes (A=0, C=1, G=2, T=3, N=4) of ``chrom:start-end``, shape ``(L,)``."""
        self._check_one(chrom, start, end)
        if chrom in self._cache:
            self._cache.move_to_end(chrom)
            return self._cache[chrom][start:end].copy()
        return encode(self._read(chrom, int(start), int(end)))

    def fetch_onehot(self, chrom: str, start: int, end: int) -> np.ndarray:
        """One-hot ``(4, L)`` float32 of ``chrom:start-end``."""
        return codes_to_onehot(self.fetch_codes(chrom, start, end))

    def chromosome_codes(self, chrom: str) -> np.ndarray:
        """The whole chromosome as ``uint8`` codes, decoded once and kept in the LRU cache."""
        if chrom not in self.sizes:
            check_chromosomes([chrom], self.sizes, path=None, against=f"the genome {self.path.name}")
        if chrom in self._cache:
            self._cache.move_to_end(chrom)
            return self._cache[chrom]
        codes = encode(self._read(chrom, 0, self.sizes[chrom]))
        if codes.nbytes <= self.cache_bytes:
            self._cache[chrom] = codes
            while sum(a.nbytes for a in self._cache.values()) > self.cache_bytes:
                self._cache.popitem(last=False)
        return codes

    def fetch_codes_batch(
        self,
        chroms: Sequence[str],
        starts: Sequence[int],
        ends: Sequence[int],
        *,
        pad: bool = False,
    ) -> np.ndarray:
        """Codes for many equal-length intervals, shape ``(N, L)`` ``uint8``.

        With ``pad=True`` intervals may hang over a chromosome's ends; the overhang reads as N
        (code 4). Otherwise such intervals raise :class:`InputError`.
        """
        chroms = np.asarray(chroms, dtype=object)
        starts = np.asarray(starts, dtype=np.int64)
        ends = np.asarray(ends, dtype=np.int64)
        if not (chroms.shape == starts.shape == ends.shape):
            raise ValueError("chroms, starts and ends must have the same length")
        n = starts.size
        if n == 0:
            return np.zeros((0, 0), dtype=np.uint8)
        widths = ends - starts
        if np.any(widths != widths[0]) or widths[0] <= 0:
            raise InputError(
                "batch fetch needs intervals of one positive width "
                f"(found widths {int(widths.min())} to {int(widths.max())})",
                hint="resize the regions to a fixed width first (intervals.resize)",
            )
        width = int(widths[0])
        if pad:
            check_chromosomes(list(dict.fromkeys(chroms)), self.sizes, path=None, against=f"the genome {self.path.name}")
        else:
            self.check_intervals(chroms, starts, ends)
        out = np.full((n, width), 4, dtype=np.uint8)
        for chrom in dict.fromkeys(chroms):
            idx = np.flatnonzero(chroms == chrom)
            codes = self.chromosome_codes(chrom)
            s = starts[idx]
            ok = (s >= 0) & (s + width <= codes.size)
            if ok.any():  # a strided view of all windows: one gather, no index arrays
                windows = np.lib.stride_tricks.sliding_window_view(codes, width)
                out[idx[ok]] = windows[s[ok]]
            for i, st in zip(idx[~ok], s[~ok], strict=True):  # overhanging windows (pad=True)
                lo, hi = max(st, 0), min(st + width, codes.size)
                if lo < hi:
                    out[i, lo - st : hi - st] = codes[lo:hi]
        return out

    def fetch_onehot_batch(
        self,
        chroms: Sequence[str],
        starts: Sequence[int],
        ends: Sequence[int],
        *,
        pad: bool = False,
    ) -> np.ndarray:
        """One-hot for many equal-length intervals, ``(N, 4, L)`` float32 (A, C, G, T; N = 0)."""
        return codes_to_onehot(self.fetch_codes_batch(chroms, starts, ends, pad=pad))

    def close(self) -> None:
        if self.format == "2bit":
            self._tb.close()
        else:
            self._fa.close()
        self._cache.clear()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_2bit(path: Path) -> None:
    """Raise :class:`InputError` when a 2bit file is shorter than its own index says (truncated)
    or its index is unreadable: every sequence record (size, N and mask blocks, packed bases)
    must end inside the file. Reads the headers only (one seek per sequence)."""
    size = path.stat().st_size

    def bad(why: str) -> InputError:
        return InputError(f"truncated or corrupt 2bit file ({why}); copy or download it again", path=path)

    with open(path, "rb") as fh:
        head = fh.read(16)
        if len(head) < 16:
            raise bad(f"{size} bytes, shorter than the 16-byte header")
        version, count = struct.unpack("<II", head[4:12])
        width = 8 if version == 1 else 4  # version 1 files hold 64-bit offsets
        index = io.BytesIO(fh.read(count * (256 + width)))  # enough for the longest names
        offsets = []
        for _ in range(count):
            n = index.read(1)
            if not n:
                raise bad(f"the index of {count:,} sequences ends early")
            name = index.read(n[0])
            raw = index.read(width)
            if len(name) < n[0] or len(raw) < width:
                raise bad(f"the index of {count:,} sequences ends early")
            offsets.append((name.decode(errors="replace"), int.from_bytes(raw, "little")))
        for name, offset in offsets:
            fh.seek(offset)
            fields = fh.read(8)
            if len(fields) < 8:
                raise bad(f"sequence {name} starts at byte {offset:,}, past the end of the {size:,}-byte file")
            dna, n_blocks = struct.unpack("<II", fields)
            fh.seek(8 * n_blocks, os.SEEK_CUR)
            masks = fh.read(4)
            if len(masks) < 4:
                raise bad(f"sequence {name}'s blocks run past the end of the {size:,}-byte file")
            end = fh.tell() + 8 * struct.unpack("<I", masks)[0] + 4 + (dna + 3) // 4
            if end > size:
                raise bad(f"sequence {name} needs bytes up to {end:,} but the file has {size:,}")


@contextlib.contextmanager
def _htslib_quiet() -> Iterator[None]:
    """Silence htslib's own stderr messages (its errors become InputErrors here); restored after."""
    import pysam

    previous = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(previous)


def _is_bgzf(head: bytes) -> bool:
    """BGZF blocks are gzip members with the FEXTRA flag and a 'BC' subfield."""
    return len(head) >= 18 and head[3] & 4 and head[12:14] == b"BC"


def read_chrom_sizes(path: str | os.PathLike) -> dict[str, int]:
    """Read a two-column ``chrom<TAB>size`` file (UCSC ``.chrom.sizes`` or a ``.fai``)."""
    p = require_file(path, "chromosome sizes file")
    sizes: dict[str, int] = {}
    with open(p) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t") if "\t" in line else line.split()
            try:
                sizes[fields[0]] = int(fields[1])
            except (IndexError, ValueError):
                raise InputError(
                    "expected 'chrom<TAB>size' with an integer size", path=p, line=n
                ) from None
    if not sizes:
        raise InputError("no chromosome sizes found", path=p)
    return sizes


def open_genome(path, **kwargs):
    """Open a genome file (FASTA, bgzip FASTA or 2bit), see :class:`Genome`; a :class:`Genome`
    (or None) is passed through as it is."""
    return path if path is None or isinstance(path, Genome) else Genome(path, **kwargs)


__all__ = [
    "as_codes",
    "Genome",
    "check_chromosomes",
    "chromosome_hint",
    "codes_to_onehot",
    "encode",
    "is_gzipped",
    "one_hot",
    "open_genome",
    "read_chrom_sizes",
    "reverse_complement_onehot",
]

