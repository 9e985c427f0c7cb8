//! What a remote lacks below some targets, walked through the cache: the push plan (what to send, in upload
//! order, and which remote packs it relies on) and `status --remote`'s per-dataset summary.

use std::collections::{HashMap, HashSet};

use super::Incomplete;
use crate::ops::datasets::Target;
use crate::remote::{Remote, RemoteLocation};
use crate::session::Session;
use crate::store::object::{Node, NodeKind};
use crate::store::{Location, Store};
use crate::{Error, ObjectId, Result};

/// What a push must send, in upload order, and what it relies on.
pub(super) struct PushPlan {
    /// Objects the remote lacks, in upload order.
    pub(super) upload: Vec<Location>,
    /// Objects found on the remote with nothing uploaded above them (not uploaded; what lies below them is
    /// checked, not counted).
    pub(super) skipped: u64,
    pub(super) incomplete: Vec<Incomplete>,
    /// Packs holding the objects on the remote that the push relies on without uploading anything above them
    /// (a target itself, or a child of an object it uploads): what its use record names.
    pub(super) relied_on: HashSet<ObjectId>,
    /// The trees and manifests of the complete targets that the walk read from the cache: once the upload is
    /// committed, the remote holds everything below each (what [`Known`] records).
    pub(super) whole: Vec<ObjectId>,
    /// Trees and manifests read from the cache to find the rest: about the nodes that differ from what the
    /// remote is known to hold whole, not the size of the datasets.
    pub(super) read: u64,
}

/// What this clone knows a remote holds whole: tree and manifest ids below which a push found (or put)
/// every object, kept in the state db with the packs listed then, and forgotten as soon as one of those packs
/// is no longer listed (a gc, damage). A walk does not go below a known id the remote lists, so pushing a
/// version that differs from a pushed one in a few files reads about the nodes that differ; after a gc the
/// next push walks everything once more and sends whatever the remote lost.
pub(crate) struct Known<'a> {
    store: &'a Store,
    remote: &'a str,
    /// The packs of the listing this was checked against.
    packs: HashSet<ObjectId>,
    any: bool,
}

impl<'a> Known<'a> {
    /// What is known of `remote`, checked against its current listing `on_remote`.
    pub(crate) fn check(
        store: &'a Store,
        remote: &'a str,
        on_remote: &HashMap<ObjectId, RemoteLocation>,
    ) -> Result<Known<'a>> {
        let packs: HashSet<ObjectId> = on_remote.values().map(|l| l.pack).collect();
        let any = store.state_db().check_remote_known(remote, &packs)?;
        Ok(Known {
            store,
            remote,
            packs,
            any,
        })
    }

    /// True when the remote holds `n` and every object below it: `n` is a tree or manifest the listing names
    /// (`listed`) and was learnt whole.
    fn holds(&self, n: &Node, listed: bool) -> Result<bool> {
        Ok(self.any
            && listed
            && n.kind != NodeKind::File
            && self.store.state_db().remote_knows(self.remote, &n.id)?)
    }

    /// Records that the remote holds everything below `ids`, now that `pushed` packs are committed too.
    pub(crate) fn learn(&self, ids: &[ObjectId], pushed: &[ObjectId]) -> Result<()> {
        let mut packs = self.packs.clone();
        packs.extend(pushed.iter().copied());
        self.store
            .state_db()
            .put_remote_known(self.remote, ids, &packs)
    }
}

/// The objects below the targets that the remote lacks, in upload order: chunks first, then manifests, then
/// trees with every tree after its children. Pushes upload in that order (each pack's index committing it), so
/// a tree or manifest on a remote implies everything below it is there too. The walk still goes below objects
/// the remote has whenever the cache can read them, so an object lost from the remote (damage, or a gc by an
/// older dv) is found and sent again, except below what `known` says the remote holds whole; below an object
/// only the remote has, the closure rule is trusted. A
/// target that needs an object neither side has is left out whole (its trees and manifests must not go up
/// without what lies below) and listed as incomplete.
pub(super) fn missing_on_remote(
    store: &Store,
    targets: &[Target],
    on_remote: &HashMap<ObjectId, RemoteLocation>,
    known: &Known<'_>,
) -> Result<PushPlan> {
    let mut seen = HashSet::new();
    let mut whole = Vec::new();
    let mut read = 0u64;
    let (mut chunks, mut manifests, mut trees) = (Vec::new(), Vec::new(), Vec::new());
    let mut skipped = 0u64;
    let mut incomplete = Vec::new();
    let mut relied_on = HashSet::new();
    for t in targets {
        // This target's findings, kept only if it turns out complete.
        let (mut t_seen, mut t_chunks, mut t_manifests, mut t_trees) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut t_relied = Vec::new();
        let mut t_whole = Vec::new();
        let mut t_skipped = 0u64;
        let mut missing = None;
        // (node, where it is once its children have been visited, whether its parent is on the remote)
        let mut stack: Vec<(Node, Option<Location>, bool)> =
            vec![(t.dataset.pointer.node, None, false)];
        while let Some((n, expanded, under_remote)) = stack.pop() {
            if let Some(loc) = expanded {
                match n.kind {
                    NodeKind::Tree => t_trees.push(loc),
                    _ => t_manifests.push(loc),
                }
                continue;
            }
            if !seen.insert(n.id) {
                continue;
            }
            t_seen.push(n.id);
            let remote_loc = on_remote.get(&n.id);
            if let Some(r) = remote_loc
                && !under_remote
            {
                t_skipped += 1;
                t_relied.push(r.pack);
            }
            if known.holds(&n, remote_loc.is_some())? {
                continue;
            }
            // One lookup tells both whether the cache has it and where, for the upload.
            let local = store.locate(&n.id)?;
            let Some(loc) = local else {
                if remote_loc.is_none() {
                    missing = Some(n.id);
                    break;
                }
                continue; // only the remote has it: trust what lies below
            };
            let here = remote_loc.is_some();
            match n.kind {
                NodeKind::File => {
                    if !here {
                        t_chunks.push(loc)
                    }
                }
                // A manifest or tree goes up after everything below it (a split one's index after its
                // leaves), so one on the remote implies its children are there.
                NodeKind::Chunked | NodeKind::Tree => {
                    if !here {
                        stack.push((n, Some(loc), false));
                    }
                    t_whole.push(n.id);
                    read += 1;
                    stack.extend(
                        store
                            .children(n.kind, &n.id)?
                            .into_iter()
                            .map(|c| (c, None, here)),
                    );
                }
            }
        }
        match missing {
            Some(first) => {
                // Another target may share these objects and be complete: let it walk them again.
                for id in t_seen {
                    seen.remove(&id);
                }
                incomplete.push(Incomplete {
                    path: t.dataset.path.clone(),
                    id: t.dataset.pointer.node.id,
                    missing: first,
                });
            }
            None => {
                chunks.extend(t_chunks);
                manifests.extend(t_manifests);
                trees.extend(t_trees);
                relied_on.extend(t_relied);
                whole.extend(t_whole);
                skipped += t_skipped;
            }
        }
    }
    let mut tables = Vec::new();
    for t in targets {
        let left_out = incomplete
            .iter()
            .any(|i| i.path == t.dataset.path && i.id == t.dataset.pointer.node.id);
        if left_out {
            continue;
        }
        if let Some(r) = &t.dataset.pointer.table {
            table_missing(
                store,
                r.id,
                on_remote,
                &mut seen,
                &mut tables,
                &mut relied_on,
            )?;
        }
    }
    // Chunks in local pack order, for sequential reads.
    chunks.sort_unstable_by_key(|l| (l.pack, l.entry.offset));
    let mut order = chunks;
    order.extend(manifests);
    order.extend(trees);
    for id in tables {
        order.push(
            store
                .locate(&id)?
                .ok_or_else(|| Error::Internal(format!("{id} vanished")))?,
        );
    }
    Ok(PushPlan {
        upload: order,
        skipped,
        incomplete,
        relied_on,
        whole,
        read,
    })
}

/// The objects of a table (header `id`) that the remote lacks, children before parents so that each
/// upload keeps the closure rule. Like `missing_on_remote`, it goes below objects the remote has when the cache
/// can read them, and adds to `relied_on` the packs of remote objects nothing uploaded lies above.
fn table_missing(
    store: &Store,
    id: ObjectId,
    on_remote: &HashMap<ObjectId, RemoteLocation>,
    seen: &mut HashSet<ObjectId>,
    out: &mut Vec<ObjectId>,
    relied_on: &mut HashSet<ObjectId>,
) -> Result<()> {
    // (id, children listed, whether its parent is on the remote)
    let mut stack: Vec<(ObjectId, bool, bool)> = vec![(id, false, false)];
    while let Some((n, expanded, under_remote)) = stack.pop() {
        if expanded {
            out.push(n);
            continue;
        }
        if !seen.insert(n) {
            continue;
        }
        let here = on_remote.get(&n);
        if let Some(r) = here
            && !under_remote
        {
            relied_on.insert(r.pack);
        }
        if here.is_some() && !store.contains(&n)? {
            continue; // only the remote has it: trust what lies below
        }
        if here.is_none() {
            stack.push((n, true, false));
        }
        if n == id {
            let h = crate::table::read_header(store, &id)?;
            stack.extend(h.root.map(|r| (r, false, here.is_some())));
        } else if let crate::table::rowtree::Node::Inner { children, .. } =
            crate::table::rowtree::NodeSource::node(&crate::table::StoreNodes(store), &n)?
        {
            stack.extend(children.into_iter().map(|c| (c.1, false, here.is_some())));
        }
    }
    Ok(())
}

/// What a remote lacks of one dataset.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RemoteState {
    pub remote: String,
    /// True when the remote holds everything the pointer reaches.
    pub pushed: bool,
    /// Objects the remote lacks that the cache has (what a push would send)...
    pub missing_objects: u64,
    /// ...and their stored size.
    pub missing_bytes: u64,
    /// Objects neither the remote nor the cache has: nobody can restore these from here.
    pub unavailable_objects: u64,
}

/// What `remote` lacks of each target: everything below the target that the remote's current index listing
/// does not name, walked through the cache (below an object only the remote has, the closure rule is trusted;
/// below one a push found whole, see `Known`, nothing is read).
pub fn remote_state(s: &Session, remote: &Remote, targets: &[Target]) -> Result<Vec<RemoteState>> {
    let store = s.store();
    let (on_remote, _unreadable) = remote.objects()?;
    let known = Known::check(store, &remote.name, &on_remote)?;
    let mut out = Vec::new();
    for t in targets {
        let mut st = RemoteState {
            remote: remote.name.clone(),
            ..Default::default()
        };
        let mut seen = HashSet::new();
        let mut stack = vec![t.dataset.pointer.node];
        while let Some(n) = stack.pop() {
            if !seen.insert(n.id) {
                continue;
            }
            let here = on_remote.contains_key(&n.id);
            if known.holds(&n, here)? {
                continue;
            }
            let Some(loc) = store.locate(&n.id)? else {
                if !here {
                    st.unavailable_objects += 1;
                }
                continue;
            };
            if !here {
                st.missing_objects += 1;
                st.missing_bytes += loc.entry.stored_len as u64;
            }
            stack.extend(store.children(n.kind, &n.id)?);
        }
        if let Some(r) = &t.dataset.pointer.table {
            if store.contains(&r.id)? {
                let mut objs = Vec::new();
                table_missing(
                    store,
                    r.id,
                    &on_remote,
                    &mut seen,
                    &mut objs,
                    &mut HashSet::new(),
                )?;
                for id in objs {
                    if let Some(loc) = store.locate(&id)? {
                        st.missing_objects += 1;
                        st.missing_bytes += loc.entry.stored_len as u64;
                    }
                }
            } else if !on_remote.contains_key(&r.id) {
                st.unavailable_objects += 1;
            }
        }
        st.pushed = st.missing_objects == 0 && st.unavailable_objects == 0;
        out.push(st);
    }
    Ok(out)
}
