//! OPML subscription lists (import with nested folders, export) and feed
//! discovery from a web page's `<link rel="alternate">` tags.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use regex::Regex;
use std::sync::LazyLock;

/// A feed listed in an OPML file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outline {
    pub title: Option<String>,
    pub xml_url: String,
    pub html_url: Option<String>,
    /// Titles of the folders it sits in, outermost first.
    pub folders: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Opml {
    pub title: Option<String>,
    pub outlines: Vec<Outline>,
}

impl Opml {
    /// The feeds, each once (by URL), in file order.
    pub fn feeds(&self) -> Vec<&Outline> {
        let mut seen = std::collections::HashSet::new();
        self.outlines
            .iter()
            .filter(|o| seen.insert(o.xml_url.as_str()))
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpmlError {
    #[error("not OPML: the document has no <opml> root")]
    NotOpml,
    #[error("malformed OPML at byte {pos}: {msg}")]
    Xml { pos: u64, msg: String },
}

/// Deepest folder nesting kept; deeper outlines are read as if at this depth.
const MAX_DEPTH: usize = 64;

fn attr(e: &BytesStart<'_>, names: &[&str]) -> Option<String> {
    // The first name listed wins, whatever the attribute order.
    names.iter().find_map(|name| {
        e.attributes().flatten().find_map(|a| {
            if !a.key.local_name().as_ref().eq_ignore_ascii_case(name) {
                return None;
            }
            let v = html_escape::decode_html_entities(&a.value)
                .trim()
                .to_string();
            (!v.is_empty()).then_some(v)
        })
    })
}

/// Parses OPML 1.0/2.0: every outline with an `xmlUrl` is a feed; outlines
/// without one that contain others are folders. OPML written by hand or by
/// careless exporters is often not well-formed XML (unescaped quotes or `&`
/// in descriptions): when the XML parser gives up on a document that has an
/// `<opml>` root, the outlines are read tag by tag instead.
pub fn parse(bytes: &[u8]) -> Result<Opml, OpmlError> {
    match parse_strict(bytes) {
        Err(OpmlError::Xml { pos, msg }) => {
            let decoded = crate::charset::to_utf8(bytes, None);
            let text = String::from_utf8_lossy(&decoded.utf8);
            match parse_lenient(&text) {
                Some(o) if !o.outlines.is_empty() => {
                    tracing::debug!(pos, %msg, "malformed OPML read leniently");
                    Ok(o)
                }
                _ => Err(OpmlError::Xml { pos, msg }),
            }
        }
        r => r,
    }
}

static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)<(/?)(outline|title)\b([^>]*?)(/?)>").unwrap());

fn attrs_of(tag: &str) -> Vec<(String, String)> {
    ATTR.captures_iter(tag)
        .map(|c| {
            let v = c
                .get(2)
                .or(c.get(3))
                .or(c.get(4))
                .map_or("", |m| m.as_str());
            (
                c[1].to_ascii_lowercase(),
                html_escape::decode_html_entities(v).trim().to_string(),
            )
        })
        .collect()
}

fn parse_lenient(text: &str) -> Option<Opml> {
    if !text.to_ascii_lowercase().contains("<opml") {
        return None;
    }
    let mut out = Opml::default();
    let mut open: Vec<bool> = Vec::new();
    let mut folders: Vec<String> = Vec::new();
    for c in TAG.captures_iter(text) {
        let closing = !c[1].is_empty();
        let name = c[2].to_ascii_lowercase();
        if name == "title" {
            if !closing && out.title.is_none() && open.is_empty() {
                let after = &text[c.get(0).unwrap().end()..];
                let t = after.split('<').next().unwrap_or("");
                let t = crate::normalize::collapse_ws(&html_escape::decode_html_entities(t));
                out.title = (!t.is_empty()).then_some(t);
            }
            continue;
        }
        if closing {
            if open.pop() == Some(true) {
                folders.pop();
            }
            continue;
        }
        let a = attrs_of(&c[3]);
        let get = |n: &str| {
            a.iter()
                .find(|(k, v)| k == n && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        let self_closing = !c[4].is_empty();
        match get("xmlurl") {
            Some(xml_url) => {
                out.outlines.push(Outline {
                    title: get("title").or_else(|| get("text")),
                    xml_url,
                    html_url: get("htmlurl"),
                    folders: folders.clone(),
                });
                if !self_closing {
                    open.push(false);
                }
            }
            None if !self_closing => {
                let push = folders.len() < MAX_DEPTH;
                if push {
                    folders.push(get("title").or_else(|| get("text")).unwrap_or_default());
                }
                open.push(push);
            }
            None => {}
        }
    }
    Some(out)
}

fn parse_strict(bytes: &[u8]) -> Result<Opml, OpmlError> {
    let decoded = crate::charset::to_utf8(bytes, None);
    let text = String::from_utf8_lossy(&decoded.utf8);
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut out = Opml::default();
    let mut seen_root = false;
    // For each open <outline>: whether it pushed a folder name.
    let mut open: Vec<bool> = Vec::new();
    let mut folders: Vec<String> = Vec::new();
    let mut in_title = false;
    let mut title_raw = String::new();
    loop {
        let ev = reader.read_event().map_err(|e| OpmlError::Xml {
            pos: reader.buffer_position(),
            msg: e.to_string(),
        })?;
        match ev {
            Event::Start(e) | Event::Empty(e) if !seen_root => {
                if e.local_name().as_ref().eq_ignore_ascii_case("opml") {
                    seen_root = true;
                } else {
                    return Err(OpmlError::NotOpml);
                }
            }
            Event::Start(ref e) | Event::Empty(ref e)
                if e.local_name().as_ref().eq_ignore_ascii_case("outline") =>
            {
                let is_start = matches!(ev, Event::Start(_));
                let title = attr(e, &["title", "text"]);
                match attr(e, &["xmlurl", "url"]).filter(|u| {
                    attr(e, &["type"])
                        .is_none_or(|t| t != "link" || u.contains("rss") || u.contains("feed"))
                }) {
                    Some(xml_url) => {
                        out.outlines.push(Outline {
                            title,
                            xml_url,
                            html_url: attr(e, &["htmlurl"]),
                            folders: folders.clone(),
                        });
                        if is_start {
                            open.push(false);
                        }
                    }
                    None if is_start => {
                        let push = folders.len() < MAX_DEPTH;
                        if push {
                            folders.push(title.unwrap_or_default());
                        }
                        open.push(push);
                    }
                    None => {}
                }
            }
            Event::End(ref e) if e.local_name().as_ref().eq_ignore_ascii_case("outline") => {
                let pushed_folder = open.pop();
                if pushed_folder == Some(true) {
                    folders.pop();
                }
            }
            Event::Start(ref e) if e.local_name().as_ref() == "title" && open.is_empty() => {
                in_title = true;
            }
            Event::Text(t) if in_title => {
                title_raw.push_str(&t.xml_content(XmlVersion::Implicit1_0));
            }
            Event::GeneralRef(r) if in_title => {
                title_raw.push('&');
                title_raw.push_str(&r.xml_content(XmlVersion::Implicit1_0));
                title_raw.push(';');
            }
            Event::End(ref e) if e.local_name().as_ref() == "title" && in_title => {
                in_title = false;
                let t =
                    crate::normalize::collapse_ws(&html_escape::decode_html_entities(&title_raw));
                if !t.is_empty() {
                    out.title = Some(t);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(OpmlError::NotOpml);
    }
    Ok(out)
}

fn esc(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).replace('\n', "&#10;")
}

/// Writes OPML 2.0: feeds grouped in folders (by their first folder).
pub fn write(title: &str, feeds: &[Outline]) -> String {
    let mut s =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n");
    s.push_str(&format!(
        "  <head>\n    <title>{}</title>\n    <dateCreated>{}</dateCreated>\n  </head>\n  <body>\n",
        html_escape::encode_text(title),
        chrono::Utc::now().to_rfc2822()
    ));
    let line = |o: &Outline, indent: &str| {
        let t = esc(o.title.as_deref().unwrap_or(&o.xml_url));
        let mut l = format!(
            "{indent}<outline type=\"rss\" text=\"{t}\" title=\"{t}\" xmlUrl=\"{}\"",
            esc(&o.xml_url)
        );
        if let Some(h) = &o.html_url {
            l.push_str(&format!(" htmlUrl=\"{}\"", esc(h)));
        }
        l.push_str("/>\n");
        l
    };
    let mut folders: Vec<&str> = Vec::new();
    for o in feeds {
        if let Some(f) = o.folders.first()
            && !folders.contains(&f.as_str())
        {
            folders.push(f);
        }
    }
    for o in feeds.iter().filter(|o| o.folders.is_empty()) {
        s.push_str(&line(o, "    "));
    }
    for f in folders {
        s.push_str(&format!(
            "    <outline text=\"{0}\" title=\"{0}\">\n",
            esc(f)
        ));
        for o in feeds
            .iter()
            .filter(|o| o.folders.first().map(String::as_str) == Some(f))
        {
            s.push_str(&line(o, "      "));
        }
        s.push_str("    </outline>\n");
    }
    s.push_str("  </body>\n</opml>\n");
    s
}

/// A feed a web page advertises.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovered {
    pub url: String,
    pub title: Option<String>,
    pub mime: String,
}

/// Attributes of a tag the lenient OPML reader found (OPML that is not
/// well-formed XML is read tag by tag).
static ATTR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?s)([a-zA-Z_:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))"#).unwrap()
});

const FEED_TYPES: &[&str] = &[
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
];

/// Feeds advertised by an HTML page with `<link rel="alternate" type=…>`,
/// resolved against `base` (or the page's `<base href>`), each once. The
/// page is parsed as a browser would (html5ever): a `<link>` inside a
/// comment, a script or an attribute value is not one.
pub fn discover(html: &str, base: &url::Url) -> Vec<Discovered> {
    let doc = dom_query::Document::from(html);
    let mut base = base.clone();
    if let Some(h) = doc.select("base[href]").attr("href")
        && let Ok(b) = base.join(h.trim())
    {
        base = b;
    }
    let mut out: Vec<Discovered> = Vec::new();
    for link in doc.select("link[href][type]").iter() {
        let get = |n: &str| link.attr(n).map(|v| v.to_string());
        let rel = get("rel").unwrap_or_default().to_ascii_lowercase();
        let (Some(href), Some(ty)) = (get("href"), get("type")) else {
            continue;
        };
        let ty = ty
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !rel.split_whitespace().any(|r| r == "alternate") || !FEED_TYPES.contains(&ty.as_str()) {
            continue;
        }
        let Ok(url) = base.join(href.trim()) else {
            continue;
        };
        if !(url.scheme() == "http" || url.scheme() == "https") {
            continue;
        }
        let url = url.to_string();
        if out.iter().all(|d| d.url != url) {
            out.push(Discovered {
                url,
                title: get("title").filter(|t| !t.trim().is_empty()),
                mime: ty,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NESTED: &str = r#"<?xml version="1.0"?>
<opml version="1.0"><head><title>My feeds</title></head><body>
  <outline text="Tech">
    <outline text="Rust" title="Rust &amp; co">
      <outline type="rss" text="This Week in Rust" xmlUrl="https://this-week-in-rust.org/rss.xml" htmlUrl="https://this-week-in-rust.org/"/>
    </outline>
    <outline type="rss" text="LWN" xmlUrl="https://lwn.net/headlines/rss"/>
  </outline>
  <outline type="rss" text="Top" xmlurl="https://example.com/top.xml"/>
  <outline type="rss" text="Dup" xmlUrl="https://lwn.net/headlines/rss"/>
</body></opml>"#;

    #[test]
    fn nested_outlines_are_imported_with_their_folders() {
        let o = parse(NESTED.as_bytes()).unwrap();
        assert_eq!(o.title.as_deref(), Some("My feeds"));
        let feeds = o.feeds();
        assert_eq!(feeds.len(), 3);
        assert_eq!(feeds[0].folders, vec!["Tech", "Rust & co"]);
        assert_eq!(
            feeds[0].html_url.as_deref(),
            Some("https://this-week-in-rust.org/")
        );
        assert_eq!(feeds[1].folders, vec!["Tech"]);
        assert_eq!(feeds[2].xml_url, "https://example.com/top.xml");
        assert!(feeds[2].folders.is_empty());
    }

    #[test]
    fn export_round_trips() {
        let o = parse(NESTED.as_bytes()).unwrap();
        let feeds: Vec<Outline> = o.feeds().into_iter().cloned().collect();
        let xml = write("agg \"feeds\" & more", &feeds);
        let back = parse(xml.as_bytes()).unwrap();
        assert_eq!(back.title.as_deref(), Some("agg \"feeds\" & more"));
        let urls = |v: &[&Outline]| v.iter().map(|o| o.xml_url.clone()).collect::<Vec<_>>();
        let mut a = urls(&back.feeds());
        let mut b = urls(&o.feeds());
        a.sort();
        b.sort();
        assert_eq!(a, b);
        let twir = back
            .feeds()
            .into_iter()
            .find(|f| f.xml_url.contains("rust"))
            .unwrap()
            .clone();
        assert_eq!(twir.folders, vec!["Tech"]);
        assert_eq!(twir.title.as_deref(), Some("This Week in Rust"));
    }

    #[test]
    fn not_opml_and_broken_opml_are_named() {
        assert!(matches!(parse(b"<rss></rss>"), Err(OpmlError::NotOpml)));
        assert!(matches!(
            parse(b"<opml><body><outline></body>"),
            Err(OpmlError::Xml { .. })
        ));
        // Unescaped quotes in an attribute: read leniently.
        let o = parse(br#"<opml><head><title>T</title></head><body><outline text="F"><outline text="A" description="he said "hi" there" xmlUrl="https://a.example/feed"/></outline></body></opml>"#).unwrap();
        assert_eq!(o.feeds()[0].xml_url, "https://a.example/feed");
        assert_eq!(o.feeds()[0].folders, vec!["F"]);
    }

    #[test]
    fn feeds_are_discovered_from_link_alternate() {
        let html = r#"<html><head>
<link rel="stylesheet" href="/s.css">
<link rel="alternate" type="application/rss+xml" title="Posts" href="/feed.xml">
<LINK REL='alternate' TYPE='application/atom+xml' HREF='https://cdn.example.org/atom?a=1&amp;b=2'>
<link rel="alternate" type="text/html" hreflang="fr" href="/fr/">
<link rel="alternate" type="application/rss+xml" href="/feed.xml">
</head></html>"#;
        let base = url::Url::parse("https://example.org/blog/post").unwrap();
        let d = discover(html, &base);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].url, "https://example.org/feed.xml");
        assert_eq!(d[0].title.as_deref(), Some("Posts"));
        assert_eq!(d[1].url, "https://cdn.example.org/atom?a=1&b=2");
        assert_eq!(d[1].mime, "application/atom+xml");
    }

    /// A `<link>` a browser would not see (in a comment, in a script's
    /// string) is no feed: the page is parsed as HTML, not scanned.
    #[test]
    fn links_a_browser_would_not_see_are_not_feeds() {
        let html = r#"<html><head>
<!-- <link rel="alternate" type="application/rss+xml" href="/old-feed.xml"> -->
<script>var t = '<link rel="alternate" type="application/rss+xml" href="/js-feed.xml">';</script>
<link rel="alternate" type="application/rss+xml" href="/feed.xml">
</head></html>"#;
        let base = url::Url::parse("https://example.org/").unwrap();
        let urls: Vec<String> = discover(html, &base).into_iter().map(|d| d.url).collect();
        assert_eq!(urls, ["https://example.org/feed.xml"]);
    }
}

/// Why a URL could not be subscribed to, in words for the user.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("cannot fetch {url}: {source}")]
    Fetch {
        url: String,
        source: crate::http::FetchError,
    },
    #[error(
        "{url} is not a feed ({why}) and advertises none (no <link rel=\"alternate\"> of a feed type)"
    )]
    NotAFeed { url: String, why: String },
    #[error("{page} advertises {feed}, but it is not a readable feed: {why}")]
    BadFeed {
        page: String,
        feed: String,
        why: String,
    },
}

/// A feed found and read by [`resolve_feed`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The feed's URL after redirects.
    pub url: String,
    pub title: Option<String>,
}

/// The feed at `url`, fetched once to check that it can be read: a feed URL
/// as it is, a page resolved to the first feed it advertises (which is
/// fetched and parsed too), so nothing is subscribed that agg cannot read.
/// `untrusted`: the URL came from a browser (the web UI), so every hop
/// passes the SSRF guard; otherwise the user typed it (the CLI) and only an
/// advertised feed on another host is guarded.
pub async fn resolve_feed(
    fetcher: &crate::http::Fetcher,
    url: &str,
    untrusted: bool,
) -> Result<Resolved, ResolveError> {
    let parse = |bytes: &[u8], at: &str, ct: Option<&str>| {
        crate::parse::parse_feed_from(
            bytes,
            &crate::parse::FeedSource {
                feed: at,
                base: Some(at),
                content_type: ct,
                source: "subscribe",
            },
            chrono::Utc::now(),
        )
    };
    let first = if untrusted {
        fetcher.get_untrusted(url).await
    } else {
        fetcher.get_page(url).await
    };
    let (bytes, page_url, ct) = first.map_err(|e| ResolveError::Fetch {
        url: url.into(),
        source: e,
    })?;
    let why = match parse(&bytes, &page_url, ct.as_deref()) {
        Ok(feed) => {
            return Ok(Resolved {
                url: page_url,
                title: feed.title,
            });
        }
        Err(e) => e.to_string(),
    };
    let page = crate::charset::to_utf8(&bytes, ct.as_deref());
    let html = String::from_utf8_lossy(&page.utf8);
    let base = url::Url::parse(&page_url).map_err(|e| ResolveError::NotAFeed {
        url: page_url.clone(),
        why: e.to_string(),
    })?;
    let Some(d) = discover(&html, &base).into_iter().next() else {
        return Err(ResolveError::NotAFeed { url: page_url, why });
    };
    let same_host = url::Url::parse(&d.url)
        .ok()
        .is_some_and(|u| u.host_str() == base.host_str());
    let got = if same_host && !untrusted {
        fetcher.get_page(&d.url).await
    } else {
        fetcher.get_untrusted(&d.url).await
    };
    let (bytes, feed_url, ct) = got.map_err(|e| ResolveError::Fetch {
        url: d.url.clone(),
        source: e,
    })?;
    match parse(&bytes, &feed_url, ct.as_deref()) {
        Ok(feed) => Ok(Resolved {
            url: feed_url,
            title: feed.title.or(d.title),
        }),
        Err(e) => Err(ResolveError::BadFeed {
            page: page_url,
            feed: d.url,
            why: e.to_string(),
        }),
    }
}
