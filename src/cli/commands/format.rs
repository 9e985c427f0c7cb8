use super::super::{Global, Outcome, output};
use dv_core::Result;

/// Show or upgrade the repository format (`core.format` in .dv/config.toml).
///
/// Format 2 stores large folders (over 256 entries) and large files (over 1,024 chunks, about 80 MiB) as trees
/// of small nodes, so an edit writes only a few small objects, whatever the size of the folder or file.
/// Everything format 1 wrote stays readable; each dataset moves to format 2 when its data changes and is added
/// again. Older dv versions refuse a format-2 repository with a clear error: upgrade every clone's dv first.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Print the result as JSON: `from`, `to`, `changed`, `split`.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Move the repository to the newest format (or to --to), rewriting .dv/config.toml (commit it).
    Upgrade {
        /// The format to move to (default: the newest this dv writes).
        #[arg(long, value_name = "N")]
        to: Option<u64>,
    },
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let mut repo = g.repo()?;
    let report = match args.command {
        None => dv_core::ops::format::show(&repo),
        Some(Sub::Upgrade { to }) => dv_core::ops::format::upgrade(&mut repo, to)?,
    };
    if args.json {
        output::print_json(&report)?;
    } else if report.changed {
        output::status_line(
            g.quiet,
            &format!(
                "Repository format {} -> {}. Commit .dv/config.toml with Git; every clone needs a dv that \
                 reads format {}.",
                report.from, report.to, report.to
            ),
        );
    } else {
        output::status_line(
            g.quiet,
            &format!(
                "Repository format {}{}.",
                report.to,
                if report.split {
                    " (large folders and files split into small nodes)"
                } else {
                    " (`dv format upgrade` moves it to the newest)"
                }
            ),
        );
    }
    Ok(Outcome::Success)
}
