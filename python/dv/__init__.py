"""Read any version of any dv dataset from Python, without a checkout.

>>> import dv
>>> with dv.open("data/users.csv", rev="v1") as f:      # a file at a Git revision
...     header = f.readline()
>>> dv.read_table("data/users.parquet", rev="HEAD~1")    # a pyarrow.Table
>>> import pandas as pd
>>> pd.read_csv("dv://data/users.csv", storage_options={"rev": "v1"})

Paths are relative to the repository's root. ``repo`` is a path or a Git URL (default: the repository holding
the current folder); ``rev`` is a branch, tag or commit (default: the work tree's pointer files). Data comes
from the local cache when it is there, else straight from the remote by ranged reads of only the chunks a read
touches; fetched chunks are kept in the cache unless ``cache=False``. Every chunk is checked against its id
before its bytes are returned. Nothing is written to the work tree. See docs/python.md.
"""

from __future__ import annotations

import atexit
import io
import os
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from . import _dv
from ._errors import CorruptError, DvError, NotFound, RemoteError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow

__all__ = [
    "open",
    "read",
    "ls",
    "stat",
    "read_table",
    "diff_table",
    "Version",
    "Entry",
    "DvFile",
    "DvError",
    "NotFound",
    "RemoteError",
    "CorruptError",
    "UsageError",
]
__version__ = _dv.__version__

#: Bytes :class:`DvFile` buffers per read from the chunks (larger reads go straight into the caller's buffer).
BUFFER_SIZE = 64 * 1024


@dataclass(frozen=True)
class Entry:
    """One entry of :func:`ls`: a file, a folder, or a dataset."""

    name: str
    """Repository path."""
    size: int
    """Bytes (of every file below, for a folder or a dataset)."""
    kind: str
    """``"file"``, ``"folder"`` (inside a tracked folder, or on the way to datasets) or ``"dataset"``."""
    type: str
    """``"file"`` or ``"directory"``, as fsspec names them."""
    files: int
    """Files (1 for a file)."""
    id: Optional[str]
    """The content id (a file's, a tracked folder's tree), hex; None for a folder that only holds datasets."""


class _Raw(io.RawIOBase):
    """The raw stream under :class:`DvFile`: reads go straight from the chunks into the caller's buffer."""

    def __init__(self, native: _dv.File):
        super().__init__()
        self._f = native

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        return self._f.readinto(b)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        super().close()

    @property
    def name(self) -> str:
        return self._f.path


class DvFile(io.BufferedReader):
    """A file of a dataset version opened by :func:`open`: seekable, read-only, a context manager; it pickles
    (reopened at the same position, on the same commit), so it can go to another process."""

    def __init__(self, native: _dv.File):
        super().__init__(_Raw(native), buffer_size=BUFFER_SIZE)
        self._native = native

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        return self._native.size

    @property
    def id(self) -> str:
        """The file's content id."""
        return self._native.id

    @property
    def version(self) -> Version:
        return self._native.version

    def __reduce__(self):
        if self.closed:
            raise ValueError("cannot pickle a closed file")
        return (_reopen, (self._native.version, self._native.path, self.tell()))

    def __repr__(self) -> str:
        return f"<dv.DvFile {self._native.path!r} of {self._native.version!r}>"


def _reopen(version: "Version", path: str, pos: int) -> DvFile:
    f = DvFile(version.open_file(path))
    f.seek(pos)
    return f


class DvTextFile(io.TextIOWrapper):
    """A file of a dataset version opened in text mode; it pickles like :class:`DvFile`."""

    def __reduce__(self):
        if self.closed:
            raise ValueError("cannot pickle a closed file")
        raw = self.buffer._native
        return (_reopen_text, (raw.version, raw.path, self.encoding, self.errors, self.tell()))


def _reopen_text(version: "Version", path: str, encoding: str, errors: str, cookie: int) -> DvTextFile:
    f = DvTextFile(DvFile(version.open_file(path)), encoding=encoding, errors=errors)
    f.seek(cookie)
    return f


# Chunks fetched from a remote wait in a pack that is sealed when a file is closed, or when a version is
# dropped. A process may end without either: the interpreter's exit, or a multiprocessing worker (a PyTorch
# DataLoader's), which ends with os._exit after running multiprocessing's finalizers. Both seal what every
# live version holds.
_live: "weakref.WeakSet[Version]" = weakref.WeakSet()


def _flush_all() -> None:
    for v in list(_live):
        try:
            v.flush()
        except Exception:  # noqa: BLE001 (at exit: what could not be kept is fetched again next time)
            pass


def _in_child() -> None:
    # multiprocessing clears its finalizers in a new worker, then runs these after-fork hooks.
    from multiprocessing import util

    util.Finalize(None, _flush_all, exitpriority=100)


atexit.register(_flush_all)
if hasattr(os, "register_at_fork"):
    import multiprocessing.util as _mp_util

    class _Hook:  # a weak-referenceable owner for the after-fork hook
        pass

    _hook = _Hook()
    _mp_util.register_after_fork(_hook, lambda _: _in_child())


class Version(_dv.Version):
    """One repository at one revision: ``Version(repo=None, rev=None, cache=True)``, resolved once (a branch
    that moves later is not followed). Cheaper than the module's functions for many reads: it keeps the
    repository, the remote and what it learnt of the remote open. Safe to share between threads; it pickles
    (pinned to its commit) and survives ``fork``.

    - ``open(path, mode="rb", encoding=None, errors=None)``: as :func:`dv.open`.
    - ``ls(path="")``, ``stat(path)``, ``read_table(path, columns=None)``, ``diff_table(other, path)``.
    - ``stats()``: chunks read from the cache, and chunks, bytes and ranges fetched from the remote.
    - ``commit``, ``rev``, ``repo``, ``cache``: what it reads.
    """

    def __init__(self, *args, **kwargs):
        _live.add(self)

    def open(self, path: str, mode: str = "rb", encoding: Optional[str] = None, errors: Optional[str] = None):
        if mode not in ("rb", "r", "rt", "br"):
            raise UsageError(f"mode {mode!r}: dv opens files for reading only ('rb' or 'r')")
        f = DvFile(self.open_file(path))
        if "b" in mode:
            if encoding is not None:
                raise UsageError("binary mode does not take an encoding")
            return f
        return DvTextFile(f, encoding=encoding or "utf-8", errors=errors)

    def read(self, path: str) -> bytes:
        f = self.open_file(path)
        try:
            return f.read()
        finally:
            f.close()

    def ls(self, path: str = "") -> list:
        return [Entry(**e) for e in super().ls(path)]


def _version(rev: Optional[str], repo: Optional[str], cache: bool = True) -> Version:
    return Version(repo, rev, cache)


def open(  # noqa: A001 (as dvc.api.open and the built-in open name it)
    path: str,
    rev: Optional[str] = None,
    repo: Optional[str] = None,
    mode: str = "rb",
    encoding: Optional[str] = None,
    errors: Optional[str] = None,
    cache: bool = True,
):
    """Opens the file at ``path`` (relative to the repository root) of the dataset version at ``rev``.

    ``mode`` is ``"rb"`` (a seekable :class:`DvFile`) or ``"r"`` (text, decoded with ``encoding``). Reads come
    from the local cache, else from the remote, fetching only the chunks they touch (and, while they go
    forward, a growing read-ahead). Raises :class:`NotFound` for a path or revision that does not exist.

    >>> with dv.open("data/users.csv", rev="v1", mode="r") as f:
    ...     for line in f: ...
    """
    return _version(rev, repo, cache).open(path, mode, encoding, errors)


def read(path: str, rev: Optional[str] = None, repo: Optional[str] = None, cache: bool = True) -> bytes:
    """The bytes of the file at ``path`` in the version at ``rev``."""
    return _version(rev, repo, cache).read(path)


def ls(path: str = "", rev: Optional[str] = None, repo: Optional[str] = None) -> list[Entry]:
    """The entries directly in folder ``path`` (default: the repository's root) of the version at ``rev``:
    datasets, the files and folders of a tracked folder, and folders on the way to datasets. Reads pointer
    files and trees only, no file data."""
    return _version(rev, repo).ls(path)


def stat(path: str, rev: Optional[str] = None, repo: Optional[str] = None) -> dict:
    """What is at ``path``: ``{"name", "size", "type": "file" | "directory", "id"}``."""
    return _version(rev, repo).stat(path)


def read_table(
    path: str,
    rev: Optional[str] = None,
    repo: Optional[str] = None,
    columns: Optional[list[str]] = None,
    cache: bool = True,
) -> "pyarrow.Table":
    """The CSV, TSV or Parquet file at ``path`` in the version at ``rev`` as a ``pyarrow.Table``, read from the
    file's bytes by Arrow in dv's native code (Parquet keeps its types; CSV types are inferred) and handed over
    through the Arrow C data interface. ``columns`` keeps only those columns."""
    return _version(rev, repo, cache).read_table(path, columns)


def diff_table(path: str, rev_a: str, rev_b: Optional[str] = None, repo: Optional[str] = None) -> "pyarrow.Table":
    """The row diff of the table dataset at ``path`` (tracked with ``dv add --key``) from ``rev_a`` to
    ``rev_b`` (default: the work tree's pointer), in the shape of ``dv diff --format csv``: ``change``
    (added, deleted, modified), the key columns, then ``column``, ``old``, ``new``: one row per changed cell
    of a modified row, and one per added or deleted row with those three null."""
    return _version(rev_a, repo).diff_table(_version(rev_b, repo), path)
