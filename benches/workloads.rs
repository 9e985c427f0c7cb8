//! The dv benchmark: seeded workloads, the release `dv` binary, wall time, peak memory and store bytes; the same
//! steps with DVC when `dvc` is on PATH (or in /tmp/peers/bin), and the ratios.
//!
//! Run: `cargo bench --bench workloads -- [--size-mib 1024] [--small-files 20000] [--runs 3] [--only big,small]
//!       [--no-dvc] [--dir /tmp/dv-bench] [--dv OLD/dv]` (`--help` lists all)
//!
//! Workloads (issue 2): one 1 GiB file of mixed content (half random, a quarter text, a quarter binary
//! records); four more versions of it, each with three 100 KiB inserts, three 64 KiB overwrites and one 1 MiB
//! deletion; 20,000 files of 1-32 KiB in nested folders, added and then `status`ed unchanged.
//!
//! Table workload (issue 5, `--only table`): a 1,000,000-row × 8-column CSV and a second version with 1,000 rows
//! updated, 500 deleted and 2,000 appended: the extra cost of `add --key`, the row diff between the versions,
//! and one-row diffs at 10^5, 10^6 and 10^7 rows (`--table-rows` sets the largest).
//!
//! Model workload (issue 7, `--only model`): a safetensors file of `--model-mib` MiB (default 500) with 120 F32
//! tensors, and a "fine-tuned" version whose last 12 tensors (10 %) are perturbed: the store growth of adding
//! the second version (target ≤ 12 % of the model) and the tensor diff between the commits (target ≤ 1 s).
//!
//! Huge-file workload (issue 20, `--only huge`): see benches/workloads/huge.rs.
//! Registry workload (issue 18, `--only registry`): see benches/workloads/registry.rs.
//! Merge workload (issue 21, `--only merge`): see benches/workloads/merge.rs.
//!
//! Remote workloads (issue 4, `--only remote-big,remote-small`): the same data pushed to and pulled (into a
//! fresh `git clone`) from a real S3 server on 127.0.0.1 (s3s-fs, in this process), by dv and by DVC (dvc-s3).
//! `--moto PATH/moto_server` runs them against moto instead (remote bytes are then not measured).
#![allow(clippy::disallowed_macros)] // prints as it likes: clippy.toml's rule is for src/cli

#[path = "workloads/huge.rs"]
mod huge;
#[path = "workloads/merge.rs"]
mod merge;
#[path = "workloads/registry.rs"]
mod registry;
#[path = "../tests/support/s3_server.rs"]
mod s3_server;
#[path = "workloads/scale.rs"]
mod scale;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The benchmark's flags: `cargo bench --bench workloads -- --help`.
#[derive(clap::Parser)]
#[command(
    name = "workloads",
    about = "The dv benchmark (see benches/workloads.rs)"
)]
struct Opts {
    /// Size of the big file, in MiB.
    #[arg(long, default_value_t = 1024)]
    size_mib: usize,
    /// Number of files in the small-files workload.
    #[arg(long, default_value_t = 20_000)]
    small_files: usize,
    /// Runs per step.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Workloads to run, comma-separated: big, small, log, table, model, scale, huge, registry, remote-big,
    /// remote-small, remote-serve.
    #[arg(long, value_delimiter = ',', default_values = ["big", "small"])]
    only: Vec<String>,
    /// Number of files in the scale workload.
    #[arg(long, default_value_t = 1_000_000)]
    scale_files: usize,
    /// Shapes of the scale workload, comma-separated: flat (one folder), nested (folders of 1,000).
    #[arg(long, value_delimiter = ',', default_values = ["flat", "nested"])]
    scale_shapes: Vec<String>,
    /// Largest table in the diff-scaling workload.
    #[arg(long, default_value_t = 10_000_000)]
    table_rows: usize,
    /// Size of the file in the huge workload, in GiB (it needs about 1.7 times that of free disk).
    #[arg(long, default_value_t = 20)]
    huge_gib: u64,
    /// Size of the model file in the model workload, in MiB.
    #[arg(long, default_value_t = 500)]
    model_mib: usize,
    /// Measure dv alone, even when dvc is found.
    #[arg(long)]
    no_dvc: bool,
    /// Where fixtures and repositories are made.
    #[arg(long, default_value_os_t = std::env::temp_dir().join("dv-bench"))]
    dir: PathBuf,
    /// Run the remote workloads against moto (this `moto_server`) instead of the in-process s3s-fs.
    #[arg(long)]
    moto: Option<PathBuf>,
    /// Measure this dv binary instead of the one built with the bench (an older build, to compare versions).
    #[arg(long)]
    dv: Option<PathBuf>,
    /// `cargo bench` passes it to every bench.
    #[arg(long = "bench", hide = true)]
    _bench: bool,
}

fn find_dvc() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("dvc"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| Some(PathBuf::from("/tmp/peers/bin/dvc")).filter(|p| p.is_file()))
}

/// Wall seconds and peak resident KiB of one command.
#[derive(Clone, Copy)]
struct Measure {
    secs: f64,
    max_rss_kib: u64,
    /// CPU time of the command and the children it waited for (user + system), from GNU time.
    cpu_secs: f64,
    /// The system (kernel) part of it.
    sys_secs: f64,
    /// Remote steps: CPU time the S3 server spent meanwhile.
    server_cpu_secs: Option<f64>,
}

/// Runs a command and measures it. Peak memory comes from GNU time (`/usr/bin/time -f %M`): its child is forked
/// from a small process, whereas a child of this (large) process would inherit our peak in `ru_maxrss`.
fn run(dir: &Path, program: &Path, args: &[&str]) -> Measure {
    run_env(dir, program, args, &[])
}

/// [`run`] with variables set for the command.
fn run_env(dir: &Path, program: &Path, args: &[&str], env: &[(&str, &Path)]) -> Measure {
    let time = Path::new("/usr/bin/time");
    let rss_file = dir.parent().unwrap_or(dir).join(".bench-rss");
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-f")
            .arg("%M %U %S")
            .arg("-o")
            .arg(&rss_file)
            .arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        panic!(
            "{} {args:?} failed in {}: {}",
            program.display(),
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let report = fs::read_to_string(&rss_file).unwrap_or_default();
    let fields: Vec<f64> = report
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let (max_rss_kib, cpu_secs, sys_secs) = match fields[..] {
        [rss, user, sys] => (rss as u64, user + sys, sys),
        _ => (0, f64::NAN, f64::NAN),
    };
    Measure {
        secs,
        max_rss_kib,
        cpu_secs,
        sys_secs,
        server_cpu_secs: None,
    }
}

/// This process's CPU time so far (user + system, all threads).
fn own_cpu_secs() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// Another process's CPU time so far, from /proc (user + system).
fn proc_cpu_secs(pid: u32) -> f64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    f.iter().sum::<f64>() / ticks
}

fn fresh_clone(from: &Path, to: &Path) {
    let _ = fs::remove_dir_all(to);
    let ok = Command::new("git")
        .args(["clone", "-q"])
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(ok.success());
}

fn commit(repo: &Path, msg: &str) {
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", msg]);
}

/// The tools read credentials from the environment, as users' shells have them.
fn s3_credentials_in_env() {
    // SAFETY: called before any thread of ours starts.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", s3_server::ACCESS_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", s3_server::SECRET_KEY);
        std::env::set_var("AWS_DEFAULT_REGION", s3_server::REGION);
    }
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .expect("git")
        .status
        .success();
    assert!(ok, "git {args:?}");
}

// ---- seeded data ----

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn fill(&mut self, out: &mut Vec<u8>, len: usize) {
        let end = out.len() + len;
        while out.len() < end {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(end);
    }
}

const WORDS: &[&str] = &[
    "data", "model", "tensor", "value", "train", "label", "image", "the", "of", "and", "sample",
    "batch", "epoch", "loss", "weight", "feature", "column", "row", "index", "vector", "score",
    "metric", "version",
];

/// 1 MiB segments: half random, a quarter text lines, a quarter fixed-size binary records.
fn mixed_file(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(len);
    let seg = 1 << 20;
    let mut record = 0u64;
    while out.len() < len {
        let want = seg.min(len - out.len());
        let end = out.len() + want;
        match rng.below(4) {
            0 | 1 => rng.fill(&mut out, want),
            2 => {
                while out.len() < end {
                    let n = 4 + rng.below(12);
                    for i in 0..n {
                        out.extend_from_slice(
                            WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes(),
                        );
                        out.push(if i + 1 == n { b'\n' } else { b' ' });
                    }
                    out.extend_from_slice(format!("{}\n", rng.below(100_000)).as_bytes());
                }
            }
            _ => {
                while out.len() < end {
                    record += 1;
                    out.extend_from_slice(&record.to_le_bytes());
                    out.extend_from_slice(&(rng.below(1000) as u32).to_le_bytes());
                    out.extend_from_slice(&((rng.below(1 << 20) as f64) / 7.0).to_le_bytes());
                    out.extend_from_slice(&[rng.below(4) as u8; 12]);
                }
            }
        }
        out.truncate(end);
    }
    out
}

/// The next version: three 100 KiB inserts, three 64 KiB overwrites, one 1 MiB deletion.
fn edit(prev: &[u8], seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut v = prev.to_vec();
    for _ in 0..3 {
        let at = rng.below(v.len() as u64) as usize;
        let mut ins = Vec::new();
        rng.fill(&mut ins, 100 << 10);
        v.splice(at..at, ins);
    }
    for _ in 0..3 {
        let at = rng.below((v.len() - (64 << 10)) as u64) as usize;
        let mut over = Vec::new();
        rng.fill(&mut over, 64 << 10);
        v[at..at + (64 << 10)].copy_from_slice(&over);
    }
    let at = rng.below((v.len() - (1 << 20)) as u64) as usize;
    v.drain(at..at + (1 << 20));
    v
}

fn small_tree(root: &Path, count: usize) {
    let mut rng = Rng(99);
    for i in 0..count {
        let dir = root.join(format!("d{:02}/e{:02}", i % 50, (i / 50) % 20));
        fs::create_dir_all(&dir).unwrap();
        let len = 1024 + rng.below(31 * 1024) as usize;
        let mut data = Vec::with_capacity(len);
        if i % 2 == 0 {
            rng.fill(&mut data, len);
        } else {
            while data.len() < len {
                data.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
                data.push(b' ');
            }
            data.truncate(len);
        }
        fs::write(dir.join(format!("f{i:05}.bin")), data).unwrap();
    }
}

/// A moto S3 server on a free port of 127.0.0.1, stopped when dropped.
struct Moto {
    child: std::process::Child,
    endpoint: String,
    port: u16,
}

impl Moto {
    fn start(program: &Path) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server starts");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        }
    }

    /// The CPU time moto has used so far.
    fn cpu_secs(&self) -> f64 {
        proc_cpu_secs(self.child.id())
    }

    /// Creates a bucket (moto takes an unsigned PUT) and returns its `s3://` URL.
    fn bucket(&self, name: &str) -> String {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            c,
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut resp = String::new();
        let _ = c.read_to_string(&mut resp);
        assert!(resp.starts_with("HTTP/1.1 200"), "moto bucket: {resp}");
        format!("s3://{name}")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dir_bytes(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            let m = e.metadata().unwrap();
            n += if m.is_dir() {
                dir_bytes(&e.path())
            } else {
                m.len()
            };
        }
    }
    n
}

/// This disk's rates, measured once per process in `dir` (the best of three 512 MiB files): writing and
/// fsyncing, and reading back from the disk (None when the page cache cannot be dropped: not root).
fn disk_rates(dir: &Path) -> (f64, Option<f64>) {
    static RATES: std::sync::OnceLock<(f64, Option<f64>)> = std::sync::OnceLock::new();
    *RATES.get_or_init(|| {
        let len = 512usize << 20;
        let mut data = Vec::with_capacity(len);
        Rng(5).fill(&mut data, len);
        let path = dir.join(".disk-rate");
        let (mut write, mut read) = (0f64, None::<f64>);
        for _ in 0..3 {
            settle_disk();
            let start = Instant::now();
            let mut f = fs::File::create(&path).unwrap();
            std::io::Write::write_all(&mut f, &data).unwrap();
            f.sync_all().unwrap();
            write = write.max(len as f64 / start.elapsed().as_secs_f64());
            if fs::write("/proc/sys/vm/drop_caches", "3").is_ok() {
                let start = Instant::now();
                let _ = fs::read(&path).unwrap();
                let r = len as f64 / start.elapsed().as_secs_f64();
                read = Some(read.map_or(r, |x| x.max(r)));
            }
        }
        let _ = fs::remove_file(&path);
        println!(
            "  (this disk writes and fsyncs {:.0} MB/s; reads {})",
            write / 1e6,
            read.map_or("unmeasured".into(), |r| format!("{:.0} MB/s", r / 1e6))
        );
        (write, read)
    })
}

/// This machine's floor for a step that used `m.cpu_secs` of CPU, stored `stored` bytes and, when `cold`,
/// read `read` bytes from the disk: the largest of the CPU time spread over every core, the time the disk
/// takes to write and fsync what is stored, and the time it takes to read what is read.
fn floor_secs(m: &Measure, stored: u64, read: Option<u64>, dir: &Path) -> f64 {
    let (write_rate, read_rate) = disk_rates(dir);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let reading = match (read, read_rate) {
        (Some(bytes), Some(rate)) => bytes as f64 / rate,
        _ => 0.0,
    };
    (m.cpu_secs / cores)
        .max(stored as f64 / write_rate)
        .max(reading)
}

/// Flushes dirty pages (our own fixture copies) so a measured step does not pay for writing them back.
fn settle_disk() {
    let _ = Command::new("sync").status();
}

fn warm(p: &Path) {
    if p.is_dir() {
        for e in fs::read_dir(p).unwrap().flatten() {
            warm(&e.path());
        }
    } else {
        let _ = fs::read(p);
    }
}

// ---- tools ----

#[derive(Clone, Copy, PartialEq)]
enum Tool {
    Dv,
    Dvc,
}

struct Ctx {
    dv: PathBuf,
    dvc: Option<PathBuf>,
}

impl Ctx {
    fn program(&self, t: Tool) -> &Path {
        match t {
            Tool::Dv => &self.dv,
            Tool::Dvc => self.dvc.as_deref().expect("dvc"),
        }
    }

    fn tools(&self) -> Vec<Tool> {
        let mut t = vec![Tool::Dv];
        if self.dvc.is_some() {
            t.push(Tool::Dvc);
        }
        t
    }

    fn new_repo(&self, t: Tool, dir: &Path) {
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir).unwrap();
        git(dir, &["init", "-q", "-b", "main"]);
        match t {
            Tool::Dv => {
                run(dir, &self.dv, &["init"]);
            }
            Tool::Dvc => {
                run(dir, self.program(t), &["init", "-q"]);
                run(dir, self.program(t), &["config", "core.analytics", "false"]);
            }
        }
    }

    fn add(&self, t: Tool, dir: &Path, path: &str) -> Measure {
        match t {
            Tool::Dv => run(dir, &self.dv, &["add", path]),
            Tool::Dvc => run(dir, self.program(t), &["add", "-q", path]),
        }
    }

    fn status(&self, t: Tool, dir: &Path) -> Measure {
        match t {
            Tool::Dv => run(dir, &self.dv, &["status"]),
            Tool::Dvc => run(dir, self.program(t), &["status", "-q"]),
        }
    }

    /// Makes `url` the repository's default remote, on the S3 server at `endpoint` (credentials come from the
    /// environment: see [`s3_credentials_in_env`]).
    fn add_s3_remote(&self, t: Tool, repo: &Path, url: &str, endpoint: &str) {
        match t {
            Tool::Dv => {
                run(repo, &self.dv, &["remote", "add", "origin", url]);
                for (k, v) in [
                    ("endpoint", endpoint),
                    ("allow_http", "true"),
                    ("region", s3_server::REGION),
                ] {
                    run(repo, &self.dv, &["remote", "modify", "origin", k, v]);
                }
            }
            Tool::Dvc => {
                let dvc = self.program(t);
                run(repo, dvc, &["remote", "add", "-d", "origin", url]);
                run(
                    repo,
                    dvc,
                    &["remote", "modify", "origin", "endpointurl", endpoint],
                );
            }
        }
    }

    fn push(&self, t: Tool, dir: &Path) -> Measure {
        match t {
            Tool::Dv => run(dir, &self.dv, &["push", "--quiet"]),
            Tool::Dvc => run(dir, self.program(t), &["push", "-q"]),
        }
    }

    fn pull(&self, t: Tool, dir: &Path) -> Measure {
        match t {
            Tool::Dv => run(dir, &self.dv, &["pull", "--quiet"]),
            Tool::Dvc => run(dir, self.program(t), &["pull", "-q"]),
        }
    }

    fn store_bytes(&self, t: Tool, dir: &Path) -> u64 {
        match t {
            Tool::Dv => dir_bytes(&dir.join(".dv/cache")),
            Tool::Dvc => dir_bytes(&dir.join(".dvc/cache")),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

struct Row {
    name: String,
    dv: Vec<Measure>,
    dvc: Vec<Measure>,
}

impl Row {
    fn new(name: String) -> Row {
        Row {
            name,
            dv: vec![],
            dvc: vec![],
        }
    }

    fn push(&mut self, t: Tool, m: Measure) {
        match t {
            Tool::Dv => self.dv.push(m),
            Tool::Dvc => self.dvc.push(m),
        }
    }
}

fn print_rows(rows: &[Row]) {
    println!(
        "\n{:<44} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "step (median of runs)", "dv s", "dv MiB", "dvc s", "dvc MiB", "dvc/dv"
    );
    for r in rows {
        let t = |m: &[Measure]| median(m.iter().map(|x| x.secs).collect());
        let mem =
            |m: &[Measure]| m.iter().map(|x| x.max_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
        let (dvt, dvm) = (t(&r.dv), mem(&r.dv));
        if r.dvc.is_empty() {
            println!(
                "{:<44} {:>10.3} {:>10.1} {:>10} {:>10} {:>8}",
                r.name, dvt, dvm, "-", "-", "-"
            );
        } else {
            let (ct, cm) = (t(&r.dvc), mem(&r.dvc));
            println!(
                "{:<44} {:>10.3} {:>10.1} {:>10.3} {:>10.1} {:>7.1}x",
                r.name,
                dvt,
                dvm,
                ct,
                cm,
                ct / dvt
            );
        }
    }
    // Remote steps: where the CPU time went. On a small machine the local server competes with the client
    // for the same cores, so the client's own CPU time is the figure that carries over to a real remote.
    let remote: Vec<&Row> = rows
        .iter()
        .filter(|r| r.dv.iter().any(|m| m.server_cpu_secs.is_some()))
        .collect();
    if !remote.is_empty() {
        println!(
            "\n{:<44} {:>10} {:>10} {:>10} {:>10} {:>8}",
            "CPU seconds (median of runs)", "dv", "server", "dvc", "server", "dvc/dv"
        );
        for r in remote {
            let cpu = |m: &[Measure]| median(m.iter().map(|x| x.cpu_secs).collect());
            let server = |m: &[Measure]| {
                median(
                    m.iter()
                        .map(|x| x.server_cpu_secs.unwrap_or(f64::NAN))
                        .collect(),
                )
            };
            let (dc, ds) = (cpu(&r.dv), server(&r.dv));
            if r.dvc.is_empty() {
                println!(
                    "{:<44} {dc:>10.2} {ds:>10.2} {:>10} {:>10} {:>8}",
                    r.name, "-", "-", "-"
                );
            } else {
                let (cc, cs) = (cpu(&r.dvc), server(&r.dvc));
                println!(
                    "{:<44} {dc:>10.2} {ds:>10.2} {cc:>10.2} {cs:>10.2} {:>7.1}x",
                    r.name,
                    cc / dc
                );
            }
        }
    }
}

fn main() {
    let o = <Opts as clap::Parser>::parse();
    let ctx = Ctx {
        dv: o
            .dv
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_dv"))),
        dvc: if o.no_dvc { None } else { find_dvc() },
    };
    fs::create_dir_all(&o.dir).unwrap();
    println!("dv benchmark: {}", ctx.dv.display());
    match &ctx.dvc {
        Some(p) => println!("peer: {} (ratios are dvc time / dv time)", p.display()),
        None => println!(
            "peer: dvc not found (python3 -m venv /tmp/peers && /tmp/peers/bin/pip install dvc dvc-s3)"
        ),
    }
    println!(
        "runs per step: {}; peak memory is the largest of the runs",
        o.runs
    );
    let mut rows = Vec::new();

    if o.only.iter().any(|s| s == "big") {
        let size = o.size_mib << 20;
        eprintln!(
            "generating {} MiB file and 4 edited versions...",
            o.size_mib
        );
        let fixtures = o.dir.join("fixtures");
        fs::create_dir_all(&fixtures).unwrap();
        let mut v = mixed_file(1, size);
        let mut logical = 0u64;
        for i in 1..=5 {
            let p = fixtures.join(format!("v{i}.bin"));
            fs::write(&p, &v).unwrap();
            logical += v.len() as u64;
            if i < 5 {
                v = edit(&v, 100 + i);
            }
        }
        drop(v);
        let mut first = Row {
            name: format!("add {} MiB file (v1)", o.size_mib),
            dv: vec![],
            dvc: vec![],
        };
        let mut later = Row {
            name: "add each later version (v2-v5)".into(),
            dv: vec![],
            dvc: vec![],
        };
        let mut stores = Vec::new();
        for t in ctx.tools() {
            let (mut s1, mut s5) = (0, 0);
            for _run in 0..o.runs {
                let repo = o.dir.join("big-repo");
                ctx.new_repo(t, &repo);
                for i in 1..=5 {
                    fs::copy(fixtures.join(format!("v{i}.bin")), repo.join("big.bin")).unwrap();
                    warm(&repo.join("big.bin"));
                    settle_disk();
                    let m = ctx.add(t, &repo, "big.bin");
                    let row = if i == 1 { &mut first } else { &mut later };
                    match t {
                        Tool::Dv => row.dv.push(m),
                        Tool::Dvc => row.dvc.push(m),
                    }
                    if i == 1 {
                        s1 = ctx.store_bytes(t, &repo);
                    }
                }
                s5 = ctx.store_bytes(t, &repo);
            }
            stores.push((t, s1, s5));
        }
        let first_dv = first.dv.clone();
        rows.push(first);
        rows.push(later);
        println!(
            "\nstore bytes for the {} MiB file ({} logical bytes in 5 versions):",
            o.size_mib, logical
        );
        for &(t, s1, s5) in &stores {
            let name = if t == Tool::Dv { "dv" } else { "dvc" };
            println!(
                "  {name:<4} after v1: {s1:>14}  after v5: {s5:>14}  v5/v1 = {:.3}",
                s5 as f64 / s1 as f64
            );
        }
        // The first add against this machine's floor, run by run.
        let s1 = stores.iter().find(|s| s.0 == Tool::Dv).map_or(0, |s| s.1);
        for m in &first_dv {
            let floor = floor_secs(m, s1, None, &o.dir);
            println!(
                "  dv first add: {:.2} s, {:.2} CPU s; floor {floor:.2} s; {:.2}x the floor (target ≤ 1.15x)",
                m.secs,
                m.cpu_secs,
                m.secs / floor
            );
        }
    }

    if o.only.iter().any(|s| s == "small") {
        eprintln!("generating {} small files...", o.small_files);
        let src = o.dir.join("small-src");
        let _ = fs::remove_dir_all(&src);
        small_tree(&src, o.small_files);
        let mut add = Row {
            name: format!("add {} small files", o.small_files),
            dv: vec![],
            dvc: vec![],
        };
        let mut status = Row {
            name: format!("status, {} unchanged files", o.small_files),
            dv: vec![],
            dvc: vec![],
        };
        for t in ctx.tools() {
            for _run in 0..o.runs {
                let repo = o.dir.join("small-repo");
                ctx.new_repo(t, &repo);
                let ok = Command::new("cp")
                    .arg("-r")
                    .arg(&src)
                    .arg(repo.join("data"))
                    .status()
                    .unwrap();
                assert!(ok.success());
                warm(&repo.join("data"));
                settle_disk();
                std::thread::sleep(std::time::Duration::from_millis(300)); // past the racy-clean window
                let m = ctx.add(t, &repo, "data");
                let s1 = ctx.status(t, &repo);
                let s2 = ctx.status(t, &repo);
                match t {
                    Tool::Dv => {
                        add.dv.push(m);
                        status.dv.extend([s1, s2]);
                    }
                    Tool::Dvc => {
                        add.dvc.push(m);
                        status.dvc.extend([s1, s2]);
                    }
                }
            }
        }
        rows.push(add);
        rows.push(status);
    }
    if o.only
        .iter()
        .any(|s| s.starts_with("remote-") || s == "scale" || s == "registry")
    {
        s3_credentials_in_env();
    }
    if o.only.iter().any(|s| s.starts_with("remote-")) {
        rows.extend(remote_workloads(&ctx, &o));
    }
    if o.only.iter().any(|s| s == "scale") {
        rows.extend(scale::scale_workloads(&ctx, &o));
    }
    if o.only.iter().any(|s| s == "huge") {
        rows.extend(huge::huge_workload(&ctx, &o));
    }
    if o.only.iter().any(|s| s == "registry") {
        rows.extend(registry::registry_workloads(&ctx, &o));
    }
    if o.only.iter().any(|s| s == "merge") {
        rows.extend(merge::merge_workloads(&ctx, &o));
    }
    if o.only.iter().any(|s| s == "log") {
        rows.push(log_workload(&ctx, &o.dir, o.runs));
    }
    if o.only.iter().any(|s| s == "table") {
        rows.extend(table_workload(&ctx, &o.dir, o.runs, o.table_rows));
    }
    if o.only.iter().any(|s| s == "model") {
        rows.extend(model_workload(&ctx, &o.dir, o.runs, o.model_mib));
    }
    print_rows(&rows);
}

/// `dv log` on a history of 10,000 commits of which 100 change the dataset (git log -- PATH as the reference).
fn log_workload(ctx: &Ctx, dir: &Path, runs: usize) -> Row {
    eprintln!("building a history of 10,000 commits with 100 dataset versions...");
    let repo = dir.join("log-repo");
    ctx.new_repo(Tool::Dv, &repo);
    let mut pointers = Vec::new();
    let mut rng = Rng(7);
    for v in 0..100 {
        for f in 0..3 {
            let mut data = Vec::new();
            rng.fill(&mut data, 2000 + v * 10 + f);
            fs::create_dir_all(repo.join("data")).unwrap();
            fs::write(repo.join(format!("data/f{f}.bin")), data).unwrap();
        }
        run(&repo, &ctx.dv, &["add", "--no-stage", "data"]);
        pointers.push(fs::read(repo.join("data.dv")).unwrap());
    }
    let mut stream = Vec::new();
    for i in 0..10_000usize {
        stream.extend_from_slice(b"commit refs/heads/main\n");
        stream.extend_from_slice(
            format!(
                "committer Bench <b@example.com> {} +0000\n",
                1_700_000_000 + i
            )
            .as_bytes(),
        );
        let msg = format!("commit {i}");
        stream.extend_from_slice(format!("data {}\n{msg}\n", msg.len()).as_bytes());
        if i % 100 == 0 {
            let p = &pointers[i / 100];
            stream.extend_from_slice(
                format!("M 100644 inline data.dv\ndata {}\n", p.len()).as_bytes(),
            );
            stream.extend_from_slice(p);
            stream.push(b'\n');
        } else {
            let body = format!("line {i}\n");
            stream.extend_from_slice(
                format!(
                    "M 100644 inline notes/n{}.txt\ndata {}\n{body}\n",
                    i % 50,
                    body.len()
                )
                .as_bytes(),
            );
        }
    }
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet", "--force"])
        .current_dir(&repo)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("git fast-import");
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&stream).unwrap();
    }
    assert!(child.wait().unwrap().success());
    git(&repo, &["reset", "-q", "--hard", "main"]);
    let mut row = Row {
        name: "log of 10,000 commits, 100 versions".into(),
        dv: vec![],
        dvc: vec![],
    };
    for _ in 0..runs {
        row.dv.push(run(&repo, &ctx.dv, &["log", "data"]));
    }
    let git_bin = PathBuf::from("git");
    let g = run(&repo, &git_bin, &["log", "--oneline", "--", "data.dv"]);
    println!("reference: git log -- data.dv took {:.3} s", g.secs);
    row
}

/// Push and pull through a real S3 server: the big file (v1, then the bytes four more versions add on the
/// remote) and the small files.
fn remote_workloads(ctx: &Ctx, o: &Opts) -> Vec<Row> {
    let root = o.dir.join("s3-root");
    if o.only.iter().any(|s| s == "remote-serve") {
        // A debugging aid: serve the bench's S3 root until killed.
        let server = s3_server::S3Server::start_in(&root);
        println!("serving {} at {}", root.display(), server.endpoint());
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    let server = s3_server::S3Server::start_in(&root);
    let moto = o.moto.as_deref().map(Moto::start);
    let endpoint = match &moto {
        Some(m) => {
            println!("S3 server (moto) at {}", m.endpoint);
            m.endpoint.clone()
        }
        None => {
            println!("S3 server (s3s-fs) at {}", server.endpoint());
            server.endpoint()
        }
    };
    let mut rows = Vec::new();
    let mut bucket_n = 0;
    let mut new_bucket = |t: Tool| {
        bucket_n += 1;
        let name = format!("{}-{bucket_n}", if t == Tool::Dv { "dv" } else { "dvc" });
        match &moto {
            // moto keeps objects in memory: no folder to measure.
            Some(m) => (m.bucket(&name), o.dir.join("no-such-folder")),
            None => (server.bucket(&name), server.bucket_dir(&name)),
        }
    };
    let configure = |t: Tool, repo: &Path, url: &str| ctx.add_s3_remote(t, repo, url, &endpoint);
    // The server's CPU time so far: this process's own (s3s-fs runs on its threads), or moto's.
    let server_cpu = || match &moto {
        Some(m) => m.cpu_secs(),
        None => own_cpu_secs(),
    };
    let with_server_cpu = |step: &dyn Fn() -> Measure| {
        let before = server_cpu();
        let mut m = step();
        m.server_cpu_secs = Some(server_cpu() - before);
        m
    };
    let push = |t: Tool, repo: &Path| with_server_cpu(&|| ctx.push(t, repo));
    let pull = |t: Tool, repo: &Path| with_server_cpu(&|| ctx.pull(t, repo));
    let record = |row: &mut Row, t: Tool, m: Measure| row.push(t, m);

    if o.only.iter().any(|s| s == "remote-big") {
        let size = o.size_mib << 20;
        let fixtures = o.dir.join("fixtures");
        fs::create_dir_all(&fixtures).unwrap();
        if !fixtures.join("v5.bin").is_file()
            || fs::metadata(fixtures.join("v1.bin")).unwrap().len() != size as u64
        {
            eprintln!(
                "generating {} MiB file and 4 edited versions...",
                o.size_mib
            );
            let mut v = mixed_file(1, size);
            for i in 1..=5 {
                fs::write(fixtures.join(format!("v{i}.bin")), &v).unwrap();
                if i < 5 {
                    v = edit(&v, 100 + i);
                }
            }
        }
        let mut push_row = Row {
            name: format!("push {} MiB file to S3", o.size_mib),
            dv: vec![],
            dvc: vec![],
        };
        let mut pull_row = Row {
            name: format!("pull {} MiB file into a clone", o.size_mib),
            dv: vec![],
            dvc: vec![],
        };
        let mut remote_bytes = Vec::new();
        for t in ctx.tools() {
            for run_i in 0..o.runs {
                let repo = o.dir.join("rbig-repo");
                ctx.new_repo(t, &repo);
                let (url, bucket_dir) = new_bucket(t);
                configure(t, &repo, &url);
                fs::copy(fixtures.join("v1.bin"), repo.join("big.bin")).unwrap();
                ctx.add(t, &repo, "big.bin");
                commit(&repo, "v1");
                settle_disk();
                record(&mut push_row, t, push(t, &repo));
                let b1 = dir_bytes(&bucket_dir);
                let clone = o.dir.join("rbig-clone");
                fresh_clone(&repo, &clone);
                settle_disk();
                record(&mut pull_row, t, pull(t, &clone));
                assert_eq!(
                    fs::metadata(clone.join("big.bin")).unwrap().len(),
                    size as u64
                );
                let _ = fs::remove_dir_all(&clone);
                if run_i == 0 {
                    for i in 2..=5 {
                        fs::remove_file(repo.join("big.bin")).unwrap();
                        fs::copy(fixtures.join(format!("v{i}.bin")), repo.join("big.bin")).unwrap();
                        ctx.add(t, &repo, "big.bin");
                        commit(&repo, &format!("v{i}"));
                        push(t, &repo);
                    }
                    remote_bytes.push((t, b1, dir_bytes(&bucket_dir)));
                }
                let _ = fs::remove_dir_all(&bucket_dir);
            }
        }
        if moto.is_some() {
            remote_bytes.clear(); // moto keeps objects in memory: nothing to measure
        }
        println!("\nbytes on the remote for the {} MiB file:", o.size_mib);
        for (t, b1, b5) in remote_bytes {
            let name = if t == Tool::Dv { "dv" } else { "dvc" };
            println!(
                "  {name:<4} after v1: {b1:>14}  after v5: {b5:>14}  v5/v1 = {:.3}",
                b5 as f64 / b1 as f64
            );
        }
        rows.push(push_row);
        rows.push(pull_row);
    }

    if o.only.iter().any(|s| s == "remote-small") {
        let src = o.dir.join("small-src");
        let _ = fs::remove_dir_all(&src);
        small_tree(&src, o.small_files);
        let mut push_row = Row {
            name: format!("push {} small files to S3", o.small_files),
            dv: vec![],
            dvc: vec![],
        };
        let mut pull_row = Row {
            name: format!("pull {} small files", o.small_files),
            dv: vec![],
            dvc: vec![],
        };
        for t in ctx.tools() {
            for _ in 0..o.runs {
                let repo = o.dir.join("rsmall-repo");
                ctx.new_repo(t, &repo);
                let (url, bucket_dir) = new_bucket(t);
                configure(t, &repo, &url);
                let ok = Command::new("cp")
                    .arg("-r")
                    .arg(&src)
                    .arg(repo.join("data"))
                    .status()
                    .unwrap();
                assert!(ok.success());
                ctx.add(t, &repo, "data");
                commit(&repo, "data");
                settle_disk();
                record(&mut push_row, t, push(t, &repo));
                let clone = o.dir.join("rsmall-clone");
                fresh_clone(&repo, &clone);
                settle_disk();
                record(&mut pull_row, t, pull(t, &clone));
                let _ = fs::remove_dir_all(&clone);
                let _ = fs::remove_dir_all(&bucket_dir);
            }
        }
        rows.push(push_row);
        rows.push(pull_row);
    }
    rows
}

/// Writes a CSV of `n` rows × 8 columns (int key, strings, floats, dates, int, bool); `edit` may change,
/// drop (None) or keep each row, and `extra` rows are appended with keys after the last.
fn write_table(path: &Path, n: usize, edit: &dyn Fn(usize) -> Option<Option<u64>>, extra: usize) {
    use std::io::Write;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, fs::File::create(path).unwrap());
    writeln!(w, "id,name,city,score,amount,day,age,active").unwrap();
    let cities = [
        "Oslo", "Lyon", "Porto", "Graz", "Turku", "Gent", "Bergen", "Malmo",
    ];
    let line = |w: &mut std::io::BufWriter<fs::File>, i: usize, salt: u64| {
        let mut r = Rng(i as u64 * 7919 + salt);
        writeln!(
            w,
            "{},{}{},{},{}.{:02},{}.{:03},2024-{:02}-{:02},{},{}",
            i,
            WORDS[r.below(WORDS.len() as u64) as usize],
            r.below(1000),
            cities[r.below(8) as usize],
            r.below(100),
            r.below(100),
            r.below(100_000),
            r.below(1000),
            1 + r.below(12),
            1 + r.below(28),
            18 + r.below(60),
            r.below(2) == 1
        )
        .unwrap();
    };
    for i in 0..n {
        match edit(i) {
            None => {}
            Some(salt) => line(&mut w, i, salt.unwrap_or(0)),
        }
    }
    for i in n..n + extra {
        line(&mut w, i, 0);
    }
}

fn table_workload(ctx: &Ctx, dir: &Path, runs: usize, max_rows: usize) -> Vec<Row> {
    let n = 1_000_000;
    let fixtures = dir.join("table-fixtures");
    fs::create_dir_all(&fixtures).unwrap();
    let (v1, v2) = (fixtures.join("v1.csv"), fixtures.join("v2.csv"));
    eprintln!("generating a {n}-row table and its second version...");
    write_table(&v1, n, &|_| Some(None), 0);
    // 1,000 rows updated, 500 deleted, 2,000 appended.
    write_table(
        &v2,
        n,
        &|i| match i % 1000 {
            7 => Some(Some(99)),
            500 if i % 2000 == 500 => None,
            _ => Some(None),
        },
        2000,
    );
    println!(
        "table: {} rows, {:.1} MB; v2: 1000 updated, 500 deleted, 2000 appended",
        n,
        fs::metadata(&v1).unwrap().len() as f64 / 1e6
    );
    let mut plain = Row {
        name: "add 1M-row CSV as a file".into(),
        dv: vec![],
        dvc: vec![],
    };
    let mut keyed = Row {
        name: "add 1M-row CSV as a table (--key)".into(),
        dv: vec![],
        dvc: vec![],
    };
    let mut keyed2 = Row {
        name: "add its second version (table)".into(),
        dv: vec![],
        dvc: vec![],
    };
    let mut diff = Row {
        name: "row diff v1..v2 (3,500 rows, JSON)".into(),
        dv: vec![],
        dvc: vec![],
    };
    for _ in 0..runs {
        let repo = dir.join("table-repo");
        ctx.new_repo(Tool::Dv, &repo);
        fs::copy(&v1, repo.join("t.csv")).unwrap();
        settle_disk();
        plain.dv.push(run(&repo, &ctx.dv, &["add", "t.csv"]));
        ctx.new_repo(Tool::Dv, &repo);
        fs::copy(&v1, repo.join("t.csv")).unwrap();
        settle_disk();
        keyed
            .dv
            .push(run(&repo, &ctx.dv, &["add", "t.csv", "--key", "id"]));
        git(&repo, &["commit", "-q", "-m", "v1"]);
        fs::remove_file(repo.join("t.csv")).unwrap();
        fs::copy(&v2, repo.join("t.csv")).unwrap();
        settle_disk();
        keyed2.dv.push(run(&repo, &ctx.dv, &["add", "t.csv"]));
        git(&repo, &["commit", "-q", "-m", "v2"]);
        diff.dv.push(run(
            &repo,
            &ctx.dv,
            &["diff", "HEAD~1", "HEAD", "t.csv", "--json"],
        ));
    }
    let out = Command::new(&ctx.dv)
        .args(["diff", "HEAD~1", "HEAD", "t.csv", "--json", "--stat"])
        .current_dir(dir.join("table-repo"))
        .output()
        .unwrap();
    let v: String = String::from_utf8_lossy(&out.stdout).to_string();
    let grab = |k: &str| {
        v.split(&format!("\"{k}\": "))
            .nth(1)
            .and_then(|t| t.split([',', '\n']).next())
            .unwrap_or("?")
            .to_string()
    };
    println!(
        "table diff check: rows_added {} rows_deleted {} rows_modified {} (want 2000, 500, 1000)",
        grab("rows_added"),
        grab("rows_deleted"),
        grab("rows_modified")
    );

    // One changed row at growing sizes: the diff's cost should not grow with the table.
    let mut scaling = Vec::new();
    let mut size = 100_000;
    while size <= max_rows {
        eprintln!("one-row diff at {size} rows...");
        let repo = dir.join("table-scale");
        ctx.new_repo(Tool::Dv, &repo);
        write_table(&repo.join("t.csv"), size, &|_| Some(None), 0);
        run(&repo, &ctx.dv, &["add", "t.csv", "--key", "id"]);
        git(&repo, &["commit", "-q", "-m", "v1"]);
        write_table(
            &repo.join("t.csv"),
            size,
            &|i| Some((i == size / 2).then_some(5)),
            0,
        );
        run(&repo, &ctx.dv, &["add", "t.csv"]);
        git(&repo, &["commit", "-q", "-m", "v2"]);
        let mut times = Vec::new();
        let mut mem = 0;
        for _ in 0..runs.max(3) {
            let m = run(
                &repo,
                &ctx.dv,
                &["diff", "HEAD~1", "HEAD", "t.csv", "--json"],
            );
            times.push(m.secs);
            mem = mem.max(m.max_rss_kib);
        }
        scaling.push((size, median(times), mem));
        let _ = fs::remove_dir_all(&repo);
        size *= 10;
    }
    println!("\none-row diff (median of runs):");
    for (rows, secs, kib) in &scaling {
        println!(
            "  {rows:>10} rows: {secs:.3} s, {:.1} MiB",
            *kib as f64 / 1024.0
        );
    }
    let extra = median(keyed.dv.iter().map(|m| m.secs).collect())
        - median(plain.dv.iter().map(|m| m.secs).collect());
    println!("extra cost of tracking as a table: {extra:.2} s");
    vec![plain, keyed, keyed2, diff]
}

/// Writes a safetensors file of about `mib` MiB: `count` F32 tensors `layers.NNN.weight` of equal size with
/// seeded values in [-0.1, 0.1); tensors from index `tuned_from` on get a small perturbation of every value.
fn write_model(path: &Path, mib: usize, count: usize, tuned_from: usize) -> u64 {
    use std::io::Write;
    let per = ((mib << 20) / count / 4096).max(1) * 1024; // elements per tensor, a multiple of 1024
    let mut entries = Vec::new();
    for i in 0..count {
        let (b, e) = (i * per * 4, (i + 1) * per * 4);
        entries.push(format!(
            "\"layers.{i:03}.weight\":{{\"dtype\":\"F32\",\"shape\":[{},1024],\"data_offsets\":[{b},{e}]}}",
            per / 1024
        ));
    }
    let mut json = format!(
        "{{\"__metadata__\":{{\"format\":\"pt\"}},{}}}",
        entries.join(",")
    );
    while json.len() % 8 != 0 {
        json.push(' ');
    }
    let mut w = std::io::BufWriter::with_capacity(1 << 20, fs::File::create(path).unwrap());
    w.write_all(&(json.len() as u64).to_le_bytes()).unwrap();
    w.write_all(json.as_bytes()).unwrap();
    let mut buf = Vec::with_capacity(per * 4);
    for i in 0..count {
        let mut rng = Rng(1000 + i as u64);
        let mut tune = Rng(5000 + i as u64);
        buf.clear();
        for _ in 0..per / 2 {
            let r = rng.next();
            for half in [r as u32, (r >> 32) as u32] {
                let mut v = ((half >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.2;
                if i >= tuned_from {
                    v += ((tune.next() & 0xff) as f32 - 127.5) * 1e-6;
                }
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        w.write_all(&buf).unwrap();
    }
    w.flush().unwrap();
    fs::metadata(path).unwrap().len()
}

fn model_workload(ctx: &Ctx, dir: &Path, runs: usize, mib: usize) -> Vec<Row> {
    let (count, tuned_from) = (120, 108);
    let mut add1 = Row {
        name: format!("add {mib} MiB safetensors (v1)"),
        dv: vec![],
        dvc: vec![],
    };
    let mut add2 = Row {
        name: "add fine-tuned version (10% tensors)".into(),
        dv: vec![],
        dvc: vec![],
    };
    let mut diff = Row {
        name: "tensor diff v1..v2 (JSON)".into(),
        dv: vec![],
        dvc: vec![],
    };
    let repo = dir.join("model-repo");
    let mut growth = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        ctx.new_repo(Tool::Dv, &repo);
        let model = repo.join("model.safetensors");
        eprintln!("writing a {mib} MiB model and its fine-tuned version...");
        size = write_model(&model, mib, count, count);
        settle_disk();
        add1.dv
            .push(run(&repo, &ctx.dv, &["add", "model.safetensors"]));
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "v1"]);
        let s1 = ctx.store_bytes(Tool::Dv, &repo);
        write_model(&model, mib, count, tuned_from);
        settle_disk();
        add2.dv
            .push(run(&repo, &ctx.dv, &["add", "model.safetensors"]));
        git(&repo, &["commit", "-q", "-m", "v2"]);
        let s2 = ctx.store_bytes(Tool::Dv, &repo);
        growth.push((s2 - s1) as f64 / size as f64 * 100.0);
        for _ in 0..runs.max(3) {
            diff.dv.push(run(
                &repo,
                &ctx.dv,
                &["diff", "HEAD~1", "HEAD", "model.safetensors", "--json"],
            ));
        }
    }
    let out = Command::new(&ctx.dv)
        .args([
            "diff",
            "HEAD~1",
            "HEAD",
            "model.safetensors",
            "--json",
            "--stat",
        ])
        .current_dir(&repo)
        .output()
        .unwrap();
    let v = String::from_utf8_lossy(&out.stdout).to_string();
    let grab = |k: &str| {
        v.split(&format!("\"{k}\": "))
            .nth(1)
            .and_then(|t| t.split([',', '\n']).next())
            .unwrap_or("?")
            .to_string()
    };
    println!(
        "\nmodel: {size} bytes, {count} tensors; store growth for the fine-tuned version: {:.2} % of the model \
         (target ≤ 12 %)",
        median(growth)
    );
    println!(
        "model diff check: changed {} unchanged {} (want {}, {}); tensor bytes compared per side: {}",
        grab("changed"),
        grab("unchanged"),
        count - tuned_from,
        tuned_from,
        grab("bytes_compared")
    );
    let _ = fs::remove_dir_all(&repo);
    vec![add1, add2, diff]
}
