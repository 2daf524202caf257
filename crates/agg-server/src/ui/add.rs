//! "Add this URL": fetch a page the reader is looking at, extract its
//! article, store it as an item and count it as a 👍.
//!
//! The URL comes from the reader's browser (a form or the bookmarklet), so
//! the server treats it as untrusted: every hop goes through agg-fetch's
//! SSRF guard, which refuses loopback, private and link-local addresses
//! unless `AGG_ALLOW_PRIVATE` names them. Otherwise any page the reader
//! visits could make agg fetch from the reader's own network. The fetch
//! has agg-fetch's limits (time, bytes after decompression, redirects), and
//! extraction its bound on elements.
//!
//! Only the POST does this; the GET shows what would happen (a link
//! prefetcher or a crawler following the bookmarklet URL changes nothing).

use std::sync::Arc;

use agg_core::{Item, Store};
use agg_fetch::{Allowance, FetchError, FetchLimits, Fetcher};

/// The `source` of items added by hand.
pub const SOURCE: &str = "added by you";
/// Longest URL accepted (browsers send far longer ones only for data: and
/// tracking junk).
pub const MAX_URL: usize = 4096;
/// The environment variable naming private hosts or networks the add-URL
/// fetch may reach (comma-separated, as the `allow_private` option).
pub const ALLOW_ENV: &str = "AGG_ALLOW_PRIVATE";

/// Why a page was not added; each says what the reader can do.
#[derive(Debug)]
pub enum AddError {
    /// Not an absolute http(s) URL.
    BadUrl(String),
    /// The SSRF guard refused the address.
    Refused(String),
    /// The fetch failed (network, HTTP status, limits).
    Fetch(String),
    /// The page is not HTML (a PDF, an image…).
    NotHtml(String),
    /// The page has no article (a home page, a listing, a login wall).
    NotArticle(String),
    /// The store failed.
    Store(anyhow::Error),
}

impl AddError {
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            AddError::BadUrl(_) => StatusCode::BAD_REQUEST,
            AddError::Refused(_) => StatusCode::FORBIDDEN,
            AddError::Fetch(_) => StatusCode::BAD_GATEWAY,
            AddError::NotHtml(_) | AddError::NotArticle(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AddError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl std::fmt::Display for AddError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddError::BadUrl(m) => write!(f, "Not a web address: {m}"),
            AddError::Refused(m) => write!(f, "Refused: {m}"),
            AddError::Fetch(m) => write!(f, "Could not fetch the page: {m}"),
            AddError::NotHtml(m) => write!(f, "Not a web page: {m}"),
            AddError::NotArticle(m) => write!(f, "No article found on that page: {m}"),
            AddError::Store(e) => write!(f, "Could not store it: {e:#}"),
        }
    }
}

/// What was added.
pub struct Added {
    pub item: Item,
    /// The item was already stored (from a feed, or added before).
    pub existed: bool,
    pub excerpt: Option<String>,
}

/// The server's fetcher for added pages.
pub struct Adder {
    fetcher: Fetcher,
}

impl Adder {
    /// A fetcher with agg-fetch's default limits; private addresses only as
    /// `allow` (`agg serve --allow-private`, or [`ALLOW_ENV`]) names them.
    pub fn new(allow: &[String]) -> Result<Adder, String> {
        let allow_private =
            Allowance::parse(allow).map_err(|e| format!("--allow-private ({ALLOW_ENV}): {e}"))?;
        let fetcher = Fetcher::new(FetchLimits {
            allow_private,
            ..FetchLimits::default()
        })
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Adder { fetcher })
    }

    /// The guarded fetcher, for the other pages that fetch a URL from the
    /// browser (subscribing to a feed).
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// Fetches, extracts, stores and likes `raw`. The like is recorded once
    /// (a second add of the same page changes nothing more).
    pub async fn add(
        &self,
        store: &dyn Store,
        raw: &str,
        searcher: &agg_app::search::Searcher,
    ) -> Result<Added, AddError> {
        let url = check_url(raw)?;
        let (bytes, final_url, content_type) = self
            .fetcher
            .get_untrusted(url.as_str())
            .await
            .map_err(|e| match e {
                FetchError::Blocked(b) => AddError::Refused(format!(
                    "{} is a {} address, which pages from the browser may not reach \
                     (to allow it, start agg serve with --allow-private {} or {ALLOW_ENV})",
                    b.host, b.reason, b.addr
                )),
                other => AddError::Fetch(other.to_string()),
            })?;
        let html = decode_html(&bytes, content_type.as_deref())?;
        let page_url = agg_fetch::url::Url::parse(&final_url).unwrap_or_else(|_| url.clone());
        let article =
            tokio::task::spawn_blocking(move || agg_fetch::extract_article(&html, &page_url))
                .await
                .map_err(|e| AddError::NotArticle(format!("extraction stopped: {e}")))?
                .map_err(|e| AddError::NotArticle(e.to_string()))?;

        let now = chrono::Utc::now();
        let link = url.to_string();
        let mut item = Item {
            key: agg_fetch::normalize::item_key(
                SOURCE,
                None,
                Some(&link),
                &article.title,
                &article.text,
            ),
            source: SOURCE.into(),
            feed: url.host_str().map(str::to_string),
            feed_title: article
                .site_name
                .clone()
                .or_else(|| url.host_str().map(str::to_string)),
            url: Some(link),
            title: if article.title.trim().is_empty() {
                url.to_string()
            } else {
                article.title.clone()
            },
            text: article.text.clone(),
            html: Some(article.html.clone()),
            author: article.byline.clone(),
            published: article.published,
            fetched: now,
            ..Item::default()
        };
        let mut batch = [item.clone()];
        store
            .upsert_items(&mut batch)
            .await
            .map_err(AddError::Store)?;
        let [stored] = batch;
        let id = stored
            .id
            .ok_or_else(|| AddError::Store(anyhow::anyhow!("the store gave the item no id")))?;
        item.id = Some(id);
        let existed = !stored.is_new;
        let liked = store
            .list_feedback()
            .await
            .map_err(AddError::Store)?
            .iter()
            .rev()
            .find(|f| f.item_id == id)
            .is_some_and(|f| f.kind == agg_core::FeedbackKind::Like);
        if !liked {
            store
                .add_feedback(id, agg_core::FeedbackKind::Like, agg_core::FeedbackVia::Web)
                .await
                .map_err(AddError::Store)?;
        }
        // Embedded now when the model is at hand, so search finds it by
        // meaning before any pipeline runs; the score agent would embed it
        // anyway when it next trains on the feedback.
        if let Err(e) = embed(store, searcher, &item).await {
            tracing::warn!(item = id, "added item not embedded: {e:#}");
        }
        let excerpt = article
            .excerpt
            .clone()
            .filter(|e| !e.trim().is_empty())
            .or_else(|| {
                let mut short: String = article.text.chars().take(280).collect();
                if short.len() < article.text.len() {
                    short.push('…');
                }
                Some(short)
            });
        let item = store
            .get_items(&[id])
            .await
            .map_err(AddError::Store)?
            .pop()
            .unwrap_or(item);
        Ok(Added {
            item,
            existed,
            excerpt,
        })
    }
}

async fn embed(
    store: &dyn Store,
    searcher: &agg_app::search::Searcher,
    item: &Item,
) -> anyhow::Result<()> {
    use agg_score::Embedder;
    let (Some(id), Ok(e)) = (item.id, searcher.embedder().await) else {
        return Ok(());
    };
    if !store.get_embeddings(e.model_id(), &[id]).await?.is_empty() {
        return Ok(());
    }
    let text = agg_score::item_text(&item.title, &item.text);
    let e2 = Arc::clone(&e);
    let v = tokio::task::spawn_blocking(move || e2.embed(&[text.as_str()]))
        .await??
        .remove(0);
    store.put_embeddings(e.model_id(), &[(id, v)]).await?;
    // Added outside a run: the server's cached vector index misses it.
    searcher.added().await;
    Ok(())
}

/// An absolute http(s) URL with a host, of bounded length.
pub fn check_url(raw: &str) -> Result<agg_fetch::url::Url, AddError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(AddError::BadUrl("no URL given".into()));
    }
    if raw.len() > MAX_URL {
        return Err(AddError::BadUrl(format!(
            "the URL is {} bytes long, more than {MAX_URL}",
            raw.len()
        )));
    }
    let url =
        agg_fetch::url::Url::parse(raw).map_err(|e| AddError::BadUrl(format!("`{raw}`: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(AddError::BadUrl(format!(
            "`{raw}` is a {}: URL; only http and https pages can be added",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(AddError::BadUrl(format!("`{raw}` has no host")));
    }
    Ok(url)
}

/// The page as text, if it is HTML (by its content type, or by its first
/// bytes when the server sends none).
fn decode_html(bytes: &[u8], content_type: Option<&str>) -> Result<String, AddError> {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let mime = ct.split(';').next().unwrap_or("").trim();
    let looks_html = || {
        let head: String = String::from_utf8_lossy(&bytes[..bytes.len().min(512)])
            .trim_start_matches('\u{feff}')
            .trim_start()
            .to_ascii_lowercase();
        head.starts_with("<!doctype html") || head.starts_with("<html") || head.starts_with('<')
    };
    let html = match mime {
        "text/html" | "application/xhtml+xml" => true,
        "" | "text/plain" | "application/octet-stream" => looks_html(),
        _ => false,
    };
    if !html {
        return Err(AddError::NotHtml(format!(
            "the server sent {} content, not an HTML page",
            if mime.is_empty() { "unlabelled" } else { mime }
        )));
    }
    let decoded = agg_fetch::charset::to_utf8(bytes, content_type);
    Ok(String::from_utf8_lossy(&decoded.utf8).into_owned())
}

/// The bookmarklet: opens this server's add page for the page being read.
/// A plain navigation (no script injected into the page, nothing sent
/// behind the reader's back): the confirmation page then asks.
pub fn bookmarklet(public_url: &str) -> String {
    format!(
        "javascript:void(location.href='{}/ui/add?url='+encodeURIComponent(location.href))",
        public_url.trim_end_matches('/').replace('\'', "%27")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://example.org/a?b=c").is_ok());
        for bad in [
            "",
            "example.org",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "ftp://x/y",
        ] {
            assert!(matches!(check_url(bad), Err(AddError::BadUrl(_))), "{bad}");
        }
        let long = format!("https://example.org/{}", "a".repeat(MAX_URL));
        assert!(matches!(check_url(&long), Err(AddError::BadUrl(_))));
    }

    #[test]
    fn only_html_is_extracted() {
        assert!(
            decode_html(
                b"<html><body>x</body></html>",
                Some("text/html; charset=utf-8")
            )
            .is_ok()
        );
        assert!(decode_html(b"<!DOCTYPE html><p>x", None).is_ok());
        let pdf = decode_html(b"%PDF-1.7", Some("application/pdf")).unwrap_err();
        assert!(pdf.to_string().contains("application/pdf"), "{pdf}");
        assert!(decode_html(b"%PDF-1.7", None).is_err());
        // Latin-1 declared by the header is decoded.
        let s = decode_html(b"<p>caf\xe9</p>", Some("text/html; charset=iso-8859-1")).unwrap();
        assert!(s.contains("café"));
    }

    #[test]
    fn bookmarklet_opens_the_add_page() {
        let b = bookmarklet("http://127.0.0.1:8080/");
        assert!(b.starts_with("javascript:"));
        assert!(
            b.contains("'http://127.0.0.1:8080/ui/add?url='+encodeURIComponent(location.href)")
        );
    }
}
