//! XSS payloads from feeds, through the whole pipeline, checked on every
//! surface agg writes or serves: the digest's HTML and text parts (the .eml,
//! decoded by Python's email package), the digest preview, the `html` sink's
//! page, the web UI pages of `agg serve`, and its RSS/Atom feeds. Payloads sit
//! in titles, summaries, content, links (`javascript:`, `data:`,
//! `vbscript:`, entity-obfuscated), author and feed names, and in a feed
//! error message. No executable markup may survive anywhere (scanned with
//! `fuzz/harness.rs`'s scanner, which `tests/fuzz_replay.rs` checks against
//! the classic tricks), and the harmless text around the payloads must still
//! be there: sanitising must not eat the content.

mod common;

#[path = "../fuzz/harness.rs"]
mod harness;

#[path = "fixtures/digest/support.rs"]
mod support;

use std::collections::HashMap;
use std::path::Path;

use common::{Route, Server, agg};
use harness::executable_markup;

/// RSS 2.0 with payloads in the feed title, item titles (escaped text,
/// double-escaped text, markup), links, descriptions, content and authors.
const EVIL_RSS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Evil &lt;script&gt;alert('feed')&lt;/script&gt; Gazette</title><link>https://evil.example/</link>
<item><guid>x1</guid><title>&lt;script&gt;alert(1)&lt;/script&gt;Lighthouse harmless title one</title>
<link>javascript:alert(1)</link>
<description><![CDATA[<p>Lighthouse harmless summary one</p><script>alert(2)</script><img src="x" onerror="alert(3)">]]></description>
<dc:creator>&lt;img src=x onerror=alert(4)&gt;</dc:creator>
<pubDate>Wed, 25 Nov 2026 10:00:00 GMT</pubDate></item>
<item><guid>x2</guid><title>&quot;&gt;&lt;img src=x onerror=alert(5)&gt; Lighthouse harmless title two</title>
<link> JaVaScRiPt:alert(6)</link>
<description><![CDATA[<a href="&#106;avascript:alert(7)">Lighthouse harmless link text</a> <a href="data:text/html;base64,PHNjcmlwdD5hbGVydCg4KTwvc2NyaXB0Pg==">data link</a> <a href="vbscript:msgbox(9)">vb link</a> <a href="jav&#x09;ascript:alert(17)">tab link</a>]]></description>
<pubDate>Wed, 25 Nov 2026 10:01:00 GMT</pubDate></item>
<item><guid>x3</guid><title>Lighthouse harmless title three &amp;lt;script&amp;gt;alert(10)&amp;lt;/script&amp;gt;</title>
<link>data:text/html,&lt;script&gt;alert(11)&lt;/script&gt;</link>
<description>Lighthouse harmless summary three &amp;lt;script&amp;gt;alert(22)&amp;lt;/script&amp;gt; and &amp;lt;img src=x onerror=alert(23)&amp;gt;</description>
<content:encoded><![CDATA[<iframe src="javascript:alert(12)"></iframe><svg onload="alert(13)"></svg><style>body{background:url(javascript:alert(14))}</style><div style="width:expression(alert(15))">Lighthouse harmless body three</div><form action="javascript:alert(16)"><button>go</button></form><math><mi xlink:href="javascript:alert(18)">m</mi></math><object data="javascript:alert(19)"></object><a href="https://good.example/ok">Lighthouse harmless good link</a>]]></content:encoded>
<pubDate>Wed, 25 Nov 2026 10:02:00 GMT</pubDate></item>
<item><guid>x4</guid><title>Lighthouse harmless title four</title><link>https://evil.example/4</link>
<description>Lighthouse harmless summary four shows code: &amp;lt;script&amp;gt;alert(32)&amp;lt;/script&amp;gt; &amp;lt;img src=x onerror=alert(33)&amp;gt;</description>
<pubDate>Wed, 25 Nov 2026 10:04:00 GMT</pubDate></item>
</channel></rss>"#;

/// Atom with HTML and XHTML constructs, an evil author and feed title.
const EVIL_ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title type="html">&lt;b onmouseover=alert(20)&gt;Atom Evil Feed&lt;/b&gt;</title>
<id>urn:evil-atom</id><updated>2026-11-25T10:00:00Z</updated>
<entry><id>urn:a1</id><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Lighthouse harmless atom title<script>alert(21)</script></div></title>
<link href="javascript:alert(24)"/><updated>2026-11-25T10:03:00Z</updated>
<author><name>&lt;script&gt;alert(25)&lt;/script&gt;Evil Author</name></author>
<content type="html">&lt;p onclick="alert(26)"&gt;Lighthouse harmless atom body&lt;/p&gt;&lt;a href="vbscript:alert(27)"&gt;v&lt;/a&gt;&lt;img srcset="javascript:alert(28) 1x"&gt;</content></entry>
</feed>"#;

/// Not a feed: a document whose root is `<script>`. Its error message names
/// the root, and error messages reach the digest's health section and the
/// UI's feeds page.
const NOT_A_FEED: &str = "<script>alert(29)</script><p>nope</p>";

/// Harmless text from the payload items that must survive sanitising.
const HARMLESS: &[&str] = &[
    "Lighthouse harmless title one",
    "Lighthouse harmless title two",
    "Lighthouse harmless title three",
    "Lighthouse harmless title four",
    "Lighthouse harmless atom title",
];

fn pipeline(server: &Server) -> String {
    let mut p = format!(
        "name: evil\ntimezone: UTC\nagents:\n\
         \x20 feeds:\n    kind: rss\n    respect_schedule: false\n    retries: 0\n    feeds:\n\
         \x20     - {}\n      - {}\n      - {}\n\
         \x20 fresh: {{ kind: dedupe, inputs: [feeds] }}\n\
         \x20 scored:\n    kind: score\n    inputs: [fresh]\n    device: cpu\n\
         \x20   interests: {{ like: [\"lighthouse harmless title\"], dislike: [\"celebrity gossip\"] }}\n\
         \x20 sagas: {{ kind: saga, inputs: [scored] }}\n\
         \x20 page: {{ kind: html, inputs: [sagas], path: out/page.html, title: \"<script>alert(30)</script>Page\" }}\n",
        server.url("/evil.rss"),
        server.url("/evil.atom"),
        server.url("/not-a-feed.xml"),
    );
    p.push_str(
        "  digest:\n    kind: email_digest\n    inputs: [sagas]\n    to: me@localhost\n\
         \x20   title: \"<img src=x onerror=alert(31)>Digest\"\n    sections: [top, sagas, sources, health]\n\
         \x20   public_url: http://127.0.0.1:9\n    smtp: smtp://127.0.0.1:9\n",
    );
    p
}

fn assert_clean(surface: &str, html: &str) {
    let found = executable_markup(html);
    assert!(
        found.is_empty(),
        "{surface}: executable markup survived: {found:?}\n{html}"
    );
}

fn assert_harmless_kept(surface: &str, text: &str) {
    for h in HARMLESS {
        assert!(text.contains(h), "{surface}: harmless text {h:?} lost");
    }
}

/// One level of XML character-reference decoding: what a feed reader
/// gets as the value of an element.
fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The text of every `<tag>…</tag>` in `xml` (no nesting needed here).
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(p) = rest.find(&open) {
        let after = &rest[p + open.len()..];
        if !after.starts_with(['>', ' ']) {
            rest = after;
            continue;
        }
        let Some(gt) = after.find('>') else { break };
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        out.push(&body[..end]);
        rest = &body[end..];
    }
    out
}

/// A running `agg serve`, killed when dropped.
fn serve(dir: &Path, db: &Path) -> (common::Served, u16) {
    common::start_serve(
        agg(dir)
            .env("AGG_SECRET", support::SECRET)
            .arg("--db")
            .arg(db)
            .args([
                "serve",
                "p.yaml",
                "--bind",
                "127.0.0.1:0",
                "--feed-min-score",
                "0",
            ]),
    )
}

fn get(port: u16, path: &str) -> (u16, String) {
    let (status, _, body) = common::http_request(port, "GET", path, &[], "");
    (status, body)
}

#[test]
fn xss_payloads_never_reach_any_output_surface() {
    let server = Server::start(HashMap::from([
        (
            "/evil.rss".to_string(),
            Route::Feed(EVIL_RSS.as_bytes().to_vec()),
        ),
        (
            "/evil.atom".to_string(),
            Route::Feed(EVIL_ATOM.as_bytes().to_vec()),
        ),
        (
            "/not-a-feed.xml".to_string(),
            Route::Feed(NOT_A_FEED.as_bytes().to_vec()),
        ),
    ]));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = dir.join("agg.db");
    std::fs::write(dir.join("p.yaml"), pipeline(&server)).unwrap();

    // The whole pipeline: `agg run --only page` fetches, dedupes, scores,
    // groups into sagas and writes the `html` sink's page (exit 1: the feed
    // that is not a feed failed, and the exit code says so); then
    // `agg digest` renders the digest of the stored items (the feeds answer
    // 304 now; the digest's inbox is every stored item it has not
    // delivered) to files instead of sending it.
    for (args, code) in [
        (&["run", "p.yaml", "--only", "page"][..], 1),
        (
            &[
                "digest",
                "p.yaml",
                "--preview",
                "out/digest.html",
                "--eml",
                "out/digest.eml",
            ],
            0,
        ),
    ] {
        let out = agg(dir)
            .env("AGG_SECRET", support::SECRET)
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(code),
            "agg {args:?}:\n{}\n{log}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!log.contains("panicked"), "{log}");
    }

    // The digest: preview HTML, and the .eml's HTML and text parts.
    let preview = std::fs::read_to_string(dir.join("out/digest.html")).unwrap();
    assert_clean("digest preview", &preview);
    assert_harmless_kept("digest preview", &preview);
    let eml = support::parse_eml(&dir.join("out/digest.eml"));
    let html = eml["html"].as_str().unwrap();
    let text = eml["text"].as_str().unwrap();
    assert_clean("digest HTML part", html);
    assert_harmless_kept("digest HTML part", html);
    assert_harmless_kept("digest text part", text);
    let lower = text.to_ascii_lowercase();
    for scheme in ["javascript:", "vbscript:", "data:text"] {
        assert!(
            !lower.contains(scheme),
            "digest text part offers a {scheme} link:\n{text}"
        );
    }
    // The error of the feed that was not a feed is reported, escaped.
    assert!(
        html.contains("&lt;script") || html.contains("not a feed"),
        "the broken feed is missing from the health section:\n{html}"
    );

    // The `html` sink's page.
    let page = std::fs::read_to_string(dir.join("out/page.html")).unwrap();
    assert_clean("html sink page", &page);
    assert_harmless_kept("html sink page", &page);
    assert!(page.contains("https://good.example/ok") || page.contains("Lighthouse harmless"));

    // The web UI and the feeds `agg serve` renders from the same store.
    let (_served, port) = serve(dir, &db);
    let (status, items_page) = get(port, "/");
    assert_eq!(status, 200, "{items_page}");
    assert_harmless_kept("UI items page", &items_page);
    let mut pages = vec![
        "/".to_string(),
        "/ui/sagas".into(),
        "/ui/feeds".into(),
        "/ui/runs".into(),
    ];
    pages.push("/ui/pipelines".into());
    for id in items_page
        .split("href=\"/ui/sagas/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
    {
        pages.push(format!("/ui/sagas/{id}"));
    }
    for p in &pages {
        let (status, body) = get(port, p);
        assert_eq!(status, 200, "{p}: {body}");
        assert_clean(&format!("UI page {p}"), &body);
    }
    let (_, feeds_page) = get(port, "/ui/feeds");
    // The feeds, by their (cleaned) names, and the broken feed's error with
    // its `<script>` escaped, not dropped: the reader sees what went wrong.
    assert!(feeds_page.contains("Evil Gazette"), "{feeds_page}");
    assert!(feeds_page.contains("Atom Evil Feed"), "{feeds_page}");
    assert!(
        feeds_page.contains("starts with &lt;script&gt;"),
        "{feeds_page}"
    );

    let (status, rss) = get(port, "/feed.xml");
    assert_eq!(status, 200);
    let (status, sagas_rss) = get(port, "/sagas.xml");
    assert_eq!(status, 200);
    for (name, doc) in [("/feed.xml", &rss), ("/sagas.xml", &sagas_rss)] {
        // RSS descriptions are HTML once the XML is decoded: a reader
        // renders them, so they must be clean after one decoding.
        for d in elements(doc, "description") {
            assert_clean(&format!("{name} description"), &xml_unescape(d));
        }
        for l in elements(doc, "link") {
            let l = xml_unescape(l);
            assert!(
                l.starts_with("http://") || l.starts_with("https://"),
                "{name}: link {l}"
            );
        }
    }
    assert_harmless_kept("/feed.xml", &rss);
    let (status, atom) = get(port, "/feed.atom");
    assert_eq!(status, 200);
    assert_harmless_kept("/feed.atom", &atom);
    for href in atom
        .split("<link href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
    {
        let href = xml_unescape(href);
        assert!(
            href.starts_with("http://") || href.starts_with("https://"),
            "atom link {href}"
        );
    }
    // Atom text constructs are plain text unless typed otherwise.
    for s in atom.split("<summary").skip(1) {
        assert!(
            s.starts_with(" type=\"text\""),
            "atom summary not typed text: {s}"
        );
    }
    for t in atom.split("<title").skip(1) {
        assert!(t.starts_with('>'), "atom title typed as markup: {t}");
    }
}
