//! HTML from outside (feed bodies, mails, scraped pages) made safe to show,
//! and its plain text for scoring — both in one pass over the markup.
//!
//! Why not a DOM: building an html5ever tree for every item, cleaning it and
//! serialising it again (ammonia) was more than half of agg's parse time,
//! and the plain text needed a second pass. Here a small tokenizer walks
//! the fragment once and *re-writes* it: every tag, attribute and text run
//! that reaches the output is emitted by this module from an allow-list,
//! with names we spell and values we escape. Nothing of the input is copied
//! through unexamined, so input this tokenizer reads differently from a
//! browser can only come out as escaped text or not at all — never as live
//! markup.
//!
//! What is kept (a subset of ammonia's default policy, which the tests use
//! as an oracle: ammonia finds nothing to remove in this module's output):
//!
//! - the text and structure tags of [`allowed`] with the attributes of
//!   [`attr_allowed`]; other tags are dropped and their text kept;
//! - nothing of `script`, `style`, `iframe`, `noscript`, `noembed`,
//!   `noframes`, `xmp`, `svg`, `math` and `template`: tags and content go;
//! - links and images whose URL is relative (made absolute against the
//!   base when there is one) or uses a scheme of [`URL_SCHEMES`];
//!   `javascript:`, `data:`, `vbscript:` and every other scheme are dropped,
//!   however the URL is obfuscated (entities, tabs, case: the URL is parsed
//!   as a browser parses it, by the `url` crate's WHATWG parser);
//! - links get `rel="noopener noreferrer"`;
//! - comments, doctypes and processing instructions are dropped.
//!
//! The output is balanced: end tags close only what this pass opened, and
//! whatever is still open at the end is closed. A few of HTML's implied end
//! tags are applied (`<p>` before a block, `<li>`, `<dt>`/`<dd>`, table
//! rows and cells, nested `<a>`) so common sloppy markup keeps its shape.

use std::borrow::Cow;

use url::Url;

/// A cleaned fragment: safe HTML to show and its plain text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// Allow-listed markup, balanced, URLs checked (and absolute when a base
    /// was given).
    pub html: String,
    /// The words a reader sees: tags removed (with the content of scripts,
    /// styles and the like), entities decoded, whitespace collapsed; block
    /// boundaries become spaces, inline tags join the words around them.
    pub text: String,
}

/// URL schemes a kept `href`/`src`/`cite` may use (relative URLs are kept
/// too). The same list as ammonia's default.
pub const URL_SCHEMES: &[&str] = &[
    "bitcoin",
    "ftp",
    "ftps",
    "geo",
    "http",
    "https",
    "im",
    "irc",
    "ircs",
    "magnet",
    "mailto",
    "mms",
    "mx",
    "news",
    "nntp",
    "openpgp4fpr",
    "sip",
    "sms",
    "smsto",
    "ssh",
    "tel",
    "url",
    "webcal",
    "wtai",
    "xmpp",
];

/// Cleans an HTML fragment; relative URLs resolve against `base`.
pub fn clean(html: &str, base: Option<&Url>) -> Cleaned {
    let mut w = Writer {
        html: Some(String::with_capacity(html.len())),
        text: Text::with_capacity(html.len() / 2),
        base,
        open: Vec::new(),
    };
    run(html, &mut w);
    w.close_all();
    Cleaned {
        html: w.html.unwrap_or_default(),
        text: w.text.s,
    }
}

/// Plain text of an HTML fragment (the [`Cleaned::text`] of [`clean`],
/// without building the HTML).
pub fn text_of(html: &str) -> String {
    // Most titles and many bodies are plain text: nothing to parse.
    if !html.contains(['<', '&']) && !html.contains(['\0', BOM]) && !has_c1(html) {
        let mut t = Text::with_capacity(html.len());
        t.push(html);
        return t.s;
    }
    let mut w = Writer {
        html: None,
        text: Text::with_capacity(html.len()),
        base: None,
        open: Vec::new(),
    };
    run(html, &mut w);
    w.text.s
}

/// A byte-order mark (U+FEFF) is dropped from text: it is an encoding
/// artefact (a file's start pasted into an entry), invisible, and an HTML
/// parser drops it at the start of its input, so keeping it would make the
/// same body compare unequal after another pass through a parser.
const BOM: char = '\u{feff}';

/// How the tokenizer treats an element's name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Kept (with its allowed attributes). The name is our spelling.
    Allowed(&'static str),
    /// Dropped with everything inside; its content is raw text up to the
    /// matching end tag (script, style…), so tags inside are not tags.
    DropRaw(&'static str),
    /// Dropped with everything inside, nested elements counted (svg…).
    DropNested(&'static str),
    /// Dropped; content is text up to the matching end tag (title, textarea).
    Rcdata(&'static str),
    /// Dropped, content kept.
    Other,
}

/// Names are matched lower-cased in a small buffer; longer ones are
/// unknown tags.
const NAME_MAX: usize = 16;

fn kind(name: &[u8]) -> Kind {
    use Kind::*;
    let mut buf = [0u8; NAME_MAX];
    if name.len() > NAME_MAX {
        return Other;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    match &buf[..name.len()] {
        b"script" => DropRaw("script"),
        b"style" => DropRaw("style"),
        b"iframe" => DropRaw("iframe"),
        b"noscript" => DropRaw("noscript"),
        b"noembed" => DropRaw("noembed"),
        b"noframes" => DropRaw("noframes"),
        b"xmp" => DropRaw("xmp"),
        b"svg" => DropNested("svg"),
        b"math" => DropNested("math"),
        b"template" => DropNested("template"),
        b"title" => Rcdata("title"),
        b"textarea" => Rcdata("textarea"),
        n => allowed(n).map_or(Other, Allowed),
    }
}

/// The elements kept: ammonia's default list less `area`, `map` (image maps
/// need attributes neither policy keeps).
fn allowed(n: &[u8]) -> Option<&'static str> {
    Some(match n {
        b"a" => "a",
        b"abbr" => "abbr",
        b"acronym" => "acronym",
        b"article" => "article",
        b"aside" => "aside",
        b"b" => "b",
        b"bdi" => "bdi",
        b"bdo" => "bdo",
        b"blockquote" => "blockquote",
        b"br" => "br",
        b"caption" => "caption",
        b"center" => "center",
        b"cite" => "cite",
        b"code" => "code",
        b"col" => "col",
        b"colgroup" => "colgroup",
        b"data" => "data",
        b"dd" => "dd",
        b"del" => "del",
        b"details" => "details",
        b"dfn" => "dfn",
        b"div" => "div",
        b"dl" => "dl",
        b"dt" => "dt",
        b"em" => "em",
        b"figcaption" => "figcaption",
        b"figure" => "figure",
        b"footer" => "footer",
        b"h1" => "h1",
        b"h2" => "h2",
        b"h3" => "h3",
        b"h4" => "h4",
        b"h5" => "h5",
        b"h6" => "h6",
        b"header" => "header",
        b"hgroup" => "hgroup",
        b"hr" => "hr",
        b"i" => "i",
        b"img" => "img",
        b"ins" => "ins",
        b"kbd" => "kbd",
        b"li" => "li",
        b"mark" => "mark",
        b"nav" => "nav",
        b"ol" => "ol",
        b"p" => "p",
        b"pre" => "pre",
        b"q" => "q",
        b"rp" => "rp",
        b"rt" => "rt",
        b"rtc" => "rtc",
        b"ruby" => "ruby",
        b"s" => "s",
        b"samp" => "samp",
        b"small" => "small",
        b"span" => "span",
        b"strike" => "strike",
        b"strong" => "strong",
        b"sub" => "sub",
        b"summary" => "summary",
        b"sup" => "sup",
        b"table" => "table",
        b"tbody" => "tbody",
        b"td" => "td",
        b"th" => "th",
        b"thead" => "thead",
        b"time" => "time",
        b"tr" => "tr",
        b"tt" => "tt",
        b"u" => "u",
        b"ul" => "ul",
        b"var" => "var",
        b"wbr" => "wbr",
        _ => return None,
    })
}

/// Elements without content or end tag.
fn is_void(tag: &str) -> bool {
    matches!(tag, "br" | "col" | "hr" | "img" | "wbr")
}

/// Tags that do not separate words in the plain text (`<b>polite</b>.`);
/// every other tag, known or not, does.
fn is_inline(name: &[u8]) -> bool {
    const INLINE: &[&[u8]] = &[
        b"a", b"abbr", b"b", b"bdi", b"bdo", b"cite", b"code", b"data", b"dfn", b"em", b"font",
        b"i", b"kbd", b"mark", b"q", b"s", b"samp", b"small", b"span", b"strike", b"strong",
        b"sub", b"sup", b"time", b"tt", b"u", b"var",
    ];
    INLINE.iter().any(|t| t.eq_ignore_ascii_case(name))
}

/// The attribute `attr` (lower-case) is kept on `tag`: `lang` and `title`
/// anywhere, and per element the same lists as ammonia's default.
fn attr_allowed(tag: &str, attr: &str) -> bool {
    if matches!(attr, "lang" | "title") {
        return true;
    }
    const CELL: &[&str] = &["align", "char", "charoff"];
    let list: &[&str] = match tag {
        "a" => &["href", "hreflang"],
        "bdo" => &["dir"],
        "blockquote" | "q" => &["cite"],
        "col" | "colgroup" => &["align", "char", "charoff", "span"],
        "del" | "ins" => &["cite", "datetime"],
        "hr" => &["align", "size", "width"],
        "img" => &["align", "alt", "height", "src", "width"],
        "ol" => &["start"],
        "table" => &["align", "char", "charoff", "summary"],
        "tbody" | "thead" | "tr" => CELL,
        "td" => &["align", "char", "charoff", "colspan", "headers", "rowspan"],
        "th" => &[
            "align", "char", "charoff", "colspan", "headers", "rowspan", "scope",
        ],
        _ => &[],
    };
    list.contains(&attr)
}

/// Attributes holding a URL, checked by [`clean_url`].
fn is_url_attr(attr: &str) -> bool {
    matches!(attr, "href" | "src" | "cite")
}

/// A URL attribute's value as it may be written out, or `None` to drop the
/// attribute. The value is parsed as a browser parses it (the WHATWG
/// algorithm strips tabs, newlines and leading control characters, so
/// `jav&#x09;ascript:` is `javascript:`), then: an absolute URL must use a
/// scheme of [`URL_SCHEMES`]; a relative one is resolved against `base`, or
/// kept as written without one.
fn clean_url<'a>(value: &'a str, base: Option<&Url>) -> Option<Cow<'a, str>> {
    if plain_http_url(value) {
        return Some(Cow::Borrowed(value));
    }
    match Url::parse(value) {
        Ok(u) => URL_SCHEMES
            .contains(&u.scheme())
            .then(|| Cow::Owned(u.into())),
        Err(url::ParseError::RelativeUrlWithoutBase) => match base {
            Some(b) => b.join(value).ok().map(|u| Cow::Owned(u.into())),
            None => Some(Cow::Borrowed(value.trim())),
        },
        Err(_) => None,
    }
}

/// An absolute http(s) URL with a plain host name, which the WHATWG
/// parser accepts whatever its path and query hold: kept as written without
/// a full parse (most links are such URLs, and parsing them all was a
/// twentieth of the parse time). Anything else — IP addresses, ports,
/// user info, IDNA, odd characters — takes the full parse.
fn plain_http_url(v: &str) -> bool {
    let Some(rest) = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
    else {
        return false;
    };
    let host = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !host.starts_with(['.', '-'])
        && !host.contains("..")
        && !host
            .as_bytes()
            .windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"xn--"))
        // A last label that is a number (decimal, or 0x hex) would make
        // the host an IPv4 address.
        && host.rsplit('.').find(|l| !l.is_empty()).is_some_and(|l| {
            let hex = l.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"))
                && l[2..].bytes().all(|b| b.is_ascii_hexdigit());
            !hex && !l.bytes().all(|b| b.is_ascii_digit())
        })
}

/// The plain text being built, whitespace collapsed as it goes.
struct Text {
    s: String,
    /// A separator is owed before the next word.
    space: bool,
}

impl Text {
    fn with_capacity(n: usize) -> Self {
        Text {
            s: String::with_capacity(n),
            space: false,
        }
    }

    fn sep(&mut self) {
        self.space = true;
    }

    fn push(&mut self, t: &str) {
        // Bytes, not chars: ASCII whitespace is tested per byte, and only a
        // non-ASCII byte decodes its character (U+00A0, U+3000… are
        // whitespace too, as `char::is_whitespace` has it).
        let b = t.as_bytes();
        let (mut i, mut word) = (0, 0);
        while i < b.len() {
            let (ws, len) = match b[i] {
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' => (true, 1),
                c if c < 0x80 => (false, 1),
                _ => {
                    let c = t[i..].chars().next().expect("char boundary");
                    (c.is_whitespace(), c.len_utf8())
                }
            };
            if ws {
                self.word(&t[word..i]);
                self.space = true;
                word = i + len;
            }
            i += len;
        }
        self.word(&t[word..]);
    }

    fn word(&mut self, w: &str) {
        if w.is_empty() {
            return;
        }
        if self.space && !self.s.is_empty() {
            self.s.push(' ');
        }
        self.s.push_str(w);
        self.space = false;
    }
}

/// Where cleaned output goes: HTML (when wanted) and text.
struct Writer<'b> {
    html: Option<String>,
    text: Text,
    base: Option<&'b Url>,
    /// Allowed elements opened and not yet closed, innermost last.
    open: Vec<&'static str>,
}

/// `&`, `<`, `>` (and `"` in attributes) escaped; NUL dropped.
fn escape_into(out: &mut String, s: &str, attr: bool) {
    let b = s.as_bytes();
    let mut last = 0;
    // Text (the bulk) has no NUL left (see `Writer::text`): three bytes to
    // look for, found with memchr; attribute values are short.
    let next = |from: usize| {
        if attr {
            b[from..]
                .iter()
                .position(|c| matches!(c, b'&' | b'<' | b'>' | b'"' | 0))
        } else {
            memchr::memchr3(b'&', b'<', b'>', &b[from..])
        }
        .map(|k| from + k)
    };
    while let Some(i) = next(last) {
        out.push_str(&s[last..i]);
        out.push_str(match b[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "",
        });
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// Whether `s` holds a C1 control code (U+0080–U+009F; `C2 80`–`C2 9F` in
/// UTF-8).
fn has_c1(s: &str) -> bool {
    let b = s.as_bytes();
    memchr::memchr_iter(0xc2, b).any(|i| b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
}

/// C1 control codes read as windows-1252 reads the same byte: `&#146;` is
/// ’ in every browser (the HTML standard maps numeric references to these
/// codes so), and feeds written on Windows are full of such references,
/// while XML parsers and entity decoders hand over the control code U+0092.
/// No text means a C1 control. The five codes windows-1252 leaves
/// unassigned stay as they are.
fn c1_as_1252(s: &str) -> Cow<'_, str> {
    if !has_c1(s) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match u8::try_from(u32::from(c)) {
                Ok(b @ 0x80..=0x9f) => encoding_rs::WINDOWS_1252
                    .decode_without_bom_handling(&[b])
                    .0
                    .chars()
                    .next()
                    .unwrap_or(c),
                _ => c,
            })
            .collect(),
    )
}

fn decode(s: &str) -> Cow<'_, str> {
    if s.contains('&') {
        html_escape::decode_html_entities(s)
    } else {
        Cow::Borrowed(s)
    }
}

impl Writer<'_> {
    /// Text as it stands in the markup (entities not yet decoded).
    fn text(&mut self, raw: &str) {
        if raw.is_empty() {
            return;
        }
        let mut t = decode(raw);
        if t.contains('\0') || t.contains(BOM) {
            t = Cow::Owned(t.replace(['\0', BOM], ""));
        }
        if has_c1(&t) {
            t = Cow::Owned(c1_as_1252(&t).into_owned());
        }
        self.text.push(&t);
        if let Some(h) = &mut self.html {
            escape_into(h, &t, false);
        }
    }

    fn close_top(&mut self) {
        if let Some(t) = self.open.pop()
            && let Some(h) = &mut self.html
        {
            h.push_str("</");
            h.push_str(t);
            h.push('>');
        }
    }

    fn close_all(&mut self) {
        while !self.open.is_empty() {
            self.close_top();
        }
    }

    /// Closes the innermost open `tag` if one is open above every element
    /// of `stop` (and whatever was opened inside it).
    fn close_open(&mut self, tags: &[&str], stop: &[&str]) {
        for i in (0..self.open.len()).rev() {
            let t = self.open[i];
            if tags.contains(&t) {
                while self.open.len() > i {
                    self.close_top();
                }
                return;
            }
            if stop.contains(&t) {
                return;
            }
        }
    }

    /// The end tags HTML implies before `tag` opens.
    fn implied_ends(&mut self, tag: &str) {
        const SCOPE: &[&str] = &["table", "td", "th", "caption"];
        match tag {
            "address" | "article" | "aside" | "blockquote" | "center" | "details" | "div"
            | "dl" | "figcaption" | "figure" | "footer" | "header" | "hgroup" | "hr" | "nav"
            | "ol" | "p" | "pre" | "summary" | "table" | "ul" | "h1" | "h2" | "h3" | "h4"
            | "h5" | "h6" => {
                self.close_open(&["p"], SCOPE);
                // A table opened inside a table but not inside a cell ends
                // the open table first (HTML does not nest them there).
                if tag == "table"
                    && self
                        .open
                        .iter()
                        .rev()
                        .find(|t| SCOPE.contains(t))
                        .is_some_and(|t| *t == "table")
                {
                    self.end("table");
                }
                if tag.len() == 2
                    && tag.starts_with('h')
                    && self
                        .open
                        .last()
                        .is_some_and(|t| t.len() == 2 && t.starts_with('h') && *t != "hr")
                {
                    self.close_top();
                }
            }
            "li" => self.close_open(&["li"], &["ul", "ol", "table", "td", "th"]),
            "dt" | "dd" => self.close_open(&["dt", "dd"], &["dl", "table", "td", "th"]),
            "tr" => self.close_open(&["tr"], &["table"]),
            "td" | "th" => self.close_open(&["td", "th"], &["tr", "table"]),
            "a" => self.close_open(&["a"], &[]),
            _ => {}
        }
    }

    fn start(&mut self, tag: &'static str, attrs: &[(&str, &str)]) {
        // Table parts outside a table are ignored by HTML parsers: drop them
        // here too, so what is written is what a browser builds.
        if matches!(
            tag,
            "caption" | "col" | "colgroup" | "tbody" | "thead" | "tr" | "td" | "th"
        ) && !self.open.contains(&"table")
        {
            return;
        }
        self.implied_ends(tag);
        let base = self.base;
        if let Some(h) = &mut self.html {
            h.push('<');
            h.push_str(tag);
            // First of a name wins, as in HTML; names were lower-cased.
            for (k, (name, raw)) in attrs.iter().enumerate() {
                if !attr_allowed(tag, name) || attrs[..k].iter().any(|(n, _)| n == name) {
                    continue;
                }
                let value = decode(raw);
                let value = if is_url_attr(name) {
                    match clean_url(&value, base) {
                        Some(v) => Cow::Owned(v.into_owned()),
                        None => continue,
                    }
                } else {
                    value
                };
                h.push(' ');
                h.push_str(name);
                h.push_str("=\"");
                escape_into(h, &value, true);
                h.push('"');
            }
            if tag == "a" {
                h.push_str(" rel=\"noopener noreferrer\"");
            }
            h.push('>');
        }
        if !is_void(tag) {
            self.open.push(tag);
        }
    }

    fn end(&mut self, tag: &'static str) {
        if let Some(i) = self.open.iter().rposition(|t| *t == tag) {
            while self.open.len() > i {
                self.close_top();
            }
        }
    }
}

/// A tag as read: name, attributes (names lower-cased, values raw), and
/// where it ends.
struct Tag<'a> {
    name: &'a str,
    self_closing: bool,
    /// Index just past the closing `>`.
    next: usize,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

/// Reads the tag starting at `s[at] == '<'` (followed by a letter, or by
/// `/` and a letter). `None` when the input ends inside it. Attribute names
/// are lower-cased into `names`, and `attrs` gets (name range in `names`,
/// raw value) pairs.
fn read_tag<'a>(
    s: &'a str,
    at: usize,
    attrs: &mut Vec<(usize, usize, &'a str)>,
    names: &mut String,
) -> Option<Tag<'a>> {
    let b = s.as_bytes();
    let mut i = at + 1;
    let end_tag = b[i] == b'/';
    if end_tag {
        i += 1;
    }
    let name_start = i;
    while i < b.len() && !is_ws(b[i]) && b[i] != b'/' && b[i] != b'>' {
        i += 1;
    }
    let name = &s[name_start..i];
    attrs.clear();
    names.clear();
    let mut self_closing = false;
    loop {
        while i < b.len() && (is_ws(b[i]) || b[i] == b'/') {
            self_closing = b[i] == b'/';
            i += 1;
        }
        let c = *b.get(i)?;
        if c == b'>' {
            return Some(Tag {
                name,
                self_closing,
                next: i + 1,
            });
        }
        self_closing = false;
        // An attribute name runs to whitespace, `/`, `>` or `=` (a leading
        // `=` belongs to the name, as in HTML).
        let n0 = i;
        i += 1;
        while i < b.len() && !is_ws(b[i]) && !matches!(b[i], b'/' | b'>' | b'=') {
            i += 1;
        }
        let from = names.len();
        for ch in s[n0..i].chars() {
            names.push(ch.to_ascii_lowercase());
        }
        let to = names.len();
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        let mut value = "";
        if b.get(i) == Some(&b'=') {
            i += 1;
            while i < b.len() && is_ws(b[i]) {
                i += 1;
            }
            match b.get(i)? {
                q @ (b'"' | b'\'') => {
                    let close = memchr::memchr(*q, &b[i + 1..])?;
                    value = &s[i + 1..i + 1 + close];
                    i += close + 2;
                }
                _ => {
                    let v0 = i;
                    while i < b.len() && !is_ws(b[i]) && b[i] != b'>' {
                        i += 1;
                    }
                    value = &s[v0..i];
                }
            }
        }
        attrs.push((from, to, value));
    }
}

/// Index of the `<` of the end tag `</name` (any case, followed by
/// whitespace, `/` or `>`) at or after `from`, if any.
fn find_end_tag(s: &str, from: usize, name: &str) -> Option<usize> {
    let b = s.as_bytes();
    let n = name.len();
    let mut i = from;
    while let Some(k) = memchr::memchr(b'<', &b[i..]) {
        let at = i + k;
        let after = at + 2 + n;
        if b.get(at + 1) == Some(&b'/')
            && b.len() >= after
            && b[at + 2..after].eq_ignore_ascii_case(name.as_bytes())
            && b.get(after)
                .is_none_or(|c| is_ws(*c) || matches!(c, b'/' | b'>'))
        {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// Index just past the `>` at or after `from`, or the end of `s`.
fn past_gt(s: &str, from: usize) -> usize {
    memchr::memchr(b'>', &s.as_bytes()[from.min(s.len())..]).map_or(s.len(), |k| from + k + 1)
}

/// The tokenizer: text runs go to `w.text`, tags to `w.start`/`w.end`.
fn run(s: &str, w: &mut Writer<'_>) {
    let b = s.as_bytes();
    let mut t = Tokenizer {
        s,
        i: 0,
        attrs: Vec::new(),
        names: String::new(),
        skip: None,
    };
    while t.i < b.len() {
        let Some(k) = memchr::memchr(b'<', &b[t.i..]) else {
            t.text(w, &s[t.i..]);
            break;
        };
        t.text(w, &s[t.i..t.i + k]);
        t.i += k;
        let rest = &b[t.i + 1..];
        match rest.first() {
            Some(b'!') if rest.starts_with(b"!--") => t.comment(),
            Some(b'!' | b'?') => t.i = past_gt(s, t.i + 1),
            Some(b'/') if rest.get(1).is_some_and(u8::is_ascii_alphabetic) => t.end_tag(w),
            Some(b'/') => t.bogus_end_tag(w, rest),
            Some(c) if c.is_ascii_alphabetic() => t.start_tag(w),
            // `<` before anything else is text.
            _ => t.lt_as_text(w),
        }
    }
}

/// The tokenizer's state between markup constructs, so that each kind of
/// construct is read by a step of its own.
struct Tokenizer<'a> {
    s: &'a str,
    /// Where reading resumes.
    i: usize,
    /// The last tag's attributes, buffers kept across tags (see [`read_tag`]).
    attrs: Vec<(usize, usize, &'a str)>,
    names: String,
    /// Inside a dropped element whose nested copies are counted (svg…).
    skip: Option<(&'static str, usize)>,
}

impl Tokenizer<'_> {
    /// Text goes out unless it is inside a dropped element.
    #[inline]
    fn text(&self, w: &mut Writer<'_>, text: &str) {
        if self.skip.is_none() {
            w.text(text);
        }
    }

    /// A `<` that starts nothing, or a tag the input ends inside: text.
    fn lt_as_text(&mut self, w: &mut Writer<'_>) {
        self.text(w, "<");
        self.i += 1;
    }

    /// A comment is skipped; `<!-->` and `<!--->` are empty ones.
    fn comment(&mut self) {
        let b = self.s.as_bytes();
        let body = self.i + 4;
        self.i = if b[body..].starts_with(b">") {
            body + 1
        } else if b[body..].starts_with(b"->") {
            body + 2
        } else {
            memchr::memmem::find(&b[body..], b"-->").map_or(b.len(), |e| body + e + 3)
        };
    }

    /// `</>` is nothing; `</` and a non-letter opens a bogus comment.
    fn bogus_end_tag(&mut self, w: &mut Writer<'_>, rest: &[u8]) {
        self.i = if rest.get(1) == Some(&b'>') {
            self.i + 3
        } else if rest.len() < 2 {
            self.text(w, "</");
            self.s.len()
        } else {
            past_gt(self.s, self.i + 2)
        };
    }

    /// An end tag closes what it names, or ends a dropped element.
    fn end_tag(&mut self, w: &mut Writer<'_>) {
        let Some(tag) = read_tag(self.s, self.i, &mut self.attrs, &mut self.names) else {
            // Input ends inside the tag: it is text.
            return self.lt_as_text(w);
        };
        self.i = tag.next;
        let k = kind(tag.name.as_bytes());
        if let Some((name, depth)) = &mut self.skip {
            if matches!(k, Kind::DropNested(n) if n == *name) {
                *depth -= 1;
                if *depth == 0 {
                    self.skip = None;
                }
            }
            return;
        }
        if !is_inline(tag.name.as_bytes()) {
            w.text.sep();
        }
        if let Kind::Allowed(t) = k {
            w.end(t);
        }
    }

    /// A start tag: written when allowed; for the elements dropped whole,
    /// their content is skipped (or, for RCDATA, kept as text).
    fn start_tag(&mut self, w: &mut Writer<'_>) {
        let s = self.s;
        let Some(tag) = read_tag(s, self.i, &mut self.attrs, &mut self.names) else {
            return self.lt_as_text(w);
        };
        self.i = tag.next;
        let k = kind(tag.name.as_bytes());
        if let Some((name, depth)) = &mut self.skip {
            if matches!(k, Kind::DropNested(n) if n == *name) && !tag.self_closing {
                *depth += 1;
            }
            return;
        }
        if !is_inline(tag.name.as_bytes()) {
            w.text.sep();
        }
        match k {
            Kind::Allowed(t) => {
                let pairs: Vec<(&str, &str)> = self
                    .attrs
                    .iter()
                    .map(|&(a, z, v)| (&self.names[a..z], v))
                    .collect();
                w.start(t, &pairs);
            }
            Kind::DropRaw(n) => {
                self.i = match find_end_tag(s, self.i, n) {
                    Some(e) => past_gt(s, e + 2),
                    None => s.len(),
                };
            }
            Kind::Rcdata(n) => {
                let e = find_end_tag(s, self.i, n);
                w.text(&s[self.i..e.unwrap_or(s.len())]);
                w.text.sep();
                self.i = e.map_or(s.len(), |e| past_gt(s, e + 2));
            }
            Kind::DropNested(n) => {
                if !tag.self_closing {
                    self.skip = Some((n, 1));
                }
            }
            Kind::Other => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://site.example/dir/page").unwrap()
    }

    fn html(s: &str) -> String {
        clean(s, Some(&base())).html
    }

    #[test]
    fn allowed_markup_is_kept_and_balanced() {
        assert_eq!(
            html("<p>Hello <b>bold</b> <i>it</p>"),
            "<p>Hello <b>bold</b> <i>it</i></p>"
        );
        assert_eq!(html("<P CLASS=x Title='t'>a"), "<p title=\"t\">a</p>");
        assert_eq!(html("a</b>b</div>"), "ab");
        assert_eq!(
            html("<ul><li>one<li>two</ul>"),
            "<ul><li>one</li><li>two</li></ul>"
        );
        assert_eq!(html("<p>one<p>two"), "<p>one</p><p>two</p>");
        assert_eq!(html("<p>a<div>b</div>"), "<p>a</p><div>b</div>");
        assert_eq!(html("x<br/>y<hr>"), "x<br>y<hr>");
    }

    #[test]
    fn scripts_styles_and_handlers_go() {
        let c = clean(
            "<p onclick=\"alert(1)\">ok</p><script>alert(2)</script><style>p{}</style>\
             <SCRIPT type=x>if (a</b) {}</SCRIPT >after<img src=x onerror=alert(3)>",
            Some(&base()),
        );
        assert_eq!(
            c.html,
            "<p>ok</p>after<img src=\"https://site.example/dir/x\">"
        );
        assert_eq!(c.text, "ok after");
        assert_eq!(
            html("<svg onload=alert(1)><script>x</script><p>in svg</p></svg>kept"),
            "kept"
        );
        assert_eq!(html("<svg/>kept"), "kept");
        assert_eq!(
            html("<iframe src=javascript:alert(1)>fallback</iframe>k"),
            "k"
        );
        assert_eq!(html("<script>never closed <p>gone"), "");
    }

    #[test]
    fn dangerous_urls_go_however_spelled() {
        for href in [
            "javascript:alert(1)",
            " JaVaScRiPt:alert(1)",
            "&#106;avascript:alert(1)",
            "&#x6A;avascript:alert(1)",
            "jav&#x09;ascript:alert(1)",
            "jav\nascript:alert(1)",
            "\u{1}javascript:alert(1)",
            "data:text/html;base64,PHNjcmlwdD4=",
            "vbscript:msgbox(1)",
        ] {
            let out = html(&format!("<a href=\"{href}\">t</a>"));
            assert_eq!(out, "<a rel=\"noopener noreferrer\">t</a>", "{href}");
        }
        assert_eq!(
            html("<a href='../up?q=1&amp;r=2'>t</a>"),
            "<a href=\"https://site.example/up?q=1&amp;r=2\" rel=\"noopener noreferrer\">t</a>"
        );
        assert_eq!(
            clean("<a href='rel/x'>t</a>", None).html,
            "<a href=\"rel/x\" rel=\"noopener noreferrer\">t</a>"
        );
        assert_eq!(
            html("<a href='mailto:a@b.example'>m</a>"),
            "<a href=\"mailto:a@b.example\" rel=\"noopener noreferrer\">m</a>"
        );
    }

    #[test]
    fn attribute_values_cannot_break_out() {
        assert_eq!(
            html("<img alt='\"><script>alert(1)</script>' src=a>"),
            "<img alt=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\" src=\"https://site.example/dir/a\">"
        );
        // A quote never closed: the input ends inside the tag, so it is text.
        assert_eq!(
            html("<img alt=\"x onerror=alert(1)>"),
            "&lt;img alt=\"x onerror=alert(1)&gt;"
        );
        assert_eq!(
            html("<a title=x title=y>t"),
            "<a title=\"x\" rel=\"noopener noreferrer\">t</a>"
        );
    }

    #[test]
    fn comments_and_odd_markup() {
        assert_eq!(html("a<!-- <script>x</script> -->b"), "ab");
        assert_eq!(html("a<!-->b<!--->c"), "abc");
        assert_eq!(html("a<!DOCTYPE html>b<?php x ?>c<![CDATA[d]]>e"), "abce");
        assert_eq!(html("1 < 2 & 3 > 2"), "1 &lt; 2 &amp; 3 &gt; 2");
        assert_eq!(html("a </> b <3 c"), "a  b &lt;3 c");
        // The tag's name is `scr<script`, unknown: dropped, as a browser would.
        assert_eq!(html("<scr<script>ipt>alert(1)</script>"), "ipt&gt;alert(1)");
        assert_eq!(
            html("<title>T &amp; <b>x</b></title>body"),
            "T &amp; &lt;b&gt;x&lt;/b&gt;body"
        );
    }

    #[test]
    fn text_follows_blocks_and_inlines() {
        assert_eq!(
            text_of("<p>Hello&nbsp;<b>world</b></p><script>x()</script><p>a &amp; b</p>"),
            "Hello world a & b"
        );
        assert_eq!(text_of("<b>polite</b>.<br>next"), "polite. next");
        assert_eq!(text_of("  plain \n text  "), "plain text");
        assert_eq!(text_of("x<unclosed"), "x<unclosed");
        assert_eq!(clean("<p>a</p>\n\n<p> b </p>", None).text, "a b");
    }
}
