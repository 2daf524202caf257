//! The one thing that travels through a pipeline.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A news item: fetched once by a source, stored once (by [`Item::key`]),
/// enriched by transforms, read by sinks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Row id in the store; `None` until the item has been stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Stable identity: the same story fetched again maps to the same key, so a
    /// re-run (or a run resumed after a crash) never stores it twice. See
    /// `agg_fetch::keys` for how it is made.
    pub key: String,
    /// Name of the pipeline agent that produced the item.
    pub source: String,
    /// The feed (or file) the item came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub title: String,
    /// Plain text (summary or content with markup removed), used for matching
    /// and scoring. HTML is never kept here.
    #[serde(default)]
    pub text: String,
    /// Sanitised HTML of the summary/content, for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<DateTime<Utc>>,
    pub fetched: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Other sources that carried the same story (filled by `dedupe`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_in: Vec<String>,
    /// Media attached to the item (podcast audio, images), kept as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enclosures: Vec<Enclosure>,
    /// Interest score in 0..1 (set by `score`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// Why the item got its score, in plain words, strongest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// The saga the item belongs to (set by `saga`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saga: Option<SagaRef>,
    /// True when this run stored the item for the first time.
    #[serde(default)]
    pub is_new: bool,
    /// Sentence embedding computed in this run (by `score`), passed along
    /// so later agents (`saga`) need not recompute or reload it. Never
    /// serialised: the store keeps embeddings in their own table.
    #[serde(skip)]
    pub embedding: Option<std::sync::Arc<[f32]>>,
}

/// A media file attached to an item.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Enclosure {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
}

/// An item's saga, as sinks need it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SagaRef {
    pub id: u64,
    pub title: String,
    #[serde(default)]
    pub followed: bool,
    #[serde(default)]
    pub muted: bool,
}

impl Item {
    /// The time a reader would put on the item: published, else updated, else
    /// when we fetched it. Items without a date are never dropped for it.
    pub fn when(&self) -> DateTime<Utc> {
        self.published.or(self.updated).unwrap_or(self.fetched)
    }
}
