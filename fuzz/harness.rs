//! The fuzz harness: one function per fuzz target, each taking raw bytes and
//! asserting the properties that must hold for *any* input (no panic, and the
//! target's own invariants). The fuzz targets in `fuzz_targets/` call these
//! under libFuzzer (nightly, `cargo fuzz`); `tests/fuzz_replay.rs` calls the
//! very same functions on stable over every committed corpus and regression
//! file, so CI checks the found inputs without a nightly toolchain.
//!
//! Shared by `#[path]` include rather than a crate so that the fuzz crate
//! stays outside the workspace (it needs nightly and sanitizer flags) while
//! the replay test still builds with the workspace's ordinary dependencies.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::Path;

use agg_core::{Enclosure, FeedState, Item, SagaRef};
use agg_digest::chrono_tz;
use agg_digest::render::{RenderConfig, render};
use agg_digest::select::{SagaInfo, SelectOptions, select};
use agg_digest::token::Signer;
use agg_fetch::normalize::{canonical_url, html_to_text, near_dup_signature};
use agg_fetch::parse::{FeedSource, ParseError, parse_feed_from};
use arbitrary::{Arbitrary, Unstructured};
use chrono::{DateTime, TimeZone, Utc};

/// A harness function: panics when a property does not hold.
pub type Harness = fn(&[u8]);

/// The targets, by the name of their corpus folder and fuzz binary.
pub const TARGETS: &[(&str, Harness)] = &[
    ("feed", feed),
    ("pipeline", pipeline_in_repo),
    ("opml", opml),
    ("url", url),
    ("digest", digest),
];

fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 7, 0, 0).unwrap()
}

/// Feed bytes through parsing and normalisation. The first byte picks a
/// Content-Type (so the header charset path is fuzzed too); the rest is the
/// body. Whatever parses must give usable items: a key, no `<script>` left
/// in the sanitised HTML, and plain text that normalises without panicking.
pub fn feed(data: &[u8]) {
    const TYPES: &[Option<&str>] = &[
        None,
        Some("application/rss+xml"),
        Some("text/xml; charset=iso-8859-1"),
        Some("application/json; charset=utf-16"),
        Some("text/html; charset=windows-1251"),
        Some("application/atom+xml; charset=bogus"),
    ];
    let (ct, body) = match data.split_first() {
        Some((b, rest)) => (TYPES[*b as usize % TYPES.len()], rest),
        None => (None, data),
    };
    let src = FeedSource {
        feed: "https://fuzz.example/feed.xml",
        base: Some("https://fuzz.example/dir/"),
        content_type: ct,
        source: "fuzz",
    };
    match parse_feed_from(body, &src, fixed_now()) {
        Ok(parsed) => {
            for it in &parsed.items {
                assert!(!it.key.is_empty(), "item without a key");
                if let Some(h) = &it.html {
                    let found = executable_markup(h);
                    assert!(found.is_empty(), "sanitised HTML kept {found:?}");
                    let _ = html_to_text(h);
                }
                let _ = near_dup_signature(&it.title, &it.text);
                if let Some(u) = &it.url {
                    url_props(u);
                }
            }
        }
        Err(ParseError::Empty | ParseError::Html | ParseError::TooLarge(_)) => {}
        Err(ParseError::Invalid(msg)) => assert!(!msg.is_empty(), "empty error message"),
    }
}

/// URL canonicalisation never panics and is idempotent: canonicalising a
/// canonical URL changes nothing (otherwise one article could get two keys).
pub fn url(data: &[u8]) {
    url_props(&String::from_utf8_lossy(data));
}

fn url_props(raw: &str) {
    if let Some(c) = canonical_url(raw) {
        let again = canonical_url(&c);
        assert_eq!(
            again.as_deref(),
            Some(c.as_str()),
            "not idempotent for {raw:?}"
        );
        assert!(
            c.starts_with("http://") || c.starts_with("https://"),
            "canonical URL is not http(s): {c}"
        );
    }
}

/// OPML import never panics; an imported list exported and imported again
/// keeps every feed URL (export is how users move their subscriptions).
pub fn opml(data: &[u8]) {
    let Ok(doc) = agg_fetch::opml::parse(data) else {
        return;
    };
    let feeds: Vec<agg_fetch::opml::Outline> = doc.feeds().into_iter().cloned().collect();
    let written = agg_fetch::opml::write(doc.title.as_deref().unwrap_or(""), &feeds);
    let back = agg_fetch::opml::parse(written.as_bytes())
        .unwrap_or_else(|e| panic!("exported OPML does not import: {e}\n{written}"));
    let urls = |o: &[&agg_fetch::opml::Outline]| -> Vec<String> {
        o.iter().map(|o| o.xml_url.clone()).collect::<Vec<_>>()
    };
    let mut before = urls(&feeds.iter().collect::<Vec<_>>());
    let mut after = urls(&back.feeds());
    before.sort();
    after.sort();
    assert_eq!(before, after, "feeds lost or changed by export:\n{written}");
}

/// Pipeline YAML through loading and validation with the real registry, as
/// if it sat in the repository's `pipelines/` folder, so that the shipped
/// pipelines used as seeds resolve their `use: ../agents/…` files and the
/// fuzzer starts from valid pipelines (loading does no other I/O).
pub fn pipeline_in_repo(data: &[u8]) {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = [here.join("pipelines"), here.join("../pipelines")]
        .into_iter()
        .find(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    pipeline(data, &dir);
}

/// Pipeline YAML through loading and validation with every real agent kind:
/// never panics, a pipeline comes back exactly when there is no error, and
/// every diagnostic has a position and renders.
pub fn pipeline(data: &[u8], dir: &Path) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let registry = agg_agents::registry();
    let env = |name: &str| (name == "FUZZ_VAR").then(|| "value".to_string());
    let loaded =
        agg_core::pipeline::load_str(&dir.join("fuzz.yaml"), text.to_string(), &registry, &env);
    assert_eq!(
        loaded.pipeline.is_some(),
        !loaded.has_errors(),
        "a pipeline must come back exactly when there is no error"
    );
    for d in &loaded.diagnostics {
        assert!(
            d.line >= 1 && d.column >= 1,
            "diagnostic without a position: {d:?}"
        );
        let _ = d.render(&loaded.sources);
    }
    if let Some(p) = &loaded.pipeline {
        let _ = agg_core::dag::Dag::build(p);
    }
}

/// A string from the fuzz data, sometimes markup or a URL with a dangerous
/// scheme glued on, so the interesting shapes come up often.
fn fuzz_str(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    const PREFIXES: &[&str] = &[
        "",
        "<script>alert(1)</script>",
        "javascript:alert(1)//",
        "https://ok.example/",
        "data:text/html,<script>x</script>",
        "\"><img src=x onerror=alert(1)>",
        "&#106;avascript:",
        " vbscript:msgbox",
        "{{ 7*7 }}{% raw %}",
    ];
    let p = PREFIXES[u.choose_index(PREFIXES.len())?];
    let s: String = u.arbitrary()?;
    Ok(format!("{p}{s}"))
}

fn opt_str(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<String>> {
    Ok(if u.arbitrary()? {
        Some(fuzz_str(u)?)
    } else {
        None
    })
}

fn fuzz_time(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<DateTime<Utc>>> {
    let secs: Option<i32> = u.arbitrary()?;
    Ok(secs.and_then(|s| Utc.timestamp_opt(1_700_000_000 + i64::from(s), 0).single()))
}

fn fuzz_item(u: &mut Unstructured<'_>, id: i64) -> arbitrary::Result<Item> {
    let saga = if u.arbitrary()? {
        Some(SagaRef {
            id: u.int_in_range(0..=3)?,
            title: fuzz_str(u)?,
            followed: u.arbitrary()?,
            muted: u.arbitrary()?,
        })
    } else {
        None
    };
    Ok(Item {
        id: if u.arbitrary()? { Some(id) } else { None },
        key: format!("k{id}"),
        source: fuzz_str(u)?,
        feed: opt_str(u)?,
        feed_title: opt_str(u)?,
        guid: opt_str(u)?,
        url: opt_str(u)?,
        title: fuzz_str(u)?,
        text: fuzz_str(u)?,
        html: opt_str(u)?,
        author: opt_str(u)?,
        published: fuzz_time(u)?,
        updated: fuzz_time(u)?,
        fetched: fixed_now(),
        tags: vec![fuzz_str(u)?],
        also_in: if u.arbitrary()? {
            vec![fuzz_str(u)?]
        } else {
            vec![]
        },
        enclosures: if u.arbitrary()? {
            vec![Enclosure {
                url: fuzz_str(u)?,
                mime: opt_str(u)?,
                length: u.arbitrary()?,
            }]
        } else {
            vec![]
        },
        score: u.arbitrary::<Option<f32>>()?,
        reasons: if u.arbitrary()? {
            vec![fuzz_str(u)?]
        } else {
            vec![]
        },
        saga,
        is_new: true,
        embedding: None,
    })
}

/// Digest selection and rendering over items built from the fuzz data
/// (`arbitrary`): rendering always succeeds, and no executable markup from
/// item content (titles, links, feed names, reasons, saga titles, feed
/// errors) reaches the email's HTML.
pub fn digest(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok((items, sagas, feeds, title)) = digest_input(&mut u) else {
        return;
    };
    let now = fixed_now();
    let tz = chrono_tz::Europe::London;
    let today = now.with_timezone(&tz).date_naive();
    let opts = SelectOptions {
        max_age: None,
        ..SelectOptions::default()
    };
    let sel = select(
        items,
        &HashSet::new(),
        &sagas,
        &feeds,
        &opts,
        now,
        today,
        tz,
    );
    let cfg = RenderConfig {
        title,
        pipeline: "fuzz".into(),
        templates: None,
        public_url: "https://agg.example.org".into(),
        signer: Signer::new(b"fuzz-key".to_vec()),
        link_ttl: chrono::Duration::days(30),
        tz,
    };
    let out = render(&sel, &cfg, now, today).expect("digest rendering failed");
    let found = executable_markup(&out.html);
    assert!(found.is_empty(), "digest HTML kept {found:?}");
    assert!(!out.subject.contains('\n'), "subject spans lines");
}

type DigestInput = (Vec<Item>, HashMap<u64, SagaInfo>, Vec<FeedState>, String);

fn digest_input(u: &mut Unstructured<'_>) -> arbitrary::Result<DigestInput> {
    let n = u.int_in_range(0..=12)?;
    let mut items = Vec::new();
    for id in 0..n {
        items.push(fuzz_item(u, id + 1)?);
    }
    let mut sagas = HashMap::new();
    for id in 0..u.int_in_range(0..=3)? {
        sagas.insert(
            id,
            SagaInfo {
                title: fuzz_str(u)?,
                first_seen: fuzz_time(u)?,
                outlets: u.int_in_range(0..=5)?,
                followed: u.arbitrary()?,
                muted: u.arbitrary()?,
            },
        );
    }
    let mut feeds = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        feeds.push(FeedState {
            url: fuzz_str(u)?,
            title: opt_str(u)?,
            last_error: opt_str(u)?,
            last_success: fuzz_time(u)?,
            consecutive_failures: u.int_in_range(0..=10)?,
            paused: u.arbitrary()?,
            pause_reason: opt_str(u)?,
            ..FeedState::default()
        });
    }
    let title = String::arbitrary(u)?;
    Ok((items, sagas, feeds, title))
}

/// Markup in `html` that could run script when a browser or mail client
/// opens it: `<script>` and other active elements, `on*=` event handler
/// attributes, and `javascript:`/`vbscript:`/`data:` URLs in URL attributes
/// (after decoding character references and dropping the whitespace and
/// control characters browsers ignore in a scheme). A small scanner rather
/// than a full HTML parser: it reads tags the way a browser's tokenizer
/// does for the cases that matter here, and errs on the side of reporting.
/// Forms and inline SVG are not reported by themselves (the web UI's
/// buttons are forms, its pipeline graphs SVG); a script URL in `action` or
/// `xlink:href`, a handler attribute or a `<script>` inside them is.
pub fn executable_markup(html: &str) -> Vec<String> {
    const ACTIVE: &[&str] = &[
        "script", "iframe", "frame", "object", "embed", "applet", "base", "link",
    ];
    const URL_ATTRS: &[&str] = &[
        "href",
        "src",
        "action",
        "formaction",
        "xlink:href",
        "background",
        "poster",
        "srcset",
        "data",
        "lowsrc",
        "dynsrc",
    ];
    let mut found = Vec::new();
    let b = html.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        if html[i..].starts_with("<!--") {
            i = html[i..].find("-->").map_or(b.len(), |e| i + e + 3);
            continue;
        }
        let start = i + 1 + usize::from(b.get(i + 1) == Some(&b'/'));
        let name_end = start
            + b[start..]
                .iter()
                .position(|c| c.is_ascii_whitespace() || *c == b'>' || *c == b'/')
                .unwrap_or(b.len() - start);
        let name = html[start..name_end].to_ascii_lowercase();
        if name.is_empty() || !name.as_bytes()[0].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        if ACTIVE.contains(&name.as_str()) {
            found.push(format!("<{name}> element"));
        }
        // Attributes up to the closing `>` (quoted values may hold `>`).
        let mut j = name_end;
        loop {
            while j < b.len() && (b[j].is_ascii_whitespace() || b[j] == b'/') {
                j += 1;
            }
            if j >= b.len() || b[j] == b'>' {
                break;
            }
            let an_start = j;
            while j < b.len() && !b[j].is_ascii_whitespace() && !matches!(b[j], b'=' | b'>' | b'/')
            {
                j += 1;
            }
            let attr = html[an_start..j].to_ascii_lowercase();
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            let mut value = String::new();
            if j < b.len() && b[j] == b'=' {
                j += 1;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
                    let q = b[j];
                    let vs = j + 1;
                    let ve = b[vs..]
                        .iter()
                        .position(|c| *c == q)
                        .map_or(b.len(), |p| vs + p);
                    value = html[vs..ve].to_string();
                    j = (ve + 1).min(b.len());
                } else {
                    let vs = j;
                    while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                        j += 1;
                    }
                    value = html[vs..j].to_string();
                }
            }
            if attr.is_empty() {
                j += 1;
                continue;
            }
            if attr.starts_with("on") {
                found.push(format!("{attr}= handler on <{name}>"));
            }
            if name == "meta" && attr == "http-equiv" && value.eq_ignore_ascii_case("refresh") {
                found.push("<meta http-equiv=refresh>".into());
            }
            let v = decode_refs(&value).to_ascii_lowercase();
            let squeezed: String = v
                .chars()
                .filter(|c| !c.is_whitespace() && !c.is_control())
                .collect();
            if URL_ATTRS.contains(&attr.as_str()) {
                for scheme in ["javascript:", "vbscript:", "data:", "livescript:"] {
                    if squeezed.starts_with(scheme)
                        || (attr == "srcset" && squeezed.contains(scheme))
                    {
                        found.push(format!("{scheme} URL in {attr}= on <{name}>"));
                    }
                }
            }
            if attr == "style"
                && (squeezed.contains("expression(") || squeezed.contains("javascript:"))
            {
                found.push(format!("script in style= on <{name}>"));
            }
        }
        i = j.max(i + 1);
    }
    found
}

/// Decodes the numeric and the few named character references that matter
/// for hiding a URL scheme (`&#106;`, `&#x6A;`, `&colon;`, `&Tab;`…).
fn decode_refs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p + 1..];
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '#')
            .unwrap_or(rest.len());
        let name = &rest[..end];
        let decoded = if let Some(num) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X"))
        {
            u32::from_str_radix(num, 16).ok().and_then(char::from_u32)
        } else if let Some(num) = name.strip_prefix('#') {
            num.parse::<u32>().ok().and_then(char::from_u32)
        } else {
            match name {
                "colon" => Some(':'),
                "Tab" => Some('\t'),
                "NewLine" => Some('\n'),
                "amp" => Some('&'),
                "lpar" => Some('('),
                "rpar" => Some(')'),
                "sol" => Some('/'),
                _ => None,
            }
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end..];
                rest = rest.strip_prefix(';').unwrap_or(rest);
            }
            None => out.push('&'),
        }
    }
    out.push_str(rest);
    out
}
