//! Compares a working copy with what a pointer describes. Shared by `status` and `checkout`.
//!
//! Files whose size, mtime, ctime and inode match a trusted stat cache entry are not read; other files of the
//! right size are hashed (never stored). A folder whose tree object is missing from the cache is skipped and
//! reported in `missing`.

use std::fs;

use crate::error::IoContext;
use crate::paths::{is_within, join};
use crate::repo::Repo;
use crate::store::object::{Node, NodeKind};
use crate::store::statedb::{FolderStats, Stat, StatEntry};
use crate::store::{Store, hash_file};
use crate::{ObjectId, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// In the working copy, not in the pointer.
    New,
    /// In both, different.
    Modified,
    /// In the pointer, not in the working copy.
    Deleted,
}

/// What the working copy has at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Have {
    File {
        stat: Stat,
        /// The content's node kind and id, when known without guessing.
        content: Option<(NodeKind, ObjectId)>,
    },
    Dir,
    /// A symbolic link or special file: dv never stores these.
    Other,
}

#[derive(Clone, Debug)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
    /// What the pointer says belongs here (Modified and Deleted).
    pub want: Option<Node>,
    /// What is there now (New and Modified).
    pub have: Option<Have>,
    /// Only the executable bit differs.
    pub mode_only: bool,
}

#[derive(Default)]
pub struct Comparison {
    pub changes: Vec<Change>,
    /// Files hashed while comparing, for the stat cache.
    pub refreshed: Vec<(String, StatEntry)>,
    /// Folders whose tree object the cache lacks: what is below them was not compared.
    pub missing: Vec<MissingTree>,
}

/// A folder of the working copy that could not be compared: the cache lacks the tree the pointer names for it.
#[derive(Clone, Debug)]
pub struct MissingTree {
    /// The folder's repository path.
    pub path: String,
    pub id: ObjectId,
}

pub struct Comparer<'a> {
    pub repo: &'a Repo,
    pub store: &'a Store,
    /// When set, only paths at, inside or leading to this repository path are compared.
    pub scope: Option<&'a str>,
    pub now_ns: i64,
    pub out: Comparison,
    /// The layout the ids compared against were made in (the pointer's): work-tree files are hashed in it.
    pub layout: crate::store::split::Layout,
    /// The parts of the dataset the work tree holds, when it holds only some: what it lacks outside them is
    /// absent on purpose, no change (see ops/partial.rs).
    pub held: super::partial::Held,
    /// dv's own temporary files recorded in this work tree ([`Repo::recorded_temps`]), read at the first folder
    /// listed.
    temps: Option<std::collections::HashSet<String>>,
    /// The stat cache entries of the folders being compared, innermost last: each folder's are read once, in
    /// one range, when its comparison begins.
    folders: Vec<(String, FolderStats)>,
    /// Listings of folders asked of the thread pool ahead of their comparison (see [`Comparer::compare_dir`]),
    /// by repository path.
    listings: std::collections::HashMap<String, std::sync::mpsc::Receiver<Result<Vec<DirItem>>>>,
}

impl<'a> Comparer<'a> {
    pub fn new(repo: &'a Repo, store: &'a Store, scope: Option<&'a str>) -> Self {
        Comparer {
            repo,
            store,
            scope,
            now_ns: super::now_ns(),
            out: Comparison::default(),
            layout: crate::store::split::Layout::Flat,
            held: None,
            temps: None,
            folders: Vec::new(),
            listings: std::collections::HashMap::new(),
        }
    }

    /// The entries of the folder at repository path `path` (see [`list_dir`]), less dv's own temporary files
    /// that a journal records there: files beside the data that a running dv is writing (a pull's files written
    /// straight from the fetch) or that a killed one left (removed by the next command that takes the lock).
    /// They are no part of the working copy: status never reports one, and a checkout never plans to delete one.
    fn listing(&mut self, path: &str) -> Result<Vec<DirItem>> {
        let mut items = match self.listings.remove(path) {
            Some(rx) => rx
                .recv()
                .map_err(|_| crate::Error::Internal("a folder listing was lost".into()))??,
            None => list_dir(&self.repo.abs(path))?,
        };
        if self.temps.is_none() {
            self.temps = Some(self.repo.recorded_temps()?);
        }
        let temps = self.temps.as_ref().expect("read above");
        if !temps.is_empty() {
            items.retain(|i| !temps.contains(&join(path, &i.name)));
        }
        Ok(items)
    }

    fn in_scope(&self, path: &str) -> bool {
        match self.scope {
            None => true,
            Some(s) => is_within(path, s) || is_within(s, path),
        }
    }

    /// Compares what is at `path` with `want`.
    pub fn compare(&mut self, path: &str, want: Option<&Node>) -> Result<()> {
        if !self.in_scope(path) {
            return Ok(());
        }
        let abs = self.repo.abs(path);
        let have = match fs::symlink_metadata(&abs) {
            Ok(m) => Some(Have::of(&m)),
            // Any other error stays an error. No test tells this guard from `true` (mutation testing): `compare`
            // stats a dataset whose pointer file was just read in the same folder (or whose parents checkout
            // has just checked one by one), or a tree entry a listing of its folder lacked, so as root only a
            // race with another program can fail here otherwise; and for a user without search permission on
            // the folder, a checkout taking the path for absent fails on creating it, before writing anything.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(crate::Error::io(abs, e)),
        };
        self.compare_have(path, want, have)
    }

    /// Compares `want` with `have`, what was found at `path`.
    fn compare_have(&mut self, path: &str, want: Option<&Node>, have: Option<Have>) -> Result<()> {
        if !self.in_scope(path) {
            return Ok(());
        }
        match (want, have) {
            (None, None) => {}
            (Some(_), None) if super::partial::absent_on_purpose(self.held.as_deref(), path) => {}
            (Some(w), None)
                if w.kind == NodeKind::Tree
                    && (self.scope_is_below(path) || self.holds_below(path)) =>
            {
                // Only part of this missing folder is wanted (or held): descend to it.
                self.compare_dir(path, w, false)?
            }
            (Some(w), None) => self.push(path, ChangeKind::Deleted, Some(*w), None),
            (None, Some(Have::Dir)) if self.scope_is_below(path) => {
                // Only part of this folder the version lacks is in scope: descend to it, so that a checkout
                // of `data/x/y` never removes the rest of `data/x`.
                for item in self.listing(path)? {
                    self.compare_have(&join(path, &item.name), None, Some(item.have))?;
                }
            }
            (None, Some(h)) => self.push(path, ChangeKind::New, None, Some(h)),
            (Some(w), Some(Have::File { stat, .. })) if w.kind.is_file() => {
                self.compare_file(path, w, stat)?
            }
            (Some(w), Some(Have::Dir)) if w.kind == NodeKind::Tree => {
                self.compare_dir(path, w, true)?
            }
            (Some(w), Some(h)) => {
                // A file where a folder belongs or the reverse (or a link or special file): one change, so that
                // a checkout removes what is there as a whole (a folder with everything in it) before it
                // writes what belongs.
                self.push(path, ChangeKind::Modified, Some(*w), Some(h));
            }
        }
        Ok(())
    }

    fn push(&mut self, path: &str, kind: ChangeKind, want: Option<Node>, have: Option<Have>) {
        self.out.changes.push(Change {
            path: path.to_string(),
            kind,
            want,
            have,
            mode_only: false,
        });
    }

    /// True when a part of the dataset the work tree holds lies strictly below `path`.
    fn holds_below(&self, path: &str) -> bool {
        self.held
            .as_deref()
            .is_some_and(|h| super::partial::holds_below(h, path))
    }

    /// True when the scope lies strictly below `path`.
    fn scope_is_below(&self, path: &str) -> bool {
        self.scope.is_some_and(|s| s != path && is_within(s, path))
    }

    /// Asks the thread pool for the listing of the folder at `path`, unless it was asked already.
    fn ask_listing(&mut self, path: &str) {
        if !self.listings.contains_key(path) {
            let abs = self.repo.abs(path);
            self.listings
                .insert(path.to_string(), super::spawn(move || list_dir(&abs)));
        }
    }

    /// Compares a tree with the entries found in the folder at `path` (none when it is not `on_disk`).
    ///
    /// The stat calls of a listing are most of a comparison's time, so the thread pool lists the folder while
    /// this thread reads its tree and stat cache entries, and lists the sub-folders the comparison will
    /// descend to a few ahead of it.
    fn compare_dir(&mut self, path: &str, want: &Node, on_disk: bool) -> Result<()> {
        if on_disk {
            self.ask_listing(path);
        }
        if !self.store.contains(&want.id)? {
            self.listings.remove(path);
            self.out.missing.push(MissingTree {
                path: path.to_string(),
                id: want.id,
            });
            return Ok(());
        }
        let tree = self
            .store
            .read_tree(&want.id)
            .map_err(|e| e.at_path(path))?;
        let stats = self.store.state_db().stat_entries_in(path)?;
        self.folders.push((path.to_string(), stats));
        let names = if on_disk {
            self.listing(path)?
        } else {
            Vec::new()
        };
        // The sub-folders in both, which the merge below descends to, in its order.
        let ahead: Vec<String> = {
            let on_disk: std::collections::HashSet<&str> = names
                .iter()
                .filter(|n| n.have == Have::Dir)
                .map(|n| n.name.as_str())
                .collect();
            tree.entries
                .iter()
                .filter(|t| t.node.kind == NodeKind::Tree && on_disk.contains(t.name.as_str()))
                .map(|t| join(path, &t.name))
                .filter(|p| self.in_scope(p))
                .collect()
        };
        // `ahead[..started]` are compared or being compared; the pool lists up to LIST_AHEAD after them.
        let (mut started, mut asked) = (0, 0);
        // Each entry's repository path, in one buffer (a million files, a million allocations less).
        let mut child = String::with_capacity(path.len() + 64);
        let set_child = |child: &mut String, name: &str| {
            child.clear();
            if !path.is_empty() {
                child.push_str(path);
                child.push('/');
            }
            child.push_str(name);
        };
        // Merge the two sorted lists.
        let (mut i, mut j) = (0, 0);
        while i < tree.entries.len() || j < names.len() {
            while asked < ahead.len().min(started + LIST_AHEAD) {
                self.ask_listing(&ahead[asked]);
                asked += 1;
            }
            let te = tree.entries.get(i);
            let wn = names.get(j);
            let ord = match (te, wn) {
                (Some(t), Some(n)) => t.name.as_bytes().cmp(n.name.as_bytes()),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, _) => std::cmp::Ordering::Greater,
            };
            match ord {
                std::cmp::Ordering::Less => {
                    let t = te.expect("tree entry");
                    set_child(&mut child, &t.name);
                    self.compare(&child, Some(&t.node))?;
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    let item = wn.expect("dir entry");
                    set_child(&mut child, &item.name);
                    self.compare_have(&child, None, Some(item.have))?;
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    let t = te.expect("tree entry");
                    let item = wn.expect("dir entry");
                    set_child(&mut child, &t.name);
                    if ahead.get(started) == Some(&child) {
                        started += 1;
                    }
                    self.compare_have(&child, Some(&t.node), Some(item.have))?;
                    i += 1;
                    j += 1;
                }
            }
        }
        self.folders.pop();
        Ok(())
    }

    /// The stat cache entry of the file at `path`: from its folder's entries when that folder is being compared.
    fn cached(&self, path: &str) -> Result<Option<StatEntry>> {
        let (dir, name) = crate::paths::split(path);
        match self.folders.last() {
            Some((d, stats)) if d == dir => Ok(stats.get(name).copied()),
            _ => self.store.state_db().stat_entry(path),
        }
    }

    fn compare_file(&mut self, path: &str, want: &Node, stat: Stat) -> Result<()> {
        let mut content = None;
        if stat.size == want.size {
            content = match self.cached(path)? {
                Some(e) if e.holds(&stat, self.layout) => Some((e.kind, e.id)),
                _ => {
                    let h = match hash_file(&self.repo.abs(path), self.layout) {
                        Ok(h) => h,
                        // Deleted since its folder was listed: not there.
                        Err(e) if e.is_not_found() => {
                            self.push(path, ChangeKind::Deleted, Some(*want), None);
                            return Ok(());
                        }
                        Err(e) => return Err(e),
                    };
                    self.out.refreshed.push((
                        path.to_string(),
                        StatEntry {
                            stat,
                            kind: h.kind,
                            id: h.id,
                            hashed_at_ns: self.now_ns,
                            hashed_in: h.hashed_in,
                        },
                    ));
                    Some((h.kind, h.id))
                }
            };
        }
        // The kind too: a pointer or entry saying `file` for what is a manifest's id names other bytes.
        let same_content = content.is_some_and(|(kind, id)| id == want.id && kind == want.kind);
        if same_content && stat.exec == want.exec {
            return Ok(());
        }
        self.out.changes.push(Change {
            path: path.to_string(),
            kind: ChangeKind::Modified,
            want: Some(*want),
            have: Some(Have::File { stat, content }),
            mode_only: same_content,
        });
        Ok(())
    }
}

/// How many sub-folders ahead of the comparison the thread pool lists: enough to keep every core busy while
/// the comparison reads trees and stat cache entries, few enough that their listings take little memory.
const LIST_AHEAD: usize = 8;

/// A folder entry and what it is.
pub struct DirItem {
    pub name: String,
    pub have: Have,
}

impl Have {
    pub fn of(m: &fs::Metadata) -> Have {
        if m.is_file() {
            Have::File {
                stat: Stat::of(m),
                content: None,
            }
        } else if m.is_dir() {
            Have::Dir
        } else {
            Have::Other
        }
    }
}

/// The entries of a folder with their stat (taken relative to the folder, which is cheaper than a path walk per
/// file), sorted bytewise by name. Every file is listed, one named like a temporary file of dv's too: dv makes
/// its temporary files in the cache's `tmp/` (or records them, see `fsutil::TempFile::for_target`), so a name
/// alone never makes a file dv's; only a record does (see `Comparer::listing`).
///
/// A large folder's entries are stat'ed on all cores: in a folder of 100,000 files the stat calls are about
/// half of a `dv status`.
pub fn list_dir(abs: &std::path::Path) -> Result<Vec<DirItem>> {
    let entries = fs::read_dir(abs)
        .at(abs)?
        .collect::<std::io::Result<Vec<fs::DirEntry>>>()
        .at(abs)?;
    let item = |entry: &fs::DirEntry| -> Result<Option<DirItem>> {
        let name = entry
            .file_name()
            .into_string()
            .map_err(|name| crate::Error::BadPath {
                path: abs.join(name).display().to_string(),
                reason: "dv needs UTF-8 file names".into(),
            })?;
        let m = match entry.metadata() {
            Ok(m) => m,
            // Deleted since the folder was read: not there, as a listing a moment later would say.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(crate::Error::io(abs.join(&name), e)),
        };
        Ok(Some(DirItem {
            name,
            have: Have::of(&m),
        }))
    };
    let items = if entries.len() >= super::PARALLEL_STAT_FROM {
        super::par_map(&entries, item)
    } else {
        entries.iter().map(item).collect()
    };
    let mut items = items
        .into_iter()
        .filter_map(Result::transpose)
        .collect::<Result<Vec<DirItem>>>()?;
    super::sort_by_name(&mut items, |i| &i.name);
    Ok(items)
}

/// True when the data at `path` is what `pointer` describes, compared as `dv status` does (in the pointer's
/// layout, through the stat cache, which keeps what this reads).
pub fn matches_pointer(
    repo: &Repo,
    store: &Store,
    path: &str,
    pointer: &crate::pointer::Pointer,
) -> Result<bool> {
    let mut cmp = Comparer::new(repo, store, None);
    cmp.layout = pointer.layout;
    cmp.held = super::partial::held(store, path)?;
    cmp.compare(path, Some(&pointer.node))?;
    let out = cmp.out;
    store
        .state_db()
        .put_stat_entries(out.refreshed.iter().map(|(p, e)| (p.as_str(), *e)))?;
    Ok(out.changes.is_empty() && out.missing.is_empty())
}
