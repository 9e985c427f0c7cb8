use std::path::PathBuf;

use super::super::{Global, Outcome, output, progress};
use dv_core::Result;
use dv_core::ops::fsck::FsckReport;
use dv_core::ops::scope::{Scope, targets_in_scope_noting};

/// Verify the cache (or a remote): every pack against its index, every object by its hash, and every
/// pointer in scope reaching only objects that are present and sound.
///
/// Exits 1 when anything is damaged or missing. With --repair, damaged and missing objects are fetched
/// again from a remote that has good copies, and damaged packs are rewritten without them; with --remote NAME
/// --repair, the remote is repaired from the cache's good copies instead.
#[derive(clap::Args)]
pub struct Args {
    /// Datasets to check the reach of (default: every dataset in scope).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Verify this remote's packs instead of the cache (no pointers are walked); with --repair, upload good
    /// copies from the cache of what is damaged or missing there.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["paths", "rev", "all_branches", "all_commits"])]
    remote: Option<String>,
    /// Fetch damaged or missing objects again from a remote (the default one, or NAME).
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    repair: Option<String>,
    /// Check the pointer files at this revision instead of the work tree's.
    #[arg(long, value_name = "REV", conflicts_with_all = ["all_branches", "all_commits"])]
    rev: Option<String>,
    /// Also check the pointer files of every branch, local and remote-tracking.
    #[arg(long, conflicts_with = "all_commits")]
    all_branches: bool,
    /// Also check the pointer files of every commit.
    #[arg(long)]
    all_commits: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let repo = g.repo()?;
    let p = progress::for_terminal(g.quiet);
    let report = if let Some(name) = &args.remote {
        if let Some(other) = args
            .repair
            .as_deref()
            .filter(|r| !r.is_empty() && r != name)
        {
            return Err(dv_core::Error::usage(format!(
                "--repair: with --remote {name}, --repair repairs that remote; drop the name {other:?}"
            )));
        }
        // --repair uploads packs and indexes to the remote.
        let access = if args.repair.is_some() {
            dv_core::remote::Access::Change
        } else {
            dv_core::remote::Access::Read
        };
        let remote = super::open_remote(g, &repo, Some(name.as_str()), access)?;
        let report = dv_core::ops::fsck::fsck_remote(&remote, p.as_ref())?;
        // A pack without an index is no damage, but repair indexes it again when it is whole.
        if args.repair.is_some() && (!report.is_clean() || report.unindexed_packs > 0) {
            let s = repo.open()?;
            dv_core::ops::fsck::repair_remote(&s.lock()?, &remote, p.as_ref())?
        } else {
            report
        }
    } else {
        let paths = super::repo_paths(&repo, &g.cwd, &args.paths)?;
        let scope = Scope::from_flags(args.rev.clone(), args.all_branches, args.all_commits);
        let mut skipped = Vec::new();
        let s = repo.open()?;
        let targets = targets_in_scope_noting(&s, &scope, &paths, &mut skipped)?;
        output::warn_not_pointers(&skipped);
        let locked = args.repair.as_ref().map(|_| s.lock()).transpose()?;
        let mut report = dv_core::ops::fsck::fsck_cache(&s, &targets, p.as_ref())?;
        if let (Some(name), Some(locked)) = (&args.repair, &locked)
            && !report.is_clean()
        {
            // Without a remote, what the cache can fix alone (indexes rebuilt, damaged packs rewritten) is done.
            let remote = match super::open_remote(
                g,
                s.repo(),
                Some(name.as_str()).filter(|n| !n.is_empty()),
                dv_core::remote::Access::Read,
            ) {
                Err(dv_core::Error::NoRemote) if name.is_empty() => None,
                r => Some(r?),
            };
            report =
                dv_core::ops::fsck::repair(locked, remote.as_ref(), &targets, report, p.as_ref())?;
        }
        // A pointer file Git tracks inside a dataset's folder is a problem (warned about above).
        report.pointer_problems = skipped.into_iter().filter(|s| s.is_problem()).collect();
        report
    };
    if args.json {
        output::print_json(&report)?;
    } else {
        print_report(g, &report, args.remote.as_deref());
    }
    Ok(if report.is_clean() {
        Outcome::Success
    } else {
        Outcome::Differences
    })
}

/// `remote`: the remote `--remote` checked, whose report walks no pointers (its `datasets_checked` is 0, and its
/// `problems` are objects the remote's own trees and manifests name but the remote lacks).
fn print_report(g: &Global, r: &FsckReport, remote: Option<&str>) {
    let mut text = String::new();
    for p in &r.damaged_packs {
        text.push_str(&format!("damaged pack {}: {}\n", p.pack, p.message));
    }
    for d in &r.damaged {
        text.push_str(&format!(
            "damaged object {} in pack {}: {}\n",
            d.object, d.pack, d.message
        ));
    }
    for p in &r.problems {
        text.push_str(&format!(
            "{} object {} under '{}': {}\n",
            p.problem, p.object, p.dataset, p.message
        ));
    }
    for u in &r.damaged_use_records {
        text.push_str(&format!("damaged use record {}: {}\n", u.record, u.message));
    }
    for l in &r.lost_packs {
        text.push_str(&format!("lost pack {}: {}\n", l.pack, l.message));
    }
    output::print_text(&text);
    let mut summary = format!(
        "Checked {} ({} pack(s), {} object(s), {})",
        r.checked,
        r.packs,
        r.objects,
        output::human_bytes(r.bytes),
    );
    match remote {
        None => summary.push_str(&format!(" and {} dataset(s): ", r.datasets_checked)),
        Some(name) => summary.push_str(&format!(
            ", not the pointer files (`dv status --remote {name}` says which versions it lacks): "
        )),
    }
    if r.is_clean() {
        summary.push_str("no problems");
    } else if remote.is_some() {
        summary.push_str(&format!(
            "{} damaged pack(s), {} damaged object(s), {} object(s) its trees and manifests name missing",
            r.damaged_packs.len(),
            r.damaged.len(),
            r.problems.len(),
        ));
        if !r.lost_packs.is_empty() {
            summary.push_str(&format!(
                ", {} object(s) lost with their pack files",
                r.lost_packs.iter().map(|l| l.objects).sum::<u64>()
            ));
        }
    } else {
        summary.push_str(&format!(
            "{} damaged pack(s), {} damaged object(s), {} problem(s) under pointers, {} pointer file \
             problem(s)",
            r.damaged_packs.len(),
            r.damaged.len(),
            r.problems.len(),
            r.pointer_problems.len()
        ));
    }
    if !r.damaged_use_records.is_empty() {
        summary.push_str(&format!(
            ", {} damaged use record(s)",
            r.damaged_use_records.len()
        ));
    }
    if r.repaired > 0 {
        summary.push_str(&format!(
            "; {} repair(s) made ({})",
            r.repaired,
            if remote.is_some() {
                "indexes rebuilt or removed, objects uploaded again"
            } else {
                "indexes rebuilt, objects fetched again"
            }
        ));
    }
    if r.unindexed_packs > 0 {
        summary.push_str(&format!(
            "; {} pack file(s) without an index (left by an interrupted write, or their index was lost: {})",
            r.unindexed_packs,
            match remote {
                Some(name) => format!(
                    "`dv fsck --remote {name} --repair` indexes whole ones again; `dv gc --remote {name}` \
                     removes them after the grace period"
                ),
                None => "`dv gc` removes them".to_string(),
            }
        ));
    }
    summary.push('.');
    output::status_line(g.quiet, &summary);
}
