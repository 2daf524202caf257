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
/// `<name attr="value">`, values quoted with `"`), each as its name and its
/// attributes with entity-decoded values.
fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        if rest.starts_with('/') {
            continue;
        }
        let end = rest.find([' ', '>', '/']).expect("serialised tag ends");
        let name = rest[..end].to_string();
        rest = &rest[end..];
        let mut attrs = Vec::new();
        loop {
            rest = rest.trim_start_matches([' ', '/']);
            if let Some(r) = rest.strip_prefix('>') {
                rest = r;
                break;
            }
            let eq = rest.find(['=', ' ', '>']).expect("attribute ends");
            let n = rest[..eq].to_string();
            let v = match rest[eq..].strip_prefix("=\"") {
                Some(after) => {
                    let close = after.find('"').expect("quoted value");
                    rest = &after[close + 1..];
                    html_escape::decode_html_entities(&after[..close]).into_owned()
                }
                None => {
                    rest = &rest[eq..];
                    String::new()
                }
            };
            attrs.push((n, v));
        }
        out.push((name, attrs));
    }
    out
}

/// Start tags as `name attr=value …` (attributes sorted), counted.
fn start_tags(html: &str) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for (name, attrs) in tags(html) {
        let mut a: Vec<String> = attrs.iter().map(|(n, v)| format!("{n}={v}")).collect();
        a.sort();
        *out.entry(format!("{name} {}", a.join(" "))).or_default() += 1;
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
/// differentials).
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

/// None of the classic vectors may leave anything ammonia would remove.
#[test]
fn classic_vectors_leave_nothing_active() {
    let base = url::Url::parse("https://feeds.example/").unwrap();
    for v in VECTORS {
        let c = check(v, &base, v);
        nothing_active(&c, v);
    }
}

/// Attributes a browser follows or loads as a URL.
const URL_ATTRIBUTES: &[&str] = &[
    "href",
    "src",
    "cite",
    "action",
    "formaction",
    "background",
    "poster",
    "srcset",
    "longdesc",
    "data",
    "codebase",
    "xlink:href",
    "ping",
];

/// No tag of `c` carries an event handler, and no URL attribute starts
/// with a script-capable scheme. (Payloads may remain as visible text or
/// inside a quoted `title`/`alt`, never as markup.)
fn nothing_active(c: &Cleaned, input: &str) {
    for (tag, attrs) in tags(&c.html) {
        for (n, v) in attrs {
            let n = n.to_ascii_lowercase();
            assert!(
                !n.starts_with("on"),
                "{input:?} → handler kept: <{tag} {n}>"
            );
            // (Text attributes such as `title` may say anything.)
            if !URL_ATTRIBUTES.contains(&n.as_str()) {
                continue;
            }
            let v: String = v
                .chars()
                .filter(|c| !c.is_whitespace() && !c.is_control())
                .collect::<String>()
                .to_ascii_lowercase();
            for scheme in ["javascript:", "vbscript:", "data:"] {
                assert!(
                    !v.starts_with(scheme),
                    "{input:?} → {scheme} kept: <{tag} {n}={v}>"
                );
            }
        }
    }
}

/// Pieces the mutation test builds fragments from: tag openings the
/// sanitiser drops with their content or keeps, raw-text and foreign
/// elements, comments and CDATA, entity and URL obfuscations, stray quotes
/// and brackets, control characters.
const PIECES: &[&str] = &[
    "<script>",
    "</script>",
    "<style>",
    "</style>",
    "<svg>",
    "</svg>",
    "<math>",
    "<mtext>",
    "<template>",
    "</template>",
    "<noscript>",
    "</noscript>",
    "<iframe src=x>",
    "<textarea>",
    "</textarea>",
    "<title>",
    "<xmp>",
    "<plaintext>",
    "<table>",
    "<tr>",
    "<td>",
    "</table>",
    "<p>",
    "</p>",
    "<b>",
    "</b>",
    "<i>",
    "<a href=\"",
    "<a href=",
    "<a title='",
    "</a>",
    "<img src=",
    "<img alt=\"",
    "<blockquote cite=",
    "<q cite=",
    "<div>",
    "</div>",
    "<ul><li>",
    "<pre>",
    "<code>",
    "<br/>",
    "<hr",
    "<!--",
    "-->",
    "--!>",
    "<![CDATA[",
    "]]>",
    "<!DOCTYPE x>",
    "<?xml x?>",
    "</",
    "<",
    ">",
    "/>",
    "\"",
    "'",
    "`",
    "=",
    " ",
    "\t",
    "\n",
    "\0",
    "\u{1}",
    "\u{feff}",
    "\u{2028}",
    "javascript:",
    "JaVaScRiPt:",
    "java\tscript:",
    "jav&#x09;ascript:",
    "&#106;avascript:",
    "javascript&colon;",
    "vbscript:",
    "data:text/html,",
    "alert(1)",
    " onerror=alert(1)",
    " onload=",
    " style=\"x:expression(1)\"",
    "&lt;",
    "&gt;",
    "&amp;",
    "&quot;",
    "&#0;",
    "&#x3c;",
    "&#60",
    "&nbsp",
    "&unknown;",
    "https://ok.example/a?b=1&c=2",
    "//evil.example/x",
    "/relative/path",
    "#frag",
    "text ",
    "déjà vu ",
    "😀",
];

/// The largest character boundary of `s` at or before `i`.
fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A small deterministic generator (xorshift64*): the same seed gives the
/// same fragments, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// Fuzzing on stable, with the oracle as the judge: fragments stitched from
/// `PIECES` and from the classic vectors, cut at random places. Each must
/// leave nothing ammonia would remove or reorder into markup, no active
/// attribute, and must sanitise to itself a second time (the stored HTML is
/// a fixed point: cleaning it again changes nothing, so agg's own
/// reading of what it wrote agrees with what it meant).
/// `AGG_SANITIZE_CASES` (default 4,000) and `AGG_SANITIZE_SEED` run it
/// longer or elsewhere, e.g. a million cases (about a minute here):
/// `AGG_SANITIZE_CASES=1000000 cargo test -p agg-fetch --test
/// sanitize_oracle mutated`.
#[test]
fn mutated_fragments_leave_nothing_active() {
    let base = url::Url::parse("https://feeds.example/dir/feed.xml").unwrap();
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let cases = env("AGG_SANITIZE_CASES", 4_000);
    let seed = env("AGG_SANITIZE_SEED", 0x5eed_0a66);
    let mut rng = Rng(seed | 1);
    let mut with_markup = 0usize;
    for case in 0..cases {
        let mut f = String::new();
        for _ in 0..1 + rng.below(24) {
            let piece = PIECES[rng.below(PIECES.len())];
            f.push_str(piece);
        }
        if rng.below(4) == 0 {
            // A prefix of a classic vector, spliced in at a random place.
            let v = VECTORS[rng.below(VECTORS.len())];
            let (cut, at) = (rng.below(v.len() + 1), rng.below(f.len() + 1));
            let (cut, at) = (floor_char(v, cut), floor_char(&f, at));
            f.insert_str(at, &v[..cut]);
        }
        let what = format!("case {case} (seed {seed:#x}): {f:?}");
        let c = check(&f, &base, &what);
        nothing_active(&c, &f);
        let again = clean(&c.html, Some(&base));
        assert_eq!(again.html, c.html, "{what}: a second pass changed the HTML");
        with_markup += usize::from(c.html.contains('<'));
    }
    assert!(
        with_markup * 4 > cases as usize,
        "only {with_markup} of {cases} fragments kept markup: the generator is too weak"
    );
}
