//! The command line: argument parsing, dispatch, output and error rendering. The only module that prints,
//! reads the environment (mapped onto the core's settings in [`env`](mod@env)) or looks at the terminal.

/// `println!` for what a command prints on stdout: through [`output::write_out`], so that a reader that went
/// away (`dv log | head -1`) ends the output quietly instead of a panic. (`println!` itself is refused by
/// clippy.toml.)
macro_rules! outln {
    () => {
        $crate::cli::output::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for stdout: see [`outln`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!($($arg)*))
    };
}

/// `eprintln!` for status lines and warnings on stderr: a closed stderr (`dv status 2>&1 | head -1`) is not
/// an error either.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod commands;
mod env;
mod html;
mod output;
mod progress;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use dv_core::Error;

#[derive(Parser)]
#[command(
    name = "dv",
    version,
    about = "Version large files, folders and tables next to Git",
    long_about = "dv keeps large files, folders and tables out of Git and versions them alongside it: \
                  data is split into content-defined chunks, deduplicated, compressed and packed into a local \
                  cache, and a small pointer file (PATH.dv) goes into Git in its place."
)]
pub struct Cli {
    /// Run as if dv was started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub chdir: Option<PathBuf>,
    /// More log output (repeat for more); the DV_LOG variable filters it too.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print no progress and no status messages.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    Init(commands::init::Args),
    Add(commands::add::Args),
    Status(commands::status::Args),
    Checkout(commands::checkout::Args),
    Log(commands::log::Args),
    Meta(commands::meta::Args),
    Du(commands::du::Args),
    Diff(commands::diff::Args),
    Show(commands::show::Args),
    Remote(commands::remote::Args),
    Config(commands::config::Args),
    Ls(commands::registry::LsArgs),
    Get(commands::registry::GetArgs),
    Import(commands::registry::ImportArgs),
    Migrate(commands::migrate::Args),
    Update(commands::registry::UpdateArgs),
    Format(commands::format::Args),
    Push(commands::transfer::PushArgs),
    Fetch(commands::transfer::FetchArgs),
    Pull(commands::transfer::PullArgs),
    Fsck(commands::fsck::Args),
    Gc(commands::gc::Args),
    Run(commands::run::RunArgs),
    Repro(commands::run::ReproArgs),
    Lineage(commands::run::LineageArgs),
    Install(commands::hooks::InstallArgs),
    Uninstall(commands::hooks::UninstallArgs),
    MergeDriver(commands::merge::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(commands::completions::CompletionsArgs),
    /// Print the manual page dv(1), or write every command's page into a folder.
    Man(commands::completions::ManArgs),
}

/// Settings every command gets.
pub struct Global {
    pub cwd: PathBuf,
    pub quiet: bool,
    /// How a command waits for the cache lock (`DV_LOCK_TIMEOUT`, the command's name, a message on stderr).
    pub lock_wait: dv_core::repo::LockWait,
    /// The core's settings, from the environment ([`dv_core::Settings::from_env`]).
    pub settings: dv_core::Settings,
}

impl Global {
    /// The dv repository of the work tree containing the working folder, set up to wait for its lock as
    /// the user asked and with the settings of the environment.
    pub fn repo(&self) -> dv_core::Result<dv_core::repo::Repo> {
        let mut repo = dv_core::repo::Repo::discover_with(&self.cwd, &self.settings)?;
        repo.lock_wait = self.lock_wait.clone();
        Ok(repo)
    }

    /// [`Global::repo`], its cache opened: a session for the length of the command.
    pub fn open(&self) -> dv_core::Result<dv_core::session::Session> {
        self.repo()?.open()
    }
}

/// How a command waits for the cache lock: `DV_LOCK_TIMEOUT` ([`env::lock_timeout`]), and unless quiet a
/// line on stderr when it has to.
fn lock_wait(command: &str, quiet: bool) -> dv_core::Result<dv_core::repo::LockWait> {
    let timeout = env::lock_timeout()?;
    let on_wait: Option<dv_core::repo::OnLockWait> = if quiet {
        None
    } else {
        Some(std::sync::Arc::new(
            |holder: &dv_core::repo::LockHolder, timeout: std::time::Duration| {
                errln!(
                    "Waiting for another dv process ({holder}) to release the cache lock (up to {:.1} s; \
                 DV_LOCK_TIMEOUT sets how long)...",
                    timeout.as_secs_f64()
                );
            },
        ))
    };
    Ok(dv_core::repo::LockWait {
        timeout,
        command: command.to_string(),
        on_wait,
    })
}

/// How a command ended, if it did not fail.
pub enum Outcome {
    Success,
    /// The command worked and found something the caller asked to be told about with a non-zero exit.
    Differences,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    init_logging(cli.verbose, cli.quiet);
    env::install_faults();
    let result = run(cli).and_then(|outcome| output::flush_out().map(|()| outcome));
    // Every temporary file is renamed or removed by now: a journal of them is no longer needed.
    dv_core::fsutil::close_own_journals();
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Differences) => ExitCode::from(1),
        Err(e) => {
            output::print_error(&e);
            if e.is_internal() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// What clap could not parse. `--help` and `--version` print on stdout and succeed; a usage error (an unknown
/// flag, a missing argument, a bad value) is the user's error and exits 1, as every other user error does (clap
/// would exit 2, which docs/cli.md reserves for internal errors and a damaged cache).
fn usage_error(e: clap::Error) -> ExitCode {
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn run(cli: Cli) -> dv_core::Result<Outcome> {
    let cwd = match &cli.chdir {
        Some(dir) => std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?,
        None => std::env::current_dir()
            .map_err(|e| Error::io(".", e))?
            .canonicalize()
            .map_err(|e| Error::io(".", e))?,
    };
    let command = match &cli.command {
        Command::Init(_) => "init",
        Command::Add(_) => "add",
        Command::Status(_) => "status",
        Command::Checkout(_) => "checkout",
        Command::Log(_) => "log",
        Command::Meta(_) => "meta",
        Command::Du(_) => "du",
        Command::Diff(_) => "diff",
        Command::Show(_) => "show",
        Command::Remote(_) => "remote",
        Command::Config(_) => "config",
        Command::Ls(_) => "ls",
        Command::Get(_) => "get",
        Command::Import(_) => "import",
        Command::Migrate(_) => "migrate",
        Command::Update(_) => "update",
        Command::Format(_) => "format",
        Command::Push(_) => "push",
        Command::Fetch(_) => "fetch",
        Command::Pull(_) => "pull",
        Command::Fsck(_) => "fsck",
        Command::Gc(_) => "gc",
        Command::Run(_) => "run",
        Command::Repro(_) => "repro",
        Command::Lineage(_) => "lineage",
        Command::Install(_) => "install",
        Command::Uninstall(_) => "uninstall",
        Command::MergeDriver(_) => "merge-driver",
        Command::Completions(_) => "completions",
        Command::Man(_) => "man",
    };
    let global = Global {
        cwd,
        quiet: cli.quiet,
        lock_wait: lock_wait(command, cli.quiet)?,
        settings: dv_core::Settings::from_env(),
    };
    match cli.command {
        Command::Init(args) => commands::init::run(&global, args),
        Command::Add(args) => commands::add::run(&global, args),
        Command::Status(args) => commands::status::run(&global, args),
        Command::Checkout(args) => commands::checkout::run(&global, args),
        Command::Log(args) => commands::log::run(&global, args),
        Command::Meta(args) => commands::meta::run(&global, args),
        Command::Du(args) => commands::du::run(&global, args),
        Command::Diff(args) => commands::diff::run(&global, args),
        Command::Show(args) => commands::show::run(&global, args),
        Command::Remote(args) => commands::remote::run(&global, args),
        Command::Config(args) => commands::config::run(&global, args),
        Command::Ls(args) => commands::registry::ls(&global, args),
        Command::Get(args) => commands::registry::get(&global, args),
        Command::Import(args) => commands::registry::import(&global, args),
        Command::Migrate(args) => commands::migrate::run(&global, args),
        Command::Update(args) => commands::registry::update(&global, args),
        Command::Format(args) => commands::format::run(&global, args),
        Command::Push(args) => commands::transfer::push(&global, args),
        Command::Fetch(args) => commands::transfer::fetch(&global, args),
        Command::Pull(args) => commands::transfer::pull(&global, args),
        Command::Fsck(args) => commands::fsck::run(&global, args),
        Command::Gc(args) => commands::gc::run(&global, args),
        Command::Run(args) => commands::run::run(&global, args),
        Command::Repro(args) => commands::run::repro(&global, args),
        Command::Lineage(args) => commands::run::lineage(&global, args),
        Command::Install(args) => commands::hooks::install(&global, args),
        Command::Uninstall(args) => commands::hooks::uninstall(&global, args),
        Command::MergeDriver(args) => commands::merge::run(&global, args),
        Command::Completions(args) => commands::completions::completions(args),
        Command::Man(args) => commands::completions::man(&global, args),
    }
}

/// Log output (`-v`, `DV_LOG`), and, unless quiet, a line on stderr each time a remote request is retried, so
/// a slow or failing remote is never silent.
fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{EnvFilter, filter::Targets};
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("DV_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let log = tracing_subscriber::fmt::layer()
        .with_writer(|| RedactedStderr)
        .with_ansi(output::color_enabled())
        .without_time()
        .with_filter(filter);
    let retries = (!quiet).then(|| {
        RetryNotices.with_filter(Targets::new().with_target(RETRY_TARGET, tracing::Level::INFO))
    });
    let _ = tracing_subscriber::registry()
        .with(log)
        .with(retries)
        .try_init();
}

/// Stderr for log lines, each passed through the same redaction as errors ([`dv_core::redact::redact`]): the
/// crates below dv log what they like (hyper's connection pool logs `user:password@host` at trace level), so
/// the one place every log line goes through is where secrets are hidden. The fmt layer writes each event with
/// one `write_all`, so a whole line is redacted at once.
struct RedactedStderr;

impl std::io::Write for RedactedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = dv_core::redact::redact(&String::from_utf8_lossy(buf));
        // A closed stderr loses the log line, and nothing else.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().lock().flush();
        Ok(())
    }
}

/// Where object_store reports the retries of its requests.
const RETRY_TARGET: &str = "object_store::client::retry";

/// Prints object_store's retry events as `remote: …; retrying in 0.4 s (attempt 2 of 11)`.
struct RetryNotices;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RetryNotices {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        errln!("{}", dv_core::redact::redact(&retry_notice(&m.0)));
    }
}

/// object_store's "Encountered WHAT, backing off for S seconds, retry N of M[: ERROR]" as dv says it.
fn retry_notice(msg: &str) -> String {
    let parsed = (|| {
        let (what, rest) = msg
            .strip_prefix("Encountered ")?
            .split_once(", backing off for ")?;
        let (secs, rest) = rest.split_once(" seconds, retry ")?;
        let (counts, error) = rest.split_once(": ").unwrap_or((rest, ""));
        let (n, m) = counts.split_once(" of ")?;
        let (n, m, secs): (usize, usize, f64) =
            (n.parse().ok()?, m.parse().ok()?, secs.parse().ok()?);
        let what = match what.strip_prefix("transport error of kind ") {
            Some("Connect") => "cannot connect",
            Some("Timeout") => "timed out",
            Some("Interrupted") => "the connection dropped",
            Some("Request") => "the request failed",
            _ => what,
        };
        let error = error.strip_prefix("HTTP error: ").unwrap_or(error);
        // dv's own account of a server that has not answered says it all, with the attempt counted
        // against the limit that really applies (`remote::http::SILENT_ATTEMPTS`).
        if (error.starts_with("no answer from ") || error.starts_with("cannot connect to "))
            && error.ends_with(&format!(" of {})", dv_core::remote::http::SILENT_ATTEMPTS))
        {
            return Some(format!("remote: {error}; retrying in {secs:.1} s"));
        }
        let said = if error.starts_with("no answer from ") {
            error.to_string()
        } else if error.is_empty() {
            what.to_string()
        } else {
            format!("{what} ({error})")
        };
        Some(format!(
            "remote: {said}; retrying in {secs:.1} s (attempt {} of {})",
            n + 1,
            m + 1
        ))
    })();
    parsed.unwrap_or_else(|| format!("remote: retrying: {msg}"))
}
