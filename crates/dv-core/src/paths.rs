//! Repository paths: UTF-8, relative to the work tree root, '/'-separated, no '.' or '..' ("" is the root).

use std::path::{Component, Path, PathBuf};

use crate::store::object::check_name;
use crate::{Error, Result};

/// The suffix of pointer files.
pub const POINTER_SUFFIX: &str = ".dv";

/// Turns a path the user typed (relative to `cwd`) into a repository path, refusing paths outside `root`.
/// `root` and `cwd` must be absolute and free of symlinks (as `canonicalize` returns them).
pub fn to_repo_path(root: &Path, cwd: &Path, arg: &Path) -> Result<String> {
    let joined = if arg.is_absolute() {
        arg.to_path_buf()
    } else {
        cwd.join(arg)
    };
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in joined.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => parts.clear(),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(p) => parts.push(p),
        }
    }
    let normal: PathBuf = std::iter::once(Component::RootDir.as_os_str())
        .chain(parts.iter().copied())
        .collect();
    let rel = normal.strip_prefix(root).map_err(|_| Error::OutsideRepo {
        path: arg.to_path_buf(),
        root: root.to_path_buf(),
    })?;
    let mut out = String::new();
    for c in rel.components() {
        let s = c.as_os_str().to_str().ok_or_else(|| Error::BadPath {
            path: arg.display().to_string(),
            reason: "dv needs UTF-8 file names".into(),
        })?;
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(s);
    }
    Ok(out)
}

/// The absolute path of a repository path.
pub fn to_abs(root: &Path, repo_path: &str) -> PathBuf {
    if repo_path.is_empty() {
        root.to_path_buf()
    } else {
        root.join(repo_path)
    }
}

/// Joins a repository path and a child name.
pub fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// The parent folder and last component of a repository path ("" has none).
pub fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// True when `path` is `prefix` or below it.
pub fn is_within(path: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// True for paths dv must never track or write through: the repository's own `.git` and `.dv` folders.
pub fn is_reserved(path: &str) -> bool {
    let first = path.split('/').next().unwrap_or("");
    first == ".git" || first == ".dv" || path.split('/').any(|c| c == ".git")
}

/// The longest file name dv assumes every file system takes (Linux's and macOS's `NAME_MAX`, in bytes).
pub const NAME_MAX: usize = 255;

/// Why `path` is not a normal repository path, if it is not: "" (the work tree root), a component that is
/// empty, `.`, `..` or otherwise not a safe name (see [`check_name`]), or a path inside `.git` or `.dv`.
/// Every path read from a committed file (pointer file names, step files) goes through this.
pub fn repo_path_problem(path: &str) -> Option<String> {
    if path.is_empty() {
        return Some("it is empty (the root of the work tree)".into());
    }
    for part in path.split('/') {
        if let Err(why) = check_name(part) {
            return Some(format!("component {part:?}: {why}"));
        }
    }
    let first = path.split('/').next().unwrap_or("");
    if first.eq_ignore_ascii_case(".dv") || first.eq_ignore_ascii_case(".git") {
        return Some("it is inside .git or .dv".into());
    }
    None
}

/// Why `path` cannot be a dataset's path (the data a pointer file `PATH.dv` describes), if it cannot: it must
/// be a normal repository path (see [`repo_path_problem`]) whose components hold no control characters (its
/// name goes into a `.gitignore` line, and Git's ignore syntax cannot escape a newline), whose last name leaves
/// room for the `.dv` suffix within [`NAME_MAX`] bytes, and which is not `.gitignore` or `.gitattributes` (dv
/// writes those files).
/// Checked by `dv add` and wherever a pointer file is read ([`crate::ops::datasets::Dataset::from_pointer`]).
pub fn dataset_path_problem(path: &str) -> Option<String> {
    if let Some(why) = repo_path_problem(path) {
        return Some(why);
    }
    if let Some(c) = path.chars().find(|c| c.is_control()) {
        return Some(format!(
            "it holds the control character {c:?}, which a .gitignore line cannot hold"
        ));
    }
    let (_, name) = split(path);
    if name.len() + POINTER_SUFFIX.len() > NAME_MAX {
        return Some(format!(
            "its name is {} bytes, and with the pointer file's '{POINTER_SUFFIX}' it would pass the {NAME_MAX}-byte \
             limit of file names",
            name.len()
        ));
    }
    if name.eq_ignore_ascii_case(".gitignore") {
        return Some("dv writes the .gitignore files itself".into());
    }
    if name.eq_ignore_ascii_case(".gitattributes") {
        return Some(
            "dv writes the root .gitattributes itself, and Git reads every one of them".into(),
        );
    }
    None
}

/// A path as shown to a person (human output, error messages): unchanged when it holds no control character,
/// double quote or backslash; otherwise in double quotes with those escaped C-style (`\n`, `\t`, `\r`, `\"`,
/// `\\`, `\x1b`, `\u{85}`), as Git shows such names (core.quotePath), so a file name can neither forge an
/// output line nor send a terminal escape. Names inside folder datasets may hold any of these (Git never sees
/// them); `--json` output keeps them exact (JSON escapes them itself).
pub fn quoted(path: &str) -> std::borrow::Cow<'_, str> {
    if !path
        .chars()
        .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        return std::borrow::Cow::Borrowed(path);
    }
    let mut s = String::with_capacity(path.len() + 2);
    s.push('"');
    for c in path.chars() {
        match c {
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x80 && c.is_control() => s.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => s.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    std::borrow::Cow::Owned(s)
}

/// Refuses a repository path whose parent folders (inside the work tree) include a symbolic link: dv never
/// reads or writes data through a link, which could lead outside the repository.
pub fn check_no_linked_parents(root: &Path, path: &str) -> Result<()> {
    let mut abs = root.to_path_buf();
    let (parent, _) = split(path);
    if parent.is_empty() {
        return Ok(());
    }
    let mut sofar = String::new();
    for comp in parent.split('/') {
        abs.push(comp);
        sofar = join(&sofar, comp);
        match std::fs::symlink_metadata(&abs) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::BadPath {
                    path: path.to_string(),
                    reason: format!(
                        "its parent folder '{sofar}' is a symbolic link, and dv never reads or writes data \
                         through links"
                    ),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(abs, e)),
        }
    }
    Ok(())
}

/// A path as one word a POSIX shell reads back as it is: bare when it holds only safe characters, else in
/// single quotes.
pub fn shell_word(p: &str) -> String {
    if p.chars().any(char::is_control) {
        // Never a terminal escape on the screen: shown escaped, as output shows such names elsewhere.
        return crate::paths::quoted(p).into_owned();
    }
    if !p.is_empty()
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-+,=@%:".contains(c))
    {
        p.to_string()
    } else {
        format!("'{}'", p.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shell_words_read_back_as_written() {
        assert_eq!(super::shell_word("data/a.csv"), "data/a.csv");
        assert_eq!(super::shell_word("it's"), r"'it'\''s'");
        assert_eq!(super::shell_word(""), "''");
    }

    use super::*;

    #[test]
    fn a_linked_parent_is_refused_a_missing_one_is_not_and_other_errors_stay_errors() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("real/sub")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        std::fs::write(root.join("file"), b"x").unwrap();

        assert!(check_no_linked_parents(root, "top.bin").is_ok());
        assert!(check_no_linked_parents(root, "real/sub/x.bin").is_ok());
        // Parents that do not exist yet are fine: dv creates them.
        assert!(check_no_linked_parents(root, "real/new/deeper/x.bin").is_ok());
        match check_no_linked_parents(root, "link/sub/x.bin") {
            Err(Error::BadPath { path, reason }) => {
                assert_eq!(path, "link/sub/x.bin");
                assert!(reason.contains("'link'"), "{reason}");
            }
            other => panic!("a linked parent must be refused, got {other:?}"),
        }
        // A parent that is a file is not "missing": the error is kept, not taken for a folder to create.
        assert!(matches!(
            check_no_linked_parents(root, "file/sub/x.bin"),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn normalizes_and_refuses_outside() {
        let root = Path::new("/r");
        let cwd = Path::new("/r/a/b");
        assert_eq!(to_repo_path(root, cwd, Path::new("x")).unwrap(), "a/b/x");
        assert_eq!(
            to_repo_path(root, cwd, Path::new("../x/./y/")).unwrap(),
            "a/x/y"
        );
        assert_eq!(to_repo_path(root, cwd, Path::new("../..")).unwrap(), "");
        assert_eq!(to_repo_path(root, cwd, Path::new("/r/z")).unwrap(), "z");
        assert!(matches!(
            to_repo_path(root, cwd, Path::new("../../../etc")),
            Err(Error::OutsideRepo { .. })
        ));
        assert!(to_repo_path(root, cwd, Path::new("/rr/z")).is_err());
    }

    #[test]
    fn quoting_escapes_what_could_forge_a_line() {
        assert_eq!(quoted("a b/ü.csv"), "a b/ü.csv");
        assert_eq!(quoted("x\ny"), "\"x\\ny\"");
        assert_eq!(quoted("e\u{1b}[31m"), "\"e\\x1b[31m\"");
        assert_eq!(quoted("q\"\\\t\r\u{85}"), "\"q\\\"\\\\\\t\\r\\u{85}\"");
    }

    #[test]
    fn within_and_reserved() {
        assert!(is_within("data/a", "data"));
        assert!(is_within("data", "data"));
        assert!(!is_within("data2", "data"));
        assert!(is_within("x", ""));
        assert!(is_reserved(".dv/cache"));
        assert!(is_reserved("sub/.git"));
        assert!(!is_reserved("data/.gitignore"));
        assert_eq!(split("a/b/c"), ("a/b", "c"));
        assert_eq!(split("c"), ("", "c"));
    }

    #[test]
    fn dataset_paths_are_normal_repository_paths() {
        for good in [
            "data",
            "a/b.csv",
            "sp ace/ x ",
            "#hash",
            "!bang",
            "a*b?[c]",
            "ü",
            ".hidden",
        ] {
            assert_eq!(dataset_path_problem(good), None, "{good:?}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/..",
            "./a",
            "a//b",
            "a/",
            "/a",
            ".git",
            "x/.git/y",
            ".GIT",
            ".dv",
            ".dv/x",
            ".DV/x",
            "a\nb",
            "tab\t",
            "del\u{7f}",
            "x/.gitignore",
            "a\\b",
        ] {
            assert!(dataset_path_problem(bad).is_some(), "{bad:?} accepted");
        }
        assert!(dataset_path_problem(&"n".repeat(252)).is_none());
        assert!(dataset_path_problem(&"n".repeat(253)).is_some());
        assert!(
            repo_path_problem("x/.dv").is_none(),
            "only the top .dv is dv's"
        );
    }
}
