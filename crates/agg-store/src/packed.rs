//! Item bodies (plain text and sanitised HTML) packed for SQLite.
//!
//! Bodies are most of what an ingest writes (45 of the 63 MB the ingest
//! benchmark stored), and SQLite writes each page twice (WAL, then the
//! database). Long bodies are stored as a BLOB: one format byte, then an
//! LZ4 block; short or incompressible ones stay TEXT. SQLite keeps either
//! in a TEXT column, so databases written before this read as they are and
//! nothing needs migrating. PostgreSQL compresses large values itself
//! (TOAST) and stores plain text.

/// Bodies shorter than this stay text: LZ4 saves little on them.
const MIN_PACKED: usize = 256;
/// The format byte of an LZ4 block with its length prepended.
const LZ4: u8 = 1;

/// A body as it is bound into an INSERT or UPDATE.
pub(crate) enum Body<'a> {
    Text(&'a str),
    Packed(Vec<u8>),
}

/// Packs `s` when that makes it smaller by a quarter or more.
pub(crate) fn pack(s: &str) -> Body<'_> {
    if s.len() < MIN_PACKED {
        return Body::Text(s);
    }
    let mut out = Vec::with_capacity(s.len() / 2 + 16);
    out.push(LZ4);
    out.extend_from_slice(&lz4_flex::compress_prepend_size(s.as_bytes()));
    if out.len() * 4 > s.len() * 3 {
        Body::Text(s)
    } else {
        Body::Packed(out)
    }
}

/// The text of a packed body.
pub(crate) fn unpack(b: &[u8]) -> anyhow::Result<String> {
    match b.split_first() {
        Some((&LZ4, rest)) => {
            let bytes = lz4_flex::decompress_size_prepended(rest)
                .map_err(|e| anyhow::anyhow!("a stored item body is damaged: {e}"))?;
            String::from_utf8(bytes)
                .map_err(|_| anyhow::anyhow!("a stored item body is not UTF-8 once unpacked"))
        }
        _ => anyhow::bail!("a stored item body has an unknown format"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bodies_pack_and_come_back() {
        let s = "<p>The harbour council met on Tuesday. </p>".repeat(40);
        let Body::Packed(p) = pack(&s) else {
            panic!("a long repetitive body stays text");
        };
        assert!(p.len() < s.len() / 4);
        assert_eq!(unpack(&p).unwrap(), s);
        assert!(matches!(pack("short"), Body::Text("short")));
        assert!(unpack(&[9, 1, 2]).is_err());
        assert!(unpack(&p[..p.len() / 2]).is_err());
    }
}
