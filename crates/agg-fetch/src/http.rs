//! HTTP fetching within limits: every request is bounded in time, bytes
//! (after decompression) and redirects, and uses conditional GET so an
//! unchanged feed costs a 304 and no parsing.

use std::time::Duration;

use serde::Deserialize;

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
        }
    }
}

/// What a fetch gave.
#[derive(Debug)]
pub enum FetchOutcome {
    /// 304: the feed did not change since the validators we sent.
    NotModified,
    Body {
        bytes: Vec<u8>,
        /// The URL after redirects.
        final_url: String,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// Why a fetch failed, phrased for the user.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("HTTP {status} from {url}")]
    Status { status: u16, url: String },
    #[error("body larger than the limit of {limit} bytes (max_bytes)")]
    TooLarge { limit: u64 },
    #[error("request timed out (timeout_secs)")]
    Timeout,
    #[error("too many redirects (max_redirects)")]
    Redirects,
    #[error("{0}")]
    Other(String),
}

impl From<reqwest::Error> for FetchError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            FetchError::Timeout
        } else if e.is_redirect() {
            FetchError::Redirects
        } else {
            // reqwest's top-level message is terse; its sources say why.
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            FetchError::Other(msg)
        }
    }
}

/// An HTTP client configured with limits.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    limits: FetchLimits,
}

impl Fetcher {
    pub fn new(limits: FetchLimits) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(limits.connect_timeout_secs))
            .timeout(Duration::from_secs(limits.timeout_secs))
            .redirect(reqwest::redirect::Policy::limited(limits.max_redirects))
            .user_agent(limits.user_agent.clone())
            .build()?;
        Ok(Fetcher { client, limits })
    }

    /// GETs `url`, sending the validators from the last successful fetch.
    pub async fn get(
        &self,
        url: &str,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<FetchOutcome, FetchError> {
        let mut req = self.client.get(url);
        if let Some(e) = etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, e);
        }
        if let Some(lm) = last_modified {
            req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm);
        }
        let mut resp = req.send().await?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified);
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                status: status.as_u16(),
                url: resp.url().to_string(),
            });
        }
        let limit = self.limits.max_bytes;
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(String::from)
        };
        let etag = header(reqwest::header::ETAG);
        let last_modified = header(reqwest::header::LAST_MODIFIED);
        let final_url = resp.url().to_string();
        // Count bytes as they arrive (decompressed), whatever the headers
        // claimed: a lying Content-Length or a gzip bomb stops at the limit.
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            if bytes.len() as u64 + chunk.len() as u64 > limit {
                return Err(FetchError::TooLarge { limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(FetchOutcome::Body {
            bytes,
            final_url,
            etag,
            last_modified,
        })
    }
}
