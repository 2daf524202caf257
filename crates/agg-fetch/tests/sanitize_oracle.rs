//! agg's one-pass sanitiser (`agg_fetch::sanitize`) checked against
//! ammonia as an oracle, on every HTML fragment of the real and hostile feed
//! corpora (`../shared/data/feeds`), the fuzz corpus and the classic XSS
//! vectors below: ammonia, run over agg's output, must find nothing to
//! remove — every element and attribute agg writes is one ammonia's default
//! policy keeps, every URL one it accepts — and must keep all of its text.
//! (ammonia parses with html5ever, as a browser does; an element that
//! survived there but not here would show agg writing markup a browser
//! reads differently from what agg meant.)

mod common;

use std::collections::HashMap;
use std::path::Path;

use agg_fetch::sanitize::{Cleaned, clean};

/// Start tags of a serialised fragment (agg's or html5ever's: both write
/// `<name attr="value">`), as `name attr=value …` with attributes sorted
/// and values entity-decoded, counted.
fn start_tags(html: &str) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        if rest.starts_with('/') {
            continue;
        }
        let gt = rest.find('>').expect("serialised tag ends");
        let inner = &rest[..gt];
        let (name, mut attrs_s) = inner.split_once(' ').unwrap_or((inner, ""));
        let mut attrs = Vec::new();
        while let Some(eq) = attrs_s.find("=\"") {
            let n = attrs_s[..eq].trim().to_string();
            let after = &attrs_s[eq + 2..];
            let close = after.find('"').expect("quoted value");
            let v = html_escape::decode_html_entities(&after[..close]).into_owned();
            attrs.push(format!("{n}={v}"));
            attrs_s = &after[close + 1..];
        }
        attrs.sort();
        *out.entry(format!("{name} {}", attrs.join(" ")))
            .or_default() += 1;
        rest = &rest[gt + 1..];
    }
    out
}

/// The visible characters of a serialised fragment, sorted (html5ever may
/// move text out of a table: order is not compared, content is).
fn visible_chars(html: &str) -> Vec<char> {
    let mut text = String::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        text.push_str(&rest[..lt]);
        text.push(' ');
        rest = rest[lt..].split_once('>').map_or("", |(_, r)| r);
    }
    text.push_str(rest);
    let mut v: Vec<char> = html_escape::decode_html_entities(&text)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    v.sort_unstable();
    v
}

/// Fails with a readable report when ammonia would change agg's output.
fn check(fragment: &str, base: &url::Url, what: &str) -> Cleaned {
    let ours = clean(fragment, Some(base));
    let amm = ammonia::Builder::default().clean(&ours.html).to_string();
    let (mine, theirs) = (start_tags(&ours.html), start_tags(&amm));
    for (tag, n) in &mine {
        let m = theirs.get(tag).copied().unwrap_or(0);
        assert!(
            m >= *n,
            "{what}: ammonia removed `<{tag}>` ({n} written, {m} kept)\n\
             input:  {fragment:.600}\nours:   {:.600}\nammonia: {amm:.600}",
            ours.html
        );
    }
    assert_eq!(
        visible_chars(&ours.html),
        visible_chars(&amm),
        "{what}: ammonia changed the text\ninput: {fragment:.600}\nours: {:.600}\nammonia: {amm:.600}",
        ours.html
    );
    // The text form carries the same characters as the HTML.
    let mut t: Vec<char> = ours.text.chars().filter(|c| !c.is_whitespace()).collect();
    t.sort_unstable();
    assert_eq!(t, visible_chars(&ours.html), "{what}: text and HTML differ");
    ours
}

/// The raw HTML fragments of a feed document, as feed-rs hands them over
/// (before agg sanitises them): entry titles, summaries and content.
fn fragments(bytes: &[u8]) -> Vec<String> {
    // (feed-rs has panicked on hostile inputs; agg catches that too.)
    let Ok(Ok(feed)) = std::panic::catch_unwind(|| feed_rs::parser::parse(bytes)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in feed.entries {
        out.extend(e.title.map(|t| t.content));
        out.extend(e.summary.map(|t| t.content));
        out.extend(e.content.and_then(|c| c.body));
    }
    out
}

#[test]
fn ammonia_finds_nothing_to_remove_in_the_corpora() {
    let base = url::Url::parse("https://feeds.example/section/feed.xml").unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut paths = common::files(&repo.join("fuzz/corpus/feed"));
    paths.extend(common::files(&repo.join("fuzz/regressions/feed")));
    let fuzz_files = paths.len();
    let corpus = common::corpus();
    if let Some(c) = &corpus {
        paths.extend(common::files(&c.join("real")));
        paths.extend(common::files(&c.join("hostile")));
    }
    let (mut n, mut with_markup) = (0usize, 0usize);
    for p in &paths {
        let bytes = std::fs::read(p).unwrap();
        for f in fragments(&bytes) {
            let c = check(&f, &base, &p.display().to_string());
            n += 1;
            with_markup += usize::from(c.html.contains('<'));
        }
    }
    eprintln!(
        "{n} fragments from {} files ({fuzz_files} fuzz inputs), {with_markup} with markup kept",
        paths.len()
    );
    assert!(n > 0, "no fragment was checked");
    if corpus.is_some() {
        assert!(
            with_markup > 1000,
            "only {with_markup} fragments kept markup"
        );
    }
}

/// Classic cross-site scripting vectors (mutation, obfuscation, parser
/// differentials): none may leave anything ammonia would remove.
#[test]
fn classic_vectors_leave_nothing_active() {
    let base = url::Url::parse("https://feeds.example/").unwrap();
    const VECTORS: &[&str] = &[
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//xss.example/x.js></SCRIPT>",
        "<IMG SRC=\"javascript:alert('XSS');\">",
        "<IMG SRC=javascript:alert('XSS')>",
        "<IMG SRC=JaVaScRiPt:alert('XSS')>",
        "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
        "<a onmouseover=\"alert(document.cookie)\">xxs link</a>",
        "<IMG \"\"\"><SCRIPT>alert(\"XSS\")</SCRIPT>\"\\>",
        "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>",
        "<IMG SRC=&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041>",
        "<IMG SRC=\"jav\tascript:alert('XSS');\">",
        "<IMG SRC=\"jav&#x0A;ascript:alert('XSS');\">",
        "<IMG SRC=\" &#14;  javascript:alert('XSS');\">",
        "<SCRIPT/XSS SRC=\"http://xss.example/xss.js\"></SCRIPT>",
        "<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert(\"XSS\")>",
        "<<SCRIPT>alert(\"XSS\");//\\<</SCRIPT>",
        "<SCRIPT SRC=http://xss.example/xss.js?< B >",
        "<IMG SRC=\"`<javascript:alert>`('XSS')\"",
        "<iframe src=http://xss.example/scriptlet.html <",
        "</TITLE><SCRIPT>alert(\"XSS\");</SCRIPT>",
        "<INPUT TYPE=\"IMAGE\" SRC=\"javascript:alert('XSS');\">",
        "<svg/onload=alert('XSS')>",
        "<svg><script>alert(1)</script></svg>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
        "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
        "<a href=\"&#1;javascript:alert(1)\">x</a>",
        "<a href=\"java&Tab;script:alert(1)\">x</a>",
        "<a href=\"javascript&colon;alert(1)\">x</a>",
        "<a href=\"  \x01javascript:alert(1)\">x</a>",
        "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
        "<div style=\"background-image: url(javascript:alert('XSS'))\">x</div>",
        "<TABLE BACKGROUND=\"javascript:alert('XSS')\"><tr><td>x</td></tr></TABLE>",
        "<DIV STYLE=\"width: expression(alert('XSS'));\">x</DIV>",
        "<!--[if gte IE 4]><SCRIPT>alert('XSS');</SCRIPT><![endif]-->",
        "<BASE HREF=\"javascript:alert('XSS');//\">",
        "<OBJECT TYPE=\"text/x-scriptlet\" DATA=\"http://xss.example/scriptlet.html\"></OBJECT>",
        "<EMBED SRC=\"data:image/svg+xml;base64,PHN2Zz4=\" AllowScriptAccess=\"always\"></EMBED>",
        "<xmp><p title=\"</xmp><img src=x onerror=alert(1)>\">",
        "<textarea><img src=x onerror=alert(1)></textarea>",
        "<title><img src=x onerror=alert(1)></title>",
        "<p>a<table><p>b<td>c</table>d",
        "<b><p>x</b>y</p>",
        "<a href=x><a href=y>z</a></a>",
        "<table><tr><td>a<tr><td>b</table>",
        "<td>cell outside</td><tr>row</tr>",
        "<ul><li>a<ul><li>b</ul><li>c</ul>",
        "<h1>a<h2>b</h1>",
        "<img src=x alt=\"a&quot;b\" title='&lt;i&gt;'>",
        "<a href=\"https://ok.example/?a=1&b=2#f\" title=\"t\" hreflang=en>ok</a>",
        "<blockquote cite=\"javascript:alert(1)\">q</blockquote>",
        "<q cite=\"/rel\">q</q>",
        "text with \0 nul and <b>\0bold</b>",
    ];
    for v in VECTORS {
        let c = check(v, &base, v);
        // (Payloads may remain as visible text; never inside a tag.)
        for tag in start_tags(&c.html).keys() {
            let t = tag.to_ascii_lowercase();
            assert!(!t.contains(" on"), "{v} → handler kept: {tag}");
            for scheme in ["javascript:", "vbscript:", "data:"] {
                assert!(
                    !t.contains(&format!("={scheme}")),
                    "{v} → {scheme} kept: {tag}"
                );
            }
        }
    }
}
