//! Registry tier (issue 18, `--only registry`): a registry repository holding one dataset of `--small-files`
//! files (default 20,000; the small-files generator), pushed to the S3 test server on 127.0.0.1 and served as a
//! bare Git repository through a file:// URL; by dv and, when found, by DVC (dvc-s3) on the same files.
//! - `dv ls URL data -R` cold (a user cache never used: the mirror is made, the trees fetched) and warm (the
//!   same cache, nothing new), beside `dvc list -R URL data` run twice the same way;
//! - the Git objects the second listing fetched (the mirror's packs before and after);
//! - `dv import URL data` into a new project beside `dv pull` of the registry into a fresh clone (the same
//!   objects from the same server), and DVC's `dvc import` beside `dvc pull`.

use super::*;

/// The mirror's pack files under a user cache.
fn mirror_packs(cache: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(sources) = fs::read_dir(cache.join("dv/sources")) {
        for s in sources.flatten() {
            if let Ok(packs) = fs::read_dir(s.path().join("git/objects/pack")) {
                out.extend(packs.flatten().map(|e| e.path()));
            }
        }
    }
    out.sort();
    out
}

pub fn registry_workloads(ctx: &Ctx, o: &Opts) -> Vec<Row> {
    let root = o.dir.join("registry");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(root.join("s3")).unwrap();
    let server = s3_server::S3Server::start_in(&root.join("s3"));
    println!("S3 server (s3s-fs) at {}", server.endpoint());
    let n = o.small_files;
    eprintln!("generating {n} files for the registry...");
    let files = root.join("files");
    small_tree(&files, n);
    let mut rows = Vec::new();
    let mut ls_cold = Row::new(format!("ls -R {n}-file dataset, cold"));
    let mut ls_warm = Row::new(format!("ls -R {n}-file dataset, warm"));
    let mut import = Row::new(format!("import {n}-file dataset"));
    let mut pull = Row::new(format!("pull {n}-file dataset (clone)"));
    for t in ctx.tools() {
        let name = if t == Tool::Dv { "dv" } else { "dvc" };
        let dvx = ctx.program(t);
        // The registry, pushed, and its bare repository.
        let reg = root.join(format!("{name}-registry"));
        ctx.new_repo(t, &reg);
        let ok = Command::new("cp")
            .arg("-r")
            .arg(&files)
            .arg(reg.join("data"))
            .status()
            .unwrap();
        assert!(ok.success());
        ctx.add(t, &reg, "data");
        let bucket = server.bucket(&format!("{name}-registry"));
        ctx.add_s3_remote(t, &reg, &bucket, &server.endpoint());
        if t == Tool::Dv {
            run(&reg, dvx, &["remote", "default", "origin"]);
        }
        ctx.push(t, &reg);
        commit(&reg, "registry");
        let bare = root.join(format!("{name}-registry.git"));
        git(
            &root,
            &[
                "clone",
                "-q",
                "--bare",
                reg.to_str().unwrap(),
                bare.to_str().unwrap(),
            ],
        );
        let url = format!("file://{}", bare.display());
        let work = root.join(format!("{name}-work"));
        fs::create_dir_all(&work).unwrap();
        for run_n in 0..o.runs {
            // A user cache of its own per run: cold, then warm.
            let user = root.join(format!("{name}-user-{run_n}"));
            let _ = fs::remove_dir_all(&user);
            fs::create_dir_all(&user).unwrap();
            let env: [(&str, &Path); 2] = [("XDG_CACHE_HOME", &user), ("HOME", &user)];
            if t == Tool::Dv {
                // The reader confirms the registry's endpoint once (dv asks before signing requests to it).
                let key = format!("source.{url}.remote.origin.endpoint");
                run_env(
                    &work,
                    dvx,
                    &["config", "--global", "set", &key, &server.endpoint()],
                    &env,
                );
            }
            let ls = |_: usize| match t {
                Tool::Dv => run_env(&work, dvx, &["ls", &url, "data", "-R"], &env),
                Tool::Dvc => run_env(&work, dvx, &["list", "-R", &url, "data"], &env),
            };
            ls_cold.push(t, ls(0));
            let before = mirror_packs(&user);
            ls_warm.push(t, ls(1));
            if t == Tool::Dv {
                let after = mirror_packs(&user);
                println!(
                    "  dv ls warm, run {run_n}: mirror packs {} before, {} after ({})",
                    before.len(),
                    after.len(),
                    if before == after {
                        "no Git objects fetched"
                    } else {
                        "FETCHED Git objects"
                    }
                );
            }
            // import into a new project, beside a pull of the registry into a fresh clone.
            let project = root.join(format!("{name}-project"));
            ctx.new_repo(t, &project);
            commit(&project, "init");
            let m = match t {
                Tool::Dv => run_env(&project, dvx, &["import", "--quiet", &url, "data"], &env),
                Tool::Dvc => run_env(&project, dvx, &["import", "-q", &url, "data"], &env),
            };
            import.push(t, m);
            let clone = root.join(format!("{name}-clone"));
            fresh_clone(&reg, &clone);
            pull.push(t, ctx.pull(t, &clone));
        }
    }
    // The targets of issue 18, from the medians.
    let med = |r: &Row| median(r.dv.iter().map(|m| m.secs).collect());
    let medc = |r: &Row| median(r.dvc.iter().map(|m| m.secs).collect());
    println!(
        "\n  dv ls cold {:.3} s (target < 2 s), warm {:.3} s (target < 0.5 s)",
        med(&ls_cold),
        med(&ls_warm)
    );
    if !ls_cold.dvc.is_empty() {
        println!(
            "  dvc list cold {:.3} s, warm {:.3} s: {:.1}x cold (goal >= 10x), {:.1}x warm (goal >= 50x)",
            medc(&ls_cold),
            medc(&ls_warm),
            medc(&ls_cold) / med(&ls_cold),
            medc(&ls_warm) / med(&ls_warm)
        );
    }
    println!(
        "  dv import {:.3} s vs dv pull {:.3} s + 1 s (target: import <= pull + 1 s: {})",
        med(&import),
        med(&pull),
        if med(&import) <= med(&pull) + 1.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    rows.extend([ls_cold, ls_warm, import, pull]);
    rows
}
