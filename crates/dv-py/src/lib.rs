//! `dv._dv`: the native half of dv's Python package (python/dv). It wraps dv-core's
//! [`VersionReader`](dv_core::ops::read::VersionReader) and nothing more: the Pythonic API (`dv.open`,
//! `dv.read`, `dv.ls`, `dv.read_table`, `dv.diff_table`, the fsspec filesystem, the exceptions) is written in
//! Python on top of the two classes here.
//!
//! - [`Version`]: one repository at one revision (or its work tree's pointers).
//! - [`File`]: one file of a version, read by byte ranges into the caller's buffers.
//!
//! Every call that reads a disk, a remote or hashes releases the GIL. Both classes are safe to share between
//! threads. They survive `fork` (a PyTorch DataLoader's workers): each call compares the process id with the
//! one the version's reader was opened in, and a child opens its own (the remote's runtime, the state
//! database), leaving the parent's handles untouched (leaked: dropping them in the child would wait for
//! threads that only exist in the parent). Both pickle, by what they were opened from.

use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_pyarrow::{PyArrowType, Table};
use arrow_schema::{DataType, Field, Schema};
use dv_core::ops::read::{FileReader, VersionReader};
use dv_core::registry;
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

pyo3::import_exception!(dv._errors, DvError);
pyo3::import_exception!(dv._errors, NotFound);
pyo3::import_exception!(dv._errors, RemoteError);
pyo3::import_exception!(dv._errors, CorruptError);
pyo3::import_exception!(dv._errors, UsageError);

/// dv's error as the Python exception of its kind, with its hint on a line of its own.
fn py_err(e: dv_core::Error) -> PyErr {
    use dv_core::Error as E;
    let mut message = dv_core::redact::redact(&e.to_string());
    for cause in e.causes() {
        message.push_str(&format!("\n  caused by: {cause}"));
    }
    if let Some(hint) = e.hint() {
        message.push_str(&format!("\nhint: {hint}"));
    }
    match e {
        E::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            NotFound::new_err(message)
        }
        E::NotFound(_)
        | E::NotTracked(_)
        | E::NotTrackedAt { .. }
        | E::NotInVersion { .. }
        | E::NotAGitRepo(_)
        | E::NotInitialized(_)
        | E::BadRevision { .. } => NotFound::new_err(message),
        E::Remote { .. } | E::RemoteFailed { .. } | E::NoRemote | E::UnknownRemote(_) => {
            RemoteError::new_err(message)
        }
        E::Corrupt { .. } | E::SizeMismatch { .. } | E::KindMismatch { .. } => {
            CorruptError::new_err(message)
        }
        E::MissingObjects { .. } => NotFound::new_err(message),
        E::Usage { .. } | E::BadPath { .. } => UsageError::new_err(message),
        _ => DvError::new_err(message),
    }
}

type DvResult<T> = dv_core::Result<T>;

/// What a version was opened from: enough to open it again in a child process or after unpickling.
#[derive(Clone)]
struct Origin {
    /// The repository: an absolute path, or a Git URL.
    repo: String,
    /// The commit id read (`None`: the work tree's pointers).
    commit: Option<String>,
    /// The revision as the user named it, for messages.
    rev: Option<String>,
    keep_chunks: bool,
}

impl Origin {
    /// Opens the version. A repository named by a path on this machine is read as it is there: its work
    /// tree's pointer files (without `rev`), its own cache and its remotes as configured now, as from inside
    /// it. A URL is read as `dv ls` and `dv get` read one: through a mirror, with the settings committed at
    /// the revision.
    fn open(&self) -> DvResult<VersionReader> {
        let settings = dv_core::Settings::from_env();
        let cwd = std::env::current_dir().map_err(|e| dv_core::Error::io(".", e))?;
        let rev = self.commit.as_deref().or(self.rev.as_deref());
        let at = if registry::is_url(&self.repo) {
            registry::open_source(&self.repo, rev, &cwd, &settings, here(&cwd, &settings)?)?
        } else {
            let base = cwd.join(&self.repo);
            if !base.is_dir() {
                return Err(dv_core::Error::NotFound(base));
            }
            match dv_core::repo::Repo::discover_with(&base, &settings) {
                Ok(mut repo) => {
                    repo.lock_wait.command = "python".into();
                    registry::open_source(".", rev, &base, &settings, Some(repo))?
                }
                // A Git repository without dv set up here: read as another repository's commit.
                Err(dv_core::Error::NotInitialized(_)) => {
                    registry::open_source(&self.repo, rev, &cwd, &settings, here(&cwd, &settings)?)?
                }
                Err(e) => return Err(e),
            }
        };
        VersionReader::open(at, self.keep_chunks)
    }
}

/// The repository holding folder `dir`, if any (`None` outside a Git repository, or in one without dv).
fn here(
    dir: &std::path::Path,
    settings: &dv_core::Settings,
) -> DvResult<Option<dv_core::repo::Repo>> {
    match dv_core::repo::Repo::discover_with(dir, settings) {
        Ok(mut r) => {
            r.lock_wait.command = "python".into();
            Ok(Some(r))
        }
        Err(dv_core::Error::NotAGitRepo(_) | dv_core::Error::NotInitialized(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The reader of this process, and the process it belongs to.
struct Opened {
    pid: u32,
    reader: std::mem::ManuallyDrop<Arc<VersionReader>>,
}

impl Drop for Opened {
    fn drop(&mut self) {
        // In a forked child, the parent's reader is left alone: dropping its remote's runtime would wait for
        // threads that only exist in the parent (a version the child never read through, freed there).
        if self.pid == std::process::id() {
            // SAFETY: dropped once, here, and never used again.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.reader) };
        }
    }
}

/// One repository at one revision: `Version(repo=None, rev=None, cache=True)`. `repo` is a path or a Git URL
/// (default: the repository holding the current folder); `rev` a branch, tag or commit (default: the work
/// tree's pointer files for the current repository, `HEAD` for another); with `cache`, chunks fetched from the
/// remote are kept in the local cache.
#[pyclass(module = "dv._dv", frozen, subclass)]
struct Version {
    origin: Origin,
    opened: Mutex<Opened>,
}

impl Version {
    fn from_origin(origin: Origin) -> DvResult<Version> {
        let reader = origin.open()?;
        let mut origin = origin;
        // Pinned: a child process or an unpickled copy reads the same commit, even if the branch moves.
        if let Some(c) = reader.commit() {
            origin.commit = Some(c.id.to_string());
        }
        if !registry::is_url(&origin.repo) {
            origin.repo = reader.root().display().to_string();
        }
        Ok(Version {
            origin,
            opened: Mutex::new(Opened {
                pid: std::process::id(),
                reader: std::mem::ManuallyDrop::new(Arc::new(reader)),
            }),
        })
    }

    /// This process's reader: opened anew in a forked child.
    fn reader(&self) -> DvResult<Arc<VersionReader>> {
        let mut g: MutexGuard<'_, Opened> = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        let pid = std::process::id();
        if g.pid != pid {
            // The parent's remote runtime and database connection are not usable here, and dropping them would
            // wait for the parent's threads: the old value is overwritten without being dropped (ManuallyDrop).
            g.reader = std::mem::ManuallyDrop::new(Arc::new(self.origin.open()?));
            g.pid = pid;
        }
        Ok(Arc::clone(&g.reader))
    }
}

#[pymethods]
impl Version {
    #[new]
    #[pyo3(signature = (repo=None, rev=None, cache=true))]
    fn new(
        py: Python<'_>,
        repo: Option<String>,
        rev: Option<String>,
        cache: bool,
    ) -> PyResult<Version> {
        let origin = Origin {
            repo: repo.unwrap_or_else(|| ".".into()),
            commit: None,
            rev,
            keep_chunks: cache,
        };
        py.detach(|| Version::from_origin(origin)).map_err(py_err)
    }

    /// The commit id read, or None for the work tree's pointers.
    #[getter]
    fn commit(&self) -> Option<String> {
        self.origin.commit.clone()
    }

    /// The repository: its root folder, or its URL.
    #[getter]
    fn repo(&self) -> String {
        self.origin.repo.clone()
    }

    #[getter]
    fn rev(&self) -> Option<String> {
        self.origin.rev.clone()
    }

    #[getter]
    fn cache(&self) -> bool {
        self.origin.keep_chunks
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let o = &slf.get().origin;
        let rev = o.commit.clone().or_else(|| o.rev.clone());
        let args = (o.repo.clone(), rev, o.keep_chunks).into_pyobject(py)?;
        (slf.get_type(), args).into_pyobject(py)
    }

    fn __repr__(&self) -> String {
        format!(
            "Version(repo={:?}, rev={}, commit={})",
            self.origin.repo,
            self.origin
                .rev
                .as_deref()
                .map_or("None".into(), |r| format!("{r:?}")),
            self.origin
                .commit
                .as_deref()
                .map_or("None".into(), |c| format!("{c:?}")),
        )
    }

    /// What is at `path`: a dict with `name`, `size`, `type` ("file" or "directory") and `id`.
    fn stat<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyDict>> {
        let path = repo_path(path)?;
        let st = py.detach(|| self.reader()?.stat(&path)).map_err(py_err)?;
        let d = PyDict::new(py);
        d.set_item("name", st.path)?;
        d.set_item("size", st.size)?;
        d.set_item("type", if st.folder { "directory" } else { "file" })?;
        d.set_item("id", st.id)?;
        Ok(d)
    }

    /// The entries directly in folder `path`: dicts with `name`, `size`, `type`, `kind` ("file", "folder" or
    /// "dataset"), `files` and `id`. Only pointer files and trees are read.
    fn ls<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyList>> {
        let path = repo_path(path)?;
        let entries = py.detach(|| self.reader()?.ls(&path)).map_err(py_err)?;
        let out = PyList::empty(py);
        for e in entries {
            let d = PyDict::new(py);
            d.set_item("name", &e.path)?;
            d.set_item("size", e.size)?;
            d.set_item("type", if e.folder { "directory" } else { "file" })?;
            d.set_item("kind", e.kind.as_str())?;
            d.set_item("files", e.files)?;
            d.set_item("id", (!e.id.is_empty()).then_some(e.id))?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// Opens the file at `path` for reading (the raw file: `dv.Version.open` wraps it in a buffered reader).
    fn open_file(slf: Bound<'_, Self>, path: &str) -> PyResult<File> {
        let path = repo_path(path)?;
        let py = slf.py();
        let me = slf.get();
        let reader = py
            .detach(|| me.reader()?.open_file(&path))
            .map_err(py_err)?;
        Ok(File {
            version: slf.clone().unbind(),
            path,
            size: reader.size(),
            id: reader.id().to_hex(),
            state: Mutex::new(FileState {
                reader,
                pos: 0,
                closed: false,
            }),
        })
    }

    /// The table file at `path` (CSV, TSV or Parquet) as a `pyarrow.Table`, read from its bytes by Arrow
    /// (Parquet with its own types, CSV with inferred ones); only `columns` when given.
    #[pyo3(signature = (path, columns=None))]
    fn read_table(
        &self,
        py: Python<'_>,
        path: &str,
        columns: Option<Vec<String>>,
    ) -> PyResult<PyArrowType<Table>> {
        let path = repo_path(path)?;
        let (schema, batches) = py
            .detach(|| -> DvResult<_> {
                let reader = self.reader()?;
                let mut file = reader.open_file(&path)?;
                // Grown as the bytes arrive, not sized from the pointer: a version claiming a size it does not
                // hold fails on its chunks before it can ask for all that memory.
                let mut data = Vec::new();
                let mut buf = vec![0u8; 8 << 20];
                loop {
                    let n = file.read_at(&reader, data.len() as u64, &mut buf)?;
                    if n == 0 {
                        break;
                    }
                    data.extend_from_slice(&buf[..n]);
                }
                reader.flush()?;
                dv_core::table::batches::read_batches(
                    &path,
                    bytes::Bytes::from(data),
                    columns.as_deref(),
                )
            })
            .map_err(py_err)?;
        Table::try_new(batches, schema)
            .map(PyArrowType)
            .map_err(|e| DvError::new_err(e.to_string()))
    }

    /// The row diff of the table dataset at `path` from this version to `other`, as a `pyarrow.Table` in the
    /// shape of `dv diff --format csv`: `change`, the key columns, then `column`, `old`, `new` (one row per
    /// changed cell of a modified row; an added or deleted row once, with those three null).
    fn diff_table(
        &self,
        py: Python<'_>,
        other: &Version,
        path: &str,
    ) -> PyResult<PyArrowType<Table>> {
        let path = repo_path(path)?;
        let diff = py
            .detach(|| {
                let (a, b) = (self.reader()?, other.reader()?);
                a.table_diff(&b, &path, &Default::default())
            })
            .map_err(py_err)?;
        diff_batch(&diff)
            .and_then(|b| Table::try_new(vec![b.clone()], b.schema()))
            .map(PyArrowType)
            .map_err(|e| DvError::new_err(e.to_string()))
    }

    /// What this process has read through this version: chunks from the cache, and chunks, bytes and ranges
    /// fetched from the remote.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.reader().map_err(py_err)?.stats();
        let d = PyDict::new(py);
        d.set_item("chunks_local", s.chunks_local)?;
        d.set_item("chunks_fetched", s.chunks_fetched)?;
        d.set_item("bytes_fetched", s.bytes_fetched)?;
        d.set_item("ranges_fetched", s.ranges_fetched)?;
        Ok(d)
    }

    /// Keeps the chunks fetched so far in the cache now (also done when a file is closed). In a process
    /// that has not read through this version (a forked child), there is nothing to keep.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let reader = {
            let g = self.opened.lock().unwrap_or_else(|e| e.into_inner());
            (g.pid == std::process::id()).then(|| Arc::clone(&g.reader))
        };
        match reader {
            Some(r) => py.detach(|| r.flush()).map_err(py_err),
            None => Ok(()),
        }
    }
}

/// A table diff as one record batch of text columns (see [`Version::diff_table`]).
fn diff_batch(
    d: &dv_core::table::diff::TableDiff,
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    use dv_core::table::diff::RowChangeKind;
    let mut change = StringBuilder::new();
    let mut keys: Vec<StringBuilder> = d.key.iter().map(|_| StringBuilder::new()).collect();
    let (mut column, mut old, mut new) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    for r in &d.rows {
        let lead = |change: &mut StringBuilder, keys: &mut [StringBuilder]| {
            change.append_value(r.change.as_str());
            for (k, cell) in keys.iter_mut().zip(&r.key) {
                k.append_option(cell.as_deref());
            }
        };
        if r.change == RowChangeKind::Modified {
            for c in &r.cells {
                lead(&mut change, &mut keys);
                column.append_value(&c.column);
                old.append_option(c.old.as_deref());
                new.append_option(c.new.as_deref());
            }
        } else {
            lead(&mut change, &mut keys);
            column.append_null();
            old.append_null();
            new.append_null();
        }
    }
    let mut fields = vec![Field::new("change", DataType::Utf8, false)];
    fields.extend(d.key.iter().map(|k| Field::new(k, DataType::Utf8, true)));
    for name in ["column", "old", "new"] {
        fields.push(Field::new(name, DataType::Utf8, true));
    }
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(change.finish())];
    arrays.extend(keys.iter_mut().map(|k| Arc::new(k.finish()) as ArrayRef));
    for mut b in [column, old, new] {
        arrays.push(Arc::new(b.finish()));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// A repository path as Python code names it: `/`-separated, relative to the root (a leading `./` is taken
/// off; an absolute path is refused), never leaving the repository.
fn repo_path(p: &str) -> PyResult<String> {
    if p.starts_with('/') {
        return Err(UsageError::new_err(format!(
            "{p:?}: paths are relative to the repository's root (as in dv's commands), not absolute"
        )));
    }
    let p = p.strip_prefix("./").unwrap_or(p).trim_end_matches('/');
    if p.is_empty() || p == "." {
        return Ok(String::new());
    }
    match dv_core::paths::repo_path_problem(p) {
        None => Ok(p.to_string()),
        Some(why) => Err(UsageError::new_err(format!("{p:?}: {why}"))),
    }
}

struct FileState {
    reader: FileReader,
    pos: u64,
    closed: bool,
}

/// One file of a version, read at a position that `seek` moves: the raw file under `dv.open`'s buffered
/// reader.
#[pyclass(module = "dv._dv", frozen)]
struct File {
    version: Py<Version>,
    path: String,
    size: u64,
    id: String,
    state: Mutex<FileState>,
}

impl File {
    /// The state, for a quick look or change (position, closed) with the GIL held. Never held across a call
    /// that needs the GIL: a read takes it inside [`File::read_at`], with the GIL released, so a thread
    /// waiting here holding the GIL never waits for one that needs the GIL to finish.
    fn state(&self) -> PyResult<MutexGuard<'_, FileState>> {
        let g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if g.closed {
            return Err(PyValueError::new_err("I/O operation on closed file"));
        }
        Ok(g)
    }

    /// Reads into `buf` at `pos` (the current position when `None`, which then moves past what was read),
    /// with the GIL released; returns how many bytes.
    fn read_at(&self, py: Python<'_>, pos: Option<u64>, buf: &mut [u8]) -> PyResult<usize> {
        let version = self.version.get();
        py.detach(|| -> PyResult<usize> {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if st.closed {
                return Err(PyValueError::new_err("I/O operation on closed file"));
            }
            let at = pos.unwrap_or(st.pos);
            let reader = version.reader().map_err(py_err)?;
            let mut done = 0;
            while done < buf.len() {
                let n = st
                    .reader
                    .read_at(&reader, at + done as u64, &mut buf[done..])
                    .map_err(py_err)?;
                if n == 0 {
                    break;
                }
                done += n;
            }
            if pos.is_none() {
                st.pos = at + done as u64;
            }
            Ok(done)
        })
    }
}

#[pymethods]
impl File {
    #[getter]
    fn path(&self) -> String {
        self.path.clone()
    }

    #[getter]
    fn size(&self) -> u64 {
        self.size
    }

    /// The file's content id.
    #[getter]
    fn id(&self) -> String {
        self.id.clone()
    }

    #[getter]
    fn version(&self, py: Python<'_>) -> Py<Version> {
        self.version.clone_ref(py)
    }

    #[getter]
    fn closed(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).closed
    }

    fn tell(&self) -> PyResult<u64> {
        Ok(self.state()?.pos)
    }

    /// Moves the position: `whence` 0 from the start, 1 from the current position, 2 from the end.
    #[pyo3(signature = (offset, whence=0))]
    fn seek(&self, offset: i64, whence: i32) -> PyResult<u64> {
        let mut st = self.state()?;
        let base = match whence {
            0 => 0i128,
            1 => st.pos as i128,
            2 => self.size as i128,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "invalid whence ({whence}, should be 0, 1 or 2)"
                )));
            }
        };
        let to = base + offset as i128;
        if to < 0 {
            return Err(PyValueError::new_err(format!(
                "negative seek position {to}"
            )));
        }
        st.pos = u64::try_from(to).unwrap_or(u64::MAX);
        Ok(st.pos)
    }

    /// Reads into a writable buffer (bytearray, memoryview, numpy array) at the position, straight from the
    /// chunks; returns how many bytes (0 at the end).
    fn readinto(&self, py: Python<'_>, buf: &Bound<'_, PyAny>) -> PyResult<usize> {
        let b = PyBuffer::<u8>::get(buf)?;
        if b.readonly() || !b.is_c_contiguous() {
            return Err(PyTypeError::new_err(
                "readinto() needs a writable, contiguous buffer",
            ));
        }
        let (ptr, len) = (b.buf_ptr() as usize, b.len_bytes());
        // SAFETY: `b` holds the exporter's buffer (its memory stays where it is, and a bytearray cannot be
        // resized while exported) until it is dropped after this call; it is writable and contiguous (checked
        // above), and `len` is its length in bytes. As for any `readinto` that releases the GIL (sockets,
        // files), another thread writing the same buffer meanwhile gets what it raced for.
        let out = unsafe { std::slice::from_raw_parts_mut(ptr as *mut u8, len) };
        let n = self.read_at(py, None, out)?;
        drop(b);
        Ok(n)
    }

    /// Reads up to `n` bytes at the position (all the rest when `n` is negative or absent).
    #[pyo3(signature = (n=-1))]
    fn read<'py>(&self, py: Python<'py>, n: i64) -> PyResult<Bound<'py, PyBytes>> {
        let pos = self.state()?.pos;
        let bytes = self.pread(py, pos, if n < 0 { u64::MAX } else { n as u64 })?;
        let mut st = self.state()?;
        st.pos = pos + bytes.as_bytes().len() as u64;
        Ok(bytes)
    }

    /// Reads `n` bytes at `offset` without moving the position (fewer at the end).
    fn pread<'py>(&self, py: Python<'py>, offset: u64, n: u64) -> PyResult<Bound<'py, PyBytes>> {
        let want = usize::try_from(self.size.saturating_sub(offset).min(n))
            .map_err(|_| PyValueError::new_err("read too large"))?;
        let mut got = 0;
        let bytes = PyBytes::new_with(py, want, |out| {
            got = self.read_at(py, Some(offset), out)?;
            Ok(())
        })?;
        if got != want {
            return Err(CorruptError::new_err(format!(
                "'{}': {got} bytes read where {want} were expected",
                self.path
            )));
        }
        Ok(bytes)
    }

    /// Closes the file, keeping in the cache the chunks fetched for it.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.closed {
            return Ok(());
        }
        st.closed = true;
        drop(st);
        let version = self.version.get();
        py.detach(|| version.reader()?.flush()).map_err(py_err)
    }
}

#[pymodule]
fn _dv(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Version>()?;
    m.add_class::<File>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
