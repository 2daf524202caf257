//! agg's date parser (`agg_fetch::date`) against feed-rs's own, on every
//! date of the real-feed corpus (`../shared/data/feeds/real`): wherever
//! feed-rs reads a date, agg reads the same instant. Skipped, with a note,
//! when the corpus is absent.

mod common;

use chrono::{DateTime, Utc};

/// Every date of a feed, in document order (feed, then each entry).
fn dates(feed: &feed_rs::model::Feed) -> Vec<Option<DateTime<Utc>>> {
    let mut v = vec![feed.updated, feed.published];
    for e in &feed.entries {
        v.extend([e.published, e.updated]);
    }
    v
}

#[test]
fn agg_reads_every_date_feed_rs_reads_and_the_same_instant() {
    let Some(c) = common::corpus() else {
        return;
    };
    let ours = feed_rs::parser::Builder::new()
        .timestamp_parser(agg_fetch::date::parse_date)
        .build();
    let (mut compared, mut files) = (0usize, 0usize);
    for p in common::files(&c.join("real")) {
        let bytes = std::fs::read(&p).unwrap();
        let Ok(theirs) = feed_rs::parser::parse(&bytes[..]) else {
            continue;
        };
        let mine = ours
            .parse(&bytes[..])
            .expect("parses as it did with feed-rs's dates");
        files += 1;
        for (k, (a, b)) in dates(&theirs).into_iter().zip(dates(&mine)).enumerate() {
            if let Some(a) = a {
                compared += 1;
                assert_eq!(Some(a), b, "{}: date #{k}", p.display());
            }
        }
    }
    eprintln!("{compared} dates in {files} feeds read alike");
    assert!(compared > 2000, "only {compared} dates compared");
}
