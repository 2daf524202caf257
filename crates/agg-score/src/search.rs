//! Ranking for `agg search`: embedding similarity with a keyword boost.
//!
//! Embeddings find "what did I read about the chip export rules" even when the
//! words differ, but they are weak on exact names (a person, a product code)
//! that the model never saw. So the rank is the cosine similarity plus a boost
//! for the fraction of query words found verbatim in the title or text.

use crate::embed::cosine;

/// Weight of the keyword match fraction added to the cosine similarity.
pub const KEYWORD_BOOST: f32 = 0.3;

/// One candidate document.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a, K> {
    /// Caller's key (an item id).
    pub key: K,
    /// The item's embedding.
    pub embedding: &'a [f32],
    /// Title, for the keyword match.
    pub title: &'a str,
    /// Text, for the keyword match.
    pub text: &'a str,
}

/// A ranked result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<K> {
    /// The candidate's key.
    pub key: K,
    /// Final rank score (similarity + keyword boost).
    pub score: f32,
    /// Cosine similarity to the query.
    pub similarity: f32,
    /// Fraction (0..1) of query words found verbatim.
    pub keyword_match: f32,
}

/// Fraction of the query's words (case-insensitive, alphanumeric runs of 2+
/// chars) that occur as whole words in `title` or `text`.
///
/// Search calls this for every candidate it ranks (a few hundred items,
/// bodies of kilobytes), so the text is scanned once without building a
/// set of its words: a lower-cased copy is made only of a word that is not
/// ASCII, and the scan stops when every query word is found. Building the
/// set was 5–20 ms of a search on real feeds; the rule is the same (tested
/// against that implementation).
pub fn keyword_match(query: &str, title: &str, text: &str) -> f32 {
    let q: Vec<String> = words(query).map(str::to_lowercase).collect();
    if q.is_empty() {
        return 0.0;
    }
    let mut found = vec![false; q.len()];
    let mut left = q.len();
    for w in words(title).chain(words(text)) {
        let lower = (!w.is_ascii()).then(|| w.to_lowercase());
        for (i, qw) in q.iter().enumerate() {
            let same = match &lower {
                None => w.eq_ignore_ascii_case(qw),
                Some(l) => l == qw,
            };
            if same && !found[i] {
                found[i] = true;
                left -= 1;
            }
        }
        if left == 0 {
            break;
        }
    }
    (q.len() - left) as f32 / q.len() as f32
}

/// The words of `s` for [`keyword_match`]: alphanumeric runs of 2+ chars.
fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().nth(1).is_some())
}

/// The `limit` best candidates for a query (its text and its embedding), best first.
pub fn rank<'a, K>(
    query: &str,
    query_embedding: &[f32],
    candidates: impl IntoIterator<Item = Candidate<'a, K>>,
    limit: usize,
) -> Vec<Hit<K>> {
    let mut hits: Vec<Hit<K>> = candidates
        .into_iter()
        .map(|c| {
            let similarity = cosine(query_embedding, c.embedding);
            let keyword_match = keyword_match(query, c.title, c.text);
            Hit {
                key: c.key,
                score: similarity + KEYWORD_BOOST * keyword_match,
                similarity,
                keyword_match,
            }
        })
        .collect();
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    hits.truncate(limit);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule as first written: every word of the text lower-cased into
    /// a set. The oracle for the scan that replaced it.
    fn keyword_match_by_set(query: &str, title: &str, text: &str) -> f32 {
        let words = |s: &str| -> Vec<String> {
            s.split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.chars().count() >= 2)
                .map(str::to_lowercase)
                .collect()
        };
        let q = words(query);
        if q.is_empty() {
            return 0.0;
        }
        let mut doc = words(title);
        doc.extend(words(text));
        let doc: std::collections::HashSet<String> = doc.into_iter().collect();
        q.iter().filter(|w| doc.contains(*w)).count() as f32 / q.len() as f32
    }

    #[test]
    fn the_scan_agrees_with_the_set_on_random_texts() {
        // Words that differ only in case, in letters whose lower case is
        // longer or context-dependent (final sigma, dotted I, sharp s), in
        // accents, and short or repeated words.
        let pool = [
            "Rust",
            "rust",
            "RUST",
            "rusty",
            "ΟΔΟΣ",
            "οδος",
            "Οδός",
            "İstanbul",
            "istanbul",
            "STRASSE",
            "straße",
            "Straße",
            "café",
            "CAFÉ",
            "cafe",
            "a",
            "I",
            "İ",
            "x1",
            "X1",
            "2026",
            "über",
            "ÜBER",
            "naïve",
            "東京",
            "Ǆemal",
            "ǆemal",
        ];
        let seps = [" ", "-", ", ", "'", "…", "\n", "/"];
        let mut seed = 7u64;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let text = |len: usize, next: &mut dyn FnMut(usize) -> usize| -> String {
            (0..len)
                .map(|_| format!("{}{}", pool[next(pool.len())], seps[next(seps.len())]))
                .collect()
        };
        let mut matched = 0;
        for _ in 0..5000 {
            let (ql, tl, xl) = (next(4), next(6), next(30));
            let (q, title, body) = (
                text(ql, &mut next),
                text(tl, &mut next),
                text(xl, &mut next),
            );
            let want = keyword_match_by_set(&q, &title, &body);
            assert_eq!(
                keyword_match(&q, &title, &body),
                want,
                "{q:?} in {title:?} / {body:?}"
            );
            matched += usize::from(want > 0.0 && want < 1.0);
        }
        assert!(
            matched > 100,
            "too few partial matches to mean anything: {matched}"
        );
    }

    #[test]
    fn keyword_boost_finds_exact_names() {
        assert_eq!(
            keyword_match("Zyphra ZX-9", "Zyphra launches ZX-9", ""),
            1.0
        );
        assert_eq!(keyword_match("Zyphra", "Something else", "no"), 0.0);
        let e1 = [1.0, 0.0];
        let e2 = [0.9, 0.1];
        let hits = rank(
            "Zyphra",
            &[1.0, 0.0],
            [
                Candidate {
                    key: 1,
                    embedding: &e1,
                    title: "unrelated",
                    text: "",
                },
                Candidate {
                    key: 2,
                    embedding: &e2,
                    title: "Zyphra news",
                    text: "",
                },
            ],
            10,
        );
        assert_eq!(hits[0].key, 2);
    }
}
