"""dv's exceptions. Each also derives from the built-in exception code already catches for its kind, so that
pandas, fsspec and DuckDB treat a missing path as missing (``FileNotFoundError``)."""


class DvError(Exception):
    """Any error dv reports. The message ends with a ``hint:`` line when dv has one."""


class NotFound(DvError, FileNotFoundError):
    """No such path, dataset, revision or repository."""


class RemoteError(DvError, OSError):
    """The remote could not be read, or lacks what was asked."""


class CorruptError(DvError, OSError):
    """Stored data failed its check (its id or its size): no byte of it is returned."""


class UsageError(DvError, ValueError):
    """A bad argument: a path outside the repository, a folder opened as a file, an unknown column."""
