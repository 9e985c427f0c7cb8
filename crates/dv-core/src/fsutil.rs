//! Small file-system helpers: atomic writes and unique temporary names.
//!
//! Long (about 615 lines without tests): temporary names, atomic writes and crash journals share one naming scheme.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Result;
use crate::error::IoContext;

/// A name for a temporary file beside `path`, unique within this machine: `.<name>.dv-tmp-<pid>-<n>`, with
/// `<name>` shortened (at a character boundary) when the whole would pass the 255-byte limit of file names,
/// so a file whose name is near the limit still has one. dv removes leftovers of this shape only where it can
/// prove it made them: in its own folders (the cache's `tmp/` and `index/`), and beside files Git may see only
/// those recorded in a journal (see [`TempFile::for_target`]).
pub fn temp_path_beside(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tail = format!(".dv-tmp-{}-{n}", std::process::id());
    let room = crate::paths::NAME_MAX - 1 - tail.len();
    let mut end = name.len().min(room);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    path.with_file_name(format!(".{}{tail}", &name[..end]))
}

/// True for names of the shape [`temp_path_beside`] makes (which a user's file may have too: only in dv's own
/// folders does the shape alone say a file is dv's).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".dv-tmp-")
}

/// Creates a file that is deleted on drop unless [`TempFile::persist`] renames it into place.
pub struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

impl TempFile {
    /// A new temporary file beside `target`, created with permission bits `mode` (before the umask).
    pub fn beside(target: &Path, mode: u32) -> Result<TempFile> {
        TempFile::create(temp_path_beside(target), mode)
    }

    fn create(path: PathBuf, mode: u32) -> Result<TempFile> {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let file = opts.open(&path).at(&path)?;
        Ok(TempFile {
            path,
            file: Some(file),
        })
    }

    /// A new temporary file for `target`, a file Git may see, with permission bits `mode`. The one rule for
    /// such files: it is made in the cache's temporary folder `tmp_dir`, where Git never looks and every dv
    /// command cleans, whenever that is on the same file system as `target`'s folder (so that the rename into
    /// place works). Only when it is not is the file made beside `target`, and then its name is first recorded
    /// in this process's journal in `tmp_dir`, so that the next command that takes the lock removes it if this
    /// process is killed ([`remove_recorded_temps`]): dv removes only files it can prove it made, never a file
    /// of the user's that merely looks like a temporary one. An error (`NotFound`) when `target`'s folder does
    /// not exist.
    pub fn for_target(target: &Path, mode: u32, tmp_dir: &Path) -> Result<TempFile> {
        let parent = target.parent().unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(crate::Error::io(
                parent,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
        let name = target.file_name().unwrap_or_default();
        // Another file system than the cache's (a linked work tree on another disk): the work tree's own
        // `.dv/cache/tmp`, or beside the target when that is not on its file system either. Either way the name
        // is recorded first.
        let path = match tmp_dir_for(parent, tmp_dir) {
            Some(dir) if dir == tmp_dir => return TempFile::beside(&tmp_dir.join(name), mode),
            Some(dir) => temp_path_beside(&dir.join(name)),
            None => temp_path_beside(target),
        };
        record_temp(tmp_dir, &path)?;
        TempFile::create(path, mode)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("open until closed")
    }

    /// Closes the file but keeps it for [`TempFile::persist`] (or for deleting on drop), so that many finished
    /// temporary files need not hold a descriptor each.
    pub fn close(&mut self) {
        self.file = None;
    }

    /// Flushes to disk when `sync` (a closed file is not flushed again) and renames over `target`: readers see
    /// the old file or the whole new one.
    pub fn persist(mut self, target: &Path, sync: bool) -> Result<()> {
        // Dropping the file (if still open) closes it before the rename.
        if let Some(file) = self.file.take()
            && sync
        {
            file.sync_all().at(&self.path)?;
        }
        fs::rename(&self.path, target).at(target)?;
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A temporary folder on `dir`'s file system, for what is to be renamed into `dir` or below: `tmp_dir` (the
/// cache's) when it is there, else the work tree's own `.dv/cache/tmp` (which hides itself from Git); `None`
/// when neither is.
pub(crate) fn tmp_dir_for(dir: &Path, tmp_dir: &Path) -> Option<PathBuf> {
    if same_device(tmp_dir, dir) {
        return Some(tmp_dir.to_path_buf());
    }
    work_tree_tmp_dir(dir).filter(|d| same_device(d, dir))
}

/// `.dv/cache/tmp` of the Git work tree holding folder `dir` (made if missing, its cache folder hidden from Git
/// first by a `.gitignore` of `*`, as `dv init` hides the cache), for temporary files that must be on `dir`'s
/// file system; `None` when the work tree has no `.dv` folder or a link is on the way (dv never writes through
/// one).
fn work_tree_tmp_dir(dir: &Path) -> Option<PathBuf> {
    let root = dir.ancestors().find(|a| a.join(".git").exists())?;
    let real_dir = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    let dv = root.join(".dv");
    if !real_dir(&dv) {
        return None;
    }
    let cache = dv.join("cache");
    if !real_dir(&cache) {
        match fs::create_dir(&cache) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(_) => return None,
        }
    }
    if !real_dir(&cache) {
        return None;
    }
    // Made once: checked by one stat for each later temporary file.
    let ignore = cache.join(".gitignore");
    if !ignore.is_file() {
        create_whole(&ignore, b"*\n").ok()?;
    }
    let tmp = cache.join("tmp");
    let _ = fs::create_dir(&tmp);
    real_dir(&tmp).then_some(tmp)
}

/// Refuses a path that is a symbolic link. Every file dv writes (pointer files, `.gitignore`, `.gitattributes`,
/// its config, step files, Git hooks) goes through [`write_atomic`] and every file it stages through
/// [`read_own`], and both call this first: dv never follows a link to a file it writes or stages, so a
/// repository cannot make dv copy what a link points to (`.gitignore -> ~/.aws/credentials`) into Git.
pub fn refuse_link(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(crate::Error::Link {
            path: path.to_path_buf(),
            target: fs::read_link(path).unwrap_or_default(),
        }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(crate::Error::io(path, e)),
    }
}

/// Reads a file dv owns and may rewrite or stage (a pointer file, a `.gitignore`, a hook), never through a
/// link: `None` when it is absent, [`crate::Error::Link`] when it is a symbolic link. The file is opened
/// without following links, so a link swapped in after the check is refused too.
pub fn read_own(path: &Path) -> Result<Option<Vec<u8>>> {
    refuse_link(path)?;
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    let mut file = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            refuse_link(path)?;
            return Err(crate::Error::io(path, e));
        }
        Err(e) => return Err(crate::Error::io(path, e)),
    };
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut data).at(path)?;
    Ok(Some(data))
}

/// Writes `data` to `path` atomically (temporary file + rename), the temporary file made beside `path`. A `path`
/// that is a symbolic link is refused (see [`refuse_link`]), not replaced. Nothing else in `path`'s folder is
/// touched: for a file Git may see, use [`write_atomic_via`]; in a folder of the cache, [`write_atomic_in_cache`].
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    refuse_link(path)?;
    let tmp = TempFile::beside(path, 0o666)?;
    write_and_persist(tmp, path, data)
}

/// [`write_atomic`] for a file in a folder of the cache (`index/`, a remote's index cache): a folder only dv
/// writes, so the temporary files that killed dv processes left there are removed first.
pub fn write_atomic_in_cache(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        let _ = remove_stale_temps(parent);
    }
    write_atomic(path, data)
}

/// [`write_atomic`] for a file Git may see (pointer files, `.gitignore`, `.gitattributes`, `.dv/config.toml`,
/// step files, the cache's list of work trees), its temporary file made by [`TempFile::for_target`] (in the
/// cache's temporary folder `tmp_dir`, where Git never looks).
pub fn write_atomic_via(path: &Path, data: &[u8], tmp_dir: &Path) -> Result<()> {
    refuse_link(path)?;
    let tmp = TempFile::for_target(path, 0o666, tmp_dir)?;
    write_and_persist(tmp, path, data)
}

fn write_and_persist(mut tmp: TempFile, path: &Path, data: &[u8]) -> Result<()> {
    tmp.file().write_all(data).at(tmp.path().to_path_buf())?;
    crate::fault::point("write-before-rename");
    tmp.persist(path, true)
}

/// The name of the journal in which process `pid` records the temporary files it makes outside the cache's
/// temporary folder (see [`TempFile::for_target`]).
fn journal_name(pid: u32) -> String {
    format!("beside-{pid}.journal")
}

/// The process whose journal `name` is (see [`journal_name`]).
fn journal_pid(name: &str) -> Option<u32> {
    name.strip_prefix("beside-")?
        .strip_suffix(".journal")?
        .parse()
        .ok()
}

/// The journals this process has written to (see [`record_temp`]), for [`close_own_journals`]. Held while one
/// is appended to or removed, so that no record is added between the look that finds a journal done and its
/// removal.
static OWN_JOURNALS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Records, in this process's journal in `tmp_dir`, that `temp` is about to be made: made first and flushed to
/// the operating system before the file exists, so that a kill at any moment after leaves a record.
fn record_temp(tmp_dir: &Path, temp: &Path) -> Result<()> {
    let journal = tmp_dir.join(journal_name(std::process::id()));
    let mut own = OWN_JOURNALS.lock().unwrap_or_else(|e| e.into_inner());
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&journal)
        .at(&journal)?;
    let mut entry = temp.as_os_str().as_encoded_bytes().to_vec();
    entry.push(0);
    f.write_all(&entry).at(&journal)?;
    if !own.contains(&journal) {
        own.push(journal);
    }
    Ok(())
}

/// Removes this process's journals once every file they record is gone (renamed into place, or deleted), so a
/// process that ends normally leaves none behind; called by the CLI as a command ends, whatever its outcome. A
/// journal that names a file still on disk (one whose removal failed, or a leftover of an earlier process that
/// had this process's id) is kept, and with it the record: the next command that takes the lock removes the
/// file once this process is gone. Errors keep the journal too.
pub fn close_own_journals() {
    let mut own = OWN_JOURNALS.lock().unwrap_or_else(|e| e.into_inner());
    own.retain(|journal| !remove_journal_if_done(journal));
}

/// Removes `journal` when no file it records exists any more; true when it is gone.
fn remove_journal_if_done(journal: &Path) -> bool {
    let text = match read_if_exists(journal) {
        Ok(Some(text)) => text,
        Ok(None) => return true,
        Err(_) => return false,
    };
    let all_gone = journal_entries(&text)
        .all(|p| fs::symlink_metadata(&p).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound));
    all_gone && fs::remove_file(journal).is_ok()
}

/// The paths a journal's bytes record (see [`record_temp`]).
fn journal_entries(text: &[u8]) -> impl Iterator<Item = PathBuf> + '_ {
    text.split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(path_of_bytes)
}

/// The journals in `tmp_dir`, with the process each belongs to.
fn journals(tmp_dir: &Path) -> Result<Vec<(u32, PathBuf)>> {
    let entries = match fs::read_dir(tmp_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(crate::Error::io(tmp_dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.at(tmp_dir)?;
        if let Some(pid) = entry.file_name().to_str().and_then(journal_pid) {
            out.push((pid, entry.path()));
        }
    }
    Ok(out)
}

/// The temporary files the journals in `tmp_dir` record, of running processes and of processes now gone alike,
/// as far as `recorded_temp_is_ours` accepts them for `scope`'s roots (journals Git tracks are not read):
/// dv's files beside the data, in the making or left by a killed run until the next command that takes the
/// lock removes them. A comparison of a working copy with a version skips them, so that `dv status`, which
/// holds no lock and removes nothing, never reports one as the user's data. `scope` is asked only when a
/// journal is there.
pub fn recorded_temps(
    tmp_dir: &Path,
    scope: impl FnOnce() -> JournalScope,
) -> Result<Vec<PathBuf>> {
    let journals = journals(tmp_dir)?;
    if journals.is_empty() {
        return Ok(Vec::new());
    }
    let known = scope();
    let mut out = Vec::new();
    for (pid, journal) in journals {
        if known.tracked.contains(&journal) {
            continue;
        }
        let Some(text) = read_if_exists(&journal)? else {
            continue;
        };
        out.extend(journal_entries(&text).filter(|p| recorded_temp_is_ours(p, pid, &known.roots)));
    }
    Ok(out)
}

/// Removes the temporary files that processes now gone recorded in their journals in `tmp_dir` (made beside
/// files Git may see, when the cache was on another file system; see [`TempFile::for_target`]), then the
/// journals; returns how many files went. Only recorded names are removed, and only those
/// `recorded_temp_is_ours` accepts (a file that merely looks like a temporary file is the user's, and a
/// journal may have come with a commit). `scope` is asked only when a dead process's journal is there. A live
/// process's journal is left alone, and so is one Git tracks (a commit brought it: it is never read).
pub fn remove_recorded_temps(tmp_dir: &Path, scope: impl FnOnce() -> JournalScope) -> Result<u64> {
    let mut scope = Some(scope);
    let mut known = JournalScope::default();
    let mut removed = 0;
    for (pid, journal) in journals(tmp_dir)? {
        if process_alive(pid) {
            continue;
        }
        if let Some(f) = scope.take() {
            known = f();
        }
        if known.tracked.contains(&journal) {
            continue;
        }
        let Some(text) = read_if_exists(&journal)? else {
            continue;
        };
        for path in journal_entries(&text) {
            if !recorded_temp_is_ours(&path, pid, &known.roots) {
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(crate::Error::io(path, e)),
            }
        }
        match fs::remove_file(&journal) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(crate::Error::io(journal, e)),
        }
    }
    Ok(removed)
}

/// Where the journals in a cache's `tmp/` may name files (see [`remove_recorded_temps`]).
#[derive(Default)]
pub struct JournalScope {
    /// The work trees (resolved) that use the cache.
    pub roots: Vec<PathBuf>,
    /// The journals Git tracks, as paths below the cache's `tmp/`: a commit brought them, they are never read.
    pub tracked: Vec<PathBuf>,
}

/// The one rule for a path read from process `pid`'s journal: it is a temporary file that process made (and so
/// dv's to remove) only when it is what [`TempFile::for_target`] records: an absolute path without `.` or `..`,
/// a name of the temporary shape carrying `pid` itself, in a folder reached without links, inside one of
/// `roots` (the work trees that use this cache) and not in their `.git`. Anything else is left alone: a
/// journal is a file in the cache that a commit can carry (`git add -f`), so its entries may be anybody's.
fn recorded_temp_is_ours(path: &Path, pid: u32, roots: &[PathBuf]) -> bool {
    use std::path::Component;
    if !path.is_absolute()
        || !path.components().all(|c| {
            matches!(
                c,
                Component::RootDir | Component::Prefix(_) | Component::Normal(_)
            )
        })
    {
        return false;
    }
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if temp_name_pid(name) != Some(pid) {
        return false;
    }
    let Some(parent) = path.parent() else {
        return false;
    };
    // Resolving the folder changes nothing only when no link leads there.
    if parent.canonicalize().ok().as_deref() != Some(parent) {
        return false;
    }
    roots.iter().any(|root| {
        parent
            .strip_prefix(root)
            .is_ok_and(|rel| !rel.starts_with(".git"))
    })
}

/// A path from the bytes [`record_temp`] wrote.
fn path_of_bytes(bytes: &[u8]) -> Option<PathBuf> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Some(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(bytes).ok().map(PathBuf::from)
    }
}

/// Creates `path` holding `data` unless it exists, such that no other process (Git) ever sees it with less
/// than all of `data`: on Linux the file is written unnamed (`O_TMPFILE`) and then linked into place; where
/// that is not supported, it is created and written in one `write` (a kill between the two can leave it
/// empty, which the caller must repair). Returns false when `path` already existed.
pub fn create_whole(path: &Path, data: &[u8]) -> Result<bool> {
    refuse_link(path)?;
    #[cfg(target_os = "linux")]
    if let Some(made) = link_unnamed(path, data)? {
        return Ok(made);
    }
    let mut f = match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(crate::Error::io(path, e)),
    };
    f.write_all(data).at(path)?;
    f.sync_all().at(path)?;
    Ok(true)
}

/// [`create_whole`] through an unnamed file; `None` when the file system or kernel cannot make one.
#[cfg(target_os = "linux")]
fn link_unnamed(path: &Path, data: &[u8]) -> Result<Option<bool>> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut f = match OpenOptions::new()
        .write(true)
        .mode(0o666)
        .custom_flags(rustix::fs::OFlags::TMPFILE.bits() as i32)
        .open(dir)
    {
        Ok(f) => f,
        Err(_) => return Ok(None),
    };
    f.write_all(data).at(path)?;
    f.sync_all().at(path)?;
    // A NUL cannot be passed to the kernel: such a name is left to the portable way, which reports it.
    if path.as_os_str().as_bytes().contains(&0) {
        return Ok(None);
    }
    let from = format!("/proc/self/fd/{}", f.as_raw_fd());
    let linked = rustix::fs::linkat(
        rustix::fs::CWD,
        from.as_str(),
        rustix::fs::CWD,
        path,
        rustix::fs::AtFlags::SYMLINK_FOLLOW,
    );
    match linked.map_err(std::io::Error::from) {
        Ok(()) => Ok(Some(true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Some(false)),
        // No /proc: the caller writes it the portable way.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir.is_dir() => Ok(None),
        Err(e) => Err(crate::Error::io(path, e)),
    }
}

/// True when folders `a` and `b` exist on the same file system (a rename between them works).
pub fn same_device(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // (`a.is_dir() && b.is_dir() || same device` is an equivalent mutant: the cache's temporary folder is a
        // folder, or opening the cache fails first, and a target's folder is one, made by the plan or holding
        // the file replaced.)
        match (fs::metadata(a), fs::metadata(b)) {
            (Ok(a), Ok(b)) => a.is_dir() && b.is_dir() && a.dev() == b.dev(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

/// Flushes a directory's entries (after renames into it).
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).at(dir)?;
    Ok(())
}

/// Reads a file that may be absent.
pub fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(crate::Error::io(path, e)),
    }
}

/// True for a temporary name (see [`temp_path_beside`]) whose creating process is gone: a leftover of a
/// crash, safe to delete.
pub fn is_stale_temp(name: &str) -> bool {
    temp_name_pid(name).is_some_and(|pid| !process_alive(pid))
}

/// The process that made the temporary file named `name` (see [`temp_path_beside`]); `None` for a name not of
/// that shape.
fn temp_name_pid(name: &str) -> Option<u32> {
    if !is_temp_name(name) {
        return None;
    }
    let rest = name.rsplit_once(".dv-tmp-")?.1;
    rest.split('-').next()?.parse().ok()
}

/// Whether process `pid` exists (on this machine).
pub fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        if pid == std::process::id() {
            return true;
        }
        let Ok(pid) = i32::try_from(pid) else {
            return false;
        };
        // Pid 0 would ask about this process's own group, which exists.
        let Some(pid) = rustix::process::Pid::from_raw(pid) else {
            return true;
        };
        // Signal 0 only checks that the process exists; "not permitted" means it exists too.
        matches!(
            rustix::process::test_kill_process(pid),
            Ok(()) | Err(rustix::io::Errno::PERM)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Deletes the stale temporary files and folders (see [`is_stale_temp`]) directly inside `dir`, a folder only dv writes
/// (the cache's `tmp/`, `index/`); returns how many. Never for a folder the user may write in: there, a file of
/// this shape may be the user's (see [`remove_recorded_temps`]).
pub fn remove_stale_temps(dir: &Path) -> Result<u64> {
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(crate::Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.at(dir)?;
        if entry.file_name().to_str().is_some_and(is_stale_temp) {
            // A folder of this shape is a killed `dv import`'s files on their way into the work tree.
            let gone = if entry.file_type().at(entry.path())?.is_dir() {
                fs::remove_dir_all(entry.path())
            } else {
                fs::remove_file(entry.path())
            };
            match gone {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(crate::Error::io(entry.path(), e)),
            }
        }
    }
    Ok(removed)
}

/// Renames `from` (a file or a folder) to `to`, which must not exist: `Ok(false)`, and nothing renamed, when
/// something is there, even if it appeared a moment ago (`renameat2` with `RENAME_NOREPLACE`; where the file
/// system does not support that, a file is linked then unlinked, and a folder is renamed after a check, which
/// a race could still lose).
pub fn rename_no_replace(from: &Path, to: &Path) -> Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(true),
            Err(rustix::io::Errno::EXIST) => return Ok(false),
            Err(
                rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS | rustix::io::Errno::NOTSUP,
            ) => {}
            Err(e) => return Err(crate::Error::io(to, std::io::Error::from(e))),
        }
    }
    if fs::symlink_metadata(from).at(from)?.is_dir() {
        if fs::symlink_metadata(to).is_ok() {
            return Ok(false);
        }
        fs::rename(from, to).at(to)?;
        return Ok(true);
    }
    match fs::hard_link(from, to) {
        Ok(()) => {
            fs::remove_file(from).at(from)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(crate::Error::io(to, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temps_are_those_of_dead_processes() {
        let mine = temp_path_beside(Path::new("/x/data.bin"));
        let name = mine.file_name().unwrap().to_str().unwrap();
        assert!(is_temp_name(name));
        assert!(!is_stale_temp(name), "this process is alive");
        // Linux pids stay below 2^22.
        assert!(is_stale_temp(".data.bin.dv-tmp-4999999-0"));
        assert!(!is_stale_temp("data.bin"));
        assert!(!is_stale_temp(".data.bin.dv-tmp-notapid-0"));
    }

    #[test]
    fn temp_names_fit_the_name_limit() {
        for len in [1, 200, 240, 250, 255] {
            for unit in ["n", "é", "日"] {
                let name = unit.repeat(len / unit.len());
                let tmp = temp_path_beside(&Path::new("/x").join(&name));
                let tmp = tmp.file_name().unwrap().to_str().unwrap();
                assert!(tmp.len() <= 255, "{} bytes", tmp.len());
                assert!(is_temp_name(tmp) && !is_stale_temp(tmp));
            }
        }
    }

    /// A process's journal goes as it ends only when no file it records is still on disk: the record of a
    /// temporary file that could not be removed is never lost.
    #[test]
    fn a_journal_goes_only_when_every_file_it_records_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let tmp = base.join("tmp");
        fs::create_dir(&tmp).unwrap();
        let (done, left) = (
            temp_path_beside(&base.join("a")),
            temp_path_beside(&base.join("b")),
        );
        record_temp(&tmp, &done).unwrap();
        record_temp(&tmp, &left).unwrap();
        fs::write(&left, b"still here").unwrap();
        let journal = tmp.join(journal_name(std::process::id()));
        assert!(!remove_journal_if_done(&journal));
        assert!(journal.exists(), "the record of a file on disk was lost");
        // What status skips: every recorded file, this live process's too.
        let recorded = recorded_temps(&tmp, || JournalScope {
            roots: vec![base.clone()],
            tracked: Vec::new(),
        })
        .unwrap();
        assert_eq!(recorded, vec![done, left.clone()]);
        fs::remove_file(&left).unwrap();
        assert!(remove_journal_if_done(&journal));
        assert!(!journal.exists());
        assert!(
            remove_journal_if_done(&journal),
            "an absent journal is done"
        );
    }

    #[test]
    fn only_recorded_temps_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        fs::create_dir(&tmp).unwrap();
        let recorded = dir.path().join(".a.bin.dv-tmp-4999999-0");
        let not_temp = dir.path().join("a.bin");
        let lookalike = dir.path().join(".b.bin.dv-tmp-4999999-1");
        for p in [&recorded, &not_temp, &lookalike] {
            fs::write(p, b"x").unwrap();
        }
        let mut journal = Vec::new();
        for p in [&recorded, &not_temp] {
            journal.extend_from_slice(p.as_os_str().as_encoded_bytes());
            journal.push(0);
        }
        fs::write(tmp.join(journal_name(4999999)), &journal).unwrap();
        // This process's own journal is a live one.
        record_temp(&tmp, &lookalike).unwrap();
        let root = dir.path().canonicalize().unwrap();
        let scope = || JournalScope {
            roots: vec![root],
            tracked: Vec::new(),
        };
        assert_eq!(remove_recorded_temps(&tmp, scope).unwrap(), 1);
        assert!(!recorded.exists());
        assert!(not_temp.exists() && lookalike.exists());
        assert!(!tmp.join(journal_name(4999999)).exists());
        assert!(tmp.join(journal_name(std::process::id())).exists());
    }
}
