//! Feed formats and spellings the outside attack of issue 20 found lost or
//! garbled (items 2 and 7): Atom 0.3, RSS 2.0 in a default namespace (also
//! gzip'd), RSS 0.90; a document whose entries cannot be read is an error,
//! not an empty feed; windows-1255 without a declared charset; `&#146;`
//! as windows-1252 reads it; upper-case `&#X41;`.

use agg_fetch::parse::{ParseError, parse_feed};
use chrono::Utc;

fn parse(doc: &[u8]) -> Result<agg_fetch::ParsedFeed, ParseError> {
    parse_feed(doc, "https://example.org/feed", "test", Utc::now())
}

const ATOM03: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed version="0.3" xmlns="http://purl.org/atom/ns#" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <title>Old Atom</title>
  <tagline>A feed from 2004</tagline>
  <link rel="alternate" type="text/html" href="http://example.org/"/>
  <modified>2004-01-03T19:00:00Z</modified>
  <copyright>Copyright 2004</copyright>
  <entry>
    <title type="text/plain">First &amp; foremost</title>
    <link rel="alternate" type="text/html" href="http://example.org/2004/01/1"/>
    <id>tag:example.org,2004:1</id>
    <issued>2004-01-03T18:00:00-01:00</issued>
    <modified>2004-01-03T19:30:00Z</modified>
    <author><name>Ann</name><url>http://example.org/ann</url></author>
    <summary type="text/plain">Plain summary</summary>
    <content type="text/html" mode="escaped">&lt;p&gt;Hello &lt;b&gt;world&lt;/b&gt;&lt;/p&gt;</content>
  </entry>
  <entry>
    <title type="application/xhtml+xml" mode="xml">Second</title>
    <link rel="alternate" type="text/html" href="/2004/01/2"/>
    <id>tag:example.org,2004:2</id>
    <issued>2004-01-04T08:00:00Z</issued>
    <content type="text/html" mode="base64">PGRpdj48YSBocmVmPSIvcmVsYXRpdmUvdXJpIj5jbGljayBoZXJlPC9hPjwvZGl2Pg==</content>
  </entry>
</feed>"#;

#[test]
fn atom_0_3_is_read_like_atom_1_0() {
    let f = parse(ATOM03.as_bytes()).unwrap();
    assert_eq!(f.title.as_deref(), Some("Old Atom"));
    assert_eq!(f.items.len(), 2);
    let a = &f.items[0];
    assert_eq!(a.title, "First & foremost");
    assert_eq!(a.url.as_deref(), Some("http://example.org/2004/01/1"));
    assert_eq!(a.guid.as_deref(), Some("tag:example.org,2004:1"));
    assert_eq!(
        a.published.unwrap().to_rfc3339(),
        "2004-01-03T19:00:00+00:00",
        "issued is the publication date"
    );
    assert_eq!(a.updated.unwrap().to_rfc3339(), "2004-01-03T19:30:00+00:00");
    assert_eq!(a.author.as_deref(), Some("Ann"));
    assert!(
        a.html.as_deref().unwrap().contains("<b>world</b>"),
        "{:?}",
        a.html
    );
    let b = &f.items[1];
    assert_eq!(b.title, "Second");
    assert_eq!(b.url.as_deref(), Some("https://example.org/2004/01/2"));
    // Base64 content is decoded, its links made absolute.
    assert!(
        b.html
            .as_deref()
            .unwrap()
            .contains("href=\"https://example.org/relative/uri\""),
        "{:?}",
        b.html
    );
    assert_eq!(b.text, "click here");
}

const USERLAND: &str = r#"<?xml version="1.0"?>
<rss version="2.0" xmlns="http://backend.userland.com/rss2" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Namespaced RSS</title><link>http://example.com/</link><description>d</description>
<item><title>One</title><link>http://example.com/1</link><guid>u-1</guid><dc:creator>Bo</dc:creator>
<pubDate>Thu, 23 Jan 2014 09:33:08 +0600</pubDate><description>first &lt;i&gt;item&lt;/i&gt;</description></item>
<item><title>Two</title><link>http://example.com/2</link><guid>u-2</guid></item>
</channel></rss>"#;

#[test]
fn rss_in_a_default_namespace_is_read_plain_and_gzipped() {
    let f = parse(USERLAND.as_bytes()).unwrap();
    assert_eq!(f.title.as_deref(), Some("Namespaced RSS"));
    let titles: Vec<&str> = f.items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(titles, ["One", "Two"]);
    assert_eq!(f.items[0].author.as_deref(), Some("Bo"));
    assert_eq!(f.items[0].text, "first item");

    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(USERLAND.as_bytes()).unwrap();
    let f = parse(&gz.finish().unwrap()).unwrap();
    assert_eq!(f.items.len(), 2);
}

#[test]
fn rss_0_90_is_read() {
    for ns in [
        "http://my.netscape.com/rdf/simple/0.9/",
        "http://channel.netscape.com/rdf/simple/0.9/",
    ] {
        let doc = format!(
            r#"<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="{ns}">
<channel><title>Mozilla Dot Org</title><link>http://www.mozilla.org</link><description>d</description></channel>
<item><title>New Status Updates</title><link>http://www.mozilla.org/status/</link></item>
<item><title>Bugzilla Reorganized</title><link>http://www.mozilla.org/bugs/</link></item>
</rdf:RDF>"#
        );
        let f = parse(doc.as_bytes()).unwrap();
        assert_eq!(f.title.as_deref(), Some("Mozilla Dot Org"), "{ns}");
        let titles: Vec<&str> = f.items.iter().map(|i| i.title.as_str()).collect();
        assert_eq!(
            titles,
            ["New Status Updates", "Bugzilla Reorganized"],
            "{ns}"
        );
    }
}

#[test]
fn entries_that_cannot_be_read_are_an_error_not_an_empty_feed() {
    let doc = r#"<feed xmlns="http://example.com/not-atom"><title>T</title>
<entry><title>Lost</title><link href="http://example.com/1"/></entry>
<entry><title>Lost too</title></entry></feed>"#;
    let e = parse(doc.as_bytes()).unwrap_err().to_string();
    assert!(
        e.contains("2 <entry>") && e.contains("http://example.com/not-atom"),
        "{e}"
    );
    // A feed that really is empty is fine.
    let empty = parse(b"<rss version=\"2.0\"><channel><title>T</title></channel></rss>").unwrap();
    assert!(empty.items.is_empty());
}

#[test]
fn undeclared_windows_1255_is_detected() {
    let title = "חדשות היום: הממשלה אישרה את התקציב החדש";
    let body = "שר האוצר אמר כי התקציב יאפשר השקעה גדולה בחינוך ובבריאות בשנה הבאה, \
                וכי הגירעון יירד בהדרגה.";
    let doc = format!(
        "<rss version=\"2.0\"><channel><title>ערוץ</title><item><title>{title}</title>\
         <description>{body}</description></item></channel></rss>"
    );
    let (bytes, _, lossy) = encoding_rs::WINDOWS_1255.encode(&doc);
    assert!(!lossy);
    let f = parse(&bytes).unwrap();
    assert_eq!(f.encoding, "windows-1255");
    assert_eq!(f.items[0].title, title);
    assert_eq!(f.items[0].text, body);
    // Western text without a label still reads as windows-1252.
    let f = parse(b"<rss version=\"2.0\"><channel><title>Caf\xe9</title><item><title>\x93Caf\xe9 cr\xe8me\x94 na\xefve r\xe9sum\xe9 \x96 d\xe9j\xe0 vu</title></item></channel></rss>").unwrap();
    assert_eq!(f.encoding, "windows-1252");
    assert_eq!(f.items[0].title, "“Café crème” naïve résumé – déjà vu");
}

#[test]
fn numeric_references_to_c1_codes_read_as_windows_1252() {
    let doc = "<rss version=\"2.0\"><channel><title>T</title><item><title>don&#146;t &#147;quote&#148;</title>\
               <description>it&amp;#146;s &amp;#x93;ok&amp;#x94; &#150; fine</description></item></channel></rss>";
    let f = parse(doc.as_bytes()).unwrap();
    assert_eq!(f.items[0].title, "don’t “quote”");
    assert_eq!(f.items[0].text, "it’s “ok” – fine");
}

#[test]
fn upper_case_hex_references_are_read() {
    let doc = "<rss version=\"2.0\"><channel><title>T</title><item><title>&#X41;&#x42;&#X2019;</title>\
               <description>x&#X2D;y</description></item></channel></rss>";
    let f = parse(doc.as_bytes()).unwrap();
    assert_eq!(f.items[0].title, "AB’");
    assert_eq!(f.items[0].text, "x-y");
}
