//! The HTTP client under cloud remotes: object_store's reqwest client, plus a limit on how long dv waits for a
//! server to begin answering, and a rule that gives up early on a server that has never answered.
//!
//! object_store retries connection failures and timeouts for up to `retry_timeout` (180 s by default), which
//! is right for a server that answered before and hiccups, and wrong for a mistyped endpoint or a host that
//! accepts connections and never answers: that used to be three minutes of silence. Here, once a client has
//! failed `SILENT_ATTEMPTS` times (connection failures or timeouts, across all its requests) without any
//! answer from the server, its errors are no longer retryable and say what happened.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use object_store::ClientOptions;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService,
    ReqwestConnector,
};

/// Failed attempts (timeouts, connection failures) after which a server that never answered is given up on.
pub const SILENT_ATTEMPTS: usize = 3;

/// Builds clients that wait at most `response_timeout` for the start of an answer.
#[derive(Debug)]
pub struct Connector {
    pub response_timeout: Duration,
}

impl HttpConnector for Connector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(Watched {
            inner: ReqwestConnector::default().connect(options)?,
            response_timeout: self.response_timeout,
            answered: AtomicBool::new(false),
            failures: AtomicUsize::new(0),
        }))
    }
}

#[derive(Debug)]
struct Watched {
    inner: HttpClient,
    response_timeout: Duration,
    /// Whether the server has answered any request (with any status).
    answered: AtomicBool,
    /// Timeouts and connection failures while it had not.
    failures: AtomicUsize,
}

#[async_trait::async_trait]
impl HttpService for Watched {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let uri = req.uri();
        let mut origin = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("http"),
            uri.host().unwrap_or("?")
        );
        if let Some(port) = uri.port_u16() {
            origin.push_str(&format!(":{port}"));
        }
        // A request with a body is bounded by the client's overall timeout instead: sending the body can
        // rightly take longer than any wait for a first byte.
        let bodyless = req.body().is_empty();
        let sent = self.inner.execute(req);
        let got = if bodyless {
            match tokio::time::timeout(self.response_timeout, sent).await {
                Ok(got) => got,
                Err(_) => Err(HttpError::new(
                    HttpErrorKind::Timeout,
                    NoAnswer(format!(
                        "no answer from {origin} within {}",
                        seconds(self.response_timeout)
                    )),
                )),
            }
        } else {
            sent.await
        };
        match got {
            Ok(response) => {
                self.answered.store(true, Ordering::Relaxed);
                Ok(response)
            }
            Err(e)
                if !self.answered.load(Ordering::Relaxed)
                    && matches!(e.kind(), HttpErrorKind::Timeout | HttpErrorKind::Connect) =>
            {
                let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                if n < SILENT_ATTEMPTS {
                    // Retried; the message counts against the real limit (not object_store's
                    // `max_retries`, which a server that never answered does not get).
                    let what = if e.kind() == HttpErrorKind::Timeout {
                        format!(
                            "no answer from {origin} within {}",
                            seconds(self.response_timeout)
                        )
                    } else {
                        format!("cannot connect to {origin}: {}", causes(&e))
                    };
                    return Err(HttpError::new(
                        e.kind(),
                        NoAnswer(format!("{what} (attempt {n} of {SILENT_ATTEMPTS})")),
                    ));
                }
                let what = if e.kind() == HttpErrorKind::Timeout {
                    format!(
                        "no answer from {origin} within {} ({n} attempts)",
                        seconds(self.response_timeout)
                    )
                } else {
                    format!("cannot connect to {origin} ({n} attempts): {}", causes(&e))
                };
                // Unknown: object_store does not retry it.
                Err(HttpError::new(HttpErrorKind::Unknown, NoAnswer(what)))
            }
            Err(e) => Err(e),
        }
    }
}

/// A server that did not answer; the text is the whole story.
#[derive(Debug)]
struct NoAnswer(String);

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NoAnswer {}

/// An error's innermost causes, which say what went wrong ("Connection refused"), joined.
fn causes(e: &HttpError) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.last().cloned().unwrap_or_else(|| e.to_string())
}

/// "5 s", "1.5 s".
pub fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}
