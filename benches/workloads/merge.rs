//! Merge tier (issue 21, `--only merge`): `dv merge-driver` on the three versions Git hands it.
//! - A 1,000,000-row keyed CSV (the table workload's) whose two branches each changed 1,000 different rows:
//!   the time to find the changes (from the driver's debug log: row-tree nodes that differ only) and the
//!   whole merge, merged file written and recorded included; then the same through a real `git merge`.
//! - A folder of 100,000 small files whose two branches each changed 100 different files: the whole merge
//!   (tree objects only).
//!
//! DVC has no merge of its own for data (a conflict in a `.dvc` file is left to the user), so there is no peer
//! column.

use super::*;

/// Runs `dv merge-driver` on the pointer file `pointer` as Git would between `main` and `side`; returns the
/// measure and, from the debug log, the milliseconds the table merge took to find its changes.
fn driver(ctx: &Ctx, repo: &Path, pointer: &str) -> (Measure, Option<f64>) {
    let tmp = repo.join(".git/bench-merge");
    fs::create_dir_all(&tmp).unwrap();
    let base_rev = String::from_utf8(
        Command::new("git")
            .args(["merge-base", "main", "side"])
            .current_dir(repo)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for (name, rev) in [
        ("base", base_rev.trim()),
        ("ours", "main"),
        ("theirs", "side"),
    ] {
        let out = Command::new("git")
            .args(["show", &format!("{rev}:{pointer}")])
            .current_dir(repo)
            .output()
            .unwrap();
        fs::write(tmp.join(name), out.stdout).unwrap();
    }
    let log = repo.join(".git/bench-merge.log");
    let args = [
        "merge-driver",
        ".git/bench-merge/base",
        ".git/bench-merge/ours",
        ".git/bench-merge/theirs",
        pointer,
    ];
    let m = run_env(repo, &ctx.dv, &args, &[]);
    // Again with the debug log, for the time the changes took to find (the driver wrote over ours).
    let out = Command::new("git")
        .args(["show", &format!("main:{pointer}")])
        .current_dir(repo)
        .output()
        .unwrap();
    fs::write(tmp.join("ours"), out.stdout).unwrap();
    let out = Command::new(&ctx.dv)
        .args(args)
        .env("DV_LOG", "dv_core=debug")
        .current_dir(repo)
        .stderr(fs::File::create(&log).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "merge-driver failed");
    let text = fs::read_to_string(&log).unwrap_or_default();
    let found = text
        .lines()
        .find(|l| l.contains("changes found"))
        .and_then(|l| l.split("ms=").nth(1))
        .and_then(|t| t.split_whitespace().next())
        .and_then(|t| t.parse().ok());
    (m, found)
}

/// Writes `count` small files under `root` (100 folders), file `i` holding `salt`'s version of its text.
fn small_files(root: &Path, count: usize, salt: &dyn Fn(usize) -> usize) {
    for i in 0..count {
        let dir = root.join(format!("d{:03}", i % 100));
        if i < 100 {
            fs::create_dir_all(&dir).unwrap();
        }
        fs::write(
            dir.join(format!("f{i:06}.txt")),
            format!("file {i} version {}\n", salt(i)),
        )
        .unwrap();
    }
}

pub fn merge_workloads(ctx: &Ctx, o: &Opts) -> Vec<Row> {
    let root = o.dir.join("merge");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    let mut rows = Vec::new();

    // The table.
    let n = 1_000_000;
    let repo = root.join("table-repo");
    ctx.new_repo(Tool::Dv, &repo);
    eprintln!("generating a {n}-row table and two branches that each change 1,000 rows...");
    write_table(&repo.join("t.csv"), n, &|_| Some(None), 0);
    run(&repo, &ctx.dv, &["add", "t.csv", "--key", "id"]);
    commit(&repo, "base");
    git(&repo, &["branch", "side"]);
    git(&repo, &["checkout", "-q", "side"]);
    write_table(
        &repo.join("t.csv"),
        n,
        &|i| Some((i % 1000 == 7).then_some(1)),
        0,
    );
    run(&repo, &ctx.dv, &["add", "t.csv"]);
    commit(&repo, "side");
    git(&repo, &["checkout", "-q", "main"]);
    write_table(
        &repo.join("t.csv"),
        n,
        &|i| Some((i % 1000 == 503).then_some(2)),
        0,
    );
    run(&repo, &ctx.dv, &["add", "t.csv"]);
    commit(&repo, "main");
    let mut table = Row::new("merge 1M-row table, 1,000+1,000 rows".into());
    let mut found = Vec::new();
    for _ in 0..o.runs.max(3) {
        let (m, f) = driver(ctx, &repo, "t.csv.dv");
        table.dv.push(m);
        found.extend(f);
    }
    println!(
        "table merge: changes found in {:.3} s (median; target ≤ 0.3 s); whole merge {:.3} s (target ≤ 2 s)",
        median(found.clone()) / 1e3,
        median(table.dv.iter().map(|m| m.secs).collect())
    );
    // The same through Git, once: the driver as Git runs it.
    let started = std::time::Instant::now();
    git(&repo, &["merge", "-q", "side", "-m", "merge"]);
    println!(
        "git merge of the table branches (driver included): {:.3} s",
        started.elapsed().as_secs_f64()
    );
    rows.push(table);

    // The folder.
    let files = 100_000;
    let repo = root.join("folder-repo");
    ctx.new_repo(Tool::Dv, &repo);
    eprintln!("generating {files} files and two branches that each change 100...");
    small_files(&repo.join("data"), files, &|_| 0);
    run(&repo, &ctx.dv, &["add", "data"]);
    commit(&repo, "base");
    git(&repo, &["branch", "side"]);
    git(&repo, &["checkout", "-q", "side"]);
    for i in (0..files).step_by(files / 100) {
        fs::write(
            repo.join(format!("data/d{:03}/f{i:06}.txt", i % 100)),
            "side\n",
        )
        .unwrap();
    }
    run(&repo, &ctx.dv, &["add", "data"]);
    commit(&repo, "side");
    git(&repo, &["checkout", "-q", "main"]);
    run(&repo, &ctx.dv, &["checkout", "--force"]);
    for i in (1..files).step_by(files / 100) {
        fs::write(
            repo.join(format!("data/d{:03}/f{i:06}.txt", i % 100)),
            "main\n",
        )
        .unwrap();
    }
    run(&repo, &ctx.dv, &["add", "data"]);
    commit(&repo, "main");
    let mut folder = Row::new(format!("merge {files}-file folder, 100+100 files"));
    for _ in 0..o.runs.max(3) {
        folder.dv.push(driver(ctx, &repo, "data.dv").0);
    }
    println!(
        "folder merge: {:.3} s (median; target ≤ 0.5 s)",
        median(folder.dv.iter().map(|m| m.secs).collect())
    );
    rows.push(folder);
    rows
}
