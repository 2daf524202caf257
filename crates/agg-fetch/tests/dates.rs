//! agg's date parser (`agg_fetch::date`) against feed-rs's own, on every
//! date of the real-feed corpus (`../shared/data/feeds/real`): wherever
//! feed-rs reads a date, agg reads the same instant. Skipped, with a note,
//! when the corpus is absent.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

fn corpus() -> Option<PathBuf> {
    let p = std::env::var_os("AGG_FEED_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/feeds")
        });
    p.join("real").is_dir().then_some(p)
}

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
    let Some(c) = corpus() else {
        eprintln!("note: feed corpus not found; skipping");
        return;
    };
    let ours = feed_rs::parser::Builder::new()
        .timestamp_parser(agg_fetch::date::parse_date)
        .build();
    let (mut compared, mut files) = (0usize, 0usize);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(c.join("real"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for p in paths {
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
