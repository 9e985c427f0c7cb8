//! Every cloud backend dv names, against a real server on 127.0.0.1: the same round trips (push, pull into a
//! fresh clone bit for bit, fetch, `fsck --remote`, `gc --remote`) for S3 (s3s-fs, in process) and Azure
//! (Azurite, started as a child process: see tests/support/emulators.rs; `bash scripts/install-emulators.sh`
//! installs it). GCS is experimental: no emulator reachable here speaks the XML API object_store uses (see
//! README), so only its settings are tested, against a listener that records the request.

use crate::common::*;
use crate::emulators::{AZURE_ACCOUNT, AZURE_KEY, Emulator};
use crate::s3_server::S3Server;
use std::sync::OnceLock;

fn new_name(kind: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("dv-{kind}-{}", N.fetch_add(1, Ordering::SeqCst))
}

/// A bucket (or container) of its own on one of the servers, shared by the whole test binary.
enum Cloud {
    S3(&'static S3Server),
    Azure(&'static Emulator),
}

impl Cloud {
    fn s3() -> Cloud {
        static SERVER: OnceLock<S3Server> = OnceLock::new();
        Cloud::S3(SERVER.get_or_init(S3Server::start))
    }
    fn azure() -> Cloud {
        static SERVER: OnceLock<Emulator> = OnceLock::new();
        Cloud::Azure(SERVER.get_or_init(Emulator::azurite))
    }

    /// Makes a new bucket and adds it to `r` as `origin`, settings committed, credentials in config.local.toml.
    fn add_remote(&self, r: &TestRepo) {
        let (url, endpoint, local) = match self {
            Cloud::S3(server) => {
                let bucket = new_name("s3");
                server.bucket(&bucket);
                let local = format!(
                    "access_key_id = \"{}\"\nsecret_access_key = \"{}\"\nregion = \"{}\"\n",
                    crate::s3_server::ACCESS_KEY,
                    crate::s3_server::SECRET_KEY,
                    crate::s3_server::REGION
                );
                (format!("s3://{bucket}/team"), server.endpoint(), local)
            }
            Cloud::Azure(server) => {
                let container = new_name("az");
                server.azure_container(&container);
                let local =
                    format!("account_name = \"{AZURE_ACCOUNT}\"\naccess_key = \"{AZURE_KEY}\"\n");
                // Azurite names the account in the path, not in the host.
                let endpoint = format!("{}/{AZURE_ACCOUNT}", server.endpoint());
                (format!("az://{container}/team"), endpoint, local)
            }
        };
        r.ok(&["remote", "add", "origin", &url]);
        r.ok(&["remote", "modify", "origin", "endpoint", &endpoint]);
        r.ok(&["remote", "modify", "origin", "allow_http", "true"]);
        r.write(
            ".dv/config.local.toml",
            format!("[remote.origin]\n{local}").as_bytes(),
        );
    }
}

/// Runs the round trip against each cloud backend.
macro_rules! each_cloud {
    ($scenario:ident: $s3:ident, $azure:ident) => {
        #[test]
        fn $s3() {
            $scenario(Cloud::s3());
        }
        #[test]
        fn $azure() {
            $scenario(Cloud::azure());
        }
    };
}

each_cloud!(push_pull_fetch_fsck_gc_round_trip: round_trip_s3, round_trip_azure);

fn push_pull_fetch_fsck_gc_round_trip(cloud: Cloud) {
    let r = TestRepo::new();
    cloud.add_remote(&r);
    r.git(&["add", ".dv"]);
    let v1 = bytes(11, 3_000_000);
    r.write("data/big.bin", &v1);
    r.write("data/small/a.txt", b"alpha");
    r.write("data/small/b.txt", b"beta");
    r.ok(&["add", "data"]);
    r.git(&["commit", "-qm", "v1"]);

    // Push, and a second push has nothing to send.
    let pushed = r.json(&["push"]);
    assert!(pushed["objects"].as_u64().unwrap() > 3, "{pushed}");
    assert_eq!(r.json(&["push"])["objects"], 0);
    assert_eq!(r.dv(&["fsck", "--remote", "origin"]).status.code(), Some(0));

    // A fresh clone pulls it bit for bit (its credentials are per machine, so copied by hand).
    let clone = clone_of(&r);
    std::fs::copy(
        r.p(".dv/config.local.toml"),
        clone.path().join(".dv/config.local.toml"),
    )
    .unwrap();
    ok_at(clone.path(), &["pull"]);
    assert_eq!(snapshot(&clone.path().join("data")), snapshot(&r.p("data")));

    // Version 2: the clone fetches only it, then checks it out.
    let mut v2 = v1.clone();
    v2[1_000_000..1_000_100].copy_from_slice(&[7; 100]);
    r.write("data/big.bin", &v2);
    r.write("data/small/c.txt", b"gamma");
    r.ok(&["add", "data"]);
    r.git(&["commit", "-qm", "v2"]);
    r.ok(&["push"]);
    git_in(clone.path(), &["pull", "-q"]);
    let fetched: serde_json::Value =
        serde_json::from_str(&ok_at(clone.path(), &["fetch", "--json"])).unwrap();
    let objects = fetched["objects"].as_u64().unwrap();
    assert!(
        objects > 0 && objects < pushed["objects"].as_u64().unwrap(),
        "{fetched}"
    );
    ok_at(clone.path(), &["checkout"]);
    assert_eq!(snapshot(&clone.path().join("data")), snapshot(&r.p("data")));

    // gc on the remote keeps what HEAD reaches and deletes v1's own chunks (repacking v1's pack, which is
    // mostly live); the remote stays sound.
    let report = r.json(&[
        "gc",
        "--remote",
        "origin",
        "--grace",
        "0",
        "--repack-below",
        "1",
    ]);
    assert!(report["objects_deleted"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(r.dv(&["fsck", "--remote", "origin"]).status.code(), Some(0));
    let fresh = clone_of(&r);
    std::fs::copy(
        r.p(".dv/config.local.toml"),
        fresh.path().join(".dv/config.local.toml"),
    )
    .unwrap();
    ok_at(fresh.path(), &["pull"]);
    assert_eq!(
        std::fs::read(fresh.path().join("data/big.bin")).unwrap(),
        v2
    );
    let out = dv_command(fresh.path())
        .args(["fetch", "--rev", "HEAD~1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "v1 is gone from the remote");
}

#[test]
fn a_gcs_remote_reaches_the_endpoint_its_setting_names() {
    let key = "{\"disable_oauth\": true, \"client_email\": \"\", \"private_key\": \"\", \"private_key_id\": \"\"}";
    let line = gcs_first_request(
        &format!("[remote.origin]\nservice_account_key = '{key}'\n"),
        &[],
    );
    assert!(
        line.contains(" /dv-bucket") || line.contains(" /dv%2Dbucket"),
        "{line}"
    );
}

/// The GCS credentials object_store's `from_env` would take from the environment (GOOGLE_*, and SERVICE_ACCOUNT
/// for a key file) are taken from it still, now that the CLI resolves them (`RemoteEnv`).
#[test]
fn a_gcs_remote_takes_its_credentials_from_the_environment() {
    let key =
        r#"{"disable_oauth": true, "client_email": "", "private_key": "", "private_key_id": ""}"#;
    let line = gcs_first_request("", &[("GOOGLE_SERVICE_ACCOUNT_KEY", key)]);
    assert!(
        line.contains("dv-bucket") || line.contains("dv%2Dbucket"),
        "{line}"
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), key).unwrap();
    let line = gcs_first_request("", &[("SERVICE_ACCOUNT", file.path().to_str().unwrap())]);
    assert!(
        line.contains("dv-bucket") || line.contains("dv%2Dbucket"),
        "{line}"
    );
}

/// Pushes to a GCS remote whose endpoint is a listener on 127.0.0.1 that answers every request 404 (an empty
/// remote), with `local` as `.dv/config.local.toml` and `env` in the environment; returns the first request
/// line the listener saw.
fn gcs_first_request(local: &str, env: &[(&str, &str)]) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Answers every request 404 (an empty remote) and keeps the first request line.
    let seen = std::thread::spawn(move || {
        let mut first = None;
        listener.set_nonblocking(true).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let Ok((mut s, _)) = listener.accept() else {
                std::thread::sleep(std::time::Duration::from_millis(20));
                continue;
            };
            s.set_nonblocking(false).unwrap();
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            first = text.lines().next().map(str::to_string);
            let _ = s.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            break;
        }
        first
    });
    let r = TestRepo::new();
    r.ok(&["remote", "add", "origin", "gs://dv-bucket/team"]);
    r.ok(&[
        "remote",
        "modify",
        "origin",
        "endpoint",
        &format!("http://127.0.0.1:{port}"),
    ]);
    r.ok(&["remote", "modify", "origin", "allow_http", "true"]);
    r.ok(&["remote", "modify", "origin", "max_retries", "0"]);
    r.write(".dv/config.local.toml", local.as_bytes());
    r.write("data/a.txt", b"alpha");
    r.ok(&["add", "data"]);
    let out = dv_command(r.path())
        .envs(env.iter().copied())
        .arg("push")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("unknown setting"), "{stderr}");
    seen.join()
        .unwrap()
        .unwrap_or_else(|| panic!("dv sent no request to the endpoint: {stderr}"))
}

/// Azure's account and key from the environment (AZURE_STORAGE_ACCOUNT_NAME, AZURE_STORAGE_ACCOUNT_KEY), as
/// object_store's `from_env` would take them, now that the CLI resolves them (`RemoteEnv`); without them the
/// account is missing.
#[test]
fn an_azure_remote_takes_its_credentials_from_the_environment() {
    let Cloud::Azure(server) = Cloud::azure() else {
        unreachable!()
    };
    let container = new_name("az");
    server.azure_container(&container);
    let r = TestRepo::new();
    r.ok(&["remote", "add", "origin", &format!("az://{container}/team")]);
    let endpoint = format!("{}/{AZURE_ACCOUNT}", server.endpoint());
    r.ok(&["remote", "modify", "origin", "endpoint", &endpoint]);
    r.ok(&["remote", "modify", "origin", "allow_http", "true"]);
    r.write("data/a.bin", &bytes(7, 100_000));
    r.ok(&["add", "data"]);
    let err = r.fails(&["-q", "push"]);
    assert!(err.contains("error: remote 'origin': "), "{err}");
    let out = r.ok_with(
        &[
            ("AZURE_STORAGE_ACCOUNT_NAME", AZURE_ACCOUNT),
            ("AZURE_STORAGE_ACCOUNT_KEY", AZURE_KEY),
        ],
        &["-q", "push", "--json"],
    );
    let pushed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(pushed["objects"].as_u64().unwrap() >= 1, "{pushed}");
}
