//! Recorded steps: `dv run`, stale steps in `dv status`, `dv repro` (and `--check`), `dv lineage`, with a real
//! three-step pipeline of shell scripts writing real files.

use crate::common::*;
use serde_json::Value;

const PREPARE: &str = "mkdir -p data/prepared\n\
    tail -n +2 data/raw.csv | sort > data/prepared/clean.csv\n\
    wc -l < data/prepared/clean.csv | tr -d ' ' > data/prepared/count.txt\n";
const TRAIN: &str = "factor=$(grep '^factor' params.toml | cut -d= -f2 | tr -d ' ')\n\
    awk -F, -v f=\"$factor\" '{ s += $2 * f } END { print s }' data/prepared/clean.csv > model.bin\n";
const EVALUATE: &str = "printf '{\"score\": %s}\\n' \"$(cat model.bin)\" > metrics.json\n";

/// The score the pipeline should compute, worked out here independently.
fn expected_score(rows: &[(&str, i64)], factor: i64) -> String {
    format!(
        "{{\"score\": {}}}\n",
        rows.iter().map(|(_, v)| v * factor).sum::<i64>()
    )
}

fn raw_csv(rows: &[(&str, i64)]) -> Vec<u8> {
    let mut s = String::from("name,value\n");
    for (n, v) in rows {
        s.push_str(&format!("{n},{v}\n"));
    }
    s.into_bytes()
}

fn params(factor: i64) -> Vec<u8> {
    format!("[train]\nfactor = {factor}\nunused = \"x\"\n").into_bytes()
}

fn pipeline() -> TestRepo {
    let r = TestRepo::new();
    r.write("prepare.sh", PREPARE.as_bytes());
    r.write("train.sh", TRAIN.as_bytes());
    r.write("evaluate.sh", EVALUATE.as_bytes());
    r.write("params.toml", &params(2));
    r.write("data/raw.csv", &raw_csv(&[("b", 2), ("a", 1), ("c", 3)]));
    r.ok(&["add", "data/raw.csv"]);
    r.git(&["add", "."]);
    r.git(&["commit", "-q", "-m", "code and raw data"]);
    r.ok(&[
        "run",
        "-n",
        "prepare",
        "-d",
        "data/raw.csv",
        "-d",
        "prepare.sh",
        "-o",
        "data/prepared",
        "--",
        "sh",
        "prepare.sh",
    ]);
    r.ok(&[
        "run",
        "-n",
        "train",
        "-d",
        "data/prepared",
        "-d",
        "train.sh",
        "-p",
        "params.toml:train.factor",
        "-o",
        "model.bin",
        "--",
        "sh",
        "train.sh",
    ]);
    r.ok(&[
        "run",
        "-n",
        "evaluate",
        "-d",
        "model.bin",
        "-d",
        "evaluate.sh",
        "-o",
        "metrics.json",
        "--",
        "sh",
        "evaluate.sh",
    ]);
    r.git(&["commit", "-q", "-m", "pipeline"]);
    r
}

fn pointer_id(r: &TestRepo, path: &str) -> String {
    let text = String::from_utf8(r.read(&format!("{path}.dv"))).unwrap();
    let v: toml::Table = toml::from_str(&text).unwrap();
    v["id"].as_str().unwrap().to_string()
}

fn step_file(r: &TestRepo, name: &str) -> toml::Table {
    toml::from_str(&String::from_utf8(r.read(&format!(".dv/steps/{name}.toml"))).unwrap()).unwrap()
}

fn states(r: &TestRepo) -> Vec<(String, String)> {
    let v = r.json(&["status"]);
    v["steps"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap().to_string(),
                        s["state"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn actions(v: &Value) -> Vec<(String, String)> {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn run_records_steps_that_git_commits() {
    let r = pipeline();
    assert_eq!(
        r.read("metrics.json"),
        expected_score(&[("a", 1), ("b", 2), ("c", 3)], 2).as_bytes()
    );
    // Everything the steps made is committed: step files, pointers, .gitignore entries; the data is not.
    let tracked = r.git(&["ls-files"]);
    for f in [
        ".dv/steps/prepare.toml",
        ".dv/steps/train.toml",
        ".dv/steps/evaluate.toml",
        "data/prepared.dv",
        "model.bin.dv",
        "metrics.json.dv",
    ] {
        assert!(
            tracked.lines().any(|l| l == f),
            "{f} not committed:\n{tracked}"
        );
    }
    assert!(!tracked.lines().any(|l| l == "model.bin"));
    assert_eq!(r.git(&["status", "--porcelain"]), "");

    let train = step_file(&r, "train");
    assert_eq!(train["command"].as_array().unwrap().len(), 2);
    assert_eq!(train["outs"][0]["path"].as_str(), Some("model.bin"));
    assert_eq!(
        train["outs"][0]["id"].as_str().unwrap(),
        pointer_id(&r, "model.bin")
    );
    assert_eq!(train["deps"][0]["path"].as_str(), Some("data/prepared"));
    assert_eq!(
        train["deps"][0]["id"].as_str().unwrap(),
        pointer_id(&r, "data/prepared")
    );
    // Code tracked by Git is identified by the id dv would give it: BLAKE3 of a one-chunk file.
    assert_eq!(
        train["deps"][1]["id"].as_str().unwrap(),
        blake3::hash(TRAIN.as_bytes()).to_hex().as_str()
    );
    assert_eq!(train["params"][0]["key"].as_str(), Some("train.factor"));
    assert_eq!(train["params"][0]["value"].as_integer(), Some(2));
    let run = train["run"].as_table().unwrap();
    assert_eq!(run["exit_status"].as_integer(), Some(0));
    assert_eq!(run["dv_version"].as_str(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(
        run["git_commit"].as_str().unwrap(),
        r.git(&["rev-parse", "HEAD~1"]).trim()
    );
    assert!(
        run["platform"]
            .as_str()
            .unwrap()
            .contains(std::env::consts::OS)
    );
    assert!(run.contains_key("duration_ms"));
    assert_eq!(
        states(&r),
        pairs(&[
            ("prepare", "up-to-date"),
            ("train", "up-to-date"),
            ("evaluate", "up-to-date")
        ])
    );
    r.ok(&["status", "--exit-code"]);
}

#[test]
fn a_changed_input_makes_steps_stale_and_repro_reruns_them_in_order() {
    let r = pipeline();
    let rows = [("b", 2), ("a", 1), ("c", 3), ("d", 10)];
    r.write("data/raw.csv", &raw_csv(&rows));
    // Before `dv add`, the work tree's data already counts.
    assert_eq!(
        states(&r),
        pairs(&[
            ("prepare", "stale"),
            ("train", "up-to-date"),
            ("evaluate", "up-to-date")
        ])
    );
    let status = r.json(&["status"]);
    assert_eq!(
        status["steps"][0]["reasons"],
        serde_json::json!(["input 'data/raw.csv' changed"])
    );
    assert_eq!(r.dv(&["status", "--exit-code"]).status.code(), Some(1));
    r.ok(&["add", "data/raw.csv"]);

    let dry = r.json(&["repro", "--dry-run"]);
    assert_eq!(
        actions(&dry),
        pairs(&[
            ("prepare", "would-run"),
            ("train", "would-run"),
            ("evaluate", "would-run")
        ])
    );
    assert_eq!(
        r.read("metrics.json"),
        expected_score(&rows[..3], 2).as_bytes(),
        "dry run ran"
    );

    let done = r.json(&["repro"]);
    assert_eq!(
        actions(&done),
        pairs(&[("prepare", "ran"), ("train", "ran"), ("evaluate", "ran")])
    );
    assert_eq!(r.read("metrics.json"), expected_score(&rows, 2).as_bytes());
    assert_eq!(r.read("data/prepared/count.txt"), b"4\n");
    assert_eq!(
        step_file(&r, "evaluate")["outs"][0]["id"].as_str().unwrap(),
        pointer_id(&r, "metrics.json")
    );

    // A parameter change reruns only what reads it, and what follows.
    r.write("params.toml", &params(5));
    assert_eq!(
        states(&r),
        pairs(&[
            ("prepare", "up-to-date"),
            ("train", "stale"),
            ("evaluate", "up-to-date")
        ])
    );
    let status = r.json(&["status"]);
    assert_eq!(
        status["steps"][1]["reasons"],
        serde_json::json!(["parameter 'params.toml:train.factor' changed: 2 -> 5"])
    );
    // Another key of the same file is not a parameter of the step.
    r.write("params.toml", b"[train]\nfactor = 5\nunused = \"y\"\n");
    let done = r.json(&["repro", "metrics.json"]);
    assert_eq!(
        actions(&done),
        pairs(&[
            ("prepare", "up-to-date"),
            ("train", "ran"),
            ("evaluate", "ran")
        ])
    );
    assert_eq!(r.read("metrics.json"), expected_score(&rows, 5).as_bytes());

    // Nothing left to do.
    let done = r.json(&["repro"]);
    assert_eq!(
        actions(&done),
        pairs(&[
            ("prepare", "up-to-date"),
            ("train", "up-to-date"),
            ("evaluate", "up-to-date")
        ])
    );
    // Limiting repro to an output runs only its upstream steps.
    r.write("evaluate.sh", format!("{EVALUATE}# changed\n").as_bytes());
    r.write("train.sh", format!("{TRAIN}# changed\n").as_bytes());
    let done = r.json(&["repro", "model.bin"]);
    assert_eq!(
        actions(&done),
        pairs(&[("prepare", "up-to-date"), ("train", "ran")])
    );
    // train made the same model, so evaluate is stale only for its own script.
    let done = r.json(&["repro"]);
    assert_eq!(
        actions(&done),
        pairs(&[
            ("prepare", "up-to-date"),
            ("train", "up-to-date"),
            ("evaluate", "ran")
        ])
    );
}

#[test]
fn a_changed_command_is_stale_and_a_deleted_output_is_restored_by_repro() {
    let r = pipeline();
    let path = r.p(".dv/steps/evaluate.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    // Edit the step's command (not the recorded run's).
    let edited = text.replacen(
        "command = [\"sh\", \"evaluate.sh\"]",
        "command = [\"sh\", \"-e\", \"evaluate.sh\"]",
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(&path, edited).unwrap();
    let status = r.json(&["status"]);
    assert_eq!(
        status["steps"][2]["reasons"],
        serde_json::json!(["the command changed: sh evaluate.sh -> sh -e evaluate.sh"])
    );
    std::fs::remove_file(r.p("model.bin")).unwrap();
    let status = r.json(&["status"]);
    assert_eq!(
        status["steps"][1]["reasons"],
        serde_json::json!(["output 'model.bin' is missing"])
    );
    let done = r.json(&["repro"]);
    assert_eq!(
        actions(&done),
        pairs(&[
            ("prepare", "up-to-date"),
            ("train", "ran"),
            ("evaluate", "ran")
        ])
    );
    assert!(r.p("model.bin").is_file());
    let evaluate = step_file(&r, "evaluate");
    assert_eq!(evaluate["run"]["command"].as_array().unwrap().len(), 3);
}

#[test]
fn lineage_walks_up_and_down_with_exact_results() {
    let r = pipeline();
    let names = |v: &Value| -> Vec<String> {
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    let edges = |v: &Value| -> Vec<(String, String)> {
        let mut e: Vec<(String, String)> = v["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["from"].as_str().unwrap().into(),
                    e["to"].as_str().unwrap().into(),
                )
            })
            .collect();
        e.sort();
        e
    };
    let up = r.json(&["lineage", "metrics.json", "--upstream"]);
    assert_eq!(names(&up), ["prepare", "train", "evaluate"]);
    let mut want = pairs(&[
        ("data/raw.csv", "step:prepare"),
        ("prepare.sh", "step:prepare"),
        ("step:prepare", "data/prepared"),
        ("data/prepared", "step:train"),
        ("train.sh", "step:train"),
        ("params.toml:train.factor", "step:train"),
        ("step:train", "model.bin"),
        ("model.bin", "step:evaluate"),
        ("evaluate.sh", "step:evaluate"),
        ("step:evaluate", "metrics.json"),
    ]);
    want.sort();
    assert_eq!(edges(&up), want);
    assert_eq!(
        up["steps"][1]["deps"][0]["node"]["id"].as_str().unwrap(),
        pointer_id(&r, "data/prepared")
    );

    assert_eq!(
        names(&r.json(&["lineage", "model.bin", "--upstream"])),
        ["prepare", "train"]
    );
    assert_eq!(
        names(&r.json(&["lineage", "model.bin", "--downstream"])),
        ["evaluate"]
    );
    assert_eq!(
        names(&r.json(&["lineage", "model.bin"])),
        ["prepare", "train", "evaluate"]
    );
    assert_eq!(
        names(&r.json(&["lineage", "data/raw.csv", "--downstream"])),
        ["prepare", "train", "evaluate"]
    );
    // A file inside an output folder leads to the step that wrote the folder.
    assert_eq!(
        names(&r.json(&["lineage", "data/prepared/count.txt", "--upstream"])),
        ["prepare"]
    );
    assert_eq!(
        names(&r.json(&["lineage", "params.toml", "--downstream"])),
        ["train", "evaluate"]
    );
    assert!(names(&r.json(&["lineage", "prepare.sh", "--upstream"])).is_empty());

    // Text and dot name the same things.
    let text = r.ok(&["lineage", "model.bin", "--upstream"]);
    assert!(text.contains("step train: sh train.sh"), "{text}");
    assert!(text.contains("<- params.toml:train.factor = 2"), "{text}");
    let dot = r.ok(&["lineage", "model.bin", "--format", "dot"]);
    assert!(dot.starts_with("digraph lineage {"), "{dot}");
    assert!(dot.contains("\"step:train\" -> \"model.bin\";"), "{dot}");

    // An older revision's steps: after a parameter change and repro, --rev HEAD~0 still shows the old value.
    r.write("params.toml", &params(7));
    r.ok(&["repro"]);
    let old = r.json(&["lineage", "model.bin", "--upstream", "--rev", "HEAD"]);
    assert_eq!(old["steps"][1]["params"][0]["value"].as_i64(), Some(2));
    let new = r.json(&["lineage", "model.bin", "--upstream"]);
    assert_eq!(new["steps"][1]["params"][0]["value"].as_i64(), Some(7));
}

#[test]
fn repro_check_tells_deterministic_steps_from_others() {
    let r = pipeline();
    let out = r.json(&["repro", "--check", "model.bin"]);
    assert_eq!(out["reproduces"], true);
    assert_eq!(out["outs"][0]["same"], true);
    let before = snapshot(r.path());
    // A step whose output depends on more than its inputs does not reproduce.
    r.ok(&[
        "run",
        "-n",
        "stamp",
        "-d",
        "model.bin",
        "-o",
        "stamp.txt",
        "--",
        "sh",
        "-c",
        "date +%s%N > stamp.txt",
    ]);
    let out = r.dv(&["repro", "--check", "stamp.txt", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reproduces"], false);
    assert_eq!(v["outs"][0]["same"], false);
    // A step that reads an undeclared input fails in the check's folder, and says so.
    r.ok(&[
        "run",
        "-n",
        "sneaky",
        "-d",
        "model.bin",
        "-o",
        "copy.txt",
        "--",
        "sh",
        "-c",
        "cat params.toml > copy.txt",
    ]);
    let out = r.dv(&["repro", "--check", "copy.txt", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["failure"].as_str().unwrap().contains("declared with -d"),
        "{v}"
    );
    // The checks left the earlier outputs alone.
    let after = snapshot(r.path());
    let keep = |s: &Snapshot| -> Snapshot {
        s.iter()
            .filter(|(p, _)| p == "model.bin" || p.starts_with("data/"))
            .cloned()
            .collect()
    };
    assert_eq!(keep(&before), keep(&after));
}

#[test]
fn a_failing_or_incomplete_step_records_nothing() {
    let r = pipeline();
    let tree_before = r.git(&["status", "--porcelain"]);
    let err = r.fails(&[
        "run",
        "-n",
        "bad",
        "-d",
        "model.bin",
        "-o",
        "out.txt",
        "--",
        "sh",
        "-c",
        "echo partial > out.txt; exit 3",
    ]);
    assert!(err.contains("step 'bad' failed"), "{err}");
    assert!(err.contains("exited with status 3"), "{err}");
    assert!(!r.p(".dv/steps/bad.toml").exists());
    assert!(!r.p("out.txt.dv").exists());
    // What the command itself wrote is left for the user to look at.
    assert_eq!(r.read("out.txt"), b"partial\n");
    std::fs::remove_file(r.p("out.txt")).unwrap();
    let err = r.fails(&["run", "-n", "lazy", "-o", "never.txt", "--", "true"]);
    assert!(err.contains("did not write output 'never.txt'"), "{err}");
    assert!(!r.p(".dv/steps/lazy.toml").exists());
    let err = r.fails(&[
        "run",
        "-n",
        "nosuch",
        "-o",
        "x.txt",
        "--",
        "/no/such/program",
    ]);
    assert!(err.contains("cannot run '/no/such/program'"), "{err}");
    assert_eq!(r.git(&["status", "--porcelain"]), tree_before);
    assert_eq!(
        states(&r),
        pairs(&[
            ("prepare", "up-to-date"),
            ("train", "up-to-date"),
            ("evaluate", "up-to-date")
        ])
    );
}

#[test]
fn bad_steps_are_refused_before_running() {
    let r = pipeline();
    let marker = r.p("ran.txt");
    let cmd = format!("touch {} && touch data/raw.csv", marker.display());
    // Writing the pipeline's input would close a cycle: raw -> prepare -> train -> evaluate -> raw.
    let err = r.fails(&[
        "run",
        "-n",
        "loop",
        "-d",
        "metrics.json",
        "-o",
        "data/raw.csv",
        "--",
        "sh",
        "-c",
        &cmd,
    ]);
    assert!(err.contains("cycle"), "{err}");
    // Two steps cannot write one path.
    let err = r.fails(&[
        "run",
        "-n",
        "twin",
        "-o",
        "model.bin",
        "--",
        "sh",
        "-c",
        &cmd,
    ]);
    assert!(err.contains("which step 'train' writes too"), "{err}");
    let err = r.fails(&[
        "run", "-n", "self", "-d", "a.txt", "-o", "a.txt", "--", "sh", "-c", &cmd,
    ]);
    assert!(err.contains("cannot read what it writes"), "{err}");
    let err = r.fails(&["run", "-n", "a/b", "-o", "y", "--", "true"]);
    assert!(err.contains("a step name has only"), "{err}");
    let err = r.fails(&[
        "run",
        "-n",
        "p",
        "-p",
        "params.toml",
        "-o",
        "y",
        "--",
        "true",
    ]);
    assert!(err.contains("FILE:KEY"), "{err}");
    let err = r.fails(&[
        "run",
        "-n",
        "p",
        "-p",
        "params.toml:train.nope",
        "-o",
        "y",
        "--",
        "true",
    ]);
    assert!(err.contains("params.toml has no key train.nope"), "{err}");
    let err = r.fails(&[
        "run",
        "-n",
        "p",
        "-p",
        "nofile.toml:a",
        "-o",
        "y",
        "--",
        "true",
    ]);
    assert!(err.contains("there is no file nofile.toml"), "{err}");
    let err = r.fails(&[
        "run",
        "-n",
        "p",
        "-d",
        "missing.txt",
        "-o",
        "y",
        "--",
        "true",
    ]);
    assert!(err.contains("input 'missing.txt' does not exist"), "{err}");
    let err = r.fails(&["run", "-n", "p", "-o", "prepare.sh", "--", "true"]);
    assert!(err.contains("which Git tracks"), "{err}");
    // Records are committed: credentials in the command line are refused.
    for args in [
        &["--token", "abc"][..],
        &["--db-password=hunter2"][..],
        &["AKIAABCDEFGHIJKLMNOP"][..],
    ] {
        let mut a = vec!["run", "-n", "leak", "-o", "y", "--", "sh", "-c", &cmd];
        a.extend_from_slice(args);
        let err = r.fails(&a);
        assert!(err.contains("looks like a credential"), "{err}");
    }
    r.ok(&[
        "run",
        "-n",
        "tok",
        "-o",
        "tok.txt",
        "--",
        "sh",
        "-c",
        "echo $0 > tok.txt",
        "--tokenizer",
    ]);
    assert_eq!(r.read("tok.txt"), b"--tokenizer\n");
    assert!(!marker.exists(), "a refused step ran");
    // A hostile step file is refused with its name.
    r.write(
        ".dv/steps/evil.toml",
        b"dv = 1\ncommand = [\"true\"]\n[[outs]]\npath = \"../../etc/x\"\n",
    );
    let err = r.fails(&["repro"]);
    assert!(err.contains(".dv/steps/evil.toml"), "{err}");
    assert!(err.contains("'..'"), "{err}");
}
