//! Remotes: object stores (a local folder, or S3 and friends through `object_store`) that hold packs and
//! indexes in the same layout as the local cache. There is no dv server: immutable, content-named files are the
//! whole protocol, so many clones can push to one remote at once without coordination.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};

use crate::error::IoContext;
use crate::repo::{RemoteConfig, Repo};
use crate::store::pack::{IndexEntry, PackIndex};
use crate::{Error, ObjectId, Result};

mod env;
pub use env::RemoteEnv;

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

fn remote_err(name: &str, e: impl std::fmt::Display) -> Error {
    explain(name, &Explain::default(), e.to_string())
}

/// What dv knows about a remote that explains its errors.
#[derive(Clone, Debug, Default)]
struct Explain {
    /// The S3 bucket, for "the bucket X does not exist".
    bucket: Option<String>,
    /// When no credentials were configured for S3, so that the store asks the instance metadata endpoint: that
    /// endpoint, and where dv looked before.
    no_credentials: Option<(String, String)>,
    /// The `response_timeout` in force, for the hint.
    response_timeout: Option<std::time::Duration>,
}

/// S3 error codes that mean the credentials are wrong, missing or not allowed.
const S3_CREDENTIAL_CODES: &[&str] = &[
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "InvalidSecurity",
    "AuthorizationHeaderMalformed",
    "AccountProblem",
    "AllAccessDisabled",
    "NotSignedUp",
];

/// The one place a remote's error text becomes dv's error: URLs lose their secrets, a raw S3 XML body becomes
/// its code and message, and known situations (no credentials, a server that never answers, a missing bucket,
/// refused credentials) get a message that says so and a hint.
fn explain(name: &str, x: &Explain, text: String) -> Error {
    let text = crate::redact::redact(&text);
    let hinted = |message: String, hint: String| Error::RemoteFailed {
        remote: name.to_string(),
        message,
        hint,
    };
    if let Some((endpoint, looked)) = &x.no_credentials
        && text.contains(&format!("{}/latest/", endpoint.trim_end_matches('/')))
    {
        return hinted(
            format!("no credentials found (looked in: {looked})"),
            format!(
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, name an AWS profile (AWS_PROFILE, or \
                 `dv remote modify {name} profile NAME`), or put access_key_id and secret_access_key under \
                 [remote.{name}] in .dv/config.local.toml"
            ),
        );
    }
    if let Some(at) = ["no answer from ", "cannot connect to "]
        .iter()
        .filter_map(|p| text.find(p))
        .min()
    {
        let waited = x
            .response_timeout
            .map(|t| format!(" (now {})", crate::remote_http::seconds(t)))
            .unwrap_or_default();
        return hinted(
            text[at..].to_string(),
            format!(
                "check the remote's URL and endpoint (`dv remote list --long`) and the network; a server that \
                 is slow to answer needs a longer wait: `dv remote modify {name} response_timeout SECONDS`{waited}"
            ),
        );
    }
    let credentials_hint = || {
        format!(
            "check the credentials dv uses for '{name}' (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the AWS \
             profile, or access_key_id and secret_access_key in .dv/config.local.toml) and that they may use \
             this bucket"
        )
    };
    // A refusal without S3's XML body (some servers send `Code: message`, some nothing).
    if s3_error(&text).is_none()
        && let Some(said) = refused(&text)
    {
        let said = said
            .split_once(": ")
            .map(|(_, body)| body)
            .filter(|b| !b.trim().is_empty())
            .unwrap_or(said);
        return hinted(
            format!("the server refused the credentials ({said})"),
            credentials_hint(),
        );
    }
    if let Some((code, message, whole)) = s3_error(&text) {
        let said = if message.is_empty() {
            code.to_string()
        } else {
            format!("{code}: {message}")
        };
        if code == "NoSuchBucket" {
            let bucket = x.bucket.as_deref().unwrap_or("named in the URL");
            return hinted(
                format!("the bucket '{bucket}' does not exist ({said})"),
                "create it, or check the remote's URL (`dv remote list`)".into(),
            );
        }
        if S3_CREDENTIAL_CODES.contains(&code) || refused(&text).is_some() {
            return hinted(
                format!("the server refused the credentials ({said})"),
                credentials_hint(),
            );
        }
        return Error::Remote {
            remote: name.to_string(),
            message: text.replace(whole, &said),
        };
    }
    Error::Remote {
        remote: name.to_string(),
        message: text,
    }
}

/// What follows the status of a 401 or 403 answer in an error's text (`403 Forbidden: …`), if it is one.
fn refused(text: &str) -> Option<&str> {
    const STATUS: &str = "status code: ";
    let said = &text[text.find(STATUS)? + STATUS.len()..];
    (said.starts_with("401 ") || said.starts_with("403 ")).then_some(said)
}

/// The code and message of an S3 XML error body in `text`, and the body's text as it appears there.
fn s3_error(text: &str) -> Option<(&str, &str, &str)> {
    let element = |name: &str| -> Option<(usize, &str, usize)> {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let len = text[start..].find(&format!("</{name}>"))?;
        Some((
            start,
            &text[start..start + len],
            start + len + name.len() + 3,
        ))
    };
    let (code_at, code, _) = element("Code")?;
    let message = element("Message").map(|(_, m, _)| m).unwrap_or_default();
    // The body: from the XML declaration (or the <Error> element) to the end of </Error>.
    let start = text[..code_at]
        .rfind("<?xml")
        .or_else(|| text[..code_at].rfind("<Error>"))?;
    let end = text[code_at..].find("</Error>").map(|e| code_at + e + 8)?;
    Some((code, message, &text[start..end]))
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
        let (store, explain, created_folder) = backend(repo, &name, cfg, access)?;
        let endpoint = Endpoint::of(repo, &name, cfg)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cannot start the I/O runtime: {e}")))?;
        Ok(Remote {
            index_cache: repo.cache_dir().join("remotes").join(&name).join("index"),
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

    fn err(&self, e: impl std::fmt::Display) -> Error {
        explain(&self.name, &self.explain, e.to_string())
    }

    /// Brings the local copies of the remote's indexes up to date and returns where each remote object is, and
    /// the indexes that cannot be read (skipped: their objects count as absent).
    pub fn objects(&self) -> Result<(HashMap<ObjectId, RemoteLocation>, Vec<UnusableIndex>)> {
        let (all, bad) = self.locations()?;
        Ok((all.into_iter().map(|(id, l)| (id, l[0])).collect(), bad))
    }

    /// `objects`, with every copy of each object (concurrent pushes may leave one object in several packs):
    /// the first is the one `objects` gives, the others are where a fetch turns when a copy fails its check.
    pub fn locations(&self) -> Result<(Copies, Vec<UnusableIndex>)> {
        let mut out: HashMap<ObjectId, Vec<RemoteLocation>> = HashMap::new();
        let mut bad = Vec::new();
        for (id, index, _) in self.sync_indexes()? {
            let index = match index {
                Ok(i) => i,
                Err(e) => {
                    bad.push((id, e));
                    continue;
                }
            };
            for entry in index.entries {
                out.entry(entry.id)
                    .or_default()
                    .push(RemoteLocation { pack: id, entry });
            }
        }
        Ok((out, bad))
    }

    /// Every index on the remote that parses, and the packs whose index does not (with the reason). Each index
    /// file is read from the remote itself, not from the local copies: this is what `fsck --remote` checks.
    pub fn indexes(&self) -> Result<(Vec<PackIndex>, Vec<UnusableIndex>)> {
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        for (id, index, _) in self.sync_indexes_from(false)? {
            match index {
                Ok(i) => good.push(i),
                Err(e) => bad.push((id, e)),
            }
        }
        Ok((good, bad))
    }

    /// Every index on the remote with the time its index file was written (Unix seconds).
    pub fn indexes_with_times(&self) -> Result<Vec<(PackIndex, i64)>> {
        let mut out = Vec::new();
        for (id, index, time) in self.sync_indexes()? {
            let index = index.map_err(|e| {
                self.err(format!(
                    "index/{}.idx cannot be read ({e}); gc cannot tell what its pack holds \
                     (`dv fsck --remote {} --repair` repairs it)",
                    id.to_hex(),
                    self.name
                ))
            })?;
            out.push((index, time));
        }
        Ok(out)
    }

    /// Lists the remote's index files, copies the ones not yet cached (checked before they are kept), and
    /// parses each: (pack id, the index or why it is unusable, when it was written).
    fn sync_indexes(&self) -> Result<Vec<ListedIndex>> {
        self.sync_indexes_from(true)
    }

    /// `sync_indexes`, reading every index from the remote when `use_copies` is false.
    ///
    /// A local copy is used only while the remote's index file is the one it was copied from: the listing's
    /// size and time must be the copy's length and modification time (set to the remote's time when the copy
    /// is made), so an index rewritten or damaged on the remote since is read again. With `use_copies`, the
    /// pack files are listed too (one more listing), and an index whose pack file is gone or not the size the
    /// index gives is unusable: its objects count as absent, so a push sends them again and gc refuses.
    fn sync_indexes_from(&self, use_copies: bool) -> Result<Vec<ListedIndex>> {
        std::fs::create_dir_all(&self.index_cache).at(&self.index_cache)?;
        let listed_meta = self.list_named_meta("index", ".idx")?;
        let listed: Vec<(ObjectId, i64)> = listed_meta.iter().map(|l| (l.id, l.secs)).collect();
        let cached = |id: &ObjectId| self.index_cache.join(format!("{}.idx", id.to_hex()));
        let copy_matches = |l: &Listed| {
            std::fs::metadata(cached(&l.id)).is_ok_and(|m| {
                m.is_file() && m.len() == l.size && m.modified().ok() == Some(l.time)
            })
        };
        let missing: Vec<ObjectId> = listed_meta
            .iter()
            .filter(|l| !use_copies || !copy_matches(l))
            .map(|l| l.id)
            .collect();
        let listed_time: HashMap<ObjectId, std::time::SystemTime> =
            listed_meta.iter().map(|l| (l.id, l.time)).collect();
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
        let mut fresh: HashMap<ObjectId, std::result::Result<PackIndex, String>> = HashMap::new();
        for (id, bytes) in fetched {
            let parsed = match PackIndex::decode(&bytes) {
                Ok(index) if index.pack_id == id => Ok(index),
                Ok(_) => Err("the index names another pack".to_string()),
                Err(e) => Err(e.to_string()),
            };
            // Only sound indexes are kept: a damaged one is read again next time. The copy takes the remote
            // file's time, by which later listings tell that it is still the same file.
            if parsed.is_ok() {
                let path = cached(&id);
                crate::fsutil::write_atomic_in_cache(&path, &bytes)?;
                if let Some(t) = listed_time.get(&id) {
                    std::fs::File::options()
                        .write(true)
                        .open(&path)
                        .and_then(|f| f.set_modified(*t))
                        .at(&path)?;
                }
            }
            fresh.insert(id, parsed);
        }
        let mut out = Vec::new();
        for (id, time) in listed {
            let parsed = match fresh.remove(&id) {
                Some(p) => p,
                None => {
                    let path = cached(&id);
                    match PackIndex::decode(&std::fs::read(&path).at(&path)?) {
                        Ok(index) if index.pack_id == id => Ok(index),
                        Ok(_) => Err("the index names another pack".to_string()),
                        Err(e) => Err(e.to_string()),
                    }
                }
            };
            out.push((id, parsed, time));
        }
        if use_copies {
            // Listed after the indexes: a pack is written before its index, so a pack listed above is here.
            let packs: HashMap<ObjectId, u64> = self
                .list_named_meta("packs", ".pack")?
                .into_iter()
                .map(|l| (l.id, l.size))
                .collect();
            for (id, parsed, _) in &mut out {
                if let Ok(index) = parsed {
                    match packs.get(id) {
                        None => *parsed = Err("its pack file is missing".to_string()),
                        Some(size) if *size != index.pack_size => {
                            *parsed = Err(format!(
                                "its pack file has {size} bytes, the index says {}",
                                index.pack_size
                            ))
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        Ok(out)
    }

    /// This clone's local copy of the index of `pack` (kept from when the remote's index was sound), if it has
    /// one that reads: what `fsck --remote --repair` restores or re-uploads when the remote's own is damaged.
    pub fn cached_index(&self, pack: &ObjectId) -> Option<PackIndex> {
        let path = self.index_cache.join(format!("{}.idx", pack.to_hex()));
        let bytes = std::fs::read(path).ok()?;
        PackIndex::decode(&bytes)
            .ok()
            .filter(|i| i.pack_id == *pack)
    }

    /// The files below `prefix` named `<64 hex digits><suffix>`, with their size and time.
    fn list_named_meta(&self, prefix: &str, suffix: &'static str) -> Result<Vec<Listed>> {
        self.rt
            .block_on(async {
                let prefix = StorePath::from(prefix);
                self.store
                    .list(Some(&prefix))
                    .try_filter_map(|meta| async move {
                        let name = meta.location.filename().unwrap_or_default().to_string();
                        Ok(name
                            .strip_suffix(suffix)
                            .and_then(ObjectId::from_hex)
                            .map(|id| Listed {
                                id,
                                secs: meta.last_modified.timestamp(),
                                time: meta.last_modified.into(),
                                size: meta.size,
                            }))
                    })
                    .try_collect()
                    .await
            })
            .map_err(|e| self.err(e))
    }

    /// The files below `prefix` named `<64 hex digits><suffix>`, with when each was written (Unix seconds, by
    /// the remote's clock).
    fn list_named(&self, prefix: &str, suffix: &'static str) -> Result<Vec<(ObjectId, i64)>> {
        Ok(self
            .list_named_meta(prefix, suffix)?
            .into_iter()
            .map(|l| (l.id, l.secs))
            .collect())
    }

    /// Every pack file on the remote (indexed or not), with when it was written.
    pub fn pack_files(&self) -> Result<Vec<(ObjectId, i64)>> {
        self.list_named("packs", ".pack")
    }

    /// Records that a push relies on objects in `packs` that it does not upload again (see `store::uses`).
    /// Every call writes a new file (a fresh nonce), never one a gc may have listed as old and be deleting.
    pub fn record_uses(&self, packs: &[ObjectId]) -> Result<()> {
        let bytes = crate::store::uses::encode(packs, &crate::store::uses::fresh_nonce());
        let path = use_path(&crate::store::uses::name(&bytes));
        self.rt
            .block_on(self.store.put(&path, Bytes::from(bytes).into()))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The use records on the remote, with when each was written.
    pub fn use_records(&self) -> Result<Vec<(ObjectId, i64)>> {
        self.list_named("uses", ".use")
    }

    /// The packs a use record names, or why it cannot be read.
    pub fn read_use_record(
        &self,
        name: &ObjectId,
    ) -> Result<std::result::Result<Vec<ObjectId>, String>> {
        let got = self.rt.block_on(async {
            match self.store.get(&use_path(name)).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        match got.map_err(|e| self.err(e))? {
            // Deleted since it was listed (by another gc, as too old): it names nothing young.
            None => Ok(Ok(Vec::new())),
            Some(bytes) if crate::store::uses::name(&bytes) != *name => {
                Ok(Err("the record's bytes do not match its name".into()))
            }
            Some(bytes) => Ok(crate::store::uses::decode(&bytes).map_err(|e| e.to_string())),
        }
    }

    /// Deletes a use record (gc does, once it is older than the grace period).
    pub fn delete_use_record(&self, name: &ObjectId) -> Result<()> {
        match self.rt.block_on(self.store.delete(&use_path(name))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }

    /// The remote's clock now (Unix seconds): the time it gives a file written now (an empty use record, which
    /// names nothing). gc measures ages with it, so a client's wrong clock cannot make a young pack look old.
    pub fn server_now(&self) -> Result<i64> {
        let bytes = crate::store::uses::encode(&[], &[0; crate::store::uses::NONCE_LEN]);
        let path = use_path(&crate::store::uses::name(&bytes));
        self.rt
            .block_on(async {
                self.store.put(&path, Bytes::from(bytes).into()).await?;
                self.store.head(&path).await
            })
            .map(|meta| meta.last_modified.timestamp())
            .map_err(|e| self.err(e))
    }

    /// Reads a whole pack file; `None` when there is no such file.
    pub fn read_pack(&self, pack: &ObjectId) -> Result<Option<Bytes>> {
        let got = self.rt.block_on(async {
            match self.store.get(&pack_path(pack)).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        got.map_err(|e| self.err(e))
    }

    /// Reads a pack's index file as it is on the remote, unparsed; `None` when there is no such file.
    pub fn read_index_file(&self, pack: &ObjectId) -> Result<Option<Bytes>> {
        let path = StorePath::from(format!("index/{}.idx", pack.to_hex()));
        let got = self.rt.block_on(async {
            match self.store.get(&path).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        got.map_err(|e| self.err(e))
    }

    /// Deletes a pack from the remote: its index first (so no reader is sent to a missing pack), then the pack.
    pub fn delete_pack(&self, pack: &ObjectId) -> Result<()> {
        let hex = pack.to_hex();
        self.rt.block_on(async {
            let index = StorePath::from(format!("index/{hex}.idx"));
            match self.store.delete(&index).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err(e)),
            }
            match self.store.delete(&pack_path(pack)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(self.err(e)),
            }
        })?;
        let cached = self.index_cache.join(format!("{hex}.idx"));
        match std::fs::remove_file(&cached) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(cached, e)),
        }
    }

    /// Uploads a pack whose bytes `pieces` yields in order, then its index: the index is the commit point, so
    /// an interrupted upload leaves at worst an unreferenced pack, which a re-run overwrites with the same
    /// bytes.
    pub fn upload_pack(
        &self,
        index: &PackIndex,
        pieces: impl Iterator<Item = Result<Vec<u8>>>,
    ) -> Result<()> {
        self.upload_pack_data(index, pieces, CONCURRENCY)?;
        self.commit_pack(index)
    }

    /// Uploads a pack's bytes (not its index: see `commit_pack`). Large packs go up as multipart uploads with
    /// up to `parts_in_flight` parts at once, so memory stays bounded by the parts in flight whatever the
    /// pack size.
    pub fn upload_pack_data(
        &self,
        index: &PackIndex,
        pieces: impl Iterator<Item = Result<Vec<u8>>>,
        parts_in_flight: usize,
    ) -> Result<()> {
        let pack_path = pack_path(&index.pack_id);
        self.rt.block_on(async {
            if index.pack_size <= self.single_put_max {
                let mut buf = Vec::with_capacity(index.pack_size as usize);
                for p in pieces {
                    buf.extend_from_slice(&p?);
                }
                self.store
                    .put(&pack_path, Bytes::from(buf).into())
                    .await
                    .map_err(|e| self.err(e))?;
            } else {
                let upload = self
                    .store
                    .put_multipart(&pack_path)
                    .await
                    .map_err(|e| self.err(e))?;
                let mut w = WriteMultipart::new_with_chunk_size(upload, part_size(index.pack_size));
                for p in pieces {
                    let p = match p {
                        Ok(p) => p,
                        Err(e) => {
                            let _ = w.abort().await;
                            return Err(e);
                        }
                    };
                    if let Err(e) = w.wait_for_capacity(parts_in_flight.max(1)).await {
                        return Err(self.err(e));
                    }
                    w.write(&p);
                }
                w.finish().await.map_err(|e| self.err(e))?;
            }
            Ok(())
        })
    }

    /// Uploads a pack's index once the pack is there: from then on the remote has the pack's objects.
    pub fn commit_pack(&self, index: &PackIndex) -> Result<()> {
        crate::fault::point("push-pack-before-index");
        let hex = index.pack_id.to_hex();
        let index_bytes = index.encode();
        self.rt.block_on(async {
            self.store
                .put(
                    &StorePath::from(format!("index/{hex}.idx")),
                    Bytes::from(index_bytes.clone()).into(),
                )
                .await
                .map_err(|e| self.err(e))
        })?;
        std::fs::create_dir_all(&self.index_cache).at(&self.index_cache)?;
        crate::fsutil::write_atomic_in_cache(
            &self.index_cache.join(format!("{hex}.idx")),
            &index_bytes,
        )
    }

    /// Reads byte ranges of packs; returns the bytes in the order asked.
    pub fn read_ranges(&self, wanted: &[(ObjectId, Vec<Range<u64>>)]) -> Result<Vec<Vec<Bytes>>> {
        let mut out: Vec<Vec<Bytes>> = wanted
            .iter()
            .map(|(_, r)| vec![Bytes::new(); r.len()])
            .collect();
        self.read_ranges_each(wanted, |got| {
            for ((i, j), bytes) in got {
                out[i][j] = bytes;
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Reads byte ranges of packs and hands them to `f` one request at a time, in the order of `wanted` (packs
    /// in the order given, ranges by offset), as `((index in wanted, index in its ranges), bytes)`.
    ///
    /// Ranges close together in one pack are merged into one request of up to `READ_REQUEST_MAX` bytes.
    /// `CONCURRENCY` requests run at once on the I/O runtime while `f` works on earlier ones on this thread, so
    /// the network never waits for the slowest request of a batch. Each request takes its size from a budget of
    /// `READ_BUDGET_MIB` MiB before it starts and gives it back once `f` is done with it, so no more than that
    /// is held at once however large the objects (a request larger than the whole budget waits for all of it).
    /// The first error (from the remote or from `f`) stops the reading and is returned.
    pub fn read_ranges_each(
        &self,
        wanted: &[(ObjectId, Vec<Range<u64>>)],
        f: impl FnMut(Vec<((usize, usize), Bytes)>) -> Result<()>,
    ) -> Result<()> {
        self.read_ranges_within(wanted, READ_BUDGET_MIB, f)
    }

    fn read_ranges_within(
        &self,
        wanted: &[(ObjectId, Vec<Range<u64>>)],
        budget_mib: u64,
        mut f: impl FnMut(Vec<((usize, usize), Bytes)>) -> Result<()>,
    ) -> Result<()> {
        type Read = Result<(Bytes, tokio::sync::OwnedSemaphorePermit)>;
        let requests = merge_ranges(wanted);
        let budget = Arc::new(tokio::sync::Semaphore::new(budget_mib as usize));
        std::thread::scope(|s| {
            // However this side stops (done, an error, a panic), close the budget: reads already handed over
            // but not taken keep their share of it, so a request waiting for budget would wait forever.
            let _close = CloseOnDrop(budget.clone());
            let (tx, rx) = crossbeam_channel::bounded::<Read>(CONCURRENCY);
            let requests = &requests;
            s.spawn(move || {
                self.rt.block_on(async {
                    let mut stream = std::pin::pin!(
                        futures::stream::iter(requests.iter())
                            // In order, one at a time: a request waiting for budget holds up the later ones.
                            .then(|(pack, range, _)| {
                                let budget = budget.clone();
                                async move {
                                    let mib = (range.end - range.start)
                                        .div_ceil(1 << 20)
                                        .clamp(1, budget_mib);
                                    // Closed: the reader's user has stopped.
                                    let permit =
                                        budget.acquire_many_owned(mib as u32).await.ok()?;
                                    let store = self.store.clone();
                                    let (path, range) = (pack_path(pack), range.clone());
                                    // A task of its own, so the response is read while this thread waits to
                                    // hand over an earlier one; aborted if the reading stops.
                                    let task = AbortOnDrop(tokio::spawn(async move {
                                        store.get_range(&path, range).await
                                    }));
                                    Some((task, permit))
                                }
                            })
                            .map(|started| async move {
                                let Some((mut task, permit)) = started else {
                                    return Err(Error::Internal("the reading stopped".into()));
                                };
                                match (&mut task.0).await {
                                    Ok(got) => got.map(|b| (b, permit)).map_err(|e| self.err(e)),
                                    Err(e) => Err(self.err(format!("a read stopped: {e}"))),
                                }
                            })
                            .buffered(CONCURRENCY)
                    );
                    while let Some(got) = stream.next().await {
                        let failed = got.is_err();
                        // A closed channel means the reader's user stopped: stop too.
                        if tx.send(got).is_err() || failed {
                            break;
                        }
                    }
                })
            });
            for (pack, merged, members) in requests {
                let (bytes, _permit) = rx
                    .recv()
                    .map_err(|_| Error::Internal("the remote reader stopped".into()))??;
                if bytes.len() as u64 != merged.end - merged.start {
                    return Err(self.err(format!(
                        "pack {}: asked for {} bytes at {}, got {} (is the pack truncated?)",
                        pack.to_hex(),
                        merged.end - merged.start,
                        merged.start,
                        bytes.len()
                    )));
                }
                let got = members
                    .iter()
                    .map(|&(i, j)| {
                        let r = &wanted[i].1[j];
                        let at = (r.start - merged.start) as usize..(r.end - merged.start) as usize;
                        ((i, j), bytes.slice(at))
                    })
                    .collect();
                f(got)?;
            }
            Ok(())
        })
    }
}

/// Closes a semaphore when dropped.
struct CloseOnDrop(Arc<tokio::sync::Semaphore>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A task aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Merges the ranges of `wanted` into requests: ranges of one pack separated by at most `READ_GAP_MAX` bytes
/// share a request of at most `READ_REQUEST_MAX` bytes.
fn merge_ranges(wanted: &[(ObjectId, Vec<Range<u64>>)]) -> Vec<RangeRequest> {
    let mut requests: Vec<RangeRequest> = Vec::new();
    for (i, (pack, ranges)) in wanted.iter().enumerate() {
        let mut order: Vec<usize> = (0..ranges.len()).collect();
        order.sort_by_key(|&j| ranges[j].start);
        for j in order {
            let r = &ranges[j];
            match requests.last_mut() {
                Some((p, m, members))
                    if p == pack
                        && r.start >= m.start
                        && r.start <= m.end + READ_GAP_MAX
                        && r.end.max(m.end) - m.start <= READ_REQUEST_MAX =>
                {
                    m.end = m.end.max(r.end);
                    members.push((i, j));
                }
                _ => requests.push((*pack, r.clone(), vec![(i, j)])),
            }
        }
    }
    requests
}

/// One ranged read: (pack, merged range, [(index in `wanted`, index in its ranges)]).
type RangeRequest = (ObjectId, Range<u64>, Vec<(usize, usize)>);

/// Where a use record lives on a remote.
fn use_path(name: &ObjectId) -> StorePath {
    StorePath::from(format!("uses/{}.use", name.to_hex()))
}

/// Where a pack lives on a remote.
fn pack_path(pack: &ObjectId) -> StorePath {
    let hex = pack.to_hex();
    StorePath::from(format!("packs/{}/{hex}.pack", &hex[..2]))
}

/// Packs up to this size go up in one request; larger ones (a pack grown past its target by one large object)
/// as multipart uploads. One request per pack means fewer requests to pay for, and a server need not store the
/// parts and then join them: against s3s-fs, single PUTs of 32 MiB packs halved the server's CPU time per push.
/// The default of [`crate::Settings::single_put_max`].
pub const SINGLE_PUT_MAX: u64 = 48 * 1024 * 1024;
/// Ranged reads merge ranges separated by at most this many bytes...
const READ_GAP_MAX: u64 = 1024 * 1024;
/// ...into requests of at most this size, so a large read is spread over concurrent requests.
const READ_REQUEST_MAX: u64 = 8 * 1024 * 1024;
/// How many MiB of ranged reads may be in flight or waiting to be used at once.
const READ_BUDGET_MIB: u64 = 96;

/// The part size of a multipart upload: 8 MiB, or more when needed to stay within S3's 10,000 parts.
fn part_size(total: u64) -> usize {
    const MIN: u64 = 8 * 1024 * 1024;
    MIN.max(total.div_ceil(9_000)) as usize
}

/// Settings that are dv's own rather than the backend's.
const DV_SETTINGS: &[&str] = &[
    "profile",
    "max_retries",
    "retry_timeout",
    "connect_timeout",
    "response_timeout",
];

/// How long dv waits for a connection to a cloud remote, unless `connect_timeout` says otherwise.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long dv waits for a server to begin answering a request without a body, unless `response_timeout`
/// says otherwise.
pub const RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The object store behind a remote URL, what explains its errors, and the folder this created (if any).
fn backend(
    repo: &Repo,
    name: &str,
    cfg: &RemoteConfig,
    access: Access,
) -> Result<(Arc<dyn ObjectStore>, Explain, Option<PathBuf>)> {
    let url = cfg.url.as_str();
    if let Some(dir) = folder_path(repo, url) {
        refuse_dv_folder(name, &dir)?;
        refuse_layout_links(name, &dir)?;
        if access.writes() {
            refuse_unignored_in_work_tree(repo, name, &dir)?;
        }
        let created = make_folder(name, &dir, access)?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| remote_err(name, e))?;
        return Ok((Arc::new(fs), Explain::default(), created));
    }
    let local = repo.local_remote_settings(name)?;
    let (store, explain) = cloud_backend(name, cfg, &local, &repo.settings.remote_env)?;
    Ok((store, explain, None))
}

/// The one rule for where a folder remote may be: never in a `.dv/` folder (a repository's own files: its
/// cache, this one's or another's), judged on the path with links resolved (as far as it exists) and as
/// written. Such a "remote" is no second copy (push finds everything "already there"), and `gc --remote` on
/// it deletes the packs of a repository that has no other copy. A committed `.dv/config.toml` can set any
/// URL, so this is checked each time the remote is opened.
fn refuse_dv_folder(name: &str, dir: &Path) -> Result<()> {
    let resolved = resolved(dir);
    let in_dv = |p: &Path| p.components().any(|c| c.as_os_str() == crate::repo::DV_DIR);
    if !in_dv(&resolved) && !in_dv(dir) {
        return Ok(());
    }
    let shown = if resolved == dir {
        dir.display().to_string()
    } else {
        format!("{} (that is {})", dir.display(), resolved.display())
    };
    Err(Error::RemoteFailed {
        remote: name.to_string(),
        message: format!(
            "the folder {shown} is inside a `.dv/` folder, a repository's own files (its cache), not a remote"
        ),
        hint: format!(
            "give the remote a folder of its own (`dv remote modify {name} url PATH`); a remote inside a \
             cache is no second copy, and gc on it would delete that repository's data"
        ),
    })
}

/// `dir` with links resolved as far as it exists: the longest part of the path that exists, resolved, and
/// the rest as written.
fn resolved(dir: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut at = dir;
    loop {
        if let Ok(real) = at.canonicalize() {
            return rest.iter().rev().fold(real, |p: PathBuf, n| p.join(n));
        }
        match (at.parent(), at.file_name()) {
            (Some(up), Some(n)) => {
                rest.push(n.to_os_string());
                at = up;
            }
            _ => return dir.to_path_buf(),
        }
    }
}

/// The folders dv writes in a folder remote (docs/format.md, "Remote layout").
const LAYOUT: [&str; 3] = ["packs", "index", "uses"];

/// Why a folder remote at `dir` would put what is pushed there into Git, if it would: it lies inside a work tree
/// of this repository (this one or a linked one, judged on the path with links resolved, as Git sees the
/// folder) and Git's own ignore rules ([`crate::git::Ignores`]) do not ignore its layout folders, so `git add
/// -A` would commit the packs (a leak into Git's history, which dv exists to avoid). Returns the message and
/// the hint. Git itself decides: `/store/` in any `.gitignore`, `.git/info/exclude` or `core.excludesFile`,
/// or a rule for each of `packs/`, `index/` and `uses/`, is enough.
pub fn unignored_in_work_tree(repo: &Repo, dir: &Path) -> Result<Option<(String, String)>> {
    let real = resolved(dir);
    let git = crate::git::GitRepo::open(&repo.root)?;
    let mut trees = vec![repo.root.clone()];
    trees.extend(
        git.work_trees()?
            .into_iter()
            .filter_map(|w| w.canonicalize().ok()),
    );
    trees.sort();
    trees.dedup();
    // The innermost work tree holding the folder is the one whose Git would see it.
    let Some((tree, rel)) = trees
        .iter()
        .filter_map(|w| Some((w, real.strip_prefix(w).ok()?)))
        .max_by_key(|(w, _)| w.components().count())
    else {
        return Ok(None);
    };
    // Git never adds what is inside its own folder.
    if rel.components().any(|c| c.as_os_str() == ".git") {
        return Ok(None);
    }
    // Path equality skips `.` components: `./store` is shown as the folder it is.
    let shown = if real == dir {
        real.display().to_string()
    } else {
        format!("{} (that is {})", dir.display(), real.display())
    };
    let outside = "give the remote a folder outside the work tree".to_string();
    let rel = rel.to_string_lossy().into_owned();
    if rel.is_empty() {
        return Ok(Some((
            format!(
                "the folder {shown} is the work tree {} itself",
                tree.display()
            ),
            outside,
        )));
    }
    // Inside a dataset's folder (a pointer file `NAME.dv` beside a folder on the way), Git ignores the remote
    // through the dataset's own line, but a checkout of that dataset deletes what its version does not hold.
    let mut prefix = String::new();
    for name in rel.split('/') {
        prefix = crate::paths::join(&prefix, name);
        let pointer = format!("{prefix}{}", crate::paths::POINTER_SUFFIX);
        if tree.join(&pointer).is_file() {
            return Ok(Some((
                format!(
                    "the folder {shown} lies inside the folder of dataset '{prefix}' ({pointer}): a checkout of \
                     that dataset would delete it, and `dv add {prefix}` would store the remote in it"
                ),
                outside,
            )));
        }
    }
    let tree_git = crate::git::GitRepo::open(tree)?;
    let mut ignores = tree_git.ignores()?;
    let mut why = None;
    for sub in LAYOUT {
        let path = crate::paths::join(&rel, sub);
        match ignores.rule_for(&path, true)? {
            Some(rule) if !rule.negated => {}
            Some(rule) => {
                why = Some(format!("the rule {rule} re-includes '{path}'"));
                break;
            }
            None => {
                why = Some(format!("no rule in Git's ignore files matches '{path}'"));
                break;
            }
        }
    }
    let Some(why) = why else {
        return Ok(None);
    };
    Ok(Some((
        format!(
            "the folder {shown} lies inside the work tree {} and Git does not ignore it ({why}): `git add -A` \
             would commit the data pushed there into Git's history",
            tree.display()
        ),
        format!(
            "add the line '/{}/' to {} (or to .git/info/exclude), or {outside}",
            crate::ops::ignore::escape_ignore(&rel),
            tree.join(".gitignore").display()
        ),
    )))
}

/// Refuses to write to a folder remote that [`unignored_in_work_tree`] finds Git would commit. Checked each
/// time the remote is opened to write (push, `gc --remote`, `fsck --remote --repair`), since a committed
/// `.dv/config.toml` names the same relative folder in every clone; reading it (fetch, pull, status) goes on.
fn refuse_unignored_in_work_tree(repo: &Repo, name: &str, dir: &Path) -> Result<()> {
    match unignored_in_work_tree(repo, dir)? {
        None => Ok(()),
        Some((message, hint)) => Err(Error::RemoteFailed {
            remote: name.to_string(),
            message,
            hint: format!("{hint} (`dv remote modify {name} url PATH`)"),
        }),
    }
}

/// No link inside a folder remote's layout is followed: its `packs/` (and each `packs/XX/`), `index/` and `uses/`
/// are real folders, as in the cache. A link there could lead push, status and `gc --remote` into any other
/// folder (this repository's own cache: push finds everything "already there", and gc deletes local packs),
/// whatever the remote's own path says; a commit can carry such links when the remote is inside the work tree.
fn refuse_layout_links(name: &str, dir: &Path) -> Result<()> {
    let mut check = vec![dir.join("packs"), dir.join("index"), dir.join("uses")];
    if let Ok(entries) = std::fs::read_dir(dir.join("packs")) {
        check.extend(entries.flatten().map(|e| e.path()));
    }
    for p in check {
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            let target = std::fs::read_link(&p)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            return Err(Error::RemoteFailed {
                remote: name.to_string(),
                message: format!(
                    "{} is a symbolic link (to {target}); dv never follows a link inside a remote's folders",
                    p.display()
                ),
                hint: format!(
                    "replace the link by a real folder, or give the remote a folder of its own \
                     (`dv remote modify {name} url PATH`)"
                ),
            });
        }
    }
    Ok(())
}

/// Makes a folder remote's folder when it is missing, its parent is there and `access` writes (returned, so the
/// CLI can say so). A missing parent is an error: it is most likely a typo, and a typo must not become a new
/// store. Reading a missing folder is an error too: a read-only command creates nothing.
fn make_folder(name: &str, dir: &Path, access: Access) -> Result<Option<PathBuf>> {
    if dir.is_dir() {
        return Ok(None);
    }
    let hint = format!(
        "check the remote's URL (`dv remote list`; `dv remote modify {name} url PATH` changes it)"
    );
    if dir.exists() {
        return Err(Error::RemoteFailed {
            remote: name.to_string(),
            message: format!("{} is not a folder", dir.display()),
            hint,
        });
    }
    match dir.parent() {
        Some(parent) if parent.is_dir() => {}
        parent => {
            return Err(Error::RemoteFailed {
                remote: name.to_string(),
                message: format!(
                    "the folder {} does not exist, and neither does its parent {}",
                    dir.display(),
                    parent.unwrap_or(dir).display()
                ),
                hint: format!("{hint}; if the path is right, create its parent folder first"),
            });
        }
    }
    if access != Access::Write {
        return Err(Error::RemoteFailed {
            remote: name.to_string(),
            message: format!(
                "the folder {} does not exist: nothing has been pushed to it",
                dir.display()
            ),
            hint: format!("{hint}; if the path is right, `dv push` creates it"),
        });
    }
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(Some(dir.to_path_buf())),
        // Made by someone else in the meantime: fine.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(None),
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// An S3, GCS or Azure store. Settings apply in this order, later ones winning: the AWS profile's files, the
/// cloud's environment variables (`env`), the committed settings, then `.dv/config.local.toml`.
fn cloud_backend(
    name: &str,
    cfg: &RemoteConfig,
    local: &BTreeMap<String, String>,
    env: &RemoteEnv,
) -> Result<(Arc<dyn ObjectStore>, Explain)> {
    use object_store::{ObjectStoreScheme, aws, azure, gcp};
    let err = |e: &dyn std::fmt::Display| remote_err(name, e);
    let url = url::Url::parse(&cfg.url).map_err(|e| err(&format!("{:?}: {e}", cfg.url)))?;
    let (scheme, prefix) = ObjectStoreScheme::parse(&url).map_err(|e| err(&e))?;
    // reqwest is built without a TLS crypto provider of its own: ring serves (installing twice is harmless).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let retry = retry_config(name, cfg)?;
    let wait = |key: &str, default| -> Result<std::time::Duration> {
        match seconds_setting(name, cfg, key)? {
            Some(t) if t.is_zero() => Err(remote_err(name, format!("{key} must be more than 0"))),
            t => Ok(t.unwrap_or(default)),
        }
    };
    let connect_timeout = wait("connect_timeout", CONNECT_TIMEOUT)?;
    let response_timeout = wait("response_timeout", RESPONSE_TIMEOUT)?;
    let mut explain = Explain {
        response_timeout: Some(response_timeout),
        ..Explain::default()
    };
    // The backend's own settings, in the order they apply.
    let mut options: Vec<(String, String, &str)> = vec![(
        "connect_timeout".into(),
        format!("{}ms", connect_timeout.as_millis().max(1)),
        "as dv's default",
    )];
    let committed: Vec<_> = cfg
        .settings
        .iter()
        .filter(|(k, _)| !DV_SETTINGS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone(), "in .dv/config.toml"))
        .collect();
    let local: Vec<_> = local
        .iter()
        .map(|(k, v)| (k.clone(), v.clone(), "in .dv/config.local.toml"))
        .collect();
    // dv's setting names that a backend spells its own way.
    fn gcs_name(k: &str) -> &str {
        if k == "endpoint" { "base_url" } else { k }
    }
    fn same_name(k: &str) -> &str {
        k
    }
    // `$endpoint`: the backend's key for the endpoint; `$emulator`: a key that, when true, allows plain HTTP.
    macro_rules! configure {
        ($builder:expr, $key:ty, $name:expr, $endpoint:expr, $emulator:expr) => {{
            let mut b = $builder
                .with_url(cfg.url.as_str())
                .with_http_connector(crate::remote_http::Connector { response_timeout });
            for (k, v, whence) in options.drain(..).chain(committed).chain(local) {
                let key: $key = $name(k.as_str())
                    .parse()
                    .map_err(|_| err(&format!("unknown setting `{k}` {whence}")))?;
                b = b.with_config(key, v);
            }
            let emulator: Option<$key> = $emulator;
            refuse_plain_http(
                name,
                b.get_config_value(&$endpoint).as_deref(),
                b.get_config_value(&<$key>::Client(object_store::ClientConfigKey::AllowHttp))
                    .as_deref(),
                emulator.and_then(|k| b.get_config_value(&k)).as_deref(),
            )?;
            Arc::new(b.with_retry(retry).build().map_err(|e| err(&e))?) as Arc<dyn ObjectStore>
        }};
    }
    let store = match scheme {
        ObjectStoreScheme::AmazonS3 => {
            let profile = cfg
                .settings
                .get("profile")
                .cloned()
                .or_else(|| env.aws_profile().map(str::to_string));
            // dv's default, which any setting below overrides: no SHA-256 of every uploaded byte for the
            // request signature. Integrity is end to end without it: every object is checked against its
            // BLAKE3 id when it is read back, and TLS protects real endpoints in transit.
            options.push(("unsigned_payload".into(), "true".into(), "as dv's default"));
            if let Some(profile) = &profile {
                options.extend(
                    env.aws_profile_settings(profile)
                        .map_err(|e| err(&e))?
                        .into_iter()
                        .map(|(k, v)| (k, v, "in the AWS profile")),
                );
            }
            // The AWS_* environment variables the builder knows (AWS_ENDPOINT_URL, AWS_REGION, keys, ...).
            options.extend(
                env.s3_options()
                    .into_iter()
                    .map(|(k, v)| (k, v, "in the environment")),
            );
            explain.bucket = url.host_str().map(str::to_string);
            explain.no_credentials = s3_credential_search(
                profile.as_deref(),
                options.iter().chain(&committed).chain(&local),
            );
            configure!(
                aws::AmazonS3Builder::new(),
                aws::AmazonS3ConfigKey,
                same_name,
                aws::AmazonS3ConfigKey::Endpoint,
                None
            )
        }
        ObjectStoreScheme::GoogleCloudStorage => {
            configure!(
                env.gcs_builder(),
                gcp::GoogleConfigKey,
                gcs_name,
                gcp::GoogleConfigKey::BaseUrl,
                None
            )
        }
        ObjectStoreScheme::MicrosoftAzure => {
            configure!(
                env.azure_builder(),
                azure::AzureConfigKey,
                same_name,
                azure::AzureConfigKey::Endpoint,
                Some(azure::AzureConfigKey::UseEmulator)
            )
        }
        _ => return Err(err(&format!("unsupported URL {:?}", cfg.url))),
    };
    let store = if prefix.as_ref().is_empty() {
        store
    } else {
        Arc::new(object_store::prefix::PrefixStore::new(store, prefix)) as Arc<dyn ObjectStore>
    };
    Ok((store, explain))
}

/// The store's HTTP client refuses a plain `http://` endpoint unless `allow_http` is true, with no more than
/// "builder error" once the first request goes: say so before, naming the endpoint and the setting. `endpoint`,
/// `allow_http` and `emulator` (Azure's `use_emulator`, which allows plain HTTP itself) are the values the
/// backend's builder holds once every setting is applied.
fn refuse_plain_http(
    name: &str,
    endpoint: Option<&str>,
    allow_http: Option<&str>,
    emulator: Option<&str>,
) -> Result<()> {
    let truthy = |v: Option<&str>| {
        v.is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "on" | "yes" | "y"
            )
        })
    };
    let Some(endpoint) = endpoint else {
        return Ok(());
    };
    let plain = endpoint
        .trim()
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
    if !plain || truthy(allow_http) || truthy(emulator) {
        return Ok(());
    }
    Err(Error::RemoteFailed {
        remote: name.to_string(),
        message: format!(
            "the endpoint {} is plain HTTP, which dv uses only when allow_http is true",
            crate::redact::redact(endpoint)
        ),
        hint: format!(
            "if plain HTTP is meant (a local test server: requests and data then travel unencrypted), run \
             `dv remote modify {name} allow_http true`; otherwise use an https:// endpoint (`dv remote modify \
             {name} endpoint https://...`)"
        ),
    })
}

/// When the S3 settings name no credentials (no keys, no web identity, no container credentials, no
/// unsigned requests), object_store asks the instance metadata endpoint: that endpoint, and where dv looked
/// before, for the error if that fails too.
fn s3_credential_search<'a>(
    profile: Option<&str>,
    settings: impl Iterator<Item = &'a (String, String, &'a str)>,
) -> Option<(String, String)> {
    let mut metadata = "http://169.254.169.254".to_string();
    let mut keys = std::collections::BTreeSet::new();
    for (k, v, _) in settings {
        let k = k.strip_prefix("aws_").unwrap_or(k);
        if k == "metadata_endpoint" {
            metadata = v.clone();
        }
        if k == "skip_signature" && v != "true" {
            continue;
        }
        keys.insert(k.to_string());
    }
    let found = ["access_key_id", "secret_access_key", "skip_signature"]
        .iter()
        .any(|k| keys.contains(*k))
        || (keys.contains("web_identity_token_file") && keys.contains("role_arn"))
        || keys.contains("container_credentials_relative_uri")
        || keys.contains("container_credentials_full_uri");
    if found {
        return None;
    }
    let profile = match profile {
        Some(p) => format!("the AWS profile '{p}' (~/.aws/credentials, ~/.aws/config), "),
        None => String::new(),
    };
    Some((
        metadata.clone(),
        format!(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, {profile}.dv/config.local.toml, \
             web identity and container credentials (AWS_WEB_IDENTITY_TOKEN_FILE, \
             AWS_CONTAINER_CREDENTIALS_RELATIVE_URI), instance metadata at {metadata}"
        ),
    ))
}

/// A setting in seconds (a positive number), if set.
fn seconds_setting(
    name: &str,
    cfg: &RemoteConfig,
    key: &str,
) -> Result<Option<std::time::Duration>> {
    let Some(v) = cfg.settings.get(key) else {
        return Ok(None);
    };
    v.parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
        .map(|s| Some(std::time::Duration::from_secs_f64(s)))
        .ok_or_else(|| remote_err(name, format!("{key} must be seconds, not {v:?}")))
}

fn retry_config(name: &str, cfg: &RemoteConfig) -> Result<object_store::RetryConfig> {
    let mut retry = object_store::RetryConfig::default();
    if let Some(v) = cfg.settings.get("max_retries") {
        retry.max_retries = v.parse().map_err(|_| {
            remote_err(
                name,
                format!("max_retries must be a whole number, not {v:?}"),
            )
        })?;
    }
    if let Some(t) = seconds_setting(name, cfg, "retry_timeout")? {
        retry.retry_timeout = t;
    }
    Ok(retry)
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

const SUPPORTED: &str = "use a folder path, file:///abs/path, s3://bucket/prefix, gs://bucket/prefix or \
                         az://container/prefix";

/// Checks a URL can be used as a remote, without connecting.
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    use object_store::ObjectStoreScheme;
    if url.is_empty() {
        return Err("the URL is empty".into());
    }
    crate::repo::check_remote_setting("url", url)?;
    if let Some(rest) = url.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err("a file:// URL needs an absolute path (file:///abs/path)".into());
        }
        return Ok(());
    }
    if !url.contains("://") {
        return Ok(());
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("not a valid URL ({e}); {SUPPORTED}"))?;
    match ObjectStoreScheme::parse(&parsed) {
        Ok((
            ObjectStoreScheme::AmazonS3
            | ObjectStoreScheme::GoogleCloudStorage
            | ObjectStoreScheme::MicrosoftAzure,
            _,
        )) => Ok(()),
        _ => Err(format!("unsupported URL; {SUPPORTED}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for ok in [
            "/srv/x",
            "rel/dir",
            "file:///abs",
            "s3://bucket",
            "s3://bucket/some/prefix",
            "gs://b/p",
            "az://container/p",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "file://rel",
            "ftp://host/x",
            "http://example.com/x",
            "s3://",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    /// A remote over a folder, without a repository.
    fn folder_remote(dir: &Path) -> Remote {
        Remote {
            name: "test".into(),
            url: dir.display().to_string(),
            store: Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir).unwrap()),
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
            index_cache: dir.join("index-cache"),
            explain: Explain::default(),
            created_folder: None,
            endpoint: None,
            single_put_max: SINGLE_PUT_MAX,
        }
    }

    /// Runs `f` on a thread of its own and fails if it has not finished within a minute (a hang, not a pass).
    fn within_a_minute(f: impl FnOnce() + Send + 'static) {
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            f();
            let _ = tx.send(());
        });
        match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(()) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("still running after a minute")
            }
            Err(_) => std::panic::resume_unwind(handle.join().unwrap_err()),
        }
    }

    #[test]
    fn ranged_reads_come_in_order_within_a_budget_smaller_than_a_request() {
        within_a_minute(ranged_reads_in_order);
    }

    fn ranged_reads_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let remote = folder_remote(dir.path());
        let mib = 1u64 << 20;
        let packs: Vec<(ObjectId, Vec<u8>)> = (0..3u8)
            .map(|p| {
                let data: Vec<u8> = (0..20 * mib).map(|i| (i * 7 + p as u64) as u8).collect();
                let id = ObjectId::of(&data);
                let path = dir.path().join(pack_path(&id).as_ref());
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, &data).unwrap();
                (id, data)
            })
            .collect();
        // Packs out of id order; ranges out of offset order, some far apart, one longer than a request.
        let wanted: Vec<(ObjectId, Vec<Range<u64>>)> = vec![
            (packs[2].0, vec![5 * mib..6 * mib, 0..100, 200..300]),
            (packs[0].0, vec![0..17 * mib + 5, 18 * mib..19 * mib]),
            (packs[1].0, vec![19 * mib..20 * mib, 9 * mib..9 * mib + 1]),
        ];
        let pack_data = |id: &ObjectId| &packs.iter().find(|p| p.0 == *id).unwrap().1;
        for budget in [1, 96] {
            let mut seen = Vec::new();
            remote
                .read_ranges_within(&wanted, budget, |got| {
                    for ((i, j), bytes) in got {
                        let r = &wanted[i].1[j];
                        let want = &pack_data(&wanted[i].0)[r.start as usize..r.end as usize];
                        assert!(
                            bytes == want,
                            "pack {i} range {j} differs (budget {budget})"
                        );
                        seen.push((i, r.start));
                    }
                    Ok(())
                })
                .unwrap();
            // Packs in the order asked, each pack's ranges by offset.
            let mut expected: Vec<(usize, u64)> = wanted
                .iter()
                .enumerate()
                .flat_map(|(i, (_, rs))| rs.iter().map(move |r| (i, r.start)))
                .collect();
            expected.sort();
            assert_eq!(seen, expected, "budget {budget}");
        }
        // An error from the reader's user stops the reading and comes back.
        let mut calls = 0;
        let err = remote
            .read_ranges_within(&wanted, 1, |_| {
                calls += 1;
                Err(Error::Internal("stop here".into()))
            })
            .unwrap_err();
        assert_eq!(calls, 1);
        assert!(err.to_string().contains("stop here"), "{err}");
    }

    #[test]
    fn errors_are_explained_without_secrets_or_xml() {
        let x = Explain {
            bucket: Some("b".into()),
            ..Explain::default()
        };
        let body = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Reduce your rate.</Message></Error>";
        let e = explain(
            "o",
            &x,
            format!(
                "GET http://u:pw@h/b?sig=s1 - Server returned non-2xx status code: 503: {body}"
            ),
        );
        let text = e.to_string();
        assert_eq!(
            text,
            "remote 'o': GET http://***@h/b?sig=*** - Server returned non-2xx status code: 503: SlowDown: \
             Reduce your rate."
        );
        let e = explain(
            "o",
            &x,
            format!("403 {}", body.replace("SlowDown", "AccessDenied")),
        );
        assert!(matches!(e, Error::RemoteFailed { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("refused the credentials (AccessDenied: ")
        );
        let e = explain("o", &x, body.replace("SlowDown", "NoSuchBucket"));
        assert!(
            e.to_string().contains("the bucket 'b' does not exist"),
            "{e}"
        );
    }
}
