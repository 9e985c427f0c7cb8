//! `dv completions` and `dv man`: made from the clap definitions, they name every command, and the shell and
//! the roff formatter read them without complaint.

use std::process::{Command, Stdio};

use crate::common::*;

/// Every command `dv --help` lists.
fn commands() -> Vec<String> {
    let help = ok_at(std::path::Path::new("/"), &["--help"]);
    let list = help
        .split("Commands:")
        .nth(1)
        .expect("--help lists commands");
    let names: Vec<String> = list
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_string)
        .collect();
    assert!(names.len() > 15, "{help}");
    names
}

#[test]
fn completions_name_every_command_and_bash_reads_them() {
    let names = commands();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = ok_at(std::path::Path::new("/"), &["completions", shell]);
        for name in &names {
            assert!(script.contains(name.as_str()), "{shell} lacks {name}");
        }
        // A flag of a subcommand is completed too.
        assert!(script.contains("all-commits"), "{shell}");
    }
    // Bash parses the script (syntax only) and, sourced, registers a completion for dv.
    let script = ok_at(std::path::Path::new("/"), &["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dv.bash");
    std::fs::write(&file, &script).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p dv", file.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("dv"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An unknown shell is a usage error.
    let out = dv_command(dir.path())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tcsh"));
}

/// Formats a roff page with groff's man macros, warnings on: the page must produce text and no warning.
fn groff_reads(page: &[u8]) -> String {
    let mut child = Command::new("groff")
        // UTF-8 input through preconv (-K), as man(1) reads a page; plain text out: no overstrike (bold,
        // underline) in what the test reads.
        .args([
            "-Kutf8", "-man", "-Tutf8", "-ww", "-P", "-c", "-P", "-b", "-P", "-u", "-P", "-o",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("groff is installed (Debian: groff-base)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(page).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_manual_pages_name_every_command_and_format_cleanly() {
    let names = commands();
    let page = ok_at(std::path::Path::new("/"), &["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH dv 1"),
        "{page}"
    );
    let text = groff_reads(page.as_bytes());
    for name in &names {
        assert!(text.contains(name.as_str()), "dv(1) lacks {name}");
    }
    // One page per command, each readable, each showing its own flags.
    let dir = tempfile::tempdir().unwrap();
    let out = dv_command(dir.path())
        .args(["man", "--dir", "pages"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pages = dir.path().join("pages");
    for name in &names {
        let file = pages.join(format!("dv-{name}.1"));
        let page = std::fs::read(&file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        let text = groff_reads(&page);
        assert!(text.contains(&format!("dv-{name}")), "{name}: {text}");
        assert!(
            String::from_utf8_lossy(&page).contains(r"\-\-help"),
            "{name}"
        );
    }
    assert!(pages.join("dv.1").is_file() && pages.join("dv-remote-add.1").is_file());
    let checkout = std::fs::read_to_string(pages.join("dv-checkout.1")).unwrap();
    assert!(checkout.contains(r"\-\-force"), "{checkout}");
}

/// `dv man --dir` writes each page whole and never through a link (adversarial review: a `dv.1` linked to
/// another file got that file overwritten with the page).
#[test]
fn man_pages_are_never_written_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("pages");
    std::fs::create_dir(&pages).unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious notes").unwrap();
    std::os::unix::fs::symlink(&victim, pages.join("dv.1")).unwrap();
    let out = dv_command(dir.path())
        .args(["man", "--dir", "pages"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is a symbolic link"), "{err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious notes");
}
