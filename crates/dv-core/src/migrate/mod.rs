//! `dv migrate dvc` and `dv migrate lfs`: a DVC or git-lfs repository's data (and DVC's pipelines) turned
//! into dv datasets and steps, in place, without rewriting history.
//!
//! A module of its own rather than one of `ops/`: it is a one-off bridge from other tools' formats, and its
//! parsers of their files (dvc.rs; YAML through crate::yaml) are fuzzed apart from dv's own.
//!
//! dvc.rs parses DVC's files; objects.rs reads DVC's objects (cache, then remote), checks each MD5 and stores
//! it; stages.rs turns `dvc.yaml`/`dvc.lock` stages into step files; lfs.rs does git-lfs. This file holds the
//! options, the report and the DVC migration's order: parse everything (refusing before anything is written),
//! store the objects, write pointers and ignore lines, write steps, stage, and remove DVC's files if asked.

use std::collections::BTreeMap;

use crate::ops::pointers::Staging;
use crate::pointer::Pointer;
use crate::progress::Progress;
use crate::session::Locked;
use crate::store::object::{Node, NodeKind};
use crate::{Error, Result};

pub mod dvc;
pub mod lfs;
pub mod map;
pub mod objects;
mod remote;
mod stages;

use dvc::Md5;

/// The maps through which dv reads commits from before a migration with `--all-commits` (those the work tree
/// holds).
#[derive(Clone, Debug, Default)]
pub struct Maps {
    pub dvc: Option<map::DvcMap>,
    pub lfs: Option<lfs::LfsMap>,
}

impl Maps {
    pub fn load(repo: &crate::repo::Repo) -> Result<Maps> {
        Ok(Maps {
            dvc: map::DvcMap::load(repo)?,
            lfs: lfs::LfsMap::load(repo)?,
        })
    }
}

/// What a map makes of the record another tool kept of a dataset version at an old commit (a `.dvc` file's or
/// `dvc.lock`'s output, an LFS pointer file).
#[derive(Clone, Debug)]
pub enum Mapped {
    /// The pointer file it stands for.
    Pointer(Box<Pointer>),
    /// A version the migration could not store (its object was missing or damaged everywhere): why.
    Missing(String),
    /// No data of dv's: an output DVC keeps in Git (`cache: false`), bytes that are no LFS pointer file.
    NotData,
}

/// How [`migrate_dvc`] migrates.
#[derive(Clone, Debug, Default)]
pub struct DvcOptions {
    /// Say what would be done, writing nothing (objects are still read and checked, and counted).
    pub dry_run: bool,
    /// Stage what it writes (pointer files, `.gitignore` files, step files) in Git's index.
    pub stage: bool,
    /// After migrating, remove DVC's files (`.dvc` files, `dvc.yaml`, `dvc.lock`, `.dvcignore`, `.dvc/`) from
    /// the work tree and from Git's index.
    pub remove_dvc: bool,
    /// Also store the data of every commit's DVC records and write the DVC map (`.dv/dvc-map`), through which
    /// dv reads those commits' `.dvc` files and `dvc.lock` outs as pointers.
    pub all_commits: bool,
}

/// A dataset a migration made (or would make).
#[derive(Clone, Debug, serde::Serialize)]
pub struct MigratedDataset {
    /// Repository path of the data.
    pub path: String,
    pub pointer: String,
    pub kind: NodeKind,
    pub id: String,
    pub size: u64,
    pub files: u64,
    /// The file that recorded it (a `.dvc` file, `dvc.lock`, `.gitattributes`).
    pub from: String,
    /// The object id the other tool gave it (DVC's MD5, git-lfs's SHA-256).
    pub was: String,
}

/// A step a migration made from a DVC stage.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MigratedStep {
    pub name: String,
    /// The step file.
    pub file: String,
    /// The `dvc.yaml` it came from.
    pub from: String,
    /// What `dv status` says of it right after migration (up-to-date when `dvc.lock` matches the work tree).
    pub state: crate::ops::run::StepFreshness,
    /// Parts of the stage that did not map, and why it is not up to date.
    pub notes: Vec<String>,
}

/// Something not migrated, and why.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Skipped {
    pub what: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct MigrateReport {
    pub dry_run: bool,
    pub datasets: Vec<MigratedDataset>,
    /// Files in those datasets.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// Objects read from the other tool's local cache, and from its remote.
    pub objects_from_cache: u64,
    pub objects_from_remote: u64,
    /// Bytes of the distinct objects read: what the other tool's cache holds for this data.
    pub source_bytes: u64,
    /// What the same data adds to dv's cache, after dedup and compression.
    pub stored_bytes: u64,
    pub new_objects: u64,
    /// With `--all-commits`: the commits read, and the versions of DVC outputs in them now in the DVC map.
    pub commits: u64,
    pub mapped_versions: u64,
    pub steps: Vec<MigratedStep>,
    pub skipped: Vec<Skipped>,
    /// Objects whose bytes did not match their recorded hash (not used; taken from elsewhere).
    pub corrupt: Vec<String>,
    /// Files of the other tool removed (`--remove-dvc`, `--remove-lfs`).
    pub removed: Vec<String>,
    pub staged: Vec<String>,
    /// Without staging, the files written that Git's index should record.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_staged: Vec<String>,
}

/// An output to migrate: where DVC recorded it and its id.
#[derive(Clone, Debug)]
struct Output {
    path: String,
    md5: Md5,
    /// The size DVC recorded, when it did.
    size: Option<u64>,
    from: String,
}

/// Migrates the DVC repository in the work tree: every output of its `.dvc` files and `dvc.lock` files (its
/// objects from DVC's cache, else its remote, each MD5 checked), then its stages. Everything is parsed and
/// checked first: a malformed DVC file stops it before anything is written.
pub fn migrate_dvc(
    s: &Locked<'_>,
    opts: &DvcOptions,
    _progress: &dyn Progress,
) -> Result<MigrateReport> {
    let (repo, store) = (s.repo(), s.store());
    let git = s.git()?;
    let mut report = MigrateReport {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    if opts.remove_dvc && !opts.all_commits {
        return Err(Error::usage(
            "--remove-dvc deletes DVC's cache, which also holds the data of older commits: add --all-commits \
             so that every commit's data is moved to dv first",
        ));
    }
    if !repo.root.join(".dvc").is_dir() {
        // A `--remove-dvc` that was stopped after `.dvc/` went: what is left of DVC's files goes, and their
        // removal is staged.
        let tracked = git.tracked()?;
        if opts.remove_dvc && tracked.holds(".dvc") && !opts.dry_run {
            // Only what is gone already: a dvc.yaml still there was kept on purpose (stages not converted).
            let gone = |p: &String| std::fs::symlink_metadata(repo.abs(p)).is_err();
            let files: Vec<String> = git
                .tracked_with_suffix(".dvc")?
                .into_iter()
                .filter(gone)
                .collect();
            let yamls: Vec<String> = git
                .tracked_with_suffix("dvc.yaml")?
                .into_iter()
                .filter(|p| crate::paths::split(p).1 == "dvc.yaml")
                .filter(gone)
                .collect();
            report.removed = remove_dvc_files(repo, &tracked, &files, &yamls)?;
            if opts.stage {
                git.remove_from_index(&report.removed)?;
            } else {
                report.not_staged = report.removed.clone();
            }
            return Ok(report);
        }
        return Err(Error::Usage {
            message: format!(
                "{} has no .dvc folder: not a DVC repository (run `dv migrate dvc` at its root)",
                repo.root.display()
            ),
        });
    }
    // 1. Parse: .dvc files, then each dvc.yaml with its dvc.lock.
    let tracked = git.tracked()?;
    // A DVC file Git tracks but the work tree no longer has (deleted, or removed by a `--remove-dvc` that was
    // stopped) records nothing to migrate; `--remove-dvc` stages its removal.
    let present = |p: &String| std::fs::symlink_metadata(repo.abs(p)).is_ok();
    let mut files: Vec<String> = git
        .tracked_with_suffix(".dvc")?
        .into_iter()
        .filter(|p| !p.starts_with(".dvc/") && tracked.holds(p))
        .collect();
    files.sort();
    let (files, gone): (Vec<String>, Vec<String>) = files.into_iter().partition(present);
    let mut outputs: Vec<Output> = Vec::new();
    let read = |p: &str| -> Result<Vec<u8>> {
        let abs = repo.abs(p);
        crate::paths::check_no_linked_parents(&repo.root, p)?;
        let data = crate::fsutil::read_own(&abs)?.ok_or_else(|| Error::NotFound(abs.clone()))?;
        Ok(data)
    };
    let mut add_out = |report: &mut MigrateReport, out: &dvc::Out, from: &str| {
        if !out.cache {
            report.skipped.push(Skipped {
                what: out.path.clone(),
                reason: format!("{from} keeps it in Git (`cache: false`): Git keeps it still"),
            });
            return;
        }
        let Some(md5) = &out.md5 else {
            report.skipped.push(Skipped {
                what: out.path.clone(),
                reason: format!("{from} records no MD5 for it (never computed, or a cloud etag)"),
            });
            return;
        };
        if let Some(o) = outputs.iter().find(|o| o.path == out.path) {
            if &o.md5 != md5 {
                report.skipped.push(Skipped {
                    what: out.path.clone(),
                    reason: format!(
                        "{from} records it as {md5}, but {} as {}: the record of {} is kept",
                        o.from, o.md5, o.from
                    ),
                });
            }
            return;
        }
        outputs.push(Output {
            path: out.path.clone(),
            md5: md5.clone(),
            size: out.size,
            from: from.to_string(),
        });
    };
    for f in &files {
        let parsed = dvc::parse_dvc_file(&read(f)?, f)?;
        if let Some(src) = &parsed.import {
            report.skipped.push(Skipped {
                what: f.clone(),
                reason: format!(
                    "a DVC import of {src}: its data is migrated as a dataset of this repository, without the \
                     link to its source (`dv import` links dv repositories)"
                ),
            });
        }
        if parsed.stage {
            report.skipped.push(Skipped {
                what: f.clone(),
                reason: "a single-stage file of DVC 1 (`dvc run -f`): its outputs migrate as datasets, its \
                         command does not become a step (record it with `dv run`)"
                    .into(),
            });
        }
        for o in &parsed.outs {
            add_out(&mut report, o, f);
        }
    }
    let mut pipelines = Vec::new();
    let mut yamls: Vec<String> = git
        .tracked_with_suffix("dvc.yaml")?
        .into_iter()
        .filter(|p| crate::paths::split(p).1 == "dvc.yaml")
        .collect();
    yamls.sort();
    let (yamls, gone_yamls): (Vec<String>, Vec<String>) = yamls.into_iter().partition(present);
    for g in gone.iter().chain(&gone_yamls).filter(|_| !opts.remove_dvc) {
        report.skipped.push(Skipped {
            what: g.clone(),
            reason: "Git tracks it, but the work tree does not have it: nothing of it was read"
                .into(),
        });
    }
    for y in &yamls {
        let yaml_data = read(y)?;
        let pipeline = dvc::parse_pipeline(&yaml_data, y)?;
        let lock_path = crate::paths::join(crate::paths::split(y).0, "dvc.lock");
        let ctx = dvc::LockContext::of_pipeline(Some(&yaml_data), y);
        let lock = match crate::fsutil::read_own(&repo.abs(&lock_path))? {
            Some(data) => dvc::parse_lock(&data, &lock_path, &ctx)?,
            None => Vec::new(),
        };
        for st in &lock {
            for o in &st.outs {
                add_out(&mut report, o, &lock_path);
            }
        }
        pipelines.push((y.clone(), pipeline, lock));
    }
    // Nested outputs cannot both be datasets: the outer one is kept.
    outputs.sort_by(|a, b| a.path.cmp(&b.path));
    let mut kept: Vec<Output> = Vec::new();
    for o in outputs {
        // An output Git tracks (a `cache: false` output, a metrics file, listed in dvc.lock without its
        // dvc.yaml flag) stays Git's: a pointer beside it is one dv itself refuses.
        if tracked.under(&o.path).next().is_some() {
            report.skipped.push(Skipped {
                what: o.path.clone(),
                reason: format!(
                    "Git tracks it ({} records it too): it stays in Git, as DVC left it",
                    o.from
                ),
            });
            continue;
        }
        if let Some(outer) = kept
            .iter()
            .find(|k| crate::paths::is_within(&o.path, &k.path))
        {
            report.skipped.push(Skipped {
                what: o.path.clone(),
                reason: format!(
                    "it is inside '{}', also tracked by DVC; dv datasets do not nest",
                    outer.path
                ),
            });
            continue;
        }
        kept.push(o);
    }
    for o in &kept {
        crate::ops::ignore::check_can_ignore(repo, &o.path)?;
        crate::fsutil::refuse_link(&repo.abs(&format!(
            "{}{}",
            o.path,
            crate::paths::POINTER_SUFFIX
        )))?;
    }

    if let Some(data) = crate::fsutil::read_own(&repo.abs(".dvcignore"))?
        && String::from_utf8_lossy(&data)
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    {
        report.skipped.push(Skipped {
            what: ".dvcignore".into(),
            reason: "dv has no ignore file for files inside a dataset's folder: what it matches there stays in \
                     the folder, and `dv status` shows it as added (move it out, or delete it)"
                .into(),
        });
    }

    // 2. Objects: DVC's cache, then its remote; each checked, then stored.
    let (cache, remote, remote_problem) = remote::places(repo)?;
    let mut objects = objects::DvcObjects::new(store, repo.config.layout(), cache, remote);
    objects.remote_problem = remote_problem;
    // What an earlier migration stored (its map says which node each DVC object became) is not read again:
    // a second run does not need DVC's cache to hold it still.
    if let Some(m) = map::DvcMap::load(repo)? {
        for (md5, (layout, node)) in &m.entries {
            if *layout == repo.config.layout() && store.contains(&node.id)? {
                objects.known(md5, *node);
            }
        }
    }
    let mut sink = objects::sink(store, repo.config.compression_level, opts.dry_run)?;
    let mut nodes: BTreeMap<String, (Md5, Node)> = BTreeMap::new();
    let mut result = Ok(());
    for o in &kept {
        match objects.node(&o.md5, &mut sink) {
            Ok(n) if !o.md5.dir && o.size.is_some_and(|size| size != n.size) => {
                result = Err(Error::format(
                    format!("DVC object {} of '{}'", o.md5, o.path),
                    format!(
                        "{} bytes where DVC recorded {}: not migrated",
                        n.size,
                        o.size.unwrap_or_default()
                    ),
                ));
                break;
            }
            Ok(n) => {
                nodes.insert(o.path.clone(), (o.md5.clone(), n));
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    // 2b. Every commit's DVC records, into the DVC map.
    let mut map = None;
    if opts.all_commits && result.is_ok() {
        let mut m = map::DvcMap::load(repo)?.unwrap_or_default();
        let layout = repo.config.layout();
        for o in &kept {
            m.entries.insert(o.md5.clone(), (layout, nodes[&o.path].1));
        }
        for commit in git.all_commits()? {
            report.commits += 1;
            let mut problems = Vec::new();
            for (o, from) in map::outputs_at(git, &commit, "", &mut problems)? {
                let Some(md5) = o.md5.as_ref().filter(|_| o.cache) else {
                    continue;
                };
                if m.entries.contains_key(md5) {
                    continue;
                }
                match objects.node(md5, &mut sink) {
                    Ok(n) => {
                        m.entries.insert(md5.clone(), (layout, n));
                    }
                    Err(e) => report.skipped.push(Skipped {
                        what: format!(
                            "{} at {} ({from})",
                            o.path,
                            &commit.rev[..commit.rev.len().min(10)]
                        ),
                        reason: e.to_string(),
                    }),
                }
            }
            for (what, why) in problems {
                if !report.skipped.iter().any(|s| s.what == what) {
                    report.skipped.push(Skipped { what, reason: why });
                }
            }
        }
        report.mapped_versions = m.entries.len() as u64;
        map = Some(m);
    }
    report.corrupt = std::mem::take(&mut objects.corrupt);
    report.objects_from_cache = objects.from_cache;
    report.objects_from_remote = objects.from_remote;
    report.source_bytes = objects.dvc_bytes;
    report.new_objects = sink.new_objects;
    report.stored_bytes = sink.new_bytes;
    // What was stored is kept even when an object was missing: a second run does not read it again.
    sink.finish()?;
    result?;

    // 3. Pointers and ignore lines (each dataset's ignore line before its pointer). A work tree DVC checked
    // out as links into its cache loses those links, and gets the data from dv's cache in step 5.
    let mut staging = Staging::default();
    let mut relinked: Vec<String> = Vec::new();
    let mut newer: Vec<String> = Vec::new();
    for o in &kept {
        let node = nodes[&o.path].1;
        let pointer_path = format!("{}{}", o.path, crate::paths::POINTER_SUFFIX);
        let previous = crate::ops::datasets::read_pointer(repo, &o.path)?.map(|d| d.pointer);
        // A pointer file already there naming another version (`dv add` since an earlier migration) is the
        // user's newer record: a second run keeps it.
        if let Some(p) = &previous
            && p.node.id != node.id
        {
            report.skipped.push(Skipped {
                what: o.path.clone(),
                reason: format!(
                    "{pointer_path} names another version than {} records (added with dv since?): kept; remove \
                     {pointer_path} to take DVC's",
                    o.from
                ),
            });
            newer.push(o.path.clone());
            continue;
        }
        report.files += node.files;
        report.bytes += node.size;
        report.datasets.push(MigratedDataset {
            path: o.path.clone(),
            pointer: pointer_path.clone(),
            kind: node.kind,
            id: node.id.to_string(),
            size: node.size,
            files: node.files,
            from: o.from.clone(),
            was: o.md5.to_string(),
        });
        if opts.dry_run {
            continue;
        }
        for f in crate::ops::ignore::ensure_ignored(repo, &o.path)? {
            staging.also(f);
        }
        if replace_dvc_links(repo, &o.path)? {
            relinked.push(o.path.clone());
        }
        let pointer = Pointer {
            node,
            table: None,
            meta: previous
                .as_ref()
                .map(|p| p.meta.clone())
                .unwrap_or_default(),
            layout: repo.config.layout(),
            source: None,
        };
        staging.write_pointer(repo, &pointer_path, &pointer)?;
    }

    // 3b. The data of datasets missing from the work tree (DVC never checked it out, its cache was gone, or
    // it was links into DVC's cache), before the steps are compared with the work tree.
    let missing: Vec<String> = kept
        .iter()
        .filter(|o| !newer.contains(&o.path))
        .filter(|o| {
            relinked.contains(&o.path) || std::fs::symlink_metadata(repo.abs(&o.path)).is_err()
        })
        .map(|o| o.path.clone())
        .collect();
    if !missing.is_empty() && !opts.dry_run {
        let targets = crate::ops::datasets::resolve_targets(
            repo,
            &crate::ops::datasets::Source::WorkTree,
            &missing,
        )?;
        crate::ops::checkout::checkout(
            s,
            &targets,
            &crate::ops::checkout::CheckoutOptions { force: false },
            &mut || Ok(()),
            &crate::progress::NoProgress,
        )?;
    }

    if let Some(m) = &map
        && !opts.dry_run
    {
        write_map(repo, map::MAP_PATH, &m.encode(), &mut staging)?;
    }

    // 4. Stages → steps (names several dvc.yaml files use get their folder's as a prefix).
    // (A dvc.yaml names each stage once: YAML's duplicate keys are refused.)
    let mut seen = std::collections::BTreeSet::new();
    let shared_names: std::collections::BTreeSet<String> = pipelines
        .iter()
        .flat_map(|(_, pipeline, _)| &pipeline.stages)
        .filter(|st| !seen.insert(&st.name))
        .map(|st| st.name.clone())
        .collect();
    for (yaml, pipeline, lock) in &pipelines {
        stages::convert(
            s,
            yaml,
            pipeline,
            lock,
            &nodes,
            opts,
            &shared_names,
            &mut staging,
            &mut report,
        )?;
    }
    if opts.dry_run {
        return Ok(report);
    }

    // 5. DVC's own files, when asked.
    if opts.remove_dvc {
        // A dvc.yaml holding what did not become a step stays: it is the only record of those stages.
        let (kept_yamls, yamls): (Vec<String>, Vec<String>) =
            yamls.iter().cloned().partition(|y| {
                let of_yaml = format!(" of {y}");
                report
                    .skipped
                    .iter()
                    .any(|sk| sk.what == *y || sk.what.ends_with(&of_yaml))
            });
        for y in kept_yamls {
            report.skipped.push(Skipped {
                what: y,
                reason: "kept by --remove-dvc: it defines what did not become a step (listed above); port it by \
                         hand, then delete it"
                    .into(),
            });
        }
        let files: Vec<String> = files.iter().chain(&gone).cloned().collect();
        let yamls: Vec<String> = yamls.into_iter().chain(gone_yamls).collect();
        report.removed = remove_dvc_files(repo, &tracked, &files, &yamls)?;
        if opts.stage {
            git.remove_from_index(&report.removed)?;
        }
    }
    if opts.stage {
        report.staged = staging.stage(repo, Some(git))?;
    } else {
        // `git add` of a deleted file stages its deletion: the removed files belong in the list too.
        report.not_staged = staging.recorded();
        report.not_staged.extend(report.removed.iter().cloned());
        report.not_staged.sort();
        report.not_staged.dedup();
    }
    Ok(report)
}

/// Writes a migration map (`text` at `path`, when it differs) and the `.gitattributes` line that has Git merge
/// it by keeping both sides' lines (two branches that each migrated add lines to it; its readers take a line
/// listed twice once), both staged with `staging`.
pub(crate) fn write_map(
    repo: &crate::repo::Repo,
    path: &str,
    text: &str,
    staging: &mut Staging,
) -> Result<()> {
    crate::paths::check_no_linked_parents(&repo.root, path)?;
    let abs = repo.abs(path);
    if crate::fsutil::read_own(&abs)?.as_deref() != Some(text.as_bytes()) {
        repo.write_file(&abs, text.as_bytes())?;
    }
    staging.also(path);
    let line = format!("{path} merge=union");
    if crate::ops::ignore::ensure_attribute_lines(
        repo,
        &[(
            &line,
            "merge the migration map by keeping both sides' lines",
        )],
    )? {
        staging.also(".gitattributes");
    }
    Ok(())
}

/// Replaces the symbolic links into DVC's cache at or below dataset `path` (DVC's `symlink` cache type) with
/// regular files holding what they point to: dv never follows links in data, and `--remove-dvc` would leave
/// them dangling. What a link points to is the work tree's content, which may be newer than the version DVC
/// recorded (a `.dvc` file checked out without `dvc checkout`): it is kept, and `dv status` then shows it as
/// changed, as for a regular file. A link whose target is gone is removed. Returns whether it removed any
/// (those paths are then checked out from the recorded version).
fn replace_dvc_links(repo: &crate::repo::Repo, path: &str) -> Result<bool> {
    let cache = repo.abs(".dvc");
    let cache = cache.canonicalize().unwrap_or(cache);
    fn go(p: &std::path::Path, cache: &std::path::Path, removed: &mut bool) -> Result<()> {
        let Ok(m) = std::fs::symlink_metadata(p) else {
            return Ok(());
        };
        if m.file_type().is_symlink() {
            let target = std::fs::read_link(p).map_err(|e| Error::io(p, e))?;
            let target = p.parent().map(|d| d.join(&target)).unwrap_or(target);
            let target = target.canonicalize().unwrap_or(target);
            if !target.starts_with(cache) {
                return Ok(());
            }
            match std::fs::metadata(&target) {
                Ok(t) if t.is_file() => {
                    let mut tmp = crate::fsutil::TempFile::beside(p, 0o644)?;
                    let mut from =
                        std::fs::File::open(&target).map_err(|e| Error::io(&target, e))?;
                    std::io::copy(&mut from, tmp.file()).map_err(|e| Error::io(&target, e))?;
                    tmp.persist(p, false)?;
                }
                _ => {
                    std::fs::remove_file(p).map_err(|e| Error::io(p, e))?;
                    *removed = true;
                }
            }
        } else if m.is_dir() {
            for e in std::fs::read_dir(p).map_err(|e| Error::io(p, e))? {
                let e = e.map_err(|e| Error::io(p, e))?;
                go(&e.path(), cache, removed)?;
            }
        }
        Ok(())
    }
    let mut removed = false;
    crate::paths::check_no_linked_parents(&repo.root, path)?;
    go(&repo.abs(path), &cache, &mut removed)?;
    Ok(removed)
}

/// Removes DVC's files from the work tree: its `.dvc` files, `dvc.yaml` and `dvc.lock` files, `.dvcignore`
/// and the `.dvc/` folder (its cache included: the data is in dv's cache now), `.dvc/` last, so that a run
/// stopped part way can be run again. Returns the repository paths of the files removed that Git tracked or
/// could, and of those Git's index still tracks that were gone already (not those of `.dvc/cache` and
/// `.dvc/tmp`).
fn remove_dvc_files(
    repo: &crate::repo::Repo,
    tracked: &crate::git::Tracked,
    files: &[String],
    yamls: &[String],
) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let mut remove = |p: &str| -> Result<()> {
        let abs = repo.abs(p);
        if std::fs::symlink_metadata(&abs).is_ok() {
            std::fs::remove_file(&abs).map_err(|e| Error::io(&abs, e))?;
            removed.push(p.to_string());
        } else if tracked.tracks(p) {
            removed.push(p.to_string());
        }
        Ok(())
    };
    for f in files {
        remove(f)?;
    }
    for y in yamls {
        remove(y)?;
        remove(&crate::paths::join(crate::paths::split(y).0, "dvc.lock"))?;
    }
    remove(".dvcignore")?;
    for f in [".dvc/config", ".dvc/.gitignore", ".dvc/config.local"] {
        remove(f)?;
    }
    for f in tracked.under(".dvc") {
        remove(&f)?;
    }
    let dir = repo.abs(".dvc");
    if dir.is_dir() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    removed.sort();
    removed.dedup();
    Ok(removed)
}
