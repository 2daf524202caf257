//! Feed bytes → UTF-8, whatever they were sent in.
//!
//! The encoding is taken, in order, from a byte-order mark, the HTTP
//! `Content-Type` charset, the XML prolog's `encoding="…"`, else UTF-8 (and,
//! when the bytes are not valid UTF-8, the legacy encoding their content
//! points to: see `guess_legacy`). Labels follow the WHATWG
//! Encoding Standard, so `ISO-8859-1` decodes as windows-1252, as browsers do
//! (feeds labelled Latin-1 routinely contain curly quotes from 1252).
//!
//! One lie is common enough to undo: a feed labelled Latin-1/1252 (often by a
//! server default) whose bytes are valid UTF-8 with multi-byte sequences is
//! UTF-8. After decoding, the prolog's `encoding` is rewritten to `utf-8` so
//! the XML parser does not decode a second time.

use std::borrow::Cow;
use std::io::Read;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// The charset named in a `Content-Type` header value, if any.
pub fn header_charset(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']))
    })
}

/// An XML declaration near the start of ASCII-compatible bytes: its byte
/// range, and its `encoding` value with that value's range.
struct Decl<'a> {
    range: std::ops::Range<usize>,
    encoding: Option<(&'a str, std::ops::Range<usize>)>,
}

fn find_decl(bytes: &[u8]) -> Option<Decl<'_>> {
    let head = &bytes[..bytes.len().min(1024)];
    let start = head
        .windows(6)
        .position(|w| w.starts_with(b"<?xml") && w[5].is_ascii_whitespace())?;
    let end = start + head[start..].windows(2).position(|w| w == b"?>")? + 2;
    let decl = &head[start..end];
    let encoding = (|| {
        let at = decl.windows(8).position(|w| w == b"encoding")?;
        let mut i = at + 8;
        while i < decl.len() && (decl[i].is_ascii_whitespace() || decl[i] == b'=') {
            i += 1;
        }
        let quote = *decl.get(i)?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let vstart = i + 1;
        let vlen = decl[vstart..].iter().position(|&b| b == quote)?;
        let value = std::str::from_utf8(&decl[vstart..vstart + vlen]).ok()?;
        Some((value, start + vstart..start + vstart + vlen))
    })();
    Some(Decl {
        range: start..end,
        encoding,
    })
}

/// Makes the declaration of UTF-8 bytes true and parseable: its encoding
/// says utf-8, and it is the first thing in the document (one that comes
/// after other content is dropped; whitespace before it is dropped). XML
/// parsers switch decoders on the declaration and some fail (or panic)
/// when it is not at the very start.
fn fix_decl(out: &mut Vec<u8>) {
    let Some(d) = find_decl(out) else { return };
    if d.range.start > 0 {
        let (range, ws) = (
            d.range.clone(),
            out[..d.range.start].iter().all(u8::is_ascii_whitespace),
        );
        if ws {
            out.drain(..range.start);
        } else {
            out.drain(range);
        }
        return fix_decl_encoding(out);
    }
    fix_decl_encoding(out);
}

fn fix_decl_encoding(out: &mut Vec<u8>) {
    if let Some(Decl {
        encoding: Some((v, range)),
        ..
    }) = find_decl(out)
        && !v.eq_ignore_ascii_case("utf-8")
        && find_decl(out).is_some_and(|d| d.range.start == 0)
    {
        out.splice(range, b"utf-8".iter().copied());
    }
}

fn is_single_byte_western(e: &'static Encoding) -> bool {
    e == WINDOWS_1252 || e.name() == "ISO-8859-15" || e.name() == "ISO-8859-2"
}

/// The legacy encoding of bytes that are not UTF-8 and carry no usable
/// label, guessed the way Firefox does (chardetng, from the content):
/// windows-1252 for Western text, as before, but windows-1255 for Hebrew,
/// windows-1251 or KOI8-R for Cyrillic, Shift_JIS, GBK… instead of reading
/// them all as windows-1252 mojibake. The first 64 KiB are enough to tell.
fn guess_legacy(body: &[u8]) -> &'static Encoding {
    let mut d = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    d.feed(&body[..body.len().min(64 * 1024)], true);
    d.guess(None, chardetng::Utf8Detection::Deny)
}

/// How a body was decoded (for tests and diagnostics).
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub utf8: Cow<'a, [u8]>,
    pub encoding: &'static str,
}

/// Decodes feed bytes to UTF-8 (see the module notes for the order of
/// evidence). Invalid sequences become U+FFFD rather than failing the feed.
pub fn to_utf8<'a>(bytes: &'a [u8], content_type: Option<&str>) -> Decoded<'a> {
    let (enc, body) = match Encoding::for_bom(bytes) {
        Some((e, n)) => (Some(e), &bytes[n..]),
        None => (None, bytes),
    };
    let from_bom = enc.is_some();
    let header = content_type
        .and_then(header_charset)
        .and_then(|l| Encoding::for_label(l.as_bytes()));
    let decl = if enc.is_none() || enc == Some(UTF_8) {
        find_decl(body)
    } else {
        None
    };
    let prolog = decl.as_ref().and_then(|d| d.encoding.clone());
    let declared = prolog
        .as_ref()
        .and_then(|(l, _)| Encoding::for_label(l.as_bytes()));
    // A UTF-16 label with no BOM in an ASCII-readable prolog is a lie.
    let declared = declared.filter(|e| *e != UTF_16LE && *e != UTF_16BE);
    let header = header.filter(|e| *e != UTF_16LE && *e != UTF_16BE);
    let looks_json = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{' || *b == b'[');
    let mut chosen = enc
        .or(if looks_json { Some(UTF_8) } else { None })
        .or(header)
        .or(declared)
        .unwrap_or(UTF_8);
    let valid_utf8 = std::str::from_utf8(body).is_ok();
    if !from_bom && is_single_byte_western(chosen) && valid_utf8 && !body.is_ascii() {
        chosen = UTF_8;
    }
    if !from_bom && chosen == UTF_8 && !valid_utf8 && !looks_json {
        // Labelled (or defaulted to) UTF-8 but it is not: trust whichever
        // other label names a legacy encoding, else guess as browsers do.
        chosen = [declared, header]
            .into_iter()
            .flatten()
            .find(|e| *e != UTF_8)
            .unwrap_or_else(|| guess_legacy(body));
    }
    let decl_ok = decl.as_ref().is_none_or(|d| {
        d.range.start == 0
            && d.encoding
                .as_ref()
                .is_none_or(|(l, _)| l.eq_ignore_ascii_case("utf-8"))
    });
    if chosen == UTF_8 && valid_utf8 && decl_ok {
        return Decoded {
            utf8: Cow::Borrowed(body),
            encoding: UTF_8.name(),
        };
    }
    let mut out = if chosen == UTF_8 && valid_utf8 {
        body.to_vec()
    } else {
        let (text, _) = chosen.decode_without_bom_handling(body);
        text.into_owned().into_bytes()
    };
    fix_decl(&mut out);
    Decoded {
        utf8: Cow::Owned(out),
        encoding: chosen.name(),
    }
}

/// Gzip bodies served without `Content-Encoding` (seen in the wild): the
/// decompressed bytes, at most `limit` of them, else `None`.
pub fn gunzip_sniffed(bytes: &[u8], limit: u64) -> Option<Result<Vec<u8>, u64>> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return None;
    }
    let mut out = Vec::new();
    let mut dec = flate2::read::MultiGzDecoder::new(bytes).take(limit + 1);
    match dec.read_to_end(&mut out) {
        Ok(_) if out.len() as u64 > limit => Some(Err(limit)),
        Ok(_) => Some(Ok(out)),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(bytes: &[u8], ct: Option<&str>) -> (String, &'static str) {
        let d = to_utf8(bytes, ct);
        (String::from_utf8(d.utf8.into_owned()).unwrap(), d.encoding)
    }

    #[test]
    fn prolog_latin1_is_decoded_and_relabelled() {
        let b = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss>caf\xe9 \x93q\x94</rss>";
        let (s, e) = dec(b, None);
        assert_eq!(e, "windows-1252");
        assert_eq!(
            s,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss>caf\u{e9} \u{201c}q\u{201d}</rss>"
        );
    }

    #[test]
    fn header_beats_prolog_and_bom_beats_both() {
        let b = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><rss>\xe9</rss>";
        assert!(
            dec(b, Some("text/xml; charset=windows-1252"))
                .0
                .contains('\u{e9}')
        );
        let mut u16 = vec![0xff, 0xfe];
        for c in "<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss>é</rss>".encode_utf16() {
            u16.extend_from_slice(&c.to_le_bytes());
        }
        let (s, e) = dec(&u16, Some("text/xml; charset=iso-8859-1"));
        assert_eq!(e, "UTF-16LE");
        assert_eq!(s, "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss>é</rss>");
    }

    #[test]
    fn utf8_labelled_latin1_and_unlabelled_1252() {
        // Declares Latin-1, is UTF-8: keep the UTF-8.
        let b = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss>café</rss>".as_bytes();
        assert_eq!(
            dec(b, None).0,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss>café</rss>"
        );
        // No label, not UTF-8: windows-1252.
        assert_eq!(dec(b"<rss>caf\xe9</rss>", None).0, "<rss>café</rss>");
        // Plain UTF-8 is borrowed, untouched.
        let d = to_utf8("<rss>é</rss>".as_bytes(), Some("application/rss+xml"));
        assert!(matches!(d.utf8, Cow::Borrowed(_)));
        // A declaration after a comment is dropped; whitespace before one is.
        assert_eq!(
            dec(
                b"<!-- c --><?xml version=\"1.0\" encoding=\"utf-8\"?><rss/>",
                None
            )
            .0,
            "<!-- c --><rss/>"
        );
        assert_eq!(
            dec(
                b"\n <?xml version=\"1.0\" encoding=\"latin1\"?><rss>\xe9</rss>",
                None
            )
            .0,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss>\u{e9}</rss>"
        );
    }
}
