//! Walks a folder of the work tree: every file with its stat, every folder with its sorted entries.

use std::fs;
use std::path::Path;

use crate::error::IoContext;
use crate::paths::join;
use crate::store::object::{Node, NodeKind, Tree, TreeEntry, check_name};
use crate::store::statedb::Stat;
use crate::{Error, ObjectId, Result};

pub struct WalkFile {
    /// Repository path.
    pub path: String,
    pub stat: Stat,
}

pub enum Child {
    File(usize),
    Dir(usize),
    /// A path the work tree lacks on purpose, kept as the pointer has it (see ops/partial.rs).
    Kept(Node),
}

pub struct WalkDir {
    pub path: String,
    /// Sorted by name, bytewise.
    pub entries: Vec<(String, Child)>,
    /// A folder the work tree lacks, holding only kept paths: left out when it holds none.
    pub only_kept: bool,
}

/// A walked folder. `dirs[0]` is the folder itself; a folder always comes before its sub-folders.
#[derive(Default)]
pub struct Walk {
    pub files: Vec<WalkFile>,
    pub dirs: Vec<WalkDir>,
}

/// Walks the folder at repository path `dir` (absolute: `abs`). Symbolic links and special files are refused,
/// and dv's own temporary files are skipped.
pub fn walk(abs: &Path, dir: &str) -> Result<Walk> {
    let mut w = Walk::default();
    walk_into(&mut w, abs, dir)?;
    Ok(w)
}

fn walk_into(w: &mut Walk, abs: &Path, dir: &str) -> Result<usize> {
    let me = w.dirs.len();
    w.dirs.push(WalkDir {
        path: dir.to_string(),
        entries: Vec::new(),
        only_kept: false,
    });
    let mut names = Vec::new();
    for entry in fs::read_dir(abs).at(abs)? {
        let entry = entry.at(abs)?;
        let name = entry.file_name();
        let name = name.to_str().ok_or_else(|| Error::BadPath {
            path: abs.join(&name).display().to_string(),
            reason: "dv needs UTF-8 file names".into(),
        })?;
        check_name(name).map_err(|why| Error::BadPath {
            path: join(dir, name),
            reason: why.into(),
        })?;
        names.push((
            name.to_string(),
            entry.file_type().at(abs.join(name))?,
            entry,
        ));
    }
    super::sort_by_name(&mut names, |n| &n.0);
    // The files' stat, taken relative to the folder, on all cores for a large folder (as `compare::list_dir`).
    let files: Vec<&fs::DirEntry> = names
        .iter()
        .filter(|(_, ft, _)| ft.is_file())
        .map(|(_, _, e)| e)
        .collect();
    // A file deleted since the folder was read is not there: left out, as a walk a moment later would.
    let stat = |e: &&fs::DirEntry| match e.metadata() {
        Ok(m) => Ok(Some(Stat::of(&m))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Error::io(e.path(), err)),
    };
    let mut stats = if files.len() >= super::PARALLEL_STAT_FROM {
        super::par_map(&files, stat)
    } else {
        files.iter().map(stat).collect()
    }
    .into_iter();
    // The sub-folders, each walked on its own (on all cores when there are several), then appended in name
    // order: errors come out in the order of a walk one folder at a time.
    let forbidden = |name: &str| name == ".git" || (dir.is_empty() && name == ".dv");
    let subdirs: Vec<(String, std::path::PathBuf)> = names
        .iter()
        .filter(|(name, ft, _)| ft.is_dir() && !forbidden(name))
        .map(|(name, _, _)| (join(dir, name), abs.join(name)))
        .collect();
    let walk_one = |(path, abs): &(String, std::path::PathBuf)| walk(abs, path);
    let mut subwalks = if subdirs.len() > 1 {
        super::par_map(&subdirs, walk_one)
    } else {
        subdirs.iter().map(walk_one).collect()
    }
    .into_iter();
    let mut entries = Vec::with_capacity(names.len());
    for (name, ft, _) in names {
        let path = join(dir, &name);
        if ft.is_dir() {
            if forbidden(&name) {
                return Err(Error::CannotAdd {
                    path,
                    reason: "it is a Git or dv folder".into(),
                });
            }
            let sub = subwalks.next().expect("a walk for every sub-folder")?;
            entries.push((name, Child::Dir(w.append(sub))));
        } else if ft.is_file() {
            let Some(stat) = stats.next().expect("a stat for every file")? else {
                continue;
            };
            w.files.push(WalkFile { path, stat });
            entries.push((name, Child::File(w.files.len() - 1)));
        } else if ft.is_symlink() {
            return Err(Error::CannotAdd {
                path,
                reason: "it is a symbolic link; dv stores regular files and folders only".into(),
            });
        } else {
            return Err(Error::CannotAdd {
                path,
                reason: "it is not a regular file or folder".into(),
            });
        }
    }
    w.dirs[me].entries = entries;
    Ok(me)
}

impl Walk {
    /// Appends the walk of a sub-folder, its indexes moved past this walk's; returns the index of its folder.
    fn append(&mut self, sub: Walk) -> usize {
        let (files, dirs) = (self.files.len(), self.dirs.len());
        self.files.extend(sub.files);
        self.dirs.extend(sub.dirs.into_iter().map(|mut d| {
            for (_, child) in &mut d.entries {
                match child {
                    Child::File(i) => *i += files,
                    Child::Dir(i) => *i += dirs,
                    Child::Kept(_) => {}
                }
            }
            d
        }));
        dirs
    }

    /// The trees of the walked folder, children before parents, given each file's node (by index in
    /// `files`); `store` keeps a tree and returns its id. Returns the root folder's node.
    pub fn build_trees(
        &self,
        file_nodes: &[Option<Node>],
        mut store: impl FnMut(&Tree) -> Result<ObjectId>,
    ) -> Result<Node> {
        let mut dir_nodes: Vec<Option<Node>> = vec![None; self.dirs.len()];
        for (i, dir) in self.dirs.iter().enumerate().rev() {
            let mut tree = Tree::default();
            for (name, child) in &dir.entries {
                let node = match child {
                    Child::File(f) => file_nodes[*f],
                    Child::Dir(d) if self.dirs[*d].only_kept && dir_nodes[*d].is_none() => continue,
                    Child::Dir(d) => dir_nodes[*d],
                    Child::Kept(node) => Some(*node),
                }
                .ok_or_else(|| Error::Internal(format!("no node for {}", join(&dir.path, name))))?;
                tree.entries.push(TreeEntry {
                    name: name.clone(),
                    node,
                });
            }
            if dir.only_kept && tree.entries.is_empty() {
                continue;
            }
            let id = store(&tree)?;
            dir_nodes[i] = Some(Node {
                kind: NodeKind::Tree,
                id,
                size: tree.size(),
                files: tree.files(),
                exec: false,
            });
        }
        dir_nodes[0].ok_or_else(|| Error::Internal("walk without a root folder".into()))
    }
}
