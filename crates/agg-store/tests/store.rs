//! The store contract, written against `dyn Store` so every backend runs the
//! same checks (today SQLite; a PostgreSQL backend adds itself to
//! `backends()`).

use std::sync::Arc;

use agg_core::Item;
use agg_core::store::{
    AgentOutcome, AgentStatus, DigestStatus, FeedState, FeedbackKind, FeedbackVia, ItemQuery,
    RunStatus, Store,
};
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

/// Runs `statements` on the SQLite file at `path` behind the store's back
/// (to make it look like an older version's).
async fn tamper(path: &str, statements: &[&str]) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{path}"))
        .await
        .unwrap();
    for sql in statements {
        // Test statements written here, nothing from outside.
        sqlx::query(sqlx::AssertSqlSafe(*sql))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
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
async fn the_latest_embedding_model_is_the_one_of_the_newest_vectors() {
    for (_d, s) in backends().await {
        assert_eq!(s.latest_embedding_model().await.unwrap(), None);
        let mut batch: Vec<Item> = (0..2700).map(|n| item(&format!("k{n}"), "x", 1)).collect();
        s.upsert_items(&mut batch).await.unwrap();
        let ids: Vec<i64> = batch.iter().map(|i| i.id.unwrap()).collect();
        let rows = |r: std::ops::Range<usize>| -> Vec<(i64, Vec<f32>)> {
            ids[r].iter().map(|&id| (id, vec![1.0])).collect()
        };
        s.put_embeddings("old", &rows(0..1500)).await.unwrap();
        assert_eq!(
            s.latest_embedding_model().await.unwrap().as_deref(),
            Some("old")
        );
        // A new model embeds the next 1,200 items: fewer vectors than the
        // old one has in all, but every one of the newest thousand.
        s.put_embeddings("new", &rows(1500..2700)).await.unwrap();
        assert_eq!(
            s.latest_embedding_model().await.unwrap().as_deref(),
            Some("new")
        );
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

/// The reader API's queries (issue 19): items of some feeds, and keyset
/// pages that an item stored meanwhile never shifts.
#[tokio::test]
async fn listing_filters_by_feed_and_pages_by_key() {
    for (_d, s) in backends().await {
        let mut batch: Vec<Item> = (1..=5)
            .map(|d| {
                let mut i = item(&format!("k{d}"), "x", d);
                i.feed = Some(
                    if d % 2 == 0 {
                        "https://a/feed"
                    } else {
                        "https://b/feed"
                    }
                    .into(),
                );
                i
            })
            .collect();
        // Two items at the same time: the id breaks the tie.
        let mut twin = item("k3b", "x", 3);
        twin.feed = Some("https://a/feed".into());
        batch.push(twin);
        s.upsert_items(&mut batch).await.unwrap();
        let keys = |v: Vec<Item>| v.into_iter().map(|i| i.key).collect::<Vec<_>>();
        let q = ItemQuery {
            feeds: Some(vec!["https://a/feed".into()]),
            ..ItemQuery::default()
        };
        assert_eq!(keys(s.list_items(&q).await.unwrap()), ["k4", "k3b", "k2"]);
        assert_eq!(s.count_items(&q).await.unwrap(), 3);
        let both = ItemQuery {
            feeds: Some(vec!["https://a/feed".into(), "https://b/feed".into()]),
            ..ItemQuery::default()
        };
        assert_eq!(s.count_items(&both).await.unwrap(), 6);
        let none = ItemQuery {
            feeds: Some(vec![]),
            ..ItemQuery::default()
        };
        assert_eq!(s.count_items(&none).await.unwrap(), 0);

        // Pages of two, each continuing after the last item of the one before.
        let mut pages = Vec::new();
        let mut after = None;
        loop {
            let page = s
                .list_items(&ItemQuery {
                    limit: Some(2),
                    after_id: after,
                    ..ItemQuery::default()
                })
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().unwrap().id;
            pages.push(keys(page));
            if pages.len() == 1 {
                // A newer item arrives between two pages: it is not on them.
                s.upsert_items(&mut [item("late", "x", 20)]).await.unwrap();
            }
        }
        let flat: Vec<String> = pages.concat();
        assert_eq!(flat.len(), 6, "{pages:?}");
        assert_eq!(flat[0], "k5");
        assert!(
            flat[2..4].contains(&"k3".to_string()) && flat[2..4].contains(&"k3b".to_string()),
            "{pages:?}"
        );
        assert_eq!(flat[5], "k1");
        // After an id of no stored item: nothing.
        let gone = ItemQuery {
            after_id: Some(987_654_321),
            ..ItemQuery::default()
        };
        assert!(s.list_items(&gone).await.unwrap().is_empty());
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
            role: agg_core::Role::Source,
            status: AgentStatus::Partial,
            items_in: 0,
            items_out: 3,
            items_new: 2,
            errors: vec!["feed x: HTTP 500".into()],
            duration_ms: 0,
            items_backlog: 0,
            skips: Vec::new(),
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
        // Many ids at once (more than one statement's worth on SQLite), a
        // repeated id keeping its last vector.
        let many: Vec<(i64, Vec<f32>)> = (0..1200).map(|i| (a, vec![i as f32])).collect();
        s.put_embeddings("m3", &many).await.unwrap();
        assert_eq!(
            s.get_embeddings("m3", &[a]).await.unwrap()[&a],
            vec![1199.0]
        );
        let ids: Vec<i64> = (0..1500).map(|i| a + 10_000 + i).chain([a]).collect();
        assert_eq!(s.get_embeddings("m3", &ids).await.unwrap().len(), 1);

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
        s.add_feedback(id, FeedbackKind::Like, FeedbackVia::Cli)
            .await
            .unwrap();
        s.add_feedback(id, FeedbackKind::Dislike, FeedbackVia::Web)
            .await
            .unwrap();
        assert!(
            s.add_feedback(424242, FeedbackKind::Like, FeedbackVia::Cli)
                .await
                .is_err(),
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
            status: DigestStatus::Pending,
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
        s.digest_finish("p", "2026-11-26", DigestStatus::Failed, Some("SMTP 421"))
            .await
            .unwrap();
        assert!(s.digest_begin(&rec("<c@x>", vec![1, 2, 5])).await.unwrap());
        s.digest_finish("p", "2026-11-26", DigestStatus::Sent, None)
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

/// The stage ledger: what a stage has not finished is pending for it (in
/// ascending id pages, within the window); a failure counts attempts and
/// parks at the limit; a stage-wide failure never parks; retry puts parked
/// items back; a transform's passed items are pending for its consumer.
#[tokio::test]
async fn the_stage_ledger_keeps_what_each_stage_has_not_finished() {
    use agg_core::store::{StageMark, StageQuery, StageStatus};
    for (_d, s) in backends().await {
        let mut batch: Vec<Item> = (1..=5).map(|d| item(&format!("k{d}"), "src", d)).collect();
        s.upsert_items(&mut batch).await.unwrap();
        let ids: Vec<i64> = batch.iter().map(|i| i.id.unwrap()).collect();
        let q =
            |agent: &str, sources: &[&str], stages: &[&str], after: i64, limit: u64| StageQuery {
                pipeline: "p".into(),
                agent: agent.into(),
                source_inputs: sources.iter().map(|s| s.to_string()).collect(),
                stage_inputs: stages.iter().map(|s| s.to_string()).collect(),
                since: None,
                after_id: after,
                limit,
            };
        let mark = |id: i64, status: StageStatus, attempt: bool| StageMark {
            item_id: id,
            status,
            reason: Some(format!("reason {id}")),
            attempt,
        };
        // Everything the source stored is pending for its consumer, paged.
        let page1 = s.pending_items(&q("t", &["src"], &[], 0, 3)).await.unwrap();
        assert_eq!(page1, ids[..3]);
        let page2 = s
            .pending_items(&q("t", &["src"], &[], page1[2], 3))
            .await
            .unwrap();
        assert_eq!(page2, ids[3..]);
        // Another pipeline's ledger is its own.
        assert!(
            s.pending_items(&q("t", &["other"], &[], 0, 10))
                .await
                .unwrap()
                .is_empty()
        );

        // t passes 1, drops 2, fails 3 per item twice (parked at 2), and
        // fails 4 stage-wide three times (never parked).
        s.mark_stage(
            "p",
            "t",
            &[
                mark(ids[0], StageStatus::Passed, false),
                mark(ids[1], StageStatus::Dropped, false),
            ],
            2,
        )
        .await
        .unwrap();
        for _ in 0..2 {
            s.mark_stage("p", "t", &[mark(ids[2], StageStatus::Failed, true)], 2)
                .await
                .unwrap();
        }
        for _ in 0..3 {
            s.mark_stage("p", "t", &[mark(ids[3], StageStatus::Failed, false)], 2)
                .await
                .unwrap();
        }
        let pending = s
            .pending_items(&q("t", &["src"], &[], 0, 10))
            .await
            .unwrap();
        assert_eq!(
            pending,
            vec![ids[3], ids[4]],
            "failed stays pending, parked does not"
        );
        // What t passed is pending for its consumer, nothing else.
        assert_eq!(
            s.pending_items(&q("sink", &[], &["t"], 0, 10))
                .await
                .unwrap(),
            vec![ids[0]]
        );
        let counts = s.stage_counts("p").await.unwrap();
        let t = counts.iter().find(|c| c.agent == "t").unwrap();
        assert_eq!((t.passed, t.dropped, t.failed, t.parked), (1, 1, 1, 1));
        let failures = s.stage_failures(Some("p"), 10).await.unwrap();
        let parked = failures.iter().find(|f| f.item_id == ids[2]).unwrap();
        assert_eq!((parked.status, parked.attempts), (StageStatus::Parked, 2));
        assert_eq!(
            parked.reason.as_deref(),
            Some(&*format!("reason {}", ids[2]))
        );
        let failed = failures.iter().find(|f| f.item_id == ids[3]).unwrap();
        assert_eq!(failed.status, StageStatus::Failed);

        // Retry puts the parked item back in line.
        assert!(s.retry_stage("p", Some("t"), Some(ids[2])).await.unwrap() >= 1);
        assert_eq!(
            s.pending_items(&q("t", &["src"], &[], 0, 10))
                .await
                .unwrap(),
            vec![ids[2], ids[3], ids[4]]
        );
        // Passing it later finishes it; marks are idempotent.
        for _ in 0..2 {
            s.mark_stage("p", "t", &[mark(ids[2], StageStatus::Passed, false)], 2)
                .await
                .unwrap();
        }
        assert_eq!(
            s.pending_items(&q("sink", &[], &["t"], 0, 10))
                .await
                .unwrap(),
            vec![ids[0], ids[2]]
        );
        // The window: items fetched before `since` are not offered.
        let mut late = q("t", &["src"], &[], 0, 10);
        late.since = Some(Utc::now() + chrono::Duration::hours(1));
        assert!(s.pending_items(&late).await.unwrap().is_empty());
        // The view of a stage holds what its inputs passed.
        let view = s.stage_view(&q("sink", &[], &["t"], 0, 10)).await.unwrap();
        let mut seen: Vec<i64> = view.iter().map(|i| i.id.unwrap()).collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![ids[0], ids[2]]);
    }
}

// issue 23: history

/// Retention drops vectors and bodies first, then rows, remembers deleted
/// keys so that an upsert of the same key is neither stored nor new, and
/// keeps items of kept sagas and liked items whole.
#[tokio::test]
async fn retention_thins_deletes_with_tombstones_and_keeps_what_matters() {
    use agg_core::store::RetentionPlan;
    let now = Utc::now();
    for (_d, s) in backends().await {
        let at = |days: i64, key: &str| {
            let mut i = item(key, "x", 1);
            i.fetched = now - chrono::Duration::days(days);
            i.text = format!("body of {key}");
            i.html = Some(format!("<p>{key}</p>"));
            i
        };
        let mut batch = vec![
            at(100, "old"),
            at(100, "followed"),
            at(100, "liked"),
            at(20, "middle"),
            at(1, "young"),
        ];
        s.upsert_items(&mut batch).await.unwrap();
        let id = |k: &str| batch.iter().find(|i| i.key == k).unwrap().id.unwrap();
        let vectors: Vec<(i64, Vec<f32>)> = batch
            .iter()
            .map(|i| (i.id.unwrap(), vec![1.0, 0.0]))
            .collect();
        s.put_embeddings("m", &vectors).await.unwrap();
        let saga = agg_core::SagaRef {
            id: 7,
            title: "kept".into(),
            followed: true,
            muted: false,
        };
        s.set_item_sagas(&[("followed".into(), saga, 0.9)])
            .await
            .unwrap();
        s.add_feedback(id("liked"), FeedbackKind::Like, FeedbackVia::Cli)
            .await
            .unwrap();

        let plan = RetentionPlan {
            thin_before: now - chrono::Duration::days(10),
            delete_before: now - chrono::Duration::days(60),
            keep_sagas: vec![7],
            now,
        };
        let r = s.apply_retention(&plan).await.unwrap();
        assert_eq!((r.thinned, r.deleted, r.kept), (2, 1, 2), "{r:?}");

        let left = s.list_items(&ItemQuery::default()).await.unwrap();
        let keys: Vec<&str> = left.iter().map(|i| i.key.as_str()).collect();
        assert!(!keys.contains(&"old"), "{keys:?}");
        let get = |k: &str| left.iter().find(|i| i.key == k).unwrap();
        for k in ["followed", "liked", "young"] {
            assert_eq!(get(k).text, format!("body of {k}"), "{k} kept whole");
        }
        assert_eq!(get("middle").text, "", "thinned: no body");
        assert_eq!(get("middle").html, None);
        assert_eq!(get("middle").title, "title middle", "thinned: still listed");
        let vecs = s
            .get_embeddings("m", &[id("middle"), id("followed"), id("young")])
            .await
            .unwrap();
        assert!(!vecs.contains_key(&id("middle")));
        assert!(vecs.contains_key(&id("followed")) && vecs.contains_key(&id("young")));

        // The feed still carries the deleted item: not stored, not new.
        let mut again = vec![at(0, "old"), at(0, "brand-new")];
        assert_eq!(s.upsert_items(&mut again).await.unwrap(), 1);
        assert!(!again[0].is_new && again[0].id.is_none(), "{:?}", again[0]);
        assert!(again[1].is_new && again[1].id.is_some());
        assert!(
            s.list_items(&ItemQuery::default())
                .await
                .unwrap()
                .iter()
                .all(|i| i.key != "old")
        );
        let gone = s.tombstoned(&["old".into(), "young".into()]).await.unwrap();
        assert_eq!(gone.into_iter().collect::<Vec<_>>(), ["old".to_string()]);

        // A second pass finds nothing more to do.
        let r = s.apply_retention(&plan).await.unwrap();
        assert_eq!((r.thinned, r.deleted), (0, 0));
    }
}

/// A tombstone lasts while a feed offers its key: one not offered for the
/// retention period is forgotten, so tombstones do not grow with history.
#[tokio::test]
async fn tombstones_last_while_a_feed_offers_their_key() {
    for (_d, s) in backends().await {
        let now = Utc::now();
        let then = now - chrono::Duration::days(50);
        let old = |key: &str| {
            let mut i = item(key, "x", 1);
            i.fetched = then - chrono::Duration::days(100);
            i
        };
        s.upsert_items(&mut [old("carried"), old("dropped")])
            .await
            .unwrap();
        // Retention 50 days ago deleted both.
        let plan = |at: chrono::DateTime<Utc>| agg_core::store::RetentionPlan {
            thin_before: at - chrono::Duration::days(15),
            delete_before: at - chrono::Duration::days(30),
            keep_sagas: vec![],
            now: at,
        };
        let r = s.apply_retention(&plan(then)).await.unwrap();
        assert_eq!((r.deleted, r.tombstones), (2, 0), "{r:?}");
        // One feed still carries "carried" today: not new, still remembered.
        let mut again = vec![old("carried")];
        assert_eq!(s.upsert_items(&mut again).await.unwrap(), 0);
        // Today's retention: "dropped" was not offered for 50 days.
        let r = s.apply_retention(&plan(now)).await.unwrap();
        assert_eq!(r.tombstones, 1, "{r:?}");
        let both = ["carried".to_string(), "dropped".to_string()];
        let gone = s.tombstoned(&both).await.unwrap();
        assert_eq!(gone.into_iter().collect::<Vec<_>>(), ["carried"]);
        let mut again = vec![old("carried"), old("dropped")];
        assert_eq!(s.upsert_items(&mut again).await.unwrap(), 1);
        assert!(!again[0].is_new && again[1].is_new, "{again:?}");
    }
}

/// Saga events are written in batches, stamped with the time given (the
/// run's clock, which `--now` pins), and pruned by that age.
#[tokio::test]
async fn saga_events_are_batched_and_pruned() {
    for (_d, s) in backends().await {
        let events: Vec<(u64, String, String)> = (0..1234u64)
            .map(|i| (i, "created".to_string(), format!("{{\"saga\":{i}}}")))
            .collect();
        // A run at --now 1 March, and one today.
        let march: chrono::DateTime<Utc> = "2026-03-01T07:00:00Z".parse().unwrap();
        s.log_saga_events(&events[..1000], march).await.unwrap();
        s.log_saga_events(&events[1000..], Utc::now())
            .await
            .unwrap();
        assert_eq!(
            s.prune_saga_events(march - chrono::Duration::days(1))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            s.prune_saga_events(march + chrono::Duration::days(30))
                .await
                .unwrap(),
            1000,
            "retention at the March run's clock prunes its events, not today's"
        );
        assert_eq!(
            s.prune_saga_events(Utc::now() + chrono::Duration::seconds(1))
                .await
                .unwrap(),
            234
        );
    }
}

// issue 19: subscriptions
#[tokio::test]
async fn subscriptions_are_added_once_listed_by_folder_and_removed() {
    use agg_core::store::Subscription;
    for (_d, s) in backends().await {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 7, 0, 0).unwrap();
        let sub = |url: &str, folder: &str| Subscription {
            url: url.into(),
            title: Some(format!("T {url}")),
            folder: folder.into(),
            added: at,
        };
        assert!(s.list_subscriptions(None).await.unwrap().is_empty());
        assert!(
            s.add_subscription(&sub("https://b.example/feed", "tech"))
                .await
                .unwrap()
        );
        assert!(
            s.add_subscription(&sub("https://a.example/feed", ""))
                .await
                .unwrap()
        );
        assert!(
            s.add_subscription(&sub("https://c.example/feed", "tech"))
                .await
                .unwrap()
        );
        // A duplicate is refused and changes nothing (not even its folder).
        assert!(
            !s.add_subscription(&sub("https://b.example/feed", "news"))
                .await
                .unwrap()
        );
        let all = s.list_subscriptions(None).await.unwrap();
        assert_eq!(
            all.iter()
                .map(|x| (x.folder.as_str(), x.url.as_str()))
                .collect::<Vec<_>>(),
            [
                ("", "https://a.example/feed"),
                ("tech", "https://b.example/feed"),
                ("tech", "https://c.example/feed"),
            ]
        );
        assert_eq!(all[1], sub("https://b.example/feed", "tech"), "round trip");
        assert_eq!(s.list_subscriptions(Some("tech")).await.unwrap().len(), 2);
        assert!(s.list_subscriptions(Some("news")).await.unwrap().is_empty());
        assert!(
            s.remove_subscription("https://b.example/feed")
                .await
                .unwrap()
        );
        assert!(
            !s.remove_subscription("https://b.example/feed")
                .await
                .unwrap()
        );
        assert_eq!(s.list_subscriptions(Some("tech")).await.unwrap().len(), 1);
    }
}

// issue 19: what the notification sinks sent.
#[tokio::test]
async fn notifications_are_recorded_once_and_counted_by_time() {
    for (_d, s) in backends().await {
        let mut batch = vec![item("a", "x", 1), item("b", "x", 2)];
        s.upsert_items(&mut batch).await.unwrap();
        let (a, b) = (batch[0].id.unwrap(), batch[1].id.unwrap());
        let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 7, 0, 0).unwrap();
        assert!(s.notified("p", "hook", &[a, b]).await.unwrap().is_empty());
        s.record_notification("p", "hook", a, t0).await.unwrap();
        // Recording again changes nothing.
        s.record_notification("p", "hook", a, t0).await.unwrap();
        s.record_notification("p", "hook", b, t0 + chrono::Duration::minutes(90))
            .await
            .unwrap();
        let got = s.notified("p", "hook", &[a, b]).await.unwrap();
        assert_eq!(got.len(), 2);
        assert!(s.notified("p", "other", &[a]).await.unwrap().is_empty());
        assert_eq!(s.notifications_since("p", "hook", t0).await.unwrap(), 2);
        let later = t0 + chrono::Duration::minutes(30);
        assert_eq!(s.notifications_since("p", "hook", later).await.unwrap(), 1);
    }
}

// issue 18: read and saved
/// Read and saved state: marks and unmarks, idempotent (the first time is
/// kept), unknown ids skipped, listing filters, the saved list in the order
/// things were saved, and none of it is feedback.
#[tokio::test]
async fn items_are_marked_read_and_saved_apart_from_feedback() {
    use agg_core::store::ItemMark;
    let t = |h: u32| Utc.with_ymd_and_hms(2026, 11, 26, h, 0, 0).unwrap();
    for (_d, s) in backends().await {
        let mut batch = vec![item("a", "x", 1), item("b", "x", 2), item("c", "y", 3)];
        s.upsert_items(&mut batch).await.unwrap();
        let id = |k: &str| batch.iter().find(|i| i.key == k).unwrap().id.unwrap();
        let (a, b, c) = (id("a"), id("b"), id("c"));
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
                k
            }
        };
        let unread = || ItemQuery {
            unread: true,
            ..ItemQuery::default()
        };
        let saved = || ItemQuery {
            saved: true,
            ..ItemQuery::default()
        };
        assert!(s.item_states(&[a, b, c]).await.unwrap().is_empty());
        assert_eq!(keys(unread()).await, ["a", "b", "c"]);
        assert!(keys(saved()).await.is_empty());

        // "Mark all above as read": a list, with an unknown id and a repeat.
        let n = s
            .mark_items(&[a, b, 999_999, a], ItemMark::Read, t(8))
            .await
            .unwrap();
        assert_eq!(n, 2, "stored items among the ids, each once");
        assert_eq!(keys(unread()).await, ["c"]);
        assert_eq!(s.count_items(&unread()).await.unwrap(), 1);
        // Again, later: still read, still read at the first time.
        assert_eq!(s.mark_items(&[a], ItemMark::Read, t(9)).await.unwrap(), 1);
        let st = s.item_states(&[a, b, c, 999_999]).await.unwrap();
        assert_eq!(st.len(), 2, "{st:?}");
        assert_eq!(st[&a].read_at, Some(t(8)));
        assert_eq!(st[&a].saved_at, None);

        // Saving: b first, then c; saving b again keeps its time.
        s.mark_items(&[b], ItemMark::Save, t(10)).await.unwrap();
        s.mark_items(&[c], ItemMark::Save, t(11)).await.unwrap();
        s.mark_items(&[b], ItemMark::Save, t(12)).await.unwrap();
        let list = s.saved_items(10).await.unwrap();
        assert_eq!(
            list.iter().map(|x| x.item_id).collect::<Vec<_>>(),
            [c, b],
            "most recently saved first"
        );
        assert_eq!(list[1].saved_at, Some(t(10)));
        assert_eq!(list[1].read_at, Some(t(8)), "saving keeps read state");
        assert_eq!(s.saved_items(1).await.unwrap().len(), 1);
        assert_eq!(keys(saved()).await, ["b", "c"]);
        assert_eq!(s.count_items(&saved()).await.unwrap(), 2);
        // Filters combine with each other and with the rest.
        let q = ItemQuery {
            source: Some("y".into()),
            ..saved()
        };
        assert_eq!(keys(q).await, ["c"]);
        let q = ItemQuery {
            saved: true,
            ..unread()
        };
        assert_eq!(keys(q).await, ["c"]);

        // Neither reading nor saving is feedback (nothing to train on).
        assert!(s.list_feedback().await.unwrap().is_empty());
        // And a 👍 neither saves nor reads.
        s.add_feedback(a, FeedbackKind::Like, FeedbackVia::Web)
            .await
            .unwrap();
        assert_eq!(keys(saved()).await, ["b", "c"]);

        // Unmarking: back to unread / not saved; twice is harmless; an item
        // with nothing left to remember has no state at all.
        assert_eq!(
            s.mark_items(&[a, 999_999], ItemMark::Unread, t(13))
                .await
                .unwrap(),
            1
        );
        s.mark_items(&[a], ItemMark::Unread, t(13)).await.unwrap();
        assert_eq!(keys(unread()).await, ["a", "c"]);
        s.mark_items(&[b], ItemMark::Unsave, t(14)).await.unwrap();
        s.mark_items(&[b], ItemMark::Unsave, t(14)).await.unwrap();
        assert_eq!(keys(saved()).await, ["c"]);
        let st = s.item_states(&[a, b, c]).await.unwrap();
        assert!(!st.contains_key(&a), "{st:?}");
        assert_eq!(st[&b].saved_at, None);
        assert_eq!(st[&b].read_at, Some(t(8)), "unsaving keeps read state");
        assert_eq!(st[&c].saved_at, Some(t(11)));
        // Unsaving an item never saved, or marking nothing, changes nothing.
        s.mark_items(&[a], ItemMark::Unsave, t(15)).await.unwrap();
        assert_eq!(s.mark_items(&[], ItemMark::Read, t(15)).await.unwrap(), 0);
        assert!(!s.item_states(&[a]).await.unwrap().contains_key(&a));
        // An unknown id alone: nothing stored, no error.
        assert_eq!(
            s.mark_items(&[999_999], ItemMark::Save, t(15))
                .await
                .unwrap(),
            0
        );
        assert_eq!(s.saved_items(10).await.unwrap().len(), 1);
    }
}

/// Retention keeps a saved item whole, as it does a liked one; reading an
/// item keeps nothing, and an unsaved item goes on the next pass.
#[tokio::test]
async fn retention_keeps_saved_items_whole() {
    use agg_core::store::{ItemMark, RetentionPlan};
    let now = Utc::now();
    for (_d, s) in backends().await {
        let at = |key: &str| {
            let mut i = item(key, "x", 1);
            i.fetched = now - chrono::Duration::days(100);
            i.text = format!("body of {key}");
            i
        };
        let mut batch = vec![at("saved"), at("read"), at("plain")];
        s.upsert_items(&mut batch).await.unwrap();
        let id = |k: &str| batch.iter().find(|i| i.key == k).unwrap().id.unwrap();
        s.mark_items(&[id("saved"), id("read")], ItemMark::Read, now)
            .await
            .unwrap();
        s.mark_items(&[id("saved")], ItemMark::Save, now)
            .await
            .unwrap();
        let plan = RetentionPlan {
            thin_before: now - chrono::Duration::days(10),
            delete_before: now - chrono::Duration::days(60),
            keep_sagas: vec![],
            now,
        };
        let r = s.apply_retention(&plan).await.unwrap();
        assert_eq!((r.thinned, r.deleted, r.kept), (2, 2, 1), "{r:?}");
        let left = s.list_items(&ItemQuery::default()).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].key, "saved");
        assert_eq!(left[0].text, "body of saved", "kept whole");
        assert_eq!(s.saved_items(10).await.unwrap().len(), 1);

        // Unsaved, it is an old item like any other.
        s.mark_items(&[id("saved")], ItemMark::Unsave, now)
            .await
            .unwrap();
        let r = s.apply_retention(&plan).await.unwrap();
        assert_eq!((r.deleted, r.kept), (1, 0), "{r:?}");
        assert!(s.item_states(&[id("saved")]).await.unwrap().is_empty());
    }
}

/// The full-text index (issues 17 and 23): every stored item is found by its
/// words, stemmed, a title word ranking above a body word; an edit replaces
/// the words, a thinned body stays findable, a deleted item is gone, and
/// `since` and `limit` bound the answer. The same on both backends.
#[tokio::test]
async fn full_text_search_finds_stored_words_and_forgets_deleted_items() {
    use agg_core::store::{RetentionPlan, TextQuery};
    let now = Utc::now();
    for (_d, s) in backends().await {
        let mk = |key: &str, title: &str, text: &str, days: i64| {
            let mut i = item(key, "x", 1);
            i.title = title.into();
            i.text = text.into();
            i.published = Some(now - chrono::Duration::days(days));
            i.fetched = now - chrono::Duration::days(days);
            i
        };
        // One long body, which SQLite stores packed: its words are indexed too.
        let long = format!(
            "{} the asteroid sample lands in Utah.",
            "Filler words. ".repeat(40)
        );
        let mut batch = vec![
            mk("title", "Asteroid missions return samples", "A report.", 1),
            mk("body", "Space news", &long, 2),
            mk("other", "Football results", "Nothing about space rocks.", 1),
            mk("old", "Asteroid belt survey", "An old survey.", 100),
            mk("thin", "Weekly notes", "The comet Tsuchinshan returns.", 30),
        ];
        s.upsert_items(&mut batch).await.unwrap();
        let id = |k: &str| batch.iter().find(|i| i.key == k).unwrap().id.unwrap();
        let find = |q: &str, since: Option<chrono::DateTime<Utc>>, limit: u64| {
            let s = s.clone();
            let q = TextQuery::new(q, since, limit);
            async move { s.search_text(&q).await.unwrap() }
        };

        let hits = find("asteroid mission", None, 10).await;
        let ids: Vec<i64> = hits.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids.len(), 3, "{hits:?}");
        assert_eq!(
            ids[0],
            id("title"),
            "both words, one in the title, stemmed: {hits:?}"
        );
        assert!(ids.contains(&id("body")) && ids.contains(&id("old")));
        assert!(
            hits.windows(2).all(|w| w[0].1 >= w[1].1),
            "best first: {hits:?}"
        );
        assert_eq!(find("asteroid", None, 1).await.len(), 1, "limit");
        let recent = find("asteroid", Some(now - chrono::Duration::days(10)), 10).await;
        let mut recent_ids: Vec<i64> = recent.iter().map(|(i, _)| *i).collect();
        recent_ids.sort();
        let mut want = vec![id("title"), id("body")];
        want.sort();
        assert_eq!(
            recent_ids, want,
            "since: the two recent ones, not the old: {recent:?}"
        );
        assert!(find("", None, 10).await.is_empty(), "no words, no matches");
        assert!(find("zeppelin", None, 10).await.is_empty());

        // An edit replaces the words.
        let mut edited = vec![mk(
            "other",
            "Rugby results",
            "Nothing about space rocks.",
            1,
        )];
        s.upsert_items(&mut edited).await.unwrap();
        assert!(
            find("football", None, 10).await.is_empty(),
            "old title gone"
        );
        assert_eq!(find("rugby", None, 10).await.len(), 1);

        // Retention: a thinned body stays findable, a deleted item is gone.
        let plan = RetentionPlan {
            thin_before: now - chrono::Duration::days(10),
            delete_before: now - chrono::Duration::days(60),
            keep_sagas: vec![],
            now,
        };
        let r = s.apply_retention(&plan).await.unwrap();
        assert_eq!(r.deleted, 1, "{r:?}");
        let comet = find("comet", None, 10).await;
        assert_eq!(comet.iter().map(|h| h.0).collect::<Vec<_>>(), [id("thin")]);
        let left = find("asteroid", None, 10).await;
        assert!(!left.iter().any(|(i, _)| *i == id("old")), "{left:?}");
        assert_eq!(left.len(), 2);
    }
}

/// A store written before the full-text index existed is indexed once when
/// it is opened: the migration leaves a mark and the open fills the index.
#[tokio::test]
async fn items_stored_before_the_index_are_found_after_opening() {
    use agg_core::store::TextQuery;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agg.db");
    let path = path.to_str().unwrap();
    {
        let s = agg_store::open(path).await.unwrap();
        let mut batch: Vec<Item> = (0..2500)
            .map(|n| {
                let mut i = item(&format!("k{n}"), "x", 1);
                i.title = format!("headline number {n}");
                i.text = format!("{} zebra{n}", "long body ".repeat(40));
                i
            })
            .collect();
        s.upsert_items(&mut batch).await.unwrap();
    }
    // Make it an old database: no words indexed, the migration's mark set.
    tamper(
        path,
        &[
            "INSERT INTO items_fts (items_fts) VALUES ('delete-all')",
            "INSERT INTO state (key, value, updated) SELECT 'items_fts_backfill', MAX(id), 'x' FROM items",
        ],
    )
    .await;
    let s = agg_store::open(path).await.unwrap();
    for n in [0, 1999, 2000, 2499] {
        let hits = s
            .search_text(&TextQuery::new(&format!("zebra{n}"), None, 5))
            .await
            .unwrap();
        assert_eq!(hits.len(), 1, "zebra{n}: {hits:?}");
    }
    let all = s
        .search_text(&TextQuery::new("headline", None, 5000))
        .await
        .unwrap();
    assert_eq!(all.len(), 2500, "each item indexed once");
}

/// The saga list (issue 23): rows replaced by id, removed when gone, paged
/// by group then newest, counted per group. The same on both backends.
#[tokio::test]
async fn the_saga_list_pages_by_group_then_newest() {
    use agg_core::store::SagaListRow;
    for (_d, s) in backends().await {
        let row = |id: u64, group: u8, d: u32| SagaListRow {
            id,
            group,
            last_seen: Utc.with_ymd_and_hms(2026, 11, d, 8, 0, 0).unwrap(),
            body: format!("{{\"id\":{id}}}"),
        };
        s.put_saga_list(
            &[row(1, 2, 3), row(2, 0, 1), row(3, 2, 5), row(4, 3, 9)],
            &[],
        )
        .await
        .unwrap();
        let ids = |rows: Vec<SagaListRow>| rows.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(s.saga_list(2, 0, 10).await.unwrap()), [2, 3, 1]);
        assert_eq!(ids(s.saga_list(3, 1, 2).await.unwrap()), [3, 1]);
        // Replaced by id, removed when gone.
        s.put_saga_list(&[row(1, 1, 6)], &[3, 99]).await.unwrap();
        let all = s.saga_list(3, 0, 10).await.unwrap();
        assert_eq!(ids(all.clone()), [2, 1, 4]);
        assert_eq!(all[1], row(1, 1, 6));
        assert_eq!(
            s.saga_list_counts().await.unwrap(),
            [(0, 1), (1, 1), (3, 1)]
        );
    }
}

/// The saga archive (issue 23): rows replaced by id, read back by id in id
/// order, missing ids left out, more ids than one statement takes; pruned
/// by last item time with their saga list rows. The same on both backends.
#[tokio::test]
async fn archived_sagas_are_kept_by_id_replaced_and_pruned_by_age() {
    use agg_core::ArchivedSagaRow;
    use agg_core::store::SagaListRow;
    for (_d, s) in backends().await {
        let at = |d: u32| Utc.with_ymd_and_hms(2026, 10, d, 8, 0, 0).unwrap();
        assert!(s.saga_archive(&[1, 2]).await.unwrap().is_empty());
        s.put_saga_archive(&[]).await.unwrap();
        let rows: Vec<ArchivedSagaRow> = (1..=1200u64)
            .map(|i| ArchivedSagaRow {
                id: i,
                last_seen: at(1 + (i % 20) as u32),
                body: format!("{{\"v\":{i}}}"),
            })
            .collect();
        s.put_saga_archive(&rows).await.unwrap();
        s.put_saga_archive(&[ArchivedSagaRow {
            id: 7,
            last_seen: at(25),
            body: "{\"v\":\"seven\"}".into(),
        }])
        .await
        .unwrap();
        let got = s.saga_archive(&[9_999, 7, 3]).await.unwrap();
        assert_eq!(
            got,
            [(3, "{\"v\":3}".into()), (7, "{\"v\":\"seven\"}".into())]
        );
        let ids: Vec<u64> = (1..=1200).collect();
        assert_eq!(s.saga_archive(&ids).await.unwrap().len(), 1200);

        // Listed sagas 3 (last seen the 4th) and 7 (the 25th, replaced).
        let listed = |id: u64| SagaListRow {
            id,
            group: 2,
            last_seen: at(4),
            body: "{}".into(),
        };
        s.put_saga_list(&[listed(3), listed(7)], &[]).await.unwrap();
        // Before the 5th: rows last seen the 1st..4th (i % 20 in 0..=3),
        // but not 7, replaced by a newer one.
        let n = s.prune_saga_archive(at(5)).await.unwrap();
        assert_eq!(n, 4 * 60);
        assert!(s.saga_archive(&[3, 20]).await.unwrap().is_empty());
        assert_eq!(s.saga_archive(&[7, 5]).await.unwrap().len(), 2);
        let left: Vec<u64> = s
            .saga_list(3, 0, 10)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(left, [7], "the forgotten saga leaves the list too");
    }
}

/// The saga engine's state in parts (issue 23): the core under its key,
/// live saga rows, per-feed rows and vocabulary terms, written in one
/// call, rows replaced and removed by id, terms replaced by term or all at
/// once, read back in order. The same on both backends.
#[tokio::test]
async fn the_saga_state_is_saved_in_parts() {
    use agg_core::SagaStateParts;
    for (_d, s) in backends().await {
        assert!(s.saga_live_rows().await.unwrap().is_empty());
        assert!(s.saga_feed_rows().await.unwrap().is_empty());
        let rows: Vec<(u64, String)> = (1..=700u64).map(|i| (i, format!("s{i}"))).collect();
        let feeds: Vec<(String, String)> =
            vec![("b".into(), "fb".into()), ("a".into(), "fa".into())];
        // More terms than one statement takes, one with a quote and
        // non-ASCII letters.
        let terms: Vec<(String, u32, u32)> = (0..1200u32)
            .map(|i| (format!("w:t{i}"), i, i % 7 + 1))
            .chain([("b:o'neill \"zürich\"".to_string(), 1200, 2)])
            .collect();
        // More lists than one statement takes; a saga index with the top
        // bit set.
        let lists: Vec<(u32, Vec<u32>)> = (0..1100u32)
            .map(|t| (t, vec![t, t + 1, u32::MAX]))
            .collect();
        let parts = SagaStateParts {
            core: "core-1",
            sagas: &rows,
            gone: &[],
            feeds: &feeds,
            terms: &terms,
            terms_whole: true,
            items: &[(1, Some(1)), (u64::MAX, Some(2)), (7, Some(3))],
            items_whole: true,
            postings: &lists,
            postings_whole: true,
            dues: &[(1, Some(100)), (2, Some(-5)), (3, None), (4, Some(300))],
            dues_whole: true,
        };
        s.save_saga_state("engine", &parts).await.unwrap();
        assert_eq!(
            s.load_state("engine").await.unwrap().as_deref(),
            Some("core-1")
        );
        assert_eq!(s.saga_live_rows().await.unwrap().len(), 700);
        let two = [(2, "two".to_string())];
        let feeds2 = [("b".to_string(), "fb2".to_string())];
        let counted = [("w:t5".to_string(), 5, 40), ("w:new".to_string(), 1201, 1)];
        let parts = SagaStateParts {
            core: "core-2",
            sagas: &two,
            gone: &[1, 3, 999],
            feeds: &feeds2,
            terms: &counted,
            terms_whole: false,
            items: &[(7, None), (1, Some(9)), (8, Some(4))],
            items_whole: false,
            postings: &[(5, vec![9]), (6, vec![]), (u32::MAX, vec![1, 2])],
            postings_whole: false,
            dues: &[(2, Some(200)), (4, None), (5, Some(50))],
            dues_whole: false,
        };
        s.save_saga_state("engine", &parts).await.unwrap();
        let live = s.saga_live_rows().await.unwrap();
        assert_eq!(live.len(), 698);
        assert_eq!(live[..2], ["two".to_string(), "s4".to_string()]);
        assert_eq!(
            s.load_state("engine").await.unwrap().as_deref(),
            Some("core-2")
        );
        assert_eq!(
            s.saga_feed_rows().await.unwrap(),
            [
                ("a".to_string(), "fa".to_string()),
                ("b".to_string(), "fb2".to_string())
            ]
        );
        // What a run that loads only some sagas reads: every live id, the
        // rows of some (more ids than one statement takes, gone ones
        // skipped), the rows of some feeds.
        let ids = s.saga_live_ids().await.unwrap();
        assert_eq!(ids.len(), 698);
        assert_eq!(ids[..3], [2, 4, 5]);
        let some: Vec<u64> = (1..=700).filter(|i| i % 2 == 0 || *i == 3).collect();
        let rows = s.saga_live_rows_of(&some).await.unwrap();
        assert_eq!(rows.len(), 350, "the even ids; 3 is gone");
        assert_eq!(rows[..2], ["two".to_string(), "s4".to_string()]);
        assert!(s.saga_live_rows_of(&[]).await.unwrap().is_empty());
        assert_eq!(
            s.saga_feed_rows_of(&["b".into(), "zz".into()])
                .await
                .unwrap(),
            [("b".to_string(), "fb2".to_string())]
        );
        // The terms asked for that have a row, counts as last written.
        let asked: Vec<String> = [
            "w:t5",
            "w:t1100",
            "w:absent",
            "w:new",
            "b:o'neill \"zürich\"",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        let mut got = s.saga_terms_of(&asked).await.unwrap();
        got.sort_by_key(|r| r.1);
        assert_eq!(
            got,
            [
                ("w:t5".to_string(), 5, 40),
                ("w:t1100".to_string(), 1100, 1100 % 7 + 1),
                ("b:o'neill \"zürich\"".to_string(), 1200, 2),
                ("w:new".to_string(), 1201, 1),
            ]
        );
        // Item index entries by key hash: set, replaced, removed; a hash
        // with the top bit set round-trips.
        let mut items = s.saga_items_of(&[1, 7, 8, u64::MAX, 99]).await.unwrap();
        items.sort_unstable();
        assert_eq!(items, [(1, 9), (8, 4), (u64::MAX, 2)]);
        // Posting lists by term: replaced, removed by an empty list, added;
        // those asked that have none are not answered.
        let mut got = s
            .saga_postings_of(&[4, 5, 6, u32::MAX, 5000])
            .await
            .unwrap();
        got.sort_unstable();
        assert_eq!(
            got,
            [
                (4, vec![4, 5, u32::MAX]),
                (5, vec![9]),
                (u32::MAX, vec![1, 2])
            ]
        );
        // Archive due times: set, replaced, cleared, and those of sagas
        // gone forgotten.
        assert_eq!(s.saga_due_by(i64::MAX).await.unwrap(), [2, 5]);
        assert_eq!(s.saga_due_by(100).await.unwrap(), [5]);
        assert!(s.saga_due_by(49).await.unwrap().is_empty());
        let terms: Vec<u32> = (0..1200).collect();
        assert_eq!(s.saga_postings_of(&terms).await.unwrap().len(), 1099);
        assert_eq!(s.saga_postings().await.unwrap().len(), 1100);
        let many: Vec<String> = (0..1300).map(|i| format!("w:t{i}")).collect();
        assert_eq!(s.saga_terms_of(&many).await.unwrap().len(), 1200);
        // Every term at once replaces them all.
        let fresh = [("w:only".to_string(), 0, 1)];
        let parts = SagaStateParts {
            core: "core-3",
            sagas: &[],
            gone: &[],
            feeds: &[],
            terms: &fresh,
            terms_whole: true,
            items: &[(5, Some(5))],
            items_whole: true,
            postings: &[(3, vec![7])],
            postings_whole: true,
            dues: &[(6, Some(7))],
            dues_whole: true,
        };
        s.save_saga_state("engine", &parts).await.unwrap();
        assert!(s.saga_terms_of(&many).await.unwrap().is_empty());
        assert_eq!(
            s.saga_items_of(&[1, 5, 8]).await.unwrap(),
            [(5, 5)],
            "every entry at once replaces them all"
        );
        assert_eq!(
            s.saga_terms_of(&["w:only".to_string()]).await.unwrap(),
            [("w:only".to_string(), 0, 1)]
        );
        assert_eq!(
            s.saga_postings().await.unwrap(),
            [(3, vec![7])],
            "every list at once replaces them all"
        );
        assert_eq!(
            s.saga_due_by(i64::MAX).await.unwrap(),
            [6],
            "every due time at once clears the others"
        );
    }
}

/// A retention plan that thins and deletes every stored item.
fn forget_everything() -> agg_core::store::RetentionPlan {
    agg_core::store::RetentionPlan {
        delete_before: Utc::now() + chrono::Duration::days(1),
        thin_before: Utc::now() + chrono::Duration::days(1),
        keep_sagas: Vec::new(),
        now: Utc::now(),
    }
}

/// A SQLite file with three items embedded by model "m" (vector `v(id)`):
/// its folder (kept while the file is used), path, store and item ids.
async fn file_with_vectors(
    prefix: &str,
    v: impl Fn(i64) -> Vec<f32>,
) -> (tempfile::TempDir, String, Arc<dyn Store>, Vec<i64>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agg.db").to_str().unwrap().to_string();
    let s = agg_store::open(&path).await.unwrap();
    let mut batch: Vec<Item> = (0..3)
        .map(|n| item(&format!("{prefix}{n}"), "x", 1))
        .collect();
    s.upsert_items(&mut batch).await.unwrap();
    let ids: Vec<i64> = batch.iter().map(|i| i.id.unwrap()).collect();
    let rows: Vec<(i64, Vec<f32>)> = ids.iter().map(|id| (*id, v(*id))).collect();
    s.put_embeddings("m", &rows).await.unwrap();
    (dir, path, s, ids)
}

/// The file at `path` changed by `statements` (to look like an older
/// version's) and opened again: its vectors paged anew, the mark gone.
async fn reopened_after(path: &str, statements: &[&str]) -> Arc<dyn Store> {
    tamper(path, statements).await;
    let s = agg_store::open(path).await.unwrap();
    assert!(
        s.load_state("vector_pages_backfill")
            .await
            .unwrap()
            .is_none()
    );
    s
}

/// The vectors' compact copies (issue 23): written with the vectors, one
/// an item (the last model's; another model's says so), close to the
/// vector, dropped by retention; a store without them (older than
/// migration 0023, or with the copies lost) gets them on opening.
#[tokio::test]
async fn vector_copies_follow_the_vectors() {
    let v = |n: i64| -> Vec<f32> { (0..16).map(|d| ((d * 7 + n) % 11) as f32 - 5.0).collect() };
    let close = |a: &[f32], b: &[f32]| {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let n = |x: &[f32]| x.iter().map(|y| y * y).sum::<f32>().sqrt();
        dot / (n(a) * n(b)) > 0.999
    };
    for (d, (_guard, s)) in backends().await.into_iter().enumerate() {
        let d = ["SQLite", "PostgreSQL"][d];
        let mut batch: Vec<Item> = (0..4).map(|n| item(&format!("c{n}"), "x", 1)).collect();
        s.upsert_items(&mut batch).await.unwrap();
        let ids: Vec<i64> = batch.iter().map(|i| i.id.unwrap()).collect();
        let rows: Vec<(i64, Vec<f32>)> = ids.iter().map(|id| (*id, v(*id))).collect();
        s.put_embeddings("m", &rows).await.unwrap();
        s.put_embeddings("other", &rows[..1]).await.unwrap();
        let mut asked = ids.clone();
        asked.push(ids[3] + 1000);
        let got = s.get_vector_copies("m", &asked).await.unwrap();
        assert_eq!(got.other_model, [ids[0]], "{d}: the last model's copy");
        assert_eq!(got.vectors.len(), 3, "{d}: no copy without a vector");
        for id in &ids[1..] {
            assert!(close(&got.vectors[id], &v(*id)), "{d}: copy of {id}");
            assert_ne!(got.vectors[id], v(*id), "{d}: a copy, not the vector");
        }
        let other = s.get_vector_copies("other", &ids).await.unwrap();
        assert_eq!(other.vectors.keys().copied().collect::<Vec<_>>(), [ids[0]]);
        // Written again by the first model: its copy again.
        s.put_embeddings("m", &rows[..1]).await.unwrap();
        let got = s.get_vector_copies("m", &ids).await.unwrap();
        assert!(got.other_model.is_empty() && got.vectors.len() == 4, "{d}");
        // Retention drops the copies with the vectors.
        s.apply_retention(&forget_everything()).await.unwrap();
        assert_eq!(
            s.get_vector_copies("m", &ids).await.unwrap(),
            agg_core::VectorCopies::default(),
            "{d}"
        );
    }
    // A store without copies: made on opening, from the stored vectors.
    let (_dir, path, s, ids) = file_with_vectors("o", v).await;
    let before = s.get_vector_copies("m", &ids).await.unwrap();
    assert_eq!(before.vectors.len(), 3);
    drop(s);
    // As a store older than migration 0023 is.
    let s = reopened_after(
        &path,
        &[
            "DROP TABLE vector_bytes",
            "DELETE FROM _sqlx_migrations WHERE version = 23",
        ],
    )
    .await;
    assert_eq!(s.get_vector_copies("m", &ids).await.unwrap(), before);
}

/// The vector index's pages (issue 23): each vector's code, by id
/// range, one model apart from another, written with the vector, read from
/// a given id on, pruned by retention; vectors stored before pages existed
/// are paged when the store opens.
#[tokio::test]
async fn vector_pages_follow_the_vectors() {
    let codes = |pages: &[agg_core::CodePage]| -> Vec<(i64, Vec<u8>)> {
        pages
            .iter()
            .flat_map(|p| {
                let w = p.codes.len() / p.ids.len().max(1);
                p.ids
                    .iter()
                    .copied()
                    .zip(p.codes.chunks(w).map(<[u8]>::to_vec))
            })
            .collect()
    };
    let v = |n: i64| -> Vec<f32> {
        (0..16)
            .map(|d| if d == n % 16 { 1.0 } else { -0.1 })
            .collect()
    };
    for (_d, s) in backends().await {
        let mut batch: Vec<Item> = (0..5).map(|n| item(&format!("v{n}"), "x", 1)).collect();
        s.upsert_items(&mut batch).await.unwrap();
        let ids: Vec<i64> = batch.iter().map(|i| i.id.unwrap()).collect();
        let rows: Vec<(i64, Vec<f32>)> = ids.iter().map(|id| (*id, v(*id))).collect();
        s.put_embeddings("m", &rows[..3]).await.unwrap();
        s.put_embeddings("m", &rows[3..]).await.unwrap();
        s.put_embeddings("other", &rows[..2]).await.unwrap();
        let all = s.vector_pages("m", i64::MIN).await.unwrap();
        let want: Vec<(i64, Vec<u8>)> = ids
            .iter()
            .map(|id| (*id, agg_vindex::code(&v(*id))))
            .collect();
        assert_eq!(codes(&all), want);
        assert_eq!(
            codes(&s.vector_pages("other", i64::MIN).await.unwrap()).len(),
            2
        );
        // From an id on: the pages that may hold later ids, whole (the
        // page of the last id is read again; none after it).
        let later = s.vector_pages("m", ids[4]).await.unwrap();
        assert_eq!(later.len(), 1);
        assert_eq!(codes(&later), want);
        assert!(later[0].start <= ids[4] + 1);
        let beyond = s.vector_pages("m", ids[4] + 10_000).await.unwrap();
        assert!(beyond.is_empty(), "no page after the last");
        // A vector written again keeps one code, the new one.
        s.put_embeddings("m", &[(ids[0], v(ids[0] + 1))])
            .await
            .unwrap();
        let again = codes(&s.vector_pages("m", i64::MIN).await.unwrap());
        assert_eq!(again.len(), 5);
        assert_eq!(again[0], (ids[0], agg_vindex::code(&v(ids[0] + 1))));
        // Retention drops the codes with the vectors.
        s.apply_retention(&forget_everything()).await.unwrap();
        assert!(s.vector_pages("m", i64::MIN).await.unwrap().is_empty());
        assert!(s.vector_pages("other", i64::MIN).await.unwrap().is_empty());
    }
    // A store written before pages: its vectors are paged on opening.
    let (_dir, path, s, _) = file_with_vectors("o", v).await;
    let path = path.as_str();
    let before = codes(&s.vector_pages("m", i64::MIN).await.unwrap());
    drop(s);
    let s = reopened_after(
        path,
        &[
            "DELETE FROM vector_pages",
            "INSERT INTO state (key, value, updated) SELECT 'vector_pages_backfill', MAX(item_id), 'x' FROM embeddings",
        ],
    )
    .await;
    assert_eq!(codes(&s.vector_pages("m", i64::MIN).await.unwrap()), before);
    // A store paged before codes had a magnitude plane (migration 0022):
    // its sign-only pages go and every vector is paged again on opening.
    drop(s);
    let hex = |bytes: Vec<u8>| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
    let ids = hex(before.iter().flat_map(|(id, _)| id.to_le_bytes()).collect());
    let signs = hex(before
        .iter()
        .flat_map(|(_, c)| c[..c.len() / 2].to_vec())
        .collect());
    assert!(before.iter().all(|(id, _)| id.div_euclid(4096) == 0));
    let s = reopened_after(
        path,
        &[
            &format!("UPDATE vector_pages SET ids = X'{ids}', codes = X'{signs}' WHERE model = 'm' AND page = 0"),
            "DELETE FROM _sqlx_migrations WHERE version = 22",
        ],
    )
    .await;
    assert_eq!(codes(&s.vector_pages("m", i64::MIN).await.unwrap()), before);
}
