//! The store contract, written against `dyn Store` so every backend runs the
//! same checks (today SQLite; a PostgreSQL backend adds itself to
//! `backends()`).

use std::sync::Arc;

use agg_core::Item;
use agg_core::store::{AgentOutcome, FeedState, ItemQuery, RunStatus, Store};
use chrono::{TimeZone, Utc};

async fn backends() -> Vec<(tempfile::TempDir, Arc<dyn Store>)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/agg.db");
    let store = agg_store::open(path.to_str().unwrap()).await.unwrap();
    vec![(dir, store)]
}

fn item(key: &str, source: &str, day: u32) -> Item {
    Item {
        key: key.into(),
        source: source.into(),
        title: format!("title {key}"),
        text: "text".into(),
        published: Some(Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).unwrap()),
        fetched: Utc::now(),
        tags: vec!["t".into()],
        ..Item::default()
    }
}

#[tokio::test]
async fn upserts_are_idempotent_by_key() {
    for (_d, s) in backends().await {
        let mut batch = vec![item("a", "x", 1), item("b", "x", 2)];
        assert_eq!(s.upsert_items(&mut batch).await.unwrap(), 2);
        assert!(batch.iter().all(|i| i.is_new && i.id.is_some()));
        let ids: Vec<_> = batch.iter().map(|i| i.id).collect();

        let mut again = vec![item("a", "x", 1), item("b", "x", 2), item("c", "y", 3)];
        assert_eq!(s.upsert_items(&mut again).await.unwrap(), 1);
        assert_eq!(
            again.iter().map(|i| i.is_new).collect::<Vec<_>>(),
            [false, false, true]
        );
        assert_eq!(vec![again[0].id, again[1].id], ids, "same key, same row");
        assert_eq!(s.count_items(&ItemQuery::default()).await.unwrap(), 3);
    }
}

#[tokio::test]
async fn an_item_updated_by_its_feed_changes_in_place() {
    for (_d, s) in backends().await {
        let mut first = vec![item("a", "x", 1)];
        s.upsert_items(&mut first).await.unwrap();
        let mut edited = item("a", "x", 1);
        edited.title = "corrected title".into();
        let mut batch = vec![edited];
        assert_eq!(s.upsert_items(&mut batch).await.unwrap(), 0);
        let all = s.list_items(&ItemQuery::default()).await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].title, "corrected title");
        assert_eq!(all[0].id, first[0].id);
        assert_eq!(all[0].tags, vec!["t".to_string()]);
    }
}

#[tokio::test]
async fn listing_filters_by_source_and_date_newest_first() {
    for (_d, s) in backends().await {
        let mut batch = vec![item("a", "x", 1), item("b", "x", 5), item("c", "y", 3)];
        s.upsert_items(&mut batch).await.unwrap();
        let all = s.list_items(&ItemQuery::default()).await.unwrap();
        assert_eq!(
            all.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(),
            ["b", "c", "a"]
        );
        let q = ItemQuery {
            source: Some("x".into()),
            ..ItemQuery::default()
        };
        assert_eq!(s.count_items(&q).await.unwrap(), 2);
        let q = ItemQuery {
            since: Some(Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap()),
            until: Some(Utc.with_ymd_and_hms(2026, 11, 4, 0, 0, 0).unwrap()),
            ..ItemQuery::default()
        };
        let got = s.list_items(&q).await.unwrap();
        assert_eq!(
            got.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(),
            ["c"]
        );
        let q = ItemQuery {
            limit: Some(1),
            ..ItemQuery::default()
        };
        assert_eq!(s.list_items(&q).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn runs_record_outcomes_and_abandoned_runs_are_marked() {
    for (_d, s) in backends().await {
        let dead = s.begin_run("p").await.unwrap();
        let other = s.begin_run("q").await.unwrap();
        let run = s.begin_run("p").await.unwrap();
        let outcome = AgentOutcome {
            agent: "a".into(),
            kind: "file".into(),
            role: "source".into(),
            status: "partial".into(),
            items_out: 3,
            items_new: 2,
            errors: vec!["feed x: HTTP 500".into()],
            ..AgentOutcome::default()
        };
        s.record_agent(run, &outcome).await.unwrap();
        s.finish_run(run, RunStatus::Partial).await.unwrap();
        let runs = s.list_runs(10).await.unwrap();
        let by = |id| runs.iter().find(|r| r.id == id).unwrap();
        assert_eq!(by(dead).status, RunStatus::Aborted);
        assert_eq!(
            by(other).status,
            RunStatus::Running,
            "other pipelines are left alone"
        );
        assert_eq!(by(run).status, RunStatus::Partial);
        assert!(by(run).finished.is_some());
        assert_eq!(by(run).agents[0].errors, outcome.errors);
        assert_eq!(by(run).agents[0].items_new, 2);
        assert_eq!(runs[0].id, run, "newest first");
    }
}

#[tokio::test]
async fn feed_state_round_trips() {
    for (_d, s) in backends().await {
        assert_eq!(s.feed_state("http://f").await.unwrap(), None);
        let mut st = FeedState {
            url: "http://f".into(),
            agent: Some("web".into()),
            etag: Some("\"v1\"".into()),
            last_modified: Some("Mon, 02 Nov 2026 10:00:00 GMT".into()),
            last_success: Some(Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap()),
            items_total: 12,
            recent_items: vec![Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap()],
            ..FeedState::default()
        };
        s.save_feed_state(&st).await.unwrap();
        assert_eq!(s.feed_state("http://f").await.unwrap().as_ref(), Some(&st));
        st.last_error = Some("timeout".into());
        st.consecutive_failures = 3;
        st.paused = true;
        st.pause_reason = Some("3 failures in a row".into());
        st.next_fetch = Some(Utc.with_ymd_and_hms(2026, 11, 3, 0, 0, 0).unwrap());
        st.moved_to = Some("http://g".into());
        s.save_feed_state(&st).await.unwrap();
        assert_eq!(s.feed_state("http://f").await.unwrap().as_ref(), Some(&st));
        assert_eq!(s.list_feeds().await.unwrap(), vec![st]);
    }
}

#[tokio::test]
async fn concurrent_writers_do_not_fail_with_busy() {
    for (_d, s) in backends().await {
        let mut tasks = Vec::new();
        for w in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                for b in 0..10 {
                    let mut batch: Vec<Item> = (0..5)
                        .map(|i| item(&format!("{w}-{b}-{i}"), "x", 1))
                        .collect();
                    s.upsert_items(&mut batch).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(s.count_items(&ItemQuery::default()).await.unwrap(), 400);
    }
}
