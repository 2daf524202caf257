//! Saga controls and feedback on a real SQLite store: typed errors, the
//! lease given back after a failed change, nothing half-recorded.

use std::time::Duration;

use agg_app::sagas::{Control, Error};
use agg_core::{Item, Store};

async fn store(dir: &std::path::Path) -> std::sync::Arc<dyn Store> {
    agg_store::open(&dir.join("agg.db").display().to_string())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_failed_control_gives_the_lease_back() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path()).await;
    match agg_app::sagas::control(store.as_ref(), 42, Control::Follow).await {
        Err(Error::Saga(agg_saga::SagaError::UnknownSaga(id))) => assert_eq!(id.0, 42),
        other => panic!("{other:?}"),
    }
    // Were the lease kept, this would wait for it to expire (10 minutes).
    let changed = tokio::time::timeout(
        Duration::from_secs(60),
        agg_app::sagas::with_engine(store.as_ref(), &[], |_| Ok(7)),
    )
    .await
    .expect("the engine lease was left behind");
    assert_eq!(changed.unwrap(), 7);
    // Reading takes no lease and sees no saga.
    let engine = agg_app::sagas::read(store.as_ref()).await.unwrap();
    assert_eq!(engine.sagas().count(), 0);
}

#[tokio::test]
async fn a_split_with_an_unknown_item_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path()).await;
    let r = agg_app::sagas::control(
        store.as_ref(),
        1,
        Control::Split {
            items: vec![999, 1000],
        },
    )
    .await;
    match r {
        Err(Error::UnknownItems(u)) => assert_eq!(u.0, vec![999, 1000]),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn feedback_with_one_unknown_id_records_nothing() {
    use agg_app::feedback::{Error, Kind, Via, record};
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path()).await;
    let mut items = vec![Item {
        key: "k".into(),
        source: "s".into(),
        title: "Kept".into(),
        fetched: chrono::Utc::now(),
        ..Item::default()
    }];
    store.upsert_items(&mut items).await.unwrap();
    let id = items[0].id.unwrap();

    match record(store.as_ref(), &[id, id + 100], Kind::Like, Via::Cli).await {
        Err(Error::Unknown(u)) => assert_eq!(u.0, vec![id + 100]),
        other => panic!("{other:?}"),
    }
    assert!(store.list_feedback().await.unwrap().is_empty());

    let got = record(store.as_ref(), &[id], Kind::Dislike, Via::Web)
        .await
        .unwrap();
    assert_eq!(got[0].title, "Kept");
    let fb = store.list_feedback().await.unwrap();
    assert_eq!(fb.len(), 1);
    assert_eq!(
        (fb[0].kind.as_str(), fb[0].via.as_str()),
        ("dislike", "web")
    );
}
