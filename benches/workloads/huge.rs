//! The huge-file tier (issue 20, `--only huge`): one file of `--huge-gib` GiB (default 20) of the same mixed
//! content as the 1 GiB workload, written in 64 MiB pieces, added cold (the page cache dropped first when this
//! process may), then edited in place twice (three 64 KiB overwrites and a 1 MiB append each) and added
//! again; the store growth of each edit split into chunk bytes and metadata (manifests and trees, from the
//! pack indexes), and `dv diff` between the first and the last version. Beside it, a 1 GiB file of the same
//! generator added warm and cold, for the MB/s comparison, and this machine's floor for each first add.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use super::{Ctx, Measure, Opts, Rng, Row, floor_secs, git, mixed_file, run};

const PIECE: usize = 64 << 20;

/// Writes `len` bytes of mixed content to `path`, a piece at a time.
fn write_mixed(path: &Path, len: u64) {
    let mut f = fs::File::create(path).unwrap();
    let mut left = len;
    let mut seed = 7_000;
    while left > 0 {
        let n = (PIECE as u64).min(left) as usize;
        f.write_all(&mixed_file(seed, n)).unwrap();
        seed += 1;
        left -= n as u64;
    }
    f.sync_all().unwrap();
}

/// Drops the page cache (as root), so the next read of a file comes from the disk; false when not allowed.
fn drop_page_cache() -> bool {
    let _ = std::process::Command::new("sync").status();
    fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// Bytes of chunks and of metadata (manifests, trees, table objects) in a dv cache, from its pack indexes.
fn stored_by_kind(cache: &Path) -> (u64, u64) {
    let (mut chunks, mut meta) = (0u64, 0u64);
    for e in fs::read_dir(cache.join("index")).unwrap().flatten() {
        let b = fs::read(e.path()).unwrap();
        let n = u32::from_le_bytes(b[48..52].try_into().unwrap()) as usize;
        for k in 0..n {
            let e = &b[52 + k * 52..52 + (k + 1) * 52];
            let stored = u32::from_le_bytes(e[48..52].try_into().unwrap()) as u64;
            if e[40] == 0 {
                chunks += stored;
            } else {
                meta += stored;
            }
        }
    }
    (chunks, meta)
}

/// Three 64 KiB overwrites at seeded offsets and a 1 MiB append.
fn edit_in_place(path: &Path, seed: u64) {
    let mut rng = Rng(seed);
    let len = fs::metadata(path).unwrap().len();
    let mut f = fs::OpenOptions::new().write(true).open(path).unwrap();
    for _ in 0..3 {
        let at = rng.below(len - (64 << 10));
        let mut over = Vec::new();
        rng.fill(&mut over, 64 << 10);
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&over).unwrap();
    }
    let mut tail = Vec::new();
    rng.fill(&mut tail, 1 << 20);
    f.seek(SeekFrom::End(0)).unwrap();
    f.write_all(&tail).unwrap();
    f.sync_all().unwrap();
}

fn mb_s(bytes: u64, m: &Measure) -> f64 {
    bytes as f64 / 1e6 / m.secs
}

pub(super) fn huge_workload(ctx: &Ctx, o: &Opts) -> Vec<Row> {
    let mut rows = Vec::new();
    let dir = o.dir.join("huge");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let new_repo = |name: &str| {
        let repo = dir.join(name);
        fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        run(&repo, &ctx.dv, &["init"]);
        run(&repo, &ctx.dv, &["format", "upgrade"]);
        repo
    };

    // The references: 1 GiB of the same generator, warm (as in the big workload) and cold.
    let one = 1u64 << 30;
    let mut refs = Vec::new();
    for warm in [true, false] {
        let small = new_repo("one-gib");
        write_mixed(&small.join("f.bin"), one);
        let cold = !warm && drop_page_cache();
        if warm {
            let _ = fs::read(small.join("f.bin"));
        }
        let m = run(&small, &ctx.dv, &["add", "f.bin"]);
        let stored = super::dir_bytes(&small.join(".dv/cache"));
        let floor = floor_secs(&m, stored, cold.then_some(one), &dir);
        refs.push((if warm { "warm" } else { "cold" }, m, floor));
        fs::remove_dir_all(&small).unwrap();
    }

    let repo = new_repo("repo");
    let gib = o.huge_gib;
    let len = gib << 30;
    eprintln!("writing a {gib} GiB file...");
    let file = repo.join("huge.bin");
    write_mixed(&file, len);
    let cold = drop_page_cache();
    let first = run(&repo, &ctx.dv, &["add", "huge.bin"]);
    let stored = super::dir_bytes(&repo.join(".dv/cache"));
    let floor = floor_secs(&first, stored, cold.then_some(len), &dir);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "v1"]);
    let mut row = Row::new(format!("huge: add a {gib} GiB file"));
    row.dv.push(first);
    rows.push(row);

    let mut edits = Vec::new();
    for v in 2..=3u64 {
        let before = stored_by_kind(&repo.join(".dv/cache"));
        edit_in_place(&file, 900 + v);
        drop_page_cache();
        let m = run(&repo, &ctx.dv, &["add", "huge.bin"]);
        let after = stored_by_kind(&repo.join(".dv/cache"));
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", &format!("v{v}")]);
        edits.push((m, after.0 - before.0, after.1 - before.1));
        let mut row = Row::new(format!("huge: edit in place, add (v{v})"));
        row.dv.push(m);
        rows.push(row);
    }
    let diff = run(&repo, &ctx.dv, &["diff", "HEAD~2", "HEAD", "--json"]);
    let mut row = Row::new("huge: diff v1 v3".into());
    row.dv.push(diff);
    rows.push(row);

    println!(
        "\nhuge file ({gib} GiB, {}):",
        if cold {
            "added cold"
        } else {
            "page cache not dropped: not root"
        }
    );
    for (how, m, floor) in &refs {
        println!(
            "  1 GiB {how}: {:.2} s, {:.0} MB/s, {:.1} CPU s ({:.1} system), floor {floor:.2} s ({:.2}x)",
            m.secs,
            mb_s(one, m),
            m.cpu_secs,
            m.sys_secs,
            m.secs / floor
        );
    }
    let m1 = &refs[1].1;
    println!(
        "  {gib} GiB cold: {:.2} s, {:.0} MB/s ({:.2}x the cold 1 GiB rate), {:.1} CPU s ({:.1} system), peak {:.0} MiB, floor {:.2} s ({:.2}x)",
        first.secs,
        mb_s(len, &first),
        mb_s(one, m1) / mb_s(len, &first),
        first.cpu_secs,
        first.sys_secs,
        first.max_rss_kib as f64 / 1024.0,
        floor,
        first.secs / floor
    );
    for (i, (m, chunks, meta)) in edits.iter().enumerate() {
        println!(
            "  edit {}: {:.2} s, peak {:.0} MiB; stored {chunks} B of chunks and {meta} B of metadata (target ≤ 2 MiB)",
            i + 2,
            m.secs,
            m.max_rss_kib as f64 / 1024.0
        );
    }
    fs::remove_dir_all(&dir).unwrap();
    rows
}
