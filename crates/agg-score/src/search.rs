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
pub fn keyword_match(query: &str, title: &str, text: &str) -> f32 {
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
