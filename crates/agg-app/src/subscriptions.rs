//! Subscribing to a feed (issue 19): one rule for `agg feeds add` and the
//! web UI's form — find the feed, read it once, store it once.

use agg_core::Store;
use agg_core::store::Subscription;
use agg_fetch::opml::ResolveError;

use crate::StoreError;

/// Where the URL came from, which decides how far it is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Typed by the user on the command line: only an advertised feed on
    /// another host passes the SSRF guard.
    Typed,
    /// Sent by a browser: every hop passes the SSRF guard.
    Browser,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No feed at the URL, or none agg can read: nothing was stored.
    #[error("not subscribed: {0}")]
    Resolve(#[from] ResolveError),
    /// The feed the URL leads to is subscribed already.
    #[error("already subscribed to {0}")]
    Already(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Finds the feed `url` names (a feed, or a page that advertises one),
/// fetches it once to check that agg can read it, and stores it in
/// `folder` (`""` for none). Returns what was stored.
pub async fn subscribe(
    store: &dyn Store,
    fetcher: &agg_fetch::Fetcher,
    url: &str,
    folder: &str,
    origin: Origin,
) -> Result<Subscription, Error> {
    let feed = agg_fetch::opml::resolve_feed(fetcher, url, origin == Origin::Browser).await?;
    let sub = Subscription {
        url: feed.url,
        title: feed.title,
        folder: folder.trim().to_string(),
        added: agg_core::clock::current(),
    };
    if store.add_subscription(&sub).await.map_err(StoreError)? {
        Ok(sub)
    } else {
        Err(Error::Already(sub.url))
    }
}
