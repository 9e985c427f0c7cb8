//! Running a step's command: without a shell, stdin closed, its standard output where the caller wants it;
//! and showing a command and how it ended, for messages.

use std::path::Path;
use std::process::{Command, Stdio};

/// Where a step's command writes its standard output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildOutput {
    /// To dv's standard output.
    Inherit,
    /// To dv's standard error (so dv's own standard output stays machine-readable).
    Stderr,
}

/// Runs `step`'s command in its workdir below `root` (the work tree's root, or the copy `dv run --check`
/// runs in), with `DV_ROOT` (that root) and `DV_STEP` (the step's name) in its environment.
pub(super) fn spawn(
    step: &crate::steps::Step,
    root: &Path,
    out: ChildOutput,
) -> std::io::Result<std::process::ExitStatus> {
    let command = &step.command;
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..])
        .current_dir(root.join(&step.workdir))
        .env("DV_ROOT", root)
        .env("DV_STEP", &step.name)
        .stdin(Stdio::null());
    if out == ChildOutput::Stderr {
        use std::os::fd::AsFd;
        cmd.stdout(Stdio::from(std::io::stderr().as_fd().try_clone_to_owned()?));
    }
    cmd.status()
}

pub(super) fn describe_status(s: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "failed".into(),
    }
}

/// The command as one could type it in a shell (for messages): each word as [`crate::paths::shell_word`] shows it.
pub fn shell_words(command: &[String]) -> String {
    command
        .iter()
        .map(|w| crate::paths::shell_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}
