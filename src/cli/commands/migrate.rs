use super::super::{Global, Outcome, output};
use dv_core::Result;
use dv_core::migrate::MigrateReport;

/// Move a DVC or git-lfs repository's data to dv, in place (run `dv init` first).
///
/// The data each version of the other tool names is read from its local cache (else its remote), checked
/// against its recorded hash, and stored in dv's cache; pointer files are written beside it, as `dv add`
/// writes them. History is not rewritten. See docs/migrating.md.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Turn DVC-tracked outputs (`.dvc` files, `dvc.lock` outs) into datasets and `dvc.yaml` stages into steps.
    ///
    /// Objects come from `.dvc/cache` (DVC 3 and DVC 2 layouts), else from the default remote of
    /// `.dvc/config` (a folder or S3; `.dvc/config.local` honoured); each MD5 is checked before it is
    /// stored, and an object that does not match is reported and taken from the remote instead. DVC's files
    /// stay unless --remove-dvc.
    Dvc {
        /// Say what would be migrated (objects are still read and checked), writing nothing.
        #[arg(long)]
        dry_run: bool,
        /// Remove DVC's files afterwards (`.dvc` files, `dvc.yaml`, `dvc.lock`, `.dvcignore`, `.dvc/` with its
        /// cache) and stage their removal.
        #[arg(long)]
        remove_dvc: bool,
        /// Also make every commit's DVC-tracked data restorable (`dv checkout --rev OLD`): its objects are
        /// stored and `.dv/dvc-map` (committed) maps DVC's ids to dv's. History is not rewritten.
        #[arg(short = 'A', long)]
        all_commits: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Turn files tracked by git-lfs (`filter=lfs` in `.gitattributes`) into datasets.
    ///
    /// Each file's object is read from `.git/lfs/objects` (its SHA-256 checked) or, when the work tree holds
    /// the file itself, from there. The files leave Git's index (dv tracks them now, through their pointer
    /// files); where the work tree holds only the LFS pointer text, the data is written there.
    Lfs {
        /// Say what would be migrated, writing nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also remove git-lfs's attributes (`filter=lfs diff=lfs merge=lfs`) from `.gitattributes`, keeping
        /// the other attributes of each line.
        #[arg(long)]
        remove_lfs: bool,
        /// Also make every commit's LFS files restorable (`dv checkout --rev OLD`): the objects
        /// `.git/lfs/objects` holds are stored and `.dv/lfs-map` (committed) maps their SHA-256s to dv's ids.
        #[arg(short = 'A', long)]
        all_commits: bool,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(clap::Args)]
struct Common {
    /// Do not stage what is written in Git's index (also: `core.stage = false`).
    #[arg(long)]
    no_stage: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let s = g.open()?;
    let s = s.lock()?;
    let stage_default = s.repo().config.stage;
    let (report, common, what) = match args.command {
        Sub::Dvc {
            dry_run,
            remove_dvc,
            all_commits,
            common,
        } => {
            let opts = dv_core::migrate::DvcOptions {
                dry_run,
                remove_dvc,
                all_commits,
                stage: stage_default && !common.no_stage,
            };
            let progress = super::super::progress::for_terminal(g.quiet);
            (
                dv_core::migrate::migrate_dvc(&s, &opts, progress.as_ref())?,
                common,
                "DVC",
            )
        }
        Sub::Lfs {
            dry_run,
            remove_lfs,
            all_commits,
            common,
        } => {
            let opts = dv_core::migrate::lfs::LfsOptions {
                dry_run,
                remove_lfs,
                all_commits,
                stage: stage_default && !common.no_stage,
            };
            (
                dv_core::migrate::lfs::migrate_lfs(&s, &opts)?,
                common,
                "git-lfs",
            )
        }
    };
    if common.json {
        output::print_json(&report)?;
    } else {
        print_text(g, &report, what);
    }
    Ok(Outcome::Success)
}

fn print_text(g: &Global, r: &MigrateReport, what: &str) {
    let h = output::human_bytes;
    let q = dv_core::paths::quoted;
    for c in &r.corrupt {
        errln!("warning: {c}");
    }
    // Quiet: only what was not migrated, and the errors.
    let datasets = if g.quiet { &[][..] } else { &r.datasets[..] };
    let steps = if g.quiet { &[][..] } else { &r.steps[..] };
    for d in datasets {
        outln!(
            "{} {}  {} file(s), {}  (from {})",
            if r.dry_run {
                "would migrate"
            } else {
                "migrated"
            },
            q(&d.path),
            d.files,
            h(d.size),
            q(&d.from)
        );
    }
    for st in steps {
        outln!(
            "{} stage {} -> step {} ({})",
            if r.dry_run {
                "would convert"
            } else {
                "converted"
            },
            st.name,
            q(&st.file),
            st.state
        );
        for n in &st.notes {
            outln!("  note: {n}");
        }
    }
    for sk in &r.skipped {
        outln!("not migrated: {}: {}", q(&sk.what), sk.reason);
    }
    if r.commits > 0 && !g.quiet {
        outln!(
            "history: {} commit(s) read, {} object(s) in the {what} map",
            r.commits,
            r.mapped_versions
        );
    }
    for f in r.removed.iter().filter(|_| !g.quiet) {
        outln!("removed {}", q(f));
    }
    let ratio = if r.stored_bytes > 0 {
        format!(
            " ({:.1}x less)",
            r.source_bytes as f64 / r.stored_bytes as f64
        )
    } else {
        String::new()
    };
    output::status_line(
        g.quiet,
        &format!(
            "{} {} dataset(s), {} file(s), {}; {} step(s), {} not migrated. {what} objects read: {} from its \
             cache, {} from its remote ({}); dv's cache {} {} for them{ratio}.",
            if r.dry_run {
                "Would migrate"
            } else {
                "Migrated"
            },
            r.datasets.len(),
            r.files,
            h(r.bytes),
            r.steps.len(),
            r.skipped.len(),
            r.objects_from_cache,
            r.objects_from_remote,
            h(r.source_bytes),
            if r.dry_run { "would add" } else { "added" },
            h(r.stored_bytes),
        ),
    );
    if !r.dry_run && !r.not_staged.is_empty() {
        output::status_line(
            g.quiet,
            &format!("Not staged (git add them): {}", r.not_staged.join(" ")),
        );
    } else if !r.dry_run && !r.datasets.is_empty() {
        output::status_line(
            g.quiet,
            "Commit the staged pointer and step files with Git.",
        );
    }
}
