//! Article extraction: the main text of a web page, without its navigation,
//! ads, comments and footers.
//!
//! Feeds often carry only a teaser; the `extract` transform fetches the
//! article page and the web UI's "add this URL" bookmarklet saves any page.
//! Both call [`extract_article`], a pure function (no I/O): the caller
//! fetches (within its limits, respecting robots.txt) and hands over the
//! decoded HTML and the page's final URL.
//!
//! The scoring of candidate blocks is dom_smoothie's (a port of Mozilla's
//! Readability); this module adds what agg needs on top: a quick
//! "is this an article at all" check so a home page or a login wall gives
//! [`ExtractError::NotAnArticle`] instead of a pile of link text, a minimum
//! length, a bound on the work done on a hostile page, HTML sanitised the
//! same way feed content is (ammonia, links made absolute), a plain-text
//! form for scoring, and the published date parsed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::normalize::{collapse_ws, html_to_text};

/// What [`extract_article`] found on a page. The signature and fields are
/// stable: the web UI stores them for saved URLs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Article {
    /// The article's headline (the page title with the site name stripped
    /// where the page makes that possible).
    pub title: String,
    /// Main text, plain, whitespace collapsed: what scoring and search read.
    pub text: String,
    /// Main content as sanitised HTML: no scripts, styles or event
    /// handlers; relative links and images made absolute against the page
    /// URL. Safe to embed in a page or an email.
    pub html: String,
    /// The author line, when the page names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byline: Option<String>,
    /// Publication time, when the page gives one that parses (meta tags,
    /// JSON-LD; RFC 3339 or RFC 2822).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<DateTime<Utc>>,
    /// The site's own name (`og:site_name`, JSON-LD publisher).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_name: Option<String>,
    /// A lead image (`og:image` and the like), absolute, http(s) only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The page's own short description, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
    /// Document language (`<html lang>`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

/// Why a page gave no article. Each message says what a user can check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The page does not look like an article (a home page, a listing, a
    /// login wall, an app shell rendered by JavaScript).
    #[error("not an article: {0}")]
    NotAnArticle(String),
    /// An article was found but its text is shorter than asked for.
    #[error("article text too short: {chars} characters, fewer than {min} (min_text_chars)")]
    TooShort { chars: usize, min: usize },
    /// The page has more elements than the limit: extraction refused
    /// rather than spend unbounded time on it.
    #[error("page too large to extract: {found} elements, more than {limit} (max_elements)")]
    TooLarge { found: usize, limit: usize },
    /// Elements nested deeper than the limit (no real article is; a
    /// hostile page can be, and tree walks cost time per level).
    #[error("page nested too deeply to extract: {found} levels, more than {limit} (max_depth)")]
    TooDeep { found: usize, limit: usize },
    /// The URL handed in is not an absolute http(s) URL.
    #[error("cannot extract from `{0}`: not an absolute http(s) URL")]
    BadUrl(String),
}

/// Knobs of [`extract_article_with`]. The defaults are what
/// [`extract_article`] uses.
#[derive(Clone, Debug)]
pub struct ExtractOptions {
    /// Shortest main text, in characters, accepted as an article. Below it
    /// the page is a teaser or a stub and the feed's summary is as good.
    pub min_text_chars: usize,
    /// Most elements a page may have. Readability scoring walks the tree
    /// several times, so a hostile or huge page is refused, not chewed on.
    pub max_elements: usize,
    /// Deepest element nesting accepted. Real pages stay under a hundred
    /// levels; scoring walks ancestors, so cost grows with depth.
    pub max_depth: usize,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            min_text_chars: 250,
            max_elements: 60_000,
            max_depth: 400,
        }
    }
}

/// Extracts the main article of `html`, the page found at `url` (the final
/// URL after redirects: relative links resolve against it), with the
/// default [`ExtractOptions`].
///
/// Pure and synchronous; CPU time is bounded by
/// [`ExtractOptions::max_elements`]. Callers in async code should run it on
/// a blocking thread for large pages.
///
/// ```
/// let url = agg_fetch::url::Url::parse("https://example.org/post").unwrap();
/// let err = agg_fetch::extract::extract_article("<html><body><a href=/>Home</a></body></html>", &url);
/// assert!(err.is_err());
/// ```
pub fn extract_article(html: &str, url: &url::Url) -> Result<Article, ExtractError> {
    extract_article_with(html, url, &ExtractOptions::default())
}

/// [`extract_article`] with explicit options.
pub fn extract_article_with(
    html: &str,
    url: &url::Url,
    opts: &ExtractOptions,
) -> Result<Article, ExtractError> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ExtractError::BadUrl(url.to_string()));
    }
    let cfg = dom_smoothie::Config {
        max_elements_to_parse: opts.max_elements,
        // Keep the text length check ours (min_text_chars), with a lower
        // threshold inside so short-but-real posts are still found.
        char_threshold: opts.min_text_chars.clamp(1, 500),
        ..dom_smoothie::Config::default()
    };
    // Before parsing: the HTML parser's cost grows with the square of the
    // nesting depth (it searches the stack of open elements), so a page of
    // a few megabytes of `<div>`s could take minutes. A byte scan bounds
    // both before any tree is built.
    let (tags, depth_estimate) = prescan(html);
    if tags > opts.max_elements {
        return Err(ExtractError::TooLarge {
            found: tags,
            limit: opts.max_elements,
        });
    }
    // The scan over-counts elements a parser would close implicitly; the
    // exact check below uses the parsed tree, so allow slack here.
    if depth_estimate > opts.max_depth.saturating_mul(2) {
        return Err(ExtractError::TooDeep {
            found: depth_estimate,
            limit: opts.max_depth,
        });
    }
    // Parse once, measure the tree (without recursion), and only then run
    // the scoring passes.
    let doc = dom_query::Document::from(html);
    let (elements, depth) = tree_shape(&doc);
    if elements > opts.max_elements {
        return Err(ExtractError::TooLarge {
            found: elements,
            limit: opts.max_elements,
        });
    }
    if depth > opts.max_depth {
        return Err(ExtractError::TooDeep {
            found: depth,
            limit: opts.max_depth,
        });
    }
    let mut reader = dom_smoothie::Readability::with_document(doc, Some(url.as_str()), Some(cfg))
        .map_err(|_| ExtractError::BadUrl(url.to_string()))?;
    // Readability's own pre-check: enough visible paragraph text in blocks
    // that are not navigation or comments. Without it a home page's link
    // list is "extracted" as if it were prose.
    if !reader.is_probably_readable() {
        return Err(ExtractError::NotAnArticle(
            "no block of paragraph text long enough (a listing, a home page or a page built by JavaScript?)".into(),
        ));
    }
    let a = reader.parse().map_err(|e| match e {
        dom_smoothie::ReadabilityError::TooManyElements(found, limit) => {
            ExtractError::TooLarge { found, limit }
        }
        dom_smoothie::ReadabilityError::GrabFailed => {
            ExtractError::NotAnArticle("no main content block found".into())
        }
        dom_smoothie::ReadabilityError::BadDocumentURL => ExtractError::BadUrl(url.to_string()),
    })?;
    let clean = crate::parse::sanitize_html(&a.content, Some(url));
    let text = html_to_text(&clean);
    let chars = text.chars().count();
    if chars < opts.min_text_chars {
        return Err(ExtractError::TooShort {
            chars,
            min: opts.min_text_chars,
        });
    }
    let nonempty = |s: Option<String>| s.map(|s| collapse_ws(&s)).filter(|s| !s.is_empty());
    let title = collapse_ws(&a.title);
    Ok(Article {
        title,
        text,
        html: clean,
        byline: nonempty(a.byline),
        published: a
            .published_time
            .as_deref()
            .and_then(parse_date)
            .or_else(|| a.modified_time.as_deref().and_then(parse_date)),
        site_name: nonempty(a.site_name),
        image: a
            .image
            .as_deref()
            .and_then(|i| url.join(i.trim()).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .map(String::from),
        excerpt: nonempty(a.excerpt),
        lang: nonempty(a.lang),
    })
}

/// Elements whose end tag is optional or absent: a parser closes them by
/// itself, so they do not add nesting in a byte scan.
const NO_NESTING: &[&[u8]] = &[
    b"area",
    b"base",
    b"br",
    b"col",
    b"embed",
    b"hr",
    b"img",
    b"input",
    b"link",
    b"meta",
    b"source",
    b"track",
    b"wbr",
    b"param",
    b"keygen",
    b"frame",
    b"basefont",
    b"bgsound",
    b"p",
    b"li",
    b"dt",
    b"dd",
    b"tr",
    b"td",
    b"th",
    b"thead",
    b"tbody",
    b"tfoot",
    b"option",
    b"optgroup",
    b"rb",
    b"rt",
    b"rtc",
    b"rp",
    b"colgroup",
    b"caption",
    b"html",
    b"head",
    b"body",
    b"a",
];

/// Start tags and an estimate of the deepest nesting, from the bytes alone
/// (comments and the contents of script, style, textarea and title
/// skipped). Linear time, no allocation beyond one lower-cased copy.
///
/// For anyone about to hand untrusted HTML to an html5ever parser (the
/// `website` source, the web UI): parsing cost grows with the square of
/// the nesting depth, so refuse what this says is absurd first.
pub fn prescan(html: &str) -> (usize, usize) {
    let lower = html.to_ascii_lowercase();
    let b = lower.as_bytes();
    let find = |from: usize, pat: &[u8]| {
        b.get(from..)
            .and_then(|h| h.windows(pat.len()).position(|w| w == pat))
            .map(|p| from + p)
    };
    let (mut tags, mut depth, mut deepest) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        let at = i + off;
        if b[at + 1..].starts_with(b"!--") {
            match find(at + 4, b"-->") {
                Some(e) => {
                    i = e + 3;
                    continue;
                }
                None => break,
            }
        }
        let closing = b.get(at + 1) == Some(&b'/');
        let start = at + 1 + usize::from(closing);
        let len = b[start..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        if len == 0 || !b[start].is_ascii_alphabetic() {
            i = at + 1;
            continue;
        }
        let name = &b[start..start + len];
        let Some(end) = find(start + len, b">") else {
            break;
        };
        let self_closing = b[end - 1] == b'/';
        i = end + 1;
        if !closing {
            tags += 1;
        }
        if !NO_NESTING.contains(&name) {
            if closing {
                depth = depth.saturating_sub(1);
            } else if !self_closing {
                depth += 1;
                deepest = deepest.max(depth);
            }
        }
        if !closing && matches!(name, b"script" | b"style" | b"textarea" | b"title") {
            let mut close = b"</".to_vec();
            close.extend_from_slice(name);
            match find(i, &close) {
                Some(e) => i = e,
                None => break,
            }
        }
    }
    (tags, deepest)
}

/// Number of elements and deepest nesting of a parsed page, walked
/// iteratively (a recursive walk would overflow the stack on a hostile
/// page).
fn tree_shape(doc: &dom_query::Document) -> (usize, usize) {
    let (mut elements, mut depth, mut deepest) = (0usize, 0usize, 0usize);
    let mut node = doc.root();
    loop {
        if node.is_element() {
            elements += 1;
        }
        if let Some(child) = node.first_child() {
            node = child;
            depth += 1;
            deepest = deepest.max(depth);
            continue;
        }
        loop {
            if let Some(next) = node.next_sibling() {
                node = next;
                break;
            }
            match node.parent() {
                Some(up) => {
                    node = up;
                    depth -= 1;
                }
                None => return (elements, deepest),
            }
        }
    }
}

/// Decodes an HTML page's bytes: the charset from a byte-order mark, else
/// the `Content-Type` header, else a `<meta charset>` (or `http-equiv`)
/// in the first 1,024 bytes, else UTF-8 when the bytes are valid UTF-8,
/// else windows-1252 (what browsers assume for unlabelled Western pages).
/// Invalid sequences become U+FFFD; this never fails.
pub fn decode_html(bytes: &[u8], content_type: Option<&str>) -> String {
    use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};
    if let Some((enc, n)) = Encoding::for_bom(bytes) {
        return enc.decode_without_bom_handling(&bytes[n..]).0.into_owned();
    }
    let label = content_type
        .and_then(crate::charset::header_charset)
        .map(str::to_string)
        .or_else(|| meta_charset(&bytes[..bytes.len().min(1024)]));
    // A page labelled UTF-16 without a BOM is ASCII-readable, so the label
    // is wrong (browsers ignore it too).
    let enc = label
        .and_then(|l| Encoding::for_label(l.trim().as_bytes()))
        .filter(|e| e.name() != "UTF-16LE" && e.name() != "UTF-16BE");
    let enc = match enc {
        Some(e) => e,
        None if std::str::from_utf8(bytes).is_ok() => UTF_8,
        None => WINDOWS_1252,
    };
    enc.decode_without_bom_handling(bytes).0.into_owned()
}

/// The charset a `<meta>` tag names: `<meta charset="x">` or
/// `<meta http-equiv="Content-Type" content="text/html; charset=x">`.
fn meta_charset(head: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("<meta") {
        let tag = &rest[i..];
        let end = tag.find('>').unwrap_or(tag.len());
        let tag = &tag[..end];
        if let Some(j) = tag.find("charset=") {
            let v = tag[j + 8..].trim_start_matches(['"', '\'', ' ']);
            let v: String = v
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
                .collect();
            if !v.is_empty() {
                return Some(v);
            }
        }
        rest = &rest[i + 5..];
    }
    None
}

/// Dates as pages write them in meta tags and JSON-LD: RFC 3339 (with or
/// without seconds or zone), RFC 2822, or a bare date (taken as midnight UTC).
fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%z",
        "%Y-%m-%d %H:%M:%S%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    chrono::NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pages the end-to-end extract test serves (`tests/fixtures/web`):
    /// one copy, read by both.
    fn fixture(name: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/web")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn article_page_gives_its_text_without_the_chrome() {
        let html = fixture("2026/11/river-survey.html");
        let a = extract_article(&html, &url("https://news.example.org/2026/11/river-survey"))
            .expect("an article");
        assert_eq!(a.title, "Volunteers map every weir on the River Ouse");
        assert!(
            a.text.contains("Over three summers, 140 volunteers"),
            "{}",
            a.text
        );
        assert!(
            a.text.contains("final paragraph of the survey report"),
            "{}",
            a.text
        );
        // Navigation, ads, newsletter box, comments and footer stay out.
        for chrome in [
            "Subscribe to our newsletter",
            "Sponsored",
            "Best mortgage rates",
            "Great article, thanks",
            "All rights reserved",
            "Sports",
        ] {
            assert!(
                !a.text.contains(chrome),
                "{chrome:?} leaked into: {}",
                a.text
            );
        }
        assert!(!a.html.contains("<script"), "{}", a.html);
        assert!(!a.html.contains("onclick"), "{}", a.html);
        // Relative links and images made absolute against the page URL.
        assert!(
            a.html
                .contains("https://news.example.org/reports/ouse-weirs.pdf"),
            "{}",
            a.html
        );
        assert_eq!(a.byline.as_deref(), Some("Priya Raman"));
        assert_eq!(a.site_name.as_deref(), Some("The Dale Courier"));
        assert_eq!(
            a.published.unwrap().to_rfc3339(),
            "2026-11-20T08:30:00+00:00"
        );
        assert_eq!(
            a.image.as_deref(),
            Some("https://news.example.org/img/weir-lead.jpg")
        );
        assert_eq!(a.lang.as_deref(), Some("en-GB"));
    }

    #[test]
    fn a_listing_page_is_not_an_article() {
        let html = fixture("index.html");
        let e = extract_article(&html, &url("https://news.example.org/")).unwrap_err();
        assert!(
            matches!(
                e,
                ExtractError::NotAnArticle(_) | ExtractError::TooShort { .. }
            ),
            "{e}"
        );
    }

    #[test]
    fn empty_and_tiny_pages_are_refused_clearly() {
        let u = url("https://example.org/x");
        assert!(matches!(
            extract_article("", &u),
            Err(ExtractError::NotAnArticle(_))
        ));
        // A real but short post: two paragraphs, about 800 characters.
        let para = "The parish council met on Tuesday and agreed to repair the footbridge over Hebden Water before the winter floods, after residents said the handrail had come loose in two places and the deck boards were rotten near the eastern end, where children cross on their way to the primary school every morning.";
        let stub = format!(
            "<html><head><title>Footbridge to be repaired</title></head><body><article><h1>Footbridge to be repaired</h1><p>{para}</p><p>{para}</p></article></body></html>"
        );
        let strict = ExtractOptions {
            min_text_chars: 2000,
            ..ExtractOptions::default()
        };
        let e = extract_article_with(&stub, &u, &strict).unwrap_err();
        assert!(matches!(e, ExtractError::TooShort { min: 2000, .. }), "{e}");
        assert!(e.to_string().contains("min_text_chars"));
        // With the default minimum the same page is an article.
        let a = extract_article(&stub, &u).unwrap();
        assert!(a.text.starts_with("The parish council met"), "{}", a.text);
        assert!(a.text.chars().count() > 500);
    }

    #[test]
    fn element_bound_is_enforced() {
        let html = fixture("2026/11/river-survey.html");
        let e = extract_article_with(
            &html,
            &url("https://news.example.org/a"),
            &ExtractOptions {
                max_elements: 20,
                ..ExtractOptions::default()
            },
        )
        .unwrap_err();
        assert!(matches!(e, ExtractError::TooLarge { limit: 20, .. }), "{e}");
    }

    #[test]
    fn hostile_pages_give_errors_not_crashes() {
        let u = url("https://example.org/x");
        // Deep nesting: refused by the depth bound, after an iterative walk
        // (a recursive one would overflow the stack).
        let deep = format!(
            "<html><body>{}<p>{}</p>{}</body></html>",
            "<div>".repeat(20_000),
            "word ".repeat(200),
            "</div>".repeat(20_000)
        );
        let e = extract_article(&deep, &u).unwrap_err();
        assert!(matches!(e, ExtractError::TooDeep { limit: 400, .. }), "{e}");
        // Very many elements: refused by the element bound.
        let wide = format!("<html><body>{}</body></html>", "<p>x</p>".repeat(100_000));
        let e = extract_article(&wide, &u).unwrap_err();
        assert!(
            matches!(e, ExtractError::TooLarge { limit: 60_000, .. }),
            "{e}"
        );
        // Junk and broken markup.
        for junk in [
            "<",
            "<<<>>>",
            "\0\0\0",
            "<p",
            "<html><body><p>unclosed <b><i>tags",
        ] {
            assert!(extract_article(junk, &u).is_err());
        }
    }

    #[test]
    fn prescan_counts_tags_and_nesting() {
        let html = "<!DOCTYPE html><html><head><title>a <b> c</title><script>if (a<b) { x('<div>') }</script></head>\
                    <body><!-- <div><div> --><div><p>one<p>two<br><img src=x/><ul><li>a<li>b</ul></div>\
                    <DIV><Span>x</span></DIV></body></html>";
        // Start tags: html head title script body div p p br img ul li li div span.
        // Nesting counted: div > ul (p, li, br, img close themselves), div > span.
        assert_eq!(prescan(html), (15, 2));
        assert_eq!(prescan(""), (0, 0));
        assert_eq!(prescan("<<<>>> < div"), (0, 0));
        assert_eq!(prescan("<div><div"), (1, 1), "a tag cut off ends the scan");
    }

    #[test]
    fn tree_shape_counts_elements_and_depth() {
        let doc = dom_query::Document::from("<div><p>a<b>b</b></p><p>c</p></div>");
        // html, head, body, div, p, b, p; document > html > body > div > p > b.
        assert_eq!(tree_shape(&doc), (7, 6));
    }

    #[test]
    fn only_http_urls() {
        let e = extract_article("<p>x</p>", &url("file:///etc/passwd")).unwrap_err();
        assert!(matches!(e, ExtractError::BadUrl(_)));
    }

    #[test]
    fn html_charsets() {
        let latin1 = b"<html><head><meta charset=\"iso-8859-1\"></head><body>caf\xe9</body></html>";
        assert!(decode_html(latin1, None).contains("caf\u{e9}"));
        let equiv =
            b"<meta http-equiv='Content-Type' content='text/html; charset=windows-1252'>\x93q\x94";
        assert!(decode_html(equiv, None).contains("\u{201c}q\u{201d}"));
        // The header wins over the meta tag; a BOM wins over both.
        assert!(decode_html(latin1, Some("text/html; charset=utf-8")).contains('\u{fffd}'));
        assert_eq!(
            decode_html(
                b"\xef\xbb\xbfcaf\xc3\xa9",
                Some("text/html; charset=iso-8859-1")
            ),
            "caf\u{e9}"
        );
        // Unlabelled: UTF-8 if valid, else windows-1252.
        assert_eq!(decode_html("café".as_bytes(), None), "café");
        assert_eq!(decode_html(b"caf\xe9", None), "caf\u{e9}");
    }

    #[test]
    fn dates_in_the_forms_pages_use() {
        let d = |s| parse_date(s).map(|t| t.to_rfc3339());
        assert_eq!(
            d("2026-11-20T08:30:00Z").unwrap(),
            "2026-11-20T08:30:00+00:00"
        );
        assert_eq!(
            d("2026-11-20T09:30:00+0100").unwrap(),
            "2026-11-20T08:30:00+00:00"
        );
        assert_eq!(d("2026-11-20T08:30").unwrap(), "2026-11-20T08:30:00+00:00");
        assert_eq!(
            d("2026-11-20T08:30:00").unwrap(),
            "2026-11-20T08:30:00+00:00"
        );
        assert_eq!(
            d("Fri, 20 Nov 2026 08:30:00 GMT").unwrap(),
            "2026-11-20T08:30:00+00:00"
        );
        assert_eq!(d("2026-11-20").unwrap(), "2026-11-20T00:00:00+00:00");
        assert_eq!(d("last Tuesday"), None);
    }
}
