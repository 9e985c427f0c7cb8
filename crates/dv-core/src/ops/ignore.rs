//! The Git ignore rules that keep a dataset's data out of Git.
//!
//! Dataset `DIR/NAME` is ignored by the line `/NAME` in `DIR/.gitignore`, beside its pointer file `NAME.dv`.
//! dv inserts its lines in sorted order (after the last of them when the new one sorts last), so two clones
//! that add different datasets to one folder usually edit different places of the file; and the repository's
//! root `.gitattributes` says `.gitignore merge=union`, so that when their lines do end up side by side Git's
//! merge keeps both lines instead of reporting a conflict. A line dv no longer needs (after a rename or a
//! removal) stays: ignoring a name that does not exist costs nothing, and a union merge may bring it back
//! anyway. Renames: a pointer moved with `git mv` is ignored under its new name the next time `dv checkout`
//! (or `pull`) runs (see [`IgnorePlan`]); `dv status` reports the missing line (see
//! [`ignore_problems`]) and writes nothing.
//!
//! Whether the data is ignored is asked of Git's own rules ([`verdict`], through gix's exclude stack), never
//! by looking for dv's line: an equivalent rule (`/d/`, `*.bin`, `info/exclude`) ignores the data as well,
//! and a later negation (`!/d`) takes it back whatever lines precede it.

use crate::Result;
use crate::paths::{join, split};
use crate::repo::Repo;

/// The root `.gitattributes` line that makes Git merge `.gitignore` files by keeping both sides' lines.
pub const UNION_ATTRIBUTE: &str = ".gitignore merge=union";

/// The root `.gitattributes` line that has Git merge pointer files with dv's merge driver (which `dv install`
/// or `dv init` registers in each clone; a clone without it merges them as text).
pub const MERGE_ATTRIBUTE: &str = "*.dv merge=dv";

/// The repository path of the `.gitignore` that ignores dataset `path`.
pub fn ignore_file_of(path: &str) -> String {
    join(split(path).0, ".gitignore")
}

/// The line that ignores dataset `path` in [`ignore_file_of`]`(path)`.
fn line_of(path: &str) -> String {
    format!("/{}", escape_ignore(split(path).1))
}

/// A dataset as the ignore check sees it: its repository path, and whether its data is a folder (a rule such
/// as `/d/` ignores only a folder).
#[derive(Clone, Copy, Debug)]
pub struct DataPath<'a> {
    pub path: &'a str,
    pub is_dir: bool,
}

impl<'a> DataPath<'a> {
    pub fn of(d: &'a super::datasets::Dataset) -> DataPath<'a> {
        DataPath {
            path: &d.path,
            is_dir: d.pointer.node.kind == crate::store::object::NodeKind::Tree,
        }
    }
}

/// Git's verdict on a dataset's data.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// Git ignores it (through dv's line or any equivalent rule).
    Ignored,
    /// No rule matches it: it lacks its line.
    NoRule,
    /// A negation re-includes it (`!/d` after `/d`): `git add .` would commit the data.
    Negated(crate::git::IgnoreRule),
}

/// Whether Git ignores the data of `d`, asked of Git's own rules ([`crate::git::Ignores`]: every `.gitignore`,
/// `info/exclude`, `core.excludesFile`), as `git check-ignore` would decide: the rule is "Git ignores the
/// data"; the line dv writes is only its means.
pub fn verdict(ignores: &mut crate::git::Ignores<'_>, d: DataPath<'_>) -> Result<Verdict> {
    Ok(match ignores.rule_for(d.path, d.is_dir)? {
        None => Verdict::NoRule,
        Some(r) if r.negated => Verdict::Negated(r),
        Some(_) => Verdict::Ignored,
    })
}

/// Refuses to add datasets whose data a negation rule makes Git take back (`!/d`): dv's line would not keep
/// the data out of Git. Checked before anything is written; a missing line is fine (add writes it).
pub fn check_not_negated(repo: &Repo, data: &[DataPath<'_>]) -> Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    let git = crate::git::GitRepo::open(&repo.root)?;
    let mut ignores = git.ignores()?;
    for d in data {
        if let Verdict::Negated(rule) = verdict(&mut ignores, *d)? {
            return Err(crate::Error::DataNotIgnored {
                path: d.path.to_string(),
                rule: rule.to_string(),
            });
        }
    }
    Ok(())
}

words! {
    /// Which kind of [`IgnoreProblem`] keeps Git from ignoring data.
    pub enum IgnoreProblemKind {
        /// No rule ignores the data: a pointer renamed with `git mv`, or written by hand.
        MissingLine = "missing-line",
        /// A later `!` rule re-includes the data, so `git add .` would commit it.
        Negated = "negated",
        /// The `.gitignore` is a symbolic link, which dv never reads or writes through, or cannot be read.
        Unreadable = "unreadable",
        /// For dv's own files under `.dv/`: Git tracks one already, so no ignore line keeps it out.
        Tracked = "tracked",
    }
}

/// Why Git may not ignore a dataset's data, as `dv status` reports it (it never writes the line itself).
#[derive(Clone, Debug, serde::Serialize)]
pub struct IgnoreProblem {
    /// The `.gitignore` that should ignore the dataset (repository path), or for `negated` the file holding
    /// the negation.
    pub file: String,
    /// The line it should hold (for `negated`: the negation that re-includes the data).
    pub line: String,
    pub problem: IgnoreProblemKind,
    pub message: String,
    /// What fixes it.
    pub fix: String,
}

/// For each of `data` (datasets), what keeps Git from ignoring its data, if anything; reads only. Git's own
/// rules decide ([`verdict`]); a `.gitignore` beside a pointer that is a symbolic link is reported, not an
/// error.
pub fn ignore_problems(repo: &Repo, data: &[DataPath<'_>]) -> Result<Vec<Option<IgnoreProblem>>> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let git = crate::git::GitRepo::open(&repo.root)?;
    let mut ignores = git.ignores()?;
    let mut out = Vec::with_capacity(data.len());
    for d in data {
        let p = d.path;
        let file = ignore_file_of(p);
        let line = line_of(p);
        if let Err(e) = crate::fsutil::read_own(&repo.abs(&file)) {
            out.push(Some(IgnoreProblem {
                message: format!("dv cannot tell whether Git ignores the data of '{p}': {e}"),
                fix: format!("make '{file}' a regular file holding the line '{line}'"),
                file,
                line,
                problem: IgnoreProblemKind::Unreadable,
            }));
            continue;
        }
        out.push(match verdict(&mut ignores, *d)? {
            Verdict::Ignored => None,
            Verdict::NoRule => Some(IgnoreProblem {
                message: format!(
                    "'{file}' lacks the line '{line}', so Git does not ignore the data of '{p}'"
                ),
                fix: format!("dv checkout {p}"),
                file,
                line,
                problem: IgnoreProblemKind::MissingLine,
            }),
            Verdict::Negated(rule) => Some(IgnoreProblem {
                message: format!(
                    "the rule {rule} re-includes the data of '{p}', so `git add .` would commit it"
                ),
                fix: format!(
                    "remove line {} ('{}') from '{}'",
                    rule.line, rule.pattern, rule.source
                ),
                file: rule.source,
                line: rule.pattern,
                problem: IgnoreProblemKind::Negated,
            }),
        });
    }
    Ok(out)
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
            problem: IgnoreProblemKind::Tracked,
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
                    problem: IgnoreProblemKind::MissingLine,
                })
                .collect()
        }
        Err(e) => vec![IgnoreProblem {
            message: format!("dv cannot tell whether Git ignores dv's per-machine files: {e}"),
            fix: format!("make '{file}' a regular file, then run `dv init`"),
            file: file.into(),
            line: String::new(),
            problem: IgnoreProblemKind::Unreadable,
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
    check_can_ignore(repo, path)?;
    let ignore_path = ignore_file_of(path);
    let ignore = repo.abs(&ignore_path);
    let line = line_of(path);
    let old = crate::fsutil::read_own(&ignore)?.unwrap_or_default();
    let text = String::from_utf8_lossy(&old);
    if !has_line(&text, &line) {
        // A dataset in a folder that does not exist yet (`dv import -o new/folder/ds`): the folder is made
        // (no link above it, checked above).
        if let Some(dir) = ignore.parent()
            && !dir.is_dir()
        {
            std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
            // A folder made here may have been swapped for a link since the check above.
            crate::paths::check_no_linked_parents(&repo.root, path)?;
        }
        repo.write_file(&ignore, &insert_sorted(&old, &line))?;
    }
    let mut out = vec![ignore_path];
    if ensure_attributes(repo)? {
        out.push(".gitattributes".into());
    }
    Ok(out)
}

/// What [`ensure_ignored`] refuses for dataset `path`, checked without writing anything, so a command can
/// refuse before it writes data: a linked folder above the `.gitignore` (it would land outside the work tree),
/// a `.gitignore` or root `.gitattributes` that is a symbolic link (dv never writes through one).
pub fn check_can_ignore(repo: &Repo, path: &str) -> Result<()> {
    crate::paths::check_no_linked_parents(&repo.root, path)?;
    crate::fsutil::refuse_link(&repo.abs(&ignore_file_of(path)))?;
    crate::fsutil::refuse_link(&repo.abs(".gitattributes"))
}

/// True when the root `.gitattributes` holds [`UNION_ATTRIBUTE`] but Git does not track the file: written by an
/// add that was stopped before staging (killed, or the index locked), so the next add stages it, as it stages
/// a `.gitignore` it finds already holding its line.
pub fn union_attribute_untracked(repo: &Repo, git: &crate::git::GitRepo) -> Result<bool> {
    Ok(has_attribute(repo, UNION_ATTRIBUTE)?
        && git.first_tracked_under(".gitattributes")?.is_none())
}

/// Adds [`UNION_ATTRIBUTE`] and [`MERGE_ATTRIBUTE`] (each after a comment line saying why) to the root
/// `.gitattributes` unless lines already say them; true if it wrote.
pub fn ensure_attributes(repo: &Repo) -> Result<bool> {
    const LINES: [(&str, &str); 2] = [
        (
            UNION_ATTRIBUTE,
            "merge .gitignore files by keeping both sides' lines (dv adds one line per dataset)",
        ),
        (
            MERGE_ATTRIBUTE,
            "merge pointer files with dv's merge driver (`dv install` registers it in each clone)",
        ),
    ];
    ensure_attribute_lines(repo, &LINES)
}

/// Adds each `(line, why)` of `lines` to the root `.gitattributes`, after a comment line saying why, unless a
/// line already says it; true if it wrote.
pub fn ensure_attribute_lines(repo: &Repo, lines: &[(&str, &str)]) -> Result<bool> {
    let path = repo.abs(".gitattributes");
    crate::fsutil::refuse_link(&path)?;
    let old = crate::fsutil::read_own(&path)?.unwrap_or_default();
    let text = String::from_utf8_lossy(&old).into_owned();
    let (mut new, mut wrote) = (old, false);
    for &(line, why) in lines {
        if has_line(&text, line) {
            continue;
        }
        wrote = true;
        if !new.is_empty() && !new.ends_with(b"\n") {
            new.push(b'\n');
        }
        new.extend_from_slice(format!("# dv: {why}.\n{line}\n").as_bytes());
    }
    if wrote {
        repo.write_file(&path, &new)?;
    }
    Ok(wrote)
}

/// True when the root `.gitattributes` has `line`.
pub fn has_attribute(repo: &Repo, line: &str) -> Result<bool> {
    let old = crate::fsutil::read_own(&repo.abs(".gitattributes"))?.unwrap_or_default();
    Ok(has_line(&String::from_utf8_lossy(&old), line))
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

/// Escapes the characters .gitignore treats specially so a name (or a path) matches only itself.
pub fn escape_ignore(name: &str) -> String {
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

/// The ignore lines a command that writes datasets into the work tree (checkout, pull) will add: for the
/// datasets of `data` that no rule of Git ignores ([`Verdict::NoRule`]: a pointer renamed with `git mv`, or
/// written by hand; a negation is the user's, reported by `dv status`, never undone here). Made, and checked as
/// [`ensure_ignored`] would refuse, before the command writes any data, so that a refusal (a `.gitignore` or
/// `.gitattributes` that is a symbolic link, a linked folder) leaves the work tree as it was;
/// [`IgnorePlan::apply`] writes the lines after.
pub struct IgnorePlan {
    missing: Vec<String>,
}

impl IgnorePlan {
    pub fn new(repo: &Repo, data: &[DataPath<'_>]) -> Result<IgnorePlan> {
        let mut missing = Vec::new();
        if !data.is_empty() {
            let git = crate::git::GitRepo::open(&repo.root)?;
            let mut ignores = git.ignores()?;
            for d in data {
                if matches!(verdict(&mut ignores, *d)?, Verdict::NoRule) {
                    missing.push(d.path.to_string());
                }
            }
        }
        for p in &missing {
            check_can_ignore(repo, p)?;
        }
        Ok(IgnorePlan { missing })
    }

    /// Adds the missing lines; returns the `.gitignore` files that gained one (repository paths, sorted).
    pub fn apply(self, repo: &Repo) -> Result<Vec<String>> {
        let mut changed = Vec::new();
        for p in &self.missing {
            let file = ignore_file_of(p);
            let old = crate::fsutil::read_own(&repo.abs(&file))?.unwrap_or_default();
            let had = has_line(&String::from_utf8_lossy(&old), &line_of(p));
            ensure_ignored(repo, p)?;
            if !had {
                changed.push(file);
            }
        }
        changed.sort();
        changed.dedup();
        Ok(changed)
    }
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
