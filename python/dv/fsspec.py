"""The ``dv://`` fsspec filesystem: any library that takes fsspec URLs reads dataset versions.

>>> pandas.read_csv("dv://data/users.csv", storage_options={"rev": "v1"})
>>> pandas.read_parquet("dv://data/events.parquet?rev=v2")
>>> fs = fsspec.filesystem("dv", rev="v1", repo="/path/to/repo")
>>> duckdb.register_filesystem(fs); duckdb.sql("select * from read_csv('dv://data/users.csv')")

A URL is ``dv://PATH``, where PATH is relative to the repository's root. The revision and the repository come
from the storage options (``rev``, ``repo``, ``cache``) or from a query string on the URL:
``dv://data/users.csv?rev=v1&repo=https://example.com/team/data.git`` (percent-encode ``&``, ``#`` and ``?``
inside a value). Options given both ways must agree. Registered under the ``dv`` protocol through the
``fsspec.specs`` entry point, so no import is needed.
"""

from __future__ import annotations

from typing import Optional
from urllib.parse import parse_qsl

from fsspec.spec import AbstractFileSystem
from fsspec.utils import stringify_path

from . import UsageError, Version, _dv

_OPTIONS = ("rev", "repo", "cache")


def _split(path: str) -> tuple[str, dict]:
    """``dv://PATH?QUERY`` as (PATH, options). Only a URL has a query: a plain path may hold ``?``."""
    path = stringify_path(path)
    if not path.startswith("dv://"):
        return path.strip("/"), {}
    path, _, query = path[len("dv://"):].partition("?")
    options: dict = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        if k not in _OPTIONS:
            raise UsageError(f"dv:// URL option {k!r}: the options are {', '.join(_OPTIONS)}")
        options[k] = v.lower() not in ("0", "false", "no") if k == "cache" else v
    return path.strip("/"), options


class DvFileSystem(AbstractFileSystem):
    """Read-only access to one dataset version (``rev``, default the work tree's pointers) of one repository
    (``repo``, default the one holding the current folder)."""

    protocol = "dv"
    root_marker = ""
    # Not cached by fsspec: its cache keys on the options alone, and without `repo` the same options name
    # another repository in another folder. A new instance opens the repository again (milliseconds).
    cachable = False

    def __init__(self, rev: Optional[str] = None, repo: Optional[str] = None, cache: bool = True, **kwargs):
        super().__init__(rev=rev, repo=repo, cache=cache, **kwargs)
        self.rev, self.repo = rev, repo
        self.version = Version(repo, rev, cache)

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return _split(path)[0]

    @staticmethod
    def _get_kwargs_from_urls(path):
        return _split(path)[1]

    def __reduce__(self):
        # Pinned to the commit read, so another process reads the same version even if the branch moved.
        options = dict(self.storage_options)
        if self.version.commit is not None:
            options["rev"] = self.version.commit
        return _make, (options,)

    def info(self, path, **kwargs):
        return self.version.stat(self._strip_protocol(path))

    def ls(self, path, detail=True, **kwargs):
        path = self._strip_protocol(path)
        st = self.version.stat(path)
        if st["type"] == "file":
            entries = [st]
        else:
            entries = _dv.Version.ls(self.version, path)
            for e in entries:
                e.pop("kind", None)
                e.pop("files", None)
        return entries if detail else [e["name"] for e in entries]

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, size=None, **kwargs):
        if "r" not in mode or "+" in mode:
            raise UsageError(f"mode {mode!r}: dv:// is read-only")
        return self.version.open(self._strip_protocol(path))

    def cat_file(self, path, start=None, end=None, **kwargs):
        f = self.version.open_file(self._strip_protocol(path))
        try:
            size = f.size
            start = 0 if start is None else (start + size if start < 0 else start)
            end = size if end is None else (end + size if end < 0 else end)
            return f.pread(max(start, 0), max(min(end, size) - max(start, 0), 0))
        finally:
            f.close()

    def ukey(self, path):
        return self.info(path).get("id") or path

    def modified(self, path):
        """dv keeps no times for files: a time made from the content id stands in (the same content, the
        same time; new content, another), which is what readers that cache by time (DuckDB) need."""
        import datetime

        ident = self.info(path).get("id") or "0"
        return datetime.datetime.fromtimestamp(int(ident[:8], 16), tz=datetime.timezone.utc)

    created = modified

    def _read_only(self, *args, **kwargs):
        raise UsageError("dv:// is read-only: change data in a work tree and `dv add` it")

    mkdir = makedirs = rm = _rm = rmdir = touch = pipe_file = put_file = cp_file = mv = _read_only


def _make(options: dict) -> DvFileSystem:
    return DvFileSystem(**options)
