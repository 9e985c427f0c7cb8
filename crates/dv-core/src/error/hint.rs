//! The hint each error carries: what the user can do about it. Every front end (the CLI's `hint:` line, the
//! Python package next) shows the same one.

use super::Error;

impl Error {
    /// What the user can do about this error, for every front end to show beside it (`hint:` in the CLI):
    /// a command to run, a file to fix, or why nothing is lost. `None` when the message says it all.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::NotAGitRepo(_) => "dv versions data inside a Git work tree: run `git init` first, or cd into one".into(),
            Error::NotInitialized(root) => format!("run `dv init` in {} first", root.display()),
            Error::OutsideRepo { .. } => "dv only tracks paths inside the current Git work tree".into(),
            Error::NotFound(_) => "check the path; `dv status` lists what dv tracks".into(),
            Error::NotTracked(_) => "track it with `dv add PATH`; `dv status` lists what dv tracks".into(),
            Error::NotTrackedAt { .. } => "`git show REV --stat` lists what that revision holds".into(),
            Error::NotInVersion { above: Some(above), .. } => {
                format!("check out '{above}' as a whole instead (what is in the work tree there is checked first)")
            }
            Error::NotInVersion { .. } => {
                "check the path; `dv checkout DATASET` brings back all of a dataset, and `dv diff` lists what changed".into()
            }
            Error::BlockedByFile { blocker, .. } => {
                format!("check out '{blocker}' as a whole instead: it replaces that file (after checking it is stored)")
            }
            Error::BadRevision { .. } => "name a commit, branch or tag that exists; `git log --oneline` lists them".into(),
            Error::LocalChanges { .. } => {
                "keep them with `dv add`, or run again with --force to discard them".into()
            }
            Error::GitOwned { repositories, .. } if !repositories.is_empty() => {
                "a Git repository, work tree or dv folder remote inside a dataset's folder is not dv's data: move it \
                 out of the folder (a linked work tree with `git worktree move`, a remote then with \
                 `dv remote modify NAME url PATH`) and run the checkout again".into()
            }
            Error::GitOwned { .. } => {
                "a file Git tracks is Git's: if it should be data, stop tracking it with `git rm --cached PATH` and commit; \
                 if a pointer file names it, that pointer file is the mistake (`dv status` reports it)".into()
            }
            Error::ChangedDuringCheckout { .. } => {
                "keep an edit with `dv add`, or run the checkout again to replace them (it checks again that nothing unstored is lost)".into()
            }
            Error::MissingObjects { .. } => {
                "the cache lacks this version's data: add it again where it exists, or fetch it from a remote".into()
            }
            Error::MissingInSome { whole, .. } => {
                const SHOWN: usize = 10;
                let mut names: Vec<String> = whole.iter().take(SHOWN).map(|p| crate::paths::shell_word(p)).collect();
                if whole.len() > SHOWN {
                    names.push(format!("... ({} more)", whole.len() - SHOWN));
                }
                format!(
                    "the cache lacks those datasets' data: add it again where it exists, or fetch it from a remote; \
                     to check out the whole ones now, name them: `dv checkout {}`",
                    names.join(" ")
                )
            }
            Error::PushIncomplete { .. } => "those versions can only be pushed from a clone that still has their data (`dv gc` deletes what its scope does not keep; `dv fsck --all-commits` lists what is missing)".into(),
            Error::StepFailed { .. } => "fix the command and run `dv run` again; its outputs were not added".into(),
            Error::RemoteFailed { hint, .. } => hint.clone(),
            Error::NoRemote => "add one with `dv remote add NAME URL --default`".into(),
            Error::UnknownRemote(_) => "`dv remote list` shows the configured remotes".into(),
            Error::Locked { .. } => "wait for the other dv command to finish, then try again, or wait longer with DV_LOCK_TIMEOUT=SECONDS (the lock is released when its process ends, however it ends)".into(),
            Error::Link { .. } => "replace the link with a regular file (or remove it) and run the command again; nothing was written or staged through it".into(),
            Error::OwnFileLink { path } => format!(
                "remove the link (`rm {0}`; if Git tracks it, also `git rm --cached {0}` and commit), then run `dv init` to make what dv needs again",
                path.display()
            ),
            // The state database is a cache this clone's newer dv upgraded: it can be set aside instead.
            Error::NewerFormat { what, .. } if what.starts_with("state database") => "upgrade dv to a version that reads this format, or move the file aside (with its -wal and -shm files): this dv then builds a new one; only the record of which parts of a dataset were pulled on purpose is lost (docs/format.md, \"State database\")".into(),
            Error::NewerFormat { .. } => "upgrade dv to a version that reads this format".into(),
            Error::TooLargeForFormat { .. } => "`dv format upgrade` moves the repository to format 2, which splits large folders and files into small nodes".into(),
            Error::Corrupt { message, .. } if message.starts_with(REMOTE_COPY) => "the remote's copy is damaged: `dv fsck --remote NAME` lists what, and `dv fsck --remote NAME --repair` repairs what another copy can".into(),
            Error::Corrupt { .. } => "the local cache is damaged: `dv fsck` lists what, and `dv fsck --repair` fetches good copies from a remote".into(),
            Error::Io { source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::StorageFull
                        | std::io::ErrorKind::FileTooLarge
                        | std::io::ErrorKind::QuotaExceeded
                ) =>
            {
                "free some disk space (or raise the file size limit) and run the command again: nothing half-written was kept".into()
            }
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                "check the permissions of that path".into()
            }
            Error::MissingCacheUser { record, .. } => format!(
                "bring it back (or mount its drive) and run gc again; if it is gone for good, delete {} (the \
                 cache's record of it), and gc forgets it",
                record.display()
            ),
            Error::MissingWorkTree(_) => "bring the work tree back (or mount its drive) and run gc again; if it is gone for good, `git worktree prune` forgets it".into(),
            Error::KindMismatch { .. } => "the cache is fine: the pointer file is wrong (`dv fsck` names it; `git checkout -- PATH.dv` restores the committed one)".into(),
            Error::SizeMismatch { .. } => "`dv fsck` names the pointer file that is wrong; add the data again from a copy that is right".into(),
            Error::ChangedWhileReading { .. } => "wait until whatever writes the file has finished, then run `dv add` again (nothing else of this add was recorded either)".into(),
            Error::MalformedPointer { conflict: true, .. } | Error::ConflictedPointer { .. } => "a merge (or rebase, cherry-pick, stash pop) left that pointer file in conflict: `dv checkout --ours PATH` or `dv checkout --theirs PATH` settles it (dv's merge driver keeps what merged cleanly; without the driver, one side whole), stages the pointer file and checks the data out; `git merge --abort` gives the merge up".into(),
            Error::NotMigrated { .. } => "that version's object was missing (or damaged) in DVC's cache and remote, or git-lfs's, when it was migrated: bring it back and run the migration with --all-commits again, or name the other datasets to act on; every other version is whole".into(),
            Error::MalformedPointer { .. } => "fix or remove that pointer file (`git rm PATH.dv` removes one that should not be there, `git checkout -- PATH.dv` restores the committed one; upgrade dv if a newer one wrote it), or name the datasets to act on; `dv status` and `dv fsck` go on without it".into(),
            Error::CannotAdd { .. } => "name the files or folders to version, e.g. `dv add data/`".into(),
            Error::UnfinishedCheckout { path } => format!(
                "finish it with `dv checkout {path}` (or `dv pull {path}` when the cache lacks data); or record the \
                 work tree as it is with `dv add --as-is {path}` (what was not written yet is then recorded as deleted)"
            ),
            Error::BadAnnotation { .. } => "annotations are KEY=VALUE: keys of ASCII letters, digits, '_', '-', '.' (up to 128 bytes), values up to 4 KiB, at most 64 per dataset, never secrets".into(),
            Error::IndexLocked { lock } => format!(
                "another git process seems to be running in this repository: wait for it to finish and try again; if none is running, a crashed one left the lock behind: remove {} (nothing was written)",
                lock.display()
            ),
            Error::IgnoredByGit { path, .. } => format!(
                "dv stages pointer files for Git to commit: remove that rule, or run with --no-stage and stage it yourself with `git add -f {path}`; nothing was written"
            ),
            Error::DataNotIgnored { .. } => "dv keeps a dataset's data out of Git with an ignore line, and that rule would let `git add .` commit the data: remove it and run again (nothing was written)".into(),
            Error::Internal(_) => "this is a bug in dv; please report it with the command you ran".into(),
            Error::Db { path, source } if crate::store::statedb::is_damaged(source) => {
                let p = path.display();
                format!(
                    "{p} is a cache: dv rebuilds it from the pack indexes and the work tree (losing it costs time, \
                     never data). Move it aside, with its `-wal` and `-shm` files if they are there (`mv {p} \
                     {p}.damaged`), and run the command again"
                )
            }
            _ => return None,
        })
    }
}

/// How an [`Error::Corrupt`] about an object read from a remote begins its message (its hint then names the
/// remote's copy, not the local cache).
pub const REMOTE_COPY: &str = "the copy on remote";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_their_hint() {
        let h = Error::NoRemote.hint().expect("a missing remote has a hint");
        assert!(h.contains("dv remote add"), "{h}");
        // A name with a space is quoted as one shell word in the command the hint suggests.
        let e = Error::MissingInSome {
            missing: Box::new(Error::NoRemote),
            lacking: vec!["a".into()],
            whole: vec!["my b".into(), "c".into()],
        };
        assert!(e.hint().unwrap().contains("`dv checkout 'my b' c`"));
        assert!(Error::Internal("x".into()).hint().is_some());
        assert!(Error::format("x", "y").hint().is_none());
    }
}
