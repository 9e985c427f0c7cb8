//! Who holds the cache's lock: the lines a holder writes into the lock file, read back for messages. Its own
//! module so that the error type can name a holder without depending on the repository module.

use std::fs;
use std::path::{Path, PathBuf};

/// Who holds a lock, as its holder wrote it into the lock file (`pid N`, `command C`, `work_tree PATH`
/// lines; older dv versions wrote the pid alone). Informative only: the lock is the flock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: Option<u32>,
    pub command: Option<String>,
    pub work_tree: Option<PathBuf>,
}

impl LockHolder {
    pub(crate) fn read(path: &Path) -> LockHolder {
        let text = fs::read_to_string(path).unwrap_or_default();
        let mut h = LockHolder::default();
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("pid", v)) => h.pid = v.trim().parse().ok(),
                Some(("command", v)) => h.command = Some(v.to_string()),
                Some(("work_tree", v)) => h.work_tree = Some(PathBuf::from(v)),
                _ => {
                    if let Ok(pid) = line.trim().parse() {
                        h.pid = Some(pid);
                    }
                }
            }
        }
        h
    }
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(p) = self.pid {
            parts.push(format!("pid {p}"));
        }
        if let Some(c) = &self.command {
            parts.push(format!("`dv {c}`"));
        }
        if let Some(w) = &self.work_tree {
            parts.push(format!("in {}", w.display()));
        }
        if parts.is_empty() {
            f.write_str("unknown")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}
