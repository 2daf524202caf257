//! Old and odd spellings of feed formats that feed-rs reads as empty, or
//! refuses, rewritten into the spelling it reads; and the check that a
//! document whose entries still cannot be read is reported, not taken for
//! an empty feed.
//!
//! feed-rs recognises elements by namespace: Atom is
//! `http://www.w3.org/2005/Atom`, RSS 1.0 is `http://purl.org/rss/1.0/`, and
//! RSS 0.9x/2.0 has none. Real feeds that every other reader takes use
//! other spellings, and feed-rs then finds a feed with no entries (so the
//! feed looked healthy while every item was lost):
//! - Atom 0.3 (`http://purl.org/atom/ns#`), with its own element names
//!   (`issued`, `modified`, `tagline`, `copyright`, a person's `url`) and
//!   text constructs typed by MIME type and `mode` (`escaped`, `xml`,
//!   `base64`);
//! - RSS 2.0 declared in a default namespace
//!   (`http://backend.userland.com/rss2`, and others);
//! - RSS 0.90 (`http://my.netscape.com/rdf/simple/0.9/` and the
//!   `channel.netscape.com` spelling), which is RSS 1.0 in another
//!   namespace.
//!
//! [`repair`] rewrites only the tags involved (byte ranges found with a
//! namespace-aware reader; everything else is copied as it is), so what
//! the document says is not changed. It also spells upper-case hexadecimal
//! character references (`&#X41;`, which XML does not allow and quick-xml
//! refuses, failing the whole feed) the XML way.
//!
//! All of this runs only for a document that did not parse or parsed to no
//! entries: the common case pays nothing.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

const ATOM03: &str = "http://purl.org/atom/ns#";
const ATOM10: &str = "http://www.w3.org/2005/Atom";
const RSS10: &str = "http://purl.org/rss/1.0/";
/// RSS 0.90's namespaces, and RSS 1.0's without its final slash.
const OLD_RSS1: &[&str] = &[
    "http://my.netscape.com/rdf/simple/0.9/",
    "http://channel.netscape.com/rdf/simple/0.9/",
    "http://purl.org/rss/1.0",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Start,
    Empty,
    End,
}

/// One tag as it stands in the document.
struct Tag {
    /// Byte range from its `<` to just past its `>`.
    at: usize,
    end: usize,
    kind: Kind,
    /// The name as written (`atom:entry`), and without its prefix.
    qname: String,
    local: String,
    /// Its namespace; `None` when unbound (or the prefix is unknown).
    ns: Option<String>,
    /// Local name of the enclosing element.
    parent: Option<String>,
}

/// Every tag of a well-formed document (`None` otherwise: then the parser's
/// own error stands).
fn tags(doc: &[u8]) -> Option<Vec<Tag>> {
    let mut r = NsReader::from_reader(doc);
    let mut out = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    loop {
        let at = usize::try_from(r.buffer_position()).ok()?;
        let (ns, ev) = r.read_resolved_event().ok()?;
        let ns = match ns {
            ResolveResult::Bound(n) => Some(n.0.to_string()),
            _ => None,
        };
        let end = usize::try_from(r.buffer_position()).ok()?;
        let (kind, name) = match &ev {
            Event::Start(e) => (Kind::Start, e.name()),
            Event::Empty(e) => (Kind::Empty, e.name()),
            Event::End(e) => (Kind::End, e.name()),
            // Elements left open: not well-formed.
            Event::Eof if !stack.is_empty() => return None,
            Event::Eof => break,
            _ => continue,
        };
        let qname = name.as_ref().to_string();
        let local = name.local_name().as_ref().to_string();
        if kind == Kind::End {
            stack.pop();
        }
        out.push(Tag {
            at,
            end,
            kind,
            qname,
            local: local.clone(),
            ns,
            parent: stack.last().cloned(),
        });
        if kind == Kind::Start {
            stack.push(local);
        }
    }
    Some(out)
}

/// The rewritten document, when it needed any of the repairs described in
/// the module notes; `None` when none applies.
pub(crate) fn repair(doc: &[u8]) -> Option<Vec<u8>> {
    let refs = upper_case_char_refs(doc);
    let doc = refs.as_deref().unwrap_or(doc);
    match formats(doc) {
        Some(fixed) => Some(fixed),
        None => refs.map(Cow::into_owned),
    }
}

/// One parse: the parser's result, or `P` when the parser itself failed
/// (a contained panic).
type Tried<E, P> = Result<Result<feed_rs::model::Feed, E>, P>;

/// Parses the document again, repaired, when [`repair`] finds something to
/// repair, and keeps that result when it is better: it parsed where the
/// original did not, or has entries where the original had none. A failure
/// of the second try changes nothing (the original's error is the one that
/// says what is wrong with the document as served).
pub(crate) fn reparse<E, P>(
    doc: &[u8],
    parsed: &mut Result<feed_rs::model::Feed, E>,
    parse: &dyn Fn(&[u8]) -> Tried<E, P>,
) {
    let Some(fixed) = repair(doc) else { return };
    if let Ok(Ok(f)) = parse(&fixed)
        && (parsed.is_err() || !f.entries.is_empty())
    {
        *parsed = Ok(f);
    }
}

/// `&#X41;` spelled `&#x41;`.
fn upper_case_char_refs(doc: &[u8]) -> Option<Cow<'_, [u8]>> {
    static RE: std::sync::LazyLock<regex::bytes::Regex> =
        std::sync::LazyLock::new(|| regex::bytes::Regex::new("&#X([0-9A-Fa-f]+;)").expect("valid"));
    match RE.replace_all(doc, &b"&#x$1"[..]) {
        Cow::Borrowed(_) => None,
        Cow::Owned(v) => Some(Cow::Owned(v)),
    }
}

/// An edit: replace `doc[at..end]` with `with`.
struct Edit {
    at: usize,
    end: usize,
    with: Vec<u8>,
}

fn formats(doc: &[u8]) -> Option<Vec<u8>> {
    let tags = tags(doc)?;
    let root = tags.iter().find(|t| t.kind != Kind::End)?;
    let edits = match (root.local.as_str(), root.ns.as_deref()) {
        ("feed", Some(ATOM03) | None) => atom03(doc, &tags),
        ("rss", Some(ns)) => default_namespace_off(doc, &tags, ns),
        ("RDF", _) => rss090(doc, &tags),
        _ => Vec::new(),
    };
    if edits.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(doc.len() + 64);
    let mut last = 0;
    for e in edits {
        if e.at < last {
            continue;
        }
        out.extend_from_slice(&doc[last..e.at]);
        out.extend_from_slice(&e.with);
        last = e.end;
    }
    out.extend_from_slice(&doc[last..]);
    Some(out)
}

/// The attributes of a start tag, as written (values still escaped).
fn attributes(doc: &[u8], t: &Tag) -> Vec<(String, String)> {
    // The tag's bytes without `<`, the name, and `>` or `/>`.
    let inner = &doc[t.at + 1..t.end - 1];
    let inner = inner.strip_suffix(b"/").unwrap_or(inner);
    let start =
        BytesStart::from_content(String::from_utf8_lossy(inner).into_owned(), t.qname.len());
    let mut attrs = start.attributes();
    attrs.with_checks(false);
    attrs
        .filter_map(Result::ok)
        .map(|a| (a.key.as_ref().to_string(), a.value.to_string()))
        .collect()
}

/// A tag written anew: `name`, then `attrs`.
fn write_tag(kind: Kind, name: &str, attrs: &[(String, String)]) -> Vec<u8> {
    let mut s = String::from(if kind == Kind::End { "</" } else { "<" });
    s.push_str(name);
    for (k, v) in attrs {
        let q = if v.contains('"') { '\'' } else { '"' };
        s.push_str(&format!(" {k}={q}{v}{q}"));
    }
    s.push_str(if kind == Kind::Empty { "/>" } else { ">" });
    s.into_bytes()
}

/// `qname` with its local part replaced.
fn renamed(qname: &str, local: &str) -> String {
    match qname.split_once(':') {
        Some((prefix, _)) => format!("{prefix}:{local}"),
        None => local.to_string(),
    }
}

/// Atom 0.3 → Atom 1.0: the namespace, the renamed elements, and text
/// constructs typed the 1.0 way (base64 content decoded).
fn atom03(doc: &[u8], tags: &[Tag]) -> Vec<Edit> {
    let unbound_root = tags.first().is_some_and(|t| t.ns.is_none());
    let ours = |t: &Tag| match &t.ns {
        Some(ns) => ns == ATOM03,
        None => unbound_root,
    };
    let mut edits = Vec::new();
    let mut i = 0;
    while i < tags.len() {
        let t = &tags[i];
        i += 1;
        let new_local = if ours(t) { atom10_local(t) } else { None };
        let name = new_local.map_or_else(|| t.qname.clone(), |l| renamed(&t.qname, l));
        if t.kind == Kind::End {
            if new_local.is_some() {
                edits.push(Edit {
                    at: t.at,
                    end: t.end,
                    with: write_tag(Kind::End, &name, &[]),
                });
            }
            continue;
        }
        let mut attrs = attributes(doc, t);
        let mut changed = new_local.is_some();
        for (k, v) in attrs.iter_mut() {
            if (k == "xmlns" || k.starts_with("xmlns:")) && v == ATOM03 {
                *v = ATOM10.into();
                changed = true;
            }
        }
        if std::ptr::eq(t, &tags[0]) && unbound_root {
            attrs.push(("xmlns".into(), ATOM10.into()));
            changed = true;
        }
        let text_construct = ours(t)
            && matches!(
                t.local.as_str(),
                "title" | "tagline" | "subtitle" | "summary" | "content" | "copyright" | "rights"
            );
        let mut body: Option<Edit> = None;
        if text_construct {
            let (new_type, decoded) = text_construct_type(doc, t, &tags[i..], &attrs);
            body = decoded;
            if let Some(ty) = new_type {
                attrs.retain(|(k, _)| k != "type" && k != "mode");
                attrs.push(("type".into(), ty.into()));
                changed = true;
            }
        }
        if changed {
            edits.push(Edit {
                at: t.at,
                end: t.end,
                with: write_tag(t.kind, &name, &attrs),
            });
        }
        edits.extend(body);
    }
    edits
}

/// The Atom 1.0 name of an Atom 0.3 element that was renamed (`None` for
/// one that kept its name).
fn atom10_local(t: &Tag) -> Option<&'static str> {
    match t.local.as_str() {
        "modified" => Some("updated"),
        "issued" => Some("published"),
        "tagline" => Some("subtitle"),
        "copyright" => Some("rights"),
        // Seen in the wild (and read by feedparser): RSS's name.
        "item" if t.parent.as_deref() == Some("feed") => Some("entry"),
        "url" if matches!(t.parent.as_deref(), Some("author" | "contributor")) => Some("uri"),
        _ => None,
    }
}

/// The Atom 1.0 `type` for an Atom 0.3 text construct `t`, from its 0.3
/// `type` (a media type) and `mode`, when it must be written; and, for
/// base64 content, the edit that puts its decoded text in its place
/// (`after` are the tags following `t`).
fn text_construct_type(
    doc: &[u8],
    t: &Tag,
    after: &[Tag],
    attrs: &[(String, String)],
) -> (Option<&'static str>, Option<Edit>) {
    let get = |k: &str| attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let mime = get("type").unwrap_or_else(|| "text/plain".into());
    let mode = get("mode").unwrap_or_else(|| "xml".into());
    let html = mime.eq_ignore_ascii_case("text/html") || mime.eq_ignore_ascii_case("html");
    let xhtml = mime.contains("xhtml") || mime.eq_ignore_ascii_case("xhtml");
    let plain = mime.eq_ignore_ascii_case("text/plain") || mime.eq_ignore_ascii_case("text");
    let mut body = None;
    let new_type = match mode.as_str() {
        "base64" if t.kind == Kind::Start => {
            body = base64_as_text(doc, t, after);
            body.as_ref().map(|_| if html { "html" } else { "text" })
        }
        "escaped" if html => Some("html"),
        "escaped" if plain => Some("text"),
        "escaped" if xhtml => Some("html"),
        // `xml` (the default): markup inline.
        _ if xhtml || (html && t.kind == Kind::Start) => Some("xhtml"),
        _ if plain || html => Some("text"),
        _ => None,
    };
    // `content` keeps other media types (feed-rs reads them) when they are
    // media types at all; text constructs only take text, html and xhtml.
    let new_type = new_type.or((t.local != "content" || !is_media_type(&mime)).then_some("text"));
    (new_type, body)
}

/// The edit that replaces the base64 text of element `t` (up to the next
/// end tag in `after`) by that text decoded and escaped: Atom 1.0 has no
/// base64 mode. `None` when it does not decode to UTF-8.
fn base64_as_text(doc: &[u8], t: &Tag, after: &[Tag]) -> Option<Edit> {
    let close = after.iter().position(|c| c.kind == Kind::End)?;
    let end = after[close].at;
    let clean: Vec<u8> = doc[t.end..end]
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&clean)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let escaped = html_escape::encode_text(&text);
    Some(Edit {
        at: t.end,
        end,
        with: escaped.into_owned().into_bytes(),
    })
}

/// Whether `mime` reads as a media type (`token/token`).
fn is_media_type(mime: &str) -> bool {
    mime.split_once('/').is_some_and(|(a, b)| {
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&c))
        };
        token(a) && token(b)
    })
}

/// RSS 0.9x/2.0 has no namespace: a default one declared on it (as
/// `http://backend.userland.com/rss2` was) hides every element from
/// feed-rs, so its declarations are dropped.
fn default_namespace_off(doc: &[u8], tags: &[Tag], ns: &str) -> Vec<Edit> {
    let mut edits = Vec::new();
    for t in tags.iter().filter(|t| t.kind != Kind::End) {
        let mut attrs = attributes(doc, t);
        let before = attrs.len();
        attrs.retain(|(k, v)| !(k == "xmlns" && v == ns));
        if attrs.len() != before {
            edits.push(Edit {
                at: t.at,
                end: t.end,
                with: write_tag(t.kind, &t.qname, &attrs),
            });
        }
    }
    edits
}

/// RSS 0.90 (and RSS 1.0 without its final slash) → RSS 1.0: the
/// namespace declarations say RSS 1.0's; items with no namespace get it.
fn rss090(doc: &[u8], tags: &[Tag]) -> Vec<Edit> {
    let mut edits = Vec::new();
    let unbound_items = tags
        .iter()
        .any(|t| matches!(t.local.as_str(), "item" | "channel") && t.ns.is_none());
    for (n, t) in tags.iter().enumerate().filter(|(_, t)| t.kind != Kind::End) {
        let mut attrs = attributes(doc, t);
        let mut changed = false;
        for (k, v) in attrs.iter_mut() {
            if (k == "xmlns" || k.starts_with("xmlns:")) && OLD_RSS1.contains(&v.as_str()) {
                *v = RSS10.into();
                changed = true;
            }
        }
        if n == 0 && unbound_items && !attrs.iter().any(|(k, _)| k == "xmlns") {
            attrs.push(("xmlns".into(), RSS10.into()));
            changed = true;
        }
        if changed {
            edits.push(Edit {
                at: t.at,
                end: t.end,
                with: write_tag(t.kind, &t.qname, &attrs),
            });
        }
    }
    edits
}

/// Why a document that parsed to no entries is not an empty feed: it has
/// `item` or `entry` elements, none of which could be read. `None` when it
/// has none (a feed that is empty indeed) or is not well-formed XML.
pub(crate) fn unread_entries(doc: &[u8]) -> Option<String> {
    let tags = tags(doc)?;
    let root = tags.iter().find(|t| t.kind != Kind::End)?;
    let count = |name: &str| {
        tags.iter()
            .filter(|t| t.kind != Kind::End && t.local == name)
            .count()
    };
    let (items, entries) = (count("item"), count("entry"));
    let (n, what) = if entries > items {
        (entries, "entry")
    } else {
        (items, "item")
    };
    if n == 0 {
        return None;
    }
    let ns = root
        .ns
        .as_deref()
        .map(|ns| format!(" in namespace {ns}"))
        .unwrap_or_default();
    Some(format!(
        "the document has {n} <{what}> elements but no item could be read from them \
         (root <{}>{ns}): a format or variant agg does not read",
        root.qname
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_tags_involved_change() {
        let doc = br#"<?xml version="1.0"?>
<!-- keep me --><rss version="2.0" xmlns="http://backend.userland.com/rss2" xmlns:x="urn:x">
<channel><title>A &amp; B</title><x:y a='1"'/><item><title><![CDATA[<b>c</b>]]></title></item></channel></rss>"#;
        let out = String::from_utf8(repair(doc).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"<?xml version="1.0"?>
<!-- keep me --><rss version="2.0" xmlns:x="urn:x">
<channel><title>A &amp; B</title><x:y a='1"'/><item><title><![CDATA[<b>c</b>]]></title></item></channel></rss>"#
        );
        assert!(repair(b"<rss version=\"2.0\"><channel/></rss>").is_none());
        assert!(
            repair(b"<rss xmlns=\"u\"><channel>").is_none(),
            "ill-formed: left alone"
        );
    }

    #[test]
    fn atom_0_3_names_and_types() {
        let doc = br#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry><issued>2004-01-01T00:00:00Z</issued><author><url>u</url></author><title mode="escaped" type="text/html">&lt;b&gt;x&lt;/b&gt;</title><summary>plain</summary></entry></feed>"#;
        let out = String::from_utf8(repair(doc).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"<feed version="0.3" xmlns="http://www.w3.org/2005/Atom"><entry><published>2004-01-01T00:00:00Z</published><author><uri>u</uri></author><title type="html">&lt;b&gt;x&lt;/b&gt;</title><summary type="text">plain</summary></entry></feed>"#
        );
    }

    #[test]
    fn upper_case_references() {
        assert_eq!(
            repair(b"<a>&#X41;&#x42;&#X;</a>").as_deref(),
            Some(&b"<a>&#x41;&#x42;&#X;</a>"[..])
        );
    }

    #[test]
    fn unread_entries_are_counted() {
        let m =
            unread_entries(b"<feed xmlns=\"urn:other\"><entry/><entry></entry></feed>").unwrap();
        assert!(m.contains("2 <entry>") && m.contains("urn:other"), "{m}");
        assert_eq!(unread_entries(b"<rss><channel/></rss>"), None);
    }
}
