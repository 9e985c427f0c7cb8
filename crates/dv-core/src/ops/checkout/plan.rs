//! Planning a checkout: comparing the working copy with the targets, and what each change needs (the objects
//! to write from, and whether what it replaces is safe to lose).

use super::git_owned::refuse_git_owned;
use super::{Plan, Prepared, WriteJob};
use crate::ops::compare::{Change, Comparer, Have, list_dir};
use crate::ops::datasets::Target;
use crate::ops::now_ns;
use crate::paths::join;
use crate::repo::Repo;
use crate::session::Session;
use crate::store::object::{Node, NodeKind};
use crate::store::split::Layout;
use crate::store::statedb::HashedIn;
use crate::store::statedb::Stat;
use crate::store::{Store, hash_file};
use crate::{Error, ObjectId, Result};

/// Compares the working copy with the targets and plans the checkout, touching nothing. File chunks the cache
/// lacks are an error unless `chunks_to_come` (a fetch is about to bring them); trees and manifests must be in
/// the cache.
pub fn prepare(s: &Session, targets: &[Target], chunks_to_come: bool) -> Result<Prepared> {
    let (repo, store) = (s.repo(), s.store());
    let started = now_ns();
    let mut plan = Plan::default();
    let mut refreshed = Vec::new();
    for t in targets {
        crate::paths::check_no_linked_parents(&repo.root, &t.dataset.path)?;
        // A named path limits what the checkout may touch.
        t.check_to_write(repo, store)?;
    }
    // A dataset that lacks objects stops the whole checkout, but every dataset is looked at first, so that the
    // error can say which are whole (and could be checked out on their own).
    let mut missing: Option<Error> = None;
    let (mut lacking, mut whole) = (Vec::new(), Vec::new());
    for t in targets {
        let d = &t.dataset;
        let planned = (|| -> Result<()> {
            let mut cmp = Comparer::new(repo, store, t.scope.as_deref());
            cmp.layout = d.pointer.layout;
            // A dataset held in part, not named: only its parts are brought (ops/partial.rs).
            if t.scope.is_none() && !t.named {
                cmp.held = crate::ops::partial::to_bring(store, &d.path)?;
            }
            cmp.compare(&d.path, Some(&d.pointer.node))?;
            let out = cmp.out;
            if let Some(first) = out.missing.first() {
                return Err(Error::MissingObjects {
                    path: d.path.clone(),
                    count: out.missing.len(),
                    first: first.id,
                });
            }
            refreshed.extend(out.refreshed);
            for c in out.changes {
                plan_change(repo, store, c, d.pointer.layout, chunks_to_come, &mut plan)?;
            }
            Ok(())
        })();
        match planned {
            Ok(()) => whole.push(d.path.clone()),
            Err(e @ Error::MissingObjects { .. }) => {
                missing.get_or_insert(e);
                lacking.push(d.path.clone());
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(e) = missing {
        return Err(if whole.is_empty() {
            e
        } else {
            Error::MissingInSome {
                missing: Box::new(e),
                lacking,
                whole,
            }
        });
    }
    refuse_git_owned(s, &plan, targets)?;
    plan.unsafe_paths.sort();
    // What was hashed is worth remembering whatever happens next (a pull plans twice: the second plan, and a
    // status after a refusal, need not hash these files again).
    store
        .state_db()
        .put_stat_entries(refreshed.iter().map(|(p, e)| (p.as_str(), *e)))?;
    Ok(Prepared {
        plan,
        datasets: targets.iter().map(|t| t.dataset.path.clone()).collect(),
        started,
    })
}

/// Plans writing the dataset `t` (named whole: a new dataset, nothing at its path) staged: into `dir` (a
/// folder or file that does not exist yet, in a folder that does) rather than the work tree, which is not
/// touched. The caller renames `dir` into place once [`Prepared::apply`] is done. Chunks the cache lacks are
/// an error unless `chunks_to_come`. What Git's index tracks at the path is refused, as [`prepare`] refuses it.
pub fn prepare_fresh(
    s: &Session,
    t: &Target,
    dir: &std::path::Path,
    chunks_to_come: bool,
) -> Result<Prepared> {
    let d = &t.dataset;
    let mut plan = Plan {
        staged: Some((d.path.clone(), dir.to_path_buf())),
        ..Plan::default()
    };
    plan_node(
        s.store(),
        &d.path,
        &d.pointer.node,
        d.pointer.layout,
        chunks_to_come,
        false,
        &mut plan,
    )?;
    refuse_git_owned(s, &plan, std::slice::from_ref(t))?;
    Ok(Prepared {
        plan,
        datasets: vec![d.path.clone()],
        started: now_ns(),
    })
}

fn plan_change(
    repo: &Repo,
    store: &Store,
    c: Change,
    layout: Layout,
    chunks_to_come: bool,
    plan: &mut Plan,
) -> Result<()> {
    if c.mode_only {
        let exec = c.want.expect("modified has want").exec;
        plan.chmods.push((c.path, exec));
        return Ok(());
    }
    // What is there now must be safe to lose: stored by dv already, or `force`.
    match c.have {
        None => {}
        Some(Have::File { stat, content }) => {
            plan.seen.insert(c.path.clone(), Some(stat));
            if !is_stored(repo, store, &c.path, stat, content)? {
                plan.unsafe_paths.push(c.path.clone());
            }
            // A file that is not replaced by a file (nothing belongs there, or a folder does) goes first.
            if c.want.is_none_or(|w| w.kind == NodeKind::Tree) {
                plan.removes.push((c.path.clone(), false));
            }
        }
        Some(Have::Dir) => {
            check_dir_stored(repo, store, &c.path, plan)?;
            plan.removes.push((c.path.clone(), true));
        }
        Some(Have::Other) => {
            plan.seen.insert(c.path.clone(), None);
            plan.unsafe_paths.push(c.path.clone());
            plan.removes.push((c.path.clone(), false));
        }
    }
    if let Some(want) = c.want {
        let replaces = c.have.is_some();
        plan_node(
            store,
            &c.path,
            &want,
            layout,
            chunks_to_come,
            replaces,
            plan,
        )?;
    }
    Ok(())
}

/// Plans writing `node` (a file, or a whole tree) at `path`.
fn plan_node(
    store: &Store,
    path: &str,
    node: &Node,
    layout: Layout,
    chunks_to_come: bool,
    replaces: bool,
    plan: &mut Plan,
) -> Result<()> {
    let missing = |first| Error::MissingObjects {
        path: path.to_string(),
        count: 1,
        first,
    };
    if node.kind == NodeKind::Tree {
        plan.mkdirs.push(path.to_string());
        let tree = store.read_tree(&node.id).map_err(|e| missing_as(path, e))?;
        for e in &tree.entries {
            let child = join(path, &e.name);
            plan_node(store, &child, &e.node, layout, chunks_to_come, false, plan)?;
        }
        return Ok(());
    }
    let chunks = store
        .file_pieces(node.kind, &node.id, node.size)
        .map_err(|e| e.at_path(path))?
        .map_err(missing)?;
    if !chunks_to_come && let Some(p) = chunks.iter().find(|p| p.at.is_none()) {
        return Err(missing(p.id));
    }
    plan.writes.push(WriteJob {
        path: path.to_string(),
        node: *node,
        chunks,
        replaces,
        layout,
    });
    Ok(())
}

fn missing_as(path: &str, e: Error) -> Error {
    match e {
        Error::MissingObjects { count, first, .. } => Error::MissingObjects {
            path: path.to_string(),
            count,
            first,
        },
        other => other.at_path(path),
    }
}

/// True when the working file's content is in the cache, so replacing it loses nothing.
fn is_stored(
    repo: &Repo,
    store: &Store,
    path: &str,
    stat: Stat,
    content: Option<(NodeKind, ObjectId)>,
) -> Result<bool> {
    if let Some((kind, id)) = content {
        if store.contains(&id)? {
            return Ok(true);
        }
        // A file too small to have an id of its own in each layout: nothing else to try (no second read).
        if HashedIn::of_node(Layout::Flat, kind, stat.size) == HashedIn::Any {
            return Ok(false);
        }
    }
    // Stored in either layout (a large file has one id in each): the repository's first.
    let mine = repo.config.layout();
    let other = match mine {
        Layout::Flat => Layout::Split,
        Layout::Split => Layout::Flat,
    };
    for layout in [mine, other] {
        let (id, any) = match store.state_db().stat_entry(path)? {
            // Trusting the stat cache only saves reading the file: hashing it gives the same id (a file whose
            // content changed keeps neither its ctime nor its stat entry), so no test tells this guard from
            // `false`.
            Some(e) if e.holds(&stat, layout) => (e.id, e.hashed_in == HashedIn::Any),
            _ => {
                let h = hash_file(&repo.abs(path), layout)?;
                (h.id, h.hashed_in == HashedIn::Any)
            }
        };
        if store.contains(&id)? {
            return Ok(true);
        }
        if any {
            break;
        }
    }
    Ok(false)
}

fn check_dir_stored(repo: &Repo, store: &Store, path: &str, plan: &mut Plan) -> Result<()> {
    let abs = repo.abs(path);
    for item in list_dir(&abs)? {
        let child = join(path, &item.name);
        match item.have {
            Have::File { stat, .. } => plan.seen.insert(child.clone(), Some(stat)),
            Have::Other => plan.seen.insert(child.clone(), None),
            Have::Dir => None,
        };
        match item.have {
            Have::Dir => check_dir_stored(repo, store, &child, plan)?,
            Have::File { stat, .. } if is_stored(repo, store, &child, stat, None)? => {}
            _ => plan.unsafe_paths.push(child),
        }
    }
    Ok(())
}
