//! Small file-system helpers: atomic writes and unique temporary names.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Result;
use crate::error::IoContext;

/// A name for a temporary file beside `path`, unique within this machine: `.<name>.dv-tmp-<pid>-<n>`, with
/// `<name>` shortened (at a character boundary) when the whole would pass the 255-byte limit of file names,
/// so a file whose name is near the limit still has one. `dv` removes leftovers of this shape it finds (see
/// `is_temp_name`).
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

/// True for names made by [`temp_path_beside`].
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
        let path = temp_path_beside(target);
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
        opts.custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            refuse_link(path)?;
            return Err(crate::Error::io(path, e));
        }
        Err(e) => return Err(crate::Error::io(path, e)),
    };
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut data).at(path)?;
    Ok(Some(data))
}

/// Writes `data` to `path` atomically (temporary file + rename). A `path` that is a symbolic link is refused
/// (see [`refuse_link`]), not replaced. The temporary file is made beside `path`: for a file Git may see, use
/// [`write_atomic_via`].
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_atomic_via(path, data, None)
}

/// [`write_atomic`], making the temporary file in folder `tmp_dir` when given and on the same file system as
/// `path`'s folder (so the rename works). The one rule for temporary files of files Git may see (pointer
/// files, `.gitignore`, `.gitattributes`, `.dv/config.toml`, step files): they are made where Git never looks
/// (the cache's `tmp/`, which Git ignores and every dv command cleans when it opens the cache), so a killed dv
/// leaves nothing for `git status` to show. Only when that folder is on another file system is the file made
/// beside `path`.
pub fn write_atomic_via(path: &Path, data: &[u8], tmp_dir: Option<&Path>) -> Result<()> {
    refuse_link(path)?;
    let elsewhere = tmp_dir.filter(|dir| path.parent().is_some_and(|p| same_device(dir, p)));
    let mut tmp = match elsewhere {
        Some(dir) => TempFile::beside(&dir.join(path.file_name().unwrap_or_default()), 0o666)?,
        None => {
            // Beside a file Git may see (`tmp_dir` given, on another file system), stale ones are removed by
            // `Repo::remove_stale_temps_beside`, which spares what Git tracks; dv's own folders are cleaned here.
            if tmp_dir.is_none()
                && let Some(parent) = path.parent()
            {
                let _ = remove_stale_temps(parent);
            }
            TempFile::beside(path, 0o666)?
        }
    };
    tmp.file().write_all(data).at(tmp.path().to_path_buf())?;
    crate::fault::point("write-before-rename");
    tmp.persist(path, true)
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
    if !is_temp_name(name) {
        return false;
    }
    let Some(rest) = name.rsplit_once(".dv-tmp-").map(|(_, r)| r) else {
        return false;
    };
    match rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) {
        Some(pid) => !process_alive(pid),
        None => false,
    }
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
        // SAFETY: signal 0 only checks that the process exists and may be signalled.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Deletes the stale temporary files (see [`is_stale_temp`]) directly inside `dir`; returns how many.
pub fn remove_stale_temps(dir: &Path) -> Result<u64> {
    remove_stale_temps_except(dir, &|_| false)
}

/// [`remove_stale_temps`], sparing the files `keep` names: beside files Git may see, a file Git tracks is the
/// user's, whatever its name (a committed `.notes.dv-tmp-4000000-1` is not dv's leftover).
pub fn remove_stale_temps_except(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Result<u64> {
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(crate::Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.at(dir)?;
        if entry.file_name().to_str().is_some_and(is_stale_temp) && !keep(&entry.path()) {
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(crate::Error::io(entry.path(), e)),
            }
        }
    }
    Ok(removed)
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
}
