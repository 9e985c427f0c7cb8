//! The user's mirrors of registry repositories: one bare Git repository per source URL under the user's cache
//! folder, kept up to date by the real `git` (gix is built here without network features, and `git` brings
//! the user's transports, SSH keys and credential helpers). Partial: blobs over 64 KiB are left on the
//! server, since only pointer files and `.dv/config.toml` are read. No remote is configured in the mirror
//! and the URL is passed on each fetch; a URL with a credential is fetched whole (a partial fetch would make
//! Git record it), so credentials in a URL are never written to disk.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// Blobs up to this size are fetched: every pointer file (at most 64 KiB) and `.dv/config.toml`, and little of
/// the repository's other files.
const BLOB_LIMIT: &str = "blob:limit=64k";

/// The ref the source's `HEAD` (its default branch) is fetched to.
pub const HEAD_REF: &str = "refs/dv/head";

/// What a sync did.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Synced {
    /// The mirror was made by this sync.
    pub created: bool,
    /// `git fetch` ran (it does not when the revision asked for is a commit the mirror has).
    pub fetched: bool,
}

/// Runs `git` with `args` in `dir` (a bare repository), never prompting for a password; Git's own error
/// text, credentials hidden, when it fails.
fn git(dir: &Path, args: &[&str], url_shown: &str) -> Result<()> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| Error::Git {
            path: dir.to_path_buf(),
            message: format!(
                "cannot run git (dv fetches registries with it; is it installed?): {e}"
            ),
            source: None,
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("warning: filtering not recognized"))
        .collect();
    Err(Error::Git {
        path: dir.to_path_buf(),
        message: format!(
            "cannot fetch from {url_shown}: {}",
            crate::redact::redact(&said.join("; "))
        ),
        source: None,
    })
}

/// Brings the mirror at `dir` (made when missing) up to date with `url`: its branches, tags and `HEAD`
/// (to [`HEAD_REF`]), pruned of what the source deleted. Skipped when `have` says the mirror already has what
/// is asked for. The caller holds the mirror's lock.
pub fn sync(
    dir: &Path,
    url: &str,
    url_shown: &str,
    have: impl Fn(&Path) -> bool,
) -> Result<Synced> {
    let mut synced = Synced::default();
    if !dir.join("HEAD").is_file() {
        // Made whole beside, then renamed: a killed first sync leaves no half-made mirror.
        let parent = dir.parent().expect("a mirror has a parent folder");
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let tmp = tempfile::Builder::new()
            .prefix(".git-")
            .tempdir_in(parent)
            .map_err(|e| Error::io(parent, e))?;
        let init = Command::new("git")
            .args(["init", "--quiet", "--bare"])
            .arg(tmp.path())
            .output()
            .map_err(|e| Error::io(tmp.path(), e))?;
        if !init.status.success() {
            return Err(Error::Git {
                path: tmp.path().to_path_buf(),
                message: String::from_utf8_lossy(&init.stderr).trim().to_string(),
                source: None,
            });
        }
        std::fs::rename(tmp.keep(), dir).map_err(|e| Error::io(dir, e))?;
        synced.created = true;
    } else if have(dir) {
        return Ok(synced);
    }
    let head = format!("+HEAD:{HEAD_REF}");
    let mut args = vec![
        "-c",
        "fetch.recurseSubmodules=false",
        "fetch",
        "--quiet",
        "--prune",
        "--no-write-fetch-head",
    ];
    // A partial fetch makes Git record the URL in the mirror's config (as the promisor of what it left out):
    // a URL that carries a credential is fetched whole instead, so the credential never reaches the disk.
    let filter = format!("--filter={BLOB_LIMIT}");
    if !carries_credential(url) {
        args.push(&filter);
    }
    args.extend([
        "--",
        url,
        &head,
        "+refs/heads/*:refs/heads/*",
        "+refs/tags/*:refs/tags/*",
    ]);
    if let Err(e) = git(dir, &args, url_shown) {
        // A first sync that failed (a mistyped URL, no access) leaves no mirror behind.
        if synced.created {
            let _ = std::fs::remove_dir_all(dir);
        }
        return Err(e);
    }
    synced.fetched = true;
    Ok(synced)
}

/// Whether `url` holds a user name or password, or a credential in its query string.
fn carries_credential(url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(u) => {
            !u.username().is_empty()
                || u.password().is_some()
                || crate::secret::url_secret(url).is_some()
        }
        Err(_) => crate::secret::url_secret(url).is_some(),
    }
}

/// Fetches one commit by id (a revision no branch or tag of the source names any more, which servers that
/// allow it send).
pub fn fetch_commit(dir: &Path, url: &str, url_shown: &str, id: &str) -> Result<()> {
    let filter = format!("--filter={BLOB_LIMIT}");
    git(
        dir,
        &[
            "fetch",
            "--quiet",
            "--no-write-fetch-head",
            &filter,
            "--",
            url,
            id,
        ],
        url_shown,
    )
}

/// Where the mirror of a source is kept: `<user cache>/sources/<key>/git`.
pub fn mirror_dir(side: &Path) -> PathBuf {
    side.join("git")
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_with_credentials_are_told() {
        for (url, has) in [
            ("https://h.example/r.git", false),
            ("file:///srv/r.git", false),
            ("https://alice:pw@h.example/r.git", true),
            ("https://ghp_token@h.example/r.git", true),
            ("https://h.example/r.git?token=abc", true),
            ("git@github.com:org/r.git", false),
        ] {
            assert_eq!(super::carries_credential(url), has, "{url}");
        }
    }
}
