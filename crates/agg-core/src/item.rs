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
    /// The time to order items by: the feed's date ([`Item::dated`]), else
    /// when we first fetched the item. Items without a date are never
    /// dropped for it, but this is not a date to show: an undated item
    /// fetched today is not today's news. Show [`Item::dated`] (and say
    /// "undated" when it is `None`), and sort with [`Item::recency_key`].
    pub fn when(&self) -> DateTime<Utc> {
        self.dated().unwrap_or(self.fetched)
    }

    /// The date the feed gave the item (published, else updated), if it gave
    /// one that could be believed (sources refuse dates in the future, see
    /// `agg_fetch::date::plausible`). `None`: the item is undated, and pages
    /// say so rather than showing the fetch time as its date.
    pub fn dated(&self) -> Option<DateTime<Utc>> {
        self.published.or(self.updated)
    }

    /// A key for "newest first" (sort by it reversed): the day of
    /// [`Item::when`], then dated before undated items of that day, then the
    /// time. An undated item stays near the day it was first seen, where a
    /// reader would look for it, but below the items that are known to be
    /// from that day: its real date is that day or any day before.
    pub fn recency_key(&self) -> (chrono::NaiveDate, bool, DateTime<Utc>) {
        let w = self.when();
        (w.date_naive(), self.dated().is_some(), w)
    }

    /// True when the feed dated the item more than `max_age` before agg
    /// first saw it: an archive entry (a feed's back catalogue on its first
    /// fetch, an old post re-surfacing), to be stored and searchable but not
    /// presented as new. Undated items are never archive: nothing says they
    /// are old. See [`ARCHIVE_AGE`].
    pub fn is_archive(&self, max_age: chrono::Duration) -> bool {
        self.dated().is_some_and(|d| d < self.fetched - max_age)
    }
}

/// The default age past which an item is archive, not news, when first seen
/// ([`Item::is_archive`]): two weeks, the window a daily or weekly reader
/// could still have missed an item in.
pub const ARCHIVE_AGE: chrono::Duration = chrono::Duration::days(14);

/// A date as pages show it: `Wed 6 Apr` in the year of `today`, `Wed 6 Apr
/// 2016` in another year (an old item must never read as this year's), and
/// `undated` for `None`.
pub fn day_label<Tz: chrono::TimeZone>(d: Option<&DateTime<Tz>>, today: chrono::NaiveDate) -> String
where
    Tz::Offset: std::fmt::Display,
{
    use chrono::Datelike;
    match d {
        None => "undated".to_string(),
        Some(d) if d.year() == today.year() => d.format("%a %-d %b").to_string(),
        Some(d) => d.format("%a %-d %b %Y").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn undated_items_are_said_to_be_undated_and_sort_after_dated_ones() {
        let fetched = at(2026, 3, 1, 20);
        let undated = Item {
            fetched,
            ..Item::default()
        };
        let morning = Item {
            published: Some(at(2026, 3, 1, 8)),
            fetched,
            ..Item::default()
        };
        let yesterday = Item {
            published: Some(at(2026, 2, 28, 23)),
            fetched,
            ..Item::default()
        };
        assert_eq!(undated.dated(), None);
        assert_eq!(undated.when(), fetched);
        let mut v = [&yesterday, &undated, &morning];
        v.sort_by_key(|i| std::cmp::Reverse(i.recency_key()));
        assert_eq!(v, [&morning, &undated, &yesterday]);
        let today = fetched.date_naive();
        assert_eq!(day_label(undated.dated().as_ref(), today), "undated");
        assert_eq!(day_label(morning.dated().as_ref(), today), "Sun 1 Mar");
        let old = at(2016, 4, 6, 9);
        assert_eq!(day_label(Some(&old), today), "Wed 6 Apr 2016");
    }

    #[test]
    fn archive_is_what_the_feed_dated_long_before_first_sight() {
        let fetched = at(2026, 3, 1, 20);
        let item = |published| Item {
            published,
            fetched,
            ..Item::default()
        };
        assert!(item(Some(at(2012, 5, 1, 0))).is_archive(ARCHIVE_AGE));
        assert!(item(Some(at(2026, 2, 14, 0))).is_archive(ARCHIVE_AGE));
        assert!(!item(Some(at(2026, 2, 16, 0))).is_archive(ARCHIVE_AGE));
        assert!(!item(None).is_archive(ARCHIVE_AGE));
    }
}
