use std::path::PathBuf;

use super::super::{Global, Outcome, output};
use dv_core::Result;
use dv_core::ops::compare::ChangeKind;
use dv_core::ops::datasets::Source;
use dv_core::ops::status::DatasetState;

/// Show tracked paths whose working copy differs from their pointer file.
///
/// Files whose size, times and inode match what dv recorded are not read. Without PATHs, every pointer file
/// in the work tree is checked.
#[derive(clap::Args)]
pub struct Args {
    /// Tracked paths, pointer files, or folders containing them.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Also say what the remote (the default one, or NAME) lacks: what `dv push` would send.
    #[arg(short = 'c', long = "remote", value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    remote: Option<String>,
    /// Exit with status 1 when anything differs or is missing from the cache.
    #[arg(long)]
    exit_code: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let s = g.open()?;
    let repo = s.repo();
    let paths = super::repo_paths(repo, &g.cwd, &args.paths)?;
    super::warn_sparse_checkout(&s);
    let mut skipped = Vec::new();
    let targets = dv_core::ops::datasets::resolve_targets_noting(
        repo,
        &Source::WorkTree,
        &paths,
        &mut skipped,
    )?;
    output::warn_not_pointers(&skipped);
    super::warn_merge_driver(g, repo);
    let mut report = dv_core::ops::status::status(&s, &targets)?;
    report.not_pointers = skipped;
    if paths.is_empty() {
        report.steps = dv_core::ops::run::step_states(&s)?;
    }
    if let Some(name) = &args.remote {
        // A project whose data is all imported may have no remote of its own: its sources are asked below.
        let all_imports =
            !targets.is_empty() && targets.iter().all(|t| t.dataset.pointer.source.is_some());
        match super::open_remote(
            g,
            repo,
            Some(name.as_str()).filter(|n| !n.is_empty()),
            dv_core::remote::Access::Read,
        ) {
            Ok(remote) => {
                let states = dv_core::ops::transfer::remote_state(&s, &remote, &targets)?;
                for (d, st) in report.datasets.iter_mut().zip(states) {
                    d.remote = Some(st);
                }
            }
            Err(dv_core::Error::NoRemote) if all_imports && name.is_empty() => {}
            Err(e) => return Err(e),
        }
        // Imports: their sources, asked now.
        for (d, t) in report.datasets.iter_mut().zip(&targets) {
            if t.dataset.pointer.source.is_none() {
                continue;
            }
            match dv_core::ops::import::import_state(repo, &t.dataset, true) {
                Ok(st) => d.import = st,
                Err(e) => errln!(
                    "warning: cannot ask the source of '{}': {e}",
                    output::quote_path(&d.path)
                ),
            }
        }
    }
    if !args.json {
        for i in &report.ignore {
            outln!("ignore: {} (fix: {})", i.message, i.fix);
        }
    }
    if args.json {
        output::print_json(&report)?;
    } else if report.datasets.is_empty() && report.steps.is_empty() {
        let damaged = report
            .not_pointers
            .iter()
            .filter(|s| s.is_problem())
            .count();
        if damaged > 0 {
            // Not "nothing tracked": the pointer files are there, and none can be read (warnings above).
            let conflicts = report.not_pointers.iter().filter(|s| s.conflict).count();
            let line = if conflicts == damaged {
                format!(
                    "No dataset can be read: {damaged} pointer file(s) are in an unresolved merge conflict \
                     (listed above; settle each with `dv checkout --ours PATH` or --theirs)."
                )
            } else {
                let fix = if conflicts > 0 {
                    "settle a merge conflict with `dv checkout --ours PATH` (or --theirs)"
                } else {
                    "`git checkout -- PATH.dv` brings back a committed one, `git diff` shows what changed"
                };
                format!(
                    "No dataset can be read: {damaged} pointer file(s) are damaged or in conflict (listed \
                     above; {fix})."
                )
            };
            output::status_line(g.quiet, &line);
        } else {
            output::status_line(g.quiet, "No data tracked yet: start with `dv add PATH`.");
        }
    } else {
        for d in &report.datasets {
            let cache = if d.in_cache { "" } else { ", not in cache" };
            let remote = match &d.remote {
                None => String::new(),
                Some(r) if r.pushed => format!(", pushed to '{}'", r.remote),
                Some(r) if r.missing_objects == 0 => {
                    format!(", not on '{}' and not in cache", r.remote)
                }
                Some(r) => format!(
                    ", not pushed to '{}' ({} object(s), {})",
                    r.remote,
                    r.missing_objects,
                    output::human_bytes(r.missing_bytes)
                ),
            };
            // A folder the cache has no tree for was not compared: say so, and what lets status compare it.
            let compare = match (d.not_compared.is_empty(), d.state) {
                (true, _) => "",
                (false, DatasetState::Unknown) => " (run `dv fetch` to compare it)",
                (false, _) => " (run `dv fetch` to compare all of it)",
            };
            let unfinished = if d.unfinished {
                " (a checkout did not finish: `dv checkout` or `dv pull` finishes it)"
            } else {
                ""
            };
            let import = match &d.import {
                Some(i) if i.behind => format!(
                    ", behind its source ({} has {} at {})",
                    i.source.url,
                    i.source.path,
                    i.latest.as_deref().map_or("?", |c| &c[..12.min(c.len())])
                ),
                _ => String::new(),
            };
            outln!(
                "{}: {}{cache}{remote}{compare}{unfinished}{import}",
                d.path,
                d.state
            );
            if d.import.as_ref().is_some_and(|i| i.behind) {
                outln!(
                    "    update:    `dv update {}` brings the newer version",
                    output::quote_path(&d.path)
                );
            }
            // Status writes nothing: a missing ignore line is reported, with what adds it.
            if let Some(i) = &d.ignore {
                outln!("    ignore:    {} (fix: {})", i.message, i.fix);
            }
            if d.state == DatasetState::Deleted {
                continue;
            }
            for c in &d.changes {
                let label = match c.change {
                    ChangeKind::New => "new:",
                    ChangeKind::Modified => "modified:",
                    ChangeKind::Deleted => "deleted:",
                };
                let slash = if c.folder { "/" } else { "" };
                outln!("    {label:<10} {}{slash}", output::quote_path(&c.path));
            }
            for p in &d.not_compared {
                outln!("    {:<10} {}/", "unknown:", output::quote_path(p));
            }
        }
        for s in report.steps.iter().filter(|s| s.is_stale()) {
            outln!("step {}: {}", s.name, s.state);
            for r in &s.reasons {
                outln!("    {r}");
            }
        }
    }
    if args.exit_code && !report.is_clean() {
        return Ok(Outcome::Differences);
    }
    Ok(Outcome::Success)
}
