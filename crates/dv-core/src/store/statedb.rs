//! Local state in SQLite (`.dv/state.db`): where each cached object lives, the stat cache, and which dataset
//! versions are known to be complete in the cache. Everything here can be rebuilt from the pack indexes and the
//! work tree; losing the file costs time, never data.
//!
//! Over 600 lines on purpose: one database's schema, its migrations and every query against it belong where a
//! change to a table can be checked against all its readers at once; a third of the file is its tests.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::store::object::ObjectKind;
use crate::store::pack::{Compression, IndexEntry, PackIndex};
use crate::store::split::{Layout, MANIFEST_FLAT_MAX};
use crate::{Error, ObjectId, Result};

/// Numbered migrations; `PRAGMA user_version` records how many have run. A migration, once on main, is never
/// edited: a database that ran it keeps what it made. (Migration 3 was, within one day: [`StateDb::mend`]
/// brings the two earlier shapes of its tables up to the last.)
const MIGRATIONS: &[&str] = &[
    // 1: object locations, stat cache, complete dataset roots.
    "CREATE TABLE packs (
        seq INTEGER PRIMARY KEY,
        pack_id BLOB NOT NULL UNIQUE,
        size INTEGER NOT NULL
    );
    CREATE TABLE objects (
        id BLOB PRIMARY KEY,
        pack INTEGER NOT NULL REFERENCES packs(seq) ON DELETE CASCADE,
        offset INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        compression INTEGER NOT NULL,
        raw_len INTEGER NOT NULL,
        stored_len INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX objects_by_pack ON objects(pack);
    CREATE TABLE stat_cache (
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        ctime_ns INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        id BLOB NOT NULL,
        hashed_at_ns INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE complete_roots (id BLOB PRIMARY KEY) WITHOUT ROWID;",
    // 2: row-change counts between table versions (by table header id), recorded by `dv add`.
    "CREATE TABLE table_changes (
        old_header BLOB NOT NULL,
        new_header BLOB NOT NULL,
        rows_added INTEGER NOT NULL,
        rows_deleted INTEGER NOT NULL,
        rows_modified INTEGER NOT NULL,
        PRIMARY KEY (old_header, new_header)
    ) WITHOUT ROWID;",
    // 3: the parts of each dataset this work tree holds when it holds only some (see ops/partial.rs).
    "CREATE TABLE partial (
        dataset TEXT NOT NULL,
        scope TEXT NOT NULL,
        done INTEGER NOT NULL,
        PRIMARY KEY (dataset, scope)
    ) WITHOUT ROWID;
    CREATE TABLE unfinished (dataset TEXT PRIMARY KEY) WITHOUT ROWID;",
    // 4: the stat cache keyed by folder and name, so that a comparison reads one folder's entries in one range
    // (in the order of the folder's listing and tree) instead of one map of every path: at a million files the
    // map's loading and lookups were half of a `dv status`. Rows move over: `rtrim(path, <path without '/'>)`
    // is the path up to its last '/'.
    "CREATE TABLE stat_entries (
        dir TEXT NOT NULL,
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        ctime_ns INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        id BLOB NOT NULL,
        hashed_at_ns INTEGER NOT NULL,
        PRIMARY KEY (dir, name)
    ) WITHOUT ROWID;
    INSERT OR REPLACE INTO stat_entries
        SELECT CASE WHEN instr(path, '/') = 0 THEN '' ELSE substr(head, 1, length(head) - 1) END,
               substr(path, length(head) + 1), size, mtime_ns, ctime_ns, ino, kind, id, hashed_at_ns
        FROM (SELECT *, rtrim(path, replace(path, '/', '')) AS head FROM stat_cache);
    DROP TABLE stat_cache;",
    // 5: what this clone knows each remote holds whole (see `remote_known`), so a push walks only below what
    // it does not know: tree and manifest ids, and the packs listed when they were learnt.
    "CREATE TABLE remote_known (
        remote TEXT NOT NULL,
        id BLOB NOT NULL,
        PRIMARY KEY (remote, id)
    ) WITHOUT ROWID;
    CREATE TABLE remote_known_packs (
        remote TEXT NOT NULL,
        pack BLOB NOT NULL,
        PRIMARY KEY (remote, pack)
    ) WITHOUT ROWID;",
];

/// Row-change counts between two table versions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RowCounts {
    pub rows_added: u64,
    pub rows_deleted: u64,
    pub rows_modified: u64,
}

pub struct StateDb {
    conn: Connection,
    path: PathBuf,
}

/// What `stat(2)` says of a file, as far as change detection needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub exec: bool,
}

impl Stat {
    #[cfg(unix)]
    pub fn of(m: &std::fs::Metadata) -> Stat {
        use std::os::unix::fs::MetadataExt;
        Stat {
            size: m.len(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            ino: m.ino(),
            exec: m.mode() & 0o111 != 0,
        }
    }
}

/// Stat cache entries by repository path, as a walk loads them ([`StateDb::stat_entries_under`]). Hashed with
/// foldhash (seeded per process): SipHash, std's default, was a tenth of the CPU time of looking up 100,000
/// entries.
pub type StatCache = std::collections::HashMap<String, StatEntry, foldhash::fast::RandomState>;

/// The stat cache entries of one folder's files by name, sorted bytewise ([`StateDb::stat_entries_in`]). The
/// names share one buffer: a folder of a million files is one allocation, not a million.
#[derive(Default)]
pub struct FolderStats {
    names: String,
    /// Each entry with the end of its name in `names` (it starts where the one before ends).
    entries: Vec<(usize, StatEntry)>,
    /// The entry after the one found last: a comparison asks for names in order, so this is most often the one.
    next: std::cell::Cell<usize>,
}

impl FolderStats {
    pub fn get(&self, name: &str) -> Option<&StatEntry> {
        let name_at = |i: usize| {
            let start = if i == 0 { 0 } else { self.entries[i - 1].0 };
            &self.names[start..self.entries[i].0]
        };
        let next = self.next.get();
        if next < self.entries.len() && name_at(next) == name {
            self.next.set(next + 1);
            return Some(&self.entries[next].1);
        }
        let (mut lo, mut hi) = (0, self.entries.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match name_at(mid).as_bytes().cmp(name.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    self.next.set(mid + 1);
                    return Some(&self.entries[mid].1);
                }
            }
        }
        None
    }
}

/// The columns of a stat cache row after its key, as [`stat_entry`] reads them.
const STAT_COLUMNS: &str = "size, mtime_ns, ctime_ns, ino, kind, id, hashed_at_ns";

/// The stat cache entry in the [`STAT_COLUMNS`] of row `r` from column `at`; `None` for a damaged row (only a
/// cache miss) or one a newer dv tagged with a layout this one does not know.
fn stat_entry(r: &rusqlite::Row, at: usize) -> rusqlite::Result<Option<StatEntry>> {
    let kind: u8 = r.get(at + 4)?;
    let id = r.get_ref(at + 5)?;
    let (Some(node_kind), Some(hashed_in), Some(id)) = (
        crate::store::object::NodeKind::from_u8(kind & 0x0f),
        HashedIn::from_tag(kind >> 4),
        id.as_blob().ok().and_then(ObjectId::from_slice),
    ) else {
        return Ok(None);
    };
    Ok(Some(StatEntry {
        stat: Stat {
            size: r.get::<_, i64>(at)? as u64,
            mtime_ns: r.get(at + 1)?,
            ctime_ns: r.get(at + 2)?,
            ino: r.get::<_, i64>(at + 3)? as u64,
            exec: false,
        },
        kind: node_kind,
        id,
        hashed_at_ns: r.get(at + 6)?,
        hashed_in,
    }))
}

/// A stat cache entry: the file had `stat` when its content hashed to `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatEntry {
    pub stat: Stat,
    pub kind: crate::store::object::NodeKind,
    pub id: ObjectId,
    pub hashed_at_ns: i64,
    /// The layouts `id` names the file in.
    pub hashed_in: HashedIn,
}

/// The layouts a file's id holds in: a file of at most [`MANIFEST_FLAT_MAX`] chunks has one id in every layout,
/// a larger one a flat manifest's id or a split one's (see `store::split`).
///
/// Kept in the stat cache's `kind` column, above the node kind: `kind | tag << 4`, tag 0 flat (what every dv
/// before format 2 wrote), 1 any, 2 split. An older dv reads a tagged row as a cache miss, never as a wrong id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashedIn {
    Flat,
    Split,
    Any,
}

impl HashedIn {
    /// Where the id of a file of `chunks` chunks, computed in `layout`, holds.
    pub fn of(layout: Layout, chunks: usize) -> HashedIn {
        match layout {
            _ if chunks <= MANIFEST_FLAT_MAX => HashedIn::Any,
            Layout::Flat => HashedIn::Flat,
            Layout::Split => HashedIn::Split,
        }
    }

    /// Where the id of a file node holds, from the node alone: a one-chunk file or one too small to have more
    /// than [`MANIFEST_FLAT_MAX`] chunks in every layout, a larger one in the layout it was made in.
    pub fn of_node(layout: Layout, kind: crate::store::object::NodeKind, size: u64) -> HashedIn {
        let small = size <= (MANIFEST_FLAT_MAX * crate::chunk::MIN_SIZE) as u64;
        match layout {
            _ if kind == crate::store::object::NodeKind::File || small => HashedIn::Any,
            Layout::Flat => HashedIn::Flat,
            Layout::Split => HashedIn::Split,
        }
    }

    pub fn holds_in(self, layout: Layout) -> bool {
        matches!(
            (self, layout),
            (HashedIn::Any, _) | (HashedIn::Flat, Layout::Flat) | (HashedIn::Split, Layout::Split)
        )
    }

    fn tag(self) -> u8 {
        match self {
            HashedIn::Flat => 0,
            HashedIn::Any => 1,
            HashedIn::Split => 2,
        }
    }

    fn from_tag(tag: u8) -> Option<HashedIn> {
        match tag {
            0 => Some(HashedIn::Flat),
            1 => Some(HashedIn::Any),
            2 => Some(HashedIn::Split),
            _ => None,
        }
    }
}

/// A file changed within this window before it was hashed may change again without its mtime moving
/// ("racily clean", as Git calls it); such entries are not trusted until the file is hashed again later.
pub const RACY_WINDOW_NS: i64 = 100_000_000;

impl StatEntry {
    /// True when the file is known to still hold `id`, as `layout` names it, without reading it.
    pub fn holds(&self, now: &Stat, layout: Layout) -> bool {
        self.hashed_in.holds_in(layout) && self.matches(now)
    }

    /// True when the file is known to still hold the content it hashed from, without reading it.
    pub fn matches(&self, now: &Stat) -> bool {
        self.stat.size == now.size
            && self.stat.mtime_ns == now.mtime_ns
            && self.stat.ctime_ns == now.ctime_ns
            && self.stat.ino == now.ino
            && self.stat.mtime_ns.max(self.stat.ctime_ns) < self.hashed_at_ns - RACY_WINDOW_NS
    }
}

const CONTAINS_SQL: &str = "SELECT 1 FROM objects WHERE id = ?1";

/// Where an object is, then its pack's id: two single-table lookups. As one JOIN, SQLite prepared the statement
/// again on almost every call (when other lookups ran in between), which made these lookups most of the CPU time
/// of a 20,000-file push.
const LOCATE_SQL: &str =
    "SELECT pack, offset, kind, compression, raw_len, stored_len FROM objects WHERE id = ?1";
const PACK_ID_SQL: &str = "SELECT pack_id FROM packs WHERE seq = ?1";

impl StateDb {
    pub fn open(path: &Path) -> Result<StateDb> {
        let conn = Connection::open(path).map_err(|e| db_err(path, e))?;
        let meta = StateDb {
            conn,
            path: path.to_path_buf(),
        };
        meta.conn
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;
                 PRAGMA busy_timeout=10000;",
            )
            .map_err(|e| meta.err(e))?;
        meta.migrate()?;
        Ok(meta)
    }

    /// Brings migration 3's tables to their last shape in a database made by a build of the same day that had
    /// `partial(dataset, scope)` without `done` (every part recorded was held) and no `unfinished` table.
    fn mend(&self) -> Result<()> {
        let has_done = self
            .conn
            .prepare("SELECT 1 FROM pragma_table_info('partial') WHERE name = 'done'")
            .and_then(|mut st| st.exists([]))
            .map_err(|e| self.err(e))?;
        if !has_done {
            self.conn
                .execute_batch("ALTER TABLE partial ADD COLUMN done INTEGER NOT NULL DEFAULT 1;")
                .map_err(|e| self.err(e))?;
        }
        self.conn
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS unfinished (dataset TEXT PRIMARY KEY) WITHOUT ROWID;",
            )
            .map_err(|e| self.err(e))
    }

    /// A second connection for reading from another thread.
    pub fn open_readonly(path: &Path) -> Result<StateDb> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| db_err(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| db_err(path, e))?;
        Ok(StateDb {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_err(&self.path, e)
    }

    fn migrate(&self) -> Result<()> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if version as usize > MIGRATIONS.len() {
            return Err(Error::NewerFormat {
                what: format!("state database {}", self.path.display()),
                found: version as u64,
                supported: MIGRATIONS.len() as u64,
            });
        }
        if version >= 3 {
            self.mend()?;
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
            tx.execute_batch(sql).map_err(|e| self.err(e))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(|e| self.err(e))?;
            tx.commit().map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    // ---- object locations ----

    /// Records a pack and all its objects (an object already known elsewhere keeps its first location).
    pub fn add_pack(&self, index: &PackIndex) -> Result<()> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT OR IGNORE INTO packs(pack_id, size) VALUES (?1, ?2)",
            params![index.pack_id.as_bytes(), index.pack_size as i64],
        )
        .map_err(|e| self.err(e))?;
        let seq: i64 = tx
            .query_row(
                "SELECT seq FROM packs WHERE pack_id = ?1",
                [index.pack_id.as_bytes()],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO objects(id, pack, offset, kind, compression, raw_len, stored_len)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(|e| self.err(e))?;
            for e in &index.entries {
                stmt.execute(params![
                    e.id.as_bytes(),
                    seq,
                    e.offset as i64,
                    e.kind as u8,
                    e.compression as u8,
                    e.raw_len,
                    e.stored_len
                ])
                .map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// Forgets a pack and the objects located in it.
    pub fn remove_pack(&self, pack_id: &ObjectId) -> Result<()> {
        self.conn
            .execute("DELETE FROM packs WHERE pack_id = ?1", [pack_id.as_bytes()])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn pack_ids(&self) -> Result<Vec<ObjectId>> {
        let mut stmt = self
            .conn
            .prepare("SELECT pack_id FROM packs")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let bytes = row.map_err(|e| self.err(e))?;
            out.push(
                ObjectId::from_slice(&bytes)
                    .ok_or_else(|| Error::Internal("bad pack id in state db".into()))?,
            );
        }
        Ok(out)
    }

    pub fn contains(&self, id: &ObjectId) -> Result<bool> {
        let mut stmt = self
            .conn
            .prepare_cached(CONTAINS_SQL)
            .map_err(|e| self.err(e))?;
        stmt.exists([id.as_bytes()]).map_err(|e| self.err(e))
    }

    /// For each id, whether the cache has the object. The ids are taken in order and the table read forward
    /// from the first: a run of ids close together costs a step per row between them, a gap a fresh seek, so
    /// that a million ids cost about one scan of the table (not a million seeks), and a few ids a few seeks.
    pub fn contains_all(&self, ids: &[ObjectId]) -> Result<Vec<bool>> {
        /// Rows stepped over before a fresh seek is cheaper.
        const MAX_STEPS: usize = 16;
        // Sorted as pairs, each id beside its place: sorting places by the ids they point to was most of the
        // time of a million lookups.
        let mut sorted: Vec<(ObjectId, usize)> = ids.iter().copied().zip(0..).collect();
        sorted.sort_unstable();
        let mut out = vec![false; ids.len()];
        // Inside a caller's transaction already, or one of its own: one read snapshot, one lock.
        let tx = match self.conn.is_autocommit() {
            true => Some(self.conn.unchecked_transaction().map_err(|e| self.err(e))?),
            false => None,
        };
        {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT id FROM objects WHERE id >= ?1 ORDER BY id")
                .map_err(|e| self.err(e))?;
            let mut at = 0;
            while at < sorted.len() {
                let mut rows = stmt
                    .query([sorted[at].0.as_bytes()])
                    .map_err(|e| self.err(e))?;
                let mut steps = 0;
                while at < sorted.len() && steps <= MAX_STEPS {
                    let Some(row) = rows.next().map_err(|e| self.err(e))? else {
                        at = sorted.len(); // past the last object: the rest are absent
                        break;
                    };
                    let found = row
                        .get_ref(0)
                        .map_err(|e| self.err(e))?
                        .as_blob()
                        .ok()
                        .and_then(ObjectId::from_slice);
                    let Some(found) = found else { continue };
                    // Every wanted id below the row is absent; one equal to it is present. Rows that
                    // settle none are the steps a seek would have saved.
                    steps += 1;
                    while at < sorted.len() && sorted[at].0 <= found {
                        out[sorted[at].1] = sorted[at].0 == found;
                        at += 1;
                        steps = 0;
                    }
                }
            }
        }
        if let Some(tx) = tx {
            tx.commit().map_err(|e| self.err(e))?;
        }
        Ok(out)
    }

    /// The pack and index entry of an object, if the cache has it.
    pub fn locate(&self, id: &ObjectId) -> Result<Option<(ObjectId, IndexEntry)>> {
        let mut stmt = self
            .conn
            .prepare_cached(LOCATE_SQL)
            .map_err(|e| self.err(e))?;
        let row = stmt
            .query_row([id.as_bytes()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, u8>(2)?,
                    r.get::<_, u8>(3)?,
                    r.get::<_, u32>(4)?,
                    r.get::<_, u32>(5)?,
                ))
            })
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((seq, offset, kind, compression, raw_len, stored_len)) = row else {
            return Ok(None);
        };
        let bad = || Error::Internal(format!("bad location row for object {id}"));
        let pack: Option<Vec<u8>> = self
            .conn
            .prepare_cached(PACK_ID_SQL)
            .and_then(|mut s| s.query_row([seq], |r| r.get(0)).optional())
            .map_err(|e| self.err(e))?;
        // The pack was forgotten between the two lookups (a gc in another process): so is the object.
        let Some(pack) = pack else {
            return Ok(None);
        };
        Ok(Some((
            ObjectId::from_slice(&pack).ok_or_else(bad)?,
            IndexEntry {
                id: *id,
                offset: offset as u64,
                kind: ObjectKind::from_u8(kind).ok_or_else(bad)?,
                compression: Compression::from_u8(compression).ok_or_else(bad)?,
                raw_len,
                stored_len,
            },
        )))
    }

    // ---- stat cache ----

    /// All stat cache entries at `prefix` or below it (`prefix` is a repo path; "" means everything).
    pub fn stat_entries_under(&self, prefix: &str) -> Result<StatCache> {
        let (parent, base) = crate::paths::split(prefix);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT dir, name, {STAT_COLUMNS} FROM stat_entries
                 WHERE ?1 = '' OR (dir = ?2 AND name = ?3) OR dir = ?1
                    OR (dir > ?1 || '/' AND dir < ?1 || '0')"
            ))
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(params![prefix, parent, base])
            .map_err(|e| self.err(e))?;
        let mut out = StatCache::default();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let dir = r
                .get_ref(0)
                .and_then(|v| Ok(v.as_str()?))
                .map_err(|e| self.err(e))?;
            let name = r
                .get_ref(1)
                .and_then(|v| Ok(v.as_str()?))
                .map_err(|e| self.err(e))?;
            if let Some(e) = stat_entry(r, 2).map_err(|e| self.err(e))? {
                out.insert(crate::paths::join(dir, name), e);
            }
        }
        Ok(out)
    }

    /// The stat cache entries of the files directly in folder `dir` (a repo path; "" is the root), sorted
    /// bytewise by name: one range of the table.
    pub fn stat_entries_in(&self, dir: &str) -> Result<FolderStats> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT name, {STAT_COLUMNS} FROM stat_entries WHERE dir = ?1 ORDER BY name"
            ))
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([dir]).map_err(|e| self.err(e))?;
        let mut out = FolderStats::default();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let name = r
                .get_ref(0)
                .and_then(|v| Ok(v.as_str()?))
                .map_err(|e| self.err(e))?;
            if let Some(e) = stat_entry(r, 1).map_err(|e| self.err(e))? {
                out.names.push_str(name);
                out.entries.push((out.names.len(), e));
            }
        }
        Ok(out)
    }

    /// The stat cache entry of the file at repo path `path`.
    pub fn stat_entry(&self, path: &str) -> Result<Option<StatEntry>> {
        let (dir, name) = crate::paths::split(path);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {STAT_COLUMNS} FROM stat_entries WHERE dir = ?1 AND name = ?2"
            ))
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([dir, name]).map_err(|e| self.err(e))?;
        match rows.next().map_err(|e| self.err(e))? {
            Some(r) => stat_entry(r, 0).map_err(|e| self.err(e)),
            None => Ok(None),
        }
    }

    /// Records many stat cache entries in one transaction.
    pub fn put_stat_entries<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a str, StatEntry)>,
    ) -> Result<()> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO stat_entries(dir, name, size, mtime_ns, ctime_ns, ino, kind, id,
                     hashed_at_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(|e| self.err(e))?;
            for (path, e) in entries {
                let (dir, name) = crate::paths::split(path);
                stmt.execute(params![
                    dir,
                    name,
                    e.stat.size as i64,
                    e.stat.mtime_ns,
                    e.stat.ctime_ns,
                    e.stat.ino as i64,
                    e.kind as u8 | e.hashed_in.tag() << 4,
                    e.id.as_bytes(),
                    e.hashed_at_ns
                ])
                .map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    // ---- complete roots ----

    /// True when every object below `id` was seen in the cache (recorded by add and checkout).
    pub fn is_complete(&self, id: &ObjectId) -> Result<bool> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM complete_roots WHERE id = ?1")
            .map_err(|e| self.err(e))?;
        stmt.exists([id.as_bytes()]).map_err(|e| self.err(e))
    }

    pub fn table_changes(&self, old: &ObjectId, new: &ObjectId) -> Result<Option<RowCounts>> {
        use rusqlite::OptionalExtension;
        self.conn
            .prepare_cached(
                "SELECT rows_added, rows_deleted, rows_modified FROM table_changes
                 WHERE old_header = ?1 AND new_header = ?2",
            )
            .and_then(|mut st| {
                st.query_row([old.as_bytes(), new.as_bytes()], |r| {
                    Ok(RowCounts {
                        rows_added: r.get::<_, i64>(0)? as u64,
                        rows_deleted: r.get::<_, i64>(1)? as u64,
                        rows_modified: r.get::<_, i64>(2)? as u64,
                    })
                })
                .optional()
            })
            .map_err(|e| self.err(e))
    }

    pub fn put_table_changes(&self, old: &ObjectId, new: &ObjectId, c: RowCounts) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO table_changes VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![
                    old.as_bytes(),
                    new.as_bytes(),
                    c.rows_added as i64,
                    c.rows_deleted as i64,
                    c.rows_modified as i64
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets which roots were complete (after objects were deleted).
    pub fn clear_complete(&self) -> Result<()> {
        self.conn
            .execute("DELETE FROM complete_roots", [])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The parts of the dataset at `dataset` this work tree holds, when it holds only some: each with whether
    /// its checkout finished (`false`: begun, perhaps interrupted). Sorted; empty when the dataset is held whole
    /// (or not at all).
    pub fn partial_parts(&self, dataset: &str) -> Result<Vec<(String, bool)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT scope, done FROM partial WHERE dataset = ?1 ORDER BY scope")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([dataset], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// Records `parts` of `dataset` as held (`done`) or begun, replacing what was recorded of them.
    pub fn put_partial_parts(&self, dataset: &str, parts: &[String], done: bool) -> Result<()> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        for scope in parts {
            tx.execute(
                "INSERT OR REPLACE INTO partial(dataset, scope, done) VALUES (?1, ?2, ?3)",
                rusqlite::params![dataset, scope, done],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// True when a checkout of `dataset` began writing and did not finish (killed, or stopped by an error).
    pub fn is_unfinished(&self, dataset: &str) -> Result<bool> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM unfinished WHERE dataset = ?1")
            .map_err(|e| self.err(e))?;
        stmt.exists([dataset]).map_err(|e| self.err(e))
    }

    /// Records that a checkout of `datasets` begins writing (`true`) or has finished (`false`).
    pub fn set_unfinished(&self, datasets: &[String], unfinished: bool) -> Result<()> {
        let sql = if unfinished {
            "INSERT OR IGNORE INTO unfinished(dataset) VALUES (?1)"
        } else {
            "DELETE FROM unfinished WHERE dataset = ?1"
        };
        for d in datasets {
            self.conn.execute(sql, [d]).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Forgets the recorded parts of `dataset` that `keep` refuses (all of them: the dataset is held whole).
    pub fn drop_partial_parts(&self, dataset: &str, keep: impl Fn(&str) -> bool) -> Result<()> {
        for (scope, _) in self.partial_parts(dataset)? {
            if !keep(&scope) {
                self.conn
                    .execute(
                        "DELETE FROM partial WHERE dataset = ?1 AND scope = ?2",
                        [dataset, &scope],
                    )
                    .map_err(|e| self.err(e))?;
            }
        }
        Ok(())
    }

    // ---- what remotes hold whole ----

    /// Forgets what this clone knew `remote` holds whole when a pack listed when it was learnt is no longer in
    /// `listed` (the packs whose index the remote lists and that can be read): a gc deleted or rewrote it, or it
    /// was damaged. While every such pack is listed, every object below a known id is still on the remote
    /// (packs and their indexes are never changed in place). Returns whether anything is still known.
    pub fn check_remote_known(
        &self,
        remote: &str,
        listed: &std::collections::HashSet<ObjectId>,
    ) -> Result<bool> {
        let packs: Vec<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT pack FROM remote_known_packs WHERE remote = ?1")
            .and_then(|mut st| {
                st.query_map([remote], |r| r.get::<_, Vec<u8>>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.err(e))?;
        let all_listed = packs
            .iter()
            .all(|p| ObjectId::from_slice(p).is_some_and(|id| listed.contains(&id)));
        if all_listed {
            return Ok(!packs.is_empty());
        }
        self.forget_remote_known(remote)?;
        Ok(false)
    }

    /// Forgets everything known of `remote`.
    fn forget_remote_known(&self, remote: &str) -> Result<()> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        for sql in [
            "DELETE FROM remote_known WHERE remote = ?1",
            "DELETE FROM remote_known_packs WHERE remote = ?1",
        ] {
            tx.execute(sql, [remote]).map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// True when `remote` was found to hold every object below `id` (and `check_remote_known` has not
    /// forgotten it since).
    pub fn remote_knows(&self, remote: &str, id: &ObjectId) -> Result<bool> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM remote_known WHERE remote = ?1 AND id = ?2")
            .map_err(|e| self.err(e))?;
        stmt.exists(rusqlite::params![remote, id.as_bytes()])
            .map_err(|e| self.err(e))
    }

    /// Records that `remote` holds every object below each of `ids`, found with `packs` listed (each of them
    /// must stay listed for this to stay known).
    pub fn put_remote_known(
        &self,
        remote: &str,
        ids: &[ObjectId],
        packs: &std::collections::HashSet<ObjectId>,
    ) -> Result<()> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let put = |sql: &str, ids: &mut dyn Iterator<Item = &ObjectId>| -> Result<()> {
            let mut st = tx.prepare_cached(sql).map_err(|e| self.err(e))?;
            for id in ids {
                st.execute(rusqlite::params![remote, id.as_bytes()])
                    .map_err(|e| self.err(e))?;
            }
            Ok(())
        };
        put(
            "INSERT OR IGNORE INTO remote_known_packs VALUES (?1, ?2)",
            &mut packs.iter(),
        )?;
        put(
            "INSERT OR IGNORE INTO remote_known VALUES (?1, ?2)",
            &mut ids.iter(),
        )?;
        tx.commit().map_err(|e| self.err(e))
    }

    pub fn mark_complete(&self, id: &ObjectId) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO complete_roots(id) VALUES (?1)",
                [id.as_bytes()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// True when SQLite says the state database is damaged (not a database at all, or malformed): the one test
/// for "the file must be set aside", which the CLI's hint and the tests share.
pub fn is_damaged(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

fn db_err(path: &Path, source: rusqlite::Error) -> Error {
    Error::Db {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::object::NodeKind;

    /// A stat cache entry of size `n`, id `[n; 32]`, hashed long after its times.
    fn entry(n: u8) -> StatEntry {
        StatEntry {
            stat: Stat {
                size: n as u64,
                mtime_ns: 1,
                ctime_ns: 1,
                ino: 1,
                exec: false,
            },
            kind: NodeKind::File,
            id: ObjectId([n; 32]),
            hashed_at_ns: 10,
            hashed_in: HashedIn::Any,
        }
    }

    /// A pack index holding `ids`, one 10-byte chunk each.
    fn index_of(ids: impl IntoIterator<Item = ObjectId>) -> crate::store::pack::PackIndex {
        use crate::store::object::ObjectKind;
        use crate::store::pack::{Compression, IndexEntry, PackIndex};
        let entries: Vec<IndexEntry> = ids
            .into_iter()
            .enumerate()
            .map(|(i, id)| IndexEntry {
                id,
                offset: 8 + i as u64 * 10,
                kind: ObjectKind::Chunk,
                compression: Compression::None,
                raw_len: 10,
                stored_len: 10,
            })
            .collect();
        let end = 8 + entries.len() as u64 * 10;
        PackIndex::new(entries, end)
    }

    #[test]
    fn migrations_run_once_and_stat_prefix_query_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let m = StateDb::open(&path).unwrap();
        drop(m);
        let m = StateDb::open(&path).unwrap(); // second open: migrations already applied
        let e = entry;
        m.put_stat_entries([
            ("data", e(1)),
            ("data/a", e(2)),
            ("data/b/c", e(3)),
            ("data2/x", e(4)),
            ("dat", e(5)),
        ])
        .unwrap();
        let mut under: Vec<String> = m.stat_entries_under("data").unwrap().into_keys().collect();
        under.sort();
        assert_eq!(under, ["data", "data/a", "data/b/c"]);
        assert_eq!(m.stat_entries_under("").unwrap().len(), 5);
    }

    /// A database made by a build whose migration 3 had `partial` without `done` and no `unfinished` table
    /// opens, and those tables take their last shape (parts recorded then were held).
    #[test]
    fn an_early_migration_3_is_mended() {
        for early in [
            "CREATE TABLE partial (dataset TEXT NOT NULL, scope TEXT NOT NULL, PRIMARY KEY (dataset, scope))
             WITHOUT ROWID;",
            "CREATE TABLE partial (dataset TEXT NOT NULL, scope TEXT NOT NULL, done INTEGER NOT NULL,
             PRIMARY KEY (dataset, scope)) WITHOUT ROWID;",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.db");
            {
                let conn = Connection::open(&path).unwrap();
                for sql in &MIGRATIONS[..2] {
                    conn.execute_batch(sql).unwrap();
                }
                conn.execute_batch(early).unwrap();
                conn.execute_batch("INSERT INTO partial(dataset, scope) VALUES ('data', 'data/p1')")
                    .unwrap_or_else(|_| {
                        conn.execute_batch("INSERT INTO partial VALUES ('data', 'data/p1', 1)")
                            .unwrap()
                    });
                conn.pragma_update(None, "user_version", 3).unwrap();
            }
            let m = StateDb::open(&path).unwrap();
            assert_eq!(m.partial_parts("data").unwrap(), [("data/p1".to_string(), true)]);
            assert!(!m.is_unfinished("data").unwrap());
            m.set_unfinished(&["data".to_string()], true).unwrap();
            assert!(m.is_unfinished("data").unwrap());
            drop(m);
            StateDb::open(&path).unwrap(); // mended once: opening again changes nothing
        }
    }

    /// Migration 4 moves every stat cache row to its folder and name (a million files need not be hashed again
    /// after the upgrade), and a folder's entries come back in name order, found in or out of that order.
    #[test]
    fn stat_entries_move_to_their_folders_and_are_found_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..3] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 3).unwrap();
            conn.execute_batch(
                "INSERT INTO stat_cache VALUES ('top.csv', 1, 2, 3, 4, 16, zeroblob(32), 5);
                 INSERT INTO stat_cache VALUES ('data/a/b.bin', 6, 7, 8, 9, 17, zeroblob(32), 10);
                 INSERT INTO stat_cache VALUES ('data/é è/x', 11, 1, 1, 1, 16, zeroblob(32), 12);
                 INSERT INTO stat_cache VALUES ('data/a', 13, 1, 1, 1, 16, zeroblob(32), 14);",
            )
            .unwrap();
        }
        let m = StateDb::open(&path).unwrap();
        let size = |p: &str| m.stat_entry(p).unwrap().map(|e| e.stat.size);
        assert_eq!(size("top.csv"), Some(1));
        assert_eq!(size("data/a/b.bin"), Some(6));
        assert_eq!(size("data/é è/x"), Some(11));
        assert_eq!(size("data/a"), Some(13));
        assert_eq!(size("data/b.bin"), None);
        let e = m.stat_entry("data/a/b.bin").unwrap().unwrap();
        assert_eq!((e.stat.mtime_ns, e.stat.ctime_ns, e.stat.ino), (7, 8, 9));
        assert_eq!(
            (e.kind, e.hashed_in, e.hashed_at_ns),
            (NodeKind::Chunked, HashedIn::Any, 10)
        );
        let mut under: Vec<String> = m.stat_entries_under("data").unwrap().into_keys().collect();
        under.sort();
        assert_eq!(under, ["data/a", "data/a/b.bin", "data/é è/x"]);
        assert_eq!(
            m.stat_entries_in("")
                .unwrap()
                .get("top.csv")
                .map(|e| e.stat.size),
            Some(1)
        );

        let names = ["m", "a", "zz", "b", "ab", "é", "a b"];
        let e = |n: usize| entry(n as u8);
        let paths: Vec<String> = names.iter().map(|n| format!("f/{n}")).collect();
        m.put_stat_entries(paths.iter().enumerate().map(|(i, p)| (p.as_str(), e(i))))
            .unwrap();
        m.put_stat_entries([("f/sub/m", e(99)), ("g", e(98))])
            .unwrap();
        let stats = m.stat_entries_in("f").unwrap();
        let mut sorted: Vec<(usize, &str)> = names.iter().copied().enumerate().collect();
        sorted.sort_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));
        for (i, n) in &sorted {
            assert_eq!(stats.get(n).map(|e| e.stat.size), Some(*i as u64), "{n}");
        }
        for (i, n) in sorted.iter().rev().chain(&sorted) {
            assert_eq!(stats.get(n).map(|e| e.stat.size), Some(*i as u64), "{n}");
        }
        for n in ["", "0", "b ", "zzz", "sub", "sub/m", "g"] {
            assert!(stats.get(n).is_none(), "{n}");
        }
    }

    /// The layouts an id holds in ride in the `kind` column: what an older dv wrote reads as flat, a tag it
    /// cannot know (written by a newer dv) as a miss, and each tag round-trips.
    #[test]
    fn stat_entries_keep_the_layouts_their_ids_hold_in() {
        let dir = tempfile::tempdir().unwrap();
        let m = StateDb::open(&dir.path().join("state.db")).unwrap();
        let stat = Stat {
            size: 1 << 30,
            mtime_ns: 1,
            ctime_ns: 1,
            ino: 1,
            exec: false,
        };
        let e = |hashed_in| StatEntry {
            stat,
            kind: NodeKind::Chunked,
            id: ObjectId([3; 32]),
            hashed_at_ns: 1 << 40,
            hashed_in,
        };
        m.put_stat_entries([
            ("flat", e(HashedIn::Flat)),
            ("split", e(HashedIn::Split)),
            ("any", e(HashedIn::Any)),
        ])
        .unwrap();
        m.conn
            .execute_batch(
                "INSERT INTO stat_entries VALUES ('', 'old', 1, 1, 1, 1, 1, zeroblob(32), 10);
                 INSERT INTO stat_entries VALUES ('', 'newer', 1, 1, 1, 1, 49, zeroblob(32), 10);",
            )
            .unwrap();
        let got = m.stat_entries_under("").unwrap();
        assert_eq!(got["flat"], e(HashedIn::Flat));
        assert_eq!(got["split"], e(HashedIn::Split));
        assert_eq!(got["any"], e(HashedIn::Any));
        assert_eq!(got["old"].hashed_in, HashedIn::Flat);
        assert_eq!(got["old"].kind, NodeKind::Chunked);
        assert!(!got.contains_key("newer"));
        assert!(got["flat"].holds(&stat, Layout::Flat) && !got["flat"].holds(&stat, Layout::Split));
        assert!(
            got["split"].holds(&stat, Layout::Split) && !got["split"].holds(&stat, Layout::Flat)
        );
        assert!(got["any"].holds(&stat, Layout::Split) && got["any"].holds(&stat, Layout::Flat));
        assert_eq!(HashedIn::of(Layout::Split, 1024), HashedIn::Any);
        assert_eq!(HashedIn::of(Layout::Split, 1025), HashedIn::Split);
        assert_eq!(
            HashedIn::of_node(Layout::Split, NodeKind::Chunked, 16 << 20),
            HashedIn::Any
        );
        assert_eq!(
            HashedIn::of_node(Layout::Flat, NodeKind::Chunked, (16 << 20) + 1),
            HashedIn::Flat
        );
    }

    #[test]
    fn object_lookups_are_prepared_once() {
        let dir = tempfile::tempdir().unwrap();
        let m = StateDb::open(&dir.path().join("state.db")).unwrap();
        let idx = index_of((0..200u32).map(|i| {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_le_bytes());
            ObjectId(id)
        }));
        let entries = idx.entries.clone();
        m.add_pack(&idx).unwrap();
        for e in &entries {
            let (pack, found) = m.locate(&e.id).unwrap().expect("located");
            assert_eq!((pack, found), (idx.pack_id, *e));
            assert!(m.contains(&e.id).unwrap());
        }
        assert!(m.locate(&ObjectId([0xff; 32])).unwrap().is_none());
        for sql in [LOCATE_SQL, PACK_ID_SQL, CONTAINS_SQL] {
            let st = m.conn.prepare_cached(sql).unwrap();
            assert!(st.get_status(rusqlite::StatementStatus::Run) >= 200);
            assert_eq!(
                st.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "{sql}"
            );
        }
    }

    /// What a remote holds whole is kept per remote, and forgotten, all of it for that remote, as soon as a
    /// listing lacks one of the packs listed when it was learnt; more packs listed changes nothing.
    #[test]
    fn what_a_remote_holds_is_forgotten_when_one_of_its_packs_goes() {
        let dir = tempfile::tempdir().unwrap();
        let m = StateDb::open(&dir.path().join("state.db")).unwrap();
        let [p1, p2, p3, x, y] = [1u8, 2, 3, 10, 11].map(|b| ObjectId([b; 32]));
        let set = |ids: &[ObjectId]| {
            ids.iter()
                .copied()
                .collect::<std::collections::HashSet<_>>()
        };
        assert!(!m.check_remote_known("a", &set(&[p1])).unwrap());
        m.put_remote_known("a", &[x], &set(&[p1, p2])).unwrap();
        m.put_remote_known("b", &[x, y], &set(&[p1])).unwrap();
        assert!(m.check_remote_known("a", &set(&[p1, p2, p3])).unwrap());
        assert!(m.remote_knows("a", &x).unwrap() && !m.remote_knows("a", &y).unwrap());
        // Learnt later with a third pack: all three must stay.
        m.put_remote_known("a", &[y], &set(&[p3])).unwrap();
        assert!(!m.check_remote_known("a", &set(&[p1, p2])).unwrap());
        assert!(!m.remote_knows("a", &x).unwrap() && !m.remote_knows("a", &y).unwrap());
        assert!(!m.check_remote_known("a", &set(&[p1, p2, p3])).unwrap());
        // Another remote's knowledge is its own.
        assert!(m.check_remote_known("b", &set(&[p1])).unwrap());
        assert!(m.remote_knows("b", &y).unwrap());
        m.forget_remote_known("b").unwrap();
        assert!(!m.remote_knows("b", &x).unwrap());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// `contains_all` says what `contains` says of each id, whatever mix of runs, gaps, repeats and ids past
        /// the last object it is asked about, in any order.
        #[test]
        fn contains_all_agrees_with_contains(
            stored in proptest::collection::btree_set(0u16..2000, 0..400),
            asked in proptest::collection::vec(0u16..2100, 0..600),
        ) {
            let id = |n: u16| {
                let mut id = [7u8; 32];
                id[..2].copy_from_slice(&n.to_be_bytes());
                ObjectId(id)
            };
            let dir = tempfile::tempdir().unwrap();
            let m = StateDb::open(&dir.path().join("state.db")).unwrap();
            if !stored.is_empty() {
                m.add_pack(&index_of(stored.iter().map(|&n| id(n)))).unwrap();
            }
            let asked: Vec<ObjectId> = asked.into_iter().map(id).collect();
            let got = m.contains_all(&asked).unwrap();
            let want: Vec<bool> = asked.iter().map(|i| m.contains(i).unwrap()).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        StateDb::open(&path)
            .unwrap()
            .conn
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let e = StateDb::open(&path).err().expect("refused");
        assert!(matches!(e, Error::NewerFormat { found: 99, .. }), "{e}");
        // It is a cache: the hint says it may be set aside, not only that dv must be upgraded.
        assert!(e.hint().unwrap().contains("move the file aside"), "{e:?}");
    }
}
