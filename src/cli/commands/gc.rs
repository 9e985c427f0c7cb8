use super::super::{Global, Outcome, output, progress};
use dv_core::Result;
use dv_core::ops::gc::{GcOptions, GcReport};
use dv_core::ops::scope::{Scope, targets_for_cache};

/// Delete objects that no pointer file in scope reaches, from the cache or from a remote.
///
/// By default the scope is the work tree's pointer files: versions only older commits name are deleted too.
/// Use --all-branches or --all-commits to keep those. What every stash entry (`git stash list`) names is
/// always kept. Packs whose live share falls below --repack-below are
/// rewritten; packs younger than --grace are never touched (a concurrent add or push may still name them).
#[derive(clap::Args)]
pub struct Args {
    /// Keep only what the work tree's pointer files reach (the default).
    #[arg(short, long, conflicts_with_all = ["all_branches", "all_commits"])]
    workspace: bool,
    /// Also keep what every branch's tip reaches, local and remote-tracking (`origin/feature`).
    #[arg(short = 'a', long, conflicts_with = "all_commits")]
    all_branches: bool,
    /// Also keep what every commit reaches.
    #[arg(short = 'A', long)]
    all_commits: bool,
    /// Collect this remote instead of the cache (the trees in scope must be in the cache).
    #[arg(short, long, value_name = "NAME")]
    remote: Option<String>,
    /// Say what would be deleted, and delete nothing.
    #[arg(short = 'n', long)]
    dry_run: bool,
    /// Leave packs younger than this many seconds alone.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    grace: u64,
    /// Rewrite packs whose live bytes are below this share (0 to 1).
    #[arg(long, value_name = "SHARE", default_value_t = 0.5)]
    repack_below: f64,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    if !(0.0..=1.0).contains(&args.repack_below) {
        return Err(dv_core::Error::usage(format!(
            "--repack-below: must be between 0 and 1, not {}",
            args.repack_below
        )));
    }
    let s = g.open()?;
    let scope = Scope::from_flags(None, args.all_branches, args.all_commits);
    let s = s.lock()?;
    // Every work tree sharing the cache keeps what its pointers name (see `targets_for_cache`).
    let mut skipped = Vec::new();
    let (targets, others) = targets_for_cache(&s, &scope, &mut skipped)?;
    output::warn_not_pointers(&skipped);
    // gc cannot tell what a pointer it cannot read keeps.
    dv_core::ops::datasets::refuse_malformed(&skipped)?;
    // Say what the work tree scope leaves to be collected: on a remote (usually shared) and in the cache (where
    // a committed version not yet pushed is the only copy).
    if scope == Scope::Workspace {
        let left = dv_core::ops::scope::versions_only_branches_name(&s, &targets);
        if !left.is_empty() {
            let names = left
                .iter()
                .map(|p| format!("'{}'", output::quote_path(p)))
                .collect::<Vec<_>>()
                .join(", ");
            match args.remote.as_deref() {
                Some(remote) => errln!(
                    "warning: gc --remote keeps only what this work tree's pointer files name; the versions of \
                     {names} that branches (local or remote-tracking) name are not kept, and go once older than \
                     the grace period\n\nhint: on a remote others push to, run `dv gc --remote {remote} \
                     --all-branches` (or --all-commits)"
                ),
                None => errln!(
                    "warning: gc keeps only what the work trees' pointer files name; the versions of {names} \
                     that branches name (the last commit's included) are not kept in the cache, and go once \
                     older than the grace period\n\nhint: `dv push --all-branches` first if the remote lacks \
                     them, or run `dv gc --all-branches` (or --all-commits)"
                ),
            }
        }
    }
    let opts = GcOptions {
        dry_run: args.dry_run,
        repack_below: args.repack_below,
        grace_secs: args.grace,
    };
    let p = progress::for_terminal(g.quiet);
    let mut report = match &args.remote {
        None => dv_core::ops::gc::gc_cache(&s, &targets, &opts, p.as_ref())?,
        Some(name) => {
            // A dry run writes nothing to the remote; a real gc writes a use record and repacked packs.
            let access = if args.dry_run {
                dv_core::remote::Access::Read
            } else {
                dv_core::remote::Access::Change
            };
            let remote = super::open_remote(g, s.repo(), Some(name.as_str()), access)?;
            dv_core::ops::gc::gc_remote(&s, &remote, &targets, &opts, p.as_ref())?
        }
    };
    report.other_work_trees = others.iter().map(|p| p.display().to_string()).collect();
    if args.json {
        output::print_json(&report)?;
    } else {
        print_report(g, &report, &scope);
    }
    Ok(Outcome::Success)
}

fn print_report(g: &Global, r: &GcReport, scope: &Scope) {
    let verb = if r.dry_run { "Would free" } else { "Freed" };
    let mut s = format!(
        "{verb} {} in the {}: {} pack(s) deleted, {} repacked into {}, {} object(s) deleted, {} kept \
         (scope: {}, every stash entry{}).",
        output::human_bytes(r.bytes_freed),
        r.target,
        r.packs_deleted,
        r.packs_repacked,
        r.packs_written,
        r.objects_deleted,
        r.objects_kept,
        scope.describe(),
        match r.other_work_trees.len() {
            0 => String::new(),
            n =>
                format!(", and the work tree pointers of {n} other work tree(s) sharing the cache"),
        }
    );
    if r.packs_in_grace > 0 {
        s.push_str(&format!(
            " {} pack(s) younger than the grace period were left alone.",
            r.packs_in_grace
        ));
    }
    if r.unindexed_removed > 0 {
        s.push_str(&format!(
            " {} pack file(s) without an index removed.",
            r.unindexed_removed
        ));
    }
    output::status_line(g.quiet, &s);
}
