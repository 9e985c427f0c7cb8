//! Remote failures say what is wrong and what to do, quickly, and never show a secret: servers that never
//! answer, missing credentials, passwords in URLs, mistyped folder remotes, S3's error codes.

use crate::common::*;
use crate::s3_server::S3Server;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

/// A repository with a dataset added (not pushed anywhere).
fn repo_with_data() -> TestRepo {
    let r = TestRepo::new();
    r.write("data/a.bin", &bytes(7, 20_000));
    r.write("data/b.txt", b"beta");
    r.ok(&["add", "data"]);
    r
}

/// Adds `url` as the S3 remote `origin` at `endpoint` (plain HTTP).
fn s3_remote(r: &TestRepo, url: &str, endpoint: &str) {
    r.ok(&["remote", "add", "origin", url]);
    crate::remote::configure_s3(r, endpoint);
}

/// A TCP listener on 127.0.0.1 that accepts every connection and never answers.
fn silent_listener() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for conn in listener.incoming() {
            open.push(conn);
        }
    });
    addr
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Runs `cmd`, expects exit status 1; returns stderr and how long it took.
fn failing(mut cmd: std::process::Command) -> (String, Duration) {
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let took = started.elapsed();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    (err, took)
}

fn dv_args(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut c = dv_command(dir);
    c.args(args);
    c
}

#[test]
fn an_endpoint_that_never_answers_fails_in_seconds_with_a_hint() {
    let addr = silent_listener();
    let r = repo_with_data();
    s3_remote(&r, "s3://bucket/p", &format!("http://{addr}"));
    // The defaults: three unanswered attempts of 5 s each, not three minutes of silence.
    let (err, took) = failing(dv_args(r.path(), &["push"]));
    assert!(took < Duration::from_secs(40), "took {took:?}:\n{err}");
    assert!(
        err.contains(&format!(
            "error: remote 'origin': no answer from http://{addr} within 5 s (3 attempts)"
        )),
        "{err}"
    );
    assert!(
        err.contains("\nhint: ") && err.contains("response_timeout SECONDS` (now 5 s)"),
        "{err}"
    );
    // Each retry is said as it happens, counted against the limit that applies.
    assert!(
        err.contains("retrying in") && err.contains("(attempt 2 of 3)"),
        "{err}"
    );
    // The wait is a setting.
    r.ok(&["remote", "modify", "origin", "response_timeout", "0.5"]);
    let (err, took) = failing(dv_args(r.path(), &["fetch"]));
    assert!(took < Duration::from_secs(10), "took {took:?}:\n{err}");
    assert!(
        err.contains(&format!("no answer from http://{addr} within 0.5 s")),
        "{err}"
    );
    // --quiet keeps the retries to itself, not the error.
    let (err, _) = failing(dv_args(r.path(), &["fetch", "-q"]));
    assert!(!err.contains("retrying"), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    // A bad value is refused when used, naming the setting.
    r.ok(&["remote", "modify", "origin", "connect_timeout", "soon"]);
    let (err, _) = failing(dv_args(r.path(), &["fetch"]));
    assert!(
        err.contains("connect_timeout must be seconds, not \"soon\""),
        "{err}"
    );
}

#[test]
fn missing_credentials_say_where_dv_looked() {
    let server = S3Server::start();
    server.bucket("creds");
    let r = repo_with_data();
    s3_remote(&r, "s3://creds/p", &server.endpoint());
    let metadata = closed_port();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = dv_args(r.path(), &["push"]);
    cmd.env("HOME", home.path())
        .env("AWS_METADATA_ENDPOINT", format!("http://{metadata}"));
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        cmd.env_remove(var);
    }
    let (err, took) = failing(cmd);
    assert!(took < Duration::from_secs(30), "took {took:?}:\n{err}");
    assert!(
        err.contains("error: remote 'origin': no credentials found (looked in: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"),
        "{err}"
    );
    assert!(err.contains(".dv/config.local.toml"), "{err}");
    assert!(
        err.contains(&format!("instance metadata at http://{metadata})")),
        "{err}"
    );
    assert!(
        err.contains("\nhint: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        "{err}"
    );
}

#[test]
fn a_url_with_a_password_is_refused_and_never_echoed() {
    let r = TestRepo::new();
    let config_before = r.read(".dv/config.toml");
    for (url, what) in [
        ("s3://AKIAEXAMPLE:hunter2@bucket/p", "a password"),
        (
            "https://user:hunter2@s3.amazonaws.com/bucket/p",
            "a password",
        ),
        (
            "https://acct.blob.core.windows.net/c/p?sv=2022-11-02&sig=hunter2",
            "a secret in its query string (`sig`)",
        ),
    ] {
        let err = r.fails(&["remote", "add", "origin", url]);
        assert!(err.contains(&format!("the URL holds {what}")), "{err}");
        assert!(err.contains("config.local.toml"), "{err}");
        assert!(!err.contains("hunter2"), "echoed: {err}");
    }
    assert_eq!(r.read(".dv/config.toml"), config_before);

    let server = S3Server::start();
    server.bucket("pw");
    s3_remote(&r, "s3://pw/p", &server.endpoint());
    let err = r.fails(&["remote", "modify", "origin", "url", "s3://k:hunter2@pw/p"]);
    assert!(
        err.contains("holds a password") && !err.contains("hunter2"),
        "{err}"
    );
    let err = r.fails(&[
        "remote",
        "modify",
        "origin",
        "endpoint",
        "http://admin:hunter2@127.0.0.1:9000",
    ]);
    assert!(
        err.contains("the endpoint holds a password") && !err.contains("hunter2"),
        "{err}"
    );
    let config = String::from_utf8(r.read(".dv/config.toml")).unwrap();
    assert!(!config.contains("hunter2"), "{config}");

    // A committed file edited by hand is refused as a whole, without repeating the secret.
    r.write(
        ".dv/config.toml",
        config
            .replace("s3://pw/p", "s3://k:hunter2@pw/p")
            .as_bytes(),
    );
    let err = r.fails(&["remote", "list"]);
    assert!(
        err.contains("config.toml: remote.origin.url: the URL holds a password"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    r.write(".dv/config.toml", config.as_bytes());

    // A password that reaches a request from the environment is not shown in its error either.
    r.write("data/a.bin", b"x");
    r.ok(&["add", "data"]);
    r.ok(&["remote", "modify", "origin", "endpoint", "--unset"]);
    let (err, _) = failing({
        let mut c = dv_args(r.path(), &["push"]);
        c.env(
            "AWS_ENDPOINT_URL",
            format!("http://admin:hunter2@{}", closed_port()),
        );
        c
    });
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_folder_remote_whose_parent_is_missing_is_an_error_naming_it() {
    let r = repo_with_data();
    let base = tempfile::tempdir().unwrap();
    let typo = base.path().join("no-such-dir").join("store");
    r.ok(&["remote", "add", "origin", typo.to_str().unwrap()]);
    for args in [&["push"][..], &["fetch"], &["status", "--remote"]] {
        let err = r.fails(args);
        assert!(
            err.contains(&format!(
                "the folder {} does not exist, and neither does its parent {}",
                typo.display(),
                typo.parent().unwrap().display()
            )),
            "{args:?}: {err}"
        );
        assert!(err.contains("\nhint: check the remote's URL"), "{err}");
        assert!(!typo.parent().unwrap().exists(), "nothing created");
    }
    // Only the last folder missing: a read-only command creates nothing and says the folder is missing (a
    // mistyped last component must not become an empty store that reads as "nothing pushed"); push makes it
    // and says so.
    let store = base.path().join("store");
    r.ok(&["remote", "modify", "origin", "url", store.to_str().unwrap()]);
    for args in [
        &["status", "--remote"][..],
        &["fsck", "--remote", "origin"],
        &["fetch"],
        &["pull"],
        &["gc", "--remote", "origin"],
    ] {
        let err = r.fails(args);
        assert!(
            err.contains(&format!(
                "the folder {} does not exist: nothing has been pushed to it",
                store.display()
            )),
            "{args:?}: {err}"
        );
        assert!(err.contains("`dv push` creates it"), "{err}");
        assert!(!store.exists(), "{args:?} created the remote's folder");
    }
    let out = dv_args(r.path(), &["push"]).output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "Created the folder {} for remote 'origin'.",
            store.display()
        )),
        "{err}"
    );
    let out = dv_args(r.path(), &["push"]).output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success() && !err.contains("Created"), "{err}");
}

#[test]
fn s3_errors_give_the_code_and_message_with_a_hint() {
    let server = S3Server::start();
    let r = repo_with_data();
    s3_remote(&r, "s3://missing-bucket/p", &server.endpoint());
    let err = r.fails(&["-q", "push"]);
    assert!(
        err.contains(
            "error: remote 'origin': the bucket 'missing-bucket' does not exist (NoSuchBucket"
        ),
        "{err}"
    );
    assert!(
        err.contains("\nhint: create it, or check the remote's URL"),
        "{err}"
    );
    assert!(!err.contains("<?xml") && !err.contains("<Code>"), "{err}");

    server.bucket("there");
    r.ok(&["remote", "modify", "origin", "url", "s3://there/p"]);
    for (var, value, code) in [
        (
            "AWS_SECRET_ACCESS_KEY",
            "wrong-secret",
            "SignatureDoesNotMatch",
        ),
        // Real S3 says InvalidAccessKeyId; the test server says NotSignedUp, without XML.
        ("AWS_ACCESS_KEY_ID", "unknown-key", "NotSignedUp"),
    ] {
        let (err, _) = failing({
            let mut c = dv_args(r.path(), &["push"]);
            c.env(var, value);
            c
        });
        assert!(
            err.contains(&format!(
                "error: remote 'origin': the server refused the credentials ({code}"
            )),
            "{err}"
        );
        assert!(
            err.contains("\nhint: check the credentials dv uses for 'origin'"),
            "{err}"
        );
        assert!(!err.contains("<?xml") && !err.contains("<Code>"), "{err}");
    }
    // And with the right ones, it all works.
    r.ok(&["push"]);
}

/// Found by the adversarial review: a URL missing a slash (`https:/…`, `s3:…`) was taken for a folder path, so
/// its password went into the committed config and into every error naming the folder.
#[test]
fn a_mistyped_url_with_a_password_is_refused_too() {
    let r = TestRepo::new();
    for url in ["https:/u:hunter2pass@127.0.0.1/x", "s3:u:hunter2pass@bkt"] {
        let out = r.dv(&["remote", "add", "pwx", url]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{url}: {err}");
        assert!(err.contains("a password"), "{url}: {err}");
        assert!(
            !err.contains("hunter2pass"),
            "{url}: the password was echoed: {err}"
        );
        let config = String::from_utf8(r.read(".dv/config.toml")).unwrap();
        assert!(!config.contains("hunter2pass"), "{url}: {config}");
    }
}

/// The retry notices count against the limit that really applies to a server that has never answered (three
/// attempts, then the error), not object_store's `max_retries`: "attempt 2 of 11" was followed by the error.
/// Both for a server that accepts connections and never answers, and for one that refuses them.
#[test]
fn retry_notices_count_the_attempts_that_are_made() {
    let silent = silent_listener();
    let r = repo_with_data();
    s3_remote(&r, "s3://bucket/p", &format!("http://{silent}"));
    r.ok(&["remote", "modify", "origin", "response_timeout", "0.3"]);
    r.ok(&["remote", "modify", "origin", "connect_timeout", "0.3"]);
    for endpoint in [
        format!("http://{silent}"),
        format!("http://{}", closed_port()),
    ] {
        r.ok(&["remote", "modify", "origin", "endpoint", &endpoint]);
        let (err, took) = failing(dv_args(r.path(), &["fetch"]));
        assert!(took < Duration::from_secs(15), "took {took:?}:\n{err}");
        let notices: Vec<&str> = err.lines().filter(|l| l.contains("retrying in")).collect();
        assert!(!notices.is_empty(), "{err}");
        for (i, line) in notices.iter().enumerate() {
            assert!(
                line.contains(&format!("(attempt {} of 3); retrying in", i + 1)),
                "{endpoint}: {line}\n{err}"
            );
        }
        assert!(!err.contains(" of 11)"), "{err}");
        assert!(err.contains("(3 attempts)"), "{endpoint}: {err}");
    }
}

/// With `DV_LOG=trace`, hyper's connection pool printed an endpoint's `user:password@` as it is. Every log line
/// now passes the redaction errors pass.
#[test]
fn trace_logs_never_show_a_password() {
    let r = TestRepo::new();
    let server = S3Server::start();
    server.bucket("pw");
    s3_remote(&r, "s3://pw/p", &server.endpoint());
    r.write("data/a.bin", b"x");
    r.ok(&["add", "data"]);
    r.ok(&["remote", "modify", "origin", "endpoint", "--unset"]);
    let out = dv_args(r.path(), &["push"])
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://admin:hunter2@{}", closed_port()),
        )
        .env("DV_LOG", "trace")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    // The trace did show the login (so the test sees what it guards), without its password.
    assert!(err.contains("admin:***@"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

/// A committed `endpoint` silently sent the user's signed pushes to the server the commit named. It is named
/// in `dv remote list` (and its JSON), and every push warns until the user's own config.local.toml sets it.
#[test]
fn a_committed_endpoint_is_named_and_push_warns_until_confirmed() {
    let r = TestRepo::new();
    let server = S3Server::start();
    server.bucket("company-bucket");
    s3_remote(&r, "s3://company-bucket/p", &server.endpoint());
    let list = r.ok(&["remote", "list"]);
    assert!(
        list.contains(&format!(
            "    requests go to {} (set in the committed .dv/config.toml)",
            server.endpoint()
        )),
        "{list}"
    );
    let json = r.json(&["remote", "list"]);
    assert_eq!(json[0]["endpoint"]["url"], server.endpoint().as_str());
    assert_eq!(json[0]["endpoint"]["committed"], true);
    r.write("a.bin", b"x");
    r.ok(&["add", "a.bin"]);
    let out = r.dv(&["push"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "warning: remote 'origin' sends your requests to {}, an endpoint set in the committed \
             .dv/config.toml",
            server.endpoint()
        )),
        "{err}"
    );
    // Confirmed in the user's own file: named as theirs, no warning.
    r.write(
        ".dv/config.local.toml",
        format!("[remote.origin]\nendpoint = \"{}\"\n", server.endpoint()).as_bytes(),
    );
    let list = r.ok(&["remote", "list"]);
    assert!(
        list.contains("    requests go to the endpoint set in .dv/config.local.toml"),
        "{list}"
    );
    assert!(!list.contains(&server.endpoint()), "{list}");
    let out = r.dv(&["push"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("warning"), "{err}");
}

/// A plain `http://` endpoint without `allow_http` failed at the first request with object_store's "HTTP error:
/// builder error" (adversarial review): dv now says the endpoint is plain HTTP before any request, with the
/// setting that allows it, wherever the endpoint comes from and for every cloud backend.
#[test]
fn a_plain_http_endpoint_without_allow_http_says_so_with_the_setting_to_change() {
    let server = S3Server::start();
    server.bucket("plain-http");
    let r = repo_with_data();
    r.ok(&["remote", "add", "origin", "s3://plain-http/p"]);
    r.ok(&["remote", "modify", "origin", "endpoint", &server.endpoint()]);
    r.ok(&[
        "remote",
        "modify",
        "origin",
        "region",
        crate::s3_server::REGION,
    ]);
    let check = |err: &str| {
        assert!(
            err.contains("error: remote 'origin': the endpoint http://127.0.0.1:")
                && err.contains("is plain HTTP, which dv uses only when allow_http is true"),
            "{err}"
        );
        assert!(
            err.contains("\nhint: ") && err.contains("`dv remote modify origin allow_http true`"),
            "{err}"
        );
        assert!(!err.contains("builder error"), "{err}");
    };
    check(&r.fails(&["-q", "push"]));
    check(&r.fails(&["status", "--remote", "origin"]));
    r.ok(&["remote", "modify", "origin", "allow_http", "false"]);
    check(&r.fails(&["-q", "push"]));
    r.ok(&["remote", "remove", "origin"]);
    // An endpoint from the environment is held to the same rule.
    r.ok(&["remote", "add", "origin", "s3://plain-http/p"]);
    r.ok(&[
        "remote",
        "modify",
        "origin",
        "region",
        crate::s3_server::REGION,
    ]);
    let (err, _) = failing({
        let mut c = dv_args(r.path(), &["-q", "push"]);
        c.env("AWS_ENDPOINT_URL", server.endpoint());
        c
    });
    check(&err);
    r.ok(&["remote", "remove", "origin"]);
    // Azure too (refused before any connection; GCS's client allows plain HTTP by default).
    r.ok(&["remote", "add", "origin", "az://c/p"]);
    r.ok(&[
        "remote",
        "modify",
        "origin",
        "endpoint",
        "http://127.0.0.1:1",
    ]);
    check(&r.fails(&["-q", "push"]));
    r.ok(&["remote", "remove", "origin"]);
    // Allowed, it works.
    r.ok(&["remote", "add", "origin", "s3://plain-http/p"]);
    crate::remote::configure_s3(&r, &server.endpoint());
    r.ok(&["-q", "push"]);
}

/// Every line of an error is redacted, its causes too: a password in the endpoint reaches object_store's own
/// error, which is kept behind dv's message and shown as `caused by:` lines.
#[test]
fn a_password_is_hidden_in_every_cause_of_an_error() {
    let server = S3Server::start();
    server.bucket("pw");
    let r = repo_with_data();
    s3_remote(&r, "s3://pw/p", &server.endpoint());
    r.ok(&["remote", "modify", "origin", "endpoint", "--unset"]);
    let (err, _) = failing({
        let mut c = dv_args(r.path(), &["push"]);
        c.env(
            "AWS_ENDPOINT_URL",
            format!("http://user:hunter2pw@{}", closed_port()),
        );
        c
    });
    assert!(err.contains("error: remote 'origin': "), "{err}");
    assert!(err.contains("\n  caused by: "), "{err}");
    assert!(!err.contains("hunter2pw"), "{err}");
}

/// `.dv/config.local.toml` holds secrets: a value of the wrong type is refused by its key and line, never
/// quoted, however it is wrong (a list, a table, a remote that is a string), and every line of a TOML syntax
/// error is free of it too.
#[test]
fn a_bad_value_in_config_local_toml_is_never_quoted() {
    let r = repo_with_data();
    let _remote = folder_remote(&r);
    let cases: &[(&str, &str)] = &[
        (
            "[remote.origin]\nsecret_access_key = [\"S3CRETLIST\"]\n",
            "remote.origin.secret_access_key",
        ),
        (
            "[remote.origin]\nsecret_access_key = { a = \"S3CRETTABLE\" }\n",
            "remote.origin.secret_access_key",
        ),
        ("[remote]\norigin = \"S3CRETSTRING\"\n", "remote.origin"),
        ("remote = \"S3CRETTOP\"\n", "remote"),
        (
            "[remote.origin]\nsecret_access_key = \"S3CRETSYNTAX\n",
            "line 2",
        ),
        (
            "[remote.origin]\nkey = \"S3CRETDUP\"\nkey = \"S3CRETDUP\"\n",
            "line 3",
        ),
    ];
    for (text, names) in cases {
        r.write(".dv/config.local.toml", text.as_bytes());
        for args in [&["push"][..], &["remote", "list"], &["push", "--json"]] {
            let out = r.dv(args);
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(1), "{args:?} with {text:?}: {all}");
            assert!(
                !all.contains("S3CRET"),
                "{args:?} with {text:?} shows the secret: {all}"
            );
            assert!(
                all.contains(names),
                "{args:?} with {text:?} does not say where: {all}"
            );
        }
    }
}
