//! Search in the UI: the interest classifier's semantic search (`agg
//! search`), with a keyword fallback when the sentence model is missing.
//!
//! The model is loaded once per server, on the first search (loading reads
//! ~25 MB and builds an ONNX Runtime session, which is too slow to do per
//! request and wasteful to do at start-up for a UI that may never search).
//! A failed load is remembered too: the page then says plainly that the
//! results are keyword matches and how to install the model, instead of
//! retrying the load on every request.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use agg_core::{Item, ItemQuery, Pipeline, Store};
use agg_score::{Device, EmbedConfig, Embedder, OrtEmbedder};
use tokio::sync::OnceCell;

/// Results shown per search.
pub const RESULTS: usize = 25;
/// Most recent items searched (a bound on the work per request).
pub const SEARCH_POOL: u64 = 20_000;
/// Lowest cosine similarity shown for an item that shares no word with the
/// query. MiniLM puts unrelated short news texts at about 0.0–0.15 from
/// each other, related ones at 0.3 and up; below the floor a "result" is
/// noise, and an honest "nothing matches" is more useful than 25 of them.
pub const MIN_SIMILARITY: f32 = 0.2;
/// Longest query embedded (characters); the model reads 256 tokens anyway.
pub const MAX_QUERY_CHARS: usize = 500;

/// The server's one embedder, loaded on first use.
pub struct Searcher {
    cfg: EmbedConfig,
    model: OnceCell<Result<Arc<OrtEmbedder>, String>>,
}

/// One search result.
pub struct Found {
    pub item: Item,
    pub similarity: Option<f32>,
    pub keyword_match: f32,
}

/// What a search returned, and how it was made.
pub struct Results {
    pub found: Vec<Found>,
    /// True when the model ranked them; false for keyword matches.
    pub semantic: bool,
    /// Shown above the results (the model could not be loaded, and why).
    pub note: Option<String>,
}

impl Searcher {
    /// Uses the model folder of the first `score` agent among the served
    /// pipelines (so search compares vectors made by the same model the
    /// pipeline stored), else the default folder. Always on the CPU: one
    /// short query does not need a GPU, and probing one takes seconds.
    pub fn for_pipelines(pipelines: &[Pipeline]) -> Searcher {
        let model_dir = pipelines.iter().find_map(|p| {
            let a = p.agents.iter().find(|a| a.kind == "score")?;
            let dir = a.options.get("model_dir")?.as_str()?;
            let base = p.file.parent().unwrap_or(std::path::Path::new("."));
            Some(base.join(dir))
        });
        Searcher {
            cfg: EmbedConfig {
                device: Device::Cpu,
                model_dir,
                intra_threads: Some(1),
                ..EmbedConfig::default()
            },
            model: OnceCell::new(),
        }
    }

    /// The embedder, loading it on the first call; the load's error (model
    /// not installed, runtime missing) on every call after a failed load.
    pub async fn embedder(&self) -> Result<Arc<OrtEmbedder>, String> {
        self.model
            .get_or_init(|| async {
                let cfg = self.cfg.clone();
                match tokio::task::spawn_blocking(move || OrtEmbedder::new(cfg)).await {
                    Ok(Ok(e)) => {
                        tracing::info!(model = e.model_id(), "search model loaded");
                        Ok(Arc::new(e))
                    }
                    Ok(Err(e)) => {
                        tracing::warn!("search falls back to keywords: {e}");
                        Err(e.to_string())
                    }
                    Err(e) => Err(format!("loading the model panicked: {e}")),
                }
            })
            .await
            .clone()
    }

    /// Searches the stored items for `query`.
    pub async fn search(&self, store: &dyn Store, query: &str) -> anyhow::Result<Results> {
        let query: String = query.trim().chars().take(MAX_QUERY_CHARS).collect();
        let items = store
            .list_items(&ItemQuery {
                limit: Some(SEARCH_POOL),
                ..ItemQuery::default()
            })
            .await?;
        match self.embedder().await {
            Ok(e) => {
                let q = query.clone();
                let e2 = e.clone();
                let qv = tokio::task::spawn_blocking(move || e2.embed(&[q.as_str()]))
                    .await??
                    .remove(0);
                let vectors = store.all_embeddings(e.model_id()).await?;
                Ok(Results {
                    found: rank(&query, Some(qv.as_slice()), items, &vectors),
                    semantic: true,
                    note: None,
                })
            }
            Err(why) => Ok(Results {
                found: rank(&query, None, items, &[]),
                semantic: false,
                note: Some(format!(
                    "The sentence model is not available, so these are keyword matches only \
                     (items that share the query's words, not its meaning). \
                     Install it with scripts/setup-model.sh and restart agg serve. ({why})"
                )),
            }),
        }
    }
}

/// Ranks `items`: by embedding similarity plus the keyword boost (as `agg
/// search` does) for items with a stored vector, by their words alone for
/// the rest (stored by pipelines without `score`) or when there is no
/// query vector. Items neither close in meaning ([`MIN_SIMILARITY`]) nor
/// sharing a word are left out.
pub fn rank(
    query: &str,
    query_vector: Option<&[f32]>,
    items: Vec<Item>,
    vectors: &[(i64, Vec<f32>)],
) -> Vec<Found> {
    use agg_score::search::{Candidate, KEYWORD_BOOST, keyword_match, rank as rank_vectors};
    let by_id: HashMap<i64, &Item> = items.iter().filter_map(|i| Some((i.id?, i))).collect();
    let mut scored: Vec<(i64, f32, Option<f32>, f32)> = Vec::new();
    let mut embedded = HashSet::new();
    if let Some(qv) = query_vector {
        let candidates = vectors.iter().filter_map(|(id, v)| {
            let item = by_id.get(id)?;
            Some(Candidate {
                key: *id,
                embedding: v.as_slice(),
                title: &item.title,
                text: &item.text,
            })
        });
        for h in rank_vectors(query, qv, candidates, RESULTS) {
            if h.similarity >= MIN_SIMILARITY || h.keyword_match > 0.0 {
                scored.push((h.key, h.score, Some(h.similarity), h.keyword_match));
            }
        }
        embedded.extend(vectors.iter().map(|(id, _)| *id));
    }
    for (id, item) in &by_id {
        if embedded.contains(id) {
            continue;
        }
        let k = keyword_match(query, &item.title, &item.text);
        if k > 0.0 {
            scored.push((*id, KEYWORD_BOOST * k, None, k));
        }
    }
    // Best first; equal scores newest first, so the order is stable.
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
    scored.truncate(RESULTS);
    let mut items: HashMap<i64, Item> =
        items.into_iter().filter_map(|i| Some((i.id?, i))).collect();
    scored
        .into_iter()
        .filter_map(|(id, _, similarity, keyword_match)| {
            Some(Found {
                item: items.remove(&id)?,
                similarity,
                keyword_match,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: i64, title: &str) -> Item {
        Item {
            id: Some(id),
            key: format!("k{id}"),
            source: "s".into(),
            title: title.into(),
            fetched: chrono::Utc::now(),
            ..Item::default()
        }
    }

    #[test]
    fn vectors_rank_by_meaning_and_unembedded_items_by_words() {
        let items = vec![
            item(1, "Compiler release"),
            item(2, "Football results"),
            item(3, "Rust news, never embedded"),
        ];
        let vectors = vec![(1, vec![1.0, 0.0]), (2, vec![0.0, 1.0])];
        let found = rank("rust", Some(&[0.9f32, 0.1][..]), items.clone(), &vectors);
        let ids: Vec<i64> = found.iter().map(|f| f.item.id.unwrap()).collect();
        // Item 1 wins on meaning; item 3 is found by its word; item 2 is
        // too far in meaning (cosine 0.11) and shares no word: left out.
        assert_eq!(ids, vec![1, 3]);
        assert!(found[1].similarity.is_none() && found[1].keyword_match == 1.0);

        // Without a model only words count, and nothing unrelated shows.
        let found = rank("rust", None, items, &vectors);
        let ids: Vec<i64> = found.iter().map(|f| f.item.id.unwrap()).collect();
        assert_eq!(ids, vec![3]);
    }
}
