//! Checking: the cache (every index file, every pack against its index, every object by its hash, pack files
//! without an index, then the datasets in scope) and a remote (the same read back in ranged reads, its use
//! records, and the closure rule).

use std::collections::HashSet;
use std::fs;

use super::{DamagedObject, DamagedPack, DamagedUseRecord, FsckReport};
use crate::error::IoContext;
use crate::ops::datasets::Target;
use crate::ops::reach::{ObjectProblem, Problem, reach};
use crate::progress::{Progress, Unit};
use crate::remote::Remote;
use crate::session::Session;
use crate::store::Store;
use crate::store::object::ObjectKind;
use crate::store::pack::{self, ENTRY_HEADER_LEN, PackIndex};
use crate::{Error, ObjectId, Result};

/// Verifies the local cache: every index file, every pack against its index, every object by its hash; then
/// every dataset in `targets`.
pub fn fsck_cache(s: &Session, targets: &[Target], progress: &dyn Progress) -> Result<FsckReport> {
    let store = s.store();
    crate::ops::datasets::check_named_held(targets, store)?;
    let mut report = FsckReport {
        checked: "cache".into(),
        ..Default::default()
    };
    let dir = store.dir();
    let index_dir = dir.join("index");
    let mut indexes = Vec::new();
    let mut names: Vec<_> = fs::read_dir(&index_dir)
        .at(&index_dir)?
        .collect::<std::io::Result<Vec<_>>>()
        .at(&index_dir)?;
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(hex) = name.strip_suffix(".idx") else {
            continue;
        };
        let Some(id) = ObjectId::from_hex(hex) else {
            continue;
        };
        let bytes = fs::read(entry.path()).at(entry.path())?;
        let why = match PackIndex::decode(&bytes) {
            Ok(index) if index.pack_id == id => {
                indexes.push(index);
                continue;
            }
            Ok(_) => "the index names another pack".to_string(),
            Err(e) => format!("index: {e}"),
        };
        // A damaged index is not a missing one: say whether the pack can give it back.
        let pack_path = Store::pack_path(dir, &id);
        let fixable = fs::read(&pack_path)
            .ok()
            .is_some_and(|data| pack::rebuild_index(&data, &id).is_some());
        report.damaged_packs.push(DamagedPack {
            pack: hex.to_string(),
            message: if fixable {
                format!("{why}; the pack is intact: `dv fsck --repair` rebuilds its index from it")
            } else {
                format!(
                    "{why}; the index cannot be rebuilt from the pack: `dv fsck --repair` keeps what can \
                     still be read of it"
                )
            },
        });
    }
    // A pack with an index file, even a damaged one, is not a pack without an index.
    let indexed: HashSet<ObjectId> = names_with_index(&index_dir)?;
    report.unindexed_packs = list_pack_files(store)?
        .into_iter()
        .filter(|p| !indexed.contains(p))
        .count() as u64;
    let total: u64 = indexes.iter().map(|i| i.pack_size).sum();
    progress.start("Verifying", Some(total), Unit::Bytes);
    for index in &indexes {
        report.packs += 1;
        let path = Store::pack_path(dir, &index.pack_id);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                report.damaged_packs.push(DamagedPack {
                    pack: index.pack_id.to_hex(),
                    message: format!("cannot read {}: {e}", path.display()),
                });
                continue;
            }
        };
        verify_pack(index, &data, &mut report);
        progress.inc(index.pack_size);
    }
    progress.finish();
    let walked = reach(store, targets, false)?;
    report.datasets_checked = targets.len() as u64;
    report.problems = walked.problems;
    Ok(report)
}

/// Checks a whole pack's bytes against its index.
fn verify_pack(index: &PackIndex, data: &[u8], report: &mut FsckReport) {
    let hex = index.pack_id.to_hex();
    if let Err(e) = pack::check_pack_header(data, "pack") {
        report.damaged_packs.push(DamagedPack {
            pack: hex,
            message: e.to_string(),
        });
        return;
    }
    if data.len() as u64 != index.pack_size {
        report.damaged_packs.push(DamagedPack {
            pack: hex.clone(),
            message: format!(
                "the pack has {} bytes, its index says {}",
                data.len(),
                index.pack_size
            ),
        });
    }
    for e in &index.entries {
        report.objects += 1;
        report.bytes += e.stored_len as u64;
        let start = e.offset as usize;
        let end = start + (ENTRY_HEADER_LEN as usize) + e.stored_len as usize;
        let result = if end > data.len() {
            Err(Error::Corrupt {
                id: e.id,
                message: "past the end of the pack".into(),
            })
        } else {
            pack::check_entry_header(&data[start..end], e)
                .and_then(|_| pack::verify_object(e, &data[start + ENTRY_HEADER_LEN as usize..end]))
        };
        if let Err(err) = result {
            report.damaged.push(DamagedObject {
                pack: hex.clone(),
                object: e.id.to_hex(),
                message: err.to_string(),
            });
        }
    }
}

/// The packs that have an index file in `index_dir`, readable or not.
pub(crate) fn names_with_index(index_dir: &std::path::Path) -> Result<HashSet<ObjectId>> {
    let mut out = HashSet::new();
    for entry in fs::read_dir(index_dir).at(index_dir)? {
        let entry = entry.at(index_dir)?;
        if let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_suffix(".idx"))
            .and_then(ObjectId::from_hex)
        {
            out.insert(id);
        }
    }
    Ok(out)
}

/// The ids of the pack files in the cache (indexed or not).
pub fn list_pack_files(store: &Store) -> Result<Vec<ObjectId>> {
    let packs = store.dir().join("packs");
    let mut out = Vec::new();
    for sub in fs::read_dir(&packs).at(&packs)? {
        let sub = sub.at(&packs)?;
        if !sub.file_type().at(sub.path())?.is_dir() {
            continue;
        }
        for f in fs::read_dir(sub.path()).at(sub.path())? {
            let f = f.at(sub.path())?;
            let name = f.file_name().to_string_lossy().to_string();
            if let Some(id) = name.strip_suffix(".pack").and_then(ObjectId::from_hex) {
                out.push(id);
            }
        }
    }
    Ok(out)
}

/// Verifies a remote: every index, and every object of every pack, read back in ranged reads and hashed; and
/// the closure rule: every tree and manifest names only objects the remote has (a push sends children before
/// parents and commits indexes in order, so a missing one means damage, not an interrupted push).
pub fn fsck_remote(remote: &Remote, progress: &dyn Progress) -> Result<FsckReport> {
    let mut report = FsckReport {
        checked: format!("remote {}", remote.name),
        ..Default::default()
    };
    let (indexes, bad) = remote.indexes()?;
    let mut indexed: HashSet<ObjectId> = indexes.iter().map(|i| i.pack_id).collect();
    for (pack, message) in bad {
        indexed.insert(pack);
        report.damaged_packs.push(DamagedPack {
            pack: pack.to_hex(),
            message: format!("index: {message}"),
        });
    }
    // A use record gc cannot read stops it (it cannot tell which packs a push relies on) until it is old.
    for (name, _) in remote.use_records()? {
        if let Err(why) = remote.read_use_record(&name)? {
            report.damaged_use_records.push(DamagedUseRecord {
                record: format!("uses/{}.use", name.to_hex()),
                message: format!(
                    "{why}; `dv gc --remote` stops while it is younger than the grace period and deletes \
                     it once older; delete it sooner only if no push that could have written it is running"
                ),
            });
        }
    }
    // Listed after the indexes, so a pack committed meanwhile is not taken for one without an index.
    report.unindexed_packs = remote
        .pack_files()?
        .into_iter()
        .filter(|(id, _)| !indexed.contains(id))
        .count() as u64;
    let on_remote: HashSet<ObjectId> = indexes
        .iter()
        .flat_map(|i| i.entries.iter().map(|e| e.id))
        .collect();
    let total: u64 = indexes.iter().map(|i| i.pack_size).sum();
    progress.start("Verifying", Some(total), Unit::Bytes);
    for index in &indexes {
        report.packs += 1;
        // Read in slices of about 8 MiB of entries, so memory stays bounded whatever the pack size.
        let mut batch: Vec<&pack::IndexEntry> = Vec::new();
        let mut batch_bytes = 0u64;
        let mut entries: Vec<&pack::IndexEntry> = index.entries.iter().collect();
        entries.sort_by_key(|e| e.offset);
        let flush = |batch: &mut Vec<&pack::IndexEntry>, report: &mut FsckReport| -> Result<()> {
            if batch.is_empty() {
                return Ok(());
            }
            let ranges: Vec<_> = batch
                .iter()
                .map(|e| e.offset..e.offset + ENTRY_HEADER_LEN + e.stored_len as u64)
                .collect();
            match remote.read_ranges(&[(index.pack_id, ranges)]) {
                Ok(mut got) => {
                    for (e, bytes) in batch.iter().zip(got.remove(0)) {
                        report.objects += 1;
                        report.bytes += e.stored_len as u64;
                        let stored = &bytes[ENTRY_HEADER_LEN as usize..];
                        let r = pack::check_entry_header(&bytes, e).and_then(|_| match e.kind {
                            ObjectKind::Tree | ObjectKind::Manifest => {
                                let raw = pack::decode_object(e, stored)?;
                                let named = children(e.kind, &raw).map_err(|m| Error::Corrupt {
                                    id: e.id,
                                    message: m.to_string(),
                                })?;
                                for child in named.into_iter().filter(|c| !on_remote.contains(c)) {
                                    report.problems.push(Problem {
                                        dataset: format!("remote {}", remote.name),
                                        object: child.to_hex(),
                                        problem: ObjectProblem::Missing,
                                        message: format!(
                                            "named by {} {}, which the remote has",
                                            if e.kind == ObjectKind::Tree {
                                                "tree"
                                            } else {
                                                "manifest"
                                            },
                                            e.id
                                        ),
                                    });
                                }
                                Ok(())
                            }
                            _ => pack::verify_object(e, stored),
                        });
                        if let Err(err) = r {
                            report.damaged.push(DamagedObject {
                                pack: index.pack_id.to_hex(),
                                object: e.id.to_hex(),
                                message: err.to_string(),
                            });
                        }
                    }
                }
                Err(err) => report.damaged_packs.push(DamagedPack {
                    pack: index.pack_id.to_hex(),
                    message: err.to_string(),
                }),
            }
            batch.clear();
            Ok(())
        };
        for e in entries {
            batch_bytes += e.stored_len as u64;
            batch.push(e);
            if batch_bytes >= 8 << 20 {
                flush(&mut batch, &mut report)?;
                batch_bytes = 0;
            }
        }
        flush(&mut batch, &mut report)?;
        progress.inc(index.pack_size);
    }
    progress.finish();
    Ok(report)
}

/// The objects a tree or manifest names.
fn children(kind: ObjectKind, raw: &[u8]) -> Result<Vec<ObjectId>> {
    let Some(named) = kind.node_kind() else {
        return Ok(Vec::new());
    };
    Ok(crate::store::split::children(named, raw)?
        .into_iter()
        .map(|n| n.id)
        .collect())
}
