//! A real S3 server (s3s-fs: objects are plain files, requests are signed and checked) on 127.0.0.1, run on
//! a runtime inside the test process, so tests and benchmarks need nothing installed. It can be stopped and
//! restarted on the same port, or made to stop by itself after some uploads, to test interrupted pushes.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::service::S3Service;

pub const ACCESS_KEY: &str = "dv-test-access-key";
pub const SECRET_KEY: &str = "dv-test-secret-key-0123456789";
pub const REGION: &str = "us-east-1";

#[derive(Default)]
struct State {
    /// PUT requests received (simple and multipart part uploads).
    puts: AtomicU64,
    /// ...of which sent with an unsigned payload (`x-amz-content-sha256: UNSIGNED-PAYLOAD`).
    unsigned_puts: AtomicU64,
    /// Body bytes answered to GETs of keys below `packs/` (by Content-Length).
    pack_bytes_read: AtomicU64,
    /// Stop serving at this many PUTs (0: never).
    stop_at: AtomicU64,
    /// GETs of keys below `packs/` received.
    pack_gets: AtomicU64,
    /// Hold GETs of packs from this many on (0: never) until released; how many are held.
    hold_from: AtomicU64,
    held: AtomicU64,
    released: std::sync::atomic::AtomicBool,
    release: tokio::sync::Notify,
    tripped: tokio::sync::Notify,
    /// Set by the first PUT past `stop_at`: the stop is signalled once. (Two PUTs in flight past it used to
    /// signal twice; the second signal stayed stored and stopped the restarted server at once.)
    trip_sent: std::sync::atomic::AtomicBool,
}

pub struct S3Server {
    pub addr: SocketAddr,
    root: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    rt: tokio::runtime::Runtime,
    state: Arc<State>,
    running: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl S3Server {
    /// A server over a new temporary folder, on a free port.
    pub fn start() -> S3Server {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut s = S3Server::start_in(tmp.path());
        s._tmp = Some(tmp);
        s
    }

    /// A server storing its buckets as folders below `root`, on a free port.
    pub fn start_in(root: &Path) -> S3Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut s = S3Server {
            addr: "127.0.0.1:0".parse().unwrap(),
            root: root.to_path_buf(),
            _tmp: None,
            rt,
            state: Arc::default(),
            running: None,
        };
        s.serve();
        s
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates a bucket (a folder) and returns its `s3://` URL.
    pub fn bucket(&self, name: &str) -> String {
        std::fs::create_dir_all(self.root.join(name)).expect("bucket folder");
        format!("s3://{name}")
    }

    /// The folder holding a bucket's objects.
    pub fn bucket_dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn puts(&self) -> u64 {
        self.state.puts.load(Ordering::SeqCst)
    }

    /// Bytes of packs served to GETs so far.
    pub fn pack_bytes_read(&self) -> u64 {
        self.state.pack_bytes_read.load(Ordering::SeqCst)
    }

    /// PUTs received whose payload was not signed.
    pub fn unsigned_puts(&self) -> u64 {
        self.state.unsigned_puts.load(Ordering::SeqCst)
    }

    /// Makes the server stop (dropping every connection) when it receives its `n`th PUT from now.
    pub fn stop_after_puts(&self, n: u64) {
        self.state.stop_at.store(self.puts() + n, Ordering::SeqCst);
    }

    /// Makes the server hold GETs of packs, from the `n`th from now on, until [`S3Server::release_pack_gets`].
    pub fn hold_pack_gets_from(&self, n: u64) {
        self.state.released.store(false, Ordering::SeqCst);
        self.state.hold_from.store(
            self.state.pack_gets.load(Ordering::SeqCst) + n,
            Ordering::SeqCst,
        );
    }

    /// GETs of packs being held now.
    pub fn held_pack_gets(&self) -> u64 {
        self.state.held.load(Ordering::SeqCst)
    }

    pub fn release_pack_gets(&self) {
        self.state.hold_from.store(0, Ordering::SeqCst);
        self.state.released.store(true, Ordering::SeqCst);
        self.state.release.notify_waiters();
    }

    pub fn is_running(&self) -> bool {
        self.running.as_ref().is_some_and(|(_, h)| !h.is_finished())
    }

    /// Stops serving: the port closes and open connections are dropped.
    pub fn stop(&mut self) {
        if let Some((tx, handle)) = self.running.take() {
            let _ = tx.send(());
            let _ = self.rt.block_on(handle);
        }
    }

    /// Serves again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.state.stop_at.store(0, Ordering::SeqCst);
        self.state.trip_sent.store(false, Ordering::SeqCst);
        self.serve();
    }

    fn serve(&mut self) {
        let service = {
            let fs = s3s_fs::FileSystem::new(&self.root).expect("s3s-fs root");
            let mut b = s3s::service::S3ServiceBuilder::new(fs);
            b.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            b.build()
        };
        let addr = self.addr;
        let listener = self.rt.block_on(async {
            // The port may take a moment to be free again after a stop.
            let mut tries = 0;
            loop {
                match tokio::net::TcpListener::bind(addr).await {
                    Ok(l) => break l,
                    Err(e) if tries < 50 => {
                        tries += 1;
                        let _ = e;
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("cannot bind {addr}: {e}"),
                }
            }
        });
        self.addr = listener.local_addr().unwrap();
        let state = self.state.clone();
        let root = Arc::new(self.root.clone());
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let handle = self.rt.spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            loop {
                tokio::select! {
                    r = listener.accept() => {
                        let Ok((socket, _)) = r else { continue };
                        let svc = Counting {
                            inner: service.clone(),
                            state: state.clone(),
                            root: root.clone(),
                        };
                        let conn = builder.serve_connection(TokioIo::new(socket), svc).into_owned();
                        conns.spawn(async move { let _ = conn.await; });
                    }
                    _ = &mut rx => break,
                    _ = state.tripped.notified() => break,
                }
            }
            // Dropping the set aborts every open connection.
            conns.abort_all();
        });
        self.running = Some((tx, handle));
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Clone)]
struct Counting {
    inner: S3Service,
    state: Arc<State>,
    root: Arc<PathBuf>,
}

impl Counting {
    /// s3s-fs keeps a key's "folders" as real folders and answers a HEAD or GET on one with 500; S3 has no
    /// folders and answers 404 (NoSuchKey). DVC probes such prefixes, so answer them as S3 would.
    fn is_folder_key(&self, req: &hyper::Request<Incoming>) -> bool {
        let path = req.uri().path().trim_start_matches('/');
        if !matches!(*req.method(), hyper::Method::HEAD | hyper::Method::GET)
            || path.contains('%')
            || path
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
            || path.split('/').count() < 2
        {
            return false;
        }
        self.root.join(path).is_dir()
    }
}

type Resp = <S3Service as hyper::service::Service<hyper::Request<Incoming>>>::Response;
type Err = <S3Service as hyper::service::Service<hyper::Request<Incoming>>>::Error;

impl hyper::service::Service<hyper::Request<Incoming>> for Counting {
    type Response = Resp;
    type Error = Err;
    type Future = Pin<Box<dyn Future<Output = Result<Resp, Err>> + Send>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        if req.method() == hyper::Method::PUT {
            let n = self.state.puts.fetch_add(1, Ordering::SeqCst) + 1;
            if req
                .headers()
                .get("x-amz-content-sha256")
                .is_some_and(|v| v == "UNSIGNED-PAYLOAD")
            {
                self.state.unsigned_puts.fetch_add(1, Ordering::SeqCst);
            }
            let stop_at = self.state.stop_at.load(Ordering::SeqCst);
            if stop_at != 0 && n >= stop_at {
                if !self.state.trip_sent.swap(true, Ordering::SeqCst) {
                    self.state.tripped.notify_one();
                }
                return Box::pin(std::future::pending());
            }
        }
        if self.is_folder_key(&req) {
            let body = if req.method() == hyper::Method::HEAD {
                s3s::Body::empty()
            } else {
                s3s::Body::from(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
                     <Message>The specified key does not exist.</Message></Error>"
                        .to_string(),
                )
            };
            let resp = hyper::Response::builder()
                .status(404)
                .header("content-type", "application/xml")
                .body(body)
                .expect("response");
            return Box::pin(std::future::ready(Ok(resp)));
        }
        let counts_pack_bytes =
            req.method() == hyper::Method::GET && req.uri().path().contains("/packs/");
        if !counts_pack_bytes {
            return Box::pin(hyper::service::Service::call(&self.inner, req));
        }
        let n = self.state.pack_gets.fetch_add(1, Ordering::SeqCst) + 1;
        let hold_from = self.state.hold_from.load(Ordering::SeqCst);
        let hold = hold_from != 0 && n >= hold_from;
        let state = self.state.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            if hold {
                state.held.fetch_add(1, Ordering::SeqCst);
                loop {
                    let released = state.release.notified();
                    if state.released.load(Ordering::SeqCst) {
                        break;
                    }
                    released.await;
                }
                state.held.fetch_sub(1, Ordering::SeqCst);
            }
            let resp = hyper::service::Service::call(&inner, req).await?;
            let len = resp
                .headers()
                .get(hyper::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .unwrap_or(0);
            state.pack_bytes_read.fetch_add(len, Ordering::SeqCst);
            Ok(resp)
        })
    }
}
