//! Imports a fetch or a listing needs from their sources: an imported dataset (`[source]`) that the remote at
//! hand does not list is read from its source's remote instead (a project's remote holds its imports only after
//! `dv push --include-imports`; a registry may import and not push). Shared by `fetch`, `pull`, `ls`, `get` and
//! `import`.

use super::{Fetch, TransferReport, fetch_into};
use crate::Result;
use crate::ops::datasets::Target;
use crate::progress::Progress;
use crate::session::Locked;

/// For `dv fetch` and `dv pull`: fetches from their sources the imports among `targets` that neither the
/// cache holds whole nor `own` (the project's remote, if it has one) lists, since a project's remote holds
/// an import only when it was pushed with `--include-imports`. Returns a report per source fetched from.
pub fn fetch_imports(
    s: &Locked<'_>,
    own: Option<&crate::remote::Remote>,
    targets: &[Target],
    progress: &dyn Progress,
) -> Result<Vec<TransferReport>> {
    fetch_imports_of(s, own, targets, None, progress)
}

/// [`fetch_imports`]; with `trees` (`Some(deep)`) only the trees `dv ls` needs ([`Fetch::trees`]).
pub(crate) fn fetch_imports_of(
    s: &Locked<'_>,
    own: Option<&crate::remote::Remote>,
    targets: &[Target],
    trees: Option<bool>,
    progress: &dyn Progress,
) -> Result<Vec<TransferReport>> {
    let (repo, store) = (s.repo(), s.store());
    let imports: Vec<&Target> = targets
        .iter()
        .filter(|t| t.dataset.pointer.source.is_some())
        .collect();
    if imports.is_empty() {
        return Ok(Vec::new());
    }
    let listed = match own {
        Some(r) => Some(r.objects()?.0),
        None => None,
    };
    let mut out = Vec::new();
    for t in imports {
        let root = t.dataset.pointer.node.id;
        if store.contains(&root)? && store.state_db().is_complete(&root)? {
            continue;
        }
        if listed.as_ref().is_some_and(|l| l.contains_key(&root)) {
            continue;
        }
        let src = t.dataset.pointer.source.as_ref().expect("an import");
        let location = crate::registry::Location::parse(&src.url, &repo.root, None)?;
        let opened =
            crate::registry::open(&location, Some(&src.commit), &repo.settings, Some(repo))?;
        let remote = crate::registry::open_remote(&opened.repo, &opened.record, None)?;
        let one = std::slice::from_ref(t);
        out.push(match trees {
            None => fetch_into(store, &remote, one, progress)?,
            Some(deep) => {
                let mut fetch = Fetch::new(store, &remote, one)?;
                let result = fetch.trees(deep, progress);
                fetch.finish(result)?
            }
        });
    }
    Ok(out)
}

/// Fetches `targets` from `remote` into `s`'s cache, the imports among them that `remote` lacks from their own
/// sources first (a registry that imported a dataset and did not push it: `dv get` and `ls` of it follow the
/// import to where its data is). Returns the report of the fetch from `remote`.
pub fn fetch_with_imports(
    s: &Locked<'_>,
    remote: &crate::remote::Remote,
    targets: &[Target],
    progress: &dyn Progress,
) -> Result<TransferReport> {
    fetch_imports(s, Some(remote), targets, progress)?;
    fetch_into(s.store(), remote, targets, progress)
}
