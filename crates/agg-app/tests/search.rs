//! `agg_app::search` on a real SQLite store: the one rule both front ends
//! use (meaning with a floor, words for items without a vector, words only
//! without a model, the date bound and the limit).

use std::sync::Arc;

use agg_app::search::{Model, Ranking, Request, search};
use agg_core::{Item, Store};
use chrono::{TimeZone, Utc};

/// Every query means "space" to this model: [1, 0].
struct Space;

impl agg_score::Embedder for Space {
    fn embed(&self, texts: &[&str]) -> agg_score::Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|_| vec![1.0, 0.0]).collect())
    }
    fn dim(&self) -> usize {
        2
    }
    fn model_id(&self) -> &str {
        "test-space"
    }
}

fn item(key: &str, title: &str, day: u32) -> Item {
    let when = Utc.with_ymd_and_hms(2026, 11, day, 8, 0, 0).unwrap();
    Item {
        key: key.into(),
        source: "news".into(),
        title: title.into(),
        published: Some(when),
        fetched: when,
        ..Item::default()
    }
}

/// A store with: an embedded item close to "space" in meaning without the
/// word, an embedded unrelated item, an unembedded item with the word, and
/// an old unembedded item with the word. Returns the store and their ids.
async fn store(dir: &std::path::Path) -> (Arc<dyn Store>, [i64; 4]) {
    let store = agg_store::open(&dir.join("agg.db").display().to_string())
        .await
        .unwrap();
    let mut items = vec![
        item("a", "Asteroid probe launched", 20),
        item("b", "Football results", 21),
        item("c", "Space telescope images", 22),
        item("d", "Space station turns ten", 2),
    ];
    store.upsert_items(&mut items).await.unwrap();
    let ids: Vec<i64> = items.iter().map(|i| i.id.unwrap()).collect();
    store
        .put_embeddings(
            "test-space",
            &[(ids[0], vec![1.0, 0.0]), (ids[1], vec![0.0, 1.0])],
        )
        .await
        .unwrap();
    (store, [ids[0], ids[1], ids[2], ids[3]])
}

fn ids(r: &agg_app::search::Results) -> Vec<i64> {
    r.hits.iter().map(|h| h.item.id.unwrap()).collect()
}

#[tokio::test]
async fn meaning_then_words_with_a_floor_a_date_bound_and_a_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, [a, _b, c, d]) = store(tmp.path()).await;
    let model = || Model::Loaded(Arc::new(Space));

    // The probe by meaning first; the telescope and the station by their
    // word; football is neither close nor sharing a word: left out.
    let r = search(store.as_ref(), &Request::new("  space  "), model())
        .await
        .unwrap();
    assert_eq!(r.ranking, Ranking::Meaning);
    assert_eq!(ids(&r)[0], a);
    let mut rest = ids(&r)[1..].to_vec();
    rest.sort_unstable();
    assert_eq!(rest, {
        let mut v = vec![c, d];
        v.sort_unstable();
        v
    });
    assert_eq!(r.hits[0].similarity, Some(1.0));
    assert!(r.hits[1..].iter().all(|h| h.similarity.is_none()));

    // The date bound leaves the old item out.
    let since = Request {
        since: Some(Utc.with_ymd_and_hms(2026, 11, 10, 0, 0, 0).unwrap()),
        ..Request::new("space")
    };
    let r = search(store.as_ref(), &since, model()).await.unwrap();
    assert_eq!(ids(&r), vec![a, c]);

    // The limit cuts, best first.
    let one = Request {
        limit: 1,
        ..Request::new("space")
    };
    let r = search(store.as_ref(), &one, model()).await.unwrap();
    assert_eq!(ids(&r), vec![a]);
}

#[tokio::test]
async fn without_a_model_only_words_count_and_the_reason_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, [_a, _b, c, d]) = store(tmp.path()).await;
    let r = search(
        store.as_ref(),
        &Request::new("space"),
        Model::Unavailable("model.onnx not found".into()),
    )
    .await
    .unwrap();
    assert_eq!(
        r.ranking,
        Ranking::Words {
            why: "model.onnx not found".into()
        }
    );
    // Equal word scores: newest id first.
    assert_eq!(ids(&r), vec![d.max(c), d.min(c)]);
}

/// Words are looked up over the whole store; a search bounded by date
/// compares by meaning the newest items since then (the pool): an old item
/// is found by an exact title however many items came after it, and a
/// pool bounds what is compared by meaning.
#[tokio::test]
async fn an_old_item_is_found_by_its_words_beyond_the_pool() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, [a, b, c, d]) = store(tmp.path()).await;
    let model = || Model::Loaded(Arc::new(Space));
    // A pool of one: only the newest embedded item (football, day 21) is
    // compared by meaning; the probe (day 20) is outside it.
    let small = |q: &str| Request {
        pool: 1,
        since: Some(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()),
        ..Request::new(q)
    };
    let r = search(store.as_ref(), &small("Space station turns ten"), model())
        .await
        .unwrap();
    assert_eq!(ids(&r)[0], d, "the exact title first, 24 days older");
    assert!(!ids(&r).contains(&a), "outside the pool, no shared word");
    assert!(!ids(&r).contains(&b), "in the pool but far in meaning");
    assert!(ids(&r).contains(&c), "shares the word space");
    // The probe shares a word with this query: found by the index, and
    // ranked with its vector although it is outside the pool.
    let r = search(store.as_ref(), &small("asteroid"), model())
        .await
        .unwrap();
    assert_eq!(ids(&r), vec![a]);
    assert_eq!(r.hits[0].similarity, Some(1.0));
}

/// Without a date bound, meaning reaches every stored vector through the
/// vector index: the probe, older than the pool of one, is found by meaning
/// alone, and an item embedded by another model is not compared.
#[tokio::test]
async fn without_a_date_bound_meaning_reaches_every_stored_vector() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, [a, b, _c, _d]) = store(tmp.path()).await;
    let mut more = vec![item("e", "Ocean survey", 23)];
    store.upsert_items(&mut more).await.unwrap();
    let e = more[0].id.unwrap();
    store
        .put_embeddings("other-model", &[(e, vec![1.0, 0.0])])
        .await
        .unwrap();
    let req = Request {
        pool: 1,
        ..Request::new("cosmos")
    };
    let r = search(store.as_ref(), &req, Model::Loaded(Arc::new(Space)))
        .await
        .unwrap();
    assert_eq!(ids(&r), vec![a], "by meaning, beyond the pool");
    assert_eq!(r.hits[0].similarity, Some(1.0));
    assert!(!ids(&r).contains(&b) && !ids(&r).contains(&e));
}

/// An item embedded by two models keeps one compact copy, the last
/// model's: searched with the first, it is read back as stored instead,
/// and still found by meaning.
#[tokio::test]
async fn an_item_embedded_by_two_models_is_found_by_either() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, [a, _b, _c, _d]) = store(tmp.path()).await;
    store
        .put_embeddings("other-model", &[(a, vec![0.0, 1.0])])
        .await
        .unwrap();
    let copies = store.get_vector_copies("test-space", &[a]).await.unwrap();
    assert_eq!(copies.other_model, [a], "the copy is the last model's");
    let r = search(
        store.as_ref(),
        &Request::new("cosmos"),
        Model::Loaded(Arc::new(Space)),
    )
    .await
    .unwrap();
    assert_eq!(ids(&r), vec![a]);
    assert_eq!(r.hits[0].similarity, Some(1.0));
}

/// The server's vector index: read once, kept while no run begins or
/// ends, topped up with the new vectors after one does or when told an
/// item was added, read whole for another model.
#[tokio::test]
async fn the_cached_index_takes_new_vectors_after_a_run_or_an_addition() {
    use agg_app::search::IndexCache;
    let tmp = tempfile::tempdir().unwrap();
    let (store, [a, _b, _, _]) = store(tmp.path()).await;
    let store = store.as_ref();
    let cache = IndexCache::default();
    let first = cache.index(store, "test-space").await.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first.nearest(&[1.0, 0.0], 10, 1), [a]);

    // A new vector, written as a score stage would: not seen while cached.
    let add = |key: &'static str, day: u32| async move {
        let mut more = vec![item(key, "Mars rover wakes", day)];
        store.upsert_items(&mut more).await.unwrap();
        let id = more[0].id.unwrap();
        store
            .put_embeddings("test-space", &[(id, vec![1.0, 0.0])])
            .await
            .unwrap();
        id
    };
    let e = add("e", 23).await;
    let cached = cache.index(store, "test-space").await.unwrap();
    assert!(Arc::ptr_eq(&first, &cached), "no run since: the same read");

    // A run begins: the new vector is read in, once.
    let run = store.begin_run("p").await.unwrap();
    let during = cache.index(store, "test-space").await.unwrap();
    assert_eq!(during.len(), 3);
    assert!(during.nearest(&[1.0, 0.0], 10, 3).contains(&e));
    store
        .finish_run(run, agg_core::RunStatus::Ok)
        .await
        .unwrap();
    let after = cache.index(store, "test-space").await.unwrap();
    assert_eq!(after.len(), 3, "nothing read twice");
    // An addition outside a run, told: read in.
    let f = add("f", 24).await;
    assert_eq!(cache.index(store, "test-space").await.unwrap().len(), 3);
    cache.invalidate().await;
    let told = cache.index(store, "test-space").await.unwrap();
    assert_eq!(told.len(), 4);
    assert!(told.nearest(&[1.0, 0.0], 10, 4).contains(&f));
    // Another model: its own index, empty until its first vector.
    assert!(cache.index(store, "late").await.unwrap().is_empty());
    store
        .put_embeddings("late", &[(e, vec![0.0, 1.0])])
        .await
        .unwrap();
    cache.invalidate().await;
    let late = cache.index(store, "late").await.unwrap();
    assert_eq!(late.nearest(&[0.0, 1.0], 10, 1), [e]);
}
