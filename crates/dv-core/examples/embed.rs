//! Embeds dv's core: versions a folder, then prints a file of it as a Git revision holds it.
//! Run inside a Git work tree with `dv init` done: `cargo run -p dv-core --example embed -- data data/a.txt HEAD`
// A program, not the library: it may print and read its arguments (crates/dv-core/clippy.toml is for the library).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use dv_core::ops::datasets::{InVersion, Source};
use dv_core::{Result, git::GitRepo, progress::NoProgress, repo::Repo};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (folder, file, rev) = (&args[0], &args[1], &args[2]);
    let repo = Repo::discover(&std::env::current_dir().expect("a working folder"))?;
    let _lock = repo.lock()?;
    let store = repo.open_store()?;
    // Version the folder (chunked, deduplicated, packed into the cache) and stage its pointer file in Git.
    let added = dv_core::ops::add::add(
        &repo,
        &store,
        std::slice::from_ref(folder),
        true,
        None,
        &NoProgress,
    )?;
    println!(
        "added {} file(s), {} new object(s)",
        added.files, added.new_objects
    );
    // Read the file as revision `rev` has it: the pointer file from Git, the bytes from the cache.
    let git = GitRepo::open(&repo.root)?;
    let source = Source::Rev {
        git: &git,
        commit: git.resolve(rev)?,
    };
    let dataset = source
        .read_pointer(&repo, folder)?
        .expect("the folder is tracked at that revision");
    if let InVersion::Node(node) = dataset.node_at(&store, file)? {
        store.copy_file(&node, &mut std::io::stdout())?;
    }
    Ok(())
}
