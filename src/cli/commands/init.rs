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
    if args.json {
        output::print_json(&serde_json::json!({
            "root": repo.root,
            "dv_dir": dv_dir,
            "created": created,
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
