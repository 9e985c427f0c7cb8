//! Remotes: object stores (a local folder, or S3 and friends through `object_store`) that hold packs and
//! indexes in the same layout as the local cache. There is no dv server: immutable, content-named files are the
//! whole protocol, so many clones can push to one remote at once without coordination.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::IoContext;
use crate::repo::{RemoteConfig, Repo};
use crate::store::pack::{IndexEntry, PackIndex};
use crate::{Error, ObjectId, Result};

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
}

/// Where a remote object is.
#[derive(Clone, Copy, Debug)]
pub struct RemoteLocation {
    pub pack: ObjectId,
    pub entry: IndexEntry,
}

fn remote_err(name: &str, e: impl std::fmt::Display) -> Error {
    Error::Remote {
        remote: name.to_string(),
        message: e.to_string(),
    }
}

impl Remote {
    /// Opens the remote `name` of `repo`: the default remote when `name` is `None`.
    pub fn open(repo: &Repo, name: Option<&str>) -> Result<Remote> {
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
        let store = backend(repo, &name, cfg)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cannot start the I/O runtime: {e}")))?;
        Ok(Remote {
            index_cache: repo.dv_dir().join("remotes").join(&name).join("index"),
            url: cfg.url.clone(),
            name,
            store,
            rt,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        remote_err(&self.name, e)
    }

    /// Brings the local copies of the remote's indexes up to date and returns where each remote object is.
    pub fn objects(&self) -> Result<HashMap<ObjectId, RemoteLocation>> {
        std::fs::create_dir_all(&self.index_cache).at(&self.index_cache)?;
        let listed: Vec<ObjectId> = self
            .rt
            .block_on(async {
                let prefix = StorePath::from("index");
                self.store
                    .list(Some(&prefix))
                    .try_filter_map(|meta| async move {
                        let name = meta.location.filename().unwrap_or_default().to_string();
                        Ok(name.strip_suffix(".idx").and_then(ObjectId::from_hex))
                    })
                    .try_collect()
                    .await
            })
            .map_err(|e| self.err(e))?;
        let missing: Vec<ObjectId> = listed
            .iter()
            .filter(|id| {
                !self
                    .index_cache
                    .join(format!("{}.idx", id.to_hex()))
                    .is_file()
            })
            .copied()
            .collect();
        let fetched: Vec<(ObjectId, Bytes)> = self
            .rt
            .block_on(async {
                futures::stream::iter(missing.iter().copied())
                    .map(|id| async move {
                        let path = StorePath::from(format!("index/{}.idx", id.to_hex()));
                        let bytes = self.store.get(&path).await?.bytes().await?;
                        Ok::<_, object_store::Error>((id, bytes))
                    })
                    .buffer_unordered(CONCURRENCY)
                    .try_collect()
                    .await
            })
            .map_err(|e| self.err(e))?;
        for (id, bytes) in fetched {
            let index = PackIndex::decode(&bytes)
                .map_err(|e| self.err(format!("index/{}.idx: {e}", id.to_hex())))?;
            if index.pack_id != id {
                return Err(self.err(format!("index/{}.idx names another pack", id.to_hex())));
            }
            crate::fsutil::write_atomic(
                &self.index_cache.join(format!("{}.idx", id.to_hex())),
                &bytes,
            )?;
        }
        let mut out = HashMap::new();
        for id in listed {
            let path = self.index_cache.join(format!("{}.idx", id.to_hex()));
            let index = PackIndex::decode(&std::fs::read(&path).at(&path)?)
                .map_err(|e| self.err(format!("{}: {e}", path.display())))?;
            for entry in index.entries {
                out.entry(entry.id)
                    .or_insert(RemoteLocation { pack: id, entry });
            }
        }
        Ok(out)
    }

    /// Uploads a pack, then its index: the index is the commit point, so an interrupted upload leaves at
    /// worst an unreferenced pack, which a re-run overwrites with the same bytes.
    pub fn upload_pack(&self, pack: Bytes, index: &PackIndex) -> Result<()> {
        let hex = index.pack_id.to_hex();
        let pack_path = StorePath::from(format!("packs/{}/{hex}.pack", &hex[..2]));
        let index_bytes = index.encode();
        self.rt
            .block_on(async {
                self.store.put(&pack_path, pack.into()).await?;
                self.store
                    .put(
                        &StorePath::from(format!("index/{hex}.idx")),
                        Bytes::from(index_bytes.clone()).into(),
                    )
                    .await
            })
            .map_err(|e| self.err(e))?;
        std::fs::create_dir_all(&self.index_cache).at(&self.index_cache)?;
        crate::fsutil::write_atomic(&self.index_cache.join(format!("{hex}.idx")), &index_bytes)
    }

    /// Reads byte ranges of packs, many packs at once; returns the bytes in the order asked.
    pub fn read_ranges(&self, wanted: &[(ObjectId, Vec<Range<u64>>)]) -> Result<Vec<Vec<Bytes>>> {
        self.rt
            .block_on(async {
                futures::stream::iter(wanted.iter())
                    .map(|(pack, ranges)| async move {
                        let hex = pack.to_hex();
                        let path = StorePath::from(format!("packs/{}/{hex}.pack", &hex[..2]));
                        // object_store merges nearby ranges into fewer requests.
                        self.store.get_ranges(&path, ranges).await
                    })
                    .buffered(CONCURRENCY)
                    .try_collect()
                    .await
            })
            .map_err(|e| self.err(e))
    }
}

/// The object store behind a remote URL.
fn backend(repo: &Repo, name: &str, cfg: &RemoteConfig) -> Result<Arc<dyn ObjectStore>> {
    let url = cfg.url.as_str();
    if let Some(dir) = folder_path(repo, url) {
        std::fs::create_dir_all(&dir).at(&dir)?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| remote_err(name, e))?;
        return Ok(Arc::new(fs));
    }
    Err(remote_err(
        name,
        format!(
            "unsupported URL {url:?}: this build of dv supports folder remotes (a path or file:///path)"
        ),
    ))
}

/// The folder a `file://` URL or plain path names (relative paths are relative to the work tree root).
pub fn folder_path(repo: &Repo, url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Some(PathBuf::from(rest));
    }
    if url.contains("://") {
        return None;
    }
    let p = Path::new(url);
    Some(if p.is_absolute() {
        p.to_path_buf()
    } else {
        repo.root.join(p)
    })
}

/// Checks a URL can be used as a remote, without connecting.
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    if url.is_empty() {
        return Err("the URL is empty".into());
    }
    if let Some(rest) = url.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err("a file:// URL needs an absolute path (file:///abs/path)".into());
        }
        return Ok(());
    }
    if url.contains("://") {
        return Err(format!(
            "unsupported URL {url:?}: this build of dv supports folder remotes (a path or file:///path)"
        ));
    }
    Ok(())
}
