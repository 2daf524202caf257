//! The storage interface every agent and command goes through.
//!
//! It lives in `agg-core` (not in `agg-store`) so that agents can be written
//! and tested against the trait without knowing which database is behind it:
//! the SQLite implementation is the default, and a PostgreSQL one must pass the
//! same test suite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::item::{Item, SagaRef};

pub type RunId = i64;

/// What a run ended as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Ok,
    /// Finished, but some agent (or some feed of an agent) failed.
    Partial,
    Failed,
    /// Found still "running" by a later process: the process died.
    Aborted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Ok => "ok",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
            RunStatus::Aborted => "aborted",
        }
    }

    pub fn parse(s: &str) -> RunStatus {
        match s {
            "running" => RunStatus::Running,
            "ok" => RunStatus::Ok,
            "partial" => RunStatus::Partial,
            "failed" => RunStatus::Failed,
            _ => RunStatus::Aborted,
        }
    }
}

/// What one agent did in one run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AgentOutcome {
    pub agent: String,
    pub kind: String,
    pub role: String,
    /// "ok", "partial" (some inputs failed, e.g. one feed of many) or "failed".
    pub status: String,
    pub items_in: u64,
    pub items_out: u64,
    /// Items stored for the first time (sources only).
    pub items_new: u64,
    pub errors: Vec<String>,
    pub duration_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: RunId,
    pub pipeline: String,
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub agents: Vec<AgentOutcome>,
}

/// Filters for listing items.
#[derive(Clone, Debug, Default)]
pub struct ItemQuery {
    pub source: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<u64>,
    /// Only items of this saga.
    pub saga: Option<u64>,
    /// Only items that belong to some saga.
    pub in_saga: bool,
    /// Only items scored at least this.
    pub min_score: Option<f32>,
}

/// What the store remembers about a feed between fetches: validators for
/// conditional GET, health, and polling schedule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedState {
    /// The URL as configured in the pipeline (the feed's identity).
    pub url: String,
    /// Agent that fetches it (for `agg feeds`).
    pub agent: Option<String>,
    pub title: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub last_fetch: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    /// Earliest time the next fetch is worth doing (adaptive polling,
    /// Retry-After, backoff). `None`: fetch whenever asked.
    pub next_fetch: Option<DateTime<Utc>>,
    /// Paused after too many consecutive failures; the reason is kept.
    pub paused: bool,
    pub pause_reason: Option<String>,
    /// Where a permanent redirect (301/308) said the feed now lives.
    pub moved_to: Option<String>,
    /// Items first seen from this feed, over its whole life.
    pub items_total: u64,
    /// Publication dates of recent items, newest first (bounded), used to
    /// estimate how often the feed publishes.
    pub recent_items: Vec<DateTime<Utc>>,
}

/// A score written by a `score` agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    pub item_id: i64,
    pub score: f32,
    /// Which model produced it: `name@revision`.
    pub model: String,
    pub reasons: Vec<String>,
}

/// One piece of user feedback on an item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRow {
    pub item_id: i64,
    /// `like`, `dislike` or `click`.
    pub kind: String,
    /// Where it came from: `cli`, `web`, `email`.
    pub via: String,
    pub at: DateTime<Utc>,
}

/// One digest: identified by (pipeline, local day), recorded before it is
/// sent so that a crash or a second worker never sends the same day twice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DigestRecord {
    pub pipeline: String,
    /// Local date in the pipeline's time zone, `YYYY-MM-DD`.
    pub day: String,
    pub message_id: String,
    pub items: Vec<i64>,
    /// `pending` (recorded, send in progress or interrupted), `sent`,
    /// `failed` (known not sent: retried on the next run) or `interrupted`
    /// (found pending by a later run: may or may not have gone out, so it is
    /// never re-sent, and its items are offered again in the next digest).
    pub status: String,
    pub created: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Stores items idempotently by key, in one transaction. Sets `id` on each
    /// item and `is_new` on those stored for the first time; an item already
    /// stored is updated in place when its content changed. Returns how many
    /// were new.
    async fn upsert_items(&self, items: &mut [Item]) -> anyhow::Result<u64>;
    async fn list_items(&self, q: &ItemQuery) -> anyhow::Result<Vec<Item>>;
    async fn count_items(&self, q: &ItemQuery) -> anyhow::Result<u64>;

    /// Starts a run; a run of the same pipeline still marked running is from
    /// a process that died, and is marked aborted.
    async fn begin_run(&self, pipeline: &str) -> anyhow::Result<RunId>;
    async fn record_agent(&self, run: RunId, outcome: &AgentOutcome) -> anyhow::Result<()>;
    async fn finish_run(&self, run: RunId, status: RunStatus) -> anyhow::Result<()>;
    async fn list_runs(&self, limit: u64) -> anyhow::Result<Vec<RunRecord>>;

    async fn feed_state(&self, url: &str) -> anyhow::Result<Option<FeedState>>;
    async fn save_feed_state(&self, state: &FeedState) -> anyhow::Result<()>;
    /// Saves several feeds' states; a backend may do it in one write.
    /// A URL listed twice ends with its last state.
    async fn save_feed_states(&self, states: &[FeedState]) -> anyhow::Result<()> {
        for s in states {
            self.save_feed_state(s).await?;
        }
        Ok(())
    }
    /// Every known feed, by URL (for `agg feeds`, OPML export, the digest's
    /// health section).
    async fn list_feeds(&self) -> anyhow::Result<Vec<FeedState>>;

    /// Stored items by id (missing ids are skipped).
    async fn get_items(&self, ids: &[i64]) -> anyhow::Result<Vec<Item>>;

    /// Cached embeddings of items for one model (so nothing is embedded twice).
    async fn get_embeddings(
        &self,
        model: &str,
        ids: &[i64],
    ) -> anyhow::Result<std::collections::HashMap<i64, Vec<f32>>>;
    async fn put_embeddings(&self, model: &str, rows: &[(i64, Vec<f32>)]) -> anyhow::Result<()>;
    /// Every cached embedding of a model (semantic search).
    async fn all_embeddings(&self, model: &str) -> anyhow::Result<Vec<(i64, Vec<f32>)>>;

    async fn set_scores(&self, rows: &[ScoreRow]) -> anyhow::Result<()>;

    /// Keeps a new revision of a named model (an interest model, serialised).
    async fn save_model(&self, name: &str, revision: u64, json: &str) -> anyhow::Result<()>;
    /// The newest revision of a named model.
    async fn latest_model(&self, name: &str) -> anyhow::Result<Option<(u64, String)>>;

    async fn add_feedback(&self, item_id: i64, kind: &str, via: &str) -> anyhow::Result<()>;
    async fn list_feedback(&self) -> anyhow::Result<Vec<FeedbackRow>>;

    /// Small named documents (engine state such as the saga engine's).
    async fn load_state(&self, key: &str) -> anyhow::Result<Option<String>>;
    async fn save_state(&self, key: &str, value: &str) -> anyhow::Result<()>;

    /// Records which saga each item (by its stable key) belongs to, and the
    /// score that placed it. Keys, not ids, because the saga engine knows
    /// items by key (a merge or split moves items it names by key).
    async fn set_item_sagas(&self, rows: &[(String, SagaRef, f32)]) -> anyhow::Result<()>;
    /// Appends to the saga event log.
    async fn log_saga_event(&self, saga: u64, event: &str, detail: &str) -> anyhow::Result<()>;

    async fn digest(&self, pipeline: &str, day: &str) -> anyhow::Result<Option<DigestRecord>>;
    /// Records a digest as `pending` before sending. Returns false (and
    /// writes nothing) when a digest for that pipeline and day exists, unless
    /// its status is `failed`, which a new attempt replaces. Atomic: of two
    /// workers racing for one day, exactly one gets true.
    async fn digest_begin(&self, rec: &DigestRecord) -> anyhow::Result<bool>;
    /// Sets a digest's final status (`sent`, `failed`, `interrupted`).
    async fn digest_finish(
        &self,
        pipeline: &str,
        day: &str,
        status: &str,
        error: Option<&str>,
    ) -> anyhow::Result<()>;
    /// Removes a day's digest record (`agg digest --force`).
    async fn digest_forget(&self, pipeline: &str, day: &str) -> anyhow::Result<()>;
    /// Items already delivered by this pipeline's `sent` digests.
    async fn sent_items(&self, pipeline: &str) -> anyhow::Result<std::collections::HashSet<i64>>;
    /// Recent digests of a pipeline, newest first.
    async fn list_digests(&self, pipeline: &str, limit: u64) -> anyhow::Result<Vec<DigestRecord>>;

    /// Takes (or renews) the lease `name` for `holder` until `ttl` from now.
    /// True when the holder has it: nobody held it, the holder already did,
    /// or the previous holder's lease expired (it died). Two processes on
    /// one database use this so that a pipeline runs once at a time.
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> anyhow::Result<bool>;
    /// Claims, among `urls`, the feeds no other live worker has claimed, for
    /// `ttl`; returns the claimed ones. Several workers sharing a store call
    /// this before fetching, so each due feed is fetched by one of them.
    async fn claim_feeds(
        &self,
        urls: &[String],
        holder: &str,
        ttl: std::time::Duration,
    ) -> anyhow::Result<Vec<String>>;
    /// Gives a lease back (only if `holder` holds it).
    async fn release_lease(&self, name: &str, holder: &str) -> anyhow::Result<()>;
}
