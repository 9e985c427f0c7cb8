//! `dv repro --check`: re-running a step in a temporary folder holding only its recorded inputs and
//! parameter files, and comparing what it writes with the recorded outputs.

use std::fs;
use std::path::Path;

use super::fingerprint::{fingerprint, hash_path};
use super::spawn::{describe_status, spawn};
use super::{RunOptions, load_steps, no_step_writes};
use crate::error::IoContext;
use crate::ops::datasets::Source;
use crate::session::Session;
use crate::steps::{NodeRecord, param_values};
use crate::{Error, Result};

#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckedOutput {
    pub path: String,
    pub recorded: Option<NodeRecord>,
    pub reproduced: Option<NodeRecord>,
    pub same: bool,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckReport {
    pub step: String,
    /// True when every output came out bit for bit as recorded.
    pub reproduces: bool,
    pub outs: Vec<CheckedOutput>,
    /// Why the check could not compare outputs (the command failed in the temporary folder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub duration_ms: u64,
}

/// Re-runs the step that wrote `out` in a temporary folder holding only its recorded inputs and parameter
/// files, and compares what it writes with the recorded outputs. The work tree and the store are untouched.
pub fn check(s: &Session, out: &str, opts: &RunOptions<'_>) -> Result<CheckReport> {
    let (repo, store) = (s.repo(), s.store());
    let steps = load_steps(repo, &Source::WorkTree)?;
    let step = steps.producer_of(out).ok_or_else(|| no_step_writes(out))?;
    let bad = |message: String| Error::Step {
        name: step.name.clone(),
        message,
    };
    if step.run.is_none() {
        return Err(bad(
            "it has not run yet; there is nothing to compare with".into()
        ));
    }
    // Removed with all it holds when dropped. Named and permitted as before: `check-PID-NANOS` in the cache's
    // `tmp/`, with the umask's permissions (not tempfile's 0o700).
    let tmp_parent = store.tmp_dir();
    fs::create_dir_all(&tmp_parent).at(&tmp_parent)?;
    let name = format!("check-{}-{}", std::process::id(), crate::ops::now_ns());
    let tmp = {
        let mut b = tempfile::Builder::new();
        b.prefix(&name).rand_bytes(0);
        #[cfg(unix)]
        b.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o777));
        b.tempdir_in(&tmp_parent).at(tmp_parent.join(&name))?
    };
    for d in &step.deps {
        let now = fingerprint(repo, store, &d.path, step.layout)?;
        match (&d.node, now) {
            (Some(r), Some(n)) if r.id == n.id => {}
            _ => {
                return Err(bad(format!(
                    "input '{}' is not as recorded; run `dv repro` first, or check out the revision the step ran at",
                    d.path
                )));
            }
        }
        copy_into(&repo.abs(&d.path), &tmp.path().join(&d.path))?;
    }
    let values = param_values(&step.params, |f| {
        crate::fsutil::read_if_exists(&repo.abs(f))
    })?;
    for (p, now) in step.params.iter().zip(values) {
        if p.value != now {
            return Err(bad(format!(
                "parameter '{}' is not as recorded; run `dv repro` first",
                p.label()
            )));
        }
        let dst = tmp.path().join(&p.file);
        if !dst.exists() {
            copy_into(&repo.abs(&p.file), &dst)?;
        }
    }
    let workdir = tmp.path().join(&step.workdir);
    fs::create_dir_all(&workdir).at(&workdir)?;
    for o in &step.outs {
        if let Some(parent) = tmp.path().join(&o.path).parent() {
            fs::create_dir_all(parent).at(parent)?;
        }
    }
    let started = std::time::Instant::now();
    let status = spawn(step, tmp.path(), opts.child_output)
        .map_err(|e| bad(format!("cannot run '{}': {e}", step.command[0])))?;
    let duration_ms = started.elapsed().as_millis() as u64;
    let mut report = CheckReport {
        step: step.name.clone(),
        reproduces: false,
        outs: Vec::new(),
        failure: None,
        duration_ms,
    };
    if !status.success() {
        report.failure = Some(format!(
            "the command {} in a folder holding only the step's recorded inputs (is every input it reads \
             declared with -d?)",
            describe_status(&status)
        ));
        return Ok(report);
    }
    for o in &step.outs {
        let abs = tmp.path().join(&o.path);
        let got = if fs::symlink_metadata(&abs).is_ok() {
            Some(NodeRecord::of(&hash_path(
                &abs,
                &o.path,
                None,
                step.layout,
            )?))
        } else {
            None
        };
        let same = matches!((&o.node, &got), (Some(r), Some(g)) if r.id == g.id);
        report.outs.push(CheckedOutput {
            path: o.path.clone(),
            recorded: o.node,
            reproduced: got,
            same,
        });
    }
    report.reproduces = report.outs.iter().all(|o| o.same);
    Ok(report)
}

/// Copies a file or folder (regular files and folders only, keeping the executable bit).
fn copy_into(src: &Path, dst: &Path) -> Result<()> {
    let m = fs::symlink_metadata(src).at(src)?;
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent).at(parent)?;
    }
    if m.is_dir() {
        fs::create_dir_all(dst).at(dst)?;
        for e in fs::read_dir(src).at(src)? {
            let e = e.at(src)?;
            copy_into(&e.path(), &dst.join(e.file_name()))?;
        }
        Ok(())
    } else if m.is_file() {
        fs::copy(src, dst).at(dst)?;
        Ok(())
    } else {
        Err(Error::BadPath {
            path: src.display().to_string(),
            reason: "not a regular file or folder".into(),
        })
    }
}
