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

    /// Strict: a value the store did not write is an error, never a guess.
    pub fn parse(s: &str) -> anyhow::Result<RunStatus> {
        Ok(match s {
            "running" => RunStatus::Running,
            "ok" => RunStatus::Ok,
            "partial" => RunStatus::Partial,
            "failed" => RunStatus::Failed,
            "aborted" => RunStatus::Aborted,
            other => anyhow::bail!("unknown run status `{other}` in run history"),
        })
    }
}

/// How one agent's part of a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    Ok,
    /// Some inputs failed (one feed of many, some items): the rest went on.
    Partial,
    Failed,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Ok => "ok",
            AgentStatus::Partial => "partial",
            AgentStatus::Failed => "failed",
        }
    }

    /// Strict: a value the store did not write is an error, never a guess.
    pub fn parse(s: &str) -> anyhow::Result<AgentStatus> {
        Ok(match s {
            "ok" => AgentStatus::Ok,
            "partial" => AgentStatus::Partial,
            "failed" => AgentStatus::Failed,
            other => anyhow::bail!("unknown agent status `{other}` in run history"),
        })
    }
}

impl std::fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Where a day's digest stands ([`DigestRecord::status`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestStatus {
    /// Recorded; the send is in progress (or the process died in it).
    Pending,
    Sent,
    /// Known not sent: retried on the next run.
    Failed,
    /// Found pending by a later run: may or may not have gone out, so it
    /// is never re-sent, and its items are offered again.
    Interrupted,
}

impl DigestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DigestStatus::Pending => "pending",
            DigestStatus::Sent => "sent",
            DigestStatus::Failed => "failed",
            DigestStatus::Interrupted => "interrupted",
        }
    }

    /// Strict: a value the store did not write is an error, never a guess.
    pub fn parse(s: &str) -> anyhow::Result<DigestStatus> {
        Ok(match s {
            "pending" => DigestStatus::Pending,
            "sent" => DigestStatus::Sent,
            "failed" => DigestStatus::Failed,
            "interrupted" => DigestStatus::Interrupted,
            other => anyhow::bail!("unknown digest status `{other}` in the store"),
        })
    }
}

impl std::fmt::Display for DigestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// What one agent did in one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AgentOutcome {
    pub agent: String,
    pub kind: String,
    pub role: crate::agent::Role,
    pub status: AgentStatus,
    pub items_in: u64,
    pub items_out: u64,
    /// Items stored for the first time (sources only).
    pub items_new: u64,
    pub errors: Vec<String>,
    pub duration_ms: u64,
    /// Of `items_in`, how many were stored items left pending by earlier
    /// runs (the ledger's backlog).
    #[serde(default)]
    pub items_backlog: u64,
    /// What the agent skipped and why ("58 of 60 feeds not due until
    /// 10:12", "digest of 2026-12-03 already sent at 07:00").
    #[serde(default)]
    pub skips: Vec<String>,
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
    /// Only items first stored at or after this (`since`/`until` read the
    /// item's own date; a replay of a day wants what arrived that day).
    pub fetched_since: Option<DateTime<Utc>>,
    /// Only items first stored before this.
    pub fetched_until: Option<DateTime<Utc>>,
    /// Only items the reader has not read (issue 18). Pages and the CLI
    /// ask for it; the digest and feeds never do.
    pub unread: bool,
    /// Only items the reader saved.
    pub saved: bool,
    /// Only items from one of these feeds (`Item::feed`): a folder of
    /// subscriptions, or one feed, for the reader API.
    pub feeds: Option<Vec<String>>,
    /// Only items after this one in the listing's order (newest first):
    /// a page continues from the last item of the one before, so items
    /// stored meanwhile never shift a page (keyset paging). An id of no
    /// stored item gives an empty page.
    pub after_id: Option<i64>,
}

/// One page of the vector index: the codes of the stored vectors of
/// items with ids from `start` (up to the next page's), ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct CodePage {
    /// The lowest id the page covers.
    pub start: i64,
    pub ids: Vec<i64>,
    /// The codes of `ids`, one after another, all of one length.
    pub codes: Vec<u8>,
}

/// The compact copies of some items' vectors (`Store::get_vector_copies`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VectorCopies {
    /// Copies of the model asked for, read back as vectors.
    pub vectors: std::collections::HashMap<i64, Vec<f32>>,
    /// Items whose copy is another model's (an item keeps one copy, of the
    /// model that embedded it last): their vector of the model asked for,
    /// if any, is read as stored.
    pub other_model: Vec<i64>,
}

/// A full-text lookup (issues 17 and 23): stored items that contain any of
/// the query's words, best match first, over the whole store — not a window
/// of the newest items. Words are matched stemmed (English), so "missions"
/// finds "mission"; a word in the title counts more than one in the body.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextQuery {
    /// Lower-case words of letters and digits only, so no backend's query
    /// syntax (FTS5 `MATCH`, `to_tsquery`) can be injected through them.
    pub words: Vec<String>,
    /// Only items dated on or after this.
    pub since: Option<DateTime<Utc>>,
    /// At most this many matches.
    pub limit: u64,
}

impl TextQuery {
    /// Most words looked up: a pasted paragraph is not a query, and every
    /// word is one more index scan.
    pub const MAX_WORDS: usize = 16;

    /// The words of `text` (split at anything not a letter or a digit,
    /// lower-cased, repeats dropped, at most [`Self::MAX_WORDS`]).
    pub fn new(text: &str, since: Option<DateTime<Utc>>, limit: u64) -> TextQuery {
        let mut words: Vec<String> = Vec::new();
        for w in text.split(|c: char| !c.is_alphanumeric()) {
            if w.is_empty() {
                continue;
            }
            let w = w.to_lowercase();
            if !words.contains(&w) {
                words.push(w);
            }
            if words.len() == Self::MAX_WORDS {
                break;
            }
        }
        TextQuery {
            words,
            since,
            limit,
        }
    }
}

/// One saga as a list of sagas shows it (issue 23): `/ui/sagas` reads a page
/// of these rows instead of the saga engine's whole state. The saga agent
/// writes the row of every saga a save changed; the store orders rows and
/// never reads `body`.
#[derive(Clone, Debug, PartialEq)]
pub struct SagaListRow {
    pub id: u64,
    /// The list's group (lower first; the saga crate names them).
    pub group: u8,
    /// Within a group, newest first.
    pub last_seen: DateTime<Utc>,
    /// What the list shows, serialised by the saga crate.
    pub body: String,
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

/// A closed set of names the store keeps as text: the enum, its name for
/// the store (`as_str`, also its serde name and `Display`), and a strict
/// `parse` — a value the store did not write is an error, never a guess.
macro_rules! stored_names {
    ($(#[$m:meta])* pub enum $name:ident ($what:literal) {
        $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)?
    }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &[$name] = &[$($name::$v),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$v => $s),+
                }
            }

            /// Strict: see the type's documentation.
            pub fn parse(s: &str) -> anyhow::Result<$name> {
                match s {
                    $($s => Ok($name::$v),)+
                    other => anyhow::bail!("unknown {} `{other}`", $what),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

stored_names! {
    /// What a reader thinks of an item (the interest model learns from it).
    pub enum FeedbackKind ("feedback kind") {
        Like = "like",
        Dislike = "dislike",
        /// Opened it: weaker than a like, never overrides one.
        Click = "click",
    }
}

stored_names! {
    /// Where feedback came from (kept with it, to audit what trained the model).
    pub enum FeedbackVia ("feedback source") {
        Cli = "cli",
        Web = "web",
        Email = "email",
    }
}

/// One piece of user feedback on an item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRow {
    pub item_id: i64,
    pub kind: FeedbackKind,
    pub via: FeedbackVia,
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
    pub status: DigestStatus,
    pub created: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// How one agent of one pipeline handled one stored item: the per-stage
/// ledger. Sources need no rows (an item's `source` names the agent that
/// produced it); every other agent gets a row for each item it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    /// Handled and passed on (a transform) or delivered (a sink).
    Passed,
    /// Handled and deliberately not passed on (a filter, a folded duplicate).
    Dropped,
    /// Not handled yet because of an error; offered again on the next run.
    Failed,
    /// Failed on this item `max_attempts` times: no longer offered until
    /// `agg retry` puts it back.
    Parked,
}

impl StageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::Passed => "passed",
            StageStatus::Dropped => "dropped",
            StageStatus::Failed => "failed",
            StageStatus::Parked => "parked",
        }
    }

    /// Strict: a value the store did not write is an error, never a guess.
    pub fn parse(s: &str) -> anyhow::Result<StageStatus> {
        Ok(match s {
            "passed" => StageStatus::Passed,
            "dropped" => StageStatus::Dropped,
            "failed" => StageStatus::Failed,
            "parked" => StageStatus::Parked,
            other => anyhow::bail!("unknown stage status `{other}` in the ledger"),
        })
    }

    /// Whether the item is finished with for this agent (not pending).
    pub fn is_done(self) -> bool {
        !matches!(self, StageStatus::Failed)
    }
}

/// What retention removes ([`Store::apply_retention`]); see README,
/// "Retention".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RetentionPlan {
    /// Items first fetched before this lose their vectors and bodies
    /// (title, link and saga membership stay: the item is still listed and
    /// found by its title).
    pub thin_before: DateTime<Utc>,
    /// Items first fetched before this are deleted and their keys
    /// remembered (tombstones), so that a feed still carrying one does not
    /// bring it back as new. A tombstone lasts while feeds offer its key:
    /// one not offered since this cutoff is forgotten (a year of them was
    /// 80 MB that nothing needed).
    pub delete_before: DateTime<Utc>,
    /// Items of these sagas are kept whole (followed sagas).
    pub keep_sagas: Vec<u64>,
    /// The time of this pass (the run's clock): new tombstones are stamped
    /// with it, and tombstones no feed offered since `delete_before` are
    /// forgotten.
    pub now: DateTime<Utc>,
}

/// What one save of the saga engine writes (`agg_saga::StateParts`, as
/// [`Store::save_saga_state`] takes it).
#[derive(Clone, Copy, Debug)]
pub struct SagaStateParts<'a> {
    /// The engine without its sagas and feed counts (JSON).
    pub core: &'a str,
    /// Changed live sagas: `(id, JSON)`.
    pub sagas: &'a [(u64, String)],
    /// Sagas no longer live.
    pub gone: &'a [u64],
    /// Changed per-feed counts: `(feed key, JSON)`.
    pub feeds: &'a [(String, String)],
    /// Vocabulary terms added or counted: `(term, id, document frequency)`,
    /// replacing rows of the same term.
    pub terms: &'a [(String, u32, u32)],
    /// Whether `terms` is every term: the stored ones are replaced.
    pub terms_whole: bool,
    /// Item index entries: `(item key hash, saga index)`, `None` to remove
    /// one.
    pub items: &'a [(u64, Option<u32>)],
    /// Whether `items` is every entry: the stored ones are replaced.
    pub items_whole: bool,
    /// Inverted index lists: `(term id, saga indices)`, replacing the
    /// list of the same term; an empty list removes it.
    pub postings: &'a [(u32, Vec<u32>)],
    /// Whether `postings` is every list: the stored ones are replaced.
    pub postings_whole: bool,
    /// Live sagas' archive due times: `(id, unix seconds)`, `None` for
    /// never (those of the sagas this save writes, at least); a saga gone
    /// loses its own.
    pub dues: &'a [(u64, Option<i64>)],
    /// Whether `dues` is every live saga's: the others are cleared.
    pub dues_whole: bool,
}

/// One saga moved out of the saga engine's state (issue 23).
#[derive(Clone, Debug, PartialEq)]
pub struct ArchivedSagaRow {
    pub id: u64,
    /// Its newest item's time, by which retention forgets it.
    pub last_seen: DateTime<Utc>,
    /// An `agg_saga::ArchivedSaga` as JSON.
    pub body: String,
}

/// What [`Store::apply_retention`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionReport {
    /// Items whose vectors and bodies were dropped.
    pub thinned: u64,
    /// Items deleted (each leaves a tombstone).
    pub deleted: u64,
    /// Old items kept because of a followed saga, a like or a save.
    pub kept: u64,
    /// Archived sagas forgotten (all their items past the period).
    #[serde(default)]
    pub sagas: u64,
    /// Tombstones forgotten: no feed offered their key for the period.
    #[serde(default)]
    pub tombstones: u64,
}

/// One ledger entry to write.
#[derive(Clone, Debug, PartialEq)]
pub struct StageMark {
    pub item_id: i64,
    pub status: StageStatus,
    /// Why it failed (failed/parked), or why it was dropped.
    pub reason: Option<String>,
    /// Count this as a failed attempt on the item (an error the agent
    /// reported for this item). A stage-wide failure (model missing, SMTP
    /// down) is not the item's fault and never parks it.
    pub attempt: bool,
}

/// Which stored items are waiting for an agent: those its inputs produced
/// (sources, by the item's `source`) or passed (transforms, by their
/// ledger rows), fetched since `since`, that the agent has not finished.
#[derive(Clone, Debug, Default)]
pub struct StageQuery {
    pub pipeline: String,
    pub agent: String,
    /// Input agents that are sources.
    pub source_inputs: Vec<String>,
    /// Input agents that are transforms.
    pub stage_inputs: Vec<String>,
    /// Only items first fetched at or after this (the backlog window).
    pub since: Option<DateTime<Utc>>,
    /// Only items with an id above this (paging: ids in ascending order).
    pub after_id: i64,
    pub limit: u64,
}

/// Per-agent counts of the ledger, for `agg status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageCounts {
    pub agent: String,
    pub passed: u64,
    pub dropped: u64,
    pub failed: u64,
    pub parked: u64,
    /// When the agent last finished an item.
    pub last_ok: Option<DateTime<Utc>>,
    /// The newest failure reason, if any item is failed or parked.
    pub last_error: Option<String>,
}

/// An item that failed or was parked in some stage (`agg items --failed`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageFailure {
    pub pipeline: String,
    pub agent: String,
    pub item_id: i64,
    pub title: String,
    pub status: StageStatus,
    pub attempts: u32,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// A feed subscribed to through the store (`agg feeds add`, the UI), read
/// by the `subscriptions` source kind (issue 19).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// The feed's URL (after discovery): the identity, one row per URL.
    pub url: String,
    pub title: Option<String>,
    /// The folder it is filed in; `""` for none.
    pub folder: String,
    pub added: DateTime<Utc>,
}

/// What the reader did with an item (issue 18), kept apart from feedback:
/// reading or saving an item never trains the interest model, and a 👍 never
/// saves it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemState {
    pub item_id: i64,
    /// When it was first opened or marked read; `None`: unread.
    pub read_at: Option<DateTime<Utc>>,
    /// When it was saved; `None`: not saved.
    pub saved_at: Option<DateTime<Utc>>,
}

/// A change of read/saved state ([`Store::mark_items`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemMark {
    Read,
    Unread,
    Save,
    Unsave,
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
    /// The vectors of `model` of the newest `limit` items dated on or after
    /// `since` (an item without one leaves a gap), newest first: the pool a
    /// search compares by meaning, read without the items' bodies.
    async fn recent_embeddings(
        &self,
        model: &str,
        since: Option<DateTime<Utc>>,
        limit: u64,
    ) -> anyhow::Result<Vec<(i64, Vec<f32>)>>;
    /// The compact copies of `model`'s vectors of `ids` (a byte a
    /// dimension: cosines within ~0.001 of the stored vectors'); an id
    /// without a stored vector is in neither part. What search re-ranks
    /// its index's guesses by: one small row each, where a stored vector is
    /// ~3 random page reads.
    async fn get_vector_copies(&self, model: &str, ids: &[i64]) -> anyhow::Result<VectorCopies>;
    /// The pages of the vector index of `model` (`agg_vindex::code`)
    /// that hold ids above `after`, in id order: the whole index with
    /// `i64::MIN`, what a held index lacks with its highest id. A page may
    /// hold ids at or below `after` too; it covers ids from its `start`.
    async fn vector_pages(&self, model: &str, after: i64) -> anyhow::Result<Vec<CodePage>>;
    /// Items matching `q` in the full-text index (SQLite FTS5, PostgreSQL
    /// `tsvector`), best first, each with the index's relevance (higher is
    /// better; comparable only within one answer). No words: no matches.
    async fn search_text(&self, q: &TextQuery) -> anyhow::Result<Vec<(i64, f32)>>;

    /// Writes `rows` into the saga list (a row of the same id is replaced)
    /// and removes the rows of `gone` (sagas merged into others).
    async fn put_saga_list(&self, rows: &[SagaListRow], gone: &[u64]) -> anyhow::Result<()>;
    /// A page of the saga list: rows of groups up to `max_group`, by group,
    /// then newest `last_seen`, then highest id.
    async fn saga_list(
        &self,
        max_group: u8,
        offset: u64,
        limit: u64,
    ) -> anyhow::Result<Vec<SagaListRow>>;
    /// How many rows each group of the saga list has.
    async fn saga_list_counts(&self) -> anyhow::Result<Vec<(u8, u64)>>;

    /// Keeps sagas moved out of the saga engine's state, replacing a row of
    /// the same id.
    async fn put_saga_archive(&self, rows: &[ArchivedSagaRow]) -> anyhow::Result<()>;
    /// The archived sagas among `ids` as `(id, body)`, by id (those with no
    /// row are left out).
    async fn saga_archive(&self, ids: &[u64]) -> anyhow::Result<Vec<(u64, String)>>;
    /// Saves the saga engine's state in parts, in one transaction: the
    /// core under the state key `key`, the changed live sagas' and feeds'
    /// rows (replacing rows of the same id or feed), and removes the rows
    /// of the sagas gone.
    async fn save_saga_state(&self, key: &str, parts: &SagaStateParts<'_>) -> anyhow::Result<()>;
    /// Every live saga row written by [`Store::save_saga_state`], by id.
    async fn saga_live_rows(&self) -> anyhow::Result<Vec<String>>;
    /// Every per-feed row written by [`Store::save_saga_state`]: `(feed, body)`.
    async fn saga_feed_rows(&self) -> anyhow::Result<Vec<(String, String)>>;
    /// The ids of every live saga row, ascending (no bodies): a run that
    /// loads some sagas tells the others from archived ones by them.
    async fn saga_live_ids(&self) -> anyhow::Result<Vec<u64>>;
    /// The live saga rows of `ids` (those that have one), by id.
    async fn saga_live_rows_of(&self, ids: &[u64]) -> anyhow::Result<Vec<String>>;
    /// The per-feed rows of `feeds` (those that have one): `(feed, body)`.
    async fn saga_feed_rows_of(&self, feeds: &[String]) -> anyhow::Result<Vec<(String, String)>>;
    /// The saga vocabulary's rows of `terms` (those that have one):
    /// `(term, id, document frequency)`.
    async fn saga_terms_of(&self, terms: &[String]) -> anyhow::Result<Vec<(String, u32, u32)>>;
    /// The saga item index's entries of `hashes` (those that have one):
    /// `(item key hash, saga index)`.
    async fn saga_items_of(&self, hashes: &[u64]) -> anyhow::Result<Vec<(u64, u32)>>;
    /// Every row of the saga vocabulary, by id.
    async fn saga_terms(&self) -> anyhow::Result<Vec<(String, u32, u32)>>;
    /// The ids of the live sagas whose archive due time is at or before
    /// `at` (unix seconds), ascending.
    async fn saga_due_by(&self, at: i64) -> anyhow::Result<Vec<u64>>;
    /// The saga inverted index's lists of `terms` (those that have one):
    /// `(term id, saga indices)`.
    async fn saga_postings_of(&self, terms: &[u32]) -> anyhow::Result<Vec<(u32, Vec<u32>)>>;
    /// Every list of the saga inverted index, by term id.
    async fn saga_postings(&self) -> anyhow::Result<Vec<(u32, Vec<u32>)>>;
    /// Retention: forgets archived sagas whose newest item is older than
    /// `before`, with their saga list rows; returns how many.
    async fn prune_saga_archive(&self, before: DateTime<Utc>) -> anyhow::Result<u64>;

    async fn set_scores(&self, rows: &[ScoreRow]) -> anyhow::Result<()>;

    /// Keeps a new revision of a named model (an interest model, serialised).
    async fn save_model(&self, name: &str, revision: u64, json: &str) -> anyhow::Result<()>;
    /// The newest revision of a named model.
    async fn latest_model(&self, name: &str) -> anyhow::Result<Option<(u64, String)>>;

    async fn add_feedback(
        &self,
        item_id: i64,
        kind: FeedbackKind,
        via: FeedbackVia,
    ) -> anyhow::Result<()>;
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
        status: DigestStatus,
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

    /// Writes ledger entries for one agent, in one transaction. `Passed`
    /// and `Dropped` replace any earlier entry; `Failed` with `attempt`
    /// adds one to the item's attempts and becomes `Parked` once they reach
    /// `max_attempts`; a `Failed` entry never overwrites a finished one.
    async fn mark_stage(
        &self,
        pipeline: &str,
        agent: &str,
        marks: &[StageMark],
        max_attempts: u32,
    ) -> anyhow::Result<()>;
    /// Ids of the items pending for an agent, ascending, at most `limit`.
    async fn pending_items(&self, q: &StageQuery) -> anyhow::Result<Vec<i64>>;
    /// Items an agent's inputs hold for it to show (a page is a view of the
    /// store, not of one run): produced by `source_inputs` or passed by
    /// `stage_inputs`, first fetched since `since`, newest first.
    async fn stage_view(&self, q: &StageQuery) -> anyhow::Result<Vec<Item>>;
    /// Ledger counts per agent of a pipeline.
    async fn stage_counts(&self, pipeline: &str) -> anyhow::Result<Vec<StageCounts>>;
    /// Failed and parked entries, newest first (all pipelines when `None`).
    async fn stage_failures(
        &self,
        pipeline: Option<&str>,
        limit: u64,
    ) -> anyhow::Result<Vec<StageFailure>>;
    /// Puts parked (and failed) entries back in line: their attempts are
    /// forgotten, so the next run offers the items again. `agent` and
    /// `item` narrow it. Returns how many entries were reset.
    async fn retry_stage(
        &self,
        pipeline: &str,
        agent: Option<&str>,
        item: Option<i64>,
    ) -> anyhow::Result<u64>;
    /// The embedding model whose vectors were stored last (the most among
    /// the newest thousand, so the answer does not flicker while both
    /// models are written): agents that use cached vectors without loading
    /// the model (sagas) read this model's.
    async fn latest_embedding_model(&self) -> anyhow::Result<Option<String>>;

    // issue 23: history
    /// Appends saga events `(saga, event, detail)` that happened `at`, one
    /// statement per batch (a merge-heavy run logs thousands). `at` is the
    /// run's clock (`agg_core::clock`), so that a run at `--now` and the
    /// retention that prunes by that clock agree on an event's age.
    async fn log_saga_events(
        &self,
        events: &[(u64, String, String)],
        at: DateTime<Utc>,
    ) -> anyhow::Result<()>;
    /// Deletes saga events logged before `before`; returns how many. The log
    /// explains recent changes (`agg sagas show`); a year of it is noise.
    async fn prune_saga_events(&self, before: DateTime<Utc>) -> anyhow::Result<u64>;
    /// Retention: drops vectors and bodies of old items, then deletes older
    /// ones, leaving a tombstone per deleted key, which `upsert_items` then
    /// neither inserts nor reports as new (it leaves such an item's `id`
    /// unset). Items of `keep_sagas`, items with a `like` and saved items
    /// are kept whole.
    /// Works in batches of its own transactions, vectors and bodies before
    /// rows, so an interrupted pass leaves nothing half-deleted.
    async fn apply_retention(&self, plan: &RetentionPlan) -> anyhow::Result<RetentionReport>;
    /// Of `keys`, those retention deleted.
    async fn tombstoned(
        &self,
        keys: &[String],
    ) -> anyhow::Result<std::collections::HashSet<String>>;

    // issue 19: subscriptions
    /// Adds a subscription; `false` (and nothing changed) when its URL is
    /// subscribed already.
    async fn add_subscription(&self, sub: &Subscription) -> anyhow::Result<bool>;
    /// Removes the subscription to `url`; `false` when there was none.
    async fn remove_subscription(&self, url: &str) -> anyhow::Result<bool>;
    /// Every subscription (of `folder` when given), by folder then URL.
    async fn list_subscriptions(&self, folder: Option<&str>) -> anyhow::Result<Vec<Subscription>>;
    /// Of `ids`, those a notification sink (pipeline, agent) has sent.
    async fn notified(
        &self,
        pipeline: &str,
        agent: &str,
        ids: &[i64],
    ) -> anyhow::Result<std::collections::HashSet<i64>>;
    /// Records that a notification sink sent item `item_id` at `at`.
    async fn record_notification(
        &self,
        pipeline: &str,
        agent: &str,
        item_id: i64,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()>;
    /// How many notifications a sink sent at or after `since`.
    async fn notifications_since(
        &self,
        pipeline: &str,
        agent: &str,
        since: DateTime<Utc>,
    ) -> anyhow::Result<u64>;

    // issue 18: read and saved
    /// Marks the stored items among `ids` read, unread, saved or unsaved
    /// (`at` is the time kept). Idempotent: marking an item read or saved
    /// again keeps the first time; ids of no stored item are skipped.
    /// Returns how many of `ids` (each counted once) are stored items.
    async fn mark_items(
        &self,
        ids: &[i64],
        mark: ItemMark,
        at: DateTime<Utc>,
    ) -> anyhow::Result<u64>;
    /// The state of those of `ids` that were read or saved (an item missing
    /// from the map is unread and not saved).
    async fn item_states(
        &self,
        ids: &[i64],
    ) -> anyhow::Result<std::collections::HashMap<i64, ItemState>>;
    /// Saved items, most recently saved first, at most `limit`.
    async fn saved_items(&self, limit: u64) -> anyhow::Result<Vec<ItemState>>;
}

#[cfg(test)]
mod status_tests {
    use super::*;

    /// Every closed set the store writes as text reads back as itself, and
    /// a value agg never writes is an error, not a guess (`RunStatus` used
    /// to read anything unknown as "aborted").
    #[test]
    fn statuses_round_trip_and_unknown_values_are_errors() {
        for s in [
            RunStatus::Running,
            RunStatus::Ok,
            RunStatus::Partial,
            RunStatus::Failed,
            RunStatus::Aborted,
        ] {
            assert_eq!(RunStatus::parse(s.as_str()).unwrap(), s);
        }
        for k in FeedbackKind::ALL {
            assert_eq!(FeedbackKind::parse(k.as_str()).unwrap(), *k);
            assert_eq!(serde_json::to_string(k).unwrap(), format!("\"{k}\""));
        }
        for v in FeedbackVia::ALL {
            assert_eq!(FeedbackVia::parse(v.as_str()).unwrap(), *v);
        }
        assert!(FeedbackKind::parse("meh").is_err());
        for s in [AgentStatus::Ok, AgentStatus::Partial, AgentStatus::Failed] {
            assert_eq!(AgentStatus::parse(s.as_str()).unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        for s in [
            DigestStatus::Pending,
            DigestStatus::Sent,
            DigestStatus::Failed,
            DigestStatus::Interrupted,
        ] {
            assert_eq!(DigestStatus::parse(s.as_str()).unwrap(), s);
        }
        for r in [
            crate::agent::Role::Source,
            crate::agent::Role::Transform,
            crate::agent::Role::Sink,
        ] {
            assert_eq!(crate::agent::Role::parse(r.as_str()).unwrap(), r);
        }
        assert!(RunStatus::parse("done").is_err());
        assert!(AgentStatus::parse("OK").is_err());
        assert!(DigestStatus::parse("").is_err());
        assert!(crate::agent::Role::parse("filter").is_err());
    }
}
