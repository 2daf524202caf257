//! The store contract, written against `dyn Store` so every backend runs the
//! same checks (today SQLite; a PostgreSQL backend adds itself to
//! `backends()`).

use std::sync::Arc;

use agg_core::Item;
use agg_core::store::{AgentOutcome, FeedState, ItemQuery, RunStatus, Store};
use chrono::{TimeZone, Utc};

/// A throwaway PostgreSQL database, dropped when the test ends.
struct PgDb {
    admin: String,
    name: String,
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs outside any async context: use a runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
                }
            });
        })
        .join();
    }
}

/// The PostgreSQL server for tests: `AGG_TEST_POSTGRES_URL`, else the
/// local one that `.ci/run` starts.
fn pg_admin_url() -> String {
    std::env::var("AGG_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn pg_store() -> (PgDb, Arc<dyn Store>) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let admin = pg_admin_url();
    let name = format!(
        "agg_test_{}_{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let pool = sqlx::PgPool::connect(&admin).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {admin} is needed (start it as .ci/run does): {e}")
    });
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&pool)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    let store = agg_store::open(url.as_str()).await.unwrap();
    (PgDb { admin, name }, store)
}

/// Every backend, each fresh: SQLite in a temporary folder, PostgreSQL in a
/// temporary database.
async fn backends() -> Vec<(Box<dyn std::any::Any + Send>, Arc<dyn Store>)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/agg.db");
    let sqlite = agg_store::open(path.to_str().unwrap()).await.unwrap();
    let (pg_guard, pg) = pg_store().await;
    vec![(Box::new(dir), sqlite), (Box::new(pg_guard), pg)]
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

/// Long bodies (which SQLite keeps packed) and short ones (kept as text)
/// come back as stored, an edit to a long body is seen and written, and an
/// unchanged re-send is not an update.
#[tokio::test]
async fn long_and_short_bodies_round_trip_and_update() {
    for (_d, s) in backends().await {
        let long_text = "The harbour council met on Tuesday evening. ".repeat(60);
        let long_html = format!("<p>{long_text}</p><p>Ünïcödé ✓</p>");
        let mut a = item("long", "x", 1);
        a.text = long_text.clone();
        a.html = Some(long_html.clone());
        let mut b = item("short", "x", 2);
        b.html = Some("<b>short</b>".into());
        let mut batch = vec![a.clone(), b];
        assert_eq!(s.upsert_items(&mut batch).await.unwrap(), 2);
        let all = s.list_items(&ItemQuery::default()).await.unwrap();
        let got = |k: &str| all.iter().find(|i| i.key == k).unwrap().clone();
        assert_eq!(got("long").text, long_text);
        assert_eq!(got("long").html.as_deref(), Some(long_html.as_str()));
        assert_eq!(got("short").html.as_deref(), Some("<b>short</b>"));
        assert_eq!(got("short").text, "text");

        let mut same = vec![a.clone()];
        s.upsert_items(&mut same).await.unwrap();
        let mut edited = a.clone();
        edited.html = Some(long_html.replace("Tuesday", "Wednesday"));
        let mut batch = vec![edited.clone()];
        assert_eq!(s.upsert_items(&mut batch).await.unwrap(), 0);
        let all = s.list_items(&ItemQuery::default()).await.unwrap();
        let long = all.iter().find(|i| i.key == "long").unwrap();
        assert_eq!(long.html, edited.html);
        assert_eq!(long.text, long_text);
    }
}

#[tokio::test]
async fn a_key_repeated_within_a_batch_is_one_row_with_the_last_content() {
    for (_d, s) in backends().await {
        let mut stored = vec![item("old", "x", 1)];
        s.upsert_items(&mut stored).await.unwrap();
        let mut edited = item("old", "x", 1);
        edited.title = "old, edited".into();
        let mut second = item("dup", "x", 2);
        second.title = "dup, second copy".into();
        let mut batch = vec![
            item("dup", "x", 2),
            item("old", "x", 1),
            second,
            edited,
            item("new", "x", 3),
        ];
        assert_eq!(s.upsert_items(&mut batch).await.unwrap(), 2);
        assert_eq!(
            batch.iter().map(|i| i.is_new).collect::<Vec<_>>(),
            [true, false, false, false, true]
        );
        assert_eq!(batch[0].id, batch[2].id, "a repeated key is one row");
        assert_eq!(batch[1].id, stored[0].id);
        assert_eq!(batch[3].id, stored[0].id);
        let all = s.list_items(&ItemQuery::default()).await.unwrap();
        assert_eq!(all.len(), 3);
        let title = |k: &str| all.iter().find(|i| i.key == k).unwrap().title.clone();
        assert_eq!(title("dup"), "dup, second copy");
        assert_eq!(title("old"), "old, edited");
    }
}

#[tokio::test]
async fn large_batches_get_every_id() {
    for (_d, s) in backends().await {
        // More than one SELECT and one INSERT chunk, half already stored.
        let mut first: Vec<Item> = (0..600).map(|n| item(&format!("k{n}"), "x", 1)).collect();
        assert_eq!(s.upsert_items(&mut first).await.unwrap(), 600);
        let mut batch: Vec<Item> = (300..1500)
            .map(|n| item(&format!("k{n}"), "x", 1))
            .collect();
        assert_eq!(s.upsert_items(&mut batch).await.unwrap(), 900);
        let ids: std::collections::HashSet<i64> = batch.iter().map(|i| i.id.unwrap()).collect();
        assert_eq!(ids.len(), 1200, "every item has its own id");
        for (n, it) in (300..600).zip(&batch) {
            assert!(!it.is_new);
            assert_eq!(it.id, first[n].id, "k{n} kept its row");
        }
        assert!(batch[300..].iter().all(|i| i.is_new));
        assert_eq!(s.count_items(&ItemQuery::default()).await.unwrap(), 1500);
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
async fn feed_states_are_saved_in_batches() {
    for (_d, s) in backends().await {
        let states: Vec<FeedState> = (0..250)
            .map(|n| FeedState {
                url: format!("http://f/{n}"),
                agent: Some("web".into()),
                items_total: n,
                ..FeedState::default()
            })
            .collect();
        s.save_feed_states(&states).await.unwrap();
        let mut again = states[..2].to_vec();
        again[1].last_error = Some("HTTP 500".into());
        again[1].consecutive_failures = 1;
        s.save_feed_states(&again).await.unwrap();
        let all = s.list_feeds().await.unwrap();
        assert_eq!(all.len(), 250);
        assert_eq!(
            s.feed_state("http://f/1").await.unwrap().as_ref(),
            Some(&again[1])
        );
        assert_eq!(
            s.feed_state("http://f/249").await.unwrap().as_ref(),
            Some(&states[249])
        );
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

#[tokio::test]
async fn embeddings_scores_and_sagas_attach_to_items() {
    for (_d, s) in backends().await {
        let mut batch = vec![item("a", "x", 1), item("b", "x", 2)];
        s.upsert_items(&mut batch).await.unwrap();
        let (a, b) = (batch[0].id.unwrap(), batch[1].id.unwrap());

        let v = vec![0.25f32, -1.5, 3.0e-7];
        s.put_embeddings("m1", &[(a, v.clone())]).await.unwrap();
        let got = s.get_embeddings("m1", &[a, b]).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[&a], v, "bit-exact round trip");
        assert!(
            s.get_embeddings("m2", &[a]).await.unwrap().is_empty(),
            "per model"
        );
        assert_eq!(s.all_embeddings("m1").await.unwrap(), vec![(a, v)]);

        s.set_scores(&[agg_core::ScoreRow {
            item_id: b,
            score: 0.75,
            model: "interest@3".into(),
            reasons: vec!["close to \"rust\" (0.61)".into()],
        }])
        .await
        .unwrap();
        let saga = agg_core::SagaRef {
            id: 7,
            title: "The trial".into(),
            ..Default::default()
        };
        s.set_item_sagas(&[("b".to_string(), saga.clone(), 0.4)])
            .await
            .unwrap();
        s.log_saga_event(7, "created", "{}").await.unwrap();
        let got = s.get_items(&[b, 999]).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].score, Some(0.75));
        assert_eq!(got[0].reasons, vec!["close to \"rust\" (0.61)".to_string()]);
        assert_eq!(got[0].saga, Some(saga));

        // Re-storing the item (a re-run) keeps what transforms attached.
        let mut again = vec![item("b", "x", 2)];
        s.upsert_items(&mut again).await.unwrap();
        assert_eq!(s.get_items(&[b]).await.unwrap()[0].score, Some(0.75));
    }
}

#[tokio::test]
async fn models_feedback_and_state_are_kept() {
    for (_d, s) in backends().await {
        assert_eq!(s.latest_model("interest").await.unwrap(), None);
        s.save_model("interest", 1, "{\"r\":1}").await.unwrap();
        s.save_model("interest", 2, "{\"r\":2}").await.unwrap();
        s.save_model("other", 9, "{}").await.unwrap();
        assert_eq!(
            s.latest_model("interest").await.unwrap(),
            Some((2, "{\"r\":2}".into()))
        );

        let mut batch = vec![item("a", "x", 1)];
        s.upsert_items(&mut batch).await.unwrap();
        let id = batch[0].id.unwrap();
        s.add_feedback(id, "like", "cli").await.unwrap();
        s.add_feedback(id, "dislike", "web").await.unwrap();
        assert!(
            s.add_feedback(id, "meh", "cli").await.is_err(),
            "unknown kinds are refused"
        );
        assert!(
            s.add_feedback(424242, "like", "cli").await.is_err(),
            "unknown items are refused"
        );
        let fb = s.list_feedback().await.unwrap();
        assert_eq!(
            fb.iter().map(|f| f.kind.as_str()).collect::<Vec<_>>(),
            ["like", "dislike"]
        );

        assert_eq!(s.load_state("k").await.unwrap(), None);
        s.save_state("k", "v1").await.unwrap();
        s.save_state("k", "v2").await.unwrap();
        assert_eq!(s.load_state("k").await.unwrap().as_deref(), Some("v2"));
    }
}

#[tokio::test]
async fn a_digest_day_is_claimed_once() {
    for (_d, s) in backends().await {
        let rec = |mid: &str, items: Vec<i64>| agg_core::DigestRecord {
            pipeline: "p".into(),
            day: "2026-11-26".into(),
            message_id: mid.into(),
            items,
            status: "pending".into(),
            created: Utc::now(),
            sent_at: None,
            error: None,
        };
        assert!(s.digest_begin(&rec("<a@x>", vec![1, 2])).await.unwrap());
        assert!(
            !s.digest_begin(&rec("<b@x>", vec![3])).await.unwrap(),
            "second claim loses"
        );
        assert_eq!(
            s.digest("p", "2026-11-26")
                .await
                .unwrap()
                .unwrap()
                .message_id,
            "<a@x>"
        );
        assert!(
            s.sent_items("p").await.unwrap().is_empty(),
            "pending is not sent"
        );

        // A known failure may be retried; a new attempt replaces it.
        s.digest_finish("p", "2026-11-26", "failed", Some("SMTP 421"))
            .await
            .unwrap();
        assert!(s.digest_begin(&rec("<c@x>", vec![1, 2, 5])).await.unwrap());
        s.digest_finish("p", "2026-11-26", "sent", None)
            .await
            .unwrap();
        let d = s.digest("p", "2026-11-26").await.unwrap().unwrap();
        assert_eq!(
            (d.status.as_str(), d.message_id.as_str()),
            ("sent", "<c@x>")
        );
        assert!(d.sent_at.is_some());
        assert_eq!(
            s.sent_items("p").await.unwrap(),
            [1, 2, 5].into_iter().collect()
        );
        assert!(s.sent_items("other").await.unwrap().is_empty());
        assert!(
            !s.digest_begin(&rec("<d@x>", vec![])).await.unwrap(),
            "sent days stay sent"
        );
        assert_eq!(s.list_digests("p", 10).await.unwrap().len(), 1);
        s.digest_forget("p", "2026-11-26").await.unwrap();
        assert!(
            s.digest_begin(&rec("<e@x>", vec![])).await.unwrap(),
            "--force starts over"
        );
    }
}

#[tokio::test]
async fn a_lease_has_one_holder_until_it_expires() {
    use std::time::Duration;
    for (_d, s) in backends().await {
        let long = Duration::from_secs(60);
        assert!(s.try_lease("run:p", "a", long).await.unwrap());
        assert!(!s.try_lease("run:p", "b", long).await.unwrap(), "held by a");
        assert!(s.try_lease("run:p", "a", long).await.unwrap(), "a renews");
        assert!(
            s.try_lease("run:q", "b", long).await.unwrap(),
            "other names are free"
        );
        s.release_lease("run:p", "b").await.unwrap();
        assert!(
            !s.try_lease("run:p", "b", long).await.unwrap(),
            "only the holder releases"
        );
        s.release_lease("run:p", "a").await.unwrap();
        assert!(s.try_lease("run:p", "b", Duration::ZERO).await.unwrap());
        // b's lease has expired (zero ttl): a dead holder does not block.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(s.try_lease("run:p", "a", long).await.unwrap());
    }
}

#[tokio::test]
async fn items_filter_by_saga_and_score() {
    for (_d, s) in backends().await {
        let mut batch = vec![item("a", "x", 1), item("b", "x", 2), item("c", "x", 3)];
        s.upsert_items(&mut batch).await.unwrap();
        let saga = agg_core::SagaRef {
            id: 4,
            title: "t".into(),
            ..Default::default()
        };
        s.set_item_sagas(&[("a".into(), saga.clone(), 0.5), ("b".into(), saga, 0.5)])
            .await
            .unwrap();
        let score = |id, score| agg_core::ScoreRow {
            item_id: id,
            score,
            model: "m".into(),
            reasons: vec![],
        };
        s.set_scores(&[
            score(batch[0].id.unwrap(), 0.9),
            score(batch[2].id.unwrap(), 0.2),
        ])
        .await
        .unwrap();
        let keys = |q: ItemQuery| {
            let s = s.clone();
            async move {
                let mut k: Vec<String> = s
                    .list_items(&q)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|i| i.key)
                    .collect();
                k.sort();
                (k, s.count_items(&q).await.unwrap())
            }
        };
        let q = ItemQuery {
            saga: Some(4),
            ..ItemQuery::default()
        };
        assert_eq!(keys(q).await, (vec!["a".into(), "b".into()], 2));
        let q = ItemQuery {
            in_saga: true,
            min_score: Some(0.5),
            ..ItemQuery::default()
        };
        assert_eq!(keys(q).await, (vec!["a".into()], 1));
        let q = ItemQuery {
            min_score: Some(0.1),
            ..ItemQuery::default()
        };
        assert_eq!(keys(q).await, (vec!["a".into(), "c".into()], 2));
    }
}

#[tokio::test]
async fn each_feed_is_claimed_by_one_worker() {
    use std::time::Duration;
    for (_d, s) in backends().await {
        let urls: Vec<String> = (0..6).map(|i| format!("http://f/{i}")).collect();
        let a = s
            .claim_feeds(&urls[..4], "a", Duration::from_secs(60))
            .await
            .unwrap();
        let b = s
            .claim_feeds(&urls, "b", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(a.len(), 4);
        let mut b = b;
        b.sort();
        assert_eq!(b, urls[4..].to_vec(), "b gets only what a did not claim");
        assert_eq!(
            s.claim_feeds(&urls[..1], "a", Duration::from_secs(60))
                .await
                .unwrap()
                .len(),
            1,
            "a renews"
        );
        // Claims expire: a dead worker's feeds go to the next one.
        let orphan = vec!["http://h/orphan".to_string()];
        assert_eq!(
            s.claim_feeds(&orphan, "dead", Duration::ZERO)
                .await
                .unwrap(),
            orphan
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            s.claim_feeds(&orphan, "live", Duration::from_secs(60))
                .await
                .unwrap(),
            orphan
        );
        assert!(
            s.claim_feeds(&orphan, "dead", Duration::from_secs(60))
                .await
                .unwrap()
                .is_empty()
        );
        // Racing claimers split the set without overlap.
        let many: Vec<String> = (0..60).map(|i| format!("http://g/{i}")).collect();
        let (x, y) = tokio::join!(
            s.claim_feeds(&many, "x", Duration::from_secs(60)),
            s.claim_feeds(&many, "y", Duration::from_secs(60))
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(x.len() + y.len(), 60);
        assert!(x.iter().all(|u| !y.contains(u)));
    }
}

#[tokio::test]
async fn two_processes_may_open_a_new_database_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    let p = path.to_str().unwrap().to_string();
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { agg_store::SqliteStore::open(&p).await.map(|_| ()) })
        })
        .collect();
    for o in opens {
        o.await
            .unwrap()
            .expect("every opener sees a migrated store");
    }
}
