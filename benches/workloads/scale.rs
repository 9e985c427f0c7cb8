//! Scale tier (issue 20, `--only scale`): `--scale-files` files of 0.5–4 KiB (default 1,000,000), in one flat
//! folder and in folders of 1,000 (`--scale-shapes flat,nested`). For each shape:
//! - the first `dv add` of the folder (fresh cache and state), then `dv status` with nothing changed, beside
//!   `git status` on the same files (a separate Git directory whose work tree is the same folder, committed,
//!   untracked cache on), in the same run;
//! - a one-file edit then `dv add`: time, memory and the store's growth;
//! - `dv push` of everything to the S3 test server, then of one more one-file edit (the bytes the remote grew by);
//! - `dv checkout --rev HEAD~1` and back between the two last versions;
//! - `dv pull` into a fresh `git clone`.
//!
//! With DVC found and at most 200,000 files, DVC's add, status, push and pull on a copy of the same files.
//!
//! The files are generated once per shape and count and kept between bench runs (`DIR/scale-SHAPE-N/data`, with
//! a marker file when whole); so is the Git directory that `git status` reads.

use super::*;

/// The folder of `n` seeded files in `shape` (flat: `f0000000.bin`…; nested: `d0000/f0000000.bin`…, 1,000 a
/// folder), made unless a marker says an earlier run made it whole.
fn make_files(data: &Path, n: usize, shape: &str) {
    let marker = data.with_extension(format!("done-{n}"));
    if marker.is_file() {
        return;
    }
    eprintln!("generating {n} files ({shape})...");
    let _ = fs::remove_dir_all(data);
    fs::create_dir_all(data).unwrap();
    if shape != "flat" {
        for d in 0..n.div_ceil(1000) {
            fs::create_dir_all(data.join(format!("d{d:04}"))).unwrap();
        }
    }
    let workers = std::thread::available_parallelism().map_or(2, |p| p.get());
    std::thread::scope(|s| {
        for w in 0..workers {
            s.spawn(move || {
                let mut buf = Vec::with_capacity(4096);
                for i in (w..n).step_by(workers) {
                    let path = file_path(data, i, shape);
                    let mut rng = Rng(0x5CA1_E000 ^ i as u64);
                    let len = 512 + rng.below(3585) as usize;
                    buf.clear();
                    rng.fill(&mut buf, len);
                    fs::write(&path, &buf).unwrap();
                }
            });
        }
    });
    fs::write(&marker, b"").unwrap();
}

fn file_path(data: &Path, i: usize, shape: &str) -> PathBuf {
    if shape == "flat" {
        data.join(format!("f{i:07}.bin"))
    } else {
        data.join(format!("d{:04}/f{i:07}.bin", i / 1000))
    }
}

/// Appends 100 seeded bytes to file `i`; returns its former length, for [`restore`].
fn edit_one(data: &Path, i: usize, shape: &str, seed: u64) -> u64 {
    let path = file_path(data, i, shape);
    let old = fs::read(&path).unwrap();
    let mut new = old.clone();
    Rng(seed).fill(&mut new, 100);
    fs::write(&path, new).unwrap();
    old.len() as u64
}

/// Cuts edited files back to their generated length, so the next bench run finds the fixture as made.
fn restore(data: &Path, shape: &str, edited: &[(usize, u64)]) {
    for &(i, len) in edited.iter().rev() {
        let f = fs::OpenOptions::new()
            .write(true)
            .open(file_path(data, i, shape))
            .unwrap();
        f.set_len(len).unwrap();
    }
}

/// A fresh Git repository and dv (or DVC) set-up around an existing `data` folder.
fn reset_repo(ctx: &Ctx, t: Tool, repo: &Path) {
    for p in [
        ".git",
        ".dv",
        ".dvc",
        ".gitignore",
        "data.dv",
        "data.dvc",
        ".dvcignore",
    ] {
        let p = repo.join(p);
        if p.is_dir() {
            fs::remove_dir_all(&p).unwrap();
        } else if p.exists() {
            fs::remove_file(&p).unwrap();
        }
    }
    git(repo, &["init", "-q", "-b", "main"]);
    match t {
        Tool::Dv => {
            run(repo, &ctx.dv, &["init"]);
            // Large folders are what format 2 is for.
            run(repo, &ctx.dv, &["format", "upgrade"]);
        }
        Tool::Dvc => {
            run(repo, ctx.program(t), &["init", "-q"]);
            run(repo, ctx.program(t), &["config", "core.analytics", "false"]);
        }
    }
    git(repo, &["add", if t == Tool::Dv { ".dv" } else { ".dvc" }]);
    git(repo, &["commit", "-q", "-m", "init"]);
}

/// `git status` on the same files: a Git directory beside the repository whose work tree is its `data` folder,
/// with every file in the index and committed, and the untracked cache on. Made once per fixture, and quickly:
/// the index is built with `update-index --info-only` (each file hashed, no object written: `git add` of a
/// million files writes a million loose objects, and `fast-import` of one flat tree of a million entries did
/// not finish in ten minutes), and the commit's tree with `write-tree --missing-ok`. `git status` compares the
/// index with HEAD by ids and the work tree with the index by stat, so it never misses the blobs.
fn git_twin(data: &Path, n: usize, shape: &str) -> PathBuf {
    use std::io::Write;
    let gitdir = data.with_extension(format!("git-{n}"));
    let marker = gitdir.join("dv-bench-done");
    if marker.is_file() {
        return gitdir;
    }
    eprintln!("indexing the same files in a Git repository, for git status...");
    let _ = fs::remove_dir_all(&gitdir);
    let g = gitdir.to_str().unwrap();
    let w = data.to_str().unwrap();
    let twin_cmd = |args: &[&str]| {
        let mut c = Command::new("git");
        c.args(["--git-dir", g, "--work-tree", w])
            .args(args)
            .current_dir(data)
            .env("GIT_AUTHOR_NAME", "bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.com")
            .env("GIT_COMMITTER_NAME", "bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.com");
        c
    };
    let twin = |args: &[&str]| {
        let out = twin_cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    twin(&["init", "-q", "-b", "main"]);
    twin(&["config", "core.untrackedCache", "true"]);
    // No background `gc --auto` competing with what is measured.
    twin(&["config", "gc.auto", "0"]);
    twin(&["config", "maintenance.auto", "false"]);
    let mut index = twin_cmd(&["update-index", "--add", "--info-only", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut out = std::io::BufWriter::new(index.stdin.take().unwrap());
        for i in 0..n {
            writeln!(out, "{}", file_path(Path::new(""), i, shape).display()).unwrap();
        }
        out.flush().unwrap();
    }
    assert!(index.wait().unwrap().success(), "git update-index");
    let tree = twin(&["write-tree", "--missing-ok"]);
    let commit = twin(&["commit-tree", tree.trim(), "-m", "files"]);
    twin(&["update-ref", "refs/heads/main", commit.trim()]);
    twin(&["update-index", "--untracked-cache"]);
    twin(&["status", "--porcelain"]);
    fs::write(&marker, b"").unwrap();
    gitdir
}

pub(super) fn scale_workloads(ctx: &Ctx, o: &Opts) -> Vec<Row> {
    let n = o.scale_files;
    let root = o.dir.join("scale-s3");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    let server = s3_server::S3Server::start_in(&root);
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for shape in &o.scale_shapes {
        assert!(
            shape == "flat" || shape == "nested",
            "--scale-shapes takes flat and nested, not {shape}"
        );
        let with_dvc = ctx.dvc.is_some() && n <= 200_000;
        let tools: Vec<Tool> = ctx
            .tools()
            .into_iter()
            .filter(|&t| t == Tool::Dv || with_dvc)
            .collect();
        let label = |step: &str| format!("{shape} {n}: {step}");
        let mut add = Row::new(label("add"));
        let mut status = Row::new(label("status, unchanged"));
        let mut git_status = Vec::new();
        let mut edit_add = Row::new(label("edit 1 file, add"));
        let mut push_all = Row::new(label("push all to S3"));
        let mut push_edit = Row::new(label("push after a 1-file edit"));
        let mut checkout = Row::new(label("checkout --rev, 1 file differs"));
        let mut pull = Row::new(label("pull into a fresh clone"));
        for &t in &tools {
            let suffix = if t == Tool::Dv { "" } else { "-dvc" };
            let repo = o.dir.join(format!("scale-{shape}-{n}{suffix}"));
            let data = repo.join("data");
            make_files(&data, n, shape);
            if t == Tool::Dv {
                let gitdir = git_twin(&data, n, shape);
                let (g, w) = (gitdir.to_str().unwrap(), data.to_str().unwrap());
                for _ in 0..o.runs {
                    git_status.push(run(
                        &data,
                        Path::new("git"),
                        &["--git-dir", g, "--work-tree", w, "status", "--porcelain"],
                    ));
                }
            }
            warm(&data);
            for _ in 0..o.runs {
                reset_repo(ctx, t, &repo);
                settle_disk();
                add.push(t, ctx.add(t, &repo, "data"));
            }
            commit(&repo, "v1");
            for _ in 0..o.runs {
                status.push(t, ctx.status(t, &repo));
            }
            let (url, bucket_dir) = {
                let name = format!("{shape}-{}", if t == Tool::Dv { "dv" } else { "dvc" });
                let _ = fs::remove_dir_all(server.bucket_dir(&name));
                (server.bucket(&name), server.bucket_dir(&name))
            };
            ctx.add_s3_remote(t, &repo, &url, &server.endpoint());
            commit(&repo, "remote");
            settle_disk();
            push_all.push(t, ctx.push(t, &repo));
            let clone = o.dir.join(format!("scale-clone{suffix}"));
            fresh_clone(&repo, &clone);
            settle_disk();
            pull.push(t, ctx.pull(t, &clone));
            let pulled = fs::read_dir(clone.join("data")).unwrap().count();
            let _ = fs::remove_dir_all(&clone);
            assert_eq!(
                pulled,
                fs::read_dir(&data).unwrap().count(),
                "{shape}: a fresh clone pulled the wrong number of entries"
            );
            if t == Tool::Dvc {
                continue;
            }
            // One-file edits, each added and committed.
            let mut edited = Vec::new();
            let mut growth = Vec::new();
            for r in 0..o.runs {
                let i = (r * 7919 + 12_345) % n;
                edited.push((i, edit_one(&data, i, shape, 1000 + r as u64)));
                let before = ctx.store_bytes(t, &repo);
                settle_disk();
                edit_add.push(t, ctx.add(t, &repo, "data"));
                growth.push(ctx.store_bytes(t, &repo) - before);
                commit(&repo, &format!("edit {r}"));
            }
            let i = (o.runs * 7919 + 12_345) % n;
            edited.push((i, edit_one(&data, i, shape, 999)));
            ctx.add(t, &repo, "data");
            commit(&repo, "edit to push");
            let before = dir_bytes(&bucket_dir);
            push_edit.push(t, ctx.push(t, &repo));
            let sent = dir_bytes(&bucket_dir) - before;
            for _ in 0..o.runs {
                checkout.push(t, run(&repo, &ctx.dv, &["checkout", "--rev", "HEAD~1"]));
                checkout.push(t, run(&repo, &ctx.dv, &["checkout"]));
            }
            restore(&data, shape, &edited);
            let _ = fs::remove_dir_all(&bucket_dir);
            notes.push(format!(
                "{shape} {n}: store growth per one-file edit {growth:?} B; the remote grew {sent} B for one \
                 more edit"
            ));
        }
        let (dv_status, git) = (
            median(status.dv.iter().map(|m| m.secs).collect()),
            median(git_status.iter().map(|m| m.secs).collect()),
        );
        notes.push(format!(
            "{shape} {n}: dv status {dv_status:.3} s, git status {git:.3} s ({:.1} MiB) on the same files: \
             {:.2}x",
            git_status.iter().map(|m| m.max_rss_kib).max().unwrap_or(0) as f64 / 1024.0,
            dv_status / git
        ));
        rows.extend([add, status, edit_add, push_all, push_edit, checkout, pull]);
    }
    println!();
    for note in notes {
        println!("{note}");
    }
    rows
}
