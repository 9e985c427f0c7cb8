//! Writing pointer files and staging what a command wrote: the one way every command (`add`, `run` through it,
//! `meta set`/`unset`) leaves a pointer file, so each leaves it the same way.

use crate::Result;
use crate::git::GitRepo;
use crate::pointer::Pointer;
use crate::repo::Repo;

/// The files a command wrote (or would have written, had they not already said it) that go into Git's index.
#[derive(Default)]
pub struct Staging {
    paths: Vec<String>,
}

impl Staging {
    /// Writes the pointer file `pointer_path` (a repository path) with `pointer`, unless it already holds
    /// exactly that; returns whether it was rewritten. Either way it is staged by [`Staging::stage`]: a pointer
    /// file that already says this may still differ from what Git's index holds (modified, not staged), and a
    /// command that writes a pointer leaves it staged whether or not this run changed its bytes.
    pub fn write_pointer(
        &mut self,
        repo: &Repo,
        pointer_path: &str,
        pointer: &Pointer,
    ) -> Result<bool> {
        let text = pointer.encode_checked(pointer_path)?;
        crate::paths::check_no_linked_parents(&repo.root, pointer_path)?;
        let abs = repo.abs(pointer_path);
        let changed = crate::fsutil::read_own(&abs)?.as_deref() != Some(text.as_bytes());
        if changed {
            repo.write_file(&abs, text.as_bytes())?;
        }
        self.paths.push(pointer_path.to_string());
        Ok(changed)
    }

    /// Another file the command wrote that belongs in the index (a `.gitignore`, `.gitattributes`).
    pub fn also(&mut self, path: impl Into<String>) {
        self.paths.push(path.into());
    }

    /// Every file recorded, sorted, each once: what [`Staging::stage`] stages, for a command that does not
    /// stage to name.
    pub fn recorded(&self) -> Vec<String> {
        let mut paths = self.paths.clone();
        paths.sort();
        paths.dedup();
        paths
    }

    /// Stages every file recorded (once each, as `git add` would) in `git`'s index, and returns them sorted;
    /// without `git` (staging is off) stages nothing and returns nothing.
    pub fn stage(mut self, repo: &Repo, git: Option<&GitRepo>) -> Result<Vec<String>> {
        let Some(git) = git else {
            return Ok(Vec::new());
        };
        self.paths.sort();
        self.paths.dedup();
        git.stage(&repo.root, &self.paths)?;
        Ok(self.paths)
    }
}
