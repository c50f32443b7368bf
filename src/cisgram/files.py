"""Small file helpers shared by the readers and writers: text opening, compressed-file checks and
atomic writes.

Every reader opens text through :func:`open_text`, whose gzip/BGZF stream turns a truncated or
corrupt file (gzip's ``EOFError``, ``zlib.error``, ``gzip.BadGzipFile``) into one
:class:`~cisgram.errors.InputError` naming the file; a reader whose library decompresses the file
itself (pandas, htslib) wraps that reading in :func:`compressed_errors` or checks the file with
:func:`check_compressed`. Without this, gzip's ``EOFError`` reaches click, which prints a bare
"Aborted." and exits 1.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from cisgram.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
# The empty block that closes every BGZF file (SAM/BAM specification, section 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
# What Python's gzip and zlib raise on a truncated or corrupt stream.
COMPRESSION_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


def is_gzipped(path: str | os.PathLike) -> bool:
    """True when ``path`` starts with the gzip magic bytes (gzip or BGZF)."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def require_file(path: str | os.PathLike, what: str = "file") -> Path:
    """Return ``path`` as a Path, raising :class:`InputError` if it is missing or empty."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} not found", path=p, hint="check the path")
    if p.is_dir():
        raise InputError(f"expected a {what} but found a directory", path=p)
    if p.stat().st_size == 0:
        raise InputError(f"{what} is empty", path=p)
    return p


def has_bgzf_eof(path: str | os.PathLike) -> bool:
    """True when ``path`` ends with the BGZF end-of-file block (every complete bgzip file does)."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() < len(BGZF_EOF):
            return False
        fh.seek(-len(BGZF_EOF), os.SEEK_END)
        return fh.read() == BGZF_EOF


class CompressedFileError(InputError):
    """A gzip/BGZF input that is truncated or corrupt (:func:`corrupt_compressed`)."""


def corrupt_compressed(path: str | os.PathLike, error: BaseException | None = None) -> CompressedFileError:
    """The one error for a truncated or corrupt gzip/BGZF file (one line, naming ``path``)."""
    why = f" ({error})" if error is not None and str(error) else ""
    return CompressedFileError(f"truncated or corrupt compressed file{why}; test it with `gzip -t` and copy or "
                               "download it again", path=path)


@contextlib.contextmanager
def _decompression(path: Path) -> Iterator[None]:
    try:
        yield
    except COMPRESSION_ERRORS as e:
        raise corrupt_compressed(path, e) from None


def check_compressed(path: str | os.PathLike, *, chunk: int = 1 << 22) -> None:
    """Decompress the whole of a gzip/BGZF ``path`` (nothing kept) and raise
    :func:`corrupt_compressed` when it is truncated or corrupt; plain files pass. For readers
    whose library reads compressed files itself and fails without saying why (htslib)."""
    p = require_file(path)
    if not is_gzipped(p):
        return
    with gzip.open(p, "rb") as fh, _decompression(p):
        while fh.read(chunk):
            pass


@contextlib.contextmanager
def compressed_errors(path: str | os.PathLike) -> Iterator[None]:
    """Name a damaged ``path`` for a block that reads it (through :func:`open_text`, or a library
    that decompresses it itself, such as pandas).

    A decompression failure inside the block becomes :func:`corrupt_compressed`. Any other error
    raised while reading a gzip file is preceded by a check of the whole file
    (:func:`check_compressed`): gzip checks its CRC only at the end of a member, so a damaged
    deflate stream can first decode to garbage that a parser refuses, and the file, not the
    garbage, is what to name.
    """
    try:
        yield
    except COMPRESSION_ERRORS as e:
        raise corrupt_compressed(path, e) from None
    except CompressedFileError:
        raise
    except Exception:
        if is_gzipped(path):
            check_compressed(path)
        raise


class _CheckedGzipFile(gzip.GzipFile):
    """A GzipFile whose decompression failures are :class:`CompressedFileError` naming the file."""

    def __init__(self, path: Path):
        super().__init__(path, "rb")
        self.path = path

    def read(self, size=-1):
        with _decompression(self.path):
            return super().read(size)

    def read1(self, size=-1):
        with _decompression(self.path):
            return super().read1(size)

    def peek(self, n=0):
        with _decompression(self.path):
            return super().peek(n)

    def readline(self, size=-1):
        with _decompression(self.path):
            return super().readline(size)


class _CheckedText(io.TextIOWrapper):
    """Text of a gzip/BGZF file; an error leaving its ``with`` block is checked as in
    :func:`compressed_errors` (a damaged file is named before the garbage it decoded to)."""

    def __init__(self, path: Path):
        super().__init__(_CheckedGzipFile(path))
        self.path = path

    def __exit__(self, kind, value, traceback):
        self.close()
        if isinstance(value, Exception) and not isinstance(value, CompressedFileError):
            check_compressed(self.path)
        return False


def open_text(path: str | os.PathLike) -> IO[str]:
    """Open a plain or gzip/BGZF-compressed text file for reading (detected from its bytes).

    Line endings are translated (``\\r\\n`` reads as ``\\n``). Reading a truncated or corrupt
    compressed file raises :class:`CompressedFileError` naming it, and so does any error that
    leaves the ``with`` block of a damaged one (see :func:`compressed_errors`).
    """
    p = require_file(path)
    if is_gzipped(p):
        return _CheckedText(p)
    return open(p)


def _umask_mode() -> int:
    """0o666 less the process umask: the mode a plain ``open(path, "w")`` would give."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for writers that take a file name (pyBigWig,
    anndata, bgzip); rename it into place on success, remove it on failure."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _umask_mode())  # mkstemp creates 0600
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    A failure inside the ``with`` block removes the temporary file and leaves any existing
    ``path`` untouched, so no half-written output is ever left behind.
    """
    with atomic_path(path) as tmp, open(tmp, mode) as fh:
        yield fh


def write_json(path: str | os.PathLike, obj, *, indent: int = 1) -> None:
    """Write ``obj`` as JSON to ``path`` atomically; numpy scalars and other numbers that JSON does
    not know are written as floats."""
    import json

    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=indent, default=float)
