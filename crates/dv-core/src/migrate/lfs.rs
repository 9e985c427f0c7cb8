//! `dv migrate lfs`: files Git tracks through git-lfs (their blobs are LFS pointer files) become datasets.
//! Each object is read from `.git/lfs/objects/ab/cd/OID` (or, when missing there, from the work tree's
//! smudged file) and its SHA-256 and size checked before it is stored. Git stops tracking the files (their
//! index entries go: a pointer file is refused beside a file Git tracks), as dv tracks them now; with
//! `remove_lfs`, git-lfs's attributes leave `.gitattributes` too.

use std::io::{Read, Write};
use std::path::Path;

use sha2::Digest;

use super::{MigrateReport, MigratedDataset, Skipped};
use crate::ops::pointers::Staging;
use crate::pointer::Pointer;
use crate::session::Locked;
use crate::store::object::{Node, NodeKind};
use crate::store::split::Layout;
use crate::{Error, Result};

/// How [`migrate_lfs`] migrates.
#[derive(Clone, Debug, Default)]
pub struct LfsOptions {
    pub dry_run: bool,
    pub stage: bool,
    /// Also drop git-lfs's attributes (`filter=lfs diff=lfs merge=lfs`) from `.gitattributes`.
    pub remove_lfs: bool,
    /// Also store every commit's LFS objects (those in `.git/lfs/objects`) and write the LFS map
    /// (`.dv/lfs-map`), through which dv reads old commits' LFS pointer files as dv pointers.
    pub all_commits: bool,
}

/// A git-lfs pointer file: the object's SHA-256 (64 lower-case hex digits) and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LfsPointer {
    pub oid: String,
    pub size: u64,
}

/// LFS pointer files are at most this large (the spec says 1024 bytes).
pub const MAX_LFS_POINTER: usize = 1024;

/// Parses an LFS pointer file (`version …`, `oid sha256:…`, `size …`, other keys ignored); `None` if it is not
/// one.
pub fn parse_pointer(data: &[u8]) -> Option<LfsPointer> {
    if data.len() > MAX_LFS_POINTER {
        return None;
    }
    let text = std::str::from_utf8(data).ok()?;
    let mut lines = text.lines();
    let version = lines.next()?.strip_prefix("version ")?;
    if version != "https://git-lfs.github.com/spec/v1"
        && version != "https://hawser.github.com/spec/v1"
    {
        return None;
    }
    let (mut oid, mut size) = (None, None);
    for l in lines {
        if let Some(o) = l.strip_prefix("oid sha256:") {
            if o.len() != 64
                || !o
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return None;
            }
            oid = Some(o.to_string());
        } else if let Some(s) = l.strip_prefix("size ") {
            size = Some(s.parse::<u64>().ok()?);
        }
    }
    Some(LfsPointer {
        oid: oid?,
        size: size?,
    })
}

/// Copies `path` into a temporary file in `tmp_dir` if its SHA-256 and size are `p`'s; `None` otherwise (or
/// when there is no such file).
fn checked_copy(
    path: &Path,
    p: &LfsPointer,
    tmp_dir: &Path,
) -> Result<Option<tempfile::NamedTempFile>> {
    let Ok(mut f) = std::fs::File::open(path) else {
        return Ok(None);
    };
    if !f.metadata().map_err(|e| Error::io(path, e))?.is_file() {
        return Ok(None);
    }
    let mut tmp = tempfile::NamedTempFile::new_in(tmp_dir).map_err(|e| Error::io(tmp_dir, e))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        tmp.write_all(&buf[..k])
            .map_err(|e| Error::io(tmp.path(), e))?;
        n += k as u64;
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((hex == p.oid && n == p.size).then_some(tmp))
}

/// Where the LFS map lives, from the work tree root.
pub const LFS_MAP_PATH: &str = ".dv/lfs-map";
/// The LFS map format this dv reads and writes.
pub const LFS_MAP_VERSION: u64 = 1;
const LFS_MAGIC: &str = "dv-lfs-map";

/// The LFS map (`.dv/lfs-map`, committed): the dv node each git-lfs object (by its SHA-256) became, written by
/// `dv migrate lfs --all-commits`, so dv reads an old commit's LFS pointer files as dv pointers (as the DVC
/// map does for DVC; see docs/format.md, "LFS map"). Lines: OID, layout, kind, dv id, size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LfsMap {
    pub entries: std::collections::BTreeMap<String, (Layout, Node)>,
}

impl LfsMap {
    pub fn encode(&self) -> String {
        let mut s = format!(
            "# dv: git-lfs objects as dv nodes (dv migrate lfs --all-commits); do not edit.\n{LFS_MAGIC} {LFS_MAP_VERSION}\n"
        );
        for (oid, (layout, n)) in &self.entries {
            let layout = if *layout == Layout::Flat { 1 } else { 2 };
            s.push_str(&format!(
                "{oid} {layout} {} {} {}\n",
                n.kind.name(),
                n.id,
                n.size
            ));
        }
        s
    }

    /// Parses an LFS map; `what` names it in errors. A newer version is refused.
    pub fn decode(data: &[u8], what: &str) -> Result<LfsMap> {
        if data.len() > super::map::MAX_MAP_SIZE {
            return Err(Error::format(
                what,
                format!("{} bytes is too large", data.len()),
            ));
        }
        let text = std::str::from_utf8(data).map_err(|_| Error::format(what, "not UTF-8 text"))?;
        let mut lines = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
        let version = lines
            .next()
            .and_then(|h| h.strip_prefix(LFS_MAGIC))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                Error::format(what, format!("not an LFS map (no `{LFS_MAGIC} N` line)"))
            })?;
        if version == 0 {
            return Err(Error::format(what, "format version 0 is invalid"));
        }
        if version > LFS_MAP_VERSION {
            return Err(Error::NewerFormat {
                what: what.to_string(),
                found: version,
                supported: LFS_MAP_VERSION,
            });
        }
        let mut entries = std::collections::BTreeMap::new();
        for (i, line) in lines.enumerate() {
            let bad = |why: &str| Error::format(what, format!("entry {}: {why}", i + 1));
            let f: Vec<&str> = line.split(' ').collect();
            let [oid, layout, kind, id, size] = f[..] else {
                return Err(bad("expected 5 fields"));
            };
            if oid.len() != 64
                || !oid
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(bad("the object id is not 64 lower-case hex digits"));
            }
            let layout = match layout {
                "1" => Layout::Flat,
                "2" => Layout::Split,
                _ => return Err(bad("layout is not 1 or 2")),
            };
            let kind = NodeKind::from_name(kind)
                .filter(|k| k.is_file())
                .ok_or_else(|| bad("the kind is not a file's"))?;
            let id =
                crate::ObjectId::from_hex(id).ok_or_else(|| bad("the id is not 64 hex digits"))?;
            let size: u64 = size.parse().map_err(|_| bad("the size is not a count"))?;
            if size > i64::MAX as u64 {
                return Err(bad("size out of range"));
            }
            let node = Node {
                kind,
                id,
                size,
                files: 1,
                exec: false,
            };
            // A union merge of two branches' maps may list an entry twice: the same one is taken once.
            if entries
                .insert(oid.to_string(), (layout, node))
                .is_some_and(|was| was != (layout, node))
            {
                return Err(bad("its object id is listed twice, with different nodes"));
            }
        }
        Ok(LfsMap { entries })
    }

    /// The map in the work tree of `repo`, if there is one.
    pub fn load(repo: &crate::repo::Repo) -> Result<Option<LfsMap>> {
        match crate::fsutil::read_own(&repo.abs(LFS_MAP_PATH))? {
            None => Ok(None),
            Some(data) => LfsMap::decode(&data, LFS_MAP_PATH).map(Some),
        }
    }

    /// The dv pointer LFS pointer file `data` stands for, when it is one and the map knows its object.
    pub fn pointer_of(&self, data: &[u8]) -> Option<Pointer> {
        match self.lookup(data) {
            super::Mapped::Pointer(p) => Some(*p),
            _ => None,
        }
    }

    /// What file `data` is to dv: the pointer an LFS pointer file stands for, a version not migrated (an LFS
    /// pointer file whose object the map lacks, or holds at another size), or no data of dv's.
    pub fn lookup(&self, data: &[u8]) -> super::Mapped {
        let Some(p) = parse_pointer(data) else {
            return super::Mapped::NotData;
        };
        match self.entries.get(&p.oid) {
            Some((layout, node)) if node.size == p.size => {
                super::Mapped::Pointer(Box::new(Pointer::of_node(*node, *layout)))
            }
            Some((_, node)) => super::Mapped::Missing(format!(
                "its LFS pointer file says {} bytes, but git-lfs object {} holds {}",
                p.size, p.oid, node.size
            )),
            None => super::Mapped::Missing(format!(
                "git-lfs object {} was not migrated (`dv migrate lfs --all-commits` could not read it)",
                p.oid
            )),
        }
    }
}

/// Migrates the files git-lfs tracks in Git's index.
pub fn migrate_lfs(s: &Locked<'_>, opts: &LfsOptions) -> Result<MigrateReport> {
    let (repo, store) = (s.repo(), s.store());
    let git = s.git()?;
    let mut report = MigrateReport {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let objects = git.common_dir().join("lfs/objects");
    let mut files = Vec::new();
    let mut own_files = Vec::new();
    for (path, blob) in git.small_blobs_in_index(MAX_LFS_POINTER as u64)? {
        let lfs = parse_pointer(&blob);
        // dv's own files (pointer files, ignore and attribute files, `.dv/`) that a git-lfs pattern caught
        // are no data: Git gets them back as plain files (see `protect_own_files`).
        let (dir, name) = crate::paths::split(&path);
        let own_name = name == ".gitignore"
            || name == ".gitattributes"
            || crate::paths::is_within(&path, ".dv");
        if let Some(p) = &lfs
            && (own_name || path.ends_with(crate::paths::POINTER_SUFFIX))
        {
            let here = crate::fsutil::read_own(&repo.abs(&path))?;
            let smudged = here.as_ref().filter(|d| parse_pointer(d).is_none());
            // A `*.dv` file is dv's pointer file when it reads as one (else it is data: DV video).
            let own = own_name
                || smudged
                    .cloned()
                    .or_else(|| std::fs::read(lfs_object(&objects, &p.oid)).ok())
                    .is_some_and(|d| Pointer::looks_like(&d));
            if own {
                report.skipped.push(Skipped {
                    what: path.clone(),
                    reason: format!(
                        "dv's own file, which git-lfs stored (a filter=lfs pattern{} covers it): {}",
                        if dir.is_empty() { String::new() } else { format!(" of {dir}") },
                        if smudged.is_some() {
                            "staged again as a plain Git file"
                        } else {
                            "the work tree holds only git-lfs's pointer text; `git lfs pull` brings it, then run \
                             the migration again"
                        }
                    ),
                });
                if smudged.is_some() {
                    own_files.push(path.clone());
                }
                continue;
            }
        }
        let Some(p) = lfs else {
            if !own_name
                && (blob.starts_with(b"version https://git-lfs.github.com/spec/")
                    || blob.starts_with(b"version https://hawser.github.com/spec/"))
            {
                report.skipped.push(Skipped {
                    what: path.clone(),
                    reason: "Git holds a damaged git-lfs pointer file for it (no `oid sha256:` of 64 hex \
                             digits, or no `size`): Git keeps it as it is"
                        .into(),
                });
            }
            continue;
        };
        if let Some(why) = crate::paths::dataset_path_problem(&path) {
            report.skipped.push(Skipped {
                what: path.clone(),
                reason: format!("it cannot be a dataset: {why}"),
            });
            continue;
        }
        crate::ops::ignore::check_can_ignore(repo, &path)?;
        files.push((path, p));
    }
    let mut sink = super::objects::sink(store, repo.config.compression_level, opts.dry_run)?;
    let mut nodes = Vec::new();
    let mut result = Ok(());
    for (path, p) in &files {
        let in_lfs = lfs_object(&objects, &p.oid);
        let tmp = match checked_copy(&in_lfs, p, &store.tmp_dir())? {
            Some(t) => {
                report.objects_from_cache += 1;
                Some(t)
            }
            None => {
                if in_lfs.exists() {
                    report.corrupt.push(format!(
                        "git-lfs object {} does not match its SHA-256 or size: not used",
                        p.oid
                    ));
                }
                checked_copy(&repo.abs(path), p, &store.tmp_dir())?
            }
        };
        let Some(tmp) = tmp else {
            result = Err(Error::format(
                path.clone(),
                format!(
                    "git-lfs object {} is neither in .git/lfs/objects nor in the work tree with that SHA-256 \
                     (`git lfs fetch` brings it)",
                    p.oid
                ),
            ));
            break;
        };
        report.source_bytes += p.size;
        let node =
            crate::store::store_file(tmp.path(), repo.config.layout(), &mut sink)?.node(false);
        nodes.push((path.clone(), p.clone(), node, tmp));
    }
    let mut map = None;
    if opts.all_commits && result.is_ok() {
        let mut m = LfsMap::load(repo)?.unwrap_or_default();
        let layout = repo.config.layout();
        for (_, p, node, _) in &nodes {
            m.entries.insert(p.oid.clone(), (layout, *node));
        }
        for commit in git.all_commits()? {
            report.commits += 1;
            for (path, blob) in git.small_blobs_at(&commit, "", MAX_LFS_POINTER as u64)? {
                let Some(p) = parse_pointer(&blob) else {
                    continue;
                };
                if m.entries.contains_key(&p.oid)
                    || crate::paths::dataset_path_problem(&path).is_some()
                {
                    continue;
                }
                let in_lfs = lfs_object(&objects, &p.oid);
                match checked_copy(&in_lfs, &p, &store.tmp_dir())? {
                    Some(tmp) => {
                        report.objects_from_cache += 1;
                        report.source_bytes += p.size;
                        let node =
                            crate::store::store_file(tmp.path(), layout, &mut sink)?.node(false);
                        m.entries.insert(p.oid.clone(), (layout, node));
                    }
                    None => report.skipped.push(Skipped {
                        what: format!("{path} at {}", &commit.rev[..commit.rev.len().min(10)]),
                        reason: format!(
                            "git-lfs object {} is not in .git/lfs/objects with that SHA-256 (`git lfs fetch \
                             --all` brings every commit's)",
                            p.oid
                        ),
                    }),
                }
            }
        }
        report.mapped_versions = m.entries.len() as u64;
        map = Some(m);
    }
    report.new_objects = sink.new_objects;
    report.stored_bytes = sink.new_bytes;
    sink.finish()?;
    result?;
    let mut staging = Staging::default();
    for (path, p, node, _) in &nodes {
        let pointer_path = format!("{path}{}", crate::paths::POINTER_SUFFIX);
        report.files += 1;
        report.bytes += node.size;
        report.datasets.push(MigratedDataset {
            path: path.clone(),
            pointer: pointer_path.clone(),
            kind: node.kind,
            id: node.id.to_string(),
            size: node.size,
            files: 1,
            from: ".gitattributes".into(),
            was: format!("sha256:{}", p.oid),
        });
        if opts.dry_run {
            continue;
        }
        crate::fsutil::refuse_link(&repo.abs(&pointer_path))?;
        for f in crate::ops::ignore::ensure_ignored(repo, path)? {
            staging.also(f);
        }
        staging.write_pointer(
            repo,
            &pointer_path,
            &Pointer {
                node: *node,
                table: None,
                meta: Default::default(),
                layout: repo.config.layout(),
                source: None,
            },
        )?;
    }
    if opts.dry_run {
        return Ok(report);
    }
    if let Some(m) = &map {
        super::write_map(repo, LFS_MAP_PATH, &m.encode(), &mut staging)?;
    }
    if !nodes.is_empty() {
        // The work tree gets the data where it holds the pointer text (never smudged) or nothing. Anything
        // else there is the user's (an edit not yet committed): it stays, and `dv status` shows it changed.
        for (path, _, _, tmp) in &nodes {
            crate::paths::check_no_linked_parents(&repo.root, path)?;
            let abs = repo.abs(path);
            let pointer_text = match std::fs::symlink_metadata(&abs) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                Err(e) => return Err(Error::io(&abs, e)),
                Ok(m) if m.is_file() && m.len() <= 1024 => {
                    parse_pointer(&std::fs::read(&abs).map_err(|e| Error::io(&abs, e))?).is_some()
                }
                Ok(_) => false,
            };
            if pointer_text {
                std::fs::copy(tmp.path(), &abs).map_err(|e| Error::io(&abs, e))?;
            }
        }
        let paths: Vec<String> = nodes.iter().map(|(p, ..)| p.clone()).collect();
        if opts.stage {
            git.remove_from_index(&paths)?;
        } else {
            report.skipped.push(Skipped {
                what: format!("{} file(s)", paths.len()),
                reason: "Git's index still tracks them (not staged): `git rm --cached` them".into(),
            });
        }
    }
    // Also on a second run, once the files are dv's.
    let mut attrs = git.tracked_with_suffix(".gitattributes")?;
    attrs.retain(|a| crate::paths::split(a).1 == ".gitattributes");
    for attr in &attrs {
        crate::paths::check_no_linked_parents(&repo.root, attr)?;
        let abs = repo.abs(attr);
        let Some(old) = crate::fsutil::read_own(&abs)? else {
            continue;
        };
        let old = String::from_utf8_lossy(&old);
        if !opts.remove_lfs {
            if let Some(text) = protect_own_files(&old, attr == ".gitattributes") {
                repo.write_file(&abs, text.as_bytes())?;
                staging.also(attr.clone());
            }
            continue;
        }
        // With git-lfs's patterns gone, the lines keeping dv's files out of them go too.
        let unprotected = old.replace(OWN_FILES, "").replace(OWN_FOLDER, "");
        let changed = (unprotected != old).then(|| unprotected.clone());
        match without_lfs_attributes(&unprotected).or(changed) {
            // An attributes file left empty goes (its removal staged).
            Some(text) if text.trim().is_empty() && attr != ".gitattributes" => {
                std::fs::remove_file(&abs).map_err(|e| Error::io(&abs, e))?;
                if opts.stage {
                    git.remove_from_index(std::slice::from_ref(attr))?;
                }
                report.removed.push(attr.clone());
            }
            Some(text) => {
                repo.write_file(&abs, text.as_bytes())?;
                staging.also(attr.clone());
                report.removed.push(format!("{attr}: git-lfs attributes"));
            }
            None => {}
        }
    }
    // (Those still there: an attributes file left empty is gone.)
    for f in own_files {
        if std::fs::symlink_metadata(repo.abs(&f)).is_ok() {
            staging.also(f);
        }
    }
    if opts.stage {
        report.staged = staging.stage(repo, Some(git))?;
    } else {
        report.not_staged = staging.recorded();
    }
    Ok(report)
}

/// Where git-lfs keeps object `oid` below its objects folder `objects` (`ab/cd/OID`).
fn lfs_object(objects: &Path, oid: &str) -> std::path::PathBuf {
    objects.join(&oid[..2]).join(&oid[2..4]).join(oid)
}

/// The lines that keep dv's own files plain Git files under git-lfs patterns (they come last in an attributes
/// file, so they win over its patterns; each attributes file that has git-lfs patterns gets them, as a deeper
/// file's patterns win over the root's). `.dv/` only at the root.
const OWN_FILES: &str = "# dv: dv's own files are plain Git files, whatever git-lfs's patterns above say.\n\
                         *.dv !filter !diff !text merge=dv\n.gitignore !filter !diff !text merge=union\n\
                         .gitattributes !filter !diff !text !merge\n";
const OWN_FOLDER: &str =
    ".dv/** !filter !diff !text !merge\n.dv/dvc-map merge=union\n.dv/lfs-map merge=union\n";

/// `.gitattributes` text with [`OWN_FILES`] at its end when it has git-lfs patterns (and [`OWN_FOLDER`] too at
/// the root) and does not end with them already; None when nothing changes.
fn protect_own_files(text: &str, root: bool) -> Option<String> {
    let lfs = text.lines().any(|l| {
        !l.trim_start().starts_with('#') && l.split_whitespace().skip(1).any(|a| a == "filter=lfs")
    });
    let block = if root {
        format!("{OWN_FILES}{OWN_FOLDER}")
    } else {
        OWN_FILES.to_string()
    };
    if !lfs || text.ends_with(&block) {
        return None;
    }
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    // An older copy of the block, higher up, would no longer come last.
    out = out.replace(&block, "");
    out.push_str(&block);
    Some(out)
}

/// `.gitattributes` text without git-lfs's attributes (`filter=lfs`, `diff=lfs`, `merge=lfs`): each line that
/// names them keeps its other attributes, and goes when none is left but the `-text` that `git lfs track` adds
/// with them. None when no line names them.
fn without_lfs_attributes(text: &str) -> Option<String> {
    let lfs = |a: &str| matches!(a, "filter=lfs" | "diff=lfs" | "merge=lfs");
    let mut changed = false;
    let mut out = String::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let pattern = words.next();
        let attrs: Vec<&str> = words.collect();
        if line.trim_start().starts_with('#') || !attrs.iter().any(|a| lfs(a)) {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        changed = true;
        let kept: Vec<&str> = attrs.into_iter().filter(|a| !lfs(a)).collect();
        if kept.is_empty() || kept == ["-text"] {
            continue;
        }
        out.push_str(pattern.unwrap_or_default());
        for a in kept {
            out.push(' ');
            out.push_str(a);
        }
        out.push('\n');
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lfs_attributes_go_and_others_stay() {
        let text = "# models\n*.bin filter=lfs diff=lfs merge=lfs -text\n*.pt filter=lfs diff=lfs merge=lfs -text export-ignore\n*.txt text eol=lf\n";
        assert_eq!(
            super::without_lfs_attributes(text).unwrap(),
            "# models\n*.pt -text export-ignore\n*.txt text eol=lf\n"
        );
        assert_eq!(super::without_lfs_attributes("*.txt text\n"), None);
        let protected =
            super::protect_own_files("data/** filter=lfs diff=lfs merge=lfs -text\n", true)
                .unwrap();
        assert!(
            protected.ends_with(".dv/lfs-map merge=union\n"),
            "{protected}"
        );
        assert_eq!(super::protect_own_files(&protected, true), None);
        assert_eq!(super::protect_own_files("*.txt text\n", true), None);
    }

    use super::*;

    #[test]
    fn the_lfs_map_round_trips_and_refuses_newer_versions() {
        let oid = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";
        let mut m = LfsMap::default();
        m.entries.insert(
            oid.into(),
            (
                Layout::Split,
                Node {
                    kind: NodeKind::Chunked,
                    id: crate::ObjectId::of(b"x"),
                    size: 12345,
                    files: 1,
                    exec: false,
                },
            ),
        );
        let text = m.encode();
        assert_eq!(LfsMap::decode(text.as_bytes(), "m").unwrap(), m);
        let ptr =
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 12345\n");
        assert_eq!(m.pointer_of(ptr.as_bytes()).unwrap().node.size, 12345);
        assert!(
            m.pointer_of(ptr.replace("12345", "12").as_bytes())
                .is_none()
        );
        assert!(matches!(
            LfsMap::decode(text.replace("dv-lfs-map 1", "dv-lfs-map 9").as_bytes(), "m"),
            Err(Error::NewerFormat { found: 9, .. })
        ));
        for bad in [
            text.replace(" chunked ", " tree "),
            text.replace(oid, "xyz"),
            "junk".into(),
        ] {
            assert!(LfsMap::decode(bad.as_bytes(), "m").is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_lfs_pointers() {
        let oid = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";
        let p = parse_pointer(
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 12345\n")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(p.size, 12345);
        assert_eq!(p.oid, oid);
        for bad in [
            format!("version https://example.com/v1\noid sha256:{oid}\nsize 1\n"),
            format!(
                "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 1\n",
                &oid[1..]
            ),
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize -1\n"),
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\n"),
            "hello".into(),
        ] {
            assert_eq!(parse_pointer(bad.as_bytes()), None, "{bad}");
        }
    }
}
