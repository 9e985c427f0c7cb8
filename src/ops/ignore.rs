//! The Git ignore rules that keep a dataset's data out of Git.
//!
//! Dataset `DIR/NAME` is ignored by the line `/NAME` in `DIR/.gitignore`, beside its pointer file `NAME.dv`.
//! dv inserts its lines in sorted order (after the last of them when the new one sorts last), so two clones
//! that add different datasets to one folder usually edit different places of the file; and the repository's
//! root `.gitattributes` says `.gitignore merge=union`, so that when their lines do end up side by side Git's
//! merge keeps both lines instead of reporting a conflict. A line dv no longer needs (after a rename or a
//! removal) stays: ignoring a name that does not exist costs nothing, and a union merge may bring it back
//! anyway. Renames: a pointer moved with `git mv` is ignored under its new name the next time `dv checkout`
//! (or `pull`) runs (see [`ensure_all_ignored`]); `dv status` reports the missing line (see
//! [`ignore_problems`]) and writes nothing.

use crate::Result;
use crate::paths::{join, split};
use crate::repo::Repo;

/// The root `.gitattributes` line that makes Git merge `.gitignore` files by keeping both sides' lines.
pub const UNION_ATTRIBUTE: &str = ".gitignore merge=union";

/// The repository path of the `.gitignore` that ignores dataset `path`.
pub fn ignore_file_of(path: &str) -> String {
    join(split(path).0, ".gitignore")
}

/// The line that ignores dataset `path` in [`ignore_file_of`]`(path)`.
fn line_of(path: &str) -> String {
    format!("/{}", escape_ignore(split(path).1))
}

/// The datasets among `paths` whose `.gitignore` lacks their line (each `.gitignore` is read once).
pub fn unignored(repo: &Repo, paths: &[String]) -> Result<Vec<String>> {
    let mut texts: std::collections::HashMap<String, String> = Default::default();
    let mut out = Vec::new();
    for p in paths {
        let file = ignore_file_of(p);
        if !texts.contains_key(&file) {
            let old = crate::fsutil::read_own(&repo.abs(&file))?.unwrap_or_default();
            texts.insert(file.clone(), String::from_utf8_lossy(&old).into_owned());
        }
        if !has_line(&texts[&file], &line_of(p)) {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Why Git may not ignore a dataset's data, as `dv status` reports it (it never writes the line itself).
#[derive(Clone, Debug, serde::Serialize)]
pub struct IgnoreProblem {
    /// The `.gitignore` that should ignore the dataset (repository path).
    pub file: String,
    /// The line it should hold.
    pub line: String,
    /// `missing-line` (the file lacks it: a pointer renamed with `git mv`, or written by hand) or `unreadable`
    /// (the file is a symbolic link, which dv never reads or writes through, or cannot be read); for dv's own
    /// files under `.dv/` also `tracked` (Git tracks one already, so no ignore line keeps it out).
    pub problem: &'static str,
    pub message: String,
    /// What fixes it.
    pub fix: String,
}

/// For each of `paths` (datasets), what keeps Git from ignoring its data, if anything; reads only. Each
/// `.gitignore` is read once; one that cannot be read (a symbolic link) is reported, not an error.
pub fn ignore_problems(repo: &Repo, paths: &[String]) -> Vec<Option<IgnoreProblem>> {
    let mut texts: std::collections::HashMap<String, std::result::Result<String, String>> =
        Default::default();
    paths
        .iter()
        .map(|p| {
            let file = ignore_file_of(p);
            let text = texts.entry(file.clone()).or_insert_with(|| {
                match crate::fsutil::read_own(&repo.abs(&file)) {
                    Ok(t) => Ok(String::from_utf8_lossy(&t.unwrap_or_default()).into_owned()),
                    Err(e) => Err(e.to_string()),
                }
            });
            let line = line_of(p);
            match text {
                Ok(t) if has_line(t, &line) => None,
                Ok(_) => Some(IgnoreProblem {
                    message: format!(
                        "'{file}' lacks the line '{line}', so Git does not ignore the data of '{p}'"
                    ),
                    fix: format!("dv checkout {p}"),
                    file,
                    line,
                    problem: "missing-line",
                }),
                Err(e) => Some(IgnoreProblem {
                    message: format!("dv cannot tell whether Git ignores the data of '{p}': {e}"),
                    fix: format!("make '{file}' a regular file holding the line '{line}'"),
                    file,
                    line,
                    problem: "unreadable",
                }),
            }
        })
        .collect()
}

/// What keeps Git from ignoring dv's own per-machine files: Git tracks one already (`tracked`),
/// `.dv/.gitignore` lacks a line of [`crate::repo::DV_IGNORE_LINES`] (`missing-line`) or cannot be read
/// (`unreadable`); reads only.
pub fn own_ignore_problems(repo: &Repo) -> Vec<IgnoreProblem> {
    let file = crate::repo::DV_IGNORE_FILE;
    let mut out = tracked_own_files(repo);
    out.extend(missing_own_lines(repo, file));
    out
}

/// dv's per-machine files that Git already tracks (committed before their ignore line was there, or added with
/// `git add -f`): an ignore line no longer keeps them out, and a commit would carry them (a cache, a database,
/// secrets) to every clone. One entry per ignore line, naming what Git tracks.
fn tracked_own_files(repo: &Repo) -> Vec<IgnoreProblem> {
    let Ok(tracked) = crate::git::GitRepo::open(&repo.root).and_then(|g| g.tracked_under(".dv"))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in crate::repo::DV_IGNORE_LINES {
        let stem = format!(
            ".dv/{}",
            line.trim_start_matches('/').trim_end_matches(['/', '*'])
        );
        let hits: Vec<&String> = tracked
            .iter()
            .filter(|p| {
                if line.ends_with('/') {
                    crate::paths::is_within(p, &stem)
                } else if line.ends_with('*') {
                    p.starts_with(&stem) && !p[stem.len()..].contains('/')
                } else {
                    **p == stem
                }
            })
            .collect();
        let Some(first) = hits.first() else {
            continue;
        };
        let (what, fix) = if line.ends_with('/') {
            (
                format!("'{first}' ({} file(s) under '{stem}')", hits.len()),
                format!("git rm -r --cached {stem}"),
            )
        } else {
            let names: Vec<&str> = hits.iter().map(|h| h.as_str()).collect();
            (
                format!("'{}'", names.join("', '")),
                format!("git rm --cached {}", names.join(" ")),
            )
        };
        out.push(IgnoreProblem {
            message: format!(
                "Git tracks {what}, which dv keeps per machine: a commit carries it to every clone"
            ),
            fix,
            file: crate::repo::DV_IGNORE_FILE.into(),
            line: (*line).into(),
            problem: "tracked",
        });
    }
    out
}

fn missing_own_lines(repo: &Repo, file: &str) -> Vec<IgnoreProblem> {
    match crate::fsutil::read_own(&repo.abs(file)) {
        Ok(text) => {
            let text = String::from_utf8_lossy(&text.unwrap_or_default()).into_owned();
            crate::repo::missing_own_ignore_lines(&text)
                .into_iter()
                .map(|line| IgnoreProblem {
                    message: format!(
                        "'{file}' lacks the line '{line}', so Git does not ignore dv's per-machine files there"
                    ),
                    fix: "dv init".into(),
                    file: file.into(),
                    line: line.into(),
                    problem: "missing-line",
                })
                .collect()
        }
        Err(e) => vec![IgnoreProblem {
            message: format!("dv cannot tell whether Git ignores dv's per-machine files: {e}"),
            fix: format!("make '{file}' a regular file, then run `dv init`"),
            file: file.into(),
            line: String::new(),
            problem: "unreadable",
        }],
    }
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| trim_unescaped_end(l) == line)
}

/// A line as Git reads it: trailing spaces (and a CR) dropped, except a space escaped with a backslash, which
/// is part of the name (`/trail\ ` ignores `trail `).
fn trim_unescaped_end(l: &str) -> &str {
    let b = l.as_bytes();
    let mut end = b.len();
    while end > 0 && matches!(b[end - 1], b' ' | b'\t' | b'\r') {
        if b[end - 1] == b' ' && end >= 2 && b[end - 2] == b'\\' {
            break;
        }
        end -= 1;
    }
    &l[..end]
}

/// Makes sure Git ignores dataset `path`: adds its line to the `.gitignore` beside it (sorted among dv's
/// lines) and, once per repository, the union merge attribute to the root `.gitattributes`. Returns the
/// repository paths of the files to stage: that `.gitignore`, and `.gitattributes` when it was changed.
pub fn ensure_ignored(repo: &Repo, path: &str) -> Result<Vec<String>> {
    // Never write a .gitignore through a linked folder (it would land outside the work tree).
    crate::paths::check_no_linked_parents(&repo.root, path)?;
    let ignore_path = ignore_file_of(path);
    let ignore = repo.abs(&ignore_path);
    let line = line_of(path);
    let old = crate::fsutil::read_own(&ignore)?.unwrap_or_default();
    let text = String::from_utf8_lossy(&old);
    if !has_line(&text, &line) {
        repo.write_file(&ignore, &insert_sorted(&old, &line))?;
    }
    let mut out = vec![ignore_path];
    if ensure_union_attribute(repo)? {
        out.push(".gitattributes".into());
    }
    Ok(out)
}

/// True when the root `.gitattributes` holds [`UNION_ATTRIBUTE`] but Git does not track the file: written by an
/// add that was stopped before staging (killed, or the index locked), so the next add stages it, as it stages
/// a `.gitignore` it finds already holding its line.
pub fn union_attribute_untracked(repo: &Repo, git: &crate::git::GitRepo) -> Result<bool> {
    let old = crate::fsutil::read_own(&repo.abs(".gitattributes"))?.unwrap_or_default();
    Ok(has_line(&String::from_utf8_lossy(&old), UNION_ATTRIBUTE)
        && git.first_tracked_under(".gitattributes")?.is_none())
}

/// Adds [`UNION_ATTRIBUTE`] to the root `.gitattributes` unless a line already says it; true if it wrote.
fn ensure_union_attribute(repo: &Repo) -> Result<bool> {
    let path = repo.abs(".gitattributes");
    let old = crate::fsutil::read_own(&path)?.unwrap_or_default();
    if has_line(&String::from_utf8_lossy(&old), UNION_ATTRIBUTE) {
        return Ok(false);
    }
    let mut new = old;
    if !new.is_empty() && !new.ends_with(b"\n") {
        new.push(b'\n');
    }
    new.extend_from_slice(
        format!(
            "# dv: merge .gitignore files by keeping both sides' lines (dv adds one line per dataset).\n\
             {UNION_ATTRIBUTE}\n"
        )
        .as_bytes(),
    );
    repo.write_file(&path, &new)?;
    Ok(true)
}

/// True for the lines dv writes: `/NAME`, one anchored name without a further `/`.
fn is_dataset_line(l: &str) -> bool {
    l.len() > 1 && l.starts_with('/') && !l[1..].contains('/')
}

/// `old` with `line` inserted before the first dataset line that sorts after it, or after the last dataset
/// line, or at the end when there is none; every other byte is kept as it was.
fn insert_sorted(old: &[u8], line: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(old);
    // Byte offsets of each line's start, and the lines themselves (without their newline).
    let mut starts = Vec::new();
    let mut pos = 0;
    for l in text.split_inclusive('\n') {
        starts.push((pos, l.trim_end_matches(['\n', '\r'])));
        pos += l.len();
    }
    let mut at = None;
    for (start, l) in &starts {
        if is_dataset_line(l) && l.trim_end() > line {
            at = Some(*start);
            break;
        }
    }
    let at = at.or_else(|| {
        starts
            .iter()
            .rposition(|(_, l)| is_dataset_line(l))
            .map(|i| starts.get(i + 1).map(|(s, _)| *s).unwrap_or(old.len()))
    });
    let mut new = Vec::with_capacity(old.len() + line.len() + 2);
    match at {
        Some(at) if at < old.len() => {
            new.extend_from_slice(&old[..at]);
            new.extend_from_slice(line.as_bytes());
            new.push(b'\n');
            new.extend_from_slice(&old[at..]);
        }
        _ => {
            new.extend_from_slice(old);
            if !new.is_empty() && !new.ends_with(b"\n") {
                new.push(b'\n');
            }
            new.extend_from_slice(line.as_bytes());
            new.push(b'\n');
        }
    }
    new
}

/// Escapes the characters .gitignore treats specially so a name matches only itself.
fn escape_ignore(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        match c {
            '*' | '?' | '[' | ']' | '\\' => out.push('\\'),
            '!' | '#' if i == 0 => out.push('\\'),
            _ => {}
        }
        out.push(c);
    }
    if out.ends_with(' ') {
        out.pop();
        out.push_str("\\ ");
    }
    out
}

/// [`ensure_ignored`] for each of `paths`, for commands that do not stage (checkout, pull): returns the
/// `.gitignore` files that gained a line.
pub fn ensure_all_ignored(repo: &Repo, paths: &[String]) -> Result<Vec<String>> {
    let mut changed = Vec::new();
    for p in unignored(repo, paths)? {
        let file = ensure_ignored(repo, &p)?;
        changed.push(file[0].clone());
    }
    changed.sort();
    changed.dedup();
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::{escape_ignore, insert_sorted};

    #[test]
    fn a_line_for_a_name_ending_in_a_space_is_found_again() {
        // Its escaped space is part of the name: trimming it would add the line again on every run.
        let line = format!("/{}", escape_ignore("trail "));
        assert!(super::has_line(&format!("/x\n{line}\n"), &line));
        assert!(super::has_line(&format!("{line}  \r\n"), &line));
        assert!(!super::has_line("/trail\n", &line));
    }

    #[test]
    fn ignore_lines_escape_specials() {
        assert_eq!(escape_ignore("data"), "data");
        assert_eq!(escape_ignore("#x"), "\\#x");
        assert_eq!(escape_ignore("a*b?[c]"), "a\\*b\\?\\[c\\]");
        assert_eq!(escape_ignore("sp "), "sp\\ ");
        assert_eq!(escape_ignore("ü ñ"), "ü ñ");
    }

    #[test]
    fn lines_go_in_sorted_order_and_keep_the_rest() {
        let ins = |old: &str, l: &str| String::from_utf8(insert_sorted(old.as_bytes(), l)).unwrap();
        assert_eq!(ins("", "/b"), "/b\n");
        assert_eq!(ins("/a\n/c\n", "/b"), "/a\n/b\n/c\n");
        assert_eq!(ins("/a\n/c\n", "/d"), "/a\n/c\n/d\n");
        assert_eq!(ins("*.log\n", "/d"), "*.log\n/d\n");
        assert_eq!(ins("/a\n# mine\n*.tmp", "/b"), "/a\n/b\n# mine\n*.tmp");
        assert_eq!(ins("/c\n*.tmp", "/a"), "/a\n/c\n*.tmp");
        assert_eq!(ins("*.tmp", "/a"), "*.tmp\n/a\n");
        assert_eq!(ins("x/y\n", "/a"), "x/y\n/a\n");
    }
}
