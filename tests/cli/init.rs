use crate::common::*;

#[test]
fn init_creates_config_and_is_idempotent() {
    let r = TestRepo::bare_git();
    r.ok(&["init"]);
    let config = String::from_utf8(r.read(".dv/config.toml")).unwrap();
    assert!(config.contains("[core]\nformat = 1\n"), "{config}");
    let ignore = String::from_utf8(r.read(".dv/.gitignore")).unwrap();
    assert!(ignore.contains("/cache/") && ignore.contains("/state.db*"));
    // Git sees the config and ignore file, not the cache or database.
    let status = r.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(status, "?? .dv/.gitignore\n?? .dv/config.toml\n");

    let again = r.json(&["init"]);
    assert_eq!(again["created"], false);
    assert_eq!(r.read(".dv/config.toml"), config.as_bytes());
}

#[test]
fn init_from_a_subfolder_uses_the_work_tree_root() {
    let r = TestRepo::bare_git();
    std::fs::create_dir_all(r.p("a/b")).unwrap();
    let out = r.dv_in("a/b", &["init"]);
    assert!(out.status.success());
    assert!(r.p(".dv/config.toml").is_file());
    assert!(!r.p("a/b/.dv").exists());
}
