//! Feed bytes → items, for every format feed-rs reads (RSS 0.9x/1.0/2.0,
//! Atom, JSON Feed).

use agg_core::Item;
use chrono::{DateTime, Utc};

use crate::normalize::{collapse_ws, html_to_text, item_key};

/// A parsed feed: its title and its items, ready to store.
#[derive(Debug)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub items: Vec<Item>,
}

/// Why bytes were not a feed, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("empty document")]
    Empty,
    #[error("this looks like an HTML page, not a feed (is the URL the site instead of its feed?)")]
    Html,
    #[error("not a feed: {0}")]
    Invalid(String),
}

/// Parses a feed document. `feed` names it (URL or path): it scopes guids
/// in item keys and resolves relative links. `source` is the agent name.
pub fn parse_feed(
    bytes: &[u8],
    feed: &str,
    source: &str,
    fetched: DateTime<Utc>,
) -> Result<ParsedFeed, ParseError> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
    let trimmed = head.trim_start_matches('\u{feff}').trim_start();
    if trimmed.is_empty() {
        return Err(ParseError::Empty);
    }
    if trimmed.starts_with("<!doctype html") || trimmed.starts_with("<html") {
        return Err(ParseError::Html);
    }
    // An empty id tells us the entry had no guid of its own; we then key it
    // by URL or content instead of feed-rs's generated id, which changes
    // when a title is edited.
    let base = feed.starts_with("http").then_some(feed);
    let parser = feed_rs::parser::Builder::new()
        .base_uri(base)
        .id_generator(|_, _, _| String::new())
        .build();
    let parsed = parser
        .parse(bytes)
        .map_err(|e| ParseError::Invalid(e.to_string()))?;
    let feed_title = parsed
        .title
        .map(|t| collapse_ws(&t.content))
        .filter(|t| !t.is_empty());
    let items = parsed
        .entries
        .into_iter()
        .map(|e| {
            let url = e
                .links
                .iter()
                .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
                .or(e.links.first())
                .map(|l| l.href.clone());
            let title = e
                .title
                .map(|t| html_to_text(&t.content))
                .unwrap_or_default();
            let body = e
                .content
                .and_then(|c| c.body)
                .or(e.summary.map(|s| s.content))
                .unwrap_or_default();
            let text = html_to_text(&body);
            // An item needs something to show; fall back to the start of
            // its text, then to its link.
            let title = if title.is_empty() {
                let t: String = text.chars().take(120).collect();
                if t.is_empty() {
                    url.clone().unwrap_or_else(|| "(untitled)".into())
                } else {
                    t
                }
            } else {
                title
            };
            let guid = Some(e.id).filter(|g| !g.trim().is_empty());
            let key = item_key(feed, guid.as_deref(), url.as_deref(), &title, &text);
            Item {
                id: None,
                key,
                source: source.to_string(),
                feed: Some(feed.to_string()),
                feed_title: feed_title.clone(),
                guid,
                url,
                title,
                text,
                html: None,
                author: e.authors.first().and_then(|a| a.name.clone()),
                published: e.published,
                updated: e.updated,
                fetched,
                tags: e
                    .categories
                    .into_iter()
                    .map(|c| c.label.unwrap_or(c.term))
                    .collect(),
                also_in: Vec::new(),
                ..Item::default()
            }
        })
        .collect();
    Ok(ParsedFeed {
        title: feed_title,
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSS: &str = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><title>A &amp; B</title><link>http://e.com/a?utm_source=x</link><description>&lt;p&gt;hi&lt;/p&gt;</description></item>
<item><guid>id-2</guid><title>Two</title><pubDate>Tue, 10 Jun 2003 04:00:00 GMT</pubDate></item>
</channel></rss>"#;

    #[test]
    fn rss_items_get_text_and_keys() {
        let f = parse_feed(RSS.as_bytes(), "http://e.com/feed", "src", Utc::now()).unwrap();
        assert_eq!(f.title.as_deref(), Some("T"));
        assert_eq!(f.items.len(), 2);
        assert_eq!(f.items[0].title, "A & B");
        assert_eq!(f.items[0].text, "hi");
        assert_eq!(f.items[0].key, "u:http://e.com/a");
        assert!(f.items[1].key.starts_with("g:"));
        assert_eq!(
            f.items[1].published.unwrap().to_rfc3339(),
            "2003-06-10T04:00:00+00:00"
        );
    }

    #[test]
    fn html_pages_and_garbage_are_named() {
        let e = parse_feed(b"<!DOCTYPE html><html></html>", "f", "s", Utc::now()).unwrap_err();
        assert!(matches!(e, ParseError::Html));
        assert!(matches!(
            parse_feed(b"  ", "f", "s", Utc::now()),
            Err(ParseError::Empty)
        ));
        assert!(matches!(
            parse_feed(b"<rss><chan", "f", "s", Utc::now()),
            Err(ParseError::Invalid(_))
        ));
    }
}
