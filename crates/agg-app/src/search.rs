//! Search over the stored items: by meaning when the sentence model is
//! there, by words always — one rule for `agg search` and `/ui/search`.
//!
//! The rule, and why:
//! - Items with a stored vector (made by a `score` agent with the same
//!   model) rank by cosine similarity plus a boost for the query's words
//!   (`agg_score::search::rank`).
//! - Items never embedded (stored by pipelines without `score`) are still
//!   found by their words: a reader does not know which pipeline stored
//!   what.
//! - An embedded item that shares no word with the query and is further in
//!   meaning than [`MIN_SIMILARITY`] is left out: below that floor a
//!   "result" is noise, and an honest "nothing matches" is more useful.
//! - Without a model only words count ([`Ranking::Words`] says why), so a
//!   missing model degrades search instead of breaking it.
//! - Words are looked up in the store's full-text index over every stored
//!   item; meaning over every stored vector through the vector index
//!   (`agg_vindex`: two bits per dimension in memory, the best [`RERANK`]
//!   guesses read back as compact copies, a byte a dimension, and ranked
//!   by cosine). A search bounded by date compares the vectors of the
//!   [`POOL`] newest items since that date exactly instead. Either way the
//!   work per search is bounded, whatever the store holds, and only the
//!   rows of candidates that can still make the page are read
//!   ([`worth_reading`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use agg_core::{Item, Pipeline, Store, TextQuery};
use agg_score::{Device, EmbedConfig, Embedder, OrtEmbedder};
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use crate::StoreError;

/// Results returned unless the caller asks for another number (`agg search
/// --limit`): a page a person reads, not a dump of the store.
pub const LIMIT: usize = 25;
/// Most recent items compared by meaning in a search bounded by date (a
/// bound on the work per search; words are looked up over the whole store).
pub const POOL: u64 = 20_000;
/// Codes nearest to the query's in Hamming distance, the index's first
/// step (`agg_vindex::CodeIndex::nearest`).
pub const SHORTLIST: usize = 100_000;
/// The index's best guesses, read back (compact copies: [`vector_copies`])
/// and ranked by cosine: the nearest [`MEANING_CANDIDATES`] among them are
/// the search's. With two bits a dimension 500 find 0.967–0.984 of the
/// exact ten nearest at 1M random vectors (0.975 re-ranked by the stored
/// vectors instead of their copies), and 0.994 on the dev streams' 35,830
/// real title vectors at the same proportions (3,600:36); the
/// sign alone needed 3,000 for 0.96 (`examples/search_recall.rs`).
pub const RERANK: usize = 500;

/// Best word matches taken from the full-text index.
pub const TEXT_CANDIDATES: u64 = 200;
/// Nearest items in meaning taken from the index or the pool.
pub const MEANING_CANDIDATES: usize = 200;
/// Lowest cosine similarity kept for an item that shares no word with the
/// query. MiniLM puts unrelated short news texts at about 0.0–0.15 from
/// each other, related ones at 0.3 and up.
pub const MIN_SIMILARITY: f32 = 0.2;
/// Longest query embedded (characters); the model reads 256 tokens anyway.
pub const MAX_QUERY_CHARS: usize = 500;

/// What to search for.
#[derive(Debug, Clone)]
pub struct Request {
    /// The query as typed; trimmed and cut to [`MAX_QUERY_CHARS`] here.
    pub query: String,
    /// Only items dated on or after this.
    pub since: Option<DateTime<Utc>>,
    /// How many results at most.
    pub limit: usize,
    /// With `since`, how many of the newest items since then are compared
    /// by meaning ([`POOL`]).
    pub pool: u64,
}

impl Request {
    /// A search for `query` with the defaults ([`LIMIT`], no date bound).
    pub fn new(query: &str) -> Request {
        Request {
            query: query.to_string(),
            since: None,
            limit: LIMIT,
            pool: POOL,
        }
    }
}

/// The sentence model a search may use.
pub enum Model {
    Loaded(Arc<dyn Embedder>),
    /// Not available, and why (shown to the reader: words only).
    Unavailable(String),
}

/// One result.
#[derive(Debug, Clone)]
pub struct Hit {
    pub item: Item,
    /// What the results are ordered by.
    pub score: f32,
    /// Cosine similarity to the query; `None` for an item without a vector
    /// (or when the search had no model).
    pub similarity: Option<f32>,
    /// Share of the query's words the item has (0 to 1).
    pub keyword_match: f32,
}

/// How the results were ranked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranking {
    /// By meaning (and words).
    Meaning,
    /// By words only: the model is not available, for this reason.
    Words { why: String },
}

/// What a search found, best first.
#[derive(Debug)]
pub struct Results {
    pub hits: Vec<Hit>,
    pub ranking: Ranking,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The model loaded but could not embed the query.
    #[error("cannot embed the query: {0}")]
    Embed(String),
}

/// Searches the stored items for `req.query` with `model` (see the module
/// documentation for the rule).
///
/// Candidates come from two bounded lookups, and only they are read: the
/// full-text index over the whole store ([`TEXT_CANDIDATES`] best word
/// matches) and, with a model, the [`MEANING_CANDIDATES`] nearest vectors
/// (through the vector index, or among the [`POOL`] newest since
/// `req.since`). Their union is then ranked by the one rule, so an exact
/// title is found however old, and so is an item that says the same thing
/// in other words.
pub async fn search(
    store: &dyn Store,
    req: &Request,
    model: Model,
) -> Result<Results, SearchError> {
    search_in(store, req, model, None).await
}

/// [`search`], reading the vector index through `cache` when given.
async fn search_in(
    store: &dyn Store,
    req: &Request,
    model: Model,
    cache: Option<&IndexCache>,
) -> Result<Results, SearchError> {
    let query: String = req.query.trim().chars().take(MAX_QUERY_CHARS).collect();
    let words = async {
        store
            .search_text(&TextQuery::new(&query, req.since, TEXT_CANDIDATES))
            .await
            .map_err(StoreError)
    };
    let e = match model {
        Model::Loaded(e) => e,
        Model::Unavailable(why) => {
            let ids: Vec<i64> = words.await?.iter().map(|(id, _)| *id).collect();
            let items = store.get_items(&ids).await.map_err(StoreError)?;
            return Ok(Results {
                hits: rank(&query, None, items, &[], req.limit),
                ranking: Ranking::Words { why },
            });
        }
    };
    let model_id = e.model_id().to_string();
    let model_id = model_id.as_str();
    let t = std::time::Instant::now();
    // Two paths at once, the store working on its own threads meanwhile (a
    // search at 1M items was ~100 ms one step after another): the words
    // looked up, then their matches' vectors (not their rows: a row is
    // read only when its item can still make the page, `worth_reading`);
    // and the query embedded, then meaning looked up. Neither waits for
    // the other: a full-text lookup whose pages are not in memory took
    // 40–75 ms, as long as the whole meaning path.
    let worded = async {
        let ids: Vec<i64> = words.await?.iter().map(|(id, _)| *id).collect();
        let looked_up = t.elapsed();
        let vectors = vector_copies(store, model_id, &ids).await?;
        Ok::<_, StoreError>((ids, vectors, looked_up))
    };
    let embed = async {
        let q = query.clone();
        tokio::task::spawn_blocking(move || e.embed(&[q.as_str()]))
            .await
            .map_err(|e| SearchError::Embed(e.to_string()))?
            .map_err(|e| SearchError::Embed(format!("{e:#}")))?
            .pop()
            .ok_or_else(|| SearchError::Embed("the model returned no vector".into()))
    };
    // Vectors only (no bodies): memory and time follow the index or the
    // pool, not the store.
    let meaning = async {
        let qv = embed.await?;
        let embedded = t.elapsed();
        let vectors: HashMap<i64, Vec<f32>> = match req.since {
            Some(since) => store
                .recent_embeddings(model_id, Some(since), req.pool)
                .await
                .map_err(StoreError)?
                .into_iter()
                .collect(),
            None => {
                let index = match cache {
                    Some(c) => c.index(store, model_id).await?,
                    None => Arc::new(read_index(store, model_id, None).await?),
                };
                let started = t.elapsed();
                // Codes of another dimension are another model's (or a
                // damaged page's): no guess from them beats none.
                let guesses = if index.dims() == qv.len().div_ceil(8) * 8 {
                    index.nearest(&qv, SHORTLIST, RERANK)
                } else {
                    if !index.is_empty() {
                        tracing::warn!(
                            model = model_id,
                            index = index.dims(),
                            query = qv.len(),
                            "search: the vector index's codes are of other dimensions than the query; meaning from the words' matches only"
                        );
                    }
                    Vec::new()
                };
                let guessed = t.elapsed();
                let copies = vector_copies(store, model_id, &guesses).await?;
                tracing::debug!(?embedded, ?started, ?guessed, read = ?t.elapsed(), "search: meaning");
                copies
            }
        };
        Ok::<_, SearchError>((qv, vectors))
    };
    let (worded, meaning) = tokio::join!(worded, meaning);
    let looked_up = t.elapsed();
    let ((ids, worded, words_done), (qv, mut vectors)) = (worded?, meaning?);
    let nearest = nearest(&qv, &vectors, MEANING_CANDIDATES);
    vectors.retain(|id, _| nearest.contains(id));
    let unembedded: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| !worded.contains_key(id))
        .collect();
    vectors.extend(worded);
    let worth = worth_reading(&qv, &vectors, &unembedded, req.limit);
    let items: Vec<Item> = in_parts(&worth, |c| store.get_items(c))
        .await?
        .into_iter()
        .flatten()
        .collect();
    let vectors: Vec<(i64, Vec<f32>)> = vectors.into_iter().collect();
    let read = t.elapsed();
    let rows = items.len();
    let hits = rank(&query, Some(&qv), items, &vectors, req.limit);
    // Where a search's time goes (issue 23: p95 < 100 ms at 1M items).
    tracing::debug!(
        ?words_done,
        ?looked_up,
        ?read,
        ranked = ?t.elapsed(),
        rows,
        "search"
    );
    Ok(Results {
        hits,
        ranking: Ranking::Meaning,
    })
}

/// Readers that read the index's guesses, or the rows worth reading, at
/// once: each row or copy is a random read, and on a machine whose page
/// cache does not hold the store one reader waits on each in turn (~400
/// rows took 25–55 ms at 1M items; a reader a part overlaps the waits).
const READERS: usize = 3;

/// `read` of `ids` in [`READERS`] parts at once.
async fn in_parts<'a, T, F, Fut>(ids: &'a [i64], read: F) -> Result<Vec<T>, StoreError>
where
    F: Fn(&'a [i64]) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let part = ids.len().div_ceil(READERS).max(1);
    futures::future::try_join_all(ids.chunks(part).map(read))
        .await
        .map_err(StoreError)
}

/// The compact copies of the vectors of `ids` (those that still have one:
/// `Store::get_vector_copies`), read in parts at once ([`in_parts`]).
///
/// Why copies: 500 guesses are scattered over the store, and read as
/// stored each was ~3 random page reads (the key's index, the table, a
/// 1.5 KB row); on a machine whose page cache does not hold the store,
/// those reads were the largest part of a search at 1M items (38 of ~110
/// ms). A copy is about half as many reads (migration 0023), and its
/// cosine is within ~0.001 of the stored vector's. An item whose copy is
/// another model's (embedded by two) is read as stored.
pub async fn vector_copies(
    store: &dyn Store,
    model: &str,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<f32>>, StoreError> {
    let mut out = HashMap::with_capacity(ids.len());
    let mut other = Vec::new();
    for c in in_parts(ids, |c| store.get_vector_copies(model, c)).await? {
        out.extend(c.vectors);
        other.extend(c.other_model);
    }
    if !other.is_empty() {
        out.extend(
            store
                .get_embeddings(model, &other)
                .await
                .map_err(StoreError)?,
        );
    }
    Ok(out)
}

/// The vector index of `model`: `held`'s codes brought up to date (the
/// pages holding ids above its last read again), or every stored code
/// when `held` is `None`. A code of another length than the first (a
/// damaged page) is skipped with a warning.
pub async fn read_index(
    store: &dyn Store,
    model: &str,
    held: Option<agg_vindex::CodeIndex>,
) -> Result<agg_vindex::CodeIndex, StoreError> {
    let after = held.as_ref().and_then(|i| i.max_id()).unwrap_or(i64::MIN);
    let pages = store.vector_pages(model, after).await.map_err(StoreError)?;
    // An empty index has no code width yet: the first page sets it.
    let mut index = held.filter(|i| !i.is_empty());
    if let (Some(ix), Some(first)) = (index.as_mut(), pages.first()) {
        ix.truncate_from(first.start);
    }
    for p in pages {
        let width = p.codes.len().checked_div(p.ids.len()).unwrap_or(0).max(1);
        let ix = index.get_or_insert_with(|| agg_vindex::CodeIndex::new(width));
        for (id, code) in p.ids.iter().zip(p.codes.chunks_exact(width)) {
            if let Err(e) = ix.push(*id, code) {
                tracing::warn!(model, page = p.start, "vector index: {e}");
                break;
            }
        }
    }
    let mut index = index.unwrap_or_default();
    index.shrink_to_fit();
    Ok(index)
}

/// The ids of the `n` vectors most similar to `query` (cosine, as `rank`
/// measures it).
fn nearest(query: &[f32], vectors: &HashMap<i64, Vec<f32>>, n: usize) -> HashSet<i64> {
    let mut sims: Vec<(f32, i64)> = vectors
        .iter()
        .map(|(id, v)| (agg_score::embed::cosine(query, v), *id))
        .collect();
    if sims.len() > n {
        sims.select_nth_unstable_by(n, |a, b| b.0.total_cmp(&a.0));
        sims.truncate(n);
    }
    sims.into_iter().map(|(_, id)| id).collect()
}

/// Ranks `items` by the rule of this module: by similarity plus the keyword
/// boost for items with a vector in `vectors`, by words alone for the rest
/// or when there is no query vector; at most `limit`, best first, equal
/// scores newest (highest id) first so the order is stable.
pub fn rank(
    query: &str,
    query_vector: Option<&[f32]>,
    items: Vec<Item>,
    vectors: &[(i64, Vec<f32>)],
    limit: usize,
) -> Vec<Hit> {
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
        // Every candidate ranked, the floor applied, and only then the
        // limit: cut first, results under the floor took places that
        // results above it should have had.
        for h in rank_vectors(query, qv, candidates, usize::MAX) {
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
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
    scored.truncate(limit);
    let mut items: HashMap<i64, Item> =
        items.into_iter().filter_map(|i| Some((i.id?, i))).collect();
    scored
        .into_iter()
        .filter_map(|(id, score, similarity, keyword_match)| {
            Some(Hit {
                item: items.remove(&id)?,
                score,
                similarity,
                keyword_match,
            })
        })
        .collect()
}

/// The candidates whose rows may still place them among the `limit` best
/// of [`rank`]; the others cannot, so their rows are not read (the rows of
/// every candidate, up to [`TEXT_CANDIDATES`] + [`MEANING_CANDIDATES`],
/// were a third of a search at 1M items when the store's pages were not in
/// memory, to show 25). Candidates are those with a vector in `vectors`
/// (found by meaning or by words) and the word matches without one,
/// `unembedded`.
///
/// A result's score is its similarity plus [`KEYWORD_BOOST`] times the
/// share of the query's words it has, or only the latter without a
/// vector; so before its row is read a candidate lies between its
/// similarity and that plus the boost, or between 0 and the boost.
/// Candidates similar enough to pass [`MIN_SIMILARITY`] on meaning alone
/// are sure to be kept: they set a bar, the `limit`-th best of their least
/// scores. A candidate whose best score is under the bar has at least
/// `limit` results above it, whatever its words: the ranking is the same
/// without it.
///
/// [`KEYWORD_BOOST`]: agg_score::search::KEYWORD_BOOST
pub fn worth_reading(
    query_vector: &[f32],
    vectors: &HashMap<i64, Vec<f32>>,
    unembedded: &[i64],
    limit: usize,
) -> Vec<i64> {
    use agg_score::embed::cosine;
    use agg_score::search::KEYWORD_BOOST;
    let similar: Vec<(i64, f32)> = vectors
        .iter()
        .map(|(id, v)| (*id, cosine(query_vector, v)))
        .collect();
    let mut least: Vec<f32> = similar
        .iter()
        .map(|(_, s)| *s)
        .filter(|s| *s >= MIN_SIMILARITY)
        .collect();
    let bar = if limit > 0 && least.len() >= limit {
        least.select_nth_unstable_by(limit - 1, |a, b| b.total_cmp(a));
        least[limit - 1]
    } else {
        f32::NEG_INFINITY
    };
    let words_only = if KEYWORD_BOOST >= bar {
        unembedded
    } else {
        &[]
    };
    similar
        .into_iter()
        .filter(|(_, similarity)| similarity + KEYWORD_BOOST >= bar)
        .map(|(id, _)| id)
        .chain(words_only.iter().copied())
        .collect()
}

/// Whether `item` has any of the query's words, by the same word rule
/// search uses (whole words, case-insensitive, two characters or more):
/// the item list's `?q=` filter, so that a word that filters the list
/// also finds the item in search, and the other way round.
pub fn has_words(query: &str, item: &Item) -> bool {
    agg_score::search::keyword_match(query, &item.title, &item.text) > 0.0
}

/// A sentence model loaded once, on first use, for a long-lived process.
///
/// Loading reads ~25 MB and builds an ONNX Runtime session: too slow to do
/// per request, and wasteful at start-up for a server that may never
/// search. A failed load is remembered too, so a missing model costs one
/// attempt, not one per search.
pub struct Searcher {
    cfg: EmbedConfig,
    model: OnceCell<Result<Arc<OrtEmbedder>, String>>,
    index: IndexCache,
}

/// The vector index as last read, kept by a long-lived [`Searcher`]
/// between queries (at 1M items, 104 MB of codes and ids, 0.2–1 s to
/// read depending on what the page cache holds). New
/// vectors are read into it when a run has begun or ended since (runs are
/// what add vectors; the mark is the newest run and whether it ended) or
/// when [`IndexCache::invalidate`] was called (an item added outside a
/// run); the whole index is read again for another model and after
/// [`INDEX_TTL`], which drops the codes of items retention deleted (until
/// then they only take a place in the shortlist: their vectors are gone).
#[derive(Default)]
pub struct IndexCache {
    held: tokio::sync::Mutex<Option<HeldIndex>>,
}

/// How long an index is kept before it is read whole again.
pub const INDEX_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

struct HeldIndex {
    model: String,
    mark: Option<(i64, bool)>,
    stale: bool,
    read: std::time::Instant,
    index: Arc<agg_vindex::CodeIndex>,
}

impl IndexCache {
    /// The index of `model`'s vectors, from the cache while it holds.
    pub async fn index(
        &self,
        store: &dyn Store,
        model: &str,
    ) -> Result<Arc<agg_vindex::CodeIndex>, StoreError> {
        let mark = store
            .list_runs(1)
            .await
            .map_err(StoreError)?
            .first()
            .map(|r| (r.id, r.finished.is_some()));
        let mut held = self.held.lock().await;
        let kept = held
            .take()
            .filter(|h| h.model == model && h.read.elapsed() < INDEX_TTL);
        let (index, read) = match kept {
            Some(h) if h.mark == mark && !h.stale => (h.index, h.read),
            Some(h) => {
                let codes = Arc::unwrap_or_clone(h.index);
                (
                    Arc::new(read_index(store, model, Some(codes)).await?),
                    h.read,
                )
            }
            None => (
                Arc::new(read_index(store, model, None).await?),
                std::time::Instant::now(),
            ),
        };
        *held = Some(HeldIndex {
            model: model.to_string(),
            mark,
            stale: false,
            read,
            index: index.clone(),
        });
        Ok(index)
    }

    /// Vectors were added outside a run: the next search reads them in.
    pub async fn invalidate(&self) {
        if let Some(h) = self.held.lock().await.as_mut() {
            h.stale = true;
        }
    }
}

impl Searcher {
    pub fn new(cfg: EmbedConfig) -> Searcher {
        Searcher {
            cfg,
            model: OnceCell::new(),
            index: IndexCache::default(),
        }
    }

    /// Uses the model folder of the first `score` agent among `pipelines`
    /// (so search compares vectors made by the model those pipelines
    /// stored), else the default folder. Always on the CPU with one thread:
    /// one short query does not need a GPU, and probing one takes seconds.
    pub fn for_pipelines(pipelines: &[Pipeline]) -> Searcher {
        let model_dir = pipelines.iter().find_map(|p| {
            let a = p.agents.iter().find(|a| a.kind == "score")?;
            let dir = a.options.get("model_dir")?.as_str()?;
            let base = p.file.parent().unwrap_or(std::path::Path::new("."));
            Some(base.join(dir))
        });
        Searcher::new(EmbedConfig {
            device: Device::Cpu,
            model_dir,
            intra_threads: Some(1),
            ..EmbedConfig::default()
        })
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

    /// The model as a search takes it.
    pub async fn model(&self) -> Model {
        match self.embedder().await {
            Ok(e) => Model::Loaded(e),
            Err(why) => Model::Unavailable(why),
        }
    }

    /// [`search`] with this searcher's model, words only if it cannot load,
    /// and its cached vector index ([`IndexCache`]).
    pub async fn search(&self, store: &dyn Store, req: &Request) -> Result<Results, SearchError> {
        search_in(store, req, self.model().await, Some(&self.index)).await
    }

    /// An item was added outside a run (its vector too): the next search
    /// reads it into the index.
    pub async fn added(&self) {
        self.index.invalidate().await;
    }
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
        let found = rank(
            "rust",
            Some(&[0.9f32, 0.1][..]),
            items.clone(),
            &vectors,
            10,
        );
        let ids: Vec<i64> = found.iter().map(|f| f.item.id.unwrap()).collect();
        // Item 1 wins on meaning; item 3 is found by its word; item 2 is
        // too far in meaning (cosine 0.11) and shares no word: left out.
        assert_eq!(ids, vec![1, 3]);
        assert!(found[1].similarity.is_none() && found[1].keyword_match == 1.0);

        // Without a model only words count, and nothing unrelated shows.
        let found = rank("rust", None, items, &vectors, 10);
        let ids: Vec<i64> = found.iter().map(|f| f.item.id.unwrap()).collect();
        assert_eq!(ids, vec![3]);
    }

    #[test]
    fn an_embedded_item_sharing_a_word_is_kept_below_the_floor() {
        // Far in meaning (cosine 0) but it has the query's word: kept.
        let items = vec![item(1, "Rust belt factories"), item(2, "Weather")];
        let vectors = vec![(1, vec![0.0, 1.0]), (2, vec![0.0, 1.0])];
        let found = rank("rust", Some(&[1.0f32, 0.0][..]), items, &vectors, 10);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].item.id, Some(1));
        assert_eq!(found[0].similarity, Some(0.0));
    }

    #[test]
    fn the_limit_cuts_and_equal_scores_are_newest_first() {
        let items: Vec<Item> = (1..=5).map(|i| item(i, "rust")).collect();
        let found = rank("rust", None, items, &[], 3);
        let ids: Vec<i64> = found.iter().map(|f| f.item.id.unwrap()).collect();
        assert_eq!(ids, vec![5, 4, 3]);
    }

    /// Skipping the rows [`worth_reading`] leaves out never changes what
    /// [`rank`] returns: random stores of items with and without vectors
    /// (the latter found by words only), rows read only when it says so.
    #[test]
    fn rows_left_unread_never_change_the_results() {
        let mut seed = 11u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as f32 / (1u64 << 31) as f32
        };
        let words = ["harbour", "strike", "port", "rain", "vote"];
        let (mut skipped, mut words_only_read) = (0, 0);
        for trial in 0..300 {
            let n = 5 + (next() * 60.0) as i64;
            let all: Vec<Item> = (1..=n)
                .map(|id| {
                    let title: Vec<&str> = words.iter().copied().filter(|_| next() < 0.3).collect();
                    item(id, &title.join(" "))
                })
                .collect();
            let mut vectors: HashMap<i64, Vec<f32>> = HashMap::new();
            for id in 1..=n {
                if next() < 0.85 {
                    vectors.insert(id, (0..4).map(|_| next() - 0.3).collect());
                }
            }
            // The items without a vector stand for the word matches
            // without one (some share no whole word with the query, as a
            // stemmed full-text match may not).
            let unembedded: Vec<i64> = (1..=n).filter(|id| !vectors.contains_key(id)).collect();
            let q = [0.5f32, 0.2, 0.1, 0.3];
            let query = "harbour strike";
            let limit = 1 + trial % 12;
            let more = worth_reading(&q, &vectors, &unembedded, limit);
            let read: Vec<Item> = all
                .iter()
                .filter(|i| more.contains(&i.id.unwrap()))
                .cloned()
                .collect();
            skipped += n as usize - more.len();
            words_only_read += unembedded.iter().filter(|id| more.contains(id)).count();
            let vs: Vec<(i64, Vec<f32>)> = vectors.clone().into_iter().collect();
            let ids = |hits: Vec<Hit>| -> Vec<(i64, u32)> {
                hits.iter()
                    .map(|h| (h.item.id.unwrap(), h.score.to_bits()))
                    .collect()
            };
            assert_eq!(
                ids(rank(query, Some(&q), read, &vs, limit)),
                ids(rank(query, Some(&q), all.clone(), &vs, limit)),
                "trial {trial}"
            );
        }
        assert!(skipped > 1000, "rows left unread: {skipped}");
        assert!(
            words_only_read > 0,
            "no word-only match was ever worth reading"
        );
    }

    #[test]
    fn words_are_whole_words_in_title_or_text() {
        let mut i = item(1, "Rustic bread");
        assert!(!has_words("rust", &i), "a prefix is not the word");
        i.text = "Baked with Rust-coloured flour".into();
        assert!(has_words("RUST", &i));
        assert!(!has_words("a", &i), "one-letter words are not matched");
    }
}
