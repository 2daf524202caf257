//! Saga feeds and the reader's own feed, as RSS 2.0 and Atom 1.0.
//!
//! Written by hand with strict escaping rather than through a feed library:
//! the output is small, and every field that comes from the web (titles,
//! text, links) passes through [`esc`], and only http(s) links are emitted.

use agg_core::Item;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// What a feed is about.
pub struct FeedMeta {
    pub title: String,
    pub description: String,
    /// Absolute URL of this feed document (rel="self").
    pub self_url: String,
    /// Absolute URL of the server's home page.
    pub home_url: String,
    /// Stable identity of the feed (Atom `id`).
    pub id: String,
    /// Prefix entry titles with the item's saga title.
    pub saga_prefix: bool,
}

/// XML text escaping (also removes characters XML 1.0 forbids).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

fn http_link(item: &Item) -> Option<&str> {
    item.url.as_deref().filter(|u| {
        let l = u.to_ascii_lowercase();
        l.starts_with("http://") || l.starts_with("https://")
    })
}

/// A stable, opaque id per item: the same item keeps it forever, so feed
/// readers never show it twice.
pub fn entry_id(item: &Item) -> String {
    let h = Sha256::digest(item.key.as_bytes());
    format!("tag:agg,2026:item/{}", hex::encode(&h[..16]))
}

fn entry_title(meta: &FeedMeta, item: &Item) -> String {
    match (&item.saga, meta.saga_prefix) {
        (Some(s), true) if !s.title.is_empty() => format!("[{}] {}", s.title, item.title),
        _ => item.title.clone(),
    }
}

fn summary(item: &Item) -> String {
    let mut s: String = item.text.chars().take(600).collect();
    if s.len() < item.text.len() {
        s.push('…');
    }
    if let (Some(score), Some(reason)) = (item.score, item.reasons.first()) {
        s.push_str(&format!("\n\nScore {score:.2}: {reason}"));
    }
    if !item.also_in.is_empty() {
        s.push_str(&format!("\nAlso in {}", item.also_in.join(", ")));
    }
    s
}

/// The newest item time: the feed's Last-Modified.
pub fn last_modified(items: &[Item]) -> Option<DateTime<Utc>> {
    items
        .iter()
        .map(|i| i.updated.unwrap_or(i.fetched).max(i.when()))
        .max()
}

pub fn rss(meta: &FeedMeta, items: &[Item]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    s.push_str("<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\"><channel>\n");
    s.push_str(&format!(
        "<title>{}</title>\n<link>{}</link>\n<description>{}</description>\n\
         <atom:link href=\"{}\" rel=\"self\" type=\"application/rss+xml\"/>\n<generator>agg</generator>\n",
        esc(&meta.title),
        esc(&meta.home_url),
        esc(&meta.description),
        esc(&meta.self_url)
    ));
    if let Some(t) = last_modified(items) {
        s.push_str(&format!(
            "<lastBuildDate>{}</lastBuildDate>\n",
            t.to_rfc2822()
        ));
    }
    for i in items {
        s.push_str("<item>");
        s.push_str(&format!("<title>{}</title>", esc(&entry_title(meta, i))));
        if let Some(u) = http_link(i) {
            s.push_str(&format!("<link>{}</link>", esc(u)));
        }
        s.push_str(&format!(
            "<guid isPermaLink=\"false\">{}</guid>",
            esc(&entry_id(i))
        ));
        s.push_str(&format!("<pubDate>{}</pubDate>", i.when().to_rfc2822()));
        s.push_str(&format!("<description>{}</description>", esc(&summary(i))));
        if let Some(src) = &i.feed_title {
            s.push_str(&format!("<category>{}</category>", esc(src)));
        }
        s.push_str("</item>\n");
    }
    s.push_str("</channel></rss>\n");
    s
}

pub fn atom(meta: &FeedMeta, items: &[Item]) -> String {
    let updated = last_modified(items).unwrap_or(DateTime::UNIX_EPOCH);
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    s.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    s.push_str(&format!(
        "<title>{}</title>\n<subtitle>{}</subtitle>\n<id>{}</id>\n<updated>{}</updated>\n\
         <link href=\"{}\" rel=\"self\" type=\"application/atom+xml\"/>\n<link href=\"{}\"/>\n\
         <author><name>agg</name></author>\n<generator>agg</generator>\n",
        esc(&meta.title),
        esc(&meta.description),
        esc(&meta.id),
        updated.to_rfc3339(),
        esc(&meta.self_url),
        esc(&meta.home_url)
    ));
    for i in items {
        s.push_str("<entry>");
        s.push_str(&format!("<title>{}</title>", esc(&entry_title(meta, i))));
        if let Some(u) = http_link(i) {
            s.push_str(&format!("<link href=\"{}\"/>", esc(u)));
        }
        s.push_str(&format!("<id>{}</id>", esc(&entry_id(i))));
        let upd = i.updated.unwrap_or(i.when()).max(i.when());
        s.push_str(&format!("<updated>{}</updated>", upd.to_rfc3339()));
        s.push_str(&format!("<published>{}</published>", i.when().to_rfc3339()));
        if let Some(src) = &i.feed_title {
            s.push_str(&format!("<author><name>{}</name></author>", esc(src)));
        }
        s.push_str(&format!(
            "<summary type=\"text\">{}</summary>",
            esc(&summary(i))
        ));
        s.push_str("</entry>\n");
    }
    s.push_str("</feed>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_fields_are_escaped_and_script_links_dropped() {
        let item = Item {
            key: "k".into(),
            title: "<script>alert(1)</script> & \u{1} co".into(),
            url: Some("javascript:alert(1)".into()),
            text: "a]]>b".into(),
            ..Item::default()
        };
        let meta = FeedMeta {
            title: "T".into(),
            description: "D".into(),
            self_url: "http://127.0.0.1/feed.xml".into(),
            home_url: "http://127.0.0.1/".into(),
            id: "tag:agg,2026:feed".into(),
            saga_prefix: false,
        };
        for doc in [
            rss(&meta, std::slice::from_ref(&item)),
            atom(&meta, &[item]),
        ] {
            assert!(!doc.contains("<script>"));
            assert!(!doc.contains("javascript:"));
            assert!(doc.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp;  co"));
        }
    }
}
