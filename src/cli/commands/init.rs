use super::super::{Global, Outcome, output};
use dv_core::Result;
use dv_core::repo::Repo;

/// Create the dv repository (.dv/) in the current Git work tree. Safe to run again.
#[derive(clap::Args)]
pub struct Args {
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let (repo, created) = Repo::init_with(&g.cwd, &g.settings)?;
    let s = repo.open()?;
    let repo = s.repo();
    let dv_dir = repo.dv_dir();
    super::warn_sparse_checkout(&s);
    // The merge driver for pointer files (as `dv install` registers it); a clone without Git's command line
    // only lacks that, so init goes on, saying why.
    let driver = dv_core::git::GitRepo::open(&repo.root).and_then(|git| {
        let exe = std::env::current_exe().map_err(|e| dv_core::Error::io("dv", e))?;
        dv_core::ops::hooks::install_merge_driver(repo, &git, &exe, false)
    });
    let merge_driver = match driver {
        Ok(_) => true,
        Err(e) => {
            output::status_line(
                g.quiet,
                &format!(
                    "warning: dv's merge driver for pointer files is not registered ({e}); `dv install` registers it"
                ),
            );
            false
        }
    };
    if args.json {
        output::print_json(&serde_json::json!({
            "root": repo.root,
            "dv_dir": dv_dir,
            "created": created,
            "merge_driver": merge_driver,
        }))?;
    } else if created {
        output::status_line(
            g.quiet,
            &format!(
                "Initialized dv in {}\nCommit .dv/config.toml and .dv/.gitignore with Git.",
                dv_dir.display()
            ),
        );
    } else {
        output::status_line(
            g.quiet,
            &format!("dv is already initialized in {}", dv_dir.display()),
        );
    }
    Ok(Outcome::Success)
}
