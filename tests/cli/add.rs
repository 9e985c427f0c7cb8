use crate::common::*;

#[test]
fn add_writes_pointer_and_gitignore() {
    let r = TestRepo::new();
    r.write("data/a.txt", b"hello");
    let out = r.json(&["add", "data"]);
    assert_eq!(out["datasets"][0]["path"], "data");
    assert_eq!(out["datasets"][0]["files"], 1);
    assert_eq!(out["datasets"][0]["changed"], true);
    let pointer = String::from_utf8(r.read("data.dv")).unwrap();
    assert!(
        pointer.contains("kind = \"tree\"\n") && pointer.contains("size = 5\nfiles = 1\n"),
        "{pointer}"
    );
    assert_eq!(r.read(".gitignore"), b"/data\n");
    // Git ignores the data and has the pointer and .gitignore staged.
    let status = r.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert!(
        status.contains("A  data.dv\n") && status.contains("A  .gitignore\n"),
        "{status}"
    );
    assert!(!status.contains("data/a.txt"), "{status}");
}

#[test]
fn add_then_commit_leaves_git_clean_and_consistent() {
    let r = TestRepo::new();
    r.git(&["add", ".dv"]);
    r.write("data/a.txt", b"hello");
    r.write("sub/model.bin", &bytes(1, 300_000));
    r.ok(&["add", "data", "sub/model.bin"]);
    r.git(&["commit", "-q", "-m", "v1"]);
    assert_eq!(
        r.git(&["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
    let files = r.git(&["ls-files"]);
    assert_eq!(
        files,
        ".dv/.gitignore\n.dv/config.toml\n.gitattributes\n.gitignore\ndata.dv\nsub/.gitignore\nsub/model.bin.dv\n"
    );
    r.git(&["fsck", "--strict"]);
    // The blob Git stored is the pointer file, byte for byte.
    assert_eq!(
        r.git(&["show", "HEAD:data.dv"]).as_bytes(),
        r.read("data.dv")
    );

    // A second version: staged again, committed, clean.
    r.write("data/a.txt", b"hello again");
    r.ok(&["add", "data"]);
    assert_eq!(r.git(&["status", "--porcelain"]), "M  data.dv\n");
    r.git(&["commit", "-q", "-m", "v2"]);
    assert_eq!(
        r.git(&["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
}

/// After `dv add --no-stage s/f` the hint said `git add s/f.dv .gitignore`, but the `.gitignore` written was
/// `s/.gitignore` (adversarial review): Git refused the command. The hint names the files written, each a word
/// the shell reads back, and running it leaves nothing of the add unrecorded.
#[test]
fn the_no_stage_hint_names_the_files_add_wrote() {
    let r = TestRepo::new();
    r.git(&["add", ".dv"]);
    r.git(&["commit", "-qm", "init"]);
    r.write("s/f.bin", b"one");
    r.write("s/my data.bin", b"two");
    let out = r.dv(&["add", "--no-stage", "s/f.bin", "s/my data.bin"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let hint = err
        .lines()
        .find_map(|l| l.strip_prefix("To record this version: "))
        .unwrap_or_else(|| panic!("no hint: {err}"));
    assert_eq!(
        hint, "git add .gitattributes s/.gitignore s/f.bin.dv 's/my data.bin.dv' && git commit",
        "{err}"
    );
    let json = r.json(&["add", "--no-stage", "s/f.bin"]);
    assert_eq!(
        json["not_staged"],
        serde_json::json!([".gitattributes", "s/.gitignore", "s/f.bin.dv"]),
        "{json}"
    );
    let run = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{hint} -qm v1"))
        .current_dir(r.path())
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        r.git(&["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
}

#[test]
fn no_stage_leaves_the_index_alone() {
    let r = TestRepo::new();
    r.write("data/a.txt", b"hello");
    r.ok(&["add", "--no-stage", "data"]);
    let status = r.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert!(
        status.contains("?? data.dv\n") && status.contains("?? .gitignore\n"),
        "{status}"
    );
    r.write(".dv/config.toml", b"[core]\nformat = 1\nstage = false\n");
    r.write("other.bin", b"x");
    r.ok(&["add", "other.bin"]);
    assert!(
        r.git(&["status", "--porcelain"])
            .contains("?? other.bin.dv\n")
    );
}

#[test]
fn data_already_tracked_by_git_is_refused() {
    let r = TestRepo::new();
    r.write("data/a.txt", b"hello");
    r.git(&["add", "data/a.txt"]);
    let err = r.fails(&["add", "data"]);
    assert!(err.contains("Git already tracks 'data/a.txt'"), "{err}");
    assert!(err.contains("git rm -r --cached data"), "{err}");
    assert!(!r.p("data.dv").exists());
}

#[test]
fn single_file_pointer_id_is_the_blake3_of_a_small_file() {
    let r = TestRepo::new();
    r.write("models/m.bin", b"hello");
    r.ok(&["add", "models/m.bin"]);
    let pointer = String::from_utf8(r.read("models/m.bin.dv")).unwrap();
    // b3sum of "hello": small files are one chunk, named by their own hash.
    assert!(
        pointer.contains("ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f"),
        "{pointer}"
    );
    assert_eq!(r.read("models/.gitignore"), b"/m.bin\n");
}

#[test]
fn gitignore_entries_are_appended_once() {
    let r = TestRepo::new();
    r.write(".gitignore", b"*.log");
    r.write("a.bin", b"1");
    r.write("b c.bin", b"2");
    r.ok(&["add", "a.bin", "b c.bin"]);
    r.ok(&["add", "a.bin"]);
    assert_eq!(
        String::from_utf8(r.read(".gitignore")).unwrap(),
        "*.log\n/a.bin\n/b c.bin\n"
    );
    let ignored = r.git(&["check-ignore", "a.bin", "b c.bin"]);
    assert_eq!(ignored, "a.bin\nb c.bin\n");
}

#[test]
fn re_adding_unchanged_data_hashes_and_writes_nothing() {
    let r = TestRepo::new();
    for i in 0..30 {
        r.write(
            &format!("data/d{}/f{i}.bin", i % 4),
            &bytes(i, 1000 + i as usize * 300),
        );
    }
    r.settle();
    let first = r.json(&["add", "data"]);
    assert_eq!(first["hashed_files"], 30);
    assert!(first["new_objects"].as_u64().unwrap() >= 30);
    let pointer = r.read("data.dv");
    let packs_before = count_files(&r.p(".dv/cache/packs"));

    let second = r.json(&["add", "data"]);
    assert_eq!(
        second["hashed_files"], 0,
        "the stat cache vouches for every file"
    );
    assert_eq!(second["new_objects"], 0);
    assert_eq!(second["datasets"][0]["changed"], false);
    assert_eq!(r.read("data.dv"), pointer);
    assert_eq!(count_files(&r.p(".dv/cache/packs")), packs_before);
}

#[test]
fn touched_but_identical_files_are_rehashed_and_store_nothing() {
    let r = TestRepo::new();
    r.write("data/a", &bytes(1, 5000));
    r.write("data/b", &bytes(2, 5000));
    r.settle();
    r.ok(&["add", "data"]);
    r.write("data/a", &bytes(1, 5000)); // same bytes, new mtime
    r.settle();
    let out = r.json(&["add", "data"]);
    assert_eq!(out["hashed_files"], 1);
    assert_eq!(out["new_objects"], 0);
    assert_eq!(out["datasets"][0]["changed"], false);
}

#[test]
fn a_new_version_of_a_large_file_stores_only_changed_chunks() {
    let r = TestRepo::new();
    let mut data = bytes(9, 8 << 20);
    r.write("big.bin", &data);
    let first = r.json(&["add", "big.bin"]);
    let first_stored = first["new_stored_bytes"].as_u64().unwrap();
    assert_eq!(first["datasets"][0]["kind"], "chunked");
    assert!(first_stored >= 8 << 20, "random data does not compress");

    // Overwrite 1 KiB in the middle and insert 10 KiB near the start.
    data[4_000_000..4_001_024].fill(0xAB);
    let insert = bytes(77, 10_240);
    data.splice(100_000..100_000, insert);
    r.write("big.bin", &data);
    let second = r.json(&["add", "big.bin"]);
    let second_stored = second["new_stored_bytes"].as_u64().unwrap();
    // Two edits touch a few chunks (each at most 256 KiB) plus a new manifest.
    assert!(
        second_stored < 1_200_000,
        "stored {second_stored} bytes for a small edit"
    );
    assert!(second["new_objects"].as_u64().unwrap() <= 8);
}

#[test]
fn add_works_from_a_subfolder_with_relative_paths() {
    let r = TestRepo::new();
    r.write("proj/data/x.csv", b"a,b\n1,2\n");
    let out = r.dv_in("proj", &["add", "data", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(r.p("proj/data.dv").is_file());
    assert_eq!(r.read("proj/.gitignore"), b"/data\n");
}

#[test]
fn compressible_data_is_stored_compressed() {
    let r = TestRepo::new();
    let text: Vec<u8> = (0..200_000)
        .flat_map(|i| format!("row {i}, value {}\n", i % 97).into_bytes())
        .collect();
    r.write("t.csv", &text);
    let out = r.json(&["add", "t.csv"]);
    let stored = out["new_stored_bytes"].as_u64().unwrap();
    assert!(
        stored * 3 < text.len() as u64,
        "stored {stored} of {}",
        text.len()
    );
}

fn count_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        n += if p.is_dir() { count_files(&p) } else { 1 };
    }
    n
}

/// Runs `dv add` paused once it has read a file's last block (the `add-read-done` hold point), calls
/// `meanwhile`, lets it go on, and returns its output.
fn add_paused_after_reading(
    r: &TestRepo,
    path: &str,
    meanwhile: impl FnOnce(),
) -> std::process::Output {
    let flags = tempfile::tempdir().unwrap();
    let flag = flags.path().join("flag");
    let child = dv_command(r.path())
        .env("DV_HOLD_AT", format!("add-read-done:{}", flag.display()))
        .args(["add", path])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let reached = flags.path().join("flag.reached");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !reached.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "dv add never reached its hold point"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    meanwhile();
    std::fs::write(flags.path().join("flag.go"), b"").unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_file_written_while_add_reads_it_gets_no_pointer() {
    let r = TestRepo::new();
    let original = bytes(7, 3 << 20);
    // Rewritten with other bytes of the same size (only its times change), or grown.
    let same_size = bytes(8, 3 << 20);
    let mut grown = original.clone();
    grown.extend_from_slice(b"more");
    for (case, edit) in [("rewritten", &same_size), ("grown", &grown)] {
        r.write("model.bin", &original);
        let out = add_paused_after_reading(&r, "model.bin", || r.write("model.bin", edit));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{case}: {stderr}");
        assert!(
            stderr.contains("model.bin changed while dv was reading it")
                && stderr.contains("hint:"),
            "{case}: {stderr}"
        );
        assert!(
            !r.p("model.bin.dv").exists(),
            "{case}: a pointer was written"
        );
        assert!(
            !r.git(&["status", "--porcelain"]).contains(".gitignore"),
            "{case}"
        );
    }
    // Once the file is still, it adds and checks out bit for bit, and fsck is clean.
    r.ok(&["add", "model.bin"]);
    std::fs::remove_file(r.p("model.bin")).unwrap();
    r.ok(&["checkout", "model.bin"]);
    assert_eq!(r.read("model.bin"), grown);
    r.ok(&["fsck"]);
}

#[test]
fn a_file_left_alone_while_add_pauses_is_added() {
    // The pause hook itself changes nothing: the same add, paused but not edited, succeeds.
    let r = TestRepo::new();
    r.write("model.bin", &bytes(9, 1 << 20));
    let out = add_paused_after_reading(&r, "model.bin", || {});
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(r.p("model.bin.dv").exists());
}

#[test]
fn fsck_names_a_pointer_that_disagrees_with_its_object() {
    let r = TestRepo::new();
    r.write("model.bin", &bytes(1, 300_000));
    r.write("small.txt", b"hello");
    r.write("data/a.txt", b"aaaa");
    r.write("data/sub/b.txt", b"bbbbbb");
    r.ok(&["add", "model.bin", "small.txt", "data"]);
    assert_eq!(r.dv(&["fsck"]).status.code(), Some(0));
    let edit = |rel: &str, from: &str, to: &str| {
        let text = String::from_utf8(r.read(rel)).unwrap();
        assert!(text.contains(from), "{rel}: {text}");
        r.write(rel, text.replace(from, to).as_bytes());
    };
    // A chunked file, a one-chunk file and a folder, each declared one byte or one file off.
    edit("model.bin.dv", "size = 300000\n", "size = 300001\n");
    edit("small.txt.dv", "size = 5\n", "size = 4\n");
    edit("data.dv", "files = 2\n", "files = 3\n");
    let out = r.dv(&["fsck", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = report["problems"].as_array().unwrap();
    let mut said: Vec<(String, String)> = problems
        .iter()
        .map(|p| {
            assert_eq!(p["problem"], "mismatch", "{p}");
            (
                p["dataset"].as_str().unwrap().to_string(),
                p["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    said.sort();
    assert_eq!(said.len(), 3, "{said:?}");
    assert!(
        said[0].1.starts_with("data.dv says 10 bytes in 3 file(s)"),
        "{said:?}"
    );
    assert!(
        said[1].1.starts_with("model.bin.dv says 300001 bytes"),
        "{said:?}"
    );
    assert!(
        said[2].1.starts_with("small.txt.dv says 4 bytes"),
        "{said:?}"
    );
    let text = String::from_utf8(r.dv(&["fsck"]).stdout).unwrap();
    assert!(text.contains("mismatch object"), "{text}");
    // Checkout says the pointer disagrees with its data, not that the cache is damaged.
    std::fs::remove_file(r.p("small.txt")).unwrap();
    let err = r.fails(&["checkout", "small.txt"]);
    assert!(
        err.contains("'small.txt' is declared as 4 bytes, but the data stored for it holds 5")
            && err.contains("`dv fsck` names the pointer file"),
        "{err}"
    );
}

/// `-q` means no output but errors: `dv add -q` printed its "Added …" lines on stdout.
#[test]
fn add_quiet_prints_nothing() {
    let r = TestRepo::new();
    r.write("data/a", b"a");
    r.write("f.bin", b"f");
    let out = r.dv(&["-q", "add", "data", "f.bin"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    // And the JSON report is still printed when asked for.
    r.write("f.bin", b"g");
    assert_eq!(
        r.json(&["-q", "add", "f.bin"])["datasets"][0]["changed"],
        true
    );
}
