//! The stored saga list (issue 23) that `/ui/sagas` pages through: after
//! every save — a run's assignments, each user control, the first save of a
//! store written before the list existed — it lists exactly what the list
//! computed from the whole engine would.

mod support;

use agg_app::sagas::{Control, list_from_engine, list_page};
use agg_core::Store;
use agg_saga::{ListGroup, SagaItem};
use chrono::{DateTime, TimeZone, Utc};
use support::saga_item as item;

fn day(d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
}

/// The stored list, all groups, against the list computed from the engine
/// as last saved (no sweep: the stored list holds statuses of the last save).
async fn assert_list_matches(store: &dyn Store, when: &str) {
    let engine = agg_agents::saga::load_engine(store).await.unwrap();
    let computed = list_from_engine(&engine, ListGroup::OneItem, 0, 10_000);
    let stored = list_page(store, true, 0, 10_000).await.unwrap();
    assert_eq!(stored, computed, "{when}");
    // Paging: two pages of 2 are the first four rows.
    let p0 = list_page(store, true, 0, 2).await.unwrap();
    let p1 = list_page(store, true, 1, 2).await.unwrap();
    let four: Vec<_> = p0.rows.iter().chain(&p1.rows).cloned().collect();
    assert_eq!(
        four,
        computed.rows.iter().take(4).cloned().collect::<Vec<_>>(),
        "{when}"
    );
    assert_eq!(p0.more, computed.rows.len() > 2, "{when}");
}

#[tokio::test]
async fn the_stored_saga_list_follows_every_save() {
    let tmp = tempfile::tempdir().unwrap();
    let store = agg_store::open(&tmp.path().join("agg.db").display().to_string())
        .await
        .unwrap();
    let store = store.as_ref();
    let strike = [
        (
            "s1",
            "Harbour workers strike over pay in Rotterdam",
            "a.example",
            day(20, 8),
        ),
        (
            "s2",
            "Rotterdam harbour strike enters second day",
            "b.example",
            day(21, 9),
        ),
        (
            "s3",
            "Rotterdam harbour strike talks collapse",
            "c.example",
            day(22, 10),
        ),
    ];
    let trial = [
        (
            "t1",
            "Jury selection begins in Meridian fraud trial",
            "a.example",
            day(20, 12),
        ),
        (
            "t2",
            "Meridian fraud trial hears first witness",
            "d.example",
            day(21, 12),
        ),
    ];
    let singles = [
        (
            "x1",
            "Local bakery wins pastry award",
            "e.example",
            day(19, 7),
        ),
        (
            "x2",
            "Comet visible over the Alps tonight",
            "f.example",
            day(21, 20),
        ),
    ];
    let now = day(22, 12);
    let first: Vec<SagaItem> = strike[..2]
        .iter()
        .chain(&trial)
        .chain(&singles)
        .map(|(i, t, o, at)| item(i, t, o, *at))
        .collect();

    // A store from before the list: the engine saved, no list rows. The
    // page computes from the engine until the first save writes them all.
    let mut engine = agg_saga::SagaEngine::default();
    for it in &first {
        engine.assign(it, now);
    }
    engine.take_events();
    store
        .save_state(agg_agents::saga::STATE_KEY, &engine.to_json().unwrap())
        .await
        .unwrap();
    assert!(store.saga_list_counts().await.unwrap().is_empty());
    assert_list_matches(store, "before any list was written").await;

    // A run's save (here: one more item) writes the whole list once…
    agg_app::sagas::with_engine(store, &[], |e| {
        let (i, t, o, at) = strike[2];
        e.assign(&item(i, t, o, at), now);
        Ok(())
    })
    .await
    .unwrap();
    assert_list_matches(store, "after the first save").await;
    let counts = store.saga_list_counts().await.unwrap();
    assert!(!counts.is_empty());

    // …and then only what each save changed.
    let engine = agg_agents::saga::load_engine(store).await.unwrap();
    let id_of = |key: &str| engine.saga_of(key).unwrap().0;
    let (strike_id, trial_id, bakery, comet) = (id_of("s1"), id_of("t1"), id_of("x1"), id_of("x2"));
    let controls = [
        (strike_id, Control::Follow),
        (trial_id, Control::Rename("The Meridian trial".into())),
        (comet, Control::Mute),
        (strike_id, Control::Merge { from: bakery }),
        (strike_id, Control::Unmerge { from: bakery }),
        (trial_id, Control::Close),
        (trial_id, Control::Reopen),
        (strike_id, Control::Unfollow),
    ];
    for (id, c) in controls {
        let what = format!("after {c:?} on {id}");
        agg_app::sagas::control(store, id, c).await.unwrap();
        assert_list_matches(store, &what).await;
    }
    // A merged saga has no row; the list never names it.
    agg_app::sagas::control(store, trial_id, Control::Merge { from: comet })
        .await
        .unwrap();
    assert_list_matches(store, "after a merge").await;
    let all = list_page(store, true, 0, 100).await.unwrap();
    assert!(all.rows.iter().all(|(_, s)| s.id.0 != comet));
}
