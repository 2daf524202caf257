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
/// scripts, styles and the like), entities decoded, whitespace collapsed.
/// Block-level tags become spaces so words do not run together; inline ones
/// join them. The same text [`crate::sanitize::clean`] gives beside its HTML.
pub fn html_to_text(html: &str) -> String {
    crate::sanitize::text_of(html)
}

/// Collapses runs of whitespace into single spaces and trims.
pub fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Words of a text for near-duplicate matching: lower-cased alphanumeric
/// runs (Unicode-aware), so punctuation, case and markup leftovers do not
/// count as edits.
fn words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

fn hash64(parts: &[&str]) -> u64 {
    // FNV-1a, then a SplitMix64 finaliser so every bit depends on every byte.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        h = (h ^ 0xff).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A SimHash of a story's title and text: 64 bits such that the same story
/// syndicated with small edits (a changed word, a dropped sentence, another
/// site's boilerplate) lands a few bits away, and unrelated stories about
/// 32 bits away. Features are the words and word pairs of the text (only
/// the first 400 words: the lede decides) plus the title's words and pairs,
/// weighted like the text's, so a rewritten headline over the same body
/// still lands near.
/// Compare with [`near_dup_distance`]; see [`NEAR_DUP_MAX_DISTANCE`].
pub fn near_dup_signature(title: &str, text: &str) -> u64 {
    let mut acc = [0i32; 64];
    let mut add = |h: u64, w: i32| {
        for (i, a) in acc.iter_mut().enumerate() {
            if h >> i & 1 == 1 {
                *a += w;
            } else {
                *a -= w;
            }
        }
    };
    let t: Vec<String> = words(title).collect();
    for w in &t {
        add(hash64(&["t1", w]), 1);
    }
    for p in t.windows(2) {
        add(hash64(&["t2", &p[0], &p[1]]), 1);
    }
    let x: Vec<String> = words(text).take(400).collect();
    for w in &x {
        add(hash64(&["x1", w]), 1);
    }
    for p in x.windows(2) {
        add(hash64(&["x2", &p[0], &p[1]]), 1);
    }
    acc.iter()
        .enumerate()
        .fold(0u64, |sig, (i, a)| if *a > 0 { sig | 1 << i } else { sig })
}

/// Bits that differ between two signatures (0 = same story text).
pub fn near_dup_distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Signatures this close (or closer) are the same story. SimHash distance
/// tracks the angle between feature vectors: a copy with a headline word
/// changed, a sentence dropped and a credit line added lands at about 10 bits;
/// distinct stories on the same topic land 20+ bits apart, unrelated ones
/// about 32.
pub const NEAR_DUP_MAX_DISTANCE: u32 = 12;

/// Whether a title and text carry enough words for their signature to be
/// evidence (a three-word title alone is not).
pub fn near_dup_has_evidence(title: &str, text: &str) -> bool {
    words(title).count() + words(text).take(12).count() >= 12
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
            html_to_text(
                "<p>It fetches <strong>politely</strong>. <a href=x>Code</a></p><p>Next</p>"
            ),
            "It fetches politely. Code Next"
        );
        assert_eq!(
            html_to_text("<p>Hello&nbsp;<b>world</b></p><script>x()</script><p>a &amp; b</p>"),
            "Hello world a & b"
        );
        assert_eq!(html_to_text("1 < 2 and 3 > 2"), "1 < 2 and 3 > 2");
        assert_eq!(html_to_text("<STYLE>p{}</STYLE>ok"), "ok");
    }

    const WIRE: &str = "The European Central Bank held interest rates steady on Thursday, \
        saying inflation was easing faster than expected but warning that wage growth \
        remained strong. President Christine Lagarde told reporters the bank would stay \
        data dependent and declined to commit to a cut in the spring. Markets had priced \
        in a first reduction by April, and the euro rose slightly after the decision.";

    #[test]
    fn syndicated_copies_with_small_edits_are_near() {
        let a = near_dup_signature("ECB holds rates steady, signals caution on cuts", WIRE);
        // Another outlet: headline case and one word changed, a sentence
        // dropped, its own boilerplate appended.
        let edited = WIRE.replace(" and the euro rose slightly after the decision.", ".");
        let b = near_dup_signature(
            "ECB Holds Rates Steady, Signals Caution on Rate Cuts",
            &format!("{edited} (Reporting by Reuters; editing by Staff.)"),
        );
        let d = near_dup_distance(a, b);
        eprintln!("edited copy: {d} bits");
        assert!(d <= NEAR_DUP_MAX_DISTANCE, "edited copy at {d} bits");
        // Markup and punctuation do not count.
        let c = near_dup_signature(
            "ECB holds rates steady — signals caution on cuts!",
            &html_to_text(&format!("<p>{WIRE}</p>")),
        );
        assert!(near_dup_distance(a, c) <= 2, "{}", near_dup_distance(a, c));
    }

    #[test]
    fn different_stories_are_far_even_on_one_topic() {
        let a = near_dup_signature("ECB holds rates steady, signals caution on cuts", WIRE);
        let b = near_dup_signature(
            "Bank of England cuts rates for the first time in four years",
            "The Bank of England lowered its main interest rate by a quarter point on \
             Thursday, the first cut since 2020, after inflation fell back to its target. \
             Governor Andrew Bailey said the committee would move carefully and that it \
             was too early to declare victory over price pressures.",
        );
        let d = near_dup_distance(a, b);
        eprintln!("same topic: {d} bits");
        assert!(
            d > NEAR_DUP_MAX_DISTANCE + 6,
            "distinct stories only {d} bits apart"
        );
        let c = near_dup_signature(
            "Rust 1.95 released",
            "The Rust team announced a new stable version with many improvements to the compiler and tooling.",
        );
        assert!(near_dup_distance(a, c) > NEAR_DUP_MAX_DISTANCE + 6);
        assert!(near_dup_has_evidence("ECB holds rates", WIRE));
        assert!(!near_dup_has_evidence("Links", "a b"));
    }
}
