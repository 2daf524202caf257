//! Plain text from HTML, canonical URLs, and stable item keys.

use sha2::{Digest, Sha256};
use url::Url;

/// Query parameters that identify a click, not a page: two links differing
/// only in these are the same article.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "yclid",
    "_hsenc",
    "_hsmi",
    "ref_src",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
];

/// Canonical form of an article URL: scheme and host lower-cased, default
/// port and fragment dropped, tracking parameters (utm_*, fbclid, …) removed.
/// Returns `None` for strings that are not absolute http(s) URLs.
pub fn canonical_url(raw: &str) -> Option<String> {
    let mut url = Url::parse(raw.trim()).ok()?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return None;
    }
    url.set_fragment(None);
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            !k.starts_with("utm_") && !TRACKING_PARAMS.contains(&k.as_str())
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    // `Url` already lower-cases the host and drops default ports.
    Some(url.to_string())
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}

/// The stable key of an item: its guid within its feed, else its canonical
/// URL, else a hash of its title and text. The same item fetched again (or
/// after a crash) gets the same key, so it is stored once.
pub fn item_key(
    feed: &str,
    guid: Option<&str>,
    url: Option<&str>,
    title: &str,
    text: &str,
) -> String {
    if let Some(g) = guid.map(str::trim).filter(|g| !g.is_empty()) {
        return format!("g:{}", short_hash(&[feed, g]));
    }
    if let Some(u) = url.and_then(canonical_url) {
        return format!("u:{u}");
    }
    format!("h:{}", short_hash(&[feed, title.trim(), text.trim()]))
}

/// Plain text from an HTML fragment: tags removed (with the contents of
/// script/style), entities decoded, whitespace collapsed. Block-level tags
/// become spaces so words do not run together.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let tag = &rest[lt..];
        let Some(gt) = tag.find('>') else {
            // A stray `<` is text.
            out.push_str(tag);
            rest = "";
            break;
        };
        let name: String = tag[1..gt]
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() && !tag[1..].starts_with(['/', '!']) {
            out.push('<');
            rest = &tag[1..];
            continue;
        }
        rest = &tag[gt + 1..];
        if (name == "script" || name == "style") && !tag.starts_with("</") {
            let close = format!("</{name}");
            rest = match rest.to_ascii_lowercase().find(&close) {
                Some(i) => {
                    let after = &rest[i..];
                    after.find('>').map_or("", |j| &after[j + 1..])
                }
                None => "",
            };
        }
        out.push(' ');
    }
    out.push_str(rest);
    let decoded = html_escape::decode_html_entities(&out);
    collapse_ws(&decoded)
}

/// Collapses runs of whitespace into single spaces and trims.
pub fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_urls_drop_tracking_and_fragment() {
        assert_eq!(
            canonical_url("HTTPS://Example.COM:443/a?utm_source=x&id=3&fbclid=y#top").as_deref(),
            Some("https://example.com/a?id=3")
        );
        assert_eq!(
            canonical_url("http://example.com/a?utm_medium=rss").as_deref(),
            Some("http://example.com/a")
        );
        assert_eq!(canonical_url("javascript:alert(1)"), None);
        assert_eq!(canonical_url("/relative"), None);
    }

    #[test]
    fn keys_prefer_guid_then_url_then_content() {
        let g = item_key("f", Some("abc"), Some("http://e.com/x"), "t", "");
        assert!(g.starts_with("g:"));
        assert_ne!(g, item_key("other-feed", Some("abc"), None, "t", ""));
        assert_eq!(
            item_key("f", None, Some("http://e.com/x?utm_source=a"), "t", ""),
            "u:http://e.com/x"
        );
        let h = item_key("f", None, None, "t", "body");
        assert!(h.starts_with("h:"));
        assert_eq!(h, item_key("f", Some("  "), Some("not a url"), "t", "body"));
    }

    #[test]
    fn html_becomes_text() {
        assert_eq!(
            html_to_text("<p>Hello&nbsp;<b>world</b></p><script>x()</script><p>a &amp; b</p>"),
            "Hello world a & b"
        );
        assert_eq!(html_to_text("1 < 2 and 3 > 2"), "1 < 2 and 3 > 2");
        assert_eq!(html_to_text("<STYLE>p{}</STYLE>ok"), "ok");
    }
}
