//! The online saga engine: assignment, lifecycle and user controls.
//!
//! Items arrive in time order. Each item becomes an L2-normalised TF-IDF
//! vector over words, bigrams and entity-like spans (see [`crate::text`]),
//! with document frequencies learned online. Candidate sagas come from an
//! inverted index (term → sagas that contain it) plus the few sagas touched
//! most recently, so the cost per item depends on the item's terms, not on the
//! number of sagas ever seen. Each candidate is scored against its centroid
//! (the whole story so far) and, optionally, its most recent items (where the
//! story is now); with the tuned defaults the lexical score is the centroid
//! cosine (one short recent headline proved a noisy witness) and the recent
//! items carry the embedding evidence: the best embedding cosine to them is
//! mixed in when the item has an embedding. The score is then discounted by
//! the time gap since the saga was last seen. Among candidates that clear
//! [`SagaConfig::join_threshold`] the best wins; otherwise the item starts a
//! saga. When the runner-up also clears it and the two centroids agree, the
//! two sagas are merged (an online clusterer fragments a story early on).

mod archive;
mod assign;
mod config;
mod controls;
mod events;
mod item;
mod lifecycle;
mod merge_split;
mod packed;
mod saga;
mod score;
mod terms;

pub use archive::{ArchivedSaga, ItemRow, Needs, StateParts};
pub use assign::Assignment;
pub use config::SagaConfig;
pub use controls::SagaError;
pub use events::SagaEvent;
pub use item::{Origin, SagaItem};
pub use packed::PostingRow;
pub use saga::{Member, MergeRecord, Saga, SagaId, SagaStatus, SagaSummary, date_range};

use crate::vector::{IdMap, SparseVec, Vocabulary};
use archive::Slots;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, VecDeque};

/// Headline term counts of one feed (see `SagaEngine::feed_stats`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct FeedStats {
    docs: u32,
    df: IdMap<u32>,
}

/// The per-feed headline counts, remembering which feeds changed so that a
/// save in parts writes only those ([`SagaEngine::to_parts`]): 500 feeds'
/// counts are ~26 MB, and a run touches the few feeds its items came from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
struct FeedTable(HashMap<String, FeedStats>, #[serde(skip)] BTreeSet<String>);

impl FeedTable {
    fn get(&self, feed: &str) -> Option<&FeedStats> {
        self.0.get(feed)
    }
    /// A feed's counts to change (created empty), marked as changed.
    fn entry(&mut self, feed: &str) -> &mut FeedStats {
        if !self.1.contains(feed) {
            self.1.insert(feed.to_string());
        }
        self.0.entry(feed.to_string()).or_default()
    }
}

/// At most this many distinct terms are counted per feed (memory
/// bound; a feed's common words show up among its first ones).
const FEED_TERMS: usize = 4_096;

/// Until a feed has this many headlines, its items of unknown language
/// group with each other on strong evidence only.
const FEED_MIN_DOCS: u32 = 4;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ItemRecord {
    saga: SagaId,
    #[serde(with = "crate::vector::packed_pairs::vec")]
    vec: SparseVec,
    /// Feed key and language, so that a split can recount its parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    feed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lang: Option<String>,
}

/// The online saga engine. Serialise it with serde (or [`SagaEngine::to_json`])
/// to persist and resume. Missing fields default on load, so a state saved by
/// an older version still loads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SagaEngine {
    config: SagaConfig,
    vocab: Vocabulary,
    sagas: Slots,
    #[serde(skip_serializing_if = "packed::Postings::is_empty")]
    postings: packed::Postings,
    /// The records of the items of the loaded sagas. A state saved in
    /// parts keeps them in their saga's row ([`SagaEngine::to_parts`]),
    /// not in the core: the core would grow with every live item.
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    items: HashMap<String, ItemRecord>,
    /// Which saga each item of a state saved in parts is in, by a hash of
    /// its key: what [`SagaEngine::needs`] knows of an item offered again
    /// without the item records.
    #[serde(skip_serializing_if = "archive::ItemIndex::is_empty")]
    item_index: archive::ItemIndex,
    /// Whether the item index is kept in the store's rows (a core saved
    /// in parts since stop 31): the core holds none of its entries.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    items_in_rows: bool,
    /// Whether the inverted index is kept in the store's rows (a core
    /// saved in parts since stop 32): the core holds none of its lists.
    /// Written by [`SagaEngine::to_parts`] only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    postings_in_rows: bool,
    /// Active sagas keyed by (last seen seconds, index): dormancy sweeps pop
    /// from the front instead of scanning every saga.
    active: BTreeSet<(i64, u32)>,
    recent_sagas: VecDeque<u32>,
    clock: Option<DateTime<Utc>>,
    /// Pairs split apart by the user (smaller id first); automatic steps never
    /// join them again.
    apart: BTreeSet<(SagaId, SagaId)>,
    /// Per feed: how many items, and in how many each term occurs (bounded,
    /// see `FEED_TERMS`), to tell a feed's own vocabulary.
    feed_stats: FeedTable,
    /// How many saga ids were given, in a state saved in parts (the sagas
    /// themselves are saved apart: [`SagaEngine::to_parts`]).
    #[serde(skip_serializing_if = "is_zero")]
    saga_slots: usize,
    /// What a run can reach without loading every saga (see
    /// [`SagaEngine::needs`]), kept by every save in parts; `None` in a
    /// state saved before it was kept, which is then loaded whole once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reach: Option<archive::Reach>,
    #[serde(skip)]
    events: Vec<SagaEvent>,
    /// Sagas archived since the caller last took them.
    #[serde(skip)]
    archived: Vec<ArchivedSaga>,
}

impl Default for SagaEngine {
    fn default() -> Self {
        Self::new(SagaConfig::default())
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Dates before this are treated as missing (epoch zero, parse accidents).
fn min_date() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1990, 1, 1, 0, 0, 0).unwrap()
}
impl SagaEngine {
    /// An empty engine.
    pub fn new(config: SagaConfig) -> Self {
        SagaEngine {
            config,
            vocab: Vocabulary::default(),
            sagas: Slots::default(),
            postings: packed::Postings::default(),
            items: HashMap::new(),
            item_index: archive::ItemIndex::default(),
            items_in_rows: false,
            postings_in_rows: false,
            active: BTreeSet::new(),
            recent_sagas: VecDeque::new(),
            clock: None,
            apart: BTreeSet::new(),
            feed_stats: FeedTable::default(),
            saga_slots: 0,
            reach: Some(archive::Reach::default()),
            events: Vec::new(),
            archived: Vec::new(),
        }
    }

    /// The configuration in use (saved with the state).
    pub fn config(&self) -> &SagaConfig {
        &self.config
    }

    /// Replace the configuration; it applies to items assigned afterwards
    /// (e.g. a restored state with a newer version's defaults). Feature
    /// weights changed mid-stream affect only new item vectors.
    pub fn set_config(&mut self, config: SagaConfig) {
        self.config = config;
    }

    /// Serialise the whole state (JSON).
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }

    /// Restore a state saved by [`SagaEngine::to_json`]. Every saga counts
    /// as changed, so that a following [`SagaEngine::to_parts`] writes them
    /// all.
    pub fn from_json(s: &str) -> serde_json::Result<Self> {
        let mut e: SagaEngine = serde_json::from_str(s)?;
        e.touch_all();
        Ok(e)
    }

    /// Count every saga and feed as changed (a state read whole: a save in
    /// parts writes all of them).
    fn touch_all(&mut self) {
        self.sagas.touch_all();
        // Every saga is written by the next save: what it reaches is
        // recomputed from all of them.
        self.reach = Some(archive::Reach::default());
        self.feed_stats.1 = self.feed_stats.0.keys().cloned().collect();
    }

    /// The latest effective item time seen.
    pub fn clock(&self) -> Option<DateTime<Utc>> {
        self.clock
    }

    /// The clamping rule for item times: a missing date, a date before
    /// 1990-01-01, or a date more than `max_future_hours` after `now` becomes
    /// `now` (the fetch time); any other date is kept as given.
    pub fn effective_time(&self, time: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
        match time {
            Some(t)
                if t >= min_date() && t <= now + Duration::hours(self.config.max_future_hours) =>
            {
                t
            }
            _ => now,
        }
    }

    /// Drain the events produced since the last call (for the store's log).
    pub fn take_events(&mut self) -> Vec<SagaEvent> {
        std::mem::take(&mut self.events)
    }

    /// All live sagas, merged tombstones included, in id order (archived
    /// ones are not in the engine: see [`SagaEngine::archive`]).
    pub fn sagas(&self) -> impl Iterator<Item = &Saga> {
        self.sagas.iter()
    }

    /// Number of sagas ever created (merged tombstones and archived sagas
    /// included).
    pub fn saga_count(&self) -> usize {
        self.sagas.len()
    }

    /// Number of sagas that are not merged tombstones (what an evaluation
    /// means by "predicted clusters").
    pub fn live_saga_count(&self) -> usize {
        self.sagas
            .iter()
            .filter(|s| s.merged_into.is_none())
            .count()
    }

    /// A live saga by id (`None` for an archived one too).
    pub fn saga(&self, id: SagaId) -> Option<&Saga> {
        self.sagas.get(id.index())
    }

    /// The saga an id now stands for, following merges.
    pub fn resolve(&self, id: SagaId) -> Option<SagaId> {
        let mut cur = self.saga(id)?;
        while let Some(next) = cur.merged_into {
            cur = self.saga(next)?;
        }
        Some(cur.id)
    }

    /// The saga an item belongs to.
    pub fn saga_of(&self, item_id: &str) -> Option<SagaId> {
        self.items.get(item_id).map(|r| r.saga)
    }

    /// Whether the user split these two sagas apart.
    pub fn kept_apart(&self, a: SagaId, b: SagaId) -> bool {
        let key = if a <= b { (a, b) } else { (b, a) };
        self.apart.contains(&key)
    }

    /// The highest-weighted words and entities of a saga, for a subtitle or a
    /// "why grouped" explanation.
    pub fn key_terms(&self, id: SagaId, n: usize) -> Vec<String> {
        let Some(s) = self.saga(id) else {
            return Vec::new();
        };
        let mut v: Vec<(u32, f32)> = s.centroid.iter().map(|(k, w)| (*k, *w)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let wanted: Vec<u32> = v.iter().map(|x| x.0).collect();
        let names = self.vocab.names(&wanted);
        names
            .into_iter()
            .filter(|k| !k.starts_with("b:"))
            .map(|k| k[2..].to_string())
            .take(n)
            .collect()
    }
}

fn truncate_chars(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
