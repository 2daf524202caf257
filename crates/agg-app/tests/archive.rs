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
    let mut engine = agg_agents::saga::load_engine_for(store, items, now)
        .await
        .unwrap();
    for it in items {
        engine.assign(it, now);
    }
    agg_agents::saga::settle_postings(store, &mut engine)
        .await
        .unwrap();
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
    // The live state: its core and its live sagas' rows (which hold their
    // items' records).
    let doc = state(store).await + &store.saga_live_rows().await.unwrap().concat();
    assert!(
        !doc.contains("\"s1\""),
        "the live state holds nothing of it"
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
    // (With every vocabulary term: it places an item below.)
    let mut engine = agg_agents::saga::load_engine_whole(store).await.unwrap();
    assert!(!engine.is_archived(s), "followed: never archived again");

    // And a later item of that story joins it.
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

/// The saga step's load (issue 23): a run loads only the sagas its items
/// can reach (`load_engine_for`), places them as a whole engine would, and
/// keeps the follow and mute marks of the sagas it did not load.
#[tokio::test]
async fn a_run_loads_only_the_sagas_its_items_reach_and_keeps_the_others_marks() {
    let tmp = tempfile::tempdir().unwrap();
    let store = agg_store::open(&tmp.path().join("agg.db").display().to_string())
        .await
        .unwrap();
    let store = store.as_ref();
    // Thirty unrelated stories: words of their own, spelled from a number.
    let spell = |mut x: usize| -> String {
        let mut w = String::from("Q");
        for _ in 0..5 {
            w.push((b'a' + (x % 26) as u8) as char);
            x /= 26;
        }
        w
    };
    let story = |k: usize, n: usize, at: DateTime<Utc>| {
        let title = format!(
            "{} {} {} {}",
            spell(k * 5),
            spell(k * 5 + 1),
            spell(k * 5 + 2),
            spell(k * 5 + 3 + n)
        );
        item(
            &format!("k{k}n{n}"),
            &title,
            &format!("o{}.example", n % 3),
            at,
        )
    };
    let first: Vec<SagaItem> = (0..30).map(|k| story(k, 0, day(0))).collect();
    let run_in_part = |items: Vec<SagaItem>, now: DateTime<Utc>| async move {
        let mut e = agg_agents::saga::load_engine_for(store, &items, now)
            .await
            .unwrap();
        let placed: Vec<_> = items.iter().map(|i| e.assign(i, now)).collect();
        agg_agents::saga::settle_postings(store, &mut e)
            .await
            .unwrap();
        e.archive(now);
        let partial = e.is_partial();
        agg_agents::saga::save_engine(store, &mut e).await.unwrap();
        (placed, partial)
    };
    let (placed, partial) = run_in_part(first, day(0)).await;
    assert!(!partial, "the first run starts afresh");
    let (s0, s1, s29) = (placed[0].saga.0, placed[1].saga.0, placed[29].saga.0);
    // A person follows the first story and mutes the second (a control
    // loads every saga).
    control(store, s0, Control::Follow).await.unwrap();
    control(store, s1, Control::Mute).await.unwrap();

    let (placed, partial) = run_in_part(vec![story(29, 1, day(1))], day(1)).await;
    assert!(partial, "thirty live sagas, one item: not all loaded");
    assert_eq!(
        placed[0].saga.0, s29,
        "joined its story, as a whole engine would"
    );
    let marks: agg_agents::saga::SagaMarks = serde_json::from_str(
        &store
            .load_state(agg_agents::saga::MARKS_KEY)
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(marks.followed, [s0]);
    assert_eq!(marks.muted, [s1]);
    let whole = agg_agents::saga::load_engine(store).await.unwrap();
    assert_eq!(
        whole.sagas().filter(|s| s.merged_into.is_none()).count(),
        30
    );
    assert!(whole.saga(agg_saga::SagaId(s0)).unwrap().followed);
    assert_eq!(whole.saga(agg_saga::SagaId(s29)).unwrap().item_count(), 2);
}
