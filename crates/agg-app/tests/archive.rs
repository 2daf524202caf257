//! The saga archive through a real store (issue 23): a long-quiet saga
//! leaves the engine's state document for its own row, stays listed and
//! readable, and a person's control brings it back live.

mod support;

use agg_app::sagas::{Control, control, list_all, list_page, read_one};
use agg_core::Store;
use agg_saga::SagaItem;
use chrono::{DateTime, Duration, TimeZone, Utc};
use support::saga_item as item;

fn day(d: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 8, 0, 0).unwrap() + Duration::days(d)
}

async fn state(store: &dyn Store) -> String {
    store
        .load_state(agg_agents::saga::STATE_KEY)
        .await
        .unwrap()
        .unwrap()
}

/// Assign `items` at `now`, archive and save, as the saga agent does.
async fn run(store: &dyn Store, items: &[SagaItem], now: DateTime<Utc>) {
    let mut engine = agg_agents::saga::load_engine(store).await.unwrap();
    engine.assign_batch(items, now);
    engine.archive(now);
    agg_agents::saga::save_engine(store, &mut engine)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_long_quiet_saga_is_archived_listed_readable_and_restored_by_a_control() {
    let tmp = tempfile::tempdir().unwrap();
    let store = agg_store::open(&tmp.path().join("agg.db").display().to_string())
        .await
        .unwrap();
    let store = store.as_ref();
    let strike = vec![
        item(
            "s1",
            "Harbour workers strike over pay in Rotterdam",
            "a.example",
            day(0),
        ),
        item(
            "s2",
            "Rotterdam harbour strike enters second day",
            "b.example",
            day(1),
        ),
        item(
            "s3",
            "Rotterdam harbour strike talks collapse",
            "c.example",
            day(2),
        ),
    ];
    let trial = vec![
        item(
            "t1",
            "Jury selection begins in Meridian fraud trial",
            "a.example",
            day(0),
        ),
        item(
            "t2",
            "Meridian fraud trial hears first witness",
            "d.example",
            day(1),
        ),
    ];
    run(store, &[strike.clone(), trial.clone()].concat(), day(2)).await;
    let engine = agg_agents::saga::load_engine(store).await.unwrap();
    let s = engine.saga_of("s1").unwrap();
    let t = engine.saga_of("t1").unwrap();
    assert_ne!(s, t);
    drop(engine);
    control(store, t.0, Control::Follow).await.unwrap();

    // Six weeks of other news: the strike leaves, the followed trial stays.
    let other: Vec<SagaItem> = (0..6)
        .map(|w| {
            let topic = ["Comet", "Glacier", "Census", "Museum", "Reactor", "Railway"][w];
            item(
                &format!("o{w}"),
                &format!("{topic} report published"),
                "e.example",
                day(7 * w as i64 + 5),
            )
        })
        .collect();
    for (w, it) in other.iter().enumerate() {
        run(store, std::slice::from_ref(it), day(7 * w as i64 + 5)).await;
    }
    let engine = agg_agents::saga::load_engine(store).await.unwrap();
    assert!(engine.is_archived(s), "the quiet strike left the engine");
    assert!(!engine.is_archived(t), "a followed saga stays");
    let doc = state(store).await;
    assert!(
        !doc.contains("\"s1\""),
        "the state document holds nothing of it"
    );
    assert!(doc.contains("\"t1\""));
    let rows = store.saga_archive(&[s.0, t.0, 9_999]).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [s.0]);
    assert!(rows[0].1.contains("\"s1\""), "its archived row holds it");

    // Still listed, still readable (the saga page, the saga feed).
    let listed = list_page(store, false, 0, 100).await.unwrap();
    assert!(
        listed.rows.iter().any(|(_, l)| l.id == s),
        "the list keeps it"
    );
    // `agg sagas list --all`: every saga, the archived one included.
    let engine = agg_app::sagas::read(store).await.unwrap();
    let every = list_all(store, &engine).await.unwrap();
    let strike_row = every.iter().find(|l| l.id == s).expect("archived, listed");
    assert_eq!(strike_row.item_count, 3);
    assert!(every.iter().any(|l| l.id == t));
    assert!(
        every.windows(2).all(|w| w[0].last_seen >= w[1].last_seen),
        "newest first"
    );
    let read = read_one(store, s.0)
        .await
        .unwrap()
        .expect("readable from the archive");
    assert_eq!(read.item_count(), 3);
    assert!(read.title.contains("strike"), "{}", read.title);
    assert!(read_one(store, 9_999).await.unwrap().is_none());

    // A control brings it back live, and a follow keeps it there.
    control(store, s.0, Control::Follow).await.unwrap();
    let engine = agg_agents::saga::load_engine(store).await.unwrap();
    assert!(
        engine
            .saga(s)
            .is_some_and(|x| x.followed && x.item_count() == 3)
    );
    assert_eq!(engine.saga_of("s2"), Some(s), "its items came back with it");
    run(store, &[], day(60)).await;
    let engine = agg_agents::saga::load_engine(store).await.unwrap();
    assert!(!engine.is_archived(s), "followed: never archived again");

    // And a later item of that story joins it.
    let mut engine = engine;
    let a = engine.assign(
        &item(
            "s4",
            "Rotterdam harbour strike ends with pay deal",
            "b.example",
            day(61),
        ),
        day(61),
    );
    assert_eq!(a.saga, s);
}

#[tokio::test]
async fn retention_forgets_an_archived_saga_whose_items_are_past_the_period() {
    let tmp = tempfile::tempdir().unwrap();
    let store = agg_store::open(&tmp.path().join("agg.db").display().to_string())
        .await
        .unwrap();
    let store = store.as_ref();
    // Dated from the real clock: retention reads it (no AGG_NOW here).
    let ago = |d: i64| Utc::now() - Duration::days(d);
    let old = vec![
        item(
            "s1",
            "Harbour workers strike over pay in Rotterdam",
            "a.example",
            ago(100),
        ),
        item(
            "s2",
            "Rotterdam harbour strike enters second day",
            "b.example",
            ago(99),
        ),
    ];
    let kept = vec![
        item(
            "t1",
            "Jury selection begins in Meridian fraud trial",
            "a.example",
            ago(100),
        ),
        item(
            "t2",
            "Meridian fraud trial hears first witness",
            "d.example",
            ago(99),
        ),
    ];
    run(store, &[old.clone(), kept.clone()].concat(), ago(98)).await;
    let engine = agg_agents::saga::load_engine(store).await.unwrap();
    let (s, t) = (engine.saga_of("s1").unwrap(), engine.saga_of("t1").unwrap());
    drop(engine);
    control(store, t.0, Control::Follow).await.unwrap();
    run(store, &[], ago(50)).await;
    assert_eq!(store.saga_archive(&[s.0]).await.unwrap().len(), 1);

    let report = agg_app::retention::apply(store, 60).await.unwrap();
    assert_eq!(report.sagas, 1, "{report:?}");
    assert!(store.saga_archive(&[s.0]).await.unwrap().is_empty());
    assert!(read_one(store, s.0).await.unwrap().is_none(), "forgotten");
    let listed = list_page(store, true, 0, 100).await.unwrap();
    assert!(!listed.rows.iter().any(|(_, l)| l.id == s), "and unlisted");
    // The followed saga was never archived, so retention keeps it.
    assert!(
        read_one(store, t.0)
            .await
            .unwrap()
            .is_some_and(|x| x.followed)
    );
}
