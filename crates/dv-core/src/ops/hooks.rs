//! `dv install` / `dv uninstall`: Git hooks that keep the data in step with Git.
//!
//! dv's part of a hook is a block between two marker lines, so a hook the user already has is kept: dv appends
//! its block to a shell hook, and `uninstall` removes only that block (and the file, if nothing else is left).

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::IoContext;
use crate::{Error, Result};

const BEGIN: &str = "# >>> dv >>> (added by `dv install`; `dv uninstall` removes it)";
const END: &str = "# <<< dv <<<";

/// The hooks dv installs and what each runs.
pub const HOOKS: &[(&str, &str)] = &[
    // $3 is 1 for a branch checkout (not for `git checkout -- FILE`).
    (
        "post-checkout",
        "if [ \"$3\" = \"1\" ]; then DV checkout --quiet; fi",
    ),
    ("post-merge", "DV checkout --quiet"),
    // After `git rebase` (not `commit --amend`), whose replayed commits move pointer files.
    (
        "post-rewrite",
        "if [ \"$1\" = \"rebase\" ]; then DV checkout --quiet; fi",
    ),
];

words! {
    /// What installing or removing dv's hooks did to one hook file.
    pub enum HookAction {
        /// A new hook holding only dv's block.
        Created = "created",
        /// dv's block added after the hook's own lines.
        Appended = "appended",
        /// It holds dv's block already.
        Unchanged = "unchanged",
        /// It held only dv's block, and is deleted.
        Removed = "removed",
        /// dv's block removed, the hook's other lines kept.
        Emptied = "emptied",
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct HookChange {
    pub hook: String,
    pub path: PathBuf,
    pub action: HookAction,
}

fn block(command: &str, dv: &Path) -> String {
    // Prefer `dv` on PATH at run time (upgrades keep working); fall back to the binary that installed the hook.
    let exe = dv.display().to_string().replace('\'', "'\\''");
    let run =
        format!("{{ if command -v dv >/dev/null 2>&1; then dv \"$@\"; else '{exe}' \"$@\"; fi; }}");
    format!(
        "{BEGIN}\ndv_run() {run}\n{}\n{END}\n",
        command.replace("DV ", "dv_run ")
    )
}

/// Refuses a hooks folder `dir` that is a symbolic link, or lies below one inside any of `roots` (the work
/// tree, the Git folder): dv never writes a file through a link, and a linked `.git/hooks` would make it write
/// scripts wherever the link leads. A `core.hooksPath` the user set is respected: point it at the real folder.
pub fn check_hooks_dir(dir: &Path, roots: &[&Path]) -> Result<()> {
    crate::fsutil::refuse_link(dir)?;
    let mut cur = dir.parent();
    while let Some(p) = cur {
        if !roots.iter().any(|r| p.starts_with(r) && p != *r) {
            break;
        }
        crate::fsutil::refuse_link(p)?;
        cur = p.parent();
    }
    Ok(())
}

/// Installs dv's hooks into `dir`, keeping whatever the hooks already do. `roots` as for [`check_hooks_dir`].
pub fn install(dir: &Path, roots: &[&Path], dv: &Path) -> Result<Vec<HookChange>> {
    check_hooks_dir(dir, roots)?;
    fs::create_dir_all(dir).at(dir)?;
    let mut out = Vec::new();
    for (name, command) in HOOKS {
        let path = dir.join(name);
        let ours = block(command, dv);
        let existing = crate::fsutil::read_own(&path)?
            .map(|b| {
                String::from_utf8(b).map_err(|_| Error::BadPath {
                    path: path.display().to_string(),
                    reason:
                        "an existing hook that is not UTF-8 text; add `dv checkout` to it by hand"
                            .into(),
                })
            })
            .transpose()?;
        let (text, action) = match existing {
            Some(old) if old.contains(BEGIN) => (old, HookAction::Unchanged),
            Some(old) => {
                let first = old.lines().next().unwrap_or("");
                if !(first.starts_with("#!") && (first.contains("sh") || first.contains("bash"))) {
                    return Err(Error::BadPath {
                        path: path.display().to_string(),
                        reason: "an existing hook that is not a shell script; add `dv checkout` to it by hand".into(),
                    });
                }
                let mut t = old;
                if !t.ends_with('\n') {
                    t.push('\n');
                }
                t.push_str(&ours);
                (t, HookAction::Appended)
            }
            None => (format!("#!/bin/sh\n{ours}"), HookAction::Created),
        };
        if action != HookAction::Unchanged {
            crate::fsutil::write_atomic(&path, text.as_bytes())?;
            set_executable(&path)?;
        }
        out.push(HookChange {
            hook: name.to_string(),
            path,
            action,
        });
    }
    Ok(out)
}

/// Removes dv's block from each hook; deletes a hook that holds nothing else.
pub fn uninstall(dir: &Path, roots: &[&Path]) -> Result<Vec<HookChange>> {
    check_hooks_dir(dir, roots)?;
    let mut out = Vec::new();
    for (name, _) in HOOKS {
        let path = dir.join(name);
        let Some(old) = crate::fsutil::read_own(&path)? else {
            continue;
        };
        let old = String::from_utf8_lossy(&old).into_owned();
        let (Some(start), Some(end)) = (old.find(BEGIN), old.find(END)) else {
            continue;
        };
        let mut rest = old[..start].to_string();
        rest.push_str(old[end + END.len()..].trim_start_matches('\n'));
        let only_shebang = rest
            .lines()
            .all(|l| l.trim().is_empty() || l.starts_with("#!"));
        let action = if only_shebang {
            fs::remove_file(&path).at(&path)?;
            HookAction::Removed
        } else {
            crate::fsutil::write_atomic(&path, rest.as_bytes())?;
            set_executable(&path)?;
            HookAction::Emptied
        };
        out.push(HookChange {
            hook: name.to_string(),
            path,
            action,
        });
    }
    Ok(out)
}

/// The Git configuration key naming the merge driver's command.
const DRIVER_KEY: &str = "merge.dv.driver";

/// The merge driver's command as Git runs it (through the shell; Git fills in `%O %A %B %P`, quoted): `dv`
/// on PATH at run time, else the binary that registered it.
fn driver_command(dv: &Path) -> String {
    let exe = dv.display().to_string().replace('\'', "'\\''");
    format!(
        "if command -v dv >/dev/null 2>&1; then dv merge-driver %O %A %B %P; \
         else '{exe}' merge-driver %O %A %B %P; fi"
    )
}

/// Registers dv's merge driver for pointer files: the command in this clone's Git configuration (Git
/// configuration does not travel with a clone) and, with `attributes`, the lines of the root `.gitattributes`
/// that ask for it (to commit; `dv add` writes them too). Reported as the changes `merge-driver` and
/// `.gitattributes`.
pub fn install_merge_driver(
    repo: &crate::repo::Repo,
    git: &crate::git::GitRepo,
    dv: &Path,
    attributes: bool,
) -> Result<Vec<HookChange>> {
    let command = driver_command(dv);
    let action = if local_config(&repo.root, DRIVER_KEY)?.as_deref() == Some(command.as_str()) {
        HookAction::Unchanged
    } else {
        git_config(
            &repo.root,
            &[
                "merge.dv.name",
                "dv: merges pointer files (folders path by path)",
            ],
        )?;
        git_config(&repo.root, &[DRIVER_KEY, &command])?;
        HookAction::Created
    };
    let mut out = vec![HookChange {
        hook: "merge-driver".into(),
        path: git.common_dir().join("config"),
        action,
    }];
    if attributes {
        out.push(HookChange {
            hook: ".gitattributes".into(),
            path: repo.abs(".gitattributes"),
            action: if crate::ops::ignore::ensure_attributes(repo)? {
                HookAction::Created
            } else {
                HookAction::Unchanged
            },
        });
    }
    Ok(out)
}

/// Removes dv's merge driver from this clone's Git configuration (`.gitattributes`, shared through Git, is
/// left: a clone without the driver merges pointer files as text).
pub fn uninstall_merge_driver(
    repo: &crate::repo::Repo,
    git: &crate::git::GitRepo,
) -> Result<Vec<HookChange>> {
    // This clone's own setting only: one in the user's configuration is theirs to remove.
    if local_config(&repo.root, DRIVER_KEY)?.is_none() {
        return Ok(Vec::new());
    }
    git_config(&repo.root, &["--remove-section", "merge.dv"])?;
    Ok(vec![HookChange {
        hook: "merge-driver".into(),
        path: git.common_dir().join("config"),
        action: HookAction::Removed,
    }])
}

/// True when `.gitattributes` asks for dv's merge driver and this clone has not registered it (`dv install`
/// does): Git would merge pointer files as text.
pub fn merge_driver_missing(repo: &crate::repo::Repo, git: &crate::git::GitRepo) -> Result<bool> {
    Ok(git.config_string(DRIVER_KEY).is_none()
        && crate::ops::ignore::has_attribute(repo, crate::ops::ignore::MERGE_ATTRIBUTE)?)
}

/// `key` in the Git configuration of the repository at `root` alone (`git config --local --get`).
fn local_config(root: &Path, key: &str) -> Result<Option<String>> {
    let out = run_git_config(root, &["--get", key])?;
    Ok(out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .trim_end_matches('\n')
            .to_string()
    }))
}

fn run_git_config(root: &Path, args: &[&str]) -> Result<std::process::Output> {
    std::process::Command::new("git")
        .current_dir(root)
        .args(["config", "--local"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::Internal(format!("cannot run git config: {e}")))
}

/// Runs `git config --local ARGS` in `root`.
fn git_config(root: &Path, args: &[&str]) -> Result<()> {
    let out = run_git_config(root, args)?;
    if !out.status.success() {
        return Err(Error::Internal(format!(
            "git config {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn set_executable(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).at(path)?;
    }
    Ok(())
}
