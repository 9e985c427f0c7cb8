//! The DVC map (`.dv/dvc-map`, committed): which dv node each DVC object id (an output's MD5) became, written by
//! `dv migrate dvc --all-commits`. With it dv reads an old commit's `.dvc` files and `dvc.lock` outs as pointer
//! files where the commit has no `.dv` file (see `ops::datasets`' revision source), so `checkout --rev`, `gc` and
//! `push --all-commits`, `du` and `fsck` see the data of commits made before the migration, and history is
//! never rewritten. See docs/format.md, "DVC map".
//!
//! Text, one line per object, sorted, so Git diffs and merges of it read well:
//!
//! ```text
//! # dv: DVC objects as dv nodes (dv migrate dvc --all-commits); do not edit.
//! dv-dvc-map 1
//! 1d1d0d3f83a0a204c32b0c6d4ae637bd 2 file 5048c7a6…(64 hex) 5 1
//! fd7475f3f487aca739501c10b722c202.dir 2 tree 0d8faea6…(64 hex) 15 3
//! ```
//!
//! Each line: DVC id, layout (1 flat, 2 split: the repository format the dv id was computed in), kind, dv id,
//! size, file count.

use std::collections::BTreeMap;

use super::dvc::{Md5, Out};
use crate::store::object::{Node, NodeKind};
use crate::store::split::Layout;
use crate::{Error, ObjectId, Result};

/// Where the map lives, from the work tree root.
pub const MAP_PATH: &str = ".dv/dvc-map";
/// The map format this dv reads and writes.
pub const MAP_VERSION: u64 = 1;
const MAGIC: &str = "dv-dvc-map";
/// The largest map read (about 600,000 objects).
pub const MAX_MAP_SIZE: usize = 64 * 1024 * 1024;

/// DVC object ids → the dv node each became, and the layout its id was computed in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DvcMap {
    pub entries: BTreeMap<Md5, (Layout, Node)>,
}

impl DvcMap {
    pub fn encode(&self) -> String {
        let mut s = format!(
            "# dv: DVC objects as dv nodes (dv migrate dvc --all-commits); do not edit.\n{MAGIC} {MAP_VERSION}\n"
        );
        for (md5, (layout, n)) in &self.entries {
            s.push_str(&format!(
                "{md5} {} {} {} {} {}\n",
                match layout {
                    Layout::Flat => 1,
                    Layout::Split => 2,
                },
                n.kind.name(),
                n.id,
                n.size,
                n.files
            ));
        }
        s
    }

    /// Parses a map; `what` names it in errors. A newer version is refused.
    pub fn decode(data: &[u8], what: &str) -> Result<DvcMap> {
        if data.len() > MAX_MAP_SIZE {
            return Err(Error::format(
                what,
                format!("{} bytes is too large", data.len()),
            ));
        }
        let text = std::str::from_utf8(data).map_err(|_| Error::format(what, "not UTF-8 text"))?;
        let mut lines = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
        let header = lines.next().unwrap_or_default();
        let version = header
            .strip_prefix(MAGIC)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| Error::format(what, format!("not a DVC map (no `{MAGIC} N` line)")))?;
        if version == 0 {
            return Err(Error::format(what, "format version 0 is invalid"));
        }
        if version > MAP_VERSION {
            return Err(Error::NewerFormat {
                what: what.to_string(),
                found: version,
                supported: MAP_VERSION,
            });
        }
        let mut entries = BTreeMap::new();
        for (i, line) in lines.enumerate() {
            let bad = |why: &str| Error::format(what, format!("entry {}: {why}", i + 1));
            let f: Vec<&str> = line.split(' ').collect();
            let [md5, layout, kind, id, size, files] = f[..] else {
                return Err(bad("expected 6 fields"));
            };
            let md5 = Md5::parse(md5).map_err(|e| bad(&e))?;
            let layout = match layout {
                "1" => Layout::Flat,
                "2" => Layout::Split,
                _ => return Err(bad("layout is not 1 or 2")),
            };
            let kind = NodeKind::from_name(kind).ok_or_else(|| bad("unknown kind"))?;
            if kind.is_file() == md5.dir {
                return Err(bad(
                    "a folder's id (.dir) must map to a tree, a file's to a file",
                ));
            }
            let id = ObjectId::from_hex(id).ok_or_else(|| bad("the id is not 64 hex digits"))?;
            let size: u64 = size.parse().map_err(|_| bad("the size is not a count"))?;
            let files: u64 = files
                .parse()
                .map_err(|_| bad("the file count is not a count"))?;
            if size > i64::MAX as u64 || (kind.is_file() && files != 1) {
                return Err(bad("size or file count out of range"));
            }
            let node = Node {
                kind,
                id,
                size,
                files,
                exec: false,
            };
            // A union merge of two branches' maps may list an entry twice: the same one is taken once.
            if entries
                .insert(md5, (layout, node))
                .is_some_and(|was| was != (layout, node))
            {
                return Err(bad("its DVC id is listed twice, with different nodes"));
            }
        }
        Ok(DvcMap { entries })
    }

    /// The map in the work tree of `repo`, if there is one.
    pub fn load(repo: &crate::repo::Repo) -> Result<Option<DvcMap>> {
        match crate::fsutil::read_own(&repo.abs(MAP_PATH))? {
            None => Ok(None),
            Some(data) => DvcMap::decode(&data, MAP_PATH).map(Some),
        }
    }

    /// The pointer DVC output `out` stands for, when the map knows its object.
    pub fn pointer_of(&self, out: &Out) -> Option<crate::pointer::Pointer> {
        match self.lookup(out) {
            super::Mapped::Pointer(p) => Some(*p),
            _ => None,
        }
    }

    /// What DVC output `out` is to dv: the pointer it stands for, a version not migrated (an output DVC caches
    /// whose object the map lacks), or no data of dv's (`cache: false`).
    pub fn lookup(&self, out: &Out) -> super::Mapped {
        if !out.cache {
            return super::Mapped::NotData;
        }
        let Some(md5) = &out.md5 else {
            return super::Mapped::Missing("DVC recorded no MD5 for it".into());
        };
        match self.entries.get(md5) {
            Some((layout, node)) => {
                super::Mapped::Pointer(Box::new(crate::pointer::Pointer::of_node(*node, *layout)))
            }
            None => super::Mapped::Missing(format!(
                "DVC's object {md5} was not migrated (`dv migrate dvc --all-commits` could not read it)"
            )),
        }
    }
}

/// The DVC record of output `path` at `commit`: its `PATH.dvc` file's, else the `dvc.lock` of a folder above
/// it. Records that cannot be read count as none; an output Git tracks at that commit is Git's (`cache:
/// false`, whatever the record says: a metrics file an older `dvc.yaml` did not flag).
pub fn record_at(
    git: &crate::git::GitRepo,
    commit: &crate::git::Commit,
    path: &str,
) -> Result<Option<Out>> {
    let mut found = record_in_files_at(git, commit, path)?;
    if let Some(o) = &mut found
        && git.has_file_at(commit, &o.path)?
    {
        o.cache = false;
    }
    Ok(found)
}

fn record_in_files_at(
    git: &crate::git::GitRepo,
    commit: &crate::git::Commit,
    path: &str,
) -> Result<Option<Out>> {
    let dvc_file = format!("{path}.dvc");
    if let Some(data) = git.file_at(commit, &dvc_file)?
        && let Ok(f) = super::dvc::parse_dvc_file(&data, &dvc_file)
        && let Some(o) = f.outs.into_iter().find(|o| o.path == path)
    {
        return Ok(Some(o));
    }
    let mut dir = path;
    while !dir.is_empty() {
        dir = crate::paths::split(dir).0;
        let lock = crate::paths::join(dir, "dvc.lock");
        if let Some(data) = git.file_at(commit, &lock)?
            && let Ok(stages) = lock_at(git, commit, &lock, &data)
            && let Some(o) = stages
                .into_iter()
                .flat_map(|s| s.outs)
                .find(|o| o.path == path)
        {
            return Ok(Some(o));
        }
    }
    Ok(None)
}

/// The stages of `dvc.lock` file `path` at `commit` (its bytes `data`), their paths read relative to the folders
/// the `dvc.yaml` beside it at that commit gives them.
fn lock_at(
    git: &crate::git::GitRepo,
    commit: &crate::git::Commit,
    path: &str,
    data: &[u8],
) -> Result<Vec<super::dvc::LockStage>> {
    let yaml = crate::paths::join(crate::paths::split(path).0, "dvc.yaml");
    let ctx = super::dvc::LockContext::of_pipeline(git.file_at(commit, &yaml)?.as_deref(), &yaml);
    super::dvc::parse_lock(data, path, &ctx)
}

/// The DVC outputs recorded at `commit` at or below folder `dir` ("" for all): every `.dvc` file's and every
/// `dvc.lock`'s, each path once (the first record kept), those that cannot be read left out (with why, in
/// `problems`); as in [`record_at`], an output Git tracks at that commit is `cache: false`.
pub fn outputs_at(
    git: &crate::git::GitRepo,
    commit: &crate::git::Commit,
    dir: &str,
    problems: &mut Vec<(String, String)>,
) -> Result<Vec<(Out, String)>> {
    let mut out: Vec<(Out, String)> = Vec::new();
    let mut files = git.files_with_suffix_at(commit, "", ".dvc")?;
    files.retain(|(p, _)| !crate::paths::is_within(p, ".dvc"));
    let locks = git.files_with_suffix_at(commit, "", "dvc.lock")?;
    for (path, data) in files.iter().chain(locks.iter()) {
        let is_lock = crate::paths::split(path).1 == "dvc.lock";
        if !is_lock && !path.ends_with(".dvc") {
            continue;
        }
        let parsed = if is_lock {
            lock_at(git, commit, path, data)
                .map(|stages| stages.into_iter().flat_map(|s| s.outs).collect::<Vec<_>>())
        } else {
            super::dvc::parse_dvc_file(data, path).map(|f| f.outs)
        };
        match parsed {
            Ok(outs) => {
                for mut o in outs {
                    if crate::paths::is_within(&o.path, dir)
                        && !out.iter().any(|(x, _)| x.path == o.path)
                    {
                        o.cache &= !git.has_file_at(commit, &o.path)?;
                        out.push((o, path.clone()));
                    }
                }
            }
            Err(e) => problems.push((format!("{path} at {}", commit.rev), e.to_string())),
        }
    }
    out.sort_by(|a, b| a.0.path.cmp(&b.0.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_newer_versions() {
        let mut m = DvcMap::default();
        m.entries.insert(
            Md5::parse("fd7475f3f487aca739501c10b722c202.dir").unwrap(),
            (
                Layout::Split,
                Node {
                    kind: NodeKind::Tree,
                    id: ObjectId::of(b"t"),
                    size: 15,
                    files: 3,
                    exec: false,
                },
            ),
        );
        m.entries.insert(
            Md5::parse("bbd304055be67c211495c95f4e697eb2").unwrap(),
            (
                Layout::Flat,
                Node {
                    kind: NodeKind::File,
                    id: ObjectId::of(b"f"),
                    size: 24,
                    files: 1,
                    exec: false,
                },
            ),
        );
        let text = m.encode();
        assert_eq!(DvcMap::decode(text.as_bytes(), "m").unwrap(), m);
        // A union merge's repeated line is taken once.
        let twice = text.clone() + text.lines().last().unwrap();
        assert_eq!(DvcMap::decode(twice.as_bytes(), "m").unwrap(), m);
        let newer = text.replace("dv-dvc-map 1", "dv-dvc-map 2");
        assert!(matches!(
            DvcMap::decode(newer.as_bytes(), "m"),
            Err(Error::NewerFormat { found: 2, .. })
        ));
        for bad in [
            "nothing\n".to_string(),
            text.replace(" tree ", " file "),
            text.replace(" 24 1", " 24 2"),
            text.clone() + &text.lines().last().unwrap().replace(" 15 3", " 16 3"),
            "dv-dvc-map 1\nbbd304055be67c211495c95f4e697eb2 2 file xyz 1 1\n".into(),
        ] {
            assert!(DvcMap::decode(bad.as_bytes(), "m").is_err(), "{bad}");
        }
    }
}
