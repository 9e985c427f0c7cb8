//! DVC's and git-lfs's files come from Git and from DVC's cache (`dv migrate`): `.dvc` files, `.dir`
//! manifests, `dvc.lock`, `dvc.yaml`, the DVC and LFS maps, LFS pointers, and YAML in general. The first byte picks the
//! parser, the rest is its input. Parsing must never panic; every path accepted must be a dataset path inside
//! the repository; a map that parses must encode to itself.
#![no_main]

use dv_core::migrate::{dvc, lfs, map};
use libfuzzer_sys::fuzz_target;

fn inside(path: &str) {
    assert!(
        dv_core::paths::dataset_path_problem(path).is_none(),
        "accepted path {path:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0 => {
            if let Ok(f) = dvc::parse_dvc_file(rest, "sub/fuzz.dvc") {
                f.outs.iter().for_each(|o| inside(&o.path));
            }
        }
        1 => {
            if let Ok(entries) = dvc::parse_dir(rest, "fuzz.dir") {
                for e in &entries {
                    assert!(dv_core::paths::repo_path_problem(&e.relpath).is_none());
                    assert!(!e.md5.dir);
                }
            }
        }
        2 => {
            if let Ok(stages) = dvc::parse_lock(rest, "sub/dvc.lock", &Default::default()) {
                for s in &stages {
                    s.outs.iter().chain(&s.deps).for_each(|o| inside(&o.path));
                    s.params.iter().for_each(|(f, _, _)| inside(f));
                }
            }
        }
        3 => {
            if let Ok(p) = dvc::parse_pipeline(rest, "sub/dvc.yaml") {
                for s in &p.stages {
                    s.deps.iter().for_each(|d| inside(d));
                    s.outs.iter().for_each(|(o, _)| inside(o));
                }
            }
            let ctx = dvc::LockContext::of_pipeline(Some(rest), "sub/dvc.yaml");
            ctx.wdirs
                .values()
                .chain(&ctx.uncached)
                .filter(|w| !w.is_empty())
                .for_each(|w| inside(w));
        }
        4 => {
            if let Ok(m) = map::DvcMap::decode(rest, "fuzz-map") {
                let text = m.encode();
                let back = map::DvcMap::decode(text.as_bytes(), "re-encoded").expect("an encoded map parses");
                assert_eq!(back, m);
            }
        }
        5 => {
            if let Some(p) = lfs::parse_pointer(rest) {
                assert_eq!(p.oid.len(), 64);
            }
        }
        7 => {
            if let Ok(m) = lfs::LfsMap::decode(rest, "fuzz-lfs-map") {
                let text = m.encode();
                let back = lfs::LfsMap::decode(text.as_bytes(), "re-encoded").expect("an encoded map parses");
                assert_eq!(back, m);
            }
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = dv_core::yaml::parse(text, "fuzz.yaml");
            }
        }
    }
});
