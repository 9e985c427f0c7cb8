//! Remotes: object stores (a local folder, or S3 and friends through `object_store`) that hold packs and
//! indexes in the same layout as the local cache. There is no dv server: immutable, content-named files are the
//! whole protocol, so many clones can push to one remote at once without coordination.
//!
//! This module owns [`Remote`] (an opened remote) and where its files live; the work is split by job:
//! `backend` turns a URL and its settings into an object store, `folder` guards folder remotes,
//! `io` reads, writes, lists and deletes the remote's files, `ranged` reads byte ranges of packs,
//! `explain` turns the store's errors into dv's, [`env`] and `aws_profile` resolve what comes from outside
//! the repository, and [`http`] is the HTTP client under cloud remotes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::path::Path as StorePath;

use crate::repo::Repo;
use crate::store::pack::{IndexEntry, PackIndex};
use crate::{Error, ObjectId, Result};

mod aws_profile;
mod backend;
mod env;
mod explain;
mod folder;
pub mod http;
mod io;
mod ranged;

pub use backend::{CONNECT_TIMEOUT, RESPONSE_TIMEOUT, check_url, is_remote_setting};
pub use env::RemoteEnv;
pub(crate) use explain::without_s3_xml;
pub use folder::{folder_path, unignored_in_work_tree};
pub use io::SINGLE_PUT_MAX;

use explain::Explain;

/// How many requests run at once.
pub const CONCURRENCY: usize = 8;

pub struct Remote {
    pub name: String,
    /// The URL as configured, for messages.
    pub url: String,
    store: Arc<dyn ObjectStore>,
    rt: tokio::runtime::Runtime,
    /// Copies of the remote's (immutable) index files.
    index_cache: PathBuf,
    /// What turns the store's errors into messages that say what to do.
    explain: Explain,
    /// The folder this open created (a folder remote whose folder did not exist yet), for the CLI to say so.
    pub created_folder: Option<PathBuf>,
    /// Where the requests go in place of the service's own address, when an `endpoint` is set.
    pub endpoint: Option<Endpoint>,
    /// Packs up to this size go up in one request ([`crate::Settings::single_put_max`]).
    single_put_max: u64,
}

/// A remote's `endpoint` setting: the server its requests (signed with the user's credentials) go to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Endpoint {
    pub url: String,
    /// Set in the committed `.dv/config.toml` (by whoever made the commit) and not in the user's own
    /// `.dv/config.local.toml`, which takes precedence.
    pub committed: bool,
}

impl Endpoint {
    /// The `endpoint` setting of remote `name` (`cfg`), local first, as the backend applies them.
    pub fn of(
        repo: &Repo,
        name: &str,
        cfg: &crate::repo::RemoteConfig,
    ) -> Result<Option<Endpoint>> {
        if let Some(url) = repo.local_remote_settings(name)?.remove("endpoint") {
            return Ok(Some(Endpoint {
                url,
                committed: false,
            }));
        }
        Ok(cfg.settings.get("endpoint").map(|url| Endpoint {
            url: url.clone(),
            committed: true,
        }))
    }
}

/// A pack whose index cannot be used, and why.
pub type UnusableIndex = (ObjectId, String);
/// Every copy of each object on a remote: the packs holding it, where.
pub type Copies = HashMap<ObjectId, Vec<RemoteLocation>>;

/// A listed index: its pack, the parsed index or why it is unusable, and when it was written (Unix seconds).
type ListedIndex = (ObjectId, std::result::Result<PackIndex, String>, i64);

/// A file a listing names: its id, its time (Unix seconds, and exact) and its size.
struct Listed {
    id: ObjectId,
    secs: i64,
    time: std::time::SystemTime,
    size: u64,
}

/// Where a remote object is.
#[derive(Clone, Copy, Debug)]
pub struct RemoteLocation {
    pub pack: ObjectId,
    pub entry: IndexEntry,
}

/// What an operation does with a remote: only reading it (status, fetch, pull, fsck, `gc --dry-run`) never
/// creates anything; changing it (`gc --remote`, `fsck --remote --repair`) writes to a remote that must exist;
/// writing (push) also creates a folder remote's missing folder. A folder remote inside a work tree that Git
/// does not ignore is refused for changing and writing ([`unignored_in_work_tree`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Change,
    Write,
}

impl Access {
    /// True when the operation puts files on the remote.
    pub fn writes(self) -> bool {
        self != Access::Read
    }
}

impl Remote {
    /// Opens the remote `name` of `repo`: the default remote when `name` is `None`. Its credentials and
    /// settings from outside the repository, and its upload size, are those of `repo.settings`.
    pub fn open(repo: &Repo, name: Option<&str>, access: Access) -> Result<Remote> {
        let name = match name.or(repo.config.default_remote.as_deref()) {
            Some(n) => n.to_string(),
            None if repo.config.remotes.len() == 1 => {
                repo.config.remotes.keys().next().expect("one").clone()
            }
            None => return Err(Error::NoRemote),
        };
        let cfg = repo
            .config
            .remotes
            .get(&name)
            .ok_or_else(|| Error::UnknownRemote(name.clone()))?;
        let (store, explain, created_folder) = backend::backend(repo, &name, cfg, access)?;
        let endpoint = Endpoint::of(repo, &name, cfg)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cannot start the I/O runtime: {e}")))?;
        Ok(Remote {
            index_cache: repo.remote_index_dir(&name),
            url: cfg.url.clone(),
            name,
            store,
            rt,
            explain,
            created_folder,
            endpoint,
            single_put_max: repo.settings.single_put_max,
        })
    }

    /// The store's error `e`, explained, and kept as the error's source.
    fn err(&self, e: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.explained(e.to_string(), Some(Box::new(e)))
    }

    /// An error whose message is `text`, explained; `source` is what it came from, if anything.
    fn explained(&self, text: String, source: Option<crate::error::Source>) -> Error {
        explain::explain(&self.name, &self.explain, text, source)
    }
}

/// Where a use record lives on a remote.
fn use_path(name: &ObjectId) -> StorePath {
    StorePath::from(format!("uses/{}.use", name.to_hex()))
}

/// Where a pack lives on a remote.
fn pack_path(pack: &ObjectId) -> StorePath {
    let hex = pack.to_hex();
    StorePath::from(format!("packs/{}/{hex}.pack", &hex[..2]))
}
