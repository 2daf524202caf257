//! HTTP fetching within limits, politely: every request is bounded in time,
//! bytes (after decompression) and redirects; conditional GET makes an
//! unchanged feed cost a 304 and no parsing; transient errors are retried with
//! exponential backoff and jitter; a server's `Retry-After` is reported so the
//! caller never asks again before it; and [`HostLimiter`] caps how many
//! requests run at once, per host and in all.
//!
//! Every hop a fetch did not get from the user passes the SSRF guard
//! ([`crate::netguard`]): a redirect to another host, and every hop of
//! [`Fetcher::get_untrusted`] (URLs found in content), may reach only public
//! addresses or those the pipeline's `allow_private` names. A redirect that
//! stays on the host the user configured is the user's own choice and is
//! followed like the first request (many self-hosted feeds live on
//! `192.168.x.y` and redirect `http` to `https` on the same host).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::netguard::{self, Allowance, Blocked, GuardError, GuardedResolver};

/// Limits on one fetch. Each has a default and a name in the pipeline file
/// (the `rss` agent's options).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchLimits {
    /// Seconds to establish a connection.
    pub connect_timeout_secs: u64,
    /// Seconds for the whole request, body included.
    pub timeout_secs: u64,
    /// Largest body accepted, in bytes, after decompression (a gzip bomb
    /// stops here).
    pub max_bytes: u64,
    /// Redirects followed before giving up (a loop stops here).
    pub max_redirects: usize,
    pub user_agent: String,
    /// Non-public hosts, addresses and networks (CIDR) that redirects and
    /// URLs from content may reach anyway (`allow_private`); empty by
    /// default, so a feed cannot point agg at the user's own network.
    pub allow_private: Allowance,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            connect_timeout_secs: 10,
            timeout_secs: 30,
            max_bytes: 10 * 1024 * 1024,
            max_redirects: 5,
            user_agent: format!(
                "agg/{} (personal news aggregator; +https://example.invalid/agg)",
                env!("CARGO_PKG_VERSION")
            ),
            allow_private: Allowance::default(),
        }
    }
}

/// Retries of transient errors (timeouts, connection failures, 5xx, 429
/// without `Retry-After`) within one run.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Extra attempts after the first (`retries`).
    pub retries: u32,
    /// First backoff; each retry doubles it, with full jitter (`retry_base_ms`).
    pub base: Duration,
    /// No single wait is longer than this.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 2,
            base: Duration::from_millis(500),
            max_wait: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Wait before retry number `attempt` (0-based): a uniform random
    /// duration in [d/2, d] with d = base·2^attempt, capped at `max_wait`
    /// ("equal jitter": never zero, never synchronised with other clients).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let d = self
            .base
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.max_wait);
        let half = d / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// What a fetch gave.
#[derive(Debug)]
pub enum FetchOutcome {
    /// 304: the feed did not change since the validators we sent.
    NotModified {
        /// Set when every redirect on the way was permanent (301/308).
        moved_to: Option<String>,
    },
    Body {
        bytes: Vec<u8>,
        /// The URL after redirects.
        final_url: String,
        /// Set when every redirect on the way was permanent (301/308):
        /// the feed's new address, to fetch next time.
        moved_to: Option<String>,
        etag: Option<String>,
        last_modified: Option<String>,
        /// The `Content-Type` header (for its charset).
        content_type: Option<String>,
    },
}

/// Why a fetch failed, phrased for the user.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("HTTP {status} from {url}{}", retry_after_note(.retry_after))]
    Status {
        status: u16,
        url: String,
        /// When the server said to come back (`Retry-After` on 429/503).
        retry_after: Option<DateTime<Utc>>,
    },
    #[error("body larger than the limit of {limit} bytes (max_bytes)")]
    TooLarge { limit: u64 },
    #[error("request timed out (timeout_secs)")]
    Timeout,
    #[error("too many redirects, more than {0} (max_redirects)")]
    Redirects(usize),
    #[error("redirect loop at {0}")]
    RedirectLoop(String),
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The SSRF guard refused an address; says which and how to allow it.
    #[error("{0}")]
    Blocked(Blocked),
    /// The body ended before the length the server announced.
    #[error(
        "the server closed the connection after {got} bytes of {url}, before the end of the \
         body it announced: {detail}"
    )]
    CutShort {
        url: String,
        got: usize,
        detail: String,
    },
    #[error("{0}")]
    Other(String),
}

fn retry_after_note(t: &Option<DateTime<Utc>>) -> String {
    match t {
        Some(t) => format!(
            " (server asks to retry after {})",
            t.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        None => String::new(),
    }
}

impl FetchError {
    /// Worth retrying soon: the same request may well succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Status {
                status,
                retry_after,
                ..
            } => retry_after.is_none() && matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
            FetchError::Timeout | FetchError::Connect(_) => true,
            _ => false,
        }
    }

    /// The time before which the server asked not to be asked again.
    pub fn retry_after(&self) -> Option<DateTime<Utc>> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

fn error_chain(e: &reqwest::Error) -> String {
    // reqwest's top-level message is terse; its sources say why.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// Reads a body, counting bytes as they arrive (decompressed), whatever the
/// headers claimed: a lying Content-Length or a gzip bomb stops at `limit`.
/// A body cut short is told apart from other read errors.
async fn read_body(
    resp: &mut reqwest::Response,
    url: &url::Url,
    limit: u64,
) -> Result<Vec<u8>, FetchError> {
    let mut bytes = Vec::new();
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) if e.is_timeout() => return Err(FetchError::Timeout),
            Err(e) => {
                let detail = error_chain(&e);
                let lower = detail.to_ascii_lowercase();
                // hyper's words for a body shorter than its length.
                if lower.contains("before message length") || lower.contains("incomplete") {
                    return Err(FetchError::CutShort {
                        url: url.to_string(),
                        got: bytes.len(),
                        detail,
                    });
                }
                return Err(FetchError::Other(format!(
                    "cannot read the body of {url}: {detail}"
                )));
            }
        };
        if bytes.len() as u64 + chunk.len() as u64 > limit {
            return Err(FetchError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

impl From<reqwest::Error> for FetchError {
    fn from(e: reqwest::Error) -> Self {
        // The guarded resolver's refusal travels inside reqwest's error.
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = src {
            if let Some(b) = s.downcast_ref::<Blocked>() {
                return FetchError::Blocked(b.clone());
            }
            src = s.source();
        }
        if e.is_timeout() {
            FetchError::Timeout
        } else if e.is_connect() {
            FetchError::Connect(with_tls_hint(error_chain(&e)))
        } else {
            FetchError::Other(with_tls_hint(error_chain(&e)))
        }
    }
}

/// A TLS failure reads as a string of protocol terms; say what to check.
fn with_tls_hint(msg: String) -> String {
    let m = msg.to_ascii_lowercase();
    let tls = [
        "certificate",
        "tls",
        "handshake",
        "invalidcontenttype",
        "corrupt message",
    ];
    if tls.iter().any(|w| m.contains(w)) {
        format!(
            "{msg} (the TLS/https connection failed: check that the URL's scheme is right, \
             http or https, and that the server's certificate is valid for this host)"
        )
    } else {
        msg
    }
}

/// Parses a `Retry-After` value: delay in seconds or an HTTP date.
pub fn parse_retry_after(v: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(now + chrono::Duration::seconds(secs.min(365 * 86400) as i64));
    }
    DateTime::parse_from_rfc2822(v)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Caps concurrent requests per host and in all. Shared by every fetch of
/// an agent; a permit for the host is taken before the global one, so a
/// busy host never holds global slots while it waits.
#[derive(Clone)]
pub struct HostLimiter {
    global: Arc<Semaphore>,
    per_host: usize,
    hosts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

/// Held while a request runs; dropping it frees the slots.
pub struct HostPermit {
    _host: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
}

impl HostLimiter {
    pub fn new(global: usize, per_host: usize) -> Self {
        HostLimiter {
            global: Arc::new(Semaphore::new(global.max(1))),
            per_host: per_host.max(1),
            hosts: Arc::default(),
        }
    }

    pub async fn acquire(&self, url: &str) -> HostPermit {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(|h| format!("{h}:{:?}", u.port())))
            .unwrap_or_default();
        let sem = self
            .hosts
            .lock()
            .expect("host lock")
            .entry(host)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
            .clone();
        let h = sem.acquire_owned().await.expect("semaphore never closed");
        let g = self
            .global
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        HostPermit {
            _host: h,
            _global: g,
        }
    }
}

/// An HTTP client configured with limits.
#[derive(Clone)]
pub struct Fetcher {
    /// For hops the user chose: the configured URL and redirects on its host.
    client: reqwest::Client,
    /// For every other hop: names resolve through the SSRF guard, and the
    /// connection goes to the addresses it checked.
    guarded: reqwest::Client,
    limits: FetchLimits,
}

/// Whose URL a fetch starts from, which decides what the SSRF guard checks.
#[derive(Clone, Copy, Debug)]
pub enum Origin<'a> {
    /// A URL the user configured (a feed, an API base): its host is trusted,
    /// as are redirects that stay on it; other hops are guarded.
    Configured(&'a str),
    /// A URL found in content (an article link, an enclosure): every hop is
    /// guarded.
    Untrusted,
}

impl Fetcher {
    pub fn new(limits: FetchLimits) -> Result<Self, FetchError> {
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(limits.connect_timeout_secs))
                .timeout(Duration::from_secs(limits.timeout_secs))
                // Redirects are followed by hand, to see whether they are
                // permanent, to name a loop and to guard every hop.
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(limits.user_agent.clone())
        };
        let client = builder().build()?;
        let guarded = builder()
            .dns_resolver(GuardedResolver {
                allow: Arc::new(limits.allow_private.clone()),
            })
            .build()?;
        Ok(Fetcher {
            client,
            guarded,
            limits,
        })
    }

    /// [`Fetcher::get`], retrying transient errors per `retry`, each attempt
    /// holding a slot of `limiter` (released while waiting to retry).
    /// `configured` is the URL the user gave (trusted host); `url` may differ
    /// when the feed moved permanently to a new address since.
    pub async fn get_polite(
        &self,
        url: &str,
        configured: &str,
        etag: Option<&str>,
        last_modified: Option<&str>,
        limiter: &HostLimiter,
        retry: &RetryPolicy,
    ) -> Result<FetchOutcome, FetchError> {
        let mut attempt = 0;
        loop {
            let r = {
                let _permit = limiter.acquire(url).await;
                self.fetch(url, Origin::Configured(configured), etag, last_modified)
                    .await
            };
            match r {
                Err(e) if e.is_transient() && attempt < retry.retries => {
                    let wait = retry.backoff(attempt);
                    tracing::debug!(%url, error = %e, ?wait, "transient error, retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                r => return r,
            }
        }
    }

    /// GETs `url`, a URL the user configured, sending the validators from
    /// the last successful fetch.
    pub async fn get(
        &self,
        url: &str,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<FetchOutcome, FetchError> {
        self.fetch(url, Origin::Configured(url), etag, last_modified)
            .await
    }

    /// Checks one hop against the guard; `Ok(true)` when it must go through
    /// the guarded client.
    async fn guard_hop(&self, hop: &url::Url, origin: Origin<'_>) -> Result<bool, FetchError> {
        if !matches!(hop.scheme(), "http" | "https") {
            return Err(FetchError::Other(format!(
                "refused to fetch {hop}: only http and https URLs are fetched"
            )));
        }
        let host = hop
            .host()
            .ok_or_else(|| FetchError::Other(format!("{hop} has no host")))?;
        if let Origin::Configured(c) = origin {
            let trusted = url::Url::parse(c).ok().and_then(|c| {
                c.host_str()
                    .map(|h| h.eq_ignore_ascii_case(hop.host_str().unwrap_or_default()))
            });
            if trusted == Some(true) {
                return Ok(false);
            }
        }
        // Checked here for a clear error before any connection (and for
        // address literals, which never reach a resolver); the guarded
        // client checks names again at connect time.
        let port = hop.port_or_known_default().unwrap_or(80);
        match netguard::resolve_and_check(hop.as_str(), &host, port, &self.limits.allow_private)
            .await
        {
            Ok(()) => Ok(true),
            Err(GuardError::Blocked(b)) => Err(FetchError::Blocked(b)),
            Err(GuardError::Resolve(m)) => Err(FetchError::Connect(m)),
        }
    }

    /// The fetch itself: follows redirects by hand, each hop guarded per
    /// `origin`, and reads the body within the limits.
    pub async fn fetch(
        &self,
        url: &str,
        origin: Origin<'_>,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<FetchOutcome, FetchError> {
        let (mut resp, current, permanent) = self
            .follow_redirects(url, origin, etag, last_modified)
            .await?;
        let moved_to = permanent.then(|| current.to_string());
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified { moved_to });
        }
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(String::from)
        };
        if !status.is_success() {
            let retry_after = if matches!(status.as_u16(), 429 | 503) {
                header(reqwest::header::RETRY_AFTER).and_then(|v| parse_retry_after(&v, Utc::now()))
            } else {
                None
            };
            return Err(FetchError::Status {
                status: status.as_u16(),
                url: current.to_string(),
                retry_after,
            });
        }
        let limit = self.limits.max_bytes;
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        let etag = header(reqwest::header::ETAG);
        let last_modified = header(reqwest::header::LAST_MODIFIED);
        let content_type = header(reqwest::header::CONTENT_TYPE);
        let bytes = read_body(&mut resp, &current, limit).await?;
        Ok(FetchOutcome::Body {
            bytes,
            final_url: current.to_string(),
            moved_to,
            etag,
            last_modified,
            content_type,
        })
    }

    /// Sends the GET and follows redirects by hand, so that each hop is
    /// guarded per `origin` and loops and long chains are refused. Returns
    /// the last answer, its URL, and whether every redirect on the way was
    /// permanent (and there was one): the feed then moved.
    async fn follow_redirects(
        &self,
        url: &str,
        origin: Origin<'_>,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<(reqwest::Response, url::Url, bool), FetchError> {
        let mut current =
            url::Url::parse(url).map_err(|e| FetchError::Other(format!("bad URL {url}: {e}")))?;
        let mut seen = vec![current.clone()];
        let mut permanent = true;
        let mut redirected = false;
        let resp = loop {
            let client = if self.guard_hop(&current, origin).await? {
                &self.guarded
            } else {
                &self.client
            };
            let mut req = client.get(current.clone());
            if let Some(e) = etag {
                req = req.header(reqwest::header::IF_NONE_MATCH, e);
            }
            if let Some(lm) = last_modified {
                req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm);
            }
            let resp = req.send().await?;
            let status = resp.status();
            if !status.is_redirection() || status == reqwest::StatusCode::NOT_MODIFIED {
                break resp;
            }
            let Some(loc) = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
            else {
                return Err(FetchError::Other(format!(
                    "HTTP {} from {current} without a Location",
                    status.as_u16()
                )));
            };
            let next = current.join(loc).map_err(|e| {
                FetchError::Other(format!("bad redirect Location `{loc}` from {current}: {e}"))
            })?;
            if seen.contains(&next) {
                return Err(FetchError::RedirectLoop(next.to_string()));
            }
            if seen.len() > self.limits.max_redirects {
                return Err(FetchError::Redirects(self.limits.max_redirects));
            }
            permanent &= matches!(status.as_u16(), 301 | 308);
            redirected = true;
            seen.push(next.clone());
            current = next;
        };
        Ok((resp, current, redirected && permanent))
    }

    /// A plain GET of a page the user configured (feed discovery, APIs):
    /// limits apply, no validators. Returns the body, the final URL and the
    /// content type.
    pub async fn get_page(
        &self,
        url: &str,
    ) -> Result<(Vec<u8>, String, Option<String>), FetchError> {
        self.page(url, Origin::Configured(url)).await
    }

    /// [`Fetcher::get_page`] for a URL that came from content (an article
    /// link, an enclosure): every hop, the first included, must reach a
    /// public address or one in `allow_private`.
    pub async fn get_untrusted(
        &self,
        url: &str,
    ) -> Result<(Vec<u8>, String, Option<String>), FetchError> {
        self.page(url, Origin::Untrusted).await
    }

    /// POSTs `body` to `url` (a webhook, a notification service) and
    /// returns the status of a 2xx answer. Every hop is guarded as URLs from
    /// content are: a notification carries item text, and a pipeline file
    /// shared with `use:` must not be able to aim it at a service inside the
    /// user's network unless `allow_private` names it. Redirects are not
    /// followed (a 3xx is an error): re-sending a POST elsewhere is not
    /// something a receiver should decide for us. Any other status is
    /// [`FetchError::Status`], with `Retry-After` read as for GETs; the
    /// answer's body is read up to `max_bytes` and dropped.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<u16, FetchError> {
        let target =
            url::Url::parse(url).map_err(|e| FetchError::Other(format!("bad URL {url}: {e}")))?;
        self.guard_hop(&target, Origin::Untrusted).await?;
        let mut req = self.guarded.post(target.clone()).body(body);
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let mut resp = req.send().await?;
        let status = resp.status();
        if !status.is_success() {
            let retry_after = if matches!(status.as_u16(), 429 | 503) {
                resp.headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, Utc::now()))
            } else {
                None
            };
            return Err(FetchError::Status {
                status: status.as_u16(),
                url: target.to_string(),
                retry_after,
            });
        }
        let mut read = 0u64;
        while let Ok(Some(chunk)) = resp.chunk().await {
            read += chunk.len() as u64;
            if read > self.limits.max_bytes {
                break;
            }
        }
        Ok(status.as_u16())
    }

    async fn page(
        &self,
        url: &str,
        origin: Origin<'_>,
    ) -> Result<(Vec<u8>, String, Option<String>), FetchError> {
        match self.fetch(url, origin, None, None).await? {
            FetchOutcome::Body {
                bytes,
                final_url,
                content_type,
                ..
            } => Ok((bytes, final_url, content_type)),
            FetchOutcome::NotModified { .. } => Err(FetchError::Other(format!(
                "HTTP 304 from {url} without validators"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("120", now).unwrap(),
            now + chrono::Duration::seconds(120)
        );
        assert_eq!(
            parse_retry_after("Thu, 26 Nov 2026 11:00:00 GMT", now)
                .unwrap()
                .to_rfc3339(),
            "2026-11-26T11:00:00+00:00"
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            retries: 5,
            base: Duration::from_millis(100),
            max_wait: Duration::from_millis(1000),
        };
        for _ in 0..50 {
            let b0 = p.backoff(0);
            assert!(b0 >= Duration::from_millis(50) && b0 <= Duration::from_millis(100));
            let b2 = p.backoff(2);
            assert!(b2 >= Duration::from_millis(200) && b2 <= Duration::from_millis(400));
            assert!(p.backoff(10) <= Duration::from_millis(1000));
        }
    }

    /// A one-shot HTTP server on 127.0.0.1 answering every request with
    /// `resp`; returns its base URL.
    async fn serve(resp: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(resp.as_bytes()).await;
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn urls_from_content_need_an_allowance_to_reach_loopback() {
        let base =
            serve("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi").await;
        let url = format!("{base}/article");
        let open = Fetcher::new(FetchLimits::default()).unwrap();
        // Configured by the user: fetched.
        assert_eq!(open.get_page(&url).await.unwrap().0, b"hi");
        // Found in content: refused before connecting, with the way out.
        match open.get_untrusted(&url).await {
            Err(FetchError::Blocked(b)) => {
                assert_eq!(b.addr.to_string(), "127.0.0.1");
                assert!(b.to_string().contains("allow_private"), "{b}");
                assert!(!FetchError::Blocked(b).is_transient());
            }
            other => panic!("{other:?}"),
        }
        let allowed = Fetcher::new(FetchLimits {
            allow_private: Allowance::parse(&["127.0.0.0/8"]).unwrap(),
            ..FetchLimits::default()
        })
        .unwrap();
        assert_eq!(allowed.get_untrusted(&url).await.unwrap().0, b"hi");
        // A name is resolved and every address it gives is checked.
        let by_name = url.replace("127.0.0.1", "localhost");
        assert!(matches!(
            open.get_untrusted(&by_name).await,
            Err(FetchError::Blocked(_))
        ));
        assert!(matches!(
            open.get_untrusted("file:///etc/passwd").await,
            Err(FetchError::Other(m)) if m.contains("only http and https")
        ));
    }

    #[tokio::test]
    async fn a_redirect_off_the_configured_host_is_guarded() {
        let target = serve("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
        let port = target.rsplit(':').next().unwrap().to_string();
        let loc: &'static str = Box::leak(
            format!(
                "HTTP/1.1 302 Found\r\nLocation: http://localhost:{port}/x\r\nContent-Length: 0\r\n\r\n"
            )
            .into_boxed_str(),
        );
        let start = serve(loc).await;
        let f = Fetcher::new(FetchLimits::default()).unwrap();
        let e = f
            .get(&format!("{start}/feed"), None, None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("localhost resolves to it"), "{e}");
    }

    #[test]
    fn transient_errors_are_named() {
        let s = |status, retry_after| FetchError::Status {
            status,
            url: "u".into(),
            retry_after,
        };
        assert!(s(503, None).is_transient());
        assert!(!s(503, Some(Utc::now())).is_transient());
        assert!(!s(404, None).is_transient());
        assert!(FetchError::Timeout.is_transient());
        assert!(!FetchError::TooLarge { limit: 1 }.is_transient());
        assert!(s(500, None).to_string().contains("HTTP 500"));
    }
}
