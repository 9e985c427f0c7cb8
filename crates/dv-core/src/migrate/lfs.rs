//! `dv migrate lfs`: files Git tracks through git-lfs (their blobs are LFS pointer files) become datasets.
//! Each object is read from `.git/lfs/objects/ab/cd/OID` (or, when missing there, from the work tree's
//! smudged file) and its SHA-256 and size checked before it is stored. With `remove_lfs`, Git stops tracking
//! the files (index entries removed, `filter=lfs` lines dropped from `.gitattributes`), as dv tracks them now.

use std::io::{Read, Write};
use std::path::Path;

use sha2::Digest;

use super::objects::Sink;
use super::{MigrateReport, MigratedDataset, Skipped};
use crate::ops::pointers::Staging;
use crate::pointer::Pointer;
use crate::session::Locked;
use crate::{Error, Result};

/// How [`migrate_lfs`] migrates.
#[derive(Clone, Debug, Default)]
pub struct LfsOptions {
    pub dry_run: bool,
    pub stage: bool,
    /// Hand the files from Git to dv: drop their index entries and the `filter=lfs` lines of `.gitattributes`.
    pub remove_lfs: bool,
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

/// Migrates the files git-lfs tracks in Git's index.
pub fn migrate_lfs(s: &Locked<'_>, opts: &LfsOptions) -> Result<MigrateReport> {
    let (repo, store) = (s.repo(), s.store());
    let git = s.git()?;
    let mut report = MigrateReport {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let mut files = Vec::new();
    for (path, blob) in git.small_blobs_in_index(MAX_LFS_POINTER as u64)? {
        let Some(p) = parse_pointer(&blob) else {
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
    let objects = git.common_dir().join("lfs/objects");
    let mut sink = Sink::new(store, repo.config.compression_level, opts.dry_run)?;
    let mut nodes = Vec::new();
    let mut result = Ok(());
    for (path, p) in &files {
        let in_lfs = objects.join(&p.oid[..2]).join(&p.oid[2..4]).join(&p.oid);
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
    if opts.remove_lfs && !nodes.is_empty() {
        // The work tree gets the data where it holds the pointer text (never smudged).
        for (path, p, _, tmp) in &nodes {
            let abs = repo.abs(path);
            if checked_copy(&abs, p, &store.tmp_dir())?.is_none() {
                crate::paths::check_no_linked_parents(&repo.root, path)?;
                std::fs::copy(tmp.path(), &abs).map_err(|e| Error::io(&abs, e))?;
            }
        }
        let paths: Vec<String> = nodes.iter().map(|(p, ..)| p.clone()).collect();
        for attr in git.tracked_with_suffix(".gitattributes")? {
            if crate::paths::split(&attr).1 != ".gitattributes" {
                continue;
            }
            let abs = repo.abs(&attr);
            let Some(old) = crate::fsutil::read_own(&abs)? else {
                continue;
            };
            let old = String::from_utf8_lossy(&old);
            let kept: Vec<&str> = old
                .lines()
                .filter(|l| !l.split_whitespace().skip(1).any(|a| a == "filter=lfs"))
                .collect();
            if kept.len() != old.lines().count() {
                let mut text = kept.join("\n");
                if !text.is_empty() {
                    text.push('\n');
                }
                repo.write_file(&abs, text.as_bytes())?;
                staging.also(attr.clone());
                report.removed.push(format!("{attr}: filter=lfs lines"));
            }
        }
        if opts.stage {
            git.remove_from_index(&paths)?;
        } else {
            report.skipped.push(Skipped {
                what: format!("{} file(s)", paths.len()),
                reason: "Git's index still tracks them (not staged): `git rm --cached` them".into(),
            });
        }
    } else if !nodes.is_empty() {
        report.skipped.push(Skipped {
            what: format!("{} file(s)", nodes.len()),
            reason: "Git still tracks them through git-lfs; `dv migrate lfs --remove-lfs` hands them to dv".into(),
        });
    }
    if opts.stage {
        report.staged = staging.stage(repo, Some(git))?;
    } else {
        report.not_staged = staging.recorded();
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

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
