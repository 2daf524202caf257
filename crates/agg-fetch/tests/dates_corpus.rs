//! Dates over the real and hostile feed corpora (`../shared/data/feeds`):
//! no item is dated in the future, none loses a date feed-rs reads (unless
//! that date is impossible), and on a first fetch none whose feed dates it
//! weeks back counts as new (`Item::is_archive`). Skipped, with a note, when
//! the corpus is absent.

mod common;

use agg_core::item::ARCHIVE_AGE;
use agg_fetch::date::{MAX_AHEAD, plausible};
use agg_fetch::parse::parse_feed;
use chrono::{DateTime, Datelike, Utc};

fn feed_rs_dates(bytes: &[u8]) -> Option<Vec<Option<DateTime<Utc>>>> {
    let f = feed_rs::parser::parse(bytes).ok()?;
    Some(
        f.entries
            .iter()
            .map(|e| e.published.or(e.updated))
            .collect(),
    )
}

#[test]
fn no_future_dates_no_lost_dates_and_no_archive_presented_as_new() {
    let Some(root) = common::corpus() else { return };
    let now = Utc::now();
    let (mut items, mut dated, mut archive, mut beyond_feed_rs) = (0, 0, 0, 0);
    for dir in ["real", "hostile"] {
        for p in common::files(&root.join(dir)) {
            let name = p.display().to_string();
            let bytes = std::fs::read(&p).unwrap();
            let Ok(feed) = parse_feed(&bytes, "https://example.com/feed", "corpus", now) else {
                continue;
            };
            // feed-rs is the oracle on the real feeds only: it panics on
            // some hostile ones (agg contains that; a test need not).
            let theirs = (dir == "real")
                .then(|| feed_rs_dates(&bytes))
                .flatten()
                .filter(|d| d.len() == feed.items.len());
            for (k, it) in feed.items.iter().enumerate() {
                items += 1;
                let d = it.dated();
                if let Some(d) = d {
                    dated += 1;
                    assert!(
                        d <= now + MAX_AHEAD,
                        "{name}: item {k} dated {d}, in the future"
                    );
                    assert!(d.year() >= 1990, "{name}: item {k} dated {d}");
                }
                // Whatever feed-rs reads we read too, unless it is impossible.
                if let Some(t) = theirs.as_ref().and_then(|t| t[k]) {
                    if plausible(Some(t), now).is_some() {
                        assert_eq!(d, Some(t), "{name}: item {k}");
                    } else {
                        assert_eq!(d, None, "{name}: item {k} kept an impossible date");
                    }
                } else if theirs.is_some() && d.is_some() {
                    beyond_feed_rs += 1;
                }
                // First fetch: an item the feed dates two weeks or more back
                // is archive, stored but not new.
                if d.is_some_and(|d| d < now - ARCHIVE_AGE) {
                    assert!(it.is_archive(ARCHIVE_AGE), "{name}: item {k}");
                    archive += 1;
                }
                if d.is_none() {
                    assert!(!it.is_archive(ARCHIVE_AGE));
                }
            }
        }
    }
    eprintln!(
        "{items} items, {dated} dated ({beyond_feed_rs} where feed-rs reads no date), {archive} archive on a first fetch"
    );
    assert!(items > 2000 && beyond_feed_rs > 30);
}

/// The feeds of the issue, one by one: each item gets its feed's date
/// (localised, offset-less), so none is presented as today's news.
#[test]
fn localised_and_offsetless_feeds_are_dated() {
    let Some(root) = common::corpus() else { return };
    let now = Utc::now();
    for (file, year) in [
        ("rss-parser__uolNoticias.rss", 2018),
        ("feed-rs__rss_2.0_ilmessaggero.xml", 2022),
        ("netnewswire__curt.json", 2016),
        ("netnewswire__kc0011.rss", 2020),
        ("rome__sunnyvale.xml", 2008),
    ] {
        let bytes = std::fs::read(root.join("real").join(file)).unwrap();
        let feed = parse_feed(&bytes, "https://example.com/feed", "corpus", now).unwrap();
        assert!(!feed.items.is_empty(), "{file}");
        for it in &feed.items {
            let d = it
                .dated()
                .unwrap_or_else(|| panic!("{file}: {} undated", it.title));
            assert!(d.year() >= year, "{file}: {d}");
            assert!(it.is_archive(ARCHIVE_AGE), "{file}: {d} counts as new");
        }
    }
    // Year 9999 and 1970 are errors of the feed: undated, not on top forever.
    let bytes =
        std::fs::read(root.join("hostile/invalid-dates/gen__rss_bogus_pubdates.xml")).unwrap();
    let feed = parse_feed(&bytes, "https://example.com/feed", "corpus", now).unwrap();
    let date_of = |title: &str| {
        feed.items
            .iter()
            .find(|i| i.title == title)
            .unwrap_or_else(|| panic!("{title} missing"))
            .dated()
            .map(|d| d.to_rfc3339())
    };
    for undated in [
        "Item 0", "Item 1", "Item 9", "Item 16", "Item 18", "Item 19", "Item 21",
    ] {
        assert_eq!(date_of(undated), None, "{undated}");
    }
    // Forms that name a day: read (German, CJK, two-digit year, unknown zone as UTC).
    assert_eq!(
        date_of("Item 13").as_deref(),
        Some("2021-09-06T00:00:00+00:00")
    );
    assert_eq!(
        date_of("Item 14").as_deref(),
        Some("2021-09-06T00:00:00+00:00")
    );
    assert_eq!(
        date_of("Item 15").as_deref(),
        Some("2021-09-06T20:45:00+00:00")
    );
    assert_eq!(
        date_of("Item 4").as_deref(),
        Some("2003-06-10T04:00:00+00:00")
    );
}
