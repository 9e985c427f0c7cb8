//! `dv completions SHELL` and `dv man`: shell completions and manual pages, made from the same clap definitions
//! as the command line itself, so they never disagree with `--help`.

use std::path::PathBuf;

use clap::CommandFactory;

use crate::cli::{Cli, Outcome};
use dv_core::{Error, Result};

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(clap::Args)]
pub struct ManArgs {
    /// Write dv.1 and a page per command (dv-add.1, dv-remote-add.1, …) into DIR, made if missing, instead of
    /// printing dv.1 on stdout.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Prints the completion script for a shell on stdout. Install it as the shell expects, e.g.
/// `dv completions bash > ~/.local/share/bash-completion/completions/dv`.
pub fn completions(args: CompletionsArgs) -> Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "dv", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(Outcome::Success)
}

/// Prints dv(1), or writes every page into a folder.
pub fn man(g: &crate::cli::Global, args: ManArgs) -> Result<Outcome> {
    match args.dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(|e| Error::io("standard output", e))?;
            out!("{}", String::from_utf8_lossy(&page));
        }
        Some(dir) => {
            let dir = g.cwd.join(dir);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            let mut cmd = Cli::command().disable_help_subcommand(true);
            cmd.build();
            write_pages(&cmd, &dir)?;
            crate::cli::output::status_line(
                g.quiet,
                &format!("Wrote the manual pages into {}.", dir.display()),
            );
        }
    }
    Ok(Outcome::Success)
}

/// Writes the page of `cmd` and of each of its subcommands into `dir`, each whole (through a temporary file) and
/// never through a link: a `dv.1` that is a link to another file is an error, not a way to overwrite that file.
fn write_pages(cmd: &clap::Command, dir: &std::path::Path) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir)?;
    }
    let man = clap_mangen::Man::new(cmd.clone());
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    man.render(&mut page).map_err(|e| Error::io(&path, e))?;
    dv_core::fsutil::write_atomic(&path, &page)
}
