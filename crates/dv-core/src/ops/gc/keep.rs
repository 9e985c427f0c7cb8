//! What a remote gc keeps besides its scope: the packs named by young use records, everything a young pack
//! reaches (read from the cache or, verified, from the remote), and what the records listed again while it
//! deletes (rule 3 of docs/format.md) add.

use std::collections::{HashMap, HashSet};

use crate::remote::Remote;
use crate::store::Store;
use crate::store::pack::{self, ENTRY_HEADER_LEN, IndexEntry, PackIndex};
use crate::{Error, ObjectId, Result};

/// What gc learns from the use records it lists again while it deletes (rule 3 of docs/format.md).
pub(super) struct LateUses {
    /// The packs whose closure is kept: the young ones of the plan and those recorded since.
    pub(super) closed: HashSet<ObjectId>,
    /// The doomed packs that stay: those a young record names, and those holding an object that a pack
    /// recorded since reaches.
    pub(super) spared: HashSet<ObjectId>,
    /// The packs deleted so far (nothing can be read from them, or kept in them, any more).
    pub(super) deleted: HashSet<ObjectId>,
    /// Every object kept so far: the plan's, then the closure of each pack recorded since.
    pub(super) live: HashSet<ObjectId>,
}

impl LateUses {
    /// Lists the use records again. A pack a record names stays; a pack recorded since the plan was made also
    /// keeps its closure, as a young pack does: every doomed pack holding an object it reaches stays whole (a
    /// push that found a version on the remote records the pack of its top object, and relies on what lies
    /// below it in older packs). Lists again after walking such a closure, so the last listing before a
    /// deletion is never older than the walk.
    pub(super) fn relist(
        &mut self,
        store: &Store,
        remote: &Remote,
        indexes: &[(PackIndex, i64)],
        on_remote: &HashMap<ObjectId, (ObjectId, IndexEntry)>,
        doomed: &[&PackIndex],
        young: &dyn Fn(i64) -> bool,
    ) -> Result<()> {
        loop {
            let (used, _) = used_packs(remote, young)?;
            self.spared.extend(used.iter().copied());
            let fresh: HashSet<ObjectId> = used
                .into_iter()
                .filter(|p| !self.closed.contains(p) && !self.deleted.contains(p))
                .collect();
            if fresh.is_empty() {
                return Ok(());
            }
            self.closed.extend(fresh.iter().copied());
            let readable: HashMap<ObjectId, (ObjectId, IndexEntry)> = on_remote
                .iter()
                .filter(|(_, (pack, _))| !self.deleted.contains(pack))
                .map(|(id, at)| (*id, *at))
                .collect();
            let before = self.live.clone();
            keep_young_closure(store, remote, indexes, &fresh, &readable, &mut self.live)?;
            for index in doomed {
                if !self.deleted.contains(&index.pack_id)
                    && index
                        .entries
                        .iter()
                        .any(|e| self.live.contains(&e.id) && !before.contains(&e.id))
                {
                    self.spared.insert(index.pack_id);
                }
            }
        }
    }
}

/// The packs named by use records younger than the grace period, and the records older than it.
pub(super) fn used_packs(
    remote: &Remote,
    young: &dyn Fn(i64) -> bool,
) -> Result<(HashSet<ObjectId>, Vec<ObjectId>)> {
    let (mut used, mut old) = (HashSet::new(), Vec::new());
    for (name, time) in remote.use_records()? {
        if !young(time) {
            old.push(name);
            continue;
        }
        match remote.read_use_record(&name)? {
            Ok(packs) => used.extend(packs),
            Err(message) => {
                return Err(Error::RemoteFailed {
                    remote: remote.name.clone(),
                    message: format!(
                        "use record uses/{}.use cannot be read ({message}); gc stops, since it cannot tell \
                         which packs a recent push relies on",
                        name.to_hex()
                    ),
                    hint: format!(
                        "gc deletes the record once it is older than the grace period, and `dv fsck --remote \
                         {0}` reports it; delete it sooner only if no push to '{0}' that could have written it \
                         is running",
                        remote.name
                    ),
                    source: None,
                });
            }
        }
    }
    Ok((used, old))
}

/// Adds to `live` every object in the `young` packs and everything those objects reach: a push within the
/// grace period may have committed a version no pointer in scope names, on top of objects that older packs
/// hold. Trees, manifests and table nodes are read from the cache, or from the remote when the cache lacks
/// them (verified); an object `live` held already was walked with everything below it.
pub(super) fn keep_young_closure(
    store: &Store,
    remote: &Remote,
    indexes: &[(PackIndex, i64)],
    young: &HashSet<ObjectId>,
    on_remote: &HashMap<ObjectId, (ObjectId, IndexEntry)>,
    live: &mut HashSet<ObjectId>,
) -> Result<()> {
    use crate::store::object::ObjectKind;
    let mut level: Vec<(ObjectId, ObjectKind)> = indexes
        .iter()
        .filter(|(i, _)| young.contains(&i.pack_id))
        .flat_map(|(i, _)| i.entries.iter().map(|e| (e.id, e.kind)))
        .collect();
    let mut seen: HashSet<ObjectId> = HashSet::new();
    while !level.is_empty() {
        let mut expand: Vec<(ObjectId, ObjectKind)> = Vec::new();
        for (id, kind) in level.drain(..) {
            if !seen.insert(id) {
                continue;
            }
            // Live already: the scope's walk went below it (or it is a chunk, with nothing below).
            if !live.insert(id) && store.contains(&id)? {
                continue;
            }
            if kind != ObjectKind::Chunk {
                expand.push((id, kind));
            }
        }
        // The bytes of each object to expand: from the cache, else read from the remote.
        let mut raws: Vec<(ObjectId, ObjectKind, Vec<u8>)> = Vec::new();
        let mut from_remote: HashMap<ObjectId, Vec<(ObjectKind, IndexEntry)>> = HashMap::new();
        for (id, kind) in expand {
            if store.contains(&id)? {
                raws.push((id, kind, store.read(&id)?));
            } else if let Some((pack, e)) = on_remote.get(&id) {
                from_remote.entry(*pack).or_default().push((kind, *e));
            }
            // Neither: nothing below it can be kept (fsck reports such a gap).
        }
        let wanted: Vec<(ObjectId, Vec<std::ops::Range<u64>>)> = from_remote
            .iter()
            .map(|(pack, es)| (*pack, es.iter().map(|(_, e)| e.range()).collect()))
            .collect();
        let got = remote.read_ranges(&wanted)?;
        for ((pack, _), bytes) in wanted.iter().zip(got) {
            for ((kind, e), b) in from_remote[pack].iter().zip(bytes) {
                pack::check_entry_header(&b, e)?;
                let raw = pack::decode_object(e, &b[ENTRY_HEADER_LEN as usize..])?;
                raws.push((e.id, *kind, raw));
            }
        }
        for (id, kind, raw) in raws {
            let corrupt = |e: Error| Error::Corrupt {
                id,
                message: format!("{e}; gc stops, since it cannot tell what this object reaches"),
            };
            match kind {
                ObjectKind::Tree | ObjectKind::Manifest => {
                    let named = kind
                        .node_kind()
                        .expect("a tree or manifest is named by a node");
                    for c in crate::store::split::children(named, &raw).map_err(corrupt)? {
                        level.push((c.id, c.kind.object_kind()));
                    }
                }
                ObjectKind::Rows => {
                    if raw.starts_with(b"DVTH") {
                        let h = crate::table::Header::decode(&raw).map_err(corrupt)?;
                        level.extend(h.root.map(|r| (r, ObjectKind::Rows)));
                    } else if let crate::table::rowtree::Node::Inner { children, .. } =
                        crate::table::rowtree::Node::decode(&raw).map_err(corrupt)?
                    {
                        level.extend(children.into_iter().map(|c| (c.1, ObjectKind::Rows)));
                    }
                }
                ObjectKind::Chunk => {}
            }
        }
    }
    Ok(())
}
