//! Annotations (`dv add --meta`, `dv meta`, shown by `dv log`) and per-version storage cost (`dv du`), checked
//! against what Git holds and against the cache's pack files, read here without dv.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::*;

/// Every stored object in the cache's pack files, as (id, stored length), parsed from the pack bytes
/// (docs/format.md, "Pack file"), independently of dv's indexes and database.
fn pack_entries(root: &Path) -> Vec<([u8; 32], u64)> {
    let mut out = Vec::new();
    let packs = root.join(".dv/cache/packs");
    let mut stack = vec![packs];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "pack") {
                let b = std::fs::read(&p).unwrap();
                assert_eq!(&b[..4], b"DVPK");
                let mut at = 8;
                while at < b.len() {
                    let id: [u8; 32] = b[at..at + 32].try_into().unwrap();
                    let stored = u32::from_le_bytes(b[at + 40..at + 44].try_into().unwrap()) as u64;
                    out.push((id, stored));
                    at += 44 + stored as usize;
                }
                assert_eq!(at, b.len(), "{}", p.display());
            }
        }
    }
    out
}

/// Stored bytes of every object in the cache, each object once.
fn cache_stored(root: &Path) -> u64 {
    let mut entries = pack_entries(root);
    entries.sort();
    entries.dedup_by_key(|e| e.0);
    entries.iter().map(|e| e.1).sum()
}

fn meta_of(v: &Value) -> Value {
    v.get("meta").cloned().unwrap_or(json!({}))
}

#[test]
fn annotations_are_set_shown_kept_by_add_and_logged() {
    let r = TestRepo::new();
    r.git(&["add", ".dv"]);
    r.write("data/a.bin", &bytes(1, 50_000));
    let added = r.json(&[
        "add",
        "data",
        "--meta",
        "owner=ana",
        "--meta",
        "description=clicks, \"cleaned\"",
        "--meta",
        "metrics.f1=0.91",
    ]);
    assert_eq!(
        added["datasets"][0]["meta"],
        json!({"owner": "ana", "description": "clicks, \"cleaned\"", "metrics.f1": "0.91"})
    );
    let pointer = String::from_utf8(r.read("data.dv")).unwrap();
    assert!(
        pointer.ends_with(
            "\n[meta]\ndescription = 'clicks, \"cleaned\"'\n\"metrics.f1\" = \"0.91\"\nowner = \"ana\"\n"
        ),
        "{pointer}"
    );
    // Staged as written.
    assert_eq!(r.git(&["show", ":data.dv"]), pointer);

    // set / unset / show: only the pointer file changes, and it is staged.
    let data_before = snapshot(&r.p("data"));
    let packs_before = pack_entries(r.path()).len();
    let set = r.json(&["meta", "set", "data.dv", "license=CC-BY-4.0", "owner=bo"]);
    assert_eq!(set["changed"], true);
    assert_eq!(set["staged"], true);
    assert_eq!(set["meta"]["owner"], "bo");
    assert_eq!(set["meta"]["license"], "CC-BY-4.0");
    let unset = r.json(&["meta", "unset", "data", "description", "no-such-key"]);
    assert_eq!(unset["absent"], json!(["no-such-key"]));
    let shown = r.json(&["meta", "show", "data"]);
    let want_v1 = json!({"license": "CC-BY-4.0", "metrics.f1": "0.91", "owner": "bo"});
    assert_eq!(shown["meta"], want_v1);
    assert_eq!(shown["pointer"], "data.dv");
    assert_eq!(
        r.ok(&["meta", "show", "data"]),
        "license = CC-BY-4.0\nmetrics.f1 = 0.91\nowner = bo\n"
    );
    assert_eq!(snapshot(&r.p("data")), data_before);
    assert_eq!(pack_entries(r.path()).len(), packs_before);
    let pointer = String::from_utf8(r.read("data.dv")).unwrap();
    assert_eq!(r.git(&["show", ":data.dv"]), pointer);
    assert!(pointer.contains("license = \"CC-BY-4.0\"\n"), "{pointer}");
    assert!(!pointer.contains("description"), "{pointer}");
    // Setting what is already set rewrites nothing.
    let again = r.json(&["meta", "set", "data", "owner=bo"]);
    assert_eq!(again["changed"], false);
    r.git(&["commit", "-q", "-m", "data v1"]);
    assert_eq!(r.git(&["show", "HEAD:data.dv"]), pointer);

    // A new version keeps the annotations; --meta merges into them.
    r.write("data/b.bin", &bytes(2, 30_000));
    r.ok(&["add", "data"]);
    assert_eq!(r.json(&["meta", "show", "data"])["meta"], want_v1);
    r.write("data/c.bin", &bytes(3, 30_000));
    r.ok(&["add", "data", "--meta", "stage=v2", "--meta", "owner=cy"]);
    let want_v2 =
        json!({"license": "CC-BY-4.0", "metrics.f1": "0.91", "owner": "cy", "stage": "v2"});
    assert_eq!(r.json(&["meta", "show", "data"])["meta"], want_v2);
    r.git(&["commit", "-q", "-m", "data v2"]);
    // And one without any (all removed).
    r.ok(&[
        "meta",
        "unset",
        "data",
        "license",
        "metrics.f1",
        "owner",
        "stage",
    ]);
    assert!(
        !String::from_utf8(r.read("data.dv"))
            .unwrap()
            .contains("[meta]")
    );
    r.git(&["commit", "-q", "-m", "no notes"]);

    // The log shows each version's annotations; --rev reads an older pointer.
    let log = r.json(&["log", "data"]);
    let versions = log[0]["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 3);
    assert_eq!(meta_of(&versions[0]), json!({}));
    assert_eq!(meta_of(&versions[1]), want_v2);
    assert_eq!(meta_of(&versions[2]), want_v1);
    let text = r.ok(&["log", "data"]);
    assert!(
        text.contains("      meta: license=CC-BY-4.0 metrics.f1=0.91 owner=cy stage=v2\n"),
        "{text}"
    );
    assert_eq!(
        r.json(&["meta", "show", "data", "--rev", "HEAD~2"])["meta"],
        want_v1
    );
    assert!(
        r.git(&["show", "HEAD~1:data.dv"])
            .ends_with("\n[meta]\nlicense = \"CC-BY-4.0\"\n\"metrics.f1\" = \"0.91\"\nowner = \"cy\"\nstage = \"v2\"\n")
    );
}

#[test]
fn multi_line_values_round_trip_and_show_escaped() {
    let r = TestRepo::new();
    r.write("f.txt", b"hello");
    r.ok(&["add", "f.txt"]);
    let value = "line one\nline two\twith a tab, 'quotes' and \"more\" \\ ";
    r.ok(&["meta", "set", "f.txt", &format!("description={value}")]);
    assert_eq!(
        r.json(&["meta", "show", "f.txt"])["meta"]["description"],
        value
    );
    assert_eq!(
        r.ok(&["meta", "show", "f.txt"]),
        "description = \"line one\\nline two\\twith a tab, \\'quotes\\' and \\\"more\\\" \\\\ \"\n"
    );
    // The pointer stays valid for every other command.
    r.ok(&["status"]);
    r.ok(&["checkout"]);
    assert_eq!(r.read("f.txt"), b"hello");
}

#[test]
fn bad_annotations_and_paths_are_clear_errors() {
    let r = TestRepo::new();
    r.write("data/a.bin", &bytes(1, 1000));
    r.ok(&["add", "data"]);
    let before = r.read("data.dv");
    for (args, want) in [
        (vec!["meta", "set", "data", "owner"], "expected KEY=VALUE"),
        (vec!["meta", "set", "data", "=x"], "cannot be empty"),
        (vec!["meta", "set", "data", "a b=c"], "may only hold"),
        (
            vec!["meta", "set", "data", "db_password=x"],
            "looks like a secret",
        ),
        (
            vec!["meta", "set", "data", "api_key=x"],
            "looks like a secret",
        ),
        (
            vec!["meta", "set", "data", "note=AKIAIOSFODNN7EXAMPLE"],
            "looks like a credential",
        ),
        (
            vec!["meta", "set", "data", "bell=\u{7}"],
            "control characters",
        ),
        (
            vec!["meta", "set", "nothing", "a=b"],
            "'nothing' is not tracked by dv",
        ),
        (
            vec!["meta", "show", "nothing"],
            "'nothing' is not tracked by dv",
        ),
        (
            vec!["meta", "set", "data/a.bin", "a=b"],
            "inside dataset 'data'",
        ),
        (
            vec!["meta", "unset", "data/a.bin", "a"],
            "inside dataset 'data'",
        ),
        (
            vec!["add", "data", "--meta", "token=x"],
            "looks like a secret",
        ),
        (vec!["add", "data", "--meta", "x"], "expected KEY=VALUE"),
    ] {
        let err = r.fails(&args);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let big = format!("big={}", "v".repeat(4097));
    assert!(
        r.fails(&["meta", "set", "data", &big])
            .contains("more than 4096")
    );
    let many: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
    let mut args = vec!["meta", "set", "data"];
    args.extend(many.iter().map(String::as_str));
    assert!(r.fails(&args).contains("more than 64"));
    // Each failure left the pointer as it was.
    assert_eq!(r.read("data.dv"), before);
    // A refused --meta stores nothing and writes no pointer.
    r.write("new.bin", &bytes(9, 100_000));
    let packs = pack_entries(r.path()).len();
    r.fails(&["add", "new.bin", "--meta", "secret=x"]);
    assert!(!r.p("new.bin.dv").exists());
    assert_eq!(pack_entries(r.path()).len(), packs);
    // A hand-edited pointer with a bad annotation is refused by name.
    let mut bad = before.clone();
    bad.extend_from_slice(b"\n[meta]\nn = 3\n");
    std::fs::write(r.p("data.dv"), bad).unwrap();
    let err = r.fails(&["meta", "show", "data"]);
    assert!(err.contains("data.dv"), "{err}");
}

/// Everything dv writes into a committed file (annotations in a pointer, a step's command line, a remote's
/// settings) is checked by one secret detector, so a secret that one of them refuses, all of them refuse
/// (adversarial review: `meta set` and `run` took URL passwords, signed URLs, JWTs and Slack tokens that
/// `remote add` refused).
#[test]
fn every_committed_file_refuses_the_same_secrets() {
    let r = TestRepo::new();
    r.write("data/a.bin", &bytes(1, 1000));
    r.ok(&["add", "data"]);
    let store = r.path().join("store");
    r.ok(&["remote", "add", "origin", store.to_str().unwrap()]);
    let config = r.read(".dv/config.toml");
    let pointer = r.read("data.dv");
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLWJ5dGVz";
    let secrets = [
        "postgres://ana:hunter2@db.example/prod".to_string(),
        "https://acct.blob.core.windows.net/c/x?sv=2022-11-02&sig=abcd".to_string(),
        "https://bucket.s3.amazonaws.com/k?X-Amz-Credential=A%2Fb&X-Amz-Signature=0a1b".to_string(),
        jwt.to_string(),
        format!("Bearer {jwt}"),
        "xoxb-1234567890-0987654321-abcdefghijABCDEFGHIJ".to_string(),
        "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXX".to_string(),
        "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH".to_string(),
        // Second adversarial pass: assignments, headers, fragments, scp-style logins.
        "DB_PASSWORD=hunter2".to_string(),
        "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_string(),
        "X-Api-Key: 8f3a9c1b2d4e5f60718293a4b5c6d7e8".to_string(),
        "https://example.com/cb#access_token=abcdef0123456789".to_string(),
        "ana:Hunter2Secret@host:/data".to_string(),
    ];
    for secret in &secrets {
        let note = format!("note={secret}");
        for args in [
            vec!["meta", "set", "data", note.as_str()],
            vec!["add", "data", "--meta", note.as_str()],
        ] {
            let err = r.fails(&args);
            assert!(err.contains("looks like a credential"), "{args:?}: {err}");
            assert!(
                !err.contains(secret.as_str()),
                "the error repeats the secret: {err}"
            );
        }
        let as_option = format!("--source={secret}");
        for arg in [secret.as_str(), as_option.as_str()] {
            let err = r.fails(&["run", "-n", "leak", "-o", "out", "--", "echo", arg]);
            assert!(err.contains("looks like a credential"), "{arg}: {err}");
            assert!(
                !err.contains(secret.as_str()),
                "the error repeats the secret: {err}"
            );
        }
        let err = r.fails(&["remote", "modify", "origin", "endpoint", secret]);
        assert!(err.contains("is committed"), "{secret}: {err}");
        assert!(
            !err.contains(secret.as_str()),
            "the error repeats the secret: {err}"
        );
        if secret.contains("://") {
            let err = r.fails(&["remote", "add", "leak", secret]);
            assert!(err.contains("is committed"), "{secret}: {err}");
        }
    }
    // A step records its parameters' values: a parameter named like a credential, or holding one, is refused
    // before the command runs (`dv run` and `dv repro` record through the same code).
    r.write(
        "params.toml",
        format!("[db]\npassword = \"x\"\nurl = \"postgres://ana:hunter2@db/prod\"\n[train]\nlr = 0.1\nsecrets = {{ k = \"{jwt}\" }}\n").as_bytes(),
    );
    for param in [
        "params.toml:db.password",
        "params.toml:db.url",
        "params.toml:train",
    ] {
        let err = r.fails(&[
            "run", "-n", "leak", "-p", param, "-o", "out", "--", "touch", "out",
        ]);
        assert!(err.contains("looks like a credential"), "{param}: {err}");
        assert!(!err.contains("hunter2") && !err.contains(jwt), "{err}");
    }
    // Nothing was written: the pointer is as it was, no step file, no output.
    assert_eq!(r.read("data.dv"), pointer);
    assert_eq!(r.read(".dv/config.toml"), config);
    assert!(!r.path().join(".dv/steps/leak.toml").exists());
    assert!(!r.path().join("out").exists());
    // Names are matched by whole words, and values that only look alike are fine.
    r.ok(&[
        "meta",
        "set",
        "data",
        "tokenizer=bert-base",
        "sort_key=user_id",
        "label_key=label",
        "token_count=512",
        "source=https://example.org/d?row=3",
    ]);
    r.ok(&[
        "run",
        "-n",
        "fine",
        "-o",
        "fine.txt",
        "--",
        "sh",
        "-c",
        "echo ok > fine.txt",
        "--max-tokens=5",
        "--text-key",
        "text",
    ]);
}

#[test]
fn du_charges_each_version_what_it_adds_to_the_cache() {
    let r = TestRepo::new();
    r.git(&["add", ".dv"]);
    // v1: 3 MB of random bytes (incompressible). v2: v1 + 100 KB appended. v3: v2 + 1 MB of repetitive,
    // compressible text.
    let v1 = bytes(7, 3_000_000);
    let mut v2 = v1.clone();
    v2.extend_from_slice(&bytes(8, 100_000));
    let mut v3 = v2.clone();
    for i in 0..25_000 {
        v3.extend_from_slice(format!("row {:06},label,{}\n", i, i % 7).as_bytes());
    }
    let mut measured = Vec::new();
    let mut commits = Vec::new();
    for (i, v) in [&v1, &v2, &v3].iter().enumerate() {
        r.write("big.bin", v);
        r.ok(&["add", "big.bin"]);
        r.git(&["commit", "-q", "-m", &format!("big v{}", i + 1)]);
        measured.push(cache_stored(r.path()));
        commits.push(r.git(&["rev-parse", "HEAD"]).trim().to_string());
    }
    let sizes = [v1.len() as u64, v2.len() as u64, v3.len() as u64];

    let du = r.json(&["du", "--all-commits"]);
    assert_eq!(du["datasets"].as_array().unwrap().len(), 1);
    let d = &du["datasets"][0];
    assert_eq!(d["path"], "big.bin");
    let versions = d["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 3, "{du:#}");
    let adds: Vec<u64> = versions
        .iter()
        .map(|v| v["adds"].as_u64().unwrap())
        .collect();
    for (i, v) in versions.iter().enumerate() {
        assert_eq!(v["size"].as_u64().unwrap(), sizes[i]);
        assert_eq!(v["files"], 1);
        assert_eq!(v["kind"], "chunked");
        assert_eq!(v["commit"]["id"], commits[i].as_str());
        assert_eq!(v["unknown_objects"], 0);
    }
    // Exactly what each add grew the cache's packs by.
    assert_eq!(adds[0], measured[0]);
    assert_eq!(adds[1], measured[1] - measured[0]);
    assert_eq!(adds[2], measured[2] - measured[1]);
    // The first version costs about its size (random bytes do not compress); the append costs a little more
    // than what was appended (the old last chunk is cut again), far less than the version's size; the text
    // compresses.
    assert!(adds[0] >= sizes[0] && adds[0] < sizes[0] + 4096, "{adds:?}");
    assert!(adds[1] < sizes[1] / 4, "{adds:?}");
    assert!(adds[2] < (sizes[2] - sizes[1]) / 2, "{adds:?}");
    assert_eq!(
        d["logical_bytes"].as_u64().unwrap(),
        sizes.iter().sum::<u64>()
    );
    assert_eq!(d["stored_bytes"].as_u64().unwrap(), measured[2]);
    assert_eq!(du["versions"], 3);
    assert_eq!(
        du["logical_bytes"].as_u64().unwrap(),
        sizes.iter().sum::<u64>()
    );
    assert_eq!(du["stored_bytes"].as_u64().unwrap(), measured[2]);
    assert_eq!(du["cache_bytes"].as_u64().unwrap(), measured[2]);
    assert_eq!(du["unknown_objects"], 0);
    for key in ["scope", "objects", "cache_packs"] {
        assert!(du.get(key).is_some(), "{key}");
    }

    // One revision: its version alone, whole.
    let at_v1 = r.json(&["du", "--rev", "HEAD~2", "big.bin"]);
    assert_eq!(
        at_v1["datasets"][0]["versions"].as_array().unwrap().len(),
        1
    );
    assert_eq!(
        at_v1["datasets"][0]["versions"][0]["adds"]
            .as_u64()
            .unwrap(),
        measured[0]
    );
    assert_eq!(
        at_v1["datasets"][0]["versions"][0]["commit"]["id"],
        commits[0].as_str()
    );

    // Text: a row per version and the total.
    let text = r.ok(&["du", "--all-commits"]);
    assert!(text.starts_with("big.bin\n"), "{text}");
    assert!(text.contains(&commits[1][..10]), "{text}");
    assert!(
        text.contains("Total: 3 version(s) of 1 dataset(s)"),
        "{text}"
    );

    // An uncommitted version is listed after the commits, as the work tree's.
    let mut v4 = v3.clone();
    v4.extend_from_slice(&bytes(9, 50_000));
    r.write("big.bin", &v4);
    r.ok(&["add", "big.bin", "--no-stage"]);
    let measured4 = cache_stored(r.path());
    let du = r.json(&["du", "-A"]);
    let versions = du["datasets"][0]["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 4);
    assert_eq!(versions[3]["commit"], Value::Null);
    assert_eq!(
        versions[3]["adds"].as_u64().unwrap(),
        measured4 - measured[2]
    );

    // The default scope is the work tree: one version, its whole deduplicated size, which is exactly what
    // the cache holds once gc has dropped everything else.
    r.ok(&["gc", "--grace", "0", "--repack-below", "1"]);
    let only = cache_stored(r.path());
    let du = r.json(&["du"]);
    let versions = du["datasets"][0]["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["adds"].as_u64().unwrap(), only);
    assert_eq!(du["cache_bytes"].as_u64().unwrap(), only);

    // Older versions' objects are gone now: counted as unknown, not an error.
    let out = r.dv(&["du", "--all-commits", "--json"]);
    assert!(out.status.success());
    let du: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(du["unknown_objects"].as_u64().unwrap() >= 1, "{du:#}");
    assert_eq!(du["datasets"][0]["versions"][0]["adds"], 0);
    assert_eq!(du["stored_bytes"].as_u64().unwrap(), only);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("not in the local cache"), "{stderr}");
}

#[test]
fn du_counts_folders_and_table_objects() {
    let r = TestRepo::new();
    r.write("data/a.bin", &bytes(1, 200_000));
    r.write("data/sub/b.bin", &bytes(2, 10_000));
    r.ok(&["add", "data"]);
    let mut csv = String::from("id,name\n");
    for i in 0..2000 {
        csv.push_str(&format!("{i},name {i}\n"));
    }
    r.write("t.csv", csv.as_bytes());
    r.ok(&["add", "t.csv", "--key", "id"]);
    let du = r.json(&["du"]);
    let ds = du["datasets"].as_array().unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(ds[0]["path"], "data");
    assert_eq!(ds[0]["versions"][0]["files"], 2);
    assert_eq!(ds[0]["versions"][0]["size"], 210_000);
    assert_eq!(ds[1]["path"], "t.csv");
    // Everything the cache holds is reached, table header and row tree included.
    let total = cache_stored(r.path());
    let sum: u64 = ds
        .iter()
        .map(|d| d["versions"][0]["adds"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, total);
    assert_eq!(du["stored_bytes"].as_u64().unwrap(), total);
    assert_eq!(
        du["objects"].as_u64().unwrap(),
        pack_entries(r.path()).len() as u64
    );
    // A path names its dataset; one not tracked anywhere is an error.
    let one = r.json(&["du", "data/sub"]);
    assert_eq!(one["datasets"].as_array().unwrap().len(), 1);
    assert!(r.fails(&["du", "nothing"]).contains("not tracked"));
}

#[test]
fn a_path_below_a_tracked_file_is_not_an_io_error() {
    // Reading `f.bin/x.dv` failed with "Not a directory" before, in every command resolving paths.
    let r = TestRepo::new();
    r.write("f.bin", &bytes(1, 1000));
    r.ok(&["add", "f.bin"]);
    let err = r.fails(&["meta", "set", "f.bin/x", "a=b"]);
    assert!(err.contains("inside dataset 'f.bin'"), "{err}");
    assert!(!err.contains("Not a directory"), "{err}");
    // du names the whole dataset for a path inside it, but only one the version holds.
    assert!(
        r.fails(&["du", "f.bin/x"])
            .contains("'f.bin/x' does not exist in the version")
    );
    // A path below a file that neither the version nor the work tree holds: an error naming it.
    let err = r.fails(&["status", "f.bin/x"]);
    assert!(
        err.contains("'f.bin/x' does not exist in the version"),
        "{err}"
    );
    assert!(!err.contains("Not a directory"), "{err}");
}

/// A path argument that is a URL with a password is never echoed with its password, whatever the command
/// does with it (adversarial review: `dv add 'postgres://u:pw@h/x'` printed the password in its error).
#[test]
fn a_password_in_a_path_argument_is_never_printed() {
    let r = TestRepo::new();
    for args in [
        vec!["add", "postgres://user:Hunter2Secret@h/x"],
        vec!["checkout", "https://user:Hunter2Secret@h/x"],
        vec!["status", "ana:Hunter2Secret@host:/data"],
        vec![
            "run",
            "-n",
            "s",
            "-d",
            "https://user:Hunter2Secret@h/x",
            "-o",
            "o",
            "--",
            "true",
        ],
    ] {
        let out = dv_command(r.path()).args(&args).output().unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{args:?}: {all}");
        assert!(
            !all.contains("Hunter2Secret"),
            "{args:?} printed the password: {all}"
        );
    }
}

/// `meta set` of the value a key already has still stages the pointer file, as every command that writes a
/// pointer leaves it staged whether or not it changed its bytes (adversarial review: a pointer modified but not
/// staged stayed unstaged, because the unchanged value returned early). `unset` of a key that is not set too.
#[test]
fn meta_set_of_an_unchanged_value_stages_an_unstaged_pointer() {
    let r = TestRepo::new();
    r.write("data.bin", &bytes(40, 2000));
    r.ok(&["add", "data.bin"]);
    r.git(&["commit", "-qm", "data"]);
    // The pointer gains an annotation without staging it.
    r.ok(&["meta", "set", "data.bin", "owner=ana", "--no-stage"]);
    let unstaged = r.git(&["status", "--porcelain", "data.bin.dv"]);
    assert_eq!(unstaged.trim_end(), " M data.bin.dv", "{unstaged}");
    let report = r.json(&["meta", "set", "data.bin", "owner=ana"]);
    assert_eq!(report["changed"], false, "{report}");
    assert_eq!(report["staged"], true, "{report}");
    let staged = r.git(&["status", "--porcelain", "data.bin.dv"]);
    assert_eq!(staged.trim_end(), "M  data.bin.dv", "{staged}");

    r.git(&["commit", "-qm", "owner"]);
    r.ok(&["meta", "unset", "data.bin", "owner", "--no-stage"]);
    let report = r.json(&["meta", "unset", "data.bin", "owner"]);
    assert_eq!(report["changed"], false, "{report}");
    assert_eq!(report["staged"], true, "{report}");
    let staged = r.git(&["status", "--porcelain", "data.bin.dv"]);
    assert_eq!(staged.trim_end(), "M  data.bin.dv", "{staged}");
}
