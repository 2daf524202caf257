//! A saga (an ongoing story) and what is kept of it: id, lifecycle status,
//! timeline members, merge records, centroid and recent items; its
//! user-facing summary.

#[cfg(doc)]
use super::SagaEngine;
use crate::vector::{IdMap, SparseVec};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

/// Stable identifier of a saga. Numbers start at 1 and are never reused, so
/// they can be shown to users and stored as foreign keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SagaId(pub u64);

impl fmt::Display for SagaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl SagaId {
    pub(super) fn index(self) -> usize {
        (self.0 as usize).wrapping_sub(1)
    }
    pub(super) fn from_index(i: usize) -> Self {
        SagaId(i as u64 + 1)
    }
}

/// Lifecycle state of a saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaStatus {
    /// Seen within the dormancy period.
    Active,
    /// Quiet for longer than `dormant_after_days`; revives on a match.
    Dormant,
    /// Closed by the user: takes no new items (a matching item starts a new saga).
    Closed,
    /// Merged into another saga (see [`Saga::merged_into`]); kept as a tombstone
    /// so old ids still resolve.
    Merged,
}

/// One item of a saga's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Item key.
    pub item_id: String,
    /// Effective item time.
    pub time: DateTime<Utc>,
    /// Score that placed the item (0 for the founding item, 1 for items moved
    /// by a user merge or split).
    pub score: f32,
    /// Outlet, when known.
    pub source: Option<String>,
    /// Headline, for titles and timelines.
    pub title: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Recent {
    pub(super) item_id: String,
    pub(super) time: DateTime<Utc>,
    #[serde(with = "crate::vector::packed_pairs::vec")]
    pub(super) vec: SparseVec,
    #[serde(default, with = "crate::vector::packed_half")]
    pub(super) emb: Option<Vec<half::f16>>,
    /// The item's feed key, so that an item is compared with other feeds'
    /// items only when its own feed is no evidence.
    #[serde(default)]
    pub(super) feed: Option<String>,
}

/// One merge into a saga, kept so that it can be shown ("merged with …")
/// and undone ([`SagaEngine::unmerge`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeRecord {
    /// The saga that was merged in (now a tombstone).
    pub from: SagaId,
    /// Its title at the time.
    pub from_title: String,
    /// The items that came with it.
    pub items: Vec<String>,
    /// Engine clock at the merge.
    pub at: Option<DateTime<Utc>>,
    /// Made automatically (a bridging item), not by the user.
    pub auto: bool,
    /// Centroid cosine of the two sagas at the merge.
    pub evidence: f32,
}

/// A saga: an ongoing story.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saga {
    /// Identifier.
    pub id: SagaId,
    /// Display title: a representative headline, fixed once settled or renamed.
    pub title: String,
    /// Whether the title no longer changes automatically.
    pub title_fixed: bool,
    /// Lifecycle state.
    pub status: SagaStatus,
    /// Followed by the user.
    pub followed: bool,
    /// Muted by the user.
    pub muted: bool,
    /// Earliest item time.
    pub first_seen: DateTime<Utc>,
    /// Latest item time.
    pub last_seen: DateTime<Utc>,
    /// Items in arrival order.
    pub members: Vec<Member>,
    /// Items per outlet.
    pub outlets: BTreeMap<String, u32>,
    /// Set when merged into another saga.
    pub merged_into: Option<SagaId>,
    /// Set when created by splitting another saga.
    pub split_from: Option<SagaId>,
    /// Items per feed (the feed key: `SagaItem::feed`, else `source`).
    #[serde(default)]
    pub feeds: BTreeMap<String, u32>,
    /// Items per detected language (items of unknown language not counted).
    #[serde(default)]
    pub langs: BTreeMap<String, u32>,
    /// Merges into this saga, oldest first.
    #[serde(default)]
    pub merges: Vec<MergeRecord>,
    #[serde(with = "crate::vector::packed_pairs::map")]
    pub(super) centroid: IdMap<f32>,
    pub(super) centroid_norm2: f64,
    pub(super) recent: VecDeque<Recent>,
}

impl Saga {
    /// Number of items.
    pub fn item_count(&self) -> usize {
        self.members.len()
    }

    /// Number of distinct outlets.
    pub fn outlet_count(&self) -> usize {
        self.outlets.len()
    }

    /// Items sorted by time (stable for ties: arrival order).
    pub fn timeline(&self) -> Vec<&Member> {
        let mut v: Vec<&Member> = self.members.iter().collect();
        v.sort_by_key(|m| m.time);
        v
    }

    /// Items newer than `since` (e.g. the last digest), sorted by time.
    pub fn new_since(&self, since: DateTime<Utc>) -> Vec<&Member> {
        self.timeline()
            .into_iter()
            .filter(|m| m.time > since)
            .collect()
    }

    /// The user-facing view of the saga (everything but the matching state:
    /// centroid and recent vectors), for `show --json` and the web pages.
    pub fn summary(&self) -> SagaSummary {
        SagaSummary {
            id: self.id,
            title: self.title.clone(),
            status: self.status,
            followed: self.followed,
            muted: self.muted,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            item_count: self.members.len(),
            outlet_count: self.outlets.len(),
            outlets: self.outlets.clone(),
            merged_into: self.merged_into,
            split_from: self.split_from,
            date_range: self.date_range(),
            feeds: self.feeds.clone(),
            languages: self.langs.clone(),
            merges: self.merges.clone(),
            timeline: self.timeline().into_iter().cloned().collect(),
        }
    }

    /// Number of distinct feeds.
    pub fn feed_count(&self) -> usize {
        self.feeds.len()
    }

    /// The language most of its items are in, when any was detected.
    pub fn main_language(&self) -> Option<&str> {
        self.langs
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(l, _)| l.as_str())
    }

    /// Its date range for people: "24 Sep 2018" for one day, "since 24 Sep
    /// 2018, last 3 Dec" within a year, "since 24 Sep 2018, last 3 Jan 2019"
    /// across years (see [`date_range`]).
    pub fn date_range(&self) -> String {
        date_range(self.first_seen, self.last_seen)
    }

    /// Whether automatic assignment may add items to this saga.
    pub fn is_open(&self) -> bool {
        matches!(self.status, SagaStatus::Active | SagaStatus::Dormant)
    }

    /// A saga with no items yet: active, untitled, nothing followed or
    /// muted; callers set what differs (a split's origin, a tombstone's
    /// title and status).
    pub(super) fn empty(id: SagaId, first_seen: DateTime<Utc>, last_seen: DateTime<Utc>) -> Saga {
        Saga {
            id,
            title: String::new(),
            title_fixed: false,
            status: SagaStatus::Active,
            followed: false,
            muted: false,
            first_seen,
            last_seen,
            members: Vec::new(),
            outlets: BTreeMap::new(),
            merged_into: None,
            split_from: None,
            feeds: BTreeMap::new(),
            langs: BTreeMap::new(),
            merges: Vec::new(),
            centroid: IdMap::default(),
            centroid_norm2: 0.0,
            recent: VecDeque::new(),
        }
    }

    pub(super) fn add_vec(&mut self, v: &SparseVec, sign: f32) -> Vec<u32> {
        let mut fresh = Vec::new();
        for &(id, w) in v {
            let e = self.centroid.entry(id).or_insert(0.0);
            let old = *e;
            if old == 0.0 && sign > 0.0 {
                fresh.push(id);
            }
            let new = old + sign * w;
            self.centroid_norm2 += (new as f64) * (new as f64) - (old as f64) * (old as f64);
            *e = new;
            if sign < 0.0 && new.abs() < 1e-6 {
                self.centroid.remove(&id);
            }
        }
        if self.centroid_norm2 < 0.0 {
            self.centroid_norm2 = 0.0;
        }
        fresh
    }

    pub(super) fn centroid_cos(&self, v: &SparseVec) -> f32 {
        if self.centroid_norm2 <= 0.0 {
            return 0.0;
        }
        let d: f32 = v
            .iter()
            .filter_map(|(id, w)| self.centroid.get(id).map(|c| c * w))
            .sum();
        d / (self.centroid_norm2.sqrt() as f32)
    }
}

/// A saga's span as a person reads it, never "day 4040": "24 Sep 2018" when
/// it started and was last seen the same day, "since 24 Sep 2018, last 3
/// Dec" within one year, "since 24 Sep 2018, last 3 Jan 2019" across years.
pub fn date_range(first: DateTime<Utc>, last: DateTime<Utc>) -> String {
    let (a, b) = (first.date_naive(), last.date_naive());
    if a == b {
        a.format("%-d %b %Y").to_string()
    } else if a.format("%Y").to_string() == b.format("%Y").to_string() {
        format!(
            "since {}, last {}",
            a.format("%-d %b %Y"),
            b.format("%-d %b")
        )
    } else {
        format!(
            "since {}, last {}",
            a.format("%-d %b %Y"),
            b.format("%-d %b %Y")
        )
    }
}

/// A saga as users see it (see [`Saga::summary`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SagaSummary {
    /// Identifier.
    pub id: SagaId,
    /// Display title.
    pub title: String,
    /// Lifecycle state.
    pub status: SagaStatus,
    /// Followed by the user.
    pub followed: bool,
    /// Muted by the user.
    pub muted: bool,
    /// Earliest item time.
    pub first_seen: DateTime<Utc>,
    /// Latest item time.
    pub last_seen: DateTime<Utc>,
    /// Number of items.
    pub item_count: usize,
    /// Number of distinct outlets.
    pub outlet_count: usize,
    /// Items per outlet.
    pub outlets: BTreeMap<String, u32>,
    /// Set when merged into another saga.
    pub merged_into: Option<SagaId>,
    /// Set when created by a split.
    pub split_from: Option<SagaId>,
    /// "since 24 Sep 2018, last 3 Dec" (see [`date_range`]).
    pub date_range: String,
    /// Items per feed.
    pub feeds: BTreeMap<String, u32>,
    /// Items per detected language.
    pub languages: BTreeMap<String, u32>,
    /// Merges into this saga ("merged with …"), oldest first.
    pub merges: Vec<MergeRecord>,
    /// Items sorted by time.
    pub timeline: Vec<Member>,
}

/// Cosine of two sagas' centroids (f64 so that the hash-map iteration order
/// cannot flip a decision).
pub(super) fn centroid_cosine(sa: &Saga, sb: &Saga) -> f32 {
    let (small, big) = if sa.centroid.len() <= sb.centroid.len() {
        (sa, sb)
    } else {
        (sb, sa)
    };
    if small.centroid_norm2 <= 0.0 || big.centroid_norm2 <= 0.0 {
        return 0.0;
    }
    let d: f64 = small
        .centroid
        .iter()
        .filter_map(|(k, w)| big.centroid.get(k).map(|x| (*x as f64) * (*w as f64)))
        .sum();
    (d / (small.centroid_norm2.sqrt() * big.centroid_norm2.sqrt())) as f32
}
