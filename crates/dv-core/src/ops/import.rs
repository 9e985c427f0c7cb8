//! `dv import` and `dv update`: a dataset of another repository (or a path inside one) brought in as a dataset
//! of this one, whose pointer records where it came from (`[source]`: the repository as recorded, the revision
//! asked for, the commit it resolved to, the path), and moved to a newer commit of that revision later. The
//! objects come from the source's remote (each verified) into this repository's cache. A new import's files
//! are written as their chunks arrive (as `dv pull` writes them) into a folder of the cache's temporary folder,
//! renamed into the work tree once whole; an update is checked out. The ignore line is written before the data
//! appears, so Git never sees it, and the pointer last, so a kill leaves at worst data without its pointer,
//! which importing again takes when it is exactly that version.

use super::checkout::{self, CheckoutOptions, CheckoutReport};
use super::datasets::{Dataset, InVersion, Source, Target, resolve_targets};
use super::transfer::TransferReport;
use super::treediff::{FileDiff, Summary};
use crate::paths::POINTER_SUFFIX;
use crate::pointer::{Pointer, SourceRef};
use crate::progress::{Progress, Unit};
use crate::registry::Opened;
use crate::session::Locked;
use crate::store::statedb::RowCounts;
use crate::{Error, Result};

/// What `dv import` or `dv update` did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImportReport {
    /// The dataset's path in this repository.
    pub path: String,
    pub source: SourceShown,
    /// `dv update`: the commit the import was at before (`None` for `dv import`).
    pub previous_commit: Option<String>,
    /// The dataset's content changed (always true for a new import).
    pub changed: bool,
    /// What changed in the files (`dv update`, when the old version's trees are in the cache).
    pub summary: Option<Summary>,
    pub files: Vec<FileDiff>,
    /// Row counts of a table whose versions both are in the cache.
    pub rows: Option<RowCounts>,
    pub fetch: TransferReport,
    pub checkout: CheckoutReport,
    pub staged: Vec<String>,
}

/// A source record as reports show it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SourceShown {
    pub url: String,
    pub rev: Option<String>,
    pub commit: String,
    pub path: String,
}

impl From<&SourceRef> for SourceShown {
    fn from(s: &SourceRef) -> SourceShown {
        SourceShown {
            url: s.url.clone(),
            rev: s.rev.clone(),
            commit: s.commit.clone(),
            path: s.path.clone(),
        }
    }
}

/// A new import written whole before it appears: its files, written as the fetch brings their chunks (as
/// `dv pull` writes a checkout's), in a folder of the cache's temporary folder that is renamed into the work
/// tree once complete.
struct Staged {
    /// Removed when dropped (empty once `item` is renamed into place).
    tmp: super::get::TempBeside,
    item: std::path::PathBuf,
    prepared: checkout::Prepared,
    written: checkout::Written,
}

/// Where a new import at `abs` is staged: the cache's temporary folder when it is on the same file system
/// (a rename then puts the data in place), else the work tree's own `.dv/cache/tmp` (a cache shared from
/// another disk), else the folder that will hold it (a mount point inside the work tree), where a marked
/// folder left by a kill is removed by the next import there.
fn staging_dir(store: &crate::store::Store, abs: &std::path::Path) -> Result<std::path::PathBuf> {
    let existing = abs
        .parent()
        .and_then(|p| p.ancestors().find(|a| a.is_dir()))
        .ok_or_else(|| Error::usage(format!("no folder to import into at {}", abs.display())))?;
    let tmp = store.tmp_dir();
    if let Some(dir) = crate::fsutil::tmp_dir_for(existing, &tmp) {
        if dir != tmp {
            super::get::TempBeside::clean_leftovers(&dir);
        }
        return Ok(dir);
    }
    let parent = abs.parent().expect("a data path has a parent folder");
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    super::get::TempBeside::clean_leftovers(parent);
    Ok(parent.to_path_buf())
}

/// Imports `source_path` of `src` (opened at the revision `rev` the user asked for, `None`: its HEAD) as the
/// new dataset `out` (a repository path where nothing is yet).
pub fn import(
    s: &Locked<'_>,
    src: &Opened,
    rev: Option<&str>,
    source_path: &str,
    out: &str,
    stage: bool,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    let repo = s.repo();
    if let Some(why) = crate::paths::dataset_path_problem(out) {
        return Err(Error::usage(format!("cannot import to {out:?}: {why}")));
    }
    if let Some(d) = super::datasets::enclosing_dataset(repo, out)? {
        return Err(Error::usage(format!(
            "cannot import to '{out}': it is inside the dataset '{}'",
            d.path
        )));
    }
    let pointer_path = format!("{out}{POINTER_SUFFIX}");
    // Data there without a pointer may be what a killed import of the same version left: `bring` takes it
    // when it is exactly that, and refuses it otherwise.
    let leftover = std::fs::symlink_metadata(repo.abs(out)).is_ok()
        && std::fs::symlink_metadata(repo.abs(&pointer_path)).is_err();
    for p in [out, pointer_path.as_str()] {
        if std::fs::symlink_metadata(repo.abs(p)).is_ok() && !leftover {
            let hint = match super::datasets::read_pointer(repo, out) {
                Ok(Some(d)) if d.pointer.source.is_some() => {
                    " (it is an import already: `dv update` moves it to a newer version)"
                }
                _ => " (remove it, or name another path with -o)",
            };
            return Err(Error::usage(format!(
                "cannot import to '{out}': '{p}' exists{hint}"
            )));
        }
    }
    bring(s, src, rev, source_path, out, None, stage, progress)
}

/// Moves the import `d` to the newest commit of its revision (or to `rev`), as `src` (opened there) holds it.
pub fn update(
    s: &Locked<'_>,
    src: &Opened,
    rev: Option<&str>,
    d: &Dataset,
    stage: bool,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    let Some(old) = &d.pointer.source else {
        return Err(Error::usage(format!(
            "'{}' was not imported (`dv import` brings a dataset from another repository)",
            d.path
        )));
    };
    let path = old.path.clone();
    bring(s, src, rev, &path, &d.path, Some(d), stage, progress)
}

#[allow(clippy::too_many_arguments)]
fn bring(
    s: &Locked<'_>,
    src: &Opened,
    rev: Option<&str>,
    source_path: &str,
    out: &str,
    previous: Option<&Dataset>,
    stage: bool,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    let (repo, store) = (s.repo(), s.store());
    let source = Source::Rev {
        git: &src.git,
        commit: src.commit.clone(),
    };
    let targets = resolve_targets(&src.repo, &source, &[source_path.to_string()])?;
    let [target] = targets.as_slice() else {
        return Err(Error::usage(format!(
            "'{source_path}' holds {} datasets in {}: import them one at a time",
            targets.len(),
            src.record
        )));
    };
    if !target.named && target.scope.is_none() {
        return Err(Error::usage(format!(
            "'{source_path}' is a folder holding the dataset '{}' in {}: import the dataset by its path",
            target.dataset.path, src.record
        )));
    }
    let at = target
        .scope
        .clone()
        .unwrap_or_else(|| target.dataset.path.clone());
    // Staging must be possible before anything is written.
    let git = if stage && repo.config.stage {
        Some(s.git()?)
    } else {
        None
    };
    let pointer_path = format!("{out}{POINTER_SUFFIX}");
    if let Some(git) = git {
        git.check_stageable(std::slice::from_ref(&pointer_path))?;
    }
    let remote = crate::registry::open_remote(&src.repo, &src.record, None)?;
    super::transfer::fetch_imports(s, Some(&remote), &targets, progress)?;
    // Data at `out` with no pointer (`import` let it through) is taken only when it is exactly this version: what
    // a killed import of it left, the data whole and the pointer not yet written.
    let left_whole = previous.is_none() && std::fs::symlink_metadata(repo.abs(out)).is_ok();
    // A new import appears whole or not at all: staged in a folder on its file system, then renamed into place.
    let abs = repo.abs(out);
    let staging = if previous.is_none() && !left_whole {
        crate::paths::check_no_linked_parents(&repo.root, out)?;
        Some(staging_dir(store, &abs)?)
    } else {
        None
    };
    let whole = target.scope.is_none();
    let mut fetch = super::transfer::Fetch::new(store, &remote, &targets)?;
    let (mut pointer, mut staged) = (None, None);
    progress.start("Fetching", None, Unit::Bytes);
    let result = (|| -> Result<()> {
        let chunks = fetch.structure(progress)?;
        fetch.commit()?;
        let node = match target.dataset.node_at(store, &at)? {
            InVersion::Node(n) => n,
            _ => {
                return Err(Error::NotInVersion {
                    path: at.clone(),
                    version: format!("{} at {}", src.record, src.commit.rev),
                    above: None,
                });
            }
        };
        // What the source declares (its pointer's size and file count, each folder's) must be what its trees
        // hold: the new pointer says it again, and `dv fsck` here would find the source's mistake.
        check_totals(
            store,
            &node,
            &format!("{} in {}", target.dataset.pointer_path(), src.record),
        )?;
        let new = Pointer {
            node,
            table: if whole {
                target.dataset.pointer.table.clone()
            } else {
                None
            },
            meta: if whole {
                target.dataset.pointer.meta.clone()
            } else {
                Default::default()
            },
            layout: target.dataset.pointer.layout,
            source: Some(SourceRef {
                url: src.record.clone(),
                rev: rev.map(str::to_string),
                commit: src.commit.id.to_string(),
                path: at.clone(),
            }),
        };
        new.encode_checked(&pointer_path)?;
        match &staging {
            Some(tmp_dir) => {
                let tmp = super::get::TempBeside::new(&tmp_dir.join("import"))?;
                let item = tmp.path().join("data");
                let t = Target {
                    dataset: Dataset {
                        path: out.to_string(),
                        pointer: new.clone(),
                        rev: None,
                    },
                    scope: None,
                    named: true,
                };
                let prepared = checkout::prepare_fresh(s, &t, &item, true)?;
                let direct = prepared.direct_writer(repo);
                fetch.contents(chunks, Some(&direct), progress)?;
                let written = direct.finish();
                staged = Some(Staged {
                    tmp,
                    item,
                    prepared,
                    written,
                });
            }
            None => fetch.contents(chunks, None, progress)?,
        }
        pointer = Some(new);
        Ok(())
    })();
    progress.finish();
    let fetch = fetch.finish(result)?;
    let pointer = pointer.expect("made when the fetch succeeds");
    // What changed, from what the cache holds of the old version.
    let mut report = ImportReport {
        path: out.to_string(),
        source: pointer.source.as_ref().expect("set above").into(),
        previous_commit: previous
            .and_then(|d| d.pointer.source.as_ref())
            .map(|s| s.commit.clone()),
        changed: previous.is_none_or(|d| d.pointer.node != pointer.node),
        summary: None,
        files: Vec::new(),
        rows: None,
        fetch,
        checkout: CheckoutReport::default(),
        staged: Vec::new(),
    };
    if let Some(d) = previous
        && report.changed
    {
        if let Ok(diff) =
            super::treediff::diff(store, out, Some(&d.pointer.node), Some(&pointer.node))
            && diff.missing.is_empty()
        {
            report.summary = Some(diff.summary());
            report.files = diff.files;
        }
        if let (Some(a), Some(b)) = (&d.pointer.table, &pointer.table)
            && store.contains(&a.id)?
        {
            report.rows = super::table::row_counts(store, &a.id, &b.id).ok();
        }
    }
    if left_whole && !super::compare::matches_pointer(repo, store, out, &pointer)? {
        return Err(Error::usage(format!(
            "cannot import to '{out}': '{out}' exists (remove it, or name another path with -o)"
        )));
    }
    // The ignore line before the data appears in the work tree, so that Git never sees it; the pointer last.
    let mut staging = super::pointers::Staging::default();
    let ignore = |staging: &mut super::pointers::Staging| -> Result<()> {
        for written in super::ignore::ensure_ignored(repo, out)? {
            staging.also(written);
        }
        // Written by an earlier run that was stopped before staging it.
        if let Some(git) = git
            && super::ignore::union_attribute_untracked(repo, git)?
        {
            staging.also(".gitattributes");
        }
        Ok(())
    };
    let dataset = Dataset {
        path: out.to_string(),
        pointer: pointer.clone(),
        rev: None,
    };
    let t = Target {
        dataset,
        scope: None,
        named: true,
    };
    report.checkout = match (previous, staged) {
        // What a killed import of this very version left (checked above).
        (None, _) if left_whole => {
            ignore(&mut staging)?;
            CheckoutReport {
                datasets: vec![out.to_string()],
                ..CheckoutReport::default()
            }
        }
        // A kill from here on leaves only the staged folder, which the next dv command that opens the cache
        // (or imports beside it) removes.
        (None, Some(st)) => {
            tracing::debug!(
                direct = st.written.len(),
                "files written straight from the fetch"
            );
            let done = st.prepared.apply(
                s,
                &CheckoutOptions::default(),
                st.written,
                &mut || Ok(()),
                progress,
            )?;
            crate::fault::point("import-before-rename");
            // The ignore line is taken out again when the data cannot be put in place: left, it would hide
            // the user's own files there from Git.
            let ignore_file = repo.abs(&super::ignore::ignore_file_of(out));
            let before = crate::fsutil::read_own(&ignore_file)?;
            ignore(&mut staging)?;
            let placed = (|| -> Result<()> {
                // Never through a link planted meanwhile, never over something that appeared there.
                crate::paths::check_no_linked_parents(&repo.root, out)?;
                if !crate::fsutil::rename_no_replace(&st.item, &abs)? {
                    return Err(Error::usage(format!(
                        "cannot import to '{out}': something appeared there meanwhile"
                    )));
                }
                Ok(())
            })();
            if let Err(e) = placed {
                match &before {
                    Some(old) => repo.write_file(&ignore_file, old)?,
                    None => {
                        let _ = std::fs::remove_file(&ignore_file);
                    }
                }
                return Err(e);
            }
            drop(st.tmp);
            done
        }
        _ => {
            ignore(&mut staging)?;
            checkout::checkout(
                s,
                std::slice::from_ref(&t),
                &CheckoutOptions::default(),
                &mut || Ok(()),
                progress,
            )?
        }
    };
    crate::fault::point("import-before-pointer");
    staging.write_pointer(repo, &pointer_path, &pointer)?;
    report.staged = match git {
        Some(git) => staging.stage(repo, Some(git))?,
        None => Vec::new(),
    };
    Ok(report)
}

/// Whether an import is behind its source.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImportState {
    pub path: String,
    pub source: SourceShown,
    /// The commit its revision names in the source now (as last fetched, or just now with `refresh`); `None`
    /// when the source has never been fetched on this machine.
    pub latest: Option<String>,
    /// The dataset differs at that commit (a newer commit that leaves the dataset as it was is not behind).
    pub behind: bool,
}

/// The state of import `d`: offline from the source's mirror (or the repository itself for a path), or with
/// `refresh` after fetching the source now.
pub fn import_state(
    here: &crate::repo::Repo,
    d: &Dataset,
    refresh: bool,
) -> Result<Option<ImportState>> {
    let Some(src) = &d.pointer.source else {
        return Ok(None);
    };
    let location = crate::registry::Location::parse(&src.url, &here.root, None)?;
    let rev = src.rev.as_deref();
    let found = if refresh {
        let o = crate::registry::open(&location, rev, &here.settings, Some(here))?;
        Some((o.git, o.commit, Some((o.repo, o.record))))
    } else {
        crate::registry::resolve_offline(&location, rev, &here.settings)?.map(|(g, c)| (g, c, None))
    };
    let mut state = ImportState {
        path: d.path.clone(),
        source: src.into(),
        latest: None,
        behind: false,
    };
    let Some((git, latest, online)) = found else {
        return Ok(Some(state));
    };
    state.latest = Some(latest.id.to_string());
    if gix_commit(&src.commit) == Some(latest.id) {
        return Ok(Some(state));
    }
    let holding = |commit: crate::git::Commit| -> Result<Option<Dataset>> {
        Source::Rev { git: &git, commit }.dataset_holding(here, &src.path)
    };
    let Some(new) = holding(latest.clone())? else {
        // The source no longer has the path: nothing to update to, but not the version imported either.
        state.behind = true;
        return Ok(Some(state));
    };
    if new.path == src.path {
        state.behind = new.pointer.node != d.pointer.node;
        return Ok(Some(state));
    }
    // A path inside a dataset: the same dataset root means the same data; a different one is compared at the
    // path when the source can be asked now (its trees on the way, fetched into the source's cache), and
    // counts as behind otherwise.
    let old = gix_commit(&src.commit).and_then(|id| {
        holding(crate::git::Commit {
            id,
            rev: src.commit.clone(),
        })
        .ok()
        .flatten()
    });
    if old.is_some_and(|o| o.pointer.node == new.pointer.node) {
        return Ok(Some(state));
    }
    state.behind = match online {
        Some((repo, record)) => {
            let session = repo.open()?;
            let locked = session.lock()?;
            let source = Source::Rev {
                git: &git,
                commit: latest,
            };
            let remote = || crate::registry::open_remote(locked.repo(), &record, None);
            node_fetching_trees(&locked, &source, &src.path, &remote)? != Some(d.pointer.node)
        }
        None => true,
    };
    Ok(Some(state))
}

/// What `source` holds at `path` (a dataset or a path inside one), the trees on the way fetched from `remote`
/// into `s`'s cache when it lacks them; `None` when nothing is there.
fn node_fetching_trees(
    s: &Locked<'_>,
    source: &Source<'_>,
    path: &str,
    remote: &dyn Fn() -> Result<crate::remote::Remote>,
) -> Result<Option<crate::store::object::Node>> {
    let targets = match resolve_targets(s.repo(), source, &[path.to_string()]) {
        Ok(t) => t,
        Err(Error::NotTracked(_) | Error::NotTrackedAt { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let [t] = targets.as_slice() else {
        return Ok(None);
    };
    match t.dataset.node_at(s.store(), path) {
        Ok(InVersion::Node(n)) => return Ok(Some(n)),
        Ok(_) => return Ok(None),
        Err(Error::MissingObjects { .. }) => {}
        Err(e) => return Err(e),
    }
    let remote = remote()?;
    let mut fetch = super::transfer::Fetch::new(s.store(), &remote, &targets)?;
    let result = fetch.trees(false, &crate::progress::NoProgress);
    fetch.finish(result)?;
    match t.dataset.node_at(s.store(), path)? {
        InVersion::Node(n) => Ok(Some(n)),
        _ => Ok(None),
    }
}

fn gix_commit(hex: &str) -> Option<gix::ObjectId> {
    gix::ObjectId::from_hex(hex.as_bytes()).ok()
}

/// Checks that `node` (a tree: each folder below it) declares the bytes and files its trees hold, each
/// distinct tree once; `what` names the pointer in the error.
fn check_totals(
    store: &crate::store::Store,
    node: &crate::store::object::Node,
    what: &str,
) -> Result<()> {
    use crate::store::object::NodeKind;
    if node.kind != NodeKind::Tree {
        return Ok(());
    }
    let mut totals: std::collections::HashMap<crate::ObjectId, (u64, u64)> =
        std::collections::HashMap::new();
    // Depth first, children before parents: (node, children pushed yet).
    let mut stack = vec![(*node, false)];
    while let Some((n, expanded)) = stack.pop() {
        if totals.contains_key(&n.id) {
            continue;
        }
        let tree = store.read_tree(&n.id)?;
        if !expanded {
            stack.push((n, true));
            for e in &tree.entries {
                if e.node.kind == NodeKind::Tree && !totals.contains_key(&e.node.id) {
                    stack.push((e.node, false));
                }
            }
            continue;
        }
        let (mut size, mut files) = (0u64, 0u64);
        for e in &tree.entries {
            let (s, f) = match e.node.kind {
                NodeKind::Tree => {
                    let held = totals[&e.node.id];
                    if held != (e.node.size, e.node.files) {
                        return Err(declared(what, &e.name, (e.node.size, e.node.files), held));
                    }
                    held
                }
                _ => (e.node.size, 1),
            };
            size = size.saturating_add(s);
            files = files.saturating_add(f);
        }
        totals.insert(n.id, (size, files));
    }
    let held = totals[&node.id];
    if held != (node.size, node.files) {
        return Err(declared(what, ".", (node.size, node.files), held));
    }
    Ok(())
}

fn declared(what: &str, name: &str, said: (u64, u64), held: (u64, u64)) -> Error {
    Error::format(
        what,
        format!(
            "'{name}' is said to hold {} bytes in {} file(s), but its trees hold {} bytes in {} file(s): the \
             source repository is damaged, nothing was imported",
            said.0, said.1, held.0, held.1
        ),
    )
}
