use std::path::PathBuf;

use super::super::{Global, Outcome, html, output, progress};
use dv_core::ops::datasets::Source;
use dv_core::ops::run::{ChildOutput, Direction, ReproAction, RunOptions, RunSpec};
use dv_core::{Error, Result};

/// Run a command as a recorded step: its inputs, parameters and outputs are versioned with it.
///
/// The command runs in the current folder (directly, not through a shell: use `-- sh -c '…'` for pipes).
/// When it succeeds, dv adds the outputs and writes `.dv/steps/NAME.toml` with the command, the ids of the
/// inputs and outputs, the parameter values, the Git commit, dv's version, the platform, the exit status and
/// the duration. A command that fails, or does not write every output, records nothing and adds nothing.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The step's name (letters, digits, '_', '-', '.'); running a step of that name again redefines it.
    #[arg(short = 'n', long, value_name = "NAME")]
    name: String,
    /// A file or folder the command reads (data tracked by dv, code tracked by Git, anything). Repeatable.
    #[arg(short = 'd', long = "dep", value_name = "PATH")]
    deps: Vec<PathBuf>,
    /// A parameter the command reads, as FILE:KEY with a dotted key into a TOML, YAML (.yaml, .yml) or JSON (.json) file. Repeatable.
    #[arg(short = 'p', long = "param", value_name = "FILE:KEY")]
    params: Vec<String>,
    /// A file or folder the command writes; dv adds it when the command succeeds. Repeatable.
    #[arg(short = 'o', long = "out", value_name = "PATH", required = true)]
    outs: Vec<PathBuf>,
    /// Do not stage the step file, pointer files and .gitignore files in Git's index.
    #[arg(long)]
    no_stage: bool,
    /// Print the recorded step as JSON (the command's own output goes to standard error).
    #[arg(long)]
    json: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub fn run(g: &Global, args: RunArgs) -> Result<Outcome> {
    let session = g.open()?;
    let repo = session.repo();
    let deps = super::repo_paths(repo, &g.cwd, &args.deps)?;
    let outs = super::repo_paths(repo, &g.cwd, &args.outs)?;
    let mut params = Vec::new();
    for p in &args.params {
        let (file, key) = p.rsplit_once(':').ok_or_else(|| {
            Error::usage(format!(
                "--param {p:?}: a parameter is FILE:KEY, for example params.toml:train.lr"
            ))
        })?;
        let file = dv_core::paths::to_repo_path(&repo.root, &g.cwd, std::path::Path::new(file))?;
        params.push((file, key.to_string()));
    }
    let workdir = dv_core::paths::to_repo_path(&repo.root, &g.cwd, std::path::Path::new("."))?;
    let progress = progress::for_terminal(g.quiet);
    let stage = repo.config.stage && !args.no_stage;
    let spec = RunSpec {
        name: args.name,
        command: args.command,
        workdir,
        deps,
        params,
        outs,
    };
    let opts = RunOptions {
        stage,
        child_output: if args.json {
            ChildOutput::Stderr
        } else {
            ChildOutput::Inherit
        },
        progress: progress.as_ref(),
    };
    let done = dv_core::ops::run::run(&session, spec, &opts)?;
    if args.json {
        output::print_json(&done)?;
        return Ok(Outcome::Success);
    }
    let ms = done.step.run.as_ref().map_or(0, |r| r.duration_ms);
    output::status_line(
        g.quiet,
        &format!(
            "Recorded step '{}' in {} ({:.1} s); outputs: {}.",
            done.step.name,
            done.file,
            ms as f64 / 1000.0,
            done.step
                .outs
                .iter()
                .map(|o| o.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    Ok(Outcome::Success)
}

/// Run again the steps whose inputs, parameters or command changed, in dependency order.
///
/// A step is stale when an input's content, a parameter's value or its command differs from what its step file
/// records, or when an output is missing or is not what the step made. Stale steps run in an order where each
/// comes after the steps it reads from, so a change flows down the pipeline; up-to-date steps are skipped.
/// With `--check`, the step that wrote OUT runs again in a temporary folder holding only its recorded inputs,
/// and dv reports whether it reproduces its recorded outputs bit for bit (exit status 1 if not).
#[derive(clap::Args)]
pub struct ReproArgs {
    /// Outputs to bring up to date (with the steps they depend on); all steps when none is given.
    #[arg(value_name = "OUT")]
    outs: Vec<PathBuf>,
    /// Run the steps even when they are up to date.
    #[arg(short, long, conflicts_with = "check")]
    force: bool,
    /// Say which steps would run, and why, without running them.
    #[arg(long, conflicts_with = "check")]
    dry_run: bool,
    /// Re-run the step that wrote OUT in a temporary folder and compare its outputs with the recorded ones.
    #[arg(long, value_name = "OUT")]
    check: Option<PathBuf>,
    /// Do not stage the step files, pointer files and .gitignore files in Git's index.
    #[arg(long)]
    no_stage: bool,
    /// Print the result as JSON (the commands' own output goes to standard error).
    #[arg(long)]
    json: bool,
}

pub fn repro(g: &Global, args: ReproArgs) -> Result<Outcome> {
    let session = g.open()?;
    let repo = session.repo();
    let progress = progress::for_terminal(g.quiet);
    let opts = RunOptions {
        stage: repo.config.stage && !args.no_stage,
        child_output: if args.json {
            ChildOutput::Stderr
        } else {
            ChildOutput::Inherit
        },
        progress: progress.as_ref(),
    };
    if let Some(out) = &args.check {
        if !args.outs.is_empty() {
            return Err(Error::usage(format!(
                "--check takes one output; give no other (not '{}')",
                args.outs[0].display()
            )));
        }
        let out = dv_core::paths::to_repo_path(&repo.root, &g.cwd, out)?;
        let report = dv_core::ops::run::check(&session, &out, &opts)?;
        if args.json {
            output::print_json(&report)?;
        } else {
            if let Some(f) = &report.failure {
                outln!("step '{}' does not reproduce: {f}", report.step);
            }
            for o in &report.outs {
                let short = |n: &Option<dv_core::steps::NodeRecord>| {
                    n.map_or("(missing)".to_string(), |n| {
                        n.id.to_string()[..12].to_string()
                    })
                };
                if o.same {
                    outln!(
                        "{}: reproduced bit for bit ({})",
                        o.path,
                        short(&o.recorded)
                    );
                } else {
                    outln!(
                        "{}: differs (recorded {}, now {})",
                        o.path,
                        short(&o.recorded),
                        short(&o.reproduced)
                    );
                }
            }
            if report.reproduces {
                outln!("step '{}' reproduces its outputs.", report.step);
            }
        }
        return Ok(if report.reproduces {
            Outcome::Success
        } else {
            Outcome::Differences
        });
    }
    let outs = super::repo_paths(repo, &g.cwd, &args.outs)?;
    let report = dv_core::ops::run::repro(
        &session,
        &outs,
        &dv_core::ops::run::ReproOptions {
            force: args.force,
            dry_run: args.dry_run,
        },
        &opts,
    )?;
    if args.json {
        output::print_json(&report)?;
        return Ok(Outcome::Success);
    }
    if report.steps.is_empty() {
        output::status_line(g.quiet, "No steps recorded yet: record one with `dv run`.");
    }
    for s in &report.steps {
        match s.action {
            ReproAction::UpToDate => outln!("{}: up to date", s.name),
            ReproAction::WouldRun => outln!("{}: would run ({})", s.name, s.reasons.join("; ")),
            ReproAction::Ran => outln!(
                "{}: ran in {:.1} s ({})",
                s.name,
                s.duration_ms.unwrap_or(0) as f64 / 1000.0,
                s.reasons.join("; ")
            ),
        }
    }
    Ok(Outcome::Success)
}

/// Show how a path was made and what is made from it, through the steps `dv run` recorded.
///
/// Upstream: the step that wrote PATH, its command, inputs and parameters, and so on up to data no step wrote.
/// Downstream: the steps that read PATH and what they write, and so on. Both by default.
#[derive(clap::Args)]
pub struct LineageArgs {
    /// A file or folder (an output, an input, or inside one).
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// Read the steps recorded at this revision instead of the work tree's.
    #[arg(long, value_name = "REV")]
    rev: Option<String>,
    /// Only what PATH was made from.
    #[arg(long, conflicts_with = "downstream")]
    upstream: bool,
    /// Only what is made from PATH.
    #[arg(long)]
    downstream: bool,
    /// Output format: text, json, dot (Graphviz), svg (the graph as a picture) or html (a self-contained page
    /// with the picture and each step's command, inputs and outputs).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Same as --format json.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Dot,
    Svg,
    Html,
}

pub fn lineage(g: &Global, args: LineageArgs) -> Result<Outcome> {
    let repo = g.repo()?;
    let path = dv_core::paths::to_repo_path(&repo.root, &g.cwd, &args.path)?;
    let steps = match &args.rev {
        None => dv_core::ops::run::load_steps(&repo, &Source::WorkTree)?,
        Some(rev) => {
            let git = dv_core::git::GitRepo::open(&repo.root)?;
            let commit = git.resolve(rev)?;
            dv_core::ops::run::load_steps(&repo, &Source::Rev { git: &git, commit })?
        }
    };
    let direction = match (args.upstream, args.downstream) {
        (true, _) => Direction::Upstream,
        (_, true) => Direction::Downstream,
        _ => Direction::Both,
    };
    let l = dv_core::ops::run::lineage(&steps, &path, direction)?;
    let format = if args.json { Format::Json } else { args.format };
    match format {
        Format::Json => output::print_json(&l)?,
        Format::Dot => output::print_text(&lineage_dot(&l)),
        Format::Svg => output::print_text(&html::lineage::svg(&l)),
        Format::Html => output::print_text(&html::lineage::html(&l)),
        Format::Text => {
            if l.steps.is_empty() {
                output::status_line(
                    g.quiet,
                    &format!("No recorded step reads or writes '{}'.", l.path),
                );
            }
            output::print_text(&lineage_text(&l));
        }
    }
    Ok(Outcome::Success)
}

fn node_text(n: &Option<dv_core::steps::NodeRecord>) -> String {
    match n {
        Some(n) => format!(
            " ({} {}, {})",
            n.kind,
            &n.id.to_string()[..12],
            output::human_bytes(n.size)
        ),
        None => String::new(),
    }
}

fn lineage_text(l: &dv_core::ops::run::Lineage) -> String {
    let mut s = String::new();
    for step in &l.steps {
        s.push_str(&format!(
            "step {}: {}\n",
            step.name,
            dv_core::ops::run::shell_words(&step.command)
        ));
        if !step.workdir.is_empty() {
            s.push_str(&format!("    in {}/\n", step.workdir));
        }
        for d in &step.deps {
            s.push_str(&format!("    <- {}{}\n", d.path, node_text(&d.node)));
        }
        for p in &step.params {
            let v = p
                .value
                .as_ref()
                .map_or("(not recorded)".into(), |v| v.to_string());
            s.push_str(&format!("    <- {} = {v}\n", p.label()));
        }
        for o in &step.outs {
            s.push_str(&format!("    -> {}{}\n", o.path, node_text(&o.node)));
        }
        match &step.run {
            Some(r) => s.push_str(&format!(
                "    ran at commit {} with dv {} on {}: exit status {}, {:.1} s\n",
                r.git_commit
                    .as_deref()
                    .map_or("(none)", |c| &c[..c.len().min(12)]),
                r.dv_version,
                r.platform,
                r.exit_status,
                r.duration_ms as f64 / 1000.0
            )),
            None => s.push_str("    has not run\n"),
        }
    }
    s
}

fn lineage_dot(l: &dv_core::ops::run::Lineage) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut s = String::from("digraph lineage {\n    rankdir=LR;\n");
    for step in &l.steps {
        s.push_str(&format!(
            "    {} [shape=box, label={}];\n",
            q(&format!("step:{}", step.name)),
            q(&step.name)
        ));
    }
    let mut nodes = std::collections::BTreeSet::new();
    for e in &l.edges {
        for n in [&e.from, &e.to] {
            if !n.starts_with("step:") {
                nodes.insert(n.clone());
            }
        }
    }
    for n in &nodes {
        let style = if *n == l.path { ", style=bold" } else { "" };
        s.push_str(&format!("    {} [shape=note{style}];\n", q(n)));
    }
    for e in &l.edges {
        s.push_str(&format!("    {} -> {};\n", q(&e.from), q(&e.to)));
    }
    s.push_str("}\n");
    s
}
