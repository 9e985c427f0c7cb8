//! `dv ls` and `dv get`: datasets of any repository (this one, a local path, or a Git URL), read without a
//! clone or a checkout of it.

use std::path::PathBuf;

use super::super::{Global, Outcome, output, progress};
use dv_core::Result;
use dv_core::ops::datasets::Source;
use dv_core::registry::{self, Location, SourceAt};

/// List a dataset version's files, or a repository's datasets, with sizes and ids, without downloading data.
///
/// REPO is `.` (this repository), the path of another one, or a Git URL (file://, ssh://, https://,
/// user@host:path), mirrored under the user's cache folder so that the next call fetches only new commits.
/// Only pointer files and the folders' trees are read (trees by ranged reads from the repository's default
/// remote, kept in the cache).
#[derive(clap::Args)]
pub struct LsArgs {
    /// The repository: `.`, a path, or a Git URL.
    repo: String,
    /// A path relative to the repository's root: a dataset, a path inside one, or a folder holding datasets
    /// (default: every dataset of the repository).
    #[arg(default_value = "")]
    path: String,
    /// The Git revision (branch, tag, commit) to read (default: the repository's HEAD; for `.`, the work
    /// tree's pointer files).
    #[arg(long, value_name = "REV")]
    rev: Option<String>,
    /// Every file below, not one level.
    #[arg(short = 'R', long)]
    recursive: bool,
    /// Print the result as JSON: `source`, `rev`, `commit`, `entries` (each `path`, `kind` (file, folder,
    /// dataset), `size`, `files`, `id`, `exec`), `fetched_objects`, `fetched_bytes`.
    #[arg(long)]
    json: bool,
}

/// Download a dataset, or a file or folder of one, from any repository at a revision.
///
/// No Git repository or `dv init` is needed where it is written, and no cache is left there: objects are
/// fetched (each verified) into the shared cache if one is set (cache.dir, DV_CACHE_DIR), else into a
/// temporary one. OUT becomes the file or folder named (default: its own name in the current folder) and
/// must not exist; it appears whole or not at all.
#[derive(clap::Args)]
pub struct GetArgs {
    /// The repository: `.`, a path, or a Git URL.
    repo: String,
    /// A path relative to the repository's root: a dataset, a path inside one, or a folder holding datasets.
    path: String,
    /// The Git revision (branch, tag, commit) to read (default: the repository's HEAD).
    #[arg(long, value_name = "REV")]
    rev: Option<String>,
    /// Where to write (default: the last part of PATH, in the current folder).
    #[arg(short, long, value_name = "OUT")]
    out: Option<PathBuf>,
    /// Print the result as JSON: `source`, `rev`, `commit`, `out`, `files`, `bytes`, `fetched` (the transfer,
    /// or null).
    #[arg(long)]
    json: bool,
}

/// Bring a dataset of another repository into this one, recording where it came from.
///
/// Like `dv get`, and the dataset becomes one of this repository: its pointer file (staged) records the source
/// (its URL without credentials, the revision asked for, the commit it resolved to, the path). `dv update`
/// moves it to a newer commit; `dv status` says when one is available (as last fetched; `--remote` asks
/// now); `dv pull` fetches it from this project's remote if `dv push --include-imports` put it there, else
/// from its source's remote.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The repository: a path or a Git URL.
    repo: String,
    /// A path relative to the repository's root: a dataset, or a path inside one.
    path: String,
    /// The Git revision (branch, tag, commit) to import; `dv update` follows a branch or tag to its newest
    /// commit (default: the repository's HEAD).
    #[arg(long, value_name = "REV")]
    rev: Option<String>,
    /// Where in this repository (default: the last part of PATH, in the current folder); ending in `/`, a
    /// folder to import into under that name.
    #[arg(short, long, value_name = "OUT")]
    out: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Move imported datasets to the newest commit of the revision they follow (or to --rev), showing what
/// changed.
#[derive(clap::Args)]
pub struct UpdateArgs {
    /// Imported datasets (default: every one in the work tree).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Follow this revision from now on instead.
    #[arg(long, value_name = "REV")]
    rev: Option<String>,
    /// Print the result as JSON: a list of reports.
    #[arg(long)]
    json: bool,
}

/// Opens the source `repo_arg` names at `rev` for one command.
fn open(g: &Global, repo_arg: &str, rev: Option<&str>) -> Result<SourceAt> {
    let here = match g.repo() {
        Ok(r) => Some(r),
        Err(dv_core::Error::NotAGitRepo(_) | dv_core::Error::NotInitialized(_)) => None,
        Err(e) => return Err(e),
    };
    registry::open_source(repo_arg, rev, &g.cwd, &g.settings, here)
}

#[derive(serde::Serialize)]
struct Head<'a> {
    source: &'a str,
    rev: Option<&'a str>,
    commit: Option<String>,
}

pub fn ls(g: &Global, args: LsArgs) -> Result<Outcome> {
    let o = open(g, &args.repo, args.rev.as_deref())?;
    let path = repo_path(&args.path)?;
    let (record, git, commit) = (o.record, o.git, o.commit);
    let session = o.repo.open()?;
    let locked = session.lock()?;
    let source = match (&git, &commit) {
        (Some(git), Some(c)) => Source::Rev {
            git,
            commit: c.clone(),
        },
        _ => Source::WorkTree,
    };
    let remote = || registry::remote_of(locked.repo(), &record);
    let p = progress::for_terminal(g.quiet || args.json);
    // Streamed: entries are printed as they are found, so a listing of millions of files never waits for (or
    // holds) the whole list; with --json, the document is written piece by piece in the same shape.
    let head = head(&record, &commit);
    let mut first = true;
    let mut emit = |e: dv_core::ops::ls::Entry| -> Result<()> {
        if args.json {
            if first {
                outln!("{{");
                outln!("  \"source\": {},", to_json(&head.source));
                outln!("  \"rev\": {},", to_json(&head.rev));
                outln!("  \"commit\": {},", to_json(&head.commit));
                out!("  \"entries\": [\n    {}", to_json(&e));
            } else {
                out!(",\n    {}", to_json(&e));
            }
            first = false;
            return Ok(());
        }
        let shown = output::quote_path(&e.path);
        if e.folder {
            outln!(
                "{:>10}  {shown}/  ({} file{})",
                output::human_bytes(e.size),
                e.files,
                if e.files == 1 { "" } else { "s" }
            );
        } else {
            outln!("{:>10}  {shown}", output::human_bytes(e.size));
        }
        Ok(())
    };
    let listing = dv_core::ops::ls::ls(
        &locked,
        &source,
        &path,
        args.recursive,
        &remote,
        &*p,
        &mut emit,
    )?;
    if args.json {
        if first {
            outln!("{{");
            outln!("  \"source\": {},", to_json(&head.source));
            outln!("  \"rev\": {},", to_json(&head.rev));
            outln!("  \"commit\": {},", to_json(&head.commit));
            out!("  \"entries\": [");
        } else {
            out!("\n  ");
        }
        outln!("],");
        outln!("  \"fetched_objects\": {},", listing.fetched_objects);
        outln!("  \"fetched_bytes\": {}", listing.fetched_bytes);
        outln!("}}");
    }
    Ok(Outcome::Success)
}

/// One value as compact JSON (`dv ls --json` streams its document piece by piece).
fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub fn get(g: &Global, args: GetArgs) -> Result<Outcome> {
    let path = repo_path(&args.path)?;
    if path.is_empty() {
        return Err(dv_core::Error::usage(
            "name what to get: a dataset, a path inside one, or a folder holding datasets",
        ));
    }
    let out = match &args.out {
        Some(o) => g.cwd.join(o),
        None => g.cwd.join(dv_core::paths::split(&path).1),
    };
    let parent = out
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| g.cwd.clone());
    if !parent.is_dir() {
        return Err(dv_core::Error::usage(format!(
            "{}: the folder to write into does not exist",
            parent.display()
        )));
    }
    if std::fs::symlink_metadata(&out).is_ok() {
        return Err(dv_core::Error::usage(format!(
            "{} exists: dv get writes a new file or folder (remove it, or name another with -o)",
            out.display()
        )));
    }
    let o = open(g, &args.repo, args.rev.as_deref())?;
    let (record, git, commit) = (o.record, o.git, o.commit);
    // What a killed `dv get` left here goes; this one works in a temporary folder beside OUT, which holds the
    // cache too when the user has none of their own (so nothing is left behind).
    dv_core::ops::get::TempBeside::clean_leftovers(&parent);
    let tmp = dv_core::ops::get::TempBeside::new(&out)?;
    let session_repo = if o.kept {
        o.repo
    } else {
        registry::with_cache(o.repo, &tmp.path().join("cache"))
    };
    let session = session_repo.open()?;
    let locked = session.lock()?;
    let source = match (&git, &commit) {
        (Some(git), Some(c)) => Source::Rev {
            git,
            commit: c.clone(),
        },
        _ => Source::WorkTree,
    };
    let remote = || registry::remote_of(locked.repo(), &record);
    let p = progress::for_terminal(g.quiet || args.json);
    let report = dv_core::ops::get::get(&locked, &source, &path, &out, &tmp, &remote, &*p)?;
    drop(locked);
    drop(session);
    drop(tmp);
    if args.json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            head: Head<'a>,
            #[serde(flatten)]
            report: &'a dv_core::ops::get::GetReport,
        }
        output::print_json(&Out {
            head: head(&record, &commit),
            report: &report,
        })?;
    } else {
        output::status_line(
            g.quiet,
            &format!(
                "Wrote {} ({} files, {})",
                report.out.display(),
                report.files,
                output::human_bytes(report.bytes)
            ),
        );
    }
    Ok(Outcome::Success)
}

fn head<'a>(record: &'a str, commit: &'a Option<dv_core::git::Commit>) -> Head<'a> {
    Head {
        source: record,
        rev: commit.as_ref().map(|c| c.rev.as_str()),
        commit: commit.as_ref().map(|c| c.id.to_string()),
    }
}

/// A repository path as typed: '/'-separated, relative to the root; `.` and `""` are the root.
fn repo_path(p: &str) -> Result<String> {
    let p = p.trim_end_matches('/');
    if p.is_empty() || p == "." {
        return Ok(String::new());
    }
    match dv_core::paths::repo_path_problem(p) {
        None => Ok(p.to_string()),
        Some(why) => Err(dv_core::Error::usage(format!("{p:?}: {why}"))),
    }
}

pub fn import(g: &Global, args: ImportArgs) -> Result<Outcome> {
    let path = repo_path(&args.path)?;
    if path.is_empty() {
        return Err(dv_core::Error::usage(
            "name what to import: a dataset, or a path inside one",
        ));
    }
    let session = g.open()?;
    let repo = session.repo();
    let name = PathBuf::from(dv_core::paths::split(&path).1);
    let out = match &args.out {
        // `-o folder/`: into that folder, under the name it has in the source.
        Some(o) if o.as_os_str().as_encoded_bytes().ends_with(b"/") => {
            super::repo_paths(repo, &g.cwd, &[o.join(&name)])?.remove(0)
        }
        Some(o) => super::repo_paths(repo, &g.cwd, std::slice::from_ref(o))?.remove(0),
        None => super::repo_paths(repo, &g.cwd, &[name])?.remove(0),
    };
    let location = Location::parse(&args.repo, &g.cwd, Some(&repo.root))?;
    if location == Location::Here {
        return Err(dv_core::Error::usage(
            "a dataset of this repository is here already: import from another repository",
        ));
    }
    let src = registry::open(&location, args.rev.as_deref(), &g.settings, Some(repo))?;
    let locked = session.lock()?;
    let p = progress::for_terminal(g.quiet || args.json);
    let report =
        dv_core::ops::import::import(&locked, &src, args.rev.as_deref(), &path, &out, true, &*p)?;
    show_import(g, args.json, "Imported", &report)?;
    Ok(Outcome::Success)
}

pub fn update(g: &Global, args: UpdateArgs) -> Result<Outcome> {
    let session = g.open()?;
    let repo = session.repo();
    let paths = super::repo_paths(repo, &g.cwd, &args.paths)?;
    let targets = dv_core::ops::datasets::resolve_targets(repo, &Source::WorkTree, &paths)?;
    let imports: Vec<_> = targets
        .into_iter()
        .filter(|t| {
            let import = t.dataset.pointer.source.is_some();
            if !import && t.named {
                errln!(
                    "warning: '{}' was not imported: nothing to update",
                    output::quote_path(&t.dataset.path)
                );
            }
            import
        })
        .collect();
    if imports.is_empty() && !paths.is_empty() {
        return Err(dv_core::Error::usage(
            "none of the paths named is an imported dataset",
        ));
    }
    let locked = session.lock()?;
    let p = progress::for_terminal(g.quiet || args.json);
    let mut reports = Vec::new();
    for t in &imports {
        let src = t.dataset.pointer.source.as_ref().expect("filtered");
        let rev = args.rev.as_deref().or(src.rev.as_deref());
        let location = Location::parse(&src.url, &repo.root, None)?;
        let opened = registry::open(&location, rev, &g.settings, Some(repo))?;
        let report = dv_core::ops::import::update(&locked, &opened, rev, &t.dataset, true, &*p)?;
        if !args.json {
            show_import(g, false, "Updated", &report)?;
        }
        reports.push(report);
    }
    if args.json {
        output::print_json(&reports)?;
    } else if reports.is_empty() {
        output::status_line(g.quiet, "No imported datasets.");
    }
    Ok(Outcome::Success)
}

fn show_import(
    g: &Global,
    json: bool,
    verb: &str,
    r: &dv_core::ops::import::ImportReport,
) -> Result<()> {
    if json {
        return output::print_json(r);
    }
    let short = &r.source.commit[..12.min(r.source.commit.len())];
    let what = match (&r.previous_commit, r.changed) {
        (Some(old), false) if *old == r.source.commit => "already up to date".to_string(),
        (Some(_), false) => format!("now at {short}, data unchanged"),
        _ => format!("at {short}"),
    };
    output::status_line(
        g.quiet,
        &format!(
            "{verb} '{}' from {} {} ({what})",
            output::quote_path(&r.path),
            r.source.url,
            output::quote_path(&r.source.path),
        ),
    );
    if let Some(s) = &r.summary {
        outln!("{}", output::summary_text(s));
        for f in &r.files {
            outln!(
                "  {:<9} {}",
                format!("{:?}", f.change).to_lowercase(),
                output::quote_path(&f.path)
            );
        }
    }
    if let Some(rows) = &r.rows {
        outln!(
            "  rows: {} added, {} deleted, {} modified",
            rows.rows_added,
            rows.rows_deleted,
            rows.rows_modified
        );
    }
    Ok(())
}
