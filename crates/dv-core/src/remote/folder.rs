//! Folder remotes: where a folder path or `file://` URL points, and the rules a folder must meet before dv
//! uses it as a remote (not in a cache, no links in its layout, not committed by Git, made only by a push).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::ObjectStore;

use super::Access;
use super::explain::remote_err;
use crate::repo::Repo;
use crate::{Error, Result};

/// The store of the folder remote `name` at `dir`, once the folder has passed every rule below (made first when
/// `access` writes and it is missing), and the folder this made, if any.
pub(super) fn folder_store(
    repo: &Repo,
    name: &str,
    dir: &Path,
    access: Access,
) -> Result<(Arc<dyn ObjectStore>, Option<PathBuf>)> {
    refuse_dv_folder(name, dir)?;
    refuse_layout_links(name, dir)?;
    if access.writes() {
        refuse_unignored_in_work_tree(repo, name, dir)?;
    }
    let created = make_folder(name, dir, access, repo.source_record())?;
    let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
        .map_err(|e| remote_err(name, e))?;
    Ok((Arc::new(fs), created))
}

/// The one rule for where a folder remote may be: never in a `.dv/` folder (a repository's own files: its
/// cache, this one's or another's), judged on the path with links resolved (as far as it exists) and as
/// written. Such a "remote" is no second copy (push finds everything "already there"), and `gc --remote` on
/// it deletes the packs of a repository that has no other copy. A committed `.dv/config.toml` can set any
/// URL, so this is checked each time the remote is opened.
fn refuse_dv_folder(name: &str, dir: &Path) -> Result<()> {
    let resolved = resolved(dir);
    let in_dv = |p: &Path| p.components().any(|c| c.as_os_str() == crate::repo::DV_DIR);
    if !in_dv(&resolved) && !in_dv(dir) {
        return Ok(());
    }
    let shown = if resolved == dir {
        dir.display().to_string()
    } else {
        format!("{} (that is {})", dir.display(), resolved.display())
    };
    Err(Error::RemoteFailed {
        remote: name.to_string(),
        message: format!(
            "the folder {shown} is inside a `.dv/` folder, a repository's own files (its cache), not a remote"
        ),
        hint: format!(
            "give the remote a folder of its own (`dv remote modify {name} url PATH`); a remote inside a \
             cache is no second copy, and gc on it would delete that repository's data"
        ),
        source: None,
    })
}

/// `dir` with links resolved as far as it exists: the longest part of the path that exists, resolved, and
/// the rest as written.
fn resolved(dir: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut at = dir;
    loop {
        if let Ok(real) = at.canonicalize() {
            return rest.iter().rev().fold(real, |p: PathBuf, n| p.join(n));
        }
        match (at.parent(), at.file_name()) {
            (Some(up), Some(n)) => {
                rest.push(n.to_os_string());
                at = up;
            }
            _ => return dir.to_path_buf(),
        }
    }
}

/// The folders dv writes in a folder remote (docs/format.md, "Remote layout").
const LAYOUT: [&str; 3] = ["packs", "index", "uses"];

/// Why a folder remote at `dir` would put what is pushed there into Git, if it would: it lies inside a work tree
/// of this repository (this one or a linked one, judged on the path with links resolved, as Git sees the
/// folder) and Git's own ignore rules ([`crate::git::Ignores`]) do not ignore its layout folders, so `git add
/// -A` would commit the packs (a leak into Git's history, which dv exists to avoid). Returns the message and
/// the hint. Git itself decides: `/store/` in any `.gitignore`, `.git/info/exclude` or `core.excludesFile`,
/// or a rule for each of `packs/`, `index/` and `uses/`, is enough.
pub fn unignored_in_work_tree(repo: &Repo, dir: &Path) -> Result<Option<(String, String)>> {
    let real = resolved(dir);
    let git = crate::git::GitRepo::open(&repo.root)?;
    let mut trees = vec![repo.root.clone()];
    trees.extend(
        git.work_trees()?
            .into_iter()
            .filter_map(|w| w.canonicalize().ok()),
    );
    trees.sort();
    trees.dedup();
    // The innermost work tree holding the folder is the one whose Git would see it.
    let Some((tree, rel)) = trees
        .iter()
        .filter_map(|w| Some((w, real.strip_prefix(w).ok()?)))
        .max_by_key(|(w, _)| w.components().count())
    else {
        return Ok(None);
    };
    // Git never adds what is inside its own folder.
    if rel.components().any(|c| c.as_os_str() == ".git") {
        return Ok(None);
    }
    // Path equality skips `.` components: `./store` is shown as the folder it is.
    let shown = if real == dir {
        real.display().to_string()
    } else {
        format!("{} (that is {})", dir.display(), real.display())
    };
    let outside = "give the remote a folder outside the work tree".to_string();
    let rel = rel.to_string_lossy().into_owned();
    if rel.is_empty() {
        return Ok(Some((
            format!(
                "the folder {shown} is the work tree {} itself",
                tree.display()
            ),
            outside,
        )));
    }
    // Inside a dataset's folder (a pointer file `NAME.dv` beside a folder on the way), Git ignores the remote
    // through the dataset's own line, but a checkout of that dataset deletes what its version does not hold.
    let mut prefix = String::new();
    for name in rel.split('/') {
        prefix = crate::paths::join(&prefix, name);
        let pointer = format!("{prefix}{}", crate::paths::POINTER_SUFFIX);
        if tree.join(&pointer).is_file() {
            return Ok(Some((
                format!(
                    "the folder {shown} lies inside the folder of dataset '{prefix}' ({pointer}): a checkout of \
                     that dataset would delete it, and `dv add {prefix}` would store the remote in it"
                ),
                outside,
            )));
        }
    }
    let tree_git = crate::git::GitRepo::open(tree)?;
    let mut ignores = tree_git.ignores()?;
    let mut why = None;
    for sub in LAYOUT {
        let path = crate::paths::join(&rel, sub);
        match ignores.rule_for(&path, true)? {
            Some(rule) if !rule.negated => {}
            Some(rule) => {
                why = Some(format!("the rule {rule} re-includes '{path}'"));
                break;
            }
            None => {
                why = Some(format!("no rule in Git's ignore files matches '{path}'"));
                break;
            }
        }
    }
    let Some(why) = why else {
        return Ok(None);
    };
    Ok(Some((
        format!(
            "the folder {shown} lies inside the work tree {} and Git does not ignore it ({why}): `git add -A` \
             would commit the data pushed there into Git's history",
            tree.display()
        ),
        format!(
            "add the line '/{}/' to {} (or to .git/info/exclude), or {outside}",
            crate::ops::ignore::escape_ignore(&rel),
            tree.join(".gitignore").display()
        ),
    )))
}

/// Refuses to write to a folder remote that [`unignored_in_work_tree`] finds Git would commit. Checked each
/// time the remote is opened to write (push, `gc --remote`, `fsck --remote --repair`), since a committed
/// `.dv/config.toml` names the same relative folder in every clone; reading it (fetch, pull, status) goes on.
fn refuse_unignored_in_work_tree(repo: &Repo, name: &str, dir: &Path) -> Result<()> {
    match unignored_in_work_tree(repo, dir)? {
        None => Ok(()),
        Some((message, hint)) => Err(Error::RemoteFailed {
            remote: name.to_string(),
            message,
            hint: format!("{hint} (`dv remote modify {name} url PATH`)"),
            source: None,
        }),
    }
}

/// No link inside a folder remote's layout is followed: its `packs/` (and each `packs/XX/`), `index/` and `uses/`
/// are real folders, as in the cache. A link there could lead push, status and `gc --remote` into any other
/// folder (this repository's own cache: push finds everything "already there", and gc deletes local packs),
/// whatever the remote's own path says; a commit can carry such links when the remote is inside the work tree.
fn refuse_layout_links(name: &str, dir: &Path) -> Result<()> {
    let mut check = vec![dir.join("packs"), dir.join("index"), dir.join("uses")];
    if let Ok(entries) = std::fs::read_dir(dir.join("packs")) {
        check.extend(entries.flatten().map(|e| e.path()));
    }
    for p in check {
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            let target = std::fs::read_link(&p)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            return Err(Error::RemoteFailed {
                remote: name.to_string(),
                message: format!(
                    "{} is a symbolic link (to {target}); dv never follows a link inside a remote's folders",
                    p.display()
                ),
                hint: format!(
                    "replace the link by a real folder, or give the remote a folder of its own \
                     (`dv remote modify {name} url PATH`)"
                ),
                source: None,
            });
        }
    }
    Ok(())
}

/// Makes a folder remote's folder when it is missing, its parent is there and `access` writes (returned, so the
/// CLI can say so). A missing parent is an error: it is most likely a typo, and a typo must not become a new
/// store. Reading a missing folder is an error too: a read-only command creates nothing.
fn make_folder(
    name: &str,
    dir: &Path,
    access: Access,
    source: Option<&str>,
) -> Result<Option<PathBuf>> {
    if dir.is_dir() {
        return Ok(None);
    }
    // A registry's remote is not the reader's: where it is for them is a setting of theirs.
    if let Some(src) = source {
        return Err(Error::RemoteFailed {
            remote: name.to_string(),
            message: format!(
                "the remote of {src} is the folder {}, which is not there on this machine",
                dir.display()
            ),
            hint: format!(
                "say where that registry's data is for you: `dv config --global set \
                 source.{src}.remote.{name}.url PATH` (a folder, or the URL of a copy)"
            ),
            source: None,
        });
    }
    let hint = format!(
        "check the remote's URL (`dv remote list`; `dv remote modify {name} url PATH` changes it)"
    );
    if dir.exists() {
        return Err(Error::RemoteFailed {
            remote: name.to_string(),
            message: format!("{} is not a folder", dir.display()),
            hint,
            source: None,
        });
    }
    match dir.parent() {
        Some(parent) if parent.is_dir() => {}
        parent => {
            return Err(Error::RemoteFailed {
                remote: name.to_string(),
                message: format!(
                    "the folder {} does not exist, and neither does its parent {}",
                    dir.display(),
                    parent.unwrap_or(dir).display()
                ),
                hint: format!("{hint}; if the path is right, create its parent folder first"),
                source: None,
            });
        }
    }
    if access != Access::Write {
        return Err(Error::RemoteFailed {
            remote: name.to_string(),
            message: format!(
                "the folder {} does not exist: nothing has been pushed to it",
                dir.display()
            ),
            hint: format!("{hint}; if the path is right, `dv push` creates it"),
            source: None,
        });
    }
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(Some(dir.to_path_buf())),
        // Made by someone else in the meantime: fine.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(None),
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// The folder a `file://` URL or plain path names (relative paths are relative to the work tree root).
pub fn folder_path(repo: &Repo, url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Some(PathBuf::from(rest));
    }
    if url.contains("://") {
        return None;
    }
    let p = Path::new(url);
    Some(if p.is_absolute() {
        p.to_path_buf()
    } else {
        repo.root.join(p)
    })
}
