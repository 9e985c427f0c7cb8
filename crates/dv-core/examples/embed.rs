//! Embeds dv's core: versions a folder, then prints a file of it as a Git revision holds it.
//! Run inside a Git work tree with `dv init` done: `cargo run -p dv-core --example embed -- data data/a.txt HEAD`
// A program, not the library: it may print and read its arguments (crates/dv-core/clippy.toml is for the library).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use dv_core::ops::add::{AddOptions, add};
use dv_core::ops::datasets::{InVersion, Source};
use dv_core::{Result, progress::NoProgress, repo::Repo};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (folder, file, rev) = (&args[0], &args[1], &args[2]);
    let session = Repo::discover(&std::env::current_dir().expect("a working folder"))?.open()?;
    // Version the folder (chunked, deduplicated, packed into the cache) and stage its pointer file in Git,
    // holding the cache's lock for the length of the add.
    let opts = AddOptions {
        stage: true,
        ..Default::default()
    };
    let added = add(
        &session.lock()?,
        std::slice::from_ref(folder),
        &opts,
        &NoProgress,
    )?;
    println!(
        "added {} file(s), {} new object(s)",
        added.files, added.new_objects
    );
    // Read the file as revision `rev` has it: the pointer file from Git, the bytes from the cache.
    let git = session.git()?;
    let source = Source::Rev {
        git,
        commit: git.resolve(rev)?,
    };
    let dataset = source
        .read_pointer(session.repo(), folder)?
        .expect("the folder is tracked at that revision");
    if let InVersion::Node(node) = dataset.node_at(session.store(), file)? {
        session.store().copy_file(&node, &mut std::io::stdout())?;
    }
    Ok(())
}
