//! Feed bytes → items, for every format feed-rs reads (RSS 0.9x/1.0/2.0,
//! Atom, JSON Feed).

use agg_core::{Enclosure, Item};
use chrono::{DateTime, Utc};

use crate::normalize::{collapse_ws, html_to_text, item_key};

/// A parsed feed: its title and its items, ready to store.
#[derive(Debug)]
pub struct ParsedFeed {
    pub title: Option<String>,
    /// The site the feed belongs to (its `alternate` link), for OPML export.
    pub site: Option<String>,
    /// RSS `ttl`: minutes the feed may be cached.
    pub ttl: Option<u32>,
    /// The charset the bytes were decoded from.
    pub encoding: &'static str,
    pub items: Vec<Item>,
}

/// Why bytes were not a feed, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("empty document")]
    Empty,
    #[error(
        "this is an HTML page, not a feed (is the URL the site instead of its feed? \
         `agg feeds discover URL` lists the feeds a page links to)"
    )]
    Html,
    #[error("gzip-compressed body is larger than {0} bytes once decompressed")]
    TooLarge(u64),
    #[error("not a feed: {0}")]
    Invalid(String),
}

/// Where the bytes came from, for keys, links and decoding.
#[derive(Clone, Debug, Default)]
pub struct FeedSource<'a> {
    /// The feed's identity (configured URL or file path): scopes guids in
    /// item keys. Items stay keyed by it when the feed moves.
    pub feed: &'a str,
    /// Where the bytes were actually fetched from (after redirects): relative
    /// links resolve against it (and against `xml:base`). Defaults to `feed`.
    pub base: Option<&'a str>,
    /// The HTTP `Content-Type`, for its charset.
    pub content_type: Option<&'a str>,
    /// Agent name.
    pub source: &'a str,
}

/// Bodies over this, once decompressed from a sniffed gzip, are refused.
const MAX_SNIFFED_GZIP: u64 = 32 * 1024 * 1024;

/// Parses a feed document. `feed` names it (URL or path): it scopes guids
/// in item keys and resolves relative links. `source` is the agent name.
pub fn parse_feed(
    bytes: &[u8],
    feed: &str,
    source: &str,
    fetched: DateTime<Utc>,
) -> Result<ParsedFeed, ParseError> {
    parse_feed_from(
        bytes,
        &FeedSource {
            feed,
            source,
            ..FeedSource::default()
        },
        fetched,
    )
}

/// The first markup name after the prolog, comments and doctype, lower-cased
/// (`rss`, `feed`, `rdf:rdf`, `html`, `!doctype html`…).
fn root_name(s: &str) -> String {
    let mut rest = s.trim_start_matches('\u{feff}').trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("<?") {
            rest = r.split_once("?>").map_or("", |(_, r)| r).trim_start();
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = r.split_once("-->").map_or("", |(_, r)| r).trim_start();
        } else if rest
            .get(..9)
            .is_some_and(|p| p.eq_ignore_ascii_case("<!doctype"))
        {
            let name: String = rest[9..].trim_start().chars().take(4).collect();
            if name.eq_ignore_ascii_case("html") {
                return "html".into();
            }
            rest = rest.split_once('>').map_or("", |(_, r)| r).trim_start();
        } else {
            break;
        }
    }
    let Some(r) = rest.strip_prefix('<') else {
        return rest.chars().take(1).collect();
    };
    r.chars()
        .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
        .take(32)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The `version` attribute of an `<rss>` tag (compiled once: compiling it
/// per feed cost more than reading it).
static RSS_VERSION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r#"\sversion\s*=\s*["']([^"']*)["']"#).expect("valid regex")
});

/// Fixes the common, harmless deviations that make feed-rs refuse a feed
/// every other reader accepts: `<rss>` without a version or with 0.93/0.94
/// (read as 2.0, which they are subsets of); JSON Feed with the `http://`
/// version URL or none, or with `tags` as one comma-separated string.
fn repair(bytes: &[u8], root: &str) -> Option<Vec<u8>> {
    if root == "rss" {
        let head = &bytes[..bytes.len().min(8192)];
        let at = head
            .windows(5)
            .position(|w| w.starts_with(b"<rss") && (w[4].is_ascii_whitespace() || w[4] == b'>'))?;
        let end = at + head[at..].iter().position(|&b| b == b'>')?;
        let tag = String::from_utf8_lossy(&head[at..end]);
        let mut out = bytes.to_vec();
        match RSS_VERSION.captures(&tag) {
            None => {
                out.splice(at + 4..at + 4, *b" version=\"2.0\"");
            }
            Some(c) if !matches!(&c[1], "2.0" | "0.91" | "0.92" | "") => {
                let m = c.get(1)?;
                out.splice(at + m.start()..at + m.end(), *b"2.0");
            }
            Some(_) => return None,
        }
        return Some(out);
    }
    if root.starts_with('{') {
        let mut v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let obj = v.as_object_mut()?;
        let mut changed = false;
        match obj.get("version").and_then(|v| v.as_str()) {
            Some(ver) if ver.starts_with("http://jsonfeed.org/") => {
                let fixed = ver.replacen("http://", "https://", 1);
                obj.insert("version".into(), fixed.into());
                changed = true;
            }
            None if obj.get("items").is_some_and(|i| i.is_array()) => {
                obj.insert("version".into(), "https://jsonfeed.org/version/1.1".into());
                changed = true;
            }
            _ => {}
        }
        if let Some(items) = obj.get_mut("items").and_then(|i| i.as_array_mut()) {
            for it in items {
                if let Some(t) = it.get("tags").and_then(|t| t.as_str()) {
                    let tags: Vec<serde_json::Value> = t
                        .split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(|t| t.into())
                        .collect();
                    it["tags"] = tags.into();
                    changed = true;
                }
            }
        }
        return changed.then(|| serde_json::to_vec(&v).ok()).flatten();
    }
    None
}

/// Parses feed bytes from `src` (see [`FeedSource`]).
pub fn parse_feed_from(
    bytes: &[u8],
    src: &FeedSource<'_>,
    fetched: DateTime<Utc>,
) -> Result<ParsedFeed, ParseError> {
    let gunzipped;
    let bytes = match crate::charset::gunzip_sniffed(bytes, MAX_SNIFFED_GZIP) {
        Some(Ok(b)) => {
            gunzipped = b;
            &gunzipped[..]
        }
        Some(Err(limit)) => return Err(ParseError::TooLarge(limit)),
        None => bytes,
    };
    let decoded = crate::charset::to_utf8(bytes, src.content_type);
    let bytes: &[u8] = &decoded.utf8;
    let root = sniff_root(bytes)?;
    let base_url = url::Url::parse(src.base.unwrap_or(src.feed))
        .ok()
        .filter(|u| u.scheme() == "http" || u.scheme() == "https");
    let parsed = parse_document(bytes, &root, base_url.as_ref())?;
    let feed_title = parsed
        .title
        .map(|t| html_to_text(&t.content))
        .filter(|t| !t.is_empty());
    let site = parsed
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .map(|l| l.href.clone());
    let to_items = EntryToItem {
        src,
        feed_title: &feed_title,
        base_url: base_url.as_ref(),
        fetched,
    };
    let items = parsed
        .entries
        .into_iter()
        .map(|e| to_items.item(e))
        .collect();
    Ok(ParsedFeed {
        title: feed_title,
        site,
        ttl: parsed.ttl,
        encoding: decoded.encoding,
        items,
    })
}

/// The document's root name, refusing what is plainly not a feed (nothing,
/// an HTML page) with an error that says so, before the feed parser gives a
/// vaguer one.
fn sniff_root(bytes: &[u8]) -> Result<String, ParseError> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]);
    if head.trim_start_matches('\u{feff}').trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let root = root_name(&head);
    if root == "html" || root.ends_with(":html") {
        return Err(ParseError::Html);
    }
    Ok(root)
}

/// Runs feed-rs on the document, then the repairs and legacy spellings it
/// refuses, so that a feed other readers accept is read here too; the error
/// names the root when none of them worked.
fn parse_document(
    bytes: &[u8],
    root: &str,
    base_url: Option<&url::Url>,
) -> Result<feed_rs::model::Feed, ParseError> {
    // An empty id tells us the entry had no guid of its own; we then key it
    // by URL or content instead of feed-rs's generated id, which changes
    // when a title is edited.
    // A parser for each try: one that failed part-way keeps state that
    // makes its next parse panic.
    let parser = || {
        feed_rs::parser::Builder::new()
            .base_uri(base_url.map(|u| u.as_str()))
            .id_generator(|_, _, _| String::new())
            .timestamp_parser(crate::date::parse_date)
            .build()
    };
    // feed-rs (through quick-xml) has panicked on odd inputs; a panic is
    // one bad feed, never a crashed run.
    let parse = |bytes: &[u8]| {
        contained(|| parser().parse(bytes)).map_err(|why| {
            ParseError::Invalid(format!("the feed parser failed on this document ({why})"))
        })
    };
    // Repairs are tried only when the document as served does not parse:
    // checking every JSON feed for them cost a full extra JSON parse.
    let mut parsed = parse(bytes)?;
    if parsed.is_err()
        && let Some(repaired) = repair(bytes, root)
    {
        parsed = parse(&repaired)?;
    }
    // Atom 0.3, RSS 0.90, RSS 2.0 in a namespace, `&#X41;`: spellings
    // feed-rs refuses or reads as empty (see legacy.rs).
    if parsed.as_ref().is_ok_and(|f| f.entries.is_empty()) || parsed.is_err() {
        crate::legacy::reparse(bytes, &mut parsed, &parse);
    }
    let parsed = parsed.map_err(|e| {
        let msg = e.to_string();
        if root.is_empty() || root.starts_with('{') || root.starts_with('[') {
            ParseError::Invalid(msg)
        } else {
            ParseError::Invalid(format!("{msg} (document starts with <{root}>)"))
        }
    })?;
    if parsed.entries.is_empty()
        && let Some(why) = crate::legacy::unread_entries(bytes)
    {
        return Err(ParseError::Invalid(why));
    }
    Ok(parsed)
}

/// What turning one feed's entries into items needs from the feed, borrowed
/// once for all its entries.
struct EntryToItem<'a> {
    src: &'a FeedSource<'a>,
    feed_title: &'a Option<String>,
    /// Where relative links resolve, when the feed has an http(s) address.
    base_url: Option<&'a url::Url>,
    fetched: DateTime<Utc>,
}

impl EntryToItem<'_> {
    /// One entry as an item: links made absolute, the body sanitised, a
    /// title found, the key computed.
    fn item(&self, e: feed_rs::model::Entry) -> Item {
        let (feed, fetched) = (self.src.feed, self.fetched);
        let entry_base = e
            .base
            .as_deref()
            .and_then(|b| match self.base_url {
                Some(u) => u.join(b).ok(),
                None => url::Url::parse(b).ok(),
            })
            .or_else(|| self.base_url.cloned());
        let resolve = |href: &str| resolve_link(entry_base.as_ref(), href);
        let url = e
            .links
            .iter()
            .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
            .or(e.links.first())
            .map(|l| resolve(l.href.trim()));
        let title = e
            .title
            .map(|t| html_to_text(&t.content))
            .unwrap_or_default();
        let enclosures = enclosures(&e.media, e.content.as_ref(), &resolve);
        let body = e
            .content
            .and_then(|c| c.body)
            .or(e.summary.map(|s| s.content))
            .unwrap_or_default();
        // One pass gives the safe HTML and the text to score.
        let crate::sanitize::Cleaned { html, text } =
            crate::sanitize::clean(&body, entry_base.as_ref());
        let html = Some(html).filter(|h| !h.trim().is_empty());
        let title = title_or_fallback(title, &text, url.as_deref());
        let guid = Some(e.id).filter(|g| !g.trim().is_empty());
        let key = item_key(feed, guid.as_deref(), url.as_deref(), &title, &text);
        Item {
            id: None,
            key,
            source: self.src.source.to_string(),
            feed: Some(feed.to_string()),
            feed_title: self.feed_title.clone(),
            guid,
            url,
            title,
            text,
            html,
            author: e
                .authors
                .first()
                .and_then(|a| a.name.as_deref())
                .map(collapse_ws)
                .filter(|a| !a.is_empty()),
            // A date in the future or before feeds existed is an error
            // of the feed: the item is undated rather than dated wrongly.
            published: crate::date::plausible(e.published, fetched),
            updated: crate::date::plausible(e.updated, fetched),
            fetched,
            tags: e
                .categories
                .into_iter()
                .map(|c| c.label.unwrap_or(c.term))
                .collect(),
            enclosures,
            ..Item::default()
        }
    }
}

/// `href` made absolute against the entry's base, when it is relative and
/// there is one; as it is otherwise.
fn resolve_link(base: Option<&url::Url>, href: &str) -> String {
    match base {
        Some(b) if url::Url::parse(href).is_err() => b
            .join(href)
            .map_or_else(|_| href.to_string(), |u| u.to_string()),
        _ => href.to_string(),
    }
}

/// An entry's files: its media and any out-of-line Atom content, each once.
fn enclosures(
    media: &[feed_rs::model::MediaObject],
    content: Option<&feed_rs::model::Content>,
    resolve: &impl Fn(&str) -> String,
) -> Vec<Enclosure> {
    media
        .iter()
        .flat_map(|m| m.content.iter())
        .filter_map(|c| {
            Some(Enclosure {
                url: resolve(c.url.as_ref()?.as_str()),
                mime: c.content_type.as_ref().map(|t| t.to_string()),
                length: c.size,
            })
        })
        .chain(content.and_then(|c| {
            // Atom `<content src=…>`: out-of-line content.
            let s = c.src.as_ref()?;
            if c.content_type.to_string().starts_with("text/") {
                return None;
            }
            Some(Enclosure {
                url: resolve(&s.href),
                mime: Some(c.content_type.to_string()),
                length: c.length,
            })
        }))
        .fold(Vec::new(), |mut v: Vec<Enclosure>, x| {
            // The same file is often both an <enclosure> and a
            // <media:content>: keep it once.
            if v.iter().all(|y| y.url != x.url) {
                v.push(x);
            }
            v
        })
}

/// An item needs something to show: its title, else the start of its text,
/// else its link.
fn title_or_fallback(title: String, text: &str, url: Option<&str>) -> String {
    if !title.is_empty() {
        return title;
    }
    let t: String = text.chars().take(120).collect();
    if t.is_empty() {
        url.map_or_else(|| "(untitled)".into(), str::to_string)
    } else {
        t
    }
}

/// Sanitises an HTML fragment from outside (a post body, a comment): the
/// same cleaning feed items get (see [`crate::sanitize`]), relative links
/// made absolute against `base`.
pub fn sanitize_html(html: &str, base: Option<&url::Url>) -> String {
    crate::sanitize::clean(html, base).html
}

thread_local! {
    /// Set while this thread runs code under [`contained`]; holds the
    /// message of a panic caught there.
    static CONTAINED: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f`, turning a panic into an error that carries its message.
///
/// A contained panic is one bad document, and it is reported as that
/// document's error. The default panic hook would also print
/// "thread … panicked at …" on stderr for it, which reads like a crash,
/// so a hook that stays quiet for panics under `contained` is installed
/// once. It logs them at debug level, and any other panic goes to the
/// hook that was there before.
fn contained<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let earlier = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let quiet = CONTAINED.with(|c| {
                let mut c = c.borrow_mut();
                let inside = c.is_some();
                if inside {
                    *c = Some(info.payload_as_str().unwrap_or_default().to_string());
                }
                inside
            });
            if quiet {
                tracing::debug!("contained panic in the feed parser: {info}");
            } else {
                earlier(info);
            }
        }));
    });
    let outer = CONTAINED.with(|c| c.replace(Some(String::new())));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let msg = CONTAINED.with(|c| c.replace(outer)).unwrap_or_default();
    r.map_err(|_| {
        // The message may quote the document (a string-slicing panic shows
        // up to 256 characters of it): it goes into a feed's error, printed
        // by `agg feeds` and the digest, so it is kept short and free of
        // control characters (terminal escapes, line breaks).
        const MAX: usize = 160;
        let mut short: String = msg
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX)
            .collect();
        if msg.chars().nth(MAX).is_some() {
            short.push('…');
        }
        if short.trim().is_empty() {
            // (A payload that is not text: `panic_any`.)
            "a panic".into()
        } else {
            short
        }
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

    #[test]
    fn a_contained_panic_is_an_error_with_its_message() {
        assert_eq!(contained(|| 5), Ok(5));
        let e = contained(|| -> u8 { panic!("byte index 3 is not a char boundary") });
        assert_eq!(e, Err("byte index 3 is not a char boundary".to_string()));
        // Formatted payloads (String) too, and the guard resets after each.
        let n = 7;
        assert_eq!(
            contained(|| -> u8 { panic!("bad {n}") }),
            Err("bad 7".to_string())
        );
        assert_eq!(contained(|| "fine"), Ok("fine"));
        // Quoted document text comes back short and without escapes.
        let long = format!("\x1b[31mred\nline {}", "x".repeat(500));
        let e = contained(|| -> u8 { panic!("{long}") }).unwrap_err();
        assert!(e.starts_with(" [31mred line xxx"), "{e}");
        assert_eq!(e.chars().count(), 161, "{e}");
        assert!(e.ends_with('…'));
    }
}
