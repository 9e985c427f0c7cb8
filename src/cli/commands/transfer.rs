use std::path::PathBuf;

use super::super::{Global, Outcome, output, progress};
use dv_core::Result;
use dv_core::ops::datasets::Target;
use dv_core::ops::scope::{Scope, targets_in_scope_noting};
use dv_core::ops::transfer::TransferReport;
use dv_core::remote::Remote;

/// Options shared by push, fetch and pull.
#[derive(clap::Args)]
pub struct Common {
    /// The remote (default: the configured default remote).
    #[arg(short, long, value_name = "NAME")]
    remote: Option<String>,
    /// Datasets, pointer files, paths inside datasets, or folders containing pointer files.
    /// Without PATHs, every dataset.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Use the pointer files at this Git revision instead of the work tree's.
    #[arg(long, value_name = "REV")]
    rev: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Wider scopes than one revision, for push and fetch.
#[derive(clap::Args)]
pub struct History {
    /// Also every branch tip, local and remote-tracking (and HEAD), besides the work tree.
    #[arg(long, conflicts_with_all = ["rev", "all_commits"])]
    all_branches: bool,
    /// Also every commit reachable from any reference, besides the work tree.
    #[arg(long, conflicts_with = "rev")]
    all_commits: bool,
}

/// Upload the objects the chosen pointer files reach and the remote lacks, packed.
///
/// Imported datasets (`dv import`) stay on their source's remote unless --include-imports sends them here
/// too, so that this project's remote holds everything it needs.
#[derive(clap::Args)]
pub struct PushArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    history: History,
    /// Also push imported datasets.
    #[arg(long)]
    include_imports: bool,
}

/// Download the objects the chosen pointer files reach and the cache lacks (verified), without checking out.
///
/// An imported dataset comes from this project's remote when it holds it (pushed with --include-imports),
/// else from its source's remote.
#[derive(clap::Args)]
pub struct FetchArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    history: History,
}

/// Fetch, then check out: make the data match the pointer files, getting what is missing from the remote.
///
/// An imported dataset comes from this project's remote when it holds it (pushed with --include-imports),
/// else from its source's remote.
#[derive(clap::Args)]
pub struct PullArgs {
    #[command(flatten)]
    common: Common,
    /// Overwrite or delete local changes that dv has not stored.
    #[arg(short, long)]
    force: bool,
}

struct Ctx {
    s: dv_core::session::Session,
    targets: Vec<Target>,
    /// Files named like pointer files that describe no dataset (warned about).
    skipped: Vec<dv_core::ops::datasets::NotPointer>,
}

fn prepare(
    g: &Global,
    c: &Common,
    history: Option<&History>,
    access: dv_core::remote::Access,
) -> Result<(Ctx, Option<Remote>)> {
    let s = g.open()?;
    let paths = super::repo_paths(s.repo(), &g.cwd, &c.paths)?;
    let scope = Scope::from_flags(
        c.rev.clone(),
        history.is_some_and(|h| h.all_branches),
        history.is_some_and(|h| h.all_commits),
    );
    let mut skipped = Vec::new();
    let targets = targets_in_scope_noting(&s, &scope, &paths, &mut skipped)?;
    super::warn_merge_driver(g, s.repo());
    // A project whose data is all imported needs no remote of its own to fetch it.
    let remote = match super::open_remote(g, s.repo(), c.remote.as_deref(), access) {
        Ok(r) => Some(r),
        Err(dv_core::Error::NoRemote)
            if !access.writes()
                && !targets.is_empty()
                && targets.iter().all(|t| t.dataset.pointer.source.is_some()) =>
        {
            None
        }
        Err(e) => return Err(e),
    };
    output::warn_not_pointers(&skipped);
    Ok((
        Ctx {
            s,
            targets,
            skipped,
        },
        remote,
    ))
}

/// Warnings go to stderr whatever the output format: an unreadable index was skipped, not trusted.
fn warn_unreadable(r: &TransferReport) {
    for bad in &r.unreadable_indexes {
        errln!(
            "warning: skipped the remote's index/{}.idx, which cannot be read ({}); `dv fsck --remote {} \
             --repair` repairs it",
            bad.pack,
            bad.message,
            r.remote
        );
    }
}

/// Fetches the imports among `targets` that the project's remote lacks from their sources, saying so.
fn fetch_imports(
    g: &Global,
    s: &dv_core::session::Locked<'_>,
    remote: Option<&Remote>,
    targets: &[Target],
    p: &dyn dv_core::progress::Progress,
) -> Result<Vec<TransferReport>> {
    let reports = dv_core::ops::transfer::fetch_imports(s, remote, targets, p)?;
    for r in &reports {
        output::status_line(
            g.quiet,
            &format!(
                "Fetched {} object(s), {} of {} from its source's remote ({})",
                r.objects,
                output::human_bytes(r.bytes),
                r.datasets.join(", "),
                r.remote
            ),
        );
    }
    Ok(reports)
}

fn show(g: &Global, json: bool, verb: &str, r: &TransferReport) -> Result<()> {
    warn_unreadable(r);
    if json {
        return output::print_json(r);
    }
    output::status_line(
        g.quiet,
        &format!(
            "{verb} {} object(s), {} in {} pack(s) ({} already there) [{}]",
            r.objects,
            output::human_bytes(r.bytes),
            r.packs,
            r.skipped,
            r.remote
        ),
    );
    Ok(())
}

pub fn push(g: &Global, args: PushArgs) -> Result<Outcome> {
    let (ctx, remote) = prepare(
        g,
        &args.common,
        Some(&args.history),
        dv_core::remote::Access::Write,
    )?;
    let remote = remote.expect("a remote to write to: prepare opens it or fails");
    // Push reads packs that a gc (in this or another work tree sharing the cache) could delete.
    let s = ctx.s.lock()?;
    let p = progress::for_terminal(g.quiet);
    let targets: Vec<Target> = ctx
        .targets
        .into_iter()
        .filter(|t| args.include_imports || t.dataset.pointer.source.is_none())
        .collect();
    let report = dv_core::ops::transfer::push(&s, &remote, &targets, p.as_ref())?;
    show(g, args.common.json, "Pushed", &report)?;
    if let Some(first) = report.incomplete.first() {
        return Err(dv_core::Error::PushIncomplete {
            remote: report.remote.clone(),
            count: report.incomplete.len(),
            path: first.path.clone(),
            missing: first.missing,
        });
    }
    Ok(Outcome::Success)
}

pub fn fetch(g: &Global, args: FetchArgs) -> Result<Outcome> {
    let (ctx, remote) = prepare(
        g,
        &args.common,
        Some(&args.history),
        dv_core::remote::Access::Read,
    )?;
    let s = ctx.s.lock()?;
    let p = progress::for_terminal(g.quiet);
    let from_sources = fetch_imports(g, &s, remote.as_ref(), &ctx.targets, p.as_ref())?;
    let report = match &remote {
        Some(remote) => dv_core::ops::transfer::fetch(&s, remote, &ctx.targets, p.as_ref())?,
        None => TransferReport::default(),
    };
    if args.common.json {
        warn_unreadable(&report);
        if from_sources.is_empty() {
            return output::print_json(&report).map(|()| Outcome::Success);
        }
        let mut value =
            serde_json::to_value(&report).map_err(|e| dv_core::Error::Internal(e.to_string()))?;
        value["imports"] = serde_json::to_value(&from_sources)
            .map_err(|e| dv_core::Error::Internal(e.to_string()))?;
        return output::print_json(&value).map(|()| Outcome::Success);
    }
    if remote.is_some() {
        show(g, false, "Fetched", &report)?;
    }
    Ok(Outcome::Success)
}

pub fn pull(g: &Global, args: PullArgs) -> Result<Outcome> {
    let (ctx, remote) = prepare(g, &args.common, None, dv_core::remote::Access::Read)?;
    dv_core::ops::datasets::refuse_unrestorable(&ctx.skipped)?;
    let s = ctx.s.lock()?;
    // Checked before the fetch, which may write files straight into the work tree.
    let ignores = super::plan_ignores(s.repo(), &ctx.targets)?;
    let p = progress::for_terminal(g.quiet);
    // The ignore lines before any data is written, as `checkout` adds them.
    let mut ignores = Some(ignores);
    let opts = dv_core::ops::checkout::CheckoutOptions { force: args.force };
    let from_sources = fetch_imports(g, &s, remote.as_ref(), &ctx.targets, p.as_ref())?;
    let mut before_writing = || match ignores.take() {
        Some(plan) => super::ignore_datasets(g, s.repo(), plan),
        None => Ok(()),
    };
    let (fetched, checkout) = match &remote {
        Some(remote) => dv_core::ops::pull::pull(
            &s,
            remote,
            &ctx.targets,
            &opts,
            &mut before_writing,
            p.as_ref(),
        )?,
        None => (
            TransferReport::default(),
            dv_core::ops::checkout::checkout(
                &s,
                &ctx.targets,
                &opts,
                &mut before_writing,
                p.as_ref(),
            )?,
        ),
    };
    if args.common.json {
        warn_unreadable(&fetched);
        let mut value = serde_json::json!({ "fetch": fetched, "checkout": checkout });
        if !from_sources.is_empty() {
            value["imports"] = serde_json::to_value(&from_sources)
                .map_err(|e| dv_core::Error::Internal(e.to_string()))?;
        }
        output::print_json(&value)?;
    } else {
        if remote.is_some() {
            show(g, false, "Fetched", &fetched)?;
        }
        output::status_line(
            g.quiet,
            &format!(
                "Checked out {} file(s) ({}), {} deleted.",
                checkout.files_written,
                output::human_bytes(checkout.bytes_written),
                checkout.files_deleted
            ),
        );
    }
    Ok(Outcome::Success)
}
